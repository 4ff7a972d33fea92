"""Figures of imputed survey cells (:mod:`bayes_cluster.estimators.imputation`).

Every function returns a :class:`matplotlib.figure.Figure` and never fits a model.
"""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from bayes_cluster.common.dims import FIRM, PREDICTOR
from bayes_cluster.plots.style import OKABE_ITO, styled

__all__ = ["plot_imputed_values"]


@styled
def plot_imputed_values(model: Any, *, hdi_prob: float | None = None) -> Figure:
    """One row per imputed cell: posterior mean and HDI, beside the observed answers.

    Parameters
    ----------
    model : BayesianImputedLogit
        A fitted imputation model (:meth:`imputed_values` gives the numbers).
    hdi_prob : float, optional
        Interval probability (default the model's).

    Returns
    -------
    matplotlib.figure.Figure
        The grey band of each row is the range of the answers the other firms gave to
        that column; the dot is the posterior mean, the bar its HDI. For a binary or
        Likert column the label gives the most probable answer and its probability.
    """
    table = model.imputed_values(hdi_prob=hdi_prob)
    height = max(2.0, 0.32 * len(table) + 1.0)
    figure, axes = plt.subplots(figsize=(6.5, height))
    if table.empty:
        axes.text(0.5, 0.5, "no blank cells: nothing was imputed", ha="center", va="center")
        axes.set_axis_off()
        return figure
    constant = model.idata_["constant_data"]
    X = constant["X"].transpose(FIRM, PREDICTOR).to_numpy()
    terms = [str(t) for t in constant[PREDICTOR].values]
    center = constant["center"].to_numpy()
    scale = constant["scale"].to_numpy()
    # each column on its own scale: show every row relative to that column's observed range
    positions = np.arange(len(table))[::-1]
    labels = []
    for y, (label, row) in zip(positions, table.iterrows(), strict=True):
        j = terms.index(row["column"])
        observed = X[:, j][~np.isnan(X[:, j])] * scale[j] + center[j]
        low, high = float(observed.min()), float(observed.max())
        span = high - low or 1.0

        def relative(value: float, low: float = low, span: float = span) -> float:
            return (value - low) / span

        axes.barh(y, 1.0, left=0.0, height=0.7, color="0.92", zorder=0)
        axes.plot(
            [relative(row["hdi_lower"]), relative(row["hdi_upper"])],
            [y, y],
            color=OKABE_ITO["blue"],
            linewidth=2.5,
        )
        axes.plot(relative(row["mean"]), y, "o", color=OKABE_ITO["vermillion"])
        text = f"{row['mean']:.3g} [{row['hdi_lower']:.3g}, {row['hdi_upper']:.3g}]"
        if row["kind"] != "continuous":
            text = f"most likely {row['mode']:g} (p = {row['prob_mode']:.2f})"
        axes.text(1.12, y, text, va="center", fontsize=7)
        labels.append(f"{label}  ({low:g} to {high:g})")
    axes.set_yticks(positions, labels, fontsize=7)
    axes.set_xlim(-0.1, 1.1)
    axes.set_xticks([0, 1], ["lowest observed", "highest observed"])
    prob = table.attrs.get("hdi_prob", model.hdi_prob)
    axes.set_title(f"Imputed cells: posterior mean and {prob:.0%} HDI")
    return figure

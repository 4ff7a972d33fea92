"""Figures of sample-size plans (:mod:`bayes_cluster.studies.plan`).

Every function returns a :class:`matplotlib.figure.Figure` and never fits a model.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from bayes_cluster.plots.compare import _colours
from bayes_cluster.plots.style import styled

__all__ = ["plot_assurance"]

_LABELS = {"mle": "MLE", "firth": "Firth", "bayes": "Bayes"}


@styled
def plot_assurance(
    table: pd.DataFrame,
    *,
    terms: Sequence[str] | None = None,
    target: float | None = 0.8,
    ncols: int = 4,
) -> Figure:
    """One panel per predictor: P(detect) against the survey size, one line per method.

    Parameters
    ----------
    table : pandas.DataFrame
        Output of :func:`bayes_cluster.studies.plan.plan_table` (columns ``method,
        term, n, p_detect, p_detect_mcse``).
    terms : sequence of str, optional
        Predictors to show (default: all, in table order).
    target : float, optional
        Reference line (the detection probability the plan looks for).
    ncols : int
        Panels per row.

    Returns
    -------
    matplotlib.figure.Figure
        Error bars are ±2 Monte Carlo standard errors, cut at 0 and 1.

    Raises
    ------
    ValueError
        If ``table`` lacks a needed column or is empty.
    """
    needed = {"method", "term", "n", "p_detect", "p_detect_mcse"}
    missing = sorted(needed - set(table.columns))
    if missing:
        raise ValueError(f"the plan table lacks the column(s) {', '.join(missing)}")
    if table.empty:
        raise ValueError("the plan table is empty: no replicate has been computed")
    terms = list(dict.fromkeys(table["term"])) if terms is None else list(terms)
    methods = list(dict.fromkeys(table["method"]))
    colours = _colours(methods)
    columns = min(ncols, len(terms))
    nrows = int(np.ceil(len(terms) / ncols))
    figure = Figure(figsize=(3.2 * columns, 2.6 * nrows + 0.6), layout="constrained")
    axes = figure.subplots(nrows, columns, squeeze=False, sharey=True).ravel()
    sizes = sorted(table["n"].unique())
    for ax, term in zip(axes, terms, strict=False):
        for method in methods:
            rows = table[(table["term"] == term) & (table["method"] == method)].sort_values("n")
            p, half = rows["p_detect"].to_numpy(float), 2 * rows["p_detect_mcse"].to_numpy(float)
            ax.errorbar(
                rows["n"],
                p,
                yerr=[np.minimum(half, p), np.minimum(half, 1 - p)],  # kept within [0, 1]
                marker="o",
                capsize=2,
                color=colours[method],
                label=_LABELS.get(method, method),
            )
        if target is not None:
            ax.axhline(target, color="0.4", linestyle="--", linewidth=1)
        ax.set_title(term, fontsize=9)
        ax.set_ylim(-0.02, 1.02)
        ax.set_xticks(sizes, [str(s) for s in sizes])
        ax.set_xlabel("firms surveyed (n)")
    for ax in axes[len(terms) :]:
        ax.set_visible(False)
    axes[0].set_ylabel("P(interval excludes 0)")
    handles, labels = axes[0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="outside lower center", ncols=len(methods), frameon=False)
    figure.suptitle("Probability of detecting each effect by survey size", fontsize=10)
    return figure

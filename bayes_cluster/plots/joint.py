"""Figures of the joint latent class + logit model and its comparison with the two-step fit."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from bayes_cluster.analyses.class_approaches import APPROACH_LABELS
from bayes_cluster.plots.style import OKABE_ITO, styled

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from bayes_cluster.analyses.class_approaches import JointComparison

__all__ = ["plot_class_effect_comparison", "plot_export_calibration", "plot_recovery"]

_COLOURS = {
    "no_class": OKABE_ITO["black"],
    "two_step": OKABE_ITO["vermillion"],
    "three_step_ml": OKABE_ITO["orange"],
    "joint": OKABE_ITO["blue"],
}


def _forest(ax, table: pd.DataFrame, terms: list[str], approaches: list[str]) -> None:
    """Draw mean and HDI per (term, approach), approaches dodged within each term."""
    offsets = np.linspace(-0.25, 0.25, len(approaches)) if len(approaches) > 1 else [0.0]
    for a, approach in enumerate(approaches):
        for t, term in enumerate(terms):
            key = (approach, term)
            if key not in table.index:
                continue
            row = table.loc[key]
            y = t + offsets[a]
            ax.plot(
                [row["hdi_lower"], row["hdi_upper"]],
                [y, y],
                color=_COLOURS.get(approach, "k"),
                lw=2,
            )
            ax.plot(row["mean"], y, "o", color=_COLOURS.get(approach, "k"), ms=4)
    ax.set_yticks(range(len(terms)), terms)
    ax.axvline(0.0, color="k", lw=0.8, ls=":")
    ax.invert_yaxis()


@styled
def plot_class_effect_comparison(
    comparison: JointComparison, *, truth: Mapping[str, float] | None = None
) -> Figure:
    """Class-effect contrast and slopes by approach (no class, two-step, three-step, joint).

    Parameters
    ----------
    comparison : bayes_cluster.analyses.class_approaches.JointComparison
        Result of :func:`bayes_cluster.analyses.class_approaches.compare_class_approaches`.
    truth : mapping, optional
        True values by term (simulated data), drawn as crosses.

    Returns
    -------
    matplotlib.figure.Figure
        Left: the class-effect contrast(s) with their HDIs; right: the slopes (original
        scale) with their HDIs.
    """
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    table = comparison.coefficients
    approaches = list(dict.fromkeys(table.index.get_level_values("approach")))
    terms = list(dict.fromkeys(table.index.get_level_values("term")))
    contrast_terms = [t for t in terms if t.startswith("class effect")]
    slope_terms = [
        t for t in terms if not t.startswith("class effect") and not t.startswith("Intercept")
    ]
    fig, (left, right) = plt.subplots(
        1,
        2,
        figsize=(11, 1.2 + 0.45 * max(len(slope_terms), 2 * len(contrast_terms) + 2)),
        gridspec_kw={"width_ratios": [1, 1.3]},
        layout="constrained",
    )
    if contrast_terms:
        with_contrast = [a for a in approaches if (a, contrast_terms[0]) in table.index]
        _forest(left, table, contrast_terms, with_contrast)
        left.set_ylim(len(contrast_terms) - 0.5, -0.5)
        left.set_yticks(
            range(len(contrast_terms)),
            [t.removeprefix("class effect: ").replace(" - ", "\n− ") for t in contrast_terms],
        )
    left.set_xlabel("class effect (log-odds of exporting)")
    left.set_title("Does the cluster pattern matter?")
    _forest(right, table, slope_terms, approaches)
    right.set_xlabel("slope (log-odds per unit)")
    right.set_title("Slopes by approach")
    if truth:
        for ax, shown in ((left, contrast_terms), (right, slope_terms)):
            for t, term in enumerate(shown):
                if term in truth:
                    ax.plot(truth[term], t, "x", color="k", ms=8, mew=2)
    handles = [
        Line2D([], [], color=_COLOURS.get(a, "k"), lw=2, marker="o", label=APPROACH_LABELS[a])
        for a in approaches
    ]
    if truth:
        handles.append(Line2D([], [], color="k", marker="x", ls="", label="truth"))
    fig.legend(handles=handles, loc="outside lower center", ncols=2, fontsize="small")
    return fig


@styled
def plot_recovery(results: pd.DataFrame, *, truth_column: str = "truth") -> Figure:
    """Intervals of the class-effect contrast over simulated data sets, by approach.

    Parameters
    ----------
    results : pandas.DataFrame
        One row per (seed, approach) with columns ``seed``, ``approach``, ``mean``,
        ``hdi_lower``, ``hdi_upper`` and ``truth_column``.
    truth_column : str
        Column holding the true contrast.

    Returns
    -------
    matplotlib.figure.Figure
        One panel per approach: each seed's interval, red when it misses the truth, and
        the coverage in the title.
    """
    import matplotlib.pyplot as plt

    approaches = list(dict.fromkeys(results["approach"]))
    fig, axes = plt.subplots(
        1,
        len(approaches),
        figsize=(3.2 * len(approaches), 3.5),
        sharey=True,
        squeeze=False,
        layout="constrained",
    )
    for ax, approach in zip(axes[0], approaches, strict=True):
        rows = results[results["approach"] == approach].reset_index(drop=True)
        covered = (rows["hdi_lower"] <= rows[truth_column]) & (
            rows[truth_column] <= rows["hdi_upper"]
        )
        for i, row in rows.iterrows():
            colour = OKABE_ITO["blue"] if covered[i] else OKABE_ITO["vermillion"]
            ax.plot([i, i], [row["hdi_lower"], row["hdi_upper"]], color=colour, lw=2)
            ax.plot(i, row["mean"], "o", color=colour, ms=4)
        ax.plot(range(len(rows)), rows[truth_column], "k_", ms=12, mew=2)
        ax.axhline(0.0, color="k", lw=0.8, ls=":")
        ax.set_title(
            f"{APPROACH_LABELS.get(approach, approach)}\ncoverage {covered.mean():.0%}",
            fontsize="small",
        )
        ax.set_xlabel("simulated data set")
    axes[0][0].set_ylabel("class effect (log-odds)")
    return fig


@styled
def plot_export_calibration(
    model, *, n_replicates: int = 200, band_prob: float = 0.94, random_seed: int | None = 0
) -> Figure:
    r"""Posterior predictive check: PAV calibration of the export probabilities.

    The black line is the pool-adjacent-violators fit of the observed outcome against the
    posterior mean of :math:`p(y_i = 1 \mid \text{items}_i, \mathbf{x}_i)` (the probability
    the joint model's LOO scores); the band is the same curve for outcomes replicated from
    the model, so a well-calibrated model's line stays inside it (Dimitriadis, Gneiting &
    Jordan 2021).

    Parameters
    ----------
    model : JointLatentClassLogit or ClassLogit
        A fitted model (anything with ``fitted_probabilities()`` and ``idata_``).
    n_replicates : int
        Posterior predictive replicates of the band.
    band_prob : float
        Probability of the pointwise band.
    random_seed : int, optional
        Seed of the replicates.

    Returns
    -------
    matplotlib.figure.Figure
        The calibration plot.
    """
    import matplotlib.pyplot as plt

    from bayes_cluster.plots.logistic import draw_pav_calibration

    outcome = model.data_.outcome
    figure, axis = plt.subplots(figsize=(5, 5), layout="constrained")
    draw_pav_calibration(
        axis,
        model.fitted_probabilities(),
        model.idata_["observed_data"][outcome].to_numpy(),
        n_replicates=n_replicates,
        band_prob=band_prob,
        random_seed=random_seed,
    )
    axis.set(
        xlabel="predicted probability, given items and predictors",
        title=f"Calibration of the joint model: {outcome}",
    )
    return figure

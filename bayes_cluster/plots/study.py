"""Figures of simulation studies and simulation-based calibration.

Every function returns a :class:`matplotlib.figure.Figure` and never fits a model.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from bayes_cluster.plots.compare import _colours
from bayes_cluster.plots.style import OKABE_ITO, styled

__all__ = ["plot_sbc_ecdf", "plot_sbc_ranks", "plot_study_metric"]

_LABELS = {
    "coverage": "interval coverage",
    "rmse": "RMSE",
    "bias": "bias (estimate - truth)",
    "median_bias": "median bias",
    "power": "share of intervals excluding 0",
    "interval_width": "mean interval width",
    "separation_rate": "separation rate",
    "failure_rate": "failure rate",
}


@styled
def plot_study_metric(
    metrics: pd.DataFrame,
    measure: str = "coverage",
    *,
    effects: str | None = None,
    terms: Sequence[str] | None = None,
    nominal: float | None = None,
    ncols: int = 4,
) -> Figure:
    """One panel per term: a performance measure against ``n``, one line per method.

    Parameters
    ----------
    metrics : pandas.DataFrame
        Output of :func:`bayes_cluster.studies.study.study_metrics`.
    measure : str
        Column to plot (``coverage``, ``rmse``, ``bias``, ``power``, ...).
    effects : str, optional
        Effect set to show (default: the first in ``metrics``).
    terms : sequence of str, optional
        Terms to show (default: all, in table order).
    nominal : float, optional
        Reference line for coverage (the nominal interval level); bias gets a line at 0.
    ncols : int
        Panels per row.

    Returns
    -------
    matplotlib.figure.Figure
        The figure.

    Raises
    ------
    ValueError
        If ``measure`` or ``effects`` is not in ``metrics``.
    """
    if measure not in metrics.columns:
        raise ValueError(f"measure {measure!r} is not a column of the metrics table")
    effect_sets = list(dict.fromkeys(metrics["effects"]))
    effects = effect_sets[0] if effects is None else effects
    if effects not in effect_sets:
        raise ValueError(f"effect set {effects!r} not in the metrics ({', '.join(effect_sets)})")
    table = metrics[metrics["effects"] == effects]
    terms = list(dict.fromkeys(table["term"])) if terms is None else list(terms)
    methods = list(dict.fromkeys(table["method"]))
    colours = _colours(methods)
    nrows = int(np.ceil(len(terms) / ncols))
    figure = Figure(
        figsize=(3.2 * min(ncols, len(terms)), 2.6 * nrows + 0.6), layout="constrained"
    )
    axes = np.atleast_1d(figure.subplots(nrows, min(ncols, len(terms)), squeeze=False)).ravel()
    for ax, term in zip(axes, terms, strict=False):
        for method in methods:
            rows = table[(table["term"] == term) & (table["method"] == method)].sort_values("n")
            ax.plot(rows["n"], rows[measure], marker="o", color=colours[method], label=method)
        if measure == "coverage" and nominal is not None:
            ax.axhline(nominal, color="0.4", linestyle="--", linewidth=1)
        if measure in ("bias", "median_bias"):
            ax.axhline(0.0, color="0.4", linestyle="--", linewidth=1)
        truth = table.loc[table["term"] == term, "true_value"]
        title = f"{term} (truth {truth.iloc[0]:g})" if len(truth) else term
        ax.set_title(title, fontsize=9)
        ax.set_xscale("log")
        sizes = sorted(table["n"].unique())
        ax.set_xticks(sizes, [str(s) for s in sizes])
        ax.minorticks_off()
        ax.set_xlabel("n")
    for ax in axes[len(terms) :]:
        ax.set_visible(False)
    axes[0].set_ylabel(_LABELS.get(measure, measure))
    handles, labels = axes[0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="outside lower center", ncols=len(methods), frameon=False)
    figure.suptitle(f"{_LABELS.get(measure, measure)} by sample size ({effects})", fontsize=10)
    return figure


@styled
def plot_sbc_ranks(result, *, bins: int | None = None, ncols: int = 4) -> Figure:
    """Rank histograms of a simulation-based calibration, with a 99% uniform band.

    Parameters
    ----------
    result : bayes_cluster.studies.sbc.SBCResult
        SBC output.
    bins : int, optional
        Bars per histogram (default: about ``N / 5``, at most 20).
    ncols : int
        Panels per row.

    Returns
    -------
    matplotlib.figure.Figure
        One panel per parameter; the grey band is where 99% of bar heights fall under
        uniformity (binomial).
    """
    from scipy import stats

    ranks = result.ranks
    n, L = len(ranks), result.n_rank_draws
    bins = int(min(20, max(2, n // 5), L + 1)) if bins is None else bins
    edges = np.linspace(0, L + 1, bins + 1).round().astype(int)
    share = np.diff(edges) / (L + 1)
    lower = stats.binom.ppf(0.005, n, share)
    upper = stats.binom.ppf(0.995, n, share)
    columns = list(ranks.columns)
    nrows = int(np.ceil(len(columns) / ncols))
    figure = Figure(figsize=(3.0 * min(ncols, len(columns)), 2.3 * nrows), layout="constrained")
    axes = figure.subplots(nrows, min(ncols, len(columns)), squeeze=False).ravel()
    for ax, name in zip(axes, columns, strict=False):
        ax.fill_between(edges[:-1], lower, upper, step="post", color="0.85", label="99% band")
        ax.hist(ranks[name], bins=edges, color=OKABE_ITO["blue"], edgecolor="white")
        passed = bool(result.uniformity.loc[name, "passed"])
        ax.set_title(f"{name}{'' if passed else '  (not uniform)'}", fontsize=9)
        ax.set_xlabel("rank")
    for ax in axes[len(columns) :]:
        ax.set_visible(False)
    figure.suptitle(f"SBC rank histograms: {result.model}", fontsize=10)
    return figure


@styled
def plot_sbc_ecdf(result, *, level: float = 0.95, ncols: int = 4) -> Figure:
    """ECDF-difference plots of SBC ranks with simultaneous bands (Säilynoja et al. 2022).

    Parameters
    ----------
    result : bayes_cluster.studies.sbc.SBCResult
        SBC output.
    level : float
        Simultaneous coverage of the band.
    ncols : int
        Panels per row.

    Returns
    -------
    matplotlib.figure.Figure
        One panel per parameter: ECDF of the fractional ranks minus the uniform CDF, and
        the band a uniform sample stays inside with probability ``level``.
    """
    from bayes_cluster.inference.calibration import ecdf_band, ecdf_counts

    ranks = result.ranks
    n, L = len(ranks), result.n_rank_draws
    z, lower, upper, _ = ecdf_band(n, L, level)
    columns = list(ranks.columns)
    nrows = int(np.ceil(len(columns) / ncols))
    figure = Figure(figsize=(3.0 * min(ncols, len(columns)), 2.3 * nrows), layout="constrained")
    axes = figure.subplots(nrows, min(ncols, len(columns)), squeeze=False).ravel()
    for ax, name in zip(axes, columns, strict=False):
        ecdf = ecdf_counts(ranks[name].to_numpy(int), L) / n
        ax.fill_between(z, lower - z, upper - z, step="post", color="0.85")
        ax.step(z, ecdf - z, where="post", color=OKABE_ITO["vermillion"])
        ax.axhline(0, color="0.4", linewidth=0.8)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("fractional rank")
    for ax in axes[len(columns) :]:
        ax.set_visible(False)
    axes[0].set_ylabel("ECDF - uniform")
    figure.suptitle(
        f"SBC ECDF difference, {level:.0%} simultaneous band: {result.model}", fontsize=10
    )
    return figure

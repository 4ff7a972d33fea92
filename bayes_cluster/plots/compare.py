"""Figures of the method comparison: every method's estimates side by side.

Every function returns a :class:`matplotlib.figure.Figure` and never fits a model.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import LogLocator, NullFormatter, StrMethodFormatter

from bayes_cluster.common.dims import INTERCEPT
from bayes_cluster.plots.style import OKABE_ITO, styled

__all__ = [
    "METHOD_COLOURS",
    "forest_plot_methods",
    "plot_elpd_comparison",
    "plot_prior_posterior",
]

METHOD_COLOURS: Mapping[str, str] = {
    "mle": OKABE_ITO["blue"],
    "firth": OKABE_ITO["bluish_green"],
    "bayes": OKABE_ITO["vermillion"],
}
"""Fixed colour of each method; Bayesian variants get further colours in order."""

_EXTRA_COLOURS = (
    OKABE_ITO["orange"],
    OKABE_ITO["reddish_purple"],
    OKABE_ITO["sky_blue"],
    OKABE_ITO["black"],
    OKABE_ITO["yellow"],
)


def _colours(methods: Sequence[str]) -> dict[str, str]:
    extra = iter(_EXTRA_COLOURS * 3)
    return {m: METHOD_COLOURS.get(m) or next(extra) for m in methods}


@styled
def forest_plot_methods(
    comparison: pd.DataFrame,
    *,
    include_intercept: bool = False,
    title: str | None = None,
    label: str | None = None,
) -> Figure:
    """Forest plot of every method side by side: coefficients and odds ratios.

    Left panel: the coefficient (log-odds) with each method's interval; right panel: the
    odds ratio on a log axis.  Terms run down the page; methods are offset within a term,
    each with a fixed colour; the interval kind of each method is in the legend.  A term
    whose published conclusion is known carries it in its label.

    Parameters
    ----------
    comparison : pandas.DataFrame
        Output of :func:`bayes_cluster.analyses.compare.comparison_table`.
    include_intercept : bool
        Whether to show the intercept (usually on another scale than the slopes).
    title : str, optional
        Figure title.
    label : str, optional
        A note in the corner (e.g. ``"QUICK PREVIEW"``).

    Returns
    -------
    matplotlib.figure.Figure
    """
    table = comparison if include_intercept else comparison[comparison["term"] != INTERCEPT]
    terms = list(dict.fromkeys(table["term"]))
    methods = list(dict.fromkeys(table["method"]))
    colours = _colours(methods)
    height = 1.6 + 0.42 * len(terms) * max(1.0, len(methods) / 3)
    figure = Figure(figsize=(11, height), layout="constrained")
    left, right = figure.subplots(1, 2, sharey=True)
    step = 0.8 / max(len(methods), 1)
    for j, method in enumerate(methods):
        rows = table[table["method"] == method].set_index("term").reindex(terms)
        y = np.arange(len(terms)) + (j - (len(methods) - 1) / 2) * step
        interval = rows["interval"].dropna()
        legend = f"{method} ({interval.iloc[0]})" if len(interval) else method
        for axis, centre, lower, upper in (
            (left, "estimate", "ci_lower", "ci_upper"),
            (right, "odds_ratio", "or_ci_lower", "or_ci_upper"),
        ):
            values = rows[[centre, lower, upper]].to_numpy(dtype=float)
            if axis is right:
                values = np.clip(values, 1e-3, 1e3)  # keep separated terms on the page
            finite = np.isfinite(values).all(axis=1)
            axis.errorbar(
                values[finite, 0],
                y[finite],
                xerr=np.abs(values[finite, 1:].T - values[finite, 0]),
                fmt="o",
                markersize=4,
                capsize=2,
                color=colours[method],
                label=legend if axis is left else None,
            )
    labels = []
    published = table.drop_duplicates("term").set_index("term")["published"]
    for term in terms:
        verdict = published.get(term, "")
        labels.append(f"{term}\n(published: {verdict})" if verdict else term)
    left.set_yticks(np.arange(len(terms)), labels)
    left.invert_yaxis()
    left.axvline(0.0, color="black", linewidth=0.8, linestyle="--")
    right.axvline(1.0, color="black", linewidth=0.8, linestyle="--")
    right.set_xscale("log")
    right.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    # a formatter that pickles (no lambda): the run's figure writer gets figures pickled
    right.xaxis.set_major_formatter(StrMethodFormatter("{x:g}"))
    right.xaxis.set_minor_formatter(NullFormatter())
    left.set_xlabel("coefficient (log-odds, original scale)")
    right.set_xlabel("odds ratio (log axis)")
    figure.legend(
        loc="outside lower center", ncols=min(len(methods), 4), fontsize="small", frameon=False
    )
    for axis in (left, right):
        axis.grid(axis="x", alpha=0.3)
    figure.suptitle(title or "All methods side by side")
    if label:
        figure.text(0.99, 0.01, label, ha="right", va="bottom", color="#b00020", weight="bold")
    return figure


@styled
def plot_prior_posterior(
    draws: Mapping[str, np.ndarray],
    priors: Mapping[str, Mapping],
    *,
    title: str | None = None,
    scale_note: str = "standardised scale",
) -> Figure:
    """Prior density against the posterior of each coefficient, one panel per term.

    Shows how far the data moved each coefficient from its prior: a posterior that
    sits on its prior means the data said little about that term.

    Parameters
    ----------
    draws : mapping of str to numpy.ndarray
        Term -> posterior draws (flattened over chains), on the scale the prior is on.
    priors : mapping of str to mapping
        Term -> prior (``{"dist": ..., ...}``, :mod:`~priors`); terms without
        a prior (e.g. under the horseshoe) show the posterior only.
    title : str, optional
        Figure title.
    scale_note : str
        What scale the axis is on (in the x labels).

    Returns
    -------
    matplotlib.figure.Figure
    """
    from bayes_cluster.inference.priors import prior_log_density

    terms = list(draws)
    columns = min(4, len(terms))
    rows = int(np.ceil(len(terms) / columns))
    figure = Figure(figsize=(3.2 * columns, 2.4 * rows + 0.6), layout="constrained")
    axes = np.atleast_1d(figure.subplots(rows, columns, squeeze=False)).ravel()
    for axis, term in zip(axes, terms, strict=False):
        values = np.asarray(draws[term], dtype=float).ravel()
        low, high = np.quantile(values, [0.001, 0.999])
        spread = max(high - low, 1e-6)
        grid = np.linspace(low - spread, high + spread, 400)
        axis.hist(
            values, bins=40, density=True, color=METHOD_COLOURS["bayes"], alpha=0.55,
            label="posterior",
        )  # fmt: skip
        prior = priors.get(term)
        if prior is not None:
            wide = np.linspace(min(grid[0], -3.0), max(grid[-1], 3.0), 400)
            axis.plot(wide, np.exp(prior_log_density(prior, wide)), color="black", label="prior")
        axis.axvline(0.0, color="grey", linewidth=0.7, linestyle=":")
        axis.set_title(term, fontsize="medium")
        axis.set_xlabel(scale_note, fontsize="small")
        axis.set_yticks([])
    for axis in axes[len(terms) :]:
        axis.set_visible(False)
    axes[0].legend(fontsize="small", frameon=False)
    figure.suptitle(title or "Prior (line) against posterior (histogram)")
    return figure


@styled
def plot_elpd_comparison(
    table: pd.DataFrame,
    *,
    elpd: str = "elpd",
    se: str = "se",
    elpd_diff: str = "elpd_diff",
    diff_se: str = "dse",
    title: str | None = None,
) -> Figure:
    """PSIS-LOO comparison of fitted models: each model's ELPD and its gap to the best.

    One row per model, best first.  Filled dots: the model's expected log predictive
    density with +-1 standard error; hollow diamonds: the best model's ELPD plus the
    model's difference to it, with +-1 standard error *of the difference* (the one that
    says whether the gap is real; a gap within about 2 of its SEs is not).

    Parameters
    ----------
    table : pandas.DataFrame
        Indexed by model, best first, as :func:`bayes_cluster.estimators.logistic.compare_models`
        (``arviz_stats.compare``) returns it.
    elpd, se, elpd_diff, diff_se : str
        Column names of the ELPD, its SE, the difference to the best and the SE of that
        difference (the defaults are ``arviz_stats.compare``'s; the latent-class table of
        :func:`bayes_cluster.analyses.n_classes.compare_n_classes` uses ``elpd_loo`` and
        ``se_diff``).
    title : str, optional
        Figure title.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import pandas as pd
    >>> table = pd.DataFrame(
    ...     {"elpd": [-30.0, -33.5], "se": [4.0, 4.2], "elpd_diff": [0.0, 3.5], "dse": [0, 1.1]},
    ...     index=["hierarchical", "flat"],
    ... )
    >>> figure = plot_elpd_comparison(table)
    >>> [label.get_text() for label in figure.axes[0].get_yticklabels()]
    ['hierarchical', 'flat']
    """
    names = [str(name) for name in table.index]
    values = table[elpd].to_numpy(dtype=float)
    errors = table[se].to_numpy(dtype=float)
    best = int(np.argmax(values))
    # arviz_stats.compare gives elpd_diff as best - model (>= 0); compare_n_classes as
    # model - best (<= 0): either way the model sits |diff| below the best
    gaps = np.abs(table[elpd_diff].to_numpy(dtype=float))
    gap_errors = table[diff_se].to_numpy(dtype=float)
    rows = np.arange(len(names))
    figure = Figure(figsize=(6.4, 1.2 + 0.55 * len(names)), layout="constrained")
    axis = figure.subplots()
    axis.errorbar(values, rows, xerr=errors, fmt="o", color="black", capsize=3, label="ELPD +- SE")
    others = rows != best
    axis.errorbar(
        values[best] - gaps[others],
        rows[others] + 0.2,
        xerr=gap_errors[others],
        fmt="D",
        markerfacecolor="none",
        color=METHOD_COLOURS["bayes"],
        capsize=3,
        label="difference to the best +- its SE",
    )
    axis.axvline(values[best], color="grey", linestyle="--", linewidth=1)
    axis.set_yticks(rows, names)
    axis.set_ylim(len(names) - 0.5, -0.5)
    axis.set_xlabel("expected log predictive density (PSIS-LOO; higher is better)")
    axis.legend(fontsize="small", frameon=False, loc="best")
    axis.grid(axis="x", alpha=0.3)
    axis.set_title(title or "Models compared by PSIS-LOO")
    return figure

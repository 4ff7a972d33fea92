"""Figures that check a :class:`~bayes_cluster.estimators.logistic.BayesianLogit` fit.

Every function returns a :class:`matplotlib.figure.Figure` and never fits anything.

* :func:`plot_calibration` — PAV-adjusted reliability diagram with a consistency band
  (Dimitriadis, Gneiting & Jordan 2021; Säilynoja et al. 2023).
* :func:`plot_separation` — the separation plot of Greenhill, Ward & Sacks (2011).
* :func:`plot_loo_pit` — ECDF difference of the randomised LOO-PIT values.
* :func:`plot_coefficients` — odds ratios with their HDIs.
* :func:`plot_shrinkage` — each group's export share, raw against partially pooled.
* :func:`plot_prior_sensitivity` — each coefficient under the default and a wider prior.
* :func:`plot_prior_predictive` — what a slope prior implies for the fitted probabilities
  when seven predictors act together (the figure of ``docs/priors.md``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from bayes_cluster.plots.style import OKABE_ITO, styled

if TYPE_CHECKING:
    import pandas as pd

    from bayes_cluster.estimators.logistic import BayesianLogit

__all__ = [
    "draw_pav_calibration",
    "pav_calibration",
    "plot_calibration",
    "plot_coefficients",
    "plot_loo_pit",
    "plot_prior_predictive",
    "plot_prior_sensitivity",
    "plot_separation",
    "plot_shrinkage",
    "randomised_loo_pit",
]


def pav_calibration(probability: np.ndarray, outcome: np.ndarray) -> np.ndarray:
    """Conditional event probabilities by the pool-adjacent-violators algorithm.

    Parameters
    ----------
    probability : numpy.ndarray
        Forecast probabilities, one per observation.
    outcome : numpy.ndarray
        Observed 0/1 outcomes.

    Returns
    -------
    numpy.ndarray
        The isotonic (non-decreasing in ``probability``) fit of ``outcome``, in the order
        of ``np.sort(probability)``.
    """
    from scipy.optimize import isotonic_regression

    order = np.argsort(probability, kind="stable")
    return isotonic_regression(np.asarray(outcome, dtype=float)[order]).x


def draw_pav_calibration(
    axis: Any,
    probability_draws: np.ndarray,
    outcome: np.ndarray,
    *,
    n_replicates: int = 200,
    band_prob: float = 0.94,
    random_seed: int | None = 0,
) -> None:
    """Draw a PAV calibration curve with its posterior predictive band on ``axis``.

    The black line is :func:`pav_calibration` of the observed outcomes against the
    posterior mean probabilities; the band is the same curve for outcomes replicated from
    ``n_replicates`` posterior draws.  The caller sets the x label and the title.

    Parameters
    ----------
    axis : matplotlib.axes.Axes
        Where to draw.
    probability_draws : numpy.ndarray
        Posterior draws of the event probabilities, shape ``(..., firm)``.
    outcome : numpy.ndarray
        Observed 0/1 outcomes, one per firm.
    n_replicates : int, default 200
        Posterior predictive replicates of the band.
    band_prob : float, default 0.94
        Probability of the pointwise band.
    random_seed : int, optional
        Seed of the replicates.
    """
    p = probability_draws.reshape(-1, probability_draws.shape[-1])
    p_mean = p.mean(axis=0)
    rng = np.random.default_rng(random_seed)
    rows = rng.choice(p.shape[0], size=min(n_replicates, p.shape[0]), replace=False)
    replicated = np.array([pav_calibration(p_mean, rng.random(p_mean.size) < p[r]) for r in rows])
    tail = (1 - band_prob) / 2
    lower, upper = np.quantile(replicated, [tail, 1 - tail], axis=0)
    x = np.sort(p_mean)
    axis.fill_between(
        x,
        lower,
        upper,
        step="post",
        color="C0",
        alpha=0.3,
        label=f"{band_prob:.0%} band of replicated outcomes",
    )
    axis.step(
        x, pav_calibration(p_mean, outcome), where="post", color="black", label="observed (PAV)"
    )
    axis.plot(
        [0, 1], [0, 1], color="grey", linestyle="--", linewidth=1, label="perfect calibration"
    )
    axis.set(xlim=(0, 1), ylim=(0, 1), ylabel="conditional event probability")
    axis.legend(loc="upper left", fontsize="small")


@styled
def plot_calibration(
    model: BayesianLogit,
    *,
    n_replicates: int = 200,
    band_prob: float = 0.94,
    random_seed: int | None = 0,
) -> Figure:
    """PAV-adjusted calibration (reliability) plot of the fitted probabilities.

    The black line is the PAV fit of the observed outcomes against the posterior mean
    probabilities; the band is the same curve for outcomes replicated from the model
    (posterior predictive), so a well-calibrated model's line stays inside it.

    Parameters
    ----------
    model : BayesianLogit
        A fitted model.
    n_replicates : int, default 200
        Posterior predictive replicates of the band.
    band_prob : float, default 0.94
        Probability of the pointwise band.
    random_seed : int, optional
        Seed of the replicate choice.

    Returns
    -------
    matplotlib.figure.Figure
        The figure.
    """
    figure, axis = plt.subplots(figsize=(5, 5))
    draw_pav_calibration(
        axis,
        model.fitted_probabilities(),
        model.idata_["observed_data"]["y"].to_numpy(),
        n_replicates=n_replicates,
        band_prob=band_prob,
        random_seed=random_seed,
    )
    axis.set(
        xlabel="predicted probability (posterior mean)", title=f"Calibration: {model.outcome}"
    )
    figure.tight_layout()
    return figure


@styled
def plot_separation(model: BayesianLogit) -> Figure:
    """Separation plot (Greenhill, Ward & Sacks 2011) of the fitted probabilities.

    Firms are sorted by their posterior mean probability; a dark stripe is an observed 1,
    a light one a 0.  A model that separates the outcomes well puts the dark stripes to
    the right.  The line is the fitted probability and the triangle the expected number
    of events.

    Parameters
    ----------
    model : BayesianLogit
        A fitted model.

    Returns
    -------
    matplotlib.figure.Figure
        The figure.
    """
    p = model.fitted_probabilities()
    p_mean = p.reshape(-1, p.shape[-1]).mean(axis=0)
    y = model.idata_["observed_data"]["y"].to_numpy()
    order = np.argsort(p_mean, kind="stable")
    n = p_mean.size
    figure, axis = plt.subplots(figsize=(8, 1.8))
    colors = np.where(y[order] == 1, OKABE_ITO["vermillion"], "#F6D5C0")
    axis.bar(np.arange(n), np.ones(n), width=1.0, color=colors, edgecolor="none")
    axis.plot(np.arange(n), p_mean[order], color="black", linewidth=1.2)
    expected = n - p_mean.sum()
    axis.plot([expected - 0.5], [-0.08], marker="^", color="black", clip_on=False)
    axis.set(
        xlim=(-0.5, n - 0.5),
        ylim=(0, 1),
        yticks=[],
        xticks=[],
        title=f"Separation plot: {model.outcome} (dark = 1)",
    )
    figure.tight_layout()
    return figure


def randomised_loo_pit(model: BayesianLogit, random_seed: int | None = 0) -> np.ndarray:
    """Randomised LOO-PIT values of a binary outcome.

    ``u_i = F_i(y_i - 1) + v_i (F_i(y_i) - F_i(y_i - 1))`` with ``v_i ~ U(0, 1)``, where
    ``F_i`` is the PSIS-LOO predictive distribution of firm ``i``; uniform on (0, 1) when
    the model is calibrated (Czado, Gneiting & Held 2009).

    Parameters
    ----------
    model : BayesianLogit
        A fitted model.
    random_seed : int, optional
        Seed of the randomisation.

    Returns
    -------
    numpy.ndarray
        One PIT value per firm.
    """
    from scipy.special import logsumexp

    elpd = model.loo()
    log_weights = np.asarray(elpd.log_weights.transpose("chain", "draw", ...))
    p = model.fitted_probabilities()
    n = p.shape[-1]
    log_weights = log_weights.reshape(-1, n)
    log_weights = log_weights - logsumexp(log_weights, axis=0)
    p_loo = np.sum(np.exp(log_weights) * p.reshape(-1, n), axis=0)
    y = model.idata_["observed_data"]["y"].to_numpy()
    v = np.random.default_rng(random_seed).random(n)
    return np.where(y == 1, (1 - p_loo) + v * p_loo, v * (1 - p_loo))


@styled
def plot_loo_pit(
    model: BayesianLogit, *, band_prob: float = 0.94, random_seed: int | None = 0
) -> Figure:
    """ECDF difference plot of the randomised LOO-PIT values.

    Parameters
    ----------
    model : BayesianLogit
        A fitted model.
    band_prob : float, default 0.94
        Probability of the pointwise band for uniform PIT values.
    random_seed : int, optional
        Seed of the randomisation.

    Returns
    -------
    matplotlib.figure.Figure
        The figure.
    """
    from scipy.stats import binom

    pit = np.sort(randomised_loo_pit(model, random_seed))
    n = pit.size
    grid = np.linspace(0, 1, 201)
    ecdf = np.searchsorted(pit, grid, side="right") / n
    tail = (1 - band_prob) / 2
    lower = binom.ppf(tail, n, grid) / n - grid
    upper = binom.ppf(1 - tail, n, grid) / n - grid
    figure, axis = plt.subplots(figsize=(5, 3.5))
    axis.fill_between(
        grid,
        lower,
        upper,
        color="C0",
        alpha=0.3,
        label=f"{band_prob:.0%} pointwise band (uniform)",
    )
    axis.step(grid, ecdf - grid, where="post", color="black", label="LOO-PIT ECDF - uniform")
    axis.axhline(0, color="grey", linewidth=0.8)
    axis.set(xlabel="PIT value", ylabel="ECDF difference", title=f"LOO-PIT: {model.outcome}")
    axis.legend(fontsize="small")
    figure.tight_layout()
    return figure


@styled
def plot_coefficients(model: BayesianLogit, *, hdi_prob: float | None = None) -> Figure:
    """Odds ratios (posterior mean of the log-odds, exponentiated) with their HDIs.

    Parameters
    ----------
    model : BayesianLogit
        A fitted model.
    hdi_prob : float, optional
        Interval probability (default: the model's).

    Returns
    -------
    matplotlib.figure.Figure
        The figure, one row per slope, log scale.
    """
    table = model.summary(hdi_prob, groups=False).drop(index="Intercept")
    figure, axis = plt.subplots(figsize=(6, 0.45 * len(table) + 1.2))
    rows = np.arange(len(table))[::-1]
    axis.hlines(
        rows, table["odds_ratio_lower"], table["odds_ratio_upper"], color="C0", linewidth=2
    )
    axis.plot(table["odds_ratio"], rows, "o", color="C0")
    axis.axvline(1.0, color="grey", linestyle="--", linewidth=1)
    axis.set_xscale("log")
    axis.set_yticks(rows, table.index)
    prob = table.attrs.get("hdi_prob", model.hdi_prob)
    axis.set(xlabel=f"odds ratio per unit ({prob:.0%} HDI)", title=f"{model.outcome}: odds ratios")
    figure.tight_layout()
    return figure


def prior_predictive_probabilities(
    slope_prior: Mapping[str, Any],
    intercept_prior: Mapping[str, Any],
    *,
    n_predictors: int = 7,
    n_obs: int = 60,
    draws: int = 2000,
    random_seed: int | None = 0,
) -> np.ndarray:
    """Prior predictive probabilities of firms with standardised predictors.

    Predictors are drawn independently from N(0, 1) (the standardised scale), one
    design per draw, and ``p = logit^-1(alpha + x' beta)`` with ``alpha`` and ``beta`` from
    the priors.

    Parameters
    ----------
    slope_prior, intercept_prior : mapping
        Priors as in :data:`bayes_cluster.estimators.logistic.DEFAULT_PRIORS`.
    n_predictors : int, default 7
        Number of slopes acting together.
    n_obs : int, default 60
        Firms per draw.
    draws : int, default 2000
        Prior draws.
    random_seed : int, optional
        Seed.

    Returns
    -------
    numpy.ndarray
        Shape (draws, n_obs).
    """
    from bayes_cluster.inference.priors import sample_prior, validate_prior

    rng = np.random.default_rng(random_seed)
    slopes = sample_prior(validate_prior(slope_prior, "slopes"), (draws, n_predictors), rng)
    alpha = sample_prior(validate_prior(intercept_prior, "intercept"), (draws, 1), rng)
    X = rng.standard_normal((draws, n_obs, n_predictors))
    eta = alpha + np.einsum("snp,sp->sn", X, slopes)
    from scipy.special import expit

    return expit(eta)


@styled
def plot_prior_predictive(
    candidates: Mapping[str, tuple[Mapping[str, Any], Mapping[str, Any]]] | None = None,
    *,
    n_predictors: int = 7,
    n_obs: int = 60,
    draws: int = 2000,
    random_seed: int | None = 0,
) -> Figure:
    """Compare slope priors by the fitted probabilities they imply a priori.

    Parameters
    ----------
    candidates : mapping, optional
        Label -> (slope prior, intercept prior).  Default: the package default, rstanarm's
        default, Gelman et al.'s (2008) Cauchy and a flat-ish N(0, 10).
    n_predictors, n_obs, draws, random_seed
        See :func:`prior_predictive_probabilities`.

    Returns
    -------
    matplotlib.figure.Figure
        One histogram of the prior predictive probabilities per candidate, with the share
        of probabilities below 0.01 or above 0.99 in its title.
    """
    if candidates is None:
        candidates = default_prior_candidates()
    labels: Sequence[str] = list(candidates)
    figure, axes = plt.subplots(1, len(labels), figsize=(3.2 * len(labels), 3.0), sharey=True)
    axes = np.atleast_1d(axes)
    for axis, label in zip(axes, labels, strict=True):
        slope_prior, intercept_prior = candidates[label]
        p = prior_predictive_probabilities(
            slope_prior,
            intercept_prior,
            n_predictors=n_predictors,
            n_obs=n_obs,
            draws=draws,
            random_seed=random_seed,
        ).ravel()
        extreme = np.mean((p < 0.01) | (p > 0.99))
        axis.hist(p, bins=np.linspace(0, 1, 41), density=True, color="C0", alpha=0.8)
        axis.set_title(f"{label}\n{extreme:.0%} of p < 0.01 or > 0.99", fontsize="small")
        axis.set_xlabel("prior predictive P(export)")
    axes[0].set_ylabel("density")
    figure.suptitle(f"Prior predictive probabilities, {n_predictors} standardised predictors")
    figure.tight_layout()
    return figure


def default_prior_candidates() -> dict[str, tuple[dict[str, Any], dict[str, Any]]]:
    """Return the priors compared in ``docs/priors.md`` (label -> (slopes, intercept))."""
    from bayes_cluster.estimators.logistic import DEFAULT_PRIORS

    return {
        "default: t7(0, 1), N(0, 1.5)": (DEFAULT_PRIORS["slopes"], DEFAULT_PRIORS["intercept"]),
        "rstanarm: N(0, 2.5), N(0, 2.5)": (
            {"dist": "Normal", "mu": 0, "sigma": 2.5},
            {"dist": "Normal", "mu": 0, "sigma": 2.5},
        ),
        "Gelman 2008: Cauchy(0, 1.25)": (
            {"dist": "Cauchy", "mu": 0, "sigma": 1.25},
            {"dist": "Cauchy", "mu": 0, "sigma": 10},
        ),
        "vague: N(0, 10)": (
            {"dist": "Normal", "mu": 0, "sigma": 10},
            {"dist": "Normal", "mu": 0, "sigma": 10},
        ),
    }


@styled
def plot_shrinkage(table: pd.DataFrame, *, title: str = "") -> Figure:
    """Each group's export share: observed (raw) against partially pooled (the model).

    Parameters
    ----------
    table : pandas.DataFrame
        :meth:`bayes_cluster.estimators.logistic.BayesianLogit.group_shrinkage`.
    title : str, optional
        Figure title.

    Returns
    -------
    matplotlib.figure.Figure
        One row per group: a hollow dot at the observed share, a filled dot and HDI at the
        partially pooled share, an arrow from raw to pooled, the overall share dashed.
    """
    figure, axis = plt.subplots(figsize=(6.5, 0.55 * len(table) + 1.6))
    rows = np.arange(len(table))[::-1]
    raw = table["observed_share"].to_numpy(dtype=float)
    pooled = table["pooled_mean"].to_numpy(dtype=float)
    axis.hlines(
        rows,
        table["pooled_hdi_lower"],
        table["pooled_hdi_upper"],
        color=OKABE_ITO["blue"],
        linewidth=2,
    )
    for y, start, end in zip(rows, raw, pooled, strict=True):
        axis.annotate(
            "",
            xy=(end, y),
            xytext=(start, y),
            arrowprops={"arrowstyle": "->", "color": "grey", "linewidth": 1},
        )
    axis.plot(raw, rows, "o", markerfacecolor="white", color=OKABE_ITO["vermillion"], label="raw")
    axis.plot(pooled, rows, "o", color=OKABE_ITO["blue"], label="partially pooled")
    overall = table.attrs.get("overall_share", np.nan)
    axis.axvline(overall, color="grey", linestyle="--", linewidth=1, label="all firms")
    counts = zip(table.index, table["n_firms"], strict=True)
    labels = [f"{level}\n(n = {n})" for level, n in counts]
    axis.set_yticks(rows, labels)
    prob = table.attrs.get("hdi_prob", 0.94)
    axis.set(
        xlim=(-0.02, 1.02),
        xlabel=f"share of exporters (partially pooled: posterior mean, {prob:.0%} HDI)",
        title=title or "Group shares: raw and partially pooled",
    )
    axis.legend(loc="best", fontsize="small", frameon=False)
    figure.tight_layout()
    return figure


@styled
def plot_prior_sensitivity(table: pd.DataFrame, *, factor: float, level: float) -> Figure:
    """Each coefficient's posterior under the default prior and under a wider one.

    Parameters
    ----------
    table : pandas.DataFrame
        :func:`bayes_cluster.estimators.logistic.prior_sensitivity_reading`'s table.
    factor : float
        How much wider the second prior is.
    level : float
        HDI mass of the intervals (named on the axis).

    Returns
    -------
    matplotlib.figure.Figure
        Two intervals per slope (the intercept, on another scale, is in the table only);
        a term the power-scaling check flags is marked with an asterisk.
    """
    table = table.drop(index="Intercept", errors="ignore")
    figure, axis = plt.subplots(figsize=(7, 0.6 * len(table) + 1.6))
    rows = np.arange(len(table))[::-1].astype(float)
    for offset, suffix, colour, label in (
        (0.15, "default", OKABE_ITO["blue"], "default prior"),
        (-0.15, "wide", OKABE_ITO["orange"], f"prior {factor:g}x wider"),
    ):
        y = rows + offset
        axis.hlines(
            y,
            table[f"hdi_lower_{suffix}"],
            table[f"hdi_upper_{suffix}"],
            color=colour,
            linewidth=2,
        )
        axis.plot(table[f"mean_{suffix}"], y, "o", color=colour, label=label)
    flagged = table["prior_sensitivity"] > 0.05
    labels = [f"{term} *" if flag else term for term, flag in flagged.items()]
    axis.set_yticks(rows, labels)
    axis.axvline(0.0, color="grey", linestyle="--", linewidth=1)
    axis.set(
        xlabel=f"coefficient (log-odds, original scale; {level:.0%} HDI)",
        title="Prior sensitivity of the slopes (* flagged by power-scaling)",
    )
    axis.legend(loc="best", fontsize="small", frameon=False)
    figure.tight_layout()
    return figure

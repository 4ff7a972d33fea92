"""The ECDF of discrete ranks and its simultaneous uniformity band (SBC's graphical test).

Säilynoja, Bürkner & Vehtari (2022, "Graphical test for discrete uniformity and its
applications in goodness-of-fit evaluation and multiple sample comparison", *Statistics
and Computing* 32:32): the ECDF of ``N`` ranks on ``0..L`` and the band that the ECDF of
a uniform sample stays inside with a given probability, computed exactly for the
discrete ranks by simulation.  Used by the simulation-based calibration
(:mod:`bayes_cluster.studies.sbc`) and its figures (:mod:`bayes_cluster.plots.study`).
"""

from __future__ import annotations

import numpy as np
from scipy import stats

__all__ = ["ecdf_band", "ecdf_counts", "min_tail_probabilities"]


def ecdf_band(
    n_simulations: int,
    n_rank_draws: int,
    level: float = 0.95,
    *,
    n_trials: int = 2000,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Simultaneous confidence band for the ECDF of ``N`` uniform ranks on ``0..L``.

    Säilynoja et al. (2022): find the pointwise level ``1 - gamma`` whose binomial bands
    contain the whole ECDF of a uniform sample with probability ``level``; ``gamma`` is
    estimated from ``n_trials`` simulated uniform rank samples.

    Parameters
    ----------
    n_simulations : int
        ``N``, ranks per parameter.
    n_rank_draws : int
        ``L``; ranks take the ``L + 1`` values ``0..L``.
    level : float
        Simultaneous coverage of the band.
    n_trials : int
        Uniform samples simulated to calibrate ``gamma``.
    seed : int
        Seed of those simulations.

    Returns
    -------
    z : numpy.ndarray
        Evaluation points ``(k + 1) / (L + 1)``, ``k = 0..L-1`` (the expected ECDF).
    lower, upper : numpy.ndarray
        Band for the ECDF at ``z``.
    gamma : float
        The pointwise tail probability that gives the simultaneous level.
    """
    z = np.arange(1, n_rank_draws + 1) / (n_rank_draws + 1)
    rng = np.random.default_rng(seed)
    uniform_ranks = rng.integers(0, n_rank_draws + 1, size=(n_trials, n_simulations))
    minima = min_tail_probabilities(uniform_ranks, n_rank_draws)
    gamma = float(np.quantile(minima, 1 - level))
    lower = stats.binom.ppf(gamma / 2, n_simulations, z) / n_simulations
    upper = stats.binom.ppf(1 - gamma / 2, n_simulations, z) / n_simulations
    return z, lower, upper, gamma


def ecdf_counts(ranks: np.ndarray, n_rank_draws: int) -> np.ndarray:
    """Return ``N * ECDF(k)`` at ``k = 0..L-1`` for each row of ``ranks``.

    Parameters
    ----------
    ranks : numpy.ndarray
        Ranks on ``0..L``, shape ``(..., N)``.
    n_rank_draws : int
        ``L``.

    Returns
    -------
    numpy.ndarray
        Shape ``(..., L)``: how many ranks are at most ``k``.
    """
    ranks = np.asarray(ranks)
    counts = np.stack(
        [np.count_nonzero(ranks == k, axis=-1) for k in range(n_rank_draws)], axis=-1
    )
    return np.cumsum(counts, axis=-1)


def min_tail_probabilities(ranks: np.ndarray, n_rank_draws: int) -> np.ndarray:
    """Return the smallest two-sided binomial tail probability of the ECDF over ``k``.

    Parameters
    ----------
    ranks : numpy.ndarray
        Ranks on ``0..L``, shape ``(N,)`` or ``(rows, N)``.
    n_rank_draws : int
        ``L``.

    Returns
    -------
    numpy.ndarray
        One probability per row: small when the ECDF leaves the uniform's binomial
        band somewhere.
    """
    ranks = np.atleast_2d(ranks)
    n = ranks.shape[-1]
    z = np.arange(1, n_rank_draws + 1) / (n_rank_draws + 1)
    counts = ecdf_counts(ranks, n_rank_draws)
    below = stats.binom.cdf(counts, n, z)
    above = stats.binom.sf(counts - 1, n, z)
    return np.minimum(1.0, 2 * np.minimum(below, above)).min(axis=-1)

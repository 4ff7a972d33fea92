"""Simulation-based calibration: uniformity tests, bands, and SBC of the Bayesian models."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from scipy import stats

from bayes_cluster.sbc import (
    SBCResult,
    _ecdf_counts,
    ecdf_band,
    rank_uniformity,
)


def uniform_ranks(n=200, L=99, columns=("a", "b", "c"), seed=0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({c: rng.integers(0, L + 1, size=n) for c in columns})


def test_chi_square_matches_scipy():
    ranks = uniform_ranks()
    table = rank_uniformity(ranks, 99, bins=20)
    for column in ranks:
        # ranks 0..99 in 20 bins of 5 values each: scipy's goodness-of-fit test
        observed = np.bincount(ranks[column] // 5, minlength=20)
        reference = stats.chisquare(observed)
        assert table.loc[column, "chi2"] == pytest.approx(reference.statistic)
        assert table.loc[column, "chi2_p_value"] == pytest.approx(reference.pvalue)
        assert table.loc[column, "df"] == 19


def test_uniform_ranks_pass_and_skewed_ranks_fail():
    ranks = uniform_ranks()
    assert rank_uniformity(ranks, 99)["passed"].all()
    rng = np.random.default_rng(1)
    # an overconfident posterior puts the truth in the tails: U-shaped ranks
    u_shaped = np.where(
        rng.random(200) < 0.5, rng.integers(0, 15, 200), rng.integers(85, 100, 200)
    )
    # a biased posterior shifts the ranks up
    shifted = np.minimum(99, rng.integers(0, 100, 200) + 25)
    bad = ranks.assign(b=u_shaped, c=shifted)
    table = rank_uniformity(bad, 99)
    assert table["passed"].to_dict() == {"a": True, "b": False, "c": False}
    assert table.loc["c", "ecdf_p_value"] < 0.001


def test_ecdf_band_is_simultaneous_at_its_level():
    n, L = 100, 49
    z, lower, upper, gamma = ecdf_band(n, L, 0.95, seed=3)
    assert np.all(lower <= z) and np.all(z <= upper)
    assert 0 < gamma < 0.05  # simultaneous coverage needs narrower pointwise tails
    rng = np.random.default_rng(4)
    samples = rng.integers(0, L + 1, size=(2000, n))
    ecdfs = _ecdf_counts(samples, L) / n
    inside = np.all((ecdfs >= lower) & (ecdfs <= upper), axis=1).mean()
    assert inside == pytest.approx(0.95, abs=0.02)


def test_rank_checks_reject_bad_input():
    with pytest.raises(ValueError, match="at least 10 simulations, got 3"):
        rank_uniformity(uniform_ranks(n=3), 99)
    with pytest.raises(ValueError, match=r"ranks must lie in 0\.\.50"):
        rank_uniformity(uniform_ranks(L=99), 50)


def test_sbc_figures():
    from bayes_cluster.plots.study import plot_sbc_ecdf, plot_sbc_ranks

    ranks = uniform_ranks(columns=("alpha", "beta[workers]"))
    result = SBCResult(
        ranks=ranks,
        n_rank_draws=99,
        simulations=pd.DataFrame({"divergences": np.zeros(200, int)}),
        uniformity=rank_uniformity(ranks, 99),
        model="test",
    )
    assert result.passed
    assert result.verdict().startswith("SBC of test: ranks of all 2 parameters are consistent")
    for figure in (plot_sbc_ranks(result), plot_sbc_ecdf(result)):
        assert isinstance(figure, Figure)
        assert [ax.get_title() for ax in figure.axes if ax.get_visible()] == [
            "alpha",
            "beta[workers]",
        ]

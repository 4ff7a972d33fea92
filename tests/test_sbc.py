"""Simulation-based calibration: uniformity tests, bands, and SBC of the Bayesian models."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from scipy import stats

from bayes_cluster.studies.sbc import (
    SBCResult,
    _ecdf_counts,
    ecdf_band,
    rank_uniformity,
)
from bayes_cluster.surveys.codebook import TUMANG_PREDICTORS


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


def test_sbc_samples_through_the_compile_cache_and_repeats_its_ranks():
    """One compile per model structure (the package's cache), the same ranks for the same
    seed, and every container's value passed to each fit (a compiled model cached from
    other data is re-used safely)."""
    import pymc as pm

    from bayes_cluster.inference.sampling import compiled_cache
    from bayes_cluster.studies.sbc import simulation_based_calibration

    def normal_mean(shift: float) -> pm.Model:
        with pm.Model() as model:
            offset = pm.Data("offset", np.full(5, shift))
            y_obs = pm.Data("y_obs", np.zeros(5))
            mu = pm.Normal("mu", 0.0, 1.0)
            pm.Normal("y", mu + offset, 1.0, observed=y_obs)
        return model

    settings = {"n_simulations": 10, "n_rank_draws": 20, "draws": 20, "tune": 50, "seed": 4}
    key = ("test_sbc", "normal mean, 5 observations")
    compilations = compiled_cache.compilations
    unshifted = simulation_based_calibration(normal_mean(0.0), ["mu"], key=key, **settings)
    shifted = simulation_based_calibration(normal_mean(3.0), ["mu"], key=key, **settings)
    again = simulation_based_calibration(normal_mean(3.0), ["mu"], key=key, **settings)
    assert compiled_cache.compilations == compilations + 1
    pd.testing.assert_frame_equal(shifted.ranks, again.ranks)
    assert shifted.ranks.shape == (10, 1)
    # the shifted data are drawn around mu + 3: had the fits kept the cached model's
    # offset of 0, every posterior would sit about 3 above the true mu (all ranks 0);
    # with the offset passed they match the unshifted ranks (same seeds, same y - offset)
    assert (shifted.ranks["mu"] > 0).sum() >= 5
    assert (shifted.ranks["mu"] - unshifted.ranks["mu"]).abs().max() <= 1


@pytest.mark.slow
def test_sbc_of_the_bayesian_logit_with_default_priors_is_uniform():
    """Talts et al. (2018): 100 prior draws, ranks among 100 thinned posterior draws."""
    from bayes_cluster.estimators.logistic import DEFAULT_PRIORS
    from bayes_cluster.studies.sbc import sbc_logit

    result = sbc_logit(n_simulations=100, n_rank_draws=100, draws=500, tune=500, chains=2, seed=3)
    print(result.verdict())
    print(result.uniformity)
    assert DEFAULT_PRIORS["slopes"]["dist"] == "StudentT"  # the priors checked are the defaults
    assert list(result.ranks.columns) == [
        "alpha_std",
        *(f"beta_std[{p}]" for p in TUMANG_PREDICTORS),
    ]
    assert result.ranks.to_numpy().min() >= 0 and result.ranks.to_numpy().max() <= 100
    assert (result.simulations["r_hat_max"] < 1.05).mean() > 0.95
    assert result.passed, result.verdict()


@pytest.mark.slow
def test_sbc_of_the_latent_class_model_is_uniform():
    from bayes_cluster.studies.sbc import sbc_latent_class

    result = sbc_latent_class(
        n_classes=2, n_simulations=40, n_rank_draws=40, draws=300, tune=400, chains=2, seed=1
    )
    print(result.verdict())
    print(result.uniformity)
    assert list(result.ranks.columns[:2]) == ["share[1]", "share[2]"]
    # the largest share's rank and the smallest's mirror each other when K = 2
    np.testing.assert_array_equal(result.ranks["share[1]"] + result.ranks["share[2]"], 40)
    assert result.passed, result.verdict()


def test_latent_class_quantities_ignore_labels():
    from bayes_cluster.studies.sbc import latent_class_quantities

    rng = np.random.default_rng(0)
    pi = rng.dirichlet(np.ones(3))
    theta = rng.dirichlet(np.ones(4), size=(3, 5))
    permutation = [2, 0, 1]
    values = latent_class_quantities(pi, theta)
    np.testing.assert_allclose(
        values, latent_class_quantities(pi[permutation], theta[permutation])
    )
    assert values[0] == pi.max() and values[2] == pi.min()
    np.testing.assert_allclose(values[3:], (pi[:, None] * theta[:, :, -1]).sum(axis=0))

"""Tests of the MCMC convergence diagnostics (synthetic draws with known defects)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from arviz_base import from_dict

from bayes_cluster.inference.diagnostics import (
    ConvergenceWarning,
    MCMCDiagnostics,
    effective_ess_threshold,
    mcmc_diagnostics,
    warn_if_failed,
)

CHAINS, DRAWS = 4, 1000


def _tree(beta, *, sample_stats=None, library="pymc"):
    tree = from_dict(
        {"posterior": {"beta": beta}, **({"sample_stats": sample_stats} if sample_stats else {})},
        dims={"beta": ["predictor"]},
        coords={"predictor": ["workers", "firm_age"]},
    )
    for group in tree.children:
        tree[group].attrs["inference_library"] = library
    return tree


def _pymc_stats(rng, *, diverging=None, max_depth=None):
    shape = (CHAINS, DRAWS)
    return {
        "diverging": np.zeros(shape, bool) if diverging is None else diverging,
        "tree_depth": np.full(shape, 3),
        "reached_max_treedepth": np.zeros(shape, bool) if max_depth is None else max_depth,
        "energy": rng.normal(size=shape),
    }


def _nutpie_stats(rng, *, diverging=None):
    shape = (CHAINS, DRAWS)
    return {
        "diverging": np.zeros(shape, bool) if diverging is None else diverging,
        "depth": np.full(shape, 3, dtype=np.uint64),
        "maxdepth_reached": np.zeros(shape, bool),
        "energy": rng.normal(size=shape),
    }


def test_independent_draws_pass_and_table_has_one_row_per_scalar():
    rng = np.random.default_rng(1)
    tree = _tree(rng.normal(size=(CHAINS, DRAWS, 2)), sample_stats=_pymc_stats(rng))
    diag = mcmc_diagnostics(tree)
    assert isinstance(diag, MCMCDiagnostics)
    assert diag.passed, diag.problems
    assert list(diag.table.index) == ["beta[workers]", "beta[firm_age]"]
    assert list(diag.table.columns) == ["r_hat", "ess_bulk", "ess_tail", "mcse_mean"]
    assert (diag.n_chains, diag.n_draws, diag.n_divergences) == (CHAINS, DRAWS, 0)
    assert diag.sampler == "pymc"
    # iid N(0, 1) draws: ESS close to the number of draws, MCSE close to 1 / sqrt(4000)
    assert diag.table["ess_bulk"].min() > 3000
    np.testing.assert_allclose(diag.table["mcse_mean"], 1 / np.sqrt(CHAINS * DRAWS), rtol=0.2)
    # E-BFMI of white-noise energy is 2 (mean squared difference = 2 variances)
    np.testing.assert_allclose(diag.bfmi, 2.0, rtol=0.15)


def test_bfmi_matches_arviz_stats():
    import arviz_stats as azs

    rng = np.random.default_rng(2)
    stats = _pymc_stats(rng)
    stats["energy"] = np.cumsum(rng.normal(size=(CHAINS, DRAWS)), axis=1)  # random walk
    tree = _tree(rng.normal(size=(CHAINS, DRAWS, 2)), sample_stats=stats)
    diag = mcmc_diagnostics(tree)
    expected = azs.bfmi(tree)["energy"].to_numpy()
    np.testing.assert_allclose(diag.bfmi, expected, rtol=1e-10)
    assert not diag.passed
    assert any(p.startswith("E-BFMI") for p in diag.problems)


def test_shifted_chain_fails_rhat_with_named_parameter_and_warns():
    rng = np.random.default_rng(3)
    beta = rng.normal(size=(CHAINS, DRAWS, 2))
    beta[0, :, 0] += 3.0  # one chain stuck elsewhere for beta[workers]
    tree = _tree(beta, sample_stats=_pymc_stats(rng))
    diag = mcmc_diagnostics(tree)
    assert not diag.passed
    rhat_problems = [p for p in diag.problems if p.startswith("R-hat")]
    assert len(rhat_problems) == 1
    assert "beta[workers]" in rhat_problems[0] and "(> 1.01)" in rhat_problems[0]
    assert any("more tuning" in item for item in diag.advice)
    with pytest.warns(ConvergenceWarning, match=r"FAILED.*\n.*R-hat .* for beta\[workers\]"):
        assert warn_if_failed(diag, context="test fit") is False
    assert diag.to_attrs()["diagnostics_verdict"] == "FAILED"


def test_passing_fit_does_not_warn():
    rng = np.random.default_rng(4)
    diag = mcmc_diagnostics(_tree(rng.normal(size=(CHAINS, DRAWS, 2))))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert warn_if_failed(diag) is True


@pytest.mark.parametrize("stats_maker", [_pymc_stats, _nutpie_stats], ids=["pymc", "nutpie"])
def test_divergences_counted_for_both_samplers(stats_maker):
    rng = np.random.default_rng(5)
    diverging = np.zeros((CHAINS, DRAWS), bool)
    diverging[1, [10, 20, 30]] = True
    tree = _tree(
        rng.normal(size=(CHAINS, DRAWS, 2)), sample_stats=stats_maker(rng, diverging=diverging)
    )
    diag = mcmc_diagnostics(tree)
    assert diag.n_divergences == 3
    assert not diag.passed
    assert diag.problems == [
        "3 divergent transitions after warm-up (0.1% of draws): the posterior may be "
        "biased where the sampler could not go"
    ]
    assert any("target_accept" in item for item in diag.advice)


def test_treedepth_hits_counted():
    rng = np.random.default_rng(6)
    hits = np.zeros((CHAINS, DRAWS), bool)
    hits[0, :5] = True
    tree = _tree(
        rng.normal(size=(CHAINS, DRAWS, 2)), sample_stats=_pymc_stats(rng, max_depth=hits)
    )
    diag = mcmc_diagnostics(tree)
    assert diag.treedepth_hits == 5
    assert "5 transitions hit the maximum tree depth" in diag.problems[0]


def test_treedepth_from_depth_when_flag_missing():
    rng = np.random.default_rng(7)
    stats = _nutpie_stats(rng)
    del stats["maxdepth_reached"]
    stats["depth"][2, :7] = 10
    tree = _tree(rng.normal(size=(CHAINS, DRAWS, 2)), sample_stats=stats)
    assert mcmc_diagnostics(tree, max_treedepth=10).treedepth_hits == 7
    assert mcmc_diagnostics(tree).treedepth_hits == 0  # unknown maximum: not guessed


def test_autocorrelated_draws_fail_ess_and_threshold_scales():
    rng = np.random.default_rng(8)
    # AR(1) with phi = 0.99: ESS about 4000 * 0.01 / 1.99 = 20 << 400
    noise = rng.normal(size=(CHAINS, DRAWS, 2))
    beta = np.zeros_like(noise)
    for t in range(1, DRAWS):
        beta[:, t] = 0.99 * beta[:, t - 1] + noise[:, t]
    diag = mcmc_diagnostics(_tree(beta), var_names=["beta"])
    assert not diag.passed
    assert any(p.startswith("bulk ESS") and "(< 400)" in p for p in diag.problems)
    assert effective_ess_threshold(400, 200) == 20.0
    assert effective_ess_threshold(400, 8000) == 400.0


def test_rendering_and_attrs_are_strings():
    rng = np.random.default_rng(9)
    diag = mcmc_diagnostics(
        _tree(
            rng.normal(size=(CHAINS, DRAWS, 2)), sample_stats=_nutpie_stats(rng), library="nutpie"
        )
    )
    assert diag.sampler == "nutpie"
    text = str(diag)
    assert text.startswith("MCMC diagnostics (nutpie): PASSED")
    markdown = diag.to_markdown()
    assert "| parameter | r_hat | ess_bulk | ess_tail | mcse_mean |" in markdown
    attrs = diag.to_attrs()
    assert all(isinstance(value, str) for value in attrs.values())
    assert attrs["diagnostics_n_divergences"] == "0"
    assert diag.to_frame() is not diag.table


def test_missing_variable_and_group_errors():
    rng = np.random.default_rng(10)
    tree = _tree(rng.normal(size=(CHAINS, DRAWS, 2)))
    with pytest.raises(ValueError, match=r"variables \['alpha'\] are not in the posterior"):
        mcmc_diagnostics(tree, var_names=["alpha"])
    with pytest.raises(ValueError, match="needs a DataTree with a 'posterior' group"):
        mcmc_diagnostics(
            tree["posterior"].to_dataset().pipe(lambda ds: __import__("xarray").DataTree(ds))
        )


def test_table_matches_arviz_stats_summary():
    import arviz_stats as azs

    rng = np.random.default_rng(11)
    beta = np.cumsum(rng.normal(size=(CHAINS, 200, 2)), axis=1) * 0.1 + rng.normal(
        size=(CHAINS, 200, 2)
    )
    tree = _tree(beta)
    table = mcmc_diagnostics(tree).table
    expected = azs.summary(tree, kind="diagnostics", round_to="none")
    for column in ("r_hat", "ess_bulk", "ess_tail", "mcse_mean"):
        np.testing.assert_allclose(
            table[column].to_numpy(), expected.loc[table.index, column].to_numpy(), rtol=1e-10
        )


def test_an_rhat_just_above_the_limit_is_written_with_the_digits_that_show_it():
    """1.0104 beside "> 1.01" reads "1.0104": at three decimals it would read "1.010"."""
    import pandas as pd

    from bayes_cluster.inference.diagnostics import MCMCDiagnostics

    table = pd.DataFrame(
        {"r_hat": [1.0, 1.0104], "ess_bulk": [900.0, 900.0], "ess_tail": [900.0, 900.0]},
        index=["a", "pi[3]"],
    )
    diagnostics = MCMCDiagnostics(False, table, 0, 1000, 4, 0, np.array([]))
    assert diagnostics.compact_problems() == [
        "R-hat > 1.01 for 1 of 2 parameters (worst 1.0104, pi[3])"
    ]

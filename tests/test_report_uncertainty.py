"""Issue 14 (part A): a report honest about every uncertainty.

The hierarchy in the Bayesian logit's summary (rstanarm's ``Sigma[...]`` / ``b[...]``), one
interval level for every method of the comparison, the verdict under each plausible number
of latent classes and averaged over them, and the prior-sensitivity reading.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bayes_cluster.common.dims import GROUP, INTERCEPT
from bayes_cluster.estimators.logistic import BayesianLogit
from bayes_cluster.inference.diagnostics import ConvergenceWarning
from bayes_cluster.surveys.simulate import simulate_tumang

DATA = Path(__file__).resolve().parents[1] / "data" / "tumang_synthetic.csv"
TINY = {"draws": 50, "tune": 50, "chains": 2, "sampler": "pymc"}


@pytest.fixture(scope="module")
def tumang() -> pd.DataFrame:
    frame, _ = simulate_tumang(60, seed=3)
    return frame


@pytest.fixture(scope="module")
def hierarchical(tumang) -> BayesianLogit:
    model = BayesianLogit("export", ["workers", "firm_age"], group="product_line")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(tumang, random_seed=1, **TINY)
    return model


# ---------------------------------------------------------------- hierarchy rows
def test_summary_has_group_sd_and_group_effects(hierarchical, tumang):
    table = hierarchical.summary(hdi_prob=0.9)
    levels = sorted(tumang["product_line"].unique())
    assert len(levels) == 4
    expected = [
        INTERCEPT,
        "workers",
        "firm_age",
        "sigma[product_line]",
        "Sigma[product_line:(Intercept),(Intercept)]",
        *(f"b[(Intercept) product_line:{level}]" for level in levels),
    ]
    assert list(table.index) == expected
    posterior = hierarchical.idata_["posterior"]
    sigma = posterior["sigma_group"].to_numpy().ravel()
    u = posterior["u"]
    assert u.sizes[GROUP] == len(levels)
    assert list(u[GROUP].to_numpy()) == levels
    assert table.loc["sigma[product_line]", "mean"] == pytest.approx(sigma.mean())
    assert table.loc["sigma[product_line]", "sd"] == pytest.approx(sigma.std(ddof=1))
    # rstanarm's Sigma is the variance of the group intercepts
    assert table.loc["Sigma[product_line:(Intercept),(Intercept)]", "mean"] == pytest.approx(
        (sigma**2).mean()
    )
    for level in levels:
        draws = u.sel({GROUP: level}).to_numpy().ravel()
        row = table.loc[f"b[(Intercept) product_line:{level}]"]
        assert row["mean"] == pytest.approx(draws.mean())
        assert row["prob_positive"] == pytest.approx((draws > 0).mean())
        assert row["odds_ratio"] == pytest.approx(np.exp(draws.mean()))
        # a 90% interval holds 90% of the draws (up to one draw)
        inside = ((draws >= row["hdi_lower"]) & (draws <= row["hdi_upper"])).mean()
        assert abs(inside - 0.9) <= 1.5 / draws.size
    assert np.isnan(table.loc["sigma[product_line]", "odds_ratio"])
    assert table[["r_hat", "ess_bulk", "ess_tail"]].notna().all().all()
    # without the hierarchy: the coefficients only; a model without a group has none
    assert list(hierarchical.summary(groups=False).index) == expected[:3]


# ---------------------------------------------------------------- one interval level
@pytest.mark.parametrize("level", [0.95, 0.90])
def test_mle_interval_at_the_configured_level_matches_statsmodels(tumang, level):
    import statsmodels.api as sm

    from bayes_cluster.analyses.compare import comparison_table, from_mle
    from bayes_cluster.estimators.frequentist import mle_logit

    predictors = ["workers", "firm_age", "training"]
    fit = mle_logit(tumang, "export", predictors, level=level)
    table = comparison_table([from_mle(fit.summary, level=level)], alpha=1 - level)
    rows = table.set_index("term")
    exog = sm.add_constant(tumang[predictors].astype(float))
    reference = sm.Logit(tumang["export"].astype(float), exog).fit(disp=0)
    limits = reference.conf_int(alpha=1 - level)
    limits.index = [INTERCEPT, *predictors]
    np.testing.assert_allclose(rows["ci_lower"], limits[0].loc[rows.index], rtol=1e-5)
    np.testing.assert_allclose(rows["ci_upper"], limits[1].loc[rows.index], rtol=1e-5)
    assert set(table["interval"]) == {f"{level:.0%} Wald CI"}
    assert table.attrs["level"] == level
    # the verdict follows p < 1 - level, i.e. the interval at that level excludes 0
    excludes = (rows["ci_lower"] > 0) | (rows["ci_upper"] < 0)
    assert ((rows["conclusion"] == "effect") == excludes).all()


def test_comparison_refuses_intervals_of_different_levels():
    from bayes_cluster.analyses.compare import comparison_table, from_bayes, from_mle

    frequentist = pd.DataFrame(
        {"estimate": [0.5], "std_error": [0.2], "p_value": [0.01]}, index=["x"]
    )
    bayesian = pd.DataFrame(
        {"mean": [0.5], "sd": [0.2], "hdi_lower": [0.1], "hdi_upper": [0.9]}, index=["x"]
    )
    with pytest.raises(ValueError) as caught:
        comparison_table([from_mle(frequentist), from_bayes(bayesian, hdi_prob=0.94)])
    assert str(caught.value) == (
        "intervals of different levels cannot be compared (mle: 95% Wald CI; "
        "bayes: 94% HDI); adapt every method at one level"
    )
    table = comparison_table([from_mle(frequentist), from_bayes(bayesian, hdi_prob=0.95)])
    assert table["interval"].tolist() == ["95% Wald CI", "95% HDI"]
    assert "the 95% highest-density interval" in table.attrs["rules"]


# ---------------------------------------------------------------- uncertainty about K
class _LooStub:
    """Stands in for a fitted model where only its pointwise PSIS-LOO matters."""

    def __init__(self, elpd_i: np.ndarray):
        self.elpd_i = elpd_i

    def loo(self) -> _LooStub:
        return self


def test_stacking_weights_maximise_the_log_score_and_pseudo_bma_follows_elpd():
    from bayes_cluster.analyses.n_classes import loo_weights

    rng = np.random.default_rng(4)
    log_p = np.log(rng.uniform(0.05, 0.95, size=(60, 2)))
    log_p[:20, 0] -= 2.0  # model 1 predicts the first 20 firms badly, model 2 the rest a bit
    log_p[20:, 1] -= 0.3
    models = {2: _LooStub(log_p[:, 0]), 3: _LooStub(log_p[:, 1])}
    weights = loo_weights(models)
    assert list(weights.index) == [2, 3]
    assert weights.sum() == pytest.approx(1.0, abs=1e-12)
    # independent: the stacking objective on a fine grid of w in [0, 1]
    grid = np.linspace(0, 1, 100001)
    score = np.log(np.exp(log_p) @ np.vstack([grid, 1 - grid])).sum(axis=0)
    assert weights[2] == pytest.approx(grid[np.argmax(score)], abs=1e-4)
    assert 0.05 < weights[2] < 0.95  # a real mixture, not a corner
    pseudo = loo_weights(models, method="pseudo-bma")
    elpd = log_p.sum(axis=0)
    assert pseudo[2] == pytest.approx(1 / (1 + np.exp(elpd[1] - elpd[0])), rel=1e-9)
    assert pseudo.sum() == pytest.approx(1.0, abs=1e-12)
    with pytest.raises(ValueError, match="method must be 'stacking' or 'pseudo-bma', got 'x'"):
        loo_weights(models, method="x")


@pytest.fixture(scope="module")
def class_models():
    from bayes_cluster.estimators.latent_class import BayesianLatentClass

    frame, _ = simulate_tumang(n=60, seed=11)
    models = {}
    for k in (1, 2):
        model = BayesianLatentClass(k)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(frame, draws=50, tune=50, chains=2, random_seed=5, sampler="pymc")
        models[k] = model
    return models


def test_averaged_verdict_is_the_weighted_sum_of_the_per_k_verdicts(class_models):
    from bayes_cluster.analyses.n_classes import (
        compare_n_classes,
        loo_weights,
        verdict_over_n_classes,
    )
    from bayes_cluster.surveys.markusen import MARKUSEN_TYPES

    weights = {1: 0.3, 2: 0.7}
    table, sentences = verdict_over_n_classes(class_models, weights)
    assert list(table.index) == ["K=1", "K=2", "averaged"]
    assert table.loc["averaged", "weight"] == pytest.approx(1.0)
    for name in MARKUSEN_TYPES:
        per_k = {k: class_models[k].cluster_verdict().probability(name, 0.5) for k in (1, 2)}
        assert table.loc[f"K={1}", f"p_majority_{name}"] == per_k[1]
        assert table.loc["averaged", f"p_majority_{name}"] == pytest.approx(
            0.3 * per_k[1] + 0.7 * per_k[2]
        )
    assert sentences[-1].startswith("Averaged over K with weights K=1: 0.30, K=2: 0.70: P(")
    # with the LOO comparison: weights from it, plausibility within two SEs of the best
    comparison = compare_n_classes(class_models)
    stacking = loo_weights(class_models)
    table, sentences = verdict_over_n_classes(class_models, stacking, comparison=comparison)
    assert table["weight"].iloc[:-1].sum() == pytest.approx(1.0)
    for label in ("K=1", "K=2"):
        diff, se = comparison.loc[label, ["elpd_diff", "se_diff"]]
        assert table.loc[label, "plausible"] == bool(diff == 0 or -diff <= 2 * se)
    with pytest.raises(ValueError, match=r"the weights must sum to 1, got 0\.9"):
        verdict_over_n_classes(class_models, {1: 0.2, 2: 0.7})


def test_group_shrinkage_raw_shares_and_pooled_draws(hierarchical, tumang):
    table = hierarchical.group_shrinkage(hdi_prob=0.9)
    observed = tumang.groupby("product_line")["export"].agg(["size", "mean"])
    assert list(table.index) == list(observed.index)
    assert table["n_firms"].tolist() == observed["size"].tolist()
    np.testing.assert_allclose(table["observed_share"], observed["mean"])
    assert table.attrs["overall_share"] == pytest.approx(tumang["export"].mean())
    # the pooled share: per draw, the mean fitted probability of the group's firms
    p = hierarchical.fitted_probabilities().reshape(-1, len(tumang))
    members = (tumang["product_line"] == "casting").to_numpy()
    assert table.loc["casting", "pooled_mean"] == pytest.approx(p[:, members].mean())
    assert (table["pooled_hdi_lower"] <= table["pooled_mean"]).all()
    assert (table["pooled_mean"] <= table["pooled_hdi_upper"]).all()
    summary = hierarchical.summary()
    for level in table.index:
        assert table.loc[level, "b_mean"] == pytest.approx(
            summary.loc[f"b[(Intercept) product_line:{level}]", "mean"]
        )


# ---------------------------------------------------------------- prior sensitivity in words
def test_widened_priors_scale_only_the_widths(hierarchical):
    from bayes_cluster.estimators.logistic import widened_priors

    wide = widened_priors(hierarchical, 4.0)
    assert wide == {
        "intercept": {"dist": "Normal", "mu": 0.0, "sigma": 6.0},
        "workers": {"dist": "StudentT", "nu": 7.0, "mu": 0.0, "sigma": 4.0},
        "firm_age": {"dist": "StudentT", "nu": 7.0, "mu": 0.0, "sigma": 4.0},
        "group_sd": {"dist": "HalfNormal", "sigma": 1.0},
    }
    refit = BayesianLogit("export", ["workers", "firm_age"], group="product_line", priors=wide)
    assert refit.resolved_priors()["slopes"]["workers"]["sigma"] == 4.0


def _coefficients(means, lowers, uppers):
    return pd.DataFrame(
        {"mean": means, "sd": [0.5, 0.1, 0.2], "hdi_lower": lowers, "hdi_upper": uppers},
        index=pd.Index([INTERCEPT, "workers", "promotion"], name="term"),
    )


def test_prior_sensitivity_reading_names_flags_and_changed_conclusions():
    from bayes_cluster.estimators.logistic import prior_sensitivity_reading

    sensitivity = pd.DataFrame(
        {
            "prior": [0.01, 0.20, 0.08],
            "likelihood": [0.09, 0.12, 0.02],
            "diagnosis": [
                "\u2713",
                "potential prior-data conflict",
                "potential strong prior / weak likelihood",
            ],
        },
        index=["alpha", "beta[workers]", "beta[promotion]"],
    )
    default = _coefficients([-1.0, 0.15, 0.3], [-2.0, 0.02, -0.05], [0.0, 0.28, 0.65])
    wide = _coefficients([-1.1, 0.25, 0.45], [-2.1, 0.05, 0.1], [0.1, 0.45, 0.9])
    table, sentences = prior_sensitivity_reading(sensitivity, default, wide, factor=4)
    assert table.loc["workers", "shift_in_sd"] == pytest.approx(1.0)
    assert table.loc["promotion", "shift_in_sd"] == pytest.approx(0.75)
    assert table["conclusion_default"].tolist() == ["no clear effect", "effect", "no clear effect"]
    assert table["conclusion_wide"].tolist() == ["no clear effect", "effect", "effect"]
    assert sentences[0].startswith(
        "The power-scaling check flags 2 of 3 coefficients (workers, promotion)"
    )
    assert sentences[1].startswith("Prior-data conflict (workers): both the prior")
    assert sentences[2].startswith("Weak likelihood (promotion): the prior moves")
    assert sentences[3] == (
        "Under priors 4 times wider, the largest change of a posterior mean is +1.00 "
        "posterior SDs (workers)."
    )
    assert sentences[4].startswith("The conclusion changes under the wider prior for promotion")


# ---------------------------------------------------------------- the report
# What a whole run writes is checked on runs the suite already makes (a run here would be a
# second quick Tumang run, on another pytest-xdist worker): tests/test_run.py's
# test_report_states_every_uncertainty reads the session's quick Tumang run, and
# tests/test_run_specs.py's test_run_comparison_is_at_the_configured_level a logit-only run
# at comparison_level 0.9.
ROOT = DATA.parents[1]


def test_spec_comparison_level_default_and_bounds():
    from bayes_cluster.run.spec import SpecError, parse_spec

    raw = {
        "data": {"path": str(DATA)},
        "logistic": {"outcome": "export", "predictors": ["workers", "promotion"]},
    }
    spec = parse_spec(raw, path=ROOT / "models" / "level.toml")
    assert spec.report.comparison_level == 0.95
    path = ROOT / "models" / "level.toml"
    spec = parse_spec({**raw, "report": {"comparison_level": 0.9}}, path=path)
    assert spec.report.comparison_level == 0.9
    with pytest.raises(SpecError) as caught:
        parse_spec({**raw, "report": {"comparison_level": 1}}, path=path)
    assert "[report].comparison_level: must be in [0.5, 1), got 1.0" in str(caught.value)

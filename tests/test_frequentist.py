"""Frequentist baselines pinned to Stata, R (brglm2, logistf) and hand arithmetic."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from numpy.testing import assert_allclose
from statsmodels.datasets import spector

import bayes_cluster
from bayes_cluster.estimators.frequentist import (
    classification_table,
    detect_separation,
    firth_logit,
    hosmer_lemeshow,
    mle_logit,
)
from bayes_cluster.surveys.design_matrix import design_matrix

SEX2_PREDICTORS = ["age", "oc", "vic", "vicl", "vis", "dia"]
SEX2_TERMS = ["Intercept", *SEX2_PREDICTORS]
SPECTOR_PREDICTORS = ["GPA", "TUCE", "PSI"]


@pytest.fixture(scope="module")
def spector_data() -> pd.DataFrame:
    return spector.load_pandas().data


@pytest.fixture(scope="module")
def sex2(reference_dir) -> pd.DataFrame:
    return pd.read_csv(reference_dir / "sex2.csv")


@pytest.fixture(scope="module")
def sex2_firth(sex2):
    return firth_logit(sex2, "case", SEX2_PREDICTORS)


# ----------------------------------------------------------------------------- Spector
def test_spector_mle_matches_stata(spector_data):
    # Stata 11 `logit grade gpa tuce psi`, as kept in statsmodels' test results
    # (shared/reference/README.md)
    result = mle_logit(spector_data, "GRADE", SPECTOR_PREDICTORS)
    summary = result.summary
    assert list(summary.index) == ["Intercept", *SPECTOR_PREDICTORS]
    assert_allclose(
        summary["estimate"],
        [-13.0213483201, 2.82611297201, 0.0951576702557, 2.37868772835],
        rtol=1e-6,
    )
    assert_allclose(
        summary["std_error"],
        [4.93132462871, 1.26294114526, 0.141554207662, 1.06456430165],
        rtol=1e-6,
    )
    # Stata stops at its own convergence criterion: its log-likelihood differs from the
    # maximum in the 8th digit (statsmodels, iterated to 1e-14, agrees with us to 1e-12)
    stats_ = result.fit_statistics
    assert stats_["log_likelihood"] == pytest.approx(-12.8896334653335, rel=1e-6)
    assert stats_["null_log_likelihood"] == pytest.approx(-20.5917296966173, rel=1e-12)
    assert stats_["lr_chi2"] == pytest.approx(15.4041924625676, rel=1e-6)
    assert stats_["lr_df"] == 3
    assert stats_["mcfadden_r2"] == pytest.approx(0.374038332124624, rel=1e-6)
    assert stats_["minus_2_log_likelihood"] == pytest.approx(2 * 12.8896334653335, rel=1e-6)
    exact = sm.Logit(spector_data["GRADE"], sm.add_constant(spector_data[SPECTOR_PREDICTORS]))
    exact = exact.fit(disp=0, method="newton", tol=1e-14, maxiter=100)
    assert stats_["log_likelihood"] == pytest.approx(exact.llf, rel=1e-12)
    # Stata's classification at 0.5: rows observed 0/1, columns predicted 0/1
    table = result.classification_table
    assert table.loc[["0", "1"], ["predicted 0", "predicted 1"]].to_numpy().tolist() == [
        [18, 3],
        [3, 8],
    ]
    assert table.loc["0", "percentage_correct"] == pytest.approx(100 * 18 / 21)
    assert table.loc["Overall Percentage", "percentage_correct"] == pytest.approx(100 * 26 / 32)
    assert result.separation.kind == "none"
    assert (summary["separation"] == "finite").all()
    assert result.warnings == []


def test_spector_mle_wald_and_odds_ratio_columns(spector_data):
    summary = mle_logit(spector_data, "GRADE", SPECTOR_PREDICTORS).summary
    row = summary.loc["GPA"]
    assert row["wald"] == pytest.approx((row["estimate"] / row["std_error"]) ** 2)
    assert row["df"] == 1
    # Sig. of Wald chi2(1) equals the two-sided normal p-value Stata prints (P>|z| 0.025)
    assert row["p_value"] == pytest.approx(0.0252, abs=5e-5)
    assert row["odds_ratio"] == pytest.approx(math.exp(row["estimate"]))
    z = 1.959963984540054
    assert row["or_ci_lower"] == pytest.approx(math.exp(row["estimate"] - z * row["std_error"]))
    assert row["or_ci_upper"] == pytest.approx(math.exp(row["estimate"] + z * row["std_error"]))


def test_spector_firth_matches_brglm2(spector_data):
    # R brglm2 0.9 `glm(..., method = "brglmFit", type = "AS_mean")` (shared/reference/
    # README.md), reproduced by tests/r/brglm2_firth.R (output beside it)
    result = firth_logit(spector_data, "GRADE", SPECTOR_PREDICTORS, ci="wald")
    assert_allclose(
        result.summary["estimate"],
        [-10.433270676, 2.284464715, 0.070567825, 2.006681801],
        rtol=1e-6,
    )
    assert_allclose(
        result.summary["std_error"], [4.15900105, 1.12356486, 0.13062789, 0.95342286], rtol=1e-5
    )
    assert result.converged


# ----------------------------------------------------------------------------- sex2
def test_sex2_firth_matches_logistf(sex2_firth):
    # logistf defaults (shared/reference/README.md; logistf and firthlogist test files)
    summary = sex2_firth.summary
    assert list(summary.index) == SEX2_TERMS
    assert_allclose(
        summary["estimate"],
        [0.12025405, -1.10598131, -0.06881673, 2.26887464, -2.11140817, -0.78831694, 3.09601166],
        rtol=1e-6,
    )
    lower = [-0.8185591, -1.9737884, -0.9414363, 1.2730216, -3.2608611, -1.6080879, 0.7745682]
    upper = [1.07315122, -0.30742514, 0.78920202, 3.43543273, -1.11773495, 0.01518468, 8.03029352]
    assert_allclose(summary["ci_lower"], lower, rtol=1e-4)
    assert_allclose(summary["ci_upper"], upper, rtol=1e-4)
    assert (summary["method"] == "profile").all()
    assert sex2_firth.penalized_log_likelihood == pytest.approx(-132.5394, abs=1e-4)


def test_sex2_firth_standard_errors_match_brglm2(sex2_firth):
    # R brglm2 0.9 (Debian r-cran-brglm2), type = "AS_mean", epsilon = 1e-12, run by us
    # (tests/r/brglm2_firth.R, output beside it):
    # the inverse Fisher information at the penalised estimate
    assert_allclose(
        sex2_firth.summary["std_error"],
        [
            0.4855415059,
            0.4236601287,
            0.4437934459,
            0.5484159590,
            0.5430823549,
            0.4173675658,
            1.6750084136,
        ],
        rtol=1e-6,
    )


def test_sex2_penalized_lr_tests_match_logistf(sex2_firth):
    # `summary(logistf(case ~ age + oc + vic + vicl + vis + dia, data = sex2))`, as printed
    # in the pkgdown page of biostatUtil's logistfPrint (TalhoukLab/biostatUtil,
    # reference/logistfPrint.md): Chisq and p per term, and
    # "Likelihood ratio test=49.09064 on 6 df, p=7.15089e-09" (shared/reference/README.md
    # since 2026-11-30; firthlogist's README values, age 0.00611139, ..., come from
    # unconverged restricted fits).
    summary = sex2_firth.summary
    chi2 = [0.06286298, 7.50773092, 0.02467044, 22.93139022, 19.10407252, 3.69740975, 7.89693139]
    p_value = [
        8.020268e-01,
        6.143472e-03,
        8.751911e-01,
        1.678877e-06,
        1.237805e-05,
        5.449701e-02,
        4.951873e-03,
    ]
    assert_allclose(summary["chi2"], chi2, rtol=1e-4)
    assert_allclose(summary["p_value"], p_value, rtol=1e-4)
    stats_ = sex2_firth.fit_statistics
    assert stats_["lr_chi2"] == pytest.approx(49.09064, rel=1e-6)
    assert stats_["lr_df"] == 6
    assert stats_["lr_p_value"] == pytest.approx(7.15089e-09, rel=1e-5)
    assert sex2_firth.null_penalized_log_likelihood == pytest.approx(
        -132.5394 - 49.09064 / 2, abs=1e-4
    )


def test_sex2_firth_90_percent_profile_intervals_match_logistf(sex2):
    # same logistf printout (alpha = 0.1): lower 0.9 / upper 0.9
    result = firth_logit(sex2, "case", SEX2_PREDICTORS, level=0.9)
    lower = [-0.6673577, -1.8277045, -0.7986318, 1.4248338, -3.0613215, -1.4743338, 1.0835108]
    upper = [0.9177303, -0.4328451, 0.6507581, 3.2325326, -1.2704704, -0.1137542, 6.8752016]
    assert_allclose(result.summary["ci_lower"], lower, rtol=1e-5)
    assert_allclose(result.summary["ci_upper"], upper, rtol=1e-5)


def test_profile_limits_are_where_the_penalized_profile_drops_by_the_chi2_quantile(
    sex2, sex2_firth
):
    # independent check of the Venzon-Moolgavkar solution: refit with dia fixed at its
    # upper limit by brute force (statsmodels-free scipy optimisation of the penalty)
    from scipy.optimize import minimize
    from scipy.special import expit

    X = np.column_stack([np.ones(len(sex2)), sex2[SEX2_PREDICTORS].to_numpy(float)])
    y = sex2["case"].to_numpy(float)

    def penalized(beta):
        eta = X @ beta
        prob = expit(eta)
        fisher = (X * (prob * (1 - prob))[:, None]).T @ X
        return np.sum(y * eta - np.logaddexp(0, eta)) + 0.5 * np.linalg.slogdet(fisher)[1]

    upper = sex2_firth.summary.loc["dia", "ci_upper"]
    start = sex2_firth.params_.to_numpy()[:-1]
    best = minimize(lambda b: -penalized(np.r_[b, upper]), start, method="BFGS", tol=1e-10)
    drop = 2 * (sex2_firth.penalized_log_likelihood + best.fun)
    assert drop == pytest.approx(3.841458820694124, abs=1e-4)


def test_a_fit_on_a_flat_penalised_likelihood_stops_early_with_the_same_limits(monkeypatch):
    """A restricted fit whose objective stopped rising stops (unconverged), limits unchanged.

    On a simulated n = 30 survey (the small-sample study's seed 1, replicate 1) the profile
    limits' bracketing walks far out, where fitted probabilities saturate: a restricted fit
    there reaches its maximum but its score stays above the tolerance, and used to run all
    200 iterations (30 step-halvings each). Stopped after ``STALL_ITERATIONS`` iterations
    without a rise, every estimate and limit is the same to 1e-10.
    """
    from bayes_cluster.estimators import firth
    from bayes_cluster.studies.study import (
        OUTCOME,
        ReplicateTask,
        parse_study_spec,
        simulate_replicate,
    )

    spec = parse_study_spec({"study": {"sizes": [30], "replicates": 2, "seed": 1}})
    frame = simulate_replicate(spec, ReplicateTask("truth", 30, 1))
    predictors = list(spec.predictors)
    iterations: list[int] = []
    fit_batch = firth.fit_batch

    def counted(*args, **kwargs):
        fit = fit_batch(*args, **kwargs)
        iterations.append(fit.iterations)
        return fit

    monkeypatch.setattr(firth, "fit_batch", counted)
    monkeypatch.setattr(firth, "STALL_ITERATIONS", 10**9)  # the rule off: the old fits
    without = firth_logit(frame, OUTCOME, predictors).summary
    assert max(iterations) == 200
    iterations.clear()
    monkeypatch.setattr(firth, "STALL_ITERATIONS", 5)
    with_rule = firth_logit(frame, OUTCOME, predictors).summary
    assert max(iterations) < 100
    columns = ["estimate", "std_error", "ci_lower", "ci_upper", "p_value"]
    assert_allclose(with_rule[columns], without[columns], rtol=1e-10, atol=1e-10)


def test_sex2_dia_is_flagged_infinite_and_mle_report_says_so(sex2):
    separation = detect_separation(sex2, "case", SEX2_PREDICTORS)
    assert separation.kind == "quasi-complete"
    assert separation.mle.to_dict() == {
        "Intercept": "finite",
        "age": "finite",
        "oc": "finite",
        "vic": "finite",
        "vicl": "finite",
        "vis": "finite",
        "dia": "+inf",
    }
    # all 7 women with dia = 1 are cases: exactly they are perfectly predicted
    assert sorted(separation.separated_observations) == sorted(sex2.index[sex2["dia"] == 1])

    result = mle_logit(sex2, "case", SEX2_PREDICTORS)
    row = result.summary.loc["dia"]
    assert row["separation"] == "+inf"
    assert row["estimate"] == np.inf
    assert np.isnan(row["std_error"]) and np.isnan(row["p_value"])
    assert len(result.warnings) == 1
    assert "quasi-complete separation" in result.warnings[0]
    assert "dia (+inf)" in result.warnings[0]
    assert "dia" in result.to_markdown() and "+inf" in result.to_markdown()
    # no silently huge numbers: every finite estimate and standard error is moderate
    finite = result.summary.drop(index="dia")
    assert (finite["estimate"].abs() < 10).all() and (finite["std_error"] < 10).all()


def test_sex2_mle_finite_terms_are_the_limit_fit(sex2):
    # the limit of the likelihood-maximising sequence: the 7 perfectly predicted rows
    # contribute log(1) = 0, so the other terms are the statsmodels fit without them
    # (Stata's "dia != 0 predicts success perfectly; 7 obs not used")
    reduced = sex2[sex2["dia"] == 0]
    reference = sm.Logit(reduced["case"], sm.add_constant(reduced[SEX2_PREDICTORS[:-1]])).fit(
        disp=0, method="newton", tol=1e-12
    )
    result = mle_logit(sex2, "case", SEX2_PREDICTORS)
    finite = result.summary.drop(index="dia")
    assert_allclose(finite["estimate"], reference.params.to_numpy(), rtol=1e-7)
    assert_allclose(finite["std_error"], reference.bse.to_numpy(), rtol=1e-6)
    assert result.fit_statistics["log_likelihood"] == pytest.approx(reference.llf, rel=1e-10)
    probabilities = result.predict_proba(sex2)
    assert (probabilities[sex2["dia"] == 1] == 1.0).all()
    assert_allclose(probabilities, result.fitted_probabilities_)


# ----------------------------------------------------------------------------- separation
def test_complete_separation_is_reported_not_fitted():
    frame = pd.DataFrame({"y": [0, 0, 0, 1, 1, 1], "x": [1.0, 2.0, 2.5, 3.0, 4.0, 5.0]})
    separation = detect_separation(frame, "y", ["x"])
    assert separation.kind == "complete"
    assert separation.mle.to_dict() == {"Intercept": "-inf", "x": "+inf"}
    assert len(separation.separated_observations) == 6

    result = mle_logit(frame, "y", ["x"])
    assert result.summary["estimate"].tolist() == [-np.inf, np.inf]
    assert result.summary["std_error"].isna().all()
    assert "complete separation" in result.warnings[0]
    assert result.fit_statistics["log_likelihood"] == 0.0
    new = pd.DataFrame({"x": [0.0, 10.0]})
    assert result.predict_proba(new).tolist() == [0.0, 1.0]
    # Firth stays finite under complete separation
    firth = firth_logit(frame, "y", ["x"])
    assert np.isfinite(firth.summary[["estimate", "ci_lower", "ci_upper"]].to_numpy()).all()


def test_near_separation_is_warned_about():
    # y = 0 at x = 1e-6 and y = 1 at x = 0: the data overlap by a hair, so the MLE is
    # finite (slope ~ ln(1/1e-6) = 14, SE ~ 1400) but most fitted risks are 0 or 1
    frame = pd.DataFrame(
        {"x": [-5, -4, -3, -1, 1e-6, 0, 1, 3, 4, 5.0], "y": [0, 0, 0, 0, 0, 1, 1, 1, 1, 1]}
    )
    result = mle_logit(frame, "y", ["x"])
    assert result.separation.kind == "none"
    assert result.converged
    assert 10 < result.summary.loc["x", "estimate"] < 20
    assert result.summary.loc["x", "std_error"] > 100
    assert result.warnings == [
        "near separation: 8 observation(s) have fitted probabilities within 1e-06 of 0 or 1 "
        "although the estimates are finite; estimates and standard errors are unstable "
        "(consider firth_logit)"
    ]


def test_overlapping_data_are_not_separated():
    frame = pd.DataFrame({"y": [0, 1, 0, 1, 1, 0], "x": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]})
    separation = detect_separation(frame, "y", ["x"])
    assert separation.kind == "none"
    assert not separation.separated
    assert separation.infinite_terms == []


def test_separation_by_a_categorical_level():
    # level "c" of g only occurs with y = 0: g[c] -> -inf, quasi-complete
    frame = pd.DataFrame(
        {"y": [0, 1, 0, 1, 0, 1, 0, 0], "g": ["a", "a", "b", "b", "a", "b", "c", "c"]}
    )
    separation = detect_separation(frame, "y", ["g"])
    assert separation.kind == "quasi-complete"
    assert separation.mle.to_dict() == {"Intercept": "finite", "g[b]": "finite", "g[c]": "-inf"}
    result = mle_logit(frame, "y", ["g"])
    assert result.summary.loc["g[c]", "odds_ratio"] == 0.0
    # the finite terms: a 2 x 2 table of levels a/b without the c rows, in closed form
    assert result.summary.loc["Intercept", "estimate"] == pytest.approx(math.log(1 / 2))
    assert result.summary.loc["g[b]", "estimate"] == pytest.approx(math.log(2) - math.log(1 / 2))


# ----------------------------------------------------------------------------- hand arithmetic
def test_fit_statistics_by_hand_on_a_two_by_two_table():
    # x = 0: 10 firms, 3 exporters; x = 1: 10 firms, 7 exporters. The MLE reproduces the
    # cell proportions, so everything is arithmetic:
    #   ll  = 2 * (3 ln 0.3 + 7 ln 0.7)               = -12.217286...
    #   ll0 = 20 ln 0.5                               = -13.862944...
    #   Cox & Snell = 1 - exp(2 (ll0 - ll) / 20)      = 1 - exp(-0.1645658) = 0.151738...
    #   max         = 1 - exp(2 ll0 / 20) = 1 - 0.25  = 0.75
    #   Nagelkerke  = 0.151738 / 0.75                 = 0.202317...
    #   McFadden    = 1 - ll / ll0                    = 0.118709...
    #   B(x) = ln(7/3) - ln(3/7) = 2 ln(7/3); SE = sqrt(1/2.1 + 1/2.1) (2.1 = 10 * 0.3 * 0.7)
    frame = pd.DataFrame({"x": [0] * 10 + [1] * 10, "y": [1] * 3 + [0] * 7 + [1] * 7 + [0] * 3})
    result = mle_logit(frame, "y", ["x"])
    ll = 2 * (3 * math.log(0.3) + 7 * math.log(0.7))
    ll0 = 20 * math.log(0.5)
    cox_snell = 1 - math.exp(2 * (ll0 - ll) / 20)
    stats_ = result.fit_statistics
    assert stats_["log_likelihood"] == pytest.approx(ll, rel=1e-12)
    assert stats_["null_log_likelihood"] == pytest.approx(ll0, rel=1e-12)
    assert stats_["cox_snell_r2"] == pytest.approx(cox_snell, rel=1e-10)
    assert stats_["cox_snell_r2"] == pytest.approx(0.151738, abs=1e-6)
    assert stats_["nagelkerke_r2"] == pytest.approx(cox_snell / 0.75, rel=1e-10)
    assert stats_["nagelkerke_r2"] == pytest.approx(0.202317, abs=1e-6)
    assert stats_["mcfadden_r2"] == pytest.approx(1 - ll / ll0, rel=1e-10)
    assert stats_["lr_chi2"] == pytest.approx(2 * (ll - ll0), rel=1e-10)
    assert result.summary.loc["x", "estimate"] == pytest.approx(2 * math.log(7 / 3), rel=1e-10)
    assert result.summary.loc["x", "std_error"] == pytest.approx(math.sqrt(2 / 2.1), rel=1e-10)
    assert result.summary.loc["Intercept", "estimate"] == pytest.approx(math.log(3 / 7))
    # two distinct fitted risks: no Hosmer-Lemeshow test (needs >= 3 groups)
    assert math.isnan(stats_["hosmer_lemeshow_chi2"])
    assert any("Hosmer-Lemeshow" in message for message in result.warnings)


def test_hosmer_lemeshow_by_hand():
    # Rule: cut points at the type-7 quantiles of the fitted risks (0, 0.2, ..., 1 for
    # 5 groups), interval (c_{k-1}, c_k], ties in one group (R ResourceSelection).
    # p sorted: .1 .1 .2 .3 .4 .5 .6 .7 .8 .9; quantiles: .1, .18, .36, .54, .72, .9
    # groups {.1,.1} {.2,.3} {.4,.5} {.6,.7} {.8,.9}; y = 0 0 | 0 1 | 0 1 | 0 1 | 1 1
    #   group  O1  E1    n*pbar*(1-pbar)    (O1-E1)^2 / (n pbar (1-pbar))
    #   1      0   0.2   2*.10*.90 = .180   .04/.180 = 0.222222
    #   2      1   0.5   2*.25*.75 = .375   .25/.375 = 0.666667
    #   3      1   0.9   2*.45*.55 = .495   .01/.495 = 0.020202
    #   4      1   1.3   2*.65*.35 = .455   .09/.455 = 0.197802
    #   5      2   1.7   2*.85*.15 = .255   .09/.255 = 0.352941
    #   C = 1.459834, df = 5 - 2 = 3
    p = np.array([0.1, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9])
    y = np.array([0, 0, 0, 1, 0, 1, 0, 1, 1, 1])
    chi2, df, p_value, table = hosmer_lemeshow(y, p, groups=5)
    expected = 0.04 / 0.18 + 0.25 / 0.375 + 0.01 / 0.495 + 0.09 / 0.455 + 0.09 / 0.255
    assert chi2 == pytest.approx(expected, rel=1e-12)
    assert chi2 == pytest.approx(1.459834, abs=1e-6)
    assert df == 3
    assert p_value == pytest.approx(0.691571, abs=1e-6)  # chi2(3) upper tail
    assert table["n"].tolist() == [2, 2, 2, 2, 2]
    assert table["observed_1"].tolist() == [0, 1, 1, 1, 2]
    assert_allclose(table["expected_1"], [0.2, 0.5, 0.9, 1.3, 1.7])
    assert_allclose(table["expected_0"], [1.8, 1.5, 1.1, 0.7, 0.3])


def test_hosmer_lemeshow_keeps_ties_in_one_group():
    # six tied risks straddle two quantile cut points: they all land in one group
    p = np.array([0.1, 0.2, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.8, 0.9])
    y = np.array([0, 0, 1, 0, 1, 0, 1, 1, 1, 1])
    _, _, _, table = hosmer_lemeshow(y, p, groups=5)
    assert 6 in table["n"].tolist()
    assert table["n"].sum() == 10


def test_classification_table_uses_strictly_greater_than_the_cut():
    table = classification_table(np.array([0, 1, 1]), np.array([0.5, 0.5, 0.9]))
    assert table.loc["1", "predicted 0"] == 1  # 0.5 is not above the cut
    assert table.loc["0", "predicted 0"] == 1


# ----------------------------------------------------------------------------- categorical
@pytest.fixture(scope="module")
def categorical_frame() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    n = 120
    line = rng.choice(["casting", "lamps", "utensils"], size=n)
    x = rng.normal(size=n)
    eta = -0.3 + 0.8 * x + np.where(line == "lamps", 0.9, 0) - np.where(line == "utensils", 0.7, 0)
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(-eta))).astype(int)
    return pd.DataFrame({"y": y, "x": x, "line": line})


def test_categorical_dummies_named_with_reference_level(categorical_frame):
    result = mle_logit(categorical_frame, "y", ["x", "line"])
    assert list(result.summary.index) == ["Intercept", "x", "line[lamps]", "line[utensils]"]
    assert result.design.reference_levels == {"line": "casting"}
    reference = sm.formula.logit("y ~ x + C(line)", data=categorical_frame).fit(disp=0)
    names = {
        "Intercept": "Intercept",
        "x": "x",
        "line[lamps]": "C(line)[T.lamps]",
        "line[utensils]": "C(line)[T.utensils]",
    }
    ours = result.summary.rename(index=names)
    assert_allclose(ours["estimate"], reference.params[ours.index], rtol=1e-7)
    assert_allclose(ours["std_error"], reference.bse[ours.index], rtol=1e-6)
    # SPSS's row for the variable itself: joint Wald test of its two dummies
    wald = reference.wald_test("C(line)[T.lamps] = C(line)[T.utensils] = 0", scalar=True)
    assert result.joint_wald.loc["line", "wald"] == pytest.approx(wald.statistic, rel=1e-6)
    assert result.joint_wald.loc["line", "df"] == 2


def test_reference_level_can_be_chosen(categorical_frame):
    result = firth_logit(
        categorical_frame, "y", ["x", "line"], reference_levels={"line": "lamps"}, ci="wald"
    )
    assert list(result.summary.index) == ["Intercept", "x", "line[casting]", "line[utensils]"]
    default = firth_logit(categorical_frame, "y", ["x", "line"], ci="wald")
    # reparametrisation: the same fitted model, so the same predictions
    assert_allclose(
        result.predict_proba(categorical_frame), default.predict_proba(categorical_frame)
    )


def test_design_matrix_reuses_levels_on_new_data(categorical_frame):
    X, info = design_matrix(categorical_frame, ["x", "line"])
    assert list(X.columns) == ["x", "line[lamps]", "line[utensils]"]
    new = pd.DataFrame({"x": [0.0], "line": ["utensils"]})
    assert info.transform(new).iloc[0].tolist() == [0.0, 0.0, 1.0]
    with pytest.raises(ValueError, match=r"column 'line' has level\(s\) \['domes'\] not seen"):
        info.transform(pd.DataFrame({"x": [0.0], "line": ["domes"]}))


# ----------------------------------------------------------------------------- bad input
def test_missing_column_is_named(spector_data):
    with pytest.raises(ValueError, match=r"column\(s\) \['GPAX'\] not found in the data"):
        mle_logit(spector_data, "GRADE", ["GPAX", "PSI"])
    with pytest.raises(ValueError, match="outcome column 'grade' not found in the data"):
        firth_logit(spector_data, "grade", ["GPA"])


def test_missing_values_and_bad_outcomes_are_named(spector_data):
    holes = spector_data.assign(TUCE=spector_data["TUCE"].where(spector_data.index != 3))
    with pytest.raises(ValueError, match=r"column 'TUCE' has 1 missing value\(s\) \(rows \[3\]\)"):
        mle_logit(holes, "GRADE", ["GPA", "TUCE"])
    with pytest.raises(ValueError, match=r"outcome column 'TUCE' must be 0/1; found value\(s\)"):
        detect_separation(spector_data, "TUCE", ["GPA"])


def test_collinear_terms_are_named(spector_data):
    frame = spector_data.assign(GPA2=2 * spector_data["GPA"])
    with pytest.raises(ValueError, match=r"rank-deficient: term\(s\) \['(GPA|GPA2)'\]"):
        firth_logit(frame, "GRADE", ["GPA", "GPA2"])


# ----------------------------------------------------------------------------- Firth extras
def test_flic_makes_predictions_average_to_the_event_rate(sex2, sex2_firth):
    flic = firth_logit(sex2, "case", SEX2_PREDICTORS, flic=True)
    assert flic.flic
    probabilities = flic.predict_proba(sex2)
    assert probabilities.mean() == pytest.approx(sex2["case"].mean(), abs=1e-10)
    # plain Firth predictions are shrunk toward 0.5 and do not average to the rate
    assert abs(sex2_firth.predict_proba(sex2).mean() - sex2["case"].mean()) > 1e-3
    # slopes and their intervals are untouched; only the intercept row changes
    pd.testing.assert_frame_equal(flic.summary.iloc[1:], sex2_firth.summary.iloc[1:])
    assert flic.summary.loc["Intercept", "method"] == "flic (wald)"


def test_wald_option_gives_wald_intervals(spector_data):
    result = firth_logit(spector_data, "GRADE", SPECTOR_PREDICTORS, ci="wald")
    summary = result.summary
    # independent of our estimate and SE: brglm2's (AS_mean) estimates and SEs, and
    # R's confint.default(), which prints estimate -/+ qnorm(0.975) * SE (tests/r/brglm2_firth.R)
    estimate = np.array([-10.433270676, 2.284464715, 0.070567825, 2.006681801])
    std_error = np.array([4.15900105, 1.12356486, 0.13062789, 0.95342286])
    z = 1.959963984540054  # qnorm(0.975)
    assert_allclose(summary["ci_lower"], estimate - z * std_error, rtol=1e-5)
    assert_allclose(summary["ci_upper"], estimate + z * std_error, rtol=1e-5)
    assert (summary["method"] == "wald").all()
    with pytest.raises(ValueError, match="ci must be 'profile' or 'wald', not 'bootstrap'"):
        firth_logit(spector_data, "GRADE", SPECTOR_PREDICTORS, ci="bootstrap")


def test_reports_render(spector_data, sex2_firth):
    text = str(mle_logit(spector_data, "GRADE", SPECTOR_PREDICTORS))
    assert "Variables in the equation" in text and "Hosmer and Lemeshow" in text
    assert "| GPA | 2.826 |" in text
    assert "| dia | 3.0960 |" in str(sex2_firth)


def test_public_api_is_importable_from_the_package():
    assert bayes_cluster.mle_logit is mle_logit
    assert bayes_cluster.firth_logit is firth_logit
    assert bayes_cluster.detect_separation is detect_separation


def test_penalized_curvature_equals_the_direct_n_by_n_formula_and_the_score_jacobian():
    # independent check of firth._penalized_curvature (built without any n x n matrix):
    # the same Hessian from the explicit n x n matrix Q = X I^{-1} X^T, and minus the
    # Jacobian of the modified score U*(beta) = X^T {y - pi + h (1/2 - pi)} by central
    # differences
    from bayes_cluster.estimators.firth import penalized_state

    rng = np.random.default_rng(20261127)
    n, p = 37, 5
    X = np.column_stack([np.ones(n), rng.normal(size=(n, p - 1))])
    y = (rng.random(n) < 0.4).astype(float)
    betas = rng.normal(scale=0.7, size=(3, p))
    curvature = penalized_state(X, y, betas).curvature
    for beta, ours in zip(betas, curvature, strict=True):
        pi = 1.0 / (1.0 + np.exp(-X @ beta))
        w = pi * (1.0 - pi)
        info = X.T @ (w[:, None] * X)
        q_matrix = X @ np.linalg.inv(info) @ X.T  # n x n on purpose
        w1 = w * (1.0 - 2.0 * pi)
        w2 = w * (1.0 - 6.0 * pi + 6.0 * pi**2)
        direct = (
            info
            - 0.5 * X.T @ np.diag(w2 * np.diag(q_matrix)) @ X
            + 0.5 * X.T @ np.diag(w1) @ (q_matrix**2) @ np.diag(w1) @ X
        )
        assert_allclose(ours, direct, rtol=0, atol=1e-10 * np.abs(direct).max())

        def score(b):
            prob = 1.0 / (1.0 + np.exp(-X @ b))
            weight = prob * (1.0 - prob)
            fisher = X.T @ (weight[:, None] * X)
            hat = weight * np.einsum("ij,jk,ik->i", X, np.linalg.inv(fisher), X)
            return X.T @ (y - prob + hat * (0.5 - prob))

        step = 1e-6
        jacobian = np.column_stack(
            [(score(beta + step * e) - score(beta - step * e)) / (2 * step) for e in np.eye(p)]
        )
        assert_allclose(ours, -jacobian, rtol=0, atol=1e-6 * np.abs(direct).max())


# ----------------------------------------------------------------------------- issue 12
def test_flic_intercept_standard_error_is_from_the_full_information_at_the_flic_fit(sex2):
    # Puhr et al. (2017), logistf's flic(): the intercept's SE is sqrt([(X'WX)^-1]_11) with
    # W at the FLIC fit, so the uncertainty of the slopes counts (shared/reference/README.md:
    # intercept 0.1315391, SE 0.4856727); an intercept-only refit's 1/sqrt(sum w) is 0.143
    flic = firth_logit(sex2, "case", SEX2_PREDICTORS, flic=True)
    row = flic.summary.loc["Intercept"]
    assert row["estimate"] == pytest.approx(0.1315391, abs=1e-7)
    assert row["std_error"] == pytest.approx(0.4856727, rel=1e-6)
    z = 1.959963984540054
    assert row["ci_lower"] == pytest.approx(0.1315391 - z * 0.4856727, abs=1e-6)
    assert row["ci_upper"] == pytest.approx(0.1315391 + z * 0.4856727, abs=1e-6)
    assert row["chi2"] == pytest.approx((0.1315391 / 0.4856727) ** 2, rel=1e-5)
    assert row["p_value"] == pytest.approx(0.78652, abs=1e-5)  # 2 * (1 - Phi(0.270839))
    assert flic.bse_["Intercept"] == pytest.approx(0.4856727, rel=1e-6)


def test_firth_standard_errors_offer_both_conventions_and_say_which(sex2, sex2_firth):
    # shared/reference/README.md: logistf >= 1.24 prints SEs from the augmented information
    # [X' diag(w(1+h)) X]^-1; brglm2 the inverse Fisher information (the default here)
    augmented = firth_logit(sex2, "case", SEX2_PREDICTORS, se="augmented")
    assert_allclose(
        augmented.summary["std_error"],
        [0.4763429, 0.4149021, 0.4344026, 0.5384872, 0.5320395, 0.408962, 1.5052197],
        rtol=2e-6,
    )
    assert_allclose(
        sex2_firth.summary["std_error"],
        [0.4855415, 0.4236601, 0.4437934, 0.548416, 0.5430824, 0.4173676, 1.6750083],
        rtol=1e-6,
    )
    assert sex2_firth.se == "fisher" and augmented.se == "augmented"
    assert sex2_firth.summary.attrs["std_error"] == "inverse Fisher information (as brglm2)"
    assert augmented.summary.attrs["std_error"] == (
        "inverse augmented information [X' diag(w(1+h)) X]^-1 (as logistf >= 1.24)"
    )
    assert "standard errors: inverse Fisher information (as brglm2)" in str(sex2_firth)
    assert "standard errors: inverse augmented information" in str(augmented)
    # estimates, profile intervals and tests do not depend on the convention
    columns = ["estimate", "ci_lower", "ci_upper", "chi2", "p_value"]
    pd.testing.assert_frame_equal(augmented.summary[columns], sex2_firth.summary[columns])
    assert_allclose(np.sqrt(np.diag(augmented.cov_)), augmented.summary["std_error"])
    # Wald intervals use the chosen standard errors
    wald = firth_logit(sex2, "case", SEX2_PREDICTORS, se="augmented", ci="wald")
    z = 1.959963984540054
    assert wald.summary.loc["dia", "ci_upper"] == pytest.approx(
        wald.summary.loc["dia", "estimate"] + z * 1.5052197, rel=1e-6
    )
    with pytest.raises(ValueError, match="se must be 'fisher' or 'augmented', not 'sandwich'"):
        firth_logit(sex2, "case", SEX2_PREDICTORS, se="sandwich")


def test_sex2_null_penalized_log_likelihood_and_lr_statistic_match_logistf(sex2_firth):
    # logistf's printout (shared/reference/README.md): null penalised log-likelihood
    # -157.0847, "Likelihood ratio test=49.09064 on 6 df, p=7.15089e-09"
    assert sex2_firth.null_penalized_log_likelihood == pytest.approx(-157.0847, abs=5e-5)
    stats_ = sex2_firth.fit_statistics
    assert stats_["null_penalized_log_likelihood"] == pytest.approx(-157.0847, abs=5e-5)
    assert stats_["lr_chi2"] == pytest.approx(49.09064, abs=5e-6)
    assert stats_["lr_p_value"] == pytest.approx(7.15089e-09, rel=1e-5)


def test_spec_firth_se_reaches_the_run_and_its_report(sex2, tmp_path):
    # [frequentist] firth_se = "augmented": the run's Firth table holds logistf's
    # augmented-information SEs (shared/reference/README.md) and the report says so
    import contextlib
    import io
    import textwrap

    from bayes_cluster.cli import main
    from bayes_cluster.run.spec import SpecError, parse_spec

    data = sex2.assign(woman=[f"w{i}" for i in range(len(sex2))])
    data.to_csv(tmp_path / "sex2.csv", index=False)
    columns = "\n".join(f'{name} = "binary"' for name in ["case", *SEX2_PREDICTORS])
    spec = textwrap.dedent(
        f"""
        [data]
        path = "sex2.csv"
        id = "woman"
        [data.columns]
        woman = "id"
        {{columns}}
        [logistic]
        outcome = "case"
        predictors = {SEX2_PREDICTORS!r}
        bayesian = false
        [frequentist]
        methods = ["firth"]
        firth_se = "augmented"
        [report]
        formats = ["md"]
        """
    ).replace("{columns}", columns)
    (tmp_path / "sex2.toml").write_text(spec.replace("'", '"'), encoding="utf-8")
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        code = main(["run", str(tmp_path / "sex2.toml"), "--out", str(tmp_path / "out")])
    assert code == 0
    table = pd.read_csv(tmp_path / "out" / "logistic" / "firth_summary.csv", index_col=0)
    assert_allclose(
        table["std_error"],
        [0.4763429, 0.4149021, 0.4344026, 0.5384872, 0.5320395, 0.408962, 1.5052197],
        rtol=2e-6,
    )
    report = (tmp_path / "out" / "report.md").read_text(encoding="utf-8")
    assert "standard errors: inverse augmented information" in report
    raw = {"logistic": {"outcome": "y", "predictors": ["x"]}, "frequentist": {"firth_se": "x"}}
    with pytest.raises(SpecError, match=r'\[frequentist\]\.firth_se: must be "fisher" or'):
        parse_spec(raw)

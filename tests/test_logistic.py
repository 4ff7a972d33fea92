"""Tests of the Bayesian logit: structure, priors, logp, a tiny fit, checks, and (slow)
separation, agreement with R's rstanarm, and parameter recovery."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from bayes_cluster.common.dims import FIRM, GROUP, INTERCEPT, PREDICTOR
from bayes_cluster.estimators.logistic import (
    DEFAULT_PRIORS,
    BayesianLogit,
    _auc,
    compare_models,
)
from bayes_cluster.inference.base import MODEL_ATTR, STATE_ATTR, BayesianModel, load_model
from bayes_cluster.inference.diagnostics import ConvergenceWarning
from bayes_cluster.inference.sampling import clear_compiled_cache, compiled_cache
from bayes_cluster.inference.summaries import SUMMARY_COLUMNS, hdi
from bayes_cluster.surveys.codebook import TUMANG_PREDICTORS
from bayes_cluster.surveys.simulate import simulate_tumang

PREDICTORS = list(TUMANG_PREDICTORS)
LOGIT_COLUMNS = [
    "mean",
    "sd",
    "hdi_lower",
    "hdi_upper",
    "odds_ratio",
    "odds_ratio_lower",
    "odds_ratio_upper",
    "prob_positive",
    "r_hat",
    "ess_bulk",
    "ess_tail",
]
# tiny runs cannot reach R-hat <= 1.01 / Pareto k < 0.7 reliably; tests of the fast path
# check the structure, and the slow tests check convergence
TINY = {"draws": 150, "tune": 150, "chains": 2}


@pytest.fixture(scope="module")
def tumang():
    frame, truth = simulate_tumang(60, seed=3)
    return frame, truth


def _quiet_fit(model, frame, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(frame, **{**TINY, **kwargs})


@pytest.fixture(scope="module")
def fitted(tumang):
    frame, _ = tumang
    model = BayesianLogit("export", PREDICTORS, group="product_line")
    # PyMC's sampler: its C code is cached across runs, nutpie's numba compile is not.
    # 2 x 800 draws after 500 tuning steps: enough for the verdict to be PASSED (at
    # 2 x 500 one z_group R-hat was 1.012), about 15 s more than the tiny run
    _quiet_fit(model, frame, random_seed=11, sampler="pymc", draws=800, tune=500)
    return model


# ---------------------------------------------------------------- structure (no MCMC)
def test_model_structure_dims_and_coords(tumang):
    frame, _ = tumang
    model = BayesianLogit("export", PREDICTORS, group="product_line")
    pm_model = model.build_model(frame)
    assert {rv.name for rv in pm_model.free_RVs} == {
        "alpha_std",
        "beta_std",
        "sigma_group",
        "z_group",
    }
    assert pm_model.named_vars_to_dims["X"] == (FIRM, PREDICTOR)
    assert pm_model.named_vars_to_dims["beta"] == (PREDICTOR,)
    assert pm_model.named_vars_to_dims["u"] == (GROUP,)
    assert list(pm_model.coords[PREDICTOR]) == PREDICTORS
    assert list(pm_model.coords[GROUP]) == sorted(frame["product_line"].unique())
    assert list(pm_model.coords[FIRM]) == list(frame["firm_id"])


def test_standardisation_rule(tumang):
    frame, _ = tumang
    model = BayesianLogit("export", PREDICTORS)
    model.build_model(frame)
    expected_scale = [
        frame[p].max() - frame[p].min() if frame[p].nunique() == 2 else frame[p].std(ddof=1)
        for p in PREDICTORS
    ]
    np.testing.assert_allclose(model.scale_, expected_scale)
    np.testing.assert_allclose(model.center_, frame[PREDICTORS].mean().to_numpy())
    assert model.scale_[PREDICTORS.index("training")] == 1.0  # binary: range, not SD
    raw = BayesianLogit("export", PREDICTORS, standardize=False)
    raw.build_model(frame)
    np.testing.assert_array_equal(raw.scale_, np.ones(7))
    np.testing.assert_array_equal(raw.center_, np.zeros(7))


def test_logp_at_a_point_matches_scipy(tumang, python_graphs):
    frame, _ = tumang
    model = BayesianLogit("export", PREDICTORS)
    pm_model = model.build_model(frame)
    rng = np.random.default_rng(0)
    alpha, beta = 0.3, rng.normal(0, 0.5, 7)
    logp = pm_model.compile_logp()({"alpha_std": alpha, "beta_std": beta})
    X = (frame[PREDICTORS].to_numpy(float) - model.center_) / model.scale_
    eta = alpha + X @ beta
    y = frame["export"].to_numpy()
    expected = (
        stats.norm.logpdf(alpha, 0, 1.5)
        + stats.t.logpdf(beta, 7, 0, 1).sum()
        + stats.bernoulli.logpmf(y, 1 / (1 + np.exp(-eta))).sum()
    )
    assert logp == pytest.approx(expected, rel=1e-8)


def test_prior_precedence_per_term_over_slopes_over_defaults(tumang):
    frame, _ = tumang
    slopes = {"dist": "Normal", "mu": 0, "sigma": 2.5}
    workers = {"dist": "StudentT", "nu": 3, "mu": 0, "sigma": 0.5}
    intercept = {"dist": "Normal", "mu": 0, "sigma": 10}
    model = BayesianLogit(
        "export", PREDICTORS, priors={"slopes": slopes, "workers": workers, "intercept": intercept}
    )
    resolved = model.resolved_priors()
    assert resolved["intercept"] == {"dist": "Normal", "mu": 0.0, "sigma": 10.0}
    assert resolved["slopes"]["workers"] == {
        "dist": "StudentT",
        "nu": 3.0,
        "mu": 0.0,
        "sigma": 0.5,
    }
    assert resolved["slopes"]["firm_age"] == {"dist": "Normal", "mu": 0.0, "sigma": 2.5}
    default = BayesianLogit("export", PREDICTORS).resolved_priors()
    assert default["slopes"]["training"] == {**DEFAULT_PRIORS["slopes"]}
    assert default["intercept"] == DEFAULT_PRIORS["intercept"]
    # mixed families still build, with beta_std stacked in term order
    pm_model = model.build_model(frame)
    assert "beta_std__workers" in pm_model.named_vars
    assert pm_model.named_vars_to_dims["beta_std"] == (PREDICTOR,)


def test_predictor_name_prior_applies_to_all_its_dummies():
    frame = pd.DataFrame(
        {
            "y": [0, 1, 0, 1, 1, 0, 1, 0],
            "x": [0.1, 0.5, 0.2, 0.9, 0.7, 0.3, 0.8, 0.4],
            "line": ["a", "b", "c", "a", "b", "c", "b", "a"],
        }
    )
    spec = {"dist": "Normal", "mu": 0, "sigma": 0.5}
    model = BayesianLogit("y", ["x", "line"], priors={"line": spec})
    model.build_model(frame)
    assert model.terms == ["x", "line[b]", "line[c]"]
    resolved = model.resolved_priors()["slopes"]
    assert resolved["line[b]"] == resolved["line[c]"] == {**spec, "mu": 0.0}
    assert resolved["x"] == DEFAULT_PRIORS["slopes"]
    # a dummy term's own prior wins over its predictor's
    narrow = {"dist": "Normal", "mu": 0, "sigma": 0.1}
    model = BayesianLogit("y", ["x", "line"], priors={"line": spec, "line[c]": narrow})
    model.build_model(frame)
    assert model.resolved_priors()["slopes"]["line[c]"]["sigma"] == 0.1
    assert model.resolved_priors()["slopes"]["line[b]"]["sigma"] == 0.5
    with pytest.raises(ValueError, match=r"unknown prior key\(s\) \['line\[d\]'\]"):
        bad = BayesianLogit("y", ["x", "line"], priors={"line[d]": narrow})
        bad.build_model(frame)


def test_prior_summary_reports_adjusted_scale(tumang):
    frame, _ = tumang
    model = BayesianLogit("export", PREDICTORS, group="product_line")
    assert model.prior_summary().loc["workers", "adjusted_prior"] == "(fit first)"
    model.build_model(frame)
    table = model.prior_summary()
    sd = frame["workers"].std(ddof=1)
    assert table.loc["workers", "prior"] == "StudentT(nu=7, mu=0, sigma=1)"
    assert table.loc["workers", "adjusted_prior"] == f"StudentT(nu=7, mu=0, sigma={1 / sd:.4g})"
    assert table.loc[INTERCEPT, "scale"] == "log-odds at the predictor means"
    assert table.loc["sigma_group (product_line)", "prior"] == "HalfNormal(sigma=1)"


@pytest.mark.parametrize(
    ("priors", "message"),
    [
        (
            {"slope": {"dist": "Normal", "mu": 0, "sigma": 1}},
            r"unknown prior key\(s\) \['slope'\]",
        ),
        (
            {"slopes": {"dist": "Gamma", "mu": 0}},
            "prior for 'workers': unknown distribution 'Gamma'",
        ),
        (
            {"slopes": {"dist": "Normal", "mu": 0}},
            r"prior for 'workers': Normal takes parameters \['mu', 'sigma'\]; missing \['sigma'\]",
        ),
        (
            {"intercept": {"dist": "HalfNormal", "sigma": 1}},
            "prior for 'intercept': HalfNormal has positive support",
        ),
        (
            {"slopes": {"dist": "Normal", "mu": 0, "sigma": -1}},
            "parameter 'sigma' must be positive and finite, got -1.0",
        ),
    ],
)
def test_bad_priors_are_named(priors, message):
    with pytest.raises(ValueError, match=message):
        BayesianLogit("export", PREDICTORS, priors=priors).resolved_priors()


def test_horseshoe_structure_and_conflicts(tumang):
    frame, _ = tumang
    model = BayesianLogit("export", PREDICTORS, shrinkage="horseshoe")
    pm_model = model.build_model(frame)
    assert {rv.name for rv in pm_model.free_RVs} == {"alpha_std", "tau", "lambda", "c2", "z_beta"}
    # global scale tau0 = p0 / (D - p0) * 2 / sqrt(n) (Piironen & Vehtari 2017)
    assert "tau0=0.103" in model.prior_summary().loc["slopes (horseshoe)", "prior"]
    with pytest.raises(ValueError, match="cannot be combined with shrinkage='horseshoe'"):
        BayesianLogit(
            "export",
            PREDICTORS,
            shrinkage="horseshoe",
            priors={"workers": DEFAULT_PRIORS["slopes"]},
        )


def test_bad_data_are_reported(tumang):
    frame, _ = tumang
    bad = frame.copy()
    bad.loc[2, "export"] = 2
    with pytest.raises(ValueError, match=r"outcome 'export' must be 0/1; rows \[2\] have \[2\]"):
        BayesianLogit("export", PREDICTORS).build_model(bad)
    with pytest.raises(ValueError, match=r"column\(s\) \['sales'\] not in the data"):
        BayesianLogit("export", ["sales"]).build_model(frame)
    with pytest.raises(
        ValueError, match="sampler must be 'nutpie', 'nutpie_c' or 'pymc', got 'stan'"
    ):
        BayesianLogit("export", PREDICTORS).fit(frame, sampler="stan")


def test_helpers_hdi_and_auc():
    from arviz_stats.base import array_stats

    samples = np.random.default_rng(1).normal(size=200_000)
    lower, upper = hdi(samples, 0.94)
    np.testing.assert_allclose([lower, upper], array_stats.hdi(samples, 0.94, axis=-1))
    # the shortest 94% interval of N(0, 1) is +-1.881 wide
    assert upper - lower == pytest.approx(2 * stats.norm.ppf(0.97), abs=0.01)
    y = np.array([0, 0, 1, 1, 0, 1], dtype=bool)
    score = np.array([0.1, 0.4, 0.35, 0.8, 0.2, 0.9])
    # 8 of the 9 (positive, negative) pairs are ordered correctly
    assert _auc(y, score) == pytest.approx(8 / 9)


# ---------------------------------------------------------------- tiny fit
def test_fit_tree_groups_dims_and_original_scale(fitted, tumang):
    frame, _ = tumang
    tree = fitted.idata_
    for group in (
        "posterior",
        "sample_stats",
        "log_likelihood",
        "posterior_predictive",
        "observed_data",
        "constant_data",
    ):
        assert group in tree.children
    posterior = tree["posterior"]
    assert posterior["beta"].dims == ("chain", "draw", PREDICTOR)
    assert list(posterior[PREDICTOR].values) == PREDICTORS
    assert list(posterior[GROUP].values) == sorted(frame["product_line"].unique())
    assert list(tree["log_likelihood"][FIRM].values) == list(frame["firm_id"])
    # original scale: beta = beta_std / scale, alpha = alpha_std - sum(center * beta)
    np.testing.assert_allclose(posterior["beta"], posterior["beta_std"] / fitted.scale_)
    alpha = posterior["alpha_std"] - (posterior["beta"] * fitted.center_).sum(PREDICTOR)
    np.testing.assert_allclose(posterior["alpha"], alpha)
    assert tree.attrs["diagnostics_verdict"] == "PASSED", fitted.diagnostics_.problems
    assert fitted.diagnostics_.problems == []
    assert "version_pymc" in tree.attrs


def test_log_likelihood_matches_bernoulli(fitted):
    tree = fitted.idata_
    p = fitted.fitted_probabilities()
    y = tree["observed_data"]["y"].to_numpy()
    # atol: where p is within 1e-9 of 1, log(1 - p) from the rounded p keeps only about
    # seven digits (a cold CI run: -5.7835541e-10 stored against -5.7835547e-10 from scipy,
    # an absolute difference of 6e-17), while the model computes it from the linear predictor
    np.testing.assert_allclose(
        tree["log_likelihood"]["y"], stats.bernoulli.logpmf(y, p), rtol=1e-7, atol=1e-14
    )


def test_summary_columns_and_values(fitted):
    table = fitted.summary()
    assert list(table.columns) == LOGIT_COLUMNS
    assert list(table.index)[: 1 + len(PREDICTORS)] == [INTERCEPT, *PREDICTORS]
    table = table.iloc[: 1 + len(PREDICTORS)]  # the hierarchy rows follow
    draws = fitted.coefficient_draws()
    np.testing.assert_allclose(table["mean"], draws.mean(axis=0))
    np.testing.assert_allclose(table["prob_positive"], (draws > 0).mean(axis=0))
    np.testing.assert_allclose(table["odds_ratio_lower"], np.exp(table["hdi_lower"]))
    assert (table["hdi_lower"] < table["mean"]).all() and (
        table["mean"] < table["hdi_upper"]
    ).all()
    wide = fitted.summary(hdi_prob=0.99, groups=False)
    assert (wide["hdi_upper"] - wide["hdi_lower"] > table["hdi_upper"] - table["hdi_lower"]).all()


def test_predict_known_and_new_groups(fitted, tumang):
    frame, _ = tumang
    new = frame.head(4).drop(columns="export")
    result = fitted.predict(new)
    assert list(result.columns) == ["probability", "hdi_lower", "hdi_upper"]
    in_sample = fitted.fitted_probabilities()[..., :4].reshape(-1, 4).mean(axis=0)
    np.testing.assert_allclose(result["probability"], in_sample)
    unseen = new.assign(product_line="bells")
    wider = fitted.predict(unseen, random_seed=1)
    # a new product line adds the between-line uncertainty
    assert (
        (wider["hdi_upper"] - wider["hdi_lower"])
        >= (result["hdi_upper"] - result["hdi_lower"]) - 0.02
    ).all()
    draws = fitted.predict(new, return_draws=True)
    assert draws.dims == ("chain", "draw", FIRM)


def test_checks_r2_classification_loo(fitted):
    r2 = fitted.bayes_r2()
    assert 0 < r2["hdi_lower"] < r2["mean"] < r2["hdi_upper"] < 1
    metrics = fitted.classification_metrics()
    assert list(metrics.index) == ["accuracy", "auc"]
    assert 0.5 < metrics.loc["auc", "mean"] <= 1
    with warnings.catch_warnings():
        # 300 draws: a few Pareto k above the 0.62 threshold is expected and reported
        warnings.filterwarnings("ignore", message="Estimated shape parameter of Pareto")
        table = fitted.pareto_k_table()
        elpd = fitted.loo()
    assert table["count"].sum() == 60
    assert np.isfinite(elpd.elpd) and elpd.elpd < 0


def test_is_a_bayesian_model_with_the_shared_summary_columns(fitted):
    assert isinstance(fitted, BayesianModel)
    columns = list(fitted.summary().columns)
    # the shared columns, in their order; the odds-ratio columns sit between (CSV unchanged)
    assert [c for c in columns if c in SUMMARY_COLUMNS] == list(SUMMARY_COLUMNS)
    # every parameter a user reads is a row, the hierarchy included
    assert list(fitted.summary().index)[1 + len(PREDICTORS) :] == [
        "sigma[product_line]",
        "Sigma[product_line:(Intercept),(Intercept)]",
        *(f"b[(Intercept) product_line:{level}]" for level in fitted.group_levels_),
    ]


def test_save_load_roundtrip(fitted, tmp_path, tumang):
    frame, _ = tumang
    for name in ("fit.nc", "fit.zarr"):
        path = fitted.save(tmp_path / name)
        loaded = BayesianLogit.load(path)
        assert type(loaded) is BayesianLogit
        pd.testing.assert_frame_equal(loaded.summary(), fitted.summary())
        assert loaded.config() == fitted.config()
        assert loaded.design_info_ == fitted.design_info_
        np.testing.assert_array_equal(loaded.center_, fitted.center_)
        np.testing.assert_array_equal(loaded.scale_, fitted.scale_)
        assert loaded.group_levels_ == fitted.group_levels_
        assert loaded.diagnostics_.passed == fitted.diagnostics_.passed
        pd.testing.assert_frame_equal(loaded.predict(frame.head(3)), fitted.predict(frame.head(3)))
        # same draws and data; the einsum over a differently laid-out array may differ by an ulp
        np.testing.assert_allclose(
            loaded.fitted_probabilities(), fitted.fitted_probabilities(), rtol=1e-14
        )
        pd.testing.assert_frame_equal(load_model(path).summary(), fitted.summary())
    with pytest.raises(ValueError, match="save path must end in .nc or .zarr"):
        fitted.save(tmp_path / "fit.pkl")


def test_load_refuses_old_and_other_models_files(fitted, tmp_path):
    # a file of the old BayesianLogit.save (config in "bayes_cluster_config") is refused
    old = fitted.idata_.copy()
    for name in (MODEL_ATTR, STATE_ATTR):
        del old.attrs[name]
    old.attrs["bayes_cluster_config"] = "{}"
    old.to_netcdf(tmp_path / "old.nc", engine="h5netcdf")
    with pytest.raises(ValueError, match="was not written by a bayes_cluster model's save"):
        BayesianLogit.load(tmp_path / "old.nc")
    # a file whose attrs name another model class: the class is checked before anything
    # of the file is read as a logit (a BayesianLatentClass fit takes minutes to make)
    import bayes_cluster.estimators.latent_class  # noqa: F401 - registers the class

    other = fitted.idata_.copy()
    other.attrs[MODEL_ATTR] = "BayesianLatentClass"
    other.to_netcdf(tmp_path / "other.nc", engine="h5netcdf")
    with pytest.raises(
        ValueError,
        match=r"holds a BayesianLatentClass fit, not a BayesianLogit: load it with "
        r"BayesianLatentClass\.load\(\) or bayes_cluster\.load_model\(\)",
    ):
        BayesianLogit.load(tmp_path / "other.nc")


def test_repr_html_shows_verdict_and_summary(fitted):
    text = fitted._repr_html_()
    assert "<b>BayesianLogit</b>" in text
    assert "Convergence: passed" in text
    assert "odds_ratio" in text and "<th>workers</th>" in text
    unfitted = BayesianLogit("export", ["workers"])._repr_html_()
    assert "(not fitted)" in unfitted and "<th>outcome</th><td>export</td>" in unfitted


def test_nutpie_refit_reuses_compiled_model(tumang):
    frame, _ = tumang
    model = BayesianLogit("export", ["workers", "firm_age"], group="product_line")
    _quiet_fit(model, frame, random_seed=12)
    assert model.idata_["sample_stats"].attrs["inference_library"] == "nutpie"
    n_cached, compilations = len(compiled_cache), compiled_cache.compilations
    before = model.summary()["mean"].to_numpy()
    new_frame, _ = simulate_tumang(60, seed=4)
    _quiet_fit(model, new_frame, random_seed=12)
    # same priors, terms, group levels: compiled once, in the package's one cache
    assert (len(compiled_cache), compiled_cache.compilations) == (n_cached, compilations)
    assert model.timings_["compile_s"] == 0.0
    assert list(model.idata_["log_likelihood"][FIRM].values) == list(new_frame["firm_id"])
    assert not np.allclose(model.summary()["mean"].to_numpy(), before)
    # the same seed on the same data gives the same draws
    again = BayesianLogit("export", ["workers", "firm_age"], group="product_line")
    _quiet_fit(again, new_frame, random_seed=12)
    np.testing.assert_array_equal(again.coefficient_draws(), model.coefficient_draws())
    # the firms are data, not structure: 40 firms re-use the model compiled on 60 ...
    small, _ = simulate_tumang(40, seed=8)
    _quiet_fit(model, small, random_seed=5)
    assert compiled_cache.compilations == compilations
    shared = model.coefficient_draws()
    # ... and give exactly the draws of a model compiled on those 40 firms
    clear_compiled_cache()
    _quiet_fit(model, small, random_seed=5)
    assert compiled_cache.compilations == compilations + 1
    np.testing.assert_array_equal(model.coefficient_draws(), shared)


def test_failing_fit_warns_loudly(tumang):
    frame, _ = tumang
    model = BayesianLogit("export", ["workers", "firm_age"], group="product_line")
    with pytest.warns(ConvergenceWarning, match="FAILED its convergence checks"):
        model.fit(frame, draws=20, tune=5, chains=2, random_seed=1)
    assert not model.diagnostics_.passed


def test_plots_return_figures(fitted):
    from matplotlib.figure import Figure

    from bayes_cluster.plots import logistic as plots

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Estimated shape parameter of Pareto")
        figures = [
            plots.plot_calibration(fitted),
            plots.plot_separation(fitted),
            plots.plot_loo_pit(fitted),
            plots.plot_coefficients(fitted),
            plots.plot_prior_predictive(draws=200),
        ]
    assert all(isinstance(figure, Figure) for figure in figures)


def test_pav_calibration_is_isotonic():
    from bayes_cluster.plots.logistic import pav_calibration

    p = np.array([0.1, 0.2, 0.3, 0.4])
    y = np.array([0, 1, 0, 1])
    # PAV pools the violating pair (0.2, 0.3) into 0.5
    np.testing.assert_allclose(pav_calibration(p, y), [0, 0.5, 0.5, 1])


def test_prior_predictive_of_default_is_not_piled_at_the_ends():
    from bayes_cluster.plots.logistic import prior_predictive_probabilities

    rstanarm = {"dist": "Normal", "mu": 0, "sigma": 2.5}
    p_default = prior_predictive_probabilities(
        DEFAULT_PRIORS["slopes"], DEFAULT_PRIORS["intercept"]
    )
    p_wide = prior_predictive_probabilities(rstanarm, rstanarm)
    extreme = lambda p: np.mean((p < 0.01) | (p > 0.99))  # noqa: E731
    assert extreme(p_default) < 0.25 < extreme(p_wide)


def test_compare_models(fitted, tumang):
    frame, _ = tumang
    assert fitted.diagnostics_.sampler == "pymc"
    pooled = BayesianLogit("export", PREDICTORS)
    _quiet_fit(pooled, frame, random_seed=2, sampler="pymc")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Estimated shape parameter of Pareto")
        table = compare_models({"varying": fitted, "pooled": pooled.idata_})
        elpd = {"varying": fitted.loo().elpd, "pooled": pooled.loo().elpd}
    assert set(table.index) == {"varying", "pooled"}
    assert table.index[0] == max(elpd, key=elpd.get)
    assert table.loc[table.index[0], "elpd"] == pytest.approx(max(elpd.values()))
    with pytest.raises(ValueError, match="at least two models"):
        compare_models({"one": fitted})


def test_prior_sensitivity_table(fitted):
    table = fitted.prior_sensitivity()
    assert list(table.index) == [
        "alpha",
        *[f"beta[{p}]" for p in PREDICTORS],
    ]
    assert list(table.columns) == ["prior", "likelihood", "diagnosis"]
    assert (table[["prior", "likelihood"]] > 0).all().all()
    # a known truth: 150 observations with a strong slope (2 per SD of x)
    rng = np.random.default_rng(2026)
    x = rng.normal(size=150)
    frame = pd.DataFrame({"x": x, "y": rng.binomial(1, stats.logistic.cdf(0.3 + 2.0 * x))})
    sensitivity = {}
    for name, sigma in (("wide", 10.0), ("tight", 0.2)):
        model = BayesianLogit(
            "y", ["x"], priors={"slopes": {"dist": "Normal", "mu": 0, "sigma": sigma}}
        )
        model.fit(frame, draws=300, tune=300, chains=2, random_seed=3, sampler="pymc")
        sensitivity[name] = model.prior_sensitivity().loc["beta[x]"]
    # N(0, 10) per SD: the data decide; power-scaling the prior moves the posterior of the
    # slope by far less than psense's 0.05 threshold (measured 0.002)
    assert sensitivity["wide"]["prior"] < 0.02
    assert sensitivity["wide"]["diagnosis"] == "\u2713"
    # N(0, 0.2) per SD against a slope of 2: the prior pulls the slope to about 0.7, and
    # both prior and likelihood move it (measured 0.58 and 0.48): flagged as a conflict
    assert sensitivity["tight"]["prior"] > 0.3
    assert sensitivity["tight"]["likelihood"] > 0.3
    assert sensitivity["tight"]["diagnosis"] == "potential prior-data conflict"


# ---------------------------------------------------------------- slow: real MCMC
@pytest.mark.slow
def test_quasi_complete_separation_sex2(reference_dir):
    frame = pd.read_csv(reference_dir / "sex2.csv")
    assert frame.loc[frame["dia"] == 1, "case"].eq(1).all()  # the separation
    model = BayesianLogit("case", ["age", "oc", "vic", "vicl", "vis", "dia"])
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        model.fit(frame, random_seed=20)
    diagnostics = model.diagnostics_
    assert diagnostics.passed, diagnostics.problems
    assert diagnostics.n_divergences == 0
    table = model.summary()
    assert table["r_hat"].max() <= 1.01
    dia = table.loc["dia"]
    # finite and sensible: a positive effect, shrunk from Firth's 3.10 (profile CI
    # [0.77, 8.03]) by the t7(0, 1) prior, with an interval narrower than Firth's
    assert 1.0 < dia["mean"] < 3.5
    assert dia["prob_positive"] > 0.9
    assert -1.0 < dia["hdi_lower"] and dia["hdi_upper"] < 6.0


# rstanarm 2.21.3 (R 4.2.2; Debian 12 packages), run by us with 4 chains x 8000 draws
# (iter = 10000, warmup = 2000, seed = 1); MCSE of every mean below 0.03. Script and its
# output (with sessionInfo()): tests/r/rstanarm_logit.R, reproduced to every digit below:
#   sp <- statsmodels' spector data (32 students)
#   stan_glm(GRADE ~ GPA + TUCE + PSI, data = sp, family = binomial(),
#            prior = normal(0, 2.5), prior_intercept = normal(0, 2.5))   # autoscale FALSE
#   s2 <- read.csv("shared/reference/sex2.csv")
#   stan_glm(case ~ age + oc + vic + vicl + vis + dia, data = s2, family = binomial(),
#            prior = normal(0, 2.5, autoscale = FALSE), prior_intercept = normal(0, 2.5))
#   cbind(mean = colMeans(as.matrix(fit)), sd = apply(as.matrix(fit), 2, sd))
RSTANARM_SPECTOR = {  # term: (mean, sd)
    INTERCEPT: (-12.83342, 4.46451),
    "GPA": (2.52887, 1.09588),
    "TUCE": (0.13357, 0.14592),
    "PSI": (2.15883, 0.95062),
}
RSTANARM_SEX2 = {
    INTERCEPT: (0.17217, 0.48548),
    "age": (-1.11989, 0.42030),
    "oc": (-0.10960, 0.44349),
    "vic": (2.31750, 0.54112),
    "vicl": (-2.17365, 0.53841),
    "vis": (-0.80986, 0.41256),
    "dia": (3.39863, 1.44200),
}


def _agrees_with_rstanarm(model, reference):
    table = model.summary()
    for term, (mean, sd) in reference.items():
        row = table.loc[term]
        # Monte Carlo error of our mean (sd / sqrt(ESS)) and of rstanarm's (MCSE < 0.01 sd);
        # 4 standard errors of the difference, and the SDs within 5%
        mcse = row["sd"] / np.sqrt(row["ess_bulk"])
        assert abs(row["mean"] - mean) < 4 * np.hypot(mcse, 0.01 * sd), (term, row["mean"], mean)
        assert row["sd"] == pytest.approx(sd, rel=0.05), (term, row["sd"], sd)


@pytest.mark.slow
def test_agrees_with_rstanarm_spector():
    import statsmodels.api as sm

    frame = sm.datasets.spector.load_pandas().data
    # rstanarm's normal(0, 2.5) per unit (no autoscale) is normal(0, 2.5 * s_j) per our
    # standardisation unit s_j (SD, or range for the binary PSI): priors as data
    sd = {"GPA": frame["GPA"].std(ddof=1), "TUCE": frame["TUCE"].std(ddof=1), "PSI": 1.0}
    priors = {
        "intercept": {"dist": "Normal", "mu": 0, "sigma": 2.5},
        **{term: {"dist": "Normal", "mu": 0, "sigma": 2.5 * s} for term, s in sd.items()},
    }
    model = BayesianLogit("GRADE", ["GPA", "TUCE", "PSI"], priors=priors)
    model.fit(frame, draws=2000, random_seed=5)
    _agrees_with_rstanarm(model, RSTANARM_SPECTOR)


@pytest.mark.slow
def test_agrees_with_rstanarm_sex2(reference_dir):
    frame = pd.read_csv(reference_dir / "sex2.csv")
    normal = {"dist": "Normal", "mu": 0, "sigma": 2.5}
    # every sex2 predictor is binary: our scale is its range, 1, so the priors coincide
    model = BayesianLogit(
        "case", list(RSTANARM_SEX2)[1:], priors={"intercept": normal, "slopes": normal}
    )
    model.fit(frame, draws=2000, random_seed=6)
    _agrees_with_rstanarm(model, RSTANARM_SEX2)


@pytest.mark.slow
def test_parameter_recovery_across_seeds():
    """Truth inside the 94% HDI at about the nominal rate; null slopes' HDIs cover 0."""
    covered, null_covers_zero, n_null = 0, 0, 0
    seeds = range(100, 110)
    model = BayesianLogit("export", PREDICTORS, group="product_line")
    for seed in seeds:
        frame, truth = simulate_tumang(60, seed=seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)  # counted below instead
            model.fit(frame, random_seed=seed)
        assert model.diagnostics_.n_divergences <= 5
        table = model.summary()
        for term, value in truth.coefficients.items():
            row = table.loc[term]
            covered += row["hdi_lower"] <= value <= row["hdi_upper"]
            if value == 0:
                n_null += 1
                null_covers_zero += row["hdi_lower"] <= 0 <= row["hdi_upper"]
    n_intervals = len(seeds) * len(PREDICTORS)
    # 70 intervals at 94%: binomial 1st percentile is about 0.86; shrinkage of the t7(0, 1)
    # prior can only lower coverage of the large effects a little
    assert covered / n_intervals >= 0.84, covered
    assert null_covers_zero / n_null >= 0.85, null_covers_zero


def test_posterior_and_prior_predictive(fitted):
    group = fitted.sample_posterior_predictive(random_seed=3)
    y_rep = group["y"].to_numpy()
    assert set(np.unique(y_rep)) <= {0, 1}
    # replicated event rate per firm tracks the fitted probability
    p = fitted.fitted_probabilities().mean(axis=(0, 1))
    np.testing.assert_allclose(y_rep.mean(axis=(0, 1)), p, atol=0.1)
    prior = fitted.sample_prior_predictive(draws=200, random_seed=1)
    assert prior["prior_predictive"]["y"].shape == (1, 200, 60)
    assert "prior_predictive" in fitted.idata_.children
    # the t7(0, 1) prior: draws of beta_std have scale about 1.18 (SD of t7)
    assert prior["prior"]["beta_std"].std() == pytest.approx(np.sqrt(7 / 5), rel=0.15)


@pytest.mark.slow
def test_horseshoe_fit_converges_and_shrinks_nulls():
    frame, truth = simulate_tumang(60, seed=1)
    model = BayesianLogit("export", PREDICTORS, shrinkage="horseshoe")
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        model.fit(frame, random_seed=1)
    assert model.diagnostics_.passed and model.diagnostics_.n_divergences == 0
    table = model.summary()
    for term, value in truth.coefficients.items():
        if value == 0:
            assert table.loc[term, "hdi_lower"] < 0 < table.loc[term, "hdi_upper"]
    # the global scale is pulled well below the slab scale (sparsity)
    assert float(model.idata_["posterior"]["tau"].median()) < 0.5


@pytest.mark.parametrize(
    "intercept, slope",
    [
        (
            {"dist": "Normal", "mu": 0, "sigma": 1.5},
            {"dist": "StudentT", "nu": 7, "mu": 0, "sigma": 1},
        ),
        (
            {"dist": "StudentT", "nu": 3, "mu": 0.5, "sigma": 2},
            {"dist": "Normal", "mu": -1, "sigma": 0.5},
        ),
        ({"dist": "Cauchy", "mu": 0, "sigma": 2.5}, {"dist": "Laplace", "mu": 0.2, "sigma": 0.7}),
        ({"dist": "Laplace", "mu": 0, "sigma": 1}, {"dist": "Cauchy", "mu": 0, "sigma": 1}),
    ],
)
def test_log_prior_without_pymc_equals_pymcs(intercept, slope):
    """The prior sensitivity's log prior of each draw, written out for the intercept and a
    single slope family (no PyMC import in a run), equals PyMC's compute_log_prior."""
    import pymc as pm
    import xarray as xr

    frame, _ = simulate_tumang(n=60, seed=2)
    logit = BayesianLogit("export", PREDICTORS, priors={"intercept": intercept, "slopes": slope})
    model = logit.build_model(frame)
    rng = np.random.default_rng(1)
    posterior = xr.Dataset(
        {
            "alpha_std": (("chain", "draw"), rng.normal(0, 3, (2, 50))),
            "beta_std": (
                ("chain", "draw", PREDICTOR),
                rng.standard_t(2, (2, 50, len(PREDICTORS))),
            ),
        },
        coords={"chain": [0, 1], "draw": np.arange(50), PREDICTOR: PREDICTORS},
    )
    ours = logit._log_prior(posterior)
    theirs = pm.stats.compute_log_prior(
        xr.DataTree.from_dict({"posterior": posterior}),
        model=model,
        extend_inferencedata=False,
        progressbar=False,
    )
    theirs = theirs["log_prior"].to_dataset() if isinstance(theirs, xr.DataTree) else theirs
    assert list(ours.data_vars) == list(theirs.data_vars)
    for name in theirs.data_vars:
        assert ours[name].dims == theirs[name].dims
        # PyMC's Normal carries its constant log(sqrt(2 pi)) 1.2e-8 off; a constant per
        # variable, which power-scaling's self-normalised weights cancel
        gap = ours[name].values - theirs[name].values
        assert np.abs(gap).max() < 1e-7
        np.testing.assert_allclose(gap, gap.flat[0], rtol=0, atol=1e-12)


def test_prior_sensitivity_is_the_same_with_pymcs_log_prior(monkeypatch):
    frame, _ = simulate_tumang(n=60, seed=2)
    logit = BayesianLogit("export", PREDICTORS)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        logit.fit(frame, draws=200, tune=200, chains=2, random_seed=4)
        ours = logit.prior_sensitivity()
        import xarray as xr

        def pymcs(posterior):
            import pymc as pm

            tree = pm.stats.compute_log_prior(
                xr.DataTree.from_dict({"posterior": posterior}),
                model=logit.model,
                extend_inferencedata=False,
                progressbar=False,
            )
            return tree["log_prior"].to_dataset() if isinstance(tree, xr.DataTree) else tree

        monkeypatch.setattr(logit, "_log_prior", pymcs)
        theirs = logit.prior_sensitivity()
    pd.testing.assert_frame_equal(ours, theirs, check_exact=False, rtol=1e-9, atol=1e-12)

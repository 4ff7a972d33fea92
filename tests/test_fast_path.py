"""The simulation study's fast path: fused logit density, lean trace, vectorised diagnostics.

Each fast piece is checked against the slow one it replaces, on the same inputs:

* the fused log-density and gradient (``inference/fast_logit.py``) against PyMC's
  ``logp``/``dlogp`` of the same model at random points, through the compiled C
  callback nutpie calls and after ``with_data`` (another sample size);
* the lean trace against nutpie's own ArviZ conversion of the same seeded run;
* ``draw_diagnostics`` against ``arviz_stats`` (1e-10) on awkward draws;
* the fast path gives the same numbers for the same seed, and (slow) SBC passes on it.
"""

from __future__ import annotations

import ctypes
import warnings
from dataclasses import replace

import numpy as np
import pytest

from bayes_cluster.estimators.logistic import BayesianLogit
from bayes_cluster.inference.fast_diagnostics import _arviz_diagnostics, draw_diagnostics
from bayes_cluster.inference.fast_logit import (
    _make_fused_logp,
    fuse_logit_logp,
    fused_prior_arrays,
)
from bayes_cluster.surveys.codebook import TUMANG_PREDICTORS
from bayes_cluster.surveys.simulate import simulate_tumang

PREDICTORS = list(TUMANG_PREDICTORS)


def _point(rng: np.random.Generator, size: int) -> np.ndarray:
    return rng.normal(0.0, 1.5, size=size)


@pytest.fixture(scope="module")
def compiled_default():
    """The default-prior logit compiled by nutpie (under BayesianLogit.fit's key, so
    other tests of the session re-use it), and its fused version."""
    from bayes_cluster.inference.sampling import compiled_cache

    frame, _ = simulate_tumang(n=60, seed=3)
    logit = BayesianLogit("export", PREDICTORS)
    prepared = logit._prepare_fit(frame)
    model = logit._build(prepared)
    key = ("BayesianLogit", *logit._compile_key(prepared))
    compiled, _, _ = compiled_cache.get_or_compile(key, lambda: model)
    # the cached model may hold another test's data (the cache is process-wide): this
    # survey's data, as every fit does before sampling
    compiled = compiled.with_data(**logit._sampler_data(prepared))
    fused = fuse_logit_logp(compiled, model, logit.resolved_priors())
    return logit, model, compiled, fused


def _call_cfunc(compiled, x: np.ndarray) -> tuple[float, np.ndarray]:
    """Call the compiled C log-density exactly as nutpie does."""
    x = np.ascontiguousarray(x, dtype=float)
    gradient = np.empty_like(x)
    logp = np.zeros(1)
    status = compiled.compiled_logp_func.ctypes(
        ctypes.c_uint64(len(x)),
        x.ctypes.data_as(ctypes.POINTER(ctypes.c_double)),
        gradient.ctypes.data_as(ctypes.POINTER(ctypes.c_double)),
        logp.ctypes.data_as(ctypes.POINTER(ctypes.c_double)),
        ctypes.c_void_p(compiled.user_data.ctypes.data),
    )
    assert status == 0
    return float(logp[0]), gradient


def test_fused_density_matches_pymc_through_nutpies_callback(compiled_default, python_graphs):
    logit, model, compiled, fused = compiled_default
    assert fused is not None
    logp = model.compile_logp()
    dlogp = model.compile_dlogp()
    rng = np.random.default_rng(11)
    points = [_point(rng, 8) for _ in range(6)]
    ours = [_call_cfunc(fused, x) for x in points]
    pymc = [_call_cfunc(compiled, x) for x in points]
    for x, (value, gradient), (_, gradient_pymc) in zip(points, ours, pymc, strict=True):
        reference = {"alpha_std": x[0], "beta_std": x[1:]}
        np.testing.assert_allclose(gradient, dlogp(reference), rtol=1e-10, atol=1e-10)
        np.testing.assert_allclose(gradient, gradient_pymc, rtol=1e-10, atol=1e-10)
        # PyTensor folds the priors' normalising constants with ~1e-8 rounding; NUTS only
        # uses differences of the log-density, which agree to 1e-10
        assert value == pytest.approx(float(logp(reference)), abs=1e-6)
    differences = np.diff([value for value, _ in ours])
    differences_pymc = np.diff(
        [float(logp({"alpha_std": x[0], "beta_std": x[1:]})) for x in points]
    )
    np.testing.assert_allclose(differences, differences_pymc, rtol=1e-10, atol=1e-9)


def test_polynomial_exp_and_log1p_are_within_a_few_ulp_of_libm():
    """The vectorisable kernels against libm (numpy) and, at spot checks, 50-digit decimals."""
    import decimal

    import numba

    from bayes_cluster.inference.fast_logit import _make_kernels

    exp_neg, log1p_unit = _make_kernels()

    @numba.njit
    def both(a):
        first, second = np.empty(a.size), np.empty(a.size)
        for i in range(a.size):
            first[i] = exp_neg(a[i])
            second[i] = log1p_unit(np.exp(-a[i]))
        return first, second

    rng = np.random.default_rng(3)
    a = np.concatenate(
        [np.linspace(0, 700, 400_001), rng.uniform(0, 700, 100_000), np.geomspace(1e-300, 1, 5000)]
    )
    exp_values, log1p_values = both(a)
    eps = np.finfo(float).eps
    assert np.max(np.abs(exp_values / np.exp(-a) - 1)) <= 2 * eps
    assert np.max(np.abs(log1p_values / np.log1p(np.exp(-a)) - 1)) <= 4 * eps
    decimal.getcontext().prec = 50
    for value in (1e-9, 0.3465735902799726, 0.34657359027997275, 17.25, 355.5, 699.99):
        exact = float((-decimal.Decimal(value)).exp())
        assert abs(exp_neg(value) / exact - 1) <= eps
    # beyond 700 the kernel holds exp(-700) ~ 1e-304: below what 1 + e can resolve
    assert exp_neg(800.0) == pytest.approx(np.exp(-700.0), rel=2 * eps)
    assert exp_neg(np.inf) == pytest.approx(np.exp(-700.0), rel=2 * eps)


def test_fused_likelihood_at_extreme_linear_predictors():
    """Separated-looking points (|eta| up to 900) against numpy's logaddexp and expit."""
    from scipy.special import expit

    flat = {"dist": "Normal", "mu": 0.0, "sigma": 1e6}
    density = _make_fused_logp(*fused_prior_arrays(flat, [flat, flat]))
    rng = np.random.default_rng(8)
    X = np.column_stack([np.linspace(-30, 30, 41), rng.normal(size=41)])
    y = (rng.random(41) < 0.5).astype(float)
    for x in (np.array([0.0, 30.0, 0.0]), np.array([1.0, -2.0, 0.5]), np.array([5.0, 0.0, 9.0])):
        eta = x[0] + X @ x[1:]
        prior = fused_prior_arrays(flat, [flat, flat])[4] - 0.5 * np.sum((x / 1e6) ** 2)
        expected = prior + np.sum(y * eta - np.logaddexp(0.0, eta))
        residual = y - expit(eta)
        expected_gradient = np.concatenate([[residual.sum()], X.T @ residual]) - x / 1e12
        value, gradient = density(x, X, y)
        assert value == pytest.approx(expected, rel=1e-13)
        np.testing.assert_allclose(gradient, expected_gradient, rtol=1e-12, atol=1e-12)


def test_fused_density_follows_with_data_to_another_sample_size(compiled_default):
    logit, _, compiled, fused = compiled_default
    frame, _ = simulate_tumang(n=23, seed=8)
    data = logit._sampler_data(logit._prepare_fit(frame))
    rng = np.random.default_rng(2)
    for x in (_point(rng, 8) for _ in range(3)):
        value, gradient = _call_cfunc(fused.with_data(**data), x)
        value_pymc, gradient_pymc = _call_cfunc(compiled.with_data(**data), x)
        np.testing.assert_allclose(gradient, gradient_pymc, rtol=1e-10, atol=1e-10)
        assert value == pytest.approx(value_pymc, abs=1e-6)


def test_every_supported_prior_family_matches_pymc(python_graphs):
    """Normal, Student-t, Cauchy and Laplace priors (one per slope), as PyMC writes them."""
    frame, _ = simulate_tumang(n=40, seed=5)
    priors = {
        "intercept": {"dist": "StudentT", "nu": 3, "mu": 0.5, "sigma": 2.5},
        "workers": {"dist": "Normal", "mu": 0.2, "sigma": 0.7},
        "firm_age": {"dist": "Cauchy", "mu": 0, "sigma": 2.0},
        "buyer_network": {"dist": "Laplace", "mu": -0.1, "sigma": 1.3},
    }
    logit = BayesianLogit("export", PREDICTORS, priors=priors)
    prepared = logit._prepare_fit(frame)
    model = logit._build(prepared)
    resolved = logit.resolved_priors()
    encoded = fused_prior_arrays(resolved["intercept"], list(resolved["slopes"].values()))
    assert encoded is not None and encoded[0].tolist() == [1, 0, 2, 3, 1, 1, 1, 1]
    density = _make_fused_logp(*encoded)
    names = [rv.name for rv in model.free_RVs]  # alpha_std, then one variable per slope
    assert names[0] == "alpha_std" and len(names) == 8
    logp, dlogp = model.compile_logp(), model.compile_dlogp()
    X = prepared.data["X"]
    y = prepared.data["y_obs"].astype(float)
    rng = np.random.default_rng(4)
    values = []
    for _ in range(5):
        x = _point(rng, 8)
        point = dict(zip(names, x, strict=True))
        value, gradient = density(x, X, y)
        # PyMC's Student-t gradient graph is itself off by up to ~1e-8 (relative) from the
        # exact derivative (checked below in rational arithmetic), hence 1e-7 here
        np.testing.assert_allclose(gradient, dlogp(point), rtol=1e-7, atol=1e-9)
        assert value == pytest.approx(float(logp(point)), abs=1e-6)
        values.append((value, float(logp(point))))
    ours, pymc = np.array(values).T
    np.testing.assert_allclose(np.diff(ours), np.diff(pymc), rtol=1e-7, atol=1e-7)


def test_prior_gradients_equal_the_exact_derivatives():
    """The prior part of the gradient (no firms) against derivatives in exact rationals."""
    from fractions import Fraction

    specs = [
        {"dist": "Normal", "mu": 0.5, "sigma": 1.5},
        {"dist": "StudentT", "nu": 3, "mu": 0.5, "sigma": 2.5},
        {"dist": "Cauchy", "mu": -1, "sigma": 2.0},
        {"dist": "Laplace", "mu": 0.25, "sigma": 0.5},
    ]
    density = _make_fused_logp(*fused_prior_arrays(specs[0], specs[1:]))
    x = np.array([1.7, -3.2, 0.4, -0.75])
    _, gradient = density(x, np.zeros((0, 3)), np.zeros(0))

    def exact(spec, value):
        mu, sigma = Fraction(spec["mu"]), Fraction(spec["sigma"])
        z = (Fraction(value) - mu) / sigma
        if spec["dist"] == "Normal":
            return -z / sigma
        if spec["dist"] == "StudentT":
            nu = Fraction(spec["nu"])
            return -(nu + 1) * z / (sigma * (nu + z * z))
        if spec["dist"] == "Cauchy":
            return -2 * z / (sigma * (1 + z * z))
        return -(1 if z > 0 else -1) / sigma

    expected = [float(exact(spec, value)) for spec, value in zip(specs, x, strict=True)]
    np.testing.assert_allclose(gradient, expected, rtol=1e-14)


def test_models_outside_the_fused_family_keep_the_pymc_graph(compiled_default):
    _, model, compiled, _ = compiled_default
    half = {"dist": "HalfNormal", "sigma": 1.0}
    slopes = dict.fromkeys(PREDICTORS, {"dist": "Normal", "mu": 0.0, "sigma": 1.0})
    intercept = {"dist": "Normal", "mu": 0.0, "sigma": 1.0}
    assert fused_prior_arrays(half, []) is None
    grouped = {"intercept": intercept, "slopes": slopes, "group_sd": half, "horseshoe": None}
    assert fuse_logit_logp(compiled, model, grouped) is None
    horseshoe = {"intercept": intercept, "slopes": slopes, "group_sd": None, "horseshoe": {}}
    assert fuse_logit_logp(compiled, model, horseshoe) is None


def test_lean_trace_equals_nutpies_own_conversion(compiled_default):
    """Same seed, same compiled model: lean=True keeps the same draws and diagnostics."""
    from bayes_cluster.inference.diagnostics import mcmc_diagnostics
    from bayes_cluster.inference.sampling import SamplerSettings, sample

    logit, _, _, _ = compiled_default
    frame, _ = simulate_tumang(n=60, seed=9)
    prepared = logit._prepare_fit(frame)
    settings = SamplerSettings(draws=150, tune=150, chains=2, seed=4, target_accept=0.9, cores=1)
    # the key and model a study's fits use (the fused density), compiled once here
    key = ("BayesianLogit", *logit._compile_key(prepared), "fused")
    priors = logit.resolved_priors()
    runs = [
        sample(
            lambda: logit._build(prepared),
            key=key,
            data=logit._sampler_data(prepared),
            settings=settings,
            compile_with=lambda compiled, model: fuse_logit_logp(compiled, model, priors),
            lean=lean,
        ).tree
        for lean in (False, True)
    ]
    full, lean = runs
    for name in ("alpha_std", "beta_std", "alpha", "beta"):
        np.testing.assert_array_equal(lean["posterior"][name], full["posterior"][name])
        assert lean["posterior"][name].dims == full["posterior"][name].dims
    assert list(lean["posterior"]["beta"]["predictor"].values) == PREDICTORS
    for name in ("diverging", "energy", "depth", "maxdepth_reached"):
        np.testing.assert_array_equal(lean["sample_stats"][name], full["sample_stats"][name])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        verdicts = [mcmc_diagnostics(tree, var_names=["alpha", "beta"]) for tree in runs]
    assert verdicts[0].passed == verdicts[1].passed
    assert verdicts[0].n_divergences == verdicts[1].n_divergences
    np.testing.assert_array_equal(verdicts[0].table.to_numpy(), verdicts[1].table.to_numpy())


def test_the_fused_compile_skips_nutpies_density_and_gives_the_same_draws(compiled_default):
    """A study's compile never builds nutpie's log-density of the PyMC graph (most of the
    compile) when the fused one replaces it: same model, same seed, same draws."""
    import nutpie

    from bayes_cluster.inference.sampling import compile_nutpie_numba

    logit, model, compiled, fused = compiled_default
    priors = logit.resolved_priors()
    seen = []

    def fuse(bare, built):
        seen.append(bare.compiled_logp_func)
        return fuse_logit_logp(bare, built, priors)

    direct = compile_nutpie_numba(model, replace_logp=fuse)
    assert seen == [None]  # handed over before nutpie's density was compiled
    data = {name: compiled.shared_data[key] for name, key in _data_keys(compiled).items()}
    x = _point(np.random.default_rng(3), compiled.n_dim)
    direct = direct.with_data(**data)
    assert _call_cfunc(direct, x)[0] == pytest.approx(_call_cfunc(fused, x)[0], rel=1e-12)
    settings = {"draws": 100, "tune": 100, "chains": 2, "seed": 7, "cores": 1}
    draws = [
        nutpie.sample(model_, progress_bar=False, **settings)["posterior"]["beta_std"].to_numpy()
        for model_ in (fused, direct)
    ]
    np.testing.assert_array_equal(draws[0], draws[1])
    # declined (a model outside the fused family): nutpie's own density, as nutpie builds it
    kept = compile_nutpie_numba(model, replace_logp=lambda bare, built: None).with_data(**data)
    value, gradient = _call_cfunc(kept, x)
    reference_value, reference_gradient = _call_cfunc(compiled, x)
    assert value == pytest.approx(reference_value, rel=1e-12)
    np.testing.assert_allclose(gradient, reference_gradient, rtol=1e-10)


def _data_keys(compiled) -> dict[str, str]:
    return {variable.name: key for variable, key in compiled.shared_var_keys.items()}


def _awkward_draws() -> np.ndarray:
    rng = np.random.default_rng(1)
    draws = rng.normal(size=(6, 4, 301))  # an odd number of draws: split drops one
    for t in range(1, draws.shape[-1]):  # strongly autocorrelated chains
        draws[:2, :, t] = 0.95 * draws[:2, :, t - 1] + 0.3 * draws[:2, :, t]
    draws[2] = np.round(draws[2], 1)  # many ties
    draws[3, 1] += 1.0  # one chain elsewhere: R-hat well above 1
    draws[4] = np.exp(draws[4])  # skewed
    draws[5, :, 1::2] = draws[5, :, :-1:2]  # every value twice in a row (NUTS can repeat)
    return draws


@pytest.mark.parametrize("tail_prob", [0.89, 0.95])
def test_draw_diagnostics_equal_arviz_stats(tail_prob):
    draws = _awkward_draws()
    ours = draw_diagnostics(draws, tail_prob)
    reference = _arviz_diagnostics(draws, tail_prob)
    for name in ("r_hat", "ess_bulk", "ess_tail", "mcse_mean"):
        np.testing.assert_allclose(ours[name], reference[name], rtol=1e-10, atol=0)
    assert ours["r_hat"][3] > 1.1 and ours["ess_bulk"][0] < 100  # the checks see the problems


def test_average_ranks_equal_scipys_rankdata_with_and_without_ties():
    from scipy.stats import rankdata

    from bayes_cluster.inference.fast_diagnostics import average_ranks

    rng = np.random.default_rng(4)
    for values in (
        rng.normal(size=(4, 2000)),
        rng.integers(0, 5, size=(3, 2000)).astype(float),  # every value tied many times
        rng.binomial(1, 0.002, size=(2, 2000)).astype(float),  # one long run of zeros
        np.array([[2.0, 2.0, 2.0], [3.0, 1.0, 2.0]]),
    ):
        np.testing.assert_array_equal(
            average_ranks(values), rankdata(values, method="average", axis=1)
        )


def test_the_layout_shapes_are_nutpies():
    """_nutpie_layout reads every variable's shape at its own (jittered) initial point
    instead of nutpie's second initial-point function: the shapes are nutpie's for each
    kind of model a run fits (mixtures nominal and ordinal, with class covariates, logits
    with and without varying intercepts)."""
    from nutpie.compile_pymc import _compute_shapes as nutpies_shapes

    from bayes_cluster.estimators.latent_class import BayesianLatentClass
    from bayes_cluster.estimators.ordinal_latent_class import BayesianOrdinalLatentClass
    from bayes_cluster.inference.sampling import _compute_shapes, _initial_points
    from bayes_cluster.surveys.markusen import MARKUSEN_ITEMS

    frame, _ = simulate_tumang(n=60, seed=3)
    items = list(MARKUSEN_ITEMS)
    models = [
        (BayesianLatentClass(1, collapse="none", items=items), frame),
        (BayesianLatentClass(3, collapse="none", items=items), frame),
        (BayesianOrdinalLatentClass(2, items=items), frame),
        (BayesianOrdinalLatentClass(2, items=items, covariates=["workers"]), frame),
        (BayesianLogit("export", PREDICTORS), frame),
        (BayesianLogit("export", PREDICTORS, group="product_line"), frame),
    ]
    for estimator, data in models:
        model = estimator._build(estimator._prepare_fit(data))
        ours = _compute_shapes(model, _initial_points(model)(0))
        theirs = nutpies_shapes(model)
        assert list(ours) == list(theirs), type(estimator).__name__
        for name in theirs:
            assert tuple(ours[name]) == tuple(theirs[name]), name


def test_draw_diagnostics_of_a_constant_parameter_match_arviz():
    draws = np.ones((1, 2, 50))
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        ours = draw_diagnostics(draws, 0.89)
        reference = _arviz_diagnostics(draws, 0.89)
    for name in ours:
        np.testing.assert_array_equal(ours[name], reference[name])


def test_fast_fitter_repeats_its_numbers_and_keeps_the_convergence_rule():
    """Same seed, same numbers; the verdict is mcmc_diagnostics' on the same draws."""
    from bayes_cluster.inference.diagnostics import mcmc_diagnostics
    from bayes_cluster.inference.sampling import SamplerSettings
    from bayes_cluster.studies.study import BayesianFitter, BayesianVariant

    frame, _ = simulate_tumang(n=60, seed=21)
    settings = SamplerSettings(draws=200, tune=200, chains=2, target_accept=0.9)
    fitter = BayesianFitter(BayesianVariant("bayes"), PREDICTORS, settings, 0.95)
    first = fitter.fit(frame, seed=5)
    again = fitter.fit(frame, seed=5)
    np.testing.assert_array_equal(first.table.to_numpy(), again.table.to_numpy())
    assert (first.divergences, first.r_hat_max) == (again.divergences, again.r_hat_max)
    result = fitter._sample(frame, replace(settings, seed=5, cores=1))
    verdict = mcmc_diagnostics(result.tree, var_names=["alpha", "beta"])
    assert first.converged == verdict.passed
    assert first.ess_bulk_min == pytest.approx(float(verdict.table["ess_bulk"].min()))


@pytest.mark.slow
def test_sbc_of_the_fused_logit_is_uniform():
    """SBC (Talts et al. 2018) of the path a simulation study samples."""
    from bayes_cluster.studies.sbc import sbc_logit

    result = sbc_logit(
        n_simulations=100, n_rank_draws=100, draws=500, tune=500, chains=2, seed=3, fast=True
    )
    assert "fused" in result.verdict()
    assert (result.simulations["r_hat_max"] < 1.05).mean() > 0.95
    assert result.passed, result.verdict()


_FUSED_SCRIPT = """
import json
import numpy as np
from bayes_cluster.estimators.logistic import BayesianLogit
from bayes_cluster.inference.fast_logit import fuse_logit_logp
from bayes_cluster.inference.sampling import _reproducible_compile, compile_pytensor_c
from bayes_cluster.inference.sampling import evaluate_logp
from bayes_cluster.surveys.codebook import TUMANG_PREDICTORS
from bayes_cluster.surveys.simulate import simulate_tumang

frame, _ = simulate_tumang(n=60, seed=3)
logit = BayesianLogit("export", list(TUMANG_PREDICTORS), priors=PRIORS)
prepared = logit._prepare_fit(frame)
model = logit._build(prepared)
with _reproducible_compile():
    compiled = compile_pytensor_c(model)
fused = fuse_logit_logp(compiled, model, logit.resolved_priors())
fused = fused.with_data(**logit._sampler_data(prepared))
value, gradient = evaluate_logp(fused, np.linspace(-1, 1, 8))
print(json.dumps({"hits": fused.compiled_logp_func.cache_hits, "value": value,
                  "gradient": gradient.tolist()}))
"""


def test_the_fused_callback_loads_from_the_disk_cache_and_its_key_names_the_priors(python_json):
    """A study worker loads the fused density compiled by an earlier process; other priors
    (other constants in the loop) never load it."""

    def run(priors) -> dict:
        return python_json(_FUSED_SCRIPT.replace("PRIORS", repr(priors)))

    wide = {"intercept": {"dist": "Normal", "mu": 0.0, "sigma": 11.0}}
    first, again = run(wide), run(wide)  # the first may itself load an earlier run's entry
    assert again["hits"] == 1
    assert again["value"] == first["value"] and again["gradient"] == first["gradient"]
    narrow = run({"intercept": {"dist": "Normal", "mu": 0.0, "sigma": 0.5}})
    assert narrow["value"] != first["value"]  # its own code, with its own constants
    # the loaded callback computes the loop's own numbers
    frame, _ = simulate_tumang(n=60, seed=3)
    logit = BayesianLogit("export", PREDICTORS, priors=wide)
    prepared = logit._prepare_fit(frame)
    resolved = logit.resolved_priors()
    density = _make_fused_logp(
        *fused_prior_arrays(resolved["intercept"], list(resolved["slopes"].values()))
    )
    x = np.linspace(-1, 1, 8)
    value, gradient = density(x, prepared.data["X"], prepared.data["y_obs"].astype(float))
    assert again["value"] == pytest.approx(value, rel=1e-13)
    np.testing.assert_allclose(again["gradient"], gradient, rtol=1e-12, atol=1e-12)


_DIGITS_SCRIPT = """
import hashlib
import json
import numpy as np
from bayes_cluster.estimators.logistic import BayesianLogit
from bayes_cluster.inference.sampling import _reproducible_compile, compile_pytensor_c
from bayes_cluster.inference.sampling import evaluate_logp
from bayes_cluster.surveys.codebook import TUMANG_PREDICTORS
from bayes_cluster.surveys.simulate import simulate_tumang

frame, _ = simulate_tumang(n=60, seed=3)
answer = {}
for group in (None, "product_line"):
    logit = BayesianLogit("export", list(TUMANG_PREDICTORS), group=group)
    prepared = logit._prepare_fit(frame)
    model = logit._build(prepared)
    with _reproducible_compile():
        fused = compile_pytensor_c(model, replace_logp=logit._fused_logp())
    fused = fused.with_data(**logit._sampler_data(prepared))
    digits = hashlib.sha256()
    rng = np.random.default_rng(0)
    for _ in range(300):
        value, gradient = evaluate_logp(fused, rng.normal(0.0, 0.7, fused.n_dim))
        digits.update(np.float64(value).tobytes() + gradient.tobytes())
    answer[str(group)] = [fused.compiled_logp_func.cache_hits, digits.hexdigest()]
print(json.dumps(answer))
"""


@pytest.mark.slow  # two processes, the first compiling both loops on an empty cache
def test_fused_logits_compute_the_same_digits_compiled_or_read_from_the_cache(
    tmp_path, python_json
):
    """The same seed must draw the same chains on a machine's first run (the callbacks
    compiled) as on every later one (read from the disk cache): so the loops' every
    log-density and gradient, to the last bit. With the sums free to reassociate, the
    varying-intercept loop's values differed in 18 of 300 points."""
    import os

    environment = {
        **os.environ,
        "NUMBA_CACHE_DIR": str(tmp_path / "numba"),
        "PYTENSOR_FLAGS": f"base_compiledir={tmp_path / 'pytensor'}",
    }
    compiled = python_json(_DIGITS_SCRIPT, environment)
    loaded = python_json(_DIGITS_SCRIPT, environment)
    for group in ("None", "product_line"):
        assert (compiled[group][0], loaded[group][0]) == (0, 1)  # compiled, then read
        assert loaded[group][1] == compiled[group][1], group


def test_fused_varying_intercepts_match_pymc(python_graphs):
    """The hierarchical logit (half-normal scale, non-centred intercepts) against PyMC."""
    from bayes_cluster.inference.fast_logit import _make_fused_group_logp

    frame, _ = simulate_tumang(n=50, seed=9)
    logit = BayesianLogit(
        "export",
        PREDICTORS,
        group="product_line",
        priors={"group_sd": {"dist": "HalfNormal", "sigma": 0.7}},
    )
    prepared = logit._prepare_fit(frame)
    model = logit._build(prepared)
    names = [rv.name for rv in model.free_RVs]
    assert names == ["alpha_std", "beta_std", "sigma_group", "z_group"]
    resolved = logit.resolved_priors()
    encoded = fused_prior_arrays(resolved["intercept"], list(resolved["slopes"].values()))
    density = _make_fused_group_logp(*encoded, 0.7)
    logp, dlogp = model.compile_logp(), model.compile_dlogp()
    X = prepared.data["X"]
    y = prepared.data["y_obs"]
    group = prepared.data["group_idx"]
    n_groups = len(logit.group_levels_)
    assert n_groups >= 3 and len(set(group.tolist())) == n_groups
    rng = np.random.default_rng(6)
    values = []
    for _ in range(5):
        x = _point(rng, 8 + 1 + n_groups)
        point = {
            "alpha_std": x[0],
            "beta_std": x[1:8],
            "sigma_group_log__": x[8],
            "z_group": x[9:],
        }
        value, gradient = density(x, X, y, group)
        np.testing.assert_allclose(gradient, dlogp(point), rtol=1e-7, atol=1e-9)
        assert value == pytest.approx(float(logp(point)), abs=1e-6)
        values.append((value, float(logp(point))))
    ours, pymc = np.array(values).T
    np.testing.assert_allclose(np.diff(ours), np.diff(pymc), rtol=1e-7, atol=1e-7)


def test_fit_of_the_hierarchical_logit_uses_the_fused_density():
    """``BayesianLogit.fit`` hands nutpie the fused loop for varying intercepts too."""
    from bayes_cluster.inference.sampling import compile_pytensor_c, evaluate_logp

    frame, _ = simulate_tumang(n=40, seed=10)
    logit = BayesianLogit("export", PREDICTORS, group="product_line")
    prepared = logit._prepare_fit(frame)
    model = logit._build(prepared)
    fused = compile_pytensor_c(model, replace_logp=logit._fused_logp())
    graph = fused.compiled_logp_func._pyfunc.__globals__["graph"]
    assert graph.py_func.__name__ == "group_logp"
    # PyMC's own density of the model (the graph evaluated in Python: no compile)
    logp = model.compile_logp(mode="FAST_COMPILE")
    dlogp = model.compile_dlogp(mode="FAST_COMPILE")
    x = _point(np.random.default_rng(1), fused.n_dim)
    point = {"alpha_std": x[0], "beta_std": x[1:8], "sigma_group_log__": x[8], "z_group": x[9:]}
    value, gradient = evaluate_logp(fused, x)
    np.testing.assert_allclose(gradient, dlogp(point), rtol=1e-7, atol=1e-9)
    assert value == pytest.approx(float(logp(point)), abs=1e-6)


@pytest.mark.parametrize("group", [None, "product_line"])
def test_a_fused_logit_compiles_only_the_graphs_expansion(group, python_graphs):
    """With the fused density, ``compile_pytensor_c`` builds no graph log-density (its
    rewrites and compile were most of a fused logit's compile) and the expansion it builds
    is nutpie's: the same values at random points, through the C callback."""
    from bayes_cluster.inference.sampling import (
        _expand_function,
        _nutpie_functions,
        compile_pytensor_c,
        evaluate_expansion,
    )

    frame, _ = simulate_tumang(n=40, seed=12)
    logit = BayesianLogit("export", PREDICTORS, group=group)
    model = logit._build(logit._prepare_fit(frame))
    fused = compile_pytensor_c(model, replace_logp=logit._fused_logp())
    assert fused.logp_func is None and fused.expand_func is not None
    _, _, _, expand_fn, _, shape_info, _ = _nutpie_functions(model, "FAST_COMPILE")
    ours = _expand_function(model, "FAST_COMPILE")
    assert fused.shape_info[0] == shape_info[0]
    rng = np.random.default_rng(4)
    for _ in range(3):
        x = _point(rng, fused.n_dim)
        (expected,) = expand_fn(x)
        (mine,) = ours(x)
        np.testing.assert_array_equal(mine, expected)
        out = evaluate_expansion(fused, x)
        np.testing.assert_allclose(out, expected, rtol=1e-13, atol=1e-15)

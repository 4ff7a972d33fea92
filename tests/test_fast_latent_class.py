"""The latent-class mixtures' hand-written log-density against PyMC's, and its wiring.

``inference/fast_latent_class.py`` replaces PyTensor's compiled log-density of every
latent-class model the run fits (nominal and ordinal, one to three classes, Dirichlet
class shares or the membership logit). These tests hold it to PyMC's own ``logp`` and
``dlogp`` of the same model (graphs evaluated by PyTensor's Python implementation) at
random points, and check that a model of another layout is left to PyTensor.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from bayes_cluster.estimators.latent_class import BayesianLatentClass
from bayes_cluster.estimators.ordinal_latent_class import BayesianOrdinalLatentClass
from bayes_cluster.inference.fast_latent_class import (
    _CLOSE,
    _HEADER,
    fuse_latent_class_logp,
    latent_class_layout,
)
from bayes_cluster.inference.sampling import (
    _nutpie_functions,
    compile_pytensor_c,
    evaluate_expansion,
    evaluate_logp,
)
from bayes_cluster.surveys.simulate import simulate_tumang

COVARIATES = ["workers", "firm_age"]

VARIANTS = [
    # (class, options, K, expected layout (ordinal, weights, K))
    (BayesianLatentClass, {"collapse": "none"}, 1, (False, 0, 1)),
    (BayesianLatentClass, {"collapse": "none"}, 3, (False, 1, 3)),
    (BayesianLatentClass, {"collapse": "three"}, 2, (False, 1, 2)),
    (BayesianLatentClass, {"collapse": "none", "covariates": COVARIATES}, 3, (False, 2, 3)),
    (BayesianOrdinalLatentClass, {}, 1, (True, 0, 1)),
    (BayesianOrdinalLatentClass, {}, 2, (True, 1, 2)),
    (BayesianOrdinalLatentClass, {"covariates": COVARIATES}, 2, (True, 2, 2)),
    (BayesianOrdinalLatentClass, {"covariates": COVARIATES}, 3, (True, 2, 3)),
]


@pytest.fixture(scope="module")
def survey() -> pd.DataFrame:
    frame, _ = simulate_tumang(n=45, seed=11)
    return frame


def _unconstrained(model, x: np.ndarray) -> dict[str, np.ndarray]:
    """nutpie's flat point as PyMC's point: the free variables' values in model order."""
    point, offset = {}, 0
    initial = model.initial_point()
    for rv in model.free_RVs:
        name = model.rvs_to_values[rv].name
        shape = initial[name].shape
        size = int(np.prod(shape))
        point[name] = x[offset : offset + size].reshape(shape)
        offset += size
    assert offset == x.size
    return point


@pytest.mark.parametrize(("cls", "options", "k", "layout"), VARIANTS)
def test_fused_density_matches_pymc(survey, python_graphs, cls, options, k, layout):
    """Through nutpie's C callback (one for every layout), against PyMC's logp and dlogp."""
    model = cls(n_classes=k, **options).build_model(survey)
    assert latent_class_layout(model) == layout
    compiled = compile_pytensor_c(model, replace_logp=fuse_latent_class_logp)
    assert compiled.user_data["fused"][3:6].tolist() == [int(layout[0]), *layout[1:]]
    logp = model.compile_logp(jacobian=True)
    dlogp = model.compile_dlogp(jacobian=True)
    n_dim = sum(model.initial_point()[v.name].size for v in model.value_vars)
    assert compiled.n_dim == n_dim
    rng = np.random.default_rng(k)
    for scale in (0.3, 1.0, 2.5):
        x = rng.normal(0.0, scale, size=n_dim)
        value, gradient = evaluate_logp(compiled, x)
        point = _unconstrained(model, x)
        np.testing.assert_allclose(value, logp(point), rtol=1e-12)
        expected = dlogp(point)
        np.testing.assert_allclose(gradient, expected, rtol=1e-9, atol=1e-9 * abs(expected).max())


def test_fused_density_reports_a_non_finite_gradient_to_nutpie(survey, python_graphs):
    """A NaN in the point: the callback returns code 3 (nutpie's "non-finite gradient"),
    which the loop's element-by-element copy and check must still see."""
    model = BayesianOrdinalLatentClass(n_classes=2).build_model(survey)
    compiled = compile_pytensor_c(model, replace_logp=fuse_latent_class_logp)
    x = np.zeros(compiled.n_dim)
    evaluate_logp(compiled, x)  # finite: no error
    x[-1] = np.nan
    with pytest.raises(RuntimeError, match="^the compiled log-density returned code 3$"):
        evaluate_logp(compiled, x)


@pytest.mark.parametrize("k", [1, 3])
def test_fused_density_with_close_cutpoints_matches_pymc(survey, python_graphs, k):
    """Neighbouring cutpoints closer than ``_CLOSE`` (down to 6e-6 apart, where a middle
    category's probability is a difference that cancels), and far from the classes: the
    loop's stable branch against PyMC's logp and dlogp, with the expansion's theta."""
    model = BayesianOrdinalLatentClass(n_classes=k).build_model(survey)
    compiled = compile_pytensor_c(model, replace_logp=fuse_latent_class_logp)
    logp = model.compile_logp(jacobian=True)
    dlogp = model.compile_dlogp(jacobian=True)
    x = np.random.default_rng(7).normal(0.0, 0.5, size=compiled.n_dim)
    cut = _unconstrained(model, np.arange(compiled.n_dim, dtype=float))
    steps = [name for name in cut if name.startswith("cutpoints")]
    assert len(steps) == 1
    index = cut[steps[0]].astype(int)  # (item, cutpoint): where each lies in x
    assert _CLOSE == 0.01
    x[index[:, 1]] = np.log(_CLOSE) + np.linspace(-0.5, 0.5, index.shape[0])  # either side
    x[index[:4, 2]] = [-8.0, -6.0, -12.0, -4.6]  # 6e-6 to 1e-2 apart
    x[index[4:8, 0]] = [30.0, -30.0, 12.0, -12.0]  # far above and below every class
    value, gradient = evaluate_logp(compiled, x)
    point = _unconstrained(model, x)
    np.testing.assert_allclose(value, logp(point), rtol=1e-12)
    expected = dlogp(point)
    np.testing.assert_allclose(gradient, expected, rtol=1e-9, atol=1e-9 * abs(expected).max())
    _, _, _, expand_fn, _, _, _ = _nutpie_functions(model, "FAST_COMPILE")
    (reference,) = expand_fn(x)
    np.testing.assert_allclose(evaluate_expansion(compiled, x), reference, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize(("cls", "options", "k", "layout"), VARIANTS)
def test_fused_expansion_matches_pytensor(survey, python_graphs, cls, options, k, layout):
    """The draw's named variables (pi or alpha/gamma, theta, mu, cutpoints) as nutpie's."""
    model = cls(n_classes=k, **options).build_model(survey)
    n_dim, n_expanded, _, expand_fn, _, shape_info, _ = _nutpie_functions(model, "FAST_COMPILE")
    compiled = compile_pytensor_c(model, replace_logp=fuse_latent_class_logp)
    assert (compiled.n_dim, compiled.n_expanded) == (n_dim, n_expanded)
    assert compiled.shape_info[0] == shape_info[0]
    rng = np.random.default_rng(10 + k)
    for scale in (0.3, 2.0):
        x = rng.normal(0.0, scale, size=n_dim)
        (expected,) = expand_fn(x)
        np.testing.assert_allclose(
            evaluate_expansion(compiled, x), expected, rtol=1e-12, atol=1e-15
        )


def test_one_callback_for_every_layout(survey):
    """Every layout shares the two compiled callbacks; a wrong length is refused (-1)."""

    first = compile_pytensor_c(
        BayesianLatentClass(n_classes=2).build_model(survey), replace_logp=fuse_latent_class_logp
    )
    second = compile_pytensor_c(
        BayesianOrdinalLatentClass(n_classes=3).build_model(survey),
        replace_logp=fuse_latent_class_logp,
    )
    assert first.compiled_logp_func is second.compiled_logp_func
    assert first.compiled_expand_func is second.compiled_expand_func
    assert first.user_data["fused"].shape == (_HEADER,)
    with pytest.raises(RuntimeError, match="returned code -1"):
        evaluate_logp(first, np.zeros(first.n_dim + 1))
    with pytest.raises(RuntimeError, match="returned code -1"):
        evaluate_expansion(first, np.zeros(first.n_dim + 1))


def test_fused_callback_and_with_data(survey):
    """Through nutpie's C callbacks, after ``with_data`` (another survey, fewer firms)."""

    from bayes_cluster.inference.sampling import compile_pytensor_c, evaluate_logp

    lc = BayesianOrdinalLatentClass(n_classes=2, covariates=COVARIATES)
    model = lc.build_model(survey)
    compiled = compile_pytensor_c(model, replace_logp=fuse_latent_class_logp)
    other, _ = simulate_tumang(n=30, seed=12)
    prepared = lc._prepare_fit(other)
    compiled = compiled.with_data(**lc._sampler_data(prepared))
    reference = lc.build_model(other)
    logp = reference.compile_logp(jacobian=True, mode="FAST_COMPILE")
    dlogp = reference.compile_dlogp(jacobian=True, mode="FAST_COMPILE")
    x = np.random.default_rng(5).normal(size=compiled.n_dim)
    value, gradient = evaluate_logp(compiled, x)
    point = _unconstrained(reference, x)
    np.testing.assert_allclose(value, logp(point), rtol=1e-12)
    np.testing.assert_allclose(gradient, dlogp(point), rtol=1e-9, atol=1e-9)
    # data passed without their answers (stale: the first survey's) read cell by cell
    stale = compiled.with_data(responses=lc._sampler_data(prepared)["responses"] * 1.0)
    stale = stale.with_data(answers=np.full((45, 12), 2.0))
    np.testing.assert_array_equal(evaluate_logp(stale, x)[1], gradient)
    assert evaluate_logp(stale, x)[0] == value
    # the expansion is the loop's too: no graph callback was compiled for it
    assert compiled.expand_func is None and compiled.logp_func is None
    expanded = evaluate_expansion(compiled, x)
    names, slices, _ = compiled.shape_info
    where = dict(zip(names, slices, strict=True))
    # alpha, gamma and mu sum to zero over the classes; cutpoints increase; theta rows sum to 1
    assert abs(expanded[where["alpha"]].sum()) < 1e-12
    theta = expanded[where["theta"]].reshape(2, -1, 5)
    np.testing.assert_allclose(theta.sum(axis=2), 1.0, rtol=1e-12)
    assert (np.diff(expanded[where["cutpoints"]].reshape(-1, 4), axis=1) > 0).all()


def test_other_layouts_keep_pytensor(survey):
    """Items with different categories (a ragged Dirichlet) are not the loop's: None."""
    ragged = survey.copy()
    item = "mk_local_trade"
    ragged[item] = ragged[item].clip(upper=4)  # level 5 never answered
    levels = {name: [1, 2, 3, 4, 5] for name in survey.columns if name.startswith("mk_")}
    levels[item] = [1, 2, 3, 4]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lc = BayesianLatentClass(n_classes=2, collapse="none", levels=levels)
        model = lc.build_model(ragged)
    assert any(rv.name.startswith("theta_levels") for rv in model.free_RVs)
    assert latent_class_layout(model) is None


@pytest.mark.slow
def test_on_an_empty_cache_a_helper_compiles_the_expansion(tmp_path):
    """The helper's command, as ``_callbacks`` runs it, into an empty numba cache:
    afterwards the cache holds the expansion callback and not the log-density (which the
    process that started it compiles meanwhile); ``_in_disk_cache`` tells them apart."""
    import os
    import subprocess
    import sys

    import bayes_cluster.inference.fast_latent_class as m

    environment = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "numba")}
    module = "bayes_cluster.inference.fast_latent_class"

    def run(code: str) -> str:
        done = subprocess.run(
            [sys.executable, "-c", f"import {module} as m; {code}"],
            env=environment,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    check = (
        "print(m._in_disk_cache(m._expand_callback, 'expand'), "
        "m._in_disk_cache(m._logp_callback, 'logp'), m.callbacks_cached())"
    )
    assert run(check) == "False False False"
    helper = subprocess.run(m._helper_command(), env=environment, timeout=300)
    assert helper.returncode == 0
    assert run(check) == "True False False"
    m._callbacks()  # compiled or loaded by this process's cache (the tests above use them)
    assert m.callbacks_cached()

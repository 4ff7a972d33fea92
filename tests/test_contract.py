"""The model contract itself (``inference/base.py``, ``sampling.py``, ``summaries.py``).

A tiny real subclass of :class:`BayesianModel` -- the mean of normal data with known
unit variance, its data in a ``pm.Data`` container -- goes through the one ``fit``: the
compile cache, seeds, provenance, save/load in both formats, the refusals and warnings,
and the display.  The summaries are checked against numpy by hand.
"""

from __future__ import annotations

import functools
import json
import re
from typing import Any

import numpy as np
import pandas as pd
import pymc as pm
import pytest
import xarray as xr

import bayes_cluster
from bayes_cluster.inference import base
from bayes_cluster.inference.base import (
    MODEL_ATTR,
    STATE_ATTR,
    VERSION_ATTR,
    BayesianModel,
    SavedVersionWarning,
    load_model,
)
from bayes_cluster.inference.diagnostics import ConvergenceWarning, mcmc_diagnostics
from bayes_cluster.inference.provenance import data_hash
from bayes_cluster.inference.sampling import (
    SamplerSettings,
    compiled_cache,
    converged,
    sample,
)
from bayes_cluster.inference.summaries import SUMMARY_COLUMNS, hdi, summary_table

DRAWS = {"draws": 300, "tune": 200, "chains": 2}


class NormalMean(BayesianModel):
    r"""Mean of normal data with unit variance.

    .. math::

        \mu \sim \mathcal{N}(0, \sigma_0^2), \qquad y_i \sim \mathcal{N}(\mu, 1)
    """

    default_target_accept = 0.8

    def __init__(self, prior_sd: float = 10.0) -> None:
        self.prior_sd = prior_sd
        self.n_obs_: int | None = None

    def _prepare_fit(self, frame: pd.DataFrame, **options: Any) -> np.ndarray:
        return frame["y"].to_numpy(dtype=float)

    def _build(self, y: np.ndarray) -> pm.Model:
        with pm.Model() as model:
            y_data = pm.Data("y_data", y)
            mu = pm.Normal("mu", 0.0, self.prior_sd)
            pm.Normal("y", mu, 1.0, observed=y_data, shape=y_data.shape)
        return model

    def _compile_key(self, y: np.ndarray) -> tuple:
        return (self.prior_sd, y.size)

    def _sampler_data(self, y: np.ndarray) -> dict[str, np.ndarray]:
        return {"y_data": y}

    def _postprocess(self, raw: xr.DataTree, y: np.ndarray, settings: SamplerSettings):
        self.n_obs_ = int(y.size)
        return raw

    def _diagnostic_variables(self, tree: xr.DataTree) -> list[str]:
        return ["mu"]

    def _fitted_state(self) -> dict[str, Any]:
        return {"n_obs": self.n_obs_}

    def _restore(self, tree: xr.DataTree, state) -> None:
        self.n_obs_ = state["n_obs"]

    def config(self) -> dict[str, Any]:
        return {"prior_sd": self.prior_sd}

    def summary(self, hdi_prob: float | None = None) -> pd.DataFrame:
        posterior = self._require_fit()["posterior"].to_dataset()
        return summary_table(posterior, ["mu"], hdi_prob or 0.94)

    def prior_summary(self) -> pd.DataFrame:
        return pd.DataFrame({"prior": [f"Normal(0, {self.prior_sd})"]}, index=["mu"])

    def sample_prior_predictive(self, *args: Any, **kwargs: Any) -> xr.DataTree:
        raise NotImplementedError

    def sample_posterior_predictive(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError


class OtherModel(NormalMean):
    """Another model class (a file of NormalMean is not one of its fits)."""


def normal_data(seed: int, n: int = 20, mean: float = 1.5) -> pd.DataFrame:
    return pd.DataFrame({"y": np.random.default_rng(seed).normal(mean, 1.0, n)})


@pytest.fixture(scope="module")
def fitted() -> NormalMean:
    model = NormalMean()
    model.fit(normal_data(0), random_seed=11, **DRAWS)
    return model


# ---------------------------------------------------------------- fit


def test_fit_sets_results_provenance_and_a_plausible_posterior(fitted):
    frame = normal_data(0)
    tree = fitted.idata_
    assert isinstance(tree, xr.DataTree)
    assert tree["posterior"]["mu"].shape == (2, 300)
    assert fitted.diagnostics_.passed and converged(tree, ["mu"])
    assert set(fitted.timings_) == {"compile_s", "sample_s", "postprocess_s"}
    assert all(seconds >= 0 for seconds in fitted.timings_.values())
    attrs = tree.attrs
    assert attrs[MODEL_ATTR] == "NormalMean" and attrs["model"] == "NormalMean"
    assert attrs[VERSION_ATTR] == bayes_cluster.__version__
    assert attrs["seed"] == "11" and attrs["data_hash"] == data_hash(frame)
    assert attrs["sampler"] == "nutpie_c" and attrs["target_accept"] == "0.8"
    assert (attrs["draws"], attrs["tune"], attrs["chains"]) == ("300", "200", "2")
    assert json.loads(attrs[STATE_ATTR]) == {"config": {"prior_sd": 10.0}, "state": {"n_obs": 20}}
    assert attrs["diagnostics_verdict"] == fitted.diagnostics_.verdict
    # conjugate posterior: N(sum y / (n + 1/100), 1 / (n + 1/100))
    precision = 20 + 1 / 100
    exact_mean, exact_sd = frame["y"].sum() / precision, precision**-0.5
    row = fitted.summary().loc["mu"]
    assert abs(row["mean"] - exact_mean) < 4 * exact_sd / np.sqrt(row["ess_bulk"])
    assert row["sd"] == pytest.approx(exact_sd, rel=0.15)


def test_same_structure_is_not_compiled_again_and_same_seed_gives_same_draws(fitted):
    # the default backend's entry: the class name leads the model's own compile key
    key = ("nutpie_c", "NormalMean", 10.0, 20)
    assert key in compiled_cache
    compilations = compiled_cache.compilations
    again = NormalMean()
    again.fit(normal_data(0), random_seed=11, **DRAWS)
    assert compiled_cache.compilations == compilations
    assert again.timings_["compile_s"] == 0.0
    np.testing.assert_array_equal(
        again.idata_["posterior"]["mu"].to_numpy(), fitted.idata_["posterior"]["mu"].to_numpy()
    )
    # new data of the same shape: the cached model runs on the new values
    other = NormalMean()
    other.fit(normal_data(1, mean=-3.0), random_seed=11, **DRAWS)
    assert compiled_cache.compilations == compilations
    assert other.summary().loc["mu", "mean"] == pytest.approx(-3.0, abs=0.8)
    different_seed = NormalMean()
    different_seed.fit(normal_data(0), random_seed=12, **DRAWS)
    assert not np.array_equal(
        different_seed.idata_["posterior"]["mu"].to_numpy(),
        fitted.idata_["posterior"]["mu"].to_numpy(),
    )


def test_models_are_compiled_without_numba_fast_math(fitted):
    # With PyTensor's default numba fast-math, LLVM may reassociate and contract across the
    # graph's functions when it compiles them together (a model's first compile on a
    # machine) but not when it reads them from the disk cache: the same seed then drew
    # other chains on a cold cache than on a warm one (a latent class fit's R-hat verdict
    # changed with them in a cold CI run). The compile cache turns fast-math off for what
    # it compiles, and only for that.
    import pytensor

    NormalMean().fit(normal_data(0), random_seed=11, sampler="nutpie", **DRAWS)
    compiled = compiled_cache._compiled[("NormalMean", 10.0, 20)]
    assert compiled.logp_func.vm.jit_fn.targetoptions["fastmath"] is False
    assert compiled.expand_func.vm.jit_fn.targetoptions["fastmath"] is False
    assert pytensor.config.numba__fastmath is True  # the user's setting is left as it was


def test_pymc_backend_samples_the_same_model_without_the_cache():
    model = NormalMean(prior_sd=5.0)
    compilations = compiled_cache.compilations
    model.fit(normal_data(0), random_seed=3, sampler="pymc", cores=1, **DRAWS)
    assert compiled_cache.compilations == compilations  # PyTensor caches its own C code
    assert ("NormalMean", 5.0, 20) not in compiled_cache
    assert model.idata_.attrs["sampler"] == "pymc" and model.diagnostics_.passed
    assert model.idata_["posterior"]["mu"].shape == (2, 300)
    assert model.timings_["compile_s"] > 0
    # the same posterior as nutpie's, within Monte Carlo error
    precision = 20 + 1 / 25
    exact_mean = normal_data(0)["y"].sum() / precision
    row = model.summary().loc["mu"]
    assert abs(row["mean"] - exact_mean) < 4 * precision**-0.5 / np.sqrt(row["ess_bulk"])


def test_nutpie_c_backend_gives_nutpie_draws_and_reuses_its_compile(fitted):
    # the same sampler (nutpie's) on the same log-density: fitted used the default backend,
    # nutpie_c (PyTensor's compiled functions behind cached C callbacks); this one nutpie's
    # own numba module
    assert fitted.idata_.attrs["sampler"] == "nutpie_c"
    model = NormalMean()
    model.fit(normal_data(0), random_seed=11, sampler="nutpie", **DRAWS)
    assert ("NormalMean", 10.0, 20) in compiled_cache
    assert model.idata_.attrs["sampler"] == "nutpie" and model.diagnostics_.passed
    # the same draws to the last bit: both compile the same graph without fast-math
    np.testing.assert_array_equal(
        model.idata_["posterior"]["mu"].to_numpy(), fitted.idata_["posterior"]["mu"].to_numpy()
    )
    compilations = compiled_cache.compilations
    other = NormalMean()
    other.fit(normal_data(1, mean=-3.0), random_seed=11, sampler="nutpie_c", **DRAWS)
    assert compiled_cache.compilations == compilations
    assert other.timings_["compile_s"] == 0.0
    assert other.summary().loc["mu", "mean"] == pytest.approx(-3.0, abs=0.8)


def test_compile_pytensor_c_matches_pymc_logp_and_gradient_on_new_data():
    from bayes_cluster.inference.sampling import compile_pytensor_c, evaluate_logp

    rng = np.random.default_rng(5)
    with pm.Model() as model:
        x = pm.Data("x", rng.normal(size=(30, 2)))
        y = pm.Data("y", rng.integers(0, 2, 30))  # integer data: pm.Data keeps int32
        beta = pm.Normal("beta", 0.0, 2.0, shape=2)
        sigma = pm.HalfNormal("sigma", 1.0)
        pm.Bernoulli("obs", logit_p=sigma * pm.math.dot(x, beta), observed=y)
    compiled = compile_pytensor_c(model)
    new_x, new_y = rng.normal(size=(30, 2)), rng.integers(0, 2, 30)  # int64
    value_fn = model.compile_logp()
    gradient_fn = model.compile_dlogp()
    pm.set_data({"x": new_x, "y": new_y}, model=model)
    for _ in range(3):
        point = rng.normal(size=3)  # beta, then log(sigma) (nutpie's order: free RVs)
        # the data as nutpie hands it over after with_data (int64 cast to the container's)
        value, gradient = evaluate_logp(compiled.with_data(x=new_x, y=new_y), point)
        names = {"beta": point[:2], "sigma_log__": point[2]}
        assert value == pytest.approx(value_fn(names), rel=1e-10)
        np.testing.assert_allclose(gradient, gradient_fn(names), rtol=1e-10)


def test_compile_pytensor_c_density_returns_nutpies_codes_for_non_finite_results():
    from bayes_cluster.inference.sampling import compile_pytensor_c, evaluate_logp

    with pm.Model() as model:
        mu = pm.Normal("mu", 0.0, 1.0)
        pm.Normal("obs", mu, 1.0, observed=np.zeros(3))
    compiled = compile_pytensor_c(model)
    value, gradient = evaluate_logp(compiled, np.array([1.0]))
    assert value == pytest.approx(-4 * 0.5 * np.log(2 * np.pi) - 0.5 - 1.5)
    assert gradient.tolist() == [-4.0]
    # a finite gradient (-4e155) but a log-density of -inf: code 4
    with pytest.raises(RuntimeError, match="^the compiled log-density returned code 4$"):
        evaluate_logp(compiled, np.array([1e155]))
    # a non-finite gradient: code 3
    with pytest.raises(RuntimeError, match="^the compiled log-density returned code 3$"):
        evaluate_logp(compiled, np.array([np.inf]))


def test_compile_pytensor_c_density_releases_the_gil_and_runs_on_threads_side_by_side():
    # nutpie's chain threads call the C log-density at once: the graph function is compiled
    # with nogil and keeps no state, so concurrent calls give the serial results
    from concurrent.futures import ThreadPoolExecutor

    import pytensor
    import pytensor.tensor as pt

    from bayes_cluster.inference.callbacks import _inlinable_graph
    from bayes_cluster.inference.sampling import (
        _nogil_numba_mode,
        compile_pytensor_c,
        evaluate_logp,
    )

    x = pt.vector("x")
    function = pytensor.function([x], (x**2).sum(), mode=_nogil_numba_mode())
    assert function(np.arange(3.0)) == 5.0
    assert function.vm.jit_fn.targetoptions["nogil"] is True
    rng = np.random.default_rng(7)
    with pm.Model() as model:
        y = pm.Data("y", rng.normal(size=50))
        mu = pm.Normal("mu", 0.0, 5.0, shape=2)
        sigma = pm.HalfNormal("sigma", 1.0)
        pm.Normal("obs", mu[0] + mu[1], sigma, observed=y)
    compiled = compile_pytensor_c(model)
    assert compiled.logp_func.vm.jit_fn.targetoptions["nogil"] is True
    # the callbacks inline the graph's function rather than link PyTensor's wrapper
    # (which would compile the graph's code a second time on a cold cache)
    graph = compiled.logp_func.vm.jit_fn
    assert _inlinable_graph(graph).py_func is graph.py_func.__globals__["jitable_func"].py_func
    points = rng.normal(size=(400, 3))
    serial = [evaluate_logp(compiled, point) for point in points]

    def evaluate(chunk: np.ndarray) -> list:
        return [evaluate_logp(compiled, point) for point in chunk]

    with ThreadPoolExecutor(4) as pool:
        threaded = [result for part in pool.map(evaluate, np.split(points, 4)) for result in part]
    for (value, gradient), (again, again_gradient) in zip(serial, threaded, strict=True):
        assert value == again
        np.testing.assert_array_equal(gradient, again_gradient)


def test_compile_pytensor_c_accepts_data_its_functions_never_read():
    # a one-class ordinal model passes its location prior's SD, which nothing reads when
    # there are no locations: with_data must take it (it raised "Unknown data variable")
    from bayes_cluster.inference.sampling import compile_pytensor_c, evaluate_logp

    rng = np.random.default_rng(6)
    with pm.Model() as model:
        y = pm.Data("y", rng.normal(size=20))
        pm.Data("unused_sd", 2.0)
        mu = pm.Normal("mu", 0.0, 5.0)
        pm.Normal("obs", mu, 1.0, observed=y)
    compiled = compile_pytensor_c(model)
    new_y = rng.normal(size=20)
    value, _ = evaluate_logp(compiled.with_data(y=new_y, unused_sd=np.array(7.0)), np.array([0.3]))
    pm.set_data({"y": new_y}, model=model)
    assert value == pytest.approx(model.compile_logp()({"mu": 0.3}), rel=1e-12)


# the model both processes compile (the test's and a new one)
_CALLBACK_MODEL = """
rng = np.random.default_rng(8)
with pm.Model() as model:
    y = pm.Data("y", rng.normal(size=25))
    mu = pm.Normal("mu", 0.0, 5.0)
    sigma = pm.HalfNormal("sigma", 1.0)
    pm.Normal("obs", mu, sigma, observed=y)
"""

_CALLBACK_SCRIPT = (
    """
import json, sys
import numpy as np
import pymc as pm
from bayes_cluster.inference.sampling import (
    _reproducible_compile, compile_pytensor_c, evaluate_logp,
)
"""
    + _CALLBACK_MODEL
    + """
with _reproducible_compile():
    compiled = compile_pytensor_c(model)
value, gradient = evaluate_logp(compiled, np.array([0.4, -0.2]))
print(json.dumps({
    "hits": [compiled.compiled_logp_func.cache_hits, compiled.compiled_expand_func.cache_hits],
    "value": value,
    "gradient": gradient.tolist(),
}))
"""
)


def test_compile_pytensor_c_callbacks_load_from_the_disk_cache_in_a_new_process(python_json):
    # the point of the backend: a structure compiled once is read from ~/.pytensor by every
    # later process (nutpie's own callbacks are compiled afresh in each, 20-30 s)
    from bayes_cluster.inference.sampling import (
        _reproducible_compile,
        compile_pytensor_c,
        evaluate_logp,
    )

    namespace = {"np": np, "pm": pm}
    exec(_CALLBACK_MODEL, namespace)  # noqa: S102 - the test's own code
    model = namespace["model"]
    with _reproducible_compile():
        compiled = compile_pytensor_c(model)  # compiled here, or read from the cache
    value, gradient = evaluate_logp(compiled, np.array([0.4, -0.2]))
    again = python_json(_CALLBACK_SCRIPT)
    assert again["hits"] == [1, 1]  # both callbacks read from the disk cache
    assert again["value"] == value
    assert again["gradient"] == gradient.tolist()
    # and the value is the model's, as PyMC's own log-density function gives it
    point = {"mu": 0.4, "sigma_log__": -0.2}
    assert value == pytest.approx(model.compile_logp()(point), rel=1e-12)
    np.testing.assert_allclose(gradient, model.compile_dlogp()(point), rtol=1e-10)


def test_sample_needs_a_target_acceptance():
    with pytest.raises(ValueError) as error:
        sample(pm.Model, key=("x",), data={}, settings=SamplerSettings())
    assert str(error.value) == (
        "settings.target_accept is unset: call settings.with_defaults(...)"
    )


def test_a_fit_that_fails_its_checks_warns_and_shows_it(monkeypatch, fitted):
    # an ESS threshold no fit of 600 draws can reach (diagnostics' own code otherwise)
    strict = functools.partial(mcmc_diagnostics, ess_min=10**6)
    monkeypatch.setattr(base, "mcmc_diagnostics", strict)
    monkeypatch.setattr("bayes_cluster.inference.diagnostics.ESS_FRACTION", 10.0**6)
    model = NormalMean()
    with pytest.warns(ConvergenceWarning, match=r"^NormalMean FAILED its convergence checks"):
        model.fit(normal_data(0), random_seed=11, **DRAWS)
    assert model.idata_ is not None and not model.diagnostics_.passed
    page = model._repr_html_()
    assert '<p style="color:#D55E00"><b>Convergence: bulk ESS &lt; 1e+06 for 1 of 1' in page
    passed = fitted._repr_html_()
    assert '<p style="color:#009E73"><b>Convergence: passed</b></p>' in passed
    assert passed.startswith("<p><b>NormalMean</b></p>") and "<th>mu</th>" in passed
    assert NormalMean()._repr_html_() == (
        "<p><b>NormalMean</b> (not fitted)</p><table><tr><th>prior_sd</th><td>10.0</td></tr>"
        "</table>"
    )
    assert repr(fitted) == "NormalMean(prior_sd=10.0) [fitted]"


def test_sampler_settings_refuse_bad_values_with_exact_messages():
    cases = [
        ({"draws": 0}, "draws must be a positive whole number, got 0"),
        ({"chains": 1.5}, "chains must be a positive whole number, got 1.5"),
        ({"tune": float("nan")}, "tune must be a non-negative whole number, got nan"),
        ({"draws": None}, "draws must be a positive whole number, got None"),
        ({"draws": True}, "draws must be a positive whole number, got True"),
        ({"backend": "stan"}, "sampler must be 'nutpie', 'nutpie_c' or 'pymc', got 'stan'"),
        ({"target_accept": 1.0}, "target_accept must be strictly between 0 and 1, got 1.0"),
        ({"target_accept": "high"}, "target_accept must be strictly between 0 and 1, got 'high'"),
        ({"cores": 0}, "cores must be a positive whole number, got 0"),
        ({"tune": -1}, "tune must be a non-negative whole number, got -1"),
        ({"draws": float("inf")}, "draws must be a positive whole number, got inf"),
    ]
    for settings, message in cases:
        with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
            SamplerSettings(**settings)
    assert (
        SamplerSettings(draws=10.0).draws == 10 and type(SamplerSettings(draws=10.0).draws) is int
    )
    assert SamplerSettings().with_defaults(target_accept=0.95).target_accept == 0.95
    assert (
        SamplerSettings(target_accept=0.7).with_defaults(target_accept=0.95).target_accept == 0.7
    )


def test_fit_checks_its_settings_before_any_work():
    model = NormalMean()
    with pytest.raises(ValueError, match=r"^draws must be a positive whole number, got 0$"):
        model.fit(normal_data(0), draws=0)
    with pytest.raises(
        ValueError, match=r"^sampler must be 'nutpie', 'nutpie_c' or 'pymc', got 'stan'$"
    ):
        model.fit(normal_data(0), sampler="stan")
    assert model.idata_ is None
    with pytest.raises(RuntimeError, match=r"^NormalMean is not fitted yet: call fit\(\) first$"):
        model.summary()


# ---------------------------------------------------------------- save / load


@pytest.mark.parametrize("suffix", [".nc", ".zarr"])
def test_save_load_round_trip(fitted, tmp_path, suffix):
    path = fitted.save(tmp_path / f"fit{suffix}")
    assert path == tmp_path / f"fit{suffix}"
    assert not list(tmp_path.glob(".*.tmp"))  # the temporary name is gone
    loaded = NormalMean.load(path)
    assert type(loaded) is NormalMean and loaded.prior_sd == 10.0 and loaded.n_obs_ == 20
    pd.testing.assert_frame_equal(loaded.summary(), fitted.summary())
    assert loaded.diagnostics_.verdict == fitted.diagnostics_.verdict
    assert loaded.idata_.attrs[MODEL_ATTR] == "NormalMean"
    # the base class and load_model dispatch on the class named in the file
    assert type(BayesianModel.load(path)) is NormalMean
    assert type(load_model(path)) is NormalMean
    assert bayes_cluster.load_model is load_model  # the name the refusal messages give


def test_netcdf_written_by_netcdf4_reads_the_same_everywhere(fitted, tmp_path):
    """save() writes with netCDF-C (write_netcdf): h5netcdf and netCDF4 read the same tree
    from it as from the file h5netcdf, the writer before, makes of the same fit, and every
    numeric variable holds the fit's values and dtype."""
    path = fitted.save(tmp_path / "fit.nc")
    assert path.read_bytes()[:8] == b"\x89HDF\r\n\x1a\n"  # NetCDF-4 is HDF5
    before = tmp_path / "by_h5netcdf.nc"
    fitted.idata_.to_netcdf(before, engine="h5netcdf")
    reference = xr.open_datatree(before, engine="h5netcdf").load()
    for engine in ("h5netcdf", "netcdf4"):
        read = xr.open_datatree(path, engine=engine).load()
        assert read.identical(reference), engine
    assert set(read.groups) == set(fitted.idata_.groups)
    for group in fitted.idata_.groups[1:]:
        written = fitted.idata_[group].to_dataset()
        for name, variable in written.data_vars.items():
            if variable.dtype.kind in "biuf":
                assert read[group][name].dtype == variable.dtype, (group, name)
                np.testing.assert_array_equal(read[group][name].values, variable.values)
    assert read.attrs[MODEL_ATTR] == "NormalMean"
    assert read.attrs[STATE_ATTR] == fitted.idata_.attrs[STATE_ATTR]


def test_load_refuses_other_files_with_exact_messages(fitted, tmp_path):
    path = fitted.save(tmp_path / "fit.nc")
    with pytest.raises(ValueError) as error:
        OtherModel.load(path)
    assert str(error.value) == (
        f"{str(path)!r} holds a NormalMean fit, not a OtherModel: load it with "
        "NormalMean.load() or bayes_cluster.load_model()"
    )
    plain = tmp_path / "plain.nc"
    xr.DataTree(xr.Dataset({"x": ("i", [1.0, 2.0])})).to_netcdf(plain, engine="h5netcdf")
    with pytest.raises(ValueError) as error:
        load_model(plain)
    assert str(error.value) == (
        f"{str(plain)!r} was not written by a bayes_cluster model's save() "
        "(no 'bayes_cluster_model' attribute)"
    )
    text = tmp_path / "notes.nc"
    text.write_text("not a netcdf file", encoding="utf-8")
    with pytest.raises(ValueError, match=rf"^{re.escape(repr(str(text)))} is not a saved model"):
        NormalMean.load(text)
    with pytest.raises(FileNotFoundError, match="^no saved model at "):
        NormalMean.load(tmp_path / "missing.nc")
    with pytest.raises(ValueError, match=r"^save path must end in \.nc or \.zarr, got "):
        fitted.save(tmp_path / "fit.pickle")
    with pytest.raises(RuntimeError, match="is not fitted yet"):
        NormalMean().save(tmp_path / "unfitted.nc")


def _rewrite_attr(path, tmp_path, name, value):
    tree = xr.open_datatree(path, engine="h5netcdf").load()
    tree.attrs[name] = value
    edited = tmp_path / f"edited_{name}.nc"
    tree.to_netcdf(edited, engine="h5netcdf")
    return edited


def test_a_file_of_another_version_or_unknown_class(fitted, tmp_path):
    path = fitted.save(tmp_path / "fit.nc")
    old = _rewrite_attr(path, tmp_path, VERSION_ATTR, "0.0.1")
    message = (
        f"{str(old)!r} was saved by bayes_cluster 0.0.1; this is {bayes_cluster.__version__}. "
        "The posterior is read as saved; re-fit to get this version's results."
    )
    with pytest.warns(SavedVersionWarning, match=f"^{re.escape(message)}$"):
        loaded = load_model(old)
    pd.testing.assert_frame_equal(loaded.summary(), fitted.summary())
    unknown = _rewrite_attr(path, tmp_path, MODEL_ATTR, "RetiredModel")
    with pytest.raises(ValueError) as error:
        load_model(unknown)
    assert str(error.value) == (
        f"{str(unknown)!r} holds a RetiredModel fit, a model this version of bayes_cluster "
        "does not have"
    )


# ---------------------------------------------------------------- summaries by hand


def test_hdi_of_known_samples():
    # by hand: 8 of 10 sorted draws span index 0..8 (width 8) or 1..9 (width 99)
    assert hdi(np.array([5, 0, 1, 2, 3, 4, 100, 6, 7, 8.0]), 0.8) == (0.0, 8.0)
    # spans of 4 index steps: 1.3 - 0, 5 - 1, 9 - 1.1, 10 - 1.2 -> the first is shortest
    assert hdi(np.array([0, 1, 1.1, 1.2, 1.3, 5, 9, 10]), 0.5) == (0.0, 1.3)
    assert hdi(np.array([3.0]), 0.9) == (3.0, 3.0)
    # the shortest 90% interval of Exp(1) is [0, -log(0.1)] (a skewed posterior)
    draws = np.random.default_rng(0).exponential(size=200_000)
    low, high = hdi(draws, 0.9)
    assert low == pytest.approx(0.0, abs=1e-3) and high == pytest.approx(-np.log(0.1), abs=0.02)
    # of N(0, 1) it is the central interval +-1.6449 (norm.ppf(0.95))
    low, high = hdi(np.random.default_rng(1).normal(size=200_000), 0.9)
    assert low == pytest.approx(-1.6449, abs=0.02) and high == pytest.approx(1.6449, abs=0.02)


def test_summary_table_against_numpy_by_hand():
    from arviz_stats.base import array_stats

    rng = np.random.default_rng(4)
    mu = rng.normal(2.0, 0.5, size=(2, 400))
    theta = rng.gamma(2.0, size=(2, 400, 3))
    posterior = xr.Dataset(
        {"mu": (("chain", "draw"), mu), "theta": (("chain", "draw", "item"), theta)},
        coords={"item": ["a", "b", "c"]},
    )
    table = summary_table(posterior, ["theta", "mu"], 0.9)
    assert list(table.columns) == list(SUMMARY_COLUMNS)
    assert list(table.index) == ["theta[a]", "theta[b]", "theta[c]", "mu"]
    assert table.index.name == "parameter"
    for label, draws in [
        ("mu", mu),
        *((f"theta[{c}]", theta[..., i]) for i, c in enumerate("abc")),
    ]:
        row = table.loc[label]
        flat = np.sort(draws.ravel())
        assert row["mean"] == pytest.approx(flat.mean(), rel=1e-12)
        assert row["sd"] == pytest.approx(np.std(flat, ddof=1), rel=1e-12)
        # shortest window of floor(0.9 * 800) = 720 index steps
        widths = flat[720:] - flat[:80]
        start = int(np.argmin(widths))
        assert (row["hdi_lower"], row["hdi_upper"]) == (flat[start], flat[start + 720])
        assert row["r_hat"] == pytest.approx(float(array_stats.rhat(draws)), rel=1e-10)
        assert row["ess_bulk"] == pytest.approx(float(array_stats.ess(draws, method="bulk")))
        assert row["ess_tail"] > 0
    # a parameter without diagnostics gets NaN there, never a made-up number
    empty = summary_table(posterior, ["mu"], 0.9, diagnostics=pd.DataFrame(
        columns=["r_hat", "ess_bulk", "ess_tail"]))  # fmt: skip
    assert empty.loc["mu", ["r_hat", "ess_bulk", "ess_tail"]].isna().all()


def test_loo_is_computed_once_per_fit(fitted):
    """A run reads each fit's PSIS-LOO several times (the choice of K, ordinal against
    nominal, the stacking weights): it is computed once, and again for a new fit."""
    import arviz_stats as azs
    from scipy.stats import norm

    y = normal_data(0)["y"].to_numpy()
    mu = fitted.idata_["posterior"]["mu"].to_numpy()
    pointwise = xr.DataArray(norm.logpdf(y, mu[..., None], 1.0), dims=("chain", "draw", "obs"))
    tree = fitted.idata_.copy()
    tree["log_likelihood"] = xr.DataTree(xr.Dataset({"y": pointwise}))
    model = NormalMean()
    model.loo_variable = "y"
    model.idata_ = tree
    first = model.loo()
    assert model.loo() is first
    assert first.elpd == azs.loo(tree, pointwise=True, var_name="y").elpd
    # about the sum of the log predictive densities of a well-fitted normal mean
    assert first.elpd == pytest.approx(norm.logpdf(y, mu.mean(), 1.0).sum(), abs=2.0)
    model.idata_ = tree.copy()  # another fit
    assert model.loo() is not first

"""The one place MCMC runs: sampler settings, the compile cache, the convergence rule.

Every Bayesian fit of the package (a model's ``fit``, a simulation-study replicate, a
simulation-based-calibration draw) samples through
:func:`sample`. It

* takes one :class:`SamplerSettings` (draws, tune, chains, seed, target acceptance,
  backend, cores, progress bar), validated once;
* compiles a PyMC model with nutpie **once per compile key** (the model's class name and
  everything that fixes its graph: form, priors, data shapes) and re-runs the compiled
  model on new data with ``compiled.with_data(...)`` -- a study of 1,000 replicates pays
  one compile per worker;
* with ``backend="nutpie_c"`` hands nutpie's NUTS (Rust, chains on threads) the model's
  log-density and gradient as PyTensor functions in PyTensor's default mode (FAST_RUN,
  which in PyTensor 3.3 compiles with numba) instead of nutpie's own numba module,
  wrapped in C callbacks that are cached on disk with them (:func:`compile_pytensor_c`):
  a model structure compiled once on a machine loads in a second or two in every new
  process (nutpie's module needs 20-30 s per model structure, each process anew; the
  backend's name is from PyTensor 2, whose default mode was C), and the chains evaluate
  it side by side without a Python call per gradient; compiled models are cached and
  re-used with ``with_data``;
* runs PyMC's own NUTS instead with ``backend="pymc"`` (no cache: PyTensor caches its
  compiled code on disk);
* returns the raw ``xarray.DataTree`` and the seconds spent compiling and sampling.

The convergence rule is :func:`converged` (R-hat, ESS, divergences and E-BFMI of
:func:`bayes_cluster.inference.diagnostics.mcmc_diagnostics`); studies and models judge
a fit by the same rule.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, replace
from numbers import Real
from typing import Any, Literal

import numpy as np
import xarray as xr

from bayes_cluster.inference.callbacks import _cfunc_source, _nutpie_cfunc

__all__ = [
    "BACKENDS",
    "CompiledCache",
    "SampleResult",
    "SamplerSettings",
    "clear_compiled_cache",
    "compile_nutpie_numba",
    "compile_pytensor_c",
    "compiled_cache",
    "converged",
    "sample",
]

Backend = Literal["nutpie", "nutpie_c", "pymc"]
BACKENDS: tuple[str, ...] = ("nutpie", "nutpie_c", "pymc")


def _is_whole(value: object) -> bool:
    """Whether ``value`` is a finite whole number (``10`` or ``10.0``; not True, nan, "10")."""
    if isinstance(value, bool) or not isinstance(value, Real):
        return False
    return math.isfinite(value) and int(value) == value


@dataclass(frozen=True)
class SamplerSettings:
    """MCMC settings of one fit.

    Parameters
    ----------
    draws : int, default 1000
        Draws kept per chain after warm-up.
    tune : int, default 1000
        Warm-up (adaptation) iterations per chain, discarded (0: none).
    chains : int, default 4
        Independent chains (R-hat needs at least 2).
    seed : int, optional
        Random seed; the same seed gives the same draws.
    target_accept : float, optional
        NUTS target acceptance rate; ``None`` lets the model choose (0.9 for most, 0.99
        for the horseshoe).
    backend : {"nutpie_c", "nutpie", "pymc"}, default "nutpie_c"
        nutpie's NUTS on PyTensor's compiled functions called through cached C callbacks
        (cached on disk, so a model structure compiles once per machine, see
        :func:`compile_pytensor_c`), nutpie on its own numba module (the same draws at
        the same speed per draw, but compiled anew in every process: 20-40 s per model
        structure; the simulation study's fused logit density needs it), or PyMC's NUTS.
    cores : int, optional
        Chains run in parallel on this many threads (nutpie, nutpie_c) or processes (pymc);
        ``None``: nutpie's own choice, and one process for pymc (forking workers from a
        threaded process is unsafe and was no faster on 2 cores).
    progressbar : bool, default False
        Show the sampler's progress bar.

    Raises
    ------
    ValueError
        On a setting outside its range, naming the setting and the value.
    """

    draws: int = 1000
    tune: int = 1000
    chains: int = 4
    seed: int | None = None
    target_accept: float | None = None
    backend: Backend = "nutpie_c"
    cores: int | None = None
    progressbar: bool = False

    def __post_init__(self) -> None:
        # tune = 0 is allowed (no warm-up: both samplers accept it; a study spec may ask)
        for name, minimum in (("draws", 1), ("tune", 0), ("chains", 1)):
            value = getattr(self, name)
            if not _is_whole(value) or value < minimum:
                kind = "positive" if minimum else "non-negative"
                raise ValueError(f"{name} must be a {kind} whole number, got {value!r}")
            object.__setattr__(self, name, int(value))
        if self.backend not in BACKENDS:
            raise ValueError(
                f"sampler must be 'nutpie', 'nutpie_c' or 'pymc', got {self.backend!r}"
            )
        if self.target_accept is not None and not (
            isinstance(self.target_accept, Real) and 0 < self.target_accept < 1
        ):
            raise ValueError(
                f"target_accept must be strictly between 0 and 1, got {self.target_accept!r}"
            )
        if self.cores is not None and (not _is_whole(self.cores) or self.cores < 1):
            raise ValueError(f"cores must be a positive whole number, got {self.cores!r}")

    def with_defaults(self, *, target_accept: float) -> SamplerSettings:
        """Return these settings with the model's target acceptance filled in if unset.

        Parameters
        ----------
        target_accept : float
            The model's default target acceptance.

        Returns
        -------
        SamplerSettings
        """
        if self.target_accept is not None:
            return self
        return replace(self, target_accept=target_accept)

    def to_dict(self) -> dict[str, Any]:
        """Return the settings as a plain dictionary (for provenance attrs).

        Returns
        -------
        dict
        """
        return asdict(self)


@dataclass
class SampleResult:
    """The raw output of :func:`sample`.

    Attributes
    ----------
    tree : xarray.DataTree
        The sampler's DataTree (``posterior``, ``sample_stats``).
    compile_seconds : float
        Seconds spent building and compiling (0 when the compiled model was cached).
    sample_seconds : float
        Seconds spent sampling.
    model : pymc.Model or None
        The PyMC model when it was built during this call, else None.
    """

    tree: xr.DataTree
    compile_seconds: float
    sample_seconds: float
    model: Any = None


def _reproducible_compile() -> Any:
    """Return the PyTensor settings every model of the package is compiled under.

    Without numba's fast-math (PyTensor's default turns it on): with it, a model compiled
    afresh drew different chains (same seed) from the same model read from the on-disk
    cache, most likely because LLVM may reassociate and contract across graph functions
    only when it compiles them together (measured: a latent class fit's draws differed,
    cold against warm, and its R-hat verdict with them; identical without fast-math, at the
    same speed). Scoped: the user's own setting is left as it was.

    Returns
    -------
    contextlib.AbstractContextManager
        ``pytensor.config.change_flags(numba__fastmath=False)``.
    """
    import pytensor

    return pytensor.config.change_flags(numba__fastmath=False)


class CompiledCache:
    """Compiled nutpie models, keyed by model structure (one per process).

    A key is ``(model class name, *structure)`` where the structure is everything that
    fixes the compiled graph (form, priors, data shapes); values that change from fit to
    fit (the data) are swapped in with ``with_data``.
    """

    def __init__(self) -> None:
        self._compiled: dict[tuple, Any] = {}
        self.compilations = 0

    def __len__(self) -> int:
        return len(self._compiled)

    def __contains__(self, key: tuple) -> bool:
        return key in self._compiled

    def get_or_compile(
        self,
        key: tuple,
        build: Callable[[], Any],
        compile_with: Callable[[Any, Any], Any] | None = None,
        compiler: Callable[[Any], Any] | None = None,
    ) -> tuple[Any, Any, float]:
        """Return ``(compiled, model or None, seconds)``, compiling ``build()`` on a miss.

        Parameters
        ----------
        key : tuple
            Hashable compile key.
        build : callable
            Returns the PyMC model to compile.
        compile_with : callable, optional
            ``compile_with(compiled, model)`` returns a replacement of nutpie's compiled
            model (e.g. :func:`bayes_cluster.inference.fast_logit.fuse_logit_logp`), or
            ``None`` to keep it; the result is what the cache holds under ``key``.
        compiler : callable, optional
            Compiles the PyMC model (default ``nutpie.compile_pymc_model``, numba;
            :func:`compile_pytensor_c` for PyTensor's disk-cached compiled functions); with
            ``compile_with`` it is called as ``compiler(model, replace_logp=compile_with)``
            (default :func:`compile_nutpie_numba`), so that the graph's log-density is
            compiled only when the replacement declines.

        Returns
        -------
        tuple
            The compiled nutpie model, the PyMC model if it was built now (else None),
            and the seconds spent.
        """
        if key in self._compiled:
            return self._compiled[key], None, 0.0
        import nutpie

        started = time.perf_counter()
        model = build()
        with _reproducible_compile():
            if compile_with is not None:
                # the replacement's own log-density: the graph's is compiled only if it
                # declines
                compiler = compile_nutpie_numba if compiler is None else compiler
                compiled = compiler(model, replace_logp=compile_with)
            else:
                compiled = (nutpie.compile_pymc_model if compiler is None else compiler)(model)
        self._compiled[key] = compiled
        self.compilations += 1
        return self._compiled[key], model, time.perf_counter() - started

    def clear(self) -> None:
        """Forget every compiled model (the next fit of each structure compiles again)."""
        self._compiled.clear()


def _nutpie_functions(model: Any, mode: Any) -> tuple:
    """Compile the model's functions as :func:`nutpie.compile_pymc_model` does, in ``mode``.

    Initial points as nutpie's: the support point, every free variable jittered. Returns
    ``nutpie.compile_pymc._make_functions``'s tuple (``n_dim``, ``n_expanded``, the
    log-density and expansion functions, the initial point function, shape information,
    reparameterised names), the expansion joined into one vector.
    """
    from nutpie.compile_pymc import _make_functions

    return _make_functions(
        model,
        mode=mode,
        compute_grad=True,
        join_expanded=True,
        pymc_initial_point_fn=_initial_points(model),
        var_names=None,
    )


def _expand_function(model: Any, mode: Any) -> Any:
    """Compile only the expansion of a draw, as :func:`_nutpie_functions` compiles it.

    The same graph as nutpie's ``_make_functions`` builds for it (the point split into the
    free variables, then every other unobserved variable, joined into one vector), so the
    same compiled function (and PyTensor cache entry); the log-density and its gradient,
    which a model with its own log-density does not use, are not built (their rewrites,
    and their compile on an empty cache, were most of a fused logit's compile).
    """
    import pytensor.tensor as pt
    from nutpie.compile_pymc import _compute_shapes
    from pymc.pytensorf import compile as compile_pymc

    shapes = _compute_shapes(model)
    names, slices, free_shapes, count = [], [], [], 0
    for variable in model.free_RVs:
        name = model.rvs_to_values[variable].name
        shape = shapes[name]
        names.append(name)
        free_shapes.append(shape)
        slices.append(slice(count, count + math.prod(shape)))
        count += math.prod(shape)
    joined = pt.TensorType("float64", shape=(count,))(name="_unconstrained_point")
    values = [joined[where] for where in slices]
    replacements = {
        model.rvs_to_values[variable]: value.reshape(shape).astype(variable.dtype)
        for variable, shape, value in zip(model.free_RVs, free_shapes, values, strict=True)
    }
    remaining = [v for v in model.unobserved_value_vars if v.name not in names]
    expanded = pt.concatenate(
        [
            *[value.ravel() for value in values],
            *[pt.as_tensor(v, allow_xtensor_conversion=True).ravel() for v in remaining],
        ]
    )
    with model:
        return compile_pymc((joined,), [expanded], givens=list(replacements.items()), mode=mode)


def compile_nutpie_numba(model: Any, replace_logp: Callable[[Any, Any], Any] | None = None) -> Any:
    """Compile a PyMC model as :func:`nutpie.compile_pymc_model` does (numba backend).

    The same compiled model (initial points, log-density, expansion to the draws' named
    variables, data containers), with one difference: when ``replace_logp`` is given, it
    is first called with the model compiled *without* its log-density (the attribute
    ``compiled_logp_func`` is ``None``), and when it returns a model with its own
    log-density (e.g. :func:`bayes_cluster.inference.fast_logit.fuse_logit_logp`), that
    model is returned and nutpie's log-density of the PyMC graph, the larger part of the
    compile (about 14 of 20 s for a logit), is never compiled. When it returns ``None``,
    nutpie's log-density is compiled as usual.

    Parameters
    ----------
    model : pymc.Model
        The model.
    replace_logp : callable, optional
        ``replace_logp(compiled, model)``: a compiled model with another log-density, or
        ``None`` to keep nutpie's.

    Returns
    -------
    nutpie.compile_pymc.CompiledPyMCModel
        Sampled with :func:`nutpie.sample`.
    """
    import warnings
    from dataclasses import replace as replace_field
    from uuid import uuid4

    import numba
    from nutpie.compile_pymc import (
        _make_c_expand_func,
        _make_c_logp_func,
        make_user_data,
    )

    n_dim, n_expanded, logp_fn, expand_fn, initial_point_fn, shape_info, reparameterized = (
        _nutpie_functions(model, "NUMBA")
    )
    shared_data: dict[str, np.ndarray] = {}
    shared_var_keys: dict[Any, str] = {}
    for variable in [*logp_fn.get_shared(), *expand_fn.get_shared()]:
        if variable in shared_var_keys:
            continue
        key = uuid4().hex
        shared_data[key] = np.array(variable.get_value(), order="C", copy=True)
        shared_var_keys[variable] = key
    for value in shared_data.values():
        value.flags.writeable = False
    user_data = make_user_data(shared_var_keys, shared_data)

    def cfunc(raw: Callable, signature: Any) -> Any:
        with warnings.catch_warnings():
            warnings.filterwarnings(
                "ignore",
                message="Cannot cache compiled function .* as it uses dynamic globals",
                category=numba.NumbaWarning,
            )
            return numba.cfunc(signature)(raw)

    expand_raw, expand_signature = _make_c_expand_func(
        n_dim,
        n_expanded,
        expand_fn.vm.jit_fn,
        user_data,
        [shared_var_keys[variable] for variable in expand_fn.get_shared()],
        shared_data,
    )
    layout = (n_dim, n_expanded, initial_point_fn, shape_info, reparameterized)
    compiled = _compiled_model(
        model,
        layout,
        shared_data,
        shared_var_keys,
        user_data,
        compiled_expand_func=cfunc(expand_raw, expand_signature),
        logp_func=logp_fn,
        expand_func=expand_fn,
    )
    if replace_logp is not None:
        replaced = replace_logp(compiled, model)
        if replaced is not None:
            return replaced
    logp_raw, logp_signature = _make_c_logp_func(
        n_dim,
        logp_fn.vm.jit_fn,
        user_data,
        [shared_var_keys[variable] for variable in logp_fn.get_shared()],
        shared_data,
    )
    return replace_field(compiled, compiled_logp_func=cfunc(logp_raw, logp_signature))


_NOGIL_MODE: Any = None


def _nogil_numba_mode() -> Any:
    """PyTensor's numba mode (FAST_RUN in PyTensor 3.3) whose graph function releases the GIL.

    PyTensor's ``NumbaLinker`` compiles the function of the whole graph (it calls the
    per-op functions) without ``nogil``: every call holds the GIL. This linker compiles it
    with ``nogil=True`` under its own disk-cache key (PyTensor's key plus ``_nogil``, so
    that the two variants never load each other), from the same generated source; the
    per-op functions and the rewrites are PyTensor's own. (It was written for chain
    threads that called the graph function from Python. :func:`compile_pytensor_c`'s C
    callbacks now inline the graph's Python function and never call this compiled
    wrapper, so ``nogil`` no longer matters to sampling; the mode stays for its cache keys,
    which the callbacks' keys are built on.)

    Returns
    -------
    pytensor.compile.mode.Mode
        The mode, built once per process.
    """
    global _NOGIL_MODE
    if _NOGIL_MODE is None:
        from pytensor.compile.mode import Mode
        from pytensor.graph.rewriting.db import RewriteDatabaseQuery
        from pytensor.link.numba.linker import NumbaLinker

        class NogilNumbaLinker(NumbaLinker):
            def jit_compile(self, fn_and_cache: Any) -> Any:
                from pytensor.link.numba.cache import (
                    CACHED_SRC_FUNCTIONS,
                    compile_numba_function_src,
                )
                from pytensor.link.numba.dispatch.basic import numba_njit

                function, cache_key = fn_and_cache
                source = function.py_func
                disk_key = CACHED_SRC_FUNCTIONS.get(source)
                if cache_key is None or disk_key is None:
                    return numba_njit(source, final_function=True, nogil=True)
                fresh = compile_numba_function_src(
                    src=source.__source__,
                    function_name=source.__name__,
                    global_env=dict(source.__globals__),
                    cache_key=f"{disk_key}_nogil",
                )
                return numba_njit(fresh, final_function=True, cache=True, nogil=True)

        _NOGIL_MODE = Mode(NogilNumbaLinker(), RewriteDatabaseQuery(include=["fast_run", "numba"]))
    return _NOGIL_MODE


def compile_pytensor_c(model: Any, replace_logp: Callable[[Any, Any], Any] | None = None) -> Any:
    """Compile a PyMC model for nutpie's sampler with code cached on disk (backend "nutpie_c").

    The log-density with its gradient, and the function that adds the deterministics to each
    draw, are PyTensor functions compiled with numba (PyTensor 3.3's FAST_RUN, graph
    function without the GIL: :func:`_nogil_numba_mode`), whose compiled code PyTensor keeps
    on disk (``~/.pytensor``). nutpie's chain threads call them through C callbacks (numba
    ``cfunc``) that read the fit's data from nutpie's ``user_data`` record, as nutpie's own
    numba backend does; unlike nutpie's, these callbacks are cached on disk too
    (:mod:`bayes_cluster.inference.callbacks`), so a model structure compiled once on a
    machine loads in about a second in every new process, where nutpie's module recompiles
    (20-30 s) in each. No Python runs per gradient evaluation, and the chains run side by
    side on the machine's cores. Same graph, same settings: the draws are nutpie's to the
    last bit. Initial points as :func:`nutpie.compile_pymc_model` (the support point,
    jittered). (The backend's name is from PyTensor 2, whose default mode was C.)

    Parameters
    ----------
    model : pymc.Model
        The model; its data containers become the compiled model's data (``with_data``),
        also those neither function reads (accepted, and ignored).
    replace_logp : callable, optional
        As in :func:`compile_nutpie_numba`: called with the model compiled without its
        callbacks (``compiled_logp_func`` and ``compiled_expand_func`` are ``None``); the
        model it returns may set either (e.g.
        :func:`bayes_cluster.inference.fast_latent_class.fuse_latent_class_logp` sets
        both), and only the graph's callbacks it did not set are compiled: the
        log-density's is most of a cold compile. ``None`` keeps both of the graph's.

    Returns
    -------
    nutpie.compile_pymc.CompiledPyMCModel
        Sampled with :func:`nutpie.sample`, like nutpie's own compiled models.
    """
    from nutpie.compile_pymc import (
        make_user_data,
    )

    layout = _nutpie_layout(model)
    n_dim, n_expanded = layout[:2]
    # the data containers, under keys fixed by their order in the model (a replacement
    # reads them by name); a shared variable of the graph outside them is added below
    variables: list[Any] = list(model.data_vars)

    def compiled_with(variables: list[Any]) -> Any:
        keys = {variable: f"data_{index}" for index, variable in enumerate(variables)}
        shared_data: dict[str, np.ndarray] = {}
        for variable, key in keys.items():
            shared_data[key] = np.array(variable.get_value(), order="C", copy=True)
            shared_data[key].flags.writeable = False
        compiled = _compiled_model(
            model, layout, shared_data, keys, make_user_data(keys, shared_data)
        )
        if replace_logp is not None:
            compiled = replace_logp(compiled, model) or compiled
        return compiled

    compiled = compiled_with(variables)
    if compiled.compiled_logp_func is not None and compiled.compiled_expand_func is not None:
        return compiled  # the replacement's own: PyTensor's functions are never built
    if compiled.compiled_logp_func is not None:  # only the expansion is the graph's
        logp_fn, expand_fn = None, _expand_function(model, _nogil_numba_mode())
    else:
        _, _, logp_fn, expand_fn, _, _, _ = _nutpie_functions(model, _nogil_numba_mode())
    functions = [f for f in (logp_fn, expand_fn) if f is not None]
    extra = [v for f in functions for v in f.get_shared() if v not in variables]
    if extra:  # a shared variable that is no data container: a record with it too
        compiled = compiled_with(variables + list(dict.fromkeys(extra)))
    keys, shared_data = compiled.shared_var_keys, compiled.shared_data

    def callback(kind: str, function: Any) -> Any:
        arguments = [
            (key, shared_data[key].ndim, shared_data[key].dtype.name)
            for key in (keys[variable] for variable in function.get_shared())
        ]
        source = _cfunc_source(kind, n_dim, n_expanded, arguments)
        return _nutpie_cfunc(kind, source, function.vm.jit_fn, compiled.user_data.dtype)

    # the graph's callbacks for what the replacement did not supply
    compiled = replace(compiled, logp_func=logp_fn, expand_func=expand_fn)
    if compiled.compiled_logp_func is None:
        compiled = replace(compiled, compiled_logp_func=callback("logp", logp_fn))
    if compiled.compiled_expand_func is None:
        compiled = replace(compiled, compiled_expand_func=callback("expand", expand_fn))
    return compiled


def _compiled_model(
    model: Any,
    layout: tuple,
    shared_data: dict[str, np.ndarray],
    keys: dict[Any, str],
    user_data: np.ndarray,
    **functions: Any,
) -> Any:
    """Build nutpie's compiled model from a layout (:func:`_nutpie_layout`) and data.

    ``functions`` sets ``compiled_logp_func``, ``compiled_expand_func``, ``logp_func`` and
    ``expand_func`` (each ``None`` unless given).
    """
    from nutpie.compile_pymc import CompiledPyMCModel, _prepare_dims_and_coords

    n_dim, n_expanded, initial_point_fn, shape_info, reparameterized = layout
    dims, coords = _prepare_dims_and_coords(model, shape_info, reparameterized)
    fields = dict.fromkeys(
        ("compiled_logp_func", "compiled_expand_func", "logp_func", "expand_func")
    )
    fields.update(functions)
    return CompiledPyMCModel(
        _n_dim=n_dim,
        dims=dims,
        _coords=coords,
        _shapes={name: tuple(shape) for name, _, shape in zip(*shape_info, strict=True)},
        initial_point_func=initial_point_fn,
        shared_data=shared_data,
        shared_var_keys=keys,
        user_data=user_data,
        n_expanded=n_expanded,
        shape_info=shape_info,
        reparameterized_names=reparameterized,
        **fields,
    )


def _initial_points(model: Any) -> Callable:
    """Return nutpie's initial points: the support point, every free variable jittered."""
    from nutpie.compile_pymc import _wrap_with_lock
    from pymc.initial_point import make_initial_point_fn

    return _wrap_with_lock(
        make_initial_point_fn(
            model=model,
            overrides=None,
            default_strategy="support_point",
            jitter_rvs=set(model.free_RVs),
            return_transformed=True,
        )
    )


def _compute_shapes(model: Any, point: dict[str, np.ndarray]) -> dict[str, tuple[int, ...]]:
    """Return the shape of every variable a draw holds: nutpie's ``_compute_shapes``.

    nutpie's own builds an initial-point function of its own (a PyTensor compile, some
    0.13 s a model) for the point it evaluates the shapes at; here the caller's initial
    point (:func:`_initial_points`, jittered: the same shapes) serves, and the shapes are
    nutpie's (``tests/test_fast_path.py`` compares them for every model the run fits).
    """
    import pytensor
    from pytensor.tensor import as_tensor

    trace_vars = {
        var.name: var
        for var in model.value_vars + model.free_RVs + model.deterministics
        if var not in model.observed_RVs + model.potentials
    }
    shape_func = pytensor.function(
        inputs=[],
        outputs=[as_tensor(var.shape) for var in trace_vars.values()],
        givens=(
            [(obs, model.rvs_to_values[obs]) for obs in model.observed_RVs]
            + [(trace_vars[name], point[name]) for name in trace_vars if name in point]
        ),
        mode="FAST_COMPILE",
        on_unused_input="ignore",
    )
    return dict(zip(trace_vars.keys(), shape_func(), strict=True))


def _nutpie_layout(model: Any) -> tuple:
    """Return what :func:`_nutpie_functions` returns but the functions, compiling neither.

    ``(n_dim, n_expanded, initial_point_fn, shape_info, reparameterized_names)`` as nutpie's
    ``_make_functions`` computes them (shapes from nutpie's ``_compute_shapes``, initial
    points as in :func:`_nutpie_functions`): what a model with its own log-density and
    expansion needs, without PyTensor's rewrites of the two graphs (about 1.5 s per model).
    """
    from nutpie.compile_pymc import _rv_dict_to_flat_array_wrapper

    initial_points = _initial_points(model)
    shapes = _compute_shapes(model, initial_points(0))
    names = [model.rvs_to_values[rv].name for rv in model.free_RVs]
    remaining = [v.name for v in model.unobserved_value_vars if v.name not in names]
    all_shapes = [tuple(shapes[name]) for name in [*names, *remaining]]
    slices, count = [], 0
    for shape in all_shapes:
        slices.append(slice(count, count + math.prod(shape)))
        count += math.prod(shape)
    n_dim = sum(math.prod(shape) for shape in all_shapes[: len(names)])
    initial_point_fn = _rv_dict_to_flat_array_wrapper(
        initial_points, names=names, shapes=all_shapes[: len(names)]
    )
    reparameterized = [
        model.rvs_to_values[rv].name
        for rv in model.free_RVs
        if model.rvs_to_transforms.get(rv) is not None
    ]
    shape_info = ([*names, *remaining], slices, all_shapes)
    return n_dim, count, initial_point_fn, shape_info, reparameterized


def evaluate_logp(compiled: Any, point: np.ndarray) -> tuple[float, np.ndarray]:
    """Call a compiled model's C log-density once, as nutpie's chains do.

    Parameters
    ----------
    compiled : nutpie.compile_pymc.CompiledPyMCModel
        A model of :func:`compile_pytensor_c` or :func:`compile_nutpie_numba` (after
        ``with_data``, the new data).
    point : numpy.ndarray
        The unconstrained parameter vector (nutpie's order: the free variables, raveled).

    Returns
    -------
    tuple of float and numpy.ndarray
        The log-density and its gradient.

    Raises
    ------
    RuntimeError
        When the callback returns a non-zero code (1: an error; 3, 4: a non-finite
        gradient or value; -1: a point of the wrong length).
    """
    import ctypes

    x = np.ascontiguousarray(point, dtype=np.float64)
    gradient = np.empty(compiled.n_dim)
    value = np.empty(())
    code = compiled.compiled_logp_func.ctypes(
        x.size,
        x.ctypes.data_as(ctypes.POINTER(ctypes.c_double)),
        gradient.ctypes.data_as(ctypes.POINTER(ctypes.c_double)),
        value.ctypes.data_as(ctypes.POINTER(ctypes.c_double)),
        compiled.user_data.ctypes.data_as(ctypes.c_void_p),
    )
    if code != 0:
        raise RuntimeError(f"the compiled log-density returned code {code}")
    return float(value), gradient


def evaluate_expansion(compiled: Any, point: np.ndarray) -> np.ndarray:
    """Call a compiled model's C expansion once, as nutpie's chains do for each draw.

    Parameters
    ----------
    compiled : nutpie.compile_pymc.CompiledPyMCModel
        A model of :func:`compile_pytensor_c` or :func:`compile_nutpie_numba`.
    point : numpy.ndarray
        The unconstrained parameter vector (nutpie's order).

    Returns
    -------
    numpy.ndarray
        The draw's named variables, joined (``compiled.shape_info`` names their slices).

    Raises
    ------
    RuntimeError
        When the callback returns a non-zero code (-1: a point or output of the wrong
        length; -2: an error).
    """
    import ctypes

    x = np.ascontiguousarray(point, dtype=np.float64)
    expanded = np.empty(compiled.n_expanded)
    code = compiled.compiled_expand_func.ctypes(
        x.size,
        compiled.n_expanded,
        x.ctypes.data_as(ctypes.POINTER(ctypes.c_double)),
        expanded.ctypes.data_as(ctypes.POINTER(ctypes.c_double)),
        compiled.user_data.ctypes.data_as(ctypes.c_void_p),
    )
    if code != 0:
        raise RuntimeError(f"the compiled expansion returned code {code}")
    return expanded


compiled_cache = CompiledCache()
"""The process-wide compile cache used by every fit, study replicate and SBC draw."""


def clear_compiled_cache() -> None:
    """Forget the compiled models of this process (e.g. to free memory after a study)."""
    compiled_cache.clear()


def sample(
    build: Callable[[], Any],
    *,
    key: tuple,
    data: Mapping[str, np.ndarray],
    settings: SamplerSettings,
    compile_with: Callable[[Any, Any], Any] | None = None,
    lean: bool = False,
) -> SampleResult:
    """Sample a PyMC model through the one sampling path of the package.

    Parameters
    ----------
    build : callable
        Returns the PyMC model (its data containers hold ``data``).
    key : tuple
        Compile key: the model's class name and everything that fixes the graph.
    data : mapping of str to numpy.ndarray
        Values of the model's data containers for this fit (swapped into the cached
        compiled model with ``with_data``).
    settings : SamplerSettings
        Sampler settings; ``target_accept`` must be set (see
        :meth:`SamplerSettings.with_defaults`).
    compile_with : callable, optional
        nutpie and nutpie_c: ``compile_with(compiled, model)`` replaces the compiled model
        before it is cached (see :meth:`CompiledCache.get_or_compile`); give it its own
        ``key``.
    lean : bool, default False
        nutpie and nutpie_c: return only the posterior and the sampler statistics the
        convergence rule reads (:func:`bayes_cluster.inference.fast_logit.lean_tree`),
        skipping the full ArviZ conversion (for simulation studies).

    Returns
    -------
    SampleResult
        The raw DataTree and the compile and sampling seconds.

    Raises
    ------
    ValueError
        When ``settings.target_accept`` is unset.
    """
    if settings.target_accept is None:
        raise ValueError("settings.target_accept is unset: call settings.with_defaults(...)")
    if settings.backend == "pymc":
        import pymc as pm

        started = time.perf_counter()
        model = build()
        built = time.perf_counter()
        with _reproducible_compile():
            tree = pm.sample(
                model=model,
                draws=settings.draws,
                tune=settings.tune,
                chains=settings.chains,
                cores=1 if settings.cores is None else settings.cores,
                random_seed=settings.seed,
                nuts_sampler="pymc",
                target_accept=settings.target_accept,
                progressbar=settings.progressbar,
                compute_convergence_checks=False,
            )
        return SampleResult(tree, built - started, time.perf_counter() - built, model)

    import nutpie

    if settings.backend == "nutpie_c":
        # its own cache entries: the expansion (and the density, unless compile_with
        # replaces it) load from the disk cache
        compiled, model, compile_seconds = compiled_cache.get_or_compile(
            ("nutpie_c", *key), build, compile_with, compiler=compile_pytensor_c
        )
    else:
        compiled, model, compile_seconds = compiled_cache.get_or_compile(key, build, compile_with)
    started = time.perf_counter()
    compiled = compiled.with_data(**data)
    extra: dict[str, Any] = {} if settings.cores is None else {"cores": settings.cores}
    tree = nutpie.sample(
        compiled,
        draws=settings.draws,
        tune=settings.tune,
        chains=settings.chains,
        seed=settings.seed,
        target_accept=settings.target_accept,
        progress_bar=settings.progressbar,
        save_warmup=False,
        return_raw_trace=lean,
        **extra,
    )
    if lean:
        from bayes_cluster.inference.fast_logit import lean_tree

        tree = lean_tree(tree, compiled.coords, compiled.dims)
    return SampleResult(tree, compile_seconds, time.perf_counter() - started, model)


def converged(tree: xr.DataTree, var_names: list[str] | None = None) -> bool:
    """Judge a fit by the one convergence rule: every check of ``mcmc_diagnostics`` passed.

    Parameters
    ----------
    tree : xarray.DataTree
        A fitted DataTree (``posterior`` and ``sample_stats``).
    var_names : list of str, optional
        Parameters to check (default all).

    Returns
    -------
    bool
        True when R-hat, bulk and tail ESS, divergences and E-BFMI all pass.
    """
    from bayes_cluster.inference.diagnostics import mcmc_diagnostics

    return mcmc_diagnostics(tree, var_names=var_names).passed

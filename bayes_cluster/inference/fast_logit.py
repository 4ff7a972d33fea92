"""The fast path of the Bayesian logit: one fused log-density and gradient, and a lean trace.

A simulation study fits the same logit thousands of times (``models/simulation.toml``:
12,000 fits). Profiling one fit (n = 60, 7 predictors, 4 chains x 2,000 iterations) showed
where its time went: the NUTS sampler evaluates the gradient ~56,000 times, and the
PyTensor-generated numba function spends ~5 microseconds per call on a 60 x 8 product
that needs ~0.5; turning nutpie's Arrow trace into a full ArviZ DataTree (warm-up groups,
every sampler statistic) costs another ~0.15 s per fit. This module removes both:

* :func:`fuse_logit_logp` swaps the compiled model's log-density for one hand-written
  numba loop over the firms (the Bernoulli-logit log-likelihood plus the priors, with
  their exact gradient), reading the same data containers as the PyMC graph, so that
  ``with_data`` keeps working. It applies to the logit without horseshoe whose priors are
  all Normal, Student-t, Cauchy or Laplace, with or without varying intercepts (a
  half-normal scale and non-centred intercepts: :func:`_make_fused_group_logp`);
  otherwise it returns ``None`` and the PyMC graph is used. ``BayesianLogit.fit`` uses it
  too (a run's logits). ``tests/test_fast_path.py`` checks it against PyMC's ``logp`` and
  ``dlogp`` at random points, so the two cannot drift. Its ``exp`` and ``log1p`` are
  branch-free polynomials (:func:`_make_kernels`, within 2 and 4 ulp of libm, tested)
  so that the loop over the firms vectorises: libm's calls were half of a gradient's
  time, and a fit at n = 60 took 0.17 s on one core with them, 0.115 s without.
* :func:`lean_tree` turns nutpie's raw trace into a DataTree with only the ``posterior``
  and the sampler statistics the convergence rule reads (divergences, tree depth,
  energy), with the same names, coordinates and values as nutpie's own conversion.

Both are used through :func:`bayes_cluster.inference.sampling.sample`
(``compile_with=``, ``lean=True``), so the compile cache and the seeds are the usual ones.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import math
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import xarray as xr

__all__ = ["FUSED_PRIORS", "fuse_logit_logp", "fused_prior_arrays", "lean_tree"]

FUSED_PRIORS: dict[str, int] = {"Normal": 0, "StudentT": 1, "Cauchy": 2, "Laplace": 3}
"""Prior families the fused log-density implements (code used inside the numba loop)."""

_LEAN_STATS = ("diverging", "depth", "maxdepth_reached", "energy", "n_steps", "step_size")
"""Sampler statistics kept by :func:`lean_tree` (what the convergence rule reads)."""


def fused_prior_arrays(
    intercept: Mapping[str, Any], slopes: Sequence[Mapping[str, Any]]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, float] | None:
    """Encode the intercept and slope priors for the fused log-density.

    Parameters
    ----------
    intercept : mapping
        Prior spec of the intercept on the standardised scale (``{"dist": ..., ...}``).
    slopes : sequence of mapping
        Prior spec of each slope, in the order of the terms.

    Returns
    -------
    tuple or None
        ``(kind, mu, sigma, nu, constant)``: one entry per coordinate (intercept first)
        and the sum of the priors' normalising constants; ``None`` when a prior is not in
        :data:`FUSED_PRIORS`.

    Examples
    --------
    >>> kind, mu, sigma, nu, constant = fused_prior_arrays(
    ...     {"dist": "Normal", "mu": 0, "sigma": 1}, [{"dist": "Cauchy", "mu": 0, "sigma": 1}]
    ... )
    >>> kind.tolist(), round(constant, 6)
    ([0, 2], -2.063649)
    """
    specs = [intercept, *slopes]
    if any(spec.get("dist") not in FUSED_PRIORS for spec in specs):
        return None
    kind = np.array([FUSED_PRIORS[spec["dist"]] for spec in specs], dtype=np.int64)
    mu = np.array([float(spec.get("mu", 0.0)) for spec in specs])
    sigma = np.array([float(spec["sigma"]) for spec in specs])
    nu = np.array([float(spec.get("nu", 1.0)) for spec in specs])
    constant = 0.0
    for code, s, v in zip(kind, sigma, nu, strict=True):
        if code == 0:  # Normal
            constant += -math.log(s) - 0.5 * math.log(2 * math.pi)
        elif code == 1:  # Student-t
            constant += (
                math.lgamma((v + 1) / 2) - math.lgamma(v / 2) - 0.5 * math.log(v * math.pi)
            ) - math.log(s)
        elif code == 2:  # Cauchy
            constant += -math.log(math.pi) - math.log(s)
        else:  # Laplace
            constant += -math.log(2 * s)
    return kind, mu, sigma, nu, constant


_LN2_HI = 6.93147180369123816490e-01
_LN2_LO = 1.90821492927058770002e-10
"""ln 2 split for Cody-Waite range reduction (fdlibm's constants: ``k * _LN2_HI`` is exact)."""


@functools.cache
def _make_kernels():
    """Compile the two elementwise kernels of the likelihood once (numba, inlined).

    Both are branch-free polynomials so that LLVM can vectorise the loop over the firms:
    libm's ``exp`` and ``log1p`` are calls it cannot vectorise, and they were about half
    of a gradient's time (n = 60: 0.6 of 1.1 microseconds).
    """
    import numba

    @numba.njit(error_model="numpy", inline="always")
    def exp_neg(a):  # pragma: no cover - runs compiled
        # exp(-a) for a >= 0 (a > 700 is taken as 700: exp(-700) ~ 1e-304, below what
        # 1 + exp(-a) or a residual can resolve). exp(-a) = exp(-r) 2^-k with
        # k = round(a / ln 2) and |r| <= ln(2) / 2; exp(-r) by its Taylor polynomial of
        # degree 13 (truncation < 5e-18), 2^-k as a product over the bits of k (exact)
        a = min(a, 700.0)
        k = np.floor(a * 1.4426950408889634 + 0.5)
        r = -((a - k * _LN2_HI) - k * _LN2_LO)
        p = 1.0 / 6227020800.0
        p = p * r + 1.0 / 479001600.0
        p = p * r + 1.0 / 39916800.0
        p = p * r + 1.0 / 3628800.0
        p = p * r + 1.0 / 362880.0
        p = p * r + 1.0 / 40320.0
        p = p * r + 1.0 / 5040.0
        p = p * r + 1.0 / 720.0
        p = p * r + 1.0 / 120.0
        p = p * r + 1.0 / 24.0
        p = p * r + 1.0 / 6.0
        p = p * r + 0.5
        p = p * r + 1.0
        p = p * r + 1.0
        bits = np.int64(k)  # <= 1010 < 2^10; written out so that the loop vectorises
        scale = 0.5 if bits & 1 else 1.0
        scale *= 0.25 if bits & 2 else 1.0
        scale *= 0.0625 if bits & 4 else 1.0
        scale *= 2.0**-8 if bits & 8 else 1.0
        scale *= 2.0**-16 if bits & 16 else 1.0
        scale *= 2.0**-32 if bits & 32 else 1.0
        scale *= 2.0**-64 if bits & 64 else 1.0
        scale *= 2.0**-128 if bits & 128 else 1.0
        scale *= 2.0**-256 if bits & 256 else 1.0
        scale *= 2.0**-512 if bits & 512 else 1.0
        return p * scale

    @numba.njit(error_model="numpy", inline="always")
    def log1p_unit(e):  # pragma: no cover - runs compiled
        # log1p(e) for 0 <= e <= 1 as 2 atanh(s): s = e / (2 + e) for e <= sqrt(2) - 1,
        # else ln 2 + 2 atanh(s) with s = (e - 1) / (e + 3); |s| <= 0.1716, so the atanh
        # series to s^23 leaves < 1e-19 (relative)
        big = e > 0.41421356237309503
        s = (e - 1.0) / (e + 3.0) if big else e / (2.0 + e)
        z = s * s
        p = 1.0 / 23.0
        p = p * z + 1.0 / 21.0
        p = p * z + 1.0 / 19.0
        p = p * z + 1.0 / 17.0
        p = p * z + 1.0 / 15.0
        p = p * z + 1.0 / 13.0
        p = p * z + 1.0 / 11.0
        p = p * z + 1.0 / 9.0
        p = p * z + 1.0 / 7.0
        p = p * z + 1.0 / 5.0
        p = p * z + 1.0 / 3.0
        p = p * z + 1.0
        return 2.0 * s * p + (0.6931471805599453 if big else 0.0)

    return exp_neg, log1p_unit


@functools.cache
def _likelihood_terms():
    """Compile the middle pass of the likelihood once: per firm its term and residual.

    A function of its own (not inlined by numba), with only the ``contract`` flag (fused
    multiply-add, never less accurate): reordering would undo the range reduction of
    ``exp`` (the loops around it have the same flag, :data:`_LOOP_FLAGS`).
    """
    import numba

    exp_neg, log1p_unit = _make_kernels()

    @numba.njit(error_model="numpy", fastmath={"contract"})
    def terms(term, residual, y):  # pragma: no cover - runs compiled
        # term holds eta on entry; y * eta - log(1 + exp(eta)) and y - expit(eta) on exit,
        # overflow-safe through e = exp(-|eta|)
        for i in range(term.size):
            eta = term[i]
            e = exp_neg(abs(eta))
            inverse = 1.0 / (1.0 + e)
            term[i] = y[i] * eta - max(eta, 0.0) - log1p_unit(e)
            residual[i] = y[i] - (inverse if eta > 0 else e * inverse)

    return terms


_LOOP_FLAGS = {"contract"}
"""Floating-point flags of the fused loops: fused multiply-add only, no reassociation.

With ``reassoc`` (and ``nsz``, ``arcp``) the sums were vectorised, but a loop compiled
afresh and the same loop read from the callback's disk cache computed different last
digits: the fresh callback calls the loop's own compiled code (numba compiled it first, as
a function of its own), the cached one a copy LLVM optimised again inside the callback,
free to reorder the sums another way. The varying-intercept loop's log-density differed in
18 of 300 random points, and a fit's first run on a machine drew other chains than every
later run of the same seed (a test's verdict changed with it: one divergent transition).
Without reassociation both copies round alike; the fits take the same time
(``benchmarks/bench_study.py --only fit``: 0.069-0.070 s against 0.070-0.072 s on two
cores, alternately).
"""


def _make_prior_terms(kind, mu, sigma, nu, constant):
    """``prior_terms(x, grad)``: the coefficients' log-prior, its gradient written to grad.

    Inlined into the varying-intercept loop (numba IR), under its floating-point flags.
    """
    import numba

    @numba.njit(error_model="numpy", inline="always")
    def prior_terms(x, grad):  # pragma: no cover - runs compiled
        logp = constant
        for k in range(kind.size):
            z = (x[k] - mu[k]) / sigma[k]
            if kind[k] == 0:
                logp -= 0.5 * z * z
                grad[k] = -z / sigma[k]
            elif kind[k] == 1:
                logp -= 0.5 * (nu[k] + 1.0) * math.log1p(z * z / nu[k])
                grad[k] = -(nu[k] + 1.0) * z / (sigma[k] * (nu[k] + z * z))
            elif kind[k] == 2:
                logp -= math.log1p(z * z)
                grad[k] = -2.0 * z / (sigma[k] * (1.0 + z * z))
            else:
                logp -= abs(z)
                grad[k] = -np.sign(z) / sigma[k]
        return logp

    return prior_terms


def _make_fused_logp(kind, mu, sigma, nu, constant):
    import numba

    terms = _likelihood_terms()

    @numba.njit(cache=False, error_model="numpy", fastmath=_LOOP_FLAGS)
    def logit_logp(x, X, y):  # pragma: no cover - runs compiled
        n_obs, n_slopes = X.shape
        grad = np.empty(n_slopes + 1)
        # the priors' loop written out, not _make_prior_terms' inlined helper: inlined, it
        # compiled to other roundings (1 ulp in one evaluation of ten), and the studies'
        # published draws are this loop's (tests hold both loops to PyMC's)
        logp = constant
        for k in range(n_slopes + 1):
            z = (x[k] - mu[k]) / sigma[k]
            if kind[k] == 0:
                logp -= 0.5 * z * z
                grad[k] = -z / sigma[k]
            elif kind[k] == 1:
                logp -= 0.5 * (nu[k] + 1.0) * math.log1p(z * z / nu[k])
                grad[k] = -(nu[k] + 1.0) * z / (sigma[k] * (nu[k] + z * z))
            elif kind[k] == 2:
                logp -= math.log1p(z * z)
                grad[k] = -2.0 * z / (sigma[k] * (1.0 + z * z))
            else:
                logp -= abs(z)
                grad[k] = -np.sign(z) / sigma[k]
        # three passes over the firms so that the middle one (exp and log1p as
        # polynomials) vectorises: the linear predictor, the terms, the gradient
        term = np.empty(n_obs)
        for i in range(n_obs):
            eta = x[0]
            for j in range(n_slopes):
                eta += X[i, j] * x[j + 1]
            term[i] = eta
        residual = np.empty(n_obs)
        terms(term, residual, y)
        total = 0.0
        first = 0.0
        for i in range(n_obs):
            total += term[i]
            first += residual[i]
        logp += total
        grad[0] += first
        for i in range(n_obs):
            r = residual[i]
            for j in range(n_slopes):
                grad[j + 1] += r * X[i, j]
        return logp, grad

    return logit_logp


def _make_fused_group_logp(kind, mu, sigma, nu, constant, group_scale):
    """Compile the fused loop with varying intercepts: ``eta_i += sigma_group * z[g_i]``.

    The point is ``[alpha_std, slope_1..slope_p, log(sigma_group), z_1..z_G]`` (PyMC's
    order, and its log transform of the half-normal ``sigma_group`` of scale
    ``group_scale``; ``z ~ Normal(0, 1)``, the non-centred intercepts); the data
    ``(X, y, group)``. The same three passes over the firms as :func:`_make_fused_logp`.
    """
    import numba

    terms = _likelihood_terms()
    prior_terms = _make_prior_terms(kind, mu, sigma, nu, constant)
    n_fixed = kind.size
    # the half-normal's log-density is log 2 plus the Normal(0, scale)'s; z's is Normal(0, 1)
    half_constant = math.log(2.0) - math.log(group_scale) - 0.5 * math.log(2 * math.pi)
    z_constant = -0.5 * math.log(2 * math.pi)

    @numba.njit(cache=False, error_model="numpy", fastmath=_LOOP_FLAGS)
    def group_logp(x, X, y, group):  # pragma: no cover - runs compiled
        n_obs, n_slopes = X.shape
        n_groups = x.size - n_fixed - 1
        grad = np.zeros(x.size)
        logp = prior_terms(x, grad)
        log_scale = x[n_fixed]
        scale = math.exp(log_scale)
        term = np.empty(n_obs)
        for i in range(n_obs):
            eta = x[0] + scale * x[n_fixed + 1 + group[i]]
            for j in range(n_slopes):
                eta += X[i, j] * x[j + 1]
            term[i] = eta
        residual = np.empty(n_obs)
        terms(term, residual, y)
        total = 0.0
        first = 0.0
        by_scale = 0.0
        for i in range(n_obs):
            total += term[i]
            first += residual[i]
            by_scale += residual[i] * x[n_fixed + 1 + group[i]]
            grad[n_fixed + 1 + group[i]] += residual[i] * scale
        logp += total
        grad[0] += first
        for i in range(n_obs):
            r = residual[i]
            for j in range(n_slopes):
                grad[j + 1] += r * X[i, j]
        # sigma_group on the log scale (with the log-Jacobian), then z
        ratio = scale / group_scale
        logp += half_constant - 0.5 * ratio * ratio + log_scale
        grad[n_fixed] = by_scale * scale - ratio * ratio + 1.0
        for g in range(n_groups):
            z = x[n_fixed + 1 + g]
            logp += z_constant - 0.5 * z * z
            grad[n_fixed + 1 + g] -= z
        return logp, grad

    return group_logp


def fuse_logit_logp(compiled: Any, model: Any, priors: Mapping[str, Any]) -> Any | None:
    """Return ``compiled`` with its log-density replaced by the fused logit loop.

    Parameters
    ----------
    compiled : nutpie.compile_pymc.CompiledPyMCModel
        The nutpie model compiled from ``model`` (its draws, expansion to ``alpha``/``beta``
        and data containers are kept).
    model : pymc.Model
        The :class:`~bayes_cluster.estimators.logistic.BayesianLogit` graph (data
        containers ``X`` and ``y_obs``, and ``group_idx`` with varying intercepts; free
        variables ``alpha_std``, the slopes, then ``sigma_group`` and ``z_group``).
    priors : mapping
        ``BayesianLogit.resolved_priors()``: ``intercept``, ``slopes`` (term -> spec),
        ``group_sd``, ``horseshoe``.

    Returns
    -------
    object or None
        The fused compiled model, or ``None`` when the model is outside the fused family
        (horseshoe, a prior not in :data:`FUSED_PRIORS`, varying intercepts whose scale
        is not half-normal, or a graph of another layout): the caller then samples the
        PyMC graph.
    """
    from bayes_cluster.inference.callbacks import _cfunc_source, _nutpie_cfunc

    group_sd = priors.get("group_sd")
    if priors.get("horseshoe") is not None:
        return None
    if group_sd is not None and (group_sd.get("dist") != "HalfNormal" or "sigma" not in group_sd):
        return None
    slopes = list(priors["slopes"].values())
    encoded = fused_prior_arrays(priors["intercept"], slopes)
    if encoded is None:
        return None
    # the flat parameter vector nutpie hands the log-density: the free variables in
    # model order, each raveled; the fused loop expects [alpha_std, slope_1..slope_p]
    # (then log sigma_group and z_1..z_G with varying intercepts)
    sizes = [(rv.name, int(np.prod(compiled.shapes.get(rv.name, ())))) for rv in model.free_RVs]
    n_fixed = 1 + len(slopes)
    keys = {variable.name: key for variable, key in compiled.shared_var_keys.items()}
    names = ["X", "y_obs"]
    if not sizes or sizes[0] != ("alpha_std", 1):
        return None
    if group_sd is None:
        if sum(s for _, s in sizes) != n_fixed or compiled.n_dim != n_fixed:
            return None
    else:
        tail = [name for name, _ in sizes[-2:]]
        n_groups = sizes[-1][1]
        if tail != ["sigma_group", "z_group"] or sizes[-2][1] != 1:
            return None
        if sum(s for _, s in sizes[:-2]) != n_fixed or compiled.n_dim != n_fixed + 1 + n_groups:
            return None
        transforms = {
            rv.name: type(model.rvs_to_transforms.get(rv)).__name__ for rv in model.free_RVs
        }
        if transforms["sigma_group"] != "LogTransform" or transforms["z_group"] != "NoneType":
            return None
        names.append("group_idx")
    if any(name not in keys for name in names):
        return None
    # nutpie's C callback around the loop, cached on disk like the nutpie_c backend's: the
    # key names the loop's code and the priors' constants (the loop reads them as globals)
    arguments = [
        (key, compiled.shared_data[key].ndim, compiled.shared_data[key].dtype.name)
        for key in (keys[name] for name in names)
    ]
    source = _cfunc_source("logp", compiled.n_dim, 0, arguments)
    makers = (_make_kernels, _likelihood_terms, _make_prior_terms, _make_fused_logp)
    code = "".join(inspect.getsource(f) for f in makers) + repr(sorted(_LOOP_FLAGS))
    constants = repr([array.tolist() for array in encoded[:4]] + [float(encoded[4])])
    if group_sd is None:
        loop = _make_fused_logp(*encoded)
    else:
        code += inspect.getsource(_make_fused_group_logp)
        constants += f"\ngroup_sd {float(group_sd['sigma'])!r}"
        loop = _make_fused_group_logp(*encoded, float(group_sd["sigma"]))
    graph_key = hashlib.sha256(f"fused-logit-1\n{code}\n{constants}".encode()).hexdigest()
    callback = _nutpie_cfunc("logp", source, loop, compiled.user_data.dtype, graph_key)
    return replace(compiled, compiled_logp_func=callback)


def lean_tree(
    raw: Any, coords: Mapping[str, Any], dims: Mapping[str, Sequence[str]]
) -> xr.DataTree:
    """Convert nutpie's raw trace to a DataTree of the posterior and the needed statistics.

    Parameters
    ----------
    raw : nutpie trace
        What ``nutpie.sample(..., return_raw_trace=True)`` returns (Arrow batches).
    coords : mapping
        Coordinates of the compiled model (``compiled.coords``).
    dims : mapping
        Dimensions of each variable (``compiled.dims``).

    Returns
    -------
    xarray.DataTree
        ``posterior`` (every stored variable, warm-up dropped) and ``sample_stats``
        (:data:`_LEAN_STATS`), with ``chain``/``draw`` coordinates ``0..n-1`` and the
        attribute ``inference_library = "nutpie"``, as nutpie's own conversion names them.
    """
    import pyarrow

    draw_batches, stat_batches = raw.get_arrow_trace()
    posterior: dict[str, list[np.ndarray]] = {}
    stats: dict[str, list[np.ndarray]] = {}
    shapes: dict[str, tuple[int, ...]] = {}
    for draws, stat in zip(draw_batches, stat_batches, strict=True):
        tuning = np.asarray(pyarrow.array(stat.column("tuning")).to_numpy(zero_copy_only=False))
        keep = ~tuning.astype(bool)
        for target, batch, names in (
            (posterior, draws, draws.column_names),
            (stats, stat, [n for n in _LEAN_STATS if n in stat.column_names]),
        ):
            for name in names:
                column = batch.column(name)
                meta = column.field.metadata
                shape = meta.get(b"shape", b"")
                item_shape = tuple(int(s) for s in shape.decode().split(",")) if shape else ()
                values = pyarrow.array(column)
                if hasattr(values, "flatten"):
                    values = values.flatten()
                array = np.asarray(values.to_numpy(zero_copy_only=False))
                array = array.reshape(len(keep), *item_shape)[keep]
                shapes[name] = item_shape
                target.setdefault(name, []).append(array)

    def dataset(group: dict[str, list[np.ndarray]]) -> xr.Dataset:
        variables = {}
        for name, chains in group.items():
            values = np.stack(chains)
            extra = list(dims.get(name, ()))
            if len(extra) != len(shapes[name]):
                extra = [f"{name}_dim_{i}" for i in range(len(shapes[name]))]
            variables[name] = (("chain", "draw", *extra), values)
        n_chains, n_draws = next(iter(variables.values()))[1].shape[:2]
        used = {d for _, (names, _) in variables.items() for d in names}
        coordinates = {
            "chain": np.arange(n_chains),
            "draw": np.arange(n_draws),
            **{name: np.asarray(values) for name, values in coords.items() if name in used},
        }
        return xr.Dataset(variables, coords=coordinates, attrs={"inference_library": "nutpie"})

    return xr.DataTree.from_dict({"posterior": dataset(posterior), "sample_stats": dataset(stats)})

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
* runs PyMC's own NUTS instead with ``backend="pymc"`` (no cache: PyTensor caches its C
  code on disk);
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

__all__ = [
    "BACKENDS",
    "CompiledCache",
    "SampleResult",
    "SamplerSettings",
    "clear_compiled_cache",
    "compiled_cache",
    "converged",
    "sample",
]

Backend = Literal["nutpie", "pymc"]
BACKENDS: tuple[str, ...] = ("nutpie", "pymc")


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
    backend : {"nutpie", "pymc"}, default "nutpie"
        nutpie (compiled once per model structure, re-used on new data) or PyMC's NUTS.
    cores : int, optional
        Chains run in parallel on this many threads (nutpie) or processes (pymc);
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
    backend: Backend = "nutpie"
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
            raise ValueError(f"sampler must be 'nutpie' or 'pymc', got {self.backend!r}")
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

    def get_or_compile(self, key: tuple, build: Callable[[], Any]) -> tuple[Any, Any, float]:
        """Return ``(compiled, model or None, seconds)``, compiling ``build()`` on a miss.

        Parameters
        ----------
        key : tuple
            Hashable compile key.
        build : callable
            Returns the PyMC model to compile.

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
        self._compiled[key] = nutpie.compile_pymc_model(model)
        self.compilations += 1
        return self._compiled[key], model, time.perf_counter() - started

    def clear(self) -> None:
        """Forget every compiled model (the next fit of each structure compiles again)."""
        self._compiled.clear()


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

    compiled, model, compile_seconds = compiled_cache.get_or_compile(key, build)
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
        **extra,
    )
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

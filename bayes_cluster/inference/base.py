"""The one contract of the package's Bayesian models.

In the spirit of pymc-marketing's ``ModelBuilder`` and CausalPy's ``PyMCModel``:
:meth:`BayesianModel.fit` is written once,

1. prepare the data (the model's own validation and encoding),
2. build the PyMC model (compiled once per model structure, see
   :mod:`bayes_cluster.inference.sampling`),
3. sample through the one sampling module,
4. postprocess (the model's own: relabelling, derived quantities, predictive groups),
5. provenance (package versions, seed, data hash, sampler settings, the model's config),
6. diagnostics (R-hat, ESS, divergences, E-BFMI),
7. warn (:class:`~bayes_cluster.inference.diagnostics.ConvergenceWarning`) when a check
   failed -- never hidden.

A subclass writes only what is its own: ``_prepare_fit``, ``_build``, ``_compile_key``,
``_sampler_data``, ``_postprocess``, ``_diagnostic_variables``, ``config`` (and, when
fitting learns state beyond the DataTree, ``_fitted_state``/``_restore``).

Every model then has the same ``idata_``, ``diagnostics_``, ``timings_``, ``summary()``
(columns :data:`SUMMARY_COLUMNS`), ``prior_summary()``, ``loo()``,
``sample_prior_predictive()``, ``sample_posterior_predictive()``, ``save()``/``load()``
(NetCDF or Zarr, with the model's class, config as JSON, package version and data hash;
loading a file of another model or version says so), and displays itself in a notebook
(``_repr_html_``).
"""

from __future__ import annotations

import contextlib
import html
import importlib
import json
import os
import shutil
import warnings
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
import pandas as pd
import xarray as xr

from bayes_cluster.inference.diagnostics import (
    MCMCDiagnostics,
    mcmc_diagnostics,
    warn_if_failed,
)
from bayes_cluster.inference.sampling import SampleResult, SamplerSettings, sample
from bayes_cluster.inference.summaries import SUMMARY_COLUMNS, summary_table

__all__ = [
    "MODEL_ATTR",
    "STATE_ATTR",
    "SUMMARY_COLUMNS",
    "VERSION_ATTR",
    "BayesianModel",
    "SavedVersionWarning",
    "load_model",
    "summary_table",
    "write_netcdf",
]

MODEL_ATTR = "bayes_cluster_model"
"""DataTree attribute naming the model class that wrote a fit."""
STATE_ATTR = "bayes_cluster_state"
"""DataTree attribute holding the model's config and fitted state as JSON."""
VERSION_ATTR = "bayes_cluster_version"
"""DataTree attribute holding the package version that wrote a fit."""
MODULE_ATTR = "bayes_cluster_model_module"
"""DataTree attribute naming the module that defines the model class (as pickle records it),
so that a file loads in a fresh process before that module has been imported."""


_REGISTRY: dict[str, type[BayesianModel]] = {}


class SavedVersionWarning(UserWarning):
    """A saved fit was written by another version of bayes_cluster."""


def write_netcdf(tree: xr.DataTree, path: str | Path) -> None:
    """Write a posterior DataTree as a NetCDF-4 file, with the netCDF-C library.

    Every NetCDF file of the package is written here: a fit's :meth:`BayesianModel.save`
    and the run's posteriors. The netCDF4 engine writes the README run's nine posteriors
    (398 variables) in 0.4 s of CPU where h5netcdf, a Python layer over h5py, took 1.8 s
    (its dimension scales, variable by variable). The files are NetCDF-4/HDF5 either way:
    h5netcdf (load_model) and netCDF4 read them back as the same DataTree (tested).

    Parameters
    ----------
    tree : xarray.DataTree
        The posterior (or any DataTree) to write.
    path : str or pathlib.Path
        The file; an existing one is replaced (callers decide whether they may).
    """
    tree.to_netcdf(path, engine="netcdf4")


def _package_version() -> str:
    from bayes_cluster import __version__

    return __version__


class BayesianModel(ABC):
    """Base class of every Bayesian model: one ``fit``, one result shape, one save format.

    Attributes
    ----------
    idata_ : xarray.DataTree or None
        The fitted DataTree (``posterior``, ``sample_stats``, ``log_likelihood``,
        ``posterior_predictive``, ``observed_data``, ...), with provenance and the
        diagnostics verdict in its attrs. None before :meth:`fit`.
    diagnostics_ : MCMCDiagnostics or None
        Convergence checks of the fit.
    timings_ : dict of str to float
        ``compile_s``, ``sample_s`` and ``postprocess_s`` of the last fit.
    """

    default_target_accept: ClassVar[float] = 0.9
    """NUTS target acceptance when the caller gives none."""
    loo_variable: ClassVar[str] = "y"
    """The ``log_likelihood`` variable :meth:`loo` uses."""

    idata_: xr.DataTree | None = None
    diagnostics_: MCMCDiagnostics | None = None
    timings_: dict[str, float]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _REGISTRY[cls.__name__] = cls

    # ------------------------------------------------------------ what a model writes
    @abstractmethod
    def _prepare_fit(self, frame: pd.DataFrame, **options: Any) -> Any:
        """Validate and encode ``frame`` (and the model's fit options) for one fit."""

    @abstractmethod
    def _build(self, prepared: Any) -> Any:
        """Return the PyMC model of ``prepared`` (data in named data containers)."""

    @abstractmethod
    def _compile_key(self, prepared: Any) -> tuple:
        """Everything that fixes the compiled graph (form, priors, data shapes)."""

    @abstractmethod
    def _sampler_data(self, prepared: Any) -> dict[str, np.ndarray]:
        """Values of the model's data containers for this fit."""

    @abstractmethod
    def _postprocess(
        self, raw: xr.DataTree, prepared: Any, settings: SamplerSettings
    ) -> xr.DataTree:
        """Turn the sampler's DataTree into the model's result DataTree."""

    @abstractmethod
    def _diagnostic_variables(self, tree: xr.DataTree) -> list[str]:
        """Posterior variables whose convergence is checked."""

    @abstractmethod
    def config(self) -> dict[str, Any]:
        """Return the constructor arguments as JSON-able values (``cls(**config)``).

        Returns
        -------
        dict
        """

    @abstractmethod
    def summary(self, hdi_prob: float | None = None) -> pd.DataFrame:
        """Return one row per parameter a user reads, with every :data:`SUMMARY_COLUMNS`.

        Parameters
        ----------
        hdi_prob : float, optional
            Probability of the highest-density interval.

        Returns
        -------
        pandas.DataFrame
        """

    @abstractmethod
    def prior_summary(self) -> pd.DataFrame:
        """Return the priors in use, one row per parameter block.

        Returns
        -------
        pandas.DataFrame
        """

    @abstractmethod
    def sample_prior_predictive(self, *args: Any, **kwargs: Any) -> xr.DataTree:
        """Draw from the prior predictive distribution."""

    @abstractmethod
    def sample_posterior_predictive(self, *args: Any, **kwargs: Any) -> Any:
        """Draw replicated data from the posterior predictive distribution."""

    def _fitted_state(self) -> dict[str, Any]:
        """JSON-able state learnt during the fit that the DataTree does not hold."""
        return {}

    def _restore(self, tree: xr.DataTree, state: Mapping[str, Any]) -> None:  # noqa: B027
        """Re-create the fitted state after :meth:`load` (default: nothing to restore)."""

    def _provenance_extra(self, prepared: Any) -> dict[str, Any]:
        """Model-specific provenance entries (strings or simple values)."""
        return {}

    @classmethod
    def _from_config(cls, config: Mapping[str, Any]) -> Self:
        return cls(**config)

    # ------------------------------------------------------------ written once
    def fit(
        self,
        frame: pd.DataFrame,
        *,
        draws: int = 1000,
        tune: int = 1000,
        chains: int = 4,
        random_seed: int | None = None,
        sampler: str = "nutpie_c",
        target_accept: float | None = None,
        progressbar: bool = False,
        cores: int | None = None,
        **options: Any,
    ) -> xr.DataTree:
        """Sample the posterior, postprocess it, record provenance and check convergence.

        Parameters
        ----------
        frame : pandas.DataFrame
            The survey (or the model's own input frame).
        draws, tune, chains : int
            Draws per chain after warm-up, warm-up iterations, chains.
        random_seed : int, optional
            Seed; the same seed gives the same draws.
        sampler : {"nutpie_c", "nutpie", "pymc"}, default "nutpie_c"
            NUTS implementation (:class:`~bayes_cluster.inference.sampling.SamplerSettings`):
            "nutpie_c" compiles once per model structure and machine (cached on disk) and
            re-uses the compiled model on new data; "nutpie" gives the same draws but
            compiles anew in every process; "pymc" uses PyMC's own NUTS.
        target_accept : float, optional
            NUTS target acceptance (default :attr:`default_target_accept`).
        progressbar : bool, default False
            Show the sampler's progress bar.
        cores : int, optional
            Chains run in parallel on this many threads (nutpie_c, nutpie) or processes
            (pymc).
        **options
            The model's own fit options (see its ``_prepare_fit``).

        Returns
        -------
        xarray.DataTree
            The result, also kept as :attr:`idata_`.

        Warns
        -----
        ConvergenceWarning
            When a convergence check failed (see :attr:`diagnostics_`).
        """
        import time

        settings = SamplerSettings(
            draws=draws,
            tune=tune,
            chains=chains,
            seed=random_seed,
            target_accept=target_accept,
            backend=sampler,  # type: ignore[arg-type]
            cores=cores,
            progressbar=progressbar,
        ).with_defaults(target_accept=self._target_accept_default())
        return self._fit(frame, settings, time.perf_counter, **options)

    def _target_accept_default(self) -> float:
        return self.default_target_accept

    def _fit(self, frame: pd.DataFrame, settings: SamplerSettings, clock, **options: Any):
        from bayes_cluster.inference.provenance import provenance

        prepared = self._prepare_fit(frame, **options)
        result = self._sample_prepared(prepared, settings)
        started = clock()
        tree = self._postprocess(result.tree, prepared, settings)
        tree.attrs.update(
            provenance(
                seed=settings.seed,
                data=frame,
                model=type(self).__name__,
                sampler=settings.backend,
                draws=settings.draws,
                tune=settings.tune,
                chains=settings.chains,
                target_accept=settings.target_accept,
                **self._provenance_extra(prepared),
            )
        )
        tree.attrs[MODEL_ATTR] = type(self).__name__
        tree.attrs[MODULE_ATTR] = type(self).__module__
        tree.attrs[VERSION_ATTR] = _package_version()
        tree.attrs[STATE_ATTR] = json.dumps(
            {"config": self.config(), "state": self._fitted_state()}, default=str
        )
        self.idata_ = tree
        self.diagnostics_ = mcmc_diagnostics(tree, var_names=self._diagnostic_variables(tree))
        tree.attrs.update(self.diagnostics_.to_attrs())
        self.timings_ = {
            "compile_s": result.compile_seconds,
            "sample_s": result.sample_seconds,
            "postprocess_s": clock() - started,
        }
        warn_if_failed(self.diagnostics_, context=self._context())
        return tree

    def _sample_prepared(self, prepared: Any, settings: SamplerSettings) -> SampleResult:
        return sample(
            lambda: self._build(prepared),
            key=(type(self).__name__, *self._compile_key(prepared)),
            data=self._sampler_data(prepared),
            settings=settings,
            compile_with=self._fused_logp(),
        )

    def _fused_logp(self) -> Callable[[Any, Any], Any] | None:
        """Return a hand-written log-density for the compiled model, or None (the graph's).

        ``compile_with`` of :func:`bayes_cluster.inference.sampling.sample`: called with
        the compiled model and the PyMC model, it returns the compiled model with its own
        log-density, or ``None`` where the model is not one it implements.
        """
        return None

    def sample_raw(
        self, frame: pd.DataFrame, settings: SamplerSettings, **options: Any
    ) -> SampleResult:
        """Run only the sampling step of :meth:`fit`: prepare, compile (cached), sample.

        No postprocessing, provenance, diagnostics or warning, and :attr:`idata_` is not
        replaced (the model's data state, e.g. a logit's design, becomes that of
        ``frame``): for simulation studies that need the raw draws of thousands of fits.
        The compiled model is the one :meth:`fit` uses (same compile key).

        Parameters
        ----------
        frame : pandas.DataFrame
            The data, as for :meth:`fit`.
        settings : SamplerSettings
            Sampler settings; an unset ``target_accept`` gets the model's default.
        **options
            The model's own fit options.

        Returns
        -------
        SampleResult
            The sampler's DataTree and the compile and sampling seconds.
        """
        settings = settings.with_defaults(target_accept=self._target_accept_default())
        return self._sample_prepared(self._prepare_fit(frame, **options), settings)

    def _context(self) -> str:
        return type(self).__name__

    def _require_fit(self) -> xr.DataTree:
        if self.idata_ is None:
            raise RuntimeError(f"{type(self).__name__} is not fitted yet: call fit() first")
        return self.idata_

    def loo(self) -> Any:
        """PSIS-LOO of the fit (:func:`arviz_stats.loo`, pointwise, with Pareto k).

        Computed once per fit: a run reads it for the choice of K, the comparison of the
        ordinal and nominal models and the stacking weights (three times for each
        ordinal mixture, 1.1 s of the Tumang run).

        Returns
        -------
        arviz_stats.ELPDData
            ELPD estimate, its SE, ``p_loo`` and pointwise Pareto k.
        """
        import arviz_stats as azs

        tree = self._require_fit()
        cached = getattr(self, "_loo_of", None)
        if cached is not None and cached[0] is tree:
            return cached[1]
        result = azs.loo(tree, pointwise=True, var_name=self.loo_variable)
        self._loo_of = (tree, result)
        return result

    # ------------------------------------------------------------ persistence
    def save(self, path: str | Path) -> Path:
        """Save the fit: the DataTree, with the model's class, config and version in attrs.

        The file (or store) is written under a temporary name and moved into place, so a
        failure never leaves a half-written one. An existing ``path`` is replaced only
        when an earlier ``save()`` wrote it: anything else there is left untouched.

        Parameters
        ----------
        path : str or pathlib.Path
            ``*.nc`` for NetCDF (h5netcdf), ``*.zarr`` for a Zarr store.

        Returns
        -------
        pathlib.Path
            The path written.

        Raises
        ------
        RuntimeError
            When the model is not fitted.
        FileNotFoundError
            When the folder of ``path`` does not exist.
        ValueError
            When the path ends in neither ``.nc`` nor ``.zarr``, or something that no
            ``save()`` wrote is already there.
        """
        tree = self._require_fit()
        path = Path(path)
        if path.suffix not in (".zarr", ".nc", ".nc4", ".netcdf"):
            raise ValueError(f"save path must end in .nc or .zarr, got {str(path)!r}")
        if not path.parent.is_dir():
            raise FileNotFoundError(
                f"cannot save to {str(path)!r}: the folder {str(path.parent)!r} does not exist"
            )
        _refuse_foreign_target(path)
        if path.suffix == ".zarr":
            _save_zarr(tree, path)
            return path
        temporary = path.with_name(f".{path.name}.tmp")
        try:
            write_netcdf(tree, temporary)
            temporary.replace(path)
        finally:
            temporary.unlink(missing_ok=True)
        return path

    @classmethod
    def load(cls, path: str | Path) -> Self:
        """Load a fit written by :meth:`save` of this model class.

        Parameters
        ----------
        path : str or pathlib.Path
            A ``.nc`` file or ``.zarr`` store.

        Returns
        -------
        BayesianModel
            The model with :attr:`idata_`, :attr:`diagnostics_` and its fitted state.

        Raises
        ------
        FileNotFoundError
            When nothing is at ``path``.
        ValueError
            When the file was not written by a bayes_cluster model, or by another model
            class (the message names it and how to load it).

        Warns
        -----
        SavedVersionWarning
            When the file was written by another version of bayes_cluster.
        """
        tree, saved = _open_saved(path, expected=cls)
        return _rebuild(path, tree, saved)

    @classmethod
    def _from_tree(cls, tree: xr.DataTree) -> Self:
        payload = json.loads(tree.attrs[STATE_ATTR])
        model = cls._from_config(payload["config"])
        model._restore(tree, payload["state"])
        model.idata_ = tree
        model.diagnostics_ = mcmc_diagnostics(tree, var_names=model._diagnostic_variables(tree))
        return model

    # ------------------------------------------------------------ display
    def __repr__(self) -> str:
        fitted = "fitted" if self.idata_ is not None else "not fitted"
        config = ", ".join(f"{k}={v!r}" for k, v in self.config().items())
        return f"{type(self).__name__}({config}) [{fitted}]"

    def _repr_html_(self) -> str:
        name = html.escape(type(self).__name__)
        if self.idata_ is None or self.diagnostics_ is None:
            rows = "".join(
                f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>"
                for k, v in self.config().items()
            )
            return f"<p><b>{name}</b> (not fitted)</p><table>{rows}</table>"
        verdict = html.escape(self.diagnostics_.compact_summary())
        colour = "#009E73" if self.diagnostics_.passed else "#D55E00"
        table = self.summary().to_html(float_format=lambda v: f"{v:.3g}")
        return (
            f"<p><b>{name}</b></p>"
            f'<p style="color:{colour}"><b>Convergence: {verdict}</b></p>{table}'
        )


def _refuse_foreign_target(path: Path) -> None:
    """Refuse to save over anything an earlier ``save()`` did not write."""
    if not path.exists() and not path.is_symlink():
        return
    zarr = path.suffix == ".zarr"
    if path.is_symlink() or path.is_dir() != zarr:
        kind = "a link" if path.is_symlink() else ("a file" if zarr else "a folder")
        raise ValueError(
            f"cannot save to {str(path)!r}: it is {kind}, not a saved model; it is left "
            "untouched: choose another path"
        )
    try:
        kwargs = {"consolidated": False} if zarr else {}
        with xr.open_datatree(path, engine="zarr" if zarr else "h5netcdf", **kwargs) as old:
            ours = MODEL_ATTR in old.attrs
    except Exception:  # noqa: BLE001 - unreadable means not ours
        ours = False
    if not ours:
        raise ValueError(
            f"cannot save to {str(path)!r}: it exists and was not written by a bayes_cluster "
            "model's save(); it is left untouched: choose another path"
        )


def _save_zarr(tree: xr.DataTree, path: Path) -> None:
    """Write a Zarr store beside ``path``, then swap it in (never half-written)."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    previous = path.with_name(f".{path.name}.{os.getpid()}.old")
    try:
        tree.to_zarr(temporary, mode="w-", consolidated=False)
        if path.exists():
            path.rename(previous)
        temporary.rename(path)
    except BaseException:
        if previous.exists() and not path.exists():
            previous.rename(path)
        shutil.rmtree(temporary, ignore_errors=True)
        raise
    shutil.rmtree(previous, ignore_errors=True)


def _open_saved(
    path: str | Path, expected: type[BayesianModel] | None = None
) -> tuple[xr.DataTree, str]:
    """Read a saved fit and check, in this order, what wrote it, its class, then its state."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no saved model at {str(path)!r}")
    if path.is_dir() and path.suffix != ".zarr":
        raise ValueError(
            f"{str(path)!r} is a folder, not a saved model (a .nc file or a .zarr store)"
        )
    engine = "zarr" if path.suffix == ".zarr" else "h5netcdf"
    kwargs = {"consolidated": False} if engine == "zarr" else {}
    try:
        tree = xr.open_datatree(path, engine=engine, **kwargs).load()
    except (OSError, ValueError) as error:
        raise ValueError(f"{str(path)!r} is not a saved model ({error})") from error
    saved = tree.attrs.get(MODEL_ATTR)
    if saved is None or STATE_ATTR not in tree.attrs:
        raise ValueError(
            f"{str(path)!r} was not written by a bayes_cluster model's save() "
            f"(no {MODEL_ATTR!r} attribute)"
        )
    module = str(tree.attrs.get(MODULE_ATTR, ""))
    if saved not in _REGISTRY and module.startswith("bayes_cluster."):
        # the class registers itself when its module is imported (as pickle finds classes)
        with contextlib.suppress(ImportError):
            importlib.import_module(module)
    if saved not in _REGISTRY:
        raise ValueError(
            f"{str(path)!r} holds a {saved} fit, a model this version of bayes_cluster "
            "does not have"
        )
    if expected is not None and not issubclass(_REGISTRY[saved], expected):
        raise ValueError(
            f"{str(path)!r} holds a {saved} fit, not a {expected.__name__}: load it with "
            f"{saved}.load() or bayes_cluster.load_model()"
        )
    try:
        payload = json.loads(tree.attrs[STATE_ATTR])
    except (TypeError, ValueError) as error:
        raise ValueError(
            f"{str(path)!r}: its {STATE_ATTR!r} attribute is not the JSON save() writes "
            f"({error}); the file was edited or damaged: re-fit and save it again"
        ) from None
    if not (
        isinstance(payload, dict)
        and isinstance(payload.get("config"), dict)
        and isinstance(payload.get("state"), dict)
    ):
        raise ValueError(
            f"{str(path)!r}: its {STATE_ATTR!r} attribute lacks the 'config' and 'state' "
            "tables save() writes; the file was edited or damaged: re-fit and save it again"
        )
    version = tree.attrs.get(VERSION_ATTR, "unknown")
    if version != _package_version():
        warnings.warn(
            f"{str(path)!r} was saved by bayes_cluster {version}; this is "
            f"{_package_version()}. The posterior is read as saved; re-fit to get this "
            "version's results.",
            SavedVersionWarning,
            stacklevel=3,
        )
    return tree, saved


def load_model(path: str | Path) -> BayesianModel:
    """Load any saved fit, as the model class that wrote it.

    Parameters
    ----------
    path : str or pathlib.Path
        A ``.nc`` file or ``.zarr`` store written by a model's ``save()``.

    Returns
    -------
    BayesianModel
        An instance of the class named in the file.

    Raises
    ------
    FileNotFoundError, ValueError
        As :meth:`BayesianModel.load`.
    """
    tree, saved = _open_saved(path)
    return _rebuild(path, tree, saved)


def _rebuild(path: str | Path, tree: xr.DataTree, saved: str) -> BayesianModel:
    """Rebuild the model from its saved config and state; a damaged file is a ValueError."""
    try:
        return _REGISTRY[saved]._from_tree(tree)
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(
            f"{str(path)!r} holds a {saved} fit whose saved config or state this version "
            f"of bayes_cluster cannot restore ({type(error).__name__}: {error}); re-fit "
            "and save it again"
        ) from error

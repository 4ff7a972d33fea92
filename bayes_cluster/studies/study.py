"""Simulation studies of MLE, Firth and Bayesian logits at small sample sizes.

A study repeats "draw a survey of ``n`` firms from a known truth, fit every method" for
each cell of a grid (effect set x sample size) and many replicates, and reports per
method x n x term the bias, RMSE, interval coverage and width, power, sign errors, and
how often separation occurred or a fit failed (Morris, White & Crowther 2019, "Using
simulation studies to evaluate statistical methods", *Statistics in Medicine* 38).

The study is described by a TOML spec (``models/simulation.toml``; every key in
``docs/simulation_study.md``) and run by :func:`run_study` or
``bayes-cluster study SPEC --out DIR [--workers N] [--scheduler ADDRESS]``.

How it is made fast, resumable and distributable:

* **Seeds** of each (effect set, n, replicate) come from
  ``numpy.random.SeedSequence(seed, spawn_key=(crc32(effect set), n, replicate))``, so a
  replicate's numbers do not depend on scheduling, worker count or resumption.
* **Compile once**: each worker process compiles the Bayesian model once (nutpie's
  ``nutpie_c`` backend: the draws' expansion loads from the disk cache, the fused density
  is compiled with numba) and re-runs it on every new data set with ``with_data``; nothing
  is recompiled per replicate (:class:`BayesianFitter`). The compiled model lives in the
  package's one compile cache (:data:`bayes_cluster.inference.sampling.compiled_cache`)
  under the key :class:`~bayes_cluster.estimators.logistic.BayesianLogit` uses, marked
  ``"fused"``.
* **Fast path** (:mod:`bayes_cluster.inference.fast_logit`): the logit's log-density
  and gradient are one numba loop handed to nutpie (tested against PyMC's), the trace
  keeps only what the convergence rule reads, and R-hat/ESS are computed for all
  coefficients at once; the same rule
  (:func:`~bayes_cluster.inference.diagnostics.mcmc_diagnostics`) judges every replicate.
* **Executors**: replicates run in-process (``workers=1``), on local processes
  (``workers=N``), or on a Dask distributed cluster (``scheduler="tcp://..."``); the
  same task function runs everywhere.
* **Nothing lost**: the client writes each finished replicate atomically (temporary file
  + rename) to ``replicates/<effects>/n0060_r00042.parquet`` as soon as it completes. A
  rerun skips every replicate already on disk, so an interrupted study resumes where it
  stopped and gives the same metrics as an uninterrupted one.
* **Ctrl-C stops**: inside the CLI, Ctrl-C raises :class:`bayes_cluster.run.safety.Interrupted`
  (samplers do not swallow it); each fit is followed by a check of the interrupt flag, so a
  fit cut short is never saved as a (failed) replicate. Local worker processes are
  stopped at once; only finished replicates are on disk.
* **The output folder** is ``study.json``'s (naming this package): a folder holding other
  files is refused before any work starts (:func:`owns_study_folder`).
"""

from __future__ import annotations

import json
import math
import os
import time
import tomllib
import warnings
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from functools import cache
from pathlib import Path
from typing import Any, ClassVar, Protocol, TextIO

import numpy as np
import pandas as pd

from bayes_cluster.common.dims import INTERCEPT
from bayes_cluster.inference.sampling import SampleResult, SamplerSettings, sample
from bayes_cluster.run.safety import (
    PACKAGE,
    OutputFolderError,
    check_output_folder,
    deferred_interrupts,
    install_worker_interrupt_handler,
    is_package_marker,
    raise_if_interrupted,
)
from bayes_cluster.run.spec import SAMPLER_BOUNDS, Problems, SpecError, Table, validate_priors
from bayes_cluster.surveys.codebook import PRODUCT_LINES, TUMANG_PREDICTORS
from bayes_cluster.surveys.simulate import TUMANG_COEFFICIENTS, TUMANG_INTERCEPT, simulate_tumang

__all__ = [
    "FREQUENTIST_STUDY_METHODS",
    "BayesianVariant",
    "EffectSet",
    "ReplicateTask",
    "StudyKind",
    "StudyResult",
    "StudySpec",
    "collect_replicates",
    "load_study_spec",
    "owns_study_folder",
    "parse_sizes",
    "parse_study_spec",
    "read_study_toml",
    "replicate_seeds",
    "run_replicate",
    "run_study",
    "study_metrics",
]

OUTCOME = "export"
FREQUENTIST_STUDY_METHODS: tuple[str, ...] = ("mle", "firth")
"""Frequentist methods a study can name; Bayesian ones are ``bayes`` and its variants."""
BAYES = "bayes"
"""The Bayesian logit with the package's default priors and no grouping."""

REPLICATE_COLUMNS = (
    "effects",
    "n",
    "replicate",
    "method",
    "term",
    "true_value",
    "estimate",
    "std_error",
    "lower",
    "upper",
    "separation",
    "failed",
    "converged",
    "divergences",
    "r_hat_max",
    "ess_bulk_min",
    "fit_seconds",
    "note",
)
"""Columns of ``replicates.parquet``: one row per replicate x method x term."""


# --------------------------------------------------------------------------- the spec


@dataclass(frozen=True)
class EffectSet:
    """One data-generating truth of a study (original predictor scale).

    Attributes
    ----------
    name : str
        Label in every output table (``effects`` column).
    intercept : float
        True intercept (log-odds).
    coefficients : dict of str to float
        True slope per predictor (log-odds per unit).
    """

    name: str
    intercept: float
    coefficients: dict[str, float]

    def truth(self) -> dict[str, float]:
        """Return the true value of every term, ``Intercept`` first."""
        return {INTERCEPT: self.intercept, **self.coefficients}


@dataclass(frozen=True)
class BayesianVariant:
    """A Bayesian logit fitted in a study: its priors and optional grouping factor.

    Attributes
    ----------
    name : str
        Method name in every output table (``bayes`` is the default model).
    priors : dict
        Prior overrides in the shape :class:`bayes_cluster.estimators.logistic.BayesianLogit` takes
        (``{"slopes": {"dist": "StudentT", "nu": 3, "sigma": 2.5}, ...}``); empty means
        the package defaults.
    group : str or None
        Grouping column of varying intercepts (e.g. ``product_line``).
    """

    name: str
    priors: dict[str, dict[str, Any]] = field(default_factory=dict)
    group: str | None = None


STUDY_TARGET_ACCEPT = 0.9
"""NUTS target acceptance of a study's Bayesian fits unless ``[sampler]`` sets it."""

_FINGERPRINT_SAMPLER_KEYS = ("draws", "tune", "chains", "target_accept")
"""The ``[sampler]`` settings a study spec can set (its fingerprint records these)."""


def _study_sampler() -> SamplerSettings:
    return SamplerSettings(target_accept=STUDY_TARGET_ACCEPT)


@dataclass(frozen=True)
class StudySpec:
    """A parsed, validated simulation-study spec.

    Attributes
    ----------
    sizes : tuple of int
        Sample sizes ``n`` (firms per simulated survey).
    replicates : int
        Simulated surveys per cell (effect set x n).
    methods : tuple of str
        ``mle``, ``firth``, ``bayes`` and names of Bayesian variants.
    seed : int
        Root seed of the study.
    effect_sets : tuple of EffectSet
        The truths; the first is the spec's ``truth``, then weaker/null sets.
    interval_level : float
        Level of every interval (Wald, profile penalised likelihood, central posterior).
    sampler : bayes_cluster.inference.sampling.SamplerSettings
        MCMC settings of the Bayesian methods (``[sampler]``: draws, tune, chains,
        target acceptance; the seed of each fit comes from :func:`replicate_seeds`).
    variants : dict of str to BayesianVariant
        Bayesian methods by name.
    group_effects : bool
        Whether the data have the Tumang product-line intercept shifts (default false:
        the fitted models are then correctly specified).
    name : str
        Study label.
    source : str
        File the spec was read from (for messages and provenance).
    """

    sizes: tuple[int, ...]
    replicates: int
    methods: tuple[str, ...]
    seed: int
    effect_sets: tuple[EffectSet, ...]
    interval_level: float = 0.95
    sampler: SamplerSettings = field(default_factory=_study_sampler)
    variants: dict[str, BayesianVariant] = field(default_factory=dict)
    group_effects: bool = False
    name: str = "simulation study"
    source: str = "<spec>"

    @property
    def predictors(self) -> tuple[str, ...]:
        """Predictors of every fitted model (the seven of the Tumang design)."""
        return TUMANG_PREDICTORS

    @property
    def bayesian_methods(self) -> tuple[str, ...]:
        """The Bayesian methods of the study, in spec order."""
        return tuple(m for m in self.methods if m in self.variants)

    def effect_set(self, name: str) -> EffectSet:
        """Return the effect set called ``name``."""
        for effect_set in self.effect_sets:
            if effect_set.name == name:
                return effect_set
        raise KeyError(name)

    def replicate_truth(self, task: ReplicateTask) -> EffectSet:
        """Return the truth one replicate's survey is drawn from: its effect set.

        A sample-size plan (:class:`bayes_cluster.studies.plan.PlanSpec`) overrides this
        to draw one truth per replicate from the assumed effects' uncertainty.
        """
        return self.effect_set(task.effects)

    def tasks(self) -> list[ReplicateTask]:
        """Every (effect set, n, replicate) of the study, in a stable order."""
        return [
            ReplicateTask(effect_set.name, n, replicate)
            for effect_set in self.effect_sets
            for n in self.sizes
            for replicate in range(self.replicates)
        ]

    def fingerprint(self) -> dict[str, Any]:
        """Everything that shapes one replicate's numbers (not the grid's extent).

        Two specs with the same fingerprint produce identical replicate files, so a study
        may grow (more replicates, more sizes) in the same output folder, but not change
        its truths, methods, seed, priors or sampler settings.
        """
        return {
            "seed": self.seed,
            "methods": list(self.methods),
            "effect_sets": [asdict(e) for e in self.effect_sets],
            "interval_level": self.interval_level,
            # the settings a spec sets, so that the fingerprint of a study is unchanged
            # since [sampler] became the package's one SamplerSettings
            "sampler": {key: getattr(self.sampler, key) for key in _FINGERPRINT_SAMPLER_KEYS},
            "variants": {k: asdict(v) for k, v in sorted(self.variants.items())},
            "group_effects": self.group_effects,
        }

    # The engine's hooks (StudyKind): what run_study asks of the spec it runs.

    # a plain class attribute, not a field (PlanSpec copies StudySpec's fields)
    replicate_columns = REPLICATE_COLUMNS
    """Columns of one replicate's rows (:data:`REPLICATE_COLUMNS`)."""

    def run_replicate(self, task: ReplicateTask, cores: int = 1) -> pd.DataFrame:
        """Compute one replicate: :func:`run_replicate` (simulate, fit every method)."""
        return run_replicate(self, task, cores)

    def replicate_cores(self) -> int:
        """Threads one replicate may use in this process: one per chain, at most the CPUs."""
        return max(1, min(self.sampler.chains, os.cpu_count() or 1))

    def typed_replicates(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Give replicate rows the column types every replicate file shares."""
        return _typed(frame)

    def metrics(self, replicates: pd.DataFrame) -> pd.DataFrame:
        """Summarise the replicates: :func:`study_metrics` (``metrics.csv``)."""
        return study_metrics(replicates)


@dataclass(frozen=True, order=True)
class ReplicateTask:
    """One simulated survey of a study: effect set, sample size and replicate index."""

    effects: str
    n: int
    replicate: int

    def relative_path(self) -> Path:
        """File of the finished replicate, relative to the study's output folder."""
        return Path("replicates") / self.effects / f"n{self.n:04d}_r{self.replicate:05d}.parquet"


class StudyKind(Protocol):
    """What :func:`run_study` needs of a spec: the engine runs any kind of study that has it.

    :class:`StudySpec` (the logit study, and the plan built on it) is one;
    :class:`bayes_cluster.studies.lrt_study.LrtStudySpec` (the bootstrap LRT under its
    null) another. A spec is a frozen dataclass defined at module level, so that its bound
    :meth:`run_replicate` is shipped to spawned processes and Dask workers by pickling.
    """

    name: str
    source: str
    seed: int
    replicate_columns: ClassVar[tuple[str, ...]]

    def tasks(self) -> list[ReplicateTask]:
        """Every replicate of the study, in a stable order."""
        ...

    def fingerprint(self) -> dict[str, Any]:
        """Everything that shapes one replicate's numbers (kept in ``study.json``)."""
        ...

    def run_replicate(self, task: ReplicateTask, cores: int = 1) -> pd.DataFrame:
        """Compute one replicate's rows (the unit of work of every executor)."""
        ...

    def replicate_cores(self) -> int:
        """Threads a replicate run in the client's process may use."""
        ...

    def typed_replicates(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Give replicate rows their column types."""
        ...

    def metrics(self, replicates: pd.DataFrame) -> pd.DataFrame:
        """Summarise the replicates (the table written as ``metrics.csv``)."""
        ...


_STUDY_KEYS = (
    "name",
    "sizes",
    "replicates",
    "methods",
    "seed",
    "truth",
    "interval_level",
    "group_effects",
)


@cache
def _predictor_means() -> dict[str, float]:
    """Return the population means of the Tumang predictors (a large fixed-seed draw)."""
    frame, _ = simulate_tumang(n=200_000, seed=0)
    return {name: float(frame[name].mean()) for name in TUMANG_PREDICTORS}


def _scaled_effect_set(name: str, base: EffectSet, scale: float) -> EffectSet:
    """Slopes times ``scale``; intercept moved so the log-odds at the means is unchanged."""
    means = _predictor_means()
    shift = sum(beta * means[p] for p, beta in base.coefficients.items())
    return EffectSet(
        name,
        intercept=base.intercept + (1.0 - scale) * shift,
        coefficients={p: beta * scale for p, beta in base.coefficients.items()},
    )


def _parse_coefficients(raw: Any, key: str, problems: Problems) -> dict[str, float]:
    coefficients = {}
    if not isinstance(raw, dict):
        problems.add(key, f"must be a table predictor = slope, got {raw!r}")
        return coefficients
    for name, value in raw.items():
        if name not in TUMANG_PREDICTORS:
            problems.add(
                f"{key}.{name}",
                f"unknown predictor; the study design has {', '.join(TUMANG_PREDICTORS)}",
            )
        elif isinstance(value, bool) or not isinstance(value, int | float):
            problems.add(f"{key}.{name}", f"must be a number, got {value!r}")
        else:
            coefficients[name] = float(value)
    return coefficients


def _parse_truth(raw: Any, problems: Problems) -> EffectSet:
    tumang = EffectSet("truth", TUMANG_INTERCEPT, dict(TUMANG_COEFFICIENTS))
    if raw is None or raw == "tumang":
        return tumang
    if isinstance(raw, str):
        problems.add(
            "[study].truth",
            f'unknown truth {raw!r}; use "tumang" or a table {{ intercept = ..., '
            "<predictor> = <slope>, ... }",
        )
        return tumang
    if not isinstance(raw, dict):
        problems.add("[study].truth", f'must be "tumang" or a table, got {raw!r}')
        return tumang
    raw = dict(raw)
    intercept = raw.pop("intercept", TUMANG_INTERCEPT)
    if isinstance(intercept, bool) or not isinstance(intercept, int | float):
        problems.add("[study].truth.intercept", f"must be a number, got {intercept!r}")
        intercept = TUMANG_INTERCEPT
    coefficients = _parse_coefficients(raw, "[study].truth", problems)
    return EffectSet("truth", float(intercept), {**TUMANG_COEFFICIENTS, **coefficients})


def _parse_effect_sets(raw: Any, base: EffectSet, problems: Problems) -> list[EffectSet]:
    sets = [base]
    if raw is None:
        return sets
    if not isinstance(raw, dict):
        problems.add("[effects]", "must be a table of effect sets ([effects.<name>])")
        return sets
    for name, table_raw in raw.items():
        key = f"[effects.{name}]"
        if name == base.name:
            problems.add(key, f"{name!r} is the name of the spec's own truth; pick another")
            continue
        table = Table(table_raw, key, problems, ("scale", "intercept", "coefficients"))
        if table.has("scale") == table.has("coefficients"):
            problems.add(key, "give either scale (times the truth's slopes) or coefficients")
            continue
        if table.has("scale"):
            scale = table.get("scale", float, None)
            if scale is None:
                continue
            effect_set = _scaled_effect_set(name, base, scale)
        else:
            coefficients = _parse_coefficients(
                table.raw["coefficients"], f"{key}.coefficients", problems
            )
            effect_set = EffectSet(name, base.intercept, {**base.coefficients, **coefficients})
        intercept = table.get("intercept", float, None)
        if intercept is not None:
            effect_set = EffectSet(name, intercept, effect_set.coefficients)
        sets.append(effect_set)
    return sets


def _parse_variants(raw: Any, problems: Problems) -> dict[str, BayesianVariant]:
    variants = {BAYES: BayesianVariant(BAYES)}
    if raw is None:
        return variants
    if not isinstance(raw, dict):
        problems.add("[variants]", "must be a table of Bayesian variants ([variants.<name>])")
        return variants
    for name, table_raw in raw.items():
        key = f"[variants.{name}]"
        if name in FREQUENTIST_STUDY_METHODS:
            problems.add(key, f"{name!r} is a frequentist method; name the variant otherwise")
            continue
        table = Table(table_raw, key, problems, ("priors", "group"))
        priors = (
            validate_priors(table.raw["priors"], f"{key}.priors", problems)
            if table.has("priors")
            else {}
        )
        group = table.get("group", str, None)
        if group is not None and group != "product_line":
            problems.add(
                f"{key}.group",
                f"the simulated surveys have one grouping column, product_line; got {group!r}",
            )
            group = None
        variants[name] = BayesianVariant(name, priors, group)
    return variants


def parse_sizes(study: Table, problems: Problems) -> list[int]:
    """Read ``[study].sizes``: distinct whole numbers of firms, each at least 10.

    Parameters
    ----------
    study : Table
        The spec's ``[study]`` table.
    problems : Problems
        Collects every problem (key and message).

    Returns
    -------
    list of int
        The valid sizes, in spec order.
    """
    sizes_raw = study.require("sizes", list) or []
    sizes = []
    for value in sizes_raw:
        if isinstance(value, bool) or not isinstance(value, int) or value < 10:
            problems.add("[study].sizes", f"each size must be an integer >= 10, got {value!r}")
        else:
            sizes.append(value)
    if len(set(sizes)) != len(sizes):
        problems.add("[study].sizes", "lists a size more than once")
    if study.has("sizes") and sizes_raw == []:
        problems.add("[study].sizes", "must list at least one sample size")
    return sizes


def parse_study_spec(raw: Mapping[str, Any], source: str = "<spec>") -> StudySpec:
    """Validate a study spec given as a mapping (a parsed TOML document).

    Parameters
    ----------
    raw : mapping
        Tables ``[study]``, ``[sampler]``, ``[effects.<name>]``, ``[variants.<name>]``.
    source : str
        Where the spec came from, for messages.

    Returns
    -------
    StudySpec
        The validated spec.

    Raises
    ------
    bayes_cluster.run.spec.SpecError
        Listing every problem with its key.
    """
    problems = Problems()
    top = Table(raw, "spec", problems, ("study", "sampler", "effects", "variants"))
    if "study" not in top.raw:
        problems.add("[study]", "is required")
    study_raw = top.raw.get("study", {})
    # kind = "logit" may be written; other kinds are other studies (the study command
    # sends "bootstrap_lrt" to bayes_cluster.studies.lrt_study)
    kind = "logit"
    if isinstance(study_raw, dict):  # a copy: the caller's mapping is left as it was
        study_raw = dict(study_raw)
        kind = study_raw.pop("kind", "logit")
    study = Table(study_raw, "[study]", problems, _STUDY_KEYS)
    if kind == "bootstrap_lrt":
        problems.add(
            "[study].kind",
            '"bootstrap_lrt" studies are read by '
            "bayes_cluster.studies.lrt_study.load_lrt_study_spec (the study command reads "
            "both kinds); this parser reads logit studies",
        )
    elif kind != "logit":
        problems.add("[study].kind", f'unknown kind {kind!r}; use "logit" or "bootstrap_lrt"')
    sizes = parse_sizes(study, problems)
    replicates = study.positive_int("replicates", 100)
    seed = study.positive_int("seed", 1, minimum=0)
    level = study.get("interval_level", float, 0.95)
    if not 0.5 <= level < 1:
        problems.add("[study].interval_level", f"must be in [0.5, 1), got {level}")
        level = 0.95
    group_effects = study.get("group_effects", bool, False)
    base = _parse_truth(study.raw.get("truth"), problems)
    effect_sets = _parse_effect_sets(top.raw.get("effects"), base, problems)
    variants = _parse_variants(top.raw.get("variants"), problems)
    known = (*FREQUENTIST_STUDY_METHODS, *variants)
    methods = study.choice_list("methods", known, ("mle", "firth", BAYES))
    if not methods:
        problems.add("[study].methods", "must name at least one method")
    sampler_table = Table(
        top.raw.get("sampler", {}),
        "[sampler]",
        problems,
        ("draws", "tune", "chains", "target_accept"),
    )
    target_accept = sampler_table.get("target_accept", float, STUDY_TARGET_ACCEPT)
    if not 0.5 <= target_accept < 1:
        problems.add("[sampler].target_accept", f"must be in [0.5, 1), got {target_accept}")
        target_accept = STUDY_TARGET_ACCEPT
    sampler = SamplerSettings(
        draws=sampler_table.positive_int("draws", 1000, minimum=10),
        tune=sampler_table.positive_int("tune", 1000, minimum=0),
        # one chain has no R-hat: every Bayesian fit of the study would count as failed
        chains=sampler_table.positive_int("chains", 4, *SAMPLER_BOUNDS["chains"]),
        target_accept=target_accept,
    )
    if problems.items:
        raise SpecError(source, problems.items)
    return StudySpec(
        sizes=tuple(sizes),
        replicates=replicates,
        methods=methods,
        seed=seed,
        effect_sets=tuple(effect_sets),
        interval_level=level,
        sampler=sampler,
        variants={name: variants[name] for name in methods if name in variants},
        group_effects=group_effects,
        name=study.get("name", str, "simulation study"),
        source=source,
    )


def read_study_toml(path: Path) -> dict[str, Any]:
    """Read a study or plan spec file as TOML (UTF-8 or UTF-16, as run specs are read).

    Parameters
    ----------
    path : pathlib.Path
        The spec file.

    Returns
    -------
    dict
        The parsed TOML.

    Raises
    ------
    bayes_cluster.run.spec.SpecError
        If the file is missing or is not valid TOML.
    """
    from bayes_cluster.run.spec import read_spec_text  # UTF-8/UTF-16 read, others refused

    if not path.exists():
        raise SpecError(str(path), ["file not found"])
    try:
        return tomllib.loads(read_spec_text(path))
    except tomllib.TOMLDecodeError as error:
        raise SpecError(str(path), [f"not valid TOML: {error}"]) from None


def load_study_spec(path: str | Path) -> StudySpec:
    """Read and validate a study spec (TOML).

    Parameters
    ----------
    path : str or pathlib.Path
        The spec file, e.g. ``models/simulation.toml``.

    Returns
    -------
    StudySpec
        The validated spec.

    Raises
    ------
    bayes_cluster.run.spec.SpecError
        If the file is missing, is not TOML, or has invalid keys (every problem listed).

    Examples
    --------
    >>> spec = load_study_spec("models/simulation.toml")  # doctest: +SKIP
    >>> spec.sizes
    (30, 60, 120, 240)
    """
    path = Path(path)
    return parse_study_spec(read_study_toml(path), source=str(path))


# --------------------------------------------------------------------------- one replicate


def replicate_seeds(seed: int, effects: str, n: int, replicate: int) -> tuple[int, int]:
    """Seeds of one replicate's data and fits, independent of scheduling.

    Parameters
    ----------
    seed : int
        The study's root seed.
    effects : str
        Effect-set name (keyed by its CRC-32, so adding a set leaves the others' seeds).
    n : int
        Sample size (keyed by value, so adding a size leaves the others' seeds).
    replicate : int
        Replicate index.

    Returns
    -------
    data_seed, fit_seed : int
        Seeds of :func:`~bayes_cluster.surveys.simulate.simulate_tumang` and of the samplers.

    Examples
    --------
    >>> replicate_seeds(1, "truth", 60, 0) == replicate_seeds(1, "truth", 60, 0)
    True
    """
    sequence = np.random.SeedSequence(
        seed, spawn_key=(zlib.crc32(effects.encode("utf-8")), n, replicate)
    )
    data_seed, fit_seed = sequence.generate_state(2, dtype=np.uint32)
    return int(data_seed), int(fit_seed)


def simulate_replicate(spec: StudySpec, task: ReplicateTask) -> pd.DataFrame:
    """Draw the survey of one replicate from its effect set's truth.

    Parameters
    ----------
    spec : StudySpec
        The study.
    task : ReplicateTask
        Which replicate.

    Returns
    -------
    pandas.DataFrame
        The simulated survey (``simulate_tumang`` columns).
    """
    effect_set = spec.replicate_truth(task)
    data_seed, _ = replicate_seeds(spec.seed, task.effects, task.n, task.replicate)
    group_effects = None if spec.group_effects else dict.fromkeys(PRODUCT_LINES, 0.0)
    frame, _ = simulate_tumang(
        n=task.n,
        seed=data_seed,
        coefficients=effect_set.coefficients,
        intercept=effect_set.intercept,
        group_effects=group_effects,
    )
    return frame


@dataclass
class MethodFit:
    """What one method reported on one simulated survey (adapter output).

    Attributes
    ----------
    table : pandas.DataFrame
        Indexed by term; columns ``estimate``, ``std_error``, ``lower``, ``upper``.
    converged : bool
        Optimiser converged (frequentist), or every check of
        :func:`~bayes_cluster.inference.diagnostics.mcmc_diagnostics` passed on the
        coefficients (Bayesian: R-hat, bulk and tail ESS, divergences, tree depth, E-BFMI).
    divergences, r_hat_max, ess_bulk_min : optional
        MCMC diagnostics (Bayesian methods only).
    note : str
        Warnings raised by the fit.
    separated : bool or None
        The fit's own separation check (maximum likelihood runs one), re-used so that a
        replicate is checked once.
    """

    table: pd.DataFrame
    converged: bool = True
    divergences: int | None = None
    r_hat_max: float | None = None
    ess_bulk_min: float | None = None
    note: str = ""
    separated: bool | None = None


def _z(level: float) -> float:
    from scipy.stats import norm

    return float(norm.ppf(0.5 + level / 2))


def _warning_note(caught: Iterable[warnings.WarningMessage]) -> str:
    messages = sorted({f"{w.category.__name__}: {str(w.message).splitlines()[0]}" for w in caught})
    return "; ".join(messages)[:300]


def _fit_mle(frame: pd.DataFrame, spec: StudySpec, seed: int) -> MethodFit:
    """Maximum likelihood with Wald intervals; separated terms are reported as ±inf."""
    from bayes_cluster.estimators.frequentist import mle_logit

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = mle_logit(frame, OUTCOME, list(spec.predictors), level=spec.interval_level)
    summary = result.summary
    z = _z(spec.interval_level)
    table = pd.DataFrame(
        {
            "estimate": summary["estimate"],
            "std_error": summary["std_error"],
            "lower": summary["estimate"] - z * summary["std_error"],
            "upper": summary["estimate"] + z * summary["std_error"],
        }
    )
    notes = [_warning_note(caught), *getattr(result, "warnings", [])]
    return MethodFit(
        table,
        converged=bool(getattr(result, "converged", True)),
        note="; ".join(n for n in notes if n)[:300],
        separated=bool(result.separation.separated),
    )


def _fit_firth(frame: pd.DataFrame, spec: StudySpec, seed: int) -> MethodFit:
    """Firth's penalised likelihood with profile penalised-likelihood intervals."""
    from bayes_cluster.estimators.frequentist import firth_logit

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = firth_logit(frame, OUTCOME, list(spec.predictors), level=spec.interval_level)
    summary = result.summary
    table = pd.DataFrame(
        {
            "estimate": summary["estimate"],
            "std_error": summary["std_error"],
            "lower": summary["ci_lower"],
            "upper": summary["ci_upper"],
        }
    )
    notes = [_warning_note(caught), *getattr(result, "warnings", [])]
    return MethodFit(
        table,
        converged=bool(getattr(result, "converged", True)),
        note="; ".join(n for n in notes if n)[:300],
    )


def _separation(frame: pd.DataFrame, spec: StudySpec) -> bool:
    """Whether the simulated survey has complete or quasi-complete separation (LP check)."""
    from bayes_cluster.estimators.frequentist import detect_separation

    return bool(detect_separation(frame, OUTCOME, list(spec.predictors)).separated)


_FREQUENTIST_FITS: dict[str, Callable[[pd.DataFrame, StudySpec, int], MethodFit]] = {
    "mle": _fit_mle,
    "firth": _fit_firth,
}


class BayesianFitter:
    """A Bayesian logit compiled once and re-run on every simulated survey.

    The model is :class:`bayes_cluster.estimators.logistic.BayesianLogit` (same priors, same
    standardisation, same PyMC graph), sampled through
    :func:`bayes_cluster.inference.sampling.sample` with, by default (``fast``), the graph's
    log-density replaced by the same density written as one numba loop
    (:func:`~bayes_cluster.inference.fast_logit.fuse_logit_logp`, tested against PyMC's) and
    a lean trace: the first fit compiles it (backend ``nutpie_c``) into the package's
    compile cache; every later fit only swaps the data containers (``X``, ``center``,
    ``scale``, ``y_obs``, ``group_idx``) with ``compiled.with_data`` -- for any sample size,
    since only the ranks of the containers are fixed at compile time. The estimate is the
    posterior mean and the interval the central posterior interval at the study's level,
    both of the original-scale ``alpha``/``beta``. A fit is converged when every check of
    :func:`~bayes_cluster.inference.diagnostics.mcmc_diagnostics` passes on ``alpha`` and
    ``beta`` (the rule every model of the package is judged by).

    Parameters
    ----------
    variant : BayesianVariant
        Priors and grouping of the model.
    predictors : sequence of str
        Predictor columns.
    sampler : bayes_cluster.inference.sampling.SamplerSettings
        Draws, tune, chains, target acceptance.
    interval_level : float
        Probability of the central posterior interval.
    cores : int
        Threads for the chains of one fit.
    fast : bool, default True
        Sample with the fused log-density and gradient of
        :func:`bayes_cluster.inference.fast_logit.fuse_logit_logp` (same posterior; used
        where the priors allow it, else the PyMC graph) and keep only the draws and the
        statistics the convergence rule reads (``lean``). ``False`` samples the PyMC
        graph and converts the full trace (the path of ``BayesianLogit.fit``).

    Attributes
    ----------
    compilations : int
        Models this fitter compiled (0 when the compile cache already held it).
    """

    def __init__(
        self,
        variant: BayesianVariant,
        predictors: Sequence[str],
        sampler: SamplerSettings,
        interval_level: float,
        cores: int = 1,
        fast: bool = True,
    ) -> None:
        from bayes_cluster.estimators.logistic import BayesianLogit

        self.variant = variant
        self.sampler = sampler
        self.interval_level = interval_level
        self.cores = cores
        self.fast = fast
        self.logit = BayesianLogit(
            OUTCOME, list(predictors), group=variant.group, priors=variant.priors or None
        )
        self.compilations = 0

    def fit(self, frame: pd.DataFrame, seed: int) -> MethodFit:
        """Sample the posterior on ``frame`` and summarise it (compiling on first use).

        Parameters
        ----------
        frame : pandas.DataFrame
            A simulated survey.
        seed : int
            Sampler seed.

        Returns
        -------
        MethodFit
            Posterior mean, posterior SD and central interval per term, with divergences,
            the largest R-hat and the smallest bulk ESS of the coefficients, and the
            verdict of :func:`~bayes_cluster.inference.diagnostics.mcmc_diagnostics`.
        """
        from bayes_cluster.inference.diagnostics import mcmc_diagnostics

        settings = replace(
            self.sampler, seed=seed, backend="nutpie_c", cores=self.cores, progressbar=False
        )
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = self._sample(frame, settings)
        self.compilations += result.model is not None
        trace = result.tree
        posterior = trace["posterior"]
        alpha = posterior["alpha"].to_numpy()[..., None]
        beta = posterior["beta"].transpose("chain", "draw", ...).to_numpy()
        draws = np.concatenate([alpha, beta], axis=-1)  # (chain, draw, term)
        flat = draws.reshape(-1, draws.shape[-1])
        tail = (1 - self.interval_level) / 2
        lower, upper = np.quantile(flat, [tail, 1 - tail], axis=0)
        terms = [INTERCEPT, *self.logit.terms]
        table = pd.DataFrame(
            {
                "estimate": flat.mean(axis=0),
                "std_error": flat.std(axis=0, ddof=1),
                "lower": lower,
                "upper": upper,
            },
            index=terms,
        )
        # the one convergence rule; its table holds the recorded R-hat and bulk ESS
        diagnostics = mcmc_diagnostics(trace, var_names=["alpha", "beta"])
        return MethodFit(
            table,
            converged=diagnostics.passed,
            divergences=diagnostics.n_divergences,
            r_hat_max=float(np.nanmax(diagnostics.table["r_hat"].to_numpy())),
            ess_bulk_min=float(np.nanmin(diagnostics.table["ess_bulk"].to_numpy())),
            note=_warning_note(caught),
        )

    def _sample(self, frame: pd.DataFrame, settings: SamplerSettings) -> SampleResult:
        """Sample through the package's one sampling path (fused and lean when ``fast``)."""
        if not self.fast:
            return self.logit.sample_raw(frame, settings)
        from bayes_cluster.inference.fast_logit import fuse_logit_logp

        logit = self.logit
        settings = settings.with_defaults(target_accept=logit._target_accept_default())
        prepared = logit._prepare_fit(frame)
        priors = logit.resolved_priors()
        return sample(
            lambda: logit._build(prepared),
            # its own cache entry (BayesianLogit.fit compiles the same fused density)
            key=(type(logit).__name__, *logit._compile_key(prepared), "fused"),
            data=logit._sampler_data(prepared),
            settings=settings,
            compile_with=lambda compiled, model: fuse_logit_logp(compiled, model, priors),
            lean=True,
        )


_BAYES_FITTERS: dict[tuple, BayesianFitter] = {}
"""Per-process cache of compiled Bayesian models (one compile per worker process)."""


def _bayesian_fitter(spec: StudySpec, method: str, cores: int) -> BayesianFitter:
    variant = spec.variants[method]
    key = (repr(variant), repr(spec.sampler), spec.interval_level, cores)
    if key not in _BAYES_FITTERS:
        _BAYES_FITTERS[key] = BayesianFitter(
            variant, spec.predictors, spec.sampler, spec.interval_level, cores=cores
        )
    return _BAYES_FITTERS[key]


def run_replicate(spec: StudySpec, task: ReplicateTask, cores: int = 1) -> pd.DataFrame:
    """Simulate one survey and fit every method of the study to it.

    This is the unit of work shipped to local processes or Dask workers. A method that
    raises is recorded as failed (with its message in ``note``); it does not stop the
    study.

    Parameters
    ----------
    spec : StudySpec
        The study.
    task : ReplicateTask
        Which replicate.
    cores : int
        Threads each Bayesian fit may use for its chains.

    Returns
    -------
    pandas.DataFrame
        One row per method x term, columns :data:`REPLICATE_COLUMNS`.
    """
    frame = simulate_replicate(spec, task)
    _, fit_seed = replicate_seeds(spec.seed, task.effects, task.n, task.replicate)
    truth = spec.replicate_truth(task).truth()
    terms = list(truth)
    fits = {}
    for method in spec.methods:
        start = time.perf_counter()
        try:
            if method in _FREQUENTIST_FITS:
                fit = _FREQUENTIST_FITS[method](frame, spec, fit_seed)
            else:
                fit = _bayesian_fitter(spec, method, cores).fit(frame, seed=fit_seed)
            table = fit.table.reindex(terms)
            failed = not np.isfinite(table["estimate"].to_numpy(float)).all()
            error = ""
        except Exception as exc:  # noqa: BLE001 - a failing fit is a result of the study
            fit = MethodFit(pd.DataFrame(index=terms), converged=False)
            table = pd.DataFrame(
                np.nan, index=terms, columns=["estimate", "std_error", "lower", "upper"]
            )
            failed = True
            error = f"{type(exc).__name__}: {exc}"
        # Ctrl-C during the fit: whatever the library returned or raised is not a result
        raise_if_interrupted()
        fits[method] = (fit, table, failed, error, time.perf_counter() - start)
    separation = next((f.separated for f, *_ in fits.values() if f.separated is not None), None)
    if separation is None:
        try:
            separation = _separation(frame, spec)
        except Exception:  # noqa: BLE001 - recorded as unknown rather than stopping the study
            separation = None
    rows = []
    for method, (fit, table, failed, error, seconds) in fits.items():
        for term in terms:
            rows.append(
                {
                    "effects": task.effects,
                    "n": task.n,
                    "replicate": task.replicate,
                    "method": method,
                    "term": term,
                    "true_value": truth[term],
                    "estimate": float(table.at[term, "estimate"]),
                    "std_error": float(table.at[term, "std_error"]),
                    "lower": float(table.at[term, "lower"]),
                    "upper": float(table.at[term, "upper"]),
                    "separation": separation,
                    "failed": failed,
                    "converged": bool(fit.converged) and not failed,
                    "divergences": fit.divergences,
                    "r_hat_max": fit.r_hat_max,
                    "ess_bulk_min": fit.ess_bulk_min,
                    "fit_seconds": seconds,
                    "note": error or fit.note,
                }
            )
    return _typed(pd.DataFrame(rows, columns=list(REPLICATE_COLUMNS)))


def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    """Fix the column types so every replicate file has the same schema."""
    return frame.astype(
        {
            "effects": "string",
            "n": "int64",
            "replicate": "int64",
            "method": "string",
            "term": "string",
            "true_value": "float64",
            "estimate": "float64",
            "std_error": "float64",
            "lower": "float64",
            "upper": "float64",
            "separation": "boolean",
            "failed": "bool",
            "converged": "bool",
            "divergences": "Int64",
            "r_hat_max": "Float64",
            "ess_bulk_min": "Float64",
            "fit_seconds": "float64",
            "note": "string",
        }
    )


# --------------------------------------------------------------------------- persistence


def _write_atomic(frame: pd.DataFrame, path: Path) -> None:
    """Write a parquet file under a temporary name, then rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        frame.to_parquet(tmp, index=False)
        tmp.replace(path)
    except BaseException:  # Ctrl-C mid-write included: leave no partial file behind
        tmp.unlink(missing_ok=True)
        raise


def _write_text_atomic(text: str, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def owns_study_folder(folder: Path) -> bool:
    """Whether ``folder`` was written by a study of this package (its ``study.json``).

    ``study.json`` names the package (:data:`bayes_cluster.run.safety.PACKAGE`); one written
    before that key existed is recognised by its ``fingerprint`` and ``provenance``.

    Parameters
    ----------
    folder : pathlib.Path
        Candidate output folder.

    Returns
    -------
    bool
    """
    manifest = Path(folder) / "study.json"
    if is_package_marker(manifest):
        return True
    try:
        stored = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return False
    return isinstance(stored, dict) and {"fingerprint", "provenance"} <= set(stored)


def _check_out_folder(spec: StudyKind, out: Path) -> None:
    """Refuse to mix replicates of different studies in one folder."""
    manifest = out / "study.json"
    fingerprint = spec.fingerprint()
    if manifest.exists():
        stored = json.loads(manifest.read_text(encoding="utf-8"))
        if stored.get("fingerprint") != json.loads(json.dumps(fingerprint)):
            raise ValueError(
                f"{out} holds replicates of a different study (its study.json differs from "
                f"{spec.source} in seed, methods, truths, priors or sampler settings); "
                "use another --out folder or delete that one"
            )
        return
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputFolderError(
            f"--out {out}: cannot create the folder ({error.strerror or error}); "
            "nothing was written: name a folder you may write to"
        ) from None
    from bayes_cluster.inference.provenance import provenance

    block = {
        "package": PACKAGE,  # the ownership marker (owns_study_folder)
        "name": spec.name,
        "source": spec.source,
        "fingerprint": fingerprint,
        "provenance": provenance(seed=spec.seed),
    }
    try:
        _write_text_atomic(json.dumps(block, indent=2) + "\n", manifest)
    except OSError as error:
        raise OutputFolderError(
            f"--out {out}: cannot write {manifest.name} ({error.strerror or error}); "
            "no replicate was computed: name a folder you may write to"
        ) from None


def collect_replicates(spec: StudyKind, out: str | Path) -> pd.DataFrame:
    """Read every finished replicate of ``spec`` under ``out`` into one frame.

    Parameters
    ----------
    spec : StudyKind
        The study (only its grid's replicates are read).
    out : str or pathlib.Path
        The study's output folder.

    Returns
    -------
    pandas.DataFrame
        Columns ``spec.replicate_columns`` (:data:`REPLICATE_COLUMNS` for a logit study),
        in the order of ``spec.tasks()``.
    """
    out = Path(out)
    frames = [
        pd.read_parquet(out / task.relative_path())
        for task in spec.tasks()
        if (out / task.relative_path()).exists()
    ]
    if not frames:
        return spec.typed_replicates(pd.DataFrame(columns=list(spec.replicate_columns)))
    frame = pd.concat(frames, ignore_index=True)
    return spec.typed_replicates(frame).reset_index(drop=True)


# --------------------------------------------------------------------------- metrics


def study_metrics(replicates: pd.DataFrame) -> pd.DataFrame:
    """Compute the performance measures per effect set x method x n x term.

    A fit *fails* when it raises or reports a non-finite estimate: for maximum likelihood
    that is every separated data set (some estimate is infinite: the MLE does not exist),
    so MLE's measures are conditional on its existence and its ``failure_rate`` matches
    ``separation_rate``. Failed fits are left out of every measure except
    ``failure_rate``; Firth and Bayesian fits on separated data sets are kept.

    Parameters
    ----------
    replicates : pandas.DataFrame
        Output of :func:`collect_replicates`.

    Returns
    -------
    pandas.DataFrame
        Columns ``effects, method, n, term, true_value, replicates, used, bias,
        bias_mcse, median_bias, rmse, coverage, coverage_mcse, interval_width,
        median_interval_width, power, sign_error, separation_rate, failure_rate,
        nonconvergence_rate, mean_divergences``. ``power`` is the share of intervals
        excluding 0 (the type I error rate where the truth is 0); ``sign_error`` the
        share excluding 0 on the wrong side (undefined where the truth is 0).
    """
    records = []
    keys = ["effects", "method", "n", "term"]
    for key, cell in replicates.groupby(keys, sort=False, observed=True):
        truth = float(cell["true_value"].iloc[0])
        used = cell[~cell["failed"]]
        error = used["estimate"].to_numpy(float) - truth
        lower = used["lower"].to_numpy(float)
        upper = used["upper"].to_numpy(float)
        has_interval = ~(np.isnan(lower) | np.isnan(upper))
        lower, upper = lower[has_interval], upper[has_interval]
        excludes_zero = (lower > 0) | (upper < 0)
        count = len(used)
        coverage = _mean((lower <= truth) & (truth <= upper))
        if truth > 0:
            sign_error = _mean(upper < 0)
        elif truth < 0:
            sign_error = _mean(lower > 0)
        else:
            sign_error = math.nan
        divergences = used["divergences"].astype("Float64").to_numpy(float, na_value=np.nan)
        records.append(
            {
                **dict(zip(keys, key, strict=True)),
                "true_value": truth,
                "replicates": len(cell),
                "used": count,
                "bias": _mean(error),
                "bias_mcse": float(np.std(error, ddof=1) / np.sqrt(count))
                if count > 1
                else math.nan,
                "median_bias": float(np.median(error)) if count else math.nan,
                "rmse": float(np.sqrt(np.mean(error**2))) if count else math.nan,
                "coverage": coverage,
                "coverage_mcse": math.sqrt(coverage * (1 - coverage) / has_interval.sum())
                if has_interval.sum()
                else math.nan,
                "interval_width": _mean(upper - lower),
                "median_interval_width": float(np.median(upper - lower))
                if len(lower)
                else math.nan,
                "power": _mean(excludes_zero),
                "sign_error": sign_error,
                "separation_rate": _mean(cell["separation"].astype("Float64").to_numpy(float)),
                "failure_rate": float(cell["failed"].mean()),
                "nonconvergence_rate": _mean(~used["converged"].to_numpy(bool)),
                "mean_divergences": float(np.nanmean(divergences))
                if np.isfinite(divergences).any()
                else math.nan,
            }
        )
    metrics = pd.DataFrame.from_records(records)
    if metrics.empty:
        return metrics
    # effect sets and methods in the order of the study (first appearance), then n
    order = {
        column: {value: i for i, value in enumerate(dict.fromkeys(replicates[column]))}
        for column in ("effects", "method")
    }
    return metrics.sort_values(
        ["effects", "method", "n"],
        key=lambda column: column.map(order[column.name]) if column.name in order else column,
        kind="stable",
    ).reset_index(drop=True)


def _mean(values: np.ndarray) -> float:
    values = np.asarray(values, dtype=float)
    values = values[~np.isnan(values)]
    return float(values.mean()) if len(values) else math.nan


# --------------------------------------------------------------------------- running


@dataclass
class StudyResult:
    """A finished (or partly finished) study.

    Attributes
    ----------
    spec : StudyKind
        The study (a :class:`StudySpec` or another kind the engine runs).
    out : pathlib.Path
        Output folder (``replicates/``, ``replicates.parquet``, ``metrics.csv``,
        ``figures/``, ``study.json``).
    replicates : pandas.DataFrame
        Every replicate x method x term.
    metrics : pandas.DataFrame
        :func:`study_metrics` of ``replicates``.
    computed : int
        Replicates computed by this run (the rest were on disk already).
    seconds : float
        Wall time of this run.
    """

    spec: StudyKind
    out: Path
    replicates: pd.DataFrame
    metrics: pd.DataFrame
    computed: int
    seconds: float
    figures: dict[str, Path] = field(default_factory=dict)


def pending_tasks(spec: StudyKind, out: str | Path) -> list[ReplicateTask]:
    """Replicates of ``spec`` not yet persisted under ``out``."""
    out = Path(out)
    return [task for task in spec.tasks() if not (out / task.relative_path()).exists()]


def _run_in_process(
    spec: StudyKind, tasks: Sequence[ReplicateTask], cores: int
) -> Iterator[tuple[ReplicateTask, pd.DataFrame]]:
    for task in tasks:
        yield task, spec.run_replicate(task, cores)


def _run_local_processes(
    spec: StudyKind, tasks: Sequence[ReplicateTask], workers: int
) -> Iterator[tuple[ReplicateTask, pd.DataFrame]]:
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    # spawn: nutpie/numba hold threads, and fork() after threads is unsafe
    context = multiprocessing.get_context("spawn")
    # a terminal's Ctrl-C reaches the workers too: there it raises Interrupted, never a
    # truncated fit returned as a replicate
    with ProcessPoolExecutor(
        max_workers=workers, mp_context=context, initializer=install_worker_interrupt_handler
    ) as pool:
        futures = {pool.submit(spec.run_replicate, task, 1): task for task in tasks}
        try:
            for future in as_completed(futures):
                yield futures[future], future.result()
        except BaseException:
            # Ctrl-C (or a failure): stop the running replicates now instead of waiting
            # for them; their results would not be saved anyway. The workers write nothing.
            with deferred_interrupts():
                for future in futures:
                    future.cancel()
                # ProcessPoolExecutor.terminate_workers() only exists from Python 3.14
                for process in list(pool._processes.values()):
                    process.terminate()
                pool.shutdown(wait=True, cancel_futures=True)
            raise
        finally:
            for future in futures:
                future.cancel()


def _run_dask(
    spec: StudyKind, tasks: Sequence[ReplicateTask], scheduler: Any
) -> Iterator[tuple[ReplicateTask, pd.DataFrame]]:
    try:
        from distributed import Client, as_completed
    except ImportError as error:  # pragma: no cover - depends on the installed extras
        raise ImportError(
            "a Dask scheduler was given but dask.distributed is not installed; "
            "install the extra: pip install 'bayes-cluster[dask]'"
        ) from error
    own_client = not isinstance(scheduler, Client)
    client = Client(scheduler) if own_client else scheduler
    try:
        futures = {
            client.submit(spec.run_replicate, task, 1, pure=False, key=_dask_key(spec, task)): task
            for task in tasks
        }
        try:
            for future in as_completed(futures):
                yield futures[future], future.result()
        finally:
            client.cancel(list(futures))
    finally:
        if own_client:
            client.close()


def _dask_key(spec: StudyKind, task: ReplicateTask) -> str:
    stamp = zlib.crc32(json.dumps(spec.fingerprint(), sort_keys=True).encode())
    return f"replicate-{stamp:08x}-{task.effects}-n{task.n}-r{task.replicate}-{time.time_ns()}"


def run_study(
    spec: StudyKind,
    out: str | Path,
    *,
    workers: int = 1,
    scheduler: Any = None,
    progress: bool = True,
    figures: bool = True,
    stream: TextIO | None = None,
    write_metrics: bool = True,
) -> StudyResult:
    """Run (or resume) a simulation study and write its outputs.

    Parameters
    ----------
    spec : StudyKind
        The study (:func:`load_study_spec`; or another kind with the engine's hooks,
        :class:`StudyKind`, e.g. :class:`bayes_cluster.studies.lrt_study.LrtStudySpec`).
        Each replicate is ``spec.run_replicate(task, cores)`` and ``metrics.csv`` is
        ``spec.metrics(replicates)``.
    out : str or pathlib.Path
        Output folder. Replicates already persisted there are not recomputed.
    workers : int
        Local processes (1 runs in this process). Ignored when ``scheduler`` is given.
    scheduler : str or distributed.Client, optional
        Address of a Dask distributed scheduler (``"tcp://host:8786"``) or a client: the
        replicates then run on that cluster's workers.
    progress : bool
        Show a progress bar over replicates.
    figures : bool
        Save the coverage, RMSE, bias and power figures of every effect set in
        ``out/figures`` (``coverage_truth.png``, ...); logit studies (:class:`StudySpec`)
        only.
    stream : file-like, optional
        Where to print one line when the computing starts (``study: computing ...``).
    write_metrics : bool, default True
        Write ``metrics.csv`` (a sample-size plan, whose truths vary by replicate, writes
        its own table instead).

    Returns
    -------
    StudyResult
        Replicates, metrics and the paths written.

    Raises
    ------
    ValueError
        If ``out`` holds replicates of a study with another fingerprint.
    bayes_cluster.run.safety.OutputFolderError
        If ``out`` is a file, or a folder holding files no study of this package wrote.
    bayes_cluster.run.safety.Interrupted
        Ctrl-C (inside :func:`bayes_cluster.run.safety.interrupts_stop_the_work`, as the CLI
        runs it); every finished replicate is on disk, no interrupted one, and a rerun
        resumes. A plain :class:`KeyboardInterrupt` is re-raised the same way.
    """
    from tqdm.auto import tqdm

    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    if isinstance(scheduler, str):  # before anything is written: the extra may be missing
        try:
            import distributed  # noqa: F401
        except ImportError:
            raise ValueError(
                "a Dask scheduler was given but dask.distributed is not installed; "
                "install the extra: pip install 'bayes-cluster[dask]'"
            ) from None
    out = Path(out)
    check_output_folder(out, option="out", marker="study.json", owns=owns_study_folder)
    _check_out_folder(spec, out)
    start = time.perf_counter()
    all_tasks = spec.tasks()
    # temporary files of a killed run (SIGKILL mid-write) are never taken for replicates
    for stale in [
        *out.glob("replicates/*/.*.tmp"),
        *out.glob(".*.tmp"),
        *out.glob("figures/.*.tmp"),
    ]:
        stale.unlink(missing_ok=True)
    tasks = pending_tasks(spec, out)
    cores = spec.replicate_cores()
    if scheduler is not None:
        results = _run_dask(spec, tasks, scheduler)
    elif workers > 1 and len(tasks) > 1:
        results = _run_local_processes(spec, tasks, workers)
    else:
        results = _run_in_process(spec, tasks, cores)
    computed = 0
    # Ctrl-C must not land inside tqdm's constructor: a half-built bar prints a traceback
    # from its __del__ at exit (seen in a CI run); the flag is raised right after
    with deferred_interrupts():
        bar = tqdm(
            total=len(all_tasks),
            initial=len(all_tasks) - len(tasks),
            desc="replicates",
            unit="replicate",
            disable=not progress,
        )
    if stream is not None:  # the readiness line (tests wait for it before pressing Ctrl-C)
        print(
            f"study: computing {len(tasks)} of {len(all_tasks)} replicates in {out} "
            "(Ctrl-C stops; rerunning resumes)",
            file=stream,
            flush=True,
        )
    with bar:
        try:
            raise_if_interrupted()
            for task, rows in results:
                raise_if_interrupted()  # rows that arrive after Ctrl-C are not saved
                _write_atomic(rows, out / task.relative_path())
                computed += 1
                bar.update(1)
        finally:
            # stop the workers now (Ctrl-C while a replicate was being written), not when
            # the generator is garbage-collected or the interpreter waits for them at exit
            results.close()
    raise_if_interrupted()
    replicates = collect_replicates(spec, out)
    metrics = spec.metrics(replicates)
    _write_atomic(replicates, out / "replicates.parquet")
    if write_metrics:
        _write_text_atomic(metrics.to_csv(index=False, lineterminator="\n"), out / "metrics.csv")
    written: dict[str, Path] = {}
    if figures and not metrics.empty and isinstance(spec, StudySpec):
        written = _save_figures(metrics, out / "figures", spec.interval_level)
    raise_if_interrupted()  # an interrupt a library swallowed never ends in exit status 0
    return StudyResult(
        spec=spec,
        out=out,
        replicates=replicates,
        metrics=metrics,
        computed=computed,
        seconds=time.perf_counter() - start,
        figures=written,
    )


def _save_figures(metrics: pd.DataFrame, folder: Path, level: float) -> dict[str, Path]:
    """Save each measure against n, per effect set, as ``<measure>_<effects>.png``."""
    import matplotlib.pyplot as plt

    from bayes_cluster.plots.study import plot_study_metric

    folder.mkdir(parents=True, exist_ok=True)
    written = {}
    for effects in dict.fromkeys(metrics["effects"]):
        for measure in ("coverage", "rmse", "bias", "power"):
            figure = plot_study_metric(metrics, measure, effects=effects, nominal=level)
            name = f"{measure}_{effects}"
            path = folder / f"{name}.png"
            tmp = folder / f".{name}.png.{os.getpid()}.tmp"
            try:  # a figure cut short by Ctrl-C is not left behind as a broken PNG
                figure.savefig(tmp, dpi=120, bbox_inches="tight", format="png")
                tmp.replace(path)
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise
            finally:
                plt.close(figure)
            written[name] = path
    return written

r"""The bootstrap likelihood-ratio test's type-I error, as a study of the study engine.

Data sets are drawn from a known latent class model with :math:`K - 1` classes (the
null), and each is tested :math:`K - 1` against :math:`K` classes by
:func:`~bayes_cluster.analyses.n_classes.bootstrap_lrt`. Under the null, the share of data
sets the test rejects at level :math:`\alpha` should be :math:`\alpha` (exactly, for
exchangeable statistics, when :math:`\alpha (B + 1)` is a whole number). The study
reports, per sample size and level, the rejection rate, its Monte Carlo standard error,
the exact binomial 99% band for the number of rejections, and the CPU seconds per test.

It is run by the same engine as the logit studies (:func:`~bayes_cluster.studies.study.run_study`):
:class:`LrtStudySpec` has the engine's hooks (:class:`~bayes_cluster.studies.study.StudyKind`),
so the replicates are resumable files (``replicates/null/n0060_r00042.parquet``), run
in-process, on ``--workers`` local processes or on Dask, stop cleanly on Ctrl-C, and an
output folder belongs to one study (``study.json``'s fingerprint).

The spec (``models/lrt_null.toml``; every key in ``docs/simulation_study.md``)::

    [study]
    kind = "bootstrap_lrt"
    sizes = [60]
    replicates = 100
    classes = 2            # K: tests K - 1 against K; the truth has K - 1 classes
    n_bootstrap = 19
    alpha = [0.05, 0.10]
    data_seed = 0          # replicate r's firms: numpy.random.default_rng(data_seed + r)
    test_seed = 1000       # replicate r's test: bootstrap_lrt(..., seed=test_seed + r)

    [truth]
    class_shares = [1.0]
    item_probabilities = [[[0.7, 0.3], [0.4, 0.6], [0.5, 0.5], [0.2, 0.8], [0.6, 0.4]]]

    [em]
    n_starts = 1
    n_starts_alternative = 6
    n_starts_bootstrap = 6
    n_starts_bootstrap_null = 0
    tol = 1e-5
    max_iter = 300
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import numpy as np
import pandas as pd

from bayes_cluster.analyses.n_classes import bootstrap_lrt
from bayes_cluster.common.latent_class_math import simulate_responses
from bayes_cluster.run.safety import raise_if_interrupted
from bayes_cluster.run.spec import Problems, SpecError, Table
from bayes_cluster.studies.study import (
    ReplicateTask,
    StudyResult,
    _warning_note,
    _write_text_atomic,
    parse_sizes,
    read_study_toml,
    run_study,
)

__all__ = [
    "BAND_LEVEL",
    "LRT_KIND",
    "LRT_REPLICATE_COLUMNS",
    "LrtStudySpec",
    "load_lrt_study_spec",
    "lrt_summary",
    "lrt_summary_markdown",
    "parse_lrt_study_spec",
    "run_lrt_replicate",
    "run_lrt_study",
    "study_kind",
]

LRT_KIND = "bootstrap_lrt"
"""``[study] kind`` of a bootstrap-LRT study (a logit study is ``"logit"``, the default)."""

NULL = "null"
"""The one truth of an LRT study: its replicates live in ``replicates/null/``."""

BAND_LEVEL = 0.99
"""Probability of the exact binomial band for the number of rejections."""

LRT_REPLICATE_COLUMNS = (
    "truth",
    "n",
    "replicate",
    "classes",
    "n_bootstrap",
    "data_seed",
    "test_seed",
    "statistic",
    "p_value",
    "log_likelihood_null",
    "log_likelihood_alternative",
    "n_single_start_optima",
    "seconds",
    "cpu_seconds",
    "failed",
    "note",
)
"""Columns of one replicate (one simulated data set, one test)."""

_TYPES = {
    "truth": "string",
    "n": "int64",
    "replicate": "int64",
    "classes": "int64",
    "n_bootstrap": "int64",
    "data_seed": "int64",
    "test_seed": "int64",
    "statistic": "float64",
    "p_value": "float64",
    "log_likelihood_null": "float64",
    "log_likelihood_alternative": "float64",
    "n_single_start_optima": "Int64",
    "seconds": "float64",
    "cpu_seconds": "float64",
    "failed": "bool",
    "note": "string",
}

_STUDY_KEYS = (
    "kind",
    "name",
    "sizes",
    "replicates",
    "classes",
    "n_bootstrap",
    "alpha",
    "data_seed",
    "test_seed",
)
_TRUTH_KEYS = ("class_shares", "item_probabilities", "items", "levels")
_EM_KEYS = (
    "n_starts",
    "n_starts_alternative",
    "n_starts_bootstrap",
    "n_starts_bootstrap_null",
    "tol",
    "max_iter",
)


@dataclass(frozen=True)
class LrtStudySpec:
    r"""A parsed, validated bootstrap-LRT study: the test's rejection rate under its null.

    Attributes
    ----------
    sizes : tuple of int
        Firms per simulated data set.
    replicates : int
        Data sets (tests) per size.
    classes : int
        :math:`K`: each data set is tested :math:`K - 1` against :math:`K` classes.
    n_bootstrap : int
        :math:`B` of every test.
    alphas : tuple of float
        Levels at which rejections are counted (the summary's rows).
    class_shares : tuple of float
        :math:`\pi` of the :math:`K - 1`-class truth.
    item_probabilities : tuple
        :math:`\theta` of the truth, nested (class, item, level); an item with fewer
        levels has trailing zeros.
    em : dict of str to float or int
        EM settings passed to :func:`~bayes_cluster.analyses.n_classes.bootstrap_lrt`
        (``n_starts``, ``n_starts_alternative``, ``n_starts_bootstrap``,
        ``n_starts_bootstrap_null``, ``tol``, ``max_iter``); absent ones keep its defaults.
    data_seed, test_seed : int
        Replicate ``r`` draws its firms with ``numpy.random.default_rng(data_seed + r)``
        and runs the test with ``seed = test_seed + r`` (the same at every size).
    name : str
        Study label.
    source : str
        File the spec was read from.
    """

    sizes: tuple[int, ...]
    replicates: int
    classes: int
    n_bootstrap: int
    alphas: tuple[float, ...]
    class_shares: tuple[float, ...]
    item_probabilities: tuple[tuple[tuple[float, ...], ...], ...]
    em: dict[str, float | int] = field(default_factory=dict)
    data_seed: int = 0
    test_seed: int = 1000
    name: str = "bootstrap LRT under the null"
    source: str = "<spec>"

    replicate_columns = LRT_REPLICATE_COLUMNS  # a class attribute, not a field

    @property
    def seed(self) -> int:
        """The data seed (recorded in ``study.json``'s provenance)."""
        return self.data_seed

    def tasks(self) -> list[ReplicateTask]:
        """Every (size, replicate) of the study, in a stable order."""
        return [ReplicateTask(NULL, n, r) for n in self.sizes for r in range(self.replicates)]

    def fingerprint(self) -> dict[str, Any]:
        """Everything that shapes one replicate's numbers (not sizes, replicates, alphas)."""
        return {
            "kind": LRT_KIND,
            "classes": self.classes,
            "n_bootstrap": self.n_bootstrap,
            "class_shares": list(self.class_shares),
            "item_probabilities": [[list(row) for row in c] for c in self.item_probabilities],
            "em": dict(sorted(self.em.items())),
            "data_seed": self.data_seed,
            "test_seed": self.test_seed,
        }

    def run_replicate(self, task: ReplicateTask, cores: int = 1) -> pd.DataFrame:
        """Simulate one data set and test it: :func:`run_lrt_replicate`."""
        return run_lrt_replicate(self, task)

    def replicate_cores(self) -> int:
        """One: the test's EM is numpy on one thread."""
        return 1

    def typed_replicates(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Give replicate rows the column types every replicate file shares."""
        return frame.astype(_TYPES)

    def metrics(self, replicates: pd.DataFrame) -> pd.DataFrame:
        """Summarise the replicates per size and level: :func:`lrt_summary` (``metrics.csv``)."""
        return lrt_summary(replicates, self)

    def simulate(self, task: ReplicateTask) -> pd.DataFrame:
        """Draw replicate ``task``'s data set from the truth.

        Parameters
        ----------
        task : ReplicateTask
            Which replicate.

        Returns
        -------
        pandas.DataFrame
            ``task.n`` firms, columns ``item_1 ... item_J``, answers coded 1..levels.
        """
        rng = np.random.default_rng(self.data_seed + task.replicate)
        theta = np.asarray(self.item_probabilities, dtype=float)
        _, responses = simulate_responses(
            rng, np.asarray(self.class_shares, dtype=float), theta, task.n
        )
        return pd.DataFrame(responses, columns=[f"item_{j + 1}" for j in range(theta.shape[1])])


def run_lrt_replicate(spec: LrtStudySpec, task: ReplicateTask) -> pd.DataFrame:
    """Simulate one data set under the null and run the bootstrap LRT on it.

    A test that raises is recorded as failed (its message in ``note``); it does not stop
    the study.

    Parameters
    ----------
    spec : LrtStudySpec
        The study.
    task : ReplicateTask
        Which replicate.

    Returns
    -------
    pandas.DataFrame
        One row, columns :data:`LRT_REPLICATE_COLUMNS`; ``seconds`` is the test's wall
        time and ``cpu_seconds`` this process's CPU time over it.
    """
    items = spec.simulate(task)
    test_seed = spec.test_seed + task.replicate
    row: dict[str, Any] = {
        "truth": task.effects,
        "n": task.n,
        "replicate": task.replicate,
        "classes": spec.classes,
        "n_bootstrap": spec.n_bootstrap,
        "data_seed": spec.data_seed + task.replicate,
        "test_seed": test_seed,
    }
    cpu = time.process_time()
    wall = time.perf_counter()
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = bootstrap_lrt(
                items, spec.classes, n_bootstrap=spec.n_bootstrap, seed=test_seed, **spec.em
            )
        row |= {
            "statistic": result.statistic,
            "p_value": result.p_value,
            "log_likelihood_null": result.log_likelihood_null,
            "log_likelihood_alternative": result.log_likelihood_alternative,
            "n_single_start_optima": result.n_single_start_optima,
            "failed": False,
            "note": _warning_note(caught),
        }
    except Exception as exc:  # noqa: BLE001 - a failing test is a result of the study
        row |= {
            "statistic": math.nan,
            "p_value": math.nan,
            "log_likelihood_null": math.nan,
            "log_likelihood_alternative": math.nan,
            "n_single_start_optima": None,
            "failed": True,
            "note": f"{type(exc).__name__}: {exc}"[:300],
        }
    row["cpu_seconds"] = time.process_time() - cpu
    row["seconds"] = time.perf_counter() - wall
    # Ctrl-C during the test: whatever came back is not a result
    raise_if_interrupted()
    return pd.DataFrame([row], columns=list(LRT_REPLICATE_COLUMNS)).astype(_TYPES)


# --------------------------------------------------------------------------- summary


def lrt_summary(replicates: pd.DataFrame, spec: LrtStudySpec) -> pd.DataFrame:
    r"""Rejection rate under the null per size and level, with its Monte Carlo error.

    A data set is rejected at level :math:`\alpha` when its p-value is at most
    :math:`\alpha`. For exchangeable, tie-free statistics the Monte Carlo p-value
    :math:`(1 + \#\{LR_b \ge LR\})/(B + 1)` rejects with probability
    :math:`\lfloor \alpha (B + 1) \rfloor / (B + 1)` (``exact_level``; it equals
    :math:`\alpha` when :math:`\alpha (B + 1)` is whole), so the number of rejections
    among ``data_sets`` tests is Binomial(``data_sets``, ``exact_level``), whose central
    :data:`BAND_LEVEL` interval is ``[band_low, band_high]``.

    Parameters
    ----------
    replicates : pandas.DataFrame
        The study's replicates (columns :data:`LRT_REPLICATE_COLUMNS`).
    spec : LrtStudySpec
        The study (its levels and B).

    Returns
    -------
    pandas.DataFrame
        One row per size x level: ``n, alpha, exact_level, data_sets, failed,
        rejections, rejection_rate, mcse, band_low, band_high, within_band,
        cpu_seconds_per_test, seconds_per_test``. ``mcse`` is
        :math:`\sqrt{\hat r (1 - \hat r) / N}`; failed tests are left out of every
        column but ``failed``.
    """
    from scipy import stats

    records = []
    for n, cell in replicates.groupby("n", sort=True):
        used = cell[~cell["failed"]]
        count = len(used)
        p_values = used["p_value"].to_numpy(float)
        for alpha in spec.alphas:
            exact = math.floor(alpha * (spec.n_bootstrap + 1) + 1e-9) / (spec.n_bootstrap + 1)
            rejections = int(np.sum(p_values <= alpha + 1e-12))
            rate = rejections / count if count else math.nan
            low, high = stats.binom.interval(BAND_LEVEL, count, exact) if count else (0, 0)
            records.append(
                {
                    "n": int(n),
                    "alpha": alpha,
                    "exact_level": exact,
                    "data_sets": count,
                    "failed": int(cell["failed"].sum()),
                    "rejections": rejections,
                    "rejection_rate": rate,
                    "mcse": math.sqrt(rate * (1 - rate) / count) if count else math.nan,
                    "band_low": int(low),
                    "band_high": int(high),
                    "within_band": bool(count) and int(low) <= rejections <= int(high),
                    "cpu_seconds_per_test": float(used["cpu_seconds"].mean())
                    if count
                    else math.nan,
                    "seconds_per_test": float(used["seconds"].mean()) if count else math.nan,
                }
            )
    return pd.DataFrame.from_records(
        records,
        columns=[
            "n",
            "alpha",
            "exact_level",
            "data_sets",
            "failed",
            "rejections",
            "rejection_rate",
            "mcse",
            "band_low",
            "band_high",
            "within_band",
            "cpu_seconds_per_test",
            "seconds_per_test",
        ],
    )


def lrt_summary_markdown(table: pd.DataFrame, spec: LrtStudySpec) -> str:
    """Write the summary as a Markdown table with a one-line reading per row.

    Parameters
    ----------
    table : pandas.DataFrame
        :func:`lrt_summary`.
    spec : LrtStudySpec
        The study.

    Returns
    -------
    str
        Markdown (``metrics.md``).
    """
    k = spec.classes
    lines = [
        f"# {spec.name}",
        "",
        f"Bootstrap LRT of {k - 1} vs {k} classes (B = {spec.n_bootstrap}) on data sets "
        f"simulated from {k - 1} class{'es' if k > 2 else ''}: how often it rejects.",
        "",
        "| n | alpha | data sets | rejections | rate | MC SE | 99% band | CPU s / test |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    readings = []
    for row in table.itertuples(index=False):
        lines.append(
            f"| {row.n} | {row.alpha:g} | {row.data_sets} | {row.rejections} | "
            f"{row.rejection_rate:.3f} | {row.mcse:.3f} | [{row.band_low}, {row.band_high}] | "
            f"{row.cpu_seconds_per_test:.2f} |"
        )
        verdict = (
            "within Monte Carlo error of the nominal level"
            if row.within_band
            else "OUTSIDE the band: the test's level is off"
        )
        readings.append(
            f"- n = {row.n}, alpha = {row.alpha:g}: {row.rejections} of {row.data_sets} "
            f"rejected ({row.rejection_rate:.1%} +- {row.mcse:.1%}); a test at level "
            f"{row.exact_level:.3g} rejects between {row.band_low} and {row.band_high} "
            f"times in 99% of such studies: {verdict}."
            + (f" ({row.failed} tests failed and are left out.)" if row.failed else "")
        )
    return "\n".join([*lines, "", *readings, ""])


# --------------------------------------------------------------------------- running


def run_lrt_study(
    spec: LrtStudySpec,
    out: str | Path,
    *,
    workers: int = 1,
    scheduler: Any = None,
    progress: bool = True,
    stream: TextIO | None = None,
) -> StudyResult:
    """Run (or resume) a bootstrap-LRT study and write its summary.

    Runs :func:`~bayes_cluster.studies.study.run_study` (resumable replicate files,
    local processes or Dask, Ctrl-C safety, the output-folder rules), which writes
    ``replicates.parquet`` and ``metrics.csv`` (:func:`lrt_summary`); then writes
    ``metrics.md`` (:func:`lrt_summary_markdown`).

    Parameters
    ----------
    spec : LrtStudySpec
        The study (:func:`load_lrt_study_spec`).
    out : str or pathlib.Path
        Output folder: new, empty, or one an earlier run of this study wrote.
    workers, scheduler, progress, stream
        As :func:`~bayes_cluster.studies.study.run_study`.

    Returns
    -------
    bayes_cluster.studies.study.StudyResult
        Its ``metrics`` is the summary table.
    """
    result = run_study(
        spec,
        out,
        workers=workers,
        scheduler=scheduler,
        progress=progress,
        figures=False,
        stream=stream,
    )
    _write_text_atomic(lrt_summary_markdown(result.metrics, spec), Path(out) / "metrics.md")
    raise_if_interrupted()
    return result


# --------------------------------------------------------------------------- the spec


def _number_array(raw: Any, depth: int) -> bool:
    """Whether ``raw`` is a non-empty nested list of numbers ``depth`` levels deep."""
    if not isinstance(raw, list) or not raw:
        return False
    if depth == 1:
        return all(isinstance(v, int | float) and not isinstance(v, bool) for v in raw)
    return all(_number_array(v, depth - 1) for v in raw)


def _parse_truth(
    raw: Any, classes: int, problems: Problems
) -> tuple[tuple[float, ...], tuple[tuple[tuple[float, ...], ...], ...]]:
    """``[truth]``: the (K - 1)-class model the data sets are drawn from."""
    table = Table(raw, "[truth]", problems, _TRUTH_KEYS)
    null_classes = classes - 1
    shortcut = table.has("items") or table.has("levels")
    if shortcut == table.has("item_probabilities"):
        problems.add(
            "[truth]",
            "give either item_probabilities (class x item x level) or items and levels "
            "(one class, every level equally likely)",
        )
        return (), ()
    if shortcut:
        items = table.positive_int("items", 5, minimum=2)
        levels = table.positive_int("levels", 2, minimum=2)
        if null_classes != 1:
            problems.add(
                "[truth]",
                f"items and levels give a one-class truth, but [study].classes = {classes} "
                f"tests {null_classes} against {classes}: give item_probabilities",
            )
        if table.has("class_shares"):
            problems.add("[truth].class_shares", "one class has share 1; leave it out")
        return (1.0,), (tuple(tuple([1.0 / levels] * levels) for _ in range(items)),)
    theta_raw = table.raw["item_probabilities"]
    if not _number_array(theta_raw, 3):
        problems.add(
            "[truth].item_probabilities",
            f"must be an array (class) of arrays (item) of arrays (level) of numbers, "
            f"got {theta_raw!r}",
        )
        return (), ()
    theta = [[[float(v) for v in row] for row in c] for c in theta_raw]
    shape = {(len(c), len(row)) for c in theta for row in c}
    if len(shape) != 1:
        problems.add(
            "[truth].item_probabilities",
            "every class must list the same items, each with the same number of levels "
            "(pad an item with fewer levels with zeros)",
        )
        return (), ()
    if len(theta) != null_classes:
        problems.add(
            "[truth].item_probabilities",
            f"has {len(theta)} classes; the null of {null_classes} vs {classes} classes "
            f"needs {null_classes}",
        )
    (n_items, n_levels) = shape.pop()
    if n_levels < 2:
        problems.add("[truth].item_probabilities", "every item needs at least 2 levels")
    for c, rows in enumerate(theta):
        for j, row in enumerate(rows):
            if min(row) < 0 or abs(sum(row) - 1) > 1e-6:
                problems.add(
                    f"[truth].item_probabilities[{c}][{j}]",
                    f"must be probabilities >= 0 summing to 1, got {row}",
                )
    shares_default = [1.0 / max(null_classes, 1)] * max(null_classes, 1)
    shares = table.get("class_shares", list, shares_default)
    if not _number_array(shares, 1):
        problems.add(
            "[truth].class_shares",
            f"must be an array of numbers, got {table.raw['class_shares']!r}",
        )
        shares = shares_default
    shares = [float(v) for v in shares]
    if len(shares) != len(theta):
        problems.add(
            "[truth].class_shares",
            f"lists {len(shares)} shares for {len(theta)} classes of item_probabilities",
        )
    elif min(shares) <= 0 or abs(sum(shares) - 1) > 1e-6:
        problems.add("[truth].class_shares", f"must be positive and sum to 1, got {shares}")
    return tuple(shares), tuple(tuple(tuple(row) for row in c) for c in theta)


def _parse_em(raw: Any, problems: Problems) -> dict[str, float | int]:
    """``[em]``: the test's EM settings; absent keys keep bootstrap_lrt's defaults."""
    table = Table(raw, "[em]", problems, _EM_KEYS)
    em: dict[str, float | int] = {}
    for name, minimum in (
        ("n_starts", 1),
        ("n_starts_alternative", 1),
        ("n_starts_bootstrap", 0),
        ("n_starts_bootstrap_null", 0),
        ("max_iter", 1),
    ):
        if table.has(name):
            value = table.positive_int(name, None, minimum=minimum)
            if value is not None:
                em[name] = value
    if table.has("tol"):
        tol = table.get("tol", float, None)
        if tol is not None and not 0 < tol < 1:
            problems.add("[em].tol", f"must be a number in (0, 1), got {tol!r}")
        elif tol is not None:
            em["tol"] = tol
    return em


def parse_lrt_study_spec(raw: Mapping[str, Any], source: str = "<spec>") -> LrtStudySpec:
    """Validate a bootstrap-LRT study spec given as a mapping (a parsed TOML document).

    Parameters
    ----------
    raw : mapping
        Tables ``[study]`` (with ``kind = "bootstrap_lrt"``), ``[truth]``, ``[em]``.
    source : str
        Where the spec came from, for messages.

    Returns
    -------
    LrtStudySpec
        The validated spec.

    Raises
    ------
    bayes_cluster.run.spec.SpecError
        Listing every problem with its file and key.
    """
    problems = Problems()
    top = Table(raw, "spec", problems, ("study", "truth", "em"))
    for required in ("study", "truth"):
        if required not in top.raw:
            problems.add(f"[{required}]", "is required")
    study = Table(top.raw.get("study", {}), "[study]", problems, _STUDY_KEYS)
    kind = study.get("kind", str, None)
    if kind != LRT_KIND:
        problems.add(
            "[study].kind", f'must be "{LRT_KIND}" in a bootstrap-LRT study, got {kind!r}'
        )
    sizes = parse_sizes(study, problems)
    replicates = study.positive_int("replicates", 100)
    classes = study.positive_int("classes", 2, minimum=2, why="it tests K - 1 against K classes")
    n_bootstrap = study.positive_int("n_bootstrap", 99)
    alphas_raw = study.get("alpha", list, [0.05, 0.10])
    alphas = []
    for value in alphas_raw:
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < 1:
            problems.add("[study].alpha", f"each level must be a number in (0, 1), got {value!r}")
        else:
            alphas.append(float(value))
    if study.has("alpha") and alphas_raw == []:
        problems.add("[study].alpha", "must list at least one level")
    if len(set(alphas)) != len(alphas):
        problems.add("[study].alpha", "lists a level more than once")
    data_seed = study.positive_int("data_seed", 0, minimum=0)
    test_seed = study.positive_int("test_seed", 1000, minimum=0)
    shares, theta = _parse_truth(top.raw.get("truth", {}), classes, problems)
    em = _parse_em(top.raw.get("em", {}), problems)
    if problems.items:
        raise SpecError(source, problems.items)
    return LrtStudySpec(
        sizes=tuple(sizes),
        replicates=replicates,
        classes=classes,
        n_bootstrap=n_bootstrap,
        alphas=tuple(alphas),
        class_shares=shares,
        item_probabilities=theta,
        em=em,
        data_seed=data_seed,
        test_seed=test_seed,
        name=study.get("name", str, "bootstrap LRT under the null"),
        source=source,
    )


def load_lrt_study_spec(path: str | Path) -> LrtStudySpec:
    """Read and validate a bootstrap-LRT study spec (TOML).

    Parameters
    ----------
    path : str or pathlib.Path
        The spec file, e.g. ``models/lrt_null.toml``.

    Returns
    -------
    LrtStudySpec

    Raises
    ------
    bayes_cluster.run.spec.SpecError
        If the file is missing, is not TOML, or has invalid keys (every problem listed).
    """
    path = Path(path)
    return parse_lrt_study_spec(read_study_toml(path), source=str(path))


def study_kind(path: str | Path) -> str:
    """Read the ``[study] kind`` of a study spec: ``"logit"`` (default) or ``"bootstrap_lrt"``.

    A file that cannot be read, or whose kind is not a string, counts as ``"logit"``:
    the logit study's loader then reports the problem.

    Parameters
    ----------
    path : str or pathlib.Path
        The spec file.

    Returns
    -------
    str
    """
    try:
        raw = read_study_toml(Path(path))
    except SpecError:
        return "logit"
    study = raw.get("study")
    kind = study.get("kind") if isinstance(study, dict) else None
    return kind if isinstance(kind, str) else "logit"

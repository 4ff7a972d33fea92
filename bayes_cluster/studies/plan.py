"""Sample-size planning: how many firms a survey needs to detect an effect.

A plan is a simulation study (:mod:`bayes_cluster.studies.study`) whose truth is not one
fixed set of coefficients but is *drawn anew for every replicate* from the assumed
effects' uncertainty -- a prior per coefficient (``workers = { dist = "Normal", mu =
0.15, sigma = 0.05 }``) or the posterior of a pilot survey (a
:class:`~bayes_cluster.estimators.logistic.BayesianLogit` saved with ``save``; each
replicate takes one posterior draw as its truth). For each survey size the plan simulates
surveys with the Tumang design, fits every method and reports, per method x predictor x
n, the probability that the method *detects* the effect: its interval at the study's
level excludes 0 (Bayesian assurance for the Bayesian logit, with the central posterior
interval the study engine uses; frequentist power for MLE with Wald intervals and Firth
with profile penalised-likelihood intervals), the expected interval width and the
probability of separation (MLE failure).

A plan *is* a study underneath: :class:`PlanSpec` is a :class:`StudySpec` whose
:meth:`PlanSpec.replicate_truth` draws the truth, and :func:`run_plan` runs it with
:func:`~bayes_cluster.studies.study.run_study` -- same seeds, same resumable replicate
files, same local processes or Dask, same output-folder rules.

* The truth of replicate ``r`` comes from ``SeedSequence(seed, spawn_key=(crc32("plan
  truth"), r))``: it is the same at every survey size (common random numbers make the
  curve against n smooth) and independent of scheduling.
* With no uncertainty (every effect a plain number) a plan gives exactly the numbers of a
  study of the same truth and seed (its single effect set is called ``truth``, as a
  study's is).
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import os
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from statistics import NormalDist
from typing import Any, TextIO

import numpy as np
import pandas as pd

from bayes_cluster.common.dims import INTERCEPT
from bayes_cluster.run.safety import PACKAGE, raise_if_interrupted
from bayes_cluster.run.spec import Problems, SpecError, Table
from bayes_cluster.studies.study import (
    FREQUENTIST_STUDY_METHODS,
    EffectSet,
    ReplicateTask,
    StudyResult,
    StudySpec,
    parse_study_spec,
    read_study_toml,
    run_study,
)
from bayes_cluster.surveys.codebook import TUMANG_PREDICTORS
from bayes_cluster.surveys.simulate import TUMANG_COEFFICIENTS, TUMANG_INTERCEPT, simulate_tumang

__all__ = [
    "DISTRIBUTIONS",
    "EffectPrior",
    "PlanResult",
    "PlanSpec",
    "load_plan_spec",
    "parse_plan_spec",
    "plan_answers",
    "plan_table",
    "plan_truths",
    "run_plan",
]

DISTRIBUTIONS: dict[str, tuple[str, ...]] = {
    "Normal": ("mu", "sigma"),
    "StudentT": ("nu", "mu", "sigma"),
    "Uniform": ("lower", "upper"),
}
"""Distributions of an assumed effect in ``[plan]`` and their parameters."""

PLAN_EFFECTS = ("intercept", *TUMANG_PREDICTORS)
"""Keys of ``[plan]`` holding an assumed effect (the Tumang design's terms)."""

TARGET = 0.8
"""Detection probability the one-line answers look for (the conventional 80%)."""

_TRUTH_STREAM = zlib.crc32(b"plan truth")

MAX_LOG_ODDS_PER_SD = 10.0
"""Largest assumed slope a plan accepts, in log-odds per standard deviation of its predictor
in the Tumang design (an odds ratio of e^10, about 22,000, per SD); the intercept may be
at most this many times 5 in absolute value. Larger effects only make every simulated
survey separate (or overflow), so they are refused as a typo rather than planned for."""


@dataclass(frozen=True)
class EffectPrior:
    """The assumed value of one coefficient, with its uncertainty.

    Attributes
    ----------
    dist : str
        ``"Point"`` (known exactly) or one of :data:`DISTRIBUTIONS`.
    params : dict of str to float
        ``value`` for a point; ``mu, sigma`` (Normal); ``nu, mu, sigma`` (StudentT);
        ``lower, upper`` (Uniform).
    """

    dist: str
    params: dict[str, float]

    def draw(self, rng: np.random.Generator, size: int | None = None) -> np.ndarray | float:
        """Draw values of the coefficient.

        Parameters
        ----------
        rng : numpy.random.Generator
            Source of randomness.
        size : int, optional
            Number of draws (default one float).

        Returns
        -------
        float or numpy.ndarray
        """
        p = self.params
        if self.dist == "Point":
            value = np.full(size, p["value"]) if size is not None else p["value"]
        elif self.dist == "Normal":
            value = rng.normal(p["mu"], p["sigma"], size)
        elif self.dist == "StudentT":
            value = p["mu"] + p["sigma"] * rng.standard_t(p["nu"], size)
        elif self.dist == "Uniform":
            value = rng.uniform(p["lower"], p["upper"], size)
        else:  # pragma: no cover - parse_plan_spec admits only the above
            raise ValueError(f"unknown distribution {self.dist!r}")
        return float(value) if size is None else np.asarray(value, dtype=float)

    @property
    def mean(self) -> float:
        """Mean of the distribution (NaN for a Student-t with ``nu <= 1``)."""
        p = self.params
        if self.dist == "Point":
            return p["value"]
        if self.dist == "Uniform":
            return (p["lower"] + p["upper"]) / 2
        if self.dist == "StudentT" and p["nu"] <= 1:
            return math.nan
        return p["mu"]

    @property
    def largest(self) -> float:
        """Largest absolute value in the central 98% of the distribution."""
        p = self.params
        if self.dist == "Point":
            return abs(p["value"])
        if self.dist == "Uniform":
            return max(abs(p["lower"]), abs(p["upper"]))
        if self.dist == "Normal":
            return abs(p["mu"]) + NormalDist().inv_cdf(0.99) * p["sigma"]
        from scipy import stats

        return abs(p["mu"]) + float(stats.t.ppf(0.99, p["nu"])) * p["sigma"]

    @property
    def sd(self) -> float:
        """Standard deviation (infinite for a Student-t with ``nu <= 2``)."""
        p = self.params
        if self.dist == "Point":
            return 0.0
        if self.dist == "Normal":
            return p["sigma"]
        if self.dist == "Uniform":
            return (p["upper"] - p["lower"]) / math.sqrt(12)
        return p["sigma"] * math.sqrt(p["nu"] / (p["nu"] - 2)) if p["nu"] > 2 else math.inf


@dataclass(frozen=True)
class PlanSpec(StudySpec):
    """A study whose truth is drawn per replicate from the assumed effects.

    Attributes (beyond :class:`~bayes_cluster.studies.study.StudySpec`)
    -------------------------------------------------------------------
    effect_priors : dict of str to EffectPrior
        Assumed effect per term (``Intercept`` and predictors); terms neither here nor in
        the pilot keep the Tumang truth's value, exactly.
    pilot : str or None
        Saved ``BayesianLogit`` whose posterior draws are the truths.
    pilot_sha256 : str or None
        Checksum of the pilot file (part of the fingerprint: another pilot is another plan).
    pilot_terms : tuple of str
        Terms taken from the pilot (``Intercept`` and its predictors).
    pilot_draws : numpy.ndarray or None
        Posterior draws of the pilot, shape (draw, term) over ``pilot_terms``.
    pilot_diagnostics : str or None
        The pilot fit's MCMC verdict, ``"PASSED"`` or ``"FAILED: <problems>"`` (reported
        in ``plan.md``, ``plan.json`` and by the command: its draws are the truths).
    """

    effect_priors: dict[str, EffectPrior] = field(default_factory=dict)
    pilot: str | None = None
    pilot_sha256: str | None = None
    pilot_terms: tuple[str, ...] = ()
    pilot_draws: np.ndarray | None = field(default=None, repr=False, compare=False)
    pilot_diagnostics: str | None = field(default=None, compare=False)

    def replicate_truth(self, task: ReplicateTask) -> EffectSet:
        """Draw the truth of replicate ``task.replicate`` (the same at every n).

        Parameters
        ----------
        task : ReplicateTask
            Which replicate.

        Returns
        -------
        EffectSet
            Intercept and slopes of this replicate's surveys.
        """
        rng = np.random.default_rng(
            np.random.SeedSequence(self.seed, spawn_key=(_TRUTH_STREAM, task.replicate))
        )
        values = {INTERCEPT: TUMANG_INTERCEPT, **TUMANG_COEFFICIENTS}
        if self.pilot_draws is not None:
            row = self.pilot_draws[rng.integers(len(self.pilot_draws))]
            values.update(zip(self.pilot_terms, (float(v) for v in row), strict=True))
        for term in (INTERCEPT, *TUMANG_PREDICTORS):  # a fixed order: reproducible draws
            if term in self.effect_priors:
                values[term] = self.effect_priors[term].draw(rng)
        return EffectSet(
            task.effects,
            values[INTERCEPT],
            {name: values[name] for name in TUMANG_PREDICTORS},
        )

    def fingerprint(self) -> dict[str, Any]:
        """Return the study's fingerprint plus the assumed effects and the pilot's checksum."""
        return {
            **super().fingerprint(),
            "plan": {
                "effects": {term: asdict(prior) for term, prior in self.effect_priors.items()},
                "pilot_sha256": self.pilot_sha256,
            },
        }


# --------------------------------------------------------------------------- the spec


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _parse_effect(raw: Any, key: str, problems: Problems) -> EffectPrior | None:
    if _number(raw):
        return EffectPrior("Point", {"value": float(raw)})
    if not isinstance(raw, dict):
        problems.add(
            key,
            f"must be a number or a table {{ dist = ..., ... }}, got {raw!r}",
        )
        return None
    dist = raw.get("dist")
    if dist not in DISTRIBUTIONS:
        problems.add(
            f"{key}.dist",
            f"unknown distribution {dist!r}; choose from {', '.join(DISTRIBUTIONS)}",
        )
        return None
    table = Table(raw, key, problems, ("dist", *DISTRIBUTIONS[dist]))
    params: dict[str, float] = {}
    for name in DISTRIBUTIONS[dist]:
        value = table.require(name, float)
        if value is not None and not math.isfinite(value):
            problems.add(table.sub(name), f"must be finite, got {value}")
        elif value is not None:
            params[name] = value
    if len(params) != len(DISTRIBUTIONS[dist]):
        return None
    for name in ("sigma", "nu"):
        if name in params and params[name] <= 0:
            problems.add(table.sub(name), f"must be > 0, got {params[name]}")
            return None
    if dist == "Uniform" and params["lower"] >= params["upper"]:
        problems.add(
            key,
            f"lower must be below upper, got lower = {params['lower']}, upper = {params['upper']}",
        )
        return None
    return EffectPrior(dist, params)


def _sha256(path: Path) -> str:
    """Checksum of a saved file, or of every file of a ``.zarr`` store (names included)."""
    if not path.is_dir():
        return hashlib.sha256(path.read_bytes()).hexdigest()
    digest = hashlib.sha256()
    for member in sorted(p for p in path.rglob("*") if p.is_file()):
        digest.update(member.relative_to(path).as_posix().encode() + b"\0")
        digest.update(member.read_bytes())
    return digest.hexdigest()


def _load_pilot(
    raw: Any, key: str, folder: Path, problems: Problems
) -> tuple[str, str, tuple[str, ...], np.ndarray, str] | None:
    if not isinstance(raw, str) or not raw.strip():
        problems.add(key, f"must be the path of a saved BayesianLogit (.nc), got {raw!r}")
        return None
    path = Path(raw)
    path = path if path.is_absolute() else folder / path
    if path.is_dir() and path.suffix != ".zarr":
        problems.add(key, f"{path} is a folder, not a saved BayesianLogit (.nc or .zarr)")
        return None
    if not path.exists():
        problems.add(key, f"file not found: {path}")
        return None
    from bayes_cluster.estimators.logistic import BayesianLogit

    try:
        model = BayesianLogit.load(path)
        terms = list(model.terms)
        posterior = model.idata_["posterior"]
        alpha = posterior["alpha"].to_numpy().reshape(-1, 1)
        beta = posterior["beta"].transpose("chain", "draw", ...).to_numpy()
        diagnostics = model.diagnostics_
        verdict = "PASSED" if diagnostics.passed else f"FAILED: {diagnostics.compact_summary()}"
    except Exception as error:  # noqa: BLE001 - reported with the key, like every problem
        problems.add(key, f"cannot load {path} as a saved BayesianLogit: {error}")
        return None
    foreign = [t for t in terms if t not in TUMANG_PREDICTORS]
    if foreign:
        problems.add(
            key,
            f"the pilot's terms {', '.join(foreign)} are not predictors of the Tumang design "
            f"({', '.join(TUMANG_PREDICTORS)})",
        )
        return None
    draws = np.concatenate([alpha, beta.reshape(-1, beta.shape[-1])], axis=1)
    digest = _sha256(path)
    return str(path), digest, (INTERCEPT, *terms), draws, verdict


@functools.cache
def _design_sd() -> dict[str, float]:
    """Return the SD of each Tumang predictor in the simulated design (20,000 firms)."""
    frame, _ = simulate_tumang(n=20_000, seed=1)
    return {name: float(frame[name].std()) for name in TUMANG_PREDICTORS}


def _refuse_implausible(priors: Mapping[str, EffectPrior], problems: Problems) -> None:
    """Add a problem for each assumed effect beyond :data:`MAX_LOG_ODDS_PER_SD`."""
    for term, prior in priors.items():
        largest = prior.largest
        key = f"[plan].{'intercept' if term == INTERCEPT else term}"
        if term == INTERCEPT:
            if largest > 5 * MAX_LOG_ODDS_PER_SD:
                problems.add(
                    key,
                    f"the central 98% of the intercept reaches {largest:.4g} log-odds, beyond "
                    f"what a plan can simulate (at most {5 * MAX_LOG_ODDS_PER_SD:g} in absolute "
                    "value)",
                )
            continue
        sd = _design_sd()[term]
        if largest * sd > MAX_LOG_ODDS_PER_SD:
            problems.add(
                key,
                f"the central 98% of this effect reaches {largest:.4g} per unit, more than "
                f"{MAX_LOG_ODDS_PER_SD:g} log-odds per standard deviation of {term} (SD "
                f"{sd:.3g} in the Tumang design; an odds ratio above 22,000 per SD), which "
                "only simulates separated surveys: is the effect on the log-odds scale, per "
                "unit of the predictor?",
            )


def parse_plan_spec(
    raw: Mapping[str, Any], source: str = "<spec>", folder: str | Path = "."
) -> PlanSpec:
    """Validate a plan spec given as a mapping (a parsed TOML document).

    A plan spec is a study spec (``[study]``, ``[sampler]``, ``[variants.<name>]``; its
    problems are the study engine's) whose ``[plan]`` table holds the assumed effects:
    per term a number (known exactly) or ``{ dist = "Normal", mu = ..., sigma = ... }``
    (also ``StudentT`` with ``nu, mu, sigma`` and ``Uniform`` with ``lower, upper``),
    and optionally ``pilot = "path.nc"``, a saved ``BayesianLogit`` whose posterior
    draws are the truths (terms also given in ``[plan]`` take the ``[plan]`` value).

    Parameters
    ----------
    raw : mapping
        The parsed TOML document.
    source : str
        Where the spec came from, for messages.
    folder : str or pathlib.Path
        Folder a relative ``pilot`` path is read from (the spec file's).

    Returns
    -------
    PlanSpec
        The validated plan.

    Raises
    ------
    bayes_cluster.run.spec.SpecError
        Listing every problem with its key.
    """
    problems = Problems()
    raw = dict(raw)
    plan_raw = raw.pop("plan", None)
    if plan_raw is None:
        problems.add(
            "[plan]",
            'is required: the assumed effects (e.g. workers = { dist = "Normal", mu = 0.15, '
            'sigma = 0.05 }) and/or pilot = "fit.nc"',
        )
        plan_raw = {}
    if "effects" in raw:
        raw.pop("effects")
        problems.add(
            "[effects]",
            "a plan draws its truths from [plan]; effect sets belong to `bayes-cluster study`",
        )
    study_raw = raw.get("study")
    if isinstance(study_raw, dict) and "truth" in study_raw:
        raw["study"] = {k: v for k, v in study_raw.items() if k != "truth"}
        problems.add("[study].truth", "a plan draws its truths from [plan]; move the values there")
    study: StudySpec | None
    study_problems: list[str] = []
    try:
        study = parse_study_spec(raw, source=source)
    except SpecError as error:
        study, study_problems = None, error.problems
    plan = Table(plan_raw, "[plan]", problems, ("pilot", *PLAN_EFFECTS))
    priors = {}
    for name in PLAN_EFFECTS:
        if plan.has(name):
            prior = _parse_effect(plan.raw[name], plan.sub(name), problems)
            if prior is not None:
                priors[INTERCEPT if name == "intercept" else name] = prior
    _refuse_implausible(priors, problems)
    pilot = None
    if plan.has("pilot"):
        pilot = _load_pilot(plan.raw["pilot"], plan.sub("pilot"), Path(folder), problems)
    elif plan_raw == {} and "[plan]: is required" not in "".join(problems.items):
        problems.add("[plan]", "names no effect: give at least one term or pilot")
    items = [*study_problems, *problems.items]
    if items or study is None:
        raise SpecError(source, items)
    point = {INTERCEPT: TUMANG_INTERCEPT, **TUMANG_COEFFICIENTS}
    if pilot is not None:
        point.update(zip(pilot[2], pilot[3].mean(axis=0).tolist(), strict=True))
    point.update({term: prior.mean for term, prior in priors.items()})
    base = EffectSet("truth", point[INTERCEPT], {name: point[name] for name in TUMANG_PREDICTORS})
    fields = {name: getattr(study, name) for name in StudySpec.__dataclass_fields__}
    fields["effect_sets"] = (base,)
    study_table = raw.get("study")
    if not (isinstance(study_table, dict) and "name" in study_table):
        fields["name"] = "sample-size plan"
    return PlanSpec(
        **fields,
        effect_priors=priors,
        pilot=None if pilot is None else pilot[0],
        pilot_sha256=None if pilot is None else pilot[1],
        pilot_terms=() if pilot is None else pilot[2],
        pilot_draws=None if pilot is None else pilot[3],
        pilot_diagnostics=None if pilot is None else pilot[4],
    )


def load_plan_spec(path: str | Path) -> PlanSpec:
    """Read and validate a plan spec (TOML), e.g. ``models/plan_tumang.toml``.

    Parameters
    ----------
    path : str or pathlib.Path
        The spec file.

    Returns
    -------
    PlanSpec
        The validated plan.

    Raises
    ------
    bayes_cluster.run.spec.SpecError
        If the file is missing, is not TOML, or has invalid keys (every problem listed).
    """
    path = Path(path)
    return parse_plan_spec(read_study_toml(path), source=str(path), folder=path.parent)


# --------------------------------------------------------------------------- results


def plan_truths(spec: PlanSpec, replicates: int | None = None) -> pd.DataFrame:
    """Return the drawn truth of every replicate (one row per replicate, one column per term).

    Parameters
    ----------
    spec : PlanSpec
        The plan.
    replicates : int, optional
        How many (default the spec's).

    Returns
    -------
    pandas.DataFrame
        Indexed by replicate; columns ``Intercept`` and the predictors.
    """
    count = spec.replicates if replicates is None else replicates
    rows = [
        spec.replicate_truth(ReplicateTask("truth", 0, replicate)).truth()
        for replicate in range(count)
    ]
    return pd.DataFrame(rows, index=pd.RangeIndex(count, name="replicate"))


def interval_name(spec: StudySpec, method: str) -> str:
    """How ``method``'s interval is computed, e.g. ``"central 95% posterior interval"``."""
    level = f"{100 * spec.interval_level:g}%"
    if method == "mle":
        return f"{level} Wald interval"
    if method == "firth":
        return f"{level} profile penalised-likelihood interval"
    return f"central {level} posterior interval"


def plan_table(replicates: pd.DataFrame, spec: StudySpec) -> pd.DataFrame:
    """Tabulate detection probability, interval width, separation per method x term x n.

    Parameters
    ----------
    replicates : pandas.DataFrame
        Replicate rows of the plan (:func:`~bayes_cluster.studies.study.collect_replicates`).
    spec : StudySpec
        The plan (for the methods and the interval level).

    Returns
    -------
    pandas.DataFrame
        Columns ``method, measure, interval, term, n, replicates, p_detect,
        p_detect_mcse, p_detect_if_fit, p_wrong_sign, interval_width, coverage,
        separation_rate, failure_rate, truth_mean, truth_sd``. ``p_detect`` counts a
        failed fit (MLE on separated data) as no detection; ``p_detect_if_fit`` is the
        study engine's ``power`` (among fits that returned estimates); ``measure`` is
        ``assurance`` for Bayesian methods and ``power`` for MLE and Firth;
        ``p_wrong_sign`` is the share of intervals excluding 0 on the side opposite the
        replicate's truth.
    """
    records = []
    rows = replicates[replicates["term"] != INTERCEPT]
    for (method, term, n), cell in rows.groupby(["method", "term", "n"], sort=False):
        count = len(cell)
        ok = ~cell["failed"].to_numpy(bool)
        lower = cell["lower"].to_numpy(float)
        upper = cell["upper"].to_numpy(float)
        truth = cell["true_value"].to_numpy(float)
        finite = ok & np.isfinite(lower) & np.isfinite(upper)
        excludes = finite & ((lower > 0) | (upper < 0))
        wrong = finite & (((truth > 0) & (upper < 0)) | ((truth < 0) & (lower > 0)))
        p = float(excludes.mean())
        separation = cell["separation"].astype("Float64").to_numpy(float, na_value=np.nan)
        records.append(
            {
                "method": method,
                "measure": "power" if method in FREQUENTIST_STUDY_METHODS else "assurance",
                "interval": interval_name(spec, str(method)),
                "term": term,
                "n": int(n),
                "replicates": count,
                "p_detect": p,
                "p_detect_mcse": math.sqrt(p * (1 - p) / count),
                "p_detect_if_fit": float(excludes[finite].mean()) if finite.any() else math.nan,
                "p_wrong_sign": float(wrong.mean()),
                "interval_width": float(np.mean(upper[finite] - lower[finite]))
                if finite.any()
                else math.nan,
                "coverage": float(np.mean((lower <= truth) & (truth <= upper), where=finite))
                if finite.any()
                else math.nan,
                "separation_rate": float(np.nanmean(separation))
                if np.isfinite(separation).any()
                else math.nan,
                "failure_rate": float(1 - ok.mean()),
                "truth_mean": float(truth.mean()),
                "truth_sd": float(truth.std(ddof=1)) if count > 1 else math.nan,
            }
        )
    table = pd.DataFrame.from_records(records)
    if table.empty:
        return table
    method_order = {m: i for i, m in enumerate(spec.methods)}
    term_order = {t: i for i, t in enumerate(TUMANG_PREDICTORS)}
    return table.sort_values(
        ["term", "method", "n"],
        key=lambda c: (
            c.map(term_order if c.name == "term" else method_order) if c.name != "n" else c
        ),
        kind="stable",
    ).reset_index(drop=True)


_METHOD_LABELS = {"mle": "MLE", "firth": "Firth", "bayes": "Bayes"}


def _label(method: str) -> str:
    return _METHOD_LABELS.get(method, method)


def plan_answers(table: pd.DataFrame, spec: PlanSpec, target: float = TARGET) -> list[str]:
    """One line per predictor and size, and the smallest size reaching ``target``.

    Parameters
    ----------
    table : pandas.DataFrame
        :func:`plan_table` output.
    spec : PlanSpec
        The plan.
    target : float
        Detection probability to look for.

    Returns
    -------
    list of str
        E.g. ``"with 90 firms, P(detect promotion) = 0.81 (Bayes), 0.77 (Firth), 0.70
        (MLE)"``.
    """
    lines = []
    methods = [m for m in reversed(spec.methods) if m in set(table["method"])]
    for term in dict.fromkeys(table["term"]):
        cells = table[table["term"] == term]
        # an effect assumed to be exactly 0: its P(detect) is a false-detection rate
        null = bool((cells["truth_mean"] == 0).all() and (cells["truth_sd"].fillna(0) == 0).all())
        for n in sorted(set(cells["n"])):
            parts = []
            for method in methods:
                row = cells[(cells["method"] == method) & (cells["n"] == n)]
                if len(row):
                    parts.append(f"{row['p_detect'].iloc[0]:.2f} ({_label(method)})")
            note = " -- no effect assumed: a false-detection rate" if null else ""
            lines.append(f"with {n} firms, P(detect {term}) = {', '.join(parts)}{note}")
        if null:
            continue
        reached = []
        for method in methods:
            rows = cells[(cells["method"] == method) & (cells["p_detect"] >= target)]
            first = f"n = {int(rows['n'].min())}" if len(rows) else "not within the sizes"
            reached.append(f"{first} ({_label(method)})")
        lines.append(f"P(detect {term}) >= {target:.2f} first at: {', '.join(reached)}")
    return lines


def _markdown_table(table: pd.DataFrame, spec: PlanSpec) -> str:
    methods = [m for m in spec.methods if m in set(table["method"])]
    sizes = sorted(set(table["n"]))
    header = "| predictor | method | " + " | ".join(f"n = {n}" for n in sizes) + " |"
    lines = [header, "|" + "---|" * (2 + len(sizes))]
    for term in dict.fromkeys(table["term"]):
        for method in methods:
            cells = table[(table["term"] == term) & (table["method"] == method)]
            values = []
            for n in sizes:
                row = cells[cells["n"] == n]
                values.append(
                    f"{row['p_detect'].iloc[0]:.2f} ± {row['p_detect_mcse'].iloc[0]:.2f}"
                    if len(row)
                    else ""
                )
            lines.append(f"| {term} | {_label(method)} | " + " | ".join(values) + " |")
    return "\n".join(lines)


def _effects_text(spec: PlanSpec) -> list[str]:
    lines = []
    if spec.pilot is not None:
        lines.append(
            f"- pilot posterior: `{spec.pilot}` (sha256 {spec.pilot_sha256[:12]}...); each "
            f"replicate's truth for {', '.join(spec.pilot_terms)} is one posterior draw"
        )
        lines.append(f"- the pilot fit's MCMC diagnostics: {spec.pilot_diagnostics}")
    for term, prior in spec.effect_priors.items():
        if prior.dist == "Point":
            lines.append(f"- {term} = {prior.params['value']:g} (known exactly)")
        else:
            params = ", ".join(f"{k} = {v:g}" for k, v in prior.params.items())
            lines.append(f"- {term} ~ {prior.dist}({params})")
    lines.append("- every other term: the Tumang truth's value (`simulate_tumang`), exactly")
    return lines


def plan_markdown(table: pd.DataFrame, spec: PlanSpec, answers: Sequence[str]) -> str:
    """Write the plan's report: assumptions, intervals, the table and the one-line answers.

    Parameters
    ----------
    table : pandas.DataFrame
        :func:`plan_table` output.
    spec : PlanSpec
        The plan.
    answers : sequence of str
        :func:`plan_answers` output.

    Returns
    -------
    str
        Markdown text of ``plan.md``.
    """
    methods = [m for m in spec.methods if m in set(table["method"])]
    intervals = "; ".join(
        f"{_label(m)}: {'assurance' if m not in FREQUENTIST_STUDY_METHODS else 'power'}, "
        f"{interval_name(spec, m)}"
        for m in methods
    )
    return "\n".join(
        [
            f"# {spec.name}",
            "",
            f"Spec `{spec.source}`; seed {spec.seed}; {spec.replicates} simulated surveys per "
            f"size (Tumang design), sizes {', '.join(map(str, spec.sizes))}.",
            "",
            "## Assumed effects",
            "",
            *_effects_text(spec),
            "",
            "## Probability of detecting each effect",
            "",
            "P(detect) = share of simulated surveys whose interval excludes 0 (a failed "
            f"fit, e.g. MLE on separated data, detects nothing). {intervals}. "
            "± is the Monte Carlo standard error.",
            "",
            _markdown_table(table, spec),
            "",
            "## Answers",
            "",
            *(f"- {line}" for line in answers),
            "",
            "Interval widths, coverage and separation rates by n: `assurance.csv`; "
            "the figure: `figures/assurance.png`; provenance: `plan.json`.",
            "",
        ]
    )


@dataclass
class PlanResult:
    """A finished (or resumed) plan.

    Attributes
    ----------
    spec : PlanSpec
        The plan.
    study : StudyResult
        The study underneath (replicates, timings).
    table : pandas.DataFrame
        :func:`plan_table` output, also ``assurance.csv``.
    answers : list of str
        :func:`plan_answers` output, also in ``plan.md``.
    files : dict of str to pathlib.Path
        What the plan wrote beyond the study's files.
    """

    spec: PlanSpec
    study: StudyResult
    table: pd.DataFrame
    answers: list[str]
    files: dict[str, Path] = field(default_factory=dict)


def _write_text(text: str, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def run_plan(
    spec: PlanSpec,
    out: str | Path,
    *,
    workers: int = 1,
    scheduler: Any = None,
    progress: bool = True,
    figures: bool = True,
    stream: TextIO | None = None,
) -> PlanResult:
    """Run (or resume) a sample-size plan and write its outputs.

    Runs the plan's study with :func:`~bayes_cluster.studies.study.run_study` (same
    output-folder rules, resumable replicate files, local processes or Dask), then writes
    ``assurance.csv``, ``plan.md``, ``figures/assurance.png`` and ``plan.json``
    (provenance). The study's ``metrics.csv`` is not written: it assumes one fixed truth,
    which a plan does not have (``assurance.csv`` replaces it).

    Parameters
    ----------
    spec : PlanSpec
        The plan (:func:`load_plan_spec`).
    out : str or pathlib.Path
        Output folder: new, empty, or one an earlier run of this plan wrote.
    workers, scheduler, progress, stream
        As :func:`~bayes_cluster.studies.study.run_study`.
    figures : bool
        Save ``figures/assurance.png``.

    Returns
    -------
    PlanResult

    Raises
    ------
    ValueError
        If ``out`` holds replicates of another study or plan.
    bayes_cluster.run.safety.OutputFolderError
        If ``out`` is not a folder the plan may write to.
    """
    out = Path(out)
    study = run_study(
        spec,
        out,
        workers=workers,
        scheduler=scheduler,
        progress=progress,
        figures=False,
        stream=stream,
        write_metrics=False,
    )
    table = plan_table(study.replicates, spec)
    answers = plan_answers(table, spec) if not table.empty else []
    files = {"assurance": out / "assurance.csv", "report": out / "plan.md"}
    _write_text(table.to_csv(index=False, lineterminator="\n"), files["assurance"])
    _write_text(plan_markdown(table, spec, answers), files["report"])
    if figures and not table.empty:
        import matplotlib.pyplot as plt

        from bayes_cluster.plots.plan import plot_assurance

        folder = out / "figures"
        folder.mkdir(parents=True, exist_ok=True)
        figure = plot_assurance(table, target=TARGET)
        path = folder / "assurance.png"
        tmp = folder / f".assurance.png.{os.getpid()}.tmp"
        try:
            figure.savefig(tmp, dpi=150, bbox_inches="tight", format="png")
            tmp.replace(path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        finally:
            plt.close(figure)
        files["figure"] = path
    from bayes_cluster.inference.provenance import provenance

    manifest = {
        "package": PACKAGE,
        "name": spec.name,
        "source": spec.source,
        "intervals": {m: interval_name(spec, m) for m in spec.methods},
        "replicates_on_disk": int(len(study.replicates.drop_duplicates(["n", "replicate"]))),
        "fingerprint": spec.fingerprint(),
        "pilot_diagnostics": spec.pilot_diagnostics,
        "provenance": provenance(seed=spec.seed),
    }
    files["provenance"] = out / "plan.json"
    _write_text(json.dumps(manifest, indent=2, default=str) + "\n", files["provenance"])
    raise_if_interrupted()
    return PlanResult(spec=spec, study=study, table=table, answers=answers, files=files)

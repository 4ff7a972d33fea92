"""Declarative analysis specs: TOML files in ``models/``, parsed and validated.

A spec says which data to read and which analyses to run; ``bayes-cluster run SPEC``
(:func:`bayes_cluster.run.pipeline.run_spec`) runs them.  Sections that a spec omits are not
run: a spec with only ``[data]`` and ``[logistic]`` is valid.  Every key is documented in
``docs/spec.md``.

Validation collects *every* problem before failing, and each message names the file and
the key (``models/x.toml: [logistic].predictors: ...``), so a malformed spec is fixed in
one pass and nothing is written.

Sections are pluggable: :func:`register_section` adds a validator for a new top-level
table (the joint latent-class + logit model registers ``[joint]`` this way).
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

from bayes_cluster.inference.priors import DISTRIBUTIONS as _PRIOR_FAMILIES
from bayes_cluster.run.collapse import check_collapse
from bayes_cluster.surveys.codebook import (
    DECIMAL_MARKS,
    THOUSANDS_SEPARATORS,
    TUMANG_CODEBOOK,
    Column,
)

__all__ = [
    "FREQUENTIST_METHODS",
    "PRIOR_DISTRIBUTIONS",
    "REPORT_FORMATS",
    "SAMPLER_BACKENDS",
    "SAMPLER_BOUNDS",
    "TRANSFORMS",
    "DataSpec",
    "FrequentistSpec",
    "LatentClassSpec",
    "LogisticSpec",
    "LogisticVariant",
    "Problems",
    "PublishedSpec",
    "ReportSpec",
    "SamplerSpec",
    "Spec",
    "SpecError",
    "Table",
    "load_spec",
    "parse_spec",
    "read_spec_text",
    "register_section",
    "validate_priors",
]

# --------------------------------------------------------------------------- vocabularies

PRIOR_DISTRIBUTIONS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {name: tuple(required) for name, (required, _) in _PRIOR_FAMILIES.items()}
)
"""Prior families a spec may name, with their parameters (:mod:`~priors`)."""

HORSESHOE_PARAMETERS = ("expected_nonzero", "slab_scale", "slab_df", "local_df", "global_df")
"""Hyperparameters of the regularised horseshoe (``[logistic.priors.horseshoe]``)."""

MAX_CLASSES = 20
"""Largest number of latent classes a spec may ask for (a survey of a cluster's firms
identifies far fewer; :mod:`bayes_cluster.run.feasibility` checks the survey at hand)."""

LATENT_CLASS_PRIORS = ("class_concentration", "item_concentration")
"""Dirichlet concentrations of the Bayesian latent-class mixture (``[latent_class.priors]``)."""

MEASUREMENTS = ("nominal", "ordinal")
"""Values of ``[latent_class].measurement``: how the Bayesian mixture reads the items."""

PRIOR_ROLES = ("intercept", "slopes", "group_sd", "horseshoe")
"""Prior keys of the Bayesian logit besides single predictors."""

TRANSFORMS: Mapping[str, str] = MappingProxyType(
    {
        "log": "natural logarithm (values must be > 0)",
        "log1p": "log(1 + x) (values must be > -1)",
        "sqrt": "square root (values must be >= 0)",
    }
)
"""Predictor transforms a spec may ask for; the term is then named ``log(workers)`` etc."""

FREQUENTIST_METHODS = ("mle", "firth")
"""Frequentist logits the ``[frequentist]`` section can run."""

SAMPLER_BACKENDS = ("nutpie", "nutpie_c", "pymc")
"""MCMC backends."""

REPORT_FORMATS = ("html", "md")
"""Report formats (``report.html``, ``report.md``)."""

COLUMN_KINDS = ("id", "binary", "count", "number", "likert", "category")
CONCLUSIONS = ("effect", "no clear effect")

SAMPLER_BOUNDS: Mapping[str, tuple[int, int, str]] = MappingProxyType(
    {
        "draws": (100, 100_000, "R-hat, ESS and PSIS-LOO need at least 100 draws a chain"),
        "tune": (100, 100_000, "NUTS adapts its step size and mass matrix while tuning"),
        "chains": (2, 64, "R-hat compares at least two chains"),
        "seed": (0, 2**32 - 1, "a seed is a 32-bit unsigned integer"),
    }
)
"""Smallest and largest value, and the reason, of each integer ``[sampler]`` setting (the
same for ``[sampler.quick]``)."""

QUICK_SAMPLER = MappingProxyType({"draws": 150, "tune": 150, "chains": 2, "backend": "pymc"})
"""Sampler settings of ``--quick`` unless the spec gives ``[sampler.quick]``.

The preview uses PyMC's own NUTS: its compiled code is cached across processes
(``~/.pytensor``), while nutpie compiles every model anew in each process (10-30 s a
model), which would dominate a run of a few hundred draws.
"""


class SpecError(ValueError):
    """A spec file that cannot be run; the message lists every problem, file and key."""

    def __init__(self, source: str, problems: Sequence[str]):
        self.source = source
        self.problems = list(problems)
        lines = [f"{source}: {problem}" for problem in self.problems]
        noun = "problem" if len(lines) == 1 else "problems"
        super().__init__(f"invalid spec ({len(lines)} {noun}):\n  " + "\n  ".join(lines))


# --------------------------------------------------------------------------- spec objects


@dataclass(frozen=True)
class DataSpec:
    """The ``[data]`` section: which survey to read and how to read it.

    Attributes
    ----------
    path : pathlib.Path
        Survey file (resolved against the spec file's folder).
    id_column : str or None
        Respondent id column.
    codebook : tuple of Column
        Column types and allowed values (``[data.columns]``, else the Tumang codebook).
    outcome_labels : dict
        Text labels in the file mapped to 0/1 (e.g. ``{"ekspor": 1, "domestik": 0}``).
    value_labels : dict
        Display names of values per column (``[data.value_labels.<column>]``).
    missing : str
        What to do with missing values: ``"error"`` (default), ``"drop"`` (listwise,
        reported) or ``"model"`` (blank predictor cells imputed by the Bayesian logit's
        imputation model, MICE beside complete cases for the frequentist logits, blank
        Markusen items marginalised; see docs/missing_data.md).
    decimal : str or None
        The file's decimal mark (``"."`` or ``","``); None: told from the file
        (:func:`bayes_cluster.surveys.survey.load_survey`).
    thousands : str or None
        The file's thousands separator (``""``: none); None unless declared.
    """

    path: Path
    id_column: str | None
    codebook: tuple[Column, ...]
    outcome_labels: dict[str, int] = field(default_factory=dict)
    value_labels: dict[str, dict[str, str]] = field(default_factory=dict)
    missing: str = "error"
    decimal: str | None = None
    thousands: str | None = None

    @property
    def columns(self) -> tuple[str, ...]:
        """Names of every column the codebook declares."""
        return tuple(c.name for c in self.codebook)

    def column(self, name: str) -> Column:
        """Return the codebook entry of ``name``."""
        for c in self.codebook:
            if c.name == name:
                return c
        raise KeyError(name)


@dataclass(frozen=True)
class LogisticVariant:
    """A named Bayesian logit variant (``[logistic.variants.<name>]``).

    Its method name in every table is ``bayes_<name>``.
    """

    name: str
    group: str | None
    priors: dict[str, dict[str, Any]]
    predictors: tuple[str, ...]
    shrinkage: str | None = None


@dataclass(frozen=True)
class LogisticSpec:
    """The ``[logistic]`` section: the export-orientation logit.

    Attributes
    ----------
    outcome : str
        Binary outcome column.
    predictors : tuple of str
        Predictor columns (before transforms).
    group : str or None
        Grouping column of varying intercepts for the base Bayesian model.
    standardize : bool
        Standardise predictors inside the Bayesian model (reported on the original scale).
    transforms : dict
        Column -> transform name (:data:`TRANSFORMS`).
    priors : dict
        Prior tables of the base Bayesian model, in the shape ``BayesianLogit`` takes.
    bayesian : bool
        Whether to fit the Bayesian logit (``false``: frequentist methods only).
    variants : tuple of LogisticVariant
        Extra Bayesian models (e.g. horseshoe, product-line hierarchy).
    loo : bool
        Compare the Bayesian models by PSIS-LOO.
    prior_sensitivity : bool
        Power-scaling prior sensitivity of the base model.
    shrinkage : {None, "horseshoe"}
        Regularised horseshoe on the slopes of the base model.
    """

    outcome: str
    predictors: tuple[str, ...]
    group: str | None = None
    standardize: bool = True
    transforms: dict[str, str] = field(default_factory=dict)
    priors: dict[str, dict[str, Any]] = field(default_factory=dict)
    bayesian: bool = True
    variants: tuple[LogisticVariant, ...] = ()
    loo: bool = True
    prior_sensitivity: bool = True
    shrinkage: str | None = None

    def term(self, column: str) -> str:
        """Name of the model term built from ``column`` (``log(workers)`` if transformed)."""
        transform = self.transforms.get(column)
        return f"{transform}({column})" if transform else column

    @property
    def terms(self) -> tuple[str, ...]:
        """Model term of every predictor, in order."""
        return tuple(self.term(c) for c in self.predictors)


@dataclass(frozen=True)
class LatentClassSpec:
    """The ``[latent_class]`` section: the cluster-pattern analysis.

    Attributes
    ----------
    items : tuple of str
        Categorical item columns.
    n_classes : tuple of int
        Every number of classes to fit (from ``n_classes = [min, max]``).
    collapse : tuple of tuple of int, or None
        Groups of Likert levels that become one category, e.g. ``((1, 2), (3,), (4, 5))``.
    descriptive : bool
        Run the thesis's descriptive Markusen scoring (Markusen items only).
    em : bool
        Fit maximum-likelihood latent classes by EM.
    em_starts : int
        Random starts of EM.
    bayesian : bool
        Fit the Bayesian latent-class mixture.
    markusen : bool
        Type each class against Markusen's signatures (Markusen items only).
    priors : dict
        Prior tables of the Bayesian mixture.
    markusen_items : dict
        Item column -> Markusen item name (``[latent_class.markusen_items]``), for surveys
        whose Markusen items are not named as in :data:`~markusen.MARKUSEN_ITEMS`.
    measurement : {"nominal", "ordinal"}
        How the Bayesian mixture reads the items: ``"nominal"`` (free response
        probabilities per class) or ``"ordinal"`` (a cumulative logit per item, fitted
        beside the nominal model and compared with it by PSIS-LOO; needs uncollapsed items).
    covariates : tuple of str
        Numeric columns that shift the class shares (a multinomial logit of class
        membership, fitted one step for the chosen number of classes, Bayes and EM).
    bootstrap_lrt : bool
        Whether the EM part tests K - 1 against K classes for every K >= 2 of
        ``n_classes`` by the parametric bootstrap likelihood-ratio test (default true).
    bootstrap_samples : int
        :math:`B`, the data sets the bootstrap test simulates per K (default 99).
    """

    items: tuple[str, ...]
    n_classes: tuple[int, ...]
    collapse: tuple[tuple[int, ...], ...] | None = None
    descriptive: bool = True
    em: bool = True
    em_starts: int = 50
    bayesian: bool = True
    markusen: bool = True
    priors: dict[str, dict[str, Any]] = field(default_factory=dict)
    markusen_items: dict[str, str] = field(default_factory=dict)
    measurement: str = "nominal"
    covariates: tuple[str, ...] = ()
    bootstrap_lrt: bool = True
    bootstrap_samples: int = 99

    @property
    def markusen_names(self) -> tuple[str, ...]:
        """Each item's Markusen name: its ``markusen_items`` entry, else its column name."""
        return tuple(self.markusen_items.get(item, item) for item in self.items)


@dataclass(frozen=True)
class SamplerSpec:
    """The ``[sampler]`` section: MCMC settings shared by every Bayesian model."""

    draws: int = 1000
    tune: int = 1000
    chains: int = 4
    seed: int = 2028
    backend: str = "nutpie_c"
    target_accept: float = 0.9
    hdi_prob: float = 0.94
    quick: dict[str, Any] = field(default_factory=lambda: dict(QUICK_SAMPLER))

    def for_run(self, quick: bool) -> SamplerSpec:
        """Return the settings of a run (``--quick`` swaps in the quick draws)."""
        if not quick:
            return self
        return replace(self, **self.quick)


@dataclass(frozen=True)
class FrequentistSpec:
    """The ``[frequentist]`` section: classical logits of the ``[logistic]`` model."""

    methods: tuple[str, ...] = FREQUENTIST_METHODS
    alpha: float = 0.05
    separation: bool = True
    firth_se: str = "fisher"  # "fisher" (brglm2) or "augmented" (logistf >= 1.24)


@dataclass(frozen=True)
class ReportSpec:
    """The ``[report]`` section: what the report looks like."""

    formats: tuple[str, ...] = REPORT_FORMATS
    title: str = ""
    figure_dpi: int = 110
    comparison_level: float = 0.95
    """One interval level for every method in the comparison table, forest plot and verdicts."""


@dataclass(frozen=True)
class PublishedSpec:
    """The ``[published]`` section: a study's own conclusions, shown beside ours.

    Attributes
    ----------
    source : str
        Where the conclusions come from (cited in every table that shows them).
    conclusions : dict
        Predictor column -> ``"effect"`` or ``"no clear effect"``.
    cluster_pattern : str
        The study's cluster-pattern verdict.
    name : str
        Short name used in sentences (``"the thesis"``).
    """

    source: str
    conclusions: dict[str, str] = field(default_factory=dict)
    cluster_pattern: str = ""
    name: str = "the published study"


@dataclass(frozen=True)
class Spec:
    """A validated analysis spec.

    Attributes
    ----------
    path : pathlib.Path or None
        The spec file (``None`` for a spec built from a mapping).
    name : str
        The spec's stem (default output folder ``results/<name>/``).
    raw : dict
        The TOML as read (stored in provenance).
    data : DataSpec
    logistic, latent_class, sampler, frequentist, report, published
        The sections; ``None`` where the spec omits them (not run).
    extra : dict
        Validated values of plug-in sections (see :func:`register_section`).
    """

    path: Path | None
    name: str
    raw: dict[str, Any]
    data: DataSpec
    logistic: LogisticSpec | None = None
    latent_class: LatentClassSpec | None = None
    sampler: SamplerSpec = field(default_factory=SamplerSpec)
    frequentist: FrequentistSpec | None = None
    report: ReportSpec = field(default_factory=ReportSpec)
    published: PublishedSpec | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def source(self) -> str:
        """The file name used in messages."""
        return str(self.path) if self.path is not None else f"<spec {self.name}>"

    @property
    def text(self) -> str:
        """The spec file's text (or the TOML-like repr of the mapping)."""
        if self.path is not None and self.path.is_file():
            return read_spec_text(self.path)
        return repr(self.raw)


# --------------------------------------------------------------------------- validation helpers


class Problems:
    """Collects problems while a spec is validated.

    Validators report every problem they find instead of stopping at the first; the
    caller raises one :class:`SpecError` listing ``items`` when any were added.
    """

    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, key: str, message: str) -> None:
        """Record `message` about the spec key `key` (e.g. ``"[sampler].draws"``)."""
        self.items.append(f"{key}: {message}")


def _type_name(value: Any) -> str:
    return {
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        str: "a string",
        list: "an array",
        dict: "a table",
    }.get(type(value), type(value).__name__)


class Table:
    """Typed, key-checked access to one TOML table.

    Unknown keys and values of the wrong type are reported to `problems` (with the full
    key, e.g. ``"[study].replicates"``); the accessors then return their default.

    Parameters
    ----------
    raw : Any
        The parsed TOML value; anything but a table is reported and read as empty.
    key : str
        How the table is named in messages.
    problems : Problems
        Where problems are recorded.
    allowed : sequence of str
        The keys the table may hold.
    """

    def __init__(self, raw: Any, key: str, problems: Problems, allowed: Sequence[str]):
        self.key = key
        self.problems = problems
        if not isinstance(raw, dict):
            problems.add(key, f"must be a table, got {_type_name(raw)}")
            raw = {}
        self.raw = raw
        for name in raw:
            if name not in allowed:
                problems.add(
                    f"{key}.{name}",
                    f"unknown key; allowed keys of {key}: {', '.join(allowed)}",
                )

    def sub(self, name: str) -> str:
        """Return the full key of `name` in this table, for messages."""
        return f"{self.key}.{name}"

    def has(self, name: str) -> bool:
        """Return whether the table holds `name`."""
        return name in self.raw

    def get(self, name: str, kind: type | tuple[type, ...], default: Any = None) -> Any:
        """Return `name` if it is of `kind` (an integer counts as a float), else `default`."""
        if name not in self.raw:
            return default
        value = self.raw[name]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        # TOML integers are fine where numbers are expected; booleans are not numbers
        ok = isinstance(value, kinds) and not (isinstance(value, bool) and bool not in kinds)
        if float in kinds and isinstance(value, int) and not isinstance(value, bool):
            ok = True
            value = float(value)
        if not ok:
            wanted = " or ".join(_type_name(k()) for k in kinds)
            self.problems.add(self.sub(name), f"must be {wanted}, got {value!r}")
            return default
        return value

    def require(self, name: str, kind: type | tuple[type, ...]) -> Any:
        """Like :meth:`get`, but a missing `name` is reported as required."""
        if name not in self.raw:
            self.problems.add(self.sub(name), "is required")
            return None
        return self.get(name, kind)

    def positive_int(
        self,
        name: str,
        default: int,
        minimum: int = 1,
        maximum: int | None = None,
        why: str = "",
    ) -> int:
        """Return the integer `name`, reported and defaulted outside [`minimum`, `maximum`].

        `why`, if given, is appended to the message (e.g. ``"R-hat compares chains"``).
        """
        value = self.get(name, int, default)
        reason = f" ({why})" if why else ""
        if value is not None and value < minimum:
            self.problems.add(self.sub(name), f"must be >= {minimum}, got {value}{reason}")
            return default
        if value is not None and maximum is not None and value > maximum:
            self.problems.add(self.sub(name), f"must be <= {maximum}, got {value}{reason}")
            return default
        return value

    def string_list(self, name: str, default: Sequence[str] = ()) -> tuple[str, ...]:
        """Return the array of distinct strings `name`, or `default` when absent or bad."""
        value = self.get(name, list, None)
        if value is None:
            return tuple(default)
        bad = [v for v in value if not isinstance(v, str)]
        if bad:
            self.problems.add(self.sub(name), f"must be an array of strings, got {bad[0]!r}")
            return tuple(default)
        duplicated = sorted({v for v in value if value.count(v) > 1})
        if duplicated:
            self.problems.add(self.sub(name), f"lists {', '.join(duplicated)} more than once")
        return tuple(value)

    def choice_list(
        self, name: str, choices: Sequence[str], default: Sequence[str]
    ) -> tuple[str, ...]:
        """Like :meth:`string_list`, keeping only values among `choices` (others reported)."""
        values = self.string_list(name, default)
        unknown = [v for v in values if v not in choices]
        if unknown:
            self.problems.add(
                self.sub(name),
                f"unknown value(s) {', '.join(map(repr, unknown))}; "
                f"choose from {', '.join(choices)}",
            )
            return tuple(v for v in values if v in choices)
        return values


# --------------------------------------------------------------------------- sections

SectionValidator = Callable[[Any, Problems, dict[str, Any]], Any]
"""``validator(raw_table, problems, context) -> value``; see :func:`register_section`."""

_PLUGIN_SECTIONS: dict[str, SectionValidator] = {}


def register_section(name: str, validator: SectionValidator) -> None:
    """Allow a new top-level spec section.

    Parameters
    ----------
    name : str
        The TOML table name (e.g. ``"joint"``).
    validator : callable
        ``validator(raw, problems, context)`` returns the validated value stored in
        ``Spec.extra[name]``.  It reports problems with ``problems.add(key, message)``
        (key like ``"[joint].n_classes"``); ``context`` holds the already validated
        ``"data"``, ``"logistic"`` and ``"latent_class"`` sections and the spec
        ``"folder"``.
    """
    _PLUGIN_SECTIONS[name] = validator


def _validate_joint(raw: Any, problems: Problems, context: dict[str, Any]) -> Any:
    """Hand ``[joint]`` to its own validator (:mod:`bayes_cluster.run.joint_section`).

    Its ``covariates`` are then checked against the codebook as
    ``[latent_class].covariates`` are (a column of the data, of a numeric kind).
    """
    from bayes_cluster.run.joint_section import validate_joint_section

    joint = validate_joint_section(raw, problems, context)
    if joint is not None and joint.covariates:
        _check_columns(
            joint.covariates,
            "[joint].covariates",
            context.get("data"),
            problems,
            kinds=COVARIATE_KINDS,
        )
    return joint


register_section("joint", _validate_joint)

_TOP_LEVEL = (
    "title",
    "description",
    "data",
    "logistic",
    "latent_class",
    "sampler",
    "frequentist",
    "report",
    "published",
)

_COLUMN_KEYS = ("kind", "levels", "minimum", "required", "label", "meaning", "role")


def _validate_columns(raw: Any, problems: Problems) -> tuple[Column, ...]:
    table = Table(
        raw, "[data.columns]", problems, allowed=list(raw) if isinstance(raw, dict) else []
    )
    columns = []
    for name, entry in table.raw.items():
        key = f"[data.columns.{name}]"
        if isinstance(entry, str):
            entry = {"kind": entry}
        column = Table(entry, key, problems, _COLUMN_KEYS)
        kind = column.require("kind", str)
        if kind is not None and kind not in COLUMN_KINDS:
            problems.add(
                f"{key}.kind", f"unknown kind {kind!r}; choose from {', '.join(COLUMN_KINDS)}"
            )
            continue
        levels = column.get("levels", list, None)
        minimum = column.get("minimum", float, None)
        if kind == "likert":
            if not levels or not all(
                isinstance(v, int) and not isinstance(v, bool) for v in levels
            ):
                problems.add(
                    f"{key}.levels", "a likert column needs integer levels, e.g. [1, 2, 3, 4, 5]"
                )
                continue
        if kind in ("count", "number") and minimum is None:
            minimum = 1.0 if kind == "count" else -math.inf
        columns.append(
            Column(
                name=name,
                kind=kind or "category",
                label_id=column.get("label", str, name),
                meaning=column.get("meaning", str, ""),
                minimum=minimum,
                levels=tuple(levels) if levels else None,
                required=column.get("required", bool, True),
                role=column.get("role", str, ""),
            )
        )
    if not columns and not problems.items:
        problems.add("[data.columns]", "declares no columns")
    return tuple(columns)


def _validate_data(raw: Any, problems: Problems, folder: Path) -> DataSpec | None:
    if raw is None:
        problems.add("[data]", "is required (which survey file to read)")
        return None
    table = Table(
        raw,
        "[data]",
        problems,
        (
            "path",
            "id",
            "codebook",
            "columns",
            "outcome_labels",
            "value_labels",
            "missing",
            "decimal",
            "thousands",
        ),
    )
    path_text = table.require("path", str)
    path = None
    if path_text is not None:
        path = Path(path_text)
        if not path.is_absolute():
            path = (folder / path).resolve()
        if not path.is_file():
            problems.add("[data].path", f"no such file: {path}")
    if table.has("columns"):
        codebook = _validate_columns(table.raw["columns"], problems)
        if table.has("codebook"):
            problems.add("[data].codebook", "give either codebook or [data.columns], not both")
    else:
        name = table.get("codebook", str, "tumang")
        if name != "tumang":
            problems.add("[data].codebook", f"unknown built-in codebook {name!r}; known: tumang")
        codebook = TUMANG_CODEBOOK
    id_default = next((c.name for c in codebook if c.kind == "id"), None)
    id_column = table.get("id", str, id_default)
    names = [c.name for c in codebook]
    if id_column is not None and id_column not in names:
        problems.add("[data].id", f"column {id_column!r} is not in the codebook")
    outcome_labels = {}
    if table.has("outcome_labels"):
        labels = table.get("outcome_labels", dict, {})
        for label, value in labels.items():
            if value not in (0, 1) or isinstance(value, bool):
                problems.add(f"[data.outcome_labels].{label}", f"must be 0 or 1, got {value!r}")
            else:
                outcome_labels[str(label)] = int(value)
    value_labels = {}
    for column, labels in table.get("value_labels", dict, {}).items():
        if column not in names:
            problems.add(f"[data.value_labels].{column}", "is not a column of the codebook")
        elif not isinstance(labels, dict):
            problems.add(f"[data.value_labels].{column}", "must be a table value = label")
        else:
            value_labels[column] = {str(k): str(v) for k, v in labels.items()}
    missing = table.get("missing", str, "error")
    if missing not in ("error", "drop", "model"):
        problems.add("[data].missing", f"must be 'error', 'drop' or 'model', got {missing!r}")
    decimal = table.get("decimal", str, None)
    if decimal is not None and decimal not in DECIMAL_MARKS:
        problems.add("[data].decimal", f"must be '.' or ',', got {decimal!r}")
        decimal = None
    thousands = table.get("thousands", str, None)
    if thousands is not None:
        if thousands not in THOUSANDS_SEPARATORS:
            shown = ", ".join(map(repr, THOUSANDS_SEPARATORS))
            problems.add("[data].thousands", f"must be one of {shown}, got {thousands!r}")
            thousands = None
        elif not table.has("decimal"):
            problems.add("[data].thousands", "needs [data].decimal (declare the decimal mark too)")
            thousands = None
        elif thousands == decimal:
            problems.add("[data].thousands", f"must differ from [data].decimal ({decimal!r})")
            thousands = None
    if path is None:
        return None
    return DataSpec(
        path=path,
        id_column=id_column,
        codebook=codebook,
        outcome_labels=outcome_labels,
        value_labels=value_labels,
        missing=missing,
        decimal=decimal,
        thousands=thousands,
    )


def _positive_finite(value: Any) -> bool:
    """Whether `value` is a number in (0, 1e6] (not a boolean, nan or infinity)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return math.isfinite(value) and 0 < value <= 1e6


def _validate_horseshoe(raw: dict, key: str, problems: Problems) -> dict[str, float]:
    values = {}
    for name, value in raw.items():
        if name not in HORSESHOE_PARAMETERS:
            problems.add(
                f"{key}.{name}",
                f"unknown horseshoe parameter; known: {', '.join(HORSESHOE_PARAMETERS)}",
            )
        elif not _positive_finite(value):
            problems.add(
                f"{key}.{name}", f"must be a positive number of at most 1e6, got {value!r}"
            )
        else:
            values[name] = float(value)
    return values


def validate_priors(raw: Any, key: str, problems: Problems) -> dict[str, dict[str, Any]]:
    """Check prior tables with the package's own prior rules (:mod:`~priors`).

    Parameters
    ----------
    raw : Any
        The parsed ``priors`` table: term name -> prior table (or ``horseshoe`` settings).
    key : str
        How the table is named in messages, e.g. ``"[logistic.priors]"``.
    problems : Problems
        Where problems are recorded.

    Returns
    -------
    dict
        The valid priors, by term; invalid ones are reported and left out.
    """
    from bayes_cluster.inference.priors import validate_prior

    table = Table(raw, key, problems, allowed=list(raw) if isinstance(raw, dict) else [])
    priors: dict[str, dict[str, Any]] = {}
    for term, prior in table.raw.items():
        # "[logistic.priors]" -> "[logistic.priors.slopes]", as the TOML table is written
        prior_key = f"{key[:-1]}.{term}]" if key.endswith("]") else f"{key}.{term}"
        if not isinstance(prior, dict):
            problems.add(
                prior_key,
                f'must be a table like {{ dist = "Normal", mu = 0, sigma = 1 }}, got {prior!r}',
            )
            continue
        if term == "horseshoe":
            priors[term] = _validate_horseshoe(prior, prior_key, problems)
            continue
        dist = prior.get("dist")
        if dist is None:
            problems.add(f"{prior_key}.dist", "is required (the prior family)")
            continue
        if dist not in PRIOR_DISTRIBUTIONS:
            problems.add(
                f"{prior_key}.dist",
                f"unknown prior {dist!r}; known: {', '.join(PRIOR_DISTRIBUTIONS)}",
            )
            continue
        # a standard deviation needs a positive prior; every coefficient a real one
        support = "positive" if term == "group_sd" else "real"
        try:
            priors[term] = validate_prior(prior, term, support=support)
        except ValueError as error:
            problems.add(prior_key, str(error))
    return priors


def _check_columns(
    names: Sequence[str],
    key: str,
    data: DataSpec | None,
    problems: Problems,
    kinds: Sequence[str] | None = None,
) -> None:
    if data is None:
        return
    known = data.columns
    for name in names:
        if name not in known:
            problems.add(
                key, f"column {name!r} is not in the data's codebook (columns: {', '.join(known)})"
            )
        elif kinds is not None and data.column(name).kind not in kinds:
            problems.add(
                key,
                f"column {name!r} is of kind {data.column(name).kind!r}; "
                f"expected {' or '.join(kinds)}",
            )


def _shrinkage(table: Table, problems: Problems) -> str | None:
    value = table.get("shrinkage", str, "none")
    if value not in ("none", "horseshoe"):
        problems.add(table.sub("shrinkage"), f"must be 'none' or 'horseshoe', got {value!r}")
        return None
    return None if value == "none" else value


def _check_prior_keys(
    priors: Mapping[str, Any], predictors: Sequence[str], key: str, problems: Problems
) -> None:
    """Check that a prior key is a role (intercept, slopes, ...) or one predictor's term."""
    for name in priors:
        column = name.split("[", 1)[0]
        if column.endswith(")") and "(" in column:  # a transformed term, e.g. log(workers)
            column = column[column.index("(") + 1 : -1]
        if name not in PRIOR_ROLES and column not in predictors:
            problems.add(
                f"{key}.{name}]",
                f"{name!r} is neither a prior role ({', '.join(PRIOR_ROLES)}) nor a predictor",
            )


def _validate_logistic(raw: Any, problems: Problems, data: DataSpec | None) -> LogisticSpec | None:
    table = Table(
        raw,
        "[logistic]",
        problems,
        (
            "outcome",
            "predictors",
            "group",
            "standardize",
            "transforms",
            "priors",
            "bayesian",
            "variants",
            "loo",
            "prior_sensitivity",
            "shrinkage",
        ),
    )
    outcome = table.require("outcome", str)
    if outcome is not None:
        _check_columns([outcome], "[logistic].outcome", data, problems, kinds=("binary",))
    if not table.has("predictors"):
        problems.add("[logistic].predictors", "is required (a list of column names)")
    predictors = table.string_list("predictors")
    if table.has("predictors") and not predictors:
        problems.add("[logistic].predictors", "must list at least one column")
    numeric = ("binary", "count", "number", "likert", "category")
    _check_columns(predictors, "[logistic].predictors", data, problems, kinds=numeric)
    if outcome in predictors:
        problems.add("[logistic].predictors", f"contains the outcome {outcome!r}")
    group = table.get("group", str, None)
    if group is not None:
        _check_columns(
            [group], "[logistic].group", data, problems, kinds=("category", "likert", "binary")
        )
    transforms = {}
    for column, name in table.get("transforms", dict, {}).items():
        key = f"[logistic.transforms].{column}"
        if column not in predictors:
            problems.add(key, f"{column!r} is not one of the predictors")
        elif name not in TRANSFORMS:
            problems.add(key, f"unknown transform {name!r}; known: {', '.join(TRANSFORMS)}")
        else:
            transforms[column] = name
    priors = validate_priors(table.raw.get("priors", {}), "[logistic.priors]", problems)
    _check_prior_keys(priors, predictors, "[logistic.priors", problems)
    shrinkage = _shrinkage(table, problems)
    variants = []
    variant_tables = table.get("variants", dict, {})
    for name, variant_raw in variant_tables.items():
        key = f"[logistic.variants.{name}]"
        if not name.replace("_", "").isalnum():
            problems.add(key, "variant names may hold letters, digits and underscores only")
        variant = Table(variant_raw, key, problems, ("group", "priors", "predictors", "shrinkage"))
        variant_group = variant.get("group", str, group)
        if variant_group is not None:
            _check_columns(
                [variant_group],
                f"{key}.group",
                data,
                problems,
                kinds=("category", "likert", "binary"),
            )
        variant_predictors = variant.string_list("predictors", predictors)
        _check_columns(variant_predictors, f"{key}.predictors", data, problems, kinds=numeric)
        variant_priors = validate_priors(
            variant.raw.get("priors", {}), f"[logistic.variants.{name}.priors]", problems
        )
        _check_prior_keys(
            variant_priors, variant_predictors, f"[logistic.variants.{name}.priors", problems
        )
        variants.append(
            LogisticVariant(
                name=name,
                group=variant_group,
                priors={**priors, **variant_priors},
                predictors=variant_predictors,
                shrinkage=_shrinkage(variant, problems) if variant.has("shrinkage") else shrinkage,
            )
        )
    if outcome is None or not predictors:
        return None
    return LogisticSpec(
        outcome=outcome,
        predictors=predictors,
        group=group,
        standardize=table.get("standardize", bool, True),
        transforms=transforms,
        priors=priors,
        bayesian=table.get("bayesian", bool, True),
        variants=tuple(variants),
        loo=table.get("loo", bool, True),
        prior_sensitivity=table.get("prior_sensitivity", bool, True),
        shrinkage=shrinkage,
    )


def _validate_latent_class(
    raw: Any, problems: Problems, data: DataSpec | None
) -> LatentClassSpec | None:
    table = Table(
        raw,
        "[latent_class]",
        problems,
        (
            "items",
            "item_prefix",
            "n_classes",
            "collapse",
            "descriptive",
            "em",
            "em_starts",
            "bayesian",
            "markusen",
            "priors",
            "markusen_items",
            "measurement",
            "covariates",
            "bootstrap_lrt",
            "bootstrap_samples",
        ),
    )
    if table.has("items") and table.has("item_prefix"):
        problems.add("[latent_class].items", "give either items or item_prefix, not both")
    items: tuple[str, ...] = ()
    if table.has("items"):
        items = table.string_list("items")
        _check_columns(
            items, "[latent_class].items", data, problems, kinds=("likert", "binary", "category")
        )
    elif table.has("item_prefix"):
        prefix = table.get("item_prefix", str, "")
        if data is not None:
            items = tuple(c for c in data.columns if c.startswith(prefix) and prefix)
            if not items:
                problems.add(
                    "[latent_class].item_prefix",
                    f"no column of the codebook starts with {prefix!r}",
                )
    else:
        problems.add("[latent_class].items", "is required (or item_prefix)")
    if len(items) == 1:
        problems.add("[latent_class].items", "a latent class model needs at least two items")
    n_classes: tuple[int, ...] = (1, 2, 3)
    value = table.get("n_classes", (list, int), None)
    bounds = (1, 1)
    if isinstance(value, int):
        bounds = (value, value)
    elif isinstance(value, list):
        if (
            len(value) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) for v in value)
            or value[0] > value[1]
        ):
            problems.add(
                "[latent_class].n_classes", f"must be [min, max] with min <= max, got {value!r}"
            )
        else:
            bounds = (value[0], value[1])
    if bounds[0] < 1:
        problems.add("[latent_class].n_classes", "the smallest number of classes is 1")
    elif bounds[1] > MAX_CLASSES:
        problems.add(
            "[latent_class].n_classes",
            f"the largest number of classes is {MAX_CLASSES}, got {bounds[1]}",
        )
    elif value is not None and not isinstance(value, bool):
        n_classes = tuple(range(bounds[0], bounds[1] + 1))
    collapse = None
    if table.has("collapse"):
        try:
            collapse = check_collapse(table.raw["collapse"], items, data)
        except ValueError as error:
            problems.add("[latent_class].collapse", str(error))
    # the mixture's priors are Dirichlet concentrations (bayes_cluster.estimators.latent_class)
    priors = {}
    for name, value in table.get("priors", dict, {}).items():
        key = f"[latent_class.priors].{name}"
        if name not in LATENT_CLASS_PRIORS:
            problems.add(key, f"unknown prior; known: {', '.join(LATENT_CLASS_PRIORS)}")
        elif not _positive_finite(value):
            problems.add(
                key, f"must be a positive Dirichlet concentration of at most 1e6, got {value!r}"
            )
        else:
            priors[name] = float(value)
    markusen_items = _validate_markusen_items(
        table.get("markusen_items", dict, {}), items, data, problems
    )
    measurement = table.get("measurement", str, "nominal")
    if measurement not in MEASUREMENTS:
        problems.add(
            "[latent_class].measurement",
            f"must be {' or '.join(map(repr, MEASUREMENTS))}, got {measurement!r}",
        )
    elif measurement == "ordinal" and collapse is not None:
        problems.add(
            "[latent_class].measurement",
            "the ordinal model reads the item levels in their order, uncollapsed: set "
            'collapse = "none" (or leave collapse out)',
        )
    elif measurement == "ordinal" and data is not None:
        levels = {
            item: tuple(data.column(item).levels)
            for item in items
            if item in data.columns and data.column(item).levels
        }
        if len(set(levels.values())) > 1:
            shown = "; ".join(f"{item}: {list(value)}" for item, value in levels.items())
            problems.add(
                "[latent_class].measurement",
                "the ordinal model needs every item on the same levels, but the codebook "
                f"gives {shown}",
            )
    covariates = _latent_class_covariates(table, items, n_classes, data, problems)
    if not items:
        return None
    return LatentClassSpec(
        items=items,
        n_classes=n_classes,
        collapse=collapse,
        descriptive=table.get("descriptive", bool, True),
        em=table.get("em", bool, True),
        em_starts=table.positive_int("em_starts", 50, maximum=10_000),
        bayesian=table.get("bayesian", bool, True),
        markusen=table.get("markusen", bool, True),
        priors=priors,
        markusen_items=markusen_items,
        measurement=measurement,
        covariates=covariates,
        bootstrap_lrt=table.get("bootstrap_lrt", bool, True),
        bootstrap_samples=table.positive_int(
            "bootstrap_samples",
            99,
            minimum=19,
            maximum=100_000,
            why="with fewer, the Monte Carlo p-value cannot fall to 0.05",
        ),
    )


COVARIATE_KINDS = ("count", "number", "binary", "likert")
"""Codebook kinds a covariate of class membership may have (numbers)."""


def _latent_class_covariates(
    table: Table,
    items: Sequence[str],
    n_classes: Sequence[int],
    data: DataSpec | None,
    problems: Problems,
) -> tuple[str, ...]:
    """Check ``[latent_class].covariates``: numeric columns, not items, K >= 2 fitted."""
    if not table.has("covariates"):
        return ()
    key = "[latent_class].covariates"
    covariates = table.string_list("covariates")
    if not covariates:
        if table.raw["covariates"] == []:
            problems.add(key, "is empty: name numeric columns or leave the key out")
        return ()
    for column in covariates:
        if column in items:
            problems.add(
                key, f"{column!r} is an item of the classes; a covariate cannot also be an item"
            )
    _check_columns(covariates, key, data, problems, kinds=COVARIATE_KINDS)
    if table.raw.get("bayesian") is False:
        problems.add(
            key,
            "covariates are fitted for the number of classes the Bayesian model chooses: "
            "set bayesian = true (or leave it out)",
        )
    if max(n_classes) < 2:
        problems.add(key, "covariates of class membership need at least 2 classes (n_classes)")
    return tuple(covariates)


def _validate_markusen_items(
    raw: dict[str, Any], items: Sequence[str], data: DataSpec | None, problems: Problems
) -> dict[str, str]:
    """Check ``[latent_class.markusen_items]`` (item column -> Markusen item name)."""
    from bayes_cluster.surveys.markusen import MARKUSEN_ITEMS

    mapping: dict[str, str] = {}
    for column, name in raw.items():
        key = f"[latent_class.markusen_items].{column}"
        if not isinstance(name, str):
            problems.add(key, f"must be a Markusen item name (a string), got {name!r}")
        elif name not in MARKUSEN_ITEMS:
            problems.add(
                key, f"unknown Markusen item {name!r}; known: {', '.join(MARKUSEN_ITEMS)}"
            )
        elif data is not None and column not in data.columns:
            problems.add(
                key,
                f"column {column!r} is not in the data's codebook "
                f"(columns: {', '.join(data.columns)})",
            )
        elif items and column not in items:
            problems.add(
                key,
                f"column {column!r} is not one of the [latent_class] items ({', '.join(items)})",
            )
        else:
            mapping[column] = name
    # every item must end with its own name: no two columns typed as the same Markusen item
    named: dict[str, list[str]] = {}
    for item in items:
        named.setdefault(mapping.get(item, item), []).append(item)
    for name, columns in named.items():
        mapped = [c for c in columns if c in mapping]
        if len(columns) > 1 and mapped:  # (an item listed twice is reported with items)
            problems.add(
                f"[latent_class.markusen_items].{mapped[0]}",
                f"Markusen item {name!r} would be given to {len(columns)} columns "
                f"({', '.join(columns)}); each Markusen item may name one column only",
            )
    return mapping


def _validate_sampler(raw: Any, problems: Problems) -> SamplerSpec:
    table = Table(
        raw,
        "[sampler]",
        problems,
        ("draws", "tune", "chains", "seed", "backend", "target_accept", "hdi_prob", "quick"),
    )
    backend = table.get("backend", str, "nutpie_c")
    if backend not in SAMPLER_BACKENDS:
        problems.add(
            "[sampler].backend",
            f"unknown backend {backend!r}; choose from {', '.join(SAMPLER_BACKENDS)}",
        )
        backend = "nutpie_c"
    target_accept = table.get("target_accept", float, 0.9)
    if not 0.5 <= target_accept < 1:
        problems.add("[sampler].target_accept", f"must be in [0.5, 1), got {target_accept}")
    hdi_prob = table.get("hdi_prob", float, 0.94)
    if not 0.5 <= hdi_prob < 1:
        problems.add("[sampler].hdi_prob", f"must be in [0.5, 1), got {hdi_prob}")
    quick = dict(QUICK_SAMPLER)
    if table.has("quick"):
        quick_table = Table(
            table.raw["quick"], "[sampler.quick]", problems, ("draws", "tune", "chains", "backend")
        )
        quick |= {
            name: quick_table.positive_int(name, quick[name], *SAMPLER_BOUNDS[name])
            for name in ("draws", "tune", "chains")
            if quick_table.has(name)
        }
        quick_backend = quick_table.get("backend", str, quick["backend"])
        if quick_backend not in SAMPLER_BACKENDS:
            problems.add(
                "[sampler.quick].backend",
                f"unknown backend {quick_backend!r}; choose from {', '.join(SAMPLER_BACKENDS)}",
            )
        else:
            quick["backend"] = quick_backend
    return SamplerSpec(
        draws=table.positive_int("draws", 1000, *SAMPLER_BOUNDS["draws"]),
        tune=table.positive_int("tune", 1000, *SAMPLER_BOUNDS["tune"]),
        chains=table.positive_int("chains", 4, *SAMPLER_BOUNDS["chains"]),
        seed=table.positive_int("seed", 2028, *SAMPLER_BOUNDS["seed"]),
        backend=backend,
        target_accept=target_accept,
        hdi_prob=hdi_prob,
        quick=quick,
    )


def _validate_frequentist(raw: Any, problems: Problems, logistic: Any) -> FrequentistSpec:
    table = Table(raw, "[frequentist]", problems, ("methods", "alpha", "separation", "firth_se"))
    if "logistic" not in logistic:
        problems.add("[frequentist]", "needs a [logistic] section (outcome and predictors)")
    alpha = table.get("alpha", float, 0.05)
    if not 0 < alpha < 0.5:
        problems.add("[frequentist].alpha", f"must be in (0, 0.5), got {alpha}")
    firth_se = table.get("firth_se", str, "fisher")
    if firth_se not in ("fisher", "augmented"):
        problems.add(
            "[frequentist].firth_se", f'must be "fisher" or "augmented", got {firth_se!r}'
        )
    return FrequentistSpec(
        methods=table.choice_list("methods", FREQUENTIST_METHODS, FREQUENTIST_METHODS),
        alpha=alpha,
        separation=table.get("separation", bool, True),
        firth_se=firth_se,
    )


def _validate_report(raw: Any, problems: Problems) -> ReportSpec:
    table = Table(
        raw, "[report]", problems, ("formats", "title", "figure_dpi", "comparison_level")
    )
    level = table.get("comparison_level", float, 0.95)
    if isinstance(level, float) and not 0.5 <= level < 1:
        problems.add("[report].comparison_level", f"must be in [0.5, 1), got {level}")
    return ReportSpec(
        formats=table.choice_list("formats", REPORT_FORMATS, REPORT_FORMATS),
        title=table.get("title", str, ""),
        figure_dpi=table.positive_int("figure_dpi", 110, minimum=50, maximum=1200),
        comparison_level=level if isinstance(level, float) else 0.95,
    )


def _validate_published(
    raw: Any, problems: Problems, logistic: LogisticSpec | None
) -> PublishedSpec:
    table = Table(
        raw, "[published]", problems, ("source", "name", "conclusions", "cluster_pattern")
    )
    source = table.require("source", str) or ""
    conclusions = {}
    for column, verdict in table.get("conclusions", dict, {}).items():
        key = f"[published.conclusions].{column}"
        if verdict not in CONCLUSIONS:
            problems.add(
                key, f"must be one of {', '.join(map(repr, CONCLUSIONS))}, got {verdict!r}"
            )
        elif logistic is not None and column not in logistic.predictors:
            problems.add(key, f"{column!r} is not one of [logistic].predictors")
        else:
            conclusions[column] = verdict
    return PublishedSpec(
        source=source,
        conclusions=conclusions,
        cluster_pattern=table.get("cluster_pattern", str, ""),
        name=table.get("name", str, "the published study"),
    )


# --------------------------------------------------------------------------- entry points


def parse_spec(
    raw: Mapping[str, Any], *, path: str | Path | None = None, name: str | None = None
) -> Spec:
    """Validate a spec given as a mapping (the parsed TOML).

    Parameters
    ----------
    raw : mapping
        The spec's tables.
    path : str or pathlib.Path, optional
        The spec file: relative data paths are resolved against its folder, and messages
        name it.
    name : str, optional
        The spec's name (default: the file's stem, else ``"spec"``).

    Returns
    -------
    Spec

    Raises
    ------
    SpecError
        Listing every problem, each with the file and the key.
    """
    path = Path(path) if path is not None else None
    source = str(path) if path is not None else "<spec>"
    folder = path.resolve().parent if path is not None else Path.cwd()
    raw = dict(raw)
    problems = Problems()
    for key in raw:
        if key not in _TOP_LEVEL and key not in _PLUGIN_SECTIONS:
            problems.add(
                f"[{key}]",
                f"unknown section; known sections: {', '.join([*_TOP_LEVEL, *_PLUGIN_SECTIONS])}",
            )
    data = _validate_data(raw.get("data"), problems, folder)
    logistic = _validate_logistic(raw["logistic"], problems, data) if "logistic" in raw else None
    latent_class = (
        _validate_latent_class(raw["latent_class"], problems, data)
        if "latent_class" in raw
        else None
    )
    sampler = _validate_sampler(raw.get("sampler", {}), problems)
    frequentist = (
        _validate_frequentist(raw["frequentist"], problems, raw) if "frequentist" in raw else None
    )
    report = _validate_report(raw.get("report", {}), problems)
    published = (
        _validate_published(raw["published"], problems, logistic) if "published" in raw else None
    )
    for key in ("title", "description"):
        if key in raw and not isinstance(raw[key], str):
            problems.add(key, f"must be a string, got {raw[key]!r}")
    context = {"data": data, "logistic": logistic, "latent_class": latent_class, "folder": folder}
    extra = {
        key: _PLUGIN_SECTIONS[key](raw[key], problems, context)
        for key in raw
        if key in _PLUGIN_SECTIONS
    }
    if problems.items:
        raise SpecError(source, problems.items)
    if logistic is None and latent_class is None and not extra:
        raise SpecError(
            source, ["the spec asks for no analysis: add [logistic] and/or [latent_class]"]
        )
    if not report.title:
        report = replace(
            report, title=str(raw.get("title", "")) or (path.stem if path else "analysis")
        )
    return Spec(
        path=path,
        name=name or (path.stem if path is not None else "spec"),
        raw=raw,
        data=data,
        logistic=logistic,
        latent_class=latent_class,
        sampler=sampler,
        frequentist=frequentist,
        report=report,
        published=published,
        extra=extra,
    )


def load_spec(path: str | Path) -> Spec:
    """Read and validate a TOML spec file.

    Parameters
    ----------
    path : str or pathlib.Path
        The ``.toml`` file.

    Returns
    -------
    Spec

    Raises
    ------
    SpecError
        When the file is missing, is not valid TOML, or fails validation (the message
        names the file and every offending key).

    Examples
    --------
    >>> spec = load_spec("models/tumang.toml")  # doctest: +SKIP
    >>> spec.logistic.predictors  # doctest: +SKIP
    ('workers', 'firm_age', 'buyer_network', 'promotion', 'training', 'technology', ...)
    """
    path = Path(path)
    if path.is_dir():
        raise SpecError(str(path), ["is a folder, not a spec file (a .toml file)"])
    if not path.is_file():
        raise SpecError(str(path), ["no such spec file"])
    try:
        raw = tomllib.loads(read_spec_text(path))
    except tomllib.TOMLDecodeError as error:
        raise SpecError(str(path), [f"not valid TOML: {error}"]) from None
    return parse_spec(raw, path=path)


def read_spec_text(path: str | Path) -> str:
    """Read a spec file's text: UTF-8 (with or without a byte-order mark) or UTF-16 with one.

    TOML files are UTF-8; a UTF-16 file with a byte-order mark (as some Windows editors
    save) is read too.  Anything else is refused, naming the line and the byte.

    Parameters
    ----------
    path : str or pathlib.Path
        The spec file.

    Returns
    -------
    str
        The text.

    Raises
    ------
    SpecError
        When the file cannot be read or is not UTF-8/UTF-16 text.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as error:
        raise SpecError(str(path), [f"could not be read ({error.strerror})"]) from None
    for bom, codec in ((b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be")):
        if data.startswith(bom):
            try:
                return data[len(bom) :].decode(codec)
            except UnicodeDecodeError:
                raise SpecError(
                    str(path), ["starts with a UTF-16 byte-order mark but is not UTF-16 text"]
                ) from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        byte = data[error.start : error.start + 1].hex().upper()
        raise SpecError(
            str(path),
            [
                f"not UTF-8 text (byte 0x{byte} on line {line}; perhaps Latin-1 or "
                "Windows-1252): save the spec as UTF-8"
            ],
        ) from None

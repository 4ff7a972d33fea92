r"""Up-front feasibility: refuse, before any fitting, what a valid survey cannot support.

A spec can be valid and a survey can be valid, and the pair can still ask for the
impossible: more coefficients than firms, more latent classes than the items can
identify, a grouping factor with one group, a survey of a handful of firms.  Such runs
used to spend minutes sampling before failing or returning nonsense.
:func:`check_feasibility` finds every such problem from the validated frame alone (no
model is built), and :func:`ensure_feasible` raises one :class:`InfeasibleSpecError`
listing them; ``bayes-cluster run`` and ``bayes-cluster validate --spec`` call it right
after the survey is read.

The rules (each problem names the spec key, the column where there is one, and the
numbers):

- at least :data:`MIN_FIRMS` firms;
- a logit (``[logistic]``, each variant, ``[joint]``) needs more firms than coefficients
  (intercept, one per numeric predictor, one per non-reference level of a categorical
  predictor, and in the joint model one per non-reference class);
- a grouping factor (``[logistic].group``, a variant's ``group``) needs two groups;
- a latent class model with :math:`K` classes on items with :math:`C_j` categories has
  :math:`(K-1) + K\sum_j (C_j-1)` free parameters, which must not exceed the
  :math:`\prod_j C_j - 1` degrees of freedom of the item table (Goodman 1974), and
  :math:`K` must not exceed the number of distinct response patterns observed.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import pandas as pd

from bayes_cluster.run.collapse import collapse_codes
from bayes_cluster.surveys.survey import SurveyProblem, SurveyValidationError

if TYPE_CHECKING:
    from bayes_cluster.run.spec import Spec

__all__ = [
    "MIN_FIRMS",
    "InfeasibleSpecError",
    "check_feasibility",
    "ensure_feasible",
    "latent_class_parameters",
]

MIN_FIRMS = 10
"""Fewest firms any analysis is run on: below it every estimate is its prior or noise."""


class InfeasibleSpecError(SurveyValidationError):
    """The survey is valid but cannot support what the spec asks; lists every reason.

    Parameters
    ----------
    source : str
        The spec file, named in the message.
    problems : sequence of SurveyProblem
        Every reason.
    """

    def __init__(self, source: str, problems: Sequence[SurveyProblem]):
        self.problems = list(problems)
        self.source = source
        count = len(self.problems)
        noun = "problem" if count == 1 else "problems"
        lines = [f"{source}: the survey cannot support what the spec asks ({count} {noun}):"]
        lines += [f"  - {problem}" for problem in self.problems]
        ValueError.__init__(self, "\n".join(lines))


def latent_class_parameters(n_classes: int, categories: Sequence[int]) -> int:
    r"""Return the number of free parameters of a latent class model.

    Parameters
    ----------
    n_classes : int
        Number of classes :math:`K`.
    categories : sequence of int
        Number of categories :math:`C_j` of each item.

    Returns
    -------
    int
        :math:`(K - 1) + K \sum_j (C_j - 1)`.

    Examples
    --------
    >>> latent_class_parameters(2, [3, 3])
    9
    """
    return (n_classes - 1) + n_classes * sum(c - 1 for c in categories)


def check_feasibility(spec: Spec, frame: pd.DataFrame) -> list[SurveyProblem]:
    """Return every reason why the survey cannot support the spec's analyses.

    Parameters
    ----------
    spec : Spec
        A validated spec.
    frame : pandas.DataFrame
        The survey validated against it (:func:`bayes_cluster.surveys.survey.load_survey`), after
        any dropped rows.

    Returns
    -------
    list of SurveyProblem
        Empty when every analysis can be run.
    """
    source = str(frame.attrs.get("source", spec.data.path))
    problems: list[SurveyProblem] = []

    def add(column: str | None, value: Any, expected: str, issue: str) -> None:
        shown = None if value is None else str(value)
        problems.append(SurveyProblem(source, None, column, shown, expected, issue))

    n = len(frame)
    if n < MIN_FIRMS:
        add(None, f"{n} firms", f"at least {MIN_FIRMS} firms", "too few firms for any analysis")
    logistic = spec.logistic
    if logistic is not None:
        models = [("[logistic].predictors", logistic.predictors, logistic.group, "[logistic]")]
        models += [
            (
                f"[logistic.variants.{v.name}].predictors",
                v.predictors,
                v.group,
                f"[logistic.variants.{v.name}]",
            )
            for v in logistic.variants
        ]
        for key, predictors, group, table in models:
            _check_logit(frame, key, predictors, 0, add)
            if group is not None and group in frame.columns:
                groups = frame[group].nunique()
                if groups < 2:
                    add(
                        group,
                        f"{groups} group",
                        "at least two groups",
                        f"{table}.group: varying intercepts need at least two groups",
                    )
    latent_class = spec.latent_class
    if latent_class is not None:
        collapse = latent_class.collapse
        _check_classes(
            frame,
            spec,
            "[latent_class].n_classes",
            latent_class.items,
            max(latent_class.n_classes),
            collapse,
            add,
        )
    joint = spec.extra.get("joint")
    if joint is not None:
        _check_classes(
            frame, spec, "[joint].n_classes", joint.items, joint.n_classes, joint.collapse, add
        )
        _check_logit(frame, "[joint].predictors", joint.predictors, joint.n_classes - 1, add)
    return problems


def ensure_feasible(spec: Spec, frame: pd.DataFrame) -> None:
    """Raise :class:`InfeasibleSpecError` when :func:`check_feasibility` finds problems.

    Parameters
    ----------
    spec : Spec
        A validated spec.
    frame : pandas.DataFrame
        The survey validated against it.

    Raises
    ------
    InfeasibleSpecError
        Listing every problem.
    """
    problems = check_feasibility(spec, frame)
    if problems:
        raise InfeasibleSpecError(spec.source, problems)


def _check_logit(frame: pd.DataFrame, key: str, predictors: Iterable[str], extra: int, add):
    """Check for more firms than coefficients (intercept, slopes, dummies, class effects)."""
    slopes = 0
    for column in predictors:
        if column not in frame.columns:
            continue
        series = frame[column]
        categorical = series.dtype == object or pd.api.types.is_string_dtype(series)
        slopes += max(series.nunique() - 1, 1) if categorical else 1
    coefficients = 1 + slopes + extra
    n = len(frame)
    if n <= coefficients:
        add(
            None,
            f"{n} firms",
            f"more firms than the {coefficients} coefficients",
            f"{key}: {coefficients} coefficients (intercept + {slopes + extra} terms) "
            f"cannot be estimated from {n} firms",
        )


def _check_classes(
    frame: pd.DataFrame,
    spec: Spec,
    key: str,
    items: Sequence[str],
    n_classes: int,
    collapse: Sequence[Sequence[int]] | None,
    add,
) -> None:
    """Check that the largest number of classes asked for is identified."""
    items = [item for item in items if item in frame.columns]
    if len(items) < 2:
        return
    table = frame[items]
    categories = []
    if collapse is not None:
        lookup = collapse_codes(collapse)
        table = table.apply(lambda column: column.map(lookup))
        categories = [len(collapse)] * len(items)
    else:
        for item in items:
            levels = spec.data.column(item).levels if item in spec.data.columns else None
            categories.append(len(levels) if levels else int(frame[item].nunique()))
    patterns = len(table.drop_duplicates())
    cells = math.prod(categories)
    parameters = latent_class_parameters(n_classes, categories)
    identified = [
        k
        for k in range(1, n_classes + 1)
        if latent_class_parameters(k, categories) <= cells - 1 and k <= patterns
    ]
    largest = max(identified, default=0)
    if n_classes > patterns:
        add(
            None,
            n_classes,
            f"at most {largest} classes",
            f"{key}: {n_classes} classes but the {len(frame)} firms show only {patterns} "
            f"distinct answer patterns on the {len(items)} items",
        )
    elif parameters > cells - 1:
        add(
            None,
            n_classes,
            f"at most {largest} classes",
            f"{key}: {n_classes} classes are not identified: {parameters} free parameters "
            f"but the {len(items)} items' table has {cells - 1} degrees of freedom",
        )

r"""Detection of complete and quasi-complete separation in a logit (Konis 2007).

The maximum-likelihood estimate of a logit is infinite exactly when there is a direction
:math:`d \neq 0` with :math:`s_i x_i^\top d \ge 0` for every observation, where
:math:`s_i = 2y_i - 1` (Albert & Anderson 1984): moving the coefficients along :math:`d`
never lowers the likelihood. Konis (2007), implemented in R's detectseparation, finds such
a direction by the linear programme

.. math::

    \max_{d}\; \sum_i s_i x_i^\top d
    \quad\text{subject to}\quad s_i x_i^\top d \ge 0 \;\forall i,\qquad
    -1 \le d_j \le 1,

which has optimum 0 exactly when the data overlap (all estimates finite). Otherwise
:math:`\hat\beta_j = \pm\infty` for every term with :math:`d_j \ne 0` (sign of
:math:`d_j`), and the observations with :math:`s_i x_i^\top d > 0` are perfectly
predicted. The programme is solved by HiGHS (``scipy.optimize.linprog``) on the design
with each column scaled to a maximum absolute value of 1 (which changes neither the
feasible directions nor which coordinates are non-zero, and makes the tolerances
meaningful). It is repeated on the observations not yet perfectly predicted until no
further direction exists, so every term whose estimate diverges is found. The data are
*completely* separated when one direction predicts every observation perfectly (a second
programme maximises the smallest margin :math:`\min_i s_i x_i^\top d`), and
*quasi-completely* separated otherwise.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

import numpy as np
import pandas as pd
from scipy import linalg, optimize

from bayes_cluster.common.dims import INTERCEPT, TERM
from bayes_cluster.surveys.design_matrix import DesignInfo, design_info

__all__ = [
    "ModelMatrix",
    "SeparationResult",
    "detect_separation",
    "model_matrix",
    "outcome_vector",
]

TOLERANCE = 1e-6
"""Directions and margins below this (on the column-scaled design) count as zero."""

FINITE, PLUS_INF, MINUS_INF = "finite", "+inf", "-inf"


@dataclass(frozen=True)
class SeparationResult:
    """Outcome of :func:`detect_separation`.

    Attributes
    ----------
    kind : {"none", "quasi-complete", "complete"}
        Whether and how the outcome is separated by the predictors.
    summary : pandas.DataFrame
        Indexed by term (``Intercept`` first); column ``mle`` is ``"finite"``, ``"+inf"``
        or ``"-inf"`` (the maximum-likelihood estimate of that term) and ``direction``
        the separating direction found (0 for finite terms; original scale, largest
        absolute value 1).
    separated_observations : pandas.Index
        Labels of the rows whose outcome is perfectly predicted (their fitted
        probability tends to 0 or 1).
    n_obs : int
        Number of observations checked.
    directions : numpy.ndarray
        ``(p, k)`` the separating directions found, one per round of the programme
        (original scale); the likelihood rises without bound along each of them.
    """

    kind: Literal["none", "quasi-complete", "complete"]
    summary: pd.DataFrame
    separated_observations: pd.Index
    n_obs: int
    directions: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)), repr=False)

    @property
    def separated(self) -> bool:
        """Whether any maximum-likelihood estimate is infinite."""
        return self.kind != "none"

    @property
    def mle(self) -> pd.Series:
        """``"finite"`` / ``"+inf"`` / ``"-inf"`` per term."""
        return self.summary["mle"]

    @property
    def infinite_terms(self) -> list[str]:
        """Terms whose maximum-likelihood estimate is infinite."""
        return [term for term, value in self.mle.items() if value != FINITE]

    @property
    def message(self) -> str:
        """One sentence saying what was found, naming the affected terms."""
        if not self.separated:
            return "no separation: every maximum-likelihood estimate is finite"
        terms = ", ".join(f"{term} ({self.mle[term]})" for term in self.infinite_terms)
        return (
            f"{self.kind} separation: {len(self.separated_observations)} of {self.n_obs} "
            f"observations are perfectly predicted and the maximum-likelihood estimate of "
            f"{terms} is infinite"
        )

    def __str__(self) -> str:
        return self.message + "\n" + self.summary.to_string()


def detect_separation(
    frame: pd.DataFrame,
    outcome: str,
    predictors: Sequence[str],
    *,
    reference_levels: Mapping[str, Any] | None = None,
) -> SeparationResult:
    """Check a logit for complete or quasi-complete separation (Konis 2007).

    Parameters
    ----------
    frame : pandas.DataFrame
        The data.
    outcome : str
        Binary outcome column (0/1 or boolean).
    predictors : sequence of str
        Predictor columns; categorical ones become treatment dummies ``column[level]``
        (see :func:`bayes_cluster.surveys.design_matrix.design_matrix`). An intercept is added.
    reference_levels : mapping, optional
        Reference level of categorical predictors.

    Returns
    -------
    SeparationResult
        For every term whether its maximum-likelihood estimate is finite, ``+inf`` or
        ``-inf``; whether the separation is complete or quasi-complete; which rows are
        perfectly predicted.

    Raises
    ------
    ValueError
        If a column is missing, has missing values, or the outcome is not binary.

    Examples
    --------
    >>> import pandas as pd
    >>> frame = pd.DataFrame({"y": [0, 0, 1, 1, 1, 0], "x": [1, 2, 3, 4, 5, 2.5]})
    >>> detect_separation(frame, "y", ["x"]).kind
    'complete'
    """
    design = model_matrix(frame, outcome, predictors, reference_levels=reference_levels)
    return separation_from_arrays(design.X, design.y, design.terms, design.index)


def outcome_vector(frame: pd.DataFrame, outcome: str) -> np.ndarray:
    """Validate a binary outcome column and return it as a float 0/1 array.

    Raises
    ------
    ValueError
        If the column is absent, has missing values or values other than 0/1.
    """
    if outcome not in frame.columns:
        raise ValueError(
            f"outcome column {outcome!r} not found in the data (available: {list(frame.columns)})"
        )
    series = frame[outcome]
    missing = series.isna().to_numpy()
    if missing.any():
        raise ValueError(
            f"outcome column {outcome!r} has {int(missing.sum())} missing value(s) "
            f"(rows {list(series.index[missing][:5])}); drop them explicitly first"
        )
    if pd.api.types.is_bool_dtype(series.dtype):
        return series.to_numpy(dtype=float)
    if not pd.api.types.is_numeric_dtype(series.dtype):
        raise ValueError(
            f"outcome column {outcome!r} must be 0/1 or boolean, not dtype {series.dtype}"
        )
    values = series.to_numpy(dtype=float)
    if ((values == 0.0) | (values == 1.0)).all():
        return values
    bad = sorted(set(np.unique(values)) - {0.0, 1.0})
    if bad:
        raise ValueError(f"outcome column {outcome!r} must be 0/1; found value(s) {bad[:5]}")
    return values


class ModelMatrix(NamedTuple):
    """Design of a logit: intercept and predictor columns, outcome, term names."""

    X: np.ndarray
    y: np.ndarray
    terms: list[str]
    index: pd.Index
    info: DesignInfo


def model_matrix(
    frame: pd.DataFrame,
    outcome: str,
    predictors: Sequence[str],
    *,
    reference_levels: Mapping[str, Any] | None = None,
) -> ModelMatrix:
    """Design matrix with a leading ``Intercept`` column, the 0/1 outcome and the design.

    Raises
    ------
    ValueError
        For bad columns (see :func:`~bayes_cluster.surveys.design_matrix.design_matrix`), a bad
        outcome, a predictor equal to the outcome, or a rank-deficient design (the
        collinear terms are named).
    """
    if outcome in predictors:
        raise ValueError(f"outcome column {outcome!r} is also listed as a predictor")
    y = outcome_vector(frame, outcome)
    info = design_info(frame, predictors, reference_levels=reference_levels)
    if INTERCEPT in info.columns:
        raise ValueError(f"a predictor may not be named {INTERCEPT!r} (reserved)")
    X = np.column_stack([np.ones(len(frame)), info.transform_values(frame)])
    terms = [INTERCEPT, *info.columns]
    _check_rank(X, terms)
    return ModelMatrix(X, y, terms, frame.index, info)


def _check_rank(values: np.ndarray, terms: list[str]) -> None:
    if values.shape[0] == 0:
        raise ValueError("no observations")
    scale = np.abs(values).max(axis=0)
    constant = [c for c, s in zip(terms[1:], scale[1:], strict=True) if s == 0]
    if constant:
        raise ValueError(f"predictor column(s) {constant} are zero in every row")
    _, r, pivot = linalg.qr(values / scale, mode="economic", pivoting=True)
    diag = np.abs(np.diag(r))
    rank = int((diag > diag[0] * max(values.shape) * np.finfo(float).eps * 10).sum())
    if rank < values.shape[1]:
        dependent = [terms[j] for j in pivot[rank:]]
        raise ValueError(
            f"the design matrix is rank-deficient: term(s) {dependent} are linear "
            "combinations of the other terms (collinear predictors, a dummy for every "
            "level, or fewer observations than terms); drop them"
        )


def separation_from_arrays(
    X: np.ndarray, y: np.ndarray, terms: Sequence[str], index: pd.Index | None = None
) -> SeparationResult:
    """Run the Konis check on a design matrix (intercept included) and 0/1 outcome."""
    n, p = X.shape
    index = pd.RangeIndex(n) if index is None else index
    scale = np.abs(X).max(axis=0)
    scale[scale == 0] = 1.0
    signed = (2.0 * y - 1.0)[:, None] * (X / scale)  # rows s_i x_i
    remaining = np.ones(n, dtype=bool)
    combined = np.zeros(p)
    found = []
    for _ in range(p):
        direction = _separating_direction(signed[remaining])
        if direction is None:
            break
        found.append(direction / scale)
        margins = signed @ direction
        if combined.any():
            # combined + c * direction stays separating for the rows already separated
            # when c is small enough; it keeps the signs of combined on its support
            old = signed[~remaining] @ combined
            new = signed[~remaining] @ direction
            shrink = np.where(new < 0, old / np.maximum(-new, 1e-300), np.inf).min()
            c = min(1.0, 0.5 * shrink)
            combined = combined + c * direction
        else:
            combined = direction
        remaining &= ~(margins > TOLERANCE)
        if not remaining.any():
            break
    combined[np.abs(combined) <= TOLERANCE * np.abs(combined).max(initial=0.0)] = 0.0
    original = combined / scale
    if original.any():
        original = original / np.abs(original).max()
    mle = np.where(original > 0, PLUS_INF, np.where(original < 0, MINUS_INF, FINITE))
    summary = pd.DataFrame(
        {"mle": mle, "direction": original}, index=pd.Index(list(terms), name=TERM)
    )
    separated_rows = ~remaining
    if not separated_rows.any() and not original.any():
        kind: Literal["none", "quasi-complete", "complete"] = "none"
    elif separated_rows.all() or _completely_separated(signed):
        kind = "complete"
    else:
        kind = "quasi-complete"
    directions = np.array(found).T if found else np.zeros((p, 0))
    return SeparationResult(kind, summary, index[separated_rows], n, directions)


def _separating_direction(signed: np.ndarray) -> np.ndarray | None:
    """Konis's LP on rows ``s_i x_i``; the direction, or None where the data overlap."""
    if signed.shape[0] == 0:
        return None
    p = signed.shape[1]
    result = optimize.linprog(
        c=-signed.sum(axis=0),
        A_ub=-signed,
        b_ub=np.zeros(signed.shape[0]),
        bounds=[(-1.0, 1.0)] * p,
        method="highs",
    )
    if result.status != 0:  # pragma: no cover - the LP is always feasible (d = 0)
        raise RuntimeError(f"separation check failed: {result.message}")
    if -result.fun <= TOLERANCE:
        return None
    direction = np.asarray(result.x, dtype=float)
    direction[np.abs(direction) <= TOLERANCE] = 0.0
    return direction if direction.any() else None


def _completely_separated(signed: np.ndarray) -> bool:
    """Whether one direction gives every row a strictly positive margin."""
    n, p = signed.shape
    # variables (d, t): maximise t subject to s_i x_i d >= t, |d_j| <= 1, t <= 1
    result = optimize.linprog(
        c=np.r_[np.zeros(p), -1.0],
        A_ub=np.c_[-signed, np.ones(n)],
        b_ub=np.zeros(n),
        bounds=[(-1.0, 1.0)] * p + [(None, 1.0)],
        method="highs",
    )
    return bool(result.status == 0 and -result.fun > TOLERANCE)

"""Design matrices for the logit models: numeric columns and treatment dummies.

Every logit in the package (maximum likelihood, Firth, Bayesian) builds its predictor
matrix here, so that the terms are named and ordered identically in every table:

* a numeric (or boolean) predictor gives one column, named after it;
* a categorical predictor (``object``, ``str`` or ``category`` dtype) gives one
  treatment dummy per non-reference level, named ``column[level]`` (the patsy/formulaic
  habit); the reference level is the first level (levels are the observed values,
  sorted; for a pandas ``Categorical`` its declared category order) unless
  ``reference_levels`` names another.

No intercept column is added: each model adds its own ``Intercept``
(:data:`bayes_cluster.common.dims.INTERCEPT`).
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["DesignInfo", "design_info", "design_matrix", "is_categorical"]


def is_categorical(series: pd.Series) -> bool:
    """Whether a column is treated as categorical (``object``, string or ``category``)."""
    dtype = series.dtype
    return (
        isinstance(dtype, pd.CategoricalDtype)
        or pd.api.types.is_string_dtype(dtype)
        or pd.api.types.is_object_dtype(dtype)
    )


@dataclass(frozen=True)
class DesignInfo:
    """How a design matrix was built, to rebuild it identically on new data.

    Attributes
    ----------
    predictors : tuple of str
        The frame columns used, in order.
    columns : tuple of str
        The design-matrix columns (terms), in order, without the intercept.
    levels : dict of str to tuple
        For each categorical predictor, all its levels, reference level first.
    reference_levels : dict of str to object
        For each categorical predictor, its reference (omitted) level.
    term_sources : dict of str to str
        For each design-matrix column, the predictor it comes from.
    """

    predictors: tuple[str, ...]
    columns: tuple[str, ...]
    levels: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    reference_levels: dict[str, Any] = field(default_factory=dict)
    term_sources: dict[str, str] = field(default_factory=dict)

    def transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Build the design matrix of new data with the same terms.

        Parameters
        ----------
        frame : pandas.DataFrame
            New data holding every predictor.

        Returns
        -------
        pandas.DataFrame
            Float columns :attr:`columns`, indexed like ``frame``.

        Raises
        ------
        ValueError
            If a predictor is missing, has missing values, or a categorical predictor
            has a level not seen when the design was built.
        """
        matrix = self.transform_values(frame)
        return pd.DataFrame(matrix, index=frame.index, columns=list(self.columns))

    def transform_values(self, frame: pd.DataFrame) -> np.ndarray:
        """Like :meth:`transform`, as a bare ``(n, len(columns))`` float array."""
        _check_columns(frame, self.predictors)
        pieces: list[np.ndarray] = []
        for name in self.predictors:
            series = frame[name]
            if name in self.levels:
                _check_missing(series, name)
                levels = self.levels[name]
                unknown = sorted({str(v) for v in pd.unique(series)} - {str(v) for v in levels})
                if unknown:
                    raise ValueError(
                        f"column {name!r} has level(s) {unknown} not seen when the model was "
                        f"fitted (known levels: {[str(v) for v in levels]})"
                    )
                values = series.astype(str).to_numpy()
                pieces.extend((values == str(level)).astype(float) for level in levels[1:])
            else:
                pieces.append(_numeric_values(series, name))
        return np.column_stack(pieces) if pieces else np.zeros((len(frame), 0))


def design_matrix(
    frame: pd.DataFrame,
    predictors: Sequence[str],
    *,
    reference_levels: Mapping[str, Any] | None = None,
) -> tuple[pd.DataFrame, DesignInfo]:
    """Build the predictor matrix of a logit: numeric columns and treatment dummies.

    Parameters
    ----------
    frame : pandas.DataFrame
        The data, one row per observation.
    predictors : sequence of str
        Columns to use, in order. Numeric and boolean columns are used as they are;
        ``object``, ``str`` and ``category`` columns become treatment dummies.
    reference_levels : mapping of str to object, optional
        Reference (omitted) level of some categorical predictors. By default the first
        level: the smallest observed value after sorting (for a pandas ``Categorical``,
        the first of its declared categories that occurs in the data).

    Returns
    -------
    X : pandas.DataFrame
        Float design matrix indexed like ``frame``; no intercept column. A categorical
        predictor ``c`` with levels ``a`` (reference), ``b``, ``d`` gives the columns
        ``c[b]`` and ``c[d]``.
    info : DesignInfo
        The levels and reference levels used; ``info.transform(new_frame)`` rebuilds the
        same columns on new data.

    Raises
    ------
    ValueError
        If a predictor is not a column of ``frame``, is listed twice, has missing values,
        is not numeric/categorical, has a single level, or if ``reference_levels`` names a
        non-categorical column or a level that does not occur.

    Examples
    --------
    >>> import pandas as pd
    >>> frame = pd.DataFrame({"x": [1.0, 2.0, 3.0], "g": ["b", "a", "c"]})
    >>> X, info = design_matrix(frame, ["x", "g"])
    >>> list(X.columns)
    ['x', 'g[b]', 'g[c]']
    >>> info.reference_levels
    {'g': 'a'}
    """
    info = design_info(frame, predictors, reference_levels=reference_levels)
    return info.transform(frame), info


def design_info(
    frame: pd.DataFrame,
    predictors: Sequence[str],
    *,
    reference_levels: Mapping[str, Any] | None = None,
) -> DesignInfo:
    """Work out the terms of :func:`design_matrix` without building the matrix.

    Parameters and errors are those of :func:`design_matrix`; numeric columns are
    validated when the matrix is built (:meth:`DesignInfo.transform`).

    Returns
    -------
    DesignInfo
        Levels, reference levels and column names.
    """
    predictors = tuple(predictors)
    reference_levels = dict(reference_levels or {})
    _check_columns(frame, predictors)
    duplicated = sorted({p for p in predictors if predictors.count(p) > 1})
    if duplicated:
        raise ValueError(f"predictor(s) listed more than once: {duplicated}")
    not_predictors = sorted(set(reference_levels) - set(predictors))
    if not_predictors:
        raise ValueError(
            f"reference_levels names column(s) not among the predictors: {not_predictors}"
        )

    levels: dict[str, tuple[Any, ...]] = {}
    references: dict[str, Any] = {}
    columns: list[str] = []
    sources: dict[str, str] = {}
    for name in predictors:
        series = frame[name]
        if is_categorical(series):
            _check_missing(series, name)
            observed = _observed_levels(series)
            if len(observed) < 2:
                raise ValueError(
                    f"categorical column {name!r} has a single level {observed!r}: "
                    "it cannot be a predictor"
                )
            if name in reference_levels:
                wanted = reference_levels[name]
                matches = [level for level in observed if str(level) == str(wanted)]
                if not matches:
                    raise ValueError(
                        f"reference level {wanted!r} of column {name!r} does not occur "
                        f"(levels: {[str(v) for v in observed]})"
                    )
                reference = matches[0]
            else:
                reference = observed[0]
            ordered = (reference, *[level for level in observed if level != reference])
            levels[name] = ordered
            references[name] = reference
            for level in ordered[1:]:
                columns.append(_dummy_name(name, level))
                sources[columns[-1]] = name
        else:
            if name in reference_levels:
                raise ValueError(
                    f"reference_levels given for column {name!r}, which is numeric, "
                    "not categorical"
                )
            columns.append(name)
            sources[name] = name

    return DesignInfo(
        predictors=predictors,
        columns=tuple(columns),
        levels=levels,
        reference_levels=references,
        term_sources=sources,
    )


def _dummy_name(column: str, level: Any) -> str:
    return f"{column}[{level}]"


def _check_columns(frame: pd.DataFrame, predictors: Sequence[str]) -> None:
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"expected a pandas DataFrame, got {type(frame).__name__}")
    missing = [p for p in predictors if p not in frame.columns]
    if missing:
        raise ValueError(
            f"column(s) {missing} not found in the data (available: {list(frame.columns)})"
        )


def _check_missing(series: pd.Series, name: str) -> None:
    is_missing = series.isna().to_numpy()
    if is_missing.any():
        rows = list(series.index[is_missing][:5])
        raise ValueError(
            f"column {name!r} has {int(is_missing.sum())} missing value(s) (rows {rows}"
            f"{', ...' if is_missing.sum() > 5 else ''}); drop or impute them explicitly first"
        )


def _numeric_values(series: pd.Series, name: str) -> np.ndarray:
    """Float values of a numeric/boolean column, validated (no missing or infinite)."""
    if not (
        pd.api.types.is_bool_dtype(series.dtype) or pd.api.types.is_numeric_dtype(series.dtype)
    ):
        raise ValueError(
            f"column {name!r} has dtype {series.dtype}: expected a numeric, boolean or "
            "categorical (object/str/category) column"
        )
    try:
        values = series.to_numpy(dtype=float)
    except (TypeError, ValueError):  # nullable dtypes holding pd.NA
        values = series.to_numpy(dtype=float, na_value=np.nan)
    if not np.isfinite(values).all():
        _check_missing(series, name)
        raise ValueError(f"column {name!r} has infinite values")
    return values


def _observed_levels(series: pd.Series) -> tuple[Any, ...]:
    if isinstance(series.dtype, pd.CategoricalDtype):
        present = set(series.dropna().unique())
        return tuple(level for level in series.cat.categories if level in present)
    values = pd.unique(series)
    comparable = all(isinstance(v, str) for v in values) or all(
        isinstance(v, numbers.Number) for v in values
    )
    # levels of one kind sort naturally; mixed kinds (text beside numbers) by printed form
    return tuple(sorted(values) if comparable else sorted(values, key=str))

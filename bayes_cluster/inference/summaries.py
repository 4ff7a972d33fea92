"""Posterior summaries shared by every model: the HDI and the standard summary table."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import xarray as xr

__all__ = ["SUMMARY_COLUMNS", "hdi", "hdi_rows", "summary_table"]

SUMMARY_COLUMNS: tuple[str, ...] = (
    "mean",
    "sd",
    "hdi_lower",
    "hdi_upper",
    "r_hat",
    "ess_bulk",
    "ess_tail",
)
"""Columns every model's ``summary()`` has, in this relative order (extras may sit between)."""


def summary_table(
    posterior: xr.Dataset,
    var_names: list[str],
    hdi_prob: float,
    diagnostics: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Tabulate the :data:`SUMMARY_COLUMNS` of ``var_names``, one row per scalar parameter.

    Rows are named ``name`` or ``name[coord, ...]``, as ArviZ names them.

    Parameters
    ----------
    posterior : xarray.Dataset
        Posterior draws with ``chain`` and ``draw`` dimensions.
    var_names : list of str
        Variables to summarise (in this order).
    hdi_prob : float
        Probability of the highest-density interval.
    diagnostics : pandas.DataFrame, optional
        ``r_hat``, ``ess_bulk``, ``ess_tail`` by parameter (default computed here).

    Returns
    -------
    pandas.DataFrame
        Columns :data:`SUMMARY_COLUMNS`.
    """
    from bayes_cluster.inference.diagnostics import diagnostics_table

    if diagnostics is None:
        diagnostics = diagnostics_table(posterior, var_names)
    labels: list[str] = []
    blocks: list[np.ndarray] = []
    for name in var_names:
        values = posterior[name]
        other = [d for d in values.dims if d not in ("chain", "draw")]
        stacked = values.stack(sample=("chain", "draw")).transpose(*other, "sample")
        blocks.append(stacked.to_numpy().reshape(-1, stacked.sizes["sample"]).astype(float))
        labels += _labels(name, values, other)
    if not blocks:
        return pd.DataFrame(
            columns=list(SUMMARY_COLUMNS), index=pd.Index([], name="parameter"), dtype=float
        )
    flat = np.concatenate(blocks)  # (parameter, sample): every parameter at once
    low, high = hdi_rows(flat, hdi_prob)
    table = pd.DataFrame(
        {
            # row by row: numpy's pairwise sums of each parameter's own draws (a reduction
            # over axis 1 of the whole block may add in another order, 1e-15 apart)
            "mean": [row.mean() for row in flat],
            "sd": [row.std(ddof=1) for row in flat],
            "hdi_lower": low,
            "hdi_upper": high,
        },
        index=pd.Index(labels, name="parameter"),
    )
    for column in ("r_hat", "ess_bulk", "ess_tail"):
        table[column] = diagnostics[column].reindex(table.index).astype(float).to_numpy()
    return table[list(SUMMARY_COLUMNS)]


def _labels(name: str, values: xr.DataArray, dims: list[str]) -> list[str]:
    if not dims:
        return [name]
    index = pd.MultiIndex.from_product([values[d].to_numpy() for d in dims])
    return [f"{name}[{', '.join(str(v) for v in key)}]" for key in index]


def hdi_rows(samples: np.ndarray, prob: float) -> tuple[np.ndarray, np.ndarray]:
    """Highest-density interval of each row of ``samples`` (:func:`hdi`, vectorised).

    Parameters
    ----------
    samples : numpy.ndarray
        Shape ``(parameter, draw)``.
    prob : float
        Probability mass of the interval, in (0, 1).

    Returns
    -------
    tuple of numpy.ndarray
        Lower and upper ends, one per row; the same numbers as :func:`hdi` row by row.

    Examples
    --------
    >>> low, high = hdi_rows(np.array([[0.0, 1, 2, 3, 10], [5, 1, 2, 3, 4]]), 0.6)
    >>> low.tolist(), high.tolist()
    ([0.0, 1.0], [3.0, 4.0])
    """
    ordered = np.sort(np.asarray(samples, dtype=float), axis=1)
    n = ordered.shape[1]
    width = max(int(math.floor(prob * n)), 1)
    if width >= n:
        return ordered[:, 0].copy(), ordered[:, -1].copy()
    start = np.argmin(ordered[:, width:] - ordered[:, : n - width], axis=1)
    rows = np.arange(ordered.shape[0])
    return ordered[rows, start], ordered[rows, start + width]


def hdi(samples: np.ndarray, prob: float) -> tuple[float, float]:
    """Highest-density interval: the shortest interval holding ``prob`` of the draws.

    Parameters
    ----------
    samples : numpy.ndarray
        Draws (flattened).
    prob : float
        Probability mass of the interval, in (0, 1).

    Returns
    -------
    tuple of float
        Lower and upper end. Exact for unimodal posteriors (Chen and Shao 1999).
    """
    ordered = np.sort(np.asarray(samples, dtype=float).ravel())
    n = ordered.size
    width = max(int(math.floor(prob * n)), 1)
    if width >= n:
        return float(ordered[0]), float(ordered[-1])
    spans = ordered[width:] - ordered[: n - width]
    start = int(np.argmin(spans))
    return float(ordered[start]), float(ordered[start + width])

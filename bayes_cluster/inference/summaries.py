"""Posterior summaries shared by every model: the HDI and the standard summary table."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import xarray as xr

__all__ = ["SUMMARY_COLUMNS", "hdi", "summary_table"]

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
    rows: dict[str, dict[str, float]] = {}
    for name in var_names:
        values = posterior[name]
        other = [d for d in values.dims if d not in ("chain", "draw")]
        stacked = values.stack(sample=("chain", "draw")).transpose(*other, "sample")
        flat = stacked.to_numpy().reshape(-1, stacked.sizes["sample"])
        labels = _labels(name, values, other)
        for label, draws in zip(labels, flat, strict=True):
            low, high = hdi(draws, hdi_prob)
            row = {"mean": float(draws.mean()), "sd": float(draws.std(ddof=1))}
            row.update(hdi_lower=low, hdi_upper=high)
            for column in ("r_hat", "ess_bulk", "ess_tail"):
                row[column] = (
                    float(diagnostics.loc[label, column])
                    if label in diagnostics.index
                    else float("nan")
                )
            rows[label] = row
    table = pd.DataFrame.from_dict(rows, orient="index", columns=list(SUMMARY_COLUMNS))
    table.index.name = "parameter"
    return table


def _labels(name: str, values: xr.DataArray, dims: list[str]) -> list[str]:
    if not dims:
        return [name]
    index = pd.MultiIndex.from_product([values[d].to_numpy() for d in dims])
    return [f"{name}[{', '.join(str(v) for v in key)}]" for key in index]


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

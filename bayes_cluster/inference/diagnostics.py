"""MCMC convergence diagnostics with a verdict and plain-language advice.

Every MCMC result of the package is checked by :func:`mcmc_diagnostics` before it is
reported.  The checks follow Vehtari et al. (2021, "Rank-normalization, folding, and
localization: an improved R-hat", *Bayesian Analysis* 16(2)) and Betancourt (2017, "A
conceptual introduction to Hamiltonian Monte Carlo"):

* **R-hat** (rank-normalised, split) of every scalar parameter at most ``rhat_max`` (1.01);
* **bulk and tail ESS** of every scalar parameter at least the ESS threshold;
* **no divergent transitions** after warm-up;
* **no transitions that hit the maximum tree depth** (an efficiency warning);
* **E-BFMI** of every chain at least 0.3.

The ESS threshold is ``min(ess_min, 0.1 * total draws)``: 400 for the default
4 chains x 1000 draws (Vehtari et al.'s 100 per chain), scaled down for the short runs
of tests and quick looks so that a 2 x 100 run is judged on ESS >= 20 rather than failing
by construction.  A short run that passes is still a short run: the summary says how many
draws it had.

Works on the ``xarray.DataTree`` of both ``pm.sample`` (``diverging``, ``tree_depth``,
``reached_max_treedepth``) and ``nutpie.sample`` (``diverging``, ``depth``,
``maxdepth_reached``).
"""

from __future__ import annotations

import math
import re
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import xarray as xr

__all__ = [
    "BFMI_MIN",
    "ConvergenceWarning",
    "MCMCDiagnostics",
    "diagnostics_table",
    "effective_ess_threshold",
    "mcmc_diagnostics",
    "warn_if_failed",
]

BFMI_MIN = 0.3
"""E-BFMI below this flags a chain whose momentum resampling explores energy poorly."""

ESS_FRACTION = 0.1
"""The ESS threshold never exceeds this fraction of the total number of draws."""

# sample_stats names: (pm.sample, nutpie.sample) spellings of the same statistic
_DIVERGING = ("diverging",)
_TREE_DEPTH = ("tree_depth", "depth")
_MAX_DEPTH_REACHED = ("reached_max_treedepth", "maxdepth_reached")
_ENERGY = ("energy",)

TABLE_COLUMNS = ("r_hat", "ess_bulk", "ess_tail", "mcse_mean")


class ConvergenceWarning(UserWarning):
    """An MCMC fit failed its convergence checks; its results should not be trusted yet."""


def _above(value: float, limit: float) -> str:
    """Write an R-hat that exceeds ``limit`` with the digits that show it does.

    Three decimals, or more where three would round it down onto the limit (an R-hat of
    1.0104 is "1.0104", not "1.010", beside "> 1.01").

    Examples
    --------
    >>> _above(1.0504, 1.01), _above(1.0104, 1.01), _above(1.01004, 1.01)
    ('1.050', '1.0104', '1.01004')
    """
    for digits in range(3, 8):
        text = f"{value:.{digits}f}"
        if float(text) > limit:
            return text
    return repr(float(value))


@dataclass
class MCMCDiagnostics:
    """Convergence diagnostics of one MCMC fit, with a verdict.

    Attributes
    ----------
    passed : bool
        True when every check passed (see the module docstring for the checks).
    table : pandas.DataFrame
        One row per scalar parameter (``beta[workers]``), columns ``r_hat``, ``ess_bulk``,
        ``ess_tail``, ``mcse_mean``.
    n_divergences : int
        Divergent transitions after warm-up, all chains together.
    n_draws : int
        Draws per chain after warm-up.
    n_chains : int
        Number of chains.
    treedepth_hits : int
        Transitions that reached the maximum tree depth.
    bfmi : numpy.ndarray
        E-BFMI per chain (empty when the sampler records no energy).
    problems : list of str
        One plain-language sentence per failed check.
    advice : list of str
        What to do about the problems.
    sampler : str
        The inference library that produced the draws (``pymc``, ``nutpie``, ...).
    rhat_max : float
        The R-hat threshold used.
    ess_min : float
        The ESS threshold actually used (after scaling to the number of draws).
    """

    passed: bool
    table: pd.DataFrame
    n_divergences: int
    n_draws: int
    n_chains: int
    treedepth_hits: int
    bfmi: np.ndarray
    problems: list[str] = field(default_factory=list)
    advice: list[str] = field(default_factory=list)
    sampler: str = "unknown"
    rhat_max: float = 1.01
    ess_min: float = 400.0

    @property
    def verdict(self) -> str:
        """``"PASSED"`` or ``"FAILED"``."""
        return "PASSED" if self.passed else "FAILED"

    def to_frame(self) -> pd.DataFrame:
        """Return the per-parameter table (a copy)."""
        return self.table.copy()

    def _header_lines(self) -> list[str]:
        bfmi_text = ", ".join(f"{value:.2f}" for value in self.bfmi) if self.bfmi.size else "n/a"
        return [
            f"MCMC diagnostics ({self.sampler}): {self.verdict}",
            f"{self.n_chains} chains x {self.n_draws} draws; divergences: {self.n_divergences}; "
            f"max tree depth hits: {self.treedepth_hits}; E-BFMI per chain: {bfmi_text}",
            f"thresholds: R-hat <= {self.rhat_max}, bulk/tail ESS >= {self.ess_min:g}, "
            f"E-BFMI >= {BFMI_MIN}, no divergences",
        ]

    def to_markdown(self) -> str:
        """Render the verdict, problems, advice and table as Markdown."""
        lines = [f"**{self._header_lines()[0]}**", ""]
        lines += [f"- {line}" for line in self._header_lines()[1:]]
        if self.problems:
            lines += ["", "Problems:", *[f"- {problem}" for problem in self.problems]]
        if self.advice:
            lines += ["", "Advice:", *[f"- {item}" for item in self.advice]]
        lines += ["", _frame_to_markdown(self.table)]
        return "\n".join(lines)

    def __str__(self) -> str:
        lines = self._header_lines()
        if self.problems:
            lines += ["Problems:", *[f"  - {problem}" for problem in self.problems]]
        if self.advice:
            lines += ["Advice:", *[f"  - {item}" for item in self.advice]]
        lines.append(self.table.to_string(float_format=lambda value: f"{value:.3g}"))
        return "\n".join(lines)

    def compact_problems(self) -> list[str]:
        """Summarise the problems in a few lines: counts and the worst value per check.

        The per-parameter problems (R-hat, bulk ESS, tail ESS) become one sentence each,
        e.g. ``"R-hat > 1.01 for 42 of 120 parameters (worst 1.057, theta[2, x, 2])"``;
        the sampler-level problems (one chain, divergences, tree depth, E-BFMI) are kept
        as they are.  The full numbers stay in :meth:`to_frame`.

        Returns
        -------
        list of str
            Empty when every check passed.

        Examples
        --------
        >>> import numpy as np, pandas as pd
        >>> table = pd.DataFrame(
        ...     {"r_hat": [1.0, 1.05], "ess_bulk": [500.0, 30.0], "ess_tail": [500.0, 450.0]},
        ...     index=["a", "b"],
        ... )
        >>> diagnostics = MCMCDiagnostics(False, table, 0, 1000, 4, 0, np.array([]))
        >>> diagnostics.compact_problems()
        ['R-hat > 1.01 for 1 of 2 parameters (worst 1.050, b)', 'bulk ESS < 400 for 1 of 2 parameters (worst 30, b)']
        """  # noqa: E501
        lines: list[str] = []
        n_parameters = len(self.table)
        rhat = self.table["r_hat"]
        failing = rhat[np.isfinite(rhat) & (rhat > self.rhat_max)]
        if len(failing):
            worst = failing.idxmax()
            lines.append(
                f"R-hat > {self.rhat_max:g} for {len(failing)} of {n_parameters} parameters "
                f"(worst {_above(failing[worst], self.rhat_max)}, {worst})"
            )
        for column, label in (("ess_bulk", "bulk ESS"), ("ess_tail", "tail ESS")):
            values = self.table[column]
            low = values[np.isfinite(values) & (values < self.ess_min)]
            if len(low):
                worst = low.idxmin()
                lines.append(
                    f"{label} < {self.ess_min:g} for {len(low)} of {n_parameters} parameters "
                    f"(worst {low[worst]:.0f}, {worst})"
                )
        per_parameter = re.compile(r"^(R-hat|bulk ESS|tail ESS) \S+ for .+ \([<>] [^)]*\)$")
        lines.extend(p for p in self.problems if not per_parameter.match(p))
        return lines

    def compact_summary(self) -> str:
        """Return :meth:`compact_problems` as one sentence (``"passed"`` when none).

        Returns
        -------
        str
        """
        problems = self.compact_problems()
        return "; ".join(problems) if problems else "passed"

    def to_attrs(self) -> dict[str, str]:
        """Return string attributes for a DataTree's ``attrs`` (NetCDF-safe)."""
        return {
            "diagnostics_verdict": self.verdict,
            "diagnostics_sampler": self.sampler,
            "diagnostics_n_chains": str(self.n_chains),
            "diagnostics_n_draws": str(self.n_draws),
            "diagnostics_n_divergences": str(self.n_divergences),
            "diagnostics_treedepth_hits": str(self.treedepth_hits),
            "diagnostics_max_r_hat": _fmt(_nanmax(self.table["r_hat"])),
            "diagnostics_min_ess_bulk": _fmt(_nanmin(self.table["ess_bulk"])),
            "diagnostics_min_ess_tail": _fmt(_nanmin(self.table["ess_tail"])),
            "diagnostics_bfmi": ", ".join(f"{value:.3f}" for value in self.bfmi),
            "diagnostics_problems": " | ".join(self.problems),
            "diagnostics_advice": " | ".join(self.advice),
        }


def effective_ess_threshold(ess_min: float, n_draws_total: int) -> float:
    """ESS threshold used for a run with ``n_draws_total`` draws (all chains).

    Parameters
    ----------
    ess_min : float
        The requested threshold (400 by default).
    n_draws_total : int
        Chains times draws per chain.

    Returns
    -------
    float
        ``min(ess_min, 0.1 * n_draws_total)``.

    Examples
    --------
    >>> effective_ess_threshold(400, 4000)
    400.0
    >>> effective_ess_threshold(400, 200)
    20.0
    """
    return float(min(ess_min, ESS_FRACTION * n_draws_total))


def mcmc_diagnostics(
    idata: xr.DataTree,
    var_names: list[str] | None = None,
    *,
    rhat_max: float = 1.01,
    ess_min: float = 400,
    max_treedepth: int | None = None,
) -> MCMCDiagnostics:
    """Check the convergence of an MCMC fit and say, in plain words, what went wrong.

    Parameters
    ----------
    idata : xarray.DataTree
        Result of ``pm.sample`` or ``nutpie.sample`` with ``posterior`` and ``sample_stats``.
    var_names : list of str, optional
        Posterior variables to check (default: all of them).  Leave out per-observation
        deterministics (fitted probabilities): they are functions of the parameters.
    rhat_max : float, default 1.01
        Largest acceptable rank-normalised split R-hat.
    ess_min : float, default 400
        Smallest acceptable bulk and tail ESS; scaled down to 10% of the total draws for
        short runs (:func:`effective_ess_threshold`).
    max_treedepth : int, optional
        Maximum tree depth of the sampler.  Only needed when the sampler does not record
        whether the maximum was reached (both PyMC and nutpie do).

    Returns
    -------
    MCMCDiagnostics
        Verdict, per-parameter table, sampler statistics, problems and advice.

    Raises
    ------
    ValueError
        If ``idata`` has no ``posterior`` group or a requested variable is missing.
    """
    if "posterior" not in idata.children:
        raise ValueError(
            "mcmc_diagnostics needs a DataTree with a 'posterior' group; "
            f"got groups {sorted(idata.children)}"
        )
    posterior = idata["posterior"].to_dataset()
    if var_names is not None:
        missing = [name for name in var_names if name not in posterior.data_vars]
        if missing:
            raise ValueError(
                f"variables {missing} are not in the posterior "
                f"(it has {sorted(map(str, posterior.data_vars))})"
            )
    n_chains = int(posterior.sizes.get("chain", 1))
    n_draws = int(posterior.sizes.get("draw", 0))
    threshold = effective_ess_threshold(ess_min, n_chains * n_draws)

    table = diagnostics_table(posterior, var_names)

    stats = idata["sample_stats"].to_dataset() if "sample_stats" in idata.children else None
    sampler = _sampler_name(idata, stats)
    n_divergences = _count_true(stats, _DIVERGING)
    treedepth_hits = _count_true(stats, _MAX_DEPTH_REACHED)
    if treedepth_hits < 0:
        depth = _first(stats, _TREE_DEPTH)
        treedepth_hits = (
            int((depth >= max_treedepth).sum()) if depth is not None and max_treedepth else 0
        )
    bfmi = _bfmi(idata, stats)

    problems: list[str] = []
    advice: list[str] = []
    if n_chains < 2:
        problems.append(
            "only one chain was run, so R-hat cannot compare chains and non-convergence "
            "may go unnoticed"
        )
        advice.append("Run at least 4 chains.")
    for name, value in table["r_hat"].items():
        if np.isfinite(value) and value > rhat_max:
            problems.append(f"R-hat {_above(value, rhat_max)} for {name} (> {rhat_max})")
    for column, label in (("ess_bulk", "bulk ESS"), ("ess_tail", "tail ESS")):
        for name, value in table[column].items():
            if np.isfinite(value) and value < threshold:
                problems.append(f"{label} {value:.0f} for {name} (< {threshold:g})")
    if any("R-hat" in problem for problem in problems):
        advice.append(
            "The chains disagree: run more tuning and draws (e.g. tune=2000, draws=2000); "
            "if R-hat stays high, look for multimodality or label switching and "
            "reparameterise or tighten the priors."
        )
    if any("ESS" in problem for problem in problems):
        advice.append(
            "Too few effective draws for stable estimates: run more draws, or "
            "reparameterise (non-centred hierarchy, standardised predictors)."
        )
    if n_divergences > 0:
        total = n_chains * n_draws
        problems.append(
            f"{n_divergences} divergent transitions after warm-up "
            f"({100 * n_divergences / max(total, 1):.1f}% of draws): the posterior may be "
            "biased where the sampler could not go"
        )
        advice.append(
            "Divergences: raise target_accept (e.g. 0.95 or 0.99), use a non-centred "
            "parameterisation for hierarchical scales, or use more informative priors "
            "(separation in a logit makes the likelihood flat)."
        )
    if treedepth_hits > 0:
        problems.append(
            f"{treedepth_hits} transitions hit the maximum tree depth (sampling was "
            "inefficient and may not have explored the tails)"
        )
        advice.append(
            "Tree depth: standardise predictors, reparameterise correlated parameters, "
            "or raise max_treedepth."
        )
    low_bfmi = [(chain, value) for chain, value in enumerate(bfmi) if value < BFMI_MIN]
    for chain, value in low_bfmi:
        problems.append(f"E-BFMI {value:.2f} in chain {chain} (< {BFMI_MIN})")
    if low_bfmi:
        advice.append(
            "Low E-BFMI: the sampler explores the energy distribution poorly, usually "
            "because of heavy tails or a funnel; reparameterise (non-centred) or use "
            "lighter-tailed priors."
        )

    return MCMCDiagnostics(
        passed=not problems,
        table=table,
        n_divergences=n_divergences,
        n_draws=n_draws,
        n_chains=n_chains,
        treedepth_hits=treedepth_hits,
        bfmi=bfmi,
        problems=problems,
        advice=advice,
        sampler=sampler,
        rhat_max=rhat_max,
        ess_min=threshold,
    )


def diagnostics_table(posterior: xr.Dataset, var_names: list[str] | None = None) -> pd.DataFrame:
    """R-hat, bulk/tail ESS and MCSE of the mean of every scalar parameter.

    The scalars of all variables are stacked into one array and passed once to
    :func:`bayes_cluster.inference.fast_diagnostics.draw_diagnostics` (rank-normalised
    split R-hat, bulk and tail ESS; Vehtari et al. 2021): the numbers of
    ``arviz_stats.summary`` to 1e-10, vectorised over parameters, which matters when a
    simulation study fits thousands of models.

    Parameters
    ----------
    posterior : xarray.Dataset
        Draws with dims ``chain`` and ``draw`` first or anywhere.
    var_names : list of str, optional
        Variables to include (default: all).

    Returns
    -------
    pandas.DataFrame
        Indexed by ``name[coord, ...]``; columns ``r_hat``, ``ess_bulk``, ``ess_tail``,
        ``mcse_mean``.
    """
    from arviz_base import rcParams

    from bayes_cluster.inference.fast_diagnostics import draw_diagnostics

    # tail ESS as ArviZ computes it: min ESS of the two quantiles of the central interval
    # of probability rcParams["stats.ci_prob"] (0.89 by default: 5.5% and 94.5%; ArviZ
    # checks the value when it is set)
    tail_prob = float(rcParams["stats.ci_prob"])

    names = list(var_names) if var_names is not None else list(map(str, posterior.data_vars))
    labels: list[str] = []
    blocks: list[np.ndarray] = []
    for name in names:
        variable = posterior[name]
        other = [dim for dim in variable.dims if dim not in ("chain", "draw")]
        values = variable.transpose("chain", "draw", *other).to_numpy().astype(float)
        n_chains, n_draws = values.shape[:2]
        blocks.append(values.reshape(n_chains, n_draws, -1))
        if not other:
            labels.append(name)
            continue
        coordinates = [variable[dim].to_numpy() for dim in other]
        for index in np.ndindex(*[len(c) for c in coordinates]):
            inner = ", ".join(str(c[i]) for c, i in zip(coordinates, index, strict=True))
            labels.append(f"{name}[{inner}]")
    if not blocks:
        return pd.DataFrame(columns=list(TABLE_COLUMNS), dtype=float)
    # (parameter, chain, draw): the layout array_stats expects (chain_axis=-2, draw_axis=-1)
    stacked = np.moveaxis(np.concatenate(blocks, axis=2), 2, 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        # arviz_stats' numbers, all parameters at once (equal to 1e-10, tested)
        table = pd.DataFrame(
            draw_diagnostics(stacked, tail_prob), index=pd.Index(labels, name="parameter")
        )
    return table


def warn_if_failed(diagnostics: MCMCDiagnostics, *, context: str = "MCMC fit") -> bool:
    """Warn loudly (:class:`ConvergenceWarning`) when a fit failed its checks.

    Parameters
    ----------
    diagnostics : MCMCDiagnostics
        Result of :func:`mcmc_diagnostics`.
    context : str, default "MCMC fit"
        What was fitted, named at the start of the message.

    Returns
    -------
    bool
        True when the fit passed (no warning issued).
    """
    if diagnostics.passed:
        return True
    message = (
        f"{context} FAILED its convergence checks; do not trust its estimates yet.\n"
        + "\n".join(f"  - {problem}" for problem in diagnostics.problems)
        + "\nAdvice:\n"
        + "\n".join(f"  - {item}" for item in diagnostics.advice)
    )
    warnings.warn(message, ConvergenceWarning, stacklevel=2)
    return False


def _first(stats: xr.Dataset | None, names: tuple[str, ...]) -> xr.DataArray | None:
    if stats is None:
        return None
    for name in names:
        if name in stats.data_vars:
            return stats[name]
    return None


def _count_true(stats: xr.Dataset | None, names: tuple[str, ...]) -> int:
    """Count True values of the first present statistic; -1 when none is recorded."""
    values = _first(stats, names)
    if values is None:
        return 0 if names == _DIVERGING else -1
    return int(np.asarray(values, dtype=bool).sum())


def _bfmi(idata: xr.DataTree, stats: xr.Dataset | None) -> np.ndarray:
    energy = _first(stats, _ENERGY)
    if energy is None:
        return np.array([], dtype=float)
    energy_values = np.asarray(energy, dtype=float)
    if energy_values.ndim != 2 or energy_values.shape[1] < 2:
        return np.array([], dtype=float)
    # E-BFMI (Betancourt 2016): sum of squared energy changes over the sum of squared
    # deviations from the chain's mean energy, per chain
    numerator = np.sum(np.diff(energy_values, axis=1) ** 2, axis=1)
    centred = energy_values - energy_values.mean(axis=1, keepdims=True)
    denominator = np.sum(centred**2, axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return numerator / denominator


def _sampler_name(idata: xr.DataTree, stats: xr.Dataset | None) -> str:
    for attrs in (stats.attrs if stats is not None else {}, idata["posterior"].attrs):
        name = attrs.get("inference_library")
        if name:
            return str(name)
    return "unknown"


def _nanmax(series: pd.Series) -> float:
    values = series.to_numpy(dtype=float)
    return float(np.nanmax(values)) if np.isfinite(values).any() else math.nan


def _nanmin(series: pd.Series) -> float:
    values = series.to_numpy(dtype=float)
    return float(np.nanmin(values)) if np.isfinite(values).any() else math.nan


def _fmt(value: float) -> str:
    return "nan" if not np.isfinite(value) else f"{value:.4g}"


def _frame_to_markdown(frame: pd.DataFrame) -> str:
    """Markdown table without the optional ``tabulate`` dependency."""
    header = "| " + " | ".join([str(frame.index.name or ""), *map(str, frame.columns)]) + " |"
    rule = "|" + "---|" * (len(frame.columns) + 1)
    rows = [
        "| " + " | ".join([str(index), *(f"{value:.4g}" for value in row)]) + " |"
        for index, row in zip(frame.index, frame.to_numpy(dtype=float), strict=True)
    ]
    return "\n".join([header, rule, *rows])

r"""Simulation-based calibration (SBC) of the Bayesian models.

SBC (Talts, Betancourt, Simpson, Vehtari & Gelman 2018, "Validating Bayesian inference
algorithms with simulation-based calibration", arXiv:1804.06788) checks a model *and* its
sampler together: if parameters are drawn from the prior, data from the likelihood given
them, and the posterior is computed from those data, then the rank of each true
parameter among ``L`` posterior draws is uniform on ``0..L``.

.. math::

    \tilde\theta \sim p(\theta), \quad \tilde y \sim p(y \mid \tilde\theta), \quad
    \theta_1..\theta_L \sim p(\theta \mid \tilde y) \;\Rightarrow\;
    r = \#\{l : \theta_l < \tilde\theta\} \sim \mathrm{Uniform}\{0, \ldots, L\}.

:func:`simulation_based_calibration` runs this for any PyMC model whose observed
variables hold ``pm.Data`` containers: prior draws come from
``pm.sample_prior_predictive`` of the very model that is fitted (so the priors checked
are the model's own), the model is compiled once with nutpie and re-run on each
simulated data set with ``with_data``. :func:`sbc_logit` and :func:`sbc_latent_class`
apply it to the package's two Bayesian models.

Uniformity is judged per parameter by two tests, each at level ``alpha / (2 P)`` for
``P`` parameters (Bonferroni, so a calibrated model fails with probability at most
``alpha``): a chi-square test on a rank histogram, and the simultaneous ECDF band test of
Säilynoja, Bürkner & Vehtari (2022, "Graphical test for discrete uniformity and its
applications in goodness-of-fit evaluation and multiple sample comparison", *Statistics
and Computing* 32:32), computed exactly for the discrete ranks by simulation.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

__all__ = [
    "SBCResult",
    "ecdf_band",
    "rank_uniformity",
    "sbc_latent_class",
    "sbc_logit",
    "simulation_based_calibration",
]


@dataclass
class SBCResult:
    """Ranks, diagnostics and uniformity verdict of a simulation-based calibration.

    Attributes
    ----------
    ranks : pandas.DataFrame
        One row per simulation; one column per scalar parameter (``beta[workers]``);
        values in ``0..n_rank_draws``.
    n_rank_draws : int
        ``L``: posterior draws each rank is taken among.
    simulations : pandas.DataFrame
        Per simulation: ``divergences``, ``r_hat_max``, ``ess_bulk_min``, ``seconds``.
    uniformity : pandas.DataFrame
        Per parameter: :func:`rank_uniformity` columns.
    alpha : float
        Family-wise significance level of the verdict.
    model : str
        What was calibrated.
    attrs : dict
        Provenance and settings.
    """

    ranks: pd.DataFrame
    n_rank_draws: int
    simulations: pd.DataFrame
    uniformity: pd.DataFrame
    alpha: float = 0.05
    model: str = "model"
    attrs: dict[str, str] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        """True when no parameter's ranks depart from uniformity."""
        return bool(self.uniformity["passed"].all())

    def verdict(self) -> str:
        """One sentence: did the ranks look uniform, and which parameters did not."""
        n = len(self.ranks)
        divergent = int((self.simulations["divergences"] > 0).sum())
        tail = f"; {divergent} of {n} fits had divergent transitions" if divergent else ""
        if self.passed:
            return (
                f"SBC of {self.model}: ranks of all {self.ranks.shape[1]} parameters are "
                f"consistent with uniformity ({n} simulations, L = {self.n_rank_draws}, "
                f"family-wise alpha = {self.alpha}){tail}."
            )
        failed = ", ".join(self.uniformity.index[~self.uniformity["passed"]])
        return (
            f"SBC of {self.model}: ranks depart from uniformity for {failed} ({n} "
            f"simulations, L = {self.n_rank_draws}, family-wise alpha = {self.alpha}){tail}."
        )


def ecdf_band(
    n_simulations: int,
    n_rank_draws: int,
    level: float = 0.95,
    *,
    n_trials: int = 2000,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Simultaneous confidence band for the ECDF of ``N`` uniform ranks on ``0..L``.

    Säilynoja et al. (2022): find the pointwise level ``1 - gamma`` whose binomial bands
    contain the whole ECDF of a uniform sample with probability ``level``; ``gamma`` is
    estimated from ``n_trials`` simulated uniform rank samples.

    Parameters
    ----------
    n_simulations : int
        ``N``, ranks per parameter.
    n_rank_draws : int
        ``L``; ranks take the ``L + 1`` values ``0..L``.
    level : float
        Simultaneous coverage of the band.
    n_trials : int
        Uniform samples simulated to calibrate ``gamma``.
    seed : int
        Seed of those simulations.

    Returns
    -------
    z : numpy.ndarray
        Evaluation points ``(k + 1) / (L + 1)``, ``k = 0..L-1`` (the expected ECDF).
    lower, upper : numpy.ndarray
        Band for the ECDF at ``z``.
    gamma : float
        The pointwise tail probability that gives the simultaneous level.
    """
    z = np.arange(1, n_rank_draws + 1) / (n_rank_draws + 1)
    rng = np.random.default_rng(seed)
    uniform_ranks = rng.integers(0, n_rank_draws + 1, size=(n_trials, n_simulations))
    minima = _min_tail_probabilities(uniform_ranks, n_rank_draws)
    gamma = float(np.quantile(minima, 1 - level))
    lower = stats.binom.ppf(gamma / 2, n_simulations, z) / n_simulations
    upper = stats.binom.ppf(1 - gamma / 2, n_simulations, z) / n_simulations
    return z, lower, upper, gamma


def _ecdf_counts(ranks: np.ndarray, n_rank_draws: int) -> np.ndarray:
    """``N * ECDF(k)`` at ``k = 0..L-1`` for each row of ``ranks`` (shape (..., N))."""
    ranks = np.asarray(ranks)
    counts = np.stack(
        [np.count_nonzero(ranks == k, axis=-1) for k in range(n_rank_draws)], axis=-1
    )
    return np.cumsum(counts, axis=-1)


def _min_tail_probabilities(ranks: np.ndarray, n_rank_draws: int) -> np.ndarray:
    """Smallest two-sided binomial tail probability of the ECDF over ``k`` (per row)."""
    ranks = np.atleast_2d(ranks)
    n = ranks.shape[-1]
    z = np.arange(1, n_rank_draws + 1) / (n_rank_draws + 1)
    counts = _ecdf_counts(ranks, n_rank_draws)
    below = stats.binom.cdf(counts, n, z)
    above = stats.binom.sf(counts - 1, n, z)
    return np.minimum(1.0, 2 * np.minimum(below, above)).min(axis=-1)


def rank_uniformity(
    ranks: pd.DataFrame,
    n_rank_draws: int,
    *,
    alpha: float = 0.05,
    bins: int | None = None,
    n_trials: int = 2000,
    seed: int = 0,
) -> pd.DataFrame:
    """Test each parameter's SBC ranks for discrete uniformity on ``0..L``.

    Parameters
    ----------
    ranks : pandas.DataFrame
        One column per parameter, one row per simulation.
    n_rank_draws : int
        ``L``.
    alpha : float
        Family-wise level: each of the ``2 P`` tests runs at ``alpha / (2 P)``.
    bins : int, optional
        Histogram bins of the chi-square test (default: about ``N / 5``, at most 20, so
        that every bin expects at least 5 ranks).
    n_trials : int
        Uniform samples simulated for the ECDF test's p-value.
    seed : int
        Seed of those simulations.

    Returns
    -------
    pandas.DataFrame
        Indexed by parameter: ``chi2``, ``df``, ``chi2_p_value``, ``ecdf_p_value``
        (share of uniform samples whose ECDF strays at least as far), ``max_ecdf_diff``,
        ``passed`` (both p-values above ``alpha / (2 P)``).
    """
    n = len(ranks)
    if n < 10:
        raise ValueError(f"rank_uniformity needs at least 10 simulations, got {n}")
    values = ranks.to_numpy(int)
    if values.min() < 0 or values.max() > n_rank_draws:
        raise ValueError(f"ranks must lie in 0..{n_rank_draws}")
    if bins is None:
        bins = int(min(20, max(2, n // 5), n_rank_draws + 1))
    edges = np.linspace(0, n_rank_draws + 1, bins + 1).round().astype(int)
    values_per_bin = np.diff(edges)
    expected = n * values_per_bin / (n_rank_draws + 1)
    rng = np.random.default_rng(seed)
    reference = _min_tail_probabilities(
        rng.integers(0, n_rank_draws + 1, size=(n_trials, n)), n_rank_draws
    )
    threshold = alpha / (2 * ranks.shape[1])
    z = np.arange(1, n_rank_draws + 1) / (n_rank_draws + 1)
    rows = {}
    for j, name in enumerate(ranks.columns):
        observed = np.histogram(values[:, j], bins=edges)[0]
        chi2 = float(((observed - expected) ** 2 / expected).sum())
        chi2_p = float(stats.chi2.sf(chi2, bins - 1))
        minimum = _min_tail_probabilities(values[:, j], n_rank_draws)[0]
        ecdf_p = float((1 + np.count_nonzero(reference <= minimum)) / (n_trials + 1))
        ecdf = _ecdf_counts(values[:, j], n_rank_draws) / n
        rows[name] = {
            "chi2": chi2,
            "df": bins - 1,
            "chi2_p_value": chi2_p,
            "ecdf_p_value": ecdf_p,
            "max_ecdf_diff": float(np.abs(ecdf - z).max()),
            "passed": bool(chi2_p > threshold and ecdf_p > threshold),
        }
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "parameter"
    return table


def _scalar_names(dataset: Any, names: Sequence[str]) -> list[tuple[str, str, tuple]]:
    """(label, variable, index) of every scalar element of ``names`` in ``dataset``."""
    out = []
    for name in names:
        variable = dataset[name]
        extra_dims = [d for d in variable.dims if d not in ("chain", "draw")]
        if not extra_dims:
            out.append((name, name, ()))
            continue
        shape = [variable.sizes[d] for d in extra_dims]
        for index in np.ndindex(*shape):
            labels = [
                str(variable.coords[d].values[i]) if d in variable.coords else str(i)
                for d, i in zip(extra_dims, index, strict=True)
            ]
            out.append((f"{name}[{', '.join(labels)}]", name, index))
    return out


def _observed_containers(model: Any) -> dict[str, str]:
    """Observed variable name -> name of the ``pm.Data`` container holding its value."""
    from pytensor.compile.sharedvalue import SharedVariable

    containers = {}
    for rv in model.observed_RVs:
        value = model.rvs_to_values[rv]
        if not isinstance(value, SharedVariable):
            raise ValueError(
                f"observed variable {rv.name!r} does not hold a pm.Data container, so the "
                "compiled model cannot be re-run on simulated data; build it with "
                f"observed=pm.Data(...)"
            )
        containers[rv.name] = value.name
    return containers


def simulation_based_calibration(
    model: Any,
    parameters: Sequence[str],
    *,
    n_simulations: int = 100,
    n_rank_draws: int = 100,
    draws: int = 500,
    tune: int = 500,
    chains: int = 2,
    seed: int = 0,
    alpha: float = 0.05,
    target_accept: float = 0.8,
    progress: bool = False,
    model_name: str = "model",
) -> SBCResult:
    """Run SBC for a PyMC model whose observed variables hold ``pm.Data`` containers.

    Parameters
    ----------
    model : pymc.Model
        The model as fitted (its priors are the ones checked).
    parameters : sequence of str
        Free (or deterministic) variables whose ranks are computed.
    n_simulations : int
        Prior draws, each a simulated data set and one posterior fit.
    n_rank_draws : int
        ``L``: the posterior draws are thinned, evenly over all chains, to ``L`` draws;
        ``chains * draws`` must be at least ``L``.
    draws, tune, chains : int
        nutpie settings of each fit.
    seed : int
        Seed of the prior draws; fit ``i`` uses ``seed + 1 + i``.
    alpha : float
        Family-wise level of the uniformity verdict.
    target_accept : float
        nutpie target acceptance rate.
    progress : bool
        Show a progress bar over simulations.
    model_name : str
        Label in the verdict.

    Returns
    -------
    SBCResult
        Ranks, per-fit diagnostics and the uniformity verdict.
    """
    import arviz_stats as azs
    import nutpie
    import pymc as pm
    from tqdm.auto import tqdm

    from bayes_cluster.provenance import provenance

    if chains * draws < n_rank_draws:
        raise ValueError(
            f"chains * draws = {chains * draws} posterior draws cannot be thinned to "
            f"n_rank_draws = {n_rank_draws}"
        )
    containers = _observed_containers(model)
    prior = pm.sample_prior_predictive(
        draws=n_simulations,
        model=model,
        var_names=[*parameters, *containers],
        random_seed=seed,
    )
    prior_params = prior["prior"].to_dataset()
    prior_data = prior["prior_predictive"].to_dataset()
    scalars = _scalar_names(prior_params, parameters)
    compiled = nutpie.compile_pymc_model(model)
    keep = np.linspace(0, chains * draws - 1, n_rank_draws).round().astype(int)
    rank_rows, simulation_rows = [], []
    for i in tqdm(range(n_simulations), desc="SBC", disable=not progress):
        data = {
            containers[name]: prior_data[name].isel(chain=0, draw=i).to_numpy()
            for name in containers
        }
        start = time.perf_counter()
        trace = nutpie.sample(
            compiled.with_data(**data),
            draws=draws,
            tune=tune,
            chains=chains,
            seed=seed + 1 + i,
            progress_bar=False,
            save_warmup=False,
            target_accept=target_accept,
        )
        seconds = time.perf_counter() - start
        posterior = trace["posterior"].to_dataset()
        ranks, chain_draws = {}, []
        for label, name, index in scalars:
            samples = posterior[name].to_numpy()[(slice(None), slice(None), *index)]
            chain_draws.append(samples)
            thinned = samples.reshape(-1)[keep]
            true_value = prior_params[name].isel(chain=0, draw=i).to_numpy()[index]
            ranks[label] = int(np.count_nonzero(thinned < true_value))
        stacked = np.stack(chain_draws, axis=-1)
        diverging = trace["sample_stats"]["diverging"].to_numpy()
        rank_rows.append(ranks)
        simulation_rows.append(
            {
                "divergences": int(diverging.sum()),
                "r_hat_max": float(np.nanmax(azs.rhat(stacked, chain_axis=0, draw_axis=1))),
                "ess_bulk_min": float(np.nanmin(azs.ess(stacked, chain_axis=0, draw_axis=1))),
                "seconds": seconds,
            }
        )
    rank_frame = pd.DataFrame(rank_rows)
    rank_frame.index.name = "simulation"
    simulations = pd.DataFrame(simulation_rows)
    simulations.index.name = "simulation"
    uniformity = rank_uniformity(rank_frame, n_rank_draws, alpha=alpha, seed=seed)
    return SBCResult(
        ranks=rank_frame,
        n_rank_draws=n_rank_draws,
        simulations=simulations,
        uniformity=uniformity,
        alpha=alpha,
        model=model_name,
        attrs=provenance(
            seed=seed,
            n_simulations=n_simulations,
            n_rank_draws=n_rank_draws,
            draws=draws,
            tune=tune,
            chains=chains,
        ),
    )


def sbc_logit(
    design: pd.DataFrame | None = None,
    *,
    priors: dict[str, dict[str, Any]] | None = None,
    n_simulations: int = 100,
    n_rank_draws: int = 100,
    draws: int = 500,
    tune: int = 500,
    chains: int = 2,
    seed: int = 0,
    alpha: float = 0.05,
    progress: bool = False,
) -> SBCResult:
    """SBC of the Bayesian logit (:class:`bayes_cluster.logistic.BayesianLogit`).

    What is drawn: the model is built on a fixed design (the predictors of
    ``design``, default a simulated 60-firm Tumang survey), the intercept and the
    slopes on the model's *standardised* scale are drawn from its priors (the package
    defaults unless ``priors`` overrides them), ``export`` is drawn given them, and the
    model is refitted; the ranks are those of the standardised-scale intercept and
    slopes (the parameters the priors are stated on).

    Parameters
    ----------
    design : pandas.DataFrame, optional
        Survey whose predictors form the fixed design (its ``export`` column is only
        used to build the model; it is replaced by simulated outcomes).
    priors : dict, optional
        Prior overrides, as :class:`~bayes_cluster.logistic.BayesianLogit` takes them.
    n_simulations, n_rank_draws, draws, tune, chains, seed, alpha, progress
        See :func:`simulation_based_calibration`.

    Returns
    -------
    SBCResult
        Ranks, diagnostics and verdict.
    """
    from bayes_cluster.study import bayesian_logit_sbc_model

    model, parameters = bayesian_logit_sbc_model(design, priors)
    return simulation_based_calibration(
        model,
        parameters,
        n_simulations=n_simulations,
        n_rank_draws=n_rank_draws,
        draws=draws,
        tune=tune,
        chains=chains,
        seed=seed,
        alpha=alpha,
        progress=progress,
        model_name="the Bayesian logit (default priors)" if not priors else "the Bayesian logit",
    )


def sbc_latent_class(*args: Any, **kwargs: Any) -> SBCResult:  # pragma: no cover - placeholder
    """SBC of the Bayesian latent class model; see :func:`simulation_based_calibration`."""
    raise NotImplementedError

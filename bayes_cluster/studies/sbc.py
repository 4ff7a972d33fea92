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
are the model's own), and every fit samples through
:func:`bayes_cluster.inference.sampling.sample`: the model is compiled once with nutpie
(in the package's compile cache, shared with the model's own fits) and re-run on each
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

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from bayes_cluster.common.latent_class_math import one_hot, simulate_responses

# the rank ECDF and its band live below the figures (plots/study.py draws them)
from bayes_cluster.inference.calibration import ecdf_band
from bayes_cluster.inference.calibration import ecdf_counts as _ecdf_counts
from bayes_cluster.inference.calibration import (
    min_tail_probabilities as _min_tail_probabilities,
)

__all__ = [
    "SBCResult",
    "ecdf_band",
    "latent_class_quantities",
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
    from pytensor.graph.traversal import ancestors

    containers = {}
    for rv in model.observed_RVs:
        # the value may be the container itself or a cast of it
        shared = [
            var for var in ancestors([model.rvs_to_values[rv]]) if isinstance(var, SharedVariable)
        ]
        if len(shared) != 1:
            raise ValueError(
                f"observed variable {rv.name!r} does not hold a pm.Data container, so the "
                "compiled model cannot be re-run on simulated data; build it with "
                "observed=pm.Data(...)"
            )
        containers[rv.name] = shared[0].name
    if not containers:
        raise ValueError("the model has no observed variables to simulate")
    return containers


QuantityFunction = Callable[[Any], dict[str, np.ndarray]]
"""posterior Dataset (chain, draw, ...) -> {label: array of shape (chain, draw)}."""


def _container_values(model: Any) -> dict[str, np.ndarray]:
    """Return the current value of every ``pm.Data`` container of ``model``, by name."""
    return {variable.name: variable.get_value() for variable in model.data_vars}


def _calibrate(
    model: Any,
    key: tuple,
    simulations: Sequence[tuple[dict[str, float], dict[str, np.ndarray]]],
    quantities: QuantityFunction,
    *,
    n_rank_draws: int,
    draws: int,
    tune: int,
    chains: int,
    seed: int,
    alpha: float,
    target_accept: float,
    progress: bool,
    model_name: str,
    compile_with: Callable[[Any, Any], Any] | None = None,
) -> SBCResult:
    """Fit every simulated data set and rank the true values.

    Each fit samples ``model`` through :func:`bayes_cluster.inference.sampling.sample`
    (compiled once under ``key``, re-run with ``with_data``). ``simulations`` holds, per
    simulation, the true value of every test quantity and the values of the containers
    the simulation changes; every other container keeps ``model``'s value (all of them
    are passed, so a compiled model cached from other data of the same structure is
    re-used safely). ``quantities`` computes the test quantities from the posterior draws.
    """
    import arviz_stats as azs
    from tqdm.auto import tqdm

    from bayes_cluster.inference.provenance import provenance
    from bayes_cluster.inference.sampling import SamplerSettings, sample

    if chains * draws < n_rank_draws:
        raise ValueError(
            f"chains * draws = {chains * draws} posterior draws cannot be thinned to "
            f"n_rank_draws = {n_rank_draws}"
        )
    keep = np.linspace(0, chains * draws - 1, n_rank_draws).round().astype(int)
    containers = _container_values(model)
    settings = SamplerSettings(
        draws=draws, tune=tune, chains=chains, target_accept=target_accept, backend="nutpie_c"
    )
    rank_rows, simulation_rows = [], []
    for i, (truth, data) in enumerate(tqdm(simulations, desc="SBC", disable=not progress)):
        result = sample(
            lambda: model,
            key=key,
            data={**containers, **data},
            settings=replace(settings, seed=seed + 1 + i),
            compile_with=compile_with,
        )
        trace, seconds = result.tree, result.sample_seconds
        values = quantities(trace["posterior"].to_dataset())
        stacked = np.stack([values[label] for label in truth], axis=-1)
        rank_rows.append(
            {
                label: int(np.count_nonzero(values[label].reshape(-1)[keep] < true_value))
                for label, true_value in truth.items()
            }
        )
        simulation_rows.append(
            {
                "divergences": int(trace["sample_stats"]["diverging"].to_numpy().sum()),
                "r_hat_max": float(np.nanmax(azs.rhat(stacked, chain_axis=0, draw_axis=1))),
                "ess_bulk_min": float(np.nanmin(azs.ess(stacked, chain_axis=0, draw_axis=1))),
                "seconds": seconds,
            }
        )
    ranks = pd.DataFrame(rank_rows)
    ranks.index.name = "simulation"
    diagnostics = pd.DataFrame(simulation_rows)
    diagnostics.index.name = "simulation"
    return SBCResult(
        ranks=ranks,
        n_rank_draws=n_rank_draws,
        simulations=diagnostics,
        uniformity=rank_uniformity(ranks, n_rank_draws, alpha=alpha, seed=seed),
        alpha=alpha,
        model=model_name,
        attrs=provenance(
            seed=seed,
            n_simulations=len(simulations),
            n_rank_draws=n_rank_draws,
            draws=draws,
            tune=tune,
            chains=chains,
        ),
    )


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
    key: tuple | None = None,
    compile_with: Callable[[Any, Any], Any] | None = None,
) -> SBCResult:
    """Run SBC for a PyMC model whose observed variables hold ``pm.Data`` containers.

    Parameters and data are drawn with ``pm.sample_prior_predictive`` of ``model`` itself,
    so the priors checked are exactly the model's; the model is compiled once (nutpie,
    in :data:`bayes_cluster.inference.sampling.compiled_cache`) and re-run on each
    simulated data set with ``with_data``.

    Parameters
    ----------
    model : pymc.Model
        The model as fitted.
    parameters : sequence of str
        Free (or deterministic) variables whose ranks are computed; vector variables
        give one rank per element (``beta_std[workers]``).
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
    key : tuple, optional
        Compile-cache key of the model's structure (a model class's fits use
        ``(class name, *structure)``); default ``("pymc.Model", model)``, one compile per
        model object.
    compile_with : callable, optional
        Replaces nutpie's compiled model before it is cached (e.g. the fused log-density
        of :func:`bayes_cluster.inference.fast_logit.fuse_logit_logp`; give it its own
        ``key``), so that SBC checks the path a simulation study samples.

    Returns
    -------
    SBCResult
        Ranks, per-fit diagnostics and the uniformity verdict.
    """
    import pymc as pm

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

    def quantities(posterior: Any) -> dict[str, np.ndarray]:
        return {
            label: posterior[name].to_numpy()[(slice(None), slice(None), *index)]
            for label, name, index in scalars
        }

    simulations = []
    for i in range(n_simulations):
        truth = {
            label: float(prior_params[name].isel(chain=0, draw=i).to_numpy()[index])
            for label, name, index in scalars
        }
        data = {
            containers[name]: prior_data[name].isel(chain=0, draw=i).to_numpy()
            for name in containers
        }
        simulations.append((truth, data))
    return _calibrate(
        model,
        ("pymc.Model", model) if key is None else key,
        simulations,
        quantities,
        n_rank_draws=n_rank_draws,
        draws=draws,
        tune=tune,
        chains=chains,
        seed=seed,
        alpha=alpha,
        target_accept=target_accept,
        progress=progress,
        model_name=model_name,
        compile_with=compile_with,
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
    fast: bool = False,
) -> SBCResult:
    """SBC of the Bayesian logit (:class:`bayes_cluster.estimators.logistic.BayesianLogit`).

    What is drawn: the model is built on a fixed design (the seven predictors of
    ``design``, default a simulated 60-firm Tumang survey); the intercept and the slopes
    on the model's *standardised* scale (``alpha_std``, ``beta_std``: the parameters the
    priors are stated on) are drawn from its priors (the package defaults unless
    ``priors`` overrides them); ``export`` is drawn given them; the model is refitted and
    the ranks are those of ``alpha_std`` and each ``beta_std``.

    Parameters
    ----------
    design : pandas.DataFrame, optional
        Survey whose predictors form the fixed design (its ``export`` column is only used
        to build the model; it is replaced by the simulated outcomes).
    priors : dict, optional
        Prior overrides, as :class:`~bayes_cluster.estimators.logistic.BayesianLogit` takes them.
    n_simulations, n_rank_draws, draws, tune, chains, seed, alpha, progress
        See :func:`simulation_based_calibration`.
    fast : bool, default False
        Sample with the fused log-density and gradient a simulation study uses
        (:func:`bayes_cluster.inference.fast_logit.fuse_logit_logp`) instead of the PyMC
        graph ``BayesianLogit.fit`` samples.

    Returns
    -------
    SBCResult
        Ranks, diagnostics and verdict.
    """
    from bayes_cluster.estimators.logistic import BayesianLogit
    from bayes_cluster.surveys.codebook import TUMANG_PREDICTORS
    from bayes_cluster.surveys.simulate import simulate_tumang

    if design is None:
        design, _ = simulate_tumang(n=60, seed=seed)
    logit = BayesianLogit("export", list(TUMANG_PREDICTORS), priors=priors)
    prepared = logit._prepare_fit(design)
    model = logit._build(prepared)
    name = "the Bayesian logit (default priors)" if not priors else "the Bayesian logit"
    key = ("BayesianLogit", *logit._compile_key(prepared))
    compile_with = None
    if fast:
        from bayes_cluster.inference.fast_logit import fuse_logit_logp

        resolved = logit.resolved_priors()
        key = (*key, "fused")  # the key of a study's fits (studies.study.BayesianFitter)
        name += ", fused log-density"

        def compile_with(compiled: Any, built: Any) -> Any:
            return fuse_logit_logp(compiled, built, resolved)

    return simulation_based_calibration(
        model,
        ["alpha_std", "beta_std"],
        n_simulations=n_simulations,
        n_rank_draws=n_rank_draws,
        draws=draws,
        tune=tune,
        chains=chains,
        seed=seed,
        alpha=alpha,
        target_accept=0.9,
        progress=progress,
        model_name=name,
        # the key BayesianLogit.fit (or, fast, a study) compiles under: one compiled model
        key=key,
        compile_with=compile_with,
    )


def latent_class_quantities(pi: np.ndarray, theta: np.ndarray) -> np.ndarray:
    r"""Label-invariant test quantities of a latent class model.

    SBC holds for any function of the parameters; a mixture's labels are not identified,
    so the ranks are taken of functions that do not depend on them: the class shares
    sorted in decreasing order, and each item's marginal probability of its last
    category, :math:`\sum_k \pi_k \theta_{kjC}`.

    Parameters
    ----------
    pi : numpy.ndarray
        Class shares, shape ``(..., K)``.
    theta : numpy.ndarray
        Item-response probabilities, shape ``(..., K, J, C)``.

    Returns
    -------
    numpy.ndarray
        Shape ``(..., K + J)``: sorted shares, then the marginal probabilities.
    """
    shares = -np.sort(-pi, axis=-1)
    marginal = np.einsum("...k,...kj->...j", pi, theta[..., -1])
    return np.concatenate([shares, marginal], axis=-1)


def sbc_latent_class(
    *,
    n_classes: int = 2,
    n_firms: int = 60,
    items: Sequence[str] | None = None,
    n_categories: int = 3,
    n_simulations: int = 50,
    n_rank_draws: int = 50,
    draws: int = 300,
    tune: int = 500,
    chains: int = 2,
    seed: int = 0,
    alpha: float = 0.05,
    progress: bool = False,
) -> SBCResult:
    r"""SBC of the Bayesian latent class model (:class:`.BayesianLatentClass`).

    What is drawn, with the model's default priors: :math:`\pi \sim
    \mathrm{Dirichlet}(\alpha_\pi)`, :math:`\theta_{kj\cdot} \sim
    \mathrm{Dirichlet}(\alpha_\theta)`, each firm's class :math:`z_i \sim \pi` and its
    answers :math:`y_{ij} \sim \theta_{z_i j\cdot}`; the model (class indicator
    marginalised) is refitted on the one-hot answers. Ranks are of the label-invariant
    quantities of :func:`latent_class_quantities` (named ``share[1]`` (largest) ..
    ``share[K]`` and ``agree[<item>]``).

    Parameters
    ----------
    n_classes : int
        :math:`K`.
    n_firms : int
        Firms per simulated survey.
    items : sequence of str, optional
        Item names (default: the first four Markusen items; fewer items keep the test
        fast).
    n_categories : int
        Answer categories per item (3 = the collapsed disagree / neutral / agree).
    n_simulations, n_rank_draws, draws, tune, chains, seed, alpha, progress
        See :func:`simulation_based_calibration`.

    Returns
    -------
    SBCResult
        Ranks, diagnostics and verdict.
    """
    from bayes_cluster.estimators.latent_class import BayesianLatentClass
    from bayes_cluster.surveys.markusen import MARKUSEN_ITEMS

    items = list(items) if items is not None else list(MARKUSEN_ITEMS[:4])
    # every item takes exactly the categories 1..n_categories that the simulations draw
    # (not the codebook's five levels of the Markusen items)
    categories = tuple(range(1, n_categories + 1))
    model_object = BayesianLatentClass(
        n_classes, collapse="none", items=items, levels=dict.fromkeys(items, categories)
    )
    priors = model_object.priors
    rng = np.random.default_rng(seed)
    # a first survey with every category present fixes the model's coordinates
    codes = 1 + (np.arange(n_firms)[:, None] + np.arange(len(items))) % n_categories
    model = model_object.build_model(pd.DataFrame(codes, columns=items))
    labels = [f"share[{k + 1}]" for k in range(n_classes)] + [f"agree[{item}]" for item in items]
    simulations = []
    for _ in range(n_simulations):
        pi = rng.dirichlet(np.full(n_classes, priors["class_concentration"]))
        theta = rng.dirichlet(
            np.full(n_categories, priors["item_concentration"]), size=(n_classes, len(items))
        )
        _, answers = simulate_responses(rng, pi, theta, n_firms)  # (firm, item), 1..C
        truth = dict(zip(labels, latent_class_quantities(pi, theta), strict=True))
        simulations.append((truth, {"responses": one_hot(answers, n_categories)}))

    def quantities(posterior: Any) -> dict[str, np.ndarray]:
        pi = posterior["pi"].to_numpy()
        theta = posterior["theta"].to_numpy()
        values = latent_class_quantities(pi, theta)
        return {label: values[..., j] for j, label in enumerate(labels)}

    # what fixes the compiled graph; every container's value is passed to each fit
    structure = (n_classes, tuple(items), n_categories, n_firms, json.dumps(priors, default=str))
    return _calibrate(
        model,
        ("sbc_latent_class", *structure),
        simulations,
        quantities,
        n_rank_draws=n_rank_draws,
        draws=draws,
        tune=tune,
        chains=chains,
        seed=seed,
        alpha=alpha,
        target_accept=0.9,
        progress=progress,
        model_name=f"the Bayesian latent class model (K = {n_classes}, default priors)",
    )

r"""Choosing the number of latent classes, and what the choice does to the verdict.

Three answers to "how many classes?", each on fitted
:class:`~bayes_cluster.estimators.latent_class.BayesianLatentClass` models:

* :func:`select_n_classes_bayes` fits K = 1..k_max and :func:`compare_n_classes`
  compares them by PSIS-LOO (ELPD, its SE, Pareto k, convergence), beside the BIC of the
  maximum-likelihood EM fits;
* :func:`overfitted_mixture` fits one model with too many classes and a sparse Dirichlet
  prior on the shares and reads the posterior number of occupied classes (Rousseau &
  Mengersen 2011);
* :func:`loo_weights` weighs the numbers of classes (stacking or pseudo-BMA, Yao et al.
  2018) and :func:`verdict_over_n_classes` says whether the Markusen verdict depends on
  the choice, with the verdict averaged over K.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.special import logsumexp, softmax

from bayes_cluster.estimators.latent_class import BayesianLatentClass, Collapse, Sampler
from bayes_cluster.estimators.latent_class_em import LatentClassEM
from bayes_cluster.surveys.markusen import MARKUSEN_TYPES

__all__ = [
    "compare_n_classes",
    "loo_weights",
    "overfitted_mixture",
    "select_n_classes_bayes",
    "verdict_over_n_classes",
]


def compare_n_classes(
    models: Mapping[int, BayesianLatentClass], *, em_bic: Mapping[int, float] | None = None
) -> pd.DataFrame:
    """Compare fitted models with different numbers of classes by PSIS-LOO.

    Parameters
    ----------
    models : mapping of int to BayesianLatentClass
        Fitted models by number of classes.
    em_bic : mapping of int to float, optional
        BIC of the EM fit per number of classes, shown beside the LOO figures.

    Returns
    -------
    pandas.DataFrame
        Indexed ``K=k``, best ELPD first: ``elpd_loo``, ``se``, ``p_loo``, ``elpd_diff``
        (to the best), ``se_diff``, ``max_pareto_k``, ``max_r_hat``, ``n_divergences`` and,
        if given, ``bic_em``.
    """
    if not models:
        raise ValueError("no fitted models to compare")
    rows = {}
    pointwise = {}
    for k, model in sorted(models.items()):
        result = model.loo()
        elpd_i = np.asarray(result.elpd_i).reshape(-1)
        pointwise[k] = elpd_i
        diagnostics = model.diagnostics_
        rows[k] = {
            "elpd_loo": float(result.elpd),
            "se": float(result.se),
            "p_loo": float(result.p),
            "max_pareto_k": float(np.nanmax(np.asarray(result.pareto_k))),
            "n_high_pareto_k": int((np.asarray(result.pareto_k) > 0.7).sum()),
            "max_r_hat": float(np.nanmax(diagnostics.table["r_hat"])),
            "n_divergences": int(diagnostics.n_divergences),
        }
    table = pd.DataFrame.from_dict(rows, orient="index")
    best = int(table["elpd_loo"].idxmax())
    table["elpd_diff"] = table["elpd_loo"] - table.loc[best, "elpd_loo"]
    table["se_diff"] = [
        float(np.sqrt(len(pointwise[k]) * np.var(pointwise[k] - pointwise[best])))
        for k in table.index
    ]
    if em_bic is not None:
        table["bic_em"] = [float(em_bic.get(k, np.nan)) for k in table.index]
    table = table.sort_values("elpd_loo", ascending=False)
    table.index = pd.Index([f"K={k}" for k in table.index], name="n_classes")
    columns = [
        "elpd_loo",
        "se",
        "elpd_diff",
        "se_diff",
        "p_loo",
        "max_pareto_k",
        "n_high_pareto_k",
        "max_r_hat",
    ]
    return table[[*columns, "n_divergences", *(["bic_em"] if em_bic is not None else [])]]


def select_n_classes_bayes(
    data: pd.DataFrame,
    k_max: int = 4,
    *,
    collapse: Collapse = "three",
    priors: Mapping[str, float] | None = None,
    items: Sequence[str] | None = None,
    draws: int = 1000,
    tune: int = 1000,
    chains: int = 4,
    random_seed: int | None = None,
    sampler: Sampler = "nutpie",
    em_starts: int = 50,
) -> tuple[pd.DataFrame, dict[int, BayesianLatentClass]]:
    """Fit K = 1..k_max Bayesian latent class models; compare by PSIS-LOO with EM BIC.

    Parameters
    ----------
    data : pandas.DataFrame
        Survey or item frame.
    k_max : int
        Largest number of classes.
    collapse, priors, items
        As in :class:`BayesianLatentClass`.
    draws, tune, chains, random_seed, sampler
        As in :meth:`BayesianLatentClass.fit` (each K gets its own seed from
        ``random_seed``).
    em_starts : int
        Random starts of the EM fits that give the BIC column.

    Returns
    -------
    table : pandas.DataFrame
        :func:`compare_n_classes` output with ``bic_em``.
    models : dict of int to BayesianLatentClass
        The fitted models.
    """
    if int(k_max) != k_max or k_max < 1:
        raise ValueError(f"k_max must be a positive whole number, got {k_max!r}")
    seeds = np.random.SeedSequence(random_seed).generate_state(k_max)
    models: dict[int, BayesianLatentClass] = {}
    em_bic: dict[int, float] = {}
    for k, seed in zip(range(1, k_max + 1), seeds, strict=True):
        model = BayesianLatentClass(k, collapse=collapse, priors=priors, items=items)
        model.fit(
            data, draws=draws, tune=tune, chains=chains, random_seed=int(seed), sampler=sampler
        )
        models[k] = model
        encoded = model.encoded
        em = LatentClassEM(
            k, n_starts=em_starts, random_state=int(seed), n_categories=encoded.em_n_categories()
        ).fit(encoded.codes_frame())
        em_bic[k] = float(em.bic_)
    return compare_n_classes(models, em_bic=em_bic), models


def overfitted_mixture(
    data: pd.DataFrame,
    k_max: int = 5,
    *,
    class_concentration: float = 0.1,
    collapse: Collapse = "three",
    item_concentration: float = 1.0,
    items: Sequence[str] | None = None,
    **fit_kwargs: Any,
) -> tuple[BayesianLatentClass, pd.Series]:
    r"""Fit a sparse overfitted mixture and return the posterior number of occupied classes.

    The alternative to comparing K = 1..k_max by LOO: fit one model with more classes
    than needed and a sparse Dirichlet prior on the shares,
    :math:`\pi \sim \mathrm{Dirichlet}(e_0 \mathbf{1}_{K})`.  Rousseau & Mengersen (2011,
    *JRSS B* 73(5)) show that with :math:`e_0 < d/2` (:math:`d = J (C - 1)` free
    parameters per class, 24 for 12 three-category items) the superfluous classes are
    emptied rather than split; the number of classes is read from the posterior of the
    number of *occupied* classes (Malsiner-Walli, Frühwirth-Schnatter & Grün 2016).

    The default :math:`e_0 = 0.1` is a compromise measured here: the usual
    :math:`e_0 = 0.01`-``0.02`` of Gibbs samplers pushes the empty classes' shares so close
    to the simplex boundary that NUTS diverges (hundreds of divergent transitions at
    n = 60), while :math:`e_0 = 0.5` leaves the empty classes too much mass to be read
    off.  The empty classes' profiles are prior draws, so their R-hat (and their
    labels) are not meaningful; read the occupied-class posterior and the large classes.

    Parameters
    ----------
    data : pandas.DataFrame
        Survey or item frame.
    k_max : int
        Number of classes of the overfitted model.
    class_concentration : float
        :math:`e_0`.
    collapse, items
        As in :class:`BayesianLatentClass`.
    item_concentration : float
        Dirichlet concentration of the item-response probabilities.
    **fit_kwargs
        Passed to :meth:`BayesianLatentClass.fit` (``draws``, ``random_seed``, ...).

    Returns
    -------
    model : BayesianLatentClass
        The fitted overfitted model.
    occupied : pandas.Series
        P(number of occupied classes = m).
    """
    model = BayesianLatentClass(
        k_max,
        collapse=collapse,
        priors={
            "class_concentration": class_concentration,
            "item_concentration": item_concentration,
        },
        items=items,
    )
    model.fit(data, **fit_kwargs)
    model.idata_.attrs["overfitted_mixture"] = (
        f"sparse Dirichlet({class_concentration:g}) on {k_max} class shares "
        "(Rousseau & Mengersen 2011); read the number of occupied classes"
    )
    return model, model.occupied_classes(fit_kwargs.get("random_seed"))


def loo_weights(
    models: Mapping[int, BayesianLatentClass], *, method: str = "stacking"
) -> pd.Series:
    r"""Model weights of each number of classes from PSIS-LOO (Yao et al. 2018).

    ``stacking`` maximises the leave-one-out log score of the weighted mixture of the
    models' predictive distributions,
    :math:`\max_w \sum_i \log \sum_k w_k \exp(\mathrm{elpd}_{ik})` over the simplex;
    ``pseudo-bma`` is :math:`w_k \propto \exp(\mathrm{elpd}_k)` (Akaike-type weights on the
    LOO scale). Both are what :func:`arviz_stats.compare` reports as ``weight``.

    Parameters
    ----------
    models : mapping of int to BayesianLatentClass
        Fitted models by number of classes.
    method : {"stacking", "pseudo-bma"}
        How the weights are computed.

    Returns
    -------
    pandas.Series
        Indexed by the number of classes (ascending), non-negative, summing to 1.
    """
    if not models:
        raise ValueError("no fitted models to weigh")
    ks = sorted(models)
    pointwise = np.column_stack(
        [np.asarray(models[k].loo().elpd_i, dtype=float).reshape(-1) for k in ks]
    )
    if method == "pseudo-bma":
        weights = softmax(pointwise.sum(axis=0))
    elif method == "stacking":
        if len(ks) == 1:
            weights = np.ones(1)
        else:

            def loss(z: np.ndarray) -> float:
                log_w = np.append(z, 0.0) - logsumexp(np.append(z, 0.0))
                return -float(logsumexp(pointwise + log_w, axis=1).sum())

            result = minimize(
                loss,
                np.zeros(len(ks) - 1),
                method="Nelder-Mead",
                options={"xatol": 1e-8, "fatol": 1e-10, "maxiter": 20000},
            )
            weights = softmax(np.append(result.x, 0.0))
    else:
        raise ValueError(f"method must be 'stacking' or 'pseudo-bma', got {method!r}")
    return pd.Series(weights, index=pd.Index(ks, name="n_classes"), name="weight")


def verdict_over_n_classes(
    models: Mapping[int, BayesianLatentClass],
    weights: Mapping[int, float],
    *,
    comparison: pd.DataFrame | None = None,
    majority: float = 0.5,
    hdi_prob: float = 0.94,
) -> tuple[pd.DataFrame, list[str]]:
    """Return the cluster verdict under each number of classes and averaged over them.

    The averaged probability of an event (e.g. "Marshallian firms are the majority") is
    the weighted sum of its probability under each K (the model-averaged posterior is the
    weighted mixture of the per-K posteriors).

    Parameters
    ----------
    models : mapping of int to BayesianLatentClass
        Fitted models by number of classes (their items typed against Markusen).
    weights : mapping of int to float
        Weight of each K (e.g. :func:`loo_weights`), summing to 1.
    comparison : pandas.DataFrame, optional
        :func:`compare_n_classes` output (``elpd_diff``, ``se_diff``, indexed ``K=k``):
        a K is *plausible* when its ELPD is within two SEs of the best.
    majority : float
        Majority threshold of the verdict.
    hdi_prob : float
        HDI mass of the per-K verdicts.

    Returns
    -------
    (pandas.DataFrame, list of str)
        One row per K and a last row ``averaged``: ``weight``, ``elpd_diff``, ``se_diff``,
        ``plausible``, ``verdict`` (text) and ``p_majority_<type>`` per Markusen type; and
        sentences saying whether the choice of K changes the verdict.
    """
    total = float(sum(weights[k] for k in models))
    if not np.isclose(total, 1.0, atol=1e-6):
        raise ValueError(f"the weights must sum to 1, got {total:.6g}")
    rows = {}
    for k in sorted(models):
        verdict = models[k].cluster_verdict(majority=majority, hdi_prob=hdi_prob)
        label = f"K={k}"
        row: dict[str, object] = {"weight": float(weights[k])}
        if comparison is not None:
            diff = float(comparison.loc[label, "elpd_diff"])
            se = float(comparison.loc[label, "se_diff"])
            row.update(elpd_diff=diff, se_diff=se, plausible=bool(diff == 0 or -diff <= 2 * se))
        row["verdict"] = verdict.text
        for name in MARKUSEN_TYPES:
            row[f"p_majority_{name}"] = verdict.probability(name, majority)
        rows[label] = row
    table = pd.DataFrame.from_dict(rows, orient="index")
    p_columns = [f"p_majority_{name}" for name in MARKUSEN_TYPES]
    averaged = {c: float((table["weight"] * table[c]).sum()) for c in p_columns}
    leader = max(averaged, key=averaged.get).removeprefix("p_majority_")
    p_lead = averaged[f"p_majority_{leader}"]
    averaged_row: dict[str, object] = {"weight": float(table["weight"].sum())}
    if comparison is not None:
        averaged_row.update(elpd_diff=np.nan, se_diff=np.nan, plausible=True)
    averaged_row["verdict"] = (
        f"Averaged over K: P({leader} firms are the majority) = {p_lead:.2f}."
    )
    table.loc["averaged"] = pd.Series({**averaged_row, **averaged})
    table.index.name = "n_classes"
    considered = table.index[:-1]
    if comparison is not None:
        considered = [k for k in considered if table.loc[k, "plausible"]]
    spread = {
        name: (
            float(table.loc[considered, f"p_majority_{name}"].min()),
            float(table.loc[considered, f"p_majority_{name}"].max()),
        )
        for name in MARKUSEN_TYPES
    }
    matters = [name for name, (lo, hi) in spread.items() if hi - lo > 0.2]
    which = ", ".join(considered)
    sentences = []
    if len(considered) > 1 and matters:
        details = "; ".join(
            f"P({name} majority) from {spread[name][0]:.2f} to {spread[name][1]:.2f}"
            for name in matters
        )
        sentences.append(
            f"The choice of K matters: the plausible numbers of classes ({which}) give "
            f"different verdicts ({details}). Read the averaged verdict, not one K's."
        )
    elif len(considered) > 1:
        sentences.append(
            f"The choice of K does not change the verdict: the plausible numbers of classes "
            f"({which}) give majority probabilities within 0.2 of each other."
        )
    else:
        sentences.append(
            f"Only {which} is plausible by PSIS-LOO (the others are more than "
            "two SEs worse): the verdict does not hinge on a tie in K."
        )
    sentences.append(
        "Averaged over K with weights "
        + ", ".join(f"{k}: {table.loc[k, 'weight']:.2f}" for k in table.index[:-1])
        + f": P({leader} firms are the majority) = {p_lead:.2f}."
    )
    return table, sentences

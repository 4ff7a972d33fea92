r"""Joint model: the cluster pattern and export orientation in one Bayesian model.

The study ran its two analyses apart: a latent class analysis of the Markusen items and a
logit for ``export``.  The usual bridge, the *two-step* analysis (give each firm its most
likely class, then use the class as a known predictor), pretends the class is known.  With
60 firms it is not.  :class:`JointLatentClassLogit` lets each firm's latent class, learned
from the Markusen items, enter the export model directly, so that the uncertainty of the
class flows into the export coefficients and into the answer to *does the cluster pattern
matter for export orientation?* (the class-effect contrast :math:`\alpha_2 - \alpha_1`).

:class:`ClassLogit` fits the comparison models with the same priors and the same
parameterisation:

* ``classes=None``: the export model without class (one intercept);
* ``classes=modal``: the two-step model, the EM modal class as a fixed predictor;
* ``classes=modal, error_matrix=D``: the maximum-likelihood three-step correction of
  Vermunt (2010), with the classification-error matrix of step 1 held fixed (written here
  as a Bayesian step 3; see :func:`classification_error_matrix`).

Both follow the package's one model contract
(:class:`bayes_cluster.inference.base.BayesianModel`: one ``fit``, ``idata_``,
``diagnostics_``, ``save``/``load``).  The comparison of the approaches on one survey is
:func:`bayes_cluster.analyses.class_approaches.compare_class_approaches`; the ``[joint]``
spec section is :mod:`bayes_cluster.run.joint_section`.

ELPD is compared on the same outcome for every approach: the predictive density of
``export`` given what each approach conditions on, all functions of the items and the
predictors.  For the joint model that is the export likelihood *conditional on the items*,

.. math::

    \log p(y_i \mid \mathbf{u}_i, \mathbf{x}_i)
    = \log \sum_k p(k \mid \mathbf{u}_i)\, p(y_i \mid k, \mathbf{x}_i),
    \qquad p(k \mid \mathbf{u}_i) \propto \pi_k \prod_j \theta_{k j u_{ij}},

not the joint likelihood of items and export (which is stored too, as ``joint``, and is
not comparable with a model of ``export`` alone).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
import xarray as xr

from bayes_cluster.common.dims import (
    CATEGORY,
    CHAIN,
    CLASS_CONTRAST,
    COVARIATE,
    DRAW,
    FIRM,
    INTERCEPT,
    ITEM,
    LATENT_CLASS,
    PREDICTOR,
    TERM,
)
from bayes_cluster.common.latent_class_math import (
    draw_categories,
    log_joint,
    log_marginal,
    safe_log,
    simulate_responses,
)
from bayes_cluster.estimators.latent_class import DEFAULT_PRIORS as LATENT_CLASS_PRIORS
from bayes_cluster.estimators.latent_class import (
    MEMBERSHIP_PRIORS,
    EncodedCovariates,
    _check_covariate_names,
    _membership_log_weights_tensor,
    covariate_scaling,
    encode_covariates,
    encode_items,
    fitted_membership_curve,
    membership_effects_table,
    membership_log_weights,
    prior_membership_weights,
    relabel_draws,
)
from bayes_cluster.estimators.logistic import DEFAULT_PRIORS as LOGIT_PRIORS
from bayes_cluster.estimators.logistic import standardisation
from bayes_cluster.inference.base import BayesianModel
from bayes_cluster.inference.priors import make_prior_variable
from bayes_cluster.inference.sampling import SamplerSettings
from bayes_cluster.inference.summaries import SUMMARY_COLUMNS, hdi
from bayes_cluster.surveys.markusen import MARKUSEN_ITEMS

__all__ = [
    "CLASS_CONTRAST",
    "DEFAULT_PRIORS",
    "ClassLogit",
    "JointData",
    "JointLatentClassLogit",
    "check_reference",
    "class_names_from_profiles",
    "classification_error_matrix",
    "fit_em_classes",
    "joint_priors",
    "merge_priors",
    "prepare_joint_data",
]

DEFAULT_PRIORS: dict[str, Any] = {
    # the export logit's priors (bayes_cluster.estimators.logistic: one source of truth); the
    # intercept prior applies to every class intercept alpha_k
    "intercept": dict(LOGIT_PRIORS["intercept"]),
    "slopes": dict(LOGIT_PRIORS["slopes"]),
    # the mixture's Dirichlet concentrations (bayes_cluster.estimators.latent_class)
    "class_concentration": float(LATENT_CLASS_PRIORS["class_concentration"]),
    "item_concentration": float(LATENT_CLASS_PRIORS["item_concentration"]),
    # spread of class-specific slopes around the common slope (class_slopes=True only)
    "slope_spread": {"dist": "HalfNormal", "sigma": 1.0},
}
"""Default priors of the joint model, as data (standardised predictor scale)."""


def joint_priors(covariates: bool = False) -> dict[str, Any]:
    """Return the joint model's default priors, with or without covariates of membership.

    Parameters
    ----------
    covariates : bool
        True: the class shares come from the membership logit, so ``class_concentration``
        gives way to :data:`~bayes_cluster.estimators.latent_class.MEMBERSHIP_PRIORS`.

    Returns
    -------
    dict
        Prior name -> prior (a copy).

    Examples
    --------
    >>> sorted(set(joint_priors(True)) - set(joint_priors()))
    ['membership_intercept_sd', 'membership_slope_sd']
    """
    if not covariates:
        return dict(DEFAULT_PRIORS)
    shares = {k: v for k, v in DEFAULT_PRIORS.items() if k != "class_concentration"}
    return {**shares, **{k: float(v) for k, v in MEMBERSHIP_PRIORS.items()}}


_CONCENTRATIONS = ("class_concentration", "item_concentration")
# priors given as one positive number: the Dirichlet concentrations and, with covariates of
# class membership, the membership logit's prior SDs (latent_class.MEMBERSHIP_PRIORS)
_POSITIVE_NUMBERS = (*_CONCENTRATIONS, *MEMBERSHIP_PRIORS)

Form = Literal["no_class", "two_step", "three_step_ml"]


# ----------------------------------------------------------------------------- data


@dataclass(frozen=True)
class JointData:
    """Model-ready arrays of one survey.

    Attributes
    ----------
    firm_ids : numpy.ndarray
        Firm labels, in row order.
    items : tuple of str
        Item columns.
    categories : tuple of str
        Category labels (after any collapsing), e.g. ``disagree, neutral, agree``.
    item_indicators : numpy.ndarray
        One-hot responses, shape (firm, item, category); a missing response is a row of
        zeros (it drops out of the firm's likelihood).
    item_codes : numpy.ndarray
        Category 1..C per (firm, item), 0 = missing.
    predictors : tuple of str
        Slope terms (design-matrix columns: a categorical predictor gives dummies).
    design : numpy.ndarray
        Standardised predictor matrix, shape (firm, predictor).
    center, scale : numpy.ndarray
        Centre and scale of each column (as :class:`~logistic.BayesianLogit`:
        mean; SD, or the range of a two-valued column).
    outcome : str
        Outcome column.
    y : numpy.ndarray
        0/1 outcome.
    """

    firm_ids: np.ndarray
    items: tuple[str, ...]
    categories: tuple[str, ...]
    item_indicators: np.ndarray = field(repr=False)
    item_codes: np.ndarray = field(repr=False)
    predictors: tuple[str, ...]
    design: np.ndarray = field(repr=False)
    center: np.ndarray = field(repr=False)
    scale: np.ndarray = field(repr=False)
    outcome: str
    y: np.ndarray = field(repr=False)

    @property
    def n_firms(self) -> int:
        """Number of firms."""
        return int(self.y.shape[0])


def _outcome_and_design(
    frame: pd.DataFrame, predictors: Sequence[str], outcome: str
) -> tuple[np.ndarray, tuple[str, ...], np.ndarray, np.ndarray, np.ndarray]:
    """Validate outcome and predictors; return y, terms, standardised X, centre, scale."""
    from bayes_cluster.surveys.design_matrix import design_matrix

    if outcome not in frame.columns:
        raise ValueError(f"outcome column {outcome!r} is not in the data")
    firms = frame["firm_id"] if "firm_id" in frame.columns else pd.Series(frame.index)
    series = frame[outcome]
    missing = series.isna().to_numpy()
    if missing.any():
        i = int(np.flatnonzero(missing)[0])
        raise ValueError(
            f"outcome {outcome!r} has {int(missing.sum())} missing value(s), first at firm "
            f"{str(firms.iloc[i])!r} (row {i + 1}); the joint model needs a complete outcome"
        )
    y = pd.to_numeric(series, errors="coerce").to_numpy(dtype=float)
    bad = ~np.isin(y, (0.0, 1.0))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"outcome {outcome!r}, firm {str(firms.iloc[i])!r} (row {i + 1}): value "
            f"{series.iloc[i]} is not 0 or 1"
        )
    matrix, info = design_matrix(frame, list(predictors))
    terms = tuple(info.columns)
    center, scale = standardisation(matrix.to_numpy(dtype=float), list(terms))
    design = (matrix.to_numpy(dtype=float) - center) / scale
    return y.astype(np.int64), terms, design, center, scale


def prepare_joint_data(
    frame: pd.DataFrame,
    *,
    items: Sequence[str] = MARKUSEN_ITEMS,
    predictors: Sequence[str],
    outcome: str,
    collapse: Literal["three", "none"] = "three",
) -> JointData:
    """Validate a survey frame and turn it into the arrays of the joint model.

    Items are encoded by :func:`bayes_cluster.estimators.latent_class.encode_items` and predictors
    by :func:`bayes_cluster.surveys.design_matrix.design_matrix`, standardised as
    :class:`~logistic.BayesianLogit` does, so every model of the package sees
    the same numbers.

    Parameters
    ----------
    frame : pandas.DataFrame
        One row per firm.
    items : sequence of str
        Categorical indicator columns of the latent classes (the Markusen items).
    predictors : sequence of str
        Predictors of the outcome (numeric, or categorical -> treatment dummies).
    outcome : str
        0/1 outcome column.
    collapse : {"three", "none"}
        ``"three"`` (default): Likert 1-2 / 3 / 4-5 -> disagree / neutral / agree;
        ``"none"``: the codes as given.

    Returns
    -------
    JointData
        Arrays and names.

    Raises
    ------
    ValueError
        Naming the column (and the first offending row) of any problem: a missing column,
        a missing outcome or predictor value, an outcome that is not 0/1, a bad item code,
        a constant predictor.
    """
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"frame must be a pandas DataFrame, got {type(frame).__name__}")
    items = tuple(items)
    if len(items) < 2:
        raise ValueError(f"the joint model needs at least two items, got {list(items)}")
    absent = [c for c in (outcome, *predictors, *items) if c not in frame.columns]
    if absent:
        raise ValueError(f"columns not in the data: {absent}")
    y, terms, design, center, scale = _outcome_and_design(frame, predictors, outcome)
    encoded = encode_items(frame, items, collapse=collapse)
    return JointData(
        firm_ids=np.asarray(encoded.firms),
        items=encoded.items,
        categories=tuple(encoded.category_labels),
        item_indicators=encoded.one_hot,
        item_codes=encoded.codes,
        predictors=terms,
        design=design,
        center=center,
        scale=scale,
        outcome=outcome,
        y=y,
    )


# -------------------------------------------------------------------------- priors


def merge_priors(defaults: Mapping[str, Any], user: Mapping[str, Any] | None) -> dict[str, Any]:
    """Return ``{**defaults, **user}``, each prior checked (names, families, positive values).

    Parameters
    ----------
    defaults : mapping
        Default priors by name (a subset of :data:`DEFAULT_PRIORS`).
    user : mapping, optional
        The user's overrides.

    Returns
    -------
    dict
        The priors in use: prior mappings as
        :func:`bayes_cluster.inference.priors.validate_prior` cleans them, concentrations
        as floats.

    Raises
    ------
    ValueError
        On an unknown name, a prior of the wrong family or support, or a concentration
        that is not a positive number.

    Examples
    --------
    >>> merge_priors(DEFAULT_PRIORS, {"item_concentration": 0.5})["item_concentration"]
    0.5
    """
    from bayes_cluster.inference.priors import validate_prior

    user = dict(user or {})
    unknown = sorted(set(user) - set(defaults))
    if unknown:
        raise ValueError(f"unknown priors {unknown}; known: {sorted(defaults)}")
    merged: dict[str, Any] = {}
    for name, default in defaults.items():
        prior = user.get(name, default)
        if name in _POSITIVE_NUMBERS:
            if isinstance(prior, bool) or not isinstance(prior, int | float) or prior <= 0:
                raise ValueError(f"prior {name} must be a positive number, got {prior!r}")
            merged[name] = float(prior)
        else:
            support = "positive" if name == "slope_spread" else "real"
            merged[name] = validate_prior(prior, name, support=support)
    return merged


def _prior_table(priors: Mapping[str, Any]) -> pd.DataFrame:
    from bayes_cluster.inference.priors import describe_prior

    rows = []
    for name, prior in priors.items():
        if name in _CONCENTRATIONS:
            text = f"Dirichlet({prior:g} * 1)"
        elif name in MEMBERSHIP_PRIORS:
            text = f"ZeroSumNormal(sigma={prior:g})"
        else:
            text = describe_prior(prior)
        rows.append({"parameter": name, "prior": text, "role": _PRIOR_ROLES[name]})
    return pd.DataFrame(rows).set_index("parameter")


_PRIOR_ROLES = {
    "intercept": "alpha_k: intercept of each class (log-odds at the predictor means)",
    "slopes": "beta: slope per standardised predictor",
    "class_concentration": "pi: class shares (symmetric Dirichlet)",
    "item_concentration": "theta_kj: response probabilities per class and item (Dirichlet)",
    "slope_spread": "tau: spread of class-specific slopes (class_slopes=True only)",
    "membership_intercept_sd": "delta: class intercepts of the membership logit (sum to zero; "
    "covariates only)",
    "membership_slope_sd": "gamma: class slopes of the membership logit per covariate SD "
    "(sum to zero; covariates only)",
}


# ---------------------------------------------------------------------- relabelling


def _apply_permutation(values: np.ndarray, permutation: np.ndarray, axis: int) -> np.ndarray:
    """Reorder ``values`` along ``axis`` (the class axis, after chain and draw)."""
    index = permutation.reshape(permutation.shape + (1,) * (values.ndim - axis - 1))
    return np.take_along_axis(values, index, axis=axis)


def _chain_draw_permutation(
    pi: np.ndarray, theta: np.ndarray, reference: tuple[np.ndarray, np.ndarray]
) -> np.ndarray:
    """Relabel (chain, draw) draws with :func:`~latent_class.relabel_draws`."""
    n_chains, n_draws = pi.shape[:2]
    permutation = relabel_draws(
        pi.reshape(n_chains * n_draws, -1),
        theta.reshape(n_chains * n_draws, *theta.shape[2:]),
        reference=reference,
    )
    return permutation.reshape(n_chains, n_draws, -1)


# ------------------------------------------------------------------------- helpers


def _log_softmax(values: np.ndarray, axis: int = -1) -> np.ndarray:
    from scipy.special import logsumexp

    return values - logsumexp(values, axis=axis, keepdims=True)


def _bernoulli_logit_logp(y: np.ndarray, eta: np.ndarray) -> np.ndarray:
    """``log p(y | logit^-1(eta))``, stable: ``y eta - log(1 + e^eta)``."""
    return y * eta - np.logaddexp(0.0, eta)


def _class_coords(n_classes: int) -> list[int]:
    return list(range(1, n_classes + 1))


def _contrast_labels(class_names: Sequence[str]) -> list[str]:
    return [f"{name} - {class_names[0]}" for name in class_names[1:]]


def _priors_json(priors: Mapping[str, Any]) -> str:
    """Return the priors as canonical JSON (compile keys, provenance)."""
    return json.dumps(priors, sort_keys=True)


def class_names_from_profiles(item_probabilities: np.ndarray, data: JointData) -> list[str]:
    """Name classes ``"1 (Marshallian)"`` when the items are Markusen items, else ``"1"``.

    Parameters
    ----------
    item_probabilities : numpy.ndarray
        Shape (class, item, category): each class's response profile.
    data : JointData
        The encoded survey (its items decide whether Markusen typing applies).

    Returns
    -------
    list of str
        One name per class, in the order of ``item_probabilities``.
    """
    names = [str(k) for k in _class_coords(item_probabilities.shape[0])]
    if not set(data.items) <= set(MARKUSEN_ITEMS):
        return names
    from bayes_cluster.surveys.markusen import best_markusen_type, match_markusen_types

    # categories above the scale midpoint agree, below disagree (1..5 or collapsed 1..3)
    scores = match_markusen_types(item_probabilities, list(data.items))
    types = best_markusen_type(scores, as_names=True)
    return [f"{n} ({t})" for n, t in zip(names, types, strict=True)]


def fit_em_classes(data: JointData, n_classes: int, n_starts: int, seed: int | None):
    """Fit the maximum-likelihood latent class model (EM) of the items: step 1.

    Parameters
    ----------
    data : JointData
        The encoded survey.
    n_classes : int
        Number of classes.
    n_starts : int
        Random starts of EM.
    seed : int, optional
        Seed of the starts.

    Returns
    -------
    bayes_cluster.estimators.latent_class_em.LatentClassEM
        The fitted EM model (classes in decreasing share).
    """
    from bayes_cluster.estimators.latent_class_em import LatentClassEM

    codes = pd.DataFrame(data.item_codes, columns=list(data.items)).replace(0, np.nan)
    em = LatentClassEM(
        n_classes, n_starts=n_starts, random_state=seed, n_categories=len(data.categories)
    )
    return em.fit(codes)


def _em_reference(
    data: JointData, n_classes: int, n_starts: int, seed: int | None
) -> tuple[np.ndarray, np.ndarray]:
    """EM estimate of ``(pi, theta)``, classes in decreasing share (the relabelling target)."""
    em = fit_em_classes(data, n_classes, n_starts, seed)
    return np.asarray(em.class_shares_), em.item_probabilities_.to_numpy()


def check_reference(
    reference: tuple[np.ndarray, np.ndarray], n_classes: int, data: JointData
) -> tuple[np.ndarray, np.ndarray]:
    """Check a relabelling reference ``(class_shares, item_probabilities)`` against the data.

    Parameters
    ----------
    reference : tuple of numpy.ndarray
        Class shares, shape (class,), and item probabilities, shape (class, item, category).
    n_classes : int
        Number of classes of the model.
    data : JointData
        The encoded survey.

    Returns
    -------
    tuple of numpy.ndarray
        The two arrays as floats.

    Raises
    ------
    ValueError
        When ``reference`` is not such a pair, naming the expected shapes.
    """
    if not isinstance(reference, tuple | list) or len(reference) != 2:
        raise ValueError("reference must be a pair (class_shares, item_probabilities)")
    shares = np.asarray(reference[0], dtype=float)
    theta = np.asarray(reference[1], dtype=float)
    expected = (n_classes, len(data.items), len(data.categories))
    if shares.shape != (n_classes,) or theta.shape != expected:
        raise ValueError(
            f"reference must be class shares of shape ({n_classes},) and item probabilities "
            f"of shape {expected}; got {shares.shape} and {theta.shape}"
        )
    return shares, theta


def classification_error_matrix(posterior: np.ndarray, modal: np.ndarray) -> np.ndarray:
    r"""Step-1 classification-error matrix of modal assignment (Vermunt 2010, eq. 6).

    .. math::

        D_{ks} = P(W = s \mid X = k)
        = \frac{\sum_i p(k \mid \mathbf{u}_i)\, [w_i = s]}{\sum_i p(k \mid \mathbf{u}_i)}

    Parameters
    ----------
    posterior : numpy.ndarray
        Shape (firm, class): step-1 posterior class probabilities.
    modal : numpy.ndarray
        Shape (firm,): assigned class, 1..K.

    Returns
    -------
    numpy.ndarray
        Shape (class, class); row ``k`` is the distribution of the assigned class of firms
        truly in class ``k`` (rows sum to one).

    Examples
    --------
    >>> classification_error_matrix(np.array([[0.9, 0.1], [0.2, 0.8]]), np.array([1, 2]))
    array([[0.81818182, 0.18181818],
           [0.11111111, 0.88888889]])
    """
    posterior = np.asarray(posterior, dtype=float)
    modal = np.asarray(modal)
    n_classes = posterior.shape[1]
    if modal.shape != (posterior.shape[0],):
        raise ValueError(
            f"modal has shape {modal.shape}; expected ({posterior.shape[0]},) like posterior"
        )
    if modal.min() < 1 or modal.max() > n_classes:
        raise ValueError(f"modal classes must be in 1..{n_classes}")
    assigned = np.eye(n_classes)[modal - 1]  # (firm, s)
    return (posterior.T @ assigned) / posterior.sum(axis=0)[:, None]


def _uses(ds: xr.Dataset, name: str, value: Any) -> bool:
    dim = value[0] if isinstance(value, tuple) else name
    return dim in ds.dims


def _linear_predictor(model: Any, design, alpha, n_classes: int):
    """``eta[i, k] = alpha_k + x_i' beta_k`` (firm, class) in PyMC, shared by both models."""
    import pymc as pm
    import pytensor.tensor as pt

    beta = make_prior_variable("beta", model.priors["slopes"], dims=PREDICTOR)
    if getattr(model, "class_slopes", False):
        tau = make_prior_variable("tau", model.priors["slope_spread"], dims=PREDICTOR)
        offset = pm.Normal("beta_offset", 0.0, 1.0, dims=(LATENT_CLASS, PREDICTOR))
        beta_k = beta[None, :] + tau[None, :] * offset  # non-centred partial pooling
        return alpha[None, :] + pt.dot(design, beta_k.T)
    if n_classes == 0:  # one intercept
        return (alpha + pt.dot(design, beta))[:, None]
    return alpha[None, :] + pt.dot(design, beta)[:, None]


def _constant_data(data: JointData) -> xr.Dataset:
    """Return what a saved fit needs to rebuild :class:`JointData` (design, item codes)."""
    values = {
        "design": ((FIRM, PREDICTOR), data.design),
        "center": ((PREDICTOR,), data.center),
        "scale": ((PREDICTOR,), data.scale),
    }
    coords: dict[str, Any] = {FIRM: list(data.firm_ids), PREDICTOR: list(data.predictors)}
    if data.items:
        values["item_codes"] = ((FIRM, ITEM), data.item_codes)
        coords[ITEM] = list(data.items)
    return xr.Dataset(values, coords=coords)


def _data_from_tree(tree: xr.DataTree, outcome: str) -> JointData:
    """Rebuild the fit's :class:`JointData` from a saved DataTree (``constant_data`` group)."""
    constant = tree["constant_data"].to_dataset()
    if "item_codes" in constant.data_vars:
        codes = constant["item_codes"].transpose(FIRM, ITEM).to_numpy().astype(np.int64)
        categories = tuple(str(c) for c in tree["posterior"][CATEGORY].to_numpy())
        items = tuple(str(i) for i in constant[ITEM].to_numpy())
        # one-hot of codes 1..C; a missing answer (0) is a row of zeros
        indicators = (codes[..., None] == np.arange(1, len(categories) + 1)).astype(float)
    else:
        n_firms = constant.sizes[FIRM]
        codes = np.zeros((n_firms, 0), dtype=np.int64)
        categories, items = (), ()
        indicators = np.zeros((n_firms, 0, 0))
    return JointData(
        firm_ids=constant[FIRM].to_numpy(),
        items=items,
        categories=categories,
        item_indicators=indicators,
        item_codes=codes,
        predictors=tuple(str(p) for p in constant[PREDICTOR].to_numpy()),
        design=constant["design"].transpose(FIRM, PREDICTOR).to_numpy(),
        center=constant["center"].to_numpy(),
        scale=constant["scale"].to_numpy(),
        outcome=outcome,
        y=tree["observed_data"][outcome].to_numpy().astype(np.int64),
    )


# ---------------------------------------------------------------------- the models


class _ExportModel(BayesianModel):
    """Shared result accessors of :class:`JointLatentClassLogit` and :class:`ClassLogit`."""

    data_: JointData | None = None
    class_names_: list[str]
    hdi_prob: float = 0.94
    outcome: str
    priors: dict[str, Any]

    @property
    def loo_variable(self) -> str:  # type: ignore[override]
        """The ``log_likelihood`` variable :meth:`loo` scores: the outcome."""
        return self.outcome

    def _diagnostic_variables(self, tree: xr.DataTree) -> list[str]:
        present = tree["posterior"].data_vars
        names = ("pi", "theta", "alpha", "beta", "tau", "delta", "gamma")
        return [v for v in names if v in present]

    def _fitted_state(self) -> dict[str, Any]:
        return {"class_names": list(self.class_names_)}

    def _restore(self, tree: xr.DataTree, state: Mapping[str, Any]) -> None:
        self.class_names_ = list(state["class_names"])
        self.data_ = _data_from_tree(tree, self.outcome)

    def prior_summary(self) -> pd.DataFrame:
        """Return the priors in use, one row per parameter (as rstanarm's ``prior_summary``).

        Returns
        -------
        pandas.DataFrame
            Columns ``prior`` and ``role``, indexed by parameter name.
        """
        return _prior_table(self.priors)

    def fitted_probabilities(self) -> np.ndarray:
        r"""Posterior draws of each firm's probability of ``outcome = 1``.

        For the joint model this is :math:`p(y_i = 1 \mid \mathbf{u}_i, \mathbf{x}_i)`, the
        class mixed over :math:`p(k \\mid \\mathbf{u}_i)`; for :class:`ClassLogit` the
        probability given what it conditions on.  Read off the stored export
        log-likelihood (``p`` for a firm with ``y = 1``, ``1 - p`` for ``y = 0``).

        Returns
        -------
        numpy.ndarray
            Shape (chain, draw, firm).
        """
        idata = self._require_fit()
        log_likelihood = idata["log_likelihood"][self.outcome].transpose(CHAIN, DRAW, FIRM)
        likelihood = np.exp(log_likelihood.to_numpy())
        y = idata["observed_data"][self.outcome].to_numpy()
        return np.where(y == 1, likelihood, 1.0 - likelihood)

    def sample_posterior_predictive(self, random_seed: int | None = None) -> xr.DataTree:
        """Replicate the outcome of every fitted firm from each posterior draw.

        :meth:`fit` already stores one replicate per draw; this redraws it with a seed,
        from the probabilities of :meth:`fitted_probabilities`.

        Parameters
        ----------
        random_seed : int, optional
            Seed.

        Returns
        -------
        xarray.DataTree
            The ``posterior_predictive`` group (the outcome, dims chain, draw, firm), also
            replaced in :attr:`idata_`.
        """
        tree = self._require_fit()
        p = self.fitted_probabilities()
        rng = np.random.default_rng(random_seed)
        replicated = tree["posterior_predictive"].to_dataset().copy()
        replicated[self.outcome] = (
            replicated[self.outcome].dims,
            (rng.random(p.shape) < p).astype(np.int64),
        )
        tree["posterior_predictive"] = xr.DataTree(replicated)
        return tree["posterior_predictive"]

    def coefficient_draws(self) -> xr.DataArray:
        """Posterior draws of the coefficients on the original predictor scale.

        Returns
        -------
        xarray.DataArray
            Dims (chain, draw, term): one ``Intercept`` per class when there are classes
            (``Intercept[<class>]``, log-odds at predictors = 0), then the slopes (per unit
            of each predictor).  With class-specific slopes, the common slope ``workers``
            is followed by each class's ``workers[<class>]``, and each class's intercept
            uses its own slopes.
        """
        idata = self._require_fit()
        data = self.data_
        assert data is not None
        posterior = idata["posterior"]
        beta = posterior["beta"].transpose(CHAIN, DRAW, ..., PREDICTOR).to_numpy()
        alpha = posterior["alpha"].transpose(CHAIN, DRAW, ...).to_numpy()
        if alpha.ndim == 2:
            alpha = alpha[..., None]
        class_slopes = beta.ndim == 4
        if class_slopes:  # (chain, draw, class, predictor)
            per_class = beta / data.scale
            common = posterior["beta_common"].transpose(CHAIN, DRAW, PREDICTOR).to_numpy()
            slopes = common / data.scale
            intercepts = alpha - (per_class * data.center).sum(axis=-1)
        else:
            slopes = beta / data.scale
            intercepts = alpha - (slopes * data.center).sum(axis=-1, keepdims=True)
        if intercepts.shape[-1] == 1:
            names = [INTERCEPT]
        else:
            names = [f"{INTERCEPT}[{name}]" for name in self.class_names_]
        names += list(data.predictors)
        pieces = [intercepts, slopes]
        if class_slopes:
            for k, name in enumerate(self.class_names_):
                pieces.append(per_class[:, :, k, :])
                names += [f"{term}[{name}]" for term in data.predictors]
        return xr.DataArray(
            np.concatenate(pieces, axis=-1),
            dims=(CHAIN, DRAW, TERM),
            coords={TERM: names},
            name="coefficient",
        )

    def class_effect(self) -> xr.DataArray | None:
        """Posterior draws of the class-effect contrasts ``alpha_k - alpha_1`` (log-odds).

        Returns
        -------
        xarray.DataArray or None
            Dims (chain, draw, class_contrast); None for a model without classes.
        """
        posterior = self._require_fit()["posterior"]
        if "class_effect" not in posterior.data_vars:
            return None
        return posterior["class_effect"]

    def _coefficient_pieces(self) -> list[tuple[str, np.ndarray]]:
        """(term, draws) of the coefficients and class contrasts: the comparison's rows."""
        pieces: list[tuple[str, np.ndarray]] = []
        coefficients = self.coefficient_draws()
        for term in coefficients[TERM].to_numpy():
            pieces.append((str(term), coefficients.sel({TERM: term}).to_numpy()))
        contrast = self.class_effect()
        if contrast is not None:
            for label in contrast[CLASS_CONTRAST].to_numpy():
                values = contrast.sel({CLASS_CONTRAST: label}).to_numpy()
                pieces.append((f"class effect: {label}", values))
        return pieces

    def _parameter_pieces(self) -> list[tuple[str, np.ndarray]]:
        """(row, draws) of the mixture parameters: ``pi``, ``theta`` and ``tau``."""
        posterior = self._require_fit()["posterior"]
        pieces: list[tuple[str, np.ndarray]] = []
        if "pi" in posterior.data_vars:
            pi = posterior["pi"].transpose(CHAIN, DRAW, LATENT_CLASS).to_numpy()
            for k, name in enumerate(self.class_names_):
                pieces.append((f"pi[{name}]", pi[..., k]))
        if "theta" in posterior.data_vars:
            theta = posterior["theta"].transpose(CHAIN, DRAW, LATENT_CLASS, ITEM, CATEGORY)
            values = theta.to_numpy()
            items = theta[ITEM].to_numpy()
            categories = theta[CATEGORY].to_numpy()
            for k, name in enumerate(self.class_names_):
                for j, item in enumerate(items):
                    for c, category in enumerate(categories):
                        pieces.append((f"theta[{name}, {item}, {category}]", values[..., k, j, c]))
        if "tau" in posterior.data_vars:
            tau = posterior["tau"].transpose(CHAIN, DRAW, PREDICTOR)
            for p, predictor in enumerate(tau[PREDICTOR].to_numpy()):
                pieces.append((f"tau[{predictor}]", tau.to_numpy()[..., p]))
        if "gamma" in posterior.data_vars:  # the membership logit, against class 1
            delta = posterior["delta"].transpose(CHAIN, DRAW, CLASS_CONTRAST).to_numpy()
            gamma = posterior["gamma"].transpose(CHAIN, DRAW, COVARIATE, CLASS_CONTRAST)
            covariates = gamma[COVARIATE].to_numpy()
            for k, name in enumerate(self.class_names_[1:]):
                pieces.append((f"delta[{name}]", delta[..., k]))
                for p, covariate in enumerate(covariates):
                    pieces.append((f"gamma[{covariate}, {name}]", gamma.to_numpy()[..., p, k]))
        return pieces

    def coefficient_summary(self, hdi_prob: float | None = None) -> pd.DataFrame:
        """Posterior summary of the coefficients (original scale) and class contrasts.

        The rows the comparison of approaches tabulates (see :meth:`summary` for every
        parameter).

        Parameters
        ----------
        hdi_prob : float, optional
            Probability of the highest-density intervals (default :attr:`hdi_prob`).

        Returns
        -------
        pandas.DataFrame
            Indexed by term; columns ``mean``, ``sd``, ``hdi_lower``, ``hdi_upper``,
            ``hdi_width``, ``prob_positive``, ``r_hat``, ``ess_bulk``, ``ess_tail``.
        """
        return _summary_rows(self._coefficient_pieces(), self._hdi(hdi_prob))

    def summary(self, hdi_prob: float | None = None) -> pd.DataFrame:
        """Posterior summary: coefficients, class contrasts and the mixture's parameters.

        Rows: the coefficients on the original predictor scale (``Intercept[<class>]``,
        one per predictor, per class with class-specific slopes), the class-effect
        contrasts (``class effect: <class k> - <class 1>``), then the class shares
        ``pi[<class>]``, the item-response probabilities
        ``theta[<class>, <item>, <category>]`` (joint model) and the slope spreads
        ``tau[<predictor>]`` (class-specific slopes; standardised scale), and the
        membership logit's ``delta[<class>]`` and ``gamma[<covariate>, <class>]``
        (log-odds against class 1, per covariate SD), where the model has them.

        Parameters
        ----------
        hdi_prob : float, optional
            Probability of the highest-density intervals (default :attr:`hdi_prob`).

        Returns
        -------
        pandas.DataFrame
            Indexed by term; columns ``mean``, ``sd``, ``hdi_lower``, ``hdi_upper``,
            ``hdi_width``, ``prob_positive``, ``r_hat``, ``ess_bulk``, ``ess_tail``.
        """
        pieces = self._coefficient_pieces() + self._parameter_pieces()
        return _summary_rows(pieces, self._hdi(hdi_prob))

    def _hdi(self, hdi_prob: float | None) -> float:
        return self.hdi_prob if hdi_prob is None else float(hdi_prob)


def _summary_rows(pieces: list[tuple[str, np.ndarray]], prob: float) -> pd.DataFrame:
    """One summary row per (name, (chain, draw) draws); :data:`SUMMARY_COLUMNS` and more."""
    from bayes_cluster.inference.diagnostics import diagnostics_table

    names = [name for name, _ in pieces]
    stacked = np.stack([values for _, values in pieces], axis=-1)  # (chain, draw, row)
    diagnostics = diagnostics_table(
        xr.Dataset({"row": ((CHAIN, DRAW, TERM), stacked)}, coords={TERM: np.arange(len(names))})
    )
    rows = []
    for index, (name, values) in enumerate(pieces):
        lower, upper = hdi(values, prob)
        checks = diagnostics.iloc[index]
        rows.append(
            {
                TERM: name,
                "mean": float(values.mean()),
                "sd": float(values.std(ddof=1)),
                "hdi_lower": lower,
                "hdi_upper": upper,
                "hdi_width": upper - lower,
                "prob_positive": float((values > 0).mean()),
                "r_hat": float(checks["r_hat"]),
                "ess_bulk": float(checks["ess_bulk"]),
                "ess_tail": float(checks["ess_tail"]),
            }
        )
    table = pd.DataFrame(rows).set_index(TERM)
    assert [c for c in table.columns if c in SUMMARY_COLUMNS] == list(SUMMARY_COLUMNS)
    return table


@dataclass(frozen=True)
class _JointFit:
    """One prepared fit of :class:`JointLatentClassLogit`."""

    data: JointData
    reference: tuple[np.ndarray, np.ndarray]
    class_names: list[str]
    covariates: EncodedCovariates | None = None


class JointLatentClassLogit(_ExportModel):
    r"""Latent class mixture over the items and logit for the outcome, sharing each firm's class.

    .. math::

        \pi &\sim \mathrm{Dirichlet}(a_\pi \mathbf{1}_K), \qquad
        \theta_{kj\cdot} \sim \mathrm{Dirichlet}(a_\theta \mathbf{1}_{C}), \\
        \alpha_k &\sim p_\alpha, \qquad \beta_p \sim p_\beta
        \quad (\text{standardised predictors } \tilde x_{ip}), \\
        \eta_{ik} &= \alpha_k + \tilde{\mathbf{x}}_i^\top \beta_k, \qquad
        \beta_k = \beta \text{ or } \beta + \tau \odot z_k,\;
        z_{kp} \sim N(0, 1),\; \tau_p \sim p_\tau
        \quad(\text{class\_slopes}), \\
        p(\mathbf{u}_i, y_i) &= \sum_{k=1}^{K} \pi_k
        \prod_{j} \theta_{k j u_{ij}}\;
        \mathrm{Bernoulli}\!\left(y_i \mid \operatorname{logit}^{-1}\eta_{ik}\right).

    The class :math:`z_i` is summed out (``logsumexp``), so NUTS samples only continuous
    parameters; the log of the last line, summed over firms, is the model's likelihood
    (a ``pm.Potential``).  Missing item responses drop out of the product over ``j``.

    **Covariates of class membership** (``covariates=[...]``): the class shares then depend
    on each firm's characteristics :math:`\mathbf{w}_i` (standardised: mean 0, SD 1)
    through the multinomial logit of
    :class:`~bayes_cluster.estimators.latent_class.BayesianLatentClass`, which replaces
    :math:`\pi_k` above:

    .. math::

        \delta \sim \mathrm{ZeroSumNormal}(s_\delta), \qquad
        \gamma_{p\cdot} \sim \mathrm{ZeroSumNormal}(s_\gamma), \qquad
        \log P(z_i = k \mid \mathbf{w}_i) = \delta_k + \mathbf{w}_i^\top\gamma_{\cdot k}
        - \operatorname{logsumexp}_l(\delta_l + \mathbf{w}_i^\top\gamma_{\cdot l}).

    After relabelling (:math:`\delta, \gamma` permuted with the classes) they are stored
    as log-odds against class 1: ``delta`` :math:`= \delta_k - \delta_1` and ``gamma``
    :math:`= \gamma_{pk} - \gamma_{p1}` per SD of covariate :math:`p`
    (:meth:`membership_effects`, :meth:`membership_curve`); ``pi`` is then the mean of the
    firms' membership probabilities.  A covariate may also be a predictor of the outcome:
    its slope :math:`\beta_p` is then its direct effect on the outcome *within* a class,
    and the class effects are adjusted for it (leaving it out of the outcome logit would
    let a covariate that drives both class and outcome pass its effect off as a class
    effect).  It may not be an item or the outcome itself.

    Priors are symmetric in the class labels, so the posterior has ``K!`` equivalent modes.
    After sampling, every draw is relabelled
    (:func:`bayes_cluster.estimators.latent_class.relabel_draws`) to match a reference
    item profile — the EM fit (classes in decreasing share, poLCA's order) unless one is
    given — and ``pi``, ``theta``, ``alpha`` and class slopes are permuted together.  The
    class-effect contrasts :math:`\alpha_k - \alpha_1` (``class_effect``) answer *does the
    cluster pattern matter for export orientation?*; they do not depend on the
    standardisation (the slopes are shared), except with class-specific slopes, where they
    are contrasts at the predictor means.

    Stored per firm: ``log_likelihood/export`` is
    :math:`\log p(y_i \mid \mathbf{u}_i, \mathbf{x}_i)` (the export likelihood conditional on
    the items, the quantity compared by LOO with the other export models) and
    ``log_likelihood/joint`` is :math:`\log p(\mathbf{u}_i, y_i \mid \mathbf{x}_i)`;
    ``class_membership/class_probability`` is :math:`p(z_i = k \mid \mathbf{u}_i, y_i)` per
    draw; ``posterior_predictive/export`` draws :math:`y_i` from
    :math:`p(y_i \mid \mathbf{u}_i, \mathbf{x}_i)`; ``constant_data`` holds the
    standardised design, its centre and scale and the item codes (what
    :meth:`~bayes_cluster.inference.base.BayesianModel.load` needs).

    Parameters
    ----------
    n_classes : int
        Number of latent classes ``K`` (>= 2).
    items : sequence of str
        Item columns (default the twelve Markusen items).
    predictors : sequence of str
        Numeric predictors of the outcome.
    outcome : str
        0/1 outcome column.
    class_slopes : bool
        Let the slopes vary by class, partially pooled (non-centred) around a common slope.
    collapse : {"three", "none"}
        ``"three"`` (default): Likert 1-2 / 3 / 4-5 as disagree / neutral / agree (as the
        latent class model); ``"none"``: the codes as given.
    priors : mapping, optional
        Overrides of :data:`DEFAULT_PRIORS`, e.g. ``{"intercept": {"dist": "Normal",
        "mu": 0, "sigma": 2.5}, "item_concentration": 0.5}``; with ``covariates`` also
        :data:`~bayes_cluster.estimators.latent_class.MEMBERSHIP_PRIORS` (and no
        ``class_concentration``: the shares are the membership logit's).
    hdi_prob : float
        Probability of the reported highest-density intervals.
    covariates : sequence of str, optional
        Numeric columns on which class membership depends (multinomial logit).

    Examples
    --------
    >>> from bayes_cluster.surveys.simulate import simulate_tumang
    >>> frame, truth = simulate_tumang(60, seed=1, class_effects={"Hub-and-Spoke": 1.5})
    >>> model = JointLatentClassLogit(n_classes=2, predictors=["workers"], outcome="export")
    >>> model.prior_summary().loc["slopes", "prior"]
    'StudentT(nu=7, mu=0, sigma=1)'
    >>> idata = model.fit(frame, draws=500, tune=500, chains=2, random_seed=1)  # doctest: +SKIP
    >>> model.summary().loc["class effect: 2 (Hub-and-Spoke) - 1 (Marshallian)"]  # doctest: +SKIP
    """

    default_priors: Mapping[str, Any] = DEFAULT_PRIORS

    def __init__(
        self,
        n_classes: int = 2,
        *,
        items: Sequence[str] = MARKUSEN_ITEMS,
        predictors: Sequence[str],
        outcome: str,
        class_slopes: bool = False,
        collapse: Literal["three", "none"] = "three",
        priors: Mapping[str, Any] | None = None,
        hdi_prob: float = 0.94,
        covariates: Sequence[str] | None = None,
    ) -> None:
        if isinstance(n_classes, bool) or int(n_classes) != n_classes or n_classes < 2:
            raise ValueError(
                f"n_classes must be a whole number >= 2 (a class effect needs two classes), "
                f"got {n_classes!r}"
            )
        if n_classes > 5:
            raise ValueError(
                f"n_classes must be at most 5 (relabelling tries K!), got {n_classes}"
            )
        if not 0 < hdi_prob < 1:
            raise ValueError(f"hdi_prob must be in (0, 1), got {hdi_prob!r}")
        self.n_classes = int(n_classes)
        self.items = tuple(items)
        self.predictors = tuple(predictors)
        self.outcome = outcome
        self.class_slopes = bool(class_slopes)
        if collapse not in ("three", "none"):
            raise ValueError(f"collapse must be 'three' or 'none', got {collapse!r}")
        self.collapse = collapse
        self.hdi_prob = float(hdi_prob)
        self.covariates = _check_covariate_names(covariates, self.n_classes)
        for name in self.covariates or ():
            if name in self.items:
                raise ValueError(
                    f"covariate {name!r} is an item of the classes; a covariate cannot also "
                    "be an item"
                )
            if name == outcome:
                raise ValueError(
                    f"covariate {name!r} is the outcome; the outcome cannot also shift class "
                    "membership (it is explained by the class, not a cause of it)"
                )
        self.priors = merge_priors(joint_priors(bool(self.covariates)), priors)
        self.class_names_ = [str(k) for k in _class_coords(self.n_classes)]

    def config(self) -> dict[str, Any]:
        """Return the constructor arguments as JSON-able values (``cls(**config)``).

        Returns
        -------
        dict
            ``n_classes``, ``items``, ``predictors``, ``outcome``, ``class_slopes``,
            ``collapse``, ``priors`` (all of them, as used) and ``hdi_prob``; and
            ``covariates`` when set.
        """
        return {
            "n_classes": self.n_classes,
            "items": list(self.items),
            "predictors": list(self.predictors),
            "outcome": self.outcome,
            "class_slopes": self.class_slopes,
            "collapse": self.collapse,
            "priors": json.loads(json.dumps(self.priors)),
            "hdi_prob": self.hdi_prob,
            # only when set: fits without covariates keep the config they always had
            **({"covariates": list(self.covariates)} if self.covariates else {}),
        }

    def prepare(self, frame: pd.DataFrame) -> JointData:
        """Validate ``frame`` and return the model's arrays (:func:`prepare_joint_data`).

        Parameters
        ----------
        frame : pandas.DataFrame
            The survey.

        Returns
        -------
        JointData
        """
        return prepare_joint_data(
            frame,
            items=self.items,
            predictors=self.predictors,
            outcome=self.outcome,
            collapse=self.collapse,
        )

    def build_model(
        self,
        frame: pd.DataFrame | JointData,
        covariates: EncodedCovariates | None = None,
    ):
        """Build the PyMC model (class marginalised; data in ``pm.Data`` containers).

        Parameters
        ----------
        frame : pandas.DataFrame or JointData
            The survey, or its prepared arrays.
        covariates : EncodedCovariates, optional
            The encoded covariates of class membership (default: read from ``frame``
            when it is a survey frame and the model has ``covariates``).

        Returns
        -------
        pymc.Model
            With ``pm.Data`` ``item_indicators``, ``design`` and ``y`` (and, with
            covariates, ``covariates``; swappable with nutpie's ``with_data`` for data of
            the same shape) and the potential ``likelihood``.

        Raises
        ------
        ValueError
            When the model has covariates and their values are not known.
        """
        import pymc as pm
        import pytensor.tensor as pt

        if covariates is None and self.covariates and isinstance(frame, pd.DataFrame):
            covariates = encode_covariates(frame, self.covariates)
        if self.covariates and covariates is None:
            raise ValueError(
                f"this model has covariates {list(self.covariates)}: build it from the "
                "survey frame (or pass covariates=) so their values are known"
            )
        data = frame if isinstance(frame, JointData) else self.prepare(frame)
        n, n_items, n_categories = data.item_indicators.shape
        coords = {
            FIRM: list(data.firm_ids),
            ITEM: list(data.items),
            CATEGORY: list(data.categories),
            LATENT_CLASS: _class_coords(self.n_classes),
            PREDICTOR: list(data.predictors),
        }
        shares_a = self.priors.get("class_concentration")
        theta_a = self.priors["item_concentration"]
        with pm.Model(coords=coords) as model:
            indicators = pm.Data(
                "item_indicators", data.item_indicators, dims=(FIRM, ITEM, CATEGORY)
            )
            design = pm.Data("design", data.design, dims=(FIRM, PREDICTOR))
            y = pm.Data("y", data.y, dims=FIRM)
            if covariates is not None:
                # log P(z_i = k | w_i), (firm, class): latent_class's membership logit
                log_weights = _membership_log_weights_tensor(
                    covariates, self.priors, intercept="delta"
                )
            else:
                pi = pm.Dirichlet("pi", a=np.full(self.n_classes, shares_a), dims=LATENT_CLASS)
                log_weights = pt.log(pi)[None, :]
            theta = pm.Dirichlet(
                "theta",
                a=np.full((self.n_classes, n_items, n_categories), theta_a),
                dims=(LATENT_CLASS, ITEM, CATEGORY),
            )
            alpha = make_prior_variable("alpha", self.priors["intercept"], dims=LATENT_CLASS)
            eta = _linear_predictor(self, design, alpha, self.n_classes)  # (firm, class)
            # log p(u_i | z_i = k): matrix product of one-hot responses and log theta
            log_items = pt.dot(
                indicators.reshape((n, n_items * n_categories)),
                pt.log(theta).reshape((self.n_classes, n_items * n_categories)).T,
            )
            log_outcome = y[:, None] * eta - pt.softplus(eta)
            pm.Potential(
                "likelihood",
                pt.logsumexp(log_weights + log_items + log_outcome, axis=1).sum(),
            )
        return model

    def sample_prior_predictive(
        self, frame: pd.DataFrame, draws: int = 500, random_seed: int | None = None
    ) -> xr.DataTree:
        r"""Draw parameters from the priors and surveys from the model, given the predictors.

        The full generative process of the joint model, with NumPy (no compiling): for each
        prior draw, every firm gets a class :math:`z_i \sim \mathrm{Categorical}(\pi)`,
        answers :math:`u_{ij} \sim \mathrm{Categorical}(\theta_{z_i j})` and an outcome
        :math:`y_i \sim \mathrm{Bernoulli}(\operatorname{logit}^{-1}\eta_{i z_i})` at its
        observed predictors.  Use it to check that the priors allow plausible export
        shares before fitting.

        Parameters
        ----------
        frame : pandas.DataFrame
            The survey (its predictors are used; items and outcome only for validation).
        draws : int
            Number of prior draws.
        random_seed : int, optional
            Seed.

        Returns
        -------
        xarray.DataTree
            Groups ``prior`` (``pi``, ``theta``, ``alpha``, ``beta``) and
            ``prior_predictive`` (the outcome and ``items``, category codes 1..C), with a
            single chain.
        """
        from scipy.special import expit

        from bayes_cluster.inference.priors import sample_prior

        data = self.prepare(frame)
        rng = np.random.default_rng(random_seed)
        n, n_items, n_categories = data.item_indicators.shape
        k = self.n_classes
        if self.covariates:
            x = encode_covariates(frame, self.covariates).values
            # each firm's own class weights (draw, firm, class); pi is their mean
            weights = prior_membership_weights(x, k, self.priors, rng, draws)
            pi = weights.mean(axis=1)
        else:
            pi = rng.dirichlet(np.full(k, self.priors["class_concentration"]), size=draws)
        theta = rng.dirichlet(
            np.full(n_categories, self.priors["item_concentration"]), size=(draws, k, n_items)
        )
        alpha = sample_prior(self.priors["intercept"], (draws, k), rng)
        beta = sample_prior(self.priors["slopes"], (draws, len(data.predictors)), rng)
        if self.class_slopes:
            tau = sample_prior(self.priors["slope_spread"], (draws, len(data.predictors)), rng)
            slopes = beta[:, None, :] + tau[:, None, :] * rng.normal(
                size=(draws, k, len(data.predictors))
            )
        else:
            slopes = np.broadcast_to(beta[:, None, :], (draws, k, len(data.predictors)))
        if self.covariates:
            classes = draw_categories(rng, weights)  # (draw, firm)
            answers = theta[
                np.arange(draws)[:, None, None], classes[..., None], np.arange(n_items)
            ]
            items = draw_categories(rng, answers) + 1  # (draw, firm, item)
        else:
            classes, items = simulate_responses(rng, pi, theta, n)  # (draw, firm), (.., item)
        draw_index = np.arange(draws)[:, None]
        eta = alpha[draw_index, classes] + np.einsum(
            "np,dnp->dn", data.design, slopes[draw_index, classes]
        )
        outcome = (rng.random((draws, n)) < expit(eta)).astype(np.int64)
        coords = {
            CHAIN: [0],
            DRAW: np.arange(draws),
            LATENT_CLASS: _class_coords(k),
            ITEM: list(data.items),
            CATEGORY: list(data.categories),
            PREDICTOR: list(data.predictors),
            FIRM: list(data.firm_ids),
        }
        prior = xr.Dataset(
            {
                "pi": ((CHAIN, DRAW, LATENT_CLASS), pi[None]),
                "theta": ((CHAIN, DRAW, LATENT_CLASS, ITEM, CATEGORY), theta[None]),
                "alpha": ((CHAIN, DRAW, LATENT_CLASS), alpha[None]),
                "beta": ((CHAIN, DRAW, PREDICTOR), beta[None]),
            }
        )
        predictive = xr.Dataset(
            {
                data.outcome: ((CHAIN, DRAW, FIRM), outcome[None]),
                "items": ((CHAIN, DRAW, FIRM, ITEM), items[None]),
            }
        )
        tree = xr.DataTree.from_dict(
            {
                "prior": prior.assign_coords({d: coords[d] for d in prior.dims}),
                "prior_predictive": predictive.assign_coords(
                    {d: coords[d] for d in predictive.dims}
                ),
            }
        )
        tree.attrs.update({"model": "JointLatentClassLogit", "seed": str(random_seed)})
        return tree

    def fit(
        self,
        frame: pd.DataFrame,
        *,
        draws: int = 1000,
        tune: int = 1000,
        chains: int = 4,
        random_seed: int | None = None,
        target_accept: float | None = None,
        reference: tuple[np.ndarray, np.ndarray] | None = None,
        em_starts: int = 50,
        progressbar: bool = False,
        sampler: str = "nutpie_c",
        cores: int | None = None,
    ) -> xr.DataTree:
        """Sample the posterior, relabel the classes and add the derived groups.

        The model is compiled once per data shape and reused for new data of the same
        shape (nutpie ``with_data``), so a simulation study pays the compile time once.

        Parameters
        ----------
        frame : pandas.DataFrame
            The survey.
        draws, tune, chains : int
            Sampler settings.
        random_seed : int, optional
            Seed of the sampler and of the EM reference fit.
        target_accept : float, optional
            NUTS target acceptance rate (default 0.9).
        reference : tuple of numpy.ndarray, optional
            ``(class_shares, item_probabilities)`` of shapes (class,) and
            (class, item, category) the classes are aligned to; default the EM fit of the
            items (classes in decreasing share).
        em_starts : int
            Random starts of the EM reference fit.
        progressbar : bool
            Show the sampler's progress bar.
        sampler : {"nutpie_c", "nutpie", "pymc"}, default "nutpie_c"
            Sampling backend (:func:`bayes_cluster.inference.sampling.sample`).
        cores : int, optional
            Chains run in parallel on this many threads (nutpie) or processes (pymc).

        Returns
        -------
        xarray.DataTree
            Groups ``posterior`` (``pi``, ``theta``, ``alpha``, ``beta``, ``class_effect``;
            relabelled), ``sample_stats``, ``log_likelihood`` (``export``, ``joint``),
            ``posterior_predictive``, ``observed_data``, ``constant_data``,
            ``class_membership``; provenance in ``attrs``.  Also kept as :attr:`idata_`.

        Warns
        -----
        ConvergenceWarning
            When a convergence check failed (see :attr:`diagnostics_`).
        """
        return super().fit(
            frame,
            draws=draws,
            tune=tune,
            chains=chains,
            random_seed=random_seed,
            sampler=sampler,
            target_accept=target_accept,
            progressbar=progressbar,
            cores=cores,
            reference=reference,
            em_starts=em_starts,
            em_seed=random_seed,
        )

    def _prepare_fit(
        self,
        frame: pd.DataFrame,
        *,
        reference: tuple[np.ndarray, np.ndarray] | None = None,
        em_starts: int = 50,
        em_seed: int | None = None,
    ) -> _JointFit:
        data = self.prepare(frame)
        covariates = encode_covariates(frame, self.covariates) if self.covariates else None
        if reference is None:
            reference = _em_reference(data, self.n_classes, em_starts, em_seed)
        reference = check_reference(reference, self.n_classes, data)
        names = class_names_from_profiles(reference[1], data)
        return _JointFit(data, reference, names, covariates)

    def _build(self, prepared: _JointFit):
        return self.build_model(prepared.data, prepared.covariates)

    def _compile_key(self, prepared: _JointFit) -> tuple:
        membership = ("covariates", len(self.covariates)) if self.covariates else ()
        return (
            self.n_classes,
            self.class_slopes,
            _priors_json(self.priors),
            prepared.data.item_indicators.shape,
            prepared.data.design.shape,
            *membership,
        )

    def _sampler_data(self, prepared: _JointFit) -> dict[str, np.ndarray]:
        data = prepared.data
        values = {"item_indicators": data.item_indicators, "design": data.design, "y": data.y}
        if prepared.covariates is not None:
            values["covariates"] = prepared.covariates.values
            values["membership_intercept_sd"] = np.asarray(self.priors["membership_intercept_sd"])
            values["membership_slope_sd"] = np.asarray(self.priors["membership_slope_sd"])
        return values

    def _postprocess(
        self, raw: xr.DataTree, prepared: _JointFit, settings: SamplerSettings
    ) -> xr.DataTree:
        self.class_names_ = list(prepared.class_names)
        self.data_ = prepared.data
        return self._assemble(
            raw, prepared.data, prepared.reference, settings.seed, prepared.covariates
        )

    def _provenance_extra(self, prepared: _JointFit) -> dict[str, Any]:
        extra = {
            "n_classes": self.n_classes,
            "class_slopes": self.class_slopes,
            "priors": _priors_json(self.priors),
            "relabelled": "per draw, to the reference profile (latent_class.relabel_draws)",
            "class_names": "; ".join(prepared.class_names),
        }
        if prepared.covariates is not None:
            extra["membership_model"] = (
                "multinomial logit on standardised covariates, sum-to-zero priors; stored "
                "as log-odds against class 1"
            )
        return extra

    def _assemble(
        self,
        raw: xr.DataTree,
        data: JointData,
        reference: tuple[np.ndarray, np.ndarray],
        seed: int | None,
        covariates: EncodedCovariates | None = None,
    ) -> xr.DataTree:
        from scipy.special import expit, logsumexp

        posterior = raw["posterior"].to_dataset()
        theta = posterior["theta"].transpose(CHAIN, DRAW, LATENT_CLASS, ITEM, CATEGORY).to_numpy()
        alpha = posterior["alpha"].transpose(CHAIN, DRAW, LATENT_CLASS).to_numpy()
        if covariates is not None:
            delta = posterior["delta"].transpose(CHAIN, DRAW, LATENT_CLASS).to_numpy()
            gamma = posterior["gamma"].transpose(CHAIN, DRAW, LATENT_CLASS, COVARIATE)
            gamma = gamma.to_numpy()  # class before covariate: permuted on axis 2
            log_weights = membership_log_weights(
                delta, np.swapaxes(gamma, -1, -2), covariates.values
            )
            pi = np.exp(log_weights).mean(axis=2)  # the firms' mean class weights
        else:
            pi = posterior["pi"].transpose(CHAIN, DRAW, LATENT_CLASS).to_numpy()
        permutation = _chain_draw_permutation(pi, theta, reference)
        pi = _apply_permutation(pi, permutation, axis=2)
        theta = _apply_permutation(theta, permutation, axis=2)
        alpha = _apply_permutation(alpha, permutation, axis=2)
        if covariates is not None:
            # the membership logit's classes move with the classes they describe
            delta = _apply_permutation(delta, permutation, axis=2)
            gamma = np.swapaxes(_apply_permutation(gamma, permutation, axis=2), -1, -2)
            log_weights = membership_log_weights(delta, gamma, covariates.values)
        if self.class_slopes:
            beta_common = posterior["beta"].transpose(CHAIN, DRAW, PREDICTOR).to_numpy()
            tau = posterior["tau"].transpose(CHAIN, DRAW, PREDICTOR).to_numpy()
            z = posterior["beta_offset"].transpose(CHAIN, DRAW, LATENT_CLASS, PREDICTOR)
            z = _apply_permutation(z.to_numpy(), permutation, axis=2)
            beta = beta_common[:, :, None, :] + tau[:, :, None, :] * z
        else:
            beta = posterior["beta"].transpose(CHAIN, DRAW, PREDICTOR).to_numpy()
        n_chains, n_draws = pi.shape[:2]

        # per-draw, per-firm, per-class pieces of the likelihood
        flat = data.item_indicators.reshape(data.n_firms, -1)
        log_theta = safe_log(theta).reshape(n_chains, n_draws, self.n_classes, -1)
        # log pi_k p(u_i | k): the latent class model's joint, (chain, draw, firm, class);
        # with covariates each firm's own log P(z_i = k | w_i) in place of log pi_k
        if covariates is None:
            log_prior_class = np.swapaxes(log_joint(flat, np.log(pi), log_theta), -1, -2)
        else:
            log_items_k = log_joint(flat, np.zeros_like(pi), log_theta)
            log_prior_class = np.swapaxes(log_items_k, -1, -2) + log_weights
        if self.class_slopes:
            eta = alpha[:, :, None, :] + np.einsum("np,cdkp->cdnk", data.design, beta)
        else:
            eta = alpha[:, :, None, :] + np.einsum("np,cdp->cdn", data.design, beta)[..., None]
        log_outcome = _bernoulli_logit_logp(data.y[None, None, :, None], eta)
        log_joint_k = log_prior_class + log_outcome
        joint = logsumexp(log_joint_k, axis=-1)
        log_items = log_marginal(np.swapaxes(log_prior_class, -1, -2))  # log p(u_i)
        export = joint - log_items
        class_probability = np.exp(log_joint_k - joint[..., None])
        # y_rep ~ p(y | items, x): the predictive the export log-likelihood scores
        p_export = (np.exp(log_prior_class - log_items[..., None]) * expit(eta)).sum(axis=-1)
        rng = np.random.default_rng(seed)
        y_rep = (rng.random(p_export.shape) < p_export).astype(np.int64)

        coords_class = _class_coords(self.n_classes)
        contrast = alpha[..., 1:] - alpha[..., :1]
        variables: dict[str, xr.DataArray] = {
            "pi": xr.DataArray(pi, dims=(CHAIN, DRAW, LATENT_CLASS)),
            "theta": xr.DataArray(theta, dims=(CHAIN, DRAW, LATENT_CLASS, ITEM, CATEGORY)),
            "alpha": xr.DataArray(alpha, dims=(CHAIN, DRAW, LATENT_CLASS)),
            "class_effect": xr.DataArray(contrast, dims=(CHAIN, DRAW, CLASS_CONTRAST)),
        }
        if self.class_slopes:
            variables["beta"] = xr.DataArray(beta, dims=(CHAIN, DRAW, LATENT_CLASS, PREDICTOR))
            variables["beta_common"] = xr.DataArray(beta_common, dims=(CHAIN, DRAW, PREDICTOR))
            variables["tau"] = xr.DataArray(tau, dims=(CHAIN, DRAW, PREDICTOR))
        else:
            variables["beta"] = xr.DataArray(beta, dims=(CHAIN, DRAW, PREDICTOR))
        if covariates is not None:
            # log-odds against class 1: the sum-to-zero parameters differ from them by a
            # constant per draw, which the softmax ignores
            variables["delta"] = xr.DataArray(
                delta[..., 1:] - delta[..., :1], dims=(CHAIN, DRAW, CLASS_CONTRAST)
            )
            variables["gamma"] = xr.DataArray(
                gamma[..., 1:] - gamma[..., :1], dims=(CHAIN, DRAW, COVARIATE, CLASS_CONTRAST)
            )
            variables["delta"].attrs["meaning"] = (
                "log-odds of class k against class 1 for a firm at the covariates' means"
            )
            variables["gamma"].attrs["meaning"] = (
                "change in the log-odds of class k against class 1 per SD of the covariate"
            )
        coords = {
            CHAIN: np.arange(n_chains),
            DRAW: np.arange(n_draws),
            LATENT_CLASS: coords_class,
            ITEM: list(data.items),
            CATEGORY: list(data.categories),
            PREDICTOR: list(data.predictors),
            CLASS_CONTRAST: _contrast_labels(self.class_names_),
            FIRM: list(data.firm_ids),
        }
        if covariates is not None:
            coords[COVARIATE] = list(covariates.names)

        def dataset(values: dict[str, xr.DataArray]) -> xr.Dataset:
            ds = xr.Dataset(values)
            return ds.assign_coords({k: v for k, v in coords.items() if _uses(ds, k, v)})

        groups = {
            "posterior": dataset(variables),
            "sample_stats": raw["sample_stats"].to_dataset(),
            "log_likelihood": dataset(
                {
                    "export": xr.DataArray(export, dims=(CHAIN, DRAW, FIRM)),
                    "joint": xr.DataArray(joint, dims=(CHAIN, DRAW, FIRM)),
                }
            ),
            "posterior_predictive": dataset(
                {data.outcome: xr.DataArray(y_rep, dims=(CHAIN, DRAW, FIRM))}
            ),
            "observed_data": dataset({data.outcome: xr.DataArray(data.y, dims=(FIRM,))}),
            "constant_data": _constant_data(data),
            "class_membership": dataset(
                {
                    "class_probability": xr.DataArray(
                        class_probability, dims=(CHAIN, DRAW, FIRM, LATENT_CLASS)
                    )
                }
            ),
        }
        if data.outcome != "export":  # LOO reads the outcome's name
            groups["log_likelihood"] = groups["log_likelihood"].rename({"export": data.outcome})
        if covariates is not None:
            membership = xr.DataArray(np.exp(log_weights), dims=(CHAIN, DRAW, FIRM, LATENT_CLASS))
            membership.attrs["meaning"] = (
                "P(class k | covariates) of each firm, before its answers are seen"
            )
            groups["class_membership"]["membership_probability"] = membership
            groups["constant_data"]["covariates"] = xr.DataArray(
                covariates.raw,
                dims=(FIRM, COVARIATE),
                coords={COVARIATE: list(covariates.names)},
                attrs={"scale": "as given (not standardised)"},
            )
        tree = xr.DataTree.from_dict(groups)
        if covariates is not None:
            tree.attrs["covariates"] = ",".join(covariates.names)
            tree.attrs["covariate_means"] = ",".join(repr(float(v)) for v in covariates.means)
            tree.attrs["covariate_scales"] = ",".join(repr(float(v)) for v in covariates.scales)
            tree.attrs["membership_reference_class"] = "1 (the reference profile's largest class)"
        return tree

    def class_probabilities(self) -> pd.DataFrame:
        r"""Each firm's posterior class probabilities :math:`p(z_i = k \mid \text{data})`.

        Returns
        -------
        pandas.DataFrame
            Firms by class name, averaged over draws (rows sum to one).
        """
        idata = self._require_fit()
        probabilities = idata["class_membership"]["class_probability"].mean((CHAIN, DRAW))
        return pd.DataFrame(
            probabilities.transpose(FIRM, LATENT_CLASS).to_numpy(),
            index=pd.Index(idata["class_membership"][FIRM].to_numpy(), name=FIRM),
            columns=self.class_names_,
        )

    # ---------------------------------------------------------------- membership covariates
    def _require_covariates(self) -> xr.DataTree:
        tree = self._require_fit()
        if "gamma" not in tree["posterior"].data_vars:
            raise ValueError(
                "this fit has no covariates of class membership: fit "
                f"{type(self).__name__}(..., covariates=[...]) first"
            )
        return tree

    def membership_effects(self, hdi_prob: float | None = None) -> pd.DataFrame:
        r"""Covariate effects on class membership: log-odds of class k against class 1.

        :math:`\gamma_{pk} - \gamma_{p1}`, the change in
        :math:`\log P(z = k \mid w) / P(z = 1 \mid w)` when covariate :math:`p` rises by
        one standard deviation (of the fitted firms), the others held; the same table as
        :meth:`~bayes_cluster.estimators.latent_class.BayesianLatentClass.membership_effects`
        (:func:`~bayes_cluster.estimators.latent_class.membership_effects_table`).

        Parameters
        ----------
        hdi_prob : float, optional
            Mass of the highest-density interval (default :attr:`hdi_prob`).

        Returns
        -------
        pandas.DataFrame
            One row per (covariate, class k >= 2): ``covariate``, ``latent_class``,
            ``reference_class``, ``log_odds``, ``sd``, ``hdi_lower``, ``hdi_upper``,
            ``odds_ratio``, ``p_positive``, ``r_hat``, ``ess_bulk``, ``ess_tail``,
            ``covariate_sd``.

        Raises
        ------
        ValueError
            When the fit has no covariates.
        """
        tree = self._require_covariates()
        names, _, scales = covariate_scaling(tree)
        gamma = tree["posterior"]["gamma"].transpose(CHAIN, DRAW, COVARIATE, CLASS_CONTRAST)
        return membership_effects_table(gamma.to_numpy(), names, scales, self._hdi(hdi_prob))

    def membership_curve(
        self,
        covariate: str,
        grid: Sequence[float] | np.ndarray | None = None,
        hdi_prob: float | None = None,
    ) -> pd.DataFrame:
        r"""P(class k | covariate) as one covariate varies, the others at their means.

        As :meth:`~bayes_cluster.estimators.latent_class.BayesianLatentClass.membership_curve`
        (:func:`~bayes_cluster.estimators.latent_class.membership_curve_table`), from
        ``delta`` and ``gamma``.

        Parameters
        ----------
        covariate : str
            One of the fit's covariates.
        grid : array-like, optional
            Values of the covariate on its own scale (default: 50 values over the fitted
            firms' range).
        hdi_prob : float, optional
            Mass of the highest-density interval (default :attr:`hdi_prob`).

        Returns
        -------
        pandas.DataFrame
            Long: ``covariate``, ``value``, ``latent_class``, ``mean``, ``hdi_lower``,
            ``hdi_upper``.

        Raises
        ------
        ValueError
            When the fit has no covariates or ``covariate`` is not one of them.
        """
        return fitted_membership_curve(
            self._require_covariates(), covariate, grid, self._hdi(hdi_prob), intercept="delta"
        )


@dataclass(frozen=True)
class _ClassLogitFit:
    """One prepared fit of :class:`ClassLogit`."""

    data: JointData
    mode: Form
    classes: np.ndarray | None
    error_matrix: np.ndarray | None
    updates: dict[str, np.ndarray]
    class_names: list[str]


class ClassLogit(_ExportModel):
    r"""Export logit with the class as an *observed* predictor: the comparison models.

    With the same priors and parameterisation as :class:`JointLatentClassLogit`'s logit:

    * ``classes=None`` — no class:
      :math:`\eta_i = \alpha + \tilde{\mathbf{x}}_i^\top\beta`;
    * ``classes=w`` — the two-step model, the assigned (modal) class as a fixed predictor:
      :math:`\eta_i = \alpha_{w_i} + \tilde{\mathbf{x}}_i^\top\beta`, which treats
      :math:`w_i` as the true class;
    * ``classes=w, error_matrix=D`` — the maximum-likelihood three-step correction of
      Vermunt (2010): the true class :math:`X_i` stays latent, with the step-1
      classification errors :math:`D_{ks} = P(W=s \mid X=k)` held fixed,

      .. math::

          p(w_i, y_i) = \sum_k \pi_k\, D_{k w_i}\,
          \mathrm{Bernoulli}(y_i \mid \operatorname{logit}^{-1}(\alpha_k +
          \tilde{\mathbf{x}}_i^\top\beta)),
          \qquad \pi \sim \mathrm{Dirichlet}(a_\pi \mathbf 1_K).

      Step 3 here is Bayesian (NUTS) rather than maximum likelihood; what the correction
      does not propagate is the uncertainty of :math:`D` and of the step-1 parameters.

    ``log_likelihood/export`` is :math:`\log p(y_i \mid \cdot)` given what the model
    conditions on (:math:`\mathbf{x}_i`, and :math:`w_i` when given), so ELPDs compare with
    the joint model's export likelihood conditional on the items.  The form of the last
    fit is :attr:`mode_` (``"no_class"``, ``"two_step"`` or ``"three_step_ml"``).

    Parameters
    ----------
    n_classes : int
        Number of classes of ``classes`` (ignored when fitted without classes).
    predictors, outcome, priors, hdi_prob
        As in :class:`JointLatentClassLogit` (priors: ``intercept``, ``slopes``,
        ``class_concentration``).
    """

    def __init__(
        self,
        n_classes: int = 2,
        *,
        predictors: Sequence[str],
        outcome: str,
        priors: Mapping[str, Any] | None = None,
        hdi_prob: float = 0.94,
    ) -> None:
        if isinstance(n_classes, bool) or int(n_classes) != n_classes or n_classes < 1:
            raise ValueError(f"n_classes must be a whole number >= 1, got {n_classes!r}")
        self.n_classes = int(n_classes)
        self.predictors = tuple(predictors)
        self.outcome = outcome
        self.hdi_prob = float(hdi_prob)
        defaults = {k: DEFAULT_PRIORS[k] for k in ("intercept", "slopes", "class_concentration")}
        self.priors = merge_priors(defaults, priors)
        self.class_names_ = [str(k) for k in _class_coords(self.n_classes)]
        self.mode_: Form = "no_class"

    def config(self) -> dict[str, Any]:
        """Return the constructor arguments as JSON-able values (``cls(**config)``).

        Returns
        -------
        dict
            ``n_classes``, ``predictors``, ``outcome``, ``priors`` (as used), ``hdi_prob``.
        """
        return {
            "n_classes": self.n_classes,
            "predictors": list(self.predictors),
            "outcome": self.outcome,
            "priors": json.loads(json.dumps(self.priors)),
            "hdi_prob": self.hdi_prob,
        }

    def _fitted_state(self) -> dict[str, Any]:
        return {**super()._fitted_state(), "mode": self.mode_}

    def _restore(self, tree: xr.DataTree, state: Mapping[str, Any]) -> None:
        super()._restore(tree, state)
        self.mode_ = state["mode"]

    def _prepare_data(self, frame: pd.DataFrame) -> JointData:
        """Validate outcome and predictors (no items: the class comes from outside)."""
        if not isinstance(frame, pd.DataFrame):
            raise TypeError(f"frame must be a pandas DataFrame, got {type(frame).__name__}")
        y, terms, design, center, scale = _outcome_and_design(frame, self.predictors, self.outcome)
        if "firm_id" in frame.columns:
            firm_ids = frame["firm_id"].astype(str).to_numpy()
        else:
            firm_ids = np.asarray([str(v) for v in frame.index])
        return JointData(
            firm_ids=firm_ids,
            items=(),
            categories=(),
            item_indicators=np.zeros((len(frame), 0, 0)),
            item_codes=np.zeros((len(frame), 0), dtype=np.int64),
            predictors=terms,
            design=design,
            center=center,
            scale=scale,
            outcome=self.outcome,
            y=y,
        )

    def build_model(
        self,
        frame: pd.DataFrame | JointData,
        classes: np.ndarray | None = None,
        error_matrix: np.ndarray | None = None,
    ):
        """Build the PyMC model (see the class docstring for the three forms).

        Parameters
        ----------
        frame : pandas.DataFrame or JointData
            The survey.
        classes : numpy.ndarray, optional
            Assigned class per firm, 1..K.
        error_matrix : numpy.ndarray, optional
            Classification-error matrix (class, class) for the three-step correction.

        Returns
        -------
        pymc.Model
            ``pm.Data`` ``design``, ``y`` and ``class_index`` or ``log_error``.
        """
        import pymc as pm
        import pytensor.tensor as pt

        data = frame if isinstance(frame, JointData) else self._prepare_data(frame)
        coords = {FIRM: list(data.firm_ids), PREDICTOR: list(data.predictors)}
        if classes is not None:
            coords[LATENT_CLASS] = _class_coords(self.n_classes)
        with pm.Model(coords=coords) as model:
            design = pm.Data("design", data.design, dims=(FIRM, PREDICTOR))
            y = pm.Data("y", data.y, dims=FIRM)
            if classes is None:
                alpha = make_prior_variable("alpha", self.priors["intercept"])
                eta = _linear_predictor(self, design, alpha, 0)[:, 0]
                pm.Potential("likelihood", (y * eta - pt.softplus(eta)).sum())
            elif error_matrix is None:
                index = pm.Data("class_index", self._class_index(classes), dims=FIRM)
                alpha = make_prior_variable("alpha", self.priors["intercept"], dims=LATENT_CLASS)
                eta = _linear_predictor(self, design, alpha, self.n_classes)
                eta_assigned = eta[pt.arange(eta.shape[0]), index]
                pm.Potential("likelihood", (y * eta_assigned - pt.softplus(eta_assigned)).sum())
            else:
                log_error = pm.Data(
                    "log_error", self._log_error(classes, error_matrix), dims=(FIRM, LATENT_CLASS)
                )
                a = self.priors["class_concentration"]
                pi = pm.Dirichlet("pi", a=np.full(self.n_classes, a), dims=LATENT_CLASS)
                alpha = make_prior_variable("alpha", self.priors["intercept"], dims=LATENT_CLASS)
                eta = _linear_predictor(self, design, alpha, self.n_classes)
                log_outcome = y[:, None] * eta - pt.softplus(eta)
                pm.Potential(
                    "likelihood",
                    pt.logsumexp(pt.log(pi)[None, :] + log_error + log_outcome, axis=1).sum(),
                )
        return model

    def _class_index(self, classes: np.ndarray) -> np.ndarray:
        classes = np.asarray(classes)
        if classes.ndim != 1 or not np.isin(classes, _class_coords(self.n_classes)).all():
            raise ValueError(f"classes must be one label in 1..{self.n_classes} per firm")
        return classes.astype(np.int64) - 1

    def _log_error(self, classes: np.ndarray, error_matrix: np.ndarray) -> np.ndarray:
        error_matrix = np.asarray(error_matrix, dtype=float)
        if error_matrix.shape != (self.n_classes, self.n_classes):
            raise ValueError(
                f"error_matrix must have shape ({self.n_classes}, {self.n_classes}), "
                f"got {error_matrix.shape}"
            )
        # D[k, w_i] per firm; a zero probability stays finite so gradients stay defined
        return np.log(np.clip(error_matrix[:, self._class_index(classes)].T, 1e-12, None))

    def fit(
        self,
        frame: pd.DataFrame,
        classes: np.ndarray | None = None,
        *,
        error_matrix: np.ndarray | None = None,
        class_names: Sequence[str] | None = None,
        draws: int = 1000,
        tune: int = 1000,
        chains: int = 4,
        random_seed: int | None = None,
        target_accept: float | None = None,
        progressbar: bool = False,
        sampler: str = "nutpie_c",
        cores: int | None = None,
    ) -> xr.DataTree:
        """Sample the posterior (nutpie: compiled once per form and data shape).

        Parameters
        ----------
        frame : pandas.DataFrame
            The survey.
        classes : numpy.ndarray, optional
            Assigned class per firm (1..K); None for the model without class.
        error_matrix : numpy.ndarray, optional
            Classification-error matrix for the three-step ML correction.
        class_names : sequence of str, optional
            Names of the classes (for tables).
        draws, tune, chains, random_seed, progressbar
            Sampler settings.
        target_accept : float, optional
            NUTS target acceptance rate (default 0.9).
        sampler : {"nutpie_c", "nutpie", "pymc"}, default "nutpie_c"
            Sampling backend (:func:`bayes_cluster.inference.sampling.sample`).
        cores : int, optional
            Chains run in parallel on this many threads (nutpie) or processes (pymc).

        Returns
        -------
        xarray.DataTree
            ``posterior`` (``alpha``, ``beta``, ``class_effect``, ``pi`` for the corrected
            form), ``sample_stats``, ``log_likelihood/export``, ``posterior_predictive``,
            ``observed_data``, ``constant_data``.

        Warns
        -----
        ConvergenceWarning
            When a convergence check failed (see :attr:`diagnostics_`).
        """
        return super().fit(
            frame,
            draws=draws,
            tune=tune,
            chains=chains,
            random_seed=random_seed,
            sampler=sampler,
            target_accept=target_accept,
            progressbar=progressbar,
            cores=cores,
            classes=classes,
            error_matrix=error_matrix,
            class_names=class_names,
        )

    def _prepare_fit(
        self,
        frame: pd.DataFrame,
        *,
        classes: np.ndarray | None = None,
        error_matrix: np.ndarray | None = None,
        class_names: Sequence[str] | None = None,
    ) -> _ClassLogitFit:
        if error_matrix is not None and classes is None:
            raise ValueError("error_matrix needs classes (the step-1 assignments)")
        data = self._prepare_data(frame)
        mode: Form = (
            "no_class"
            if classes is None
            else "two_step"
            if error_matrix is None
            else "three_step_ml"
        )
        if class_names is not None:
            if len(class_names) != self.n_classes:
                raise ValueError(f"class_names must name {self.n_classes} classes")
            names = list(class_names)
        else:
            names = list(self.class_names_)
        updates: dict[str, np.ndarray] = {"design": data.design, "y": data.y}
        if mode == "two_step":
            updates["class_index"] = self._class_index(classes)
        elif mode == "three_step_ml":
            updates["log_error"] = self._log_error(classes, error_matrix)
        return _ClassLogitFit(data, mode, classes, error_matrix, updates, names)

    def _build(self, prepared: _ClassLogitFit):
        return self.build_model(prepared.data, prepared.classes, prepared.error_matrix)

    def _compile_key(self, prepared: _ClassLogitFit) -> tuple:
        return (
            prepared.mode,
            self.n_classes,
            _priors_json(self.priors),
            prepared.data.design.shape,
        )

    def _sampler_data(self, prepared: _ClassLogitFit) -> dict[str, np.ndarray]:
        return dict(prepared.updates)

    def _postprocess(
        self, raw: xr.DataTree, prepared: _ClassLogitFit, settings: SamplerSettings
    ) -> xr.DataTree:
        self.mode_ = prepared.mode
        self.class_names_ = list(prepared.class_names)
        self.data_ = prepared.data
        return self._assemble(raw, prepared.data, prepared.updates, settings.seed)

    def _context(self) -> str:
        return f"ClassLogit ({self.mode_})"

    def _provenance_extra(self, prepared: _ClassLogitFit) -> dict[str, Any]:
        return {
            "form": prepared.mode,
            "priors": _priors_json(self.priors),
            "class_names": "; ".join(prepared.class_names),
        }

    def sample_prior_predictive(
        self,
        frame: pd.DataFrame,
        classes: np.ndarray | None = None,
        *,
        error_matrix: np.ndarray | None = None,
        draws: int = 500,
        random_seed: int | None = None,
    ) -> xr.DataTree:
        r"""Draw parameters from the priors and outcomes from the model, given the predictors.

        With NumPy (no compiling), in the form ``classes`` and ``error_matrix`` choose (as
        :meth:`fit`): without classes :math:`\eta_i = \alpha + \tilde{\mathbf{x}}_i^\top\beta`;
        two-step :math:`\eta_i = \alpha_{w_i} + \tilde{\mathbf{x}}_i^\top\beta`; three-step,
        the true class drawn from :math:`p(k \mid w_i) \propto \pi_k D_{k w_i}` first.

        Parameters
        ----------
        frame : pandas.DataFrame
            The survey (its predictors are used; the outcome only for validation).
        classes : numpy.ndarray, optional
            Assigned class per firm (1..K).
        error_matrix : numpy.ndarray, optional
            Classification-error matrix (three-step form).
        draws : int
            Number of prior draws.
        random_seed : int, optional
            Seed.

        Returns
        -------
        xarray.DataTree
            Groups ``prior`` (``alpha``, ``beta``, and ``pi`` in the three-step form) and
            ``prior_predictive`` (the outcome), with a single chain.
        """
        from scipy.special import expit

        from bayes_cluster.inference.priors import sample_prior

        prepared = self._prepare_fit(frame, classes=classes, error_matrix=error_matrix)
        data = prepared.data
        rng = np.random.default_rng(random_seed)
        n_terms = len(data.predictors)
        beta = sample_prior(self.priors["slopes"], (draws, n_terms), rng)
        linear = beta @ data.design.T  # (draw, firm)
        variables: dict[str, tuple] = {"beta": ((CHAIN, DRAW, PREDICTOR), beta[None])}
        if prepared.mode == "no_class":
            alpha = sample_prior(self.priors["intercept"], (draws,), rng)
            eta = alpha[:, None] + linear
            variables["alpha"] = ((CHAIN, DRAW), alpha[None])
        else:
            alpha = sample_prior(self.priors["intercept"], (draws, self.n_classes), rng)
            variables["alpha"] = ((CHAIN, DRAW, LATENT_CLASS), alpha[None])
            if prepared.mode == "two_step":
                assigned = prepared.updates["class_index"][None, :]
            else:
                a = self.priors["class_concentration"]
                pi = rng.dirichlet(np.full(self.n_classes, a), size=draws)
                variables["pi"] = ((CHAIN, DRAW, LATENT_CLASS), pi[None])
                # p(k | w_i) per draw and firm, then the true class drawn from it
                weights = _log_softmax(np.log(pi)[:, None, :] + prepared.updates["log_error"])
                assigned = draw_categories(rng, np.exp(weights))
            eta = np.take_along_axis(alpha, np.broadcast_to(assigned, linear.shape), 1) + linear
        outcome = (rng.random(eta.shape) < expit(eta)).astype(np.int64)
        coords = {
            CHAIN: [0],
            DRAW: np.arange(draws),
            LATENT_CLASS: _class_coords(self.n_classes),
            PREDICTOR: list(data.predictors),
            FIRM: list(data.firm_ids),
        }
        prior = xr.Dataset(variables)
        predictive = xr.Dataset({data.outcome: ((CHAIN, DRAW, FIRM), outcome[None])})
        return xr.DataTree.from_dict(
            {
                "prior": prior.assign_coords({d: coords[d] for d in prior.dims}),
                "prior_predictive": predictive.assign_coords(
                    {d: coords[d] for d in predictive.dims}
                ),
            }
        )

    def _assemble(
        self,
        raw: xr.DataTree,
        data: JointData,
        updates: Mapping[str, np.ndarray],
        seed: int | None,
    ) -> xr.DataTree:
        from scipy.special import expit, logsumexp

        posterior = raw["posterior"].to_dataset()
        beta = posterior["beta"].transpose(CHAIN, DRAW, PREDICTOR).to_numpy()
        linear = np.einsum("np,cdp->cdn", data.design, beta)
        variables: dict[str, xr.DataArray] = {
            "beta": xr.DataArray(beta, dims=(CHAIN, DRAW, PREDICTOR))
        }
        if self.mode_ == "no_class":
            alpha = posterior["alpha"].transpose(CHAIN, DRAW).to_numpy()
            eta = alpha[..., None] + linear
            export = _bernoulli_logit_logp(data.y, eta)
            p_export = expit(eta)
            variables["alpha"] = xr.DataArray(alpha, dims=(CHAIN, DRAW))
        else:
            alpha = posterior["alpha"].transpose(CHAIN, DRAW, LATENT_CLASS).to_numpy()
            eta = alpha[:, :, None, :] + linear[..., None]  # (chain, draw, firm, class)
            variables["alpha"] = xr.DataArray(alpha, dims=(CHAIN, DRAW, LATENT_CLASS))
            variables["class_effect"] = xr.DataArray(
                alpha[..., 1:] - alpha[..., :1], dims=(CHAIN, DRAW, CLASS_CONTRAST)
            )
            if self.mode_ == "two_step":
                index = updates["class_index"]
                eta_assigned = np.take_along_axis(
                    eta,
                    index[None, None, :, None].repeat(eta.shape[0], 0).repeat(eta.shape[1], 1),
                    axis=-1,
                )[..., 0]
                export = _bernoulli_logit_logp(data.y, eta_assigned)
                p_export = expit(eta_assigned)
            else:
                pi = posterior["pi"].transpose(CHAIN, DRAW, LATENT_CLASS).to_numpy()
                variables["pi"] = xr.DataArray(pi, dims=(CHAIN, DRAW, LATENT_CLASS))
                log_prior_class = np.log(pi)[:, :, None, :] + updates["log_error"]
                log_outcome = _bernoulli_logit_logp(data.y[None, None, :, None], eta)
                export = logsumexp(log_prior_class + log_outcome, axis=-1) - logsumexp(
                    log_prior_class, axis=-1
                )
                p_export = (np.exp(_log_softmax(log_prior_class)) * expit(eta)).sum(axis=-1)
        rng = np.random.default_rng(seed)
        y_rep = (rng.random(p_export.shape) < p_export).astype(np.int64)
        n_chains, n_draws = beta.shape[:2]
        coords = {
            CHAIN: np.arange(n_chains),
            DRAW: np.arange(n_draws),
            LATENT_CLASS: _class_coords(self.n_classes),
            PREDICTOR: list(data.predictors),
            CLASS_CONTRAST: _contrast_labels(self.class_names_),
            FIRM: list(data.firm_ids),
        }

        def dataset(values: dict[str, xr.DataArray]) -> xr.Dataset:
            ds = xr.Dataset(values)
            return ds.assign_coords({k: v for k, v in coords.items() if k in ds.dims})

        groups = {
            "posterior": dataset(variables),
            "sample_stats": raw["sample_stats"].to_dataset(),
            "log_likelihood": dataset(
                {data.outcome: xr.DataArray(export, dims=(CHAIN, DRAW, FIRM))}
            ),
            "posterior_predictive": dataset(
                {data.outcome: xr.DataArray(y_rep, dims=(CHAIN, DRAW, FIRM))}
            ),
            "observed_data": dataset({data.outcome: xr.DataArray(data.y, dims=(FIRM,))}),
            "constant_data": _constant_data(data),
        }
        return xr.DataTree.from_dict(groups)

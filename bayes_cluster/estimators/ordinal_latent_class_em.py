r"""Maximum-likelihood ordinal latent class analysis by EM (cumulative logit items).

The maximum-likelihood twin of
:class:`~bayes_cluster.estimators.ordinal_latent_class.BayesianOrdinalLatentClass`: in
class :math:`k` the answer to item :math:`j` follows a cumulative logit with class
location :math:`\mu_{jk}` and cutpoints :math:`\kappa_{j1} < \dots < \kappa_{j,C-1}`
shared by the classes,

.. math::

    P(y_{ij} \le c \mid z_i = k) = \operatorname{logistic}(\kappa_{jc} - \mu_{jk}),

identified by :math:`\sum_k \mu_{jk} = 0` (as the Bayesian model).  Neither poLCA nor
StepMix fits this model; it is what the Likert items call for.

EM.  The E step is the nominal model's (the implied :math:`\theta_{kjc}` enter the same
likelihood; missing answers drop out of a firm's likelihood).  The M step for the
locations and cutpoints does not have a closed form: given the posterior class
probabilities :math:`p_{ik}`, item :math:`j`'s part of the expected complete-data
log-likelihood is a weighted ordered-logit log-likelihood of the class-by-category table
:math:`n_{jkc} = \sum_{i: y_{ij} = c} p_{ik}`, raised by Fisher scoring (analytic
gradient and expected information, the step halved until the objective does not fall),
warm-started from the previous iterate: a generalised EM, every M step raises the
likelihood, so EM's monotonicity holds.  All items of all random starts are one
optimisation (their objectives are separate, so the joint optimum is each one's optimum).
The cutpoints are optimised as :math:`\kappa_{j1}` and the logs of the gaps
:math:`\kappa_{jc} - \kappa_{j,c-1}` (so they stay ordered), the locations as their first
:math:`K - 1` values (the last is minus their sum).  Bounds keep the parameters finite
when a class puts (nearly) all its answers in an end category (:math:`|\mu| \le 10`,
:math:`|\kappa_{j1}| \le 15`, gaps between :math:`e^{-8}` and :math:`e^{3}`): the
likelihood there is flat to many digits.

``npar = (K - 1) + J ((K - 1) + (C - 1))``; AIC, BIC, SABIC and CAIC as
:class:`~bayes_cluster.estimators.latent_class_em.LatentClassEM` (whose outputs this
class inherits: posterior class probabilities, relative entropy, pattern statistics,
predictions, tables).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

import numpy as np
import pandas as pd
import xarray as xr

from bayes_cluster.common import latent_class_math
from bayes_cluster.common.dims import CATEGORY, ITEM, LATENT_CLASS
from bayes_cluster.common.latent_class_math import safe_log
from bayes_cluster.estimators.latent_class_em import (
    LatentClassEM,
    MissingRule,
    _coerce_items,
    _one_hot,
    _relative_entropy,
    run_em_starts,
)
from bayes_cluster.estimators.ordinal_latent_class import CUTPOINT, ordinal_log_probabilities

__all__ = ["OrdinalLatentClassEM", "ordinal_marginal_log_likelihood"]

_LOCATION_BOUND = 10.0
_FIRST_CUTPOINT_BOUND = 15.0
_LOG_GAP_BOUNDS = (-8.0, 3.0)


def ordinal_marginal_log_likelihood(
    codes: np.ndarray,
    class_shares: np.ndarray,
    locations: np.ndarray,
    cutpoints: np.ndarray,
) -> float:
    r"""Log-likelihood of the ordinal latent class model, classes summed out.

    :math:`\ell = \sum_i \log \sum_k \pi_k \prod_{j \text{ answered}}
    \theta_{kjy_{ij}}(\kappa_j, \mu_{jk})`.

    Parameters
    ----------
    codes : numpy.ndarray
        Shape (firm, item): codes 1..C, 0 for a missing answer.
    class_shares : numpy.ndarray
        :math:`\pi`, shape (class,).
    locations : numpy.ndarray
        :math:`\mu`, shape (class, item).
    cutpoints : numpy.ndarray
        :math:`\kappa`, shape (item, C - 1), increasing along the last axis.

    Returns
    -------
    float
        The log-likelihood.

    Examples
    --------
    >>> codes = np.array([[1, 2], [2, 0]])
    >>> ll = ordinal_marginal_log_likelihood(
    ...     codes, np.array([1.0]), np.zeros((1, 2)), np.zeros((2, 1))
    ... )
    >>> bool(np.isclose(ll, 3 * np.log(0.5)))
    True
    """
    codes = np.asarray(codes, dtype=np.int64)
    kappa = np.asarray(cutpoints, dtype=float)
    mu = np.asarray(locations, dtype=float)
    n_categories = kappa.shape[-1] + 1
    log_theta = ordinal_log_probabilities(kappa[None], mu[..., None])  # (class, item, C)
    indicator = _one_hot(codes, n_categories)
    joint = latent_class_math.log_joint(
        indicator, safe_log(np.asarray(class_shares, dtype=float)), log_theta.reshape(len(mu), -1)
    )
    return float(latent_class_math.log_marginal(joint).sum())


def _unpack(params: np.ndarray, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """(..., P) free parameters -> locations (..., K) and cutpoints (..., C - 1)."""
    free = params[..., : n_classes - 1]
    mu = np.concatenate([free, -free.sum(axis=-1, keepdims=True)], axis=-1)
    first = params[..., n_classes - 1 : n_classes]
    gaps = np.exp(params[..., n_classes:])
    kappa = first + np.concatenate([np.zeros_like(first), np.cumsum(gaps, axis=-1)], axis=-1)
    return mu, kappa


def _pack(mu: np.ndarray, kappa: np.ndarray) -> np.ndarray:
    """Inverse of :func:`_unpack` (locations are centred first)."""
    mu = mu - mu.mean(axis=-1, keepdims=True)
    gaps = np.maximum(np.diff(kappa, axis=-1), np.exp(_LOG_GAP_BOUNDS[0]))
    return np.concatenate([mu[..., :-1], kappa[..., :1], np.log(gaps)], axis=-1)


def _class_item_log_theta(params: np.ndarray, n_classes: int) -> np.ndarray:
    """(start, item, P) parameters -> log theta (start, item, class, C)."""
    mu, kappa = _unpack(params, n_classes)
    return ordinal_log_probabilities(kappa[..., None, :], mu[..., None])


def _item_objectives(
    params: np.ndarray, counts: np.ndarray, n_classes: int
) -> tuple[np.ndarray, np.ndarray]:
    r"""Minus :math:`\sum_{k,c} n_{jkc} \log\theta_{kjc}` per (start, item), and its gradient.

    ``params`` (start, item, P), ``counts`` (start, item, class, C); returns values
    (start, item) and gradients (start, item, P) in the free parameters.  With
    :math:`\eta_{kc} = \kappa_c - \mu_k` and :math:`f = F(1 - F)` the logistic density,
    :math:`\partial \log\theta_c / \partial \eta_c = f(\eta_c) / \theta_c` and
    :math:`\partial \log\theta_{c+1} / \partial \eta_c = -f(\eta_c) / \theta_{c+1}`.
    """
    mu, kappa = _unpack(params, n_classes)
    eta = kappa[..., None, :] - mu[..., None]  # (start, item, class, C - 1)
    log_theta = ordinal_log_probabilities(kappa[..., None, :], mu[..., None])
    value = -np.sum(counts * log_theta, axis=(-2, -1))
    log_density = -np.logaddexp(0.0, -eta) - np.logaddexp(0.0, eta)
    gradient_eta = counts[..., :-1] * np.exp(log_density - log_theta[..., :-1]) - counts[
        ..., 1:
    ] * np.exp(log_density - log_theta[..., 1:])
    gradient_kappa = gradient_eta.sum(axis=-2)  # (start, item, C - 1)
    gradient_mu = -gradient_eta.sum(axis=-1)  # (start, item, class)
    gradient_free = gradient_mu[..., :-1] - gradient_mu[..., -1:]
    gradient_first = gradient_kappa.sum(axis=-1, keepdims=True)
    # kappa_c depends on log gap m (m = 1..C-2) for every c >= m, through exp(log gap m).
    tail_sums = np.cumsum(gradient_kappa[..., :0:-1], axis=-1)[..., ::-1]
    gradient_gaps = np.exp(params[..., n_classes:]) * tail_sums
    gradient = np.concatenate([gradient_free, gradient_first, gradient_gaps], axis=-1)
    return value, -gradient


def _bounds(n_classes: int, n_categories: int) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper bounds of one (start, item)'s free parameters."""
    lower = np.r_[
        np.full(n_classes - 1, -_LOCATION_BOUND),
        -_FIRST_CUTPOINT_BOUND,
        np.full(n_categories - 2, _LOG_GAP_BOUNDS[0]),
    ]
    upper = np.r_[
        np.full(n_classes - 1, _LOCATION_BOUND),
        _FIRST_CUTPOINT_BOUND,
        np.full(n_categories - 2, _LOG_GAP_BOUNDS[1]),
    ]
    return lower, upper


def _expected_information(params: np.ndarray, counts: np.ndarray, n_classes: int) -> np.ndarray:
    r"""Fisher information of every (start, item) ordered logit, (start, item, P, P).

    :math:`\sum_k N_k \sum_c \nabla\theta_{kc} \nabla\theta_{kc}^\top / \theta_{kc}`
    with :math:`N_k = \sum_c n_{jkc}` and
    :math:`\nabla\theta_{kc} = f(\eta_{kc}) \nabla\eta_{kc} - f(\eta_{k,c-1})
    \nabla\eta_{k,c-1}`: positive semi-definite, so every scoring step is uphill.
    """
    mu, kappa = _unpack(params, n_classes)
    n_categories = kappa.shape[-1] + 1
    eta = kappa[..., None, :] - mu[..., None]  # (start, item, class, C - 1)
    density = np.exp(-np.logaddexp(0.0, -eta) - np.logaddexp(0.0, eta))
    theta = np.exp(ordinal_log_probabilities(kappa[..., None, :], mu[..., None]))
    n_parameters = params.shape[-1]
    # d kappa_c / d params: 1 for the first cutpoint, exp(log gap m) for gaps m <= c.
    d_kappa = np.zeros((*params.shape[:-1], n_categories - 1, n_parameters))
    d_kappa[..., n_classes - 1] = 1.0
    gaps = np.exp(params[..., n_classes:])  # (start, item, C - 2)
    for m in range(n_categories - 2):
        d_kappa[..., m + 1 :, n_classes + m] = gaps[..., m, None]
    # d mu_k / d free_l = [k = l] - [k = K]
    d_mu = np.zeros((n_classes, n_parameters))
    d_mu[: n_classes - 1, : n_classes - 1] = np.eye(n_classes - 1)
    d_mu[n_classes - 1, : n_classes - 1] = -1.0
    d_eta = d_kappa[..., None, :, :] - d_mu[:, None, :]  # (start, item, class, C - 1, P)
    weighted = density[..., None] * d_eta
    zero = np.zeros_like(weighted[..., :1, :])
    d_theta = np.concatenate([weighted, zero], axis=-2) - np.concatenate(
        [zero, weighted], axis=-2
    )  # (start, item, class, C, P)
    weight = counts.sum(axis=-1)[..., None] / np.maximum(theta, 1e-300)
    return np.einsum("sjkc,sjkcp,sjkcq->sjpq", weight, d_theta, d_theta)


def _m_step(params: np.ndarray, counts: np.ndarray, n_classes: int, max_iter: int) -> np.ndarray:
    """Warm-started Fisher-scoring steps on every (start, item) weighted ordered logit.

    Each (start, item) is a separate problem of ``P = (K - 1) + (C - 1)`` parameters,
    solved at once in ``P`` x ``P`` blocks; a step is halved until the block's objective
    does not rise, so no M step lowers the likelihood (a generalised EM).
    """
    lower, upper = _bounds(n_classes, counts.shape[-1])
    ridge = 1e-8 * np.eye(params.shape[-1])
    for _ in range(max_iter):
        value, gradient = _item_objectives(params, counts, n_classes)
        information = _expected_information(params, counts, n_classes) + ridge
        direction = np.linalg.solve(information, gradient[..., None])[..., 0]
        scale = np.ones(value.shape)
        pending = np.ones(value.shape, dtype=bool)
        for _halving in range(30):
            candidate = np.clip(params - scale[..., None] * direction, lower, upper)
            new_value, _ = _item_objectives(candidate, counts, n_classes)
            accept = pending & (new_value <= value)
            params = np.where(accept[..., None], candidate, params)
            pending &= ~accept
            if not pending.any():
                break
            scale = np.where(pending, 0.5 * scale, scale)
    return params


def _class_item_counts(posterior: np.ndarray, indicator: np.ndarray, n_items: int) -> np.ndarray:
    """Posterior-weighted counts n (start, item, class, C) from (start, class, firm)."""
    n_starts, n_classes, _ = posterior.shape
    counts = (posterior @ indicator).reshape(n_starts, n_classes, n_items, -1)
    return counts.transpose(0, 2, 1, 3)


def _log_joint(
    params: np.ndarray, log_pi: np.ndarray, indicator: np.ndarray, n_classes: int
) -> tuple[np.ndarray, np.ndarray]:
    """E step: log p(y_i, z_i = k) (start, class, firm) and log p(y_i) (start, firm)."""
    log_theta = _class_item_log_theta(params, n_classes)  # (start, item, class, C)
    flat = log_theta.transpose(0, 2, 1, 3).reshape(params.shape[0], n_classes, -1)
    joint = latent_class_math.log_joint(indicator, log_pi, flat)
    return joint, latent_class_math.log_marginal(joint)


def _marginal_cutpoints(codes: np.ndarray, n_categories: int) -> np.ndarray:
    """Cutpoints matching each item's observed answer shares (locations zero): (item, C-1)."""
    shares = np.stack(
        [
            np.bincount(column[column > 0], minlength=n_categories + 1)[1:] + 0.5
            for column in codes.T
        ]
    )
    cumulative = np.cumsum(shares, axis=1)[:, :-1] / shares.sum(axis=1, keepdims=True)
    return np.log(cumulative / (1.0 - cumulative))


def _ordinal_em(
    codes: np.ndarray,
    n_categories: int,
    n_classes: int,
    n_starts: int,
    rng: np.random.Generator,
    max_iter: int,
    tol: float,
    init: str,
    m_step_iter: int,
    initial_params: np.ndarray | None = None,
    initial_pi: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Generalised EM from ``n_starts`` starts at once.

    Returns the final parameters (start, item, P), shares (start, class), log-likelihoods,
    iterations and convergence flags.  ``initial_params``/``initial_pi`` (one start each)
    replace the first random starts (warm starts).
    """
    n_firms, n_items = codes.shape
    indicator = _one_hot(codes, n_categories)
    marginal = _marginal_cutpoints(codes, n_categories)
    n_locations = (
        n_starts if init == "theta" else {"posterior": 0, "mixed": (n_starts + 1) // 2}[init]
    )
    n_posterior = n_starts - n_locations
    # Random locations ~ N(0, 1.5^2), cutpoints at the item margins, equal shares.
    mu = rng.normal(0.0, 1.5, size=(n_locations, n_items, n_classes))
    start_params = _pack(mu, np.broadcast_to(marginal, (n_locations, *marginal.shape)))
    start_pi = np.full((n_locations, n_classes), 1.0 / n_classes)
    if n_posterior:
        # Random posteriors ~ Dirichlet(1) per firm, then an M step from the margins.
        posterior = rng.gamma(1.0, size=(n_posterior, n_classes, n_firms))
        posterior /= posterior.sum(axis=1, keepdims=True)
        zero = _pack(
            np.zeros((n_posterior, n_items, n_classes)),
            np.broadcast_to(marginal, (n_posterior, *marginal.shape)),
        )
        counts = _class_item_counts(posterior, indicator, n_items)
        posterior_params = _m_step(zero, counts, n_classes, max(m_step_iter, 10))
        order = np.argsort(np.r_[np.arange(n_locations) * 2, np.arange(n_posterior) * 2 + 1])
        start_params = np.concatenate([start_params, posterior_params])[order]
        start_pi = np.concatenate([start_pi, posterior.mean(axis=2)])[order]
    if initial_params is not None:
        n_given = min(len(initial_params), n_starts)
        start_params[:n_given] = initial_params[:n_given]
        start_pi[:n_given] = initial_pi[:n_given]

    def m_step(posterior: np.ndarray, params: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        counts = _class_item_counts(posterior, indicator, n_items)
        return _m_step(params, counts, n_classes, m_step_iter), posterior.mean(axis=2)

    return run_em_starts(
        start_params,
        start_pi,
        lambda params, pi: _log_joint(params, safe_log(pi), indicator, n_classes),
        m_step,
        max_iter,
        tol,
    )


class OrdinalLatentClassEM(LatentClassEM):
    r"""Maximum-likelihood latent classes with ordinal (cumulative logit) items, by EM.

    .. math::

        P(\mathbf{y}_i) &= \sum_{k=1}^{K} \pi_k \prod_{j \in O_i} \theta_{kjy_{ij}},
        \qquad \sum_k \mu_{jk} = 0, \\
        \theta_{kjc} &= \operatorname{logistic}(\kappa_{jc} - \mu_{jk})
            - \operatorname{logistic}(\kappa_{j,c-1} - \mu_{jk}),
        \quad \kappa_{j0} = -\infty,\ \kappa_{jC} = +\infty,

    where :math:`O_i` holds the items firm :math:`i` answered.  EM alternates the
    posterior class probabilities :math:`p_{ik}` (E step, as the nominal model), the
    shares :math:`\pi_k = \frac1N \sum_i p_{ik}` and, per item, a weighted ordered-logit
    fit of :math:`(\kappa_j, \mu_j)` to the class-by-category table
    :math:`n_{jkc} = \sum_{i: y_{ij}=c} p_{ik}` (see the module docstring).  A random
    start draws either locations :math:`\mu_{jk} \sim N(0, 1.5^2)` (centred) with the
    cutpoints at the item's answer shares and equal class shares (``"theta"``), or each
    firm's class probabilities from a flat Dirichlet followed by an M step
    (``"posterior"``); ``"mixed"`` (default) alternates them.

    Every item must have the same categories :math:`1..C` (the Likert items do).

    Parameters
    ----------
    n_classes : int
        Number of latent classes :math:`K`.
    n_starts : int
        Random starts; the best log-likelihood wins.
    random_state : int or numpy.random.Generator, optional
        Seed of the random starts.
    max_iter : int
        Maximum EM iterations per start.
    tol : float
        Stop a start once its log-likelihood gains less than this per iteration.
    missing : {"ignore", "listwise"}
        As :class:`~bayes_cluster.estimators.latent_class_em.LatentClassEM`.
    n_categories : int, optional
        :math:`C` (default: the largest observed code).
    best_tolerance : float
        Distance to the best log-likelihood within which a start counts as reaching it.
    init : {"mixed", "theta", "posterior"}
        Kind of random start (see above).
    m_step_iter : int
        Newton steps per M step (warm-started from the previous iterate, so one or two
        suffice).

    Attributes
    ----------
    locations_ : xarray.DataArray
        :math:`\mu`, dims ``(latent_class, item)``, summing to zero over the classes.
    cutpoints_ : xarray.DataArray
        :math:`\kappa`, dims ``(item, cutpoint)``.
    item_probabilities_ : xarray.DataArray
        The implied :math:`\theta`, dims ``(latent_class, item, category)``.
    n_parameters_ : int
        :math:`(K - 1) + J\,((K - 1) + (C - 1))`.

    The other attributes (``log_likelihood_``, ``aic_``, ``bic_``, ``sabic_``, ``caic_``,
    ``relative_entropy_``, ``posterior_``, ``class_shares_``, ...) are those of
    :class:`~bayes_cluster.estimators.latent_class_em.LatentClassEM`; classes come in
    order of decreasing share.

    Examples
    --------
    >>> from bayes_cluster.estimators.ordinal_latent_class import simulate_ordinal_classes
    >>> frame, truth = simulate_ordinal_classes(
    ...     300, [[-1.5] * 6, [1.5] * 6], [-1.5, -0.5, 0.5, 1.5], [0.6, 0.4], seed=1
    ... )
    >>> items = frame.drop(columns="firm_id")
    >>> em = OrdinalLatentClassEM(2, n_starts=10, random_state=1).fit(items)
    >>> em.locations_.to_numpy().round(0)[:, 0].tolist()
    [-2.0, 2.0]
    """

    def __init__(
        self,
        n_classes: int,
        n_starts: int = 20,
        random_state: int | np.random.Generator | None = None,
        *,
        max_iter: int = 1000,
        tol: float = 1e-8,
        missing: MissingRule = "ignore",
        n_categories: int | None = None,
        best_tolerance: float = 1e-3,
        init: Literal["mixed", "theta", "posterior"] = "mixed",
        m_step_iter: int = 1,
    ) -> None:
        if n_categories is not None and (isinstance(n_categories, Mapping) or n_categories < 2):
            raise ValueError(
                "n_categories must be one whole number >= 2 (every item of the ordinal model "
                f"has the same categories), got {n_categories!r}"
            )
        super().__init__(
            n_classes,
            n_starts,
            random_state,
            max_iter=max_iter,
            tol=tol,
            missing=missing,
            n_categories=n_categories,
            best_tolerance=best_tolerance,
            init=init,
        )
        if int(m_step_iter) != m_step_iter or m_step_iter < 1:
            raise ValueError(f"m_step_iter must be a whole number >= 1, got {m_step_iter!r}")
        self.m_step_iter = int(m_step_iter)

    def fit(
        self,
        items_frame: pd.DataFrame,
        *,
        warm_start: OrdinalLatentClassEM | None = None,
    ) -> OrdinalLatentClassEM:
        """Fit the model by EM from :attr:`n_starts` starts.

        Parameters
        ----------
        items_frame : pandas.DataFrame
            One row per firm, one column per item, codes 1..C; missing as NaN.
        warm_start : OrdinalLatentClassEM, optional
            A fitted model with the same classes and items whose solution replaces the
            first random start.

        Returns
        -------
        OrdinalLatentClassEM
            ``self``, fitted.
        """
        codes, names, index, k = _coerce_items(items_frame, self.n_categories)
        n_categories = int(k.max())
        if self.n_categories is None:
            k = np.full(len(names), n_categories)
        if n_categories < 2:
            raise ValueError("the ordinal model needs items with at least 2 categories")
        complete = (codes > 0).all(axis=1)
        if self.missing == "listwise":
            codes, index = codes[complete], index[complete]
            if codes.shape[0] == 0:
                raise ValueError("listwise deletion left no firm with complete responses")
            complete = np.ones(codes.shape[0], dtype=bool)
        n_firms, n_items = codes.shape
        if n_firms < 2:
            raise ValueError(f"need at least 2 firms, got {n_firms}")
        initial_params = initial_pi = None
        if warm_start is not None:
            if warm_start.n_classes != self.n_classes or warm_start.items_ != names:
                raise ValueError(
                    "warm_start must be fitted with the same number of classes and items"
                )
            initial_params = _pack(
                warm_start.locations_.to_numpy().T[None],
                warm_start.cutpoints_.to_numpy()[None],
            )
            initial_pi = warm_start.class_shares_[None]

        params, pi, start_ll, n_iter, converged = _ordinal_em(
            codes,
            n_categories,
            self.n_classes,
            self.n_starts,
            np.random.default_rng(self.random_state),
            self.max_iter,
            self.tol,
            self.init,
            self.m_step_iter,
            initial_params,
            initial_pi,
        )
        best = int(np.argmax(start_ll))
        order = np.argsort(-pi[best], kind="stable")
        mu, kappa = _unpack(params[best], self.n_classes)  # (item, class), (item, C - 1)
        mu = mu[:, order].T
        pi_best = pi[best][order]
        theta = np.exp(ordinal_log_probabilities(kappa[None], mu[..., None]))

        labels = np.arange(1, self.n_classes + 1)
        # no covariates of class membership in the ordinal model (the parent's hooks)
        self.covariates_ = None
        self._log_weights = None
        self.items_ = names
        self.firm_index_ = index
        self.n_categories_ = pd.Series(k, index=pd.Index(names, name=ITEM), name="n_categories")
        self.class_shares_ = pi_best
        self.locations_ = xr.DataArray(
            mu,
            dims=(LATENT_CLASS, ITEM),
            coords={LATENT_CLASS: labels, ITEM: names},
            name="locations",
        )
        self.cutpoints_ = xr.DataArray(
            kappa,
            dims=(ITEM, CUTPOINT),
            coords={ITEM: names, CUTPOINT: np.arange(1, n_categories)},
            name="cutpoints",
        )
        self.item_probabilities_ = xr.DataArray(
            theta,
            dims=(LATENT_CLASS, ITEM, CATEGORY),
            coords={LATENT_CLASS: labels, ITEM: names, CATEGORY: np.arange(1, n_categories + 1)},
            name="item_probabilities",
        )
        self.start_log_likelihoods_ = start_ll
        self.log_likelihood_ = float(start_ll[best])
        self.n_best_starts_ = int((start_ll >= start_ll[best] - self.best_tolerance).sum())
        self.n_iter_ = int(n_iter[best])
        self.converged_ = bool(converged[best])
        self.n_firms_ = n_firms
        self.n_parameters_ = int(
            self.n_classes - 1 + n_items * (self.n_classes - 1 + n_categories - 1)
        )
        self.aic_ = -2.0 * self.log_likelihood_ + 2.0 * self.n_parameters_
        self.bic_ = -2.0 * self.log_likelihood_ + np.log(n_firms) * self.n_parameters_
        self.sabic_ = -2.0 * self.log_likelihood_ + np.log((n_firms + 2) / 24) * self.n_parameters_
        self.caic_ = -2.0 * self.log_likelihood_ + (np.log(n_firms) + 1.0) * self.n_parameters_
        self.posterior_ = self._posterior(_one_hot(codes, n_categories))
        self.modal_class_ = labels[self.posterior_.argmax(axis=1)]
        self.relative_entropy_ = _relative_entropy(self.posterior_)
        self.g2_, self.x2_ = self._pattern_statistics(codes[complete], k)
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "log_likelihood_"):
            raise RuntimeError(
                "OrdinalLatentClassEM is not fitted yet: call .fit(items_frame) first"
            )

    def expected_responses(self) -> pd.DataFrame:
        r"""Return the expected answer :math:`\sum_c c\,\theta_{kjc}` of each class to each item.

        Returns
        -------
        pandas.DataFrame
            Index ``item``, one column per class (``"class 1"``, ...), on the scale of
            the codes (3 is the middle of a 5-point item).
        """
        self._check_fitted()
        theta = self.item_probabilities_
        expected = (theta * theta[CATEGORY].astype(float)).sum(CATEGORY).to_numpy()
        return pd.DataFrame(
            expected.T, index=pd.Index(self.items_, name=ITEM), columns=self.class_names
        )

    def __repr__(self) -> str:
        if not hasattr(self, "log_likelihood_"):
            return f"OrdinalLatentClassEM(n_classes={self.n_classes}, n_starts={self.n_starts})"
        return (
            f"OrdinalLatentClassEM(n_classes={self.n_classes}, n_starts={self.n_starts}): "
            f"LL={self.log_likelihood_:.4f}, BIC={self.bic_:.4f}, "
            f"best optimum reached by {self.n_best_starts_}/{self.n_starts} starts"
            + ("" if self.converged_ else f"; best start stopped at max_iter={self.max_iter}")
        )

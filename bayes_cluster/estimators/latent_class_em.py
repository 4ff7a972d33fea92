"""Maximum-likelihood latent class analysis by EM (the poLCA model).

Polytomous latent class model of Linzer & Lewis (2011, *poLCA*, J. Stat. Softw. 42(10)):
``R`` classes with shares ``pi``; given the class, the ``J`` items are independent, item
``j`` taking category ``k`` (1..K_j) with probability ``theta[r, j, k]``.  Parameters are
estimated by the EM algorithm from many random starts (the likelihood is multimodal) and
the best start is kept.  All starts run at once: the E and M steps are a few matrix
products over a ``(start, class, firm)`` tensor, so 50 starts cost little more than one.

Conventions (stated, as poLCA's help pages state theirs):

* Items are coded ``1..K_j`` per column; ``K_j`` is the largest observed code unless
  ``n_categories`` says otherwise.  Stored probabilities are padded to ``K_max`` categories
  with **zeros** (a category an item does not have has probability zero; every
  ``[class, item, :]`` row still sums to one); :attr:`LatentClassEM.n_categories_` holds
  each item's ``K_j``.
* Classes are reported in order of **decreasing share** (poLCA's habit), labelled 1..R.
* Missing responses: ``missing="ignore"`` (default) leaves a firm's missing items out of
  its likelihood (full-information maximum likelihood under missing-at-random, as poLCA's
  ``na.rm = FALSE``); ``missing="listwise"`` drops every firm with a missing item first
  (poLCA's default, which produced the published reference values).
* ``npar = R sum_j (K_j - 1) + (R - 1)``, ``AIC = -2 LL + 2 npar``,
  ``BIC = -2 LL + ln(N) npar`` with ``N`` the number of firms fitted (poLCA's formulae);
  beside them the sample-size adjusted BIC (Sclove 1987),
  ``SABIC = -2 LL + ln((N + 2) / 24) npar``, and the consistent AIC (Bozdogan 1987),
  ``CAIC = -2 LL + (ln(N) + 1) npar`` (Mplus's and tidySEM's formulae).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Literal

import numpy as np
import pandas as pd
import xarray as xr

from bayes_cluster.common import latent_class_math
from bayes_cluster.common.dims import CATEGORY, FIRM, INTERCEPT, ITEM, LATENT_CLASS
from bayes_cluster.common.latent_class_math import safe_log

__all__ = ["LatentClassEM", "select_n_classes"]

MissingRule = Literal["ignore", "listwise"]


def _coerce_items(
    items_frame: pd.DataFrame | np.ndarray,
    n_categories: int | Mapping[str, int] | None = None,
) -> tuple[np.ndarray, list[str], pd.Index, np.ndarray]:
    """Validate an item frame and return integer codes (0 = missing) and ``K_j``.

    Returns
    -------
    codes : numpy.ndarray
        Shape (firm, item), int; 1..K_j observed, 0 missing.
    names : list of str
        Item names.
    index : pandas.Index
        Row labels of the input.
    n_categories : numpy.ndarray
        ``K_j`` per item.
    """
    if isinstance(items_frame, np.ndarray):
        if items_frame.ndim != 2:
            raise ValueError(f"items must be a 2-D array (firm x item), got {items_frame.ndim}-D")
        items_frame = pd.DataFrame(
            items_frame, columns=[f"item{j + 1}" for j in range(items_frame.shape[1])]
        )
    if not isinstance(items_frame, pd.DataFrame):
        raise TypeError(f"items must be a pandas DataFrame, got {type(items_frame).__name__}")
    if items_frame.shape[1] == 0:
        raise ValueError("items frame has no columns")
    if items_frame.shape[0] == 0:
        raise ValueError("items frame has no rows")
    names = [str(column) for column in items_frame.columns]
    codes = np.zeros(items_frame.shape, dtype=np.int64)
    for j, column in enumerate(items_frame.columns):
        series = items_frame[column]
        numeric = pd.to_numeric(series, errors="coerce")
        bad_text = numeric.isna() & series.notna()
        if bad_text.any():
            row = series.index[bad_text.to_numpy()][0]
            raise ValueError(
                f"item {column!r}, row {row!r}: value {series[row]!r} is not a category code "
                "(expected a whole number 1..K or missing)"
            )
        values = numeric.to_numpy(dtype=float, na_value=np.nan)
        observed = ~np.isnan(values)
        bad = observed & ((values < 1) | (values != np.round(values)))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ValueError(
                f"item {column!r}, row {series.index[i]!r}: value {values[i]:g} is not a "
                "category code (expected a whole number 1..K or missing)"
            )
        if not observed.any():
            raise ValueError(f"item {column!r} has no observed response")
        codes[observed, j] = values[observed].astype(np.int64)
    observed_max = codes.max(axis=0)
    if n_categories is None:
        k = observed_max.copy()
    elif isinstance(n_categories, Mapping):
        unknown = set(n_categories) - set(names)
        if unknown:
            raise ValueError(f"n_categories names unknown items: {sorted(unknown)}")
        k = np.array(
            [int(n_categories.get(name, m)) for name, m in zip(names, observed_max, strict=True)]
        )
    else:
        k = np.full(len(names), int(n_categories))
    too_high = observed_max > k
    if too_high.any():
        j = int(np.flatnonzero(too_high)[0])
        raise ValueError(
            f"item {names[j]!r} has code {observed_max[j]} above its {k[j]} categories"
        )
    if (k < 2).any():
        j = int(np.flatnonzero(k < 2)[0])
        raise ValueError(
            f"item {names[j]!r} has a single category; a latent class item needs at least two"
        )
    return codes, names, items_frame.index, k


def _one_hot(codes: np.ndarray, k_max: int) -> np.ndarray:
    """Return (firm, item * k_max) indicators; a missing response is a row of zeros."""
    n, j = codes.shape
    return latent_class_math.one_hot(codes, k_max).reshape(n, j * k_max)


def _log_joint(
    log_theta: np.ndarray, log_pi: np.ndarray, indicator: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """E-step core: log p(x_i, z_i = r) (start, class, firm) and log p(x_i) (start, firm).

    The latent-class likelihood of :mod:`bayes_cluster.common.latent_class_math`,
    vectorised over starts: ``log_theta`` (start, class, item * k_max), ``log_pi``
    (start, class), ``indicator`` (firm, item * k_max).
    """
    joint = latent_class_math.log_joint(indicator, log_pi, log_theta)
    return joint, latent_class_math.log_marginal(joint)


def _m_step(
    posterior: np.ndarray,
    indicator: np.ndarray,
    observed: np.ndarray,
    n_items: int,
    k_max: int,
) -> tuple[np.ndarray, np.ndarray]:
    """M-step: posterior-weighted category shares among the firms that answered each item.

    ``posterior`` has shape (start, class, firm); returns ``theta`` as
    (start, class, item * k_max) and ``pi`` as (start, class).
    """
    n_starts, n_classes, n_firms = posterior.shape
    counts = posterior @ indicator  # (start, class, item * k_max)
    answered = np.maximum(posterior @ observed, np.finfo(float).tiny)  # (start, class, item)
    theta = counts.reshape(n_starts, n_classes, n_items, k_max) / answered[..., None]
    return theta.reshape(n_starts, n_classes, n_items * k_max), posterior.sum(axis=2) / n_firms


def _random_starts(
    indicator: np.ndarray,
    observed: np.ndarray,
    category_mask: np.ndarray,
    n_classes: int,
    n_starts: int,
    rng: np.random.Generator,
    init: str,
) -> tuple[np.ndarray, np.ndarray]:
    """Draw starting ``theta`` (start, class, item, k_max) and ``pi`` (start, class)."""
    n_items, k_max = category_mask.shape
    n_firms = indicator.shape[0]
    n_theta = {"theta": n_starts, "posterior": 0, "mixed": (n_starts + 1) // 2}[init]
    n_posterior = n_starts - n_theta
    # poLCA: theta[r, j, :] ~ Dirichlet(1) over the item's categories; equal shares.
    theta = rng.gamma(1.0, size=(n_theta, n_classes, n_items, k_max)) * category_mask
    theta /= theta.sum(axis=-1, keepdims=True)
    pi = np.full((n_theta, n_classes), 1.0 / n_classes)
    # StepMix/scikit-learn: each firm's class probabilities ~ Dirichlet(1), then an M-step.
    posterior = rng.gamma(1.0, size=(n_posterior, n_classes, n_firms))
    posterior /= posterior.sum(axis=1, keepdims=True)
    theta_b, pi_b = _m_step(posterior, indicator, observed, n_items, k_max)
    theta_b = theta_b.reshape(n_posterior, n_classes, n_items, k_max)
    # interleave, so that the first starts of a "mixed" run use both kinds
    order = np.argsort(np.r_[np.arange(n_theta) * 2, np.arange(n_posterior) * 2 + 1])
    return np.concatenate([theta, theta_b])[order], np.concatenate([pi, pi_b])[order]


def _em(
    indicator: np.ndarray,
    observed: np.ndarray,
    category_mask: np.ndarray,
    n_classes: int,
    n_starts: int,
    rng: np.random.Generator,
    max_iter: int,
    tol: float,
    init: str = "mixed",
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Run EM from ``n_starts`` random starts at once.

    Returns final ``theta`` (start, class, item, k_max), ``pi`` (start, class), the final
    log-likelihood, the number of iterations and whether each start converged.
    """
    n_items, k_max = category_mask.shape
    theta, pi = _random_starts(indicator, observed, category_mask, n_classes, n_starts, rng, init)

    theta = theta.reshape(n_starts, n_classes, n_items * k_max)
    final_theta, final_pi, final_ll, n_iter, converged = run_em_starts(
        theta,
        pi,
        lambda theta, pi: _log_joint(safe_log(theta), safe_log(pi), indicator),
        # M-step: posterior-weighted category counts over the firms that answered each item.
        lambda posterior, _: _m_step(posterior, indicator, observed, n_items, k_max),
        max_iter,
        tol,
    )
    return (
        final_theta.reshape(n_starts, n_classes, n_items, k_max),
        final_pi,
        final_ll,
        n_iter,
        converged,
    )


def run_em_starts(
    params: np.ndarray,
    pi: np.ndarray,
    log_joint: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]],
    m_step: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]],
    max_iter: int,
    tol: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Iterate EM from many starts at once, retiring each start once it has converged.

    The loop shared by the nominal and the ordinal latent class EM: only the E step's
    log-joint and the M step differ between them.

    Parameters
    ----------
    params : numpy.ndarray
        Measurement parameters, one row per start (any trailing shape).
    pi : numpy.ndarray
        Class shares, (start, class).
    log_joint : callable
        ``log_joint(params, pi)`` returns the log-joint (start, class, firm) and the
        log-marginal (start, firm) of the active starts.
    m_step : callable
        ``m_step(posterior, params)`` returns the new ``(params, pi)`` from the class
        posteriors (start, class, firm) and the current parameters.
    max_iter : int
        Maximum number of iterations per start.
    tol : float
        A start stops once its log-likelihood gains less than this in one iteration (EM
        never decreases the likelihood).

    Returns
    -------
    tuple of numpy.ndarray
        The final parameters and shares per start, their log-likelihoods, the number of
        iterations and whether each start converged.
    """
    n_starts = len(params)
    final_params = np.empty_like(params)
    final_pi = np.empty_like(pi)
    final_ll = np.full(n_starts, -np.inf)
    n_iter = np.full(n_starts, max_iter)
    converged = np.zeros(n_starts, dtype=bool)
    active = np.arange(n_starts)
    previous = np.full(n_starts, -np.inf)
    for iteration in range(1, max_iter + 1):
        joint, marginal = log_joint(params, pi)
        log_likelihood = marginal.sum(axis=1)
        done = np.abs(log_likelihood - previous) < tol
        if done.any():
            finished = active[done]
            final_params[finished] = params[done]
            final_pi[finished] = pi[done]
            final_ll[finished] = log_likelihood[done]
            n_iter[finished] = iteration - 1
            converged[finished] = True
            keep = ~done
            active, params, pi = active[keep], params[keep], pi[keep]
            joint, marginal, log_likelihood = joint[keep], marginal[keep], log_likelihood[keep]
            if active.size == 0:
                break
        previous = log_likelihood
        params, pi = m_step(np.exp(joint - marginal[:, None, :]), params)
    if active.size:
        _, marginal = log_joint(params, pi)
        final_params[active] = params
        final_pi[active] = pi
        final_ll[active] = marginal.sum(axis=1)
    return final_params, final_pi, final_ll, n_iter, converged


# ---------------------------------------------------------------------- class covariates


def _coerce_covariates(
    covariates: pd.DataFrame | np.ndarray, n_rows: int
) -> tuple[np.ndarray, list[str]]:
    """Validate covariates of class membership: (firm, covariate) floats and their names."""
    if isinstance(covariates, np.ndarray):
        array = covariates.reshape(len(covariates), -1) if covariates.ndim == 1 else covariates
        if array.ndim != 2:
            raise ValueError(f"covariates must be 2-D (firm x covariate), got {array.ndim}-D")
        covariates = pd.DataFrame(array, columns=[f"x{p + 1}" for p in range(array.shape[1])])
    if not isinstance(covariates, pd.DataFrame):
        raise TypeError(f"covariates must be a pandas DataFrame, got {type(covariates).__name__}")
    if len(covariates) != n_rows:
        raise ValueError(
            f"covariates have {len(covariates)} rows but the items have {n_rows}: one row "
            "per firm, in the same order"
        )
    if covariates.shape[1] == 0:
        raise ValueError("covariates frame has no columns")
    names = [str(c) for c in covariates.columns]
    values = np.empty(covariates.shape)
    for p, column in enumerate(covariates.columns):
        series = covariates[column]
        numeric = pd.to_numeric(series, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        bad = np.flatnonzero(~np.isfinite(numeric))
        if bad.size:
            i = int(bad[0])
            raise ValueError(
                f"covariate {column!r}, row {series.index[i]!r}: value {series.iloc[i]!r} is "
                "not a number (a covariate of class membership needs one for every firm)"
            )
        if np.ptp(numeric) == 0:
            raise ValueError(
                f"covariate {column!r} is constant (every firm has {numeric[0]:g}): it "
                "cannot shift class membership"
            )
        values[:, p] = numeric
    return values, names


def _log_softmax(eta: np.ndarray) -> np.ndarray:
    peak = eta.max(axis=-1, keepdims=True)
    return eta - peak - np.log(np.exp(eta - peak).sum(axis=-1, keepdims=True))


def _newton_membership_step(
    beta: np.ndarray, design: np.ndarray, posterior: np.ndarray
) -> np.ndarray:
    r"""One Newton step (halved until it helps) of the weighted multinomial logit.

    Maximises :math:`Q(\beta) = \sum_{i,r} p_{ir} \log w_{ir}(\beta)`, the M-step of the
    class-membership model; ``beta`` (term, class) has class 1's column fixed at 0.
    """
    n_terms, n_classes = beta.shape

    def objective(b):
        return float((posterior * _log_softmax(design @ b)).sum())

    weights = np.exp(_log_softmax(design @ beta))
    gradient = (design.T @ (posterior - weights))[:, 1:].T.reshape(-1)  # (class, term)
    free = n_classes - 1
    hessian = np.zeros((free * n_terms, free * n_terms))
    for r in range(1, n_classes):
        for s in range(1, n_classes):
            cross = weights[:, r] * ((r == s) - weights[:, s])
            block = -(design.T * cross) @ design
            hessian[(r - 1) * n_terms : r * n_terms, (s - 1) * n_terms : s * n_terms] = block
    try:
        step = np.linalg.solve(hessian, -gradient)
    except np.linalg.LinAlgError:
        step = np.linalg.lstsq(hessian, -gradient, rcond=None)[0]
    current = objective(beta)
    for _ in range(30):
        candidate = beta.copy()
        candidate[:, 1:] += step.reshape(free, n_terms).T
        if objective(candidate) >= current:
            return candidate
        step = step / 2
    return beta


def _em_with_covariates(
    indicator: np.ndarray,
    observed: np.ndarray,
    design: np.ndarray,
    theta: np.ndarray,
    pi: np.ndarray,
    max_iter: int,
    tol: float,
) -> tuple[np.ndarray, np.ndarray, float, int, bool]:
    """EM of the one-step covariate model from one start (``theta``, ``pi`` of a plain fit).

    Returns ``theta`` (class, item, k_max), ``beta`` (term, class; class 1 = 0), the
    log-likelihood, the iterations and whether the gain fell below ``tol``.
    """
    n_classes, n_items, k_max = theta.shape
    beta = np.zeros((design.shape[1], n_classes))
    beta[0] = safe_log(pi) - safe_log(pi[:1])
    flat_theta = theta.reshape(1, n_classes, n_items * k_max)
    previous = -np.inf
    log_likelihood = -np.inf
    for iteration in range(1, max_iter + 1):
        log_weights = _log_softmax(design @ beta)  # (firm, class)
        joint = (safe_log(flat_theta[0]) @ indicator.T).T + log_weights  # (firm, class)
        marginal = _log_softmax_total(joint)
        log_likelihood = float(marginal.sum())
        if abs(log_likelihood - previous) < tol:
            return flat_theta[0].reshape(theta.shape), beta, log_likelihood, iteration - 1, True
        previous = log_likelihood
        posterior = np.exp(joint - marginal[:, None])
        flat_theta, _ = _m_step(posterior.T[None], indicator, observed, n_items, k_max)
        beta = _newton_membership_step(beta, design, posterior)
    return flat_theta[0].reshape(theta.shape), beta, log_likelihood, max_iter, False


def _log_softmax_total(joint: np.ndarray) -> np.ndarray:
    """Log-sum-exp over the last axis."""
    peak = joint.max(axis=-1)
    return peak + np.log(np.exp(joint - peak[..., None]).sum(axis=-1))


def _covariate_model_gradient(
    parameters: np.ndarray,
    layout: list[tuple[int, int, np.ndarray, int]],
    theta_shape: tuple[int, int, int],
    indicator: np.ndarray,
    observed: np.ndarray,
    design: np.ndarray,
    theta_fixed: np.ndarray,
) -> np.ndarray:
    """Gradient of the marginal log-likelihood in the free parameters (see ``_information``)."""
    n_classes, n_items, k_max = theta_shape
    n_terms = design.shape[1]
    n_beta = n_terms * (n_classes - 1)
    beta = np.zeros((n_terms, n_classes))
    beta[:, 1:] = parameters[:n_beta].reshape(n_classes - 1, n_terms).T
    theta = theta_fixed.copy()
    offset = n_beta
    for r, j, categories, reference in layout:
        eta = np.zeros(len(categories))
        free = categories != reference
        eta[free] = parameters[offset : offset + free.sum()]
        offset += int(free.sum())
        theta[r, j, :] = 0.0
        theta[r, j, categories] = np.exp(_log_softmax(eta))
    log_weights = _log_softmax(design @ beta)
    joint = (safe_log(theta.reshape(n_classes, -1)) @ indicator.T).T + log_weights
    marginal = _log_softmax_total(joint)
    posterior = np.exp(joint - marginal[:, None])  # (firm, class)
    weights = np.exp(log_weights)
    gradient = [(design.T @ (posterior - weights))[:, 1:].T.reshape(-1)]
    counts = (posterior.T @ indicator).reshape(n_classes, n_items, k_max)
    answered = posterior.T @ observed  # (class, item)
    for r, j, categories, reference in layout:
        free = categories[categories != reference]
        gradient.append(counts[r, j, free] - answered[r, j] * theta[r, j, free])
    return np.concatenate(gradient)


def _information(
    theta: np.ndarray,
    beta: np.ndarray,
    indicator: np.ndarray,
    observed: np.ndarray,
    design: np.ndarray,
    boundary: float = 1e-7,
) -> np.ndarray:
    r"""Covariance of the membership coefficients from the observed information.

    The free parameters are the coefficients of classes 2..R and, per class and item,
    the log-ratios of each category to the item's most probable category in that class;
    a probability at the boundary (below ``boundary``) is held fixed, as Latent GOLD
    does.  The Hessian is central differences of the analytic gradient; its inverse's
    block of the coefficients is returned, shape (coefficient, coefficient), ordered
    class 2 (intercept, covariates...), class 3, ...
    """
    n_classes, n_items, k_max = theta.shape
    layout = []
    values = [beta[:, 1:].T.reshape(-1)]
    for r in range(n_classes):
        for j in range(n_items):
            categories = np.flatnonzero(theta[r, j] > boundary)
            if categories.size < 2:
                continue
            reference = int(categories[np.argmax(theta[r, j, categories])])
            layout.append((r, j, categories, reference))
            free = categories[categories != reference]
            values.append(np.log(theta[r, j, free] / theta[r, j, reference]))
    point = np.concatenate(values)
    step = 1e-5 * np.maximum(1.0, np.abs(point))
    hessian = np.empty((point.size, point.size))
    arguments = (layout, theta.shape, indicator, observed, design, theta)
    for a in range(point.size):
        up, down = point.copy(), point.copy()
        up[a] += step[a]
        down[a] -= step[a]
        hessian[:, a] = (
            _covariate_model_gradient(up, *arguments) - _covariate_model_gradient(down, *arguments)
        ) / (2 * step[a])
    hessian = (hessian + hessian.T) / 2
    n_beta = beta.shape[0] * (n_classes - 1)
    try:
        covariance = np.linalg.inv(-hessian)
    except np.linalg.LinAlgError:
        return np.full((n_beta, n_beta), np.nan)
    return covariance[:n_beta, :n_beta]


class LatentClassEM:
    r"""Maximum-likelihood latent class analysis of polytomous items by EM (poLCA's model).

    .. math::

        P(\mathbf{x}_i) = \sum_{r=1}^{R} \pi_r \prod_{j \in O_i} \theta_{r j x_{ij}},
        \qquad \sum_r \pi_r = 1, \quad \sum_{k=1}^{K_j} \theta_{rjk} = 1,

    where :math:`O_i` is the set of items firm :math:`i` answered (missing responses
    are left out of the likelihood) and the log-likelihood is
    :math:`\ell = \sum_i \log P(\mathbf{x}_i)`.  EM alternates the posterior class
    probabilities :math:`p_{ir} = \pi_r \prod_{j\in O_i}\theta_{rjx_{ij}} / P(\mathbf{x}_i)`
    with :math:`\pi_r = \frac1N\sum_i p_{ir}` and
    :math:`\theta_{rjk} = \sum_{i: x_{ij}=k} p_{ir} / \sum_{i: j\in O_i} p_{ir}`.
    A random start either draws :math:`\theta_{rj\cdot} \sim \mathrm{Dirichlet}(1)`
    with equal shares (poLCA's way) or draws each firm's class probabilities from a flat
    Dirichlet and begins with an M-step (StepMix's and scikit-learn's way).  Neither is
    uniformly better: on the 60-firm Tumang design the second reaches the best optimum
    more often, on poLCA's ``values`` (K = 3) and ``carcinoma`` (K = 4) the first does;
    by default (``init="mixed"``) the starts alternate between the two.  Each start stops
    when its log-likelihood gains less than ``tol`` (poLCA: ``tol = 1e-10``,
    ``maxiter = 1000``).

    **Covariates of class membership** (``fit(items, covariates)``, one step, as poLCA's
    ``formula = cbind(...) ~ x`` and StepMix's covariate model): :math:`\pi_r` becomes
    each firm's :math:`\pi_{ir} = \mathrm{softmax}_r(\beta_{0r} + x_i^\top\beta_r)`
    with :math:`\beta_1 = 0`.  The M-step of :math:`\beta` is one Newton step (halved
    until it helps) on the expected complete-data log-likelihood
    :math:`\sum_{i,r} p_{ir} \log \pi_{ir}`, a weighted multinomial logit, so each
    iteration still raises the likelihood.  The covariate model starts from the ten best
    starts of the plain fit.  Classes are then ordered by decreasing mean share and
    :math:`\beta` re-expressed against the new class 1.  Standard errors come from the
    observed information: central differences of the analytic gradient of the marginal
    log-likelihood in all free parameters (the coefficients and, per class and item, the
    log-ratios of the categories to the most probable one), inverted; probabilities below
    1e-7 are held fixed (a boundary, as Latent GOLD treats them).  ``n_parameters_``
    counts :math:`(R - 1)(P + 1)` coefficients; ``g2_`` and ``x2_`` are NaN (the pattern
    frequencies would depend on each firm's covariates).

    Parameters
    ----------
    n_classes : int
        Number of latent classes ``R``.
    n_starts : int
        Number of random starts (poLCA's ``nrep``); the best log-likelihood wins.
    random_state : int or numpy.random.Generator, optional
        Seed of the random starts; the same seed gives the same fit.
    max_iter : int
        Maximum EM iterations per start.
    tol : float
        Convergence tolerance on the log-likelihood gain per iteration.
    missing : {"ignore", "listwise"}
        ``"ignore"`` (default): a firm's missing responses are left out of its likelihood
        (FIML).  ``"listwise"``: firms with any missing response are dropped (poLCA's
        default, used for the published reference values).
    n_categories : int or mapping, optional
        ``K_j`` (all items, or per item name); default the largest observed code per item.
    init : {"mixed", "theta", "posterior"}
        How random starts are drawn (see above): poLCA's random item probabilities
        (``"theta"``), random posteriors (``"posterior"``) or alternating (``"mixed"``).
    best_tolerance : float
        A start counts as reaching the best optimum when its log-likelihood is within
        this distance of the best one (:attr:`n_best_starts_`).

    Attributes
    ----------
    log_likelihood_ : float
        Maximised log-likelihood.
    n_parameters_ : int
        ``R sum_j (K_j - 1) + (R - 1)``.
    aic_, bic_ : float
        Information criteria (poLCA's formulae, ``N`` = firms fitted).
    sabic_, caic_ : float
        Sample-size adjusted BIC :math:`-2\ell + \ln((N + 2) / 24)\,\text{npar}`
        (Sclove 1987) and consistent AIC :math:`-2\ell + (\ln N + 1)\,\text{npar}`
        (Bozdogan 1987); lower is better, as for AIC and BIC.
    g2_, x2_ : float
        Likelihood-ratio and Pearson statistics comparing observed with expected
        response-pattern frequencies, over the firms with complete responses (poLCA).
        Pearson's sum also counts the patterns never observed (their expected total).
    relative_entropy_ : float
        :math:`1 - \sum_{i,r} -p_{ir}\ln p_{ir} / (N \ln R)` (1 = perfectly separated
        classes; NaN for ``R = 1``).
    class_shares_ : numpy.ndarray
        :math:`\pi`, decreasing.
    item_probabilities_ : xarray.DataArray
        :math:`\theta`, dims ``(latent_class, item, category)``; classes labelled 1..R,
        categories 1..K_max, zero-padded beyond an item's ``K_j``.
    n_categories_ : pandas.Series
        ``K_j`` by item.
    posterior_ : numpy.ndarray
        Shape (firm, class): each fitted firm's posterior class probabilities.
    modal_class_ : numpy.ndarray
        Each fitted firm's most probable class label (1..R).
    firm_index_ : pandas.Index
        Row labels of the firms fitted (fewer than the input under ``"listwise"``).
    start_log_likelihoods_ : numpy.ndarray
        Final log-likelihood of every start, in start order.
    n_best_starts_ : int
        How many starts reached the best log-likelihood (within ``best_tolerance``).
    n_iter_ : int
        EM iterations of the best start.
    converged_ : bool
        Whether the best start met ``tol`` within ``max_iter``.
    covariates_ : list of str or None
        Names of the covariates of class membership (None without).
    membership_coefficients_ : pandas.DataFrame
        With covariates: one row per (term, class k >= 2), ``log_odds`` against class 1,
        ``se``, ``z``, ``p_value`` and the 95% Wald interval (:meth:`membership_effects`).

    Examples
    --------
    >>> from bayes_cluster.surveys.simulate import simulate_tumang
    >>> from bayes_cluster.surveys.markusen import MARKUSEN_ITEMS
    >>> frame, truth = simulate_tumang(n=60, seed=3)
    >>> em = LatentClassEM(2, n_starts=20, random_state=1).fit(frame[list(MARKUSEN_ITEMS)])
    >>> em.class_shares_.round(1).tolist()
    [0.7, 0.3]
    """

    def __init__(
        self,
        n_classes: int,
        n_starts: int = 50,
        random_state: int | np.random.Generator | None = None,
        *,
        max_iter: int = 1000,
        tol: float = 1e-10,
        missing: MissingRule = "ignore",
        n_categories: int | Mapping[str, int] | None = None,
        best_tolerance: float = 1e-3,
        init: Literal["mixed", "theta", "posterior"] = "mixed",
    ) -> None:
        if int(n_classes) != n_classes or n_classes < 1:
            raise ValueError(f"n_classes must be a whole number >= 1, got {n_classes!r}")
        if int(n_starts) != n_starts or n_starts < 1:
            raise ValueError(f"n_starts must be a whole number >= 1, got {n_starts!r}")
        if missing not in ("ignore", "listwise"):
            raise ValueError(f"missing must be 'ignore' or 'listwise', got {missing!r}")
        if init not in ("mixed", "theta", "posterior"):
            raise ValueError(f"init must be 'mixed', 'theta' or 'posterior', got {init!r}")
        if max_iter < 1:
            raise ValueError(f"max_iter must be >= 1, got {max_iter!r}")
        self.n_classes = int(n_classes)
        self.n_starts = int(n_starts)
        self.random_state = random_state
        self.max_iter = int(max_iter)
        self.tol = float(tol)
        self.missing = missing
        self.n_categories = n_categories
        self.best_tolerance = float(best_tolerance)
        self.init = init

    # ------------------------------------------------------------------ fitting
    def fit(
        self,
        items_frame: pd.DataFrame,
        covariates: pd.DataFrame | np.ndarray | None = None,
    ) -> LatentClassEM:
        r"""Fit the model by EM from :attr:`n_starts` random starts.

        Parameters
        ----------
        items_frame : pandas.DataFrame
            One row per firm, one column per item, codes 1..K_j; missing as NaN/None.
        covariates : pandas.DataFrame or numpy.ndarray, optional
            Covariates of class membership, one row per firm in the order of
            ``items_frame``, used as given (standardise them first to read the
            coefficients per SD).  The shares then follow a multinomial logit,
            :math:`P(z_i = r \mid x_i) = \mathrm{softmax}_r(\beta_{0r} + x_i^\top
            \beta_r)`, class 1 (the largest) the reference (one-step, as poLCA's
            ``formula = cbind(...) ~ x`` and StepMix's covariate model); see the
            class docstring.

        Returns
        -------
        LatentClassEM
            ``self``, fitted.
        """
        codes, names, index, k = _coerce_items(items_frame, self.n_categories)
        complete = (codes > 0).all(axis=1)
        x = covariate_names = None
        if covariates is not None:
            if self.n_classes < 2:
                raise ValueError("covariates of class membership need at least 2 classes")
            x, covariate_names = _coerce_covariates(covariates, codes.shape[0])
        if self.missing == "listwise":
            if x is not None:
                x = x[complete]
            codes, index = codes[complete], index[complete]
            if codes.shape[0] == 0:
                raise ValueError("listwise deletion left no firm with complete responses")
            complete = np.ones(codes.shape[0], dtype=bool)
        n_firms, n_items = codes.shape
        if n_firms < 2:
            raise ValueError(f"need at least 2 firms, got {n_firms}")
        k_max = int(k.max())
        category_mask = (np.arange(k_max)[None, :] < k[:, None]).astype(float)
        indicator = _one_hot(codes, k_max)
        observed = (codes > 0).astype(float)

        rng = np.random.default_rng(self.random_state)
        theta, pi, start_ll, n_iter, converged = _em(
            indicator,
            observed,
            category_mask,
            self.n_classes,
            self.n_starts,
            rng,
            self.max_iter,
            self.tol,
            self.init,
        )
        best = int(np.argmax(start_ll))
        order = np.argsort(-pi[best], kind="stable")
        theta_best, pi_best = theta[best][order], pi[best][order]
        self.covariates_ = covariate_names
        self._log_weights = None
        if x is not None:
            design = np.column_stack([np.ones(n_firms), x])
            # the covariate model starts from the best plain solutions (distinct starts)
            top = np.argsort(-start_ll, kind="stable")[: min(self.n_starts, 10)]
            runs = [
                _em_with_covariates(
                    indicator, observed, design, theta[s], pi[s], self.max_iter, self.tol
                )
                for s in top
            ]
            start_ll = np.array([run[2] for run in runs])
            n_iter = np.array([run[3] for run in runs])
            converged = np.array([run[4] for run in runs])
            best = int(np.argmax(start_ll))
            theta_c, beta = runs[best][0], runs[best][1]
            shares = np.exp(_log_softmax(design @ beta)).mean(axis=0)
            order = np.argsort(-shares, kind="stable")
            theta_best, pi_best = theta_c[order], shares[order]
            beta = beta[:, order] - beta[:, order][:, :1]  # class 1 (largest) the reference
            self._log_weights = _log_softmax(design @ beta)
            self._fit_membership(theta_best, beta, indicator, observed, design)

        self.items_ = names
        self.firm_index_ = index
        self.n_categories_ = pd.Series(k, index=pd.Index(names, name=ITEM), name="n_categories")
        self.class_shares_ = pi_best
        labels = np.arange(1, self.n_classes + 1)
        self.item_probabilities_ = xr.DataArray(
            theta_best,
            dims=(LATENT_CLASS, ITEM, CATEGORY),
            coords={LATENT_CLASS: labels, ITEM: names, CATEGORY: np.arange(1, k_max + 1)},
            name="item_probabilities",
            attrs={"padding": "zero beyond each item's n_categories"},
        )
        self.start_log_likelihoods_ = start_ll
        self.log_likelihood_ = float(start_ll[best])
        self.n_best_starts_ = int((start_ll >= start_ll[best] - self.best_tolerance).sum())
        self.n_iter_ = int(n_iter[best])
        self.converged_ = bool(converged[best])
        self.n_firms_ = n_firms
        n_terms = 1 if x is None else 1 + x.shape[1]
        self.n_parameters_ = int(self.n_classes * (k - 1).sum() + (self.n_classes - 1) * n_terms)
        self.aic_ = -2.0 * self.log_likelihood_ + 2.0 * self.n_parameters_
        self.bic_ = -2.0 * self.log_likelihood_ + np.log(n_firms) * self.n_parameters_
        self.sabic_ = -2.0 * self.log_likelihood_ + np.log((n_firms + 2) / 24) * self.n_parameters_
        self.caic_ = -2.0 * self.log_likelihood_ + (np.log(n_firms) + 1.0) * self.n_parameters_
        self.posterior_ = self._posterior(indicator)
        self.modal_class_ = labels[self.posterior_.argmax(axis=1)]
        self.relative_entropy_ = _relative_entropy(self.posterior_)
        if x is None:
            self.g2_, self.x2_ = self._pattern_statistics(codes[complete], k)
        else:  # pattern frequencies depend on each firm's covariates: not computed
            self.g2_ = self.x2_ = float("nan")
        return self

    def _fit_membership(self, theta, beta, indicator, observed, design) -> None:
        """Coefficients of the membership logit, their SEs and Wald intervals."""
        from scipy.stats import norm

        covariance = _information(theta, beta, indicator, observed, design)
        terms = [INTERCEPT, *self.covariates_]
        rows = []
        for r in range(1, self.n_classes):
            for t, term in enumerate(terms):
                a = (r - 1) * len(terms) + t
                estimate = float(beta[t, r])
                se = float(np.sqrt(covariance[a, a])) if covariance[a, a] >= 0 else np.nan
                z = estimate / se if se > 0 else np.nan
                rows.append(
                    {
                        "term": term,
                        LATENT_CLASS: r + 1,
                        "reference_class": 1,
                        "log_odds": estimate,
                        "se": se,
                        "z": z,
                        "p_value": float(2 * norm.sf(abs(z))),
                        "ci_lower": estimate - norm.ppf(0.975) * se,
                        "ci_upper": estimate + norm.ppf(0.975) * se,
                    }
                )
        self.membership_coefficients_ = pd.DataFrame(rows)
        self.membership_covariance_ = covariance

    def membership_effects(self, level: float = 0.95) -> pd.DataFrame:
        """Covariate effects on class membership: log-odds of class k against class 1.

        Parameters
        ----------
        level : float
            Coverage of the Wald intervals ``estimate +/- z * se``.

        Returns
        -------
        pandas.DataFrame
            One row per (covariate, class k >= 2): ``covariate``, ``latent_class``,
            ``reference_class``, ``log_odds``, ``se`` (observed information), ``z``,
            ``p_value``, ``ci_lower``, ``ci_upper``, ``odds_ratio``.

        Raises
        ------
        ValueError
            When the model was fitted without covariates.
        """
        from scipy.stats import norm

        self._check_fitted()
        if not self.covariates_:
            raise ValueError("this fit has no covariates: call fit(items, covariates=...)")
        if not 0 < level < 1:
            raise ValueError(f"level must be in (0, 1), got {level}")
        table = self.membership_coefficients_
        table = table[table["term"] != INTERCEPT].rename(columns={"term": "covariate"}).copy()
        half = norm.ppf(0.5 + level / 2) * table["se"]
        table["ci_lower"] = table["log_odds"] - half
        table["ci_upper"] = table["log_odds"] + half
        table["odds_ratio"] = np.exp(table["log_odds"])
        return table.reset_index(drop=True)

    def _check_fitted(self) -> None:
        if not hasattr(self, "log_likelihood_"):
            raise RuntimeError("LatentClassEM is not fitted yet: call .fit(items_frame) first")

    def _flat_log_theta(self) -> np.ndarray:
        theta = self.item_probabilities_.to_numpy()
        return safe_log(theta.reshape(1, self.n_classes, -1))

    def _posterior(self, indicator: np.ndarray) -> np.ndarray:
        if self._log_weights is not None:  # each firm's own class weights (covariates)
            joint = (self._flat_log_theta()[0] @ indicator.T).T + self._log_weights
            return np.exp(joint - _log_softmax_total(joint)[:, None])
        log_joint, log_marginal = _log_joint(
            self._flat_log_theta(), safe_log(self.class_shares_[None, :]), indicator
        )
        return np.exp(log_joint[0] - log_marginal[0][None, :]).T

    def _pattern_statistics(self, codes: np.ndarray, k: np.ndarray) -> tuple[float, float]:
        """G² and X² over the observed response patterns of complete cases (poLCA)."""
        if codes.shape[0] == 0:
            return float("nan"), float("nan")
        patterns, observed = np.unique(codes, axis=0, return_counts=True)
        indicator = _one_hot(patterns, int(k.max()))
        _, log_marginal = _log_joint(
            self._flat_log_theta(), safe_log(self.class_shares_[None, :]), indicator
        )
        expected = codes.shape[0] * np.exp(log_marginal[0])
        g2 = 2.0 * float(np.sum(observed * np.log(observed / expected)))
        # Unobserved patterns contribute (0 - e)^2 / e = e each: N - sum(expected) in total.
        x2 = float(np.sum((observed - expected) ** 2 / expected))
        x2 += codes.shape[0] - float(expected.sum())
        return g2, x2

    # ------------------------------------------------------------------ outputs
    def predict_proba(self, items_frame: pd.DataFrame) -> np.ndarray:
        """Posterior class probabilities of (new) firms under the fitted parameters.

        Parameters
        ----------
        items_frame : pandas.DataFrame
            The fitted item columns (same names), codes 1..K_j; missing responses are
            left out of each firm's likelihood.

        Returns
        -------
        numpy.ndarray
            Shape (firm, class), rows summing to one.
        """
        self._check_fitted()
        if not isinstance(items_frame, pd.DataFrame):
            raise TypeError("items_frame must be a pandas DataFrame")
        absent = [name for name in self.items_ if name not in items_frame.columns]
        if absent:
            raise ValueError(f"items_frame lacks the fitted items: {absent}")
        codes, _, _, _ = _coerce_items(items_frame[self.items_], dict(self.n_categories_.items()))
        return self._posterior(_one_hot(codes, self.item_probabilities_.sizes[CATEGORY]))

    def predict(self, items_frame: pd.DataFrame) -> np.ndarray:
        """Modal class label (1..R) of each firm; see :meth:`predict_proba`."""
        return np.arange(1, self.n_classes + 1)[self.predict_proba(items_frame).argmax(axis=1)]

    def item_probabilities_frame(self) -> pd.DataFrame:
        """Item-response probabilities as a table.

        Returns
        -------
        pandas.DataFrame
            Index (item, category) over each item's own categories only (no padding);
            one column per class (``"class 1"``, ...).
        """
        self._check_fitted()
        rows = []
        theta = self.item_probabilities_.to_numpy()
        for j, name in enumerate(self.items_):
            for category in range(1, int(self.n_categories_.iloc[j]) + 1):
                rows.append((name, category, *theta[:, j, category - 1]))
        columns = [ITEM, CATEGORY, *self.class_names]
        return pd.DataFrame(rows, columns=columns).set_index([ITEM, CATEGORY])

    @property
    def class_names(self) -> list[str]:
        """Display names of the classes: ``"class 1"`` ... (largest share first)."""
        return [f"class {r}" for r in range(1, self.n_classes + 1)]

    def posterior_frame(self) -> pd.DataFrame:
        """Posterior class probabilities and modal class of each fitted firm.

        Returns
        -------
        pandas.DataFrame
            Indexed by the fitted firms' row labels; one probability column per class and
            ``modal_class``.
        """
        self._check_fitted()
        frame = pd.DataFrame(self.posterior_, index=self.firm_index_, columns=self.class_names)
        frame.index.name = FIRM
        frame["modal_class"] = self.modal_class_
        return frame

    def fit_statistics(self) -> pd.Series:
        """Log-likelihood, npar, AIC, BIC, G², X², entropy, start counts, SABIC and CAIC.

        SABIC and CAIC come last, so that tables written before they existed keep their
        column order.

        Returns
        -------
        pandas.Series
            One entry per statistic.
        """
        self._check_fitted()
        return pd.Series(
            {
                "n_classes": self.n_classes,
                "n_firms": self.n_firms_,
                "log_likelihood": self.log_likelihood_,
                "n_parameters": self.n_parameters_,
                "aic": self.aic_,
                "bic": self.bic_,
                "g2": self.g2_,
                "x2": self.x2_,
                "relative_entropy": self.relative_entropy_,
                "n_starts": self.n_starts,
                "n_best_starts": self.n_best_starts_,
                "n_iter": self.n_iter_,
                "converged": self.converged_,
                "sabic": self.sabic_,
                "caic": self.caic_,
            },
            name="fit_statistics",
            dtype=object,
        )

    def summary(self) -> pd.DataFrame:
        """Per-class summary: share, modal-class count and mean posterior of its members.

        Returns
        -------
        pandas.DataFrame
            Indexed by class label (1..R, largest share first).
        """
        self._check_fitted()
        labels = np.arange(1, self.n_classes + 1)
        n_modal = np.array([(self.modal_class_ == r).sum() for r in labels])
        mean_posterior = np.array(
            [
                self.posterior_[self.modal_class_ == r, r - 1].mean() if n else np.nan
                for r, n in zip(labels, n_modal, strict=True)
            ]
        )
        return pd.DataFrame(
            {
                "class_share": self.class_shares_,
                "n_modal": n_modal,
                "share_modal": n_modal / self.n_firms_,
                "mean_posterior_of_members": mean_posterior,
            },
            index=pd.Index(labels, name=LATENT_CLASS),
        )

    def __repr__(self) -> str:
        if not hasattr(self, "log_likelihood_"):
            return f"LatentClassEM(n_classes={self.n_classes}, n_starts={self.n_starts})"
        return (
            f"LatentClassEM(n_classes={self.n_classes}, n_starts={self.n_starts}): "
            f"LL={self.log_likelihood_:.4f}, BIC={self.bic_:.4f}, "
            f"best optimum reached by {self.n_best_starts_}/{self.n_starts} starts"
            + ("" if self.converged_ else f"; best start stopped at max_iter={self.max_iter}")
        )


def _relative_entropy(posterior: np.ndarray) -> float:
    n_firms, n_classes = posterior.shape
    if n_classes == 1:
        return float("nan")
    p = np.clip(posterior, np.finfo(float).tiny, 1.0)
    entropy = -np.sum(posterior * np.log(p))
    return float(1.0 - entropy / (n_firms * np.log(n_classes)))


def select_n_classes(
    items_frame: pd.DataFrame,
    k_range: Iterable[int] | Sequence[int] = range(1, 5),
    *,
    n_starts: int = 50,
    random_state: int | None = None,
    **kwargs,
) -> pd.DataFrame:
    """Fit :class:`LatentClassEM` for each number of classes and tabulate the fit.

    Parameters
    ----------
    items_frame : pandas.DataFrame
        Item responses coded 1..K_j.
    k_range : iterable of int
        Numbers of classes to try.
    n_starts : int
        Random starts per fit.
    random_state : int, optional
        Seed; each ``K`` uses its own stream derived from it.
    **kwargs
        Passed to :class:`LatentClassEM` (``missing``, ``tol``, ...).

    Returns
    -------
    pandas.DataFrame
        Indexed by ``n_classes``: log-likelihood, n_parameters, AIC, BIC, G², X², relative
        entropy, starts reaching the best optimum, ``best_bic`` marking the lowest BIC, then
        SABIC and CAIC (last, so that earlier tables keep their column order).
    """
    seeds = np.random.SeedSequence(random_state)
    k_values = list(k_range)
    if not k_values:
        raise ValueError("k_range is empty")
    rows = []
    for n_classes, seed in zip(k_values, seeds.spawn(len(k_values)), strict=True):
        fit = LatentClassEM(
            n_classes, n_starts=n_starts, random_state=np.random.default_rng(seed), **kwargs
        ).fit(items_frame)
        rows.append(fit.fit_statistics().drop("n_classes").rename(n_classes))
    table = pd.DataFrame(rows).infer_objects()
    table.index.name = "n_classes"
    table["best_bic"] = table["bic"] == table["bic"].min()
    return table[[c for c in table.columns if c not in ("sabic", "caic")] + ["sabic", "caic"]]

r"""The latent-class maths, written once (plain numpy).

The Bayesian mixture (:mod:`bayes_cluster.estimators.latent_class`), its
maximum-likelihood twin (:mod:`bayes_cluster.estimators.latent_class_em`) and the
synthetic survey (:mod:`bayes_cluster.surveys.simulate`) share one model of a firm's
answers: with :math:`K` classes of shares :math:`\pi` and item-response probabilities
:math:`\theta_{kjc}` (class :math:`k`, item :math:`j`, category :math:`c`),

.. math::

    z_i &\sim \mathrm{Categorical}(\pi), \qquad
    y_{ij} \mid z_i \sim \mathrm{Categorical}(\theta_{z_i j \cdot}), \\
    \log p(\mathbf y_i \mid \pi, \theta) &= \log \sum_{k=1}^{K} \pi_k
        \prod_{j \in O_i} \theta_{k j y_{ij}},

where :math:`O_i` are the items firm :math:`i` answered: a missing response is a row of
zeros in the one-hot responses and drops out of the product.  This module holds that
likelihood (:func:`log_joint`, :func:`log_marginal`, :func:`marginal_log_likelihood`,
:func:`class_posterior`), the generative process (:func:`draw_categories`,
:func:`simulate_responses`), the one-hot coding (:func:`one_hot`) and the rule that
collapses 5-point Likert answers to disagree / neutral / agree
(:data:`LIKERT_THREE_LEVELS`, :func:`collapse_likert`).

Imports nothing of the package.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

__all__ = [
    "LIKERT_THREE_LEVELS",
    "LIKERT_TO_THREE",
    "THREE_LEVEL_LABELS",
    "class_posterior",
    "collapse_likert",
    "draw_categories",
    "log_joint",
    "log_marginal",
    "marginal_log_likelihood",
    "one_hot",
    "safe_log",
    "simulate_responses",
]

# ------------------------------------------------------------------------ Likert collapse

LIKERT_THREE_LEVELS: tuple[tuple[int, ...], ...] = ((1, 2), (3,), (4, 5))
"""Likert codes 1..5 grouped into disagree (1-2), neutral (3), agree (4-5)."""

THREE_LEVEL_LABELS: tuple[str, ...] = ("disagree", "neutral", "agree")
"""Meaning of codes 1, 2, 3 after :func:`collapse_likert`."""

LIKERT_TO_THREE: Mapping[int, int] = {
    code: group for group, codes in enumerate(LIKERT_THREE_LEVELS, start=1) for code in codes
}
"""Likert code -> collapsed code (``{1: 1, 2: 1, 3: 2, 4: 3, 5: 3}``)."""

_COLLAPSE_TABLE = np.array([0, *(LIKERT_TO_THREE[code] for code in range(1, 6))])


def collapse_likert(codes: np.ndarray) -> np.ndarray:
    """Collapse Likert codes 1..5 to 1 = disagree (1-2), 2 = neutral (3), 3 = agree (4-5).

    Parameters
    ----------
    codes : numpy.ndarray
        Whole numbers 0..5; 0 means missing and stays 0.

    Returns
    -------
    numpy.ndarray
        Same shape, int64, codes 0..3.

    Raises
    ------
    ValueError
        When a code is outside 0..5.

    Examples
    --------
    >>> collapse_likert(np.array([0, 1, 2, 3, 4, 5])).tolist()
    [0, 1, 1, 2, 3, 3]
    """
    codes = np.asarray(codes, dtype=np.int64)
    if codes.size and (codes.min() < 0 or codes.max() > 5):
        raise ValueError("Likert codes must be whole numbers 1..5 (0 = missing)")
    return _COLLAPSE_TABLE[codes]


# ------------------------------------------------------------------------ coding


def one_hot(codes: np.ndarray, n_categories: int) -> np.ndarray:
    """One-hot responses: shape (firm, item, category); a missing answer is a row of zeros.

    Parameters
    ----------
    codes : numpy.ndarray
        Shape (firm, item), whole numbers; 1..``n_categories`` observed, 0 missing.
    n_categories : int
        Number of categories (the length of the last axis).

    Returns
    -------
    numpy.ndarray
        Shape (firm, item, ``n_categories``), float.

    Examples
    --------
    >>> one_hot(np.array([[1, 0]]), 3).tolist()
    [[[1.0, 0.0, 0.0], [0.0, 0.0, 0.0]]]
    """
    codes = np.asarray(codes)
    indicator = np.zeros((*codes.shape, n_categories))
    firm, item = np.nonzero(codes)
    indicator[firm, item, codes[firm, item] - 1] = 1.0
    return indicator


_LOG_FLOOR = np.log(np.finfo(float).tiny)


def safe_log(values: np.ndarray) -> np.ndarray:
    """Natural log with zeros mapped to the log of the smallest normal float (finite).

    A category an item does not have has probability 0; its floored log meets only zeros
    of the one-hot responses, so the product stays 0 instead of NaN.

    Parameters
    ----------
    values : numpy.ndarray
        Probabilities (>= 0).

    Returns
    -------
    numpy.ndarray
    """
    with np.errstate(divide="ignore"):
        out = np.log(values)
    return np.maximum(out, _LOG_FLOOR)


# ------------------------------------------------------------------------ likelihood


def log_joint(
    responses: np.ndarray, log_class_shares: np.ndarray, log_item_probabilities: np.ndarray
) -> np.ndarray:
    r"""Return :math:`\log \pi_k + \sum_{j,c} y_{ijc} \log \theta_{kjc}`, shape (..., class, firm).

    Parameters
    ----------
    responses : numpy.ndarray
        One-hot responses flattened to (firm, item x category).
    log_class_shares : numpy.ndarray
        :math:`\log \pi`, shape (..., class).
    log_item_probabilities : numpy.ndarray
        :math:`\log \theta` flattened to (..., class, item x category) (see
        :func:`safe_log`).

    Returns
    -------
    numpy.ndarray
        Shape (..., class, firm).
    """
    joint = log_item_probabilities @ responses.T
    joint += log_class_shares[..., None]
    return joint


def log_marginal(joint: np.ndarray) -> np.ndarray:
    """Log-sum-exp of :func:`log_joint` over the classes: each firm's log-likelihood.

    Parameters
    ----------
    joint : numpy.ndarray
        Shape (..., class, firm).

    Returns
    -------
    numpy.ndarray
        Shape (..., firm).
    """
    peak = joint.max(axis=-2)
    return peak + np.log(np.exp(joint - peak[..., None, :]).sum(axis=-2))


def _flat_joint(
    one_hot_responses: np.ndarray, class_shares: np.ndarray, item_probabilities: np.ndarray
) -> np.ndarray:
    n_firms, n_items, n_categories = one_hot_responses.shape
    theta = np.asarray(item_probabilities, dtype=float)
    flat_log_theta = safe_log(theta).reshape(*theta.shape[:-2], n_items * n_categories)
    return log_joint(
        one_hot_responses.reshape(n_firms, n_items * n_categories),
        safe_log(np.asarray(class_shares, dtype=float)),
        flat_log_theta,
    )


def marginal_log_likelihood(
    one_hot_responses: np.ndarray, class_shares: np.ndarray, item_probabilities: np.ndarray
) -> np.ndarray:
    r"""Per-firm marginal log-likelihood of the latent class model.

    .. math::

        \log p(\mathbf{y}_i \mid \pi, \theta) = \log \sum_{k=1}^{K} \pi_k
            \prod_{j=1}^{J} \prod_{c=1}^{C} \theta_{kjc}^{\,y_{ijc}}

    Parameters
    ----------
    one_hot_responses : numpy.ndarray
        Shape (firm, item, category); a missing response is a row of zeros.
    class_shares : numpy.ndarray
        Shape (..., class).
    item_probabilities : numpy.ndarray
        Shape (..., class, item, category).

    Returns
    -------
    numpy.ndarray
        Shape (..., firm).

    Examples
    --------
    >>> y = one_hot(np.array([[1, 2]]), 2)
    >>> theta = np.array([[[0.9, 0.1], [0.2, 0.8]], [[0.5, 0.5], [0.5, 0.5]]])
    >>> round(float(np.exp(marginal_log_likelihood(y, np.array([0.5, 0.5]), theta))[0]), 6)
    0.485
    """
    return log_marginal(_flat_joint(one_hot_responses, class_shares, item_probabilities))


def class_posterior(
    one_hot_responses: np.ndarray, class_shares: np.ndarray, item_probabilities: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    r"""Each firm's log-likelihood and posterior class probabilities.

    :math:`P(z_i = k \mid \mathbf y_i, \pi, \theta) = \pi_k \prod_{j,c}
    \theta_{kjc}^{y_{ijc}} / p(\mathbf y_i \mid \pi, \theta)`.

    Parameters
    ----------
    one_hot_responses : numpy.ndarray
        Shape (firm, item, category); a missing response is a row of zeros.
    class_shares : numpy.ndarray
        Shape (..., class).
    item_probabilities : numpy.ndarray
        Shape (..., class, item, category).

    Returns
    -------
    log_likelihood : numpy.ndarray
        Shape (..., firm), as :func:`marginal_log_likelihood`.
    probabilities : numpy.ndarray
        Shape (..., firm, class), summing to one over the classes.
    """
    joint = _flat_joint(one_hot_responses, class_shares, item_probabilities)
    marginal = log_marginal(joint)
    probabilities = np.exp(joint - marginal[..., None, :])
    return marginal, np.swapaxes(probabilities, -1, -2)


# ------------------------------------------------------------------------ generative process


def draw_categories(rng: np.random.Generator, probabilities: np.ndarray) -> np.ndarray:
    """Draw 0-based categories from probabilities over the last axis (inverse CDF).

    One uniform per draw, in C order of the leading axes; the probabilities need not be
    normalised exactly (the uniform is scaled to their total).

    Parameters
    ----------
    rng : numpy.random.Generator
        Random generator.
    probabilities : numpy.ndarray
        Shape (..., category).

    Returns
    -------
    numpy.ndarray
        Shape (...), int, 0..category-1.
    """
    return _draw_from_cumulative(rng, np.cumsum(probabilities, axis=-1))


def _draw_from_cumulative(rng: np.random.Generator, cumulative: np.ndarray) -> np.ndarray:
    """:func:`draw_categories` from the probabilities' cumulative sums (last axis)."""
    uniform = rng.random(cumulative.shape[:-1])[..., None] * cumulative[..., -1:]
    return (uniform >= cumulative).sum(axis=-1).clip(max=cumulative.shape[-1] - 1)


def simulate_responses(
    rng: np.random.Generator,
    class_shares: np.ndarray,
    item_probabilities: np.ndarray,
    n_firms: int,
) -> tuple[np.ndarray, np.ndarray]:
    r"""Draw firms from the latent class model: classes first, then every item's answer.

    :math:`z_i \sim \mathrm{Categorical}(\pi)`, then :math:`y_{ij} \sim
    \mathrm{Categorical}(\theta_{z_i j\cdot})`, for each set of parameters along the
    leading axes (e.g. posterior draws).  The generator gives first every class (in order
    of the leading axes, then firms), then every answer (leading axes, firms, items).

    Parameters
    ----------
    rng : numpy.random.Generator
        Random generator.
    class_shares : numpy.ndarray
        :math:`\pi`, shape (..., class).
    item_probabilities : numpy.ndarray
        :math:`\theta`, shape (..., class, item, category).
    n_firms : int
        Firms per set of parameters.

    Returns
    -------
    classes : numpy.ndarray
        Shape (..., firm), 0-based class of each firm.
    responses : numpy.ndarray
        Shape (..., firm, item), category codes 1..C.

    Examples
    --------
    >>> theta = np.array([[[1.0, 0.0]], [[0.0, 1.0]]])
    >>> classes, answers = simulate_responses(
    ...     np.random.default_rng(0), np.array([0.5, 0.5]), theta, 4
    ... )
    >>> bool(((answers[:, 0] - 1) == classes).all())
    True
    """
    pi = np.asarray(class_shares, dtype=float)
    theta = np.asarray(item_probabilities, dtype=float)
    batch = pi.shape[:-1]
    n_classes = pi.shape[-1]
    n_items = theta.shape[-2]
    flat_pi = pi.reshape(-1, n_classes)
    flat_theta = theta.reshape(-1, *theta.shape[-3:])
    classes = draw_categories(
        rng, np.broadcast_to(flat_pi[:, None, :], (len(flat_pi), n_firms, n_classes))
    )
    rows = np.arange(len(classes))[:, None, None]
    # the cumulative sums of each class's item probabilities, taken once per set and
    # class and then picked for each firm (the same sums as picking first: the same
    # answers, with a cumulative sum over sets x classes x items, not sets x firms x items)
    cumulative = np.cumsum(flat_theta, axis=-1)[rows, classes[..., None], np.arange(n_items)]
    responses = _draw_from_cumulative(rng, cumulative) + 1
    return classes.reshape(*batch, n_firms), responses.reshape(*batch, n_firms, n_items)

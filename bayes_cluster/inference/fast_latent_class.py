r"""The latent-class mixtures' log-density and gradient as one hand-written numba loop.

PyTensor compiles a latent-class model's log-density with numba op by op: for the ordinal
mixture with two classes, some 600 numba functions, about 35-45 s of one core on a machine
whose compile cache is empty, once per model structure (every K, nominal and ordinal, with
and without class covariates: the README run has seven), and each gradient then pays
PyTensor's per-op overhead (about 60 microseconds for the ordinal K = 3 where the arithmetic
needs a few). :func:`fuse_latent_class_logp` replaces it with one loop, written out below,
that serves every K and every item layout. The expansion of each draw to the model's
named variables (``pi`` or ``alpha``/``gamma``, ``theta``, ``mu``, ``cutpoints``),
PyTensor's other compiled function, is a second loop beside it. nutpie calls both through
two C callbacks that are the same for every layout: they read the layout and the data's
addresses from a header in front of nutpie's user-data record (:func:`_record`). So numba
compiles them once on a machine (about 15 s of a core; cached on disk beside this module)
and a model of any layout loads them in a fraction of a second; a callback per layout
cost some 6 s of a core for each of the README run's seven layouts on an empty cache.

The loop is the model of ``BayesianLatentClass.build_model`` and
``BayesianOrdinalLatentClass.build_model`` on PyMC's unconstrained scale, term for term:

* class weights: none (one class), :math:`\pi \sim \mathrm{Dirichlet}` (PyMC's simplex
  transform and its log-Jacobian), or the membership logit with sum-to-zero ``alpha`` and
  ``gamma`` (``ZeroSumNormal``: PyMC's zero-sum transform, no Jacobian);
* items: nominal, :math:`\theta_{kj\cdot} \sim \mathrm{Dirichlet}` (every item with every
  category; an item layout with missing categories is left to PyTensor), or ordinal,
  sum-to-zero class locations ``mu`` and ``Normal`` ``cutpoints`` under PyMC's ordered
  transform, with the cumulative-logit category probabilities of
  :func:`~bayes_cluster.estimators.ordinal_latent_class._ordinal_log_theta_tensor`;
* the marginal likelihood :math:`\sum_i \log\sum_k \exp(\log w_{ik} + \sum_{jc}
  y_{ijc}\log\theta_{kjc})`, the model's ``Potential``.

Every normalising constant is kept, so the value equals PyMC's ``model.logp()``;
``tests/test_fast_latent_class.py`` checks value and gradient against PyMC's, and the
expansion against PyTensor's, at random points for every variant, so they cannot drift. A
model of another layout (the joint model, ragged items) gets ``None`` and samples PyTensor's
graph as before.
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import numba
import numpy as np
from numba.core import cgutils, types
from numba.extending import intrinsic

__all__ = ["fuse_latent_class_logp", "latent_class_layout"]

# class weights
_ONE_CLASS, _DIRICHLET, _COVARIATES = 0, 1, 2


# The loops below are compiled by numba on first use and cached on disk beside this module
# (``cache=True``), so a new process (a fit worker, the next run) loads them.


@numba.njit(error_model="numpy", inline="always")
def _log1mexp(u):  # pragma: no cover - runs compiled
    # log(1 - exp(u)) for u < 0, as PyTensor's log1mexp
    return math.log(-math.expm1(u)) if u > -0.6931471805599453 else math.log1p(-math.exp(u))


@numba.njit(error_model="numpy", inline="always")
def _simplex(y, z, p):  # pragma: no cover - runs compiled
    # PyMC's simplex backward: z = (y, -sum y), log p = z - logsumexp(z); returns the
    # logsumexp, z holds log p and p the probabilities on exit (p from the exponentials
    # the logsumexp needs: the gradient reads them instead of exp(log p))
    n = z.size
    total = 0.0
    for c in range(n - 1):
        z[c] = y[c]
        total += y[c]
    z[n - 1] = -total
    top = z[0]
    for c in range(1, n):
        top = max(top, z[c])
    acc = 0.0
    for c in range(n):
        p[c] = math.exp(z[c] - top)
        acc += p[c]
    lse = top + math.log(acc)
    inverse = 1.0 / acc
    for c in range(n):
        z[c] -= lse
        p[c] *= inverse
    return lse


@numba.njit(error_model="numpy", inline="always")
def _dirichlet_constant(a):  # pragma: no cover - runs compiled
    # the Dirichlet(a) normalising constant plus the simplex log-Jacobian's log(n): the
    # same for every simplex of a model, so computed once per evaluation
    total = 0.0
    value = math.log(a.size)
    for c in range(a.size):
        value -= math.lgamma(a[c])
        total += a[c]
    return value + math.lgamma(total)


@numba.njit(error_model="numpy", inline="always")
def _dirichlet(log_p, a, lse, constant):  # pragma: no cover - runs compiled
    # Dirichlet(a) log-density of p = exp(log_p) plus the simplex log-Jacobian
    n = log_p.size
    value = constant - n * lse
    for c in range(n):
        value += (a[c] - 1.0) * log_p[c]
    return value


@numba.njit(error_model="numpy", inline="always")
def _simplex_grad(p, g, a, out):  # pragma: no cover - runs compiled
    # out (n - 1) = gradient wrt the unconstrained y of: sum_c g_c log p_c + Dirichlet
    # + log-Jacobian, where g is the gradient wrt log p of everything else
    n = p.size
    total = 0.0
    for c in range(n):
        total += g[c] + a[c] - 1.0
    # d/dz_c = (g_c + a_c - 1) - (sum) p_c - n p_c ; dy_c = dz_c - dz_{n-1}
    last = (g[n - 1] + a[n - 1] - 1.0) - (total + n) * p[n - 1]
    for c in range(n - 1):
        out[c] = (g[c] + a[c] - 1.0) - (total + n) * p[c] - last


@numba.njit(error_model="numpy", inline="always")
def _zerosum(y, v):  # pragma: no cover - runs compiled
    # PyMC's zero-sum backward (one axis): v = (y - norm, -sum y / sqrt(n))
    n = v.size
    root = math.sqrt(n)
    total = 0.0
    for c in range(n - 1):
        total += y[c]
    norm = total / (root + n)
    for c in range(n - 1):
        v[c] = y[c] - norm
    v[n - 1] = -total / root


@numba.njit(error_model="numpy", inline="always")
def _ordered(y, cut, step):  # pragma: no cover - runs compiled
    # PyMC's ordered backward: cut_t = y_0 + sum_{1 <= s <= t} exp(y_s); returns the
    # log-Jacobian; step holds each exp(y_t) (t >= 1) for the gradient
    level = y[0]
    cut[0] = level
    jacobian = 0.0
    for t in range(1, cut.size):
        step[t] = math.exp(y[t])
        level += step[t]
        cut[t] = level
        jacobian += y[t]
    return jacobian


@numba.njit(error_model="numpy", inline="always")
def _zerosum_grad(g, out):  # pragma: no cover - runs compiled
    # gradient wrt y from the gradient g wrt v (n values)
    n = g.size
    root = math.sqrt(n)
    head = 0.0
    for c in range(n - 1):
        head += g[c]
    shift = head / (root + n) + g[n - 1] / root
    for c in range(n - 1):
        out[c] = g[c] - shift


_CLOSE = 0.01
"""Neighbouring cutpoints closer than this on the logit scale: the middle category between
them gets its log-probability in the cancellation-free form (:func:`_ordinal_row`)."""


@numba.njit(error_model="numpy", inline="always")
def _ordinal_row(cut, location, eta, log_theta, theta, s, c):  # pragma: no cover - compiled
    # cumulative-logit category probabilities of one item in one class, as
    # _ordinal_log_theta_tensor: eta_t = cutpoint_t - location, s_t = sigmoid(eta_t) and
    # c_t = sigmoid(-eta_t) = 1 - s_t, both from one exponential, exp(-|eta_t|).
    # theta_0 = s_0 and theta_last = c_last (one log1p each); a middle category is the
    # difference of the smaller pair (c_{t-1} - c_t where both cutpoints lie above the
    # location, s_t - s_{t-1} otherwise) and one log, relative error under 2e-14 while
    # the two cutpoints are _CLOSE apart or more. Closer, the difference would cancel:
    # there it is log sigmoid(eta_t) + log sigmoid(-eta_{t-1}) + log1mexp(eta_{t-1} -
    # eta_t), the same value without cancellation. theta, s and c are kept for the
    # gradient (d log theta_t / d eta_t = s_t c_t / theta_t).
    n_cut = cut.size
    e_first = 0.0
    e_last = 0.0
    for t in range(n_cut):
        v = cut[t] - location
        eta[t] = v
        e = math.exp(-abs(v))
        inverse = 1.0 / (1.0 + e)
        if v > 0.0:
            s[t] = inverse
            c[t] = e * inverse
        else:
            s[t] = e * inverse
            c[t] = inverse
        if t == 0:
            e_first = e
        e_last = e
    theta[0] = s[0]
    log_theta[0] = min(eta[0], 0.0) - math.log1p(e_first)
    for t in range(1, n_cut):
        upper = eta[t]
        lower = eta[t - 1]
        if upper - lower >= _CLOSE:
            difference = c[t - 1] - c[t] if lower > 0.0 else s[t] - s[t - 1]
            theta[t] = difference
            log_theta[t] = math.log(difference)
        else:
            log_theta[t] = (
                min(upper, 0.0)
                - math.log1p(math.exp(-abs(upper)))
                - max(lower, 0.0)
                - math.log1p(math.exp(-abs(lower)))
                + _log1mexp(lower - upper)
            )
            theta[t] = math.exp(log_theta[t])
    theta[n_cut] = c[n_cut - 1]
    log_theta[n_cut] = -max(eta[n_cut - 1], 0.0) - math.log1p(e_last)


@numba.njit(error_model="numpy", cache=True)
def _logp_loop(
    x,
    responses,
    item_concentration,
    class_concentration,
    covariates,
    intercept_sd,
    slope_sd,
    location_sd,
    cutpoint_sd,
    layout,
    answers,
):  # pragma: no cover - runs compiled
    # layout: (ordinal, class-weight code, number of classes), an array so that numba
    # compiles the loop once for every layout (literal arguments would specialise it)
    ordinal = layout[0] == 1
    weights = layout[1]
    k_ = layout[2]
    n_firms, n_items, n_cat = responses.shape
    grad = np.zeros(x.size)
    value = 0.0
    offset = 0
    # ---- class log weights (firm, class); one row when they do not vary by firm
    log_w = np.zeros((n_firms if weights == _COVARIATES else 1, k_))
    pi_offset = alpha_offset = gamma_offset = mu_offset = cut_offset = 0
    w = np.empty((n_firms if weights == _COVARIATES else 1, k_))  # the weights themselves
    alpha = np.empty(k_)
    n_cov = covariates.shape[1]
    gamma = np.empty((n_cov, k_))
    if weights == _DIRICHLET:
        pi_offset = offset
        lse = _simplex(x[offset : offset + k_ - 1], log_w[0], w[0])
        value += _dirichlet(
            log_w[0], class_concentration, lse, _dirichlet_constant(class_concentration)
        )
        offset += k_ - 1
    elif weights == _COVARIATES:
        alpha_offset = offset
        _zerosum(x[offset : offset + k_ - 1], alpha)
        offset += k_ - 1
        gamma_offset = offset
        for p in range(n_cov):
            _zerosum(x[offset : offset + k_ - 1], gamma[p])
            offset += k_ - 1
        constant = math.log(math.sqrt(2.0 * math.pi))
        value -= (k_ - 1) * (constant + math.log(intercept_sd))
        value -= n_cov * (k_ - 1) * (constant + math.log(slope_sd))
        for k in range(k_):
            value -= 0.5 * (alpha[k] / intercept_sd) ** 2
            for p in range(n_cov):
                value -= 0.5 * (gamma[p, k] / slope_sd) ** 2
        for i in range(n_firms):
            top = -np.inf
            for k in range(k_):
                eta = alpha[k]
                for p in range(n_cov):
                    eta += covariates[i, p] * gamma[p, k]
                log_w[i, k] = eta
                top = max(top, eta)
            acc = 0.0
            for k in range(k_):
                w[i, k] = math.exp(log_w[i, k] - top)
                acc += w[i, k]
            lse = top + math.log(acc)
            inverse = 1.0 / acc
            for k in range(k_):
                log_w[i, k] -= lse
                w[i, k] *= inverse
    # ---- log theta (class, item, category)
    log_theta = np.empty((k_, n_items, n_cat))
    theta_offset = offset
    mu = np.zeros((n_items, k_))
    cut = np.empty((n_items, n_cat - 1))
    eta = np.empty((k_, n_items, n_cat - 1))
    # kept for the gradient: theta itself; for the ordinal, each cutpoint's sigmoid pair
    # and the ordered transform's steps
    theta = np.empty((k_, n_items, n_cat))
    sig = np.empty((k_ if ordinal else 0, n_items, n_cat - 1))
    comp = np.empty((k_ if ordinal else 0, n_items, n_cat - 1))
    step = np.empty((n_items if ordinal else 0, n_cat - 1))
    if not ordinal:
        constant = _dirichlet_constant(item_concentration)
        for k in range(k_):
            for j in range(n_items):
                lse = _simplex(x[offset : offset + n_cat - 1], log_theta[k, j], theta[k, j])
                value += _dirichlet(log_theta[k, j], item_concentration, lse, constant)
                offset += n_cat - 1
    else:
        mu_offset = offset
        if k_ > 1:
            constant = math.log(math.sqrt(2.0 * math.pi)) + math.log(location_sd)
            for j in range(n_items):
                _zerosum(x[offset : offset + k_ - 1], mu[j])
                offset += k_ - 1
                value -= (k_ - 1) * constant
                for k in range(k_):
                    value -= 0.5 * (mu[j, k] / location_sd) ** 2
        cut_offset = offset
        constant = -math.log(cutpoint_sd) - 0.5 * math.log(2.0 * math.pi)
        for j in range(n_items):
            value += _ordered(x[offset : offset + n_cat - 1], cut[j], step[j])
            for t in range(n_cat - 1):
                value += constant - 0.5 * (cut[j, t] / cutpoint_sd) ** 2
            offset += n_cat - 1
        for k in range(k_):
            for j in range(n_items):
                _ordinal_row(
                    cut[j],
                    mu[j, k],
                    eta[k, j],
                    log_theta[k, j],
                    theta[k, j],
                    sig[k, j],
                    comp[k, j],
                )
    # ---- the marginal likelihood and its gradient wrt log theta and the log weights
    # log theta laid out (item x category, class); each firm's answers become cells of it
    # first, then every class sums over them with the sum in a register
    n_cells = n_items * n_cat
    lt = np.empty((n_cells, k_))
    for k in range(k_):
        for j in range(n_items):
            for c in range(n_cat):
                lt[j * n_cat + c, k] = log_theta[k, j, c]
    g_lt = np.zeros((n_cells, k_))
    g_w = np.zeros((n_firms if weights == _COVARIATES else 1, k_))
    score = np.empty(k_)
    cell = np.empty(n_items, dtype=np.int64)
    n_answers = answers.shape[0]
    for i in range(n_firms):
        row = i if weights == _COVARIATES else 0
        # the firm's answer to each item: its one cell of the one-hot row, or -1 where the
        # row does not agree with ``answers`` (a missing answer, data passed without
        # them): such a row is read cell by cell, the same sums in the same order
        for j in range(n_items):
            c = int(answers[i, j]) if i < n_answers else -1
            cell[j] = j * n_cat + c if c >= 0 and responses[i, j, c] == 1.0 else -1
        top = -np.inf
        for k in range(k_):
            total = log_w[row, k]
            for j in range(n_items):
                at = cell[j]
                if at >= 0:
                    total += lt[at, k]
                else:
                    for c in range(n_cat):
                        v = responses[i, j, c]
                        if v != 0.0:
                            total += v * lt[j * n_cat + c, k]
            score[k] = total
            top = max(top, total)
        acc = 0.0
        for k in range(k_):
            score[k] = math.exp(score[k] - top)
            acc += score[k]
        value += top + math.log(acc)
        inverse = 1.0 / acc
        for k in range(k_):
            score[k] *= inverse  # the firm's posterior class weight
            g_w[row, k] += score[k]
        for j in range(n_items):
            at = cell[j]
            if at >= 0:
                for k in range(k_):
                    g_lt[at, k] += score[k]
            else:
                for c in range(n_cat):
                    v = responses[i, j, c]
                    if v != 0.0:
                        for k in range(k_):
                            g_lt[j * n_cat + c, k] += score[k] * v
    g_theta = np.empty((k_, n_items, n_cat))
    for k in range(k_):
        for j in range(n_items):
            for c in range(n_cat):
                g_theta[k, j, c] = g_lt[j * n_cat + c, k]
    # ---- back to the unconstrained parameters
    if weights == _DIRICHLET:
        _simplex_grad(w[0], g_w[0], class_concentration, grad[pi_offset : pi_offset + k_ - 1])
    elif weights == _COVARIATES:
        g_alpha = np.empty(k_)
        g_gamma = np.empty((n_cov, k_))
        for k in range(k_):
            g_alpha[k] = -alpha[k] / intercept_sd**2
            for p in range(n_cov):
                g_gamma[p, k] = -gamma[p, k] / slope_sd**2
        for i in range(n_firms):
            for k in range(k_):
                # d/d eta_ik of sum_k r_ik log softmax(eta_i)_k, with sum_k r_ik = 1
                d = g_w[i, k] - w[i, k]
                g_alpha[k] += d
                for p in range(n_cov):
                    g_gamma[p, k] += covariates[i, p] * d
        _zerosum_grad(g_alpha, grad[alpha_offset : alpha_offset + k_ - 1])
        for p in range(n_cov):
            start = gamma_offset + p * (k_ - 1)
            _zerosum_grad(g_gamma[p], grad[start : start + k_ - 1])
    if not ordinal:
        for k in range(k_):
            for j in range(n_items):
                start = theta_offset + (k * n_items + j) * (n_cat - 1)
                _simplex_grad(
                    theta[k, j],
                    g_theta[k, j],
                    item_concentration,
                    grad[start : start + n_cat - 1],
                )
    else:
        g_cut = np.zeros(n_cat - 1)
        g_mu = np.zeros(k_)
        for j in range(n_items):
            for t in range(n_cat - 1):
                g_cut[t] = -cut[j, t] / cutpoint_sd**2
            for k in range(k_):
                g_mu[k] = -mu[j, k] / location_sd**2 if k_ > 1 else 0.0
            for k in range(k_):
                g_eta_sum = 0.0
                d = g_theta[k, j, 0] * comp[k, j, 0]  # d log sigmoid(eta_0) = sigmoid(-eta_0)
                g_cut[0] += d
                g_eta_sum += d
                for t in range(1, n_cat - 1):
                    scale = g_theta[k, j, t] / theta[k, j, t]
                    d_upper = scale * sig[k, j, t] * comp[k, j, t]
                    d_lower = -scale * sig[k, j, t - 1] * comp[k, j, t - 1]
                    g_cut[t] += d_upper
                    g_cut[t - 1] += d_lower
                    g_eta_sum += d_upper + d_lower
                d = -g_theta[k, j, n_cat - 1] * sig[k, j, n_cat - 2]
                g_cut[n_cat - 2] += d
                g_eta_sum += d
                g_mu[k] -= g_eta_sum
            # the ordered transform: cut_t = y_0 + sum_{s <= t} exp(y_s)
            start = cut_offset + j * (n_cat - 1)
            tail = 0.0
            for t in range(n_cat - 2, 0, -1):
                tail += g_cut[t]
                grad[start + t] = tail * step[j, t] + 1.0
            grad[start] = tail + g_cut[0]
            if k_ > 1:
                first = mu_offset + j * (k_ - 1)
                _zerosum_grad(g_mu, grad[first : first + k_ - 1])
    return value, grad


@numba.njit(error_model="numpy", cache=True)
def _expand_loop(x, dims, offsets):  # pragma: no cover - runs compiled
    # the draw's named variables, nutpie's expansion: the point itself, then (at the
    # offsets of pi, alpha, gamma, theta, mu, cutpoints; -1 where absent) the
    # constrained values; dims: (ordinal, weights, K, items, categories, covariates,
    # length of the output)
    ordinal = dims[0] == 1
    weights = dims[1]
    k_, n_items, n_cat, n_cov = dims[2], dims[3], dims[4], dims[5]
    out = np.zeros(dims[6])
    for index in range(x.size):
        out[index] = x[index]
    offset = 0
    log_pi = np.zeros(k_)
    pi = np.ones(k_)
    if weights == _DIRICHLET:
        _simplex(x[: k_ - 1], log_pi, pi)
        offset = k_ - 1
    elif weights == _COVARIATES:
        for p in range(n_cov + 1):  # alpha, then each covariate's row of gamma
            start = offsets[1] if p == 0 else offsets[2] + (p - 1) * k_
            _zerosum(x[offset : offset + k_ - 1], out[start : start + k_])
            offset += k_ - 1
    if offsets[0] >= 0:
        for k in range(k_):
            out[offsets[0] + k] = pi[k]
    log_theta = np.empty((k_, n_items, n_cat))
    theta = np.empty((k_, n_items, n_cat))
    if not ordinal:
        for k in range(k_):
            for j in range(n_items):
                _simplex(x[offset : offset + n_cat - 1], log_theta[k, j], theta[k, j])
                offset += n_cat - 1
    else:
        mu = np.zeros((n_items, k_))
        if k_ > 1:
            for j in range(n_items):
                _zerosum(x[offset : offset + k_ - 1], mu[j])
                offset += k_ - 1
        cut = np.empty((n_items, n_cat - 1))
        step = np.empty(n_cat - 1)  # not needed here, nor the sigmoids
        for j in range(n_items):
            _ordered(x[offset : offset + n_cat - 1], cut[j], step)
            offset += n_cat - 1
        eta = np.empty(n_cat - 1)
        sig = np.empty(n_cat - 1)
        comp = np.empty(n_cat - 1)
        for k in range(k_):
            for j in range(n_items):
                _ordinal_row(cut[j], mu[j, k], eta, log_theta[k, j], theta[k, j], sig, comp)
        for j in range(n_items):
            for k in range(k_):
                out[offsets[4] + j * k_ + k] = mu[j, k]
            for t in range(n_cat - 1):
                out[offsets[5] + j * (n_cat - 1) + t] = cut[j, t]
    flat = theta.ravel()
    for index in range(flat.size):
        out[offsets[3] + index] = flat[index]
    return out


def latent_class_layout(model: Any) -> tuple[bool, int, int] | None:
    """Return ``(ordinal, weights, n_classes)`` of a latent-class model the loop implements.

    Parameters
    ----------
    model : pymc.Model
        A model built by ``BayesianLatentClass.build_model`` or
        ``BayesianOrdinalLatentClass.build_model``.

    Returns
    -------
    tuple or None
        Whether the items are ordinal, the class-weight code (0: one class, 1: Dirichlet
        ``pi``, 2: membership logit) and the number of classes; ``None`` for any other
        model (the joint model, items with different categories, other priors).
    """
    from pymc.distributions.transforms import Ordered, ZeroSumTransform
    from pymc.logprob.transforms import SimplexTransform

    free = [(rv.name, type(model.rvs_to_transforms.get(rv))) for rv in model.free_RVs]
    names = [name for name, _ in free]
    data = {variable.name for variable in model.data_vars}
    if "responses" not in data or "latent_class" not in model.coords:
        return None
    n_classes = len(model.coords["latent_class"])
    ordinal = "cutpoints" in names
    weights = _ONE_CLASS
    expected: list[tuple[str, type]] = []
    if "pi" in names:
        weights = _DIRICHLET
        expected.append(("pi", SimplexTransform))
    elif "alpha" in names:
        weights = _COVARIATES
        expected += [("alpha", ZeroSumTransform), ("gamma", ZeroSumTransform)]
    if ordinal:
        if n_classes > 1:
            expected.append(("mu", ZeroSumTransform))
        expected.append(("cutpoints", Ordered))
    else:
        expected.append(("theta", SimplexTransform))
    if free != expected or (weights == _ONE_CLASS) != (n_classes == 1):
        return None
    rv_ops = {rv.name: type(rv.owner.op).__name__ for rv in model.free_RVs}
    if ordinal and rv_ops["cutpoints"] != "NormalRV":
        return None
    needed = {"responses"} | (
        {"location_sd", "cutpoint_sd"} if ordinal else {"item_concentration"}
    )
    needed |= {
        _DIRICHLET: {"class_concentration"},
        _COVARIATES: {"covariates", "membership_intercept_sd", "membership_slope_sd"},
    }.get(weights, set())
    if not needed <= data:
        return None
    return ordinal, weights, n_classes


_ARGUMENTS = (
    "responses",
    "item_concentration",
    "class_concentration",
    "covariates",
    "membership_intercept_sd",
    "membership_slope_sd",
    "location_sd",
    "cutpoint_sd",
    "answers",
)
"""The loop's data arguments after the point, in order (absent ones are filled in)."""

_NDIM = (3, 1, 1, 2, 0, 0, 0, 0, 2)
"""The number of dimensions of each of :data:`_ARGUMENTS`."""

# The fused callbacks read everything they need from a header of int64 words at the start
# of nutpie's user-data record (nutpie's own fields follow it, unchanged, so that
# ``with_data`` fills them in as before):
_HEADER = 40
# 0: 8-byte words in the record; 1: n_dim; 2: n_expanded; 3-5: ordinal, weights, K
_ARRAY_AT = 6  # 6-14: word of each argument's data pointer (-1: absent), _ARGUMENTS order
_SHAPE_AT = 15  # 15-23: word of each argument's first shape entry
_DIMS_AT = 24  # 24-30: the expansion's dims (see _expand_loop)
_OFFSETS_AT = 31  # 31-36: the expansion's offsets


@intrinsic
def _as_pointer(typingctx, address):  # pragma: no cover - runs compiled
    """Return the address (an integer) as a void pointer, for ``numba.carray``."""

    def codegen(context, builder, signature, arguments):
        return builder.inttoptr(arguments[0], cgutils.voidptr_t)

    return types.voidptr(address), codegen


@numba.njit(error_model="numpy", inline="always")
def _vector(words, head, slot):  # pragma: no cover - runs compiled
    # a 1-d argument of the record (an empty vector where the model has none)
    if head[_ARRAY_AT + slot] < 0:
        return np.ones(0)
    size = words[head[_SHAPE_AT + slot]]
    return numba.carray(_as_pointer(words[head[_ARRAY_AT + slot]]), (size,), np.float64)


@numba.njit(error_model="numpy", inline="always")
def _matrix(words, head, slot):  # pragma: no cover - runs compiled
    # a 2-d argument of the record (an empty matrix where the model has none)
    if head[_ARRAY_AT + slot] < 0:
        return np.zeros((0, 0))
    at = head[_SHAPE_AT + slot]
    address = _as_pointer(words[head[_ARRAY_AT + slot]])
    return numba.carray(address, (words[at], words[at + 1]), np.float64)


@numba.njit(error_model="numpy", inline="always")
def _scalar(words, head, slot):  # pragma: no cover - runs compiled
    # a 0-d argument of the record (1.0 where the model has none)
    if head[_ARRAY_AT + slot] < 0:
        return 1.0
    return numba.carray(_as_pointer(words[head[_ARRAY_AT + slot]]), (1,), np.float64)[0]


def _logp_callback(dim, x_, out_, logp_, user_data_):  # pragma: no cover - runs compiled
    # nutpie's log-density callback for every layout: the layout and the data's addresses
    # are read from the record's header (_record)
    head = numba.carray(user_data_, (_HEADER,), np.int64)
    if dim != head[1]:
        return -1
    try:
        words = numba.carray(user_data_, (head[0],), np.uint64)
        at = head[_SHAPE_AT]
        responses = numba.carray(
            _as_pointer(words[head[_ARRAY_AT]]),
            (words[at], words[at + 1], words[at + 2]),
            np.float64,
        )
        covariates = _matrix(words, head, 3)
        answers = _matrix(words, head, 8)
        x = numba.carray(x_, (dim,))
        value, gradient = _logp_loop(
            x,
            responses,
            _vector(words, head, 1),
            _vector(words, head, 2),
            covariates,
            _scalar(words, head, 4),
            _scalar(words, head, 5),
            _scalar(words, head, 6),
            _scalar(words, head, 7),
            head[3:6],
            answers,
        )
        out = numba.carray(out_, (dim,))
        logp = numba.carray(logp_, ())
        logp[()] = value
        # element by element: an array assignment (and np.all) would compile numba's
        # shape-mismatch error formatting, some 2 s of a cold compile
        finite = True
        for index in range(dim):
            out[index] = gradient[index]
            finite = finite and math.isfinite(gradient[index])
        if not finite:
            return 3
        if not math.isfinite(value):
            return 4
    except Exception:
        return 1
    return 0


def _expand_callback(dim, expanded, x_, out_, user_data_):  # pragma: no cover - compiled
    # nutpie's expansion callback for every layout (dims and offsets from the header)
    head = numba.carray(user_data_, (_HEADER,), np.int64)
    if dim != head[1] or expanded != head[2]:
        return -1
    try:
        x = numba.carray(x_, (dim,))
        out = numba.carray(out_, (expanded,))
        values = _expand_loop(
            x, head[_DIMS_AT : _DIMS_AT + 7], head[_OFFSETS_AT : _OFFSETS_AT + 6]
        )
        for index in range(expanded):
            out[index] = values[index]
    except Exception:
        return -2
    return 0


@functools.cache
def _callbacks() -> tuple[Any, Any]:
    """Return the two C callbacks of every latent-class layout (compiled once, cached).

    One log-density and one expansion callback serve every K, nominal or ordinal items and
    every class-weight model: they read the layout and the data from the header that
    :func:`_record` puts at the start of nutpie's user-data record. So numba compiles the
    loops once on a machine (cached beside this module, ``cache=True``) and a model of any
    layout only loads them; nothing is compiled per layout.

    On an empty cache a helper process compiles the expansion callback (about a quarter
    of the work) into numba's disk cache while this process compiles the log-density: two
    cores for some 9 s instead of one for 12 (the first K = 3 fit on an empty cache,
    ``benchmarks/bench_latent_class.py``: 18.5 s before, 14.3-15.5 s with the helper) -
    when a core is idle: in a run's first, cold, fit worker both cores are busy (the run,
    the other worker compiling the logits), where a helper only added its own start-up.
    The helper writes nothing but that cache and dies with this process (Linux).
    """
    from bayes_cluster.common.cores import a_core_is_idle

    with _compile_lock():
        helper = None
        if _in_disk_cache(_expand_callback, "expand") is False and a_core_is_idle(interval=0.1):
            helper = subprocess.Popen(
                _helper_command(),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        try:
            logp = _compile("logp")
            if helper is not None:
                helper.wait()
        finally:
            if helper is not None and helper.poll() is None:
                helper.kill()
                helper.wait()
        # read from the disk cache, where the helper put it (compiled here if it failed)
        return logp, _compile("expand")


def _helper_command() -> list[str]:
    """Return the command of the helper that compiles the expansion callback (this parent)."""
    return [sys.executable, "-c", f"import {__name__} as m; m._helper({os.getpid()})"]


def _helper(parent: int) -> None:
    """Compile the expansion callback, unless ``parent`` (which started this) is gone.

    On Linux the helper is killed with its parent (``PR_SET_PDEATHSIG``): a run's fit
    worker stopped by the run (Ctrl-C, an error) leaves no helper compiling on.
    """
    try:
        import ctypes
        import signal

        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux: the helper ends with its compile
        pass
    if os.getppid() == parent:
        _compile("expand")


def _compile(kind: str) -> Any:
    """Compile (or load from numba's disk cache) the ``"logp"`` or ``"expand"`` callback."""
    from bayes_cluster.inference.callbacks import _cfunc_signature

    function = _logp_callback if kind == "logp" else _expand_callback
    return numba.cfunc(_cfunc_signature(kind), cache=True, error_model="numpy")(function)


def callbacks_cached() -> bool:
    """Whether numba's disk cache holds the log-density callback (True if it cannot tell).

    A run starts a second fit worker on two cores when it does not: one compiles the
    latent-class callbacks, the other the logits' (``pipeline.fit_workers``).

    Returns
    -------
    bool
        False only when the callback must be compiled.
    """
    return _in_disk_cache(_logp_callback, "logp") is not False


def _in_disk_cache(function: Any, kind: str) -> bool | None:
    """Whether numba's disk cache holds the callback ``function``; None if it cannot tell.

    Reads the cache's index for the key numba would load (the signature, the CPU and
    the function's bytecode; an index of another numba version or an edited source
    is empty), without loading the compiled code: ``load_overload`` first readied
    numba's whole target context, 0.3-0.5 s of the run's start, before its fit workers.
    """
    from bayes_cluster.inference.callbacks import _cfunc_signature

    try:
        from numba.core.caching import FunctionCache
        from numba.core.registry import cpu_target

        cache = FunctionCache(function)
        key = cache._index_key(_cfunc_signature(kind), cpu_target.target_context.codegen())
        return key in cache._cache_file._load_index()
    except Exception:  # numba's caching moved: compile here, as without the helper
        return None


@contextlib.contextmanager
def _compile_lock() -> Iterator[None]:
    """Hold a machine-wide lock (a file in PyTensor's compile folder) while compiling.

    On an empty cache two processes (a run's two fit workers on eight cores or more, or
    two runs) would both compile the callbacks at once (some 15 s of a core each); with
    the lock the second waits, then loads what the first wrote to numba's disk cache. Without
    ``fcntl`` (Windows) there is no lock, only the duplicate work.
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not on Linux or macOS
        yield
        return
    import pytensor

    folder = Path(pytensor.config.compiledir)
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "bayes_cluster_fused_latent_class.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _record(
    compiled: Any, layout: tuple[bool, int, int], dims: tuple[int, ...], offsets: tuple[int, ...]
) -> np.ndarray | None:
    """Return nutpie's user-data record of ``compiled`` with the callbacks' header in front.

    The header holds the layout, the expansion's dims and offsets, and where in the record
    each data argument's address and shape are (nutpie's ``with_data`` rewrites those, so a
    fit on another survey reads its own data). None when an argument is not a float64
    array of the expected rank.
    """
    keys = {variable.name: key for variable, key in compiled.shared_var_keys.items()}
    shared = compiled.user_data.dtype
    record = np.dtype([("fused", np.int64, (_HEADER,)), *((n, shared[n]) for n in shared.names)])
    if record.itemsize % 8 or "shared" not in shared.names:
        return None
    base = record.fields["shared"][1]
    fields = record["shared"]
    head = np.full(_HEADER, -1, dtype=np.int64)
    head[0] = record.itemsize // 8
    head[1], head[2] = compiled.n_dim, compiled.n_expanded
    head[3:6] = int(layout[0]), layout[1], layout[2]
    head[_DIMS_AT : _DIMS_AT + 7] = dims
    head[_OFFSETS_AT : _OFFSETS_AT + 6] = offsets
    for slot, (name, ndim) in enumerate(zip(_ARGUMENTS, _NDIM, strict=True)):
        if name not in keys:
            continue
        value = compiled.shared_data[keys[name]]
        if value.dtype != np.float64 or value.ndim != ndim:
            return None
        data = base + fields.fields["data"][1] + fields["data"].fields[keys[name]][1]
        head[_ARRAY_AT + slot] = data // 8
        if ndim:
            shape = base + fields.fields["shape"][1] + fields["shape"].fields[keys[name]][1]
            head[_SHAPE_AT + slot] = shape // 8
    if head[_ARRAY_AT] < 0:
        return None
    user_data = np.zeros((), dtype=record)
    for name in shared.names:
        user_data[name] = compiled.user_data[name]
    user_data["fused"] = head
    return user_data


def fuse_latent_class_logp(compiled: Any, model: Any) -> Any | None:
    """Return ``compiled`` with its log-density and expansion replaced by the fused loops.

    Parameters
    ----------
    compiled : nutpie.compile_pymc.CompiledPyMCModel
        The model compiled from ``model`` (its initial points and data containers are
        kept; its user-data record gets the callbacks' header in front).
    model : pymc.Model
        A latent-class mixture (:func:`latent_class_layout`).

    Returns
    -------
    object or None
        The compiled model with the fused callbacks, or ``None`` when the model is not
        one the loops implement (the caller then keeps PyTensor's).
    """
    layout = latent_class_layout(model)
    if layout is None:
        return None
    dims_offsets = _expansion_layout(compiled, layout)
    if dims_offsets is None:  # nutpie expects another expansion: the graph's is kept
        return None
    user_data = _record(compiled, layout, *dims_offsets)
    if user_data is None:
        return None
    logp, expand = _callbacks()
    return replace(
        compiled, user_data=user_data, compiled_logp_func=logp, compiled_expand_func=expand
    )


_EXPANDED = ("pi", "alpha", "gamma", "theta", "mu", "cutpoints")
"""The constrained variables the loop's expansion writes, in the order of its offsets."""


def _expansion_layout(
    compiled: Any, layout: tuple[bool, int, int]
) -> tuple[tuple[int, ...], tuple[int, ...]] | None:
    """Return the expansion's ``dims`` and ``offsets``; None where nutpie expects others.

    nutpie's expansion of a draw is the point itself, then every other variable of the
    model (``compiled.shape_info``: names, slices, shapes). ``dims`` is (ordinal, class
    weights, K, items, categories, covariates, length of the expansion); ``offsets`` the
    start of each of :data:`_EXPANDED` in it (-1 where the model has none).
    """
    ordinal, weights, n_classes = layout
    names, slices, shapes = compiled.shape_info
    keys = {variable.name: key for variable, key in compiled.shared_var_keys.items()}
    n_items, n_cat = compiled.shared_data[keys["responses"]].shape[1:]
    n_cov = compiled.shared_data[keys["covariates"]].shape[1] if "covariates" in keys else 0
    expected = {
        "pi": (n_classes,),
        "alpha": (n_classes,),
        "gamma": (n_cov, n_classes),
        "theta": (n_classes, n_items, n_cat),
        "mu": (n_items, n_classes),
        "cutpoints": (n_items, n_cat - 1),
    }
    wanted = {"theta"} | ({"alpha", "gamma"} if weights == _COVARIATES else {"pi"})
    wanted |= {"mu", "cutpoints"} if ordinal else set()
    offsets = dict.fromkeys(_EXPANDED, -1)
    for name, where, shape in zip(names, slices, shapes, strict=True):
        if where.start < compiled.n_dim:
            continue  # the point itself
        if name not in wanted or tuple(shape) != expected[name]:
            return None
        offsets[name] = where.start
    if {name for name, at in offsets.items() if at >= 0} != wanted:
        return None
    dims = (int(ordinal), weights, n_classes, n_items, n_cat, n_cov, int(compiled.n_expanded))
    return dims, tuple(offsets[name] for name in _EXPANDED)

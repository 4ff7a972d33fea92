"""Tests of the maximum-likelihood ordinal latent class model (EM)."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from scipy import optimize
from scipy.special import expit, logsumexp

from bayes_cluster.estimators.ordinal_latent_class import simulate_ordinal_classes
from bayes_cluster.estimators.ordinal_latent_class_em import (
    OrdinalLatentClassEM,
    _item_objectives,
    ordinal_marginal_log_likelihood,
)

CUTPOINTS = np.array([-2.0, -0.7, 0.7, 2.0])
ITEMS = [f"q{j + 1}" for j in range(6)]


def _locations() -> np.ndarray:
    first = np.array([-1.5, -1.2, 1.0, -1.4, -1.0, 1.3])
    return np.vstack([first, -first])


def _direct_log_likelihood(codes, pi, mu, kappa) -> float:
    """Firm by firm, item by item: differences of cumulative logistic probabilities."""
    total = 0.0
    for row in codes:
        per_class = []
        for k in range(len(pi)):
            log_p = np.log(pi[k])
            for j, answer in enumerate(row):
                if answer == 0:
                    continue  # a missing answer drops out
                cumulative = np.concatenate([[0.0], expit(kappa[j] - mu[k, j]), [1.0]])
                log_p += np.log(cumulative[answer] - cumulative[answer - 1])
            per_class.append(log_p)
        total += logsumexp(per_class)
    return total


@pytest.fixture(scope="module")
def simulated():
    frame, truth = simulate_ordinal_classes(
        400, _locations(), CUTPOINTS, [0.6, 0.4], items=ITEMS, seed=7
    )
    return frame.drop(columns="firm_id"), truth


@pytest.fixture(scope="module")
def fitted(simulated):
    items, _ = simulated
    return OrdinalLatentClassEM(2, n_starts=6, random_state=3).fit(items)


def test_log_likelihood_equals_a_direct_sum_with_missing_answers(fitted, simulated):
    items, _ = simulated
    codes = items.to_numpy().copy()
    codes[::7, 2] = 0
    codes[::11, 4] = 0
    pi = fitted.class_shares_
    mu = fitted.locations_.to_numpy()
    kappa = fitted.cutpoints_.to_numpy()
    direct = _direct_log_likelihood(codes, pi, mu, kappa)
    assert ordinal_marginal_log_likelihood(codes, pi, mu, kappa) == pytest.approx(
        direct, rel=1e-12
    )
    # the fit's own log-likelihood is the same sum at its estimates
    full = _direct_log_likelihood(items.to_numpy(), pi, mu, kappa)
    assert fitted.log_likelihood_ == pytest.approx(full, rel=1e-10)
    # a fit on data with missing answers leaves them out of its likelihood
    holed = items.astype(float).mask(codes == 0)
    partial = OrdinalLatentClassEM(2, n_starts=2, random_state=3).fit(holed)
    assert partial.n_firms_ == 400
    assert partial.log_likelihood_ == pytest.approx(
        _direct_log_likelihood(
            codes,
            partial.class_shares_,
            partial.locations_.to_numpy(),
            partial.cutpoints_.to_numpy(),
        ),
        rel=1e-10,
    )
    assert partial.log_likelihood_ > fitted.log_likelihood_  # fewer answers to explain


def test_maximum_is_at_least_the_truth_and_recovers_the_locations(fitted, simulated):
    items, truth = simulated
    at_truth = _direct_log_likelihood(
        items.to_numpy(), truth["pi"], truth["mu"], truth["cutpoints"]
    )
    assert fitted.log_likelihood_ >= at_truth
    # classes come largest share first: class 1 is the truth's 0.6 class
    np.testing.assert_allclose(fitted.class_shares_, truth["pi"], atol=0.06)
    np.testing.assert_allclose(fitted.locations_.to_numpy(), truth["mu"], atol=0.35)
    np.testing.assert_allclose(fitted.cutpoints_.to_numpy(), truth["cutpoints"], atol=0.35)
    np.testing.assert_allclose(fitted.locations_.sum("latent_class"), 0.0, atol=1e-12)
    assert fitted.converged_
    agreement = (fitted.modal_class_ - 1 == truth["classes"]).mean()
    assert agreement > 0.9


def test_counts_and_criteria(fitted):
    # (K - 1) + J ((K - 1) + (C - 1)) = 1 + 6 * (1 + 4)
    assert fitted.n_parameters_ == 31
    ll, n = fitted.log_likelihood_, 400
    assert fitted.bic_ == pytest.approx(-2 * ll + np.log(n) * 31)
    assert fitted.sabic_ == pytest.approx(-2 * ll + np.log((n + 2) / 24) * 31)
    assert fitted.caic_ == pytest.approx(-2 * ll + (np.log(n) + 1) * 31)
    assert fitted.aic_ == pytest.approx(-2 * ll + 62)
    assert 0 < fitted.relative_entropy_ <= 1
    theta = fitted.item_probabilities_
    np.testing.assert_allclose(theta.sum("category"), 1.0)
    expected = fitted.expected_responses()
    np.testing.assert_allclose(
        expected["class 1"].to_numpy(),
        (theta.sel(latent_class=1) * np.arange(1, 6)).sum("category").to_numpy(),
    )
    statistics = fitted.fit_statistics()
    assert statistics["n_parameters"] == 31 and statistics["sabic"] == fitted.sabic_
    assert fitted.posterior_frame().shape == (400, 3)


def test_gradient_of_the_m_step_objective_is_exact():
    rng = np.random.default_rng(0)
    counts = rng.gamma(1.0, size=(2, 3, 3, 5))
    x = rng.normal(size=(2, 3, 6)) * 0.5

    def value(v):
        return _item_objectives(v.reshape(x.shape), counts, 3)[0].sum()

    def gradient(v):
        return _item_objectives(v.reshape(x.shape), counts, 3)[1].ravel()

    assert optimize.check_grad(value, gradient, x.ravel()) < 1e-4


def _direct_maximum(codes: np.ndarray, n_classes: int, n_categories: int, seeds) -> float:
    """Maximise the marginal log-likelihood over all parameters at once (BFGS, numeric)."""
    n_items = codes.shape[1]

    def negative(v):
        logits = np.r_[0.0, v[: n_classes - 1]]
        pi = np.exp(logits - logsumexp(logits))
        rest = v[n_classes - 1 :].reshape(n_items, -1)
        free = rest[:, : n_classes - 1]
        mu = np.hstack([free, -free.sum(1, keepdims=True)]).T
        kappa = np.cumsum(
            np.hstack([rest[:, n_classes - 1 : n_classes], np.exp(rest[:, n_classes:])]), axis=1
        )
        return -_direct_ll_vectorised(codes, pi, mu, kappa)

    best = -np.inf
    for seed in seeds:
        start = np.random.default_rng(seed).normal(
            size=n_classes - 1 + n_items * (n_classes - 1 + n_categories - 1)
        )
        result = optimize.minimize(negative, start, method="BFGS", options={"gtol": 1e-7})
        best = max(best, -result.fun)
    return best


def _direct_ll_vectorised(codes, pi, mu, kappa) -> float:
    cumulative = expit(kappa[None] - mu[..., None])  # (class, item, C - 1)
    n_classes = len(pi)
    padded = np.concatenate(
        [
            np.zeros((n_classes, kappa.shape[0], 1)),
            cumulative,
            np.ones((n_classes, kappa.shape[0], 1)),
        ],
        axis=-1,
    )
    theta = np.clip(np.diff(padded, axis=-1), 1e-300, None)
    columns = np.arange(codes.shape[1])
    per_class = np.log(pi)[:, None] + np.stack(
        [np.log(theta[k][columns, codes - 1]).sum(1) for k in range(n_classes)]
    )
    return float(logsumexp(per_class, axis=0).sum())


def test_em_maximum_equals_a_direct_maximisation_of_the_marginal_likelihood():
    frame, _ = simulate_ordinal_classes(
        150,
        [[-1.0, 1.2, -0.8], [1.0, -1.2, 0.8]],
        [-1.0, 0.0, 1.0],
        [0.55, 0.45],
        items=["a", "b", "c"],
        seed=5,
    )
    items = frame.drop(columns="firm_id")
    em = OrdinalLatentClassEM(2, n_starts=4, random_state=1).fit(items)
    # both reach -593.63962 (EM stops when a step gains < 1e-8; BFGS at gtol 1e-7)
    direct = _direct_maximum(items.to_numpy(), 2, 4, seeds=range(2))
    assert em.log_likelihood_ == pytest.approx(direct, abs=1e-5)


def test_warm_start_reaches_the_same_optimum_in_fewer_iterations(fitted, simulated):
    items, _ = simulated
    warm = OrdinalLatentClassEM(2, n_starts=1, random_state=9).fit(items, warm_start=fitted)
    assert warm.log_likelihood_ == pytest.approx(fitted.log_likelihood_, abs=1e-6)
    assert warm.n_iter_ <= 2


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="n_categories must be one whole number >= 2"):
        OrdinalLatentClassEM(2, n_categories={"a": 5})
    with pytest.raises(ValueError, match="m_step_iter must be a whole number >= 1"):
        OrdinalLatentClassEM(2, m_step_iter=0)
    frame = pd.DataFrame({"a": [1, 2, "x"], "b": [1, 2, 3]})
    with pytest.raises(ValueError, match="item 'a', row 2: value 'x' is not a category code"):
        OrdinalLatentClassEM(2).fit(frame)
    with pytest.raises(RuntimeError, match="OrdinalLatentClassEM is not fitted yet"):
        OrdinalLatentClassEM(2).expected_responses()
    other = OrdinalLatentClassEM(3, n_starts=1, random_state=1).fit(
        pd.DataFrame({"a": [1, 2, 3, 1], "b": [3, 2, 1, 1]})
    )
    with pytest.raises(ValueError, match="warm_start must be fitted with the same number"):
        OrdinalLatentClassEM(2).fit(
            pd.DataFrame({"a": [1, 2, 3], "b": [1, 2, 3]}), warm_start=other
        )


def test_permuted_classes_give_the_same_likelihood(fitted, simulated):
    # label switching: the likelihood does not depend on the classes' order
    items, _ = simulated
    pi = fitted.class_shares_
    mu = fitted.locations_.to_numpy()
    kappa = fitted.cutpoints_.to_numpy()
    values = {
        round(
            ordinal_marginal_log_likelihood(items.to_numpy(), pi[list(p)], mu[list(p)], kappa), 8
        )
        for p in itertools.permutations(range(2))
    }
    assert len(values) == 1

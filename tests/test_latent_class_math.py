"""Tests of the shared latent-class maths (bayes_cluster.common.latent_class_math)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from bayes_cluster.common.latent_class_math import (
    LIKERT_THREE_LEVELS,
    LIKERT_TO_THREE,
    THREE_LEVEL_LABELS,
    class_posterior,
    collapse_likert,
    draw_categories,
    marginal_log_likelihood,
    one_hot,
    simulate_responses,
)

# ---------------------------------------------------------------------------- Likert collapse


def test_collapse_rule_is_spelled_once_and_keeps_missing():
    assert LIKERT_THREE_LEVELS == ((1, 2), (3,), (4, 5))
    assert dict(LIKERT_TO_THREE) == {1: 1, 2: 1, 3: 2, 4: 3, 5: 3}
    assert THREE_LEVEL_LABELS == ("disagree", "neutral", "agree")
    codes = np.array([[0, 1, 2], [3, 4, 5]])
    collapsed = collapse_likert(codes)
    np.testing.assert_array_equal(collapsed, [[0, 1, 1], [2, 3, 3]])
    assert collapsed.dtype == np.int64
    with pytest.raises(ValueError, match=r"Likert codes must be whole numbers 1\.\.5"):
        collapse_likert(np.array([1, 6]))


def test_one_hot_leaves_a_missing_answer_as_a_row_of_zeros():
    encoded = one_hot(np.array([[1, 0], [3, 2]]), 3)
    assert encoded.shape == (2, 2, 3)
    np.testing.assert_array_equal(encoded[0, 0], [1, 0, 0])
    np.testing.assert_array_equal(encoded[0, 1], [0, 0, 0])
    np.testing.assert_array_equal(encoded[1, 0], [0, 0, 1])
    np.testing.assert_array_equal(encoded[1, 1], [0, 1, 0])


# ---------------------------------------------------------------------------- likelihood


def _by_hand(codes: np.ndarray, pi: np.ndarray, theta: np.ndarray) -> np.ndarray:
    """log sum_k pi_k prod_{j answered} theta[k, j, y_ij - 1], one firm at a time."""
    out = []
    for row in codes:
        total = 0.0
        for k in range(len(pi)):
            product = pi[k]
            for j, code in enumerate(row):
                if code:
                    product *= theta[k, j, code - 1]
            total += product
        out.append(np.log(total))
    return np.array(out)


def test_marginal_log_likelihood_matches_the_sum_over_classes_by_hand():
    rng = np.random.default_rng(3)
    codes = rng.integers(0, 4, size=(7, 5))  # 0 = missing
    pi = rng.dirichlet(np.ones(3))
    theta = rng.dirichlet(np.ones(3), size=(3, 5))
    encoded = one_hot(codes, 3)
    np.testing.assert_allclose(
        marginal_log_likelihood(encoded, pi, theta), _by_hand(codes, pi, theta), rtol=1e-12
    )
    # a firm that answered nothing has likelihood 1 whatever the parameters
    silent = one_hot(np.zeros((1, 5), dtype=int), 3)
    assert marginal_log_likelihood(silent, pi, theta)[0] == pytest.approx(0.0, abs=1e-15)
    # leading axes of draws broadcast: (draw, class) and (draw, class, item, category)
    draws_pi = np.stack([pi, pi[::-1]])
    draws_theta = np.stack([theta, theta[::-1]])
    by_draw = marginal_log_likelihood(encoded, draws_pi, draws_theta)
    assert by_draw.shape == (2, 7)
    # relabelling the classes of a draw leaves its likelihood unchanged
    np.testing.assert_allclose(by_draw[0], by_draw[1], rtol=1e-12)


def test_class_posterior_is_bayes_rule_and_sums_to_one():
    rng = np.random.default_rng(5)
    codes = rng.integers(1, 3, size=(4, 6))
    pi = np.array([0.2, 0.8])
    theta = rng.dirichlet(np.ones(2), size=(2, 6))
    log_likelihood, probabilities = class_posterior(one_hot(codes, 2), pi, theta)
    assert probabilities.shape == (4, 2)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0)
    np.testing.assert_allclose(log_likelihood, _by_hand(codes, pi, theta), rtol=1e-12)
    for i, row in enumerate(codes):
        joint = [pi[k] * np.prod(theta[k, np.arange(6), row - 1]) for k in range(2)]
        np.testing.assert_allclose(probabilities[i], np.array(joint) / sum(joint), rtol=1e-12)


def test_a_zero_probability_category_gives_a_finite_likelihood_when_unanswered():
    # item 2 has only categories 1-2: theta[..., 1, 2] = 0 must not turn 0 * log 0 into NaN
    theta = np.array([[[0.5, 0.3, 0.2], [0.6, 0.4, 0.0]]])
    value = marginal_log_likelihood(one_hot(np.array([[3, 2]]), 3), np.ones(1), theta)
    assert value[0] == pytest.approx(np.log(0.2 * 0.4))


# ---------------------------------------------------------------------------- generation


def test_draw_categories_never_draws_an_empty_category_and_accepts_unnormalised_weights():
    rng = np.random.default_rng(0)
    weights = np.broadcast_to([2.0, 0.0, 6.0], (20000, 3))  # total 8, not 1
    drawn = draw_categories(rng, weights)
    assert set(np.unique(drawn)) == {0, 2}
    assert (drawn == 2).mean() == pytest.approx(0.75, abs=0.01)


def test_classes_are_drawn_as_numpy_choice_draws_them():
    # the class draw uses one uniform per firm, as Generator.choice(p=...) does, so the
    # simulated surveys written before the maths was shared are unchanged
    pi = np.array([0.7, 0.3])
    theta = np.full((2, 3, 2), 0.5)
    classes, _ = simulate_responses(np.random.default_rng(8), pi, theta, 500)
    expected = np.random.default_rng(8).choice(2, size=500, p=pi)
    np.testing.assert_array_equal(classes, expected)


def test_simulated_responses_follow_the_class_profiles():
    rng = np.random.default_rng(1)
    pi = np.array([0.6, 0.4])
    theta = np.array(
        [[[0.8, 0.1, 0.1], [0.2, 0.2, 0.6]], [[0.1, 0.1, 0.8], [0.5, 0.5, 0.0]]]
    )  # (class, item, category)
    classes, responses = simulate_responses(rng, pi, theta, 40000)
    assert classes.shape == (40000,) and responses.shape == (40000, 2)
    assert responses.min() >= 1 and responses.max() <= 3
    assert (classes == 0).mean() == pytest.approx(0.6, abs=0.01)
    for k, j in itertools.product(range(2), range(2)):
        shares = np.bincount(responses[classes == k, j] - 1, minlength=3) / (classes == k).sum()
        np.testing.assert_allclose(shares, theta[k, j], atol=0.015)
    assert not (responses[classes == 1, 1] == 3).any()  # probability 0, never drawn


def test_simulate_responses_keeps_leading_axes_of_parameter_draws():
    rng = np.random.default_rng(2)
    pi = rng.dirichlet(np.ones(3), size=(2, 4))
    theta = rng.dirichlet(np.ones(5), size=(2, 4, 3, 6))
    classes, responses = simulate_responses(rng, pi, theta, 9)
    assert classes.shape == (2, 4, 9)
    assert responses.shape == (2, 4, 9, 6)
    # one draw of parameters at a time gives the same numbers from the same stream
    rng_a, rng_b = np.random.default_rng(7), np.random.default_rng(7)
    _, together = simulate_responses(rng_a, pi[0, :1], theta[0, :1], 9)
    _, alone = simulate_responses(rng_b, pi[0, 0], theta[0, 0], 9)
    np.testing.assert_array_equal(together[0], alone)


def test_the_bundled_survey_is_drawn_by_the_shared_generative_process():
    from bayes_cluster.surveys.markusen import MARKUSEN_ITEMS
    from bayes_cluster.surveys.simulate import (
        DEFAULT_SEED,
        TUMANG_CLASS_SHARES,
        markusen_item_probabilities,
        simulate_tumang,
    )

    frame, truth = simulate_tumang(n=60, seed=DEFAULT_SEED)
    classes, responses = simulate_responses(
        np.random.default_rng(DEFAULT_SEED),
        np.array(TUMANG_CLASS_SHARES),
        markusen_item_probabilities(),
        60,
    )
    np.testing.assert_array_equal(classes, truth.latent_class)
    np.testing.assert_array_equal(responses, frame[list(MARKUSEN_ITEMS)].to_numpy())

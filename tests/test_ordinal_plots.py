"""The ordinal model's prior predictive figure (Agg backend, no fit)."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from matplotlib.figure import Figure

from bayes_cluster.estimators.ordinal_latent_class import (
    BayesianOrdinalLatentClass,
    simulate_ordinal_classes,
)
from bayes_cluster.plots.ordinal import plot_prior_predictive_shares, prior_predictive_shares


@pytest.fixture(scope="module")
def prior_tree():
    frame, _ = simulate_ordinal_classes(
        40, [[-1.0, 1.0, 0.5], [1.0, -1.0, -0.5]], [-1.5, -0.5, 0.5, 1.5], [0.5, 0.5], seed=3
    )
    frame.iloc[[0, 5], 2] = np.nan  # missing answers are left out of the shares
    model = BayesianOrdinalLatentClass(2)
    return frame, model.sample_prior_predictive(frame, draws=200, random_seed=4)


def test_shares_are_counted_among_the_firms_that_answered(prior_tree):
    frame, tree = prior_tree
    observed, lower, upper, items, labels = prior_predictive_shares(tree, interval_prob=0.9)
    assert items == list(frame.columns[1:])
    assert observed.shape == lower.shape == upper.shape == (3, 5)
    column = frame[items[1]].dropna().astype(int)
    np.testing.assert_allclose(
        observed[1], [(column == c).mean() for c in range(1, 6)], rtol=1e-12
    )
    assert frame[items[1]].notna().sum() == 38
    # the interval is the 5% and 95% quantiles of the replicated shares, draw by draw
    replicated = tree["prior_predictive"]["responses"].to_numpy()[0]  # (draw, firm, item)
    answers = replicated[:, :, 1]
    shares = np.stack([((answers == c).sum(1) / (answers > 0).sum(1)) for c in range(1, 6)], 1)
    np.testing.assert_allclose(lower[1], np.quantile(shares, 0.05, axis=0))
    np.testing.assert_allclose(upper[1], np.quantile(shares, 0.95, axis=0))
    np.testing.assert_allclose(observed.sum(1), 1.0)
    assert len(labels) == 5


def test_weak_default_priors_allow_every_observed_share(prior_tree):
    _, tree = prior_tree
    observed, lower, upper, _, _ = prior_predictive_shares(tree)
    # the default priors (location sd 2, cutpoint sd 3) let each share range widely
    assert ((lower <= observed) & (observed <= upper)).all()
    assert (upper - lower).min() > 0.5


def test_figure_has_one_panel_per_category(prior_tree):
    _, tree = prior_tree
    figure = plot_prior_predictive_shares(tree)
    assert isinstance(figure, Figure)
    assert len(figure.axes) == 5
    assert figure.axes[0].get_xlim() == (0.0, 1.0)


def test_a_tree_without_predictive_draws_is_refused():
    with pytest.raises(ValueError, match="the tree has no 'prior_predictive' group"):
        prior_predictive_shares(xr.DataTree())
    with pytest.raises(ValueError, match="interval_prob must be between 0 and 1, got 1.5"):
        prior_predictive_shares(xr.DataTree(), interval_prob=1.5)

"""Prior and posterior predictive checks of the Bayesian latent class model."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from matplotlib.figure import Figure
from scipy.stats.contingency import association

from bayes_cluster.common.dims import CATEGORY, CHAIN, DRAW, FIRM, ITEM, LATENT_CLASS
from bayes_cluster.estimators.latent_class import (
    BayesianLatentClass,
    _cramers_v,
    _replicate_responses,
)
from bayes_cluster.inference.diagnostics import ConvergenceWarning
from bayes_cluster.plots.latent_class import plot_item_ppc

N_FIRMS = 200
N_ITEMS = 12
DISCRIMINATING = [f"q{j + 1:02d}" for j in range(6)]  # items that separate the classes
MISSING_CELL = (3, 2)  # firm 4 skipped item q03


def _two_class_survey(seed: int = 0) -> pd.DataFrame:
    """Strongly two-class data: items 1-6 separate the classes, items 7-12 are noise."""
    rng = np.random.default_rng(seed)
    z = (rng.random(N_FIRMS) < 0.5).astype(int)
    theta = np.empty((2, N_ITEMS, 3))
    theta[0, :6] = [0.8, 0.1, 0.1]
    theta[1, :6] = [0.1, 0.1, 0.8]
    theta[:, 6:] = [0.3, 0.4, 0.3]
    cumulative = np.cumsum(theta[z], axis=-1)
    codes = (rng.random((N_FIRMS, N_ITEMS, 1)) >= cumulative).sum(axis=-1) + 1
    frame = pd.DataFrame(codes.astype(float), columns=[f"q{j + 1:02d}" for j in range(N_ITEMS)])
    frame.iloc[MISSING_CELL] = np.nan
    frame.insert(0, "firm_id", [f"f{i:03d}" for i in range(N_FIRMS)])
    return frame


@pytest.fixture(scope="module")
def survey() -> pd.DataFrame:
    return _two_class_survey()


def _fit(frame: pd.DataFrame, n_classes: int) -> BayesianLatentClass:
    model = BayesianLatentClass(n_classes, collapse="none")
    # PyMC's NUTS on the cached C backend: faster than nutpie's compile for a tiny run.
    # 2 x 200 draws leave some R-hat above the verdict's 1.01, so the fit says so; the
    # checks here need only a rough posterior (R-hat < 1.05, no divergences)
    with pytest.warns(ConvergenceWarning, match="R-hat 1.0"):
        model.fit(frame, draws=200, tune=200, chains=2, random_seed=11, sampler="pymc")
    assert model.diagnostics_.n_divergences == 0
    assert float(np.nanmax(model.diagnostics_.table["r_hat"])) < 1.05
    return model


@pytest.fixture(scope="module")
def two_class_fit(survey) -> BayesianLatentClass:
    return _fit(survey, 2)


@pytest.fixture(scope="module")
def one_class_fit(survey) -> BayesianLatentClass:
    return _fit(survey, 1)


# ---------------------------------------------------------------------------- replication


def test_replicate_responses_matches_the_model_margins_and_pairs():
    """The sampler's frequencies equal sum_k pi_k theta_kja (theta_klb) in large samples."""
    pi = np.array([0.3, 0.7])
    theta = np.array(
        [
            [[0.7, 0.2, 0.1], [0.6, 0.3, 0.1]],
            [[0.1, 0.3, 0.6], [0.2, 0.2, 0.6]],
        ]
    )
    n_draws, n_firms = 4, 20_000
    answered = np.ones((n_firms, 2), dtype=bool)
    responses = _replicate_responses(
        np.random.default_rng(5),
        np.tile(pi, (n_draws, 1)),
        np.tile(theta, (n_draws, 1, 1, 1)),
        answered,
    ).reshape(-1, 2)
    margin = np.einsum("k,kjc->jc", pi, theta)
    for j in range(2):
        observed = np.bincount(responses[:, j], minlength=4)[1:] / len(responses)
        np.testing.assert_allclose(observed, margin[j], atol=0.01)
    joint = np.einsum("k,ka,kb->ab", pi, theta[:, 0], theta[:, 1])
    table = np.zeros((3, 3))
    np.add.at(table, (responses[:, 0] - 1, responses[:, 1] - 1), 1)
    np.testing.assert_allclose(table / len(responses), joint, atol=0.01)


def test_cramers_v_matches_scipy():
    rng = np.random.default_rng(2)
    tables = rng.integers(1, 30, size=(5, 3, 3)).astype(float)
    expected = [association(t.astype(int), method="cramer") for t in tables]
    np.testing.assert_allclose(_cramers_v(tables, 3), expected, rtol=1e-12)


# ---------------------------------------------------------------------------- prior predictive


def test_prior_predictive_shapes_categories_and_missing(survey):
    model = BayesianLatentClass(2, collapse="none", priors={"item_concentration": 50.0})
    tree = model.sample_prior_predictive(survey, draws=300, random_seed=4)
    assert set(tree.children) == {"prior", "prior_predictive", "observed_data"}
    prior = tree["prior"]
    assert prior["pi"].dims == (CHAIN, DRAW, LATENT_CLASS)
    assert prior["theta"].dims == (CHAIN, DRAW, LATENT_CLASS, ITEM, CATEGORY)
    assert prior["theta"].shape == (1, 300, 2, N_ITEMS, 3)
    np.testing.assert_allclose(prior["theta"].sum(CATEGORY), 1.0)
    np.testing.assert_allclose(prior["pi"].sum(LATENT_CLASS), 1.0)
    responses = tree["prior_predictive"]["responses"]
    assert responses.dims == (CHAIN, DRAW, FIRM, ITEM)
    assert responses.shape == (1, 300, N_FIRMS, N_ITEMS)
    assert responses[FIRM].values[0] == "f000"
    values = responses.to_numpy()
    firm, item = MISSING_CELL
    assert (values[..., firm, item] == 0).all()  # missing in the data, missing in replicates
    answered = np.delete(values.reshape(-1, N_FIRMS * N_ITEMS), firm * N_ITEMS + item, axis=1)
    assert set(np.unique(answered)) == {1, 2, 3}  # only the item's categories
    # Dirichlet(50) item probabilities are close to 1/3 each
    shares = np.bincount(answered.ravel(), minlength=4)[1:] / answered.size
    np.testing.assert_allclose(shares, 1 / 3, atol=0.01)


def test_prior_predictive_seeded_and_one_class(survey):
    model = BayesianLatentClass(1, collapse="none")
    first = model.sample_prior_predictive(survey, draws=20, random_seed=8)
    again = model.sample_prior_predictive(survey, draws=20, random_seed=8)
    other = model.sample_prior_predictive(survey, draws=20, random_seed=9)
    xr.testing.assert_identical(first["prior_predictive"], again["prior_predictive"])
    assert not first["prior_predictive"].equals(other["prior_predictive"])
    np.testing.assert_array_equal(first["prior"]["pi"], 1.0)
    with pytest.raises(ValueError, match="draws must be a positive whole number, got 0"):
        model.sample_prior_predictive(survey, draws=0)


def test_prior_predictive_collapses_likert_like_fit():
    frame = pd.DataFrame({"q1": [1, 2, 3, 4, 5], "q2": [5, 5, 4, 1, 2]})
    tree = BayesianLatentClass(2).sample_prior_predictive(frame, draws=50, random_seed=1)
    assert set(np.unique(tree["prior_predictive"]["responses"])) == {1, 2, 3}
    np.testing.assert_array_equal(tree["prior"][CATEGORY], [1, 2, 3])


# ---------------------------------------------------------------------------- posterior predictive


def test_posterior_predictive_dims_seed_and_storage(two_class_fit, survey):
    tree = two_class_fit.sample_posterior_predictive(random_seed=1, n_draws=50)
    responses = tree["posterior_predictive"]["responses"]
    assert responses.dims == (CHAIN, DRAW, FIRM, ITEM)
    assert responses.shape == (2, 50, N_FIRMS, N_ITEMS)
    assert list(responses[ITEM].values) == list(survey.columns[1:])
    np.testing.assert_array_equal(responses[DRAW], np.linspace(0, 199, 50).round())
    values = responses.to_numpy()
    assert (values[..., MISSING_CELL[0], MISSING_CELL[1]] == 0).all()
    assert ((values >= 1) & (values <= 3)).sum() == values.size - 2 * 50
    xr.testing.assert_identical(
        two_class_fit.idata_["posterior_predictive"].to_dataset(),
        tree["posterior_predictive"].to_dataset(),
    )
    again = two_class_fit.sample_posterior_predictive(random_seed=1, n_draws=50)
    xr.testing.assert_identical(again["posterior_predictive"], tree["posterior_predictive"])
    with pytest.raises(ValueError, match=r"n_draws must be a whole number from 1 to 200"):
        two_class_fit.sample_posterior_predictive(n_draws=201)


def test_posterior_predictive_needs_a_fit():
    with pytest.raises(RuntimeError, match="BayesianLatentClass is not fitted yet"):
        BayesianLatentClass(2).sample_posterior_predictive()


def test_well_specified_fit_passes_the_item_checks(two_class_fit):
    two_class_fit.sample_posterior_predictive(random_seed=2)
    checks = two_class_fit.posterior_predictive_check()
    shares = checks["item_shares"]
    assert shares.index.names == [ITEM, CATEGORY]
    assert len(shares) == N_ITEMS * 3
    observed = two_class_fit.idata_["observed_data"]["responses"].to_numpy()
    q03 = observed[:, 2]
    np.testing.assert_allclose(
        shares.loc[("q03", 3), "observed_share"], (q03 == 3).sum() / (q03 > 0).sum()
    )
    assert shares.loc[("q03", 1), "n_observed"] == N_FIRMS - 1
    np.testing.assert_allclose(shares.groupby(level=ITEM)["observed_share"].sum(), 1.0)
    assert (shares["replicated_lower"] <= shares["replicated_upper"]).all()
    assert shares["p_two_sided"].min() >= 0.01
    pairs = checks["pairs"]
    assert len(pairs) == N_ITEMS * (N_ITEMS - 1) // 2
    discriminating = pairs.loc[list(itertools.combinations(DISCRIMINATING, 2))]
    assert discriminating["p_bvr"].min() >= 0.01
    assert discriminating["p_cramers_v"].min() >= 0.01


def test_one_class_fit_misses_the_association_of_discriminating_pairs(one_class_fit):
    one_class_fit.sample_posterior_predictive(random_seed=3)
    pairs = one_class_fit.posterior_predictive_check()["pairs"]
    discriminating = pairs.loc[list(itertools.combinations(DISCRIMINATING, 2))]
    assert (discriminating["p_bvr"] < 0.01).all()
    assert (discriminating["p_cramers_v"] < 0.01).all()
    assert (discriminating["bvr_observed"] > 3 * discriminating["bvr_replicated"]).all()
    # pairs of noise items are independent in truth: most are not flagged
    noise = pairs.drop(index=pairs.index[pairs.index.isin(discriminating.index)])
    noise = noise[
        ~noise.index.get_level_values(0).isin(DISCRIMINATING)
        & ~noise.index.get_level_values(1).isin(DISCRIMINATING)
    ]
    assert (noise["p_bvr"] >= 0.01).mean() >= 0.9


def test_bvr_matches_a_direct_computation(one_class_fit):
    """BVR of one pair from the posterior and the observed table, written out by hand."""
    checks = one_class_fit.posterior_predictive_check()
    observed = one_class_fit.idata_["observed_data"]["responses"].to_numpy()
    table = np.zeros((3, 3))
    both = (observed[:, 0] > 0) & (observed[:, 1] > 0)
    np.add.at(table, (observed[both, 0] - 1, observed[both, 1] - 1), 1)
    theta = one_class_fit.posterior["theta"].sel({LATENT_CLASS: 1})
    draws = theta.stack(sample=(CHAIN, DRAW)).transpose("sample", ITEM, CATEGORY).to_numpy()
    bvr = [
        (
            ((table - both.sum() * np.outer(t[0], t[1])) ** 2)
            / (both.sum() * np.outer(t[0], t[1]))
        ).sum()
        / 4
        for t in draws
    ]
    np.testing.assert_allclose(checks["pairs"].loc[("q01", "q02"), "bvr_observed"], np.mean(bvr))


def test_checks_survive_save_and_load(two_class_fit, tmp_path):
    two_class_fit.sample_posterior_predictive(random_seed=2, n_draws=20)
    expected = two_class_fit.posterior_predictive_check()
    loaded = BayesianLatentClass.load(two_class_fit.save(tmp_path / "fit.nc"))
    checks = loaded.posterior_predictive_check()
    pd.testing.assert_frame_equal(checks["item_shares"], expected["item_shares"])
    pd.testing.assert_frame_equal(checks["pairs"], expected["pairs"])


def test_plot_item_ppc_draws_observed_shares(two_class_fit):
    figure = plot_item_ppc(two_class_fit, random_seed=2)
    assert isinstance(figure, Figure)
    axes = figure.axes
    assert [axis.get_title() for axis in axes] == ["1", "2", "3"]
    shares = two_class_fit.posterior_predictive_check()["item_shares"]
    dots = np.concatenate([line.get_xdata() for line in axes[2].lines])
    np.testing.assert_allclose(
        np.sort(dots), np.sort(shares.xs(3, level=CATEGORY)["observed_share"].to_numpy())
    )
    with pytest.raises(TypeError, match="expected a fitted BayesianLatentClass"):
        plot_item_ppc(object())

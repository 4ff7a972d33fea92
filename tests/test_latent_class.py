"""Tests of the Bayesian latent class model (bayes_cluster.estimators.latent_class)."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from scipy.stats import dirichlet

import bayes_cluster
from bayes_cluster.analyses.n_classes import compare_n_classes
from bayes_cluster.common.dims import (
    CATEGORY,
    CHAIN,
    DRAW,
    FIRM,
    ITEM,
    LATENT_CLASS,
    MARKUSEN_TYPE,
)
from bayes_cluster.common.latent_class_math import marginal_log_likelihood
from bayes_cluster.estimators.latent_class import (
    DEFAULT_PRIORS,
    BayesianLatentClass,
    ClusterVerdict,
    encode_items,
    relabel_draws,
)
from bayes_cluster.inference.diagnostics import ConvergenceWarning
from bayes_cluster.inference.summaries import SUMMARY_COLUMNS
from bayes_cluster.surveys.markusen import MARKUSEN_ITEMS, MARKUSEN_TYPES
from bayes_cluster.surveys.simulate import simulate_tumang

# ---------------------------------------------------------------------------- encoding


def test_encode_collapses_likert_and_leaves_missing_out():
    frame = pd.DataFrame(
        {"firm_id": ["a", "b", "c"], "q1": [1, 3, 5], "q2": [2.0, np.nan, 4.0]},
    )
    encoded = encode_items(frame)
    assert encoded.items == ("q1", "q2")
    assert encoded.firms == ("a", "b", "c")
    assert encoded.category_labels == ("disagree", "neutral", "agree")
    np.testing.assert_array_equal(encoded.codes, [[1, 1], [2, 0], [3, 3]])
    assert encoded.one_hot.shape == (3, 2, 3)
    np.testing.assert_array_equal(encoded.one_hot[1, 1], [0, 0, 0])  # missing: row of zeros
    np.testing.assert_array_equal(encoded.one_hot[0, 0], [1, 0, 0])
    np.testing.assert_array_equal(encoded.one_hot[2, 1], [0, 0, 1])
    assert encoded.n_missing == 1
    kept = encode_items(frame, collapse="none")
    assert kept.categories == (1, 2, 3, 4, 5)
    np.testing.assert_array_equal(kept.codes, [[1, 2], [3, 0], [5, 4]])


def test_encode_uses_markusen_items_of_a_survey_frame():
    frame, _ = simulate_tumang(n=20, seed=3)
    encoded = encode_items(frame)
    assert encoded.items == MARKUSEN_ITEMS
    assert encoded.firms == tuple(frame["firm_id"])


def test_encode_rejects_bad_cells_by_name():
    frame = pd.DataFrame({"firm_id": ["a", "b"], "q1": [1, 7], "q2": [2, 2]})
    with pytest.raises(
        ValueError, match=r"item 'q1', firm 'b' \(row 2\): value 7 is not a Likert"
    ):
        encode_items(frame)
    frame = pd.DataFrame({"q1": [1, "x"], "q2": [2, 2]})
    with pytest.raises(ValueError, match="item 'q1', firm '1' .*'x'"):
        encode_items(frame, collapse="none")
    with pytest.raises(ValueError, match=r"item columns \['nope'\] are not in the data"):
        encode_items(frame, ["nope"])
    with pytest.raises(ValueError, match="item 'q2' has no observed response"):
        encode_items(pd.DataFrame({"q1": [1, 2], "q2": [np.nan, np.nan]}))


# ---------------------------------------------------------------------------- configuration


def test_priors_merge_defaults_with_user_values_and_reject_unknown():
    model = BayesianLatentClass(3, priors={"class_concentration": 0.05})
    assert model.priors == {"class_concentration": 0.05, "item_concentration": 1.0}
    table = model.prior_summary()
    assert table.loc["pi", "prior"] == "Dirichlet(0.05 * 1_K)"
    assert not table.loc["pi", "default"]
    assert table.loc["theta", "default"]
    assert DEFAULT_PRIORS["class_concentration"] == 1.0  # defaults not mutated
    with pytest.raises(ValueError, match=r"unknown prior names \['alpha'\]"):
        BayesianLatentClass(2, priors={"alpha": 1.0})
    with pytest.raises(ValueError, match="prior item_concentration must be positive"):
        BayesianLatentClass(2, priors={"item_concentration": 0.0})
    with pytest.raises(ValueError, match="n_classes must be a positive whole number"):
        BayesianLatentClass(0)
    with pytest.raises(RuntimeError, match="not fitted yet"):
        BayesianLatentClass(2).summary()


# ---------------------------------------------------------------------------- likelihood


def _hand_marginal_log_likelihood(codes, pi, theta):
    """Direct sum over classes and product over answered items (loops, no vectorising)."""
    total = 0.0
    for row in codes:
        firm = 0.0
        for k in range(len(pi)):
            product = pi[k]
            for j, code in enumerate(row):
                if code > 0:
                    product *= theta[k, j, code - 1]
            firm += product
        total += np.log(firm)
    return total


def test_model_logp_equals_hand_computed_value(python_graphs):
    frame = pd.DataFrame(
        {"q1": [1, 3, 5, 4], "q2": [2, 5, np.nan, 1], "q3": [3, 3, 4, 1]},
    )
    model_spec = BayesianLatentClass(2, priors={"class_concentration": 2.0})
    encoded = model_spec.encode(frame)
    model = model_spec.build_model(encoded)
    pi = np.array([0.3, 0.7])
    theta = np.array(
        [
            [[0.2, 0.3, 0.5], [0.6, 0.1, 0.3], [0.1, 0.8, 0.1]],
            [[0.5, 0.25, 0.25], [0.2, 0.2, 0.6], [0.3, 0.3, 0.4]],
        ]
    )
    point = {}
    for rv, value in (("pi", pi), ("theta", theta)):
        variable = model[rv]
        transform = model.rvs_to_transforms[variable]
        point[model.rvs_to_values[variable].name] = transform.forward(value).eval()
    logp = model.compile_logp(jacobian=False)(point)
    likelihood = _hand_marginal_log_likelihood(encoded.codes, pi, theta)
    prior = dirichlet.logpdf(pi, [2.0, 2.0]) + sum(
        dirichlet.logpdf(theta[k, j], np.ones(3)) for k in range(2) for j in range(3)
    )
    np.testing.assert_allclose(logp, likelihood + prior, rtol=1e-10)
    per_firm = marginal_log_likelihood(encoded.one_hot, pi, theta)
    np.testing.assert_allclose(per_firm.sum(), likelihood, rtol=1e-12)
    assert per_firm.shape == (4,)


# ---------------------------------------------------------------------------- relabelling


def _separated_draws(rng, n_draws=400, n_classes=3, n_items=5, n_categories=3):
    centres = rng.dirichlet(np.full(n_categories, 0.5), size=(n_classes, n_items))
    shares = np.array([0.5, 0.3, 0.2])[:n_classes]
    theta = np.stack(
        [
            np.stack([rng.dirichlet(200 * centres[k, j] + 0.1) for j in range(n_items)])
            for _ in range(n_draws)
            for k in range(n_classes)
        ]
    ).reshape(n_draws, n_classes, n_items, n_categories)
    pi = rng.dirichlet(300 * shares, size=n_draws)
    return pi, theta


def test_relabelling_puts_permuted_draws_back_in_order():
    rng = np.random.default_rng(7)
    pi, theta = _separated_draws(rng)
    permutations = np.array(list(itertools.permutations(range(3))))
    applied = permutations[rng.integers(len(permutations), size=len(pi))]
    rows = np.arange(len(pi))[:, None]
    scrambled_pi, scrambled_theta = pi[rows, applied], theta[rows, applied]
    assert (applied != np.arange(3)).any(axis=1).mean() > 0.5

    # against a reference in the true order, every draw goes back exactly
    found = relabel_draws(scrambled_pi, scrambled_theta, reference=(pi.mean(0), theta.mean(0)))
    np.testing.assert_array_equal(scrambled_pi[rows, found], pi)
    np.testing.assert_array_equal(scrambled_theta[rows, found], theta)

    # without a reference (pivot = first draw, then the mean): one consistent labelling,
    # equal to the truth up to a single global permutation
    found = relabel_draws(scrambled_pi, scrambled_theta)
    relabelled = scrambled_pi[rows, found]
    global_permutation = applied[0][found[0]]
    np.testing.assert_array_equal(relabelled, pi[:, global_permutation])


def test_relabelling_checks_shapes():
    with pytest.raises(ValueError, match="class_shares must be"):
        relabel_draws(np.ones((4, 2)), np.ones((4, 3, 2, 2)))


# ---------------------------------------------------------------------------- a short fit


@pytest.fixture(scope="module")
def short_fit():
    frame, truth = simulate_tumang(n=60, seed=11)
    model = BayesianLatentClass(2)
    # 4 x 1000 draws (nutpie: about a second of sampling after the compile) for a PASSED
    # verdict with a margin. With 2 chains the largest of the 36 theta R-hats passed 1.01
    # by chance for 3 of 16 seeds (2 x 1000; measured 2026-12-01), and the seed that passed
    # on one machine's rounding failed on another's; with 4 chains all 16 passed.
    model.fit(frame, draws=1000, tune=1000, chains=4, random_seed=5)
    return model, frame, truth


def test_fit_result_layout(short_fit):
    model, frame, _ = short_fit
    tree = model.idata_
    assert {"posterior", "sample_stats", "log_likelihood", "observed_data", "relabelling"} <= set(
        tree.children
    )
    posterior = model.posterior
    assert posterior["pi"].dims == (CHAIN, DRAW, LATENT_CLASS)
    assert posterior["theta"].dims == (CHAIN, DRAW, LATENT_CLASS, ITEM, CATEGORY)
    assert posterior["class_probability"].dims == (CHAIN, DRAW, FIRM, LATENT_CLASS)
    assert posterior.sizes[CHAIN] == 4 and posterior.sizes[DRAW] == 1000
    assert list(posterior[ITEM].to_numpy()) == list(MARKUSEN_ITEMS)
    assert list(posterior[FIRM].to_numpy()) == list(frame["firm_id"])
    assert tree["log_likelihood"]["responses"].dims == (CHAIN, DRAW, FIRM)
    np.testing.assert_allclose(posterior["pi"].sum(LATENT_CLASS), 1.0)
    np.testing.assert_allclose(posterior["theta"].sum(CATEGORY), 1.0)
    np.testing.assert_allclose(posterior["class_probability"].sum(LATENT_CLASS), 1.0)
    # classes come out ordered by decreasing share
    means = posterior["pi"].mean((CHAIN, DRAW)).to_numpy()
    assert means[0] >= means[1]
    assert "Hungarian" in tree.attrs["label_switching"]
    assert "EM" in tree.attrs["label_switching"]
    assert tree.attrs["n_classes"] == "2" and tree.attrs["collapse"] == "three"
    assert tree.attrs["seed"] == "5"
    assert tree.attrs["diagnostics_verdict"] == "PASSED", model.diagnostics_.problems
    assert model.diagnostics_.problems == []
    # the stored log-likelihood is the marginal likelihood of the stored draws
    first = posterior.isel({CHAIN: 0, DRAW: 0})
    expected = marginal_log_likelihood(
        model.encoded.one_hot, first["pi"].to_numpy(), first["theta"].to_numpy()
    )
    np.testing.assert_allclose(
        tree["log_likelihood"]["responses"].isel({CHAIN: 0, DRAW: 0}), expected
    )


def test_summary_equals_arviz_stats_summary(short_fit):
    """The summary's numbers, computed for all parameters at once, are ArviZ's own."""
    import arviz_stats as azs

    model, _, _ = short_fit
    table = model.summary(0.9)
    with np.errstate(invalid="ignore", divide="ignore"):
        reference = azs.summary(
            model.idata_,
            var_names=["pi", "theta"],
            kind="all",
            ci_prob=0.9,
            ci_kind="hdi",
            round_to="none",
        )
    reference = reference.rename(columns={"hdi90_lb": "hdi_lower", "hdi90_ub": "hdi_upper"})
    assert list(table.index) == list(reference.index)
    for column in ("mean", "sd", "hdi_lower", "hdi_upper"):
        np.testing.assert_array_equal(table[column], reference[column], err_msg=column)
    for column in ("r_hat", "ess_bulk", "ess_tail"):
        np.testing.assert_allclose(table[column], reference[column], rtol=1e-10, err_msg=column)


def test_summary_has_the_logit_columns(short_fit):
    model, _, _ = short_fit
    table = model.summary()
    assert list(table.columns) == [
        "mean",
        "sd",
        "hdi_lower",
        "hdi_upper",
        "r_hat",
        "ess_bulk",
        "ess_tail",
    ]
    assert tuple(table.columns) == SUMMARY_COLUMNS  # the one contract's columns
    assert len(table) == 2 + 2 * 12 * 3
    assert list(table.index[:3]) == ["pi[1]", "pi[2]", "theta[1, mk_small_local_firms, 1]"]
    narrow = model.summary(0.5)
    pd.testing.assert_series_equal(narrow["mean"], table["mean"])
    assert (
        narrow["hdi_upper"] - narrow["hdi_lower"] < table["hdi_upper"] - table["hdi_lower"]
    ).all()
    assert (table["hdi_lower"] <= table["mean"]).all()
    assert (table["mean"] <= table["hdi_upper"]).all()


def test_class_probabilities_and_typing(short_fit):
    model, _, truth = short_fit
    probabilities = model.class_probabilities()
    assert probabilities.shape == (60, 4)
    np.testing.assert_allclose(probabilities[["class 1", "class 2"]].sum(axis=1), 1.0)
    typing = model.markusen_typing()
    np.testing.assert_allclose(typing[list(MARKUSEN_TYPES)].sum(axis=1), 1.0)
    assert list(typing["most_probable_type"]) == ["Marshallian", "Hub-and-Spoke"]
    shares = model.type_share_draws()
    assert shares.dims == (CHAIN, DRAW, MARKUSEN_TYPE)
    np.testing.assert_allclose(shares.sum(MARKUSEN_TYPE), 1.0)
    verdict = model.cluster_verdict()
    assert isinstance(verdict, ClusterVerdict)
    assert verdict.text.startswith("The cluster is")
    assert "Marshallian" in verdict.text
    p_majority = verdict.probability("Marshallian", 0.5)
    assert p_majority == pytest.approx(verdict.table.loc["Marshallian", "p_share_gt_0.5"])
    with pytest.raises(KeyError, match="unknown Markusen type"):
        verdict.probability("Fordist", 0.5)


def test_save_and_load_round_trip(short_fit, tmp_path):
    model, _, _ = short_fit
    path = model.save(tmp_path / "lca.nc")
    loaded = BayesianLatentClass.load(path)
    assert loaded.n_classes == 2 and loaded.collapse == "three"
    assert loaded.items == MARKUSEN_ITEMS
    assert loaded.priors == model.priors
    pd.testing.assert_frame_equal(loaded.summary(), model.summary())
    pd.testing.assert_frame_equal(loaded.markusen_typing(), model.markusen_typing())
    pd.testing.assert_frame_equal(loaded.class_probabilities(), model.class_probabilities())
    # the encoded items are rebuilt from the saved observed data
    np.testing.assert_array_equal(loaded.encoded.one_hot, model.encoded.one_hot)
    assert loaded.encoded.item_categories == model.encoded.item_categories
    assert loaded.diagnostics_.passed == model.diagnostics_.passed
    assert loaded.idata_.attrs["bayes_cluster_model"] == "BayesianLatentClass"


def test_another_sample_size_reuses_the_compiled_model_and_gives_a_fresh_compiles_draws(
    short_fit,
):
    from bayes_cluster.inference.sampling import clear_compiled_cache, compiled_cache

    # The firms are data: the compile key holds the items, their categories and K, not n,
    # so a fit on 45 firms runs on the model compiled for short_fit's 60 (a study's or a
    # test's sizes pay one compile) -- and must sample exactly what a model compiled for
    # 45 firms samples.
    _, frame, _ = short_fit
    smaller = frame.iloc[:45]
    settings = {"draws": 60, "tune": 60, "chains": 2, "random_seed": 3}
    compilations = compiled_cache.compilations
    with pytest.warns(ConvergenceWarning):  # 2 x 60 draws: R-hat cannot pass
        reused = BayesianLatentClass(2).fit(smaller, **settings)
    assert compiled_cache.compilations == compilations
    clear_compiled_cache()
    with pytest.warns(ConvergenceWarning):
        fresh = BayesianLatentClass(2).fit(smaller, **settings)
    assert compiled_cache.compilations == compilations + 1
    assert reused["posterior"].sizes["draw"] == 60
    np.testing.assert_array_equal(
        reused["posterior"]["theta"].to_numpy(), fresh["posterior"]["theta"].to_numpy()
    )


def test_load_refuses_a_file_of_another_model(tmp_path):
    import xarray as xr

    from bayes_cluster.estimators.logistic import BayesianLogit
    from bayes_cluster.inference.base import MODEL_ATTR, STATE_ATTR, VERSION_ATTR

    tree = xr.DataTree.from_dict({"posterior": xr.Dataset({"beta": (("chain", "draw"), [[0.0]])})})
    tree.attrs.update({MODEL_ATTR: BayesianLogit.__name__, STATE_ATTR: "{}"})
    tree.attrs[VERSION_ATTR] = bayes_cluster.__version__
    path = tmp_path / "logit.nc"
    tree.to_netcdf(path, engine="h5netcdf")
    with pytest.raises(ValueError, match="holds a BayesianLogit fit, not a BayesianLatentClass"):
        BayesianLatentClass.load(path)


def test_config_rebuilds_the_model_and_the_fit_records_the_sampler_settings(short_fit):
    import json

    model, _, _ = short_fit
    config = model.config()
    assert json.loads(json.dumps(config)) == config  # JSON-able
    rebuilt = BayesianLatentClass(**config)
    assert rebuilt.config() == config
    assert model.default_target_accept == 0.8
    attrs = model.idata_.attrs
    assert attrs["target_accept"] == "0.8"
    assert attrs["draws"] == "1000" and attrs["chains"] == "4"
    assert set(model.timings_) == {"compile_s", "sample_s", "postprocess_s"}


def test_loo_comparison_table(short_fit):
    from scipy.special import logsumexp

    model, _, _ = short_fit
    table = compare_n_classes({2: model}, em_bic={2: 1234.5})
    assert list(table.index) == ["K=2"]
    row = table.loc["K=2"]
    assert row["elpd_diff"] == 0.0 and row["se_diff"] == 0.0
    assert row["bic_em"] == 1234.5
    assert row["max_r_hat"] == model.diagnostics_.table["r_hat"].max() <= 1.01
    assert row["n_divergences"] == 0
    # by hand from the stored pointwise log-likelihood (draws x firms)
    log_lik = model.idata_["log_likelihood"]["responses"].to_numpy().reshape(-1, 60)
    n_draws = log_lik.shape[0]
    lppd = (logsumexp(log_lik, axis=0) - np.log(n_draws)).sum()
    assert row["p_loo"] == pytest.approx(lppd - row["elpd_loo"], rel=1e-9)
    # plain importance-sampling LOO (weights 1 / p(y_i | draw)): PSIS smooths the largest
    # weights only, so the two agree closely (measured -575.40 vs -575.22)
    is_loo = -(logsumexp(-log_lik, axis=0) - np.log(n_draws))
    assert row["elpd_loo"] == pytest.approx(is_loo.sum(), abs=1.0)
    assert row["se"] == pytest.approx(np.sqrt(60 * np.var(is_loo)), rel=0.05)
    # the exact LOO of the one-class model (independent items, Dirichlet(1) on each item's
    # 3 categories; no MCMC): leaving firm i out, p(y_ij = c | the others) =
    # (n_jc - 1 + 1) / (n_j - 1 + 3), and p(y_i | the others) is the product over items j.
    # The data have two classes, so the two-class model predicts held-out firms far better.
    one_hot = model.encoded.one_hot  # firm x item x category, every item answered
    assert (one_hot.sum(axis=2) == 1).all()
    counts = one_hot.sum(axis=0)  # n_jc
    answer = one_hot.argmax(axis=2)  # firm x item
    items = np.arange(one_hot.shape[1])
    held_out = sum(
        np.log(counts[items, answer[i]] / (counts.sum(axis=1) + 2)).sum()
        for i in range(one_hot.shape[0])
    )
    assert held_out == pytest.approx(-626.37, abs=0.01)
    assert row["elpd_loo"] > held_out + 25


def test_typing_refuses_non_markusen_items():
    import xarray as xr

    model = BayesianLatentClass(1)
    theta = np.full((1, 3, 1, 2, 3), 1 / 3)
    model.idata_ = xr.DataTree.from_dict(
        {
            "posterior": xr.Dataset(
                {"theta": ((CHAIN, DRAW, LATENT_CLASS, ITEM, CATEGORY), theta)},
                coords={ITEM: ["q1", "q2"], CATEGORY: [1, 2, 3]},
            )
        }
    )
    with pytest.raises(ValueError, match=r"\['q1', 'q2'\] are not in the signature table"):
        model.markusen_typing()


@pytest.mark.slow
def test_one_class_model_with_pymc_sampler():
    frame = pd.DataFrame({"q1": [1, 5, 1, 5, 2, 4] * 3, "q2": [1, 5, 2, 4, 1, 5] * 3})
    model = BayesianLatentClass(1)
    # 2 x 200 draws: one theta R-hat just above 1.01, and the fit says so
    with pytest.warns(ConvergenceWarning, match=r"R-hat 1\.0\d\d for theta"):
        model.fit(frame, draws=200, tune=200, chains=2, random_seed=1, sampler="pymc")
    assert model.idata_.attrs["label_switching"] == "none needed (one class)"
    assert model.idata_.attrs["sampler"] == "pymc"
    # one class: theta's posterior is Dirichlet(1 + counts); both items collapse to
    # (disagree 9, neutral 0, agree 9), so the posterior means are (10, 1, 10) / 21
    mean = model.posterior["theta"].mean((CHAIN, DRAW)).to_numpy()[0]
    np.testing.assert_allclose(mean, np.array([[10, 1, 10], [10, 1, 10]]) / 21, atol=0.03)
    np.testing.assert_allclose(model.posterior["class_probability"], 1.0)


# ---------------------------------------------------------------------------- recovery


@pytest.mark.slow
@pytest.mark.parametrize("seed", [101, 202, 303])
def test_recovers_simulated_classes_and_markusen_verdict(seed):
    frame, truth = simulate_tumang(n=60, seed=seed)
    model = BayesianLatentClass(2)
    model.fit(frame, draws=1000, tune=1000, chains=4, random_seed=seed)
    diagnostics = model.diagnostics_
    assert diagnostics.n_divergences == 0
    assert diagnostics.table["r_hat"].max() <= 1.01
    # class shares: the truth's realised shares inside the 94% HDI
    table = model.summary(var_names=["pi"])
    realised = np.bincount(truth.latent_class, minlength=2) / len(frame)
    # truth class 0 is Marshallian (larger); relabelled class 1 is the larger one
    assert (table["hdi_lower"].to_numpy() <= realised).all()
    assert (realised <= table["hdi_upper"].to_numpy()).all()
    # profiles: collapsed true probabilities close to the posterior means
    true_theta = truth.item_probabilities
    collapsed = np.stack(
        [true_theta[..., :2].sum(-1), true_theta[..., 2], true_theta[..., 3:].sum(-1)], -1
    )
    estimated = model.posterior["theta"].mean((CHAIN, DRAW)).to_numpy()
    assert np.abs(estimated - collapsed).mean() < 0.08
    # Markusen verdict matches the truth (Marshallian majority, Hub-and-Spoke minority)
    typing = model.markusen_typing()
    assert list(typing["most_probable_type"]) == ["Marshallian", "Hub-and-Spoke"]
    assert (typing["probability"] > 0.9).all()
    verdict = model.cluster_verdict()
    assert verdict.probability("Marshallian", 0.5) > 0.9
    assert verdict.probability("Hub-and-Spoke", 0.1) > 0.9


# ---------------------------------------------------------------------------- figures


def test_bayesian_figures(short_fit):
    from matplotlib.figure import Figure

    from bayes_cluster.plots.latent_class import (
        plot_class_profiles,
        plot_class_shares,
        plot_markusen_typing,
        plot_membership,
    )

    model, _, _ = short_fit
    profiles = plot_class_profiles(model)
    assert isinstance(profiles, Figure)
    assert len(profiles.axes) == 2  # one panel per class
    assert profiles.axes[0].get_title().startswith("class 1 (share ")
    shares = plot_class_shares(model.idata_)
    assert len(shares.axes) == 1
    membership = plot_membership(model, max_firms=20)
    assert len(membership.axes[0].patches) == 2 * 20  # one bar per firm and class
    typing = plot_markusen_typing(model)
    assert len(typing.axes) == 2
    with pytest.raises(TypeError, match="expected a fitted BayesianLatentClass"):
        plot_class_profiles(object())


@pytest.mark.slow
def test_number_of_classes_by_loo_bic_and_overfitted_mixture():
    from bayes_cluster.analyses.n_classes import overfitted_mixture, select_n_classes_bayes

    frame, truth = simulate_tumang(n=60, seed=101)
    # 4 x 1000 draws: at 4 x 500 the K = 3 fit (one class too many) failed R-hat <= 1.01 for
    # 9 of 16 seeds (its third share mixes slowly), at 4 x 1000 for none (2026-12-01)
    table, models = select_n_classes_bayes(
        frame, k_max=3, draws=1000, tune=1000, chains=4, random_seed=3, em_starts=20
    )
    assert set(table.index) == {"K=1", "K=2", "K=3"}
    assert set(models) == {1, 2, 3}
    assert table["elpd_loo"].is_monotonic_decreasing  # best first
    # two true classes: one class is clearly worse by LOO, and EM's BIC picks K = 2
    assert table.loc["K=1", "elpd_diff"] < -4 * table.loc["K=1", "se_diff"]
    assert table.loc["K=2", "elpd_diff"] > -2 * max(table.loc["K=2", "se_diff"], 1.0)
    assert table["bic_em"].idxmin() == "K=2"
    # the sparse overfitted mixture empties the third class
    # the emptied class's share sits near zero and mixes slowly: its R-hat and ESS fail the
    # checks (the docstring says to read the occupied-class posterior, not the empty class)
    with pytest.warns(ConvergenceWarning, match=r"for pi\[3\]"):
        model, occupied = overfitted_mixture(
            frame, k_max=3, draws=500, tune=500, chains=4, random_seed=4
        )
    assert not model.diagnostics_.passed
    assert occupied.idxmax() == 2
    assert occupied.loc[2] > 0.5
    assert "Rousseau" in model.idata_.attrs["overfitted_mixture"]


def test_predict_on_the_fitted_firms_reproduces_their_class_probabilities(short_fit):
    model, frame, _ = short_fit
    pd.testing.assert_frame_equal(model.predict(frame), model.class_probabilities())
    new, _ = simulate_tumang(n=5, seed=99)
    new.loc[0, "mk_cooperation"] = np.nan  # a missing answer drops out
    predicted = model.predict(new)
    assert predicted.shape == (5, 4)
    np.testing.assert_allclose(predicted[["class 1", "class 2"]].sum(axis=1), 1.0)


# ---------------------------------------------------------------------------- item categories
def _mixed_scale_frame() -> pd.DataFrame:
    # "scale" is answered on 1..5; "yes_no" only has two categories (1 = no, 2 = yes)
    return pd.DataFrame({"scale": [1, 2, 3, 4, 5, 2] * 3, "yes_no": [1, 2, 1, 2, 2, 1] * 3})


def test_collapse_none_takes_each_items_categories_from_its_levels():
    frame = _mixed_scale_frame()
    encoded = encode_items(frame, collapse="none")
    assert encoded.categories == (1, 2, 3, 4, 5)
    assert encoded.item_categories == ((1, 2, 3, 4, 5), (1, 2))
    # declared levels win over the codes seen (a Likert item with no 5 answered)
    declared = encode_items(
        frame.assign(scale=frame["scale"].clip(upper=4)),
        collapse="none",
        levels={"scale": [1, 2, 3, 4, 5], "yes_no": [1, 2]},
    )
    assert declared.item_categories == ((1, 2, 3, 4, 5), (1, 2))
    # the built-in codebook's levels serve the Markusen items (Likert 1..5)
    survey, _ = simulate_tumang(n=20, seed=3)
    item = MARKUSEN_ITEMS[0]
    survey[item] = survey[item].clip(upper=3)
    assert encode_items(survey, [item], collapse="none").item_categories == ((1, 2, 3, 4, 5),)
    with pytest.raises(ValueError, match=r"item 'yes_no', firm '1' \(row 2\): value 2 is not"):
        encode_items(frame, collapse="none", levels={"yes_no": [1]})


def test_collapse_none_prior_has_no_phantom_categories(python_graphs):
    # theta of the two-category item is Dirichlet(1, 1) over its own two categories (mean
    # 1/2 each); a fixed 5-category Dirichlet(1_5) would give it 1/5 each and 3/5 of its
    # prior mass on categories 3..5 that the item does not have
    import pymc as pm

    model = BayesianLatentClass(2, collapse="none").build_model(_mixed_scale_frame())
    theta = pm.draw(model["theta"], draws=4000, random_seed=3)  # (draw, class, item, cat)
    np.testing.assert_array_equal(theta[:, :, 1, 2:], 0.0)
    np.testing.assert_allclose(theta.sum(axis=-1), 1.0)
    assert abs(theta[:, :, 1, 0].mean() - 0.5) < 0.02
    assert abs(theta[:, :, 0, :].mean() - 0.2) < 0.01
    # log density at a chosen point: the hand likelihood plus one Dirichlet per item over
    # its own categories
    pi = np.array([0.4, 0.6])
    scale = np.array([[[0.1, 0.2, 0.3, 0.2, 0.2]], [[0.3, 0.3, 0.2, 0.1, 0.1]]])
    yes_no = np.array([[[0.7, 0.3]], [[0.25, 0.75]]])
    point = {}
    for name, value in (
        ("pi", pi),
        ("theta_levels_1_2_3_4_5", scale),
        ("theta_levels_1_2", yes_no),
    ):
        variable = model[name]
        transform = model.rvs_to_transforms[variable]
        point[model.rvs_to_values[variable].name] = transform.forward(value).eval()
    logp = model.compile_logp(jacobian=False)(point)
    theta = np.zeros((2, 2, 5))
    theta[:, 0] = scale[:, 0]
    theta[:, 1, :2] = yes_no[:, 0]
    likelihood = _hand_marginal_log_likelihood(_mixed_scale_frame().to_numpy(), pi, theta)
    prior = dirichlet.logpdf(pi, [1.0, 1.0]) + sum(
        dirichlet.logpdf(scale[k, 0], np.ones(5)) + dirichlet.logpdf(yes_no[k, 0], np.ones(2))
        for k in range(2)
    )
    np.testing.assert_allclose(logp, likelihood + prior, rtol=1e-10)


def test_collapse_none_fit_and_summary_name_each_items_categories():
    # one class: theta's posterior is Dirichlet(1 + counts) over the item's own categories;
    # yes_no has 9 no and 9 yes, so its posterior mean is (10, 10) / 20, not (10, 10) / 23
    model = BayesianLatentClass(1, collapse="none")
    # 2 x 100 draws: too few for R-hat <= 1.01 on the 5-category item, and said so
    with pytest.warns(ConvergenceWarning, match="BayesianLatentClass FAILED its convergence"):
        model.fit(_mixed_scale_frame(), draws=100, tune=100, chains=2, random_seed=2)
    assert not model.diagnostics_.passed
    assert model.idata_.attrs["diagnostics_verdict"] == "FAILED"
    mean = model.posterior["theta"].mean((CHAIN, DRAW)).to_numpy()[0]
    np.testing.assert_array_equal(mean[1, 2:], 0.0)
    np.testing.assert_allclose(mean[1, :2], [0.5, 0.5], atol=0.06)
    assert model.idata_.attrs["item_categories"] == "scale: 1, 2, 3, 4, 5; yes_no: 1, 2"
    table = model.summary(var_names=["theta"])
    assert table.attrs["item_categories"] == {"scale": (1, 2, 3, 4, 5), "yes_no": (1, 2)}
    # one row per category an item has: 5 + 2, no row for yes_no's absent 3..5
    assert len(table) == 7
    assert "theta[1, yes_no, 3]" not in table.index
    assert "theta[1, yes_no, 2]" in table.index
    # predict encodes new firms with the fitted categories
    probability = model.predict(pd.DataFrame({"scale": [5, 1], "yes_no": [2, 1]}))
    np.testing.assert_allclose(probability["class 1"], 1.0)
    with pytest.raises(ValueError, match="value 3 is not one of the item.s categories 1, 2"):
        model.predict(pd.DataFrame({"scale": [5, 1], "yes_no": [3, 1]}))
    # predictive checks: no rows for absent categories; Cramér's V of the 5 x 2 table
    # divides by min(5, 2) - 1 = 1, as scipy's association()
    from scipy.stats.contingency import association, crosstab

    checks = model.posterior_predictive_check(random_seed=1)
    assert len(checks["item_shares"]) == 7
    assert ("yes_no", 3) not in checks["item_shares"].index
    frame = _mixed_scale_frame()
    table = crosstab(frame["scale"], frame["yes_no"]).count
    assert checks["pairs"]["cramers_v_observed"].iloc[0] == pytest.approx(
        association(table, method="cramer")
    )

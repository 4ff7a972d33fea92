"""Covariates of class membership (issue 16 item 2): Bayesian and EM, one step.

The Bayesian model's marginal log-likelihood is checked against a direct numpy
computation at a point; the EM fit against an independent direct maximisation of the
marginal log-likelihood over all parameters (scipy BFGS) and the standard errors against
that maximum's finite-difference Hessian (R's poLCA could not be installed here: no
CRAN mirror reachable, no Debian package); the relabelling against a constructed case
whose second chain has its classes swapped; recovery of the covariate effects from a
known truth is a slow test.
"""

from __future__ import annotations

import textwrap
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from scipy.optimize import minimize
from scipy.special import logsumexp

from bayes_cluster.common.dims import CHAIN, CLASS_CONTRAST, COVARIATE, DRAW, LATENT_CLASS
from bayes_cluster.estimators.latent_class import (
    MEMBERSHIP_PRIORS,
    BayesianLatentClass,
    encode_covariates,
)
from bayes_cluster.estimators.latent_class_em import LatentClassEM
from bayes_cluster.estimators.ordinal_latent_class import BayesianOrdinalLatentClass
from bayes_cluster.inference.summaries import SUMMARY_COLUMNS
from bayes_cluster.run.spec import SpecError, load_spec

ITEMS = [f"q{j + 1}" for j in range(6)]
#: P(answer 2 | class) per item, two well separated classes
TRUE_THETA = np.array([[0.85, 0.8, 0.75, 0.8, 0.2, 0.7], [0.2, 0.25, 0.3, 0.15, 0.75, 0.3]])


def simulate_with_covariates(n: int, seed: int, slopes=(1.2, -0.8), intercept=-0.4):
    """Two classes, six yes/no items (codes 1/2); P(class 2 | x) = logistic(a + x'g)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 2))
    eta = intercept + x @ np.asarray(slopes)
    z = (rng.random(n) < 1 / (1 + np.exp(-eta))).astype(int)
    y = (rng.random((n, 6)) < TRUE_THETA[z]).astype(int) + 1
    frame = pd.DataFrame(y, columns=ITEMS)
    frame.insert(0, "firm_id", [f"f{i}" for i in range(n)])
    # covariates on their own scales: the model standardises them
    frame["workers"] = 10 + 4 * x[:, 0]
    frame["firm_age"] = 20 + 7 * x[:, 1]
    return frame, z


# ------------------------------------------------------------------ covariate validation


def test_encode_covariates_standardises_with_the_sample_sd():
    frame = pd.DataFrame({"firm_id": ["a", "b", "c"], "w": [1, 2, 6], "t": [True, False, True]})
    encoded = encode_covariates(frame, ["w", "t"])
    np.testing.assert_allclose(encoded.means, [3.0, 2 / 3])
    np.testing.assert_allclose(
        encoded.scales, [np.std([1, 2, 6], ddof=1), np.std([1, 0, 1], ddof=1)]
    )
    np.testing.assert_allclose(encoded.values.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(encoded.values.std(axis=0, ddof=1), 1)
    # a fit's scaling applied to new firms
    again = encode_covariates(frame.iloc[:1], ["w"], means=[3.0], scales=[2.0])
    np.testing.assert_allclose(again.values, [[-1.0]])


@pytest.mark.parametrize(
    ("column", "values", "message"),
    [
        (
            "workers",
            [3, "many", 5],
            "covariate 'workers', firm 'b' (row 2): value 'many' is not a number; a covariate "
            "of class membership needs a number for every firm",
        ),
        (
            "workers",
            [3, 4, None],
            "covariate 'workers', firm 'c' (row 3): value is missing; a covariate of class "
            "membership needs a number for every firm",
        ),
        (
            "workers",
            [4, 4, 4],
            "covariate 'workers' is constant (every firm has 4): it cannot shift class membership",
        ),
    ],
)
def test_bad_covariate_values_are_named(column, values, message):
    frame = pd.DataFrame({"firm_id": ["a", "b", "c"], column: values})
    with pytest.raises(ValueError) as info:
        encode_covariates(frame, [column])
    assert str(info.value) == message


def test_bad_covariate_arguments_are_refused():
    frame = pd.DataFrame({"firm_id": ["a", "b"], "workers": [1, 2]})
    with pytest.raises(ValueError) as info:
        encode_covariates(frame, ["size"])
    assert str(info.value) == (
        "covariate 'size' is not a column of the data; columns: firm_id, workers"
    )
    cases = [
        (
            dict(covariates="workers"),
            "covariates must be a list of column names, got the string 'workers'",
        ),
        (dict(covariates=[]), "covariates is empty: give column names or leave it out"),
        (dict(covariates=["w", "w"]), "covariates name a column twice: ['w']"),
        (
            dict(covariates=["w"], n_classes=1),
            "covariates of class membership need at least 2 classes",
        ),
        (
            dict(priors={"membership_slope_sd": 1.0}),
            "unknown prior names "
            "['membership_slope_sd']; known: class_concentration, item_concentration",
        ),
    ]
    for kwargs, message in cases:
        kwargs = {"n_classes": 2, **kwargs}
        with pytest.raises(ValueError) as info:
            BayesianLatentClass(**kwargs)
        assert str(info.value) == message
    with pytest.raises(ValueError) as info:
        BayesianOrdinalLatentClass(1, covariates=["w"])
    assert str(info.value) == "covariates of class membership need at least 2 classes"
    with pytest.raises(ValueError) as info:
        LatentClassEM(2).fit(pd.DataFrame({"q": [1, 2, 1]}), pd.DataFrame({"w": [1.0, 2.0]}))
    assert str(info.value) == (
        "covariates have 2 rows but the items have 3: one row per firm, in the same order"
    )
    with pytest.raises(ValueError) as info:
        LatentClassEM(2).fit(pd.DataFrame({"q": [1, 2, 1]}), pd.DataFrame({"w": [2, 2, 2]}))
    assert str(info.value) == (
        "covariate 'w' is constant (every firm has 2): it cannot shift class membership"
    )


def test_priors_and_config_of_the_membership_logit():
    model = BayesianLatentClass(3, covariates=["workers"], priors={"membership_slope_sd": 0.5})
    assert model.priors["membership_slope_sd"] == 0.5
    assert model.priors["membership_intercept_sd"] == MEMBERSHIP_PRIORS["membership_intercept_sd"]
    table = model.prior_summary()
    assert list(table.index) == ["theta", "alpha", "gamma"]  # no Dirichlet on pi any more
    assert table.loc["gamma", "prior"].startswith("ZeroSumNormal(sigma=0.5)")
    assert not table.loc["gamma", "default"] and table.loc["alpha", "default"]
    assert BayesianLatentClass(**model.config()).config() == model.config()


# ------------------------------------------------------------------ the Bayesian likelihood


def _numpy_marginal(one_hot, theta, alpha, gamma, x):
    """sum_i log sum_k softmax_k(alpha + x_i gamma) prod_jc theta_kjc^y_ijc, in loops."""
    total = 0.0
    for i in range(one_hot.shape[0]):
        eta = alpha + x[i] @ gamma
        log_weights = eta - logsumexp(eta)
        per_class = [
            log_weights[k] + np.sum(one_hot[i] * np.log(theta[k])) for k in range(len(alpha))
        ]
        total += logsumexp(per_class)
    return total


@pytest.mark.parametrize("model_class", [BayesianLatentClass, BayesianOrdinalLatentClass])
def test_marginal_log_likelihood_with_covariates_matches_numpy(model_class, python_graphs):
    frame, _ = simulate_with_covariates(25, seed=4)
    if model_class is BayesianLatentClass:
        model = model_class(3, collapse="none", items=ITEMS, covariates=["workers", "firm_age"])
    else:
        model = model_class(3, items=ITEMS, covariates=["workers", "firm_age"])
    pymc_model = model.build_model(frame)
    assert {"alpha", "gamma", "covariates"} <= set(pymc_model.named_vars)
    rng = np.random.default_rng(7)
    point = {
        name: rng.normal(scale=0.7, size=np.shape(value))
        for name, value in pymc_model.initial_point().items()
    }
    if "cutpoints_ordered__" in point:  # keep the ordered transform's start finite
        point["cutpoints_ordered__"] = pymc_model.initial_point()["cutpoints_ordered__"]
    # one call for the parameters and the potential (the compiled function may reuse
    # its input buffers, so the point is copied)
    values = pymc_model.compile_fn(
        [pymc_model["alpha"], pymc_model["gamma"], pymc_model["theta"], *pymc_model.potentials],
        inputs=pymc_model.value_vars,
        on_unused_input="ignore",
    )({name: value.copy() for name, value in point.items()})
    potential = values.pop()
    alpha, gamma, theta = (np.asarray(v) for v in values)
    np.testing.assert_allclose(alpha.sum(), 0, atol=1e-10)  # sum to zero over the classes
    np.testing.assert_allclose(gamma.sum(axis=1), 0, atol=1e-10)
    encoded = model.encode(frame)
    x = encode_covariates(frame, ["workers", "firm_age"]).values
    expected = _numpy_marginal(encoded.one_hot, theta, alpha, gamma, x)
    np.testing.assert_allclose(potential, expected, rtol=1e-9)


# ------------------------------------------------------------------ relabelling


def _swapped_raw_tree(n_draws=40, seed=0):
    """Two chains at the same posterior mode; the second chain's classes swapped."""
    rng = np.random.default_rng(seed)
    alpha_true = np.array([0.4, -0.4])  # sum-to-zero
    gamma_true = np.array([[-0.6, 0.6], [0.3, -0.3]])  # (covariate, class)
    theta_true = np.stack([1 - TRUE_THETA, TRUE_THETA], axis=-1)  # (class, item, category)

    def chain(swap):
        order = [1, 0] if swap else [0, 1]
        noise = rng.normal(scale=0.01, size=(n_draws, 2))
        alpha = alpha_true[order] + noise - noise.mean(axis=1, keepdims=True)
        gamma = np.broadcast_to(gamma_true[:, order], (n_draws, 2, 2)).copy()
        gamma += rng.normal(scale=0.01, size=gamma.shape)
        gamma -= gamma.mean(axis=2, keepdims=True)
        theta = np.broadcast_to(theta_true[order], (n_draws, *theta_true.shape)).copy()
        return alpha, gamma, theta

    parts = [chain(False), chain(True)]
    posterior = xr.Dataset(
        {
            "alpha": ((CHAIN, DRAW, LATENT_CLASS), np.stack([p[0] for p in parts])),
            "gamma": ((CHAIN, DRAW, COVARIATE, LATENT_CLASS), np.stack([p[1] for p in parts])),
            "theta": (
                (CHAIN, DRAW, LATENT_CLASS, "item", "category"),
                np.stack([p[2] for p in parts]),
            ),
        },
        coords={
            CHAIN: [0, 1],
            DRAW: np.arange(n_draws),
            LATENT_CLASS: [1, 2],
            COVARIATE: ["workers", "firm_age"],
            "item": ITEMS,
            "category": [1, 2],
        },
    )
    return xr.DataTree.from_dict({"posterior": posterior}), alpha_true, gamma_true


def test_relabelling_permutes_the_membership_logit_with_the_classes():
    frame, _ = simulate_with_covariates(30, seed=2)
    model = BayesianLatentClass(
        2, collapse="none", items=ITEMS, covariates=["workers", "firm_age"]
    )
    raw, alpha_true, gamma_true = _swapped_raw_tree()
    covariates = encode_covariates(frame, ["workers", "firm_age"])
    tree = model._relabelled_tree(raw, model.encode(frame), "draw", 0, covariates)
    permutation = tree["relabelling"]["permutation"].to_numpy()
    # one chain kept its labels, the other was swapped back (which is which depends on
    # the share order: class 1 is the larger class after relabelling)
    assert {tuple(permutation[0, 0]), tuple(permutation[1, 0])} == {(0, 1), (1, 0)}
    assert (permutation == permutation[:, :1]).all()
    # the reported contrasts are the same in both chains: gamma moved with the classes
    gamma = tree["posterior"]["gamma"].transpose(CHAIN, DRAW, COVARIATE, CLASS_CONTRAST)
    chain_means = gamma.mean(DRAW).to_numpy()[..., 0]  # (chain, covariate)
    np.testing.assert_allclose(chain_means[0], chain_means[1], atol=0.02)
    # and they are the truth's, against whichever class became class 1
    x = covariates.values
    eta = alpha_true + x @ gamma_true
    shares = np.exp(eta - logsumexp(eta, axis=1, keepdims=True)).mean(axis=0)
    first, second = np.argsort(-shares)
    np.testing.assert_allclose(
        chain_means[0], gamma_true[:, second] - gamma_true[:, first], atol=0.02
    )
    pi = tree["posterior"]["pi"].mean((CHAIN, DRAW)).to_numpy()
    np.testing.assert_allclose(pi, np.sort(shares)[::-1], atol=0.01)


def test_membership_curve_and_effects_read_the_contrasts():
    frame, _ = simulate_with_covariates(30, seed=2)
    model = BayesianLatentClass(
        2, collapse="none", items=ITEMS, covariates=["workers", "firm_age"]
    )
    raw, _, _ = _swapped_raw_tree()
    covariates = encode_covariates(frame, ["workers", "firm_age"])
    model.idata_ = model._relabelled_tree(raw, model.encode(frame), "draw", 0, covariates)
    posterior = model.idata_["posterior"]
    alpha = posterior["alpha"].to_numpy()[..., 0].ravel()
    gamma = posterior["gamma"].sel({COVARIATE: "workers"}).to_numpy()[..., 0].ravel()
    mean, sd = covariates.means[0], covariates.scales[0]
    curve = model.membership_curve("workers", grid=[mean, mean + sd])
    second = curve[curve[LATENT_CLASS] == 2]["mean"].to_numpy()
    expected = [
        np.mean(1 / (1 + np.exp(-alpha))),
        np.mean(1 / (1 + np.exp(-(alpha + gamma)))),
    ]
    np.testing.assert_allclose(second, expected, rtol=1e-12)
    np.testing.assert_allclose(curve.groupby("value")["mean"].sum(), 1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # constant draws: R-hat of noise
        effects = model.membership_effects()
    assert list(effects["covariate"]) == ["workers", "firm_age"]
    assert list(effects[LATENT_CLASS]) == [2, 2]
    np.testing.assert_allclose(effects["log_odds"].iloc[0], gamma.mean(), rtol=1e-12)
    np.testing.assert_allclose(effects["p_positive"].iloc[0], (gamma > 0).mean())
    with pytest.raises(ValueError) as info:
        model.membership_curve("size")
    assert str(info.value) == (
        "'size' is not a covariate of this fit; its covariates: workers, firm_age"
    )


# ------------------------------------------------------------------ EM against a direct fit


def _direct_fit(items, covariates, n_starts=8, seed=0):
    """Maximise the marginal log-likelihood over all parameters at once (BFGS)."""
    y = items.to_numpy() - 1  # yes/no items: 0/1
    design = np.column_stack([np.ones(len(y)), covariates.to_numpy()])

    def negative_log_likelihood(parameters):
        beta = np.column_stack([np.zeros(3), parameters[:3]])  # (term, class), class 1 = 0
        logit = parameters[3:].reshape(2, y.shape[1])
        per_class = y @ -np.logaddexp(0, -logit).T + (1 - y) @ -np.logaddexp(0, logit).T
        eta = design @ beta
        log_weights = eta - logsumexp(eta, axis=1, keepdims=True)
        return -logsumexp(per_class + log_weights, axis=1).sum()

    rng = np.random.default_rng(seed)
    best = None
    for _ in range(n_starts):
        result = minimize(
            negative_log_likelihood, rng.normal(size=15), method="BFGS", options={"gtol": 1e-8}
        )
        if best is None or result.fun < best.fun:
            best = result
    return best, negative_log_likelihood


def _hessian(function, point, step=1e-4):
    """Central second differences of a function's values (not of a gradient)."""
    n = point.size
    hessian = np.empty((n, n))
    for a in range(n):
        for b in range(n):
            values = []
            for da, db in ((1, 1), (1, -1), (-1, 1), (-1, -1)):
                shifted = point.copy()
                shifted[a] += da * step
                shifted[b] += db * step
                values.append(function(shifted))
            hessian[a, b] = (values[0] - values[1] - values[2] + values[3]) / (4 * step**2)
    return hessian


def test_em_with_covariates_matches_a_direct_maximisation():
    frame, _ = simulate_with_covariates(300, seed=3)
    covariates = frame[["workers", "firm_age"]]
    em = LatentClassEM(2, n_starts=10, random_state=1).fit(frame[ITEMS], covariates)
    best, negative_log_likelihood = _direct_fit(frame[ITEMS], covariates)
    np.testing.assert_allclose(em.log_likelihood_, -best.fun, rtol=0, atol=1e-6)
    # the direct fit's class 1 may be the EM's class 2: put both against the larger class
    coefficients = best.x[:3]
    design = np.column_stack([np.ones(300), covariates.to_numpy()])
    share_2 = np.mean(1 / (1 + np.exp(-design @ coefficients)))
    sign = 1.0 if share_2 < 0.5 else -1.0
    table = em.membership_coefficients_
    np.testing.assert_allclose(table["log_odds"], sign * coefficients, atol=2e-4)
    covariance = np.linalg.inv(_hessian(negative_log_likelihood, best.x))
    np.testing.assert_allclose(table["se"], np.sqrt(np.diag(covariance))[:3], rtol=2e-3)
    effects = em.membership_effects(level=0.9)
    assert list(effects["covariate"]) == ["workers", "firm_age"]
    np.testing.assert_allclose(
        effects["ci_upper"] - effects["log_odds"], 1.6448536269514722 * effects["se"]
    )
    assert em.n_parameters_ == 2 * 6 + 1 * 3
    np.testing.assert_allclose(em.posterior_.sum(axis=1), 1.0)
    assert np.isnan(em.g2_)  # pattern statistics need each firm's covariates: not given


def test_em_membership_effects_need_covariates():
    frame, _ = simulate_with_covariates(40, seed=3)
    em = LatentClassEM(2, n_starts=3, random_state=1).fit(frame[ITEMS])
    with pytest.raises(ValueError) as info:
        em.membership_effects()
    assert str(info.value) == "this fit has no covariates: call fit(items, covariates=...)"


# ------------------------------------------------------------------ recovery (slow)

TRUE_SLOPES = np.array([1.2, -0.8])  # per SD of x, class 2 against class 1


@pytest.fixture(scope="module")
def recovery_fits():
    fits = []
    for seed in (11, 12, 13):
        frame, _ = simulate_with_covariates(400, seed=seed)
        model = BayesianLatentClass(
            2, collapse="none", items=ITEMS, covariates=["workers", "firm_age"]
        )
        # 4 chains: with 2 (x 500 draws) the largest R-hat passed 1.01 by chance for 3 of
        # seeds 11-18, with 4 for none (2026-12-01); sampling is under a second a fit
        model.fit(frame, draws=500, tune=500, chains=4, random_seed=seed)
        fits.append((frame, model))
    return fits


@pytest.mark.slow
def test_covariate_effects_are_recovered(recovery_fits):
    covered = 0
    for frame, model in recovery_fits:
        assert model.diagnostics_.passed, model.diagnostics_
        effects = model.membership_effects()
        # the simulation's class 2 is the smaller class (intercept -0.4): the model's class 2
        truth = TRUE_SLOPES * np.std(
            frame[["workers", "firm_age"]].to_numpy() / [4, 7], axis=0, ddof=1
        )
        inside = (effects["hdi_lower"] <= truth) & (truth <= effects["hdi_upper"])
        covered += int(inside.sum())
        assert (np.sign(effects["log_odds"]) == np.sign(truth)).all()
    assert covered >= 5  # of 6 intervals (94% each)


@pytest.mark.slow
def test_covariate_fit_summary_save_and_load(recovery_fits, tmp_path):
    frame, model = recovery_fits[0]
    table = model.summary()
    assert list(table.columns) == list(SUMMARY_COLUMNS)
    assert {"alpha[2]", "gamma[workers, 2]", "gamma[firm_age, 2]"} <= set(table.index)
    path = model.save(tmp_path / "fit.nc")
    loaded = BayesianLatentClass.load(path)
    pd.testing.assert_frame_equal(loaded.membership_effects(), model.membership_effects())
    probabilities = model.predict(frame.iloc[:5])
    np.testing.assert_allclose(
        probabilities[["class 1", "class 2"]].to_numpy(),
        model.class_probabilities()[["class 1", "class 2"]].to_numpy()[:5],
        rtol=1e-10,
    )
    replicated = model.sample_posterior_predictive(random_seed=1, n_draws=20)
    assert replicated["posterior_predictive"]["responses"].shape == (
        4,
        20,
        400,
        6,
    )  # chains, draws kept


# ------------------------------------------------------------------ the spec and the run

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data" / "tumang_synthetic.csv"
LATENT = f"""
[data]
path = "{DATA.as_posix()}"
codebook = "tumang"

[latent_class]
item_prefix = "mk_"
"""


def test_bundled_covariates_spec_loads_and_is_feasible():
    from bayes_cluster.run.feasibility import check_feasibility
    from bayes_cluster.surveys.survey import load_survey, tumang_data_path

    spec = load_spec(ROOT / "models" / "tumang_covariates.toml")
    assert spec.latent_class.covariates == ("workers", "firm_age")
    assert check_feasibility(spec, load_survey(tumang_data_path())) == []
    # the bundled study has them too (tests/test_run.py reads its covariates table and figure)
    assert load_spec(ROOT / "models" / "tumang.toml").latent_class.covariates == (
        "workers",
        "firm_age",
    )


@pytest.mark.parametrize(
    ("lines", "problem"),
    [
        (
            'covariates = ["size"]',
            "[latent_class].covariates: column 'size' is not in the data's codebook",
        ),
        (
            'covariates = ["product_line"]',
            "[latent_class].covariates: column 'product_line' is of kind 'category'; "
            "expected count or number or binary or likert",
        ),
        (
            'covariates = ["mk_cooperation"]',
            "[latent_class].covariates: 'mk_cooperation' is an item of the classes; a "
            "covariate cannot also be an item",
        ),
        (
            "covariates = []",
            "[latent_class].covariates: is empty: name numeric columns or leave the key out",
        ),
        (
            'covariates = ["workers"]\nbayesian = false',
            "[latent_class].covariates: covariates are fitted for the number of classes the "
            "Bayesian model chooses: set bayesian = true (or leave it out)",
        ),
        (
            'covariates = ["workers"]\nn_classes = 1',
            "[latent_class].covariates: covariates of class membership need at least 2 "
            "classes (n_classes)",
        ),
    ],
)
def test_bad_covariates_key_names_file_key_and_value(tmp_path, lines, problem):
    path = tmp_path / "spec.toml"
    path.write_text(textwrap.dedent(LATENT) + lines + "\n", encoding="utf-8")
    with pytest.raises(SpecError) as caught:
        load_spec(path)
    assert len(caught.value.problems) == 1
    assert caught.value.problems[0].startswith(problem)


def test_membership_figure_and_sentences():
    import matplotlib

    matplotlib.use("Agg")
    from bayes_cluster.plots.membership import plot_membership_curves
    from bayes_cluster.run.sections.latent_class import (
        membership_effects_table,
        membership_sentences,
    )

    frame, _ = simulate_with_covariates(30, seed=2)
    model = BayesianLatentClass(
        2, collapse="none", items=ITEMS, covariates=["workers", "firm_age"]
    )
    raw, _, _ = _swapped_raw_tree()
    covariates = encode_covariates(frame, ["workers", "firm_age"])
    model.idata_ = model._relabelled_tree(raw, model.encode(frame), "draw", 0, covariates)
    figure = plot_membership_curves(model, class_names={1: "class 1 (Marshallian)"})
    axes = figure.get_axes()
    assert [axis.get_xlabel() for axis in axes] == ["workers", "firm_age"]
    assert len(axes[0].get_lines()) == 3  # two classes and the firms' ticks
    effects = pd.DataFrame(
        {
            "covariate": ["workers", "firm_age"],
            "latent_class": [2, 2],
            "reference_class": [1, 1],
            "log_odds": [0.8, -0.1],
            "hdi_lower": [0.1, -0.9],
            "hdi_upper": [1.5, 0.7],
            "p_positive": [0.98, 0.4],
            "r_hat": [1.0, 1.0],
            "ess_bulk": [500.0, 480.0],
        }
    )
    assert membership_sentences(effects, {1: "Marshallian", 2: "Hub-and-Spoke"}, 0.94) == [
        "P(class 2 (Hub-and-Spoke) rather than class 1 (Marshallian)) rises with workers: "
        "+0.80 log-odds per SD (94% HDI 0.10 to 1.50; P(> 0) = 0.98).",
        "P(class 2 (Hub-and-Spoke) rather than class 1 (Marshallian)) has no clear relation "
        "to firm_age: -0.10 log-odds per SD (94% HDI -0.90 to 0.70; P(> 0) = 0.40).",
    ]
    em = pd.DataFrame(
        {
            "covariate": ["firm_age", "workers"],  # another order: merged by name
            "latent_class": [2, 2],
            "log_odds": [0.0, 0.7],
            "se": [0.3, 0.2],
            "ci_lower": [-0.6, 0.3],
            "ci_upper": [0.6, 1.1],
            "p_value": [1.0, 0.0005],
        }
    )
    table = membership_effects_table(effects, em)
    assert list(table["em_log_odds"]) == [0.7, 0.0]
    assert list(table.columns[:4]) == ["covariate", "latent_class", "reference_class",
                                       "bayes_log_odds"]  # fmt: skip


def test_prior_predictive_draws_each_firm_from_its_own_class_weights():
    frame, _ = simulate_with_covariates(40, seed=6)
    model = BayesianLatentClass(
        2,
        collapse="none",
        items=ITEMS,
        covariates=["workers"],
        priors={"membership_slope_sd": 50.0, "item_concentration": 0.01},
    )
    tree = model.sample_prior_predictive(frame, draws=200, random_seed=3)
    responses = tree["prior_predictive"]["responses"].to_numpy()[0]  # (draw, firm, item)
    assert responses.shape == (200, 40, 6)
    # near-deterministic items and a steep slope: the firms with the fewest and the most
    # workers sit in opposite classes in almost every draw, whose answers (theta drawn per
    # class) then differ on half the items; the two firms closest in workers share a
    # class and answer alike (were the classes drawn from one set of shares, both pairs
    # would differ equally often)
    workers = frame["workers"].to_numpy()
    order = np.argsort(workers)
    closest = int(np.argmin(np.diff(workers[order])))
    far = (responses[:, order[0]] != responses[:, order[-1]]).mean()
    near = (responses[:, order[closest]] != responses[:, order[closest + 1]]).mean()
    assert far > 0.4 and near < 0.1, (far, near)
    with pytest.raises(ValueError) as info:
        model.sample_prior_predictive(model.encode(frame), draws=5)
    assert str(info.value).startswith("a model with covariates draws its prior predictive")

"""Covariates of class membership in the joint latent class + logit model (issue 16, item 2).

The joint log-likelihood with covariates is checked at a random point against a numpy/scipy
computation written here from the model's formula (standardisation with the sample SD,
softmax membership, item product, Bernoulli logit); the relabelling against a hand-made
trace whose second chain calls the classes the other way round; the ``[joint] covariates``
key against its exact messages; recovery of a covariate effect from a known truth is a
slow test.
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from scipy import stats
from scipy.special import expit, log_softmax, logsumexp

from bayes_cluster.common.dims import (
    CATEGORY,
    CHAIN,
    CLASS_CONTRAST,
    COVARIATE,
    DRAW,
    FIRM,
    ITEM,
    LATENT_CLASS,
    PREDICTOR,
)
from bayes_cluster.estimators.joint import DEFAULT_PRIORS, JointLatentClassLogit, joint_priors
from bayes_cluster.estimators.latent_class import MEMBERSHIP_PRIORS
from bayes_cluster.inference.summaries import SUMMARY_COLUMNS
from bayes_cluster.run.joint_section import validate_joint_section
from bayes_cluster.run.spec import SpecError, load_spec

ITEMS = [f"q{j + 1}" for j in range(6)]
#: P(answer 2 | class) per item, two well separated classes
TRUE_THETA = np.array([[0.85, 0.8, 0.75, 0.8, 0.2, 0.7], [0.2, 0.25, 0.3, 0.15, 0.75, 0.3]])
#: the simulation's truth: log-odds of class 2 against class 1 per unit of x (SD 1)
TRUE_MEMBERSHIP = {"intercept": -0.3, "workers": 1.2}
#: export log-odds: class intercepts and the slope of the standard-normal predictor
TRUE_EXPORT = {"alpha": (-0.5, 1.0), "promotion": 0.8}


def simulate_joint(n: int, seed: int) -> pd.DataFrame:
    """Two classes measured by six yes/no items; class membership rises with ``workers``.

    ``workers`` = 10 + 4 x (x standard normal) shifts P(class 2) by ``TRUE_MEMBERSHIP``
    per unit of x; ``export`` depends on the class and on ``promotion`` (standard normal).
    """
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    z = rng.random(n) < expit(TRUE_MEMBERSHIP["intercept"] + TRUE_MEMBERSHIP["workers"] * x)
    z = z.astype(int)
    answers = (rng.random((n, 6)) < TRUE_THETA[z]).astype(int) + 1
    promotion = rng.normal(size=n)
    eta = np.asarray(TRUE_EXPORT["alpha"])[z] + TRUE_EXPORT["promotion"] * promotion
    frame = pd.DataFrame(answers, columns=ITEMS)
    frame.insert(0, "firm_id", [f"f{i}" for i in range(n)])
    frame["workers"] = 10 + 4 * x
    frame["firm_age"] = rng.uniform(1, 40, size=n)
    frame["promotion"] = promotion
    frame["export"] = (rng.random(n) < expit(eta)).astype(int)
    return frame


def joint_model(**kwargs) -> JointLatentClassLogit:
    settings = {
        "items": ITEMS,
        "predictors": ["promotion"],
        "outcome": "export",
        "collapse": "none",
        "covariates": ["workers", "firm_age"],
    }
    return JointLatentClassLogit(2, **{**settings, **kwargs})


def independent_log_likelihood(frame, delta, gamma, theta, alpha, beta):
    """log p(items, export | covariates, predictor) summed over firms, written out here.

    ``gamma`` is (covariate, class); ``theta`` (class, item, category) over codes 1..2.
    """
    w = frame[["workers", "firm_age"]].to_numpy()
    w = (w - w.mean(axis=0)) / w.std(axis=0, ddof=1)
    promotion = frame["promotion"].to_numpy()
    x = (promotion - promotion.mean()) / promotion.std(ddof=1)
    log_membership = log_softmax(delta[None, :] + w @ gamma, axis=1)  # (firm, class)
    codes = frame[ITEMS].to_numpy() - 1
    total = 0.0
    for i in range(len(frame)):
        terms = []
        for k in range(2):
            items = sum(np.log(theta[k, j, codes[i, j]]) for j in range(len(ITEMS)))
            export = stats.bernoulli.logpmf(frame["export"].iloc[i], expit(alpha[k] + x[i] * beta))
            terms.append(log_membership[i, k] + items + export)
        total += logsumexp(terms)
    return total


def test_joint_log_likelihood_with_covariates_matches_numpy(python_graphs):
    import pytensor
    from pytensor.compile.mode import Mode

    frame = simulate_joint(40, seed=1)
    spec = joint_model()
    model = spec.build_model(frame)
    assert model.named_vars_to_dims["gamma"] == (COVARIATE, LATENT_CLASS)
    assert model.named_vars_to_dims["delta"] == (LATENT_CLASS,)
    assert model.named_vars_to_dims["covariates"] == (FIRM, COVARIATE)
    assert "pi" not in model.named_vars  # the shares are the membership logit's
    rng = np.random.default_rng(0)
    delta = rng.normal(size=2)
    delta -= delta.mean()
    gamma = rng.normal(size=(2, 2))
    gamma -= gamma.mean(axis=1, keepdims=True)
    theta = rng.dirichlet([1, 1], size=(2, 6))
    alpha = rng.normal(size=2)
    beta = rng.normal(scale=0.5, size=1)
    rvs = [model[name] for name in ("delta", "gamma", "theta", "alpha", "beta")]
    likelihood = pytensor.function(
        rvs, model["likelihood"], on_unused_input="ignore", mode=Mode("py", "fast_compile")
    )
    value = likelihood(delta, gamma, theta, alpha, beta)
    expected = independent_log_likelihood(frame, delta, gamma, theta, alpha, beta[0])
    assert value == pytest.approx(expected, rel=1e-10)
    # relabelling the classes (membership logit, profiles and export intercepts together)
    # leaves the likelihood unchanged: the label switching the post-hoc relabelling undoes
    swapped = likelihood(delta[::-1], gamma[:, ::-1], theta[::-1], alpha[::-1], beta)
    assert swapped == pytest.approx(value, rel=1e-10)


def test_a_covariate_cannot_be_an_item_or_the_outcome_and_may_be_a_predictor():
    with pytest.raises(ValueError, match=r"^covariate 'q1' is an item of the classes; a "):
        joint_model(covariates=["q1"])
    with pytest.raises(ValueError) as caught:
        joint_model(covariates=["export"])
    assert str(caught.value) == (
        "covariate 'export' is the outcome; the outcome cannot also shift class membership "
        "(it is explained by the class, not a cause of it)"
    )
    with pytest.raises(ValueError, match=r"^covariates name a column twice: \['workers'\]$"):
        joint_model(covariates=["workers", "workers"])
    with pytest.raises(ValueError, match="^covariates must be a list of column names, got "):
        joint_model(covariates="workers")
    # a covariate of membership that is also a predictor of the outcome: allowed (its
    # export slope is then its direct effect within a class)
    assert joint_model(predictors=["promotion", "workers"]).covariates == ("workers", "firm_age")


def test_membership_priors_replace_the_class_share_prior():
    model = joint_model(priors={"membership_slope_sd": 0.5})
    assert set(model.priors) == set(joint_priors(True))
    assert "class_concentration" not in model.priors
    assert model.priors["membership_slope_sd"] == 0.5
    assert model.priors["membership_intercept_sd"] == MEMBERSHIP_PRIORS["membership_intercept_sd"]
    table = model.prior_summary()
    assert table.loc["membership_slope_sd", "prior"] == "ZeroSumNormal(sigma=0.5)"
    assert model.config()["covariates"] == ["workers", "firm_age"]
    # without covariates nothing changes (config and priors as before)
    plain = joint_model(covariates=None)
    assert "covariates" not in plain.config()
    assert set(plain.priors) == set(DEFAULT_PRIORS)
    with pytest.raises(ValueError, match=r"^unknown priors \['class_concentration'\]"):
        joint_model(priors={"class_concentration": 2.0})
    with pytest.raises(ValueError, match="^prior membership_slope_sd must be a positive number"):
        joint_model(priors={"membership_slope_sd": -1})


def test_prior_predictive_draws_each_firm_from_its_own_class_weights():
    frame = simulate_joint(30, seed=2)
    tree = joint_model().sample_prior_predictive(frame, draws=400, random_seed=3)
    items = tree["prior_predictive"]["items"]
    assert items.dims == (CHAIN, DRAW, FIRM, ITEM)
    assert set(np.unique(items.values)) == {1, 2}
    assert tree["prior"]["pi"].shape == (1, 400, 2)
    np.testing.assert_allclose(tree["prior"]["pi"].values.sum(-1), 1.0)


# ------------------------------------------------------------------ relabelling


def test_relabelling_permutes_the_membership_logit_with_the_classes():
    """A hand-made trace: chain 2 calls the classes the other way round."""
    frame = simulate_joint(30, seed=4)
    model = joint_model()
    prepared = model._prepare_fit(frame, reference=(np.array([0.6, 0.4]), _theta_codes()))
    n_draws = 10
    theta = np.broadcast_to(_theta_codes(), (2, n_draws, 2, 6, 2)).copy()
    delta = np.tile([0.4, -0.4], (2, n_draws, 1))
    gamma = np.tile([[-0.6, 0.6], [0.2, -0.2]], (2, n_draws, 1, 1))  # (covariate, class)
    alpha = np.tile([-1.0, 1.0], (2, n_draws, 1))
    beta = np.full((2, n_draws, 1), 0.5)
    for values, axis in ((theta, 1), (delta, 1), (alpha, 1), (gamma, 2)):
        values[1] = np.flip(values[1], axis=axis).copy()
    raw = xr.DataTree.from_dict(
        {
            "posterior": xr.Dataset(
                {
                    "delta": ((CHAIN, DRAW, LATENT_CLASS), delta),
                    "gamma": ((CHAIN, DRAW, COVARIATE, LATENT_CLASS), gamma),
                    "theta": ((CHAIN, DRAW, LATENT_CLASS, ITEM, CATEGORY), theta),
                    "alpha": ((CHAIN, DRAW, LATENT_CLASS), alpha),
                    "beta": ((CHAIN, DRAW, PREDICTOR), beta),
                }
            ),
            "sample_stats": xr.Dataset(
                {"diverging": ((CHAIN, DRAW), np.zeros((2, n_draws), bool))}
            ),
        }
    )
    model.class_names_ = ["1", "2"]
    tree = model._assemble(raw, prepared.data, prepared.reference, 0, prepared.covariates)
    posterior = tree["posterior"]
    # both chains in one labelling: class 1 has alpha -1, and the contrasts against it
    np.testing.assert_allclose(posterior["alpha"].values[..., 0], -1.0)
    np.testing.assert_allclose(posterior["delta"].values[..., 0], -0.8)
    assert posterior["gamma"].dims == (CHAIN, DRAW, COVARIATE, CLASS_CONTRAST)
    np.testing.assert_allclose(posterior["gamma"].sel(covariate="workers").values[..., 0], 1.2)
    np.testing.assert_allclose(posterior["gamma"].sel(covariate="firm_age").values[..., 0], -0.4)
    # every firm's membership probabilities follow its own covariates, after relabelling
    w = frame[["workers", "firm_age"]].to_numpy()
    w = (w - w.mean(axis=0)) / w.std(axis=0, ddof=1)
    membership = expit(-0.8 + w @ np.array([1.2, -0.4]))  # P(class 2 | w)
    probability = tree["class_membership"]["membership_probability"].values
    np.testing.assert_allclose(probability[..., 1], np.broadcast_to(membership, (2, n_draws, 30)))
    np.testing.assert_allclose(posterior["pi"].values[..., 1], membership.mean())
    # the stored joint log-likelihood is the formula's at the relabelled draw
    delta0, gamma0 = np.array([0.4, -0.4]), np.array([[-0.6, 0.6], [0.2, -0.2]])
    expected = independent_log_likelihood(
        frame, delta0, gamma0, _theta_codes(), np.array([-1.0, 1.0]), 0.5
    )
    assert tree["log_likelihood"]["joint"].values[1, 3].sum() == pytest.approx(expected)
    assert tree.attrs["covariates"] == "workers,firm_age"


def _theta_codes() -> np.ndarray:
    """TRUE_THETA as (class, item, category) over codes 1 and 2."""
    return np.stack([1 - TRUE_THETA, TRUE_THETA], axis=-1)


# ------------------------------------------------------------------ the [joint] key


class Problems:
    """Collects spec problems as bayes_cluster.run.spec does."""

    def __init__(self) -> None:
        self.messages: dict[str, str] = {}

    def add(self, key: str, message: str) -> None:
        self.messages[key] = message


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("workers", "must be a list of column names, got 'workers'"),
        ([], "is empty: name numeric columns or leave the key out"),
        (["workers", 3], "must be a list of column names, got ['workers', 3]"),
        (["workers", "workers"], "names a column twice: ['workers']"),
        (
            ["mk_cooperation"],
            "'mk_cooperation' is an item of the classes; a covariate cannot also be an item",
        ),
        (
            ["export"],
            "'export' is the outcome; the outcome cannot also shift class membership",
        ),
    ],
)
def test_joint_covariates_key_names_the_bad_value(value, message):
    problems = Problems()
    assert validate_joint_section({"covariates": value}, problems, {}) is None
    assert problems.messages == {"[joint].covariates": message}


def test_joint_covariates_key_accepts_columns_and_membership_priors():
    problems = Problems()
    spec = validate_joint_section(
        {"covariates": ["workers", "firm_age"], "priors": {"membership_slope_sd": 0.7}},
        problems,
        {},
    )
    assert problems.messages == {}
    assert spec.covariates == ("workers", "firm_age")
    assert spec.priors == {"membership_slope_sd": 0.7}
    problems = Problems()
    validate_joint_section({"priors": {"membership_slope_sd": 0.7}}, problems, {})
    assert problems.messages["[joint].priors.membership_slope_sd"].startswith(
        "unknown prior (membership priors need [joint].covariates); known: "
    )


def test_run_joint_section_names_a_blank_covariate_before_fitting(tmp_path):
    from bayes_cluster.run.joint_section import run_joint_section

    frame = simulate_joint(30, seed=5)
    frame.loc[2, "firm_age"] = np.nan
    config = {
        "items": ITEMS,
        "predictors": ["promotion"],
        "collapse": "none",
        "covariates": ["workers", "firm_age"],
    }
    with pytest.raises(ValueError) as caught:
        run_joint_section(frame, config, {"draws": 10, "tune": 10}, tmp_path)
    assert str(caught.value) == (
        "[joint].covariates: covariate 'firm_age', firm 'f2' (row 3): value is missing; a "
        "covariate of class membership needs a number for every firm"
    )
    assert list(tmp_path.iterdir()) == []  # nothing written


ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data" / "tumang_synthetic.csv"
JOINT = f"""
[data]
path = "{DATA.as_posix()}"
codebook = "tumang"

[joint]
"""


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        (
            'covariates = ["size"]',
            "[joint].covariates: column 'size' is not in the data's codebook",
        ),
        (
            'covariates = ["product_line"]',
            "[joint].covariates: column 'product_line' is of kind 'category'; "
            "expected count or number or binary or likert",
        ),
        (
            'covariates = ["workers", "mk_hub_dependence"]',
            "[joint].covariates: 'mk_hub_dependence' is an item of the classes; a covariate "
            "cannot also be an item",
        ),
    ],
)
def test_bad_joint_covariates_in_a_spec_file(tmp_path, line, problem):
    path = tmp_path / "spec.toml"
    path.write_text(textwrap.dedent(JOINT) + line + "\n", encoding="utf-8")
    with pytest.raises(SpecError) as caught:
        load_spec(path)
    assert len(caught.value.problems) == 1
    assert caught.value.problems[0].startswith(problem)


def test_a_spec_with_joint_covariates_loads():
    path_text = textwrap.dedent(JOINT) + 'covariates = ["workers", "firm_age"]\n'
    spec = _load_text(path_text)
    assert spec.extra["joint"].covariates == ("workers", "firm_age")


def _load_text(text: str):
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "spec.toml"
        path.write_text(text, encoding="utf-8")
        return load_spec(path)


# ------------------------------------------------------------------ recovery (slow)


@pytest.mark.slow
def test_joint_model_recovers_a_covariate_effect_on_membership(tmp_path):
    """n = 300, six items, 4 x 400 draws: the workers effect inside its 94% HDI.

    Tolerance: the truth must lie inside the 94% HDI (a 6% miss rate at one seed) and the
    posterior mean within 0.45 of it (about two posterior SDs at n = 300, where the SD is
    about 0.2); firm_age has no effect and its interval must cover 0.  Four chains, not
    two: with two chains of 800 draws R-hat of one slope was 1.016 against the strict 1.01
    (noise of a two-chain R-hat; all four chains here agree to 0.02).  About 75 s cold on
    2 cores, 60 s of it the joint graph's compile.
    """
    frame = simulate_joint(300, seed=21)
    model = joint_model()
    model.fit(frame, draws=400, tune=500, chains=4, random_seed=21, em_starts=5)
    assert model.diagnostics_.passed, model.diagnostics_
    effects = model.membership_effects().set_index("covariate")
    # the truth per SD of workers (the model standardises with the sample SD)
    truth = TRUE_MEMBERSHIP["workers"] * frame["workers"].std() / 4
    row = effects.loc["workers"]
    # class 1 is the larger class: the simulation's class 1 (intercept -0.3 < 0)
    assert row["hdi_lower"] <= truth <= row["hdi_upper"], row
    assert abs(row["log_odds"] - truth) < 0.45
    assert effects.loc["firm_age", "hdi_lower"] < 0 < effects.loc["firm_age", "hdi_upper"]
    # the export model is still the one simulated
    coefficients = model.summary()
    assert [c for c in coefficients.columns if c in SUMMARY_COLUMNS] == list(SUMMARY_COLUMNS)
    assert {"delta[2]", "gamma[workers, 2]", "gamma[firm_age, 2]"} <= set(coefficients.index)
    contrast = coefficients.loc["class effect: 2 - 1"]
    assert contrast["hdi_lower"] <= 1.5 <= contrast["hdi_upper"]
    curve = model.membership_curve("workers")
    class_2 = curve[curve[LATENT_CLASS] == 2]
    assert class_2["mean"].iloc[-1] > class_2["mean"].iloc[0] + 0.5  # rises with workers
    # the fit saves and loads back with its covariates (config, scaling and raw values)
    loaded = JointLatentClassLogit.load(model.save(tmp_path / "joint.nc"))
    assert loaded.covariates == ("workers", "firm_age")
    pd.testing.assert_frame_equal(loaded.membership_effects(), model.membership_effects())
    pd.testing.assert_frame_equal(loaded.membership_curve("workers"), curve)


# ------------------------------------------------------------------ the run (slow)

COVARIATES_RUN = f"""
[data]
path = "{DATA.as_posix()}"
[logistic]
outcome = "export"
predictors = ["workers", "buyer_network"]
bayesian = false
[joint]
n_classes = 2
items = ["mk_small_local_firms", "mk_hub_dependence", "mk_cooperation", "mk_local_finance"]
approaches = ["joint"]
em_starts = 5
covariates = ["workers", "firm_age"]
[sampler.quick]
draws = 100
tune = 100
backend = "nutpie_c"
"""


@pytest.mark.slow  # one joint fit (its own graph: about a minute on 2 cores, cold)
def test_joint_covariates_run_writes_table_sentences_and_figure(tmp_path):
    """The [joint] section alone through the CLI, with covariates of class membership."""
    from run_outputs import (
        JOINT_COVARIATES_FIGURES,
        JOINT_COVARIATES_TABLES,
        files_under,
        run_cli,
        vector_versions,
        write_spec,
    )

    spec = write_spec(tmp_path, COVARIATES_RUN)
    out = tmp_path / "out"
    code, printed = run_cli(str(spec), "--out", str(out), "--quick")
    assert code == 0, printed
    written = files_under(out)
    report = (out / "report.md").read_text(encoding="utf-8")
    expected = JOINT_COVARIATES_TABLES | JOINT_COVARIATES_FIGURES
    assert expected | vector_versions(JOINT_COVARIATES_FIGURES) <= written
    linked = re.findall(r"^!\[([^\]]*)\]\(([^)]+)\)$", report, flags=re.MULTILINE)
    captions = [caption for caption, path in linked if path in JOINT_COVARIATES_FIGURES]
    assert len(captions) == 1 and captions[0].startswith("Joint model: probability of each")
    table = pd.read_csv(out / "joint" / "joint_membership_effects.csv")
    assert list(table["covariate"]) == ["workers", "firm_age"]
    assert (table["hdi_lower"] <= table["log_odds"]).all()
    assert (table["log_odds"] <= table["hdi_upper"]).all()
    assert "**Who belongs to which class, in the joint model**" in report
    for covariate in ("workers", "firm_age"):  # one sentence per effect
        pattern = (
            r"P\(class 2 \([^)]*\) rather than class 1 \([^)]*\)\) (rises with|falls with|"
            rf"has no clear relation to) {covariate}: [+-]\d\.\d\d log-odds per SD"
        )
        assert len(re.findall(pattern, report)) == 1, covariate
    # workers is also a predictor of export: the report says what its two effects mean
    assert "Note: `workers` is both a covariate of class membership and a predictor" in report
    assert "`firm_age` is both" not in report
    # the section itself, run on its own through the CLI (approaches = ["joint"])
    effect = pd.read_csv(out / "joint" / "joint_class_effect.csv")
    assert effect["approach"].tolist() == ["joint"]
    assert effect["run"].tolist() == ["quick preview"]
    assert (out / "figures" / "joint_comparison.png").is_file()
    assert (out / "diagnostics" / "joint_joint.csv").is_file()
    assert "## Does the cluster pattern matter? Joint latent class + logit" in report
    assert "![Class effect on exporting, by approach: where the joint model's interval" in report
    assert "the uncertainty of the class assignment (quick preview)]" in report
    assert "  Joint model, does the cluster pattern matter? class effect: 2" in printed

"""Sample-size planning (``bayes-cluster plan``): a study whose truth is drawn per replicate."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest

from bayes_cluster.cli import main
from bayes_cluster.inference.diagnostics import ConvergenceWarning
from bayes_cluster.run.spec import SpecError
from bayes_cluster.studies.plan import (
    EffectPrior,
    load_plan_spec,
    parse_plan_spec,
    plan_table,
    plan_truths,
    run_plan,
)
from bayes_cluster.studies.study import (
    ReplicateTask,
    parse_study_spec,
    replicate_seeds,
    run_study,
    simulate_replicate,
)
from bayes_cluster.surveys.codebook import PRODUCT_LINES, TUMANG_PREDICTORS
from bayes_cluster.surveys.simulate import TUMANG_COEFFICIENTS, TUMANG_INTERCEPT, simulate_tumang

FREQUENTIST = ["mle", "firth"]


def plan_raw(plan: dict | None = None, **study) -> dict:
    """A small plan spec: MLE and Firth, two sizes, eight replicates."""
    return {
        "study": {"sizes": [40, 60], "replicates": 8, "methods": FREQUENTIST, "seed": 5, **study},
        "plan": {"promotion": {"dist": "Normal", "mu": 0.7, "sigma": 0.2}}
        if plan is None
        else plan,
    }


# --------------------------------------------------------------------------- the spec


def test_spec_reads_priors_numbers_and_the_study_keys():
    spec = parse_plan_spec(
        plan_raw(
            {
                "intercept": -6.5,
                "workers": {"dist": "StudentT", "nu": 5, "mu": 0.15, "sigma": 0.05},
                "training": {"dist": "Uniform", "lower": -0.2, "upper": 0.2},
            }
        )
    )
    assert spec.sizes == (40, 60) and spec.replicates == 8 and spec.methods == ("mle", "firth")
    assert spec.name == "sample-size plan"
    assert spec.effect_priors == {
        "Intercept": EffectPrior("Point", {"value": -6.5}),
        "workers": EffectPrior("StudentT", {"nu": 5.0, "mu": 0.15, "sigma": 0.05}),
        "training": EffectPrior("Uniform", {"lower": -0.2, "upper": 0.2}),
    }
    # the single effect set holds the assumed means (seeds as a study's "truth" set)
    (base,) = spec.effect_sets
    assert base.name == "truth" and base.intercept == -6.5
    assert base.coefficients == {**TUMANG_COEFFICIENTS, "workers": 0.15, "training": 0.0}
    assert "plan" in spec.fingerprint()


def test_every_problem_is_named_with_its_key(tmp_path):
    raw = {
        "study": {"sizes": [5], "methods": ["mle", "ols"], "truth": "tumang"},
        "effects": {"weak": {"scale": 0.5}},
        "plan": {
            "workers": {"dist": "Gamma", "mu": 1},
            "promotion": {"dist": "Normal", "mu": 0.7},
            "firm_age": {"dist": "Normal", "mu": 0.1, "sigma": -1, "tau": 2},
            "training": {"dist": "Uniform", "lower": 1, "upper": 0},
            "buyer_network": "big",
            "size": 3,
            "pilot": str(tmp_path / "missing.nc"),
        },
    }
    with pytest.raises(SpecError) as caught:
        parse_plan_spec(raw, source="p.toml")
    assert caught.value.problems == [
        "[study].sizes: each size must be an integer >= 10, got 5",
        "[study].methods: unknown value(s) 'ols'; choose from mle, firth, bayes",
        "[effects]: a plan draws its truths from [plan]; effect sets belong to "
        "`bayes-cluster study`",
        "[study].truth: a plan draws its truths from [plan]; move the values there",
        "[plan].size: unknown key; allowed keys of [plan]: pilot, intercept, "
        + ", ".join(TUMANG_PREDICTORS),
        "[plan].workers.dist: unknown distribution 'Gamma'; choose from Normal, StudentT, Uniform",
        "[plan].firm_age.tau: unknown key; allowed keys of [plan].firm_age: dist, mu, sigma",
        "[plan].firm_age.sigma: must be > 0, got -1.0",
        "[plan].buyer_network: must be a number or a table { dist = ..., ... }, got 'big'",
        "[plan].promotion.sigma: is required",
        "[plan].training: lower must be below upper, got lower = 1.0, upper = 0.0",
        f"[plan].pilot: file not found: {tmp_path / 'missing.nc'}",
    ]
    assert str(caught.value).startswith("invalid spec (12 problems):\n  p.toml: [study].sizes")


def test_a_plan_needs_assumed_effects(tmp_path):
    with pytest.raises(SpecError, match=r"\[plan\]: is required: the assumed effects"):
        parse_plan_spec({"study": {"sizes": [40]}})
    with pytest.raises(SpecError, match=r"\[plan\]: names no effect: give at least one term"):
        parse_plan_spec({"study": {"sizes": [40]}, "plan": {}})
    missing = tmp_path / "nope.toml"
    with pytest.raises(SpecError, match="nope.toml: file not found"):
        load_plan_spec(missing)


def test_bundled_plan_spec_is_valid():
    spec = load_plan_spec("models/plan_tumang.toml")
    assert spec.methods == ("mle", "firth", "bayes")
    assert spec.effect_priors["promotion"] == EffectPrior("Normal", {"mu": 0.7, "sigma": 0.25})


# --------------------------------------------------------------------------- drawing truths


@pytest.mark.parametrize(
    ("prior", "mean", "sd"),
    [
        (EffectPrior("Normal", {"mu": 0.7, "sigma": 0.25}), 0.7, 0.25),
        (EffectPrior("StudentT", {"nu": 6.0, "mu": -0.3, "sigma": 0.1}), -0.3, 0.1 * np.sqrt(1.5)),
        (EffectPrior("Uniform", {"lower": 0.0, "upper": 0.6}), 0.3, 0.6 / np.sqrt(12)),
        (EffectPrior("Point", {"value": 0.15}), 0.15, 0.0),
    ],
)
def test_effect_draws_have_the_stated_mean_and_sd(prior, mean, sd):
    draws = prior.draw(np.random.default_rng(11), 200_000)
    again = prior.draw(np.random.default_rng(11), 200_000)
    np.testing.assert_array_equal(draws, again)
    assert prior.mean == pytest.approx(mean) and prior.sd == pytest.approx(sd)
    assert draws.mean() == pytest.approx(mean, abs=4 * sd / np.sqrt(len(draws)) + 1e-12)
    assert draws.std() == pytest.approx(sd, rel=0.02, abs=1e-12)


def test_replicate_truths_are_reproducible_distinct_and_shared_across_sizes():
    spec = parse_plan_spec(plan_raw(replicates=4000))
    truths = plan_truths(spec)
    pd.testing.assert_frame_equal(truths, plan_truths(parse_plan_spec(plan_raw(replicates=4000))))
    assert truths["promotion"].nunique() == 4000
    assert truths["promotion"].mean() == pytest.approx(0.7, abs=4 * 0.2 / np.sqrt(4000))
    assert truths["promotion"].std() == pytest.approx(0.2, rel=0.05)
    # every other term keeps the Tumang truth exactly
    assert (truths["Intercept"] == TUMANG_INTERCEPT).all()
    assert (truths["workers"] == TUMANG_COEFFICIENTS["workers"]).all()
    # the same truth at every n; another seed draws others
    at_40 = spec.replicate_truth(ReplicateTask("truth", 40, 3))
    at_60 = spec.replicate_truth(ReplicateTask("truth", 60, 3))
    assert at_40 == at_60 and at_40.coefficients["promotion"] == truths.at[3, "promotion"]
    other = plan_truths(parse_plan_spec(plan_raw(replicates=5, seed=6)))
    assert not np.isin(other["promotion"], truths["promotion"]).any()


def test_the_simulated_survey_follows_the_drawn_truth():
    spec = parse_plan_spec(plan_raw({"promotion": {"dist": "Normal", "mu": 0.0, "sigma": 3.0}}))
    task = ReplicateTask("truth", 40, 2)
    truth = spec.replicate_truth(task)
    data_seed, _ = replicate_seeds(spec.seed, "truth", 40, 2)
    expected, _ = simulate_tumang(
        n=40,
        seed=data_seed,
        coefficients=truth.coefficients,
        intercept=truth.intercept,
        group_effects=dict.fromkeys(PRODUCT_LINES, 0.0),
    )
    assert truth.coefficients["promotion"] != 0.0
    pd.testing.assert_frame_equal(simulate_replicate(spec, task), expected)


# --------------------------------------------------------------------------- assurance


def _all_predictors(**values: float) -> dict:
    return {name: values.get(name, 0.0) for name in TUMANG_PREDICTORS}


def test_huge_effect_is_detected_and_nulls_at_the_type_one_error(tmp_path):
    # promotion 1.5 per Likert step (every other slope 0) at n = 150: z about 8
    plan = {"intercept": -4.65, **_all_predictors(promotion=1.5)}
    spec = parse_plan_spec(plan_raw(plan, sizes=[150], replicates=40, seed=2))
    result = run_plan(spec, tmp_path / "out", progress=False, figures=False)
    table = result.table.set_index(["method", "term"])
    for method in FREQUENTIST:
        assert table.loc[(method, "promotion"), "p_detect_if_fit"] == 1.0
        assert table.loc[(method, "promotion"), "p_detect"] >= 0.95
        # six null slopes x 40 replicates: the share of 95% intervals excluding 0
        nulls = table.loc[method].drop(index="promotion")
        assert (nulls["truth_mean"] == 0).all()
        assert 0.01 <= nulls["p_detect"].mean() <= 0.10
    assert set(table["measure"]) == {"power"}
    assert "no effect assumed: a false-detection rate" in "\n".join(result.answers)


def test_zero_uncertainty_gives_exactly_the_study_engine_power(tmp_path):
    study_raw = {"sizes": [40, 60], "replicates": 8, "methods": FREQUENTIST, "seed": 9}
    study = run_study(
        parse_study_spec({"study": study_raw}), tmp_path / "study", progress=False, figures=False
    )
    plan_spec = parse_plan_spec(
        {
            "study": study_raw,
            "plan": {"intercept": TUMANG_INTERCEPT, **TUMANG_COEFFICIENTS},
        }
    )
    plan = run_plan(plan_spec, tmp_path / "plan", progress=False, figures=False)
    pd.testing.assert_frame_equal(
        plan.study.replicates.drop(columns="fit_seconds"),
        study.replicates.drop(columns="fit_seconds"),
    )
    metrics = study.metrics[study.metrics["term"] != "Intercept"].set_index(
        ["method", "term", "n"]
    )
    table = plan.table.set_index(["method", "term", "n"]).loc[metrics.index]
    np.testing.assert_array_equal(table["p_detect_if_fit"], metrics["power"])
    np.testing.assert_array_equal(table["interval_width"], metrics["interval_width"])
    np.testing.assert_array_equal(table["separation_rate"], metrics["separation_rate"])
    np.testing.assert_array_equal(table["coverage"], metrics["coverage"])
    # p_detect counts a failed (separated) MLE fit as no detection
    assert (table["p_detect"] <= table["p_detect_if_fit"]).all()


def test_local_processes_give_the_same_plan(tmp_path):
    spec = parse_plan_spec(plan_raw(sizes=[40], replicates=4, methods=["mle"]))
    alone = run_plan(spec, tmp_path / "one", progress=False, figures=False)
    shared = run_plan(spec, tmp_path / "two", workers=2, progress=False, figures=False)
    pd.testing.assert_frame_equal(alone.table, shared.table)
    assert alone.table["truth_sd"].gt(0).any()  # the drawn truths travelled to the workers


def test_plan_table_by_hand():
    rows = pd.DataFrame(
        {
            "method": ["mle"] * 4,
            "term": ["promotion"] * 4,
            "n": [40] * 4,
            "true_value": [0.5, 0.5, -0.2, 0.4],
            "lower": [0.1, -0.3, 0.05, np.nan],
            "upper": [0.9, 0.4, 0.6, np.nan],
            "failed": [False, False, False, True],
            "separation": pd.array([False, False, False, True], dtype="boolean"),
        }
    )
    spec = parse_plan_spec(plan_raw())
    (row,) = plan_table(rows, spec).to_dict("records")
    assert row["p_detect"] == 0.5  # 2 of 4 intervals exclude 0; the failed fit detects nothing
    assert row["p_detect_if_fit"] == pytest.approx(2 / 3)
    assert row["p_wrong_sign"] == 0.25  # truth -0.2, interval above 0
    assert row["interval_width"] == pytest.approx((0.8 + 0.7 + 0.55) / 3)
    assert row["coverage"] == pytest.approx(1 / 3)  # only the first interval holds its truth
    assert row["separation_rate"] == 0.25 and row["failure_rate"] == 0.25
    assert row["p_detect_mcse"] == pytest.approx(np.sqrt(0.25 / 4))
    assert row["interval"] == "95% Wald interval" and row["measure"] == "power"


# --------------------------------------------------------------------------- pilot + Bayes


@pytest.fixture(scope="module")
def pilot_file(tmp_path_factory):
    from bayes_cluster.estimators.logistic import BayesianLogit
    from bayes_cluster.surveys.simulate import simulate_tumang

    frame, _ = simulate_tumang(n=60, seed=4)
    model = BayesianLogit("export", ["workers", "promotion"])
    with warnings.catch_warnings():  # a 100-draw fit may fail its checks: not the point here
        # only the convergence warning of a short fit; every other warning still fails
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(frame, draws=100, tune=100, chains=2, random_seed=1)
    return model.save(tmp_path_factory.mktemp("pilot") / "pilot.nc")


def test_pilot_mode_draws_truths_from_the_saved_posterior(pilot_file, tmp_path):
    from bayes_cluster.estimators.logistic import BayesianLogit

    spec_file = tmp_path / "plan.toml"
    spec_file.write_text(
        "[study]\nsizes = [40]\nreplicates = 2\nmethods = ['mle', 'bayes']\nseed = 1\n"
        "[sampler]\ndraws = 100\ntune = 100\nchains = 2\n"
        f"[plan]\npilot = '{pilot_file.name}'\ntraining = 0.5\n",
        encoding="utf-8",
    )
    # a relative pilot path is read next to the spec
    (tmp_path / pilot_file.name).write_bytes(pilot_file.read_bytes())
    spec = load_plan_spec(spec_file)
    posterior = BayesianLogit.load(pilot_file).idata_["posterior"]
    alpha = posterior["alpha"].to_numpy().ravel()
    beta = posterior["beta"].transpose("chain", "draw", ...).to_numpy().reshape(-1, 2)
    truths = plan_truths(spec, 50)
    for _, truth in truths.iterrows():
        (hit,) = np.flatnonzero(alpha == truth["Intercept"])
        assert truth["workers"] == beta[hit, 0] and truth["promotion"] == beta[hit, 1]
    assert truths["Intercept"].nunique() > 30  # different draws for different replicates
    assert (truths["training"] == 0.5).all()  # [plan] sets what the pilot lacks
    assert (truths["firm_age"] == TUMANG_COEFFICIENTS["firm_age"]).all()
    assert spec.fingerprint()["plan"]["pilot_sha256"] == spec.pilot_sha256
    # the one small Bayesian case: assurance of the Bayesian logit, central interval
    result = run_plan(spec, tmp_path / "out", progress=False, figures=False)
    bayes = result.table[result.table["method"] == "bayes"]
    assert set(bayes["measure"]) == {"assurance"}
    assert set(bayes["interval"]) == {"central 95% posterior interval"}
    assert (bayes["failure_rate"] == 0).all() and (bayes["replicates"] == 2).all()
    assert bayes["interval_width"].notna().all()
    assert "(Bayes)" in result.answers[0] and "(MLE)" in result.answers[0]


def test_pilot_of_another_model_is_refused(tmp_path):
    other = tmp_path / "other.nc"
    other.write_bytes(b"not a netcdf file")
    with pytest.raises(SpecError, match=r"\[plan\]\.pilot: cannot load .*other.nc as a saved"):
        parse_plan_spec(plan_raw({"pilot": str(other)}))


# --------------------------------------------------------------------------- CLI


def test_cli_writes_the_files_resumes_and_refuses_a_foreign_folder(tmp_path, capsys):
    spec_file = tmp_path / "plan.toml"
    spec_file.write_text(
        "[study]\nsizes = [30, 40]\nreplicates = 3\nmethods = ['mle']\nseed = 4\n"
        "[plan]\npromotion = { dist = 'Normal', mu = 0.7, sigma = 0.1 }\n",
        encoding="utf-8",
    )
    out = tmp_path / "out"
    assert main(["plan", str(spec_file), "--out", str(out), "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "with 30 firms, P(detect promotion) = " in printed
    assert "6 replicates computed" in printed
    written = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    assert {"assurance.csv", "plan.md", "plan.json", "study.json", "figures/assurance.png"} <= (
        written
    )
    assert "metrics.csv" not in written  # a plan has no single truth: assurance.csv replaces it
    table = pd.read_csv(out / "assurance.csv")
    assert len(table) == 2 * 7 and set(table["n"]) == {30, 40}
    report = (out / "plan.md").read_text(encoding="utf-8")
    assert (
        "| promotion | MLE |" in report and "promotion ~ Normal(mu = 0.7, sigma = 0.1)" in report
    )
    manifest = json.loads((out / "plan.json").read_text(encoding="utf-8"))
    assert manifest["package"] == "bayes_cluster" and "provenance" in manifest
    assert manifest["intervals"] == {"mle": "95% Wald interval"}
    # rerun: resumes, computes nothing
    assert main(["plan", str(spec_file), "--out", str(out), "--no-progress"]) == 0
    assert "resuming: 6 of 6 replicates" in capsys.readouterr().out
    # a folder with someone else's files is refused before any work
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me", encoding="utf-8")
    assert main(["plan", str(spec_file), "--out", str(foreign), "--no-progress"]) != 0
    assert "holds files that bayes-cluster did not write" in capsys.readouterr().err
    assert sorted(p.name for p in foreign.iterdir()) == ["notes.txt"]
    # a bad spec: the engine's message naming file and key
    bad = tmp_path / "bad.toml"
    bad.write_text("[study]\nsizes = [5]\n[plan]\npromotion = 0.7\n", encoding="utf-8")
    assert main(["plan", str(bad), "--out", str(tmp_path / "new")]) == 1
    assert f"{bad}: [study].sizes: each size must be an integer >= 10, got 5" in (
        capsys.readouterr().err
    )


# --------------------------------------------------------------------------- agreement


@pytest.mark.slow
def test_assurance_curve_agrees_with_a_direct_study(tmp_path):
    """The plan's P(detect) at two sizes vs a direct study over independently drawn truths.

    The direct study is ``bayes-cluster study``'s engine with one effect set per truth,
    each drawn from the same prior with another random stream; the two estimates of
    P(detect promotion) must agree within 3 combined Monte Carlo standard errors.
    """
    prior = {"dist": "Normal", "mu": 0.5, "sigma": 0.2}
    sizes, count = [60, 120], 150
    plan_spec = parse_plan_spec(
        plan_raw({"promotion": prior}, sizes=sizes, replicates=count, methods=["mle"], seed=21)
    )
    plan = run_plan(plan_spec, tmp_path / "plan", progress=False, figures=False).table
    rng = np.random.default_rng(2024)
    effects = {
        f"t{i:03d}": {"coefficients": {"promotion": float(v)}}
        for i, v in enumerate(rng.normal(prior["mu"], prior["sigma"], count))
    }
    direct_spec = parse_study_spec(
        {
            "study": {"sizes": sizes, "replicates": 1, "methods": ["mle"], "seed": 22},
            "effects": effects,
        }
    )
    direct = run_study(direct_spec, tmp_path / "direct", progress=False, figures=False)
    rows = direct.replicates
    rows = rows[(rows["term"] == "promotion") & (rows["effects"] != "truth")]
    for n in sizes:
        cell = rows[rows["n"] == n]
        hits = (~cell["failed"]) & ((cell["lower"] > 0) | (cell["upper"] < 0))
        p_direct = float(hits.mean())
        mine = plan[(plan["term"] == "promotion") & (plan["n"] == n)].iloc[0]
        se = np.sqrt(mine["p_detect_mcse"] ** 2 + p_direct * (1 - p_direct) / len(cell))
        assert abs(mine["p_detect"] - p_direct) <= 3 * se, (n, mine["p_detect"], p_direct)
    curve = plan[plan["term"] == "promotion"].sort_values("n")["p_detect"].to_numpy()
    assert curve[1] > curve[0]  # more firms, more often detected


def test_assurance_figure_has_a_panel_per_predictor_and_refuses_a_bad_table():
    from bayes_cluster.plots.plan import plot_assurance

    table = pd.DataFrame(
        {
            "method": ["mle", "mle", "bayes", "bayes"] * 2,
            "term": ["workers"] * 4 + ["promotion"] * 4,
            "n": [30, 60] * 4,
            "p_detect": [0.2, 0.5, 0.3, 0.6, 0.4, 0.9, 0.5, 1.0],
            "p_detect_mcse": [0.05] * 8,
        }
    )
    figure = plot_assurance(table)
    visible = [ax for ax in figure.axes if ax.get_visible()]
    assert [ax.get_title() for ax in visible] == ["workers", "promotion"]
    assert [len(ax.containers) for ax in visible] == [2, 2]  # one error-bar line per method
    assert [text.get_text() for text in figure.legends[0].get_texts()] == ["MLE", "Bayes"]
    with pytest.raises(ValueError, match=r"lacks the column\(s\) p_detect_mcse"):
        plot_assurance(table.drop(columns="p_detect_mcse"))

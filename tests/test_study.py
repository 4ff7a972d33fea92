"""Simulation studies: spec, seeds, metrics, persistence/resume, executors, figures."""

from __future__ import annotations

import math
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
import xarray as xr
from matplotlib.figure import Figure

from bayes_cluster.run.spec import SpecError
from bayes_cluster.studies.study import (
    ReplicateTask,
    collect_replicates,
    load_study_spec,
    parse_study_spec,
    pending_tasks,
    replicate_seeds,
    run_replicate,
    run_study,
    simulate_replicate,
    study_metrics,
)
from bayes_cluster.surveys.codebook import TUMANG_PREDICTORS
from bayes_cluster.surveys.simulate import TUMANG_COEFFICIENTS, TUMANG_INTERCEPT, simulate_tumang

REPO = Path(__file__).resolve().parents[1]
FREQUENTIST = ["mle", "firth"]


def small_spec(**study) -> dict:
    return {
        "study": {"sizes": [30, 60], "replicates": 4, "methods": FREQUENTIST, "seed": 7, **study}
    }


# --------------------------------------------------------------------------- spec


def test_example_spec_parses_with_weak_and_null_sets():
    spec = load_study_spec(REPO / "models" / "simulation.toml")
    assert spec.sizes == (30, 60, 120, 240)
    assert spec.replicates == 500
    assert spec.methods[:3] == ("mle", "firth", "bayes")
    assert spec.sampler.draws == 1000 and spec.sampler.chains == 4
    assert [e.name for e in spec.effect_sets] == ["truth", "weak", "null"]
    truth, weak, null = spec.effect_sets
    assert truth.intercept == TUMANG_INTERCEPT
    assert truth.coefficients == TUMANG_COEFFICIENTS
    assert weak.coefficients["buyer_network"] == pytest.approx(0.4)
    assert all(value == 0 for value in null.coefficients.values())
    # the intercept keeps the log-odds at the predictor means: check with an independent draw
    frame, _ = simulate_tumang(n=50_000, seed=99)
    means = frame[list(TUMANG_PREDICTORS)].mean()
    at_means = truth.intercept + sum(truth.coefficients[p] * means[p] for p in means.index)
    assert null.intercept == pytest.approx(at_means, abs=0.05)
    weak_at_means = weak.intercept + sum(weak.coefficients[p] * means[p] for p in means.index)
    assert weak_at_means == pytest.approx(at_means, abs=0.05)


def test_truth_table_and_interval_level():
    spec = parse_study_spec(
        small_spec(truth={"intercept": -2, "workers": 0.3, "training": 0.5}, interval_level=0.9)
    )
    (truth,) = spec.effect_sets
    assert truth.intercept == -2.0
    assert truth.coefficients["workers"] == 0.3 and truth.coefficients["training"] == 0.5
    assert truth.coefficients["promotion"] == TUMANG_COEFFICIENTS["promotion"]
    assert spec.interval_level == 0.9


def test_spec_problems_are_all_named():
    raw = {
        "study": {"sizes": [5, 60, 60], "methods": ["mle", "bayes2"], "truth": "other", "x": 1},
        "sampler": {"draws": 0, "target_accept": 1.5},
        "effects": {"weak": {"scale": "half"}, "odd": {}},
        "variants": {"mle": {}, "b": {"group": "firm_id"}},
    }
    with pytest.raises(SpecError) as caught:
        parse_study_spec(raw, source="s.toml")
    assert caught.value.problems == [
        "[study].x: unknown key; allowed keys of [study]: name, sizes, replicates, methods, "
        "seed, truth, interval_level, group_effects",
        "[study].sizes: each size must be an integer >= 10, got 5",
        "[study].sizes: lists a size more than once",
        "[study].truth: unknown truth 'other'; use \"tumang\" or a table { intercept = ..., "
        "<predictor> = <slope>, ... }",
        "[effects.weak].scale: must be a number, got 'half'",
        "[effects.odd]: give either scale (times the truth's slopes) or coefficients",
        "[variants.mle]: 'mle' is a frequentist method; name the variant otherwise",
        "[variants.b].group: the simulated surveys have one grouping column, product_line; "
        "got 'firm_id'",
        "[study].methods: unknown value(s) 'bayes2'; choose from mle, firth, bayes, b",
        "[sampler].target_accept: must be in [0.5, 1), got 1.5",
        "[sampler].draws: must be >= 10, got 0",
    ]
    assert str(caught.value).startswith("invalid spec (11 problems):\n  s.toml: [study].x")


def test_sampler_table_is_the_packages_sampler_settings():
    from bayes_cluster.inference.sampling import SamplerSettings

    default = parse_study_spec(small_spec())
    assert default.sampler == SamplerSettings(target_accept=0.9)
    # the fingerprint keeps the keys a [sampler] table sets, as before the move to the
    # package's SamplerSettings, so the study.json of an existing study still matches
    assert default.fingerprint()["sampler"] == {
        "draws": 1000,
        "tune": 1000,
        "chains": 4,
        "target_accept": 0.9,
    }
    spec = parse_study_spec(
        {**small_spec(), "sampler": {"draws": 50, "tune": 0, "chains": 2, "target_accept": 0.95}}
    )
    assert spec.sampler == SamplerSettings(draws=50, tune=0, chains=2, target_accept=0.95)


def test_missing_and_malformed_spec_files(tmp_path):
    with pytest.raises(SpecError, match="file not found"):
        load_study_spec(tmp_path / "absent.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[study\nsizes = [1]", encoding="utf-8")
    with pytest.raises(SpecError, match="not valid TOML"):
        load_study_spec(bad)


# --------------------------------------------------------------------------- seeds, one replicate


def test_replicate_seeds_are_deterministic_and_distinct():
    seeds = {replicate_seeds(1, "truth", n, r) for n in (30, 60) for r in range(50)}
    assert len(seeds) == 100
    assert replicate_seeds(1, "truth", 60, 3) == replicate_seeds(1, "truth", 60, 3)
    assert replicate_seeds(1, "truth", 60, 3) != replicate_seeds(2, "truth", 60, 3)
    assert replicate_seeds(1, "truth", 60, 3) != replicate_seeds(1, "null", 60, 3)


def test_adding_sizes_and_replicates_keeps_existing_data():
    small = parse_study_spec(small_spec())
    grown = parse_study_spec(small_spec(sizes=[20, 30, 60], replicates=9))
    task = ReplicateTask("truth", 60, 4)
    pd.testing.assert_frame_equal(simulate_replicate(small, task), simulate_replicate(grown, task))
    assert small.fingerprint() == grown.fingerprint()


def test_run_replicate_matches_statsmodels_mle():
    spec = parse_study_spec(small_spec(sizes=[120]))
    task = ReplicateTask("truth", 120, 0)
    rows = run_replicate(spec, task)
    assert list(rows["method"].unique()) == FREQUENTIST
    assert list(rows["term"].unique()) == ["Intercept", *TUMANG_PREDICTORS]
    frame = simulate_replicate(spec, task)
    assert len(frame) == 120
    # independent implementation: statsmodels' Newton MLE with Wald 95% intervals
    X = sm.add_constant(frame[list(TUMANG_PREDICTORS)].astype(float))
    reference = sm.Logit(frame["export"], X).fit(disp=0)
    mle = rows[rows["method"] == "mle"].set_index("term")
    np.testing.assert_allclose(mle["estimate"], reference.params.to_numpy(), rtol=1e-5)
    np.testing.assert_allclose(mle["std_error"], reference.bse.to_numpy(), rtol=1e-4)
    np.testing.assert_allclose(mle["lower"], reference.conf_int()[0].to_numpy(), rtol=1e-4)
    truth = {"Intercept": TUMANG_INTERCEPT, **TUMANG_COEFFICIENTS}
    assert mle["true_value"].to_dict() == truth
    assert not rows["failed"].any()
    firth = rows[rows["method"] == "firth"].set_index("term")
    # Firth shrinks the estimates towards zero relative to MLE
    assert (firth["estimate"].abs() <= mle["estimate"].abs() + 1e-9).sum() >= 6


# --------------------------------------------------------------------------- metrics


def test_study_metrics_by_hand():
    rows = []
    # truth 1.0; estimates 0.5, 1.5, 3.0 (third with separation); one failed fit
    for replicate, (estimate, lower, upper, separated, failed) in enumerate(
        [
            (0.5, 0.2, 0.9, False, False),
            (1.5, 0.8, 2.2, False, False),
            (3.0, -1.0, 7.0, True, False),
            (np.nan, np.nan, np.nan, False, True),
        ]
    ):
        rows.append(
            {
                "effects": "truth",
                "n": 30,
                "replicate": replicate,
                "method": "mle",
                "term": "workers",
                "true_value": 1.0,
                "estimate": estimate,
                "std_error": 0.1,
                "lower": lower,
                "upper": upper,
                "separation": separated,
                "failed": failed,
                "converged": not failed,
                "divergences": pd.NA,
                "r_hat_max": pd.NA,
                "ess_bulk_min": pd.NA,
                "fit_seconds": 0.0,
                "note": "",
            }
        )
    from bayes_cluster.studies.study import _typed

    metrics = study_metrics(_typed(pd.DataFrame(rows)))
    (row,) = metrics.to_dict("records")
    errors = np.array([-0.5, 0.5, 2.0])
    assert row["replicates"] == 4 and row["used"] == 3
    assert row["bias"] == pytest.approx(errors.mean())
    assert row["rmse"] == pytest.approx(math.sqrt((errors**2).mean()))
    assert row["median_bias"] == pytest.approx(0.5)
    assert row["coverage"] == pytest.approx(2 / 3)  # the first interval misses 1.0
    assert row["interval_width"] == pytest.approx((0.7 + 1.4 + 8.0) / 3)
    assert row["power"] == pytest.approx(2 / 3)
    assert row["sign_error"] == 0.0
    assert row["separation_rate"] == pytest.approx(1 / 4)
    assert row["failure_rate"] == pytest.approx(1 / 4)
    assert row["bias_mcse"] == pytest.approx(errors.std(ddof=1) / math.sqrt(3))


# --------------------------------------------------------------------------- running, resuming


@pytest.fixture(scope="module")
def reference_run(tmp_path_factory):
    """An uninterrupted in-process run of a small frequentist study."""
    spec = parse_study_spec(small_spec())
    out = tmp_path_factory.mktemp("reference")
    return run_study(spec, out, progress=False)


def test_run_writes_every_output(reference_run):
    out = reference_run.out
    assert reference_run.computed == 8
    assert len(list((out / "replicates" / "truth").glob("*.parquet"))) == 8
    metrics = pd.read_csv(out / "metrics.csv")
    for column in ("method", "n", "term", "bias", "rmse", "coverage", "interval_width"):
        assert column in metrics.columns
    assert {"power", "separation_rate", "failure_rate", "sign_error"} <= set(metrics.columns)
    assert len(metrics) == 2 * 2 * 8  # methods x sizes x terms
    replicates = pd.read_parquet(out / "replicates.parquet")
    assert len(replicates) == 8 * 2 * 8
    assert sorted(p.name for p in (out / "figures").iterdir()) == [
        "bias_truth.png",
        "coverage_truth.png",
        "power_truth.png",
        "rmse_truth.png",
    ]
    assert (out / "study.json").exists()


def test_rerun_computes_nothing_and_other_spec_is_refused(reference_run):
    again = run_study(reference_run.spec, reference_run.out, progress=False)
    assert again.computed == 0
    pd.testing.assert_frame_equal(again.metrics, reference_run.metrics)
    other = parse_study_spec(small_spec(seed=8))
    with pytest.raises(ValueError, match="holds replicates of a different study"):
        run_study(other, reference_run.out, progress=False)


@pytest.mark.slow
def test_local_processes_give_identical_results(reference_run, tmp_path):
    result = run_study(reference_run.spec, tmp_path, workers=2, progress=False)
    pd.testing.assert_frame_equal(result.metrics, reference_run.metrics)


@pytest.mark.slow
# distributed warns when a loaded machine is slow to create its worker scratch folders
@pytest.mark.filterwarnings("ignore:Creating scratch directories is taking a surprisingly long")
def test_dask_local_cluster_gives_identical_results(reference_run, tmp_path, skip_or_fail):
    try:
        import distributed
    except ImportError:  # the [dask] extra, which .ci/run installs
        skip_or_fail("dask.distributed not installed (pip install -e '.[dask]')")
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        result = run_study(
            reference_run.spec, tmp_path, scheduler=cluster.scheduler_address, progress=False
        )
    assert result.computed == 8
    pd.testing.assert_frame_equal(result.metrics, reference_run.metrics)


@pytest.mark.slow
def test_killed_study_resumes_to_identical_metrics(tmp_path):
    spec_file = tmp_path / "kill.toml"
    spec_file.write_text(
        '[study]\nsizes = [60, 120]\nreplicates = 25\nmethods = ["mle", "firth"]\nseed = 11\n',
        encoding="utf-8",
    )
    spec = load_study_spec(spec_file)
    killed = tmp_path / "killed"
    command = [sys.executable, "-m", "bayes_cluster.cli", "study", str(spec_file)]
    log = tmp_path / "stderr.txt"
    with log.open("w") as stderr:
        process = subprocess.Popen(
            [*command, "--out", str(killed), "--no-progress"],
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    deadline = time.monotonic() + 120
    try:
        while len(list(killed.glob("replicates/*/*.parquet"))) < 5:
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "the study did not start"
            time.sleep(0.02)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    saved = len(pending_tasks(spec, killed))
    assert 0 < saved < len(spec.tasks()), "the kill came too late to test resumption"
    assert not (killed / "metrics.csv").exists()
    # no half-written file is ever taken for a finished replicate
    assert all(len(pd.read_parquet(path)) == 16 for path in killed.glob("replicates/*/*.parquet"))

    finished = subprocess.run(
        [*command, "--out", str(killed), "--no-progress"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert f"resuming: {len(spec.tasks()) - saved} of 50 replicates" in finished.stdout
    assert f"{saved} replicates computed" in finished.stdout
    uninterrupted = run_study(spec, tmp_path / "whole", progress=False, figures=False)
    pd.testing.assert_frame_equal(pd.read_csv(killed / "metrics.csv"), _csv(uninterrupted))
    resumed = collect_replicates(spec, killed).drop(columns=["fit_seconds"])
    whole = uninterrupted.replicates.drop(columns=["fit_seconds"])
    pd.testing.assert_frame_equal(resumed, whole)


@pytest.mark.slow
def test_ctrl_c_stops_cleanly_and_says_how_to_resume(tmp_path):
    """Deterministic under load: Ctrl-C is pressed once the study's own progress line says
    replicates are being saved (not after a sleep or a file count), and 80 replicates
    cannot all finish in the moment between. An interrupted study never exits 0."""
    import re
    import threading

    spec_file = tmp_path / "interrupt.toml"
    spec_file.write_text(
        '[study]\nsizes = [60, 120]\nreplicates = 40\nmethods = ["mle", "firth"]\nseed = 3\n',
        encoding="utf-8",
    )
    spec = load_study_spec(spec_file)
    out = tmp_path / "out"
    command = [sys.executable, "-m", "bayes_cluster.cli", "study", str(spec_file)]
    process = subprocess.Popen(
        [*command, "--out", str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    stderr = []
    reader = threading.Thread(
        target=lambda: stderr.extend(iter(lambda: process.stderr.read1(4096), b"")),
        daemon=True,
    )
    reader.start()
    deadline = time.monotonic() + 600
    # the progress bar (on stderr) counts saved replicates: "... | 2/80 [..."
    while not re.search(rb"\| *([2-9]|\d\d)/80 \[", b"".join(stderr)):
        assert process.poll() is None, b"".join(stderr).decode()
        assert time.monotonic() < deadline, "the study did not start"
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    process.wait(timeout=60)
    reader.join(timeout=10)
    process.stderr.close()
    text = b"".join(stderr).decode()
    saved = len(list(out.glob("replicates/*/*.parquet")))
    assert process.returncode == 130, text
    assert 2 <= saved < 80
    assert text.strip().splitlines()[-1] == (
        f"interrupted: {saved} of 80 replicates saved in {out}; "
        "run the same command again to resume"
    )
    assert "Traceback" not in text
    assert not list(out.glob("**/.*.tmp"))
    assert not (out / "metrics.csv").exists()
    for path in out.glob("replicates/*/*.parquet"):  # complete, none recorded as failed
        rows = pd.read_parquet(path)
        assert len(rows) == 16 and not rows["failed"].any()

    resumed = subprocess.run(
        [*command, "--out", str(out), "--no-progress"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert f"resuming: {saved} of 80 replicates" in resumed.stdout
    uninterrupted = run_study(spec, tmp_path / "whole", progress=False, figures=False)
    pd.testing.assert_frame_equal(pd.read_csv(out / "metrics.csv"), _csv(uninterrupted))


def _csv(result) -> pd.DataFrame:
    path = result.out / "metrics.csv"
    return pd.read_csv(path)


def test_cli_reports_invalid_spec(tmp_path, capsys):
    from bayes_cluster.cli import main

    spec_file = tmp_path / "bad.toml"
    spec_file.write_text("[study]\nsizes = [5]\n", encoding="utf-8")
    assert main(["study", str(spec_file), "--out", str(tmp_path / "o")]) == 1
    assert "[study].sizes: each size must be an integer >= 10, got 5" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
    assert main(["study", str(spec_file), "--out", str(tmp_path / "o"), "--workers", "0"]) == 2


# --------------------------------------------------------------------------- figures


def test_metric_figure_has_a_panel_per_term(reference_run):
    from bayes_cluster.plots.study import plot_study_metric

    figure = plot_study_metric(reference_run.metrics, "coverage", nominal=0.95)
    assert isinstance(figure, Figure)
    visible = [ax for ax in figure.axes if ax.get_visible()]
    assert len(visible) == 8
    assert [line.get_label() for line in visible[0].lines[:2]] == FREQUENTIST
    with pytest.raises(ValueError, match="measure 'nope' is not a column"):
        plot_study_metric(reference_run.metrics, "nope")


# --------------------------------------------------------------------------- must show (slow)


@pytest.mark.slow
def test_small_sample_behaviour_of_mle_and_firth(tmp_path):
    """MLE is biased away from 0 and separation is common at n = 30; Firth reduces bias."""
    spec = parse_study_spec(
        {"study": {"sizes": [30, 60, 120], "replicates": 100, "methods": FREQUENTIST, "seed": 1}}
    )
    # in-process: CI's two pytest workers already fill both cores, and two spawned study
    # workers would each import the package first (test_local_processes_give_identical_results
    # shows that local processes give the same numbers)
    result = run_study(spec, tmp_path, workers=1, progress=False, figures=False)
    metrics = result.metrics.set_index(["method", "n", "term"])
    effects = ["workers", "firm_age", "buyer_network", "promotion"]
    print(metrics.loc[:, ["bias", "median_bias", "rmse", "coverage", "separation_rate"]])

    def mean_abs_bias(method, n):
        return metrics.loc[[(method, n, term) for term in effects], "bias"].abs().mean()

    assert mean_abs_bias("mle", 30) > 3 * mean_abs_bias("mle", 120)
    assert mean_abs_bias("firth", 30) < mean_abs_bias("mle", 30)
    assert mean_abs_bias("firth", 60) < mean_abs_bias("mle", 60)
    separation = metrics.xs(("mle", "Intercept"), level=("method", "term"))["separation_rate"]
    assert separation[30] > separation[120]
    # the bias of MLE is away from zero (estimates inflated)
    for term in effects:
        assert metrics.loc[("mle", 30, term), "median_bias"] > 0


def _fake_posterior(energy_autocorrelation: float) -> xr.DataTree:
    """4 x 1000 independent N(0, 1) draws of alpha and beta, no divergences, and energies
    of an AR(1) process (E-BFMI about 2 (1 - phi): below 0.3 for phi = 0.9)."""
    rng = np.random.default_rng(0)
    chains, draws = 4, 1000
    energy = np.zeros((chains, draws))
    for t in range(1, draws):
        energy[:, t] = energy_autocorrelation * energy[:, t - 1] + rng.normal(size=chains)
    posterior = xr.Dataset(
        {
            "alpha": (("chain", "draw"), rng.normal(size=(chains, draws))),
            "beta": (("chain", "draw", "predictor"), rng.normal(size=(chains, draws, 7))),
        },
        coords={"predictor": list(TUMANG_PREDICTORS)},
    )
    stats = xr.Dataset(
        {
            "diverging": (("chain", "draw"), np.zeros((chains, draws), dtype=bool)),
            "energy": (("chain", "draw"), energy),
        }
    )
    return xr.DataTree.from_dict({"posterior": posterior, "sample_stats": stats})


@pytest.mark.parametrize(("phi", "converged"), [(0.0, True), (0.9, False)])
def test_bayesian_replicate_is_judged_by_the_one_convergence_rule(monkeypatch, phi, converged):
    """``converged`` is mcmc_diagnostics(...).passed: E-BFMI (and ESS) count too, where the
    study's own rule was only "no divergences and R-hat <= 1.01"."""
    from bayes_cluster.inference.sampling import SampleResult
    from bayes_cluster.studies.study import BayesianFitter

    tree = _fake_posterior(phi)
    monkeypatch.setattr(
        BayesianFitter, "_sample", lambda self, frame, settings: SampleResult(tree, 0.0, 0.0)
    )
    spec = parse_study_spec(small_spec(methods=["bayes"]))
    rows = run_replicate(spec, ReplicateTask("truth", 30, 0))
    assert rows["converged"].tolist() == [converged] * 8
    # what the old rule looked at passes in both cases
    assert (rows["divergences"] == 0).all() and (rows["r_hat_max"] <= 1.01).all()
    assert (rows["ess_bulk_min"] > 3000).all()


@pytest.mark.slow
def test_bayesian_method_compiles_once_and_reports_diagnostics(tmp_path):
    """The Bayesian logit runs in a study: compiled once for all sizes, same posterior as
    fit() (the study samples the fused log-density, fit() the PyMC graph)."""
    from bayes_cluster.estimators.logistic import BayesianLogit
    from bayes_cluster.inference.diagnostics import ConvergenceWarning
    from bayes_cluster.inference.sampling import clear_compiled_cache, compiled_cache
    from bayes_cluster.studies.study import _BAYES_FITTERS

    _BAYES_FITTERS.clear()
    clear_compiled_cache()
    compilations = compiled_cache.compilations
    spec = parse_study_spec(
        {
            "study": {"sizes": [30, 60], "replicates": 3, "methods": ["mle", "bayes"], "seed": 2},
            "sampler": {"draws": 300, "tune": 300, "chains": 2},
        }
    )
    result = run_study(spec, tmp_path, progress=False, figures=False)
    (fitter,) = _BAYES_FITTERS.values()
    assert fitter.compilations == 1
    assert compiled_cache.compilations == compilations + 1
    bayes = result.replicates[result.replicates["method"] == "bayes"]
    assert len(bayes) == 6 * 8 and not bayes["failed"].any()
    assert (bayes["divergences"] >= 0).all() and (bayes["r_hat_max"] < 1.1).all()
    assert (bayes["lower"] < bayes["estimate"]).all() and (
        bayes["estimate"] < bayes["upper"]
    ).all()
    # the study's compiled path is the same model as BayesianLogit.fit (same seed, same draws)
    task = ReplicateTask("truth", 60, 1)
    frame = simulate_replicate(spec, task)
    _, fit_seed = replicate_seeds(spec.seed, "truth", 60, 1)
    logit = BayesianLogit("export", list(TUMANG_PREDICTORS))
    with warnings.catch_warnings():
        # short chains may fail the ESS check; only the draws are compared here
        warnings.simplefilter("ignore", ConvergenceWarning)
        logit.fit(frame, draws=300, tune=300, chains=2, random_seed=fit_seed)
    # fit() compiles the PyMC graph under its own key; the study's fused model is kept apart
    assert compiled_cache.compilations == compilations + 2
    draws = logit.coefficient_draws()
    rows = bayes[(bayes["n"] == 60) & (bayes["replicate"] == 1)]
    # same posterior: the means agree within Monte Carlo error (the two samplers' draws
    # differ by rounding only, which NUTS trajectories amplify over a run)
    mcse = draws.std(axis=0) / np.sqrt(rows["ess_bulk_min"].to_numpy())  # per estimate
    difference = np.abs(rows["estimate"].to_numpy() - draws.mean(axis=0))
    assert (difference < 4 * np.sqrt(2) * mcse).all()

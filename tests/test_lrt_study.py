"""The bootstrap LRT's type-I error as a study of the study engine (issue 16, item 4).

The slow run of the bundled study (100 data sets) is
``tests/test_n_classes.py::test_type_one_error_is_nominal_under_the_null``.
"""

from __future__ import annotations

import dataclasses
import pickle

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from bayes_cluster.analyses.n_classes import bootstrap_lrt
from bayes_cluster.cli import main
from bayes_cluster.common.latent_class_math import simulate_responses
from bayes_cluster.run.spec import SpecError
from bayes_cluster.studies.lrt_study import (
    LRT_REPLICATE_COLUMNS,
    load_lrt_study_spec,
    lrt_summary,
    parse_lrt_study_spec,
    run_lrt_study,
    study_kind,
)
from bayes_cluster.studies.study import (
    ReplicateTask,
    parse_study_spec,
    pending_tasks,
    run_study,
)

THETA = [[[0.7, 0.3], [0.4, 0.6], [0.5, 0.5], [0.2, 0.8], [0.6, 0.4]]]
EM = {
    "n_starts": 1,
    "n_starts_alternative": 6,
    "n_starts_bootstrap": 6,
    "n_starts_bootstrap_null": 0,
    "tol": 1e-5,
    "max_iter": 300,
}


def raw_spec(**study) -> dict:
    """A small valid spec as parsed TOML, ``[study]`` keys overridden by ``study``."""
    return {
        "study": {
            "kind": "bootstrap_lrt",
            "sizes": [40],
            "replicates": 2,
            "classes": 2,
            "n_bootstrap": 9,
            "alpha": [0.1],
            **study,
        },
        "truth": {"class_shares": [1.0], "item_probabilities": THETA},
        "em": dict(EM),
    }


def problems_of(raw: dict) -> list[str]:
    with pytest.raises(SpecError) as caught:
        parse_lrt_study_spec(raw, source="lrt.toml")
    return caught.value.problems


# --------------------------------------------------------------------------- the spec


def test_bundled_spec_is_the_setting_of_the_type_one_error_test():
    spec = load_lrt_study_spec("models/lrt_null.toml")
    assert (spec.sizes, spec.replicates, spec.classes, spec.n_bootstrap) == ((60,), 100, 2, 19)
    assert spec.alphas == (0.05, 0.10)
    assert (spec.data_seed, spec.test_seed) == (0, 1000)
    assert spec.class_shares == (1.0,)
    assert np.array_equal(np.asarray(spec.item_probabilities), np.asarray(THETA))
    assert spec.em == EM
    assert study_kind("models/lrt_null.toml") == "bootstrap_lrt"
    assert study_kind("models/simulation.toml") == "logit"


def test_spec_errors_name_the_file_key_and_value(tmp_path):
    bad = raw_spec(alpha=[0.05, 1.5], sizes=[5], classes=1)
    bad["em"]["starts"] = 3
    bad["em"]["tol"] = 2.0
    assert problems_of(bad) == [
        "[study].sizes: each size must be an integer >= 10, got 5",
        "[study].classes: must be >= 2, got 1 (it tests K - 1 against K classes)",
        "[study].alpha: each level must be a number in (0, 1), got 1.5",
        "[em].starts: unknown key; allowed keys of [em]: n_starts, n_starts_alternative, "
        "n_starts_bootstrap, n_starts_bootstrap_null, tol, max_iter",
        "[em].tol: must be a number in (0, 1), got 2.0",
    ]
    truth = raw_spec()
    truth["truth"]["item_probabilities"] = [[[0.7, 0.3], [0.4, 0.7]]]
    truth["truth"]["class_shares"] = [0.5, 0.5]
    assert problems_of(truth) == [
        "[truth].item_probabilities[0][1]: must be probabilities >= 0 summing to 1, "
        "got [0.4, 0.7]",
        "[truth].class_shares: lists 2 shares for 1 classes of item_probabilities",
    ]
    three = raw_spec(classes=3)
    assert problems_of(three) == [
        "[truth].item_probabilities: has 1 classes; the null of 2 vs 3 classes needs 2"
    ]
    neither = raw_spec()
    del neither["truth"]["item_probabilities"]
    assert problems_of(neither) == [
        "[truth]: give either item_probabilities (class x item x level) or items and "
        "levels (one class, every level equally likely)"
    ]
    missing_kind = raw_spec()
    del missing_kind["study"]["kind"]
    assert problems_of(missing_kind) == [
        '[study].kind: must be "bootstrap_lrt" in a bootstrap-LRT study, got None'
    ]
    # from a file: the message names it
    path = tmp_path / "lrt.toml"
    path.write_text(
        '[study]\nkind = "bootstrap_lrt"\nsizes = [60]\nn_bootstrap = 0\n'
        "[truth]\nitems = 4\nlevels = 3\n",
        encoding="utf-8",
    )
    with pytest.raises(SpecError, match=rf"{path}: \[study\]\.n_bootstrap: must be >= 1, got 0"):
        load_lrt_study_spec(path)


def test_items_and_levels_give_a_uniform_one_class_truth():
    raw = raw_spec()
    raw["truth"] = {"items": 4, "levels": 3}
    spec = parse_lrt_study_spec(raw)
    assert spec.class_shares == (1.0,)
    assert np.allclose(np.asarray(spec.item_probabilities), np.full((1, 4, 3), 1 / 3))
    raw["study"]["classes"] = 3
    assert problems_of(raw) == [
        "[truth]: items and levels give a one-class truth, but [study].classes = 3 tests "
        "2 against 3: give item_probabilities"
    ]


def test_the_logit_study_parser_sends_an_lrt_spec_to_its_own():
    with pytest.raises(SpecError) as caught:
        parse_study_spec({"study": {"kind": "bootstrap_lrt", "sizes": [30]}})
    assert caught.value.problems == [
        '[study].kind: "bootstrap_lrt" studies are read by '
        "bayes_cluster.studies.lrt_study.load_lrt_study_spec (the study command reads both "
        "kinds); this parser reads logit studies"
    ]
    with pytest.raises(SpecError) as caught:
        parse_study_spec({"study": {"kind": "probit", "sizes": [30]}})
    assert caught.value.problems == [
        '[study].kind: unknown kind \'probit\'; use "logit" or "bootstrap_lrt"'
    ]
    assert parse_study_spec({"study": {"kind": "logit", "sizes": [30]}}).sizes == (30,)


# --------------------------------------------------------------------------- one replicate


def test_a_replicate_is_the_direct_test_of_the_same_data_and_seed():
    spec = parse_lrt_study_spec(raw_spec())
    task = ReplicateTask("null", 40, 1)
    row = spec.run_replicate(task)
    assert list(row.columns) == list(LRT_REPLICATE_COLUMNS) and len(row) == 1
    # the data set built here independently: default_rng(data_seed + r), one class
    _, responses = simulate_responses(np.random.default_rng(1), np.ones(1), np.asarray(THETA), 40)
    direct = bootstrap_lrt(
        pd.DataFrame(responses, columns=list("abcde")), 2, n_bootstrap=9, seed=1001, **EM
    )
    got = row.iloc[0]
    assert (got["data_seed"], got["test_seed"], got["n_bootstrap"]) == (1, 1001, 9)
    assert got["statistic"] == direct.statistic
    assert got["p_value"] == direct.p_value
    assert got["log_likelihood_null"] == direct.log_likelihood_null
    assert got["n_single_start_optima"] == direct.n_single_start_optima
    assert not got["failed"] and got["cpu_seconds"] > 0
    # what local processes and Dask receive: the pickled bound method gives the same row
    shipped = pickle.loads(pickle.dumps(spec.run_replicate))
    again = shipped(task, 1)
    assert again.drop(columns=["seconds", "cpu_seconds"]).equals(
        row.drop(columns=["seconds", "cpu_seconds"])
    )


def test_a_failing_test_is_recorded_not_raised():
    # 11 vs 12 classes on 10 firms: bootstrap_lrt refuses; the study records it and goes on
    spec = dataclasses.replace(parse_lrt_study_spec(raw_spec()), classes=12)
    spec = dataclasses.replace(
        spec,
        class_shares=(1 / 11,) * 11,
        item_probabilities=tuple([spec.item_probabilities[0]] * 11),
    )
    row = spec.run_replicate(ReplicateTask("null", 10, 0)).iloc[0]
    assert row["failed"] and np.isnan(row["p_value"])
    assert row["note"].startswith("ValueError: k = 12 classes needs more than 12 firms")


# --------------------------------------------------------------------------- summary


def test_summary_counts_rejections_against_the_exact_binomial_band():
    spec = dataclasses.replace(
        parse_lrt_study_spec(raw_spec()), n_bootstrap=19, alphas=(0.05, 0.12)
    )
    p = np.array([0.05, 0.1, 0.5, 0.05 + 1e-13, 1.0, np.nan])
    frame = pd.DataFrame(
        {
            "n": 60,
            "p_value": p,
            "failed": np.isnan(p),
            "cpu_seconds": [1.0, 2.0, 3.0, 4.0, 5.0, 99.0],
            "seconds": 1.0,
        }
    )
    table = lrt_summary(frame, spec).set_index("alpha")
    five = table.loc[0.05]
    assert (five["data_sets"], five["failed"], five["rejections"]) == (5, 1, 2)
    assert five["rejection_rate"] == pytest.approx(0.4)
    assert five["mcse"] == pytest.approx(np.sqrt(0.4 * 0.6 / 5))
    assert (five["band_low"], five["band_high"]) == stats.binom.interval(0.99, 5, 0.05)
    assert five["cpu_seconds_per_test"] == pytest.approx(3.0)  # the failed test left out
    # alpha (B + 1) = 2.4 is not whole: the test's level is 2/20
    twelve = table.loc[0.12]
    assert twelve["exact_level"] == pytest.approx(0.10) and twelve["rejections"] == 3
    assert (twelve["band_low"], twelve["band_high"]) == stats.binom.interval(0.99, 5, 0.10)


# --------------------------------------------------------------------------- the engine


def test_the_engine_runs_it_resumes_and_keeps_its_folder(tmp_path):
    spec = parse_lrt_study_spec(raw_spec(sizes=[40, 50], replicates=2))
    out = tmp_path / "out"
    first = run_study(spec, out, progress=False, figures=False)
    assert first.computed == 4
    files = sorted((out / "replicates" / "null").iterdir())
    assert [f.name for f in files] == [
        "n0040_r00000.parquet",
        "n0040_r00001.parquet",
        "n0050_r00000.parquet",
        "n0050_r00001.parquet",
    ]
    stamps = [f.stat().st_mtime_ns for f in files]
    metrics = pd.read_csv(out / "metrics.csv")
    assert list(metrics["n"]) == [40, 50] and list(metrics["data_sets"]) == [2, 2]
    # a second run computes nothing, rewrites no replicate, gives the same table
    second = run_lrt_study(spec, out, progress=False)
    assert second.computed == 0 and pending_tasks(spec, out) == []
    assert [f.stat().st_mtime_ns for f in files] == stamps
    pd.testing.assert_frame_equal(
        second.replicates.drop(columns=["seconds", "cpu_seconds"]),
        first.replicates.drop(columns=["seconds", "cpu_seconds"]),
    )
    assert "| 40 | 0.1 | 2 |" in (out / "metrics.md").read_text(encoding="utf-8")
    # growing: only the new replicate is computed
    grown = run_lrt_study(dataclasses.replace(spec, replicates=3), out, progress=False)
    assert grown.computed == 2 and len(grown.replicates) == 6
    # another study (other seed, or a logit study) is refused before any work
    with pytest.raises(ValueError, match="holds replicates of a different study"):
        run_study(dataclasses.replace(spec, test_seed=7), out, progress=False)
    logit = parse_study_spec({"study": {"sizes": [30], "replicates": 1, "methods": ["mle"]}})
    with pytest.raises(ValueError, match="holds replicates of a different study"):
        run_study(logit, out, progress=False)


def test_cli_study_runs_the_lrt_kind(tmp_path, capsys):
    spec_file = tmp_path / "lrt.toml"
    spec_file.write_text(
        '[study]\nkind = "bootstrap_lrt"\nsizes = [40]\nreplicates = 2\nn_bootstrap = 9\n'
        "alpha = [0.1]\n[truth]\nitems = 4\nlevels = 2\n"
        "[em]\nn_starts = 1\nn_starts_alternative = 4\nn_starts_bootstrap = 4\n",
        encoding="utf-8",
    )
    out = tmp_path / "out"
    assert main(["study", str(spec_file), "--out", str(out), "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "| n | alpha | data sets | rejections |" in printed
    assert "2 replicates computed" in printed
    assert {"metrics.csv", "metrics.md", "replicates.parquet", "study.json"} <= {
        p.name for p in out.iterdir()
    }
    assert main(["study", str(spec_file), "--out", str(out), "--no-progress"]) == 0
    assert "resuming: 2 of 2 replicates" in capsys.readouterr().out
    bad = tmp_path / "bad.toml"
    bad.write_text('[study]\nkind = "bootstrap_lrt"\nsizes = [40]\n', encoding="utf-8")
    assert main(["study", str(bad), "--out", str(tmp_path / "new")]) == 1
    assert f"{bad}: [truth]: is required" in capsys.readouterr().err


def test_ctrl_c_during_a_test_saves_no_replicate(tmp_path, monkeypatch):
    # a library that swallows Ctrl-C and returns: the engine must not save that result
    from bayes_cluster.run import safety
    from bayes_cluster.studies import lrt_study

    monkeypatch.setitem(safety._STATE, "requested", False)
    real = lrt_study.bootstrap_lrt

    def interrupted_test(*args, **kwargs):
        result = real(*args, **kwargs)
        safety._STATE["requested"] = True  # as the SIGINT handler does
        return result

    monkeypatch.setattr(lrt_study, "bootstrap_lrt", interrupted_test)
    spec = parse_lrt_study_spec(raw_spec(replicates=2))
    out = tmp_path / "out"
    with pytest.raises(safety.Interrupted):
        run_study(spec, out, progress=False)
    assert list((out / "replicates").rglob("*.parquet")) == []
    assert len(pending_tasks(spec, out)) == 2

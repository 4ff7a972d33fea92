"""`bayes-cluster run` on small specs: seeds, interval levels, failure modes, item mapping.

The runs of this file (the logit-only pair, the joint spec, the full-settings logit, the
Markusen-item specs) are independent of the quick Tumang run that tests/test_run.py reads:
in a file of their own, pytest-xdist (``--dist loadfile``) runs them on the other worker.
"""

from __future__ import annotations

import html
import json
import re
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from run_outputs import (
    DATA,
    JOINT_FIGURES,
    JOINT_OTHER,
    JOINT_TABLES,
    LOGIT_ONLY,
    ROOT,
    TERMS,
    assert_figures_in_report,
    files_under,
    run_cli,
    vector_versions,
    write_spec,
)

from bayes_cluster.cli import main
from bayes_cluster.estimators.joint import JointLatentClassLogit
from bayes_cluster.run import pipeline
from bayes_cluster.run.context import SectionRunner
from bayes_cluster.run.spec import SpecError, load_spec
from bayes_cluster.surveys.markusen import MARKUSEN_ITEMS, MARKUSEN_TYPES, match_markusen_types

# --------------------------------------------------------------------------- small, fast specs


LOGIT_TWICE_TERMS = ["Intercept", "log(workers)", "buyer_network", "promotion"]


@pytest.fixture(scope="module")
def logit_run_twice(tmp_path_factory) -> tuple[Path, Path]:
    """The logit-only spec with a varying-intercept variant, run twice: (first, second).

    Its comparison is at ``[report] comparison_level = 0.9``, not the default 0.95, so the
    same two runs show both that a seed fixes every number and that every interval of the
    comparison follows the configured level (the frequentist fits are redone at 0.9, the
    Bayesian intervals recomputed from the draws).
    """
    folder = tmp_path_factory.mktemp("logit_twice")
    spec = write_spec(
        folder,
        LOGIT_ONLY
        + '\n[logistic.variants.lines]\ngroup = "product_line"\n'
        + "\n[report]\ncomparison_level = 0.9\n",
    )
    first, second = folder / "first", folder / "second"
    for out in (first, second):
        code, printed = run_cli(str(spec), "--out", str(out))
        assert code == 0, printed
    return first, second


def test_same_spec_and_seed_give_identical_numbers(logit_run_twice):
    first, second = logit_run_twice
    assert (first / "comparison.csv").read_bytes() == (second / "comparison.csv").read_bytes()
    for name in ("figures/forest_methods.png", "logistic/bayes_summary.csv"):
        assert (first / name).read_bytes() == (second / name).read_bytes(), name
    a = xr.open_datatree(first / "logistic" / "bayes_posterior.nc", engine="h5netcdf")
    b = xr.open_datatree(second / "logistic" / "bayes_posterior.nc", engine="h5netcdf")
    # the same draws (attrs differ only in creation and sampling times)
    xr.testing.assert_equal(a["posterior"].to_dataset(), b["posterior"].to_dataset())
    table = pd.read_csv(first / "comparison.csv")
    assert list(dict.fromkeys(table["term"])) == LOGIT_TWICE_TERMS


def test_run_comparison_is_at_the_configured_level(logit_run_twice):
    """``[report] comparison_level = 0.9``: every method's interval, and the report, at 90%."""
    import statsmodels.api as sm

    out, _ = logit_run_twice
    table = pd.read_csv(out / "comparison.csv")
    assert list(dict.fromkeys(table["method"])) == ["mle", "firth", "bayes", "bayes_lines"]
    assert set(table["interval"]) == {
        "90% Wald CI",
        "90% profile penalised-likelihood CI",
        "90% HDI",
    }
    # the MLE limits are statsmodels' 90% Wald limits (the run refits at the level)
    frame = pd.read_csv(DATA)
    predictors = frame[["workers", "buyer_network", "promotion"]].astype(float)
    predictors["workers"] = np.log(predictors["workers"])
    reference = sm.Logit(frame["export"].astype(float), sm.add_constant(predictors))
    limits = reference.fit(disp=0).conf_int(alpha=0.10)
    limits.index = LOGIT_TWICE_TERMS
    mle = table[table["method"] == "mle"].set_index("term")
    np.testing.assert_allclose(mle["ci_lower"], limits[0].loc[mle.index], rtol=1e-5)
    np.testing.assert_allclose(mle["ci_upper"], limits[1].loc[mle.index], rtol=1e-5)
    # a Bayesian 90% HDI holds 90% of the stored draws (one draw either way)
    tree = xr.open_datatree(out / "logistic" / "bayes_posterior.nc", engine="h5netcdf")
    draws = tree["posterior"]["beta"].sel(predictor="log(workers)").to_numpy().ravel()
    row = table[(table["method"] == "bayes") & (table["term"] == "log(workers)")].iloc[0]
    inside = ((draws >= row["ci_lower"]) & (draws <= row["ci_upper"])).mean()
    assert abs(inside - 0.9) <= 1.5 / draws.size
    # the report names the configured level in the comparison and the prior-sensitivity refit
    raw = (out / "report.html").read_text(encoding="utf-8")
    captions = [html.unescape(c) for c in re.findall(r"<caption>([^<]*)</caption>", raw)]
    kinds = (
        "mle: 90% Wald CI; firth: 90% profile penalised-likelihood CI; bayes: 90% HDI; "
        "bayes_lines: 90% HDI"
    )
    assert f"Conclusions by method (intervals: {kinds})" in captions
    assert f"The comparison table (comparison.csv; intervals: {kinds})" in captions
    assert any(
        c.startswith("Prior sensitivity: default prior against a prior 4 times wider (90% HDIs")
        for c in captions
    ), captions


def test_a_failing_section_leaves_the_previous_results_untouched(tmp_path, monkeypatch):
    spec = write_spec(tmp_path, LOGIT_ONLY.replace("[sampler]", "[report]\n[sampler]"))
    out = tmp_path / "results"
    out.mkdir()
    (out / "report.html").write_text("previous report")
    # a folder of an earlier run (only such a folder may be replaced; see test_output_safety)
    (out / "run.json").write_text('{"package": "bayes_cluster"}')

    written_before_the_crash = []

    def fail(context):
        written_before_the_crash.extend(files_under(context.folder))
        (context.folder / "half-written.csv").write_text("x")
        raise RuntimeError("sampler crashed")

    # the crash comes where the MCMC would start, after the data and frequentist sections
    # wrote their results into the run's folder (no MCMC fit is needed to show they go)
    at = [runner.name for runner in pipeline.SECTIONS].index("logistic")
    boom = SectionRunner("boom", lambda spec: True, fail)
    monkeypatch.setattr(
        pipeline, "SECTIONS", (*pipeline.SECTIONS[:at], boom, *pipeline.SECTIONS[at:])
    )
    with pytest.raises(RuntimeError, match="sampler crashed"):
        pipeline.run_spec(spec, out=out, stream=None)
    assert {"data_summary.csv", "logistic/mle_summary.csv"} <= set(written_before_the_crash)
    assert [p.name for p in tmp_path.iterdir() if p.name != "spec.toml"] == ["results"]
    assert sorted(p.name for p in out.iterdir()) == ["report.html", "run.json"]
    assert (out / "report.html").read_text() == "previous report"


@pytest.mark.parametrize(
    ("model", "sections"),
    [
        (
            "tumang",
            [
                "data",
                "latent_class",
                "frequentist",
                "logistic",
                "latent_class_bayes",
                "comparison",
            ],
        ),
        ("tumang_joint", ["data", "joint"]),
        ("tumang_logit_only", ["data", "frequentist", "logistic", "comparison"]),
    ],
)
def test_sections_run_in_order_each_where_its_spec_section_is(model, sections):
    # the Bayesian latent classes after the logits (a fit worker samples the logits
    # first), writing into the latent-class section: test_run.py checks the report order
    every = [
        "data",
        "latent_class",
        "frequentist",
        "logistic",
        "latent_class_bayes",
        "joint",
        "comparison",
    ]
    assert [runner.name for runner in pipeline.SECTIONS] == every
    spec = load_spec(ROOT / "models" / f"{model}.toml")
    assert [runner.name for runner in pipeline.SECTIONS if runner.applies(spec)] == sections


def test_frequentist_only_spec_on_a_survey_with_its_own_columns(tmp_path):
    rng = np.random.default_rng(5)
    gre = rng.integers(300, 800, size=80)
    rank = rng.integers(1, 5, size=80)
    admitted = (rng.random(80) < 1 / (1 + np.exp(-(-4 + 0.007 * gre - 0.4 * rank)))).astype(int)
    pd.DataFrame(
        {"student": [f"s{i}" for i in range(80)], "admitted": admitted, "gre": gre, "rank": rank}
    ).to_csv(tmp_path / "admissions.csv", index=False)
    spec = write_spec(
        tmp_path,
        """
        [data]
        path = "admissions.csv"
        id = "student"
        [data.columns]
        student = "id"
        admitted = "binary"
        gre = { kind = "number", minimum = 200 }
        rank = { kind = "likert", levels = [1, 2, 3, 4] }
        [logistic]
        outcome = "admitted"
        predictors = ["gre", "rank"]
        bayesian = false
        [frequentist]
        methods = ["mle"]
        [report]
        formats = ["md"]
        """,
        name="admissions.toml",
    )
    code, printed = run_cli(str(spec), "--out", str(tmp_path / "out"))
    assert code == 0
    table = pd.read_csv(tmp_path / "out" / "comparison.csv")
    assert table["method"].unique().tolist() == ["mle"]
    assert table["term"].tolist() == ["Intercept", "gre", "rank"]
    assert table["published"].isna().all()
    assert (tmp_path / "out" / "report.md").is_file()
    assert not (tmp_path / "out" / "report.html").exists()
    assert "MCMC diagnostics" not in printed  # no MCMC fit was asked for
    assert printed.strip().splitlines()[-1] == f"  Report: {tmp_path / 'out' / 'report.md'}"


def test_invalid_survey_is_reported_and_nothing_written(tmp_path, capsys):
    bad = DATA.read_text().replace("T001,0,15,", "T001,2,15,", 1)
    (tmp_path / "bad.csv").write_text(bad)
    spec = write_spec(tmp_path, LOGIT_ONLY.replace(DATA.as_posix(), "bad.csv"))
    before = set(tmp_path.rglob("*"))
    assert main(["run", str(spec), "--out", str(tmp_path / "out")]) == 1
    error = capsys.readouterr().err
    assert error.startswith("INVALID: ")
    assert "bad.csv" in error and "export" in error and "'2'" in error
    assert set(tmp_path.rglob("*")) == before


def test_transform_undefined_for_the_data_names_the_key(tmp_path, capsys):
    text = LOGIT_ONLY.replace('"buyer_network"', '"training"').replace(
        'workers = "log"', 'training = "log"'
    )
    spec = write_spec(tmp_path, text)
    assert main(["run", str(spec), "--out", str(tmp_path / "out")]) == 1
    error = capsys.readouterr().err
    assert f"{spec}: [logistic.transforms].training: log is undefined for" in error
    assert not (tmp_path / "out").exists()


# The [joint] section run through the CLI on its own (approaches = ["joint"], with
# covariates of class membership) is tests/test_joint_covariates.py::
# test_joint_covariates_run_writes_table_sentences_and_figure: one run checks both.


# --------------------------------------------------------------------------- full study (slow)


@pytest.mark.slow
def test_full_sampler_settings_make_the_logits_converge(tmp_path):
    """The README's settings (4 chains x 1000 draws, no --quick) on the export logits.

    The logit-only spec fits the same logits as models/tumang.toml at its full settings;
    the latent-class part of a full run is left to the quick run (its figures and tables)
    and to tests/test_latent_class.py (recovery), to keep CI within its time.
    """
    out = tmp_path / "logit"
    code, printed = run_cli(str(ROOT / "models" / "tumang_logit_only.toml"), "--out", str(out))
    assert code == 0, printed
    table = pd.read_csv(out / "comparison.csv")
    assert (table["run"] == "full").all()
    assert len(table) == 4 * len(TERMS)
    tree = xr.open_datatree(out / "logistic" / "bayes_posterior.nc", engine="h5netcdf")
    assert tree["posterior"].sizes["chain"] == 4 and tree["posterior"].sizes["draw"] == 1000
    report = (out / "report.md").read_text()
    assert "QUICK PREVIEW" not in report
    assert "## MCMC diagnostics" in report
    # with 4 x 1000 draws the logits converge
    record = json.loads((out / "run.json").read_text())
    assert record["run"] == "full"
    diagnostics = report[report.index("*Convergence verdict") :]
    for name in ("bayes", "bayes_hierarchical"):
        assert f"| {name} | passed |" in diagnostics, name


# --------------------------------------------------------------------------- joint model


@pytest.mark.slow  # the joint model compiles its own graph (about a minute on 2 cores)
def test_tumang_joint_run_produces_every_table_and_figure(tmp_path):
    out = tmp_path / "joint"
    code, printed = run_cli(str(ROOT / "models" / "tumang_joint.toml"), "--out", str(out),
                            "--quick")  # fmt: skip
    assert code == 0, printed
    assert files_under(out) == (
        JOINT_TABLES | JOINT_FIGURES | vector_versions(JOINT_FIGURES) | JOINT_OTHER
    )
    assert_figures_in_report(out, JOINT_FIGURES)
    # the joint posterior is written by the run (its provenance and run mode), and loads back
    tree = xr.open_datatree(out / "joint" / "joint_posterior.nc", engine="h5netcdf")
    assert tree.attrs["run_mode"] == "quick preview"
    assert tree.attrs["data_hash"] and tree.attrs["bayes_cluster_model"] == "JointLatentClassLogit"
    # the spec's [sampler.quick].backend reaches the joint model (it was always nutpie)
    assert tree.attrs["sampler"] == "nutpie_c"
    model = JointLatentClassLogit.load(out / "joint" / "joint_posterior.nc")
    assert model.summary().loc[:, "mean"].notna().all()
    # every table carries the run column, written once by the run context
    for name in ("joint_coefficients.csv", "joint_class_effect.csv", "joint_elpd.csv"):
        table = pd.read_csv(out / "joint" / name)
        assert list(table.columns[:1]) == ["approach"] and (table["run"] == "quick preview").all()


# --------------------------------------------------------------------------- Markusen items

RENAMED = {item: f"q{j + 1:02d}" for j, item in enumerate(MARKUSEN_ITEMS)}
"""The twelve Markusen items under names a survey might give them."""


def write_items_spec(
    folder: Path,
    *,
    mapping: dict[str, str] | None,
    renamed: bool = True,
    bayesian: bool = False,
) -> Path:
    """A latent-class-only spec on the Tumang items, optionally renamed ``q01``..``q12``."""
    frame = pd.read_csv(DATA)[["firm_id", *MARKUSEN_ITEMS]]
    if renamed:
        frame = frame.rename(columns=RENAMED)
    frame.to_csv(folder / "items.csv", index=False)
    items = list(RENAMED.values()) if renamed else list(MARKUSEN_ITEMS)
    columns = "\n".join(f'{c} = {{ kind = "likert", levels = [1, 2, 3, 4, 5] }}' for c in items)
    mapped = "\n".join(f'{column} = "{name}"' for column, name in (mapping or {}).items())
    text = textwrap.dedent(
        """
        [data]
        path = "items.csv"
        id = "firm_id"
        [data.columns]
        firm_id = "id"
        {columns}
        [latent_class]
        items = [{items}]
        n_classes = 2
        collapse = [[1, 2], [3], [4, 5]]
        em_starts = 5
        bayesian = {bayesian}
        {mapping}
        [sampler]
        draws = 100
        tune = 100
        chains = 2
        backend = "pymc"
        seed = 7
        [report]
        formats = ["md"]
        """
    ).format(
        columns=columns,
        items=", ".join(f'"{c}"' for c in items),
        bayesian=str(bayesian).lower(),
        mapping=f"[latent_class.markusen_items]\n{mapped}" if mapping else "",
    )
    path = folder / "items.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_markusen_items_are_validated_naming_file_and_key(tmp_path):
    spec = write_items_spec(tmp_path, mapping={"q01": "mk_small_local_firms"})
    text = spec.read_text().replace(
        'q01 = "mk_small_local_firms"',
        "\n".join(
            [
                'q01 = "mk_small_firms"',  # not a Markusen item
                'q02 = "mk_cooperation"',  # two columns on one item
                'q03 = "mk_cooperation"',
                'q99 = "mk_local_trade"',  # no such column
                "q04 = 4",  # not a name
            ]
        ),
    )
    spec.write_text(text)
    with pytest.raises(SpecError) as caught:
        load_spec(spec)
    key = f"{spec}: [latent_class.markusen_items]"
    known = ", ".join(MARKUSEN_ITEMS)
    columns = ", ".join(["firm_id", *RENAMED.values()])
    assert caught.value.problems == [
        f"[latent_class.markusen_items].q01: unknown Markusen item 'mk_small_firms'; known: "
        f"{known}",
        "[latent_class.markusen_items].q99: column 'q99' is not in the data's codebook "
        f"(columns: {columns})",
        "[latent_class.markusen_items].q04: must be a Markusen item name (a string), got 4",
        "[latent_class.markusen_items].q02: Markusen item 'mk_cooperation' would be given to "
        "2 columns (q02, q03); each Markusen item may name one column only",
    ]
    assert f"{key}.q01: unknown Markusen item 'mk_small_firms'" in str(caught.value)


def test_markusen_items_must_be_latent_class_items_and_keep_names_distinct(tmp_path):
    # firm_id is a column of the data but not an item; an item column may not take the
    # name another item already has
    spec = write_items_spec(
        tmp_path,
        mapping={"mk_cooperation": "mk_local_finance", "firm_id": "mk_local_labour"},
        renamed=False,
    )
    with pytest.raises(SpecError) as caught:
        load_spec(spec)
    assert caught.value.problems == [
        "[latent_class.markusen_items].firm_id: column 'firm_id' is not one of the "
        f"[latent_class] items ({', '.join(MARKUSEN_ITEMS)})",
        "[latent_class.markusen_items].mk_cooperation: Markusen item 'mk_local_finance' would "
        "be given to 2 columns (mk_cooperation, mk_local_finance); each Markusen item may name "
        "one column only",
    ]


def test_mapped_items_give_the_same_scoring_and_typing_as_markusen_names(tmp_path):
    (tmp_path / "mapped").mkdir()
    (tmp_path / "named").mkdir()
    mapping = {column: item for item, column in RENAMED.items()}
    mapped = write_items_spec(tmp_path / "mapped", mapping=mapping)
    named = write_items_spec(tmp_path / "named", mapping=None, renamed=False)
    code, printed = run_cli(str(mapped), "--out", str(tmp_path / "mapped" / "out"))
    assert code == 0, printed
    assert run_cli(str(named), "--out", str(tmp_path / "named" / "out"))[0] == 0
    for table in (
        "descriptive_items.csv",
        "descriptive_types.csv",
        "em_classes.csv",
        "em_item_probabilities.csv",
        "em_markusen_typing.csv",
    ):
        first = tmp_path / "mapped" / "out" / "latent_class" / table
        second = tmp_path / "named" / "out" / "latent_class" / table
        assert first.read_bytes() == second.read_bytes(), table
    # the descriptive verdict is the thesis's rule on the original columns
    from bayes_cluster.surveys.markusen import descriptive_scoring

    expected = descriptive_scoring(pd.read_csv(DATA)).verdict
    assert f"  Cluster pattern, descriptive scoring: {expected}" in printed.splitlines()
    report = (tmp_path / "mapped" / "out" / "report.md").read_text()
    assert "`q01` -> `mk_small_local_firms`" in report
    assert "No cluster-pattern verdict" not in report


def test_items_that_cannot_be_typed_say_why_in_report_and_summary(tmp_path):
    mapping = {RENAMED[item]: item for item in MARKUSEN_ITEMS[:-1]}  # q12 left out
    spec = write_items_spec(tmp_path, mapping=mapping)
    code, printed = run_cli(str(spec), "--out", str(tmp_path / "out"))
    assert code == 0, printed
    out = tmp_path / "out"
    message = (
        "No cluster-pattern verdict: 1 of the 12 items (`q12`) are not Markusen items, so the "
        "descriptive scoring and the Markusen typing of the latent classes were left out (the "
        "latent classes are fitted all the same). To type them, map every item column to the "
        "Markusen item it measures in the spec: `[latent_class.markusen_items]` with "
        '`q12 = "mk_..."` (item names: bayes_cluster.surveys.markusen.MARKUSEN_ITEMS; see '
        "docs/spec.md)."
    )
    assert f"  Cluster pattern: {message}" in printed.splitlines()
    assert f"> **NOTE** {message}" in (out / "report.md").read_text()
    record = json.loads((out / "run.json").read_text())
    assert record["verdicts"]["cluster_verdict_missing"] == message
    # the classes are still fitted, only the Markusen parts are left out
    assert files_under(out / "latent_class") == {
        "em_bootstrap_lrt.csv",
        "em_classes.csv",
        "em_fit_statistics.csv",
        "em_item_probabilities.csv",
    }


@pytest.mark.slow  # one Bayesian latent-class fit (MCMC) and its predictive check
def test_bayesian_typing_uses_the_mapped_names(tmp_path):
    mapping = {column: item for item, column in RENAMED.items()}
    spec = write_items_spec(tmp_path, mapping=mapping, bayesian=True)
    code, printed = run_cli(str(spec), "--out", str(tmp_path / "out"))
    assert code == 0, printed
    out = tmp_path / "out" / "latent_class"
    tree = xr.open_datatree(out / "bayes_posterior_K2.nc", engine="h5netcdf")
    theta = tree["posterior"]["theta"]
    assert [str(v) for v in theta["item"].to_numpy()] == list(MARKUSEN_ITEMS)
    # P(type) of each class, recomputed from the saved draws
    types = match_markusen_types(theta).argmax("markusen_type").to_numpy()
    typing = pd.read_csv(out / "bayes_markusen_typing.csv", index_col="latent_class")
    for k in (1, 2):
        expected = [(types[..., k - 1] == t).mean() for t in range(len(MARKUSEN_TYPES))]
        np.testing.assert_allclose(typing.loc[k, list(MARKUSEN_TYPES)], expected)
    assert any(line.startswith("  Latent classes, Bayesian: ") for line in printed.splitlines())


# --------------------------------------------------------------------------- new figures


@pytest.mark.parametrize(
    ("columns", "sign"),
    [({}, 1.0), ({"elpd": "elpd_loo", "diff_se": "se_diff"}, -1.0)],
    ids=["arviz_stats.compare", "compare_n_classes"],
)
def test_elpd_comparison_places_each_model_by_its_gap_to_the_best(columns, sign):
    from bayes_cluster.plots.compare import plot_elpd_comparison

    # arviz_stats.compare writes elpd_diff as best - model; compare_n_classes as model - best
    table = pd.DataFrame(
        {
            columns.get("elpd", "elpd"): [-30.0, -33.5, -41.0],
            "se": [4.0, 4.2, 5.0],
            "elpd_diff": [0.0, 3.0 * sign, 10.0 * sign],
            columns.get("diff_se", "dse"): [0.0, 1.1, 2.5],
        },
        index=["hierarchical", "flat", "null"],
    )
    figure = plot_elpd_comparison(table, **columns)
    axis = figure.axes[0]
    models, gaps = axis.containers
    np.testing.assert_allclose(models.lines[0].get_xdata(), [-30.0, -33.5, -41.0])
    # the gaps hang from the best model's ELPD, one per other model, with their own SEs
    np.testing.assert_allclose(gaps.lines[0].get_xdata(), [-33.0, -40.0])
    segments = gaps.lines[2][0].get_segments()
    np.testing.assert_allclose([s[1][0] - s[0][0] for s in segments], [2.2, 5.0])
    assert [t.get_text() for t in axis.get_yticklabels()] == ["hierarchical", "flat", "null"]


def test_bivariate_residuals_put_residuals_below_and_p_values_above():
    from bayes_cluster.plots.latent_class import plot_bivariate_residuals

    pairs = pd.DataFrame(
        {"bvr_observed": [0.4, 5.25, 0.8], "p_bvr": [0.6, 0.01, 0.4]},
        index=pd.MultiIndex.from_tuples(
            [("a", "b"), ("a", "c"), ("b", "c")], names=["item_1", "item_2"]
        ),
    )
    axis = plot_bivariate_residuals(pairs).axes[0]
    cells = {(t.get_position()[1], t.get_position()[0]): t.get_text() for t in axis.texts}
    # (row, column): residuals below the diagonal, p-values above
    assert cells == {
        (1, 0): "0.4", (2, 0): "5.2", (2, 1): "0.8",
        (0, 1): "0.60", (0, 2): "0.01", (1, 2): "0.40",
    }  # fmt: skip
    # the one pair with p < 0.05 is outlined in both triangles
    corners = sorted(patch.get_xy() for patch in axis.patches)
    assert corners == [(-0.5 + 0, -0.5 + 2), (-0.5 + 2, -0.5 + 0)]

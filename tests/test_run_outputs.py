"""What a run must produce: every table and figure, each figure in the report with a caption.

The lists below are written out by hand on purpose: a table or figure that a run stops
producing (or a new one nobody listed) fails here instead of going missing quietly.  They
also cover the Markusen item mapping (``[latent_class.markusen_items]``) and the message a
run gives when its items cannot be typed.
"""

from __future__ import annotations

import contextlib
import html
import io
import json
import re
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from bayes_cluster.cli import main
from bayes_cluster.markusen import MARKUSEN_ITEMS, MARKUSEN_TYPES, match_markusen_types
from bayes_cluster.spec import SpecError, load_spec

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data" / "tumang_synthetic.csv"

# ---------------------------------------------------------------- models/tumang.toml

TUMANG_TABLES = {
    "comparison.csv",
    "data_summary.csv",
    "diagnostics/bayes.csv",
    "diagnostics/bayes_hierarchical.csv",
    "diagnostics/latent_classes_k_1.csv",
    "diagnostics/latent_classes_k_2.csv",
    "diagnostics/latent_classes_k_3.csv",
    "latent_class/bayes_class_probabilities.csv",
    "latent_class/bayes_cluster_verdict.csv",
    "latent_class/bayes_markusen_typing.csv",
    "latent_class/bayes_ppc_item_shares.csv",
    "latent_class/bayes_ppc_pairs.csv",
    "latent_class/bayes_summary_K1.csv",
    "latent_class/bayes_summary_K2.csv",
    "latent_class/bayes_summary_K3.csv",
    "latent_class/descriptive_items.csv",
    "latent_class/descriptive_types.csv",
    "latent_class/em_classes.csv",
    "latent_class/em_fit_statistics.csv",
    "latent_class/em_item_probabilities.csv",
    "latent_class/em_markusen_typing.csv",
    "latent_class/loo_comparison.csv",
    "latent_class/verdict_by_n_classes.csv",
    "logistic/bayes_hierarchical_priors.csv",
    "logistic/bayes_hierarchical_summary.csv",
    "logistic/bayes_priors.csv",
    "logistic/bayes_summary.csv",
    "logistic/firth_summary.csv",
    "logistic/loo_comparison.csv",
    "logistic/mle_classification.csv",
    "logistic/mle_fit_statistics.csv",
    "logistic/mle_summary.csv",
    "logistic/prior_sensitivity.csv",
    # issue 14: the hierarchy pooled, the base logit under a wider prior
    "logistic/bayes_hierarchical_group_shrinkage.csv",
    "logistic/prior_sensitivity_wide.csv",
    "diagnostics/bayes_wide_prior.csv",
}
TUMANG_FIGURES = {
    "figures/forest_methods.png",
    # cluster pattern: descriptive scoring and EM
    "figures/markusen_descriptive.png",
    "figures/em_markusen_match.png",
    "figures/em_item_profiles.png",
    # cluster pattern: Bayesian latent classes
    "figures/latent_class_loo.png",
    "figures/markusen_verdict.png",
    "figures/markusen_type_shares.png",
    "figures/latent_class_profiles.png",
    "figures/latent_class_shares.png",
    "figures/latent_class_membership.png",
    "figures/latent_class_ppc.png",
    "figures/latent_class_bivariate_residuals.png",
    # export logits
    *(
        f"figures/{model}_{figure}.png"
        for model in ("bayes", "bayes_hierarchical")
        for figure in ("calibration", "separation", "loo_pit", "odds_ratios", "prior_posterior")
    ),
    "figures/loo_comparison.png",
    # issue 14: shrinkage of the product lines, the headline coefficients under a wider prior
    "figures/bayes_hierarchical_shrinkage.png",
    "figures/prior_sensitivity.png",
}
TUMANG_OTHER = {
    "comparison.md",
    "comparison.tex",
    # journal output: one booktabs table per question and the Methods text
    "tables/export_coefficients.tex",
    "tables/cluster_verdict.tex",
    "tables/model_comparison.tex",
    "methods.md",
    "report.html",
    "report.md",
    "run.json",
    "latent_class/bayes_posterior_K1.nc",
    "latent_class/bayes_posterior_K2.nc",
    "latent_class/bayes_posterior_K3.nc",
    "logistic/bayes_posterior.nc",
    "logistic/bayes_hierarchical_posterior.nc",
}

# ---------------------------------------------------------------- models/tumang_joint.toml

JOINT_TABLES = {
    "data_summary.csv",
    "diagnostics/joint_joint.csv",
    "diagnostics/joint_no_class.csv",
    "diagnostics/joint_three_step_ml.csv",
    "diagnostics/joint_two_step.csv",
    "joint/joint_class_effect.csv",
    "joint/joint_coefficients.csv",
    "joint/joint_elpd.csv",
}
JOINT_FIGURES = {"figures/joint_comparison.png", "figures/joint_calibration.png"}
JOINT_OTHER = {"report.html", "report.md", "run.json", "joint/joint_comparison.md",
               "joint/joint_posterior.nc", "methods.md"}  # fmt: skip


def vector_versions(figures: set[str]) -> set[str]:
    """The PDF and SVG written beside every PNG figure."""
    return {
        str(Path(figure).with_suffix(suffix)) for figure in figures for suffix in (".pdf", ".svg")
    }


def run_cli(*args: str) -> tuple[int, str]:
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(io.StringIO()):
        code = main(["run", *args])
    return code, stdout.getvalue()


def files_under(folder: Path) -> set[str]:
    return {path.relative_to(folder).as_posix() for path in folder.rglob("*") if path.is_file()}


def assert_figures_in_report(out: Path, figures: set[str]) -> None:
    """Each figure appears once in report.md and report.html, with a caption."""
    markdown = (out / "report.md").read_text(encoding="utf-8")
    linked = re.findall(r"^!\[([^\]]*)\]\(([^)]+)\)$", markdown, flags=re.MULTILINE)
    assert sorted(path for _, path in linked) == sorted(figures)
    for caption, path in linked:
        assert len(caption) > 20, (path, caption)
        # the caption is also printed under the image
        assert f"\n*{caption}*\n" in markdown, path
    page = (out / "report.html").read_text(encoding="utf-8")
    shown = re.findall(
        r'<figure><img alt="([^"]*)" src="data:image/png;base64,[^"]+"><figcaption>(.*?)'
        r"</figcaption></figure>",
        page,
    )
    assert len(shown) == len(figures)
    captions = {caption for caption, _ in linked}
    assert {html.unescape(alt) for alt, _ in shown} == captions


# --------------------------------------------------------------------------- Tumang study


@pytest.fixture(
    scope="module",
    params=["--quick", pytest.param("full", marks=pytest.mark.slow)],
)
def tumang_run(request):
    """The session's Tumang runs (tests/conftest.py), shared with tests/test_run.py."""
    name = "tumang_full_run" if request.param == "full" else "tumang_quick_run"
    return request.getfixturevalue(name)


def test_tumang_run_produces_every_table_and_figure(tumang_run):
    out, _ = tumang_run
    verdicts = json.loads((out / "run.json").read_text())["verdicts"]
    # the figures of a typed multi-class model: on these data EM and LOO both pick K > 1
    assert verdicts["em_n_classes_bic"] > 1
    assert verdicts["bayes_n_classes_loo"] > 1
    assert files_under(out) == (
        TUMANG_TABLES | TUMANG_FIGURES | vector_versions(TUMANG_FIGURES) | TUMANG_OTHER
    )


def test_tumang_report_shows_every_figure_with_a_caption(tumang_run):
    out, _ = tumang_run
    assert_figures_in_report(out, TUMANG_FIGURES)
    markdown = (out / "report.md").read_text(encoding="utf-8")
    # the latent-class posterior predictive check says what to look for
    ppc = re.search(r"!\[(Posterior predictive check of the item response shares[^\]]*)\]",
                    markdown)  # fmt: skip
    assert ppc is not None
    assert "Look for dots outside their bars" in ppc.group(1)
    assert "Look for outlined pairs (p < 0.05)" in markdown
    assert "**Posterior predictive check** of the chosen model" in markdown


def test_tumang_ppc_tables_hold_the_check_of_the_chosen_model(tumang_run):
    out, _ = tumang_run
    chosen = json.loads((out / "run.json").read_text())["verdicts"]["bayes_n_classes_loo"]
    shares = pd.read_csv(out / "latent_class" / "bayes_ppc_item_shares.csv")
    # 12 Markusen items x 3 collapsed categories; shares of each item sum to one
    assert len(shares) == len(MARKUSEN_ITEMS) * 3
    np.testing.assert_allclose(shares.groupby("item")["observed_share"].sum(), 1.0)
    assert shares["p_two_sided"].between(0, 1).all()
    pairs = pd.read_csv(out / "latent_class" / "bayes_ppc_pairs.csv")
    assert len(pairs) == len(MARKUSEN_ITEMS) * (len(MARKUSEN_ITEMS) - 1) // 2
    assert pairs["p_bvr"].between(0, 1).all()
    # the observed item shares come from the data alone: check them against the survey
    frame = pd.read_csv(DATA)
    agree = (frame["mk_cooperation"] >= 4).mean()
    row = shares[(shares["item"] == "mk_cooperation") & (shares["category"] == 3)]
    assert row["observed_share"].item() == pytest.approx(agree)
    markdown = (out / "report.md").read_text(encoding="utf-8")
    assert f"of the chosen model (K = {chosen})" in markdown


# --------------------------------------------------------------------------- joint model


@pytest.mark.slow  # the joint model compiles its own graph (about a minute on 2 cores)
def test_tumang_joint_run_produces_every_table_and_figure(tmp_path):
    out = tmp_path / "joint"
    code, printed = run_cli(str(ROOT / "models" / "tumang_joint.toml"), "--out", str(out),
                            "--quick")  # fmt: skip
    assert code == 0, printed
    # the joint section's figures are drawn and saved by joint.run_joint_section (PNG only,
    # 150 dpi), not through RunContext.save_figure: no PDF/SVG versions yet
    assert files_under(out) == JOINT_TABLES | JOINT_FIGURES | JOINT_OTHER
    assert_figures_in_report(out, JOINT_FIGURES)


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
    from bayes_cluster.markusen import descriptive_scoring

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
        '`q12 = "mk_..."` (item names: bayes_cluster.markusen.MARKUSEN_ITEMS; see '
        "docs/spec.md)."
    )
    assert f"  Cluster pattern: {message}" in printed.splitlines()
    assert f"> **NOTE** {message}" in (out / "report.md").read_text()
    record = json.loads((out / "run.json").read_text())
    assert record["verdicts"]["cluster_verdict_missing"] == message
    # the classes are still fitted, only the Markusen parts are left out
    assert files_under(out / "latent_class") == {
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

"""`[latent_class] measurement = "ordinal"`: the spec key and a small run of it.

The run fits the ordinal and the nominal latent classes for every K on the same
uncollapsed answers, compares them by PSIS-LOO and types the ordinal classes.
"""

from __future__ import annotations

import contextlib
import io
import json
import textwrap
from pathlib import Path

import pandas as pd
import pytest

from bayes_cluster.cli import main
from bayes_cluster.run.spec import SpecError, load_spec

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data" / "tumang_synthetic.csv"

LATENT = f"""
[data]
path = "{DATA.as_posix()}"
codebook = "tumang"

[latent_class]
item_prefix = "mk_"
"""

SMALL_RUN = (
    LATENT
    + """n_classes = [1, 2]
measurement = "ordinal"
collapse = "none"
em_starts = 5
bootstrap_samples = 19

[sampler]
draws = 100
tune = 100
chains = 2
backend = "nutpie_c"
seed = 7
"""
)


def write(tmp_path: Path, text: str, name: str = "spec.toml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_bundled_ordinal_spec_loads_and_is_feasible():
    from bayes_cluster.run.feasibility import check_feasibility
    from bayes_cluster.surveys.survey import load_survey, tumang_data_path

    spec = load_spec(ROOT / "models" / "tumang_ordinal.toml")
    assert spec.latent_class.measurement == "ordinal"
    assert spec.latent_class.collapse is None
    assert spec.latent_class.n_classes == (1, 2, 3)
    assert spec.logistic is None
    assert check_feasibility(spec, load_survey(tumang_data_path())) == []


def test_measurement_defaults_to_nominal(tmp_path):
    assert load_spec(write(tmp_path, LATENT)).latent_class.measurement == "nominal"
    tumang = load_spec(ROOT / "models" / "tumang.toml")
    assert tumang.latent_class.measurement == "nominal"


@pytest.mark.parametrize(
    ("lines", "problem"),
    [
        (
            'measurement = "likert"',
            "[latent_class].measurement: must be 'nominal' or 'ordinal', got 'likert'",
        ),
        ("measurement = 3", "[latent_class].measurement: must be a string, got 3"),
        (
            'measurement = "ordinal"\ncollapse = "three"',
            "[latent_class].measurement: the ordinal model reads the item levels in their "
            'order, uncollapsed: set collapse = "none" (or leave collapse out)',
        ),
    ],
)
def test_bad_measurement_names_file_key_and_value(tmp_path, lines, problem):
    path = write(tmp_path, LATENT + lines + "\n")
    with pytest.raises(SpecError) as caught:
        load_spec(path)
    assert caught.value.problems == [problem]
    assert f"{path}: {problem}" in str(caught.value)


@pytest.fixture(scope="module")
def ordinal_run(tmp_path_factory) -> tuple[Path, str]:
    folder = tmp_path_factory.mktemp("ordinal")
    spec = write(folder, SMALL_RUN)
    out = folder / "out"
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(io.StringIO()):
        code = main(["run", str(spec), "--out", str(out)])
    assert code == 0, stdout.getvalue()
    return out, stdout.getvalue()


@pytest.mark.slow
def test_ordinal_run_compares_ordinal_with_nominal(ordinal_run):
    out, _ = ordinal_run
    table = pd.read_csv(out / "latent_class" / "ordinal_vs_nominal_loo.csv", index_col=0)
    assert list(table.index) == ["K=1", "K=2"]
    assert table["elpd_diff"].to_numpy() == pytest.approx(  # CSV: 10 digits
        (table["elpd_ordinal"] - table["elpd_nominal"]).to_numpy(), abs=1e-5
    )
    assert (table["se_diff"] > 0).all()
    assert set(table["preferred"]) <= {"ordinal", "nominal", "neither (gap within 2 SE)"}
    for k, row in table.iterrows():
        gap, se = row["elpd_diff"], row["se_diff"]
        expected = "neither (gap within 2 SE)" if abs(gap) <= 2 * se else None
        if expected is None:
            expected = "ordinal" if gap > 0 else "nominal"
        assert row["preferred"] == expected, k
    # the ordinal model (fewer parameters per item) has the smaller p_loo at K = 2
    assert table.loc["K=2", "p_loo_ordinal"] < table.loc["K=2", "p_loo_nominal"]


@pytest.mark.slow
def test_ordinal_run_uses_the_ordinal_model_and_reports_it(ordinal_run):
    out, _ = ordinal_run
    lc = out / "latent_class"
    for k in (1, 2):
        assert (out / "diagnostics" / f"latent_classes_ordinal_k_{k}.csv").is_file()
        assert (out / "diagnostics" / f"latent_classes_k_{k}.csv").is_file()
        assert (lc / f"bayes_ordinal_posterior_K{k}.nc").is_file()
        assert (lc / f"bayes_posterior_K{k}.nc").is_file()
    summary = pd.read_csv(lc / "bayes_ordinal_summary_K2.csv", index_col=0)
    assert any(str(name).startswith("cutpoints") for name in summary.index)
    assert any(str(name).startswith("mu") for name in summary.index)
    # the K comparison, the verdict and the typing come from the ordinal fits
    loo = pd.read_csv(lc / "loo_comparison.csv", index_col=0)
    ordinal = pd.read_csv(lc / "ordinal_vs_nominal_loo.csv", index_col=0)
    for k in ("K=1", "K=2"):
        assert loo.loc[k, "elpd_loo"] == pytest.approx(ordinal.loc[k, "elpd_ordinal"])
    assert (lc / "bayes_markusen_typing.csv").is_file()
    assert (lc / "bayes_cluster_verdict.csv").is_file()
    report = (out / "report.md").read_text(encoding="utf-8")
    assert "Ordinal against nominal latent classes by PSIS-LOO" in report
    assert "latent classes ordinal K=2" in report
    run = json.loads((out / "run.json").read_text(encoding="utf-8"))
    assert set(run["verdicts"]["ordinal_vs_nominal"]) == {"K=1", "K=2"}


@pytest.mark.slow
def test_ordinal_run_writes_its_promised_outputs(ordinal_run):
    from run_outputs import ordinal_outputs, vector_versions

    out, _ = ordinal_run
    tables, figures, other = ordinal_outputs((1, 2))
    for name in tables | figures | vector_versions(figures) | other:
        assert (out / name).is_file(), name


@pytest.mark.slow
def test_ordinal_run_compares_measurements_by_bic_and_loo(ordinal_run):
    import numpy as np

    out, _ = ordinal_run
    lc = out / "latent_class"
    table = pd.read_csv(lc / "ordinal_vs_nominal.csv", index_col=[0, 1])
    loo = pd.read_csv(lc / "ordinal_vs_nominal_loo.csv", index_col=0)
    assert list(table.index) == [(k, m) for k in (1, 2) for m in ("ordinal", "nominal")]
    n_firms = len(pd.read_csv(DATA))
    # BIC = -2 LL + ln(N) npar, from the table's own columns
    np.testing.assert_allclose(
        table["bic"], -2 * table["log_likelihood"] + np.log(n_firms) * table["n_parameters"]
    )
    # parameters on 12 five-level items: ordinal (K-1) + 12 (K-1+4), nominal (K-1) + 12 K 4
    assert table.loc[(2, "ordinal"), "n_parameters"] == 1 + 12 * 5
    assert table.loc[(2, "nominal"), "n_parameters"] == 1 + 12 * 2 * 4
    # with one class the two models are the item margins against a cumulative logit
    # with one location per item: the same fit (4 free numbers per item either way)
    assert table.loc[(1, "ordinal"), "log_likelihood"] == pytest.approx(
        table.loc[(1, "nominal"), "log_likelihood"], abs=1e-4
    )
    for k in (1, 2):
        for measurement in ("ordinal", "nominal"):
            assert table.loc[(k, measurement), "elpd_loo"] == pytest.approx(
                loo.loc[f"K={k}", f"elpd_{measurement}"]
            )
        assert table.loc[(k, "ordinal"), "elpd_diff"] == pytest.approx(
            loo.loc[f"K={k}", "elpd_diff"]
        )
    report = (out / "report.md").read_text(encoding="utf-8")
    assert "**Ordinal or nominal?** K = 1: BIC prefers the" in report
    assert "figures/ordinal_prior_predictive.png" in report


def test_ordinal_needs_items_on_the_same_levels(tmp_path):
    (tmp_path / "survey.csv").write_text("firm,q1,q2\na,1,1\nb,5,3\n", encoding="utf-8")
    text = """
    [data]
    path = "survey.csv"
    id = "firm"

    [data.columns]
    firm = "id"
    q1 = { kind = "likert", levels = [1, 2, 3, 4, 5] }
    q2 = { kind = "likert", levels = [1, 2, 3] }

    [latent_class]
    items = ["q1", "q2"]
    measurement = "ordinal"
    """
    problem = (
        "[latent_class].measurement: the ordinal model needs every item on the same levels, "
        "but the codebook gives q1: [1, 2, 3, 4, 5]; q2: [1, 2, 3]"
    )
    with pytest.raises(SpecError) as caught:
        load_spec(write(tmp_path, text))
    assert problem in caught.value.problems
    # the same survey read as nominal items is a valid spec
    nominal = load_spec(write(tmp_path, text.replace('"ordinal"', '"nominal"'), "n.toml"))
    assert nominal.latent_class.measurement == "nominal"


def test_methods_text_describes_the_ordinal_model_it_fits():
    from bayes_cluster.run.methods_text import methods_text

    spec = load_spec(ROOT / "models" / "tumang_ordinal.toml")
    text = methods_text(spec, sampler=spec.sampler, n_firms=60, versions={}).to_markdown()
    assert "an ordinal latent class model treated each item as a cumulative logit" in text
    assert "Normal(0, 2); cutpoints ordered Normal(0, 3)" in text
    nominal = load_spec(ROOT / "models" / "tumang.toml")
    other = methods_text(nominal, sampler=nominal.sampler, n_firms=60, versions={})
    assert "ordinal" not in other.to_markdown()

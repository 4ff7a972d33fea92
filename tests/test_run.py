"""`bayes-cluster run models/tumang.toml`: the whole study end to end and what it writes.

What a run must produce: every table and figure, each figure in the report with a caption.
The lists (tests/run_outputs.py) are written out by hand on purpose: a table or figure that
a run stops producing (or a new one nobody listed) fails here instead of going missing
quietly.

The quick Tumang run is a session fixture (tests/conftest.py), run once and read by every
test here: keeping these tests in one file keeps them on one pytest-xdist worker
(``--dist loadfile``), so the run happens once. Runs of other specs (seeds, interval
levels, failure modes, the joint spec, item mapping) are in tests/test_run_specs.py, so
the other worker takes them.
"""

from __future__ import annotations

import base64
import html
import json
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from run_outputs import (
    DATA,
    TERMS,
    THESIS,
    TRUTH,
    assert_figures_in_report,
    files_under,
    tumang_outputs,
    vector_versions,
)

from bayes_cluster.analyses.compare import COMPARISON_COLUMNS
from bayes_cluster.surveys.codebook import TUMANG_PREDICTORS
from bayes_cluster.surveys.markusen import MARKUSEN_ITEMS

# --------------------------------------------------------------------------- quick, end to end


@pytest.fixture(scope="module")
def quick_run(tumang_quick_run):
    """The session's quick Tumang run (tests/conftest.py), shared by this file's tests."""
    return tumang_quick_run


def test_quick_run_writes_every_output_at_its_fixed_path(quick_run):
    out, _ = quick_run
    for name in (
        "comparison.csv",
        "comparison.md",
        "comparison.tex",
        "report.html",
        "report.md",
        "run.json",
        "data_summary.csv",
        "logistic/mle_summary.csv",
        "logistic/mle_fit_statistics.csv",
        "logistic/firth_summary.csv",
        "logistic/bayes_summary.csv",
        "logistic/bayes_posterior.nc",
        "logistic/bayes_hierarchical_summary.csv",
        "logistic/bayes_hierarchical_posterior.nc",
        "logistic/loo_comparison.csv",
        "logistic/prior_sensitivity.csv",
        "latent_class/descriptive_types.csv",
        "latent_class/em_fit_statistics.csv",
        "latent_class/loo_comparison.csv",
        "latent_class/bayes_markusen_typing.csv",
        "latent_class/bayes_cluster_verdict.csv",
        *(f"latent_class/bayes_posterior_K{k}.nc" for k in (1, 2, 3)),
        "diagnostics/bayes.csv",
        "diagnostics/bayes_hierarchical.csv",
        *(f"diagnostics/latent_classes_k_{k}.csv" for k in (1, 2, 3)),
        "figures/forest_methods.png",
        "figures/markusen_descriptive.png",
        "figures/em_item_profiles.png",
        "figures/latent_class_profiles.png",
        "figures/markusen_verdict.png",
        "figures/bayes_calibration.png",
        "figures/bayes_separation.png",
        "figures/bayes_prior_posterior.png",
        "figures/bayes_hierarchical_prior_posterior.png",
    ):
        assert (out / name).is_file(), name
    # nothing half-written left beside the output folder
    assert [p.name for p in out.parent.iterdir()] == ["tumang"]


def test_quick_comparison_table_is_complete_finite_and_sensible(quick_run):
    out, _ = quick_run
    table = pd.read_csv(out / "comparison.csv", keep_default_na=False, na_values=[""])
    assert list(table.columns) == [*COMPARISON_COLUMNS, "run"]
    assert (table["run"] == "quick preview").all()
    methods = ["mle", "firth", "bayes", "bayes_hierarchical"]
    assert list(dict.fromkeys(table["method"])) == methods
    for method in methods:
        rows = table[table["method"] == method].set_index("term")
        assert list(rows.index) == TERMS
        values = rows[["estimate", "std_error", "ci_lower", "ci_upper", "odds_ratio"]]
        assert np.isfinite(values.to_numpy()).all(), method
        assert (rows["ci_lower"] < rows["estimate"]).all()
        assert (rows["estimate"] < rows["ci_upper"]).all()
        assert (rows["std_error"] > 0).all()
        assert set(rows["conclusion"]) <= {"effect", "no clear effect"}
        # the data were drawn from a known truth: every interval covers it but at most one
        covered = [
            lo <= TRUTH[t] <= hi for t, lo, hi in rows[["ci_lower", "ci_upper"]].itertuples()
        ]
        assert sum(covered) >= len(TERMS) - 1, (method, covered)
        # the thesis's published conclusion beside each predictor, none for the intercept
        published = rows["published"].fillna("")
        assert published.to_dict() == {"Intercept": "", **THESIS}
    frequentist = table[table["method"].isin(["mle", "firth"])]
    bayesian = table[table["method"].str.startswith("bayes")]
    assert frequentist["p_value"].between(0, 1).all()
    assert frequentist["prob_positive"].isna().all()
    assert bayesian["prob_positive"].between(0, 1).all()
    assert bayesian["p_value"].isna().all()
    assert set(table["interval"]) == {
        "95% Wald CI",
        "95% profile penalised-likelihood CI",
        "95% HDI",
    }
    mle = table[table["method"] == "mle"].set_index("term")
    np.testing.assert_allclose(mle["odds_ratio"], np.exp(mle["estimate"]), rtol=1e-9)
    # MLE and the weakly informative Bayesian fit agree within one MLE standard error
    bayes = table[table["method"] == "bayes"].set_index("term")
    slopes = list(TUMANG_PREDICTORS)
    assert (
        (bayes.loc[slopes, "estimate"] - mle.loc[slopes, "estimate"]).abs()
        < mle.loc[slopes, "std_error"]
    ).all()


def test_quick_outputs_are_labelled_as_a_preview(quick_run):
    out, printed = quick_run
    report = (out / "report.md").read_text(encoding="utf-8")
    assert report.startswith("# ") and "[QUICK PREVIEW]" in report.splitlines()[0]
    assert "> **NOTE** QUICK PREVIEW (--quick)" in report
    assert (out / "comparison.md").read_text().startswith("> QUICK PREVIEW")
    assert "QUICK PREVIEW" in (out / "comparison.tex").read_text()
    assert json.loads((out / "run.json").read_text())["run"] == "quick preview"
    tree = xr.open_datatree(out / "logistic" / "bayes_posterior.nc", engine="h5netcdf")
    assert tree.attrs["run_mode"] == "quick preview"
    assert tree.attrs["seed"] == "2028"
    assert tree["posterior"]["beta"].dims == ("chain", "draw", "predictor")
    assert tree["posterior"].sizes["chain"] == 2 and tree["posterior"].sizes["draw"] == 150
    assert (
        printed.strip().splitlines()[1]
        == "  QUICK PREVIEW (--quick): few draws; not for reporting."
    )


def test_quick_report_is_self_contained_with_every_figure(quick_run):
    out, printed = quick_run
    page = (out / "report.html").read_text(encoding="utf-8")
    assert not re.search(r"(src|href)=\"(https?:)?//", page)
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    figures = sorted((out / "figures").glob("*.png"))
    assert len(images) == len(figures)
    embedded = {base64.b64decode(image) for image in images}
    assert all(path.read_bytes() in embedded for path in figures)
    for heading in (
        "Summary",
        "Data",
        "Which firms export? All methods side by side",
        "Cluster pattern (Markusen typology)",
        "Prior sensitivity",
        "MCMC diagnostics",
        "Reproducibility",
    ):
        assert f">{heading}</h2>" in page, heading
    assert "sha256:" in page and "version_pymc" in page  # reproducibility block
    # the terminal ends with the verdicts and where the report is
    lines = printed.strip().splitlines()
    assert lines[-1] == f"  Report: {out / 'report.html'}"
    assert any(line.startswith("  Cluster pattern, descriptive scoring: ") for line in lines)
    assert any(line.startswith("  Latent classes, Bayesian: ") for line in lines)
    # the summary says whether the verdict hinges on K and on the prior's width
    assert any(
        line.startswith("  Latent classes, uncertainty about K: Averaged over K with weights ")
        for line in lines
    )
    assert any(
        line.startswith("  Prior sensitivity: ")
        and ("conclusion changes under the wider prior" in line)
        for line in lines
    )
    assert any(line.startswith("  MCMC diagnostics: ") for line in lines)


def test_report_reads_in_the_spec_order_whatever_order_the_run_works_in(quick_run):
    """The run writes the logits' part before the Bayesian latent classes' (a fit worker
    samples the logits first: pipeline.SECTIONS), but the report reads as before: the
    latent-class section whole (its Bayesian part, the PSIS-LOO choice of K, inside it)
    before the logits, and the diagnostics of the latent-class fits listed first."""
    out, printed = quick_run
    report = (out / "report.md").read_text(encoding="utf-8")
    headings = [line.removeprefix("## ") for line in report.splitlines() if line.startswith("## ")]
    assert headings == [
        "Summary",
        "Data",
        "Which firms export? All methods side by side",
        "Cluster pattern (Markusen typology)",
        "Export orientation: frequentist logits",
        "Export orientation: Bayesian logits",
        "Prior sensitivity",
        "Methods (for the paper)",
        "MCMC diagnostics",
        "Reproducibility",
    ]
    cluster = report.index("## Cluster pattern (Markusen typology)")
    # the choice of K (its table), not the summary's line about it, which names PSIS-LOO
    # or not depending on how far apart the Ks are
    choice = report.index("*Number of classes compared by PSIS-LOO")
    assert cluster < choice < report.index("## Export orientation")
    table = report[report.index("*Convergence verdict of every MCMC fit*") :]
    fits = [row.split(" | ")[0].removeprefix("| ") for row in table.splitlines()[4:14]]
    assert fits[:6] == [
        "latent classes K=1",
        "latent classes K=2",
        "latent classes K=3",
        "latent classes ordinal K=1",
        "latent classes ordinal K=2",
        "latent classes ordinal K=3",
    ]
    assert re.fullmatch(r"latent classes K=[23] covariates", fits[6])  # the K chosen
    assert fits[7:] == ["bayes", "bayes_hierarchical", "bayes_wide_prior"]
    # run.json's timings say the order the run worked in
    timings = json.loads((out / "run.json").read_text(encoding="utf-8"))["timings_seconds"]
    assert list(timings)[:5] == [
        "data",
        "latent_class",
        "frequentist",
        "logistic",
        "latent_class_bayes",
    ]


def test_report_states_every_uncertainty(quick_run):
    """Issue 14: the report states the prior's, the hierarchy's, the level's and K's part.

    The comparison is at the spec's default level, 95%, while the Bayesian sections keep
    their 94% HDIs: the captions below follow the comparison level, not the sampler's.
    A level other than the default is checked on a logit-only run
    (test_run_comparison_is_at_the_configured_level).
    """
    out, _ = quick_run
    raw = (out / "report.html").read_text(encoding="utf-8")
    page = html.unescape(raw)
    markdown = (out / "report.md").read_text(encoding="utf-8")  # figures linked, not embedded
    headings = re.findall(r"<h2[^>]*>([^<]*)</h2>", page)
    assert "Prior sensitivity" in headings
    captions = [html.unescape(c) for c in re.findall(r"<caption>([^<]*)</caption>", raw)]

    def caption(start: str) -> str:
        found = [c for c in captions if c.startswith(start)]
        assert len(found) == 1, (start, captions)
        return found[0]

    # 1. the power-scaling flags in words, and the fit under a wider prior
    assert "What the flags mean." in page
    assert "The power-scaling check flags " in page
    caption("Prior sensitivity: default prior against a prior 4 times wider (95% HDIs")
    assert "](figures/prior_sensitivity.png)" in markdown
    # 2. the hierarchy in the summary and the shrinkage figure
    assert caption("bayes_hierarchical: posterior summary").startswith(
        "bayes_hierarchical: posterior summary (then the hierarchy, as rstanarm prints it"
    )
    for row in ("sigma[product_line]", "b[(Intercept) product_line:casting]"):
        assert f"<tr><td>{row}</td>" in page
    caption("bayes_hierarchical: share of exporters by product_line, raw against partially")
    assert "](figures/bayes_hierarchical_shrinkage.png)" in markdown
    # 3. one level for every method, named in the headers
    kinds = (
        "mle: 95% Wald CI; firth: 95% profile penalised-likelihood CI; bayes: 95% HDI; "
        "bayes_hierarchical: 95% HDI"
    )
    assert caption("Conclusions by method") == f"Conclusions by method (intervals: {kinds})"
    assert caption("The comparison table") == (
        f"The comparison table (comparison.csv; intervals: {kinds})"
    )
    # 4. the verdict under each K and averaged over K
    assert "Uncertainty about the number of classes." in page
    caption("Cluster verdict by number of classes and averaged over K (stacking weights")
    assert "Averaged over K with weights K=1: " in page
    verdicts = pd.read_csv(out / "latent_class" / "verdict_by_n_classes.csv", index_col=0)
    assert list(verdicts.index) == ["K=1", "K=2", "K=3", "averaged"]
    assert verdicts["weight"].iloc[:3].sum() == pytest.approx(1.0, abs=1e-9)
    for column in [c for c in verdicts.columns if c.startswith("p_majority_")]:
        weighted = (verdicts["weight"].iloc[:3] * verdicts[column].iloc[:3]).sum()
        assert verdicts.loc["averaged", column] == pytest.approx(weighted, abs=1e-9)


@pytest.mark.slow
def test_tumang_report_renders_in_a_browser(tumang_quick_run, tmp_path, skip_or_fail):
    out, _ = tumang_quick_run
    # the HTML report renders in a real browser (headless Chromium) to a screenshot
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        # fails instead under CI=true (.ci/run installs chromium where it can)
        skip_or_fail("headless Chromium not installed (apt-get install chromium)")
    screenshot = tmp_path / "report.png"
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run(
            [
                chromium,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                f"--user-data-dir={profile}",
                f"--screenshot={screenshot}",
                "--window-size=1280,4000",
                (out / "report.html").as_uri(),
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
    png = screenshot.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(png) > 100_000  # a page of text, tables and figures, not a blank canvas


# ------------------------------------------------------------------ fits in a worker process
@pytest.mark.parametrize("measurement", ["nominal", "ordinal"])
def test_a_latent_class_fit_in_the_worker_is_the_same_fit(quick_run, measurement):
    """Same arguments and seed in another process: the same draws, bit for bit.

    Both fits a run may start in a worker: the nominal and the ordinal mixture (Tumang,
    K = 2, the quick sampler). The session's quick run has compiled both models into
    PyTensor's disk cache; this process forgets its in-memory compiled models, so that both
    fits here read the compiled code from the disk cache, as a run and its workers do once a
    model has been compiled. (Code compiled afresh can round differently from the cached
    code: PyTensor's numba code uses fast-math, and on a cold cache the ordinal model's
    chains then differ; see docs/user_guide.md.) Here, in this file, the test costs two
    quick fits instead of a cold compile of each model.
    """
    from bayes_cluster.inference.sampling import clear_compiled_cache
    from bayes_cluster.run.fit_worker import start
    from bayes_cluster.run.sections.data import load_data
    from bayes_cluster.run.sections.latent_class import (
        _item_responses,
        fit_latent_class_model,
        fit_ordinal_latent_class_model,
    )
    from bayes_cluster.run.spec import load_spec

    spec = load_spec(Path(__file__).resolve().parents[1] / "models" / "tumang.toml")
    frame, _ = load_data(spec)
    responses = _item_responses(frame, spec.latent_class)
    sampler = spec.sampler.for_run(True)
    lc = spec.latent_class
    fit = fit_latent_class_model if measurement == "nominal" else fit_ordinal_latent_class_model
    clear_compiled_cache()
    here = fit(responses, 2, lc, sampler, 11, False)
    there = start(fit, responses, 2, lc, sampler, 11, False).result()
    assert type(there) is type(here)
    # the spec's target acceptance, which the methods text reports (the nominal model's own
    # default is 0.8)
    assert float(here.idata_.attrs["target_accept"]) == sampler.target_accept == 0.9
    variables = ("theta", "pi") if measurement == "nominal" else ("mu", "cutpoints", "pi")
    for name in variables:
        assert there.posterior[name].equals(here.posterior[name]), name
    assert there.summary().equals(here.summary())


# --------------------------------------------------------------------------- Tumang study


@pytest.fixture(scope="module")
def tumang_run(tumang_quick_run):
    """The session's quick Tumang run (tests/conftest.py): a full run writes the same files."""
    return tumang_quick_run


def test_tumang_run_produces_every_table_and_figure(tumang_run):
    out, _ = tumang_run
    verdicts = json.loads((out / "run.json").read_text())["verdicts"]
    # the figures of a typed multi-class model: on these data EM and LOO both pick K > 1
    assert verdicts["em_n_classes_bic"] > 1
    assert verdicts["bayes_n_classes_loo"] > 1
    tables, figures, other = tumang_outputs(verdicts["bayes_n_classes_loo"])
    assert files_under(out) == tables | figures | vector_versions(figures) | other


def test_tumang_report_shows_every_figure_with_a_caption(tumang_run):
    out, _ = tumang_run
    chosen = json.loads((out / "run.json").read_text())["verdicts"]["bayes_n_classes_loo"]
    assert_figures_in_report(out, tumang_outputs(chosen)[1])
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
    # 12 Markusen items x 5 Likert levels (uncollapsed); shares of each item sum to one
    assert len(shares) == len(MARKUSEN_ITEMS) * 5
    np.testing.assert_allclose(shares.groupby("item")["observed_share"].sum(), 1.0)
    assert shares["p_two_sided"].between(0, 1).all()
    pairs = pd.read_csv(out / "latent_class" / "bayes_ppc_pairs.csv")
    assert len(pairs) == len(MARKUSEN_ITEMS) * (len(MARKUSEN_ITEMS) - 1) // 2
    assert pairs["p_bvr"].between(0, 1).all()
    # the observed item shares come from the data alone: check them against the survey
    frame = pd.read_csv(DATA)
    for level in (1, 4, 5):
        share = (frame["mk_cooperation"] == level).mean()
        row = shares[(shares["item"] == "mk_cooperation") & (shares["category"] == level)]
        assert row["observed_share"].item() == pytest.approx(share)
    markdown = (out / "report.md").read_text(encoding="utf-8")
    assert f"of the chosen model (K = {chosen})" in markdown


def test_em_table_shows_every_criterion_and_says_whether_they_agree(quick_run):
    out, _ = quick_run
    statistics = pd.read_csv(out / "latent_class" / "em_fit_statistics.csv", index_col=0)
    n = 60
    # SABIC and CAIC recomputed from the log-likelihood and the parameter count
    minus2ll = -2 * statistics["log_likelihood"]
    npar = statistics["n_parameters"]
    assert np.allclose(statistics["sabic"], minus2ll + npar * np.log((n + 2) / 24))
    assert np.allclose(statistics["caic"], minus2ll + npar * (np.log(n) + 1))
    report = (out / "report.md").read_text(encoding="utf-8")
    assert "lower AIC, BIC, SABIC and CAIC are better" in report
    header = next(line for line in report.splitlines() if "| sabic" in line)
    assert header.index("| bic") < header.index("| sabic") < header.index("| caic")
    best = {c: int(statistics[c].idxmin()) for c in ("aic", "bic", "sabic", "caic")}
    if len(set(best.values())) == 1:
        assert "AIC, SABIC and CAIC agree." in report
    else:
        assert f"The criteria disagree (AIC K = {best['aic']}, SABIC K = {best['sabic']}" in report


# ------------------------------------- the ordinal measurement and the covariates of membership


def test_tumang_run_compares_ordinal_with_nominal_by_loo(tumang_run):
    out, _ = tumang_run
    table = pd.read_csv(out / "latent_class" / "ordinal_vs_nominal_loo.csv", index_col=0)
    assert list(table.index) == ["K=1", "K=2", "K=3"]
    assert table["elpd_diff"].to_numpy() == pytest.approx(  # CSV: 10 digits
        (table["elpd_ordinal"] - table["elpd_nominal"]).to_numpy(), abs=1e-5
    )
    assert (table["se_diff"] > 0).all()
    for k, row in table.iterrows():
        gap, se = row["elpd_diff"], row["se_diff"]
        expected = "neither (gap within 2 SE)" if abs(gap) <= 2 * se else None
        if expected is None:
            expected = "ordinal" if gap > 0 else "nominal"
        assert row["preferred"] == expected, k
    # the ordinal model (fewer parameters per item) has the smaller p_loo for K > 1
    for k in ("K=2", "K=3"):
        assert table.loc[k, "p_loo_ordinal"] < table.loc[k, "p_loo_nominal"]


def test_tumang_run_chooses_k_and_types_classes_with_the_ordinal_model(tumang_run):
    out, _ = tumang_run
    lc = out / "latent_class"
    summary = pd.read_csv(lc / "bayes_ordinal_summary_K2.csv", index_col=0)
    assert any(str(name).startswith("cutpoints") for name in summary.index)
    assert any(str(name).startswith("mu") for name in summary.index)
    # the K comparison, the verdict and the typing come from the ordinal fits
    loo = pd.read_csv(lc / "loo_comparison.csv", index_col=0)
    ordinal = pd.read_csv(lc / "ordinal_vs_nominal_loo.csv", index_col=0)
    for k in ("K=1", "K=2", "K=3"):
        assert loo.loc[k, "elpd_loo"] == pytest.approx(ordinal.loc[k, "elpd_ordinal"])
    report = (out / "report.md").read_text(encoding="utf-8")
    assert "Ordinal against nominal latent classes by PSIS-LOO" in report
    assert "latent classes ordinal K=2" in report
    run = json.loads((out / "run.json").read_text(encoding="utf-8"))
    assert set(run["verdicts"]["ordinal_vs_nominal"]) == {"K=1", "K=2", "K=3"}


def test_tumang_run_compares_measurements_by_bic_and_loo(tumang_run):
    out, _ = tumang_run
    lc = out / "latent_class"
    table = pd.read_csv(lc / "ordinal_vs_nominal.csv", index_col=[0, 1])
    loo = pd.read_csv(lc / "ordinal_vs_nominal_loo.csv", index_col=0)
    assert list(table.index) == [(k, m) for k in (1, 2, 3) for m in ("ordinal", "nominal")]
    n_firms = len(pd.read_csv(DATA))
    # BIC = -2 LL + ln(N) npar, from the table's own columns
    np.testing.assert_allclose(
        table["bic"], -2 * table["log_likelihood"] + np.log(n_firms) * table["n_parameters"]
    )
    # parameters on 12 five-level items: ordinal (K-1) + 12 (K-1+4), nominal (K-1) + 12 K 4
    for k in (1, 2, 3):
        assert table.loc[(k, "ordinal"), "n_parameters"] == (k - 1) + 12 * (k - 1 + 4)
        assert table.loc[(k, "nominal"), "n_parameters"] == (k - 1) + 12 * k * 4
    # with one class the two models are the item margins against a cumulative logit
    # with one location per item: the same fit (4 free numbers per item either way)
    assert table.loc[(1, "ordinal"), "log_likelihood"] == pytest.approx(
        table.loc[(1, "nominal"), "log_likelihood"], abs=1e-4
    )
    for k in (1, 2, 3):
        for measurement in ("ordinal", "nominal"):
            assert table.loc[(k, measurement), "elpd_loo"] == pytest.approx(
                loo.loc[f"K={k}", f"elpd_{measurement}"]
            )
        assert table.loc[(k, "ordinal"), "elpd_diff"] == pytest.approx(
            loo.loc[f"K={k}", "elpd_diff"]
        )
    # the nominal EM of each K is the section's own (em_fit_statistics.csv): one maximum
    statistics = pd.read_csv(lc / "em_fit_statistics.csv", index_col=0)
    for k in (1, 2, 3):
        for column in ("log_likelihood", "n_parameters", "bic"):
            assert table.loc[(k, "nominal"), column] == pytest.approx(statistics.loc[k, column])
    report = (out / "report.md").read_text(encoding="utf-8")
    # K = 1 is one fit under two names: BIC cannot prefer either
    bic = table.loc[(1, "ordinal"), "bic"]
    assert f"**Ordinal or nominal?** K = 1: BIC does not separate them ({bic:.1f} each)" in report
    for k in (2, 3):
        better = table.loc[k, "bic"].idxmin()
        assert f"K = {k}: BIC prefers the {better} model" in report
    assert "figures/ordinal_prior_predictive.png" in report


def test_tumang_run_writes_the_class_membership_table_and_figure(tumang_run):
    out, _ = tumang_run
    chosen = json.loads((out / "run.json").read_text())["verdicts"]["bayes_n_classes_loo"]
    table = pd.read_csv(out / "latent_class" / "class_membership_effects.csv")
    # one row per covariate and contrast against class 1, covariate by covariate
    columns = (table["covariate"], table["latent_class"], table["reference_class"])
    rows = list(zip(*columns, strict=True))
    assert rows == [(c, k, 1) for c in ("workers", "firm_age") for k in range(2, chosen + 1)]
    assert (table["bayes_hdi_lower"] <= table["bayes_log_odds"]).all()
    assert (table["bayes_log_odds"] <= table["bayes_hdi_upper"]).all()
    assert (table["em_ci_lower"] < table["em_log_odds"]).all()
    np.testing.assert_allclose(
        table["em_ci_upper"] - table["em_log_odds"], 1.959963984540054 * table["em_se"], rtol=1e-6
    )
    report = (out / "report.md").read_text(encoding="utf-8")
    assert "Who belongs to which class" in report
    assert re.search(r"P\(class 2 \([^)]*\) rather than class 1 \([^)]*\)\) (rises with|falls "
                     r"with|has no clear relation to) workers: [+-]\d\.\d\d log-odds per SD",
                     report)  # fmt: skip
    assert "figures/class_membership_covariates.png" in report
    # its part of the report sits right after the chosen K, before the Markusen verdict and
    # the figures of the chosen model (it is fitted after them, while they are drawn)
    assert (
        report.index("**Choosing K.**")
        < report.index("Who belongs to which class")
        < report.index("**Bayesian latent classes** (K = ")
        < report.index("figures/latent_class_profiles.png")
    )

"""Journal-ready output: booktabs tables, vector figures, compact diagnostics, Methods text.

The LaTeX tables are checked for what a journal needs (caption, label, notes, integer
counts, two-decimal probabilities) and compiled with ``pdflatex`` where it is installed.
A tiny seeded run checks that every figure is written as PNG, PDF and SVG and shown in
``report.html`` with its caption, and that the journal files are written.
"""

from __future__ import annotations

import contextlib
import html
import io
import re
import shutil
import subprocess
import textwrap
from pathlib import Path

import matplotlib as mpl
import numpy as np
import pandas as pd
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from bayes_cluster.cli import main
from bayes_cluster.common import latex
from bayes_cluster.inference.diagnostics import MCMCDiagnostics
from bayes_cluster.plots.compare import METHOD_COLOURS
from bayes_cluster.plots.latent_class import RESPONSE_COLOURS
from bayes_cluster.plots.style import OKABE_ITO, RC_PARAMS, save_formats, stamp_label
from bayes_cluster.run.methods_text import REFERENCES, describe_prior, methods_text
from bayes_cluster.run.spec import load_spec

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data" / "tumang_synthetic.csv"

# ---------------------------------------------------------------- inputs (as a run writes them)

COMPARISON = pd.DataFrame(
    {
        "method": ["mle", "mle", "bayes", "bayes"],
        "term": ["Intercept", "log_workers", "Intercept", "log_workers"],
        "estimate": [-6.4151, 0.2128, -5.5312, 0.1614],
        "ci_lower": [-11.25, 0.0258, -9.34, 0.04],
        "ci_upper": [-1.58, 0.3998, -1.72, 0.29],
        "interval": ["Wald 95%", "Wald 95%", "HDI 94%", "HDI 94%"],
        "p_value": [0.0093, 0.0257, np.nan, np.nan],
        "prob_positive": [np.nan, np.nan, 0.0, 0.99667],
        "conclusion": ["effect"] * 4,
    }
)
VERDICT = pd.DataFrame(
    {
        "markusen_type": ["Marshallian", "Hub-and-Spoke", "Satellite", "State-anchored"],
        "mean_share": [0.6895, 0.3043, 0.0012, 0.0050],
        "hdi_lower": [0.589, 0.2157, 0.0, 0.0],
        "hdi_upper": [0.7812, 0.419, 0.0, 0.0283],
        "p_present": [1.0, 1.0, 0.05333, 0.20667],
        "p_share_gt_0.2": [1.0, 0.98, 0.0, 0.0],
        "p_share_gt_0.5": [1.0, 0.0, 0.0, 0.0],
    }
)
DESCRIPTIVE = pd.DataFrame(
    {
        "type": ["Marshallian", "Hub-and-Spoke", "Satellite", "State-anchored"],
        "n_matched": [11, 4, 0, 1],
        "n_items": [12, 12, 12, 12],
        "score": [0.9167, 0.3333, 0.0, 0.0833],
    }
)
LOGIT_LOO = pd.DataFrame(
    {
        "elpd": [-38.96, -39.546],
        "se": [3.695, 3.667],
        "elpd_diff": [0.0, -0.5863],
        "dse": [0.0, 0.6483],
        "p": [7.1946, 8.1863],
        "diag_elpd": ["3 k̂ > 0.60", ""],
    },
    index=pd.Index(["bayes", "bayes_hierarchical"], name="model"),
)
CLASS_LOO = pd.DataFrame(
    {
        "elpd_loo": [-582.03, -648.47],
        "se": [18.12, 20.55],
        "elpd_diff": [0.0, -66.45],
        "se_diff": [0.0, 14.13],
        "p_loo": [46.61, 23.14],
        "n_high_pareto_k": [2.0, 0.0],
        "bic_em": [1331.99, 1347.2],
    },
    index=pd.Index(["K=3", "K=1"], name="n_classes"),
)


def all_tables(quick: bool = False) -> list[latex.LatexTable]:
    return [
        latex.coefficients_table(
            COMPARISON, n_firms=60, priors="slopes Student-t(7, 0, 1)", quick=quick
        ),  # fmt: skip
        latex.cluster_verdict_table(VERDICT, descriptive=DESCRIPTIVE, n_firms=60, n_classes=3),
        latex.model_comparison_table(LOGIT_LOO, CLASS_LOO, n_firms=60),
    ]


# ---------------------------------------------------------------- table contents


def test_coefficients_table_has_caption_label_notes_and_two_decimals():
    source = latex.coefficients_table(COMPARISON, n_firms=60, priors="slopes N(0, 1)").source
    assert r"\caption{Export orientation: logit coefficients by method}" in source
    assert r"\label{tab:export-coefficients}" in source
    assert source.count(r"\toprule") == source.count(r"\bottomrule") == 1
    # readable headers, escaped term names, minus signs, intervals in brackets
    assert r"\begin{tabular}[b]{@{}c@{}}ML \\ logit\end{tabular}" in source
    assert r"log\_workers & 0.21 & 0.16 \\" in source
    assert r"Intercept & $-$6.42 & $-$5.53 \\" in source
    assert r" & [0.03, 0.40] & [0.04, 0.29] \\" in source
    # P(beta > 0) of the Bayesian fit with two decimals (0.99667 -> 0.997 -> 1.00)
    assert r"\quad \textit{P}($\beta > 0$) &  & (1.00) \\" in source
    assert "Wald 95\\%" in source and "HDI 94\\%" in source
    assert "n = 60 firms" in source and "Priors: slopes N(0, 1)." in source


def test_cluster_verdict_table_counts_are_integers_and_probabilities_two_decimals():
    table = latex.cluster_verdict_table(VERDICT, descriptive=DESCRIPTIVE, n_firms=60, n_classes=3)
    assert table.label == "tab:cluster-verdict"
    source = table.source
    assert r"\caption{Cluster pattern: evidence for each Markusen (1996) type}" in source
    assert r"Marshallian & 11 & 0.69 & [0.59, 0.78] & 1.00 & 1.00 & 1.00 \\" in source
    assert r"Satellite & 0 & 0.00 & [0.00, 0.00] & 0.05 & 0.00 & 0.00 \\" in source
    assert r"State-anchored & 1 & 0.01 & [0.00, 0.03] & 0.21 & 0.00 & 0.00 \\" in source
    assert "(of 12)" in source and "K = 3 latent classes" in source
    # no count is written as a float
    assert not re.search(r"& 11\.0", source)


def test_model_comparison_table_panels_and_formats():
    source = latex.model_comparison_table(LOGIT_LOO, CLASS_LOO, n_firms=60).source
    assert r"\multicolumn{8}{l}{\textit{A. Export logit variants}} \\" in source
    assert r"\multicolumn{8}{l}{\textit{B. Number of latent classes}} \\" in source
    assert (
        r"Bayesian hierarchical logit & $-$39.55 & 3.67 & $-$0.59 & 0.65 & 8.19 & 0 &  \\"
        in source
    )
    assert r"Bayesian logit & $-$38.96 & 3.69 & 0.00 & 0.00 & 7.19 & 3 &  \\" in source
    assert r"3 classes & $-$582.03 & 18.12 & 0.00 & 0.00 & 46.61 & 2 & 1332.0 \\" in source
    assert r"1 class & $-$648.47" in source
    with pytest.raises(ValueError, match="needs at least one comparison"):
        latex.model_comparison_table(n_firms=60)


def test_quick_tables_say_preview_in_the_caption():
    source = all_tables(quick=True)[0].source
    assert r"\caption{QUICK PREVIEW, not for reporting. Export orientation" in source


def test_formatters():
    assert latex.format_count(11.0) == "11"
    assert latex.format_probability(0.98333) == "0.98"
    assert latex.format_number(-0.004) == "0.00"  # no negative zero
    assert latex.format_number(float("nan")) == ""
    assert latex.latex_escape("a_b & 5% #1") == r"a\_b \& 5\% \#1"


@pytest.mark.skipif(
    shutil.which("pdflatex") is None,
    # .ci/run installs no TeX, so under CI this is a plain skip (not skip_or_fail)
    reason="pdflatex is not installed (Debian: texlive-latex-base, and "
    "texlive-latex-recommended for booktabs)",
)
def test_tables_compile_with_booktabs(tmp_path):
    log = compile_latex(tmp_path, latex.minimal_document(all_tables(quick=True)))
    assert "Overfull \\hbox" not in log  # every table fits the text width
    assert "Label(s) may have changed" not in log or "multiply defined" not in log


# ---------------------------------------------------------------- diagnostics in brief


def test_compact_problems_count_and_name_the_worst():
    rng = np.random.default_rng(3)
    names = [f"theta[{i}]" for i in range(120)]
    r_hat = np.full(120, 1.001)
    r_hat[:42] = 1.02
    r_hat[7] = 1.057
    ess_bulk = np.full(120, 900.0)
    ess_bulk[[3, 50, 99]] = [120.0, 28.0, 300.0]
    table = pd.DataFrame(
        {"r_hat": r_hat, "ess_bulk": ess_bulk, "ess_tail": rng.uniform(500, 900, 120)},
        index=names,
    )
    diagnostics = MCMCDiagnostics(
        passed=False,
        table=table,
        n_divergences=5,
        n_draws=1000,
        n_chains=4,
        treedepth_hits=0,
        bfmi=np.array([0.9]),
        problems=[
            *(
                f"R-hat {v:.3f} for {n} (> 1.01)"
                for n, v in zip(names, r_hat, strict=True)
                if v > 1.01
            ),
            "5 divergent transitions after warm-up (0.1% of draws): the posterior may be "
            "biased where the sampler could not go",
        ],
    )
    assert diagnostics.compact_problems() == [
        "R-hat > 1.01 for 42 of 120 parameters (worst 1.057, theta[7])",
        "bulk ESS < 400 for 3 of 120 parameters (worst 28, theta[50])",
        "5 divergent transitions after warm-up (0.1% of draws): the posterior may be "
        "biased where the sampler could not go",
    ]
    assert diagnostics.compact_summary().startswith("R-hat > 1.01 for 42 of 120")


# ---------------------------------------------------------------- figures


def test_palette_is_okabe_ito():
    palette = set(OKABE_ITO.values())
    assert set(METHOD_COLOURS.values()) <= palette
    assert {RESPONSE_COLOURS["agree"], RESPONSE_COLOURS["disagree"]} <= palette


@pytest.mark.parametrize("layout", ["constrained", "tight"])
def test_quick_label_sits_above_every_axes_and_tick_label(tmp_path, layout):
    # the plot functions use either layout="constrained" or figure.tight_layout()
    figure = Figure(figsize=(6, 3), layout="constrained" if layout == "constrained" else None)
    axis = figure.add_subplot()
    axis.plot([0, 1], [0, 1])
    axis.set_title("a title")
    axis.set_xlabel("x label")
    suptitle = figure.suptitle("A figure title")
    if layout == "tight":
        figure.tight_layout()
    stamp_label(figure, "QUICK PREVIEW (--quick): not for reporting")
    written = save_formats(figure, tmp_path / "figure.png", dpi=300)
    assert [p.name for p in written] == ["figure.png", "figure.pdf", "figure.svg"]
    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    renderer = canvas.get_renderer()
    label = [t for t in figure.texts if t.get_text().startswith("QUICK")][0]
    label_box = label.get_window_extent(renderer)
    for box in (axis.get_tightbbox(renderer), suptitle.get_window_extent(renderer)):
        assert not label_box.overlaps(box)
    # PNG at 300 dpi: 6 x 3 inches -> 1800 x 900 pixels
    from PIL import Image

    with Image.open(written[0]) as image:
        assert image.size == (1800, 900)
        assert round(image.info["dpi"][0]) == 300
    assert written[1].read_bytes().startswith(b"%PDF")
    svg = written[2].read_text(encoding="utf-8")
    assert "<svg" in svg and "QUICK PREVIEW" in svg and "<dc:date>" not in svg


# ---------------------------------------------------------------- Methods text


def test_methods_text_from_the_tumang_spec():
    spec = load_spec(ROOT / "models" / "tumang.toml")
    versions = {"version_pymc": "6.4.0", "version_arviz": "1.3.0"}
    text = methods_text(spec, sampler=spec.sampler, n_firms=60, versions=versions)
    body = " ".join(text.paragraphs)
    assert "Student-t(7, 0, 1) on each standardised slope" in body
    assert "normal(0, 1.5) on the intercept" in body
    assert "between-group SD half-normal(1)" in body
    assert "4 chains of 1000 warm-up and 1000 retained draws" in body
    assert "PyMC 6.4.0 (Abril-Pla et al. 2023)" in body
    assert (
        "94% highest-density intervals; the comparison of methods puts every method at the "
        "same level, 95%." in body
    )
    assert "K = 1, 2, 3" in body and "50 random starts" in body
    assert "(Hoffman & Gelman 2014; nutpie implementation) in PyMC 6.4.0" in body
    for key in ("markusen", "firth", "heinze", "gelman2008", "vehtari2017", "vehtari2021",
                "hoffman", "pymc", "linzer", "kallioinen"):  # fmt: skip
        assert REFERENCES[key] in text.references, key
    assert REFERENCES["puhr"] not in text.references  # the run does not use FLIC
    quick = methods_text(spec, sampler=spec.sampler.for_run(True), n_firms=60,
                         versions=versions, quick=True)  # fmt: skip
    assert quick.paragraphs[0].startswith("**QUICK PREVIEW (--quick)**")
    assert "2 chains of 150 warm-up" in " ".join(quick.paragraphs)
    assert "from 10 random starts" in " ".join(quick.paragraphs)  # max(5, 50 // 5)
    assert describe_prior({"dist": "HalfNormal", "sigma": 2.5}) == "half-normal(2.5)"


# ---------------------------------------------------------------- a tiny run end to end

TINY_SPEC = """
title = "tiny journal-output run"
[data]
path = "{data}"
id = "firm_id"
codebook = "tumang"
[latent_class]
item_prefix = "mk_"
n_classes = [2, 2]
collapse = [[1, 2], [3], [4, 5]]
descriptive = true
em = false
bayesian = false
markusen = true
[logistic]
outcome = "export"
predictors = ["workers", "buyer_network"]
loo = false
prior_sensitivity = false
[frequentist]
methods = ["mle"]
[sampler]
draws = 100
tune = 100
chains = 2
seed = 11
backend = "pymc"
[sampler.quick]
draws = 100
tune = 100
chains = 2
backend = "pymc"
"""


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("journal")
    spec = folder / "tiny.toml"
    spec.write_text(textwrap.dedent(TINY_SPEC.format(data=DATA.as_posix())), encoding="utf-8")
    out = folder / "out"
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        code = main(["run", str(spec), "--out", str(out), "--quick"])
    assert code == 0, stdout.getvalue() + stderr.getvalue()
    return out, stderr.getvalue()


def test_every_figure_is_png_pdf_svg_and_captioned_in_report_html(tiny_run):
    out, _ = tiny_run
    pngs = sorted(p.relative_to(out).as_posix() for p in (out / "figures").glob("*.png"))
    assert "figures/forest_methods.png" in pngs and "figures/markusen_descriptive.png" in pngs
    for png in pngs:
        for suffix in (".pdf", ".svg"):
            assert (out / png).with_suffix(suffix).is_file(), png
    page = (out / "report.html").read_text(encoding="utf-8")
    shown = re.findall(
        r'<figure><img alt="([^"]*)" src="data:image/png;base64,[^"]+">'
        r"<figcaption>(.*?)</figcaption></figure>",
        page,
    )
    assert len(shown) == len(pngs)
    for alt, caption in shown:
        assert len(html.unescape(alt)) > 20 and alt.endswith("(quick preview)")
        assert re.search(r'href="figures/[a-z_]+\.pdf">PDF</a> <a href="figures/[a-z_]+\.svg"',
                         caption)  # fmt: skip


def test_tiny_run_writes_journal_tables_and_methods(tiny_run):
    out, _ = tiny_run
    coefficients = (out / "tables" / "export_coefficients.tex").read_text(encoding="utf-8")
    assert r"\caption{QUICK PREVIEW, not for reporting. Export orientation" in coefficients
    assert "n = 60 firms" in coefficients and "Student-t(7, 0, 1)" in coefficients
    verdict = (out / "tables" / "cluster_verdict.tex").read_text(encoding="utf-8")
    scoring = pd.read_csv(out / "latent_class" / "descriptive_types.csv")
    for row in scoring.itertuples():
        assert f"{row.type} & {int(row.n_matched)} \\\\" in verdict
    assert not (out / "tables" / "model_comparison.tex").exists()  # no LOO in this run
    # the run's comparison.tex: one panel, the ML and the Bayesian logit side by side
    comparison = (out / "comparison.tex").read_text(encoding="utf-8").splitlines()
    assert r"\cmidrule(lr){2-3} \cmidrule(lr){4-5}" in comparison
    assert any(
        line.startswith(r"Term & Estimate & \textit{p} & Estimate & \textit{P}($\beta > 0$)")
        for line in comparison
    )
    methods = (out / "methods.md").read_text(encoding="utf-8")
    assert methods.startswith("# Methods\n\n**QUICK PREVIEW (--quick)**")
    assert REFERENCES["markusen"] in methods
    report = (out / "report.md").read_text(encoding="utf-8")
    assert "## Methods (for the paper)" in report
    assert "`tables/export_coefficients.tex`" in report


def test_comparison_tex_writes_probabilities_with_two_decimals():
    from bayes_cluster.analyses.compare import to_latex

    source = to_latex(COMPARISON, columns=["method", "term", "estimate", "p_value",
                                           "prob_positive"])  # fmt: skip
    assert r"method & term & estimate & \textit{p} & \textit{P}($\beta > 0$) \\" in source
    assert r"mle & Intercept & -6.415 & 0.01 &  \\" in source  # p = 0.0093
    assert r"bayes & log\_workers & 0.161 &  & 1.00 \\" in source
    assert (
        to_latex(COMPARISON.assign(p_value=0.0004), columns=["term", "p_value"]).count(r"$<$0.01")
        == 4
    )


def test_methods_text_of_a_joint_spec_describes_the_joint_model():
    spec = load_spec(ROOT / "models" / "tumang_joint.toml")
    text = methods_text(spec, sampler=spec.sampler, n_firms=60, versions={})
    body = " ".join(text.paragraphs)
    assert "K = 2 classes and a logit of export" in body
    assert "(b') three-step, ML correction (Vermunt 2010)" in body
    assert body.count("highest-density intervals.") == 1  # no method-comparison level
    assert REFERENCES["vermunt"] in text.references
    assert REFERENCES["firth"] not in text.references


# ---------------------------------------------------------------- comparison.tex fits a page

TERMS = ["Intercept", "workers", "firm_age", "buyer_network", "promotion", "training",
         "technology", "supplier_network"]  # fmt: skip
# the quick Tumang run's comparison (estimate, lower, upper, p or P(beta > 0)) per method
RUN_COMPARISON = {
    ("mle", "95% Wald CI"): [
        (-6.415, -11.25, -1.58, 0.0093),
        (0.213, 0.026, 0.4, 0.026),
        (0.102, -0.007, 0.21, 0.07),
        (0.897, 0.178, 1.616, 0.0146),
        (0.345, -0.172, 0.861, 0.19),
        (0.355, -1.036, 1.747, 0.62),
        (-0.216, -0.775, 0.343, 0.45),
        (0.089, -0.505, 0.684, 0.77),
    ],
    ("firth", "95% profile penalised-likelihood CI"): [
        (-5.0, -10.024, -1.153, 0.011),
        (0.161, 0.016, 0.357, 0.02),
        (0.079, -0.009, 0.188, 0.08),
        (0.701, 0.112, 1.423, 0.02),
        (0.27, -0.189, 0.771, 0.25),
        (0.258, -1.011, 1.586, 0.69),
        (-0.171, -0.696, 0.329, 0.5),
        (0.077, -0.475, 0.627, 0.78),
    ],
    ("bayes", "95% HDI"): [
        (-5.526, -9.341, -1.459, 0.0),
        (0.157, 0.04, 0.291, 0.998),
        (0.087, -0.003, 0.205, 0.97),
        (0.774, 0.109, 1.356, 1.0),
        (0.344, -0.16, 0.814, 0.9),
        (0.12, -0.891, 1.155, 0.6),
        (-0.202, -0.748, 0.29, 0.26),
        (0.117, -0.422, 0.635, 0.69),
    ],
    ("bayes_hierarchical", "95% HDI"): [
        (-5.379, -8.828, -1.748, 0.0),
        (0.149, 0.035, 0.263, 1.0),
        (0.09, 0.00088, 0.172, 0.98),
        (0.704, 0.181, 1.226, 1.0),
        (0.336, -0.116, 0.797, 0.9),
        (0.064, -1.079, 1.434, 0.53),
        (-0.183, -0.583, 0.336, 0.24),
        (0.115, -0.466, 0.815, 0.59),
    ],
}
PUBLISHED = {"workers": "effect", "firm_age": "effect", "buyer_network": "effect",
             "promotion": "effect", "training": "no clear effect",
             "technology": "no clear effect", "supplier_network": "no clear effect"}  # fmt: skip
# the columns the run writes to comparison.tex (run.sections.comparison._SHOWN_COMPARISON_COLUMNS)
SHOWN = ["method", "term", "estimate", "ci_lower", "ci_upper", "interval", "p_value",
         "prob_positive", "odds_ratio", "conclusion", "published"]  # fmt: skip
CAPTION = (
    "QUICK PREVIEW: not for reporting. Logit coefficients by method. Conclusion rule: "
    "frequentist: effect when p < 0.05; Bayesian: effect when the 95% highest-density "
    "interval excludes 0. Published: Tumang thesis (Universitas Diponegoro undergraduate "
    "thesis, 2012)."
)


def run_comparison(methods: int = 4) -> pd.DataFrame:
    rows = []
    for (method, interval), values in list(RUN_COMPARISON.items())[:methods]:
        bayesian = method.startswith("bayes")
        for term, (estimate, lower, upper, probability) in zip(TERMS, values, strict=True):
            rows.append(
                {
                    "method": method,
                    "term": term,
                    "estimate": estimate,
                    "std_error": np.nan,
                    "ci_lower": lower,
                    "ci_upper": upper,
                    "interval": interval,
                    "p_value": np.nan if bayesian else probability,
                    "prob_positive": probability if bayesian else np.nan,
                    "odds_ratio": float(np.exp(estimate)),
                    "or_ci_lower": np.nan,
                    "or_ci_upper": np.nan,
                    "conclusion": "effect" if lower > 0 or upper < 0 else "no clear effect",
                    "published": PUBLISHED.get(term, ""),
                }
            )
    return pd.DataFrame(rows)


def test_comparison_tex_lays_methods_side_by_side_one_row_per_term():
    from bayes_cluster.analyses.compare import to_latex

    source = to_latex(run_comparison(), columns=SHOWN, caption=CAPTION)
    lines = source.splitlines()
    # two panels of two methods: estimate and p (or P) per method, published last
    assert lines.count(r"\begin{tabular}{lcrcrl}") == 1
    assert lines.count(r"\cmidrule(lr){2-3} \cmidrule(lr){4-5}") == 2
    assert r"Term & Estimate & \textit{p} & Estimate & \textit{p} & Published \\" in lines
    assert (
        r"Term & Estimate & \textit{P}($\beta > 0$) & Estimate & \textit{P}($\beta > 0$) "
        r"& Published \\" in lines
    )
    assert (
        r" & \multicolumn{2}{c}{\begin{tabular}[b]{@{}c@{}}Bayesian hierarchical \\ logit"
        r"\end{tabular}} &  \\" in source
    )
    # the estimate (starred where the method concludes 'effect'), its interval below
    index = lines.index(r"Intercept & $-$6.42$^{*}$ & 0.01 & $-$5.00$^{*}$ & 0.01 &  \\")
    assert lines[index + 1] == r" & [$-$11.25, $-$1.58] &  & [$-$10.02, $-$1.15] &  &  \\"
    assert r"firm\_age & 0.09 & 0.97 & 0.09$^{*}$ & 0.98 & effect \\" in lines
    assert r"technology & $-$0.22 & 0.45 & $-$0.17 & 0.50 & no clear effect \\" in lines
    assert sum(line.startswith("workers & ") for line in lines) == 2  # once per panel
    assert r"\caption{QUICK PREVIEW: not for reporting. Logit coefficients" in source
    assert "Intervals: ML logit: 95\\% Wald CI; Firth logit: 95\\% profile" in source
    assert "odds ratio" not in source and "1.237" not in source  # odds ratios: the CSV's
    # every body row has the tabular's six cells
    body = [line for line in lines if line.endswith(r"\\") and "tabular}[b]" not in line]
    assert {line.count(" & ") for line in body} == {5}


def test_comparison_tex_panels_split_methods_evenly():
    from bayes_cluster.analyses.compare import _panels, to_latex

    assert _panels(["a"], 2) == [["a"]]
    assert _panels(["a", "b", "c"], 2) == [["a", "b"], ["c"]]
    assert _panels(list("abcde"), 2) == [["a", "b"], ["c", "d"], ["e"]]
    assert _panels(list("abcd"), 3) == [["a", "b"], ["c", "d"]]
    three = to_latex(run_comparison(methods=3), columns=SHOWN).splitlines()
    # the lone third method fills the first block; the second stays empty
    assert r"Term & Estimate & \textit{P}($\beta > 0$) &  &  & Published \\" in three
    assert r"workers & 0.16$^{*}$ & 1.00 &  &  & effect \\" in three
    # a panel of a frequentist and a Bayesian method: each its own probability
    mixed = run_comparison().query("method in ['mle', 'bayes']")
    assert (
        r"Term & Estimate & \textit{p} & Estimate & \textit{P}($\beta > 0$) & Published \\"
        in to_latex(mixed, columns=SHOWN).splitlines()
    )
    with pytest.raises(ValueError, match="^methods_per_panel must be at least 1, got 0$"):
        to_latex(run_comparison(), columns=SHOWN, methods_per_panel=0)


@pytest.mark.skipif(
    shutil.which("pdflatex") is None,
    reason="pdflatex is not installed (Debian: texlive-latex-base, texlive-latex-recommended)",
)
@pytest.mark.parametrize("methods", [4, 3])
def test_comparison_tex_fits_the_page(tmp_path, methods):
    """The run's comparison.tex compiles in a plain article and fits its text block.

    The old layout (one row per method and term, eleven columns) was 361 pt wider than
    the page (pdflatex: "Overfull \\hbox (360.97227pt too wide)" on the quick Tumang run).
    """
    from bayes_cluster.analyses.compare import to_latex

    source = to_latex(run_comparison(methods), columns=SHOWN, caption=CAPTION)
    log = compile_latex(tmp_path, latex.minimal_document([source]))
    assert "Overfull \\hbox" not in log  # no wider than the text block
    assert "Float too large" not in log  # no taller than the page


def compile_latex(folder: Path, document: str) -> str:
    """Compile ``document`` with pdflatex in ``folder``; return the log."""
    (folder / "document.tex").write_text(document, encoding="utf-8")
    result = subprocess.run(
        ["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "document.tex"],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:]
    assert (folder / "document.pdf").read_bytes().startswith(b"%PDF")
    return (folder / "document.log").read_text(encoding="latin-1")


def test_the_three_formats_share_one_layout_and_the_figure_keeps_its_engine(tmp_path):
    """save_formats lays a constrained figure out once (for the PNG) and restores it."""
    from matplotlib.layout_engine import ConstrainedLayoutEngine

    def make() -> Figure:
        figure = Figure(figsize=(5, 3), layout="constrained")
        axes = figure.subplots(1, 2)
        for axis in axes:
            axis.plot([0, 1], [0, 1])
            axis.set_ylabel("a long label on the y axis")
            axis.set_title("a title in the default font")
        figure.colorbar(axes[1].imshow([[0, 1], [1, 0]]), ax=axes[1])
        return figure

    def left_edge(figure: Figure, kind: str) -> float:
        """Left edge of the first axes, in figure fractions, after a save as ``kind``."""
        with mpl.rc_context(RC_PARAMS):
            figure.savefig(io.BytesIO(), format=kind, dpi=150)
        return figure.axes[0].get_position().x0

    png_left, svg_left = left_edge(make(), "png"), left_edge(make(), "svg")
    assert png_left != svg_left  # each renderer's own layout differs (text metrics)
    figure = make()
    engine = figure.get_layout_engine()
    assert isinstance(engine, ConstrainedLayoutEngine)
    save_formats(figure, tmp_path / "figure.png", dpi=150)
    assert figure.get_layout_engine() is engine
    # the SVG's first axes patch starts where the PNG's layout put it (points: 5 in x 72)
    svg = (tmp_path / "figure.svg").read_text(encoding="utf-8")
    start = float(re.search(r'<g id="patch_2">\s*<path d="M ([\d.]+) ', svg).group(1))
    assert start == pytest.approx(png_left * 5 * 72, abs=0.005)
    assert start != pytest.approx(svg_left * 5 * 72, abs=0.005)
    # the figure lays itself out again when drawn after the save
    figure.set_size_inches(8, 3)
    FigureCanvasAgg(figure).draw()
    assert figure.axes[0].get_position().x0 != pytest.approx(png_left, abs=1e-4)

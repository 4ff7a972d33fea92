"""The report: Markdown and self-contained HTML from the same content; failures on top."""

from __future__ import annotations

import base64
import re

import pandas as pd
import pytest
from matplotlib.figure import Figure

from bayes_cluster.run.report import (
    Alert,
    BulletList,
    DiagnosticsEntry,
    FigureBlock,
    Paragraph,
    Report,
    TableBlock,
    render_html,
    render_markdown,
    write_report,
)


def make_report(tmp_path, *, quick: bool = False, failed: bool = True) -> Report:
    figure = Figure(figsize=(2, 1))
    figure.add_subplot().plot([0, 1], [1, 0])
    (tmp_path / "figures").mkdir(exist_ok=True)
    figure.savefig(tmp_path / "figures" / "line.png")
    report = Report(title="Study <A&B>", quick=quick, spec_text='[data]\npath = "x.csv"\n')
    report.summary = ["Cluster pattern: Marshallian"]
    section = report.section("Results")
    section.add(
        Paragraph("A **bold** claim about `export`."),
        TableBlock(pd.DataFrame({"term": ["x<1"], "estimate": [0.12345]}), "Estimates"),
        BulletList(("one", "two")),
    )
    section.add(FigureBlock("figures/line.png", "A line"))
    report.diagnostics = [
        DiagnosticsEntry("good fit", True, details=pd.DataFrame({"r_hat": [1.001]}, index=["a"])),
        DiagnosticsEntry(
            "bad fit",
            not failed,
            problems=("R-hat 1.2 for beta[x] (> 1.01)",) if failed else (),
            advice=("Run more tuning.",) if failed else (),
        ),
    ]
    report.reproducibility = {"seed": "2028", "data_hash": "sha256:abc"}
    return report


def test_markdown_puts_quick_banner_and_failures_on_top(tmp_path):
    text = render_markdown(make_report(tmp_path, quick=True))
    lines = text.splitlines()
    assert lines[0] == "# Study <A&B>"
    assert lines[2].startswith("> **NOTE** QUICK PREVIEW (--quick)")
    assert lines[4] == (
        "> **FAILED** MCMC diagnostics FAILED for bad fit: R-hat 1.2 for beta[x] (> 1.01). "
        "Run more tuning."
    )
    headings = [line for line in lines if line.startswith("## ")]
    assert headings == [
        "## Summary",
        "## Results",
        "## MCMC diagnostics",
        "## Reproducibility",
    ]
    assert "![A line](figures/line.png)" in lines
    assert "| x<1 | 0.123 |" in text
    # in the diagnostics overview the failed fit comes first
    overview = text[text.index("*Convergence verdict") :]
    assert overview.index("| bad fit | FAILED |") < overview.index("| good fit | passed |")
    assert '```toml\n[data]\npath = "x.csv"\n```' in text


def test_html_is_self_contained_and_shows_failures_in_red(tmp_path):
    report = make_report(tmp_path)
    page = render_html(report, tmp_path)
    assert page.startswith("<!DOCTYPE html>")
    assert "<title>Study &lt;A&amp;B&gt;</title>" in page
    # nothing is loaded from elsewhere: no external URLs, scripts or stylesheets
    assert not re.search(r"(src|href)=\"(https?:)?//", page)
    assert "<script" not in page and "<link" not in page
    # the figure is embedded, byte for byte
    payload = re.search(r'src="data:image/png;base64,([^"]+)"', page).group(1)
    assert base64.b64decode(payload) == (tmp_path / "figures" / "line.png").read_bytes()
    # the first box after the title is the red failure box
    first_alert = re.search(r'<div class="alert (\w+)">([^<]*)', page)
    assert first_alert.group(1) == "error"
    assert "MCMC diagnostics FAILED for bad fit" in first_alert.group(2)
    assert ".alert.error { background: #fde8e8; border-color: #c62828; color: #b00020" in page
    assert "<td>x&lt;1</td>" in page
    assert "A <strong>bold</strong> claim about <code>export</code>." in page


def test_all_passed_gets_a_green_box(tmp_path):
    report = make_report(tmp_path, failed=False)
    assert [a.level for a in report.top_alerts()] == ["ok"]
    assert report.top_alerts()[0].text.startswith("All 2 MCMC fits passed")


def test_write_report_writes_the_requested_formats(tmp_path):
    written = write_report(make_report(tmp_path), tmp_path, formats=("md",))
    assert set(written) == {"md"}
    assert (tmp_path / "report.md").is_file() and not (tmp_path / "report.html").exists()
    written = write_report(make_report(tmp_path), tmp_path)
    assert sorted(p.name for p in written.values()) == ["report.html", "report.md"]


def test_alert_block_inside_a_section(tmp_path):
    report = Report(title="t")
    report.section("S").add(Alert("careful", "warning"))
    assert '<div class="alert warning">careful</div>' in render_html(report, tmp_path)
    assert "> **NOTE** careful" in render_markdown(report)


def test_a_figure_without_a_caption_is_refused():
    with pytest.raises(ValueError, match=r"^figure 'figures/line.png' needs a caption$"):
        FigureBlock("figures/line.png", "  ")


def test_a_report_refers_only_to_figures_that_were_written(tmp_path):
    report = make_report(tmp_path)
    report.section("More").add(
        FigureBlock("figures/never_drawn.png", "A figure nobody drew"),
        FigureBlock("figures/line.png", "The line again"),
    )
    with pytest.raises(FileNotFoundError) as caught:
        write_report(report, tmp_path)
    assert str(caught.value) == (
        f"the report refers to figures that were not written in {tmp_path}: "
        "figures/never_drawn.png"
    )
    assert not (tmp_path / "report.md").exists() and not (tmp_path / "report.html").exists()


def test_vector_versions_are_linked_under_the_figure_and_must_exist(tmp_path):
    report = make_report(tmp_path)
    (tmp_path / "figures" / "line.pdf").write_bytes(b"%PDF-1.4\n")
    vector = ("figures/line.pdf", "figures/line.svg")
    report.section("Vector").add(FigureBlock("figures/line.png", "The line, for papers", vector))
    with pytest.raises(FileNotFoundError, match=r"not written in .*: figures/line\.svg$"):
        write_report(report, tmp_path)
    (tmp_path / "figures" / "line.svg").write_text("<svg/>", encoding="utf-8")
    write_report(report, tmp_path)
    markdown = (tmp_path / "report.md").read_text(encoding="utf-8")
    assert (
        "*The line, for papers*\n\n"
        "Vector versions: [PDF](figures/line.pdf), [SVG](figures/line.svg)\n"
    ) in markdown
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert (
        '<figcaption>The line, for papers <span class="vector">(vector: '
        '<a href="figures/line.pdf">PDF</a> <a href="figures/line.svg">SVG</a>)</span>'
        "</figcaption>"
    ) in page
    # a figure without vector versions gets no links
    assert "<figcaption>A line</figcaption>" in page

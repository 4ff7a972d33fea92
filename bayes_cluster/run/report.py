"""The run report: ``report.md`` and a self-contained ``report.html``.

The report is assembled from plain blocks (paragraphs, tables, figures, alerts) into
sections, then rendered twice from the same content: as Markdown (figures linked from
``figures/``) and as HTML with every figure embedded as base64 PNG and the style inline,
so the file opens offline in any browser; a figure's PDF and SVG versions are linked
under it.  The report never fits anything: it shows what :mod:`bayes_cluster.run.pipeline`
computed.

Failed MCMC diagnostics go on top of the report, in red; a ``--quick`` preview says so
in a banner on top.
"""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from bayes_cluster.analyses.compare import format_cell, to_markdown

__all__ = [
    "Alert",
    "BulletList",
    "DiagnosticsEntry",
    "FigureBlock",
    "Paragraph",
    "Preformatted",
    "Report",
    "Section",
    "TableBlock",
    "render_html",
    "render_markdown",
    "write_report",
]


@dataclass(frozen=True)
class Paragraph:
    """A paragraph; ``**bold**`` and ```code``` are rendered in both formats."""

    text: str


@dataclass(frozen=True)
class BulletList:
    """A bulleted list of short sentences."""

    items: tuple[str, ...]


@dataclass(frozen=True)
class TableBlock:
    """A table with a caption."""

    frame: pd.DataFrame
    caption: str = ""
    digits: int = 3
    index: bool = False


@dataclass(frozen=True)
class FigureBlock:
    """A figure saved as PNG, by path relative to the report folder.

    Every figure needs a caption that says what it shows (and what to look for); an
    empty one is refused.  ``vector`` lists the same figure's PDF/SVG files (relative
    paths), linked under the figure for papers.
    """

    path: str
    caption: str
    vector: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.caption.strip():
            raise ValueError(f"figure {self.path!r} needs a caption")


@dataclass(frozen=True)
class Alert:
    """A coloured box: ``level`` is ``"error"`` (red), ``"warning"`` or ``"ok"``."""

    text: str
    level: str = "error"


@dataclass(frozen=True)
class Preformatted:
    """Verbatim text (e.g. the spec file)."""

    text: str


Block = Paragraph | BulletList | TableBlock | FigureBlock | Alert | Preformatted


@dataclass
class Section:
    """A titled section of the report."""

    title: str
    blocks: list[Block] = field(default_factory=list)

    def add(self, *blocks: Block) -> Section:
        """Append blocks; returns the section for chaining."""
        self.blocks.extend(blocks)
        return self


@dataclass(frozen=True)
class DiagnosticsEntry:
    """The convergence verdict of one MCMC fit, as the report shows it.

    Attributes
    ----------
    name : str
        Which fit (e.g. ``"bayes_hierarchical"``, ``"latent_class K=2"``).
    passed : bool
        Whether every check passed.
    problems : tuple of str
        What failed, in words.
    advice : tuple of str
        What to do about it.
    details : pandas.DataFrame or None
        The numbers (R-hat, ESS) of the parameters worth a look.
    summary : str
        One sentence of sampler statistics (chains, draws, divergences, E-BFMI).
    order : int
        Place of the fit's part of the report: the report lists the fits in this order,
        then in the order they were recorded (a run reads some fits after a later
        section's).
    """

    name: str
    passed: bool
    problems: tuple[str, ...] = ()
    advice: tuple[str, ...] = ()
    details: pd.DataFrame | None = None
    summary: str = ""
    order: int = 0


@dataclass
class Report:
    """Everything the report shows.

    Attributes
    ----------
    title : str
        Report title.
    sections : list of Section
        The body, in order.
    diagnostics : list of DiagnosticsEntry
        Every MCMC fit's verdict (failures are listed on top, in red).
    reproducibility : dict
        Package versions, seed, spec, data hash (:func:`~provenance.provenance`).
    spec_text : str
        The spec file, shown verbatim at the end.
    quick : bool
        Whether this is a ``--quick`` preview (a banner says so).
    summary : list of str
        The headline verdicts, shown first.
    """

    title: str
    sections: list[Section] = field(default_factory=list)
    diagnostics: list[DiagnosticsEntry] = field(default_factory=list)
    reproducibility: dict[str, str] = field(default_factory=dict)
    spec_text: str = ""
    quick: bool = False
    summary: list[str] = field(default_factory=list)

    def section(self, title: str) -> Section:
        """Append and return a new section."""
        new = Section(title)
        self.sections.append(new)
        return new

    @property
    def fits(self) -> list[DiagnosticsEntry]:
        """Every fit's diagnostics, in report order (:attr:`DiagnosticsEntry.order`)."""
        return sorted(self.diagnostics, key=lambda entry: entry.order)

    @property
    def failed(self) -> list[DiagnosticsEntry]:
        """Fits whose diagnostics failed."""
        return [entry for entry in self.fits if not entry.passed]

    def all_sections(self) -> list[Section]:
        """Return the body plus the diagnostics and reproducibility sections."""
        sections = []
        if self.summary:
            sections.append(Section("Summary", [BulletList(tuple(self.summary))]))
        sections.extend(self.sections)
        sections.append(self._diagnostics_section())
        sections.append(self._reproducibility_section())
        return sections

    def top_alerts(self) -> list[Alert]:
        """Return the boxes above everything: quick-preview banner, failed diagnostics."""
        alerts = []
        if self.quick:
            alerts.append(
                Alert(
                    "QUICK PREVIEW (--quick): few MCMC draws and EM starts. The numbers show "
                    "that the pipeline works; do not report them. Run without --quick for "
                    "the real analysis.",
                    "warning",
                )
            )
        for entry in self.failed:
            problems = "; ".join(entry.problems) or "a check failed"
            advice = " ".join(entry.advice)
            alerts.append(
                Alert(
                    f"MCMC diagnostics FAILED for {entry.name}: {problems}. {advice}".strip(),
                    "error",
                )
            )
        if self.diagnostics and not self.failed:
            alerts.append(
                Alert(
                    f"All {len(self.diagnostics)} MCMC fits passed their diagnostics "
                    "(R-hat, ESS, divergences, E-BFMI).",
                    "ok",
                )
            )
        return alerts

    def _diagnostics_section(self) -> Section:
        section = Section("MCMC diagnostics")
        if not self.diagnostics:
            return section.add(Paragraph("No MCMC fit in this run."))
        section.add(
            Paragraph(
                "Every Bayesian fit is checked for R-hat (< 1.01), bulk and tail effective "
                "sample size, divergent transitions and E-BFMI. Failed fits come first."
            )
        )
        ordered = sorted(self.fits, key=lambda entry: entry.passed)
        overview = pd.DataFrame(
            {
                "fit": [e.name for e in ordered],
                "verdict": ["FAILED" if not e.passed else "passed" for e in ordered],
                "problems": ["; ".join(e.problems) for e in ordered],
            }
        )
        section.add(TableBlock(overview, "Convergence verdict of every MCMC fit"))
        for entry in ordered:
            if not entry.passed:
                section.add(
                    Alert(
                        f"{entry.name}: "
                        + "; ".join(entry.problems)
                        + ". "
                        + " ".join(entry.advice),
                        "error",
                    )
                )
            if entry.summary:
                section.add(Paragraph(f"**{entry.name}**: {entry.summary}"))
            if entry.details is not None and len(entry.details):
                section.add(TableBlock(entry.details, f"{entry.name}: diagnostics", index=True))
        return section

    def _reproducibility_section(self) -> Section:
        section = Section("Reproducibility")
        if self.reproducibility:
            block = pd.DataFrame(
                {"item": list(self.reproducibility), "value": list(self.reproducibility.values())}
            )
            section.add(TableBlock(block, "What produced these numbers"))
        if self.spec_text:
            section.add(Paragraph("The spec that was run:"), Preformatted(self.spec_text))
        return section


# --------------------------------------------------------------------------- Markdown

_ALERT_PREFIX = {"error": "**FAILED** ", "warning": "**NOTE** ", "ok": ""}


def render_markdown(report: Report) -> str:
    """Render the report as Markdown (figures linked by relative path).

    Parameters
    ----------
    report : Report

    Returns
    -------
    str
    """
    lines = [f"# {report.title}", ""]
    for alert in report.top_alerts():
        lines += [f"> {_ALERT_PREFIX[alert.level]}{alert.text}", ""]
    for section in report.all_sections():
        lines += [f"## {section.title}", ""]
        for block in section.blocks:
            lines += _markdown_block(block)
    return "\n".join(lines).rstrip() + "\n"


def _markdown_block(block: Block) -> list[str]:
    match block:
        case Paragraph(text=text):
            return [text, ""]
        case BulletList(items=items):
            return [*(f"- {item}" for item in items), ""]
        case TableBlock(frame=frame, caption=caption, digits=digits, index=index):
            head = [f"*{caption}*", ""] if caption else []
            return [*head, to_markdown(frame, digits=digits, index=index)]
        case FigureBlock(path=path, caption=caption, vector=vector):
            links = [f"[{Path(v).suffix.lstrip('.').upper()}]({v})" for v in vector]
            also = [f"Vector versions: {', '.join(links)}", ""] if links else []
            return [f"![{caption}]({path})", "", f"*{caption}*", "", *also]
        case Alert(text=text, level=level):
            return [f"> {_ALERT_PREFIX[level]}{text}", ""]
        case Preformatted(text=text):
            return ["```toml", text.rstrip(), "```", ""]
    raise TypeError(f"unknown report block {block!r}")  # pragma: no cover


# --------------------------------------------------------------------------- HTML

_STYLE = """
body { font-family: -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif; margin: 2em auto;
       max-width: 1100px; padding: 0 1.5em; color: #1d1d1f; line-height: 1.45; }
h1 { font-size: 1.7em; border-bottom: 2px solid #333; padding-bottom: .3em; }
h2 { font-size: 1.3em; margin-top: 2em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; margin: .6em 0 1.4em; font-size: .86em; }
th, td { border: 1px solid #d0d0d0; padding: .25em .55em; }
th { background: #f2f2f2; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
caption { caption-side: top; text-align: left; font-style: italic; padding-bottom: .3em; }
figure { margin: 1em 0 1.6em; }
figure img { max-width: 100%; border: 1px solid #e3e3e3; }
figcaption { font-style: italic; font-size: .9em; color: #444; }
.alert { padding: .7em 1em; margin: .6em 0; border-radius: 4px; border-left: 6px solid; }
.alert.error { background: #fde8e8; border-color: #c62828; color: #b00020; font-weight: 600; }
.alert.warning { background: #fff4e0; border-color: #e69500; color: #7a4b00; font-weight: 600; }
.alert.ok { background: #e8f5e9; border-color: #2e7d32; color: #1b5e20; }
pre { background: #f6f8fa; padding: 1em; overflow-x: auto; font-size: .85em; }
code { background: #f2f2f2; padding: 0 .2em; }
nav ul { columns: 2; }
"""


def _inline(text: str) -> str:
    """Escape text and render ``**bold**`` and ```code```."""
    escaped = html.escape(text)
    escaped = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", escaped)
    return re.sub(r"`(.+?)`", r"<code>\1</code>", escaped)


def _html_table(block: TableBlock) -> str:
    frame = block.frame.reset_index() if block.index else block.frame
    numeric = [pd.api.types.is_numeric_dtype(frame[c]) for c in frame.columns]
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    body = []
    for record in frame.itertuples(index=False):
        cells = []
        for value, is_number in zip(record, numeric, strict=True):
            text = html.escape(format_cell(value, block.digits))
            css = ' class="num"' if is_number else ""
            if text in ("FAILED",):
                text = f'<strong style="color:#b00020">{text}</strong>'
            cells.append(f"<td{css}>{text}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    caption = f"<caption>{_inline(block.caption)}</caption>" if block.caption else ""
    return (
        f"<table>{caption}<thead><tr>{head}</tr></thead><tbody>"
        + "\n".join(body)
        + "</tbody></table>"
    )


def _html_block(block: Block, folder: Path) -> str:
    match block:
        case Paragraph(text=text):
            return f"<p>{_inline(text)}</p>"
        case BulletList(items=items):
            return "<ul>" + "".join(f"<li>{_inline(i)}</li>" for i in items) + "</ul>"
        case TableBlock():
            return _html_table(block)
        case FigureBlock(path=path, caption=caption, vector=vector):
            payload = base64.b64encode((folder / path).read_bytes()).decode("ascii")
            links = " ".join(
                f'<a href="{html.escape(v)}">{Path(v).suffix.lstrip(".").upper()}</a>'
                for v in vector
            )
            also = f' <span class="vector">(vector: {links})</span>' if links else ""
            return (
                f'<figure><img alt="{html.escape(caption)}" '
                f'src="data:image/png;base64,{payload}">'
                f"<figcaption>{_inline(caption)}{also}</figcaption></figure>"
            )
        case Alert(text=text, level=level):
            return f'<div class="alert {level}">{_inline(text)}</div>'
        case Preformatted(text=text):
            return f"<pre>{html.escape(text)}</pre>"
    raise TypeError(f"unknown report block {block!r}")  # pragma: no cover


def _anchor(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")


def render_html(report: Report, folder: str | Path) -> str:
    """Render the report as one self-contained HTML page.

    Parameters
    ----------
    report : Report
    folder : str or pathlib.Path
        The report folder, where the figures' relative paths point (they are embedded).

    Returns
    -------
    str
        HTML with inline CSS and base64 figures; it loads nothing from the network.
    """
    folder = Path(folder)
    sections = report.all_sections()
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{html.escape(report.title)}</title>",
        f"<style>{_STYLE}</style></head><body>",
        f"<h1>{html.escape(report.title)}</h1>",
        *(_html_block(alert, folder) for alert in report.top_alerts()),
        "<nav><strong>Contents</strong><ul>",
        *(f'<li><a href="#{_anchor(s.title)}">{html.escape(s.title)}</a></li>' for s in sections),
        "</ul></nav>",
    ]
    for section in sections:
        parts.append(f'<h2 id="{_anchor(section.title)}">{html.escape(section.title)}</h2>')
        parts.extend(_html_block(block, folder) for block in section.blocks)
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def write_report(
    report: Report, folder: str | Path, formats: Sequence[str] = ("html", "md")
) -> Mapping[str, Path]:
    """Write ``report.md`` and/or ``report.html`` into ``folder``.

    Parameters
    ----------
    report : Report
    folder : str or pathlib.Path
        The run's output folder (figures already saved under it).
    formats : sequence of {"html", "md"}

    Returns
    -------
    dict
        Format -> written path.

    Raises
    ------
    FileNotFoundError
        If a figure of the report is not in ``folder`` (nothing is written).
    """
    folder = Path(folder)
    missing = [
        path
        for section in report.sections
        for block in section.blocks
        if isinstance(block, FigureBlock)
        for path in (block.path, *block.vector)
        if not (folder / path).is_file()
    ]
    if missing:
        raise FileNotFoundError(
            f"the report refers to figures that were not written in {folder}: "
            + ", ".join(missing)
        )
    written = {}
    if "md" in formats:
        path = folder / "report.md"
        path.write_text(render_markdown(report), encoding="utf-8")
        written["md"] = path
    if "html" in formats:
        path = folder / "report.html"
        path.write_text(render_html(report, folder), encoding="utf-8")
        written["html"] = path
    return written

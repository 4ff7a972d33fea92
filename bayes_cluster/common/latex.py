r"""Journal-ready LaTeX tables: one ``booktabs`` table per question.

Each writer takes the tables a run already computed (plain DataFrames, as in the run's
CSV files) and returns the source of one LaTeX ``table`` environment with a caption, a
label, readable headers and a notes line (interval type, number of firms, priors).
Numbers are formatted for their meaning: counts as integers, probabilities with two
decimals, coefficients and log scores with two.  The tables need only
``\usepackage{booktabs}`` in the preamble.

- :func:`coefficients_table`: the export logit's coefficients, one column per method;
- :func:`cluster_verdict_table`: which Markusen pattern the cluster follows;
- :func:`model_comparison_table`: PSIS-LOO (and BIC) of the fitted model variants.

This module formats; it never fits or reads files.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pandas as pd

from bayes_cluster.common.dims import INTERCEPT

__all__ = [
    "METHOD_NAMES",
    "LatexTable",
    "cluster_verdict_table",
    "coefficients_table",
    "format_count",
    "format_number",
    "format_probability",
    "latex_escape",
    "method_header",
    "method_label",
    "minimal_document",
    "model_comparison_table",
]

METHOD_NAMES: Mapping[str, str] = {
    "mle": "ML\nlogit",
    "firth": "Firth\nlogit",
    "bayes": "Bayesian\nlogit",
    "bayes_hierarchical": "Bayesian hierarchical\nlogit",
}
"""Readable column headers of the methods (others: ``bayes_x`` -> ``Bayesian x``)."""

_ESCAPES = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "<": r"$<$",
    ">": r"$>$",
}


def latex_escape(text: str) -> str:
    r"""Escape LaTeX's special characters in plain text.

    Parameters
    ----------
    text : str

    Returns
    -------
    str

    Examples
    --------
    >>> latex_escape("log(workers) & 95% CI")
    'log(workers) \\& 95\\% CI'
    """
    return "".join(_ESCAPES.get(ch, ch) for ch in str(text))


def format_count(value: object) -> str:
    """Format a count as an integer (empty when missing).

    Examples
    --------
    >>> format_count(11.0)
    '11'
    """
    number = float(value)  # type: ignore[arg-type]
    return "" if math.isnan(number) else f"{round(number):d}"


def format_probability(value: object) -> str:
    """Format a probability with two decimals (empty when missing).

    Examples
    --------
    >>> format_probability(0.98333)
    '0.98'
    """
    number = float(value)  # type: ignore[arg-type]
    return "" if math.isnan(number) else f"{number:.2f}"


def format_number(value: object, digits: int = 2) -> str:
    r"""Format a real number with ``digits`` decimals and a proper minus sign.

    Examples
    --------
    >>> format_number(-0.586)
    '$-$0.59'
    """
    number = float(value)  # type: ignore[arg-type]
    if math.isnan(number):
        return ""
    if math.isinf(number):
        return r"$\infty$" if number > 0 else r"$-\infty$"
    text = f"{number:.{digits}f}"
    if text.startswith("-"):
        text = "$-$" + text[1:] if float(text) != 0 else text[1:]
    return text


@dataclass(frozen=True)
class LatexTable:
    r"""A finished table: its LaTeX source, label and caption.

    Attributes
    ----------
    source : str
        The ``table`` environment (needs ``\usepackage{booktabs}``).
    label : str
        Its ``\label``.
    caption : str
        Its caption (plain text, before escaping).
    """

    source: str
    label: str
    caption: str


def _render(
    header: Sequence[str],
    rows: Sequence[Sequence[str] | str],
    *,
    align: str,
    caption: str,
    label: str,
    notes: str,
) -> LatexTable:
    """Assemble a booktabs table; a row given as a str is written as it is (panels, rules)."""
    lines = [
        r"\begin{table}[htbp]",
        r"\centering",
        r"\footnotesize",
        r"\setlength{\tabcolsep}{3pt}",
        rf"\caption{{{latex_escape(caption)}}}",
        rf"\label{{{label}}}",
        rf"\begin{{tabular}}{{{align}}}",
        r"\toprule",
        " & ".join(header) + r" \\",
        r"\midrule",
    ]
    for row in rows:
        lines.append(row if isinstance(row, str) else " & ".join(row) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    if notes:
        lines += [
            r"\par\smallskip",
            rf"\parbox{{\linewidth}}{{\footnotesize \textit{{Notes:}} {latex_escape(notes)}}}",
        ]
    lines.append(r"\end{table}")
    return LatexTable("\n".join(lines) + "\n", label, caption)


def _head(text: str, *, escape: bool = True) -> str:
    """Render a column header, on two lines where ``text`` has a newline."""
    lines = [latex_escape(line) if escape else line for line in text.split("\n")]
    if len(lines) == 1:
        return lines[0]
    return r"\begin{tabular}[b]{@{}c@{}}" + r" \\ ".join(lines) + r"\end{tabular}"


def method_header(method: str) -> str:
    r"""Render a method's column header (``bayes_hierarchical`` -> Bayesian hierarchical logit).

    Parameters
    ----------
    method : str
        ``mle``, ``firth``, ``bayes`` or ``bayes_<variant>``.

    Returns
    -------
    str
        The header, on two lines (a nested ``tabular``) where :data:`METHOD_NAMES` says.

    Examples
    --------
    >>> method_header("firth")
    '\\begin{tabular}[b]{@{}c@{}}Firth \\\\ logit\\end{tabular}'
    """
    return _head(_method_name(method))


def method_label(method: str) -> str:
    """Return a method's readable name on one line, unescaped (for notes and legends).

    Parameters
    ----------
    method : str
        ``mle``, ``firth``, ``bayes`` or ``bayes_<variant>``.

    Returns
    -------
    str

    Examples
    --------
    >>> method_label("bayes_hierarchical")
    'Bayesian hierarchical logit'
    """
    return _one_line(_method_name(method))


def _one_line(text: str) -> str:
    return text.replace("\n", " ")


def _method_name(method: str) -> str:
    if method in METHOD_NAMES:
        return METHOD_NAMES[method]
    if method.startswith("bayes_"):
        return "Bayesian " + method.removeprefix("bayes_").replace("_", " ") + "\nlogit"
    return method


def _preview(caption: str, quick: bool) -> str:
    return f"QUICK PREVIEW, not for reporting. {caption}" if quick else caption


def coefficients_table(
    comparison: pd.DataFrame,
    *,
    n_firms: int,
    priors: str = "",
    quick: bool = False,
    label: str = "tab:export-coefficients",
) -> LatexTable:
    r"""Export logit coefficients by method: estimate, interval below it, one column each.

    Parameters
    ----------
    comparison : pandas.DataFrame
        The method x term table (:func:`bayes_cluster.analyses.compare.comparison_table`).
    n_firms : int
        Number of firms the models were fitted to.
    priors : str
        The Bayesian priors in words, for the notes line.
    quick : bool
        Label the table a quick preview.
    label : str
        ``\label`` of the table.

    Returns
    -------
    LatexTable
    """
    methods = list(dict.fromkeys(comparison["method"]))
    # the coefficients the methods share (a hierarchical fit's group effects stay in its CSV)
    counts = comparison["term"].value_counts()
    terms = [t for t in dict.fromkeys(comparison["term"]) if len(methods) == 1 or counts[t] > 1]
    indexed = comparison.set_index(["method", "term"])
    header = ["Term", *(_head(_method_name(m)) for m in methods)]
    rows: list[Sequence[str] | str] = []
    for term in terms:
        estimates, intervals = [latex_escape(term)], [""]
        probabilities = [r"\quad \textit{P}($\beta > 0$)"]
        has_probability = False
        for method in methods:
            if (method, term) not in indexed.index:
                estimates.append("")
                intervals.append("")
                probabilities.append("")
                continue
            row = indexed.loc[(method, term)]
            estimates.append(format_number(row["estimate"]))
            lower, upper = format_number(row["ci_lower"]), format_number(row["ci_upper"])
            intervals.append(f"[{lower}, {upper}]" if lower and upper else "")
            probability = format_probability(row["prob_positive"])
            has_probability |= bool(probability)
            probabilities.append(f"({probability})" if probability else "")
        rows += [estimates, intervals]
        if has_probability and term != INTERCEPT:
            rows.append(probabilities)
        rows.append(r"\addlinespace")
    if rows and rows[-1] == r"\addlinespace":
        rows.pop()
    interval_kinds = "; ".join(
        f"{_one_line(_method_name(m))}: "
        f"{comparison.loc[comparison['method'] == m, 'interval'].iloc[0]}"
        for m in methods
    )
    notes = (
        f"Coefficients on the log-odds scale (original units of each predictor); "
        f"intervals in brackets ({interval_kinds}). n = {n_firms} firms. "
        + (f"Priors: {priors}. " if priors else "")
        + (comparison.attrs.get("rules", "") and f"Conclusion rule: {comparison.attrs['rules']}.")
    ).strip()
    caption = _preview("Export orientation: logit coefficients by method", quick)
    return _render(
        header, rows, align="l" + "c" * len(methods), caption=caption, label=label, notes=notes
    )


def cluster_verdict_table(
    verdict: pd.DataFrame | None,
    *,
    descriptive: pd.DataFrame | None = None,
    n_firms: int,
    n_classes: int | None = None,
    hdi_prob: float = 0.94,
    priors: str = "",
    quick: bool = False,
    label: str = "tab:cluster-verdict",
) -> LatexTable:
    r"""Which Markusen pattern? Descriptive item matches and posterior class-type shares.

    Parameters
    ----------
    verdict : pandas.DataFrame or None
        The Bayesian verdict per type (columns ``markusen_type``, ``mean_share``,
        ``hdi_lower``, ``hdi_upper``, ``p_present`` and ``p_share_gt_<x>``), as in
        ``latent_class/bayes_cluster_verdict.csv``.
    descriptive : pandas.DataFrame, optional
        The descriptive scoring per type (``type``, ``n_matched``, ``n_items``).
    n_firms : int
        Number of firms.
    n_classes : int, optional
        Number of latent classes of the Bayesian fit.
    hdi_prob : float
        Probability of the highest-density intervals.
    priors : str
        The latent-class priors in words.
    quick : bool
        Label the table a quick preview.
    label : str
        ``\label`` of the table.

    Returns
    -------
    LatexTable
    """
    if verdict is None and descriptive is None:
        raise ValueError("cluster_verdict_table needs the Bayesian verdict or the scoring")
    types = list(
        verdict["markusen_type"] if verdict is not None else descriptive["type"]  # type: ignore[index]
    )
    header = ["Markusen type"]
    align = "l"
    scored = descriptive.set_index("type") if descriptive is not None else None
    if scored is not None:
        n_items = int(scored["n_items"].max())
        header.append(_head(f"Items matched\n(of {n_items})"))
        align += "c"
    thresholds: list[tuple[str, str]] = []
    if verdict is not None:
        thresholds = [
            (c, c.removeprefix("p_share_gt_"))
            for c in verdict.columns
            if c.startswith("p_share_gt_")
        ]
        percent = f"{100 * hdi_prob:g}\\%"
        header += [
            _head("Mean\nshare"),
            _head(f"{percent}\nHDI", escape=False),
            _head("P(type\npresent)"),
            *(_head(f"P(share\n> {t})") for _, t in thresholds),
        ]
        align += "cc" + "c" * (1 + len(thresholds))
    rows: list[Sequence[str] | str] = []
    by_type = verdict.set_index("markusen_type") if verdict is not None else None
    for name in types:
        row = [latex_escape(name)]
        if scored is not None:
            row.append(format_count(scored.loc[name, "n_matched"]) if name in scored.index else "")
        if by_type is not None:
            entry = by_type.loc[name]
            row += [
                format_probability(entry["mean_share"]),
                f"[{format_probability(entry['hdi_lower'])}, "
                f"{format_probability(entry['hdi_upper'])}]",
                format_probability(entry["p_present"]),
                *(format_probability(entry[column]) for column, _ in thresholds),
            ]
        rows.append(row)
    notes = []
    if scored is not None:
        notes.append(
            "Items matched: Markusen items whose observed level of agreement matches the "
            "type's signature (descriptive scoring)."
        )
    if verdict is not None:
        classes = f" with K = {n_classes} latent classes" if n_classes else ""
        notes.append(
            f"Bayesian latent-class model{classes}: share of firms in classes typed as each "
            f"pattern (posterior mean, {100 * hdi_prob:g}% highest-density interval) and "
            "posterior probabilities."
        )
    notes.append(f"n = {n_firms} firms.")
    if priors:
        notes.append(f"Priors: {priors}.")
    caption = _preview("Cluster pattern: evidence for each Markusen (1996) type", quick)
    return _render(header, rows, align=align, caption=caption, label=label, notes=" ".join(notes))


def model_comparison_table(
    logit_loo: pd.DataFrame | None = None,
    latent_class_loo: pd.DataFrame | None = None,
    *,
    n_firms: int,
    quick: bool = False,
    label: str = "tab:model-comparison",
) -> LatexTable:
    r"""Model comparison by PSIS-LOO: Bayesian logit variants and numbers of classes.

    Parameters
    ----------
    logit_loo : pandas.DataFrame, optional
        Indexed by model; columns ``elpd``, ``se``, ``elpd_diff``, ``dse``, ``p``
        (as ``logistic/loo_comparison.csv``).
    latent_class_loo : pandas.DataFrame, optional
        Indexed by ``K=k``; columns ``elpd_loo``, ``se``, ``elpd_diff``, ``se_diff``,
        ``p_loo``, ``n_high_pareto_k`` and optionally ``bic_em`` (as
        ``latent_class/loo_comparison.csv``).
    n_firms : int
        Number of firms.
    quick : bool
        Label the table a quick preview.
    label : str
        ``\label`` of the table.

    Returns
    -------
    LatexTable

    Raises
    ------
    ValueError
        If neither comparison is given.
    """
    if logit_loo is None and latent_class_loo is None:
        raise ValueError("model_comparison_table needs at least one comparison")
    has_bic = latent_class_loo is not None and "bic_em" in latent_class_loo.columns
    header = [
        "Model",
        r"ELPD\textsubscript{LOO}",
        "SE",
        r"$\Delta$ELPD",
        r"SE($\Delta$)",
        r"\textit{p}\textsubscript{LOO}",
        _head("High\nPareto k"),
        *([_head("BIC\n(EM)")] if has_bic else []),
    ]
    width = len(header)
    rows: list[Sequence[str] | str] = []
    if logit_loo is not None:
        rows.append(rf"\multicolumn{{{width}}}{{l}}{{\textit{{A. Export logit variants}}}} \\")
        for model, entry in logit_loo.iterrows():
            rows.append(
                [
                    latex_escape(_one_line(_method_name(str(model)))),
                    format_number(entry["elpd"]),
                    format_number(entry["se"]),
                    format_number(entry["elpd_diff"]),
                    format_number(entry["dse"]),
                    format_number(entry["p"]),
                    _high_pareto(entry.get("diag_elpd", "")),
                    *([""] if has_bic else []),
                ]
            )
    if latent_class_loo is not None:
        if rows:
            rows.append(r"\addlinespace")
        rows.append(rf"\multicolumn{{{width}}}{{l}}{{\textit{{B. Number of latent classes}}}} \\")
        for model, entry in latent_class_loo.iterrows():
            n_classes = str(model).removeprefix("K=")
            rows.append(
                [
                    latex_escape(f"{n_classes} class" + ("" if n_classes == "1" else "es")),
                    format_number(entry["elpd_loo"]),
                    format_number(entry["se"]),
                    format_number(entry["elpd_diff"]),
                    format_number(entry["se_diff"]),
                    format_number(entry["p_loo"]),
                    format_count(entry["n_high_pareto_k"]),
                    *([format_number(entry["bic_em"], 1)] if has_bic else []),
                ]
            )
    notes = (
        "ELPD: expected log pointwise predictive density by Pareto-smoothed importance-"
        "sampling leave-one-out cross-validation (higher is better); Delta ELPD: difference "
        "to the best model in each panel, with its standard error; p_LOO: effective number "
        "of parameters; high Pareto k: observations whose importance weights are "
        f"unreliable (Pareto k above the sample-size threshold). n = {n_firms} firms."
        + (
            " BIC of the maximum-likelihood (EM) fit with the same K (lower is better)."
            if has_bic
            else ""
        )
    )
    caption = _preview("Model comparison by PSIS-LOO", quick)
    return _render(
        header, rows, align="l" + "r" * (width - 1), caption=caption, label=label, notes=notes
    )


def _high_pareto(text: object) -> str:
    """Count observations with a high Pareto k, from ArviZ's ``"3 k̂ > 0.60"`` text."""
    if not isinstance(text, str) or not text.strip():
        return "0"
    head = text.strip().split()[0]
    return head if head.isdigit() else latex_escape(text)


def minimal_document(tables: Sequence[LatexTable | str]) -> str:
    r"""Wrap tables into the smallest document that compiles them (``article`` + booktabs).

    Parameters
    ----------
    tables : sequence of LatexTable or str

    Returns
    -------
    str
    """
    body = "\n".join(t.source if isinstance(t, LatexTable) else t for t in tables)
    return (
        "\\documentclass{article}\n\\usepackage{booktabs}\n"
        "\\begin{document}\n" + body + "\\end{document}\n"
    )

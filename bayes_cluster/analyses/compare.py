"""One table with every method's estimate, interval and verdict per term.

The comparison puts the maximum-likelihood logit, Firth's penalised logit and each
Bayesian logit side by side, one row per method and term, with a plain-word conclusion
(``effect`` / ``no clear effect``) and, where a study published its own conclusions,
those beside them.  It is written as CSV (for scripts), Markdown and LaTeX (for papers).

Each method's own summary is turned into the common row format by one small adapter
(:func:`from_mle`, :func:`from_firth`, :func:`from_bayes`): the only place to change
when a method's summary changes.

Conclusion rules (stated in every output that shows them):

- frequentist methods: ``effect`` when the p-value is below ``alpha`` (0.05), else
  ``no clear effect``; when a method gives no p-value, when its interval excludes zero;
- Bayesian methods: ``effect`` when the highest-density interval excludes zero.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from bayes_cluster.common.dims import INTERCEPT
from bayes_cluster.common.latex import (  # one escaping rule for every .tex table
    format_number,
    latex_escape,
    method_header,
    method_label,
)

__all__ = [
    "COMPARISON_COLUMNS",
    "MethodEstimates",
    "comparison_table",
    "format_cell",
    "from_bayes",
    "from_firth",
    "from_mle",
    "plain_language_reading",
    "to_latex",
    "to_markdown",
    "verdict_table",
]

COMPARISON_COLUMNS: tuple[str, ...] = (
    "method",
    "term",
    "estimate",
    "std_error",
    "ci_lower",
    "ci_upper",
    "interval",
    "p_value",
    "prob_positive",
    "odds_ratio",
    "or_ci_lower",
    "or_ci_upper",
    "conclusion",
    "published",
)
"""Columns of ``comparison.csv``, in order (other tools read them by name)."""

EFFECT = "effect"
NO_CLEAR_EFFECT = "no clear effect"

_NUMERIC = (
    "estimate",
    "std_error",
    "ci_lower",
    "ci_upper",
    "p_value",
    "prob_positive",
    "odds_ratio",
    "or_ci_lower",
    "or_ci_upper",
)


@dataclass(frozen=True)
class MethodEstimates:
    """One method's coefficient table in the common format.

    Attributes
    ----------
    method : str
        ``mle``, ``firth``, ``bayes`` or ``bayes_<variant>``.
    table : pandas.DataFrame
        Indexed by term; columns from ``estimate`` to ``or_ci_upper`` (missing ones NaN).
    interval : str
        What the interval is, level first: ``"95% Wald CI"``,
        ``"95% profile penalised-likelihood CI"``, ``"95% HDI"``.
    bayesian : bool
        Whether the conclusion comes from the interval (Bayesian) or the p-value.
    level : float or None
        The interval's level (coverage or posterior probability); :func:`comparison_table`
        refuses methods of different levels.
    """

    method: str
    table: pd.DataFrame
    interval: str
    bayesian: bool = False
    level: float | None = None


def _frame(summary: pd.DataFrame, columns: Mapping[str, str]) -> pd.DataFrame:
    """Rename ``summary``'s columns into the common ones, filling the absent with NaN."""
    out = pd.DataFrame(index=pd.Index([str(t) for t in summary.index], name="term"))
    for target in _NUMERIC:
        source = columns.get(target, target)
        out[target] = (
            pd.to_numeric(summary[source], errors="coerce").to_numpy(dtype=float)
            if source in summary.columns
            else np.nan
        )
    return out


def from_mle(summary: pd.DataFrame, level: float = 0.95) -> MethodEstimates:
    """Adapt the maximum-likelihood summary (:func:`~frequentist.mle_logit`).

    The coefficient interval is the Wald interval ``B +/- z S.E.``, i.e. the log of the
    printed ``Exp(B)`` interval.

    Parameters
    ----------
    summary : pandas.DataFrame
        Indexed by term, with ``estimate``, ``std_error``, ``p_value``, ``odds_ratio``,
        ``or_ci_lower``, ``or_ci_upper``.
    level : float
        Confidence level of the interval.

    Returns
    -------
    MethodEstimates
    """
    table = _frame(summary, {})
    if table["or_ci_lower"].notna().all() and "ci_lower" not in summary.columns:
        with np.errstate(divide="ignore"):
            table["ci_lower"] = np.log(table["or_ci_lower"])
            table["ci_upper"] = np.log(table["or_ci_upper"])
    if table["ci_lower"].isna().all():
        z = _normal_quantile(0.5 + level / 2)
        table["ci_lower"] = table["estimate"] - z * table["std_error"]
        table["ci_upper"] = table["estimate"] + z * table["std_error"]
    _fill_odds_ratios(table)
    return MethodEstimates("mle", table, f"{_percent(level)} Wald CI", level=level)


def from_firth(summary: pd.DataFrame, level: float = 0.95) -> MethodEstimates:
    """Adapt Firth's penalised logit summary (:func:`~frequentist.firth_logit`).

    Parameters
    ----------
    summary : pandas.DataFrame
        Indexed by term, with ``estimate``, ``std_error``, ``ci_lower``, ``ci_upper``
        (profile penalised likelihood) and ``p_value`` (penalised likelihood-ratio test).
    level : float
        Confidence level of the interval.

    Returns
    -------
    MethodEstimates
    """
    table = _frame(summary, {})
    _fill_odds_ratios(table)
    return MethodEstimates(
        "firth", table, f"{_percent(level)} profile penalised-likelihood CI", level=level
    )


def from_bayes(
    summary: pd.DataFrame, method: str = "bayes", hdi_prob: float = 0.95
) -> MethodEstimates:
    """Adapt a Bayesian logit summary (:meth:`~logistic.BayesianLogit.summary`).

    Parameters
    ----------
    summary : pandas.DataFrame
        Indexed by term, with ``mean``, ``sd``, ``hdi_lower``, ``hdi_upper``,
        ``prob_positive`` and optionally ``odds_ratio`` and its interval.
    method : str
        ``bayes`` or ``bayes_<variant>``.
    hdi_prob : float
        Probability mass of the HDI.

    Returns
    -------
    MethodEstimates
    """
    or_lower = next(
        (c for c in ("odds_ratio_lower", "odds_ratio_hdi_lower", "or_ci_lower") if c in summary),
        "or_ci_lower",
    )
    or_upper = next(
        (c for c in ("odds_ratio_upper", "odds_ratio_hdi_upper", "or_ci_upper") if c in summary),
        "or_ci_upper",
    )
    table = _frame(
        summary,
        {
            "estimate": "mean",
            "std_error": "sd",
            "ci_lower": "hdi_lower",
            "ci_upper": "hdi_upper",
            "or_ci_lower": or_lower,
            "or_ci_upper": or_upper,
        },
    )
    _fill_odds_ratios(table)
    return MethodEstimates(
        method, table, f"{_percent(hdi_prob)} HDI", bayesian=True, level=float(hdi_prob)
    )


def _percent(level: float) -> str:
    """``0.95`` -> ``"95%"``, ``0.975`` -> ``"97.5%"``."""
    return f"{100 * level:.4g}%"


def _fill_odds_ratios(table: pd.DataFrame) -> None:
    """Odds ratios (and their interval) as exp of the coefficient where not given."""
    for target, source in (
        ("odds_ratio", "estimate"),
        ("or_ci_lower", "ci_lower"),
        ("or_ci_upper", "ci_upper"),
    ):
        missing = table[target].isna()
        with np.errstate(over="ignore"):
            table.loc[missing, target] = np.exp(table.loc[missing, source])


def _normal_quantile(p: float) -> float:
    from scipy.stats import norm

    return float(norm.ppf(p))


def _conclusion(row: pd.Series, bayesian: bool, alpha: float) -> str:
    lower, upper = row["ci_lower"], row["ci_upper"]
    interval_excludes_zero = bool(
        np.isfinite(lower) and np.isfinite(upper) and (lower > 0 or upper < 0)
    )
    if not bayesian and np.isfinite(row["p_value"]):
        return EFFECT if row["p_value"] < alpha else NO_CLEAR_EFFECT
    return EFFECT if interval_excludes_zero else NO_CLEAR_EFFECT


def comparison_table(
    methods: Iterable[MethodEstimates],
    *,
    published: Mapping[str, str] | None = None,
    term_columns: Mapping[str, str] | None = None,
    alpha: float = 0.05,
) -> pd.DataFrame:
    """Stack every method's estimates into the method x term comparison table.

    Parameters
    ----------
    methods : iterable of MethodEstimates
        The methods, in the order they should appear.
    published : mapping, optional
        A study's conclusion per predictor column (``effect`` / ``no clear effect``).
    term_columns : mapping, optional
        Term -> the data column it comes from (``log(workers)`` -> ``workers``), used to
        look up ``published``; a term not listed is its own column.
    alpha : float
        Significance level of the frequentist conclusions.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`COMPARISON_COLUMNS`; one row per method and term. ``published``
        is empty where no conclusion was published (e.g. the intercept). ``attrs`` holds
        the conclusion rules and the common interval ``level``.

    Raises
    ------
    ValueError
        When the methods' intervals are of different levels (a 95% interval beside a 94%
        one is not a comparison).

    Examples
    --------
    >>> summary = pd.DataFrame(
    ...     {"estimate": [0.5], "std_error": [0.2], "p_value": [0.01]}, index=["x"]
    ... )
    >>> comparison_table([from_mle(summary)])[["method", "term", "conclusion"]]
      method term conclusion
    0    mle    x     effect
    """
    published = dict(published or {})
    term_columns = dict(term_columns or {})
    methods = list(methods)
    levels = {round(m.level, 10) for m in methods if m.level is not None}
    if len(levels) > 1:
        named = "; ".join(f"{m.method}: {m.interval}" for m in methods)
        raise ValueError(
            f"intervals of different levels cannot be compared ({named}); "
            "adapt every method at one level"
        )
    rows = []
    for estimates in methods:
        for term, row in estimates.table.iterrows():
            column = term_columns.get(term, term)
            rows.append(
                {
                    "method": estimates.method,
                    "term": term,
                    **{name: float(row[name]) for name in _NUMERIC},
                    "interval": estimates.interval,
                    "conclusion": _conclusion(row, estimates.bayesian, alpha),
                    "published": published.get(column, ""),
                }
            )
    table = pd.DataFrame(rows, columns=list(COMPARISON_COLUMNS))
    table.attrs["level"] = levels.pop() if levels else None
    level = table.attrs["level"]
    hdi = f"{_percent(level)} " if level is not None else ""
    table.attrs["rules"] = (
        f"frequentist: effect when p < {alpha:g}; "
        f"Bayesian: effect when the {hdi}highest-density interval excludes 0"
    )
    return table


def verdict_table(comparison: pd.DataFrame) -> pd.DataFrame:
    """Pivot the conclusions: one row per term, one column per method (+ ``published``).

    Parameters
    ----------
    comparison : pandas.DataFrame
        Output of :func:`comparison_table`.

    Returns
    -------
    pandas.DataFrame
        Indexed by term (intercept excluded), in the table's order.
    """
    slopes = comparison[comparison["term"] != INTERCEPT]
    terms = list(dict.fromkeys(slopes["term"]))
    methods = list(dict.fromkeys(slopes["method"]))
    wide = slopes.pivot(index="term", columns="method", values="conclusion").loc[terms, methods]
    wide.columns.name = None
    published = slopes.drop_duplicates("term").set_index("term")["published"]
    if (published != "").any():
        wide["published"] = published.loc[terms]
    return wide


def plain_language_reading(
    comparison: pd.DataFrame,
    *,
    published_source: str | None = None,
    n_firms: int | None = None,
) -> list[str]:
    """Read the comparison in plain language, one sentence per finding.

    Parameters
    ----------
    comparison : pandas.DataFrame
        Output of :func:`comparison_table`.
    published_source : str, optional
        Name of the study whose conclusions are in the ``published`` column.
    n_firms : int, optional
        Number of firms the fits read, named in the caution about "no clear effect"
        (default: "a small survey").

    Returns
    -------
    list of str
        Sentences: where all methods agree, where they disagree, and how the result
        compares with the published conclusions.
    """
    wide = verdict_table(comparison)
    methods = [c for c in wide.columns if c != "published"]
    sentences = []
    agreed_effect = [t for t in wide.index if (wide.loc[t, methods] == EFFECT).all()]
    agreed_none = [t for t in wide.index if (wide.loc[t, methods] == NO_CLEAR_EFFECT).all()]
    disputed = [t for t in wide.index if t not in agreed_effect and t not in agreed_none]
    label = "both methods" if len(methods) == 2 else f"all {len(methods)} methods"
    verb = "find"
    if len(methods) == 1:
        label, verb = f"the {methods[0]} fit", "finds"
    if agreed_effect:
        sentences.append(f"{_words(agreed_effect)}: {label} {verb} a clear effect.")
    if agreed_none:
        sample = "a small survey" if n_firms is None else f"{n_firms} firms"
        sentences.append(
            f"{_words(agreed_none)}: {label} {verb} no clear effect "
            f"(which is not evidence of no effect with {sample})."
        )
    for term in disputed:
        yes = [m for m in methods if wide.loc[term, m] == EFFECT]
        no = [m for m in methods if wide.loc[term, m] != EFFECT]
        sentences.append(
            f"{term}: the methods disagree ({_words(yes)} {_verb(yes, 'find')} an effect, "
            f"{_words(no)} {_verb(no, 'do')} not); read its intervals rather than the verdicts."
        )
    if "published" in wide.columns:
        known = wide[wide["published"] != ""]
        reference = methods[-1]
        if "bayes" in methods:
            reference = "bayes"
        same = [t for t in known.index if known.loc[t, reference] == known.loc[t, "published"]]
        differ = [t for t in known.index if t not in same]
        source = published_source or "the published study"
        if not differ:
            sentences.append(
                f"The {reference} model reaches the same conclusion as {source} "
                f"for all {len(same)} predictors."
            )
        else:
            details = ", ".join(
                f"{t} ({source}: {known.loc[t, 'published']}; here: {known.loc[t, reference]})"
                for t in differ
            )
            sentences.append(
                f"The {reference} model agrees with {source} on {len(same)} of {len(known)} "
                f"predictors; it differs on {details}."
            )
    return sentences


def _verb(subjects: Sequence[str], verb: str) -> str:
    """Third-person agreement: 'mle finds', 'mle and firth find'."""
    if len(subjects) != 1:
        return verb
    return {"do": "does"}.get(verb, verb + "s")


def _words(items: Sequence[str]) -> str:
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


# --------------------------------------------------------------------------- writers


def format_cell(value: object, digits: int) -> str:
    """Format one table cell: floats to ``digits`` decimals, NaN empty, tiny as 1.2e-05."""
    if isinstance(value, float | np.floating):
        if math.isnan(value):
            return ""
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        if value != 0 and abs(value) < 10 ** (-digits):
            return f"{value:.1e}"
        return f"{value:.{digits}f}"
    return str(value)


def to_markdown(table: pd.DataFrame, *, digits: int = 3, index: bool = False) -> str:
    """Render a table as a GitHub-flavoured Markdown table.

    Parameters
    ----------
    table : pandas.DataFrame
        Any table (numbers are rounded to ``digits``; NaN is shown empty).
    digits : int
        Decimals of floats.
    index : bool
        Whether to include the index as the first column.

    Returns
    -------
    str
    """
    frame = table.reset_index() if index else table
    header = [str(c) for c in frame.columns]
    rows = [
        [format_cell(v, digits).replace("|", "\\|") for v in record]
        for record in frame.itertuples(index=False)
    ]
    numeric = [pd.api.types.is_numeric_dtype(frame[c]) for c in frame.columns]
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---:" if n else "---" for n in numeric) + "|",
        *("| " + " | ".join(row) + " |" for row in rows),
    ]
    return "\n".join(lines) + "\n"


_LATEX_HEADERS = {
    "std_error": "SE",
    "ci_lower": "lower",
    "ci_upper": "upper",
    "p_value": r"\textit{p}",
    "prob_positive": r"\textit{P}($\beta > 0$)",
    "odds_ratio": "odds ratio",
    "or_ci_lower": "OR lower",
    "or_ci_upper": "OR upper",
}
"""Readable LaTeX headers of the comparison columns (others are escaped as they are)."""

_PROBABILITY_COLUMNS = ("p_value", "prob_positive")


def _latex_cell(column: object, value: object, digits: int) -> str:
    """Probabilities with two decimals (p below 0.01 as '<0.01'), the rest by ``digits``."""
    if column in _PROBABILITY_COLUMNS and isinstance(value, float | np.floating):
        if math.isnan(value):
            return ""
        if column == "p_value" and value < 0.005:
            return r"$<$0.01"
        return f"{value:.2f}"
    return latex_escape(format_cell(value, digits))


_BY_TERM_COLUMNS = ("method", "term", "estimate", "ci_lower", "ci_upper")
"""Columns that make :func:`to_latex` lay the comparison out by term (methods side by side)."""


def to_latex(
    table: pd.DataFrame,
    *,
    digits: int | None = None,
    caption: str = "",
    label: str = "tab:comparison",
    columns: Sequence[str] | None = None,
    methods_per_panel: int = 2,
) -> str:
    r"""Render a table as a LaTeX ``table`` with a ``booktabs`` tabular.

    A comparison table (columns ``method``, ``term``, ``estimate``, ``ci_lower`` and
    ``ci_upper`` among those shown) is laid out to fit a journal page: one row per term
    with its interval on a second row, the methods side by side, at most
    ``methods_per_panel`` per panel (panels stacked one under the other), the
    p-value or P(beta > 0) beside each estimate, a star where the method concludes
    ``effect``, and the published conclusion in the last column.  The interval kinds go
    into a notes line (the caption is the caller's: the run states the conclusion rule
    there); odds ratios (``exp(estimate)``) are left to the CSV.  Any other table is
    written as it is, one row per record.

    Parameters
    ----------
    table : pandas.DataFrame
        The table (its index is dropped).
    digits : int, optional
        Decimals of floats: 3 by default, 2 for the comparison by term (as the journal
        tables).
    caption : str
        Caption text (escaped).
    label : str
        ``\label`` of the table.
    columns : sequence of str, optional
        Subset and order of columns (default all).
    methods_per_panel : int
        Methods side by side in one panel of the by-term layout (two fit a page).

    Returns
    -------
    str
        Needs ``\usepackage{booktabs}`` in the preamble.  Probabilities (``p_value``,
        ``prob_positive``) have two decimals; the journal tables, one per question, are
        in :mod:`bayes_cluster.common.latex`.
    """
    frame = table[list(columns)] if columns is not None else table
    by_term = all(column in frame.columns for column in _BY_TERM_COLUMNS)
    if digits is None:
        digits = 2 if by_term else 3
    if by_term:
        return _latex_by_term(frame, digits, caption, label, methods_per_panel)
    align = "".join("r" if pd.api.types.is_numeric_dtype(frame[c]) else "l" for c in frame)
    lines = [
        r"\begin{table}[ht]",
        r"\centering",
        r"\small",
        rf"\begin{{tabular}}{{{align}}}",
        r"\toprule",
        " & ".join(_LATEX_HEADERS.get(str(c), latex_escape(str(c))) for c in frame.columns)
        + r" \\",
        r"\midrule",
    ]
    previous_method = None
    for record in frame.itertuples(index=False):
        values = dict(zip(frame.columns, record, strict=True))
        if "method" in values and previous_method not in (None, values["method"]):
            lines.append(r"\midrule")
        previous_method = values.get("method")
        cells = (_latex_cell(c, v, digits) for c, v in zip(frame.columns, record, strict=True))
        lines.append(" & ".join(cells) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    if caption:
        lines.append(rf"\caption{{{latex_escape(caption)}}}")
    lines += [rf"\label{{{label}}}", r"\end{table}"]
    return "\n".join(lines) + "\n"


def _panels(methods: list[str], per_panel: int) -> list[list[str]]:
    """Split methods into the fewest panels of at most ``per_panel``, as even as possible."""
    count = max(1, math.ceil(len(methods) / per_panel))
    size, extra = divmod(len(methods), count)
    panels, start = [], 0
    for index in range(count):
        stop = start + size + (index < extra)
        panels.append(methods[start:stop])
        start = stop
    return panels


def _latex_by_term(
    frame: pd.DataFrame, digits: int, caption: str, label: str, per_panel: int
) -> str:
    """Lay the comparison out by term, methods side by side in panels (see :func:`to_latex`)."""
    if per_panel < 1:
        raise ValueError(f"methods_per_panel must be at least 1, got {per_panel!r}")
    methods = list(dict.fromkeys(frame["method"]))
    terms = list(dict.fromkeys(frame["term"]))
    rows = {(r["method"], r["term"]): r for r in frame.to_dict(orient="records")}
    has_p, has_prob = "p_value" in frame.columns, "prob_positive" in frame.columns
    stars = "conclusion" in frame.columns
    published = (
        frame.drop_duplicates("term").set_index("term")["published"].fillna("").astype(str)
        if "published" in frame.columns
        else pd.Series(dtype=str)
    )
    has_published = bool(published.str.strip().any())
    panels = _panels(methods, per_panel)
    width = max(len(p) for p in panels)
    block = 2 if has_p or has_prob else 1  # columns per method

    def number(value: object) -> str:
        return format_number(value, digits)

    def probability_cell(row: Mapping[str, object]) -> tuple[str, str]:
        """Return the probability shown beside an estimate, and its kind (p or P)."""
        for column, kind in (("p_value", "p"), ("prob_positive", "P")):
            value = row.get(column)
            if isinstance(value, float | np.floating) and not math.isnan(value):
                return _latex_cell(column, value, digits), kind
        return "", ""

    def probability_head(method: str) -> str:
        """Return the header of a method's probability column: p, P(beta > 0), or both."""
        kinds = {probability_cell(rows[(method, t)])[1] for t in terms if (method, t) in rows}
        heads = {"p": r"\textit{p}", "P": r"\textit{P}($\beta > 0$)"}
        return " / ".join(heads[kind] for kind in ("p", "P") if kind in kinds)

    lines = [
        r"\begin{table}[htbp]",
        r"\centering",
        r"\footnotesize",
        r"\setlength{\tabcolsep}{4pt}",
    ]
    if caption:
        lines.append(rf"\caption{{{latex_escape(caption)}}}")
    lines += [
        rf"\label{{{label}}}",
        rf"\begin{{tabular}}{{l{('cr' if block == 2 else 'c') * width}"
        + ("l" if has_published else "")
        + "}",
        r"\toprule",
    ]
    for number_of_panel, panel in enumerate(panels):
        if number_of_panel:
            lines.append(r"\midrule")
        heads = [""]
        rules = []
        for position, method in enumerate(panel):
            first = 2 + block * position
            if block == 2:
                heads.append(rf"\multicolumn{{2}}{{c}}{{{method_header(method)}}}")
                rules.append(rf"\cmidrule(lr){{{first}-{first + 1}}}")
            else:
                heads.append(method_header(method))
        heads += [""] * (block * (width - len(panel)) + has_published)
        lines.append(" & ".join(heads) + r" \\")
        if rules:
            lines.append(" ".join(rules))
        subheads = ["Term"]
        for method in panel:
            subheads += ["Estimate", probability_head(method)] if block == 2 else ["Estimate"]
        subheads += [""] * (block * (width - len(panel)))
        if has_published:
            subheads.append("Published")
        lines += [" & ".join(subheads) + r" \\", r"\midrule"]
        for index, term in enumerate(terms):
            estimates, intervals = [latex_escape(term)], [""]
            for method in panel:
                row = rows.get((method, term))
                if row is None:
                    estimates += [""] * block
                    intervals += [""] * block
                    continue
                star = r"$^{*}$" if stars and row["conclusion"] == EFFECT else ""
                estimates.append(number(row["estimate"]) + star)
                lower, upper = number(row["ci_lower"]), number(row["ci_upper"])
                intervals.append(f"[{lower}, {upper}]" if lower and upper else "")
                if block == 2:
                    estimates.append(probability_cell(row)[0])
                    intervals.append("")
            padding = [""] * (block * (width - len(panel)))
            estimates += padding
            intervals += padding
            if has_published:
                estimates.append(latex_escape(published.get(term, "")))
                intervals.append("")
            if index:
                lines.append(r"\addlinespace[2pt]")
            lines += [" & ".join(estimates) + r" \\", " & ".join(intervals) + r" \\"]
    lines += [r"\bottomrule", r"\end{tabular}"]
    notes = _by_term_notes(frame, methods, stars, has_p, has_prob, has_published)
    lines += [
        r"\par\smallskip",
        rf"\parbox{{\linewidth}}{{\footnotesize \textit{{Notes:}} {latex_escape(notes)}}}",
        r"\end{table}",
    ]
    return "\n".join(lines) + "\n"


def _by_term_notes(
    frame: pd.DataFrame,
    methods: list[str],
    stars: bool,
    has_p: bool,
    has_prob: bool,
    has_published: bool,
) -> str:
    notes = ["Estimates on the log-odds scale, interval below each."]
    if "interval" in frame.columns:
        kinds = frame.drop_duplicates("method").set_index("method")["interval"]
        notes.append(
            "Intervals: " + "; ".join(f"{method_label(m)}: {kinds[m]}" for m in methods) + "."
        )
    if has_p or has_prob:
        notes.append(
            "Beside each estimate: "
            + " or ".join(
                text
                for text, present in (
                    ("the p-value (frequentist methods)", has_p),
                    ("the posterior probability P(beta > 0) (Bayesian methods)", has_prob),
                )
                if present
            )
            + "."
        )
    if stars:
        notes.append("* the method concludes 'effect'.")
    if has_published:
        notes.append("Published: the conclusion of the original study.")
    notes.append("Odds ratios: exp of the estimate.")
    return " ".join(notes)

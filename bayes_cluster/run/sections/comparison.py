"""The comparison section: every logit method side by side at one interval level.

It writes ``comparison.csv`` / ``.md`` / ``.tex`` and the forest plot of every method.
"""

from __future__ import annotations

from collections.abc import Sequence

from bayes_cluster.analyses import compare as comparison_module
from bayes_cluster.run.context import PipelineError, RunContext
from bayes_cluster.run.report import BulletList, Paragraph, Section, TableBlock
from bayes_cluster.run.spec import LogisticSpec

__all__ = ["run_comparison"]


def _term_columns(terms: Sequence[str], logistic: LogisticSpec) -> dict[str, str]:
    mapping = {}
    for term in terms:
        for column in logistic.predictors:
            base = logistic.term(column)
            if term == base or term.startswith(base + "["):
                mapping[term] = column
    return mapping


# the columns of comparison.csv shown in the report and in comparison.tex (no SEs, no OR CIs)
_SHOWN_COMPARISON_COLUMNS: tuple[str, ...] = (
    "method",
    "term",
    "estimate",
    "ci_lower",
    "ci_upper",
    "interval",
    "p_value",
    "prob_positive",
    "odds_ratio",
    "conclusion",
    "published",
)


def _methods_at_level(context: RunContext, level: float) -> list:
    """Every method of the comparison with its interval at ``level`` (one level for all).

    A method already at ``level`` is kept; otherwise the frequentist fits are redone at
    ``level`` (Wald limits, profile penalised-likelihood limits: both cheap) and the
    Bayesian intervals recomputed from the stored draws as ``level`` HDIs.
    """
    from bayes_cluster.estimators.frequentist import firth_logit, mle_logit

    logistic = context.spec.logistic
    bayes = context.results.get("bayes_logit", {})
    methods = []
    for estimates in context.methods:
        if estimates.level is not None and abs(estimates.level - level) < 1e-9:
            methods.append(estimates)
        elif estimates.method == "mle":
            fit = mle_logit(context.frame, logistic.outcome, list(logistic.terms), level=level)
            methods.append(comparison_module.from_mle(fit.summary, level=level))
        elif estimates.method == "firth":
            fit = firth_logit(
                context.frame,
                logistic.outcome,
                list(logistic.terms),
                se=context.spec.frequentist.firth_se,
                level=level,
            )
            methods.append(comparison_module.from_firth(fit.summary, level=level))
        elif estimates.method in bayes:
            model = bayes[estimates.method]
            summary = model.summary(hdi_prob=level, groups=False)
            methods.append(comparison_module.from_bayes(summary, estimates.method, level))
        else:
            raise PipelineError(
                f"the comparison cannot put {estimates.method} ({estimates.interval}) "
                f"at the {level:.0%} level of [report].comparison_level"
            )
    return methods


def run_comparison(context: RunContext) -> None:
    """Write the comparison of every logit method at ``[report].comparison_level``.

    ``comparison.csv`` / ``.md`` / ``.tex``, the forest plot and the report section that
    goes first among the results; nothing when the run fitted no logit.

    Parameters
    ----------
    context : RunContext
        The run; every file is written through it, its report gets the section.
    """
    spec = context.spec
    if not context.methods:
        return
    context.progress("comparison table and forest plot")
    published = spec.published
    level = spec.report.comparison_level
    methods = _methods_at_level(context, level)
    terms = [t for m in methods for t in m.table.index]
    # the frequentist verdicts at the same level as every interval: p < 1 - level
    table = comparison_module.comparison_table(
        methods,
        published=published.conclusions if published else None,
        term_columns=_term_columns(terms, spec.logistic),
        alpha=round(1.0 - level, 10),
    )
    context.results["comparison"] = table
    context.save_table(table, "comparison.csv", index=False)
    note = "QUICK PREVIEW: not for reporting. " if context.quick else ""
    source = f" Published: {published.source}." if published else ""
    rules = table.attrs["rules"]
    context.save_text(
        (f"> {note}\n\n" if note else "")
        + comparison_module.to_markdown(table)
        + f"\nConclusion rule: {rules}.{source}\n",
        "comparison.md",
    )
    context.save_text(
        comparison_module.to_latex(
            table,
            columns=list(_SHOWN_COMPARISON_COLUMNS),
            caption=f"{note}Logit coefficients by method. Conclusion rule: {rules}.{source}",
        ),
        "comparison.tex",
    )
    reading = comparison_module.plain_language_reading(
        table,
        published_source=published.name if published else None,
        n_firms=len(context.frame),
    )
    context.verdicts["logit_reading"] = reading
    wide = comparison_module.verdict_table(table)
    context.verdicts["logit_conclusions"] = wide.to_dict(orient="index")
    section = Section("Which firms export? All methods side by side")
    kinds = "; ".join(f"{m.method}: {m.interval}" for m in methods)
    section.add(
        Paragraph(
            "One row per predictor, one column per method: `effect` or `no clear effect` "
            f"({rules}). Every interval in this section is at one level, {level:.0%} "
            "(`[report] comparison_level`), so that the methods are compared on equal terms; "
            "the Bayesian sections below keep their own "
            f"{context.sampler.hdi_prob:.0%} HDIs."
            + (
                f" The `published` column holds the conclusions of {published.source}."
                if published
                else ""
            )
        ),
        TableBlock(wide, f"Conclusions by method (intervals: {kinds})", index=True),
        BulletList(tuple(reading)),
    )
    from bayes_cluster.plots.compare import forest_plot_methods

    figure = forest_plot_methods(
        table,
        title=f"Export logit: every method's estimate and {level:.0%} interval",
    )
    section.add(
        context.save_figure(
            figure,
            "forest_methods",
            "Coefficients (left) and odds ratios (right) of every method, with their "
            f"intervals, all at {level:.0%} ({kinds})",
        )
    )
    shown = table[list(_SHOWN_COMPARISON_COLUMNS)]
    section.add(TableBlock(shown, f"The comparison table (comparison.csv; intervals: {kinds})"))
    # the comparison goes first among the results, right after the data
    position = 1 if context.report.sections and context.report.sections[0].title == "Data" else 0
    context.report.sections.insert(position, section)

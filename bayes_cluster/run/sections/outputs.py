"""The end of a run: the booktabs tables for a paper, ``methods.md``, the summary lines."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from bayes_cluster.run.context import RunContext
from bayes_cluster.run.report import BulletList, Paragraph
from bayes_cluster.run.spec import Spec

__all__ = ["JOURNAL_TABLES", "journal_outputs", "summary_lines"]


def summary_lines(context: RunContext, folder: Path) -> list[str]:
    """Return the lines printed at the end of a run (headline verdicts, diagnostics).

    Parameters
    ----------
    context : RunContext
        The finished run (its verdicts and report).
    folder : pathlib.Path
        The output folder the report will be in.

    Returns
    -------
    list of str
        One line per finding; the last names the report file.
    """
    verdicts = context.verdicts
    lines = []
    if context.quick:
        lines.append("QUICK PREVIEW (--quick): few draws; not for reporting.")
    published = context.spec.published
    if "descriptive_verdict" in verdicts:
        reference = (
            f" (published: {published.cluster_pattern})"
            if published and published.cluster_pattern
            else ""
        )
        lines.append(
            f"Cluster pattern, descriptive scoring: {verdicts['descriptive_verdict']}{reference}"
        )
    if "cluster_verdict_missing" in verdicts:
        lines.append(f"Cluster pattern: {verdicts['cluster_verdict_missing']}")
    if "em_n_classes_bic" in verdicts:
        types = verdicts.get("em_class_types")
        detail = f" ({', '.join(types.values())})" if types else ""
        lines.append(f"Latent classes, EM: BIC prefers K = {verdicts['em_n_classes_bic']}{detail}")
    if "bayes_cluster_verdict" in verdicts:
        lines.append(f"Latent classes, Bayesian: {verdicts['bayes_cluster_verdict']}")
    for sentence in verdicts.get("bayes_cluster_verdict_by_k", []):
        lines.append(f"Latent classes, uncertainty about K: {sentence}")
    if "joint_class_effect" in verdicts:
        lines.append(
            f"Joint model, does the cluster pattern matter? {verdicts['joint_class_effect']}"
        )
    for sentence in verdicts.get("logit_reading", []):
        lines.append(f"Export logit: {sentence}")
    reading = verdicts.get("prior_sensitivity_reading", [])
    if reading:  # what the flags are, and whether a conclusion moves under a wider prior
        lines.append(f"Prior sensitivity: {reading[0]}")
        lines.append(f"Prior sensitivity: {reading[-1]}")
    if "prior_sensitivity_failed" in verdicts:
        lines.append(f"Prior sensitivity FAILED: {verdicts['prior_sensitivity_failed']}")
    failed = context.report.failed
    n_fits = len(context.report.diagnostics)
    if n_fits:
        lines.append(
            f"MCMC diagnostics: {n_fits - len(failed)} of {n_fits} fits passed"
            + (f"; FAILED: {', '.join(e.name for e in failed)}" if failed else "")
        )
    formats = context.spec.report.formats
    report_file = "report.html" if "html" in formats else "report.md"
    lines.append(f"Report: {folder / report_file}")
    return lines


JOURNAL_TABLES: Mapping[str, str] = {
    "coefficients": "tables/export_coefficients.tex",
    "cluster_verdict": "tables/cluster_verdict.tex",
    "model_comparison": "tables/model_comparison.tex",
}
"""The booktabs tables for a paper, one per question (written where the run has the data)."""


def _read_run_table(context: RunContext, relative: str, **options: Any) -> pd.DataFrame | None:
    """Read back a table this run wrote (``None`` when the run did not write it)."""
    path = context.folder / relative
    if not path.is_file():
        return None
    return pd.read_csv(path, **options).drop(columns="run", errors="ignore")


def _logit_priors_text(spec: Spec) -> str:
    from bayes_cluster.estimators.logistic import DEFAULT_PRIORS
    from bayes_cluster.run.methods_text import describe_prior

    logistic = spec.logistic
    if logistic is None or not logistic.bayesian:
        return ""
    priors = {**DEFAULT_PRIORS, **logistic.priors}
    scale = " (standardised predictors)" if logistic.standardize else ""
    text = (
        f"Bayesian logits: intercept {describe_prior(priors['intercept'])}, slopes "
        f"{describe_prior(priors['slopes'])}{scale}"
    )
    for variant in logistic.variants:
        if variant.group is not None:
            group = {**DEFAULT_PRIORS, **variant.priors}["group_sd"]
            text += f"; between-{variant.group} SD {describe_prior(group)}"
    return text


def journal_outputs(context: RunContext, versions: Mapping[str, str]) -> None:
    """Write the booktabs tables and ``methods.md``; add the Methods section to the report.

    Parameters
    ----------
    context : RunContext
        The run, after every section (the tables are read back from its files).
    versions : mapping
        The provenance block (package versions) the Methods text cites.
    """
    from bayes_cluster.common import latex
    from bayes_cluster.run.methods_text import methods_text

    spec, quick = context.spec, context.quick
    n_firms = len(context.frame)
    tables: dict[str, latex.LatexTable] = {}
    comparison = context.results.get("comparison")
    if comparison is not None:
        tables["coefficients"] = latex.coefficients_table(
            comparison, n_firms=n_firms, priors=_logit_priors_text(spec), quick=quick
        )
    verdict = _read_run_table(context, "latent_class/bayes_cluster_verdict.csv")
    descriptive = _read_run_table(context, "latent_class/descriptive_types.csv")
    if verdict is not None or descriptive is not None:
        lc_priors = ""
        if verdict is not None:
            from bayes_cluster.estimators.latent_class import DEFAULT_PRIORS as LC_PRIORS

            assert spec.latent_class is not None
            concentration = {**LC_PRIORS, **spec.latent_class.priors}
            lc_priors = (
                f"Dirichlet({concentration['class_concentration']:g}) on the class shares, "
                f"Dirichlet({concentration['item_concentration']:g}) on each item's response "
                "probabilities"
            )
        tables["cluster_verdict"] = latex.cluster_verdict_table(
            verdict,
            descriptive=descriptive,
            n_firms=n_firms,
            n_classes=context.verdicts.get("bayes_n_classes_loo"),
            hdi_prob=context.sampler.hdi_prob,
            priors=lc_priors,
            quick=quick,
        )
    logit_loo = _read_run_table(context, "logistic/loo_comparison.csv", index_col=0)
    class_loo = _read_run_table(context, "latent_class/loo_comparison.csv", index_col=0)
    if logit_loo is not None or class_loo is not None:
        tables["model_comparison"] = latex.model_comparison_table(
            logit_loo, class_loo, n_firms=n_firms, quick=quick
        )
    for key, table in tables.items():
        context.save_text(table.source, JOURNAL_TABLES[key])
    text = methods_text(
        spec, sampler=context.sampler, n_firms=n_firms, versions=versions, quick=quick
    )
    context.save_text(text.to_markdown(), "methods.md")
    section = context.report.section("Methods (for the paper)")
    section.add(
        Paragraph(
            "Generated from the spec (`methods.md`); paste it into the paper and edit. The "
            "LaTeX tables (booktabs) are "
            + ", ".join(f"`{JOURNAL_TABLES[key]}`" for key in tables)
            + "; every figure is also in `figures/` as PDF and SVG."
            if tables
            else "Generated from the spec (`methods.md`); paste it into the paper and edit."
        ),
        *(Paragraph(paragraph) for paragraph in text.paragraphs),
        Paragraph("**References**"),
        BulletList(tuple(text.references)),
    )

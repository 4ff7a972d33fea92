"""The ``[joint]`` section: the adapter around :mod:`bayes_cluster.run.joint_section`.

It runs the joint latent class + logit comparison and writes its tables and figures
through the run context; with ``[joint] covariates``, also the covariate effects on class
membership (a table, one sentence per effect, and the membership figure).
"""

from __future__ import annotations

import re
import warnings

from bayes_cluster.run.context import RunContext, warning_notes
from bayes_cluster.run.report import Alert, BulletList, Paragraph, Section, TableBlock

__all__ = ["covariate_and_predictor_note", "run_joint"]


def run_joint(context: RunContext) -> None:
    """Adapter: the joint latent-class + logit section (:mod:`bayes_cluster.run.joint_section`).

    Parameters
    ----------
    context : RunContext
        The run (its ``spec.extra["joint"]`` is the validated ``[joint]`` section).
    """
    from bayes_cluster.inference.diagnostics import ConvergenceWarning
    from bayes_cluster.plots.joint import plot_class_effect_comparison, plot_export_calibration
    from bayes_cluster.run.joint_section import run_joint_section

    config = context.spec.extra["joint"]
    context.progress(
        f"joint latent class + logit: {', '.join(config.approaches)} (K = {config.n_classes})"
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.simplefilter("ignore", ConvergenceWarning)
        # out_dir None: the section writes nothing itself; every file goes through the
        # run context below (the run's labels, float format and provenance)
        result = run_joint_section(
            context.frame, config, context.sampler, None, progressbar=context.progressbar
        )
    for name, diagnostics in result.diagnostics.items():
        context.add_diagnostics(f"[joint] {name}", diagnostics)
    for table, relative in (
        (result.coefficients, "joint/joint_coefficients.csv"),
        (result.class_effect, "joint/joint_class_effect.csv"),
        (result.elpd, "joint/joint_elpd.csv"),
    ):
        context.save_table(table.reset_index(), relative, index=False)
    context.save_text(result.to_markdown(), "joint/joint_comparison.md")
    if "joint" in result.models:
        context.save_tree(result.models["joint"].idata_, "joint/joint_posterior.nc")
    section = context.report.section("Does the cluster pattern matter? Joint latent class + logit")
    section.add(
        Paragraph(
            "The latent class enters the export logit: fitted jointly (the class marginalised, "
            "so its uncertainty flows into the coefficients), beside the two-step and "
            "maximum-likelihood three-step approaches."
        ),
        TableBlock(result.class_effect, "Class effect on the export log-odds", index=True),
        TableBlock(result.elpd, "Export likelihood by approach (PSIS-LOO)", index=True),
    )
    for note in warning_notes(caught):
        section.add(Alert(note, "warning"))
    section.add(
        context.save_figure(
            plot_class_effect_comparison(result),
            "joint_comparison",
            "Class effect on exporting, by approach: where the joint model's interval is "
            "wider than the two-step one, the two-step interval ignored the uncertainty of "
            "the class assignment",
        )
    )
    if "joint" in result.models:
        section.add(
            context.save_figure(
                plot_export_calibration(result.models["joint"]),
                "joint_calibration",
                "Joint model: calibration of the export probabilities (posterior "
                "predictive): where the observed line leaves the band of replicated "
                "outcomes, the model's probabilities are systematically off",
            )
        )
    if config.covariates and "joint" in result.models:
        _membership(context, section, result.models["joint"], config)
    context.results["joint"] = result
    effect = result.class_effect.reset_index()
    if "approach" in effect.columns and (effect["approach"] == "joint").any():
        row = effect[effect["approach"] == "joint"].iloc[0]
        excludes = row["hdi_lower"] > 0 or row["hdi_upper"] < 0
        context.verdicts["joint_class_effect"] = (
            f"{row['term']}: {row['mean']:.2f} log-odds "
            f"(HDI {row['hdi_lower']:.2f} to {row['hdi_upper']:.2f}; "
            f"{'effect' if excludes else 'no clear effect'})"
        )


def _membership(context: RunContext, section: Section, model, config) -> None:
    """Report the joint model's covariates of class membership: table, sentences, figure."""
    from bayes_cluster.plots.membership import plot_membership_curves
    from bayes_cluster.run.sections.latent_class import membership_sentences

    hdi_prob = context.sampler.hdi_prob
    effects = model.membership_effects(hdi_prob=hdi_prob)
    context.save_table(effects, "joint/joint_membership_effects.csv", index=False)
    # "2 (Hub-and-Spoke)" -> class 2 is Hub-and-Spoke (names from the Markusen typing)
    types = {}
    for k, name in enumerate(model.class_names_, start=1):
        match = re.fullmatch(r"\d+ \((.+)\)", name)
        if match:
            types[k] = match.group(1)
    sentences = membership_sentences(effects, types, hdi_prob)
    context.verdicts["joint_class_membership"] = sentences
    names = ", ".join(f"`{n}`" for n in config.covariates)
    section.add(
        Paragraph(
            f"**Who belongs to which class, in the joint model**: the class shares depend on "
            f"{names} through a multinomial logit fitted together with the items and the "
            "export logit. Effects are log-odds of each class against class 1 per standard "
            "deviation of the covariate; a positive value means firms with more of it are "
            "more likely in that class."
        ),
        BulletList(tuple(sentences)),
    )
    both = [n for n in config.covariates if n in config.predictors]
    if both:
        section.add(Paragraph(covariate_and_predictor_note(both)))
    section.add(
        TableBlock(
            effects[
                ["covariate", "latent_class", "reference_class", "log_odds", "hdi_lower"]
                + ["hdi_upper", "p_positive", "r_hat", "ess_bulk"]
            ],
            f"Joint model: covariate effects on class membership (log-odds against class 1 "
            f"per SD; posterior mean, {hdi_prob:.0%} HDI, P(> 0))",
            digits=2,
        ),
        context.save_figure(
            plot_membership_curves(
                model,
                hdi_prob=hdi_prob,
                class_names={k: f"class {k} ({t})" for k, t in types.items()} or None,
            ),
            "joint_class_membership_covariates",
            "Joint model: probability of each class against each covariate, the others at "
            f"their means: posterior mean (line) and {hdi_prob:.0%} HDI (band); the ticks "
            "at the bottom are the firms' own values",
        ),
    )


def covariate_and_predictor_note(columns: list[str]) -> str:
    """Return the report's note on columns that are covariates and export predictors alike.

    Parameters
    ----------
    columns : list of str
        Covariates of class membership that are also predictors of the outcome.

    Returns
    -------
    str
        One sentence, e.g. "Note: `workers` is both a covariate ...".

    Examples
    --------
    >>> covariate_and_predictor_note(["workers"])[:40]
    'Note: `workers` is both a covariate of c'
    """
    listed = ", ".join(f"`{n}`" for n in columns)
    verb = "is" if len(columns) == 1 else "are"
    return (
        f"Note: {listed} {verb} both a covariate of class membership and a predictor of "
        "export. Its export coefficient is then its direct effect within a class, its "
        "membership effect the part that runs through the class, and the class effect is "
        "adjusted for it."
    )

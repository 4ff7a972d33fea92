"""The ``[joint]`` section: the adapter around :mod:`bayes_cluster.run.joint_section`.

It runs the joint latent class + logit comparison and writes its tables and figures
through the run context.
"""

from __future__ import annotations

import warnings

from bayes_cluster.run.context import RunContext, warning_notes
from bayes_cluster.run.report import Alert, Paragraph, TableBlock

__all__ = ["run_joint"]


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

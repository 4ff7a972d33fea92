"""Run a spec: every section it asks for, then the comparison and the report.

:func:`run_spec` is what ``bayes-cluster run SPEC`` calls.  The work is a list of
*section runners* (:data:`SECTION_RUNNERS`), run in order, each given the shared
:class:`RunContext`: it fits its models, writes its tables (CSV), posteriors (NetCDF) and
figures (PNG) through the context, and adds its part of the report.  A new section
registers itself with :func:`register_runner` (the joint model's ``[joint]`` section
does).

Every method is called through one small adapter function (``_fit_mle``,
``_fit_bayes_logit``, ...), the only place to change when a method's interface changes.

Outputs, at fixed paths under the output folder (other tools read them):

- ``comparison.csv`` / ``.md`` / ``.tex``: one row per method and term
  (:data:`bayes_cluster.analyses.compare.COMPARISON_COLUMNS`, plus ``run``);
- ``logistic/``, ``latent_class/``: each method's tables (CSV) and posteriors (NetCDF);
- ``figures/*.png`` (300 dpi) with ``.pdf`` and ``.svg`` beside each
  (:mod:`bayes_cluster.plots.style`);
- ``tables/*.tex``: one booktabs table per question (:mod:`bayes_cluster.common.latex`) and
  ``methods.md`` (:mod:`bayes_cluster.run.methods_text`);
- ``report.html`` (self-contained) and ``report.md``;
- ``data_summary.csv``, ``run.json`` (settings, timings and verdicts of the run).

Everything is written to a temporary folder beside the target and moved into place
only when the whole run has succeeded: a run that fails midway leaves the previous
results (or nothing) and never a half-written report.  Same spec and seed, same numbers.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import shutil
import sys
import time
import warnings
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import numpy as np
import pandas as pd

from bayes_cluster.analyses import compare as comparison_module
from bayes_cluster.common.dims import INTERCEPT
from bayes_cluster.common.latent_class_math import LIKERT_THREE_LEVELS
from bayes_cluster.run.feasibility import ensure_feasible
from bayes_cluster.run.report import (
    Alert,
    BulletList,
    DiagnosticsEntry,
    FigureBlock,
    Paragraph,
    Report,
    Section,
    TableBlock,
    write_report,
)
from bayes_cluster.run.safety import PACKAGE, deferred_interrupts
from bayes_cluster.run.spec import LatentClassSpec, LogisticSpec, SamplerSpec, Spec, load_spec

if TYPE_CHECKING:
    from bayes_cluster.estimators.frequentist import FirthLogitResult, MLELogitResult
    from bayes_cluster.estimators.latent_class import BayesianLatentClass
    from bayes_cluster.estimators.latent_class_em import LatentClassEM
    from bayes_cluster.estimators.logistic import BayesianLogit
    from bayes_cluster.estimators.separation import SeparationResult
    from bayes_cluster.surveys.markusen import DescriptiveScoring

__all__ = [
    "SECTION_RUNNERS",
    "RunContext",
    "RunResult",
    "default_output_folder",
    "register_runner",
    "run_spec",
]

QUICK_LABEL = "QUICK PREVIEW (--quick): not for reporting"


class PipelineError(RuntimeError):
    """A run that cannot go on (e.g. a transform undefined for the data); nothing is written."""


# --------------------------------------------------------------------------- context


@dataclass
class RunContext:
    """What every section runner reads and writes.

    Attributes
    ----------
    spec : Spec
        The validated spec.
    quick : bool
        ``--quick`` preview.
    sampler : SamplerSpec
        MCMC settings of this run (quick ones under ``--quick``).
    folder : pathlib.Path
        The temporary output folder (moved into place at the end).
    frame : pandas.DataFrame
        The validated survey (with transformed predictor columns added).
    report : Report
        The report being assembled.
    methods : list of MethodEstimates
        Logit estimates that go into the comparison table, in order.
    results : dict
        Fitted objects by name, for later sections (e.g. ``"latent_class"``).
    verdicts : dict
        Headline findings for the terminal summary and ``run.json``.
    """

    spec: Spec
    quick: bool
    sampler: SamplerSpec
    folder: Path
    frame: pd.DataFrame
    report: Report
    stream: TextIO | None = None
    progressbar: bool = False
    methods: list = field(default_factory=list)
    term_columns: dict[str, str] = field(default_factory=dict)
    results: dict[str, Any] = field(default_factory=dict)
    verdicts: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    started: float = field(default_factory=time.perf_counter)

    # ------------------------------------------------------------------ progress
    def progress(self, message: str) -> None:
        """Print one progress line with the elapsed time."""
        if self.stream is not None:
            elapsed = time.perf_counter() - self.started
            print(f"[{elapsed:6.1f}s] {message}", file=self.stream, flush=True)

    @property
    def run_mode(self) -> str:
        """``"quick preview"`` or ``"full"`` (written into every CSV and attrs)."""
        return "quick preview" if self.quick else "full"

    def seed(self, name: str) -> int:
        """Return a seed for one model, derived from the spec's seed and the model's name.

        Stable across runs and Python processes (no ``hash()`` salt).
        """
        return int(
            np.random.SeedSequence([self.sampler.seed, zlib.crc32(name.encode())]).generate_state(
                1
            )[0]
        )

    # ------------------------------------------------------------------ writing
    def path(self, relative: str) -> Path:
        """Absolute path of an output file; creates its folder."""
        target = self.folder / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        return target

    def save_table(self, frame: pd.DataFrame, relative: str, *, index: bool = True) -> Path:
        """Write a CSV table, with a ``run`` column saying full run or quick preview."""
        table = frame.copy()
        table["run"] = self.run_mode
        target = self.path(relative)
        table.to_csv(target, index=index, float_format="%.10g", lineterminator="\n")
        return target

    def save_figure(self, figure: Any, name: str, caption: str) -> FigureBlock:
        """Save a figure as ``figures/<name>.png`` (300 dpi or more), ``.pdf`` and ``.svg``.

        Under ``--quick`` a preview label goes top right, above the axes (it never
        covers tick labels).  The PNG is what the report shows; PDF and SVG are for papers.
        """
        from bayes_cluster.plots.style import PUBLICATION_DPI, save_formats, stamp_label

        if self.quick:
            stamp_label(figure, QUICK_LABEL)
        relative = f"figures/{name}.png"
        save_formats(
            figure,
            self.path(relative),
            dpi=max(self.spec.report.figure_dpi, PUBLICATION_DPI),
        )
        _close(figure)
        return FigureBlock(
            relative,
            caption + (" (quick preview)" if self.quick else ""),
            vector=(f"figures/{name}.pdf", f"figures/{name}.svg"),
        )

    def save_tree(self, tree: Any, relative: str, **attrs: str) -> Path:
        """Write a posterior DataTree as NetCDF with provenance and run mode in its attrs."""
        from bayes_cluster.inference.provenance import provenance

        target = self.path(relative)
        tree = tree.copy()
        tree.attrs.update(
            provenance(seed=self.sampler.seed, data=self.frame, spec=self.spec.text),
            run_mode=self.run_mode,
            **attrs,
        )
        tree.to_netcdf(target, engine="h5netcdf")
        return target

    def add_diagnostics(self, name: str, diagnostics: Any) -> DiagnosticsEntry:
        """Record an MCMC fit's diagnostics for the report (adapter for MCMCDiagnostics)."""
        slug = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")
        relative = f"diagnostics/{slug}.csv"
        self.save_table(diagnostics.to_frame(), relative)
        entry = _diagnostics_entry(name, diagnostics, relative)
        self.report.diagnostics.append(entry)
        if not entry.passed:
            self.progress(
                f"  ! diagnostics FAILED for {name}: {'; '.join(entry.problems)} "
                f"(every parameter: {relative})"
            )
        return entry


def _run_collecting_warnings(runner: Any, context: RunContext) -> None:
    """Run one section; show the warnings it raised in the report section it added.

    Convergence warnings are left out: every MCMC fit's diagnostics are reported anyway.
    """
    from bayes_cluster.inference.diagnostics import ConvergenceWarning

    before = {id(section) for section in context.report.sections}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.simplefilter("ignore", ConvergenceWarning)
        runner.run(context)
    notes = _warning_notes(caught)
    if not notes:
        return
    added = [s for s in context.report.sections if id(s) not in before]
    target = added[-1] if added else context.report.section(f"Warnings ({runner.name})")
    for note in notes:
        target.add(Alert(f"Warning raised while running this section: {note}", "warning"))
    for note in notes:
        context.progress(f"  warning ({runner.name}): {note}")


def _close(figure: Any) -> None:
    import matplotlib.pyplot as plt

    plt.close(figure)


DIAGNOSTICS_ROWS = 8
"""Parameters per fit shown in the report (worst R-hat first); the rest are in the CSV."""


def _diagnostics_entry(name: str, diagnostics: Any, relative: str) -> DiagnosticsEntry:
    """Turn :class:`bayes_cluster.inference.diagnostics.MCMCDiagnostics` into a report entry."""
    table = diagnostics.to_frame()
    worst = table.sort_values("r_hat", ascending=False).head(DIAGNOSTICS_ROWS)
    worst = worst[[c for c in ("r_hat", "ess_bulk", "ess_tail") if c in worst.columns]]
    worst.index.name = "parameter (worst R-hat first)"
    bfmi = ", ".join(f"{value:.2f}" for value in np.asarray(diagnostics.bfmi).ravel())
    summary = (
        f"{diagnostics.n_chains} chains x {diagnostics.n_draws} draws "
        f"({diagnostics.sampler}); divergences: {diagnostics.n_divergences}; "
        f"max tree depth hits: {diagnostics.treedepth_hits}; E-BFMI per chain: "
        f"{bfmi or 'n/a'}; max R-hat {table['r_hat'].max():.3f}; min bulk / tail ESS "
        f"{table['ess_bulk'].min():.0f} / {table['ess_tail'].min():.0f}. All {len(table)} "
        f"parameters: `{relative}`."
    )
    return DiagnosticsEntry(
        name=name,
        passed=bool(diagnostics.passed),
        # counts and the worst value per check, not one line per parameter (the CSV has all)
        problems=tuple(diagnostics.compact_problems()),
        advice=tuple(diagnostics.advice),
        details=worst,
        summary=summary,
    )


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class RunResult:
    """What a run produced.

    Attributes
    ----------
    folder : pathlib.Path
        The output folder.
    comparison : pandas.DataFrame or None
        The comparison table (``None`` without a logit).
    verdicts : dict
        Headline findings.
    summary : list of str
        The lines printed at the end of the run.
    diagnostics_passed : bool
        Whether every MCMC fit passed its checks.
    seconds : float
        Wall time of the run.
    """

    folder: Path
    comparison: pd.DataFrame | None
    verdicts: dict[str, Any]
    summary: list[str]
    diagnostics_passed: bool
    seconds: float


# --------------------------------------------------------------------------- registry

SectionRunner = Callable[[RunContext], None]


@dataclass(frozen=True)
class _Runner:
    name: str
    applies: Callable[[Spec], bool]
    run: SectionRunner


SECTION_RUNNERS: list[_Runner] = []
"""The section runners, in the order a run calls them."""


def register_runner(
    name: str,
    run: SectionRunner,
    *,
    applies: Callable[[Spec], bool] | None = None,
    before: str | None = "comparison",
) -> None:
    """Add a section runner.

    Parameters
    ----------
    name : str
        Section name (a plug-in section's runner applies when ``spec.extra`` has it).
    run : callable
        ``run(context)``: fit, write through the context, add report sections, and put
        logit estimates for the comparison into ``context.methods``.
    applies : callable, optional
        ``applies(spec) -> bool``; default: ``name in spec.extra``.
    before : str or None
        Insert before this runner (default before the comparison); ``None`` appends.
    """
    runner = _Runner(name, applies or (lambda spec: spec.extra.get(name) is not None), run)
    SECTION_RUNNERS[:] = [r for r in SECTION_RUNNERS if r.name != name]
    names = [r.name for r in SECTION_RUNNERS]
    position = names.index(before) if before in names else len(SECTION_RUNNERS)
    SECTION_RUNNERS.insert(position, runner)


# --------------------------------------------------------------------------- data


def _load_data(spec: Spec) -> tuple[pd.DataFrame, list[str]]:
    """Adapter: read and validate the survey (raises SurveyValidationError)."""
    from bayes_cluster.surveys.survey import SurveyWarning, load_survey

    logistic = spec.logistic
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", SurveyWarning)
        frame = load_survey(
            spec.data.path,
            codebook=spec.data.codebook,
            outcome=logistic.outcome if logistic else None,
            id_column=spec.data.id_column,
            predictors=list(logistic.predictors) if logistic else None,
            outcome_labels=spec.data.outcome_labels or None,
            missing=spec.data.missing,
            decimal=spec.data.decimal,
            thousands=spec.data.thousands,
        )
    notes = [str(w.message) for w in caught if issubclass(w.category, SurveyWarning)]
    return frame, notes


def _apply_transforms(frame: pd.DataFrame, logistic: LogisticSpec, source: str) -> pd.DataFrame:
    frame = frame.copy()
    functions = {"log": (np.log, 0.0, True), "log1p": (np.log1p, -1.0, True)}
    functions["sqrt"] = (np.sqrt, 0.0, False)
    for column, name in logistic.transforms.items():
        function, bound, strict = functions[name]
        values = frame[column].astype(float)
        bad = values <= bound if strict else values < bound
        if bad.any():
            raise PipelineError(
                f"{source}: [logistic.transforms].{column}: {name} is undefined for "
                f"{int(bad.sum())} value(s) of {column} (e.g. {values[bad].iloc[0]:g})"
            )
        frame[logistic.term(column)] = function(values)
    return frame


def _run_data(context: RunContext) -> None:
    spec, frame = context.spec, context.frame
    from bayes_cluster.surveys.survey import describe_survey

    outcome = spec.logistic.outcome if spec.logistic else None
    summary = describe_survey(frame, codebook=spec.data.codebook, outcome=outcome)
    columns = summary["columns"]
    context.save_table(columns, "data_summary.csv")
    section = context.report.section("Data")
    description = spec.raw.get("description", "").strip()
    if description:
        section.add(Paragraph(" ".join(description.split())))
    section.add(
        Paragraph(
            f"Survey file `{spec.data.path.name}`: **{summary['n']} firms**, "
            f"{len(frame.columns)} columns, validated against the "
            f"{'spec' if 'columns' in spec.raw.get('data', {}) else 'built-in Tumang'} codebook."
        )
    )
    if "synthetic" in spec.data.path.name:
        section.add(
            Alert(
                "These are SYNTHETIC data drawn from a known truth (the study's raw data are "
                "not public); see data/README.md.",
                "warning",
            )
        )
    if outcome is not None:
        labels = spec.data.value_labels.get(outcome, {})
        section.add(
            Paragraph(
                f"Outcome `{outcome}`: {summary['exporters']} firms coded 1"
                f"{' (' + labels['1'] + ')' if '1' in labels else ''} and "
                f"{summary['domestic']} coded 0"
                f"{' (' + labels['0'] + ')' if '0' in labels else ''}."
            )
        )
    for note in context.results.get("data_notes", []):
        section.add(Alert(note, "warning"))
    section.add(TableBlock(columns, "Columns of the survey", digits=2, index=True))
    context.verdicts["n_firms"] = summary["n"]


# --------------------------------------------------------------------------- latent classes


def _item_responses(frame: pd.DataFrame, lc: LatentClassSpec) -> pd.DataFrame:
    """Return the item columns under their Markusen names (``markusen_items``).

    Only the items (and ``firm_id``, which the Bayesian model labels firms with) are kept,
    so a mapped name can never collide with another column of the survey.
    """
    firm = ["firm_id"] if "firm_id" in frame.columns else []
    return frame[[*firm, *lc.items]].rename(columns=dict(lc.markusen_items))


def _items_frame(responses: pd.DataFrame, lc: LatentClassSpec) -> pd.DataFrame:
    """Return the item columns of :func:`_item_responses`, the spec's level groups applied."""
    items = responses[list(lc.markusen_names)]
    if lc.collapse is None:
        return items
    mapping = {level: code for code, group in enumerate(lc.collapse, start=1) for level in group}
    return items.apply(lambda column: column.map(mapping)).astype("Int64").astype(float)


def _untyped_items(lc: LatentClassSpec) -> list[str]:
    """Item columns that are not Markusen items (after ``markusen_items``)."""
    from bayes_cluster.surveys.markusen import MARKUSEN_ITEMS

    return [
        column
        for column, name in zip(lc.items, lc.markusen_names, strict=True)
        if name not in MARKUSEN_ITEMS
    ]


def _missing_verdict_message(lc: LatentClassSpec, untyped: Sequence[str]) -> str:
    """Why there is no cluster-pattern verdict, and the spec lines that would give one."""
    shown = ", ".join(f"`{column}`" for column in untyped[:6])
    more = f" and {len(untyped) - 6} more" if len(untyped) > 6 else ""
    example = "; ".join(f'{column} = "mk_..."' for column in untyped[:2])
    return (
        f"No cluster-pattern verdict: {len(untyped)} of the {len(lc.items)} items "
        f"({shown}{more}) are not Markusen items, so the descriptive scoring and the Markusen "
        "typing of the latent classes were left out (the latent classes are fitted all the "
        "same). To type them, map every item column to the Markusen item it measures in the "
        f"spec: `[latent_class.markusen_items]` with `{example}` (item names: "
        "bayes_cluster.surveys.markusen.MARKUSEN_ITEMS; see docs/spec.md)."
    )


def _descriptive_scoring(responses: pd.DataFrame, items: Sequence[str]) -> DescriptiveScoring:
    """Adapter: the thesis's descriptive Markusen scoring."""
    from bayes_cluster.surveys.markusen import descriptive_scoring

    return descriptive_scoring(responses, items)


def _fit_em(items: pd.DataFrame, n_classes: int, n_starts: int, seed: int) -> LatentClassEM:
    """Adapter: maximum-likelihood latent classes by EM."""
    from bayes_cluster.estimators.latent_class_em import LatentClassEM

    return LatentClassEM(n_classes, n_starts=n_starts, random_state=seed).fit(items)


def _fit_bayes_latent_class(
    responses: pd.DataFrame, n_classes: int, lc: LatentClassSpec, context: RunContext
) -> BayesianLatentClass:
    """Adapter: the Bayesian latent-class mixture (fitted, with diagnostics)."""
    from bayes_cluster.estimators.latent_class import BayesianLatentClass
    from bayes_cluster.inference.diagnostics import ConvergenceWarning

    sampler = context.sampler
    if lc.collapse in (None, THREE_LEVELS):
        data, collapse = responses, "three" if lc.collapse else "none"
    else:  # any other grouping: collapse here, hand over the codes as they are
        data, collapse = _items_frame(responses, lc), "none"
    model = BayesianLatentClass(
        n_classes, collapse=collapse, priors=lc.priors or None, items=list(lc.markusen_names)
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # log(0) of empty classes, in numpy
        # the verdict goes into the report (add_diagnostics); not repeated as a warning
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(
            data,
            draws=sampler.draws,
            tune=sampler.tune,
            chains=sampler.chains,
            random_seed=context.seed(f"latent_class_K{n_classes}"),
            sampler=sampler.backend,
            progressbar=context.progressbar,
        )
    return model


THREE_LEVELS = LIKERT_THREE_LEVELS
"""Disagree / neutral / agree: the Likert grouping the Bayesian mixture does itself."""


def _run_latent_class(context: RunContext) -> None:
    from bayes_cluster.plots.latent_class import (
        plot_descriptive_scoring,
        plot_item_profiles,
        plot_markusen_match,
    )

    spec, frame = context.spec, context.frame
    lc = spec.latent_class
    assert lc is not None
    section = context.report.section("Cluster pattern (Markusen typology)")
    responses = _item_responses(frame, lc)
    names = list(lc.markusen_names)
    untyped = _untyped_items(lc)
    typed = not untyped
    if lc.markusen_items:
        section.add(
            Paragraph(
                "Item columns typed as Markusen items (`[latent_class.markusen_items]`): "
                + ", ".join(f"`{c}` -> `{n}`" for c, n in lc.markusen_items.items())
                + "; tables and figures use the Markusen names."
            )
        )
    if untyped and (lc.descriptive or lc.markusen):
        message = _missing_verdict_message(lc, untyped)
        context.verdicts["cluster_verdict_missing"] = message
        context.progress(f"  ! {message}")
        section.add(Alert(message, "warning"))
    items = _items_frame(responses, lc)
    if lc.collapse is not None:
        groups = ", ".join("/".join(map(str, g)) for g in lc.collapse)
        section.add(
            Paragraph(f"Item levels collapsed into {len(lc.collapse)} categories: {groups}.")
        )
    # -- descriptive scoring (the thesis's method)
    if lc.descriptive and typed:
        context.progress("cluster pattern: descriptive Markusen scoring")
        scoring = _descriptive_scoring(responses, names)
        context.save_table(scoring.item_table, "latent_class/descriptive_items.csv", index=False)
        context.save_table(scoring.type_scores, "latent_class/descriptive_types.csv", index=False)
        context.verdicts["descriptive_verdict"] = scoring.verdict
        section.add(
            Paragraph(
                f"**Descriptive scoring** (share of firms agreeing per item, matched against "
                f"Markusen's signatures, as the thesis did): **{scoring.verdict}**."
            ),
            TableBlock(scoring.type_scores, "Items matched per Markusen type", digits=2),
            context.save_figure(
                plot_descriptive_scoring(scoring),
                "markusen_descriptive",
                "Descriptive Markusen scoring: share of firms disagreeing, neutral and agreeing "
                "on each item (left), the level each type expects, green where the observed "
                "level matches (middle), and the share of items each type matches (right)",
            ),
        )
    # -- EM
    if lc.em:
        starts = max(5, lc.em_starts // 5) if context.quick else lc.em_starts
        context.progress(f"cluster pattern: EM latent classes K = {_k_text(lc.n_classes)}")
        fits = {k: _fit_em(items, k, starts, context.seed(f"em_K{k}")) for k in lc.n_classes}
        statistics = pd.DataFrame(
            {k: fit.fit_statistics().drop("n_classes", errors="ignore") for k, fit in fits.items()}
        ).T
        statistics.index.name = "n_classes"
        statistics = statistics.infer_objects()
        best_k = int(statistics["bic"].astype(float).idxmin())
        context.save_table(statistics, "latent_class/em_fit_statistics.csv")
        best = fits[best_k]
        context.save_table(best.summary(), "latent_class/em_classes.csv")
        context.save_table(
            best.item_probabilities_frame(), "latent_class/em_item_probabilities.csv"
        )
        context.results["em"] = best
        context.results["em_bic"] = statistics["bic"].astype(float).to_dict()
        context.verdicts["em_n_classes_bic"] = best_k
        section.add(
            Paragraph(
                f"**Maximum-likelihood latent classes** (EM, {starts} random starts per K): "
                f"BIC prefers **K = {best_k}**."
            ),
            TableBlock(
                statistics[
                    [
                        c
                        for c in (
                            "log_likelihood",
                            "n_parameters",
                            "aic",
                            "bic",
                            "relative_entropy",
                            "n_best_starts",
                        )
                        if c in statistics
                    ]
                ],
                "EM fit by number of classes (lower BIC is better)",
                index=True,
            ),
        )
        if lc.markusen and typed and best_k > 1:
            typing = _em_markusen_typing(best)
            context.save_table(typing, "latent_class/em_markusen_typing.csv")
            context.verdicts["em_class_types"] = dict(
                zip(typing.index.astype(str), typing["best_type"], strict=True)
            )
            section.add(
                TableBlock(
                    typing, f"EM classes (K = {best_k}) typed by Markusen match score", index=True
                ),
                context.save_figure(
                    plot_markusen_match(best),
                    "em_markusen_match",
                    f"EM classes (K = {best_k}): match score with each Markusen type (1 = the "
                    "class agrees and disagrees exactly as the type's signature; best type "
                    "outlined)",
                ),
            )
        section.add(
            context.save_figure(
                plot_item_profiles(best),
                "em_item_profiles",
                f"EM item-response profiles (K = {best_k}): each class's probability of each "
                "response category on every item",
            )
        )
    # -- Bayesian latent classes
    if lc.bayesian:
        _run_bayes_latent_class(context, section, responses, typed=typed)


def _k_text(values: Sequence[int]) -> str:
    return f"{values[0]}..{values[-1]}" if len(values) > 1 else str(values[0])


def _em_markusen_typing(em: LatentClassEM) -> pd.DataFrame:
    from bayes_cluster.surveys.markusen import MARKUSEN_TYPES, match_markusen_types

    scores = match_markusen_types(em.item_probabilities_)
    frame = pd.DataFrame(
        np.asarray(scores),
        index=[f"class {k}" for k in range(1, em.n_classes + 1)],
        columns=list(MARKUSEN_TYPES),
    )
    frame.index.name = "latent_class"
    frame.insert(0, "share", np.asarray(em.class_shares_))
    frame["best_type"] = frame[list(MARKUSEN_TYPES)].idxmax(axis=1)
    return frame


PPC_ROWS = 8
"""Item pairs shown in the report's bivariate-residual table (lowest p first)."""


def _run_bayes_latent_class(
    context: RunContext, section: Section, responses: pd.DataFrame, *, typed: bool
) -> None:
    from bayes_cluster.plots.latent_class import (
        plot_class_profiles,
        plot_class_shares,
        plot_markusen_match,
        plot_markusen_typing,
        plot_membership,
    )

    lc = context.spec.latent_class
    hdi_prob = context.sampler.hdi_prob
    models = {}
    for k in lc.n_classes:
        context.progress(f"cluster pattern: Bayesian latent classes K = {k} (MCMC)")
        model = _fit_bayes_latent_class(responses, k, lc, context)
        models[k] = model
        context.add_diagnostics(f"latent classes K={k}", model.diagnostics_)
        context.save_tree(model.idata_, f"latent_class/bayes_posterior_K{k}.nc")
        # with one class pi is the constant 1: nothing to summarise (and no R-hat)
        summary = model.summary(var_names=("pi", "theta") if k > 1 else ("theta",))
        context.save_table(summary, f"latent_class/bayes_summary_K{k}.csv")
    chosen = _choose_n_classes(context, section, models)
    model = models[chosen]
    context.results["latent_class"] = model
    context.verdicts["bayes_n_classes_loo"] = chosen
    context.save_table(model.class_probabilities(), "latent_class/bayes_class_probabilities.csv")
    shares = model.posterior["pi"].mean(("chain", "draw")).to_numpy()
    how = "chosen by PSIS-LOO" if len(models) > 1 else "the only number of classes fitted"
    if lc.markusen and typed:
        typing = model.markusen_typing()
        context.save_table(typing, "latent_class/bayes_markusen_typing.csv")
        verdict = model.cluster_verdict(hdi_prob=hdi_prob)
        context.save_table(verdict.table, "latent_class/bayes_cluster_verdict.csv")
        context.verdicts["bayes_cluster_verdict"] = verdict.text
        section.add(
            Paragraph(
                f"**Bayesian latent classes** (K = {chosen}, {how}; every "
                f"posterior draw's class profiles typed against Markusen's signatures): "
                f"**{verdict.text}**"
            ),
            BulletList(tuple(verdict.statements)),
            TableBlock(
                typing, "Each class's share and the posterior probability of its type", index=True
            ),
            TableBlock(
                verdict.table, "Share of firms in classes of each Markusen type", index=True
            ),
        )
        if len(models) > 1:
            _verdict_over_n_classes(context, section, models, chosen)
        if chosen > 1:
            from bayes_cluster.surveys.markusen import match_markusen_types

            scores = match_markusen_types(model.posterior["theta"])
            section.add(
                context.save_figure(
                    plot_markusen_match(scores, class_shares=shares),
                    "markusen_verdict",
                    f"Bayesian latent classes (K = {chosen}): posterior mean match score with "
                    "each Markusen type (best type outlined)",
                )
            )
        section.add(
            context.save_figure(
                plot_markusen_typing(model),
                "markusen_type_shares",
                "Markusen typing of the Bayesian latent classes: the posterior probability of "
                "each class's type (left) and the posterior of the share of firms in classes "
                "of each type (right; a type is the majority when its share passes the dotted "
                "line at 0.5)",
            )
        )
    else:
        section.add(
            Paragraph(f"**Bayesian latent classes**: **K = {chosen}** ({how})."),
            TableBlock(model.summary(), "Posterior summary", index=True),
        )
    section.add(
        context.save_figure(
            plot_class_profiles(model, hdi_prob=hdi_prob),
            "latent_class_profiles",
            f"Item-response profiles of the {chosen} Bayesian latent classes: posterior mean "
            f"(dot) and {hdi_prob:.0%} HDI (line) of each response probability",
        )
    )
    if chosen > 1:
        section.add(
            context.save_figure(
                plot_class_shares(model, hdi_prob=hdi_prob),
                "latent_class_shares",
                f"Posterior of the class shares (K = {chosen}), with {hdi_prob:.0%} HDIs: a "
                "class whose share reaches down to zero may not be needed",
            ),
            context.save_figure(
                plot_membership(model),
                "latent_class_membership",
                "Each firm's posterior class membership probabilities, firms sorted by their "
                "most probable class: mixed bars are firms the classes do not place clearly",
            ),
        )
    _latent_class_ppc(context, section, model)


def _verdict_over_n_classes(
    context: RunContext,
    section: Section,
    models: Mapping[int, BayesianLatentClass],
    chosen: int,
) -> None:
    """Add the verdict under each number of classes and averaged over them (stacking)."""
    from bayes_cluster.analyses.n_classes import loo_weights, verdict_over_n_classes

    comparison = context.results["latent_class_loo"]
    weights = loo_weights(models, method="stacking")
    table, sentences = verdict_over_n_classes(
        models, weights, comparison=comparison, hdi_prob=context.sampler.hdi_prob
    )
    context.save_table(table, "latent_class/verdict_by_n_classes.csv")
    context.verdicts["bayes_cluster_verdict_by_k"] = sentences
    section.add(
        Paragraph(
            f"**Uncertainty about the number of classes.** The verdict above is that of "
            f"K = {chosen}, the best by PSIS-LOO; a K whose ELPD is within two SEs of the "
            "best is as plausible. Below, the verdict under each K and averaged over K "
            "with stacking weights (Yao et al. 2018; the weight of each K in the mixture "
            "of their leave-one-out predictions that predicts best): an averaged "
            "probability is the weighted sum of the per-K probabilities."
        ),
        BulletList(tuple(sentences)),
        TableBlock(
            table,
            "Cluster verdict by number of classes and averaged over K (stacking weights "
            "from PSIS-LOO; p_majority_<type>: P(firms in classes of that type are the "
            "majority))",
            index=True,
        ),
    )


def _latent_class_ppc(context: RunContext, section: Section, model: BayesianLatentClass) -> None:
    """Add the chosen mixture's posterior predictive check: item shares and item pairs."""
    from bayes_cluster.plots.latent_class import plot_bivariate_residuals, plot_item_ppc

    context.progress("cluster pattern: posterior predictive check of the latent classes")
    interval = context.sampler.hdi_prob
    seed = context.seed("latent_class_ppc")
    check = model.posterior_predictive_check(random_seed=seed, interval_prob=interval)
    item_shares, pairs = check["item_shares"], check["pairs"]
    context.save_table(item_shares, "latent_class/bayes_ppc_item_shares.csv")
    context.save_table(pairs, "latent_class/bayes_ppc_pairs.csv")
    n_extreme = int((item_shares["p_two_sided"] < 0.05).sum())
    n_pairs = int((pairs["p_bvr"] < 0.05).sum())
    worst = pairs.sort_values("p_bvr").head(PPC_ROWS)
    section.add(
        Paragraph(
            f"**Posterior predictive check** of the chosen model (K = {model.n_classes}), on "
            "surveys replicated from it: "
            f"{n_extreme} of {len(item_shares)} item response shares fall outside what it "
            f"replicates (two-sided p < 0.05), and {n_pairs} of {len(pairs)} item pairs show "
            "more association than the classes explain (bivariate residual p < 0.05). "
            "All values: `latent_class/bayes_ppc_item_shares.csv`, "
            "`latent_class/bayes_ppc_pairs.csv`."
        ),
        context.save_figure(
            plot_item_ppc(model, interval_prob=interval, random_seed=seed),
            "latent_class_ppc",
            f"Posterior predictive check of the item response shares (K = {model.n_classes}): "
            f"dots are the observed shares, bars the {interval:.0%} interval of the share in "
            "replicated surveys. Look for dots outside their bars (hollow: two-sided p < "
            "0.05); a latent class model reproduces the margins almost by construction, so a "
            "miss points to a coding or sampling problem rather than to the number of classes",
        ),
        TableBlock(
            worst[["bvr_observed", "bvr_replicated", "p_bvr", "cramers_v_observed"]],
            f"Item pairs least well explained by the classes (lowest bivariate-residual "
            f"p-value first; {PPC_ROWS} of {len(pairs)})",
            index=True,
        ),
        context.save_figure(
            plot_bivariate_residuals(pairs),
            "latent_class_bivariate_residuals",
            "Bivariate residuals of every item pair (below the diagonal) and their posterior "
            "predictive p-values (above). Look for outlined pairs (p < 0.05): association "
            "the classes leave unexplained, a sign that more classes are needed or that the "
            "two items share a cause beyond the class",
        ),
    )


def _choose_n_classes(
    context: RunContext, section: Section, models: Mapping[int, BayesianLatentClass]
) -> int:
    """Adapter: pick the number of classes by PSIS-LOO (the only K if just one)."""
    if len(models) == 1:
        return next(iter(models))
    from bayes_cluster.analyses.n_classes import compare_n_classes
    from bayes_cluster.plots.compare import plot_elpd_comparison

    em = context.results.get("em_bic")
    table = compare_n_classes(models, em_bic=em)
    context.results["latent_class_loo"] = table
    context.save_table(table, "latent_class/loo_comparison.csv")
    section.add(
        TableBlock(
            table,
            "Number of classes compared by PSIS-LOO (higher ELPD is better; EM BIC beside)",
            index=True,
        ),
        context.save_figure(
            plot_elpd_comparison(
                table,
                elpd="elpd_loo",
                diff_se="se_diff",
                title="Bayesian latent classes by number of classes",
            ),
            "latent_class_loo",
            "PSIS-LOO of each number of classes: ELPD with its SE (dots) and the gap to the "
            "best with the SE of the gap (diamonds); a gap within about two of its SEs does not "
            "separate the models",
        ),
    )
    return int(str(table.index[0]).removeprefix("K="))


# --------------------------------------------------------------------------- frequentist


def _fit_mle(frame: pd.DataFrame, outcome: str, predictors: Sequence[str]) -> MLELogitResult:
    """Adapter: maximum-likelihood logit (SPSS/Stata tables)."""
    from bayes_cluster.estimators.frequentist import mle_logit

    return mle_logit(frame, outcome, list(predictors))


def _fit_firth(
    frame: pd.DataFrame, outcome: str, predictors: Sequence[str], se: str = "fisher"
) -> FirthLogitResult:
    """Adapter: Firth's penalised logit (logistf's intervals and tests; ``se`` convention)."""
    from bayes_cluster.estimators.frequentist import firth_logit

    return firth_logit(frame, outcome, list(predictors), se=se)


def _detect_separation(
    frame: pd.DataFrame, outcome: str, predictors: Sequence[str]
) -> SeparationResult:
    """Adapter: complete / quasi-complete separation check (linear programming)."""
    from bayes_cluster.estimators.frequentist import detect_separation

    return detect_separation(frame, outcome, list(predictors))


def _run_frequentist(context: RunContext) -> None:
    spec, frame = context.spec, context.frame
    logistic, frequentist = spec.logistic, spec.frequentist
    predictors = list(logistic.terms)
    section = context.report.section("Export orientation: frequentist logits")
    if frequentist.separation:
        context.progress("logit: separation check")
        separation = _detect_separation(frame, logistic.outcome, predictors)
        context.verdicts["separation"] = separation.message
        section.add(
            Alert(
                f"Separation check: {separation.message}",
                "error" if separation.separated else "ok",
            )
        )
    if "mle" in frequentist.methods:
        context.progress("logit: maximum likelihood")
        result = _fit_mle(frame, logistic.outcome, predictors)
        context.save_table(result.summary, "logistic/mle_summary.csv")
        statistics = result.fit_statistics.to_frame("value")
        context.save_table(statistics, "logistic/mle_fit_statistics.csv")
        context.methods.append(comparison_module.from_mle(result.summary, level=0.95))
        context.results["mle"] = result
        section.add(
            Paragraph(
                "**Maximum-likelihood logit** (the table SPSS prints: B, S.E., Wald, df, "
                "Sig., Exp(B))."
            ),
            TableBlock(result.summary, "Maximum-likelihood coefficients", index=True),
            TableBlock(statistics, "Model fit", index=True),
        )
        classification = result.classification_table
        context.save_table(classification, "logistic/mle_classification.csv")
        section.add(
            TableBlock(classification, f"Classification table (cut {result.cut:g})", index=True)
        )
    if "firth" in frequentist.methods:
        context.progress("logit: Firth penalised likelihood")
        result = _fit_firth(frame, logistic.outcome, predictors, se=frequentist.firth_se)
        context.save_table(result.summary, "logistic/firth_summary.csv")
        context.methods.append(comparison_module.from_firth(result.summary, level=0.95))
        context.results["firth"] = result
        section.add(
            Paragraph(
                "**Firth's penalised logit** (profile penalised likelihood intervals and "
                "penalised likelihood-ratio tests as R's logistf; standard errors: "
                f"{result.summary.attrs['std_error']}); finite even under separation."
            ),
            TableBlock(result.summary, "Firth coefficients", index=True),
        )


# --------------------------------------------------------------------------- Bayesian logit


def _fit_bayes_logit(
    frame: pd.DataFrame,
    logistic: LogisticSpec,
    *,
    predictors: Sequence[str],
    group: str | None,
    priors: Mapping[str, Any],
    shrinkage: str | None,
    name: str,
    context: RunContext,
) -> Any:
    """Adapter: build and fit one Bayesian logit; returns the fitted model.

    Its convergence verdict goes into the report (top, in red, when it failed), so the
    model's own ConvergenceWarning is not repeated here.
    """
    from bayes_cluster.estimators.logistic import BayesianLogit
    from bayes_cluster.inference.diagnostics import ConvergenceWarning

    sampler = context.sampler
    model = BayesianLogit(
        logistic.outcome,
        list(predictors),
        group=group,
        priors=dict(priors) or None,
        standardize=logistic.standardize,
        shrinkage=shrinkage,
        hdi_prob=sampler.hdi_prob,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(
            frame,
            draws=sampler.draws,
            tune=sampler.tune,
            chains=sampler.chains,
            random_seed=context.seed(name),
            sampler=sampler.backend,
            target_accept=None if shrinkage else sampler.target_accept,
            progressbar=context.progressbar,
        )
    return model


def _bayes_models(logistic: LogisticSpec) -> list[tuple]:
    """Return (method, terms, group, priors, shrinkage) of the base model and each variant.

    Variants inherit the base priors; a prior that a model has no parameter for (``group_sd``
    without a group, ``horseshoe`` without the horseshoe) is left out of that model.
    """
    models = [("bayes", logistic.terms, logistic.group, logistic.priors, logistic.shrinkage)]
    for variant in logistic.variants:
        terms = tuple(logistic.term(c) for c in variant.predictors)
        models.append(
            (f"bayes_{variant.name}", terms, variant.group, variant.priors, variant.shrinkage)
        )
    return [
        (
            name,
            terms,
            group,
            {
                key: prior
                for key, prior in priors.items()
                if not (key == "group_sd" and group is None)
                and not (key == "horseshoe" and shrinkage is None)
            },
            shrinkage,
        )
        for name, terms, group, priors, shrinkage in models
    ]


def _run_bayes_logit(context: RunContext) -> None:
    spec, frame = context.spec, context.frame
    from bayes_cluster.plots.compare import plot_elpd_comparison

    logistic = spec.logistic
    hdi_prob = context.sampler.hdi_prob
    section = context.report.section("Export orientation: Bayesian logits")
    section.add(
        Paragraph(
            f"MCMC ({context.sampler.backend}): {context.sampler.chains} chains x "
            f"{context.sampler.draws} draws after {context.sampler.tune} tuning steps; "
            f"intervals are {hdi_prob:.0%} highest-density intervals; `prob_positive` is "
            "the posterior probability that the coefficient is above zero."
        )
    )
    fitted = {}
    for name, terms, group, priors, shrinkage in _bayes_models(logistic):
        description = f"varying intercepts by {group}" if group else "no grouping"
        if shrinkage:
            description += f", {shrinkage} prior on the slopes"
        context.progress(f"logit: Bayesian {name} ({description}; MCMC)")
        model = _fit_bayes_logit(
            frame,
            logistic,
            predictors=terms,
            group=group,
            priors=priors,
            shrinkage=shrinkage,
            name=name,
            context=context,
        )
        fitted[name] = model
        context.add_diagnostics(name, model.diagnostics_)
        summary = model.summary(hdi_prob=hdi_prob)
        context.save_table(summary, f"logistic/{name}_summary.csv")
        context.save_tree(model.idata_, f"logistic/{name}_posterior.nc", model=name)
        coefficients = summary.loc[[INTERCEPT, *model.terms]]
        context.methods.append(comparison_module.from_bayes(coefficients, name, hdi_prob))
        prior_table = model.prior_summary()
        context.save_table(prior_table, f"logistic/{name}_priors.csv")
        section.add(
            Paragraph(f"**{name}** ({description})."),
            TableBlock(
                summary,
                f"{name}: posterior summary"
                + (
                    f" (then the hierarchy, as rstanarm prints it: sigma[{group}] is the "
                    f"between-{group} SD of the intercepts, Sigma[...] its square, b[...] "
                    "each group's intercept deviation, log-odds)"
                    if group
                    else ""
                ),
                index=True,
            ),
            TableBlock(prior_table, f"{name}: priors used", index=True),
        )
        _bayes_logit_figures(context, section, model, name)
    context.results["bayes_logit"] = fitted
    if logistic.loo and len(fitted) > 1:
        context.progress("logit: PSIS-LOO comparison of the Bayesian models")
        table, notes = _loo_compare(fitted)
        table.index.name = "model"
        context.save_table(table, "logistic/loo_comparison.csv")
        for note in notes:
            section.add(Alert(f"PSIS-LOO: {note}", "warning"))
        section.add(
            TableBlock(
                table, "Bayesian logits compared by PSIS-LOO (higher ELPD is better)", index=True
            ),
            context.save_figure(
                plot_elpd_comparison(table, title="Bayesian logits compared by PSIS-LOO"),
                "loo_comparison",
                "PSIS-LOO of each Bayesian logit: ELPD with its SE (dots) and the gap to the "
                "best model with the SE of the gap (diamonds); a gap within about two of its "
                "SEs does not separate the models",
            ),
        )
    if logistic.prior_sensitivity:
        context.progress("logit: prior sensitivity (power-scaling)")
        sensitivity, failure = _prior_sensitivity(fitted["bayes"])
        sensitivity_section = context.report.section("Prior sensitivity")
        if sensitivity is not None:
            context.save_table(sensitivity, "logistic/prior_sensitivity.csv")
            sensitivity_section.add(
                Paragraph(
                    "Power-scaling sensitivity of the base Bayesian logit (Kallioinen et al. "
                    "2024): how much each coefficient's posterior moves when the prior or "
                    "the likelihood is strengthened or weakened. Values above 0.05 flag a "
                    "coefficient whose posterior leans on its prior."
                ),
                TableBlock(sensitivity, "Prior and likelihood sensitivity", index=True),
            )
            _wider_prior(context, sensitivity_section, fitted["bayes"], sensitivity)
        else:
            context.verdicts["prior_sensitivity_failed"] = failure
            sensitivity_section.add(
                Alert(f"Prior sensitivity could not be computed: {failure}", "error")
            )


def _loo_compare(models: Mapping[str, Any]) -> tuple[pd.DataFrame, list[str]]:
    """Adapter: ELPD comparison of the Bayesian logits, with PSIS warnings as notes."""
    from bayes_cluster.estimators.logistic import compare_models

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        table = compare_models(dict(models))
    return table, _warning_notes(caught)


def _warning_notes(caught: Sequence[warnings.WarningMessage]) -> list[str]:
    """Distinct warning messages, first sentence only, for the report."""
    notes = []
    for item in caught:
        text = str(item.message).split(". ")[0].strip().rstrip(".") + "."
        if text not in notes:
            notes.append(text)
    return notes


def _prior_sensitivity(model: BayesianLogit) -> tuple[pd.DataFrame | None, str | None]:
    """Adapter: power-scaling prior sensitivity of a fitted Bayesian logit.

    Returns the table, or ``None`` and the reason it could not be computed (shown in the
    report in red, and in the run summary, rather than aborting the whole run).
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return model.prior_sensitivity(), None
    except Exception as error:  # noqa: BLE001 - reported in the report, in red
        return None, f"{type(error).__name__}: {error}"


WIDE_PRIOR_FACTOR = 4.0
"""How much wider the prior of the sensitivity refit is (t7(0, 1) slopes become t7(0, 4))."""


def _wider_prior(
    context: RunContext, section: Section, base: BayesianLogit, sensitivity: pd.DataFrame
) -> None:
    """Refit the base logit under priors WIDE_PRIOR_FACTOR times wider; read the flags."""
    from bayes_cluster.estimators.logistic import prior_sensitivity_reading, widened_priors
    from bayes_cluster.plots.logistic import plot_prior_sensitivity

    logistic = context.spec.logistic
    if base.shrinkage is not None:
        section.add(
            Paragraph(
                "No refit under a wider prior: the horseshoe has no single prior scale to "
                "widen; read the power-scaling values above."
            )
        )
        return
    factor = WIDE_PRIOR_FACTOR
    context.progress(f"logit: base model under priors {factor:g} times wider (MCMC)")
    wide = _fit_bayes_logit(
        context.frame,
        logistic,
        predictors=base.terms,
        group=base.group,
        priors=widened_priors(base, factor),
        shrinkage=None,
        name="bayes_wide_prior",
        context=context,
    )
    context.add_diagnostics("bayes_wide_prior", wide.diagnostics_)
    level = context.spec.report.comparison_level
    table, sentences = prior_sensitivity_reading(
        sensitivity,
        base.summary(hdi_prob=level, groups=False),
        wide.summary(hdi_prob=level, groups=False),
        factor=factor,
    )
    context.save_table(table, "logistic/prior_sensitivity_wide.csv")
    context.verdicts["prior_sensitivity_reading"] = sentences
    section.add(
        Paragraph(
            "**What the flags mean.** A flagged coefficient is one whose posterior the prior "
            "still shapes; the check does not say the prior is wrong. The answer a referee "
            f"asks for is the result under another prior: below, the base model refitted "
            f"with the intercept and slope priors {factor:g} times wider (same family and "
            f"centre), beside the default, both as {level:.0%} HDIs."
        ),
        BulletList(tuple(sentences)),
        TableBlock(
            table,
            f"Prior sensitivity: default prior against a prior {factor:g} times wider "
            f"({level:.0%} HDIs; conclusion: effect when the HDI excludes 0)",
            index=True,
        ),
        context.save_figure(
            plot_prior_sensitivity(table, factor=factor, level=level),
            "prior_sensitivity",
            f"Each coefficient under the default prior and under a prior {factor:g} times "
            f"wider (posterior mean and {level:.0%} HDI); * marks the coefficients the "
            "power-scaling check flags. Look for intervals that cross zero under one prior "
            "only: those conclusions depend on the prior",
        ),
    )


def _prior_posterior_inputs(model: Any) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Adapter: standardised draws and the priors they were given, by term."""
    from bayes_cluster.common.dims import PREDICTOR

    posterior = model.idata_["posterior"]
    resolved = model.resolved_priors()
    draws = {INTERCEPT: posterior["alpha_std"].to_numpy().ravel()}
    priors = {INTERCEPT: resolved["intercept"]}
    beta = posterior["beta_std"]
    for term in beta[PREDICTOR].to_numpy():
        draws[str(term)] = beta.sel({PREDICTOR: term}).to_numpy().ravel()
        if str(term) in resolved["slopes"]:
            priors[str(term)] = resolved["slopes"][str(term)]
    return draws, priors


def _bayes_logit_figures(
    context: RunContext, section: Section, model: BayesianLogit, name: str
) -> None:
    """Add the Bayesian logit's figures: calibration, separation, LOO-PIT, odds ratios, priors."""
    from bayes_cluster.plots.compare import plot_prior_posterior
    from bayes_cluster.plots.logistic import (
        plot_calibration,
        plot_coefficients,
        plot_loo_pit,
        plot_separation,
    )

    hdi_prob = context.sampler.hdi_prob
    draws, priors = _prior_posterior_inputs(model)
    scale = "per SD of the predictor" if model.standardize else "original scale"
    section.add(
        context.save_figure(
            plot_calibration(model, band_prob=hdi_prob),
            f"{name}_calibration",
            f"{name}: PAV calibration of the fitted export probabilities; the band is the "
            f"same curve for outcomes replicated from the model ({hdi_prob:.0%}), so a "
            "well-calibrated model's line stays inside it",
        ),
        context.save_figure(
            plot_separation(model),
            f"{name}_separation",
            f"{name}: separation plot (firms ordered by predicted probability; exporters "
            "dark): a model that separates exporters well puts the dark stripes to the right",
        ),
        context.save_figure(
            plot_loo_pit(model, band_prob=hdi_prob),
            f"{name}_loo_pit",
            f"{name}: LOO-PIT, the ECDF of the leave-one-out probability integral transform "
            f"minus the uniform one; a line leaving the {hdi_prob:.0%} band points to a "
            "miscalibrated model",
        ),
        context.save_figure(
            plot_coefficients(model, hdi_prob=hdi_prob),
            f"{name}_odds_ratios",
            f"{name}: odds ratio per unit of each predictor (posterior mean and {hdi_prob:.0%} "
            "HDI, log scale); an interval across 1 is no clear effect",
        ),
        context.save_figure(
            plot_prior_posterior(
                draws, priors, title=f"{name}: prior against posterior", scale_note=scale
            ),
            f"{name}_prior_posterior",
            f"{name}: prior (line) against posterior (histogram) of each coefficient, on the "
            "scale the priors are set on",
        ),
    )
    if model.group is not None:
        from bayes_cluster.plots.logistic import plot_shrinkage

        shrinkage = model.group_shrinkage(hdi_prob=hdi_prob)
        context.save_table(shrinkage, f"logistic/{name}_group_shrinkage.csv")
        section.add(
            TableBlock(
                shrinkage,
                f"{name}: share of exporters by {model.group}, raw against partially pooled "
                f"(posterior mean and {hdi_prob:.0%} HDI; b_mean: the group's intercept "
                "deviation, log-odds)",
                index=True,
            ),
            context.save_figure(
                plot_shrinkage(shrinkage, title=f"{name}: shrinkage by {model.group}"),
                f"{name}_shrinkage",
                f"{name}: each {model.group}'s share of exporters, raw (hollow) and partially "
                f"pooled (filled, {hdi_prob:.0%} HDI: the mean fitted probability of the "
                "group's firms, so it carries their predictors too). The arrows show how far "
                "the model moves each group: its intercept deviation b is shrunk towards "
                "zero, most for small groups, and a group whose firms' predictors explain its "
                "share moves even away from the others",
            ),
        )


# --------------------------------------------------------------------------- comparison


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


def _run_comparison(context: RunContext) -> None:
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
    context.path("comparison.md").write_text(
        (f"> {note}\n\n" if note else "")
        + comparison_module.to_markdown(table)
        + f"\nConclusion rule: {rules}.{source}\n",
        encoding="utf-8",
    )
    context.path("comparison.tex").write_text(
        comparison_module.to_latex(
            table,
            columns=list(_SHOWN_COMPARISON_COLUMNS),
            caption=f"{note}Logit coefficients by method. Conclusion rule: {rules}.{source}",
        ),
        encoding="utf-8",
    )
    reading = comparison_module.plain_language_reading(
        table, published_source=published.name if published else None
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


# --------------------------------------------------------------------------- built-in runners

register_runner("data", _run_data, applies=lambda spec: True, before=None)
register_runner(
    "latent_class", _run_latent_class, applies=lambda s: s.latent_class is not None, before=None
)
register_runner(
    "frequentist",
    _run_frequentist,
    applies=lambda s: s.frequentist is not None and s.logistic is not None,
    before=None,
)
register_runner(
    "logistic",
    _run_bayes_logit,
    applies=lambda s: s.logistic is not None and s.logistic.bayesian,
    before=None,
)
register_runner("joint", lambda context: _run_joint(context), before=None)
register_runner(
    "comparison", _run_comparison, applies=lambda s: s.logistic is not None, before=None
)


def _run_joint(context: RunContext) -> None:
    """Adapter: the joint latent-class + logit section (:mod:`bayes_cluster.run.joint_section`)."""
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
        result = run_joint_section(
            context.frame,
            config,
            context.sampler,
            context.path("joint/joint_comparison.md").parent,
            progressbar=context.progressbar,
            figures=False,  # drawn below through save_figure (PNG/PDF/SVG, QUICK label)
        )
    for name, diagnostics in result.diagnostics.items():
        context.add_diagnostics(f"[joint] {name}", diagnostics)
    for relative in ("joint/joint_coefficients.csv", "joint/joint_class_effect.csv",
                     "joint/joint_elpd.csv"):  # fmt: skip
        table = pd.read_csv(context.folder / relative)
        context.save_table(table, relative, index=False)
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
    for note in _warning_notes(caught):
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


# --------------------------------------------------------------------------- entry point


def default_output_folder(spec: Spec) -> Path:
    """``results/<spec stem>/`` (relative to the working directory)."""
    return Path("results") / spec.name


def _summary_lines(context: RunContext, folder: Path) -> list[str]:
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


def _journal_outputs(context: RunContext, versions: Mapping[str, str]) -> None:
    """Write the booktabs tables and ``methods.md``; add the Methods section to the report."""
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
        context.path(JOURNAL_TABLES[key]).write_text(table.source, encoding="utf-8")
    text = methods_text(
        spec, sampler=context.sampler, n_firms=n_firms, versions=versions, quick=quick
    )
    context.path("methods.md").write_text(text.to_markdown(), encoding="utf-8")
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


def _json_safe(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def run_spec(
    spec: Spec | str | Path,
    *,
    out: str | Path | None = None,
    quick: bool = False,
    stream: TextIO | None = sys.stderr,
    progressbar: bool = False,
) -> RunResult:
    """Run everything a spec asks for and write the results, figures and report.

    Parameters
    ----------
    spec : Spec, str or pathlib.Path
        A validated spec or the path of a TOML spec file.
    out : str or pathlib.Path, optional
        Output folder; default ``results/<spec stem>/``. Replaced as a whole when the run
        succeeds.
    quick : bool
        Fast preview with few draws (``[sampler.quick]``) and EM starts, labelled as such
        in every output.
    stream : file-like or None
        Where progress lines go (default stderr; ``None`` for silence).
    progressbar : bool
        Show the samplers' own progress bars.

    Returns
    -------
    RunResult

    Raises
    ------
    SpecError
        Malformed spec (nothing written).
    SurveyValidationError
        Invalid survey file (nothing written).
    PipelineError
        A run that cannot proceed (nothing written).
    """
    from bayes_cluster.inference.provenance import provenance
    from bayes_cluster.run.safety import check_output_folder, raise_if_interrupted

    if not isinstance(spec, Spec):
        spec = load_spec(spec)
    started = time.perf_counter()
    folder = Path(out) if out is not None else default_output_folder(spec)
    # before any work: a folder this package did not write is never replaced
    target = check_output_folder(folder, option="--out", marker="run.json")
    frame, notes = _load_data(spec)
    ensure_feasible(spec, frame)  # refuse what the survey cannot support, before fitting
    if spec.logistic is not None:
        frame = _apply_transforms(frame, spec.logistic, spec.source)
    sampler = spec.sampler.for_run(quick)
    title = spec.report.title + (" [QUICK PREVIEW]" if quick else "")
    report = Report(title=title, quick=quick, spec_text=spec.text)
    raise_if_interrupted()
    # folders created for the output; removed again (if still empty) when the run fails
    created = [parent for parent in target.parents if not parent.exists()]
    temporary = _make_temporary_folder(target)
    context = RunContext(
        spec=spec,
        quick=quick,
        sampler=sampler,
        folder=temporary,
        frame=frame,
        report=report,
        stream=stream,
        progressbar=progressbar,
        started=started,
    )
    context.results["data_notes"] = notes
    quiet = _quiet_library_logs() if not progressbar else contextlib.nullcontext()
    try:
        quiet.__enter__()
        context.progress(
            f"run {spec.source}{' (QUICK PREVIEW)' if quick else ''}: "
            f"{len(frame)} firms -> {folder}"
        )
        for runner in SECTION_RUNNERS:
            if runner.applies(spec):
                section_start = time.perf_counter()
                _run_collecting_warnings(runner, context)
                # a sampler may have swallowed Ctrl-C and returned a truncated fit
                raise_if_interrupted()
                context.timings[runner.name] = round(time.perf_counter() - section_start, 2)
        block = provenance(seed=sampler.seed, data=spec.data.path, spec=spec.source)
        block.pop("spec", None)
        report.reproducibility = {
            "spec file": spec.source,
            "data file": str(spec.data.path),
            "run": context.run_mode,
            "draws / tune / chains": f"{sampler.draws} / {sampler.tune} / {sampler.chains}",
            "backend": sampler.backend,
            **block,
        }
        _journal_outputs(context, block)
        lines = _summary_lines(context, folder)
        report.summary = [line for line in lines if not line.startswith("Report:")]
        context.progress("writing the report")
        write_report(report, temporary, spec.report.formats)
        seconds = time.perf_counter() - started
        record = {
            "package": PACKAGE,  # the ownership marker: only such a folder is ever replaced
            "spec": spec.source,
            "run": context.run_mode,
            "seed": sampler.seed,
            "sampler": {
                "draws": sampler.draws,
                "tune": sampler.tune,
                "chains": sampler.chains,
                "backend": sampler.backend,
            },
            "verdicts": _json_safe(context.verdicts),
            "diagnostics_passed": not report.failed,
            "timings_seconds": context.timings,
            "provenance": block,
            # what this run wrote: a later run replaces the folder only if it holds no more
            "files": sorted(
                [p.relative_to(temporary).as_posix() for p in temporary.rglob("*") if p.is_file()]
                + ["run.json"]
            ),
        }
        (temporary / "run.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        raise_if_interrupted()
        _move_into_place(temporary, target)
    except BaseException:
        with deferred_interrupts():  # a second Ctrl-C does not leave half a folder behind
            shutil.rmtree(temporary, ignore_errors=True)
            for parent in created:  # deepest first
                with contextlib.suppress(OSError):
                    parent.rmdir()
        raise
    finally:
        quiet.__exit__(None, None, None)
    context.progress("done")
    return RunResult(
        folder=folder,
        comparison=context.results.get("comparison"),
        verdicts=context.verdicts,
        summary=lines,
        diagnostics_passed=not report.failed,
        seconds=seconds,
    )


@contextlib.contextmanager
def _quiet_library_logs():
    """Hold back PyMC's and ArviZ's own log lines: the run prints its own progress.

    What they would say is in the report (diagnostics, Pareto k, sensitivity diagnosis).
    Setting the loggers' level is not enough when PyMC is imported later, inside the run:
    ``import pymc`` sets its logger to INFO and adds a stderr handler when it finds none.
    So each logger also gets a handler of its own for errors only, which makes PyMC keep
    its hands off, and records below ERROR are dropped whatever level PyMC sets.
    """
    names = ("pymc", "arviz_stats", "arviz_stats.psense", "nutpie")
    loggers = [logging.getLogger(name) for name in names]
    saved = [(logger.level, logger.propagate) for logger in loggers]
    handler = logging.StreamHandler(sys.stderr)
    handler.setLevel(logging.ERROR)
    for logger in loggers:
        logger.setLevel(logging.ERROR)
        if not logger.handlers:
            logger.addHandler(handler)
            logger.propagate = False
    try:
        yield
    finally:
        for logger, (level, propagate) in zip(loggers, saved, strict=True):
            logger.setLevel(level)
            logger.propagate = propagate
            if handler in logger.handlers:
                logger.removeHandler(handler)


def _make_temporary_folder(target: Path) -> Path:
    """Create the hidden work folder beside ``target`` with the user's umask.

    (``tempfile.mkdtemp`` makes it mode 0700, and the renamed folder would keep that.)
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    for attempt in range(100):
        temporary = target.with_name(f".{target.name}.partial-{os.getpid()}-{attempt}")
        try:
            temporary.mkdir()
        except FileExistsError:
            continue
        return temporary
    raise PipelineError(f"cannot create a work folder beside {target}: too many leftovers")


def _move_into_place(temporary: Path, folder: Path) -> None:
    """Replace ``folder`` with ``temporary`` (two renames on the same file system).

    ``folder`` is replaced only if it is still one this package wrote (its ``run.json``
    names the package) or an empty folder; it was checked before the run, and is checked
    again here in case something was put in it meanwhile. Ctrl-C is held back until the
    renames are done, so the user finds either the old or the new results, never neither.
    """
    from bayes_cluster.run.safety import OutputFolderError, check_output_folder

    try:
        check_output_folder(folder, option="--out", marker="run.json")
    except OutputFolderError as error:
        raise PipelineError(f"{error} (it changed during the run; nothing replaced)") from None
    with deferred_interrupts():
        previous = None
        if folder.exists():
            previous = folder.with_name(f".{folder.name}.previous-{os.getpid()}-{time.time_ns()}")
            folder.rename(previous)
        temporary.rename(folder)
        if previous is not None:
            shutil.rmtree(previous, ignore_errors=True)

"""Run a spec: every section it asks for, then the comparison and the report.

:func:`run_spec` is what ``bayes-cluster run SPEC`` calls.  The work is the list of
section runners :data:`SECTIONS`, run in order, each given the shared
:class:`bayes_cluster.run.context.RunContext`: it fits its models, writes its tables (CSV),
posteriors (NetCDF) and figures (PNG) through the context, and adds its part of the report.
Each section is a module of :mod:`bayes_cluster.run.sections`.

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
import os
import shutil
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, TextIO

import numpy as np

from bayes_cluster.run.context import (
    FigureWriters,
    PipelineError,
    RunContext,
    RunResult,
    SectionRunner,
    run_collecting_warnings,
)
from bayes_cluster.run.feasibility import ensure_feasible
from bayes_cluster.run.fit_worker import quiet_library_logs
from bayes_cluster.run.report import Report, write_report
from bayes_cluster.run.safety import PACKAGE, deferred_interrupts
from bayes_cluster.run.sections import latent_class as latent_class_section
from bayes_cluster.run.sections import logistic as logistic_section
from bayes_cluster.run.sections.comparison import run_comparison
from bayes_cluster.run.sections.data import apply_transforms, load_data, run_data
from bayes_cluster.run.sections.joint import run_joint
from bayes_cluster.run.sections.latent_class import run_latent_class, run_latent_class_bayes
from bayes_cluster.run.sections.logistic import run_bayes_logit, run_frequentist
from bayes_cluster.run.sections.outputs import journal_outputs, summary_lines
from bayes_cluster.run.spec import Spec, load_spec

__all__ = [
    "SECTIONS",
    "PipelineError",
    "RunContext",
    "RunResult",
    "SectionRunner",
    "default_output_folder",
    "run_spec",
]

SECTIONS: tuple[SectionRunner, ...] = (
    SectionRunner("data", lambda spec: True, run_data),
    SectionRunner("latent_class", lambda s: s.latent_class is not None, run_latent_class),
    SectionRunner(
        "frequentist",
        lambda s: s.frequentist is not None and s.logistic is not None,
        run_frequentist,
    ),
    SectionRunner(
        "logistic", lambda s: s.logistic is not None and s.logistic.bayesian, run_bayes_logit
    ),
    # the Bayesian latent classes after the logits: with a fit worker, the logits are
    # sampled first and written while the mixtures sample (their report part stays in
    # the latent-class section)
    SectionRunner(
        "latent_class_bayes",
        lambda s: s.latent_class is not None and s.latent_class.bayesian,
        run_latent_class_bayes,
        part_of="latent_class",
    ),
    SectionRunner("joint", lambda s: s.extra.get("joint") is not None, run_joint),
    SectionRunner("comparison", lambda s: s.logistic is not None, run_comparison),
)
"""The section runners, in the order a run calls them."""


def default_output_folder(spec: Spec) -> Path:
    """``results/<spec stem>/`` (relative to the working directory)."""
    return Path("results") / spec.name


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
    stream: TextIO | Literal["stderr"] | None = "stderr",
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
    stream : file-like, "stderr" or None
        Where progress lines go: ``"stderr"`` (default) is ``sys.stderr`` at the time of
        the call (not of the import, which may be a stream closed since); ``None`` for
        silence.
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
    from bayes_cluster.common.cores import cpu_counters
    from bayes_cluster.inference.provenance import provenance
    from bayes_cluster.run.safety import check_output_folder, raise_if_interrupted

    window = cpu_counters()  # whether a core is idle is measured over the run's start-up
    if not isinstance(spec, Spec):
        spec = load_spec(spec)
    started = time.perf_counter()
    folder = Path(out) if out is not None else default_output_folder(spec)
    # before any work: a folder this package did not write is never replaced
    target = check_output_folder(folder, option="--out", marker="run.json")
    frame, notes = load_data(spec)
    ensure_feasible(spec, frame)  # refuse what the survey cannot support, before fitting
    if spec.logistic is not None:
        frame = apply_transforms(frame, spec.logistic, spec.source)
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
        stream=sys.stderr if stream == "stderr" else stream,
        progressbar=progressbar,
        started=started,
        figure_writer=FigureWriters(),  # figures written by other processes, beside the fits
        # and the largest latent-class fit in another (run.fit_worker), if there is a core
        parallel=(os.cpu_count() or 1) > 1,
    )
    context.results["data_notes"] = notes
    quiet = quiet_library_logs() if not progressbar else contextlib.nullcontext()
    try:
        quiet.__enter__()
        context.progress(
            f"run {spec.source}{' (QUICK PREVIEW)' if quick else ''}: "
            f"{len(frame)} firms -> {folder}"
        )
        _start_background_fits(context, idle_since=window)
        places = {runner.name: place for place, runner in enumerate(SECTIONS)}
        for runner in SECTIONS:
            if runner.applies(spec):
                context.report_order = places[runner.part_of or runner.name]
                section_start = time.perf_counter()
                run_collecting_warnings(runner, context)
                # a sampler may have swallowed Ctrl-C and returned a truncated fit
                raise_if_interrupted()
                context.timings[runner.name] = round(time.perf_counter() - section_start, 2)
        for name, finish in context.deferred:  # what the sections left for the end
            section_start = time.perf_counter()
            finish()
            raise_if_interrupted()
            context.timings[name] = round(time.perf_counter() - section_start, 2)
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
        journal_outputs(context, block)
        lines = summary_lines(context, folder)
        report.summary = [line for line in lines if not line.startswith("Report:")]
        context.progress("writing the report")
        context.figure_writer.wait()  # the report embeds the PNGs
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
            # no figure is written into the folder once it is removed
            context.figure_writer.close(cancel=True)
            context.cancel_background()
            shutil.rmtree(temporary, ignore_errors=True)
            for parent in created:  # deepest first
                with contextlib.suppress(OSError):
                    parent.rmdir()
        raise
    finally:
        context.figure_writer.close()
        context.cancel_background()  # a fit nobody took (e.g. a section that stopped early)
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


MAX_FIT_WORKERS = 2
"""Most worker processes that make a run's Bayesian fits beside its own work."""


def fit_workers(chains: int, cores: int | None = None, *, compiling: bool = False) -> int:
    """Return how many fit workers a run starts: as many fits as run all their chains at once.

    nutpie samples a fit's chains on threads, one per core, so one fit already keeps
    ``chains`` cores busy: on two cores one worker (a second only took turns with the
    first, and importing PyMC, nutpie and ArviZ cost it some 3 s of a core), on eight
    cores with four chains two. Compiling uses one core: a run that must compile the
    latent-class callbacks (an empty cache) starts two workers on two cores, one compiling
    them, the other the logits' callbacks. At least 1, at most :data:`MAX_FIT_WORKERS`.

    Parameters
    ----------
    chains : int
        Chains of each fit (``[sampler] chains``).
    cores : int, optional
        Cores this process may use (default: its CPU affinity).
    compiling : bool, default False
        Whether the workers will compile the latent-class callbacks first.

    Returns
    -------
    int
        The number of worker processes.
    """
    if cores is None:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
        cores = cores or os.cpu_count() or 1
    workers = cores // max(chains, 1)
    if compiling:
        workers = max(workers, cores)
    return max(1, min(MAX_FIT_WORKERS, workers))


def _compiles_latent_class_callbacks(context: RunContext) -> bool:
    """Whether the run's latent-class fits will compile their callbacks (an empty cache)."""
    if context.sampler.backend != "nutpie_c":
        return False
    from bayes_cluster.inference.fast_latent_class import callbacks_cached

    return not callbacks_cached()


def _start_background_fits(
    context: RunContext,
    workers: int | None = None,
    *,
    idle_since: tuple[float, int, int, float] | None = None,
) -> None:
    """Start the run's independent Bayesian fits in worker processes, where it has a core.

    The latent-class fits of every K, the Bayesian logits (each section's
    ``background_fits``) and a place for the class covariates fit of the K the run will
    choose (:data:`fit_worker.PROMISED`) go to ``workers`` processes (default
    :func:`fit_workers` of the run's chains, and of whether the latent-class callbacks
    must be compiled;
    :func:`bayes_cluster.run.fit_worker.start_queue`, :func:`_queues`), which make them
    one after another while the run fits its EM models and reads each result when its
    section comes to it: the same calls, the same fits. Nothing starts in a run without
    ``context.parallel``, with fewer than two fits, or on a machine with no idle core
    (:func:`bayes_cluster.run.fit_worker.a_core_is_idle`, over the window from
    ``idle_since``, the run's start, without a wait of its own: a worker would only take
    turns with the run); each section then fits its models itself.
    """
    from bayes_cluster.run import fit_worker

    spec = context.spec
    latent, logits = [], []
    if spec.latent_class is not None:
        latent = latent_class_section.background_fits(context)
    if spec.logistic is not None and spec.logistic.bayesian:
        logits = logistic_section.background_fits(context)
    promise = []
    if (latent or logits) and latent_class_section.fits_class_covariates(spec):
        # the class covariates of the K the run chooses: sent when it is known
        promise = [(latent_class_section.COVARIATES_PROMISE, fit_worker.PROMISED)]
    if not context.parallel or len(latent) + len(logits) + len(promise) < 2:
        return
    if not fit_worker.a_core_is_idle(since=idle_since):
        context.progress(
            "every core is busy, so every fit runs in this process "
            "(a worker process would only take turns with it)"
        )
        return
    if workers is None:
        compiling = bool(latent) and _compiles_latent_class_callbacks(context)
        workers = fit_workers(context.sampler.chains, compiling=compiling)
    for queue in _queues(latent, logits, promise, workers):
        calls = fit_worker.start_queue([c for _, c in queue], quiet=not context.progressbar)
        context.background.update(zip((key for key, _ in queue), calls, strict=True))


def _queues(latent: list, logits: list, promise: list, workers: int) -> list[list]:
    """Deal the fits out to the workers: each queue in the order the run takes its fits.

    One worker makes them in the order the run takes them: the logits (the run writes
    their part while the latent-class mixtures sample: :data:`SECTIONS`), the mixtures,
    the promised place last (the run takes the class covariates fit at its very end).
    With more, the latent-class fits go to the workers in turn, the last (the largest
    model) to the first worker; the logits come first in the last worker's queue: on an
    empty cache it compiles their callbacks while the first compiles the latent-class
    loops (which it would otherwise wait for), and warm they take a few seconds while the
    run fits its EM models. The promised place ends the shortest queue.
    """
    if workers < 2 or not latent:
        jobs = logits + latent + promise
        return [q for q in (jobs[index::workers] for index in range(workers)) if q]
    queues = [latent[index::workers] for index in range(workers)]
    if len(latent) > 1 and queues[-1] and queues[-1][-1] is latent[-1]:
        queues[0].append(queues[-1].pop())  # the largest model: not behind the logits
    queues[-1] = logits + queues[-1]
    if promise:
        min(queues, key=len).extend(promise)
    return [queue for queue in queues if queue]


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

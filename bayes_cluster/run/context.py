"""The run context: the one object through which a section of a run writes its files.

A section runner (:class:`SectionRunner`) gets the shared :class:`RunContext`: it fits its
models, writes its tables (CSV), posteriors (NetCDF) and figures (PNG, PDF, SVG) through the
context, and adds its part of the report.  :class:`RunResult` is what a whole run returns;
:class:`PipelineError` stops a run that cannot go on.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
import warnings
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import numpy as np
import pandas as pd

from bayes_cluster.run.report import Alert, DiagnosticsEntry, FigureBlock, Report, Section
from bayes_cluster.run.spec import SamplerSpec, Spec

__all__ = [
    "QUICK_LABEL",
    "FigureWriter",
    "FigureWriters",
    "PipelineError",
    "RunContext",
    "RunResult",
    "SectionRunner",
    "run_collecting_warnings",
    "warning_notes",
]

QUICK_LABEL = "QUICK PREVIEW (--quick): not for reporting"


class PipelineError(RuntimeError):
    """A run that cannot go on (e.g. a transform undefined for the data); nothing is written."""


# --------------------------------------------------------------------------- figure writer


class FigureWriter:
    """Write a run's figures (PNG, PDF, SVG) in one worker process, beside the fitting.

    Writing a figure in three formats costs about 2 CPU seconds (the PDF's font subset,
    the 300 dpi PNG), some 50 s over a run's 25 figures, while the samplers leave the
    second core mostly idle.  :meth:`submit` pickles the drawn figure into a scratch file
    and hands it to one worker process (:mod:`bayes_cluster.plots.figure_worker`), which
    writes the files with :func:`bayes_cluster.plots.style.save_formats` (the same files as
    the run would write itself); the run goes on with its next model.  :meth:`wait`
    returns when every file is written (the report embeds the PNGs) and raises the
    worker's first error.

    The worker is a plain ``python -m`` process in a process group of its own: a
    terminal's Ctrl-C reaches only the run, and the run stops the worker (:meth:`close`
    with ``cancel=True`` kills it and waits, so that nothing is written into the run's
    folder once it is removed).  If the run dies, the worker reads the end of its input
    and exits.
    """

    def __init__(self, scratch: Path | None = None) -> None:
        self._process: subprocess.Popen | None = None
        self._owns_scratch = scratch is None
        self._scratch: Path | None = scratch
        self._pending: list[str] = []
        self._count = 0

    def _start(self) -> subprocess.Popen:
        from bayes_cluster.plots import figure_worker

        if self._scratch is None:
            self._scratch = Path(tempfile.mkdtemp(prefix="bayes_cluster_figures_"))
        environment = dict(os.environ)
        # the worker imports this very package, wherever it was imported from
        package_root = str(Path(figure_worker.__file__).resolve().parents[2])
        environment["PYTHONPATH"] = os.pathsep.join(
            [package_root, *filter(None, [environment.get("PYTHONPATH")])]
        )
        return subprocess.Popen(
            [sys.executable, "-m", "bayes_cluster.plots.figure_worker", str(self._scratch)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=environment,
            text=True,
            encoding="utf-8",
            process_group=0,  # Ctrl-C at the terminal reaches the run only
        )

    def submit(self, figure: Any, png_path: Path, dpi: int) -> None:
        """Queue ``figure`` to be written as ``png_path`` and its PDF and SVG beside it.

        Parameters
        ----------
        figure : matplotlib.figure.Figure
            The drawn figure (pickled now: later changes to it are not written).
        png_path : pathlib.Path
            Path of the PNG.
        dpi : int
            Resolution of the PNG.
        """
        if self._process is None:
            self._process = self._start()
        assert self._scratch is not None
        self._count += 1
        self.send(_pickled(figure, self._scratch, self._count), png_path, dpi)

    def send(self, figure_file: Path, png_path: Path, dpi: int) -> None:
        """Offer the worker the pickled figure ``figure_file`` (it writes it if it claims it).

        Parameters
        ----------
        figure_file : pathlib.Path
            ``pickle.dumps(figure)``, in this writer's scratch folder.
        png_path : pathlib.Path
            Path of the PNG.
        dpi : int
            Resolution of the PNG.
        """
        import json

        if self._process is None:
            self._process = self._start()
        assert self._process.stdin is not None
        job = {"figure": str(figure_file), "png": str(png_path), "dpi": int(dpi)}
        self._process.stdin.write(json.dumps(job) + "\n")  # one short line: never blocks
        self._process.stdin.flush()
        self._pending.append(str(png_path))

    def answers(self) -> list[dict]:
        """Wait for the worker's answer to every job sent since the last call.

        Returns
        -------
        list of dict
            One answer per job, in order: ``png``, ``error`` (None or the traceback) and
            ``written`` (False where another worker claimed the figure).

        Raises
        ------
        RuntimeError
            If the worker stopped before answering.
        """
        import json

        pending, self._pending = self._pending, []
        if not pending:
            return []
        assert self._process is not None and self._process.stdout is not None
        answers = []
        for png in pending:
            line = self._process.stdout.readline()
            if not line:
                raise RuntimeError(
                    f"the figure writer stopped (exit status {self._process.poll()}) before "
                    f"writing {png}"
                )
            answers.append(json.loads(line))
        return answers

    def wait(self) -> None:
        """Return when every queued figure is written.

        Raises
        ------
        RuntimeError
            If a figure could not be written (with the worker's traceback), or the
            worker stopped.
        """
        _raise_for(self.answers(), writers=1)

    def stop(self, *, cancel: bool = False) -> None:
        """Tell the worker to stop after its queue (close its input), or kill it now.

        Parameters
        ----------
        cancel : bool
            Kill it (see :meth:`close`).
        """
        if self._process is None:
            return
        if cancel:
            if self._process.poll() is None:
                self._process.kill()
        elif self._process.stdin is not None and not self._process.stdin.closed:
            self._process.stdin.close()

    def close(self, *, cancel: bool = False) -> None:
        """Stop the worker and remove its scratch folder.

        Parameters
        ----------
        cancel : bool
            Kill the worker now (the run failed or was interrupted; the figures not yet
            written are dropped); otherwise it finishes its queue first.  Either way the
            worker has exited when :meth:`close` returns.
        """
        import shutil

        if self._process is not None:
            self.stop(cancel=cancel)
            self._process.wait()
            for stream in (self._process.stdin, self._process.stdout):
                if stream is not None and not stream.closed:
                    stream.close()
            self._process = None
        if self._scratch is not None and self._owns_scratch:
            shutil.rmtree(self._scratch, ignore_errors=True)
            self._scratch = None
        self._pending = []


def _pickled(figure: Any, scratch: Path, number: int) -> Path:
    """Write ``pickle.dumps(figure)`` as the scratch folder's figure ``number``; its path."""
    import pickle

    path = scratch / f"figure_{number}.pickle"
    path.write_bytes(pickle.dumps(figure, protocol=pickle.HIGHEST_PROTOCOL))
    return path


def _raise_for(answers: list[dict], writers: int) -> None:
    """Raise for the first figure that could not be written, or that no writer claimed.

    ``answers`` holds every writer's answer to every job, in order.
    """
    failures, written, offered = [], set(), []
    for answer in answers:
        if answer["error"] is not None:
            failures.append(f"{answer['png']}:\n{answer['error']}")
        if answer["written"]:
            written.add(answer["png"])
        offered.append(answer["png"])
    if failures:
        raise RuntimeError("a figure could not be written: " + failures[0])
    for png in offered:
        if png not in written:
            raise RuntimeError(
                f"no figure writer (of {writers}) found the figure for {png} to write"
            )


class FigureWriters:
    """Several :class:`FigureWriter` processes, each figure written by the first one free.

    One writer fell behind once the fits got fast: the 27 figures of the Tumang run cost
    about 28 CPU seconds to write, and the run waited some 11 s at its end for the last
    of them. With one writer per core (two at most), the queue drains on both cores.
    Every figure is offered to every writer; the first to read it claims its file (the
    worker's protocol: :mod:`bayes_cluster.plots.figure_worker`) and writes it. Handed
    out in turn, the figures of a run's last sections once left one writer working
    alone for 2 s at the end while the other had finished its share. Same interface as
    :class:`FigureWriter`; every file is the same (each figure is written by one
    writer).

    Parameters
    ----------
    workers : int, optional
        Number of writer processes (default: the machine's cores, at most 2); each starts
        with its first figure.
    """

    def __init__(self, workers: int | None = None) -> None:
        if workers is None:
            workers = min(2, os.cpu_count() or 1)
        if workers < 1:
            raise ValueError(f"workers must be at least 1, got {workers}")
        self._workers = workers
        self._scratch: Path | None = None
        self.writers: list[FigureWriter] = []
        self._count = 0

    def submit(self, figure: Any, png_path: Path, dpi: int) -> None:
        """Queue ``figure`` for the first writer free (see :meth:`FigureWriter.submit`)."""
        if self._scratch is None:
            self._scratch = Path(tempfile.mkdtemp(prefix="bayes_cluster_figures_"))
            self.writers = [FigureWriter(self._scratch) for _ in range(self._workers)]
        self._count += 1
        pickled = _pickled(figure, self._scratch, self._count)
        for writer in self.writers:
            writer.send(pickled, png_path, dpi)

    def wait(self) -> None:
        """Return when every writer has written its queue (see :meth:`FigureWriter.wait`).

        Raises
        ------
        RuntimeError
            The first writer's error, once every writer has been waited for.
        """
        answers, errors = [], []
        for writer in self.writers:
            try:
                answers.extend(writer.answers())
            except RuntimeError as error:
                errors.append(error)
        if errors:
            raise errors[0]
        _raise_for(answers, writers=len(self.writers))

    def close(self, *, cancel: bool = False) -> None:
        """Stop every writer (see :meth:`FigureWriter.close`).

        Each is told to stop (or killed) before any is waited for: they shut down side by
        side, not one after another.
        """
        import shutil

        for writer in self.writers:
            writer.stop(cancel=cancel)
        for writer in self.writers:
            writer.close(cancel=cancel)
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)
            self._scratch = None


# --------------------------------------------------------------------------- context


@dataclass
class RunContext:
    """What every section runner reads and writes.

    A section writes every file of the run through it (:meth:`save_table`,
    :meth:`save_figure`, :meth:`save_tree`, :meth:`save_text`, :meth:`add_diagnostics`), so
    the files land in the run's temporary folder and carry the run mode.

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
    stream : file-like or None
        Where progress lines go (``None``: silence).
    progressbar : bool
        Show the samplers' own progress bars.
    timings : dict
        Seconds per section, for ``run.json``.
    started : float
        ``time.perf_counter()`` at the start of the run (progress lines show the elapsed time).
    figure_writer : FigureWriter or None
        Writes the figures in a worker process (the run waits for it before the report);
        ``None``: :meth:`save_figure` writes them itself.
    parallel : bool
        Sections may run an independent fit in a worker process beside their own work
        (:mod:`bayes_cluster.run.fit_worker`; same fit, same numbers).
    background : dict
        Fits started in worker processes at the start of the run, by key (e.g.
        ``("nominal", 3)``, ``("logit", "bayes")``); a section takes its own with
        :meth:`take_background`, and the run stops those nobody took.
    deferred : list of (str, callable)
        Work a section left for the end of the run (:meth:`defer`), in order.
    report_order : int
        Place in the report of the section now running: each fit's diagnostics are listed
        there (:attr:`DiagnosticsEntry.order`), whenever the run reads the fit.
    sections_of : dict
        The last report section each runner added, by runner name.
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
    results: dict[str, Any] = field(default_factory=dict)
    verdicts: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    started: float = field(default_factory=time.perf_counter)
    figure_writer: FigureWriter | FigureWriters | None = None
    parallel: bool = False
    background: dict[tuple, Any] = field(default_factory=dict)
    deferred: list[tuple[str, Callable[[], None]]] = field(default_factory=list)
    report_order: int = 0
    sections_of: dict[str, Section] = field(default_factory=dict)

    def take_background(self, key: tuple) -> Any:
        """Return the fit started in a worker under ``key`` (removed here), or None.

        Parameters
        ----------
        key : tuple
            The fit's key (see :attr:`background`).

        Returns
        -------
        BackgroundCall or None
            None when no worker has this fit: the section fits it in this process.
        """
        return self.background.pop(key, None)

    def defer(self, name: str, finish: Callable[[], None]) -> None:
        """Leave ``finish`` for the end of the run, after every section.

        E.g. the rest of a part whose fit a worker makes meanwhile, while the run goes on
        with its next section.

        Parameters
        ----------
        name : str
            Its name in :attr:`timings`.
        finish : callable
            Called with no arguments, in the order deferred; what it writes and adds to the
            report is the section's, as if done at once.
        """
        self.deferred.append((name, finish))

    def cancel_background(self) -> None:
        """Stop every worker fit nobody took (the run ends, or failed)."""
        while self.background:
            _, call = self.background.popitem()
            call.cancel()

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

    def save_text(self, text: str, relative: str) -> Path:
        """Write a text file of the run (Markdown, LaTeX), UTF-8."""
        target = self.path(relative)
        target.write_text(text, encoding="utf-8")
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
        dpi = max(self.spec.report.figure_dpi, PUBLICATION_DPI)
        if self.figure_writer is not None:
            self.figure_writer.submit(figure, self.path(relative), dpi)
        else:
            save_formats(figure, self.path(relative), dpi=dpi)
        _close(figure)
        return FigureBlock(
            relative,
            caption + (" (quick preview)" if self.quick else ""),
            vector=(f"figures/{name}.pdf", f"figures/{name}.svg"),
        )

    def save_tree(self, tree: Any, relative: str, **attrs: str) -> Path:
        """Write a posterior DataTree as NetCDF with provenance and run mode in its attrs."""
        from bayes_cluster.inference.base import write_netcdf
        from bayes_cluster.inference.provenance import provenance

        target = self.path(relative)
        tree = tree.copy()
        tree.attrs.update(
            provenance(seed=self.sampler.seed, data=self.frame, spec=self.spec.text),
            run_mode=self.run_mode,
            **attrs,
        )
        write_netcdf(tree, target)
        return target

    def add_diagnostics(
        self, name: str, diagnostics: Any, *, order: int | None = None
    ) -> DiagnosticsEntry:
        """Record an MCMC fit's diagnostics for the report (adapter for MCMCDiagnostics).

        ``order``: the place of the fit's part of the report (default
        :attr:`report_order`, the section running now).
        """
        order = self.report_order if order is None else order
        slug = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")
        relative = f"diagnostics/{slug}.csv"
        self.save_table(diagnostics.to_frame(), relative)
        entry = _diagnostics_entry(name, diagnostics, relative, order=order)
        self.report.diagnostics.append(entry)
        if not entry.passed:
            self.progress(
                f"  ! diagnostics FAILED for {name}: {'; '.join(entry.problems)} "
                f"(every parameter: {relative})"
            )
        return entry


@dataclass(frozen=True)
class SectionRunner:
    """One section of a run: ``run(context)``, called when ``applies(spec)``.

    Attributes
    ----------
    name : str
        Section name (timings in ``run.json``; the heading of its warnings).
    applies : callable
        ``applies(spec) -> bool``: whether the spec asks for this section.
    run : callable
        ``run(context)``: fit, write through the context, add report sections, and put
        logit estimates for the comparison into ``context.methods``.
    part_of : str or None
        The runner whose report section this one continues (its fits' diagnostics are
        listed there); None: its own.
    """

    name: str
    applies: Callable[[Spec], bool]
    run: Callable[[RunContext], None]
    part_of: str | None = None


def run_collecting_warnings(runner: SectionRunner, context: RunContext) -> None:
    """Run one section; show the warnings it raised in the report section it added.

    Convergence warnings are left out: every MCMC fit's diagnostics are reported anyway.

    Parameters
    ----------
    runner : SectionRunner
        The section to run.
    context : RunContext
        The run; the warnings go into the last report section the runner added (or, for
        a runner that continues another's section, ``part_of``, that one; else a
        ``Warnings (<name>)`` section) and into the progress lines.
    """
    from bayes_cluster.inference.diagnostics import ConvergenceWarning

    before = {id(section) for section in context.report.sections}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.simplefilter("ignore", ConvergenceWarning)
        runner.run(context)
    added = [s for s in context.report.sections if id(s) not in before]
    if added:
        context.sections_of[runner.name] = added[-1]
    notes = warning_notes(caught)
    if not notes:
        return
    target = added[-1] if added else context.sections_of.get(runner.part_of or "")
    if target is None:
        target = context.report.section(f"Warnings ({runner.name})")
    for note in notes:
        target.add(Alert(f"Warning raised while running this section: {note}", "warning"))
    for note in notes:
        context.progress(f"  warning ({runner.name}): {note}")


def _close(figure: Any) -> None:
    import matplotlib.pyplot as plt

    plt.close(figure)


DIAGNOSTICS_ROWS = 8
"""Parameters per fit shown in the report (worst R-hat first); the rest are in the CSV."""


def _diagnostics_entry(
    name: str, diagnostics: Any, relative: str, *, order: int = 0
) -> DiagnosticsEntry:
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
        order=order,
    )


def warning_notes(caught: Sequence[warnings.WarningMessage]) -> list[str]:
    """Distinct warning messages, first sentence only, for the report.

    Parameters
    ----------
    caught : sequence of warnings.WarningMessage
        What ``warnings.catch_warnings(record=True)`` recorded.

    Returns
    -------
    list of str
        One note per distinct first sentence, in the order first raised.
    """
    notes = []
    for item in caught:
        text = str(item.message).split(". ")[0].strip().rstrip(".") + "."
        if text not in notes:
            notes.append(text)
    return notes


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

"""Command-line interface: ``bayes-cluster <command> ...``.

The CLI only wires arguments to the library. Each command is one pair of functions,
``_add_<name>_parser(subparsers)`` (declares the arguments and sets ``handler``) and
``_cmd_<name>(args) -> int`` (does the work), registered once in :data:`_COMMANDS`.
To add a command, write the pair and append the adder to :data:`_COMMANDS`. Heavy
modules (PyMC, ArviZ) are imported inside the command functions, so that
``bayes-cluster --help`` starts fast.

Exit codes: 0 success, 1 invalid input (every problem is printed, no traceback; this
includes an output path that must not be written, refused before any work starts),
2 usage error (argparse, an option value out of range), 130 interrupted by Ctrl-C (one
line says what was kept and how to resume).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from bayes_cluster import __version__

EXIT_INTERRUPTED = 130
"""Exit status after Ctrl-C (128 + SIGINT, as a shell reports a process it stopped)."""


class UsageError(Exception):
    """A command found a malformed option value (exit status 2, like argparse)."""


def _refuse(message: str) -> int:
    """Print ``error: <message>`` on stderr; exit status 1 (invalid input, nothing done)."""
    print(f"error: {message}", file=sys.stderr)
    return 1


# --------------------------------------------------------------------------- validate

_THOUSANDS_CHOICES = {"none": "", ".": ".", ",": ",", "space": " ", "'": "'"}


def _add_validate_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "validate",
        help="check a survey file (against the codebook or a spec) and summarise it",
        description=(
            "Read a survey file (.csv/.tsv/.txt with any common delimiter, or .xlsx), check "
            "every cell against the Tumang codebook (or, with --spec, against the spec's "
            "declared columns, levels, missing rule and number format, and check that the "
            "survey can support the spec's analyses), and print a summary (firms, "
            "exporters vs domestic, per-column ranges). On invalid input, print every "
            "problem (file, row, column, value, what was expected) and exit with status 1. "
            "The file is never modified."
        ),
    )
    parser.add_argument(
        "file",
        type=Path,
        nargs="?",
        default=None,
        help="survey file to check (default with --spec: the survey the spec names)",
    )
    parser.add_argument(
        "--spec",
        type=Path,
        default=None,
        metavar="SPEC",
        help=(
            "model spec (TOML): validate with its [data] settings and check that the survey "
            "supports its analyses"
        ),
    )
    parser.add_argument(
        "--outcome-labels",
        nargs="+",
        metavar="LABEL=VALUE",
        default=None,
        help=(
            "labels accepted in the export column besides 0/1, e.g. "
            "--outcome-labels ekspor=1 domestik=0"
        ),
    )
    parser.add_argument(
        "--missing",
        choices=("error", "drop", "model"),
        default=None,
        help=(
            "missing cells: 'error' reports each one (default, or the spec's rule); 'drop' "
            "drops the rows with missing cells and lists them; 'model' keeps blank "
            "predictor and item cells for the models to impute (docs/missing_data.md)"
        ),
    )
    parser.add_argument(
        "--decimal",
        choices=(".", ","),
        default=None,
        help=(
            "the file's decimal mark (default: the spec's [data] decimal, else told from "
            "the file; values that could be read two ways are refused)"
        ),
    )
    parser.add_argument(
        "--thousands",
        choices=tuple(_THOUSANDS_CHOICES),
        default=None,
        help="the file's thousands separator (needs --decimal): none, '.', ',', space or \"'\"",
    )
    parser.set_defaults(handler=_cmd_validate)


def _parse_outcome_labels(items: Sequence[str] | None) -> dict[str, int] | None:
    """Turn ``["ekspor=1", "domestik=0"]`` into a mapping; raise UsageError if malformed."""
    if not items:
        return None
    labels = {}
    for item in items:
        label, sep, value = item.rpartition("=")
        if not sep or not label.strip() or value.strip() not in ("0", "1"):
            raise UsageError(f"--outcome-labels: expected LABEL=0 or LABEL=1, got {item!r}")
        labels[label.strip()] = int(value)
    return labels


def _cmd_validate(args: argparse.Namespace) -> int:
    import warnings

    from bayes_cluster.run.feasibility import ensure_feasible
    from bayes_cluster.run.spec import SpecError, load_spec
    from bayes_cluster.surveys.codebook import TUMANG_CODEBOOK
    from bayes_cluster.surveys.survey import (
        SurveyValidationError,
        SurveyWarning,
        describe_survey,
        load_survey,
    )

    labels = _parse_outcome_labels(args.outcome_labels)
    if args.file is None and args.spec is None:
        raise UsageError("give a survey FILE, or --spec SPEC to check the survey it names")
    spec = None
    if args.spec is not None:
        try:
            spec = load_spec(args.spec)
        except SpecError as error:
            print(f"INVALID: {error}", file=sys.stderr)
            return 1
    data = spec.data if spec is not None else None
    logistic = spec.logistic if spec is not None else None
    decimal = args.decimal if args.decimal is not None else (data.decimal if data else None)
    thousands = _THOUSANDS_CHOICES.get(args.thousands) if args.thousands is not None else None
    if thousands is None and args.decimal is None and data is not None:
        thousands = data.thousands
    if thousands is not None and decimal is None:
        raise UsageError("--thousands needs --decimal (declare the decimal mark too)")
    if thousands is not None and thousands == decimal:
        raise UsageError(f"--thousands and --decimal must differ, both are {decimal!r}")
    path = args.file if args.file is not None else data.path
    codebook = data.codebook if data is not None else TUMANG_CODEBOOK
    outcome = logistic.outcome if logistic is not None else None
    options = {
        "codebook": codebook,
        "outcome": outcome,
        "id_column": data.id_column if data is not None else None,
        "predictors": list(logistic.predictors) if logistic is not None else None,
        "outcome_labels": labels or (data.outcome_labels if data is not None else None) or None,
        "missing": args.missing or (data.missing if data is not None else "error"),
        "decimal": decimal,
        "thousands": thousands,
    }
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", SurveyWarning)
            frame = load_survey(path, **options)
        if spec is not None:
            ensure_feasible(spec, frame)
    except SurveyValidationError as error:
        print(f"INVALID: {error}", file=sys.stderr)
        return 1
    for warning in caught:
        print(f"note: {warning.message}")
    summary = describe_survey(frame, codebook=codebook, outcome=outcome)
    checked = f" against {args.spec}" if spec is not None else ""
    print(f"{path}: valid survey{checked}")
    print(f"firms: {summary['n']}")
    if summary["outcome"] is not None:
        print(
            f"{summary['outcome']}: {summary['exporters']} exporters (1), "
            f"{summary['domestic']} domestic (0)"
        )
    print("columns:")
    columns = summary["columns"]
    width = max((len(name) for name in columns.index), default=0)
    for name, row in columns.iterrows():
        if row["type"] in ("id", "category"):
            detail = f"{row['levels']} distinct values"
        else:
            detail = f"range {row['min']:g} to {row['max']:g}, mean {row['mean']:.2f}"
        print(f"  {name:<{width}}  {row['type']:<8}  {detail}")
    return 0


# --------------------------------------------------------------------------- simulate


def _add_simulate_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "simulate",
        help="write a synthetic Tumang survey with a known truth (CSV)",
        description=(
            "Draw a synthetic survey with the design of the Tumang study from the stated "
            "truth in bayes_cluster.surveys.simulate and write it as CSV. The same --n and --seed "
            "give a byte-identical file. The bundled data were made with "
            "'bayes-cluster simulate --n 60 --seed 2028 --out data/tumang_synthetic.csv'."
        ),
    )
    parser.add_argument(
        "--n",
        type=int,
        default=60,
        help=f"number of firms, {MIN_FIRMS} to {MAX_FIRMS:,} (default 60)",
    )
    # the default is resolved in _cmd_simulate so that --help does not import pandas
    parser.add_argument(
        "--seed",
        type=int,
        default=None,
        help="random seed (default 2028, as the bundled data); a non-negative integer",
    )
    parser.add_argument(
        "--out",
        type=str,  # not Path: Path("new/") drops the slash that says "a folder"
        required=True,
        help=(
            "CSV file to write, in an existing folder. An existing file is never "
            "overwritten (this command did not write it: remove it yourself or name a new "
            "file); a folder is refused"
        ),
    )
    parser.set_defaults(handler=_cmd_simulate)


MIN_FIRMS = 2
MAX_FIRMS = 100_000
"""Range of ``simulate --n`` (a survey of more firms is not a small-cluster survey)."""


def _cmd_simulate(args: argparse.Namespace) -> int:
    from bayes_cluster.run.safety import OutputFolderError, check_output_file

    if args.n < MIN_FIRMS:
        return _refuse(f"--n must be at least {MIN_FIRMS}, got {args.n}")
    if args.n > MAX_FIRMS:
        return _refuse(f"--n must be at most {MAX_FIRMS:,}, got {args.n}")
    if args.seed is not None and args.seed < 0:
        return _refuse(f"--seed must be a non-negative integer, got {args.seed}")
    try:
        check_output_file(args.out, option="--out")
    except OutputFolderError as error:
        return _refuse(str(error))
    out = Path(args.out)

    from bayes_cluster.surveys.simulate import DEFAULT_SEED, simulate_tumang, write_tumang_csv

    seed = DEFAULT_SEED if args.seed is None else args.seed
    frame, _ = simulate_tumang(n=args.n, seed=seed)
    write_tumang_csv(out, n=args.n, seed=seed)
    exporters = int(frame["export"].sum())
    print(
        f"wrote {len(frame)} synthetic firms ({exporters} exporters, "
        f"{len(frame) - exporters} domestic; seed {seed}) to {out}"
    )
    return 0


# --------------------------------------------------------------------------- study


def _add_study_options(parser: argparse.ArgumentParser, what: str, example: str) -> None:
    """Add the options ``study`` and ``plan`` share: SPEC, --out, --workers, --scheduler."""
    parser.add_argument("spec", type=Path, help=f"{what} spec (TOML), e.g. {example}")
    parser.add_argument(
        "--out",
        type=Path,
        required=True,
        help=(
            f"output folder: a new or empty folder, or one an earlier run of this {what} "
            "wrote (its study.json names bayes_cluster), to resume. Anything else (a file, "
            "a folder holding other files, the current folder or a parent of it) is "
            "refused before any work starts; nothing is ever deleted"
        ),
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help=f"local worker processes, 1 to {MAX_WORKERS} (default 1)",
    )
    parser.add_argument(
        "--scheduler",
        default=None,
        metavar="ADDRESS",
        help="Dask distributed scheduler (tcp://HOST:8786): run the replicates on its workers",
    )
    parser.add_argument("--no-progress", action="store_true", help="do not show the progress bar")


def _add_study_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "study",
        help=(
            "run (or resume) a simulation study comparing MLE, Firth and Bayesian logits, "
            "or the bootstrap LRT's rejection rate under its null"
        ),
        description=(
            "Simulate many surveys from a known truth for each sample size of SPEC, fit "
            "every method, and write replicates.parquet, metrics.csv (bias, RMSE, coverage, "
            "interval width, power, separation rate per method x n x term) and figures to "
            '--out. A spec with [study] kind = "bootstrap_lrt" (models/lrt_null.toml) '
            "instead tests data sets simulated under K - 1 classes, K - 1 vs K, and writes "
            "the rejection rate per n and level (metrics.csv, metrics.md). Each finished "
            "replicate is saved as it completes: rerunning the same command after an "
            "interruption resumes where it stopped."
        ),
    )
    _add_study_options(parser, "study", "models/simulation.toml")
    parser.set_defaults(handler=_cmd_study)


MAX_WORKERS = 256
"""Most local worker processes ``study --workers`` starts (each compiles its own models)."""


def _run_study_command(
    args: argparse.Namespace, load: Callable[[Path], Any], run: Callable[..., Any]
) -> tuple[int, Any, int]:
    """Check --workers and --out, load SPEC, run (or resume) the study; Ctrl-C says how to resume.

    Returns ``(exit code, result or None, number of replicates)``.
    """
    from bayes_cluster.run.safety import OutputFolderError, check_output_folder
    from bayes_cluster.studies.study import owns_study_folder

    if not 1 <= args.workers <= MAX_WORKERS:
        raise UsageError(f"--workers must be between 1 and {MAX_WORKERS}, got {args.workers}")
    try:
        check_output_folder(
            args.out, option="--out", marker="study.json", owns=owns_study_folder, action="add to"
        )
    except OutputFolderError as error:
        return _refuse(str(error)), None, 0

    from bayes_cluster.run.spec import SpecError
    from bayes_cluster.studies.study import pending_tasks

    try:
        spec = load(args.spec)
    except SpecError as error:
        print(f"INVALID: {error}", file=sys.stderr)
        return 1, None, 0
    total = len(spec.tasks())
    done = total - len(pending_tasks(spec, args.out))
    if done:
        print(f"resuming: {done} of {total} replicates already in {args.out}")
    try:
        result = run(
            spec,
            args.out,
            workers=args.workers,
            scheduler=args.scheduler,
            progress=not args.no_progress,
            stream=sys.stderr,
        )
    except BaseException as error:
        if not _was_interrupted(error):
            if isinstance(error, ValueError):
                print(f"error: {error}", file=sys.stderr)
                return 1, None, total
            raise
        left = len(pending_tasks(spec, args.out)) if args.out.is_dir() else total
        print(
            f"\ninterrupted: {total - left} of {total} replicates saved in {args.out}; "
            "run the same command again to resume",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED, None, total
    return 0, result, total


def _cmd_study(args: argparse.Namespace) -> int:
    from bayes_cluster.studies.lrt_study import (
        LRT_KIND,
        load_lrt_study_spec,
        lrt_summary_markdown,
        run_lrt_study,
        study_kind,
    )
    from bayes_cluster.studies.study import load_study_spec, run_study

    if study_kind(args.spec) == LRT_KIND:  # the bootstrap LRT under its null
        code, result, total = _run_study_command(args, load_lrt_study_spec, run_lrt_study)
        if result is not None:
            print(lrt_summary_markdown(result.metrics, result.spec))
            print(
                f"{result.computed} replicates computed in {result.seconds:.1f} s "
                f"({total} in the study); wrote {args.out / 'metrics.csv'}, "
                f"{args.out / 'metrics.md'} and {args.out / 'replicates.parquet'}"
            )
        return code
    code, result, total = _run_study_command(args, load_study_spec, run_study)
    if result is not None:
        print(
            f"{result.computed} replicates computed in {result.seconds:.1f} s "
            f"({total} in the study); wrote {args.out / 'metrics.csv'}, "
            f"{args.out / 'replicates.parquet'} and {len(result.figures)} figures"
        )
    return code


# --------------------------------------------------------------------------- plan


def _add_plan_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "plan",
        help="sample-size planning: P(detect each effect) by survey size and method",
        description=(
            "From assumed effects with their uncertainty (a prior per coefficient, or the "
            "posterior of a pilot survey) and a range of survey sizes, simulate surveys with "
            "the Tumang design, fit every method, and write assurance.csv (probability of "
            "detecting each effect, interval width, separation rate per method x predictor "
            "x n), plan.md (table and one-line answers), figures/assurance.png and plan.json "
            "to --out. It is a simulation study underneath: rerunning resumes. See "
            "docs/planning.md."
        ),
    )
    _add_study_options(parser, "plan", "models/plan_tumang.toml")
    parser.set_defaults(handler=_cmd_plan)


def _cmd_plan(args: argparse.Namespace) -> int:
    from bayes_cluster.studies.plan import load_plan_spec, run_plan

    code, result, total = _run_study_command(args, load_plan_spec, run_plan)
    if result is not None:
        for line in result.answers:
            print(line)
        if result.spec.pilot is not None:
            print(f"the pilot fit's MCMC diagnostics: {result.spec.pilot_diagnostics}")
        print(
            f"{result.study.computed} replicates computed in {result.study.seconds:.1f} s "
            f"({total} in the plan); wrote {args.out / 'assurance.csv'} and "
            f"{args.out / 'plan.md'}"
        )
    return code


# --------------------------------------------------------------------------- run


def _add_run_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "run",
        help="run everything a model spec asks for and write the results and report",
        description=(
            "Run the analyses of SPEC (a TOML file in models/): survey validation, "
            "descriptive Markusen scoring, EM and Bayesian latent classes, MLE, Firth and "
            "Bayesian logits, LOO comparison, the comparison tables, every figure and the "
            "report (report.html, self-contained, and report.md). Results are written to a "
            "temporary folder and moved into --out only when the whole run succeeded. "
            "Exit status 1 on an invalid spec or survey (nothing is written)."
        ),
    )
    parser.add_argument("spec", type=Path, help="model spec (TOML), e.g. models/tumang.toml")
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help=(
            "output folder (default results/<spec stem>/). It may be new, empty, or the "
            "folder of an earlier run (its run.json names bayes_cluster), which is replaced "
            "when the new run has succeeded. Anything else (a file, a folder holding other "
            "files, the current folder or a parent of it) is refused before any work starts"
        ),
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="fast preview with few MCMC draws, labelled as such in every output",
    )
    parser.add_argument(
        "--progressbar", action="store_true", help="show the samplers' own progress bars"
    )
    parser.set_defaults(handler=_cmd_run)


def _cmd_run(args: argparse.Namespace) -> int:
    from bayes_cluster.run.safety import (
        OutputFolderError,
        check_output_folder,
        interrupt_requested,
        is_package_marker,
    )
    from bayes_cluster.run.spec import SpecError, load_spec
    from bayes_cluster.surveys.survey import SurveyValidationError

    if args.out is not None:  # before reading anything: an output path we must not touch
        try:
            check_output_folder(args.out, option="--out", marker="run.json")
        except OutputFolderError as error:
            return _refuse(str(error))
    try:
        spec = load_spec(args.spec)
    except SpecError as error:
        print(f"INVALID: {error}", file=sys.stderr)
        return 1
    from bayes_cluster.run.pipeline import PipelineError, default_output_folder, run_spec

    out = args.out if args.out is not None else default_output_folder(spec)
    had_results = is_package_marker(out / "run.json")
    try:
        result = run_spec(spec, out=out, quick=args.quick, progressbar=args.progressbar)
    except BaseException as error:
        if not _was_interrupted(error):
            if isinstance(error, OutputFolderError):
                return _refuse(str(error))
            if isinstance(error, SurveyValidationError | PipelineError):
                print(f"INVALID: {error}", file=sys.stderr)
                return 1
            raise
        kept = (
            f"the previous results in {out} are unchanged"
            if had_results
            else f"{out} was not created"
            if not out.exists()
            else f"{out} is unchanged"
        )
        print(
            f"\ninterrupted: nothing of this run was kept ({kept}); "
            "run the same command again to start it over",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    if interrupt_requested():  # Ctrl-C while the finished results were moved into place
        print(
            f"\ninterrupted as the run finished: its results are complete in {out}",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    print()
    print(f"bayes-cluster run {args.spec}: finished in {result.seconds:.1f} s")
    for line in result.summary:
        print(f"  {line}")
    return 0


# --------------------------------------------------------------------------- wiring

_COMMANDS: list[Callable[[argparse._SubParsersAction], None]] = [
    _add_run_parser,
    _add_validate_parser,
    _add_simulate_parser,
    _add_study_parser,
    _add_plan_parser,
]
"""One adder per subcommand; each sets ``handler`` to its ``_cmd_<name>`` function."""


def build_parser() -> argparse.ArgumentParser:
    """Build the ``bayes-cluster`` argument parser with every registered command.

    Returns
    -------
    argparse.ArgumentParser
        The top-level parser.
    """
    parser = argparse.ArgumentParser(
        prog="bayes-cluster",
        description=(
            "Bayesian analysis of small industrial-cluster firm surveys: Markusen cluster "
            "type (latent classes) and export orientation (hierarchical logit), beside "
            "their classical baselines."
        ),
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for add_parser in _COMMANDS:
        add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``bayes-cluster`` command line.

    Parameters
    ----------
    argv : sequence of str, optional
        Arguments without the program name; default ``sys.argv[1:]``.

    Returns
    -------
    int
        Exit status: 0 success, 1 invalid input, 2 usage error (or a refused output
        path), 130 interrupted by Ctrl-C.

    Examples
    --------
    >>> main(["simulate", "--help"])  # doctest: +SKIP
    """
    from bayes_cluster.run.safety import interrupts_stop_the_work, reset_interrupt

    try:
        parser = build_parser()
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # --help, --version and usage errors
        return int(exit_.code or 0)
    except KeyboardInterrupt:
        print("\ninterrupted before the command started: nothing done", file=sys.stderr)
        return EXIT_INTERRUPTED
    reset_interrupt()
    try:
        # Ctrl-C raises Interrupted, which PyMC and nutpie do not swallow (run.safety)
        with interrupts_stop_the_work():
            return int(args.handler(args))
    except UsageError as error:
        parser.print_usage(sys.stderr)
        print(f"bayes-cluster {args.command}: error: {error}", file=sys.stderr)
        return 2
    except BaseException as error:  # a command that has nothing to keep
        if not _was_interrupted(error):
            raise
        print(f"\ninterrupted: bayes-cluster {args.command} stopped", file=sys.stderr)
        return EXIT_INTERRUPTED


def entry_point() -> int:
    """Run the ``bayes-cluster`` console script: :func:`main`, then a quick shut-down.

    After a run the process holds a large heap (PyTensor graphs, DataTrees, matplotlib),
    which Python's garbage collector walked again while the interpreter shut down: some
    1.1 s after the Tumang run, with the results already written. Once the command has
    returned, the heap is frozen (``gc.freeze``): the shut-down frees it by reference
    counts alone (0.1 s). The atexit handlers run as before. :func:`main` itself leaves the
    collector alone (tests and notebooks call it in a process that goes on).

    Returns
    -------
    int
        :func:`main`'s exit status.
    """
    import gc

    status = main()
    gc.freeze()
    return status


def _was_interrupted(error: BaseException) -> bool:
    """Whether ``error`` is, or was caused by, Ctrl-C.

    Ctrl-C inside compiled code (a numba-jitted log density) reaches Python as a
    ``SystemError`` whose cause is :class:`~bayes_cluster.run.safety.Interrupted`; the flag
    set by the signal handler tells it apart from a real error.
    """
    from bayes_cluster.run.safety import Interrupted, interrupt_requested

    if interrupt_requested():
        return True
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if isinstance(current, Interrupted | KeyboardInterrupt):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


if __name__ == "__main__":  # pragma: no cover
    sys.exit(entry_point())

"""The figure writer's worker process: writes pickled figures as PNG, PDF and SVG.

A run draws each figure in its own process and hands it to this worker
(:class:`bayes_cluster.run.context.FigureWriter`), which writes the three files with
:func:`bayes_cluster.plots.style.save_formats` while the run fits its next model.

Protocol (one JSON object per line): the run writes ``{"figure": PICKLE_FILE, "png":
PNG_PATH, "dpi": DPI}`` to the worker's standard input, where ``PICKLE_FILE`` holds
``pickle.dumps(figure)`` (a file of the run's own scratch folder, never a user-facing
file). Several workers may be sent the same job (:class:`~bayes_cluster.run.context.
FigureWriters`): each tries to claim the file by renaming it into a folder of its own in
the scratch folder, an atomic step that only one of them wins, and the winner writes the
figure and deletes the file. A worker busy with a long figure thus leaves the next ones
to a worker that is free. The worker answers every job with one line on its standard
output, ``{"png": PNG_PATH, "error": null, "written": true}`` (or the error's traceback),
or ``"written": false`` where another worker claimed it. It stops at the end of its input
(the run closed it, or died), removes its own folder, and the scratch folder named as
its argument, if any, once no other worker's folder is left in it.

    python -m bayes_cluster.plots.figure_worker [SCRATCH_FOLDER]
"""

from __future__ import annotations

import json
import os
import pickle
import sys
import traceback
from pathlib import Path
from typing import TextIO

__all__ = ["main", "write_figure"]


def write_figure(pickle_file: str, png_path: str, dpi: int) -> None:
    """Load a pickled figure, delete its pickle file, write the figure's three files.

    Parameters
    ----------
    pickle_file : str
        File holding ``pickle.dumps(figure)``, written by the run's own process.
    png_path : str
        Path of the PNG; the PDF and SVG get the same name with their suffix.
    dpi : int
        Resolution of the PNG.
    """
    from bayes_cluster.plots.style import save_formats

    with open(pickle_file, "rb") as stream:
        figure = pickle.load(stream)  # noqa: S301 - written by the run's own process
    os.remove(pickle_file)
    save_formats(figure, png_path, dpi=dpi)


FIGURE_WORKER_NICENESS = 10
"""How much the figure writers yield to the run (``os.nice``): their figures are needed
only for the report at the end, while a fit the run waits for is needed now."""


WRITER_FOLDER_PREFIX = "writer-"
"""Each worker's own folder in the scratch folder, ``writer-<pid>``: its claimed files."""


def _claim(pickle_file: str, own: Path) -> str | None:
    """Move ``pickle_file`` into this worker's folder ``own``; None if another took it."""
    claimed = own / Path(pickle_file).name
    try:
        os.rename(pickle_file, claimed)  # atomic: one worker wins
    except FileNotFoundError:
        return None
    return str(claimed)


def main(
    jobs: TextIO = sys.stdin, answers: TextIO = sys.stdout, scratch: Path | None = None
) -> None:
    """Write the figures named on ``jobs`` that this worker claims; answer each job.

    Parameters
    ----------
    jobs : file-like
        One JSON job per line (see the module docstring); the worker stops at its end.
    answers : file-like
        One JSON line per job: its PNG path, ``error`` (``None``, or the traceback) and
        ``written`` (False where another worker claimed the figure).
    scratch : pathlib.Path, optional
        The scratch folder the figures' files are in; this worker claims a file by moving
        it into its own folder there (``writer-<pid>``). Without one, the file is claimed
        where it is.
    """
    import matplotlib

    matplotlib.use("Agg")
    if hasattr(os, "nice"):  # the run's fits and its own work go first (not on Windows)
        os.nice(FIGURE_WORKER_NICENESS)
    own = None
    if scratch is not None:
        own = scratch / f"{WRITER_FOLDER_PREFIX}{os.getpid()}"
        own.mkdir(exist_ok=True)
    for line in jobs:
        job = json.loads(line)
        error = None
        claimed = job["figure"] if own is None else _claim(job["figure"], own)
        if claimed is not None:
            try:
                write_figure(claimed, job["png"], int(job["dpi"]))
            except Exception:  # reported to the run, which fails with it
                error = traceback.format_exc()
        answer = {"png": job["png"], "error": error, "written": claimed is not None}
        answers.write(json.dumps(answer) + "\n")
        answers.flush()


def _clean_up(scratch: Path) -> None:
    """Remove this worker's folder, and the scratch folder if no other worker's is left."""
    import shutil

    shutil.rmtree(scratch / f"{WRITER_FOLDER_PREFIX}{os.getpid()}", ignore_errors=True)
    try:
        others = any(p.name.startswith(WRITER_FOLDER_PREFIX) for p in scratch.iterdir())
    except OSError:
        return
    if not others:  # the last worker out (the run also removes it when it closes them)
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    import gc

    import matplotlib

    matplotlib.use("Agg")
    import bayes_cluster.plots.style  # noqa: F401 - what save_formats needs, loaded now

    # the modules' objects live as long as the process: the collector's full passes while
    # the figures are written skip them (some 1 s of the Tumang run's figure writers)
    gc.freeze()
    folder = Path(sys.argv[1]) if len(sys.argv) > 1 else None
    main(scratch=folder)
    gc.freeze()  # the shut-down frees the heap by reference counts: the run waits for it
    if folder is not None:  # the run's scratch folder: gone even if the run was killed
        _clean_up(folder)

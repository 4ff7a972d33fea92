"""The figure writer's worker process: writes pickled figures as PNG, PDF and SVG.

A run draws each figure in its own process and hands it to this worker
(:class:`bayes_cluster.run.context.FigureWriter`), which writes the three files with
:func:`bayes_cluster.plots.style.save_formats` while the run fits its next model.

Protocol (one JSON object per line): the run writes ``{"figure": PICKLE_FILE, "png":
PNG_PATH, "dpi": DPI}`` to the worker's standard input, where ``PICKLE_FILE`` holds
``pickle.dumps(figure)`` (a file of the run's own temporary folder, deleted here once
read; never a user-facing file); the worker answers each with one line on its standard
output, ``{"png": PNG_PATH, "error": null}`` or the error's traceback.  It stops at the
end of its input (the run closed it, or died), and then removes the scratch folder named
as its argument, if any.

    python -m bayes_cluster.plots.figure_worker [SCRATCH_FOLDER]
"""

from __future__ import annotations

import json
import os
import pickle
import sys
import traceback
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


def main(jobs: TextIO = sys.stdin, answers: TextIO = sys.stdout) -> None:
    """Write the figures named on ``jobs``, one answer line each on ``answers``.

    Parameters
    ----------
    jobs : file-like
        One JSON job per line (see the module docstring); the worker stops at its end.
    answers : file-like
        One JSON line per job: its PNG path and ``error`` (``None``, or the traceback).
    """
    import matplotlib

    matplotlib.use("Agg")
    if hasattr(os, "nice"):  # the run's fits and its own work go first (not on Windows)
        os.nice(FIGURE_WORKER_NICENESS)
    for line in jobs:
        job = json.loads(line)
        error = None
        try:
            write_figure(job["figure"], job["png"], int(job["dpi"]))
        except Exception:  # reported to the run, which fails with it
            error = traceback.format_exc()
        answers.write(json.dumps({"png": job["png"], "error": error}) + "\n")
        answers.flush()


if __name__ == "__main__":
    import gc

    import matplotlib

    matplotlib.use("Agg")
    import bayes_cluster.plots.style  # noqa: F401 - what save_formats needs, loaded now

    # the modules' objects live as long as the process: the collector's full passes while
    # the figures are written skip them (some 1 s of the Tumang run's figure writers)
    gc.freeze()
    main()
    gc.freeze()  # the shut-down frees the heap by reference counts: the run waits for it
    if len(sys.argv) > 1:  # the run's scratch folder: gone even if the run was killed
        import shutil

        shutil.rmtree(sys.argv[1], ignore_errors=True)

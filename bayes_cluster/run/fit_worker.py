"""Run calls (model fits) in worker processes, beside the run's own work.

A run fits its models one after another in one process, which leaves one of two cores
mostly idle.  :func:`start` runs one independent call (e.g. the largest latent-class
fit) in a worker process, ``python -m bayes_cluster.run.fit_worker SCRATCH RUN_PID``, while the
run goes on, and :func:`start_queue` several calls one after another in one worker;
:meth:`BackgroundCall.result` returns what the call returned (pickled back: the same
object, the same numbers), re-issues the warnings it raised (so that the run's report
shows them as before) and re-raises its error.

The worker sits in a process group of its own: a terminal's Ctrl-C reaches only the run,
which stops the worker (:meth:`BackgroundCall.cancel`).  The job and result files are
scratch files of a folder the caller owns; pickle is used between the run's own processes
only, never for a user-facing file.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import subprocess
import sys
import tempfile
import traceback
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from bayes_cluster.common.cores import a_core_is_idle, idle_cores

__all__ = [
    "PROMISED",
    "BackgroundCall",
    "Call",
    "a_core_is_idle",
    "idle_cores",
    "quiet_library_logs",
    "start",
    "start_queue",
]


class BackgroundCall:
    """A call running in a worker process (see :func:`start` and :func:`start_queue`).

    Calls started together with :func:`start_queue` share one worker process and run in
    their order there; each call's :meth:`result` waits for that call only.
    """

    def __init__(
        self, process: subprocess.Popen, scratch: Path, index: int = 0, unread: set | None = None
    ) -> None:
        self._process = process
        self._scratch = scratch
        self._index = index
        # the worker's calls whose answers the run has not read (shared by its calls)
        self._unread = {index} if unread is None else unread

    @property
    def promise(self) -> Path:
        """Where the run writes the call of a :data:`PROMISED` place (:meth:`send`)."""
        return self._scratch / f"promise_{self._index}.pickle"

    def send(self, function: Callable[..., Any] | None, *args: Any, **kwargs: Any) -> None:
        """Hand the worker the call of this :data:`PROMISED` place in its queue.

        The worker, which has made its calls before this one, makes it when it gets there
        (or at once, if it is waiting for it); :meth:`result` returns its value.
        ``function=None`` releases the place: the worker makes no call, the result is None.

        Parameters
        ----------
        function : callable or None
            A module-level function (pickled by reference), or None.
        *args, **kwargs
            Its arguments (pickled).
        """
        call = None if function is None else (function, args, kwargs)
        partial = self.promise.with_suffix(".partial")
        partial.write_bytes(pickle.dumps(call, protocol=pickle.HIGHEST_PROTOCOL))
        partial.rename(self.promise)  # whole, or not there

    def done(self) -> bool:
        """Whether the call has finished (its result is waiting) or its worker has stopped.

        Returns
        -------
        bool
        """
        return self._answer_file().exists() or self._process.poll() is not None

    def _answer_file(self) -> Path:
        return self._scratch / f"result_{self._index}.pickle"

    def result(self) -> Any:
        """Wait for the call; return its value (re-issuing its warnings) or raise its error.

        Returns
        -------
        object
            What the call returned.

        Raises
        ------
        Exception
            The call's own error, or a :class:`RuntimeError` if the worker stopped without
            an answer.
        """
        import shutil
        import time

        answer_file = self._answer_file()
        try:
            # the worker writes each answer whole (a rename) and goes on to its next call
            delay = 0.002
            while not answer_file.exists():
                status = self._process.poll()
                if status is not None:
                    if answer_file.exists():
                        break
                    raise RuntimeError(
                        f"the fit worker stopped (exit status {status}) with no result"
                    )
                time.sleep(delay)
                delay = min(2 * delay, 0.05)
            answer = pickle.loads(answer_file.read_bytes())  # noqa: S301 - our own worker
        except BaseException:
            self.cancel()
            raise
        self._unread.discard(self._index)
        if not self._unread:  # the worker's last answer: it stops now
            self._process.wait()
            shutil.rmtree(self._scratch, ignore_errors=True)
        else:
            answer_file.unlink()
        for message, category, filename, lineno in answer["warnings"]:
            warnings.warn_explicit(message, category, filename, lineno)
        if answer["error"] is not None:
            raise answer["error"]
        return answer["value"]

    def cancel(self) -> None:
        """Stop the worker now and remove its scratch files (the run failed or stopped).

        The worker's other calls (:func:`start_queue`) stop with it.
        """
        import shutil

        if self._process.poll() is None:
            self._process.kill()
        self._process.wait()
        shutil.rmtree(self._scratch, ignore_errors=True)


_QUIET = "BAYES_CLUSTER_WORKER_QUIET"  # the run's choice of library log lines, for a worker
_MODULE = "bayes_cluster.run.fit_worker"  # this module's name, also where it runs as __main__

Call = tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]]
"""A call for a worker: a module-level function (pickled by reference), its arguments."""


def _promised(promise: str, run: int | None) -> Any:
    """Wait for the call the run sends to ``promise`` (:meth:`BackgroundCall.send`), make it.

    Returns None for a released place; raises if the run stopped before sending it.
    """
    import time

    target = Path(promise)
    delay = 0.005
    while not target.exists():
        if run is not None and os.getppid() != run:
            raise RuntimeError("the run stopped before it sent the promised call")
        time.sleep(delay)
        delay = min(2 * delay, 0.05)
    call = pickle.loads(target.read_bytes())  # noqa: S301 - written by the run's own process
    target.unlink()
    if call is None:
        return None
    function, args, kwargs = call
    return function(*args, **kwargs)


PROMISED: Call = (_promised, (), {})
"""A place in a worker's queue (:func:`start_queue`) for a call the run sends later.

The worker, once it has made the calls before it, waits for the run's
:meth:`BackgroundCall.send` (with no CPU to speak of), then makes that call: a fit whose
arguments the run knows only later (the class covariates of the K it chose) is made by
a worker whose imports and compiled models are ready, as soon as it is known."""


def start(function: Callable[..., Any], *args: Any, **kwargs: Any) -> BackgroundCall:
    """Start ``function(*args, **kwargs)`` in a worker process.

    Parameters
    ----------
    function : callable
        A module-level function (pickled by reference).
    *args, **kwargs
        Its arguments (pickled).

    Returns
    -------
    BackgroundCall
    """
    return start_queue([(function, args, kwargs)])[0]


def start_queue(calls: Sequence[Call], *, quiet: bool = True) -> list[BackgroundCall]:
    """Start a worker process that makes ``calls`` one after another, in their order.

    One process (one start-up: imports, and compiled models it can share between the
    calls) for several calls; the run takes each result when it needs it, while the
    worker goes on with the next call.

    Parameters
    ----------
    calls : sequence of (callable, tuple, dict)
        Each call's module-level function and its positional and keyword arguments
        (pickled); :data:`PROMISED` for a call the run sends later.
    quiet : bool, default True
        Hold back PyMC's and ArviZ's own log lines in the worker
        (:func:`quiet_library_logs`), as the run does unless it shows the samplers' own
        progress (``--progressbar``).

    Returns
    -------
    list of BackgroundCall
        One per call, in order.

    Raises
    ------
    ValueError
        When ``calls`` is empty.
    """
    if not calls:
        raise ValueError("start_queue needs at least one call")
    scratch = Path(tempfile.mkdtemp(prefix="bayes_cluster_fit_"))
    (scratch / "job.pickle").write_bytes(
        pickle.dumps([tuple(call) for call in calls], protocol=pickle.HIGHEST_PROTOCOL)
    )
    environment = dict(os.environ)
    # the worker imports this very package, wherever it was imported from
    package_root = str(Path(__file__).resolve().parents[2])
    environment["PYTHONPATH"] = os.pathsep.join(
        [package_root, *filter(None, [environment.get("PYTHONPATH")])]
    )
    environment[_QUIET] = "1" if quiet else "0"
    process = subprocess.Popen(
        [sys.executable, "-m", "bayes_cluster.run.fit_worker", str(scratch), str(os.getpid())],
        env=environment,
        stdin=subprocess.DEVNULL,
        process_group=0,  # Ctrl-C at the terminal reaches the run only
    )
    unread = set(range(len(calls)))
    return [BackgroundCall(process, scratch, index, unread) for index in range(len(calls))]


@contextlib.contextmanager
def quiet_library_logs() -> Iterator[None]:
    """Hold back PyMC's and ArviZ's own log lines: the run prints its own progress.

    Used by the run (unless ``--progressbar``) and by its fit workers, whose PyMC would
    otherwise write its lines ("Initializing NUTS ...") to the run's terminal.

    What they would say is in the report (diagnostics, Pareto k, sensitivity diagnosis).
    Setting the loggers' level is not enough when PyMC is imported later, inside the run:
    ``import pymc`` sets its logger to INFO and adds a stderr handler when it finds none.
    So each logger also gets a handler of its own for errors only, which makes PyMC keep
    its hands off, and records below ERROR are dropped whatever level PyMC sets.

    Yields
    ------
    None
        The loggers are restored when the context ends.
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


def _call(function: Callable[..., Any], args: tuple, kwargs: dict) -> dict[str, Any]:
    """Make one call; return its answer (value, error, warnings) for the run."""
    value, error = None, None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            value = function(*args, **kwargs)
        except Exception as exception:  # handed to the run, which raises it
            error = exception
            try:
                pickle.dumps(error)
            except Exception:  # an error that does not pickle: its traceback as text
                error = RuntimeError(traceback.format_exc())
    return {
        "value": value,
        "error": error,
        "warnings": [
            (str(item.message), item.category, item.filename, item.lineno) for item in caught
        ],
    }


def lean_arviz() -> bool:
    """Give nutpie, in this process, ArviZ's two converters without all of ArviZ.

    nutpie imports ``arviz`` for ``from_dict`` and ``dict_to_dataset`` (ArviZ's
    ``arviz_base``) only, and ``import arviz`` also loads ``arviz_stats`` (with
    ``scipy.stats``) and ``arviz_plots`` (with ``matplotlib.pyplot``): some 1.2 s of a core
    in every fit worker, which never uses them (its diagnostics are
    :mod:`bayes_cluster.inference.fast_diagnostics`). A stand-in module with the two
    converters takes ArviZ's place; any other name read from it imports the real ArviZ
    then and there, so nothing can miss it.

    Returns
    -------
    bool
        Whether the stand-in was installed (False when ArviZ is already imported).
    """
    import importlib
    import types

    if "arviz" in sys.modules:
        return False
    import arviz_base

    stand_in = types.ModuleType("arviz", "ArviZ's converters for nutpie (fit_worker.lean_arviz)")
    stand_in.from_dict = arviz_base.from_dict  # type: ignore[attr-defined]
    stand_in.dict_to_dataset = arviz_base.dict_to_dataset  # type: ignore[attr-defined]

    def real_arviz(name: str) -> Any:
        current = sys.modules.get("arviz")
        if current is None or current is stand_in:
            sys.modules.pop("arviz", None)
            current = importlib.import_module("arviz")
        return getattr(current, name)

    stand_in.__getattr__ = real_arviz  # type: ignore[attr-defined]
    sys.modules["arviz"] = stand_in
    return True


def _main(scratch: Path, run: int | None = None) -> None:
    lean_arviz()  # before anything imports nutpie
    calls = pickle.loads((scratch / "job.pickle").read_bytes())  # noqa: S301
    quiet = os.environ.get(_QUIET, "1") != "0"
    with quiet_library_logs() if quiet else contextlib.nullcontext():
        _make_calls(scratch, calls, run)


def _make_calls(scratch: Path, calls: list, run: int | None) -> None:
    import shutil

    for index, (function, args, kwargs) in enumerate(calls):
        if run is not None and os.getppid() != run:  # the run died (SIGKILL): nobody reads on
            shutil.rmtree(scratch, ignore_errors=True)
            return
        # the run sends this call later (this module runs as __main__ here: by name)
        if (function.__module__, function.__qualname__) == (_MODULE, "_promised"):
            args, kwargs = (str(scratch / f"promise_{index}.pickle"), run), {}
        answer = _call(function, args, kwargs)
        partial = scratch / f"result_{index}.pickle.partial"
        partial.write_bytes(pickle.dumps(answer, protocol=pickle.HIGHEST_PROTOCOL))
        partial.rename(scratch / f"result_{index}.pickle")


if __name__ == "__main__":
    _main(Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else None)
    import gc

    gc.freeze()  # the shut-down frees the heap by reference counts: less CPU at the run's end

"""Output-folder ownership and Ctrl-C handling, shared by ``run``, ``study`` and ``simulate``.

Two promises to the user:

* **Never lose their work.** :func:`check_output_folder` is called *before any work
  starts*. A command may replace (``run``) or add to (``study``) only a folder it wrote
  itself, recognised by its marker file (``run.json`` or ``study.json`` naming this
  package, :data:`PACKAGE`), or an empty folder, or a path that does not exist yet. A
  file, a folder with anything else in it, ``/``, the home folder, the current folder or
  one of its parents, a path under a file or in a folder the user cannot write to is
  refused with a message saying what to do (:class:`OutputFolderError`).
* **Ctrl-C stops.** PyMC and nutpie catch :class:`KeyboardInterrupt` and return a partial
  trace: one chain less, or a truncated fit recorded as a result. Inside
  :func:`interrupts_stop_the_work` the first Ctrl-C sets a flag and raises
  :class:`Interrupted`, which derives from :class:`BaseException` but not from
  :class:`KeyboardInterrupt`, so the samplers' ``except KeyboardInterrupt`` does not
  swallow it (nutpie cancels its sampler and re-raises, PyMC's sequential and parallel
  samplers re-raise). Code that records a result calls :func:`raise_if_interrupted`
  after each fit, so a fit that was cut short is never recorded even where a library
  swallowed the exception (an exception raised inside a finaliser is printed and
  dropped by Python). Inside :func:`deferred_interrupts` (renaming results into place,
  removing a temporary folder) Ctrl-C only sets the flag, so the clean-up is not itself
  cut short.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType

__all__ = [
    "EXIT_INTERRUPTED",
    "PACKAGE",
    "Interrupted",
    "OutputFolderError",
    "check_output_file",
    "check_output_folder",
    "deferred_interrupts",
    "files_not_written",
    "install_worker_interrupt_handler",
    "interrupt_requested",
    "interrupts_stop_the_work",
    "is_package_marker",
    "raise_if_interrupted",
    "reset_interrupt",
]

PACKAGE = "bayes_cluster"
"""Value of the ``package`` key of ``run.json`` / ``study.json``: the ownership marker."""

EXIT_INTERRUPTED = 130
"""Exit status after Ctrl-C (128 + SIGINT), as shells report it."""


class Interrupted(BaseException):  # noqa: N818 - named for what happened, like KeyboardInterrupt
    """The user pressed Ctrl-C (SIGINT); the command stops and keeps only finished work.

    Derives from :class:`BaseException` (like :class:`KeyboardInterrupt`, so that
    ``except Exception`` does not record it as a failed fit) but not from
    :class:`KeyboardInterrupt`, which PyMC and nutpie catch to return a partial trace.
    """


class OutputFolderError(ValueError):
    """An output path that a command must not write to; nothing was done."""


# --------------------------------------------------------------------------- interrupts

_STATE = {"requested": False, "deferred": 0}


def interrupt_requested() -> bool:
    """Whether Ctrl-C was pressed since :func:`reset_interrupt` (or the start)."""
    return _STATE["requested"]


def reset_interrupt() -> None:
    """Forget an earlier Ctrl-C (a new command starts)."""
    _STATE["requested"] = False


def raise_if_interrupted() -> None:
    """Raise :class:`Interrupted` if Ctrl-C was pressed.

    Call it after every fit and before recording a result: a library may have caught the
    interrupt and returned a truncated result, which must never be recorded.

    Raises
    ------
    Interrupted
        If Ctrl-C was pressed.
    """
    if _STATE["requested"]:
        raise Interrupted("interrupted by Ctrl-C")


def _on_sigint(signum: int, frame: FrameType | None) -> None:
    _STATE["requested"] = True
    if _STATE["deferred"] == 0:
        raise Interrupted("interrupted by Ctrl-C")


@contextlib.contextmanager
def deferred_interrupts() -> Iterator[None]:
    """Run a short block that must not be cut in half (a rename, a clean-up).

    Ctrl-C inside the block only sets the flag; :func:`raise_if_interrupted` after the
    block raises it.

    Yields
    ------
    None
    """
    _STATE["deferred"] += 1
    try:
        yield
    finally:
        _STATE["deferred"] -= 1


@contextlib.contextmanager
def interrupts_stop_the_work() -> Iterator[None]:
    """Make Ctrl-C raise :class:`Interrupted` (not swallowed by samplers) inside the block.

    Outside the main thread (where no signal handler can be set) the block runs with the
    handler unchanged. The previous handler is restored on exit.

    Yields
    ------
    None

    Examples
    --------
    >>> with interrupts_stop_the_work():
    ...     raise_if_interrupted()  # nothing pressed: no exception
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, _on_sigint)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def install_worker_interrupt_handler() -> None:
    """Worker-process initialiser: Ctrl-C in a worker raises :class:`Interrupted`.

    A terminal's Ctrl-C reaches every process of the group; without this a worker's
    sampler would catch it and return a truncated fit as a finished replicate.
    """
    reset_interrupt()
    signal.signal(signal.SIGINT, _on_sigint)


# --------------------------------------------------------------------------- output paths


def is_package_marker(path: Path) -> bool:
    """Whether ``path`` is a JSON file written by this package (``"package": PACKAGE``).

    Parameters
    ----------
    path : pathlib.Path
        Candidate marker (``run.json``, ``study.json``).

    Returns
    -------
    bool
    """
    try:
        if not path.is_file() or path.stat().st_size > 10_000_000:
            return False
        content = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return False
    return isinstance(content, dict) and content.get("package") == PACKAGE


def files_not_written(folder: Path, marker: str) -> list[str]:
    """Files in ``folder`` that its marker's ``files`` list does not name.

    A run lists every file it wrote in ``run.json``; a user's notes saved into a results
    folder afterwards make the folder theirs too, so it is no longer replaced.

    Parameters
    ----------
    folder : pathlib.Path
        A folder whose ``marker`` is a package marker.
    marker : str
        Name of the marker file (``"run.json"``).

    Returns
    -------
    list of str
        Relative paths (POSIX), sorted; empty where the marker lists no files.
    """
    try:
        listed = json.loads((folder / marker).read_text(encoding="utf-8")).get("files")
    except (OSError, UnicodeDecodeError, ValueError, AttributeError):
        return []
    if not isinstance(listed, list):
        return []
    present = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
    return sorted(present - {str(name) for name in listed})


def _protected_folders() -> list[tuple[Path, str]]:
    """Folders no command may ever replace, with why."""
    protected = [(Path("/").resolve(), "the root of the file system")]
    home = Path.home()
    protected.append((home.resolve(), "your home folder"))
    cwd = Path.cwd().resolve()
    protected.append((cwd, "the current folder"))
    protected.extend((parent, "a parent of the current folder") for parent in cwd.parents)
    return protected


def _nearest_existing(path: Path) -> Path:
    for candidate in (path, *path.parents):
        if os.path.lexists(candidate):
            return candidate
    return Path("/")  # pragma: no cover - "/" always exists


def check_output_folder(
    path: str | Path,
    *,
    option: str,
    marker: str,
    owns: Callable[[Path], bool] | None = None,
    action: str = "replace",
) -> Path:
    """Refuse an output folder a command must not write to, before any work starts.

    Accepted: a path that does not exist yet (its missing parents are created later), an
    empty folder, or a folder whose ``marker`` file this package wrote
    (:func:`is_package_marker`, or ``owns``).

    Parameters
    ----------
    path : str or pathlib.Path
        The output folder the user named.
    option : str
        The option it came from, for the message (``"--out"``).
    marker : str
        Name of the marker file (``"run.json"``).
    owns : callable, optional
        ``owns(folder) -> bool`` recognising a folder this package wrote; default: its
        ``marker`` is a package marker.
    action : str
        What the command does to an existing folder (``"replace"`` or ``"add to"``).

    Returns
    -------
    pathlib.Path
        The absolute, resolved path.

    Raises
    ------
    OutputFolderError
        With a message naming the path and what to do.
    """
    given = Path(path)
    shown = str(path)
    if str(path).strip() == "":
        raise OutputFolderError(f"{option}: an empty path is not an output folder")
    if "\x00" in str(path):
        raise OutputFolderError(f"{option} {shown!r}: the path holds a NUL character")
    absolute = Path(os.path.abspath(given))
    if given.is_symlink():
        raise OutputFolderError(
            f"{option} {shown}: is a symbolic link; name the real folder (or a new one)"
        )
    resolved = absolute.resolve()
    for folder, why in _protected_folders():
        if resolved == folder:
            raise OutputFolderError(
                f"{option} {shown}: is {why} ({folder}); a command may {action} only a "
                f"folder it wrote itself: name a new folder, e.g. {option} results/my-run"
            )
    if (resolved / ".git").exists() or (resolved / "pyproject.toml").exists():
        raise OutputFolderError(
            f"{option} {shown}: is a project folder ({resolved} holds .git or "
            "pyproject.toml); name a new folder for the results"
        )
    existing = _nearest_existing(resolved)
    if existing != resolved:
        if not existing.is_dir():
            raise OutputFolderError(
                f"{option} {shown}: {existing} is a file, not a folder; "
                "name a path inside an existing folder"
            )
        if not os.access(existing, os.W_OK | os.X_OK):
            raise OutputFolderError(
                f"{option} {shown}: cannot create it, the folder {existing} is not writable; "
                "name a folder you can write to"
            )
        return resolved
    if not resolved.is_dir():
        raise OutputFolderError(
            f"{option} {shown}: is an existing file, not a folder; it is left untouched: "
            "name a new folder"
        )
    parent = resolved.parent
    if not os.access(parent, os.W_OK | os.X_OK) or not os.access(resolved, os.W_OK | os.X_OK):
        raise OutputFolderError(
            f"{option} {shown}: is not writable (or its folder {parent} is not); "
            "name a folder you can write to"
        )
    owned = owns(resolved) if owns is not None else is_package_marker(resolved / marker)
    if owned and action == "replace":
        added = files_not_written(resolved, marker)
        if added:
            shown_files = ", ".join(added[:3]) + (
                f" and {len(added) - 3} more" if added[3:] else ""
            )
            raise OutputFolderError(
                f"{option} {shown}: holds files the earlier run did not write ({shown_files}); "
                "it is left untouched. Move them elsewhere, or name a new folder"
            )
    if owned:
        return resolved
    try:
        empty = not any(resolved.iterdir())
    except OSError as error:
        raise OutputFolderError(f"{option} {shown}: cannot be read ({error.strerror})") from None
    if empty:
        return resolved
    raise OutputFolderError(
        f"{option} {shown}: holds files that bayes-cluster did not write (no {marker} of "
        f"this package in it); it is left untouched. A command may {action} only a folder "
        "it wrote itself: name a new or empty folder"
    )


def check_output_file(path: str | Path, *, option: str) -> Path:
    """Refuse an output file a command must not write, before any work starts.

    Parameters
    ----------
    path : str or pathlib.Path
        The file the user named.
    option : str
        The option it came from, for the message.

    Returns
    -------
    pathlib.Path
        The absolute path.

    Raises
    ------
    OutputFolderError
        With a message naming the path and what to do.
    """
    given = Path(path)
    shown = str(path)
    if str(path).strip() == "":
        raise OutputFolderError(f"{option}: an empty path is not a file name")
    if "\x00" in str(path):
        raise OutputFolderError(f"{option} {shown!r}: the path holds a NUL character")
    absolute = Path(os.path.abspath(given))
    if str(path).endswith(("/", os.sep)) or given.name in ("", ".", ".."):
        raise OutputFolderError(f"{option} {shown}: names a folder; name a file, e.g. survey.csv")
    if absolute.is_dir():
        raise OutputFolderError(f"{option} {shown}: is a folder; name a file, e.g. survey.csv")
    if os.path.lexists(absolute):
        if given.is_symlink() or not absolute.is_file():
            raise OutputFolderError(
                f"{option} {shown}: exists and is not a regular file; it is left untouched"
            )
        # A survey file carries no mark of who wrote it, so an existing file is never
        # replaced: the user removes it or names a new file.
        raise OutputFolderError(
            f"{option} {shown}: exists; it is left untouched. Name a new file, or remove "
            "this one yourself first"
        )
    existing = _nearest_existing(absolute.parent)
    if not existing.is_dir():
        raise OutputFolderError(f"{option} {shown}: {existing} is a file, not a folder")
    if existing != absolute.parent:
        raise OutputFolderError(f"directory {given.parent} does not exist")
    if not os.access(absolute.parent, os.W_OK | os.X_OK):
        raise OutputFolderError(
            f"{option} {shown}: the folder {absolute.parent} is not writable; "
            "name a file in a folder you can write to"
        )
    return absolute

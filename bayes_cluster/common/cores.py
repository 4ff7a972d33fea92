"""How many of the machine's cores are idle now (a run's fit workers and its helpers).

A worker or helper process on a machine whose cores are all busy only takes turns with
the process that started it, and costs its own start-up: they are started only where a
core is idle.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

__all__ = ["a_core_is_idle", "cpu_counters", "idle_cores"]


def _cpu_times(stat: Path) -> tuple[int, int]:
    """(idle, total) jiffies of all CPUs together, from the first line of ``/proc/stat``."""
    fields = stat.read_text().splitlines()[0].split()
    if fields[0] != "cpu":
        raise ValueError(f"{stat}: the first line is not the all-CPU line")
    counts = [int(value) for value in fields[1:]]
    # user nice system idle iowait irq softirq steal (guest time is already in user/nice)
    return counts[3] + counts[4], sum(counts[:8])


def _own_cpu() -> float:
    """CPU seconds of this process so far (all its threads; not its children)."""
    times = os.times()
    return times.user + times.system


def cpu_counters(stat: Path = Path("/proc/stat")) -> tuple[float, int, int, float] | None:
    """Read the machine's CPU counters now: the start of a window for :func:`idle_cores`.

    Parameters
    ----------
    stat : pathlib.Path, default ``/proc/stat``
        The counters' file.

    Returns
    -------
    tuple or None
        (monotonic clock, idle jiffies, all jiffies, this process's CPU seconds), or None
        where the counters cannot be read (not Linux).
    """
    import time

    try:
        idle, total = _cpu_times(stat)
    except (OSError, ValueError, IndexError):
        return None
    return time.monotonic(), idle, total, _own_cpu()


def idle_cores(
    interval: float = 0.25,
    *,
    stat: Path = Path("/proc/stat"),
    since: tuple[float, int, int, float] | None = None,
) -> float | None:
    """How many cores are idle now, besides this process: their idle share over a window.

    Measured from the kernel's CPU counters (``/proc/stat``, Linux) over a short window,
    not from the load average, which follows a change only over a minute; elsewhere, the
    number of cores less the one-minute load average. The CPU this process spent in the
    window counts as idle: the question is whether a worker would find a core that
    nothing else uses. The window starts now and lasts ``interval`` seconds, or starts
    at ``since`` (a reading of :func:`cpu_counters`), and then only what is left of
    ``interval`` is waited for: a run reads the counters when it starts, and its own
    start-up fills the window.

    Parameters
    ----------
    interval : float, default 0.25
        Shortest window, in seconds.
    stat : pathlib.Path, default ``/proc/stat``
        The counters' file (a test passes a file of its own).
    since : tuple, optional
        The window's start, from :func:`cpu_counters` (default: now).

    Returns
    -------
    float or None
        Idle cores (0 on a fully busy machine, up to the number of cores), or None where
        neither measure is available.
    """
    import time

    cores = os.cpu_count() or 1
    before = since if since is not None else cpu_counters(stat)
    if before is not None:
        time.sleep(max(0.0, interval - (time.monotonic() - before[0])))
    after = cpu_counters(stat) if before is not None else None
    if before is None or after is None:
        try:
            return max(0.0, cores - os.getloadavg()[0])
        except (AttributeError, OSError):
            return None
    elapsed = after[2] - before[2]
    if elapsed <= 0:
        return None
    own = (after[3] - before[3]) * os.sysconf("SC_CLK_TCK")  # seconds -> jiffies
    return min(float(cores), cores * (after[1] - before[1] + own) / elapsed)


def a_core_is_idle(threshold: float = 0.75, **options: Any) -> bool:
    """Whether a worker process would find a core of its own (:func:`idle_cores`).

    A worker on a machine whose cores are all busy (another job, or the test suite's
    other processes) only takes turns with the run and costs its own start-up and
    compilation: the run then fits everything itself.  Where the idle share cannot be
    measured, True (the run starts its workers, as on any machine with cores to spare).

    Parameters
    ----------
    threshold : float, default 0.75
        Idle cores needed (a core at most a quarter busy counts as free).
    **options
        Passed to :func:`idle_cores`.

    Returns
    -------
    bool
        True if at least ``threshold`` cores are idle, or if that cannot be measured.
    """
    idle = idle_cores(**options)
    return idle is None or idle >= threshold

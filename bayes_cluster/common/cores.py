"""How many of the machine's cores are idle now (a run's fit workers and its helpers).

A worker or helper process on a machine whose cores are all busy only takes turns with
the process that started it, and costs its own start-up: they are started only where a
core is idle.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

__all__ = ["a_core_is_idle", "idle_cores"]


def _cpu_times(stat: Path) -> tuple[int, int]:
    """(idle, total) jiffies of all CPUs together, from the first line of ``/proc/stat``."""
    fields = stat.read_text().splitlines()[0].split()
    if fields[0] != "cpu":
        raise ValueError(f"{stat}: the first line is not the all-CPU line")
    counts = [int(value) for value in fields[1:]]
    # user nice system idle iowait irq softirq steal (guest time is already in user/nice)
    return counts[3] + counts[4], sum(counts[:8])


def idle_cores(interval: float = 0.25, *, stat: Path = Path("/proc/stat")) -> float | None:
    """How many cores are idle now: the machine's idle share over ``interval`` seconds.

    Measured from the kernel's CPU counters (``/proc/stat``, Linux) over a short window,
    not from the load average, which follows a change only over a minute; elsewhere, the
    number of cores less the one-minute load average.

    Parameters
    ----------
    interval : float, default 0.25
        Seconds between the two readings of the counters.
    stat : pathlib.Path, default ``/proc/stat``
        The counters' file (a test passes a file of its own).

    Returns
    -------
    float or None
        Idle cores (0 on a fully busy machine, up to the number of cores), or None where
        neither measure is available.
    """
    import time

    cores = os.cpu_count() or 1
    try:
        idle_before, total_before = _cpu_times(stat)
        time.sleep(interval)
        idle_after, total_after = _cpu_times(stat)
    except (OSError, ValueError, IndexError):
        try:
            return max(0.0, cores - os.getloadavg()[0])
        except (AttributeError, OSError):
            return None
    elapsed = total_after - total_before
    if elapsed <= 0:
        return None
    return cores * (idle_after - idle_before) / elapsed


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

"""The run's figure writer (issue 15): figures written by a worker process are the same files.

A run hands its figures, pickled, to one worker process
(:class:`bayes_cluster.run.context.FigureWriter`) so that the three formats are written
while it fits the next model.  These tests pin what that must not change: the bytes of
every file (against :func:`bayes_cluster.plots.style.save_formats` in this process), the
error a failed figure raises, and that a cancelled writer leaves no process and no file.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from matplotlib.figure import Figure

from bayes_cluster.plots.compare import forest_plot_methods
from bayes_cluster.plots.style import FIGURE_FORMATS, save_formats, stamp_label, styled
from bayes_cluster.run.context import QUICK_LABEL, FigureWriter, FigureWriters


@styled
def _figure(seed: int) -> Figure:
    """A small figure with text in two weights, a legend and a suptitle (font subsets)."""
    rng = np.random.default_rng(seed)
    figure = Figure(figsize=(4, 3), layout="constrained")
    axis = figure.subplots()
    axis.plot(rng.normal(size=20), "o-", label="draws")
    axis.hlines([0.0, 1.0], -1, 21, color="grey")
    axis.set_xlabel("draw")
    axis.set_title("trace, seed " + str(seed), fontweight="bold")
    axis.legend()
    figure.suptitle("a figure")
    return figure


def _bytes(png: Path) -> dict[str, bytes]:
    return {kind: png.with_suffix(f".{kind}").read_bytes() for kind in FIGURE_FORMATS}


def test_worker_writes_the_same_files_as_the_run_itself(tmp_path):
    writer = FigureWriter()
    try:
        for seed in (1, 2):
            for folder in ("direct", "worker"):
                (tmp_path / folder).mkdir(exist_ok=True)
            direct = _figure(seed)
            stamp_label(direct, QUICK_LABEL)
            save_formats(direct, tmp_path / "direct" / f"f{seed}.png", dpi=300)
            handed = _figure(seed)
            stamp_label(handed, QUICK_LABEL)
            writer.submit(handed, tmp_path / "worker" / f"f{seed}.png", 300)
        writer.wait()
    finally:
        writer.close()
    for seed in (1, 2):
        direct = _bytes(tmp_path / "direct" / f"f{seed}.png")
        worker = _bytes(tmp_path / "worker" / f"f{seed}.png")
        assert direct.keys() == worker.keys() == set(FIGURE_FORMATS)
        for kind in FIGURE_FORMATS:
            assert worker[kind] == direct[kind], f"f{seed}.{kind} differs"
    # the two seeds drew different figures: the comparison could fail
    assert _bytes(tmp_path / "worker" / "f1.png") != _bytes(tmp_path / "worker" / "f2.png")


def test_the_forest_plot_pickles(tmp_path):
    """Its odds-ratio axis once had a lambda formatter, which cannot be pickled."""
    import pandas as pd

    estimate = np.array([0.8, 0.1, 0.7, 0.05])
    table = pd.DataFrame(
        {
            "method": ["mle", "mle", "bayes", "bayes"],
            "term": ["workers", "firm_age"] * 2,
            "interval": ["95% CI", "95% CI", "94% HDI", "94% HDI"],
            "estimate": estimate,
            "ci_lower": estimate - 0.5,
            "ci_upper": estimate + 0.5,
            "odds_ratio": np.exp(estimate),
            "or_ci_lower": np.exp(estimate - 0.5),
            "or_ci_upper": np.exp(estimate + 0.5),
            "published": ["effect", "effect"] * 2,
        }
    )
    writer = FigureWriter()
    try:
        writer.submit(forest_plot_methods(table), tmp_path / "forest.png", 300)
        writer.wait()
    finally:
        writer.close()
    assert all((tmp_path / f"forest.{kind}").stat().st_size > 0 for kind in FIGURE_FORMATS)


def test_a_figure_that_cannot_be_written_fails_the_wait_naming_it(tmp_path):
    missing = tmp_path / "no_such_folder" / "figure.png"
    writer = FigureWriter()
    try:
        writer.submit(_figure(3), missing, 300)
        with pytest.raises(
            RuntimeError, match="a figure could not be written: .*figure.png"
        ) as info:
            writer.wait()
        assert "FileNotFoundError" in str(info.value)
    finally:
        writer.close()


def test_a_cancelled_writer_leaves_no_process_and_no_scratch_file(tmp_path):
    writer = FigureWriter()
    for seed in range(4):
        writer.submit(_figure(seed), tmp_path / f"f{seed}.png", 300)
    process, scratch = writer._process, writer._scratch
    assert process is not None and scratch is not None and scratch.is_dir()
    writer.close(cancel=True)
    assert process.poll() is not None  # it has exited
    assert not scratch.exists()
    assert not os.path.exists(f"/proc/{process.pid}/status") or "zombie" in (
        Path(f"/proc/{process.pid}/status").read_text().lower()
    )
    writer.close()  # a second close does nothing


def test_the_worker_removes_its_scratch_folder_when_the_run_dies(tmp_path):
    """A killed run closes the worker's input: it writes what it has, then cleans up."""
    writer = FigureWriter()
    writer.submit(_figure(5), tmp_path / "f.png", 300)
    process, scratch = writer._process, writer._scratch
    process.stdin.close()  # what the end of the run's process does to the pipe
    assert process.wait(timeout=120) == 0
    assert not scratch.exists()
    assert all((tmp_path / f"f.{kind}").is_file() for kind in FIGURE_FORMATS)
    process.stdout.close()
    writer._process = None  # already gone
    writer.close()


def test_two_writers_share_the_figures_and_write_the_same_files(tmp_path):
    writers = FigureWriters(workers=2)
    try:
        for seed in range(4):
            (tmp_path / "direct").mkdir(exist_ok=True)
            save_formats(_figure(seed), tmp_path / "direct" / f"f{seed}.png", dpi=300)
            writers.submit(_figure(seed), tmp_path / f"f{seed}.png", 300)
        # every figure is offered to both processes; the first free one writes it
        assert [len(writer._pending) for writer in writers.writers] == [4, 4]
        processes = [writer._process for writer in writers.writers]
        assert processes[0].pid != processes[1].pid
        scratch = writers._scratch
        answers = [writer.answers() for writer in writers.writers]
    finally:
        writers.close()
    for seed in range(4):
        assert _bytes(tmp_path / f"f{seed}.png") == _bytes(tmp_path / "direct" / f"f{seed}.png")
        # written by exactly one of them
        png = str(tmp_path / f"f{seed}.png")
        assert [a["written"] for each in answers for a in each if a["png"] == png].count(True) == 1
    assert all(process.poll() == 0 for process in processes)
    assert not scratch.exists()


def test_a_busy_writer_leaves_the_next_figures_to_the_free_one(tmp_path):
    """Two workers read the same jobs; one is held up (its first figure's claim is
    slow to arrive: its input is read late), so the other writes what comes next."""
    import io
    import pickle

    import matplotlib.pyplot as plt

    from bayes_cluster.plots import figure_worker

    scratch = tmp_path / "scratch"
    scratch.mkdir()
    lines = []
    for seed in range(3):
        figure = _figure(seed)
        job = scratch / f"figure_{seed}.pickle"
        job.write_bytes(pickle.dumps(figure))
        plt.close(figure)
        png = tmp_path / f"f{seed}.png"
        lines.append(json.dumps({"figure": str(job), "png": str(png), "dpi": 50}) + "\n")
    free, late = io.StringIO(), io.StringIO()
    figure_worker.main(io.StringIO("".join(lines)), free, scratch=scratch)  # takes all 3
    figure_worker.main(io.StringIO("".join(lines)), late, scratch=scratch)  # finds none
    assert [json.loads(a)["written"] for a in free.getvalue().splitlines()] == [True] * 3
    assert [json.loads(a)["written"] for a in late.getvalue().splitlines()] == [False] * 3
    assert all((tmp_path / f"f{seed}.png").is_file() for seed in range(3))
    # each claimed file was moved into the worker's own folder, then deleted
    own = scratch / f"{figure_worker.WRITER_FOLDER_PREFIX}{os.getpid()}"
    assert own.is_dir() and not any(own.iterdir())
    assert not list(scratch.glob("figure_*.pickle"))
    # a file claimed by nobody (the run died between writing it and the job line)
    (scratch / "figure_9.pickle").write_bytes(b"")
    other = scratch / f"{figure_worker.WRITER_FOLDER_PREFIX}1"  # another worker, still on
    other.mkdir()
    figure_worker._clean_up(scratch)
    assert not own.exists() and other.is_dir()  # the scratch folder stays for the other
    other.rmdir()
    (scratch / f"{figure_worker.WRITER_FOLDER_PREFIX}{os.getpid()}").mkdir()
    figure_worker._clean_up(scratch)  # the last worker out removes the scratch folder
    assert not scratch.exists()


def test_two_writers_report_the_error_of_either_after_waiting_for_both(tmp_path):
    writers = FigureWriters(workers=2)
    try:
        writers.submit(_figure(1), tmp_path / "fine.png", 300)
        writers.submit(_figure(2), tmp_path / "no_such_folder" / "broken.png", 300)
        with pytest.raises(RuntimeError, match="a figure could not be written: .*broken.png"):
            writers.wait()
        assert all((tmp_path / f"fine.{kind}").is_file() for kind in FIGURE_FORMATS)
    finally:
        writers.close(cancel=True)
    assert all(writer._process is None for writer in writers.writers)
    with pytest.raises(ValueError, match="workers must be at least 1, got 0"):
        FigureWriters(workers=0)


# --------------------------------------------------------------------------- fit worker


# The calls are of the standard library: a worker process imports them by name (a test
# module is not importable there).


def test_a_background_call_returns_its_value_and_runs_in_another_process():
    from bayes_cluster.run.fit_worker import start

    assert start(divmod, 17, 5).result() == (3, 2)
    assert start(os.getpid).result() != os.getpid()


def test_a_background_call_reissues_the_warnings_it_raised():
    import warnings

    from bayes_cluster.run.fit_worker import start

    call = start(warnings.warn, "a warning raised in the worker", UserWarning)
    with pytest.warns(UserWarning, match="a warning raised in the worker"):
        assert call.result() is None


def test_a_background_call_reraises_the_error_of_the_call():
    from bayes_cluster.run.fit_worker import start

    call = start(int, "workers")
    with pytest.raises(ValueError, match=r"invalid literal for int\(\) with base 10: 'workers'"):
        call.result()


def test_a_cancelled_background_call_leaves_no_process_and_no_scratch_file():
    import time

    from bayes_cluster.run.fit_worker import start

    call = start(time.sleep, 60)
    process, scratch = call._process, call._scratch
    started = time.monotonic()
    call.cancel()
    assert time.monotonic() - started < 10  # killed, not waited for
    assert process.poll() is not None
    assert not scratch.exists()


# ------------------------------------------------------------- fit workers only on idle cores
def _counters(
    monkeypatch, *readings: tuple[int, int], cores: int = 2, own: tuple[float, ...] = ()
) -> None:
    """Make the idle-core measure read these (idle, total) CPU counters, one per reading,
    and this process's CPU seconds ``own`` (0 throughout by default)."""
    from bayes_cluster.common import cores as cores_module

    sequence = iter(readings)
    monkeypatch.setattr(cores_module, "_cpu_times", lambda stat: next(sequence))
    own_sequence = iter(own or [0.0] * len(readings))
    monkeypatch.setattr(cores_module, "_own_cpu", lambda: next(own_sequence))
    monkeypatch.setattr(os, "cpu_count", lambda: cores)


def test_idle_cores_reads_the_kernel_counters(tmp_path, monkeypatch):
    from bayes_cluster.common.cores import _cpu_times, a_core_is_idle, idle_cores

    stat = tmp_path / "stat"
    # user nice system idle iowait irq softirq steal guest guest_nice
    stat.write_text("cpu  100 5 20 700 30 1 2 3 50 0\ncpu0 50 2 10 350 15 0 1 1 25 0\n")
    assert _cpu_times(stat) == (730, 861)  # idle + iowait, the first eight fields
    stat.write_text("intr 12 0\n")
    with pytest.raises(ValueError, match="the first line is not the all-CPU line"):
        _cpu_times(stat)
    # one of two cores idle over the window (half of all jiffies idle)
    _counters(monkeypatch, (1000, 4000), (1100, 4200))
    assert idle_cores(0.0) == pytest.approx(1.0)
    _counters(monkeypatch, (1000, 4000), (1100, 4200))
    assert a_core_is_idle(interval=0.0)
    # both cores busy (the test suite's two workers, or another job)
    _counters(monkeypatch, (1000, 4000), (1004, 4200))
    assert idle_cores(0.0) == pytest.approx(0.04)
    _counters(monkeypatch, (1000, 4000), (1004, 4200))
    assert not a_core_is_idle(interval=0.0)


def test_idle_cores_over_the_runs_start_up_count_its_own_cpu_as_idle(monkeypatch):
    """A window opened by cpu_counters() (the run's start): no wait once it is longer
    than the interval, and the CPU the run itself spent in it counts as idle."""
    import time

    from bayes_cluster.common import cores as cores_module
    from bayes_cluster.common.cores import a_core_is_idle, cpu_counters, idle_cores

    ticks = os.sysconf("SC_CLK_TCK")
    # 2 cores, 1 s (2 * ticks jiffies): the run used one core, the other was idle
    _counters(monkeypatch, (0, 0), (ticks, 2 * ticks), own=(10.0, 11.0))
    clock = iter([50.0, 51.0, 51.0])  # the window's start, then 1 s later
    monkeypatch.setattr(time, "monotonic", lambda: next(clock, 51.0))
    since = cpu_counters()
    assert since == (50.0, 0, 0, 10.0)
    slept = []
    monkeypatch.setattr(time, "sleep", slept.append)
    assert idle_cores(0.25, since=since) == pytest.approx(2.0)
    assert slept == [0.0]  # the window was already longer than the interval
    # another job took the second core: only the run's own core is idle for a worker
    _counters(monkeypatch, (0, 0), (0, 2 * ticks), own=(10.0, 11.0))
    assert idle_cores(0.25, since=cpu_counters()) == pytest.approx(1.0)
    # both taken by other jobs while the run waited
    _counters(monkeypatch, (0, 0), (0, 2 * ticks), own=(10.0, 10.0))
    assert not a_core_is_idle(since=cpu_counters())
    # a window shorter than the interval is waited out to its end
    readings = iter([(100.0, 0, 0, 1.0), (100.5, 2 * ticks, 2 * ticks, 1.0)])
    monkeypatch.setattr(cores_module, "cpu_counters", lambda stat=None: next(readings))
    monkeypatch.setattr(time, "monotonic", lambda: 100.1)  # 0.1 s into the window
    slept.clear()
    assert idle_cores(0.25, since=next(readings)) == pytest.approx(2.0)
    assert slept == [pytest.approx(0.15)]


def test_idle_cores_falls_back_on_the_load_average(tmp_path, monkeypatch):
    from bayes_cluster.run.fit_worker import a_core_is_idle, idle_cores

    missing = tmp_path / "no-proc-stat"
    monkeypatch.setattr(os, "cpu_count", lambda: 4)
    monkeypatch.setattr(os, "getloadavg", lambda: (3.5, 2.0, 1.0))
    assert idle_cores(0.0, stat=missing) == pytest.approx(0.5)
    assert not a_core_is_idle(interval=0.0, stat=missing)
    monkeypatch.setattr(os, "getloadavg", lambda: (6.0, 2.0, 1.0))
    assert idle_cores(0.0, stat=missing) == 0.0

    def no_load_average():
        raise OSError("load average unobtainable")

    monkeypatch.setattr(os, "getloadavg", no_load_average)
    assert idle_cores(0.0, stat=missing) is None
    assert a_core_is_idle(interval=0.0, stat=missing)  # unknown: start them, as before


def test_idle_cores_on_this_machine_is_between_none_and_all():
    from bayes_cluster.run.fit_worker import idle_cores

    idle = idle_cores(0.1)
    assert idle is not None  # Linux (/proc/stat) or the load average
    assert 0.0 <= idle <= (os.cpu_count() or 1) + 1e-9


def test_a_run_starts_as_many_fit_workers_as_run_all_their_chains_at_once():
    from bayes_cluster.run.pipeline import MAX_FIT_WORKERS, fit_workers

    # each fit samples its chains on one core each: on 2 cores one worker
    assert [fit_workers(4, cores) for cores in (1, 2, 4, 7, 8, 64)] == [1, 1, 1, 1, 2, 2]
    assert [fit_workers(2, cores) for cores in (1, 2, 3, 4)] == [1, 1, 1, 2]
    assert fit_workers(1, 64) == MAX_FIT_WORKERS == 2
    assert 1 <= fit_workers(4) <= MAX_FIT_WORKERS  # this machine's CPU affinity
    # compiling the latent-class callbacks (an empty cache) takes one core: two workers
    assert [fit_workers(4, cores, compiling=True) for cores in (1, 2, 8)] == [1, 2, 2]


@pytest.mark.parametrize("idle", [True, False])
def test_the_run_starts_its_fit_workers_only_on_an_idle_core(idle, monkeypatch):
    from types import SimpleNamespace

    from bayes_cluster.run import fit_worker, pipeline

    started: list[list] = []

    def fake_queue(calls, *, quiet):
        assert quiet  # no --progressbar: the workers hold back PyMC's log lines
        started.append([function for function, _, _ in calls])
        return [f"call of {function.__name__}" for function, _, _ in calls]

    monkeypatch.setattr(fit_worker, "a_core_is_idle", lambda **_: idle)
    monkeypatch.setattr(fit_worker, "start_queue", fake_queue)
    jobs = {
        "latent_class": [(("nominal", k), (divmod, (k, 2), {})) for k in (1, 2, 3)]
        + [(("ordinal", k), (pow, (k, 2), {})) for k in (1, 2, 3)],
        "logistic": [(("logit", "bayes"), (max, (1, 2), {}))],
    }
    monkeypatch.setattr(
        pipeline.latent_class_section, "background_fits", lambda c: jobs["latent_class"]
    )
    monkeypatch.setattr(pipeline.logistic_section, "background_fits", lambda c: jobs["logistic"])
    printed: list[str] = []
    context = SimpleNamespace(
        spec=SimpleNamespace(
            latent_class=SimpleNamespace(bayesian=True, covariates=("workers",), n_classes=(1, 3)),
            logistic=SimpleNamespace(bayesian=True),
        ),
        parallel=True,
        progressbar=False,
        background={},
        progress=printed.append,
    )
    pipeline._start_background_fits(context, workers=2)
    if idle:
        # the latent-class fits dealt out in turn (the last, largest, to the first
        # worker), the logits first in the second worker's queue, and a place for the
        # class covariates fit of the K to be chosen at the end of the shorter queue;
        # each worker makes its fits in the order the run takes them
        promised = fit_worker.PROMISED[0]
        assert started == [[divmod, divmod, pow, pow], [max, divmod, pow, promised]]
        assert list(context.background) == [
            ("nominal", 1),
            ("nominal", 3),
            ("ordinal", 2),
            ("ordinal", 3),
            ("logit", "bayes"),
            ("nominal", 2),
            ("ordinal", 1),
            ("covariates", "promised"),
        ]
        assert context.background["logit", "bayes"] == "call of max"
        assert printed == []
        # one worker (two cores): every fit in the order the run takes them (the logits,
        # whose part the run writes while the mixtures sample, then the mixtures), the
        # promised place (taken at the end of the run) last
        started.clear()
        context.background = {}
        pipeline._start_background_fits(context, workers=1)
        assert started == [[max] + [divmod] * 3 + [pow] * 3 + [promised]]
        assert list(context.background) == [
            ("logit", "bayes"),
            *[("nominal", k) for k in (1, 2, 3)],
            *[("ordinal", k) for k in (1, 2, 3)],
            ("covariates", "promised"),
        ]
        # the run's own choice: two workers while the latent-class callbacks must be
        # compiled (two cores or more), else one per four chains' worth of cores
        from bayes_cluster.inference import fast_latent_class

        context.sampler = SimpleNamespace(chains=4, backend="nutpie_c")
        for cached in (False, True):
            monkeypatch.setattr(fast_latent_class, "callbacks_cached", lambda c=cached: c)
            started.clear()
            context.background = {}
            pipeline._start_background_fits(context)
            assert len(started) == pipeline.fit_workers(4, compiling=not cached)
    else:
        assert started == [] and context.background == {}
        assert printed == [
            "every core is busy, so every fit runs in this process "
            "(a worker process would only take turns with it)"
        ]


def test_the_run_starts_no_worker_for_one_fit_or_when_it_may_not(monkeypatch):
    from types import SimpleNamespace

    from bayes_cluster.run import fit_worker, pipeline

    monkeypatch.setattr(fit_worker, "a_core_is_idle", lambda **_: True)
    monkeypatch.setattr(fit_worker, "start_queue", lambda calls, **_: pytest.fail("started"))
    monkeypatch.setattr(pipeline.latent_class_section, "background_fits", lambda c: [])
    one = [(("logit", "bayes"), (max, (1, 2), {}))]
    monkeypatch.setattr(pipeline.logistic_section, "background_fits", lambda c: one)
    spec = SimpleNamespace(latent_class=None, logistic=SimpleNamespace(bayesian=True))
    context = SimpleNamespace(spec=spec, parallel=True, background={}, progress=print)
    pipeline._start_background_fits(context)  # one fit: the run makes it itself
    assert context.background == {}
    monkeypatch.setattr(pipeline.logistic_section, "background_fits", lambda c: one * 2)
    context.parallel = False  # a run that may not (one core)
    pipeline._start_background_fits(context)
    assert context.background == {}


def test_a_promised_place_makes_the_call_the_run_sends_later_or_none():
    from bayes_cluster.run.fit_worker import PROMISED, start_queue

    first, promised = start_queue([(pow, (2, 3), {}), PROMISED])
    assert first.result() == 8
    assert not promised.done()  # waiting for the run's call
    promised.send(divmod, 17, 5)
    assert promised.result() == (3, 2)
    first, released = start_queue([(pow, (2, 3), {}), PROMISED])
    released.send(None)
    assert released.result() is None and first.result() == 8


def test_a_promised_place_whose_run_died_raises_instead_of_waiting(tmp_path):
    from bayes_cluster.run.fit_worker import _promised

    with pytest.raises(RuntimeError, match="the run stopped before it sent the promised call"):
        _promised(str(tmp_path / "never.pickle"), run=-1)  # -1: no process's parent


def test_a_worker_makes_its_calls_in_order_and_each_result_waits_for_its_own():
    import time

    from bayes_cluster.run.fit_worker import start_queue

    first, slow, third = start_queue(
        [(divmod, (17, 5), {}), (time.sleep, (0.5,), {}), (int, ("workers",), {})]
    )
    process, scratch = first._process, first._scratch
    assert slow._process is process  # one worker, one start-up
    assert first.result() == (3, 2)
    with pytest.raises(ValueError, match=r"invalid literal for int\(\) with base 10: 'workers'"):
        third.result()  # read before the second: the third call still ran after it
    assert scratch.exists()  # an answer is still unread
    assert slow.result() is None
    # the last answer read: the worker has stopped and its scratch folder is gone
    assert process.poll() is not None
    assert not scratch.exists()
    with pytest.raises(ValueError, match="start_queue needs at least one call"):
        start_queue([])


def test_a_worker_whose_run_died_stops_before_its_next_call(tmp_path):
    """A run killed outright (SIGKILL: no cancel) leaves no worker making fits for nobody."""
    import subprocess
    import sys
    import time

    script = (
        "import time\n"
        "from bayes_cluster.run.fit_worker import start_queue\n"
        "calls = start_queue([(time.sleep, (1.5,), {}), (time.sleep, (60,), {})])\n"
        "print(calls[0]._scratch, calls[0]._process.pid, flush=True)\n"
        "import os; os._exit(0)\n"  # dies at once, as if killed
    )
    with subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, text=True
    ) as run:
        printed = run.stdout.readline().split()  # the worker keeps the pipe: read one line
        assert run.wait(timeout=60) == 0
        run.stdout.close()
    scratch, pid = Path(printed[0]), int(printed[1])
    deadline = time.monotonic() + 30
    while scratch.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not scratch.exists()  # after its first call, not after the 60 s of the second
    with pytest.raises(ProcessLookupError):
        for _ in range(50):  # gone (reaped by init) once it has returned
            os.kill(pid, 0)
            time.sleep(0.1)


def test_cancelling_a_queued_call_stops_the_worker_and_its_other_calls():
    import time

    from bayes_cluster.run.fit_worker import start_queue

    calls = start_queue([(time.sleep, (60,), {}), (divmod, (1, 1), {})])
    process, scratch = calls[0]._process, calls[0]._scratch
    started = time.monotonic()
    calls[1].cancel()
    assert time.monotonic() - started < 10
    assert process.poll() is not None
    assert not scratch.exists()
    with pytest.raises(
        RuntimeError, match=r"the fit worker stopped \(exit status -9\) with no result"
    ):
        calls[0].result()


def _count_worker_queues(monkeypatch) -> list[int]:
    """Record the number of calls of every worker queue the run starts (and start it)."""
    from bayes_cluster.run import fit_worker

    counts: list[int] = []
    real_queue = fit_worker.start_queue

    def counting_queue(calls, **options):
        counts.append(len(calls))
        return real_queue(calls, **options)

    monkeypatch.setattr(fit_worker, "start_queue", counting_queue)
    return counts


def test_a_run_with_fit_workers_writes_the_same_results_as_one_without(tmp_path, monkeypatch):
    """A logit spec, --quick: its two Bayesian logits and the refit under a wider prior made
    by two workers (forced, whatever the machine's load), then by the run itself: the same
    tables, byte for byte, and the same posterior draws (the files' time stamps differ).
    Every worker's fit is taken: none is cancelled (and made again by the run)."""
    import xarray as xr

    from bayes_cluster.run import fit_worker, pipeline

    data = Path(__file__).resolve().parents[1] / "data" / "tumang_synthetic.csv"
    spec = tmp_path / "two_logits.toml"
    spec.write_text(
        f"[data]\npath = {str(data)!r}\n\n"
        '[logistic]\noutcome = "export"\npredictors = ["workers", "buyer_network"]\n'
        "loo = false\n\n"
        '[logistic.variants.hierarchical]\ngroup = "product_line"\n\n'
        "[sampler]\nseed = 2028\n",
        encoding="utf-8",
    )
    started = _count_worker_queues(monkeypatch)
    # two workers, whatever the machine's cores (on two cores a run starts one)
    monkeypatch.setattr(pipeline, "fit_workers", lambda chains, **_: 2)
    cancelled: list[int] = []
    real_cancel = fit_worker.BackgroundCall.cancel

    def counting_cancel(call):
        cancelled.append(1)
        real_cancel(call)

    monkeypatch.setattr(fit_worker.BackgroundCall, "cancel", counting_cancel)
    folders = {}
    for idle in (True, False):
        monkeypatch.setattr(fit_worker, "a_core_is_idle", lambda idle=idle, **_: idle)
        folders[idle] = tmp_path / f"idle_{idle}"
        pipeline.run_spec(spec, out=folders[idle], quick=True, stream=None)
    if (os.cpu_count() or 1) > 1:
        # bayes and the wide-prior refit in one worker, bayes_hierarchical in the other
        assert started == [2, 1]
    assert cancelled == []
    files = {
        idle: sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
        for idle, out in folders.items()
    }
    assert files[True] == files[False]
    assert "logistic/bayes_hierarchical_summary.csv" in files[True]
    assert "logistic/prior_sensitivity_wide.csv" in files[True]
    tables = [name for name in files[True] if name.endswith((".csv", ".tex"))]
    differing = [
        name
        for name in tables
        if (folders[True] / name).read_bytes() != (folders[False] / name).read_bytes()
    ]
    assert differing == [], differing
    for name in ("bayes", "bayes_hierarchical"):
        trees = [
            xr.open_datatree(folders[idle] / f"logistic/{name}_posterior.nc") for idle in folders
        ]
        assert trees[0]["posterior"].to_dataset().equals(trees[1]["posterior"].to_dataset())


def test_pdf_fonts_are_embedded_without_their_layout_tables():
    """The PDF's font subsets: every glyph drawn, with the outline and metrics of
    matplotlib's own subset, without GSUB/GPOS/GDEF (which cost most of a subset's time
    and a PDF never reads; without GSUB the subset also leaves out the ligatures and
    alternates it would have added); matplotlib's subsetting is back after the context.
    (Rendered by Ghostscript, the 27 PDFs of the Tumang run were identical pixel for pixel.)
    """
    from fontTools.ttLib import TTFont
    from matplotlib import font_manager
    from matplotlib.backends import _backend_pdf_ps

    from bayes_cluster.plots.style import FONT_LAYOUT_TABLES, _lean_font_subsets

    path = font_manager.findfont("DejaVu Sans")
    glyphs = set(range(3, 90))
    wanted = {TTFont(path).getGlyphOrder()[gid] for gid in glyphs}

    def subset() -> tuple[set, dict, dict]:
        with _backend_pdf_ps.get_glyphs_subset(path, glyphs) as result:
            font = result.font
            outlines = {
                name: font["glyf"][name].compile(font["glyf"]) for name in font.getGlyphOrder()
            }
            return set(font.keys()), outlines, dict(font["hmtx"].metrics)

    original = _backend_pdf_ps.subset
    default = subset()
    with _lean_font_subsets():
        lean = subset()
    assert _backend_pdf_ps.subset is original
    assert {"GSUB", "GPOS", "GDEF"} <= default[0]  # the font has them: the check could fail
    assert lean[0] == default[0] - set(FONT_LAYOUT_TABLES)
    assert wanted <= set(lean[1]) <= set(default[1])
    for name in lean[1]:
        assert lean[1][name] == default[1][name], name
        assert lean[2][name] == default[2][name], name


_LEAN_ARVIZ_SCRIPT = """
import sys
from pathlib import Path
from bayes_cluster.run.fit_worker import lean_arviz
assert lean_arviz()
import arviz_base, nutpie
from bayes_cluster.run.sections.data import load_data
from bayes_cluster.run.sections.latent_class import _item_responses, fit_latent_class_model
from bayes_cluster.run.spec import load_spec
spec = load_spec(Path("models/tumang.toml"))
frame, _ = load_data(spec)
sampler = spec.sampler.for_run(True)
model = fit_latent_class_model(
    _item_responses(frame, spec.latent_class), 2, spec.latent_class, sampler, 7, False
)
assert model.idata_["posterior"]["theta"].sizes["draw"] == sampler.draws
assert model.diagnostics_.table["ess_bulk"].notna().all()
heavy = ("arviz_stats", "arviz_plots", "matplotlib", "scipy.stats")
heavy = sorted(name for name in heavy if name in sys.modules)
import arviz
assert arviz.from_dict is arviz_base.from_dict
stand_in = sys.modules["nutpie.sample"].arviz
summary = stand_in.summary  # any other name: the real ArviZ, imported now
assert sys.modules["arviz"] is not stand_in and "arviz_stats" in sys.modules
assert callable(summary) and sys.modules["arviz"].summary is summary
print(heavy)
"""


def test_a_fit_worker_samples_without_importing_all_of_arviz():
    """In a fit worker nutpie gets ArviZ's two converters, and a latent-class fit with
    its diagnostics needs no more: no arviz_stats, arviz_plots, matplotlib or scipy.stats
    (1.2 s of a worker's start-up). Anything else read from the stand-in is the real ArviZ."""
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    done = subprocess.run(
        [sys.executable, "-c", _LEAN_ARVIZ_SCRIPT],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_figure_writers_yield_to_the_run(monkeypatch, tmp_path):
    """A figure writer lowers its priority (os.nice) before its first figure: the fits the
    run waits for go first when the cores are short (README run, alternately: 32.2-36.6 s
    against 36.6-38.4 s), and the figures, needed only for the report, fill the gaps."""
    import io
    import pickle

    import matplotlib.pyplot as plt

    from bayes_cluster.plots import figure_worker

    niced: list[int] = []
    monkeypatch.setattr(figure_worker.os, "nice", niced.append)  # not this test process
    figure = _text_figure()
    job = tmp_path / "figure.pickle"
    job.write_bytes(pickle.dumps(figure))
    plt.close(figure)
    png = tmp_path / "figure.png"
    answers = io.StringIO()
    line = json.dumps({"figure": str(job), "png": str(png), "dpi": 50})
    figure_worker.main(io.StringIO(line + "\n"), answers)
    assert niced == [figure_worker.FIGURE_WORKER_NICENESS] == [10]
    assert json.loads(answers.getvalue()) == {"png": str(png), "error": None, "written": True}
    assert png.exists() and png.with_suffix(".pdf").exists()


def test_a_figure_writer_process_freezes_its_imports_before_its_figures(monkeypatch):
    """As a process (``python -m bayes_cluster.plots.figure_worker``), a writer imports
    matplotlib and the plot style, freezes those objects for the garbage collector
    (gc.freeze), then writes its figures; and freezes again at its end."""
    import gc
    import io
    import runpy
    import sys

    events: list[str] = []
    monkeypatch.setattr(gc, "freeze", lambda: events.append("freeze"))
    monkeypatch.setattr(os, "nice", lambda n: events.append("nice"))
    monkeypatch.delitem(sys.modules, "bayes_cluster.plots.figure_worker", raising=False)
    monkeypatch.setattr(sys, "argv", ["figure_worker"])
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))  # no figures: main() just returns
    monkeypatch.setattr(sys, "stdout", io.StringIO())
    module = runpy.run_module("bayes_cluster.plots.figure_worker", run_name="__main__")
    assert "bayes_cluster.plots.style" in sys.modules
    assert events[0] == "freeze" and events[-1] == "freeze" and "nice" in events
    assert module["main"].__module__ == "__main__"


def test_figure_writers_shut_down_side_by_side():
    """At the end of a run every figure writer is told to stop before any is waited for
    (each one's shut-down took 0.25 s, one after another), cancelled or not."""
    order: list[tuple[str, int, bool]] = []

    class Writer:
        def __init__(self, index: int) -> None:
            self.index = index

        def stop(self, *, cancel: bool = False) -> None:
            order.append(("stop", self.index, cancel))

        def close(self, *, cancel: bool = False) -> None:
            order.append(("close", self.index, cancel))

    writers = FigureWriters(workers=2)
    real = writers.writers
    writers.writers = [Writer(0), Writer(1)]
    for cancel in (False, True):
        order.clear()
        writers.close(cancel=cancel)
        assert order == [
            ("stop", 0, cancel),
            ("stop", 1, cancel),
            ("close", 0, cancel),
            ("close", 1, cancel),
        ]
    for writer in real:
        writer.close()


def _text_figure() -> Any:
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(3, 2))
    axes.plot([0, 1], [0, 1], label="posterior − prior ±")
    axes.set_title("Ordinal latent classes", fontweight="bold")
    axes.legend()
    return figure


def test_pdf_font_subsets_are_kept_and_reused_byte_for_byte(tmp_path, monkeypatch):
    """A PDF saved with the font-subset cache is the PDF matplotlib writes without it, byte
    for byte: on a miss (the subsets are written to the cache), on a hit (no font is
    subset at all: fontTools' subsetter would raise) and after a cache file was damaged
    (subset again, rewritten)."""
    import io

    import matplotlib.pyplot as plt
    from matplotlib.backends import _backend_pdf_ps

    from bayes_cluster.plots.style import RC_PARAMS, _cached_font_subsets, _lean_font_subsets

    folder = tmp_path / "fonts"
    metadata = {"Creator": None, "Producer": None, "CreationDate": None}
    figure = _text_figure()
    monkeypatch.setitem(plt.rcParams, "pdf.fonttype", RC_PARAMS["pdf.fonttype"])  # Type 42

    def pdf(cache: bool) -> bytes:
        buffer = io.BytesIO()
        with _lean_font_subsets():
            with _cached_font_subsets(folder) if cache else contextlib.nullcontext():
                figure.savefig(buffer, format="pdf", metadata=metadata)
        return buffer.getvalue()

    plain = pdf(cache=False)
    assert not folder.exists()
    assert pdf(cache=True) == plain  # a miss: subset, kept
    kept = sorted(folder.glob("*.json"))
    assert len(kept) >= 2  # at least DejaVu Sans and its bold face

    class NoSubsetting:
        def __getattr__(self, name: str) -> Any:
            raise AssertionError(f"fontTools.subset.{name} used on a cache hit")

    with monkeypatch.context() as patch:
        patch.setattr(_backend_pdf_ps, "subset", NoSubsetting())
        with _cached_font_subsets(folder):
            buffer = io.BytesIO()
            figure.savefig(buffer, format="pdf", metadata=metadata)
    assert buffer.getvalue() == plain  # a hit
    kept[0].write_text("{not json", encoding="utf-8")
    assert pdf(cache=True) == plain  # damaged: subset again
    assert json.loads(kept[0].read_text(encoding="utf-8"))["font"]
    assert sorted(folder.glob("*.json")) == kept  # and nothing else left in the folder
    assert not list(folder.glob(".*"))
    plt.close(figure)
    assert _backend_pdf_ps.get_glyphs_subset.__module__ == "matplotlib.backends._backend_pdf_ps"


def test_the_font_subset_cache_folder_and_its_bound(tmp_path, monkeypatch):
    """``$BAYES_CLUSTER_FONT_CACHE`` names the folder (empty: none, every subset made
    anew); beyond FONT_SUBSET_CACHE_FILES the oldest half of the cache's own files go,
    and nothing else in the folder."""
    import matplotlib as mpl

    from bayes_cluster.plots import style

    monkeypatch.setenv("BAYES_CLUSTER_FONT_CACHE", str(tmp_path / "here"))
    assert style.font_subset_cache() == tmp_path / "here"
    monkeypatch.setenv("BAYES_CLUSTER_FONT_CACHE", "")
    assert style.font_subset_cache() is None
    monkeypatch.delenv("BAYES_CLUSTER_FONT_CACHE")
    assert style.font_subset_cache() == Path(mpl.get_cachedir()) / "bayes_cluster_font_subsets"

    monkeypatch.setattr(style, "FONT_SUBSET_CACHE_FILES", 4)
    folder = tmp_path / "fonts"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine", encoding="utf-8")
    for age in range(4):
        old = folder / f"{age}.json"
        old.write_text("{}", encoding="utf-8")
        os.utime(old, ns=(age * 10**9, age * 10**9))
    style._keep(folder / "new.json", {"font": "00", "glyph_index_map": []})
    names = sorted(p.name for p in folder.iterdir())
    assert names == ["2.json", "3.json", "new.json", "notes.txt"]


def test_the_class_covariates_fit_is_made_by_a_worker_while_the_run_goes_on(tmp_path, monkeypatch):
    """A latent-class spec with class covariates, --quick: the covariates fit is sent to
    the place a fit worker kept for it when K is chosen, and taken at the end of the run
    (forced idle core), then the run makes it itself (no idle core): the same tables and
    report, byte for byte but the seconds; the covariates' diagnostics keep their place."""
    from bayes_cluster.run import fit_worker, pipeline

    data = Path(__file__).resolve().parents[1] / "data" / "tumang_synthetic.csv"
    spec = tmp_path / "covariates.toml"
    spec.write_text(
        f'[data]\npath = {str(data)!r}\ncodebook = "tumang"\n\n'
        '[latent_class]\nitem_prefix = "mk_"\nn_classes = [2, 2]\ncovariates = ["workers"]\n'
        "bootstrap_lrt = false\ndescriptive = false\nem_starts = 5\n\n[sampler]\nseed = 2029\n\n"
        '[sampler.quick]\ndraws = 100\ntune = 100\nchains = 2\nbackend = "nutpie_c"\n',
        encoding="utf-8",
    )
    sent: list = []
    real_send = fit_worker.BackgroundCall.send

    def counting_send(call, function, *args, **kwargs):
        sent.append(None if function is None else kwargs.get("covariates") or args[-1])
        real_send(call, function, *args, **kwargs)

    monkeypatch.setattr(fit_worker.BackgroundCall, "send", counting_send)
    queues = _count_worker_queues(monkeypatch)
    from bayes_cluster.inference.fast_latent_class import callbacks_cached

    workers = pipeline.fit_workers(2, compiling=not callbacks_cached())  # the run's choice
    folders = {}
    for idle in (True, False):
        monkeypatch.setattr(fit_worker, "a_core_is_idle", lambda idle=idle, **_: idle)
        folders[idle] = tmp_path / f"idle_{idle}"
        pipeline.run_spec(spec, out=folders[idle], quick=True, stream=None)
    if (os.cpu_count() or 1) > 1:
        assert sent == [["workers"]]  # once, in the run with an idle core
        # the K = 2 fit and the kept place (two chains: one worker on up to 3 cores, two
        # while the callbacks must be compiled)
        assert queues == ([2] if workers == 1 else [1, 1])
    names = sorted(
        p.relative_to(folders[True]).as_posix()
        for p in folders[True].rglob("*")
        if p.suffix in (".csv", ".md")
    )
    assert "latent_class/class_membership_effects.csv" in names
    differing = [
        name
        for name in names
        if (folders[True] / name).read_bytes() != (folders[False] / name).read_bytes()
        and name != "report.md"  # its time stamp
    ]
    assert differing == [], differing
    report = (folders[True] / "report.md").read_text(encoding="utf-8")
    assert report.index("latent classes K=2 covariates") < report.index("Who belongs")

"""Ctrl-C stops ``run`` and ``study`` at every phase, keeps only finished work, exits 130.

Issue 11: PyMC and nutpie catch KeyboardInterrupt and return a partial trace, so the first
Ctrl-C killed one chain of a run (which then reported success) and made a study save a
bogus "failed" replicate. The in-process tests send SIGINT to the test process itself at
an exact point (deterministic); the subprocess tests press Ctrl-C the way a terminal does
(SIGINT to the process group) once the command has printed the line that says it reached
the phase under test, never after a sleep.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

from bayes_cluster.cli import main
from bayes_cluster.run import pipeline, report, safety
from bayes_cluster.run.context import SectionRunner
from bayes_cluster.run.safety import PACKAGE, Interrupted
from bayes_cluster.studies import study

REPO_ROOT = Path(__file__).resolve().parents[1]
LOGIT_SPEC = REPO_ROOT / "models" / "tumang_logit_only.toml"


def press_ctrl_c() -> None:
    """SIGINT to this process, as a terminal's Ctrl-C (handled at the next bytecode)."""
    os.kill(os.getpid(), signal.SIGINT)


def hidden_entries(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob(".*"))


def previous_run(folder: Path) -> dict[str, str]:
    """A folder as an earlier run left it; returns its files' contents."""
    folder.mkdir(parents=True)
    files = {"run.json": json.dumps({"package": PACKAGE}), "report.html": "previous report"}
    for name, text in files.items():
        (folder / name).write_text(text)
    return files


def contents(folder: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in folder.iterdir()}


# --------------------------------------------------------------------------- in process: run


def test_run_interrupted_while_writing_keeps_the_previous_results(tmp_path, monkeypatch, capsys):
    out = tmp_path / "results"
    kept = previous_run(out)
    real_write_report = report.write_report

    def write_report_then_ctrl_c(*args, **kwargs):
        real_write_report(*args, **kwargs)  # half of the new results are on disk
        press_ctrl_c()

    monkeypatch.setattr(pipeline, "SECTIONS", ())
    monkeypatch.setattr(pipeline, "write_report", write_report_then_ctrl_c)
    assert main(["run", str(LOGIT_SPEC), "--out", str(out)]) == 130
    err = capsys.readouterr().err
    assert err.strip().splitlines()[-1] == (
        f"interrupted: nothing of this run was kept (the previous results in {out} are "
        "unchanged); run the same command again to start it over"
    )
    assert "Traceback" not in err
    assert contents(out) == kept
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results"]  # no .partial folder


def test_run_interrupt_swallowed_by_a_library_is_still_honoured(tmp_path, monkeypatch, capsys):
    """A sampler that catches the interrupt and returns a truncated fit, as PyMC does."""
    recorded = []

    def swallowing_section(context):
        try:
            press_ctrl_c()
            time.sleep(0)  # the handler runs here and raises
        except BaseException:  # noqa: BLE001 - what a library that swallows it does
            pass
        recorded.append("truncated fit")
        context.save_table(pd.DataFrame({"estimate": [0.0]}), "logistic/truncated.csv")

    monkeypatch.setattr(
        pipeline, "SECTIONS", (SectionRunner("sampler", lambda spec: True, swallowing_section),)
    )
    out = tmp_path / "new" / "deeper" / "results"
    assert main(["run", str(LOGIT_SPEC), "--out", str(out)]) == 130
    err = capsys.readouterr().err
    assert err.strip().splitlines()[-1] == (
        f"interrupted: nothing of this run was kept ({out} was not created); "
        "run the same command again to start it over"
    )
    assert recorded == ["truncated fit"]  # the section went on, but nothing of it was kept
    assert list(tmp_path.iterdir()) == []  # nor the folders made for it


def test_run_interrupt_inside_compiled_code_exits_130(tmp_path, monkeypatch, capsys):
    """Ctrl-C inside a numba-jitted log density reaches Python as a SystemError.

    Seen by hand: Ctrl-C while PyMC sampled the hierarchical logit (nutpie/numba log
    density) ended in a SystemError traceback and exit 1. The interrupt is the error's
    cause; the command must say it was interrupted and exit 130.
    """

    def section_in_compiled_code(context):
        press_ctrl_c()
        try:
            time.sleep(0)  # the handler raises Interrupted here, as in numba's callback
        except Interrupted as error:
            raise SystemError("CPUDispatcher returned a result with an exception set") from error

    monkeypatch.setattr(
        pipeline,
        "SECTIONS",
        (SectionRunner("compiled", lambda spec: True, section_in_compiled_code),),
    )
    out = tmp_path / "results"
    assert main(["run", str(LOGIT_SPEC), "--out", str(out)]) == 130
    err = capsys.readouterr().err
    assert "Traceback" not in err and "SystemError" not in err
    assert err.strip().splitlines()[-1] == (
        f"interrupted: nothing of this run was kept ({out} was not created); "
        "run the same command again to start it over"
    )
    assert list(tmp_path.iterdir()) == []


def test_a_real_error_is_not_mistaken_for_an_interrupt(tmp_path, monkeypatch):
    def broken_section(context):
        raise SystemError("a real bug")

    monkeypatch.setattr(
        pipeline, "SECTIONS", (SectionRunner("broken", lambda spec: True, broken_section),)
    )
    with pytest.raises(SystemError, match="a real bug"):
        main(["run", str(LOGIT_SPEC), "--out", str(tmp_path / "results")])


def test_second_ctrl_c_during_clean_up_does_not_cut_it_short():
    safety.reset_interrupt()
    with safety.interrupts_stop_the_work():
        with safety.deferred_interrupts():
            press_ctrl_c()
            time.sleep(0)
            assert safety.interrupt_requested()  # recorded, not raised
        with pytest.raises(Interrupted):
            safety.raise_if_interrupted()
        with pytest.raises(Interrupted):
            press_ctrl_c()
            time.sleep(0)
    safety.reset_interrupt()


# --------------------------------------------------------------------------- in process: study

SMALL_STUDY = '[study]\nsizes = [30, 60]\nreplicates = 3\nmethods = ["mle", "firth"]\nseed = 4\n'


def test_study_never_records_an_interrupted_fit_and_resumes_identically(
    tmp_path, monkeypatch, capsys
):
    spec_file = tmp_path / "study.toml"
    spec_file.write_text(SMALL_STUDY)
    out = tmp_path / "out"
    real_firth = study._FREQUENTIST_FITS["firth"]
    calls = []

    def firth_interrupted_on_the_third_replicate(frame, spec, seed):
        calls.append(seed)
        if len(calls) == 3:
            try:  # a library that catches the interrupt and fails with its own error
                press_ctrl_c()
                time.sleep(0)
            except BaseException:  # noqa: BLE001
                raise RuntimeError("solver interrupted") from None
        return real_firth(frame, spec, seed)

    monkeypatch.setitem(study._FREQUENTIST_FITS, "firth", firth_interrupted_on_the_third_replicate)
    argv = ["study", str(spec_file), "--out", str(out), "--no-progress"]
    assert main(argv) == 130
    err = capsys.readouterr().err
    assert err.strip().splitlines()[-1] == (
        f"interrupted: 2 of 6 replicates saved in {out}; run the same command again to resume"
    )
    saved = sorted(out.glob("replicates/*/*.parquet"))
    assert [p.name for p in saved] == ["n0030_r00000.parquet", "n0030_r00001.parquet"]
    assert not any(pd.read_parquet(p)["failed"].any() for p in saved)
    assert hidden_entries(out) == []
    assert not (out / "metrics.csv").exists()

    monkeypatch.setitem(study._FREQUENTIST_FITS, "firth", real_firth)
    assert main(argv) == 0
    assert "resuming: 2 of 6 replicates already in" in capsys.readouterr().out
    whole = study.run_study(
        study.load_study_spec(spec_file), tmp_path / "whole", progress=False, figures=False
    )
    pd.testing.assert_frame_equal(
        pd.read_csv(out / "metrics.csv"), pd.read_csv(whole.out / "metrics.csv")
    )


def test_study_interrupted_while_writing_its_metrics(tmp_path, monkeypatch, capsys):
    spec_file = tmp_path / "study.toml"
    spec_file.write_text(SMALL_STUDY)
    out = tmp_path / "out"
    real_figures = study._save_figures

    def figures_then_ctrl_c(*args, **kwargs):
        written = real_figures(*args, **kwargs)
        press_ctrl_c()
        return written

    monkeypatch.setattr(study, "_save_figures", figures_then_ctrl_c)
    argv = ["study", str(spec_file), "--out", str(out), "--no-progress"]
    assert main(argv) == 130
    err = capsys.readouterr().err
    assert err.strip().splitlines()[-1] == (
        f"interrupted: 6 of 6 replicates saved in {out}; run the same command again to resume"
    )
    assert hidden_entries(out) == []
    monkeypatch.setattr(study, "_save_figures", real_figures)
    assert main(argv) == 0
    assert "0 replicates computed" in capsys.readouterr().out


# --------------------------------------------------------------------------- subprocesses


class Command:
    """A ``bayes-cluster`` subprocess in its own process group, stderr read as it comes."""

    def __init__(self, *args: str, cwd: Path) -> None:
        self.stdout = cwd / "stdout.txt"
        with self.stdout.open("wb") as stdout:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "bayes_cluster.cli", *args],
                cwd=cwd,
                stdout=stdout,
                stderr=subprocess.PIPE,
                start_new_session=True,  # its own group: Ctrl-C reaches it and its workers
            )
        self.err = ""
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for chunk in iter(lambda: self.process.stderr.read1(4096), b""):
            with self._lock:
                self.err += chunk.decode(errors="replace")

    def wait_for(self, pattern: str, timeout: float = 600) -> re.Match:
        """Wait until stderr matches ``pattern`` (the readiness line of a phase)."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                found = re.search(pattern, self.err)
            if found:
                return found
            assert self.process.poll() is None, f"exited before {pattern!r}:\n{self.err}"
            assert time.monotonic() < deadline, f"no {pattern!r} in time:\n{self.err}"
            time.sleep(0.05)

    def children(self) -> list[int]:
        path = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [int(pid) for pid in path.read_text().split()] if path.exists() else []

    def ctrl_c(self) -> float:
        """Press Ctrl-C; wait for the exit; return the seconds it took to stop."""
        pressed = time.monotonic()
        os.killpg(self.process.pid, signal.SIGINT)
        self.process.wait(timeout=120)
        seconds = time.monotonic() - pressed
        self.close()
        return seconds

    def close(self) -> None:
        self._reader.join(timeout=10)
        self.process.stderr.close()

    @property
    def out(self) -> str:
        return self.stdout.read_text()

    def last_line(self) -> str:
        return self.err.strip().splitlines()[-1]


def alive(pid: int) -> bool:
    status = Path(f"/proc/{pid}/status")
    try:
        state = next(line for line in status.read_text().splitlines() if line.startswith("State"))
    except (FileNotFoundError, ProcessLookupError, StopIteration):
        return False
    return "zombie" not in state


RUN_PHASES = {
    # phase: (extra options, the line printed when the phase starts)
    "import": ((), r"60 firms -> "),  # next: importing the frequentist stack
    "compile": ((), r"logit: Bayesian bayes \(no grouping; MCMC\)"),  # import PyMC, compile
    "sampling": (("--progressbar",), r"NUTS: \[alpha_std, beta_std\]"),  # PyMC's own line
    # the power-scaling check of the draws: in the spec without a variant (one_logit_spec)
    # it starts after one MCMC fit, where the PSIS-LOO comparison waits for two
    "post-processing": ((), r"logit: prior sensitivity \(power-scaling\)"),
}


@pytest.fixture(scope="module")
def one_logit_spec(tmp_path_factory) -> Path:
    """LOGIT_SPEC without its varying-intercept variant: one Bayesian logit, then its checks."""
    text = LOGIT_SPEC.read_text(encoding="utf-8")
    variant = '[logistic.variants.hierarchical]\ngroup = "product_line"\n'
    data = 'path = "../data/tumang_synthetic.csv"'
    assert variant in text and data in text
    absolute = (LOGIT_SPEC.parent / "../data/tumang_synthetic.csv").resolve().as_posix()
    text = text.replace(variant, "").replace(data, f'path = "{absolute}"')
    path = tmp_path_factory.mktemp("one_logit") / "one_logit.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.slow
@pytest.mark.parametrize("phase", list(RUN_PHASES))
def test_ctrl_c_stops_a_run_at_every_phase(phase, tmp_path, one_logit_spec):
    options, ready = RUN_PHASES[phase]
    spec = one_logit_spec if phase == "post-processing" else LOGIT_SPEC
    out = tmp_path / "results"
    kept = previous_run(out)
    command = Command("run", str(spec), "--out", str(out), "--quick", *options, cwd=tmp_path)
    command.wait_for(ready)
    seconds = command.ctrl_c()
    assert command.process.returncode == 130, command.err
    assert seconds < 30, f"took {seconds:.1f} s to stop"
    assert "Traceback" not in command.err
    assert "KeyboardInterrupt" not in command.err
    assert command.last_line() == (
        f"interrupted: nothing of this run was kept (the previous results in {out} are "
        "unchanged); run the same command again to start it over"
    )
    assert "finished" not in command.out and "fits passed" not in command.out
    if "--progressbar" not in options:  # PyMC's own log lines stay out of the progress
        assert "Initializing NUTS" not in command.err
        assert "Sequential sampling" not in command.err
    assert contents(out) == kept
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results", "stdout.txt"]


def study_spec(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "study.toml"
    path.write_text(text)
    return path


@pytest.mark.slow
def test_ctrl_c_stops_a_study_while_it_compiles(tmp_path):
    spec_file = study_spec(
        tmp_path,
        '[study]\nsizes = [30]\nreplicates = 3\nmethods = ["bayes"]\nseed = 2\n'
        "[sampler]\ndraws = 100\ntune = 100\nchains = 2\n",
    )
    out = tmp_path / "out"
    command = Command("study", str(spec_file), "--out", str(out), cwd=tmp_path)
    command.wait_for(r"study: computing 3 of 3 replicates")  # next: import, build, compile
    seconds = command.ctrl_c()
    assert command.process.returncode == 130, command.err
    assert seconds < 30, f"took {seconds:.1f} s to stop"
    assert "Traceback" not in command.err
    assert command.last_line() == (
        f"interrupted: 0 of 3 replicates saved in {out}; run the same command again to resume"
    )
    assert sorted(p.name for p in out.iterdir()) == ["study.json"]


@pytest.mark.slow
def test_ctrl_c_stops_bayesian_workers_mid_sampling(tmp_path):
    spec_file = study_spec(
        tmp_path,
        '[study]\nsizes = [40]\nreplicates = 30\nmethods = ["mle", "bayes"]\nseed = 2\n'
        "[sampler]\ndraws = 200\ntune = 200\nchains = 2\n",
    )
    out = tmp_path / "out"
    command = Command("study", str(spec_file), "--out", str(out), "--workers", "2", cwd=tmp_path)
    command.wait_for(r"\| *[1-9]\d*/30 \[")  # a worker has compiled and is sampling the next
    workers = command.children()
    seconds = command.ctrl_c()
    assert command.process.returncode == 130, command.err
    assert seconds < 30, f"took {seconds:.1f} s to stop"
    assert "Traceback" not in command.err
    saved = sorted(out.glob("replicates/*/*.parquet"))
    assert command.last_line() == (
        f"interrupted: {len(saved)} of 30 replicates saved in {out}; "
        "run the same command again to resume"
    )
    assert 0 < len(saved) < 30
    rows = pd.concat([pd.read_parquet(p) for p in saved])
    assert not rows["failed"].any(), rows.loc[rows["failed"], "note"].tolist()
    assert hidden_entries(out) == []
    assert not (out / "metrics.csv").exists()
    time.sleep(1)  # let the terminated workers be reaped
    assert not [pid for pid in workers if alive(pid)]


@pytest.mark.slow
def test_ctrl_c_to_the_parent_alone_stops_the_workers(tmp_path):
    """``kill -INT PID`` of the parent only: it must stop its workers itself."""
    spec_file = study_spec(
        tmp_path,
        '[study]\nsizes = [60]\nreplicates = 400\nmethods = ["mle", "firth"]\nseed = 9\n',
    )
    out = tmp_path / "out"
    command = Command("study", str(spec_file), "--out", str(out), "--workers", "2", cwd=tmp_path)
    command.wait_for(r"\| *[1-9]\d*/400 \[")
    workers = command.children()
    assert workers, "no worker processes"
    pressed = time.monotonic()
    command.process.send_signal(signal.SIGINT)
    command.process.wait(timeout=120)
    assert time.monotonic() - pressed < 30
    command.close()
    assert command.process.returncode == 130, command.err
    saved = len(list(out.glob("replicates/*/*.parquet")))
    assert f"interrupted: {saved} of 400 replicates saved in {out}" in command.err
    assert hidden_entries(out) == []
    time.sleep(1)
    assert not [pid for pid in workers if alive(pid)]

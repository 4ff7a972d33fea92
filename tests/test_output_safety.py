"""Output paths and option values that a command must refuse before doing any work.

Issue 11: ``run --out DIR`` emptied a folder holding the user's ``notes.txt`` and
``chapters/ch1.tex``; odd paths failed only after the whole run. Every case of the corpus
below asserts the exit status, that no traceback was printed, that the message names the
path or option, and that nothing changed on disk (a snapshot of names, sizes, mtimes and
modes of the whole sandbox, before and after).
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from bayes_cluster.cli import main
from bayes_cluster.run import pipeline
from bayes_cluster.run.context import SectionRunner
from bayes_cluster.run.safety import PACKAGE, OutputFolderError, check_output_folder

REPO_ROOT = Path(__file__).resolve().parents[1]
LOGIT_SPEC = REPO_ROOT / "models" / "tumang_logit_only.toml"
STUDY_SPEC = '[study]\nsizes = [30]\nreplicates = 2\nmethods = ["mle"]\nseed = 5\n'


def snapshot(root: Path) -> dict[str, tuple]:
    """Every entry under ``root`` (root included): type, size, mtime and mode."""
    entries = {}
    for path in [root, *sorted(root.rglob("*"))]:
        info = path.lstat()
        kind = "link" if stat.S_ISLNK(info.st_mode) else "dir" if path.is_dir() else "file"
        size = info.st_size if kind == "file" else None
        entries[str(path.relative_to(root))] = (kind, size, info.st_mtime_ns, info.st_mode)
    return entries


def names(folder: Path) -> set[str]:
    return {path.name for path in folder.iterdir()}


@pytest.fixture
def sandbox(tmp_path, monkeypatch):
    """A working folder holding a user's files, a file, an owned run and study folder."""
    box = tmp_path / "box"
    user = box / "thesis"
    (user / "chapters").mkdir(parents=True)
    (user / "notes.txt").write_text("my notes\n")
    (user / "chapters" / "ch1.tex").write_text("\\chapter{One}\n")
    (box / "survey.csv").write_text("firm,export\n1,0\n")
    (box / "study.toml").write_text(STUDY_SPEC)
    foreign = box / "foreign_run"
    foreign.mkdir()
    (foreign / "run.json").write_text(json.dumps({"tool": "another program"}))
    broken = box / "broken_run"
    broken.mkdir()
    (broken / "run.json").write_text("{not json")
    odd = box / "odd_run"
    (odd / "run.json").mkdir(parents=True)
    own_study = box / "own_study"
    own_study.mkdir()
    (own_study / "study.json").write_text(json.dumps({"package": PACKAGE, "fingerprint": {}}))
    own_run = box / "own_run"
    own_run.mkdir()
    (own_run / "run.json").write_text(json.dumps({"package": PACKAGE}))
    (box / "link_to_run").symlink_to(own_run)
    project = box / "project"
    (project / ".git").mkdir(parents=True)
    (project / "pyproject.toml").write_text("[project]\nname = 'mine'\n")
    (box / "work" / "inner").mkdir(parents=True)
    monkeypatch.chdir(box / "work" / "inner")
    return box


@dataclass(frozen=True)
class Case:
    """One command line that must be refused: argv from the sandbox, status, message."""

    argv: Callable[[Path], list[str]]
    status: int
    message: Callable[[Path], str]


def run(out: str, *extra: str) -> list[str]:
    return ["run", str(LOGIT_SPEC), "--out", out, "--quick", *extra]


def study(box: Path, out: str, *extra: str) -> list[str]:
    return ["study", str(box / "study.toml"), "--out", out, "--no-progress", *extra]


def simulate(out: str, *extra: str) -> list[str]:
    return ["simulate", "--out", out, *extra]


NOT_OURS = "holds files that bayes-cluster did not write"
CASES: dict[str, Case] = {
    # --- run: existing folders or files it did not write (the lost thesis)
    "run-user-folder": Case(
        lambda b: run(str(b / "thesis")), 1, lambda b: f"--out {b / 'thesis'}: {NOT_OURS}"
    ),
    "run-user-folder-relative": Case(
        lambda b: run("../../thesis"), 1, lambda b: f"--out ../../thesis: {NOT_OURS}"
    ),
    "run-foreign-run-json": Case(
        lambda b: run(str(b / "foreign_run")), 1, lambda b: f"{b / 'foreign_run'}: {NOT_OURS}"
    ),
    "run-broken-run-json": Case(
        lambda b: run(str(b / "broken_run")), 1, lambda b: f"{b / 'broken_run'}: {NOT_OURS}"
    ),
    "run-run-json-is-a-folder": Case(
        lambda b: run(str(b / "odd_run")), 1, lambda b: f"{b / 'odd_run'}: {NOT_OURS}"
    ),
    "run-study-folder": Case(
        lambda b: run(str(b / "own_study")), 1, lambda b: f"{b / 'own_study'}: {NOT_OURS}"
    ),
    "run-existing-file": Case(
        lambda b: run(str(b / "survey.csv")),
        1,
        lambda b: f"--out {b / 'survey.csv'}: is an existing file, not a folder",
    ),
    "run-symlink": Case(
        lambda b: run(str(b / "link_to_run")),
        1,
        lambda b: f"--out {b / 'link_to_run'}: is a symbolic link",
    ),
    # --- run: folders no command may replace
    "run-dot": Case(lambda b: run("."), 1, lambda b: "--out .: is the current folder"),
    "run-dot-slash": Case(lambda b: run("./"), 1, lambda b: "--out .: is the current folder"),
    "run-empty-string": Case(lambda b: run(""), 1, lambda b: "--out .: is the current folder"),
    "run-dotdot": Case(
        lambda b: run(".."), 1, lambda b: "--out ..: is a parent of the current folder"
    ),
    "run-cwd-absolute": Case(
        lambda b: run(str(b / "work" / "inner")),
        1,
        lambda b: f"--out {b / 'work' / 'inner'}: is the current folder",
    ),
    "run-ancestor": Case(
        lambda b: run(str(b)), 1, lambda b: f"--out {b}: is a parent of the current folder"
    ),
    "run-root": Case(lambda b: run("/"), 1, lambda b: "--out /: is the root of the file system"),
    "run-home": Case(
        lambda b: run(str(Path.home())), 1, lambda b: f"--out {Path.home()}: is your home folder"
    ),
    "run-project-root": Case(
        lambda b: run(str(b / "project")),
        1,
        lambda b: f"--out {b / 'project'}: is a project folder",
    ),
    "run-this-repository": Case(
        lambda b: run(str(REPO_ROOT)), 1, lambda b: f"--out {REPO_ROOT}: is a project folder"
    ),
    "run-under-a-file": Case(
        lambda b: run(str(b / "survey.csv" / "results")),
        1,
        lambda b: f"{b / 'survey.csv'} is a file, not a folder",
    ),
    "run-deep-under-a-file": Case(
        lambda b: run(str(b / "thesis" / "notes.txt" / "a" / "b")),
        1,
        lambda b: f"{b / 'thesis' / 'notes.txt'} is a file, not a folder",
    ),
    "run-nul-character": Case(
        lambda b: run("res\x00ults"), 1, lambda b: "the path holds a NUL character"
    ),
    # --- study: adds to a folder only if a study of this package wrote it
    "study-user-folder": Case(
        lambda b: study(b, str(b / "thesis")), 1, lambda b: f"{b / 'thesis'}: {NOT_OURS}"
    ),
    "study-run-folder": Case(
        lambda b: study(b, str(b / "own_run")), 1, lambda b: f"{b / 'own_run'}: {NOT_OURS}"
    ),
    "study-existing-file": Case(
        lambda b: study(b, str(b / "survey.csv")),
        1,
        lambda b: f"--out {b / 'survey.csv'}: is an existing file, not a folder",
    ),
    "study-under-a-file": Case(
        lambda b: study(b, str(b / "survey.csv" / "out")),
        1,
        lambda b: f"{b / 'survey.csv'} is a file, not a folder",
    ),
    "study-dot": Case(lambda b: study(b, "."), 1, lambda b: "--out .: is the current folder"),
    "study-dotdot": Case(
        lambda b: study(b, ".."), 1, lambda b: "--out ..: is a parent of the current folder"
    ),
    "study-root": Case(
        lambda b: study(b, "/"), 1, lambda b: "--out /: is the root of the file system"
    ),
    "study-project-root": Case(
        lambda b: study(b, str(b / "project")), 1, lambda b: "is a project folder"
    ),
    # --- study: option values out of range
    "study-workers-0": Case(
        lambda b: study(b, str(b / "new"), "--workers", "0"),
        2,
        lambda b: "--workers must be between 1 and 256, got 0",
    ),
    "study-workers-negative": Case(
        lambda b: study(b, str(b / "new"), "--workers", "-3"),
        2,
        lambda b: "--workers must be between 1 and 256, got -3",
    ),
    "study-workers-huge": Case(
        lambda b: study(b, str(b / "new"), "--workers", "100000"),
        2,
        lambda b: "--workers must be between 1 and 256, got 100000",
    ),
    "study-workers-not-a-number": Case(
        lambda b: study(b, str(b / "new"), "--workers", "two"),
        2,
        lambda b: "argument --workers: invalid int value: 'two'",
    ),
    # --- simulate: an existing file is never overwritten
    "simulate-existing-file": Case(
        lambda b: simulate(str(b / "survey.csv")),
        1,
        lambda b: (
            f"--out {b / 'survey.csv'}: exists; it is left untouched. Name a new file, "
            "or remove this one yourself first"
        ),
    ),
    "simulate-existing-user-file": Case(
        lambda b: simulate(str(b / "thesis" / "notes.txt"), "--n", "30"),
        1,
        lambda b: f"--out {b / 'thesis' / 'notes.txt'}: exists; it is left untouched",
    ),
    "simulate-folder": Case(
        lambda b: simulate(str(b / "thesis")),
        1,
        lambda b: f"--out {b / 'thesis'}: is a folder; name a file",
    ),
    "simulate-force-is-no-option": Case(
        lambda b: simulate(str(b / "survey.csv"), "--force"),
        2,
        lambda b: "unrecognized arguments: --force",
    ),
    "simulate-trailing-slash": Case(
        lambda b: simulate(f"{b / 'new'}/"), 1, lambda b: f"--out {b / 'new'}/: names a folder"
    ),
    "simulate-dot": Case(lambda b: simulate("."), 1, lambda b: "--out .: names a folder"),
    "simulate-under-a-file": Case(
        lambda b: simulate(str(b / "survey.csv" / "x.csv")),
        1,
        lambda b: f"{b / 'survey.csv'} is a file, not a folder",
    ),
    "simulate-missing-folder": Case(
        lambda b: simulate(str(b / "nowhere" / "x.csv")),
        1,
        lambda b: f"directory {b / 'nowhere'} does not exist",
    ),
    "simulate-symlink": Case(
        lambda b: simulate(str(b / "link_to_run")),
        1,
        lambda b: f"--out {b / 'link_to_run'}: is a folder",
    ),
    "simulate-nul-character": Case(
        lambda b: simulate("x\x00.csv"), 1, lambda b: "the path holds a NUL character"
    ),
    # --- simulate: option values out of range
    "simulate-n-0": Case(
        lambda b: simulate(str(b / "new.csv"), "--n", "0"),
        1,
        lambda b: "--n must be at least 2, got 0",
    ),
    "simulate-n-1": Case(
        lambda b: simulate(str(b / "new.csv"), "--n", "1"),
        1,
        lambda b: "--n must be at least 2, got 1",
    ),
    "simulate-n-negative": Case(
        lambda b: simulate(str(b / "new.csv"), "--n", "-60"),
        1,
        lambda b: "--n must be at least 2, got -60",
    ),
    "simulate-n-huge": Case(
        lambda b: simulate(str(b / "new.csv"), "--n", "1000000000"),
        1,
        lambda b: "--n must be at most 100,000, got 1000000000",
    ),
    "simulate-n-not-a-number": Case(
        lambda b: simulate(str(b / "new.csv"), "--n", "many"),
        2,
        lambda b: "argument --n: invalid int value: 'many'",
    ),
    "simulate-seed-negative": Case(
        lambda b: simulate(str(b / "new.csv"), "--seed", "-1"),
        1,
        lambda b: "--seed must be a non-negative integer, got -1",
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_refused_before_any_work_and_nothing_changes(name, sandbox, capsys):
    case = CASES[name]
    root = Path("/")
    before, root_before = snapshot(sandbox), names(root)
    status = main(case.argv(sandbox))
    captured = capsys.readouterr()
    assert status == case.status, captured.err
    assert "Traceback" not in captured.err
    # one message, naming the path or option; nothing on stdout
    assert case.message(sandbox) in " ".join(captured.err.split()), captured.err
    assert captured.out == ""
    assert snapshot(sandbox) == before
    assert names(root) == root_before


# --------------------------------------------------------------------------- read-only folders


READ_ONLY_CASES = {
    "run-in-read-only-folder": (
        lambda b: run(str(b / "locked" / "results")),
        "--out {b}/locked/results: cannot create it, the folder {b}/locked is not writable",
    ),
    "study-in-read-only-folder": (
        lambda b: study(b, str(b / "locked" / "study")),
        "--out {b}/locked/study: cannot create it, the folder {b}/locked is not writable",
    ),
    "simulate-in-read-only-folder": (
        lambda b: simulate(str(b / "locked" / "survey.csv")),
        "--out {b}/locked/survey.csv: the folder {b}/locked is not writable",
    ),
    "run-read-only-own-folder": (
        lambda b: run(str(b / "locked" / "own_run")),
        "--out {b}/locked/own_run: is not writable (or its folder {b}/locked is not)",
    ),
}


@pytest.fixture
def locked_sandbox(tmp_path):
    """A sandbox with a read-only folder ``locked`` (and a read-only own run inside)."""
    box = tmp_path / "box"
    box.mkdir()
    (box / "study.toml").write_text(STUDY_SPEC)
    (box / "locked" / "own_run").mkdir(parents=True)
    (box / "locked" / "own_run" / "run.json").write_text(json.dumps({"package": PACKAGE}))
    (box / "locked" / "own_run").chmod(0o555)
    (box / "locked").chmod(0o555)
    yield box
    (box / "locked").chmod(0o755)
    (box / "locked" / "own_run").chmod(0o755)


def without_privileges() -> list[str]:
    """Command prefix that runs a command without root's power to ignore permissions."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv: a read-only folder is writable to root")
    # an empty capability bounding set: uid 0 keeps its files but not CAP_DAC_OVERRIDE
    return [setpriv, "--bounding-set=-all", "--"]


@pytest.mark.parametrize("name", list(READ_ONLY_CASES))
def test_read_only_folders_are_refused_before_any_work(name, locked_sandbox):
    argv, message = READ_ONLY_CASES[name]
    box = locked_sandbox
    before = snapshot(box)
    result = subprocess.run(
        [*without_privileges(), sys.executable, "-m", "bayes_cluster.cli", *argv(box)],
        capture_output=True,
        text=True,
        cwd=box,
        timeout=300,
        check=False,
    )
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert message.format(b=box) in " ".join(result.stderr.split())
    assert snapshot(box) == before


# --------------------------------------------------------------------------- what is accepted


def test_run_replaces_only_its_own_folder_with_the_users_umask(tmp_path, monkeypatch, capsys):
    """No MCMC here: the sections are left out, the folder handling is the point."""
    monkeypatch.setattr(pipeline, "SECTIONS", ())
    monkeypatch.chdir(tmp_path)
    previous_umask = os.umask(0o027)
    try:
        assert main(["run", str(LOGIT_SPEC), "--out", "results/logit"]) == 0
        out = tmp_path / "results" / "logit"
        assert stat.S_IMODE(out.stat().st_mode) == 0o750  # not mkdtemp's 0700
        record = json.loads((out / "run.json").read_text())
        assert record["package"] == PACKAGE
        written = sorted(names(out))
        assert "report.html" in written and "run.json" in written
        assert record["files"] == written  # every file of the run, run.json included
        # a file the user saved into the results folder makes it theirs too: refused
        (out / "notes.txt").write_text("my reading of the report")
        before = snapshot(out)
        assert main(["run", str(LOGIT_SPEC), "--out", "results/logit"]) == 1
        assert snapshot(out) == before
        assert (
            "--out results/logit: holds files the earlier run did not write (notes.txt); it "
            "is left untouched. Move them elsewhere, or name a new folder"
        ) in " ".join(capsys.readouterr().err.split())
        (out / "notes.txt").unlink()
        # a file an earlier version of the run wrote (listed in run.json) is not the user's
        (out / "stale.txt").write_text("from the first run")
        record["files"].append("stale.txt")
        (out / "run.json").write_text(json.dumps(record))
        # its own folder is replaced as a whole ...
        assert main(["run", str(LOGIT_SPEC), "--out", "results/logit"]) == 0
        assert sorted(names(out)) == written  # stale.txt is gone with the old results
        assert names(tmp_path / "results") == {"logit"}  # no hidden partial/previous folder
        # ... an empty folder is accepted, and the default folder is results/<spec stem>
        (tmp_path / "empty").mkdir()
        assert main(["run", str(LOGIT_SPEC), "--out", "empty"]) == 0
        assert main(["run", str(LOGIT_SPEC)]) == 0
        assert (tmp_path / "results" / "tumang_logit_only" / "run.json").exists()
    finally:
        os.umask(previous_umask)
    assert "Traceback" not in capsys.readouterr().err


def test_folder_filled_during_the_run_is_not_replaced(tmp_path, monkeypatch):
    out = tmp_path / "results"

    def user_saves_a_file(context):
        out.mkdir()
        (out / "draft.docx").write_text("written while the run was going")

    monkeypatch.setattr(
        pipeline, "SECTIONS", (SectionRunner("user", lambda spec: True, user_saves_a_file),)
    )
    with pytest.raises(pipeline.PipelineError, match="it changed during the run"):
        pipeline.run_spec(LOGIT_SPEC, out=out, stream=None)
    assert names(out) == {"draft.docx"}
    assert names(tmp_path) == {"results"}


def test_check_output_folder_messages_name_the_option(tmp_path):
    (tmp_path / "a.txt").write_text("x")
    with pytest.raises(OutputFolderError) as error:
        check_output_folder(tmp_path, option="out", marker="study.json", action="add to")
    assert str(error.value) == (
        f"out {tmp_path}: holds files that bayes-cluster did not write (no study.json of this "
        "package in it); it is left untouched. A command may add to only a folder it wrote "
        "itself: name a new or empty folder"
    )
    assert check_output_folder(tmp_path / "new" / "deeper", option="--out", marker="x") == (
        tmp_path / "new" / "deeper"
    )
    assert not (tmp_path / "new").exists()


def test_simulate_writes_a_new_file_and_never_an_existing_one(tmp_path, capsys):
    target = tmp_path / "survey.csv"
    assert main(["simulate", "--n", "30", "--out", str(target)]) == 0
    assert target.read_text().startswith("firm_id,")
    written = target.read_bytes()
    assert main(["simulate", "--n", "40", "--out", str(target)]) == 1
    assert target.read_bytes() == written
    assert names(tmp_path) == {"survey.csv"}
    assert "exists; it is left untouched" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["run", "study", "simulate"])
def test_help_says_what_out_may_replace(command, capsys):
    assert main([command, "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    if command == "simulate":
        assert "An existing file is never overwritten" in text
    else:
        assert "a folder holding other files, the current folder or a parent of it" in text
        assert "refused before any work starts" in text

"""The ``bayes-cluster`` command line: exit codes and what it prints."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bayes_cluster.cli import main
from bayes_cluster.surveys.survey import load_survey, tumang_data_path


def _bad_survey(tmp_path) -> Path:
    lines = tumang_data_path().read_text(encoding="utf-8").splitlines()[:9]
    cells = lines[2].split(",")
    cells[2] = "lima"  # workers of T002
    lines[2] = ",".join(cells)
    cells = lines[5].split(",")
    cells[1] = "ekspor"  # export of T005
    lines[5] = ",".join(cells)
    path = tmp_path / "bad.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("command", [[], ["validate"], ["simulate"]])
def test_help_on_every_command(capsys, command):
    assert main([*command, "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: bayes-cluster {' '.join(command)}".rstrip())
    assert "--help" in out


def test_simulate_help_states_the_bundled_seed(capsys):
    from bayes_cluster.surveys.simulate import DEFAULT_SEED

    assert main(["simulate", "--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())  # argparse wraps to the terminal width
    assert f"random seed (default {DEFAULT_SEED}, as the bundled data)" in out


def test_simulate_default_seed_is_the_bundled_one(tmp_path, capsys):
    out = tmp_path / "default.csv"
    assert main(["simulate", "--out", str(out)]) == 0
    assert out.read_bytes() == tumang_data_path().read_bytes()


def test_usage_errors_exit_2(capsys):
    assert main([]) == 2
    assert "the following arguments are required: COMMAND" in capsys.readouterr().err
    assert main(["frobnicate"]) == 2
    assert "invalid choice: 'frobnicate'" in capsys.readouterr().err
    assert main(["simulate"]) == 2
    assert "the following arguments are required: --out" in capsys.readouterr().err


def test_validate_valid_file_prints_summary(capsys):
    path = tumang_data_path()
    assert main(["validate", str(path)]) == 0
    out = capsys.readouterr().out
    frame = load_survey(path)
    exporters = int(frame["export"].sum())
    assert f"{path}: valid survey\n" in out
    assert "firms: 60\n" in out
    assert f"export: {exporters} exporters (1), {60 - exporters} domestic (0)\n" in out
    workers = f"range {frame['workers'].min()} to {frame['workers'].max()}"
    assert any(line.split()[0] == "workers" and workers in line for line in out.splitlines()[4:])
    assert "product_line           category  4 distinct values" in out


def test_validate_invalid_file_lists_every_problem(tmp_path, capsys):
    path = _bad_survey(tmp_path)
    assert main(["validate", str(path)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (
        "INVALID: survey failed validation with 2 problems:\n"
        f"  - {path}, row 3, column 'workers': not a number: got 'lima'; "
        "expected a whole number >= 1\n"
        f"  - {path}, row 6, column 'export': not 0/1: got 'ekspor'; expected 0 or 1\n"
    )
    assert "Traceback" not in captured.err


def test_validate_missing_file(tmp_path, capsys):
    path = tmp_path / "absent.csv"
    assert main(["validate", str(path)]) == 1
    assert capsys.readouterr().err == (
        "INVALID: survey failed validation with 1 problem:\n"
        f"  - {path}: file not found; expected an existing file: a .csv, .tsv or .txt text "
        "table or an .xlsx workbook\n"
    )


def test_validate_outcome_labels(tmp_path, capsys):
    lines = tumang_data_path().read_text(encoding="utf-8").splitlines()
    relabelled = [lines[0]]
    for line in lines[1:]:
        cells = line.split(",")
        cells[1] = {"1": "ekspor", "0": "domestik"}[cells[1]]
        relabelled.append(",".join(cells))
    path = tmp_path / "labels.csv"
    path.write_text("\n".join(relabelled) + "\n", encoding="utf-8")
    assert main(["validate", str(path)]) == 1
    capsys.readouterr()
    assert main(["validate", str(path), "--outcome-labels", "ekspor=1", "domestik=0"]) == 0
    exporters = int(load_survey(tumang_data_path())["export"].sum())
    assert f"export: {exporters} exporters (1)" in capsys.readouterr().out
    assert main(["validate", str(path), "--outcome-labels", "ekspor"]) == 2
    assert "expected LABEL=0 or LABEL=1, got 'ekspor'" in capsys.readouterr().err


def test_validate_missing_drop_lists_dropped_rows(tmp_path, capsys):
    lines = tumang_data_path().read_text(encoding="utf-8").splitlines()
    lines[4] = lines[4].replace(",household_utensils,", ",,")
    path = tmp_path / "gap.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert main(["validate", str(path), "--missing", "drop"]) == 0
    out = capsys.readouterr().out
    assert f"note: {path}: dropped 1 row(s) with missing values (missing='drop'): rows 5\n" in out
    assert "firms: 59\n" in out


def test_simulate_writes_the_bundled_file(tmp_path, capsys):
    out = tmp_path / "tumang.csv"
    assert main(["simulate", "--n", "60", "--seed", "2028", "--out", str(out)]) == 0
    assert out.read_bytes() == tumang_data_path().read_bytes()
    exporters = int(load_survey(out)["export"].sum())
    assert capsys.readouterr().out == (
        f"wrote 60 synthetic firms ({exporters} exporters, {60 - exporters} domestic; "
        f"seed 2028) to {out}\n"
    )


def test_simulate_bad_arguments(tmp_path, capsys):
    assert main(["simulate", "--n", "1", "--out", str(tmp_path / "x.csv")]) == 1
    assert capsys.readouterr().err == "error: --n must be at least 2, got 1\n"
    missing_dir = tmp_path / "nowhere" / "x.csv"
    assert main(["simulate", "--out", str(missing_dir)]) == 1
    assert capsys.readouterr().err == f"error: directory {missing_dir.parent} does not exist\n"
    assert not missing_dir.parent.exists()
    assert main(["simulate", "--n", "many", "--out", "x.csv"]) == 2
    assert "argument --n: invalid int value: 'many'" in capsys.readouterr().err


def test_installed_console_script():
    script = shutil.which("bayes-cluster", path=str(Path(sys.executable).parent))
    assert script is not None, "console script bayes-cluster is not installed"
    result = subprocess.run(
        [script, "--help"], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: bayes-cluster")
    assert "validate" in result.stdout and "simulate" in result.stdout


def test_the_console_script_is_main_then_a_frozen_heap(monkeypatch):
    """``bayes-cluster`` runs cli.main and returns its status (130 after Ctrl-C too); only
    then is the heap frozen (gc.freeze), so that Python's shut-down does not walk it with
    the garbage collector again (1.1 s after the README run, docs/user_guide.md)."""
    import gc
    import tomllib

    from bayes_cluster import cli

    order: list[str] = []
    monkeypatch.setattr(cli, "main", lambda: order.append("main") or 130)
    monkeypatch.setattr(gc, "freeze", lambda: order.append("freeze"))
    assert cli.entry_point() == 130
    assert order == ["main", "freeze"]
    pyproject = Path(__file__).resolve().parents[1] / "pyproject.toml"
    scripts = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]["scripts"]
    assert scripts == {"bayes-cluster": "bayes_cluster.cli:entry_point"}

"""Fuzz corpus: malformed surveys, specs and command lines end in a clear message.

Every case runs the command line (in-process through ``bayes_cluster.cli.main``; a few
through a real subprocess) and asserts the exit code, that no traceback is printed, that
the message names the file and the row/column or the spec key, and the offending value,
and that nothing outside the output folder changed (the case's folder, the bundled data
and specs are compared byte for byte before and after).

Classes of input (the counts are asserted at the end of the module):

- ``numbers``: numbers written the wrong way (overflow, huge, Python/Unicode spellings,
  ambiguous or mixed decimal marks), and the same written right;
- ``survey``: other malformed surveys (encodings, structure, missing optional extras);
- ``feasibility``: valid surveys that cannot support the spec's analyses;
- ``sampler``: the smallest and largest sampler settings;
- ``priors``: prior families that cannot serve the parameter, bad parameters;
- ``spec``: other malformed spec keys and spec files in other encodings;
- ``cli``: command-line arguments out of range.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bayes_cluster.cli import main

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data" / "tumang_synthetic.csv"
REPO_SPEC = ROOT / "models" / "tumang.toml"
LINES = DATA.read_text(encoding="utf-8").splitlines()
HEADER = LINES[0].split(",")
CASES: dict[str, int] = {}


def fingerprint(*folders: Path) -> dict[str, str]:
    """Path -> content hash of every file under the folders (and the folders themselves)."""
    state = {}
    for folder in folders:
        for path in sorted(folder.rglob("*")):
            key = str(path)
            state[key] = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "/"
    return state


def cli(args: list[str], folder: Path, capsys, code: int) -> str:
    """Run the CLI in `folder`; assert the exit code, no traceback, nothing else written."""
    before = fingerprint(folder, ROOT / "data", ROOT / "models")
    cwd = os.getcwd()
    os.chdir(folder)
    try:
        got = main(args)
    finally:
        os.chdir(cwd)
    out, err = capsys.readouterr()
    text = out + err
    assert got == code, text
    assert "Traceback" not in text
    assert fingerprint(folder, ROOT / "data", ROOT / "models") == before
    return text


def survey_lines(
    cells: dict[tuple[int, str], str] | None = None, rows: int = 60
) -> list[list[str]]:
    """The cells of the bundled survey (header + `rows` firms), some replaced.

    `cells` maps (line number, header = 1; column) to the new text.
    """
    lines = [line.split(",") for line in LINES[: rows + 1]]
    for (line, column), value in (cells or {}).items():
        lines[line - 1][HEADER.index(column)] = value
    return lines


def write_survey(
    folder: Path, lines: list[list[str]], sep: str = ",", name: str = "s.csv"
) -> Path:
    path = folder / name
    path.write_text("\n".join(sep.join(line) for line in lines) + "\n", encoding="utf-8")
    return path


def write_spec(folder: Path, text: str, name: str = "spec.toml") -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def spec_text(data: Path = DATA, extra: str = "", predictors: str = '"workers", "promotion"'):
    return (
        f'[data]\npath = "{data.as_posix()}"\n\n[logistic]\noutcome = "export"\n'
        f"predictors = [{predictors}]\n\n{textwrap.dedent(extra)}"
    )


# --------------------------------------------------------------------------- numbers

BAD_NUMBERS = [
    # (column, written, what the message says)
    ("workers", "1_000", "Python digit grouping '1_000' is not a number format; write 1000"),
    ("workers", "1_0", "Python digit grouping '1_0'"),
    ("workers", "١٢", "non-ASCII digits (they would read as 12)"),
    ("firm_age", "１２", "non-ASCII digits (they would read as 12)"),
    ("firm_age", "٣.٥", "non-ASCII digits (they would read as 3.5)"),
    ("workers", "१०", "non-ASCII digits (they would read as 10)"),
    ("firm_age", "1e400", "too large: 1e400 overflows to infinity"),
    ("firm_age", "-1E999", "too large: -1E999 overflows to infinity"),
    ("firm_age", "inf", "not a finite number ('inf' is infinity)"),
    ("firm_age", "-Infinity", "not a finite number ('-Infinity' is infinity)"),
    ("workers", "+inf", "not a finite number ('+inf' is infinity)"),
    ("firm_age", "1e13", "too large: magnitude above 1e+12"),
    ("workers", "9" * 40, "too large: magnitude above 1e+12"),
    ("workers", "99999999999999999999", "too large: magnitude above 1e+12"),
    ("workers", "12abc", "not a number"),
    ("firm_age", "1.2.3", "not a number (two decimal marks '.')"),
    ("workers", "0x1F", "not a number"),
    ("workers", "1 000", "' ' is neither the decimal mark ('.') nor the thousands separator"),
    ("firm_age", "12 ½", "not a number (non-ASCII character '½', U+00BD)"),
    ("firm_age", "1e", "not a number"),
    ("promotion", "2.5", "not a whole number"),
    ("training", "1_1", "Python digit grouping '1_1'"),
    ("export", "١", "non-ASCII digits (they would read as 1)"),
]


@pytest.mark.parametrize(("column", "written", "says"), BAD_NUMBERS)
def test_bad_number_is_refused_by_name(tmp_path, capsys, column, written, says):
    path = write_survey(tmp_path, survey_lines({(4, column): written}))
    text = cli(["validate", str(path)], tmp_path, capsys, 1)
    assert f"{path}, row 4, column {column!r}: {says}" in text
    assert f"got {written!r}" in text


CASES["numbers"] = len(BAD_NUMBERS)

GOOD_NUMBERS = [
    # (separator, cells, declared options, column, shown range)
    (";", {(3, "firm_age"): "12,5", (4, "workers"): "1.000"}, [], "workers", "to 1000"),
    (";", {(3, "firm_age"): "12,5", (4, "firm_age"): "2.500,25"}, [], "firm_age", "to 2500.25"),
    (";", {(4, "workers"): "1.000"}, ["--decimal", ",", "--thousands", "."], "workers", "1000"),
    (";", {(4, "workers"): "1.000.000"}, [], "workers", "to 1e+06"),
    ("\t", {(4, "firm_age"): "0,75"}, [], "firm_age", "range 0.75"),
    (",", {(4, "workers"): '"1,000"'}, [], "workers", "to 1000"),
    (",", {(4, "workers"): "1.000"}, [], "workers", "range 1 to"),
    (";", {(4, "firm_age"): "1e-400"}, [], "firm_age", "range 0 to"),
    (
        ";",
        {(4, "workers"): "1 000"},
        ["--decimal", ",", "--thousands", "space"],
        "workers",
        "1000",
    ),
    ("|", {(4, "firm_age"): "7,5", (5, "firm_age"): "1.234,5"}, [], "firm_age", "1234.5"),
]


@pytest.mark.parametrize(("sep", "cells", "options", "column", "shown"), GOOD_NUMBERS)
def test_locale_number_is_read_as_written(tmp_path, capsys, sep, cells, options, column, shown):
    path = write_survey(tmp_path, survey_lines(cells), sep=sep)
    text = cli(["validate", str(path), *options], tmp_path, capsys, 0)
    line = next(line for line in text.splitlines() if line.strip().startswith(column + " "))
    assert shown in line


CASES["numbers"] += len(GOOD_NUMBERS)

AMBIGUOUS = [
    # (separator, cells, options, (line, column, value), says)
    (";", {(4, "workers"): "1.000"}, [], (4, "workers", "1.000"), "ambiguous number: 1000 if"),
    ("\t", {(5, "workers"): "2.500"}, [], (5, "workers", "2.500"), "ambiguous number: 2500 if"),
    (
        ";",
        {(4, "workers"): "1.000"},
        ["--decimal", ","],
        (4, "workers", "1.000"),
        "'.' is neither the decimal mark (',') nor a declared thousands separator",
    ),
    (
        ";",
        {(3, "firm_age"): "12,5", (6, "firm_age"): "2.5"},
        [],
        (6, "firm_age", "2.5"),
        "decimal mark cannot be told: the file writes decimals both ways",
    ),
    (
        ";",
        {(4, "workers"): "1.00"},
        ["--decimal", ",", "--thousands", "."],
        (4, "workers", "1.00"),
        "malformed digit grouping",
    ),
    (",", {(4, "firm_age"): '"1,5"'}, ["--decimal", "."], (4, "firm_age", "1,5"), "','"),
]


@pytest.mark.parametrize(("sep", "cells", "options", "where", "says"), AMBIGUOUS)
def test_ambiguous_number_is_refused_where_it_is(
    tmp_path, capsys, sep, cells, options, where, says
):
    path = write_survey(tmp_path, survey_lines(cells), sep=sep)
    text = cli(["validate", str(path), *options], tmp_path, capsys, 1)
    line, column, value = where
    assert f"{path}, row {line}, column {column!r}: " in text
    assert says in text
    assert f"got {value!r}" in text


CASES["numbers"] += len(AMBIGUOUS)

CELL_TEXT = st.text(
    alphabet=st.characters(
        blacklist_categories=("Cs", "Cc", "Zl", "Zp"), blacklist_characters=',;"|'
    ),
    max_size=10,
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    value=CELL_TEXT,
    column=st.sampled_from(["workers", "firm_age", "promotion", "training", "export"]),
    sep=st.sampled_from([",", ";"]),
)
def test_any_cell_text_is_read_or_refused_by_name(tmp_path, capsys, value, column, sep):
    path = write_survey(tmp_path, survey_lines({(7, column): value}), sep=sep)
    before = fingerprint(tmp_path)
    code = main(["validate", str(path)])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    assert fingerprint(tmp_path) == before
    if code == 0:
        assert "valid survey" in out
    else:
        assert code == 1, err
        assert f"{path}, row 7, column {column!r}: " in err
        assert f"got {value.strip()!r}" in err


CASES["numbers"] += 40


# --------------------------------------------------------------------------- surveys


def _utf16(folder: Path) -> Path:
    path = folder / "utf16.csv"
    path.write_bytes("\n".join(LINES).encode("utf-16"))
    return path


def _latin1(folder: Path) -> Path:
    path = folder / "latin1.csv"
    lines = survey_lines({(2, "firm_id"): "Société-1"})
    path.write_bytes("\n".join(",".join(line) for line in lines).encode("latin-1"))
    return path


def _bom(folder: Path) -> Path:
    path = folder / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbf" + "\n".join(LINES).encode())
    return path


def _png(folder: Path) -> Path:
    path = folder / "survey.csv"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)))
    return path


def _nul(folder: Path) -> Path:
    path = folder / "nul.csv"
    path.write_bytes(b"firm_id,export\x00\x00\x00,workers\n")
    return path


def _empty(folder: Path) -> Path:
    path = folder / "empty.csv"
    path.write_text("  \n\n", encoding="utf-8")
    return path


def _header_only(folder: Path) -> Path:
    return write_survey(folder, survey_lines()[:1])


def _short_row(folder: Path) -> Path:
    lines = survey_lines()
    lines[4] = lines[4][:-3]
    return write_survey(folder, lines)


def _renamed_column(folder: Path) -> Path:
    lines = survey_lines()
    lines[0] = [name.replace("supplier_network", "suplier_netwrk") for name in lines[0]]
    return write_survey(folder, lines)


def _duplicate_id(folder: Path) -> Path:
    return write_survey(folder, survey_lines({(5, "firm_id"): "T001"}))


def _one_outcome(folder: Path) -> Path:
    return write_survey(folder, survey_lines({(r, "export"): "1" for r in range(2, 62)}))


def _constant_predictor(folder: Path) -> Path:
    return write_survey(folder, survey_lines({(r, "training"): "1" for r in range(2, 62)}))


def _likert_range(folder: Path) -> Path:
    return write_survey(folder, survey_lines({(9, "promotion"): "6"}))


def _negative_count(folder: Path) -> Path:
    return write_survey(folder, survey_lines({(9, "workers"): "-3"}))


def _missing_cell(folder: Path) -> Path:
    return write_survey(folder, survey_lines({(9, "firm_age"): ""}))


def _directory(folder: Path) -> Path:
    path = folder / "a_folder.csv"
    path.mkdir()
    return path


def _absent(folder: Path) -> Path:
    return folder / "absent.csv"


def _broken_xlsx(folder: Path) -> Path:
    path = folder / "survey.xlsx"
    path.write_bytes(b"PK\x03\x04 not really a workbook")
    return path


SURVEYS = [
    # (writer, exit code, text the output holds; "{path}" is the file)
    (_utf16, 0, "{path}: valid survey"),
    (_bom, 0, "{path}: valid survey"),
    (_latin1, 0, "{path}: valid survey"),
    (_png, 1, "{path}: not a table (the file is a PNG image)"),
    (_nul, 1, "{path}: not a table (the file holds binary data)"),
    (_empty, 1, "{path}: file is empty"),
    (_header_only, 1, "{path}: no data rows (header only)"),
    (_short_row, 1, "{path}, row 5: wrong number of fields: got '19 fields'"),
    (_renamed_column, 1, "{path}, row 1, column 'supplier_network': required column missing"),
    (
        _duplicate_id,
        1,
        "{path}, row 5, column 'firm_id': duplicate id (first on row 2): got 'T001'",
    ),
    (_one_outcome, 1, "{path}, column 'export': all 60 firms have export = 1"),
    (_constant_predictor, 1, "{path}, column 'training': constant predictor: every firm has 1"),
    (_likert_range, 1, "{path}, row 9, column 'promotion': out of range: got '6'"),
    (_negative_count, 1, "{path}, row 9, column 'workers': out of range: got '-3'"),
    (_missing_cell, 1, "{path}, row 9, column 'firm_age': missing value: got ''"),
    (_directory, 1, "{path}: is a directory, not a file"),
    (_absent, 1, "{path}: file not found"),
    (_broken_xlsx, 1, "{path}: could not be read as a workbook"),
]


@pytest.mark.parametrize(("writer", "code", "says"), SURVEYS, ids=[s[0].__name__ for s in SURVEYS])
def test_malformed_survey_ends_in_a_clear_message(tmp_path, capsys, writer, code, says):
    path = writer(tmp_path)
    text = cli(["validate", str(path)], tmp_path, capsys, code)
    assert says.format(path=path) in text


def test_xlsx_without_openpyxl_names_the_package(tmp_path, capsys, monkeypatch):
    pytest.importorskip("openpyxl")  # the workbook is written with it; reading is blocked
    import pandas as pd

    path = tmp_path / "survey.xlsx"
    pd.read_csv(DATA).to_excel(path, index=False)
    monkeypatch.setitem(sys.modules, "openpyxl", None)  # as if the extra were not installed
    text = cli(["validate", str(path)], tmp_path, capsys, 1)
    assert f"{path}: reading .xlsx workbooks needs the optional package openpyxl" in text
    assert "pip install openpyxl" in text


def test_device_and_oversized_files_are_not_read(tmp_path, capsys, monkeypatch):
    from bayes_cluster.surveys import survey

    text = cli(["validate", "/dev/zero"], tmp_path, capsys, 1)
    assert "/dev/zero: not a regular file (a device or a pipe)" in text
    monkeypatch.setattr(survey, "MAX_FILE_BYTES", 2 * 10**6)
    path = tmp_path / "huge.csv"
    path.write_bytes(b"x" * (3 * 10**6))
    text = cli(["validate", str(path)], tmp_path, capsys, 1)
    assert f"{path}: too large for a firm survey (3 MB); expected at most 2 MB" in text


CASES["survey"] = len(SURVEYS) + 3


# --------------------------------------------------------------------------- feasibility


def _subset(folder: Path, rows: list[int], cells: dict | None = None) -> Path:
    """A survey of the bundled firms on the given lines (2 = first firm)."""
    lines = survey_lines(cells)
    return write_survey(folder, [lines[0]] + [lines[r - 1] for r in rows], name="small.csv")


ALL_ITEMS = '"mk_small_local_firms", "mk_hub_dependence"'
FEASIBILITY = [
    # (survey rows or None for the bundled file, spec extra, predictors, says)
    (list(range(2, 7)), "", '"workers"', "too few firms for any analysis: got '5 firms'"),
    (
        list(range(2, 14)),
        "",
        '"workers", "firm_age", "buyer_network", "promotion", "technology", '
        '"supplier_network", "mk_cooperation", "mk_local_trade", "mk_long_term_ties", '
        '"mk_external_links", "mk_local_labour", "mk_local_finance"',
        "[logistic].predictors: 13 coefficients (intercept + 12 terms) cannot be estimated "
        "from 12 firms",
    ),
    (
        None,
        f"[latent_class]\nitems = [{ALL_ITEMS}]\nn_classes = [1, 3]\n",
        '"workers"',
        "[latent_class].n_classes: 3 classes are not identified: 26 free parameters but the "
        "2 items' table has 24 degrees of freedom: got '3'",
    ),
    (
        None,
        f"[latent_class]\nitems = [{ALL_ITEMS}]\nn_classes = 2\n"
        "collapse = [[1, 2], [3], [4, 5]]\n",
        '"workers"',
        "[latent_class].n_classes: 2 classes are not identified: 9 free parameters but the "
        "2 items' table has 8 degrees of freedom",
    ),
    (
        list(range(2, 14)),
        '[latent_class]\nitem_prefix = "mk_"\nn_classes = [1, 15]\n',
        '"workers"',
        "[latent_class].n_classes: 15 classes but the 12 firms show only 12 distinct answer "
        "patterns on the 12 items: got '15'; expected at most 12 classes",
    ),
    (
        None,
        f"[joint]\nn_classes = 5\nitems = [{ALL_ITEMS}]\n",
        '"workers"',
        "[joint].n_classes: 5 classes are not identified",
    ),
    (
        "casting",
        '[logistic.variants.h]\ngroup = "product_line"\n',
        '"workers"',
        "[logistic.variants.h].group: varying intercepts need at least two groups: got '1 group'",
    ),
]


@pytest.mark.parametrize(("rows", "extra", "predictors", "says"), FEASIBILITY)
@pytest.mark.parametrize("command", ["validate", "run"])
def test_infeasible_settings_are_refused_up_front(
    tmp_path, capsys, rows, extra, predictors, says, command
):
    if rows is None:
        data = DATA
    elif rows == "casting":
        data = write_survey(
            tmp_path, survey_lines({(r, "product_line"): "casting" for r in range(2, 62)})
        )
    else:
        data = _subset(tmp_path, rows)
    spec = write_spec(tmp_path, spec_text(data, extra, predictors))
    out = tmp_path / "out"
    args = ["validate", "--spec", str(spec)] if command == "validate" else ["run", str(spec)]
    text = cli(args + (["--out", str(out)] if command == "run" else []), tmp_path, capsys, 1)
    assert f"{spec}: the survey cannot support what the spec asks" in text
    assert f"{data}" in text
    assert says in text
    assert not out.exists()


CASES["feasibility"] = 2 * len(FEASIBILITY)


# --------------------------------------------------------------------------- specs

SAMPLER = [
    # (TOML, key, message)
    ("[sampler]\ndraws = 1", "[sampler].draws", "must be >= 100, got 1 (R-hat, ESS and PSIS-LOO"),
    ("[sampler]\ndraws = 0", "[sampler].draws", "must be >= 100, got 0"),
    ("[sampler]\ntune = 0", "[sampler].tune", "must be >= 100, got 0 (NUTS adapts"),
    ("[sampler]\nchains = 1", "[sampler].chains", "must be >= 2, got 1 (R-hat compares"),
    ("[sampler]\nchains = 1000", "[sampler].chains", "must be <= 64, got 1000"),
    ("[sampler]\ndraws = 1000000000", "[sampler].draws", "must be <= 100000, got 1000000000"),
    ("[sampler]\ntune = 9223372036854775807", "[sampler].tune", "must be <= 100000"),
    ("[sampler]\nseed = -1", "[sampler].seed", "must be >= 0, got -1"),
    ("[sampler]\nseed = 1099511627776", "[sampler].seed", "must be <= 4294967295"),
    ("[sampler]\ndraws = 1.5", "[sampler].draws", "must be an integer, got 1.5"),
    ('[sampler]\ndraws = "many"', "[sampler].draws", "must be an integer, got 'many'"),
    ("[sampler]\ntarget_accept = 1.5", "[sampler].target_accept", "must be in [0.5, 1), got 1.5"),
    ("[sampler]\ntarget_accept = nan", "[sampler].target_accept", "got nan"),
    ("[sampler]\nhdi_prob = 1e400", "[sampler].hdi_prob", "must be in [0.5, 1), got inf"),
    ('[sampler]\nbackend = "stan"', "[sampler].backend", "unknown backend 'stan'"),
    ("[sampler.quick]\ndraws = 1", "[sampler.quick].draws", "must be >= 100, got 1"),
    ("[sampler.quick]\nchains = 1", "[sampler.quick].chains", "must be >= 2, got 1"),
    ("[sampler.quick]\ntune = 0", "[sampler.quick].tune", "must be >= 100, got 0"),
]

PRIORS = [
    (
        '[logistic.variants.h]\ngroup = "product_line"\n'
        '[logistic.variants.h.priors.group_sd]\ndist = "Normal"\nmu = 0\nsigma = 1',
        "[logistic.variants.h.priors.group_sd]",
        "Normal has real support but a positive distribution is needed",
    ),
    (
        '[logistic.priors.group_sd]\ndist = "StudentT"\nnu = 3\nmu = 0\nsigma = 1',
        "[logistic.priors.group_sd]",
        "StudentT has real support but a positive distribution is needed",
    ),
    (
        '[logistic.priors.slopes]\ndist = "HalfNormal"\nsigma = 1',
        "[logistic.priors.slopes]",
        "HalfNormal has positive support but a real distribution is needed",
    ),
    (
        '[logistic.priors.intercept]\ndist = "Exponential"\nlam = 1',
        "[logistic.priors.intercept]",
        "Exponential has positive support",
    ),
    (
        '[logistic.priors.slopes]\ndist = "Gaussian"\nmu = 0\nsigma = 1',
        "[logistic.priors.slopes].dist",
        "unknown prior 'Gaussian'",
    ),
    (
        '[logistic.priors.slopes]\ndist = "Normal"\nmu = 0\nsigma = -1',
        "[logistic.priors.slopes]",
        "parameter 'sigma' must be positive and finite, got -1.0",
    ),
    (
        '[logistic.priors.slopes]\ndist = "Normal"\nmu = 0\nsigma = 0',
        "[logistic.priors.slopes]",
        "parameter 'sigma' must be positive and finite, got 0.0",
    ),
    (
        '[logistic.priors.slopes]\ndist = "Normal"\nmu = 0\nsigma = inf',
        "[logistic.priors.slopes]",
        "parameter 'sigma' must be positive and finite, got inf",
    ),
    (
        '[logistic.priors.slopes]\ndist = "Normal"\nmu = nan\nsigma = 1',
        "[logistic.priors.slopes]",
        "parameter 'mu' must be finite, got nan",
    ),
    (
        '[logistic.priors.slopes]\ndist = "Normal"\nmu = 1e300\nsigma = 1',
        "[logistic.priors.slopes]",
        "parameter 'mu' must be at most 1e+06 in size",
    ),
    (
        '[logistic.priors.slopes]\ndist = "StudentT"\nnu = 1e400\nmu = 0\nsigma = 1',
        "[logistic.priors.slopes]",
        "parameter 'nu' must be positive and finite, got inf",
    ),
    (
        "[logistic.priors.slopes]\nmu = 0\nsigma = 1",
        "[logistic.priors.slopes].dist",
        "is required (the prior family)",
    ),
    (
        '[logistic.priors.slopes]\ndist = "Normal"\nmu = 0\nsigma = 1\nscale = 2',
        "[logistic.priors.slopes]",
        "unknown ['scale']",
    ),
    (
        '[logistic.priors.slopes]\ndist = "Normal"\nmu = "zero"\nsigma = 1',
        "[logistic.priors.slopes]",
        "parameter 'mu' must be a number, got 'zero'",
    ),
    ('[logistic.priors]\nslopes = "wide"', "[logistic.priors.slopes]", "must be a table like"),
    (
        '[logistic.priors.workers]\ndist = "Cauchy"\nmu = 0\nsigma = -0.5',
        "[logistic.priors.workers]",
        "parameter 'sigma' must be positive and finite, got -0.5",
    ),
    (
        '[latent_class]\nitem_prefix = "mk_"\n[latent_class.priors]\nclass_concentration = -1',
        "[latent_class.priors].class_concentration",
        "must be a positive Dirichlet concentration of at most 1e6, got -1",
    ),
    (
        "[logistic.priors.horseshoe]\nslab_scale = -2",
        "[logistic.priors.horseshoe].slab_scale",
        "must be a positive number of at most 1e6, got -2",
    ),
    (
        "[logistic.priors.horseshoe]\nslab_scale = inf",
        "[logistic.priors.horseshoe].slab_scale",
        "must be a positive number of at most 1e6, got inf",
    ),
    (
        '[latent_class]\nitem_prefix = "mk_"\n[latent_class.priors]\nitem_concentration = nan',
        "[latent_class.priors].item_concentration",
        "must be a positive Dirichlet concentration of at most 1e6, got nan",
    ),
]

SPEC_KEYS = [
    ('[data]\ndecimal = ";"', "[data].decimal", "must be '.' or ',', got ';'"),
    ('[data]\nthousands = "."', "[data].thousands", "needs [data].decimal"),
    ('[data]\ndecimal = ","\nthousands = ","', "[data].thousands", "must differ from"),
    ('[data]\ndecimal = ","\nthousands = "_"', "[data].thousands", "got '_'"),
    ("[data]\ndecimal = 1", "[data].decimal", "must be a string, got 1"),
    (
        '[data]\nmissing = "maybe"',
        "[data].missing",
        "must be 'error', 'drop' or 'model', got 'maybe'",
    ),
    ('[data]\ncodebook = "other"', "[data].codebook", "unknown built-in codebook 'other'"),
    ("[latent_class]\nitems = []\nn_classes = [3, 1]", "[latent_class].n_classes", "[3, 1]"),
    (
        '[latent_class]\nitem_prefix = "mk_"\nn_classes = 0',
        "[latent_class].n_classes",
        "the smallest number of classes is 1",
    ),
    (
        '[latent_class]\nitem_prefix = "mk_"\nn_classes = [1, 1000000000000]',
        "[latent_class].n_classes",
        "the largest number of classes is 20, got 1000000000000",
    ),
    (
        '[latent_class]\nitem_prefix = "mk_"\nem_starts = 1000000000',
        "[latent_class].em_starts",
        "must be <= 10000, got 1000000000",
    ),
    ("[report]\nfigure_dpi = 1000000", "[report].figure_dpi", "must be <= 1200, got 1000000"),
    ("[report]\nfigure_dpi = 1", "[report].figure_dpi", "must be >= 50, got 1"),
    ("[frequentist]\nalpha = 1e400", "[frequentist].alpha", "must be in (0, 0.5), got inf"),
]


def _merge(extra: str) -> str:
    """The minimal spec with `extra`'s tables merged in (a [data]/[logistic] key joins it)."""
    base = spec_text()
    for table in ("[data]", "[logistic]"):
        if extra.startswith(table + "\n"):
            return base.replace(table + "\n", extra + "\n", 1)
    return base + "\n" + extra + "\n"


@pytest.mark.parametrize(("extra", "key", "says"), SAMPLER + PRIORS + SPEC_KEYS)
def test_malformed_spec_key_is_refused_before_any_work(tmp_path, capsys, extra, key, says):
    spec = write_spec(tmp_path, _merge(extra))
    out = tmp_path / "out"
    text = cli(["run", str(spec), "--out", str(out)], tmp_path, capsys, 1)
    assert f"{spec}: {key}" in text
    assert says in text
    assert not out.exists()


CASES["sampler"] = len(SAMPLER)
CASES["priors"] = len(PRIORS)
CASES["spec"] = len(SPEC_KEYS)

ENCODINGS = [
    # (how the spec is written, command, exit code, message)
    ("utf-16", "validate", 0, "valid survey against {spec}"),
    ("utf-8-sig", "validate", 0, "valid survey against {spec}"),
    ("latin-1", "run", 1, "{spec}: not UTF-8 text (byte 0xE9 on line 1; perhaps Latin-1"),
    ("cp1252", "validate", 1, "{spec}: not UTF-8 text (byte 0xE9 on line 1"),
    ("broken-utf-16", "run", 1, "{spec}: starts with a UTF-16 byte-order mark but is not"),
    ("png", "run", 1, "{spec}: not UTF-8 text (byte 0x89 on line 1"),
    ("empty", "run", 1, "{spec}: [data]: is required"),
    ("not-toml", "run", 1, "{spec}: not valid TOML"),
    ("directory", "run", 1, "{spec}: is a folder, not a spec file (a .toml file)"),
]


@pytest.mark.parametrize(("how", "command", "code", "says"), ENCODINGS)
def test_spec_in_another_encoding_is_read_or_refused(tmp_path, capsys, how, command, code, says):
    spec = tmp_path / "spec.toml"
    text = '# Société\ntitle = "Société"\n' + spec_text()
    if how in ("utf-16", "utf-8-sig", "latin-1", "cp1252"):
        spec.write_bytes(text.encode(how))
    elif how == "broken-utf-16":
        spec.write_bytes(b"\xff\xfe" + b"\x00\xd8a")  # a lone surrogate
    elif how == "png":
        spec.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    elif how == "empty":
        spec.write_bytes(b"")
    elif how == "not-toml":
        spec.write_text("[data\npath = 1\n", encoding="utf-8")
    else:
        spec.mkdir()
    out = tmp_path / "out"
    args = ["validate", "--spec", str(spec)] if command == "validate" else ["run", str(spec)]
    output = cli(args + (["--out", str(out)] if command == "run" else []), tmp_path, capsys, code)
    assert says.format(spec=spec) in output
    assert not out.exists()


CASES["spec"] += len(ENCODINGS)


TOML_VALUES = st.one_of(
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
    st.lists(st.integers(min_value=-(2**63), max_value=2**63 - 1), max_size=3),
    st.dictionaries(st.sampled_from(["dist", "mu", "sigma", "nu"]), st.integers(-5, 5)),
)
SPEC_SLOTS = [
    ("sampler", "draws"),
    ("sampler", "tune"),
    ("sampler", "chains"),
    ("sampler", "seed"),
    ("sampler", "target_accept"),
    ("sampler", "hdi_prob"),
    ("sampler", "quick"),
    ("data", "decimal"),
    ("data", "thousands"),
    ("data", "missing"),
    ("logistic", "priors"),
    ("logistic", "predictors"),
    ("latent_class", "n_classes"),
    ("latent_class", "em_starts"),
    ("latent_class", "collapse"),
    ("report", "figure_dpi"),
    ("frequentist", "alpha"),
]


@settings(max_examples=60, deadline=None)
@given(slot=st.sampled_from(SPEC_SLOTS), value=TOML_VALUES)
def test_any_spec_value_is_accepted_or_refused_by_key(slot, value):
    from bayes_cluster.run.spec import SpecError, parse_spec

    section, key = slot
    raw = {
        "data": {"path": str(DATA)},
        "logistic": {"outcome": "export", "predictors": ["workers", "promotion"]},
        "latent_class": {"item_prefix": "mk_", "n_classes": [1, 2]},
    }
    raw.setdefault(section, {})[key] = value
    try:
        parse_spec(raw, path=ROOT / "models" / "fuzz.toml")
    except SpecError as error:
        shown = [f"[{section}].{key}", f"[{section}.{key}", f"[{section}]"]
        assert any(name in str(error) for name in shown), str(error)


CASES["spec"] += 60


@pytest.mark.parametrize(
    ("encoding", "says"),
    [
        ("latin-1", "{spec}: not UTF-8 text (byte 0xE9 on line 1"),
        ("utf-16", "{spec}: [study].sizes: is required"),  # read, then validated
    ],
)
def test_study_spec_in_another_encoding(tmp_path, capsys, encoding, says):
    spec = tmp_path / "study.toml"
    spec.write_bytes('title = "Société"\n[study]\nreplicates = 2\n'.encode(encoding))
    out = tmp_path / "out"
    text = cli(["study", str(spec), "--out", str(out)], tmp_path, capsys, 1)
    assert says.format(spec=spec) in text
    assert not out.exists()


CASES["spec"] += 2


# --------------------------------------------------------------------------- command lines

COMMAND_LINES = [
    # (arguments, exit code, message); {data} is the bundled survey, {tmp} the case folder
    (["validate"], 2, "give a survey FILE, or --spec SPEC"),
    (["validate", "{data}", "--thousands", "."], 2, "--thousands needs --decimal"),
    (["validate", "{data}", "--decimal", ",", "--thousands", ","], 2, "must differ, both are"),
    (["validate", "{data}", "--decimal", ";"], 2, "argument --decimal: invalid choice: ';'"),
    (["validate", "{data}", "--thousands", "_"], 2, "argument --thousands: invalid choice: '_'"),
    (["validate", "{data}", "--missing", "maybe"], 2, "invalid choice: 'maybe'"),
    (["validate", "{data}", "--outcome-labels", "ekspor=2"], 2, "got 'ekspor=2'"),
    (["validate", "{data}", "--outcome-labels", "=1"], 2, "got '=1'"),
    (["validate", "--spec", "{tmp}/absent.toml"], 1, "{tmp}/absent.toml: no such spec file"),
    (["validate", "{tmp}/absent.csv"], 1, "{tmp}/absent.csv: file not found"),
    (["validate", "{data}", "{data}"], 2, "unrecognized arguments"),
    (["run", "{tmp}/absent.toml"], 1, "{tmp}/absent.toml: no such spec file"),
    (["frobnicate"], 2, "invalid choice: 'frobnicate'"),
    (["simulate", "--n", "many", "--out", "{tmp}/x.csv"], 2, "invalid int value: 'many'"),
    (["validate", "--spec", "{tmp}"], 1, "{tmp}: is a folder, not a spec file"),
    (["validate", "{spec}"], 1, "{spec}: is a spec file, not a survey (check the survey a spec"),
    (["study", "{tmp}/absent.toml", "--out", "{tmp}/o", "--workers", "0"], 2, "--workers"),
]


@pytest.mark.parametrize(("args", "code", "says"), COMMAND_LINES)
def test_command_line_out_of_range(tmp_path, capsys, args, code, says):
    fill = {"data": str(DATA), "tmp": str(tmp_path), "spec": str(REPO_SPEC)}
    text = cli([a.format(**fill) for a in args], tmp_path, capsys, code)
    assert says.format(**fill) in text


def test_validate_with_spec_uses_the_declared_number_format(tmp_path, capsys):
    survey = write_survey(tmp_path, survey_lines({(4, "workers"): "1.000"}), sep=";")
    loose = write_spec(tmp_path, spec_text(survey), name="loose.toml")
    text = cli(["validate", "--spec", str(loose)], tmp_path, capsys, 1)
    assert f"{survey}, row 4, column 'workers': ambiguous number" in text
    declared = write_spec(
        tmp_path,
        spec_text(survey).replace("[data]\n", '[data]\ndecimal = ","\nthousands = "."\n'),
        name="declared.toml",
    )
    text = cli(["validate", "--spec", str(declared)], tmp_path, capsys, 0)
    workers = next(line for line in text.splitlines() if line.strip().startswith("workers "))
    assert "range 1 to 1000" in workers


def test_run_reads_the_declared_number_format(tmp_path, capsys):
    import pandas as pd

    survey = write_survey(tmp_path, survey_lines({(4, "workers"): "1.000"}), sep=";")
    spec = write_spec(
        tmp_path,
        spec_text(survey, '[frequentist]\nmethods = ["mle"]\n[report]\nformats = ["md"]\n')
        .replace("[data]\n", '[data]\ndecimal = ","\nthousands = "."\n')
        .replace("[logistic]\n", "[logistic]\nbayesian = false\n"),
    )
    out = tmp_path / "out"
    # in process: the CLI hands run_spec the sys.stderr of the moment (pytest's capture), so
    # no new process has to import the package again (test_real_process_exits_cleanly is
    # the real process)
    code = main(["run", str(spec), "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    summary = pd.read_csv(out / "data_summary.csv").set_index("column")
    assert summary.loc["workers", "max"] == 1000


def test_run_progress_goes_to_the_stderr_of_the_call_not_of_the_import(tmp_path, monkeypatch):
    import io
    import sys

    import bayes_cluster.run.pipeline  # noqa: F401 -- imported before stderr is replaced

    # run_spec once bound the stderr of its import as its default stream: a process that
    # imported it under one stderr (a test's capture, since closed) and ran later failed
    # with "I/O operation on closed file"
    survey = write_survey(tmp_path, survey_lines({}))
    spec = write_spec(
        tmp_path,
        spec_text(
            survey, '[frequentist]\nmethods = ["mle"]\n[report]\nformats = ["md"]\n'
        ).replace("[logistic]\n", "[logistic]\nbayesian = false\n"),
    )
    now = io.StringIO()
    monkeypatch.setattr(sys, "stderr", now)
    assert main(["run", str(spec), "--out", str(tmp_path / "out")]) == 0
    assert "] run " in now.getvalue() and "logit: maximum likelihood" in now.getvalue()


CASES["cli"] = len(COMMAND_LINES) + 2


def test_scheduler_without_dask_names_the_extra(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # as if the extra were not installed
    out = tmp_path / "out"
    args = ["study", str(ROOT / "models" / "simulation.toml"), "--out", str(out)]
    text = cli([*args, "--scheduler", "tcp://127.0.0.1:1", "--no-progress"], tmp_path, capsys, 1)
    assert (
        "error: a Dask scheduler was given but dask.distributed is not installed; install the "
        "extra: pip install 'bayes-cluster[dask]'"
    ) in text
    assert not out.exists()


CASES["survey"] += 1  # optional extras: openpyxl above, dask here


# --------------------------------------------------------------------------- subprocess


@pytest.mark.parametrize("case", ["survey", "spec", "feasibility"])
def test_real_process_exits_cleanly(tmp_path, case):
    if case == "survey":
        path = write_survey(tmp_path, survey_lines({(4, "workers"): "1e400"}))
        args, says = ["validate", str(path)], f"{path}, row 4, column 'workers': too large"
    elif case == "spec":
        spec = tmp_path / "spec.toml"
        spec.write_bytes(("# é\n" + spec_text()).encode("latin-1"))
        args, says = ["run", str(spec), "--out", str(tmp_path / "o")], "not UTF-8 text"
    else:
        spec = write_spec(tmp_path, spec_text(_subset(tmp_path, list(range(2, 7)))))
        args, says = ["validate", "--spec", str(spec)], "too few firms for any analysis"
    before = fingerprint(tmp_path)
    done = subprocess.run(
        [sys.executable, "-m", "bayes_cluster.cli", *args],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    assert says in done.stderr
    assert fingerprint(tmp_path) == before


CASES["subprocess"] = 3


def test_corpus_size():
    assert sum(CASES.values()) >= 100, CASES
    assert CASES == {
        "numbers": 79,
        "survey": 22,
        "feasibility": 14,
        "sampler": 18,
        "priors": 20,
        "spec": 85,
        "cli": 19,
        "subprocess": 3,
    }

"""Survey loading and validation: one clear message per problem, every problem at once."""

from __future__ import annotations

import gzip
import os

import numpy as np
import pandas as pd
import pytest

from bayes_cluster.surveys.codebook import TUMANG_CODEBOOK, Column
from bayes_cluster.surveys.survey import (
    MISSING_CELLS_HINT,
    SurveyProblem,
    SurveyValidationError,
    SurveyWarning,
    describe_survey,
    load_survey,
    parse_number,
    tumang_data_path,
)

HEADER_LINE = 1


@pytest.fixture(scope="module")
def bundled_lines() -> list[str]:
    """Header plus the first eight firms of the bundled CSV (both classes, no constants)."""
    return tumang_data_path().read_text(encoding="utf-8").splitlines()[:9]


def _set(lines: list[str], line: int, column: str, value: str, sep: str = ",") -> list[str]:
    """Copy of ``lines`` with one cell replaced (``line`` is 1-based, header = 1)."""
    header = lines[0].split(sep)
    out = list(lines)
    cells = out[line - 1].split(sep)
    cells[header.index(column)] = value
    out[line - 1] = sep.join(cells)
    return out


def _write(tmp_path, lines: list[str], name: str = "survey.csv") -> str:
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(path)


def _fail(source, **kwargs) -> SurveyValidationError:
    with pytest.raises(SurveyValidationError) as info:
        load_survey(source, **kwargs)
    return info.value


def _single(source, **kwargs) -> str:
    error = _fail(source, **kwargs)
    assert len(error.problems) == 1, str(error)
    return str(error)


def _one(text: str) -> str:
    return f"survey failed validation with 1 problem:\n  - {text}"


# ----------------------------------------------------------------------------- valid


def test_bundled_file_loads_with_codebook_dtypes():
    frame = load_survey(tumang_data_path())
    assert frame.shape == (60, 22)
    assert list(frame.columns) == [c.name for c in TUMANG_CODEBOOK]
    for column in TUMANG_CODEBOOK:
        dtype = frame[column.name].dtype
        if column.kind in ("binary", "count", "likert"):
            assert dtype == np.int64, column.name
        elif column.kind == "number":
            assert dtype == np.float64, column.name
        else:
            assert pd.api.types.is_string_dtype(dtype), column.name
    raw = pd.read_csv(tumang_data_path())
    np.testing.assert_array_equal(frame["workers"], raw["workers"])
    np.testing.assert_allclose(frame["firm_age"], raw["firm_age"])
    assert frame.attrs["dropped_rows"] == []


def test_describe_survey_counts_classes_and_ranges():
    frame = load_survey(tumang_data_path())
    summary = describe_survey(frame)
    assert summary["n"] == 60
    assert summary["outcome"] == "export"
    assert summary["exporters"] + summary["domestic"] == 60
    assert summary["exporters"] == int(frame["export"].sum())
    columns = summary["columns"]
    assert columns.loc["workers", "min"] == frame["workers"].min()
    assert columns.loc["workers", "max"] == frame["workers"].max()
    assert columns.loc["product_line", "levels"] == 4


def test_loading_never_modifies_or_writes(tmp_path, bundled_lines):
    path = _write(tmp_path, bundled_lines)
    bad = _write(tmp_path, _set(bundled_lines, 3, "workers", "lima"), "bad.csv")
    before = {p.name: (p.read_bytes(), os.stat(p).st_mtime_ns) for p in tmp_path.iterdir()}
    load_survey(path)
    _fail(bad)
    after = {p.name: (p.read_bytes(), os.stat(p).st_mtime_ns) for p in tmp_path.iterdir()}
    assert after == before


def test_frame_input_is_not_modified():
    frame = pd.read_csv(tumang_data_path())
    copy = frame.copy()
    loaded = load_survey(frame)
    pd.testing.assert_frame_equal(frame, copy)
    assert len(loaded) == 60


def test_semicolon_file_with_decimal_commas(tmp_path, bundled_lines):
    lines = [line.replace(",", ";") for line in bundled_lines]
    lines = _set(lines, 2, "firm_age", "12,5", sep=";")
    lines = _set(lines, 3, "firm_age", "0,75", sep=";")
    frame = load_survey(_write(tmp_path, lines))
    assert frame["firm_age"].iloc[0] == 12.5
    assert frame["firm_age"].iloc[1] == 0.75
    assert frame["workers"].tolist()[:3] == [15, 5, 15]
    assert len(frame) == 8


def test_tab_delimited_with_bom_and_crlf(tmp_path, bundled_lines):
    path = tmp_path / "survey.tsv"
    text = "\r\n".join(line.replace(",", "\t") for line in bundled_lines) + "\r\n"
    path.write_bytes(b"\xef\xbb\xbf" + text.encode())
    frame = load_survey(path)
    assert frame.columns[0] == "firm_id"
    assert frame["firm_id"].tolist()[0] == "T001"


def test_windows_1252_file(tmp_path, bundled_lines):
    lines = _set(bundled_lines, 2, "product_line", "repoussé")
    lines = _set(lines, 2, "firm_id", "Pak Wiryo–01")
    path = tmp_path / "survey.csv"
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("cp1252"))
    frame = load_survey(path)
    assert frame["product_line"].iloc[0] == "repoussé"
    assert frame["firm_id"].iloc[0] == "Pak Wiryo–01"


def test_xlsx_file_reads_like_the_csv(tmp_path):
    csv_frame = load_survey(tumang_data_path())
    path = tmp_path / "survey.xlsx"
    pd.read_csv(tumang_data_path()).to_excel(path, index=False)
    pd.testing.assert_frame_equal(load_survey(path), csv_frame, check_like=False)


def test_xlsx_problem_rows_are_sheet_rows(tmp_path):
    raw = pd.read_csv(tumang_data_path()).head(8).astype(object)
    raw.loc[2, "promotion"] = 9  # third firm: sheet row 4
    path = tmp_path / "survey.xlsx"
    raw.to_excel(path, index=False)
    assert _single(path) == _one(
        f"{path}, row 4, column 'promotion': out of range: got '9'; "
        "expected a whole number from 1 to 5"
    )


def test_extra_columns_are_kept(tmp_path, bundled_lines):
    lines = [bundled_lines[0] + ",interviewer"]
    lines += [line + f",Siti {i}" for i, line in enumerate(bundled_lines[1:])]
    frame = load_survey(_write(tmp_path, lines))
    assert frame.columns[-1] == "interviewer"
    assert frame["interviewer"].tolist()[:2] == ["Siti 0", "Siti 1"]


def test_custom_codebook(tmp_path):
    codebook = (
        Column("respondent", "id", "responden", "id"),
        Column("exporter", "binary", "ekspor", "1 = exports"),
        Column("revenue", "number", "omzet", "revenue", minimum=0),
        Column("region", "category", "wilayah", "region", levels=("north", "south")),
    )
    lines = [
        "respondent,exporter,revenue,region,note",
        "a,1,2.5,north,x",
        "b,0,3,south,y",
        "c,1,0,south,z",
    ]
    path = _write(tmp_path, lines)
    frame = load_survey(path, codebook=codebook, outcome="exporter", id_column="respondent")
    assert frame["revenue"].tolist() == [2.5, 3.0, 0.0]
    assert frame["exporter"].dtype == np.int64
    assert describe_survey(frame, codebook=codebook, outcome="exporter")["exporters"] == 2
    bad = _write(tmp_path, [*lines[:3], "b,1,-1,west,z"], "bad.csv")
    error = _fail(bad, codebook=codebook, outcome="exporter", id_column="respondent")
    assert [str(p) for p in error.problems] == [
        f"{bad}, row 4, column 'respondent': duplicate id (first on row 3): got 'b'; "
        "expected a unique, non-empty identifier",
        f"{bad}, row 4, column 'revenue': out of range: got '-1'; expected a number >= 0",
        f"{bad}, row 4, column 'region': unknown category: got 'west'; "
        "expected one of north, south",
    ]


def test_tumang_data_path_points_at_the_repo_file():
    assert tumang_data_path().is_file()
    assert tumang_data_path().name == "tumang_synthetic.csv"


def test_tumang_data_path_prefers_the_installed_copy(tmp_path, monkeypatch):
    import bayes_cluster.surveys.survey as survey

    package = tmp_path / "site-packages" / "bayes_cluster"
    (package / "_data").mkdir(parents=True)
    monkeypatch.setattr(survey, "__file__", str(package / "surveys" / "survey.py"))
    with pytest.raises(FileNotFoundError, match="bundled tumang_synthetic.csv not found"):
        tumang_data_path()
    installed = package / "_data" / "tumang_synthetic.csv"
    installed.write_text("firm_id\n")
    assert tumang_data_path() == installed


# ----------------------------------------------------------------------------- files


def test_missing_file(tmp_path):
    path = tmp_path / "absent.csv"
    assert _single(path) == _one(
        f"{path}: file not found; expected an existing file: a .csv, .tsv or .txt text "
        "table or an .xlsx workbook"
    )


def test_directory_instead_of_file(tmp_path):
    assert _single(tmp_path) == _one(
        f"{tmp_path}: is a directory, not a file; expected a .csv, .tsv or .txt text table "
        "or an .xlsx workbook"
    )


def test_empty_file(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")
    assert _single(path) == _one(
        f"{path}: file is empty; expected a header line with the column names, "
        "then one row per firm"
    )


def test_header_only(tmp_path, bundled_lines):
    path = _write(tmp_path, bundled_lines[:1])
    assert _single(path) == _one(
        f"{path}: no data rows (header only); expected at least one row per firm below the header"
    )


@pytest.mark.parametrize(
    ("content", "kind"),
    [
        (b"\x89PNG\r\n\x1a\n" + bytes(range(256)), "a PNG image"),
        # mtime=0: gzip stamps the time of compression, and the test id holds the bytes:
        # two pytest-xdist workers collecting a second apart saw different tests (CI error)
        (gzip.compress(b"firm_id,export\nT1,1\n", mtime=0), "gzip-compressed data"),
    ],
    ids=["png", "gzip"],
)
def test_binary_files_with_a_signature(tmp_path, content, kind):
    path = tmp_path / "survey.csv"
    path.write_bytes(content)
    assert _single(path) == _one(
        f"{path}: not a table (the file is {kind}); expected a .csv, .tsv or .txt text table "
        "or an .xlsx workbook"
    )


def test_random_bytes(tmp_path):
    path = tmp_path / "survey.csv"
    path.write_bytes(np.random.default_rng(0).bytes(2000))
    assert _single(path) == _one(
        f"{path}: not a table (the file holds binary data); expected a .csv, .tsv or .txt "
        "text table or an .xlsx workbook"
    )


def test_corrupt_xlsx(tmp_path):
    path = tmp_path / "survey.xlsx"
    path.write_bytes(b"PK\x03\x04 this is not really a workbook")
    message = _single(path)
    assert message.startswith(_one(f"{path}: could not be read as a workbook ("))
    assert message.endswith("; expected an .xlsx workbook whose first row holds the column names")


def test_wrong_number_of_fields(tmp_path, bundled_lines):
    lines = list(bundled_lines)
    lines[4] += ",extra"
    path = _write(tmp_path, lines)
    assert _single(path) == _one(
        f"{path}, row 5: wrong number of fields: got '23 fields'; "
        "expected 22 fields separated by commas, as in the header"
    )


# ----------------------------------------------------------------------------- columns


def test_missing_column_suggests_the_closest_name(tmp_path, bundled_lines):
    lines = [bundled_lines[0].replace("supplier_network", "suplier_netwrk"), *bundled_lines[1:]]
    path = _write(tmp_path, lines)
    assert _single(path) == _one(
        f"{path}, row 1, column 'supplier_network': required column missing "
        "(did you mean 'suplier_netwrk'?); expected a column named 'supplier_network' "
        "holding a whole number from 1 to 5"
    )


def test_missing_column_without_a_close_name(tmp_path, bundled_lines):
    lines = [bundled_lines[0].replace("firm_age", "zzz"), *bundled_lines[1:]]
    path = _write(tmp_path, lines)
    assert _single(path) == _one(
        f"{path}, row 1, column 'firm_age': required column missing; "
        "expected a column named 'firm_age' holding a number >= 0"
    )


def test_duplicate_firm_id(tmp_path, bundled_lines):
    path = _write(tmp_path, _set(bundled_lines, 6, "firm_id", "T002"))
    assert _single(path) == _one(
        f"{path}, row 6, column 'firm_id': duplicate id (first on row 3): got 'T002'; "
        "expected a unique, non-empty identifier"
    )


def test_text_in_numeric_column(tmp_path, bundled_lines):
    path = _write(tmp_path, _set(bundled_lines, 3, "workers", "lima"))
    assert _single(path) == _one(
        f"{path}, row 3, column 'workers': not a number: got 'lima'; expected a whole number >= 1"
    )


@pytest.mark.parametrize(
    ("value", "issue"),
    [("6", "out of range"), ("0", "out of range"), ("3.5", "not a whole number")],
)
def test_likert_outside_1_to_5_or_not_whole(tmp_path, bundled_lines, value, issue):
    path = _write(tmp_path, _set(bundled_lines, 4, "promotion", value))
    assert _single(path) == _one(
        f"{path}, row 4, column 'promotion': {issue}: got '{value}'; "
        "expected a whole number from 1 to 5"
    )


def test_outcome_not_0_1(tmp_path, bundled_lines):
    path = _write(tmp_path, _set(bundled_lines, 2, "export", "2"))
    assert _single(path) == _one(
        f"{path}, row 2, column 'export': not 0/1: got '2'; expected 0 or 1"
    )


def test_outcome_labels_rejected_unless_declared(tmp_path, bundled_lines):
    lines = list(bundled_lines)
    for line in range(2, 10):
        label = "ekspor" if lines[line - 1].split(",")[1] == "1" else "domestik"
        lines = _set(lines, line, "export", label)
    path = _write(tmp_path, lines)
    error = _fail(path)
    assert len(error.problems) == 8
    assert str(error.problems[0]) == (
        f"{path}, row 2, column 'export': not 0/1: got 'domestik'; expected 0 or 1"
    )
    frame = load_survey(path, outcome_labels={"Ekspor": 1, "domestik": 0})
    expected = [int(line.split(",")[1]) for line in bundled_lines[1:]]
    assert frame["export"].tolist() == expected
    assert frame["export"].dtype == np.int64


def test_undeclared_label_with_label_mapping(tmp_path, bundled_lines):
    path = _write(tmp_path, _set(bundled_lines, 2, "export", "domestic"))
    assert _single(path, outcome_labels={"export": 1, "domestik": 0}) == _one(
        f"{path}, row 2, column 'export': not 0/1: got 'domestic'; "
        "expected 0 or 1 (or one of 'export', 'domestik')"
    )


def test_outcome_labels_must_map_to_0_or_1():
    with pytest.raises(ValueError, match=r"outcome_labels must map to 0 or 1, got \{'ya': 2\}"):
        load_survey(tumang_data_path(), outcome_labels={"ya": 2})


def test_all_firms_in_one_class(tmp_path, bundled_lines):
    lines = list(bundled_lines)
    for line in range(2, 10):
        lines = _set(lines, line, "export", "1")
    path = _write(tmp_path, lines)
    assert _single(path) == _one(
        f"{path}, column 'export': all 8 firms have export = 1; "
        "expected both outcome classes (0 and 1) among the firms"
    )


def test_negative_workers_and_age(tmp_path, bundled_lines):
    lines = _set(bundled_lines, 3, "workers", "-4")
    lines = _set(lines, 5, "firm_age", "-1.5")
    error = _fail(_write(tmp_path, lines))
    path = tmp_path / "survey.csv"
    assert [str(p) for p in error.problems] == [
        f"{path}, row 3, column 'workers': out of range: got '-4'; expected a whole number >= 1",
        f"{path}, row 5, column 'firm_age': out of range: got '-1.5'; expected a number >= 0",
    ]


def test_constant_predictor(tmp_path, bundled_lines):
    lines = list(bundled_lines)
    for line in range(2, 10):
        lines = _set(lines, line, "technology", "3")
    path = _write(tmp_path, lines)
    assert _single(path) == _one(
        f"{path}, column 'technology': constant predictor: every firm has 3; "
        "expected at least two distinct values (its effect cannot be estimated)"
    )


def test_missing_cells_are_reported(tmp_path, bundled_lines):
    lines = _set(bundled_lines, 3, "workers", "")
    lines = _set(lines, 7, "mk_cooperation", "NA")
    path = _write(tmp_path, lines)
    error = _fail(path)
    assert [str(p) for p in error.problems] == [
        f"{path}, row 3, column 'workers': missing value: got ''; expected a whole number >= 1",
        f"{path}, row 7, column 'mk_cooperation': missing value: got 'NA'; "
        "expected a whole number from 1 to 5",
    ]
    assert error.problems[0] == SurveyProblem(
        file=path,
        row=3,
        column="workers",
        value="",
        expected="a whole number >= 1",
        issue="missing value",
    )
    # the last line says how to go on: the two explicit choices, and where to write them
    assert str(error).splitlines()[-1] == (
        '2 blank cell(s): blanks are handled only by an explicit choice, and missing is "error" '
        "(the default). Choose one ([data] missing in a spec, load_survey(missing=...) in "
        'Python): "model" imputes each blank predictor cell inside the Bayesian models '
        "(complete cases and multiple imputation beside them for the frequentist logits; "
        'docs/missing_data.md), "drop" leaves out every firm with a blank.'
    )
    assert len(str(error).splitlines()) == 4


def test_a_blank_id_under_missing_model_gets_no_imputation_hint(tmp_path, bundled_lines):
    path = _write(tmp_path, _set(bundled_lines, 3, "firm_id", ""))
    with pytest.raises(SurveyValidationError) as caught:
        load_survey(path, missing="model")
    assert caught.value.hint is None
    assert [p.column for p in caught.value.problems] == ["firm_id"]


def test_missing_drop_reports_the_dropped_rows(tmp_path, bundled_lines):
    lines = _set(bundled_lines, 3, "workers", "")
    lines = _set(lines, 7, "mk_cooperation", "NA")
    path = _write(tmp_path, lines)
    with pytest.warns(SurveyWarning) as record:
        frame = load_survey(path, missing="drop")
    assert str(record[0].message) == (
        f"{path}: dropped 2 row(s) with missing values (missing='drop'): rows 3, 7"
    )
    assert frame.attrs["dropped_rows"] == [3, 7]
    assert frame["firm_id"].tolist() == ["T001", "T003", "T004", "T005", "T007", "T008"]


def test_missing_option_is_checked():
    with pytest.raises(ValueError, match="missing must be 'error', 'drop' or 'model', got 'skip'"):
        load_survey(tumang_data_path(), missing="skip")


def test_every_problem_is_collected_in_file_order(tmp_path, bundled_lines):
    lines = [bundled_lines[0].replace("promotion", "promotoin"), *bundled_lines[1:]]
    lines = _set(lines, 2, "export", "yes")
    lines = _set(lines, 4, "workers", "lima")
    lines = _set(lines, 4, "mk_local_trade", "7")
    lines = _set(lines, 9, "firm_age", "")
    lines = _set(lines, 8, "firm_id", "T001")
    for line in range(2, 10):
        lines = _set(lines, line, "training", "1")
    path = _write(tmp_path, lines)
    error = _fail(path)
    assert [(p.row, p.column, p.value) for p in error.problems] == [
        (1, "promotion", None),
        (2, "export", "yes"),
        (4, "workers", "lima"),
        (4, "mk_local_trade", "7"),
        (8, "firm_id", "T001"),
        (9, "firm_age", ""),
        (None, "training", None),
    ]
    message = str(error)
    assert message.startswith("survey failed validation with 7 problems:\n  - ")
    assert message.count("\n  - ") == 7


# --------------------------------------------------------------------------- numbers


@pytest.mark.parametrize(
    ("text", "decimal", "thousands", "value"),
    [
        ("1.000", ",", ".", 1000.0),
        ("1,5", ",", "", 1.5),
        ("1,5", ",", ".", 1.5),
        ("1.234.567,25", ",", ".", 1234567.25),
        ("-0,75", ",", ".", -0.75),
        ("1,234,567.5", ".", ",", 1234567.5),
        ("1.000", ".", "", 1.0),
        ("1.000", ".", ",", 1.0),
        ("1 000", ",", " ", 1000.0),
        ("1'000.5", ".", "'", 1000.5),
        ("12", ".", "", 12.0),
        (" 7 ", ".", "", 7.0),
        ("+3.5e2", ".", "", 350.0),
        ("2,5E-1", ",", ".", 0.25),
        (".5", ".", "", 0.5),
        ("1e-400", ".", "", 0.0),
        ("1e12", ".", "", 1e12),
    ],
)
def test_parse_number_reads_the_declared_convention(text, decimal, thousands, value):
    assert parse_number(text, decimal=decimal, thousands=thousands) == value


@pytest.mark.parametrize(
    ("text", "decimal", "thousands", "message"),
    [
        ("1_000", ".", "", "Python digit grouping '1_000' is not a number format; write 1000"),
        (
            "1_000.5",
            ".",
            "",
            "Python digit grouping '1_000.5' is not a number format; write 1000.5",
        ),
        ("١٢", ".", "", "non-ASCII digits (they would read as 12); write digits 0-9"),
        ("１２", ",", ".", "non-ASCII digits (they would read as 12); write digits 0-9"),
        ("1e400", ".", "", "too large: 1e400 overflows to infinity"),
        ("1,5e400", ",", "", "too large: 1,5e400 overflows to infinity"),
        ("1e13", ".", "", "too large: magnitude above 1e+12"),
        ("inf", ".", "", "not a finite number ('inf' is infinity)"),
        ("-Infinity", ",", ".", "not a finite number ('-Infinity' is infinity)"),
        ("nan", ".", "", "not a finite number ('nan' is NaN)"),
        ("NaN", ",", "", "not a finite number ('NaN' is NaN)"),
        (
            "1.000",
            ",",
            "",
            "'.' is neither the decimal mark (',') nor a declared thousands separator; "
            "declare the file's number format",
        ),
        (
            "1,5",
            ".",
            "",
            "',' is neither the decimal mark ('.') nor a declared thousands separator; "
            "declare the file's number format",
        ),
        (
            "1.00",
            ",",
            ".",
            "malformed digit grouping: thousands separator '.' must separate groups of "
            "three digits",
        ),
        ("1.2.3", ".", "", "not a number (two decimal marks '.')"),
        ("1,2,3", ",", "", "not a number (two decimal marks ',')"),
        ("0x1F", ".", "", "not a number"),
        ("", ".", "", "not a number"),
        ("--1", ".", "", "not a number"),
        ("12 ½", ".", "", "not a number (non-ASCII character '½', U+00BD)"),
    ],
)
def test_parse_number_refuses_by_name(text, decimal, thousands, message):
    with pytest.raises(ValueError) as caught:
        parse_number(text, decimal=decimal, thousands=thousands)
    assert str(caught.value) == message


@pytest.mark.parametrize(
    ("decimal", "thousands", "message"),
    [
        (";", "", "decimal must be '.' or ',', got ';'"),
        (",", ",", "thousands and decimal must differ, both are ','"),
        (".", "_", "thousands must be one of '', '.', ',', ' ', \"'\", got '_'"),
    ],
)
def test_parse_number_refuses_an_unknown_convention(decimal, thousands, message):
    with pytest.raises(ValueError) as caught:
        parse_number("1", decimal=decimal, thousands=thousands)
    assert str(caught.value) == message


def test_decimal_comma_file_reads_dots_as_thousands(tmp_path, bundled_lines):
    lines = [line.replace(",", ";") for line in bundled_lines]
    lines = _set(lines, 2, "firm_age", "12,5", sep=";")
    lines = _set(lines, 3, "workers", "1.000", sep=";")
    lines = _set(lines, 4, "firm_age", "1.234,5", sep=";")
    frame = load_survey(_write(tmp_path, lines))
    assert frame["workers"].tolist()[:3] == [15, 1000, 15]
    assert frame["firm_age"].tolist()[:3] == [12.5, 18.0, 1234.5]


def test_ambiguous_thousands_in_an_undeclared_file_is_refused(tmp_path, bundled_lines):
    lines = [line.replace(",", ";") for line in bundled_lines]
    path = _write(tmp_path, _set(lines, 3, "workers", "1.000", sep=";"))
    assert _single(path) == _one(
        f"{path}, row 3, column 'workers': ambiguous number: 1000 if '.' groups thousands, "
        "1 if it is the decimal mark, and no cell of this semicolon-delimited file shows the "
        "decimal mark; declare it ([data] decimal and thousands in the spec, --decimal and "
        "--thousands for validate): got '1.000'; expected a whole number >= 1"
    )
    assert load_survey(path, decimal=",", thousands=".")["workers"].iloc[1] == 1000
    assert load_survey(path, decimal=".")["workers"].iloc[1] == 1
    with pytest.raises(SurveyValidationError, match="nor a declared thousands separator"):
        load_survey(path, decimal=",")


def test_comma_delimited_file_uses_decimal_points(tmp_path, bundled_lines):
    path = _write(tmp_path, _set(bundled_lines, 3, "firm_age", "1.000"))
    assert load_survey(path)["firm_age"].iloc[1] == 1.0
    quoted = _write(tmp_path, _set(bundled_lines, 3, "workers", '"1,000"'), name="q.csv")
    assert load_survey(quoted)["workers"].iloc[1] == 1000


def test_mixed_decimal_marks_are_refused_at_each_cell(tmp_path, bundled_lines):
    lines = [line.replace(",", ";") for line in bundled_lines]
    lines = _set(lines, 2, "firm_age", "12,5", sep=";")
    path = _write(tmp_path, _set(lines, 5, "firm_age", "2.5", sep=";"))
    error = _fail(path)
    assert [(p.row, p.column, p.value) for p in error.problems] == [
        (2, "firm_age", "12,5"),
        (5, "firm_age", "2.5"),
    ]
    why = (
        "decimal mark cannot be told: the file writes decimals both ways (row 2, column "
        "'firm_age': '12,5'; row 5, column 'firm_age': '2.5'); declare it ([data] decimal in "
        "the spec, --decimal for validate)"
    )
    assert {p.issue for p in error.problems} == {why}
    declared = _fail(path, decimal=",")  # declared: only the other convention's cell is wrong
    assert [(p.row, p.value) for p in declared.problems] == [(5, "2.5")]


@pytest.mark.parametrize(
    ("written", "issue"),
    [
        ("1_000", "Python digit grouping '1_000' is not a number format; write 1000"),
        ("١٢", "non-ASCII digits (they would read as 12); write digits 0-9"),
        ("1e400", "too large: 1e400 overflows to infinity"),
        ("inf", "not a finite number ('inf' is infinity)"),
    ],
)
def test_python_spellings_in_a_file_are_refused_by_name(tmp_path, bundled_lines, written, issue):
    path = _write(tmp_path, _set(bundled_lines, 4, "workers", written))
    assert _single(path) == _one(
        f"{path}, row 4, column 'workers': {issue}: got {written!r}; expected a whole number >= 1"
    )


def test_nan_cell_is_a_missing_value_not_a_number(tmp_path, bundled_lines):
    path = _write(tmp_path, _set(bundled_lines, 4, "workers", "nan"))
    assert _single(path) == _one(
        f"{path}, row 4, column 'workers': missing value: got 'nan'; expected a whole number >= 1"
    ) + "\n" + MISSING_CELLS_HINT.format(cells=1)


def test_frame_numbers_are_taken_as_they_are_and_bounded():
    frame = load_survey(tumang_data_path())
    big = frame.astype({"workers": float})
    big.loc[2, "firm_age"] = 1e300
    big.loc[3, "workers"] = np.inf
    error = _fail(big)
    assert [(p.row, p.column, p.issue) for p in error.problems] == [
        (4, "firm_age", "too large: magnitude above 1e+12"),
        (5, "workers", "too large: inf overflows to infinity"),
    ]


def test_utf16_file_with_a_byte_order_mark(tmp_path, bundled_lines):
    path = tmp_path / "utf16.csv"
    path.write_bytes("\n".join(bundled_lines).encode("utf-16"))
    assert load_survey(path)["firm_id"].tolist()[:2] == ["T001", "T002"]


def test_xlsx_without_openpyxl_says_which_package(tmp_path, monkeypatch):
    path = tmp_path / "survey.xlsx"
    load_survey(tumang_data_path()).to_excel(path, index=False)
    monkeypatch.setitem(__import__("sys").modules, "openpyxl", None)
    assert _single(path) == _one(
        f"{path}: reading .xlsx workbooks needs the optional package openpyxl; expected "
        "openpyxl installed: pip install openpyxl"
    )


def test_frame_integer_beyond_any_float_is_refused():
    frame = load_survey(tumang_data_path()).astype({"workers": object})
    frame.loc[0, "workers"] = 10**400
    (problem,) = _fail(frame).problems
    assert (problem.row, problem.column, problem.issue) == (
        2,
        "workers",
        f"too large: {10**400} overflows to infinity",
    )

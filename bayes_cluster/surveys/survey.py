"""Loading and validating survey files against a codebook.

:func:`load_survey` reads a survey (CSV/TSV/semicolon text or an ``.xlsx`` workbook, or an
existing :class:`pandas.DataFrame`), checks every cell against a codebook
(:data:`bayes_cluster.surveys.codebook.TUMANG_CODEBOOK` by default) and returns a typed frame.
It collects *every* problem before failing, and raises one
:class:`SurveyValidationError` that lists each problem with the file, the row (the
file's line number; the header is line 1), the column, the offending value and what was
expected.  Loading only reads: it never modifies or writes a file.

Text files are decoded as UTF-8 (with or without a byte-order mark) or UTF-16 (with a
byte-order mark), falling back to Windows-1252; the delimiter is sniffed from the header
line (``,``, ``;``, tab or ``|``).

Numbers are read as written, never guessed (:func:`parse_number`).  The decimal mark and
thousands separator are either declared (``decimal=``/``thousands=``; ``[data] decimal``
and ``thousands`` in a spec) or told from the file itself: a cell such as ``12,5`` or
``1.234.567`` shows decimal commas (then ``.`` groups thousands: ``1.000`` is 1000), a
cell such as ``12.5`` or ``1,234,567`` shows decimal points (then ``,`` groups thousands).
A comma-delimited file with no such cell uses decimal points.  In any other file whose
convention cannot be told, a value such as ``1.000`` is refused as ambiguous, naming the
file, row, column and value; so is a file that writes decimals both ways.  Python-only
spellings (``1_000``), non-ASCII digits, ``inf``/``nan`` and numbers beyond
:data:`MAX_MAGNITUDE` are refused by name.
"""

from __future__ import annotations

import csv
import difflib
import io
import math
import re
import unicodedata
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from bayes_cluster.surveys.codebook import (
    DECIMAL_MARKS,
    THOUSANDS_SEPARATORS,
    TUMANG_CODEBOOK,
    Column,
)

__all__ = [
    "DECIMAL_MARKS",
    "MAX_MAGNITUDE",
    "MISSING_TOKENS",
    "THOUSANDS_SEPARATORS",
    "SurveyProblem",
    "SurveyValidationError",
    "SurveyWarning",
    "describe_survey",
    "load_survey",
    "parse_number",
    "tumang_data_path",
]

MISSING_TOKENS: frozenset[str] = frozenset({"", "na", "n/a", "nan", "null", "none"})
"""Cell texts read as a missing value (compared case-insensitively, after stripping)."""

_DELIMITERS = (",", ";", "\t", "|")
_EXCEL_SUFFIXES = (".xlsx", ".xlsm")
_ONE_ROW_PER_FIRM = "at least one row per firm below the header"

MAX_MAGNITUDE: float = 1e12
"""Largest absolute value read from a survey: larger values overflow the models' arithmetic
(standardisation squares them) and are no firm's count or age."""

MAX_FILE_BYTES: int = 200 * 10**6
"""Largest survey file read (a cluster survey of firms is far smaller)."""

_NUMBER = re.compile(r"([+-]?)([0-9][0-9.,' ]*|[.,][0-9]+)(?:[eE]([+-]?[0-9]+))?")
_NON_FINITE = {"inf": "infinity", "infinity": "infinity", "nan": "NaN"}
_BINARY_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"%PDF", "a PDF document"),
    (b"\x1f\x8b", "gzip-compressed data"),
    (b"PK\x03\x04", "a ZIP archive"),
    (b"\xd0\xcf\x11\xe0", "an old-style (.xls) Office document"),
)


@dataclass(frozen=True)
class SurveyProblem:
    """One problem found while validating a survey.

    Attributes
    ----------
    file : str
        The file name (``"<DataFrame>"`` for an in-memory frame).
    row : int or None
        Line number in the file, the header being line 1 (for a spreadsheet, the sheet's
        row number; for a frame, the line it would have in a CSV). ``None`` when the
        problem concerns the whole file or column.
    column : str or None
        The column concerned, if any.
    value : str or None
        The offending value as text, if any.
    expected : str
        What a valid input looks like.
    issue : str
        What is wrong, in a few words.
    """

    file: str
    row: int | None
    column: str | None
    value: str | None
    expected: str
    issue: str

    def __str__(self) -> str:
        where = self.file
        if self.row is not None:
            where += f", row {self.row}"
        if self.column is not None:
            where += f", column {self.column!r}"
        text = f"{where}: {self.issue}"
        if self.value is not None:
            text += f": got {self.value!r}"
        return f"{text}; expected {self.expected}"


MISSING_CELLS_HINT = (
    "{cells} blank cell(s): blanks are handled only by an explicit choice, and missing is "
    '"error" (the default). Choose one ([data] missing in a spec, load_survey(missing=...) '
    'in Python): "model" imputes each blank predictor cell inside the Bayesian models '
    "(complete cases and multiple imputation beside them for the frequentist logits; "
    'docs/missing_data.md), "drop" leaves out every firm with a blank.'
)
"""The last line of a validation error with blank cells under ``missing="error"``."""


class SurveyValidationError(ValueError):
    """A survey failed validation; :attr:`problems` lists every problem found.

    Parameters
    ----------
    problems : sequence of SurveyProblem
        All problems, in file order.
    hint : str, optional
        A last line saying what the user can do (e.g. how to handle blank cells).
    """

    def __init__(self, problems: Sequence[SurveyProblem], hint: str | None = None):
        self.problems: list[SurveyProblem] = list(problems)
        self.hint = hint
        count = len(self.problems)
        noun = "problem" if count == 1 else "problems"
        lines = [f"survey failed validation with {count} {noun}:"]
        lines += [f"  - {problem}" for problem in self.problems]
        if hint:
            lines.append(hint)
        super().__init__("\n".join(lines))


class SurveyWarning(UserWarning):
    """Rows were dropped from a survey by an explicit choice (``missing="drop"``)."""


@dataclass
class _Table:
    """Raw cells of a survey: text only, with the line number of each row."""

    file: str
    header: list[str]
    rows: list[list[Any]]
    line_numbers: list[int]
    delimiter: str | None
    """The text file's delimiter; None for a workbook or a frame."""


def tumang_data_path() -> Path:
    """Return the path of the bundled synthetic Tumang survey CSV.

    Looks inside the installed package (``bayes_cluster/_data``, where a wheel puts it)
    and then in the source tree (``data/tumang_synthetic.csv``).

    Returns
    -------
    pathlib.Path
        An existing file.

    Raises
    ------
    FileNotFoundError
        If neither location holds the file.

    Examples
    --------
    >>> tumang_data_path().name
    'tumang_synthetic.csv'
    """
    package_dir = Path(__file__).resolve().parent.parent  # bayes_cluster/
    candidates = (
        package_dir / "_data" / "tumang_synthetic.csv",
        package_dir.parent / "data" / "tumang_synthetic.csv",
    )
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(
        "bundled tumang_synthetic.csv not found; looked in "
        + " and ".join(str(c) for c in candidates)
    )


def load_survey(
    source: str | Path | pd.DataFrame,
    *,
    codebook: Sequence[Column] = TUMANG_CODEBOOK,
    outcome: str | None = None,
    id_column: str | None = None,
    predictors: Sequence[str] | None = None,
    outcome_labels: Mapping[str, int] | None = None,
    missing: Literal["error", "drop", "model"] = "error",
    max_missing_fraction: float = 0.5,
    sheet_name: str | int = 0,
    decimal: str | None = None,
    thousands: str | None = None,
) -> pd.DataFrame:
    """Read a survey and validate it against a codebook.

    Every problem is collected before failing: a file with several mistakes gets one
    :class:`SurveyValidationError` that lists them all.  The file is only read.

    Parameters
    ----------
    source : str, pathlib.Path or pandas.DataFrame
        A ``.csv``/``.tsv``/``.txt`` text table (delimiter sniffed), an ``.xlsx`` workbook,
        or a frame already in memory (not modified).
    codebook : sequence of Column
        The columns to expect; default the Tumang codebook. Columns of the file that the
        codebook does not name are kept as read, unvalidated.
    outcome : str, optional
        The 0/1 outcome column; default the codebook column with ``role="outcome"``. Both
        classes must occur.
    id_column : str, optional
        The unique firm identifier; default the codebook column with ``role="id"``.
    predictors : sequence of str, optional
        Columns that must not be constant; default the codebook columns with
        ``role="predictor"`` (or, if none has a role, every numeric column other than the
        outcome).
    outcome_labels : mapping of str to int, optional
        Labels accepted in the outcome column besides 0/1, e.g.
        ``{"ekspor": 1, "domestik": 0}`` or ``{"export": 1, "domestic": 0}``; compared
        case-insensitively. Without it, only 0 and 1 are accepted.
    missing : {"error", "drop", "model"}
        ``"error"`` (default) reports every missing cell of a codebook column as a
        problem. ``"drop"`` drops the rows with missing cells instead, and reports their
        line numbers in a :class:`SurveyWarning` and in ``frame.attrs["dropped_rows"]``.
        ``"model"`` keeps blank cells of numeric (binary, count, number, Likert) columns
        other than the id and the outcome as NaN, for a model to impute or marginalise;
        such a column is then ``float64``, and ``frame.attrs["missing_cells"]`` lists
        ``(line, firm id, column)`` of each blank. A blank outcome, id or category, a
        column blank on every row, or blank on more than ``max_missing_fraction`` of the
        rows, is still a problem.
    max_missing_fraction : float, default 0.5
        With ``missing="model"``: the largest share of blank cells a column may have.
    sheet_name : str or int
        Worksheet of an ``.xlsx`` file.
    decimal : {".", ","}, optional
        The file's decimal mark. Default: told from the file (see the module docstring);
        values that could be read two ways are then refused.
    thousands : {"", ".", ",", " ", "'"}, optional
        The file's thousands separator (``""``: none); needs ``decimal``. Default: none
        when ``decimal`` is given, else the mark that is not the decimal one.

    Returns
    -------
    pandas.DataFrame
        One row per firm, columns in file order: ``int64`` for binary, count and Likert
        columns, ``float64`` for numbers, ``str`` for ids and categories. ``attrs`` holds
        ``source`` (the file name) and ``dropped_rows`` (line numbers, possibly empty).

    Raises
    ------
    SurveyValidationError
        With :attr:`~SurveyValidationError.problems`, one record per problem.

    Examples
    --------
    >>> frame = load_survey(tumang_data_path())
    >>> frame.shape
    (60, 22)
    >>> int(frame["export"].sum())
    32
    """
    if missing not in ("error", "drop", "model"):
        raise ValueError(f"missing must be 'error', 'drop' or 'model', got {missing!r}")
    _check_number_format(decimal, thousands)
    codebook = tuple(codebook)
    by_name = {column.name: column for column in codebook}
    outcome = outcome if outcome is not None else _role(codebook, "outcome")
    id_column = id_column if id_column is not None else _role(codebook, "id")
    for name, what in ((outcome, "outcome"), (id_column, "id_column")):
        if name is not None and name not in by_name:
            raise ValueError(f"{what} {name!r} is not a column of the codebook")
    if predictors is None:
        predictors = [c.name for c in codebook if c.role == "predictor"]
        if not predictors and not any(c.role for c in codebook):
            numeric = ("binary", "count", "number", "likert")
            predictors = [c.name for c in codebook if c.kind in numeric and c.name != outcome]
    labels = {str(k).strip().lower(): int(v) for k, v in (outcome_labels or {}).items()}
    bad_labels = {k: v for k, v in labels.items() if v not in (0, 1)}
    if bad_labels:
        raise ValueError(f"outcome_labels must map to 0 or 1, got {bad_labels}")

    table, problems = _read_table(source, sheet_name)
    if table is None:
        raise SurveyValidationError(problems)
    problems += _check_header(table, codebook)

    position = {name: i for i, name in enumerate(table.header)}
    present = [c for c in codebook if c.name in position]
    number_format = _number_format(table, present, position, decimal, thousands)
    missing_cells: dict[int, list[SurveyProblem]] = {}
    values: dict[str, list[Any]] = {c.name: [] for c in present}
    for r, (cells, line) in enumerate(zip(table.rows, table.line_numbers, strict=True)):
        for column in present:
            cell = cells[position[column.name]]
            value, problem = _parse_cell(
                cell,
                column,
                table,
                line,
                labels if column.name == outcome else None,
                number_format,
            )
            if problem is not None and problem.issue == "missing value":
                missing_cells.setdefault(r, []).append(problem)
            elif problem is not None:
                problems.append(problem)
            values[column.name].append(value)

    dropped_rows: list[int] = []
    keep = list(range(len(table.rows)))
    kept_blanks: list[tuple[int, str | None, str]] = []
    if missing == "model" and missing_cells:
        missing_cells, kept_blanks, column_problems = _keep_imputable_blanks(
            table, present, values, missing_cells, id_column, outcome, max_missing_fraction
        )
        problems += column_problems
    if missing == "drop" and missing_cells:
        dropped_rows = [table.line_numbers[r] for r in sorted(missing_cells)]
        keep = [r for r in keep if r not in missing_cells]
        problems = [p for p in problems if p.row not in set(dropped_rows)]
    else:
        for row_problems in missing_cells.values():
            problems.extend(row_problems)
    if not keep and dropped_rows:
        problems.append(
            SurveyProblem(
                table.file,
                None,
                None,
                None,
                "at least one complete row",
                "no rows left after dropping rows with missing values",
            )
        )
    else:
        problems += _check_columns(table, present, values, keep, id_column, outcome, predictors)
    # header (row 1), then cells in file order, then whole-column problems (no row)
    problems.sort(key=lambda p: (math.inf if p.row is None else p.row, _order(codebook, p.column)))
    if problems:
        hint = None
        if missing == "error" and missing_cells:
            hint = MISSING_CELLS_HINT.format(cells=sum(map(len, missing_cells.values())))
        raise SurveyValidationError(problems, hint)

    if dropped_rows:
        warnings.warn(
            f"{table.file}: dropped {len(dropped_rows)} row(s) with missing values "
            f"(missing='drop'): rows {', '.join(map(str, dropped_rows))}",
            SurveyWarning,
            stacklevel=2,
        )
    frame = _build_frame(source, table, present, values, keep, dropped_rows)
    frame.attrs["missing_cells"] = kept_blanks
    return frame


def _keep_imputable_blanks(
    table: _Table,
    present: Sequence[Column],
    values: Mapping[str, list[Any]],
    missing_cells: dict[int, list[SurveyProblem]],
    id_column: str | None,
    outcome: str | None,
    max_missing_fraction: float,
) -> tuple[dict[int, list[SurveyProblem]], list[tuple[int, str | None, str]], list]:
    """Split the blanks into those a model may fill and those that stay problems."""
    numeric = {c.name for c in present if c.kind in ("binary", "count", "number", "likert")}
    imputable = numeric - {id_column, outcome}
    remaining: dict[int, list[SurveyProblem]] = {}
    kept: list[tuple[int, str | None, str]] = []
    per_column: dict[str, int] = {}
    for r, row_problems in sorted(missing_cells.items()):
        for problem in row_problems:
            if problem.column in imputable:
                firm = values[id_column][r] if id_column in values else None
                kept.append((problem.row, firm, problem.column))
                per_column[problem.column] = per_column.get(problem.column, 0) + 1
            else:
                if problem.column == outcome:
                    problem = replace(problem, issue="missing value (an outcome is not imputed)")
                remaining.setdefault(r, []).append(problem)
    problems = []
    rows = len(table.rows)
    for column, count in per_column.items():
        if count == rows:
            issue = "every cell blank: there is nothing to impute it from"
        elif count / rows > max_missing_fraction:
            issue = (
                f"{count} of {rows} cells blank ({count / rows:.0%}), more than the "
                f"{max_missing_fraction:.0%} missing='model' accepts"
            )
        else:
            continue
        problems.append(
            SurveyProblem(table.file, None, column, None, "mostly answered cells", issue)
        )
    return remaining, kept, problems


def describe_survey(
    frame: pd.DataFrame,
    *,
    codebook: Sequence[Column] = TUMANG_CODEBOOK,
    outcome: str | None = None,
) -> dict[str, Any]:
    """Summarise a validated survey: size, outcome classes and per-column ranges.

    Parameters
    ----------
    frame : pandas.DataFrame
        A frame returned by :func:`load_survey`.
    codebook : sequence of Column
        The codebook it was validated against.
    outcome : str, optional
        The 0/1 outcome column; default the codebook column with ``role="outcome"``.

    Returns
    -------
    dict
        ``n`` (firms), ``outcome`` (its name or None), ``exporters`` and ``domestic``
        (firms with outcome 1 and 0), and ``columns``: a DataFrame indexed by column with
        ``type``, ``min``, ``max``, ``mean`` (numeric columns) and ``levels`` (number of
        distinct values).

    Examples
    --------
    >>> summary = describe_survey(load_survey(tumang_data_path()))
    >>> summary["n"], summary["exporters"], summary["domestic"]
    (60, 32, 28)
    """
    codebook = tuple(codebook)
    outcome = outcome if outcome is not None else _role(codebook, "outcome")
    records = []
    for column in codebook:
        if column.name not in frame.columns:
            continue
        series = frame[column.name]
        numeric = column.kind in ("binary", "count", "number", "likert")
        records.append(
            {
                "column": column.name,
                "type": column.kind,
                "min": float(series.min()) if numeric else math.nan,
                "max": float(series.max()) if numeric else math.nan,
                "mean": float(series.mean()) if numeric else math.nan,
                "levels": int(series.nunique()),
            }
        )
    summary: dict[str, Any] = {"n": len(frame), "outcome": None, "exporters": None}
    summary["domestic"] = None
    if outcome is not None and outcome in frame.columns:
        summary["outcome"] = outcome
        summary["exporters"] = int((frame[outcome] == 1).sum())
        summary["domestic"] = int((frame[outcome] == 0).sum())
    summary["columns"] = pd.DataFrame.from_records(records, index="column")
    return summary


# --------------------------------------------------------------------------- reading


def _read_table(
    source: str | Path | pd.DataFrame, sheet_name: str | int
) -> tuple[_Table | None, list[SurveyProblem]]:
    """Read raw cells from a frame, a workbook or a text file (never writes)."""
    if isinstance(source, pd.DataFrame):
        return _frame_table(source)
    path = Path(source)
    name = str(source)
    text_expected = "a .csv, .tsv or .txt text table or an .xlsx workbook"
    if not path.exists():
        return None, [_file_problem(name, "file not found", f"an existing file: {text_expected}")]
    if path.is_dir():
        return None, [_file_problem(name, "is a directory, not a file", text_expected)]
    if path.suffix.lower() == ".toml":  # validate models/x.toml: a spec, not a survey
        return None, [
            _file_problem(
                name,
                "is a spec file, not a survey (check the survey a spec names with "
                "'bayes-cluster validate --spec SPEC')",
                text_expected,
            )
        ]
    if not path.is_file():  # a device or a pipe: reading it might never end
        return None, [
            _file_problem(name, "not a regular file (a device or a pipe)", text_expected)
        ]
    if path.stat().st_size > MAX_FILE_BYTES:
        size = f"{path.stat().st_size / 1e6:.0f} MB"
        return None, [
            _file_problem(
                name,
                f"too large for a firm survey ({size})",
                f"at most {MAX_FILE_BYTES // 10**6} MB",
            )
        ]
    try:
        raw = path.read_bytes()
    except OSError as error:
        return None, [_file_problem(name, f"could not be read ({error.strerror})", text_expected)]
    if not raw.strip():
        return None, [
            _file_problem(
                name, "file is empty", "a header line with the column names, then one row per firm"
            )
        ]
    if path.suffix.lower() in _EXCEL_SUFFIXES or raw.startswith(b"PK\x03\x04"):
        return _excel_table(path, name, raw, sheet_name)
    for signature, kind in _BINARY_SIGNATURES:
        if raw.startswith(signature):
            return None, [_file_problem(name, f"not a table (the file is {kind})", text_expected)]
    text = _decode(raw)
    if text is None:
        return None, [
            _file_problem(name, "not a table (the file holds binary data)", text_expected)
        ]
    return _text_table(name, text)


def _file_problem(name: str, issue: str, expected: str) -> SurveyProblem:
    return SurveyProblem(name, None, None, None, expected, issue)


def _decode(raw: bytes) -> str | None:
    """Decode text bytes (UTF-8, else Windows-1252); None for binary data."""
    for bom, codec in ((b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be")):
        if raw.startswith(bom):
            try:
                return raw[len(bom) :].decode(codec)
            except UnicodeDecodeError:
                return None
    if b"\x00" in raw[:8192]:
        return None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("cp1252", errors="replace")
    sample = text[:8192]
    controls = sum(1 for ch in sample if ord(ch) < 32 and ch not in "\t\r\n")
    if controls > 0.01 * len(sample) or sample.count("\ufffd") > 0.01 * len(sample):
        return None
    return text


def _text_table(name: str, text: str) -> tuple[_Table | None, list[SurveyProblem]]:
    lines = text.splitlines()
    header_line = next((line for line in lines if line.strip()), "")
    delimiter = max(_DELIMITERS, key=header_line.count)
    if header_line.count(delimiter) == 0:
        delimiter = ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    header: list[str] | None = None
    rows: list[list[Any]] = []
    line_numbers: list[int] = []
    problems: list[SurveyProblem] = []
    start = 1
    for cells in reader:
        line = start
        start = reader.line_num + 1
        if not cells or (len(cells) == 1 and not cells[0].strip()):
            continue  # a blank line: no firm
        if header is None:
            header = [cell.strip() for cell in cells]
            continue
        if len(cells) != len(header):
            problems.append(
                SurveyProblem(
                    name,
                    line,
                    None,
                    f"{len(cells)} fields",
                    f"{len(header)} fields separated by {_delimiter_name(delimiter)}, "
                    "as in the header",
                    "wrong number of fields",
                )
            )
            continue
        rows.append(cells)
        line_numbers.append(line)
    assert header is not None  # the file is not blank
    if not rows and not problems:
        problems.append(_file_problem(name, "no data rows (header only)", _ONE_ROW_PER_FIRM))
    table = _Table(name, header, rows, line_numbers, delimiter=delimiter)
    return table, problems


def _delimiter_name(delimiter: str) -> str:
    return {",": "commas", ";": "semicolons", "\t": "tabs", "|": "'|'"}[delimiter]


def _excel_table(
    path: Path, name: str, raw: bytes, sheet_name: str | int
) -> tuple[_Table | None, list[SurveyProblem]]:
    expected = "an .xlsx workbook whose first row holds the column names"
    try:
        sheet = pd.read_excel(
            io.BytesIO(raw), sheet_name=sheet_name, header=None, dtype=object, engine="openpyxl"
        )
    except ImportError:
        issue = "reading .xlsx workbooks needs the optional package openpyxl"
        return None, [_file_problem(name, issue, "openpyxl installed: pip install openpyxl")]
    except Exception as error:  # openpyxl raises many types for corrupt files
        issue = f"could not be read as a workbook ({type(error).__name__}: {error})"
        return None, [_file_problem(name, issue, expected)]
    cells = sheet.to_numpy().tolist()
    if not cells:
        return None, [_file_problem(name, "file is empty", expected)]
    header = [_cell_text(cell) for cell in cells[0]]
    rows, line_numbers = [], []
    for offset, row in enumerate(cells[1:]):
        if all(_cell_text(cell) == "" for cell in row):
            continue
        rows.append(row)
        line_numbers.append(offset + 2)
    problems = []
    if not rows:
        problems.append(_file_problem(name, "no data rows (header only)", _ONE_ROW_PER_FIRM))
    return _Table(name, header, rows, line_numbers, delimiter=None), problems


def _frame_table(frame: pd.DataFrame) -> tuple[_Table | None, list[SurveyProblem]]:
    name = "<DataFrame>"
    header = [str(column) for column in frame.columns]
    rows = frame.astype(object).to_numpy().tolist()
    if not header:
        return None, [_file_problem(name, "frame has no columns", "one column per codebook entry")]
    problems = []
    if not rows:
        problems.append(_file_problem(name, "no data rows", "at least one row per firm"))
    return _Table(name, header, rows, list(range(2, len(rows) + 2)), delimiter=","), problems


def _cell_text(cell: Any) -> str:
    """Text of one raw cell: strings stripped, numbers without spurious decimals."""
    if cell is None:
        return ""
    if isinstance(cell, float):
        if math.isnan(cell):
            return ""
        return str(int(cell)) if cell.is_integer() else repr(cell)
    try:
        if pd.isna(cell):
            return ""
    except (TypeError, ValueError):
        pass
    return str(cell).strip()


# --------------------------------------------------------------------------- numbers


def parse_number(text: str, *, decimal: str = ".", thousands: str = "") -> float:
    """Read one number exactly as written under a declared convention.

    Parameters
    ----------
    text : str
        The cell text, e.g. ``"1.234,5"``; surrounding blanks are ignored.
    decimal : {".", ","}
        The decimal mark.
    thousands : {"", ".", ",", " ", "'"}
        The thousands separator (``""``: none). Groups must be of three digits.

    Returns
    -------
    float
        The value.

    Raises
    ------
    ValueError
        Naming the reason: non-ASCII digits, Python's ``_`` digit grouping,
        ``inf``/``nan``, a number beyond :data:`MAX_MAGNITUDE` (or one that overflows),
        a mark that is neither the decimal mark nor the thousands separator, a malformed
        digit group, or text that is not a number at all (the message then starts with
        ``"not a number"``).

    Examples
    --------
    >>> parse_number("1.000", decimal=",", thousands=".")
    1000.0
    >>> parse_number("1,5", decimal=",")
    1.5
    >>> parse_number("1_000")
    Traceback (most recent call last):
    ...
    ValueError: Python digit grouping '1_000' is not a number format; write 1000
    """
    _check_number_format(decimal, thousands)
    written = text.strip()
    if not written.isascii():
        if any(unicodedata.category(ch) == "Nd" for ch in written if not ch.isascii()):
            digits = "".join(
                str(unicodedata.digit(ch)) if unicodedata.category(ch) == "Nd" else ch
                for ch in written
            )
            return _raise(f"non-ASCII digits (they would read as {digits}); write digits 0-9")
        odd = next(ch for ch in written if not ch.isascii())
        return _raise(f"not a number (non-ASCII character {odd!r}, U+{ord(odd):04X})")
    if "_" in written and any(ch.isdigit() for ch in written):
        plain = written.replace("_", "")
        return _raise(f"Python digit grouping {written!r} is not a number format; write {plain}")
    bare = written.lower().lstrip("+-")
    if bare in _NON_FINITE:
        return _raise(f"not a finite number ({written!r} is {_NON_FINITE[bare]})")
    match = _NUMBER.fullmatch(written)
    if match is None:
        return _raise("not a number")
    sign, mantissa, exponent = match.groups()
    whole, fraction = mantissa, ""
    if decimal in mantissa:
        whole, _, fraction = mantissa.rpartition(decimal)
        if not fraction.isdigit() and fraction:
            return _raise(f"not a number (text after the decimal mark {decimal!r})")
    digits = whole
    if thousands and thousands in whole:
        groups = whole.split(thousands)
        if not (
            all(g.isdigit() for g in groups)
            and 1 <= len(groups[0]) <= 3
            and all(len(g) == 3 for g in groups[1:])
        ):
            return _raise(
                f"malformed digit grouping: thousands separator {thousands!r} must separate "
                "groups of three digits"
            )
        digits = "".join(groups)
    if digits and not digits.isdigit():
        mark = next(ch for ch in digits if not ch.isdigit())
        if mark == decimal:
            return _raise(f"not a number (two decimal marks {decimal!r})")
        if mark in ".,' ":
            grouping = (
                f"the thousands separator ({thousands!r})"
                if thousands
                else "a declared thousands separator"
            )
            return _raise(
                f"{mark!r} is neither the decimal mark ({decimal!r}) nor {grouping}; "
                "declare the file's number format"
            )
        return _raise("not a number")
    if not digits and not fraction:
        return _raise("not a number")
    value = float(
        f"{sign}{digits or '0'}.{fraction or '0'}" + (f"e{exponent}" if exponent else "")
    )
    return _check_magnitude(value, written)


def _raise(message: str) -> float:
    raise ValueError(message)


def _as_float(cell: Any) -> float:
    try:
        return float(cell)
    except OverflowError:  # a Python integer beyond any float
        return math.inf


def _check_magnitude(value: float, written: str) -> float:
    if math.isnan(value):
        return _raise(f"not a finite number ({written!r} is 'not a number')")
    if math.isinf(value):
        return _raise(f"too large: {written} overflows to infinity")
    if abs(value) > MAX_MAGNITUDE:
        return _raise(f"too large: magnitude above {MAX_MAGNITUDE:g}")
    return value


def _check_number_format(decimal: str | None, thousands: str | None) -> None:
    if decimal is not None and decimal not in DECIMAL_MARKS:
        raise ValueError(f"decimal must be '.' or ',', got {decimal!r}")
    if thousands is None:
        return
    if thousands not in THOUSANDS_SEPARATORS:
        shown = ", ".join(map(repr, THOUSANDS_SEPARATORS))
        raise ValueError(f"thousands must be one of {shown}, got {thousands!r}")
    if decimal is None:
        raise ValueError("thousands needs decimal: declare the decimal mark too")
    if thousands == decimal:
        raise ValueError(f"thousands and decimal must differ, both are {decimal!r}")


def _is_typed_number(cell: Any) -> bool:
    """Whether a cell is a number already (a workbook's or a frame's), not text."""
    import numpy as np

    return isinstance(cell, int | float | np.integer | np.floating) and not isinstance(
        cell, bool | np.bool_
    )


def _decimal_evidence(text: str) -> str | None:
    """Return the decimal mark a written number shows: ``"."``, ``","`` or None."""
    body = re.sub(r"[eE][+-]?\d+$", "", text.strip().lstrip("+-"))
    marks = [ch for ch in body if ch in ".,"]
    if not marks or not body.replace(".", "").replace(",", "").isdigit():
        return None
    if len(set(marks)) == 2:
        return marks[-1]  # 1.234,5 or 1,234.5: the last mark is the decimal one
    mark = marks[0]
    other = "," if mark == "." else "."
    if len(marks) > 1:  # 1.234.567: the mark groups thousands (if the groups are well formed)
        groups = body.split(mark)
        grouped = 1 <= len(groups[0]) <= 3 and all(len(g) == 3 for g in groups[1:])
        return other if grouped else None
    whole, fraction = body.split(mark)
    if len(fraction) == 3 and 1 <= len(whole) <= 3 and not whole.startswith("0"):
        return None  # 1.000: a thousands group or three decimals
    return mark


@dataclass(frozen=True)
class _NumberFormat:
    """The number convention of one file; ``decimal`` None when it cannot be told."""

    decimal: str | None
    thousands: str
    why: str

    def parse(self, text: str) -> float:
        if self.decimal is not None:
            return parse_number(text, decimal=self.decimal, thousands=self.thousands)
        marks = [ch for ch in text if ch in ".,"]
        if marks and _decimal_evidence(text) is None:
            mark = marks[0]
            other = "," if mark == "." else "."
            try:
                as_group = parse_number(text, decimal=other, thousands=mark)
                as_decimal = parse_number(text, decimal=mark)
            except ValueError:
                pass
            else:
                if as_group != as_decimal:
                    raise ValueError(
                        f"ambiguous number: {as_group:g} if {mark!r} groups thousands, "
                        f"{as_decimal:g} if it is the decimal mark, and {self.why}; declare "
                        "it ([data] decimal and thousands in the spec, --decimal and "
                        "--thousands for validate)"
                    )
        # no mark, or marks that cannot be told apart: the digits decide
        return parse_number(text, decimal=self.decimal or ".", thousands="")


def _number_format(
    table: _Table,
    present: Sequence[Column],
    position: Mapping[str, int],
    decimal: str | None,
    thousands: str | None,
) -> _NumberFormat:
    """Return the declared convention, or the one the numeric text cells show."""
    if decimal is not None:
        return _NumberFormat(decimal, thousands or "", "declared")
    numeric = [c for c in present if c.kind in ("binary", "count", "number", "likert")]
    seen: dict[str, tuple[int, str, str]] = {}
    for cells, line in zip(table.rows, table.line_numbers, strict=True):
        for column in numeric:
            cell = cells[position[column.name]]
            if _is_typed_number(cell):
                continue
            text = _cell_text(cell)
            mark = _decimal_evidence(text) if text.isascii() else None
            if mark is not None and mark not in seen:
                seen[mark] = (line, column.name, text)
    if len(seen) == 2:
        (r1, c1, v1), (r2, c2, v2) = seen[","], seen["."]
        why = (
            f"the file writes decimals both ways (row {r1}, column {c1!r}: {v1!r}; "
            f"row {r2}, column {c2!r}: {v2!r})"
        )
        return _MixedFormat(None, "", why)
    if len(seen) == 1:
        (mark,) = seen
        return _NumberFormat(mark, "," if mark == "." else ".", "told from the file")
    if table.delimiter == ",":
        return _NumberFormat(".", ",", "a comma-delimited file uses decimal points")
    kind = {";": "semicolon", "\t": "tab", "|": "'|'"}.get(table.delimiter or "", "")
    where = f"{kind}-delimited file" if kind else "workbook"
    return _NumberFormat(None, "", f"no cell of this {where} shows the decimal mark")


class _MixedFormat(_NumberFormat):
    """A file that writes decimals both ways: every number with a mark is refused."""

    def parse(self, text: str) -> float:
        if any(mark in text for mark in ".,"):
            raise ValueError(
                f"decimal mark cannot be told: {self.why}; declare it ([data] decimal in "
                "the spec, --decimal for validate)"
            )
        return parse_number(text)


# --------------------------------------------------------------------------- checking


def _role(codebook: Sequence[Column], role: str) -> str | None:
    return next((c.name for c in codebook if c.role == role), None)


def _order(codebook: Sequence[Column], column: str | None) -> int:
    names = [c.name for c in codebook]
    return names.index(column) if column in names else len(names)


def _check_header(table: _Table, codebook: Sequence[Column]) -> list[SurveyProblem]:
    problems = []
    seen: set[str] = set()
    for name in table.header:
        if name in seen:
            problems.append(
                SurveyProblem(
                    table.file, 1, name, None, "each column name once", "duplicate column name"
                )
            )
        seen.add(name)
    present = set(table.header)
    for column in codebook:
        if column.name in present or not column.required:
            continue
        candidates = [h for h in table.header if h not in {c.name for c in codebook}]
        close = difflib.get_close_matches(column.name, candidates or table.header, n=1, cutoff=0.6)
        if not close:
            lowered = {h.lower(): h for h in table.header}
            close = [lowered[column.name.lower()]] if column.name.lower() in lowered else []
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        problems.append(
            SurveyProblem(
                table.file,
                1,
                column.name,
                None,
                f"a column named {column.name!r} holding {column.expected()}",
                f"required column missing{hint}",
            )
        )
    return problems


def _parse_cell(
    cell: Any,
    column: Column,
    table: _Table,
    line: int,
    labels: Mapping[str, int] | None,
    number_format: _NumberFormat,
) -> tuple[Any, SurveyProblem | None]:
    """Convert one cell; return (value, problem or None)."""
    text = _cell_text(cell)
    expected = column.expected()
    if labels:
        expected += " (or one of " + ", ".join(repr(k) for k in labels) + ")"

    def problem(issue: str) -> SurveyProblem:
        return SurveyProblem(table.file, line, column.name, text, expected, issue)

    if text.lower() in MISSING_TOKENS:
        return None, problem("missing value")
    if column.kind == "id":
        return text, None
    if column.kind == "category":
        if column.levels and text not in column.levels:
            return None, problem("unknown category")
        return text, None
    if labels and text.lower() in labels:
        return labels[text.lower()], None
    try:
        if _is_typed_number(cell):  # a workbook's or a frame's own number: no text to read
            number = _check_magnitude(_as_float(cell), text)
        else:
            number = number_format.parse(text)
    except ValueError as error:
        if column.kind == "binary" and str(error).startswith("not a number"):
            return None, problem("not 0/1")
        return None, problem(str(error))
    if column.kind == "number":
        if column.minimum is not None and number < column.minimum:
            return None, problem("out of range")
        return number, None
    if not number.is_integer():
        return None, problem("not 0/1" if column.kind == "binary" else "not a whole number")
    whole = int(number)
    if column.kind == "binary":
        return (whole, None) if whole in (0, 1) else (None, problem("not 0/1"))
    if column.kind == "likert":
        return (whole, None) if whole in column.levels else (None, problem("out of range"))
    if column.minimum is not None and whole < column.minimum:  # count
        return None, problem("out of range")
    return whole, None


def _check_columns(
    table: _Table,
    present: Sequence[Column],
    values: Mapping[str, list[Any]],
    keep: Sequence[int],
    id_column: str | None,
    outcome: str | None,
    predictors: Sequence[str],
) -> list[SurveyProblem]:
    """Check across rows: unique ids, both outcome classes, non-constant predictors."""
    problems: list[SurveyProblem] = []
    names = {c.name for c in present}
    if id_column in names:
        first_seen: dict[str, int] = {}
        for r in keep:
            firm = values[id_column][r]
            line = table.line_numbers[r]
            if firm is None:  # missing: reported already
                continue
            if firm in first_seen:
                problems.append(
                    SurveyProblem(
                        table.file,
                        line,
                        id_column,
                        firm,
                        "a unique, non-empty identifier",
                        f"duplicate id (first on row {first_seen[firm]})",
                    )
                )
            else:
                first_seen[firm] = line
    if outcome in names:
        classes = {values[outcome][r] for r in keep}
        if len(classes) == 1 and None not in classes:  # skip when cells are invalid
            (only,) = classes
            problems.append(
                SurveyProblem(
                    table.file,
                    None,
                    outcome,
                    None,
                    "both outcome classes (0 and 1) among the firms",
                    f"all {len(keep)} firms have {outcome} = {only}",
                )
            )
    for name in predictors:
        if name not in names:
            continue
        distinct = {values[name][r] for r in keep}
        if len(distinct) == 1 and None not in distinct and len(keep) > 1:
            (only,) = distinct
            shown = f"{only:g}" if isinstance(only, float) else str(only)
            problems.append(
                SurveyProblem(
                    table.file,
                    None,
                    name,
                    None,
                    "at least two distinct values (its effect cannot be estimated)",
                    f"constant predictor: every firm has {shown}",
                )
            )
    return problems


def _build_frame(
    source: str | Path | pd.DataFrame,
    table: _Table,
    present: Sequence[Column],
    values: Mapping[str, list[Any]],
    keep: Sequence[int],
    dropped_rows: list[int],
) -> pd.DataFrame:
    by_name = {c.name: c for c in present}
    data: dict[str, pd.Series] = {}
    for i, name in enumerate(table.header):
        column = by_name.get(name)
        if column is None:  # extra column: kept as read
            if isinstance(source, pd.DataFrame):
                data[name] = source.iloc[list(keep), i].reset_index(drop=True)
            else:
                cells = [table.rows[r][i] for r in keep]
                data[name] = pd.Series(cells, dtype=object if not cells else None)
            continue
        kept = [values[name][r] for r in keep]
        if column.kind in ("binary", "count", "likert") and None in kept:
            data[name] = pd.Series([np.nan if v is None else v for v in kept], dtype="float64")
        elif column.kind in ("binary", "count", "likert"):
            data[name] = pd.Series(kept, dtype="int64")
        elif column.kind == "number":
            data[name] = pd.Series([np.nan if v is None else v for v in kept], dtype="float64")
        else:
            data[name] = pd.Series(kept, dtype="str")
    frame = pd.DataFrame(data)
    frame.attrs["source"] = table.file
    frame.attrs["dropped_rows"] = dropped_rows
    return frame

"""The data section: read and validate the survey, transform predictors, describe it."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from bayes_cluster.run.context import PipelineError, RunContext
from bayes_cluster.run.report import Alert, Paragraph, TableBlock
from bayes_cluster.run.spec import LogisticSpec, Spec

__all__ = ["apply_transforms", "load_data", "missing_cells", "run_data"]


def load_data(spec: Spec) -> tuple[pd.DataFrame, list[str]]:
    """Adapter: read and validate the survey.

    Parameters
    ----------
    spec : Spec
        The validated spec (its ``[data]`` section, and the ``[logistic]`` outcome and
        predictors the survey must hold).

    Returns
    -------
    frame : pandas.DataFrame
        The validated survey.
    notes : list of str
        The survey's warnings (SurveyWarning), shown in the report's Data section.

    Raises
    ------
    SurveyValidationError
        An invalid survey file.
    """
    from bayes_cluster.surveys.survey import SurveyWarning, load_survey

    logistic = spec.logistic
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", SurveyWarning)
        frame = load_survey(
            spec.data.path,
            codebook=spec.data.codebook,
            outcome=logistic.outcome if logistic else None,
            id_column=spec.data.id_column,
            predictors=list(logistic.predictors) if logistic else None,
            outcome_labels=spec.data.outcome_labels or None,
            missing=spec.data.missing,
            decimal=spec.data.decimal,
            thousands=spec.data.thousands,
        )
    notes = [str(w.message) for w in caught if issubclass(w.category, SurveyWarning)]
    return frame, notes


def apply_transforms(frame: pd.DataFrame, logistic: LogisticSpec, source: str) -> pd.DataFrame:
    """Add the transformed predictor columns of ``[logistic.transforms]``.

    Parameters
    ----------
    frame : pandas.DataFrame
        The validated survey.
    logistic : LogisticSpec
        The ``[logistic]`` section (its ``transforms`` and term names).
    source : str
        The spec file, named in the error message.

    Returns
    -------
    pandas.DataFrame
        A copy of ``frame`` with one column per transformed predictor.

    Raises
    ------
    PipelineError
        A transform undefined for some value (e.g. the log of zero).
    """
    frame = frame.copy()
    functions = {"log": (np.log, 0.0, True), "log1p": (np.log1p, -1.0, True)}
    functions["sqrt"] = (np.sqrt, 0.0, False)
    for column, name in logistic.transforms.items():
        function, bound, strict = functions[name]
        values = frame[column].astype(float)
        bad = values <= bound if strict else values < bound
        if bad.any():
            raise PipelineError(
                f"{source}: [logistic.transforms].{column}: {name} is undefined for "
                f"{int(bad.sum())} value(s) of {column} (e.g. {values[bad].iloc[0]:g})"
            )
        frame[logistic.term(column)] = function(values)
    return frame


def run_data(context: RunContext) -> None:
    """Write ``data_summary.csv`` and the report's Data section.

    Parameters
    ----------
    context : RunContext
        The run; every file is written through it, its report gets the section.
    """
    spec, frame = context.spec, context.frame
    from bayes_cluster.surveys.survey import describe_survey

    outcome = spec.logistic.outcome if spec.logistic else None
    summary = describe_survey(frame, codebook=spec.data.codebook, outcome=outcome)
    columns = summary["columns"]
    context.save_table(columns, "data_summary.csv")
    section = context.report.section("Data")
    description = spec.raw.get("description", "").strip()
    if description:
        section.add(Paragraph(" ".join(description.split())))
    section.add(
        Paragraph(
            f"Survey file `{spec.data.path.name}`: **{summary['n']} firms**, "
            f"{len(frame.columns)} columns, validated against the "
            f"{'spec' if 'columns' in spec.raw.get('data', {}) else 'built-in Tumang'} codebook."
        )
    )
    if "synthetic" in spec.data.path.name:
        section.add(
            Alert(
                "These are SYNTHETIC data drawn from a known truth (the study's raw data are "
                "not public); see data/README.md.",
                "warning",
            )
        )
    if outcome is not None:
        labels = spec.data.value_labels.get(outcome, {})
        section.add(
            Paragraph(
                f"Outcome `{outcome}`: {summary['exporters']} firms coded 1"
                f"{' (' + labels['1'] + ')' if '1' in labels else ''} and "
                f"{summary['domestic']} coded 0"
                f"{' (' + labels['0'] + ')' if '0' in labels else ''}."
            )
        )
    for note in context.results.get("data_notes", []):
        section.add(Alert(note, "warning"))
    section.add(TableBlock(columns, "Columns of the survey", digits=2, index=True))
    blanks = missing_cells(frame, [c.name for c in spec.data.codebook])
    if not blanks.empty:
        context.save_table(blanks, "missing_cells.csv")
        per_column = blanks["column"].value_counts()
        section.add(
            Alert(
                f"{len(blanks)} blank cell(s) in {blanks['firm'].nunique()} firm(s), kept "
                '(missing = "model"): '
                + ", ".join(f"{column} {count}" for column, count in per_column.items())
                + ". The Bayesian logits impute blank predictors, the frequentist logits "
                "use complete cases and multiple imputation, the latent-class fits leave "
                "blank items out of the likelihood.",
                "warning",
            ),
            TableBlock(blanks, "Blank cells of the survey (line = line of the file)"),
        )
    context.verdicts["n_firms"] = summary["n"]


def missing_cells(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """List the blank cells of a survey kept by ``missing = "model"``.

    Parameters
    ----------
    frame : pandas.DataFrame
        The validated survey.
    columns : list of str
        The codebook's columns (others are not listed).

    Returns
    -------
    pandas.DataFrame
        Columns ``firm``, ``column``, ``line`` (line of the file, the header being 1, as
        :func:`~bayes_cluster.surveys.survey.load_survey` recorded it), one row per blank.
    """
    lines = {
        (str(firm), column): line for line, firm, column in frame.attrs.get("missing_cells", [])
    }
    ids = frame["firm_id"] if "firm_id" in frame.columns else frame.index.to_series()
    records = [
        {
            "firm": str(ids.iloc[i]),
            "column": column,
            "line": lines.get((str(ids.iloc[i]), column), i + 2),
        }
        for column in columns
        if column in frame.columns
        for i in np.flatnonzero(frame[column].isna().to_numpy())
    ]
    return pd.DataFrame.from_records(records, columns=["firm", "column", "line"])

"""Missing predictors at random: complete cases against imputation, MLE against Bayes.

Draws ``--replicates`` synthetic Tumang surveys (n = 60, known truth from
:func:`bayes_cluster.surveys.simulate.simulate_tumang`), blanks 10% of the predictor cells
**at random given observed columns** (MAR), and fits four methods to each:

``cc_mle``
    maximum-likelihood logit on the complete cases (Wald 95% intervals);
``mice_mle``
    multiple imputation by chained equations + MLE, pooled by Rubin's rules
    (:func:`bayes_cluster.estimators.frequentist.mice_logit`);
``cc_bayes``
    :class:`~bayes_cluster.estimators.logistic.BayesianLogit` on the complete cases;
``imputation``
    :class:`~bayes_cluster.estimators.imputation.BayesianImputedLogit` on every firm.

Missingness: ``workers`` and the outcome ``export`` are always observed; in each of the
six other predictors exactly 7 of the 60 cells are blanked (42 of the 420 predictor cells,
10%), drawn without replacement with probability proportional to
``exp(1.0 * z(workers) + 1.0 * export)``: larger firms and exporters leave more blanks.
Bayesian intervals are 95% HDIs, frequentist ones 95% intervals. The table (bias, RMSE,
coverage and width of the four real effects, workers, firm_age, buyer_network and
promotion) comes from :func:`bayes_cluster.studies.study.study_metrics`, the study
engine's measures; MLE fits that met separation count as failures there, as in every
study of the package.

Bayesian fits: 4 chains x 1000 draws after 500 tuning steps (``--chains``, ``--draws``,
``--tune``). The imputation fits mix well (tree depth 4, bulk ESS above the number of
draws) but the package's convergence rule asks R-hat <= 1.01 of each of ~90 quantities:
at 2 chains x 500 draws most fits failed it by an R-hat of 1.010-1.014, at 4 x 500 3 of
the first 14 did; longer chains make R-hat less noisy.  ``--predictors``
fits a subset of the Tumang predictors that keeps the four real effects (the others'
true slopes are 0, so nothing is misspecified: the test suite's small version).

Usage::

    .venv/bin/python benchmarks/missing_data_study.py --replicates 100 \
        --out benchmarks/results/missing_data

Resumable: each replicate is written to ``<out>/replicates/<seed>.csv`` as it finishes
and skipped when the script is run again.
"""

from __future__ import annotations

import argparse
import time
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from bayes_cluster.estimators.frequentist import mice_logit, mle_logit
from bayes_cluster.estimators.imputation import (
    BayesianImputedLogit,
    imputation_kinds_from_codebook,
)
from bayes_cluster.estimators.logistic import BayesianLogit
from bayes_cluster.inference.diagnostics import ConvergenceWarning
from bayes_cluster.studies.study import study_metrics
from bayes_cluster.surveys.codebook import TUMANG_CODEBOOK, TUMANG_PREDICTORS
from bayes_cluster.surveys.simulate import simulate_tumang

OUTCOME = "export"
PREDICTORS = list(TUMANG_PREDICTORS)
ALWAYS_OBSERVED = "workers"
BLANKS_PER_COLUMN = 7
REAL_EFFECTS = ("workers", "firm_age", "buyer_network", "promotion")
LEVEL = 0.95
METHODS = ("cc_mle", "mice_mle", "cc_bayes", "imputation")


def blank_at_random(
    frame: pd.DataFrame, seed: int, predictors: Sequence[str] = PREDICTORS
) -> pd.DataFrame:
    """Blank 7 cells of each predictor but ``workers``, more often for big exporters (MAR).

    Parameters
    ----------
    frame : pandas.DataFrame
        A complete simulated survey.
    seed : int
        Seed of the blanks.
    predictors : sequence of str, optional
        The predictors of the study (default: the seven Tumang predictors).

    Returns
    -------
    pandas.DataFrame
        A copy, predictor columns as floats with NaN blanks.
    """
    rng = np.random.default_rng(seed)
    workers = frame[ALWAYS_OBSERVED].to_numpy(float)
    z = (workers - workers.mean()) / workers.std()
    weight = np.exp(1.0 * z + 1.0 * frame[OUTCOME].to_numpy(float))
    out = frame.copy()
    for column in predictors:
        out[column] = out[column].astype(float)
        if column == ALWAYS_OBSERVED:
            continue
        rows = rng.choice(len(frame), BLANKS_PER_COLUMN, replace=False, p=weight / weight.sum())
        out.loc[rows, column] = np.nan
    return out


def _records(method, table, truth, seed, failed=False, converged=True, divergences=None):
    """One row per real effect: the method's estimate and 95% interval on one survey."""
    rows = []
    for term in REAL_EFFECTS:
        estimate = float(table.loc[term, "estimate"]) if not failed else np.nan
        rows.append(
            {
                "effects": "tumang",
                "method": method,
                "n": 60,
                "term": term,
                "true_value": truth.coefficients[term],
                "seed": seed,
                "estimate": estimate,
                "lower": float(table.loc[term, "lower"]) if not failed else np.nan,
                "upper": float(table.loc[term, "upper"]) if not failed else np.nan,
                "failed": bool(failed or not np.isfinite(estimate)),
                "converged": converged,
                "divergences": divergences,
                "separation": np.nan,
            }
        )
    return rows


def _bayes_table(model) -> pd.DataFrame:
    summary = model.summary(hdi_prob=LEVEL)
    return summary.rename(columns={"mean": "estimate", "hdi_lower": "lower", "hdi_upper": "upper"})


def run_replicate(
    seed: int,
    draws: int,
    tune: int,
    chains: int,
    models: dict,
    predictors: Sequence[str] = PREDICTORS,
    backend: str = "nutpie",
) -> tuple[pd.DataFrame, dict]:
    """Fit the four methods to one simulated survey with blanks.

    Parameters
    ----------
    seed : int
        Seed of the survey and of its blanks.
    draws, tune, chains : int
        MCMC settings of the two Bayesian fits.
    models : dict
        The two Bayesian models (their compiled samplers are re-used across replicates).
    predictors : sequence of str, optional
        The predictors (default the seven Tumang ones; a subset must keep the four real
        effects: the others' true slopes are 0, so leaving them out misspecifies nothing).
    backend : {"nutpie", "nutpie_c", "pymc"}, default "nutpie"
        Sampler of the two Bayesian fits.

    Returns
    -------
    pandas.DataFrame, dict
        One row per method and real effect; seconds per method.
    """
    frame, truth = simulate_tumang(60, seed=seed)
    blanked = blank_at_random(frame, seed + 100_000, predictors)
    complete = blanked.dropna(subset=list(predictors)).reset_index(drop=True)
    rows, seconds = [], {}
    settings = {"draws": draws, "tune": tune, "chains": chains, "random_seed": seed}
    settings["sampler"] = backend

    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # separation warnings: counted as failures below
        mle = mle_logit(complete, OUTCOME, list(predictors), level=LEVEL)
    z = 1.959963984540054
    table = pd.DataFrame(
        {
            "estimate": mle.summary["estimate"],
            "lower": mle.summary["estimate"] - z * mle.summary["std_error"],
            "upper": mle.summary["estimate"] + z * mle.summary["std_error"],
        }
    )
    rows += _records("cc_mle", table, truth, seed, failed=mle.separation.separated)
    seconds["cc_mle"] = time.perf_counter() - started

    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mice = mice_logit(
            blanked,
            OUTCOME,
            list(predictors),
            n_imputations=20,
            iterations=5,
            level=LEVEL,
            seed=seed,
        )
    table = mice.summary.rename(columns={"ci_lower": "lower", "ci_upper": "upper"})
    rows += _records("mice_mle", table, truth, seed, failed=bool(mice.warnings))
    seconds["mice_mle"] = time.perf_counter() - started

    for method, data in (("cc_bayes", complete), ("imputation", blanked)):
        started = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)  # recorded as converged
            models[method].fit(data, **settings)
        diagnostics = models[method].diagnostics_
        rows += _records(
            method,
            _bayes_table(models[method]),
            truth,
            seed,
            converged=bool(diagnostics.passed),
            divergences=int(models[method].idata_["sample_stats"]["diverging"].sum()),
        )
        seconds[method] = time.perf_counter() - started
    return pd.DataFrame(rows), seconds


def main(argv: list[str] | None = None) -> pd.DataFrame:
    """Run (or resume) the study, print the table and write ``metrics.csv``.

    Parameters
    ----------
    argv : list of str, optional
        Command-line arguments.

    Returns
    -------
    pandas.DataFrame
        The metrics table.
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicates", type=int, default=100)
    parser.add_argument("--first-seed", type=int, default=1)
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--tune", type=int, default=500)
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/missing_data"))
    parser.add_argument(
        "--predictors",
        default=",".join(PREDICTORS),
        help="comma-separated subset of the Tumang predictors (must hold the real effects)",
    )
    parser.add_argument("--backend", choices=("nutpie", "nutpie_c", "pymc"), default="nutpie")
    args = parser.parse_args(argv)
    predictors = [name.strip() for name in args.predictors.split(",") if name.strip()]
    unknown = sorted(set(predictors) - set(PREDICTORS))
    absent = [term for term in (*REAL_EFFECTS, ALWAYS_OBSERVED) if term not in predictors]
    if unknown or absent:
        parser.error(
            f"--predictors {args.predictors!r}: unknown {unknown}, missing {absent} "
            f"(choose among {PREDICTORS}, keeping {[*REAL_EFFECTS]})"
        )
    folder = args.out / "replicates"
    folder.mkdir(parents=True, exist_ok=True)
    kinds = imputation_kinds_from_codebook(TUMANG_CODEBOOK)
    levels = {c.name: c.levels for c in TUMANG_CODEBOOK if c.kind == "likert"}
    models = {
        "cc_bayes": BayesianLogit(OUTCOME, predictors, hdi_prob=LEVEL),
        "imputation": BayesianImputedLogit(
            OUTCOME, predictors, hdi_prob=LEVEL, kinds=kinds, levels=levels
        ),
    }
    timings = []
    for seed in range(args.first_seed, args.first_seed + args.replicates):
        path = folder / f"{seed}.csv"
        if path.exists():
            continue
        table, seconds = run_replicate(
            seed, args.draws, args.tune, args.chains, models, predictors, args.backend
        )
        temporary = path.with_suffix(".tmp")
        table.to_csv(temporary, index=False)
        temporary.replace(path)
        timings.append(seconds)
        print(
            f"replicate {seed}: " + ", ".join(f"{k} {v:.1f}s" for k, v in seconds.items()),
            flush=True,
        )
    files = sorted(folder.glob("*.csv"))
    replicates = pd.concat([pd.read_csv(f) for f in files], ignore_index=True)
    replicates = replicates[replicates["seed"].between(args.first_seed, seed)]
    metrics = study_metrics(replicates)
    metrics["method"] = pd.Categorical(metrics["method"], METHODS, ordered=True)
    metrics = metrics.sort_values(["term", "method"]).reset_index(drop=True)
    columns = ["term", "method", "true_value", "used", "bias", "bias_mcse", "rmse"]
    columns += ["coverage", "coverage_mcse", "interval_width", "nonconvergence_rate"]
    metrics[columns].to_csv(args.out / "metrics.csv", index=False)
    with pd.option_context("display.width", 160, "display.max_columns", 20):
        print(metrics[columns].round(3).to_string(index=False))
    return metrics


if __name__ == "__main__":
    main()

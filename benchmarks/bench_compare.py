"""Ours beside R and StepMix, in one run, on the same data (printed, not asserted).

Run:  .venv/bin/python benchmarks/bench_compare.py [--fits 20] [--stepmix-python PY]

1. Bayesian logit, n = 60 simulated Tumang firms, 7 predictors, 4 chains x (1000 warm-up
   + 1000 draws), chains one after another on one core, the same priors in both
   (intercept N(0, 1.5) with centred predictors; slopes Student-t(7, 0, 1) per SD:
   rstanarm's ``autoscale``): rstanarm ``stan_glm`` (timed inside R, R's start-up and a
   warm-up fit excluded) against our study fitter, fast path (fused log-density, lean
   trace, vectorised diagnostics) and the PyMC-graph path. Per fit: seconds, bulk ESS
   of the slowest parameter, and ESS per second (that ESS / the fit's seconds).
2. Firth's logit on the same data: brglm2 (``AS_mean``, Wald intervals) against ours
   (profile penalised-likelihood intervals as logistf prints them, and Wald).
3. EM latent class (K = 3, 50 random starts, 12 Markusen items of the bundled survey):
   ours against StepMix, when ``--stepmix-python`` names an interpreter that has it
   (kept out of the project's venv), else "not installed".

Every ratio is ours / theirs (below 1: ours is faster). The load average is printed:
on a shared machine every figure grows with it, so compare figures of one run only.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

REPO = Path(__file__).resolve().parents[1]

R_STAN_GLM = r"""
suppressPackageStartupMessages({library(rstanarm); library(posterior)})
args <- commandArgs(trailingOnly = TRUE)
data <- read.csv(args[1])
n_fits <- as.integer(args[2])
formula <- export ~ workers + firm_age + buyer_network + promotion + training +
  technology + supplier_network
fit_once <- function(frame, seed) {
  stan_glm(formula, data = frame, family = binomial(),
           prior = student_t(7, 0, 1, autoscale = TRUE),
           prior_intercept = normal(0, 1.5, autoscale = FALSE),
           chains = 4, cores = 1, iter = 2000, warmup = 1000, seed = seed, refresh = 0)
}
invisible(fit_once(data[data$replicate == 0, ], 1))  # warm-up (loads the Stan model)
seconds <- c(); ess <- c()
for (r in seq_len(n_fits)) {
  frame <- data[data$replicate == r, ]
  start <- Sys.time()
  fit <- fit_once(frame, r)
  seconds <- c(seconds, as.numeric(Sys.time() - start, units = "secs"))
  draws <- as_draws_array(as.array(fit))
  ess <- c(ess, min(apply(draws, 3, ess_bulk)))
}
cat(jsonlite::toJSON(list(seconds = seconds, ess = ess), digits = 8), "\n")
"""

R_BRGLM2 = r"""
suppressPackageStartupMessages(library(brglm2))
args <- commandArgs(trailingOnly = TRUE)
data <- read.csv(args[1])
n_fits <- as.integer(args[2])
formula <- export ~ workers + firm_age + buyer_network + promotion + training +
  technology + supplier_network
ctrl <- brglmControl(type = "AS_mean")
fit_once <- function(frame) {
  fit <- glm(formula, data = frame, family = binomial("logit"), method = "brglmFit",
             control = ctrl)
  confint.default(fit)
  fit
}
invisible(fit_once(data[data$replicate == 0, ]))
start <- Sys.time()
estimates <- NULL
for (r in seq_len(n_fits)) {
  estimates <- rbind(estimates, coef(fit_once(data[data$replicate == r, ])))
}
seconds <- as.numeric(Sys.time() - start, units = "secs") / n_fits
result <- list(seconds = seconds, first = unname(estimates[1, ]))
cat(jsonlite::toJSON(result, digits = 10, auto_unbox = TRUE), "\n")
"""


def _load() -> str:
    return f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs"


def _surveys(n_fits: int) -> pd.DataFrame:
    """n_fits + 1 simulated Tumang surveys of 60 firms (replicate 0 is the warm-up)."""
    from bayes_cluster.studies.study import ReplicateTask, parse_study_spec, simulate_replicate

    spec = parse_study_spec({"study": {"sizes": [60], "replicates": n_fits + 1, "seed": 5}})
    frames = []
    for replicate in range(n_fits + 1):
        frame = simulate_replicate(spec, ReplicateTask("truth", 60, replicate))
        frames.append(frame.assign(replicate=replicate))
    return pd.concat(frames, ignore_index=True)


def _rscript(code: str, csv: Path, n_fits: int) -> dict | None:
    rscript = shutil.which("Rscript")
    if rscript is None:
        return None
    with tempfile.NamedTemporaryFile("w", suffix=".R", delete=False) as handle:
        handle.write(code)
    try:
        done = subprocess.run(
            [rscript, handle.name, str(csv), str(n_fits)],
            capture_output=True,
            text=True,
            check=False,
        )
    finally:
        Path(handle.name).unlink()
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or ["?"])[-1]
        print(f"  R failed: {tail}")
        return None
    return json.loads(done.stdout.strip().splitlines()[-1])


def _ours_bayes(surveys: pd.DataFrame, n_fits: int) -> dict[str, tuple[float, float, float]]:
    """Per fitter (fast path, PyMC graph): median seconds per fit, min bulk ESS, ESS/s.

    The two fitters alternate fit by fit (A/B in the same minute), on the same surveys
    and seeds; both are compiled first.
    """
    from bayes_cluster.inference.sampling import SamplerSettings
    from bayes_cluster.studies.study import BayesianFitter, BayesianVariant
    from bayes_cluster.surveys.codebook import TUMANG_PREDICTORS

    settings = SamplerSettings(draws=1000, tune=1000, chains=4, target_accept=0.9)
    fitters = {
        label: BayesianFitter(
            BayesianVariant("bayes"), TUMANG_PREDICTORS, settings, 0.95, cores=1, fast=fast
        )
        for label, fast in (("ours, fast path", True), ("ours, PyMC graph", False))
    }
    seconds: dict[str, list[float]] = {label: [] for label in fitters}
    ess: dict[str, list[float]] = {label: [] for label in fitters}
    for fitter in fitters.values():
        fitter.fit(surveys[surveys["replicate"] == 0], seed=1)  # compiles
    for replicate in range(1, n_fits + 1):
        frame = surveys[surveys["replicate"] == replicate]
        for label, fitter in fitters.items():
            start = time.perf_counter()
            fit = fitter.fit(frame, seed=replicate)
            seconds[label].append(time.perf_counter() - start)
            ess[label].append(fit.ess_bulk_min)
    rows = {}
    for label in fitters:
        seconds_array, ess_array = np.array(seconds[label]), np.array(ess[label])
        rows[label] = (
            float(np.median(seconds_array)),
            float(np.median(ess_array)),
            float(np.median(ess_array / seconds_array)),
        )
    _gradient_cost(surveys[surveys["replicate"] == 1])
    return rows


def _gradient_cost(frame: pd.DataFrame, evaluations: int = 20_000) -> None:
    """Microseconds per call of the compiled log-density + gradient, PyMC graph vs fused.

    Called through ctypes (the C callback nutpie calls), so both include the same
    ctypes overhead (about 1 microsecond); the difference is the density's own cost.
    """
    import ctypes

    from bayes_cluster.estimators.logistic import BayesianLogit
    from bayes_cluster.inference.sampling import compiled_cache
    from bayes_cluster.surveys.codebook import TUMANG_PREDICTORS

    logit = BayesianLogit("export", list(TUMANG_PREDICTORS))
    prepared = logit._prepare_fit(frame)
    key = ("BayesianLogit", *logit._compile_key(prepared))
    point = np.full(1 + len(TUMANG_PREDICTORS), 0.1)
    gradient, logp = np.empty_like(point), np.zeros(1)
    pointer = ctypes.POINTER(ctypes.c_double)
    costs = {}
    for label, cache_key in (("PyMC graph", key), ("fused", (*key, "fused"))):
        compiled, _, _ = compiled_cache.get_or_compile(cache_key, lambda: logit._build(prepared))
        compiled = compiled.with_data(**logit._sampler_data(prepared))
        function = compiled.compiled_logp_func.ctypes
        arguments = (
            ctypes.c_uint64(len(point)),
            point.ctypes.data_as(pointer),
            gradient.ctypes.data_as(pointer),
            logp.ctypes.data_as(pointer),
            ctypes.c_void_p(compiled.user_data.ctypes.data),
        )
        for _ in range(100):
            function(*arguments)
        start = time.perf_counter()
        for _ in range(evaluations):
            function(*arguments)
        costs[label] = (time.perf_counter() - start) / evaluations * 1e6
    print(
        f"  log-density + gradient, n=60 (ctypes calls of nutpie's C callback, {evaluations}"
        f" calls): PyMC graph {costs['PyMC graph']:.2f} us, fused {costs['fused']:.2f} us"
    )


def bayesian_logit(surveys: pd.DataFrame, csv: Path, n_fits: int) -> None:
    print(f"[1] Bayesian logit, n=60, 7 predictors, 4 chains x (1000 + 1000), 1 core ({_load()})")
    rows = _ours_bayes(surveys, n_fits)
    stan = _rscript(R_STAN_GLM, csv, n_fits)
    if stan is None:
        print("  rstanarm: not installed (Rscript with rstanarm and posterior)")
    else:
        seconds, ess = np.array(stan["seconds"]), np.array(stan["ess"])
        rows["rstanarm stan_glm"] = (
            float(np.median(seconds)),
            float(np.median(ess)),
            float(np.median(ess / seconds)),
        )
    reference = rows.get("rstanarm stan_glm")
    for label, (seconds, ess, ess_per_second) in rows.items():
        ratio = ""
        if reference is not None and label != "rstanarm stan_glm":
            ratio = (
                f"  time ratio {seconds / reference[0]:.2f}, "
                f"ESS/s {ess_per_second / reference[2]:.1f}x rstanarm's"
            )
        print(
            f"  {label:<18} {seconds:.3f} s per fit (median of {n_fits}), min bulk ESS "
            f"{ess:.0f}, {ess_per_second:.0f} ESS/s{ratio}"
        )
    print(f"  ({_load()} after)")


def firth(surveys: pd.DataFrame, csv: Path, n_fits: int) -> None:
    from bayes_cluster.estimators.frequentist import firth_logit
    from bayes_cluster.surveys.codebook import TUMANG_PREDICTORS

    print(f"[2] Firth logit, n=60, 7 predictors ({_load()})")
    predictors = list(TUMANG_PREDICTORS)
    timings = {}
    for ci in ("profile", "wald"):
        firth_logit(surveys[surveys["replicate"] == 0], "export", predictors, ci=ci)
        start = time.perf_counter()
        for replicate in range(1, n_fits + 1):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                result = firth_logit(
                    surveys[surveys["replicate"] == replicate], "export", predictors, ci=ci
                )
                if replicate == 1:
                    first = result.summary["estimate"].to_numpy()
        timings[ci] = (time.perf_counter() - start) / n_fits
    brglm2 = _rscript(R_BRGLM2, csv, n_fits)
    if brglm2 is None:
        print("  brglm2: not installed")
        for ci, seconds in timings.items():
            print(f"  ours ({ci} intervals): {seconds * 1000:.1f} ms per fit")
        return
    difference = np.max(np.abs(first - np.array(brglm2["first"])))
    print(f"  brglm2 (AS_mean, Wald): {brglm2['seconds'] * 1000:.1f} ms per fit")
    for ci, seconds in timings.items():
        print(
            f"  ours ({ci} intervals): {seconds * 1000:.1f} ms per fit, "
            f"ratio {seconds / brglm2['seconds']:.2f}"
        )
    print(f"  largest |estimate difference| to brglm2 on the first survey: {difference:.1e}")


def latent_class(stepmix_python: str | None, repeats: int) -> None:
    from bench_em import time_ours, time_stepmix

    from bayes_cluster.surveys.markusen import MARKUSEN_ITEMS

    print(f"[3] EM latent class, 60 firms x 12 items, K=3, 50 starts ({_load()})")
    items = pd.read_csv(REPO / "data" / "tumang_synthetic.csv")[list(MARKUSEN_ITEMS)]
    seconds, fit = time_ours(items, repeats)
    print(f"  LatentClassEM: {seconds:.3f} s (LL {fit.log_likelihood_:.4f})")
    if stepmix_python is None:
        print("  StepMix: not installed (pass --stepmix-python)")
        return
    result = time_stepmix(stepmix_python, items, repeats)
    if result is None:
        print("  StepMix: not installed")
        return
    print(
        f"  StepMix:       {result['seconds']:.3f} s (LL {result['log_likelihood']:.4f}), "
        f"ratio {seconds / result['seconds']:.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fits", type=int, default=20, help="fits timed per method")
    parser.add_argument("--stepmix-python", help="interpreter with stepmix installed")
    parser.add_argument("--repeats", type=int, default=3, help="EM repeats (best of)")
    parser.add_argument("--only", choices=["bayes", "firth", "em"], help="one section")
    args = parser.parse_args()
    surveys = _surveys(args.fits)
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "surveys.csv"
        surveys.to_csv(csv, index=False)
        if args.only in (None, "bayes"):
            bayesian_logit(surveys, csv, args.fits)
        if args.only in (None, "firth"):
            firth(surveys, csv, args.fits)
    if args.only in (None, "em"):
        latent_class(args.stepmix_python, args.repeats)


if __name__ == "__main__":
    main()

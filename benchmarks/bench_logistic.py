"""Benchmark: BayesianLogit first fit (with compilation) and warm re-fits, beside rstanarm.

n = 60 firms, the 7 Tumang predictors, 4 chains x (1000 tune + 1000 draws).  Prints:

* first-fit time (nutpie compile + sample + checks);
* warm re-fit time on new data of the same shape (median of ``--refits`` data sets);
* the smallest bulk ESS of the coefficients per second of warm re-fit;
* the same for R's rstanarm ``stan_glm`` on the same data sets, when ``Rscript`` with
  rstanarm is installed (skipped otherwise; CI does not need R).

Run: ``.venv/bin/python benchmarks/bench_logistic.py [--refits 5] [--no-r]``
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

from bayes_cluster.estimators.logistic import BayesianLogit
from bayes_cluster.inference.diagnostics import ConvergenceWarning
from bayes_cluster.inference.sampling import clear_compiled_cache
from bayes_cluster.surveys.codebook import TUMANG_PREDICTORS
from bayes_cluster.surveys.simulate import simulate_tumang

PREDICTORS = list(TUMANG_PREDICTORS)

R_SCRIPT = r"""
suppressPackageStartupMessages(library(rstanarm))
options(mc.cores = 2)
files <- commandArgs(trailingOnly = TRUE)
for (f in files) {
  d <- read.csv(f)
  t0 <- Sys.time()
  fit <- stan_glm(export ~ workers + firm_age + buyer_network + promotion + training +
                    technology + supplier_network, data = d, family = binomial(),
                  chains = 4, iter = 2000, warmup = 1000, seed = 1, refresh = 0)
  elapsed <- as.numeric(difftime(Sys.time(), t0, units = "secs"))
  ess <- min(summary(fit)[1:8, "n_eff"])
  cat(sprintf("%s,%.4f,%.1f\n", basename(f), elapsed, ess))
}
"""


def _fit(model: BayesianLogit, frame, seed: int) -> tuple[float, float]:
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # reported below
        model.fit(frame, random_seed=seed)
    elapsed = time.perf_counter() - start
    ess = float(
        model.diagnostics_.table.loc[lambda t: t.index.str.match(r"^(alpha|beta)")][
            "ess_bulk"
        ].min()
    )
    return elapsed, ess


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--refits", type=int, default=5)
    parser.add_argument("--no-r", action="store_true", help="skip the rstanarm comparison")
    args = parser.parse_args()

    frames = [simulate_tumang(60, seed=500 + i)[0] for i in range(args.refits + 1)]
    clear_compiled_cache()
    model = BayesianLogit("export", PREDICTORS)
    first, _ = _fit(model, frames[0], seed=1)
    warm = [_fit(model, frame, seed=2 + i) for i, frame in enumerate(frames[1:])]
    warm_times = np.array([t for t, _ in warm])
    warm_ess_rate = np.array([ess / t for t, ess in warm])
    print("BayesianLogit (nutpie), n = 60, 7 predictors, 4 chains x (1000 + 1000)")
    print(f"  first fit (compile + sample + checks): {first:.2f} s")
    print(
        f"  warm re-fit on new data: median {np.median(warm_times):.3f} s "
        f"(min {warm_times.min():.3f}, max {warm_times.max():.3f}, {len(warm)} data sets)"
    )
    print(f"  min bulk ESS / s (coefficients): median {np.median(warm_ess_rate):.0f}")
    print(f"  last fit diagnostics: {model.diagnostics_.verdict}")

    if args.no_r:
        return
    rscript = shutil.which("Rscript")
    if rscript is None:
        print("rstanarm: Rscript not found, comparison skipped")
        return
    with tempfile.TemporaryDirectory() as directory:
        paths = []
        for i, frame in enumerate(frames[1:]):
            path = Path(directory) / f"data{i}.csv"
            frame.to_csv(path, index=False)
            paths.append(str(path))
        script = Path(directory) / "bench.R"
        script.write_text(R_SCRIPT)
        result = subprocess.run(
            [rscript, str(script), *paths], capture_output=True, text=True, check=False
        )
    if result.returncode != 0:
        print(f"rstanarm: failed ({result.stderr.strip().splitlines()[-1:]}), skipped")
        return
    rows = [line.split(",") for line in result.stdout.strip().splitlines()]
    r_times = np.array([float(row[1]) for row in rows])
    r_ess_rate = np.array([float(row[2]) / float(row[1]) for row in rows])
    print("rstanarm stan_glm, same data sets, 4 chains x (1000 + 1000), mc.cores = 2")
    print(f"  fit: median {np.median(r_times):.3f} s (min {r_times.min():.3f})")
    print(f"  min n_eff / s (coefficients): median {np.median(r_ess_rate):.0f}")
    print(
        f"ratio warm re-fit / stan_glm: {np.median(warm_times) / np.median(r_times):.2f} "
        "(goal <= 0.5)"
    )


if __name__ == "__main__":
    main()

"""Benchmarks of the simulation study (printed, not asserted).

Run:  .venv/bin/python benchmarks/bench_study.py [--replicates 200] [--quick]

1. Amortised time per Bayesian fit (n = 60, 7 predictors, 4 chains x 1000 draws + 1000
   tune): the model compiled once, then re-run on fresh simulated surveys with
   ``with_data`` (goal: at most half of rstanarm's ``stan_glm``, 0.73 s per fit on the
   reference machine, i.e. <= 0.365 s).
2. Wall time of a study of R replicates x (mle, firth, bayes) at n = 60 on 2 local
   workers, from a cold start (process spawn and one compile per worker included;
   goal: R = 200 in under 3 minutes on a 2-core machine).
3. Speed-up from 1 to 2 local workers on the same study (each run a fresh ``bayes-cluster
   study`` process, so both pay the imports and the compilation).

The machine's load average is printed with the figures: on a shared machine other
processes compete for the same cores.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd


def per_fit_time(n_fits: int, cores: int) -> tuple[float, float, float]:
    from bayes_cluster.inference.sampling import clear_compiled_cache
    from bayes_cluster.studies.study import (
        BayesianFitter,
        ReplicateTask,
        parse_study_spec,
        replicate_seeds,
        simulate_replicate,
    )

    # the compiled model lives in the process-wide cache: start cold, so that the first
    # fit of each call includes the compilation it reports
    clear_compiled_cache()
    spec = parse_study_spec({"study": {"sizes": [60], "replicates": n_fits + 1, "seed": 5}})
    fitter = BayesianFitter(
        spec.variants["bayes"], spec.predictors, spec.sampler, spec.interval_level, cores=cores
    )
    frames = [simulate_replicate(spec, ReplicateTask("truth", 60, r)) for r in range(n_fits + 1)]
    seeds = [replicate_seeds(spec.seed, "truth", 60, r)[1] for r in range(n_fits + 1)]
    start = time.perf_counter()
    fitter.fit(frames[0], seeds[0])  # compiles
    compile_and_first = time.perf_counter() - start
    times = []
    for frame, seed in zip(frames[1:], seeds[1:], strict=True):
        start = time.perf_counter()
        fitter.fit(frame, seed)
        times.append(time.perf_counter() - start)
    return compile_and_first, float(np.mean(times)), float(np.median(times))


def _spec_text(replicates: int) -> str:
    return (
        "[study]\nsizes = [60]\n"
        f"replicates = {replicates}\n"
        'methods = ["mle", "firth", "bayes"]\nseed = 11\n'
    )


def study_wall_time(
    replicates: int, workers: int, keep: str | None = None
) -> tuple[float, pd.DataFrame]:
    """Run the study with the CLI in a fresh process (cold start: spawn, imports, compile)."""
    with tempfile.TemporaryDirectory() as tmp:
        spec_file = Path(tmp) / "bench.toml"
        spec_file.write_text(_spec_text(replicates), encoding="utf-8")
        out = Path(keep) if keep else Path(tmp) / "out"
        command = [sys.executable, "-m", "bayes_cluster.cli", "study", str(spec_file)]
        command += ["--out", str(out), "--workers", str(workers), "--no-progress"]
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        wall = time.perf_counter() - start
        replicates_frame = pd.read_parquet(out / "replicates.parquet")
    return wall, replicates_frame


def run_sbc(n_simulations: int, out: str | None) -> None:
    """Larger SBC of the Bayesian logit with the default priors (L = 100 thinned draws)."""
    from bayes_cluster.plots.study import plot_sbc_ecdf, plot_sbc_ranks
    from bayes_cluster.studies.sbc import sbc_logit

    start = time.perf_counter()
    result = sbc_logit(
        n_simulations=n_simulations, n_rank_draws=100, draws=500, tune=500, chains=2, seed=7
    )
    print(f"[SBC] {time.perf_counter() - start:.1f} s: {result.verdict()}")
    print(result.uniformity.round(3).to_string())
    print(result.simulations.describe().round(3).to_string())
    if out:
        Path(out).mkdir(parents=True, exist_ok=True)
        plot_sbc_ranks(result).savefig(Path(out) / "sbc_logit_ranks.png", dpi=120)
        plot_sbc_ecdf(result).savefig(Path(out) / "sbc_logit_ecdf.png", dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicates", type=int, default=200)
    parser.add_argument("--speedup-replicates", type=int, default=100)
    parser.add_argument("--fits", type=int, default=30)
    parser.add_argument("--quick", action="store_true", help="10 fits, 20 replicates")
    parser.add_argument("--out", default=None, help="keep the 2-worker study's outputs here")
    parser.add_argument("--skip-single", action="store_true", help="skip the per-fit timing [1]")
    parser.add_argument(
        "--sbc",
        type=int,
        default=0,
        metavar="N",
        help="only run SBC of the Bayesian logit with N simulations (figures to --out)",
    )
    args = parser.parse_args()
    if args.quick:
        args.fits, args.replicates, args.speedup_replicates = 10, 20, 20

    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()}")
    if args.sbc:
        run_sbc(args.sbc, args.out)
        return
    for cores in (1, 2) if not args.skip_single else ():
        first, mean, median = per_fit_time(args.fits, cores)
        print(
            f"[1] Bayesian fit, n=60, 7 predictors, 4 chains x (1000 + 1000), chains on "
            f"{cores} core(s): compile + first fit {first:.1f} s; then per fit mean "
            f"{mean:.3f} s, median {median:.3f} s over {args.fits} fits "
            f"(goal <= 0.365 s; rstanarm stan_glm 0.73 s)"
        )
    wall, frame = study_wall_time(args.replicates, workers=2, keep=args.out)
    per_fit = frame.groupby(["replicate", "method"])["fit_seconds"].first().unstack()
    failed = int(frame.groupby(["replicate", "method"])["failed"].any().sum())
    bayes = per_fit["bayes"]
    print(
        f"[2] study {args.replicates} replicates x (mle, firth, bayes), n=60, 2 workers, cold "
        f"start: wall {wall:.1f} s = {wall / 60:.2f} min (goal < 3 min); {failed} failed fits; "
        f"load average now {os.getloadavg()}"
    )
    print(
        f"[1b] in that study, Bayesian fit on one worker (1 core): median {bayes.median():.3f} s;"
        f" amortised over 2 workers: {bayes.sum() / 2 / len(bayes):.3f} s per fit including "
        f"the two compilations, {bayes.sort_values().iloc[:-2].sum() / 2 / (len(bayes) - 2):.3f}"
        " s without them (goal <= 0.365 s)"
    )
    one, _ = study_wall_time(args.speedup_replicates, workers=1)
    two, _ = study_wall_time(args.speedup_replicates, workers=2)
    print(
        f"[3] {args.speedup_replicates} replicates x 3 methods, cold start each: 1 worker "
        f"{one:.1f} s, 2 workers {two:.1f} s: speed-up {one / two:.2f}x"
    )


if __name__ == "__main__":
    main()

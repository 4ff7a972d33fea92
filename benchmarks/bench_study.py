"""Benchmarks of the simulation study (printed, not asserted).

Run:  .venv/bin/python benchmarks/bench_study.py [--replicates 200] [--quick]

1. Amortised time per Bayesian fit (n = 60, 7 predictors, 4 chains x 1000 draws + 1000
   tune): the model compiled once, then re-run on fresh simulated surveys with
   ``with_data`` (goal: at most half of rstanarm's ``stan_glm``, 0.73 s per fit on the
   reference machine, i.e. <= 0.365 s).
2. Wall time of a study of R replicates x (mle, firth, bayes) at n = 60 on 2 local
   workers, from a cold start (process spawn and one compile per worker included;
   goal: R = 200 in under 3 minutes on a 2-core machine).
3. Speed-up from 1 to 2 local workers on the same study.

The machine's load average is printed with the figures: on a shared machine other
processes compete for the same cores.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np


def per_fit_time(n_fits: int, cores: int) -> tuple[float, float, float]:
    from bayes_cluster.study import (
        BayesianFitter,
        ReplicateTask,
        parse_study_spec,
        replicate_seeds,
        simulate_replicate,
    )

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


def study_wall_time(replicates: int, workers: int, keep: str | None = None) -> tuple[float, int]:
    from bayes_cluster.study import parse_study_spec, run_study

    spec = parse_study_spec(
        {
            "study": {
                "sizes": [60],
                "replicates": replicates,
                "methods": ["mle", "firth", "bayes"],
                "seed": 11,
            }
        }
    )
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        result = run_study(spec, keep or tmp, workers=workers, progress=False, figures=False)
        wall = time.perf_counter() - start
    failed = int(result.replicates.groupby(["replicate", "method"])["failed"].any().sum())
    return wall, failed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicates", type=int, default=200)
    parser.add_argument("--speedup-replicates", type=int, default=60)
    parser.add_argument("--fits", type=int, default=30)
    parser.add_argument("--quick", action="store_true", help="10 fits, 20 replicates")
    parser.add_argument("--out", default=None, help="keep the 2-worker study's outputs here")
    args = parser.parse_args()
    if args.quick:
        args.fits, args.replicates, args.speedup_replicates = 10, 20, 20

    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()}")
    for cores in (1, 2):
        first, mean, median = per_fit_time(args.fits, cores)
        print(
            f"[1] Bayesian fit, n=60, 7 predictors, 4 chains x (1000 + 1000), chains on "
            f"{cores} core(s): compile + first fit {first:.1f} s; then per fit mean "
            f"{mean:.3f} s, median {median:.3f} s over {args.fits} fits "
            f"(goal <= 0.365 s; rstanarm stan_glm 0.73 s)"
        )
    wall, failed = study_wall_time(args.replicates, workers=2, keep=args.out)
    print(
        f"[2] study {args.replicates} replicates x (mle, firth, bayes), n=60, 2 workers: "
        f"wall {wall:.1f} s = {wall / 60:.2f} min (goal < 3 min); {failed} failed fits; "
        f"amortised {wall / args.replicates:.3f} s per replicate, "
        f"load average now {os.getloadavg()}"
    )
    one, _ = study_wall_time(args.speedup_replicates, workers=1)
    two, _ = study_wall_time(args.speedup_replicates, workers=2)
    print(
        f"[3] {args.speedup_replicates} replicates x 3 methods: 1 worker {one:.1f} s, "
        f"2 workers {two:.1f} s: speed-up {one / two:.2f}x (compile once per worker "
        "included in both)"
    )


if __name__ == "__main__":
    main()

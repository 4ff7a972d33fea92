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
4. What a user gets: the marginal time per replicate of ``bayes-cluster study`` with
   methods = ["bayes"] at the default workers, (T(40 replicates) - T(10)) / 30, so that
   start-up and compilation cancel (goal <= 0.15 s).
5. Memory: the peak resident memory of a study run, the process and its workers summed
   (sampled every 0.1 s with psutil), for ``--memory-replicates`` (default 100 and 1000)
   replicates of methods = ["bayes"] on 2 workers (goal: flat in the replicates);
   ``--only growth`` ([5b]) runs one study in this process and prints its RSS after
   10%, 50% and 100% of the replicates (the per-replicate growth a worker would show).
6. ``--simulation-estimate``: the time of ``models/simulation.toml`` (6,000 replicates x
   mle, firth, bayes, bayes_t) estimated from 3 replicates per sample size timed in this
   process, for 2 local workers and for a 100-core Dask cluster (labelled an estimate).

[1] compares the fast path of the study (fused log-density and gradient, lean trace,
vectorised diagnostics) with the PyMC-graph path, interleaved in the same minute.

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


def per_fit_time(n_fits: int, cores: int, fast: bool = True) -> tuple[float, float, float]:
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
        spec.variants["bayes"],
        spec.predictors,
        spec.sampler,
        spec.interval_level,
        cores=cores,
        fast=fast,
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


def _spec_text(
    replicates: int, methods: str = '"mle", "firth", "bayes"', draws: int | None = None
) -> str:
    sampler = "" if draws is None else f"[sampler]\ndraws = {draws}\ntune = {draws}\n"
    return (
        f"[study]\nsizes = [60]\nreplicates = {replicates}\nmethods = [{methods}]\n"
        f"seed = 11\n{sampler}"
    )


def study_wall_time(
    replicates: int,
    workers: int,
    keep: str | None = None,
    methods: str = '"mle", "firth", "bayes"',
    memory: bool = False,
    draws: int | None = None,
) -> tuple[float, pd.DataFrame, float]:
    """Run the study with the CLI in a fresh process (cold start: spawn, imports, compile).

    Returns the wall time, the replicates and (``memory=True``) the peak of the summed
    resident memory of the CLI process and its workers in MiB (else nan).
    """
    with tempfile.TemporaryDirectory() as tmp:
        spec_file = Path(tmp) / "bench.toml"
        spec_file.write_text(_spec_text(replicates, methods, draws), encoding="utf-8")
        out = Path(keep) if keep else Path(tmp) / "out"
        command = [sys.executable, "-m", "bayes_cluster.cli", "study", str(spec_file)]
        command += ["--out", str(out), "--workers", str(workers), "--no-progress"]
        start = time.perf_counter()
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        peak = _watch_memory(process) if memory else float("nan")
        _, stderr = process.communicate()
        if process.returncode != 0:
            raise RuntimeError(f"study failed: {stderr.decode()[-2000:]}")
        wall = time.perf_counter() - start
        replicates_frame = pd.read_parquet(out / "replicates.parquet")
    return wall, replicates_frame, peak


def _watch_memory(process: subprocess.Popen) -> float:
    """Peak of the summed RSS (MiB) of ``process`` and its descendants until it exits."""
    import psutil

    root = psutil.Process(process.pid)
    peak = 0
    while process.poll() is None:
        try:
            members = [root, *root.children(recursive=True)]
            total = 0
            for member in members:
                try:
                    total += member.memory_info().rss
                except psutil.Error:
                    pass
            peak = max(peak, total)
        except psutil.Error:
            pass
        time.sleep(0.1)
    return peak / 2**20


def memory_growth(replicates: int, draws: int) -> None:
    """[5b] RSS of one process running a study in-process, sampled as replicates finish.

    The growth that matters is per replicate (a worker runs thousands): this runs
    ``run_study`` in this process (workers = 1, the path each worker runs, plus the
    client's writing and the final collection) and prints its RSS after 10%, 50% and 100%
    of the replicates.
    """
    import threading

    import psutil

    from bayes_cluster.studies.study import parse_study_spec, run_study

    spec = parse_study_spec(
        {
            "study": {"sizes": [60], "replicates": replicates, "methods": ["bayes"], "seed": 3},
            "sampler": {"draws": draws, "tune": draws},
        }
    )
    process = psutil.Process()
    samples: list[tuple[int, float]] = []
    done = threading.Event()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "replicates" / "truth"

        def watch() -> None:
            while not done.is_set():
                finished = len(list(folder.glob("*.parquet"))) if folder.exists() else 0
                samples.append((finished, process.memory_info().rss / 2**20))
                time.sleep(1.0)

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        start = time.perf_counter()
        run_study(spec, tmp, workers=1, progress=False, figures=False)
        wall = time.perf_counter() - start
        done.set()
        watcher.join()
    table = pd.DataFrame(samples, columns=["finished", "rss_mib"])
    marks = []
    for share in (0.1, 0.5, 1.0):
        reached = table[table["finished"] >= share * replicates]
        if len(reached):
            marks.append(f"{share:.0%}: {reached['rss_mib'].iloc[0]:.0f} MiB")
    print(
        f"[5b] in-process study of {replicates} replicates, methods = [bayes], 4 chains x "
        f"({draws} + {draws}): RSS after {', '.join(marks)}; peak {table['rss_mib'].max():.0f}"
        f" MiB; wall {wall:.0f} s (load average {os.getloadavg()[0]:.2f})"
    )


def simulation_estimate(replicates_per_size: int = 3) -> None:
    """Estimate the wall time of models/simulation.toml from timed replicates per size."""
    from bayes_cluster.studies.study import ReplicateTask, load_study_spec, run_replicate

    spec = load_study_spec(Path(__file__).resolve().parents[1] / "models" / "simulation.toml")
    tasks_per_size = len(spec.effect_sets) * spec.replicates
    start = time.perf_counter()
    run_replicate(spec, ReplicateTask("truth", spec.sizes[0], spec.replicates - 1), 1)
    warm_up = time.perf_counter() - start  # imports done; this is the compilations
    total = 0.0
    print(f"[6] models/simulation.toml: {len(spec.tasks())} replicates x {spec.methods}")
    for n in spec.sizes:
        times = []
        for replicate in range(replicates_per_size):
            start = time.perf_counter()
            rows = run_replicate(spec, ReplicateTask("truth", n, replicate), 1)
            times.append(time.perf_counter() - start)
        per_method = rows.groupby("method")["fit_seconds"].first().round(3).to_dict()
        seconds = float(np.median(times))
        total += seconds * tasks_per_size
        print(f"  n={n}: {seconds:.3f} s per replicate (last one by method: {per_method})")
    for workers in (2, 100):
        estimate = total / workers + warm_up
        print(
            f"  ESTIMATE, {workers} workers: {estimate / 60:.1f} min "
            f"(= {total:.0f} s of replicates / {workers} + {warm_up:.0f} s compiling per worker;"
            " load as now)"
        )
    print(f"  load average now {os.getloadavg()}")


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
        "--only",
        choices=["fit", "study", "marginal", "memory", "growth", "estimate"],
        help="run one part: [1], [2]+[3], [4], [5], [5b] or [6]",
    )
    parser.add_argument(
        "--memory-replicates", type=int, nargs="+", default=[100, 1000], metavar="R"
    )
    parser.add_argument(
        "--memory-draws",
        type=int,
        default=None,
        help="draws = tune of the memory studies [5] (default: the spec default, 1000)",
    )
    parser.add_argument(
        "--simulation-estimate", action="store_true", help="also run [6] (about 1 min)"
    )
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
    if args.only in (None, "fit") and not args.skip_single:
        for cores in (1, 2):
            # A/B in the same minute: the fast path, then the PyMC-graph path
            for fast in (True, False):
                first, mean, median = per_fit_time(args.fits, cores, fast=fast)
                label = "fast path " if fast else "PyMC graph"
                print(
                    f"[1] Bayesian fit ({label}), n=60, 7 predictors, 4 chains x (1000 + 1000), "
                    f"chains on {cores} core(s): compile + first fit {first:.1f} s; then per fit "
                    f"mean {mean:.3f} s, median {median:.3f} s over {args.fits} fits "
                    f"(goal <= 0.10 s; load average {os.getloadavg()[0]:.2f})"
                )
    if args.only in (None, "study"):
        wall, frame, _ = study_wall_time(args.replicates, workers=2, keep=args.out)
        per_fit = frame.groupby(["replicate", "method"])["fit_seconds"].first().unstack()
        failed = int(frame.groupby(["replicate", "method"])["failed"].any().sum())
        bayes = per_fit["bayes"]
        print(
            f"[2] study {args.replicates} replicates x (mle, firth, bayes), n=60, 2 workers, "
            f"cold start: wall {wall:.1f} s = {wall / 60:.2f} min (goal < 3 min); {failed} failed"
            f" fits; load average now {os.getloadavg()}"
        )
        print(
            f"[1b] in that study, Bayesian fit on one worker (1 core): median "
            f"{bayes.median():.3f} s; amortised over 2 workers: "
            f"{bayes.sum() / 2 / len(bayes):.3f} s per fit including the two compilations, "
            f"{bayes.sort_values().iloc[:-2].sum() / 2 / (len(bayes) - 2):.3f} s without them"
        )
        one, _, _ = study_wall_time(args.speedup_replicates, workers=1)
        two, _, _ = study_wall_time(args.speedup_replicates, workers=2)
        print(
            f"[3] {args.speedup_replicates} replicates x 3 methods, cold start each: 1 worker "
            f"{one:.1f} s, 2 workers {two:.1f} s: speed-up {one / two:.2f}x"
        )
    if args.only in (None, "marginal"):
        short, _, _ = study_wall_time(10, workers=1, methods='"bayes"')
        long, _, _ = study_wall_time(40, workers=1, methods='"bayes"')
        print(
            f"[4] bayes-cluster study, methods = [bayes], default workers (1): 10 replicates "
            f"{short:.1f} s, 40 replicates {long:.1f} s: marginal {(long - short) / 30:.3f} s "
            f"per replicate (goal <= 0.15 s; load average {os.getloadavg()[0]:.2f})"
        )
    if args.only in (None, "memory"):
        for replicates in args.memory_replicates:
            wall, frame, peak = study_wall_time(
                replicates, workers=2, methods='"bayes"', memory=True, draws=args.memory_draws
            )
            draws = args.memory_draws or 1000
            print(
                f"[5] study of {replicates} replicates, methods = [bayes], 4 chains x ({draws} + "
                f"{draws}), 2 workers: peak RSS "
                f"{peak:.0f} MiB (CLI process + workers), wall {wall:.0f} s, "
                f"{len(frame)} rows (load average {os.getloadavg()[0]:.2f})"
            )
    if args.only == "growth":
        memory_growth(args.memory_replicates[-1], args.memory_draws or 1000)
    if args.only == "estimate" or (args.only is None and args.simulation_estimate):
        simulation_estimate()


if __name__ == "__main__":
    main()

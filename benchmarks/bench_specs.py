"""Run time and scale of every bundled spec in ``models/``, as a user runs it.

Each spec runs once as a separate process (``bayes-cluster run SPEC`` or ``bayes-cluster
study SPEC --workers 2``) with the user's PyTensor compile directory (warm after the first
run on a machine; nutpie's numba compilation is paid in every process), writing to a
temporary folder. The load average before each run is printed beside its time: the figures
are only comparable at the same load.

A study spec of thousands of fits is not run whole: a copy with ``replicates`` set to two
small values is run and the full time extrapolated linearly from the per-replicate slope
(the fixed cost -- start-up, compilation -- is the intercept), and the printed line says so.

    .venv/bin/python benchmarks/bench_specs.py [--only tumang,tumang_joint] [--small 2,6]

Prints a Markdown table (spec, what it fits, scale, wall time, load) for docs/user_guide.md.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MODELS = REPO / "models"


def _timed(command: list[str]) -> tuple[float, float]:
    load = os.getloadavg()[0]
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, cwd=REPO)
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(
            f"{' '.join(command)} exited {result.returncode}:\n{result.stderr[-2000:]}"
        )
    return seconds, load


def _scale_of_run(spec: dict) -> str:
    sampler = spec.get("sampler", {})
    chains, tune = sampler.get("chains", 4), sampler.get("tune", 1000)
    draws = f"{chains} x ({tune} + {sampler.get('draws', 1000)})"
    parts = []
    if "latent_class" in spec:
        ks = spec["latent_class"].get("n_classes", 2)
        parts.append(f"latent classes K = {ks}")
    if "logistic" in spec:
        predictors = spec["logistic"].get("predictors", [])
        variants = len(spec["logistic"].get("variants", {}))
        parts.append(f"logit, {len(predictors)} predictors, {1 + variants} Bayesian model(s)")
    if "joint" in spec:
        parts.append("joint model + 3 class approaches")
    return "; ".join(parts) + f"; MCMC {draws} per model"


def _study_tasks(spec: dict, replicates: int) -> int:
    study = spec["study"]
    effect_sets = 1 + len(spec.get("effects", {}))
    return len(study["sizes"]) * effect_sets * replicates


def _with_replicates(text: str, replicates: int) -> str:
    return re.sub(r"(?m)^replicates\s*=\s*\d+", f"replicates = {replicates}", text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="comma-separated spec stems")
    parser.add_argument("--small", default="2,6", help="two replicate counts for studies")
    args = parser.parse_args()
    only = {name for name in args.only.split(",") if name}
    small = [int(value) for value in args.small.split(",")]
    cli = [sys.executable, "-m", "bayes_cluster.cli"]
    rows = []
    print(f"cores: {os.cpu_count()}; python {sys.version.split()[0]}", flush=True)
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        for path in sorted(MODELS.glob("*.toml")):
            if only and path.stem not in only:
                continue
            text = path.read_text(encoding="utf-8")
            spec = tomllib.loads(text)
            if "study" in spec and "plan" not in spec:
                times = []
                for replicates in small:
                    copy = folder / f"{path.stem}_{replicates}.toml"
                    copy.write_text(_with_replicates(text, replicates), encoding="utf-8")
                    out = folder / f"{path.stem}_{replicates}"
                    seconds, load = _timed(
                        [*cli, "study", str(copy), "--out", str(out), "--workers", "2"]
                    )
                    times.append((_study_tasks(spec, replicates), seconds, load))
                (n1, t1, _), (n2, t2, load) = times
                slope = (t2 - t1) / (n2 - n1)
                full_tasks = _study_tasks(spec, spec["study"]["replicates"])
                estimate = t1 + slope * (full_tasks - n1)
                methods = ", ".join(spec["study"]["methods"])
                scale = (
                    f"{full_tasks} replicate surveys x ({methods}); MCMC "
                    f"{spec.get('sampler', {}).get('chains', 4)} chains per Bayesian fit"
                )
                wall = (
                    f"~{estimate / 60:.0f} min (extrapolated: {n1} tasks {t1:.0f} s, "
                    f"{n2} tasks {t2:.0f} s; {slope:.2f} s per task)"
                )
                rows.append((path.name, scale, wall, load))
            elif "plan" in spec:
                continue  # see docs/planning.md
            else:
                out = folder / path.stem
                seconds, load = _timed([*cli, "run", str(path), "--out", str(out)])
                rows.append((path.name, _scale_of_run(spec), f"{seconds:.0f} s", load))
            print(f"  {rows[-1]}", flush=True)
    print()
    print("| spec | scale | wall time (2 cores) | load average before |")
    print("|---|---|---|---|")
    for name, scale, wall, load in rows:
        print(f"| `{name}` | {scale} | {wall} | {load:.1f} |")


if __name__ == "__main__":
    main()

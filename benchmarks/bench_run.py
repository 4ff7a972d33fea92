"""Wall time of the main job, ``bayes-cluster run models/tumang.toml``, cold and warm.

- **cold**: a fresh PyTensor compile directory (nothing compiled yet: the first run on a
  new machine);
- **warm**: the same command again with that compile directory filled.

Each run is a separate process (nutpie's numba compilation lives in the process, PyTensor's
C code in the compile directory), writing to a temporary folder. The load average is
printed beside the times: on a shared machine the figures are only comparable at the same
load.  Goal (issue 6): under 2 minutes cold and under 1 minute warm on 2 cores.

    .venv/bin/python benchmarks/bench_run.py [--spec models/tumang.toml] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def run_once(spec: Path, out: Path, compiledir: Path, quick: bool) -> tuple[float, dict]:
    environment = dict(os.environ)
    environment["PYTENSOR_FLAGS"] = f"compiledir={compiledir}"
    command = [sys.executable, "-m", "bayes_cluster.cli", "run", str(spec), "--out", str(out)]
    if quick:
        command.append("--quick")
    started = time.perf_counter()
    subprocess.run(command, check=True, env=environment, capture_output=True, cwd=REPO)
    seconds = time.perf_counter() - started
    record = json.loads((out / "run.json").read_text())
    return seconds, record["timings_seconds"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", type=Path, default=REPO / "models" / "tumang.toml")
    parser.add_argument("--quick", action="store_true", help="time the --quick preview")
    args = parser.parse_args()
    print(f"spec: {args.spec}{' (--quick)' if args.quick else ''}; cores: {os.cpu_count()}")
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        for label in ("cold", "warm"):
            load = os.getloadavg()[0]
            seconds, sections = run_once(
                args.spec, folder / label, folder / "compiledir", args.quick
            )
            detail = ", ".join(f"{name} {value:.1f}" for name, value in sections.items())
            print(
                f"{label}: {seconds:6.1f} s wall (load average before: {load:.1f}); "
                f"by section: {detail}"
            )


if __name__ == "__main__":
    main()

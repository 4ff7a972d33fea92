"""Wall time of the main job, ``bayes-cluster run models/tumang.toml``, cold and warm.

- **cold**: a fresh PyTensor compile directory and a fresh numba cache directory
  (``NUMBA_CACHE_DIR``; nothing compiled yet: the first run on a new machine);
- **warm**: the same command again with that compile directory filled.

Each run is a separate process (nutpie's numba compilation lives in the process,
PyTensor's compiled code, numba in PyTensor 3, in the compile directory), writing to a
temporary folder. The load average is printed beside the times, and the CPU seconds the
run used (user + system, all its threads and its figure-writer processes): on a shared
machine wall times are only comparable at the same load, CPU seconds move less with it.
Goal (issue 15): under 1 minute cold and 30 s warm on 2 cores.

``--backend`` runs a copy of the spec with ``[sampler]`` and ``[sampler.quick]`` set to
that backend (``nutpie``, ``nutpie_c`` or ``pymc``), to compare them on the same machine.

    .venv/bin/python benchmarks/bench_run.py [--spec models/tumang.toml] [--quick]
        [--backend nutpie_c]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def run_once(spec: Path, out: Path, compiledir: Path, quick: bool) -> tuple[float, float, dict]:
    """Run the spec in a new process; return wall seconds, CPU seconds and its timings."""
    environment = dict(os.environ)
    # base_compiledir, not compiledir: PyTensor 3 keeps its numba cache (the compiled
    # models and nutpie_c's callbacks) in base_compiledir/numba, which compiledir= leaves
    # pointing at ~/.pytensor (a "cold" run was then warm for everything numba compiles)
    environment["PYTENSOR_FLAGS"] = f"base_compiledir={compiledir}"
    # and numba's own disk cache (the fused latent-class loops, cached beside their module
    # otherwise): cold means neither has anything yet
    environment["NUMBA_CACHE_DIR"] = str(compiledir / "numba_cache")
    command = [sys.executable, "-m", "bayes_cluster.cli", "run", str(spec), "--out", str(out)]
    if quick:
        command.append("--quick")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(command, check=True, env=environment, capture_output=True, cwd=REPO)
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    record = json.loads((out / "run.json").read_text())
    return seconds, cpu, record["timings_seconds"]


def spec_with_backend(spec: Path, backend: str, folder: Path) -> Path:
    """Write a copy of ``spec`` into ``folder`` sampling with ``backend``.

    Every ``backend = ...`` line is replaced, and the ``[data]`` path (relative to the
    spec's own folder) is made absolute so that the copy reads the same survey.
    """
    text = spec.read_text(encoding="utf-8")
    text = re.sub(r'(?m)^backend\s*=\s*"[^"]*"', f'backend = "{backend}"', text)

    def absolute(match: re.Match) -> str:
        return f'path = "{(spec.parent / match.group(1)).resolve().as_posix()}"'

    text = re.sub(r'(?m)^path\s*=\s*"([^"]+)"', absolute, text, count=1)
    copy = folder / f"{spec.stem}_{backend}.toml"
    copy.write_text(text, encoding="utf-8")
    return copy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", type=Path, default=REPO / "models" / "tumang.toml")
    parser.add_argument("--quick", action="store_true", help="time the --quick preview")
    parser.add_argument(
        "--backend",
        choices=("nutpie", "nutpie_c", "pymc"),
        help="run a copy of the spec with this sampler backend",
    )
    args = parser.parse_args()
    print(
        f"spec: {args.spec}{' (--quick)' if args.quick else ''}"
        f"{f'; backend {args.backend}' if args.backend else ''}; cores: {os.cpu_count()}"
    )
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        spec = args.spec
        if args.backend is not None:
            spec = spec_with_backend(args.spec.resolve(), args.backend, folder)
        for label in ("cold", "warm"):
            load = os.getloadavg()[0]
            seconds, cpu, sections = run_once(
                spec, folder / label, folder / "compiledir", args.quick
            )
            detail = ", ".join(f"{name} {value:.1f}" for name, value in sections.items())
            # after the sections: journal tables, the wait for the figure writer, the report
            # (and, before them, reading the spec and the survey, importing the libraries)
            rest = seconds - sum(sections.values())
            print(
                f"{label}: {seconds:6.1f} s wall, {cpu:6.1f} CPU s with the figure writer "
                f"(load average before: {load:.1f}); by section: {detail}; outside the "
                f"sections (imports, figures still being written, report) {rest:.1f}"
            )


if __name__ == "__main__":
    main()

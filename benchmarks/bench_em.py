"""Speed of the EM latent class fit (``LatentClassEM``), beside StepMix on the same data.

Two cases (issue 5, item 2):

1. the Tumang design: the 12 Markusen items (Likert 1..5) of the bundled synthetic
   survey (60 firms), K = 3 classes, 50 random starts;
2. poLCA's ``election`` size: 1,311 respondents x 12 items with 4 categories, K = 3,
   50 random starts.  The ``election`` data are not in ``../shared``, so data of that
   size are *simulated* here from a 3-class model (seeded).

Both fits use poLCA's stopping rule (log-likelihood gain < 1e-10, at most 1000 iterations
per start).  StepMix (``measurement="categorical"``, ``n_init=50``, its defaults
``abs_tol=1e-10`` on the *mean* log-likelihood per firm, ``max_iter=1000``) is timed
only when ``--stepmix-python`` names an interpreter that has it (keep it out of the
project venv), e.g.::

    python3.12 -m venv /tmp/stepmix_venv && /tmp/stepmix_venv/bin/pip install stepmix
    .venv/bin/python benchmarks/bench_em.py --stepmix-python /tmp/stepmix_venv/bin/python

Times are wall-clock seconds, best of ``--repeats`` runs after one warm-up fit.

3. The parametric bootstrap likelihood-ratio test (issue 16, item 3) of K = 2 vs 3
   classes on the bundled survey (60 firms, 12 Markusen items), at its defaults
   (B = 99, 50 starts per 2-class fit, 100 per 3-class fit), timed once;
   ``--bootstrap-only`` runs only this case.  The load average is printed beside it:
   on a shared machine the time grows with the load.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from bayes_cluster.analyses.n_classes import bootstrap_lrt
from bayes_cluster.estimators.latent_class_em import LatentClassEM
from bayes_cluster.surveys.markusen import MARKUSEN_ITEMS

REPO = Path(__file__).resolve().parents[1]

STEPMIX_SNIPPET = """
import json, sys, time
import numpy as np, pandas as pd
from stepmix.stepmix import StepMix
data = pd.read_csv(sys.argv[1]).to_numpy() - 1  # StepMix wants 0-based codes
repeats = int(sys.argv[2])
StepMix(n_components=3, measurement="categorical", n_init=2, random_state=0,
        progress_bar=0, verbose=0).fit(data)  # warm-up
times = []
for r in range(repeats):
    model = StepMix(n_components=3, measurement="categorical", n_init=50, random_state=r,
                    progress_bar=0, verbose=0)
    start = time.perf_counter()
    model.fit(data)
    times.append(time.perf_counter() - start)
ll = float(model.score(data) * len(data))
print(json.dumps({"seconds": min(times), "log_likelihood": ll}))
"""


def election_sized(seed: int = 2011) -> pd.DataFrame:
    """Simulate 1,311 x 12 items with 4 categories from a 3-class model."""
    rng = np.random.default_rng(seed)
    n_firms, n_items, n_categories = 1311, 12, 4
    theta = rng.dirichlet(np.full(n_categories, 0.7), size=(3, n_items))
    z = rng.choice(3, size=n_firms, p=[0.5, 0.3, 0.2])
    uniform = rng.random((n_firms, n_items, 1))
    codes = 1 + (uniform > theta.cumsum(axis=-1)[z]).sum(axis=-1)
    codes = np.minimum(codes, n_categories)
    return pd.DataFrame(codes, columns=[f"item{j + 1}" for j in range(n_items)])


def time_ours(items: pd.DataFrame, repeats: int) -> tuple[float, LatentClassEM]:
    LatentClassEM(3, n_starts=2, random_state=0).fit(items)  # warm-up
    times, fit = [], None
    for repeat in range(repeats):
        start = time.perf_counter()
        fit = LatentClassEM(3, n_starts=50, random_state=repeat).fit(items)
        times.append(time.perf_counter() - start)
    return min(times), fit


def time_stepmix(python: str, items: pd.DataFrame, repeats: int) -> dict | None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "items.csv"
        items.to_csv(path, index=False)
        done = subprocess.run(
            [python, "-c", STEPMIX_SNIPPET, str(path), str(repeats)],
            capture_output=True,
            text=True,
            check=False,
        )
    if done.returncode != 0:
        print(f"  StepMix failed: {done.stderr.strip().splitlines()[-1]}")
        return None
    return json.loads(done.stdout.strip().splitlines()[-1])


def time_bootstrap_lrt(items: pd.DataFrame) -> None:
    """Time the bootstrap LRT of 2 vs 3 classes at its defaults and print its reading."""
    load_before = os.getloadavg()[0]
    result = bootstrap_lrt(items, 3, seed=2026)
    print(
        "Bootstrap LRT, Tumang design: 60 firms x 12 items, K=2 vs 3, "
        f"B={result.n_bootstrap}, {result.n_starts_null}/{result.n_starts_alternative} starts"
    )
    print(
        f"  {result.seconds:.1f} s  (load average {load_before:.2f} before, "
        f"{os.getloadavg()[0]:.2f} after, on {os.cpu_count()} CPUs)"
    )
    print(f"  {result.reading}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stepmix-python", help="interpreter with stepmix installed")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--bootstrap-only", action="store_true", help="time only the bootstrap LRT"
    )
    args = parser.parse_args()

    survey = pd.read_csv(REPO / "data" / "tumang_synthetic.csv")
    if args.bootstrap_only:
        time_bootstrap_lrt(survey[list(MARKUSEN_ITEMS)])
        return
    cases = {
        "Tumang design: 60 firms x 12 items (5 categories), K=3, 50 starts": survey[
            list(MARKUSEN_ITEMS)
        ],
        "election size (simulated): 1311 x 12 items (4 categories), K=3, 50 starts": (
            election_sized()
        ),
    }
    for label, items in cases.items():
        print(label)
        seconds, fit = time_ours(items, args.repeats)
        print(
            f"  LatentClassEM: {seconds:.3f} s  (LL {fit.log_likelihood_:.4f}, best optimum "
            f"reached by {fit.n_best_starts_}/50 starts, best start {fit.n_iter_} iterations)"
        )
        if args.stepmix_python:
            result = time_stepmix(args.stepmix_python, items, args.repeats)
            if result is not None:
                print(
                    f"  StepMix 3.0:   {result['seconds']:.3f} s  "
                    f"(LL {result['log_likelihood']:.4f})"
                )
    time_bootstrap_lrt(survey[list(MARKUSEN_ITEMS)])


if __name__ == "__main__":
    main()

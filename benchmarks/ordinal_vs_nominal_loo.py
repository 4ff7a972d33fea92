"""Ordinal against nominal and collapsed latent classes by PSIS-LOO on the same data.

Issue 16's must-show: on data simulated from an ordinal truth (8 items, 5 levels, K = 2,
the truth of ``tests/test_ordinal_latent_class.py``), fit the ordinal model, the nominal
model on the 5 levels (``collapse="none"``) and the nominal model on the 3 collapsed
levels (``collapse="three"``), all with K = 2, and compare their PSIS-LOO ELPDs.

The collapsed model predicts only the group of an answer (1-2, 3, 4-5); its per-firm
ELPD is put on the 5-level scale by adding, per answered item, the log of the item's
share of that answer within its group among the *other* firms (leave-one-out):
P(y = c) = P(group(c)) P(c | group(c)).  The added term does not depend on the model's
parameters, so it moves each firm's PSIS-LOO ELPD exactly.  Prints one JSON line per n::

    .venv/bin/python benchmarks/ordinal_vs_nominal_loo.py 60 200 500
    .venv/bin/python benchmarks/ordinal_vs_nominal_loo.py 500 --seeds 11,12,13,14,15

(about 3 to 10 minutes per n on one shared core).
"""

from __future__ import annotations

import json
import sys
import time
import warnings

import numpy as np
import pandas as pd

from bayes_cluster.common.latent_class_math import LIKERT_THREE_LEVELS
from bayes_cluster.estimators.latent_class import BayesianLatentClass
from bayes_cluster.estimators.ordinal_latent_class import (
    BayesianOrdinalLatentClass,
    simulate_ordinal_classes,
)

FIRST_LOCATIONS = np.array([-1.5, -1.2, 1.0, -1.4, -1.0, 1.3, -1.1, 1.2])
CUTPOINTS = [-2.0, -0.7, 0.7, 2.0]


def within_group_log_share(frame: pd.DataFrame, items: list[str]) -> np.ndarray:
    """Per firm: sum over items of log P(answer | its group) from the other firms."""
    group_of = {code: g for g, codes in enumerate(LIKERT_THREE_LEVELS) for code in codes}
    total = np.zeros(len(frame))
    for item in items:
        answers = frame[item].to_numpy()
        counts = {c: int((answers == c).sum()) for c in range(1, 6)}
        for i, answer in enumerate(answers):
            group = LIKERT_THREE_LEVELS[group_of[int(answer)]]
            in_group = sum(counts[c] for c in group) - 1
            total[i] += np.log((counts[int(answer)] - 1) / in_group) if in_group > 0 else 0.0
    return total


def compare(n: int, seed: int = 11) -> dict[str, float]:
    """Fit the three models on one simulated data set and compare them."""
    locations = np.vstack([FIRST_LOCATIONS, -FIRST_LOCATIONS])
    frame, _ = simulate_ordinal_classes(n, locations, CUTPOINTS, [0.6, 0.4], seed=seed)
    items = list(frame.columns[1:])
    result: dict[str, float] = {"n": n, "seed": seed}
    elpd = {}
    models = {
        "ordinal": BayesianOrdinalLatentClass(2),
        "nominal": BayesianLatentClass(2, collapse="none"),
        "collapsed": BayesianLatentClass(2, collapse="three"),
    }
    for name, model in models.items():
        started = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the diagnostics are reported below instead
            model.fit(frame, draws=1000, tune=1000, chains=2, random_seed=2)
        pointwise = model.loo().elpd_i.to_numpy()
        if name == "collapsed":
            pointwise = pointwise + within_group_log_share(frame, items)
        elpd[name] = pointwise
        result[f"elpd_{name}"] = float(pointwise.sum())
        result[f"passed_{name}"] = bool(model.diagnostics_.passed)
        result[f"seconds_{name}"] = time.perf_counter() - started
    for other in ("nominal", "collapsed"):
        difference = elpd["ordinal"] - elpd[other]
        result[f"diff_{other}"] = float(difference.sum())
        result[f"se_{other}"] = float(np.sqrt(len(difference)) * difference.std())
    return result


if __name__ == "__main__":
    arguments = sys.argv[1:]
    seeds = [11]
    if "--seeds" in arguments:
        at = arguments.index("--seeds")
        seeds = [int(s) for s in arguments[at + 1].split(",")]
        del arguments[at : at + 2]
    for size in [int(a) for a in arguments] or [60, 200, 500]:
        for seed in seeds:
            print(json.dumps(compare(size, seed)), flush=True)

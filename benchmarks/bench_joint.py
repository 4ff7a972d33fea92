"""Timing of the joint latent class + logit model on n = 60, and (optionally) its coverage.

Timing (issue 8, "Must show"): the joint model on a simulated Tumang survey of 60 firms,
12 Markusen items collapsed to 3 categories, K = 2, seven predictors, with the default
sampler (nutpie, 4 chains x 1000 draws after 1000 tuning steps):

* compile: ``nutpie.compile_pymc_model`` (numba), paid once per data shape;
* first fit: sampling + relabelling + derived groups (log-likelihoods, PPC, class membership);
* refit on new data of the same shape (``with_data``, no compile): what a simulation
  study pays per data set;
* the two-step and ML three-step comparison models, for scale.

``--study N`` adds the recovery study of the slow test with N seeds (class effect 1.5 and
three weakly separating items; class effect 0 with all twelve items) and prints coverage,
bias, interval width and RMSE / posterior sd per approach.

Run::

    .venv/bin/python benchmarks/bench_joint.py            # timing only (~1-2 min)
    .venv/bin/python benchmarks/bench_joint.py --study 8  # + coverage over 8 seeds
"""

from __future__ import annotations

import argparse
import time

import pandas as pd

from bayes_cluster.analyses.class_approaches import class_effect_recovery, recovery_summary
from bayes_cluster.estimators.joint import (
    ClassLogit,
    JointLatentClassLogit,
    classification_error_matrix,
)
from bayes_cluster.estimators.latent_class_em import LatentClassEM
from bayes_cluster.inference.sampling import clear_compiled_cache
from bayes_cluster.surveys.codebook import TUMANG_PREDICTORS
from bayes_cluster.surveys.simulate import simulate_tumang

WEAK_ITEMS = ("mk_cooperation", "mk_local_labour", "mk_government_role")


def timing(draws: int, tune: int, chains: int) -> None:
    clear_compiled_cache()
    frame, _ = simulate_tumang(60, seed=11, class_effects={"Hub-and-Spoke": 1.5})
    other, _ = simulate_tumang(60, seed=12, class_effects={"Hub-and-Spoke": 1.5})
    sampler = {"draws": draws, "tune": tune, "chains": chains}
    joint = JointLatentClassLogit(2, predictors=TUMANG_PREDICTORS, outcome="export")
    start = time.perf_counter()
    joint.fit(frame, random_seed=1, **sampler)
    first_total = time.perf_counter() - start
    compile_seconds, first_sampling = joint.timings_["compile_s"], joint.timings_["sample_s"]
    start = time.perf_counter()
    joint.fit(other, random_seed=2, **sampler)
    refit_total = time.perf_counter() - start
    diagnostics = joint.diagnostics_
    print(f"joint model, n = 60, 12 items x 3 categories, K = 2, {chains} x ({tune} + {draws})")
    print(f"  compile (nutpie/numba)          {compile_seconds:7.2f} s")
    print(f"  first fit: sampling             {first_sampling:7.2f} s")
    print(f"  first fit: total incl. compile  {first_total:7.2f} s  (EM reference, relabelling,")
    print("                                             log-likelihoods, PPC included)")
    print(
        f"  refit on new data (with_data)   {refit_total:7.2f} s  "
        f"(sampling {joint.timings_['sample_s']:.2f} s)"
    )
    print(
        f"  diagnostics of the refit: {diagnostics.verdict}, "
        f"max R-hat {diagnostics.table['r_hat'].max():.3f}, "
        f"min bulk ESS {diagnostics.table['ess_bulk'].min():.0f}, "
        f"divergences {diagnostics.n_divergences}"
    )

    data = joint.prepare(frame)
    codes = pd.DataFrame(data.item_codes, columns=list(data.items))
    em = LatentClassEM(2, n_starts=50, random_state=1).fit(codes)
    modal = em.posterior_.argmax(axis=1) + 1
    for label, kwargs in (
        ("two-step (modal class)", {}),
        (
            "three-step ML correction",
            {"error_matrix": classification_error_matrix(em.posterior_, modal)},
        ),
    ):
        model = ClassLogit(2, predictors=TUMANG_PREDICTORS, outcome="export")
        start = time.perf_counter()
        model.fit(frame, modal, random_seed=1, **kwargs, **sampler)
        total = time.perf_counter() - start
        print(
            f"  {label:<28} compile {model.timings_['compile_s']:6.2f} s, "
            f"sampling {model.timings_['sample_s']:5.2f} s, total {total:6.2f} s"
        )


def study(n_seeds: int) -> None:
    pd.set_option("display.width", 200)
    seeds = range(1, n_seeds + 1)
    start = time.perf_counter()
    effect = class_effect_recovery(seeds, class_effect=1.5, items=WEAK_ITEMS)
    print(f"\nclass effect 1.5 (Hub-and-Spoke - Marshallian), items {', '.join(WEAK_ITEMS)}")
    print(recovery_summary(effect).round(3).to_string())
    null = class_effect_recovery(seeds, class_effect=0.0, approaches=("two_step", "joint"))
    print("\nclass effect 0, all twelve Markusen items")
    print(recovery_summary(null).round(3).to_string())
    print(f"\nstudy time {time.perf_counter() - start:.0f} s for {n_seeds} seeds x 2 scenarios")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--tune", type=int, default=1000)
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--study", type=int, default=0, help="seeds of the coverage study")
    args = parser.parse_args()
    timing(args.draws, args.tune, args.chains)
    if args.study:
        study(args.study)


if __name__ == "__main__":
    main()

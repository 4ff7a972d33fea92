"""Benchmark: Bayesian latent class model, n = 60, 12 items, K = 3, 4 chains x 1000 draws.

Prints compile and sampling time for both samplers, a warm re-fit on new data of the same
shape (nutpie re-uses its compiled model), and the convergence diagnostics of each fit.

Run: ``.venv/bin/python benchmarks/bench_latent_class.py [--samplers nutpie_c nutpie pymc]``
"""

from __future__ import annotations

import argparse
import time

from bayes_cluster.estimators.latent_class import BayesianLatentClass
from bayes_cluster.surveys.simulate import simulate_tumang


def _report(label: str, model: BayesianLatentClass, wall: float) -> None:
    d = model.diagnostics_
    timings = model.timings_
    print(
        f"{label:<28} wall {wall:6.1f} s | compile {timings['compile_s']:5.1f} s | "
        f"sample {timings['sample_s']:5.1f} s | post-process {timings['postprocess_s']:4.1f} s"
        f" | max R-hat "
        f"{d.table['r_hat'].max():.3f} | min ESS bulk {d.table['ess_bulk'].min():.0f} | "
        f"divergences {d.n_divergences} | {d.verdict}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samplers", nargs="+", default=["nutpie_c", "nutpie", "pymc"])
    parser.add_argument("--n-classes", type=int, default=3)
    args = parser.parse_args()
    first, _ = simulate_tumang(n=60, seed=1)
    second, _ = simulate_tumang(n=60, seed=2)
    settings = {"draws": 1000, "tune": 1000, "chains": 4}
    print(
        f"Bayesian latent class: 60 firms x 12 items (3 categories), K = {args.n_classes}, "
        f"4 chains x (1000 tune + 1000 draws)"
    )
    for sampler in args.samplers:
        for label, frame, seed in (("first fit", first, 1), ("re-fit, new data", second, 2)):
            model = BayesianLatentClass(args.n_classes)
            started = time.perf_counter()
            model.fit(frame, random_seed=seed, sampler=sampler, **settings)
            _report(f"{sampler}: {label}", model, time.perf_counter() - started)


if __name__ == "__main__":
    main()

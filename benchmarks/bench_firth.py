"""Speed of the frequentist baselines on the study's shape (n = 60, 7 predictors).

Prints, for the bundled synthetic Tumang data (``data/tumang_synthetic.csv``):

* a Firth fit with estimates and standard errors (``firth_logit(..., ci="wald")``,
  from the data frame, validation included) -- target: as fast as R brglm2;
* profile penalised-likelihood intervals of all 8 terms (the Venzon--Moolgavkar batch
  alone, and the whole ``firth_logit`` default with penalised LR tests) -- target
  < 100 ms;
* how the Firth fit scales with the sample size: the fit plus profile intervals of all
  terms, on arrays and through ``firth_logit()``, for simulated Tumang surveys
  (``simulate_tumang(n, seed=1)``) of n = 60 and n = 240 firms -- the penalised
  curvature costs O(n p^3) per Newton step, so n = 240 should cost a small multiple of
  n = 60, not the ~25x of an O(n^2) step;
* ``mle_logit`` (with separation check, Hosmer--Lemeshow, classification table) and
  ``detect_separation`` for reference;
* when ``Rscript`` with the brglm2 package is on the PATH, the same Firth fit by
  ``glm(..., method = "brglmFit", type = "AS_mean")`` and R's ``glm``, timed in R on the
  same machine (optional: nothing here needs R).

Figures are medians over repeats, in milliseconds; nothing is asserted. Run::

    .venv/bin/python benchmarks/bench_firth.py
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import timeit
from pathlib import Path

import numpy as np
import pandas as pd

from bayes_cluster.estimators.firth import fit_single, profile_limits
from bayes_cluster.estimators.frequentist import detect_separation, firth_logit, mle_logit
from bayes_cluster.estimators.separation import model_matrix
from bayes_cluster.surveys.codebook import TUMANG_PREDICTORS
from bayes_cluster.surveys.simulate import simulate_tumang

DATA = Path(__file__).resolve().parents[1] / "data" / "tumang_synthetic.csv"

R_SCRIPT = r"""
suppressMessages(library(brglm2))
d <- read.csv("{path}")
form <- export ~ workers + firm_age + buyer_network + promotion + training + technology +
  supplier_network
reps <- 300
fit <- function() glm(form, family = binomial, data = d, method = "brglmFit",
                      type = "AS_mean")
f <- fit()
invisible(sqrt(diag(vcov(f))))
t_br <- system.time(for (i in 1:reps) {{ f <- fit(); s <- sqrt(diag(vcov(f))) }})[["elapsed"]]
t_glm <- system.time(for (i in 1:reps) {{
  g <- glm(form, family = binomial, data = d); s <- sqrt(diag(vcov(g)))
}})[["elapsed"]]
cat(sprintf("brglm2_ms %.3f\nglm_ms %.3f\nbrglm2_version %s\n", 1000 * t_br / reps,
            1000 * t_glm / reps, as.character(packageVersion("brglm2"))))
cat(sprintf("coef %s\n", paste(format(coef(f), digits = 10), collapse = " ")))
"""


def median_ms(function, repeat: int = 7) -> float:
    """Median wall time of one call in milliseconds (auto-ranged number of calls)."""
    timer = timeit.Timer(function)
    number, _ = timer.autorange()
    return 1e3 * float(np.median(timer.repeat(repeat=repeat, number=number))) / number


def r_brglm2_timings(frame: pd.DataFrame) -> dict[str, str] | None:
    """Time brglm2 and glm in R on the same data; None when R/brglm2 is unavailable."""
    if shutil.which("Rscript") is None:
        return None
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "tumang.csv"
        frame.to_csv(path, index=False)
        script = Path(folder) / "bench.R"
        script.write_text(R_SCRIPT.format(path=path.as_posix()))
        done = subprocess.run(
            ["Rscript", str(script)], capture_output=True, text=True, timeout=300, check=False
        )
    if done.returncode != 0:
        print(f"(R benchmark skipped: {done.stderr.strip().splitlines()[-1:]})")
        return None
    return dict(line.split(" ", 1) for line in done.stdout.strip().splitlines())


def scaling_figures(sizes: tuple[int, ...] = (60, 240), seed: int = 1) -> dict[str, float]:
    """Fit + profile CIs of all terms at several sample sizes (simulated surveys), in ms."""
    predictors = list(TUMANG_PREDICTORS)
    figures: dict[str, float] = {}
    for n in sizes:
        frame, _ = simulate_tumang(n, seed=seed)
        X, y, _, _, _ = model_matrix(frame, "export", predictors)
        start = np.zeros(X.shape[1])
        terms = np.arange(X.shape[1])

        def fit_and_profile(X=X, y=y, start=start, terms=terms) -> None:
            fit = fit_single(X, y, start)
            profile_limits(X, y, fit.beta[0], float(fit.log_likelihood[0]), terms)

        figures[f"n = {n:>4}: fit + profile CIs of all terms (arrays)"] = median_ms(
            fit_and_profile, repeat=3
        )
        figures[f"n = {n:>4}: firth_logit() default [+ profile CIs + LR tests]"] = median_ms(
            lambda frame=frame: firth_logit(frame, "export", predictors), repeat=3
        )
    return figures


def main() -> None:
    frame = pd.read_csv(DATA)
    predictors = list(TUMANG_PREDICTORS)
    print(f"data: {DATA.name}, n = {len(frame)}, {len(predictors)} predictors + intercept")
    print(f"separation: {detect_separation(frame, 'export', predictors).kind}")

    X, y, terms, _, _ = model_matrix(frame, "export", predictors)
    core = fit_single(X, y, np.zeros(X.shape[1]))
    beta, loglik = core.beta[0], float(core.log_likelihood[0])

    figures = {
        "firth_logit(ci='wald') [estimates + SEs, from the frame]": median_ms(
            lambda: firth_logit(frame, "export", predictors, ci="wald")
        ),
        "  of which the Newton-Raphson fit on arrays": median_ms(
            lambda: fit_single(X, y, np.zeros(X.shape[1]))
        ),
        "profile CIs of all 8 terms (Venzon-Moolgavkar batch)": median_ms(
            lambda: profile_limits(X, y, beta, loglik, np.arange(X.shape[1]))
        ),
        "firth_logit() default [+ profile CIs + penalised LR tests]": median_ms(
            lambda: firth_logit(frame, "export", predictors)
        ),
        "mle_logit() [+ separation LP, H-L, classification]": median_ms(
            lambda: mle_logit(frame, "export", predictors)
        ),
        "detect_separation()": median_ms(lambda: detect_separation(frame, "export", predictors)),
    }
    width = max(map(len, figures))
    for label, value in figures.items():
        print(f"{label:<{width}}  {value:8.2f} ms")
    print(f"Firth estimates: {np.array2string(beta, precision=6)}")

    print("scaling with n (simulate_tumang(n, seed=1)):")
    scaling = scaling_figures()
    width = max(map(len, scaling))
    for label, value in scaling.items():
        print(f"{label:<{width}}  {value:8.2f} ms")

    timings = r_brglm2_timings(frame)
    if timings is None:
        print("R with brglm2 not available: no side-by-side")
        return
    print(f"R brglm2 {timings['brglm2_version']} (estimates + vcov): {timings['brglm2_ms']} ms")
    print(f"R glm (maximum likelihood, for scale):        {timings['glm_ms']} ms")
    r_coef = np.array(timings["coef"].split(), dtype=float)
    print(f"largest |ours - brglm2| estimate difference: {np.abs(r_coef - beta).max():.2e}")


if __name__ == "__main__":
    main()

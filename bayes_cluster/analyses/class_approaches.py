"""Does the cluster pattern matter for export orientation? The approaches compared.

:func:`compare_class_approaches` fits, on one survey, the export model without class, the
two-step model (the EM modal class as a fixed predictor), Vermunt's (2010)
maximum-likelihood three-step correction and the joint latent class + logit model
(:mod:`bayes_cluster.estimators.joint`), and returns one table of coefficients, interval
widths, ELPD and the class-effect contrast (:class:`JointComparison`).
:func:`class_effect_recovery` repeats the comparison over simulated surveys with a known
class effect; :func:`recovery_summary` tabulates coverage, bias and width per approach.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from bayes_cluster.common.dims import TERM
from bayes_cluster.common.latent_class_math import LIKERT_THREE_LEVELS
from bayes_cluster.estimators.joint import (
    ClassLogit,
    JointLatentClassLogit,
    check_reference,
    class_names_from_profiles,
    classification_error_matrix,
    fit_em_classes,
)
from bayes_cluster.estimators.latent_class import relabel_draws
from bayes_cluster.surveys.codebook import TUMANG_PREDICTORS
from bayes_cluster.surveys.markusen import MARKUSEN_ITEMS

__all__ = [
    "APPROACH_LABELS",
    "JointComparison",
    "class_effect_recovery",
    "compare_class_approaches",
    "recovery_summary",
]

APPROACH_LABELS: dict[str, str] = {
    "no_class": "(a) export model without class",
    "two_step": "(b) two-step: EM modal class as a fixed predictor",
    "three_step_ml": "(b') three-step, ML correction (Vermunt 2010)",
    "joint": "(c) joint latent class + logit",
}
"""Row labels of the comparison table, one per approach."""

FittedModel = JointLatentClassLogit | ClassLogit
"""A fitted model of one approach."""


# ----------------------------------------------------------------------- comparison


@dataclass
class JointComparison:
    """Result of :func:`compare_class_approaches`.

    Attributes
    ----------
    coefficients : pandas.DataFrame
        One row per (approach, term): posterior mean, sd, HDI, HDI width,
        P(> 0), R-hat, bulk and tail ESS; terms on the original predictor scale, plus the class
        contrasts (``class effect: ...``).
    class_effect : pandas.DataFrame
        The class-effect contrast rows only: *does the cluster pattern matter?*
    elpd : pandas.DataFrame
        Per approach: ``elpd_loo``, ``se``, ``p_loo``, ``n_pareto_k_high`` (k > 0.7),
        all on the export likelihood given what the approach conditions on.
    diagnostics : dict
        Approach -> :class:`bayes_cluster.inference.diagnostics.MCMCDiagnostics`.
    models : dict
        Approach -> fitted model object (``idata_`` holds its DataTree).
    class_names : list of str
        Class names, in the order of the contrasts' reference (class 1 first).
    timings : dict
        Approach -> (compile seconds, sampling seconds).
    """

    coefficients: pd.DataFrame
    class_effect: pd.DataFrame
    elpd: pd.DataFrame
    diagnostics: dict[str, Any]
    models: dict[str, FittedModel]
    class_names: list[str]
    timings: dict[str, tuple[float, float]] = field(default_factory=dict)

    def to_markdown(self, digits: int = 2) -> str:
        """Render the comparison as Markdown: class effect, ELPD, coefficients, diagnostics.

        Parameters
        ----------
        digits : int
            Decimals shown.

        Returns
        -------
        str
            Markdown text.
        """

        def table(frame: pd.DataFrame) -> str:
            shown = frame.reset_index()
            header = "| " + " | ".join(map(str, shown.columns)) + " |"
            rule = "|" + "---|" * shown.shape[1]
            lines = [header, rule]
            for _, row in shown.iterrows():
                cells = [
                    f"{v:.{digits}f}" if isinstance(v, float) else str(v) for v in row.to_numpy()
                ]
                lines.append("| " + " | ".join(cells) + " |")
            return "\n".join(lines)

        parts = [
            "## Does the cluster pattern matter for export orientation?",
            "",
            "Class-effect contrast (log-odds of exporting, class k minus class 1), by approach:",
            "",
            table(self.class_effect),
            "",
            "## Predictive fit of `export` (PSIS-LOO)",
            "",
            "Every ELPD scores the same outcome, `export`, given what the approach conditions "
            "on: the predictors (a), the assigned class (b, b'), or the items through "
            "p(class | items) (c).",
            "",
            table(self.elpd),
            "",
            "## Coefficients (original scale)",
            "",
            table(self.coefficients),
            "",
            "## Convergence",
            "",
        ]
        for approach, diagnostics in self.diagnostics.items():
            parts.append(f"- {APPROACH_LABELS[approach]}: {diagnostics.verdict}")
        return "\n".join(parts) + "\n"


def _elpd_row(model: FittedModel) -> dict[str, float]:
    with warnings.catch_warnings():
        # high Pareto k are counted and reported in the table, not raised
        warnings.filterwarnings("ignore", message="Estimated shape parameter of Pareto")
        warnings.filterwarnings("ignore", message=".*Pareto.*")
        elpd = model.loo()
    pareto_k = np.asarray(elpd.pareto_k)
    return {
        "elpd_loo": float(elpd.elpd),
        "se": float(elpd.se),
        "p_loo": float(elpd.p),
        "n_pareto_k_high": int((pareto_k > 0.7).sum()),
    }


def compare_class_approaches(
    frame: pd.DataFrame,
    *,
    n_classes: int = 2,
    items: Sequence[str] = MARKUSEN_ITEMS,
    predictors: Sequence[str],
    outcome: str,
    collapse: Literal["three", "none"] = "three",
    class_slopes: bool = False,
    priors: Mapping[str, Any] | None = None,
    approaches: Sequence[str] = ("no_class", "two_step", "three_step_ml", "joint"),
    reference: tuple[np.ndarray, np.ndarray] | None = None,
    em_starts: int = 50,
    draws: int = 1000,
    tune: int = 1000,
    chains: int = 4,
    random_seed: int | None = None,
    target_accept: float = 0.9,
    hdi_prob: float = 0.94,
    models: Mapping[str, FittedModel] | None = None,
    progressbar: bool = False,
    backend: str = "nutpie_c",
) -> JointComparison:
    """Fit the export model without class, two-step, three-step (ML) and joint; compare.

    Parameters
    ----------
    frame : pandas.DataFrame
        The survey.
    n_classes : int
        Number of latent classes.
    items, predictors, outcome, collapse, class_slopes, priors
        As in :class:`~bayes_cluster.estimators.joint.JointLatentClassLogit`.
    approaches : sequence of str
        Which of ``"no_class"``, ``"two_step"``, ``"three_step_ml"``, ``"joint"`` to fit.
    reference : tuple of numpy.ndarray, optional
        ``(class_shares, item_probabilities)`` the classes are aligned to (default: the
        EM fit, classes in decreasing share).  The EM classes of the two-step models are
        aligned to it too.
    em_starts : int
        Random starts of the step-1 EM fit.
    draws, tune, chains, random_seed, target_accept
        Sampler settings (the same for every approach).
    hdi_prob : float
        HDI probability of the tables.
    models : mapping, optional
        Already-constructed model objects by approach, to reuse their compiled models
        across calls (a simulation study); created when absent.
    progressbar : bool
        Show nutpie's progress bars.
    backend : {"nutpie", "nutpie_c", "pymc"}
        The NUTS implementation of every approach's fit (``[sampler].backend``).

    Returns
    -------
    JointComparison
        Tables, diagnostics and the fitted models.

    Warns
    -----
    ConvergenceWarning
        Once per approach whose fit failed a convergence check (its verdict is in
        :attr:`JointComparison.diagnostics`).
    """
    unknown = sorted(set(approaches) - set(APPROACH_LABELS))
    if unknown:
        raise ValueError(f"unknown approaches {unknown}; known: {sorted(APPROACH_LABELS)}")
    models = dict(models or {})
    joint = models.get("joint") or JointLatentClassLogit(
        n_classes,
        items=items,
        predictors=predictors,
        outcome=outcome,
        class_slopes=class_slopes,
        collapse=collapse,
        priors=priors,
        hdi_prob=hdi_prob,
    )
    data = joint.prepare(frame)
    em = fit_em_classes(data, n_classes, em_starts, random_seed)
    em_reference = (np.asarray(em.class_shares_), em.item_probabilities_.to_numpy())
    reference = em_reference if reference is None else check_reference(reference, n_classes, data)
    # align the EM classes to the reference (identity when the reference is the EM fit)
    order = relabel_draws(em_reference[0][None], em_reference[1][None], reference=reference)[0]
    posterior = em.posterior_[:, order]
    modal = posterior.argmax(axis=1) + 1
    class_names = class_names_from_profiles(reference[1], data)
    shared = ("intercept", "slopes", "class_concentration")
    logit_priors = {k: v for k, v in (priors or {}).items() if k in shared}
    sampler = {
        "draws": draws,
        "tune": tune,
        "chains": chains,
        "random_seed": random_seed,
        "target_accept": target_accept,
        "progressbar": progressbar,
        "sampler": backend,
    }
    fitted: dict[str, FittedModel] = {}
    for approach in approaches:
        if approach == "joint":
            joint.fit(frame, reference=reference, em_starts=em_starts, **sampler)
            fitted[approach] = joint
            continue
        model = models.get(approach) or ClassLogit(
            n_classes,
            predictors=predictors,
            outcome=outcome,
            priors=logit_priors,
            hdi_prob=hdi_prob,
        )
        if approach == "no_class":
            model.fit(frame, None, **sampler)
        elif approach == "two_step":
            model.fit(frame, modal, class_names=class_names, **sampler)
        else:
            model.fit(
                frame,
                modal,
                error_matrix=classification_error_matrix(posterior, modal),
                class_names=class_names,
                **sampler,
            )
        fitted[approach] = model

    coefficient_rows, elpd_rows = [], []
    for approach, model in fitted.items():
        summary = model.coefficient_summary(hdi_prob).reset_index()
        summary.insert(0, "approach", approach)
        coefficient_rows.append(summary)
        elpd_rows.append({"approach": approach, **_elpd_row(model)})
    coefficients = pd.concat(coefficient_rows, ignore_index=True).set_index(["approach", TERM])
    is_contrast = coefficients.index.get_level_values(TERM).str.startswith("class effect")
    return JointComparison(
        coefficients=coefficients,
        class_effect=coefficients[is_contrast],
        elpd=pd.DataFrame(elpd_rows).set_index("approach"),
        diagnostics={approach: model.diagnostics_ for approach, model in fitted.items()},
        models=fitted,
        class_names=class_names,
        timings={a: (m.timings_["compile_s"], m.timings_["sample_s"]) for a, m in fitted.items()},
    )


# ------------------------------------------------------------------- recovery study

# the three-level collapse as 0-based category positions (levels 1-2, 3, 4-5)
_THREE_GROUPS = tuple(tuple(level - 1 for level in group) for group in LIKERT_THREE_LEVELS)


def _collapse_truth(theta: np.ndarray, collapse: str) -> np.ndarray:
    """Collapse true 1..5 response probabilities as :func:`encode_items` collapses codes."""
    if collapse == "none":
        return theta
    return np.stack([theta[..., list(g)].sum(axis=-1) for g in _THREE_GROUPS], axis=-1)


def class_effect_recovery(
    seeds: Sequence[int],
    *,
    class_effect: float = 1.5,
    n: int = 60,
    items: Sequence[str] = MARKUSEN_ITEMS,
    approaches: Sequence[str] = ("two_step", "three_step_ml", "joint"),
    collapse: Literal["three", "none"] = "three",
    draws: int = 500,
    tune: int = 500,
    chains: int = 4,
    hdi_prob: float = 0.94,
    em_starts: int = 20,
    models: dict[str, FittedModel] | None = None,
) -> pd.DataFrame:
    """Recover a known class effect over simulated Tumang surveys, approach by approach.

    Each seed draws a survey from :func:`bayes_cluster.surveys.simulate.simulate_tumang` in which
    the Hub-and-Spoke class shifts the log-odds of exporting by ``class_effect`` relative
    to the Marshallian class, fits the approaches (classes aligned to the true profile, so
    class 1 is Marshallian) and records the interval of the contrast.  The models are
    compiled once and re-run on each new data set (nutpie ``with_data``).

    Parameters
    ----------
    seeds : sequence of int
        One simulated survey per seed.
    class_effect : float
        True contrast (Hub-and-Spoke minus Marshallian, log-odds); 0 = no effect.
    n : int
        Firms per survey.
    items : sequence of str
        Markusen items given to the class model (fewer items = more class uncertainty).
    approaches : sequence of str
        Approaches with a class effect (``two_step``, ``three_step_ml``, ``joint``).
    collapse : {"three", "none"}
        Likert collapsing.
    draws, tune, chains, hdi_prob, em_starts
        Sampler and interval settings.
    models : dict, optional
        Model objects to reuse (filled on the first call; pass it again to skip compiling).

    Returns
    -------
    pandas.DataFrame
        One row per (seed, approach): ``truth``, ``mean``, ``sd``, ``hdi_lower``,
        ``hdi_upper``, ``hdi_width``, ``covered``, ``converged`` (every diagnostic check
        passed), ``max_r_hat``, ``n_divergences``, ``seconds`` (sampling time).
    """
    from bayes_cluster.inference.diagnostics import ConvergenceWarning
    from bayes_cluster.surveys.simulate import simulate_tumang

    wrong = [a for a in approaches if a not in ("two_step", "three_step_ml", "joint")]
    if wrong:
        raise ValueError(f"approaches without a class effect cannot be scored: {wrong}")
    models = {} if models is None else models
    rows = []
    for seed in seeds:
        frame, truth = simulate_tumang(
            n, seed=int(seed), class_effects={"Hub-and-Spoke": float(class_effect)}
        )
        item_index = [list(truth.items).index(item) for item in items]
        reference = (
            np.asarray(truth.class_shares),
            _collapse_truth(truth.item_probabilities[:, item_index, :], collapse),
        )
        with warnings.catch_warnings():
            # a replicate that fails its checks is recorded (``converged``), not raised
            warnings.simplefilter("ignore", ConvergenceWarning)
            comparison = compare_class_approaches(
                frame,
                n_classes=len(truth.class_names),
                items=items,
                predictors=TUMANG_PREDICTORS,  # the simulated surveys have the Tumang design
                outcome="export",
                collapse=collapse,
                approaches=approaches,
                reference=reference,
                em_starts=em_starts,
                draws=draws,
                tune=tune,
                chains=chains,
                random_seed=int(seed),
                hdi_prob=hdi_prob,
                models=models,
            )
        models.update(comparison.models)
        true_contrast = truth.class_effects["Hub-and-Spoke"] - truth.class_effects["Marshallian"]
        for approach in approaches:
            row = comparison.class_effect.loc[approach].iloc[0]
            diagnostics = comparison.diagnostics[approach]
            rows.append(
                {
                    "seed": int(seed),
                    "approach": approach,
                    "truth": true_contrast,
                    "mean": row["mean"],
                    "sd": row["sd"],
                    "hdi_lower": row["hdi_lower"],
                    "hdi_upper": row["hdi_upper"],
                    "hdi_width": row["hdi_width"],
                    "covered": bool(row["hdi_lower"] <= true_contrast <= row["hdi_upper"]),
                    "converged": bool(diagnostics.passed),
                    "max_r_hat": float(diagnostics.table["r_hat"].max()),
                    "n_divergences": int(diagnostics.n_divergences),
                    "seconds": comparison.timings[approach][1],
                }
            )
    return pd.DataFrame(rows)


def recovery_summary(results: pd.DataFrame) -> pd.DataFrame:
    """Coverage, mean width, bias and RMSE of the contrast per approach.

    Parameters
    ----------
    results : pandas.DataFrame
        Output of :func:`class_effect_recovery`.

    Returns
    -------
    pandas.DataFrame
        Indexed by approach: ``n``, ``coverage``, ``mean_width``, ``bias``, ``rmse``,
        ``mean_sd`` (average posterior sd), ``rmse_over_sd`` (above 1: the intervals are
        narrower than the actual error warrants), ``converged``, ``max_r_hat``.
    """
    error = results["mean"] - results["truth"]
    grouped = results.assign(error=error, squared=error**2).groupby("approach", sort=False)
    return pd.DataFrame(
        {
            "n": grouped.size(),
            "coverage": grouped["covered"].mean(),
            "mean_width": grouped["hdi_width"].mean(),
            "bias": grouped["error"].mean(),
            "rmse": np.sqrt(grouped["squared"].mean()),
            "mean_sd": grouped["sd"].mean(),
            "rmse_over_sd": np.sqrt(grouped["squared"].mean()) / grouped["sd"].mean(),
            "converged": grouped["converged"].mean(),
            "max_r_hat": grouped["max_r_hat"].max(),
        }
    )

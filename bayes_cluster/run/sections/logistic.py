"""The logit sections: frequentist and Bayesian logits of the outcome.

Frequentist: separation check, maximum likelihood and Firth.  Bayesian: the base model and
its variants, PSIS-LOO, power-scaling prior sensitivity and the refit under a wider prior.

Every method is called through one small adapter function (``_fit_mle``,
``_fit_bayes_logit``, ...), the only place to change when a method's interface changes.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from bayes_cluster.analyses import compare as comparison_module
from bayes_cluster.common.dims import INTERCEPT
from bayes_cluster.run.context import RunContext, warning_notes
from bayes_cluster.run.report import Alert, BulletList, Paragraph, Section, TableBlock
from bayes_cluster.run.spec import LogisticSpec, SamplerSpec

if TYPE_CHECKING:
    from bayes_cluster.estimators.frequentist import FirthLogitResult, MLELogitResult
    from bayes_cluster.estimators.logistic import BayesianLogit
    from bayes_cluster.estimators.separation import SeparationResult
    from bayes_cluster.run.fit_worker import Call

__all__ = ["background_fits", "fit_bayes_logit_model", "run_bayes_logit", "run_frequentist"]


def _fit_mle(frame: pd.DataFrame, outcome: str, predictors: Sequence[str]) -> MLELogitResult:
    """Adapter: maximum-likelihood logit (SPSS/Stata tables)."""
    from bayes_cluster.estimators.frequentist import mle_logit

    return mle_logit(frame, outcome, list(predictors))


def _fit_firth(
    frame: pd.DataFrame, outcome: str, predictors: Sequence[str], se: str = "fisher"
) -> FirthLogitResult:
    """Adapter: Firth's penalised logit (logistf's intervals and tests; ``se`` convention)."""
    from bayes_cluster.estimators.frequentist import firth_logit

    return firth_logit(frame, outcome, list(predictors), se=se)


def _detect_separation(
    frame: pd.DataFrame, outcome: str, predictors: Sequence[str]
) -> SeparationResult:
    """Adapter: complete / quasi-complete separation check (linear programming)."""
    from bayes_cluster.estimators.frequentist import detect_separation

    return detect_separation(frame, outcome, list(predictors))


def run_frequentist(context: RunContext) -> None:
    """Run the frequentist logits: separation check, maximum likelihood, Firth.

    Parameters
    ----------
    context : RunContext
        The run; every file is written through it, its report gets the section.
    """
    spec, frame = context.spec, context.frame
    logistic, frequentist = spec.logistic, spec.frequentist
    predictors = list(logistic.terms)
    section = context.report.section("Export orientation: frequentist logits")
    all_firms = frame
    frame = _complete_cases(frame, predictors, section)
    if frequentist.separation:
        context.progress("logit: separation check")
        separation = _detect_separation(frame, logistic.outcome, predictors)
        context.verdicts["separation"] = separation.message
        section.add(
            Alert(
                f"Separation check: {separation.message}",
                "error" if separation.separated else "ok",
            )
        )
    if "mle" in frequentist.methods:
        context.progress("logit: maximum likelihood")
        result = _fit_mle(frame, logistic.outcome, predictors)
        context.save_table(result.summary, "logistic/mle_summary.csv")
        statistics = result.fit_statistics.to_frame("value")
        context.save_table(statistics, "logistic/mle_fit_statistics.csv")
        context.methods.append(comparison_module.from_mle(result.summary, level=0.95))
        context.results["mle"] = result
        section.add(
            Paragraph(
                "**Maximum-likelihood logit** (the table SPSS prints: B, S.E., Wald, df, "
                "Sig., Exp(B))."
            ),
            TableBlock(result.summary, "Maximum-likelihood coefficients", index=True),
            TableBlock(statistics, "Model fit", index=True),
        )
        classification = result.classification_table
        context.save_table(classification, "logistic/mle_classification.csv")
        section.add(
            TableBlock(classification, f"Classification table (cut {result.cut:g})", index=True)
        )
    if "firth" in frequentist.methods:
        context.progress("logit: Firth penalised likelihood")
        result = _fit_firth(frame, logistic.outcome, predictors, se=frequentist.firth_se)
        context.save_table(result.summary, "logistic/firth_summary.csv")
        context.methods.append(comparison_module.from_firth(result.summary, level=0.95))
        context.results["firth"] = result
        section.add(
            Paragraph(
                "**Firth's penalised logit** (profile penalised likelihood intervals and "
                "penalised likelihood-ratio tests as R's logistf; standard errors: "
                f"{result.summary.attrs['std_error']}); finite even under separation."
            ),
            TableBlock(result.summary, "Firth coefficients", index=True),
        )
    if len(frame) < len(all_firms) and spec.data.missing == "model":
        _multiple_imputation(context, section, all_firms, predictors)


def _complete_cases(frame: pd.DataFrame, predictors: Sequence[str], section: Section):
    """Keep the firms with no blank predictor; the report says which were left out."""
    blank = frame[list(predictors)].isna()
    incomplete = blank.any(axis=1)
    if not incomplete.any():
        return frame
    ids = frame["firm_id"] if "firm_id" in frame.columns else frame.index.to_series()
    dropped = ", ".join(
        f"{ids[i]} ({', '.join(blank.columns[blank.loc[i]])})" for i in frame.index[incomplete]
    )
    section.add(
        Alert(
            f"Complete cases: the separation check, maximum likelihood and Firth use the "
            f"{int((~incomplete).sum())} of {len(frame)} firms with every predictor answered; "
            f"{int(incomplete.sum())} firm(s) with blank cells are left out: {dropped}.",
            "warning",
        )
    )
    return frame.loc[~incomplete].reset_index(drop=True)


def _multiple_imputation(
    context: RunContext, section: Section, frame: pd.DataFrame, predictors: Sequence[str]
) -> None:
    """MICE + maximum likelihood on every firm, pooled by Rubin's rules (beside the CC fit)."""
    from bayes_cluster.estimators.frequentist import mice_logit

    context.progress("logit: multiple imputation (MICE) + maximum likelihood")
    binary = [c.name for c in context.spec.data.codebook if c.kind == "binary"]
    result = mice_logit(
        frame,
        context.spec.logistic.outcome,
        list(predictors),
        binary=[c for c in predictors if c in binary],
        seed=context.seed("mice"),
    )
    context.save_table(result.summary, "logistic/mice_mle_summary.csv")
    context.results["mice_mle"] = result
    methods = ", ".join(
        f"{c}: {m} ({result.imputed_cells[c]} blank)" for c, m in result.methods.items()
    )
    section.add(
        Paragraph(
            f"**Multiple imputation + maximum likelihood** (all {result.n_obs} firms; "
            f"{result.n_obs - result.n_complete} with blank cells imputed "
            f"{result.n_imputations} times by chained equations, {methods}; each completed "
            "data set fitted by maximum likelihood and pooled by Rubin's rules, t intervals "
            "with Barnard-Rubin degrees of freedom; `fmi` is the fraction of missing "
            "information)."
        ),
        TableBlock(result.summary, "MICE + maximum likelihood, pooled", index=True),
    )
    for message in result.warnings:
        section.add(Alert(f"MICE: {message}", "warning"))


def _fit_bayes_logit(
    frame: pd.DataFrame, logistic: LogisticSpec, *, name: str, context: RunContext, **model: Any
) -> Any:
    """Adapter: build and fit one Bayesian logit; returns the fitted model.

    ``model`` holds the model's ``predictors``, ``group``, ``priors`` and ``shrinkage``,
    as :func:`_logit_call` takes them. Its convergence verdict goes into the report (top,
    in red, when it failed), so the model's own ConvergenceWarning is not repeated here.
    The fit a worker started at the start of the run under ``name``
    (:func:`background_fits`) when there is one: the same call.
    """
    call = context.take_background(("logit", name))
    if call is not None:
        return call.result()
    function, args, kwargs = _logit_call(frame, logistic, name=name, context=context, **model)
    return function(*args, **kwargs)


def _logit_call(
    frame: pd.DataFrame,
    logistic: LogisticSpec,
    *,
    predictors: Sequence[str],
    group: str | None,
    priors: Mapping[str, Any],
    shrinkage: str | None,
    name: str,
    context: RunContext,
) -> Call:
    """Return the run's fit of one Bayesian logit as a call (the run's seed for ``name``).

    One place for the fit's arguments, whether this process or a worker makes it.
    """
    sampler = context.sampler
    return (
        fit_bayes_logit_model,
        (frame, logistic),
        {
            "predictors": list(predictors),
            "group": group,
            "priors": dict(priors),
            "shrinkage": shrinkage,
            "sampler": sampler,
            "seed": context.seed(name),
            "progressbar": context.progressbar,
            "codebook": context.spec.data.codebook,
            "source": context.spec.data.path.name,
        },
    )


def fit_bayes_logit_model(
    frame: pd.DataFrame,
    logistic: LogisticSpec,
    *,
    predictors: Sequence[str],
    group: str | None,
    priors: Mapping[str, Any],
    shrinkage: str | None,
    sampler: SamplerSpec,
    seed: int,
    progressbar: bool,
    codebook: Any,
    source: str,
) -> Any:
    """Build and fit one Bayesian logit of a run (no run context: a worker can call it).

    A logit whose predictors have blank cells imputes them (``missing = "model"``:
    :class:`~bayes_cluster.estimators.imputation.BayesianImputedLogit`).

    Parameters
    ----------
    frame : pandas.DataFrame
        The survey (with the transformed predictor columns).
    logistic : LogisticSpec
        The spec's ``[logistic]`` section.
    predictors : sequence of str
        The model's terms.
    group : str or None
        Column of the varying intercepts.
    priors : mapping
        The model's priors (the spec's, or a variant's).
    shrinkage : str or None
        ``"horseshoe"`` for the horseshoe prior on the slopes.
    sampler : SamplerSpec
        The run's MCMC settings.
    seed : int
        Seed of this fit.
    progressbar : bool
        Show the sampler's progress bar.
    codebook : Codebook
        The survey's codebook (the kinds and levels of imputed predictors).
    source : str
        Name of the survey file (in messages about imputed cells).

    Returns
    -------
    BayesianLogit or BayesianImputedLogit
        Fitted, with its diagnostics.
    """
    from bayes_cluster.estimators.imputation import (
        BayesianImputedLogit,
        imputation_kinds_from_codebook,
    )
    from bayes_cluster.estimators.logistic import BayesianLogit
    from bayes_cluster.inference.diagnostics import ConvergenceWarning

    arguments = {
        "group": group,
        "priors": dict(priors) or None,
        "standardize": logistic.standardize,
        "shrinkage": shrinkage,
        "hdi_prob": sampler.hdi_prob,
    }
    if frame[list(predictors)].isna().any().any():  # missing = "model": impute the blanks
        model = BayesianImputedLogit(
            logistic.outcome,
            list(predictors),
            kinds=imputation_kinds_from_codebook(codebook),
            levels={c.name: c.levels for c in codebook if c.kind == "likert"},
            source=source,
            **arguments,
        )
    else:
        model = BayesianLogit(logistic.outcome, list(predictors), **arguments)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(
            frame,
            draws=sampler.draws,
            tune=sampler.tune,
            chains=sampler.chains,
            random_seed=seed,
            sampler=sampler.backend,
            target_accept=None if shrinkage else sampler.target_accept,
            progressbar=progressbar,
        )
    return model


def background_fits(context: RunContext) -> list[tuple[tuple[str, str], Call]]:
    """Return the section's Bayesian logits that workers may make, in the order it takes them.

    The base model and each variant, keyed ``("logit", name)``, then the refit of the base
    model under a wider prior (:func:`_wide_prior_background`: its priors need the base
    model's design, not its fit).

    Parameters
    ----------
    context : RunContext
        The run (its frame with the transformed predictor columns).

    Returns
    -------
    list of (key, call)
        ``call`` as :func:`bayes_cluster.run.fit_worker.start_queue` takes it.
    """
    logistic = context.spec.logistic
    if logistic is None or not logistic.bayesian:
        return []
    jobs = [
        (
            ("logit", name),
            _logit_call(
                context.frame,
                logistic,
                predictors=terms,
                group=group,
                priors=priors,
                shrinkage=shrinkage,
                name=name,
                context=context,
            ),
        )
        for name, terms, group, priors, shrinkage in _bayes_models(logistic)
    ]
    wide = _wide_prior_background(context)
    return jobs if wide is None else [*jobs, wide]


def _wide_prior_background(context: RunContext) -> tuple[tuple, Call] | None:
    """Return the refit under a wider prior as a worker's call, where the run makes it.

    Its priors are the base model's widened (:func:`widened_priors`), which need only the
    base model's design, not its fit: the call is the one :func:`_wider_prior` makes after
    the base fit, and its key names the call's arguments, so that the run takes it only if
    they are the same. None where the run makes no such refit (no prior sensitivity, the
    horseshoe, imputed predictors) or the design fails here (the base fit reports it).
    """
    from bayes_cluster.estimators.logistic import BayesianLogit

    logistic = context.spec.logistic
    terms = list(logistic.terms)
    if not logistic.prior_sensitivity or logistic.shrinkage is not None:
        return None
    if context.frame[terms].isna().any().any():
        return None
    base = BayesianLogit(
        logistic.outcome,
        terms,
        group=logistic.group,
        priors=dict(logistic.priors) or None,
        standardize=logistic.standardize,
        hdi_prob=context.sampler.hdi_prob,
    )
    try:
        base._prepare(context.frame, fitting=True)  # the design: terms, sources of priors
    except ValueError:
        return None
    call = _wide_prior_call(context, base)
    return _wide_prior_key(call), call


def _wide_prior_call(context: RunContext, base: BayesianLogit) -> Call:
    """Return the refit of ``base`` under priors WIDE_PRIOR_FACTOR times wider, as a call."""
    from bayes_cluster.estimators.logistic import widened_priors

    return _logit_call(
        context.frame,
        context.spec.logistic,
        predictors=base.terms,
        group=base.group,
        priors=widened_priors(base, WIDE_PRIOR_FACTOR),
        shrinkage=None,
        name="bayes_wide_prior",
        context=context,
    )


def _wide_prior_key(call: Call) -> tuple:
    """Return the background key of the wide-prior refit: its arguments, written out."""
    kwargs = call[2]
    return (
        "logit",
        "bayes_wide_prior",
        repr((kwargs["predictors"], kwargs["group"])),
        repr(sorted(kwargs["priors"].items())),
    )


def _bayes_models(logistic: LogisticSpec) -> list[tuple]:
    """Return (method, terms, group, priors, shrinkage) of the base model and each variant.

    Variants inherit the base priors; a prior that a model has no parameter for (``group_sd``
    without a group, ``horseshoe`` without the horseshoe) is left out of that model.
    """
    models = [("bayes", logistic.terms, logistic.group, logistic.priors, logistic.shrinkage)]
    for variant in logistic.variants:
        terms = tuple(logistic.term(c) for c in variant.predictors)
        models.append(
            (f"bayes_{variant.name}", terms, variant.group, variant.priors, variant.shrinkage)
        )
    return [
        (
            name,
            terms,
            group,
            {
                key: prior
                for key, prior in priors.items()
                if not (key == "group_sd" and group is None)
                and not (key == "horseshoe" and shrinkage is None)
            },
            shrinkage,
        )
        for name, terms, group, priors, shrinkage in models
    ]


def run_bayes_logit(context: RunContext) -> None:
    """Run the Bayesian logits, PSIS-LOO and the prior sensitivity checks.

    Parameters
    ----------
    context : RunContext
        The run; every file is written through it, its report gets the section.
    """
    spec, frame = context.spec, context.frame
    from bayes_cluster.plots.compare import plot_elpd_comparison

    logistic = spec.logistic
    hdi_prob = context.sampler.hdi_prob
    section = context.report.section("Export orientation: Bayesian logits")
    section.add(
        Paragraph(
            f"MCMC ({context.sampler.backend}): {context.sampler.chains} chains x "
            f"{context.sampler.draws} draws after {context.sampler.tune} tuning steps; "
            f"intervals are {hdi_prob:.0%} highest-density intervals; `prob_positive` is "
            "the posterior probability that the coefficient is above zero."
        )
    )
    fitted = {}
    for name, terms, group, priors, shrinkage in _bayes_models(logistic):
        description = f"varying intercepts by {group}" if group else "no grouping"
        if shrinkage:
            description += f", {shrinkage} prior on the slopes"
        context.progress(f"logit: Bayesian {name} ({description}; MCMC)")
        model = _fit_bayes_logit(
            frame,
            logistic,
            predictors=terms,
            group=group,
            priors=priors,
            shrinkage=shrinkage,
            name=name,
            context=context,
        )
        fitted[name] = model
        context.add_diagnostics(name, model.diagnostics_)
        summary = model.summary(hdi_prob=hdi_prob)
        context.save_table(summary, f"logistic/{name}_summary.csv")
        context.save_tree(model.idata_, f"logistic/{name}_posterior.nc", model=name)
        coefficients = summary.loc[[INTERCEPT, *model.terms]]
        context.methods.append(comparison_module.from_bayes(coefficients, name, hdi_prob))
        prior_table = model.prior_summary()
        context.save_table(prior_table, f"logistic/{name}_priors.csv")
        section.add(
            Paragraph(f"**{name}** ({description})."),
            TableBlock(
                summary,
                f"{name}: posterior summary"
                + (
                    f" (then the hierarchy, as rstanarm prints it: sigma[{group}] is the "
                    f"between-{group} SD of the intercepts, Sigma[...] its square, b[...] "
                    "each group's intercept deviation, log-odds)"
                    if group
                    else ""
                ),
                index=True,
            ),
            TableBlock(prior_table, f"{name}: priors used", index=True),
        )
        _bayes_logit_figures(context, section, model, name)
        _imputed_cells(context, section, model, name)
    context.results["bayes_logit"] = fitted
    if logistic.loo and len(fitted) > 1:
        context.progress("logit: PSIS-LOO comparison of the Bayesian models")
        table, notes = _loo_compare(fitted)
        table.index.name = "model"
        context.save_table(table, "logistic/loo_comparison.csv")
        for note in notes:
            section.add(Alert(f"PSIS-LOO: {note}", "warning"))
        section.add(
            TableBlock(
                table, "Bayesian logits compared by PSIS-LOO (higher ELPD is better)", index=True
            ),
            context.save_figure(
                plot_elpd_comparison(table, title="Bayesian logits compared by PSIS-LOO"),
                "loo_comparison",
                "PSIS-LOO of each Bayesian logit: ELPD with its SE (dots) and the gap to the "
                "best model with the SE of the gap (diamonds); a gap within about two of its "
                "SEs does not separate the models",
            ),
        )
    if logistic.prior_sensitivity:
        context.progress("logit: prior sensitivity (power-scaling)")
        if isinstance(fitted["bayes"], _imputed_model_class()):
            sensitivity, failure = None, None
            context.report.section("Prior sensitivity").add(
                Alert(
                    "Prior sensitivity (power-scaling) is not computed for a logit whose "
                    "blank predictor cells are imputed (the log prior would include the "
                    "imputation models); run the spec on the complete cases for it.",
                    "warning",
                )
            )
        else:
            sensitivity, failure = _prior_sensitivity(fitted["bayes"])
        sensitivity_section = context.report.section("Prior sensitivity")
        if sensitivity is not None:
            context.save_table(sensitivity, "logistic/prior_sensitivity.csv")
            sensitivity_section.add(
                Paragraph(
                    "Power-scaling sensitivity of the base Bayesian logit (Kallioinen et al. "
                    "2024): how much each coefficient's posterior moves when the prior or "
                    "the likelihood is strengthened or weakened. Values above 0.05 flag a "
                    "coefficient whose posterior leans on its prior."
                ),
                TableBlock(sensitivity, "Prior and likelihood sensitivity", index=True),
            )
            _wider_prior(context, sensitivity_section, fitted["bayes"], sensitivity)
        elif failure is not None:
            context.verdicts["prior_sensitivity_failed"] = failure
            sensitivity_section.add(
                Alert(f"Prior sensitivity could not be computed: {failure}", "error")
            )


def _imputed_model_class() -> type:
    from bayes_cluster.estimators.imputation import BayesianImputedLogit

    return BayesianImputedLogit


def _imputed_cells(context: RunContext, section: Section, model: Any, name: str) -> None:
    """Report the imputed cells' posterior: a table and a figure (imputation models only)."""
    if not isinstance(model, _imputed_model_class()):
        return
    from bayes_cluster.plots.imputation import plot_imputed_values

    hdi_prob = context.sampler.hdi_prob
    table = model.imputed_values(hdi_prob=hdi_prob)
    context.save_table(table, f"logistic/{name}_imputed_values.csv")
    section.add(
        Paragraph(
            f"**{name}: imputed cells.** {len(table)} blank predictor cell(s) were imputed "
            "jointly with the logit (each a parameter of the posterior, modelled from the "
            "other predictors and, through the likelihood, the outcome); `mode` and "
            "`prob_mode` give the most probable answer of a binary or Likert column and its "
            "posterior probability."
        ),
        TableBlock(table, f"{name}: posterior of each imputed cell", index=True),
        context.save_figure(
            plot_imputed_values(model, hdi_prob=hdi_prob),
            f"{name}_imputed_values",
            f"{name}: posterior of each imputed cell (mean and {hdi_prob:.0%} HDI; for a "
            "binary or Likert column, the probability of each answer), beside the range of "
            "the answers the other firms gave",
        ),
    )


def _loo_compare(models: Mapping[str, Any]) -> tuple[pd.DataFrame, list[str]]:
    """Adapter: ELPD comparison of the Bayesian logits, with PSIS warnings as notes."""
    from bayes_cluster.estimators.logistic import compare_models

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        table = compare_models(dict(models))
    return table, warning_notes(caught)


def _prior_sensitivity(model: BayesianLogit) -> tuple[pd.DataFrame | None, str | None]:
    """Adapter: power-scaling prior sensitivity of a fitted Bayesian logit.

    Returns the table, or ``None`` and the reason it could not be computed (shown in the
    report in red, and in the run summary, rather than aborting the whole run).
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return model.prior_sensitivity(), None
    except Exception as error:  # noqa: BLE001 - reported in the report, in red
        return None, f"{type(error).__name__}: {error}"


WIDE_PRIOR_FACTOR = 4.0
"""How much wider the prior of the sensitivity refit is (t7(0, 1) slopes become t7(0, 4))."""


def _wider_prior(
    context: RunContext, section: Section, base: BayesianLogit, sensitivity: pd.DataFrame
) -> None:
    """Refit the base logit under priors WIDE_PRIOR_FACTOR times wider; read the flags."""
    from bayes_cluster.estimators.logistic import prior_sensitivity_reading
    from bayes_cluster.plots.logistic import plot_prior_sensitivity

    if base.shrinkage is not None:
        section.add(
            Paragraph(
                "No refit under a wider prior: the horseshoe has no single prior scale to "
                "widen; read the power-scaling values above."
            )
        )
        return
    factor = WIDE_PRIOR_FACTOR
    context.progress(f"logit: base model under priors {factor:g} times wider (MCMC)")
    function, args, kwargs = call = _wide_prior_call(context, base)
    # a worker made this very call from the start of the run, where it could
    background = context.take_background(_wide_prior_key(call))
    wide = background.result() if background is not None else function(*args, **kwargs)
    context.add_diagnostics("bayes_wide_prior", wide.diagnostics_)
    level = context.spec.report.comparison_level
    table, sentences = prior_sensitivity_reading(
        sensitivity,
        base.summary(hdi_prob=level, groups=False),
        wide.summary(hdi_prob=level, groups=False),
        factor=factor,
    )
    context.save_table(table, "logistic/prior_sensitivity_wide.csv")
    context.verdicts["prior_sensitivity_reading"] = sentences
    section.add(
        Paragraph(
            "**What the flags mean.** A flagged coefficient is one whose posterior the prior "
            "still shapes; the check does not say the prior is wrong. The answer a referee "
            f"asks for is the result under another prior: below, the base model refitted "
            f"with the intercept and slope priors {factor:g} times wider (same family and "
            f"centre), beside the default, both as {level:.0%} HDIs."
        ),
        BulletList(tuple(sentences)),
        TableBlock(
            table,
            f"Prior sensitivity: default prior against a prior {factor:g} times wider "
            f"({level:.0%} HDIs; conclusion: effect when the HDI excludes 0)",
            index=True,
        ),
        context.save_figure(
            plot_prior_sensitivity(table, factor=factor, level=level),
            "prior_sensitivity",
            f"Each coefficient under the default prior and under a prior {factor:g} times "
            f"wider (posterior mean and {level:.0%} HDI); * marks the coefficients the "
            "power-scaling check flags. Look for intervals that cross zero under one prior "
            "only: those conclusions depend on the prior",
        ),
    )


def _prior_posterior_inputs(model: Any) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Adapter: standardised draws and the priors they were given, by term."""
    from bayes_cluster.common.dims import PREDICTOR

    posterior = model.idata_["posterior"]
    resolved = model.resolved_priors()
    draws = {INTERCEPT: posterior["alpha_std"].to_numpy().ravel()}
    priors = {INTERCEPT: resolved["intercept"]}
    beta = posterior["beta_std"]
    for term in beta[PREDICTOR].to_numpy():
        draws[str(term)] = beta.sel({PREDICTOR: term}).to_numpy().ravel()
        if str(term) in resolved["slopes"]:
            priors[str(term)] = resolved["slopes"][str(term)]
    return draws, priors


def _bayes_logit_figures(
    context: RunContext, section: Section, model: BayesianLogit, name: str
) -> None:
    """Add the Bayesian logit's figures: calibration, separation, LOO-PIT, odds ratios, priors."""
    from bayes_cluster.plots.compare import plot_prior_posterior
    from bayes_cluster.plots.logistic import (
        plot_calibration,
        plot_coefficients,
        plot_loo_pit,
        plot_separation,
    )

    hdi_prob = context.sampler.hdi_prob
    draws, priors = _prior_posterior_inputs(model)
    scale = "per SD of the predictor" if model.standardize else "original scale"
    section.add(
        context.save_figure(
            plot_calibration(model, band_prob=hdi_prob),
            f"{name}_calibration",
            f"{name}: PAV calibration of the fitted export probabilities; the band is the "
            f"same curve for outcomes replicated from the model ({hdi_prob:.0%}), so a "
            "well-calibrated model's line stays inside it",
        ),
        context.save_figure(
            plot_separation(model),
            f"{name}_separation",
            f"{name}: separation plot (firms ordered by predicted probability; exporters "
            "dark): a model that separates exporters well puts the dark stripes to the right",
        ),
        context.save_figure(
            plot_loo_pit(model, band_prob=hdi_prob),
            f"{name}_loo_pit",
            f"{name}: LOO-PIT, the ECDF of the leave-one-out probability integral transform "
            f"minus the uniform one; a line leaving the {hdi_prob:.0%} band points to a "
            "miscalibrated model",
        ),
        context.save_figure(
            plot_coefficients(model, hdi_prob=hdi_prob),
            f"{name}_odds_ratios",
            f"{name}: odds ratio per unit of each predictor (posterior mean and {hdi_prob:.0%} "
            "HDI, log scale); an interval across 1 is no clear effect",
        ),
        context.save_figure(
            plot_prior_posterior(
                draws, priors, title=f"{name}: prior against posterior", scale_note=scale
            ),
            f"{name}_prior_posterior",
            f"{name}: prior (line) against posterior (histogram) of each coefficient, on the "
            "scale the priors are set on",
        ),
    )
    if model.group is not None:
        from bayes_cluster.plots.logistic import plot_shrinkage

        shrinkage = model.group_shrinkage(hdi_prob=hdi_prob)
        context.save_table(shrinkage, f"logistic/{name}_group_shrinkage.csv")
        section.add(
            TableBlock(
                shrinkage,
                f"{name}: share of exporters by {model.group}, raw against partially pooled "
                f"(posterior mean and {hdi_prob:.0%} HDI; b_mean: the group's intercept "
                "deviation, log-odds)",
                index=True,
            ),
            context.save_figure(
                plot_shrinkage(shrinkage, title=f"{name}: shrinkage by {model.group}"),
                f"{name}_shrinkage",
                f"{name}: each {model.group}'s share of exporters, raw (hollow) and partially "
                f"pooled (filled, {hdi_prob:.0%} HDI: the mean fitted probability of the "
                "group's firms, so it carries their predictors too). The arrows show how far "
                "the model moves each group: its intercept deviation b is shrunk towards "
                "zero, most for small groups, and a group whose firms' predictors explain its "
                "share moves even away from the others",
            ),
        )

"""The ``[latent_class]`` section: the cluster pattern (Markusen typology).

Descriptive Markusen scoring, EM and Bayesian latent classes, the choice of the number
of classes by PSIS-LOO, covariates of class membership for the chosen number (``covariates``:
Bayes and EM, one step), and the posterior predictive check of the chosen mixture.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from bayes_cluster.common.latent_class_math import LIKERT_THREE_LEVELS
from bayes_cluster.run.context import RunContext
from bayes_cluster.run.report import Alert, BulletList, Paragraph, Section, TableBlock
from bayes_cluster.run.safety import raise_if_interrupted
from bayes_cluster.run.spec import LatentClassSpec, SamplerSpec, Spec

if TYPE_CHECKING:
    from bayes_cluster.estimators.latent_class import BayesianLatentClass
    from bayes_cluster.estimators.latent_class_em import LatentClassEM
    from bayes_cluster.estimators.ordinal_latent_class import BayesianOrdinalLatentClass
    from bayes_cluster.run.fit_worker import Call
    from bayes_cluster.surveys.markusen import DescriptiveScoring

__all__ = [
    "background_fits",
    "fit_latent_class_model",
    "fit_ordinal_latent_class_model",
    "run_latent_class",
    "run_latent_class_bayes",
]


def _item_responses(frame: pd.DataFrame, lc: LatentClassSpec) -> pd.DataFrame:
    """Return the item columns under their Markusen names (``markusen_items``).

    Only the items (and ``firm_id``, which the Bayesian model labels firms with) are kept,
    so a mapped name can never collide with another column of the survey.
    """
    firm = ["firm_id"] if "firm_id" in frame.columns else []
    return frame[[*firm, *lc.items]].rename(columns=dict(lc.markusen_items))


def _items_frame(responses: pd.DataFrame, lc: LatentClassSpec) -> pd.DataFrame:
    """Return the item columns of :func:`_item_responses`, the spec's level groups applied."""
    items = responses[list(lc.markusen_names)]
    if lc.collapse is None:
        return items
    mapping = {level: code for code, group in enumerate(lc.collapse, start=1) for level in group}
    return items.apply(lambda column: column.map(mapping)).astype("Int64").astype(float)


def _untyped_items(lc: LatentClassSpec) -> list[str]:
    """Item columns that are not Markusen items (after ``markusen_items``)."""
    from bayes_cluster.surveys.markusen import MARKUSEN_ITEMS

    return [
        column
        for column, name in zip(lc.items, lc.markusen_names, strict=True)
        if name not in MARKUSEN_ITEMS
    ]


def _missing_verdict_message(lc: LatentClassSpec, untyped: Sequence[str]) -> str:
    """Why there is no cluster-pattern verdict, and the spec lines that would give one."""
    shown = ", ".join(f"`{column}`" for column in untyped[:6])
    more = f" and {len(untyped) - 6} more" if len(untyped) > 6 else ""
    example = "; ".join(f'{column} = "mk_..."' for column in untyped[:2])
    return (
        f"No cluster-pattern verdict: {len(untyped)} of the {len(lc.items)} items "
        f"({shown}{more}) are not Markusen items, so the descriptive scoring and the Markusen "
        "typing of the latent classes were left out (the latent classes are fitted all the "
        "same). To type them, map every item column to the Markusen item it measures in the "
        f"spec: `[latent_class.markusen_items]` with `{example}` (item names: "
        "bayes_cluster.surveys.markusen.MARKUSEN_ITEMS; see docs/spec.md)."
    )


def _descriptive_scoring(responses: pd.DataFrame, items: Sequence[str]) -> DescriptiveScoring:
    """Adapter: the thesis's descriptive Markusen scoring."""
    from bayes_cluster.surveys.markusen import descriptive_scoring

    return descriptive_scoring(responses, items)


def _fit_em(items: pd.DataFrame, n_classes: int, n_starts: int, seed: int) -> LatentClassEM:
    """Adapter: maximum-likelihood latent classes by EM."""
    from bayes_cluster.estimators.latent_class_em import LatentClassEM

    return LatentClassEM(n_classes, n_starts=n_starts, random_state=seed).fit(items)


def _take_or_fit(
    measurement: str,
    responses: pd.DataFrame,
    n_classes: int,
    lc: LatentClassSpec,
    context: RunContext,
) -> BayesianLatentClass:
    """Adapter: the run's Bayesian mixture (``"nominal"`` or ``"ordinal"``) with K classes.

    The fit a worker started at the start of the run (:func:`background_fits`) when there
    is one, else fitted here: the same call, fitted, with its diagnostics.
    """
    call = context.take_background((measurement, n_classes))
    if call is not None:
        return call.result()
    function, args, kwargs = _latent_class_call(measurement, responses, n_classes, lc, context)
    return function(*args, **kwargs)


def _latent_class_call(
    measurement: str,
    responses: pd.DataFrame,
    n_classes: int,
    lc: LatentClassSpec,
    context: RunContext,
    covariates: Sequence[str] | None = None,
) -> Call:
    """Return the run's fit of one mixture as a call: function, arguments (the run's seed).

    One place for the fit's arguments, whether this process or a worker makes it.
    """
    if measurement == "nominal":
        function: Callable[..., object] = fit_latent_class_model
        seed = context.seed(f"latent_class_K{n_classes}" + ("_covariates" if covariates else ""))
    else:
        function = fit_ordinal_latent_class_model
        seed = _ordinal_seed(context, n_classes, covariates)
    args = (responses, n_classes, lc, context.sampler, seed, context.progressbar, covariates)
    return function, args, {}


def background_fits(context: RunContext) -> list[tuple[tuple[str, int], Call]]:
    """Return the section's Bayesian fits that workers may make, in the order it takes them.

    Every K of the nominal mixture, then (``measurement = "ordinal"``) of the ordinal one,
    keyed ``(measurement, K)``; the fits with class covariates depend on the K chosen, and
    stay in the run's own process.

    Parameters
    ----------
    context : RunContext
        The run.

    Returns
    -------
    list of (key, call)
        ``call`` as :func:`bayes_cluster.run.fit_worker.start_queue` takes it.
    """
    lc = context.spec.latent_class
    if lc is None or not lc.bayesian:
        return []
    responses = _item_responses(context.frame, lc)
    measurements = ["nominal", "ordinal"] if lc.measurement == "ordinal" else ["nominal"]
    return [
        ((measurement, k), _latent_class_call(measurement, responses, k, lc, context))
        for measurement in measurements
        for k in lc.n_classes
    ]


COVARIATES_PROMISE = ("covariates", "promised")
"""Background key of the fit worker's place for the class covariates fit
(:data:`bayes_cluster.run.fit_worker.PROMISED`)."""


def fits_class_covariates(spec: Spec) -> bool:
    """Whether a run of ``spec`` may fit class covariates (of the K it chooses, if above 1).

    Parameters
    ----------
    spec : Spec
        The run's spec.

    Returns
    -------
    bool
    """
    lc = spec.latent_class
    return bool(lc is not None and lc.bayesian and lc.covariates and max(lc.n_classes) > 1)


def fit_latent_class_model(
    responses: pd.DataFrame,
    n_classes: int,
    lc: LatentClassSpec,
    sampler: SamplerSpec,
    seed: int,
    progressbar: bool = False,
    covariates: Sequence[str] | None = None,
) -> BayesianLatentClass:
    """Fit the Bayesian latent-class mixture of a run (no run context: a worker can call it).

    Parameters
    ----------
    responses : pandas.DataFrame
        The item answers (and covariate columns).
    n_classes : int
        Number of classes.
    lc : LatentClassSpec
        The spec's ``[latent_class]`` section.
    sampler : SamplerSpec
        The run's MCMC settings.
    seed : int
        Seed of this fit.
    progressbar : bool
        Show the sampler's progress bar.
    covariates : sequence of str, optional
        Covariates of class membership.

    Returns
    -------
    BayesianLatentClass
        Fitted, with its diagnostics.
    """
    from bayes_cluster.estimators.latent_class import BayesianLatentClass

    if lc.collapse in (None, THREE_LEVELS):
        data, collapse = responses, "three" if lc.collapse else "none"
    else:  # any other grouping: collapse here, hand over the codes as they are
        data, collapse = _items_frame(responses, lc), "none"
    model = BayesianLatentClass(
        n_classes,
        collapse=collapse,
        priors=lc.priors or None,
        items=list(lc.markusen_names),
        covariates=covariates,
    )
    if covariates and data is not responses:
        data = data.assign(**{name: responses[name].to_numpy() for name in covariates})
    return _fit_for_run(model, data, sampler, seed, progressbar)


def _fit_for_run(
    model: BayesianLatentClass,
    data: pd.DataFrame,
    sampler: SamplerSpec,
    seed: int,
    progressbar: bool,
) -> BayesianLatentClass:
    """Fit ``model`` with the run's sampler settings; its diagnostics go to the report."""
    from bayes_cluster.inference.diagnostics import ConvergenceWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # log(0) of empty classes, in numpy
        # the verdict goes into the report (add_diagnostics); not repeated as a warning
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(
            data,
            draws=sampler.draws,
            tune=sampler.tune,
            chains=sampler.chains,
            random_seed=seed,
            sampler=sampler.backend,
            # the spec's, which the methods text reports (the nominal model's own default,
            # 0.8, had been used instead)
            target_accept=sampler.target_accept,
            progressbar=progressbar,
        )
    return model


def _ordinal_seed(
    context: RunContext, n_classes: int, covariates: Sequence[str] | None = None
) -> int:
    """Return the seed of the run's ordinal fit with ``n_classes`` (and covariates or not)."""
    return context.seed(
        f"latent_class_ordinal_K{n_classes}" + ("_covariates" if covariates else "")
    )


def fit_ordinal_latent_class_model(
    responses: pd.DataFrame,
    n_classes: int,
    lc: LatentClassSpec,
    sampler: SamplerSpec,
    seed: int,
    progressbar: bool = False,
    covariates: Sequence[str] | None = None,
) -> BayesianOrdinalLatentClass:
    """Fit the Bayesian ordinal (cumulative logit) latent classes of a run, items uncollapsed.

    No run context: a worker process can call it (:mod:`bayes_cluster.run.fit_worker`).

    Parameters
    ----------
    responses : pandas.DataFrame
        The item answers (and covariate columns).
    n_classes : int
        Number of classes.
    lc : LatentClassSpec
        The spec's ``[latent_class]`` section.
    sampler : SamplerSpec
        The run's MCMC settings.
    seed : int
        Seed of this fit.
    progressbar : bool
        Show the sampler's progress bar.
    covariates : sequence of str, optional
        Covariates of class membership.

    Returns
    -------
    BayesianOrdinalLatentClass
        Fitted, with its diagnostics.
    """
    from bayes_cluster.estimators.ordinal_latent_class import BayesianOrdinalLatentClass

    # of the mixture's priors only the class shares' Dirichlet applies to the ordinal model
    priors = {k: v for k, v in lc.priors.items() if k == "class_concentration"}
    model = BayesianOrdinalLatentClass(
        n_classes, priors=priors or None, items=list(lc.markusen_names), covariates=covariates
    )
    return _fit_for_run(model, responses, sampler, seed, progressbar)


def ordinal_vs_nominal_loo(
    ordinal: Mapping[int, BayesianLatentClass], nominal: Mapping[int, BayesianLatentClass]
) -> pd.DataFrame:
    """Compare the ordinal and the nominal mixture with the same K by PSIS-LOO.

    Each pair goes through :func:`~bayes_cluster.analyses.n_classes.compare_n_classes`
    (the ELPD of each, the SE of their pointwise difference).

    Parameters
    ----------
    ordinal, nominal : mapping of int to BayesianLatentClass
        Fitted models by number of classes, on the same firms and uncollapsed items.

    Returns
    -------
    pandas.DataFrame
        Indexed ``K=k``: ``elpd_ordinal``, ``se_ordinal``, ``elpd_nominal``,
        ``se_nominal``, ``elpd_diff`` (ordinal minus nominal), ``se_diff``, ``p_loo_*``,
        ``max_pareto_k_*`` and ``preferred`` (in words: a gap within two SEs of the
        difference does not separate the models).
    """
    from bayes_cluster.analyses.n_classes import compare_n_classes

    rows = {}
    for k in sorted(ordinal):
        # compare_n_classes labels its models by number; 1 = ordinal, 2 = nominal here
        pair = compare_n_classes({1: ordinal[k], 2: nominal[k]})
        o, n = pair.loc["K=1"], pair.loc["K=2"]
        diff = float(o["elpd_loo"] - n["elpd_loo"])
        se_diff = float(pair["se_diff"].max())
        if abs(diff) <= 2 * se_diff:
            preferred = "neither (gap within 2 SE)"
        else:
            preferred = "ordinal" if diff > 0 else "nominal"
        rows[f"K={k}"] = {
            "elpd_ordinal": float(o["elpd_loo"]),
            "se_ordinal": float(o["se"]),
            "elpd_nominal": float(n["elpd_loo"]),
            "se_nominal": float(n["se"]),
            "elpd_diff": diff,
            "se_diff": se_diff,
            "p_loo_ordinal": float(o["p_loo"]),
            "p_loo_nominal": float(n["p_loo"]),
            "max_pareto_k_ordinal": float(o["max_pareto_k"]),
            "max_pareto_k_nominal": float(n["max_pareto_k"]),
            "preferred": preferred,
        }
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "n_classes"
    return table


def _take_ordinal(context: RunContext, responses: pd.DataFrame) -> dict[int, BayesianLatentClass]:
    """Fit (or take from the workers) the ordinal mixture for every K; record each fit."""
    lc = context.spec.latent_class
    models: dict[int, BayesianLatentClass] = {}
    for k in lc.n_classes:
        context.progress(f"cluster pattern: Bayesian ordinal latent classes K = {k} (MCMC)")
        model = _take_or_fit("ordinal", responses, k, lc, context)
        raise_if_interrupted()
        models[k] = model
        context.add_diagnostics(f"latent classes ordinal K={k}", model.diagnostics_)
    return models


def _run_ordinal(
    context: RunContext,
    section: Section,
    responses: pd.DataFrame,
    nominal: Mapping[int, BayesianLatentClass],
    models: Mapping[int, BayesianLatentClass],
) -> None:
    """Write the ordinal mixture of every K and compare it with the nominal one."""
    lc = context.spec.latent_class
    for k, model in models.items():
        context.save_tree(model.idata_, f"latent_class/bayes_ordinal_posterior_K{k}.nc")
        summary = model.summary(var_names=("pi", "mu", "cutpoints") if k > 1 else ("cutpoints",))
        context.save_table(summary, f"latent_class/bayes_ordinal_summary_K{k}.csv")
    table = ordinal_vs_nominal_loo(models, nominal)
    context.save_table(table, "latent_class/ordinal_vs_nominal_loo.csv")
    measurement_table = _ordinal_vs_nominal_table(context, responses, table)
    context.save_table(measurement_table, "latent_class/ordinal_vs_nominal.csv")
    context.results["latent_class_ordinal_vs_nominal"] = table
    context.results["latent_class_nominal"] = dict(nominal)
    context.verdicts["ordinal_vs_nominal"] = table["preferred"].to_dict()
    readings = [f"K = {str(k).removeprefix('K=')}: {p}" for k, p in table["preferred"].items()]
    section.add(
        Paragraph(
            '**Ordinal measurement** (`measurement = "ordinal"`): every item answer follows '
            "a cumulative logit in each class (ordered cutpoints per item, one location per "
            "class and item), fitted on the uncollapsed levels beside the nominal mixture "
            "(free response probabilities per class) on the same data. The ordinal model "
            "gives the number of classes, the verdict and the typing below. Preferred by "
            "PSIS-LOO: " + "; ".join(readings) + "."
        ),
        TableBlock(
            table,
            "Ordinal against nominal latent classes by PSIS-LOO, per number of classes "
            "(higher ELPD is better; elpd_diff = ordinal minus nominal with the SE of the "
            "difference; a gap within two of its SEs does not separate the models)",
            index=True,
        ),
        Paragraph(_measurement_reading(measurement_table)),
        TableBlock(
            measurement_table,
            "Ordinal against nominal measurement on the same uncollapsed answers: "
            "maximum likelihood (EM: log-likelihood, parameters, BIC and SABIC, lower is "
            "better) and Bayes (PSIS-LOO ELPD with its SE, higher is better; elpd_diff = "
            "ordinal minus nominal, with the SE of the difference)",
            index=True,
        ),
        _ordinal_prior_predictive_figure(context, responses, lc),
    )


def _ordinal_vs_nominal_table(
    context: RunContext, responses: pd.DataFrame, loo: pd.DataFrame
) -> pd.DataFrame:
    """EM and PSIS-LOO of both measurements for every K, one row per (K, measurement).

    Both EM models read every item on the same ``C`` categories (the largest level
    observed), so their likelihoods are of the same data and their BICs comparable. The
    nominal fit is the section's own EM fit of that K where it read the same items on the
    same categories (``collapse = "none"``): one maximum per K in every table of the run.
    """
    from bayes_cluster.estimators.latent_class_em import LatentClassEM
    from bayes_cluster.estimators.ordinal_latent_class_em import OrdinalLatentClassEM

    lc = context.spec.latent_class
    items = responses[list(lc.markusen_names)]
    n_categories = int(np.nanmax(items.to_numpy(dtype=float)))
    starts = max(5, lc.em_starts // 5) if context.quick else lc.em_starts
    section_fits = context.results.get("em_fits", {}) if lc.collapse is None else {}
    rows = []
    for k in lc.n_classes:
        nominal = section_fits.get(k)
        if nominal is None or not np.all(nominal.n_categories_ == n_categories):
            nominal = LatentClassEM(
                k,
                n_starts=starts,
                random_state=context.seed(f"em_nominal_uncollapsed_K{k}"),
                n_categories=n_categories,
            ).fit(items)
        fits = {
            "ordinal": OrdinalLatentClassEM(
                k,
                n_starts=max(1, starts // 2),
                random_state=context.seed(f"em_ordinal_K{k}"),
                n_categories=n_categories,
            ).fit(items),
            "nominal": nominal,
        }
        for measurement, fit in fits.items():
            bayes = loo.loc[f"K={k}"]
            rows.append(
                {
                    "n_classes": k,
                    "measurement": measurement,
                    "log_likelihood": fit.log_likelihood_,
                    "n_parameters": fit.n_parameters_,
                    "bic": fit.bic_,
                    "sabic": fit.sabic_,
                    "elpd_loo": bayes[f"elpd_{measurement}"],
                    "se": bayes[f"se_{measurement}"],
                    "elpd_diff": bayes["elpd_diff"] if measurement == "ordinal" else 0.0,
                    "se_diff": bayes["se_diff"] if measurement == "ordinal" else 0.0,
                }
            )
    return pd.DataFrame(rows).set_index(["n_classes", "measurement"])


def _measurement_reading(table: pd.DataFrame) -> str:
    """One plain-language sentence per K: which measurement BIC and LOO prefer."""
    sentences = []
    for k in table.index.get_level_values("n_classes").unique():
        ordinal, nominal = table.loc[(k, "ordinal")], table.loc[(k, "nominal")]
        if f"{ordinal['bic']:.1f}" == f"{nominal['bic']:.1f}":  # e.g. K = 1: the same fit
            bic_text = f"BIC does not separate them ({ordinal['bic']:.1f} each)"
        else:
            bic = "ordinal" if ordinal["bic"] < nominal["bic"] else "nominal"
            bic_text = (
                f"BIC prefers the {bic} model ({ordinal['bic']:.1f} against {nominal['bic']:.1f})"
            )
        gap, se = float(ordinal["elpd_diff"]), float(ordinal["se_diff"])
        if abs(gap) > 2 * se:
            loo_text = (
                f"LOO prefers the {'ordinal' if gap > 0 else 'nominal'} model by "
                f"{abs(gap):.1f} ({abs(gap) / se:.1f} SE)"
            )
        else:
            loo_text = (
                f"LOO does not separate them (ordinal minus nominal {gap:+.1f}, SE {se:.1f})"
            )
        sentences.append(f"K = {k}: {bic_text}; {loo_text}.")
    return "**Ordinal or nominal?** " + " ".join(sentences)


def _ordinal_prior_predictive_figure(context: RunContext, responses: pd.DataFrame, lc):
    """Save the figure of the ordinal priors' answer shares beside the observed ones."""
    from bayes_cluster.estimators.ordinal_latent_class import BayesianOrdinalLatentClass
    from bayes_cluster.plots.ordinal import plot_prior_predictive_shares

    k = max(lc.n_classes)
    model = BayesianOrdinalLatentClass(k, items=list(lc.markusen_names))
    tree = model.sample_prior_predictive(
        responses, draws=500, random_seed=context.seed("ordinal_prior_predictive")
    )
    return context.save_figure(
        plot_prior_predictive_shares(tree),
        "ordinal_prior_predictive",
        f"Prior predictive check of the ordinal model (K = {k}): for each item and answer, "
        "the range of shares of firms giving that answer in surveys simulated from the "
        "priors alone (bars, 94% interval) and the observed share (dots). Bars spanning "
        "most of 0-1 mean the priors leave the answers to the data; a dot outside its bar "
        "would mean the priors rule out what was observed.",
    )


THREE_LEVELS = LIKERT_THREE_LEVELS
"""Disagree / neutral / agree: the Likert grouping the Bayesian mixture does itself."""


SECTION_TITLE = "Cluster pattern (Markusen typology)"
"""The report section of ``[latent_class]`` (begun by :func:`run_latent_class`)."""


def run_latent_class(context: RunContext) -> None:
    """Run the ``[latent_class]`` section: descriptive scoring and EM classes.

    The Bayesian classes follow in :func:`run_latent_class_bayes`, a runner of its own.
    In a run that allows it (``context.parallel``), their fits of every K start with the
    run, in worker processes (:func:`background_fits`,
    :mod:`bayes_cluster.run.fit_worker`), and run beside the EM fits and the run's other
    work; each is the same fit (same data, settings and seed).

    Parameters
    ----------
    context : RunContext
        The run; every file is written through it, its report gets the section.
    """
    from bayes_cluster.plots.latent_class import (
        plot_descriptive_scoring,
        plot_item_profiles,
        plot_markusen_match,
    )

    spec, frame = context.spec, context.frame
    lc = spec.latent_class
    assert lc is not None
    section = context.report.section(SECTION_TITLE)
    responses = _item_responses(frame, lc)
    names = list(lc.markusen_names)
    untyped = _untyped_items(lc)
    typed = not untyped
    if lc.markusen_items:
        section.add(
            Paragraph(
                "Item columns typed as Markusen items (`[latent_class.markusen_items]`): "
                + ", ".join(f"`{c}` -> `{n}`" for c, n in lc.markusen_items.items())
                + "; tables and figures use the Markusen names."
            )
        )
    if untyped and (lc.descriptive or lc.markusen):
        message = _missing_verdict_message(lc, untyped)
        context.verdicts["cluster_verdict_missing"] = message
        context.progress(f"  ! {message}")
        section.add(Alert(message, "warning"))
    items = _items_frame(responses, lc)
    if lc.collapse is not None:
        groups = ", ".join("/".join(map(str, g)) for g in lc.collapse)
        section.add(
            Paragraph(f"Item levels collapsed into {len(lc.collapse)} categories: {groups}.")
        )
    # -- descriptive scoring (the thesis's method)
    if lc.descriptive and typed:
        context.progress("cluster pattern: descriptive Markusen scoring")
        scoring = _descriptive_scoring(responses, names)
        context.save_table(scoring.item_table, "latent_class/descriptive_items.csv", index=False)
        context.save_table(scoring.type_scores, "latent_class/descriptive_types.csv", index=False)
        context.verdicts["descriptive_verdict"] = scoring.verdict
        section.add(
            Paragraph(
                f"**Descriptive scoring** (share of firms agreeing per item, matched against "
                f"Markusen's signatures, as the thesis did): **{scoring.verdict}**."
            ),
            TableBlock(scoring.type_scores, "Items matched per Markusen type", digits=2),
            context.save_figure(
                plot_descriptive_scoring(scoring),
                "markusen_descriptive",
                "Descriptive Markusen scoring: share of firms disagreeing, neutral and agreeing "
                "on each item (left), the level each type expects, green where the observed "
                "level matches (middle), and the share of items each type matches (right)",
            ),
        )
    # -- EM
    if lc.em:
        starts = max(5, lc.em_starts // 5) if context.quick else lc.em_starts
        context.progress(f"cluster pattern: EM latent classes K = {_k_text(lc.n_classes)}")
        fits = {k: _fit_em(items, k, starts, context.seed(f"em_K{k}")) for k in lc.n_classes}
        statistics = pd.DataFrame(
            {k: fit.fit_statistics().drop("n_classes", errors="ignore") for k, fit in fits.items()}
        ).T
        statistics.index.name = "n_classes"
        statistics = statistics.infer_objects()
        best_k = int(statistics["bic"].astype(float).idxmin())
        context.save_table(statistics, "latent_class/em_fit_statistics.csv")
        best = fits[best_k]
        context.save_table(best.summary(), "latent_class/em_classes.csv")
        context.save_table(
            best.item_probabilities_frame(), "latent_class/em_item_probabilities.csv"
        )
        context.results["em"] = best
        context.results["em_fits"] = fits
        context.results["em_bic"] = statistics["bic"].astype(float).to_dict()
        context.results["em_fit_statistics"] = statistics
        context.verdicts["em_n_classes_bic"] = best_k
        section.add(
            Paragraph(
                f"**Maximum-likelihood latent classes** (EM, {starts} random starts per K): "
                f"BIC prefers **K = {best_k}**. {_criteria_reading(statistics, best_k)}"
            ),
            TableBlock(
                statistics[list(EM_TABLE_COLUMNS)],
                "EM fit by number of classes (lower AIC, BIC, SABIC and CAIC are better; "
                "relative entropy near 1 means well-separated classes)",
                index=True,
            ),
        )
        if lc.bootstrap_lrt and any(k >= 2 for k in lc.n_classes):
            _run_bootstrap_lrt(context, section, items, starts)
        if lc.markusen and typed and best_k > 1:
            typing = _em_markusen_typing(best)
            context.save_table(typing, "latent_class/em_markusen_typing.csv")
            context.verdicts["em_class_types"] = dict(
                zip(typing.index.astype(str), typing["best_type"], strict=True)
            )
            section.add(
                TableBlock(
                    typing, f"EM classes (K = {best_k}) typed by Markusen match score", index=True
                ),
                context.save_figure(
                    plot_markusen_match(best),
                    "em_markusen_match",
                    f"EM classes (K = {best_k}): match score with each Markusen type (1 = the "
                    "class agrees and disagrees exactly as the type's signature; best type "
                    "outlined)",
                ),
            )
        section.add(
            context.save_figure(
                plot_item_profiles(best),
                "em_item_profiles",
                f"EM item-response profiles (K = {best_k}): each class's probability of each "
                "response category on every item",
            )
        )


def run_latent_class_bayes(context: RunContext) -> None:
    """Run the Bayesian part of the ``[latent_class]`` section: the mixtures of every K.

    A runner of its own, after the logits (:data:`bayes_cluster.run.pipeline.SECTIONS`):
    in a run with fit workers, they make the logits first and then the mixtures, and this
    process writes the logits' part while the mixtures sample, instead of waiting for
    them. Its tables, figures and text go into the section :func:`run_latent_class`
    began (the report reads as before) and its fits' diagnostics are listed there.

    Parameters
    ----------
    context : RunContext
        The run; every file is written through it, its report gets the section.
    """
    lc = context.spec.latent_class
    assert lc is not None and lc.bayesian
    section = next((s for s in context.report.sections if s.title == SECTION_TITLE), None)
    if section is None:  # run without run_latent_class (descriptive and EM parts)
        section = context.report.section(SECTION_TITLE)
    responses = _item_responses(context.frame, lc)
    _run_bayes_latent_class(context, section, responses, typed=not _untyped_items(lc))


def bootstrap_lrt_table(results: Sequence) -> pd.DataFrame:
    """Tabulate bootstrap likelihood-ratio tests: one row per K (K - 1 vs K classes).

    Parameters
    ----------
    results : sequence of BootstrapLRT
        The tests, one per K.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``n_classes`` (K): ``null_classes`` (K - 1), ``lr``, ``p_value``,
        ``n_bootstrap`` (B), ``n_single_start_optima`` and ``seconds``.
    """
    table = pd.DataFrame(
        {
            "null_classes": [r.n_classes - 1 for r in results],
            "lr": [r.statistic for r in results],
            "p_value": [r.p_value for r in results],
            "n_bootstrap": [r.n_bootstrap for r in results],
            "n_single_start_optima": [r.n_single_start_optima for r in results],
            "seconds": [r.seconds for r in results],
        },
        index=pd.Index([r.n_classes for r in results], name="n_classes"),
    )
    return table


def _run_bootstrap_lrt(
    context: RunContext, section: Section, items: pd.DataFrame, starts: int
) -> None:
    """Test K - 1 against K classes by the parametric bootstrap for every K >= 2."""
    from bayes_cluster.analyses.n_classes import bootstrap_lrt

    lc = context.spec.latent_class
    samples = max(19, lc.bootstrap_samples // 5) if context.quick else lc.bootstrap_samples
    results = []
    for k in (k for k in lc.n_classes if k >= 2):
        context.progress(
            f"cluster pattern: bootstrap likelihood-ratio test {k - 1} vs {k} classes (B = "
            f"{samples})"
        )
        results.append(
            bootstrap_lrt(
                items, k, n_bootstrap=samples, n_starts=starts, seed=context.seed(f"blrt_K{k}")
            )
        )
    table = bootstrap_lrt_table(results)
    context.save_table(table, "latent_class/em_bootstrap_lrt.csv")
    context.results["em_bootstrap_lrt"] = table
    supported = [r.n_classes for r in results if r.p_value <= r.alpha]
    section.add(
        Paragraph(
            "**Bootstrap likelihood-ratio test** (EM; each K against K - 1 classes, the "
            "null distribution of the ratio simulated from the K - 1 fit). "
            + " ".join(r.reading for r in results)
            + (
                f" The tests reject K - 1 for K = {', '.join(map(str, supported))}."
                if supported
                else " No test rejects K - 1 classes at the 5% level."
            )
        ),
        TableBlock(
            table,
            "Bootstrap likelihood-ratio tests of K - 1 against K classes (lr = 2 x gain in "
            "log-likelihood; p = Monte Carlo p-value from n_bootstrap simulated data sets, "
            "never below 1 / (n_bootstrap + 1); n_single_start_optima = bootstrap K fits "
            "whose best optimum only one start reached)",
            index=True,
        ),
    )


EM_TABLE_COLUMNS = (
    "log_likelihood",
    "n_parameters",
    "aic",
    "bic",
    "sabic",
    "caic",
    "relative_entropy",
    "n_best_starts",
)
"""The EM fit statistics the report shows, in this order."""

_CRITERIA = {"aic": "AIC", "sabic": "SABIC", "caic": "CAIC"}


def _criteria_reading(statistics: pd.DataFrame, best_k: int) -> str:
    """Say in words whether AIC, SABIC and CAIC agree with BIC's number of classes."""
    choices = {
        label: int(statistics[column].astype(float).idxmin())
        for column, label in _CRITERIA.items()
    }
    if all(k == best_k for k in choices.values()):
        return "AIC, SABIC and CAIC agree."
    others = ", ".join(f"{label} K = {k}" for label, k in choices.items())
    return (
        f"The criteria disagree ({others}): AIC and SABIC penalise parameters less than "
        "BIC and CAIC, and favour more classes in small samples; read the class profiles "
        "of each candidate before choosing."
    )


def _k_text(values: Sequence[int]) -> str:
    return f"{values[0]}..{values[-1]}" if len(values) > 1 else str(values[0])


def _em_markusen_typing(em: LatentClassEM) -> pd.DataFrame:
    from bayes_cluster.surveys.markusen import MARKUSEN_TYPES, match_markusen_types

    scores = match_markusen_types(em.item_probabilities_)
    frame = pd.DataFrame(
        np.asarray(scores),
        index=[f"class {k}" for k in range(1, em.n_classes + 1)],
        columns=list(MARKUSEN_TYPES),
    )
    frame.index.name = "latent_class"
    frame.insert(0, "share", np.asarray(em.class_shares_))
    frame["best_type"] = frame[list(MARKUSEN_TYPES)].idxmax(axis=1)
    return frame


PPC_ROWS = 8
"""Item pairs shown in the report's bivariate-residual table (lowest p first)."""


def _run_bayes_latent_class(
    context: RunContext,
    section: Section,
    responses: pd.DataFrame,
    *,
    typed: bool,
) -> None:
    from bayes_cluster.plots.latent_class import (
        plot_class_profiles,
        plot_class_shares,
        plot_markusen_match,
        plot_markusen_typing,
        plot_membership,
    )

    lc = context.spec.latent_class
    hdi_prob = context.sampler.hdi_prob
    models = {}
    for k in lc.n_classes:
        context.progress(f"cluster pattern: Bayesian latent classes K = {k} (MCMC)")
        model = _take_or_fit("nominal", responses, k, lc, context)
        raise_if_interrupted()
        models[k] = model
        _record_bayes_latent_class(context, k, model)
    nominal = models
    if lc.measurement == "ordinal":
        models = _take_ordinal(context, responses)
    # K by PSIS-LOO as soon as the fits are in: the class covariates fit of that K starts
    # now (a worker makes it while this process writes the comparisons and checks)
    loo = _loo_table(context, models)
    chosen = next(iter(models)) if loo is None else int(str(loo.index[0]).removeprefix("K="))
    covariates = None
    if lc.covariates and chosen > 1:
        part = Section(section.title)
        finish = _run_class_covariates(
            context, part, responses, models[chosen], typed=typed and lc.markusen
        )
        covariates = part, finish
    else:
        promised = context.take_background(COVARIATES_PROMISE)
        if promised is not None:  # no covariates fit (K = 1): the worker stops
            promised.send(None)
            context.background[COVARIATES_PROMISE] = promised  # read or stopped at the end
    if lc.measurement == "ordinal":
        _run_ordinal(context, section, responses, nominal, models)
    _choose_n_classes(context, section, models, loo)
    model = models[chosen]
    context.results["latent_class"] = model
    context.verdicts["bayes_n_classes_loo"] = chosen
    context.save_table(model.class_probabilities(), "latent_class/bayes_class_probabilities.csv")
    # the class covariates' part of the report goes here; it is written at the end of the
    # run, when the worker's fit is in
    covariates_at = len(section.blocks)
    shares = model.posterior["pi"].mean(("chain", "draw")).to_numpy()
    how = "chosen by PSIS-LOO" if len(models) > 1 else "the only number of classes fitted"
    if lc.markusen and typed:
        typing = model.markusen_typing()
        context.save_table(typing, "latent_class/bayes_markusen_typing.csv")
        verdict = model.cluster_verdict(hdi_prob=hdi_prob)
        context.save_table(verdict.table, "latent_class/bayes_cluster_verdict.csv")
        context.verdicts["bayes_cluster_verdict"] = verdict.text
        section.add(
            Paragraph(
                f"**Bayesian latent classes** (K = {chosen}, {how}; every "
                f"posterior draw's class profiles typed against Markusen's signatures): "
                f"**{verdict.text}**"
            ),
            BulletList(tuple(verdict.statements)),
            TableBlock(
                typing, "Each class's share and the posterior probability of its type", index=True
            ),
            TableBlock(
                verdict.table, "Share of firms in classes of each Markusen type", index=True
            ),
        )
        if len(models) > 1:
            _verdict_over_n_classes(context, section, models, chosen)
        if chosen > 1:
            from bayes_cluster.surveys.markusen import match_markusen_types

            scores = match_markusen_types(model.posterior["theta"])
            section.add(
                context.save_figure(
                    plot_markusen_match(scores, class_shares=shares),
                    "markusen_verdict",
                    f"Bayesian latent classes (K = {chosen}): posterior mean match score with "
                    "each Markusen type (best type outlined)",
                )
            )
        section.add(
            context.save_figure(
                plot_markusen_typing(model),
                "markusen_type_shares",
                "Markusen typing of the Bayesian latent classes: the posterior probability of "
                "each class's type (left) and the posterior of the share of firms in classes "
                "of each type (right; a type is the majority when its share passes the dotted "
                "line at 0.5)",
            )
        )
    else:
        section.add(
            Paragraph(f"**Bayesian latent classes**: **K = {chosen}** ({how})."),
            TableBlock(model.summary(), "Posterior summary", index=True),
        )
    section.add(
        context.save_figure(
            plot_class_profiles(model, hdi_prob=hdi_prob),
            "latent_class_profiles",
            f"Item-response profiles of the {chosen} Bayesian latent classes: posterior mean "
            f"(dot) and {hdi_prob:.0%} HDI (line) of each response probability",
        )
    )
    if chosen > 1:
        section.add(
            context.save_figure(
                plot_class_shares(model, hdi_prob=hdi_prob),
                "latent_class_shares",
                f"Posterior of the class shares (K = {chosen}), with {hdi_prob:.0%} HDIs: a "
                "class whose share reaches down to zero may not be needed",
            ),
            context.save_figure(
                plot_membership(model),
                "latent_class_membership",
                "Each firm's posterior class membership probabilities, firms sorted by their "
                "most probable class: mixed bars are firms the classes do not place clearly",
            ),
        )
    _latent_class_ppc(context, section, model)
    if covariates is not None:
        part, finish = covariates

        def finish_covariates() -> None:
            # at the end of the run: the fit was made meanwhile (in a worker where a core
            # was idle); its part goes where it belongs in the section, and its warnings
            # to the section's end, as the run shows a section's warnings
            from bayes_cluster.inference.diagnostics import ConvergenceWarning
            from bayes_cluster.run.context import warning_notes

            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                warnings.simplefilter("ignore", ConvergenceWarning)
                finish()
            section.blocks[covariates_at:covariates_at] = part.blocks
            for note in warning_notes(caught):
                section.add(Alert(f"Warning raised while running this section: {note}", "warning"))
                context.progress(f"  warning (latent_class): {note}")

        context.defer("latent_class_covariates", finish_covariates)


def _record_bayes_latent_class(context: RunContext, k: int, model: BayesianLatentClass) -> None:
    """Write one K's diagnostics, posterior and summary."""
    context.add_diagnostics(f"latent classes K={k}", model.diagnostics_)
    context.save_tree(model.idata_, f"latent_class/bayes_posterior_K{k}.nc")
    # with one class pi is the constant 1: nothing to summarise (and no R-hat)
    summary = model.summary(var_names=("pi", "theta") if k > 1 else ("theta",))
    context.save_table(summary, f"latent_class/bayes_summary_K{k}.csv")


def _verdict_over_n_classes(
    context: RunContext,
    section: Section,
    models: Mapping[int, BayesianLatentClass],
    chosen: int,
) -> None:
    """Add the verdict under each number of classes and averaged over them (stacking)."""
    from bayes_cluster.analyses.n_classes import loo_weights, verdict_over_n_classes

    comparison = context.results["latent_class_loo"]
    weights = loo_weights(models, method="stacking")
    table, sentences = verdict_over_n_classes(
        models, weights, comparison=comparison, hdi_prob=context.sampler.hdi_prob
    )
    context.save_table(table, "latent_class/verdict_by_n_classes.csv")
    context.verdicts["bayes_cluster_verdict_by_k"] = sentences
    section.add(
        Paragraph(
            f"**Uncertainty about the number of classes.** The verdict above is that of "
            f"K = {chosen}, the best by PSIS-LOO; a K whose ELPD is within two SEs of the "
            "best is as plausible. Below, the verdict under each K and averaged over K "
            "with stacking weights (Yao et al. 2018; the weight of each K in the mixture "
            "of their leave-one-out predictions that predicts best): an averaged "
            "probability is the weighted sum of the per-K probabilities."
        ),
        BulletList(tuple(sentences)),
        TableBlock(
            table,
            "Cluster verdict by number of classes and averaged over K (stacking weights "
            "from PSIS-LOO; p_majority_<type>: P(firms in classes of that type are the "
            "majority))",
            index=True,
        ),
    )


def _latent_class_ppc(context: RunContext, section: Section, model: BayesianLatentClass) -> None:
    """Add the chosen mixture's posterior predictive check: item shares and item pairs."""
    from bayes_cluster.plots.latent_class import plot_bivariate_residuals, plot_item_ppc

    context.progress("cluster pattern: posterior predictive check of the latent classes")
    interval = context.sampler.hdi_prob
    seed = context.seed("latent_class_ppc")
    # computed already when K was chosen (_pair_misfit), on the same replicates
    kept = context.results.get("latent_class_ppc", {}).get(model.n_classes)
    if kept is not None and kept[0] is model:
        check = kept[1]
    else:
        check = model.posterior_predictive_check(random_seed=seed, interval_prob=interval)
    item_shares, pairs = check["item_shares"], check["pairs"]
    context.save_table(item_shares, "latent_class/bayes_ppc_item_shares.csv")
    context.save_table(pairs, "latent_class/bayes_ppc_pairs.csv")
    n_extreme = int((item_shares["p_two_sided"] < 0.05).sum())
    n_pairs = int((pairs["p_bvr"] < 0.05).sum())
    worst = pairs.sort_values("p_bvr").head(PPC_ROWS)
    section.add(
        Paragraph(
            f"**Posterior predictive check** of the chosen model (K = {model.n_classes}), on "
            "surveys replicated from it: "
            f"{n_extreme} of {len(item_shares)} item response shares fall outside what it "
            f"replicates (two-sided p < 0.05), and {n_pairs} of {len(pairs)} item pairs show "
            "more association than the classes explain (bivariate residual p < 0.05). "
            "All values: `latent_class/bayes_ppc_item_shares.csv`, "
            "`latent_class/bayes_ppc_pairs.csv`."
        ),
        context.save_figure(
            plot_item_ppc(
                model, interval_prob=interval, random_seed=seed, item_shares=item_shares
            ),
            "latent_class_ppc",
            f"Posterior predictive check of the item response shares (K = {model.n_classes}): "
            f"dots are the observed shares, bars the {interval:.0%} interval of the share in "
            "replicated surveys. Look for dots outside their bars (hollow: two-sided p < "
            "0.05); a latent class model reproduces the margins almost by construction, so a "
            "miss points to a coding or sampling problem rather than to the number of classes",
        ),
        TableBlock(
            worst[["bvr_observed", "bvr_replicated", "p_bvr", "cramers_v_observed"]],
            f"Item pairs least well explained by the classes (lowest bivariate-residual "
            f"p-value first; {PPC_ROWS} of {len(pairs)})",
            index=True,
        ),
        context.save_figure(
            plot_bivariate_residuals(pairs),
            "latent_class_bivariate_residuals",
            "Bivariate residuals of every item pair (below the diagonal) and their posterior "
            "predictive p-values (above). Look for outlined pairs (p < 0.05): association "
            "the classes leave unexplained, a sign that more classes are needed or that the "
            "two items share a cause beyond the class",
        ),
    )


def _loo_table(
    context: RunContext, models: Mapping[int, BayesianLatentClass]
) -> pd.DataFrame | None:
    """Compare the numbers of classes by PSIS-LOO (best first); None for a single K."""
    if len(models) == 1:
        return None
    from bayes_cluster.analyses.n_classes import compare_n_classes

    return compare_n_classes(models, em_bic=context.results.get("em_bic"))


def _choose_n_classes(
    context: RunContext,
    section: Section,
    models: Mapping[int, BayesianLatentClass],
    table: pd.DataFrame | None,
) -> int:
    """Adapter: report the number of classes PSIS-LOO chose; return it.

    ``table`` is :func:`_loo_table`'s (None: the only K fitted).
    """
    if table is None:
        return next(iter(models))
    from bayes_cluster.plots.compare import plot_elpd_comparison

    context.results["latent_class_loo"] = table
    context.save_table(table, "latent_class/loo_comparison.csv")
    section.add(
        TableBlock(
            table,
            "Number of classes compared by PSIS-LOO (higher ELPD is better; EM BIC beside)",
            index=True,
        ),
        context.save_figure(
            plot_elpd_comparison(
                table,
                elpd="elpd_loo",
                diff_se="se_diff",
                title="Bayesian latent classes by number of classes",
            ),
            "latent_class_loo",
            "PSIS-LOO of each number of classes: ELPD with its SE (dots) and the gap to the "
            "best with the SE of the gap (diamonds); a gap within about two of its SEs does not "
            "separate the models",
        ),
    )
    choosing = choosing_k_table(
        table,
        {k: _pair_misfit(context, model, k) for k, model in models.items()},
        em_statistics=context.results.get("em_fit_statistics"),
        bootstrap=context.results.get("em_bootstrap_lrt"),
    )
    context.save_table(choosing, "latent_class/choosing_k.csv")
    context.results["latent_class_choosing_k"] = choosing
    section.add(
        Paragraph("**Choosing K.** " + choosing_k_reading(choosing)),
        TableBlock(
            choosing,
            "Choosing the number of classes: EM information criteria (lower is better) and "
            "the bootstrap likelihood-ratio test of K - 1 against K (p), PSIS-LOO (higher "
            "ELPD is better; elpd_diff to the best with its SE) and the posterior predictive "
            "check of local independence (item pairs whose bivariate residual the model "
            "replicates in fewer than 5% of draws, out of all pairs)",
            index=True,
        ),
    )
    return int(str(table.index[0]).removeprefix("K="))


def _pair_misfit(context: RunContext, model: BayesianLatentClass, k: int) -> tuple[int, int]:
    """Item pairs with posterior predictive p_bvr < 0.05, and the number of pairs.

    The check is kept in ``context.results["latent_class_ppc"]`` (by K, with its model):
    the chosen K's check is the one the section reports (:func:`_latent_class_ppc`), not
    computed again.  Its intervals are at the run's ``hdi_prob``; ``p_bvr`` does not
    depend on them.
    """
    check = model.posterior_predictive_check(
        random_seed=context.seed(f"ppc_pairs_K{k}"), interval_prob=context.sampler.hdi_prob
    )
    context.results.setdefault("latent_class_ppc", {})[k] = (model, check)
    pairs = check["pairs"]
    return int((pairs["p_bvr"] < 0.05).sum()), len(pairs)


def choosing_k_table(
    loo: pd.DataFrame,
    pair_misfit: Mapping[int, tuple[int, int]],
    *,
    em_statistics: pd.DataFrame | None = None,
    bootstrap: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One table of every criterion for the number of classes, one row per K.

    Parameters
    ----------
    loo : pandas.DataFrame
        :func:`~bayes_cluster.analyses.n_classes.compare_n_classes` (index ``K=k``).
    pair_misfit : mapping of int to (int, int)
        Per K: item pairs with a posterior predictive bivariate-residual p below 0.05,
        and the number of pairs.
    em_statistics : pandas.DataFrame, optional
        EM fit statistics by K (``bic``, ``sabic``, ``caic``, ``relative_entropy``).
    bootstrap : pandas.DataFrame, optional
        :func:`bootstrap_lrt_table` (``lr``, ``p_value`` by K).

    Returns
    -------
    pandas.DataFrame
        Indexed by ``n_classes`` (increasing K).
    """
    ks = sorted(int(str(k).removeprefix("K=")) for k in loo.index)
    table = pd.DataFrame(index=pd.Index(ks, name="n_classes"))
    if em_statistics is not None:
        for column in ("bic", "sabic", "caic", "relative_entropy"):
            table[f"{column}_em"] = [float(em_statistics[column].get(k, np.nan)) for k in ks]
    if bootstrap is not None:
        table["blrt_lr"] = [float(bootstrap["lr"].get(k, np.nan)) for k in ks]
        table["blrt_p"] = [float(bootstrap["p_value"].get(k, np.nan)) for k in ks]
    for column in ("elpd_loo", "se", "elpd_diff", "se_diff"):
        table[column] = [float(loo.loc[f"K={k}", column]) for k in ks]
    table["pairs_misfit"] = [pair_misfit[k][0] for k in ks]
    table["pairs"] = [pair_misfit[k][1] for k in ks]
    return table


def choosing_k_reading(table: pd.DataFrame, alpha: float = 0.05) -> str:
    """Say in plain language what each criterion of the choosing-K table chooses.

    Parameters
    ----------
    table : pandas.DataFrame
        :func:`choosing_k_table`.
    alpha : float
        Level of the bootstrap test.

    Returns
    -------
    str
        E.g. "BIC chooses K = 2; the bootstrap LRT chooses K = 2 (3 against 2 classes:
        p = 0.32); LOO prefers K = 3 by 0.8 SE: not a clear difference. ..."
    """
    parts = []
    if "bic_em" in table and table["bic_em"].notna().any():
        parts.append(f"BIC chooses K = {int(table['bic_em'].idxmin())}")
    if "blrt_p" in table and table["blrt_p"].notna().any():
        tested = table["blrt_p"].dropna()
        chosen = int(table.index.min())
        for k in tested.index:  # step up while each extra class is needed
            if k == chosen + 1 and tested[k] <= alpha:
                chosen = k
        following = chosen + 1
        detail = (
            f" ({following} against {chosen} class{'' if chosen == 1 else 'es'}: "
            f"p = {tested[following]:.2f})"
            if following in tested.index
            else ""
        )
        parts.append(f"the bootstrap LRT chooses K = {chosen}{detail}")
    ranked = table.sort_values("elpd_loo", ascending=False)
    best = int(ranked.index[0])
    if len(ranked) > 1:
        runner = ranked.iloc[1]
        gap, se = -float(runner["elpd_diff"]), float(runner["se_diff"])
        ratio = gap / se if se > 0 else np.inf
        clear = "a clear difference" if ratio > 2 else "not a clear difference"
        parts.append(
            f"LOO prefers K = {best} by {ratio:.1f} SE over K = {int(ranked.index[1])}: {clear}"
        )
    else:
        parts.append(f"LOO has only K = {best}")
    sentence = "; ".join(parts) + "."
    sentence = sentence[0].upper() + sentence[1:]
    misfit = ", ".join(
        f"K = {k}: {int(row['pairs_misfit'])} of {int(row['pairs'])}"
        for k, row in table.iterrows()
    )
    return (
        sentence
        + " Item pairs whose association the classes leave unexplained (posterior predictive "
        f"bivariate residual, p < 0.05): {misfit}; a K that leaves few such pairs fits the "
        "pattern of answers, fewer classes than that leave association unexplained."
    )


def _run_class_covariates(
    context: RunContext,
    section: Section,
    responses: pd.DataFrame,
    chosen: BayesianLatentClass,
    *,
    typed: bool,
) -> Callable[[], None]:
    """Covariates of class membership for the chosen K: Bayes and EM side by side.

    The Bayesian fit starts here, in a worker process of its own where a core is idle
    (:func:`bayes_cluster.run.fit_worker.start`: the same call, the same fit), while the
    run goes on with its next sections; the returned function takes the fit and writes
    the part (tables, figure, verdict; its diagnostics keep their place in the report's
    list). Without a worker, it makes the fit itself.
    """
    from bayes_cluster.estimators.latent_class import encode_covariates
    from bayes_cluster.run import fit_worker

    lc = context.spec.latent_class
    k = chosen.n_classes
    names = list(lc.covariates)
    context.progress(
        f"cluster pattern: class membership on {', '.join(names)} (K = {k}, Bayes and EM)"
    )
    data = responses.assign(**{name: context.frame[name].to_numpy() for name in names})
    try:
        covariates = encode_covariates(data, names)
    except ValueError as error:  # e.g. a constant column in this survey
        raise ValueError(f"[latent_class].covariates: {error}") from None
    measurement = "ordinal" if lc.measurement == "ordinal" else "nominal"
    function, args, kwargs = _latent_class_call(measurement, data, k, lc, context, names)
    key = ("covariates", measurement, k)
    promised = context.take_background(COVARIATES_PROMISE)
    if promised is not None:  # a fit worker kept a place for it: ready, and soon free
        promised.send(function, *args, **kwargs)
        context.background[key] = promised
    elif context.parallel and fit_worker.a_core_is_idle(interval=0.1):
        call = (function, args, kwargs)
        context.background[key] = fit_worker.start_queue([call], quiet=not context.progressbar)[0]
    slot, order = len(context.report.diagnostics), context.report_order
    context.verdicts["class_membership"] = []  # its place in run.json, filled in below

    def finish() -> None:
        call = context.take_background(key)
        model = call.result() if call is not None else function(*args, **kwargs)
        name = f"latent classes K={k} covariates"
        context.add_diagnostics(name, model.diagnostics_, order=order)
        context.report.diagnostics.insert(slot, context.report.diagnostics.pop())
        _write_class_covariates(context, section, responses, model, covariates, typed=typed)

    return finish


def _write_class_covariates(
    context: RunContext,
    section: Section,
    responses: pd.DataFrame,
    model: BayesianLatentClass,
    covariates: pd.DataFrame,
    *,
    typed: bool,
) -> None:
    """Write the class covariates' part: posterior, EM beside it, table, verdict, figure."""
    from bayes_cluster.plots.membership import plot_membership_curves

    lc = context.spec.latent_class
    k = model.n_classes
    names = list(lc.covariates)
    context.save_tree(model.idata_, f"latent_class/bayes_covariates_posterior_K{k}.nc")
    hdi_prob = context.sampler.hdi_prob
    bayes = model.membership_effects(hdi_prob=hdi_prob)
    em = None
    if lc.em:
        starts = max(5, lc.em_starts // 5) if context.quick else lc.em_starts
        standardised = pd.DataFrame(covariates.values, columns=names)
        em = _fit_em_covariates(_items_frame(responses, lc), k, starts, standardised, context)
    table = membership_effects_table(bayes, None if em is None else em.membership_effects())
    context.save_table(table, "latent_class/class_membership_effects.csv", index=False)
    context.results["latent_class_covariates"] = model
    types = {}
    if lc.markusen and typed:
        typing = model.markusen_typing()
        types = {int(c): str(t) for c, t in typing["most_probable_type"].items()}
    sentences = membership_sentences(bayes, types, hdi_prob)
    context.verdicts["class_membership"] = sentences
    section.add(
        Paragraph(
            f"**Who belongs to which class** (covariates of class membership, K = {k}): "
            "the class shares depend on "
            + ", ".join(f"`{n}`" for n in names)
            + " through a multinomial logit, fitted in one step with the classes (Bayes, "
            "and EM beside it). Effects are log-odds of each class against class 1 (the "
            "largest) per standard deviation of the covariate; a positive value means "
            "firms with more of it are more likely in that class. The classes here are "
            "those of the model with covariates (relabelled on their own; check their "
            "profiles before reading class numbers across tables)."
        ),
        BulletList(tuple(sentences)),
        TableBlock(
            table,
            f"Covariate effects on class membership (log-odds against class 1 per SD): "
            f"Bayesian posterior mean with its {hdi_prob:.0%} HDI and P(> 0), EM estimate "
            "with its standard error and 95% Wald interval",
            digits=2,
        ),
        context.save_figure(
            plot_membership_curves(
                model,
                hdi_prob=hdi_prob,
                class_names={c: f"class {c} ({t})" for c, t in types.items()} or None,
            ),
            "class_membership_covariates",
            "Probability of each class against each covariate, the others at their means: "
            f"posterior mean (line) and {hdi_prob:.0%} HDI (band); the ticks at the bottom "
            "are the firms' own values. A band that spans a wide range means the data say "
            "little about that covariate",
        ),
    )


def _fit_em_covariates(
    items: pd.DataFrame,
    n_classes: int,
    n_starts: int,
    covariates: pd.DataFrame,
    context: RunContext,
) -> LatentClassEM:
    """Adapter: EM latent classes with covariates of class membership (one step)."""
    from bayes_cluster.estimators.latent_class_em import LatentClassEM

    seed = context.seed(f"em_covariates_K{n_classes}")
    return LatentClassEM(n_classes, n_starts=n_starts, random_state=seed).fit(items, covariates)


def membership_effects_table(bayes: pd.DataFrame, em: pd.DataFrame | None) -> pd.DataFrame:
    """Put the Bayesian and the EM covariate effects side by side, one row per effect.

    Parameters
    ----------
    bayes : pandas.DataFrame
        :meth:`BayesianLatentClass.membership_effects`.
    em : pandas.DataFrame or None
        :meth:`LatentClassEM.membership_effects` (None: no EM fit).

    Returns
    -------
    pandas.DataFrame
        ``covariate``, ``latent_class``, ``reference_class``, ``bayes_log_odds``,
        ``bayes_hdi_lower``, ``bayes_hdi_upper``, ``bayes_p_positive``, ``r_hat``,
        ``ess_bulk``, then ``em_log_odds``, ``em_se``, ``em_ci_lower``, ``em_ci_upper``,
        ``em_p_value`` when EM ran.
    """
    table = bayes[
        ["covariate", "latent_class", "reference_class", "log_odds", "hdi_lower", "hdi_upper"]
        + ["p_positive", "r_hat", "ess_bulk"]
    ].rename(
        columns={
            "log_odds": "bayes_log_odds",
            "hdi_lower": "bayes_hdi_lower",
            "hdi_upper": "bayes_hdi_upper",
            "p_positive": "bayes_p_positive",
        }
    )
    if em is None:
        return table
    em = em[["covariate", "latent_class", "log_odds", "se", "ci_lower", "ci_upper", "p_value"]]
    em = em.rename(
        columns={c: f"em_{c}" for c in em.columns if c not in ("covariate", "latent_class")}
    )
    return table.merge(em, on=["covariate", "latent_class"], how="left")


def membership_sentences(
    effects: pd.DataFrame, types: Mapping[int, str], hdi_prob: float
) -> list[str]:
    """One plain-language sentence per covariate effect on class membership.

    Parameters
    ----------
    effects : pandas.DataFrame
        :meth:`BayesianLatentClass.membership_effects`.
    types : mapping of int to str
        Each class's most probable Markusen type (empty: classes named by number).
    hdi_prob : float
        Mass of the HDIs in ``effects``.

    Returns
    -------
    list of str
        E.g. "P(class 2 (Hub-and-Spoke) rather than class 1 (Marshallian)) rises with
        workers: +0.8 log-odds per SD (94% HDI 0.1 to 1.5; P(> 0) = 0.98)."
    """

    def name(k: int) -> str:
        return f"class {k} ({types[k]})" if k in types else f"class {k}"

    sentences = []
    for row in effects.itertuples(index=False):
        k = int(row.latent_class)
        lower, upper = row.hdi_lower, row.hdi_upper
        if lower > 0:
            trend = "rises with"
        elif upper < 0:
            trend = "falls with"
        else:
            trend = "has no clear relation to"
        sentences.append(
            f"P({name(k)} rather than {name(1)}) {trend} {row.covariate}: "
            f"{row.log_odds:+.2f} log-odds per SD ({hdi_prob:.0%} HDI {lower:.2f} to "
            f"{upper:.2f}; P(> 0) = {row.p_positive:.2f})."
        )
    return sentences

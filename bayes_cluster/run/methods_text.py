"""A "Methods" paragraph for a paper, generated from the spec that was run.

:func:`methods_text` says which models were fitted, with which priors, sampler settings
and software versions, in sentences a user can paste into a paper, and lists the
references to cite: only those of the methods the spec actually used.  It reads the spec
and the run's settings; it never fits.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bayes_cluster.run.spec import SamplerSpec, Spec

__all__ = ["REFERENCES", "MethodsText", "describe_prior", "methods_text"]

REFERENCES: Mapping[str, str] = {
    "markusen": (
        "Markusen, A. (1996). Sticky places in slippery space: a typology of industrial "
        "districts. Economic Geography, 72(3), 293-313."
    ),
    "linzer": (
        "Linzer, D. A., & Lewis, J. B. (2011). poLCA: An R package for polytomous variable "
        "latent class analysis. Journal of Statistical Software, 42(10), 1-29."
    ),
    "firth": (
        "Firth, D. (1993). Bias reduction of maximum likelihood estimates. Biometrika, "
        "80(1), 27-38."
    ),
    "heinze": (
        "Heinze, G., & Schemper, M. (2002). A solution to the problem of separation in "
        "logistic regression. Statistics in Medicine, 21(16), 2409-2419."
    ),
    "puhr": (
        "Puhr, R., Heinze, G., Nold, M., Lusa, L., & Geroldinger, A. (2017). Firth's logistic "
        "regression with rare events: accurate effect estimates and predictions? Statistics "
        "in Medicine, 36(14), 2302-2317."
    ),
    "gelman2008": (
        "Gelman, A., Jakulin, A., Pittau, M. G., & Su, Y.-S. (2008). A weakly informative "
        "default prior distribution for logistic and other regression models. The Annals of "
        "Applied Statistics, 2(4), 1360-1383."
    ),
    "rstanarm": (
        "Goodrich, B., Gabry, J., Ali, I., & Brilleman, S. (2024). rstanarm: Bayesian applied "
        "regression modeling via Stan. R package, https://mc-stan.org/rstanarm/."
    ),
    "vehtari2017": (
        "Vehtari, A., Gelman, A., & Gabry, J. (2017). Practical Bayesian model evaluation "
        "using leave-one-out cross-validation and WAIC. Statistics and Computing, 27(5), "
        "1413-1432."
    ),
    "vehtari2021": (
        "Vehtari, A., Gelman, A., Simpson, D., Carpenter, B., & Bürkner, P.-C. (2021). "
        "Rank-normalization, folding, and localization: an improved R-hat for assessing "
        "convergence of MCMC. Bayesian Analysis, 16(2), 667-718."
    ),
    "hoffman": (
        "Hoffman, M. D., & Gelman, A. (2014). The No-U-Turn Sampler: adaptively setting path "
        "lengths in Hamiltonian Monte Carlo. Journal of Machine Learning Research, 15, "
        "1593-1623."
    ),
    "pymc": (
        "Abril-Pla, O., Andreani, V., Carroll, C., Dong, L., Fonnesbeck, C. J., Kochurov, M., "
        "Kumar, R., Lao, J., Luhmann, C. C., Martin, O. A., Osthege, M., Vieira, R., Wiecki, "
        "T., & Zinkov, R. (2023). PyMC: a modern, and comprehensive probabilistic programming "
        "framework in Python. PeerJ Computer Science, 9, e1516."
    ),
    "vermunt": (
        "Vermunt, J. K. (2010). Latent class modeling with covariates: two improved "
        "three-step approaches. Political Analysis, 18(4), 450-469."
    ),
    "kallioinen": (
        "Kallioinen, N., Paananen, T., Bürkner, P.-C., & Vehtari, A. (2024). Detecting and "
        "diagnosing prior and likelihood sensitivity with power-scaling. Statistics and "
        "Computing, 34, 57."
    ),
}
"""Every reference the methods text may cite, by key."""


@dataclass
class MethodsText:
    """The generated methods section.

    Attributes
    ----------
    paragraphs : list of str
        Sentences grouped in paragraphs, with (Author year) citations.
    references : list of str
        The full references of the citations, in order of first use.
    """

    paragraphs: list[str] = field(default_factory=list)
    references: list[str] = field(default_factory=list)

    def cite(self, *keys: str) -> None:
        """Add references (once each, in order of first use)."""
        for key in keys:
            if REFERENCES[key] not in self.references:
                self.references.append(REFERENCES[key])

    def to_markdown(self, *, title: str = "Methods") -> str:
        """Render as Markdown: a heading, the paragraphs and the reference list.

        Parameters
        ----------
        title : str
            Heading text.

        Returns
        -------
        str
        """
        lines = [f"# {title}", ""]
        for paragraph in self.paragraphs:
            lines += [paragraph, ""]
        lines += ["## References", ""]
        lines += [f"- {reference}" for reference in self.references]
        return "\n".join(lines) + "\n"


def describe_prior(prior: Mapping[str, Any]) -> str:
    """Write a prior mapping the way a paper does, e.g. ``Student-t(7, 0, 1)``.

    Parameters
    ----------
    prior : mapping
        ``{"dist": "StudentT", "nu": 7, "mu": 0, "sigma": 1}`` and the like.

    Returns
    -------
    str

    Examples
    --------
    >>> describe_prior({"dist": "StudentT", "nu": 7.0, "mu": 0.0, "sigma": 1.0})
    'Student-t(7, 0, 1)'
    >>> describe_prior({"dist": "HalfNormal", "sigma": 1.0})
    'half-normal(1)'
    """
    dist = str(prior.get("dist", "?"))
    names = {
        "Normal": ("normal", ("mu", "sigma")),
        "StudentT": ("Student-t", ("nu", "mu", "sigma")),
        "Cauchy": ("Cauchy", ("alpha", "beta")),
        "HalfNormal": ("half-normal", ("sigma",)),
        "HalfStudentT": ("half-Student-t", ("nu", "sigma")),
        "HalfCauchy": ("half-Cauchy", ("beta",)),
        "Exponential": ("exponential", ("lam",)),
    }
    label, order = names.get(dist, (dist, tuple(k for k in prior if k != "dist")))
    values = [f"{float(prior[k]):g}" for k in order if k in prior]
    return f"{label}({', '.join(values)})"


def methods_text(
    spec: Spec,
    *,
    sampler: SamplerSpec,
    n_firms: int,
    versions: Mapping[str, str],
    quick: bool = False,
) -> MethodsText:
    """Write the methods section of the analysis a spec describes.

    Parameters
    ----------
    spec : Spec
        The spec that was run.
    sampler : SamplerSpec
        The sampler settings actually used (quick ones under ``--quick``).
    n_firms : int
        Number of firms analysed.
    versions : mapping
        Package versions, as :func:`bayes_cluster.inference.provenance.provenance` gives them
        (keys ``version_<package>``).
    quick : bool
        A ``--quick`` preview: the text says so first.

    Returns
    -------
    MethodsText
    """
    from bayes_cluster.estimators.logistic import DEFAULT_PRIORS as LOGIT_PRIORS

    text = MethodsText()
    if quick:
        text.paragraphs.append(
            "**QUICK PREVIEW (--quick)**: the sampler settings below are those of a short "
            "test run; rerun without --quick before using this text."
        )
    lc = spec.latent_class
    bayesian = False
    if lc is not None:
        sentences = [
            f"We classified the cluster of {n_firms} firms by the industrial-district typology "
            f"of Markusen (1996), from {len(lc.items)} survey items."
        ]
        text.cite("markusen")
        if lc.collapse is not None:
            sentences.append(
                f"Likert responses were collapsed into {len(lc.collapse)} categories "
                f"({', '.join('/'.join(map(str, g)) for g in lc.collapse)})."
            )
        if lc.descriptive:
            sentences.append(
                "As a descriptive baseline, the share of firms agreeing with each item was "
                "matched against each type's expected level of agreement."
            )
        k_text = ", ".join(map(str, lc.n_classes))
        if lc.em:
            # as the run: a quick preview uses a fifth of the starts (at least 5)
            starts = max(5, lc.em_starts // 5) if quick else lc.em_starts
            sentences.append(
                f"Maximum-likelihood latent class models with K = {k_text} classes were fitted "
                f"by the EM algorithm from {starts} random starts, as in poLCA "
                "(Linzer & Lewis 2011), and compared by BIC."
            )
            text.cite("linzer")
        if lc.bayesian:
            bayesian = True
            from bayes_cluster.estimators.latent_class import DEFAULT_PRIORS as LC_PRIORS

            priors = {**LC_PRIORS, **lc.priors}
            sentences.append(
                f"A Bayesian latent class model (K = {k_text}) placed a symmetric "
                f"Dirichlet({priors['class_concentration']:g}) prior on the class shares and "
                f"Dirichlet({priors['item_concentration']:g}) priors on each class's item-"
                "response probabilities, marginalised the class indicators, relabelled the "
                "draws after sampling to undo label switching, and chose K by PSIS-LOO "
                "(Vehtari, Gelman & Gabry 2017); each class was typed against Markusen's "
                "signatures in every posterior draw."
            )
            if lc.measurement == "ordinal":
                from bayes_cluster.estimators.ordinal_latent_class import (
                    ORDINAL_DEFAULT_PRIORS,
                )

                ordinal = ORDINAL_DEFAULT_PRIORS  # the run passes only class_concentration
                sentences.append(
                    "Beside it, an ordinal latent class model treated each item as a "
                    "cumulative logit whose location depends on the class (cutpoints per item "
                    "shared across classes; locations summing to zero over the classes, "
                    f"Normal(0, {ordinal['location_sd']:g}); cutpoints ordered "
                    f"Normal(0, {ordinal['cutpoint_sd']:g})), fitted to the same uncollapsed "
                    "answers; the two measurement models were compared by PSIS-LOO and the "
                    "ordinal model carried the classification."
                )
            text.cite("vehtari2017")
        text.paragraphs.append(" ".join(sentences))
    logistic = spec.logistic
    if logistic is not None:
        predictors = ", ".join(logistic.predictors)
        sentences = [
            f"Export orientation ({logistic.outcome}) was regressed on {predictors} with "
            "logistic regression."
        ]
        frequentist = spec.frequentist
        if frequentist is not None and "mle" in frequentist.methods:
            sentences.append(
                "The maximum-likelihood logit gives Wald intervals and p-values "
                f"(alpha = {frequentist.alpha:g})."
            )
        if frequentist is not None and "firth" in frequentist.methods:
            sentences.append(
                "Firth's penalised likelihood (Firth 1993; Heinze & Schemper 2002), which "
                "stays finite under separation, gives profile penalised-likelihood intervals."
            )
            text.cite("firth", "heinze")
        if logistic.bayesian:
            bayesian = True
            priors = {**LOGIT_PRIORS, **logistic.priors}
            scale = "standardised " if logistic.standardize else ""
            sentences.append(
                f"The Bayesian logit used weakly informative priors (Gelman et al. 2008; the "
                f"rstanarm defaults): {describe_prior(priors['intercept'])} on the intercept "
                f"and {describe_prior(priors['slopes'])} on each {scale}slope"
                + (
                    f" (with a {logistic.shrinkage} prior on the slopes)"
                    if logistic.shrinkage
                    else ""
                )
                + "; coefficients are reported on the original scale."
            )
            text.cite("gelman2008", "rstanarm")
            for variant in logistic.variants:
                if variant.group is None:
                    sentences.append(
                        f"The variant {variant.name} was compared with it by PSIS-LOO "
                        "(Vehtari, Gelman & Gabry 2017)."
                    )
                    text.cite("vehtari2017")
                    continue
                group_prior = {**LOGIT_PRIORS, **variant.priors}["group_sd"]
                sentences.append(
                    f"A variant with varying intercepts by {variant.group} (non-centred, "
                    f"between-group SD {describe_prior(group_prior)}) was compared with it "
                    "by PSIS-LOO (Vehtari, Gelman & Gabry 2017)."
                )
                text.cite("vehtari2017")
            if logistic.prior_sensitivity:
                sentences.append(
                    "Prior sensitivity was checked by power-scaling (Kallioinen et al. 2024)."
                )
                text.cite("kallioinen")
        text.paragraphs.append(" ".join(sentences))
    joint = spec.extra.get("joint")
    if joint is not None:
        from bayes_cluster.analyses.class_approaches import APPROACH_LABELS
        from bayes_cluster.run.joint_section import JointSpec

        if isinstance(joint, JointSpec):
            bayesian = True
            approaches = "; ".join(APPROACH_LABELS.get(a, a) for a in joint.approaches)
            text.paragraphs.append(
                f"Whether the cluster pattern matters for {joint.outcome} was estimated with a "
                f"latent class model of {len(joint.items)} Markusen (1996) items with "
                f"K = {joint.n_classes} classes and a logit of {joint.outcome} on "
                f"{', '.join(joint.predictors)} and the latent class, fitted jointly with the "
                f"class indicator marginalised, and compared with these approaches: "
                f"{approaches}. The maximum-likelihood class model used EM from "
                f"{joint.em_starts} random starts (Linzer & Lewis 2011); models were compared "
                "by PSIS-LOO (Vehtari, Gelman & Gabry 2017)."
            )
            text.cite("markusen", "linzer", "vehtari2017")
            if "three_step_ml" in joint.approaches:
                text.cite("vermunt")
    if bayesian:
        if sampler.backend in ("nutpie", "nutpie_c"):
            version = versions.get("version_nutpie", "")
            backend = f"nutpie{f' {version}' if version else ''} implementation"
        else:
            backend = "PyMC's implementation"
        text.paragraphs.append(
            f"Posteriors were sampled with the No-U-Turn Sampler (Hoffman & Gelman 2014; "
            f"{backend}) in PyMC "
            f"{versions.get('version_pymc', '')} (Abril-Pla et al. 2023): {sampler.chains} "
            f"chains of {sampler.tune} warm-up and {sampler.draws} retained draws, target "
            f"acceptance {sampler.target_accept:g}, seed {sampler.seed}. Convergence was "
            "checked by rank-normalised split R-hat below 1.01 and bulk and tail effective "
            "sample sizes (Vehtari et al. 2021), divergent transitions and E-BFMI. Bayesian "
            f"summaries give {100 * sampler.hdi_prob:g}% highest-density intervals"
            + (
                "; the comparison of methods puts every method at the same level, "
                f"{100 * spec.report.comparison_level:g}%."
                if logistic is not None
                else "."
            )
        )
        text.cite("hoffman", "pymc", "vehtari2021")
    software = ", ".join(
        f"{name.removeprefix('version_')} {value}"
        for name, value in versions.items()
        if name.startswith("version_")
    )
    if software:
        text.paragraphs.append(f"Software: {software}.")
    return text

"""bayes_cluster: Bayesian analysis of small industrial-cluster firm surveys.

Two questions, each answered by a Bayesian model beside its classical baselines:

1. Which of Markusen's (1996) district types does the cluster follow?
   (descriptive scoring, EM latent classes, Bayesian latent-class mixture)
2. What separates exporting from domestic firms?
   (maximum-likelihood logit, Firth's penalised logit, hierarchical Bayesian logit)

The public API is importable from here; submodules load lazily so that the CLI
starts fast and ``import bayes_cluster`` does not pull in PyMC.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# public name -> submodule that defines it
_EXPORTS: dict[str, str] = {
    # data
    "TUMANG_CODEBOOK": "surveys.codebook",
    "TUMANG_PREDICTORS": "surveys.codebook",
    "Column": "surveys.codebook",
    "codebook_frame": "surveys.codebook",
    "load_survey": "surveys.survey",
    "SurveyValidationError": "surveys.survey",
    "tumang_data_path": "surveys.survey",
    "describe_survey": "surveys.survey",
    "SurveyProblem": "surveys.survey",
    "SurveyWarning": "surveys.survey",
    "simulate_tumang": "surveys.simulate",
    "TumangTruth": "surveys.simulate",
    # cluster pattern
    "MARKUSEN_TYPES": "surveys.markusen",
    "MARKUSEN_ITEMS": "surveys.markusen",
    "SIGNATURES": "surveys.markusen",
    "descriptive_scoring": "surveys.markusen",
    "DescriptiveScoring": "surveys.markusen",
    "match_markusen_types": "surveys.markusen",
    "best_markusen_type": "surveys.markusen",
    "agreement_balance": "surveys.markusen",
    "signature_matrix": "surveys.markusen",
    "select_n_classes": "estimators.latent_class_em",
    "LatentClassEM": "estimators.latent_class_em",
    "OrdinalLatentClassEM": "estimators.ordinal_latent_class_em",
    "BayesianLatentClass": "estimators.latent_class",
    "ClusterVerdict": "estimators.latent_class",
    "compare_n_classes": "analyses.n_classes",
    "select_n_classes_bayes": "analyses.n_classes",
    "overfitted_mixture": "analyses.n_classes",
    "loo_weights": "analyses.n_classes",
    "verdict_over_n_classes": "analyses.n_classes",
    "relabel_draws": "estimators.latent_class",
    "encode_items": "estimators.latent_class",
    "marginal_log_likelihood": "common.latent_class_math",
    # export orientation
    "mle_logit": "estimators.frequentist",
    "mice_logit": "estimators.frequentist",
    "rubin_pool": "estimators.frequentist",
    "firth_logit": "estimators.frequentist",
    "detect_separation": "estimators.frequentist",
    "hosmer_lemeshow": "estimators.frequentist",
    "classification_table": "estimators.frequentist",
    "MLELogitResult": "estimators.frequentist",
    "FirthLogitResult": "estimators.frequentist",
    "SeparationResult": "estimators.separation",
    "design_matrix": "surveys.design_matrix",
    "DesignInfo": "surveys.design_matrix",
    "BayesianLogit": "estimators.logistic",
    "BayesianImputedLogit": "estimators.imputation",
    "compare_models": "estimators.logistic",
    "DEFAULT_PRIORS": "estimators.logistic",
    "DEFAULT_HORSESHOE": "estimators.logistic",
    "clear_compiled_cache": "inference.sampling",
    # joint model
    "JointLatentClassLogit": "estimators.joint",
    "ClassLogit": "estimators.joint",
    "compare_class_approaches": "analyses.class_approaches",
    "JointComparison": "analyses.class_approaches",
    "run_joint_section": "run.joint_section",
    "class_effect_recovery": "analyses.class_approaches",
    "recovery_summary": "analyses.class_approaches",
    # the study in one command
    "load_spec": "run.spec",
    "Spec": "run.spec",
    "SpecError": "run.spec",
    "run_spec": "run.pipeline",
    "RunResult": "run.pipeline",
    "comparison_table": "analyses.compare",
    # simulation studies
    "run_study": "studies.study",
    "load_study_spec": "studies.study",
    "parse_study_spec": "studies.study",
    "study_metrics": "studies.study",
    "StudySpec": "studies.study",
    "StudyResult": "studies.study",
    "sbc_logit": "studies.sbc",
    "sbc_latent_class": "studies.sbc",
    "simulation_based_calibration": "studies.sbc",
    "rank_uniformity": "studies.sbc",
    "SBCResult": "studies.sbc",
    # diagnostics
    "mcmc_diagnostics": "inference.diagnostics",
    "MCMCDiagnostics": "inference.diagnostics",
    "ConvergenceWarning": "inference.diagnostics",
    "warn_if_failed": "inference.diagnostics",
    # saved fits (the error of a wrong Model.load() names this)
    "load_model": "inference.base",
}

__all__ = sorted([*_EXPORTS, "__version__"])


def __getattr__(name: str) -> Any:
    """Import public names from their submodule on first use (PEP 562)."""
    module_name = _EXPORTS.get(name)
    if module_name is None:
        raise AttributeError(f"module 'bayes_cluster' has no attribute {name!r}")
    module = importlib.import_module(f"bayes_cluster.{module_name}")
    value = getattr(module, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__

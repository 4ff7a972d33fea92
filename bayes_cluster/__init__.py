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
    "TUMANG_CODEBOOK": "codebook",
    "TUMANG_PREDICTORS": "codebook",
    "Column": "codebook",
    "codebook_frame": "codebook",
    "load_survey": "survey",
    "SurveyValidationError": "survey",
    "tumang_data_path": "survey",
    "describe_survey": "survey",
    "SurveyProblem": "survey",
    "SurveyWarning": "survey",
    "simulate_tumang": "simulate",
    "TumangTruth": "simulate",
    # cluster pattern
    "MARKUSEN_TYPES": "markusen",
    "MARKUSEN_ITEMS": "markusen",
    "SIGNATURES": "markusen",
    "descriptive_scoring": "markusen",
    "DescriptiveScoring": "markusen",
    "match_markusen_types": "markusen",
    "best_markusen_type": "markusen",
    "agreement_balance": "markusen",
    "signature_matrix": "markusen",
    "select_n_classes": "latent_class_em",
    "LatentClassEM": "latent_class_em",
    "BayesianLatentClass": "latent_class",
    "ClusterVerdict": "latent_class",
    "compare_n_classes": "latent_class",
    "select_n_classes_bayes": "latent_class",
    "overfitted_mixture": "latent_class",
    "relabel_draws": "latent_class",
    "encode_items": "latent_class",
    "marginal_log_likelihood": "latent_class",
    # export orientation
    "mle_logit": "frequentist",
    "firth_logit": "frequentist",
    "detect_separation": "frequentist",
    "hosmer_lemeshow": "frequentist",
    "classification_table": "frequentist",
    "MLELogitResult": "frequentist",
    "FirthLogitResult": "frequentist",
    "SeparationResult": "separation",
    "design_matrix": "design_matrix",
    "DesignInfo": "design_matrix",
    "BayesianLogit": "logistic",
    "compare_models": "logistic",
    "DEFAULT_PRIORS": "logistic",
    "DEFAULT_HORSESHOE": "logistic",
    "clear_compiled_cache": "logistic",
    # joint model
    "JointLatentClassLogit": "joint",
    "ClassLogit": "joint",
    "compare_class_approaches": "joint",
    "JointComparison": "joint",
    "run_joint_section": "joint",
    "class_effect_recovery": "joint",
    "recovery_summary": "joint",
    # the study in one command
    "load_spec": "spec",
    "Spec": "spec",
    "SpecError": "spec",
    "run_spec": "pipeline",
    "RunResult": "pipeline",
    "comparison_table": "compare",
    # simulation studies
    "run_study": "study",
    "load_study_spec": "study",
    "parse_study_spec": "study",
    "study_metrics": "study",
    "StudySpec": "study",
    "StudyResult": "study",
    "sbc_logit": "sbc",
    "sbc_latent_class": "sbc",
    "simulation_based_calibration": "sbc",
    "rank_uniformity": "sbc",
    "SBCResult": "sbc",
    # diagnostics
    "mcmc_diagnostics": "diagnostics",
    "MCMCDiagnostics": "diagnostics",
    "ConvergenceWarning": "diagnostics",
    "warn_if_failed": "diagnostics",
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

"""What a run must write, and the specs and helpers the two run test files share."""

from __future__ import annotations

import contextlib
import html
import io
import re
import textwrap
from pathlib import Path

from bayes_cluster.cli import main
from bayes_cluster.surveys.codebook import TUMANG_PREDICTORS
from bayes_cluster.surveys.simulate import TUMANG_COEFFICIENTS, TUMANG_INTERCEPT

ROOT = Path(__file__).resolve().parents[1]
TUMANG_SPEC = ROOT / "models" / "tumang.toml"
DATA = ROOT / "data" / "tumang_synthetic.csv"
TERMS = ["Intercept", *TUMANG_PREDICTORS]
TRUTH = {"Intercept": TUMANG_INTERCEPT, **TUMANG_COEFFICIENTS}
THESIS = {
    "workers": "effect",
    "firm_age": "effect",
    "buyer_network": "effect",
    "promotion": "effect",
    "training": "no clear effect",
    "technology": "no clear effect",
    "supplier_network": "no clear effect",
}

LOGIT_ONLY = f"""
[data]
path = "{DATA.as_posix()}"

[logistic]
outcome = "export"
predictors = ["workers", "buyer_network", "promotion"]
transforms = {{ workers = "log" }}

[frequentist]
methods = ["mle", "firth"]

[sampler]
draws = 100
tune = 100
chains = 2
backend = "pymc"
seed = 11
"""


def run_cli(*args: str) -> tuple[int, str]:
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(io.StringIO()):
        code = main(["run", *args])
    return code, stdout.getvalue()


def write_spec(folder: Path, text: str, name: str = "spec.toml") -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


# ------------------------------------------------ every table and figure a run must produce

# ---------------------------------------------------------------- models/tumang.toml
# (every run of latent classes and logits; tumang_outputs() below adds what the bundled
# spec's ordinal measurement and covariates of class membership write)

TUMANG_TABLES = {
    "comparison.csv",
    "data_summary.csv",
    "diagnostics/bayes.csv",
    "diagnostics/bayes_hierarchical.csv",
    "diagnostics/latent_classes_k_1.csv",
    "diagnostics/latent_classes_k_2.csv",
    "diagnostics/latent_classes_k_3.csv",
    "latent_class/bayes_class_probabilities.csv",
    "latent_class/bayes_cluster_verdict.csv",
    "latent_class/bayes_markusen_typing.csv",
    "latent_class/bayes_ppc_item_shares.csv",
    "latent_class/bayes_ppc_pairs.csv",
    "latent_class/bayes_summary_K1.csv",
    "latent_class/bayes_summary_K2.csv",
    "latent_class/bayes_summary_K3.csv",
    "latent_class/descriptive_items.csv",
    "latent_class/descriptive_types.csv",
    "latent_class/em_classes.csv",
    "latent_class/em_fit_statistics.csv",
    "latent_class/em_bootstrap_lrt.csv",
    "latent_class/choosing_k.csv",
    "latent_class/em_item_probabilities.csv",
    "latent_class/em_markusen_typing.csv",
    "latent_class/loo_comparison.csv",
    "latent_class/verdict_by_n_classes.csv",
    "logistic/bayes_hierarchical_priors.csv",
    "logistic/bayes_hierarchical_summary.csv",
    "logistic/bayes_priors.csv",
    "logistic/bayes_summary.csv",
    "logistic/firth_summary.csv",
    "logistic/loo_comparison.csv",
    "logistic/mle_classification.csv",
    "logistic/mle_fit_statistics.csv",
    "logistic/mle_summary.csv",
    "logistic/prior_sensitivity.csv",
    # issue 14: the hierarchy pooled, the base logit under a wider prior
    "logistic/bayes_hierarchical_group_shrinkage.csv",
    "logistic/prior_sensitivity_wide.csv",
    "diagnostics/bayes_wide_prior.csv",
}
TUMANG_FIGURES = {
    "figures/forest_methods.png",
    # cluster pattern: descriptive scoring and EM
    "figures/markusen_descriptive.png",
    "figures/em_markusen_match.png",
    "figures/em_item_profiles.png",
    # cluster pattern: Bayesian latent classes
    "figures/latent_class_loo.png",
    "figures/markusen_verdict.png",
    "figures/markusen_type_shares.png",
    "figures/latent_class_profiles.png",
    "figures/latent_class_shares.png",
    "figures/latent_class_membership.png",
    "figures/latent_class_ppc.png",
    "figures/latent_class_bivariate_residuals.png",
    # export logits
    *(
        f"figures/{model}_{figure}.png"
        for model in ("bayes", "bayes_hierarchical")
        for figure in ("calibration", "separation", "loo_pit", "odds_ratios", "prior_posterior")
    ),
    "figures/loo_comparison.png",
    # issue 14: shrinkage of the product lines, the headline coefficients under a wider prior
    "figures/bayes_hierarchical_shrinkage.png",
    "figures/prior_sensitivity.png",
}
TUMANG_OTHER = {
    "comparison.md",
    "comparison.tex",
    # journal output: one booktabs table per question and the Methods text
    "tables/export_coefficients.tex",
    "tables/cluster_verdict.tex",
    "tables/model_comparison.tex",
    "methods.md",
    "report.html",
    "report.md",
    "run.json",
    "latent_class/bayes_posterior_K1.nc",
    "latent_class/bayes_posterior_K2.nc",
    "latent_class/bayes_posterior_K3.nc",
    "logistic/bayes_posterior.nc",
    "logistic/bayes_hierarchical_posterior.nc",
}

# ---------------------------------------------------------------- models/tumang_joint.toml

JOINT_TABLES = {
    "data_summary.csv",
    "diagnostics/joint_joint.csv",
    "diagnostics/joint_no_class.csv",
    "diagnostics/joint_three_step_ml.csv",
    "diagnostics/joint_two_step.csv",
    "joint/joint_class_effect.csv",
    "joint/joint_coefficients.csv",
    "joint/joint_elpd.csv",
}
JOINT_FIGURES = {"figures/joint_comparison.png", "figures/joint_calibration.png"}
JOINT_OTHER = {"report.html", "report.md", "run.json", "joint/joint_comparison.md",
               "joint/joint_posterior.nc", "methods.md"}  # fmt: skip
# added by `[joint] covariates` (models/tumang_joint.toml has none: its documented numbers
# are those of the model without them; tests/test_joint_covariates.py runs a spec with them)
JOINT_COVARIATES_TABLES = {"joint/joint_membership_effects.csv"}
JOINT_COVARIATES_FIGURES = {"figures/joint_class_membership_covariates.png"}


# ---------------------------------------------------------- models/tumang_covariates.toml
# (added to what the latent-class part of a run writes; K = the one chosen by PSIS-LOO)


def covariates_outputs(k: int) -> tuple[set[str], set[str], set[str]]:
    """Tables, figures and other files of `[latent_class].covariates` for the chosen K."""
    tables = {
        "latent_class/class_membership_effects.csv",
        f"diagnostics/latent_classes_k_{k}_covariates.csv",
    }
    figures = {"figures/class_membership_covariates.png"}
    other = {f"latent_class/bayes_covariates_posterior_K{k}.nc"}
    return tables, figures, other


# ---------------------------------------------------------- measurement = "ordinal"
# (added to what the latent-class part of a run writes)


def ordinal_outputs(n_classes: tuple[int, ...]) -> tuple[set[str], set[str], set[str]]:
    """Tables, figures and other files of `[latent_class] measurement = "ordinal"`."""
    tables = {
        "latent_class/ordinal_vs_nominal_loo.csv",
        "latent_class/ordinal_vs_nominal.csv",
        "latent_class/choosing_k.csv",
        "latent_class/em_bootstrap_lrt.csv",
        *(f"latent_class/bayes_ordinal_summary_K{k}.csv" for k in n_classes),
        *(f"diagnostics/latent_classes_ordinal_k_{k}.csv" for k in n_classes),
    }
    figures = {"figures/ordinal_prior_predictive.png"}
    other = {f"latent_class/bayes_ordinal_posterior_K{k}.nc" for k in n_classes}
    return tables, figures, other


def tumang_outputs(chosen_k: int) -> tuple[set[str], set[str], set[str]]:
    """Tables, figures and other files of models/tumang.toml: the sets above, its ordinal
    measurement (K = 1, 2, 3, each beside the nominal model) and its covariates of class
    membership, fitted for the K that PSIS-LOO chooses (``chosen_k``)."""
    ordinal = ordinal_outputs((1, 2, 3))
    covariates = covariates_outputs(chosen_k)
    tables = TUMANG_TABLES | ordinal[0] | covariates[0]
    figures = TUMANG_FIGURES | ordinal[1] | covariates[1]
    other = TUMANG_OTHER | ordinal[2] | covariates[2]
    return tables, figures, other


# ---------------------------------------------------------------- missing = "model"
# (a logit-only spec on a survey with blank predictor cells; tests/test_imputation.py)
MISSING_TABLES = {
    "missing_cells.csv",
    "logistic/mice_mle_summary.csv",
    "logistic/bayes_imputed_values.csv",
}
MISSING_FIGURES = {"figures/bayes_imputed_values.png"}


def vector_versions(figures: set[str]) -> set[str]:
    """The PDF and SVG written beside every PNG figure."""
    return {
        str(Path(figure).with_suffix(suffix)) for figure in figures for suffix in (".pdf", ".svg")
    }


def files_under(folder: Path) -> set[str]:
    return {path.relative_to(folder).as_posix() for path in folder.rglob("*") if path.is_file()}


def assert_figures_in_report(out: Path, figures: set[str]) -> None:
    """Each figure appears once in report.md and report.html, with a caption."""
    markdown = (out / "report.md").read_text(encoding="utf-8")
    linked = re.findall(r"^!\[([^\]]*)\]\(([^)]+)\)$", markdown, flags=re.MULTILINE)
    assert sorted(path for _, path in linked) == sorted(figures)
    for caption, path in linked:
        assert len(caption) > 20, (path, caption)
        # the caption is also printed under the image
        assert f"\n*{caption}*\n" in markdown, path
    page = (out / "report.html").read_text(encoding="utf-8")
    shown = re.findall(
        r'<figure><img alt="([^"]*)" src="data:image/png;base64,[^"]+"><figcaption>(.*?)'
        r"</figcaption></figure>",
        page,
    )
    assert len(shown) == len(figures)
    captions = {caption for caption, _ in linked}
    assert {html.unescape(alt) for alt, _ in shown} == captions

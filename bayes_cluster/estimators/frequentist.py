r"""Frequentist baselines of the export logit: maximum likelihood and Firth's penalised logit.

Three public functions, the numbers an applied economist would otherwise take from SPSS,
Stata or R:

* :func:`mle_logit` -- the maximum-likelihood logit with SPSS's tables ("Variables in the
  Equation", omnibus test, model summary, Hosmer--Lemeshow test with its contingency
  table, classification table), which reports separation instead of huge numbers;
* :func:`firth_logit` -- Firth's (1993) penalised logit with logistf's profile
  penalised-likelihood intervals and penalised likelihood-ratio tests, standard errors
  either from the inverse Fisher information (brglm2's, the default) or from logistf's
  augmented information, and the optional FLIC intercept correction (Puhr et al. 2017);
* :func:`detect_separation` -- Konis's (2007) linear-programming check (defined in
  :mod:`bayes_cluster.estimators.separation`).

The model is

.. math::

    \Pr(y_i = 1 \mid x_i) = \pi_i = \operatorname{logit}^{-1}(x_i^\top\beta),

with :math:`x_i` the ``Intercept`` and the columns of
:func:`~bayes_cluster.surveys.design_matrix.design_matrix`. Maximum likelihood maximises
:math:`\ell(\beta) = \sum_i y_i\log\pi_i + (1-y_i)\log(1-\pi_i)`; Firth maximises
:math:`\ell^*(\beta) = \ell(\beta) + \tfrac12\log|X^\top W X|` (the numerical core is in
:mod:`bayes_cluster.estimators.firth`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import linalg, special, stats

from bayes_cluster.common.dims import INTERCEPT, TERM
from bayes_cluster.estimators.firth import fit_batch, fit_single, profile_limits
from bayes_cluster.estimators.separation import (
    FINITE,
    SeparationResult,
    detect_separation,
    model_matrix,
    separation_from_arrays,
)
from bayes_cluster.surveys.design_matrix import DesignInfo

__all__ = [
    "FirthLogitResult",
    "MICELogitResult",
    "MLELogitResult",
    "classification_table",
    "detect_separation",
    "firth_logit",
    "hosmer_lemeshow",
    "mice_logit",
    "mle_logit",
    "rubin_pool",
]


# --------------------------------------------------------------------------- helpers
def hosmer_lemeshow(
    y: np.ndarray, probabilities: np.ndarray, groups: int = 10
) -> tuple[float, int, float, pd.DataFrame]:
    r"""Hosmer--Lemeshow goodness-of-fit test over groups of predicted risk.

    Grouping rule (stated because packages differ, SPSS included): the cut points are
    the quantiles of the predicted probabilities at :math:`0, 1/g, \dots, 1` (linear
    interpolation, R's type 7); duplicate cut points are merged; a case falls in the
    interval :math:`(c_{k-1}, c_k]` (the first interval closed on the left). Tied
    probabilities therefore always share a group, and fewer than ``groups`` groups are
    formed when there are ties at the cut points -- as R's
    ``ResourceSelection::hoslem.test``. The statistic is

    .. math::

        C = \sum_{k} \frac{(O_{1k} - E_{1k})^2}{E_{1k}}
            + \frac{(O_{0k} - E_{0k})^2}{E_{0k}},
        \qquad E_{1k} = \sum_{i \in k} \hat\pi_i,

    referred to :math:`\chi^2` with (number of groups :math:`- 2`) degrees of freedom.

    Parameters
    ----------
    y : numpy.ndarray
        0/1 outcomes.
    probabilities : numpy.ndarray
        Fitted probabilities.
    groups : int, default 10
        Number of groups wanted (deciles of risk).

    Returns
    -------
    chi2 : float
        The statistic (NaN when fewer than 3 groups can be formed).
    df : int
        Degrees of freedom.
    p_value : float
        Upper tail probability.
    table : pandas.DataFrame
        SPSS's "Contingency Table for Hosmer and Lemeshow Test": per group ``n``,
        ``observed_0``, ``expected_0``, ``observed_1``, ``expected_1``.

    Examples
    --------
    >>> import numpy as np
    >>> p = np.array([0.1, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9])
    >>> y = np.array([0, 0, 0, 1, 0, 1, 0, 1, 1, 1])
    >>> chi2, df, p_value, table = hosmer_lemeshow(y, p, groups=5)
    >>> round(chi2, 4), df
    (1.4598, 3)
    """
    y = np.asarray(y, dtype=float)
    probabilities = np.asarray(probabilities, dtype=float)
    cuts = np.unique(np.quantile(probabilities, np.linspace(0.0, 1.0, groups + 1)))
    if cuts.size == 1:
        group = np.zeros(y.size, dtype=int)
    else:
        group = np.clip(np.searchsorted(cuts, probabilities, side="left"), 1, cuts.size - 1)
        group = group - 1
    group = np.unique(group, return_inverse=True)[1]  # drop empty groups
    count = np.bincount(group).astype(float)
    observed_1 = np.bincount(group, weights=y)
    expected_1 = np.bincount(group, weights=probabilities)
    table = pd.DataFrame(
        {
            "n": count.astype(int),
            "observed_0": np.rint(count - observed_1).astype(int),
            "expected_0": count - expected_1,
            "observed_1": np.rint(observed_1).astype(int),
            "expected_1": expected_1,
        },
        index=pd.RangeIndex(1, count.size + 1, name="group"),
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        # a group of risks all exactly 0 or 1 (separated rows) has E = O = 0 on one side:
        # 0/0, contributing nothing
        terms = (observed_1 - expected_1) ** 2 / expected_1 + (
            (count - observed_1) - (count - expected_1)
        ) ** 2 / (count - expected_1)
    df = count.size - 2
    if df < 1:
        return float("nan"), max(df, 0), float("nan"), table
    chi2 = float(np.nansum(terms))
    return chi2, df, float(stats.chi2.sf(chi2, df)), table


def classification_table(
    y: np.ndarray, probabilities: np.ndarray, cut: float = 0.5, outcome: str = "y"
) -> pd.DataFrame:
    """SPSS's classification table: observed by predicted outcome at a cut value.

    A case is predicted 1 when its probability *exceeds* the cut (SPSS's rule; a
    probability exactly at the cut is predicted 0).

    Parameters
    ----------
    y : numpy.ndarray
        0/1 outcomes.
    probabilities : numpy.ndarray
        Fitted probabilities.
    cut : float, default 0.5
        Classification cut value.
    outcome : str, default "y"
        Outcome name, for the index name.

    Returns
    -------
    pandas.DataFrame
        Rows ``"0"``, ``"1"`` (observed) and ``"Overall Percentage"``; columns
        ``predicted 0``, ``predicted 1`` (counts) and ``percentage_correct``.
    """
    y = np.asarray(y, dtype=float)
    predicted = np.asarray(probabilities) > cut
    counts = np.array(
        [
            [np.sum((y == 0) & ~predicted), np.sum((y == 0) & predicted)],
            [np.sum((y == 1) & ~predicted), np.sum((y == 1) & predicted)],
        ],
        dtype=float,
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        correct = 100.0 * np.diag(counts) / counts.sum(axis=1)
    overall = 100.0 * np.trace(counts) / counts.sum()
    table = pd.DataFrame(
        {
            "predicted 0": [counts[0, 0], counts[1, 0], np.nan],
            "predicted 1": [counts[0, 1], counts[1, 1], np.nan],
            "percentage_correct": [correct[0], correct[1], overall],
        },
        index=pd.Index(["0", "1", "Overall Percentage"], name=f"observed {outcome}"),
    )
    return table


def _format_number(value: Any, digits: int = 3) -> str:
    if isinstance(value, str):
        return value
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    if isinstance(value, (int, np.integer)):
        return str(value)
    value = float(value)
    if np.isinf(value):
        return "+inf" if value > 0 else "-inf"
    if value != 0 and abs(value) < 10.0 ** (-digits):
        return f"{value:.{digits}e}"
    return f"{value:.{digits}f}"


def _markdown(frame: pd.DataFrame, digits: int = 3) -> str:
    """Render a DataFrame as a GitHub-flavoured Markdown table (no extra dependency)."""
    header = [str(frame.index.name or "")] + [str(c) for c in frame.columns]
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join(["---"] + ["---:"] * len(frame.columns)) + "|",
    ]
    for label, row in frame.iterrows():
        cells = [str(label)] + [_format_number(v, digits) for v in row.to_numpy()]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _null_log_likelihood(y: np.ndarray) -> float:
    n, events = y.size, y.sum()
    return float(special.xlogy(events, events / n) + special.xlogy(n - events, 1 - events / n))


def _wald_p(statistic: np.ndarray, df: int = 1) -> np.ndarray:
    return stats.chi2.sf(statistic, df)


FIRTH_STANDARD_ERRORS: dict[str, str] = {
    "fisher": "inverse Fisher information (as brglm2)",
    "augmented": "inverse augmented information [X' diag(w(1+h)) X]^-1 (as logistf >= 1.24)",
}
"""Standard-error conventions of :func:`firth_logit`, with the label each table carries."""


def _augmented_information(X: np.ndarray, beta: np.ndarray) -> np.ndarray:
    r"""Augmented information :math:`X^\top\operatorname{diag}\{w_i(1+h_i)\}X` (logistf >= 1.24).

    :math:`h_i` are the diagonal elements of the hat matrix
    :math:`W^{1/2}X(X^\top WX)^{-1}X^\top W^{1/2}` at ``beta``: the information of the
    data augmented with the pseudo-observations that Firth's modified score implies.
    """
    probability = special.expit(X @ beta)
    weight = probability * (1.0 - probability)
    fisher = (X * weight[:, None]).T @ X
    hat = weight * np.einsum("ij,ji->i", X, linalg.solve(fisher, X.T, assume_a="pos"))
    return (X * (weight * (1.0 + hat))[:, None]).T @ X


# --------------------------------------------------------------------------- MLE
NEAR_CERTAIN = 1e-6
"""Fitted probabilities this close to 0 or 1 (without separation) trigger a warning."""


@dataclass
class MLELogitResult:
    r"""Maximum-likelihood logit, with the tables SPSS prints.

    Attributes
    ----------
    summary : pandas.DataFrame
        "Variables in the Equation", indexed by term (``Intercept`` first): ``estimate``
        (B), ``std_error``, ``wald`` (:math:`(B/SE)^2`), ``df``, ``p_value`` (Sig.),
        ``odds_ratio`` (Exp(B)), ``or_ci_lower``, ``or_ci_upper`` (Wald interval for
        Exp(B) at ``level``) and ``separation`` (``"finite"``, ``"+inf"``, ``"-inf"``).
        Terms whose estimate is infinite show ``estimate = ±inf``, the odds ratio
        ``inf``/``0`` and no standard error, test or interval.
    fit_statistics : pandas.Series
        ``n_obs``, ``n_events``, ``log_likelihood``, ``minus_2_log_likelihood``,
        ``null_log_likelihood``, ``lr_chi2``, ``lr_df``, ``lr_p_value`` (omnibus test of
        model coefficients), ``cox_snell_r2``, ``nagelkerke_r2``, ``mcfadden_r2``,
        ``aic``, ``bic``, ``hosmer_lemeshow_chi2``, ``hosmer_lemeshow_df``,
        ``hosmer_lemeshow_p_value``, ``percentage_correct``, ``iterations``.
    hosmer_lemeshow_table : pandas.DataFrame
        Contingency table of the Hosmer--Lemeshow test (see :func:`hosmer_lemeshow`).
    classification_table : pandas.DataFrame
        Observed by predicted at the cut value (see :func:`classification_table`).
    joint_wald : pandas.DataFrame
        For each categorical predictor with more than one dummy, the joint Wald test of
        its dummies (SPSS's row for the variable itself): ``wald``, ``df``, ``p_value``.
    separation : SeparationResult
        The separation check; when separated, the finite estimates are the limit of the
        likelihood-maximising sequence (the perfectly predicted rows contribute nothing
        to the likelihood and are left out of the fit, as Stata does).
    params_, bse_ : pandas.Series
        Estimates and standard errors by term.
    cov_ : pandas.DataFrame
        Covariance matrix of the finite estimates (NaN rows/columns for infinite ones).
    fitted_probabilities_ : pandas.Series
        Fitted probabilities of the data (0 or 1 for perfectly predicted rows).
    warnings : list of str
        Everything the reader must know (separation, non-convergence).
    """

    outcome: str
    design: DesignInfo
    summary: pd.DataFrame
    fit_statistics: pd.Series
    hosmer_lemeshow_table: pd.DataFrame
    classification_table: pd.DataFrame
    joint_wald: pd.DataFrame
    separation: SeparationResult
    params_: pd.Series
    bse_: pd.Series
    cov_: pd.DataFrame
    fitted_probabilities_: pd.Series
    level: float = 0.95
    cut: float = 0.5
    converged: bool = True
    warnings: list[str] = field(default_factory=list)
    _direction: np.ndarray = field(default_factory=lambda: np.zeros(0), repr=False)

    def predict_proba(self, frame: pd.DataFrame) -> pd.Series:
        """Predicted probability that the outcome is 1, for new data.

        Under separation, rows on the separated side of the separating hyperplane get
        probability exactly 0 or 1 (the limit of the maximum-likelihood fit).

        Parameters
        ----------
        frame : pandas.DataFrame
            New data with every predictor column.

        Returns
        -------
        pandas.Series
            Probabilities indexed like ``frame``.
        """
        X = self.design.transform(frame)
        X.insert(0, INTERCEPT, 1.0)
        values = X.to_numpy()
        beta = np.nan_to_num(self.params_.to_numpy(), nan=0.0, posinf=0.0, neginf=0.0)
        probability = special.expit(values @ beta)
        if self._direction.any():
            margin = values @ self._direction
            scale = np.abs(values).max(axis=1) * np.abs(self._direction).sum()
            probability = np.where(margin > 1e-9 * scale, 1.0, probability)
            probability = np.where(margin < -1e-9 * scale, 0.0, probability)
        return pd.Series(probability, index=frame.index, name=f"P({self.outcome}=1)")

    def to_markdown(self) -> str:
        """Render the SPSS-like report as Markdown."""
        stats_ = self.fit_statistics
        lines = [
            f"## Maximum-likelihood logit: {self.outcome}",
            "",
            f"n = {int(stats_['n_obs'])}, events = {int(stats_['n_events'])}",
            "",
        ]
        lines += [f"> **Warning:** {message}" for message in self.warnings]
        if self.warnings:
            lines.append("")
        lines += [
            "### Omnibus test of model coefficients",
            "",
            f"chi-square = {stats_['lr_chi2']:.3f}, df = {int(stats_['lr_df'])}, "
            f"Sig. = {_format_number(stats_['lr_p_value'])}",
            "",
            "### Model summary",
            "",
            f"-2 log-likelihood = {stats_['minus_2_log_likelihood']:.3f}; "
            f"Cox & Snell R² = {stats_['cox_snell_r2']:.3f}; "
            f"Nagelkerke R² = {stats_['nagelkerke_r2']:.3f}; "
            f"McFadden R² = {stats_['mcfadden_r2']:.3f}",
            "",
            "### Hosmer and Lemeshow test",
            "",
            f"chi-square = {_format_number(stats_['hosmer_lemeshow_chi2'])}, "
            f"df = {int(stats_['hosmer_lemeshow_df'])}, "
            f"Sig. = {_format_number(stats_['hosmer_lemeshow_p_value'])}",
            "",
            _markdown(self.hosmer_lemeshow_table),
            "",
            f"### Classification table (cut value {self.cut})",
            "",
            _markdown(self.classification_table, digits=1),
            "",
            "### Variables in the equation",
            "",
            _markdown(self.summary),
        ]
        if len(self.joint_wald):
            lines += ["", "Joint Wald tests of categorical predictors:", ""]
            lines.append(_markdown(self.joint_wald))
        return "\n".join(lines) + "\n"

    def __str__(self) -> str:
        return self.to_markdown()


def mle_logit(
    frame: pd.DataFrame,
    outcome: str,
    predictors: Sequence[str],
    *,
    reference_levels: Mapping[str, Any] | None = None,
    level: float = 0.95,
    cut: float = 0.5,
    hosmer_lemeshow_groups: int = 10,
) -> MLELogitResult:
    r"""Maximum-likelihood logit with SPSS's "Variables in the Equation" and fit tables.

    The likelihood is maximised by Newton--Raphson (tolerance 1e-10 on the step). Before
    fitting, the data are checked for separation (:func:`detect_separation`); terms whose
    estimate is infinite are reported as ``±inf`` with no standard error, and the
    warning names them, instead of the huge numbers and standard errors a non-converged
    fit prints. The finite terms are then estimated on the rows not perfectly predicted,
    with the separating direction(s) removed: the limit of the likelihood-maximising
    sequence (Stata's behaviour for quasi-complete separation).

    Fit statistics (:math:`\ell_0` the intercept-only log-likelihood, :math:`n` rows):
    Cox & Snell :math:`R^2 = 1 - \exp\{2(\ell_0-\ell)/n\}`, Nagelkerke
    :math:`R^2 = R^2_{CS}/(1 - \exp(2\ell_0/n))`, McFadden :math:`R^2 = 1 - \ell/\ell_0`,
    omnibus :math:`\chi^2 = 2(\ell - \ell_0)` on the number of slopes.

    Parameters
    ----------
    frame : pandas.DataFrame
        The data, one row per observation (no missing values in the used columns).
    outcome : str
        Binary outcome column (0/1 or boolean).
    predictors : sequence of str
        Predictor columns, numeric or categorical (treatment dummies ``column[level]``).
    reference_levels : mapping, optional
        Reference level of categorical predictors (default: first sorted level).
    level : float, default 0.95
        Confidence level of the odds-ratio intervals.
    cut : float, default 0.5
        Cut value of the classification table.
    hosmer_lemeshow_groups : int, default 10
        Number of risk groups of the Hosmer--Lemeshow test.

    Returns
    -------
    MLELogitResult
        ``summary``, ``fit_statistics``, ``hosmer_lemeshow_table``,
        ``classification_table``, ``separation``, ``warnings``, ``predict_proba``.

    Raises
    ------
    ValueError
        If a column is missing or has missing values, the outcome is not binary, or the
        design is rank-deficient.

    Examples
    --------
    >>> from statsmodels.datasets import spector
    >>> data = spector.load_pandas().data
    >>> result = mle_logit(data, "GRADE", ["GPA", "TUCE", "PSI"])
    >>> round(result.summary.loc["GPA", "estimate"], 4)
    np.float64(2.8261)
    """
    X, y, terms, index, info = model_matrix(
        frame, outcome, predictors, reference_levels=reference_levels
    )
    n, p = X.shape
    separation = separation_from_arrays(X, y, terms, index)
    messages: list[str] = []

    direction = separation.summary["direction"].to_numpy()
    finite = (separation.summary["mle"] == FINITE).to_numpy()
    keep = ~index.isin(separation.separated_observations)
    beta = np.full(p, np.nan)
    cov = np.full((p, p), np.nan)
    converged, iterations = True, 0
    if separation.separated:
        messages.append(
            separation.message
            + ": those terms are reported as ±inf without standard errors; the other "
            "estimates are the limit of the maximum-likelihood fit (the perfectly "
            "predicted rows left out). Consider firth_logit or a Bayesian logit."
        )
    # coefficient space with the separating directions removed: the remaining rows do
    # not change along them, and the finite terms are identified in its complement
    directions = separation.directions
    basis = linalg.null_space(directions.T) if directions.shape[1] else np.eye(p)
    reduced_design = X[keep] @ basis
    if keep.sum() > 0 and basis.shape[1] > 0:
        identified = np.linalg.matrix_rank(reduced_design) == basis.shape[1]
    else:
        identified = False
    if identified:
        fit = fit_single(reduced_design, y[keep], np.zeros(basis.shape[1]), firth=False)
        converged, iterations = bool(fit.converged[0]), fit.iterations
        gamma = fit.beta[0]
        cov_gamma = np.linalg.inv(fit.fisher[0])
        beta = basis @ gamma
        cov = basis @ cov_gamma @ basis.T
        log_likelihood = float(fit.log_likelihood[0])
        if not converged:
            messages.append(
                f"Newton-Raphson did not converge in {iterations} iterations: estimates "
                "are unreliable"
            )
    else:
        log_likelihood = 0.0 if keep.sum() == 0 else float("nan")
        if separation.separated and finite.any():
            messages.append(
                "the finite terms are not identified once the perfectly predicted rows "
                f"are set aside: {[t for t, f in zip(terms, finite, strict=True) if f]}"
            )
    beta = np.where(finite, beta, np.where(direction > 0, np.inf, -np.inf))
    cov[~finite, :] = np.nan
    cov[:, ~finite] = np.nan
    std_error = np.sqrt(np.diag(cov))
    wald = (beta / std_error) ** 2
    z = stats.norm.isf((1.0 - level) / 2.0)
    with np.errstate(over="ignore"):  # exp(B) of a huge estimate is reported as inf
        odds = np.exp(beta), np.exp(beta - z * std_error), np.exp(beta + z * std_error)
    summary = pd.DataFrame(
        {
            "estimate": beta,
            "std_error": std_error,
            "wald": wald,
            "df": np.ones(p, dtype=int),
            "p_value": _wald_p(wald),
            "odds_ratio": odds[0],
            "or_ci_lower": odds[1],
            "or_ci_upper": odds[2],
            "separation": separation.summary["mle"].to_numpy(),
        },
        index=pd.Index(terms, name=TERM),
    )

    # fitted probabilities (0/1 on the separated side)
    probability = np.empty(n)
    beta_finite = np.where(finite, np.nan_to_num(beta), 0.0)
    probability[keep] = special.expit(X[keep] @ beta_finite)
    probability[~keep] = y[~keep]
    fitted = pd.Series(probability, index=index, name=f"P({outcome}=1)")

    null_ll = _null_log_likelihood(y)
    lr = 2.0 * (log_likelihood - null_ll)
    slopes = p - 1
    cox_snell = 1.0 - np.exp(2.0 * (null_ll - log_likelihood) / n)
    max_cox_snell = 1.0 - np.exp(2.0 * null_ll / n)
    hl_chi2, hl_df, hl_p, hl_table = hosmer_lemeshow(y, probability, hosmer_lemeshow_groups)
    table = classification_table(y, probability, cut, outcome)
    fit_statistics = pd.Series(
        {
            "n_obs": float(n),
            "n_events": float(y.sum()),
            "log_likelihood": log_likelihood,
            "minus_2_log_likelihood": -2.0 * log_likelihood,
            "null_log_likelihood": null_ll,
            "lr_chi2": lr,
            "lr_df": float(slopes),
            "lr_p_value": float(stats.chi2.sf(lr, slopes)) if slopes else np.nan,
            "cox_snell_r2": cox_snell,
            "nagelkerke_r2": cox_snell / max_cox_snell if max_cox_snell > 0 else np.nan,
            "mcfadden_r2": 1.0 - log_likelihood / null_ll if null_ll < 0 else np.nan,
            "aic": -2.0 * log_likelihood + 2.0 * p,
            "bic": -2.0 * log_likelihood + np.log(n) * p,
            "hosmer_lemeshow_chi2": hl_chi2,
            "hosmer_lemeshow_df": float(hl_df),
            "hosmer_lemeshow_p_value": hl_p,
            "percentage_correct": table.loc["Overall Percentage", "percentage_correct"],
            "iterations": float(iterations),
        },
        name="fit_statistics",
    )
    if hl_df < 1:
        messages.append("Hosmer-Lemeshow test not computed: fewer than 3 distinct risk groups")
    extreme = keep & ((probability < NEAR_CERTAIN) | (probability > 1.0 - NEAR_CERTAIN))
    if extreme.any():
        messages.append(
            f"near separation: {int(extreme.sum())} observation(s) have fitted probabilities "
            f"within {NEAR_CERTAIN:g} of 0 or 1 although the estimates are finite; "
            "estimates and standard errors are unstable (consider firth_logit)"
        )
    joint = _joint_wald(info, summary, cov, terms)
    params = pd.Series(beta, index=summary.index, name="estimate")
    return MLELogitResult(
        outcome=outcome,
        design=info,
        summary=summary,
        fit_statistics=fit_statistics,
        hosmer_lemeshow_table=hl_table,
        classification_table=table,
        joint_wald=joint,
        separation=separation,
        params_=params,
        bse_=pd.Series(std_error, index=summary.index, name="std_error"),
        cov_=pd.DataFrame(cov, index=summary.index, columns=summary.index),
        fitted_probabilities_=fitted,
        level=level,
        cut=cut,
        converged=converged,
        warnings=messages,
        _direction=direction if separation.separated else np.zeros(p),
    )


_EMPTY_JOINT_WALD = pd.DataFrame(
    {"wald": pd.Series(dtype=float), "df": pd.Series(dtype=int), "p_value": pd.Series(dtype=float)}
).rename_axis("predictor")


def _joint_wald(
    info: DesignInfo, summary: pd.DataFrame, cov: np.ndarray, terms: list[str]
) -> pd.DataFrame:
    rows: dict[str, tuple[float, int, float]] = {}
    if not any(len(levels) > 2 for levels in info.levels.values()):
        return _EMPTY_JOINT_WALD.copy()
    for predictor, levels in info.levels.items():
        if len(levels) <= 2:
            continue
        columns = [terms.index(c) for c, s in info.term_sources.items() if s == predictor]
        b = summary["estimate"].to_numpy()[columns]
        v = cov[np.ix_(columns, columns)]
        if not np.all(np.isfinite(b)) or not np.all(np.isfinite(v)):
            rows[predictor] = (np.nan, len(columns), np.nan)
            continue
        statistic = float(b @ np.linalg.solve(v, b))
        rows[predictor] = (statistic, len(columns), float(stats.chi2.sf(statistic, len(columns))))
    return pd.DataFrame.from_dict(
        rows, orient="index", columns=["wald", "df", "p_value"]
    ).rename_axis("predictor")


# --------------------------------------------------------------------------- Firth
@dataclass
class FirthLogitResult:
    r"""Firth's penalised-likelihood logit: logistf's intervals and tests.

    Attributes
    ----------
    summary : pandas.DataFrame
        Indexed by term (``Intercept`` first): ``estimate``, ``std_error`` (from the
        inverse Fisher or the augmented information at the estimate, see ``se``; its
        label is ``summary.attrs["std_error"]``), ``ci_lower``, ``ci_upper`` (profile
        penalised likelihood, or Wald with ``ci="wald"``), ``chi2`` and ``p_value``
        (penalised likelihood-ratio test of the term being 0, or Wald), ``odds_ratio``,
        ``or_ci_lower``, ``or_ci_upper`` and ``method`` (how the interval and test of
        that row were obtained).
    penalized_log_likelihood : float
        :math:`\ell^*(\hat\beta)`.
    null_penalized_log_likelihood : float
        Maximum of :math:`\ell^*` over the intercept alone, with the slopes fixed at 0
        and the penalty of the full design (logistf's null model).
    fit_statistics : pandas.Series
        ``n_obs``, ``n_events``, the two penalised log-likelihoods, ``lr_chi2``,
        ``lr_df``, ``lr_p_value`` (penalised likelihood-ratio test of all slopes),
        ``wald_chi2``, ``wald_df``, ``wald_p_value``, ``iterations``.
    params_, bse_ : pandas.Series
        Estimates (FLIC intercept when ``flic``) and standard errors.
    cov_ : pandas.DataFrame
        Inverse Fisher (``se="fisher"``) or augmented (``se="augmented"``) information
        at the penalised estimate (before any FLIC correction).
    se : {"fisher", "augmented"}
        Which standard errors ``summary`` shows (:data:`FIRTH_STANDARD_ERRORS`).
    flic : bool
        Whether the intercept was re-estimated by FLIC.
    warnings : list of str
        Non-convergence and interval notes.
    """

    outcome: str
    design: DesignInfo
    summary: pd.DataFrame
    penalized_log_likelihood: float
    null_penalized_log_likelihood: float
    fit_statistics: pd.Series
    params_: pd.Series
    bse_: pd.Series
    cov_: pd.DataFrame
    level: float = 0.95
    ci_method: str = "profile"
    se: str = "fisher"
    flic: bool = False
    converged: bool = True
    iterations: int = 0
    warnings: list[str] = field(default_factory=list)

    def predict_proba(self, frame: pd.DataFrame) -> pd.Series:
        """Predicted probability that the outcome is 1, for new data.

        With ``flic=True`` these use the FLIC intercept, so that on the fitted data they
        average to the observed event rate.

        Parameters
        ----------
        frame : pandas.DataFrame
            New data with every predictor column.

        Returns
        -------
        pandas.Series
            Probabilities indexed like ``frame``.
        """
        X = self.design.transform(frame)
        X.insert(0, INTERCEPT, 1.0)
        probability = special.expit(X.to_numpy() @ self.params_.to_numpy())
        return pd.Series(probability, index=frame.index, name=f"P({self.outcome}=1)")

    def to_markdown(self) -> str:
        """Render the report as Markdown (the header names the standard errors shown)."""
        stats_ = self.fit_statistics
        title = "Firth's penalised logit" + (" with FLIC intercept" if self.flic else "")
        lines = [
            f"## {title}: {self.outcome}",
            "",
            f"n = {int(stats_['n_obs'])}, events = {int(stats_['n_events'])}; "
            f"{self.ci_method} {100 * self.level:g}% intervals; "
            f"standard errors: {FIRTH_STANDARD_ERRORS[self.se]}",
            "",
        ]
        lines += [f"> **Warning:** {message}" for message in self.warnings]
        if self.warnings:
            lines.append("")
        lines += [
            _markdown(self.summary, digits=4),
            "",
            f"Penalised log-likelihood = {self.penalized_log_likelihood:.4f} "
            f"(null model {self.null_penalized_log_likelihood:.4f}); "
            f"likelihood-ratio test = {stats_['lr_chi2']:.4f} on {int(stats_['lr_df'])} df, "
            f"p = {_format_number(stats_['lr_p_value'], 4)}; "
            f"Wald test = {stats_['wald_chi2']:.4f} on {int(stats_['wald_df'])} df, "
            f"p = {_format_number(stats_['wald_p_value'], 4)}",
        ]
        return "\n".join(lines) + "\n"

    def __str__(self) -> str:
        return self.to_markdown()


def firth_logit(
    frame: pd.DataFrame,
    outcome: str,
    predictors: Sequence[str],
    *,
    reference_levels: Mapping[str, Any] | None = None,
    ci: str = "profile",
    level: float = 0.95,
    se: str = "fisher",
    flic: bool = False,
    max_iter: int = 200,
    tol: float = 1e-10,
) -> FirthLogitResult:
    r"""Firth's penalised-likelihood logit, with logistf's intervals and tests (``pl = TRUE``).

    Maximises :math:`\ell^*(\beta) = \ell(\beta) + \tfrac12\log|X^\top WX|` (Firth
    1993; Heinze & Schemper 2002) by Newton--Raphson with the exact Hessian of
    :math:`\ell^*` (the Fisher information where that Hessian is not negative definite),
    steps capped at 5 per coefficient and halved while :math:`\ell^*` decreases
    (logistf's safeguards; logistf itself steps with the Fisher information, which has
    the same fixed point). Estimates are finite even under separation.

    Standard errors follow one of two conventions (``se``), and the result says which
    (``summary.attrs["std_error"]`` and the Markdown header): ``"fisher"`` (default),
    the inverse Fisher information :math:`(X^\top WX)^{-1}` at :math:`\hat\beta`, as
    brglm2 prints; ``"augmented"``, the inverse augmented information
    :math:`[X^\top\operatorname{diag}\{w_i(1+h_i)\}X]^{-1}` (:math:`h_i` the hat
    values), as logistf >= 1.24 prints -- smaller. Estimates, profile intervals and
    penalised likelihood-ratio tests do not depend on it; Wald intervals and tests
    (``ci="wald"``) use the chosen standard errors.

    With ``ci="profile"`` (default) each term gets the profile penalised-likelihood
    interval :math:`\{b: 2[\ell^*(\hat\beta) - \max_{\beta_j = b}\ell^*(\beta)] \le
    \chi^2_{1,\text{level}}\}` and the penalised likelihood-ratio test
    :math:`\chi^2 = 2[\ell^*(\hat\beta) - \max_{\beta_j = 0}\ell^*(\beta)]` on 1 df,
    where the restricted maximum keeps the penalty of the full design (logistf's
    definition). With ``ci="wald"``, Wald intervals and tests.

    With ``flic=True`` the intercept is re-estimated by maximum likelihood with the
    other coefficients fixed (the linear predictor without intercept as offset), so the
    predicted probabilities average to the observed event rate (FLIC, Puhr et al.
    2017). Its standard error is :math:`\sqrt{[(X^\top WX)^{-1}]_{11}}` with
    :math:`W` at the FLIC fit, the full design's information, so the uncertainty of
    the slopes counts (logistf's ``flic``; the intercept-only refit's
    :math:`1/\sqrt{\sum_i w_i}` would treat the slopes as known); its interval and test
    are the Wald ones with that standard error (logistf takes the interval from it but
    prints the p-value of the intercept-only refit), and the slopes' rows are unchanged.

    Parameters
    ----------
    frame : pandas.DataFrame
        The data.
    outcome : str
        Binary outcome column (0/1 or boolean).
    predictors : sequence of str
        Predictor columns, numeric or categorical (treatment dummies ``column[level]``).
    reference_levels : mapping, optional
        Reference level of categorical predictors.
    ci : {"profile", "wald"}, default "profile"
        How intervals and p-values are computed.
    level : float, default 0.95
        Confidence level.
    se : {"fisher", "augmented"}, default "fisher"
        Standard errors from the inverse Fisher information (brglm2) or from the
        inverse augmented information (logistf >= 1.24).
    flic : bool, default False
        Re-estimate the intercept for unbiased average predicted probability.
    max_iter : int, default 200
        Newton--Raphson iterations at most.
    tol : float, default 1e-10
        Convergence tolerance on the step and the score.

    Returns
    -------
    FirthLogitResult
        ``summary``, penalised log-likelihoods, ``fit_statistics``, ``predict_proba``.

    Raises
    ------
    ValueError
        If a column is missing or has missing values, the outcome is not binary, the
        design is rank-deficient, or ``ci`` or ``se`` is unknown.

    Examples
    --------
    >>> from statsmodels.datasets import spector
    >>> data = spector.load_pandas().data
    >>> result = firth_logit(data, "GRADE", ["GPA", "TUCE", "PSI"], ci="wald")
    >>> round(result.summary.loc["PSI", "estimate"], 4)
    np.float64(2.0067)
    """
    if ci not in ("profile", "wald"):
        raise ValueError(f"ci must be 'profile' or 'wald', not {ci!r}")
    if se not in FIRTH_STANDARD_ERRORS:
        raise ValueError(f"se must be 'fisher' or 'augmented', not {se!r}")
    X, y, terms, _, info = model_matrix(
        frame, outcome, predictors, reference_levels=reference_levels
    )
    n, p = X.shape
    messages: list[str] = []

    fit = fit_single(X, y, np.zeros(p), firth=True, max_iter=max_iter, tol=tol)
    beta = fit.beta[0]
    penalized_ll = float(fit.log_likelihood[0])
    converged = bool(fit.converged[0])
    if not converged:
        messages.append(
            f"Newton-Raphson did not converge in {fit.iterations} iterations: estimates "
            "are unreliable"
        )
    if se == "fisher":
        cov = np.linalg.inv(fit.fisher[0])
    else:
        cov = np.linalg.inv(_augmented_information(X, beta))
    std_error = np.sqrt(np.diag(cov))

    # restricted fits keep the penalty of the full design, as logistf: the null model
    # (all slopes at 0) and, for the tests, every single term at 0 (one batch)
    # (only their maximum is used, whose error is quadratic in the coefficients' error:
    # a looser tolerance on the coefficients still gives it to ~1e-12)
    restricted_tol = max(tol, 1e-6)
    null_fit = fit_single(
        X, y, np.zeros(p), np.arange(p) == 0, firth=True, max_iter=max_iter, tol=restricted_tol
    )
    null_ll = float(null_fit.log_likelihood[0]) if p > 1 else penalized_ll
    converged_restricted = bool(null_fit.converged[0]) or p == 1
    z = stats.norm.isf((1.0 - level) / 2.0)
    if ci == "profile":
        fixed = np.eye(p, dtype=bool)
        restricted = fit_batch(
            X,
            y,
            np.where(fixed, 0.0, beta),
            fixed,
            firth=True,
            max_iter=max_iter,
            tol=restricted_tol,
        )
        converged_restricted &= bool(restricted.converged.all())
        chi2 = np.maximum(2.0 * (penalized_ll - restricted.log_likelihood), 0.0)
        lower, upper, notes = profile_limits(
            X, y, beta, penalized_ll, np.arange(p), level=level, firth=True, names=terms
        )
        messages += notes
        method = ["profile"] * p
    else:
        lower, upper = beta - z * std_error, beta + z * std_error
        chi2 = (beta / std_error) ** 2
        method = ["wald"] * p
    if not converged_restricted:
        messages.append("a restricted fit (test or null model) did not converge")
    p_value = stats.chi2.sf(chi2, 1)

    estimate = beta.copy()
    if flic:
        offset = X[:, 1:] @ beta[1:]
        intercept_fit = fit_single(
            np.ones((n, 1)),
            y,
            beta[:1],
            firth=False,
            max_iter=max_iter,
            tol=tol,
            offset=offset,
        )
        estimate[0] = intercept_fit.beta[0, 0]
        # the full design's information at the FLIC fit (Puhr et al. 2017; logistf):
        # 1 / fisher of the intercept-only refit would treat the slopes as known
        flic_probability = special.expit(estimate[0] + offset)
        flic_information = (X * (flic_probability * (1.0 - flic_probability))[:, None]).T @ X
        intercept_se = float(np.sqrt(np.linalg.inv(flic_information)[0, 0]))
        std_error = std_error.copy()
        std_error[0] = intercept_se
        lower[0], upper[0] = estimate[0] - z * intercept_se, estimate[0] + z * intercept_se
        chi2 = chi2.copy()
        chi2[0] = (estimate[0] / intercept_se) ** 2
        p_value[0] = stats.chi2.sf(chi2[0], 1)
        method[0] = "flic (wald)"

    with np.errstate(over="ignore"):  # an interval reaching +inf has odds ratio inf
        odds = np.exp(estimate), np.exp(lower), np.exp(upper)
    summary = pd.DataFrame(
        {
            "estimate": estimate,
            "std_error": std_error,
            "ci_lower": lower,
            "ci_upper": upper,
            "chi2": chi2,
            "p_value": p_value,
            "odds_ratio": odds[0],
            "or_ci_lower": odds[1],
            "or_ci_upper": odds[2],
            "method": method,
        },
        index=pd.Index(terms, name=TERM),
    )
    summary.attrs["std_error"] = FIRTH_STANDARD_ERRORS[se]
    slopes = p - 1
    lr = max(2.0 * (penalized_ll - null_ll), 0.0)
    if slopes:
        wald_all = float(beta[1:] @ np.linalg.solve(cov[1:, 1:], beta[1:]))
    else:
        wald_all = np.nan
    fit_statistics = pd.Series(
        {
            "n_obs": float(n),
            "n_events": float(y.sum()),
            "penalized_log_likelihood": penalized_ll,
            "null_penalized_log_likelihood": null_ll,
            "lr_chi2": lr,
            "lr_df": float(slopes),
            "lr_p_value": float(stats.chi2.sf(lr, slopes)) if slopes else np.nan,
            "wald_chi2": wald_all,
            "wald_df": float(slopes),
            "wald_p_value": float(stats.chi2.sf(wald_all, slopes)) if slopes else np.nan,
            "iterations": float(fit.iterations),
        },
        name="fit_statistics",
    )
    return FirthLogitResult(
        outcome=outcome,
        design=info,
        summary=summary,
        penalized_log_likelihood=penalized_ll,
        null_penalized_log_likelihood=null_ll,
        fit_statistics=fit_statistics,
        params_=pd.Series(estimate, index=summary.index, name="estimate"),
        bse_=pd.Series(std_error, index=summary.index, name="std_error"),
        cov_=pd.DataFrame(cov, index=summary.index, columns=summary.index),
        level=level,
        ci_method=ci,
        se=se,
        flic=flic,
        converged=converged,
        iterations=fit.iterations,
        warnings=messages,
    )


# ---------------------------------------------------------------------- multiple imputation
@dataclass
class MICELogitResult:
    r"""Maximum-likelihood logit after multiple imputation, pooled by Rubin's rules.

    Attributes
    ----------
    summary : pandas.DataFrame
        Indexed by term (``Intercept`` first): ``estimate`` (pooled, :math:`\bar Q`),
        ``std_error`` (:math:`\sqrt T`), ``df`` (Barnard & Rubin 1999), ``p_value``,
        ``ci_lower``, ``ci_upper`` (t interval at ``level``), ``odds_ratio``,
        ``or_ci_lower``, ``or_ci_upper``, ``within_variance`` (:math:`\bar U`),
        ``between_variance`` (:math:`B`), ``fmi`` (fraction of missing information
        :math:`\lambda = (1 + 1/m)B/T`).
    n_obs : int
        Firms used (every firm: the blanks are imputed).
    n_complete : int
        Firms with no blank among the outcome and predictors.
    n_imputations : int
        Imputed data sets (m).
    imputed_cells : dict of str to int
        Blanks per predictor.
    methods : dict of str to str
        Imputation method per predictor with blanks (``pmm`` or ``logreg``).
    warnings : list of str
        Imputations whose MLE met separation (their infinite estimates cannot be pooled).
    """

    summary: pd.DataFrame
    n_obs: int
    n_complete: int
    n_imputations: int
    imputed_cells: dict[str, int]
    methods: dict[str, str]
    level: float = 0.95
    warnings: list[str] = field(default_factory=list)


def rubin_pool(
    estimates: np.ndarray,
    variances: np.ndarray,
    *,
    complete_df: float | None = None,
    level: float = 0.95,
) -> pd.DataFrame:
    r"""Pool estimates of m imputed data sets by Rubin's (1987) rules.

    .. math::

        \bar Q = \tfrac1m\sum_l \hat Q_l, \quad \bar U = \tfrac1m\sum_l U_l, \quad
        B = \tfrac{1}{m-1}\sum_l (\hat Q_l - \bar Q)^2, \quad
        T = \bar U + (1 + \tfrac1m) B,

    with :math:`\nu_{old} = (m-1)/\lambda^2`, :math:`\lambda = (1 + 1/m)B/T`, and, given
    the complete-data degrees of freedom :math:`\nu_{com}`, Barnard & Rubin's (1999)
    small-sample :math:`\nu = (1/\nu_{old} + 1/\nu_{obs})^{-1}`,
    :math:`\nu_{obs} = \frac{\nu_{com}+1}{\nu_{com}+3}\nu_{com}(1-\lambda)` (as R's
    ``mice::pool``).

    Parameters
    ----------
    estimates, variances : numpy.ndarray
        Shape (m, p): each imputation's estimates and squared standard errors.
    complete_df : float, optional
        :math:`\nu_{com}` (e.g. firms minus coefficients); None: Rubin's large-sample
        :math:`\nu_{old}`.
    level : float, default 0.95
        Level of the t intervals.

    Returns
    -------
    pandas.DataFrame
        One row per parameter: ``estimate``, ``std_error``, ``df``, ``p_value``,
        ``ci_lower``, ``ci_upper``, ``within_variance``, ``between_variance``, ``fmi``.

    Examples
    --------
    >>> table = rubin_pool(np.array([[1.0], [2.0]]), np.array([[0.5], [0.5]]))
    >>> float(table["std_error"].iloc[0] ** 2)  # 0.5 + (1 + 1/2) * 0.5
    1.25
    """
    estimates = np.atleast_2d(np.asarray(estimates, dtype=float))
    variances = np.atleast_2d(np.asarray(variances, dtype=float))
    if estimates.shape != variances.shape:
        raise ValueError(
            f"estimates {estimates.shape} and variances {variances.shape} differ in shape"
        )
    m = estimates.shape[0]
    if m < 2:
        raise ValueError(f"Rubin's rules need at least 2 imputations, got {m}")
    q_bar = estimates.mean(axis=0)
    u_bar = variances.mean(axis=0)
    between = estimates.var(axis=0, ddof=1)
    total = u_bar + (1 + 1 / m) * between
    with np.errstate(divide="ignore", invalid="ignore"):
        fmi = (1 + 1 / m) * between / total
        df_old = np.where(fmi > 0, (m - 1) / fmi**2, np.inf)
        if complete_df is not None:
            df_obs = (complete_df + 1) / (complete_df + 3) * complete_df * (1 - fmi)
            df = 1 / (1 / df_old + 1 / df_obs)
        else:
            df = df_old
        se = np.sqrt(total)
        statistic = q_bar / se
    p_value = 2 * stats.t.sf(np.abs(statistic), df)
    half = stats.t.ppf(0.5 + level / 2, df) * se
    return pd.DataFrame(
        {
            "estimate": q_bar,
            "std_error": se,
            "df": df,
            "p_value": p_value,
            "ci_lower": q_bar - half,
            "ci_upper": q_bar + half,
            "within_variance": u_bar,
            "between_variance": between,
            "fmi": fmi,
        }
    )


def mice_logit(
    frame: pd.DataFrame,
    outcome: str,
    predictors: Sequence[str],
    *,
    binary: Sequence[str] | None = None,
    n_imputations: int = 20,
    iterations: int = 10,
    donors: int = 5,
    level: float = 0.95,
    seed: int | None = None,
) -> MICELogitResult:
    r"""Multiple imputation by chained equations, then the MLE logit, pooled by Rubin's rules.

    The blanks of the numeric predictors are filled ``n_imputations`` times by chained
    equations (van Buuren & Groothuis-Oudshoorn 2011, the defaults of R's ``mice``): each
    incomplete column in turn is regressed on every other predictor **and the outcome**
    (rows where it is observed), the regression's parameters are drawn from their
    approximate posterior, and the blanks are filled by predictive mean matching
    (``pmm``: the observed value of one of the ``donors`` firms with the closest predicted
    mean, so a Likert or count column keeps its own values) or, for 0/1 columns, by a
    draw from the logistic model (``logreg``); ``iterations`` cycles per data set. Each
    completed data set is fitted by :func:`mle_logit` and the estimates are pooled by
    :func:`rubin_pool`, with :math:`\nu_{com} = n - p - 1`.

    Parameters
    ----------
    frame : pandas.DataFrame
        The survey, blanks as NaN in numeric predictor columns; the outcome must be
        complete.
    outcome : str
        The 0/1 outcome.
    predictors : sequence of str
        Predictor columns (numeric; categorical ones must be complete).
    binary : sequence of str, optional
        Predictors imputed by the logistic model (default: those whose observed values
        are all 0/1).
    n_imputations : int, default 20
        Imputed data sets (m).
    iterations : int, default 10
        Chained-equation cycles per data set.
    donors : int, default 5
        Donor pool of predictive mean matching.
    level : float, default 0.95
        Level of the pooled intervals.
    seed : int, optional
        Seed; the same seed gives the same imputations.

    Returns
    -------
    MICELogitResult
        The pooled table, the firms used and complete, and the imputation methods.

    Raises
    ------
    ValueError
        A blank outcome (named with its rows), a predictor entirely blank or categorical
        with blanks, or fewer than 2 imputations.
    """
    predictors = list(predictors)
    if n_imputations < 2:
        raise ValueError(f"n_imputations must be at least 2, got {n_imputations}")
    absent = [c for c in [outcome, *predictors] if c not in frame.columns]
    if absent:
        raise ValueError(f"column(s) {absent} not in the data")
    blank_outcome = frame[outcome].isna()
    if blank_outcome.any():
        raise ValueError(
            f"outcome {outcome!r} is blank on rows {list(frame.index[blank_outcome][:8])}: a "
            "missing outcome is not imputed"
        )
    incomplete = [c for c in predictors if frame[c].isna().any()]
    for column in incomplete:
        if frame[column].isna().all():
            raise ValueError(f"predictor {column!r} is blank on every row: it cannot be imputed")
        if not pd.api.types.is_numeric_dtype(frame[column].dtype):
            raise ValueError(f"predictor {column!r} is not numeric: its blanks cannot be imputed")
    if binary is None:
        binary = [c for c in incomplete if set(frame[c].dropna().unique().tolist()) <= {0.0, 1.0}]
    methods = {c: "logreg" if c in set(binary) else "pmm" for c in incomplete}
    data = frame[[outcome, *predictors]].copy()
    for column in incomplete:
        data[column] = data[column].astype(float)
    n = len(data)
    n_complete = int((~data[predictors].isna().any(axis=1)).sum())
    rng = np.random.default_rng(seed)
    estimates, variances, messages = [], [], []
    terms: list[str] | None = None
    for imputation in range(n_imputations):
        completed = _chained_equations(
            data, outcome, predictors, incomplete, methods, iterations, donors, rng
        )
        result = mle_logit(completed, outcome, predictors, level=level)
        terms = list(result.params_.index)
        if not np.isfinite(result.params_.to_numpy()).all():
            messages.append(
                f"imputation {imputation + 1}: separation, infinite estimate(s) "
                f"{[t for t in terms if not np.isfinite(result.params_[t])]}"
            )
        estimates.append(result.params_.to_numpy(dtype=float))
        variances.append(result.bse_.to_numpy(dtype=float) ** 2)
    pooled = rubin_pool(
        np.array(estimates),
        np.array(variances),
        complete_df=n - len(terms),
        level=level,
    )
    pooled.index = pd.Index(terms, name=TERM)
    pooled["odds_ratio"] = np.exp(pooled["estimate"])
    pooled["or_ci_lower"] = np.exp(pooled["ci_lower"])
    pooled["or_ci_upper"] = np.exp(pooled["ci_upper"])
    return MICELogitResult(
        summary=pooled,
        n_obs=n,
        n_complete=n_complete,
        n_imputations=n_imputations,
        imputed_cells={c: int(frame[c].isna().sum()) for c in incomplete},
        methods=methods,
        level=level,
        warnings=messages,
    )


def _chained_equations(
    data: pd.DataFrame,
    outcome: str,
    predictors: list[str],
    incomplete: list[str],
    methods: Mapping[str, str],
    iterations: int,
    donors: int,
    rng: np.random.Generator,
) -> pd.DataFrame:
    """One completed copy of ``data`` (a chain of ``iterations`` cycles)."""
    completed = data.copy()
    numeric = [c for c in [*predictors, outcome] if pd.api.types.is_numeric_dtype(data[c])]
    categorical = [c for c in [*predictors, outcome] if c not in numeric]
    matrix = data[numeric].to_numpy(dtype=float)
    dummies = (
        pd.get_dummies(data[categorical], drop_first=True, dtype=float).to_numpy(float)
        if categorical
        else np.zeros((len(data), 0))
    )
    position = {c: numeric.index(c) for c in incomplete}
    blanks = {c: np.isnan(matrix[:, position[c]]) for c in incomplete}
    for column in incomplete:  # start: random draws of the observed values
        j, blank = position[column], blanks[column]
        matrix[blank, j] = rng.choice(matrix[~blank, j], blank.sum())
    ones = np.ones((len(matrix), 1))
    for _ in range(iterations if incomplete else 0):
        for column in incomplete:
            j, blank = position[column], blanks[column]
            Z = np.hstack([ones, np.delete(matrix, j, axis=1), dummies])
            target = matrix[:, j]
            seen = ~blank
            if methods[column] == "logreg":
                matrix[blank, j] = _draw_logreg(Z[seen], target[seen], Z[blank], rng)
            else:
                matrix[blank, j] = _draw_pmm(Z[seen], target[seen], Z[blank], donors, rng)
    for column in incomplete:
        completed[column] = matrix[:, position[column]]
    return completed


def _draw_pmm(
    Z: np.ndarray, y: np.ndarray, Z_new: np.ndarray, donors: int, rng: np.random.Generator
) -> np.ndarray:
    """Predictive mean matching with a Bayesian linear-regression draw (mice's ``pmm``)."""
    ridge = 1e-5 * np.eye(Z.shape[1])
    gram_inv = linalg.inv(Z.T @ Z + ridge)
    coef = gram_inv @ Z.T @ y
    residual = y - Z @ coef
    dof = max(len(y) - Z.shape[1], 1)
    sigma = np.sqrt(residual @ residual / rng.chisquare(dof))
    drawn = coef + sigma * linalg.cholesky(gram_inv, lower=True) @ rng.standard_normal(len(coef))
    fitted = Z @ coef
    wanted = Z_new @ drawn
    distance = np.abs(fitted[None, :] - wanted[:, None])
    nearest = np.argsort(distance, axis=1)[:, : min(donors, len(y))]
    pick = nearest[np.arange(len(wanted)), rng.integers(0, nearest.shape[1], len(wanted))]
    return y[pick]


def _draw_logreg(
    Z: np.ndarray, y: np.ndarray, Z_new: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Draw 0/1 values from a logistic regression with drawn coefficients (``logreg``).

    As mice's ``logreg``; a small ridge keeps the coefficients finite under separation.
    """
    beta = np.zeros(Z.shape[1])
    penalty = np.diag([0.0, *[1e-2] * (Z.shape[1] - 1)])
    for _ in range(50):
        p = special.expit(Z @ beta)
        gradient = Z.T @ (y - p) - penalty @ beta
        information = Z.T @ (Z * (p * (1 - p))[:, None]) + penalty
        step = linalg.solve(information, gradient, assume_a="pos")
        beta = beta + step
        if np.max(np.abs(step)) < 1e-8:
            break
    p = special.expit(Z @ beta)
    information = Z.T @ (Z * (p * (1 - p))[:, None]) + penalty
    drawn = beta + linalg.cholesky(linalg.inv(information), lower=True) @ rng.standard_normal(
        len(beta)
    )
    return (rng.random(len(Z_new)) < special.expit(Z_new @ drawn)).astype(float)

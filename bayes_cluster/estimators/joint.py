r"""Joint model: the cluster pattern and export orientation in one Bayesian model.

The study ran its two analyses apart: a latent class analysis of the Markusen items and a
logit for ``export``.  The usual bridge, the *two-step* analysis (give each firm its most
likely class, then use the class as a known predictor), pretends the class is known.  With
60 firms it is not.  :class:`JointLatentClassLogit` lets each firm's latent class, learned
from the Markusen items, enter the export model directly, so that the uncertainty of the
class flows into the export coefficients and into the answer to *does the cluster pattern
matter for export orientation?* (the class-effect contrast :math:`\alpha_2 - \alpha_1`).

:class:`ClassLogit` fits the comparison models with the same priors and the same
parameterisation:

* ``classes=None``: the export model without class (one intercept);
* ``classes=modal``: the two-step model, the EM modal class as a fixed predictor;
* ``classes=modal, correction="ml"``: the maximum-likelihood three-step correction of
  Vermunt (2010), with the classification-error matrix of step 1 held fixed (written here
  as a Bayesian step 3; see :func:`classification_error_matrix`).

:func:`compare_class_approaches` fits all of them on one survey and returns one table of
coefficients, interval widths, ELPD and the class-effect contrast;
:func:`run_joint_section` is what ``bayes-cluster run`` calls for a ``[joint]`` spec section.

ELPD is compared on the same outcome for every approach: the predictive density of
``export`` given what each approach conditions on, all functions of the items and the
predictors.  For the joint model that is the export likelihood *conditional on the items*,

.. math::

    \log p(y_i \mid \mathbf{u}_i, \mathbf{x}_i)
    = \log \sum_k p(k \mid \mathbf{u}_i)\, p(y_i \mid k, \mathbf{x}_i),
    \qquad p(k \mid \mathbf{u}_i) \propto \pi_k \prod_j \theta_{k j u_{ij}},

not the joint likelihood of items and export (which is stored too, as ``joint``, and is
not comparable with a model of ``export`` alone).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import xarray as xr

from bayes_cluster.common.dims import (
    CATEGORY,
    CHAIN,
    CLASS_CONTRAST,
    DRAW,
    FIRM,
    INTERCEPT,
    ITEM,
    LATENT_CLASS,
    PREDICTOR,
    TERM,
)
from bayes_cluster.estimators.latent_class import DEFAULT_PRIORS as LATENT_CLASS_PRIORS
from bayes_cluster.estimators.latent_class import encode_items, relabel_draws
from bayes_cluster.estimators.logistic import DEFAULT_PRIORS as LOGIT_PRIORS
from bayes_cluster.estimators.logistic import standardisation
from bayes_cluster.inference.priors import make_prior_variable
from bayes_cluster.surveys.codebook import TUMANG_PREDICTORS
from bayes_cluster.surveys.markusen import MARKUSEN_ITEMS

__all__ = [
    "APPROACH_LABELS",
    "CLASS_CONTRAST",
    "DEFAULT_PRIORS",
    "ClassLogit",
    "JointComparison",
    "JointData",
    "JointLatentClassLogit",
    "JointSpec",
    "class_effect_recovery",
    "classification_error_matrix",
    "clear_compiled_cache",
    "compare_class_approaches",
    "prepare_joint_data",
    "recovery_summary",
    "run_joint_section",
    "validate_joint_section",
]

DEFAULT_PRIORS: dict[str, Any] = {
    # the export logit's priors (bayes_cluster.estimators.logistic: one source of truth); the
    # intercept prior applies to every class intercept alpha_k
    "intercept": dict(LOGIT_PRIORS["intercept"]),
    "slopes": dict(LOGIT_PRIORS["slopes"]),
    # the mixture's Dirichlet concentrations (bayes_cluster.estimators.latent_class)
    "class_concentration": float(LATENT_CLASS_PRIORS["class_concentration"]),
    "item_concentration": float(LATENT_CLASS_PRIORS["item_concentration"]),
    # spread of class-specific slopes around the common slope (class_slopes=True only)
    "slope_spread": {"dist": "HalfNormal", "sigma": 1.0},
}
"""Default priors of the joint model, as data (standardised predictor scale)."""

_CONCENTRATIONS = ("class_concentration", "item_concentration")

Approach = Literal["no_class", "two_step", "three_step_ml", "joint"]

APPROACH_LABELS: dict[str, str] = {
    "no_class": "(a) export model without class",
    "two_step": "(b) two-step: EM modal class as a fixed predictor",
    "three_step_ml": "(b') three-step, ML correction (Vermunt 2010)",
    "joint": "(c) joint latent class + logit",
}
"""Row labels of the comparison table, one per approach."""


# ----------------------------------------------------------------------------- data


@dataclass(frozen=True)
class JointData:
    """Model-ready arrays of one survey.

    Attributes
    ----------
    firm_ids : numpy.ndarray
        Firm labels, in row order.
    items : tuple of str
        Item columns.
    categories : tuple of str
        Category labels (after any collapsing), e.g. ``disagree, neutral, agree``.
    item_indicators : numpy.ndarray
        One-hot responses, shape (firm, item, category); a missing response is a row of
        zeros (it drops out of the firm's likelihood).
    item_codes : numpy.ndarray
        Category 1..C per (firm, item), 0 = missing.
    predictors : tuple of str
        Slope terms (design-matrix columns: a categorical predictor gives dummies).
    design : numpy.ndarray
        Standardised predictor matrix, shape (firm, predictor).
    center, scale : numpy.ndarray
        Centre and scale of each column (as :class:`~logistic.BayesianLogit`:
        mean; SD, or the range of a two-valued column).
    outcome : str
        Outcome column.
    y : numpy.ndarray
        0/1 outcome.
    """

    firm_ids: np.ndarray
    items: tuple[str, ...]
    categories: tuple[str, ...]
    item_indicators: np.ndarray = field(repr=False)
    item_codes: np.ndarray = field(repr=False)
    predictors: tuple[str, ...]
    design: np.ndarray = field(repr=False)
    center: np.ndarray = field(repr=False)
    scale: np.ndarray = field(repr=False)
    outcome: str
    y: np.ndarray = field(repr=False)

    @property
    def n_firms(self) -> int:
        """Number of firms."""
        return int(self.y.shape[0])


def _outcome_and_design(
    frame: pd.DataFrame, predictors: Sequence[str], outcome: str
) -> tuple[np.ndarray, tuple[str, ...], np.ndarray, np.ndarray, np.ndarray]:
    """Validate outcome and predictors; return y, terms, standardised X, centre, scale."""
    from bayes_cluster.surveys.design_matrix import design_matrix

    if outcome not in frame.columns:
        raise ValueError(f"outcome column {outcome!r} is not in the data")
    firms = frame["firm_id"] if "firm_id" in frame.columns else pd.Series(frame.index)
    series = frame[outcome]
    missing = series.isna().to_numpy()
    if missing.any():
        i = int(np.flatnonzero(missing)[0])
        raise ValueError(
            f"outcome {outcome!r} has {int(missing.sum())} missing value(s), first at firm "
            f"{str(firms.iloc[i])!r} (row {i + 1}); the joint model needs a complete outcome"
        )
    y = pd.to_numeric(series, errors="coerce").to_numpy(dtype=float)
    bad = ~np.isin(y, (0.0, 1.0))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"outcome {outcome!r}, firm {str(firms.iloc[i])!r} (row {i + 1}): value "
            f"{series.iloc[i]} is not 0 or 1"
        )
    matrix, info = design_matrix(frame, list(predictors))
    terms = tuple(info.columns)
    center, scale = standardisation(matrix.to_numpy(dtype=float), list(terms))
    design = (matrix.to_numpy(dtype=float) - center) / scale
    return y.astype(np.int64), terms, design, center, scale


def prepare_joint_data(
    frame: pd.DataFrame,
    *,
    items: Sequence[str] = MARKUSEN_ITEMS,
    predictors: Sequence[str] = TUMANG_PREDICTORS,
    outcome: str = "export",
    collapse: Literal["three", "none"] = "three",
) -> JointData:
    """Validate a survey frame and turn it into the arrays of the joint model.

    Items are encoded by :func:`bayes_cluster.estimators.latent_class.encode_items` and predictors
    by :func:`bayes_cluster.surveys.design_matrix.design_matrix`, standardised as
    :class:`~logistic.BayesianLogit` does, so every model of the package sees
    the same numbers.

    Parameters
    ----------
    frame : pandas.DataFrame
        One row per firm.
    items : sequence of str
        Categorical indicator columns of the latent classes (the Markusen items).
    predictors : sequence of str
        Predictors of the outcome (numeric, or categorical -> treatment dummies).
    outcome : str
        0/1 outcome column.
    collapse : {"three", "none"}
        ``"three"`` (default): Likert 1-2 / 3 / 4-5 -> disagree / neutral / agree;
        ``"none"``: the codes as given.

    Returns
    -------
    JointData
        Arrays and names.

    Raises
    ------
    ValueError
        Naming the column (and the first offending row) of any problem: a missing column,
        a missing outcome or predictor value, an outcome that is not 0/1, a bad item code,
        a constant predictor.
    """
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"frame must be a pandas DataFrame, got {type(frame).__name__}")
    items = tuple(items)
    if len(items) < 2:
        raise ValueError(f"the joint model needs at least two items, got {list(items)}")
    absent = [c for c in (outcome, *predictors, *items) if c not in frame.columns]
    if absent:
        raise ValueError(f"columns not in the data: {absent}")
    y, terms, design, center, scale = _outcome_and_design(frame, predictors, outcome)
    encoded = encode_items(frame, items, collapse=collapse)
    return JointData(
        firm_ids=np.asarray(encoded.firms),
        items=encoded.items,
        categories=tuple(encoded.category_labels),
        item_indicators=encoded.one_hot,
        item_codes=encoded.codes,
        predictors=terms,
        design=design,
        center=center,
        scale=scale,
        outcome=outcome,
        y=y,
    )


# -------------------------------------------------------------------------- priors


def _merge_priors(defaults: Mapping[str, Any], user: Mapping[str, Any] | None) -> dict[str, Any]:
    """``{**defaults, **user}``, each prior checked (names, families, positive values)."""
    from bayes_cluster.inference.priors import validate_prior

    user = dict(user or {})
    unknown = sorted(set(user) - set(defaults))
    if unknown:
        raise ValueError(f"unknown priors {unknown}; known: {sorted(defaults)}")
    merged: dict[str, Any] = {}
    for name, default in defaults.items():
        prior = user.get(name, default)
        if name in _CONCENTRATIONS:
            if isinstance(prior, bool) or not isinstance(prior, int | float) or prior <= 0:
                raise ValueError(f"prior {name} must be a positive number, got {prior!r}")
            merged[name] = float(prior)
        else:
            support = "positive" if name == "slope_spread" else "real"
            merged[name] = validate_prior(prior, name, support=support)
    return merged


def _prior_table(priors: Mapping[str, Any]) -> pd.DataFrame:
    from bayes_cluster.inference.priors import describe_prior

    rows = []
    for name, prior in priors.items():
        text = f"Dirichlet({prior:g} * 1)" if name in _CONCENTRATIONS else describe_prior(prior)
        rows.append({"parameter": name, "prior": text, "role": _PRIOR_ROLES[name]})
    return pd.DataFrame(rows).set_index("parameter")


_PRIOR_ROLES = {
    "intercept": "alpha_k: intercept of each class (log-odds at the predictor means)",
    "slopes": "beta: slope per standardised predictor",
    "class_concentration": "pi: class shares (symmetric Dirichlet)",
    "item_concentration": "theta_kj: response probabilities per class and item (Dirichlet)",
    "slope_spread": "tau: spread of class-specific slopes (class_slopes=True only)",
}


# ---------------------------------------------------------------------- relabelling


def _apply_permutation(values: np.ndarray, permutation: np.ndarray, axis: int) -> np.ndarray:
    """Reorder ``values`` along ``axis`` (the class axis, after chain and draw)."""
    index = permutation.reshape(permutation.shape + (1,) * (values.ndim - axis - 1))
    return np.take_along_axis(values, index, axis=axis)


def _chain_draw_permutation(
    pi: np.ndarray, theta: np.ndarray, reference: tuple[np.ndarray, np.ndarray]
) -> np.ndarray:
    """Relabel (chain, draw) draws with :func:`~latent_class.relabel_draws`."""
    n_chains, n_draws = pi.shape[:2]
    permutation = relabel_draws(
        pi.reshape(n_chains * n_draws, -1),
        theta.reshape(n_chains * n_draws, *theta.shape[2:]),
        reference=reference,
    )
    return permutation.reshape(n_chains, n_draws, -1)


# ------------------------------------------------------------------------- helpers


def _log_softmax(values: np.ndarray, axis: int = -1) -> np.ndarray:
    from scipy.special import logsumexp

    return values - logsumexp(values, axis=axis, keepdims=True)


def _bernoulli_logit_logp(y: np.ndarray, eta: np.ndarray) -> np.ndarray:
    """``log p(y | logit^-1(eta))``, stable: ``y eta - log(1 + e^eta)``."""
    return y * eta - np.logaddexp(0.0, eta)


def _class_coords(n_classes: int) -> list[int]:
    return list(range(1, n_classes + 1))


def _contrast_labels(class_names: Sequence[str]) -> list[str]:
    return [f"{name} - {class_names[0]}" for name in class_names[1:]]


def _hdi_columns(samples: np.ndarray, prob: float) -> tuple[float, float]:
    """Narrowest interval holding ``prob`` of the (flattened) draws."""
    ordered = np.sort(np.ravel(samples))
    n = ordered.size
    width = int(np.floor(prob * n))
    if width < 1 or width >= n:
        return float(ordered[0]), float(ordered[-1])
    spans = ordered[width:] - ordered[: n - width]
    start = int(np.argmin(spans))
    return float(ordered[start]), float(ordered[start + width])


#: compiled nutpie models, keyed by everything that fixes the graph (form, priors, shapes)
_NUTPIE_CACHE: dict[tuple, Any] = {}


def _compiled_model(key: tuple, build) -> tuple[Any, float]:
    """Compile ``build()`` with nutpie once per key; return it and the compile seconds."""
    import nutpie

    if key in _NUTPIE_CACHE:
        return _NUTPIE_CACHE[key], 0.0
    start = time.perf_counter()
    _NUTPIE_CACHE[key] = nutpie.compile_pymc_model(build())
    return _NUTPIE_CACHE[key], time.perf_counter() - start


def clear_compiled_cache() -> None:
    """Forget the compiled models (the next fit of each form compiles again)."""
    _NUTPIE_CACHE.clear()


def _sample_compiled(
    compiled: Any,
    *,
    draws: int,
    tune: int,
    chains: int,
    seed: int | None,
    target_accept: float,
    progressbar: bool,
) -> xr.DataTree:
    import nutpie

    return nutpie.sample(
        compiled,
        draws=draws,
        tune=tune,
        chains=chains,
        cores=min(chains, 2),
        seed=seed,
        target_accept=target_accept,
        progress_bar=progressbar,
        save_warmup=False,
    )


def _named_classes(item_probabilities: np.ndarray, data: JointData) -> list[str]:
    """Class names: ``"1 (Marshallian)"`` when the items are Markusen items, else ``"1"``."""
    names = [str(k) for k in _class_coords(item_probabilities.shape[0])]
    if not set(data.items) <= set(MARKUSEN_ITEMS):
        return names
    from bayes_cluster.surveys.markusen import best_markusen_type, match_markusen_types

    # categories above the scale midpoint agree, below disagree (1..5 or collapsed 1..3)
    scores = match_markusen_types(item_probabilities, list(data.items))
    types = best_markusen_type(scores, as_names=True)
    return [f"{n} ({t})" for n, t in zip(names, types, strict=True)]


# ---------------------------------------------------------------------- the models


class _FittedModel:
    """Shared result accessors of :class:`JointLatentClassLogit` and :class:`ClassLogit`."""

    idata_: xr.DataTree | None = None
    data_: JointData | None = None
    class_names_: list[str]
    hdi_prob: float = 0.94
    fit_seconds_: float = float("nan")
    compile_seconds_: float = float("nan")

    def _check_fitted(self) -> xr.DataTree:
        if self.idata_ is None:
            raise RuntimeError(f"{type(self).__name__} is not fitted yet: call fit() first")
        return self.idata_

    def save(self, path: str | Path) -> Path:
        """Write the fitted DataTree to NetCDF (h5netcdf), model settings in its attrs.

        The file is written under a temporary name and moved into place, so a failure
        never leaves a half-written file.  Read it back with
        ``xarray.open_datatree(path, engine="h5netcdf")``.

        Parameters
        ----------
        path : str or pathlib.Path
            Destination ``.nc`` file.

        Returns
        -------
        pathlib.Path
            The written path.
        """
        idata = self._check_fitted()
        path = Path(path)
        settings = {
            "model_class": type(self).__name__,
            "n_classes": str(getattr(self, "n_classes", "")),
            "class_slopes": str(getattr(self, "class_slopes", False)),
            "collapse": str(getattr(self, "collapse", "")),
            "predictors": ", ".join(self.predictors),
            "outcome": self.outcome,
            "priors": repr(self.priors),
        }
        tree = idata.copy()
        tree.attrs.update(settings)
        temporary = path.with_name(f".{path.name}.tmp")
        try:
            tree.to_netcdf(temporary, engine="h5netcdf")
            temporary.replace(path)
        finally:
            temporary.unlink(missing_ok=True)
        return path

    def diagnostics(self):
        """Convergence checks of the fit (:func:`~diagnostics.mcmc_diagnostics`).

        Returns
        -------
        bayes_cluster.inference.diagnostics.MCMCDiagnostics
            Verdict, R-hat/ESS table, divergences.
        """
        from bayes_cluster.inference.diagnostics import mcmc_diagnostics

        idata = self._check_fitted()
        names = [
            v for v in ("pi", "theta", "alpha", "beta", "tau") if v in idata["posterior"].data_vars
        ]
        return mcmc_diagnostics(idata, var_names=names)

    def loo(self):
        """PSIS-LOO of the export likelihood (``log_likelihood/export``).

        Returns
        -------
        arviz_stats.ELPDData
            ELPD, its standard error and the Pareto k of each firm.
        """
        import arviz_stats as azs

        return azs.loo(self._check_fitted(), var_name="export")

    def fitted_probabilities(self) -> np.ndarray:
        r"""Posterior draws of each firm's probability of ``outcome = 1``.

        For the joint model this is :math:`p(y_i = 1 \mid \mathbf{u}_i, \mathbf{x}_i)`, the
        class mixed over :math:`p(k \\mid \\mathbf{u}_i)`; for :class:`ClassLogit` the
        probability given what it conditions on.  Read off the stored export
        log-likelihood (``p`` for a firm with ``y = 1``, ``1 - p`` for ``y = 0``).

        Returns
        -------
        numpy.ndarray
            Shape (chain, draw, firm).
        """
        idata = self._check_fitted()
        outcome = self.data_.outcome if self.data_ is not None else "export"
        log_likelihood = idata["log_likelihood"][outcome].transpose(CHAIN, DRAW, FIRM)
        likelihood = np.exp(log_likelihood.to_numpy())
        y = idata["observed_data"][outcome].to_numpy()
        return np.where(y == 1, likelihood, 1.0 - likelihood)

    def coefficient_draws(self) -> xr.DataArray:
        """Posterior draws of the coefficients on the original predictor scale.

        Returns
        -------
        xarray.DataArray
            Dims (chain, draw, term): one ``Intercept`` per class when there are classes
            (``Intercept[<class>]``, log-odds at predictors = 0), then the slopes (per unit
            of each predictor).  With class-specific slopes, the common slope ``workers``
            is followed by each class's ``workers[<class>]``, and each class's intercept
            uses its own slopes.
        """
        idata = self._check_fitted()
        data = self.data_
        assert data is not None
        posterior = idata["posterior"]
        beta = posterior["beta"].transpose(CHAIN, DRAW, ..., PREDICTOR).to_numpy()
        alpha = posterior["alpha"].transpose(CHAIN, DRAW, ...).to_numpy()
        if alpha.ndim == 2:
            alpha = alpha[..., None]
        class_slopes = beta.ndim == 4
        if class_slopes:  # (chain, draw, class, predictor)
            per_class = beta / data.scale
            common = posterior["beta_common"].transpose(CHAIN, DRAW, PREDICTOR).to_numpy()
            slopes = common / data.scale
            intercepts = alpha - (per_class * data.center).sum(axis=-1)
        else:
            slopes = beta / data.scale
            intercepts = alpha - (slopes * data.center).sum(axis=-1, keepdims=True)
        if intercepts.shape[-1] == 1:
            names = [INTERCEPT]
        else:
            names = [f"{INTERCEPT}[{name}]" for name in self.class_names_]
        names += list(data.predictors)
        pieces = [intercepts, slopes]
        if class_slopes:
            for k, name in enumerate(self.class_names_):
                pieces.append(per_class[:, :, k, :])
                names += [f"{term}[{name}]" for term in data.predictors]
        return xr.DataArray(
            np.concatenate(pieces, axis=-1),
            dims=(CHAIN, DRAW, TERM),
            coords={TERM: names},
            name="coefficient",
        )

    def class_effect(self) -> xr.DataArray | None:
        """Posterior draws of the class-effect contrasts ``alpha_k - alpha_1`` (log-odds).

        Returns
        -------
        xarray.DataArray or None
            Dims (chain, draw, class_contrast); None for a model without classes.
        """
        posterior = self._check_fitted()["posterior"]
        if "class_effect" not in posterior.data_vars:
            return None
        return posterior["class_effect"]

    def summary(self, hdi_prob: float | None = None) -> pd.DataFrame:
        """Posterior summary of the coefficients (original scale) and class contrasts.

        Parameters
        ----------
        hdi_prob : float, optional
            Probability of the highest-density intervals (default :attr:`hdi_prob`).

        Returns
        -------
        pandas.DataFrame
            Indexed by term; columns ``mean``, ``sd``, ``hdi_lower``, ``hdi_upper``,
            ``hdi_width``, ``prob_positive``, ``r_hat``, ``ess_bulk``.
        """
        import arviz_stats as azs

        prob = self.hdi_prob if hdi_prob is None else float(hdi_prob)
        pieces: list[tuple[str, np.ndarray]] = []
        coefficients = self.coefficient_draws()
        for term in coefficients[TERM].to_numpy():
            pieces.append((str(term), coefficients.sel({TERM: term}).to_numpy()))
        contrast = self.class_effect()
        if contrast is not None:
            for label in contrast[CLASS_CONTRAST].to_numpy():
                values = contrast.sel({CLASS_CONTRAST: label}).to_numpy()
                pieces.append((f"class effect: {label}", values))
        rows = []
        for name, values in pieces:
            lower, upper = _hdi_columns(values, prob)
            rows.append(
                {
                    TERM: name,
                    "mean": float(values.mean()),
                    "sd": float(values.std(ddof=1)),
                    "hdi_lower": lower,
                    "hdi_upper": upper,
                    "hdi_width": upper - lower,
                    "prob_positive": float((values > 0).mean()),
                    "r_hat": float(azs.rhat(values)),
                    "ess_bulk": float(azs.ess(values)),
                }
            )
        return pd.DataFrame(rows).set_index(TERM)


class JointLatentClassLogit(_FittedModel):
    r"""Latent class mixture over the items and logit for the outcome, sharing each firm's class.

    .. math::

        \pi &\sim \mathrm{Dirichlet}(a_\pi \mathbf{1}_K), \qquad
        \theta_{kj\cdot} \sim \mathrm{Dirichlet}(a_\theta \mathbf{1}_{C}), \\
        \alpha_k &\sim p_\alpha, \qquad \beta_p \sim p_\beta
        \quad (\text{standardised predictors } \tilde x_{ip}), \\
        \eta_{ik} &= \alpha_k + \tilde{\mathbf{x}}_i^\top \beta_k, \qquad
        \beta_k = \beta \text{ or } \beta + \tau \odot z_k,\;
        z_{kp} \sim N(0, 1),\; \tau_p \sim p_\tau
        \quad(\text{class\_slopes}), \\
        p(\mathbf{u}_i, y_i) &= \sum_{k=1}^{K} \pi_k
        \prod_{j} \theta_{k j u_{ij}}\;
        \mathrm{Bernoulli}\!\left(y_i \mid \operatorname{logit}^{-1}\eta_{ik}\right).

    The class :math:`z_i` is summed out (``logsumexp``), so NUTS samples only continuous
    parameters; the log of the last line, summed over firms, is the model's likelihood
    (a ``pm.Potential``).  Missing item responses drop out of the product over ``j``.

    Priors are symmetric in the class labels, so the posterior has ``K!`` equivalent modes.
    After sampling, every draw is relabelled
    (:func:`bayes_cluster.estimators.latent_class.relabel_draws`) to match a reference
    item profile — the EM fit (classes in decreasing share, poLCA's order) unless one is
    given — and ``pi``, ``theta``, ``alpha`` and class slopes are permuted together.  The
    class-effect contrasts :math:`\alpha_k - \alpha_1` (``class_effect``) answer *does the
    cluster pattern matter for export orientation?*; they do not depend on the
    standardisation (the slopes are shared), except with class-specific slopes, where they
    are contrasts at the predictor means.

    Stored per firm: ``log_likelihood/export`` is
    :math:`\log p(y_i \mid \mathbf{u}_i, \mathbf{x}_i)` (the export likelihood conditional on
    the items, the quantity compared by LOO with the other export models) and
    ``log_likelihood/joint`` is :math:`\log p(\mathbf{u}_i, y_i \mid \mathbf{x}_i)`;
    ``class_membership/class_probability`` is :math:`p(z_i = k \mid \mathbf{u}_i, y_i)` per
    draw; ``posterior_predictive/export`` draws :math:`y_i` from
    :math:`p(y_i \mid \mathbf{u}_i, \mathbf{x}_i)`.

    Parameters
    ----------
    n_classes : int
        Number of latent classes ``K`` (>= 2).
    items : sequence of str
        Item columns (default the twelve Markusen items).
    predictors : sequence of str
        Numeric predictors of the outcome.
    outcome : str
        0/1 outcome column.
    class_slopes : bool
        Let the slopes vary by class, partially pooled (non-centred) around a common slope.
    collapse : {"three", "none"}
        ``"three"`` (default): Likert 1-2 / 3 / 4-5 as disagree / neutral / agree (as the
        latent class model); ``"none"``: the codes as given.
    priors : mapping, optional
        Overrides of :data:`DEFAULT_PRIORS`, e.g. ``{"intercept": {"dist": "Normal",
        "mu": 0, "sigma": 2.5}, "item_concentration": 0.5}``.
    hdi_prob : float
        Probability of the reported highest-density intervals.

    Examples
    --------
    >>> from bayes_cluster.surveys.simulate import simulate_tumang
    >>> frame, truth = simulate_tumang(60, seed=1, class_effects={"Hub-and-Spoke": 1.5})
    >>> model = JointLatentClassLogit(n_classes=2)
    >>> model.prior_summary().loc["slopes", "prior"]
    'StudentT(nu=7, mu=0, sigma=1)'
    >>> idata = model.fit(frame, draws=500, tune=500, chains=2, random_seed=1)  # doctest: +SKIP
    >>> model.summary().loc["class effect: 2 (Hub-and-Spoke) - 1 (Marshallian)"]  # doctest: +SKIP
    """

    def __init__(
        self,
        n_classes: int = 2,
        *,
        items: Sequence[str] = MARKUSEN_ITEMS,
        predictors: Sequence[str] = TUMANG_PREDICTORS,
        outcome: str = "export",
        class_slopes: bool = False,
        collapse: Literal["three", "none"] = "three",
        priors: Mapping[str, Any] | None = None,
        hdi_prob: float = 0.94,
    ) -> None:
        if isinstance(n_classes, bool) or int(n_classes) != n_classes or n_classes < 2:
            raise ValueError(
                f"n_classes must be a whole number >= 2 (a class effect needs two classes), "
                f"got {n_classes!r}"
            )
        if n_classes > 5:
            raise ValueError(
                f"n_classes must be at most 5 (relabelling tries K!), got {n_classes}"
            )
        if not 0 < hdi_prob < 1:
            raise ValueError(f"hdi_prob must be in (0, 1), got {hdi_prob!r}")
        self.n_classes = int(n_classes)
        self.items = tuple(items)
        self.predictors = tuple(predictors)
        self.outcome = outcome
        self.class_slopes = bool(class_slopes)
        if collapse not in ("three", "none"):
            raise ValueError(f"collapse must be 'three' or 'none', got {collapse!r}")
        self.collapse = collapse
        self.hdi_prob = float(hdi_prob)
        self.priors = _merge_priors(DEFAULT_PRIORS, priors)
        self.class_names_ = [str(k) for k in _class_coords(self.n_classes)]

    default_priors: Mapping[str, Any] = DEFAULT_PRIORS

    def prior_summary(self) -> pd.DataFrame:
        """Return the priors in use, one row per parameter (as rstanarm's ``prior_summary``).

        Returns
        -------
        pandas.DataFrame
            Columns ``prior`` and ``role``, indexed by parameter name.
        """
        return _prior_table(self.priors)

    def prepare(self, frame: pd.DataFrame) -> JointData:
        """Validate ``frame`` and return the model's arrays (:func:`prepare_joint_data`)."""
        return prepare_joint_data(
            frame,
            items=self.items,
            predictors=self.predictors,
            outcome=self.outcome,
            collapse=self.collapse,
        )

    def build_model(self, frame: pd.DataFrame | JointData):
        """Build the PyMC model (class marginalised; data in ``pm.Data`` containers).

        Parameters
        ----------
        frame : pandas.DataFrame or JointData
            The survey.

        Returns
        -------
        pymc.Model
            With ``pm.Data`` ``item_indicators``, ``design`` and ``y`` (swappable with
            nutpie's ``with_data`` for data of the same shape) and the potential
            ``likelihood``.
        """
        import pymc as pm
        import pytensor.tensor as pt

        data = frame if isinstance(frame, JointData) else self.prepare(frame)
        n, n_items, n_categories = data.item_indicators.shape
        coords = {
            FIRM: list(data.firm_ids),
            ITEM: list(data.items),
            CATEGORY: list(data.categories),
            LATENT_CLASS: _class_coords(self.n_classes),
            PREDICTOR: list(data.predictors),
        }
        shares_a = self.priors["class_concentration"]
        theta_a = self.priors["item_concentration"]
        with pm.Model(coords=coords) as model:
            indicators = pm.Data(
                "item_indicators", data.item_indicators, dims=(FIRM, ITEM, CATEGORY)
            )
            design = pm.Data("design", data.design, dims=(FIRM, PREDICTOR))
            y = pm.Data("y", data.y, dims=FIRM)
            pi = pm.Dirichlet("pi", a=np.full(self.n_classes, shares_a), dims=LATENT_CLASS)
            theta = pm.Dirichlet(
                "theta",
                a=np.full((self.n_classes, n_items, n_categories), theta_a),
                dims=(LATENT_CLASS, ITEM, CATEGORY),
            )
            alpha = make_prior_variable("alpha", self.priors["intercept"], dims=LATENT_CLASS)
            eta = _linear_predictor(self, design, alpha, self.n_classes)  # (firm, class)
            # log p(u_i | z_i = k): matrix product of one-hot responses and log theta
            log_items = pt.dot(
                indicators.reshape((n, n_items * n_categories)),
                pt.log(theta).reshape((self.n_classes, n_items * n_categories)).T,
            )
            log_outcome = y[:, None] * eta - pt.softplus(eta)
            pm.Potential(
                "likelihood",
                pt.logsumexp(pt.log(pi)[None, :] + log_items + log_outcome, axis=1).sum(),
            )
        return model

    def sample_prior_predictive(
        self, frame: pd.DataFrame, draws: int = 500, random_seed: int | None = None
    ) -> xr.DataTree:
        r"""Draw parameters from the priors and surveys from the model, given the predictors.

        The full generative process of the joint model, with NumPy (no compiling): for each
        prior draw, every firm gets a class :math:`z_i \sim \mathrm{Categorical}(\pi)`,
        answers :math:`u_{ij} \sim \mathrm{Categorical}(\theta_{z_i j})` and an outcome
        :math:`y_i \sim \mathrm{Bernoulli}(\operatorname{logit}^{-1}\eta_{i z_i})` at its
        observed predictors.  Use it to check that the priors allow plausible export
        shares before fitting.

        Parameters
        ----------
        frame : pandas.DataFrame
            The survey (its predictors are used; items and outcome only for validation).
        draws : int
            Number of prior draws.
        random_seed : int, optional
            Seed.

        Returns
        -------
        xarray.DataTree
            Groups ``prior`` (``pi``, ``theta``, ``alpha``, ``beta``) and
            ``prior_predictive`` (the outcome and ``items``, category codes 1..C), with a
            single chain.
        """
        from scipy.special import expit

        from bayes_cluster.inference.priors import sample_prior

        data = self.prepare(frame)
        rng = np.random.default_rng(random_seed)
        n, n_items, n_categories = data.item_indicators.shape
        k = self.n_classes
        pi = rng.dirichlet(np.full(k, self.priors["class_concentration"]), size=draws)
        theta = rng.dirichlet(
            np.full(n_categories, self.priors["item_concentration"]), size=(draws, k, n_items)
        )
        alpha = sample_prior(self.priors["intercept"], (draws, k), rng)
        beta = sample_prior(self.priors["slopes"], (draws, len(data.predictors)), rng)
        if self.class_slopes:
            tau = sample_prior(self.priors["slope_spread"], (draws, len(data.predictors)), rng)
            slopes = beta[:, None, :] + tau[:, None, :] * rng.normal(
                size=(draws, k, len(data.predictors))
            )
        else:
            slopes = np.broadcast_to(beta[:, None, :], (draws, k, len(data.predictors)))
        classes = (rng.random((draws, n, 1)) > pi.cumsum(axis=1)[:, None, :]).sum(axis=-1)
        classes = np.minimum(classes, k - 1)  # (draw, firm)
        draw_index = np.arange(draws)[:, None]
        firm_theta = theta[draw_index, classes]  # (draw, firm, item, category)
        uniform = rng.random((draws, n, n_items, 1))
        items = 1 + np.minimum(
            (uniform > firm_theta.cumsum(axis=-1)).sum(axis=-1), n_categories - 1
        )
        eta = alpha[draw_index, classes] + np.einsum(
            "np,dnp->dn", data.design, slopes[draw_index, classes]
        )
        outcome = (rng.random((draws, n)) < expit(eta)).astype(np.int64)
        coords = {
            CHAIN: [0],
            DRAW: np.arange(draws),
            LATENT_CLASS: _class_coords(k),
            ITEM: list(data.items),
            CATEGORY: list(data.categories),
            PREDICTOR: list(data.predictors),
            FIRM: list(data.firm_ids),
        }
        prior = xr.Dataset(
            {
                "pi": ((CHAIN, DRAW, LATENT_CLASS), pi[None]),
                "theta": ((CHAIN, DRAW, LATENT_CLASS, ITEM, CATEGORY), theta[None]),
                "alpha": ((CHAIN, DRAW, LATENT_CLASS), alpha[None]),
                "beta": ((CHAIN, DRAW, PREDICTOR), beta[None]),
            }
        )
        predictive = xr.Dataset(
            {
                data.outcome: ((CHAIN, DRAW, FIRM), outcome[None]),
                "items": ((CHAIN, DRAW, FIRM, ITEM), items[None]),
            }
        )
        tree = xr.DataTree.from_dict(
            {
                "prior": prior.assign_coords({d: coords[d] for d in prior.dims}),
                "prior_predictive": predictive.assign_coords(
                    {d: coords[d] for d in predictive.dims}
                ),
            }
        )
        tree.attrs.update({"model": "JointLatentClassLogit", "seed": str(random_seed)})
        return tree

    def _compile(self, data: JointData):
        key = (
            "joint",
            self.n_classes,
            self.class_slopes,
            repr(self.priors),
            data.item_indicators.shape,
            data.design.shape,
        )
        updates = {"item_indicators": data.item_indicators, "design": data.design, "y": data.y}
        compiled, self.compile_seconds_ = _compiled_model(key, lambda: self.build_model(data))
        return compiled.with_data(**updates)

    def fit(
        self,
        frame: pd.DataFrame,
        *,
        draws: int = 1000,
        tune: int = 1000,
        chains: int = 4,
        random_seed: int | None = None,
        target_accept: float = 0.9,
        reference: tuple[np.ndarray, np.ndarray] | None = None,
        em_starts: int = 50,
        progressbar: bool = False,
    ) -> xr.DataTree:
        """Sample the posterior with nutpie, relabel the classes and add the derived groups.

        The model is compiled once per data shape and reused for new data of the same
        shape (nutpie ``with_data``), so a simulation study pays the compile time once.

        Parameters
        ----------
        frame : pandas.DataFrame
            The survey.
        draws, tune, chains : int
            Sampler settings.
        random_seed : int, optional
            Seed of the sampler and of the EM reference fit.
        target_accept : float
            NUTS target acceptance rate.
        reference : tuple of numpy.ndarray, optional
            ``(class_shares, item_probabilities)`` of shapes (class,) and
            (class, item, category) the classes are aligned to; default the EM fit of the
            items (classes in decreasing share).
        em_starts : int
            Random starts of the EM reference fit.
        progressbar : bool
            Show nutpie's progress bar.

        Returns
        -------
        xarray.DataTree
            Groups ``posterior`` (``pi``, ``theta``, ``alpha``, ``beta``, ``class_effect``;
            relabelled), ``sample_stats``, ``log_likelihood`` (``export``, ``joint``),
            ``posterior_predictive``, ``observed_data``, ``class_membership``; provenance in
            ``attrs``.  Also kept as :attr:`idata_`.
        """
        data = self.prepare(frame)
        if reference is None:
            reference = _em_reference(data, self.n_classes, em_starts, random_seed)
        reference = _check_reference(reference, self.n_classes, data)
        compiled = self._compile(data)
        start = time.perf_counter()
        raw = _sample_compiled(
            compiled,
            draws=draws,
            tune=tune,
            chains=chains,
            seed=random_seed,
            target_accept=target_accept,
            progressbar=progressbar,
        )
        self.fit_seconds_ = time.perf_counter() - start
        self.class_names_ = _named_classes(reference[1], data)
        self.data_ = data
        self.idata_ = self._assemble(raw, data, reference, frame, random_seed)
        return self.idata_

    def _assemble(
        self,
        raw: xr.DataTree,
        data: JointData,
        reference: tuple[np.ndarray, np.ndarray],
        frame: pd.DataFrame,
        seed: int | None,
    ) -> xr.DataTree:
        from scipy.special import expit, logsumexp

        from bayes_cluster.inference.provenance import provenance

        posterior = raw["posterior"].to_dataset()
        pi = posterior["pi"].transpose(CHAIN, DRAW, LATENT_CLASS).to_numpy()
        theta = posterior["theta"].transpose(CHAIN, DRAW, LATENT_CLASS, ITEM, CATEGORY).to_numpy()
        alpha = posterior["alpha"].transpose(CHAIN, DRAW, LATENT_CLASS).to_numpy()
        permutation = _chain_draw_permutation(pi, theta, reference)
        pi = _apply_permutation(pi, permutation, axis=2)
        theta = _apply_permutation(theta, permutation, axis=2)
        alpha = _apply_permutation(alpha, permutation, axis=2)
        if self.class_slopes:
            beta_common = posterior["beta"].transpose(CHAIN, DRAW, PREDICTOR).to_numpy()
            tau = posterior["tau"].transpose(CHAIN, DRAW, PREDICTOR).to_numpy()
            z = posterior["beta_offset"].transpose(CHAIN, DRAW, LATENT_CLASS, PREDICTOR)
            z = _apply_permutation(z.to_numpy(), permutation, axis=2)
            beta = beta_common[:, :, None, :] + tau[:, :, None, :] * z
        else:
            beta = posterior["beta"].transpose(CHAIN, DRAW, PREDICTOR).to_numpy()
        n_chains, n_draws = pi.shape[:2]

        # per-draw, per-firm, per-class pieces of the likelihood
        flat = data.item_indicators.reshape(data.n_firms, -1)
        log_theta = np.log(theta).reshape(n_chains, n_draws, self.n_classes, -1)
        log_items = np.einsum("nf,cdkf->cdnk", flat, log_theta)
        if self.class_slopes:
            eta = alpha[:, :, None, :] + np.einsum("np,cdkp->cdnk", data.design, beta)
        else:
            eta = alpha[:, :, None, :] + np.einsum("np,cdp->cdn", data.design, beta)[..., None]
        log_prior_class = np.log(pi)[:, :, None, :] + log_items  # log pi_k p(u_i | k)
        log_outcome = _bernoulli_logit_logp(data.y[None, None, :, None], eta)
        log_joint_k = log_prior_class + log_outcome
        joint = logsumexp(log_joint_k, axis=-1)
        export = joint - logsumexp(log_prior_class, axis=-1)
        class_probability = np.exp(log_joint_k - joint[..., None])
        # y_rep ~ p(y | items, x): the predictive the export log-likelihood scores
        p_export = (np.exp(_log_softmax(log_prior_class)) * expit(eta)).sum(axis=-1)
        rng = np.random.default_rng(seed)
        y_rep = (rng.random(p_export.shape) < p_export).astype(np.int64)

        coords_class = _class_coords(self.n_classes)
        contrast = alpha[..., 1:] - alpha[..., :1]
        variables: dict[str, xr.DataArray] = {
            "pi": xr.DataArray(pi, dims=(CHAIN, DRAW, LATENT_CLASS)),
            "theta": xr.DataArray(theta, dims=(CHAIN, DRAW, LATENT_CLASS, ITEM, CATEGORY)),
            "alpha": xr.DataArray(alpha, dims=(CHAIN, DRAW, LATENT_CLASS)),
            "class_effect": xr.DataArray(contrast, dims=(CHAIN, DRAW, CLASS_CONTRAST)),
        }
        if self.class_slopes:
            variables["beta"] = xr.DataArray(beta, dims=(CHAIN, DRAW, LATENT_CLASS, PREDICTOR))
            variables["beta_common"] = xr.DataArray(beta_common, dims=(CHAIN, DRAW, PREDICTOR))
            variables["tau"] = xr.DataArray(tau, dims=(CHAIN, DRAW, PREDICTOR))
        else:
            variables["beta"] = xr.DataArray(beta, dims=(CHAIN, DRAW, PREDICTOR))
        coords = {
            CHAIN: np.arange(n_chains),
            DRAW: np.arange(n_draws),
            LATENT_CLASS: coords_class,
            ITEM: list(data.items),
            CATEGORY: list(data.categories),
            PREDICTOR: list(data.predictors),
            CLASS_CONTRAST: _contrast_labels(self.class_names_),
            FIRM: list(data.firm_ids),
        }

        def dataset(values: dict[str, xr.DataArray]) -> xr.Dataset:
            ds = xr.Dataset(values)
            return ds.assign_coords({k: v for k, v in coords.items() if _uses(ds, k, v)})

        attrs = provenance(
            seed=seed,
            data=frame,
            model="JointLatentClassLogit",
            n_classes=self.n_classes,
            class_slopes=self.class_slopes,
            priors=repr(self.priors),
            relabelled="per draw, to the reference profile (latent_class.relabel_draws)",
            sampler="nutpie",
            class_names="; ".join(self.class_names_),
        )
        groups = {
            "posterior": dataset(variables),
            "sample_stats": raw["sample_stats"].to_dataset(),
            "log_likelihood": dataset(
                {
                    "export": xr.DataArray(export, dims=(CHAIN, DRAW, FIRM)),
                    "joint": xr.DataArray(joint, dims=(CHAIN, DRAW, FIRM)),
                }
            ),
            "posterior_predictive": dataset(
                {data.outcome: xr.DataArray(y_rep, dims=(CHAIN, DRAW, FIRM))}
            ),
            "observed_data": dataset({data.outcome: xr.DataArray(data.y, dims=(FIRM,))}),
            "class_membership": dataset(
                {
                    "class_probability": xr.DataArray(
                        class_probability, dims=(CHAIN, DRAW, FIRM, LATENT_CLASS)
                    )
                }
            ),
        }
        if data.outcome != "export":  # LOO reads the outcome's name
            groups["log_likelihood"] = groups["log_likelihood"].rename({"export": data.outcome})
        tree = xr.DataTree.from_dict(groups)
        tree.attrs.update(attrs)
        return tree

    def loo(self):
        """PSIS-LOO of the export likelihood conditional on the items.

        Returns
        -------
        arviz_stats.ELPDData
            Comparable with the ELPD of any model of the outcome given items/predictors.
        """
        import arviz_stats as azs

        data = self.data_
        return azs.loo(self._check_fitted(), var_name=data.outcome if data else "export")

    def class_probabilities(self) -> pd.DataFrame:
        r"""Each firm's posterior class probabilities :math:`p(z_i = k \mid \text{data})`.

        Returns
        -------
        pandas.DataFrame
            Firms by class name, averaged over draws (rows sum to one).
        """
        idata = self._check_fitted()
        probabilities = idata["class_membership"]["class_probability"].mean((CHAIN, DRAW))
        return pd.DataFrame(
            probabilities.transpose(FIRM, LATENT_CLASS).to_numpy(),
            index=pd.Index(idata["class_membership"][FIRM].to_numpy(), name=FIRM),
            columns=self.class_names_,
        )


def _uses(ds: xr.Dataset, name: str, value: Any) -> bool:
    dim = value[0] if isinstance(value, tuple) else name
    return dim in ds.dims


def _linear_predictor(model: Any, design, alpha, n_classes: int):
    """``eta[i, k] = alpha_k + x_i' beta_k`` (firm, class) in PyMC, shared by both models."""
    import pymc as pm
    import pytensor.tensor as pt

    beta = make_prior_variable("beta", model.priors["slopes"], dims=PREDICTOR)
    if getattr(model, "class_slopes", False):
        tau = make_prior_variable("tau", model.priors["slope_spread"], dims=PREDICTOR)
        offset = pm.Normal("beta_offset", 0.0, 1.0, dims=(LATENT_CLASS, PREDICTOR))
        beta_k = beta[None, :] + tau[None, :] * offset  # non-centred partial pooling
        return alpha[None, :] + pt.dot(design, beta_k.T)
    if n_classes == 0:  # one intercept
        return (alpha + pt.dot(design, beta))[:, None]
    return alpha[None, :] + pt.dot(design, beta)[:, None]


def _em_reference(
    data: JointData, n_classes: int, n_starts: int, seed: int | None
) -> tuple[np.ndarray, np.ndarray]:
    """EM estimate of ``(pi, theta)``, classes in decreasing share (the relabelling target)."""
    em = _fit_em(data, n_classes, n_starts, seed)
    return np.asarray(em.class_shares_), em.item_probabilities_.to_numpy()


def _check_reference(
    reference: tuple[np.ndarray, np.ndarray], n_classes: int, data: JointData
) -> tuple[np.ndarray, np.ndarray]:
    if not isinstance(reference, tuple | list) or len(reference) != 2:
        raise ValueError("reference must be a pair (class_shares, item_probabilities)")
    shares = np.asarray(reference[0], dtype=float)
    theta = np.asarray(reference[1], dtype=float)
    expected = (n_classes, len(data.items), len(data.categories))
    if shares.shape != (n_classes,) or theta.shape != expected:
        raise ValueError(
            f"reference must be class shares of shape ({n_classes},) and item probabilities "
            f"of shape {expected}; got {shares.shape} and {theta.shape}"
        )
    return shares, theta


def _fit_em(data: JointData, n_classes: int, n_starts: int, seed: int | None):
    from bayes_cluster.estimators.latent_class_em import LatentClassEM

    codes = pd.DataFrame(data.item_codes, columns=list(data.items)).replace(0, np.nan)
    em = LatentClassEM(
        n_classes, n_starts=n_starts, random_state=seed, n_categories=len(data.categories)
    )
    return em.fit(codes)


def classification_error_matrix(posterior: np.ndarray, modal: np.ndarray) -> np.ndarray:
    r"""Step-1 classification-error matrix of modal assignment (Vermunt 2010, eq. 6).

    .. math::

        D_{ks} = P(W = s \mid X = k)
        = \frac{\sum_i p(k \mid \mathbf{u}_i)\, [w_i = s]}{\sum_i p(k \mid \mathbf{u}_i)}

    Parameters
    ----------
    posterior : numpy.ndarray
        Shape (firm, class): step-1 posterior class probabilities.
    modal : numpy.ndarray
        Shape (firm,): assigned class, 1..K.

    Returns
    -------
    numpy.ndarray
        Shape (class, class); row ``k`` is the distribution of the assigned class of firms
        truly in class ``k`` (rows sum to one).

    Examples
    --------
    >>> classification_error_matrix(np.array([[0.9, 0.1], [0.2, 0.8]]), np.array([1, 2]))
    array([[0.81818182, 0.18181818],
           [0.11111111, 0.88888889]])
    """
    posterior = np.asarray(posterior, dtype=float)
    modal = np.asarray(modal)
    n_classes = posterior.shape[1]
    if modal.shape != (posterior.shape[0],):
        raise ValueError(
            f"modal has shape {modal.shape}; expected ({posterior.shape[0]},) like posterior"
        )
    if modal.min() < 1 or modal.max() > n_classes:
        raise ValueError(f"modal classes must be in 1..{n_classes}")
    assigned = np.eye(n_classes)[modal - 1]  # (firm, s)
    return (posterior.T @ assigned) / posterior.sum(axis=0)[:, None]


class ClassLogit(_FittedModel):
    r"""Export logit with the class as an *observed* predictor: the comparison models.

    With the same priors and parameterisation as :class:`JointLatentClassLogit`'s logit:

    * ``classes=None`` — no class:
      :math:`\eta_i = \alpha + \tilde{\mathbf{x}}_i^\top\beta`;
    * ``classes=w`` — the two-step model, the assigned (modal) class as a fixed predictor:
      :math:`\eta_i = \alpha_{w_i} + \tilde{\mathbf{x}}_i^\top\beta`, which treats
      :math:`w_i` as the true class;
    * ``classes=w, error_matrix=D`` — the maximum-likelihood three-step correction of
      Vermunt (2010): the true class :math:`X_i` stays latent, with the step-1
      classification errors :math:`D_{ks} = P(W=s \mid X=k)` held fixed,

      .. math::

          p(w_i, y_i) = \sum_k \pi_k\, D_{k w_i}\,
          \mathrm{Bernoulli}(y_i \mid \operatorname{logit}^{-1}(\alpha_k +
          \tilde{\mathbf{x}}_i^\top\beta)),
          \qquad \pi \sim \mathrm{Dirichlet}(a_\pi \mathbf 1_K).

      Step 3 here is Bayesian (NUTS) rather than maximum likelihood; what the correction
      does not propagate is the uncertainty of :math:`D` and of the step-1 parameters.

    ``log_likelihood/export`` is :math:`\log p(y_i \mid \cdot)` given what the model
    conditions on (:math:`\mathbf{x}_i`, and :math:`w_i` when given), so ELPDs compare with
    the joint model's export likelihood conditional on the items.

    Parameters
    ----------
    n_classes : int
        Number of classes of ``classes`` (ignored when fitted without classes).
    predictors, outcome, priors, hdi_prob
        As in :class:`JointLatentClassLogit` (priors: ``intercept``, ``slopes``,
        ``class_concentration``).
    """

    def __init__(
        self,
        n_classes: int = 2,
        *,
        predictors: Sequence[str] = TUMANG_PREDICTORS,
        outcome: str = "export",
        priors: Mapping[str, Any] | None = None,
        hdi_prob: float = 0.94,
    ) -> None:
        if isinstance(n_classes, bool) or int(n_classes) != n_classes or n_classes < 1:
            raise ValueError(f"n_classes must be a whole number >= 1, got {n_classes!r}")
        self.n_classes = int(n_classes)
        self.predictors = tuple(predictors)
        self.outcome = outcome
        self.hdi_prob = float(hdi_prob)
        defaults = {k: DEFAULT_PRIORS[k] for k in ("intercept", "slopes", "class_concentration")}
        self.priors = _merge_priors(defaults, priors)
        self.class_names_ = [str(k) for k in _class_coords(self.n_classes)]
        self.mode_: str = "no_class"

    def prior_summary(self) -> pd.DataFrame:
        """Return the priors in use, one row per parameter.

        Returns
        -------
        pandas.DataFrame
            Columns ``prior`` and ``role``.
        """
        return _prior_table(self.priors)

    def _prepare(self, frame: pd.DataFrame) -> JointData:
        """Validate outcome and predictors (no items: the class comes from outside)."""
        if not isinstance(frame, pd.DataFrame):
            raise TypeError(f"frame must be a pandas DataFrame, got {type(frame).__name__}")
        y, terms, design, center, scale = _outcome_and_design(frame, self.predictors, self.outcome)
        if "firm_id" in frame.columns:
            firm_ids = frame["firm_id"].astype(str).to_numpy()
        else:
            firm_ids = np.asarray([str(v) for v in frame.index])
        return JointData(
            firm_ids=firm_ids,
            items=(),
            categories=(),
            item_indicators=np.zeros((len(frame), 0, 0)),
            item_codes=np.zeros((len(frame), 0), dtype=np.int64),
            predictors=terms,
            design=design,
            center=center,
            scale=scale,
            outcome=self.outcome,
            y=y,
        )

    def build_model(
        self,
        frame: pd.DataFrame | JointData,
        classes: np.ndarray | None = None,
        error_matrix: np.ndarray | None = None,
    ):
        """Build the PyMC model (see the class docstring for the three forms).

        Parameters
        ----------
        frame : pandas.DataFrame or JointData
            The survey.
        classes : numpy.ndarray, optional
            Assigned class per firm, 1..K.
        error_matrix : numpy.ndarray, optional
            Classification-error matrix (class, class) for the three-step correction.

        Returns
        -------
        pymc.Model
            ``pm.Data`` ``design``, ``y`` and ``class_index`` or ``log_error``.
        """
        import pymc as pm
        import pytensor.tensor as pt

        data = frame if isinstance(frame, JointData) else self._prepare(frame)
        coords = {FIRM: list(data.firm_ids), PREDICTOR: list(data.predictors)}
        if classes is not None:
            coords[LATENT_CLASS] = _class_coords(self.n_classes)
        with pm.Model(coords=coords) as model:
            design = pm.Data("design", data.design, dims=(FIRM, PREDICTOR))
            y = pm.Data("y", data.y, dims=FIRM)
            if classes is None:
                alpha = make_prior_variable("alpha", self.priors["intercept"])
                eta = _linear_predictor(self, design, alpha, 0)[:, 0]
                pm.Potential("likelihood", (y * eta - pt.softplus(eta)).sum())
            elif error_matrix is None:
                index = pm.Data("class_index", self._class_index(classes), dims=FIRM)
                alpha = make_prior_variable("alpha", self.priors["intercept"], dims=LATENT_CLASS)
                eta = _linear_predictor(self, design, alpha, self.n_classes)
                eta_assigned = eta[pt.arange(eta.shape[0]), index]
                pm.Potential("likelihood", (y * eta_assigned - pt.softplus(eta_assigned)).sum())
            else:
                log_error = pm.Data(
                    "log_error", self._log_error(classes, error_matrix), dims=(FIRM, LATENT_CLASS)
                )
                a = self.priors["class_concentration"]
                pi = pm.Dirichlet("pi", a=np.full(self.n_classes, a), dims=LATENT_CLASS)
                alpha = make_prior_variable("alpha", self.priors["intercept"], dims=LATENT_CLASS)
                eta = _linear_predictor(self, design, alpha, self.n_classes)
                log_outcome = y[:, None] * eta - pt.softplus(eta)
                pm.Potential(
                    "likelihood",
                    pt.logsumexp(pt.log(pi)[None, :] + log_error + log_outcome, axis=1).sum(),
                )
        return model

    def _class_index(self, classes: np.ndarray) -> np.ndarray:
        classes = np.asarray(classes)
        if classes.ndim != 1 or not np.isin(classes, _class_coords(self.n_classes)).all():
            raise ValueError(f"classes must be one label in 1..{self.n_classes} per firm")
        return classes.astype(np.int64) - 1

    def _log_error(self, classes: np.ndarray, error_matrix: np.ndarray) -> np.ndarray:
        error_matrix = np.asarray(error_matrix, dtype=float)
        if error_matrix.shape != (self.n_classes, self.n_classes):
            raise ValueError(
                f"error_matrix must have shape ({self.n_classes}, {self.n_classes}), "
                f"got {error_matrix.shape}"
            )
        # D[k, w_i] per firm; a zero probability stays finite so gradients stay defined
        return np.log(np.clip(error_matrix[:, self._class_index(classes)].T, 1e-12, None))

    def fit(
        self,
        frame: pd.DataFrame,
        classes: np.ndarray | None = None,
        *,
        error_matrix: np.ndarray | None = None,
        class_names: Sequence[str] | None = None,
        draws: int = 1000,
        tune: int = 1000,
        chains: int = 4,
        random_seed: int | None = None,
        target_accept: float = 0.9,
        progressbar: bool = False,
    ) -> xr.DataTree:
        """Sample the posterior with nutpie (compiled once per form and data shape).

        Parameters
        ----------
        frame : pandas.DataFrame
            The survey.
        classes : numpy.ndarray, optional
            Assigned class per firm (1..K); None for the model without class.
        error_matrix : numpy.ndarray, optional
            Classification-error matrix for the three-step ML correction.
        class_names : sequence of str, optional
            Names of the classes (for tables).
        draws, tune, chains, random_seed, target_accept, progressbar
            Sampler settings.

        Returns
        -------
        xarray.DataTree
            ``posterior`` (``alpha``, ``beta``, ``class_effect``, ``pi`` for the corrected
            form), ``sample_stats``, ``log_likelihood/export``, ``posterior_predictive``,
            ``observed_data``.
        """
        if error_matrix is not None and classes is None:
            raise ValueError("error_matrix needs classes (the step-1 assignments)")
        data = self._prepare(frame)
        self.mode_ = (
            "no_class"
            if classes is None
            else "two_step"
            if error_matrix is None
            else "three_step_ml"
        )
        if class_names is not None:
            if len(class_names) != self.n_classes:
                raise ValueError(f"class_names must name {self.n_classes} classes")
            self.class_names_ = list(class_names)
        key = ("class_logit", self.mode_, self.n_classes, repr(self.priors), data.design.shape)
        updates: dict[str, np.ndarray] = {"design": data.design, "y": data.y}
        if self.mode_ == "two_step":
            updates["class_index"] = self._class_index(classes)
        elif self.mode_ == "three_step_ml":
            updates["log_error"] = self._log_error(classes, error_matrix)
        compiled, self.compile_seconds_ = _compiled_model(
            key, lambda: self.build_model(data, classes, error_matrix)
        )
        compiled = compiled.with_data(**updates)
        start = time.perf_counter()
        raw = _sample_compiled(
            compiled,
            draws=draws,
            tune=tune,
            chains=chains,
            seed=random_seed,
            target_accept=target_accept,
            progressbar=progressbar,
        )
        self.fit_seconds_ = time.perf_counter() - start
        self.data_ = data
        self.idata_ = self._assemble(raw, data, updates, frame, random_seed)
        return self.idata_

    def _assemble(
        self,
        raw: xr.DataTree,
        data: JointData,
        updates: Mapping[str, np.ndarray],
        frame: pd.DataFrame,
        seed: int | None,
    ) -> xr.DataTree:
        from scipy.special import expit, logsumexp

        from bayes_cluster.inference.provenance import provenance

        posterior = raw["posterior"].to_dataset()
        beta = posterior["beta"].transpose(CHAIN, DRAW, PREDICTOR).to_numpy()
        linear = np.einsum("np,cdp->cdn", data.design, beta)
        variables: dict[str, xr.DataArray] = {
            "beta": xr.DataArray(beta, dims=(CHAIN, DRAW, PREDICTOR))
        }
        if self.mode_ == "no_class":
            alpha = posterior["alpha"].transpose(CHAIN, DRAW).to_numpy()
            eta = alpha[..., None] + linear
            export = _bernoulli_logit_logp(data.y, eta)
            p_export = expit(eta)
            variables["alpha"] = xr.DataArray(alpha, dims=(CHAIN, DRAW))
        else:
            alpha = posterior["alpha"].transpose(CHAIN, DRAW, LATENT_CLASS).to_numpy()
            eta = alpha[:, :, None, :] + linear[..., None]  # (chain, draw, firm, class)
            variables["alpha"] = xr.DataArray(alpha, dims=(CHAIN, DRAW, LATENT_CLASS))
            variables["class_effect"] = xr.DataArray(
                alpha[..., 1:] - alpha[..., :1], dims=(CHAIN, DRAW, CLASS_CONTRAST)
            )
            if self.mode_ == "two_step":
                index = updates["class_index"]
                eta_assigned = np.take_along_axis(
                    eta,
                    index[None, None, :, None].repeat(eta.shape[0], 0).repeat(eta.shape[1], 1),
                    axis=-1,
                )[..., 0]
                export = _bernoulli_logit_logp(data.y, eta_assigned)
                p_export = expit(eta_assigned)
            else:
                pi = posterior["pi"].transpose(CHAIN, DRAW, LATENT_CLASS).to_numpy()
                variables["pi"] = xr.DataArray(pi, dims=(CHAIN, DRAW, LATENT_CLASS))
                log_prior_class = np.log(pi)[:, :, None, :] + updates["log_error"]
                log_outcome = _bernoulli_logit_logp(data.y[None, None, :, None], eta)
                export = logsumexp(log_prior_class + log_outcome, axis=-1) - logsumexp(
                    log_prior_class, axis=-1
                )
                p_export = (np.exp(_log_softmax(log_prior_class)) * expit(eta)).sum(axis=-1)
        rng = np.random.default_rng(seed)
        y_rep = (rng.random(p_export.shape) < p_export).astype(np.int64)
        n_chains, n_draws = beta.shape[:2]
        coords = {
            CHAIN: np.arange(n_chains),
            DRAW: np.arange(n_draws),
            LATENT_CLASS: _class_coords(self.n_classes),
            PREDICTOR: list(data.predictors),
            CLASS_CONTRAST: _contrast_labels(self.class_names_),
            FIRM: list(data.firm_ids),
        }

        def dataset(values: dict[str, xr.DataArray]) -> xr.Dataset:
            ds = xr.Dataset(values)
            return ds.assign_coords({k: v for k, v in coords.items() if k in ds.dims})

        groups = {
            "posterior": dataset(variables),
            "sample_stats": raw["sample_stats"].to_dataset(),
            "log_likelihood": dataset(
                {data.outcome: xr.DataArray(export, dims=(CHAIN, DRAW, FIRM))}
            ),
            "posterior_predictive": dataset(
                {data.outcome: xr.DataArray(y_rep, dims=(CHAIN, DRAW, FIRM))}
            ),
            "observed_data": dataset({data.outcome: xr.DataArray(data.y, dims=(FIRM,))}),
        }
        tree = xr.DataTree.from_dict(groups)
        tree.attrs.update(
            provenance(
                seed=seed,
                data=frame,
                model=f"ClassLogit[{self.mode_}]",
                priors=repr(self.priors),
                sampler="nutpie",
                class_names="; ".join(self.class_names_),
            )
        )
        return tree

    def loo(self):
        """PSIS-LOO of the export likelihood.

        Returns
        -------
        arviz_stats.ELPDData
            ELPD, standard error and Pareto k per firm.
        """
        import arviz_stats as azs

        return azs.loo(self._check_fitted(), var_name=self.outcome)


# ----------------------------------------------------------------------- comparison


@dataclass
class JointComparison:
    """Result of :func:`compare_class_approaches`.

    Attributes
    ----------
    coefficients : pandas.DataFrame
        One row per (approach, term): posterior mean, sd, HDI, HDI width,
        P(> 0), R-hat, bulk ESS; terms on the original predictor scale, plus the class
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
    models: dict[str, _FittedModel]
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


def _elpd_row(model: _FittedModel) -> dict[str, float]:
    import warnings

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
    predictors: Sequence[str] = TUMANG_PREDICTORS,
    outcome: str = "export",
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
    models: Mapping[str, _FittedModel] | None = None,
    progressbar: bool = False,
) -> JointComparison:
    """Fit the export model without class, two-step, three-step (ML) and joint; compare.

    Parameters
    ----------
    frame : pandas.DataFrame
        The survey.
    n_classes : int
        Number of latent classes.
    items, predictors, outcome, collapse, class_slopes, priors
        As in :class:`JointLatentClassLogit`.
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

    Returns
    -------
    JointComparison
        Tables, diagnostics and the fitted models.
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
    em = _fit_em(data, n_classes, em_starts, random_seed)
    em_reference = (np.asarray(em.class_shares_), em.item_probabilities_.to_numpy())
    reference = em_reference if reference is None else _check_reference(reference, n_classes, data)
    # align the EM classes to the reference (identity when the reference is the EM fit)
    order = relabel_draws(em_reference[0][None], em_reference[1][None], reference=reference)[0]
    posterior = em.posterior_[:, order]
    modal = posterior.argmax(axis=1) + 1
    class_names = _named_classes(reference[1], data)
    shared = ("intercept", "slopes", "class_concentration")
    logit_priors = {k: v for k, v in (priors or {}).items() if k in shared}
    sampler = {
        "draws": draws,
        "tune": tune,
        "chains": chains,
        "random_seed": random_seed,
        "target_accept": target_accept,
        "progressbar": progressbar,
    }
    fitted: dict[str, _FittedModel] = {}
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
        summary = model.summary(hdi_prob).reset_index()
        summary.insert(0, "approach", approach)
        coefficient_rows.append(summary)
        elpd_rows.append({"approach": approach, **_elpd_row(model)})
    coefficients = pd.concat(coefficient_rows, ignore_index=True).set_index(["approach", TERM])
    is_contrast = coefficients.index.get_level_values(TERM).str.startswith("class effect")
    return JointComparison(
        coefficients=coefficients,
        class_effect=coefficients[is_contrast],
        elpd=pd.DataFrame(elpd_rows).set_index("approach"),
        diagnostics={approach: model.diagnostics() for approach, model in fitted.items()},
        models=fitted,
        class_names=class_names,
        timings={a: (m.compile_seconds_, m.fit_seconds_) for a, m in fitted.items()},
    )


# ------------------------------------------------------------------- recovery study

_THREE_GROUPS = ((0, 1), (2,), (3, 4))


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
    models: dict[str, _FittedModel] | None = None,
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
        comparison = compare_class_approaches(
            frame,
            n_classes=len(truth.class_names),
            items=items,
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


# --------------------------------------------------------------------- spec section


@dataclass(frozen=True)
class JointSpec:
    """The validated ``[joint]`` section of an analysis spec.

    Attributes
    ----------
    n_classes : int
        Number of latent classes (>= 2).
    items : tuple of str
        Item columns (default: the ``[latent_class]`` items).
    predictors : tuple of str
        Predictors of the outcome (default: the ``[logistic]`` predictors).
    outcome : str
        0/1 outcome (default: the ``[logistic]`` outcome).
    collapse : {"three", "none"}
        Likert collapsing (default: the ``[latent_class]`` collapse, ``[[1, 2], [3], [4, 5]]``
        being ``"three"``).
    class_slopes : bool
        Class-specific, partially pooled slopes in the joint model.
    approaches : tuple of str
        Approaches compared (:data:`APPROACH_LABELS`).
    em_starts : int
        Random starts of the step-1 EM fit.
    priors : dict
        Prior overrides: the ``[logistic]`` intercept/slope priors, then ``[joint.priors]``.
    """

    n_classes: int = 2
    items: tuple[str, ...] = MARKUSEN_ITEMS
    predictors: tuple[str, ...] = TUMANG_PREDICTORS
    outcome: str = "export"
    collapse: Literal["three", "none"] = "three"
    class_slopes: bool = False
    approaches: tuple[str, ...] = ("no_class", "two_step", "three_step_ml", "joint")
    em_starts: int = 50
    priors: dict[str, dict[str, Any]] = field(default_factory=dict)


_JOINT_KEYS = (
    "n_classes",
    "items",
    "predictors",
    "outcome",
    "collapse",
    "class_slopes",
    "approaches",
    "em_starts",
    "priors",
)


def validate_joint_section(
    raw: Any, problems: Any, context: Mapping[str, Any]
) -> JointSpec | None:
    """Validate a ``[joint]`` spec table (registered with :mod:`bayes_cluster.run.spec`).

    Keys (all optional): ``n_classes`` (int >= 2, default 2), ``items``, ``predictors``,
    ``outcome`` and ``collapse`` (default: those of ``[latent_class]`` / ``[logistic]``),
    ``class_slopes`` (bool), ``approaches`` (subset of ``no_class``, ``two_step``,
    ``three_step_ml``, ``joint``), ``em_starts`` (int), ``priors`` (tables
    ``{ dist = ..., ... }`` for ``intercept``, ``slopes``, ``class_shares``,
    ``item_probabilities``, ``slope_spread``).

    Parameters
    ----------
    raw : Any
        The TOML table.
    problems : object
        Collector with ``add(key, message)``.
    context : mapping
        Validated ``"data"``, ``"logistic"``, ``"latent_class"`` sections.

    Returns
    -------
    JointSpec or None
        None when the table is not valid (the problems say why).
    """
    if not isinstance(raw, Mapping):
        problems.add("[joint]", f"must be a table, got {type(raw).__name__}")
        return None
    ok = True
    for key in sorted(set(raw) - set(_JOINT_KEYS)):
        problems.add(f"[joint].{key}", f"unknown key; allowed: {', '.join(_JOINT_KEYS)}")
        ok = False
    latent_class = context.get("latent_class")
    logistic = context.get("logistic")
    data = context.get("data")

    n_classes = raw.get("n_classes", 2)
    if isinstance(n_classes, bool) or not isinstance(n_classes, int) or not 2 <= n_classes <= 5:
        problems.add("[joint].n_classes", f"must be a whole number 2..5, got {n_classes!r}")
        ok = False

    def names(key: str, default: tuple[str, ...] | None) -> tuple[str, ...]:
        nonlocal ok
        value = raw.get(key, default)
        if value is None:
            problems.add(f"[joint].{key}", "is required (no default from the other sections)")
            ok = False
            return ()
        if isinstance(value, str) or not all(isinstance(v, str) for v in value):
            problems.add(f"[joint].{key}", f"must be a list of column names, got {value!r}")
            ok = False
            return ()
        columns = getattr(data, "columns", None)
        if columns is not None:
            unknown = [v for v in value if v not in columns]
            if unknown:
                problems.add(f"[joint].{key}", f"columns not in the codebook: {unknown}")
                ok = False
        return tuple(value)

    items = names("items", getattr(latent_class, "items", None) or MARKUSEN_ITEMS)
    if len(items) == 1:
        problems.add("[joint].items", "a latent class model needs at least two items")
        ok = False
    predictors = names("predictors", getattr(logistic, "predictors", None) or TUMANG_PREDICTORS)
    outcome = raw.get("outcome", getattr(logistic, "outcome", "export"))
    if not isinstance(outcome, str):
        problems.add("[joint].outcome", f"must be a column name, got {outcome!r}")
        ok = False
    # the latent class section writes groups; the joint model takes "three" or "none"
    collapse = raw.get("collapse", getattr(latent_class, "collapse", None) or "none")
    groups = {"three": "three", "none": "none"}
    if isinstance(collapse, list | tuple):
        as_groups = [list(g) if isinstance(g, list | tuple) else g for g in collapse]
        collapse = "three" if as_groups == [[1, 2], [3], [4, 5]] else None
    else:
        collapse = groups.get(collapse) if isinstance(collapse, str) else None
    if collapse is None:
        problems.add(
            "[joint].collapse",
            'must be "three" (= [[1, 2], [3], [4, 5]]) or "none", '
            f"got {raw.get('collapse', getattr(latent_class, 'collapse', None))!r}",
        )
        ok = False
    class_slopes = raw.get("class_slopes", False)
    if not isinstance(class_slopes, bool):
        problems.add("[joint].class_slopes", f"must be true or false, got {class_slopes!r}")
        ok = False
    approaches = raw.get("approaches", list(JointSpec.approaches))
    if not isinstance(approaches, list | tuple) or not approaches:
        problems.add("[joint].approaches", f"must be a non-empty list, got {approaches!r}")
        ok = False
    else:
        unknown = [a for a in approaches if a not in APPROACH_LABELS]
        if unknown:
            problems.add(
                "[joint].approaches",
                f"unknown approaches {unknown}; choose from {', '.join(APPROACH_LABELS)}",
            )
            ok = False
    em_starts = raw.get("em_starts", getattr(latent_class, "em_starts", 50))
    if isinstance(em_starts, bool) or not isinstance(em_starts, int) or em_starts < 1:
        problems.add("[joint].em_starts", f"must be a whole number >= 1, got {em_starts!r}")
        ok = False
    logistic_priors = getattr(logistic, "priors", {}) or {}
    priors = {k: dict(v) for k, v in logistic_priors.items() if k in ("intercept", "slopes")}
    user_priors = raw.get("priors", {})
    known = DEFAULT_PRIORS
    if not isinstance(user_priors, Mapping):
        problems.add("[joint].priors", f"must be a table, got {user_priors!r}")
        ok = False
    else:
        for name, prior in user_priors.items():
            if name not in known:
                problems.add(f"[joint].priors.{name}", f"unknown prior; known: {sorted(known)}")
                ok = False
            else:
                try:
                    checked = _merge_priors({name: known[name]}, {name: prior})[name]
                except (ValueError, TypeError, KeyError) as error:
                    problems.add(f"[joint].priors.{name}", str(error))
                    ok = False
                else:
                    priors[name] = checked
    if not ok:
        return None
    return JointSpec(
        n_classes=int(n_classes),
        items=items,
        predictors=predictors,
        outcome=outcome,
        collapse=collapse,
        class_slopes=class_slopes,
        approaches=tuple(approaches),
        em_starts=int(em_starts),
        priors=priors,
    )


def _sampler_settings(sampler: Any) -> dict[str, Any]:
    get = sampler.get if isinstance(sampler, Mapping) else lambda k, d: getattr(sampler, k, d)
    return {
        "draws": int(get("draws", 1000)),
        "tune": int(get("tune", 1000)),
        "chains": int(get("chains", 4)),
        "random_seed": get("seed", None),
        "target_accept": float(get("target_accept", 0.9)),
        "hdi_prob": float(get("hdi_prob", 0.94)),
    }


def run_joint_section(
    frame: pd.DataFrame,
    config: JointSpec | Mapping[str, Any],
    sampler: Any,
    out_dir: str | Path,
    *,
    progressbar: bool = False,
    figures: bool = True,
) -> JointComparison:
    """Run the ``[joint]`` section: fit every approach, write tables, posterior and figure.

    Files written to ``out_dir`` (each to a temporary name first, then moved into place):
    ``joint_coefficients.csv``, ``joint_class_effect.csv``, ``joint_elpd.csv``,
    ``joint_comparison.md``, ``joint_posterior.nc`` (the joint model's DataTree),
    ``joint_comparison.png`` (:func:`bayes_cluster.plots.joint.plot_class_effect_comparison`)
    and ``joint_calibration.png`` (posterior predictive check of the joint model,
    :func:`bayes_cluster.plots.joint.plot_export_calibration`).

    Parameters
    ----------
    frame : pandas.DataFrame
        The validated survey.
    config : JointSpec or mapping
        The ``[joint]`` section (a mapping is validated first).
    sampler : SamplerSpec or mapping
        ``draws``, ``tune``, ``chains``, ``seed``, ``target_accept``, ``hdi_prob``.
    out_dir : str or pathlib.Path
        Output folder (created when absent).
    progressbar : bool
        Show nutpie's progress bars.
    figures : bool
        Draw and write the two PNG figures. ``bayes-cluster run`` passes False and draws
        them through its own figure writer (PNG, PDF and SVG, the run's labels).

    Returns
    -------
    JointComparison
        The comparison (also written to disk).
    """
    if not isinstance(config, JointSpec):

        class _Collect:
            def __init__(self) -> None:
                self.messages: list[str] = []

            def add(self, key: str, message: str) -> None:
                self.messages.append(f"{key}: {message}")

        collected = _Collect()
        validated = validate_joint_section(dict(config), collected, {})
        if validated is None:
            raise ValueError("invalid [joint] section:\n  " + "\n  ".join(collected.messages))
        config = validated
    settings = _sampler_settings(sampler)
    comparison = compare_class_approaches(
        frame,
        n_classes=config.n_classes,
        items=config.items,
        predictors=config.predictors,
        outcome=config.outcome,
        collapse=config.collapse,
        class_slopes=config.class_slopes,
        priors=config.priors,
        approaches=config.approaches,
        em_starts=config.em_starts,
        progressbar=progressbar,
        **settings,
    )
    import matplotlib.pyplot as plt

    from bayes_cluster.plots.joint import plot_class_effect_comparison, plot_export_calibration

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    figure = plot_class_effect_comparison(comparison) if figures else None
    calibration = (
        plot_export_calibration(comparison.models["joint"])
        if figures and "joint" in comparison.models
        else None
    )
    writers = {
        "joint_coefficients.csv": lambda p: comparison.coefficients.to_csv(p),
        "joint_class_effect.csv": lambda p: comparison.class_effect.to_csv(p),
        "joint_elpd.csv": lambda p: comparison.elpd.to_csv(p),
        "joint_comparison.md": lambda p: p.write_text(comparison.to_markdown(), encoding="utf-8"),
    }
    if "joint" in comparison.models:
        idata = comparison.models["joint"].idata_
        writers["joint_posterior.nc"] = lambda p: idata.to_netcdf(p, engine="h5netcdf")
    if figure is not None:
        writers["joint_comparison.png"] = lambda p: figure.savefig(p, dpi=150, format="png")
    if calibration is not None:
        writers["joint_calibration.png"] = lambda p: calibration.savefig(p, dpi=150, format="png")
    temporary = {name: out_dir / f".{name}.tmp" for name in writers}
    try:
        for name, write in writers.items():
            write(temporary[name])
        for name, path in temporary.items():
            path.replace(out_dir / name)
    finally:
        for drawn in (figure, calibration):
            if drawn is not None:
                plt.close(drawn)
        for path in temporary.values():
            path.unlink(missing_ok=True)
    return comparison

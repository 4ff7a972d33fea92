"""Hierarchical Bayesian logistic regression (rstanarm ``stan_glm``/``stan_glmer`` for Python).

:class:`BayesianLogit` fits ``P(outcome = 1)`` with stated, printable, overridable priors,
standardised predictors reported on the original scale, optional varying intercepts by a
group (non-centred) and an optional regularised horseshoe on the slopes.  Every fit is
checked (:mod:`bayes_cluster.inference.diagnostics`) and a failing fit is reported with a
:class:`~bayes_cluster.inference.diagnostics.ConvergenceWarning`.

:class:`BayesianLogit` is a :class:`~bayes_cluster.inference.base.BayesianModel`: it
samples, saves and loads through the package's one model contract.

Speed: with nutpie (``sampler="nutpie_c"`` or ``"nutpie"``) the model is compiled once per
configuration (priors, terms, group levels; with the horseshoe also the number of firms,
which sets its global scale) in :data:`bayes_cluster.inference.sampling.compiled_cache`,
and re-run on new data with ``compiled.with_data`` (a simulation study fits it thousands
of times).
Standardisation constants are data containers, so re-use is exact.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
import xarray as xr

from bayes_cluster.common.dims import FIRM, GROUP, INTERCEPT, PREDICTOR
from bayes_cluster.inference.base import BayesianModel
from bayes_cluster.inference.priors import describe_prior, make_prior_variable, validate_prior
from bayes_cluster.inference.sampling import SamplerSettings
from bayes_cluster.inference.summaries import hdi
from bayes_cluster.surveys.design_matrix import DesignInfo, design_matrix

__all__ = [
    "DEFAULT_HORSESHOE",
    "DEFAULT_PRIORS",
    "BayesianLogit",
    "compare_models",
    "prior_sensitivity_reading",
    "widened_priors",
]

DEFAULT_PRIORS: dict[str, dict[str, Any]] = {
    # log-odds of the average firm (predictors centred): N(0, 1.5) is nearly flat on the
    # probability scale between 0.05 and 0.95 without piling mass at 0 and 1
    "intercept": {"dist": "Normal", "mu": 0.0, "sigma": 1.5},
    # per SD of a predictor (per unit change of a binary one): Student-t with 7 df keeps
    # a finite posterior under separation (Ghosh, Li & Mitra 2018; a Cauchy does not)
    # and a sensible prior predictive with seven predictors together (docs/priors.md)
    "slopes": {"dist": "StudentT", "nu": 7.0, "mu": 0.0, "sigma": 1.0},
    # between-group SD of the varying intercepts (log-odds)
    "group_sd": {"dist": "HalfNormal", "sigma": 1.0},
}
"""Default priors (on the standardised scale when ``standardize=True``)."""

DEFAULT_HORSESHOE: dict[str, float] = {
    "expected_nonzero": 2.0,  # p0: prior guess of the number of relevant slopes
    "slab_scale": 2.0,  # s: scale of the slab for the large slopes (per SD)
    "slab_df": 4.0,  # nu: slab degrees of freedom
    "local_df": 1.0,  # half-Cauchy local scales (the horseshoe)
    "global_df": 1.0,  # half-Cauchy global scale
}
"""Default hyperparameters of the regularised horseshoe (Piironen & Vehtari 2017)."""

PSEUDO_SIGMA = 2.0
"""Pseudo residual SD of a logit at p = 0.5, used for the horseshoe global scale."""

_PRIOR_KEYS = ("intercept", "slopes", "group_sd")


@dataclass(frozen=True)
class _Prepared:
    """One fit's data: the container values and the firm labels."""

    data: dict[str, np.ndarray]
    firm_ids: np.ndarray


class BayesianLogit(BayesianModel):
    r"""Bayesian logistic regression with optional varying intercepts and horseshoe.

    .. math::

        y_i &\sim \operatorname{Bernoulli}\!\left(\operatorname{logit}^{-1}\eta_i\right),
        \qquad
        \eta_i = \alpha^{*} + \sum_j \tilde x_{ij}\,\beta^{*}_j + u_{g[i]},
        \qquad \tilde x_{ij} = (x_{ij} - c_j) / s_j, \\
        \alpha^{*} &\sim \text{prior}_\text{intercept}
            \;(\text{default } \mathcal N(0, 1.5)), \qquad
        \beta^{*}_j \sim \text{prior}_j
            \;(\text{default } t_7(0, 1)), \\
        u_g &= \sigma_u z_g, \quad z_g \sim \mathcal N(0, 1), \quad
            \sigma_u \sim \text{prior}_\text{group\_sd}
            \;(\text{default } \mathcal N^{+}(0, 1)), \\
        \beta_j &= \beta^{*}_j / s_j, \qquad \alpha = \alpha^{*} - \sum_j c_j \beta_j .

    With ``standardize=True`` the centre :math:`c_j` is the sample mean and the scale
    :math:`s_j` the sample SD (for a predictor with two values, their difference: rstanarm's
    ``autoscale`` rule), so the priors are per SD; ``standardize=False`` uses
    :math:`c_j = 0, s_j = 1` and the priors are on the original scale.  The posterior holds
    ``alpha_std``/``beta_std`` (the sampled, standardised parameters) and ``alpha``/``beta``
    (original scale, which :meth:`summary` reports).

    With ``shrinkage="horseshoe"`` the slopes get the regularised horseshoe (Piironen &
    Vehtari 2017, eq. 2.8):

    .. math::

        \beta^{*}_j = z_j\,\tau\,\tilde\lambda_j, \quad
        \tilde\lambda_j^2 = \frac{c^2\lambda_j^2}{c^2 + \tau^2\lambda_j^2}, \quad
        z_j \sim \mathcal N(0,1), \quad \lambda_j \sim t^{+}_{\nu_l}(0, 1), \\
        \tau \sim t^{+}_{\nu_g}\!\left(0, \frac{p_0}{D - p_0}\frac{2}{\sqrt n}\right), \quad
        c^2 \sim \operatorname{Inv\text{-}Gamma}\!\left(\frac{\nu_s}{2},
            \frac{\nu_s s^2}{2}\right).

    Parameters
    ----------
    outcome : str
        0/1 column (e.g. ``export``).
    predictors : sequence of str
        Predictor columns; categorical ones become treatment dummies ``column[level]``
        (:func:`bayes_cluster.surveys.design_matrix.design_matrix`).
    group : str, optional
        Column of the grouping factor of varying intercepts (``product_line`` or a latent
        class label).
    priors : mapping, optional
        Overrides of :data:`DEFAULT_PRIORS`: keys ``intercept``, ``slopes`` (all slopes),
        ``group_sd``, a term or predictor name (that slope only; wins over ``slopes``), and
        ``horseshoe`` (overrides of :data:`DEFAULT_HORSESHOE`).
    standardize : bool, default True
        Fit on standardised predictors (priors per SD); report on the original scale.
    shrinkage : {None, "horseshoe"}, default None
        Hierarchical shrinkage of the slopes.
    hdi_prob : float, default 0.94
        Probability of the intervals of :meth:`summary` and :meth:`predict`.
    reference_levels : mapping, optional
        Reference level of categorical predictors.

    Examples
    --------
    >>> from bayes_cluster import BayesianLogit, simulate_tumang
    >>> frame, truth = simulate_tumang(60, seed=1)
    >>> model = BayesianLogit("export", ["workers", "firm_age"], group="product_line")
    >>> tree = model.fit(frame, random_seed=1)  # doctest: +SKIP
    >>> model.summary()  # doctest: +SKIP
    """

    def __init__(
        self,
        outcome: str,
        predictors: Sequence[str],
        group: str | None = None,
        priors: Mapping[str, Any] | None = None,
        standardize: bool = True,
        *,
        shrinkage: Literal["horseshoe"] | None = None,
        hdi_prob: float = 0.94,
        reference_levels: Mapping[str, Any] | None = None,
    ) -> None:
        if isinstance(predictors, str):
            raise TypeError(
                f"predictors must be a list of column names, not the string {predictors!r}"
            )
        predictors = list(predictors)
        if not predictors:
            raise ValueError("BayesianLogit needs at least one predictor")
        if outcome in predictors or (group is not None and group in predictors):
            raise ValueError(
                f"the outcome {outcome!r} and group {group!r} cannot also be predictors"
            )
        if shrinkage not in (None, "horseshoe"):
            raise ValueError(f"shrinkage must be None or 'horseshoe', got {shrinkage!r}")
        if not 0 < hdi_prob < 1:
            raise ValueError(f"hdi_prob must be in (0, 1), got {hdi_prob}")
        self.outcome = outcome
        self.predictors = predictors
        self.group = group
        self.user_priors: dict[str, Any] = _plain(priors or {})
        self.standardize = bool(standardize)
        self.shrinkage = shrinkage
        self.hdi_prob = float(hdi_prob)
        self.reference_levels = dict(reference_levels or {})
        self._check_prior_keys(terms=None)

        self.design_info_: DesignInfo | None = None
        self.center_: np.ndarray | None = None
        self.scale_: np.ndarray | None = None
        self.group_levels_: tuple[str, ...] | None = None
        self.n_obs_: int | None = None
        self.idata_ = None
        self.diagnostics_ = None
        self.timings_: dict[str, float] = {}
        self._model = None
        self._data: dict[str, np.ndarray] | None = None
        self._firm_ids: np.ndarray | None = None

    # ------------------------------------------------------------------ priors
    @property
    def terms(self) -> list[str]:
        """Slope terms (design-matrix columns); known after :meth:`fit`/:meth:`build_model`."""
        if self.design_info_ is None:
            return list(self.predictors)
        return list(self.design_info_.columns)

    def _check_prior_keys(self, terms: Sequence[str] | None) -> None:
        allowed = {*_PRIOR_KEYS, "horseshoe", *self.predictors}
        if terms is not None:
            allowed |= set(terms)
        # before the data are seen, a dummy term ``column[level]`` of a predictor is allowed
        unknown = sorted(
            key
            for key in set(self.user_priors) - allowed
            if terms is not None
            or not any(
                key.startswith(f"{name}[") and key.endswith("]") for name in self.predictors
            )
        )
        if unknown:
            raise ValueError(
                f"unknown prior key(s) {unknown}: use 'intercept', 'slopes', 'group_sd', "
                f"'horseshoe' or a predictor name ({self.predictors})"
            )
        if self.group is None and "group_sd" in self.user_priors:
            raise ValueError("a 'group_sd' prior was given but the model has no group")
        if self.shrinkage != "horseshoe" and "horseshoe" in self.user_priors:
            raise ValueError("'horseshoe' hyperparameters given but shrinkage is not 'horseshoe'")
        if self.shrinkage == "horseshoe":
            per_term = sorted(set(self.user_priors) - {*_PRIOR_KEYS, "horseshoe"})
            if per_term or "slopes" in self.user_priors:
                raise ValueError(
                    "slope priors cannot be combined with shrinkage='horseshoe' (the horseshoe "
                    f"is the slope prior); got {per_term or ['slopes']}"
                )
            unknown_hs = sorted(
                set(self.user_priors.get("horseshoe", {})) - set(DEFAULT_HORSESHOE)
            )
            if unknown_hs:
                raise ValueError(
                    f"unknown horseshoe hyperparameter(s) {unknown_hs}; "
                    f"choose from {sorted(DEFAULT_HORSESHOE)}"
                )

    def resolved_priors(self, terms: Sequence[str] | None = None) -> dict[str, Any]:
        """Priors actually used: defaults, overridden by ``slopes``, overridden per term.

        Parameters
        ----------
        terms : sequence of str, optional
            Slope terms (default: :attr:`terms`).

        Returns
        -------
        dict
            ``{"intercept": spec, "slopes": {term: spec}, "group_sd": spec | None,
            "horseshoe": dict | None}``.
        """
        terms = list(terms) if terms is not None else self.terms
        self._check_prior_keys(terms)
        sources = self.design_info_.term_sources if self.design_info_ is not None else {}
        intercept = validate_prior(
            self.user_priors.get("intercept", DEFAULT_PRIORS["intercept"]),
            "intercept",
            support="real",
        )
        slopes_all = self.user_priors.get("slopes", DEFAULT_PRIORS["slopes"])
        slopes: dict[str, dict[str, Any]] = {}
        for term in terms:
            source = sources.get(term, term)
            spec = self.user_priors.get(term, self.user_priors.get(source, slopes_all))
            slopes[term] = validate_prior(spec, term, support="real")
        group_sd = None
        if self.group is not None:
            group_sd = validate_prior(
                self.user_priors.get("group_sd", DEFAULT_PRIORS["group_sd"]),
                "group_sd",
                support="positive",
            )
        horseshoe = None
        if self.shrinkage == "horseshoe":
            horseshoe = {
                key: float(value)
                for key, value in {
                    **DEFAULT_HORSESHOE,
                    **self.user_priors.get("horseshoe", {}),
                }.items()
            }
            if not 0 < horseshoe["expected_nonzero"] < len(terms):
                raise ValueError(
                    "horseshoe 'expected_nonzero' must be between 0 and the number of slopes "
                    f"({len(terms)}), got {horseshoe['expected_nonzero']}"
                )
            slopes = {}
        return {
            "intercept": intercept,
            "slopes": slopes,
            "group_sd": group_sd,
            "horseshoe": horseshoe,
        }

    def prior_summary(self) -> pd.DataFrame:
        """Priors in rstanarm's style: as specified and as adjusted to the original scale.

        Returns
        -------
        pandas.DataFrame
            Indexed by parameter; columns ``prior`` (as specified), ``scale`` (what the
            prior is on) and ``adjusted_prior`` (the same prior on the original scale of
            the predictor; known once the data are seen).
        """
        priors = self.resolved_priors()
        terms = self.terms
        rows: dict[str, dict[str, str]] = {}
        where = "log-odds at the predictor means" if self.standardize else "log-odds at x = 0"
        rows[INTERCEPT] = {
            "prior": describe_prior(priors["intercept"]),
            "scale": where,
            "adjusted_prior": describe_prior(priors["intercept"]),
        }
        if priors["horseshoe"] is not None:
            hs = priors["horseshoe"]
            n = self.n_obs_ or float("nan")
            tau0 = _horseshoe_tau0(hs, len(terms), n)
            rows["slopes (horseshoe)"] = {
                "prior": (
                    f"RegularisedHorseshoe(expected_nonzero={hs['expected_nonzero']:g}, "
                    f"slab_scale={hs['slab_scale']:g}, slab_df={hs['slab_df']:g}, "
                    f"local_df={hs['local_df']:g}, global_df={hs['global_df']:g}; "
                    f"global scale tau0={tau0:.3g})"
                ),
                "scale": "per SD of each predictor" if self.standardize else "original scale",
                "adjusted_prior": "",
            }
        for index, (term, spec) in enumerate(priors["slopes"].items()):
            scale = self.scale_[index] if self.scale_ is not None else None
            rows[term] = {
                "prior": describe_prior(spec),
                "scale": (f"per SD of {term}" if self.standardize else f"per unit of {term}"),
                "adjusted_prior": (
                    describe_prior(_rescale(spec, scale)) if scale is not None else "(fit first)"
                ),
            }
        if priors["group_sd"] is not None:
            rows[f"sigma_group ({self.group})"] = {
                "prior": describe_prior(priors["group_sd"]),
                "scale": "SD of the varying intercepts (log-odds)",
                "adjusted_prior": describe_prior(priors["group_sd"]),
            }
        frame = pd.DataFrame.from_dict(rows, orient="index")
        frame.index.name = "parameter"
        return frame

    # ------------------------------------------------------------------ data
    def _prepare(self, frame: pd.DataFrame, *, fitting: bool) -> dict[str, np.ndarray]:
        if not isinstance(frame, pd.DataFrame):
            raise TypeError(f"frame must be a pandas DataFrame, got {type(frame).__name__}")
        needed = [self.outcome, *self.predictors, *([self.group] if self.group else [])]
        missing = [name for name in needed if name not in frame.columns]
        if missing:
            raise ValueError(f"column(s) {missing} not in the data (it has {list(frame.columns)})")
        y = _outcome_values(frame[self.outcome], self.outcome)
        if fitting:
            design, info = design_matrix(
                frame, self.predictors, reference_levels=self.reference_levels or None
            )
        else:
            info = self.design_info_
            design = info.transform(frame)
        X = design.to_numpy(dtype=float)
        if fitting:
            self.design_info_ = info
            self._check_prior_keys(info.columns)
            if self.standardize:
                center, scale = standardisation(X, list(info.columns))
            else:
                center, scale = np.zeros(X.shape[1]), np.ones(X.shape[1])
            self.center_, self.scale_ = center, scale
            self.n_obs_ = len(frame)
        data = {
            "X": (X - self.center_) / self.scale_,
            "center": self.center_.copy(),
            "scale": self.scale_.copy(),
            "y_obs": y,
        }
        if self.group is not None:
            labels = frame[self.group]
            if labels.isna().any():
                rows = list(frame.index[labels.isna()][:5])
                raise ValueError(f"group column {self.group!r} has missing values (rows {rows})")
            labels = labels.astype(str).to_numpy()
            if fitting:
                self.group_levels_ = tuple(sorted(set(labels)))
            index = {level: i for i, level in enumerate(self.group_levels_)}
            unknown = sorted(set(labels) - set(index))
            if unknown:
                raise ValueError(
                    f"group column {self.group!r} has level(s) {unknown} not seen in the fit "
                    f"(known: {list(self.group_levels_)})"
                )
            data["group_idx"] = np.array([index[label] for label in labels], dtype=np.int64)
        return data

    def model_data(self, frame: pd.DataFrame) -> dict[str, np.ndarray]:
        """Values of the model's data containers for ``frame`` (for ``with_data`` re-use).

        Recomputes the design, centre and scale from ``frame`` as :meth:`fit` does, so
        ``nutpie.compile_pymc_model(model.build_model(first)).with_data(
        **model.model_data(frame))`` samples the same posterior as ``model.fit(frame)``.

        Parameters
        ----------
        frame : pandas.DataFrame
            Data of the same shape (rows, terms, group levels) as the compiled model's.

        Returns
        -------
        dict of str to numpy.ndarray
            ``X`` (standardised), ``center``, ``scale``, ``y_obs`` and, with a group,
            ``group_idx``.
        """
        return self._prepare(frame, fitting=True)

    def build_model(self, frame: pd.DataFrame):
        """Build the PyMC model on ``frame`` (sets the design, centre and scale).

        Parameters
        ----------
        frame : pandas.DataFrame
            Data with the outcome, predictors and group columns.

        Returns
        -------
        pymc.Model
            The model; data containers ``X``, ``center``, ``scale``, ``y_obs`` (and
            ``group_idx``).
        """
        self._model = self._build(self._prepare_fit(frame))
        return self._model

    @property
    def model(self):
        """The PyMC model on the fitted data (built on first use)."""
        if self._model is None:
            if self._data is None:
                raise RuntimeError("call fit() or build_model() first")
            self._model = self._build(_Prepared(self._data, self._firm_ids))
        return self._model

    # ------------------------------------------------------------------ contract hooks
    def _prepare_fit(self, frame: pd.DataFrame) -> _Prepared:
        """Encode ``frame`` (design, centre, scale, group levels) and keep it as the fit's data."""
        prepared = _Prepared(self._prepare(frame, fitting=True), _firm_ids(frame))
        self._data = prepared.data
        self._firm_ids = prepared.firm_ids
        self._model = None
        return prepared

    def _build(self, prepared: _Prepared):
        import pymc as pm

        data = prepared.data
        terms = self.terms
        priors = self.resolved_priors(terms)
        coords: dict[str, Any] = {PREDICTOR: terms, FIRM: list(prepared.firm_ids)}
        if self.group is not None:
            coords[GROUP] = list(self.group_levels_)
        with pm.Model(coords=coords) as model:
            X = pm.Data("X", data["X"], dims=(FIRM, PREDICTOR))
            center = pm.Data("center", data["center"], dims=PREDICTOR)
            scale = pm.Data("scale", data["scale"], dims=PREDICTOR)
            y_obs = pm.Data("y_obs", data["y_obs"], dims=FIRM)
            alpha_std, beta_std = self._coefficient_variables(priors, len(data["y_obs"]))
            eta = alpha_std + pm.math.dot(X, beta_std)
            if self.group is not None:
                group_idx = pm.Data("group_idx", data["group_idx"], dims=FIRM)
                sigma_group = make_prior_variable("sigma_group", priors["group_sd"])
                z_group = pm.Normal("z_group", 0.0, 1.0, dims=GROUP)
                u = pm.Deterministic("u", sigma_group * z_group, dims=GROUP)
                eta = eta + u[group_idx]
            beta = pm.Deterministic("beta", beta_std / scale, dims=PREDICTOR)
            pm.Deterministic("alpha", alpha_std - (center * beta).sum())
            pm.Bernoulli("y", logit_p=eta, observed=y_obs, dims=FIRM)
        return model

    def _coefficient_variables(self, priors: Mapping[str, Any], n_obs: int) -> tuple[Any, Any]:
        """Create ``alpha_std`` and ``beta_std`` (dims predictor) in the model being built.

        Shared with the models that extend the logit (e.g. the imputation model of
        :mod:`bayes_cluster.estimators.imputation`), so the coefficients and their priors
        are written once.
        """
        import pymc as pm

        terms = self.terms
        alpha_std = make_prior_variable("alpha_std", priors["intercept"])
        if priors["horseshoe"] is not None:
            return alpha_std, _horseshoe(priors["horseshoe"], len(terms), n_obs)
        specs = list(priors["slopes"].values())
        if len({spec["dist"] for spec in specs}) == 1:
            return alpha_std, make_prior_variable("beta_std", specs, dims=PREDICTOR)
        parts = [
            make_prior_variable(f"beta_std__{term}", spec)
            for term, spec in priors["slopes"].items()
        ]
        return alpha_std, pm.Deterministic("beta_std", pm.math.stack(parts), dims=PREDICTOR)

    def _fused_logp(self):
        # the logit (also with varying intercepts) whose priors the fused loop implements
        # (fuse_logit_logp declines the others, e.g. the horseshoe: the PyMC graph); the
        # compile key holds the priors, which the loop's constants are
        from bayes_cluster.inference.fast_logit import fuse_logit_logp

        priors = self.resolved_priors()
        return lambda compiled, model: fuse_logit_logp(compiled, model, priors)

    def _compile_key(self, prepared: _Prepared) -> tuple:
        """Priors, terms and group levels fix the graph; the firms are data.

        The number of firms only enters the graph through the horseshoe's global scale,
        so any other fit re-uses one compiled model for every sample size (a study's
        sizes share it); the group levels name the ``u`` draws, so they are part of it.
        """
        n_obs = len(prepared.data["y_obs"]) if self.shrinkage == "horseshoe" else None
        return (
            json.dumps(self.resolved_priors(), sort_keys=True),
            tuple(self.terms),
            self.group is not None,
            self.group_levels_,
            n_obs,
        )

    def _sampler_data(self, prepared: _Prepared) -> dict[str, np.ndarray]:
        return prepared.data

    def _target_accept_default(self) -> float:
        return 0.99 if self.shrinkage == "horseshoe" else self.default_target_accept

    def _context(self) -> str:
        return f"BayesianLogit({self.outcome})"

    def _provenance_extra(self, prepared: _Prepared) -> dict[str, Any]:
        return {"spec": self.config()}

    # ------------------------------------------------------------------ fit
    def fit(
        self,
        frame: pd.DataFrame,
        draws: int = 1000,
        tune: int = 1000,
        chains: int = 4,
        random_seed: int | None = None,
        sampler: Literal["nutpie_c", "nutpie", "pymc"] = "nutpie_c",
        *,
        target_accept: float | None = None,
        progressbar: bool = False,
        cores: int | None = None,
    ) -> xr.DataTree:
        """Sample the posterior and check it.

        Parameters
        ----------
        frame : pandas.DataFrame
            Data with the outcome, predictors and (if any) group column.
        draws, tune, chains : int
            Draws per chain after warm-up, warm-up iterations, chains.
        random_seed : int, optional
            Seed; the same seed gives the same draws.
        sampler : {"nutpie_c", "nutpie", "pymc"}, default "nutpie_c"
            "nutpie_c" compiles once per configuration and machine (cached on disk) and
            re-uses the compiled model on new data; "nutpie" gives the same draws but
            compiles in every process; "pymc" uses PyMC's own NUTS.
        target_accept : float, optional
            NUTS target acceptance (default 0.9, 0.99 with the horseshoe).
        progressbar : bool, default False
            Show the sampler's progress bar.
        cores : int, optional
            Chains run in parallel (nutpie; default all cores).

        Returns
        -------
        xarray.DataTree
            Groups ``posterior`` (``alpha``, ``beta`` on the original scale,
            ``alpha_std``, ``beta_std``, and ``sigma_group``, ``u`` with a group),
            ``sample_stats``, ``log_likelihood`` and ``posterior_predictive`` (``y``),
            ``observed_data`` and ``constant_data``; attrs hold the configuration, the
            provenance and the diagnostics verdict.  Also kept as :attr:`idata_`.

        Warns
        -----
        ConvergenceWarning
            When the fit fails its convergence checks (see :attr:`diagnostics_`).
        """
        return super().fit(
            frame,
            draws=draws,
            tune=tune,
            chains=chains,
            random_seed=random_seed,
            sampler=sampler,
            target_accept=target_accept,
            progressbar=progressbar,
            cores=cores,
        )

    def refit(self, frame: pd.DataFrame, **fit_kwargs: Any) -> xr.DataTree:
        """Fit again on new data of the same shape (re-uses the compiled nutpie model).

        Parameters
        ----------
        frame : pandas.DataFrame
            New data.
        **fit_kwargs
            Passed to :meth:`fit`.

        Returns
        -------
        xarray.DataTree
            As :meth:`fit`.
        """
        return self.fit(frame, **fit_kwargs)

    def _postprocess(
        self, raw: xr.DataTree, prepared: _Prepared, settings: SamplerSettings
    ) -> xr.DataTree:
        """Add firm coords, observed/constant data, log-likelihood and PPC."""
        data, seed = prepared.data, settings.seed
        firm = {FIRM: list(prepared.firm_ids)}
        posterior = raw["posterior"].to_dataset()
        eta = _linear_predictor(posterior, data)
        y = data["y_obs"]
        log_lik = y * _log_sigmoid(eta) + (1 - y) * _log_sigmoid(-eta)
        rng = np.random.default_rng(None if seed is None else seed + 1)
        y_rep = (rng.random(eta.shape) < _sigmoid(eta)).astype(np.int64)
        sample_coords = {"chain": posterior["chain"].values, "draw": posterior["draw"].values}
        dims = ("chain", "draw", FIRM)
        groups: dict[str, xr.Dataset] = {
            "log_likelihood": xr.Dataset({"y": (dims, log_lik)}, coords={**sample_coords, **firm}),
            "posterior_predictive": xr.Dataset(
                {"y": (dims, y_rep)}, coords={**sample_coords, **firm}
            ),
            "observed_data": xr.Dataset({"y": ((FIRM,), y.astype(np.int64))}, coords=firm),
        }
        constant = {
            "X": ((FIRM, PREDICTOR), data["X"]),
            "center": ((PREDICTOR,), data["center"]),
            "scale": ((PREDICTOR,), data["scale"]),
        }
        constant_coords: dict[str, Any] = {**firm, PREDICTOR: self.terms}
        if "group_idx" in data:
            constant["group_idx"] = ((FIRM,), data["group_idx"])
        groups["constant_data"] = xr.Dataset(constant, coords=constant_coords)
        children = {
            name: raw[name].to_dataset()
            for name in ("posterior", "sample_stats")
            if name in raw.children
        }
        if "sample_stats" in children:
            stats = children["sample_stats"]
            children["sample_stats"] = stats.drop_vars(
                [name for name in stats.data_vars if stats[name].dtype == object]
            )
        children.update(groups)
        tree = xr.DataTree.from_dict(children)
        for name in ("posterior", "sample_stats"):
            if name in raw.children:
                tree[name].attrs.update(raw[name].attrs)
        return tree

    def _diagnostic_variables(self, tree: xr.DataTree) -> list[str]:
        names = ["alpha", "beta", "alpha_std"]
        for name in ("sigma_group", "z_group", "tau", "lambda", "c2", "z_beta"):
            if name in tree["posterior"].data_vars:
                names.append(name)
        return names

    # ------------------------------------------------------------------ results
    def summary(self, hdi_prob: float | None = None, *, groups: bool = True) -> pd.DataFrame:
        """Coefficient table on the original scale, with odds ratios and diagnostics.

        With a ``group`` (and ``groups=True``) the hierarchy follows the coefficients, as
        rstanarm prints it: ``sigma[<group>]``, the between-group SD of the intercepts
        (log-odds), ``Sigma[<group>:(Intercept),(Intercept)]``, its square (rstanarm's
        ``Sigma`` is the variance), and one ``b[(Intercept) <group>:<level>]`` per group,
        the group's intercept deviation. Same columns; ``odds_ratio`` and
        ``prob_positive`` are empty (NaN) for the two variance rows.

        Parameters
        ----------
        hdi_prob : float, optional
            Interval probability (default :attr:`hdi_prob`, 0.94).
        groups : bool, default True
            Whether to add the hierarchy rows (a model without a group has none).

        Returns
        -------
        pandas.DataFrame
            Indexed by term (``Intercept`` and the predictor terms); columns ``mean``,
            ``sd``, ``hdi_lower``, ``hdi_upper``, ``odds_ratio`` (exp of the posterior
            mean), ``odds_ratio_lower``, ``odds_ratio_upper`` (exp of the HDI bounds),
            ``prob_positive`` (P(beta > 0)), ``r_hat``, ``ess_bulk``, ``ess_tail``.
        """
        import arviz_stats as azs

        tree = self._require_fit()
        prob = self.hdi_prob if hdi_prob is None else float(hdi_prob)
        draws = self.coefficient_draws()
        lower, upper = zip(*(hdi(draws[:, j], prob) for j in range(draws.shape[1])), strict=True)
        diagnostics = azs.summary(
            tree, var_names=["alpha", "beta"], kind="diagnostics", round_to="none"
        )
        diagnostics = pd.DataFrame(diagnostics)
        diagnostics.index = [INTERCEPT, *self.terms]
        mean = draws.mean(axis=0)
        table = pd.DataFrame(
            {
                "mean": mean,
                "sd": draws.std(axis=0, ddof=1),
                "hdi_lower": lower,
                "hdi_upper": upper,
                "odds_ratio": np.exp(mean),
                "odds_ratio_lower": np.exp(lower),
                "odds_ratio_upper": np.exp(upper),
                "prob_positive": (draws > 0).mean(axis=0),
                "r_hat": diagnostics["r_hat"].to_numpy(dtype=float),
                "ess_bulk": diagnostics["ess_bulk"].to_numpy(dtype=float),
                "ess_tail": diagnostics["ess_tail"].to_numpy(dtype=float),
            },
            index=pd.Index([INTERCEPT, *self.terms], name="term"),
        )
        if groups and self.group is not None:
            table = pd.concat([table, self._group_rows(tree, prob)])
        table.attrs["hdi_prob"] = prob
        return table

    def _group_rows(self, tree: xr.DataTree, prob: float) -> pd.DataFrame:
        """Rows ``sigma[g]``, ``Sigma[g:(Intercept),(Intercept)]`` and ``b[(Intercept) g:l]``."""
        import arviz_stats as azs

        posterior = tree["posterior"]
        sigma = posterior["sigma_group"].to_numpy().ravel()
        u = posterior["u"].transpose("chain", "draw", GROUP).to_numpy()
        u = u.reshape(-1, u.shape[-1])
        diagnostics = pd.DataFrame(
            azs.summary(tree, var_names=["sigma_group", "u"], kind="diagnostics", round_to="none")
        )
        sigma_diag = diagnostics.iloc[0]
        u_diag = diagnostics.iloc[1:]
        names = [
            f"sigma[{self.group}]",
            f"Sigma[{self.group}:(Intercept),(Intercept)]",
            *(f"b[(Intercept) {self.group}:{level}]" for level in self.group_levels_),
        ]
        columns = [sigma, sigma**2, *(u[:, j] for j in range(u.shape[1]))]
        rows = []
        for k, draws in enumerate(columns):
            lower, upper = hdi(draws, prob)
            coefficient = k >= 2
            diag = u_diag.iloc[k - 2] if coefficient else sigma_diag
            mean = float(draws.mean())
            rows.append(
                {
                    "mean": mean,
                    "sd": float(draws.std(ddof=1)),
                    "hdi_lower": lower,
                    "hdi_upper": upper,
                    "odds_ratio": np.exp(mean) if coefficient else np.nan,
                    "odds_ratio_lower": np.exp(lower) if coefficient else np.nan,
                    "odds_ratio_upper": np.exp(upper) if coefficient else np.nan,
                    "prob_positive": float((draws > 0).mean()) if coefficient else np.nan,
                    "r_hat": float(diag["r_hat"]),
                    "ess_bulk": float(diag["ess_bulk"]),
                    "ess_tail": float(diag["ess_tail"]),
                }
            )
        return pd.DataFrame(rows, index=pd.Index(names, name="term"))

    def group_shrinkage(self, hdi_prob: float | None = None) -> pd.DataFrame:
        """Each group's export share: raw (observed) against partially pooled (the model).

        The partially pooled share is, per posterior draw, the mean fitted probability of
        the group's firms (its intercept deviation ``b`` shrunk towards zero by the
        between-group SD, plus its firms' predictors).

        Parameters
        ----------
        hdi_prob : float, optional
            Interval probability (default :attr:`hdi_prob`).

        Returns
        -------
        pandas.DataFrame
            Indexed by group level: ``n_firms``, ``observed_share``, ``pooled_mean``,
            ``pooled_hdi_lower``, ``pooled_hdi_upper``, ``b_mean`` (posterior mean of the
            group's intercept deviation, log-odds). ``attrs["overall_share"]`` is the
            share of all firms.
        """
        self._require_fit()
        if self.group is None:
            raise ValueError("the model has no group: nothing is pooled")
        prob = self.hdi_prob if hdi_prob is None else float(hdi_prob)
        p = self.fitted_probabilities()
        p = p.reshape(-1, p.shape[-1])
        index = self._data["group_idx"]
        y = np.asarray(self._data["y_obs"], dtype=float)
        u = self.idata_["posterior"]["u"]
        rows = []
        for g, level in enumerate(self.group_levels_):
            members = index == g
            pooled = p[:, members].mean(axis=1)
            lower, upper = hdi(pooled, prob)
            rows.append(
                {
                    "n_firms": int(members.sum()),
                    "observed_share": float(y[members].mean()) if members.any() else np.nan,
                    "pooled_mean": float(pooled.mean()),
                    "pooled_hdi_lower": lower,
                    "pooled_hdi_upper": upper,
                    "b_mean": float(u.sel({GROUP: level}).mean()),
                }
            )
        table = pd.DataFrame(rows, index=pd.Index(list(self.group_levels_), name=GROUP))
        table.attrs["overall_share"] = float(y.mean())
        table.attrs["hdi_prob"] = prob
        return table

    def coefficient_draws(self) -> np.ndarray:
        """Draws of (Intercept, slopes) on the original scale, shape (samples, 1 + terms)."""
        posterior = self._require_fit()["posterior"]
        alpha = posterior["alpha"].to_numpy().reshape(-1, 1)
        beta = posterior["beta"].transpose("chain", "draw", PREDICTOR).to_numpy()
        return np.hstack([alpha, beta.reshape(-1, beta.shape[-1])])

    def fitted_probabilities(self) -> np.ndarray:
        """Posterior draws of each fitted firm's probability, shape (chain, draw, firm)."""
        tree = self._require_fit()
        return _sigmoid(_linear_predictor(tree["posterior"].to_dataset(), self._data))

    def predict(
        self,
        new_frame: pd.DataFrame,
        *,
        return_draws: bool = False,
        random_seed: int | None = None,
    ) -> pd.DataFrame | xr.DataArray:
        """Posterior predictive probability that each new firm has ``outcome = 1``.

        Parameters
        ----------
        new_frame : pandas.DataFrame
            New firms with the predictor (and group) columns; the outcome column is not
            needed.  A group level not seen in the fit gets a new varying intercept drawn
            from ``Normal(0, sigma_group)``.
        return_draws : bool, default False
            Return every posterior draw instead of the summary.
        random_seed : int, optional
            Seed of the new group effects.

        Returns
        -------
        pandas.DataFrame or xarray.DataArray
            Columns ``probability`` (posterior mean), ``hdi_lower``, ``hdi_upper``,
            indexed like ``new_frame``; or draws with dims (chain, draw, firm).
        """
        tree = self._require_fit()
        frame = new_frame.copy()
        if self.outcome not in frame.columns:
            frame[self.outcome] = 0
        info = self.design_info_
        X = (info.transform(frame).to_numpy(dtype=float) - self.center_) / self.scale_
        posterior = tree["posterior"].to_dataset()
        data: dict[str, np.ndarray] = {"X": X}
        rng = np.random.default_rng(random_seed)
        extra = 0.0
        if self.group is not None:
            if self.group not in frame.columns:
                raise ValueError(f"new data lack the group column {self.group!r}")
            labels = frame[self.group].astype(str).to_numpy()
            known = {level: i for i, level in enumerate(self.group_levels_)}
            data["group_idx"] = np.array([known.get(label, 0) for label in labels])
            new = np.array([label not in known for label in labels])
            if new.any():
                sigma = posterior["sigma_group"].to_numpy()[..., None]
                u_known = posterior["u"].transpose("chain", "draw", GROUP).to_numpy()
                u_new = sigma * rng.standard_normal(sigma.shape[:2] + (len(labels),))
                extra = np.where(new, u_new - u_known[..., data["group_idx"]], 0.0)
        probability = _sigmoid(_linear_predictor(posterior, data) + extra)
        draws = xr.DataArray(
            probability,
            dims=("chain", "draw", FIRM),
            coords={FIRM: list(_firm_ids(new_frame))},
            name="probability",
        )
        if return_draws:
            return draws
        flat = probability.reshape(-1, probability.shape[-1])
        bounds = np.array([hdi(flat[:, i], self.hdi_prob) for i in range(flat.shape[1])])
        return pd.DataFrame(
            {
                "probability": flat.mean(axis=0),
                "hdi_lower": bounds[:, 0],
                "hdi_upper": bounds[:, 1],
            },
            index=new_frame.index,
        )

    # ------------------------------------------------------------------ checks
    def sample_prior_predictive(
        self, draws: int = 500, random_seed: int | None = None, frame: pd.DataFrame | None = None
    ) -> xr.DataTree:
        """Draw from the prior and the prior predictive on the fitted (or given) data.

        Parameters
        ----------
        draws : int, default 500
            Number of prior draws.
        random_seed : int, optional
            Seed.
        frame : pandas.DataFrame, optional
            Data to use when the model is not fitted yet.

        Returns
        -------
        xarray.DataTree
            Groups ``prior`` and ``prior_predictive`` (``y``); also added to
            :attr:`idata_` when the model is fitted.
        """
        import pymc as pm

        if frame is not None:
            self.build_model(frame)
        prior = pm.sample_prior_predictive(draws=draws, model=self.model, random_seed=random_seed)
        groups = {name: prior[name].to_dataset() for name in ("prior", "prior_predictive")}
        if self.idata_ is not None:
            for name, dataset in groups.items():
                self.idata_[name] = xr.DataTree(dataset)
        return xr.DataTree.from_dict(groups)

    def sample_posterior_predictive(self, random_seed: int | None = None) -> xr.DataTree:
        """Replicate the outcome of every fitted firm from each posterior draw.

        :meth:`fit` already stores one replicate per draw; this redraws it with a seed.

        Parameters
        ----------
        random_seed : int, optional
            Seed.

        Returns
        -------
        xarray.DataTree
            The ``posterior_predictive`` group (``y``, dims chain, draw, firm), also
            replaced in :attr:`idata_`.
        """
        tree = self._require_fit()
        p = self.fitted_probabilities()
        rng = np.random.default_rng(random_seed)
        replicated = tree["posterior_predictive"].to_dataset().copy()
        replicated["y"] = (replicated["y"].dims, (rng.random(p.shape) < p).astype(np.int64))
        tree["posterior_predictive"] = xr.DataTree(replicated)
        return tree["posterior_predictive"]

    def pareto_k_table(self) -> pd.DataFrame:
        """Count the Pareto k values by the usual ranges (Vehtari et al. 2024).

        Returns
        -------
        pandas.DataFrame
            Rows ``good``, ``bad``, ``very bad``; columns ``range``, ``count``, ``percent``.
            The good/bad threshold is ``min(1 - 1 / log10(S), 0.7)`` for S draws.
        """
        elpd = self.loo()
        k = np.asarray(elpd.pareto_k).ravel()
        n_samples = int(
            self.idata_["posterior"].sizes["chain"] * self.idata_["posterior"].sizes["draw"]
        )
        good = min(1 - 1 / math.log10(n_samples), 0.7)
        counts = [int((k <= good).sum()), int(((k > good) & (k <= 1)).sum()), int((k > 1).sum())]
        return pd.DataFrame(
            {
                "range": [f"(-inf, {good:.2f}]", f"({good:.2f}, 1]", "(1, inf)"],
                "count": counts,
                "percent": [100 * c / k.size for c in counts],
            },
            index=pd.Index(["good", "bad", "very bad"], name="pareto_k"),
        )

    def bayes_r2(self) -> pd.Series:
        """Bayesian R² (Gelman, Goodrich, Gabry & Vehtari 2019), summarised over draws.

        For each draw, ``var(p) / (var(p) + mean(p (1 - p)))`` over the fitted firms.

        Returns
        -------
        pandas.Series
            ``mean``, ``sd``, ``hdi_lower``, ``hdi_upper``.
        """
        r2 = self.bayes_r2_draws()
        lower, upper = hdi(r2, self.hdi_prob)
        return pd.Series(
            {"mean": r2.mean(), "sd": r2.std(ddof=1), "hdi_lower": lower, "hdi_upper": upper},
            name="bayes_r2",
        )

    def bayes_r2_draws(self) -> np.ndarray:
        """Bayesian R² per posterior draw (flattened over chains)."""
        p = self.fitted_probabilities().reshape(-1, len(self._data["y_obs"]))
        fit_variance = p.var(axis=1, ddof=1)
        residual_variance = (p * (1 - p)).mean(axis=1)
        return fit_variance / (fit_variance + residual_variance)

    def classification_metrics(self, threshold: float = 0.5) -> pd.DataFrame:
        """In-sample accuracy and AUC with posterior uncertainty.

        Parameters
        ----------
        threshold : float, default 0.5
            Probability above which a firm is classified as 1.

        Returns
        -------
        pandas.DataFrame
            Rows ``accuracy`` and ``auc``; columns ``mean``, ``sd``, ``hdi_lower``,
            ``hdi_upper``.  In-sample figures are optimistic; use :meth:`loo` to compare
            models.
        """
        y = self._data["y_obs"].astype(bool)
        p = self.fitted_probabilities().reshape(-1, y.size)
        accuracy = ((p > threshold) == y).mean(axis=1)
        auc = np.array([_auc(y, row) for row in p])
        rows = {}
        for name, values in (("accuracy", accuracy), ("auc", auc)):
            lower, upper = hdi(values, self.hdi_prob)
            rows[name] = {
                "mean": values.mean(),
                "sd": values.std(ddof=1),
                "hdi_lower": lower,
                "hdi_upper": upper,
            }
        return pd.DataFrame.from_dict(rows, orient="index")

    def prior_sensitivity(self) -> pd.DataFrame:
        """Power-scaling prior and likelihood sensitivity (Kallioinen et al. 2024).

        Returns
        -------
        pandas.DataFrame
            ``arviz_stats.psense_summary`` of ``alpha`` and ``beta``: the prior and
            likelihood sensitivity of each and a diagnosis (prior-data conflict or a
            weak likelihood when above 0.05).
        """
        import arviz_stats as azs

        tree = self._require_fit()
        log_prior = self._log_prior(tree["posterior"].to_dataset())
        data = xr.DataTree.from_dict(
            {
                "posterior": tree["posterior"].to_dataset(),
                "log_likelihood": tree["log_likelihood"].to_dataset(),
                "log_prior": log_prior,
            }
        )
        result = azs.psense_summary(data, var_names=["alpha", "beta"], round_to=12)
        return pd.DataFrame(result)

    def _log_prior(self, posterior: xr.Dataset) -> xr.Dataset:
        """Each free variable's prior log-density at every draw (PyMC's ``compute_log_prior``).

        The intercept and a single family of slope priors from
        :data:`~bayes_cluster.inference.fast_logit.FUSED_PRIORS` (the defaults among them),
        without varying intercepts, are written out here, without importing PyMC and
        evaluating its graphs (some 2 s of a run's own process): PyMC's numbers but for a
        constant per variable below 1e-7 (PyMC's Normal carries log(sqrt(2 pi)) 1.2e-8 off),
        which power-scaling's self-normalised weights cancel (``tests/test_logistic.py``:
        the same sensitivity table). Any other model goes to PyMC.
        """
        from bayes_cluster.inference.fast_logit import FUSED_PRIORS

        priors = self.resolved_priors()
        slopes = list(priors["slopes"].values())
        written = (
            self.group is None
            and priors["horseshoe"] is None
            and len({spec["dist"] for spec in slopes}) == 1
            and all(spec["dist"] in FUSED_PRIORS for spec in [priors["intercept"], *slopes])
            and {"alpha_std", "beta_std"} <= set(posterior.data_vars)
        )
        if written:
            predictors = posterior["beta_std"][PREDICTOR]

            def parameter(name: str, default: float) -> xr.DataArray:
                values = [float(spec.get(name, default)) for spec in slopes]
                return xr.DataArray(values, coords={PREDICTOR: predictors}, dims=PREDICTOR)

            beta = _log_density(
                slopes[0]["dist"],
                posterior["beta_std"],
                parameter("mu", 0.0),
                parameter("sigma", 1.0),
                parameter("nu", 1.0),
            ).transpose(*posterior["beta_std"].dims)
            intercept = priors["intercept"]
            alpha = _log_density(
                intercept["dist"],
                posterior["alpha_std"],
                float(intercept.get("mu", 0.0)),
                float(intercept["sigma"]),
                float(intercept.get("nu", 1.0)),
            )
            return xr.Dataset({"beta_std": beta, "alpha_std": alpha})
        import pymc as pm

        # a few small graphs evaluated once per draw: PyTensor's Python implementation
        # (FAST_COMPILE) gives the same values without compiling them with numba first
        # (about 4 s of a core on an empty cache, and 2-3 s warm)
        log_prior = pm.stats.compute_log_prior(
            xr.DataTree.from_dict({"posterior": posterior}),
            model=self.model,
            extend_inferencedata=False,
            progressbar=False,
            compile_kwargs={"mode": "FAST_COMPILE"},
        )
        if isinstance(log_prior, xr.DataTree):
            log_prior = log_prior["log_prior"].to_dataset()
        return log_prior

    # ------------------------------------------------------------------ persistence
    def config(self) -> dict[str, Any]:
        """Return the model configuration (what the constructor was given).

        Returns
        -------
        dict
            JSON-able constructor arguments: ``BayesianLogit(**config)`` rebuilds the model.
        """
        return {
            "outcome": self.outcome,
            "predictors": list(self.predictors),
            "group": self.group,
            "priors": self.user_priors,
            "standardize": self.standardize,
            "shrinkage": self.shrinkage,
            "hdi_prob": self.hdi_prob,
            "reference_levels": {k: str(v) for k, v in self.reference_levels.items()},
        }

    def _fitted_state(self) -> dict[str, Any]:
        info = self.design_info_
        return {
            "design": None
            if info is None
            else {
                "predictors": list(info.predictors),
                "columns": list(info.columns),
                "levels": {k: [str(v) for v in vals] for k, vals in info.levels.items()},
                "reference_levels": {k: str(v) for k, v in info.reference_levels.items()},
                "term_sources": dict(info.term_sources),
            },
            "center": None if self.center_ is None else self.center_.tolist(),
            "scale": None if self.scale_ is None else self.scale_.tolist(),
            "group_levels": None if self.group_levels_ is None else list(self.group_levels_),
            "resolved_priors": self.resolved_priors(),
        }

    def _restore(self, tree: xr.DataTree, state: Mapping[str, Any]) -> None:
        """Re-create the design, standardisation, group levels and data after a load."""
        design = state["design"]
        self.design_info_ = DesignInfo(
            predictors=tuple(design["predictors"]),
            columns=tuple(design["columns"]),
            levels={k: tuple(v) for k, v in design["levels"].items()},
            reference_levels=dict(design["reference_levels"]),
            term_sources=dict(design["term_sources"]),
        )
        self.center_ = np.asarray(state["center"], dtype=float)
        self.scale_ = np.asarray(state["scale"], dtype=float)
        self.group_levels_ = tuple(state["group_levels"]) if state["group_levels"] else None
        constant = tree["constant_data"].to_dataset()
        self.n_obs_ = int(constant.sizes[FIRM])
        self._firm_ids = constant[FIRM].to_numpy()
        self._data = {
            "X": constant["X"].to_numpy(),
            "center": self.center_,
            "scale": self.scale_,
            "y_obs": tree["observed_data"]["y"].to_numpy(),
        }
        if "group_idx" in constant:
            self._data["group_idx"] = constant["group_idx"].to_numpy()


def compare_models(models_or_trees: Mapping[str, BayesianLogit | xr.DataTree]) -> pd.DataFrame:
    """Compare fitted models by PSIS-LOO expected log predictive density.

    Parameters
    ----------
    models_or_trees : mapping of str to BayesianLogit or xarray.DataTree
        Named fitted models (or their DataTrees, with a ``log_likelihood`` group ``y``) of
        the same observations.

    Returns
    -------
    pandas.DataFrame
        ``arviz_stats.compare``: rank, ``elpd``, ``p``, ``elpd_diff``, ``weight``, ``se``,
        ``dse``, ``warning``, indexed by model name, best first.
    """
    if len(models_or_trees) < 2:
        raise ValueError("compare_models needs at least two models")
    import arviz_stats as azs

    trees = {}
    for name, item in models_or_trees.items():
        tree = item._require_fit() if isinstance(item, BayesianLogit) else item
        if "log_likelihood" not in tree.children:
            raise ValueError(f"model {name!r} has no log_likelihood group")
        trees[name] = tree
    sizes = {name: tree["log_likelihood"].sizes.get(FIRM) for name, tree in trees.items()}
    if len(set(sizes.values())) != 1:
        raise ValueError(f"models were fitted to different numbers of firms: {sizes}")
    return pd.DataFrame(azs.compare(trees, var_name="y", round_to="none"))


# ---------------------------------------------------------------------- helpers
def _plain(value: Any) -> Any:
    """Deep-copy a mapping (e.g. a TOML table) into plain dicts."""
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    return value


def _outcome_values(series: pd.Series, name: str) -> np.ndarray:
    if series.isna().any():
        raise ValueError(
            f"outcome {name!r} has missing values (rows {list(series.index[series.isna()][:5])})"
        )
    values = pd.to_numeric(series, errors="coerce")
    bad = values.isna() | ~values.isin([0, 1])
    if bad.any():
        raise ValueError(
            f"outcome {name!r} must be 0/1; rows {list(series.index[bad][:5])} have "
            f"{list(series[bad][:5])}"
        )
    return values.to_numpy(dtype=np.int64)


def _firm_ids(frame: pd.DataFrame) -> np.ndarray:
    if "firm_id" in frame.columns and frame["firm_id"].is_unique:
        return frame["firm_id"].astype(str).to_numpy()
    return np.asarray([str(index) for index in frame.index])


def standardisation(X: np.ndarray, terms: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Return the centre and scale used to standardise a design matrix.

    Each column is centred at its mean and scaled by its SD, or by its range when the
    column takes only two values (a 0/1 dummy then keeps a one-unit step).

    Parameters
    ----------
    X : numpy.ndarray
        Design matrix, firms x terms, without an intercept column.
    terms : list of str
        Term names of the columns of `X`, used in error messages.

    Returns
    -------
    center, scale : numpy.ndarray
        One value per column; the standardised matrix is ``(X - center) / scale``.

    Raises
    ------
    ValueError
        If a column is constant.
    """
    center = X.mean(axis=0)
    scale = np.empty(X.shape[1])
    for j, term in enumerate(terms):
        values = np.unique(X[:, j])
        if values.size < 2:
            raise ValueError(f"predictor {term!r} is constant: it cannot be standardised")
        scale[j] = values[-1] - values[0] if values.size == 2 else X[:, j].std(ddof=1)
    return center, scale


def _rescale(spec: Mapping[str, Any], scale: float) -> dict[str, Any]:
    """Express a prior per SD per original unit (location and scale divided by the SD)."""
    out = dict(spec)
    for key in ("mu", "sigma"):
        if key in out:
            out[key] = out[key] / scale
    return out


def _horseshoe_tau0(hs: Mapping[str, float], n_terms: int, n_obs: float) -> float:
    p0 = hs["expected_nonzero"]
    return p0 / (n_terms - p0) * PSEUDO_SIGMA / math.sqrt(n_obs)


def _horseshoe(hs: Mapping[str, float], n_terms: int, n_obs: int):
    import pymc as pm

    tau0 = _horseshoe_tau0(hs, n_terms, n_obs)
    tau = pm.HalfStudentT("tau", nu=hs["global_df"], sigma=tau0)
    lam = pm.HalfStudentT("lambda", nu=hs["local_df"], sigma=1.0, dims=PREDICTOR)
    c2 = pm.InverseGamma(
        "c2", alpha=hs["slab_df"] / 2, beta=hs["slab_df"] * hs["slab_scale"] ** 2 / 2
    )
    z = pm.Normal("z_beta", 0.0, 1.0, dims=PREDICTOR)
    lam_tilde = pm.math.sqrt(c2 * lam**2 / (c2 + tau**2 * lam**2))
    return pm.Deterministic("beta_std", z * tau * lam_tilde, dims=PREDICTOR)


def _linear_predictor(posterior: xr.Dataset, data: Mapping[str, np.ndarray]) -> np.ndarray:
    """Eta draws, shape (chain, draw, firm), from the standardised parameters."""
    alpha = posterior["alpha_std"].transpose("chain", "draw").to_numpy()
    beta = posterior["beta_std"].transpose("chain", "draw", PREDICTOR).to_numpy()
    eta = alpha[..., None] + np.einsum("cdp,np->cdn", beta, data["X"])
    if "group_idx" in data and "u" in posterior:
        u = posterior["u"].transpose("chain", "draw", GROUP).to_numpy()
        eta = eta + u[..., data["group_idx"]]
    return eta


def _log_density(dist: str, x: Any, mu: Any, sigma: Any, nu: Any) -> Any:
    """Log-density of a Normal, Student-t, Cauchy or Laplace prior at ``x`` (as PyMC's)."""
    z = (x - mu) / sigma
    if dist == "Normal":
        return -0.5 * z**2 - np.log(sigma) - 0.5 * math.log(2 * math.pi)
    if dist == "StudentT":
        from scipy.special import gammaln

        return (
            gammaln((nu + 1.0) / 2.0)
            - gammaln(nu / 2.0)
            - 0.5 * np.log(nu * math.pi)
            - np.log(sigma)
            - (nu + 1.0) / 2.0 * np.log1p(z**2 / nu)
        )
    if dist == "Cauchy":
        return -math.log(math.pi) - np.log(sigma) - np.log1p(z**2)
    if dist == "Laplace":
        return -np.log(2.0 * sigma) - np.abs(x - mu) / sigma
    raise ValueError(f"no log-density written for {dist!r}")


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return np.exp(-np.logaddexp(0.0, -x))


def _log_sigmoid(x: np.ndarray) -> np.ndarray:
    return -np.logaddexp(0.0, -x)


def _auc(y: np.ndarray, score: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney, ties count one half)."""
    from scipy.stats import rankdata

    ranks = rankdata(score)
    n_pos = int(y.sum())
    n_neg = y.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return math.nan
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


_SCALE_KEYS = ("sigma", "beta", "b")
"""Scale parameters of the real-line priors (Normal/StudentT ``sigma``, Cauchy ``beta``,
Laplace ``b``): what :func:`widened_priors` multiplies."""


def widened_priors(model: BayesianLogit, factor: float = 4.0) -> dict[str, dict[str, Any]]:
    """Return the model's intercept and slope priors with every scale times ``factor``.

    Written out per term (a user ``priors=`` mapping), so that a model built with them
    differs from ``model`` only in the width of those priors (``group_sd`` unchanged).

    Parameters
    ----------
    model : BayesianLogit
        A model (its priors as resolved for its terms).
    factor : float
        How much wider (``4``: a Student-t(7, 0, 1) slope prior becomes t(7, 0, 4)).

    Returns
    -------
    dict
        ``{"intercept": spec, <term>: spec, ..., "group_sd": spec}`` (no group: no
        ``group_sd``).
    """
    if not factor > 0:
        raise ValueError(f"factor must be positive, got {factor!r}")
    resolved = model.resolved_priors()
    if resolved["horseshoe"] is not None:
        raise ValueError("the horseshoe's slopes have no single scale to widen")

    def widen(spec: Mapping[str, Any]) -> dict[str, Any]:
        return {k: v * factor if k in _SCALE_KEYS else v for k, v in spec.items()}

    priors: dict[str, dict[str, Any]] = {"intercept": widen(resolved["intercept"])}
    priors.update({term: widen(spec) for term, spec in resolved["slopes"].items()})
    if resolved["group_sd"] is not None:
        priors["group_sd"] = dict(resolved["group_sd"])
    return priors


def prior_sensitivity_reading(
    sensitivity: pd.DataFrame,
    default: pd.DataFrame,
    wide: pd.DataFrame,
    *,
    factor: float,
    threshold: float = 0.05,
) -> tuple[pd.DataFrame, list[str]]:
    """Read the power-scaling check in words, beside the fit under a wider prior.

    Parameters
    ----------
    sensitivity : pandas.DataFrame
        :meth:`BayesianLogit.prior_sensitivity` (index ``alpha``, ``beta[<term>]``;
        columns ``prior``, ``likelihood``, ``diagnosis``).
    default, wide : pandas.DataFrame
        :meth:`BayesianLogit.summary` (coefficient rows) of the fit under the default
        priors and under priors ``factor`` times wider, at the same HDI level.
    factor : float
        How much wider the second prior is (named in the sentences).
    threshold : float
        psense's flag threshold (0.05).

    Returns
    -------
    (pandas.DataFrame, list of str)
        Indexed by term: the posterior mean and HDI under each prior, ``shift_in_sd``
        (change of the mean in posterior SDs of the default fit), the two sensitivities,
        the diagnosis, and the conclusion (``effect`` when the HDI excludes 0) under each
        prior; and sentences saying what the flags mean and whether a conclusion moves.
    """
    terms = list(default.index)
    keys = {term: "alpha" if term == INTERCEPT else f"beta[{term}]" for term in terms}

    def conclusion(table: pd.DataFrame) -> pd.Series:
        excludes = (table["hdi_lower"] > 0) | (table["hdi_upper"] < 0)
        return excludes.map({True: "effect", False: "no clear effect"})

    table = pd.DataFrame(
        {
            "mean_default": default["mean"],
            "hdi_lower_default": default["hdi_lower"],
            "hdi_upper_default": default["hdi_upper"],
            "mean_wide": wide.loc[terms, "mean"],
            "hdi_lower_wide": wide.loc[terms, "hdi_lower"],
            "hdi_upper_wide": wide.loc[terms, "hdi_upper"],
            "shift_in_sd": (wide.loc[terms, "mean"] - default["mean"]) / default["sd"],
            "prior_sensitivity": [float(sensitivity.loc[keys[t], "prior"]) for t in terms],
            "likelihood_sensitivity": [
                float(sensitivity.loc[keys[t], "likelihood"]) for t in terms
            ],
            "diagnosis": [str(sensitivity.loc[keys[t], "diagnosis"]) for t in terms],
            "conclusion_default": conclusion(default),
            "conclusion_wide": conclusion(wide.loc[terms]),
        },
        index=pd.Index(terms, name="term"),
    )
    flagged = [t for t in terms if table.loc[t, "prior_sensitivity"] > threshold]
    conflict = [t for t in flagged if table.loc[t, "likelihood_sensitivity"] > threshold]
    weak = [t for t in flagged if t not in conflict]
    moved = [
        t for t in terms if table.loc[t, "conclusion_default"] != table.loc[t, "conclusion_wide"]
    ]
    sentences = []
    if not flagged:
        sentences.append(
            f"No coefficient is prior-sensitive (every power-scaling value is at most "
            f"{threshold:g}): the data, not the priors, set the posteriors."
        )
    else:
        sentences.append(
            f"The power-scaling check flags {len(flagged)} of {len(terms)} coefficients "
            f"({', '.join(flagged)}): their posteriors move when the prior is made stronger "
            "or weaker, so with this many firms their size partly reflects the prior. A flag "
            "is a reason to show the result under another prior, not an error."
        )
    if conflict:
        sentences.append(
            f"Prior-data conflict ({', '.join(conflict)}): both the prior and the likelihood "
            f"move the posterior (sensitivity above {threshold:g}), i.e. the data place "
            "these coefficients where the prior has little mass, and the prior pulls the "
            "estimates towards its centre; the wider prior below shows by how much."
        )
    if weak:
        sentences.append(
            f"Weak likelihood ({', '.join(weak)}): the prior moves the posterior but the "
            "data hardly do, so these posteriors are close to their priors."
        )
    biggest = table["shift_in_sd"].abs().idxmax()
    sentences.append(
        f"Under priors {factor:g} times wider, the largest change of a posterior mean is "
        f"{table.loc[biggest, 'shift_in_sd']:+.2f} posterior SDs ({biggest})."
    )
    if moved:
        sentences.append(
            f"The conclusion changes under the wider prior for {', '.join(moved)}: "
            "report these as prior-dependent."
        )
    else:
        sentences.append(
            "No conclusion changes under the wider prior (each HDI excludes zero, or "
            "includes it, under both): the verdicts do not hinge on the prior's width."
        )
    return table, sentences

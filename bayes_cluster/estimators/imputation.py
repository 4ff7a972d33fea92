"""Bayesian imputation of missing predictor cells inside the logit (``missing = "model"``).

:class:`BayesianImputedLogit` is the :class:`~bayes_cluster.estimators.logistic.BayesianLogit`
with a model of its own for every predictor column that has blank cells: the blanks are
unknowns of the posterior, fitted jointly with the logit, so a firm with one blank answer
keeps its six other answers and its outcome in the fit (complete-case analysis would drop
the whole firm).  A missing *outcome* is never imputed (the model refuses it).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
import xarray as xr

from bayes_cluster.common.dims import FIRM, GROUP, MISSING_CELL, PREDICTOR
from bayes_cluster.estimators.logistic import BayesianLogit, standardisation
from bayes_cluster.inference.priors import make_prior_variable
from bayes_cluster.inference.sampling import SamplerSettings
from bayes_cluster.inference.summaries import hdi
from bayes_cluster.surveys.design_matrix import is_categorical

__all__ = [
    "IMPUTATION_KINDS",
    "IMPUTATION_PRIORS",
    "BayesianImputedLogit",
    "ImputationError",
    "imputation_kinds_from_codebook",
]

ImputationKind = Literal["continuous", "binary", "ordinal"]
IMPUTATION_KINDS: tuple[str, ...] = ("continuous", "binary", "ordinal")
"""How a predictor with blanks is modelled: normal, logit, or ordered logit."""

IMPUTATION_PRIORS: dict[str, dict[str, float]] = {
    # all on the standardised scale of the predictors (per SD of each covariate)
    "intercept": {"sigma": 1.5},  # Normal(0, 1.5): mean / log-odds at the covariate means
    "slopes": {"sigma": 1.0},  # Normal(0, 1): association with each earlier column
    "sigma": {"sigma": 1.0},  # HalfNormal(1): residual SD of a continuous column
    "cutpoints": {"sigma": 2.5},  # Normal(0, 2.5), ordered: cutpoints of an ordinal column
}
"""Priors of the imputation models (weakly informative, standardised scale)."""

MAX_MISSING_FRACTION = 0.5
"""Default largest share of blanks a predictor column may have."""


MAX_COMPLETIONS = 20_000
"""Largest number of answer combinations summed over for one firm (5 blank Likert answers
give 5**5 = 3125)."""


class ImputationError(ValueError):
    """The survey's blanks cannot be imputed (the message names file, column and rows)."""


def imputation_kinds_from_codebook(columns: Sequence[Any]) -> dict[str, str]:
    """Map each codebook column to the imputation model its type calls for.

    ``binary`` columns get a logit, ``likert`` columns an ordered logit, ``count`` and
    ``number`` columns a normal model on the standardised scale (on the log scale when
    every observed value is above 0, see :class:`BayesianImputedLogit`).

    Parameters
    ----------
    columns : sequence of bayes_cluster.surveys.codebook.Column
        The codebook.

    Returns
    -------
    dict of str to str
        Column name to ``"binary"``, ``"ordinal"`` or ``"continuous"`` (ids and
        categories are left out: they are not imputed).
    """
    kinds = {"binary": "binary", "likert": "ordinal", "count": "continuous"}
    kinds["number"] = "continuous"
    return {c.name: kinds[c.kind] for c in columns if c.kind in kinds}


@dataclass(frozen=True)
class _Incomplete:
    """One predictor column with blanks and its imputation model."""

    term: str
    index: int  # column of the design matrix
    kind: str
    covariates: tuple[int, ...]  # design columns it is regressed on (standardised)
    levels: tuple[float, ...]  # observed values of a binary/ordinal column, sorted
    missing_firms: tuple[int, ...]
    # a continuous column positive by nature (every observed value > 0): modelled as log(x)
    log_scale: bool = False


@dataclass(frozen=True)
class _ImputedPrepared:
    """One fit's data: the container values, the firm labels and the missing-data plan."""

    data: dict[str, np.ndarray]
    firm_ids: np.ndarray
    incomplete: tuple[_Incomplete, ...]


class BayesianImputedLogit(BayesianLogit):
    r"""Bayesian logit whose missing predictor cells are imputed by a model, jointly.

    The predictors with blanks (the *incomplete* columns :math:`x_1, \dots, x_J`) get a
    joint model by **sequential conditional regressions** (Ibrahim, Chen & Lipsitz 2002;
    the factorisation of ``mice``'s chained equations, made one proper joint density),
    given the complete predictors :math:`w` (standardised, as in the logit):

    .. math::

        p(x_1, \dots, x_J \mid w) = \prod_{j=1}^{J}
            p_j\!\left(x_j \mid w, x_1, \dots, x_{j-1}; \gamma_j\right),

    continuous columns first, then binary and ordinal ones, each in term order:

    * continuous (``count``/``number``, and transformed columns): on the standardised
      scale, :math:`\tilde x_{ij} \sim \mathcal N(\gamma_{j0} + \gamma_j^\top v_{ij},
      \sigma_j)`;
      a column positive by nature (every observed value > 0: firm age, counts of
      workers) is modelled on the log scale instead, :math:`\tilde x_{ij}` being
      :math:`\log x_{ij}` standardised by the observed cells' logs, so an imputed value
      is never impossible (never 0 or below; a column with an observed 0 or a negative
      value keeps the normal model); the logit and the later regressions see the
      imputed value on the column's own scale;
    * binary: :math:`x_{ij} \sim \operatorname{Bernoulli}(\operatorname{logit}^{-1}
      (\gamma_{j0} + \gamma_j^\top v_{ij}))`;
    * ordinal (Likert): ordered logit over the column's observed levels,
      :math:`P(x_{ij} \le \ell_k) = \operatorname{logit}^{-1}(c_{jk} - \gamma_j^\top
      v_{ij})`,

    where :math:`v_{ij}` holds :math:`w_i` and the earlier incomplete columns.  The
    outcome model is the logit of :class:`BayesianLogit` on the completed predictors.
    Missing continuous cells are parameters sampled by NUTS; missing binary and ordinal
    cells are summed out of the likelihood (each firm's possible completions), and their
    posterior draws are recovered after sampling from
    :math:`p(x_{i,\text{mis}} \mid y_i, x_{i,\text{obs}}, \theta)` (exact, per draw).

    Why sequential regressions rather than one multivariate normal with an LKJ prior over
    all predictors: five of the seven Tumang predictors are binary or 5-point ordinal, and
    a normal model would impute values like 3.4 or 1.3 for a 0/1 answer; the sequential
    form gives each column the model of its type and still lets each depend on every
    other predictor (and, through the joint likelihood, on the outcome).

    Priors (standardised scale, :data:`IMPUTATION_PRIORS`): intercepts
    :math:`\mathcal N(0, 1.5)`, slopes :math:`\mathcal N(0, 1)`, residual SDs
    :math:`\mathcal N^+(0, 1)`, ordered cutpoints :math:`\mathcal N(0, 2.5)`.
    Centre and scale of an incomplete column come from its observed cells.  The
    imputation assumes blanks are missing at random given the observed predictors and
    the outcome (MAR).

    Parameters
    ----------
    outcome, predictors, group, priors, standardize, shrinkage, hdi_prob, reference_levels
        As :class:`BayesianLogit`.  Categorical (text) predictors must be complete.
    kinds : mapping of str to {"continuous", "binary", "ordinal"}, optional
        The imputation model of each predictor (e.g.
        :func:`imputation_kinds_from_codebook`).  By default: a column whose observed
        values are 0/1 is binary, one of at most 10 whole-number values is ordinal, any
        other continuous.
    levels : mapping of str to sequence of float, optional
        The possible values of an ordinal column (e.g. a Likert item's 1..5 from the
        codebook); by default its observed values.  Imputed values are among them.
    max_missing_fraction : float, default 0.5
        A predictor with a larger share of blanks is refused.
    source : str, optional
        The survey file, named in error messages.

    Examples
    --------
    >>> from bayes_cluster.estimators.imputation import BayesianImputedLogit
    >>> model = BayesianImputedLogit("export", ["workers", "promotion", "training"])
    >>> tree = model.fit(frame_with_blanks, random_seed=1)  # doctest: +SKIP
    >>> model.imputed_values()  # doctest: +SKIP
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
        kinds: Mapping[str, str] | None = None,
        levels: Mapping[str, Sequence[float]] | None = None,
        max_missing_fraction: float = MAX_MISSING_FRACTION,
        source: str | None = None,
    ) -> None:
        super().__init__(
            outcome,
            predictors,
            group,
            priors,
            standardize,
            shrinkage=shrinkage,
            hdi_prob=hdi_prob,
            reference_levels=reference_levels,
        )
        kinds = {str(k): str(v) for k, v in (kinds or {}).items()}
        bad = {k: v for k, v in kinds.items() if v not in IMPUTATION_KINDS}
        if bad:
            raise ValueError(f"kinds must be one of {list(IMPUTATION_KINDS)}, got {bad}")
        if not 0 < max_missing_fraction < 1:
            raise ValueError(
                f"max_missing_fraction must be in (0, 1), got {max_missing_fraction!r}"
            )
        self.kinds = kinds
        self.levels = {str(k): [float(v) for v in values] for k, values in (levels or {}).items()}
        self.max_missing_fraction = float(max_missing_fraction)
        self.source = source
        self.incomplete_: tuple[_Incomplete, ...] = ()

    # ------------------------------------------------------------------ data
    def _where(self) -> str:
        return f"{self.source}: " if self.source else ""

    def _check_blanks(self, frame: pd.DataFrame) -> list[str]:
        """Refuse blanks the model cannot impute; return the predictors with blanks."""
        if not isinstance(frame, pd.DataFrame):
            raise TypeError(f"frame must be a pandas DataFrame, got {type(frame).__name__}")
        needed = [self.outcome, *self.predictors, *([self.group] if self.group else [])]
        absent = [name for name in needed if name not in frame.columns]
        if absent:
            raise ValueError(f"column(s) {absent} not in the data (it has {list(frame.columns)})")
        ids = _firm_labels(frame)
        where = self._where()
        blank_outcome = frame[self.outcome].isna().to_numpy()
        if blank_outcome.any():
            raise ImputationError(
                f"{where}column {self.outcome!r} (the outcome) is blank for firm(s) "
                f"{_firms(ids, blank_outcome)}: a missing outcome is not imputed; complete "
                "those cells or remove those firms from the file"
            )
        if self.group is not None and frame[self.group].isna().any():
            raise ImputationError(
                f"{where}column {self.group!r} (the group) is blank for firm(s) "
                f"{_firms(ids, frame[self.group].isna().to_numpy())}: the group is not imputed"
            )
        incomplete = []
        for name in self.predictors:
            blank = frame[name].isna().to_numpy()
            if not blank.any():
                continue
            if blank.all():
                raise ImputationError(
                    f"{where}column {name!r} is blank for every firm: there is nothing to "
                    "impute it from; remove it from the predictors"
                )
            if blank.mean() > self.max_missing_fraction:
                raise ImputationError(
                    f"{where}column {name!r} is blank for {int(blank.sum())} of "
                    f"{blank.size} firms ({blank.mean():.0%}), more than the "
                    f"{self.max_missing_fraction:.0%} the imputation model accepts: its "
                    "imputed values would be mostly the model's guess"
                )
            if is_categorical(frame[name]):
                raise ImputationError(
                    f"{where}column {name!r} is categorical and blank for firm(s) "
                    f"{_firms(ids, blank)}: only numeric predictors are imputed"
                )
            incomplete.append(name)
        return incomplete

    def _kind(self, name: str, observed: np.ndarray) -> str:
        if name in self.kinds:
            kind = self.kinds[name]
        else:
            values = np.unique(observed)
            whole = np.all(values == np.round(values))
            if set(values.tolist()) <= {0.0, 1.0}:
                kind = "binary"
            elif whole and values.size <= 10:
                kind = "ordinal"
            else:
                kind = "continuous"
        return kind

    def _prepare_fit(self, frame: pd.DataFrame) -> _ImputedPrepared:
        """Design and standardisation from the observed cells; the plan of the blanks."""
        names = self._check_blanks(frame)
        filled = frame.copy()
        for name in names:
            first = frame[name].dropna().iloc[0]
            filled[name] = frame[name].astype(float).fillna(float(first))
        base = super()._prepare_fit(filled)
        data = dict(base.data)
        terms = self.terms
        X = data["X"] * data["scale"] + data["center"]
        center, scale = data["center"].copy(), data["scale"].copy()
        plan: list[_Incomplete] = []
        for name in names:
            j = terms.index(name)
            raw = frame[name].astype(float).to_numpy()
            blank = np.isnan(raw)
            X[:, j] = raw
            observed = raw[~blank]
            if np.unique(observed).size < 2:
                raise ImputationError(
                    f"{self._where()}column {name!r} takes a single value among the firms "
                    "that answered it: it cannot be standardised or imputed"
                )
            if self.standardize:
                c, s = standardisation(observed[:, None], [name])
                center[j], scale[j] = c[0], s[0]
            kind = self._kind(name, observed)
            levels: tuple[float, ...] = ()
            if kind == "binary":
                levels = (0.0, 1.0)
            elif kind == "ordinal":
                levels = tuple(self.levels.get(name, np.unique(observed).tolist()))
                outside = sorted(set(np.unique(observed).tolist()) - set(levels))
                if outside:
                    raise ImputationError(
                        f"{self._where()}column {name!r} has value(s) {outside} outside its "
                        f"levels {list(levels)}"
                    )
            if kind == "binary" and not set(np.unique(observed).tolist()) <= {0.0, 1.0}:
                raise ImputationError(
                    f"{self._where()}column {name!r} is modelled as binary but its values are "
                    f"{np.unique(observed).tolist()} (expected 0 and 1)"
                )
            # positive by nature (firm age, counts): imputed on the log scale, so an
            # imputed value is never 0 or negative
            log_scale = kind == "continuous" and bool(observed.min() > 0)
            plan.append(
                _Incomplete(
                    name, j, kind, (), levels, tuple(np.flatnonzero(blank).tolist()), log_scale
                )
            )
        # continuous columns first (their blanks are NUTS parameters; the discrete ones are
        # summed out given them), each regressed on the complete terms and earlier columns
        plan.sort(key=lambda item: (item.kind != "continuous", item.index))
        complete = [j for j in range(len(terms)) if j not in {item.index for item in plan}]
        ordered = []
        for position, item in enumerate(plan):
            earlier = [other.index for other in plan[:position]]
            covariates = tuple(sorted(complete + earlier))
            ordered.append(
                _Incomplete(
                    item.term,
                    item.index,
                    item.kind,
                    covariates,
                    item.levels,
                    item.missing_firms,
                    item.log_scale,
                )
            )
        completions = np.ones(len(frame))
        for item in ordered:
            if item.kind != "continuous":
                completions[list(item.missing_firms)] *= len(item.levels)
        if completions.max() > MAX_COMPLETIONS:
            ids = _firm_labels(frame)
            raise ImputationError(
                f"{self._where()}firm(s) {_firms(ids, completions > MAX_COMPLETIONS)} have so "
                f"many blank binary/Likert answers that summing over their possible answers "
                f"takes more than {MAX_COMPLETIONS:,} combinations; complete some of them or "
                "leave those firms out"
            )
        self.center_, self.scale_ = center, scale
        standardised = (X - center) / scale
        data["center"], data["scale"] = center, scale
        data["X"] = np.where(np.isnan(standardised), 0.0, standardised)
        data.update(_missing_data(standardised, tuple(ordered), center, scale))
        for item in ordered:
            if item.log_scale:
                data.update(_log_scale_data(X[:, item.index], item, center, scale))
        prepared = _ImputedPrepared(data, base.firm_ids, tuple(ordered))
        self.incomplete_ = prepared.incomplete
        self._data = data
        self._missing_mask = np.isnan(standardised)
        return prepared

    # ------------------------------------------------------------------ model
    def _build(self, prepared: _ImputedPrepared):
        import pymc as pm
        import pytensor.tensor as pt

        data = prepared.data
        terms = self.terms
        priors = self.resolved_priors(terms)
        coords: dict[str, Any] = {PREDICTOR: terms, FIRM: list(prepared.firm_ids)}
        if self.group is not None:
            coords[GROUP] = list(self.group_levels_)
        with pm.Model(coords=coords) as model:
            X_data = pm.Data("X", data["X"], dims=(FIRM, PREDICTOR))
            center = pm.Data("center", data["center"], dims=PREDICTOR)
            scale = pm.Data("scale", data["scale"], dims=PREDICTOR)
            y_obs = pm.Data("y_obs", data["y_obs"], dims=FIRM)
            alpha_std, beta_std = self._coefficient_variables(priors, len(data["y_obs"]))
            X = X_data
            discrete = [item for item in prepared.incomplete if item.kind != "continuous"]
            for item in prepared.incomplete:
                if item.kind == "continuous":
                    X = _continuous_model(pm, pt, X, X_data, item, data)
            # one row per firm and completion of its blank binary/Likert cells; only the
            # discrete columns differ between a firm's rows, so every linear predictor is
            # its firm-level part (complete and continuous columns, n x P) taken to the
            # rows, plus the discrete columns' part (rows x discrete): no rows x P design
            row_firm = pm.Data("row_firm", data["row_firm"])
            if discrete:
                row_std = pm.Data("row_std", data["row_std"])
            position = {d.index: k for k, d in enumerate(discrete)}
            firm_terms = [j for j in range(len(terms)) if j not in position]
            eta_firm = alpha_std + pt.dot(X[:, firm_terms], beta_std[firm_terms])
            if self.group is not None:
                group_idx = pm.Data("group_idx", data["group_idx"], dims=FIRM)
                sigma_group = make_prior_variable("sigma_group", priors["group_sd"])
                z_group = pm.Normal("z_group", 0.0, 1.0, dims=GROUP)
                u = pm.Deterministic("u", sigma_group * z_group, dims=GROUP)
                eta_firm = eta_firm + u[group_idx]
            eta = eta_firm[row_firm]
            if discrete:
                eta = eta + pt.dot(row_std, beta_std[[d.index for d in discrete]])
            beta = pm.Deterministic("beta", beta_std / scale, dims=PREDICTOR)
            pm.Deterministic("alpha", alpha_std - (center * beta).sum())
            y_rows = y_obs[row_firm]
            row_logp = _bernoulli_logit_logp(pt, y_rows, eta)
            for item in discrete:
                row_logp = row_logp + _discrete_logp(pm, pt, X, data, position, item)
            # each firm's log of the sum over its completion rows (rows are grouped by
            # firm), shifted by the firm's first row: the rows of one firm differ only by
            # the log-probabilities of its blank answers, never by hundreds of nats
            first = pm.Data("firm_first_row", data["firm_first_row"])
            reference = row_logp[first]
            totals = pt.inc_subtensor(
                pt.zeros_like(reference)[row_firm], pt.exp(row_logp - reference[row_firm])
            )
            pm.Potential("y_and_discrete_blanks", (pt.log(totals) + reference).sum())
        return model

    def _compile_key(self, prepared: _ImputedPrepared) -> tuple:
        """Return the logit's key plus the imputation plan.

        The plan is the columns, kinds, levels and number of continuous blanks (the sizes
        of the parameters); which firms are blank is data.
        """
        plan = tuple(
            (
                item.term,
                item.kind,
                item.covariates,
                item.levels,
                len(item.missing_firms) if item.kind == "continuous" else None,
                item.log_scale,
            )
            for item in prepared.incomplete
        )
        return (*super()._compile_key(prepared), plan)

    def _sampler_data(self, prepared: _ImputedPrepared) -> dict[str, np.ndarray]:
        # the completion rows' codes are read after sampling only (the graph reads each
        # column's contexts)
        return {k: v for k, v in prepared.data.items() if k != "row_codes"}

    def _diagnostic_variables(self, tree: xr.DataTree) -> list[str]:
        names = super()._diagnostic_variables(tree)
        posterior = tree["posterior"].data_vars
        names += [name for name in posterior if str(name).startswith(("imp_", "x_mis__"))]
        return names

    def _provenance_extra(self, prepared: _ImputedPrepared) -> dict[str, Any]:
        extra = super()._provenance_extra(prepared)
        extra["missing_predictors"] = json.dumps(
            {item.term: [item.kind, len(item.missing_firms)] for item in prepared.incomplete}
        )
        return extra

    def _context(self) -> str:
        return f"BayesianImputedLogit({self.outcome})"

    # ------------------------------------------------------------------ postprocess
    def _postprocess(
        self, raw: xr.DataTree, prepared: _ImputedPrepared, settings: SamplerSettings
    ) -> xr.DataTree:
        """Add the imputed cells' draws and the outcome's likelihood to the logit's groups."""
        tree = super()._postprocess(raw, prepared, settings)
        data = prepared.data
        posterior = tree["posterior"].to_dataset()
        chains, draws = posterior.sizes["chain"], posterior.sizes["draw"]
        params = _parameter_draws(posterior, prepared.incomplete)
        X_draws = _continuous_completion(data, prepared.incomplete, params)
        row_x, row_y = _row_log_probs(X_draws, data, prepared.incomplete, params)
        starts, row_firm = data["firm_first_row"], data["row_firm"]
        joint = row_x + row_y
        log_lik = _segment_logsumexp(joint, starts, row_firm) - _segment_logsumexp(
            row_x, starts, row_firm
        )
        rng = np.random.default_rng(None if settings.seed is None else settings.seed + 2)
        chosen = _draw_completions(joint, starts, row_firm, rng)
        values, labels, firms, columns = [], [], [], []
        discrete = [item for item in prepared.incomplete if item.kind != "continuous"]
        for item in prepared.incomplete:
            j = item.index
            for firm in item.missing_firms:
                if item.kind == "continuous":
                    standard = X_draws[:, firm, j]
                else:
                    position = discrete.index(item)
                    standard = data["row_std"][chosen[:, firm], position]
                values.append(standard * self.scale_[j] + self.center_[j])
                labels.append(f"{item.term}[{prepared.firm_ids[firm]}]")
                firms.append(str(prepared.firm_ids[firm]))
                columns.append(item.term)
        shape = (chains, draws)
        sample_coords = {"chain": posterior["chain"].values, "draw": posterior["draw"].values}
        if values:
            imputed = np.stack(values, axis=-1).reshape(*shape, len(values))
            posterior["imputed"] = xr.DataArray(
                imputed,
                dims=("chain", "draw", MISSING_CELL),
                coords={
                    **sample_coords,
                    MISSING_CELL: labels,
                    "imputed_firm": (MISSING_CELL, firms),
                    "imputed_column": (MISSING_CELL, columns),
                },
            )
        X_completed = self._completed_design(posterior)
        eta = _eta_draws(posterior, X_completed, data)
        firm = {FIRM: list(prepared.firm_ids)}
        dims = ("chain", "draw", FIRM)
        y_rep = (rng.random(eta.shape) < _sigmoid(eta)).astype(np.int64)
        constant = tree["constant_data"].to_dataset()
        constant["X"] = ((FIRM, PREDICTOR), np.where(self._missing_mask, np.nan, data["X"]))
        children = {name: tree[name].to_dataset() for name in tree.children}
        children["posterior"] = posterior
        children["constant_data"] = constant
        children["log_likelihood"] = xr.Dataset(
            {"y": (dims, log_lik.reshape(*shape, -1))}, coords={**sample_coords, **firm}
        )
        children["posterior_predictive"] = xr.Dataset(
            {"y": (dims, y_rep)}, coords={**sample_coords, **firm}
        )
        out = xr.DataTree.from_dict(children)
        for name in ("posterior", "sample_stats"):
            if name in tree.children:
                out[name].attrs.update(tree[name].attrs)
        return out

    def _completed_design(self, posterior: xr.Dataset) -> np.ndarray:
        """Standardised design per draw, blanks filled: shape (chain, draw, firm, term)."""
        X = self._data["X"]
        chains, draws = posterior.sizes["chain"], posterior.sizes["draw"]
        completed = np.broadcast_to(X, (chains, draws, *X.shape)).copy()
        if "imputed" in posterior:
            terms = self.terms
            firm_index = {str(f): i for i, f in enumerate(self._firm_ids)}
            imputed = posterior["imputed"].transpose("chain", "draw", MISSING_CELL)
            for k, (firm, column) in enumerate(
                zip(
                    imputed["imputed_firm"].values,
                    imputed["imputed_column"].values,
                    strict=True,
                )
            ):
                j = terms.index(str(column))
                value = imputed.values[..., k]
                completed[:, :, firm_index[str(firm)], j] = (value - self.center_[j]) / (
                    self.scale_[j]
                )
        return completed

    # ------------------------------------------------------------------ results
    def fitted_probabilities(self) -> np.ndarray:
        """Posterior draws of each firm's probability, blanks filled per draw.

        Returns
        -------
        numpy.ndarray
            Shape (chain, draw, firm).
        """
        tree = self._require_fit()
        posterior = tree["posterior"].to_dataset()
        return _sigmoid(_eta_draws(posterior, self._completed_design(posterior), self._data))

    def imputed_values(self, hdi_prob: float | None = None) -> pd.DataFrame:
        """Posterior of every imputed cell, on the column's original scale.

        Parameters
        ----------
        hdi_prob : float, optional
            Interval probability (default :attr:`hdi_prob`).

        Returns
        -------
        pandas.DataFrame
            One row per blank cell, indexed ``column[firm]``: ``firm``, ``column``,
            ``kind``, ``mean``, ``sd``, ``hdi_lower``, ``hdi_upper``, ``r_hat``,
            ``ess_bulk``, ``ess_tail`` (R-hat and ESS are NaN for a cell whose every draw
            is the same value), and ``mode`` with ``prob_mode`` (the most probable value
            and its posterior probability; binary and ordinal columns only).
        """
        import arviz_stats as azs

        tree = self._require_fit()
        prob = self.hdi_prob if hdi_prob is None else float(hdi_prob)
        columns = ["firm", "column", "kind", "mean", "sd", "hdi_lower", "hdi_upper"]
        columns += ["r_hat", "ess_bulk", "ess_tail", "mode", "prob_mode"]
        posterior = tree["posterior"]
        if "imputed" not in posterior.data_vars:
            return pd.DataFrame(columns=columns, index=pd.Index([], name=MISSING_CELL))
        imputed = posterior["imputed"].transpose("chain", "draw", MISSING_CELL)
        kinds = {item.term: item.kind for item in self.incomplete_}
        diagnostics = pd.DataFrame(
            azs.summary(tree, var_names=["imputed"], kind="diagnostics", round_to="none")
        )
        rows = []
        values = imputed.values.reshape(-1, imputed.sizes[MISSING_CELL])
        for k in range(imputed.sizes[MISSING_CELL]):
            draws = values[:, k]
            column = str(imputed["imputed_column"].values[k])
            lower, upper = hdi(draws, prob)
            kind = kinds.get(column, "continuous")
            mode, prob_mode = np.nan, np.nan
            if kind != "continuous":
                levels, counts = np.unique(draws, return_counts=True)
                mode = float(levels[counts.argmax()])
                prob_mode = float(counts.max() / draws.size)
            constant = np.ptp(draws) == 0
            rows.append(
                {
                    "firm": str(imputed["imputed_firm"].values[k]),
                    "column": column,
                    "kind": kind,
                    "mean": float(draws.mean()),
                    "sd": float(draws.std(ddof=1)),
                    "hdi_lower": lower,
                    "hdi_upper": upper,
                    "r_hat": np.nan if constant else float(diagnostics.iloc[k]["r_hat"]),
                    "ess_bulk": np.nan if constant else float(diagnostics.iloc[k]["ess_bulk"]),
                    "ess_tail": np.nan if constant else float(diagnostics.iloc[k]["ess_tail"]),
                    "mode": mode,
                    "prob_mode": prob_mode,
                }
            )
        table = pd.DataFrame(rows, index=pd.Index(list(imputed[MISSING_CELL].values)))
        table.index.name = MISSING_CELL
        table.attrs["hdi_prob"] = prob
        return table

    def prior_summary(self) -> pd.DataFrame:
        """Return the logit's priors, then one row per imputation model.

        Returns
        -------
        pandas.DataFrame
            As :meth:`BayesianLogit.prior_summary`, with rows ``imputation: <column>``.
        """
        table = super().prior_summary()
        rows = {}
        p = IMPUTATION_PRIORS
        for item in self.incomplete_:
            covariates = ", ".join(self.terms[j] for j in item.covariates) or "none"
            if item.kind == "continuous":
                scale_text = (
                    "" if not item.log_scale else " on the log scale (log(x), standardised)"
                )
                text = (
                    f"Normal(g0 + g'v, sigma){scale_text}; "
                    f"g0 ~ Normal(0, {p['intercept']['sigma']:g}), "
                    f"g ~ Normal(0, {p['slopes']['sigma']:g}), "
                    f"sigma ~ HalfNormal({p['sigma']['sigma']:g})"
                )
            elif item.kind == "binary":
                text = (
                    f"Bernoulli(logit^-1(g0 + g'v)); g0 ~ Normal(0, "
                    f"{p['intercept']['sigma']:g}), g ~ Normal(0, {p['slopes']['sigma']:g})"
                )
            else:
                text = (
                    f"OrderedLogistic(g'v, c) over levels {[f'{v:g}' for v in item.levels]}; "
                    f"c ~ Normal(0, {p['cutpoints']['sigma']:g}) ordered, "
                    f"g ~ Normal(0, {p['slopes']['sigma']:g})"
                )
            rows[f"imputation: {item.term}"] = {
                "prior": text,
                "scale": f"standardised; v = ({covariates})",
                "adjusted_prior": "",
            }
        if not rows:
            return table
        extra = pd.DataFrame.from_dict(rows, orient="index")
        extra.index.name = table.index.name
        return pd.concat([table, extra])

    def sample_prior_predictive(self, *args: Any, **kwargs: Any) -> xr.DataTree:
        """Not available: the outcome's likelihood is a potential (blanks summed out).

        Raises
        ------
        NotImplementedError
            Always; use :class:`BayesianLogit` on the complete cases for prior checks.
        """
        raise NotImplementedError(
            "BayesianImputedLogit has no prior predictive sampler (its outcome likelihood "
            "sums out the discrete blanks); check the priors with BayesianLogit on the "
            "complete cases"
        )

    def prior_sensitivity(self) -> pd.DataFrame:
        """Not available for the imputation model (its log prior includes the blanks).

        Raises
        ------
        NotImplementedError
            Always.
        """
        raise NotImplementedError(
            "prior sensitivity (power-scaling) is not available for BayesianImputedLogit"
        )

    # ------------------------------------------------------------------ persistence
    def config(self) -> dict[str, Any]:
        """Return the constructor arguments (``BayesianImputedLogit(**config)``).

        Returns
        -------
        dict
        """
        return {
            **super().config(),
            "kinds": dict(self.kinds),
            "levels": {k: list(v) for k, v in self.levels.items()},
            "max_missing_fraction": self.max_missing_fraction,
            "source": self.source,
        }

    def _fitted_state(self) -> dict[str, Any]:
        return {
            **super()._fitted_state(),
            "incomplete": [
                {
                    "term": item.term,
                    "index": item.index,
                    "kind": item.kind,
                    "covariates": list(item.covariates),
                    "levels": list(item.levels),
                    "missing_firms": list(item.missing_firms),
                    "log_scale": item.log_scale,
                }
                for item in self.incomplete_
            ],
        }

    def _restore(self, tree: xr.DataTree, state: Mapping[str, Any]) -> None:
        super()._restore(tree, state)
        self.incomplete_ = tuple(
            _Incomplete(
                item["term"],
                int(item["index"]),
                item["kind"],
                tuple(item["covariates"]),
                tuple(item["levels"]),
                tuple(item["missing_firms"]),
                bool(item.get("log_scale", False)),
            )
            for item in state.get("incomplete", [])
        )
        X = self._data["X"]
        self._missing_mask = np.isnan(X)
        self._data["X"] = np.where(self._missing_mask, 0.0, X)


# ---------------------------------------------------------------------- model pieces
def _continuous_model(pm, pt, X, X_data, item: _Incomplete, data: Mapping[str, np.ndarray]):
    """Add the normal regression of a continuous column; its blanks become parameters.

    ``X`` is the design with the earlier columns' blanks filled (the covariates);
    ``X_data`` the data container, whose observed cells are the likelihood's data.
    """
    p = IMPUTATION_PRIORS
    name = item.term
    intercept = pm.Normal(f"imp_intercept__{name}", 0.0, p["intercept"]["sigma"])
    sigma = pm.HalfNormal(f"imp_sigma__{name}", p["sigma"]["sigma"])
    mu = intercept
    if item.covariates:
        slopes = pm.Normal(
            f"imp_slopes__{name}", 0.0, p["slopes"]["sigma"], shape=len(item.covariates)
        )
        mu = intercept + pt.dot(X[:, list(item.covariates)], slopes)
    observed = pm.Data(f"observed_firms__{name}", data[f"observed_firms__{name}"])
    missing = pm.Data(f"missing_firms__{name}", data[f"missing_firms__{name}"])
    if not item.log_scale:
        modelled = X_data[:, item.index]
    else:
        modelled = pm.Data(f"log_values__{name}", data[f"log_values__{name}"])
    pm.Normal(
        f"x_obs__{name}",
        mu=mu[observed] if item.covariates else mu,
        sigma=sigma,
        observed=modelled[observed],
    )
    x_mis = pm.Normal(
        f"x_mis__{name}",
        mu=mu[missing] if item.covariates else mu,
        sigma=sigma,
        shape=len(item.missing_firms),
    )
    if item.log_scale:
        # x_mis is on the standardised log scale; the logit and the later regressions
        # see the value on the column's own standardised scale (always above 0)
        log_center = pm.Data(f"log_center__{name}", data[f"log_center__{name}"])
        log_scale = pm.Data(f"log_scale__{name}", data[f"log_scale__{name}"])
        center = pm.Data(f"center__{name}", data[f"center__{name}"])
        scale = pm.Data(f"scale__{name}", data[f"scale__{name}"])
        value = pt.exp(log_center + log_scale * x_mis)
        return pt.set_subtensor(X[missing, item.index], (value - center) / scale)
    return pt.set_subtensor(X[missing, item.index], x_mis)


def _discrete_logp(pm, pt, X, data, position, item: _Incomplete):
    """Log-probability of each completion row's value of a binary or ordinal column.

    The column's regression depends on the firm and on the values of the earlier
    discrete columns only, so it is evaluated once per distinct *context* (firm and
    earlier discrete values) for every level at once, and each completion row picks its
    entry: a firm with four blank Likert answers has 625 rows but only 125 contexts for
    its last blank column, 25 for the one before, and so on.  ``X`` is the firm-level
    design (continuous blanks filled) and ``position`` each discrete column's place in
    the rows' discrete values.
    """
    p = IMPUTATION_PRIORS
    name = item.term
    context_firm = pm.Data(f"context_firm__{name}", data[f"context_firm__{name}"])
    context_row = pm.Data(f"context_row__{name}", data[f"context_row__{name}"])
    linear = pt.zeros(context_firm.shape, dtype="float64")
    if item.covariates:
        slopes = pm.Normal(
            f"imp_slopes__{name}", 0.0, p["slopes"]["sigma"], shape=len(item.covariates)
        )
        at_firm = [k for k, j in enumerate(item.covariates) if j not in position]
        at_rows = [k for k, j in enumerate(item.covariates) if j in position]
        if at_firm:
            firm_columns = [item.covariates[k] for k in at_firm]
            linear = linear + pt.dot(X[:, firm_columns], slopes[at_firm])[context_firm]
        if at_rows:
            context_std = pm.Data(f"context_std__{name}", data[f"context_std__{name}"])
            row_columns = [position[item.covariates[k]] for k in at_rows]
            linear = linear + pt.dot(context_std[:, row_columns], slopes[at_rows])
    if item.kind == "binary":
        intercept = pm.Normal(f"imp_intercept__{name}", 0.0, p["intercept"]["sigma"])
        logit = intercept + linear
        table = pt.stack([-pt.softplus(logit), -pt.softplus(-logit)], axis=1)
        return table.flatten()[context_row]
    n_cut = len(item.levels) - 1
    cutpoints = pm.Normal(
        f"imp_cutpoints__{name}",
        0.0,
        p["cutpoints"]["sigma"],
        shape=n_cut,
        transform=pm.distributions.transforms.ordered,
        initval=np.linspace(-1.5, 1.5, n_cut),
    )
    # P(level k) = sigma(c_k - eta) - sigma(c_{k-1} - eta), c_{-1} = -inf, c_{K-1} = +inf
    # (PyMC's OrderedLogistic, written out: a smaller graph compiles much faster)
    below = pt.sigmoid(cutpoints[None, :] - linear[:, None])
    one = pt.ones_like(linear)[:, None]
    upper = pt.concatenate([below, one], axis=1)
    lower = pt.concatenate([pt.zeros_like(one), below], axis=1)
    table = pt.log(pt.maximum(upper - lower, 1e-300))
    return table.flatten()[context_row]


def _bernoulli_logit_logp(pt, values, logit):
    """Log-probability of 0/1 ``values`` with log-odds ``logit``."""
    return -values * pt.softplus(-logit) - (1 - values) * pt.softplus(logit)


def _missing_data(
    standardised: np.ndarray,
    incomplete: tuple[_Incomplete, ...],
    center: np.ndarray,
    scale: np.ndarray,
) -> dict[str, np.ndarray]:
    """Return the blanks' data: firm indices, and each firm's possible completions."""
    n = standardised.shape[0]
    out: dict[str, np.ndarray] = {}
    discrete = [item for item in incomplete if item.kind != "continuous"]
    for item in incomplete:
        if item.kind == "continuous":
            blank = np.isnan(standardised[:, item.index])
            out[f"observed_firms__{item.term}"] = np.flatnonzero(~blank).astype(np.int64)
            out[f"missing_firms__{item.term}"] = np.flatnonzero(blank).astype(np.int64)
    row_firm, row_codes, row_std, per_firm = [], [], [], []
    for i in range(n):
        options = []
        for item in discrete:
            value = standardised[i, item.index]
            levels = np.asarray(item.levels)
            if np.isnan(value):
                options.append(list(range(levels.size)))
            else:
                options.append([None])
        combos = [[]]
        for choice in options:
            combos = [c + [k] for c in combos for k in choice]
        firm_rows = []
        for combo in combos:
            codes, std = [], []
            for item, k in zip(discrete, combo, strict=True):
                value = standardised[i, item.index]
                standard_levels = (np.asarray(item.levels) - center[item.index]) / scale[
                    item.index
                ]
                if k is None:
                    # the observed level: its code, and the standardised value as given
                    k = int(np.argmin(np.abs(standard_levels - value)))
                    std.append(value)
                else:
                    std.append(standard_levels[k])
                codes.append(k)
            firm_rows.append(len(row_firm))
            row_firm.append(i)
            row_codes.append(codes)
            row_std.append(std)
        per_firm.append(firm_rows)
    out["row_firm"] = np.asarray(row_firm, dtype=np.int64)
    if discrete:
        out["row_codes"] = np.asarray(row_codes, dtype=np.int64).reshape(len(row_firm), -1)
        out["row_std"] = np.asarray(row_std, dtype=float).reshape(len(row_firm), -1)
    out["firm_first_row"] = np.asarray([r[0] for r in per_firm], dtype=np.int64)
    for k, item in enumerate(discrete):
        # contexts of column k: distinct (firm, codes of the earlier discrete columns)
        keys = np.column_stack([out["row_firm"], out["row_codes"][:, :k]])
        _, first, inverse = np.unique(keys, axis=0, return_index=True, return_inverse=True)
        out[f"context_firm__{item.term}"] = out["row_firm"][first]
        if k:
            out[f"context_std__{item.term}"] = out["row_std"][first, :k]
        out[f"context_row__{item.term}"] = (
            inverse.ravel() * len(item.levels) + out["row_codes"][:, k]
        ).astype(np.int64)
    return out


def _log_scale_data(
    raw: np.ndarray, item: _Incomplete, center: np.ndarray, scale: np.ndarray
) -> dict[str, np.ndarray]:
    """Return a positive column's standardised log values and the scales in and out of them.

    The imputation regression of the column is on ``(log(x) - m) / s``, with ``m``
    and ``s`` the mean and SD of the observed cells' logs (blanks hold 0, never read).
    """
    name, j = item.term, item.index
    logs = np.log(raw)
    observed = logs[~np.isnan(logs)]
    log_center, log_scale = observed.mean(), observed.std(ddof=1)
    values = np.where(np.isnan(logs), 0.0, (logs - log_center) / log_scale)
    return {
        f"log_values__{name}": values,
        f"log_center__{name}": np.asarray(log_center),
        f"log_scale__{name}": np.asarray(log_scale),
        f"center__{name}": np.asarray(center[j]),
        f"scale__{name}": np.asarray(scale[j]),
    }


def _from_log_scale(
    x_mis: np.ndarray, item: _Incomplete, data: Mapping[str, np.ndarray]
) -> np.ndarray:
    """Blanks drawn on the standardised log scale, on the column's standardised scale."""
    name = item.term
    value = np.exp(data[f"log_center__{name}"] + data[f"log_scale__{name}"] * x_mis)
    return (value - data[f"center__{name}"]) / data[f"scale__{name}"]


def _segment_logsumexp(values: np.ndarray, starts: np.ndarray, segment: np.ndarray):
    """Log-sum-exp over each firm's rows (contiguous, starting at ``starts``): (S, n)."""
    top = np.maximum.reduceat(values, starts, axis=1)
    total = np.add.reduceat(np.exp(values - top[:, segment]), starts, axis=1)
    return top + np.log(total)


def _draw_completions(
    log_weights: np.ndarray, starts: np.ndarray, segment: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Draw one row per firm and draw, with probability proportional to exp(weight): (S, n)."""
    top = np.maximum.reduceat(log_weights, starts, axis=1)
    weights = np.exp(log_weights - top[:, segment])
    cumulative = np.cumsum(weights, axis=1)
    totals = np.add.reduceat(weights, starts, axis=1)
    before = cumulative[:, starts] - weights[:, starts]
    targets = before + rng.random(totals.shape) * totals
    ends = np.append(starts[1:], log_weights.shape[1]) - 1
    chosen = np.stack(
        [np.searchsorted(cumulative[s], targets[s], side="right") for s in range(len(targets))]
    )
    return np.clip(chosen, starts, ends)


# ---------------------------------------------------------------------- numpy, per draw
def _parameter_draws(
    posterior: xr.Dataset, incomplete: tuple[_Incomplete, ...]
) -> dict[str, np.ndarray]:
    """Flatten (chain, draw) of every parameter the completions need."""

    def flat(name: str) -> np.ndarray:
        values = posterior[name].transpose("chain", "draw", ...).to_numpy()
        return values.reshape(-1, *values.shape[2:])

    params = {"alpha_std": flat("alpha_std"), "beta_std": flat("beta_std")}
    if "u" in posterior:
        params["u"] = flat("u")
    for item in incomplete:
        for prefix in ("imp_intercept__", "imp_slopes__", "imp_cutpoints__", "x_mis__"):
            if prefix + item.term in posterior:
                params[prefix + item.term] = flat(prefix + item.term)
    return params


def _continuous_completion(
    data: Mapping[str, np.ndarray],
    incomplete: tuple[_Incomplete, ...],
    params: Mapping[str, np.ndarray],
) -> np.ndarray:
    """Return the standardised design per draw, continuous blanks filled (S, n, P)."""
    S = params["alpha_std"].shape[0]
    X = np.broadcast_to(data["X"], (S, *data["X"].shape)).copy()
    for item in incomplete:
        if item.kind == "continuous":
            x_mis = params[f"x_mis__{item.term}"].reshape(S, -1)
            if item.log_scale:
                x_mis = _from_log_scale(x_mis, item, data)
            X[:, data[f"missing_firms__{item.term}"], item.index] = x_mis
    return X


def _row_log_probs(
    X: np.ndarray,
    data: Mapping[str, np.ndarray],
    incomplete: tuple[_Incomplete, ...],
    params: Mapping[str, np.ndarray],
) -> tuple[np.ndarray, np.ndarray]:
    """Per draw and completion row: log p(discrete values | ...) and log p(y | x).

    As in the PyMC graph, each linear predictor is a firm-level part (complete and
    continuous columns) taken to the rows plus the discrete columns' part per row.
    """
    row_firm = data["row_firm"]
    discrete = [item for item in incomplete if item.kind != "continuous"]
    position = {d.index: k for k, d in enumerate(discrete)}
    firm_terms = [j for j in range(X.shape[2]) if j not in position]
    beta = params["beta_std"]
    eta_firm = params["alpha_std"][:, None] + np.einsum(
        "snp,sp->sn", X[:, :, firm_terms], beta[:, firm_terms]
    )
    if "u" in params:
        eta_firm = eta_firm + params["u"][:, data["group_idx"]]
    eta = eta_firm[:, row_firm]
    if discrete:
        eta = eta + (data["row_std"] @ beta[:, [d.index for d in discrete]].T).T
    y = data["y_obs"][row_firm]
    log_y = y * _log_sigmoid(eta) + (1 - y) * _log_sigmoid(-eta)
    log_x = np.zeros_like(log_y)
    for k, item in enumerate(discrete):
        codes = data["row_codes"][:, k]
        linear = np.zeros_like(log_y)
        if item.covariates:
            slopes = params[f"imp_slopes__{item.term}"]
            at_firm = [c for c, j in enumerate(item.covariates) if j not in position]
            at_rows = [c for c, j in enumerate(item.covariates) if j in position]
            if at_firm:
                columns = [item.covariates[c] for c in at_firm]
                linear += np.einsum("snc,sc->sn", X[:, :, columns], slopes[:, at_firm])[
                    :, row_firm
                ]
            if at_rows:
                columns = [position[item.covariates[c]] for c in at_rows]
                linear += (data["row_std"][:, columns] @ slopes[:, at_rows].T).T
        if item.kind == "binary":
            linear = linear + params[f"imp_intercept__{item.term}"][:, None]
            log_x += codes * _log_sigmoid(linear) + (1 - codes) * _log_sigmoid(-linear)
        else:
            cut = params[f"imp_cutpoints__{item.term}"]  # (S, K-1)
            upper = np.concatenate([cut, np.full((cut.shape[0], 1), np.inf)], axis=1)
            lower = np.concatenate([np.full((cut.shape[0], 1), -np.inf), cut], axis=1)
            hi = _sigmoid(upper[:, codes] - linear)
            lo = _sigmoid(lower[:, codes] - linear)
            log_x += np.log(np.maximum(hi - lo, 1e-300))
    return log_x, log_y


def _eta_draws(posterior: xr.Dataset, X: np.ndarray, data: Mapping[str, np.ndarray]):
    """Linear predictor per draw and firm from a per-draw design (chain, draw, firm)."""
    alpha = posterior["alpha_std"].transpose("chain", "draw").to_numpy()
    beta = posterior["beta_std"].transpose("chain", "draw", PREDICTOR).to_numpy()
    eta = alpha[..., None] + np.einsum("cdnp,cdp->cdn", X, beta)
    if "group_idx" in data and "u" in posterior:
        u = posterior["u"].transpose("chain", "draw", GROUP).to_numpy()
        eta = eta + u[..., data["group_idx"]]
    return eta


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return np.exp(-np.logaddexp(0.0, -x))


def _log_sigmoid(x: np.ndarray) -> np.ndarray:
    return -np.logaddexp(0.0, -x)


def _firm_labels(frame: pd.DataFrame) -> np.ndarray:
    if "firm_id" in frame.columns and frame["firm_id"].notna().all():
        return frame["firm_id"].astype(str).to_numpy()
    return np.asarray([str(index) for index in frame.index])


def _firms(ids: np.ndarray, mask: np.ndarray, limit: int = 8) -> str:
    chosen = [str(v) for v in ids[mask]]
    shown = ", ".join(chosen[:limit])
    return shown + (f", ... ({len(chosen)} in all)" if len(chosen) > limit else "")

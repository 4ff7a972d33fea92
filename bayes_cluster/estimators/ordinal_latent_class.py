r"""Bayesian ordinal latent class model: a cumulative logit per item, classes marginalised.

The nominal model (:class:`~bayes_cluster.estimators.latent_class.BayesianLatentClass`)
gives every class its own free response probabilities for every item, :math:`K (C - 1)`
parameters per item, and ignores that "strongly disagree < ... < strongly agree".  This
model keeps the five Likert levels and their order: in class :math:`k` the answer to item
:math:`j` follows a cumulative (proportional-odds) logit

.. math::

    P(y_{ij} \le c \mid z_i = k) = \operatorname{logistic}(\kappa_{jc} - \mu_{jk}),
    \qquad c = 1, \dots, C - 1,

with ordered cutpoints :math:`\kappa_{j1} < \dots < \kappa_{j,C-1}` per item, shared by
the classes, and a class location :math:`\mu_{jk}` (a higher location shifts the answers
up the scale).

Identification
--------------
Adding a constant to an item's locations and cutpoints changes nothing, so one
constraint per item is needed.  The locations sum to zero over the classes,
:math:`\sum_k \mu_{jk} = 0` (``pm.ZeroSumNormal``), rather than fixing
:math:`\mu_{j1} = 0`: the zero sum treats the classes symmetrically, so the posterior
stays invariant to permuting the labels and the relabelling below applies unchanged
(fixing class 1 would make class 1 special and the label-switching modes unequal).
An item then has :math:`(K - 1) + (C - 1)` free parameters (the locations' :math:`K`
minus the constraint, plus the cutpoints) instead of the nominal :math:`K (C - 1)`: 5
against 8 for :math:`K = 2, C = 5`, 6 against 12 for :math:`K = 3`.

Everything after sampling is the nominal model's
---------------------------------------------------
The class-by-item category probabilities :math:`\theta_{kjc}` implied by
:math:`(\kappa, \mu)` are a deterministic of the model, so this class reuses
:class:`BayesianLatentClass` for everything defined on :math:`(\pi, \theta)`: the
relabelling of the draws (Hungarian matching of the class profiles to a pivot started at
the nominal EM solution; :func:`~bayes_cluster.estimators.latent_class.relabel_draws`),
the firms' class probabilities, the per-firm ``log_likelihood`` for PSIS-LOO, posterior
predictive replication and checks, prediction for new firms and the Markusen typing (the
agreement balance :math:`P(4,5) - P(1,2)` of each class's :math:`\theta`).  The locations
are permuted with the same permutation as :math:`\pi` and :math:`\theta`;
:meth:`BayesianOrdinalLatentClass.expected_responses` gives the expected answer
:math:`\sum_c c\,\theta_{kjc}` of each class to each item (the H/M/L reading).

Every item must have the same categories :math:`1..C` (the Likert items do): the
cutpoints form one (item, C - 1) array.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import xarray as xr

from bayes_cluster.common.dims import CATEGORY, CHAIN, DRAW, ITEM, LATENT_CLASS
from bayes_cluster.common.latent_class_math import simulate_responses
from bayes_cluster.estimators.latent_class import (
    MEMBERSHIP_PRIORS,
    BayesianLatentClass,
    EncodedCovariates,
    EncodedItems,
    _check_covariate_names,
    _FitInput,
    _observed_dataset,
    _predictive_coords,
    _replicate_responses,
    _responses_dataset,
    encode_covariates,
    encode_items,
)
from bayes_cluster.inference.sampling import SamplerSettings
from bayes_cluster.surveys.markusen import MARKUSEN_ITEMS

__all__ = [
    "CUTPOINT",
    "ORDINAL_DEFAULT_PRIORS",
    "BayesianOrdinalLatentClass",
    "ordinal_log_probabilities",
    "simulate_ordinal_classes",
]

CUTPOINT = "cutpoint"
"""Dimension of the cutpoints: 1..C-1 (cutpoint c separates categories c and c + 1)."""

ORDINAL_DEFAULT_PRIORS: Mapping[str, float] = {
    "class_concentration": 1.0,
    "location_sd": 2.0,
    "cutpoint_sd": 3.0,
}
r"""Default priors of the ordinal model (given as data: one compiled model serves all).

``class_concentration`` (:math:`\alpha_\pi`): symmetric Dirichlet on the class shares.
``location_sd``: scale of the class locations, :math:`\mu_{j\cdot} \sim
\mathrm{ZeroSumNormal}(\sigma_\mu)` over the classes (the unconstrained normal's sd).
``cutpoint_sd``: :math:`\kappa_{jc} \sim \mathrm{Normal}(0, \sigma_\kappa)` restricted
to :math:`\kappa_{j1} < \dots < \kappa_{j,C-1}` (PyMC's ordered transform), i.e. the
order statistics of :math:`C - 1` independent normals.
"""


def ordinal_log_probabilities(cutpoints: np.ndarray, locations: np.ndarray) -> np.ndarray:
    r"""Log category probabilities of the cumulative logit, computed stably.

    :math:`\log P(y = c) = \log(\operatorname{logistic}(\kappa_c - \mu) -
    \operatorname{logistic}(\kappa_{c-1} - \mu))` with :math:`\kappa_0 = -\infty`,
    :math:`\kappa_C = +\infty`.

    Parameters
    ----------
    cutpoints : numpy.ndarray
        Shape (..., C - 1), increasing along the last axis.
    locations : numpy.ndarray
        Shape broadcasting against ``cutpoints[..., :1]`` (e.g. (..., 1)).

    Returns
    -------
    numpy.ndarray
        Shape (..., C): log probabilities, each row summing (in probability) to 1.

    Examples
    --------
    >>> p = np.exp(ordinal_log_probabilities(np.array([-1.0, 0.0, 1.0]), np.array([0.0])))
    >>> bool(np.isclose(p.sum(), 1.0)), bool(np.isclose(p[0], 1 / (1 + np.e)))
    (True, True)
    """
    kappa = np.asarray(cutpoints, dtype=float)
    eta = kappa - np.asarray(locations, dtype=float)
    first = -np.logaddexp(0.0, -eta[..., :1])
    last = -np.logaddexp(0.0, eta[..., -1:])
    upper, lower = eta[..., 1:], eta[..., :-1]
    with np.errstate(divide="ignore"):
        middle = (
            upper
            + np.log(-np.expm1(lower - upper))
            - np.logaddexp(0.0, upper)
            - np.logaddexp(0.0, lower)
        )
    return np.concatenate([first, middle, last], axis=-1)


def _ordinal_log_theta_tensor(cutpoints, locations):
    """Pytensor twin of :func:`ordinal_log_probabilities`: (K, J, C) from (J, C-1), (J, K)."""
    import pytensor.tensor as pt

    eta = cutpoints[None, :, :] - locations.T[:, :, None]  # (class, item, cutpoint)
    first = -pt.softplus(-eta[..., :1])
    last = -pt.softplus(eta[..., -1:])
    upper, lower = eta[..., 1:], eta[..., :-1]
    middle = upper + pt.log1mexp(lower - upper) - pt.softplus(upper) - pt.softplus(lower)
    return pt.concatenate([first, middle, last], axis=-1)


def simulate_ordinal_classes(
    n: int,
    locations: np.ndarray,
    cutpoints: np.ndarray,
    shares: Sequence[float],
    *,
    items: Sequence[str] | None = None,
    seed: int | None = None,
) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """Simulate firms from the ordinal latent class model: classes, then cumulative logits.

    Parameters
    ----------
    n : int
        Number of firms.
    locations : numpy.ndarray
        Class locations, shape (class, item).
    cutpoints : numpy.ndarray
        Increasing cutpoints, shape (item, C - 1) or (C - 1,) shared by every item.
    shares : sequence of float
        Class shares (sum to 1).
    items : sequence of str, optional
        Item names (default: the first Markusen items, whose codebook levels are 1..5).
    seed : int, optional
        Seed of the generator.

    Returns
    -------
    frame : pandas.DataFrame
        ``firm_id`` and one column of codes 1..C per item.
    truth : dict of str to numpy.ndarray
        ``classes`` (0-based, per firm), ``pi``, ``mu`` (class, item), ``cutpoints``
        (item, C - 1) and ``theta`` (class, item, category).
    """
    mu = np.asarray(locations, dtype=float)
    n_classes, n_items = mu.shape
    kappa = np.broadcast_to(np.asarray(cutpoints, dtype=float), (n_items, np.shape(cutpoints)[-1]))
    if np.any(np.diff(kappa, axis=-1) <= 0):
        raise ValueError("cutpoints must increase along their last axis")
    pi = np.asarray(shares, dtype=float)
    if pi.shape != (n_classes,) or not np.isclose(pi.sum(), 1.0):
        raise ValueError(f"shares must be {n_classes} numbers summing to 1, got {list(pi)}")
    names = list(items) if items is not None else list(MARKUSEN_ITEMS[:n_items])
    if len(names) != n_items:
        raise ValueError(f"{len(names)} item names for {n_items} items")
    theta = np.exp(ordinal_log_probabilities(kappa[None], mu[..., None]))
    classes, responses = simulate_responses(np.random.default_rng(seed), pi, theta, int(n))
    frame = pd.DataFrame(responses, columns=names)
    frame.insert(0, "firm_id", [f"F{i + 1:03d}" for i in range(int(n))])
    truth = {"classes": classes, "pi": pi, "mu": mu, "cutpoints": np.array(kappa), "theta": theta}
    return frame, truth


class BayesianOrdinalLatentClass(BayesianLatentClass):
    r"""Bayesian latent class model with ordinal (cumulative logit) items.

    With :math:`K` classes, items :math:`j = 1..J` on categories :math:`1..C`,

    .. math::

        \pi &\sim \mathrm{Dirichlet}(\alpha_\pi \mathbf 1_K) \\
        \mu_{j\cdot} &\sim \mathrm{ZeroSumNormal}(\sigma_\mu)
            \quad (\textstyle\sum_k \mu_{jk} = 0) \\
        \kappa_{j\cdot} &\sim \mathrm{Normal}(0, \sigma_\kappa)
            \text{ restricted to } \kappa_{j1} < \dots < \kappa_{j,C-1} \\
        \theta_{kjc} &= \operatorname{logistic}(\kappa_{jc} - \mu_{jk})
            - \operatorname{logistic}(\kappa_{j,c-1} - \mu_{jk}) \\
        \log p(\mathbf y_i) &= \operatorname{logsumexp}_k \Big(\log \pi_k
            + \sum_{j \text{ answered}} \log \theta_{k j y_{ij}}\Big)

    A missing answer drops out of the sum.  The items are never collapsed (the order of
    the five Likert levels is what the model uses); see the module docstring for the
    identification and for what is reused from :class:`BayesianLatentClass` (a subclass:
    relabelling, class probabilities, ``loo``, predictive checks, Markusen typing all
    work on the implied :math:`\theta`).

    Parameters
    ----------
    n_classes : int
        Number of latent classes :math:`K`.
    items : sequence of str, optional
        Item columns (default: the Markusen items present, else every column but
        ``firm_id``).
    priors : mapping, optional
        Overrides of :data:`ORDINAL_DEFAULT_PRIORS`.
    levels : mapping of str to sequence of int, optional
        Categories of items (see :func:`~bayes_cluster.estimators.latent_class.encode_items`;
        default: the codebook's Likert 1..5); every item must end up with the same
        categories 1..C.

    Attributes
    ----------
    idata_ : xarray.DataTree or None
        As :class:`BayesianLatentClass`, whose ``posterior`` also holds the relabelled
        ``mu`` (latent_class, item) and ``cutpoints`` (item, cutpoint).

    Examples
    --------
    >>> frame, truth = simulate_ordinal_classes(
    ...     100, [[-1.5] * 4, [1.5] * 4], [-1.5, -0.5, 0.5, 1.5], [0.5, 0.5], seed=1
    ... )
    >>> model = BayesianOrdinalLatentClass(2)
    >>> model.fit(frame, draws=200, tune=200, chains=2, random_seed=1)  # doctest: +SKIP
    >>> model.expected_responses()  # doctest: +SKIP
    """

    default_priors: Mapping[str, float] = ORDINAL_DEFAULT_PRIORS
    default_target_accept: ClassVar[float] = 0.9
    loo_variable: ClassVar[str] = "responses"

    def __init__(
        self,
        n_classes: int,
        *,
        items: Sequence[str] | None = None,
        priors: Mapping[str, float] | None = None,
        levels: Mapping[str, Sequence[int]] | None = None,
        covariates: Sequence[str] | None = None,
    ) -> None:
        if (
            isinstance(n_classes, bool)
            or not isinstance(n_classes, int | float | np.integer | np.floating)
            or not np.isfinite(n_classes)
            or int(n_classes) != n_classes
            or n_classes < 1
        ):
            raise ValueError(f"n_classes must be a positive whole number, got {n_classes!r}")
        # covariates of class membership: BayesianLatentClass's membership logit
        self.covariates = _check_covariate_names(covariates, int(n_classes))
        defaults = {**ORDINAL_DEFAULT_PRIORS, **(MEMBERSHIP_PRIORS if self.covariates else {})}
        unknown = set(priors or {}) - set(defaults)
        if unknown:
            raise ValueError(
                f"unknown prior names {sorted(unknown)}; known: {', '.join(defaults)}"
            )
        for name, value in (priors or {}).items():
            if isinstance(value, bool) or not isinstance(value, int | float | np.number):
                raise ValueError(f"prior {name} must be a positive number, got {value!r}")
        merged = {**defaults, **{k: float(v) for k, v in (priors or {}).items()}}
        for name, value in merged.items():
            if not value > 0:
                raise ValueError(f"prior {name} must be positive, got {value}")
            if not np.isfinite(value):
                raise ValueError(f"prior {name} must be finite, got {value}")
        self.n_classes = int(n_classes)
        self.collapse = "none"
        self.priors = merged
        self.items = None if items is None else tuple(items)
        self.levels = None if levels is None else {str(k): tuple(v) for k, v in levels.items()}
        self.idata_ = None
        self.diagnostics_ = None
        self.encoded: EncodedItems | None = None
        self.timings_: dict[str, float] = {}

    def config(self) -> dict[str, Any]:
        """Return the constructor arguments as JSON-able values (``cls(**config)``).

        Returns
        -------
        dict
        """
        return {
            "n_classes": self.n_classes,
            "items": None if self.items is None else list(self.items),
            "priors": dict(self.priors),
            "levels": None
            if self.levels is None
            else {item: list(values) for item, values in self.levels.items()},
            # only when set: fits without covariates keep the config they always had
            **({"covariates": list(self.covariates)} if self.covariates else {}),
        }

    def prior_summary(self) -> pd.DataFrame:
        """Return the priors in use, one row per parameter block.

        Returns
        -------
        pandas.DataFrame
            Indexed by parameter: ``prior``, ``meaning`` and ``default`` (whether the
            value is :data:`ORDINAL_DEFAULT_PRIORS`').
        """
        p = self.priors
        rows = [
            ("pi", f"Dirichlet({p['class_concentration']:g} * 1_K)", "class shares"),
            (
                "mu",
                f"ZeroSumNormal(sigma={p['location_sd']:g}) over classes, per item",
                "class locations on each item's logit scale",
            ),
            (
                "cutpoints",
                f"Normal(0, {p['cutpoint_sd']:g}), ordered, per item",
                "item thresholds between adjacent categories",
            ),
        ]
        frame = pd.DataFrame(rows, columns=["parameter", "prior", "meaning"]).set_index(
            "parameter"
        )
        frame["default"] = [
            p[name] == ORDINAL_DEFAULT_PRIORS[name]
            for name in ("class_concentration", "location_sd", "cutpoint_sd")
        ]
        if self.covariates:
            frame = pd.concat([frame.drop(index="pi"), self._membership_prior_rows()])
        return frame

    def encode(self, data: pd.DataFrame) -> EncodedItems:
        """Validate and encode the items of ``data`` uncollapsed (one set of categories).

        Parameters
        ----------
        data : pandas.DataFrame
            Survey or item frame.

        Returns
        -------
        EncodedItems

        Raises
        ------
        ValueError
            When the items do not all have the same categories 1..C.
        """
        encoded = encode_items(data, self.items, collapse="none", levels=self.levels)
        if not encoded.category_mask.all():
            raise ValueError(
                "the ordinal latent class model needs every item on the same categories "
                f"1..C; got {encoded.item_categories_text()}"
            )
        return encoded

    def build_model(
        self,
        data: pd.DataFrame | EncodedItems,
        covariates: EncodedCovariates | None = None,
    ):
        """Build the PyMC model for ``data``.

        Parameters
        ----------
        data : pandas.DataFrame or EncodedItems
            Survey or item frame, or already encoded items.
        covariates : EncodedCovariates, optional
            Covariates of class membership (default: read from ``data`` when it is a
            frame and the model has ``covariates``; see :class:`BayesianLatentClass`).

        Returns
        -------
        pymc.Model
            With ``pm.Data("responses")`` (firm, item, category one-hot), ``pi``, ``mu``
            (item, latent_class), ``cutpoints`` (item, cutpoint), the deterministic
            ``theta`` and the marginal log-likelihood as a ``pm.Potential``.
        """
        import pymc as pm
        import pytensor.tensor as pt
        from pymc.distributions.transforms import ordered

        if covariates is None and self.covariates and isinstance(data, pd.DataFrame):
            covariates = encode_covariates(data, self.covariates)
        encoded = data if isinstance(data, EncodedItems) else self.encode(data)
        n_firms, n_items, n_cat = encoded.one_hot.shape
        k = self.n_classes
        coords = {
            ITEM: list(encoded.items),
            CATEGORY: list(encoded.categories),
            CUTPOINT: list(range(1, n_cat)),
            LATENT_CLASS: list(range(1, k + 1)),
        }
        with pm.Model(coords=coords) as model:
            model.add_coord("firm", list(encoded.firms))
            responses = pm.Data("responses", encoded.one_hot, dims=("firm", ITEM, CATEGORY))
            pm.Data("answers", encoded.answers, dims=("firm", ITEM))  # for the fused loop
            location_sd = pm.Data("location_sd", np.asarray(self.priors["location_sd"]))
            cutpoint_sd = pm.Data("cutpoint_sd", np.asarray(self.priors["cutpoint_sd"]))
            log_weights = self._class_log_weights(covariates)  # log pi, or the membership logit
            if k == 1:
                mu = pm.Deterministic("mu", pt.zeros((n_items, 1)), dims=(ITEM, LATENT_CLASS))
            else:
                mu = pm.ZeroSumNormal("mu", sigma=location_sd, dims=(ITEM, LATENT_CLASS))
            cutpoints = pm.Normal(
                "cutpoints",
                mu=0.0,
                sigma=cutpoint_sd,
                dims=(ITEM, CUTPOINT),
                transform=ordered,
                initval=np.tile(np.linspace(-2.0, 2.0, n_cat - 1), (n_items, 1)),
            )
            log_theta = _ordinal_log_theta_tensor(cutpoints, mu)  # (class, item, category)
            pm.Deterministic("theta", pt.exp(log_theta), dims=(LATENT_CLASS, ITEM, CATEGORY))
            flat_responses = responses.reshape((responses.shape[0], n_items * n_cat))
            per_class = pt.dot(flat_responses, log_theta.reshape((k, n_items * n_cat)).T)
            per_class = per_class + log_weights
            pm.Potential("marginal_log_likelihood", pt.logsumexp(per_class, axis=1).sum())
        return model

    # ---------------------------------------------------------------- the contract
    def _compile_key(self, prepared: _FitInput) -> tuple:
        # the firms are data: every sample size re-uses one compiled model
        return prepared.encoded.one_hot.shape[1:], self.n_classes, *self._membership_compile_key()

    def _sampler_data(self, prepared: _FitInput) -> dict[str, np.ndarray]:
        updates = {
            "responses": prepared.encoded.one_hot,
            "answers": prepared.encoded.answers,
            "location_sd": np.asarray(self.priors["location_sd"]),
            "cutpoint_sd": np.asarray(self.priors["cutpoint_sd"]),
        }
        if self.covariates:
            updates.update(self._membership_sampler_data(prepared))
        elif self.n_classes > 1:
            updates["class_concentration"] = np.full(
                self.n_classes, self.priors["class_concentration"]
            )
        return updates

    def _postprocess(
        self, raw: xr.DataTree, prepared: _FitInput, settings: SamplerSettings
    ) -> xr.DataTree:
        tree = super()._postprocess(raw, prepared, settings)
        sampled = raw["posterior"].to_dataset()
        permutation = tree["relabelling"]["permutation"].transpose(CHAIN, DRAW, LATENT_CLASS)
        permutation = permutation.to_numpy()
        mu = sampled["mu"].transpose(CHAIN, DRAW, LATENT_CLASS, ITEM).to_numpy()
        chains = np.arange(mu.shape[0])[:, None, None]
        draws = np.arange(mu.shape[1])[None, :, None]
        mu = mu[chains, draws, permutation]  # relabelled class l = sampler's class perm[l]
        kappa = sampled["cutpoints"].transpose(CHAIN, DRAW, ITEM, CUTPOINT).to_numpy()
        posterior = tree["posterior"].to_dataset()
        posterior = posterior.assign_coords({CUTPOINT: sampled[CUTPOINT].to_numpy()})
        posterior["mu"] = ((CHAIN, DRAW, LATENT_CLASS, ITEM), mu)
        posterior["cutpoints"] = ((CHAIN, DRAW, ITEM, CUTPOINT), kappa)
        posterior["mu"].attrs["identification"] = "sums to zero over the classes per item"
        tree["posterior"] = posterior
        tree.attrs["measurement"] = "ordinal (cumulative logit, cutpoints shared by classes)"
        return tree

    def _provenance_extra(self, prepared: _FitInput) -> dict[str, Any]:
        encoded = prepared.encoded
        return {
            "n_classes": self.n_classes,
            "measurement": "ordinal",
            "collapse": self.collapse,
            "items": ",".join(encoded.items),
            "category_labels": ",".join(encoded.category_labels),
            "item_categories": encoded.item_categories_text(),
            **self.priors,
            "identification": "class locations sum to zero over the classes per item",
            "n_missing_responses": encoded.n_missing,
            "missing_responses": "left out of the likelihood (one-hot row of zeros)",
        }

    def _diagnostic_variables(self, tree: xr.DataTree) -> list[str]:
        if self.n_classes == 1:
            return ["cutpoints"]
        return ["pi", "mu", "cutpoints", *self._membership_variables()]

    # ---------------------------------------------------------------- results
    def summary(
        self,
        hdi_prob: float | None = None,
        *,
        var_names: Sequence[str] = ("pi", "mu", "cutpoints"),
    ) -> pd.DataFrame:
        """Posterior summary of the (relabelled) class shares, locations and cutpoints.

        Parameters
        ----------
        hdi_prob : float, optional
            Probability mass of the highest-density interval (default 0.94).
        var_names : sequence of str
            Posterior variables (``pi``, ``mu``, ``cutpoints``, ``theta``,
            ``class_probability``).

        Returns
        -------
        pandas.DataFrame
            One row per scalar parameter, with every column of
            :data:`~bayes_cluster.inference.summaries.SUMMARY_COLUMNS`.
        """
        return super().summary(hdi_prob, var_names=var_names)

    def expected_responses(self, hdi_prob: float = 0.94) -> pd.DataFrame:
        r"""Return the expected answer of each class to each item.

        The expected answer is :math:`\sum_c c\,\theta_{kjc}` per draw.

        Parameters
        ----------
        hdi_prob : float
            Mass of the highest-density interval.

        Returns
        -------
        pandas.DataFrame
            Indexed by (latent_class, item): ``mean``, ``hdi_lower``, ``hdi_upper`` on the
            scale of the category codes (1..C; 3 is the middle of a 5-point item).
        """
        from arviz_stats.base import array_stats

        theta = self.posterior["theta"]
        codes = xr.DataArray(theta[CATEGORY].to_numpy().astype(float), dims=CATEGORY)
        expected = (theta * codes).sum(CATEGORY).transpose(CHAIN, DRAW, LATENT_CLASS, ITEM)
        flat = expected.to_numpy().reshape(-1, *expected.shape[2:])
        interval = np.asarray(array_stats.hdi(flat, hdi_prob, axis=0))  # (class, item, 2)
        lower, upper = interval[..., 0], interval[..., 1]
        index = pd.MultiIndex.from_product(
            [expected[LATENT_CLASS].to_numpy(), expected[ITEM].to_numpy()],
            names=[LATENT_CLASS, ITEM],
        )
        return pd.DataFrame(
            {
                "mean": flat.mean(axis=0).reshape(-1),
                "hdi_lower": np.asarray(lower).reshape(-1),
                "hdi_upper": np.asarray(upper).reshape(-1),
            },
            index=index,
        )

    def sample_prior_predictive(
        self,
        frame_or_items: pd.DataFrame | EncodedItems,
        draws: int = 500,
        random_seed: int | None = None,
    ) -> xr.DataTree:
        r"""Draw parameters from the priors and replicate the survey from them.

        Per draw, :math:`\pi \sim \mathrm{Dirichlet}`, :math:`\mu_{j\cdot}` = normal draws
        with sd ``location_sd`` minus their mean over the classes (the ZeroSumNormal),
        :math:`\kappa_{j\cdot}` = sorted normal draws with sd ``cutpoint_sd`` (the ordered
        prior is the distribution of the order statistics), then classes and answers as
        in the data; a response missing in the data is missing (0) in every replicate.
        Plain numpy with a seeded generator; the model need not be fitted.

        Parameters
        ----------
        frame_or_items : pandas.DataFrame or EncodedItems
            Fixes the firms, items, categories and the missing-response pattern.
        draws : int
            Number of prior draws (one chain).
        random_seed : int, optional
            Seed; the same seed gives the same draws.

        Returns
        -------
        xarray.DataTree
            Groups ``prior`` (``pi``, ``mu``, ``cutpoints``, ``theta``),
            ``prior_predictive`` (``responses``: codes 1..C, 0 = missing) and
            ``observed_data``.
        """
        if int(draws) != draws or draws < 1:
            raise ValueError(f"draws must be a positive whole number, got {draws!r}")
        encoded = (
            frame_or_items
            if isinstance(frame_or_items, EncodedItems)
            else self.encode(frame_or_items)
        )
        n_cat, n_items, k = len(encoded.categories), len(encoded.items), self.n_classes
        rng = np.random.default_rng(random_seed)
        if k == 1:
            pi = np.ones((draws, 1))
        else:
            pi = rng.dirichlet(np.full(k, self.priors["class_concentration"]), size=draws)
        mu = rng.normal(0.0, self.priors["location_sd"], size=(draws, k, n_items))
        mu = mu - mu.mean(axis=1, keepdims=True)
        kappa = np.sort(
            rng.normal(0.0, self.priors["cutpoint_sd"], size=(draws, n_items, n_cat - 1)),
            axis=-1,
        )
        theta = np.exp(ordinal_log_probabilities(kappa[:, None], mu[..., None]))
        responses = _replicate_responses(rng, pi, theta, encoded.codes != 0)
        coords = _predictive_coords(encoded, np.arange(1), np.arange(draws), k)
        prior = xr.Dataset(
            {
                "pi": ((CHAIN, DRAW, LATENT_CLASS), pi[None]),
                "mu": ((CHAIN, DRAW, LATENT_CLASS, ITEM), mu[None]),
                "cutpoints": ((CHAIN, DRAW, ITEM, CUTPOINT), kappa[None]),
                "theta": ((CHAIN, DRAW, LATENT_CLASS, ITEM, CATEGORY), theta[None]),
            },
            coords={
                **{d: coords[d] for d in (CHAIN, DRAW, LATENT_CLASS, ITEM, CATEGORY)},
                CUTPOINT: np.arange(1, n_cat),
            },
        )
        predictive = _responses_dataset(responses[None], coords, encoded.category_labels)
        predictive.attrs["replication"] = (
            "parameters from the priors; z_rep ~ Categorical(pi) per firm, y_rep from the "
            "cumulative logit of class z_rep; missing responses kept missing"
        )
        tree = xr.DataTree.from_dict(
            {
                "prior": prior,
                "prior_predictive": predictive,
                "observed_data": _observed_dataset(encoded, coords),
            }
        )
        tree.attrs.update(
            {"model": type(self).__name__, "n_classes": str(k), "random_seed": str(random_seed)}
        )
        tree.attrs.update({name: f"{value:g}" for name, value in self.priors.items()})
        return tree

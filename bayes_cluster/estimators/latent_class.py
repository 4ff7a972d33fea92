r"""Bayesian latent class model (polytomous LCA) with the class indicator marginalised.

The model, its label-switching treatment and the typing of the classes against
Markusen's (1996) district types live here; the likelihood, the generative process and
the Likert collapse rule are :mod:`bayes_cluster.common.latent_class_math` (shared with
:mod:`bayes_cluster.estimators.latent_class_em`, its maximum-likelihood baseline, and
:mod:`bayes_cluster.surveys.simulate`); choosing the number of classes is
:mod:`bayes_cluster.analyses.n_classes`; :mod:`bayes_cluster.plots.latent_class` draws
its figures.

Label switching
---------------
The mixture likelihood is invariant to permuting the class labels, so different chains
(and, rarely, one chain) settle on different labellings and R-hat on the class parameters
is meaningless until the draws are put into one labelling.  After sampling, every draw's
classes are matched to a reference solution with the Hungarian algorithm
(:func:`scipy.optimize.linear_sum_assignment`) on the squared distance between the draw's
and the reference's class profiles :math:`(\pi_k, \theta_{k\cdot\cdot})`.  The reference
starts at the EM fit (``reference="em"``, default) or at the highest-density draw
(``reference="draw"``) and is then iterated to the posterior mean of the relabelled draws
until no draw changes labels: a squared-distance pivot variant of relabelling (the
loss is the squared distance of the class parameters to the pivot, a k-means-type scheme;
Stephens 2000, *JRSS B* 62(4), whose relabelling algorithm this follows in structure,
uses a Kullback--Leibler loss on the firms' classification probabilities instead).
Classes are finally ordered by decreasing posterior mean share.
R-hat, ESS and every summary are computed on the relabelled draws; the method is recorded
in the result's ``label_switching`` attribute.  No ordering constraint is imposed on
:math:`\pi`: with close class shares it does not identify the classes and it distorts the
posterior of the shares.

Collapsing Likert items
-----------------------
By default (``collapse="three"``) the 5-point Likert items are collapsed to
1 = disagree (1-2), 2 = neutral (3), 3 = agree (4-5).  At n = 60, a 3-class model of 12
items has :math:`3 \cdot 12 \cdot 4 + 2 = 146` free parameters with 5 categories, more than
two per firm, and many (class, item, category) cells would be empty so that the posterior
of :math:`\theta` would be mostly prior; with 3 categories it has 74.  The Markusen
signatures themselves only distinguish high / mixed / low agreement, so nothing the
typology uses is lost.  ``collapse="none"`` keeps the codes as given (items already
collapsed, binary items, or a user who wants all five levels).  Each item then has its own
categories: the declared ``levels`` of the item, else its levels in the built-in codebook
(the Likert 1..5 of the Markusen items), else 1 up to the largest code it was answered
with.  The Dirichlet prior of an item's response probabilities covers exactly its own
categories (a yes/no item is not given the three phantom categories of a 5-point scale),
and the fit's ``item_categories`` attribute and :meth:`BayesianLatentClass.summary` say
which categories each item has.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import numpy as np
import pandas as pd
import xarray as xr
from scipy.optimize import linear_sum_assignment

from bayes_cluster.common.dims import (
    CATEGORY,
    CHAIN,
    CLASS_CONTRAST,
    COVARIATE,
    DRAW,
    FIRM,
    ITEM,
    LATENT_CLASS,
    MARKUSEN_TYPE,
)
from bayes_cluster.common.latent_class_math import (
    THREE_LEVEL_LABELS,
    class_posterior,
    collapse_likert,
    draw_categories,
    one_hot,
    safe_log,
    simulate_responses,
)
from bayes_cluster.inference.base import BayesianModel
from bayes_cluster.inference.sampling import SamplerSettings
from bayes_cluster.surveys.markusen import MARKUSEN_ITEMS, MARKUSEN_TYPES

__all__ = [
    "DEFAULT_PRIORS",
    "MEMBERSHIP_PRIORS",
    "BayesianLatentClass",
    "ClusterVerdict",
    "EncodedCovariates",
    "EncodedItems",
    "encode_covariates",
    "encode_items",
    "covariate_scaling",
    "membership_curve_table",
    "membership_effects_table",
    "membership_log_weights",
    "prior_membership_weights",
    "relabel_draws",
]

Collapse = Literal["three", "none"]
Sampler = Literal["nutpie_c", "nutpie", "pymc"]

DEFAULT_PRIORS: Mapping[str, float] = {
    "class_concentration": 1.0,
    "item_concentration": 1.0,
}
"""Default Dirichlet concentrations.

``class_concentration`` (:math:`\\alpha_\\pi`): symmetric Dirichlet on the class shares;
1 is uniform on the simplex.  A small value (e.g. 0.05) gives the sparse overfitted
mixture of Rousseau & Mengersen (2011), which empties the classes the data do not need.
``item_concentration`` (:math:`\\alpha_\\theta`): symmetric Dirichlet on each class's
response probabilities of each item; 1 is uniform and keeps probabilities off the 0/1
boundary where maximum likelihood often puts them.
"""

#: up to this many classes the optimal assignment is found by enumerating permutations
_ENUMERATE_UP_TO = 6


# --------------------------------------------------------------------------------------
# Data encoding
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EncodedItems:
    """Item responses ready for the model.

    Attributes
    ----------
    codes : numpy.ndarray
        Shape (firm, item), int; 1..C observed, 0 missing.
    one_hot : numpy.ndarray
        Shape (firm, item, category), float; a missing response is a row of zeros.
    items : tuple of str
        Item names.
    firms : tuple of str
        Firm labels (``firm_id`` column, or the frame's index).
    categories : tuple of int
        Category codes 1..C (C the largest category of any item).
    category_labels : tuple of str
        Meaning of each category.
    collapse : str
        The collapse rule applied.
    item_categories : tuple of tuple of int
        The categories each item has (a subset of ``categories``); empty means every
        item has all of them.
    """

    codes: np.ndarray = field(repr=False)
    one_hot: np.ndarray = field(repr=False)
    items: tuple[str, ...]
    firms: tuple[str, ...]
    categories: tuple[int, ...]
    category_labels: tuple[str, ...]
    collapse: str
    item_categories: tuple[tuple[int, ...], ...] = ()

    @property
    def n_missing(self) -> int:
        """Number of missing responses (left out of the likelihood)."""
        return int((self.codes == 0).sum())

    @property
    def answers(self) -> np.ndarray:
        """Shape (firm, item), float: each answer's cell of ``one_hot`` (0-based), -1 missing.

        The models carry it as data beside ``one_hot`` (``pm.Data("answers")``), which
        their graphs do not read: the hand-written log-density reads each firm's answer
        from it instead of searching the one-hot row (a third of a gradient's time).
        """
        return (self.codes - 1).astype(float)

    @property
    def category_mask(self) -> np.ndarray:
        """Boolean (item, category): whether the item has the category."""
        if not self.item_categories:
            return np.ones((len(self.items), len(self.categories)), dtype=bool)
        return np.array(
            [[c in own for c in self.categories] for own in self.item_categories], dtype=bool
        )

    def em_n_categories(self) -> dict[str, int]:
        """Return each item's number of categories as :class:`LatentClassEM` counts them.

        Returns
        -------
        dict of str to int
            Item -> its largest category code (EM codes every item 1..K_j).
        """
        return {
            item: int(np.flatnonzero(row).max()) + 1
            for item, row in zip(self.items, self.category_mask, strict=True)
        }

    def codes_frame(self) -> pd.DataFrame:
        """Return the codes as a frame of items, missing as NaN (the input of the EM fit).

        Returns
        -------
        pandas.DataFrame
            One column per item, codes 1..C, NaN where missing.
        """
        return pd.DataFrame(
            np.where(self.codes == 0, np.nan, self.codes), columns=list(self.items)
        )

    def item_categories_text(self) -> str:
        """Return the categories of each item as ``"item: 1, 2, 3; ..."`` (attrs, reports)."""
        categories = self.item_categories or (self.categories,) * len(self.items)
        return "; ".join(
            f"{item}: {', '.join(map(str, own))}"
            for item, own in zip(self.items, categories, strict=True)
        )


def _parse_item_categories(text: str) -> dict[str, tuple[int, ...]]:
    """Inverse of :meth:`EncodedItems.item_categories_text`."""
    parsed = {}
    for part in text.split("; "):
        item, _, codes = part.rpartition(": ")
        parsed[item] = tuple(int(c) for c in codes.split(", "))
    return parsed


def _codebook_levels(item: str) -> tuple[int, ...] | None:
    """Levels of ``item`` in the built-in codebook (Likert items only), else None."""
    from bayes_cluster.surveys.codebook import TUMANG_CODEBOOK

    for column in TUMANG_CODEBOOK:
        if column.name == item and column.kind == "likert" and column.levels:
            return tuple(int(v) for v in column.levels)
    return None


def encode_items(
    data: pd.DataFrame,
    items: Sequence[str] | None = None,
    *,
    collapse: Collapse = "three",
    n_categories: int | None = None,
    levels: Mapping[str, Sequence[int]] | None = None,
) -> EncodedItems:
    """Validate item responses and one-hot encode them (missing = all-zero row).

    Parameters
    ----------
    data : pandas.DataFrame
        A survey frame (with ``mk_*`` columns and, optionally, ``firm_id``) or a frame of
        item columns only.
    items : sequence of str, optional
        Item columns to use.  Default: the Markusen items present in ``data``; if none
        is present, every column except ``firm_id``.
    collapse : {"three", "none"}
        ``"three"`` (default): 5-point Likert codes 1-2 -> 1 (disagree), 3 -> 2 (neutral),
        4-5 -> 3 (agree).  ``"none"``: keep the codes 1..C as given.
    n_categories : int, optional
        Under ``collapse="none"``: every item without declared ``levels`` has the
        categories 1..``n_categories``.
    levels : mapping of str to sequence of int, optional
        Under ``collapse="none"``: the categories (whole numbers >= 1) of each item named.
        An item neither declared here nor given ``n_categories`` takes its levels from the
        built-in codebook (the Markusen items: Likert 1..5), else 1 up to the largest
        code it was answered with (at least 2).

    Returns
    -------
    EncodedItems

    Raises
    ------
    ValueError
        With the column, row and value of the first bad cell, when a response is not a
        whole number in range, an item column is missing, or an item has no response.
    """
    if not isinstance(data, pd.DataFrame):
        raise TypeError(f"data must be a pandas DataFrame, got {type(data).__name__}")
    if collapse not in ("three", "none"):
        raise ValueError(f"collapse must be 'three' or 'none', got {collapse!r}")
    declared: dict[str, tuple[int, ...]] = {}
    for item, values in (levels or {}).items():
        values = list(values)
        if not values or any(
            isinstance(v, bool) or not isinstance(v, int | np.integer | float) or v < 1 or v % 1
            for v in values
        ):
            raise ValueError(f"levels of {item!r} must be whole numbers >= 1, got {values!r}")
        declared[str(item)] = tuple(sorted({int(v) for v in values}))
    if items is None:
        items = [c for c in MARKUSEN_ITEMS if c in data.columns]
        if not items:
            items = [str(c) for c in data.columns if c != "firm_id"]
    items = [str(item) for item in items]
    missing_columns = [item for item in items if item not in data.columns]
    if missing_columns:
        raise ValueError(f"item columns {missing_columns} are not in the data")
    if not items:
        raise ValueError("no item columns to fit")
    if len(data) < 2:
        raise ValueError(f"a latent class model needs at least 2 firms, got {len(data)}")
    if "firm_id" in data.columns:
        firms = tuple(str(v) for v in data["firm_id"])
    else:
        firms = tuple(str(v) for v in data.index)
    raw = np.zeros((len(data), len(items)), dtype=np.int64)
    item_categories: list[tuple[int, ...]] = []
    for j, item in enumerate(items):
        series = data[item]
        values = pd.to_numeric(series, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        bad = (np.isnan(values) & series.notna().to_numpy()) | (
            ~np.isnan(values) & ((values < 1) | (values != np.round(values)))
        )
        own: tuple[int, ...] | None = None
        if collapse == "three":
            bad |= ~np.isnan(values) & (values > 5)
        elif item in declared:
            own = declared[item]
        elif n_categories is None:
            own = _codebook_levels(item)
        if own is not None:
            bad |= ~np.isnan(values) & ~np.isin(values, own)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            expected = (
                "a Likert code 1..5 or missing"
                if collapse == "three"
                else "a whole number 1..C or missing"
                if own is None
                else f"one of the item's categories {', '.join(map(str, own))} or missing"
            )
            value = series.iloc[i]
            value = value.item() if isinstance(value, np.generic) else value
            raise ValueError(
                f"item {item!r}, firm {firms[i]!r} (row {i + 1}): value {value!r} "
                f"is not {expected}"
            )
        observed = ~np.isnan(values)
        if not observed.any():
            raise ValueError(f"item {item!r} has no observed response")
        raw[observed, j] = values[observed].astype(np.int64)
        if collapse == "none" and own is None and n_categories is not None:
            if raw[:, j].max() > n_categories:
                raise ValueError(
                    f"a response code {raw[:, j].max()} exceeds n_categories={n_categories}"
                )
            own = tuple(range(1, int(n_categories) + 1))
        if own is None:  # nothing declared: 1 up to the largest code answered
            own = tuple(range(1, max(int(raw[:, j].max()), 2) + 1))
        item_categories.append(own)
    if collapse == "three":
        codes = collapse_likert(raw)
        n_cat = 3
        labels = THREE_LEVEL_LABELS
        item_categories = [(1, 2, 3)] * len(items)
    else:
        n_cat = max(max(own) for own in item_categories)
        if n_cat < 2:
            raise ValueError("items need at least two categories")
        codes = raw
        labels = tuple(str(c) for c in range(1, n_cat + 1))
    return EncodedItems(
        codes=codes,
        one_hot=one_hot(codes, n_cat),
        items=tuple(items),
        firms=firms,
        categories=tuple(range(1, n_cat + 1)),
        category_labels=tuple(labels),
        collapse=collapse,
        item_categories=tuple(item_categories),
    )


def _category_groups(mask: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """Items that share the same categories: (item indices, category indices) per group."""
    groups: dict[tuple[int, ...], list[int]] = {}
    for j, row in enumerate(mask):
        groups.setdefault(tuple(np.flatnonzero(row)), []).append(j)
    return [(np.array(items), np.array(cats)) for cats, items in groups.items()]


def _ragged_theta(mask: np.ndarray, n_classes: int, item_concentration):
    r"""``theta`` when items have different categories: one Dirichlet per item group.

    Items sharing the same categories get :math:`\theta_{kj\cdot} \sim
    \mathrm{Dirichlet}(\alpha_\theta \mathbf 1_{C_j})` over exactly those categories
    (``theta_levels_1_2`` etc.); ``theta`` (class, item, category) is the deterministic
    assembly with 0 for the categories an item does not have.  Returns ``theta`` and the
    flattened :math:`\log\theta` (class, item x category) with 0 in those cells (they meet
    only zeros of the one-hot responses).
    """
    import pymc as pm
    import pytensor.tensor as pt

    n_items, n_cat = mask.shape
    flat_theta = pt.zeros((n_classes, n_items * n_cat))
    flat_log_theta = pt.zeros((n_classes, n_items * n_cat))
    for items, cats in _category_groups(mask):
        name = "theta_levels_" + "_".join(str(c + 1) for c in cats)
        concentration = pt.broadcast_to(
            item_concentration[cats], (n_classes, items.size, cats.size)
        )
        group = pm.Dirichlet(name, a=concentration)
        # scatter the group's (item, category) cells into the full flattened layout
        scatter = np.zeros((items.size * cats.size, n_items * n_cat))
        rows = np.arange(items.size * cats.size)
        scatter[rows, (items[:, None] * n_cat + cats[None, :]).reshape(-1)] = 1.0
        flat_theta = flat_theta + pt.dot(group.reshape((n_classes, -1)), scatter)
        flat_log_theta = flat_log_theta + pt.dot(pt.log(group).reshape((n_classes, -1)), scatter)
    theta = pm.Deterministic(
        "theta",
        flat_theta.reshape((n_classes, n_items, n_cat)),
        dims=(LATENT_CLASS, ITEM, CATEGORY),
    )
    return theta, flat_log_theta


# --------------------------------------------------------------------------------------
# Label switching
# --------------------------------------------------------------------------------------


def _profile(class_shares: np.ndarray, item_probabilities: np.ndarray) -> np.ndarray:
    """Flatten (pi_k, theta_k..) into one vector per class: shape (..., class, 1 + J*C)."""
    flat = item_probabilities.reshape(*item_probabilities.shape[:-2], -1)
    return np.concatenate([class_shares[..., None], flat], axis=-1)


def _match_to_reference(profiles: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Hungarian matching of each draw's classes to the reference classes.

    Returns ``permutation`` (draw, class) with ``relabelled[s, l] = original[s, perm[s, l]]``.
    """
    n_draws, n_classes, _ = profiles.shape
    cost = ((reference[None, :, None, :] - profiles[:, None, :, :]) ** 2).sum(-1)  # s, l, k
    if n_classes <= _ENUMERATE_UP_TO:
        # the same optimum as the Hungarian algorithm, found for all draws at once by
        # scoring every permutation (K! <= 720 of them)
        candidates = np.array(list(itertools.permutations(range(n_classes))))
        totals = cost[:, np.arange(n_classes), candidates].sum(-1)  # (draw, permutation)
        return candidates[totals.argmin(axis=1)]
    permutation = np.empty((n_draws, n_classes), dtype=np.int64)
    for s in range(n_draws):
        rows, cols = linear_sum_assignment(cost[s])
        permutation[s, rows] = cols
    return permutation


def relabel_draws(
    class_shares: np.ndarray,
    item_probabilities: np.ndarray,
    reference: tuple[np.ndarray, np.ndarray] | None = None,
    *,
    max_iter: int = 50,
) -> np.ndarray:
    r"""Find the permutation of class labels that puts every draw in one labelling.

    Each draw's classes are matched to a reference ``(pi, theta)`` by the Hungarian
    algorithm on the squared distance of the class profiles; the reference is then
    replaced by the mean of the relabelled draws and the matching repeated until no label
    changes: a squared-distance pivot variant of relabelling (not Stephens' (2000)
    Kullback--Leibler loss on classification probabilities).

    Parameters
    ----------
    class_shares : numpy.ndarray
        Shape (draw, class): :math:`\pi` per draw (chains stacked).
    item_probabilities : numpy.ndarray
        Shape (draw, class, item, category): :math:`\theta` per draw.
    reference : tuple of numpy.ndarray, optional
        ``(pi, theta)`` of shapes (class,) and (class, item, category) to start from
        (e.g. the EM fit).  Default: the first draw.
    max_iter : int
        Maximum number of pivot updates.

    Returns
    -------
    numpy.ndarray
        Shape (draw, class), int: ``relabelled[s, l] = original[s, permutation[s, l]]``.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> theta = rng.dirichlet(np.ones(3), size=(100, 2, 4))
    >>> theta[:, 1] = theta[:, 0] + 0.5  # well separated classes
    >>> pi = np.tile([0.7, 0.3], (100, 1))
    >>> swapped = pi[:, ::-1], theta[:, ::-1]
    >>> relabel_draws(*swapped, reference=(pi[0], theta[0]))[0].tolist()
    [1, 0]
    """
    pi = np.asarray(class_shares, dtype=float)
    theta = np.asarray(item_probabilities, dtype=float)
    if pi.ndim != 2 or theta.ndim != 4 or theta.shape[:2] != pi.shape:
        raise ValueError(
            "class_shares must be (draw, class) and item_probabilities (draw, class, item, "
            f"category) with the same draws and classes; got {pi.shape} and {theta.shape}"
        )
    profiles = _profile(pi, theta)
    if reference is None:
        pivot = profiles[0]
    else:
        pivot = _profile(np.asarray(reference[0], float), np.asarray(reference[1], float))
        if pivot.shape != profiles.shape[1:]:
            raise ValueError(
                f"reference has shape {pivot.shape} per class profile, draws have "
                f"{profiles.shape[1:]}"
            )
    permutation = _match_to_reference(profiles, pivot)
    draws = np.arange(len(profiles))[:, None]
    for _ in range(max_iter):
        pivot = profiles[draws, permutation].mean(axis=0)
        updated = _match_to_reference(profiles, pivot)
        if np.array_equal(updated, permutation):
            break
        permutation = updated
    return permutation


# --------------------------------------------------------------------------------------
# Predictive replication helpers
# --------------------------------------------------------------------------------------

#: draws replicated at once (bounds the memory of the (draw, firm, item, category) array)
_REPLICATE_BLOCK = 512


def _replicate_responses(
    rng: np.random.Generator, pi: np.ndarray, theta: np.ndarray, answered: np.ndarray
) -> np.ndarray:
    """Replicate a survey of new firms per draw: codes 1..C, 0 where ``answered`` is False.

    ``pi`` (draw, class), ``theta`` (draw, class, item, category), ``answered`` (firm, item);
    returns (draw, firm, item).  The generative process is
    :func:`~bayes_cluster.common.latent_class_math.simulate_responses`.
    """
    n_draws = len(pi)
    n_firms, n_items = answered.shape
    out = np.zeros((n_draws, n_firms, n_items), dtype=np.int64)
    for start in range(0, n_draws, _REPLICATE_BLOCK):
        block = slice(start, start + _REPLICATE_BLOCK)
        out[block] = simulate_responses(rng, pi[block], theta[block], n_firms)[1]
    out[:, ~answered] = 0
    return out


def _predictive_coords(
    encoded: EncodedItems, chains: np.ndarray, draws: np.ndarray, n_classes: int
) -> dict[str, Any]:
    return {
        CHAIN: chains,
        DRAW: draws,
        LATENT_CLASS: np.arange(1, n_classes + 1),
        ITEM: list(encoded.items),
        CATEGORY: list(encoded.categories),
        FIRM: list(encoded.firms),
    }


def _responses_dataset(
    responses: np.ndarray, coords: Mapping[str, Any], labels: Sequence[str]
) -> xr.Dataset:
    dataset = xr.Dataset(
        {"responses": ((CHAIN, DRAW, FIRM, ITEM), responses)},
        coords={d: coords[d] for d in (CHAIN, DRAW, FIRM, ITEM)},
    )
    dataset["responses"].attrs["coding"] = "category code 1..C; 0 = missing. Labels: " + ",".join(
        labels
    )
    return dataset


def _observed_dataset(encoded: EncodedItems, coords: Mapping[str, Any]) -> xr.Dataset:
    observed = xr.Dataset(
        {"responses": ((FIRM, ITEM), encoded.codes)},
        coords={FIRM: coords[FIRM], ITEM: coords[ITEM]},
    )
    observed["responses"].attrs["coding"] = "category code 1..C; 0 = missing. Labels: " + ",".join(
        encoded.category_labels
    )
    return observed


def _mid_p(replicated: np.ndarray, observed: np.ndarray) -> np.ndarray:
    """Mid-p posterior predictive p-value over axis 0: P(T_rep > T) + P(T_rep = T) / 2."""
    scale = np.maximum(np.abs(observed), 1.0)
    tie = np.isclose(replicated, observed, rtol=0, atol=1e-12 * scale)
    greater = (replicated > observed) & ~tie
    return greater.mean(axis=0) + 0.5 * tie.mean(axis=0)


def _pearson(tables: np.ndarray, expected: np.ndarray) -> np.ndarray:
    """Pearson X^2 over the last two axes; cells expected to hold nothing add nothing."""
    positive = expected > 0
    terms = tables - expected
    terms *= terms  # in place: the PPC's arrays are (draw, pair, category, category)
    if positive.all():
        terms /= expected
    else:
        terms /= np.where(positive, expected, 1.0)
        terms[np.broadcast_to(~positive, terms.shape)] = 0.0
    return terms.sum(axis=(-2, -1))


def _cramers_v(tables: np.ndarray, n_categories: int | np.ndarray) -> np.ndarray:
    r"""Cramér's V of tables (last two axes) against their own margins.

    ``n_categories`` is :math:`\min(C_j, C_l)` of the two items (a number, or one per
    table broadcasting against the leading axes).
    """
    n = tables.sum(axis=(-2, -1))
    safe_n = np.where(n > 0, n, 1.0)
    expected = tables.sum(axis=-1)[..., :, None] * tables.sum(axis=-2)[..., None, :]
    expected = expected / safe_n[..., None, None]
    chi2 = _pearson(tables, expected)
    return np.sqrt(chi2 / (safe_n * (n_categories - 1)))


# --------------------------------------------------------------------------------------
# Cluster verdict
# --------------------------------------------------------------------------------------


@dataclass
class ClusterVerdict:
    """The cluster-pattern verdict with its uncertainty.

    Attributes
    ----------
    text : str
        Plain-language verdict.
    table : pandas.DataFrame
        One row per Markusen type: posterior mean share of firms in classes of that type,
        its HDI, P(share > 0), P(share > ``minority``), P(share > 0.5).
    statements : list of str
        One sentence per probability statement.
    share_draws : xarray.DataArray
        Share of each type per draw, dims (chain, draw, markusen_type).
    """

    text: str
    table: pd.DataFrame
    statements: list[str]
    share_draws: xr.DataArray = field(repr=False)

    def probability(self, district_type: str, threshold: float) -> float:
        """Return P(share of ``district_type`` > ``threshold``) under the posterior."""
        if district_type not in MARKUSEN_TYPES:
            raise KeyError(
                f"unknown Markusen type {district_type!r}; known: {', '.join(MARKUSEN_TYPES)}"
            )
        return float((self.share_draws.sel({MARKUSEN_TYPE: district_type}) > threshold).mean())

    def __str__(self) -> str:
        return self.text


# --------------------------------------------------------------------------------------
# Covariates of class membership
# --------------------------------------------------------------------------------------

MEMBERSHIP_PRIORS: Mapping[str, float] = {
    "membership_intercept_sd": 1.5,
    "membership_slope_sd": 1.0,
}
r"""Default prior scales of the class-membership logit (used only with ``covariates``).

``membership_intercept_sd`` (:math:`s_\alpha`): the class intercepts
:math:`\alpha \sim \mathrm{ZeroSumNormal}(s_\alpha)` over the classes.
``membership_slope_sd`` (:math:`s_\gamma`): each covariate's class slopes
:math:`\gamma_{p\cdot} \sim \mathrm{ZeroSumNormal}(s_\gamma)`, on the scale of one
standard deviation of the covariate.  A contrast between two classes (the reported
log-odds against class 1) then has prior SD :math:`\sqrt2 s`: 2.1 for the intercepts and
1.4 per SD for the slopes, i.e. a one-SD change in a covariate multiplying the odds of
one class against another by about 4 at one prior SD (weakly informative, as the
logit's slopes; Gelman et al. 2008).
"""


@dataclass(frozen=True)
class EncodedCovariates:
    """Covariates of class membership, standardised for the model.

    Attributes
    ----------
    names : tuple of str
        Covariate columns.
    raw : numpy.ndarray
        Shape (firm, covariate): the values as given.
    means, scales : numpy.ndarray
        Shape (covariate,): the mean and standard deviation (``ddof=1``) used to
        standardise (those of the fitted firms).
    """

    names: tuple[str, ...]
    raw: np.ndarray = field(repr=False)
    means: np.ndarray = field(repr=False)
    scales: np.ndarray = field(repr=False)

    @property
    def values(self) -> np.ndarray:
        """Standardised covariates, shape (firm, covariate)."""
        return (self.raw - self.means) / self.scales


def encode_covariates(
    data: pd.DataFrame,
    covariates: Sequence[str],
    *,
    means: Sequence[float] | None = None,
    scales: Sequence[float] | None = None,
) -> EncodedCovariates:
    """Validate the covariates of class membership and standardise them.

    Parameters
    ----------
    data : pandas.DataFrame
        The survey (one row per firm; ``firm_id`` names the firms in messages).
    covariates : sequence of str
        Numeric columns of ``data``.
    means, scales : sequence of float, optional
        Standardise with these (a fit's) instead of the data's own mean and SD.

    Returns
    -------
    EncodedCovariates

    Raises
    ------
    ValueError
        Naming the column (and the firm and row of the first bad value) when a covariate
        is not a column, is not a number, is missing, or is constant.
    """
    names = [str(name) for name in covariates]
    absent = [name for name in names if name not in data.columns]
    if absent:
        raise ValueError(
            f"covariate {absent[0]!r} is not a column of the data; columns: "
            f"{', '.join(map(str, data.columns))}"
        )
    firms = (
        [str(v) for v in data["firm_id"]]
        if "firm_id" in data.columns
        else [str(v) for v in data.index]
    )
    raw = np.empty((len(data), len(names)))
    for p, name in enumerate(names):
        series = data[name]
        if pd.api.types.is_bool_dtype(series):
            series = series.astype(float)
        values = pd.to_numeric(series, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        bad = np.flatnonzero(np.isnan(values) | ~np.isfinite(values))
        if bad.size:
            i = int(bad[0])
            value = series.iloc[i]
            value = value.item() if isinstance(value, np.generic) else value
            what = "is missing" if pd.isna(value) else f"{value!r} is not a number"
            raise ValueError(
                f"covariate {name!r}, firm {firms[i]!r} (row {i + 1}): value {what}; "
                "a covariate of class membership needs a number for every firm"
            )
        raw[:, p] = values
    if means is None or scales is None:
        means_array = raw.mean(axis=0)
        scales_array = raw.std(axis=0, ddof=1) if len(raw) > 1 else np.zeros(len(names))
        for p, name in enumerate(names):
            if not scales_array[p] > 0:
                raise ValueError(
                    f"covariate {name!r} is constant (every firm has {raw[0, p]:g}): it "
                    "cannot shift class membership"
                )
    else:
        means_array = np.asarray(means, dtype=float)
        scales_array = np.asarray(scales, dtype=float)
    return EncodedCovariates(tuple(names), raw, means_array, scales_array)


def _check_covariate_names(covariates: Sequence[str] | None, n_classes: int):
    """Validate the ``covariates`` argument of a model; return a tuple or None."""
    if covariates is None:
        return None
    if isinstance(covariates, str):
        raise ValueError(
            f"covariates must be a list of column names, got the string {covariates!r}"
        )
    names = tuple(str(name) for name in covariates)
    if not names:
        raise ValueError("covariates is empty: give column names or leave it out")
    duplicated = sorted({name for name in names if names.count(name) > 1})
    if duplicated:
        raise ValueError(f"covariates name a column twice: {duplicated}")
    if n_classes < 2:
        raise ValueError("covariates of class membership need at least 2 classes")
    return names


def _membership_log_weights_tensor(
    covariates: EncodedCovariates, priors: Mapping[str, float], *, intercept: str = "alpha"
):
    r"""Inside a PyMC model: :math:`\log P(z_i = k \mid x_i)`, shape (firm, class).

    :math:`\eta_{ik} = \alpha_k + \sum_p x_{ip}\gamma_{pk}` with sum-to-zero
    :math:`\alpha` and :math:`\gamma_{p\cdot}` (no class is special while sampling, so the
    label-switching modes stay equal), log-softmaxed over the classes.  ``intercept``
    names the intercepts' variable (the joint model's ``alpha`` is its export logit's).
    """
    import pymc as pm
    import pytensor.tensor as pt

    model = pm.modelcontext(None)
    if COVARIATE not in model.coords:
        model.add_coord(COVARIATE, list(covariates.names))
    x = pm.Data("covariates", covariates.values, dims=(FIRM, COVARIATE))
    intercept_sd = pm.Data(
        "membership_intercept_sd", np.asarray(priors["membership_intercept_sd"])
    )
    slope_sd = pm.Data("membership_slope_sd", np.asarray(priors["membership_slope_sd"]))
    alpha = pm.ZeroSumNormal(intercept, sigma=intercept_sd, dims=LATENT_CLASS)
    gamma = pm.ZeroSumNormal("gamma", sigma=slope_sd, dims=(COVARIATE, LATENT_CLASS))
    eta = alpha[None, :] + pt.dot(x, gamma)
    return eta - pt.logsumexp(eta, axis=1, keepdims=True)


def membership_log_weights(alpha: np.ndarray, gamma: np.ndarray, x: np.ndarray) -> np.ndarray:
    r"""Numpy twin of the model's class-membership logit: :math:`\log P(z_i = k \mid x_i)`.

    Parameters
    ----------
    alpha : numpy.ndarray
        Shape (..., class): class intercepts.
    gamma : numpy.ndarray
        Shape (..., covariate, class): class slopes per standardised covariate.
    x : numpy.ndarray
        Shape (firm, covariate): standardised covariates.

    Returns
    -------
    numpy.ndarray
        Shape (..., firm, class), log-softmax over the classes.

    Examples
    --------
    >>> w = membership_log_weights(np.zeros(2), np.array([[0.0, 1.0]]), np.array([[0.0]]))
    >>> np.exp(w).round(2).tolist()
    [[0.5, 0.5]]
    """
    eta = alpha[..., None, :] + np.einsum("fp,...pk->...fk", x, gamma)
    peak = eta.max(axis=-1, keepdims=True)
    return eta - peak - np.log(np.exp(eta - peak).sum(axis=-1, keepdims=True))


def membership_effects_table(
    gamma: np.ndarray, names: Sequence[str], scales: np.ndarray, hdi_prob: float = 0.94
) -> pd.DataFrame:
    r"""Summarise a membership logit's slopes: log-odds of class k against class 1 per SD.

    The table of :meth:`BayesianLatentClass.membership_effects` (and of the joint model's),
    from the draws of :math:`\gamma_{pk} - \gamma_{p1}`.

    Parameters
    ----------
    gamma : numpy.ndarray
        Shape (chain, draw, covariate, class - 1): slopes against class 1, per SD of each
        standardised covariate (column ``c`` is class ``c + 2``).
    names : sequence of str
        The covariates.
    scales : numpy.ndarray
        Shape (covariate,): one SD of each covariate on its own scale.
    hdi_prob : float
        Mass of the highest-density interval.

    Returns
    -------
    pandas.DataFrame
        One row per (covariate, class k >= 2): ``covariate``, ``latent_class``,
        ``reference_class`` (1), ``log_odds`` (posterior mean), ``sd``, ``hdi_lower``,
        ``hdi_upper``, ``odds_ratio`` (exp of the mean), ``p_positive``, ``r_hat``,
        ``ess_bulk``, ``ess_tail``, ``covariate_sd``.
    """
    from bayes_cluster.inference.summaries import summary_table

    if not 0 < hdi_prob < 1:
        raise ValueError(f"hdi_prob must be in (0, 1), got {hdi_prob}")
    gamma = np.asarray(gamma, dtype=float)
    classes = np.arange(2, gamma.shape[-1] + 2)
    draws = xr.Dataset(
        {"gamma": ((CHAIN, DRAW, COVARIATE, CLASS_CONTRAST), gamma)},
        coords={COVARIATE: list(names), CLASS_CONTRAST: classes},
    )
    table = summary_table(draws, ["gamma"], hdi_prob)
    rows = []
    for p, name in enumerate(names):
        for c, k in enumerate(classes):
            row = table.loc[f"gamma[{name}, {k}]"]
            rows.append(
                {
                    "covariate": name,
                    LATENT_CLASS: int(k),
                    "reference_class": 1,
                    "log_odds": row["mean"],
                    "sd": row["sd"],
                    "hdi_lower": row["hdi_lower"],
                    "hdi_upper": row["hdi_upper"],
                    "odds_ratio": float(np.exp(row["mean"])),
                    "p_positive": float((gamma[:, :, p, c] > 0).mean()),
                    "r_hat": row["r_hat"],
                    "ess_bulk": row["ess_bulk"],
                    "ess_tail": row["ess_tail"],
                    "covariate_sd": float(scales[p]),
                }
            )
    frame = pd.DataFrame(rows)
    frame.attrs["hdi_prob"] = hdi_prob
    return frame


def fitted_membership_curve(
    tree: xr.DataTree,
    covariate: str,
    grid: Any | None,
    hdi_prob: float,
    intercept: str,
) -> pd.DataFrame:
    """Return :func:`membership_curve_table` for one covariate of a fitted posterior.

    The one implementation behind ``membership_curve`` of the latent class and the joint
    models, which differ only in the name of the membership intercepts.

    Parameters
    ----------
    tree : xarray.DataTree
        A fit with covariates of class membership (``posterior`` with ``intercept`` and
        ``gamma``; ``constant_data`` with ``covariates``).
    covariate : str
        One of the fit's covariates.
    grid : array-like, optional
        Values of the covariate on its own scale (default: 50 values from the smallest to
        the largest fitted firm's).
    hdi_prob : float
        Mass of the highest-density interval.
    intercept : str
        Name of the membership intercepts in the posterior (``"alpha"`` or ``"delta"``).

    Returns
    -------
    pandas.DataFrame
        As :func:`membership_curve_table`.

    Raises
    ------
    ValueError
        When ``covariate`` is not one of the fit's covariates.
    """
    names, means, scales = covariate_scaling(tree)
    if covariate not in names:
        raise ValueError(
            f"{covariate!r} is not a covariate of this fit; its covariates: {', '.join(names)}"
        )
    p = names.index(covariate)
    if grid is None:
        values = tree["constant_data"]["covariates"].sel({COVARIATE: covariate}).to_numpy()
        grid = np.linspace(values.min(), values.max(), 50)
    posterior = tree["posterior"]
    alpha = posterior[intercept].transpose(CHAIN, DRAW, CLASS_CONTRAST).to_numpy()
    gamma = posterior["gamma"].sel({COVARIATE: covariate})
    gamma = gamma.transpose(CHAIN, DRAW, CLASS_CONTRAST).to_numpy()
    return membership_curve_table(alpha, gamma, covariate, grid, means[p], scales[p], hdi_prob)


def membership_curve_table(
    alpha: np.ndarray,
    gamma: np.ndarray,
    covariate: str,
    grid: Sequence[float] | np.ndarray,
    mean: float,
    scale: float,
    hdi_prob: float = 0.94,
) -> pd.DataFrame:
    r"""P(class k | covariate) over a grid of one covariate, the others at their means.

    Per draw :math:`\mathrm{softmax}_k(\alpha_k + \gamma_k (x - \bar x) / s)` with class
    1's :math:`\alpha, \gamma` at 0; the posterior mean and HDI at every grid value (the
    curve of :meth:`BayesianLatentClass.membership_curve` and of the joint model's).

    Parameters
    ----------
    alpha, gamma : numpy.ndarray
        Shape (..., class - 1): intercepts and this covariate's slopes against class 1.
    covariate : str
        The covariate's name (a column of the result).
    grid : array-like
        Values of the covariate on its own scale.
    mean, scale : float
        The mean and SD the covariate was standardised with.
    hdi_prob : float
        Mass of the highest-density interval.

    Returns
    -------
    pandas.DataFrame
        Long: ``covariate``, ``value``, ``latent_class``, ``mean``, ``hdi_lower``,
        ``hdi_upper``.
    """
    from bayes_cluster.inference.summaries import hdi

    grid = np.asarray(grid, dtype=float).reshape(-1)
    alpha = np.asarray(alpha, dtype=float).reshape(-1, np.shape(alpha)[-1])
    gamma = np.asarray(gamma, dtype=float).reshape(-1, np.shape(gamma)[-1])
    n_classes = alpha.shape[-1] + 1
    x = (grid - mean) / scale
    eta = np.zeros((len(alpha), len(grid), n_classes))
    eta[..., 1:] = alpha[:, None, :] + x[None, :, None] * gamma[:, None, :]
    eta -= eta.max(axis=-1, keepdims=True)
    probability = np.exp(eta)
    probability /= probability.sum(axis=-1, keepdims=True)
    rows = []
    for g, value in enumerate(grid):
        for k in range(n_classes):
            lower, upper = hdi(probability[:, g, k], hdi_prob)
            rows.append(
                {
                    "covariate": covariate,
                    "value": float(value),
                    LATENT_CLASS: k + 1,
                    "mean": float(probability[:, g, k].mean()),
                    "hdi_lower": lower,
                    "hdi_upper": upper,
                }
            )
    return pd.DataFrame(rows)


def prior_membership_weights(
    x: np.ndarray,
    n_classes: int,
    priors: Mapping[str, float],
    rng: np.random.Generator,
    draws: int,
) -> np.ndarray:
    r"""Prior draws of each firm's class weights from its standardised covariates.

    A ZeroSumNormal draw is a normal draw minus its mean over the classes.

    Parameters
    ----------
    x : numpy.ndarray
        Shape (firm, covariate): standardised covariates.
    n_classes : int
        Number of classes.
    priors : mapping
        ``membership_intercept_sd`` and ``membership_slope_sd`` (:data:`MEMBERSHIP_PRIORS`).
    rng : numpy.random.Generator
        Random generator.
    draws : int
        Number of prior draws.

    Returns
    -------
    numpy.ndarray
        Shape (draw, firm, class): :math:`P(z_i = k \mid x_i)` per draw.
    """
    k = n_classes
    alpha = rng.normal(0.0, priors["membership_intercept_sd"], size=(draws, k))
    gamma = rng.normal(0.0, priors["membership_slope_sd"], size=(draws, x.shape[1], k))
    alpha -= alpha.mean(axis=-1, keepdims=True)
    gamma -= gamma.mean(axis=-1, keepdims=True)
    return np.exp(membership_log_weights(alpha, gamma, x))


def covariate_scaling(tree: xr.DataTree) -> tuple[tuple[str, ...], np.ndarray, np.ndarray]:
    """Return a fit's covariate names and the means and SDs they were standardised with.

    Parameters
    ----------
    tree : xarray.DataTree
        A fit with covariates of class membership (its ``attrs`` name them).

    Returns
    -------
    tuple
        Names, means and SDs (``attrs`` ``covariates``, ``covariate_means``,
        ``covariate_scales``).
    """
    attrs = tree.attrs
    names = tuple(attrs["covariates"].split(","))
    means = np.array([float(v) for v in attrs["covariate_means"].split(",")])
    scales = np.array([float(v) for v in attrs["covariate_scales"].split(",")])
    return names, means, scales


def _class_posterior_by_firm(
    one_hot_responses: np.ndarray, log_weights: np.ndarray, theta: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`class_posterior` with each firm's own class weights (..., firm, class)."""
    n_firms, n_items, n_cat = one_hot_responses.shape
    flat_log_theta = safe_log(theta).reshape(*theta.shape[:-2], n_items * n_cat)
    joint = np.einsum("fd,...kd->...fk", one_hot_responses.reshape(n_firms, -1), flat_log_theta)
    joint = joint + log_weights
    peak = joint.max(axis=-1, keepdims=True)
    marginal = peak[..., 0] + np.log(np.exp(joint - peak).sum(axis=-1))
    return marginal, np.exp(joint - marginal[..., None])


def _replicate_by_firm(
    rng: np.random.Generator, weights: np.ndarray, theta: np.ndarray, answered: np.ndarray
) -> np.ndarray:
    """Replicate the fitted firms: classes from each firm's own weights (draw, firm, class)."""
    n_items = theta.shape[-2]
    out = np.zeros((len(weights), *answered.shape), dtype=np.int64)
    for start in range(0, len(weights), _REPLICATE_BLOCK):
        block = slice(start, start + _REPLICATE_BLOCK)
        classes = draw_categories(rng, weights[block])  # (draw, firm)
        rows = np.arange(len(classes))[:, None, None]
        probabilities = theta[block][rows, classes[..., None], np.arange(n_items)]
        out[block] = draw_categories(rng, probabilities) + 1
    out[:, ~answered] = 0
    return out


# --------------------------------------------------------------------------------------
# The model
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _FitInput:
    """What one fit samples from: the encoded items and the relabelling pivot's start."""

    encoded: EncodedItems
    reference: Literal["em", "draw"]
    covariates: EncodedCovariates | None = None


class BayesianLatentClass(BayesianModel):
    r"""Bayesian latent class model for categorical survey items (NUTS on the marginal).

    For firm :math:`i`, item :math:`j` and category :math:`c` let :math:`y_{ijc} = 1` if
    the firm answered category :math:`c` (a missing answer is a row of zeros and drops
    out of the likelihood).  With :math:`K` classes,

    .. math::

        \pi &\sim \mathrm{Dirichlet}(\alpha_\pi \mathbf{1}_K) \\
        \theta_{kj\cdot} &\sim \mathrm{Dirichlet}(\alpha_\theta \mathbf{1}_C)
            \quad k = 1..K,\ j = 1..J \\
        \log p(\mathbf{y}_i \mid \pi, \theta) &= \operatorname{logsumexp}_k \Big(
            \log \pi_k + \sum_{j,c} y_{ijc} \log \theta_{kjc} \Big)

    The class indicator :math:`z_i` is summed out, so NUTS samples only :math:`\pi` and
    :math:`\theta`; the sum over :math:`(j, c)` is one matrix product of the flattened
    one-hot responses with :math:`\log\theta`, which keeps the graph small and its
    compilation short.  Each firm's class probabilities are recovered per draw,
    :math:`P(z_i = k \mid \mathbf{y}_i, \pi, \theta) \propto \pi_k \prod_{j,c}
    \theta_{kjc}^{y_{ijc}}`, after the draws are relabelled (module docstring); the numpy
    side of the likelihood is :mod:`bayes_cluster.common.latent_class_math`.

    **Covariates of class membership** (``covariates=[...]``, one step, as StepMix's
    covariate model): the class shares then depend on the firm's characteristics
    :math:`x_i` (standardised: mean 0, SD 1 over the fitted firms) through a multinomial
    logit replacing :math:`\pi`,

    .. math::

        \alpha &\sim \mathrm{ZeroSumNormal}(s_\alpha), \quad
        \gamma_{p\cdot} \sim \mathrm{ZeroSumNormal}(s_\gamma) \\
        \log P(z_i = k \mid x_i) &= \alpha_k + x_i^\top \gamma_{\cdot k}
            - \operatorname{logsumexp}_l (\alpha_l + x_i^\top \gamma_{\cdot l})

    and enters the marginal likelihood in place of :math:`\log \pi_k` (the class is
    still summed out).  The sum-to-zero parameters keep the prior symmetric in the
    labels; after relabelling (which permutes :math:`\alpha, \gamma` with the classes)
    they are reported as log-odds against class 1, the largest class:
    ``alpha`` :math:`= \alpha_k - \alpha_1` and ``gamma`` :math:`= \gamma_{pk} -
    \gamma_{p1}` per SD of covariate :math:`p` (:meth:`membership_effects`,
    :meth:`membership_curve`); ``pi`` is then the mean of the firms'
    :math:`P(z_i = k \mid x_i)`.  Priors: :data:`MEMBERSHIP_PRIORS`.

    The fit follows the package's one model contract
    (:class:`~bayes_cluster.inference.base.BayesianModel`): ``save``/``load``, ``loo``,
    and a :class:`~bayes_cluster.inference.diagnostics.ConvergenceWarning` when a
    convergence check fails.

    Parameters
    ----------
    n_classes : int
        Number of latent classes :math:`K`.
    collapse : {"three", "none"}
        Collapse 5-point Likert items to disagree / neutral / agree (default; see the
        module docstring for why) or keep the codes as given.
    priors : mapping, optional
        Overrides of :data:`DEFAULT_PRIORS` (``class_concentration``,
        ``item_concentration``).
    items : sequence of str, optional
        Item columns (default: the Markusen items present, else every column but
        ``firm_id``).
    levels : mapping of str to sequence of int, optional
        Under ``collapse="none"``, the categories of items (see :func:`encode_items`;
        default: the codebook's levels, else 1 up to the largest code answered).
    covariates : sequence of str, optional
        Numeric columns of the survey that shift the class shares (membership logit,
        above); at least 2 classes.  Their priors (``membership_intercept_sd``,
        ``membership_slope_sd``) may then be given in ``priors``.

    Attributes
    ----------
    idata_ : xarray.DataTree or None
        The fit: ``posterior`` (relabelled ``pi``, ``theta``, ``class_probability``),
        ``sample_stats``, ``log_likelihood`` (per firm), ``observed_data``,
        ``relabelling`` (the permutation applied to each draw) and, once
        :meth:`sample_posterior_predictive` has run, ``posterior_predictive``;
        configuration, provenance and diagnostics in ``attrs``.
    diagnostics_ : MCMCDiagnostics or None
        Convergence checks on ``pi`` and ``theta`` (relabelled).
    timings_ : dict
        ``compile_s``, ``sample_s`` and ``postprocess_s`` (relabelling, class
        probabilities) of the last fit.  Under ``sampler="pymc"`` ``compile_s`` is the
        time to build the model; PyTensor compiles inside ``pm.sample`` (in ``sample_s``).
    encoded : EncodedItems or None
        The encoded items of the last fit (rebuilt from the DataTree by :meth:`load`).

    Examples
    --------
    >>> from bayes_cluster.surveys.simulate import simulate_tumang
    >>> frame, truth = simulate_tumang(n=60, seed=1)
    >>> model = BayesianLatentClass(2)
    >>> tree = model.fit(frame, draws=200, tune=200, chains=2, random_seed=1)  # doctest: +SKIP
    >>> model.markusen_typing()  # doctest: +SKIP
    """

    default_priors: Mapping[str, float] = DEFAULT_PRIORS
    default_target_accept: ClassVar[float] = 0.8
    """nutpie's and PyMC's own default, which this model has always sampled with."""
    loo_variable: ClassVar[str] = "responses"

    def __init__(
        self,
        n_classes: int,
        *,
        collapse: Collapse = "three",
        priors: Mapping[str, float] | None = None,
        items: Sequence[str] | None = None,
        levels: Mapping[str, Sequence[int]] | None = None,
        covariates: Sequence[str] | None = None,
    ) -> None:
        if int(n_classes) != n_classes or n_classes < 1:
            raise ValueError(f"n_classes must be a positive whole number, got {n_classes!r}")
        if collapse not in ("three", "none"):
            raise ValueError(f"collapse must be 'three' or 'none', got {collapse!r}")
        self.covariates = _check_covariate_names(covariates, int(n_classes))
        defaults = {**DEFAULT_PRIORS, **(MEMBERSHIP_PRIORS if self.covariates else {})}
        unknown = set(priors or {}) - set(defaults)
        if unknown:
            raise ValueError(
                f"unknown prior names {sorted(unknown)}; known: {', '.join(defaults)}"
            )
        merged = {**defaults, **{k: float(v) for k, v in (priors or {}).items()}}
        for name, value in merged.items():
            if not value > 0:
                raise ValueError(f"prior {name} must be positive, got {value}")
        self.n_classes = int(n_classes)
        self.collapse = collapse
        self.priors = merged
        self.items = None if items is None else tuple(items)
        self.levels = None if levels is None else {str(k): tuple(v) for k, v in levels.items()}
        self.idata_: xr.DataTree | None = None
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
            "collapse": self.collapse,
            "priors": dict(self.priors),
            "items": None if self.items is None else list(self.items),
            "levels": None
            if self.levels is None
            else {item: list(values) for item, values in self.levels.items()},
            # only when set: fits without covariates keep the config they always had
            **({"covariates": list(self.covariates)} if self.covariates else {}),
        }

    # ---------------------------------------------------------------- model building
    def prior_summary(self) -> pd.DataFrame:
        """Return the priors in use, as rstanarm's ``prior_summary`` does.

        Returns
        -------
        pandas.DataFrame
            One row per parameter: distribution, concentration, whether it is the default.
        """
        rows = [
            ("pi", f"Dirichlet({self.priors['class_concentration']:g} * 1_K)", "class shares"),
            (
                "theta",
                f"Dirichlet({self.priors['item_concentration']:g} * 1_C) per class and item",
                "item-response probabilities",
            ),
        ]
        frame = pd.DataFrame(rows, columns=["parameter", "prior", "meaning"]).set_index(
            "parameter"
        )
        frame["default"] = [
            self.priors["class_concentration"] == DEFAULT_PRIORS["class_concentration"],
            self.priors["item_concentration"] == DEFAULT_PRIORS["item_concentration"],
        ]
        if self.covariates:
            # the class shares are then the membership logit's, not a Dirichlet's
            frame = pd.concat([frame.drop(index="pi"), self._membership_prior_rows()])
        return frame

    def _membership_prior_rows(self) -> pd.DataFrame:
        """Prior rows of the class-membership logit (``covariates`` only)."""
        p = self.priors
        frame = pd.DataFrame(
            {
                "prior": [
                    f"ZeroSumNormal(sigma={p['membership_intercept_sd']:g}) over classes",
                    f"ZeroSumNormal(sigma={p['membership_slope_sd']:g}) over classes, "
                    "per covariate SD",
                ],
                "meaning": [
                    "class intercepts of the membership logit",
                    "class slopes of the membership logit (standardised covariates)",
                ],
                "default": [
                    p[name] == MEMBERSHIP_PRIORS[name]
                    for name in ("membership_intercept_sd", "membership_slope_sd")
                ],
            },
            index=pd.Index(["alpha", "gamma"], name="parameter"),
        )
        return frame

    def encode(self, data: pd.DataFrame) -> EncodedItems:
        """Validate and one-hot encode the items of ``data`` (see :func:`encode_items`)."""
        return encode_items(data, self.items, collapse=self.collapse, levels=self.levels)

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
            The encoded covariates of class membership (default: read from ``data``
            when it is a frame and the model has ``covariates``).

        Returns
        -------
        pymc.Model
            With ``pm.Data("responses", dims=(firm, item, category))``, ``pi`` (or, with
            covariates, ``pm.Data("covariates")``, ``alpha`` and ``gamma``), ``theta``
            and the marginal log-likelihood as a ``pm.Potential``.
        """
        import pymc as pm
        import pytensor.tensor as pt

        if covariates is None and self.covariates and isinstance(data, pd.DataFrame):
            covariates = encode_covariates(data, self.covariates)
        encoded = data if isinstance(data, EncodedItems) else self.encode(data)
        n_firms, n_items, n_cat = encoded.one_hot.shape
        k = self.n_classes
        coords = {
            FIRM: list(encoded.firms),
            ITEM: list(encoded.items),
            CATEGORY: list(encoded.categories),
            LATENT_CLASS: list(range(1, k + 1)),
        }
        with pm.Model(coords=coords) as model:
            responses = pm.Data("responses", encoded.one_hot, dims=(FIRM, ITEM, CATEGORY))
            pm.Data("answers", encoded.answers, dims=(FIRM, ITEM))  # for the fused loop
            # concentrations are data, so one compiled model serves every prior setting
            item_concentration = pm.Data(
                "item_concentration", np.full(n_cat, self.priors["item_concentration"])
            )
            log_weights = self._class_log_weights(covariates)
            mask = encoded.category_mask
            if mask.all():
                theta = pm.Dirichlet(
                    "theta",
                    a=pt.broadcast_to(item_concentration, (k, n_items, n_cat)),
                    dims=(LATENT_CLASS, ITEM, CATEGORY),
                )
                flat_log_theta = pt.log(theta).reshape((k, n_items * n_cat))
            else:
                theta, flat_log_theta = _ragged_theta(mask, k, item_concentration)
            flat_responses = responses.reshape((responses.shape[0], n_items * n_cat))
            per_class = pt.dot(flat_responses, flat_log_theta.T) + log_weights
            pm.Potential("marginal_log_likelihood", pt.logsumexp(per_class, axis=1).sum())
        return model

    def _class_log_weights(self, covariates: EncodedCovariates | None):
        r"""Inside the model: the log class weights, (class,) or (firm, class) with covariates.

        Without covariates :math:`\log\pi` with :math:`\pi \sim \mathrm{Dirichlet}`;
        with them the membership logit :math:`\log P(z_i = k \mid x_i)`.
        """
        import pymc as pm
        import pytensor.tensor as pt

        k = self.n_classes
        if self.covariates:
            if covariates is None:
                raise ValueError(
                    f"this model has covariates {list(self.covariates)}: build it from the "
                    "survey frame (or pass covariates=) so their values are known"
                )
            return _membership_log_weights_tensor(covariates, self.priors)
        if k == 1:
            return pt.log(pm.Deterministic("pi", pt.ones(1), dims=LATENT_CLASS))
        class_concentration = pm.Data(
            "class_concentration", np.full(k, self.priors["class_concentration"])
        )
        return pt.log(pm.Dirichlet("pi", a=class_concentration, dims=LATENT_CLASS))

    # ---------------------------------------------------------------- fitting
    def fit(
        self,
        data: pd.DataFrame,
        *,
        draws: int = 1000,
        tune: int = 1000,
        chains: int = 4,
        random_seed: int | None = None,
        sampler: Sampler = "nutpie_c",
        reference: Literal["em", "draw"] = "em",
        target_accept: float | None = None,
        progressbar: bool = False,
        cores: int | None = None,
    ) -> xr.DataTree:
        """Sample the posterior, relabel the draws and compute the derived quantities.

        Parameters
        ----------
        data : pandas.DataFrame
            Survey frame or item frame (see :func:`encode_items`).
        draws, tune, chains : int
            Draws kept and warm-up iterations per chain; number of chains.
        random_seed : int, optional
            Seed of the sampler (and of the EM reference); same seed, same numbers.
        sampler : {"nutpie_c", "nutpie", "pymc"}, default "nutpie_c"
            ``"nutpie_c"``: compiled once per item layout and number of classes (any
            number of firms) and machine (cached on disk), and re-used with new data or
            priors; ``"nutpie"``: the same draws, compiled anew in every process;
            ``"pymc"``: PyMC's NUTS, several times slower per draw
            (:class:`~bayes_cluster.inference.sampling.SamplerSettings`).
        reference : {"em", "draw"}
            Start of the relabelling pivot: the maximum-likelihood EM solution (default)
            or the draw with the highest log density.
        target_accept : float, optional
            NUTS target acceptance (default 0.8, :attr:`default_target_accept`).
        progressbar : bool
            Show the sampler's progress bar.
        cores : int, optional
            Chains run in parallel on this many processes (pymc) or threads (nutpie_c,
            nutpie).
            Default: nutpie's own choice; pymc runs the chains one after another (its
            worker processes are forked from a process that by then runs threads, which
            Python warns may deadlock, and on 2 cores they were measured no faster).

        Returns
        -------
        xarray.DataTree
            Also kept as :attr:`idata_`.

        Warns
        -----
        ConvergenceWarning
            When a convergence check on the relabelled ``pi``/``theta`` failed (see
            :attr:`diagnostics_`).
        """
        return super().fit(
            data,
            draws=draws,
            tune=tune,
            chains=chains,
            random_seed=random_seed,
            sampler=sampler,
            target_accept=target_accept,
            progressbar=progressbar,
            cores=cores,
            reference=reference,
        )

    def _prepare_fit(
        self, frame: pd.DataFrame, *, reference: Literal["em", "draw"] = "em"
    ) -> _FitInput:
        if reference not in ("em", "draw"):
            raise ValueError(f"reference must be 'em' or 'draw', got {reference!r}")
        covariates = encode_covariates(frame, self.covariates) if self.covariates else None
        return _FitInput(self.encode(frame), reference, covariates)

    def _build(self, prepared: _FitInput):
        return self.build_model(prepared.encoded, prepared.covariates)

    def _compile_key(self, prepared: _FitInput) -> tuple:
        # the items' own categories fix which Dirichlet blocks the graph has; the firms are
        # data (every sample size re-uses one compiled model)
        encoded = prepared.encoded
        return (
            encoded.one_hot.shape[1:],
            self.n_classes,
            encoded.item_categories,
            *self._membership_compile_key(),
        )

    def _fused_logp(self):
        # every K, nominal or ordinal, with or without covariates: one hand-written loop
        # (PyTensor's graph for item layouts it does not implement)
        from bayes_cluster.inference.fast_latent_class import fuse_latent_class_logp

        return fuse_latent_class_logp

    def _membership_compile_key(self) -> tuple:
        """Compile-key entries of the membership logit (nothing without covariates)."""
        return () if not self.covariates else ("covariates", len(self.covariates))

    def _membership_sampler_data(self, prepared: _FitInput) -> dict[str, np.ndarray]:
        """Data-container values of the membership logit (nothing without covariates)."""
        if not self.covariates:
            return {}
        assert prepared.covariates is not None
        return {
            "covariates": prepared.covariates.values,
            "membership_intercept_sd": np.asarray(self.priors["membership_intercept_sd"]),
            "membership_slope_sd": np.asarray(self.priors["membership_slope_sd"]),
        }

    def _sampler_data(self, prepared: _FitInput) -> dict[str, np.ndarray]:
        n_cat = prepared.encoded.one_hot.shape[2]
        updates = {
            "responses": prepared.encoded.one_hot,
            "answers": prepared.encoded.answers,
            "item_concentration": np.full(n_cat, self.priors["item_concentration"]),
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
        tree = self._relabelled_tree(
            raw, prepared.encoded, prepared.reference, settings.seed, prepared.covariates
        )
        self.encoded = prepared.encoded
        return tree

    def _provenance_extra(self, prepared: _FitInput) -> dict[str, Any]:
        encoded = prepared.encoded
        return {
            "n_classes": self.n_classes,
            "collapse": self.collapse,
            "items": ",".join(encoded.items),
            "category_labels": ",".join(encoded.category_labels),
            "item_categories": encoded.item_categories_text(),
            "class_concentration": self.priors["class_concentration"],
            "item_concentration": self.priors["item_concentration"],
            "n_missing_responses": encoded.n_missing,
            "missing_responses": "left out of the likelihood (one-hot row of zeros)",
            **self._membership_provenance(),
        }

    def _membership_provenance(self) -> dict[str, Any]:
        """Provenance entries of the membership logit (none without covariates)."""
        if not self.covariates:
            return {}
        return {
            "membership_intercept_sd": self.priors["membership_intercept_sd"],
            "membership_slope_sd": self.priors["membership_slope_sd"],
            "membership_model": "multinomial logit on standardised covariates, "
            "sum-to-zero while sampling, reported against class 1",
        }

    def _diagnostic_variables(self, tree: xr.DataTree) -> list[str]:
        return ["pi", "theta", *self._membership_variables()] if self.n_classes > 1 else ["theta"]

    def _membership_variables(self) -> list[str]:
        """Posterior variables of the membership logit (none without covariates)."""
        return ["alpha", "gamma"] if self.covariates else []

    def _restore(self, tree: xr.DataTree, state: Mapping[str, Any]) -> None:
        self.idata_ = tree
        self.encoded = self._encoded_from_tree()
        # the items the fit used (the constructor may have left them to the default)
        self.items = self.encoded.items

    def _reference(self, encoded: EncodedItems, pi, theta, logp, seed, choice):
        if self.n_classes == 1:
            return None, "none needed (one class)"
        flat_pi = pi.reshape(-1, self.n_classes)
        flat_theta = theta.reshape(-1, *theta.shape[2:])
        best_draw = int(np.argmax(logp.reshape(-1))) if logp is not None else 0
        fallback = (flat_pi[best_draw], flat_theta[best_draw]), "the highest-density draw"
        if choice == "em":
            from bayes_cluster.estimators.latent_class_em import LatentClassEM

            em = LatentClassEM(
                self.n_classes,
                n_starts=20,
                random_state=seed,
                n_categories=encoded.em_n_categories(),
            ).fit(encoded.codes_frame())
            return (
                np.asarray(em.class_shares_),
                np.nan_to_num(np.asarray(em.item_probabilities_)),
            ), "the EM (maximum-likelihood) solution"
        return fallback

    def _with_membership(self, posterior, alpha, gamma, log_weights, covariates):
        """Add the membership logit, as log-odds against class 1, to the posterior."""
        n_chains, n_draws = posterior.sizes[CHAIN], posterior.sizes[DRAW]
        k = self.n_classes
        # contrasts against class 1 (the largest after relabelling): the sum-to-zero
        # parameters differ from them by a constant per draw, which softmax ignores
        alpha = (alpha[:, 1:] - alpha[:, :1]).reshape(n_chains, n_draws, k - 1)
        gamma = (gamma[:, :, 1:] - gamma[:, :, :1]).reshape(
            n_chains, n_draws, len(covariates.names), k - 1
        )
        posterior = posterior.assign_coords(
            {CLASS_CONTRAST: np.arange(2, k + 1), COVARIATE: list(covariates.names)}
        )
        posterior["alpha"] = ((CHAIN, DRAW, CLASS_CONTRAST), alpha)
        posterior["gamma"] = ((CHAIN, DRAW, COVARIATE, CLASS_CONTRAST), gamma)
        posterior["membership_probability"] = (
            (CHAIN, DRAW, FIRM, LATENT_CLASS),
            np.exp(log_weights),
        )
        posterior["alpha"].attrs["meaning"] = (
            "log-odds of class k against class 1 for a firm at the covariates' means"
        )
        posterior["gamma"].attrs["meaning"] = (
            "change in the log-odds of class k against class 1 per SD of the covariate"
        )
        posterior["membership_probability"].attrs["meaning"] = (
            "P(class k | covariates) of each firm, before its answers are seen"
        )
        return posterior

    def _relabelled_tree(
        self,
        raw: xr.DataTree,
        encoded,
        reference,
        seed,
        covariates: EncodedCovariates | None = None,
    ) -> xr.DataTree:
        posterior = raw["posterior"].to_dataset()
        theta = posterior["theta"].transpose(CHAIN, DRAW, LATENT_CLASS, ITEM, CATEGORY)
        theta = theta.to_numpy()
        n_chains, n_draws = theta.shape[:2]
        k = self.n_classes
        alpha = gamma = log_weights = None
        if covariates is not None:
            # each firm has its own class weights; the class shares are their mean
            alpha = posterior["alpha"].transpose(CHAIN, DRAW, LATENT_CLASS).to_numpy()
            alpha = alpha.reshape(-1, k)
            gamma = posterior["gamma"].transpose(CHAIN, DRAW, COVARIATE, LATENT_CLASS)
            gamma = gamma.to_numpy().reshape(-1, len(covariates.names), k)
            log_weights = membership_log_weights(alpha, gamma, covariates.values)
            pi = np.exp(log_weights).mean(axis=1).reshape(n_chains, n_draws, k)
        elif "pi" in posterior:
            pi = posterior["pi"].transpose(CHAIN, DRAW, LATENT_CLASS).to_numpy()
        else:
            pi = np.ones((n_chains, n_draws, 1))
        stats = raw["sample_stats"].to_dataset() if "sample_stats" in raw.children else None
        logp = None
        for name in ("lp", "logp"):
            if stats is not None and name in stats:
                logp = stats[name].to_numpy()
                break
        pivot, pivot_text = self._reference(encoded, pi, theta, logp, seed, reference)
        flat_pi = pi.reshape(-1, k)
        flat_theta = theta.reshape(-1, *theta.shape[2:])
        if k > 1:
            permutation = relabel_draws(flat_pi, flat_theta, reference=pivot)
            rows = np.arange(len(flat_pi))[:, None]
            flat_pi, flat_theta = flat_pi[rows, permutation], flat_theta[rows, permutation]
            order = np.argsort(-flat_pi.mean(axis=0), kind="stable")
            flat_pi, flat_theta = flat_pi[:, order], flat_theta[:, order]
            permutation = permutation[:, order]
            if log_weights is not None:
                # the membership logit's classes move with the classes they describe
                alpha = alpha[rows, permutation]
                gamma = gamma[
                    rows[:, :, None],
                    np.arange(gamma.shape[1])[None, :, None],
                    permutation[:, None, :],
                ]
                log_weights = log_weights[
                    rows[:, :, None],
                    np.arange(log_weights.shape[1])[None, :, None],
                    permutation[:, None, :],
                ]
            switched = float((permutation != np.arange(k)).any(axis=1).mean())
            method = (
                "Hungarian relabelling of every draw to a pivot started at "
                f"{pivot_text} and iterated to the posterior mean (squared-distance "
                "pivot relabelling); "
                "classes ordered by decreasing posterior mean share"
            )
        else:
            permutation = np.zeros((len(flat_pi), 1), dtype=np.int64)
            switched = 0.0
            method = "none needed (one class)"
        pi = flat_pi.reshape(n_chains, n_draws, k)
        theta = flat_theta.reshape(theta.shape)
        # (chain, draw, firm) and (chain, draw, firm, class)
        if log_weights is None:
            log_lik, class_probability = class_posterior(encoded.one_hot, pi, theta)
        else:
            log_weights = log_weights.reshape(n_chains, n_draws, *log_weights.shape[1:])
            log_lik, class_probability = _class_posterior_by_firm(
                encoded.one_hot, log_weights, theta
            )

        chain_coord = posterior[CHAIN].to_numpy()
        draw_coord = posterior[DRAW].to_numpy()
        coords = {
            CHAIN: chain_coord,
            DRAW: draw_coord,
            LATENT_CLASS: np.arange(1, k + 1),
            ITEM: list(encoded.items),
            CATEGORY: list(encoded.categories),
            FIRM: list(encoded.firms),
        }
        new_posterior = xr.Dataset(
            {
                "pi": ((CHAIN, DRAW, LATENT_CLASS), pi),
                "theta": ((CHAIN, DRAW, LATENT_CLASS, ITEM, CATEGORY), theta),
                "class_probability": ((CHAIN, DRAW, FIRM, LATENT_CLASS), class_probability),
            },
            coords={d: coords[d] for d in (CHAIN, DRAW, LATENT_CLASS, ITEM, CATEGORY, FIRM)},
        )
        new_posterior[CATEGORY].attrs["labels"] = ",".join(encoded.category_labels)
        if covariates is not None:
            new_posterior = self._with_membership(
                new_posterior, alpha, gamma, log_weights, covariates
            )
        log_likelihood = xr.Dataset(
            {"responses": ((CHAIN, DRAW, FIRM), log_lik)},
            coords={CHAIN: chain_coord, DRAW: draw_coord, FIRM: coords[FIRM]},
        )
        observed = xr.Dataset(
            {"responses": ((FIRM, ITEM), encoded.codes)},
            coords={FIRM: coords[FIRM], ITEM: coords[ITEM]},
        )
        observed["responses"].attrs["coding"] = (
            "category code 1..C; 0 = missing. Labels: " + ",".join(encoded.category_labels)
        )
        relabelling = xr.Dataset(
            {
                "permutation": (
                    (CHAIN, DRAW, LATENT_CLASS),
                    permutation.reshape(n_chains, n_draws, k),
                )
            },
            coords={CHAIN: chain_coord, DRAW: draw_coord, LATENT_CLASS: coords[LATENT_CLASS]},
        )
        relabelling["permutation"].attrs["meaning"] = (
            "relabelled class l of a draw is the sampler's class permutation[l] (0-based)"
        )
        groups = {
            "posterior": new_posterior,
            "log_likelihood": log_likelihood,
            "observed_data": observed,
            "relabelling": relabelling,
        }
        if covariates is not None:
            groups["constant_data"] = xr.Dataset(
                {"covariates": ((FIRM, COVARIATE), covariates.raw)},
                coords={FIRM: coords[FIRM], COVARIATE: list(covariates.names)},
            )
            groups["constant_data"]["covariates"].attrs["scale"] = "as given (not standardised)"
        if stats is not None:
            # object-typed messages cannot be written to NetCDF
            groups["sample_stats"] = stats.drop_vars(
                [n for n, v in stats.data_vars.items() if v.dtype == object]
            )
        tree = xr.DataTree.from_dict(groups)
        if covariates is not None:
            tree.attrs["covariates"] = ",".join(covariates.names)
            tree.attrs["covariate_means"] = ",".join(repr(float(v)) for v in covariates.means)
            tree.attrs["covariate_scales"] = ",".join(repr(float(v)) for v in covariates.scales)
            tree.attrs["membership_reference_class"] = "1 (the largest class after relabelling)"
        tree.attrs["label_switching"] = method
        tree.attrs["share_of_draws_relabelled"] = f"{switched:.4f}"
        return tree

    # ---------------------------------------------------------------- results
    @property
    def posterior(self) -> xr.Dataset:
        """The relabelled posterior draws (``pi``, ``theta``, ``class_probability``)."""
        return self._require_fit()["posterior"].to_dataset()

    def summary(
        self, hdi_prob: float | None = None, *, var_names: Sequence[str] = ("pi", "theta")
    ) -> pd.DataFrame:
        """Posterior summary of the (relabelled) class parameters.

        Parameters
        ----------
        hdi_prob : float, optional
            Probability mass of the highest-density interval (default 0.94).
        var_names : sequence of str
            Posterior variables (``pi``, ``theta``, ``class_probability``).  With
            ``covariates``, ``pi`` is the mean of the firms' membership probabilities and
            the rows of ``alpha`` and ``gamma`` (log-odds against class 1) follow it.

        Returns
        -------
        pandas.DataFrame
            One row per scalar parameter; columns ``mean``, ``sd``, ``hdi_lower``,
            ``hdi_upper``, ``r_hat``, ``ess_bulk``, ``ess_tail``
            (:data:`~bayes_cluster.inference.summaries.SUMMARY_COLUMNS`).  ``theta`` has rows only
            for the categories each item has; ``attrs["item_categories"]`` maps each item
            to its categories.
        """
        from bayes_cluster.inference.summaries import summary_table

        if hdi_prob is None:
            hdi_prob = 0.94
        tree = self._require_fit()
        if "pi" in var_names and "gamma" in tree["posterior"].data_vars:
            # the membership logit's rows follow the class shares it explains
            var_names = [*var_names, *(v for v in ("alpha", "gamma") if v not in var_names)]
        with np.errstate(invalid="ignore", divide="ignore"):  # constant 0 of absent cells
            # ArviZ's summary numbers (to 1e-10), all parameters at once: arviz_stats loops
            # over the parameters (about 0.5 s for the 111 of K = 3 on the Tumang items)
            posterior = tree["posterior"].to_dataset()
            diagnostics = self._fitted_diagnostics(posterior, list(var_names))
            table = summary_table(posterior, list(var_names), hdi_prob, diagnostics)
        item_categories = self._item_categories()
        categories = [int(c) for c in tree["posterior"][CATEGORY].to_numpy()]
        absent = {
            f"theta[{k}, {item}, {c}]"
            for k in tree["posterior"][LATENT_CLASS].to_numpy()
            for item, own in item_categories.items()
            for c in categories
            if c not in own
        }
        table = table.loc[[label for label in table.index if label not in absent]]
        table.attrs["item_categories"] = item_categories
        return table

    def _fitted_diagnostics(
        self, posterior: xr.Dataset, var_names: list[str]
    ) -> pd.DataFrame | None:
        """R-hat and ESS of ``var_names``: the fit's own rows where it has them.

        The fit's convergence check (``diagnostics_``) already holds them for its
        variables (the same function on the same draws); only the others are computed.
        """
        from bayes_cluster.inference.diagnostics import diagnostics_table

        fitted = getattr(self, "diagnostics_", None)
        if fitted is None:
            return None
        known = set(self._diagnostic_variables(self._require_fit()))
        reused = [name for name in var_names if name in known]
        if not reused:
            return None
        labels = fitted.table.index.to_series()
        names = labels.str.split("[", n=1).str[0]
        parts = [fitted.table.loc[names.isin(reused).to_numpy()]]
        rest = [name for name in var_names if name not in known]
        if rest:
            parts.append(diagnostics_table(posterior, rest))
        return pd.concat(parts)

    def _item_categories(self) -> dict[str, tuple[int, ...]]:
        """Return the categories of each fitted item (all of them for fits saved without)."""
        tree = self._require_fit()
        text = tree.attrs.get("item_categories")
        if text:
            return _parse_item_categories(text)
        categories = tuple(int(c) for c in tree["posterior"][CATEGORY].to_numpy())
        return {str(item): categories for item in tree["posterior"][ITEM].to_numpy()}

    # ---------------------------------------------------------------- membership covariates
    def _require_covariates(self) -> xr.DataTree:
        tree = self._require_fit()
        if "gamma" not in tree["posterior"].data_vars:
            raise ValueError(
                "this fit has no covariates of class membership: fit "
                f"{type(self).__name__}(..., covariates=[...]) first"
            )
        return tree

    def _covariate_scaling(self) -> tuple[tuple[str, ...], np.ndarray, np.ndarray]:
        """Covariate names and the means and SDs they were standardised with."""
        return covariate_scaling(self._require_covariates())

    def membership_effects(self, hdi_prob: float = 0.94) -> pd.DataFrame:
        r"""Covariate effects on class membership: log-odds of class k against class 1.

        :math:`\gamma_{pk} - \gamma_{p1}`: the change in
        :math:`\log P(z = k \mid x) / P(z = 1 \mid x)` when covariate :math:`p` rises by
        one standard deviation (of the fitted firms) and the others stay put.  Class 1
        is the largest class after relabelling (the reference).

        Parameters
        ----------
        hdi_prob : float
            Mass of the highest-density interval.

        Returns
        -------
        pandas.DataFrame
            One row per (covariate, class k >= 2): ``covariate``, ``latent_class``,
            ``reference_class`` (1), ``log_odds`` (posterior mean), ``sd``,
            ``hdi_lower``, ``hdi_upper``, ``odds_ratio`` (exp of the mean), ``p_positive``
            (posterior probability that the log-odds are above 0), ``r_hat``,
            ``ess_bulk``, ``ess_tail``, ``covariate_sd`` (one SD on the covariate's scale).

        Raises
        ------
        ValueError
            When the fit has no covariates.
        """
        tree = self._require_covariates()
        names, _, scales = self._covariate_scaling()
        gamma = tree["posterior"]["gamma"].transpose(CHAIN, DRAW, COVARIATE, CLASS_CONTRAST)
        return membership_effects_table(gamma.to_numpy(), names, scales, hdi_prob)

    def membership_curve(
        self,
        covariate: str,
        grid: Sequence[float] | np.ndarray | None = None,
        hdi_prob: float = 0.94,
    ) -> pd.DataFrame:
        r"""P(class k | covariate) as one covariate varies, the others at their means.

        Per posterior draw, :math:`P(z = k \mid x) = \mathrm{softmax}_k(\alpha_k +
        \gamma_{pk} (x_p - \bar x_p) / s_p)` (class 1's :math:`\alpha, \gamma` are 0);
        the posterior mean and HDI over draws at every grid value.

        Parameters
        ----------
        covariate : str
            One of the fit's covariates.
        grid : array-like, optional
            Values of the covariate on its own scale (default: 50 values from the
            smallest to the largest fitted firm's).
        hdi_prob : float
            Mass of the highest-density interval.

        Returns
        -------
        pandas.DataFrame
            Long: ``covariate``, ``value``, ``latent_class``, ``mean``, ``hdi_lower``,
            ``hdi_upper``.

        Raises
        ------
        ValueError
            When the fit has no covariates or ``covariate`` is not one of them.
        """
        return fitted_membership_curve(
            self._require_covariates(), covariate, grid, hdi_prob, intercept="alpha"
        )

    def class_probabilities(self) -> pd.DataFrame:
        r"""Each firm's posterior class probabilities and its most probable class.

        Returns
        -------
        pandas.DataFrame
            Indexed by firm: one column per class (posterior mean of
            :math:`P(z_i = k \mid \mathbf{y}_i)`), ``modal_class`` and its probability.
        """
        probability = self.posterior["class_probability"].mean((CHAIN, DRAW))
        frame = probability.to_pandas()
        frame.columns = [f"class {k}" for k in frame.columns]
        frame["modal_class"] = probability.argmax(LATENT_CLASS).to_numpy() + 1
        frame["modal_probability"] = probability.max(LATENT_CLASS).to_numpy()
        frame.index.name = FIRM
        return frame

    def predict(self, data: pd.DataFrame) -> pd.DataFrame:
        r"""Class probabilities of new firms under the posterior (no refitting).

        For each posterior draw, :math:`P(z = k \mid \mathbf{y}) \propto \pi_k
        \prod_{j,c} \theta_{kjc}^{y_{jc}}`, averaged over draws.  Items are encoded
        exactly as in the fit (same columns, same collapsing); missing answers drop out.
        With covariates, :math:`\pi_k` is the new firm's own
        :math:`P(z = k \mid x)` (its covariates standardised as in the fit).

        Parameters
        ----------
        data : pandas.DataFrame
            Survey or item frame holding the fitted items.

        Returns
        -------
        pandas.DataFrame
            As :meth:`class_probabilities`, indexed by the new firms.
        """
        posterior = self.posterior
        items = [str(v) for v in posterior[ITEM].to_numpy()]
        encoded = encode_items(
            data,
            items,
            collapse=self.collapse,
            levels=None if self.collapse == "three" else self._item_categories(),
        )
        pi = posterior["pi"].transpose(CHAIN, DRAW, LATENT_CLASS).to_numpy()
        theta = posterior["theta"].transpose(CHAIN, DRAW, LATENT_CLASS, ITEM, CATEGORY)
        if "gamma" in posterior.data_vars:
            # each new firm's own class weights, from its covariates (fit's scaling)
            names, means, scales = self._covariate_scaling()
            x = encode_covariates(data, names, means=means, scales=scales).values
            alpha = posterior["alpha"].transpose(CHAIN, DRAW, CLASS_CONTRAST).to_numpy()
            gamma = posterior["gamma"].transpose(CHAIN, DRAW, COVARIATE, CLASS_CONTRAST)
            zeros = np.zeros((*alpha.shape[:2], 1))
            log_weights = membership_log_weights(
                np.concatenate([zeros, alpha], axis=-1),
                np.concatenate(
                    [np.zeros((*alpha.shape[:2], len(names), 1)), gamma.to_numpy()], axis=-1
                ),
                x,
            )
            probability = _class_posterior_by_firm(encoded.one_hot, log_weights, theta.to_numpy())
            probability = probability[1].mean((0, 1))
        else:
            probability = class_posterior(encoded.one_hot, pi, theta.to_numpy())[1].mean((0, 1))
        frame = pd.DataFrame(
            probability,
            index=pd.Index(encoded.firms, name=FIRM),
            columns=[f"class {k}" for k in posterior[LATENT_CLASS].to_numpy()],
        )
        frame["modal_class"] = probability.argmax(axis=1) + 1
        frame["modal_probability"] = probability.max(axis=1)
        return frame

    def occupied_classes(self, random_seed: int | None = 0) -> pd.Series:
        """Posterior distribution of the number of classes holding at least one firm.

        For the sparse overfitted mixture (small ``class_concentration``, Rousseau &
        Mengersen 2011): per draw each firm's class is drawn from its class probabilities
        and the non-empty classes are counted (Malsiner-Walli et al. 2016).

        Parameters
        ----------
        random_seed : int, optional
            Seed of the class draws.

        Returns
        -------
        pandas.Series
            P(number of occupied classes = m), indexed by m.
        """
        probability = self.posterior["class_probability"].transpose(
            CHAIN, DRAW, FIRM, LATENT_CLASS
        )
        p = probability.to_numpy().reshape(-1, probability.shape[2], self.n_classes)
        rng = np.random.default_rng(random_seed)
        uniform = rng.random(p.shape[:2])[..., None]
        z = (uniform > np.cumsum(p, axis=-1)).sum(axis=-1).clip(max=self.n_classes - 1)
        occupied = np.array([np.unique(row).size for row in z])
        counts = pd.Series(occupied).value_counts(normalize=True).sort_index()
        counts.index.name = "n_occupied_classes"
        return counts.rename("probability")

    def loo(self) -> Any:
        """PSIS-LOO on the per-firm marginal likelihood (:func:`arviz_stats.loo`).

        ArviZ's warning about large Pareto k is silenced here because the k values are
        returned (``pareto_k``) and reported by
        :func:`bayes_cluster.analyses.n_classes.compare_n_classes` (``max_pareto_k``,
        ``n_high_pareto_k``): with about one parameter per firm, some firms are
        influential and k > 0.7 is common at n = 60.

        Returns
        -------
        arviz_stats.ELPDData
            ELPD estimate, its SE, ``p_loo`` and pointwise Pareto k.
        """
        import warnings

        with warnings.catch_warnings():
            warnings.filterwarnings(
                "ignore", message="Estimated shape parameter of Pareto", category=UserWarning
            )
            return super().loo()

    # ---------------------------------------------------------------- Markusen typing
    def _type_scores(self) -> xr.DataArray:
        from bayes_cluster.surveys.markusen import match_markusen_types

        encoded_items = [str(v) for v in self.posterior[ITEM].to_numpy()]
        unknown = [item for item in encoded_items if item not in MARKUSEN_ITEMS]
        if unknown:
            raise ValueError(
                f"Markusen typing needs Markusen items; {unknown} are not in the signature "
                "table (bayes_cluster.surveys.markusen.SIGNATURES)"
            )
        return match_markusen_types(self.posterior["theta"])

    def class_types(self) -> xr.DataArray:
        """Best-matching Markusen type index of each class in each draw.

        Returns
        -------
        xarray.DataArray
            Dims (chain, draw, latent_class); values index :data:`MARKUSEN_TYPES`.
        """
        return self._type_scores().argmax(MARKUSEN_TYPE)

    def markusen_typing(self) -> pd.DataFrame:
        """Posterior probability of each class's Markusen type.

        Every posterior draw's class profiles are matched to the four signatures
        (:func:`bayes_cluster.surveys.markusen.match_markusen_types`) and each class takes its
        best-matching type in that draw; P(type) is the share of draws.

        Returns
        -------
        pandas.DataFrame
            Indexed by latent class: posterior mean share, P(type) per Markusen type, the
            most probable type and its probability.
        """
        types = self.class_types().to_numpy()  # chain, draw, class
        rows = []
        share = self.posterior["pi"].mean((CHAIN, DRAW)).to_numpy()
        for k in range(self.n_classes):
            probabilities = [(types[..., k] == t).mean() for t in range(len(MARKUSEN_TYPES))]
            rows.append([share[k], *probabilities])
        frame = pd.DataFrame(
            rows,
            index=pd.Index(range(1, self.n_classes + 1), name=LATENT_CLASS),
            columns=["share", *MARKUSEN_TYPES],
        )
        frame["most_probable_type"] = frame[list(MARKUSEN_TYPES)].idxmax(axis=1)
        frame["probability"] = frame[list(MARKUSEN_TYPES)].max(axis=1)
        return frame

    def type_share_draws(self) -> xr.DataArray:
        r"""Posterior draws of the share of firms in classes of each Markusen type.

        Per draw, :math:`s_T = \sum_k \pi_k [\text{type}_k = T]`.

        Returns
        -------
        xarray.DataArray
            Dims (chain, draw, markusen_type).
        """
        types = self.class_types()
        pi = self.posterior["pi"]
        shares = [
            (pi * (types == t)).sum(LATENT_CLASS).expand_dims({MARKUSEN_TYPE: [name]})
            for t, name in enumerate(MARKUSEN_TYPES)
        ]
        return xr.concat(shares, MARKUSEN_TYPE).transpose(CHAIN, DRAW, MARKUSEN_TYPE)

    def cluster_verdict(
        self, *, majority: float = 0.5, minority: float = 0.2, hdi_prob: float = 0.94
    ) -> ClusterVerdict:
        """Return the cluster-pattern verdict: posterior of the Markusen type shares.

        Parameters
        ----------
        majority : float
            Threshold for "the type is the majority" (default 0.5).
        minority : float
            Threshold for "the type is a substantial minority" (default 0.2).
        hdi_prob : float
            Mass of the share intervals.

        Returns
        -------
        ClusterVerdict
            Text such as "P(Marshallian firms are the majority) = 0.93;
            P(Hub-and-Spoke share > 20%) = 0.71", a table and the share draws.
        """
        from arviz_stats.base import array_stats

        draws = self.type_share_draws()
        flat = draws.to_numpy().reshape(-1, len(MARKUSEN_TYPES))
        intervals = np.array(
            [array_stats.hdi(flat[:, t], hdi_prob) for t in range(len(MARKUSEN_TYPES))]
        )
        table = pd.DataFrame(
            {
                "mean_share": flat.mean(axis=0),
                "hdi_lower": intervals[:, 0],
                "hdi_upper": intervals[:, 1],
                "p_present": (flat > 0).mean(axis=0),
                f"p_share_gt_{minority:g}": (flat > minority).mean(axis=0),
                f"p_share_gt_{majority:g}": (flat > majority).mean(axis=0),
            },
            index=pd.Index(MARKUSEN_TYPES, name=MARKUSEN_TYPE),
        )
        statements = []
        ranked = table.sort_values("mean_share", ascending=False)
        for name, row in ranked.iterrows():
            if row["p_present"] < 0.05:
                continue
            statements.append(
                f"P({name} firms are the majority) = {row[f'p_share_gt_{majority:g}']:.2f}; "
                f"P({name} share > {minority:.0%}) = {row[f'p_share_gt_{minority:g}']:.2f} "
                f"(mean share {row['mean_share']:.2f}, {hdi_prob:.0%} HDI "
                f"{row['hdi_lower']:.2f}-{row['hdi_upper']:.2f})"
            )
        leader = ranked.index[0]
        p_lead = ranked.iloc[0][f"p_share_gt_{majority:g}"]
        substantial = [
            name
            for name, row in ranked.iloc[1:].iterrows()
            if row[f"p_share_gt_{minority:g}"] >= 0.5
        ]
        if p_lead >= 0.9:
            text = f"The cluster is predominantly {leader}"
        elif p_lead >= 0.5:
            text = f"The cluster is probably predominantly {leader}"
        else:
            text = f"No type is clearly the majority; {leader} has the largest share"
        text += f" (P({leader} firms are the majority) = {p_lead:.2f})"
        if substantial:
            parts = [
                f"{name} (P(share > {minority:.0%}) = "
                f"{table.loc[name, f'p_share_gt_{minority:g}']:.2f})"
                for name in substantial
            ]
            text += ", with a substantial minority of " + " and ".join(parts)
        text += "."
        return ClusterVerdict(text=text, table=table, statements=statements, share_draws=draws)

    # ---------------------------------------------------------------- predictive checks
    def _prior_membership_weights(self, frame, rng: np.random.Generator, draws: int):
        """Prior draws of each firm's class weights (draw, firm, class) from its covariates.

        A ZeroSumNormal draw is a normal draw minus its mean over the classes.
        """
        if not isinstance(frame, pd.DataFrame):
            raise ValueError(
                "a model with covariates draws its prior predictive from the survey frame "
                "(the covariates' values are needed), not from encoded items"
            )
        x = encode_covariates(frame, self.covariates).values
        return prior_membership_weights(x, self.n_classes, self.priors, rng, draws)

    def sample_prior_predictive(
        self,
        frame_or_items: pd.DataFrame | EncodedItems,
        draws: int = 500,
        random_seed: int | None = None,
    ) -> xr.DataTree:
        r"""Draw parameters from the Dirichlet priors and replicate the survey from them.

        Per draw :math:`s`, :math:`\pi^{(s)} \sim \mathrm{Dirichlet}(\alpha_\pi
        \mathbf{1}_K)` (:math:`\pi = 1` when :math:`K = 1`), :math:`\theta^{(s)}_{kj\cdot}
        \sim \mathrm{Dirichlet}(\alpha_\theta \mathbf{1}_C)`, then every firm gets a class
        :math:`z_i \sim \mathrm{Categorical}(\pi^{(s)})` and answers
        :math:`y_{ij} \sim \mathrm{Categorical}(\theta^{(s)}_{z_i j\cdot})`.  A response
        missing in the data is missing (code 0) in every replicate.  Plain numpy with a
        seeded generator: nothing is compiled and the model need not be fitted.  With
        covariates, :math:`\alpha` and :math:`\gamma` are drawn from their
        ZeroSumNormal priors and each firm's class from its own
        :math:`P(z_i = k \mid x_i)` (``pi`` is then the mean over the firms).

        Parameters
        ----------
        frame_or_items : pandas.DataFrame or EncodedItems
            Survey or item frame (encoded as in :meth:`fit`) or already encoded items;
            it fixes the firms, items, categories and the missing-response pattern.
        draws : int
            Number of prior draws (one chain).
        random_seed : int, optional
            Seed; the same seed gives the same draws.

        Returns
        -------
        xarray.DataTree
            Groups ``prior`` (``pi`` (chain, draw, latent_class), ``theta`` (chain, draw,
            latent_class, item, category)), ``prior_predictive`` (``responses`` (chain,
            draw, firm, item): category code 1..C, 0 = missing) and ``observed_data``.
        """
        if int(draws) != draws or draws < 1:
            raise ValueError(f"draws must be a positive whole number, got {draws!r}")
        encoded = (
            frame_or_items
            if isinstance(frame_or_items, EncodedItems)
            else self.encode(frame_or_items)
        )
        n_cat = len(encoded.categories)
        n_items = len(encoded.items)
        k = self.n_classes
        rng = np.random.default_rng(random_seed)
        if k == 1:
            pi = np.ones((draws, 1))
        else:
            pi = rng.dirichlet(np.full(k, self.priors["class_concentration"]), size=draws)
        mask = encoded.category_mask
        if mask.all():
            theta = rng.dirichlet(
                np.full(n_cat, self.priors["item_concentration"]), size=(draws, k, n_items)
            )
        else:  # Dirichlet over each item's own categories, as normalised gamma draws
            gamma = rng.gamma(self.priors["item_concentration"], size=(draws, k, n_items, n_cat))
            gamma = gamma * mask
            theta = gamma / gamma.sum(axis=-1, keepdims=True)
        if self.covariates:
            weights = self._prior_membership_weights(frame_or_items, rng, draws)
            pi = weights.mean(axis=1)
            responses = _replicate_by_firm(rng, weights, theta, encoded.codes != 0)
        else:
            responses = _replicate_responses(rng, pi, theta, encoded.codes != 0)
        coords = _predictive_coords(encoded, np.arange(1), np.arange(draws), k)
        prior = xr.Dataset(
            {
                "pi": ((CHAIN, DRAW, LATENT_CLASS), pi[None]),
                "theta": ((CHAIN, DRAW, LATENT_CLASS, ITEM, CATEGORY), theta[None]),
            },
            coords={d: coords[d] for d in (CHAIN, DRAW, LATENT_CLASS, ITEM, CATEGORY)},
        )
        predictive = _responses_dataset(responses[None], coords, encoded.category_labels)
        predictive.attrs["replication"] = (
            "parameters from the priors; z_rep ~ Categorical(pi) per firm, "
            "y_rep ~ Categorical(theta[z_rep, item]); missing responses kept missing"
        )
        tree = xr.DataTree.from_dict(
            {
                "prior": prior,
                "prior_predictive": predictive,
                "observed_data": _observed_dataset(encoded, coords),
            }
        )
        tree.attrs.update(
            {
                "model": "BayesianLatentClass",
                "n_classes": str(k),
                "class_concentration": f"{self.priors['class_concentration']:g}",
                "item_concentration": f"{self.priors['item_concentration']:g}",
                "random_seed": str(random_seed),
            }
        )
        return tree

    def sample_posterior_predictive(
        self, random_seed: int | None = None, n_draws: int | None = None
    ) -> xr.DataTree:
        r"""Replicate the survey from the relabelled posterior draws.

        The classic latent-class check replicates *new firms* from
        :math:`(\pi, \theta)`: per posterior draw :math:`s` and firm :math:`i`,
        :math:`z^{\mathrm{rep}}_i \sim \mathrm{Categorical}(\pi^{(s)})` and
        :math:`y^{\mathrm{rep}}_{ij} \sim \mathrm{Categorical}(\theta^{(s)}_{z^{
        \mathrm{rep}}_i j\cdot})`.  The class is drawn from the shares, *not* from the
        firm's own posterior class probabilities: re-using those would replicate each
        firm from the class its own answers chose and hide a misfit of the class
        structure (too few classes, local dependence), which is what the check is for.
        A response missing in the data is missing (code 0) in every replicate, so
        observed and replicated tables count the same cells.

        Vectorised numpy with a seeded generator; nothing is recompiled.  The result is
        also stored on :attr:`idata_` as the ``posterior_predictive`` group (replacing an
        earlier one).

        Parameters
        ----------
        random_seed : int, optional
            Seed; the same seed gives the same replicates.
        n_draws : int, optional
            Use this many draws per chain, evenly spaced (default: every draw).

        Returns
        -------
        xarray.DataTree
            Groups ``posterior_predictive`` (``responses`` (chain, draw, firm, item):
            category code 1..C, 0 = missing) and ``observed_data``.
        """
        tree = self._require_fit()
        posterior = self.posterior
        total = posterior.sizes[DRAW]
        if n_draws is not None:
            if int(n_draws) != n_draws or not 1 <= n_draws <= total:
                raise ValueError(
                    f"n_draws must be a whole number from 1 to {total} (draws per chain), "
                    f"got {n_draws!r}"
                )
            keep = np.unique(np.linspace(0, total - 1, int(n_draws)).round().astype(int))
            posterior = posterior.isel({DRAW: keep})
        pi = posterior["pi"].transpose(CHAIN, DRAW, LATENT_CLASS).to_numpy()
        theta = posterior["theta"].transpose(CHAIN, DRAW, LATENT_CLASS, ITEM, CATEGORY)
        theta = theta.to_numpy()
        n_chains, n_kept = pi.shape[:2]
        encoded = self._encoded_from_tree()
        rng = np.random.default_rng(random_seed)
        if "membership_probability" in posterior.data_vars:
            # covariates: replicate each firm from its own class weights
            weights = posterior["membership_probability"].transpose(
                CHAIN, DRAW, FIRM, LATENT_CLASS
            )
            responses = _replicate_by_firm(
                rng,
                weights.to_numpy().reshape(n_chains * n_kept, *weights.shape[2:]),
                theta.reshape(n_chains * n_kept, *theta.shape[2:]),
                encoded.codes != 0,
            )
        else:
            responses = _replicate_responses(
                rng,
                pi.reshape(n_chains * n_kept, -1),
                theta.reshape(n_chains * n_kept, *theta.shape[2:]),
                encoded.codes != 0,
            )
        responses = responses.reshape(n_chains, n_kept, *encoded.codes.shape)
        coords = _predictive_coords(
            encoded, posterior[CHAIN].to_numpy(), posterior[DRAW].to_numpy(), self.n_classes
        )
        predictive = _responses_dataset(responses, coords, encoded.category_labels)
        predictive.attrs["replication"] = (
            "new firms from the relabelled posterior: z_rep ~ Categorical(pi) per firm, "
            "y_rep ~ Categorical(theta[z_rep, item]); missing responses kept missing"
        )
        predictive.attrs["random_seed"] = str(random_seed)
        tree["posterior_predictive"] = predictive
        return xr.DataTree.from_dict(
            {
                "posterior_predictive": predictive,
                "observed_data": tree["observed_data"].to_dataset(),
            }
        )

    def _encoded_from_tree(self) -> EncodedItems:
        """Rebuild the encoded observed items from ``observed_data`` (works after load)."""
        tree = self._require_fit()
        observed = tree["observed_data"]["responses"].transpose(FIRM, ITEM)
        categories = tuple(int(c) for c in tree["posterior"][CATEGORY].to_numpy())
        codes = observed.to_numpy().astype(np.int64)
        labels = tree["posterior"][CATEGORY].attrs.get("labels")
        return EncodedItems(
            codes=codes,
            one_hot=one_hot(codes, len(categories)),
            items=tuple(str(v) for v in observed[ITEM].to_numpy()),
            firms=tuple(str(v) for v in observed[FIRM].to_numpy()),
            categories=categories,
            category_labels=tuple(labels.split(","))
            if labels
            else tuple(str(c) for c in categories),
            collapse=self.collapse,
            item_categories=tuple(self._item_categories().values()),
        )

    def posterior_predictive_check(
        self, *, random_seed: int | None = None, interval_prob: float = 0.94
    ) -> dict[str, pd.DataFrame]:
        r"""Posterior predictive checks of the item margins and of the pairwise associations.

        Uses the ``posterior_predictive`` group of :attr:`idata_`, drawn with
        :meth:`sample_posterior_predictive` (``random_seed``) if it is absent.

        ``item_shares``: per item and category, the observed share of the firms answering
        the item that chose the category against its replicated distribution.  A latent
        class model reproduces the margins almost by construction, so extreme p-values
        here point to a sampling or coding problem rather than to the wrong number of
        classes.

        ``pairs``: per item pair, the association the classes must explain (local
        independence given the class).  Two statistics, both on the firms answering both
        items:

        * Cramér's V of the pair's :math:`C_j \times C_l` table,
          :math:`V = \sqrt{X^2 / (n (\min(C_j, C_l) - 1))}` with :math:`X^2` Pearson's statistic
          against the table's own margins (a category nobody chose adds nothing), observed
          against replicated;
        * the bivariate residual (BVR; Vermunt & Magidson 2005, *Latent GOLD 4.0 User's
          Guide*): Pearson's :math:`X^2` of the pair's table against the table the model
          expects, :math:`E_{ab} = n \sum_k \pi_k \theta_{kja} \theta_{klb}`, divided by
          :math:`(C_j - 1)(C_l - 1)`.  It depends on the parameters, so its p-value is the realised
          discrepancy check of Gelman, Meng & Stern (1996, *Statistica Sinica* 6):
          :math:`P(\mathrm{BVR}(y^{\mathrm{rep}}, \pi, \theta) \ge
          \mathrm{BVR}(y, \pi, \theta))` over draws.

        Every p-value :math:`p` is the mid-p :math:`P(T^{\mathrm{rep}} > T) + \tfrac12
        P(T^{\mathrm{rep}} = T)` (shares are discrete); ``p_two_sided`` is
        :math:`2 \min(p, 1 - p)`.  Values near 0 mean the data show more than the model
        replicates (for the pairs: association the classes do not explain, e.g. too few
        classes); near 1 (one-sided), less.

        Parameters
        ----------
        random_seed : int, optional
            Seed of the replicates if they must be drawn.
        interval_prob : float
            Mass of the equal-tailed intervals of the replicated statistics.

        Returns
        -------
        dict of str to pandas.DataFrame
            ``item_shares``: indexed by (item, category), columns ``label``,
            ``n_observed``, ``observed_share``, ``replicated_mean``, ``replicated_lower``,
            ``replicated_upper``, ``p_value``, ``p_two_sided``.
            ``pairs``: indexed by (item_1, item_2), columns ``n_pair``,
            ``cramers_v_observed``, ``cramers_v_replicated``, ``cramers_v_lower``,
            ``cramers_v_upper``, ``p_cramers_v``, ``bvr_observed``, ``bvr_replicated``,
            ``p_bvr``.
        """
        if not 0 < interval_prob < 1:
            raise ValueError(f"interval_prob must be in (0, 1), got {interval_prob}")
        tree = self._require_fit()
        if "posterior_predictive" not in tree.children:
            self.sample_posterior_predictive(random_seed=random_seed)
        replicated = tree["posterior_predictive"]["responses"]
        posterior = self.posterior.sel(
            {CHAIN: replicated[CHAIN].to_numpy(), DRAW: replicated[DRAW].to_numpy()}
        )
        replicated = replicated.transpose(CHAIN, DRAW, FIRM, ITEM).to_numpy()
        encoded = self._encoded_from_tree()
        n_cat = len(encoded.categories)
        n_items = len(encoded.items)
        rep = replicated.reshape(-1, *replicated.shape[2:])  # (draw, firm, item)
        n_sims = len(rep)
        pi = posterior["pi"].transpose(CHAIN, DRAW, LATENT_CLASS).to_numpy().reshape(n_sims, -1)
        theta = posterior["theta"].transpose(CHAIN, DRAW, LATENT_CLASS, ITEM, CATEGORY)
        theta = theta.to_numpy().reshape(n_sims, *theta.shape[2:])
        tail = (1 - interval_prob) / 2

        # item margins
        observed_one_hot = encoded.one_hot  # (firm, item, category)
        n_answering = observed_one_hot.sum(axis=(0, 2))  # (item,)
        observed_share = observed_one_hot.sum(axis=0) / n_answering[:, None]
        categories = np.arange(1, n_cat + 1)
        rep_counts = (rep[..., None] == categories).sum(axis=1)  # (draw, item, category)
        rep_share = rep_counts / n_answering[None, :, None]
        p_value = _mid_p(rep_share, observed_share[None])
        index = pd.MultiIndex.from_product(
            [list(encoded.items), list(encoded.categories)], names=[ITEM, CATEGORY]
        )
        item_shares = pd.DataFrame(
            {
                "label": np.tile(np.asarray(encoded.category_labels, dtype=object), n_items),
                "n_observed": np.repeat(n_answering.astype(int), n_cat),
                "observed_share": observed_share.reshape(-1),
                "replicated_mean": rep_share.mean(axis=0).reshape(-1),
                "replicated_lower": np.quantile(rep_share, tail, axis=0).reshape(-1),
                "replicated_upper": np.quantile(rep_share, 1 - tail, axis=0).reshape(-1),
                "p_value": p_value.reshape(-1),
                "p_two_sided": (2 * np.minimum(p_value, 1 - p_value)).reshape(-1),
            },
            index=index,
        )
        # only the categories each item has (collapse="none" may give items fewer)
        mask = encoded.category_mask
        item_shares = item_shares[mask.reshape(-1)]
        own_count = mask.sum(axis=1)  # C_j

        # pairwise tables: (..., item, item, category, category)
        first, second = np.triu_indices(n_items, k=1)
        # Cramér's V divides by min(C_j, C_l) - 1, the BVR by the table's df
        pair_categories = np.minimum(own_count[first], own_count[second])
        pair_df = (own_count[first] - 1) * (own_count[second] - 1)
        observed_tables = np.einsum("nja,nlb->jlab", observed_one_hot, observed_one_hot)[
            first, second
        ]  # (pair, a, b)
        n_pair = observed_tables.sum(axis=(-2, -1))
        # sum_k pi_k theta_kja theta_klb as one batched product over (item, category) cells
        n_draws, n_k = pi.shape
        weighted = (pi[:, :, None, None] * theta).reshape(n_draws, n_k, n_items * n_cat)
        cells = np.matmul(weighted.transpose(0, 2, 1), theta.reshape(n_draws, n_k, -1))
        expected = cells.reshape(n_draws, n_items, n_cat, n_items, n_cat).transpose(0, 1, 3, 2, 4)
        expected = expected[:, first, second]
        expected = expected * n_pair[None, :, None, None]
        cramers_observed = _cramers_v(observed_tables, pair_categories)
        bvr_observed = _pearson(observed_tables[None], expected) / pair_df
        cramers_rep = np.empty((n_sims, len(first)))
        bvr_rep = np.empty((n_sims, len(first)))
        for start in range(0, n_sims, 256):
            block = slice(start, start + 256)
            indicator = (rep[block][..., None] == categories).astype(float)  # (s, n, j, c)
            flat = indicator.reshape(*indicator.shape[:2], n_items * n_cat)
            tables = np.matmul(flat.transpose(0, 2, 1), flat).reshape(
                -1, n_items, n_cat, n_items, n_cat
            )
            tables = tables.transpose(0, 1, 3, 2, 4)[:, first, second]
            cramers_rep[block] = _cramers_v(tables, pair_categories)
            bvr_rep[block] = _pearson(tables, expected[block]) / pair_df
        p_cramers = _mid_p(cramers_rep, cramers_observed[None])
        p_bvr = _mid_p(bvr_rep, bvr_observed)
        pairs = pd.DataFrame(
            {
                "n_pair": n_pair.astype(int),
                "cramers_v_observed": cramers_observed,
                "cramers_v_replicated": cramers_rep.mean(axis=0),
                "cramers_v_lower": np.quantile(cramers_rep, tail, axis=0),
                "cramers_v_upper": np.quantile(cramers_rep, 1 - tail, axis=0),
                "p_cramers_v": p_cramers,
                "bvr_observed": bvr_observed.mean(axis=0),
                "bvr_replicated": bvr_rep.mean(axis=0),
                "p_bvr": p_bvr,
            },
            index=pd.MultiIndex.from_arrays(
                [
                    [encoded.items[j] for j in first],
                    [encoded.items[j] for j in second],
                ],
                names=["item_1", "item_2"],
            ),
        )
        return {"item_shares": item_shares, "pairs": pairs}

"""Markusen's (1996) industrial-district typology, as data.

Source: Markusen, A. (1996). "Sticky places in slippery space: a typology of
industrial districts". *Economic Geography* 72(3), 293-313, Table 1 and the
descriptions of each district type on pp. 296-306.

The signature table below is the *only* place in the package where the expected
response of each Markusen item under each district type is written down.
``H`` = high agreement expected, ``L`` = low agreement, ``M`` = mixed / middle.
Markusen lists each type's features in words (business structure, intra-district trade,
contracts, cooperation, labour market, cultural identity, finance, trade associations,
government role); the levels are our operationalisation of those features as survey
statements, one level per feature: a feature she names as present is ``H``, one she
names as absent or weak is ``L``, and ``M`` marks a feature she qualifies ("moderate",
"less flexible") or that holds only for a variant (e.g. the strong local government of
the Italianate variant of the Marshallian district).

The module also holds the two ways of reading the typology off a survey:
:func:`descriptive_scoring` (the thesis's item-by-item shares) and
:func:`match_markusen_types` (scores a latent class's response profile against each
type; vectorised over posterior draws).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np
import pandas as pd
import xarray as xr

from bayes_cluster.common.latent_class_math import collapse_likert

MARKUSEN_TYPES: tuple[str, ...] = (
    "Marshallian",
    "Hub-and-Spoke",
    "Satellite",
    "State-anchored",
)
"""The four district types, in the order used for every ``markusen_type`` axis."""

#: item -> (statement, {type: "H" | "M" | "L"})
SIGNATURES = MappingProxyType(
    {
        "mk_small_local_firms": (
            "the cluster is made of small, locally owned firms",
            {"Marshallian": "H", "Hub-and-Spoke": "L", "Satellite": "L", "State-anchored": "L"},
        ),
        "mk_hub_dependence": (
            "my firm depends on one or a few large firms/agents for orders",
            {"Marshallian": "L", "Hub-and-Spoke": "H", "Satellite": "M", "State-anchored": "H"},
        ),
        "mk_local_trade": (
            "I buy from and sell to other firms in the cluster",
            {"Marshallian": "H", "Hub-and-Spoke": "H", "Satellite": "L", "State-anchored": "M"},
        ),
        "mk_long_term_ties": (
            "my ties with local buyers/suppliers are long-term",
            {"Marshallian": "H", "Hub-and-Spoke": "H", "Satellite": "L", "State-anchored": "L"},
        ),
        "mk_cooperation": (
            "firms here cooperate (share orders, tools, know-how)",
            {"Marshallian": "H", "Hub-and-Spoke": "M", "Satellite": "L", "State-anchored": "L"},
        ),
        "mk_external_links": (
            "my firm has strong links with firms outside the cluster",
            {"Marshallian": "L", "Hub-and-Spoke": "H", "Satellite": "H", "State-anchored": "M"},
        ),
        "mk_local_labour": (
            "workers come from and stay in the area",
            {"Marshallian": "H", "Hub-and-Spoke": "M", "Satellite": "L", "State-anchored": "M"},
        ),
        "mk_cultural_identity": (
            "the craft is part of a shared local identity",
            {"Marshallian": "H", "Hub-and-Spoke": "M", "Satellite": "L", "State-anchored": "L"},
        ),
        "mk_local_finance": (
            "finance and business services are available locally",
            {"Marshallian": "H", "Hub-and-Spoke": "L", "Satellite": "L", "State-anchored": "L"},
        ),
        "mk_government_role": (
            "local government actively supports the industry",
            {"Marshallian": "M", "Hub-and-Spoke": "H", "Satellite": "H", "State-anchored": "H"},
        ),
        "mk_external_ownership": (
            "key firms are owned/headquartered outside the region",
            {"Marshallian": "L", "Hub-and-Spoke": "L", "Satellite": "H", "State-anchored": "L"},
        ),
        "mk_trade_association": (
            "a trade association serves the firms here",
            {"Marshallian": "H", "Hub-and-Spoke": "L", "Satellite": "L", "State-anchored": "L"},
        ),
    }
)

MARKUSEN_ITEMS: tuple[str, ...] = tuple(SIGNATURES)
"""The Markusen item columns, in codebook order."""


def signature(item: str, district_type: str) -> str:
    """Return the expected agreement level (``"H"``, ``"M"`` or ``"L"``).

    Parameters
    ----------
    item : str
        A Markusen item column, e.g. ``"mk_cooperation"``.
    district_type : str
        One of :data:`MARKUSEN_TYPES`.

    Returns
    -------
    str
        ``"H"`` (high agreement expected), ``"M"`` (mixed) or ``"L"`` (low).

    Examples
    --------
    >>> signature("mk_cooperation", "Marshallian")
    'H'
    """
    if item not in SIGNATURES:
        raise KeyError(f"unknown Markusen item {item!r}; known: {', '.join(MARKUSEN_ITEMS)}")
    levels = SIGNATURES[item][1]
    if district_type not in levels:
        raise KeyError(
            f"unknown Markusen type {district_type!r}; known: {', '.join(MARKUSEN_TYPES)}"
        )
    return levels[district_type]


# --------------------------------------------------------------------------------------
# Matching latent-class response profiles to the signatures (vectorised over draws)
# --------------------------------------------------------------------------------------

LEVEL_TARGETS: dict[str, float] = {"H": 1.0, "M": 0.0, "L": -1.0}
"""Ideal agreement balance ``P(agree) - P(disagree)`` of each signature level."""


def signature_matrix(items: Sequence[str]) -> np.ndarray:
    """Return the ideal agreement balance of each type on each item.

    Parameters
    ----------
    items : sequence of str
        Markusen items (a subset of :data:`MARKUSEN_ITEMS`, any order).

    Returns
    -------
    numpy.ndarray
        Shape (item, markusen_type): +1 for ``H``, 0 for ``M``, -1 for ``L``.

    Raises
    ------
    ValueError
        If an item is not in the signature table (e.g. the items of another survey).
    """
    items = [str(item) for item in items]
    if not items:
        raise ValueError("no items given: Markusen matching needs at least one Markusen item")
    unknown = [item for item in items if item not in SIGNATURES]
    if unknown:
        raise ValueError(
            f"items {unknown} are not Markusen items: the signature table "
            f"(bayes_cluster.surveys.markusen.SIGNATURES) only knows {', '.join(MARKUSEN_ITEMS)}; "
            "pass only those columns to match against Markusen's types"
        )
    return np.array(
        [[LEVEL_TARGETS[SIGNATURES[item][1][t]] for t in MARKUSEN_TYPES] for item in items]
    )


def agreement_balance(
    item_probabilities: np.ndarray, categories: Sequence[float] | None = None
) -> np.ndarray:
    """``P(agree) - P(disagree)`` per (class, item), over the last (category) axis.

    Categories above the scale midpoint agree, those below disagree, the midpoint is
    neutral: on 1..5 that is ``P(4, 5) - P(1, 2)``; on a collapsed 1..3 scale
    ``P(3) - P(1)``.

    Parameters
    ----------
    item_probabilities : array_like
        Shape (..., category).
    categories : sequence of float, optional
        Code of each category along the last axis; default ``1..C``.

    Returns
    -------
    numpy.ndarray
        Shape (...), in [-1, 1].
    """
    theta = np.asarray(item_probabilities, dtype=float)
    codes = (
        np.arange(1, theta.shape[-1] + 1)
        if categories is None
        else np.asarray(categories, dtype=float)
    )
    if codes.shape != (theta.shape[-1],):
        raise ValueError(
            f"categories has {codes.size} codes but item_probabilities has "
            f"{theta.shape[-1]} categories on its last axis"
        )
    midpoint = (codes.min() + codes.max()) / 2.0
    sign = np.sign(codes - midpoint)
    return np.nan_to_num(theta) @ sign


def match_markusen_types(
    item_probabilities: np.ndarray | xr.DataArray,
    items: Sequence[str] | None = None,
    *,
    categories: Sequence[float] | None = None,
) -> np.ndarray | xr.DataArray:
    r"""Score each latent class's response profile against each Markusen type.

    The rule: for class :math:`k` and item :math:`j` the *agreement balance* is
    :math:`a_{kj} = P(\text{agree}) - P(\text{disagree}) \in [-1, 1]` (on 1..5,
    :math:`P(4,5) - P(1,2)`; see :func:`agreement_balance`).  Each signature level has an
    ideal balance :math:`s_{tj}`: ``H`` = +1, ``M`` = 0, ``L`` = -1.  The match score of
    class :math:`k` with type :math:`t` is one minus the mean absolute distance,

    .. math::

        S_{kt} = 1 - \frac{1}{J} \sum_{j=1}^{J} \lvert a_{kj} - s_{tj} \rvert
        \in [-1, 1],

    i.e. :math:`+a` for an ``H`` item, :math:`-a` for an ``L`` item and
    :math:`1 - |a|` for an ``M`` item, averaged over items.  1 is a perfect match; a
    class is typed by its highest score (:func:`best_markusen_type`).  The function is
    pure numpy and broadcasts over leading axes (e.g. posterior draws), so the Bayesian
    model types every draw in one call.

    Parameters
    ----------
    item_probabilities : numpy.ndarray or xarray.DataArray
        Shape (..., class, item, category); zero- or NaN-padded categories count as 0.
        A DataArray must have dims ``latent_class``, ``item``, ``category`` (any leading
        dims); its ``item`` and ``category`` coordinates are used when ``items`` /
        ``categories`` are not given.
    items : sequence of str, optional
        Names of the items along the item axis; all must be Markusen items.
    categories : sequence of float, optional
        Code of each category (default ``1..C``, or the DataArray's coordinate).

    Returns
    -------
    numpy.ndarray or xarray.DataArray
        Shape (..., class, markusen_type), types in :data:`MARKUSEN_TYPES` order; a
        DataArray (dims ``..., latent_class, markusen_type``) for DataArray input.

    Raises
    ------
    ValueError
        If an item is not a Markusen item, or the item axis does not match ``items``.

    Examples
    --------
    >>> from bayes_cluster.surveys.simulate import markusen_item_probabilities
    >>> theta = markusen_item_probabilities(("Marshallian", "Hub-and-Spoke"))
    >>> scores = match_markusen_types(theta, MARKUSEN_ITEMS)
    >>> best_markusen_type(scores, as_names=True).tolist()
    ['Marshallian', 'Hub-and-Spoke']
    """
    if isinstance(item_probabilities, xr.DataArray):
        from bayes_cluster.common.dims import CATEGORY, ITEM, LATENT_CLASS, MARKUSEN_TYPE

        missing = {LATENT_CLASS, ITEM, CATEGORY} - set(item_probabilities.dims)
        if missing:
            raise ValueError(
                f"item_probabilities lacks dims {sorted(missing)}; it needs "
                f"({LATENT_CLASS}, {ITEM}, {CATEGORY}) and any leading dims"
            )
        leading = [d for d in item_probabilities.dims if d not in (LATENT_CLASS, ITEM, CATEGORY)]
        ordered = item_probabilities.transpose(*leading, LATENT_CLASS, ITEM, CATEGORY)
        if items is None:
            items = [str(v) for v in ordered[ITEM].to_numpy()]
        if categories is None and CATEGORY in ordered.coords:
            categories = ordered[CATEGORY].to_numpy()
        scores = match_markusen_types(ordered.to_numpy(), items, categories=categories)
        coords = {d: ordered[d] for d in (*leading, LATENT_CLASS) if d in ordered.coords}
        coords[MARKUSEN_TYPE] = list(MARKUSEN_TYPES)
        return xr.DataArray(
            scores, dims=(*leading, LATENT_CLASS, MARKUSEN_TYPE), coords=coords, name="match"
        )
    theta = np.asarray(item_probabilities, dtype=float)
    if theta.ndim < 3:
        raise ValueError(
            "item_probabilities must have shape (..., class, item, category), "
            f"got shape {theta.shape}"
        )
    if items is None:
        raise ValueError("items is required for a numpy item_probabilities")
    targets = signature_matrix(items)
    if targets.shape[0] != theta.shape[-2]:
        raise ValueError(
            f"items names {targets.shape[0]} items but item_probabilities has "
            f"{theta.shape[-2]} on its item axis"
        )
    balance = agreement_balance(theta, categories)  # (..., class, item)
    distance = np.abs(balance[..., :, None] - targets)  # (..., class, item, type)
    return 1.0 - distance.mean(axis=-2)


def best_markusen_type(
    scores: np.ndarray | xr.DataArray, *, as_names: bool = False
) -> np.ndarray | xr.DataArray:
    """Best-matching Markusen type per class (argmax of :func:`match_markusen_types`).

    Parameters
    ----------
    scores : numpy.ndarray or xarray.DataArray
        Shape (..., class, markusen_type).
    as_names : bool
        Return type names instead of indices into :data:`MARKUSEN_TYPES`.

    Returns
    -------
    numpy.ndarray or xarray.DataArray
        Shape (..., class); ties go to the earlier type in :data:`MARKUSEN_TYPES`.
    """
    if isinstance(scores, xr.DataArray):
        from bayes_cluster.common.dims import MARKUSEN_TYPE

        index = scores.argmax(dim=MARKUSEN_TYPE)
        if as_names:
            return xr.apply_ufunc(lambda i: np.asarray(MARKUSEN_TYPES)[i], index)
        return index
    index = np.asarray(scores).argmax(axis=-1)
    return np.asarray(MARKUSEN_TYPES)[index] if as_names else index


# --------------------------------------------------------------------------------------
# Descriptive scoring (the thesis's method)
# --------------------------------------------------------------------------------------

LIKERT_LEVELS: tuple[int, ...] = (1, 2, 3, 4, 5)
"""Codes of the Markusen items: 1-2 disagree, 3 neutral, 4-5 agree (:func:`collapse_likert`)."""


@dataclass(frozen=True)
class DescriptiveScoring:
    """Result of :func:`descriptive_scoring`.

    Attributes
    ----------
    item_table : pandas.DataFrame
        One row per item: ``item``, ``statement``, ``n_responses``, ``share_agree``,
        ``share_neutral``, ``share_disagree``, ``observed_level`` and, per type ``T``,
        ``expected_T`` (its signature level) and ``match_T`` (bool).
    type_scores : pandas.DataFrame
        One row per type, in :data:`MARKUSEN_TYPES` order: ``type``, ``n_matched``,
        ``n_items``, ``score`` (= n_matched / n_items).
    verdict : str
        The best type, or the best types joined when tied or near-tied, e.g.
        ``"Marshallian and Hub-and-Spoke"``.
    verdict_types : tuple of str
        The types named in the verdict, best first.
    majority : float
        Share threshold of the observed-level rule.
    near_tie : int
        Items of slack within which a type joins the verdict.
    """

    item_table: pd.DataFrame
    type_scores: pd.DataFrame
    verdict: str
    verdict_types: tuple[str, ...]
    majority: float
    near_tie: int


def _join_names(names: Sequence[str]) -> str:
    names = list(names)
    if len(names) == 1:
        return names[0]
    return ", ".join(names[:-1]) + " and " + names[-1]


def descriptive_scoring(
    frame: pd.DataFrame,
    items: Sequence[str] = MARKUSEN_ITEMS,
    *,
    majority: float = 0.5,
    near_tie: int = 1,
) -> DescriptiveScoring:
    """Score the survey against Markusen's types as the thesis did.

    The rule, item by item, over the firms that answered it (missing responses are left
    out and ``n_responses`` says how many answered):

    1. shares agreeing (4-5), neutral (3) and disagreeing (1-2);
    2. observed level ``H`` when ``share_agree >= majority``, ``L`` when
       ``share_disagree >= majority``, otherwise ``M`` (no majority either way; an exact
       50/50 split is also ``M``);
    3. the item matches a type when the observed level equals the type's signature level
       in :data:`SIGNATURES`.

    A type's score is the share of items it matches.  The verdict names the best type
    and every type within ``near_tie`` matched items of it, best first, joined as
    ``"Marshallian and Hub-and-Spoke"``.

    Parameters
    ----------
    frame : pandas.DataFrame
        The survey (one row per firm), with the item columns coded 1..5.
    items : sequence of str
        Markusen items to score (default all twelve).
    majority : float
        Share that makes an item's observed level ``H`` or ``L`` (in (0, 1]).
    near_tie : int
        Types matching at least ``best - near_tie`` items join the verdict (0: exact ties
        only).

    Returns
    -------
    DescriptiveScoring
        Item table, type scores and verdict.

    Raises
    ------
    ValueError
        If an item is not a Markusen item, a column is absent, has no response, or holds a
        value outside 1..5.

    Examples
    --------
    >>> from bayes_cluster.surveys.simulate import simulate_tumang
    >>> frame, _ = simulate_tumang(n=60, seed=1)
    >>> result = descriptive_scoring(frame)
    >>> result.type_scores.columns.tolist()
    ['type', 'n_matched', 'n_items', 'score']
    """
    if not 0.0 < majority <= 1.0:
        raise ValueError(f"majority must be in (0, 1], got {majority!r}")
    if int(near_tie) != near_tie or near_tie < 0:
        raise ValueError(f"near_tie must be a whole number of items >= 0, got {near_tie!r}")
    items = [str(item) for item in items]
    signature_matrix(items)  # raises a clear error for non-Markusen items
    absent = [item for item in items if item not in frame.columns]
    if absent:
        raise ValueError(f"the survey lacks the Markusen item columns {absent}")
    rows = []
    for item in items:
        values = pd.to_numeric(frame[item], errors="coerce")
        bad = (values.isna() & frame[item].notna()) | (
            values.notna() & ~values.isin(LIKERT_LEVELS)
        )
        if bad.any():
            row = frame.index[bad.to_numpy()][0]
            raise ValueError(
                f"item {item!r}, row {row!r}: value {frame[item][row]} is not a Likert code 1..5"
            )
        answered = values.dropna()
        if answered.empty:
            raise ValueError(f"item {item!r} has no response to score")
        n = len(answered)
        # disagree (1-2), neutral (3), agree (4-5): the one Likert collapse rule
        counts = np.bincount(collapse_likert(answered.to_numpy(dtype=np.int64)), minlength=4)
        disagree, neutral, agree = (float(count) / n for count in counts[1:])
        if agree >= majority and agree > disagree:
            level = "H"
        elif disagree >= majority and disagree > agree:
            level = "L"
        else:
            level = "M"
        row = {
            "item": item,
            "statement": SIGNATURES[item][0],
            "n_responses": n,
            "share_agree": agree,
            "share_neutral": neutral,
            "share_disagree": disagree,
            "observed_level": level,
        }
        for district_type in MARKUSEN_TYPES:
            expected = SIGNATURES[item][1][district_type]
            row[f"expected_{district_type}"] = expected
            row[f"match_{district_type}"] = expected == level
        rows.append(row)
    item_table = pd.DataFrame(rows)
    n_matched = np.array([int(item_table[f"match_{t}"].sum()) for t in MARKUSEN_TYPES])
    type_scores = pd.DataFrame(
        {
            "type": list(MARKUSEN_TYPES),
            "n_matched": n_matched,
            "n_items": len(items),
            "score": n_matched / len(items),
        }
    )
    order = np.argsort(-n_matched, kind="stable")
    chosen = tuple(MARKUSEN_TYPES[i] for i in order if n_matched[i] >= n_matched.max() - near_tie)
    return DescriptiveScoring(
        item_table=item_table,
        type_scores=type_scores,
        verdict=_join_names(chosen),
        verdict_types=chosen,
        majority=float(majority),
        near_tie=int(near_tie),
    )

"""Figures of the cluster-pattern question: Markusen scoring and latent classes.

Every function returns a :class:`matplotlib.figure.Figure` and never fits a model.
Sections: descriptive scoring and EM figures first; Bayesian latent-class figures are
appended below them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import xarray as xr
from matplotlib.figure import Figure

from bayes_cluster.dims import CATEGORY, ITEM, LATENT_CLASS, MARKUSEN_TYPE
from bayes_cluster.markusen import MARKUSEN_TYPES, DescriptiveScoring, match_markusen_types

if TYPE_CHECKING:
    from bayes_cluster.latent_class_em import LatentClassEM

__all__ = [
    "RESPONSE_COLOURS",
    "plot_descriptive_scoring",
    "plot_item_profiles",
    "plot_markusen_match",
]

RESPONSE_COLOURS = {"disagree": "#c44e52", "neutral": "#bdbdbd", "agree": "#4c72b0"}
"""Colours of the collapsed Likert responses (1-2, 3, 4-5) in every figure."""

_LEVEL_WORDS = {"H": "high", "M": "mixed", "L": "low"}


# --------------------------------------------------------------------------------------
# Descriptive scoring and EM (classical baselines)
# --------------------------------------------------------------------------------------


def plot_descriptive_scoring(result: DescriptiveScoring, *, title: str | None = None) -> Figure:
    """Draw the thesis's descriptive scoring as one figure.

    Left: per item, the shares of firms disagreeing (1-2), neutral (3) and agreeing (4-5)
    as stacked bars, with the majority threshold of the level rule and the observed level.
    Middle: each type's expected level per item (``H``/``M``/``L``), filled where it matches
    the observed level.  Right: the share of items each type matches, the verdict's types
    highlighted.

    Parameters
    ----------
    result : DescriptiveScoring
        Output of :func:`bayes_cluster.markusen.descriptive_scoring`.
    title : str, optional
        Figure title (default states the verdict).

    Returns
    -------
    matplotlib.figure.Figure
    """
    table = result.item_table
    n_items = len(table)
    y = np.arange(n_items)
    figure = Figure(figsize=(14, 1.6 + 0.45 * n_items), layout="constrained")
    shares, matches, scores = figure.subplots(1, 3, gridspec_kw={"width_ratios": [3.2, 1.6, 1.6]})

    left = np.zeros(n_items)
    for column, label in (
        ("share_disagree", "disagree (1-2)"),
        ("share_neutral", "neutral (3)"),
        ("share_agree", "agree (4-5)"),
    ):
        width = table[column].to_numpy(dtype=float)
        key = label.split(" ")[0]
        shares.barh(y, width, left=left, color=RESPONSE_COLOURS[key], label=label, height=0.7)
        left += width
    for threshold in (result.majority, 1.0 - result.majority):
        shares.axvline(threshold, color="black", linewidth=0.8, linestyle=":")
    labels = [
        f"{row.statement}\n({row.item}; observed {row.observed_level})"
        for row in table.itertuples()
    ]
    shares.set_yticks(y, labels, fontsize="small")
    shares.set_ylim(n_items - 0.5, -0.5)
    shares.set_xlim(0, 1)
    shares.set_xlabel("share of firms answering")
    shares.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncols=3, frameon=False)

    for t, district_type in enumerate(MARKUSEN_TYPES):
        expected = table[f"expected_{district_type}"].to_numpy()
        matched = table[f"match_{district_type}"].to_numpy(dtype=bool)
        for i in range(n_items):
            matches.add_patch(_cell(t, i, "#55a868" if matched[i] else "white", edge="#9e9e9e"))
            matches.text(
                t,
                i,
                expected[i],
                ha="center",
                va="center",
                color="white" if matched[i] else "#616161",
                weight="bold" if matched[i] else "normal",
            )
    matches.set_xlim(-0.5, len(MARKUSEN_TYPES) - 0.5)
    matches.set_ylim(n_items - 0.5, -0.5)
    matches.set_xticks(range(len(MARKUSEN_TYPES)), MARKUSEN_TYPES, rotation=30, ha="right")
    matches.set_yticks([])
    matches.set_title("expected level (green = matches)", fontsize="medium")

    type_scores = result.type_scores
    colours = [
        "#55a868" if name in result.verdict_types else "#9e9e9e" for name in type_scores["type"]
    ]
    positions = np.arange(len(type_scores))
    scores.bar(positions, type_scores["score"], color=colours)
    for position, row in zip(positions, type_scores.itertuples(), strict=True):
        scores.text(
            position, row.score + 0.02, f"{row.n_matched}/{row.n_items}", ha="center", va="bottom"
        )
    scores.set_xticks(positions, type_scores["type"], rotation=30, ha="right")
    scores.set_ylim(0, 1.1)
    scores.set_ylabel("share of items matched")
    scores.set_title(f"verdict: {result.verdict}", fontsize="medium")
    figure.suptitle(title or "Descriptive Markusen scoring")
    return figure


def _cell(x: float, y: float, colour: str, edge: str = "white"):
    from matplotlib.patches import Rectangle

    return Rectangle((x - 0.5, y - 0.5), 1.0, 1.0, facecolor=colour, edgecolor=edge)


def plot_markusen_match(
    source: LatentClassEM | np.ndarray | xr.DataArray,
    *,
    class_labels: Sequence[str] | None = None,
    class_shares: Sequence[float] | None = None,
    items: Sequence[str] | None = None,
    title: str | None = None,
) -> Figure:
    """Heat map of each latent class's match score with each Markusen type.

    The score is :func:`bayes_cluster.markusen.match_markusen_types` (1 = the class's
    agreement balance equals the type's signature on every item, -1 = the opposite);
    each class's best type is outlined.

    Parameters
    ----------
    source : LatentClassEM or array_like or xarray.DataArray
        A fitted :class:`~bayes_cluster.latent_class_em.LatentClassEM` (its item
        probabilities are scored), or scores of shape (class, markusen_type).  A DataArray
        of scores with further dims (e.g. posterior draws) is averaged over them.
    class_labels : sequence of str, optional
        Row labels (default ``class 1`` ...).
    class_shares : sequence of float, optional
        Shown beside the labels (taken from a fitted model by default).
    items : sequence of str, optional
        Item names when ``source`` is an item-probability array rather than scores.
    title : str, optional
        Figure title.

    Returns
    -------
    matplotlib.figure.Figure
    """
    if hasattr(source, "item_probabilities_"):
        scores = match_markusen_types(source.item_probabilities_).to_numpy()
        if class_shares is None:
            class_shares = source.class_shares_
    elif isinstance(source, xr.DataArray):
        if MARKUSEN_TYPE not in source.dims:
            scores_da = match_markusen_types(source, items)
        else:
            scores_da = source
        others = [d for d in scores_da.dims if d not in (LATENT_CLASS, MARKUSEN_TYPE)]
        scores = scores_da.mean(others).transpose(LATENT_CLASS, MARKUSEN_TYPE).to_numpy()
    else:
        scores = np.asarray(source, dtype=float)
        if scores.ndim == 3:
            scores = match_markusen_types(scores, items)
    if scores.ndim != 2 or scores.shape[1] != len(MARKUSEN_TYPES):
        raise ValueError(
            f"scores must have shape (class, {len(MARKUSEN_TYPES)}), got {scores.shape}"
        )
    n_classes = scores.shape[0]
    labels = list(class_labels or [f"class {r + 1}" for r in range(n_classes)])
    if class_shares is not None:
        labels = [
            f"{label}\n(share {share:.2f})"
            for label, share in zip(labels, class_shares, strict=True)
        ]
    figure = Figure(figsize=(2.2 + 1.6 * len(MARKUSEN_TYPES), 1.4 + 0.8 * n_classes))
    figure.set_layout_engine("constrained")
    axis = figure.subplots()
    image = axis.imshow(scores, cmap="RdBu", vmin=-1, vmax=1, aspect="auto")
    best = scores.argmax(axis=1)
    for r in range(n_classes):
        for t in range(len(MARKUSEN_TYPES)):
            axis.text(
                t,
                r,
                f"{scores[r, t]:.2f}",
                ha="center",
                va="center",
                color="white" if abs(scores[r, t]) > 0.55 else "black",
                weight="bold" if t == best[r] else "normal",
            )
        axis.add_patch(_outline(best[r], r))
    axis.set_xticks(range(len(MARKUSEN_TYPES)), MARKUSEN_TYPES)
    axis.set_yticks(range(n_classes), labels)
    figure.colorbar(image, ax=axis, label="match score (1 = signature matched)")
    axis.set_title(title or "Latent classes matched to Markusen's types")
    return figure


def _outline(x: float, y: float):
    from matplotlib.patches import Rectangle

    return Rectangle((x - 0.5, y - 0.5), 1.0, 1.0, fill=False, edgecolor="black", linewidth=2.0)


def plot_item_profiles(
    source: LatentClassEM | xr.DataArray,
    *,
    class_shares: Sequence[float] | None = None,
    title: str | None = None,
) -> Figure:
    """Item-response profile of each latent class: stacked category probabilities.

    One panel per class; each item is a horizontal bar split into its categories
    (1 = strongly disagree, red ... K = strongly agree, blue), as poLCA's profile plot
    but readable for Likert items.

    Parameters
    ----------
    source : LatentClassEM or xarray.DataArray
        A fitted EM model, or item probabilities with dims (latent_class, item, category);
        further dims (e.g. posterior draws) are averaged over.
    class_shares : sequence of float, optional
        Shown in each panel title (taken from a fitted model by default).
    title : str, optional
        Figure title.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib as mpl

    if hasattr(source, "item_probabilities_"):
        theta = source.item_probabilities_
        if class_shares is None:
            class_shares = source.class_shares_
    else:
        theta = source
    if not isinstance(theta, xr.DataArray):
        raise TypeError("source must be a fitted LatentClassEM or an xarray.DataArray")
    others = [d for d in theta.dims if d not in (LATENT_CLASS, ITEM, CATEGORY)]
    theta = theta.mean(others).transpose(LATENT_CLASS, ITEM, CATEGORY)
    values = np.nan_to_num(theta.to_numpy())
    n_classes, n_items, n_categories = values.shape
    categories = (
        theta[CATEGORY].to_numpy() if CATEGORY in theta.coords else np.arange(1, n_categories + 1)
    )
    colours = mpl.colormaps["RdBu"](np.linspace(0.1, 0.9, n_categories))
    figure = Figure(figsize=(3.2 + 3.0 * n_classes, 1.4 + 0.38 * n_items), layout="constrained")
    axes = np.atleast_1d(figure.subplots(1, n_classes, sharey=True, squeeze=False)[0])
    y = np.arange(n_items)
    for r, axis in enumerate(axes):
        left = np.zeros(n_items)
        for c in range(n_categories):
            axis.barh(
                y,
                values[r, :, c],
                left=left,
                color=colours[c],
                height=0.75,
                label=str(categories[c]) if r == 0 else None,
            )
            left += values[r, :, c]
        label = str(theta[LATENT_CLASS].to_numpy()[r]) if LATENT_CLASS in theta.coords else r + 1
        heading = f"class {label}"
        if class_shares is not None:
            heading += f" (share {class_shares[r]:.2f})"
        axis.set_title(heading, fontsize="medium")
        axis.set_xlim(0, 1)
        axis.set_xlabel("response probability")
    axes[0].set_yticks(y, [str(v) for v in theta[ITEM].to_numpy()], fontsize="small")
    axes[0].set_ylim(n_items - 0.5, -0.5)
    figure.legend(
        loc="outside lower center", ncols=n_categories, title="response category", frameon=False
    )
    figure.suptitle(title or "Item-response profiles of the latent classes")
    return figure

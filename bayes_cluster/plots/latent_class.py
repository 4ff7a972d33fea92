"""Figures of the cluster-pattern question: Markusen scoring and latent classes.

Every function returns a :class:`matplotlib.figure.Figure` and never fits a model.
Sections: descriptive scoring and EM figures first; Bayesian latent-class figures are
appended below them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import xarray as xr
from matplotlib.figure import Figure

from bayes_cluster.common.dims import CATEGORY, ITEM, LATENT_CLASS, MARKUSEN_TYPE
from bayes_cluster.common.latent_class_math import LIKERT_THREE_LEVELS, THREE_LEVEL_LABELS
from bayes_cluster.estimators.latent_class import BayesianLatentClass
from bayes_cluster.estimators.latent_class_em import LatentClassEM
from bayes_cluster.plots.style import NEUTRAL, OKABE_ITO, palette, styled
from bayes_cluster.surveys.markusen import MARKUSEN_TYPES, DescriptiveScoring, match_markusen_types

__all__ = [
    "RESPONSE_COLOURS",
    "plot_bivariate_residuals",
    "plot_class_profiles",
    "plot_class_shares",
    "plot_descriptive_scoring",
    "plot_item_ppc",
    "plot_item_profiles",
    "plot_markusen_match",
    "plot_markusen_typing",
    "plot_membership",
]

RESPONSE_COLOURS = dict(
    zip(THREE_LEVEL_LABELS, (OKABE_ITO["vermillion"], NEUTRAL, OKABE_ITO["blue"]), strict=True)
)
"""Colours of the collapsed Likert responses (1-2, 3, 4-5) in every figure."""

_LEVEL_WORDS = {"H": "high", "M": "mixed", "L": "low"}


# --------------------------------------------------------------------------------------
# Descriptive scoring and EM (classical baselines)
# --------------------------------------------------------------------------------------


@styled
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
        Output of :func:`bayes_cluster.surveys.markusen.descriptive_scoring`.
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
    for key, codes in zip(THREE_LEVEL_LABELS, LIKERT_THREE_LEVELS, strict=True):
        width = table[f"share_{key}"].to_numpy(dtype=float)
        span = f"{codes[0]}-{codes[-1]}" if len(codes) > 1 else f"{codes[0]}"
        label = f"{key} ({span})"  # disagree (1-2), neutral (3), agree (4-5)
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
            matches.add_patch(
                _cell(t, i, OKABE_ITO["bluish_green"] if matched[i] else "white", edge="#9e9e9e")
            )
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
        OKABE_ITO["bluish_green"] if name in result.verdict_types else NEUTRAL
        for name in type_scores["type"]
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


@styled
def plot_markusen_match(
    source: LatentClassEM | np.ndarray | xr.DataArray,
    *,
    class_labels: Sequence[str] | None = None,
    class_shares: Sequence[float] | None = None,
    items: Sequence[str] | None = None,
    title: str | None = None,
) -> Figure:
    """Heat map of each latent class's match score with each Markusen type.

    The score is :func:`bayes_cluster.surveys.markusen.match_markusen_types` (1 = the class's
    agreement balance equals the type's signature on every item, -1 = the opposite);
    each class's best type is outlined.

    Parameters
    ----------
    source : LatentClassEM or array_like or xarray.DataArray
        A fitted :class:`~bayes_cluster.estimators.latent_class_em.LatentClassEM` (its item
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
    if isinstance(source, LatentClassEM):
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
    # interpolation "none": the vector files carry the cells themselves (pixel-exact, and
    # no 300-dpi resample to embed); the PNG is the same pixels as "nearest"
    image = axis.imshow(scores, cmap="RdBu", vmin=-1, vmax=1, aspect="auto", interpolation="none")
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


@styled
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

    if isinstance(source, LatentClassEM):
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


# --------------------------------------------------------------------------------------
# Bayesian latent classes (bayes_cluster.estimators.latent_class.BayesianLatentClass)
# --------------------------------------------------------------------------------------


def _bayes_posterior(model) -> xr.Dataset:
    """Return the relabelled posterior of a fitted BayesianLatentClass (or its DataTree)."""
    tree = model.idata_ if isinstance(model, BayesianLatentClass) else model
    if not isinstance(tree, xr.DataTree) or "posterior" not in tree.children:
        raise TypeError(
            "expected a fitted BayesianLatentClass (or its DataTree with a 'posterior' group)"
        )
    return tree["posterior"].to_dataset()


def _flat_draws(variable: xr.DataArray) -> np.ndarray:
    """Stack (chain, draw) into the first axis."""
    others = [d for d in variable.dims if d not in ("chain", "draw")]
    values = variable.transpose("chain", "draw", *others).to_numpy()
    return values.reshape(-1, *values.shape[2:])


def _hdi(draws: np.ndarray, prob: float) -> np.ndarray:
    """HDI over the first axis; returns shape (..., 2)."""
    from arviz_stats.base import array_stats

    return np.asarray(array_stats.hdi(np.moveaxis(draws, 0, -1), prob))


@styled
def plot_class_profiles(model, *, hdi_prob: float = 0.94, title: str | None = None) -> Figure:
    """Item-response profile of each Bayesian latent class, with posterior intervals.

    One panel per class; for each item a point (posterior mean) and a line (HDI) per
    response category, categories side by side (disagree red, neutral grey, agree blue
    for collapsed Likert items).

    Parameters
    ----------
    model : BayesianLatentClass or xarray.DataTree
        A fitted model (its relabelled posterior is used).
    hdi_prob : float
        Mass of the highest-density intervals.
    title : str, optional
        Figure title.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib as mpl

    posterior = _bayes_posterior(model)
    theta = posterior["theta"].transpose("chain", "draw", LATENT_CLASS, ITEM, CATEGORY)
    draws = _flat_draws(theta)  # (sample, class, item, category)
    mean = draws.mean(axis=0)
    interval = _hdi(draws, hdi_prob)  # (class, item, category, 2)
    pi_mean = _flat_draws(posterior["pi"]).mean(axis=0)
    n_classes, n_items, n_categories = mean.shape
    labels_attr = posterior[CATEGORY].attrs.get("labels", "")
    labels = labels_attr.split(",") if labels_attr else []
    if len(labels) != n_categories:
        labels = [str(c) for c in posterior[CATEGORY].to_numpy()]
    if labels == list(RESPONSE_COLOURS):
        colours = [RESPONSE_COLOURS[label] for label in labels]
    else:
        colours = list(mpl.colormaps["RdBu"](np.linspace(0.1, 0.9, n_categories)))
    figure = Figure(figsize=(3.2 + 3.0 * n_classes, 1.4 + 0.42 * n_items), layout="constrained")
    axes = np.atleast_1d(figure.subplots(1, n_classes, sharey=True, squeeze=False)[0])
    y = np.arange(n_items)
    offsets = np.linspace(-0.25, 0.25, n_categories) if n_categories > 1 else np.zeros(1)
    for k, axis in enumerate(axes):
        for c in range(n_categories):
            axis.hlines(
                y + offsets[c],
                interval[k, :, c, 0],
                interval[k, :, c, 1],
                color=colours[c],
                linewidth=2,
            )
            axis.plot(
                mean[k, :, c],
                y + offsets[c],
                "o",
                color=colours[c],
                markersize=4,
                label=labels[c] if k == 0 else None,
            )
        class_label = posterior[LATENT_CLASS].to_numpy()[k]
        axis.set_title(f"class {class_label} (share {pi_mean[k]:.2f})", fontsize="medium")
        axis.set_xlim(0, 1)
        axis.set_xlabel("response probability")
        axis.grid(axis="x", alpha=0.3)
    axes[0].set_yticks(y, [str(v) for v in posterior[ITEM].to_numpy()], fontsize="small")
    axes[0].set_ylim(n_items - 0.5, -0.5)
    figure.legend(
        loc="outside lower center",
        ncols=n_categories,
        title=f"response (posterior mean and {hdi_prob:.0%} HDI)",
        frameon=False,
    )
    figure.suptitle(title or "Item-response profiles of the Bayesian latent classes")
    return figure


@styled
def plot_class_shares(model, *, hdi_prob: float = 0.94, title: str | None = None) -> Figure:
    """Posterior distribution of each latent class's share (histogram with HDI).

    Parameters
    ----------
    model : BayesianLatentClass or xarray.DataTree
        A fitted model.
    hdi_prob : float
        Mass of the highest-density interval drawn under each histogram.
    title : str, optional
        Figure title.

    Returns
    -------
    matplotlib.figure.Figure
    """
    posterior = _bayes_posterior(model)
    draws = _flat_draws(posterior["pi"].transpose("chain", "draw", LATENT_CLASS))
    n_classes = draws.shape[1]
    interval = _hdi(draws, hdi_prob)  # (class, 2)
    colours = palette(n_classes)
    figure = Figure(figsize=(6.4, 3.6), layout="constrained")
    axis = figure.subplots()
    bins = np.linspace(0, 1, 61)
    for k in range(n_classes):
        label = posterior[LATENT_CLASS].to_numpy()[k]
        axis.hist(
            draws[:, k],
            bins=bins,
            density=True,
            alpha=0.55,
            color=colours[k],
            label=f"class {label}: mean {draws[:, k].mean():.2f}, "
            f"{hdi_prob:.0%} HDI {interval[k, 0]:.2f}-{interval[k, 1]:.2f}",
        )
        axis.hlines(-0.15 - 0.25 * k, *interval[k], color=colours[k], linewidth=3)
    axis.set_xlim(0, 1)
    axis.set_xlabel("class share (pi)")
    axis.set_ylabel("posterior density")
    axis.legend(frameon=False, fontsize="small")
    axis.set_title(title or "Posterior of the latent class shares")
    return figure


@styled
def plot_membership(
    model, *, sort: bool = True, max_firms: int | None = None, title: str | None = None
) -> Figure:
    """Each firm's posterior class membership probabilities (stacked bars).

    Parameters
    ----------
    model : BayesianLatentClass or xarray.DataTree
        A fitted model.
    sort : bool
        Order firms by their most probable class, then by its probability, so that
        firms with uncertain membership stand out.
    max_firms : int, optional
        Show at most this many firms (the first after sorting).
    title : str, optional
        Figure title.

    Returns
    -------
    matplotlib.figure.Figure
    """
    posterior = _bayes_posterior(model)
    probability = (
        posterior["class_probability"].mean(("chain", "draw")).transpose("firm", LATENT_CLASS)
    )
    values = probability.to_numpy()
    firms = [str(f) for f in probability["firm"].to_numpy()]
    n_firms, n_classes = values.shape
    order = np.arange(n_firms)
    if sort:
        modal = values.argmax(axis=1)
        order = np.lexsort((-values.max(axis=1), modal))
    if max_firms is not None:
        order = order[:max_firms]
    values = values[order]
    colours = palette(n_classes)
    figure = Figure(figsize=(max(6.0, 0.14 * len(order) + 2.0), 3.6), layout="constrained")
    axis = figure.subplots()
    x = np.arange(len(order))
    bottom = np.zeros(len(order))
    for k in range(n_classes):
        label = posterior[LATENT_CLASS].to_numpy()[k]
        axis.bar(
            x, values[:, k], bottom=bottom, width=0.9, color=colours[k], label=f"class {label}"
        )
        bottom += values[:, k]
    axis.set_xticks(x, [firms[i] for i in order], rotation=90, fontsize="x-small")
    axis.set_xlim(-0.6, len(order) - 0.4)
    axis.set_ylim(0, 1)
    axis.set_ylabel("P(class | responses)")
    figure.legend(loc="outside right upper", frameon=False)
    axis.set_title(title or "Posterior class membership of each firm")
    return figure


@styled
def plot_markusen_typing(model, *, title: str | None = None) -> Figure:
    """Posterior Markusen typing: P(type) of each class and the posterior of type shares.

    Left: for each latent class, the posterior probability that its profile best matches
    each Markusen type.  Right: posterior density of the share of firms in classes of
    each type (the cluster-level verdict).

    Parameters
    ----------
    model : BayesianLatentClass
        A fitted model on Markusen items.
    title : str, optional
        Figure title.

    Returns
    -------
    matplotlib.figure.Figure
    """
    typing = model.markusen_typing()
    shares = model.type_share_draws()
    colours = palette(len(MARKUSEN_TYPES))
    figure = Figure(figsize=(11.0, 3.8), layout="constrained")
    left, right = figure.subplots(1, 2, width_ratios=[1, 1.3])
    probabilities = typing[list(MARKUSEN_TYPES)].to_numpy()
    y = np.arange(len(typing))
    start = np.zeros(len(typing))
    for t, name in enumerate(MARKUSEN_TYPES):
        left.barh(y, probabilities[:, t], left=start, color=colours[t], label=name)
        start += probabilities[:, t]
    left.set_yticks(
        y,
        [
            f"class {k}\n(share {s:.2f})"
            for k, s in zip(typing.index, typing["share"], strict=True)
        ],
    )
    left.set_ylim(len(typing) - 0.5, -0.5)
    left.set_xlim(0, 1)
    left.set_xlabel("P(class is of type)")
    left.set_title("Each class's Markusen type", fontsize="medium")
    flat = (
        shares.transpose("chain", "draw", MARKUSEN_TYPE)
        .to_numpy()
        .reshape(-1, len(MARKUSEN_TYPES))
    )
    bins = np.linspace(0, 1, 41)
    for t, name in enumerate(MARKUSEN_TYPES):
        if (flat[:, t] > 0).mean() < 0.01:
            continue
        p_major = (flat[:, t] > 0.5).mean()
        right.hist(
            flat[:, t],
            bins=bins,
            density=True,
            alpha=0.55,
            color=colours[t],
            label=f"{name}: P(majority) = {p_major:.2f}",
        )
    right.axvline(0.5, color="black", linestyle=":", linewidth=1)
    right.set_xlim(0, 1)
    right.set_xlabel("share of firms in classes of the type")
    right.set_ylabel("posterior density")
    right.set_title("Cluster-level type shares", fontsize="medium")
    right.legend(frameon=False, fontsize="small")
    handles, labels = left.get_legend_handles_labels()
    figure.legend(
        handles, labels, loc="outside lower center", ncols=len(MARKUSEN_TYPES), frameon=False
    )
    figure.suptitle(title or "Markusen typing of the Bayesian latent classes")
    return figure


@styled
def plot_item_ppc(
    model,
    *,
    interval_prob: float = 0.94,
    random_seed: int | None = None,
    title: str | None = None,
    item_shares: pd.DataFrame | None = None,
) -> Figure:
    """Posterior predictive check of the item margins: observed shares over replicated ones.

    One panel per response category; for each item a line (equal-tailed interval of the
    share choosing the category in the replicated surveys) and a dot (the observed share).
    Dots with a two-sided posterior predictive p-value below 0.05 are drawn hollow and
    black.  Uses :meth:`BayesianLatentClass.posterior_predictive_check` (which draws the
    replicates with ``random_seed`` if the model holds none).

    Parameters
    ----------
    model : BayesianLatentClass
        A fitted model.
    interval_prob : float
        Mass of the replicated intervals.
    random_seed : int, optional
        Seed of the replicates if they must be drawn.
    title : str, optional
        Figure title.
    item_shares : pandas.DataFrame, optional
        The ``item_shares`` table of the model's
        :meth:`~BayesianLatentClass.posterior_predictive_check` at ``interval_prob``, when
        the caller has it already (it is then not computed again).

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib as mpl

    if not isinstance(model, BayesianLatentClass):
        raise TypeError(f"expected a fitted BayesianLatentClass, got {type(model).__name__}")
    table = item_shares
    if table is None:
        table = model.posterior_predictive_check(
            random_seed=random_seed, interval_prob=interval_prob
        )["item_shares"]
    items = list(dict.fromkeys(table.index.get_level_values(ITEM)))
    categories = list(dict.fromkeys(table.index.get_level_values(CATEGORY)))
    labels = [str(table.xs(c, level=CATEGORY)["label"].iloc[0]) for c in categories]
    n_items, n_categories = len(items), len(categories)
    if labels == list(RESPONSE_COLOURS):
        colours = [RESPONSE_COLOURS[label] for label in labels]
    else:
        colours = list(mpl.colormaps["RdBu"](np.linspace(0.1, 0.9, n_categories)))
    figure = Figure(figsize=(2.2 + 2.8 * n_categories, 1.4 + 0.38 * n_items), layout="constrained")
    axes = figure.subplots(1, n_categories, sharey=True, squeeze=False)[0]
    y = np.arange(n_items)
    for c, (axis, category) in enumerate(zip(axes, categories, strict=True)):
        rows = table.xs(category, level=CATEGORY).loc[items]
        axis.hlines(
            y,
            rows["replicated_lower"],
            rows["replicated_upper"],
            color=colours[c],
            linewidth=4,
            alpha=0.6,
            label=f"replicated ({interval_prob:.0%} interval)" if c == 0 else None,
        )
        extreme = (rows["p_two_sided"] < 0.05).to_numpy()
        axis.plot(
            rows["observed_share"].to_numpy()[~extreme],
            y[~extreme],
            "o",
            color="black",
            markersize=4,
            label="observed" if c == 0 else None,
        )
        axis.plot(
            rows["observed_share"].to_numpy()[extreme],
            y[extreme],
            "o",
            markerfacecolor="none",
            markeredgecolor="black",
            markersize=7,
            label="observed, two-sided p < 0.05" if c == 0 else None,
        )
        axis.set_title(labels[c], fontsize="medium")
        axis.set_xlim(0, 1)
        axis.set_xlabel("share of firms answering the item")
        axis.grid(axis="x", alpha=0.3)
    axes[0].set_yticks(y, items, fontsize="small")
    axes[0].set_ylim(n_items - 0.5, -0.5)
    figure.legend(loc="outside lower center", ncols=3, frameon=False)
    figure.suptitle(title or "Posterior predictive check of the item response shares")
    return figure


@styled
def plot_bivariate_residuals(
    pairs: pd.DataFrame, *, alpha: float = 0.05, title: str | None = None
) -> Figure:
    """Posterior predictive check of the item pairs: bivariate residuals as a heat map.

    Below the diagonal, each item pair's observed bivariate residual (BVR: the pair's
    association that the classes leave unexplained); above it, the pair's posterior
    predictive p-value of the BVR, which compares it with the BVRs of surveys replicated
    from the model (the BVR's own size depends on the number of categories and firms, so
    read the p-value).  Pairs with ``p < alpha`` are outlined in both triangles.

    Parameters
    ----------
    pairs : pandas.DataFrame
        The ``pairs`` table of
        :meth:`bayes_cluster.estimators.latent_class.BayesianLatentClass.posterior_predictive_check`,
        indexed by (``item_1``, ``item_2``), with columns ``bvr_observed`` and ``p_bvr``.
    alpha : float
        p-value under which a pair is outlined.
    title : str, optional
        Figure title.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import pandas as pd
    >>> pairs = pd.DataFrame(
    ...     {"bvr_observed": [0.4, 5.0, 0.8], "p_bvr": [0.6, 0.01, 0.4]},
    ...     index=pd.MultiIndex.from_tuples(
    ...         [("a", "b"), ("a", "c"), ("b", "c")], names=["item_1", "item_2"]
    ...     ),
    ... )
    >>> figure = plot_bivariate_residuals(pairs)
    >>> len(figure.axes[0].patches)  # the one pair with p < 0.05, outlined twice
    2
    """
    first = pairs.index.get_level_values(0).astype(str)
    second = pairs.index.get_level_values(1).astype(str)
    items = list(dict.fromkeys([*first, *second]))
    position = {item: j for j, item in enumerate(items)}
    n_items = len(items)
    residuals = np.full((n_items, n_items), np.nan)
    p_values = np.full((n_items, n_items), np.nan)
    for a, b, bvr, p in zip(first, second, pairs["bvr_observed"], pairs["p_bvr"], strict=True):
        i, j = sorted((position[a], position[b]))
        residuals[j, i] = bvr  # lower triangle
        p_values[i, j] = p  # upper triangle
    figure = Figure(figsize=(2.5 + 0.6 * n_items, 1.8 + 0.55 * n_items), layout="constrained")
    axis = figure.subplots()
    top = max(3.0, float(np.nanmax(residuals, initial=0.0)))
    image = axis.imshow(residuals, cmap="Reds", vmin=0.0, vmax=top, interpolation="none")
    for i in range(n_items):
        for j in range(n_items):
            if i > j:
                value, flagged = residuals[i, j], p_values[j, i] < alpha
                text = f"{value:.1f}"
            elif i < j:
                value, flagged = p_values[i, j], p_values[i, j] < alpha
                text = f"{value:.2f}"
            else:
                continue
            axis.text(
                j,
                i,
                text,
                ha="center",
                va="center",
                fontsize="x-small",
                weight="bold" if flagged else "normal",
                color="white" if i > j and value > 0.6 * top else "black",
            )
            if flagged:
                axis.add_patch(_outline(j, i))
    axis.set_xticks(range(n_items), items, rotation=90, fontsize="small")
    axis.set_yticks(range(n_items), items, fontsize="small")
    figure.colorbar(image, ax=axis, label="bivariate residual (below the diagonal)")
    axis.set_title(
        title
        or f"Item pairs: bivariate residual (below) and its p-value (above; p < {alpha:g} "
        "outlined)",
        fontsize="medium",
    )
    return figure

"""Figures of the ordinal latent class model.

Every function returns a :class:`matplotlib.figure.Figure` and never fits a model.
"""

from __future__ import annotations

import numpy as np
import xarray as xr
from matplotlib.figure import Figure

from bayes_cluster.common.dims import CHAIN, DRAW, FIRM, ITEM
from bayes_cluster.plots.style import styled

__all__ = ["plot_prior_predictive_shares", "prior_predictive_shares"]


def _category_labels(responses: xr.DataArray, n_categories: int) -> list[str]:
    """Labels of the codes 1..C from the ``coding`` attribute (codes when absent)."""
    coding = str(responses.attrs.get("coding", ""))
    if "Labels: " in coding:
        labels = coding.split("Labels: ", 1)[1].split(",")
        if len(labels) == n_categories:
            return labels
    return [str(c) for c in range(1, n_categories + 1)]


def prior_predictive_shares(
    tree: xr.DataTree, *, interval_prob: float = 0.94
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str], list[str]]:
    """Per item and category: the observed share and the prior predictive interval.

    Parameters
    ----------
    tree : xarray.DataTree
        The result of
        :meth:`~bayes_cluster.estimators.ordinal_latent_class.BayesianOrdinalLatentClass.sample_prior_predictive`
        (groups ``prior_predictive`` and ``observed_data``, ``responses`` coded 1..C,
        0 = missing).
    interval_prob : float
        Mass of the equal-tailed interval of the replicated shares.

    Returns
    -------
    observed : numpy.ndarray
        (item, category): share of the firms answering the item that chose the category.
    lower, upper : numpy.ndarray
        (item, category): the interval of that share over the prior predictive draws.
    items : list of str
        Item names.
    labels : list of str
        Category labels.
    """
    if not 0 < interval_prob < 1:
        raise ValueError(f"interval_prob must be between 0 and 1, got {interval_prob!r}")
    for group in ("prior_predictive", "observed_data"):
        if group not in tree.children:
            raise ValueError(
                f"the tree has no {group!r} group: pass the result of "
                "BayesianOrdinalLatentClass.sample_prior_predictive"
            )
    observed_codes = tree["observed_data"]["responses"].transpose(FIRM, ITEM)
    replicated = tree["prior_predictive"]["responses"].transpose(CHAIN, DRAW, FIRM, ITEM)
    n_categories = int(max(observed_codes.to_numpy().max(), replicated.to_numpy().max()))
    codes = np.arange(1, n_categories + 1)
    observed_array = observed_codes.to_numpy()
    answered = np.maximum((observed_array > 0).sum(axis=0), 1)  # (item,)
    observed = (observed_array[..., None] == codes).sum(axis=0) / answered[:, None]
    draws = replicated.to_numpy().reshape(-1, *observed_array.shape)
    answered_draws = np.maximum((draws > 0).sum(axis=1), 1)  # (draw, item)
    shares = (draws[..., None] == codes).sum(axis=1) / answered_draws[..., None]
    tail = (1 - interval_prob) / 2
    lower, upper = np.quantile(shares, [tail, 1 - tail], axis=0)
    items = [str(item) for item in observed_codes[ITEM].to_numpy()]
    return observed, lower, upper, items, _category_labels(observed_codes, n_categories)


@styled
def plot_prior_predictive_shares(
    tree: xr.DataTree, *, interval_prob: float = 0.94, title: str | None = None
) -> Figure:
    """Prior predictive check of the ordinal model: answer shares the priors allow.

    One panel per response category; for each item a bar (the equal-tailed interval of
    the share of firms choosing the category in surveys simulated from the priors alone)
    and a dot (the observed share).  Wide bars reaching 0 and 1 say the priors let the
    data speak; a dot outside its bar would say the priors rule out what was observed.

    Parameters
    ----------
    tree : xarray.DataTree
        The result of
        :meth:`~bayes_cluster.estimators.ordinal_latent_class.BayesianOrdinalLatentClass.sample_prior_predictive`.
    interval_prob : float
        Mass of the intervals.
    title : str, optional
        Figure title.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib as mpl

    observed, lower, upper, items, labels = prior_predictive_shares(
        tree, interval_prob=interval_prob
    )
    n_items, n_categories = observed.shape
    colours = list(mpl.colormaps["RdBu"](np.linspace(0.1, 0.9, n_categories)))
    figure = Figure(figsize=(2.2 + 2.3 * n_categories, 1.4 + 0.38 * n_items), layout="constrained")
    axes = figure.subplots(1, n_categories, sharey=True, squeeze=False)[0]
    y = np.arange(n_items)
    for c, axis in enumerate(axes):
        axis.hlines(
            y,
            lower[:, c],
            upper[:, c],
            color=colours[c],
            linewidth=4,
            alpha=0.7,
            label=f"prior predictive ({interval_prob:.0%} interval)" if c == 0 else None,
        )
        axis.plot(
            observed[:, c],
            y,
            "o",
            color="black",
            markersize=4,
            label="observed" if c == 0 else None,
        )
        axis.set_title(labels[c], fontsize="medium")
        axis.set_xlim(0, 1)
        axis.set_xlabel("share of firms answering")
        axis.grid(axis="x", alpha=0.3)
    axes[0].set_yticks(y, items, fontsize="small")
    axes[0].set_ylim(n_items - 0.5, -0.5)
    figure.legend(loc="outside lower center", ncols=2, frameon=False)
    figure.suptitle(title or "Prior predictive check: answer shares the priors allow")
    return figure

"""Figures of the covariates of class membership: who belongs to which class.

Every function returns a :class:`matplotlib.figure.Figure` and never fits a model.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from bayes_cluster.common.dims import LATENT_CLASS
from bayes_cluster.estimators.joint import JointLatentClassLogit
from bayes_cluster.estimators.latent_class import BayesianLatentClass
from bayes_cluster.plots.style import palette, styled

__all__ = ["plot_membership_curves"]


@styled
def plot_membership_curves(
    model: BayesianLatentClass | JointLatentClassLogit,
    *,
    covariates: Sequence[str] | None = None,
    hdi_prob: float = 0.94,
    class_names: Mapping[int, str] | None = None,
    title: str | None = None,
) -> Figure:
    """P(class k | covariate) against each covariate, with its HDI band; one panel each.

    Each panel varies one covariate over the fitted firms' range, the others held at
    their means (:meth:`BayesianLatentClass.membership_curve`); the ticks along the
    bottom are the firms' own values.

    Parameters
    ----------
    model : BayesianLatentClass or JointLatentClassLogit
        A model fitted with ``covariates`` (both have ``membership_curve``).
    covariates : sequence of str, optional
        The covariates to draw (default: all of the fit's).
    hdi_prob : float
        Mass of the highest-density band.
    class_names : mapping of int to str, optional
        Legend label of each class (e.g. its Markusen type); default ``class k``.
    title : str, optional
        Figure title.

    Returns
    -------
    matplotlib.figure.Figure
    """
    tree = model._require_covariates()
    names = list(covariates or tree.attrs["covariates"].split(","))
    values = tree["constant_data"]["covariates"]
    figure = Figure(figsize=(3.4 * len(names) + 0.6, 4.0), layout="constrained")
    axes = np.atleast_1d(figure.subplots(1, len(names), sharey=True))
    colours = palette(model.n_classes)
    for axis, name in zip(axes, names, strict=True):
        curve: pd.DataFrame = model.membership_curve(name, hdi_prob=hdi_prob)
        for k in range(1, model.n_classes + 1):
            rows = curve[curve[LATENT_CLASS] == k]
            label = (class_names or {}).get(k, f"class {k}")
            axis.fill_between(
                rows["value"],
                rows["hdi_lower"],
                rows["hdi_upper"],
                color=colours[k - 1],
                alpha=0.2,
            )
            axis.plot(rows["value"], rows["mean"], color=colours[k - 1], label=label)
        firms = values.sel(covariate=name).to_numpy()
        axis.plot(firms, np.full(firms.shape, -0.03), "|", color="0.3", markersize=6)
        axis.set_ylim(-0.06, 1)
        axis.set_xlabel(name)
        axis.set_title(f"against {name} ({hdi_prob:.0%} HDI)", fontsize="medium")
    axes[0].set_ylabel("P(class | covariates)")
    handles, labels = axes[0].get_legend_handles_labels()
    figure.legend(
        handles,
        labels,
        loc="outside lower center",
        ncols=min(model.n_classes, 4),
        frameon=False,
        fontsize="small",
    )
    if title:
        figure.suptitle(title)
    return figure

"""The ``[joint]`` section of an analysis spec: validation and run.

``[joint]`` asks whether the cluster pattern matters for export orientation: it fits the
approaches of :func:`bayes_cluster.analyses.class_approaches.compare_class_approaches` (no
class, two-step, ML three-step, joint latent class + logit) and writes their tables, the
joint model's posterior and two figures.  :func:`validate_joint_section` is registered with
:mod:`bayes_cluster.run.spec`; :func:`run_joint_section` is what ``bayes-cluster run`` calls.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from bayes_cluster.analyses.class_approaches import (
    APPROACH_LABELS,
    JointComparison,
    compare_class_approaches,
)
from bayes_cluster.common.latent_class_math import LIKERT_THREE_LEVELS
from bayes_cluster.estimators.joint import JointLatentClassLogit, joint_priors, merge_priors
from bayes_cluster.estimators.latent_class import MEMBERSHIP_PRIORS, encode_covariates
from bayes_cluster.inference.base import write_netcdf
from bayes_cluster.run.collapse import Collapse, check_collapse, parse_collapse
from bayes_cluster.surveys.codebook import TUMANG_PREDICTORS
from bayes_cluster.surveys.markusen import MARKUSEN_ITEMS

__all__ = ["JointSpec", "model_collapse", "run_joint_section", "validate_joint_section"]


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
    collapse : tuple of tuple of int, or None
        Level groups, as ``[latent_class].collapse`` (:func:`~bayes_cluster.run.collapse.
        parse_collapse`; default the ``[latent_class]`` collapse): the joint model fits
        disagree / neutral / agree (``((1, 2), (3,), (4, 5))``) or the levels as they are
        (None).
    class_slopes : bool
        Class-specific, partially pooled slopes in the joint model.
    approaches : tuple of str
        Approaches compared (:data:`APPROACH_LABELS`).
    em_starts : int
        Random starts of the step-1 EM fit.
    priors : dict
        Prior overrides: the ``[logistic]`` intercept/slope priors, then ``[joint.priors]``.
    covariates : tuple of str
        Covariates of class membership (numeric columns; empty: the class shares are
        the same for every firm).
    """

    n_classes: int = 2
    items: tuple[str, ...] = MARKUSEN_ITEMS
    predictors: tuple[str, ...] = TUMANG_PREDICTORS
    outcome: str = "export"
    collapse: Collapse | None = LIKERT_THREE_LEVELS
    class_slopes: bool = False
    approaches: tuple[str, ...] = ("no_class", "two_step", "three_step_ml", "joint")
    em_starts: int = 50
    priors: dict[str, dict[str, Any]] = field(default_factory=dict)
    covariates: tuple[str, ...] = ()


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
    "covariates",
)


def model_collapse(collapse: Collapse | str | None) -> Literal["three", "none"]:
    """Return the joint model's ``collapse`` for a spec's level groups.

    The joint model (:class:`~bayes_cluster.estimators.joint.JointLatentClassLogit`)
    collapses Likert items to disagree / neutral / agree itself or keeps the levels.

    Parameters
    ----------
    collapse : tuple of tuple of int, str or None
        Level groups, or a spec value (:func:`~bayes_cluster.run.collapse.parse_collapse`).

    Returns
    -------
    {"three", "none"}

    Raises
    ------
    ValueError
        For other groupings (the joint model cannot fit them).

    Examples
    --------
    >>> model_collapse([[1, 2], [3], [4, 5]]), model_collapse(None)
    ('three', 'none')
    """
    groups = parse_collapse(collapse) if collapse is not None else None
    if groups is None:
        return "none"
    if groups == LIKERT_THREE_LEVELS:
        return "three"
    raise ValueError(
        f"the joint model collapses Likert items to [[1, 2], [3], [4, 5]] or not at all "
        f'("none"), got {[list(g) for g in groups]}'
    )


def validate_joint_section(
    raw: Any, problems: Any, context: Mapping[str, Any]
) -> JointSpec | None:
    """Validate a ``[joint]`` spec table (registered with :mod:`bayes_cluster.run.spec`).

    Keys (all optional): ``n_classes`` (int >= 2, default 2), ``items``, ``predictors``,
    ``outcome`` and ``collapse`` (default: those of ``[latent_class]`` / ``[logistic]``),
    ``class_slopes`` (bool), ``approaches`` (subset of ``no_class``, ``two_step``,
    ``three_step_ml``, ``joint``), ``em_starts`` (int), ``priors`` (tables
    ``{ dist = ..., ... }`` for ``intercept``, ``slopes``, ``slope_spread``; positive
    numbers for ``class_concentration``, ``item_concentration`` and, with covariates,
    ``membership_intercept_sd``, ``membership_slope_sd``), ``covariates`` (numeric columns
    on which class membership depends, not items nor the outcome; their codebook kinds are
    checked by :mod:`bayes_cluster.run.spec`, as ``[latent_class].covariates``).

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
    # the vocabulary of [latent_class].collapse (run.collapse.check_collapse), its default
    try:
        collapse = getattr(latent_class, "collapse", None)
        if "collapse" in raw:
            collapse = check_collapse(raw["collapse"], items, data)
        model_collapse(collapse)
    except ValueError as error:
        problems.add("[joint].collapse", str(error))
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
    covariates = _covariates(raw, items, outcome, problems)
    if covariates is None:
        ok, covariates = False, ()
    em_starts = raw.get("em_starts", getattr(latent_class, "em_starts", 50))
    if isinstance(em_starts, bool) or not isinstance(em_starts, int) or em_starts < 1:
        problems.add("[joint].em_starts", f"must be a whole number >= 1, got {em_starts!r}")
        ok = False
    logistic_priors = getattr(logistic, "priors", {}) or {}
    priors = {k: dict(v) for k, v in logistic_priors.items() if k in ("intercept", "slopes")}
    user_priors = raw.get("priors", {})
    known = joint_priors(bool(covariates))
    if not isinstance(user_priors, Mapping):
        problems.add("[joint].priors", f"must be a table, got {user_priors!r}")
        ok = False
    else:
        for name, prior in user_priors.items():
            if name not in known:
                why = ""
                if name in MEMBERSHIP_PRIORS:
                    why = " (membership priors need [joint].covariates)"
                elif name == "class_concentration":
                    why = " (with [joint].covariates the class shares are the membership logit's)"
                problems.add(
                    f"[joint].priors.{name}", f"unknown prior{why}; known: {sorted(known)}"
                )
                ok = False
            else:
                try:
                    checked = merge_priors({name: known[name]}, {name: prior})[name]
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
        covariates=covariates,
    )


def _covariates(
    raw: Mapping[str, Any], items: tuple[str, ...], outcome: Any, problems: Any
) -> tuple[str, ...] | None:
    """Check ``[joint].covariates`` as a list of names; None when it is not valid.

    The codebook checks (a column of the data, a numeric kind) are those of
    ``[latent_class].covariates``, made by :mod:`bayes_cluster.run.spec`.
    """
    key = "[joint].covariates"
    if "covariates" not in raw:
        return ()
    value = raw["covariates"]
    if isinstance(value, str) or not isinstance(value, list | tuple):
        problems.add(key, f"must be a list of column names, got {value!r}")
        return None
    if not all(isinstance(v, str) for v in value):
        problems.add(key, f"must be a list of column names, got {value!r}")
        return None
    if not value:
        problems.add(key, "is empty: name numeric columns or leave the key out")
        return None
    duplicated = sorted({v for v in value if value.count(v) > 1})
    if duplicated:
        problems.add(key, f"names a column twice: {duplicated}")
        return None
    for column in value:
        if column in items:
            problems.add(
                key, f"{column!r} is an item of the classes; a covariate cannot also be an item"
            )
            return None
        if column == outcome:
            problems.add(
                key,
                f"{column!r} is the outcome; the outcome cannot also shift class membership",
            )
            return None
    return tuple(value)


def _sampler_settings(sampler: Any) -> dict[str, Any]:
    get = sampler.get if isinstance(sampler, Mapping) else lambda k, d: getattr(sampler, k, d)
    return {
        "draws": int(get("draws", 1000)),
        "tune": int(get("tune", 1000)),
        "chains": int(get("chains", 4)),
        "random_seed": get("seed", None),
        "target_accept": float(get("target_accept", 0.9)),
        "hdi_prob": float(get("hdi_prob", 0.94)),
        "backend": str(get("backend", "nutpie_c")),
    }


def run_joint_section(
    frame: pd.DataFrame,
    config: JointSpec | Mapping[str, Any],
    sampler: Any,
    out_dir: str | Path | None,
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
    :func:`bayes_cluster.plots.joint.plot_export_calibration`); with ``covariates``, also
    ``joint_membership_effects.csv`` (:meth:`~bayes_cluster.estimators.joint.
    JointLatentClassLogit.membership_effects`) and ``joint_class_membership_covariates.png``
    (:func:`bayes_cluster.plots.membership.plot_membership_curves`).

    Parameters
    ----------
    frame : pandas.DataFrame
        The validated survey.
    config : JointSpec or mapping
        The ``[joint]`` section (a mapping is validated first).
    sampler : SamplerSpec or mapping
        ``draws``, ``tune``, ``chains``, ``seed``, ``target_accept``, ``hdi_prob``.
    out_dir : str or pathlib.Path or None
        Output folder (created when absent). None: write nothing and return the
        comparison (``bayes-cluster run`` writes its tables, posterior and figures
        through its run context).
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
    models = {}
    if config.covariates:
        try:  # before any fit: a blank or constant covariate of this survey, named
            encode_covariates(frame, config.covariates)
        except ValueError as error:
            raise ValueError(f"[joint].covariates: {error}") from None
        # the joint approach's model with covariates of class membership (the other
        # approaches' step 1 is the EM fit of the items alone, as without covariates)
        models["joint"] = JointLatentClassLogit(
            config.n_classes,
            items=config.items,
            predictors=config.predictors,
            outcome=config.outcome,
            class_slopes=config.class_slopes,
            collapse=model_collapse(config.collapse),
            priors=config.priors,
            hdi_prob=settings["hdi_prob"],
            covariates=config.covariates,
        )
    comparison = compare_class_approaches(
        frame,
        n_classes=config.n_classes,
        items=config.items,
        predictors=config.predictors,
        outcome=config.outcome,
        collapse=model_collapse(config.collapse),
        class_slopes=config.class_slopes,
        priors=config.priors,
        approaches=config.approaches,
        em_starts=config.em_starts,
        models=models,
        progressbar=progressbar,
        **settings,
    )
    if out_dir is None:
        return comparison
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
        writers["joint_posterior.nc"] = lambda p: write_netcdf(idata, p)
    membership = None
    if config.covariates and "joint" in comparison.models:
        from bayes_cluster.plots.membership import plot_membership_curves

        joint = comparison.models["joint"]
        effects = joint.membership_effects()
        writers["joint_membership_effects.csv"] = lambda p: effects.to_csv(p, index=False)
        if figures:
            membership = plot_membership_curves(joint, hdi_prob=settings["hdi_prob"])
            writers["joint_class_membership_covariates.png"] = lambda p: membership.savefig(
                p, dpi=150, format="png"
            )
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
        for drawn in (figure, calibration, membership):
            if drawn is not None:
                plt.close(drawn)
        for path in temporary.values():
            path.unlink(missing_ok=True)
    return comparison

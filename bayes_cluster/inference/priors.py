"""Priors as data: plain mappings (the shape a TOML table gives) turned into PyMC variables.

A prior is a mapping with a ``dist`` name and its parameters, for example
``{"dist": "StudentT", "nu": 7, "mu": 0, "sigma": 1}``.  Supported distributions and their
parameters (names follow PyMC):

============  =========================  ==============================
``dist``      parameters                 support
============  =========================  ==============================
Normal        ``mu``, ``sigma``          real line
StudentT      ``nu``, ``mu``, ``sigma``  real line
Cauchy        ``mu``, ``sigma``          real line (``alpha``, ``beta``)
Laplace       ``mu``, ``sigma``          real line (``mu``, ``b``)
HalfNormal    ``sigma``                  positive
HalfStudentT  ``nu``, ``sigma``          positive
HalfCauchy    ``sigma``                  positive (``beta``)
Exponential   ``lam``                    positive
============  =========================  ==============================

The same functions serve every model of the package (logit, latent class, joint model).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = [
    "DISTRIBUTIONS",
    "describe_prior",
    "make_prior_variable",
    "prior_log_density",
    "validate_prior",
]

#: dist name -> (required parameters, support)
DISTRIBUTIONS: dict[str, tuple[tuple[str, ...], str]] = {
    "Normal": (("mu", "sigma"), "real"),
    "StudentT": (("nu", "mu", "sigma"), "real"),
    "Cauchy": (("mu", "sigma"), "real"),
    "Laplace": (("mu", "sigma"), "real"),
    "HalfNormal": (("sigma",), "positive"),
    "HalfStudentT": (("nu", "sigma"), "positive"),
    "HalfCauchy": (("sigma",), "positive"),
    "Exponential": (("lam",), "positive"),
}

_POSITIVE_PARAMETERS = ("sigma", "nu", "lam")

MAX_PARAMETER = 1e6
"""Largest size of a prior parameter: on the logit and log scales, beyond it the samplers'
arithmetic overflows (and no survey calls for it)."""


def validate_prior(
    spec: Mapping[str, Any], where: str, *, support: str | None = None
) -> dict[str, Any]:
    """Check one prior mapping and return it as a clean ``dict`` of floats.

    Parameters
    ----------
    spec : mapping
        ``{"dist": name, **parameters}``.
    where : str
        What the prior is for (``"slopes"``, ``"workers"``), named in error messages.
    support : {"real", "positive"}, optional
        Required support of the distribution.

    Returns
    -------
    dict
        ``{"dist": name, parameter: float, ...}`` with exactly the required parameters.

    Raises
    ------
    ValueError
        On an unknown distribution, missing, unknown or invalid parameters, or the wrong
        support.

    Examples
    --------
    >>> validate_prior({"dist": "Normal", "mu": 0, "sigma": 2.5}, "slopes")
    {'dist': 'Normal', 'mu': 0.0, 'sigma': 2.5}
    """
    if not isinstance(spec, Mapping) or "dist" not in spec:
        raise ValueError(
            f"prior for {where!r} must be a mapping with a 'dist' key, e.g. "
            f"{{'dist': 'Normal', 'mu': 0, 'sigma': 1}}; got {spec!r}"
        )
    dist = spec["dist"]
    if dist not in DISTRIBUTIONS:
        raise ValueError(
            f"prior for {where!r}: unknown distribution {dist!r}; "
            f"choose one of {sorted(DISTRIBUTIONS)}"
        )
    required, dist_support = DISTRIBUTIONS[dist]
    if support is not None and dist_support != support:
        raise ValueError(
            f"prior for {where!r}: {dist} has {dist_support} support but a {support} "
            f"distribution is needed (e.g. "
            f"{'Normal or StudentT' if support == 'real' else 'HalfNormal or Exponential'})"
        )
    given = {key for key in spec if key != "dist"}
    missing = [name for name in required if name not in given]
    unknown = sorted(given - set(required))
    if missing or unknown:
        raise ValueError(
            f"prior for {where!r}: {dist} takes parameters {list(required)}; "
            + (f"missing {missing}" if missing else "")
            + ("; " if missing and unknown else "")
            + (f"unknown {unknown}" if unknown else "")
        )
    clean: dict[str, Any] = {"dist": dist}
    for name in required:
        try:
            value = float(spec[name])
        except (TypeError, ValueError):
            raise ValueError(
                f"prior for {where!r}: parameter {name!r} must be a number, got {spec[name]!r}"
            ) from None
        if not np.isfinite(value) or (name in _POSITIVE_PARAMETERS and value <= 0):
            raise ValueError(
                f"prior for {where!r}: parameter {name!r} must be "
                f"{'positive and ' if name in _POSITIVE_PARAMETERS else ''}finite, got {value}"
            )
        if abs(value) > MAX_PARAMETER:
            raise ValueError(
                f"prior for {where!r}: parameter {name!r} must be at most {MAX_PARAMETER:g} "
                f"in size (the model's arithmetic overflows beyond), got {value:g}"
            )
        clean[name] = value
    return clean


def describe_prior(spec: Mapping[str, Any]) -> str:
    """Render a prior as ``StudentT(nu=7, mu=0, sigma=1)``.

    Parameters
    ----------
    spec : mapping
        A validated prior.

    Returns
    -------
    str
        The distribution and its parameters.
    """
    parameters = ", ".join(f"{key}={value:.4g}" for key, value in spec.items() if key != "dist")
    return f"{spec['dist']}({parameters})"


def make_prior_variable(
    name: str,
    specs: Sequence[Mapping[str, Any]] | Mapping[str, Any],
    *,
    dims: str | tuple[str, ...] | None = None,
):
    """Create one PyMC random variable from a prior, or a vector from same-family priors.

    Must be called inside a ``pm.Model`` context.

    Parameters
    ----------
    name : str
        Variable name.
    specs : mapping or sequence of mappings
        One validated prior (scalar variable), or one per element of a vector variable;
        all elements must share the distribution family (parameters may differ).
    dims : str or tuple of str, optional
        Dimension names of a vector variable.

    Returns
    -------
    pytensor.tensor.TensorVariable
        The random variable.
    """
    import pymc as pm

    if isinstance(specs, Mapping):
        spec_list = [specs]
        vector = False
    else:
        spec_list = list(specs)
        vector = True
    families = {spec["dist"] for spec in spec_list}
    if len(families) != 1:
        raise ValueError(f"{name}: one vector variable needs one distribution, got {families}")
    dist = spec_list[0]["dist"]

    def parameter(key: str):
        values = [spec[key] for spec in spec_list]
        return np.asarray(values, dtype=float) if vector else values[0]

    kwargs = {"dims": dims} if dims is not None else {}
    if dist == "Normal":
        return pm.Normal(name, mu=parameter("mu"), sigma=parameter("sigma"), **kwargs)
    if dist == "StudentT":
        return pm.StudentT(
            name, nu=parameter("nu"), mu=parameter("mu"), sigma=parameter("sigma"), **kwargs
        )
    if dist == "Cauchy":
        return pm.Cauchy(name, alpha=parameter("mu"), beta=parameter("sigma"), **kwargs)
    if dist == "Laplace":
        return pm.Laplace(name, mu=parameter("mu"), b=parameter("sigma"), **kwargs)
    if dist == "HalfNormal":
        return pm.HalfNormal(name, sigma=parameter("sigma"), **kwargs)
    if dist == "HalfStudentT":
        return pm.HalfStudentT(name, nu=parameter("nu"), sigma=parameter("sigma"), **kwargs)
    if dist == "HalfCauchy":
        return pm.HalfCauchy(name, beta=parameter("sigma"), **kwargs)
    if dist == "Exponential":
        return pm.Exponential(name, lam=parameter("lam"), **kwargs)
    raise ValueError(f"unknown distribution {dist!r}")  # pragma: no cover - validated before


def prior_log_density(spec: Mapping[str, Any], values: np.ndarray) -> np.ndarray:
    """Log density of a prior at ``values`` (SciPy), for checks independent of PyMC.

    Parameters
    ----------
    spec : mapping
        A validated prior.
    values : numpy.ndarray
        Points to evaluate.

    Returns
    -------
    numpy.ndarray
        Elementwise log density.
    """
    from scipy import stats

    x = np.asarray(values, dtype=float)
    dist = spec["dist"]
    if dist == "Normal":
        return stats.norm.logpdf(x, spec["mu"], spec["sigma"])
    if dist == "StudentT":
        return stats.t.logpdf(x, spec["nu"], spec["mu"], spec["sigma"])
    if dist == "Cauchy":
        return stats.cauchy.logpdf(x, spec["mu"], spec["sigma"])
    if dist == "Laplace":
        return stats.laplace.logpdf(x, spec["mu"], spec["sigma"])
    if dist == "HalfNormal":
        return stats.halfnorm.logpdf(x, scale=spec["sigma"])
    if dist == "HalfStudentT":
        return np.log(2.0) + stats.t.logpdf(x, spec["nu"], 0.0, spec["sigma"])
    if dist == "HalfCauchy":
        return stats.halfcauchy.logpdf(x, scale=spec["sigma"])
    if dist == "Exponential":
        return stats.expon.logpdf(x, scale=1.0 / spec["lam"])
    raise ValueError(f"unknown distribution {dist!r}")  # pragma: no cover


def sample_prior(spec: Mapping[str, Any], size: int | tuple[int, ...], rng: np.random.Generator):
    """Draw from a prior with NumPy (for prior predictive figures without compiling).

    Parameters
    ----------
    spec : mapping
        A validated prior.
    size : int or tuple of int
        Output shape.
    rng : numpy.random.Generator
        Random generator.

    Returns
    -------
    numpy.ndarray
        Draws.
    """
    dist = spec["dist"]
    if dist == "Normal":
        return rng.normal(spec["mu"], spec["sigma"], size)
    if dist == "StudentT":
        return spec["mu"] + spec["sigma"] * rng.standard_t(spec["nu"], size)
    if dist == "Cauchy":
        return spec["mu"] + spec["sigma"] * rng.standard_cauchy(size)
    if dist == "Laplace":
        return rng.laplace(spec["mu"], spec["sigma"], size)
    if dist == "HalfNormal":
        return np.abs(rng.normal(0.0, spec["sigma"], size))
    if dist == "HalfStudentT":
        return np.abs(spec["sigma"] * rng.standard_t(spec["nu"], size))
    if dist == "HalfCauchy":
        return np.abs(spec["sigma"] * rng.standard_cauchy(size))
    if dist == "Exponential":
        return rng.exponential(1.0 / spec["lam"], size)
    raise ValueError(f"unknown distribution {dist!r}")  # pragma: no cover

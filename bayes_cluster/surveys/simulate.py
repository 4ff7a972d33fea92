"""Synthetic Tumang survey data with a known truth.

The raw data of the Tumang study are not public.  :func:`simulate_tumang` draws a
survey with the same design (60 firms, seven predictors, four product lines,
twelve Markusen items) from a stated truth, and returns the truth with it, so that
every model in the package can be checked for parameter recovery.

Data-generating process (``design.md``; all defaults in :data:`TUMANG_TRUTH`):

1. Each firm's latent cluster class ``z_i ~ Categorical(class_shares)`` (most firms
   Marshallian, a minority Hub-and-Spoke spokes).
2. Markusen item ``j`` of firm ``i`` ~ ``Categorical(theta[z_i, j, :])`` over 1..5, where
   ``theta`` follows the class's Markusen signature (:mod:`bayes_cluster.surveys.markusen`):
   ``H`` puts mass on 4-5, ``M`` on 3, ``L`` on 1-2.  Steps 1-2 are the latent-class
   model's generative process, :func:`bayes_cluster.common.latent_class_math.simulate_responses`.
3. Predictors: workers log-normal (median about 6) with a few large "hub" firms
   (25-50 workers, more likely in the Hub-and-Spoke class); firm age 2-40 years;
   buyer network, promotion, technology and supplier network on 1..5; training 0/1.
4. ``export_i ~ Bernoulli(logit^-1(alpha + x_i' beta + u[product_line_i] + c[z_i]))``
   with four real effects (workers, firm_age, buyer_network, promotion), three nulls
   (training, technology, supplier_network), modest product-line effects ``u`` and, by
   default, no class effect ``c``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from bayes_cluster.common.latent_class_math import simulate_responses
from bayes_cluster.surveys.codebook import PRODUCT_LINES, TUMANG_CODEBOOK, TUMANG_PREDICTORS
from bayes_cluster.surveys.markusen import MARKUSEN_ITEMS, SIGNATURES

DEFAULT_SEED = 2028
"""Seed of the bundled ``data/tumang_synthetic.csv`` (a typical draw: 32 exporters, 18 spokes)."""

#: response distribution over Likert 1..5 for each signature level
LEVEL_PROBABILITIES: Mapping[str, tuple[float, ...]] = {
    "H": (0.02, 0.05, 0.13, 0.45, 0.35),
    "M": (0.08, 0.22, 0.40, 0.22, 0.08),
    "L": (0.35, 0.45, 0.13, 0.05, 0.02),
}


@dataclass(frozen=True)
class TumangTruth:
    """The truth behind one simulated survey.

    Attributes
    ----------
    intercept : float
        ``alpha`` on the log-odds scale (original predictor scale).
    coefficients : dict
        Slope per predictor on the original scale (log-odds per unit).
    group_effects : dict
        Product-line intercept shift ``u`` (log-odds).
    class_names : tuple of str
        Markusen type of each latent class, in class order.
    class_shares : tuple of float
        Population class shares.
    class_effects : dict
        Class intercept shift ``c`` in the export model (log-odds; 0 = class does not matter).
    item_probabilities : numpy.ndarray
        ``theta``, shape (class, item, category) over Likert 1..5.
    items : tuple of str
        Item names along axis 1 of ``item_probabilities``.
    latent_class : numpy.ndarray
        Each simulated firm's class index (into ``class_names``).
    linear_predictor : numpy.ndarray
        Each firm's true log-odds of exporting.
    seed : int
        The seed that produced the data.
    """

    intercept: float
    coefficients: dict[str, float]
    group_effects: dict[str, float]
    class_names: tuple[str, ...]
    class_shares: tuple[float, ...]
    class_effects: dict[str, float]
    item_probabilities: np.ndarray = field(repr=False)
    items: tuple[str, ...] = MARKUSEN_ITEMS
    latent_class: np.ndarray = field(default_factory=lambda: np.empty(0, int), repr=False)
    linear_predictor: np.ndarray = field(default_factory=lambda: np.empty(0), repr=False)
    seed: int | None = None

    @property
    def null_predictors(self) -> tuple[str, ...]:
        """Predictors whose true coefficient is exactly zero."""
        return tuple(name for name, value in self.coefficients.items() if value == 0.0)

    def coefficient_table(self) -> pd.DataFrame:
        """Return the true logit coefficients as a table indexed by term."""
        terms = ["Intercept", *self.coefficients]
        values = [self.intercept, *self.coefficients.values()]
        return pd.DataFrame({"true_value": values}, index=pd.Index(terms, name="term"))


TUMANG_COEFFICIENTS: dict[str, float] = {
    "workers": 0.15,  # per worker; about 1.0 per SD of the simulated worker counts
    "firm_age": 0.08,  # per year; about 0.6 per SD
    "buyer_network": 0.8,  # per Likert step
    "promotion": 0.7,  # per Likert step
    "training": 0.0,
    "technology": 0.0,
    "supplier_network": 0.0,
}
"""True slopes of the bundled data (original scale): four effects, three nulls."""

TUMANG_INTERCEPT = -6.9
"""True intercept: gives roughly 25-35 exporters among 60 firms."""

TUMANG_GROUP_EFFECTS: dict[str, float] = {
    "household_utensils": -0.3,
    "casting": 0.1,
    "repousse_decor": 0.4,
    "lamps_domes": -0.2,
}
"""Modest product-line shifts of the export log-odds."""

PRODUCT_LINE_SHARES = (0.35, 0.2, 0.3, 0.15)

TUMANG_CLASSES: tuple[str, ...] = ("Marshallian", "Hub-and-Spoke")
TUMANG_CLASS_SHARES: tuple[float, ...] = (0.7, 0.3)


def markusen_item_probabilities(
    class_names: tuple[str, ...] = TUMANG_CLASSES,
    items: tuple[str, ...] = MARKUSEN_ITEMS,
) -> np.ndarray:
    """Item-response probabilities implied by the Markusen signatures.

    Parameters
    ----------
    class_names : tuple of str
        Markusen type of each latent class.
    items : tuple of str
        Markusen items.

    Returns
    -------
    numpy.ndarray
        Shape (class, item, 5); each ``[k, j, :]`` sums to one.
    """
    theta = np.array(
        [
            [LEVEL_PROBABILITIES[SIGNATURES[item][1][name]] for item in items]
            for name in class_names
        ]
    )
    return theta / theta.sum(axis=-1, keepdims=True)


def simulate_tumang(
    n: int = 60,
    seed: int = DEFAULT_SEED,
    *,
    coefficients: Mapping[str, float] | None = None,
    intercept: float | None = None,
    group_effects: Mapping[str, float] | None = None,
    class_names: tuple[str, ...] = TUMANG_CLASSES,
    class_shares: tuple[float, ...] = TUMANG_CLASS_SHARES,
    class_effects: Mapping[str, float] | None = None,
) -> tuple[pd.DataFrame, TumangTruth]:
    """Draw a synthetic Tumang survey and return it with its truth.

    Parameters
    ----------
    n : int
        Number of firms (the study had 60).
    seed : int
        Seed of :func:`numpy.random.default_rng`; the same seed gives the same frame.
    coefficients : mapping, optional
        Slopes on the original scale, by predictor; missing predictors get the Tumang
        default (:data:`TUMANG_COEFFICIENTS`). Use zeros for a null scenario.
    intercept : float, optional
        True intercept; default :data:`TUMANG_INTERCEPT`.
    group_effects : mapping, optional
        Product-line shifts of the log-odds; default :data:`TUMANG_GROUP_EFFECTS`.
    class_names : tuple of str
        Markusen type of each latent class (default Marshallian, Hub-and-Spoke).
    class_shares : tuple of float
        Population shares of the classes.
    class_effects : mapping, optional
        Log-odds shift of exporting per class name (default 0 for every class).

    Returns
    -------
    frame : pandas.DataFrame
        One row per firm, columns in codebook order (see ``data/README.md``).
    truth : TumangTruth
        Everything that produced ``frame``.

    Examples
    --------
    >>> frame, truth = simulate_tumang(n=60, seed=1)
    >>> frame.shape
    (60, 22)
    >>> truth.null_predictors
    ('training', 'technology', 'supplier_network')
    """
    if n < 2:
        raise ValueError(f"n must be at least 2, got {n}")
    if len(class_names) != len(class_shares):
        raise ValueError("class_names and class_shares must have the same length")
    if not np.isclose(sum(class_shares), 1.0):
        raise ValueError(f"class_shares must sum to 1, got {sum(class_shares)}")
    unknown = set(coefficients or {}) - set(TUMANG_PREDICTORS)
    if unknown:
        raise ValueError(f"unknown predictors in coefficients: {sorted(unknown)}")
    beta = {**TUMANG_COEFFICIENTS, **(coefficients or {})}
    alpha = TUMANG_INTERCEPT if intercept is None else float(intercept)
    u = {**TUMANG_GROUP_EFFECTS, **(group_effects or {})}
    c = {name: 0.0 for name in class_names} | dict(class_effects or {})

    rng = np.random.default_rng(seed)
    theta = markusen_item_probabilities(class_names)
    z, items = simulate_responses(rng, np.asarray(class_shares, dtype=float), theta, n)

    workers = np.clip(np.round(np.exp(rng.normal(np.log(6.0), 0.55, size=n))), 1, 50)
    is_hub_class = np.array([class_names[k] == "Hub-and-Spoke" for k in z])
    hub_firm = rng.random(n) < np.where(is_hub_class, 0.12, 0.03)
    workers = np.where(hub_firm, rng.integers(25, 51, size=n), workers).astype(int)
    firm_age = np.clip(np.round(2 + rng.gamma(2.2, 6.5, size=n)), 2, 40).astype(int)
    likert = (0.08, 0.22, 0.34, 0.24, 0.12)
    buyer_network = 1 + rng.choice(5, size=n, p=likert)
    promotion = 1 + rng.choice(5, size=n, p=likert)
    training = (rng.random(n) < 0.4).astype(int)
    technology = 1 + rng.choice(5, size=n, p=(0.15, 0.3, 0.3, 0.17, 0.08))
    supplier_network = 1 + rng.choice(5, size=n, p=likert)
    product_line = rng.choice(len(PRODUCT_LINES), size=n, p=PRODUCT_LINE_SHARES)

    predictors = {
        "workers": workers,
        "firm_age": firm_age,
        "buyer_network": buyer_network,
        "promotion": promotion,
        "training": training,
        "technology": technology,
        "supplier_network": supplier_network,
    }
    eta = alpha + sum(beta[name] * predictors[name] for name in TUMANG_PREDICTORS)
    eta = eta + np.array([u[PRODUCT_LINES[g]] for g in product_line])
    eta = eta + np.array([c[class_names[k]] for k in z])
    export = (rng.random(n) < 1.0 / (1.0 + np.exp(-eta))).astype(int)

    width = max(3, len(str(n)))
    frame = pd.DataFrame(
        {
            "firm_id": [f"T{i + 1:0{width}d}" for i in range(n)],
            "export": export,
            **predictors,
            "product_line": [PRODUCT_LINES[g] for g in product_line],
            **{item: items[:, j] for j, item in enumerate(MARKUSEN_ITEMS)},
        }
    )
    frame = frame[[column.name for column in TUMANG_CODEBOOK]]
    truth = TumangTruth(
        intercept=alpha,
        coefficients={name: float(beta[name]) for name in TUMANG_PREDICTORS},
        group_effects={name: float(u[name]) for name in PRODUCT_LINES},
        class_names=tuple(class_names),
        class_shares=tuple(float(s) for s in class_shares),
        class_effects={name: float(c[name]) for name in class_names},
        item_probabilities=theta,
        latent_class=z,
        linear_predictor=eta,
        seed=seed,
    )
    return frame, truth


def write_tumang_csv(path: str | Path, n: int = 60, seed: int = DEFAULT_SEED) -> Path:
    """Simulate a Tumang survey and write it as CSV (UTF-8, Unix line ends).

    The output is byte-identical for the same ``n`` and ``seed``. The file is written to
    a temporary name first and then moved into place, so a failure never leaves a
    half-written file.

    Parameters
    ----------
    path : str or pathlib.Path
        Destination CSV.
    n : int
        Number of firms.
    seed : int
        Seed.

    Returns
    -------
    pathlib.Path
        The written path.
    """
    path = Path(path)
    frame, _ = simulate_tumang(n=n, seed=seed)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        frame.to_csv(tmp, index=False, lineterminator="\n", encoding="utf-8")
        tmp.replace(path)
    except BaseException:  # Ctrl-C or a full disk: leave no hidden half-written file
        tmp.unlink(missing_ok=True)
        raise
    return path

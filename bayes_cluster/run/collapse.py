"""The ``collapse`` vocabulary of a spec: which item levels become one category.

``[latent_class].collapse`` and ``[joint].collapse`` take the same values (one definition,
here): an array of arrays of levels, e.g. ``[[1, 2], [3], [4, 5]]``, or a name of
:data:`COLLAPSE_NAMES`.  The disagree / neutral / agree rule itself is
:data:`~bayes_cluster.common.latent_class_math.LIKERT_THREE_LEVELS`.  Used by
:mod:`bayes_cluster.run.spec`, :mod:`bayes_cluster.run.joint_section` and the runners.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

from bayes_cluster.common.latent_class_math import LIKERT_THREE_LEVELS

__all__ = ["COLLAPSE_NAMES", "Collapse", "check_collapse", "collapse_codes", "parse_collapse"]

Collapse = tuple[tuple[int, ...], ...]
"""Groups of item levels that become one category each (category ``g + 1`` = group ``g``)."""

COLLAPSE_NAMES: Mapping[str, Collapse | None] = MappingProxyType(
    {"three": LIKERT_THREE_LEVELS, "none": None}
)
"""Names a ``collapse`` key may give instead of its groups: ``"three"`` is disagree /
neutral / agree (``[[1, 2], [3], [4, 5]]``), ``"none"`` keeps the levels as they are."""

_COLLAPSE_FORM = 'an array of arrays of levels, e.g. [[1, 2], [3], [4, 5]], "three" or "none"'


def parse_collapse(value: Any) -> Collapse | None:
    """Return the level groups a spec's ``collapse`` value names (None: no collapsing).

    The one vocabulary of ``[latent_class].collapse`` and ``[joint].collapse``: an array
    of arrays of levels, or a name of :data:`COLLAPSE_NAMES`.  Disagree / neutral / agree
    with a group's levels in another order is returned as
    :data:`~bayes_cluster.common.latent_class_math.LIKERT_THREE_LEVELS`.

    Parameters
    ----------
    value : Any
        The TOML value.

    Returns
    -------
    tuple of tuple of int, or None
        The groups, in the order given.

    Raises
    ------
    ValueError
        Saying what is wrong (the message follows the spec key).

    Examples
    --------
    >>> parse_collapse("three")
    ((1, 2), (3,), (4, 5))
    >>> parse_collapse([[2, 1], [3], [5, 4]])
    ((1, 2), (3,), (4, 5))
    >>> parse_collapse([[1, 2, 3], [4, 5]])
    ((1, 2, 3), (4, 5))
    """
    if isinstance(value, str):
        if value not in COLLAPSE_NAMES:
            raise ValueError(f"must be {_COLLAPSE_FORM}, got {value!r}")
        return COLLAPSE_NAMES[value]
    groups = list(value) if isinstance(value, list | tuple) else []
    flat = [v for g in groups if isinstance(g, list | tuple) for v in g]
    if (
        not groups
        or not all(isinstance(g, list | tuple) and g for g in groups)
        or not all(isinstance(v, int) and not isinstance(v, bool) for v in flat)
    ):
        raise ValueError(f"must be {_COLLAPSE_FORM}, got {value!r}")
    if len(flat) != len(set(flat)):
        raise ValueError("a level appears in two groups")
    collapse = tuple(tuple(g) for g in groups)
    if tuple(tuple(sorted(g)) for g in collapse) == LIKERT_THREE_LEVELS:
        return LIKERT_THREE_LEVELS  # the levels of a group in another order: the same rule
    return collapse


def collapse_codes(collapse: Collapse) -> dict[int, int]:
    """Return item level -> collapsed category (1-based, in the order of the groups).

    Parameters
    ----------
    collapse : tuple of tuple of int
        Level groups (:func:`parse_collapse`).

    Returns
    -------
    dict of int to int

    Examples
    --------
    >>> collapse_codes(((1, 2), (3,), (4, 5)))
    {1: 1, 2: 1, 3: 2, 4: 3, 5: 3}
    """
    return {level: code for code, group in enumerate(collapse, start=1) for level in group}


def check_collapse(value: Any, items: Sequence[str], data: Any = None) -> Collapse | None:
    """Validate a ``collapse`` value for ``items``: :func:`parse_collapse` and levels.

    Parameters
    ----------
    value : Any
        The TOML value (:func:`parse_collapse`).
    items : sequence of str
        Item columns collapsed.
    data : DataSpec, optional
        The data section: the groups must cover each item's codebook levels.

    Returns
    -------
    tuple of tuple of int, or None
        The groups (None: no collapsing).

    Raises
    ------
    ValueError
        Saying what is wrong (the message follows the spec key).
    """
    collapse = parse_collapse(value)
    if collapse is None or data is None:
        return collapse
    flat = sorted(level for group in collapse for level in group)
    for item in items:
        column = data.column(item) if item in data.columns else None
        if column is not None and column.levels and set(column.levels) != set(flat):
            raise ValueError(
                f"groups cover levels {flat} but {item} has levels {list(column.levels)}"
            )
    return collapse

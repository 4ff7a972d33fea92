"""Markusen's (1996) industrial-district typology, as data.

Source: Markusen, A. (1996). "Sticky places in slippery space: a typology of
industrial districts". *Economic Geography* 72(3), 293-313, Table 1 and the
descriptions of each district type on pp. 296-306.

The signature table below is the *only* place in the package where the expected
response of each Markusen item under each district type is written down.
``H`` = high agreement expected, ``L`` = low agreement, ``M`` = mixed / middle.
"""

from __future__ import annotations

from types import MappingProxyType

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

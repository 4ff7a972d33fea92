"""Markusen typology: signature table, descriptive scoring and class-to-type matching."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from bayes_cluster import MARKUSEN_ITEMS, MARKUSEN_TYPES, SIGNATURES, descriptive_scoring
from bayes_cluster.common.dims import CATEGORY, ITEM, LATENT_CLASS, MARKUSEN_TYPE
from bayes_cluster.surveys.markusen import (
    agreement_balance,
    best_markusen_type,
    match_markusen_types,
    signature,
    signature_matrix,
)
from bayes_cluster.surveys.simulate import markusen_item_probabilities, simulate_tumang

# --- the table ----------------------------------------------------------------------------


def test_signature_table_is_complete():
    assert len(MARKUSEN_ITEMS) == 12
    for item, (statement, levels) in SIGNATURES.items():
        assert item.startswith("mk_") and statement
        assert tuple(levels) == MARKUSEN_TYPES
        assert set(levels.values()) <= {"H", "M", "L"}
    assert signature("mk_external_ownership", "Satellite") == "H"
    with pytest.raises(KeyError, match="unknown Markusen item 'mk_nope'"):
        signature("mk_nope", "Marshallian")


def test_signature_matrix_codes_levels_and_rejects_other_items():
    matrix = signature_matrix(["mk_hub_dependence"])
    np.testing.assert_array_equal(matrix, [[-1.0, 1.0, 0.0, 1.0]])  # L, H, M, H
    with pytest.raises(ValueError, match=r"items \['q1'\] are not Markusen items"):
        signature_matrix(["mk_cooperation", "q1"])


# --- descriptive scoring ------------------------------------------------------------------


def _tiny_frame() -> pd.DataFrame:
    # 4 firms; hand-computed shares below
    return pd.DataFrame(
        {
            "mk_small_local_firms": [5, 4, 4, 1],  # agree 3/4 -> H
            "mk_hub_dependence": [1, 2, 2, 3],  # disagree 3/4 -> L
            "mk_government_role": [4, 2, 3, np.nan],  # 1/3 each -> M (3 answered)
        }
    )


def test_descriptive_scoring_by_hand():
    items = ["mk_small_local_firms", "mk_hub_dependence", "mk_government_role"]
    result = descriptive_scoring(_tiny_frame(), items)
    table = result.item_table.set_index("item")
    np.testing.assert_allclose(table["share_agree"], [3 / 4, 0.0, 1 / 3])
    np.testing.assert_allclose(table["share_neutral"], [0.0, 1 / 4, 1 / 3])
    np.testing.assert_allclose(table["share_disagree"], [1 / 4, 3 / 4, 1 / 3])
    assert table["n_responses"].tolist() == [4, 4, 3]
    assert table["observed_level"].tolist() == ["H", "L", "M"]
    # signatures: small_local H/L/L/L, hub_dependence L/H/M/H, government M/H/H/H
    assert table["match_Marshallian"].tolist() == [True, True, True]
    assert table["match_Hub-and-Spoke"].tolist() == [False, False, False]
    assert table["match_Satellite"].tolist() == [False, False, False]
    scores = result.type_scores.set_index("type")
    assert scores["n_matched"].tolist() == [3, 0, 0, 0]
    assert scores["n_items"].tolist() == [3, 3, 3, 3]
    np.testing.assert_allclose(scores["score"], [1.0, 0.0, 0.0, 0.0])
    assert result.verdict == "Marshallian"
    assert result.verdict_types == ("Marshallian",)


def test_near_ties_are_reported_as_a_combination():
    # observed levels H, H, M, H, H; matches per type written beside each item
    frame = pd.DataFrame(
        {
            "mk_local_trade": [5, 5, 4, 4],  # H: Marshallian, Hub-and-Spoke
            "mk_long_term_ties": [4, 4, 5, 1],  # H: Marshallian, Hub-and-Spoke
            "mk_cooperation": [3, 3, 4, 2],  # M: Hub-and-Spoke only
            "mk_local_finance": [4, 5, 4, 5],  # H: Marshallian only
            "mk_external_links": [4, 4, 4, 2],  # H: Hub-and-Spoke, Satellite
        }
    )
    exact = descriptive_scoring(frame, list(frame.columns), near_tie=0)
    scores = exact.type_scores.set_index("type")["n_matched"]
    assert scores.tolist() == [3, 4, 1, 0]
    assert exact.verdict == "Hub-and-Spoke"
    relaxed = descriptive_scoring(frame, list(frame.columns), near_tie=1)
    assert relaxed.verdict == "Hub-and-Spoke and Marshallian"
    assert relaxed.verdict_types == ("Hub-and-Spoke", "Marshallian")
    everyone = descriptive_scoring(frame, list(frame.columns), near_tie=4)
    assert everyone.verdict == "Hub-and-Spoke, Marshallian, Satellite and State-anchored"


def test_descriptive_scoring_bad_input():
    frame = _tiny_frame()
    with pytest.raises(ValueError, match=r"lacks the Markusen item columns \['mk_cooperation'\]"):
        descriptive_scoring(frame, ["mk_small_local_firms", "mk_cooperation"])
    with pytest.raises(ValueError, match=r"items \['workers'\] are not Markusen items"):
        descriptive_scoring(frame.assign(workers=3), ["workers"])
    bad = frame.assign(mk_small_local_firms=[5, 6, 4, 1])
    with pytest.raises(ValueError, match="item 'mk_small_local_firms', row 1: value 6"):
        descriptive_scoring(bad, ["mk_small_local_firms"])
    with pytest.raises(ValueError, match="near_tie must be a whole number"):
        descriptive_scoring(frame, ["mk_small_local_firms"], near_tie=-1)


def test_descriptive_scoring_of_a_mostly_marshallian_cluster():
    frame, _ = simulate_tumang(n=400, seed=11)
    result = descriptive_scoring(frame)
    assert result.verdict_types[0] == "Marshallian"  # 70 % of simulated firms
    assert len(result.item_table) == 12


# --- matching class profiles to types -----------------------------------------------------


def test_signature_profiles_are_typed_as_their_own_type():
    theta = markusen_item_probabilities(MARKUSEN_TYPES)
    scores = match_markusen_types(theta, MARKUSEN_ITEMS)
    assert scores.shape == (4, 4)
    assert best_markusen_type(scores, as_names=True).tolist() == list(MARKUSEN_TYPES)
    hub = markusen_item_probabilities(("Hub-and-Spoke", "Marshallian"))
    assert best_markusen_type(match_markusen_types(hub, MARKUSEN_ITEMS)).tolist() == [1, 0]


def test_match_score_by_hand():
    # everyone strongly agrees with everything: balance +1 on every item, so the score is
    # (#H - #L) / 12; Marshallian has 8 H, 1 M, 3 L in the table -> 5 / 12
    theta = np.zeros((1, 12, 5))
    theta[..., 4] = 1.0
    scores = match_markusen_types(theta, MARKUSEN_ITEMS)
    expected = [
        (sum(lv == "H" for lv in col) - sum(lv == "L" for lv in col)) / 12
        for col in zip(*(SIGNATURES[i][1].values() for i in MARKUSEN_ITEMS), strict=True)
    ]
    np.testing.assert_allclose(scores[0], expected)
    assert scores[0, 0] == pytest.approx(5 / 12)
    # a uniform profile has balance 0: H and L items score 0, M items 1
    uniform = np.full((1, 12, 5), 0.2)
    n_mixed = [sum(SIGNATURES[i][1][t] == "M" for i in MARKUSEN_ITEMS) for t in MARKUSEN_TYPES]
    np.testing.assert_allclose(
        match_markusen_types(uniform, MARKUSEN_ITEMS)[0], np.array(n_mixed) / 12
    )


def test_matching_broadcasts_over_draws_and_collapsed_scales():
    theta = markusen_item_probabilities(("Marshallian", "Hub-and-Spoke"))
    draws = np.stack([theta, theta[::-1], theta])  # (draw, class, item, category)
    scores = match_markusen_types(draws, MARKUSEN_ITEMS)
    assert scores.shape == (3, 2, 4)
    np.testing.assert_allclose(scores[1], scores[0][::-1])
    # collapsing 1-2 / 3 / 4-5 into a 3-category scale gives the same scores
    collapsed = np.stack([theta[..., :2].sum(-1), theta[..., 2], theta[..., 3:].sum(-1)], axis=-1)
    np.testing.assert_allclose(match_markusen_types(collapsed, MARKUSEN_ITEMS), scores[0])
    np.testing.assert_allclose(agreement_balance(collapsed), agreement_balance(theta))


def test_matching_dataarray_keeps_dims():
    theta = markusen_item_probabilities(("Marshallian", "Hub-and-Spoke"))
    data = xr.DataArray(
        np.stack([theta, theta]),
        dims=("draw", LATENT_CLASS, ITEM, CATEGORY),
        coords={LATENT_CLASS: [1, 2], ITEM: list(MARKUSEN_ITEMS), CATEGORY: [1, 2, 3, 4, 5]},
    ).transpose(ITEM, "draw", CATEGORY, LATENT_CLASS)
    scores = match_markusen_types(data)
    assert scores.dims == ("draw", LATENT_CLASS, MARKUSEN_TYPE)
    assert scores[MARKUSEN_TYPE].to_numpy().tolist() == list(MARKUSEN_TYPES)
    best = best_markusen_type(scores, as_names=True)
    assert best.sel(draw=0).to_numpy().tolist() == ["Marshallian", "Hub-and-Spoke"]


def test_matching_rejects_other_surveys():
    theta = np.full((2, 3, 5), 0.2)
    with pytest.raises(ValueError, match=r"items \['q1', 'q2', 'q3'\] are not Markusen items"):
        match_markusen_types(theta, ["q1", "q2", "q3"])
    with pytest.raises(ValueError, match="items names 2 items but item_probabilities has 3"):
        match_markusen_types(theta, ["mk_cooperation", "mk_local_trade"])


# --- figures ------------------------------------------------------------------------------


def test_descriptive_scoring_figure_shows_shares_levels_and_verdict():
    from matplotlib.figure import Figure

    from bayes_cluster.plots.latent_class import plot_descriptive_scoring

    items = ["mk_small_local_firms", "mk_hub_dependence", "mk_government_role"]
    result = descriptive_scoring(_tiny_frame(), items)
    figure = plot_descriptive_scoring(result)
    assert isinstance(figure, Figure)
    shares, matches, scores = figure.axes
    widths = [patch.get_width() for patch in shares.patches]
    np.testing.assert_allclose(widths[:3], [1 / 4, 3 / 4, 1 / 3])  # disagree shares
    assert [t.get_text() for t in matches.texts][:3] == ["H", "L", "M"]  # Marshallian column
    assert scores.get_title() == "verdict: Marshallian"
    assert [p.get_height() for p in scores.patches] == [1.0, 0.0, 0.0, 0.0]

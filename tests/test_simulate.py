"""The synthetic Tumang survey: reproducible, plausible, and the bundled file is its output."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bayes_cluster.surveys.codebook import TUMANG_CODEBOOK, TUMANG_PREDICTORS
from bayes_cluster.surveys.markusen import MARKUSEN_ITEMS
from bayes_cluster.surveys.simulate import (
    DEFAULT_SEED,
    TUMANG_COEFFICIENTS,
    TUMANG_INTERCEPT,
    markusen_item_probabilities,
    simulate_tumang,
    write_tumang_csv,
)
from bayes_cluster.surveys.survey import load_survey, tumang_data_path


@pytest.fixture(scope="module")
def bundled():
    return simulate_tumang(n=60, seed=DEFAULT_SEED)


def test_same_seed_same_frame():
    first, truth_a = simulate_tumang(n=60, seed=11)
    second, truth_b = simulate_tumang(n=60, seed=11)
    pd.testing.assert_frame_equal(first, second)
    np.testing.assert_array_equal(truth_a.latent_class, truth_b.latent_class)
    np.testing.assert_array_equal(truth_a.linear_predictor, truth_b.linear_predictor)


def test_different_seeds_differ():
    first, _ = simulate_tumang(n=60, seed=11)
    second, _ = simulate_tumang(n=60, seed=12)
    numeric = [c.name for c in TUMANG_CODEBOOK if c.kind != "id"]
    assert not first[numeric].equals(second[numeric])
    assert (first["workers"] != second["workers"]).sum() > 30


def test_truth_has_four_effects_and_three_nulls(bundled):
    _, truth = bundled
    assert list(truth.coefficients) == list(TUMANG_PREDICTORS)
    assert truth.null_predictors == ("training", "technology", "supplier_network")
    effects = [name for name, value in truth.coefficients.items() if value != 0.0]
    assert effects == ["workers", "firm_age", "buyer_network", "promotion"]
    assert all(truth.coefficients[name] > 0 for name in effects)
    table = truth.coefficient_table()
    assert table.loc["Intercept", "true_value"] == TUMANG_INTERCEPT
    assert table.loc["promotion", "true_value"] == TUMANG_COEFFICIENTS["promotion"]


def test_linear_predictor_matches_the_stated_truth(bundled):
    frame, truth = bundled
    eta = truth.intercept + sum(truth.coefficients[p] * frame[p] for p in TUMANG_PREDICTORS)
    eta = eta + frame["product_line"].map(truth.group_effects)
    np.testing.assert_allclose(truth.linear_predictor, eta.to_numpy())


def test_bundled_seed_plausible_survey(bundled):
    frame, truth = bundled
    assert frame.shape == (60, 22)
    assert list(frame.columns) == [c.name for c in TUMANG_CODEBOOK]
    assert 25 <= frame["export"].sum() <= 35
    assert 4 <= frame["workers"].median() <= 8
    assert frame["workers"].min() >= 1
    assert frame["workers"].max() <= 50
    assert frame["firm_age"].between(2, 40).all()
    for item in MARKUSEN_ITEMS:
        assert frame[item].between(1, 5).all()
    assert frame["firm_id"].is_unique
    assert truth.seed == DEFAULT_SEED


def test_item_probabilities_follow_the_signatures():
    theta = markusen_item_probabilities()
    assert theta.shape == (2, len(MARKUSEN_ITEMS), 5)
    np.testing.assert_allclose(theta.sum(axis=-1), 1.0)
    small_local = MARKUSEN_ITEMS.index("mk_small_local_firms")  # H for Marshallian, L for hub
    assert theta[0, small_local, 3:].sum() > 0.75
    assert theta[1, small_local, :2].sum() > 0.75


def test_items_separate_the_classes_in_a_large_sample():
    frame, truth = simulate_tumang(n=2000, seed=5)
    marshallian = frame.loc[truth.latent_class == 0, "mk_small_local_firms"].mean()
    hub = frame.loc[truth.latent_class == 1, "mk_small_local_firms"].mean()
    expected = markusen_item_probabilities() @ np.arange(1, 6)
    small_local = MARKUSEN_ITEMS.index("mk_small_local_firms")
    assert marshallian == pytest.approx(expected[0, small_local], abs=0.1)
    assert hub == pytest.approx(expected[1, small_local], abs=0.15)
    assert np.mean(truth.latent_class == 0) == pytest.approx(0.7, abs=0.03)


def test_bad_arguments():
    with pytest.raises(ValueError, match="n must be at least 2, got 1"):
        simulate_tumang(n=1)
    with pytest.raises(ValueError, match=r"unknown predictors in coefficients: \['size'\]"):
        simulate_tumang(coefficients={"size": 1.0})


def test_bundled_csv_is_a_fresh_regeneration(tmp_path):
    fresh = write_tumang_csv(tmp_path / "tumang.csv", n=60, seed=DEFAULT_SEED)
    assert fresh.read_bytes() == tumang_data_path().read_bytes()
    assert not (tmp_path / ".tumang.csv.tmp").exists()


def test_bundled_csv_passes_validation(bundled):
    frame = load_survey(tumang_data_path())
    expected, _ = bundled
    pd.testing.assert_frame_equal(frame, expected, check_dtype=False)


def test_data_readme_matches_codebook_and_truth(bundled):
    from bayes_cluster.surveys.codebook import codebook_frame
    from bayes_cluster.surveys.simulate import LEVEL_PROBABILITIES, TUMANG_CLASS_SHARES

    readme = (tumang_data_path().parent / "README.md").read_text(encoding="utf-8")
    assert "SYNTHETIC" in readme
    assert "bayes-cluster simulate --n 60 --seed 2028 --out data/tumang_synthetic.csv" in readme
    for row in codebook_frame().itertuples():
        line = f"| `{row.column}` | {row.type} | {row.allowed} | {row.label_id} | {row.meaning} |"
        assert line in readme, row.column
    assert f"| Intercept (`alpha`) | {TUMANG_INTERCEPT} |" in readme
    for name, value in TUMANG_COEFFICIENTS.items():
        shown = "0 | null" if value == 0 else f"{value} per"
        assert f"| `{name}` | {shown}" in readme, name
    for level, probabilities in LEVEL_PROBABILITIES.items():
        assert " | ".join(f"{p:.2f}" for p in probabilities) + " |" in readme, level
    marshallian, hub = TUMANG_CLASS_SHARES
    assert f"Marshallian {marshallian}, Hub-and-Spoke {hub}" in readme
    frame, _ = bundled
    exporters = int(frame["export"].sum())
    assert f"{exporters} exporters and {60 - exporters} domestic" in readme

"""The run's choosing-K table and its plain-language reading (no fitting)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bayes_cluster.run.sections.latent_class import (
    bootstrap_lrt_table,
    choosing_k_reading,
    choosing_k_table,
)


def _loo(elpd: dict[int, float], se_diff: dict[int, float]) -> pd.DataFrame:
    best = max(elpd, key=elpd.get)
    table = pd.DataFrame(
        {
            "elpd_loo": elpd,
            "se": {k: 5.0 for k in elpd},
            "elpd_diff": {k: elpd[k] - elpd[best] for k in elpd},
            "se_diff": se_diff,
        }
    ).sort_values("elpd_loo", ascending=False)
    table.index = pd.Index([f"K={k}" for k in table.index], name="n_classes")
    return table


def _em() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "bic": {1: 900.0, 2: 880.0, 3: 890.0},
            "sabic": {1: 850.0, 2: 800.0, 3: 790.0},
            "caic": {1: 910.0, 2: 895.0, 3: 910.0},
            "relative_entropy": {1: np.nan, 2: 0.9, 3: 0.8},
        }
    )


def _blrt(p2: float, p3: float) -> pd.DataFrame:
    class Result:
        def __init__(self, k, lr, p):
            self.n_classes, self.statistic, self.p_value = k, lr, p
            self.n_bootstrap, self.n_single_start_optima, self.seconds = 99, 3, 1.5

    return bootstrap_lrt_table([Result(2, 60.0, p2), Result(3, 20.0, p3)])


def test_table_gathers_every_criterion_by_k():
    loo = _loo({1: -700.0, 2: -650.0, 3: -648.0}, {1: 10.0, 2: 2.5, 3: 0.0})
    table = choosing_k_table(
        loo,
        {1: (30, 66), 2: (3, 66), 3: (1, 66)},
        em_statistics=_em(),
        bootstrap=_blrt(0.01, 0.32),
    )
    assert list(table.index) == [1, 2, 3]
    assert table.loc[2, "bic_em"] == 880.0 and table.loc[3, "sabic_em"] == 790.0
    assert np.isnan(table.loc[1, "blrt_p"]) and table.loc[3, "blrt_p"] == 0.32
    assert table.loc[2, "elpd_diff"] == pytest.approx(-2.0)
    assert table.loc[1, "pairs_misfit"] == 30 and table.loc[1, "pairs"] == 66


def test_reading_says_what_each_criterion_chooses():
    loo = _loo({1: -700.0, 2: -650.0, 3: -648.0}, {1: 10.0, 2: 2.5, 3: 0.0})
    table = choosing_k_table(
        loo,
        {1: (30, 66), 2: (3, 66), 3: (1, 66)},
        em_statistics=_em(),
        bootstrap=_blrt(0.01, 0.32),
    )
    assert choosing_k_reading(table) == (
        "BIC chooses K = 2; the bootstrap LRT chooses K = 2 (3 against 2 classes: p = 0.32); "
        "LOO prefers K = 3 by 0.8 SE over K = 2: not a clear difference. Item pairs whose "
        "association the classes leave unexplained (posterior predictive bivariate residual, "
        "p < 0.05): K = 1: 30 of 66, K = 2: 3 of 66, K = 3: 1 of 66; a K that leaves few such "
        "pairs fits the pattern of answers, fewer classes than that leave association "
        "unexplained."
    )


def test_reading_without_em_and_with_a_clear_loo_gap():
    loo = _loo({1: -700.0, 2: -650.0}, {1: 10.0, 2: 0.0})
    table = choosing_k_table(loo, {1: (30, 66), 2: (2, 66)})
    assert "bic_em" not in table and "blrt_p" not in table
    assert choosing_k_reading(table).startswith(
        "LOO prefers K = 2 by 5.0 SE over K = 1: a clear difference."
    )


def test_bootstrap_steps_up_only_while_each_class_is_needed():
    loo = _loo({1: -700.0, 2: -650.0, 3: -648.0}, {1: 10.0, 2: 2.5, 3: 0.0})
    misfit = {1: (30, 66), 2: (3, 66), 3: (1, 66)}
    both = choosing_k_table(loo, misfit, bootstrap=_blrt(0.01, 0.02))
    assert choosing_k_reading(both).startswith("The bootstrap LRT chooses K = 3; LOO prefers")
    none = choosing_k_table(loo, misfit, bootstrap=_blrt(0.40, 0.01))
    assert choosing_k_reading(none).startswith(
        "The bootstrap LRT chooses K = 1 (2 against 1 class: p = 0.40); LOO"
    )


def test_bootstrap_spec_keys_default_and_bad_values(tmp_path):
    from pathlib import Path

    from bayes_cluster.run.spec import SpecError, load_spec

    data = Path(__file__).resolve().parents[1] / "data" / "tumang_synthetic.csv"
    head = f'[data]\npath = "{data.as_posix()}"\n\n[latent_class]\nitem_prefix = "mk_"\n'
    path = tmp_path / "spec.toml"
    path.write_text(head, encoding="utf-8")
    lc = load_spec(path).latent_class
    assert (lc.bootstrap_lrt, lc.bootstrap_samples) == (True, 99)
    path.write_text(head + "bootstrap_lrt = false\nbootstrap_samples = 199\n", encoding="utf-8")
    lc = load_spec(path).latent_class
    assert (lc.bootstrap_lrt, lc.bootstrap_samples) == (False, 199)
    path.write_text(head + 'bootstrap_lrt = "yes"\nbootstrap_samples = 0\n', encoding="utf-8")
    with pytest.raises(SpecError) as caught:
        load_spec(path)
    assert caught.value.problems == [
        "[latent_class].bootstrap_lrt: must be a boolean, got 'yes'",
        "[latent_class].bootstrap_samples: must be >= 19, got 0 (with fewer, the Monte Carlo "
        "p-value cannot fall to 0.05)",
    ]
    assert (
        f"{path}: [latent_class].bootstrap_samples: must be >= 19, got 0 (with fewer, the Monte "
        "Carlo p-value cannot fall to 0.05)"
    ) in str(caught.value)

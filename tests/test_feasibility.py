"""Up-front feasibility: what a valid survey cannot support is refused before fitting."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import pandas as pd
import pytest

from bayes_cluster.run.feasibility import (
    MIN_FIRMS,
    InfeasibleSpecError,
    check_feasibility,
    ensure_feasible,
    latent_class_parameters,
)
from bayes_cluster.run.spec import parse_spec
from bayes_cluster.surveys.survey import SurveyValidationError, load_survey, tumang_data_path

DATA = tumang_data_path()
ITEMS = ["mk_small_local_firms", "mk_hub_dependence"]


def spec_of(tmp_path: Path, **sections) -> object:
    raw = {"data": {"path": str(DATA)}, **sections}
    return parse_spec(raw, path=tmp_path / "spec.toml")


def logit(*predictors: str, **more) -> dict:
    return {"outcome": "export", "predictors": list(predictors), **more}


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return load_survey(DATA)


def _brute_force_parameters(n_classes: int, categories: list[int]) -> int:
    """Count free parameters by listing them: class shares, then each class's item rows."""
    shares = n_classes - 1  # the last share is 1 minus the others
    rows = sum(c - 1 for _, c in itertools.product(range(n_classes), categories))
    return shares + rows


@pytest.mark.parametrize(
    ("n_classes", "categories"), [(1, [2, 2]), (2, [3, 3]), (3, [5, 5, 2]), (4, [3] * 12)]
)
def test_latent_class_parameters_counts_every_free_probability(n_classes, categories):
    assert latent_class_parameters(n_classes, categories) == _brute_force_parameters(
        n_classes, categories
    )


def test_bundled_specs_are_feasible(frame):
    from bayes_cluster.run.spec import load_spec

    root = Path(__file__).resolve().parents[1] / "models"
    for name in ("tumang.toml", "tumang_joint.toml", "tumang_logit_only.toml"):
        assert check_feasibility(load_spec(root / name), frame) == []


def test_too_few_firms(tmp_path, frame):
    spec = spec_of(tmp_path, logistic=logit("workers"))
    small = frame.iloc[: MIN_FIRMS - 1]
    (problem,) = check_feasibility(spec, small)
    assert (problem.column, problem.value, problem.issue) == (
        None,
        "9 firms",
        "too few firms for any analysis",
    )
    assert check_feasibility(spec, frame.iloc[:MIN_FIRMS]) == []


def test_categorical_predictors_count_one_coefficient_per_extra_level(tmp_path, frame):
    numeric = ["workers", "firm_age", "buyer_network", "promotion", "training", "technology"]
    spec = spec_of(tmp_path, logistic=logit(*numeric, "product_line"))
    ten = frame.iloc[:10].reset_index(drop=True)
    four_lines = ten.assign(product_line=["a", "b", "c", "d", "a"] * 2)
    # 1 intercept + 6 slopes + 3 product-line dummies = 10 coefficients for 10 firms
    (problem,) = check_feasibility(spec, four_lines)
    assert problem.issue == (
        "[logistic].predictors: 10 coefficients (intercept + 9 terms) cannot be estimated "
        "from 10 firms"
    )
    assert (problem.value, problem.expected) == ("10 firms", "more firms than the 10 coefficients")
    two_lines = ten.assign(product_line=["a", "b"] * 5)  # 8 coefficients
    assert check_feasibility(spec, two_lines) == []


def test_coefficients_rule_on_its_own(tmp_path, frame):
    predictors = [c for c in frame.columns if c.startswith("mk_")][:11]
    spec = spec_of(tmp_path, logistic=logit(*predictors))
    twelve = frame.iloc[:12]
    problems = check_feasibility(spec, twelve)
    assert [p.issue for p in problems] == [
        "[logistic].predictors: 12 coefficients (intercept + 11 terms) cannot be estimated "
        "from 12 firms"
    ]
    assert check_feasibility(spec, frame.iloc[:13]) == []


def test_a_variant_group_needs_two_groups(tmp_path, frame):
    spec = spec_of(
        tmp_path,
        logistic=logit("workers", variants={"hier": {"group": "product_line"}}),
    )
    one_group = frame.assign(product_line="casting")
    (problem,) = check_feasibility(spec, one_group)
    assert (problem.column, problem.value) == ("product_line", "1 group")
    assert problem.issue == (
        "[logistic.variants.hier].group: varying intercepts need at least two groups"
    )
    assert check_feasibility(spec, frame) == []


def test_latent_classes_beyond_the_degrees_of_freedom(tmp_path, frame):
    # two five-level items: a 5 x 5 table, 24 degrees of freedom; K = 2 has 17 parameters,
    # K = 3 has 26 (counted independently above)
    spec = spec_of(tmp_path, latent_class={"items": ITEMS, "n_classes": [1, 3]})
    (problem,) = check_feasibility(spec, frame)
    assert problem.value == "3"
    assert problem.expected == "at most 2 classes"
    assert problem.issue == (
        "[latent_class].n_classes: 3 classes are not identified: 26 free parameters but the "
        "2 items' table has 24 degrees of freedom"
    )
    two = spec_of(tmp_path, latent_class={"items": ITEMS, "n_classes": [1, 2]})
    assert check_feasibility(two, frame) == []


def test_collapsed_items_have_fewer_degrees_of_freedom(tmp_path, frame):
    collapse = [[1, 2], [3], [4, 5]]
    spec = spec_of(tmp_path, latent_class={"items": ITEMS, "n_classes": 2, "collapse": collapse})
    (problem,) = check_feasibility(spec, frame)
    assert problem.issue.endswith(
        "9 free parameters but the 2 items' table has 8 degrees of freedom"
    )
    assert problem.expected == "at most 1 classes"


def test_more_classes_than_answer_patterns(tmp_path, frame):
    items = [c for c in frame.columns if c.startswith("mk_")]
    spec = spec_of(tmp_path, latent_class={"items": items, "n_classes": [1, 15]})
    twelve = frame.iloc[:12]
    patterns = len(twelve[items].drop_duplicates())
    (problem,) = check_feasibility(spec, twelve)
    assert problem.issue == (
        f"[latent_class].n_classes: 15 classes but the 12 firms show only {patterns} distinct "
        f"answer patterns on the {len(items)} items"
    )
    assert problem.expected == f"at most {patterns} classes"
    assert math.prod([5] * len(items)) > 15  # the degrees of freedom are not the limit
    assert check_feasibility(spec, frame) == []  # 60 firms, 60 patterns


def test_joint_classes_and_class_effects(tmp_path, frame):
    spec = spec_of(
        tmp_path,
        logistic=logit("workers"),
        joint={"n_classes": 5, "items": ITEMS},
    )
    problems = check_feasibility(spec, frame)
    assert [p.issue.split(":")[0] for p in problems] == ["[joint].n_classes"]
    assert "5 classes are not identified" in problems[0].issue


def test_ensure_feasible_raises_one_error_listing_all(tmp_path, frame):
    spec = spec_of(
        tmp_path,
        logistic=logit("workers", variants={"hier": {"group": "product_line"}}),
        latent_class={"items": ITEMS, "n_classes": [1, 3]},
    )
    bad = frame.assign(product_line="casting")
    with pytest.raises(InfeasibleSpecError) as caught:
        ensure_feasible(spec, bad)
    error = caught.value
    assert isinstance(error, SurveyValidationError)  # the CLI's survey handler catches it
    assert len(error.problems) == 2
    assert str(error).startswith(
        f"{tmp_path / 'spec.toml'}: the survey cannot support what the spec asks (2 problems):"
    )
    feasible = spec_of(
        tmp_path, logistic=logit("workers"), latent_class={"items": ITEMS, "n_classes": 2}
    )
    assert ensure_feasible(feasible, frame) is None

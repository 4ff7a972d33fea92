"""`[latent_class] measurement = "ordinal"`: the spec key and a small run of it.

A run of the ordinal measurement is the bundled Tumang study itself (models/tumang.toml):
tests/test_run.py reads its outputs (the ordinal and the nominal latent classes for every K
on the same uncollapsed answers, compared by PSIS-LOO and BIC, the ordinal classes typed).
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from bayes_cluster.run.spec import SpecError, load_spec

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data" / "tumang_synthetic.csv"

LATENT = f"""
[data]
path = "{DATA.as_posix()}"
codebook = "tumang"

[latent_class]
item_prefix = "mk_"
"""


def write(tmp_path: Path, text: str, name: str = "spec.toml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_bundled_ordinal_spec_loads_and_is_feasible():
    from bayes_cluster.run.feasibility import check_feasibility
    from bayes_cluster.surveys.survey import load_survey, tumang_data_path

    spec = load_spec(ROOT / "models" / "tumang_ordinal.toml")
    assert spec.latent_class.measurement == "ordinal"
    assert spec.latent_class.collapse is None
    assert spec.latent_class.n_classes == (1, 2, 3)
    assert spec.logistic is None
    assert check_feasibility(spec, load_survey(tumang_data_path())) == []


def test_measurement_defaults_to_nominal(tmp_path):
    assert load_spec(write(tmp_path, LATENT)).latent_class.measurement == "nominal"
    # the bundled study keeps the five Likert levels (tests/test_run.py runs it)
    tumang = load_spec(ROOT / "models" / "tumang.toml")
    assert tumang.latent_class.measurement == "ordinal"
    assert tumang.latent_class.collapse is None


@pytest.mark.parametrize(
    ("lines", "problem"),
    [
        (
            'measurement = "likert"',
            "[latent_class].measurement: must be 'nominal' or 'ordinal', got 'likert'",
        ),
        ("measurement = 3", "[latent_class].measurement: must be a string, got 3"),
        (
            'measurement = "ordinal"\ncollapse = "three"',
            "[latent_class].measurement: the ordinal model reads the item levels in their "
            'order, uncollapsed: set collapse = "none" (or leave collapse out)',
        ),
    ],
)
def test_bad_measurement_names_file_key_and_value(tmp_path, lines, problem):
    path = write(tmp_path, LATENT + lines + "\n")
    with pytest.raises(SpecError) as caught:
        load_spec(path)
    assert caught.value.problems == [problem]
    assert f"{path}: {problem}" in str(caught.value)


def test_ordinal_needs_items_on_the_same_levels(tmp_path):
    (tmp_path / "survey.csv").write_text("firm,q1,q2\na,1,1\nb,5,3\n", encoding="utf-8")
    text = """
    [data]
    path = "survey.csv"
    id = "firm"

    [data.columns]
    firm = "id"
    q1 = { kind = "likert", levels = [1, 2, 3, 4, 5] }
    q2 = { kind = "likert", levels = [1, 2, 3] }

    [latent_class]
    items = ["q1", "q2"]
    measurement = "ordinal"
    """
    problem = (
        "[latent_class].measurement: the ordinal model needs every item on the same levels, "
        "but the codebook gives q1: [1, 2, 3, 4, 5]; q2: [1, 2, 3]"
    )
    with pytest.raises(SpecError) as caught:
        load_spec(write(tmp_path, text))
    assert problem in caught.value.problems
    # the same survey read as nominal items is a valid spec
    nominal = load_spec(write(tmp_path, text.replace('"ordinal"', '"nominal"'), "n.toml"))
    assert nominal.latent_class.measurement == "nominal"


def test_methods_text_describes_the_ordinal_model_it_fits():
    from bayes_cluster.run.methods_text import methods_text

    spec = load_spec(ROOT / "models" / "tumang_ordinal.toml")
    text = methods_text(spec, sampler=spec.sampler, n_firms=60, versions={}).to_markdown()
    assert "an ordinal latent class model treated each item as a cumulative logit" in text
    assert "Normal(0, 2); cutpoints ordered Normal(0, 3)" in text
    nominal = load_spec(ROOT / "models" / "tumang_covariates.toml")
    assert nominal.latent_class.measurement == "nominal"
    other = methods_text(nominal, sampler=nominal.sampler, n_firms=60, versions={})
    assert "ordinal" not in other.to_markdown()

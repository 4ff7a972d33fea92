"""Study and plan specs refuse settings that could only produce failed or meaningless fits.

A study with one chain has no R-hat, so every Bayesian fit would be recorded as failed; a
plan with an effect of 1e308 per unit only simulates separated (or overflowing) surveys.
Both are refused at parse time, with the key and the value in the message.
"""

from __future__ import annotations

import pytest

from bayes_cluster.run.spec import SpecError
from bayes_cluster.studies.plan import MAX_LOG_ODDS_PER_SD, load_plan_spec, parse_plan_spec
from bayes_cluster.studies.study import parse_study_spec
from bayes_cluster.surveys.simulate import simulate_tumang

STUDY = {"sizes": [30], "replicates": 2, "methods": ["mle"], "seed": 1}


def _plan_problems(plan: dict) -> list[str]:
    with pytest.raises(SpecError) as caught:
        parse_plan_spec({"study": STUDY, "plan": plan}, source="p.toml")
    return caught.value.problems


def test_a_study_with_one_chain_is_refused():
    raw = {"study": {**STUDY, "methods": ["bayes"]}, "sampler": {"chains": 1}}
    with pytest.raises(SpecError) as caught:
        parse_study_spec(raw, source="s.toml")
    assert caught.value.problems == [
        "[sampler].chains: must be >= 2, got 1 (R-hat compares at least two chains)"
    ]


def test_a_plan_with_an_absurd_slope_is_refused_with_its_size_per_sd():
    sd = simulate_tumang(n=20_000, seed=1)[0]["workers"].std()
    assert _plan_problems({"workers": 1e308}) == [
        "[plan].workers: the central 98% of this effect reaches 1e+308 per unit, more than "
        f"10 log-odds per standard deviation of workers (SD {sd:.3g} in the Tumang design; "
        "an odds ratio above 22,000 per SD), which only simulates separated surveys: is the "
        "effect on the log-odds scale, per unit of the predictor?"
    ]


def test_the_bound_reads_the_spread_of_a_distribution_not_only_its_mean():
    # Normal(0.8, 4): mean 0.8 is plausible, but 0.8 + 2.326 * 4 = 10.1 per unit of a
    # Likert item (SD about 1.12) is about 11 log-odds per SD: refused
    problems = _plan_problems({"buyer_network": {"dist": "Normal", "mu": 0.8, "sigma": 4.0}})
    assert len(problems) == 1
    assert problems[0].startswith(
        "[plan].buyer_network: the central 98% of this effect reaches 10.11"
    )
    # the same mean with sigma 0.25 (the bundled plan's) is accepted
    spec = parse_plan_spec(
        {"study": STUDY, "plan": {"buyer_network": {"dist": "Normal", "mu": 0.8, "sigma": 0.25}}},
        source="p.toml",
    )
    assert spec.effect_priors["buyer_network"].largest == pytest.approx(
        0.8 + 2.3263 * 0.25, abs=1e-4
    )


def test_an_absurd_intercept_is_refused():
    assert _plan_problems({"intercept": -100.0}) == [
        "[plan].intercept: the central 98% of the intercept reaches 100 log-odds, beyond what "
        f"a plan can simulate (at most {5 * MAX_LOG_ODDS_PER_SD:g} in absolute value)"
    ]


def test_the_bundled_plan_spec_is_within_the_bounds():
    spec = load_plan_spec("models/plan_tumang.toml")
    assert spec.effect_priors["promotion"].mean == 0.7

"""TOML specs: the bundled specs load; malformed specs name the file and key, write nothing."""

from __future__ import annotations

import textwrap
import tomllib
from pathlib import Path

import pytest

from bayes_cluster.cli import main
from bayes_cluster.run.spec import SpecError, load_spec, parse_spec
from bayes_cluster.surveys.codebook import TUMANG_PREDICTORS
from bayes_cluster.surveys.markusen import MARKUSEN_ITEMS

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data" / "tumang_synthetic.csv"

MINIMAL = f"""
[data]
path = "{DATA.as_posix()}"

[logistic]
outcome = "export"
predictors = ["workers", "promotion"]
"""


def write(tmp_path: Path, text: str, name: str = "spec.toml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def problems_of(tmp_path: Path, text: str) -> tuple[Path, list[str], str]:
    path = write(tmp_path, text)
    with pytest.raises(SpecError) as caught:
        load_spec(path)
    return path, caught.value.problems, str(caught.value)


def test_bundled_tumang_spec_is_the_full_study():
    spec = load_spec(ROOT / "models" / "tumang.toml")
    assert spec.name == "tumang"
    assert spec.data.path == DATA.resolve()  # relative to the spec file, not the cwd
    assert spec.logistic.outcome == "export"
    assert spec.logistic.predictors == TUMANG_PREDICTORS
    assert [v.name for v in spec.logistic.variants] == ["hierarchical"]
    assert spec.logistic.variants[0].group == "product_line"
    assert spec.latent_class.items == MARKUSEN_ITEMS  # from item_prefix = "mk_"
    assert spec.latent_class.n_classes == (1, 2, 3)
    # the five Likert levels, ordinal beside nominal, and covariates of class membership
    assert spec.latent_class.collapse is None
    assert spec.latent_class.measurement == "ordinal"
    assert spec.latent_class.covariates == ("workers", "firm_age")
    assert spec.frequentist.methods == ("mle", "firth")
    assert (spec.sampler.chains, spec.sampler.draws, spec.sampler.backend) == (4, 1000, "nutpie_c")
    quick = spec.sampler.for_run(quick=True)
    assert (quick.draws, quick.tune, quick.chains, quick.backend) == (150, 150, 2, "nutpie_c")
    assert quick.seed == spec.sampler.seed
    # the thesis's published conclusions, kept as data in the spec
    assert "Diponegoro" in spec.published.source and "2012" in spec.published.source
    assert spec.published.cluster_pattern == "Marshallian and Hub-and-Spoke"
    effects = [c for c, v in spec.published.conclusions.items() if v == "effect"]
    assert effects == ["workers", "firm_age", "buyer_network", "promotion"]
    assert {c for c, v in spec.published.conclusions.items() if v == "no clear effect"} == {
        "training",
        "technology",
        "supplier_network",
    }


# study and plan specs (a [study] table: models/simulation.toml, models/plan_tumang.toml) are
# read by bayes_cluster.studies (tests/test_study.py, tests/test_plan.py), not as run specs
MODEL_SPECS = sorted(
    p
    for p in (ROOT / "models").glob("*.toml")
    if "study" not in tomllib.loads(p.read_text(encoding="utf-8"))
)


@pytest.mark.parametrize("path", MODEL_SPECS, ids=lambda p: p.name)
def test_every_bundled_spec_loads(path):
    spec = load_spec(path)
    # every bundled spec runs at least one analysis section (built-in or registered, e.g. [joint])
    assert spec.logistic is not None or spec.latent_class is not None or spec.extra


def test_omitted_sections_are_not_run(tmp_path):
    spec = load_spec(write(tmp_path, MINIMAL))
    assert spec.latent_class is None
    assert spec.frequentist is None
    assert spec.published is None
    assert spec.logistic.priors == {}  # the model's own defaults apply
    assert spec.report.formats == ("html", "md")


def test_unknown_key_names_file_and_key(tmp_path):
    path, problems, message = problems_of(
        tmp_path,
        MINIMAL.replace('predictors = ["workers", "promotion"]', 'predictor = ["workers"]'),
    )
    assert str(path) in message
    assert problems[0].startswith("[logistic].predictor: unknown key; allowed keys of [logistic]:")
    assert "[logistic].predictors: is required" in message


def test_missing_predictor_column_names_file_and_key(tmp_path):
    path, problems, message = problems_of(
        tmp_path, MINIMAL.replace('"promotion"]', '"promotoin"]')
    )
    assert problems == [
        "[logistic].predictors: column 'promotoin' is not in the data's codebook (columns: "
        + ", ".join(
            [
                "firm_id",
                "export",
                *TUMANG_PREDICTORS,
                "product_line",
                *MARKUSEN_ITEMS,
            ]
        )
        + ")"
    ]
    assert message.startswith("invalid spec (1 problem):\n  " + str(path) + ": [logistic]")


def test_bad_prior_name_names_file_and_key(tmp_path):
    _, problems, _ = problems_of(
        tmp_path,
        MINIMAL + '[logistic.priors.slopes]\ndist = "Cauchyy"\nmu = 0\nsigma = 2.5\n',
    )
    assert len(problems) == 1
    assert problems[0].startswith("[logistic.priors.slopes].dist: unknown prior 'Cauchyy'; known:")


def test_bad_prior_parameters_are_reported_by_key(tmp_path):
    _, problems, _ = problems_of(
        tmp_path,
        MINIMAL + '[logistic.priors.slopes]\ndist = "StudentT"\nmu = 0\nsigma = -1\n',
    )
    assert len(problems) == 1
    assert problems[0].startswith("[logistic.priors.slopes]: prior for 'slopes': StudentT takes")
    assert "missing ['nu']" in problems[0]


def test_every_problem_is_listed_at_once(tmp_path):
    text = f"""
    [data]
    path = "{DATA.as_posix()}"
    colour = "blue"

    [logistic]
    outcome = "workers"
    predictors = ["firm_age"]
    transforms = {{ firm_age = "cube" }}

    [latent_class]
    items = ["mk_cooperation", "mk_nonsense"]
    n_classes = [3, 1]

    [sampler]
    chains = 0
    backend = "stan"

    [analysis]
    x = 1
    """
    _, problems, message = problems_of(tmp_path, text)
    keys = [p.split(":")[0] for p in problems]
    assert keys == [
        "[analysis]",
        "[data].colour",
        "[logistic].outcome",
        "[logistic.transforms].firm_age",
        "[latent_class].items",
        "[latent_class].n_classes",
        "[sampler].backend",
        "[sampler].chains",
    ]
    assert "column 'workers' is of kind 'count'; expected binary" in message
    assert "unknown transform 'cube'; known: log, log1p, sqrt" in message
    assert message.startswith("invalid spec (8 problems)")


def test_invalid_toml_and_missing_file(tmp_path):
    path = write(tmp_path, "[data\npath = 1\n")
    with pytest.raises(SpecError, match=r"spec\.toml: not valid TOML"):
        load_spec(path)
    with pytest.raises(SpecError, match="no such spec file"):
        load_spec(tmp_path / "absent.toml")


def test_missing_data_file_is_named(tmp_path):
    _, problems, _ = problems_of(tmp_path, MINIMAL.replace(DATA.as_posix(), "nowhere.csv"))
    assert problems == [f"[data].path: no such file: {(tmp_path / 'nowhere.csv').resolve()}"]


def test_custom_columns_replace_the_tumang_codebook(tmp_path):
    text = f"""
    [data]
    path = "{DATA.as_posix()}"
    id = "student"

    [data.columns]
    student = "id"
    admitted = {{ kind = "binary" }}
    gre = {{ kind = "number", minimum = 200 }}
    rank = {{ kind = "likert", levels = [1, 2, 3, 4] }}

    [logistic]
    outcome = "admitted"
    predictors = ["gre", "rank"]
    transforms = {{ gre = "log" }}
    """
    spec = load_spec(write(tmp_path, text))
    assert spec.data.columns == ("student", "admitted", "gre", "rank")
    assert spec.data.column("gre").minimum == 200
    assert spec.data.column("rank").levels == (1, 2, 3, 4)
    assert spec.logistic.terms == ("log(gre)", "rank")


def test_likert_column_needs_levels(tmp_path):
    text = f"""
    [data]
    path = "{DATA.as_posix()}"
    [data.columns]
    y = "binary"
    score = "likert"
    [logistic]
    outcome = "y"
    predictors = ["score"]
    """
    _, problems, _ = problems_of(tmp_path, text)
    assert problems == [
        "[data.columns.score].levels: a likert column needs integer levels, e.g. [1, 2, 3, 4, 5]",
        "[logistic].predictors: column 'score' is not in the data's codebook (columns: y)",
    ]


def test_published_conclusions_are_checked(tmp_path):
    text = (
        MINIMAL + '[published]\nsource = "x"\n[published.conclusions]\nworkers = "significant"\n'
    )
    _, problems, _ = problems_of(tmp_path, text)
    assert problems == [
        "[published.conclusions].workers: must be one of 'effect', 'no clear effect', "
        "got 'significant'"
    ]


def test_a_spec_must_ask_for_an_analysis(tmp_path):
    _, problems, _ = problems_of(tmp_path, f'[data]\npath = "{DATA.as_posix()}"\n')
    assert problems == ["the spec asks for no analysis: add [logistic] and/or [latent_class]"]


def test_parse_spec_from_a_mapping():
    spec = parse_spec(
        {
            "data": {"path": str(DATA)},
            "latent_class": {"items": list(MARKUSEN_ITEMS[:4]), "n_classes": 2},
        },
        name="mapping",
    )
    assert spec.name == "mapping"
    assert spec.latent_class.n_classes == (2,)
    assert spec.logistic is None


@pytest.mark.parametrize(
    ("replace", "key"),
    [
        ('predictors = ["workers", "promotion"]', "[logistic].predictor"),
        ('"promotion"]', "[logistic].predictors"),
    ],
)
def test_cli_run_rejects_a_malformed_spec_and_writes_nothing(tmp_path, capsys, replace, key):
    bad = {
        "[logistic].predictor": 'predictor = ["workers"]',
        "[logistic].predictors": '"no_such_column"]',
    }[key]
    path = write(tmp_path, MINIMAL.replace(replace, bad))
    before = set(tmp_path.rglob("*"))
    assert main(["run", str(path), "--out", str(tmp_path / "out")]) == 1
    error = capsys.readouterr().err
    assert error.startswith("INVALID: invalid spec")
    assert f"{path}: {key}" in error
    assert set(tmp_path.rglob("*")) == before  # nothing written, not even a temporary folder


# --------------------------------------------------------------------------- issue 11


def test_number_format_is_declared_in_the_data_section(tmp_path):
    spec = load_spec(
        write(tmp_path, MINIMAL.replace("[data]\n", '[data]\ndecimal = ","\nthousands = "."\n'))
    )
    assert (spec.data.decimal, spec.data.thousands) == (",", ".")
    plain = load_spec(write(tmp_path, MINIMAL, name="plain.toml"))
    assert (plain.data.decimal, plain.data.thousands) == (None, None)


@pytest.mark.parametrize(
    ("lines", "problem"),
    [
        ('decimal = ";"', "[data].decimal: must be '.' or ',', got ';'"),
        (
            'thousands = "."',
            "[data].thousands: needs [data].decimal (declare the decimal mark too)",
        ),
        (
            'decimal = "."\nthousands = "."',
            "[data].thousands: must differ from [data].decimal ('.')",
        ),
        (
            'decimal = ","\nthousands = "_"',
            "[data].thousands: must be one of '', '.', ',', ' ', \"'\", got '_'",
        ),
    ],
)
def test_bad_number_format_names_the_key(tmp_path, lines, problem):
    _, problems, _ = problems_of(tmp_path, MINIMAL.replace("[data]\n", f"[data]\n{lines}\n"))
    assert problems == [problem]


@pytest.mark.parametrize(
    ("setting", "problem"),
    [
        (
            "draws = 99",
            "[sampler].draws: must be >= 100, got 99 (R-hat, ESS and PSIS-LOO need at least 100 "
            "draws a chain)",
        ),
        (
            "tune = 0",
            "[sampler].tune: must be >= 100, got 0 (NUTS adapts its step size and mass matrix "
            "while tuning)",
        ),
        (
            "chains = 1",
            "[sampler].chains: must be >= 2, got 1 (R-hat compares at least two chains)",
        ),
        (
            "chains = 65",
            "[sampler].chains: must be <= 64, got 65 (R-hat compares at least two chains)",
        ),
        (
            "seed = 4294967296",
            "[sampler].seed: must be <= 4294967295, got 4294967296 (a seed is a 32-bit unsigned "
            "integer)",
        ),
    ],
)
def test_sampler_bounds_state_the_limit_and_the_reason(tmp_path, setting, problem):
    _, problems, _ = problems_of(tmp_path, MINIMAL + f"\n[sampler]\n{setting}\n")
    assert problems == [problem]


def test_smallest_sampler_settings_are_valid(tmp_path):
    text = MINIMAL + "\n[sampler]\ndraws = 100\ntune = 100\nchains = 2\nseed = 0\n"
    text += "[sampler.quick]\ndraws = 100\ntune = 100\nchains = 2\n"
    sampler = load_spec(write(tmp_path, text)).sampler
    assert (sampler.draws, sampler.tune, sampler.chains, sampler.seed) == (100, 100, 2, 0)
    assert sampler.for_run(quick=True).draws == 100


@pytest.mark.parametrize(
    ("table", "prior", "problem"),
    [
        (
            "logistic.priors.group_sd",
            'dist = "Normal"\nmu = 0\nsigma = 1',
            "[logistic.priors.group_sd]: prior for 'group_sd': Normal has real support but a "
            "positive distribution is needed (e.g. HalfNormal or Exponential)",
        ),
        (
            "logistic.priors.slopes",
            'dist = "HalfCauchy"\nsigma = 1',
            "[logistic.priors.slopes]: prior for 'slopes': HalfCauchy has positive support but "
            "a real distribution is needed (e.g. Normal or StudentT)",
        ),
        (
            "logistic.priors.intercept",
            'dist = "Normal"\nmu = 0\nsigma = 1e7',
            "[logistic.priors.intercept]: prior for 'intercept': parameter 'sigma' must be at "
            "most 1e+06 in size (the model's arithmetic overflows beyond), got 1e+07",
        ),
    ],
)
def test_prior_family_must_serve_the_parameter(tmp_path, table, prior, problem):
    _, problems, _ = problems_of(tmp_path, MINIMAL + f"\n[{table}]\n{prior}\n")
    assert problems == [problem]


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16", "utf-16-be"])
def test_spec_read_in_unicode_encodings(tmp_path, encoding):
    path = tmp_path / "spec.toml"
    text = 'title = "Klaster logam Tumang — Société"\n' + textwrap.dedent(MINIMAL)
    data = text.encode(encoding)
    if encoding == "utf-16-be":
        data = b"\xfe\xff" + data
    path.write_bytes(data)
    spec = load_spec(path)
    assert spec.report.title == "Klaster logam Tumang — Société"
    assert spec.text == text


def test_latin1_spec_is_refused_naming_line_and_byte(tmp_path):
    path = tmp_path / "spec.toml"
    path.write_bytes(('title = "ok"\n# Soci\u00e9t\u00e9\n' + MINIMAL).encode("latin-1"))
    with pytest.raises(SpecError) as caught:
        load_spec(path)
    assert caught.value.problems == [
        "not UTF-8 text (byte 0xE9 on line 2; perhaps Latin-1 or Windows-1252): save the spec "
        "as UTF-8"
    ]

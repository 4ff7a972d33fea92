"""Hostile inputs to today's new surfaces: plan specs, saved models, the bootstrap LRT.

Each test feeds one bad input and asserts the exact message a user reads (no traceback,
nothing of theirs deleted or replaced). One tiny Bayesian fit, shared by the module.
"""

from __future__ import annotations

import json
import re
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from bayes_cluster.analyses.n_classes import bootstrap_lrt
from bayes_cluster.cli import main
from bayes_cluster.estimators.logistic import BayesianLogit
from bayes_cluster.inference.base import MODEL_ATTR, MODULE_ATTR, STATE_ATTR, load_model
from bayes_cluster.inference.diagnostics import ConvergenceWarning
from bayes_cluster.run.spec import SpecError
from bayes_cluster.studies.plan import load_plan_spec, parse_plan_spec, plan_markdown
from bayes_cluster.surveys.markusen import MARKUSEN_ITEMS
from bayes_cluster.surveys.simulate import simulate_tumang

STUDY = {"sizes": [30], "replicates": 2, "methods": ["mle"], "seed": 1}


@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> tuple[BayesianLogit, Path]:
    """A tiny BayesianLogit fit and its .nc file (a 100-draw fit may fail its checks)."""
    frame, _ = simulate_tumang(n=60, seed=4)
    model = BayesianLogit("export", ["workers", "promotion"])
    with warnings.catch_warnings():
        # only the convergence warning of a short fit; every other warning still fails
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(frame, draws=100, tune=100, chains=2, random_seed=1)
    return model, model.save(tmp_path_factory.mktemp("saved") / "fit.nc")


def _edited(source: Path, target: Path, **attrs: str) -> Path:
    """Copy of a saved file with some attributes replaced (as a user editing it would)."""
    tree = xr.open_datatree(source, engine="h5netcdf").load()
    tree.attrs.update(attrs)
    tree.to_netcdf(target, engine="h5netcdf")
    return target


def _problems(raw: dict, folder: Path) -> list[str]:
    with pytest.raises(SpecError) as caught:
        parse_plan_spec(raw, source="p.toml", folder=folder)
    return caught.value.problems


# ------------------------------------------------------------------ loading saved models


def test_load_a_folder_names_it(tmp_path):
    for folder in (tmp_path / "fit.nc", tmp_path / "results"):
        folder.mkdir()
        message = f"{str(folder)!r} is a folder, not a saved model (a .nc file or a .zarr store)"
        with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
            load_model(folder)
        with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
            BayesianLogit.load(folder)


def test_load_damaged_state_json_is_a_value_error(saved, tmp_path):
    _, path = saved
    garbage = _edited(path, tmp_path / "garbage.nc", **{STATE_ATTR: "{not json"})
    with pytest.raises(ValueError) as caught:
        load_model(garbage)
    assert type(caught.value) is ValueError  # not a bare JSONDecodeError
    assert str(caught.value) == (
        f"{str(garbage)!r}: its 'bayes_cluster_state' attribute is not the JSON save() "
        "writes (Expecting property name enclosed in double quotes: line 1 column 2 "
        "(char 1)); the file was edited or damaged: re-fit and save it again"
    )
    listed = _edited(path, tmp_path / "list.nc", **{STATE_ATTR: "[1, 2]"})
    with pytest.raises(ValueError, match="attribute lacks the 'config' and 'state' tables"):
        BayesianLogit.load(listed)


def test_load_edited_config_is_a_value_error(saved, tmp_path):
    _, path = saved
    state = json.dumps({"config": {"bogus": 1}, "state": {}})
    edited = _edited(path, tmp_path / "edited.nc", **{STATE_ATTR: state})
    with pytest.raises(ValueError) as caught:
        load_model(edited)
    assert str(caught.value) == (
        f"{str(edited)!r} holds a BayesianLogit fit whose saved config or state this "
        "version of bayes_cluster cannot restore (TypeError: BayesianLogit.__init__() got "
        "an unexpected keyword argument 'bogus'); re-fit and save it again"
    )


def test_load_a_zarr_store_not_ours(tmp_path):
    store = tmp_path / "other.zarr"
    store.mkdir()
    (store / "notes.txt").write_text("x")
    with pytest.raises(ValueError, match=f"^{re.escape(repr(str(store)))} is not a saved model"):
        load_model(store)


# ------------------------------------------------------------------ saving never clobbers


def test_save_refuses_what_no_save_wrote(saved, tmp_path):
    model, _ = saved
    store = tmp_path / "user.zarr"
    store.mkdir()
    (store / "precious.txt").write_text("mine")
    data = tmp_path / "data.nc"
    data.write_text("user data")
    for target in (store, data):
        with pytest.raises(ValueError) as caught:
            model.save(target)
        assert str(caught.value) == (
            f"cannot save to {str(target)!r}: it exists and was not written by a "
            "bayes_cluster model's save(); it is left untouched: choose another path"
        )
    assert (store / "precious.txt").read_text() == "mine"
    assert data.read_text() == "user data"
    folder = tmp_path / "fit.nc"
    folder.mkdir()
    with pytest.raises(ValueError, match=r"it is a folder, not a saved model; it is left"):
        model.save(folder)
    with pytest.raises(FileNotFoundError, match=r"the folder '.*nowhere' does not exist$"):
        model.save(tmp_path / "nowhere" / "fit.nc")


def test_save_zarr_twice_replaces_its_own_store(saved, tmp_path):
    model, _ = saved
    path = model.save(tmp_path / "fit.zarr")
    assert model.save(path) == path  # its own store: replaced, no leftovers beside it
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fit.zarr"]
    assert load_model(path).summary().equals(model.summary())


# ------------------------------------------------------------------ plan: spec and pilot


def test_plan_pilot_folder_and_other_model(saved, tmp_path):
    _, path = saved
    (tmp_path / "pilots").mkdir()
    problems = _problems({"study": STUDY, "plan": {"pilot": "pilots"}}, tmp_path)
    assert problems == [
        f"[plan].pilot: {tmp_path / 'pilots'} is a folder, not a saved BayesianLogit "
        "(.nc or .zarr)"
    ]
    other = _edited(
        path,
        tmp_path / "lc.nc",
        **{
            MODEL_ATTR: "BayesianLatentClass",
            MODULE_ATTR: "bayes_cluster.estimators.latent_class",
        },
    )
    problems = _problems({"study": STUDY, "plan": {"pilot": "lc.nc"}}, tmp_path)
    assert problems == [
        f"[plan].pilot: cannot load {other} as a saved BayesianLogit: {str(other)!r} holds a "
        "BayesianLatentClass fit, not a BayesianLogit: load it with "
        "BayesianLatentClass.load() or bayes_cluster.load_model()"
    ]


def test_plan_pilot_zarr_store_and_its_diagnostics(saved, tmp_path):
    model, path = saved
    model.save(tmp_path / "pilot.zarr")
    spec = parse_plan_spec({"study": STUDY, "plan": {"pilot": "pilot.zarr"}}, folder=tmp_path)
    from_nc = parse_plan_spec({"study": STUDY, "plan": {"pilot": str(path)}})
    np.testing.assert_array_equal(spec.pilot_draws, from_nc.pilot_draws)
    assert (
        spec.pilot_sha256
        == parse_plan_spec(
            {"study": STUDY, "plan": {"pilot": "pilot.zarr"}}, folder=tmp_path
        ).pilot_sha256
    )
    verdict = model.diagnostics_
    expected = "PASSED" if verdict.passed else f"FAILED: {verdict.compact_summary()}"
    assert spec.pilot_diagnostics == expected
    assert f"- the pilot fit's MCMC diagnostics: {expected}" in plan_markdown(
        pd.DataFrame({"method": [], "term": [], "n": []}), spec, []
    )


def test_plan_empty_spec_lists_each_problem_once(tmp_path):
    spec = tmp_path / "empty.toml"
    spec.write_text("")
    with pytest.raises(SpecError) as caught:
        load_plan_spec(spec)
    assert caught.value.problems == [
        "[study]: is required",
        "[study].sizes: is required",
        '[plan]: is required: the assumed effects (e.g. workers = { dist = "Normal", mu = '
        '0.15, sigma = 0.05 }) and/or pilot = "fit.nc"',
    ]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs /proc")
def test_plan_out_that_cannot_be_created(tmp_path, capsys):
    spec = tmp_path / "plan.toml"
    spec.write_text(
        '[study]\nsizes = [30]\nreplicates = 2\nmethods = ["mle"]\n[plan]\nworkers = 0.1\n'
    )
    code = main(["plan", str(spec), "--out", "/proc/bayes_cluster_plan", "--no-progress"])
    assert code == 1
    assert capsys.readouterr().err == (
        "error: --out /proc/bayes_cluster_plan: cannot create the folder (No such file or "
        "directory); nothing was written: name a folder you may write to\n"
    )


# ------------------------------------------------------------------ bootstrap_lrt


@pytest.fixture(scope="module")
def items():
    frame, _ = simulate_tumang(n=60, seed=3)
    return frame[list(MARKUSEN_ITEMS)]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"k": 1}, "k must be a whole number >= 2 (K - 1 vs K classes), got 1"),
        ({"n_bootstrap": 0}, "n_bootstrap must be a whole number >= 1, got 0"),
        ({"n_bootstrap": float("nan")}, "n_bootstrap must be a whole number >= 1, got nan"),
        ({"n_bootstrap": None}, "n_bootstrap must be a whole number >= 1, got None"),
        ({"n_starts": 0}, "n_starts must be a whole number >= 1, got 0"),
        (
            {"n_starts_alternative": 0},
            "n_starts_alternative must be a whole number >= 1, got 0",
        ),
        ({"alpha": 5}, "alpha must be a number between 0 and 1, got 5"),
        (
            {"k": 60},
            "k = 60 classes needs more than 60 firms; the items have 60 firms with answers "
            "to fit: test fewer classes",
        ),
    ],
)
def test_bootstrap_lrt_refuses_bad_arguments(items, kwargs, message):
    arguments = {"k": 2, "n_bootstrap": 1, "n_starts": 2, "seed": 1, **kwargs}
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        bootstrap_lrt(items, **arguments)


def test_bootstrap_lrt_all_missing_item_is_named(items):
    blank = items.copy()
    blank["mk_local_trade"] = np.nan
    for missing in ("ignore", "listwise"):
        with pytest.raises(ValueError, match="^item 'mk_local_trade' has no observed response$"):
            bootstrap_lrt(blank, 2, n_bootstrap=1, n_starts=2, seed=1, missing=missing)


def test_no_temporary_files_left_by_refused_saves(saved, tmp_path):
    model, _ = saved
    (tmp_path / "x.zarr").write_text("a file named like a store")
    with pytest.raises(ValueError, match="it is a file, not a saved model"):
        model.save(tmp_path / "x.zarr")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.zarr"]


# ------------------------------------------------------------------ ordinal latent classes


@pytest.mark.parametrize(
    ("args", "priors", "message"),
    [
        ((float("nan"),), None, "n_classes must be a positive whole number, got nan"),
        ((None,), None, "n_classes must be a positive whole number, got None"),
        ((True,), None, "n_classes must be a positive whole number, got True"),
        ((2,), {"cutpoint_sd": "wide"}, "prior cutpoint_sd must be a positive number, got 'wide'"),
        ((2,), {"location_sd": float("inf")}, "prior location_sd must be finite, got inf"),
    ],
)
def test_ordinal_latent_class_refuses_bad_arguments(args, priors, message):
    from bayes_cluster.estimators.ordinal_latent_class import BayesianOrdinalLatentClass

    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        BayesianOrdinalLatentClass(*args, priors=priors)

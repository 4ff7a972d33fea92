"""Shared test fixtures: headless plotting, the ../shared reference data, and the CI rule
that a check which cannot run fails instead of skipping."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, NoReturn

import matplotlib
import pytest
from threadpoolctl import threadpool_limits  # a PyMC dependency

matplotlib.use("Agg")

# One BLAS/OpenMP thread per test process: the suite runs on two pytest-xdist workers
# (README, .ci/run), each already a full core's work on a 2-core CI machine, and the
# models' matrices are tiny (extra BLAS threads only spin and contend). numpy is already
# loaded here (by a pytest plugin), so this process is limited with threadpoolctl and the
# subprocesses the tests start through the environment (a value already set there wins).
for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")
threadpool_limits(1)

REPO_ROOT = Path(__file__).resolve().parents[1]

# Compiling the models' numba code is most of a cold test run (numba's type inference and
# LLVM; sampling is a few per cent). The tests compile at LLVM -O1 without the loop and
# SLP vectorisers, which cuts that compile by about a fifth (measured: an ordinal
# latent-class fit on a cold cache, 125 s -> 102 s) for code that runs a little slower.
# Numba's on-disk cache does not record the optimisation level, so this code must not
# land in the caches a user's runs read (~/.pytensor, numba's __pycache__ folders): the
# tests keep theirs in .test-cache/ at the repository root (git ignores it). Set here,
# before numba or PyTensor is imported, for this process and the ones the tests start. A
# session whose PYTENSOR_FLAGS already name a base_compiledir, or that sets NUMBA_OPT,
# keeps its own settings.
TEST_CACHE = REPO_ROOT / ".test-cache"
if "NUMBA_OPT" not in os.environ and "base_compiledir" not in os.environ.get("PYTENSOR_FLAGS", ""):
    os.environ["NUMBA_OPT"] = "1"
    os.environ["NUMBA_LOOP_VECTORIZE"] = "0"
    os.environ["NUMBA_SLP_VECTORIZE"] = "0"
    os.environ["NUMBA_CACHE_DIR"] = str(TEST_CACHE / "numba")
    os.environ["PYTENSOR_FLAGS"] = ",".join(
        flag
        for flag in (os.environ.get("PYTENSOR_FLAGS", ""), f"base_compiledir={TEST_CACHE}")
        if flag
    )

# The PDFs' font subsets, kept between runs (bayes_cluster.plots.style.font_subset_cache):
# the tests' in .test-cache/ too, not in the user's matplotlib cache folder.
os.environ.setdefault("BAYES_CLUSTER_FONT_CACHE", str(TEST_CACHE / "fonts"))


def in_ci() -> bool:
    """Whether the tests run under CI.

    Returns
    -------
    bool
        True when ``CI`` is ``true`` or ``1`` (any case), as CI services and ``.ci/run``
        set it.
    """
    return os.environ.get("CI", "").strip().lower() in {"true", "1"}


def skip_or_fail(reason: str) -> NoReturn:
    """Skip the calling test with ``reason``; under ``CI=true`` fail it instead.

    A user's clone may lack ../shared or a browser, and skipping there is right; in CI a
    missing prerequisite is a broken CI machine, and a skip would let it go green.

    Parameters
    ----------
    reason : str
        Why the test cannot run (what is missing and how to provide it).

    Raises
    ------
    pytest.skip.Exception
        Outside CI.
    pytest.fail.Exception
        Under ``CI=true``.
    """
    if in_ci():
        pytest.fail(f"CI=true, so this test must run, not skip: {reason}", pytrace=False)
    pytest.skip(reason)


def shared_reference_dir() -> Path | None:
    """Locate the reference data.

    ``$BAYES_CLUSTER_SHARED/reference`` when ``BAYES_CLUSTER_SHARED`` is set (it overrides
    the default, so a run can point elsewhere), else ``../shared/reference`` next to the
    repository; None where the chosen folder is absent.

    Returns
    -------
    pathlib.Path or None
        The reference folder, or None.
    """
    if os.environ.get("BAYES_CLUSTER_SHARED"):
        candidate = Path(os.environ["BAYES_CLUSTER_SHARED"]) / "reference"
    else:
        candidate = REPO_ROOT.parent / "shared" / "reference"
    return candidate if candidate.is_dir() else None


@pytest.fixture(name="skip_or_fail", scope="session")
def _skip_or_fail() -> Callable[[str], NoReturn]:
    """The :func:`skip_or_fail` helper, for tests that find a prerequisite missing midway."""
    return skip_or_fail


def run_python_json(script: str, environment: Mapping[str, str] | None = None) -> Any:
    """Run ``script`` in a new Python process and return the JSON of its last printed line.

    For tests that need a process of its own (a cold cache, a disk cache read back).

    Parameters
    ----------
    script : str
        Python source, run with ``python -c``; its last line of output is JSON.
    environment : mapping of str to str, optional
        The process's environment (default: this one's).

    Returns
    -------
    object
        The decoded last line.
    """
    import json
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=600,
        env=None if environment is None else dict(environment),
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture(name="python_json", scope="session")
def _python_json() -> Callable[..., Any]:
    """The :func:`run_python_json` helper."""
    return run_python_json


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    """Directory of reference data; skip (fail under CI=true) where it is absent."""
    found = shared_reference_dir()
    if found is None:
        where = os.environ.get("BAYES_CLUSTER_SHARED")
        looked = (
            f"$BAYES_CLUSTER_SHARED/reference ({where}/reference)"
            if where
            else ("../shared/reference")
        )
        skip_or_fail(
            f"reference data not found: {looked} is absent (a user's clone has none); set "
            "BAYES_CLUSTER_SHARED to a copy of shared/ to run this test"
        )
    return found


def _run_tumang(folder: Path, *options: str) -> tuple[Path, str]:
    """Run ``bayes-cluster run models/tumang.toml`` in-process; return the folder and stdout."""
    import contextlib
    import io

    from bayes_cluster.cli import main

    out = folder / "tumang"
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(io.StringIO()):
        code = main(
            ["run", str(REPO_ROOT / "models" / "tumang.toml"), "--out", str(out), *options]
        )
    assert code == 0, stdout.getvalue()
    return out, stdout.getvalue()


# The Tumang study is run once per session (--quick) and shared by every test that
# reads its outputs: each run costs minutes on two cores. Those tests live in one file,
# tests/test_run.py, so `--dist loadfile` keeps them on one pytest-xdist worker and each
# run happens once. Tests only read the folders.


@pytest.fixture(scope="session")
def tumang_quick_run(tmp_path_factory) -> tuple[Path, str]:
    """The bundled Tumang study run with ``--quick``: (output folder, printed summary)."""
    return _run_tumang(tmp_path_factory.mktemp("tumang_quick"), "--quick")


@pytest.fixture
def python_graphs() -> Iterator[None]:
    """Compile PyTensor functions without C or numba code while the test runs.

    For tests that only evaluate a model's graph (a log density at a point, prior draws, a
    likelihood term): PyTensor's ``FAST_COMPILE`` mode with ``cxx=""`` runs each operation's
    Python implementation, so the numbers are the graph's own, without a compile of each small
    function on a cold cache (seconds to a minute each on two cores). Model fits never use it.

    Yields
    ------
    None
        The flags are restored when the test ends.
    """
    import pytensor

    with pytensor.config.change_flags(mode="FAST_COMPILE", cxx=""):
        yield


@pytest.fixture(autouse=True)
def _close_figures():
    """Close every matplotlib figure a test made."""
    yield
    import matplotlib.pyplot as plt

    plt.close("all")


# Test files by their cold-cache time, longest first (estimated from the `--durations` of a cold
# CI run on 2 cores, 2026-11-30, 06:36 UTC: 20:54 in all). The suite runs on two pytest-xdist
# workers with `--dist loadfile` (a file's module and session fixtures are built once, on one
# worker), and a file goes to whichever worker is free: starting the longest files first keeps
# one long file from being left alone at the end while the other worker idles. Files not listed
# follow in their usual order; the order of the tests within a file is unchanged. Every test that
# reads a whole run's outputs lives in test_run.py, so each run is made once: the report's
# uncertainty checks moved there from test_report_uncertainty.py, which no longer runs the study
# (it was about 100 s cold) and is now short.
LONGEST_FILES_FIRST = (
    # at least 385 s in the cold CI of 2026-11-30 10:04 (its tests among the 40 slowest): it
    # was missing here, so it started only after every listed file and a dozen short ones
    "test_imputation.py",
    # ~250 s (est.): the quick Tumang run (ordinal and nominal classes, covariates, logits)
    "test_run.py",
    "test_latent_class.py",  # about 400 s cold (2026-11-30, 2 workers): K choice, collapse none
    "test_joint.py",  # 350 s: the shared joint fit, recovery studies, class slopes
    "test_run_specs.py",  # 300 s: logit-only pair, joint, full-settings, item specs
    "test_study.py",  # 250 s
    "test_class_covariates.py",  # ~300 s (est.): recovery (n = 400, 3 seeds) and a small run
    "test_ordinal_latent_class.py",  # 180 s: the n = 120 fit and the recovery study
    "test_logistic.py",  # 150 s
    "test_interrupt.py",  # 120 s
    "test_plan.py",  # 115 s
    "test_sbc.py",  # 110 s
    "test_n_classes.py",  # 105 s: the bootstrap LRT's type-I error over 100 data sets
    "test_contract.py",  # 40 s
    "test_latent_class_ppc.py",  # 35 s
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run the longest test files first (:data:`LONGEST_FILES_FIRST`), each file's tests in
    their own order.

    Parameters
    ----------
    items : list of pytest.Item
        The collected tests, reordered in place.
    """
    rank = {name: position for position, name in enumerate(LONGEST_FILES_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))

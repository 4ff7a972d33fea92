"""Shared test fixtures: headless plotting, the ../shared reference data, and the CI rule
that a check which cannot run fails instead of skipping."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

import matplotlib
import pytest

matplotlib.use("Agg")

REPO_ROOT = Path(__file__).resolve().parents[1]


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


@pytest.fixture(autouse=True)
def _close_figures():
    """Close every matplotlib figure a test made."""
    yield
    import matplotlib.pyplot as plt

    plt.close("all")

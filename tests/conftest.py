"""Shared test fixtures: headless plotting and the ../shared reference data."""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")

REPO_ROOT = Path(__file__).resolve().parents[1]


def shared_reference_dir() -> Path | None:
    """Locate ``../shared/reference`` (or ``$BAYES_CLUSTER_SHARED/reference``)."""
    candidates = []
    if os.environ.get("BAYES_CLUSTER_SHARED"):
        candidates.append(Path(os.environ["BAYES_CLUSTER_SHARED"]) / "reference")
    candidates.append(REPO_ROOT.parent / "shared" / "reference")
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    return None


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    """Directory of reference data; skip (with the reason) where it is absent."""
    found = shared_reference_dir()
    if found is None:
        pytest.skip(
            "reference data not found: ../shared/reference is absent (a user's clone has "
            "none); set BAYES_CLUSTER_SHARED to a copy of shared/ to run this test"
        )
    return found


@pytest.fixture(autouse=True)
def _close_figures():
    """Close every matplotlib figure a test made."""
    yield
    import matplotlib.pyplot as plt

    plt.close("all")

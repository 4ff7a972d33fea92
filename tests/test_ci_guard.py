"""Under CI=true a test whose prerequisite is missing (../shared/reference, a browser) fails
instead of skipping, so a CI machine that lacks them cannot go green."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

TESTS = Path(__file__).resolve().parent

PROBE = textwrap.dedent(
    """
    def test_needs_reference(reference_dir):
        assert reference_dir.is_dir()


    def test_needs_browser(skip_or_fail):
        skip_or_fail("headless Chromium not installed (apt-get install chromium)")
    """
)


def _run_probe(tmp_path: Path, ci: str | None) -> subprocess.CompletedProcess:
    """Run the probe tests in a fresh pytest with this conftest and an empty shared/."""
    (tmp_path / "test_probe.py").write_text(PROBE)
    empty_shared = tmp_path / "empty_shared"
    empty_shared.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in {"CI", "PYTEST_ADDOPTS"}}
    # BAYES_CLUSTER_SHARED overrides ../shared: the real reference data is hidden
    env.update(BAYES_CLUSTER_SHARED=str(empty_shared), PYTHONPATH=str(TESTS))
    if ci is not None:
        env["CI"] = ci
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "conftest", "-p", "no:cacheprovider", "-q"]
        + ["-rA", "test_probe.py"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_missing_prerequisites_fail_under_ci(tmp_path):
    result = _run_probe(tmp_path, ci="true")
    out = result.stdout
    assert result.returncode == 1, out + result.stderr
    # the fixture fails at setup (an error), the helper called in the test body a failure
    assert "1 failed, 1 error" in out and "skipped" not in out, out
    expected_reference = (
        f"CI=true, so this test must run, not skip: reference data not found: "
        f"$BAYES_CLUSTER_SHARED/reference ({tmp_path / 'empty_shared'}/reference) is absent"
    )
    assert expected_reference in out, out
    assert (
        "CI=true, so this test must run, not skip: headless Chromium not installed "
        "(apt-get install chromium)"
    ) in out, out


def test_missing_prerequisites_skip_outside_ci(tmp_path):
    result = _run_probe(tmp_path, ci=None)
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert "2 skipped" in out and "failed" not in out, out
    assert "SKIPPED [1] test_probe.py:2: reference data not found" in out, out
    assert "headless Chromium not installed (apt-get install chromium)" in out, out

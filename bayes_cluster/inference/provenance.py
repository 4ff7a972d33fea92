"""What produced a result: package versions, seed, spec and data hash.

Every saved result (DataTree attrs, report footer, CSV sidecar) carries this block,
so a number in a paper can be traced back to the code and data that made it.
"""

from __future__ import annotations

import hashlib
import platform
from collections.abc import Mapping
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd

TRACKED_PACKAGES = (
    "bayes-cluster",
    "pymc",
    "pytensor",
    "arviz",
    "arviz-base",
    "arviz-stats",
    "nutpie",
    "numpy",
    "pandas",
    "scipy",
    "statsmodels",
    "xarray",
)


def package_versions() -> dict[str, str]:
    """Return the installed version of every package that shapes the numbers.

    Returns
    -------
    dict
        Package name -> version string (``"not installed"`` where absent).
    """
    versions = {"python": platform.python_version()}
    for name in TRACKED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def data_hash(data: pd.DataFrame | str | Path | bytes) -> str:
    """SHA-256 of a data file's bytes, or of a frame's canonical CSV rendering.

    Parameters
    ----------
    data : pandas.DataFrame, str, pathlib.Path or bytes
        A frame, a path to a file, or raw bytes.

    Returns
    -------
    str
        ``"sha256:<hex>"``.
    """
    if isinstance(data, pd.DataFrame):
        payload = data.to_csv(index=False, lineterminator="\n").encode("utf-8")
    elif isinstance(data, bytes):
        payload = data
    else:
        payload = Path(data).read_bytes()
    return "sha256:" + hashlib.sha256(payload).hexdigest()


def provenance(
    *,
    seed: int | None = None,
    data: pd.DataFrame | str | Path | bytes | None = None,
    spec: Mapping[str, Any] | str | None = None,
    **extra: Any,
) -> dict[str, str]:
    """Return a flat provenance block suitable for NetCDF/Zarr attrs.

    Values are strings (NetCDF attrs cannot hold nested mappings).

    Parameters
    ----------
    seed : int, optional
        Random seed used.
    data : frame, path or bytes, optional
        Data the result was computed from (hashed, not stored).
    spec : mapping or str, optional
        The analysis spec (stored as its ``repr``/text).
    **extra
        Any further key/value pairs (converted with ``str``).

    Returns
    -------
    dict of str to str
        Keys ``created``, ``seed``, ``data_hash``, ``spec``, ``version_<package>``, ...
    """
    block = {"created": datetime.now(UTC).isoformat(timespec="seconds")}
    if seed is not None:
        block["seed"] = str(seed)
    if data is not None:
        block["data_hash"] = data_hash(data)
    if spec is not None:
        block["spec"] = spec if isinstance(spec, str) else repr(dict(spec))
    block.update({f"version_{k}": v for k, v in package_versions().items()})
    block.update({k: str(v) for k, v in extra.items()})
    return block

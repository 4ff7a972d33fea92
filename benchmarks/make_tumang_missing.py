"""Write ``data/tumang_synthetic_missing.csv``: the bundled synthetic survey with blanks.

Deterministic (seed 2029): 14 predictor cells and 4 Markusen answers of
``data/tumang_synthetic.csv`` are blanked, more often for larger firms (missing at random
given the always-answered ``workers``), so that ``models/tumang_missing.toml`` shows what
``missing = "model"`` does.  Run from the repository root::

    .venv/bin/python benchmarks/make_tumang_missing.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
BLANKS = {
    "firm_age": 3,
    "promotion": 3,
    "training": 2,
    "technology": 3,
    "supplier_network": 3,
    "mk_cooperation": 2,
    "mk_local_finance": 2,
}


def main() -> Path:
    """Write the file and return its path.

    Returns
    -------
    pathlib.Path
        ``data/tumang_synthetic_missing.csv``.
    """
    frame = pd.read_csv(ROOT / "data" / "tumang_synthetic.csv", dtype=str, keep_default_na=False)
    rng = np.random.default_rng(2029)
    workers = frame["workers"].astype(float).to_numpy()
    weight = np.exp((workers - workers.mean()) / workers.std())
    for column, count in BLANKS.items():
        rows = rng.choice(len(frame), count, replace=False, p=weight / weight.sum())
        frame.loc[rows, column] = ""
    path = ROOT / "data" / "tumang_synthetic_missing.csv"
    frame.to_csv(path, index=False)
    return path


if __name__ == "__main__":
    print(main())

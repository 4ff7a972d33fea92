"""Produce the figures of ``docs/`` from the code (no figure in the docs is drawn by hand).

Run: ``.venv/bin/python docs/make_figures.py`` (writes ``docs/figures/*.png``).  Each
section is one function returning ``{file name: matplotlib Figure}``; add yours to
``SECTIONS``.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

FIGURES = Path(__file__).resolve().parent / "figures"


def priors_figures() -> dict:
    """``docs/priors.md``: prior predictive of the default slope prior and alternatives."""
    from bayes_cluster.plots.logistic import plot_prior_predictive

    return {"prior_predictive.png": plot_prior_predictive(draws=4000, random_seed=2028)}


SECTIONS = [priors_figures]


def main() -> None:
    """Write every section's figures to ``docs/figures``."""
    FIGURES.mkdir(exist_ok=True)
    for section in SECTIONS:
        for name, figure in section().items():
            figure.savefig(FIGURES / name, dpi=120, bbox_inches="tight")
            print(f"wrote {FIGURES / name}")


if __name__ == "__main__":
    main()

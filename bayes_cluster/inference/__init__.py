"""The Bayesian machinery every model shares.

The model contract (``base``), the one sampling module (``sampling``), priors as data
(``priors``), convergence diagnostics (``diagnostics``), posterior summaries
(``summaries``) and provenance (``provenance``).

May import ``common``.
"""

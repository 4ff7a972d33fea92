"""The Bayesian machinery every model shares.

The model contract (``base``), the one sampling module (``sampling``), priors as data
(``priors``), convergence diagnostics (``diagnostics``), posterior summaries
(``summaries``), provenance (``provenance``) and the rank-ECDF band of
simulation-based calibration (``calibration``).

May import ``common`` and ``surveys``.
"""

"""Leaves every layer may use.

Dimension names (``dims``), LaTeX table text (``latex``), the latent-class maths
(``latent_class_math``) and the machine's idle cores (``cores``).

May import nothing else of the package (the standard library and third-party packages
only).
"""

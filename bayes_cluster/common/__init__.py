"""Leaves every layer may use.

Dimension names (``dims``), LaTeX table text (``latex``) and the latent-class maths
(``latent_class_math``).

May import nothing else of the package (the standard library and third-party packages
only).
"""

"""Leaves every layer may use: dimension names (``dims``) and LaTeX table text (``latex``).

Imports nothing else of the package.
"""

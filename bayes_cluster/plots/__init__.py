"""Figures: every function returns a matplotlib Figure and never fits a model.

May import ``common`` .. ``analyses``; never ``run``, ``studies`` or the CLI.
"""

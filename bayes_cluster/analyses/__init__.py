"""Analyses built on fitted models: the method-by-term comparison table.

May import ``common``, ``surveys``, ``inference`` and ``estimators``; never fits a
spec or writes files.
"""

"""Analyses built on fitted models.

The method-by-term comparison table (``compare``), the choice of the number of latent
classes (``n_classes``), and whether the cluster pattern matters for exporting, approach
by approach (``class_approaches``).

May import ``common``, ``surveys``, ``inference`` and ``estimators``; never fits a
spec or writes files.
"""

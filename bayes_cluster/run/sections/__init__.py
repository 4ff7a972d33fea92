"""The sections of a run, one module per spec section.

Each module has a ``run_<section>(context)`` function that :mod:`bayes_cluster.run.pipeline`
calls in order: :mod:`.data`, :mod:`.latent_class`, :mod:`.logistic` (frequentist and
Bayesian logits), :mod:`.joint`, :mod:`.comparison`; :mod:`.outputs` writes the journal
tables, ``methods.md`` and the summary lines at the end.  A section writes every file
through the :class:`bayes_cluster.run.context.RunContext` it is given.

May import: ``common``, ``surveys``, ``inference``, ``estimators``, ``analyses``, ``plots``
and ``bayes_cluster.run`` modules other than ``pipeline``.
"""

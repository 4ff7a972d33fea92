"""The models, Bayesian and classical.

Bayesian: subclasses of ``inference.base.BayesianModel`` (the logit, the latent-class
model, the joint and class-logit models). Classical: maximum-likelihood and Firth
logits, separation, EM latent classes.

May import ``common``, ``surveys`` and ``inference``.
"""

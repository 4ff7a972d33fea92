"""Fixed dimension and coordinate names, in one place.

Every ``pm.Data``/random variable, every ``xarray`` object and every table in
the package uses these names, so nobody has to guess what axis 1 is.
"""

from __future__ import annotations

FIRM = "firm"
"""One row of the survey (a respondent firm)."""

ITEM = "item"
"""A Markusen Likert item (``mk_*`` column) or any categorical indicator."""

CATEGORY = "category"
"""A response category of an item (1..K_j, stored 0-based inside models)."""

LATENT_CLASS = "latent_class"
"""A latent class of the mixture model."""

MARKUSEN_TYPE = "markusen_type"
"""One of Markusen's (1996) four district types."""

PREDICTOR = "predictor"
"""A slope term of the logistic regression (a column or a ``column[level]`` dummy)."""

TERM = "term"
"""A row of a coefficient table: ``Intercept`` and the predictors."""

GROUP = "group"
"""A level of the grouping factor of varying intercepts."""

CLASS_CONTRAST = "class_contrast"
"""A class contrast, k against class 1 for k = 2..K: the joint model's class effects
alpha_k - alpha_1, and the log-odds of the membership logit (covariates of class membership)."""

COVARIATE = "covariate"
"""A firm characteristic that shifts the class shares (covariates of class membership)."""

MISSING_CELL = "missing_cell"
"""A blank predictor cell of the survey imputed by a model (``column[firm]``)."""
CHAIN = "chain"
DRAW = "draw"

INTERCEPT = "Intercept"
"""Name of the intercept term in every coefficient table (SPSS/R/statsmodels habit)."""

ALL_DIMS = (
    FIRM,
    ITEM,
    CATEGORY,
    LATENT_CLASS,
    MARKUSEN_TYPE,
    PREDICTOR,
    TERM,
    GROUP,
    CLASS_CONTRAST,
    COVARIATE,
    MISSING_CELL,
)

# rstanarm stan_glm logits on the Spector and sex2 data: the posterior means and SDs in
# tests/test_logistic.py (RSTANARM_SPECTOR, RSTANARM_SEX2). Run from the repository root.
# 4 chains x 8000 kept draws (iter = 10000, warmup = 2000), seed = 1. An explicit
# normal(0, 2.5) is per unit (rstanarm >= 2.19 only autoscales its default priors); the
# intercept prior applies with the predictors centred, as rstanarm always does.
suppressPackageStartupMessages(library(rstanarm))
options(digits = 7, width = 100)

summarise <- function(fit) {
  draws <- as.matrix(fit)
  s <- summary(fit)
  print(cbind(mean = colMeans(draws), sd = apply(draws, 2, sd),
              mcse = s[colnames(draws), "mcse"], Rhat = s[colnames(draws), "Rhat"],
              n_eff = s[colnames(draws), "n_eff"]))
}

sp <- read.csv("tests/r/spector.csv")
fit_sp <- stan_glm(GRADE ~ GPA + TUCE + PSI, data = sp, family = binomial(),
                   prior = normal(0, 2.5), prior_intercept = normal(0, 2.5),
                   iter = 10000, warmup = 2000, chains = 4, seed = 1, refresh = 0)
cat("== Spector (RSTANARM_SPECTOR)\n")
summarise(fit_sp)
prior_summary(fit_sp)

s2 <- read.csv("../shared/reference/sex2.csv")
fit_s2 <- stan_glm(case ~ age + oc + vic + vicl + vis + dia, data = s2, family = binomial(),
                   prior = normal(0, 2.5, autoscale = FALSE),
                   prior_intercept = normal(0, 2.5),
                   iter = 10000, warmup = 2000, chains = 4, seed = 1, refresh = 0)
cat("== sex2 (RSTANARM_SEX2)\n")
summarise(fit_s2)
prior_summary(fit_s2)
cat("rstanarm version:", format(packageVersion("rstanarm")), "\n\n")
sessionInfo()

# Firth's bias-reduced logit (brglm2, type = "AS_mean") on the Spector and sex2 data:
# the numbers pinned in tests/test_frequentist.py. Run from the repository root.
suppressPackageStartupMessages(library(brglm2))
options(digits = 10, width = 100)
ctrl <- brglmControl(type = "AS_mean", epsilon = 1e-12, maxit = 1000)

spector <- read.csv("tests/r/spector.csv")
fit_sp <- glm(GRADE ~ GPA + TUCE + PSI, data = spector, family = binomial("logit"),
              method = "brglmFit", control = ctrl)
cat("== Spector: estimate, SE (test_spector_firth_matches_brglm2)\n")
print(cbind(estimate = coef(fit_sp), std_error = sqrt(diag(vcov(fit_sp)))))
cat("== Spector: 95% Wald intervals, confint.default (test_wald_option_gives_wald_intervals)\n")
print(confint.default(fit_sp))

sex2 <- read.csv("../shared/reference/sex2.csv")
fit_s2 <- glm(case ~ age + oc + vic + vicl + vis + dia, data = sex2,
              family = binomial("logit"), method = "brglmFit", control = ctrl)
cat("== sex2: estimate, SE = sqrt(diag(inverse Fisher information at the estimate))",
    "(test_sex2_firth_standard_errors_match_brglm2)\n")
print(cbind(estimate = coef(fit_s2), std_error = sqrt(diag(vcov(fit_s2)))))
cat("converged:", fit_sp$converged, fit_s2$converged, "\n")
cat("brglm2 version:", format(packageVersion("brglm2")), "\n\n")
sessionInfo()

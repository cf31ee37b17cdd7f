# The rma.glmm controls and JSON helpers shared by glmm_fixtures.R and glmm_irr_fixtures.R
# (sourced by them; not a script of its own).

# Tight controls: glm to 1e-12 in the deviance, glmer's bobyqa to rhoend 1e-10 (its default stops
# near 2e-7), nlminb (CM.EL) to a relative 1e-10 (1e-12 is not reachable: nlminb stops with
# "false convergence"), integrate (CM.EL random effects) to a relative 1e-12, glmer's PIRLS to
# tolPwrss 1e-12. Where PIRLS cannot reach that (dat.bcg's tables of 10^5 participants, UM.FS and
# UM.RS random effects) the fit is retried with glmer's default tolPwrss and marked "retry".
CTL <- list(
  glmCtrl = list(epsilon = 1e-12, maxit = 1000),
  glmerCtrl = list(optimizer = "bobyqa", optCtrl = list(rhoend = 1e-10, maxfun = 1e6), tolPwrss = 1e-12),
  optCtrl = list(rel.tol = 1e-10, iter.max = 10000, eval.max = 10000),
  intCtrl = list(rel.tol = 1e-12, subdivisions = 1000L)
)

CTL_RETRY <- CTL
CTL_RETRY$glmerCtrl$tolPwrss <- NULL

num <- function(x) lapply(as.numeric(x), function(v) v)
val <- function(x) if (is.null(x) || length(x) == 0 || is.na(x)) NULL else as.numeric(x)

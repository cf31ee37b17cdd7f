#!/usr/bin/env Rscript
# metafor's rma.mv (multilevel and multivariate models) and clubSandwich's CR2 cluster-robust
# tests, pinned for tests/stats/test_multilevel.py and tests/stats/test_robust.py.
#
#   Rscript validation/multilevel_fixtures.R OUTDIR   (pinned copy: tests/fixtures/multilevel)
#
# Writes OUTDIR/cases.json: one entry per model with its inputs (yi, the sampling covariance V as
# [row, col, value] triplets of its nonzero upper triangle, the grouping labels, the model matrix X and its column names) and what R gives:
#   * rma.mv (optim's BFGS at reltol 1e-14), then polished: Newton steps on metafor's own
#     log-likelihood (logLik of rma.mv with the components fixed), with gradient and Hessian from
#     numDeriv (Richardson extrapolation), until the step is below 1e-9 relative (at most 8
#     steps); the fit with the polished components gives the coefficients (estimate, se, z/t, p,
#     CI), sigma2 or tau2/rho, the log-likelihood, AIC, BIC, QE, QM (with their p-values);
#   * confint() profile-likelihood CIs of every variance/correlation component (uniroot tol 1e-12,
#     profile fits at nlminb's default rel.tol; see profile_cis);
#   * I^2 per level: Cheung (2014) with the typical sampling variance of metafor's FAQ
#     ("I^2 for multilevel and multivariate models": W = solve(V), P = W - WX(X'WX)^-1X'W,
#     s^2 = (k - p)/tr(P); I^2_j = 100 sigma2_j / (sum(sigma2) + s^2));
#   * clubSandwich::coef_test(fit, vcov = "CR2", cluster = <outer level>) (Satterthwaite df),
#     Wald_test(..., test = "HTZ") of the moderators, and metafor's robust(fit, cluster,
#     clubSandwich = TRUE).
# Data: metadat's dat.konstantopoulos2011 (three-level: schools within districts),
# dat.berkey1998 (two outcomes per trial; V built from v1i/v2i as in metafor's help page), a
# univariate meta-regression on the konstantopoulos data clustered by district, and simulated
# sets (seeded). Needs R with metafor, metadat and clubSandwich. This script only calls them; no
# code of theirs is copied.

args <- commandArgs(trailingOnly = TRUE)
if (length(args) != 1) stop("usage: Rscript validation/multilevel_fixtures.R OUTDIR")
outdir <- normalizePath(args[1], mustWork = FALSE)
dir.create(outdir, recursive = TRUE, showWarnings = FALSE)
suppressPackageStartupMessages({
  library(metafor)
  library(metadat)
  library(clubSandwich)
  library(numDeriv)
})
here <- dirname(normalizePath(sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE)[1])))
source(file.path(here, "json.R"))

CTL <- list(optimizer = "optim", optmethod = "BFGS", reltol = 1e-14, maxit = 10000)
CI_CTL <- list(tol = 1e-12, maxiter = 10000)

num <- function(x) as.list(as.numeric(x))
rows_of <- function(M) lapply(seq_len(nrow(M)), function(i) num(M[i, ]))
# A symmetric sparse matrix as its nonzero entries on and above the diagonal: [row, col, value]
# (1-based), to keep the fixture small.
triplets <- function(M) {
  idx <- which(M != 0 & upper.tri(M, diag = TRUE), arr.ind = TRUE)
  idx <- idx[order(idx[, 1], idx[, 2]), , drop = FALSE]
  lapply(seq_len(nrow(idx)), function(r) list(as.integer(idx[r, 1]), as.integer(idx[r, 2]), M[idx[r, 1], idx[r, 2]]))
}

# rma.mv with every variance/correlation component fixed at theta (no optimisation).
fixed_fit <- function(res, theta) {
  if (res$withS) return(update(res, sigma2 = theta))
  nt <- length(res$tau2)
  update(res, tau2 = theta[seq_len(nt)], rho = theta[-seq_len(nt)])
}
params <- function(res) if (res$withS) res$sigma2 else c(res$tau2, res$rho)
polish <- function(res) {
  theta <- params(res)
  f <- function(t) as.numeric(logLik(fixed_fit(res, t)))
  for (it in 1:8) {
    step <- -solve(hessian(f, theta), grad(f, theta))
    theta <- theta + step
    if (max(abs(step) / abs(theta)) < 1e-9) break
  }
  fixed_fit(res, theta)
}

coefs <- function(res) {
  lapply(seq_along(res$beta), function(j) list(
    name = rownames(res$b)[j], estimate = res$beta[j], se = res$se[j], statistic = res$zval[j],
    p_value = res$pval[j], ci_lower = res$ci.lb[j], ci_upper = res$ci.ub[j]))
}

i2_levels <- function(res, comps) {
  W <- solve(res$V)
  X <- model.matrix(res)
  P <- W - W %*% X %*% solve(t(X) %*% W %*% X) %*% t(X) %*% W
  s2 <- (res$k - res$p) / sum(diag(P))
  list(typical_variance = s2, i2 = num(100 * comps / (sum(comps) + s2)))
}

# The profile fits inside confint() inherit the model's control; at rel.tol = 1e-12 nlminb fails
# far out on the profile, so the CIs are computed on the same model fitted at nlminb's default
# rel.tol (1e-10), with the root finding (uniroot) at tol = 1e-12.
profile_cis <- function(res) {
  ci <- confint(update(res, control = list(iter.max = 10000, eval.max = 10000)), control = CI_CTL)
  if (!is.null(ci$random)) ci <- list(ci)
  out <- list()
  for (one in ci) {
    if (!is.list(one)) next
    r <- one$random
    for (i in grep("^(sigma\\^2|tau\\^2|rho)", rownames(r))) {
      out[[length(out) + 1]] <- list(name = rownames(r)[i], estimate = r[i, "estimate"],
                                     ci_lower = r[i, "ci.lb"], ci_upper = r[i, "ci.ub"])
    }
  }
  out
}

robust_part <- function(res, cluster, has_mods) {
  ct <- coef_test(res, vcov = "CR2", cluster = cluster, test = "Satterthwaite")
  vc <- as.matrix(vcovCR(res, type = "CR2", cluster = cluster))
  rb <- robust(res, cluster = cluster, clubSandwich = TRUE)
  out <- list(
    coef_test = lapply(seq_len(nrow(ct)), function(j) list(
      name = as.character(ct$Coef[j]), estimate = ct$beta[j], se = ct$SE[j], statistic = ct$tstat[j],
      df = ct$df_Satt[j], p_value = ct$p_Satt[j])),
    vcov_cr2 = rows_of(vc),
    robust = list(beta = num(rb$beta), se = num(rb$se), statistic = num(rb$zval), df = num(rb$dfs),
                  p_value = num(rb$pval), ci_lower = num(rb$ci.lb), ci_upper = num(rb$ci.ub),
                  qm = rb$QM, qm_df = num(rb$QMdf), qm_p_value = rb$QMp)
  )
  if (has_mods) {
    p <- length(res$beta)
    wt <- Wald_test(res, constraints = constrain_zero(2:p), vcov = "CR2", cluster = cluster, test = "HTZ")
    out$wald_htz <- list(Fstat = wt$Fstat, df_num = wt$df_num, df_denom = wt$df_denom, p_value = wt$p_val)
  }
  out
}

cases <- list()
add_case <- function(id, citation, fit, yi, V, X, structure, groups, cluster, has_mods, r_call, test = "z") {
  res <- polish(fit)
  comps <- if (structure == "nested") res$sigma2 else res$tau2
  # metafor's AIC/BIC, with the polished log-likelihood (the count of parameters of the free fit).
  npar <- length(fit$beta) + length(params(fit))
  nobs <- if (fit$method == "REML") fit$k - fit$p else fit$k
  stopifnot(abs(AIC(fit) - (-2 * as.numeric(logLik(fit)) + 2 * npar)) < 1e-8,
            abs(BIC(fit) - (-2 * as.numeric(logLik(fit)) + npar * log(nobs))) < 1e-8)
  ll <- as.numeric(logLik(res))
  entry <- list(
    id = id, citation = citation, r_call = r_call, struct = structure, method = res$method, test = test,
    input = list(yi = num(yi), V = triplets(V), X = rows_of(X), names = as.list(colnames(X)),
                 groups = lapply(groups, function(g) as.list(as.character(g))),
                 cluster = as.list(as.character(cluster))),
    expected = list(
      coefficients = coefs(res),
      sigma2 = num(res$sigma2), tau2 = num(res$tau2), rho = num(res$rho),
      loglik = ll, aic = -2 * ll + 2 * npar, bic = -2 * ll + npar * log(nobs),
      qe = res$QE, qe_p_value = res$QEp, qm = res$QM, qm_p_value = res$QMp,
      profile_ci = profile_cis(fit),
      i2 = if (structure == "UN") NULL else i2_levels(res, comps)
    ),
    robust = robust_part(res, cluster, has_mods)
  )
  cases[[length(cases) + 1]] <<- entry
}

# ---------------------------------------------------------------------------------------------
# Three-level: dat.konstantopoulos2011 (Konstantopoulos, Res Synth Methods 2011): 56 schools
# in 11 districts; es_id = the running study number.
d <- dat.konstantopoulos2011
V <- diag(d$vi)
X1 <- cbind(intrcpt = rep(1, nrow(d)))
for (method in c("REML", "ML")) {
  res <- rma.mv(yi, vi, random = ~ 1 | district / study, data = d, method = method, control = CTL)
  add_case(paste0("konstantopoulos2011_", tolower(method)), "dat.konstantopoulos2011", res, d$yi, V, X1,
           "nested", list(d$district, d$study), d$district, FALSE,
           sprintf('rma.mv(yi, vi, random = ~ 1 | district/study, method = "%s")', method))
}
X2 <- cbind(intrcpt = 1, year = d$year)
res <- rma.mv(yi, vi, mods = ~ year, random = ~ 1 | district / study, data = d, control = CTL)
add_case("konstantopoulos2011_year", "dat.konstantopoulos2011", res, d$yi, V, X2, "nested",
         list(d$district, d$study), d$district, TRUE,
         "rma.mv(yi, vi, mods = ~ year, random = ~ 1 | district/study)")
res <- rma.mv(yi, vi, mods = ~ year, random = ~ 1 | district / study, data = d, control = CTL, test = "t")
add_case("konstantopoulos2011_year_t", "dat.konstantopoulos2011", res, d$yi, V, X2, "nested",
         list(d$district, d$study), d$district, TRUE,
         "rma.mv(yi, vi, mods = ~ year, random = ~ 1 | district/study, test = \"t\")", test = "t")

# ---------------------------------------------------------------------------------------------
# Multivariate: dat.berkey1998 (Berkey et al., Stat Med 1998): PD and AL in 5 trials, V from the
# v1i/v2i columns (metafor's help page for dat.berkey1998).
b <- dat.berkey1998
Vb <- bldiag(lapply(split(b[, c("v1i", "v2i")], b$trial), as.matrix))
Xb <- cbind(outcomeAL = as.numeric(b$outcome == "AL"), outcomePD = as.numeric(b$outcome == "PD"))
for (struct in c("UN", "CS")) {
  for (method in c("REML", "ML")) {
    res <- rma.mv(yi, Vb, mods = ~ outcome - 1, random = ~ outcome | trial, struct = struct, data = b,
                  method = method, control = CTL)
    add_case(paste0("berkey1998_", tolower(struct), "_", tolower(method)), "dat.berkey1998", res, b$yi, Vb,
             Xb, struct, list(b$trial, b$outcome), b$trial, FALSE,
             sprintf('rma.mv(yi, V, mods = ~ outcome - 1, random = ~ outcome | trial, struct = "%s", method = "%s")',
                     struct, method))
  }
}

# ---------------------------------------------------------------------------------------------
# Simulated three-level set: 40 studies with 1-6 effect sizes each, a moderator, and a working
# within-study correlation of 0.6 in V (metafor's vcalc).
set.seed(20261205)
ns <- 40
m <- sample(1:6, ns, replace = TRUE)
sim <- data.frame(study = rep(seq_len(ns), m))
sim$es_id <- seq_len(nrow(sim))
sim$x <- round(rnorm(nrow(sim)), 3)
sim$vi <- round(runif(nrow(sim), 0.01, 0.2), 4)
u <- rnorm(ns, 0, sqrt(0.08))[sim$study]
w <- rnorm(nrow(sim), 0, sqrt(0.03))
sim$yi <- round(0.3 + 0.2 * sim$x + u + w + rnorm(nrow(sim), 0, sqrt(sim$vi)), 4)
Vs <- vcalc(vi, cluster = study, obs = es_id, rho = 0.6, data = sim)
Xs <- cbind(intrcpt = 1, x = sim$x)
res <- rma.mv(yi, Vs, mods = ~ x, random = ~ 1 | study / es_id, data = sim, control = CTL)
add_case("simulated_threelevel", "simulated (seed 20261205)", res, sim$yi, Vs, Xs, "nested",
         list(sim$study, sim$es_id), sim$study, TRUE,
         "rma.mv(yi, vcalc(vi, study, obs = es_id, rho = 0.6), mods = ~ x, random = ~ 1 | study/es_id)")

# Simulated multivariate set: 30 studies, outcomes A/B/C (each study reports 2 or 3), rho 0.5 in V.
set.seed(20261206)
ns <- 30
rows <- do.call(rbind, lapply(seq_len(ns), function(s) {
  outs <- sort(sample(c("A", "B", "C"), sample(2:3, 1)))
  data.frame(study = s, outcome = outs)
}))
rows$vi <- round(runif(nrow(rows), 0.02, 0.15), 4)
G <- matrix(c(0.10, 0.05, 0.03, 0.05, 0.08, 0.04, 0.03, 0.04, 0.12), 3)
L <- t(chol(G))
mu <- c(A = 0.2, B = 0.4, C = 0.1)
ue <- lapply(seq_len(ns), function(s) as.numeric(L %*% rnorm(3)))
rows$yi <- round(sapply(seq_len(nrow(rows)), function(i) {
  j <- match(rows$outcome[i], c("A", "B", "C"))
  mu[j] + ue[[rows$study[i]]][j] + rnorm(1, 0, sqrt(rows$vi[i]))
}), 4)
Vm <- vcalc(vi, cluster = study, type = outcome, rho = 0.5, data = rows)
Xm <- cbind(outcomeA = as.numeric(rows$outcome == "A"), outcomeB = as.numeric(rows$outcome == "B"),
            outcomeC = as.numeric(rows$outcome == "C"))
for (struct in c("UN", "CS")) {
  res <- rma.mv(yi, Vm, mods = ~ outcome - 1, random = ~ outcome | study, struct = struct, data = rows,
                control = CTL)
  add_case(paste0("simulated_multivariate_", tolower(struct)), "simulated (seed 20261206)", res, rows$yi, Vm,
           Xm, struct, list(rows$study, rows$outcome), rows$study, FALSE,
           sprintf('rma.mv(yi, vcalc(vi, study, type = outcome, rho = 0.5), mods = ~ outcome - 1, random = ~ outcome | study, struct = "%s")', struct))
}

# ---------------------------------------------------------------------------------------------
# Univariate meta-regression with cluster-robust inference (konstantopoulos, clustered by district).
res <- rma(yi, vi, mods = ~ year, data = d, method = "REML", control = list(threshold = 1e-12, maxiter = 10000))
uni <- list(
  id = "konstantopoulos2011_rma_uni_year", citation = "dat.konstantopoulos2011",
  r_call = "rma(yi, vi, mods = ~ year); coef_test(res, vcov = \"CR2\", cluster = district)",
  input = list(yi = num(d$yi), vi = num(d$vi), X = rows_of(X2), names = as.list(colnames(X2)),
               cluster = as.list(as.character(d$district))),
  expected = list(tau2 = res$tau2, beta = num(res$beta)),
  robust = robust_part(res, d$district, TRUE)
)

out <- list(
  metafor_version = as.character(packageVersion("metafor")),
  clubSandwich_version = as.character(packageVersion("clubSandwich")),
  generated_by = "validation/multilevel_fixtures.R",
  cases = cases,
  univariate = list(uni)
)
con <- file(file.path(outdir, "cases.json"), open = "w", encoding = "UTF-8")
writeLines(enc2utf8(to_json(out)), con, sep = "\n", useBytes = TRUE)
close(con)

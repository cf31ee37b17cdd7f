#!/usr/bin/env Rscript
# Fixtures for trialsynth.stats.glmm and the single-arm proportion measures: metafor's rma.glmm
# (binomial-normal models) with tight convergence controls, escalc/rma for the proportion
# measures with predict(..., transf = transf.ipft.hm) for the Freeman-Tukey back-transformation,
# and BiasedUrn's noncentral hypergeometric density (an implementation independent of metafor's)
# for the exact conditional likelihood.
#
#   Rscript validation/glmm_fixtures.R OUTDIR   (pinned copy: tests/fixtures/glmm)
#
# Writes OUTDIR/cases.json:
#   datasets     the 2x2 tables (ai, n1i, ci, n2i): metadat's dat.bcg, dat.nielweise2007 and
#                dat.collins1985a, and two sparse sets simulated here (set.seed) with many zero
#                cells, all-zero arms and double-zero trials
#   or_cases     rma.glmm(measure="OR", model=M, method=EE|ML) for each dataset and model
#   exact        per dataset: the log conditional likelihood sum_i log dFNCHypergeo(a_i; ...,
#                exp(theta)) and the Fisher information sum_i Var(A_i) at three values of theta
#                (BiasedUrn, precision 1e-15)
#   proportions  single-arm sets (events xi of ni): escalc yi/vi for PR, PLO, PAS, PFT;
#                rma FE and REML per measure with predict() back-transformed (PFT with
#                transf.ipft.hm), and rma.glmm(measure="PLO") EE and ML
# Needs R with metafor, metadat, lme4, BiasedUrn and numDeriv. This script only calls them.

args <- commandArgs(trailingOnly = TRUE)
if (length(args) != 1) stop("usage: Rscript validation/glmm_fixtures.R OUTDIR")
outdir <- normalizePath(args[1], mustWork = FALSE)
dir.create(outdir, recursive = TRUE, showWarnings = FALSE)

suppressPackageStartupMessages({
  library(metafor)
  library(metadat)
  library(lme4)
  library(BiasedUrn)
  library(numDeriv)
})
here <- dirname(normalizePath(sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE)[1])))
source(file.path(here, "json.R"))

source(file.path(here, "glmm_controls.R"))  # CTL, CTL_RETRY, num(), val()

# ---------------------------------------------------------------------------------------------
# 2x2 datasets
# ---------------------------------------------------------------------------------------------
datasets <- list()
add_tables <- function(name, citation, ai, n1i, ci, n2i) {
  ok <- !(is.na(ai) | is.na(n1i) | is.na(ci) | is.na(n2i))
  datasets[[name]] <<- list(citation = citation, ai = num(ai[ok]), n1i = num(n1i[ok]),
                            ci = num(ci[ok]), n2i = num(n2i[ok]))
}
d <- dat.bcg
add_tables("bcg", "Colditz et al., JAMA 1994, BCG vaccine against tuberculosis (metadat dat.bcg)",
           d$tpos, d$tpos + d$tneg, d$cpos, d$cpos + d$cneg)
d <- dat.nielweise2007
add_tables("nielweise2007",
           "Niel-Weise et al., Intensive Care Med 2007, anti-infective catheters (metadat dat.nielweise2007)",
           d$ai, d$n1i, d$ci, d$n2i)
d <- dat.collins1985a
add_tables("collins1985a",
           "Collins et al., BMJ 1985, diuretics in pregnancy, pre-eclampsia (metadat dat.collins1985a)",
           d$b.xti, d$nti, d$b.xci, d$nci)

# Simulated sparse sets: binomial-normal data with rare events (control risk 1-3% in small
# trials; 0.5% in larger ones), so that many cells are zero, some arms have no events and some
# trials none at all.
set.seed(20261205)
k <- 16
n1 <- sample(20:80, k, replace = TRUE); n2 <- sample(20:80, k, replace = TRUE)
lp <- qlogis(runif(k, 0.01, 0.03)); th <- rnorm(k, log(0.6), 0.5)
add_tables("sparse16", "simulated (set.seed(20261205)): 16 small trials, control risk 1-3%, OR 0.6, tau 0.5",
           rbinom(k, n1, plogis(lp + th)), n1, rbinom(k, n2, plogis(lp)), n2)
k <- 30
n1 <- sample(100:400, k, replace = TRUE); n2 <- sample(100:400, k, replace = TRUE)
lp <- qlogis(0.005) + rnorm(k, 0, 0.3); th <- rnorm(k, log(1.5), 0.3)
add_tables("sparse30", "simulated (set.seed(20261205), second draw): 30 trials, control risk 0.5%, OR 1.5, tau 0.3",
           rbinom(k, n1, plogis(lp + th)), n1, rbinom(k, n2, plogis(lp)), n2)

or_cases <- list()
for (name in names(datasets)) {
  ds <- datasets[[name]]
  ai <- unlist(ds$ai); n1i <- unlist(ds$n1i); ci <- unlist(ds$ci); n2i <- unlist(ds$n2i)
  for (model in c("UM.FS", "UM.RS", "CM.EL", "CM.AL")) for (method in c("EE", "ML")) {
    id <- paste(name, model, method, sep = "_")
    fit <- function(ctl) tryCatch(suppressWarnings(
      rma.glmm(measure = "OR", ai = ai, n1i = n1i, ci = ci, n2i = n2i, model = model,
               method = method, control = ctl)), error = function(e) conditionMessage(e))
    res <- fit(CTL)
    controls <- "tight"
    if (is.character(res) && model %in% c("UM.FS", "UM.RS")) {
      res <- fit(CTL_RETRY)
      controls <- "retry"
    }
    if (is.character(res)) {
      or_cases[[length(or_cases) + 1]] <- list(id = id, dataset = name, model = model,
                                                method = method, error = res)
      next
    }
    or_cases[[length(or_cases) + 1]] <- list(
      id = id, dataset = name, model = model, method = method, controls = controls,
      expected = list(k = as.integer(res$k), estimate = val(res$beta), se = val(res$se),
                      ci_lower = val(res$ci.lb), ci_upper = val(res$ci.ub), z = val(res$zval),
                      p_value = val(res$pval), tau2 = val(res$tau2),
                      sigma2 = if (model == "UM.RS") val(res$sigma2) else NULL,
                      qe_wald = val(res$QE.Wld), qe_wald_p = val(res$QEp.Wld),
                      qe_lrt = val(res$QE.LRT), qe_lrt_p = val(res$QEp.LRT),
                      i2 = val(res$I2), h2 = val(res$H2)))
  }
}

# The exact conditional likelihood, by BiasedUrn, for the tables metafor keeps (drop00).
exact <- list()
for (name in names(datasets)) {
  ds <- datasets[[name]]
  ai <- unlist(ds$ai); n1i <- unlist(ds$n1i); ci <- unlist(ds$ci); n2i <- unlist(ds$n2i)
  keep <- !((ai == 0 & ci == 0) | (ai == n1i & ci == n2i))
  ai <- ai[keep]; n1i <- n1i[keep]; ci <- ci[keep]; n2i <- n2i[keep]
  pts <- list()
  for (theta in c(-1, 0, 0.5)) {
    ll <- 0; info <- 0
    for (i in seq_along(ai)) {
      m <- ai[i] + ci[i]
      ll <- ll + log(dFNCHypergeo(ai[i], n1i[i], n2i[i], m, exp(theta), precision = 1e-15))
      x <- max(0, m - n2i[i]):min(n1i[i], m)
      p <- dFNCHypergeo(x, n1i[i], n2i[i], m, exp(theta), precision = 1e-15)
      p <- p / sum(p)
      info <- info + sum(x^2 * p) - sum(x * p)^2
    }
    pts[[length(pts) + 1]] <- list(theta = theta, loglik = ll, information = info)
  }
  exact[[name]] <- pts
}

# ---------------------------------------------------------------------------------------------
# Single-arm proportions
# ---------------------------------------------------------------------------------------------
set.seed(7)
prop_sets <- list(
  hiv = list(citation = "simulated (set.seed(7)): 12 prevalence studies, p around 0.15",
             xi = NULL, ni = sample(30:300, 12, replace = TRUE)),
  rare = list(citation = "simulated (set.seed(7), second draw): 14 studies, p around 0.02, several zero counts",
              xi = NULL, ni = sample(15:120, 14, replace = TRUE))
)
prop_sets$hiv$xi <- rbinom(12, prop_sets$hiv$ni, plogis(rnorm(12, qlogis(0.15), 0.5)))
prop_sets$rare$xi <- rbinom(14, prop_sets$rare$ni, plogis(rnorm(14, qlogis(0.02), 0.6)))
prop_sets$rare$xi[3] <- prop_sets$rare$ni[3]  # one study with only events
proportions <- list()
for (name in names(prop_sets)) {
  ps <- prop_sets[[name]]
  xi <- ps$xi; ni <- ps$ni
  out <- list(citation = ps$citation, xi = num(xi), ni = num(ni), measures = list())
  for (measure in c("PR", "PLO", "PAS", "PFT")) {
    es <- escalc(measure = measure, xi = xi, ni = ni)
    fits <- list()
    for (method in c("EE", "REML", "DL")) {
      res <- rma(yi, vi, data = es, method = method, control = list(threshold = 1e-12, maxiter = 10000, tol = 1e-12))
      pr <- if (measure == "PFT") predict(res, transf = transf.ipft.hm, targs = list(ni = ni))
            else if (measure == "PLO") predict(res, transf = transf.ilogit)
            else if (measure == "PAS") predict(res, transf = transf.iarcsin)
            else predict(res)
      fits[[method]] <- list(estimate = val(res$beta), se = val(res$se), tau2 = val(res$tau2),
                             ci_lower = val(res$ci.lb), ci_upper = val(res$ci.ub),
                             pred = val(pr$pred), pred_ci_lower = val(pr$ci.lb), pred_ci_upper = val(pr$ci.ub))
    }
    out$measures[[measure]] <- list(yi = num(es$yi), vi = num(es$vi), fits = fits)
  }
  glmm <- list()
  for (method in c("EE", "ML")) {
    res <- rma.glmm(measure = "PLO", xi = xi, ni = ni, method = method, control = CTL)
    glmm[[method]] <- list(k = as.integer(res$k), estimate = val(res$beta), se = val(res$se),
                           ci_lower = val(res$ci.lb), ci_upper = val(res$ci.ub), z = val(res$zval),
                           p_value = val(res$pval), tau2 = val(res$tau2),
                           qe_wald = val(res$QE.Wld), qe_wald_p = val(res$QEp.Wld),
                           qe_lrt = val(res$QE.LRT), qe_lrt_p = val(res$QEp.LRT),
                           i2 = val(res$I2), h2 = val(res$H2))
  }
  out$glmm <- glmm
  # The back-transformation alone, over a grid (harmonic mean of the sizes, Miller 1978).
  grid <- c(0, 0.05, 0.1, 0.3, 0.6, 0.9, 1.2, 1.5, 1.57)
  out$ipft_hm <- list(x = num(grid), p = num(transf.ipft.hm(grid, targs = list(ni = ni))))
  proportions[[name]] <- out
}

write_json_file(list(
  generated_by = "validation/glmm_fixtures.R",
  r_version = R.version.string,
  metafor_version = as.character(packageVersion("metafor")),
  lme4_version = as.character(packageVersion("lme4")),
  biasedurn_version = as.character(packageVersion("BiasedUrn")),
  controls = "glm epsilon 1e-12; glmer bobyqa rhoend 1e-10, tolPwrss 1e-12 (retry: default tolPwrss); nlminb rel.tol 1e-10; integrate rel.tol 1e-12",
  datasets = datasets, or_cases = or_cases, exact = exact, proportions = proportions
), file.path(outdir, "cases.json"))

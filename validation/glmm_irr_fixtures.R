#!/usr/bin/env Rscript
# Fixtures for trialsynth.stats.glmm.glmm_irr: metafor's rma.glmm(measure = "IRR") (Poisson-normal
# and conditional binomial-normal models) with the tight controls of glmm_fixtures.R.
#
#   Rscript validation/glmm_irr_fixtures.R OUTDIR   (pinned copy: tests/fixtures/glmm/irr_cases.json)
#
# Writes OUTDIR/irr_cases.json:
#   datasets   events and person-time per arm (x1i, t1i, x2i, t2i): metadat's dat.hart1999 and
#              dat.nielweise2008, and a sparse set simulated here (set.seed) with zero arms and a
#              trial with no events
#   cases      rma.glmm(measure="IRR", model=M, method=EE|ML) for M in UM.FS, UM.RS, CM.EL, CM.AL
# Needs R with metafor, metadat and lme4. This script only calls them.

args <- commandArgs(trailingOnly = TRUE)
if (length(args) != 1) stop("usage: Rscript validation/glmm_irr_fixtures.R OUTDIR")
outdir <- normalizePath(args[1], mustWork = FALSE)
dir.create(outdir, recursive = TRUE, showWarnings = FALSE)

suppressPackageStartupMessages({
  library(metafor)
  library(metadat)
  library(lme4)
})
here <- dirname(normalizePath(sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE)[1])))
source(file.path(here, "json.R"))

source(file.path(here, "glmm_controls.R"))  # CTL, CTL_RETRY, num(), val()

datasets <- list()
add_rates <- function(name, citation, x1i, t1i, x2i, t2i) {
  datasets[[name]] <<- list(citation = citation, x1i = num(x1i), t1i = num(t1i), x2i = num(x2i), t2i = num(t2i))
}
d <- dat.hart1999
add_rates("hart1999", "Hart et al., Ann Intern Med 1999, warfarin in atrial fibrillation, strokes per patient-year (metadat dat.hart1999)",
          d$x1i, d$t1i, d$x2i, d$t2i)
d <- dat.nielweise2008
add_rates("nielweise2008", "Niel-Weise et al., J Hosp Infect 2008, catheter-related bloodstream infections per catheter-day (metadat dat.nielweise2008)",
          d$x1i, d$t1i, d$x2i, d$t2i)
set.seed(20261206)
k <- 20
t1 <- round(runif(k, 100, 2000)); t2 <- round(runif(k, 100, 2000))
lr <- log(0.004) + rnorm(k, 0, 0.4); th <- rnorm(k, log(0.7), 0.4)
x1 <- rpois(k, t1 * exp(lr + th)); x2 <- rpois(k, t2 * exp(lr))
x1[20] <- 0; x2[20] <- 0  # one trial with no events (left out: drop00)
add_rates("sparse20", "simulated (set.seed(20261206)): 20 trials, 100-2000 person-years per arm, rate 0.004, IRR 0.7, tau 0.4; trial 20 set to no events",
          x1, t1, x2, t2)

cases <- list()
for (name in names(datasets)) {
  ds <- datasets[[name]]
  x1i <- unlist(ds$x1i); t1i <- unlist(ds$t1i); x2i <- unlist(ds$x2i); t2i <- unlist(ds$t2i)
  for (model in c("UM.FS", "UM.RS", "CM.EL", "CM.AL")) for (method in c("EE", "ML")) {
    id <- paste(name, model, method, sep = "_")
    fit <- function(ctl) tryCatch(suppressWarnings(
      rma.glmm(measure = "IRR", x1i = x1i, t1i = t1i, x2i = x2i, t2i = t2i, model = model,
               method = method, control = ctl)), error = function(e) conditionMessage(e))
    res <- fit(CTL)
    controls <- "tight"
    if (is.character(res)) {
      res <- fit(CTL_RETRY)
      controls <- "retry"
    }
    if (is.character(res)) {
      cases[[length(cases) + 1]] <- list(id = id, dataset = name, model = model, method = method, error = res)
      next
    }
    cases[[length(cases) + 1]] <- list(
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

write_json_file(list(
  generated_by = "validation/glmm_irr_fixtures.R",
  r_version = R.version.string,
  metafor_version = as.character(packageVersion("metafor")),
  lme4_version = as.character(packageVersion("lme4")),
  controls = "glm epsilon 1e-12; glmer bobyqa rhoend 1e-10, tolPwrss 1e-12 (retry: default tolPwrss)",
  datasets = datasets, cases = cases
), file.path(outdir, "irr_cases.json"))

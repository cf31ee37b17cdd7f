#!/usr/bin/env Rscript
# metafor's results for the numerics of issue 15 (rare events, Hartung-Knapp, run's extras).
#
#   Rscript validation/issue15_fixtures.R OUTDIR      (the pinned copy: tests/fixtures/issue15/)
#
# Writes OUTDIR/cases.json:
#   * mh_rd_*: Mantel-Haenszel risk differences with double-zero tables, metafor's default
#     (rma.mh drop00 = TRUE: the tables count in the estimate, not in Q) - a small made-up
#     set and metadat's dat.nielweise2007 (a rare-event set the other tests never use);
#   * hk_identical: identical effects under test = "knha" (zero-width CI) and "adhoc";
#   * bcg_run: dat.bcg's REML meta-regression on absolute latitude, regtest and ranktest
#     (what `trialsynth run examples/bcg` must report);
#   * nielweise_or: dat.nielweise2007 pooled as MH odds ratios and its leave-one-out (metafor
#     drops the double-zero trial from OR tables, so it has nothing to leave out).
# This script only calls metafor; no metafor code is copied.

args <- commandArgs(trailingOnly = TRUE)
if (length(args) != 1) stop("usage: Rscript validation/issue15_fixtures.R OUTDIR")
here <- dirname(normalizePath(sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE)[1])))
suppressPackageStartupMessages({
  library(metafor)
  library(metadat)
})
source(file.path(here, "json.R"))

mh_rd <- function(id, d) {
  r <- rma.mh(ai = ai, n1i = n1i, ci = ci, n2i = n2i, data = d, measure = "RD")
  list(
    id = id,
    data = list(ai = as.list(as.double(d$ai)), n1i = as.list(as.double(d$n1i)),
                ci = as.list(as.double(d$ci)), n2i = as.list(as.double(d$n2i))),
    expected = list(estimate = as.double(r$beta), se = r$se, q = r$QE, q_df = as.integer(r$k.yi - 1L),
                    q_p_value = r$QEp, i2 = r$I2, h2 = r$H2, k = as.integer(r$k))
  )
}

small <- data.frame(ai = c(0, 2, 1, 0, 3), n1i = c(20, 25, 30, 15, 40),
                    ci = c(0, 4, 3, 0, 1), n2i = c(22, 24, 31, 16, 38))
nw <- dat.nielweise2007

yi <- c(0.1, 0.1, 0.1)
vi <- c(0.01, 0.04, 0.09)
knha <- rma(yi, vi, method = "DL", test = "knha")
adhoc <- rma(yi, vi, method = "DL", test = "adhoc")
hk <- list(
  id = "hk_identical",
  data = list(yi = as.list(yi), vi = as.list(vi)),
  expected = list(
    knha = list(estimate = as.double(knha$beta), ci_lower = knha$ci.lb, ci_upper = knha$ci.ub),
    adhoc = list(estimate = as.double(adhoc$beta), se = adhoc$se, ci_lower = adhoc$ci.lb,
                 ci_upper = adhoc$ci.ub, p_value = adhoc$pval)
  )
)

bcg <- escalc(measure = "RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)
ctrl <- list(threshold = 1e-12, maxiter = 10000, tol = 1e-12)
fit <- rma(yi, vi, data = bcg, method = "REML", control = ctrl)
reg <- rma(yi, vi, mods = ~ ablat, data = bcg, method = "REML", control = ctrl)
eg <- regtest(fit)
rk <- ranktest(fit)
bcg_case <- list(
  id = "bcg_run",
  expected = list(
    intercept = as.double(reg$beta[1]), slope = as.double(reg$beta[2]),
    intercept_se = reg$se[1], slope_se = reg$se[2], qm = reg$QM, qm_p_value = reg$QMp,
    tau2 = reg$tau2, r2 = reg$R2, qe = reg$QE,
    egger_z = eg$zval, egger_p = eg$pval, begg_tau = as.double(rk$tau), begg_p = rk$pval
  )
)

mh_or <- rma.mh(ai = ai, n1i = n1i, ci = ci, n2i = n2i, data = nw, measure = "OR")
loo <- leave1out(mh_or)
# leave1out lists every row; metafor's own fit drops the double-zero table (no yi), so leaving it
# out changes nothing. The pooled trials are those with a per-study log odds ratio.
pooled <- !((nw$ai == 0 & nw$ci == 0) | (nw$ai == nw$n1i & nw$ci == nw$n2i))
nw_case <- list(
  id = "nielweise_or",
  data = list(study = as.list(paste(nw$author, nw$year)), ai = as.list(as.double(nw$ai)),
              n1i = as.list(as.double(nw$n1i)), ci = as.list(as.double(nw$ci)),
              n2i = as.list(as.double(nw$n2i))),
  expected = list(
    estimate = as.double(mh_or$beta), se = mh_or$se, q = mh_or$QE, k_pooled = as.integer(sum(pooled)),
    loo_omitted = as.list(paste(nw$author, nw$year)[pooled]),
    loo_estimate = as.list(as.double(loo$estimate[pooled])),
    loo_se = as.list(as.double(loo$se[pooled]))
  )
)

cases <- list(mh_rd("mh_rd_small", small), mh_rd("mh_rd_nielweise2007", nw), hk, bcg_case, nw_case)
write_json_file(list(source = "metafor", version = as.character(packageVersion("metafor")), cases = cases),
                file.path(args[1], "cases.json"))

#!/usr/bin/env Rscript
# Regenerate trialsynth's pinned metafor fixtures for the analyses beyond the pooled estimate:
# subgroups, meta-regression (with permutation tests), leave-one-out, influence diagnostics,
# cumulative meta-analysis and small-study effects / publication bias.
#
#   Rscript validation/metafor_fixtures_analyses.R OUTDIR   (pinned copy: tests/fixtures/metafor_analyses)
#
# Writes
#   OUTDIR/data/<name>.csv  inputs in trialsynth's CLI format (effect columns plus moderator /
#                           subgroup columns), built here from public 'metadat' datasets
#   OUTDIR/cases.json       one entry per analysis: the trialsynth call (kind + options), the exact
#                           R code evaluated ('r_call') and what it returned ('expected'), on the
#                           analysis scale (log for ratios)
#
# Needs R with metafor (3.8-1 pinned), metadat and numDeriv (for selmodel's Hessian; Debian:
# r-cran-numderiv). This script only *calls* metafor; no metafor code is copied here. Harbord's
# test is not in metafor: its expected values come from R's lm() on the score statistics
# (Harbord, Egger & Sterne, Stat Med 2006), i.e. from hand algebra, not from metafor.
#
# As in metafor_fixtures.R, every analysis reads its input back from the CSV it wrote, numbers
# are written with full precision, and the convergence controls are tightened (CTL) so that
# iterative estimates are the roots to ~1e-12.

args <- commandArgs(trailingOnly = TRUE)
if (length(args) != 1) stop("usage: Rscript validation/metafor_fixtures_analyses.R OUTDIR")
outdir <- normalizePath(args[1], mustWork = FALSE)
dir.create(file.path(outdir, "data"), recursive = TRUE, showWarnings = FALSE)

suppressPackageStartupMessages({
  library(metafor)
  library(metadat)
})
if (packageVersion("metafor") != "3.8.1") {
  message("note: the pinned fixtures come from metafor 3.8-1; this is metafor ",
          packageVersion("metafor"), ", so values may differ slightly")
}
if (!requireNamespace("numDeriv", quietly = TRUE)) stop("selmodel() needs the numDeriv package")

script_dir <- dirname(normalizePath(sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE)[1])))
source(file.path(script_dir, "json.R"))

csv_quote <- function(s) paste0('"', gsub('"', '""', s, fixed = TRUE), '"')

# Write an input file: 'study' first; character columns quoted, numbers in full precision,
# NA as an empty cell.
write_input <- function(df, name) {
  stopifnot(names(df)[1] == "study", !anyDuplicated(df$study))
  cols <- lapply(names(df), function(j) {
    x <- df[[j]]
    out <- rep("", length(x))
    ok <- !is.na(x)
    out[ok] <- if (is.character(x)) csv_quote(x[ok]) else fmt_num(x[ok])
    out
  })
  lines <- c(paste(names(df), collapse = ","), do.call(paste, c(cols, sep = ",")))
  path <- file.path(outdir, "data", paste0(name, ".csv"))
  con <- file(path, open = "wb", encoding = "UTF-8")
  writeLines(enc2utf8(lines), con, sep = "\n", useBytes = TRUE)
  close(con)
  back <- read.csv(path, check.names = FALSE, stringsAsFactors = FALSE, encoding = "UTF-8",
                   na.strings = c("", "NA"))
  for (j in names(df)) stopifnot(identical(is.na(back[[j]]), is.na(df[[j]])),
                                 all(back[[j]] == df[[j]], na.rm = TRUE))
  file.path("data", paste0(name, ".csv"))
}

unique_labels <- function(s) {
  dup <- s %in% s[duplicated(s)]
  s[dup] <- paste0(s[dup], " (", ave(seq_along(s), s, FUN = seq_along)[dup], ")")
  stopifnot(!anyDuplicated(s))
  s
}

# ---------------------------------------------------------------------------------------------
# Inputs (metadat datasets, see each help page for the source)
# ---------------------------------------------------------------------------------------------
inputs <- list()
add_input <- function(name, dataset, citation, type, df) {
  inputs[[name]] <<- list(dataset = dataset, citation = citation, type = type,
                          path = write_input(df, name))
}

d <- dat.bcg
add_input("bcg", "dat.bcg", "Colditz et al., JAMA 1994 (metadat dat.bcg)", "binary",
  data.frame(study = paste(d$author, d$year), events_treatment = d$tpos, n_treatment = d$tpos + d$tneg,
             events_control = d$cpos, n_control = d$cpos + d$cneg,
             ablat = d$ablat, alloc = d$alloc, year = d$year, stringsAsFactors = FALSE))

d <- dat.egger2001
add_input("egger2001", "dat.egger2001",
  "Egger et al., BMJ 2001, magnesium after myocardial infarction (metadat dat.egger2001)", "binary",
  data.frame(study = unique_labels(paste(d$study, d$year)), events_treatment = d$ai, n_treatment = d$n1i,
             events_control = d$ci, n_control = d$n2i, year = d$year, stringsAsFactors = FALSE))

d <- dat.hine1989
add_input("hine1989", "dat.hine1989", "Hine et al., Arch Intern Med 1989 (metadat dat.hine1989)", "binary",
  data.frame(study = d$source, events_treatment = d$ai, n_treatment = d$n1i,
             events_control = d$ci, n_control = d$n2i, stringsAsFactors = FALSE))

d <- dat.linde2005
add_input("linde2005", "dat.linde2005",
  "Linde et al., Br J Psychiatry 2005, St John's wort for depression (metadat dat.linde2005)", "binary",
  data.frame(study = unique_labels(paste(d$study, d$year)), events_treatment = d$ai, n_treatment = d$n1i,
             events_control = d$ci, n_control = d$n2i, major = as.character(d$major),
             duration = d$duration, baseline = d$baseline, stringsAsFactors = FALSE))

d <- dat.normand1999
add_input("normand1999", "dat.normand1999", "Normand, Stat Med 1999 (metadat dat.normand1999)", "continuous",
  data.frame(study = d$source, mean_treatment = d$m1i, sd_treatment = d$sd1i, n_treatment = d$n1i,
             mean_control = d$m2i, sd_control = d$sd2i, n_control = d$n2i, stringsAsFactors = FALSE))

d <- dat.curtis1998
add_input("curtis1998", "dat.curtis1998", "Curtis & Wang, Oecologia 1998 (metadat dat.curtis1998)",
  "continuous",
  data.frame(study = paste0(d$genus, " ", d$species, " #", d$id),
             mean_treatment = d$m1i, sd_treatment = d$sd1i, n_treatment = d$n1i,
             mean_control = d$m2i, sd_control = d$sd2i, n_control = d$n2i,
             fungrp = d$fungrp, time = d$time, method = d$method, stringsAsFactors = FALSE))

d <- dat.hackshaw1998
add_input("hackshaw1998", "dat.hackshaw1998",
  "Hackshaw et al., BMJ 1997 (metadat dat.hackshaw1998); log OR with SE = sqrt(vi)", "generic_log",
  data.frame(study = paste(d$author, d$year), log_estimate = d$yi, se = sqrt(d$vi),
             country = d$country, design = d$design, year = d$year, stringsAsFactors = FALSE))

d <- dat.bangertdrowns2004
add_input("bangertdrowns2004", "dat.bangertdrowns2004",
  "Bangert-Drowns et al., Rev Educ Res 2004 (metadat dat.bangertdrowns2004); SMD with SE = sqrt(vi)",
  "generic_se",
  data.frame(study = unique_labels(paste(d$author, d$year)), estimate = d$yi, se = sqrt(d$vi),
             grade = d$grade, length = d$length, minutes = d$minutes, wic = d$wic, meta = d$meta,
             stringsAsFactors = FALSE))

d <- dat.raudenbush1985
add_input("raudenbush1985", "dat.raudenbush1985",
  "Raudenbush, J Educ Psychol 1984, teacher expectancy (metadat dat.raudenbush1985); SMD with SE",
  "generic_se",
  data.frame(study = unique_labels(paste(d$author, d$year)), estimate = d$yi, se = sqrt(d$vi),
             weeks = d$weeks, setting = d$setting, tester = d$tester, stringsAsFactors = FALSE))

d <- dat.pignon2000
add_input("pignon2000", "dat.pignon2000", "Pignon et al., Lancet 2000 (metadat dat.pignon2000); O - E and V",
  "hr_ome",
  data.frame(study = d$trial, o_minus_e = d$OmE, v = d$V, grp = d$grp, stringsAsFactors = FALSE))

# ---------------------------------------------------------------------------------------------
# Code builders
# ---------------------------------------------------------------------------------------------
CTL <- "control=list(threshold=1e-12, maxiter=10000, tol=1e-12)"

read_code <- function(inp)
  sprintf('dat <- read.csv("%s", check.names=FALSE, stringsAsFactors=FALSE, na.strings=c("", "NA"))', inp$path)

# Leaves yi, vi (and ni where sample sizes exist) as columns of 'dat'.
# 2x2 tables: escalc's defaults (drop00 = FALSE: a double-zero table is kept, 1/2 added to
# each cell), as rma(measure=, ai=, ...) and trialsynth's metafor profile.
effects_code <- function(inp, measure) {
  drop00 <- "FALSE"
  switch(inp$type,
    binary = paste0(sprintf(paste0('es <- escalc(measure="%s", ai=events_treatment, n1i=n_treatment, ',
                                   'ci=events_control, n2i=n_control, data=dat, add=1/2, to="only0", drop00=%s)'),
                            measure, drop00),
                    '; dat$yi <- c(es$yi); dat$vi <- es$vi; dat$ni <- dat$n_treatment + dat$n_control'),
    continuous = paste0(sprintf(paste0('es <- escalc(measure="%s", m1i=mean_treatment, sd1i=sd_treatment, ',
                                       'n1i=n_treatment, m2i=mean_control, sd2i=sd_control, n2i=n_control, data=dat)'),
                                measure),
                        '; dat$yi <- c(es$yi); dat$vi <- es$vi; dat$ni <- dat$n_treatment + dat$n_control'),
    generic_log = 'dat$yi <- dat$log_estimate; dat$vi <- dat$se^2',
    generic_se = 'dat$yi <- dat$estimate; dat$vi <- dat$se^2',
    hr_ome = 'dat$yi <- dat$o_minus_e / dat$v; dat$vi <- 1 / dat$v',
    stop("unknown input type ", inp$type))
}

fit_call <- function(method, test, extra = "") {
  if (method == "MH")
    return(paste0('rma.mh(measure=MEASURE, ai=events_treatment, n1i=n_treatment, ci=events_control, ',
                  'n2i=n_control, data=dat, add=1/2, to="only0", drop00=DROP00, slab=study', extra, ')'))
  if (method == "PETO")
    return(paste0('rma.peto(ai=events_treatment, n1i=n_treatment, ci=events_control, n2i=n_control, ',
                  'data=dat, add=1/2, to="only0", drop00=TRUE, slab=study', extra, ')'))
  sprintf('rma(yi, vi, data=dat, slab=study, method="%s", test="%s"%s, %s)', method, test, extra, CTL)
}

head_code <- function(inp, measure, method) {
  code <- paste0(read_code(inp), "\n", effects_code(inp, measure))
  if (method %in% c("MH", "PETO"))
    code <- paste0(code, sprintf('\nMEASURE <- "%s"; DROP00 <- %s', measure, if (measure == "RD") "FALSE" else "TRUE"))
  code
}

num <- function(x) if (is.null(x) || length(x) == 0) NA_real_ else as.double(x[[1]])
nums <- function(x) lapply(as.double(x), function(v) v)

run_code <- function(code) {
  env <- new.env(parent = globalenv())
  warns <- character()
  old <- setwd(outdir)
  on.exit(setwd(old))
  withCallingHandlers(eval(parse(text = code), envir = env), warning = function(w) {
    warns <<- c(warns, conditionMessage(w))
    invokeRestart("muffleWarning")
  })
  env$.warnings <- unique(warns)
  env
}

cases <- list()
add_case <- function(case) {
  case$id <- paste(c(case$kind, case$input, case$measure, case$method,
                     if (isTRUE(case$hk)) "hk", case$tag), collapse = "_")
  case$dataset <- inputs[[case$input]]$dataset
  case$citation <- inputs[[case$input]]$citation
  case$input <- inputs[[case$input]]$path
  if (nzchar(Sys.getenv("FIXTURES_VERBOSE"))) message(case$id)
  cases[[length(cases) + 1]] <<- case
}
test_of <- function(hk) if (hk) "knha" else "z"
random <- function(method) !(method %in% c("FE", "MH", "PETO"))

# ---------------------------------------------------------------------------------------------
# Subgroups
# ---------------------------------------------------------------------------------------------
subgroup_case <- function(input, measure, method, column, tau2 = "separate", hk = FALSE) {
  inp <- inputs[[input]]
  test <- test_of(hk)
  code <- head_code(inp, measure, method)
  code <- paste0(code, sprintf('\ng <- dat[["%s"]]', column))
  if (tau2 == "separate") {
    code <- paste0(code, '\nlv <- levels(factor(g))',
      '\nfits <- lapply(lv, function(l) ', sub("data=dat", "data=dat, subset=!is.na(g) & g == l",
                                              fit_call(method, test), fixed = TRUE), ')',
      '\nest <- sapply(fits, function(f) c(f$beta)); se <- sapply(fits, function(f) f$se)',
      '\nbtw <- rma(est, sei=se, mods=~factor(lv), method="FE")')
  } else {
    code <- paste0(code,
      '\nres <- ', sub("data=dat", "mods=~factor(g), data=dat", fit_call(method, test), fixed = TRUE),
      '\nres0 <- ', sub("data=dat", "mods=~factor(g)-1, data=dat", fit_call(method, test), fixed = TRUE))
  }
  env <- run_code(code)
  if (tau2 == "separate") {
    groups <- lapply(seq_along(env$lv), function(j) {
      f <- env$fits[[j]]
      list(name = env$lv[j], k = as.integer(f$k), estimate = num(f$beta), se = num(f$se),
           ci_lower = num(f$ci.lb), ci_upper = num(f$ci.ub), p_value = num(f$pval),
           tau2 = if (random(method)) num(f$tau2) else NA)
    })
    btw <- env$btw
    expected <- list(subgroups = groups, q_between = num(btw$QM), q_between_df = as.integer(btw$QMdf[1]),
                     q_between_df2 = NA, q_between_p_value = num(btw$QMp))
  } else {
    res <- env$res; res0 <- env$res0
    names_ <- sub("^factor\\(g\\)", "", rownames(res0$beta))
    used <- !is.na(env$dat$yi) & !is.na(env$g)
    ks <- table(env$g[used])
    groups <- lapply(seq_along(names_), function(j)
      list(name = names_[j], k = as.integer(ks[[names_[j]]]), estimate = num(res0$beta[j]), se = num(res0$se[j]),
           ci_lower = num(res0$ci.lb[j]), ci_upper = num(res0$ci.ub[j]), p_value = num(res0$pval[j]),
           tau2 = if (random(method)) num(res$tau2) else NA))
    expected <- list(subgroups = groups, q_between = num(res$QM), q_between_df = as.integer(res$QMdf[1]),
                     q_between_df2 = if (hk) num(res$QMdf[2]) else NA, q_between_p_value = num(res$QMp))
  }
  add_case(list(kind = "subgroup", input = input, measure = measure, method = method, hk = hk,
                tag = paste(column, tau2, sep = "_"),
                options = list(subgroup = column, subgroup_tau2 = tau2), r_call = code,
                expected = expected, warnings = as.list(env$.warnings)))
}

# ---------------------------------------------------------------------------------------------
# Meta-regression (and exact permutation tests)
# ---------------------------------------------------------------------------------------------
regression_case <- function(input, measure, method, mods, hk = FALSE, permutations = NULL) {
  inp <- inputs[[input]]
  test <- test_of(hk)
  code <- head_code(inp, measure, method)
  code <- paste0(code, '\nres <- ', sub("data=dat", sprintf("mods=~%s, data=dat", paste(mods, collapse = "+")),
                                        fit_call(method, test), fixed = TRUE))
  if (!is.null(permutations))
    code <- paste0(code, sprintf('\nperm <- permutest(res, exact=TRUE, progbar=FALSE)'))
  env <- run_code(code)
  res <- env$res
  coefs <- lapply(seq_along(res$beta), function(j)
    list(name = rownames(res$beta)[j], estimate = num(res$beta[j]), se = num(res$se[j]),
         ci_lower = num(res$ci.lb[j]), ci_upper = num(res$ci.ub[j]), p_value = num(res$pval[j])))
  expected <- list(
    k_model = as.integer(res$k), coefficients = coefs, qm = num(res$QM), qm_df = as.integer(res$QMdf[1]),
    qm_df2 = if (hk) num(res$QMdf[2]) else NA, qm_p_value = num(res$QMp),
    qe = num(res$QE), qe_df = as.integer(res$k - res$p), qe_p_value = num(res$QEp),
    r2 = num(res$R2), tau2 = if (random(method)) num(res$tau2) else NA, i2 = num(res$I2), h2 = num(res$H2))
  options <- list(moderators = paste(mods, collapse = ","))
  tag <- paste(mods, collapse = "+")
  if (!is.null(permutations)) {
    perm <- env$perm
    stopifnot(!anyNA(perm$QM.perm))  # every permuted model converged, so the count is exact
    expected$permutation <- list(iterations = as.integer(length(perm$QM.perm)), exact = TRUE,
                                 qm_p_value = num(perm$QMp))
    expected$permutation_p_values <- nums(perm$pval)
    options$permutations <- as.integer(permutations)
    tag <- paste0(tag, "_perm")
  }
  add_case(list(kind = "regression", input = input, measure = measure, method = method, hk = hk, tag = tag,
                options = options, r_call = code, expected = expected, warnings = as.list(env$.warnings)))
}

# ---------------------------------------------------------------------------------------------
# Leave-one-out and influence (and cumulative)
# ---------------------------------------------------------------------------------------------
influence_case <- function(input, measure, method, hk = FALSE, mods = NULL, cumulative_by = NULL) {
  inp <- inputs[[input]]
  test <- test_of(hk)
  code <- head_code(inp, measure, method)
  fc <- fit_call(method, test)
  if (!is.null(mods)) fc <- sub("data=dat", sprintf("mods=~%s, data=dat", paste(mods, collapse = "+")), fc, fixed = TRUE)
  code <- paste0(code, "\nres <- ", fc)
  if (is.null(mods)) code <- paste0(code, "\nl1o <- leave1out(res)")
  iv <- !(method %in% c("MH", "PETO"))
  if (iv) code <- paste0(code, "\ninf <- influence(res)")
  if (!is.null(cumulative_by)) code <- paste0(code, sprintf('\ncm <- cumul(res, order=%s)', cumulative_by))
  env <- run_code(code)
  rows <- function(x, labels) lapply(seq_along(labels), function(i) list(
    study = labels[i], estimate = num(x$estimate[i]), se = num(x$se[i]),
    p_value = num(if (is.null(x$pval)) x$pvals[i] else x$pval[i]),
    ci_lower = num(x$ci.lb[i]), ci_upper = num(x$ci.ub[i]),
    tau2 = if (random(method)) num(x$tau2[i]) else NA, i2 = num(x$I2[i]), h2 = num(x$H2[i]),
    q = num(x$Q[i]), q_p_value = num(x$Qp[i])))
  expected <- list()
  if (is.null(mods)) expected$leave_one_out <- rows(env$l1o, as.character(env$l1o$slab))
  if (iv) {
    inf <- env$inf$inf
    dfbs <- as.data.frame(env$inf$dfbs)
    labels <- as.character(inf$slab)
    expected$influence <- lapply(seq_along(labels), function(i) list(
      study = labels[i], rstudent = num(inf$rstudent[i]), dffits = num(inf$dffits[i]),
      cooks_distance = num(inf$cook.d[i]), cov_ratio = num(inf$cov.r[i]),
      tau2_deleted = num(inf$tau2.del[i]), q_deleted = num(inf$QE.del[i]), hat = num(inf$hat[i]),
      weight = num(inf$weight[i]), influential = identical(inf$inf[i], "*"),
      dfbetas = nums(unlist(dfbs[i, ]))))
  } else {
    expected$influence <- NA
  }
  if (!is.null(cumulative_by)) {
    cm <- env$cm
    expected$cumulative <- rows(cm, as.character(cm$slab))
  }
  options <- list()
  tag <- NULL
  if (!is.null(mods)) { options$moderators <- paste(mods, collapse = ","); tag <- paste(mods, collapse = "+") }
  if (!is.null(cumulative_by)) { options$cumulative_by <- cumulative_by; tag <- c(tag, paste0("cumul_", cumulative_by)) }
  add_case(list(kind = "influence", input = input, measure = measure, method = method, hk = hk,
                tag = if (length(tag)) paste(tag, collapse = "_") else NULL,
                options = if (length(options)) options else setNames(list(), character()),
                r_call = code, expected = expected, warnings = as.list(env$.warnings)))
}

# ---------------------------------------------------------------------------------------------
# Small-study effects and publication bias
# ---------------------------------------------------------------------------------------------
bias_case <- function(input, measure, method, hk = FALSE, orwin_target = NULL, estimator = "L0",
                      side = NULL, steps = c(0.025), selmodel = TRUE, tag = NULL) {
  inp <- inputs[[input]]
  test <- test_of(hk)
  code <- head_code(inp, measure, method)
  has_n <- inp$type %in% c("binary", "continuous")
  fc <- fit_call(method, test)
  if (has_n) fc <- sub("data=dat", "ni=ni, data=dat", fc, fixed = TRUE)
  tf_args <- paste0(sprintf('estimator="%s"', estimator), if (!is.null(side)) sprintf(', side="%s"', side))
  orwin <- if (is.null(orwin_target)) "" else sprintf(", target=%s", fmt_num(orwin_target))
  code <- paste0(code, "\nres <- ", fc,
    "\neg <- regtest(res)\neglm <- regtest(res, model=\"lm\")\nrk <- ranktest(res)",
    sprintf("\ntf <- trimfill(res, %s, %s)", tf_args, CTL),
    "\nd1 <- dat[!is.na(dat$yi), ]",
    "\nfs1 <- fsn(yi, vi, data=d1)", sprintf("\nfs2 <- fsn(yi, vi, data=d1, type=\"Orwin\"%s)", orwin),
    "\nfs3 <- fsn(yi, vi, data=d1, type=\"Rosenberg\")")
  if (has_n) code <- paste0(code, '\npt <- regtest(res, predictor="ninv")')
  harbord <- inp$type == "binary" && measure == "OR"
  if (harbord) code <- paste0(code,
    "\nhb <- with(dat, { n <- n_treatment + n_control; m1 <- events_treatment + events_control; ",
    "V <- as.numeric(n_treatment) * n_control * m1 * (n - m1) / (n^2 * (n - 1)); ",
    "Z <- events_treatment - m1 * n_treatment / n; ok <- V > 0; ",
    "y <- Z[ok] / sqrt(V[ok]); x <- sqrt(V[ok]); summary(lm(y ~ x)) })")
  # selmodel() maximises the likelihood with optim(method="BFGS") on finite-difference
  # gradients whose default step (ndeps = 1e-3) leaves the gradient at ~1e-5 when it stops, so
  # the estimates are ~1e-6 (relative) short of the maximum. With steps of 1e-6 (one per
  # parameter: intercept, tau2 and one delta per interval) and reltol = 1e-16 it reaches the
  # maximum to ~1e-8 (same log-likelihood, gradient ~1e-10), which is what is pinned.
  if (selmodel) code <- paste0(code, sprintf(
    '\nsel <- selmodel(res, type="stepfun", steps=c(%s), control=list(reltol=1e-16, maxit=10000, ndeps=rep(1e-6, %d)))',
    paste(fmt_num(steps), collapse = ", "), 2L + length(unique(c(steps, 1)))))
  env <- run_code(code)
  reg <- function(r) list(z = num(r$zval), df = if (is.null(r$dfs)) NA else num(r$dfs), p_value = num(r$pval),
                          limit_estimate = num(r$est), limit_ci_lower = num(r$ci.lb),
                          limit_ci_upper = num(r$ci.ub))
  tf <- env$tf
  expected <- list(
    egger = reg(env$eg), egger_lm = reg(env$eglm),
    begg = list(tau = num(env$rk$tau), p_value = num(env$rk$pval)),
    trimfill = list(k0 = as.integer(tf$k0), side = tf$side, estimate = num(tf$beta), se = num(tf$se),
                    ci_lower = num(tf$ci.lb), ci_upper = num(tf$ci.ub), p_value = num(tf$pval),
                    tau2 = if (random(method)) num(tf$tau2) else NA),
    failsafe = list(rosenthal = num(env$fs1$fsnum), rosenthal_p_value = num(env$fs1$pval),
                    orwin = num(env$fs2$fsnum), orwin_target = num(env$fs2$target),
                    orwin_mean = num(env$fs2$meanes), rosenberg = num(env$fs3$fsnum),
                    rosenberg_p_value = num(env$fs3$pval)))
  expected$peters <- if (has_n) reg(env$pt) else NA
  if (harbord) {
    cf <- env$hb$coefficients
    expected$harbord <- list(bias = num(cf[1, 1]), se = num(cf[1, 2]), t = num(cf[1, 3]),
                             df = as.integer(env$hb$df[2]), p_value = num(cf[1, 4]), slope = num(cf[2, 1]))
  } else {
    expected$harbord <- NA
  }
  if (selmodel) {
    s <- env$sel
    expected$selmodel <- list(estimate = num(s$beta), se = num(s$se), tau2 = num(s$tau2),
                              delta = nums(s$delta), lrt = num(s$LRT), lrt_p_value = num(s$LRTp))
  }
  options <- list(trimfill_estimator = estimator, steps = paste(fmt_num(steps), collapse = ","))
  if (!is.null(side)) options$side <- side
  if (!is.null(orwin_target)) options$orwin_target <- orwin_target
  add_case(list(kind = "bias", input = input, measure = measure, method = method, hk = hk, tag = tag,
                options = options, r_call = code, expected = expected, warnings = as.list(env$.warnings)))
}

# ---------------------------------------------------------------------------------------------
# The cases
# ---------------------------------------------------------------------------------------------
RE <- c("DL", "REML", "PM", "ML", "HE", "SJ", "EB", "HS")

# Subgroups: separate and common tau^2, with and without Hartung-Knapp, FE and MH.
subgroup_case("bcg", "OR", "REML", "alloc")
subgroup_case("bcg", "OR", "REML", "alloc", hk = TRUE)
subgroup_case("bcg", "OR", "DL", "alloc", tau2 = "common")
subgroup_case("bcg", "OR", "REML", "alloc", tau2 = "common", hk = TRUE)
subgroup_case("bcg", "OR", "FE", "alloc")
subgroup_case("bcg", "RR", "MH", "alloc")
subgroup_case("bcg", "RR", "PM", "alloc", tau2 = "common")
subgroup_case("hackshaw1998", "OR", "REML", "country")
subgroup_case("hackshaw1998", "OR", "DL", "country", tau2 = "common")
subgroup_case("hackshaw1998", "OR", "REML", "design", hk = TRUE)
subgroup_case("pignon2000", "HR", "REML", "grp")
subgroup_case("pignon2000", "HR", "REML", "grp", tau2 = "common", hk = TRUE)
subgroup_case("raudenbush1985", "SMD", "REML", "tester")
subgroup_case("raudenbush1985", "SMD", "ML", "setting", tau2 = "common")
subgroup_case("bangertdrowns2004", "SMD", "REML", "meta")
subgroup_case("linde2005", "RR", "DL", "major", hk = TRUE)
subgroup_case("curtis1998", "SMD", "REML", "fungrp")

# Meta-regression: every estimator on BCG, with and without Hartung-Knapp.
for (m in c("FE", RE)) for (hk in c(FALSE, TRUE)) regression_case("bcg", "OR", m, c("ablat", "alloc", "year"), hk = hk)
regression_case("bcg", "OR", "REML", "ablat")
regression_case("bcg", "RR", "DL", "ablat", hk = TRUE)
regression_case("bangertdrowns2004", "SMD", "REML", c("length", "minutes", "wic"))
regression_case("bangertdrowns2004", "SMD", "DL", c("length", "meta"), hk = TRUE)
regression_case("raudenbush1985", "SMD", "REML", c("weeks", "tester"))
regression_case("raudenbush1985", "SMD", "PM", c("weeks", "setting"), hk = TRUE)
regression_case("curtis1998", "SMD", "REML", c("fungrp", "time"))
regression_case("curtis1998", "SMD", "EB", c("method", "time"), hk = TRUE)
regression_case("hackshaw1998", "OR", "REML", "country")
regression_case("hackshaw1998", "OR", "ML", c("design", "year"))
regression_case("pignon2000", "HR", "REML", "grp")
regression_case("linde2005", "RR", "SJ", c("duration", "baseline"))
regression_case("bcg", "OR", "DL", "alloc", permutations = 30000)
regression_case("bcg", "OR", "DL", "alloc", hk = TRUE, permutations = 30000)

# Leave-one-out, influence, cumulative.
influence_case("bcg", "OR", "REML", cumulative_by = "alloc")
influence_case("bcg", "OR", "REML", hk = TRUE)
influence_case("bcg", "OR", "FE")
influence_case("bcg", "OR", "DL", hk = TRUE, cumulative_by = "year")
influence_case("bcg", "OR", "PM")
influence_case("bcg", "RR", "MH")
influence_case("bcg", "OR", "REML", hk = TRUE, mods = "ablat")
influence_case("bcg", "OR", "ML", mods = c("ablat", "alloc"))
influence_case("hine1989", "OR", "DL")
influence_case("hine1989", "OR", "REML")
influence_case("hine1989", "OR", "PETO")
influence_case("normand1999", "MD", "REML")
influence_case("normand1999", "MD", "ML", hk = TRUE)
influence_case("hackshaw1998", "OR", "REML", cumulative_by = "year")
influence_case("bangertdrowns2004", "SMD", "REML", hk = TRUE)
influence_case("pignon2000", "HR", "DL")
influence_case("egger2001", "OR", "EB")

# Small-study effects.
# (No selection model for BCG and the magnesium trials: no study has a one-sided p <= .025.)
bias_case("bcg", "OR", "REML", selmodel = FALSE)
bias_case("bcg", "OR", "FE", selmodel = FALSE)
bias_case("bcg", "OR", "DL", hk = TRUE, orwin_target = -0.1, selmodel = FALSE)
bias_case("bcg", "RR", "REML", estimator = "R0", selmodel = FALSE)
# The bundled BCG example's report: its funnel plot's trim and fill (L0, REML, risk ratio).
bias_case("bcg", "RR", "REML", selmodel = FALSE, tag = "report")
bias_case("egger2001", "OR", "REML", selmodel = FALSE)
# (trimfill(estimator="Q0") stops with an error in metafor 3.8 on egger2001 under DL: no case.)
bias_case("egger2001", "OR", "DL", selmodel = FALSE)
bias_case("egger2001", "OR", "FE", side = "left", selmodel = FALSE, tag = "left")
bias_case("hackshaw1998", "OR", "REML")
bias_case("hackshaw1998", "OR", "DL", orwin_target = 0.1, steps = c(0.05, 0.5))
bias_case("curtis1998", "SMD", "REML")
bias_case("curtis1998", "SMD", "PM", hk = TRUE, steps = c(0.05, 0.5))
bias_case("raudenbush1985", "SMD", "REML", selmodel = FALSE)
bias_case("normand1999", "MD", "REML", selmodel = FALSE)
bias_case("bangertdrowns2004", "SMD", "REML")
bias_case("linde2005", "OR", "REML", selmodel = FALSE)

ids <- vapply(cases, `[[`, "", "id")
if (anyDuplicated(ids)) stop("duplicate case ids: ", paste(ids[duplicated(ids)], collapse = ", "))

out <- list(
  metafor_version = as.character(packageVersion("metafor")),
  metadat_version = as.character(packageVersion("metadat")),
  r_version = R.version.string,
  generated_by = "validation/metafor_fixtures_analyses.R",
  r_setup = "library(metafor); each r_call runs with the fixtures folder as working directory",
  note = paste("Expected values are metafor's (Harbord's test: R's lm on the score statistics), on the",
               "analysis scale (log for OR, RR, HR). 'warnings' are informational (not compared)."),
  cases = cases)
con <- file(file.path(outdir, "cases.json"), open = "wb", encoding = "UTF-8")
writeLines(enc2utf8(to_json(out)), con, sep = "\n", useBytes = TRUE)
close(con)
cat(sprintf("wrote %d cases on %d inputs to %s\n", length(cases), length(inputs), outdir))

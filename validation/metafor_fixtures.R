#!/usr/bin/env Rscript
# Regenerate trialsynth's pinned reference fixtures with metafor as the oracle.
#
#   Rscript validation/metafor_fixtures.R OUTDIR        (the pinned copy: tests/fixtures/metafor)
#
# Writes
#   OUTDIR/data/<name>.csv  inputs in trialsynth's CLI format, built here from public
#                           datasets of the 'metadat' package (never typed by hand)
#   OUTDIR/cases.json       one entry per analysis: how trialsynth is to be called and what
#                           metafor returned for it (all on the analysis scale: log for ratios)
#
# Needs R with metafor (3.8-1 pinned) and metadat; no other package (JSON is written with
# base R). This script only *calls* metafor; no metafor code is copied here.
#
# Every analysis reads its input back from the CSV it wrote (so R and trialsynth see the
# very same numbers), and its metafor call is kept as a string ('r_call') which is what is
# evaluated: the string in cases.json is exactly the code that produced 'expected'.
#
# Numbers are written in the shortest form of 15, 16 or 17 significant digits that reads
# back to the identical double, so neither the CSVs nor the JSON lose precision.

args <- commandArgs(trailingOnly = TRUE)
if (length(args) != 1) stop("usage: Rscript validation/metafor_fixtures.R OUTDIR")
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

# ---------------------------------------------------------------------------------------------
# Number formatting, CSV and JSON writers (base R only)
# ---------------------------------------------------------------------------------------------
source(file.path(dirname(normalizePath(sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE)[1]))), "json.R"))


csv_quote <- function(s) paste0('"', gsub('"', '""', s, fixed = TRUE), '"')

# Write an input file: 'study' (quoted text) first, every other column numeric.
write_input <- function(df, name) {
  stopifnot(names(df)[1] == "study", !anyDuplicated(df$study), !anyNA(df))
  cols <- lapply(names(df), function(j) if (j == "study") csv_quote(df[[j]]) else fmt_num(df[[j]]))
  lines <- c(paste(names(df), collapse = ","), do.call(paste, c(cols, sep = ",")))
  path <- file.path(outdir, "data", paste0(name, ".csv"))
  con <- file(path, open = "wb", encoding = "UTF-8")
  writeLines(enc2utf8(lines), con, sep = "\n", useBytes = TRUE)
  close(con)
  # The CSV must read back to exactly the values it was written from.
  back <- read.csv(path, check.names = FALSE, stringsAsFactors = FALSE, encoding = "UTF-8")
  for (j in names(df)) stopifnot(identical(as.vector(back[[j]]) == as.vector(df[[j]]), rep(TRUE, nrow(df))))
  file.path("data", paste0(name, ".csv"))
}

# Make labels unique by numbering repeats: "Guckin 1992 (1)", "Guckin 1992 (2)".
unique_labels <- function(s) {
  dup <- s %in% s[duplicated(s)]
  s[dup] <- paste0(s[dup], " (", ave(seq_along(s), s, FUN = seq_along)[dup], ")")
  stopifnot(!anyDuplicated(s))
  s
}

# ---------------------------------------------------------------------------------------------
# Input datasets (all from metadat; see each dataset's help page for its source)
# ---------------------------------------------------------------------------------------------
# Each entry: metadat name, citation, input type, and the data frame in trialsynth's columns.

inputs <- list()
add_input <- function(name, dataset, citation, type, df) {
  inputs[[name]] <<- list(dataset = dataset, citation = citation, type = type,
                          path = write_input(df, name), k_rows = nrow(df))
}

# BCG vaccine against tuberculosis: 13 trials, binary (TB cases / allocated).
d <- dat.bcg
add_input("bcg", "dat.bcg", "Colditz et al., JAMA 1994 (metadat dat.bcg)", "binary",
  data.frame(study = paste(d$author, d$year),
             events_treatment = d$tpos, n_treatment = d$tpos + d$tneg,
             events_control = d$cpos, n_control = d$cpos + d$cneg))

# Beta blockers, Yusuf et al. table 9 (total mortality at one week after initial IV dose):
# 26 trials, 11 with a zero cell, 6 with no deaths in either arm (double zeros). Two
# trials listed without counts in the source (Ayerst, ISIS) are not written.
d <- dat.yusuf1985
d <- d[d$table == "9" & !is.na(d$ai), ]
add_input("yusuf1985_table9", "dat.yusuf1985",
  "Yusuf et al., Prog Cardiovasc Dis 1985, table 9 (metadat dat.yusuf1985)", "binary",
  data.frame(study = d$trial, events_treatment = d$ai, n_treatment = d$n1i,
             events_control = d$ci, n_control = d$n2i))

# Prophylactic lidocaine after myocardial infarction: 6 trials, binary (mortality). The
# DerSimonian-Laird tau^2 is truncated to 0 here (Q < k - 1).
d <- dat.hine1989
add_input("hine1989", "dat.hine1989", "Hine et al., Arch Intern Med 1989 (metadat dat.hine1989)",
  "binary",
  data.frame(study = d$source, events_treatment = d$ai, n_treatment = d$n1i,
             events_control = d$ci, n_control = d$n2i))

# Intensive vs moderate statin therapy, end point 1 (coronary death or MI), the two
# post-ACS trials only: a natural k = 2 subgroup.
d <- dat.cannon2006
d <- d[d$pop == "post-ACS", ]
add_input("cannon2006_postacs", "dat.cannon2006",
  "Cannon et al., J Am Coll Cardiol 2006, post-ACS trials, end point 1 (metadat dat.cannon2006)",
  "binary",
  data.frame(study = d$trial, events_treatment = d$ep1t, n_treatment = d$nt,
             events_control = d$ep1c, n_control = d$nc))

# Hydroxychloroquine/chloroquine and COVID-19 mortality: 33 trials, 15 double zeros,
# single-zero tables and one trial of 1 vs 1 patients. Repeated acronyms are numbered.
d <- dat.axfors2021
add_input("axfors2021", "dat.axfors2021",
  "Axfors et al., Nat Commun 2021 (metadat dat.axfors2021)", "binary",
  data.frame(study = unique_labels(d$acronym),
             events_treatment = d$hcq_arm_event, n_treatment = d$hcq_arm_total,
             events_control = d$control_arm_event, n_control = d$control_arm_total))

# Anti-infective catheters: 18 rare-event trials, one (Yucel 2004, 0/118 vs 0/105) double-zero,
# which rma(measure="OR"/"RR", ai=, ...) keeps (escalc's drop00 = FALSE) and rma.mh leaves out.
d <- dat.nielweise2007
add_input("nielweise2007", "dat.nielweise2007",
  "Niel-Weise et al., Intensive Care Med 2007 (metadat dat.nielweise2007)", "binary",
  data.frame(study = paste(d$author, d$year), events_treatment = d$ai, n_treatment = d$n1i,
             events_control = d$ci, n_control = d$n2i))

# Specialist stroke units vs routine care, length of hospital stay (days): 9 studies,
# continuous.
d <- dat.normand1999
add_input("normand1999", "dat.normand1999",
  "Normand, Stat Med 1999 (metadat dat.normand1999)", "continuous",
  data.frame(study = d$source, mean_treatment = d$m1i, sd_treatment = d$sd1i, n_treatment = d$n1i,
             mean_control = d$m2i, sd_control = d$sd2i, n_control = d$n2i))

# Elevated vs ambient CO2 and woody plant biomass: 102 experiments with 3-20 plants per
# group, continuous.
d <- dat.curtis1998
add_input("curtis1998", "dat.curtis1998",
  "Curtis & Wang, Oecologia 1998 (metadat dat.curtis1998)", "continuous",
  data.frame(study = paste0(d$genus, " ", d$species, " #", d$id),
             mean_treatment = d$m1i, sd_treatment = d$sd1i, n_treatment = d$n1i,
             mean_control = d$m2i, sd_control = d$sd2i, n_control = d$n2i))

# Spousal smoking and lung cancer in never-smoking women: 37 observational studies,
# odds ratios as published with their 95% CIs (natural scale) ...
d <- dat.hackshaw1998
add_input("hackshaw1998_ci", "dat.hackshaw1998",
  "Hackshaw et al., BMJ 1997 (metadat dat.hackshaw1998); published ORs with 95% CI", "generic_ci",
  data.frame(study = paste(d$author, d$year), estimate = d$or, ci_lower = d$or.lb, ci_upper = d$or.ub))
# ... and as the dataset's log odds ratios with SE = sqrt(vi) (analysis scale).
add_input("hackshaw1998_log", "dat.hackshaw1998",
  "Hackshaw et al., BMJ 1997 (metadat dat.hackshaw1998); log OR with SE = sqrt(vi)", "generic_log",
  data.frame(study = paste(d$author, d$year), log_estimate = d$yi, se = sqrt(d$vi)))

# Writing-to-learn interventions: 48 studies given as standardized mean differences with
# sampling variances (estimate, SE = sqrt(vi)); repeated author-year labels are numbered.
d <- dat.bangertdrowns2004
add_input("bangertdrowns2004", "dat.bangertdrowns2004",
  "Bangert-Drowns et al., Rev Educ Res 2004 (metadat dat.bangertdrowns2004); SMD with SE = sqrt(vi)",
  "generic_se",
  data.frame(study = unique_labels(paste(d$author, d$year)), estimate = d$yi, se = sqrt(d$vi)))

# Modified school calendars: 56 schools' SMDs, written as a difference with a 95% CI that
# this script computes from the dataset's yi and vi (yi +/- qnorm(0.975) * sqrt(vi)).
d <- dat.konstantopoulos2011
z95 <- qnorm(0.975)
add_input("konstantopoulos2011_ci", "dat.konstantopoulos2011",
  "Konstantopoulos, Res Synth Methods 2011 (metadat dat.konstantopoulos2011); 95% CI derived from yi, vi",
  "generic_ci",
  data.frame(study = paste0("district ", d$district, " school ", d$school),
             estimate = d$yi, ci_lower = d$yi - z95 * sqrt(d$vi), ci_upper = d$yi + z95 * sqrt(d$vi)))

# MYC-N amplification and overall survival in neuroblastoma: 56 log hazard ratios with SEs
# (prognostic-factor studies, not trials) ...
d <- dat.riley2003
d <- d[d$outcome == "OS", ]
add_input("riley2003_os_log", "dat.riley2003",
  "Riley et al., Health Technol Assess 2003 (metadat dat.riley2003), overall survival; log HR, SE",
  "generic_log",
  data.frame(study = paste("Study", d$study), log_estimate = d$yi, se = d$sei))
# ... and the same as HR with a CI on the natural scale, computed here as
# exp(yi +/- z * sei) at alternating 95% / 90% levels to exercise the ci_level column.
lvl <- ifelse(seq_len(nrow(d)) %% 2 == 1, 95, 90)
zl <- qnorm(1 - (1 - lvl / 100) / 2)
add_input("riley2003_os_ci", "dat.riley2003",
  "Riley et al., Health Technol Assess 2003 (metadat dat.riley2003), overall survival; HR with CI derived from yi, sei",
  "generic_ci",
  data.frame(study = paste("Study", d$study), estimate = exp(d$yi),
             ci_lower = exp(d$yi - zl * d$sei), ci_upper = exp(d$yi + zl * d$sei), ci_level = lvl))

# Chemotherapy added to locoregional treatment for head and neck cancer: 65 trials given
# as log-rank O - E and V (individual patient data); log HR = (O - E) / V, var = 1 / V.
d <- dat.pignon2000
add_input("pignon2000", "dat.pignon2000",
  "Pignon et al., Lancet 2000 (metadat dat.pignon2000); log-rank O - E and V", "hr_ome",
  data.frame(study = d$trial, o_minus_e = d$OmE, v = d$V))

# ---------------------------------------------------------------------------------------------
# The metafor calls, as code strings
# ---------------------------------------------------------------------------------------------
# Convergence controls for rma.uni: 'threshold' and 'maxiter' steer Fisher scoring (ML,
# REML, EB); 'tol' and 'maxiter' steer uniroot (PM); the defaults (1e-5, and
# .Machine$double.eps^0.25 for uniroot) are far too loose for a 1e-6 relative comparison.
CTL <- "control=list(threshold=1e-12, maxiter=10000, tol=1e-12)"

read_code <- function(inp) sprintf('dat <- read.csv("%s", check.names=FALSE, stringsAsFactors=FALSE)', inp$path)

# Code that leaves per-study yi, vi (and the rows used) in 'es'.
# 2x2 tables: escalc's defaults (add = 1/2, to = "only0", drop00 = FALSE): a double-zero
# table is kept with 1/2 added to each cell, as rma(measure=, ai=, ...) does (trialsynth's
# metafor profile). rma.mh and rma.peto below leave such tables out (their drop00 = TRUE).
effects_code <- function(inp, measure) {
  drop00 <- "FALSE"
  switch(inp$type,
    binary = sprintf(paste0('es <- escalc(measure="%s", ai=events_treatment, n1i=n_treatment, ',
                            'ci=events_control, n2i=n_control, data=dat, add=1/2, to="only0", drop00=%s)'),
                     measure, drop00),
    continuous = sprintf(paste0('es <- escalc(measure="%s", m1i=mean_treatment, sd1i=sd_treatment, ',
                                'n1i=n_treatment, m2i=mean_control, sd2i=sd_control, n2i=n_control, data=dat)'),
                         measure),
    generic_ci = paste0(
      'lvl <- if (is.null(dat$ci_level)) 95 else dat$ci_level; ',
      if (measure %in% c("OR", "RR", "HR"))
        'es <- data.frame(yi=log(dat$estimate), sei=(log(dat$ci_upper) - log(dat$ci_lower)) / (2*qnorm(1 - (1 - lvl/100)/2)))'
      else
        'es <- data.frame(yi=dat$estimate, sei=(dat$ci_upper - dat$ci_lower) / (2*qnorm(1 - (1 - lvl/100)/2)))',
      '; es$vi <- es$sei^2'),
    generic_log = 'es <- data.frame(yi=dat$log_estimate, sei=dat$se); es$vi <- es$sei^2',
    generic_se = 'es <- data.frame(yi=dat$estimate, sei=dat$se); es$vi <- es$sei^2',
    hr_ome = 'es <- data.frame(yi=dat$o_minus_e / dat$v, vi=1 / dat$v)',
    stop("unknown input type ", inp$type))
}

# Full code for one case: read, effects, fit (and, for random effects, predict). The
# tau^2 CI call is added by run_case() because its search bound may need enlarging.
fit_code <- function(inp, measure, method, test, level) {
  lv <- if (level != 95) sprintf(", level=%s", level) else ""
  if (method %in% c("MH", "PETO")) {
    drop00 <- if (measure == "RD") "FALSE" else "TRUE"
    fn <- if (method == "MH") sprintf('rma.mh(measure="%s", ', measure) else "rma.peto("
    code <- paste0(read_code(inp), "\n",
      sprintf(paste0('res <- %sai=events_treatment, n1i=n_treatment, ci=events_control, n2i=n_control, ',
                     'data=dat, add=1/2, to="only0", drop00=%s, slab=study%s)'), fn, drop00, lv))
    if (method == "MH" && measure == "RD") {
      # Every table counts in the MH risk difference and is shown with its own RD (drop00 = FALSE
      # above); Q, I^2 and H^2 are metafor's default, drop00 = TRUE: double-zero tables left out.
      code <- paste0(code, "\n",
        sprintf(paste0('res00 <- rma.mh(measure="RD", ai=events_treatment, n1i=n_treatment, ',
                       'ci=events_control, n2i=n_control, data=dat, add=1/2, to="only0"%s); ',
                       'res$QE <- res00$QE; res$QEp <- res00$QEp; res$I2 <- res00$I2; res$H2 <- res00$H2'), lv))
    }
    return(code)
  }
  paste0(read_code(inp), "\n", effects_code(inp, measure), "\n",
         sprintf('res <- rma(yi, vi, data=es, slab=dat$study, method="%s", test="%s"%s, %s)',
                 method, test, lv, CTL),
         if (method != "FE") "\npr <- predict(res)" else "")
}

# ---------------------------------------------------------------------------------------------
# Run one case and collect the expected values
# ---------------------------------------------------------------------------------------------

num <- function(x) if (is.null(x) || length(x) == 0) NA_real_ else as.double(x[[1]])

run_case <- function(id, input, measure, method, test = "z", level = 95) {
  inp <- inputs[[input]]
  code <- fit_code(inp, measure, method, test, level)
  env <- new.env(parent = globalenv())
  warns <- character()
  catch <- function(expr) withCallingHandlers(expr, warning = function(w) {
    warns <<- c(warns, conditionMessage(w))
    invokeRestart("muffleWarning")
  })
  old <- setwd(outdir)
  on.exit(setwd(old))
  catch(eval(parse(text = code), envir = env))
  res <- env$res
  random <- !(method %in% c("FE", "MH", "PETO"))

  # Q-profile CI for tau^2. metafor searches [0, tau2.max] and, when the upper bound lies
  # beyond the search range, silently returns tau2.max flagged with ub.sign ">" (no
  # warning): start from a generous bound and enlarge it until the bound is found. A bound
  # below 0 is returned as 0 (flagged "<"; both below 0 = the "null set", given as [0, 0]).
  t2max_used <- NA_real_
  t2max_enlarged <- FALSE
  tau2_ci <- c(NA_real_, NA_real_)
  ci_flags <- NULL
  if (random) {
    t2max <- 10^ceiling(log10(max(1e4, 100 * res$tau2, 100 * var(res$yi))))
    repeat {
      ci_code <- sprintf('ci <- confint(res, type="QP", control=list(tol=1e-12, maxiter=10000, tau2.max=%s))',
                         format(t2max, scientific = TRUE))
      catch(eval(parse(text = ci_code), envir = env))
      ci <- env$ci
      if (ci$ub.sign != ">") break
      t2max <- t2max * 100
      t2max_enlarged <- TRUE
      if (t2max > 1e12) stop(id, ": tau^2 CI bound not found below 1e12")
    }
    t2max_used <- t2max
    code <- paste0(code, "\n", ci_code)
    tau2_ci <- unname(ci$random["tau^2", c("ci.lb", "ci.ub")])
    ci_flags <- list(lb_sign = ci$lb.sign, ub_sign = ci$ub.sign, null_set = ci$ci.null)
  }

  # Studies that were pooled: rma.uni keeps res$yi/res$vi/weights for them only, while
  # res$slab lists every row; rma.mh / rma.peto flag them in res$not.na.yivi.
  used <- if (method %in% c("MH", "PETO")) res$not.na.yivi else res$not.na
  labels <- as.character(res$slab)[used]
  w <- weights(res)
  if (length(w) != length(labels)) w <- w[used]
  stopifnot(length(res$yi) == length(labels), length(w) == length(labels))
  studies <- lapply(seq_along(labels), function(i)
    list(study = labels[i], effect = as.double(res$yi[i]), variance = as.double(res$vi[i]),
         weight = as.double(w[i])))

  converged <- !any(grepl("converge", warns, ignore.case = TRUE))
  expected <- list(
    k = length(labels),
    estimate = num(res$beta), se = num(res$se),
    ci_lower = num(res$ci.lb), ci_upper = num(res$ci.ub), p_value = num(res$pval),
    tau2 = if (random) num(res$tau2) else NA,
    tau2_ci_lower = tau2_ci[1], tau2_ci_upper = tau2_ci[2],
    i2 = num(res$I2), h2 = num(res$H2), q = num(res$QE), q_p_value = num(res$QEp),
    pi_lower = if (random) num(env$pr$pi.lb) else NA,
    pi_upper = if (random) num(env$pr$pi.ub) else NA,
    converged = converged,
    studies = studies)

  hk <- test %in% c("knha", "adhoc")
  suffix <- if (!random) "" else switch(test, z = "_z", knha = "_hk", adhoc = "_adhoc")
  if (level != 95) suffix <- paste0(suffix, "_L", level)
  full_id <- paste0(id, "_", measure, "_", method, suffix)
  list(
    id = full_id, dataset = inp$dataset, citation = inp$citation, input = inp$path,
    measure = measure, method = method, hk = hk, hk_variant = if (hk) test else NULL,
    level = level, r_call = code, expected = expected,
    # Not compared; kept to document what metafor did.
    metafor = list(k = as.integer(res$k), k_all = as.integer(res$k.all), rows_in_input = inp$k_rows,
                   tau2_max = t2max_used, tau2_max_enlarged = t2max_enlarged, tau2_ci = ci_flags,
                   warnings = as.list(unique(warns))))
}

# ---------------------------------------------------------------------------------------------
# The cases
# ---------------------------------------------------------------------------------------------
RE <- c("DL", "REML", "PM", "ML", "HE", "SJ", "EB", "HS")
cases <- list()
add <- function(id, input, measure, method, tests = "z", level = 95) {
  for (t in tests) cases[[length(cases) + 1]] <<- run_case(id, input, measure, method, t, level)
}
both <- c("z", "knha")

# BCG, log OR: every method; each random-effects estimator with and without Hartung-Knapp.
for (m in c("FE", "MH", "PETO")) add("bcg", "bcg", "OR", m)
for (m in RE) add("bcg", "bcg", "OR", m, both)
add("bcg", "bcg", "OR", "REML", "adhoc")
add("bcg", "bcg", "OR", "DL", "adhoc")
add("bcg", "bcg", "OR", "REML", both, level = 90)
add("bcg", "bcg", "OR", "FE", level = 90)
# BCG, log RR and RD.
for (m in c("FE", "MH")) add("bcg", "bcg", "RR", m)
for (m in c("DL", "REML")) add("bcg", "bcg", "RR", m, both)
add("bcg", "bcg", "RR", "PM", "z")
add("bcg", "bcg", "RD", "MH")
add("bcg", "bcg", "RD", "FE")
add("bcg", "bcg", "RD", "DL", both)
add("bcg", "bcg", "RD", "REML", "knha")

# Yusuf table 9: zero cells and double zeros (0.5 correction; double zeros kept by escalc's
# default drop00 = FALSE for inverse variance, left out by rma.mh/rma.peto for OR/RR).
for (m in c("FE", "MH", "PETO")) add("yusuf9", "yusuf1985_table9", "OR", m)
for (m in c("DL", "REML")) add("yusuf9", "yusuf1985_table9", "OR", m, both)
add("yusuf9", "yusuf1985_table9", "OR", "PM", "z")
add("yusuf9", "yusuf1985_table9", "RR", "MH")
add("yusuf9", "yusuf1985_table9", "RR", "DL", both)
add("yusuf9", "yusuf1985_table9", "RD", "MH")
add("yusuf9", "yusuf1985_table9", "RD", "FE")
add("yusuf9", "yusuf1985_table9", "RD", "DL", both)
add("yusuf9", "yusuf1985_table9", "RD", "REML", "knha")

# Hine 1989: tau^2 = 0 (DL truncation; ML/REML at the boundary).
for (m in c("FE", "MH", "PETO")) add("hine", "hine1989", "OR", m)
for (m in c("DL", "REML", "PM")) add("hine", "hine1989", "OR", m, both)
add("hine", "hine1989", "OR", "ML", "z")
add("hine", "hine1989", "RR", "MH")
add("hine", "hine1989", "RR", "DL")
add("hine", "hine1989", "RD", "MH")
add("hine", "hine1989", "RD", "DL", both)

# Cannon 2006 post-ACS: k = 2.
for (m in c("FE", "MH", "PETO")) add("cannon2", "cannon2006_postacs", "OR", m)
for (m in c("DL", "REML", "PM")) add("cannon2", "cannon2006_postacs", "OR", m, both)
add("cannon2", "cannon2006_postacs", "OR", "SJ", "knha")
add("cannon2", "cannon2006_postacs", "RR", "MH")
add("cannon2", "cannon2006_postacs", "RR", "DL", both)

# Axfors 2021: many double zeros and tiny trials.
for (m in c("MH", "PETO", "FE")) add("axfors", "axfors2021", "OR", m)
add("axfors", "axfors2021", "OR", "DL", both)
add("axfors", "axfors2021", "OR", "REML", "z")
add("axfors", "axfors2021", "RR", "MH")
add("axfors", "axfors2021", "RD", "MH")
add("axfors", "axfors2021", "RD", "DL", "z")

# Niel-Weise 2007: inverse variance keeps the double-zero trial (k = 18); MH leaves it out.
for (m in c("FE", "MH")) add("nielweise", "nielweise2007", "OR", m)
for (m in c("DL", "REML")) add("nielweise", "nielweise2007", "OR", m, both)
add("nielweise", "nielweise2007", "RR", "REML", "z")
add("nielweise", "nielweise2007", "RR", "DL", both)
add("nielweise", "nielweise2007", "RD", "REML", "z")

# Normand 1999: continuous, MD with every estimator, SMD with several.
add("normand", "normand1999", "MD", "FE")
for (m in RE) add("normand", "normand1999", "MD", m, if (m %in% c("DL", "REML", "PM")) both else "z")
add("normand", "normand1999", "SMD", "FE")
for (m in c("DL", "REML")) add("normand", "normand1999", "SMD", m, both)
add("normand", "normand1999", "SMD", "REML", "adhoc")

# Curtis 1998: continuous, 102 small experiments (SMD only: the raw mean differences are
# on different scales and their variances span many orders of magnitude).
add("curtis", "curtis1998", "SMD", "FE")
for (m in c("DL", "REML")) add("curtis", "curtis1998", "SMD", m, both)
add("curtis", "curtis1998", "SMD", "PM", "z")

# Hackshaw: generic OR with CI (natural scale) and on the log scale.
add("hackshaw_ci", "hackshaw1998_ci", "OR", "FE")
for (m in c("DL", "REML")) add("hackshaw_ci", "hackshaw1998_ci", "OR", m, both)
add("hackshaw_ci", "hackshaw1998_ci", "OR", "EB", "z")
add("hackshaw_log", "hackshaw1998_log", "OR", "FE")
add("hackshaw_log", "hackshaw1998_log", "OR", "DL", "z")
add("hackshaw_log", "hackshaw1998_log", "OR", "REML", "knha")
add("hackshaw_log", "hackshaw1998_log", "OR", "ML", both)

# Bangert-Drowns: generic SMD with SE.
add("bangertdrowns", "bangertdrowns2004", "SMD", "FE")
for (m in c("DL", "REML")) add("bangertdrowns", "bangertdrowns2004", "SMD", m, both)
for (m in c("PM", "SJ", "HS")) add("bangertdrowns", "bangertdrowns2004", "SMD", m, "z")
add("bangertdrowns", "bangertdrowns2004", "SMD", "DL", "adhoc")

# Konstantopoulos: generic SMD with a 95% CI (difference scale).
add("konstantopoulos_ci", "konstantopoulos2011_ci", "SMD", "FE")
add("konstantopoulos_ci", "konstantopoulos2011_ci", "SMD", "REML", both)
add("konstantopoulos_ci", "konstantopoulos2011_ci", "SMD", "HE", "z")

# Riley 2003: hazard ratios, log scale with SE and natural scale with 95%/90% CIs.
add("riley_log", "riley2003_os_log", "HR", "FE")
for (m in c("DL", "REML")) add("riley_log", "riley2003_os_log", "HR", m, both)
add("riley_log", "riley2003_os_log", "HR", "PM", "knha")
add("riley_ci", "riley2003_os_ci", "HR", "FE")
for (m in c("DL", "REML")) add("riley_ci", "riley2003_os_ci", "HR", m, both)

# Pignon 2000: hazard ratios from log-rank O - E and V.
add("pignon", "pignon2000", "HR", "FE")
for (m in c("DL", "REML")) add("pignon", "pignon2000", "HR", m, both)
add("pignon", "pignon2000", "HR", "PM", "z")
add("pignon", "pignon2000", "HR", "EB", "knha")

ids <- vapply(cases, `[[`, "", "id")
if (anyDuplicated(ids)) stop("duplicate case ids: ", paste(ids[duplicated(ids)], collapse = ", "))

out <- list(
  metafor_version = as.character(packageVersion("metafor")),
  metadat_version = as.character(packageVersion("metadat")),
  r_version = R.version.string,
  generated_by = "validation/metafor_fixtures.R",
  r_setup = "library(metafor); each r_call runs with the fixtures folder as working directory",
  note = paste("Expected values are metafor's, on the analysis scale (log for OR, RR, HR).",
               "'metafor' blocks are informational (not compared)."),
  cases = cases)
con <- file(file.path(outdir, "cases.json"), open = "wb", encoding = "UTF-8")
writeLines(enc2utf8(to_json(out)), con, sep = "\n", useBytes = TRUE)
close(con)
cat(sprintf("wrote %d cases on %d inputs to %s\n", length(cases), length(inputs), outdir))

#!/usr/bin/env Rscript
# Acceptance fixtures: metafor (and rpact) on public metadat datasets that the other fixture
# scripts do not use, for the pooled estimate, subgroups, meta-regression, influence, small-study
# effects and the trial sequential analysis boundaries.
#
#   Rscript validation/acceptance_fixtures.R OUTDIR   (pinned copy: tests/fixtures/acceptance)
#
# Writes
#   OUTDIR/data/<name>.csv  inputs in trialsynth's CLI format, built from metadat datasets
#   OUTDIR/cases.json       'pool_cases' (the case format of metafor_fixtures.R), 'cases' (the
#                           format of metafor_fixtures_analyses.R) and 'tsa' (rpact's two-sided
#                           Lan-DeMets O'Brien-Fleming boundaries at the information fractions of
#                           a cumulative meta-analysis, with the required information size and
#                           the diversity D^2 computed here from metafor fits)
#
# The analyses are built by the very functions of validation/metafor_fixtures.R and
# validation/metafor_fixtures_analyses.R: their function definitions (only those, not their
# top-level code) are loaded below, so the R calls are those of the existing fixtures.
# Needs R with metafor, metadat, numDeriv and rpact. This script only calls them.

args <- commandArgs(trailingOnly = TRUE)
if (length(args) != 1) stop("usage: Rscript validation/acceptance_fixtures.R OUTDIR")
outdir <- normalizePath(args[1], mustWork = FALSE)
dir.create(file.path(outdir, "data"), recursive = TRUE, showWarnings = FALSE)

suppressPackageStartupMessages({
  library(metafor)
  library(metadat)
  library(rpact)
})
here <- dirname(normalizePath(sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE)[1])))
source(file.path(here, "json.R"))

# The function definitions of another fixture script, in an environment of their own (the two
# scripts use the same names for different things) with that script's globals set for OUTDIR.
load_functions <- function(file) {
  env <- new.env(parent = globalenv())
  for (e in parse(file.path(here, file))) {
    if (is.call(e) && identical(e[[1]], as.name("<-")) && is.call(e[[3]]) &&
        identical(e[[3]][[1]], as.name("function"))) eval(e, env)
  }
  env$outdir <- outdir
  env$inputs <- list()
  env$cases <- list()
  env$CTL <- "control=list(threshold=1e-12, maxiter=10000, tol=1e-12)"
  env
}
pool <- load_functions("metafor_fixtures.R")
ana <- load_functions("metafor_fixtures_analyses.R")

# One input, written once (analyses' writer: text moderators, blank cells) and known to both.
add_input <- function(name, dataset, citation, type, df) {
  ana$add_input(name, dataset, citation, type, df)
  pool$inputs[[name]] <- c(ana$inputs[[name]], list(k_rows = nrow(df)))
}

# ---------------------------------------------------------------------------------------------
# Inputs (metadat datasets; see each help page for the source)
# ---------------------------------------------------------------------------------------------
d <- dat.li2007
add_input("li2007", "dat.li2007",
  "Li et al., Cochrane 2007, magnesium for acute myocardial infarction (metadat dat.li2007)", "binary",
  data.frame(study = paste(trimws(d$study), d$year), events_treatment = d$ai, n_treatment = d$n1i,
             events_control = d$ci, n_control = d$n2i, year = d$year, stringsAsFactors = FALSE))

d <- dat.nielweise2007
add_input("nielweise2007", "dat.nielweise2007",
  "Niel-Weise et al., Intensive Care Med 2007, anti-infective catheters (metadat dat.nielweise2007)",
  "binary",
  data.frame(study = ana$unique_labels(paste(d$author, d$year)), events_treatment = d$ai, n_treatment = d$n1i,
             events_control = d$ci, n_control = d$n2i, year = d$year, stringsAsFactors = FALSE))

d <- dat.gibson2002[!is.na(dat.gibson2002$m1i), ]
add_input("gibson2002", "dat.gibson2002",
  "Gibson et al., Cochrane 2002, asthma self-management education (metadat dat.gibson2002)", "continuous",
  data.frame(study = ana$unique_labels(paste(d$author, d$year)), mean_treatment = d$m1i, sd_treatment = d$sd1i,
             n_treatment = d$n1i, mean_control = d$m2i, sd_control = d$sd2i, n_control = d$n2i,
             stringsAsFactors = FALSE))

d <- dat.baskerville2012
add_input("baskerville2012", "dat.baskerville2012",
  "Baskerville et al., Ann Fam Med 2012, practice facilitation (metadat dat.baskerville2012); SMD with SE",
  "generic_se",
  data.frame(study = ana$unique_labels(paste(d$author, d$year)), estimate = d$smd, se = d$se,
             score = d$score, design = d$design, blind = ifelse(d$blind == 1, "yes", "no"),
             alloconc = d$alloconc, duration = d$duration, stringsAsFactors = FALSE))

d <- dat.bornmann2007
add_input("bornmann2007", "dat.bornmann2007",
  "Bornmann et al., J Informetr 2007, gender and grant awards (metadat dat.bornmann2007)", "binary",
  data.frame(study = paste0(d$study, " #", d$obs), events_treatment = d$waward, n_treatment = d$wtotal,
             events_control = d$maward, n_control = d$mtotal, doctype = d$doctype,
             discipline = d$discipline, type = d$type, year = d$year, stringsAsFactors = FALSE))

d <- dat.dorn2007
add_input("dorn2007", "dat.dorn2007",
  "Dorn et al., Neurogastroenterol Motil 2007, placebo response in IBS (metadat dat.dorn2007)", "binary",
  data.frame(study = d$study, events_treatment = d$x.a, n_treatment = d$n.a, events_control = d$x.p,
             n_control = d$n.p, country = d$country, jadad = d$jadad, days = d$days,
             stringsAsFactors = FALSE))

# ---------------------------------------------------------------------------------------------
# Pooled estimates: every random-effects estimator, with and without Hartung-Knapp
# ---------------------------------------------------------------------------------------------
RE <- c("DL", "REML", "PM", "ML", "SJ", "EB", "HE", "HS")
pool_cases <- list()
add_pool <- function(input, measure, methods, tests = c("z", "knha")) {
  for (m in methods) for (t in if (m == "FE") "z" else tests)
    pool_cases[[length(pool_cases) + 1]] <<- pool$run_case(input, input, measure, m, t)
}
add_pool("li2007", "OR", c("FE", RE))
add_pool("gibson2002", "SMD", c("FE", RE))
add_pool("baskerville2012", "SMD", c("FE", RE))
add_pool("nielweise2007", "RR", RE)
add_pool("bornmann2007", "OR", c("DL", "REML"))
add_pool("dorn2007", "RR", c("DL", "REML", "PM"))
add_pool("gibson2002", "MD", c("DL", "REML"))

# ---------------------------------------------------------------------------------------------
# Subgroups, meta-regression, influence, small-study effects
# ---------------------------------------------------------------------------------------------
ana$subgroup_case("baskerville2012", "SMD", "REML", "blind")
ana$subgroup_case("baskerville2012", "SMD", "DL", "design", hk = TRUE)
ana$subgroup_case("baskerville2012", "SMD", "REML", "design", tau2 = "common")
ana$subgroup_case("bornmann2007", "OR", "REML", "doctype")
ana$subgroup_case("bornmann2007", "OR", "DL", "discipline", tau2 = "common", hk = TRUE)
ana$subgroup_case("bornmann2007", "OR", "PM", "type")
ana$subgroup_case("dorn2007", "RR", "REML", "country")
ana$subgroup_case("dorn2007", "RR", "FE", "country")

for (m in c("DL", "REML", "ML")) for (hk in c(FALSE, TRUE))
  ana$regression_case("baskerville2012", "SMD", m, c("score", "design"), hk = hk)
ana$regression_case("baskerville2012", "SMD", "PM", c("duration", "blind", "alloconc"))
ana$regression_case("bornmann2007", "OR", "REML", c("type", "doctype", "year"))
ana$regression_case("bornmann2007", "OR", "DL", "discipline", hk = TRUE)
ana$regression_case("dorn2007", "RR", "REML", c("jadad", "days"))
ana$regression_case("li2007", "OR", "REML", "year")
ana$regression_case("nielweise2007", "RR", "SJ", "year", hk = TRUE)

ana$influence_case("li2007", "OR", "REML")
ana$influence_case("li2007", "OR", "DL", hk = TRUE)
ana$influence_case("gibson2002", "SMD", "REML")
ana$influence_case("baskerville2012", "SMD", "PM")
ana$influence_case("nielweise2007", "RR", "ML")
ana$influence_case("dorn2007", "RR", "EB", hk = TRUE)

ana$bias_case("li2007", "OR", "REML", selmodel = FALSE)
ana$bias_case("li2007", "OR", "DL", selmodel = FALSE)
ana$bias_case("nielweise2007", "RR", "REML", selmodel = FALSE)
ana$bias_case("gibson2002", "SMD", "REML", selmodel = FALSE)
ana$bias_case("baskerville2012", "SMD", "REML", selmodel = FALSE)
ana$bias_case("baskerville2012", "SMD", "DL", hk = TRUE, selmodel = FALSE)
ana$bias_case("dorn2007", "RR", "REML", selmodel = FALSE)

# ---------------------------------------------------------------------------------------------
# Trial sequential analysis: required information size, diversity, cumulative Z and the
# two-sided O'Brien-Fleming-type alpha-spending boundaries (rpact) at the looks (file order)
# ---------------------------------------------------------------------------------------------
# RIS (Wetterslev et al., J Clin Epidemiol 2008; BMC Med Res Methodol 2009): the fixed-sample
# size of a two-arm trial for control risk pc and relative risk reduction rrr,
#   4 (z_{1-alpha/2} + z_{1-beta})^2 pbar (1 - pbar) / (pc - pe)^2,  pe = pc (1 - rrr),
# pbar = (pc + pe) / 2, inflated by 1 / (1 - D^2), D^2 = 1 - v_FE / v_RE (the variances of the
# fixed- and random-effects pooled estimates). A look's information fraction is its cumulative
# number of participants / RIS; rpact's design has the looks before the RIS and a last look at
# t = 1 (where every later look sits). Boundaries are pinned only where rpact is accurate:
# rpact integrates on a fixed grid and is wrong at small fractions (alpha spent ~1e-10 or less;
# it returns NA or values that are off by up to 2, which also spoils the later looks of that
# design), so 'rpact = FALSE' cases pin RIS, D^2, fractions and Z only. The adjusted CI is
# estimate -/+ b_K SE with b_K the boundary at the last look.
tsa_case <- function(input, measure, method, alpha, power, pc, rrr, rpact) {
  inp <- ana$inputs[[input]]
  dat <- read.csv(file.path(outdir, inp$path), check.names = FALSE, stringsAsFactors = FALSE)
  es <- escalc(measure = measure, ai = events_treatment, n1i = n_treatment, ci = events_control,
               n2i = n_control, data = dat, add = 1/2, to = "only0", drop00 = FALSE)
  ctl <- list(threshold = 1e-12, maxiter = 10000, tol = 1e-12)
  fe <- rma(yi, vi, data = es, method = "FE")
  re <- rma(yi, vi, data = es, method = method, control = ctl)
  d2 <- 1 - fe$se^2 / re$se^2
  pe <- pc * (1 - rrr)
  pbar <- (pc + pe) / 2
  fixed <- 4 * (qnorm(1 - alpha / 2) + qnorm(power))^2 * pbar * (1 - pbar) / (pc - pe)^2
  ris <- fixed / (1 - d2)
  n <- cumsum(dat$n_treatment + dat$n_control)
  t <- n / ris
  z <- vapply(seq_len(nrow(es)), function(i) {
    f <- rma(yi, vi, data = es[seq_len(i), ], method = method, control = ctl)
    c(f$zval)
  }, 0.0)
  expected <- list(ris = ris, diversity = d2, information = as.list(as.double(n)),
                   fraction = as.list(as.double(t)), z = as.list(as.double(z)),
                   estimate = c(re$beta), se = re$se)
  if (rpact) {
    before <- t[t < 1]
    fractions <- c(before, 1)
    stopifnot(fractions[1] >= 0.2, all(diff(fractions) >= 0.04), length(fractions) <= 20)
    design <- getDesignGroupSequential(kMax = length(fractions), alpha = alpha, sided = 2,
                                       typeOfDesign = "asOF", informationRates = fractions)
    b <- design$criticalValues
    at_look <- c(b[seq_along(before)], rep(b[length(b)], length(t) - length(before)))
    bk <- at_look[length(at_look)]
    expected$boundary <- as.list(as.double(at_look))
    expected$adjusted_ci_lower <- c(re$beta) - bk * re$se
    expected$adjusted_ci_upper <- c(re$beta) + bk * re$se
  }
  list(id = paste("tsa", input, measure, method, sep = "_"), input = inp$path, dataset = inp$dataset,
       citation = inp$citation, measure = measure, method = method, alpha = alpha, power = power,
       control_risk = pc, rrr = rrr, expected = expected)
}
tsa <- list(
  tsa_case("nielweise2007", "RR", "DL", 0.05, 0.8, 0.05, 0.62, rpact = TRUE),
  tsa_case("dorn2007", "RR", "DL", 0.05, 0.9, 0.4, 0.75, rpact = TRUE),
  tsa_case("li2007", "RR", "DL", 0.05, 0.8, 0.1, 0.3, rpact = FALSE),
  tsa_case("dorn2007", "RR", "REML", 0.05, 0.9, 0.4, 0.25, rpact = FALSE)
)

ids <- c(vapply(pool_cases, `[[`, "", "id"), vapply(ana$cases, `[[`, "", "id"))
if (anyDuplicated(ids)) stop("duplicate case ids: ", paste(ids[duplicated(ids)], collapse = ", "))

write_json_file(list(
  metafor_version = as.character(packageVersion("metafor")),
  metadat_version = as.character(packageVersion("metadat")),
  rpact_version = as.character(packageVersion("rpact")),
  r_version = R.version.string,
  generated_by = "validation/acceptance_fixtures.R",
  note = paste("pool_cases: as tests/fixtures/metafor/cases.json; cases: as",
               "tests/fixtures/metafor_analyses/cases.json; tsa: RIS, D^2 and z from metafor,",
               "boundaries from rpact. Analysis scale (log for ratios)."),
  pool_cases = pool_cases, cases = ana$cases, tsa = tsa), file.path(outdir, "cases.json"))
cat(sprintf("wrote %d pool cases, %d analyses, %d TSA cases to %s\n", length(pool_cases),
            length(ana$cases), length(tsa), outdir))

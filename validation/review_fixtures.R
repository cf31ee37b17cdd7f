#!/usr/bin/env Rscript
# metafor's results for the bundled reviews, computed from the reviews' own CSV files.
#
#   Rscript validation/review_fixtures.R OUTFILE      (the pinned copy: tests/fixtures/reviews.json)
#
# For every outcome and analysis set of examples/imaging-guided-crt and examples/bcg with
# data, this reads outcomes.csv and studies.csv with base R, picks the rows the review uses
# (use = yes, analysis_set blank or equal to the set, data filled in) and fits the review's
# primary model and its sensitivity analyses with metafor. The CRT review uses the RevMan
# profile: for 2x2 counts under DerSimonian-Laird, RevMan takes tau^2 from Q around the
# Mantel-Haenszel estimate (Deeks & Higgins 2010); that tau^2 is computed here from
# metafor's rma.mh estimate and passed to rma() as a fixed tau2. Everything is on the
# analysis scale (log for ratios). This script only calls metafor; no metafor code is copied.

args <- commandArgs(trailingOnly = TRUE)
if (length(args) != 1) stop("usage: Rscript validation/review_fixtures.R OUTFILE")
here <- dirname(normalizePath(sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE)[1])))
root <- dirname(here)
suppressPackageStartupMessages(library(metafor))
source(file.path(here, "json.R"))

ctrl <- list(threshold = 1e-12, maxiter = 10000, tol = 1e-12)

read_review <- function(name) {
  dir <- file.path(root, "examples", name)
  list(
    outcomes = read.csv(file.path(dir, "outcomes.csv"), check.names = FALSE, stringsAsFactors = FALSE,
                        colClasses = "character", encoding = "UTF-8"),
    studies = read.csv(file.path(dir, "studies.csv"), check.names = FALSE, stringsAsFactors = FALSE,
                       colClasses = "character", encoding = "UTF-8")
  )
}

rows_for <- function(rv, outcome, set) {
  d <- rv$outcomes
  sets <- if ("analysis_set" %in% names(d)) d$analysis_set else rep("", nrow(d))
  keep <- d$outcome == outcome & d$use == "yes" & (sets == "" | sets == set)
  d[keep, , drop = FALSE]
}

num <- function(x) as.numeric(sub("^\\+", "", x))

# Per-study yi/vi for the rows, by the form each row uses (first complete form wins).
effects <- function(d, measure) {
  has <- function(cols) all(cols %in% names(d)) && all(nzchar(unlist(d[, cols])))
  # Counts entered as percentages (percent_* with n_*): events = round(percent/100 * n), half up,
  # as trialsynth.stats.derive.count_from_percent (Cochrane Handbook: counts from percentages).
  if ("percent_treatment" %in% names(d)) {
    for (arm in c("treatment", "control")) {
      ev <- paste0("events_", arm)
      pc <- paste0("percent_", arm)
      fill <- !nzchar(d[[ev]]) & nzchar(d[[pc]])
      d[[ev]][fill] <- as.character(floor(num(d[[pc]][fill]) / 100 * num(d[[paste0("n_", arm)]][fill]) + 0.5))
    }
  }
  if (measure %in% c("OR", "RR", "RD") && has(c("events_treatment", "n_treatment", "events_control", "n_control"))) {
    return(list(kind = "binary", es = escalc(measure, ai = num(d$events_treatment), n1i = num(d$n_treatment),
                ci = num(d$events_control), n2i = num(d$n_control), add = 1/2, to = "only0",
                drop00 = measure != "RD"), d = d))
  }
  if (measure %in% c("MD", "SMD") && has(c("mean_treatment", "sd_treatment", "n_treatment"))) {
    return(list(kind = "continuous", es = escalc(measure, m1i = num(d$mean_treatment), sd1i = num(d$sd_treatment),
                n1i = num(d$n_treatment), m2i = num(d$mean_control), sd2i = num(d$sd_control),
                n2i = num(d$n_control)), d = d))
  }
  if (has(c("estimate", "ci_lower", "ci_upper"))) {
    ratio <- measure %in% c("OR", "RR", "HR")
    tr <- if (ratio) log else identity
    yi <- tr(num(d$estimate))
    sei <- (tr(num(d$ci_upper)) - tr(num(d$ci_lower))) / (2 * qnorm(0.975))
    return(list(kind = "generic", es = data.frame(yi = yi, vi = sei^2), d = d))
  }
  stop("no usable form")
}

fit <- function(ef, measure, method, hk, profile) {
  yi <- ef$es$yi; vi <- ef$es$vi
  test <- if (hk) "knha" else "z"
  d <- ef$d
  if (length(yi) == 1) {
    # One study: its own estimate (nothing is pooled; tau^2 is not estimable).
    res <- rma(yi, vi, method = "FE")
  } else if (profile == "revman" && method == "DL" && ef$kind == "binary") {
    mh <- rma.mh(ai = num(d$events_treatment), n1i = num(d$n_treatment), ci = num(d$events_control),
                 n2i = num(d$n_control), measure = measure, add = 1/2, to = "only0", drop00 = measure != "RD")
    w <- 1 / vi
    q <- sum(w * (yi - as.double(mh$beta))^2)
    tau2 <- max(0, (q - (length(yi) - 1)) / (sum(w) - sum(w^2) / sum(w)))
    res <- rma(yi, vi, tau2 = tau2, method = "DL", test = test)
  } else {
    res <- rma(yi, vi, method = method, test = test, control = ctrl)
  }
  res
}

entry <- function(res, set, outcome, method, hk, labels) {
  random <- !(method %in% c("FE", "MH"))
  list(analysis_set = set, outcome = outcome, method = method, hk = hk,
       k = as.integer(res$k), estimate = as.double(res$beta), se = res$se, ci_lower = res$ci.lb,
       ci_upper = res$ci.ub, p_value = res$pval, tau2 = if (random) res$tau2 else NULL,
       weights = if (inherits(res, "rma.glmm")) NULL else as.list(unname(as.double(weights(res)))),
       studies = as.list(labels))
}

cases <- list()
add <- function(x) cases[[length(cases) + 1]] <<- x

# The imaging-guided CRT review: DL primary (RevMan profile), FE and REML + Hartung-Knapp.
crt <- read_review("imaging-guided-crt")
crt_outcomes <- list(death_hfh = "HR", response = "OR", nyha = "OR", walk6 = "MD", mlhfq = "MD", lvef = "MD")
models <- list(list("DL", FALSE), list("FE", FALSE), list("REML", TRUE))
for (set in c("paper", "living")) {
  for (o in names(crt_outcomes)) {
    d <- rows_for(crt, o, set)
    data_cols <- setdiff(names(d), c("outcome", "study", "analysis_set", "use", "denominator", "kind",
                                     "definition", "source", "note", "year", "p_value"))
    d <- d[apply(d[, data_cols, drop = FALSE], 1, function(r) any(nzchar(r))), , drop = FALSE]
    if (nrow(d) == 0) next
    ef <- effects(d, crt_outcomes[[o]])
    for (m in models) {
      if (nrow(d) < 2 && m[[2]]) next
      res <- suppressWarnings(fit(ef, crt_outcomes[[o]], m[[1]], m[[2]], "revman"))
      add(c(list(review = "imaging-guided-crt"), entry(res, set, o, m[[1]], m[[2]], d$study)))
    }
    # Cumulative meta-analysis by year (the row's own year when it has one, else the study's).
    if (nrow(d) >= 2) {
      yr <- ifelse(nzchar(d$year), d$year, crt$studies$year[match(d$study, crt$studies$id)])
      res <- suppressWarnings(fit(ef, crt_outcomes[[o]], "DL", FALSE, "revman"))
      cu <- cumul(res, order = as.numeric(yr))
      add(list(review = "imaging-guided-crt", analysis_set = set, outcome = o, method = "DL", hk = FALSE,
               cumulative = TRUE, order = as.list(d$study[order(as.numeric(yr))]),
               estimate = as.list(as.double(cu$estimate)), ci_lower = as.list(as.double(cu$ci.lb)),
               ci_upper = as.list(as.double(cu$ci.ub))))
    }
  }
}

# The BCG review: REML primary (metafor profile), DL and FE; subgroups by allocation;
# cumulative by year.
bcg <- read_review("bcg")
d <- rows_for(bcg, "tb", "main")
ef <- effects(d, "RR")
for (m in list(list("REML", FALSE), list("DL", FALSE), list("FE", FALSE))) {
  res <- rma(ef$es$yi, ef$es$vi, method = m[[1]], control = ctrl)
  add(c(list(review = "bcg"), entry(res, "main", "tb", m[[1]], m[[2]], d$study)))
}
alloc <- bcg$studies$allocation[match(d$study, bcg$studies$id)]
sub <- lapply(unique(alloc), function(a) {
  s <- alloc == a
  r <- rma(ef$es$yi[s], ef$es$vi[s], method = "REML", control = ctrl)
  list(level = a, k = as.integer(r$k), estimate = as.double(r$beta), se = r$se, tau2 = r$tau2)
})
est <- vapply(sub, function(x) x$estimate, 0); se <- vapply(sub, function(x) x$se, 0)
# Test for subgroup differences (separate tau^2): Q of a fixed-effect fit to the subgroup estimates.
qb <- rma(est, sei = se, method = "FE")
add(list(review = "bcg", analysis_set = "main", outcome = "tb", method = "REML", hk = FALSE,
         subgroups = "allocation", groups = sub, q_between = qb$QE, q_between_df = as.integer(qb$k - 1),
         q_between_p_value = qb$QEp))
yr <- as.numeric(bcg$studies$year[match(d$study, bcg$studies$id)])
res <- rma(ef$es$yi, ef$es$vi, method = "REML", control = ctrl)
cu <- cumul(res, order = yr)
add(list(review = "bcg", analysis_set = "main", outcome = "tb", method = "REML", hk = FALSE, cumulative = TRUE,
         order = as.list(d$study[order(yr)]), estimate = as.list(as.double(cu$estimate)),
         ci_lower = as.list(as.double(cu$ci.lb)), ci_upper = as.list(as.double(cu$ci.ub))))

# The catheter-infections review (rare events): REML on escalc's log odds ratios (0.5 added to
# tables with a zero cell, double-zero tables left out, as trialsynth's effect sizes), then
# Mantel-Haenszel and the binomial-normal models UM.FS and CM.EL (rma.glmm, ML, tight controls).
cat_rv <- read_review("catheter-infections")
d <- rows_for(cat_rv, "crbsi", "main")
ef <- effects(d, "OR")
res <- rma(ef$es$yi, ef$es$vi, method = "REML", control = ctrl)
keep <- !is.na(ef$es$yi)
add(c(list(review = "catheter-infections"), entry(res, "main", "crbsi", "REML", FALSE, d$study[keep])))
counts <- list(ai = num(d$events_treatment), n1i = num(d$n_treatment), ci = num(d$events_control),
               n2i = num(d$n_control))
res <- rma.mh(ai = counts$ai, n1i = counts$n1i, ci = counts$ci, n2i = counts$n2i, measure = "OR")
# rma.mh counts the double-zero table in k with weight 0; trialsynth lists it as not pooled, so
# the fixture keeps the tables with a positive weight.
e <- entry(res, "main", "crbsi", "MH", FALSE, d$study[keep])
w <- as.double(weights(res))
e$k <- sum(w > 0)
e$weights <- as.list(w[w > 0])
add(c(list(review = "catheter-infections"), e))
glmm_ctrl <- list(glmCtrl = list(epsilon = 1e-12, maxit = 1000),
                  glmerCtrl = list(optimizer = "bobyqa", optCtrl = list(rhoend = 1e-10, maxfun = 1e6),
                                   tolPwrss = 1e-12),
                  optCtrl = list(rel.tol = 1e-10, iter.max = 10000, eval.max = 10000),
                  intCtrl = list(rel.tol = 1e-12, subdivisions = 1000L))
for (model in c("UM.FS", "CM.EL")) {
  res <- suppressWarnings(rma.glmm(measure = "OR", ai = counts$ai, n1i = counts$n1i, ci = counts$ci,
                                   n2i = counts$n2i, model = model, method = "ML", control = glmm_ctrl))
  e <- entry(res, "main", "crbsi", "GLMM", FALSE, d$study[keep])
  add(c(list(review = "catheter-infections", glmm = model), e))
}

# The smoking-cessation review's pairwise outcome (its network is checked against
# validation/network_fixtures.R): REML on escalc's log odds ratios.
smk <- read_review("smoking-cessation")
d <- rows_for(smk, "abstinence", "main")
ef <- effects(d, "OR")
res <- rma(ef$es$yi, ef$es$vi, method = "REML", control = ctrl)
add(c(list(review = "smoking-cessation"), entry(res, "main", "abstinence", "REML", FALSE, d$study)))

# The school-calendars review (nested effect sizes): 56 studies in 11 districts (outcomes.csv's
# cluster column), estimate and se as given; the three-level model rma.mv(yi, vi, random =
# ~ 1 | cluster/study) by REML and ML, its profile-likelihood CIs (confint), weights (weights.rma.mv,
# diagonal), I^2 per level (Cheung 2014: sigma2_j / (sum sigma2 + typical within-study variance,
# Higgins & Thompson 2002)) and the CR2 cluster-robust test by district with Satterthwaite df
# (robust(..., clubSandwich = TRUE), which calls clubSandwich::coef_test).
suppressPackageStartupMessages(library(clubSandwich))
sch <- read_review("school-calendars")
d <- rows_for(sch, "achievement", "main")
yi <- num(d$estimate); vi <- num(d$se)^2
mv_ctrl <- list(optimizer = "optim", optmethod = "BFGS", reltol = 1e-14, maxit = 10000)
for (m in c("REML", "ML")) {
  res <- rma.mv(yi, vi, random = ~ 1 | cluster/study, data = d, method = m, control = mv_ctrl)
  w <- 1 / vi
  s2 <- (length(w) - 1) * sum(w) / (sum(w)^2 - sum(w^2))
  ci <- confint(res, control = list(eps = 1e-10, tol = 1e-12))
  e <- entry(res, "main", "achievement", m, FALSE, d$study)
  e$tau2 <- NULL
  e <- c(list(review = "school-calendars", multilevel = TRUE), e,
         list(sigma2 = as.list(res$sigma2), i2_levels = as.list(100 * res$sigma2 / (sum(res$sigma2) + s2)),
              sigma2_ci_lower = as.list(c(ci[[1]]$random[1, 2], ci[[2]]$random[1, 2])),
              sigma2_ci_upper = as.list(c(ci[[1]]$random[1, 3], ci[[2]]$random[1, 3])),
              qe = res$QE, qe_p_value = res$QEp, loglik = as.double(logLik(res))))
  add(e)
  if (m == "REML") {
    rb <- robust(res, cluster = d$cluster, clubSandwich = TRUE)
    add(list(review = "school-calendars", multilevel = TRUE, robust = "CR2", analysis_set = "main",
             outcome = "achievement", method = m, hk = FALSE, k = as.integer(rb$k),
             estimate = as.double(rb$beta), se = rb$se, ci_lower = rb$ci.lb, ci_upper = rb$ci.ub,
             p_value = rb$pval, df = as.double(rb$ddf)))
  }
}

out <- list(metafor_version = as.character(packageVersion("metafor")),
            generated_by = "validation/review_fixtures.R", cases = cases)
con <- file(args[1], open = "wb", encoding = "UTF-8")
writeLines(enc2utf8(to_json(out)), con, sep = "\n", useBytes = TRUE)
close(con)

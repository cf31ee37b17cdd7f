#!/usr/bin/env Rscript
# rpact's group-sequential results as the oracle for trialsynth's trial sequential analysis.
#
#   Rscript validation/bayes_tsa_fixtures.R OUTFILE   (pinned copy: tests/fixtures/bayes_tsa/rpact.json)
#
# For a set of information-fraction sequences (equally spaced, and irregular ones like the
# cumulative sample sizes of a meta-analysis) this asks rpact (Debian: r-cran-rpact) for
#   * two-sided Lan-DeMets O'Brien-Fleming-type alpha-spending boundaries
#     (getDesignGroupSequential(sided = 2, typeOfDesign = "asOF"));
#   * one-sided designs at alpha/2 with O'Brien-Fleming-type beta-spending futility bounds
#     (typeBetaSpending = "bsOF", non-binding), with the drift at which the efficacy and
#     futility boundaries meet at the last look (sqrt of the design's "shift");
#   * the Schoenfeld number of events for a hazard ratio (getSampleSizeSurvival,
#     typeOfComputation = "Schoenfeld") and the fixed sample size for a mean difference
#     (getSampleSizeMeans with normalApproximation = TRUE).
# Bayesian results have no R oracle installable here (bayesmeta is not packaged for
# Debian); tests/test_bayes.py checks them against published bayesmeta output and an MCMC run.
# This script only calls rpact; no rpact code is copied.

args <- commandArgs(trailingOnly = TRUE)
if (length(args) != 1) stop("usage: Rscript validation/bayes_tsa_fixtures.R OUTFILE")
here <- dirname(normalizePath(sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE)[1])))
suppressPackageStartupMessages(library(rpact))
source(file.path(here, "json.R"))

num_list <- function(x) as.list(as.double(x))

fraction_sets <- list(
  equal5 = c(0.2, 0.4, 0.6, 0.8, 1.0),
  equal3 = c(1, 2, 3) / 3,
  two = c(0.5, 1.0),
  irregular = c(0.25, 0.31, 0.48, 0.52, 0.71, 1.0),
  meta_like = c(431, 530, 612, 1003, 1370) / 1370
)
# Fractions start at 0.2 or later and consecutive looks are at least 0.04 apart: at smaller
# fractions (alpha spent below ~1e-6) rpact reports NA or inaccurate boundaries, and for looks
# close together (t = 0.30, 0.31) its fixed integration grid is off by ~1e-5 at the second look
# and by up to 0.9 later (checked against an exact two-look integral). trialsynth is checked in
# those regimes against that exact integral in tests/test_tsa.py instead.

efficacy <- list()
futility <- list()
for (name in names(fraction_sets)) {
  t <- fraction_sets[[name]]
  for (alpha in c(0.05, 0.01)) {
    d <- getDesignGroupSequential(kMax = length(t), alpha = alpha, sided = 2,
                                  typeOfDesign = "asOF", informationRates = t)
    efficacy[[length(efficacy) + 1]] <- list(
      id = sprintf("%s_alpha%g", name, alpha), t = num_list(t), alpha = alpha,
      boundary = num_list(d$criticalValues)
    )
    for (beta in c(0.2, 0.1)) {
      f <- getDesignGroupSequential(kMax = length(t), alpha = alpha / 2, beta = beta, sided = 1,
                                    typeOfDesign = "asOF", typeBetaSpending = "bsOF",
                                    bindingFutility = FALSE, informationRates = t)
      # rpact cannot always compute the inflation factor (then the drift is left null).
      ch <- tryCatch(getDesignCharacteristics(f), error = function(e) list(shift = NA_real_))
      futility[[length(futility) + 1]] <- list(
        id = sprintf("%s_alpha%g_beta%g", name, alpha, beta), t = num_list(t), alpha = alpha,
        beta = beta, boundary = num_list(f$criticalValues),
        futility = num_list(c(f$futilityBounds, f$criticalValues[length(t)])),
        drift = if (is.na(ch$shift)) NULL else sqrt(ch$shift)
      )
    }
  }
}

events <- list()
for (hr in c(0.75, 0.8, 1.25)) for (alpha in c(0.05, 0.01)) for (beta in c(0.2, 0.1)) {
  s <- getSampleSizeSurvival(hazardRatio = hr, alpha = alpha, sided = 2, beta = beta,
                             typeOfComputation = "Schoenfeld", lambda2 = 0.1,
                             accrualTime = c(0, 12), followUpTime = 12)
  events[[length(events) + 1]] <- list(hazard_ratio = hr, alpha = alpha, power = 1 - beta,
                                       events = s$maxNumberOfEvents)
}
means <- list()
for (md in c(5, -2.5)) for (sd in c(12, 1)) for (beta in c(0.2, 0.1)) {
  m <- getSampleSizeMeans(alternative = md, stDev = sd, alpha = 0.05, sided = 2, beta = beta,
                          normalApproximation = TRUE)
  means[[length(means) + 1]] <- list(mean_difference = md, sd = sd, alpha = 0.05, power = 1 - beta,
                                     participants = m$nFixed)
}

out <- list(
  generated_by = "validation/bayes_tsa_fixtures.R",
  rpact_version = as.character(packageVersion("rpact")),
  efficacy = efficacy,
  futility = futility,
  schoenfeld_events = events,
  mean_difference_participants = means
)
writeLines(to_json(out), args[1], useBytes = TRUE)

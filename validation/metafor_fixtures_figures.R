#!/usr/bin/env Rscript
# Regenerate trialsynth's pinned metafor fixtures for the coordinates of the Baujat and
# Galbraith (radial) plots: what metafor's baujat() and radial() return for 'rma' fits.
#
#   Rscript validation/metafor_fixtures_figures.R OUTDIR   (pinned copy: tests/fixtures/metafor_figures)
#
# Writes
#   OUTDIR/data/<name>.csv  inputs in trialsynth's CLI format, built from public 'metadat' datasets
#   OUTDIR/cases.json       per case: the trialsynth call (kind, measure, method, hk, moderators),
#                           the exact R code evaluated ('r_call') and what baujat() and radial()
#                           returned ('expected'; radial only without moderators, as metafor)
#
# Needs R with metafor (3.8-1 pinned) and metadat. This script only *calls* metafor; no
# metafor code is copied. Every fit reads its input back from the CSV written here, numbers are
# written with full precision and iterative estimates are converged to ~1e-12 (CTL).

args <- commandArgs(trailingOnly = TRUE)
if (length(args) != 1) stop("usage: Rscript validation/metafor_fixtures_figures.R OUTDIR")
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
script_dir <- dirname(normalizePath(sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE)[1])))
source(file.path(script_dir, "json.R"))

# Input CSV: 'study' quoted, numbers in full precision; checked by reading it back.
write_input <- function(df, name) {
  cols <- lapply(names(df), function(j) {
    x <- df[[j]]
    if (is.character(x)) paste0('"', gsub('"', '""', x, fixed = TRUE), '"') else fmt_num(x)
  })
  lines <- c(paste(names(df), collapse = ","), do.call(paste, c(cols, sep = ",")))
  path <- file.path(outdir, "data", paste0(name, ".csv"))
  con <- file(path, open = "wb", encoding = "UTF-8")
  writeLines(enc2utf8(lines), con, sep = "\n", useBytes = TRUE)
  close(con)
  back <- read.csv(path, check.names = FALSE, stringsAsFactors = FALSE, encoding = "UTF-8")
  for (j in names(df)) stopifnot(all(back[[j]] == df[[j]]))
  file.path("data", paste0(name, ".csv"))
}

inputs <- list()
add_input <- function(name, dataset, citation, type, df) {
  inputs[[name]] <<- list(dataset = dataset, citation = citation, type = type, path = write_input(df, name))
}

d <- dat.bcg
bcg <- data.frame(study = paste(d$author, d$year), events_treatment = d$tpos, n_treatment = d$tpos + d$tneg,
                  events_control = d$cpos, n_control = d$cpos + d$cneg, ablat = d$ablat,
                  stringsAsFactors = FALSE)
add_input("bcg", "dat.bcg", "Colditz et al., JAMA 1994 (metadat dat.bcg)", "binary", bcg)
add_input("bcg2", "dat.bcg (first two trials)", "Colditz et al., JAMA 1994 (metadat dat.bcg), trials 1-2",
          "binary", bcg[1:2, ])
d <- dat.normand1999
add_input("normand1999", "dat.normand1999", "Normand, Stat Med 1999 (metadat dat.normand1999)", "continuous",
  data.frame(study = d$source, mean_treatment = d$m1i, sd_treatment = d$sd1i, n_treatment = d$n1i,
             mean_control = d$m2i, sd_control = d$sd2i, n_control = d$n2i, stringsAsFactors = FALSE))
d <- dat.hackshaw1998
add_input("hackshaw1998", "dat.hackshaw1998",
  "Hackshaw et al., BMJ 1997 (metadat dat.hackshaw1998); log OR with SE = sqrt(vi)", "generic_log",
  data.frame(study = paste(d$author, d$year), log_estimate = d$yi, se = sqrt(d$vi), stringsAsFactors = FALSE))

CTL <- "control=list(threshold=1e-12, maxiter=10000, tol=1e-12)"

effects_code <- function(inp, measure) {
  read <- sprintf('dat <- read.csv("%s", check.names=FALSE, stringsAsFactors=FALSE)', inp$path)
  es <- switch(inp$type,
    binary = sprintf(paste0('es <- escalc(measure="%s", ai=events_treatment, n1i=n_treatment, ci=events_control, ',
                            'n2i=n_control, data=dat, add=1/2, to="only0", drop00=FALSE); dat$yi <- c(es$yi); ',
                            'dat$vi <- es$vi'), measure),
    continuous = sprintf(paste0('es <- escalc(measure="%s", m1i=mean_treatment, sd1i=sd_treatment, n1i=n_treatment, ',
                                'm2i=mean_control, sd2i=sd_control, n2i=n_control, data=dat); dat$yi <- c(es$yi); ',
                                'dat$vi <- es$vi'), measure),
    generic_log = 'dat$yi <- dat$log_estimate; dat$vi <- dat$se^2')
  paste0(read, "\n", es)
}

fit_code <- function(method, hk, mods) {
  if (method == "MH")
    return(paste0('rma.mh(measure=MEASURE, ai=events_treatment, n1i=n_treatment, ci=events_control, ',
                  'n2i=n_control, data=dat, add=1/2, to="only0", drop00=TRUE, slab=study)'))
  if (method == "PETO")
    return(paste0('rma.peto(ai=events_treatment, n1i=n_treatment, ci=events_control, n2i=n_control, ',
                  'data=dat, add=1/2, to="only0", drop00=TRUE, slab=study)'))
  m <- if (is.null(mods)) "" else sprintf("mods=~%s, ", paste(mods, collapse = "+"))
  sprintf('rma(yi, vi, %sdata=dat, slab=study, method="%s", test="%s", %s)', m, method,
          if (hk) "knha" else "z", CTL)
}

run_code <- function(code) {
  env <- new.env(parent = globalenv())
  old <- setwd(outdir)
  on.exit(setwd(old))
  pdf(NULL)  # baujat() and radial() draw; the drawing is discarded
  on.exit(dev.off(), add = TRUE)
  eval(parse(text = code), envir = env)
  env
}

points <- function(df) lapply(seq_len(nrow(df)), function(i)
  list(study = as.character(df$slab[i]), x = as.double(df$x[i]), y = as.double(df$y[i])))

cases <- list()
figure_case <- function(input, measure, method, hk = FALSE, mods = NULL) {
  inp <- inputs[[input]]
  code <- effects_code(inp, measure)
  if (method == "MH") code <- paste0(code, sprintf('\nMEASURE <- "%s"', measure))
  code <- paste0(code, "\nres <- ", fit_code(method, hk, mods), "\nb <- baujat(res)")
  if (is.null(mods)) code <- paste0(code, "\nr <- radial(res)")
  env <- run_code(code)
  expected <- list(baujat = points(env$b))
  if (is.null(mods)) expected$radial <- list(points = points(env$r))
  id <- paste(c("figures", input, measure, method, if (hk) "hk", if (!is.null(mods)) paste(mods, collapse = "+")),
              collapse = "_")
  cases[[length(cases) + 1]] <<- list(
    id = id, input = inp$path, dataset = inp$dataset, citation = inp$citation, measure = measure,
    method = method, hk = hk, moderators = if (is.null(mods)) NULL else paste(mods, collapse = ","),
    estimate = as.double(env$res$beta[1]), r_call = code, expected = expected)
}

figure_case("bcg", "RR", "REML")
figure_case("bcg", "RR", "REML", hk = TRUE)
figure_case("bcg", "RR", "FE")
figure_case("bcg", "RR", "DL")
figure_case("bcg", "OR", "PM", hk = TRUE)
figure_case("bcg", "RR", "MH")
figure_case("bcg", "OR", "PETO")
figure_case("bcg", "RR", "REML", mods = "ablat")
figure_case("bcg", "RR", "FE", mods = "ablat")
figure_case("bcg2", "OR", "REML")
figure_case("normand1999", "MD", "REML")
figure_case("normand1999", "MD", "FE")
figure_case("hackshaw1998", "OR", "DL")
figure_case("hackshaw1998", "OR", "SJ", hk = TRUE)

ids <- vapply(cases, `[[`, "", "id")
if (anyDuplicated(ids)) stop("duplicate case ids: ", paste(ids[duplicated(ids)], collapse = ", "))
out <- list(
  metafor_version = as.character(packageVersion("metafor")),
  metadat_version = as.character(packageVersion("metadat")),
  r_version = R.version.string,
  generated_by = "validation/metafor_fixtures_figures.R",
  r_setup = "library(metafor); each r_call runs with the fixtures folder as working directory",
  note = paste("Expected values are what metafor's baujat() and radial() return (x, y per study), on the",
               "analysis scale (log for OR, RR); 'estimate' is the model's first coefficient."),
  cases = cases)
write_json_file(out, file.path(outdir, "cases.json"))
cat(sprintf("wrote %d cases on %d inputs to %s\n", length(cases), length(inputs), outdir))

#!/usr/bin/env Rscript
# metafor's ML and REML fits of meta-analyses whose likelihood has more than one maximum.
#
#   Rscript validation/multimodal_fixtures.R DIR      (the pinned copy: tests/fixtures/multimodal)
#
# DIR/data.csv holds eleven simulated meta-analyses of k = 10 (columns y1..y10, v1..v10; rows
# of benchmarks/bench.py's data set, seed 20261130, identified by `row`). In several of them
# the (restricted) likelihood of tau^2 has a local maximum at tau^2 = 0 and another inside,
# higher in some and lower in others. This fits each with rma(method = "REML") and
# rma(method = "ML") at tight convergence settings and writes DIR/metafor.json: tau^2, the
# estimate, its SE and the log-likelihood per case (analysis scale, z test). This script only
# calls metafor; no metafor code is copied.

args <- commandArgs(trailingOnly = TRUE)
if (length(args) != 1) stop("usage: Rscript validation/multimodal_fixtures.R DIR")
here <- dirname(normalizePath(sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE)[1])))
suppressPackageStartupMessages(library(metafor))
source(file.path(here, "json.R"))

ctrl <- list(threshold = 1e-12, maxiter = 10000)
dat <- read.csv(file.path(args[1], "data.csv"))
k <- (ncol(dat) - 1) / 2
cases <- list()
for (i in seq_len(nrow(dat))) {
  yi <- as.numeric(dat[i, 1 + seq_len(k)])
  vi <- as.numeric(dat[i, 1 + k + seq_len(k)])
  for (method in c("REML", "ML")) {
    res <- suppressWarnings(rma(yi, vi, method = method, control = ctrl))
    cases[[length(cases) + 1]] <- list(
      row = as.integer(dat$row[i]),
      method = method,
      r_call = sprintf('rma(yi, vi, method = "%s", control = list(threshold = 1e-12, maxiter = 10000))', method),
      tau2 = res$tau2,
      estimate = as.numeric(res$b),
      se = res$se,
      loglik = as.numeric(logLik(res))
    )
  }
}
out <- list(
  metafor_version = as.character(packageVersion("metafor")),
  generated_by = "validation/multimodal_fixtures.R",
  cases = cases
)
con <- file(file.path(args[1], "metafor.json"), open = "w", encoding = "UTF-8")
writeLines(enc2utf8(to_json(out)), con, sep = "\n", useBytes = TRUE)
close(con)

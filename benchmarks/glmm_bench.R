# Time metafor's rma.glmm on 2x2 tables (called by benchmarks/glmm_bench.py).
#
# Usage: Rscript benchmarks/glmm_bench.R TABLES.csv MODEL REPEAT
# Fits rma.glmm(measure = "OR", ai, n1i, ci, n2i, model = MODEL, method = "ML") at metafor's default
# settings REPEAT times (reading excluded). Prints "seconds <fastest wall clock>", "cpu <fastest
# CPU time, user + system>", "estimate <log OR>" and "tau2 <value>".
suppressPackageStartupMessages(library(metafor))
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1])
model <- args[2]
repeat_n <- as.integer(args[3])
best <- Inf; best_cpu <- Inf
for (i in seq_len(repeat_n)) {
  st <- system.time(res <- suppressWarnings(
    rma.glmm(measure = "OR", ai = d$ai, n1i = d$n1i, ci = d$ci, n2i = d$n2i, model = model, method = "ML")
  ))
  best <- min(best, st[["elapsed"]]); best_cpu <- min(best_cpu, st[["user.self"]] + st[["sys.self"]])
}
cat(sprintf("seconds %.6f\n", best))
cat(sprintf("cpu %.6f\n", best_cpu))
cat(sprintf("estimate %.17g\n", as.numeric(res$beta)))
cat(sprintf("tau2 %.17g\n", res$tau2))

# Time metafor's three-level model on effect-size rows (called by benchmarks/multilevel_bench.py).
#
# Usage: Rscript benchmarks/multilevel_bench.R ROWS.csv REPEAT
# Fits rma.mv(yi, vi, random = ~ 1 | study/es_id) by REML at metafor's default settings, then the
# same with confint() (profile-likelihood CIs of both variance components) and with
# robust(..., clubSandwich = TRUE) (CR2), each REPEAT times (reading excluded). Prints
# "seconds <fastest fit>", "seconds_profile <fit + confint>", "seconds_cr2 <fit + robust>",
# "sigma2 <values>" and "beta <intercept>".
suppressPackageStartupMessages(library(metafor))
have_cs <- requireNamespace("clubSandwich", quietly = TRUE)
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1], stringsAsFactors = FALSE)
repeat_n <- as.integer(args[2])
fit <- function() rma.mv(yi, vi, random = ~ 1 | study/es_id, data = d, method = "REML")
best <- function(f) {
  b <- Inf
  for (i in seq_len(repeat_n)) b <- min(b, system.time(r <- f())[["elapsed"]])
  list(seconds = b, value = r)
}
plain <- best(fit)
prof <- best(function() { r <- fit(); confint(r); r })
cat(sprintf("seconds %.6f\n", plain$seconds))
cat(sprintf("seconds_profile %.6f\n", prof$seconds))
if (have_cs) {
  cr2 <- best(function() robust(fit(), cluster = d$study, clubSandwich = TRUE))
  cat(sprintf("seconds_cr2 %.6f\n", cr2$seconds))
}
cat("sigma2", sprintf("%.17g", plain$value$sigma2), "\n")
cat(sprintf("beta %.17g\n", as.double(plain$value$beta)))

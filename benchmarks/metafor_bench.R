# Time metafor's REML + Hartung-Knapp fits on the benchmark's data (called by benchmarks/bench.py).
#
# Usage: Rscript benchmarks/metafor_bench.R DATA.csv N OUT.csv
# DATA.csv has columns y1..yk, v1..vk (one meta-analysis per row). Fits the first N rows with
# rma(yi, vi, method = "REML", test = "knha") at metafor's default settings, extracting what a
# fit reports here (estimate, SE, CI, p, tau^2, I^2, Q), and prints "seconds <elapsed>" for the
# loop alone (reading and writing excluded). OUT.csv gets the extracted values.
suppressPackageStartupMessages(library(metafor))
args <- commandArgs(trailingOnly = TRUE)
dat <- as.matrix(read.csv(args[1]))
n <- as.integer(args[2])
k <- ncol(dat) / 2
y <- dat[, 1:k, drop = FALSE]
v <- dat[, (k + 1):(2 * k), drop = FALSE]
out <- matrix(NA_real_, n, 9)
colnames(out) <- c("estimate", "se", "ci_lower", "ci_upper", "p_value", "tau2", "i2", "q", "converged")
elapsed <- system.time({
  for (i in seq_len(n)) {
    res <- tryCatch(rma(y[i, ], v[i, ], method = "REML", test = "knha"), error = function(e) NULL)
    if (!is.null(res)) {
      out[i, ] <- c(res$b[1], res$se, res$ci.lb, res$ci.ub, res$pval, res$tau2, res$I2, res$QE, 1)
    } else {
      out[i, 9] <- 0
    }
  }
})[["elapsed"]]
write.csv(out, args[3], row.names = FALSE)
cat(sprintf("seconds %.6f\n", elapsed))
cat(sprintf("metafor %s\n", as.character(packageVersion("metafor"))))

# Time metafor's rma.mv network model on arm rows (called by benchmarks/network_bench.py).
#
# Usage: Rscript benchmarks/network_bench.R ARMS.csv REPEAT
# Builds each study's contrasts against its first arm (treatments in sorted order) with V holding
# the shared arm's variance, and fits rma.mv(yi, V, mods, random = ~ comp | study, rho = 1/2) by REML
# at metafor's default settings, REPEAT times (building included, reading excluded). Prints
# "seconds <fastest>", "tau2 <value>" and "beta <effects against the first treatment>".
suppressPackageStartupMessages(library(metafor))
args <- commandArgs(trailingOnly = TRUE)
arms <- read.csv(args[1], stringsAsFactors = FALSE)
repeat_n <- as.integer(args[2])
order <- sort(unique(arms$treatment))
fit <- function() {
  rows <- list(); blocks <- list()
  for (s in unique(arms$study)) {
    d <- arms[arms$study == s, ]
    d <- d[order(match(d$treatment, order)), ]
    v <- d$sd^2 / d$n
    rows[[length(rows) + 1]] <- data.frame(study = s, t1 = d$treatment[-1], t2 = d$treatment[1],
                                           yi = d$mean[-1] - d$mean[1], stringsAsFactors = FALSE)
    b <- matrix(v[1], nrow(d) - 1, nrow(d) - 1); diag(b) <- v[-1] + v[1]
    blocks[[length(blocks) + 1]] <- b
  }
  dat <- do.call(rbind, rows)
  dat$comp <- paste(dat$t1, dat$t2)
  X <- sapply(order[-1], function(t) (dat$t1 == t) - (dat$t2 == t))
  rma.mv(dat$yi, bldiag(blocks), mods = X, intercept = FALSE, random = ~ comp | study, rho = 1/2, data = dat)
}
best <- Inf
for (i in seq_len(repeat_n)) {
  elapsed <- system.time(res <- fit())[["elapsed"]]
  best <- min(best, elapsed)
}
cat(sprintf("seconds %.6f\n", best))
cat(sprintf("tau2 %.17g\n", res$tau2))
cat("beta", sprintf("%.17g", coef(res)), "\n")

#!/usr/bin/env Rscript
# Network meta-analysis fixtures: metafor's rma.mv on the two network datasets of its documentation.
#
#   Rscript validation/network_fixtures.R OUTDIR   (pinned copy: tests/fixtures/network)
#
# Writes
#   OUTDIR/data/senn2013_arms.csv        dat.senn2013 one row per arm (study, treatment, mean, sd, n)
#   OUTDIR/data/senn2013_contrasts.csv   the same as contrast rows (study, treatment_1, treatment_2,
#                                        estimate, se), every pair of arms of the three-arm study
#   OUTDIR/data/hasselblad1998_arms.csv  dat.hasselblad1998 one row per arm (study, treatment, events, n)
#   OUTDIR/data/simulated_rr_arms.csv    a simulated network (risk ratios, 40 trials of 2-4 arms, zero cells)
#   OUTDIR/data/simulated_rr_contrasts.csv  the same as contrast rows (log_estimate, se; every pair)
#   OUTDIR/cases.json                    per dataset and method (REML, ML, FE): tau2, logLik, QE, the
#                                        coefficients and their covariance, predict() for every ordered
#                                        pair of treatments (the league table), node-splitting models and
#                                        the design-by-treatment interaction model.
#
# The model is the contrast-based one of the metafor documentation's examples for dat.senn2013 (mean
# differences; placebo as reference) and dat.hasselblad1998 (log odds ratios with 1/2 added to every
# cell; no contact as reference): rma.mv(yi, V, mods = treatment columns, random = ~ comp | study,
# rho = 1/2), V holding the shared arm's variance between two contrasts of a multi-arm study. The
# design matrices, node-splitting and design-by-treatment models are built here from the definitions in
# the docstring of src/trialsynth/stats/network.py (Dias et al. 2010; Higgins et al. 2012). Convergence is
# tightened (optimizer on the single variance component with a tolerance near machine precision).
# Needs R with metafor and metadat.

args <- commandArgs(trailingOnly = TRUE)
if (length(args) != 1) stop("usage: Rscript validation/network_fixtures.R OUTDIR")
outdir <- normalizePath(args[1], mustWork = FALSE)
dir.create(file.path(outdir, "data"), recursive = TRUE, showWarnings = FALSE)

suppressPackageStartupMessages({
  library(metafor)
  library(metadat)
})
here <- dirname(normalizePath(sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE)[1])))
source(file.path(here, "json.R"))

CTL <- list(optimizer = "nlminb", rel.tol = 1e-12, iter.max = 10000, eval.max = 10000)

# Arms: data.frame(study, trt, a, va) with a the arm-level quantity and va its variance.
# Contrasts of each study's arms against a baseline (the first arm of the study in 'order', unless
# 'rebase' names a treatment the study has), with V = diag(va_t) + va_b.
contrasts <- function(arms, order, rebase = NULL) {
  rows <- list(); blocks <- list()
  for (s in unique(arms$study)) {
    d <- arms[arms$study == s, ]
    d <- d[order(match(d$trt, order)), ]
    if (!is.null(rebase) && all(rebase %in% d$trt)) d <- rbind(d[d$trt == rebase[1], ], d[d$trt != rebase[1], ])
    b <- d[1, ]; t <- d[-1, ]
    design <- paste(sort(match(d$trt, order)), collapse = ":")
    rows[[length(rows) + 1]] <- data.frame(study = s, t1 = t$trt, t2 = b$trt, yi = t$a - b$a,
      comp = paste(t$trt, b$trt, sep = "-"), design = design, stringsAsFactors = FALSE)
    v <- matrix(b$va, nrow(t), nrow(t)); diag(v) <- t$va + b$va
    blocks[[length(blocks) + 1]] <- v
  }
  list(dat = do.call(rbind, rows), V = bldiag(blocks))
}

design_matrix <- function(dat, order) {
  others <- order[-1]
  X <- matrix(0, nrow(dat), length(others), dimnames = list(NULL, others))
  for (i in seq_len(nrow(dat))) {
    if (dat$t1[i] %in% others) X[i, dat$t1[i]] <- X[i, dat$t1[i]] + 1
    if (dat$t2[i] %in% others) X[i, dat$t2[i]] <- X[i, dat$t2[i]] - 1
  }
  X
}

fit <- function(dat, V, X, method) {
  # Without random effects method = "ML" gives the maximum-likelihood log-likelihood (as rma(method = "FE")).
  if (method == "FE") return(rma.mv(dat$yi, V, mods = X, intercept = FALSE, method = "ML", data = dat))
  # Tightest first; nlminb may report non-convergence near its tolerance floor on flat likelihoods,
  # then BFGS with a tight relative tolerance is used (both are within about 1e-8 of the maximum).
  for (ctl in list(CTL, list(optimizer = "BFGS", reltol = 1e-14, maxit = 10000))) {
    res <- tryCatch(rma.mv(dat$yi, V, mods = X, intercept = FALSE, random = ~ comp | study, rho = 1/2,
                           method = method, data = dat, control = ctl), error = function(e) NULL)
    if (!is.null(res)) return(res)
  }
  stop("rma.mv did not converge")
}

mat_list <- function(m) lapply(seq_len(nrow(m)), function(i) as.list(unname(m[i, ])))

case <- function(id, dataset, citation, measure, arms, order, input, method) {
  cv <- contrasts(arms, order)
  X <- design_matrix(cv$dat, order)
  res <- fit(cv$dat, cv$V, X, method)
  p <- ncol(X)
  # Every ordered pair (row treatment minus column treatment) in 'order'.
  pairs <- list(); L <- NULL
  for (i in seq_along(order)) for (j in seq_along(order)) if (i != j) {
    l <- numeric(p); names(l) <- order[-1]
    if (i > 1) l[order[i]] <- l[order[i]] + 1
    if (j > 1) l[order[j]] <- l[order[j]] - 1
    L <- rbind(L, l); pairs[[length(pairs) + 1]] <- c(order[i], order[j])
  }
  pr <- predict(res, newmods = L, intercept = FALSE)
  league <- lapply(seq_along(pairs), function(r) list(
    treatment_1 = pairs[[r]][1], treatment_2 = pairs[[r]][2], estimate = unname(pr$pred[r]),
    se = unname(pr$se[r]), ci_lower = unname(pr$ci.lb[r]), ci_upper = unname(pr$ci.ub[r]),
    pi_lower = unname(pr$pi.lb[r]), pi_upper = unname(pr$pi.ub[r])))

  # Node-splitting: for each pair (a, b), a before b in 'order', with direct evidence, the studies with
  # both arms take a as baseline and their b-vs-a contrast gets its own coefficient.
  splits <- list()
  for (ia in seq_along(order)) for (ib in seq_along(order)) if (ia < ib) {
    a <- order[ia]; b <- order[ib]
    both <- unique(arms$study[arms$trt == a])
    both <- both[both %in% arms$study[arms$trt == b]]
    if (length(both) == 0) next
    sv <- contrasts(arms, order, rebase = c(a, b))
    Xs <- cbind(design_matrix(sv$dat, order), split = as.numeric(sv$dat$t1 == b & sv$dat$t2 == a &
                                                                    sv$dat$study %in% both))
    if (qr(Xs)$rank < ncol(Xs)) next
    rs <- fit(sv$dat, sv$V, Xs, method)
    lb <- c(numeric(p), 0); names(lb) <- colnames(Xs)
    if (ib > 1) lb[b] <- lb[b] + 1
    if (ia > 1) lb[a] <- lb[a] - 1
    ld <- lb; ld["split"] <- 1
    ps <- predict(rs, newmods = rbind(lb, ld), intercept = FALSE)
    splits[[length(splits) + 1]] <- list(treatment_1 = b, treatment_2 = a, k_direct = length(both),
      indirect = unname(ps$pred[1]), indirect_se = unname(ps$se[1]), direct = unname(ps$pred[2]),
      direct_se = unname(ps$se[2]), difference = unname(coef(rs)["split"]),
      difference_se = unname(rs$se[ncol(Xs)]), z = unname(rs$zval[ncol(Xs)]),
      p_value = unname(rs$pval[ncol(Xs)]), tau2 = if (method == "FE") 0 else rs$tau2)
  }

  # Design-by-treatment interaction: a set of effects per design; the columns that raise the rank of
  # [X, chosen...], in order, are tested jointly (Wald, QM over those coefficients).
  dat <- cv$dat
  designs <- unique(dat$design)
  Z <- NULL
  for (d in designs) {
    trts <- order[as.integer(strsplit(d, ":")[[1]])]
    for (t in trts[-1]) {
      z <- as.numeric(dat$design == d) * ((dat$t1 == t) - (dat$t2 == t))
      Z <- cbind(Z, z)
    }
  }
  keep <- integer(0); cur <- X
  for (j in seq_len(ncol(Z))) {
    trial <- cbind(cur, Z[, j])
    if (qr(trial)$rank > qr(cur)$rank) { keep <- c(keep, j); cur <- trial }
  }
  dbt <- NULL
  if (length(keep) > 0) {
    Xa <- cbind(X, Z[, keep, drop = FALSE])
    colnames(Xa) <- c(colnames(X), paste0("inc", seq_along(keep)))
    ri <- fit(dat, cv$V, Xa, method)
    fe <- fit(dat, cv$V, Xa, "FE")
    dbt <- list(chi2 = ri$QM, df = length(keep), p_value = ri$QMp, tau2 = if (method == "FE") 0 else ri$tau2,
                q_within = fe$QE, q_within_df = fe$k - fe$p)
    # QM of the inconsistency columns only:
    an <- anova(ri, btt = (p + 1):(p + length(keep)))
    dbt$chi2 <- an$QM; dbt$p_value <- an$QMp
  }
  list(id = id, dataset = dataset, citation = citation, input = input, measure = measure, method = method,
       reference = order[1], treatments = as.list(order),
       expected = list(tau2 = if (method == "FE") 0 else res$tau2, logLik = as.numeric(logLik(res)),
                       QE = res$QE, QE_df = res$k - res$p, k_contrasts = res$k,
                       coefficients = as.list(unname(coef(res))), vcov = mat_list(vcov(res)),
                       league = league, node_splits = splits, design_by_treatment = dbt))
}

write_csv <- function(df, name) write.csv(df, file.path(outdir, "data", name), row.names = FALSE,
                                          fileEncoding = "UTF-8")

# ---- dat.senn2013: mean HbA1c (or change), mean differences --------------------------------------
s <- dat.senn2013
senn_arms <- data.frame(study = s$study, trt = s$treatment, a = s$mi, va = s$sdi^2 / s$ni,
                        stringsAsFactors = FALSE)
senn_order <- c("placebo", sort(setdiff(unique(s$treatment), "placebo")))
write_csv(data.frame(study = s$study, treatment = s$treatment, mean = s$mi, sd = s$sdi, n = s$ni),
          "senn2013_arms.csv")
# Contrast rows: every pair of arms of each study (first-listed arm minus the later one).
crow <- list()
for (st in unique(s$study)) {
  d <- s[s$study == st, ]
  for (i in seq_len(nrow(d) - 1)) for (j in (i + 1):nrow(d)) {
    crow[[length(crow) + 1]] <- data.frame(study = st, treatment_1 = d$treatment[i], treatment_2 = d$treatment[j],
      estimate = sprintf("%.17g", d$mi[i] - d$mi[j]),
      se = sprintf("%.17g", sqrt(d$sdi[i]^2 / d$ni[i] + d$sdi[j]^2 / d$ni[j])), stringsAsFactors = FALSE)
  }
}
write_csv(do.call(rbind, crow), "senn2013_contrasts.csv")

# ---- dat.hasselblad1998: smoking cessation counts, log odds ratios with 1/2 added to every cell ----
h <- dat.hasselblad1998
hass_arms <- data.frame(study = as.character(h$study), trt = h$trt, a = log((h$xi + 0.5) / (h$ni - h$xi + 0.5)),
                        va = 1 / (h$xi + 0.5) + 1 / (h$ni - h$xi + 0.5), stringsAsFactors = FALSE)
hass_order <- c("no_contact", sort(setdiff(unique(h$trt), "no_contact")))
write_csv(data.frame(study = paste(h$study, h$authors, h$year), treatment = h$trt, events = h$xi, n = h$ni),
          "hasselblad1998_arms.csv")
# Study labels in the CSV are "study authors year"; in 'arms' the number alone (the same grouping).

# ---- a simulated network: risk ratios, 6 treatments, two- to four-arm trials, zero cells ----------
# Arm-level log risks; a study with an arm without events (or with only events) gets 1/2 added to every
# cell of every arm (trialsynth's to = "only0"), a study without events in any arm is left out.
set.seed(20261205)
trts <- c("A", "B", "C", "D", "E", "F")
logrisk <- log(c(0.20, 0.15, 0.12, 0.18, 0.10, 0.25))
sim <- NULL
for (i in 1:40) {
  m <- if (i == 1) 4 else if (i %% 6 == 0) 3 else 2
  arms_i <- sort(sample(trts, m))
  u <- rnorm(1, 0, 0.3)
  n <- sample(15:120, m, replace = TRUE)
  p <- pmin(0.95, exp(logrisk[match(arms_i, trts)] + c(0, rnorm(m - 1, 0, 0.2)) + u * 0.3))
  sim <- rbind(sim, data.frame(study = sprintf("sim%02d", i), treatment = arms_i, events = rbinom(m, n, p),
                               n = n, stringsAsFactors = FALSE))
}
sim$events[sim$study == "sim03"][1] <- 0   # a zero cell, corrected
write_csv(sim, "simulated_rr_arms.csv")
sim_arms <- NULL
for (st in unique(sim$study)) {
  d <- sim[sim$study == st, ]
  if (all(d$events == 0) || all(d$events == d$n)) next
  c <- if (any(d$events == 0 | d$events == d$n)) 0.5 else 0
  sim_arms <- rbind(sim_arms, data.frame(study = st, trt = d$treatment, a = log((d$events + c) / (d$n + 2 * c)),
                                         va = 1 / (d$events + c) - 1 / (d$n + 2 * c), stringsAsFactors = FALSE))
}
# The same studies as contrast rows: every pair of arms, log RR and its SE from the arms above.
crow <- list()
for (st in unique(sim_arms$study)) {
  d <- sim_arms[sim_arms$study == st, ]
  for (i in seq_len(nrow(d) - 1)) for (j in (i + 1):nrow(d)) {
    crow[[length(crow) + 1]] <- data.frame(study = st, treatment_1 = d$trt[j], treatment_2 = d$trt[i],
      log_estimate = sprintf("%.17g", d$a[j] - d$a[i]), se = sprintf("%.17g", sqrt(d$va[i] + d$va[j])),
      stringsAsFactors = FALSE)
  }
}
write_csv(do.call(rbind, crow), "simulated_rr_contrasts.csv")

cases <- list()
for (method in c("REML", "ML", "FE")) {
  cases[[length(cases) + 1]] <- case(paste0("simulated_rr_", method), "simulated (set.seed(20261205))",
    "a simulated network of risk ratios written by this script", "RR", sim_arms, trts,
    "data/simulated_rr_arms.csv", method)
  cases[[length(cases) + 1]] <- case(paste0("senn2013_", method), "dat.senn2013",
    "Senn et al., Stat Methods Med Res 2013;22:169 (metadat dat.senn2013)", "MD", senn_arms, senn_order,
    "data/senn2013_arms.csv", method)
  cases[[length(cases) + 1]] <- case(paste0("hasselblad1998_", method), "dat.hasselblad1998",
    "Hasselblad, Med Decis Making 1998;18:37 (metadat dat.hasselblad1998)", "OR", hass_arms, hass_order,
    "data/hasselblad1998_arms.csv", method)
}

# ---- metafor's documented construction of the same two networks --------------------------------
# The documentation's examples build the contrasts with to.wide() against a reference arm, the effect
# sizes with escalc(), the treatment columns with contrmat(), and V from the shared arm's variance;
# built that way here (in the rows' own order) and fitted by REML, they must give the fits above.
documented <- function(w, shared, others) {
  V <- diag(w$vi)
  for (i in seq_len(nrow(w))) for (j in seq_len(nrow(w)))
    if (i != j && w$study[i] == w$study[j]) V[i, j] <- shared[i]
  w <- contrmat(w, grp1 = "trt.1", grp2 = "trt.2")
  res <- fit(w, V, as.matrix(as.data.frame(w)[, others]), "REML")
  list(tau2 = res$tau2, logLik = as.numeric(logLik(res)), treatments = as.list(others),
       coefficients = as.list(unname(coef(res))))
}
s2 <- dat.senn2013; names(s2)[names(s2) == "treatment"] <- "trt"
w <- to.wide(s2, study = "study", grp = "trt", ref = "placebo", grpvars = c("ni", "mi", "sdi"))
w <- escalc(measure = "MD", m1i = mi.1, sd1i = sdi.1, n1i = ni.1, m2i = mi.2, sd2i = sdi.2, n2i = ni.2, data = w)
doc_senn <- documented(w, w$sdi.2^2 / w$ni.2, senn_order[-1])
w <- to.wide(dat.hasselblad1998, study = "study", grp = "trt", ref = "no_contact", grpvars = c("xi", "ni"))
w <- escalc(measure = "OR", ai = xi.1, n1i = ni.1, ci = xi.2, n2i = ni.2, add = 1/2, to = "all", data = w)
doc_hass <- documented(w, 1 / (w$xi.2 + 1/2) + 1 / (w$ni.2 - w$xi.2 + 1/2), hass_order[-1])
for (d in list(list(doc_senn, "senn2013_REML"), list(doc_hass, "hasselblad1998_REML"))) {
  mine <- Filter(function(c) c$id == d[[2]], cases)[[1]]$expected
  stopifnot(abs(d[[1]]$tau2 / mine$tau2 - 1) < 1e-6,
            max(abs(unlist(d[[1]]$coefficients) - unlist(mine$coefficients))) < 1e-6)
}

write_json_file(list(generated_by = "validation/network_fixtures.R",
                     r_version = R.version.string,
                     metafor_version = as.character(packageVersion("metafor")),
                     cases = cases,
                     documented = list(senn2013 = doc_senn, hasselblad1998 = doc_hass)),
                file.path(outdir, "cases.json"))

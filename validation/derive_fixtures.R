#!/usr/bin/env Rscript
# Fixtures for trialsynth.stats.derive's effect measures: metafor's escalc() for the log ratio of
# means (ROM), the log incidence rate ratio (IRR) and the incidence rate difference (IRD).
#
#   Rscript validation/derive_fixtures.R OUTDIR   (pinned copy: tests/fixtures/derive)
#
# Writes OUTDIR/cases.json: one case per measure with the inputs (columns as escalc names them)
# and escalc's yi and vi. Data: metadat's dat.curtis1998 (first 12 rows; ROM) and
# dat.nielweise2008 (IRR, IRD; one row has 0 events in an arm, so the IRR's 0.5 correction of
# to="only0" is exercised). Needs R with metafor and metadat. This script only calls them.

args <- commandArgs(trailingOnly = TRUE)
if (length(args) != 1) stop("usage: Rscript validation/derive_fixtures.R OUTDIR")
outdir <- normalizePath(args[1], mustWork = FALSE)
dir.create(outdir, recursive = TRUE, showWarnings = FALSE)
here <- dirname(sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE)))
source(file.path(here, "json.R"))

suppressPackageStartupMessages({
  library(metafor)
  library(metadat)
})

as_list <- function(v) lapply(as.numeric(v), function(x) x)

curtis <- dat.curtis1998[1:12, ]
rom <- escalc("ROM", m1i = m1i, sd1i = sd1i, n1i = n1i, m2i = m2i, sd2i = sd2i, n2i = n2i, data = curtis)
niel <- dat.nielweise2008
if (!any(niel$x1i == 0 | niel$x2i == 0)) niel$x1i[1] <- 0  # make sure the zero-count rule is tested
irr <- escalc("IRR", x1i = x1i, t1i = t1i, x2i = x2i, t2i = t2i, data = niel)
ird <- escalc("IRD", x1i = x1i, t1i = t1i, x2i = x2i, t2i = t2i, data = niel)

cases <- list(
  list(id = "ROM curtis1998[1:12]", measure = "ROM",
       inputs = list(m1i = as_list(curtis$m1i), sd1i = as_list(curtis$sd1i), n1i = as_list(curtis$n1i),
                     m2i = as_list(curtis$m2i), sd2i = as_list(curtis$sd2i), n2i = as_list(curtis$n2i)),
       yi = as_list(rom$yi), vi = as_list(rom$vi)),
  list(id = "IRR nielweise2008", measure = "IRR",
       inputs = list(x1i = as_list(niel$x1i), t1i = as_list(niel$t1i), x2i = as_list(niel$x2i),
                     t2i = as_list(niel$t2i)),
       yi = as_list(irr$yi), vi = as_list(irr$vi)),
  list(id = "IRD nielweise2008", measure = "IRD",
       inputs = list(x1i = as_list(niel$x1i), t1i = as_list(niel$t1i), x2i = as_list(niel$x2i),
                     t2i = as_list(niel$t2i)),
       yi = as_list(ird$yi), vi = as_list(ird$vi))
)
write_json_file(list(metafor = as.character(packageVersion("metafor")), cases = cases),
                file.path(outdir, "cases.json"))

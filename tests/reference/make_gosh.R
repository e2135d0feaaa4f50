## Reference values for metapool's GOSH analysis (MetaAnalysis.gosh):
##
##   Rscript tests/reference/make_gosh.R  -> tests/reference/gosh_cases.json
##
## metafor's gosh() on every subset of small analyses: rma.uni with DL, REML and PM
## (I2 from Q for DL, from tau^2 otherwise, as gosh() does), rma.mh (odds ratio, risk ratio) and rma.peto (I2 from Q).
## The data have no zero cells, so metafor's continuity corrections do not apply and
## its MH and Peto estimates are RevMan's. For each subset (rows in metafor's order:
## by size, then by expand.grid order with study 1 varying fastest) the membership,
## k, QE, I2, H2, tau2 and the estimate (analysis scale).

args_all <- commandArgs(trailingOnly = FALSE)
source(file.path(local({
  f <- sub("^--file=", "", args_all[grepl("^--file=", args_all)])
  if (length(f)) dirname(normalizePath(f)) else getwd()
}), "common.R"))
suppressPackageStartupMessages({ library(metafor); library(jsonlite) })

OUT_DIR <- script_dir()
arr <- function(x) { attr(x, "json_array") <- TRUE; x }

## the aspirin trials of metapool.examples.aspirin()
aspirin <- data.frame(
  study = c("MRC-1", "CDP", "MRC-2", "GASP", "PARIS", "AMIS", "ISIS-2"),
  ai = c(49, 44, 102, 32, 85, 246, 1570), n1i = c(615, 758, 832, 317, 810, 2267, 8587),
  ci = c(67, 64, 126, 38, 52, 219, 1720), n2i = c(624, 771, 850, 309, 406, 2257, 8600))
## generic inverse-variance data with a clear outlier pair (studies 1, 2)
generic <- data.frame(
  study = sprintf("s%d", 1:8),
  yi = c(1.10, 0.95, 0.21, 0.35, 0.12, 0.30, 0.44, 0.18),
  sei = c(0.20, 0.25, 0.15, 0.22, 0.18, 0.30, 0.26, 0.12))

rows_of <- function(g) {
  lapply(seq_len(nrow(g$res)), function(i) list(
    members = arr(as.integer(which(g$incl[i, ])) - 1L),
    k = g$res$k[i], q = g$res$QE[i], i2 = g$res$I2[i], h2 = g$res$H2[i],
    tau2 = g$res$tau2[i], estimate = g$res$estimate[i]))
}

cases <- list()
add <- function(id, fit, data, options) {
  g <- gosh(fit, progbar = FALSE)
  cat(sprintf("%s: %d subsets\n", id, nrow(g$res)))
  cases[[length(cases) + 1L]] <<- list(id = id, data = data, options = options, subsets = rows_of(g))
}

## gosh() refits DL subsets by its own closed form, with I2 and H2 from Q (H2 = Q/(k - 1),
## below 1 when Q < k - 1); other estimators through rma(), with I2 and H2 from tau^2
i2_of <- function(m) if (m == "DL") "Q" else "tau2"
## gosh() refits with the model's control: Fisher scoring (REML) to a tight threshold and
## uniroot (PM) to a tiny tol, so that the refits are accurate to far below the tests' tolerance
CTRL <- list(threshold = 1e-12, maxiter = 1000, tol = 1e-30)

tables <- lapply(seq_len(nrow(aspirin)), function(i) as.list(aspirin[i, ]))
es <- escalc("OR", ai = ai, n1i = n1i, ci = ci, n2i = n2i, data = aspirin)
for (m in c("DL", "REML", "PM")) {
  add(sprintf("aspirin_OR_IV_%s", m), rma(yi, vi, data = es, method = m, control = CTRL), list(tables = tables),
      list(measure = "OR", method = "IV", model = "random", tau2 = m, i2 = i2_of(m)))
}
add("aspirin_OR_MH", rma.mh(ai = ai, n1i = n1i, ci = ci, n2i = n2i, data = aspirin, measure = "OR"),
    list(tables = tables), list(measure = "OR", method = "MH", model = "fixed", i2 = "Q"))
add("aspirin_RR_MH", rma.mh(ai = ai, n1i = n1i, ci = ci, n2i = n2i, data = aspirin, measure = "RR"),
    list(tables = tables), list(measure = "RR", method = "MH", model = "fixed", i2 = "Q"))
add("aspirin_PETO", rma.peto(ai = ai, n1i = n1i, ci = ci, n2i = n2i, data = aspirin),
    list(tables = tables), list(measure = "PETO_OR", method = "PETO", model = "fixed", i2 = "Q"))
gen <- lapply(seq_len(nrow(generic)), function(i) as.list(generic[i, ]))
for (m in c("DL", "REML")) {
  add(sprintf("generic_%s", m), rma(yi, sei = sei, data = generic, method = m, control = CTRL), list(generic = gen),
      list(measure = "MD", model = "random", tau2 = m, i2 = i2_of(m)))
}

out <- list(generated_by = "tests/reference/make_gosh.R", versions = versions(),
            conventions = paste(
              "members are 0-based study indices; estimate on the analysis scale (log for ratios);",
              "i2 and h2 as metafor's gosh() reports them (from Q for DL, rma.mh and rma.peto, from tau^2",
              "for the other rma.uni estimators); options.i2 names metapool's matching choice;",
              "k = 1 subsets have QE = 0 and I2 = 0 in metafor"),
            cases = cases)
path <- file.path(OUT_DIR, "gosh_cases.json")
write_json_file(out, path)
back <- jsonlite::fromJSON(path, simplifyVector = FALSE)
a <- flatten_num(out$cases); b <- flatten_num(back$cases)
## num_str writes each double exactly (it checks the read-back); jsonlite's own parser can be
## one ulp off on 17-digit numbers, so the re-read is checked to that
stopifnot(length(a) == length(b), identical(unname(is.na(a)), unname(is.na(b))),
          all(abs(a - b) <= 2 * .Machine$double.eps * abs(a), na.rm = TRUE))
cat(sprintf("wrote %s: %d cases (round trip checked)\n", path, length(cases)))

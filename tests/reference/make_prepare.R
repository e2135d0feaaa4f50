## Reference values for metapool.prepare: mean and SD from medians (R meta's own
## conversion code) and the Cochrane Handbook's conversions (computed here from the
## Handbook's formulas, written out in R).
##
##   META_R_DIR=/path/to/meta/R Rscript tests/reference/make_prepare.R
##        -> tests/reference/prepare_cases.json
##
## META_R_DIR is the R/ directory of a copy of the meta sources (github.com/guido-s/meta,
## or the CRAN tarball). meta itself need not be installed: the script source()s two of its
## files, R/mean-sd-internal.R (mean_sd_range, mean_sd_iqr, mean_sd_iqr_range: the functions
## metacont() calls for median=, q1=, q3=, min=, max=) and R/se-internal.R (metagen()'s SE
## from a CI or a P value, used as a cross-check), and from R/meta-internal.R only the two
## setOption() calls holding Wan et al.'s tables. Its argument checkers chknumeric(),
## chklength() and chklevel() are replaced by no-ops (the inputs here are valid). meta's code is not part of
## this repository; only this script and its JSON output are.

args_all <- commandArgs(trailingOnly = FALSE)
HERE <- local({
  f <- sub("^--file=", "", args_all[grepl("^--file=", args_all)])
  if (length(f)) dirname(normalizePath(f)) else getwd()
})
source(file.path(HERE, "common.R"))

META_R_DIR <- Sys.getenv("META_R_DIR")
if (!nzchar(META_R_DIR) || !file.exists(file.path(META_R_DIR, "mean-sd-internal.R")))
  stop("set META_R_DIR to the R/ directory of the meta sources")

## --- meta's conversion code --------------------------------------------------------------
meta <- new.env()
meta$chknumeric <- function(...) invisible(NULL)
meta$chklength <- function(...) invisible(NULL)
options_meta <- list()
for (e in parse(file.path(META_R_DIR, "meta-internal.R"))) {
  if (is.call(e) && identical(e[[1]], as.name("setOption")) &&
      is.character(e[[2]]) && startsWith(e[[2]], "Wan2014"))
    options_meta[[e[[2]]]] <- eval(e[[3]])
}
stopifnot(length(options_meta) == 2)
meta$gs <- function(x) options_meta[[x]]
meta$chklevel <- function(...) invisible(NULL)
sys.source(file.path(META_R_DIR, "mean-sd-internal.R"), envir = meta)
## metagen()'s SE from a CI or a P value (Parmar 1998): a cross-check of the Handbook values
sys.source(file.path(META_R_DIR, "se-internal.R"), envir = meta)
meta_version <- local({
  d <- file.path(dirname(META_R_DIR), "DESCRIPTION")
  if (file.exists(d)) read.dcf(d, "Version")[1, 1] else "unknown"
})

set.seed(20261201)

## --- mean and SD from quantiles ----------------------------------------------------------
## n covers Wan's tables (range: n <= 50; IQR: n <= 201) and the formulas beyond them
ns <- c(2:12, 19, 25, 33, 49, 50, 51, 52, 60, 99, 150, 200, 201, 202, 203, 250, 400, 1000)
k <- length(ns)
median <- round(runif(k, 10, 50), 2)
q1 <- median - round(runif(k, 0.5, 8), 2)
q3 <- median + round(runif(k, 0.5, 9), 2)
mn <- q1 - round(runif(k, 0.1, 10), 2)
mx <- q3 + round(runif(k, 0.1, 12), 2)

quantile_cases <- list()
for (mm in c("Luo", "Wan")) {
  quantile_cases[[length(quantile_cases) + 1]] <- list(
    scenario = "range", mean_method = mm, sd_method = "Shi",
    n = arr(ns), median = arr(median), minimum = arr(mn), maximum = arr(mx),
    mean = arr(meta$mean_sd_range(ns, median, mn, mx, method.mean = mm)$mean),
    sd = arr(meta$mean_sd_range(ns, median, mn, mx)$sd))
  quantile_cases[[length(quantile_cases) + 1]] <- list(
    scenario = "quartiles", mean_method = mm, sd_method = "Shi",
    n = arr(ns), median = arr(median), q1 = arr(q1), q3 = arr(q3),
    mean = arr(meta$mean_sd_iqr(ns, median, q1, q3, method.mean = mm)$mean),
    sd = arr(meta$mean_sd_iqr(ns, median, q1, q3)$sd))
  for (ms in c("Shi", "Wan")) {
    res <- meta$mean_sd_iqr_range(ns, median, q1, q3, mn, mx, method.mean = mm, method.sd = ms)
    quantile_cases[[length(quantile_cases) + 1]] <- list(
      scenario = "five", mean_method = mm, sd_method = ms,
      n = arr(ns), median = arr(median), q1 = arr(q1), q3 = arr(q3),
      minimum = arr(mn), maximum = arr(mx), mean = arr(res$mean), sd = arr(res$sd))
  }
}

## --- Handbook formulas -------------------------------------------------------------------
crit <- function(level, df) if (is.null(df)) qnorm(1 - (1 - level) / 2) else qt(1 - (1 - level) / 2, df)
m <- 12
n <- sample(2:300, m, replace = TRUE)
centre <- round(rnorm(m, 20, 10), 2)
half <- round(runif(m, 0.2, 6), 3)
lower <- centre - half
upper <- centre + half
se <- round(runif(m, 0.05, 3), 3)

## 6.5.2.2: SD = sqrt(N) * SE; SD = sqrt(N) * (upper - lower) / (2 * q)
sd_ci <- list()
for (level in c(0.95, 0.9)) for (dist in c("t", "z")) {
  q <- crit(level, if (dist == "t") n - 1 else NULL)
  sd_ci[[length(sd_ci) + 1]] <- list(ci_level = level, distribution = dist, n = arr(n),
    lower = arr(lower), upper = arr(upper), sd = arr(sqrt(n) * (upper - lower) / (2 * q)))
}

## 6.5.2.3: SE of a mean difference -> SD = SE / sqrt(1/N_E + 1/N_C)
n_exp <- sample(3:200, m, replace = TRUE)
n_ctrl <- sample(3:200, m, replace = TRUE)
difference <- round(rnorm(m, 0, 5), 2)
difference[difference == 0] <- 0.5
tstat <- round(difference / runif(m, 0.3, 3), 3)
pval <- signif(runif(m, 0.001, 0.9), 3)
sd_diff <- list()
root <- sqrt(1 / n_exp + 1 / n_ctrl)
for (dist in c("t", "z")) {
  df <- if (dist == "t") n_exp + n_ctrl - 2 else NULL
  for (level in c(0.95, 0.99))
    sd_diff[[length(sd_diff) + 1]] <- list(route = "ci", ci_level = level, distribution = dist,
      n_exp = arr(n_exp), n_ctrl = arr(n_ctrl), lower = arr(lower), upper = arr(upper),
      sd = arr((upper - lower) / (2 * crit(level, df)) / root))
  ## a P value: t = the upper P/2 quantile, SE = |MD| / t
  qp <- if (is.null(df)) qnorm(pval / 2, lower.tail = FALSE) else qt(pval / 2, df, lower.tail = FALSE)
  sd_diff[[length(sd_diff) + 1]] <- list(route = "p", distribution = dist,
    n_exp = arr(n_exp), n_ctrl = arr(n_ctrl), difference = arr(difference), p = arr(pval),
    sd = arr(abs(difference) / qp / root))
}
## cross-check: meta's SE from a P value (seTE.pval), t with n_exp + n_ctrl - 2 df
stopifnot(isTRUE(all.equal(
  meta$seTE.pval(difference, pval, df = n_exp + n_ctrl - 2)$seTE * 1 / root,
  as.numeric(sd_diff[[3]]$sd), tolerance = 1e-14)))
sd_diff[[length(sd_diff) + 1]] <- list(route = "se", n_exp = arr(n_exp), n_ctrl = arr(n_ctrl),
  se = arr(se), sd = arr(se / root))
sd_diff[[length(sd_diff) + 1]] <- list(route = "t", n_exp = arr(n_exp), n_ctrl = arr(n_ctrl),
  difference = arr(difference), t = arr(tstat), sd = arr(abs(difference / tstat) / root))

## Table 6.5.a, applied arm after arm (rows: trials; columns: arms)
arms <- 4
cn <- matrix(sample(1:120, m * arms, replace = TRUE), m, arms)
cmean <- matrix(round(rnorm(m * arms, 30, 8), 2), m, arms)
csd <- matrix(round(runif(m * arms, 0.5, 12), 2), m, arms)
combine_two <- function(n1, m1, s1, n2, m2, s2) {
  n <- n1 + n2
  list(n = n, mean = (n1 * m1 + n2 * m2) / n,
       sd = sqrt(((n1 - 1) * s1^2 + (n2 - 1) * s2^2 +
                  n1 * n2 / (n1 + n2) * (m1^2 + m2^2 - 2 * m1 * m2)) / (n1 + n2 - 1)))
}
comb <- list(n = cn[, 1], mean = cmean[, 1], sd = csd[, 1])
for (j in 2:arms) comb <- combine_two(comb$n, comb$mean, comb$sd, cn[, j], cmean[, j], csd[, j])
ev <- matrix(rbinom(m * arms, cn, 0.3), m, arms)
rows <- function(x) lapply(seq_len(nrow(x)), function(i) arr(x[i, ]))
combine <- list(n = rows(cn), mean = rows(cmean), sd = rows(csd), events = rows(ev),
  expected = list(n = arr(comb$n), mean = arr(comb$mean), sd = arr(comb$sd),
                  events = arr(rowSums(ev)), total = arr(rowSums(cn))))

## 6.3.1 (ratios on the log scale) and a difference
est <- exp(rnorm(m, 0, 0.6))
wid <- runif(m, 0.05, 0.9)
glo <- est * exp(-wid * runif(m, 0.8, 1.2))
ghi <- est * exp(wid * runif(m, 0.8, 1.2))
generic <- list()
for (level in c(0.95, 0.9)) {
  z <- crit(level, NULL)
  generic[[length(generic) + 1]] <- list(ratio = TRUE, ci_level = level, estimate = arr(est),
    lower = arr(glo), upper = arr(ghi), expected_estimate = arr(log(est)),
    expected_se = arr((log(ghi) - log(glo)) / (2 * z)))
  generic[[length(generic) + 1]] <- list(ratio = FALSE, ci_level = level, estimate = arr(centre),
    lower = arr(lower), upper = arr(upper), expected_estimate = arr(centre),
    expected_se = arr((upper - lower) / (2 * z)))
}

## cross-check: meta's SE from a CI (TE.seTE.ci, normal quantile), on the log scale for ratios
for (g in generic) {
  scale <- if (g$ratio) log else identity
  se_meta <- meta$TE.seTE.ci(scale(g$lower), scale(g$upper), level = g$ci_level)$seTE
  stopifnot(isTRUE(all.equal(se_meta, as.numeric(g$expected_se), tolerance = 1e-14)))
}

## 6.5.2.8: change from baseline
sdb <- round(runif(m, 1, 15), 2)
sdf <- round(runif(m, 1, 15), 2)
corr <- round(runif(m, -0.9, 0.95), 3)
sdc <- sqrt(sdb^2 + sdf^2 - 2 * corr * sdb * sdf)
change <- list(sd_baseline = arr(sdb), sd_final = arr(sdf), correlation = arr(corr),
  sd_change = arr(sdc),
  correlation_back = arr((sdb^2 + sdf^2 - sdc^2) / (2 * sdb * sdf)))

## 23.1.4: design effect 1 + (M - 1) ICC
cl_n <- sample(50:2000, m, replace = TRUE)
cl_ev <- round(cl_n * runif(m, 0, 0.5))
cl_m <- round(runif(m, 1, 60), 1)
cl_icc <- round(runif(m, 0, 0.3), 4)
de <- 1 + (cl_m - 1) * cl_icc
cluster <- list(n = arr(cl_n), events = arr(cl_ev), cluster_size = arr(cl_m), icc = arr(cl_icc),
  design_effect = arr(de), effective_n = arr(cl_n / de), effective_events = arr(cl_ev / de))

out <- list(
  description = paste("metapool.prepare reference values: mean/SD from quantiles by R meta's",
                      "mean_sd_range/mean_sd_iqr/mean_sd_iqr_range; the rest from the Cochrane",
                      "Handbook's formulas written in R (make_prepare.R)"),
  versions = list(R = R.version.string, meta_sources = meta_version),
  quantiles = quantile_cases, sd_from_ci = sd_ci, sd_from_difference = sd_diff,
  combine = combine, generic = generic, change = change, cluster = cluster)
path <- file.path(HERE, "prepare_cases.json")
back <- write_json_file(out, path)
a <- flatten_num(out); b <- flatten_num(back)
stopifnot(identical(names(a), names(b)), all(a == b | (is.na(a) & is.na(b))))
cat("wrote", path, "with", length(a), "numbers\n")

## Reference values for metapool.pool(hksj="adhoc") and plain HKSJ's fallback, from
## metafor's rma(test="adhoc") (Knapp & Hartung 2003: the HKSJ variance is never below
## the Wald one; t with k - 1 df).
##
##   Rscript tests/reference/make_hksj_adhoc.R   -> tests/reference/hksj_adhoc_cases.json
##
## Each case: data, options as metapool.pool takes them, and metafor's numbers. Cases
## with hksj = TRUE are data whose estimates are all identical: the HKSJ variance is 0
## there, and metapool falls back to the ad hoc rule, so metafor's test="adhoc" is the
## expectation (its test="knha" gives SE 0). "checks" recomputes the SE by hand.

args_all <- commandArgs(trailingOnly = FALSE)
source(file.path(local({
  f <- sub("^--file=", "", args_all[grepl("^--file=", args_all)])
  if (length(f)) dirname(normalizePath(f)) else getwd()
}), "common.R"))
suppressPackageStartupMessages({ library(metafor); library(metadat); library(jsonlite) })

bcg <- escalc(measure = "RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)
DATA <- list(
  bcg_logRR = list(yi = as.numeric(bcg$yi), vi = as.numeric(bcg$vi),
                   note = "metadat dat.bcg log risk ratios: the HKSJ variance is above the Wald one"),
  homogeneous = list(yi = c(0.10, 0.12, 0.09, 0.11, 0.10, 0.13), vi = c(0.01, 0.02, 0.015, 0.01, 0.03, 0.02),
                     note = "Q far below df: the HKSJ variance is below the Wald one"),
  k2 = list(yi = c(0.2, 0.8), vi = c(0.04, 0.09), note = "two studies"),
  tiny_variances = list(yi = c(0.101, 0.0995, 0.1003, 0.0998, 0.1012, 0.1007),
                        vi = c(1e-6, 2e-6, 1e-6, 1.5e-6, 3e-6, 1e-6), note = "sampling variances around 1e-6"),
  identical = list(yi = c(0.25, 0.25, 0.25, 0.25), vi = c(0.01, 0.04, 0.02, 0.03),
                   note = "identical estimates: HKSJ variance 0")
)

run_case <- function(id, dname, model, est, hksj, level = 0.95) {
  d <- DATA[[dname]]; yi <- d$yi; vi <- d$vi; k <- length(yi)
  method <- est
  res <- rma(yi, vi, method = method, test = "adhoc", level = 100 * level,
             control = list(threshold = 1e-16, maxiter = 1000, tol = 1e-30))
  knha <- rma(yi, vi, method = method, test = "knha", level = 100 * level,
              control = list(threshold = 1e-16, maxiter = 1000, tol = 1e-30))
  tau2 <- res$tau2
  w <- 1 / (vi + tau2); th <- sum(w * yi) / sum(w)
  se_hand <- sqrt(max(sum(w * (yi - th)^2) / (k - 1), 1) / sum(w))
  list(id = id, dataset = dname, yi = arr(yi), vi = arr(vi),
       options = list(model = model, tau2 = est, hksj = hksj, ci_level = level),
       expected = list(estimate = as.numeric(res$beta), se = res$se, ci_lower = res$ci.lb,
                       ci_upper = res$ci.ub, z = res$zval, p_value = res$pval, tau2 = tau2,
                       se_knha = knha$se),
       checks = list(se_abs_diff = abs(se_hand - res$se)),
       metafor_call = sprintf("rma(yi, vi, method='%s', test='adhoc', level=%g, control=list(threshold=1e-16, maxiter=1000, tol=1e-30))",
                              method, 100 * level))
}

cases <- list()
for (dn in setdiff(names(DATA), "identical")) for (est in c("DL", "REML", "PM"))
  cases[[length(cases) + 1]] <- run_case(sprintf("%s_%s_adhoc", dn, est), dn, "random", est, "adhoc")
cases[[length(cases) + 1]] <- run_case("homogeneous_REML_adhoc_ci90", "homogeneous", "random", "REML", "adhoc", 0.90)
for (est in c("DL", "REML")) for (h in list("adhoc", TRUE))
  cases[[length(cases) + 1]] <- run_case(sprintf("identical_%s_%s", est, if (isTRUE(h)) "hksj" else "adhoc"),
                                         "identical", "random", est, h)

cat(sprintf("max |se - by hand| = %.3g\n", max(vapply(cases, function(cs) cs$checks$se_abs_diff, 0))))
out <- list(generated_by = "tests/reference/make_hksj_adhoc.R", versions = versions(),
            datasets = lapply(DATA, function(d) list(k = length(d$yi), note = d$note)),
            conventions = paste(
              "analysis scale; se, ci, z (a t statistic) and p from rma(test='adhoc'):",
              "sqrt(max(1, s2_w) / sum(w)), t with k - 1 df; se_knha is test='knha''s SE for comparison"),
            cases = cases)
path <- file.path(script_dir(), "hksj_adhoc_cases.json")
write_json_file(out, path)
back <- jsonlite::fromJSON(path, simplifyVector = FALSE)
a <- flatten_num(out$cases); b <- flatten_num(back$cases)
stopifnot(length(a) == length(b), identical(unname(is.na(a)), unname(is.na(b))), all(a[!is.na(a)] == b[!is.na(b)]))
cat("wrote", path, ":", length(cases), "cases (round trip exact)\n")

## Reference values for metapool.pool (beyond RevMan: tau^2 estimators, HKSJ,
## prediction intervals, Q-profile CIs; spec §5), metafor conventions.
##
##   Rscript tests/reference/make_pool.R        -> tests/reference/pool_cases.json
##
## Everything on the analysis scale.  Each case is one rma() fit with tight
## control; the iterative results are verified independently (estimating
## equations solved with uniroot at tol 1e-15, a grid search for the global
## ML/REML maximum, Q at the Q-profile bounds) and those checks are written
## into the case ("checks").

args_all <- commandArgs(trailingOnly = FALSE)
source(file.path(local({
  f <- sub("^--file=", "", args_all[grepl("^--file=", args_all)])
  if (length(f)) dirname(normalizePath(f)) else getwd()
}), "common.R"))
suppressPackageStartupMessages({ library(metafor); library(jsonlite) })

OUT_DIR <- script_dir()
## rma(): 'threshold' ends Fisher scoring (ML, REML, EB) when |change in tau^2| < threshold;
## 'tol' is uniroot's tolerance for PM.  uniroot's accuracy is 2*eps*|x| + tol/2, so a tiny
## tol gives tau^2 to machine precision even when tau^2 itself is tiny.  The smallest
## threshold with which Fisher scoring converges is used (tried in THRESHOLDS order).
THRESHOLDS <- c(1e-20, 1e-18, 1e-16, 1e-14, 1e-12)
RMA_TOL <- 1e-30
CI_CTRL <- list(tol = 1e-30, maxiter = 1000, tau2.max = 1e6)         # confint(): Q-profile uniroot
ESTIMATORS <- c("DL", "REML", "ML", "PM", "EB", "HE", "SJ", "HS")

## ---------------------------------------------------------------------------
## data sets (yi, vi)
## ---------------------------------------------------------------------------
bcg <- escalc(measure = "RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)
nor <- escalc(measure = "SMD", m1i = m1i, sd1i = sd1i, n1i = n1i, m2i = m2i, sd2i = sd2i, n2i = n2i,
              data = dat.normand1999)
DATA <- list(
  bcg_logRR = list(yi = as.numeric(bcg$yi), vi = as.numeric(bcg$vi),
                   note = "metadat dat.bcg, escalc(measure='RR') log risk ratios"),
  normand1999_SMD = list(yi = as.numeric(nor$yi), vi = as.numeric(nor$vi),
                         note = "metadat dat.normand1999, escalc(measure='SMD') (metafor's exact-J Hedges g and its default variance)"),
  k2 = list(yi = c(0.2, 0.8), vi = c(0.04, 0.09), note = "two studies"),
  k3 = list(yi = c(-0.3, 0.1, 0.6), vi = c(0.05, 0.02, 0.08), note = "three studies"),
  homogeneous = list(yi = c(0.10, 0.12, 0.09, 0.11, 0.10, 0.13), vi = c(0.01, 0.02, 0.015, 0.01, 0.03, 0.02),
                     note = "Q far below df: tau^2 = 0 boundary for every estimator that truncates"),
  huge_heterogeneity = list(yi = c(-2, 0.5, 3, -1.2, 4.1, 1.0, -3.3), vi = c(0.05, 0.1, 0.04, 0.2, 0.08, 0.06, 0.1),
                            note = "I2 close to 100%"),
  tiny_variances = list(yi = c(0.101, 0.0995, 0.1003, 0.0998, 0.1012, 0.1007),
                        vi = c(1e-6, 2e-6, 1e-6, 1.5e-6, 3e-6, 1e-6), note = "sampling variances around 1e-6"),
  one_huge_variance = list(yi = c(0.3, 0.5, 0.1, 0.4, 0.25, 2.5), vi = c(0.02, 0.03, 0.025, 0.04, 0.015, 100),
                           note = "one study with variance 100")
)

## ---------------------------------------------------------------------------
## independent checks
## ---------------------------------------------------------------------------
genQ <- function(t2, yi, vi) { w <- 1 / (vi + t2); m <- sum(w * yi) / sum(w); sum(w * (yi - m)^2) }
loglik <- function(t2, yi, vi, reml) {
  w <- 1 / (vi + t2); m <- sum(w * yi) / sum(w)
  ll <- -0.5 * sum(log(vi + t2)) - 0.5 * sum(w * (yi - m)^2)
  if (reml) ll <- ll - 0.5 * log(sum(w))
  ll
}
score <- function(t2, yi, vi, reml) {
  w <- 1 / (vi + t2); m <- sum(w * yi) / sum(w)
  s <- -0.5 * sum(w) + 0.5 * sum(w^2 * (yi - m)^2)
  if (reml) s <- s + 0.5 * sum(w^2) / sum(w)
  s
}
## tau2 by an independent route, for the iterative estimators
tau2_independent <- function(method, yi, vi) {
  k <- length(yi)
  if (method %in% c("PM", "EB")) {
    if (genQ(0, yi, vi) <= k - 1) return(0)
    hi <- 1; while (genQ(hi, yi, vi) > k - 1) hi <- hi * 10
    return(uniroot(function(t) genQ(t, yi, vi) - (k - 1), c(0, hi), tol = 1e-300, maxiter = 10000)$root)
  }
  if (method %in% c("ML", "REML")) {
    reml <- method == "REML"
    ## global maximum: fine grid on a log scale, then the root of the score
    ## equation in the bracket around the best grid point
    top <- max(10 * var(yi), 10 * max(vi), 1)
    grid <- c(0, exp(seq(log(1e-12 * top), log(top), length.out = 4001)))
    ll <- vapply(grid, loglik, 0, yi = yi, vi = vi, reml = reml)
    j <- which.max(ll)
    if (j == 1 && score(0, yi, vi, reml) <= 0) return(0)
    lo <- grid[max(1, j - 1)]; hi <- grid[min(length(grid), j + 1)]
    return(uniroot(score, c(lo, hi), yi = yi, vi = vi, reml = reml, tol = 1e-300, maxiter = 10000)$root)
  }
  NA_real_
}

## ---------------------------------------------------------------------------
## one case
## ---------------------------------------------------------------------------
run_case <- function(id, dname, model, est, hksj, level = 0.95) {
  d <- DATA[[dname]]; yi <- d$yi; vi <- d$vi; k <- length(yi)
  opt <- list(model = model, tau2 = if (model == "fixed") NA else est, hksj = hksj, ci_level = level)
  method <- if (model == "fixed") "FE" else est
  warns <- character(0); res <- NULL; used <- NA
  for (thr in THRESHOLDS) {
    w_try <- character(0)
    res <- withCallingHandlers(
      tryCatch(rma(yi, vi, method = method, test = if (hksj) "knha" else "z", level = 100 * level,
                   control = list(threshold = thr, maxiter = 1000, tol = RMA_TOL)), error = function(e) e),
      warning = function(w) { w_try <<- c(w_try, conditionMessage(w)); invokeRestart("muffleWarning") })
    used <- thr; warns <- w_try
    if (!inherits(res, "error")) break
    if (!(method %in% c("ML", "REML", "EB"))) break   # threshold is irrelevant for the others
  }
  call_txt <- sprintf("rma(yi, vi, method='%s', test='%s', level=%g, control=list(threshold=%g, maxiter=1000, tol=1e-30))",
                      method, if (hksj) "knha" else "z", 100 * level, used)
  case <- list(id = id, dataset = dname, yi = arr(yi), vi = arr(vi), options = opt)
  if (inherits(res, "error")) {      # metafor failed: recorded, not skipped
    case$error <- conditionMessage(res)
    case$expected <- NULL
    case$metafor_call <- call_txt
    return(case)
  }
  Q <- res$QE; df <- k - 1
  th <- as.numeric(res$beta); se <- res$se; tau2 <- if (model == "fixed") 0 else res$tau2
  ex <- list(estimate = th, se = se, ci_lower = res$ci.lb, ci_upper = res$ci.ub,
             z = res$zval, p_value = res$pval,
             q = Q, df = df, p_q = res$QEp,
             i2 = if (Q > 0) max(0, (Q - df) / Q) * 100 else 0,
             h2 = Q / df, i2_tau2 = res$I2, h2_tau2 = res$H2, tau2 = tau2)
  ## prediction interval by the spec (random effects, k >= 3)
  if (model == "random" && k >= 3) {
    crit <- qt(1 - (1 - level) / 2, k - 2)
    ex$pi_lower <- th - crit * sqrt(tau2 + se^2); ex$pi_upper <- th + crit * sqrt(tau2 + se^2)
  } else { ex$pi_lower <- NA; ex$pi_upper <- NA }
  pr <- predict(res)
  ex$pi_lower_metafor <- if (is.null(pr$pi.lb)) pr$ci.lb else pr$pi.lb
  ex$pi_upper_metafor <- if (is.null(pr$pi.ub)) pr$ci.ub else pr$pi.ub
  checks <- list()
  if (model == "random") {
    ci_w <- character(0)
    ci <- withCallingHandlers(tryCatch(confint(res, control = CI_CTRL), error = function(e) e),
                              warning = function(w) { ci_w <<- c(ci_w, conditionMessage(w)); invokeRestart("muffleWarning") })
    if (inherits(ci, "error")) {
      ex$tau2_ci_error <- conditionMessage(ci)
    } else {
      r <- ci$random
      ex$tau2_ci_lower <- r["tau^2", "ci.lb"]; ex$tau2_ci_upper <- r["tau^2", "ci.ub"]
      ex$i2_ci_lower <- r["I^2(%)", "ci.lb"]; ex$i2_ci_upper <- r["I^2(%)", "ci.ub"]
      ex$h2_ci_lower <- r["H^2", "ci.lb"]; ex$h2_ci_upper <- r["H^2", "ci.ub"]
      if (nzchar(ci$lb.sign) || nzchar(ci$ub.sign)) ex$tau2_ci_signs <- c(ci$lb.sign, ci$ub.sign)
      if (isTRUE(ci$ci.null)) ex$tau2_ci_null <- TRUE
      if (length(ci_w)) ex$tau2_ci_warnings <- arr(ci_w)
      ## check: generalised Q at the bounds equals the chi-square quantiles
      a <- 1 - level
      ql <- qchisq(1 - a / 2, df); qu <- qchisq(a / 2, df)
      checks$qprofile_lower_rel_err <- if (ex$tau2_ci_lower > 0) abs(genQ(ex$tau2_ci_lower, yi, vi) / ql - 1) else
        if (genQ(0, yi, vi) <= ql) 0 else NA
      checks$qprofile_upper_rel_err <- if (ex$tau2_ci_upper > 0) abs(genQ(ex$tau2_ci_upper, yi, vi) / qu - 1) else
        if (genQ(0, yi, vi) <= qu) 0 else NA
    }
    ind <- tau2_independent(est, yi, vi)
    if (!is.na(ind)) {
      checks$tau2_independent <- ind
      checks$tau2_abs_diff <- abs(ind - tau2)
      checks$tau2_rel_diff <- if (tau2 > 0 || ind > 0) abs(ind - tau2) / max(abs(ind), abs(tau2)) else 0
    }
    if (est %in% c("ML", "REML")) {
      top <- max(100 * var(yi), 100 * max(vi), 10)
      grid <- c(0, exp(seq(log(1e-12 * top), log(top), length.out = 20001)))
      ll <- vapply(grid, loglik, 0, yi = yi, vi = vi, reml = est == "REML")
      checks$loglik_at_estimate_minus_grid_max <- loglik(tau2, yi, vi, est == "REML") - max(ll)
    }
    ## HKSJ standard error by hand
    w <- 1 / (vi + tau2)
    if (hksj) checks$knha_se_abs_diff <- abs(sqrt(sum(w * (yi - th)^2) / ((k - 1) * sum(w))) - se)
    else checks$wald_se_abs_diff <- abs(1 / sqrt(sum(w)) - se)
  }
  if (length(warns)) ex$metafor_warnings <- arr(warns)
  case$converged <- TRUE
  case$expected <- ex
  case$metafor_call <- paste0(call_txt, if (model == "random") "; predict(res); confint(res, control=list(tol=1e-30, maxiter=1000, tau2.max=1e6))" else "; predict(res)")
  if (length(checks)) case$checks <- checks
  case
}

cases <- list()
for (dn in names(DATA)) {
  cases[[length(cases) + 1]] <- run_case(sprintf("%s_fixed", dn), dn, "fixed", NA, FALSE)
  for (est in ESTIMATORS) for (h in c(FALSE, TRUE))
    cases[[length(cases) + 1]] <- run_case(sprintf("%s_%s%s", dn, est, if (h) "_hksj" else ""), dn, "random", est, h)
}
## other CI levels
cases[[length(cases) + 1]] <- run_case("bcg_logRR_REML_hksj_ci90", "bcg_logRR", "random", "REML", TRUE, 0.90)
cases[[length(cases) + 1]] <- run_case("bcg_logRR_DL_ci99", "bcg_logRR", "random", "DL", FALSE, 0.99)
cases[[length(cases) + 1]] <- run_case("normand1999_SMD_PM_hksj_ci99", "normand1999_SMD", "random", "PM", TRUE, 0.99)
cases[[length(cases) + 1]] <- run_case("k3_fixed_ci90", "k3", "fixed", NA, FALSE, 0.90)

## summary of the checks
ck <- do.call(rbind, lapply(cases, function(cs) {
  c(id = cs$id,
    tau2 = if (is.null(cs$checks$tau2_abs_diff)) NA else cs$checks$tau2_abs_diff,
    qp = max(unlist(cs$checks[c("qprofile_lower_rel_err", "qprofile_upper_rel_err")]), -Inf, na.rm = TRUE),
    tau2r = if (is.null(cs$checks$tau2_rel_diff)) NA else cs$checks$tau2_rel_diff,
    ll = if (is.null(cs$checks$loglik_at_estimate_minus_grid_max)) NA else cs$checks$loglik_at_estimate_minus_grid_max,
    se = max(unlist(cs$checks[c("knha_se_abs_diff", "wald_se_abs_diff")]), -Inf, na.rm = TRUE))
}))
cat(sprintf("max |tau2 - independent| = %.3g\n", max(as.numeric(ck[, "tau2"]), na.rm = TRUE)))
cat(sprintf("max rel |tau2 - independent| = %.3g (%s)\n", max(as.numeric(ck[, "tau2r"]), na.rm = TRUE),
            ck[which.max(as.numeric(ck[, "tau2r"])), "id"]))
cat(sprintf("max |Q(bound)/chi2 quantile - 1| = %.3g\n", max(as.numeric(ck[, "qp"]), na.rm = TRUE)))
cat(sprintf("min loglik(estimate) - grid max = %.3g (negative would mean a better grid point)\n",
            min(as.numeric(ck[, "ll"]), na.rm = TRUE)))
cat(sprintf("max se check = %.3g\n", max(as.numeric(ck[, "se"]), na.rm = TRUE)))
errs <- Filter(function(cs) !is.null(cs$error), cases)
cat(sprintf("metafor errors: %d\n", length(errs)))
for (cs in errs) cat("metafor error:", cs$id, "-", cs$error, "\n")
for (cs in cases) if (!is.null(cs$expected$metafor_warnings))
  cat("metafor warning:", cs$id, "-", paste(cs$expected$metafor_warnings, collapse = " | "), "\n")
for (cs in cases) if (!is.null(cs$expected$tau2_ci_signs) || !is.null(cs$expected$tau2_ci_warnings))
  cat("confint note:", cs$id, "-", paste(cs$expected$tau2_ci_signs, collapse = ","), paste(cs$expected$tau2_ci_warnings, collapse = " | "), "\n")

out <- list(generated_by = "tests/reference/make_pool.R", versions = versions(),
            datasets = lapply(DATA, function(d) list(k = length(d$yi), note = d$note)),
            conventions = paste(
              "analysis scale; i2 = Higgins-Thompson from Q (percent), h2 = Q/df; i2_tau2/h2_tau2 = metafor res$I2/res$H2;",
              "hksj: se is the Knapp-Hartung SE (no truncation), z is the t statistic, p and CI from t with k-1 df;",
              "pi_lower/pi_upper = theta +- qt(1-alpha/2, k-2)*sqrt(tau2+se^2) with the se of the chosen CI method (null for k<3 and for fixed effect);",
              "pi_*_metafor = predict(res) (z quantile, or t with k-1 df under knha; the CI for fixed effect);",
              "tau2/i2/h2 CIs from confint(res) (Q-profile, random effects only; a bound of 0 means the Q-profile bound was truncated at 0)"),
            cases = cases)
path <- file.path(OUT_DIR, "pool_cases.json")
write_cases(out, path)

## Reference values for metapool's small-study tests and sensitivity analyses
## (spec §9), metafor conventions; Peters and Harbord also from R package meta.
##
##   Rscript tests/reference/make_diagnostics.R  -> tests/reference/diagnostics_cases.json
##
## All on the analysis scale: yi/vi are the estimable study effects of the
## analysis (log scale for ratios, zero-cell rule of spec §2; written into
## every case as "yi"/"vi" next to the raw data they come from).

args_all <- commandArgs(trailingOnly = FALSE)
source(file.path(local({
  f <- sub("^--file=", "", args_all[grepl("^--file=", args_all)])
  if (length(f)) dirname(normalizePath(f)) else getwd()
}), "common.R"))
suppressPackageStartupMessages({ library(metafor); library(jsonlite) })
HAVE_META <- suppressPackageStartupMessages(requireNamespace("meta", quietly = TRUE))
if (HAVE_META) { suppressPackageStartupMessages(library(meta)); settings.meta("RevMan5", quietly = TRUE) }

OUT_DIR <- script_dir()
NOTES <- character(0)
note <- function(...) { s <- sprintf(...); NOTES <<- c(NOTES, s); cat(s, "\n") }
rel <- function(a, b) if (a == b) 0 else abs(a - b) / max(abs(a), abs(b))

## ---------------------------------------------------------------------------
## data sets
## ---------------------------------------------------------------------------
dich <- function(study, ee, te, ec, tc) data.frame(study = study, events_exp = as.numeric(ee),
  total_exp = as.numeric(te), events_ctrl = as.numeric(ec), total_ctrl = as.numeric(tc),
  subgroup = NA, stringsAsFactors = FALSE)

## spec §2 study effects for dichotomous data (OR / RR, zero-cell rule; double-zero not estimable)
dich_effects <- function(st, measure) {
  a <- st$events_exp; b <- st$total_exp - a; c <- st$events_ctrl; d <- st$total_ctrl - c
  z0 <- a == 0 | b == 0 | c == 0 | d == 0; h <- ifelse(z0, 0.5, 0)
  A <- a + h; B <- b + h; C <- c + h; D <- d + h
  ok <- !((a == 0 & c == 0) | (b == 0 & d == 0))
  if (measure == "OR") { y <- log(A * D / (B * C)); v <- 1 / A + 1 / B + 1 / C + 1 / D }
  else { y <- log((A / (A + B)) / (C / (C + D))); v <- 1 / A - 1 / (A + B) + 1 / C - 1 / (C + D) }
  ## the same through metafor
  es <- escalc(measure = measure, ai = st$events_exp, n1i = st$total_exp, ci = st$events_ctrl,
               n2i = st$total_ctrl, add = 1/2, to = "only0", drop00 = TRUE)
  stopifnot(all(is.na(es$yi) == !ok), max(abs(es$yi[ok] - y[ok])) < 1e-14, max(abs(es$vi[ok] / v[ok] - 1)) < 1e-13)
  list(yi = y[ok], vi = v[ok], ok = ok)
}
smd_effects <- function(st) {
  n1 <- st$total_exp; n2 <- st$total_ctrl; N <- n1 + n2
  s <- sqrt(((n1 - 1) * st$sd_exp^2 + (n2 - 1) * st$sd_ctrl^2) / (N - 2))
  g <- (st$mean_exp - st$mean_ctrl) / s * (1 - 3 / (4 * N - 9))
  list(yi = g, vi = N / (n1 * n2) + g^2 / (2 * (N - 3.94)), ok = rep(TRUE, nrow(st)))
}

bcg <- with(dat.bcg, dich(paste(author, year), tpos, tpos + tneg, cpos, cpos + cneg))
bcg_year <- dat.bcg$year

## made-up trials with small-study effects, one zero cell and one double-zero (not estimable) study
asym <- dich(c("Abel 1991", "Bryce 1992", "Cole 1994", "Drake 1995", "Ennis 1997", "Frost 1998",
               "Grant 2000", "Hale 2002", "Innes 2004", "Jory 2006", "Kerr 2008", "Lamb 2011", "Moor 2013"),
             c(2, 1, 0, 5, 9, 15, 22, 40, 60, 95, 150, 3, 0),
             c(20, 15, 12, 40, 60, 110, 150, 300, 480, 800, 1250, 25, 10),
             c(8, 6, 4, 11, 14, 24, 30, 52, 71, 108, 162, 7, 0),
             c(21, 15, 13, 38, 62, 108, 152, 295, 470, 810, 1240, 24, 10))
asym_year <- c(1991, 1992, 1994, 1995, 1997, 1998, 2000, 2002, 2004, 2006, 2008, 2011, 2013)

normand <- with(dat.normand1999, data.frame(study = as.character(source), mean_exp = m1i, sd_exp = sd1i,
  total_exp = n1i, mean_ctrl = m2i, sd_ctrl = sd2i, total_ctrl = n2i, subgroup = NA, stringsAsFactors = FALSE))

hack <- dat.hackshaw1998

## made-up generic data with tied variances (Begg: normal approximation with ties)
ties <- data.frame(study = sprintf("Trial %02d", 1:11),
                   estimate = c(0.42, 0.10, 0.65, -0.05, 0.30, 0.81, 0.22, 0.15, 0.55, 0.05, 0.38),
                   se = c(0.20, 0.10, 0.30, 0.10, 0.20, 0.40, 0.15, 0.10, 0.30, 0.15, 0.20))

## ---------------------------------------------------------------------------
## the analyses
## ---------------------------------------------------------------------------
row_list <- function(df) lapply(seq_len(nrow(df)), function(i) as.list(df[i, , drop = FALSE]))

fit_summary <- function(r, model) list(
  estimate = as.numeric(r$beta), se = r$se, ci_lower = r$ci.lb, ci_upper = r$ci.ub, z = r$zval,
  p_value = r$pval, q = r$QE, p_q = r$QEp, i2 = r$I2, tau2 = if (model == "fixed") 0 else r$tau2)

egger <- function(r, yi, vi) {
  g <- regtest(r, model = "lm", ret.fit = TRUE)
  cf <- coef(summary(g$fit))
  ## by hand: WLS of yi on SE with weights 1/vi, and the classical Egger form
  h <- coef(summary(lm(yi ~ sqrt(vi), weights = 1 / vi)))
  h2 <- coef(summary(lm(I(yi / sqrt(vi)) ~ I(1 / sqrt(vi)))))
  d <- max(abs(c(h[2, 3] - g$zval, h2[1, 3] - g$zval, h[2, 1] - h2[1, 1], h[1, 1] - g$est)))
  list(statistic = g$zval, df = g$dfs, p_value = g$pval,
       bias = cf[2, 1], bias_se = cf[2, 2],              # coefficient of SE = Egger's intercept
       limit_estimate = g$est, limit_ci_lower = g$ci.lb, limit_ci_upper = g$ci.ub,
       fit_coefficients = list(intercept = cf[1, 1], intercept_se = cf[1, 2], sei = cf[2, 1], sei_se = cf[2, 2]),
       check_by_hand_max_abs_diff = d)
}

begg <- function(r, yi, vi) {
  k <- ranktest(r)
  w <- 1 / vi; th <- sum(w * yi) / sum(w)
  ys <- (yi - th) / sqrt(vi - 1 / sum(w))
  ties <- any(duplicated(vi)) || any(duplicated(ys))
  ct <- suppressWarnings(cor.test(ys, vi, method = "kendall", exact = TRUE))
  list(tau = as.numeric(k$tau), p_value = k$pval, ties = ties,
       p_method = if (ties) "normal approximation, tie-corrected variance, no continuity correction" else "exact",
       check_by_hand_max_abs_diff = max(abs(c(ct$estimate - k$tau, ct$p.value - k$pval))))
}

trimfill_one <- function(r, estimator, side) {
  t <- if (is.null(side)) trimfill(r, estimator = estimator) else trimfill(r, estimator = estimator, side = side)
  list(estimator = estimator, side_requested = if (is.null(side)) "default" else side,
       k0 = t$k0, side = t$side, se_k0 = t$se.k0, p_k0 = t$p.k0,
       estimate = as.numeric(t$beta), se = t$se, ci_lower = t$ci.lb, ci_upper = t$ci.ub,
       z = t$zval, p_value = t$pval, tau2 = t$tau2, q = t$QE, p_q = t$QEp, i2 = t$I2, k_total = t$k,
       filled_yi = arr(as.numeric(t$yi[t$fill])), filled_vi = arr(as.numeric(t$vi[t$fill])))
}

table_steps <- function(x, model, labels, step_k) {
  ## x: leave1out / cumul output; spec: heterogeneity not applicable at k = 1
  lapply(seq_along(x$estimate), function(i) {
    s <- list(study = labels[i], estimate = x$estimate[i], se = x$se[i], ci_lower = x$ci.lb[i],
              ci_upper = x$ci.ub[i], z = x$zval[i], p_value = x$pval[i], q = x$Q[i], p_q = x$Qp[i],
              i2 = x$I2[i], tau2 = if (model == "fixed") 0 else x$tau2[i])
    if (step_k[i] == 1) {
      s$metafor_k1 <- list(q = s$q, p_q = s$p_q, i2 = s$i2, tau2 = s$tau2)
      s$q <- 0; s$p_q <- NA; s$i2 <- NA; s$tau2 <- 0
    }
    s
  })
}

influence_tab <- function(r, labels) {
  f <- influence(r)$inf
  lapply(seq_along(labels), function(i) list(
    study = labels[i], rstudent = f$rstudent[i], dffits = f$dffits[i], cook_d = f$cook.d[i],
    cov_r = f$cov.r[i], tau2_del = f$tau2.del[i], qe_del = f$QE.del[i], hat = f$hat[i],
    weight = f$weight[i]))
}

peters_harbord <- function(st, measure, yi, ok) {
  s <- st[ok, , drop = FALSE]
  N <- s$total_exp + s$total_ctrl; S <- s$events_exp + s$events_ctrl; F <- N - S
  ## Peters by hand (spec §9)
  pl <- coef(summary(lm(yi ~ I(1 / N), weights = 1 / (1 / S + 1 / F))))
  out <- list(peters = list(statistic = pl[2, 3], df = length(yi) - 2, p_value = 2 * pt(-abs(pl[2, 3]), length(yi) - 2),
                            slope = pl[2, 1], slope_se = pl[2, 2], intercept = pl[1, 1], intercept_se = pl[1, 2],
                            how = "lm(yi ~ I(1/N), weights = 1/(1/S + 1/F)); t test of the slope, k-2 df"))
  ## Harbord by hand (spec §9): Egger on y = Z/V, SE = 1/sqrt(V), Peto score without correction
  a <- s$events_exp; n1 <- s$total_exp; c <- s$events_ctrl; n2 <- s$total_ctrl; NN <- n1 + n2
  Z <- a - n1 * (a + c) / NN; V <- n1 * n2 * (a + c) * (NN - a - c) / (NN^2 * (NN - 1))
  hl <- coef(summary(lm(I(Z / sqrt(V)) ~ sqrt(V))))
  out$harbord <- list(statistic = hl[1, 3], df = length(Z) - 2, p_value = 2 * pt(-abs(hl[1, 3]), length(Z) - 2),
                      bias = hl[1, 1], bias_se = hl[1, 2],
                      how = "lm(Z/sqrt(V) ~ sqrt(V)) with Z = O-E, V hypergeometric (Peto, no continuity correction); t test of the intercept, k-2 df")
  if (HAVE_META) {
    m <- suppressWarnings(metabin(st$events_exp, st$total_exp, st$events_ctrl, st$total_ctrl,
                                  studlab = st$study, sm = measure, method = "Inverse"))
    te_ok <- !is.na(m$TE)
    if (!identical(te_ok, ok) || max(abs(m$TE[ok] - yi)) > 1e-13)
      note("%s: meta's TE differ from the spec yi (max %.3g)", measure, max(abs(m$TE[ok] - yi)))
    for (mb in c("Peters", "Harbord")) {
      b <- suppressWarnings(metabias(m, method.bias = mb, k.min = 3))
      key <- tolower(mb)
      out[[key]]$meta <- list(statistic = as.numeric(b$statistic), df = as.numeric(b$df), p_value = b$p.value,
                              bias = as.numeric(b$estimate[1]), bias_se = as.numeric(b$estimate[2]),
                              call = sprintf("meta::metabias(metabin(..., sm='%s', method='Inverse'), method.bias='%s', k.min=3) with settings.meta('RevMan5')", measure, mb))
      d <- abs(out[[key]]$meta$statistic - out[[key]]$statistic)
      dp <- abs(out[[key]]$meta$p_value - out[[key]]$p_value)
      out[[key]]$meta_agrees <- d < 1e-10 * max(1, abs(out[[key]]$statistic)) && dp < 1e-12
      if (!out[[key]]$meta_agrees)
        note("%s %s: spec-by-hand t = %.12g (p = %.12g) but meta t = %.12g (p = %.12g)", measure, mb,
             out[[key]]$statistic, out[[key]]$p_value, out[[key]]$meta$statistic, out[[key]]$meta$p_value)
    }
  }
  out
}

run_dataset <- function(id, data_type, measure, labels, yi, vi, studies = NULL, order_var = NULL,
                        order_label = NULL, st_raw = NULL, ok = NULL) {
  cases <- list()
  for (model in c("fixed", "random")) {
    r <- rma(yi, vi, method = if (model == "fixed") "FE" else "DL", slab = labels)
    ex <- list(fit = fit_summary(r, model), egger = egger(r, yi, vi), begg = begg(r, yi, vi))
    for (est in c("L0", "R0")) for (sd in list(NULL, "left", "right")) {
      nm <- paste0("trimfill_", est, if (is.null(sd)) "" else paste0("_", sd))
      ex[[nm]] <- trimfill_one(r, est, sd)
    }
    l1 <- leave1out(r)
    ex$leave1out <- table_steps(l1, model, labels, rep(length(yi) - 1, length(yi)))
    cu <- cumul(r)
    ex$cumul_input_order <- table_steps(cu, model, as.character(cu$slab), seq_along(yi))
    if (!is.null(order_var)) {
      cu2 <- cumul(r, order = order_var)
      lab2 <- as.character(cu2$slab)
      ex$cumul_ordered <- list(order_by = order_label, order = arr(match(lab2, labels)),
                               steps = table_steps(cu2, model, lab2, seq_along(yi)))
    }
    ex$influence <- influence_tab(r, labels)
    if (!is.null(st_raw)) {
      ph <- peters_harbord(st_raw, measure, yi, ok)
      ex$peters <- ph$peters; ex$harbord <- ph$harbord
      if (measure != "OR") ex$harbord$note <- "Harbord's test is defined for odds ratios (spec §9); the by-hand value uses the Peto score, which does not depend on the measure. meta's Harbord for sm='RR' uses the Harbord et al. (2009) RR score instead."
    }
    case <- list(id = sprintf("%s_%s", id, model), data_type = data_type, measure = measure,
                 model = model, tau2_method = if (model == "random") "DL" else NA)
    if (!is.null(studies)) case$studies <- studies
    case$study_labels <- arr(labels)
    case$yi <- arr(yi); case$vi <- arr(vi)
    case$expected <- ex
    case$reference <- sprintf(paste(
      "metafor %s: r <- rma(yi, vi, method='%s'); regtest(r, model='lm'); ranktest(r);",
      "trimfill(r, estimator=, side=); leave1out(r); cumul(r[, order]); influence(r)$inf;",
      "Peters/Harbord by lm() per spec §9 and meta %s metabias()"),
      packageVersion("metafor"), if (model == "fixed") "FE" else "DL",
      if (HAVE_META) as.character(packageVersion("meta")) else "(not installed)")
    cases[[length(cases) + 1]] <- case
  }
  cases
}

cases <- list()
add <- function(x) cases <<- c(cases, x)

e <- dich_effects(bcg, "RR")
add(run_dataset("bcg_logRR", "dichotomous", "RR", bcg$study[e$ok], e$yi, e$vi,
                studies = row_list(bcg), order_var = bcg_year[e$ok], order_label = "year (ties in input order)",
                st_raw = bcg, ok = e$ok))
e <- dich_effects(asym, "OR")
add(run_dataset("asym13_logOR", "dichotomous", "OR", asym$study[e$ok], e$yi, e$vi,
                studies = row_list(asym), order_var = asym_year[e$ok], order_label = "year",
                st_raw = asym, ok = e$ok))
e <- smd_effects(normand)
add(run_dataset("normand1999_SMD", "continuous", "SMD", normand$study, e$yi, e$vi,
                studies = row_list(normand), order_var = e$vi, order_label = "vi (most precise first)"))
add(run_dataset("hackshaw1998_logOR", "generic", "OR", paste(hack$author, hack$year), as.numeric(hack$yi),
                as.numeric(hack$vi), order_var = hack$year, order_label = "year (ties in input order)"))
add(run_dataset("ties11_MD", "generic", "MD", ties$study, ties$estimate, ties$se^2,
                studies = row_list(ties), order_var = rev(seq_len(nrow(ties))), order_label = "reverse input order"))

## checks summary
for (cs in cases) {
  ex <- cs$expected
  if (ex$egger$check_by_hand_max_abs_diff > 1e-10) note("%s: Egger by hand differs by %.3g", cs$id, ex$egger$check_by_hand_max_abs_diff)
  if (ex$begg$check_by_hand_max_abs_diff > 1e-12) note("%s: Begg by hand differs by %.3g", cs$id, ex$begg$check_by_hand_max_abs_diff)
}

out <- list(generated_by = "tests/reference/make_diagnostics.R", versions = versions(),
            conventions = paste(
              "analysis scale throughout; yi/vi are the estimable studies in input order (study_labels);",
              "i2 here is metafor's I2 (for DL it equals the Higgins-Thompson value from Q);",
              "tau2 is 0 for fixed-effect fits; at a cumulative step with k = 1, q = 0 and p_q, i2 are null",
              "(spec: heterogeneity not applicable) and metafor's own numbers are under metafor_k1"),
            notes = arr(unique(NOTES)), cases = cases)
path <- file.path(OUT_DIR, "diagnostics_cases.json")
write_cases(out, path)

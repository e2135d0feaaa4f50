## More reference values for metapool's diagnostics (spec §9), complementing
## make_diagnostics.R (which covers fixed effect and DL on inverse-variance analyses):
##
##   Rscript tests/reference/make_diagnostics_extra.R  -> tests/reference/diagnostics_extra.json
##
## * leave-one-out and cumulative runs of Mantel-Haenszel and Peto analyses
##   (metafor's leave1out/cumul on rma.mh / rma.peto, set to RevMan's zero-cell rule);
## * every tau^2 estimator (DL, REML, ML, PM, EB, HE, SJ, HS): trim-and-fill (whose side
##   comes from a meta-regression on SE under that estimator), leave1out, cumul, influence;
##   two made-up data sets on which the side differs between estimators;
## * Hartung-Knapp-Sidik-Jonkman (rma test="knha"): leave1out, cumul, influence;
## * other confidence levels (regtest's limit-estimate CI, leave1out CIs);
## * DFBETAS and metafor's influence marks ("inf");
## * Begg's exact P at k = 80; Peters' test with studies that carry no weight (RD).
##
## Same JSON layout as diagnostics_cases.json (see README.md), with extra case keys
## "method" (MH, PETO or IV), "tau2_method", "hksj" and "ci_level".
##
## Deliberate departures from metafor's own output, all spec §9 / §5:
## * trim-and-fill's refit uses the analysis' model including its CI method and level;
##   metafor's trimfill refits with rma's defaults (z test, level 95). The refit is
##   therefore recomputed here with rma(c(yi, filled), c(vi, filled), method, test, level)
##   and checked against trimfill()'s own numbers where the two coincide (z test).
## * at a cumulative step with k = 1 heterogeneity does not apply: q = 0 and p_q, i2, h2
##   are null (metafor reports Q = 0, p = 1, I2 = 0); under HKSJ (t with k - 1 = 0 df)
##   the step reports the study's own z-based result, as metafor does.
## * ML and REML take the global maximum of the likelihood. A case in which metafor's
##   Fisher scoring stops at a local maximum (the tau^2 = 0 boundary) in one of its
##   re-fits is left out and listed under "notes".

args_all <- commandArgs(trailingOnly = FALSE)
source(file.path(local({
  f <- sub("^--file=", "", args_all[grepl("^--file=", args_all)])
  if (length(f)) dirname(normalizePath(f)) else getwd()
}), "common.R"))
suppressPackageStartupMessages({ library(metafor); library(metadat); library(jsonlite) })

OUT_DIR <- script_dir()
NOTES <- character(0)
note <- function(...) { s <- sprintf(...); NOTES <<- c(NOTES, s); cat(s, "\n") }
rel <- function(a, b) if (isTRUE(a == b)) 0 else abs(a - b) / max(abs(a), abs(b))

## ---------------------------------------------------------------------------
## study effects by spec §2 (RevMan's zero-cell rule)
## ---------------------------------------------------------------------------
dich <- function(study, ee, te, ec, tc) data.frame(study = study, events_exp = as.numeric(ee),
  total_exp = as.numeric(te), events_ctrl = as.numeric(ec), total_ctrl = as.numeric(tc),
  stringsAsFactors = FALSE)

dich_effects <- function(st, measure) {
  a <- st$events_exp; b <- st$total_exp - a; c <- st$events_ctrl; d <- st$total_ctrl - c
  n1 <- a + b; n2 <- c + d; N <- n1 + n2
  h <- ifelse(a == 0 | b == 0 | c == 0 | d == 0, 0.5, 0)
  A <- a + h; B <- b + h; C <- c + h; D <- d + h
  ok <- if (measure == "RD") rep(TRUE, nrow(st)) else !((a == 0 & c == 0) | (b == 0 & d == 0))
  if (measure == "OR") { y <- log(A * D / (B * C)); v <- 1 / A + 1 / B + 1 / C + 1 / D }
  if (measure == "RR") { y <- log((A / (A + B)) / (C / (C + D))); v <- 1 / A - 1 / (A + B) + 1 / C - 1 / (C + D) }
  if (measure == "RD") { y <- a / n1 - c / n2; v <- A * B / (A + B)^3 + C * D / (C + D)^3 }
  if (measure == "PETO_OR") {
    V <- n1 * n2 * (a + c) * (b + d) / (N^2 * (N - 1)); y <- (a - n1 * (a + c) / N) / V; v <- 1 / V
  }
  list(yi = y[ok], vi = v[ok], ok = ok)
}

smd_effects <- function(st) {
  n1 <- st$total_exp; n2 <- st$total_ctrl; N <- n1 + n2
  s <- sqrt(((n1 - 1) * st$sd_exp^2 + (n2 - 1) * st$sd_ctrl^2) / (N - 2))
  g <- (st$mean_exp - st$mean_ctrl) / s * (1 - 3 / (4 * N - 9))
  list(yi = g, vi = N / (n1 * n2) + g^2 / (2 * (N - 3.94)), ok = rep(TRUE, nrow(st)))
}

## ---------------------------------------------------------------------------
## fits
## ---------------------------------------------------------------------------
## convergence thresholds tried, tightest first; tol = 1e-30 gives uniroot (PM) machine
## precision, as make_pool.R
THRESHOLDS <- c(1e-14, 1e-13, 1e-12, 1e-11, 1e-10)
fit_rma <- function(yi, vi, method, test, level, labels = seq_along(yi), thresholds = THRESHOLDS) {
  for (t in thresholds) {
    r <- try(suppressWarnings(rma(yi, vi, method = method, test = test, level = level, slab = labels,
                                  control = list(threshold = t, maxiter = 1000, tol = 1e-30))), silent = TRUE)
    if (!inherits(r, "try-error")) return(r)
  }
  stop("no convergence")
}

MH_ARGS <- list(add = c(1/2, 1/2), to = c("only0", "only0"), drop00 = c(TRUE, TRUE))
fit_own <- function(method, measure, st, ok, level, labels) {
  s <- st[ok, , drop = FALSE]
  if (method == "MH")
    return(do.call(rma.mh, c(list(measure = measure, ai = s$events_exp, n1i = s$total_exp, ci = s$events_ctrl,
                                  n2i = s$total_ctrl, level = level, slab = labels), MH_ARGS)))
  rma.peto(ai = s$events_exp, n1i = s$total_exp, ci = s$events_ctrl, n2i = s$total_ctrl,
           add = 0, to = "none", drop00 = TRUE, level = level, slab = labels)
}

## ---------------------------------------------------------------------------
## expected values
## ---------------------------------------------------------------------------
egger <- function(r) {
  g <- regtest(r, model = "lm", ret.fit = TRUE)
  cf <- coef(summary(g$fit))
  list(statistic = g$zval, df = g$dfs, p_value = g$pval, bias = cf[2, 1], bias_se = cf[2, 2],
       limit_estimate = g$est, limit_ci_lower = g$ci.lb, limit_ci_upper = g$ci.ub,
       fit_coefficients = list(intercept = cf[1, 1], intercept_se = cf[1, 2], sei = cf[2, 1], sei_se = cf[2, 2]))
}

begg <- function(r) {
  k <- ranktest(r)
  w <- 1 / r$vi; ys <- (r$yi - sum(w * r$yi) / sum(w)) / sqrt(r$vi - 1 / sum(w))
  list(tau = as.numeric(k$tau), p_value = k$pval, ties = any(duplicated(r$vi)) || any(duplicated(ys)))
}

trimfill_one <- function(r, estimator, yi, vi, method, test, level) {
  ## metafor 3.8-1's trimfill() passes its '...' (not the model's control) to the side
  ## regression, the trimmed fits and the refit: hand it the tight control
  t <- trimfill(r, estimator = estimator, control = r$control)
  fy <- as.numeric(t$yi[t$fill]); fv <- as.numeric(t$vi[t$fill])
  ## the analysis' model on observed + filled studies (see the header)
  f <- fit_rma(c(yi, fy), c(vi, fv), method, test, level)
  if (test == "z" && t$k0 > 0 && rel(f$beta[1], t$beta[1]) > 1e-12)
    note("trimfill refit differs from metafor's: %.17g vs %.17g", f$beta[1], t$beta[1])
  list(estimator = estimator, side_requested = "default", k0 = t$k0, side = t$side, se_k0 = t$se.k0,
       estimate = as.numeric(f$beta), se = f$se, ci_lower = f$ci.lb, ci_upper = f$ci.ub, z = f$zval,
       p_value = f$pval, tau2 = if (method == "FE") 0 else f$tau2, q = f$QE, p_q = f$QEp, i2 = f$I2,
       k_total = f$k, filled_yi = arr(fy), filled_vi = arr(fv))
}

table_steps <- function(x, fixed, labels, step_k) {
  lapply(seq_along(x$estimate), function(i) {
    s <- list(study = labels[i], estimate = x$estimate[i], se = x$se[i], ci_lower = x$ci.lb[i],
              ci_upper = x$ci.ub[i], z = if (is.null(x$zval)) x$tval[i] else x$zval[i],
              p_value = x$pval[i], q = x$Q[i], p_q = x$Qp[i], i2 = x$I2[i], h2 = x$H2[i],
              tau2 = if (fixed) 0 else x$tau2[i])
    if (step_k[i] == 1) {
      s$q <- 0; s$p_q <- NA; s$i2 <- NA; s$h2 <- NA; s$tau2 <- 0
    }
    s
  })
}

influence_tab <- function(r, labels) {
  f <- influence(r)
  lapply(seq_along(labels), function(i) list(
    study = labels[i], rstudent = f$inf$rstudent[i], dffits = f$inf$dffits[i], cook_d = f$inf$cook.d[i],
    cov_r = f$inf$cov.r[i], tau2_del = f$inf$tau2.del[i], qe_del = f$inf$QE.del[i], hat = f$inf$hat[i],
    weight = f$inf$weight[i], dfbetas = f$dfbs$intrcpt[i], inf = isTRUE(f$is.infl[i])))
}

peters_harbord <- function(st, ok, yi, measure) {
  s <- st[ok, , drop = FALSE]
  N <- s$total_exp + s$total_ctrl; S <- s$events_exp + s$events_ctrl; F <- N - S
  ## lm gives zero weight (and no residual df) to a study without events or non-events
  m <- lm(yi ~ I(1 / N), weights = 1 / (1 / S + 1 / F))
  pl <- coef(summary(m))
  out <- list(peters = list(statistic = pl[2, 3], df = m$df.residual, p_value = pl[2, 4],
                            slope = pl[2, 1], slope_se = pl[2, 2], intercept = pl[1, 1], intercept_se = pl[1, 2]))
  if (measure %in% c("OR", "PETO_OR")) {
    a <- s$events_exp; n1 <- s$total_exp; c <- s$events_ctrl; n2 <- s$total_ctrl; NN <- n1 + n2
    Z <- a - n1 * (a + c) / NN; V <- n1 * n2 * (a + c) * (NN - a - c) / (NN^2 * (NN - 1))
    hl <- coef(summary(lm(I(Z / sqrt(V)) ~ sqrt(V))))
    out$harbord <- list(statistic = hl[1, 3], df = length(Z) - 2, p_value = hl[1, 4],
                        bias = hl[1, 1], bias_se = hl[1, 2])
  }
  out
}

## Is tau2 (an ML or REML estimate) below the best point of a log grid? metafor's Fisher
## scoring can stop at the tau^2 = 0 boundary when an interior maximum is higher.
local_maximum <- function(yi, vi, method, tau2) {
  if (!method %in% c("ML", "REML") || length(yi) < 2) return(FALSE)
  ll <- function(t) {
    w <- 1 / (vi + t); r <- yi - sum(w * yi) / sum(w)
    -0.5 * sum(log(vi + t)) - 0.5 * sum(w * r^2) - if (method == "REML") 0.5 * log(sum(w)) else 0
  }
  grid <- c(0, 10^seq(-8, log10(100 * max(var(yi), vi)), length.out = 4001))
  max(vapply(grid, ll, 0)) > ll(tau2) + 1e-9
}
LOCAL <- character(0)

row_list <- function(df) lapply(seq_len(nrow(df)), function(i) as.list(df[i, , drop = FALSE]))

## One case. `method`: the analysis' pooling method; the small-study tests, trim-and-fill and
## influence use rma(yi, vi) with the analysis' model, leave1out/cumul the method itself.
make_case <- function(id, data_type, measure, method, model, tau2, labels, yi, vi, studies = NULL,
                      st_raw = NULL, ok = NULL, hksj = FALSE, level = 0.95, order = NULL,
                      parts = c("egger", "begg", "trimfill", "leave1out", "cumul", "influence", "peters")) {
  rmethod <- if (model == "fixed") "FE" else tau2
  test <- if (hksj) "knha" else "z"
  own <- if (method %in% c("MH", "PETO") && any(c("leave1out", "cumul") %in% parts))
    fit_own(method, measure, st_raw, ok, level * 100, labels) else NULL
  ## every re-fit (trimmed, deleted, cumulative) inherits the threshold: take the tightest at
  ## which all of them converge (metafor returns NA for a deleted fit that does not)
  expected_at <- function(threshold) {
    r <- fit_rma(yi, vi, rmethod, test, level * 100, labels, thresholds = threshold)
    o <- if (is.null(own)) r else own
    ex <- list()
    if ("egger" %in% parts) ex$egger <- egger(r)
    if ("begg" %in% parts) ex$begg <- begg(r)
    if ("trimfill" %in% parts) for (est in c("L0", "R0"))
      ex[[paste0("trimfill_", est)]] <- trimfill_one(r, est, yi, vi, rmethod, test, level * 100)
    if ("leave1out" %in% parts) {
      l1 <- leave1out(o)
      if (anyNA(l1$estimate)) stop("a deleted fit failed")
      for (i in seq_along(yi)) if (local_maximum(yi[-i], vi[-i], rmethod, l1$tau2[i]))
        LOCAL <<- c(LOCAL, sprintf("%s without %s", id, labels[i]))
      ex$leave1out <- table_steps(l1, model == "fixed", labels, rep(length(yi) - 1, length(yi)))
    }
    if ("cumul" %in% parts) {
      cu <- cumul(o)
      if (anyNA(cu$estimate)) stop("a cumulative fit failed")
      for (i in seq_along(yi)) if (local_maximum(yi[seq_len(i)], vi[seq_len(i)], rmethod, cu$tau2[i]))
        LOCAL <<- c(LOCAL, sprintf("%s, first %d studies", id, i))
      ex$cumul_input_order <- table_steps(cu, model == "fixed", as.character(cu$slab), seq_along(yi))
      if (!is.null(order)) {
        ## cumul() looks 'order' up in the environment the model was fitted in, whose
        ## parent is the global one
        ORDER_VAR <<- order$var
        cu2 <- cumul(o, order = ORDER_VAR)
        lab2 <- as.character(cu2$slab)
        ex$cumul_ordered <- list(order_by = order$label, order = arr(match(lab2, labels)),
                                 steps = table_steps(cu2, model == "fixed", lab2, seq_along(yi)))
      }
    }
    if ("influence" %in% parts) {
      ex$influence <- influence_tab(r, labels)
      if (anyNA(vapply(ex$influence, function(x) x$rstudent, 0))) stop("a deleted fit failed")
    }
    if ("peters" %in% parts && !is.null(st_raw)) ex <- c(ex, peters_harbord(st_raw, ok, yi, measure))
    ex
  }
  LOCAL <<- character(0)
  for (threshold in THRESHOLDS) {
    ex <- try(suppressWarnings(expected_at(threshold)), silent = TRUE)
    if (!inherits(ex, "try-error")) break
  }
  if (inherits(ex, "try-error")) stop(id, ": ", ex)
  if (length(LOCAL)) {
    note(paste("%s left out: metafor's Fisher scoring stops at a local maximum of the likelihood",
               "(the tau^2 = 0 boundary) in %s; spec §5 takes the global maximum"), id, paste(unique(LOCAL), collapse = "; "))
    return(NULL)
  }
  case <- list(id = id, data_type = data_type, measure = measure, method = method, model = model,
               tau2_method = if (model == "random") tau2 else NA, hksj = hksj, ci_level = level)
  if (!is.null(studies)) case$studies <- studies
  case$study_labels <- arr(labels); case$yi <- arr(yi); case$vi <- arr(vi)
  case$expected <- ex
  case$reference <- sprintf(paste(
    "metafor %s: r <- rma(yi, vi, method='%s', test='%s', level=%g, control=list(threshold=%g,",
    "maxiter=1000, tol=1e-30)); regtest(r, model='lm'); ranktest(r); trimfill(r, estimator=,",
    "control=r$control) then the refit rma(c(yi, filled), ...); %s; influence(r)."),
    packageVersion("metafor"), rmethod, test, level * 100, threshold,
    if (method == "MH") "leave1out/cumul on rma.mh(add=c(1/2,1/2), to=c('only0','only0'), drop00=c(TRUE,TRUE))"
    else if (method == "PETO") "leave1out/cumul on rma.peto(add=0, to='none', drop00=TRUE)"
    else "leave1out(r); cumul(r)")
  case
}

## ---------------------------------------------------------------------------
## data
## ---------------------------------------------------------------------------
aspirin <- dich(c("MRC-1", "CDP", "MRC-2", "GASP", "PARIS", "AMIS", "ISIS-2"),
                c(49, 44, 102, 32, 85, 246, 1570), c(615, 758, 832, 317, 810, 2267, 8587),
                c(67, 64, 126, 38, 52, 219, 1720), c(624, 771, 850, 309, 406, 2257, 8600))
niel <- with(dat.nielweise2007, dich(paste(author, year), ai, n1i, ci, n2i))
niel_year <- dat.nielweise2007$year
bcg <- with(dat.bcg, dich(paste(author, year), tpos, tpos + tneg, cpos, cpos + cneg))
li <- with(dat.li2007, dich(paste(study, year), ai, n1i, ci, n2i))
mag <- with(dat.egger2001, dich(paste(study, year), ai, n1i, ci, n2i))
normand <- with(dat.normand1999, data.frame(study = as.character(source), mean_exp = m1i, sd_exp = sd1i,
  total_exp = n1i, mean_ctrl = m2i, sd_ctrl = sd2i, total_ctrl = n2i, stringsAsFactors = FALSE))
## made-up generic data on which the side of trim-and-fill differs between tau^2 estimators
side_a <- data.frame(study = sprintf("A%d", 1:8), estimate = c(-0.39, -0.71, 0.93, -0.65, 0.12, 0.87, 0.07, -0.05),
                     se = sqrt(c(0.154, 0.169, 0.07, 0.129, 0.306, 0.368, 0.155, 0.179)))
side_b <- data.frame(study = sprintf("B%d", 1:8), estimate = c(-0.08, -0.79, 1.28, 0.84, 0.34, 0.18, 0.16, -0.22),
                     se = sqrt(c(0.487, 0.472, 0.332, 0.36, 0.081, 0.03, 0.132, 0.252)))
set.seed(20240601)
big <- data.frame(study = sprintf("S%02d", 1:80), se = round(runif(80, 0.05, 0.6), 4))
big$estimate <- round(rnorm(80, 0.2 + 0.8 * big$se, 0.15), 4)
big <- big[, c("study", "estimate", "se")]

cases <- list()
add <- function(x) if (!is.null(x)) cases[[length(cases) + 1]] <<- x

dich_case <- function(id, st, measure, method, model, tau2 = "DL", order = NULL, ...) {
  e <- dich_effects(st, measure)
  make_case(id, "dichotomous", measure, method, model, tau2, st$study[e$ok], e$yi, e$vi,
            studies = row_list(st), st_raw = st, ok = e$ok, order = order, ...)
}
gen_case <- function(id, d, measure, model, tau2 = "DL", ...)
  make_case(id, "generic", measure, "IV", model, tau2, d$study, d$estimate, d$se^2, studies = row_list(d),
            parts = c("egger", "begg", "trimfill", "leave1out", "cumul", "influence"), ...)

## Mantel-Haenszel and Peto
add(dich_case("aspirin_OR_MH_fixed", aspirin, "OR", "MH", "fixed",
              order = list(var = -aspirin$total_exp, label = "largest first")))
add(dich_case("nielweise2007_OR_MH_fixed", niel, "OR", "MH", "fixed",
              order = list(var = niel_year[dich_effects(niel, "OR")$ok], label = "year (ties in input order)")))
add(dich_case("bcg_RR_MH_fixed", bcg, "RR", "MH", "fixed"))
add(dich_case("li2007_PETO_OR_PETO_fixed", li, "PETO_OR", "PETO", "fixed"))
## RD: double-zero studies are estimable and carry no weight in Peters' test (no MH leave1out:
## no metafor setting reproduces RevMan's MH RD with zero cells, see README)
add(dich_case("nielweise2007_RD_MH_fixed", niel, "RD", "MH", "fixed", parts = c("egger", "begg", "peters")))
## every tau^2 estimator
for (m in c("DL", "REML", "ML", "PM", "EB", "HE", "SJ", "HS")) {
  add(dich_case(sprintf("magnesium_OR_IV_random_%s", m), mag, "OR", "IV", "random", tau2 = m,
                parts = c("trimfill", "leave1out", "cumul", "influence")))
  add(gen_case(sprintf("side_a_MD_random_%s", m), side_a, "MD", "random", tau2 = m))
  add(gen_case(sprintf("side_b_MD_random_%s", m), side_b, "MD", "random", tau2 = m))
}
add(gen_case("side_a_MD_fixed", side_a, "MD", "fixed"))
add(gen_case("side_b_MD_fixed", side_b, "MD", "fixed"))
## Hartung-Knapp-Sidik-Jonkman, other levels
add(dich_case("bcg_RR_IV_random_REML_hksj", bcg, "RR", "IV", "random", tau2 = "REML", hksj = TRUE))
add(dich_case("bcg_OR_IV_fixed_ci99", bcg, "OR", "IV", "fixed", level = 0.99))
e <- smd_effects(normand)
add(make_case("normand1999_SMD_IV_random_PM_ci90", "continuous", "SMD", "IV", "random", "PM", normand$study,
              e$yi, e$vi, studies = row_list(normand), level = 0.90))
## Begg's exact P beyond R's default exact range (n < 50)
add(gen_case("big80_MD_fixed", big, "MD", "fixed"))

## the sides found, for the record
sides <- vapply(cases, function(cs) if (is.null(cs$expected$trimfill_L0)) "" else cs$expected$trimfill_L0$side, "")
cat("trim-and-fill sides:", paste(sprintf("%s=%s", vapply(cases, `[[`, "", "id"), sides)[sides != ""], collapse = ", "), "\n")

out <- list(generated_by = "tests/reference/make_diagnostics_extra.R", versions = versions(),
            conventions = paste(
              "as diagnostics_cases.json; i2 and h2 are metafor's (from tau^2 under random effects, from Q",
              "under fixed effect, rma.mh and rma.peto); trim-and-fill's refit is the analysis' model",
              "(rma with its method, test and level) on observed + filled studies"),
            notes = arr(unique(NOTES)), cases = cases)
path <- file.path(OUT_DIR, "diagnostics_extra.json")
write_cases(out, path)

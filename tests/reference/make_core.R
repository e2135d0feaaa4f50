## Reference values for metapool.analyse (RevMan 5.4 conventions, spec §1-§7).
##
##   Rscript tests/reference/make_core.R        -> tests/reference/core_cases.json
##
## Every case is computed twice:
##   * "spec":    explicit R arithmetic written from shared/spec/methods.md;
##   * "metafor": metafor calls configured to RevMan's conventions wherever
##                metafor has a matching function (see ref_text()).
## A number is taken from metafor when the two agree (relative difference
## <= 1e-10), otherwise from the spec arithmetic, and the disagreement is
## printed and recorded in the case ("metafor_differs").  Where the R
## package meta is installed, each case is also run through meta with
## settings.meta("RevMan5") and the comparison is recorded
## ("crosscheck_meta"); meta's numbers are never written as expected values.

args_all <- commandArgs(trailingOnly = FALSE)
source(file.path(local({
  f <- sub("^--file=", "", args_all[grepl("^--file=", args_all)])
  if (length(f)) dirname(normalizePath(f)) else getwd()
}), "common.R"))

suppressPackageStartupMessages({
  library(metafor)
  library(jsonlite)
})
HAVE_META <- suppressPackageStartupMessages(requireNamespace("meta", quietly = TRUE))
if (HAVE_META) {
  suppressPackageStartupMessages(library(meta))
  settings.meta("RevMan5", quietly = TRUE)
}

TOL <- 1e-10
OUT_DIR <- script_dir()
## Without meta (it cannot be installed everywhere), the cross-checks of the last
## run that had it are carried over from the existing JSON (carry_meta below).
PREVIOUS <- if (!HAVE_META && file.exists(file.path(OUT_DIR, "core_cases.json")))
  jsonlite::fromJSON(file.path(OUT_DIR, "core_cases.json"), simplifyVector = FALSE) else NULL
DISAGREE <- list()   # metafor vs spec arithmetic
META_LOG <- list()   # meta (RevMan5 settings) vs expected

`%||%` <- function(a, b) if (is.null(a)) b else a
zq <- function(level) qnorm(1 - (1 - level) / 2)
rel_diff <- function(a, b) {
  if (is.na(a) && is.na(b)) return(0)
  if (is.na(a) || is.na(b)) return(Inf)
  if (a == b) return(0)
  abs(a - b) / max(abs(a), abs(b), 1e-300)
}
close_enough <- function(a, b, tol = TOL) {
  if (is.na(a) && is.na(b)) return(TRUE)
  if (is.na(a) || is.na(b)) return(FALSE)
  abs(a - b) <= tol * max(abs(a), abs(b)) || abs(a - b) <= 1e-14
}

is_ratio <- function(dt, opt) {
  if (dt == "generic") return(isTRUE(opt$ratio))
  opt$measure %in% c("OR", "RR", "PETO_OR")
}

## ---------------------------------------------------------------------------
## Study-level effects by the spec (§2)
## ---------------------------------------------------------------------------
cells <- function(st) {
  a <- as.numeric(st$events_exp); b <- as.numeric(st$total_exp) - a
  c <- as.numeric(st$events_ctrl); d <- as.numeric(st$total_ctrl) - c
  z0 <- a == 0 | b == 0 | c == 0 | d == 0
  h <- ifelse(z0, 0.5, 0)
  list(a = a, b = b, c = c, d = d, A = a + h, B = b + h, C = c + h, D = d + h,
       zero = z0, dz = (a == 0 & c == 0) | (b == 0 & d == 0))
}

study_spec <- function(st, dt, opt) {
  n <- nrow(st); m <- opt$measure
  if (dt == "dichotomous") {
    x <- cells(st)
    with(x, {
      if (m == "OR") {
        y <- log(A * D / (B * C)); se <- sqrt(1 / A + 1 / B + 1 / C + 1 / D); ok <- !dz
      } else if (m == "RR") {
        y <- log((A / (A + B)) / (C / (C + D)))
        se <- sqrt(1 / A - 1 / (A + B) + 1 / C - 1 / (C + D)); ok <- !dz
      } else if (m == "RD") {
        y <- a / (a + b) - c / (c + d)                          # raw counts
        se <- sqrt(A * B / (A + B)^3 + C * D / (C + D)^3)       # corrected cells
        ok <- rep(TRUE, n)
      } else if (m == "PETO_OR") {
        n1 <- a + b; n2 <- c + d; N <- n1 + n2
        E <- n1 * (a + c) / N
        V <- n1 * n2 * (a + c) * (b + d) / (N^2 * (N - 1))
        y <- (a - E) / V; se <- 1 / sqrt(V); ok <- !dz
      } else stop("measure")
      y[!ok] <- NA; se[!ok] <- NA
      data.frame(y = y, se = se, ok = ok)
    })
  } else if (dt == "continuous") {
    n1 <- st$total_exp; n2 <- st$total_ctrl; N <- n1 + n2
    if (m == "MD") {
      y <- st$mean_exp - st$mean_ctrl
      se <- sqrt(st$sd_exp^2 / n1 + st$sd_ctrl^2 / n2)
    } else if (m == "SMD") {
      s <- sqrt(((n1 - 1) * st$sd_exp^2 + (n2 - 1) * st$sd_ctrl^2) / (N - 2))
      y <- (st$mean_exp - st$mean_ctrl) / s * (1 - 3 / (4 * N - 9))
      se <- sqrt(N / (n1 * n2) + y^2 / (2 * (N - 3.94)))
    } else stop("measure")
    data.frame(y = y, se = se, ok = TRUE)
  } else if (dt == "o_minus_e") {
    data.frame(y = st$o_minus_e / st$variance, se = 1 / sqrt(st$variance), ok = TRUE)
  } else if (dt == "generic") {
    data.frame(y = st$estimate, se = st$se, ok = TRUE)
  } else stop("data type")
}

## ---------------------------------------------------------------------------
## One (sub)analysis by the spec (§3-§6).  Returns analysis-scale numbers.
## ---------------------------------------------------------------------------
dl_tau2 <- function(Q, w) {
  k <- length(w)
  if (k < 2) return(0)
  max(0, (Q - (k - 1)) / (sum(w) - sum(w^2) / sum(w)))
}

pool_spec <- function(st, dt, opt) {
  n <- nrow(st)
  lev <- opt$ci_level; slev <- opt$study_ci_level %||% opt$ci_level
  eff <- study_spec(st, dt, opt)
  out <- list(sy = eff$y, sse = eff$se,
              slb = eff$y - zq(slev) * eff$se, sub = eff$y + zq(slev) * eff$se,
              ok = eff$ok)
  idx <- which(eff$ok); k <- length(idx)
  out$k <- k
  if (k == 0) { out$w <- rep(NA_real_, n); return(out) }
  y <- eff$y[idx]; s <- eff$se[idx]; wiv <- 1 / s^2
  Q <- NA
  if (opt$method == "IV") {
    th_f <- sum(wiv * y) / sum(wiv); se_f <- 1 / sqrt(sum(wiv)); wd <- wiv
  } else if (opt$method == "MH") {
    x <- cells(st[idx, , drop = FALSE])
    A <- x$A; B <- x$B; C <- x$C; D <- x$D
    n1 <- A + B; n2 <- C + D; N <- n1 + n2
    if (opt$measure == "OR") {
      R <- A * D / N; S <- B * C / N; P <- (A + D) / N; Qc <- (B + C) / N
      th_f <- log(sum(R) / sum(S))
      v <- 0.5 * (sum(P * R) / sum(R)^2 + sum(P * S + Qc * R) / (sum(R) * sum(S)) +
                  sum(Qc * S) / sum(S)^2)
      se_f <- sqrt(v); wd <- S
    } else if (opt$measure == "RR") {
      R <- A * n2 / N; S <- C * n1 / N
      th_f <- log(sum(R) / sum(S))
      se_f <- sqrt(sum((n1 * n2 * (A + C) - A * C * N) / N^2) / (sum(R) * sum(S)))
      wd <- S
    } else if (opt$measure == "RD") {
      a <- x$a; b <- x$b; c <- x$c; d <- x$d
      r1 <- a + b; r2 <- c + d; rN <- r1 + r2
      th_f <- sum((a * r2 - c * r1) / rN) / sum(r1 * r2 / rN)   # raw counts
      wd <- r1 * r2 / rN                                        # raw MH weights
      # Greenland-Robins: numerator terms from the corrected cells, denominator
      # from the raw weights (those of the estimate); one study keeps its own SE
      # (corrected cells throughout)
      den <- if (length(idx) == 1) sum(n1 * n2 / N) else sum(wd)
      se_f <- sqrt(sum((A * B * n2^3 + C * D * n1^3) / (n1 * n2 * N^2)) / den^2)
    } else stop("MH measure")
  } else if (opt$method == "PETO") {
    V <- 1 / s^2; Z <- y * V
    th_f <- sum(Z) / sum(V); se_f <- 1 / sqrt(sum(V)); wd <- V
    Q <- sum(Z^2 / V) - sum(Z)^2 / sum(V)
  } else stop("method")
  if (is.na(Q)) Q <- sum(wiv * (y - th_f)^2)
  tau2 <- 0
  if (opt$model == "random") {
    if (opt$method == "PETO") stop("Peto has no random-effects model")
    tau2 <- dl_tau2(Q, wiv)
    ws <- 1 / (s^2 + tau2)
    th <- sum(ws * y) / sum(ws); se <- 1 / sqrt(sum(ws)); wd <- ws
  } else { th <- th_f; se <- se_f }
  w <- rep(NA_real_, n); w[idx] <- wd / sum(wd) * 100
  z <- th / se
  c(out, list(th = th, se = se, z = z, p = 2 * pnorm(-abs(z)),
              lb = th - zq(lev) * se, ub = th + zq(lev) * se,
              q = if (k == 1) 0 else Q, df = k - 1,
              pq = if (k == 1) NA else pchisq(Q, k - 1, lower.tail = FALSE),
              tau2 = tau2, w = w))
}

## ---------------------------------------------------------------------------
## The same (sub)analysis through metafor, where metafor matches RevMan.
## Quantities metafor does not provide are left NA (then the spec value is used).
## ---------------------------------------------------------------------------
mf_text <- new.env()

pool_metafor <- function(st, dt, opt) {
  n <- nrow(st); m <- opt$measure
  lev <- 100 * opt$ci_level; slev <- 100 * (opt$study_ci_level %||% opt$ci_level)
  sl <- as.character(seq_len(n))
  txt <- character(0)
  na <- rep(NA_real_, n)
  random <- opt$model == "random"
  yi <- vi <- na; mh <- NULL; fit_mh <- NULL
  if (dt == "dichotomous") {
    ai <- st$events_exp; n1i <- st$total_exp; ci <- st$events_ctrl; n2i <- st$total_ctrl
    if (m %in% c("OR", "RR")) {
      es <- escalc(measure = m, ai = ai, n1i = n1i, ci = ci, n2i = n2i,
                   add = 1/2, to = "only0", drop00 = TRUE)
      yi <- as.numeric(es$yi); vi <- as.numeric(es$vi)
      txt <- c(txt, sprintf("study effects: escalc(measure='%s', add=1/2, to='only0', drop00=TRUE)", m))
      if (opt$method == "MH") {
        fit_mh <- function() suppressWarnings(rma.mh(ai = ai, n1i = n1i, ci = ci, n2i = n2i, measure = m,
                     add = c(1/2, 1/2), to = c("only0", "only0"), drop00 = c(TRUE, TRUE),
                     level = lev, slab = sl))
        txt <- c(txt, sprintf("MH total, MH weights and Q: rma.mh(measure='%s', add=c(1/2,1/2), to=c('only0','only0'), drop00=c(TRUE,TRUE))", m))
      }
    } else if (m == "RD") {
      e0 <- escalc(measure = "RD", ai = ai, n1i = n1i, ci = ci, n2i = n2i, add = 0, to = "none", drop00 = FALSE)
      e1 <- escalc(measure = "RD", ai = ai, n1i = n1i, ci = ci, n2i = n2i, add = 1/2, to = "only0", drop00 = FALSE)
      yi <- as.numeric(e0$yi); vi <- as.numeric(e1$vi)
      txt <- c(txt, "study effects: yi from escalc(measure='RD', add=0) (raw counts), vi from escalc(measure='RD', add=1/2, to='only0') (corrected cells)")
      if (opt$method == "MH") {
        fit_mh <- function() suppressWarnings(rma.mh(ai = ai, n1i = n1i, ci = ci, n2i = n2i, measure = "RD",
                     add = c(0, 0), to = c("none", "none"), drop00 = c(FALSE, FALSE),
                     level = lev, slab = sl))
        txt <- c(txt, "MH RD estimate and MH weights: rma.mh(measure='RD', add=c(0,0), drop00=c(FALSE,FALSE)) (raw counts); the MH RD variance (corrected cells) and the Q around the MH estimate are spec arithmetic")
      }
    } else if (m == "PETO_OR") {
      es <- escalc(measure = "PETO", ai = ai, n1i = n1i, ci = ci, n2i = n2i, add = 0, to = "none", drop00 = TRUE)
      yi <- as.numeric(es$yi); vi <- as.numeric(es$vi)
      fit_mh <- function() suppressWarnings(rma.peto(ai = ai, n1i = n1i, ci = ci, n2i = n2i, add = 0, to = "none",
                     drop00 = TRUE, level = lev, slab = sl))
      txt <- c(txt, "study effects: escalc(measure='PETO', add=0, to='none', drop00=TRUE); total, weights and Q: rma.peto(add=0, to='none', drop00=TRUE)")
    }
  } else if (dt == "continuous") {
    if (m == "MD") {
      es <- escalc(measure = "MD", m1i = st$mean_exp, sd1i = st$sd_exp, n1i = st$total_exp,
                   m2i = st$mean_ctrl, sd2i = st$sd_ctrl, n2i = st$total_ctrl)
      yi <- as.numeric(es$yi); vi <- as.numeric(es$vi)
      txt <- c(txt, "study effects: escalc(measure='MD') (vtype='LS': sd1^2/n1 + sd2^2/n2)")
    } else {
      eff <- study_spec(st, dt, opt); yi <- eff$y; vi <- eff$se^2
      txt <- c(txt, "study effects: Hedges' g with J = 1 - 3/(4N-9) and SE^2 = N/(n1 n2) + g^2/(2(N-3.94)) by hand (NOT escalc's exact J / LS variance)")
    }
  } else if (dt == "o_minus_e") {
    yi <- st$o_minus_e / st$variance; vi <- 1 / st$variance
    txt <- c(txt, "study effects yi = (O-E)/V, vi = 1/V; Peto pooling = rma(yi, vi, method='FE') (identical: sum(O-E)/sum(V), SE 1/sqrt(sum V), Q = sum((O-E)^2/V) - (sum(O-E))^2/sum(V))")
  } else if (dt == "generic") {
    yi <- st$estimate; vi <- st$se^2
    txt <- c(txt, "study effects as given: rma(yi, sei=se)")
  }
  ok <- !is.na(yi)
  idx <- which(ok); k <- length(idx)
  sm <- summary(escalc(measure = "GEN", yi = yi, vi = vi), level = slev)
  out <- list(sy = yi, sse = sqrt(vi), slb = as.numeric(sm$ci.lb), sub = as.numeric(sm$ci.ub),
              ok = ok, k = k)
  txt <- c(txt, sprintf("study CIs: summary.escalc(level=%g)", slev))
  if (k == 0) { out$w <- na; assign("txt", txt, envir = mf_text); return(out) }
  fit <- NULL; tau2 <- 0; Q <- NA; pq <- NA
  if (!is.null(fit_mh)) mh <- fit_mh()
  if (!is.null(mh)) {
    Q <- mh$QE; pq <- mh$QEp
    if (m == "RD") Q <- pq <- NA   # rma.mh's Q uses its own yi; spec Q by hand
    if (random) {
      if (is.na(Q)) {
        Qs <- pool_spec(st, dt, modifyList(opt, list(model = "fixed")))$q
      } else Qs <- Q
      tau2 <- dl_tau2(Qs, 1 / vi[idx])
      fit <- rma(yi[idx], vi[idx], tau2 = tau2, level = lev)
      txt <- c(txt, "DL tau^2 from the MH Q with IV weights 1/vi by hand; random-effects total: rma(yi, vi, tau2=<that value>)")
    } else fit <- mh
  } else {
    meth <- if (random && k > 1) "DL" else "FE"
    fit <- rma(yi[idx], vi[idx], method = meth, level = lev)
    Q <- fit$QE; pq <- fit$QEp
    if (random) tau2 <- fit$tau2
    txt <- c(txt, sprintf("total and Q: rma(yi, vi, method='%s')", meth))
  }
  th <- as.numeric(fit$beta); se <- fit$se
  if (m == "RD" && !is.null(mh) && !random) se <- NA   # spec variance differs from rma.mh
  w <- na
  if (random || dt %in% c("continuous", "o_minus_e", "generic") || opt$method == "IV") {
    ww <- weights(fit)
    w[idx] <- as.numeric(ww)
  } else {
    ww <- weights(mh)
    w[as.integer(names(ww))] <- as.numeric(ww)
    w[!ok] <- NA
  }
  z <- if (is.na(se)) NA else fit$zval
  out <- c(out, list(th = th, se = se, z = z,
                     p = if (is.na(se)) NA else fit$pval,
                     lb = if (is.na(se)) NA else fit$ci.lb,
                     ub = if (is.na(se)) NA else fit$ci.ub,
                     q = if (k == 1) 0 else Q, df = k - 1,
                     pq = if (k == 1) NA else pq, tau2 = tau2, w = w))
  assign("txt", txt, envir = mf_text)
  out
}

## merge: metafor value where it agrees with the spec arithmetic, else spec
merge_pool <- function(ps, pm, case_id, label) {
  out <- ps; diffs <- list(); maxd <- 0
  for (nm in c("sy", "sse", "slb", "sub", "th", "se", "z", "p", "lb", "ub", "q", "pq", "tau2", "w")) {
    a <- ps[[nm]]; b <- pm[[nm]]
    if (is.null(a)) next
    if (is.null(b)) b <- rep(NA_real_, length(a))
    for (i in seq_along(a)) {
      if (is.na(b[i])) next
      if (close_enough(a[i], b[i])) {
        maxd <- max(maxd, rel_diff(a[i], b[i]))
        out[[nm]][i] <- b[i]
      } else {
        diffs[[length(diffs) + 1]] <- list(where = label, field = if (length(a) > 1) paste0(nm, "[", i, "]") else nm,
                                           spec = a[i], metafor = b[i])
      }
    }
  }
  if (!identical(ps$ok, pm$ok)) diffs[[length(diffs) + 1]] <- list(where = label, field = "estimable",
                                                                 spec = NA, metafor = NA)
  attr(out, "diffs") <- diffs; attr(out, "maxd") <- maxd
  out
}

## ---------------------------------------------------------------------------
## Assemble the expected block
## ---------------------------------------------------------------------------
tf_fun <- function(ratio) if (ratio) exp else identity

total_obj <- function(p, ratio) {
  if (p$k == 0) return(NULL)
  tf <- tf_fun(ratio)
  list(estimate = tf(p$th), ci_lower = tf(p$lb), ci_upper = tf(p$ub),
       se = p$se, z = p$z, p_value = p$p)
}

het_obj <- function(p) {
  if (p$k == 0) return(NULL)
  if (p$k == 1) return(list(q = 0, df = 0, p_value = NA, i2 = NA, tau2 = 0))
  Q <- p$q; df <- p$df
  list(q = Q, df = df, p_value = p$pq,
       i2 = if (Q > 0) max(0, (Q - df) / Q) * 100 else 0, tau2 = p$tau2)
}

sgd_obj <- function(th, se) {
  J <- length(th)
  if (J == 0) return(NULL)
  if (J == 1) return(list(q = 0, df = 0, p_value = NA, i2 = NA))
  w <- 1 / se^2; m <- sum(w * th) / sum(w)
  Q <- sum(w * (th - m)^2)
  list(q = Q, df = J - 1, p_value = pchisq(Q, J - 1, lower.tail = FALSE),
       i2 = if (Q > 0) max(0, (Q - (J - 1)) / Q) * 100 else 0)
}

run_case <- function(id, dt, st, opt, note = NULL) {
  opt <- modifyList(list(measure = NA, method = NA, model = NA, ci_level = 0.95,
                         study_ci_level = NULL, ratio = NULL), opt)
  ratio <- is_ratio(dt, opt)
  tf <- tf_fun(ratio)
  has_sg <- "subgroup" %in% names(st) && any(!is.na(st$subgroup))
  ps <- pool_spec(st, dt, opt)
  pm <- pool_metafor(st, dt, opt); txt <- get("txt", envir = mf_text)
  p <- merge_pool(ps, pm, id, "overall")
  diffs <- attr(p, "diffs"); maxd <- attr(p, "maxd")
  studies <- lapply(seq_len(nrow(st)), function(i) {
    if (!p$ok[i]) return(list(study = st$study[i], estimable = FALSE, estimate = NA, se = NA,
                              ci_lower = NA, ci_upper = NA, weight = NA))
    list(study = st$study[i], estimable = TRUE, estimate = tf(p$sy[i]), se = p$sse[i],
         ci_lower = tf(p$slb[i]), ci_upper = tf(p$sub[i]), weight = p$w[i])
  })
  subgroups <- structure(list(), names = character(0)); sgd <- NULL
  sg_th <- c(); sg_se <- c(); sg_th_m <- c(); sg_se_m <- c()
  if (has_sg) {
    for (g in unique(st$subgroup)) {
      rows <- which(st$subgroup == g)
      sst <- st[rows, , drop = FALSE]
      qs <- pool_spec(sst, dt, opt)
      qm <- pool_metafor(sst, dt, opt)
      q <- merge_pool(qs, qm, id, paste0("subgroup ", g))
      diffs <- c(diffs, attr(q, "diffs")); maxd <- max(maxd, attr(q, "maxd"))
      subgroups[[g]] <- list(total = total_obj(q, ratio), heterogeneity = het_obj(q),
                             weights = arr(q$w))
      if (q$k > 0) {
        sg_th <- c(sg_th, qs$th); sg_se <- c(sg_se, qs$se)
        sg_th_m <- c(sg_th_m, q$th); sg_se_m <- c(sg_se_m, q$se)
      }
    }
    sgd <- sgd_obj(sg_th, sg_se)
    if (length(sg_th_m) >= 2) {
      f <- rma(sg_th_m, sei = sg_se_m, method = "FE")
      for (nm in c("q", "p_value")) {
        b <- if (nm == "q") f$QE else f$QEp
        if (close_enough(sgd[[nm]], b)) { maxd <- max(maxd, rel_diff(sgd[[nm]], b)); sgd[[nm]] <- b }
        else diffs[[length(diffs) + 1]] <- list(where = "subgroup differences", field = nm,
                                                spec = sgd[[nm]], metafor = b)
      }
      txt <- c(txt, "test for subgroup differences: rma(theta_j, sei=SE_j, method='FE') over the estimable subgroup totals")
    }
  }
  expected <- list(total = total_obj(p, ratio), heterogeneity = het_obj(p),
                   studies = studies, subgroups = subgroups, subgroup_differences = sgd)
  ## check of the fixed-effect I2 / random-effects conventions
  reference <- paste0(
    "metafor ", packageVersion("metafor"), ": ", paste(unique(txt), collapse = "; "),
    "; spec arithmetic (explicit R): ",
    if (opt$method == "MH" && opt$model == "random") "DL tau^2 = max(0,(Q_MH-df)/(sum w - sum w^2/sum w)), " else "",
    if (opt$method == "MH" && opt$measure == "RD") "MH RD = sum((a n2 - c n1)/N)/sum(n1 n2/N) from raw counts with raw weights n1 n2/N, variance sum((ABn2^3+CDn1^3)/(n1 n2 N^2)) on corrected cells over (sum n1 n2/N)^2 on raw counts (k = 1: the study's own SE, corrected cells throughout), " else "",
    "I2 = max(0,(Q-df)/Q)*100, ",
    if (opt$model == "fixed") "tau2 reported as 0 for fixed-effect analyses (as RevMan stores), " else "",
    "exponentiation for ratio measures. Every number taken from metafor agrees with the spec arithmetic to a max relative difference of ",
    sprintf("%.1e", maxd),
    if (length(diffs)) sprintf("; %d number(s) where metafor's configuration differs from the spec were taken from the spec arithmetic (see metafor_differs)", length(diffs)) else "",
    if (!is.null(note)) paste0(". ", note) else "")
  case <- list(id = id, data_type = dt,
               studies = lapply(seq_len(nrow(st)), function(i) study_row(st[i, , drop = FALSE], dt)),
               options = list(measure = opt$measure, method = opt$method, model = opt$model,
                              ci_level = opt$ci_level, study_ci_level = opt$study_ci_level %||% NA,
                              ratio = opt$ratio %||% NA),
               expected = expected, reference = reference)
  if (length(diffs)) {
    case$metafor_differs <- diffs
    DISAGREE[[id]] <<- diffs
  }
  if (HAVE_META) case$crosscheck_meta <- meta_check(id, dt, st, opt, expected)
  else case$crosscheck_meta <- carry_meta(id, expected, is_ratio(dt, opt))
  case
}

## meta's numbers of the previous run, against the expected values of this run:
## a field that agreed then equals the previous expected value; where that has
## changed since, the pair is listed as a difference.
carry_meta <- function(id, expected, ratio) {
  if (is.null(PREVIOUS)) return(NULL)
  old <- Filter(function(cs) cs$id == id, PREVIOUS$cases)
  if (!length(old) || is.null(old[[1]]$crosscheck_meta)) return(NULL)
  cm <- old[[1]]$crosscheck_meta
  if (!is.null(cm$error)) return(cm)
  was <- old[[1]]$expected
  field_of <- function(ex, f) {
    num <- function(x) if (is.null(x)) NA_real_ else as.numeric(x)
    i <- suppressWarnings(as.integer(sub(".*\\[(\\d+)\\]$", "\\1", f)))
    s <- if (!is.na(i)) ex$studies[[i]] else NULL
    switch(sub("\\[.*", "", f),
           total_estimate = log_or_id(num(ex$total$estimate), ratio),
           total_se = num(ex$total$se), q = num(ex$heterogeneity$q),
           tau2 = num(ex$heterogeneity$tau2),
           study_estimate = log_or_id(num(s$estimate), ratio), study_se = num(s$se),
           weight = num(s$weight), subgroup_differences_q = num(ex$subgroup_differences$q),
           NA_real_)
  }
  differs <- list()
  for (d in cm$differences %||% list()) differs[[d$field]] <- d$meta
  fields <- c("total_estimate", "total_se", "q", "tau2", "subgroup_differences_q",
              unlist(lapply(seq_along(expected$studies), function(i)
                sprintf(c("study_estimate[%d]", "study_se[%d]", "weight[%d]"), i))))
  out <- list()
  for (f in fields) {
    meta_value <- if (!is.null(differs[[f]])) as.numeric(differs[[f]]) else field_of(was, f)
    now <- field_of(expected, f)
    if (!is.na(meta_value) && (is.na(now) || rel_diff(meta_value, now) > 1e-9))
      out[[length(out) + 1]] <- list(field = f, meta = meta_value, expected = now)
  }
  res <- list(settings = cm$settings,
              source = "meta 7.0-0, carried over from the last run with meta installed",
              max_rel_diff = max(c(0, Filter(is.finite, vapply(out, function(d) rel_diff(d$meta, d$expected), 0)))),
              fields_differing = arr(vapply(out, `[[`, "", "field")))
  if (length(out)) {
    res$differences <- out
    META_LOG[[id]] <<- res
  }
  res
}

study_row <- function(r, dt) {
  sg <- if ("subgroup" %in% names(r)) r$subgroup else NA
  base <- switch(dt,
    dichotomous = list(study = r$study, events_exp = r$events_exp, total_exp = r$total_exp,
                       events_ctrl = r$events_ctrl, total_ctrl = r$total_ctrl),
    continuous = list(study = r$study, mean_exp = r$mean_exp, sd_exp = r$sd_exp, total_exp = r$total_exp,
                      mean_ctrl = r$mean_ctrl, sd_ctrl = r$sd_ctrl, total_ctrl = r$total_ctrl),
    o_minus_e = list(study = r$study, o_minus_e = r$o_minus_e, variance = r$variance),
    generic = list(study = r$study, estimate = r$estimate, se = r$se))
  c(base, list(subgroup = as.character(sg)))
}

## ---------------------------------------------------------------------------
## Cross-check with R package meta, settings.meta("RevMan5")
## ---------------------------------------------------------------------------
meta_check <- function(id, dt, st, opt, ex) {
  if (dt %in% c("o_minus_e", "generic")) return(NULL)
  ratio <- is_ratio(dt, opt); tf <- tf_fun(ratio)
  lev <- opt$ci_level; slev <- opt$study_ci_level %||% opt$ci_level
  random <- opt$model == "random"
  has_sg <- "subgroup" %in% names(st) && any(!is.na(st$subgroup))
  sg <- if (has_sg) st$subgroup else NULL
  m <- tryCatch(suppressWarnings(
    if (dt == "dichotomous") {
      meta::metabin(st$events_exp, st$total_exp, st$events_ctrl, st$total_ctrl, studlab = st$study,
                    sm = if (opt$measure == "PETO_OR") "OR" else opt$measure,
                    method = c(MH = "MH", IV = "Inverse", PETO = "Peto")[[opt$method]],
                    common = TRUE, random = random, level = slev, level.ma = lev,
                    subgroup = sg)
    } else {
      meta::metacont(st$total_exp, st$mean_exp, st$sd_exp, st$total_ctrl, st$mean_ctrl, st$sd_ctrl,
                     studlab = st$study, sm = opt$measure, method.smd = "Hedges",
                     common = TRUE, random = random, level = slev, level.ma = lev, subgroup = sg)
    }), error = function(e) e)
  if (inherits(m, "error")) return(list(error = conditionMessage(m)))
  vals <- list()
  vals$total_estimate <- c(if (random) m$TE.random else m$TE.common, if (is.null(ex$total)) NA else log_or_id(ex$total$estimate, ratio))
  vals$total_se <- c(if (random) m$seTE.random else m$seTE.common, ex$total$se %||% NA)
  vals$q <- c(m$Q, ex$heterogeneity$q %||% NA)
  k_est <- sum(vapply(ex$studies, function(s) isTRUE(s$estimable), TRUE))
  if (random && k_est > 1) vals$tau2 <- c(m$tau2, ex$heterogeneity$tau2 %||% NA)  # meta: tau2 NA at k = 1
  wm <- if (random) m$w.random else m$w.common
  wm <- wm / sum(wm, na.rm = TRUE) * 100
  for (i in seq_len(nrow(st))) {
    s <- ex$studies[[i]]
    te <- m$TE[i]; se <- m$seTE[i]
    vals[[paste0("study_estimate[", i, "]")]] <- c(te, if (s$estimable) log_or_id(s$estimate, ratio) else NA)
    vals[[paste0("study_se[", i, "]")]] <- c(se, if (s$estimable) s$se else NA)
    vals[[paste0("weight[", i, "]")]] <- c(if (s$estimable || (!is.na(wm[i]) && wm[i] > 0)) wm[i] else NA,
                                          if (s$estimable) s$weight else NA)
  }
  if (has_sg && !is.null(ex$subgroup_differences)) {
    vals$subgroup_differences_q <- c(if (random) m$Q.b.random else m$Q.b.common, ex$subgroup_differences$q)
  }
  d <- vapply(vals, function(v) if (!is.na(v[1]) && !is.na(v[2]) && abs(v[1] - v[2]) < 1e-14) 0 else rel_diff(v[1], v[2]), 0)
  diff_fields <- names(d)[d > 1e-9]
  res <- list(settings = "meta::settings.meta('RevMan5'); method.smd='Hedges', exact.smd=FALSE",
              max_rel_diff = max(d[is.finite(d)], 0),
              fields_differing = arr(diff_fields))
  if (length(diff_fields)) {
    res$differences <- lapply(diff_fields, function(f) list(field = f, meta = vals[[f]][1], expected = vals[[f]][2]))
    META_LOG[[id]] <<- res
  }
  res
}
log_or_id <- function(x, ratio) if (is.null(x) || is.na(x)) NA else if (ratio) log(x) else x

## ---------------------------------------------------------------------------
## Data sets
## ---------------------------------------------------------------------------
dich <- function(study, ee, te, ec, tc, sg = NA) {
  data.frame(study = study, events_exp = as.numeric(ee), total_exp = as.numeric(te),
             events_ctrl = as.numeric(ec), total_ctrl = as.numeric(tc),
             subgroup = sg, stringsAsFactors = FALSE)
}

bcg <- with(dat.bcg, dich(paste(author, year), tpos, tpos + tneg, cpos, cpos + cneg))

## zero cells, one double-zero study, one all-events-in-both-arms study,
## one study with all events in one arm only
sparse <- dich(c("Alder 2001", "Birch 2003", "Cedar 2004", "Elm 2006", "Fir 2008",
                 "Hazel 2010", "Larch 2012", "Maple 2014"),
               c(0, 2, 0, 8, 4, 5, 1, 12), c(20, 15, 10, 8, 30, 25, 40, 12),
               c(3, 5, 0, 10, 0, 9, 6, 9), c(22, 16, 12, 10, 28, 26, 41, 11))

## homogeneous trials (Q < df for every measure: tau^2 = 0)
homog <- dich(c("Arun 1995", "Bose 1997", "Chand 1999", "Dutt 2001", "Ghosh 2003", "Iyer 2005"),
              c(15, 30, 9, 22, 45, 7), c(100, 200, 60, 150, 300, 50),
              c(20, 41, 12, 29, 58, 10), c(100, 205, 58, 148, 297, 52))

## three subgroups, the last of which has only double-zero studies
sub3 <- dich(c("Adams 2001", "Baker 2003", "Clark 2005", "Davies 2008",
               "Evans 2002", "Foster 2006", "Green 2010",
               "Hughes 2004", "Irving 2009"),
             c(12, 8, 30, 15, 3, 0, 10, 0, 0), c(100, 60, 250, 45, 40, 25, 80, 30, 18),
             c(20, 15, 41, 4, 9, 4, 12, 0, 0), c(98, 62, 245, 47, 42, 24, 78, 31, 20),
             c(rep("Adults", 4), rep("Children", 3), rep("Neonates", 2)))

## k = 1, and k = 1 estimable next to a non-estimable study
single <- bcg[6, ]
single_ne <- rbind(sparse[2, ], sparse[3, ])

## Fleiss (1993) from the RevMan file in shared/data/revman
fl <- read.csv("/work/shared/data/revman/Fleiss1993_CR.csv", check.names = FALSE, fileEncoding = "UTF-8",
               stringsAsFactors = FALSE)
asp <- fl[fl$`Outcome Number` == 1 & fl$Name != "" & is.na(fl$`Subgroup Number`) == FALSE &
            fl$`Data Type` == "" & fl$`Comparison Number` == 1, ]
asp <- dich(asp$Name, asp$`Events 1`, asp$`Total 1`, asp$`Events 2`, asp$`Total 2`)
mh_rows <- fl[fl$`Outcome Number` == 2 & fl$`Data Type` == "", ]
mental <- data.frame(study = mh_rows$Name, mean_exp = mh_rows$`Mean 1`, sd_exp = mh_rows$`SD 1`,
                     total_exp = mh_rows$`Total 1`, mean_ctrl = mh_rows$`Mean 2`,
                     sd_ctrl = mh_rows$`SD 2`, total_ctrl = mh_rows$`Total 2`, subgroup = NA,
                     stringsAsFactors = FALSE)
normand <- with(dat.normand1999, data.frame(study = as.character(source), mean_exp = m1i, sd_exp = sd1i,
                                            total_exp = n1i, mean_ctrl = m2i, sd_ctrl = sd2i,
                                            total_ctrl = n2i, subgroup = NA, stringsAsFactors = FALSE))

## made-up cell-therapy trials, three subgroups (change in LVEF, %)
cell <- data.frame(
  study = c("Ashby 2006", "Brandt 2007", "Corlett 2009", "Dunmore 2011",
            "Ellery 2013", "Fenwick 2015", "Garside 2017",
            "Hollis 2012", "Ingram 2016"),
  mean_exp = c(5.2, 3.1, 5.5, 6.7, 7.8, 6.1, 2.0, 1.5, 4.0),
  sd_exp = c(6.1, 7.5, 7.3, 6.5, 7.2, 9.0, 8.8, 6.0, 5.1),
  total_exp = c(35, 50, 95, 30, 58, 15, 10, 21, 14),
  mean_ctrl = c(3.0, 2.2, 3.0, 0.7, 2.9, 1.4, 1.5, 2.9, 1.5),
  sd_ctrl = c(5.8, 7.9, 6.5, 8.1, 6.8, 8.7, 9.2, 6.4, 5.5),
  total_ctrl = c(33, 50, 92, 30, 58, 15, 10, 12, 11),
  subgroup = c(rep("Bone marrow", 4), rep("Umbilical cord", 3), rep("Adipose tissue", 2)),
  stringsAsFactors = FALSE)

## made-up O-E data (log-rank O-E and its variance)
oe <- data.frame(study = c("Kemp 1990", "Lowe 1992", "Moss 1994", "Nash 1996", "Orme 1999", "Pike 2003"),
                 o_minus_e = c(-3.2, -1.1, 4.8, -5.6, -2.0, 1.5),
                 variance = c(10.5, 6.2, 4.9, 20.3, 8.8, 3.1), subgroup = NA, stringsAsFactors = FALSE)

## made-up generic inverse-variance data
gen_hr <- data.frame(study = c("Quinn 2004", "Rowe 2006", "Shaw 2008", "Tate 2010", "Unwin 2012", "Vance 2015"),
                     estimate = log(c(0.72, 0.85, 1.05, 0.64, 0.91, 0.58)),
                     se = c(0.15, 0.21, 0.30, 0.12, 0.18, 0.25), subgroup = NA, stringsAsFactors = FALSE)
gen_md <- data.frame(study = c("Wade 2001", "Yates 2003", "Zeller 2005", "Abbott 2007", "Barlow 2009",
                               "Carver 2011", "Dobson 2013"),
                     estimate = c(-2.1, -0.5, -3.4, 0.7, -1.8, -2.6, -1.0),
                     se = c(0.9, 1.2, 1.5, 1.1, 0.6, 2.0, 0.8),
                     subgroup = c("Short term", "Short term", "Short term", "Short term",
                                  "Long term", "Long term", "Very long term"), stringsAsFactors = FALSE)
gen_md_nosg <- transform(gen_md, subgroup = NA)

## ---------------------------------------------------------------------------
## Cases
## ---------------------------------------------------------------------------
cases <- list()
add <- function(...) { cases[[length(cases) + 1]] <<- run_case(...) }

dich_combos <- list(
  c("OR", "MH", "fixed"), c("OR", "MH", "random"), c("OR", "IV", "fixed"), c("OR", "IV", "random"),
  c("RR", "MH", "fixed"), c("RR", "MH", "random"), c("RR", "IV", "fixed"), c("RR", "IV", "random"),
  c("RD", "MH", "fixed"), c("RD", "MH", "random"), c("RD", "IV", "fixed"), c("RD", "IV", "random"),
  c("PETO_OR", "PETO", "fixed"))
dsets <- list(bcg = bcg, sparse = sparse, homog = homog, k1 = single, k1ne = single_ne, sub3 = sub3)
for (nm in names(dsets)) for (cb in dich_combos) {
  add(sprintf("%s_%s_%s_%s", nm, cb[1], cb[2], cb[3]), "dichotomous", dsets[[nm]],
      list(measure = cb[1], method = cb[2], model = cb[3]))
}
## CI-level variants
add("bcg_RR_MH_random_ci99", "dichotomous", bcg, list(measure = "RR", method = "MH", model = "random", ci_level = 0.99))
add("bcg_OR_IV_fixed_study90", "dichotomous", bcg, list(measure = "OR", method = "IV", model = "fixed", study_ci_level = 0.90))
add("sparse_RD_MH_fixed_ci90_study99", "dichotomous", sparse, list(measure = "RD", method = "MH", model = "fixed", ci_level = 0.90, study_ci_level = 0.99))
add("sub3_OR_MH_random_ci99_study90", "dichotomous", sub3, list(measure = "OR", method = "MH", model = "random", ci_level = 0.99, study_ci_level = 0.90))
add("sparse_PETO_OR_PETO_fixed_study90", "dichotomous", sparse, list(measure = "PETO_OR", method = "PETO", model = "fixed", study_ci_level = 0.90))

## Fleiss 1993 aspirin: RevMan 5 stored result (MH OR fixed)
add("fleiss1993_aspirin_OR_MH_fixed", "dichotomous", asp, list(measure = "OR", method = "MH", model = "fixed"),
    note = "RevMan 5 stored values for this analysis are in shared/data/revman/Fleiss1993.rm5 (see revman_check)")
add("fleiss1993_aspirin_OR_MH_random", "dichotomous", asp, list(measure = "OR", method = "MH", model = "random"))

## continuous
for (nm in c("normand1999", "fleiss1993_mental")) {
  d <- if (nm == "normand1999") normand else mental
  for (ms in c("MD", "SMD")) for (md in c("fixed", "random"))
    add(sprintf("%s_%s_IV_%s", nm, ms, md), "continuous", d, list(measure = ms, method = "IV", model = md),
        note = if (nm == "fleiss1993_mental" && ms == "MD" && md == "fixed")
          "RevMan 5 exported values (MD, IV, fixed) in shared/data/revman/Fleiss1993_CR.csv (see revman_check)" else NULL)
}
for (md in c("fixed", "random")) {
  add(sprintf("cell_subgroups_SMD_IV_%s", md), "continuous", cell, list(measure = "SMD", method = "IV", model = md))
  add(sprintf("cell_subgroups_MD_IV_%s", md), "continuous", cell, list(measure = "MD", method = "IV", model = md))
}
add("cell_subgroups_SMD_IV_random_ci90", "continuous", cell, list(measure = "SMD", method = "IV", model = "random", ci_level = 0.90, study_ci_level = 0.99))
add("cell_k1_SMD_IV_random", "continuous", transform(cell[9, ], subgroup = NA), list(measure = "SMD", method = "IV", model = "random"))

## O-E and variance
add("oe_PETO_OR_PETO_fixed", "o_minus_e", oe, list(measure = "PETO_OR", method = "PETO", model = "fixed"))
add("oe_PETO_OR_IV_fixed", "o_minus_e", oe, list(measure = "PETO_OR", method = "IV", model = "fixed"))
add("oe_PETO_OR_IV_random", "o_minus_e", oe, list(measure = "PETO_OR", method = "IV", model = "random"))

## generic inverse variance
for (md in c("fixed", "random")) {
  add(sprintf("generic_HR_ratio_IV_%s", md), "generic", gen_hr, list(measure = "HR", method = "IV", model = md, ratio = TRUE))
  add(sprintf("generic_MD_IV_%s", md), "generic", gen_md_nosg, list(measure = "MD", method = "IV", model = md, ratio = FALSE))
  add(sprintf("generic_MD_subgroups_IV_%s", md), "generic", gen_md, list(measure = "MD", method = "IV", model = md, ratio = FALSE))
}

## ---------------------------------------------------------------------------
## Agreement with the values RevMan 5 stored
## ---------------------------------------------------------------------------
find_case <- function(id) cases[[which(vapply(cases, `[[`, "", "id") == id)]]
set_case <- function(id, cs) cases[[which(vapply(cases, `[[`, "", "id") == id)]] <<- cs

rm5 <- paste(readLines("/work/shared/data/revman/Fleiss1993.rm5", encoding = "latin1", warn = FALSE), collapse = "\n")
attr_of <- function(tag_text, nm) as.numeric(sub(paste0('.*\\b', nm, '="([^"]*)".*'), "\\1", tag_text))
dich_outcome <- regmatches(rm5, regexpr("<DICH_OUTCOME [^>]*>", rm5))
dich_data <- regmatches(rm5, gregexpr("<DICH_DATA [^>]*/>", rm5))[[1]]
cs <- find_case("fleiss1993_aspirin_OR_MH_fixed"); ex <- cs$expected
chk <- list()
chk$total_estimate <- c(attr_of(dich_outcome, "EFFECT_SIZE"), ex$total$estimate)
chk$total_ci_lower <- c(attr_of(dich_outcome, "CI_START"), ex$total$ci_lower)
chk$total_ci_upper <- c(attr_of(dich_outcome, "CI_END"), ex$total$ci_upper)
chk$total_abs_z <- c(attr_of(dich_outcome, "Z"), abs(ex$total$z))
chk$q <- c(attr_of(dich_outcome, "CHI2"), ex$heterogeneity$q)
chk$i2 <- c(attr_of(dich_outcome, "I2"), ex$heterogeneity$i2)
chk$df <- c(attr_of(dich_outcome, "DF"), ex$heterogeneity$df)
pchk <- list(p_z = c(attr_of(dich_outcome, "P_Z"), ex$total$p_value),
             p_q = c(attr_of(dich_outcome, "P_CHI2"), ex$heterogeneity$p_value))
for (t in dich_data) {
  ev1 <- attr_of(t, "EVENTS_1"); n1 <- attr_of(t, "TOTAL_1")
  i <- which(asp$events_exp == ev1 & asp$total_exp == n1)
  s <- ex$studies[[i]]
  chk[[paste0(s$study, " estimate")]] <- c(attr_of(t, "EFFECT_SIZE"), s$estimate)
  chk[[paste0(s$study, " se")]] <- c(attr_of(t, "SE"), s$se)
  chk[[paste0(s$study, " ci_lower")]] <- c(attr_of(t, "CI_START"), s$ci_lower)
  chk[[paste0(s$study, " ci_upper")]] <- c(attr_of(t, "CI_END"), s$ci_upper)
  chk[[paste0(s$study, " weight")]] <- c(attr_of(t, "WEIGHT"), s$weight)
}
rd <- vapply(chk, function(v) rel_diff(v[1], v[2]), 0)
pd <- vapply(pchk, function(v) abs(v[1] - v[2]), 0)
cs$revman_check <- list(source = "shared/data/revman/Fleiss1993.rm5 (RevMan 5.0.23, full-precision attributes)",
                        max_rel_diff = max(rd), worst = names(rd)[which.max(rd)],
                        p_value_max_abs_diff = max(pd))
set_case("fleiss1993_aspirin_OR_MH_fixed", cs)
cat(sprintf("RevMan check (aspirin MH OR fixed): max rel diff %.2e (%s); P abs diff %.2e\n",
            max(rd), names(rd)[which.max(rd)], max(pd)))

## the CSV export: MD, IV, fixed for the mental-health outcome (8 significant digits)
cs <- find_case("fleiss1993_mental_MD_IV_fixed"); ex <- cs$expected
tot <- fl[fl$`Outcome Number` == 2 & fl$`Data Type` == "CON", ]
chk <- list(total_estimate = c(tot$`Effect Estimate`, ex$total$estimate),
            total_ci_lower = c(tot$`CI Start`, ex$total$ci_lower),
            total_ci_upper = c(tot$`CI End`, ex$total$ci_upper),
            q = c(tot$Q, ex$heterogeneity$q), i2 = c(tot[[grep("^I.*\\(Q\\)$", names(tot))]], ex$heterogeneity$i2),
            abs_z = c(tot$Z, abs(ex$total$z)))
for (i in seq_len(nrow(mh_rows))) {
  s <- ex$studies[[i]]
  chk[[paste0(s$study, " estimate")]] <- c(mh_rows$`Effect Estimate`[i], s$estimate)
  chk[[paste0(s$study, " se")]] <- c(mh_rows$SE[i], s$se)
  chk[[paste0(s$study, " ci_lower")]] <- c(mh_rows$`CI Start`[i], s$ci_lower)
  chk[[paste0(s$study, " ci_upper")]] <- c(mh_rows$`CI End`[i], s$ci_upper)
  chk[[paste0(s$study, " weight")]] <- c(mh_rows$Weight[i], s$weight)
}
ad <- vapply(chk, function(v) rel_diff(v[1], v[2]), 0)
pd <- c(abs(tot$`P(Z)` - ex$total$p_value), abs(tot$`P(Q)` - ex$heterogeneity$p_value))
cs$revman_check <- list(source = "shared/data/revman/Fleiss1993_CR.csv (RevMan 5 CSV export, 8 significant digits)",
                        max_rel_diff = max(ad), worst = names(ad)[which.max(ad)],
                        p_value_max_abs_diff = max(pd))
set_case("fleiss1993_mental_MD_IV_fixed", cs)
cat(sprintf("RevMan check (mental MD IV fixed, CSV): max rel diff %.2e (%s); P abs diff %.2e\n",
            max(ad), names(ad)[which.max(ad)], max(pd)))
cs <- find_case("fleiss1993_aspirin_OR_MH_fixed")

## ---------------------------------------------------------------------------
## How other conventions differ on the zero-cell data (reported, not used)
## ---------------------------------------------------------------------------
conv <- list()
conv_row <- function(data_name, what, label, est, se, q) {
  conv[[length(conv) + 1]] <<- list(data = data_name, analysis = what, source = label,
                                     estimate = est, se = se, q = q)
}
for (dn in c("sparse", "sub3", "k1ne")) {
  d <- dsets[[dn]]
  for (ms in c("RD", "OR", "RR")) {
    o <- list(measure = ms, method = "MH", model = "fixed", ci_level = 0.95)
    ps <- pool_spec(d, "dichotomous", o)
    what <- paste(ms, "MH fixed (analysis scale)")
    conv_row(dn, what, "spec (written to core_cases.json)", ps$th, ps$se, ps$q)
    mfc <- list(
      "metafor rma.mh(add=c(1/2,1/2), to=c('only0','only0'), drop00=c(TRUE,TRUE))" =
        list(add = c(1/2, 1/2), to = c("only0", "only0"), drop00 = c(TRUE, TRUE)),
      "metafor rma.mh(add=c(1/2,1/2), to=c('only0','only0'), drop00=c(FALSE,FALSE))" =
        list(add = c(1/2, 1/2), to = c("only0", "only0"), drop00 = c(FALSE, FALSE)),
      "metafor rma.mh() defaults (add=1/2, to='only0', drop00=TRUE: correction for yi only, MH sums uncorrected)" =
        list(add = 1/2, to = "only0", drop00 = TRUE))
    for (lab in names(mfc)) {
      a <- mfc[[lab]]
      r <- tryCatch(suppressWarnings(rma.mh(ai = d$events_exp, n1i = d$total_exp, ci = d$events_ctrl,
                                            n2i = d$total_ctrl, measure = ms, add = a$add, to = a$to,
                                            drop00 = a$drop00)), error = function(e) NULL)
      if (!is.null(r)) conv_row(dn, what, lab, as.numeric(r$beta), r$se, r$QE)
    }
    if (ms == "RD") {
      r <- suppressWarnings(rma.mh(ai = d$events_exp, n1i = d$total_exp, ci = d$events_ctrl,
                                   n2i = d$total_ctrl, measure = "RD", add = c(0, 0),
                                   to = c("none", "none"), drop00 = c(FALSE, FALSE)))
      conv_row(dn, what, "metafor rma.mh(measure='RD', add=c(0,0)): raw counts, Sato-Greenland-Robins (1989) variance",
               as.numeric(r$beta), r$se, NA)  # its Q is infinite: raw-count RDs of 0 or 1 have no variance
      ## meta's metabin(method='MH', sm='RD') as its source reads (meta is not installed
      ## here): weights n1 n2/N and the whole variance from the corrected cells
      x <- cells(d); cn1 <- x$A + x$B; cn2 <- x$C + x$D; cN <- cn1 + cn2
      S <- cn1 * cn2 / cN
      R <- (x$A * x$B * cn2^3 + x$C * x$D * cn1^3) / (cn1 * cn2 * cN^2)
      yr <- x$a / (x$a + x$b) - x$c / (x$c + x$d)
      conv_row(dn, what, "meta metabin(method='MH', sm='RD') formulas (RevMan5 settings; weights and variance denominator from corrected cells), by hand",
               sum(S * yr) / sum(S), sqrt(sum(R) / sum(S)^2), NA)
    }
    if (HAVE_META) {
      mm <- suppressWarnings(meta::metabin(d$events_exp, d$total_exp, d$events_ctrl, d$total_ctrl,
                                           sm = ms, method = "MH", common = TRUE, random = FALSE))
      conv_row(dn, what, "meta::metabin(method='MH') with settings.meta('RevMan5')",
               mm$TE.common, mm$seTE.common, mm$Q)
    }
  }
}
if (!HAVE_META && !is.null(PREVIOUS))  # meta's rows of the last run that had it
  conv <- c(conv, Filter(function(r) grepl("^meta::", r$source), PREVIOUS$convention_comparisons))
cat("\n== conventions on the zero-cell data sets (MH, fixed effect) ==\n")
for (r in conv) cat(sprintf("%-7s %-28s est=% .12f se=%.12f Q=%.10f  %s\n", r$data, r$analysis,
                            r$estimate, r$se, r$q, r$source))

## ---------------------------------------------------------------------------
## Write
## ---------------------------------------------------------------------------
out <- list(generated_by = "tests/reference/make_core.R", versions = versions(),
            conventions = "estimate/ci on the natural scale (exp for ratio measures); se and z on the analysis (log) scale; weights and i2 in percent; tau2 is 0 for fixed-effect analyses; null = not estimable / not applicable",
            cases = cases, convention_comparisons = conv)
path <- file.path(OUT_DIR, "core_cases.json")
write_json_file(out, path)
back <- jsonlite::fromJSON(path, simplifyVector = FALSE)
a <- flatten_num(out$cases); b <- flatten_num(back$cases)
if (length(a) != length(b)) { print(setdiff(names(a), names(b))); print(setdiff(names(b), names(a))) }
stopifnot(length(a) == length(b), identical(unname(is.na(a)), unname(is.na(b))),
          all(a[!is.na(a)] == b[!is.na(b)]))
cat(sprintf("wrote %s: %d cases, %d numbers (round trip exact)\n", path, length(cases), sum(!is.na(a))))

if (length(DISAGREE)) {
  cat("\n== spec arithmetic vs metafor configuration (spec value written) ==\n")
  for (id in names(DISAGREE)) for (d in DISAGREE[[id]])
    cat(sprintf("%-40s %-22s %-12s spec=%.15g metafor=%.15g\n", id, d$where, d$field, d$spec, d$metafor))
}
if (length(META_LOG)) {
  cat("\n== meta (settings.meta('RevMan5')) vs expected ==\n")
  for (id in names(META_LOG)) for (d in META_LOG[[id]]$differences)
    cat(sprintf("%-40s %-22s meta=%.15g expected=%.15g\n", id, d$field, d$meta, d$expected))
}

## Reference values for metapool.metareg: metafor's rma(mods=) and permutest().
##
##   Rscript tests/reference/make_metareg.R     -> tests/reference/metareg_cases.json
##
## Every fit on the analysis scale, fixed effect and all eight tau^2 estimators,
## Wald (test="z") and Knapp-Hartung (test="knha", "adhoc") tests.  A batch case
## is fitted group by group; a group metafor cannot fit as asked (k <= p, or
## collinear moderators, which metafor would drop) is written as not estimable.
## Tight control: Fisher scoring (ML, REML, EB) stops when the change in tau^2 is
## below 'threshold'; 'tol' is uniroot's tolerance for PM.

args_all <- commandArgs(trailingOnly = FALSE)
source(file.path(local({
  f <- sub("^--file=", "", args_all[grepl("^--file=", args_all)])
  if (length(f)) dirname(normalizePath(f)) else getwd()
}), "common.R"))
suppressPackageStartupMessages({ library(metafor); library(jsonlite) })

OUT_DIR <- script_dir()
CONTROL <- list(threshold = 1e-14, tol = 1e-30, maxiter = 10000, tau2.max = 1e4)
METHODS <- c("FE", "DL", "REML", "ML", "PM", "EB", "HE", "SJ", "HS")
TESTS <- c("z", "knha", "adhoc")

bcg <- escalc(measure = "RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)
rau <- dat.raudenbush1985
mol <- escalc(measure = "ZCOR", ri = ri, ni = ni, data = dat.molloy2014)

## synthetic ragged batch: groups of 3..15 studies, two moderators; group "c" has
## k = 3 = p (not estimable), group "e" has a moderator constant within it
set.seed(20041)
sizes <- c(a = 8, b = 15, c = 3, d = 5, e = 7, f = 11, g = 6)
syn <- do.call(rbind, lapply(names(sizes), function(g) {
  n <- sizes[[g]]
  x1 <- round(runif(n, 0, 10), 2)
  x2 <- if (g == "e") rep(1.5, n) else round(rnorm(n), 3)
  vi <- round(runif(n, 0.01, 0.2), 4)
  yi <- round(0.1 + 0.05 * x1 - 0.2 * x2 + rnorm(n, 0, sqrt(vi + 0.05)), 4)
  data.frame(group = g, yi = yi, vi = vi, x1 = x1, x2 = x2)
}))
syn <- syn[sample(nrow(syn)), ]  # unsorted groups

CASES <- list(
  list(name = "bcg_ablat", yi = bcg$yi, vi = bcg$vi, mods = list(ablat = bcg$ablat)),
  list(name = "bcg_ablat_year", yi = bcg$yi, vi = bcg$vi,
       mods = list(ablat = bcg$ablat, year = bcg$year)),
  list(name = "bcg_alloc", yi = bcg$yi, vi = bcg$vi, mods = list(alloc = as.character(bcg$alloc))),
  list(name = "bcg_ablat_alloc", yi = bcg$yi, vi = bcg$vi,
       mods = list(ablat = bcg$ablat, alloc = as.character(bcg$alloc))),
  list(name = "bcg_alloc_no_intercept", yi = bcg$yi, vi = bcg$vi, intercept = FALSE,
       mods = list(alloc = as.character(bcg$alloc))),
  list(name = "bcg_alloc_ablat_no_intercept", yi = bcg$yi, vi = bcg$vi, intercept = FALSE,
       mods = list(alloc = as.character(bcg$alloc), ablat = bcg$ablat)),
  list(name = "raudenbush1985_weeks", yi = rau$yi, vi = rau$vi, mods = list(weeks = rau$weeks)),
  list(name = "molloy2014_quality_age", yi = mol$yi, vi = mol$vi,
       mods = list(quality = mol$quality, meanage = mol$meanage)),
  list(name = "synthetic_ragged", yi = syn$yi, vi = syn$vi, groups = syn$group,
       mods = list(x1 = syn$x1, x2 = syn$x2))
)

## dummy coding against the first level in sorted order; without an intercept the
## first factor keeps every level (as ~ factor - 1)
design <- function(mods, intercept = TRUE) {
  cols <- list()
  full <- !intercept
  for (nm in names(mods)) {
    v <- mods[[nm]]
    if (is.character(v)) {
      lv <- sort(unique(v))
      keep <- if (full) lv else lv[-1]
      full <- FALSE
      for (l in keep) cols[[paste0(nm, "=", l)]] <- as.numeric(v == l)
    } else cols[[nm]] <- as.numeric(v)
  }
  do.call(cbind, cols)
}

fit_one <- function(yi, vi, X, method, test, intercept = TRUE) {
  Xf <- if (intercept) cbind(1, X) else X
  p <- ncol(Xf)
  k <- length(yi)
  full <- qr(Xf)$rank == p
  if (k <= p || !full) return(list(k = k, estimable = FALSE))
  res <- rma(yi, vi, mods = X, intercept = intercept, method = method, test = test,
             control = CONTROL)
  list(k = k, estimable = TRUE, coef = arr(as.numeric(res$beta)), se = arr(res$se),
       zval = arr(res$zval), pval = arr(res$pval), ci_lb = arr(res$ci.lb), ci_ub = arr(res$ci.ub),
       tau2 = res$tau2, QE = res$QE, QEp = res$QEp, QM = res$QM, QMp = res$QMp,
       QMdf = arr(res$QMdf), R2 = if (is.null(res$R2)) NA else res$R2, I2 = res$I2,
       ll = as.numeric(logLik(res)))
}

out_cases <- list()
for (case in CASES) {
  intercept <- if (is.null(case$intercept)) TRUE else case$intercept
  X <- design(case$mods, intercept)
  groups <- if (is.null(case$groups)) rep("all", length(case$yi)) else case$groups
  labels <- sort(unique(groups))
  fits <- list()
  for (method in METHODS) for (test in TESTS) {
    per_group <- lapply(labels, function(g) {
      i <- groups == g
      fit_one(as.numeric(case$yi[i]), case$vi[i], X[i, , drop = FALSE], method, test, intercept)
    })
    fits[[length(fits) + 1]] <- list(method = method, test = test, groups = per_group)
  }
  out_cases[[length(out_cases) + 1]] <- list(
    name = case$name, intercept = intercept, yi = arr(as.numeric(case$yi)),
    vi = arr(as.numeric(case$vi)),
    groups = if (is.null(case$groups)) NULL else arr(case$groups),
    moderators = lapply(case$mods, arr), labels = arr(labels), fits = fits)
}

## exact permutation tests (permutest(exact=TRUE)) of small meta-regressions
perm_cases <- list()
sub <- bcg[c(1, 3, 5, 7, 9, 11), ]
for (method in c("FE", "DL", "REML")) for (test in c("z", "knha")) {
  res <- rma(yi, vi, mods = ~ ablat, data = sub, method = method, test = test, control = CONTROL)
  pt <- permutest(res, exact = TRUE, progbar = FALSE, control = list())
  perm_cases[[length(perm_cases) + 1]] <- list(
    name = "bcg6_ablat", method = method, test = test, yi = arr(as.numeric(sub$yi)),
    vi = arr(as.numeric(sub$vi)), moderators = list(ablat = arr(sub$ablat)),
    permutations = nrow(pt$zval.perm), pval = arr(pt$pval), QMp = pt$QMp)
}
res <- rma(yi, vi, mods = ~ ablat + year, data = bcg[1:7, ], method = "DL", control = CONTROL)
pt <- permutest(res, exact = TRUE, progbar = FALSE)
perm_cases[[length(perm_cases) + 1]] <- list(
  name = "bcg7_ablat_year", method = "DL", test = "z", yi = arr(as.numeric(bcg$yi[1:7])),
  vi = arr(as.numeric(bcg$vi[1:7])),
  moderators = list(ablat = arr(bcg$ablat[1:7]), year = arr(bcg$year[1:7])),
  permutations = nrow(pt$zval.perm), pval = arr(pt$pval), QMp = pt$QMp)

write_json_file(list(versions = versions(), control = CONTROL, cases = out_cases,
                     permutation_cases = perm_cases),
                file.path(OUT_DIR, "metareg_cases.json"))
cat("wrote", length(out_cases), "cases and", length(perm_cases), "permutation cases\n")

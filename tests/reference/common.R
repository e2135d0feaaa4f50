## Shared helpers for the reference-fixture scripts (sourced by make_*.R).
## Only JSON writing and small utilities; no statistics here.

## Shortest decimal representation that reads back to the identical double.
num_str <- function(x) {
  if (is.na(x) || is.nan(x)) return("null")
  if (is.infinite(x)) stop("infinite value cannot be written to JSON")
  if (x == 0) return("0")
  for (d in 15:17) {
    s <- sprintf(paste0("%.", d, "g"), x)
    if (as.numeric(s) == x) break
  }
  s <- sub("e([+-])0*([0-9])", "e\\1\\2", s)  # 1e-07 -> 1e-7
  s
}

str_json <- function(s) {
  if (is.na(s)) return("null")
  as.character(jsonlite::toJSON(s, auto_unbox = TRUE))
}

## Serialise an R object: named list -> object, unnamed list -> array,
## atomic length 1 -> scalar (unless wrapped in I() or marked as array),
## atomic length != 1 -> array; NULL and NA -> null.
to_json <- function(x, indent = 0L, pretty = TRUE) {
  nl <- if (pretty) "\n" else ""
  pad <- function(n) if (pretty) strrep(" ", n) else ""
  if (is.null(x)) return("null")
  as_array <- inherits(x, "AsIs") || isTRUE(attr(x, "json_array"))
  if (is.list(x)) {
    nms <- names(x)
    if (length(x) == 0L) return(if (!is.null(nms)) "{}" else "[]")
    items <- vapply(seq_along(x), function(i) to_json(x[[i]], indent + 2L, pretty), "")
    if (!is.null(nms) && !as_array) {
      body <- paste0(pad(indent + 2L), vapply(nms, str_json, ""), ": ", items)
      return(paste0("{", nl, paste(body, collapse = paste0(",", nl)), nl, pad(indent), "}"))
    }
    body <- paste0(pad(indent + 2L), items)
    return(paste0("[", nl, paste(body, collapse = paste0(",", nl)), nl, pad(indent), "]"))
  }
  if (is.factor(x)) x <- as.character(x)
  one <- function(v) {
    if (is.logical(v)) return(if (is.na(v)) "null" else if (v) "true" else "false")
    if (is.numeric(v)) return(num_str(as.numeric(v)))
    if (is.character(v)) return(str_json(v))
    stop("cannot serialise type ", typeof(v))
  }
  vals <- vapply(seq_along(x), function(i) one(unclass(x)[i]), "")
  if (length(x) == 1L && !as_array) return(vals)
  paste0("[", paste(vals, collapse = ", "), "]")
}

arr <- function(x) { attr(x, "json_array") <- TRUE; x }

write_json_file <- function(x, path) {
  txt <- to_json(x)
  writeLines(txt, path, useBytes = TRUE)
  ## round trip check: parse back with jsonlite and compare the numbers
  back <- jsonlite::fromJSON(path, simplifyVector = FALSE)
  invisible(back)
}

## Write `out` to `path` and check that every number of out$cases reads back identical.
write_cases <- function(out, path) {
  back <- write_json_file(out, path)
  a <- flatten_num(out$cases); b <- flatten_num(back$cases)
  stopifnot(length(a) == length(b), identical(unname(is.na(a)), unname(is.na(b))), all(a[!is.na(a)] == b[!is.na(b)]))
  cat(sprintf("wrote %s: %d cases (round trip exact)\n", path, length(out$cases)))
}

## Flatten numeric leaves of a nested list into a named numeric vector
## (NULL/NA kept as NA), used for round-trip and cross-engine comparison.
flatten_num <- function(x, prefix = "") {
  out <- c()
  if (is.null(x)) return(setNames(NA_real_, prefix))
  if (is.list(x)) {
    nms <- names(x); if (is.null(nms)) nms <- as.character(seq_along(x))
    for (i in seq_along(x)) out <- c(out, flatten_num(x[[i]], paste0(prefix, "/", nms[i])))
    return(out)
  }
  if (length(x) == 1L && is.na(x)) return(setNames(NA_real_, prefix))
  if (is.numeric(x) || (is.logical(x) && all(is.na(x)))) {
    x <- as.numeric(x)
    if (length(x) == 1L) return(setNames(x, prefix))
    if (length(x) == 0L) return(c())
    return(setNames(x, paste0(prefix, "/", seq_along(x))))
  }
  c()
}

script_dir <- function() {
  a <- commandArgs(trailingOnly = FALSE)
  f <- sub("^--file=", "", a[grepl("^--file=", a)])
  if (length(f)) dirname(normalizePath(f)) else getwd()
}

versions <- function() {
  v <- list(R = paste(R.version$major, R.version$minor, sep = "."),
            metafor = as.character(packageVersion("metafor")),
            metadat = as.character(packageVersion("metadat")),
            jsonlite = as.character(packageVersion("jsonlite")))
  if (requireNamespace("meta", quietly = TRUE))
    v$meta <- as.character(packageVersion("meta")) else v$meta <- NA_character_
  v
}

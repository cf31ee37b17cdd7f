# Number formatting and a JSON writer in base R, shared by the fixture scripts.
# Numbers are written in the shortest form of 15, 16 or 17 significant digits that reads
# back to the identical double, so no precision is lost.

# Shortest %.{15,16,17}g form that reads back to the same double.
fmt_num <- function(x) {
  vapply(as.double(x), function(v) {
    if (is.na(v) || !is.finite(v)) stop("non-finite number in output")
    for (d in 15:17) {
      s <- sprintf(paste0("%.", d, "g"), v)
      if (as.double(s) == v) return(s)
    }
    s
  }, "")
}

json_str <- function(s) {
  s <- gsub("\\", "\\\\", s, fixed = TRUE)
  s <- gsub('"', '\\"', s, fixed = TRUE)
  s <- gsub("\n", "\\n", s, fixed = TRUE)
  s <- gsub("\t", "\\t", s, fixed = TRUE)
  paste0('"', s, '"')
}

json_scalar <- function(v) {
  if (is.null(v) || length(v) == 0) return("null")
  stopifnot(length(v) == 1)
  if (is.logical(v)) return(if (is.na(v)) "null" else if (v) "true" else "false")
  if (is.character(v)) return(json_str(v))
  if (is.numeric(v)) {
    if (is.na(v) || !is.finite(v)) return("null")
    if (is.integer(v)) return(as.character(v))
    s <- fmt_num(v)
    # A double stays a JSON float ("0.0", not "0"); integers (k) are written as integers.
    return(if (grepl("[.eE]", s)) s else paste0(s, ".0"))
  }
  stop("cannot write ", class(v), " as JSON")
}

# Named lists become objects, unnamed lists arrays; everything else must be a scalar (or
# NULL -> null). Small objects of scalars (a study row) are written on one line.
to_json <- function(x, indent = 0) {
  pad <- strrep("  ", indent + 1)
  end <- strrep("  ", indent)
  if (is.list(x)) {
    if (length(x) == 0) return(if (is.null(names(x))) "[]" else "{}")
    named <- !is.null(names(x))
    items <- vapply(seq_along(x), function(i) {
      v <- to_json(x[[i]], indent + 1)
      if (named) paste0(json_str(names(x)[i]), ": ", v) else v
    }, "")
    flat <- named && all(vapply(x, function(v) !is.list(v), TRUE))
    if (flat && sum(nchar(items)) < 160) return(paste0("{", paste(items, collapse = ", "), "}"))
    open <- if (named) "{" else "["
    close <- if (named) "}" else "]"
    return(paste0(open, "\n", pad, paste(items, collapse = paste0(",\n", pad)), "\n", end, close))
  }
  json_scalar(x)
}


# Write x as JSON (UTF-8, LF) to path.
write_json_file <- function(x, path) {
  con <- file(path, open = "wb", encoding = "UTF-8")
  writeLines(enc2utf8(to_json(x)), con, sep = "\n", useBytes = TRUE)
  close(con)
}

# Helpers shared by the topic scripts tests/reference/R/<topic>.R.
#
# make_reference.R sources this file into each topic's environment (with REF_DIR set to the
# tests/reference folder) just before the topic script; it lives outside R/ so that the driver
# does not take it for a topic. It attaches metafor (with metadat) and jsonlite; a topic attaches
# what else it needs (lme4).
#
# JSON encoding of every fixture (decoded by tests/_fixture.py):
#   * numbers are written with jsonlite digits = NA (15 significant digits);
#   * R NA (and anything metafor does not compute) is written as null;
#   * IEEE specials are written as the strings "NaN", "Inf", "-Inf".

suppressPackageStartupMessages({
  library(metafor)
  library(jsonlite)
})

# ---------------------------------------------------------------- tight controls
# so that the fixtures are the exact solutions, not metafor's default stopping rule
CTRL <- list(threshold = 1e-12, tol = 1e-12, maxiter = 10000)
CI_CTRL <- list(tol = 1e-12)
# tight lme4 controls for rma.glmm (the reasons are in R/glmm.R)
GLMER_CTRL <- list(
  optimizer = c("bobyqa", "Nelder_Mead"),
  optCtrl = list(FtolAbs = 1e-15, FtolRel = 1e-15, XtolRel = 1e-15, xt = c(1e-12, 1e-12),
                 maxfun = 1e6),
  tolPwrss = 1e-12
)
# the warning bobyqa (lme4's first stage) gives for the Nelder-Mead-only options of GLMER_CTRL
LME4_UNUSED_CTRL <- "unused control arguments ignored"
ALL_METHODS <- c("FE", "DL", "HE", "HS", "SJ", "ML", "REML", "EB", "PM")
TESTS <- c("z", "knha")
Z975 <- qnorm(0.975)

# ---------------------------------------------------------------- encoding
num <- function(x) {
  # numeric vector -> JSON-ready: NA -> null, NaN/Inf -> strings; keeps length-1 as scalar
  if (is.null(x)) return(NA)
  x <- unname(as.numeric(x))
  special <- is.nan(x) | is.infinite(x)
  if (!any(special)) return(x)
  out <- as.list(x)
  for (i in which(special)) {
    out[[i]] <- if (is.nan(x[i])) "NaN" else if (x[i] > 0) "Inf" else "-Inf"
  }
  if (length(out) == 1L) out[[1]] else out
}

vec <- function(x) {
  # always an array, even of length 1
  v <- num(x)
  if (is.list(v)) v else I(v)
}

# Writes REF_DIR/<topic>.json and returns its path. `null`: how a NULL field is written ("null",
# or jsonlite's default "list": an empty object {}).
write_fixture <- function(out, topic, pretty, null = "null") {
  path <- file.path(REF_DIR, paste0(topic, ".json"))
  write_json(out, path, digits = NA, auto_unbox = TRUE, pretty = pretty, na = "null",
             null = null)
  path
}

# ---------------------------------------------------------------- fitting
# The value of `expr` (NULL if it failed), the messages of the warnings it raised (muffled; those
# matching the regular expression `drop` are not recorded) and its error message (or NULL).
capture <- function(expr, drop = NULL) {
  warns <- character(0)
  value <- tryCatch(
    withCallingHandlers(expr, warning = function(w) {
      msg <- conditionMessage(w)
      if (is.null(drop) || !grepl(drop, msg)) warns <<- c(warns, msg)
      invokeRestart("muffleWarning")
    }),
    error = function(e) structure(list(msg = conditionMessage(e)), class = "captured_error")
  )
  err <- if (inherits(value, "captured_error")) value$msg else NULL
  if (!is.null(err)) value <- NULL
  list(value = value, warnings = warns, error = err)
}

# metafor's back-transformation of a measure to the reporting scale (fun = NULL: none)
back_transf <- function(measure, ni) {
  switch(measure,
    GEN = list(fun = NULL, targs = NULL, name = "identity"),
    PR = list(fun = NULL, targs = NULL, name = "identity"),
    PLN = list(fun = exp, targs = NULL, name = "exp"),
    PLO = list(fun = transf.ilogit, targs = NULL, name = "transf.ilogit"),
    PAS = list(fun = transf.iarcsin, targs = NULL, name = "transf.iarcsin"),
    PFT = list(fun = transf.ipft.hm, targs = list(ni = ni),
               name = "transf.ipft.hm, targs = list(ni = ni) (harmonic mean of the raw ni)")
  )
}

# predict(res), back-transformed with `fun` (and its `targs`) unless fun is NULL
predict_transf <- function(res, fun = NULL, targs = NULL) {
  if (is.null(fun)) return(predict(res))
  if (is.null(targs)) predict(res, transf = fun) else predict(res, transf = fun, targs = targs)
}

# ---------------------------------------------------------------- datasets
# (yi, vi) of a dataset of bias.R / diagnostics.R: given for kind "generic", escalc(measure) of
# (events, n) for kind "proportion"
effects <- function(d, measure) {
  if (d$kind == "generic") return(list(yi = as.numeric(d$yi), vi = as.numeric(d$vi)))
  es <- escalc(measure, xi = as.numeric(d$events), ni = as.numeric(d$n))
  list(yi = as.numeric(es$yi), vi = as.numeric(es$vi))
}

# a proportion dataset of bias.R / diagnostics.R (kind "proportion": events out of n)
prop_dataset <- function(events, n, labels, source) {
  list(kind = "proportion", events = vec(events), n = vec(n), labels = I(labels), source = source)
}

# The proportion datasets of both bias.R and diagnostics.R, which describe dat.debruin2009 each in
# their own words (`debruin_source`).
shared_proportions <- function(debruin_source) {
  list(
    pritz1997 = prop_dataset(dat.pritz1997$xi, dat.pritz1997$ni,
                             as.character(dat.pritz1997$authors),
                             "metadat::dat.pritz1997 (xi, ni)"),
    debruin2009 = prop_dataset(dat.debruin2009$xi, dat.debruin2009$ni,
                               as.character(dat.debruin2009$author), debruin_source),
    ablation_inline = prop_dataset(c(20, 45, 30, 12, 38, 9, 25, 17),
                                   c(20, 48, 35, 15, 40, 12, 31, 30),
                                   paste0("Abl-", LETTERS[1:8]),
                                   "inline complete-ablation-like counts (one 20/20 study)")
  )
}

# the project study table (it may be absent when the fixtures are generated)
STUDIES_CSV <- normalizePath(file.path(REF_DIR, "..", "..", "data", "studies.csv"),
                             mustWork = FALSE)
studies_md5 <- function() unname(tools::md5sum(STUDIES_CSV))

# `datasets` plus one proportion dataset "studies_<outcome>" for every outcome of the study table
# with >= 3 rows with events and total (bias.R, diagnostics.R), and a note on what was found
add_study_outcomes <- function(datasets) {
  note <- "data/studies.csv not present"
  if (!file.exists(STUDIES_CSV)) return(list(datasets = datasets, note = note))
  st <- read.csv(STUDIES_CSV, stringsAsFactors = FALSE)
  note <- paste0("data/studies.csv md5 ", studies_md5())
  # complete_ablation and local_progression (the issue's examples) are always listed in the note
  has_counts <- !is.na(st$events) & !is.na(st$total)
  for (oc in sort(unique(c("complete_ablation", "local_progression", st$outcome[has_counts])))) {
    rows <- st[st$outcome == oc & has_counts, , drop = FALSE]
    note <- paste0(note, "; ", oc, ": ", nrow(rows), " rows with events/total")
    if (nrow(rows) >= 3) {
      datasets[[paste0("studies_", oc)]] <- prop_dataset(
        rows$events, rows$total, as.character(rows$study_id),
        paste0("data/studies.csv rows with outcome == '", oc, "' and events/total"))
    }
  }
  list(datasets = datasets, note = note)
}

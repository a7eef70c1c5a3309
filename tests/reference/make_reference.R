# Regenerates every R reference fixture used by the test suite.
#
#   Rscript tests/reference/make_reference.R            # all topics
#   Rscript tests/reference/make_reference.R engine     # one topic (file R/<topic>.R)
#
# Needs R >= 4.2 with metafor, metadat, lme4, Hmisc and jsonlite (Debian: r-base-core
# r-cran-metafor r-cran-metadat r-cran-lme4 r-cran-hmisc r-cran-jsonlite). Each topic script writes
# tests/reference/<topic>.json. Every topic runs in its own environment, with REF_DIR set and the
# shared helpers of helpers.R (encoding, controls, capture of warnings, ...) sourced first.
# Models are fitted with tight controls so the fixtures are the exact solutions, not metafor's
# default stopping rule: rma(control = list(threshold = 1e-12, tol = 1e-12, maxiter = 10000)),
# confint(control = list(tol = 1e-12)).
args <- commandArgs(trailingOnly = TRUE)
this_file <- sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))
ref_dir <- normalizePath(dirname(this_file))
topics <- if (length(args)) args else sub("\\.R$", "", list.files(file.path(ref_dir, "R"), pattern = "\\.R$"))
for (topic in topics) {
  message("== ", topic)
  env <- new.env()
  env$REF_DIR <- ref_dir
  sys.source(file.path(ref_dir, "helpers.R"), envir = env)
  sys.source(file.path(ref_dir, "R", paste0(topic, ".R")), envir = env)
}

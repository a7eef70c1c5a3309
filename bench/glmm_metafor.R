# Time metafor::rma.glmm on the GLMM workloads bench/glmm_bench.py wrote (one round).
#
#   Rscript bench/glmm_metafor.R <input dir> <output json>
#
# metafor's default controls (as a user would run it; lme4 glmer, nAGQ = 7). Each workload is
# repeated for about half a second after one warm-up call; the median seconds per call are
# written to <output json>.
suppressMessages({
  library(metafor)
  library(jsonlite)
})
args <- commandArgs(trailingOnly = TRUE)
dir <- args[1]
out <- args[2]

time_call <- function(f, budget = 0.5) {
  f()
  t1 <- system.time(f())[["elapsed"]]
  reps <- max(3L, min(15L, as.integer(budget / max(t1, 1e-3))))
  median(vapply(seq_len(reps), function(i) system.time(f())[["elapsed"]], numeric(1)))
}

res <- list()
for (name in c("plo_k20", "plo_k200", "plo_mods_k20", "plo_mods_k200")) {
  d <- read.csv(file.path(dir, paste0(name, ".csv")))
  f <- if (grepl("mods", name)) {
    function() suppressWarnings(rma.glmm(measure = "PLO", xi = d$xi, ni = d$ni, mods = ~ x,
                                         data = d))
  } else {
    function() suppressWarnings(rma.glmm(measure = "PLO", xi = d$xi, ni = d$ni))
  }
  res[[name]] <- time_call(f)
}
write_json(res, out, auto_unbox = TRUE, digits = NA)

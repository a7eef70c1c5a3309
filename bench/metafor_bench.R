# Time the benchmark workloads with metafor (one round), reading the inputs bench/run.py wrote.
#
#   Rscript bench/metafor_bench.R <input dir> <output json> [w2 analyses] [mode]
#
# mode "time" (default): metafor's default controls, as a user would run it; each workload is
# repeated and the median seconds per call reported. mode "tight": no timing; REML tau^2 of
# every W2 analysis with control = list(threshold = 1e-12, tol = 1e-12, maxiter = 10000)
# (where Fisher scoring does not converge, retried with stepadj = 0.5), written to
# <output json> for bench/run.py's accuracy check.
suppressMessages(library(metafor))
suppressMessages(library(jsonlite))

args <- commandArgs(trailingOnly = TRUE)
dir <- args[1]
out <- args[2]
n_w2 <- if (length(args) >= 3) as.integer(args[3]) else NA
mode <- if (length(args) >= 4) args[4] else "time"

read <- function(name) read.csv(file.path(dir, name))
w2 <- read("w2.csv")
sims <- split(w2, w2$sim)
if (!is.na(n_w2)) sims <- sims[seq_len(min(n_w2, length(sims)))]

tight <- list(threshold = 1e-12, tol = 1e-12, maxiter = 10000)

if (mode == "tight") {
  fit_tight <- function(d) {
    r <- try(rma(d$yi, d$vi, method = "REML", control = tight), silent = TRUE)
    adj <- FALSE
    if (inherits(r, "try-error")) {
      r <- rma(d$yi, d$vi, method = "REML", control = c(tight, list(stepadj = 0.5)))
      adj <- TRUE
    }
    c(r$tau2, adj)
  }
  res <- t(vapply(sims, fit_tight, numeric(2)))
  write_json(list(sim = as.integer(names(sims)), tau2 = unname(res[, 1]),
                  stepadj = unname(res[, 2] == 1)), out, digits = NA)
  quit(save = "no")
}

# median seconds per call of f over `reps` calls (after one warm-up call)
timeit <- function(f, reps) {
  f()
  ts <- vapply(seq_len(reps), function(i) system.time(f())[["elapsed"]], numeric(1))
  median(ts)
}
# median seconds per call for fast calls: blocks of `inner` calls
timeit_fast <- function(f, inner, blocks = 5) {
  f()
  ts <- vapply(seq_len(blocks), function(i)
    system.time(for (j in seq_len(inner)) f())[["elapsed"]] / inner, numeric(1))
  median(ts)
}

w1 <- read("w1.csv")
loo <- read("w4_loo.csv")
gosh_d <- read("w4_gosh.csv")
w3 <- read("w3.csv")

res_w1 <- timeit_fast(function() rma(w1$yi, w1$vi, method = "REML", test = "knha"), 200)
# W2: a loop over the analyses; where metafor's Fisher scoring fails it stops with an error
# (try() as a user's loop would need); count the failures
n_fail <- 0
t_w2 <- system.time(for (d in sims) {
  r <- try(rma(d$yi, d$vi, method = "REML"), silent = TRUE)
  if (inherits(r, "try-error")) n_fail <- n_fail + 1
})[["elapsed"]]
# W3: one analysis of 1e5 studies (rma builds k x k matrices)
w3_msg <- tryCatch({
  t3 <- system.time(rma(w3$yi, w3$vi, method = "REML"))[["elapsed"]]
  sprintf("%.3f", t3)
}, error = function(e) conditionMessage(e))
fit_loo <- rma(loo$yi, loo$vi, method = "REML")
res_loo <- timeit_fast(function() leave1out(fit_loo), 10)
fit_gosh <- rma(gosh_d$yi, gosh_d$vi, method = "DL")
res_gosh <- timeit(function() gosh(fit_gosh, progbar = FALSE), 2)

write_json(list(
  W1 = res_w1, W2 = t_w2, W2_n = length(sims), W2_failures = n_fail,
  W3 = w3_msg, W4_loo = res_loo, W4_gosh = res_gosh,
  r_version = R.version.string, metafor_version = as.character(packageVersion("metafor"))
), out, auto_unbox = TRUE, digits = NA)

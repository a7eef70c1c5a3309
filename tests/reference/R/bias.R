# Reference fixtures for the small-study-effect tests (iometa.egger_test, begg_test, peters_test,
# trim_and_fill). Writes tests/reference/bias.json.
#
#   Rscript tests/reference/make_reference.R bias
#
# Sourced by make_reference.R with REF_DIR set (the tests/reference folder), after helpers.R
# (num, vec, CTRL, back_transf, effects, add_study_outcomes, write_fixture, ...).
#
# metafor 3.8-1 conventions recorded here (from the sources of regtest, ranktest,
# trimfill.rma.uni and stats:::cor.test.default):
#   * regtest(model): rma(yi ~ sqrt(vi)) with the model's method, test, level (and fixed tau^2);
#     the statistic is the z (or t, df = k - 2) of the slope; the limit estimate is the
#     intercept with the model's CI. regtest(model = "lm", predictor = "ninv"): lm(yi ~ 1/ni,
#     weights = 1/vi), t test with k - 2 df; limit estimate = intercept, t CI.
#   * ranktest: Kendall's tau (tau-b) between (yi - b_FE)/sqrt(vi - 1/sum(1/vi)) and vi;
#     cor.test(exact = TRUE): exact p without ties in either variable (for any k), otherwise the
#     normal approximation with the tie-corrected variance and no continuity correction.
#   * trimfill: side = "right" when the slope of rma(yi ~ sqrt(vi), method = model's) is < 0,
#     else "left"; studies sorted stably; k0 = max(0, round(k0)) (R rounds half to even);
#     the filled model is rma(method = model's) with test = "z" AND level = 95% (the defaults;
#     trimfill passes neither); with k0 = 0 the input model is returned unchanged. `control` is
#     passed through `...` to every internal rma() call.
bcg <- escalc("RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)
datasets <- c(list(
  bcg = list(kind = "generic", yi = vec(bcg$yi), vi = vec(bcg$vi),
             labels = I(paste(bcg$author, bcg$year)),
             n = vec(dat.bcg$tpos + dat.bcg$tneg + dat.bcg$cpos + dat.bcg$cneg),
             source = "metadat::dat.bcg, escalc('RR'); n = total sample size of both arms"),
  asym_inline = list(kind = "generic",
                     yi = vec(c(0.10, 0.15, 0.32, 0.45, 0.52, 0.61, 0.70, 0.85, 0.05, 0.30)),
                     vi = vec(c(0.010, 0.012, 0.030, 0.050, 0.060, 0.080, 0.090, 0.120, 0.008,
                                0.020)),
                     labels = I(paste0("Asym-", 1:10)),
                     n = vec(c(400, 340, 140, 85, 70, 52, 45, 35, 500, 200)),
                     source = "inline: small studies show larger effects (k0 > 0 on the left)")),
  shared_proportions("metadat::dat.debruin2009; studies 1 and 6 are both 11/29 (ties)"),
  list(equal_n_inline = prop_dataset(c(3, 7, 12, 5, 9, 4, 15, 6),
                                     c(40, 40, 60, 40, 60, 25, 60, 25), paste0("EqN-", 1:8),
                                     "inline: repeated n (ties in vi under PAS/PFT)"))
)

# project study table: every outcome with >= 3 rows with events and total
studies <- add_study_outcomes(datasets)
datasets <- studies$datasets
studies_note <- studies$note

fit_model <- function(e, method, test, level = 95, tau2 = NULL) {
  args <- list(yi = e$yi, vi = e$vi, method = method, test = test, level = level,
               control = CTRL)
  if (!is.null(tau2)) args$tau2 <- tau2
  suppressWarnings(do.call(rma, args))
}

reg_block <- function(rt) {
  list(stat = num(rt$zval), pval = num(rt$pval), df = num(rt$dfs),
       limit_estimate = num(rt$est), limit_ci_low = num(rt$ci.lb),
       limit_ci_high = num(rt$ci.ub), slope = num(coef(rt$fit)[2]),
       tau2 = if (inherits(rt$fit, "rma")) num(rt$fit$tau2) else NA)
}

tf_block <- function(res, estimator, side, bt) {
  tf <- if (is.null(side)) suppressWarnings(trimfill(res, estimator = estimator, control = CTRL))
        else suppressWarnings(trimfill(res, estimator = estimator, side = side, control = CTRL))
  p <- predict_transf(tf, bt$fun, bt$targs)
  fill <- tf$fill
  list(estimator = estimator, side_arg = if (is.null(side)) NA else side, k0 = tf$k0,
       side = tf$side, se_k0 = num(tf$se.k0), p_k0 = num(tf$p.k0), coef = num(tf$beta), se = num(tf$se),
       coef_ci_low = num(tf$ci.lb), coef_ci_high = num(tf$ci.ub), test = tf$test,
       tau2 = num(tf$tau2), k = tf$k, estimate = num(p$pred), ci_low = num(p$ci.lb),
       ci_high = num(p$ci.ub), filled_yi = vec(tf$yi[fill]), filled_vi = vec(tf$vi[fill]),
       filled_labels = I(as.character(tf$slab[fill])),
       filled_n = if (any(fill) && !is.null(tf$ni)) vec(tf$ni[fill]) else I(numeric(0)))
}

cases <- list()
add_case <- function(dname, measure, method, test, level = 95, tau2 = NULL) {
  d <- datasets[[dname]]
  e <- effects(d, measure)
  ni <- as.numeric(d$n)
  bt <- back_transf(measure, ni)
  res <- fit_model(e, method, test, level, tau2)
  id <- paste(dname, measure, method, test, sep = "-")
  if (level != 95) id <- paste0(id, "-L", level)
  if (!is.null(tau2)) id <- paste0(id, "-tau2=", tau2)
  rk <- suppressWarnings(ranktest(res))
  rk_ties <- {
    ys <- (e$yi - sum(e$yi / e$vi) / sum(1 / e$vi)) / sqrt(e$vi - 1 / sum(1 / e$vi))
    min(length(unique(ys)), length(unique(e$vi))) < length(e$yi)
  }
  case <- list(id = id, dataset = dname, measure = measure, method = method, test = test,
               level = level, tau2_fixed = if (is.null(tau2)) NA else tau2,
               egger = reg_block(suppressWarnings(regtest(res))),
               begg = list(stat = num(rk$tau), pval = num(rk$pval), ties = rk_ties))
  if (length(ni) == length(e$yi)) {
    case$peters <- reg_block(suppressWarnings(regtest(res, model = "lm", predictor = "ninv",
                                                       ni = ni)))
  }
  if (is.null(tau2)) {
    q0 <- tryCatch(tf_block(res, "Q0", NULL, bt),
                   error = function(e) list(estimator = "Q0", side_arg = NA,
                                            error = conditionMessage(e)))
    case$trimfill <- list(tf_block(res, "L0", NULL, bt), tf_block(res, "R0", NULL, bt),
                          tf_block(res, "L0", "left", bt), tf_block(res, "L0", "right", bt), q0)
  }
  cases[[length(cases) + 1]] <<- case
}

for (method in ALL_METHODS) {
  for (test in TESTS) add_case("bcg", "GEN", method, test)
}
for (method in c("FE", "DL", "REML", "PM")) for (test in TESTS) {
  add_case("asym_inline", "GEN", method, test)
}
add_case("asym_inline", "GEN", "REML", "z", level = 90)
add_case("bcg", "GEN", "REML", "knha", level = 90)
for (test in TESTS) add_case("bcg", "GEN", "REML", test, tau2 = 0.1)
for (dname in names(datasets)) {
  if (datasets[[dname]]$kind != "proportion") next
  for (measure in c("PLO", "PFT", "PAS")) for (method in c("FE", "DL", "REML", "PM")) {
    for (test in TESTS) add_case(dname, measure, method, test)
  }
}

# ranktest on raw vectors with hand-made ties / no ties, and exact p for larger k
rank_cases <- list()
set.seed(20240611)
for (k in c(5, 12, 30, 60)) {
  yi <- round(rnorm(k, 0, 0.5), 3)
  vi <- round(runif(k, 0.01, 0.2), 3)
  for (tie in c(FALSE, TRUE)) {
    v <- vi
    if (tie) v[2] <- v[1]
    rk <- suppressWarnings(ranktest(yi, v))
    ys <- (yi - sum(yi / v) / sum(1 / v)) / sqrt(v - 1 / sum(1 / v))
    rank_cases[[length(rank_cases) + 1]] <- list(
      yi = vec(yi), vi = vec(v), tau = num(rk$tau), pval = num(rk$pval), forced_tie = tie,
      ties = min(length(unique(ys)), length(unique(v))) < k)
  }
}

out <- list(
  meta = list(topic = "bias", r_version = R.version.string,
              metafor_version = as.character(packageVersion("metafor")),
              date = format(Sys.time(), "%Y-%m-%d %H:%M:%S %Z"), rma_control = CTRL,
              studies_csv = studies_note),
  datasets = datasets, cases = cases, ranktest_raw = rank_cases)
path <- write_fixture(out, "bias", pretty = FALSE)
message("wrote ", path, " (", length(cases), " cases)")

# Reference fixtures for the sensitivity and influence diagnostics (iometa.leave_one_out,
# influence, cumulative, baujat, gosh, method_sensitivity). Writes tests/reference/diagnostics.json.
#
#   Rscript tests/reference/make_reference.R diagnostics
#
# Sourced by make_reference.R with REF_DIR set (the tests/reference folder), after helpers.R
# (num, vec, CTRL, GLMER_CTRL, back_transf, effects, add_study_outcomes, write_fixture, ...).
#
# JSON encoding (read by tests/test_diagnostics.py): as in helpers.R (digits = NA, R NA -> null,
# NaN/Inf -> "NaN"/"Inf"/"-Inf").
#
# metafor 3.8-1 conventions recorded here (read from the sources of leave1out.rma.uni,
# influence.rma.uni, hatvalues.rma.uni, cumul.rma.uni, baujat.rma, gosh.rma, .profile.rma.uni):
#   * leave1out/cumul/influence/baujat refit every subset with the model's method, test and
#     level (a fixed tau^2 stays fixed); a one-study fit (the first cumul step) uses test "z".
#   * influence: DFFITS, DFBETAS and rstudent are scaled by the deleted fit's Knapp-Hartung
#     factor s2w (1 under test "z"); DFBETAS uses vb.del = 1 / sum over ALL k studies of
#     1/(vi + tau2.del); Cook's distance and cov.r use the full model's vcov (with its s2w).
#   * baujat: x = (yi - b)^2 / (vi + tau2) with the fitted model's tau2; y = (b.del - b)^2 /
#     var(b.del) where the deleted fits RE-ESTIMATE tau2 (not fixed at the model's value).
#   * gosh: all 2^k - 1 subsets of size >= 1 (p = 1) when there are <= 1e6 of them, ordered by
#     subset size (stable, expand.grid order: study 1 varies fastest). For DL (and FE) metafor
#     uses a closed form in which I^2 = max(0, 100 (Q - (k-1)) / Q) and H^2 = Q / (k - 1) even
#     when tau^2 is truncated at 0 (so H^2 can be < 1); one-study subsets have Q = 0, I^2 = 0,
#     H^2 = 1, tau^2 = 0.
# ---------------------------------------------------------------- datasets
bcg <- escalc("RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)
datasets <- c(list(
  bcg = list(kind = "generic", yi = vec(bcg$yi), vi = vec(bcg$vi),
             labels = I(paste(bcg$author, bcg$year)), year = vec(bcg$year),
             source = "metadat::dat.bcg, escalc('RR', ai=tpos, bi=tneg, ci=cpos, di=cneg)")),
  shared_proportions("metadat::dat.debruin2009 (xi, ni); studies 1 and 6 are both 11/29")
)

# project study table: every outcome with >= 3 rows with events and total
studies <- add_study_outcomes(datasets)
datasets <- studies$datasets
studies_note <- studies$note

fit_model <- function(e, method, test, tau2 = NULL) {
  args <- list(yi = e$yi, vi = e$vi, method = method, test = test, control = CTRL)
  if (!is.null(tau2)) args$tau2 <- tau2
  suppressWarnings(do.call(rma, args))
}

apply_bt <- function(x, bt) {
  if (is.null(bt$fun)) return(x)
  if (is.null(bt$targs)) sapply(x, bt$fun) else sapply(x, bt$fun, bt$targs)
}

# ---------------------------------------------------------------- leave1out (+ PI by refits)
l1o_block <- function(res, e, bt, method, test, tau2) {
  l <- suppressWarnings(leave1out(res))
  k <- length(e$yi)
  pil <- piu <- rep(NA_real_, k)
  for (i in seq_len(k)) {
    ri <- fit_model(list(yi = e$yi[-i], vi = e$vi[-i]), method, test, tau2)
    p <- predict(ri)
    if (!is.null(p$pi.lb)) {
      pil[i] <- p$pi.lb
      piu[i] <- p$pi.ub
    }
  }
  list(coef = vec(l$estimate), se = vec(l$se), stat = vec(l$zval %||% l$tval),
       pval = vec(l$pval), coef_ci_low = vec(l$ci.lb), coef_ci_high = vec(l$ci.ub),
       coef_pi_low = vec(pil), coef_pi_high = vec(piu),
       estimate = vec(apply_bt(l$estimate, bt)), ci_low = vec(apply_bt(l$ci.lb, bt)),
       ci_high = vec(apply_bt(l$ci.ub, bt)), pi_low = vec(apply_bt(pil, bt)),
       pi_high = vec(apply_bt(piu, bt)),
       q = vec(l$Q), q_pval = vec(l$Qp), tau2 = vec(if (is.null(l$tau2)) rep(0, k) else l$tau2),
       i2 = vec(l$I2), h2 = vec(l$H2))
}
`%||%` <- function(a, b) if (is.null(a)) b else a

inf_block <- function(res) {
  inf <- suppressWarnings(influence(res))
  list(rstudent = vec(inf$inf$rstudent), dffits = vec(inf$inf$dffits),
       cooks_d = vec(inf$inf$cook.d), cov_r = vec(inf$inf$cov.r),
       tau2_del = vec(inf$inf$tau2.del), qe_del = vec(inf$inf$QE.del),
       hat = vec(inf$inf$hat), weight = vec(inf$inf$weight),
       dfbetas = vec(inf$dfbs$intrcpt), influential = I(as.logical(inf$is.infl)))
}

cumul_block <- function(res, order, bt) {
  cm <- if (is.null(order)) suppressWarnings(cumul(res)) else suppressWarnings(do.call(cumul, list(res, order = order)))
  k <- length(cm$estimate)
  list(labels = I(as.character(cm$slab)), coef = vec(cm$estimate), se = vec(cm$se),
       stat = vec(cm$zval %||% cm$tval), pval = vec(cm$pvals),
       coef_ci_low = vec(cm$ci.lb), coef_ci_high = vec(cm$ci.ub),
       estimate = vec(apply_bt(cm$estimate, bt)), ci_low = vec(apply_bt(cm$ci.lb, bt)),
       ci_high = vec(apply_bt(cm$ci.ub, bt)), q = vec(cm$Q), q_pval = vec(cm$Qp),
       tau2 = vec(if (is.null(cm$tau2)) rep(0, k) else cm$tau2), i2 = vec(cm$I2),
       h2 = vec(cm$H2))
}

baujat_block <- function(res) {
  pdf(NULL)
  b <- suppressWarnings(baujat(res))
  dev.off()
  list(x = vec(b$x), y = vec(b$y))
}

cases <- list()
add_case <- function(dname, measure, method, test, tau2 = NULL, order = NULL, order_name = NULL) {
  d <- datasets[[dname]]
  e <- effects(d, measure)
  bt <- back_transf(measure, as.numeric(d$n))
  res <- fit_model(e, method, test, tau2)
  id <- paste(dname, measure, method, test, sep = "-")
  if (!is.null(tau2)) id <- paste0(id, "-tau2=", tau2)
  case <- list(id = id, dataset = dname, measure = measure, method = method, test = test,
               tau2_fixed = if (is.null(tau2)) NA else tau2, k = res$k,
               full = list(coef = num(res$beta), tau2 = num(res$tau2)),
               leave1out = l1o_block(res, e, bt, method, test, tau2),
               influence = inf_block(res), baujat = baujat_block(res),
               cumul = cumul_block(res, NULL, bt))
  if (!is.null(order)) {
    case$cumul_ordered <- c(list(order_by = order_name), cumul_block(res, order, bt))
  }
  cases[[length(cases) + 1]] <<- case
}

for (method in ALL_METHODS) for (test in TESTS) {
  add_case("bcg", "GEN", method, test, order = dat.bcg$year, order_name = "year")
}
for (test in TESTS) add_case("bcg", "GEN", "REML", test, tau2 = 0.1)
prop_names <- setdiff(names(datasets), "bcg")
for (dname in prop_names) for (measure in c("PLO", "PFT", "PAS")) {
  for (method in c("FE", "DL", "REML", "PM")) for (test in TESTS) {
    add_case(dname, measure, method, test, order = as.numeric(datasets[[dname]]$n),
             order_name = "n")
  }
}

# ---------------------------------------------------------------- GOSH (all subsets, k = 8)
gosh_cases <- list()
for (spec in list(list("bcg", "GEN"), list("ablation_inline", "PLO"), list("pritz1997", "PFT"))) {
  d <- datasets[[spec[[1]]]]
  e <- effects(d, spec[[2]])
  e8 <- list(yi = e$yi[1:8], vi = e$vi[1:8])
  for (method in c("FE", "DL", "REML", "PM")) {
    res <- fit_model(e8, method, "z")
    g <- suppressWarnings(gosh(res, progbar = FALSE))
    incl <- apply(g$incl, 1, function(r) paste(as.integer(r), collapse = ""))
    gosh_cases[[length(gosh_cases) + 1]] <- list(
      id = paste(spec[[1]], spec[[2]], method, "first8", sep = "-"), dataset = spec[[1]],
      measure = spec[[2]], method = method, studies = I(1:8),
      k = vec(g$res$k), q = vec(g$res$QE), i2 = vec(g$res$I2), h2 = vec(g$res$H2),
      tau2 = vec(g$res$tau2), coef = vec(g$res$estimate), incl = I(incl))
  }
}

# ---------------------------------------------------------------- method sensitivity
sens_cases <- list()
for (dname in prop_names) {
  d <- datasets[[dname]]
  xi <- as.numeric(d$events)
  ni <- as.numeric(d$n)
  rows <- list()
  for (measure in c("PLO", "PAS", "PFT")) {
    es <- escalc(measure, xi = xi, ni = ni)
    bt <- back_transf(measure, ni)
    for (method in c("DL", "REML", "PM")) for (test in TESTS) {
      res <- fit_model(list(yi = as.numeric(es$yi), vi = as.numeric(es$vi)), method, test)
      p <- predict_transf(res, bt$fun, bt$targs)
      rows[[length(rows) + 1]] <- list(
        measure = measure, method = method, test = test, coef = num(res$beta),
        estimate = num(p$pred), ci_low = num(p$ci.lb), ci_high = num(p$ci.ub),
        pi_low = num(p$pi.lb), pi_high = num(p$pi.ub), tau2 = num(res$tau2),
        i2 = num(res$I2), k = res$k)
    }
  }
  for (test in c("z", "t")) {
    res <- suppressWarnings(rma.glmm(measure = "PLO", xi = xi, ni = ni, test = test,
                                     control = list(glmerCtrl = GLMER_CTRL)))
    p <- predict(res, transf = transf.ilogit)
    rows[[length(rows) + 1]] <- list(
      measure = "PLO", method = "GLMM", test = if (test == "t") "knha" else "z",
      coef = num(res$beta), estimate = num(p$pred), ci_low = num(p$ci.lb),
      ci_high = num(p$ci.ub), pi_low = num(p$pi.lb), pi_high = num(p$pi.ub),
      tau2 = num(res$tau2), i2 = num(res$I2), k = res$k)
  }
  sens_cases[[length(sens_cases) + 1]] <- list(dataset = dname, rows = rows)
}

out <- list(
  meta = list(topic = "diagnostics", r_version = R.version.string,
              metafor_version = as.character(packageVersion("metafor")),
              date = format(Sys.time(), "%Y-%m-%d %H:%M:%S %Z"), rma_control = CTRL,
              studies_csv = studies_note,
              glmm = "rma.glmm(measure='PLO', test='z'|'t', nAGQ = 7) with tight glmerControl (as glmm.R)"),
  datasets = datasets, cases = cases, gosh = gosh_cases, sensitivity = sens_cases)
path <- write_fixture(out, "diagnostics", pretty = FALSE)
message("wrote ", path, " (", length(cases), " cases, ", length(gosh_cases), " gosh)")

# Reference fixtures for the pooling engine (iometa.pool / iometa.pool_proportions and the
# study-level Clopper-Pearson / Wilson intervals).  Writes tests/reference/engine.json.
#
#   Rscript tests/reference/make_reference.R engine
#
# Sourced by make_reference.R with REF_DIR set (the tests/reference folder), after helpers.R
# (num, vec, capture, CTRL, CI_CTRL, back_transf, write_fixture, ...).
#
# JSON encoding (helpers.R; read by tests/test_reference_engine.py through tests/_fixture.py):
#   * numbers are written with jsonlite digits = NA (15 significant digits);
#   * R NA (and anything metafor does not compute, e.g. the prediction interval of an FE
#     model, the tau^2 CI of an FE model or of k = 1) is written as null;
#   * IEEE specials are written as the strings "NaN", "Inf", "-Inf";
#   * a fit that failed in R has "error": "<message>" and no numbers; warnings R raised are
#     listed in "warnings" (fit + predict) and "confint_warnings" / "confint_error".
#
# Conventions used (metafor 3.8-1; read from the sources of escalc, rma.uni, predict.rma and
# confint.rma.uni):
#   * escalc(PR/PLN/PLO): add = 1/2, to = "only0" (a study with xi = 0 or xi = ni gets 1/2
#     added to events and non-events, so ni + 1); PAS and PFT: add = 0 unless given.
#   * the fixed-effect model is method = "FE" (3.8-1 also accepts "EE" and "CE").
#   * predict() drops pi.lb/pi.ub for FE models -> recorded as null with pi_available = FALSE.
#   * confint() stops for FE models, for k = 1 and for a fixed tau^2 -> null + confint_error.
METHODS <- ALL_METHODS
MEASURES <- c("PR", "PLN", "PLO", "PAS", "PFT")

# ---------------------------------------------------------------- datasets
pritz <- dat.pritz1997
debruin <- dat.debruin2009
prop_data <- list(
  pritz1997 = list(
    events = pritz$xi, n = pritz$ni, labels = as.character(pritz$authors),
    source = "metadat::dat.pritz1997 (xi, ni); contains two 100% studies (10/10, 12/12)"
  ),
  debruin2009 = list(
    events = debruin$xi, n = debruin$ni, labels = as.character(debruin$author),
    source = "metadat::dat.debruin2009 (xi, ni)"
  ),
  ablation_inline = list(
    events = c(20, 45, 30, 12, 38, 9), n = c(20, 48, 35, 15, 40, 12),
    labels = c("Abl-A", "Abl-B", "Abl-C", "Abl-D", "Abl-E", "Abl-F"),
    source = "inline complete-ablation-like counts; study Abl-A is 20/20 (100%)"
  ),
  progression_inline = list(
    events = c(13, 0, 7, 9, 5), n = c(51, 20, 30, 40, 60),
    labels = c("LTP-A", "LTP-B", "LTP-C", "LTP-D", "LTP-E"),
    source = "inline local-progression-like counts; study LTP-B is 0/20"
  ),
  extremes_inline = list(
    events = c(0, 12, 3, 5), n = c(12, 12, 10, 9),
    labels = c("Ext-A", "Ext-B", "Ext-C", "Ext-D"),
    source = "inline: one 0/12 and one 12/12 study in the same meta-analysis"
  ),
  homogeneous_inline = list(
    events = c(10, 11, 9, 12), n = c(50, 52, 48, 55),
    labels = c("Hom-A", "Hom-B", "Hom-C", "Hom-D"),
    source = "inline near-identical proportions: tau^2 = 0 for most estimators (Q < k - 1)"
  ),
  pritz1997_k1 = list(
    events = pritz$xi[1], n = pritz$ni[1], labels = as.character(pritz$authors[1]),
    source = "first study of dat.pritz1997 (k = 1)"
  ),
  pritz1997_k2 = list(
    events = pritz$xi[1:2], n = pritz$ni[1:2], labels = as.character(pritz$authors[1:2]),
    source = "first 2 studies of dat.pritz1997 (k = 2)"
  ),
  pritz1997_k3 = list(
    events = pritz$xi[1:3], n = pritz$ni[1:3], labels = as.character(pritz$authors[1:3]),
    source = "first 3 studies of dat.pritz1997 (k = 3)"
  )
)

# project study table, if present: every row of the outcome with events and total
studies_note <- "data/studies.csv not present when the fixtures were generated"
if (file.exists(STUDIES_CSV)) {
  st <- read.csv(STUDIES_CSV, stringsAsFactors = FALSE)
  studies_note <- paste0("data/studies.csv present (md5 ", studies_md5(), ", ", nrow(st),
                         " rows)")
  if (all(c("outcome", "events", "total") %in% names(st))) {
    for (oc in c("complete_ablation", "local_progression")) {
      rows <- st[st$outcome == oc & !is.na(st$events) & !is.na(st$total), , drop = FALSE]
      studies_note <- paste0(studies_note, "; ", oc, ": ", sum(st$outcome == oc), " rows, ",
                             nrow(rows), " with events and total")
      if (nrow(rows) >= 1) {
        ids <- if ("study_id" %in% names(rows)) as.character(rows$study_id) else
          as.character(seq_len(nrow(rows)))
        prop_data[[paste0("studies_", oc)]] <- list(
          events = as.numeric(rows$events), n = as.numeric(rows$total), labels = ids,
          study_ids = ids,
          source = paste0("data/studies.csv, all rows with outcome == '", oc,
                          "' and events/total present")
        )
      }
    }
  }
}

normand <- escalc("MD", m1i = m1i, sd1i = sd1i, n1i = n1i, m2i = m2i, sd2i = sd2i, n2i = n2i,
                  data = dat.normand1999)
bcg <- escalc("RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)
hack <- dat.hackshaw1998
gen_data <- list(
  bcg = list(yi = as.numeric(bcg$yi), vi = as.numeric(bcg$vi),
             labels = paste(bcg$author, bcg$year),
             source = "metadat::dat.bcg, escalc('RR', ai=tpos, bi=tneg, ci=cpos, di=cneg)"),
  normand1999 = list(yi = as.numeric(normand$yi), vi = as.numeric(normand$vi),
                     labels = as.character(normand$source),
                     source = "metadat::dat.normand1999, escalc('MD', m1i, sd1i, n1i, m2i, sd2i, n2i)"),
  hackshaw1998 = list(yi = hack$yi, vi = hack$vi,
                      labels = paste(hack$author, hack$year),
                      source = "metadat::dat.hackshaw1998 (yi, vi as shipped: log odds ratios)")
)

# ---------------------------------------------------------------- one fit
fit_one <- function(yi, vi, method, test, level, tau2 = NULL, bt = NULL) {
  args <- list(yi = yi, vi = vi, method = method, test = test, level = 100 * level,
               control = CTRL)
  if (!is.null(tau2)) args$tau2 <- tau2
  out <- list()
  fit <- capture(do.call(rma, args))
  out$warnings <- I(fit$warnings)
  if (!is.null(fit$error)) {
    out$error <- fit$error
    return(out)
  }
  res <- fit$value
  pr <- capture(predict(res))
  out$warnings <- I(c(out$warnings, pr$warnings))
  p <- pr$value
  fe <- is.element(res$method, c("FE", "EE", "CE"))
  out$r_method <- res$method
  out$r_test <- res$test
  out$k <- res$k
  out$weights <- vec(weights(res))
  out$coef <- num(res$beta[1])
  out$se <- num(res$se)
  out$stat <- num(res$zval)
  out$pval <- num(res$pval)
  out$coef_ci_low <- num(res$ci.lb)
  out$coef_ci_high <- num(res$ci.ub)
  out$pi_available <- !is.null(p$pi.lb)
  out$coef_pi_low <- num(p$pi.lb)
  out$coef_pi_high <- num(p$pi.ub)
  out$df <- if (res$test == "z") NA else num(res$ddf)
  out$tau2 <- num(res$tau2)
  out$tau2_fixed <- isTRUE(res$tau2.fix)
  out$i2 <- num(res$I2)
  out$h2 <- num(res$H2)
  out$q <- num(res$QE)
  out$q_df <- res$k - res$p
  out$q_pval <- num(res$QEp)
  out$vt <- num(res$vt)
  # reporting scale
  if (!is.null(bt)) {
    pt <- if (is.null(bt$fun)) p else predict_transf(res, bt$fun, bt$targs)
    out$estimate <- num(pt$pred)
    out$ci_low <- num(pt$ci.lb)
    out$ci_high <- num(pt$ci.ub)
    out$pi_low <- num(pt$pi.lb)
    out$pi_high <- num(pt$pi.ub)
    out$transf <- bt$name
  }
  # heterogeneity CIs (Q-profile)
  ci <- capture(confint(res, control = CI_CTRL))
  out$confint_warnings <- I(ci$warnings)
  if (!is.null(ci$error)) {
    out$confint_error <- ci$error
    out$tau2_ci <- vec(c(NA, NA))
    out$i2_ci <- vec(c(NA, NA))
    out$h2_ci <- vec(c(NA, NA))
  } else {
    rnd <- ci$value$random
    out$tau2_ci <- vec(rnd["tau^2", c("ci.lb", "ci.ub")])
    out$i2_ci <- vec(rnd["I^2(%)", c("ci.lb", "ci.ub")])
    out$h2_ci <- vec(rnd["H^2", c("ci.lb", "ci.ub")])
    out$confint_ci_null <- isTRUE(ci$value$ci.null)
    out$confint_signs <- I(c(ci$value$lb.sign, ci$value$ub.sign))
  }
  if (fe) out$note <- "FE model: predict() gives no prediction interval; confint() has no random part"
  out
}

case_id <- function(...) paste(..., sep = "-")

cases <- list()
add_case <- function(case) {
  cases[[length(cases) + 1]] <<- case
}

# ---------------------------------------------------------------- proportion cases
prop_cases <- function(dname, levels, methods, tests, group) {
  d <- prop_data[[dname]]
  for (measure in MEASURES) {
    es <- escalc(measure = measure, xi = d$events, ni = d$n)
    bt <- back_transf(measure, d$n)
    for (level in levels) {
      for (method in methods) {
        for (test in tests) {
          id <- case_id(dname, measure, method, test)
          if (level != 0.95) id <- paste0(id, "-L", round(100 * level))
          case <- list(id = id, group = group, kind = "proportion", dataset = dname,
                       measure = measure, method = method, test = test, level = level,
                       events = vec(d$events), n = vec(d$n), labels = I(d$labels),
                       yi = vec(es$yi), vi = vec(es$vi))
          case <- c(case, fit_one(as.numeric(es$yi), as.numeric(es$vi), method, test, level,
                                  bt = bt))
          add_case(case)
        }
      }
    }
  }
}

for (dname in names(prop_data)) prop_cases(dname, 0.95, METHODS, TESTS, "proportion")
for (dname in c("pritz1997", "progression_inline", "pritz1997_k3")) {
  prop_cases(dname, 0.90, c("FE", "DL", "REML", "PM"), TESTS, "proportion_level90")
}

# ---------------------------------------------------------------- generic (yi, vi) cases
gen_cases <- function(dname, levels, methods, tests, group, tau2 = NULL) {
  d <- gen_data[[dname]]
  for (level in levels) {
    for (method in methods) {
      for (test in tests) {
        id <- case_id(dname, "GEN", method, test)
        if (!is.null(tau2)) id <- case_id(dname, "GEN", paste0("tau2=", tau2), test)
        if (level != 0.95) id <- paste0(id, "-L", round(100 * level))
        case <- list(id = id, group = group, kind = "generic", dataset = dname,
                     measure = "GEN", method = method, test = test, level = level,
                     labels = I(d$labels), yi = vec(d$yi), vi = vec(d$vi),
                     tau2_arg = if (is.null(tau2)) NA else tau2)
        case <- c(case, fit_one(d$yi, d$vi, method, test, level, tau2 = tau2))
        add_case(case)
      }
    }
  }
}

for (dname in names(gen_data)) gen_cases(dname, 0.95, METHODS, TESTS, "generic")
gen_cases("bcg", 0.90, c("FE", "DL", "REML"), TESTS, "generic_level90")
# fixed tau^2: rma(yi, vi, tau2 = 0.1) (method left at its default, REML, which is then unused)
gen_cases("bcg", 0.95, "REML", TESTS, "tau2_fixed", tau2 = 0.1)
gen_cases("normand1999", 0.95, "REML", TESTS, "tau2_fixed", tau2 = 0.1)
gen_cases("bcg", 0.90, "REML", TESTS, "tau2_fixed", tau2 = 0.1)

# ---------------------------------------------------------------- study-level CIs
study_ci <- list()
ci_pairs <- list(c(0, 12), c(12, 12), c(13, 51), c(1, 1), c(0, 1), c(7, 30), c(45, 48),
                 c(1, 100))
for (lv in c(0.95, 0.90)) {
  for (xn in ci_pairs) {
    x <- xn[1]
    n <- xn[2]
    cp <- binom.test(x, n, conf.level = lv)$conf.int
    wl <- capture(prop.test(x, n, conf.level = lv, correct = FALSE)$conf.int)
    study_ci[[length(study_ci) + 1]] <- list(
      events = x, n = n, level = lv,
      clopper_pearson = vec(cp[1:2]),
      wilson = vec(wl$value[1:2]),
      wilson_r_warnings = I(wl$warnings)
    )
  }
}

# ---------------------------------------------------------------- write
as_arrays <- function(d) {
  # data vectors stay JSON arrays even when k = 1
  for (nm in intersect(names(d), c("events", "n", "labels", "study_ids", "yi", "vi"))) {
    d[[nm]] <- I(d[[nm]])
  }
  d
}
out <- list(
  meta = list(
    topic = "engine",
    r_version = R.version.string,
    metafor_version = as.character(packageVersion("metafor")),
    metadat_version = as.character(packageVersion("metadat")),
    jsonlite_version = as.character(packageVersion("jsonlite")),
    date = format(Sys.time(), "%Y-%m-%d %H:%M:%S %Z"),
    rma_control = CTRL,
    confint_control = CI_CTRL,
    fe_method_name = "FE",
    escalc_defaults = paste("PR/PLN/PLO: add = 1/2, to = 'only0' (xi == 0 or xi == ni);",
                            "PAS/PFT: add = 0 (metafor sets add <- 0 for them when 'add' is",
                            "not given)"),
    encoding = paste("null = R NA or not computed by metafor (FE prediction interval,",
                     "tau^2/I^2/H^2 CI of FE, k = 1 and fixed-tau^2 models);",
                     "strings 'NaN', 'Inf', '-Inf' = IEEE specials; 15 significant digits"),
    studies_csv = studies_note,
    n_cases = length(cases)
  ),
  datasets = list(proportion = lapply(prop_data, as_arrays),
                  generic = lapply(gen_data, as_arrays)),
  cases = cases,
  study_ci = study_ci
)
path <- write_fixture(out, "engine", pretty = TRUE)
message("wrote ", path, " (", length(cases), " cases)")

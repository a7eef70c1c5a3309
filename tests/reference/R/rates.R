# Reference fixtures for incidence rates per person-time (iometa/rates.py, iometa/glmm_poisson.py).
# Writes tests/reference/rates.json.
#
#   Rscript tests/reference/make_reference.R rates
#
# Sourced by make_reference.R with REF_DIR set (the tests/reference folder), after helpers.R
# (num, vec, capture, CTRL, CI_CTRL, GLMER_CTRL, write_fixture, ...).
#
# Per dataset:
#   * escalc(measure, xi, ti) for IR, IRLN, IRS, IRFT with metafor's default corrections
#     (add = 1/2, to = "only0" for IR and IRLN; add = 0 for IRS and IRFT unless given), and a few
#     explicit add/to variants;
#   * rma(yi, vi, method, test) for every tau^2 method x z/knha with tight controls: b, se,
#     zval, pval, ci, tau2, QE, I2, H2, predict() on the model scale and back-transformed
#     (IR: none; IRLN: exp; IRS: transf.isqrt; IRFT: transf.iirft with ti = the harmonic mean of
#     the person-times), confint() of tau^2 (Q-profile);
#   * rma.glmm(measure = "IRLN", xi, ti, nAGQ = 7, control = list(glmerCtrl = GLMER_CTRL)):
#     the Poisson-normal model glmer(xi ~ 1 + (1 | study), offset = log(ti), poisson), test = "z"
#     and "t"; and lme4's deviance function at a few c(theta, beta) points;
#   * poisson.test(xi, T = ti)$conf.int: the exact (Garwood) CI of each study's rate.
# A case that fails in R has "error": "<message>".
suppressPackageStartupMessages({  # (metafor and jsonlite: helpers.R)
  library(metadat)
  library(lme4)
})

MEASURES <- c("IR", "IRLN", "IRS", "IRFT")

DATASETS <- list(
  hart1999_control = list(
    xi = dat.hart1999$x2i, ti = dat.hart1999$t2i, labels = dat.hart1999$study,
    source = "metadat::dat.hart1999 control arms (x2i strokes, t2i patient-years)"),
  nielweise2008_cvc = list(
    xi = dat.nielweise2008$x1i, ti = dat.nielweise2008$t1i,
    labels = as.character(dat.nielweise2008$authors),
    source = "metadat::dat.nielweise2008 treatment arms (x1i infections, t1i catheter-days)"),
  ltp_zeros_inline = list(
    xi = c(3, 0, 7, 2, 0, 12, 5), ti = c(120.5, 80, 310, 95, 60, 400, 150),
    labels = paste0("LTP-", LETTERS[1:7]),
    source = "inline local-progression-like counts per person-years; LTP-B and LTP-E have 0 events"),
  ltp_zeros_het_inline = list(
    xi = c(1, 0, 20, 2, 0, 30, 9), ti = c(300, 80, 210, 95, 60, 250, 150),
    labels = paste0("Het-", LETTERS[1:7]),
    source = "inline heterogeneous rates per person-years; Het-B and Het-E have 0 events"),
  homogeneous_inline = list(
    xi = c(10, 11, 9, 10, 12), ti = c(1000, 1010, 990, 1000, 1020),
    labels = paste0("Hom-", LETTERS[1:5]),
    source = "inline near-identical rates (tau^2 = 0 for most estimators; GLMM boundary fit)"),
  k2_inline = list(
    xi = c(4, 15), ti = c(200, 310), labels = c("Two-A", "Two-B"),
    source = "inline, k = 2"),
  all_zero_inline = list(
    xi = c(0, 0, 0), ti = c(100, 200, 150), labels = paste0("Zero-", LETTERS[1:3]),
    source = "inline, every study has 0 events (IR/IRLN pool the 1/2-corrected counts; GLMM fails)")
)

ESCALC_VARIANTS <- list(
  list(measure = "IRLN", add = 0.1, to = "only0"),
  list(measure = "IRLN", add = 0.5, to = "all"),
  list(measure = "IRLN", add = 0.5, to = "if0all"),
  list(measure = "IR", add = 0.5, to = "all"),
  list(measure = "IRS", add = 0.5, to = "only0"),
  list(measure = "IRFT", add = 0.5, to = "only0")
)

hmean <- function(x) 1 / mean(1 / x)

pred_list <- function(p) {
  list(pred = p$pred, ci_lb = p$ci.lb, ci_ub = p$ci.ub,
       pi_lb = if (is.null(p$pi.lb)) NA else p$pi.lb, pi_ub = if (is.null(p$pi.ub)) NA else p$pi.ub)
}

rate_predict <- function(res, measure, ti) {
  switch(measure,
    IR = predict(res),
    IRLN = predict(res, transf = exp),
    IRS = predict(res, transf = transf.isqrt),
    IRFT = predict(res, transf = function(x) transf.iirft(x, ti = hmean(ti))))
}

record_rma <- function(es, measure, ti, method, test) {
  out <- capture(rma(es$yi, es$vi, method = method, test = test, control = CTRL))
  if (!is.null(out$error)) return(list(error = out$error, warnings = out$warnings))
  res <- out$value
  ci <- if (method == "FE" || res$k < 2) NULL else
    capture(confint(res, control = CI_CTRL))
  list(
    method = method, test = test, warnings = out$warnings,
    b = c(res$b), se = res$se, zval = res$zval, pval = res$pval, ci_lb = res$ci.lb,
    ci_ub = res$ci.ub, tau2 = res$tau2, QE = res$QE, QEp = res$QEp, I2 = res$I2, H2 = res$H2,
    ddf = if (test == "knha") res$ddf else NA,
    predict = pred_list(predict(res)),
    predict_rate = pred_list(rate_predict(res, measure, ti)),
    tau2_ci = if (is.null(ci) || !is.null(ci$error)) vec(c(NA, NA)) else
      vec(ci$value$random["tau^2", c("ci.lb", "ci.ub")])
  )
}

glmm_fit <- function(ds, test) {
  rma.glmm(measure = "IRLN", xi = ds$xi, ti = ds$ti, nAGQ = 7, test = test,
           control = list(glmerCtrl = GLMER_CTRL), retfit = TRUE)
}

record_glmm <- function(ds) {
  out <- capture(glmm_fit(ds, "z"), drop = LME4_UNUSED_CTRL)
  if (!is.null(out$error)) return(list(error = out$error, warnings = out$warnings))
  res <- out$value
  ml <- res$res.ML
  tt <- capture(glmm_fit(ds, "t"), drop = LME4_UNUSED_CTRL)
  rt <- tt$value
  list(
    warnings = out$warnings, b = c(res$b), se = res$se, zval = res$zval, pval = res$pval,
    ci_lb = res$ci.lb, ci_ub = res$ci.ub, tau2 = res$tau2,
    QE_Wld = res$QE.Wld, QEp_Wld = res$QEp.Wld, QE_LRT = res$QE.LRT, QEp_LRT = res$QEp.LRT,
    QE_df = res$QE.df, I2 = res$I2, H2 = res$H2, vt = res$vt,
    logLik = res$fit.stats["ll", "ML"], dev = res$fit.stats["dev", "ML"],
    lme4 = list(theta = unname(getME(ml, "theta")), beta = unname(fixef(ml)),
                deviance = deviance(ml), objective = -2 * c(logLik(ml)),
                conv_messages = ml@optinfo$conv$lme4$messages),
    predict = pred_list(predict(res)),
    predict_exp = pred_list(predict(res, transf = exp)),
    test_t = list(warnings = tt$warnings, b = c(rt$b), se = rt$se, zval = rt$zval,
                  pval = rt$pval, ci_lb = rt$ci.lb, ci_ub = rt$ci.ub, ddf = rt$ddf,
                  predict_exp = pred_list(predict(rt, transf = exp)))
  )
}

devfun_points <- function(ds, theta, beta) {
  dat <- data.frame(xi = ds$xi, lt = log(ds$ti), study = factor(seq_along(ds$xi)))
  f <- glmer(xi ~ 1 + (1 | study), offset = lt, data = dat, family = poisson, nAGQ = 7,
             control = glmerControl(tolPwrss = GLMER_CTRL$tolPwrss), devFunOnly = TRUE)
  pts <- list(c(theta, beta), c(0.5 * theta + 0.2, beta - 0.4), c(1.5 * theta + 0.3, beta + 0.5),
              c(1.2, beta))
  lapply(pts, function(p) list(theta = p[1], beta = p[2],
                               deviance = tryCatch(f(p), error = function(e) NA_real_)))
}

cases <- lapply(names(DATASETS), function(name) {
  message("  rates case ", name)
  ds <- DATASETS[[name]]
  measures <- lapply(MEASURES, function(m) {
    es <- escalc(m, xi = ds$xi, ti = ds$ti)
    fits <- list()
    for (method in ALL_METHODS) for (test in TESTS) {
      fits[[length(fits) + 1]] <- record_rma(es, m, ds$ti, method, test)
    }
    list(measure = m, yi = vec(es$yi), vi = vec(es$vi), fits = fits)
  })
  names(measures) <- MEASURES
  variants <- lapply(ESCALC_VARIANTS, function(v) {
    es <- escalc(v$measure, xi = ds$xi, ti = ds$ti, add = v$add, to = v$to)
    list(measure = v$measure, add = v$add, to = v$to, yi = vec(es$yi), vi = vec(es$vi))
  })
  exact <- t(sapply(seq_along(ds$xi), function(i) poisson.test(ds$xi[i], T = ds$ti[i])$conf.int))
  glmm <- record_glmm(ds)
  entry <- list(name = name, source = ds$source, xi = vec(ds$xi), ti = vec(ds$ti),
                labels = I(as.character(ds$labels)), measures = measures,
                escalc_variants = variants, glmm = glmm,
                exact_ci = list(lower = vec(exact[, 1]), upper = vec(exact[, 2])))
  if (is.null(glmm$error)) {
    th <- glmm$lme4$theta
    entry$devfun <- devfun_points(ds, if (th > 0) th else 0.3, glmm$b)
  }
  entry
})

out <- list(
  meta = list(
    generated_by = "tests/reference/R/rates.R",
    R = R.version.string,
    metafor = as.character(packageVersion("metafor")),
    lme4 = as.character(packageVersion("lme4")),
    control = CTRL, glmerCtrl = GLMER_CTRL,
    note = paste("escalc(IR/IRLN/IRS/IRFT, xi, ti); rma(yi, vi, method, test, control);",
                 "rma.glmm(measure='IRLN', nAGQ=7, control=list(glmerCtrl)); IRFT",
                 "back-transformed with transf.iirft at the harmonic mean of ti.")
  ),
  cases = cases
)
write_fixture(out, "rates", pretty = FALSE)

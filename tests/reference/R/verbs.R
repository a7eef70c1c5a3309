# Reference fixtures for metafor's verbs on fitted models (iometa MetaResult / MetaRegression:
# predict, confint(type = "QP" | "PL"), blup, ranef, se_tau2) and for the prediction-interval
# choices and the ad hoc Knapp-Hartung correction. Writes tests/reference/verbs.json.
#
#   Rscript tests/reference/make_reference.R verbs
#
# Sourced by make_reference.R with REF_DIR set, after helpers.R (num, vec, capture, CTRL,
# CI_CTRL, ALL_METHODS, write_fixture).
# Conventions (metafor 3.8-1):
#   * confint.rma.uni's default type is "QP" for every method (also ML/REML); type = "PL"
#     profiles logLik(), which is the REML log-likelihood for method = "REML" and the ML one for
#     every other method (also DL, PM, ...), around the fitted tau^2; search interval
#     [0, max(100, 10 tau^2)], bounds outside it reported as the limits.
#   * blup: pred = l y + (1 - l) x'b, var = l v + (1 - l)^2 x' vb x with l = tau2 / (tau2 + v);
#     ranef: pred = l (y - x'b), var = l v + l^2 x' vb x (0 for the common-effect model);
#     crit from t(k - p) under knha/adhoc, else z. vb is the model's (Knapp-Hartung scaled
#     under knha).
#   * se.tau2 as rma.uni reports it (NA for FE and for a fixed tau^2).
#   * test = "adhoc": Knapp-Hartung with s^2 floored at 1 (Knapp & Hartung 2003).
#   * prediction intervals not in metafor, by hand from rma's numbers: "hts" b +- t(k-2)
#     sqrt(se_z^2 + tau2) with se_z the test = "z" standard error; "v" b +- t(k-1)
#     sqrt(se_z^2 + tau2); "hk-pr" b +- t(k-2) sqrt(se_knha^2 + tau2).
bcg <- escalc("RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)
deb <- escalc("PLO", xi = xi, ni = ni, data = dat.debruin2009)
datasets <- list(
  bcg = list(yi = vec(bcg$yi), vi = vec(bcg$vi), ablat = vec(bcg$ablat),
             source = "metadat::dat.bcg, escalc('RR')"),
  five = list(yi = vec(c(-0.89, -1.59, -1.35, -1.44, -0.22)),
              vi = vec(c(0.33, 0.19, 0.42, 0.02, 0.05)), ablat = vec(c(1, 2, 3, 4, 5)),
              source = "inline k = 5 (the pool() docstring example); moderator 1..5"),
  debruin = list(yi = vec(deb$yi), vi = vec(deb$vi), ablat = vec(deb$scq),
                 source = "metadat::dat.debruin2009, escalc('PLO'); moderator scq")
)

verbs <- function(res) {
  pr <- predict(res)
  out <- list(pred = list(pred = num(pr$pred), se = num(pr$se), ci_lb = num(pr$ci.lb),
                          ci_ub = num(pr$ci.ub), pi_lb = num(pr$pi.lb), pi_ub = num(pr$pi.ub)),
              se_tau2 = num(res$se.tau2), tau2 = num(res$tau2), beta = vec(res$beta),
              se = vec(res$se))
  b <- blup(res)
  out$blup <- list(pred = vec(b$pred), se = vec(b$se), pi_lb = vec(b$pi.lb),
                   pi_ub = vec(b$pi.ub))
  r <- ranef(res)
  out$ranef <- list(pred = vec(r$pred), se = vec(r$se), pi_lb = vec(r$pi.lb),
                    pi_ub = vec(r$pi.ub))
  if (res$method != "FE") {
    for (type in c("QP", "PL")) {
      ci <- capture(confint(res, type = type, control = CI_CTRL))
      out[[paste0("confint_", type)]] <- if (is.null(ci$error)) {
        list(estimate = vec(ci$value$random[, 1]), ci_lb = vec(ci$value$random[, 2]),
             ci_ub = vec(ci$value$random[, 3]), warnings = I(ci$warnings))
      } else list(error = ci$error)
    }
  }
  out
}

fits <- list()
for (dn in names(datasets)) {
  d <- datasets[[dn]]
  yi <- as.numeric(d$yi); vi <- as.numeric(d$vi); x <- as.numeric(d$ablat)
  for (m in ALL_METHODS) for (tst in c("z", "knha")) {
    key <- paste(dn, m, tst, sep = "/")
    fit <- capture(rma(yi, vi, method = m, test = tst, control = CTRL))
    fits[[key]] <- if (is.null(fit$error)) verbs(fit$value) else list(error = fit$error)
    reg <- capture(rma(yi, vi, mods = ~ x, method = m, test = tst, control = CTRL))
    fits[[paste0(key, "/reg")]] <- if (is.null(reg$error)) verbs(reg$value) else
      list(error = reg$error)
  }
}

# prediction intervals and the ad hoc correction (intercept-only)
pis <- list()
for (dn in names(datasets)) {
  d <- datasets[[dn]]
  yi <- as.numeric(d$yi); vi <- as.numeric(d$vi); k <- length(yi)
  for (m in c("DL", "REML", "PM")) {
    z <- rma(yi, vi, method = m, test = "z", control = CTRL)
    kh <- rma(yi, vi, method = m, test = "knha", control = CTRL)
    ah <- rma(yi, vi, method = m, test = "adhoc", control = CTRL)
    pz <- predict(z); pk <- predict(kh); pa <- predict(ah)
    pint <- function(se, df) {
      crit <- qt(0.975, df)
      c(z$b[1] - crit * sqrt(se^2 + z$tau2), z$b[1] + crit * sqrt(se^2 + z$tau2))
    }
    pis[[paste(dn, m, sep = "/")]] <- list(
      tau2 = num(z$tau2), se_z = num(z$se), se_knha = num(kh$se), se_adhoc = num(ah$se),
      adhoc = list(pval = num(ah$pval), ci_lb = num(ah$ci.lb), ci_ub = num(ah$ci.ub),
                   pi_lb = num(pa$pi.lb), pi_ub = num(pa$pi.ub), zval = num(ah$zval)),
      metafor_z = vec(c(pz$pi.lb, pz$pi.ub)), metafor_knha = vec(c(pk$pi.lb, pk$pi.ub)),
      hts = vec(pint(z$se, k - 2)), v = vec(pint(z$se, k - 1)),
      hk_pr = vec(pint(kh$se, k - 2)))
  }
}

out <- list(metafor = as.character(packageVersion("metafor")), datasets = datasets,
            fits = fits, pi = pis)
message("wrote ", write_fixture(out, "verbs", pretty = FALSE))

# Reference fixtures for the binomial-normal GLMM (iometa/glmm.py): metafor::rma.glmm with
# measure = "PLO" (lme4::glmer(cbind(xi, ni - xi) ~ 1 + (1 | study), binomial)).
# Writes tests/reference/glmm.json.
#
#   Rscript tests/reference/make_reference.R glmm
#
# Sourced by make_reference.R with REF_DIR set (the tests/reference folder), after helpers.R
# (capture, GLMER_CTRL, write_fixture, ...).
#
# Per case and per nAGQ (7 = metafor's default, 1 = Laplace):
#   * rma.glmm(measure = "PLO", xi, ni, nAGQ, control = list(glmerCtrl = GLMER_CTRL),
#     retfit = TRUE) with test = "z": b, se, zval, pval, ci, tau2, QE.Wld/QE.LRT (+ p, df),
#     I2, H2, vt, logLik (fit.stats "ll"), dev, and lme4's own theta, gradient and
#     finite-difference Hessian (optinfo$derivs; vcov = 2 solve(H) in (theta, beta)),
#     predict() on the logit scale and with transf = transf.ilogit;
#   * the same fit with test = "t" (df = k - 1): zval, pval, ci, predict();
#   * lme4's deviance function (glmer(..., devFunOnly = TRUE)) at a few c(theta, beta) points,
#     with the tight controls (tolPwrss = 1e-12) and with lme4's defaults (tolPwrss = 1e-7);
#     null where lme4's PIRLS stopped with an error (tolPwrss = 1e-12 can be unreachable);
#   * lme4_lp0: the linear predictor lme4's deviance function restarts PIRLS from (left by the
#     nAGQ = 0 stage; lme4_lp0 with the fixture's controls, lme4_lp0_default with lme4's
#     defaults), so that the tests can emulate lme4's deviance function.
# A case that fails in R (k = 1) has "error": "<message>" and no numbers.
#
# Controls (GLMER_CTRL in helpers.R): lme4's default optimizers (bobyqa for the nAGQ = 0 start, Nelder_Mead for the
# (theta, beta) stage) with tight Nelder-Mead tolerances. metafor passes control$glmerCtrl to
# lme4::glmerControl(); the default Nelder_Mead x-tolerance (xt = 5e-4 * initial step) stops
# with gradients ~1e-4 (relative error ~3e-6 in b), these stop at ~1e-7. bobyqa (stage 1)
# ignores the Nelder-Mead-only options with a warning ("unused control arguments ignored"),
# which is dropped from the recorded warnings (drop = LME4_UNUSED_CTRL).
suppressPackageStartupMessages({  # (metafor and jsonlite: helpers.R)
  library(metadat)
  library(lme4)
})

CASES <- list(
  list(name = "pritz1997", xi = dat.pritz1997$xi, ni = dat.pritz1997$ni),
  list(name = "debruin2009", xi = dat.debruin2009$xi, ni = dat.debruin2009$ni),
  list(name = "zeros_and_full", xi = c(20, 45, 0, 30, 12), ni = c(20, 48, 12, 35, 15)),
  list(name = "k2", xi = c(12, 30), ni = c(40, 50)),
  list(name = "k3", xi = c(5, 18, 9), ni = c(30, 45, 25)),
  list(name = "homogeneous", xi = c(10, 11, 9, 10, 12, 10), ni = c(50, 50, 50, 50, 50, 50)),
  list(name = "k1", xi = 15, ni = 40)
)

pred_list <- function(p) {
  list(pred = p$pred, ci_lb = p$ci.lb, ci_ub = p$ci.ub, pi_lb = p$pi.lb, pi_ub = p$pi.ub)
}

fit_glmm <- function(cs, nagq, test = "z") {
  rma.glmm(measure = "PLO", xi = cs$xi, ni = cs$ni, nAGQ = nagq, test = test,
           control = list(glmerCtrl = GLMER_CTRL), retfit = TRUE)
}

record_fit <- function(cs, nagq) {
  out <- capture(fit_glmm(cs, nagq), drop = LME4_UNUSED_CTRL)
  if (!is.null(out$error)) return(list(error = out$error, warnings = out$warnings))
  res <- out$value
  ml <- res$res.ML
  d <- ml@optinfo$derivs
  tt <- capture(fit_glmm(cs, nagq, test = "t"), drop = LME4_UNUSED_CTRL)
  rt <- tt$value
  list(
    warnings = out$warnings,
    b = c(res$b), se = res$se, zval = res$zval, pval = res$pval,
    ci_lb = res$ci.lb, ci_ub = res$ci.ub, tau2 = res$tau2,
    QE_Wld = res$QE.Wld, QEp_Wld = res$QEp.Wld, QE_LRT = res$QE.LRT, QEp_LRT = res$QEp.LRT,
    QE_df = res$QE.df, I2 = res$I2, H2 = res$H2, vt = res$vt,
    logLik = res$fit.stats["ll", "ML"], dev = res$fit.stats["dev", "ML"],
    lme4 = list(theta = unname(getME(ml, "theta")), beta = unname(fixef(ml)),
                gradient = d$gradient, hessian = d$Hessian,
                deviance = deviance(ml), logLik = c(logLik(ml)),
                conv_messages = ml@optinfo$conv$lme4$messages),
    predict = pred_list(predict(res)),
    predict_ilogit = pred_list(predict(res, transf = transf.ilogit)),
    test_t = list(warnings = tt$warnings, b = c(rt$b), se = rt$se, zval = rt$zval,
                  pval = rt$pval, ci_lb = rt$ci.lb, ci_ub = rt$ci.ub, ddf = rt$ddf,
                  predict = pred_list(predict(rt)),
                  predict_ilogit = pred_list(predict(rt, transf = transf.ilogit)))
  )
}

devfun_points <- function(cs, theta, beta) {
  pts <- list(c(theta, beta), c(0, beta), c(0.5 * theta + 0.2, beta - 0.4),
              c(1.5 * theta + 0.3, beta + 0.5), c(2.5, beta))
  dat <- data.frame(xi = cs$xi, mi = cs$ni - cs$xi, study = factor(seq_along(cs$xi)))
  lapply(pts, function(p) {
    vals <- list(theta = p[1], beta = p[2])
    for (nagq in c(7, 1)) {
      for (tight in c(TRUE, FALSE)) {
        ctrl <- if (tight) glmerControl(tolPwrss = GLMER_CTRL$tolPwrss) else glmerControl()
        f <- glmer(cbind(xi, mi) ~ 1 + (1 | study), data = dat, family = binomial,
                   nAGQ = nagq, control = ctrl, devFunOnly = TRUE)
        key <- paste0("nagq", nagq, if (tight) "_tight" else "_default")
        vals[[key]] <- tryCatch(f(p), error = function(e) NA_real_)
      }
    }
    vals
  })
}

# lme4's PIRLS restarts every deviance evaluation from lp0, the linear predictor left by the
# nAGQ = 0 stage; recorded so that the tests can emulate lme4's deviance function exactly.
stage1_lp0 <- function(cs, ctrl) {
  dat <- data.frame(xi = cs$xi, mi = cs$ni - cs$xi, study = factor(seq_along(cs$xi)))
  f <- suppressWarnings(glmer(cbind(xi, mi) ~ 1 + (1 | study), data = dat, family = binomial,
                              nAGQ = 7, control = ctrl,
                              devFunOnly = TRUE))
  unname(environment(f)$lp0)
}

cases <- lapply(CASES, function(cs) {
  message("  glmm case ", cs$name)
  fits <- list(nagq7 = record_fit(cs, 7), nagq1 = record_fit(cs, 1))
  entry <- list(name = cs$name, xi = cs$xi, ni = cs$ni, fits = fits)
  if (is.null(fits$nagq7$error)) {
    th <- fits$nagq7$lme4$theta
    entry$devfun <- devfun_points(cs, if (th > 0) th else 0.3, fits$nagq7$b)
    entry$lme4_lp0 <- stage1_lp0(cs, do.call(glmerControl, GLMER_CTRL))
    entry$lme4_lp0_default <- stage1_lp0(cs, glmerControl())
  }
  entry
})

out <- list(
  meta = list(
    generated_by = "tests/reference/R/glmm.R",
    R = R.version.string,
    metafor = as.character(packageVersion("metafor")),
    lme4 = as.character(packageVersion("lme4")),
    glmerCtrl = GLMER_CTRL,
    note = paste("rma.glmm(measure='PLO', nAGQ) with control = list(glmerCtrl = glmerCtrl);",
                 "devfun values from glmer(..., devFunOnly = TRUE) at c(theta, beta).")
  ),
  cases = cases
)
write_fixture(out, "glmm", pretty = TRUE, null = "list")

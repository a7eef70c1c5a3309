# Reference fixtures for the GLMMs with moderators (iometa/core/glmm.py, glmm_poisson.py):
# metafor::rma.glmm(measure = "PLO" | "IRLN", mods = ~ ..., method = "ML"), i.e.
# lme4::glmer(cbind(xi, ni - xi) ~ 0 + X + (1 | study), binomial, nAGQ) and
# lme4::glmer(xi ~ 0 + X + (1 | study), offset = log(ti), poisson, nAGQ).
# Writes tests/reference/glmm_mods.json.
#
#   Rscript tests/reference/make_reference.R glmm_mods
#
# Sourced by make_reference.R with REF_DIR set, after helpers.R (capture, GLMER_CTRL, ...).
# Controls: GLMER_CTRL (tight Nelder-Mead tolerances, tolPwrss = 1e-12; reasons in R/glmm.R),
# with Nelder-Mead's xt extended to the p + 1 parameters.
# metafor centres and scales the continuous moderators before calling glmer (control scaleX =
# TRUE, its default) and transforms beta and vb back; the maximum-likelihood fit does not
# depend on that, lme4's finite-difference Hessian (vb = 2 H^-1) only to its rounding.
#
# Per case, per nAGQ (7 = metafor's default, 1 = Laplace) and per test ("z", "t"): b, se, zval,
# pval, ci, vb, tau2, QM (+ df, p), QE.Wld and QE.LRT (+ df, p), I2, H2, vt, logLik, dev and
# predict() at the case's newmods (model scale and back-transformed: transf.ilogit for PLO,
# exp for IRLN).
suppressPackageStartupMessages({  # (metafor and jsonlite: helpers.R)
  library(metadat)
  library(lme4)
})

bcg <- dat.bcg
hart <- dat.hart1999
niel <- dat.nielweise2008

CASES <- list(
  list(name = "bcg_ablat", measure = "PLO", data = data.frame(xi = bcg$tpos,
       ni = bcg$tpos + bcg$tneg, ablat = bcg$ablat), mods = ~ ablat,
       newmods = matrix(c(10, 30, 50), ncol = 1),
       source = "metadat::dat.bcg vaccinated arms (tpos of tpos + tneg), absolute latitude"),
  list(name = "bcg_ablat_year", measure = "PLO", data = data.frame(xi = bcg$tpos,
       ni = bcg$tpos + bcg$tneg, ablat = bcg$ablat, year = bcg$year), mods = ~ ablat + year,
       newmods = rbind(c(20, 1960), c(45, 1975)),
       source = "metadat::dat.bcg vaccinated arms, absolute latitude and year"),
  list(name = "bcg_alloc", measure = "PLO", data = data.frame(xi = bcg$tpos,
       ni = bcg$tpos + bcg$tneg, alloc = bcg$alloc), mods = ~ factor(alloc),
       newmods = rbind(c(0, 0), c(1, 0), c(0, 1)),
       source = "metadat::dat.bcg vaccinated arms, allocation (alternate = reference level)"),
  list(name = "hart_prevtype", measure = "PLO", data = data.frame(xi = hart$x2i, ni = hart$n2i,
       prevtype = hart$prevtype), mods = ~ factor(prevtype),
       newmods = matrix(c(0, 1), ncol = 1),
       source = "metadat::dat.hart1999 control arms (x2i of n2i), primary/secondary prevention"),
  list(name = "homogeneous_x", measure = "PLO", data = data.frame(
       xi = c(10, 11, 9, 10, 12, 10, 11, 9), ni = rep(50, 8), x = c(1, 2, 3, 4, 5, 6, 7, 8)),
       mods = ~ x, newmods = matrix(c(0, 4.5), ncol = 1),
       source = "made up: homogeneous proportions, moderator 1..8 (boundary fit tau = 0)"),
  list(name = "zeros_and_full_x", measure = "PLO", data = data.frame(
       xi = c(20, 45, 0, 30, 12, 3, 8), ni = c(20, 48, 12, 35, 15, 30, 40),
       x = c(2.5, 3.0, 0.5, 2.0, 1.5, 1.0, 0.8)), mods = ~ x,
       newmods = matrix(c(0, 1.5, 3), ncol = 1),
       source = "made up: a 0/n and a n/n study (no continuity correction), moderator x"),
  list(name = "rates_zeros_x", measure = "IRLN", data = data.frame(
       xi = c(0, 3, 7, 0, 12, 5), ti = c(120, 300, 410, 90, 500, 260),
       x = c(1, 2, 3, 1, 4, 2)), mods = ~ x,
       newmods = matrix(c(1, 4), ncol = 1),
       source = "made up: rates with two zero counts, moderator x"),
  list(name = "rates_hart_prevtype", measure = "IRLN", data = data.frame(xi = hart$x2i,
       ti = hart$t2i, prevtype = hart$prevtype), mods = ~ factor(prevtype),
       newmods = matrix(c(0, 1), ncol = 1),
       source = "metadat::dat.hart1999 control arms (x2i strokes, t2i patient-years)"),
  list(name = "rates_niel_year", measure = "IRLN", data = data.frame(xi = niel$x1i,
       ti = niel$t1i, year = niel$year), mods = ~ year,
       newmods = matrix(c(1995, 2005), ncol = 1),
       source = "metadat::dat.nielweise2008 treatment arms (x1i infections, t1i catheter-days)")
)

pred_list <- function(p) {
  list(pred = vec(p$pred), se = vec(p$se), ci_lb = vec(p$ci.lb), ci_ub = vec(p$ci.ub),
       pi_lb = vec(p$pi.lb), pi_ub = vec(p$pi.ub))
}

fit_case <- function(cs, nagq, test, tol_pwrss = GLMER_CTRL$tolPwrss) {
  gc <- GLMER_CTRL
  gc$tolPwrss <- tol_pwrss
  # Nelder-Mead's x-tolerance needs one entry per parameter: theta and the p coefficients
  gc$optCtrl$xt <- rep(1e-12, 1 + ncol(model.matrix(cs$mods, cs$data)))
  ctrl <- list(glmerCtrl = gc)
  if (cs$measure == "PLO") {
    rma.glmm(measure = "PLO", xi = xi, ni = ni, mods = cs$mods, data = cs$data, nAGQ = nagq,
             test = test, control = ctrl)
  } else {
    rma.glmm(measure = "IRLN", xi = xi, ti = ti, mods = cs$mods, data = cs$data, nAGQ = nagq,
             test = test, control = ctrl)
  }
}

# lme4's PIRLS cannot always reach tolPwrss = 1e-12 (large n_i: the penalised deviance is
# ~1e3 and its rounding ~1e-13 relative, so step-halving fails with "maxstephalfit"); the
# tightest of 1e-12, 1e-11, 1e-10, 1e-9 that works is used and recorded (tol_pwrss).
TOL_PWRSS <- c(1e-12, 1e-11, 1e-10, 1e-9)

record <- function(cs, nagq, test) {
  for (tp in TOL_PWRSS) {
    out <- capture(fit_case(cs, nagq, test, tp), drop = LME4_UNUSED_CTRL)
    if (is.null(out$error)) break
  }
  if (!is.null(out$error)) return(list(error = out$error, warnings = out$warnings))
  r <- out$value
  tr <- if (cs$measure == "PLO") transf.ilogit else exp
  list(
    warnings = out$warnings, tol_pwrss = tp, terms = rownames(r$beta),
    b = vec(r$beta), se = vec(r$se), zval = vec(r$zval), pval = vec(r$pval),
    ci_lb = vec(r$ci.lb), ci_ub = vec(r$ci.ub), vb = lapply(seq_len(nrow(r$vb)),
                                                           function(i) vec(r$vb[i, ])),
    tau2 = r$tau2, QM = r$QM, QMp = r$QMp, QMdf = vec(r$QMdf),
    QE_Wld = r$QE.Wld, QEp_Wld = r$QEp.Wld, QE_LRT = r$QE.LRT, QEp_LRT = r$QEp.LRT,
    QE_df = r$QE.df, I2 = r$I2, H2 = r$H2, vt = r$vt, ddf = r$ddf,
    logLik = r$fit.stats["ll", "ML"], dev = r$fit.stats["dev", "ML"],
    AIC = r$fit.stats["AIC", "ML"],
    predict = pred_list(predict(r, newmods = cs$newmods)),
    predict_transf = pred_list(predict(r, newmods = cs$newmods, transf = tr))
  )
}

cases <- lapply(CASES, function(cs) {
  message("  glmm_mods case ", cs$name)
  fits <- list()
  for (nagq in c(7, 1)) for (test in c("z", "t")) {
    fits[[paste0("nagq", nagq, "_", test)]] <- record(cs, nagq, test)
  }
  d <- as.list(cs$data)
  d <- lapply(d, function(v) if (is.factor(v)) as.character(v) else v)
  list(name = cs$name, measure = cs$measure, source = cs$source, data = d,
       mods = paste(deparse(cs$mods), collapse = ""),
       newmods = lapply(seq_len(nrow(cs$newmods)), function(i) vec(cs$newmods[i, ])),
       fits = fits)
})

out <- list(
  meta = list(
    generated_by = "tests/reference/R/glmm_mods.R",
    R = R.version.string,
    metafor = as.character(packageVersion("metafor")),
    lme4 = as.character(packageVersion("lme4")),
    glmerCtrl = GLMER_CTRL,
    note = paste("rma.glmm(measure, mods, nAGQ, test) with control = list(glmerCtrl =",
                 "glmerCtrl); predict() at newmods.")
  ),
  cases = cases
)
write_fixture(out, "glmm_mods", pretty = TRUE)

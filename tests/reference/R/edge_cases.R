# Reference fixtures for the numerical edge cases of the pooling functions (issue 16).
# Writes tests/reference/edge_cases.json; read by tests/test_edge_cases.py.
#
#   Rscript tests/reference/make_reference.R edge_cases
#
# Sourced by make_reference.R with REF_DIR set (the tests/reference folder), after helpers.R
# (num, vec, capture, CTRL, CI_CTRL, GLMER_CTRL, back_transf, write_fixture, ...).
#
# Sections (each case records R's numbers, or R's error message and warnings):
#   * generic: rma(yi, vi, method, test) for k = 1, k = 2 (tau^2 = 0 and tau^2 > 0), identical
#     effects, one / all variances 1e-10, one / all variances 1e10, an extreme tau^2 (~5e5,
#     beyond confint's search limit max(100, 10 tau^2)? recorded either way), fixed tau^2 = 0
#     and 1e6, and data on which metafor's default Fisher scoring does not converge (recorded
#     with control = list(stepadj = 0.5), metafor's remedy; the default error is recorded too);
#     every method x test, with predict() and the Q-profile confint();
#   * proportion: escalc(measure, xi, ni) (defaults: PR/PLN/PLO add 1/2 to 0/n and n/n
#     studies, PAS/PFT no correction) + rma for all events 0, all events = n, n = 1 studies and
#     identical proportions; predict() back-transformed as in engine.R;
#   * glmm: rma.glmm(measure = "PLO", nAGQ = 7 and 1) on the same situations plus a k = 2 case
#     whose Laplace fit starts at a saddle (theta = 0) and a very heterogeneous case;
#   * metareg: rma(yi, vi, mods) with k = p (FE), k = p + 1, effects fitted exactly (Knapp-
#     Hartung with a zero residual sum of squares: metafor gives se = 0 and QM = NA), one tiny
#     and one huge variance;
#   * survival_rates: the documented transformation by hand (cloglog / logit, S = 0 or 1 ->
#     S' = (S n + 0.5) / (n + 1), n' = n + 1) + rma, back-transformed; all S = 1, all S = 0,
#     n = 1, k = 2, identical rates;
#   * medians: the inverse-variance route by hand (log scale: yi = log m, sei = (log U -
#     log L) / (2 qnorm(.975)); identity scale: yi = m, sei = (U - L) / (2 qnorm(.975))) for
#     k = 2, identical medians with different CIs and an extreme spread.
#
# Controls: rma(control = list(threshold = 1e-12, tol = 1e-12, maxiter = 10000)),
# confint(control = list(tol = 1e-12)); rma.glmm with the tight lme4 controls of glmm.R; lme4's
# "unused control arguments ignored" is not recorded among the warnings (drop = LME4_UNUSED_CTRL).
# JSON encoding as in helpers.R: NA -> null, NaN/Inf -> strings "NaN", "Inf", "-Inf".
suppressPackageStartupMessages(library(lme4))  # (metafor and jsonlite: helpers.R)

METHODS <- ALL_METHODS
MEASURES <- c("PR", "PLN", "PLO", "PAS", "PFT")

# ---------------------------------------------------------------- rma recorder
record_rma <- function(args, transf = NULL, targs = NULL) {
  fit <- capture(do.call(rma, args), drop = LME4_UNUSED_CTRL)
  out <- list(warnings = I(fit$warnings))
  if (!is.null(fit$error)) return(c(out, list(error = fit$error)))
  res <- fit$value
  p <- suppressWarnings(predict(res))
  out <- c(out, list(
    k = res$k, coef = num(res$beta[1]), se = num(res$se), stat = num(res$zval),
    pval = num(res$pval), coef_ci_low = num(res$ci.lb), coef_ci_high = num(res$ci.ub),
    coef_pi_low = num(p$pi.lb), coef_pi_high = num(p$pi.ub),
    df = if (res$test == "z") NA else num(res$ddf), tau2 = num(res$tau2), i2 = num(res$I2),
    h2 = num(res$H2), q = num(res$QE), q_pval = num(res$QEp), weights = vec(weights(res))))
  if (!is.null(transf)) {
    pt <- predict_transf(res, transf, targs)
    out <- c(out, list(estimate = num(pt$pred), ci_low = num(pt$ci.lb), ci_high = num(pt$ci.ub),
                       pi_low = num(pt$pi.lb), pi_high = num(pt$pi.ub)))
  }
  ci <- capture(confint(res, control = CI_CTRL), drop = LME4_UNUSED_CTRL)
  out$confint_warnings <- I(ci$warnings)
  if (!is.null(ci$error)) {
    out$confint_error <- ci$error
  } else {
    rnd <- ci$value$random
    out$tau2_ci <- vec(rnd["tau^2", c("ci.lb", "ci.ub")])
    out$i2_ci <- vec(rnd["I^2(%)", c("ci.lb", "ci.ub")])
    out$h2_ci <- vec(rnd["H^2", c("ci.lb", "ci.ub")])
    out$confint_signs <- I(c(ci$value$lb.sign, ci$value$ub.sign))
  }
  out
}

# ---------------------------------------------------------------- generic
GEN <- list(
  k1 = list(yi = 0.3, vi = 0.1),
  k2_homogeneous = list(yi = c(0.3, 0.5), vi = c(0.1, 0.05)),
  k2_heterogeneous = list(yi = c(-0.5, 1.2), vi = c(0.02, 0.03)),
  identical_effects = list(yi = rep(0.3, 4), vi = c(0.1, 0.05, 0.2, 0.1)),
  tiny_variance_one = list(yi = c(0.1, 0.25, 0.3, 0.5), vi = c(1e-10, 0.05, 0.1, 0.02)),
  tiny_variance_all = list(yi = c(0.1, 0.2, 0.3), vi = rep(1e-10, 3)),
  huge_variance_one = list(yi = c(0.1, 0.25, 0.3, 0.5), vi = c(1e10, 0.05, 0.1, 0.02)),
  huge_variance_all = list(yi = c(0.1, 0.2, 0.3), vi = rep(1e10, 3)),
  tau2_extreme = list(yi = c(-1000, 0, 1000, 500), vi = c(0.01, 0.02, 0.01, 0.03)),
  fisher_scoring_fails = list(
    yi = c(0.322151, -0.621068, 0.530859, 0.46451, -0.157719, 0.834994, -4.29099, 0.104399),
    vi = c(1.09211, 0.00719588, 1.19698, 0.958243, 1.76011, 1.09978, 77.8278, 0.309957))
)
generic <- list()
for (name in names(GEN)) {
  d <- GEN[[name]]
  for (method in METHODS) for (test in TESTS) {
    ctrl <- CTRL
    if (name == "fisher_scoring_fails") ctrl$stepadj <- 0.5
    case <- list(id = paste(name, method, test, sep = "-"), data = name, method = method,
                 test = test, yi = vec(d$yi), vi = vec(d$vi),
                 stepadj = if (is.null(ctrl$stepadj)) NA else ctrl$stepadj)
    case <- c(case, record_rma(list(yi = d$yi, vi = d$vi, method = method, test = test,
                                    control = ctrl)))
    if (name == "fisher_scoring_fails" && method %in% c("ML", "REML")) {
      default <- capture(rma(d$yi, d$vi, method = method, test = test),
                         drop = LME4_UNUSED_CTRL)
      case$default_control_error <- if (is.null(default$error)) NA else default$error
    }
    generic[[length(generic) + 1]] <- case
  }
}
for (tau2 in c(0, 1e6)) for (test in TESTS) {
  d <- GEN$k2_heterogeneous
  case <- list(id = paste("fixed_tau2", tau2, test, sep = "-"), data = "k2_heterogeneous",
               method = "REML", test = test, yi = vec(d$yi), vi = vec(d$vi), tau2_fixed = tau2)
  generic[[length(generic) + 1]] <- c(case, record_rma(list(
    yi = d$yi, vi = d$vi, tau2 = tau2, test = test, control = CTRL)))
}

# ---------------------------------------------------------------- proportions
PROP <- list(
  all_zero = list(xi = c(0, 0, 0), ni = c(10, 20, 30)),
  all_n = list(xi = c(10, 20, 30), ni = c(10, 20, 30)),
  n_one = list(xi = c(0, 1, 1, 0), ni = c(1, 1, 1, 1)),
  identical = list(xi = c(3, 6, 9), ni = c(10, 20, 30)),
  k2 = list(xi = c(3, 8), ni = c(10, 12))
)
proportion <- list()
for (name in names(PROP)) {
  d <- PROP[[name]]
  for (measure in MEASURES) {
    es <- escalc(measure = measure, xi = d$xi, ni = d$ni)
    b <- back_transf(measure, d$ni)
    for (method in c("FE", "DL", "REML", "PM")) for (test in TESTS) {
      case <- list(id = paste(name, measure, method, test, sep = "-"), data = name,
                   measure = measure, method = method, test = test, xi = vec(d$xi),
                   ni = vec(d$ni), yi = vec(es$yi), vi = vec(es$vi))
      rec <- record_rma(list(yi = as.numeric(es$yi), vi = as.numeric(es$vi), method = method,
                             test = test, control = CTRL),
                        transf = if (is.null(b$fun)) function(x) x else b$fun, targs = b$targs)
      proportion[[length(proportion) + 1]] <- c(case, rec)
    }
  }
}

# ---------------------------------------------------------------- GLMM
GLMM <- c(PROP, list(
  rare = list(xi = c(0, 0, 0, 1), ni = c(100, 100, 100, 100)),
  very_heterogeneous = list(xi = c(1, 99, 2, 98, 50), ni = rep(100, 5))
))
glmm <- list()
for (name in names(GLMM)) {
  d <- GLMM[[name]]
  for (nagq in c(7, 1)) {
    fit <- capture(rma.glmm(measure = "PLO", xi = d$xi, ni = d$ni, nAGQ = nagq,
                            control = list(glmerCtrl = GLMER_CTRL)), drop = LME4_UNUSED_CTRL)
    case <- list(id = paste(name, nagq, sep = "-"), data = name, nagq = nagq, xi = vec(d$xi),
                 ni = vec(d$ni), warnings = I(fit$warnings))
    if (!is.null(fit$error)) {
      case$error <- fit$error
    } else {
      r <- fit$value
      p <- predict(r, transf = transf.ilogit)
      case <- c(case, list(coef = num(r$b), se = num(r$se), tau2 = num(r$tau2),
                           q = num(r$QE.Wld), q_lrt = num(r$QE.LRT), i2 = num(r$I2),
                           h2 = num(r$H2), estimate = num(p$pred), ci_low = num(p$ci.lb),
                           ci_high = num(p$ci.ub), pi_low = num(p$pi.lb),
                           pi_high = num(p$pi.ub)))
    }
    glmm[[length(glmm) + 1]] <- case
  }
}

# ---------------------------------------------------------------- meta-regression
REG <- list(
  k_equals_p = list(yi = c(0.1, 0.5), vi = c(0.02, 0.02), x = c(1, 2), methods = "FE"),
  k_equals_p_plus_1 = list(yi = c(0.1, 0.5, 0.2), vi = c(0.02, 0.03, 0.02), x = c(1, 2, 3),
                           methods = METHODS),
  exact_fit = list(yi = c(0.1, 0.2, 0.3, 0.4, 0.5), vi = rep(0.02, 5), x = 1:5,
                   methods = c("FE", "DL", "REML")),
  identical_effects = list(yi = rep(0.3, 5), vi = rep(0.02, 5), x = 1:5,
                           methods = c("FE", "DL", "REML")),
  tiny_variance = list(yi = c(0.1, 0.5, 0.2, 0.9, 1.1), vi = c(1e-10, 0.02, 0.02, 0.02, 0.02),
                       x = 1:5, methods = METHODS),
  huge_variance = list(yi = c(0.1, 0.5, 0.2, 0.9, 1.1), vi = c(1e10, 0.02, 0.02, 0.02, 0.02),
                       x = 1:5, methods = METHODS)
)
metareg <- list()
for (name in names(REG)) {
  d <- REG[[name]]
  for (method in d$methods) for (test in TESTS) {
    fit <- capture(rma(d$yi, d$vi, mods = ~ d$x, method = method, test = test, control = CTRL),
                   drop = LME4_UNUSED_CTRL)
    case <- list(id = paste(name, method, test, sep = "-"), data = name, method = method,
                 test = test, yi = vec(d$yi), vi = vec(d$vi), x = vec(d$x),
                 warnings = I(fit$warnings))
    if (!is.null(fit$error)) {
      case$error <- fit$error
    } else {
      r <- fit$value
      case <- c(case, list(beta = vec(r$beta), se = vec(r$se), stat = vec(r$zval),
                           pval = vec(r$pval), qm = num(r$QM), qm_pval = num(r$QMp),
                           qe = num(r$QE), qe_pval = num(r$QEp), tau2 = num(r$tau2),
                           i2 = num(r$I2), h2 = num(r$H2), r2 = num(r$R2)))
    }
    metareg[[length(metareg) + 1]] <- case
  }
}

# ---------------------------------------------------------------- survival rates (by hand)
SR <- list(
  all_one = list(s = c(1, 1, 1), n = c(40, 50, 60)),
  all_zero = list(s = c(0, 0, 0), n = c(40, 50, 60)),
  n_one = list(s = c(1, 0, 1), n = c(1, 1, 1)),
  k2 = list(s = c(0.8, 0.6), n = c(40, 50)),
  identical = list(s = c(0.8, 0.8, 0.8), n = c(40, 50, 60))
)
sr_effects <- function(s, n, scale) {
  corr <- s == 0 | s == 1
  s <- ifelse(corr, (s * n + 0.5) / (n + 1), s)
  n <- ifelse(corr, n + 1, n)
  if (scale == "cloglog") {
    list(yi = log(-log(s)), vi = (1 - s) / (n * s * log(s)^2))
  } else {
    list(yi = log(s / (1 - s)), vi = 1 / (n * s * (1 - s)))
  }
}
survival_rates <- list()
for (name in names(SR)) {
  d <- SR[[name]]
  for (scale in c("cloglog", "logit")) {
    es <- sr_effects(d$s, d$n, scale)
    inv <- if (scale == "cloglog") function(x) exp(-exp(x)) else transf.ilogit
    for (method in c("FE", "DL", "REML")) for (test in TESTS) {
      case <- list(id = paste(name, scale, method, test, sep = "-"), data = name, scale = scale,
                   method = method, test = test, s = vec(d$s), n = vec(d$n), yi = vec(es$yi),
                   vi = vec(es$vi))
      survival_rates[[length(survival_rates) + 1]] <- c(case, record_rma(list(
        yi = es$yi, vi = es$vi, method = method, test = test, control = CTRL), transf = inv))
    }
  }
}

# ---------------------------------------------------------------- medians (IV route, by hand)
MED <- list(
  k2 = list(m = c(12, 20), lo = c(9, 15), hi = c(15, 30)),
  identical = list(m = c(12, 12, 12), lo = c(9, 10, 8), hi = c(15, 14, 17)),
  extreme_spread = list(m = c(1, 200, 15), lo = c(0.9, 190, 14), hi = c(1.1, 210, 16))
)
medians <- list()
for (name in names(MED)) {
  d <- MED[[name]]
  for (scale in c("log", "identity")) {
    g <- if (scale == "log") log else identity
    yi <- g(d$m)
    vi <- ((g(d$hi) - g(d$lo)) / (2 * Z975))^2
    inv <- if (scale == "log") exp else function(x) x
    for (method in c("FE", "DL", "REML")) for (test in TESTS) {
      case <- list(id = paste(name, scale, method, test, sep = "-"), data = name, scale = scale,
                   method = method, test = test, median = vec(d$m), study_ci_low = vec(d$lo),
                   study_ci_high = vec(d$hi), yi = vec(yi), vi = vec(vi))
      medians[[length(medians) + 1]] <- c(case, record_rma(list(
        yi = yi, vi = vi, method = method, test = test, control = CTRL), transf = inv))
    }
  }
}

out <- list(
  meta = list(
    topic = "edge_cases",
    r_version = R.version.string,
    metafor_version = as.character(packageVersion("metafor")),
    lme4_version = as.character(packageVersion("lme4")),
    rma_control = CTRL, confint_control = CI_CTRL, glmerCtrl = GLMER_CTRL,
    date = format(Sys.time(), "%Y-%m-%d %H:%M:%S %Z")
  ),
  generic = generic, proportion = proportion, glmm = glmm, metareg = metareg,
  survival_rates = survival_rates, medians = medians
)
path <- write_fixture(out, "edge_cases", pretty = TRUE)
message("wrote ", path)

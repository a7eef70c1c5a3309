# Reference fixtures for user weights and unweighted estimation: rma(yi, vi, weights = w) and
# rma(yi, vi, weighted = FALSE) with several tau^2 methods, tests z / knha / adhoc, and their
# predict() (metafor 3.8-1). Writes tests/reference/weights.json.
#
#   Rscript tests/reference/make_reference.R weights
#
# Sourced by make_reference.R with REF_DIR set, after helpers.R (num, vec, CTRL, write_fixture).
bcg <- escalc("RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)
datasets <- list(
  bcg = list(yi = vec(bcg$yi), vi = vec(bcg$vi),
             w = vec(dat.bcg$tpos + dat.bcg$tneg + dat.bcg$cpos + dat.bcg$cneg),
             source = "metadat::dat.bcg, escalc('RR'); weights = total sample size"),
  five = list(yi = vec(c(-0.89, -1.59, -1.35, -1.44, -0.22)),
              vi = vec(c(0.33, 0.19, 0.42, 0.02, 0.05)), w = vec(c(1, 2, 0.5, 4, 3)),
              source = "inline k = 5 with arbitrary weights")
)
fits <- list()
for (dn in names(datasets)) {
  d <- datasets[[dn]]
  yi <- as.numeric(d$yi); vi <- as.numeric(d$vi); w <- as.numeric(d$w)
  for (m in c("FE", "DL", "REML", "PM")) for (tst in c("z", "knha", "adhoc")) {
    for (kind in c("weights", "unweighted")) {
      r <- if (kind == "weights") rma(yi, vi, weights = w, method = m, test = tst, control = CTRL)
           else rma(yi, vi, weighted = FALSE, method = m, test = tst, control = CTRL)
      pr <- predict(r)
      fits[[paste(dn, m, tst, kind, sep = "/")]] <- list(
        beta = num(r$beta), se = num(r$se), zval = num(r$zval), pval = num(r$pval),
        ci_lb = num(r$ci.lb), ci_ub = num(r$ci.ub), tau2 = num(r$tau2), QE = num(r$QE),
        I2 = num(r$I2), pi_lb = num(pr$pi.lb), pi_ub = num(pr$pi.ub),
        weights = vec(weights(r)))
    }
  }
}
out <- list(metafor = as.character(packageVersion("metafor")), datasets = datasets, fits = fits)
message("wrote ", write_fixture(out, "weights", pretty = FALSE))

# method = "GENQ" (weights are those of the generalised Q statistic and of the estimate)
genq <- list()
for (dn in names(datasets)) {
  d <- datasets[[dn]]
  yi <- as.numeric(d$yi); vi <- as.numeric(d$vi); w <- as.numeric(d$w)
  for (wt in c("w", "ivw")) for (tst in c("z", "knha")) {
    ww <- if (wt == "w") w else 1 / vi
    r <- rma(yi, vi, weights = ww, method = "GENQ", test = tst, control = CTRL)
    ci <- confint(r, type = "QP", control = CI_CTRL)
    genq[[paste(dn, wt, tst, sep = "/")]] <- list(
      tau2 = num(r$tau2), se_tau2 = num(r$se.tau2), beta = num(r$beta), se = num(r$se),
      ci_lb = num(r$ci.lb), ci_ub = num(r$ci.ub), I2 = num(r$I2),
      tau2_ci = vec(ci$random[1, 2:3]))
  }
  X <- cbind(1, seq_along(yi))
  r <- rma(yi, vi, weights = w, mods = X, intercept = FALSE, method = "GENQ", control = CTRL)
  genq[[paste(dn, "w", "reg", sep = "/")]] <- list(tau2 = num(r$tau2))
}
out$genq <- genq
message("wrote ", write_fixture(out, "weights", pretty = FALSE))

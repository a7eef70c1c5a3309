# Reference fixtures for the tau^2 estimators HSk, PMM, DLIT and SJIT (metafor 3.8-1), with and
# without a moderator, both tests; writes tests/reference/estimators_more.json.
#
#   Rscript tests/reference/make_reference.R estimators_more
#
# Sourced by make_reference.R with REF_DIR set, after helpers.R (num, vec, capture, CTRL,
# write_fixture). An estimator that does not converge (DLIT on dat.bcg: metafor stops with
# "Iterative DL estimator did not converge.") is recorded with its error message.
bcg <- escalc("RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)
deb <- escalc("PLO", xi = xi, ni = ni, data = dat.debruin2009)
datasets <- list(
  bcg = list(yi = vec(bcg$yi), vi = vec(bcg$vi), x = vec(bcg$ablat),
             source = "metadat::dat.bcg, escalc('RR'); moderator ablat"),
  five = list(yi = vec(c(-0.89, -1.59, -1.35, -1.44, -0.22)),
              vi = vec(c(0.33, 0.19, 0.42, 0.02, 0.05)), x = vec(c(1, 2, 3, 4, 5)),
              source = "inline k = 5; moderator 1..5"),
  debruin = list(yi = vec(deb$yi), vi = vec(deb$vi), x = vec(deb$scq),
                 source = "metadat::dat.debruin2009, escalc('PLO'); moderator scq"),
  homogeneous = list(yi = vec(c(0.10, 0.12, 0.09, 0.11, 0.105)),
                     vi = vec(c(0.04, 0.05, 0.06, 0.05, 0.045)), x = vec(c(1, 3, 2, 5, 4)),
                     source = "inline homogeneous k = 5")
)
fits <- list()
for (dn in names(datasets)) {
  d <- datasets[[dn]]
  yi <- as.numeric(d$yi); vi <- as.numeric(d$vi); x <- as.numeric(d$x)
  for (m in c("HSk", "PMM", "DLIT", "SJIT")) for (tst in c("z", "knha")) for (reg in c(FALSE, TRUE)) {
    key <- paste(dn, m, tst, if (reg) "reg" else "int", sep = "/")
    f <- capture(if (reg) rma(yi, vi, mods = ~ x, method = m, test = tst, control = CTRL) else
                   rma(yi, vi, method = m, test = tst, control = CTRL))
    fits[[key]] <- if (!is.null(f$error)) list(error = f$error) else {
      r <- f$value
      list(tau2 = num(r$tau2), se_tau2 = num(r$se.tau2), beta = vec(r$beta), se = vec(r$se),
           ci_lb = vec(r$ci.lb), ci_ub = vec(r$ci.ub), pval = vec(r$pval), I2 = num(r$I2),
           H2 = num(r$H2), QE = num(r$QE), warnings = I(f$warnings))
    }
  }
}
out <- list(metafor = as.character(packageVersion("metafor")), datasets = datasets, fits = fits)
message("wrote ", write_fixture(out, "estimators_more", pretty = FALSE))

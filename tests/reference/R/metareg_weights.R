# Meta-regression with user weights (rma(yi, vi, mods, weights = w)): the weights enter the
# coefficients and their variance (stXAX X'AMAX stXAX), tau^2 and Q_E are those of the
# inverse-variance fit, the Knapp-Hartung factor is RSS of that fit / (k - p). For
# tests/test_metareg_weights.py.
dat <- escalc(measure = "RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)
w <- dat$tpos + dat$tneg + dat$cpos + dat$cneg  # total sample size as the weight
cases <- list()
for (m in c("REML", "DL", "FE")) for (test in c("z", "knha")) for (mods in c("ablat", "ablat + year")) {
  f <- rma(yi, vi, mods = as.formula(paste("~", mods)), weights = w, data = dat, method = m,
           test = test, control = CTRL)
  cases[[length(cases) + 1]] <- list(
    method = m, test = test, mods = mods, b = vec(f$beta), se = vec(f$se), stat = vec(f$zval),
    pval = vec(f$pval), ci_lb = vec(f$ci.lb), ci_ub = vec(f$ci.ub), vb = vec(as.vector(f$vb)),
    tau2 = num(f$tau2), QE = num(f$QE), QM = num(f$QM), QMp = num(f$QMp),
    pred = vec(predict(f, newmods = if (mods == "ablat") c(30) else rbind(c(30, 1970)))$pred))
}
out <- list(metafor = as.character(packageVersion("metafor")),
            data = list(yi = vec(dat$yi), vi = vec(dat$vi), ablat = vec(dat$ablat),
                        year = vec(dat$year), w = vec(w)),
            cases = cases)
path <- write_fixture(out, "metareg_weights", pretty = FALSE)
message("wrote ", path)

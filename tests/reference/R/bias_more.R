# Reference fixtures for hc() (Henmi-Copas), regtest(predictor = "sei" | "vi" | "ninv" |
# "sqrtninv", ni =) and permutest(exact = TRUE, control = list(stat = "coef")) (metafor 3.8-1).
# Writes tests/reference/bias_more.json.
#
#   Rscript tests/reference/make_reference.R bias_more
#
# Sourced by make_reference.R with REF_DIR set, after helpers.R (num, vec, capture, CTRL,
# write_fixture). hc(control = list(tol = 1e-12)) (its integral uses R's integrate() defaults,
# which metafor does not expose).
bcg <- escalc("RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)
deb <- escalc("PLO", xi = xi, ni = ni, data = dat.debruin2009)
datasets <- list(
  bcg = list(yi = vec(bcg$yi), vi = vec(bcg$vi),
             n = vec(dat.bcg$tpos + dat.bcg$tneg + dat.bcg$cpos + dat.bcg$cneg),
             x = vec(bcg$ablat), source = "metadat::dat.bcg, escalc('RR'); n total; x ablat"),
  debruin = list(yi = vec(deb$yi), vi = vec(deb$vi), n = vec(deb$ni), x = vec(deb$scq),
                 source = "metadat::dat.debruin2009, escalc('PLO'); x scq"),
  six = list(yi = vec(c(-0.89, -1.59, -1.35, -1.44, -0.22, -0.79)),
             vi = vec(c(0.33, 0.19, 0.42, 0.02, 0.05, 0.01)), n = vec(c(30, 60, 25, 400, 150, 900)),
             x = vec(c(44, 55, 42, 52, 13, 44)), source = "inline k = 6 (tied moderator)")
)
hcs <- list(); regs <- list(); perms <- list()
for (dn in names(datasets)) {
  d <- datasets[[dn]]
  yi <- as.numeric(d$yi); vi <- as.numeric(d$vi); n <- as.numeric(d$n); x <- as.numeric(d$x)
  for (m in c("REML", "DL", "FE")) for (tst in c("z", "knha")) {
    res <- rma(yi, vi, method = m, test = tst, control = CTRL)
    key <- paste(dn, m, tst, sep = "/")
    if (tst == "z") for (lev in c(95, 90)) {
      h <- hc(rma(yi, vi, method = m, level = lev, control = CTRL), control = list(tol = 1e-12))
      hcs[[paste(key, lev, sep = "/")]] <- list(beta = num(h$beta), se = num(h$se),
        ci_lb = num(h$ci.lb), ci_ub = num(h$ci.ub), tau2 = num(h$tau2))
    }
    for (pr in c("sei", "vi", "ninv", "sqrtninv")) {
      rt <- regtest(res, predictor = pr, ni = n)
      regs[[paste(key, pr, sep = "/")]] <- list(zval = num(rt$zval), pval = num(rt$pval),
        dfs = num(rt$dfs), est = num(rt$est), ci_lb = num(rt$ci.lb), ci_ub = num(rt$ci.ub),
        slope = num(rt$fit$beta[2]), tau2 = num(rt$fit$tau2))
    }
    if (dn == "six" && m != "FE") {
      reg <- rma(yi, vi, mods = ~ x, method = m, test = tst, control = CTRL)
      for (st in c("test", "coef")) {
        pt <- permutest(reg, exact = TRUE, control = list(stat = st))
        perms[[paste(key, st, sep = "/")]] <- list(pval = vec(pt$pval), QMp = num(pt$QMp))
      }
    }
  }
}
out <- list(metafor = as.character(packageVersion("metafor")), datasets = datasets, hc = hcs,
            regtest = regs, permutest = perms)
message("wrote ", write_fixture(out, "bias_more", pretty = FALSE))

# GOSH of Mantel-Haenszel and Peto fits (metafor gosh.rma.mh / gosh.rma.peto: the model refitted
# on every subset of the studies), for tests/test_gosh_mh.py. Six trials of dat.bcg keep the
# 2^6 - 1 = 63 subsets small.
dat <- dat.bcg[c(1, 2, 4, 6, 9, 12), ]
cases <- list()
fits <- list(
  MH_OR = rma.mh(ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat, measure = "OR"),
  MH_RR = rma.mh(ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat, measure = "RR"),
  Peto = rma.peto(ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat))
for (nm in names(fits)) {
  g <- gosh(fits[[nm]], subsets = 1e6)
  incl <- g$incl
  # subset code: sum of 2^(i-1) over the included studies (iometa's `subset` column)
  code <- as.vector(incl %*% 2^(seq_len(ncol(incl)) - 1))
  o <- order(code)
  cases[[nm]] <- list(subset = vec(code[o]), k = vec(g$res$k[o]), estimate = vec(g$res$estimate[o]),
                      QE = vec(g$res$QE[o]), I2 = vec(g$res$I2[o]))
}
out <- list(metafor = as.character(packageVersion("metafor")),
            data = list(ai = vec(dat$tpos), n1 = vec(dat$tpos + dat$tneg), ci = vec(dat$cpos),
                        n2 = vec(dat$cpos + dat$cneg)),
            cases = cases)
path <- write_fixture(out, "gosh_mh", pretty = FALSE)
message("wrote ", path)

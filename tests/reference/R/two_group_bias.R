# Egger's test on Mantel-Haenszel and Peto fits (metafor regtest on rma.mh / rma.peto: a
# common-effect model of the studies with a defined effect), for tests/test_two_group_bias.py.
dat <- dat.bcg
cases <- list()
for (m in c("OR", "RR", "RD")) {
  r <- rma.mh(ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat, measure = m)
  e <- regtest(r)
  cases[[length(cases) + 1]] <- list(method = "MH", measure = m, zval = num(e$zval),
                                     pval = num(e$pval), est = num(e$est))
}
r <- rma.peto(ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat)
e <- regtest(r)
cases[[length(cases) + 1]] <- list(method = "Peto", measure = "OR", zval = num(e$zval),
                                   pval = num(e$pval), est = num(e$est))
out <- list(metafor = as.character(packageVersion("metafor")),
            data = list(ai = vec(dat$tpos), n1 = vec(dat$tpos + dat$tneg), ci = vec(dat$cpos),
                        n2 = vec(dat$cpos + dat$cneg)),
            cases = cases)
path <- write_fixture(out, "two_group_bias", pretty = TRUE)
message("wrote ", path)

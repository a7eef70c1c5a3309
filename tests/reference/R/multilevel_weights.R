# Row weights of a three-level model (metafor weights.rma.mv, type "diagonal": diag(W) / sum,
# W the inverse marginal covariance), at the variance components iometa's exact REML optimum
# gives (fixed in rma.mv, so the weights do not depend on metafor's optimiser), for
# tests/test_forest_clusters.py.
d <- dat.konstantopoulos2011[1:20, ]
s2 <- c(0.045079821983031995, 0.02173188991485086)
f <- rma.mv(yi, vi, random = ~ 1 | district/school, data = d, sigma2 = s2)
out <- list(metafor = as.character(packageVersion("metafor")), sigma2 = vec(s2),
            yi = vec(d$yi), vi = vec(d$vi), cluster = vec(d$district),
            weights = vec(weights(f)), b = num(f$beta), se = num(f$se))
path <- write_fixture(out, "multilevel_weights", pretty = FALSE)
message("wrote ", path)

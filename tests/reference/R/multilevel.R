# Reference fixtures for the three-level model (rma.mv with random = ~ 1 | cluster/obs) and for
# cluster-robust inference (robust(), with and without clubSandwich).  Writes
# tests/reference/multilevel.json.
#
#   Rscript tests/reference/make_reference.R multilevel
#
# Sourced by make_reference.R with REF_DIR set, after helpers.R (num, vec, write_fixture, ...).
#
# How the fixtures meet the exact optimum.  metafor's optimiser (nlminb on log sigma^2) stops up
# to ~1e-6 (relative) away from the REML/ML optimum even with tight controls: near the optimum
# the log-likelihood changes by ~1e-12 only, which is its rounding noise.  So:
#   1. rma.mv is fitted with its defaults, then refitted from there (control sigma2.init) with
#      optim/BFGS (reltol 1e-15) and nlminb (rel.tol 1e-12): `free` below;
#   2. the score equations of the (restricted) likelihood are solved here, independently of
#      metafor and of iometa, with dense k x k matrices: Fisher scoring to |step| < 1e-15
#      (`score_root`; P built from an orthonormal basis of X, since P depends on X only
#      through its column space and an unscaled year would cost ~6 digits);
#   3. rma.mv is refitted with sigma2 fixed at that root (`at_root`): coefficients, SEs,
#      tests, CIs, Q, logLik and robust() come from metafor itself at the exact optimum.
#      The fixture records |root - free| / root and logLik(at_root) - logLik(free) >= -1e-10
#      (the root is at least as good as metafor's own optimum).
# A variance component whose free estimate is < 1e-6 is at the boundary: it is fixed at 0 in the
# root (the score there is recorded and must be < 0: the Karush-Kuhn-Tucker condition).
# Profile-likelihood CIs: confint(ci_fit, sigma2 = j, control = list(tol = 1e-12)), ci_fit =
# rma.mv with default controls (nlminb, else optim BFGS / Nelder-Mead) started at the root (sigma2.init; with the tight controls of
# step 1 metafor's profile refits fail to converge). The profile refits the other component
# with metafor's optimiser; the profile is flat there, so its error is of second order.
# LRT: 2 (logLik(at_root) - logLik(reduced)), reduced = rma.mv with sigma2 = c(0, NA) (rows
# independent: equals rma(yi, vi)) or c(NA, 0), fitted as in step 1; metafor's anova() gives
# the same statistic (recorded too, from the free fits).
# Multilevel I^2 (metafor FAQ, Cheung 2014): 100 sigma2 / (sum(sigma2) + (k - p) / tr(P)),
# P = W - W X (X'WX)^-1 X'W, W = diag(1 / vi).
# Robust: robust(at_root, cluster, adjust = TRUE) (CR1) and robust(at_root, cluster,
# clubSandwich = TRUE) (CR2 with Satterthwaite df), and the same on two-level rma() fits.
suppressPackageStartupMessages(library(clubSandwich))

tight_mv <- function(yi, vi, cl, X, method, sigma2 = c(NA, NA)) {
  obs <- seq_along(yi)
  args <- list(yi = yi, V = vi, mods = X, intercept = FALSE, random = ~ 1 | cl / obs,
               method = method, sigma2 = sigma2, data = data.frame(cl = cl, obs = obs))
  f <- do.call(rma.mv, args)
  # optim/BFGS works on log(sigma2): at a boundary it drifts towards -Inf without end, so a
  # component already < 1e-6 is left to nlminb alone
  opts <- list(list(optimizer = "optim", optmethod = "BFGS", reltol = 1e-15, maxit = 1e5),
                   list(optimizer = "nlminb", rel.tol = 1e-12, eval.max = 1e5,
                        iter.max = 1e5))
  if (any(f$sigma2[is.na(sigma2)] < 1e-6)) opts <- opts[2]
  for (opt in opts) {
    init <- f$sigma2
    init[!is.na(sigma2)] <- sigma2[!is.na(sigma2)]
    init <- pmax(init, 1e-8)
    f2 <- try(do.call(rma.mv, c(args, list(control = c(list(sigma2.init = init), opt)))),
              silent = TRUE)
    if (!inherits(f2, "try-error")) f <- f2
  }
  f
}

dense_parts <- function(y, v, cl, Q, s) {
  J <- outer(cl, cl, "==") * 1
  V <- diag(v + s[2]) + s[1] * J
  Vi <- chol2inv(chol(V))
  ViQ <- Vi %*% Q
  P <- Vi - ViQ %*% solve(crossprod(Q, ViQ), t(ViQ))
  list(J = J, Vi = Vi, P = P)
}

score_root <- function(y, v, cl, X, method, start, fixed = c(NA, NA)) {
  Q <- qr.Q(qr(X))
  s <- ifelse(is.na(fixed), start, fixed)
  free <- which(is.na(fixed))
  for (it in 1:1000) {
    dp <- dense_parts(y, v, cl, Q, s)
    Qm <- if (method == "REML") dp$P else dp$Vi
    Va <- list(dp$J, diag(length(y)))
    Py <- dp$P %*% y
    g <- sapply(1:2, function(a) -0.5 * (sum(Qm * Va[[a]]) - sum(Py * (Va[[a]] %*% Py))))
    info <- matrix(0, 2, 2)
    for (a in 1:2) for (b in 1:2)
      info[a, b] <- 0.5 * sum(diag(Qm %*% Va[[a]] %*% Qm %*% Va[[b]]))
    if (!length(free)) break
    step <- solve(info[free, free, drop = FALSE], g[free])
    s[free] <- s[free] + step
    if (max(abs(step) / (1 + s[free])) < 1e-15) break
  }
  list(sigma2 = s, score = g, iterations = it)
}

i2_faq <- function(vi, X, sigma2) {
  W <- diag(1 / vi)
  P <- W - W %*% X %*% solve(t(X) %*% W %*% X) %*% t(X) %*% W
  vt <- (length(vi) - ncol(X)) / sum(diag(P))
  list(total = 100 * sum(sigma2) / (sum(sigma2) + vt), levels = vec(100 * sigma2 / (sum(sigma2) + vt)))
}

coef_numbers <- function(f) {
  list(b = vec(f$beta), se = vec(f$se), stat = vec(f$zval), pval = vec(f$pval),
       ci_lb = vec(f$ci.lb), ci_ub = vec(f$ci.ub), vb = vec(as.vector(f$vb)),
       ddf = num(if (is.null(f$ddf)) NA else f$ddf[1]), QM = num(f$QM), QMp = num(f$QMp),
       QMdf = vec(f$QMdf))
}

robust_numbers <- function(f, clv) {
  cr1 <- robust(f, cluster = clv, adjust = TRUE)
  cr2 <- robust(f, cluster = clv, clubSandwich = TRUE)
  list(CR1 = c(coef_numbers(cr1), list(df = vec(cr1$dfs))),
       CR2 = c(coef_numbers(cr2), list(df = vec(cr2$dfs))))
}

mv_case <- function(name, d, method, test, mods) {
  X <- if (is.null(mods)) matrix(1, nrow(d), 1, dimnames = list(NULL, "intrcpt")) else
    model.matrix(as.formula(paste("~", mods)), d)
  free <- tight_mv(d$yi, d$vi, d$cluster, X, method)
  fixed <- ifelse(free$sigma2 < 1e-6, 0, NA)
  if (all(!is.na(fixed))) stop("both components at the boundary in ", name)
  root <- score_root(d$yi, d$vi, d$cluster, X, method, pmax(free$sigma2, 1e-4), fixed)
  free_b <- if (any(!is.na(fixed))) tight_mv(d$yi, d$vi, d$cluster, X, method, fixed) else free
  obs <- seq_len(nrow(d))
  at <- rma.mv(d$yi, d$vi, mods = X, intercept = FALSE, random = ~ 1 | cl / obs,
               method = method, test = test, sigma2 = root$sigma2,
               data = data.frame(cl = d$cluster, obs = obs))
  # profile CIs from a fit with metafor's default optimiser started at the root (the tight
  # controls of `free` make the profile refits fail to converge)
  ci_fit <- free
  for (opt in list(list(), list(optimizer = "optim", optmethod = "BFGS"),
                   list(optimizer = "optim", optmethod = "Nelder-Mead"))) {
    f2 <- try(rma.mv(d$yi, d$vi, mods = X, intercept = FALSE, random = ~ 1 | cl / obs,
                     method = method, test = test,
                     control = c(list(sigma2.init = pmax(root$sigma2, 1e-10)), opt),
                     data = data.frame(cl = d$cluster, obs = obs)), silent = TRUE)
    if (!inherits(f2, "try-error")) { ci_fit <- f2; break }
  }
  ci <- lapply(1:2, function(j) {
    r <- confint(ci_fit, sigma2 = j, control = list(tol = 1e-12))$random[1, ]
    vec(r)
  })
  red <- lapply(1:2, function(j) {
    s <- c(NA, NA); s[j] <- 0
    tight_mv(d$yi, d$vi, d$cluster, X, method, s)
  })
  lrt <- sapply(red, function(r) 2 * (as.numeric(logLik(at)) - as.numeric(logLik(r))))
  av <- anova(free, red[[1]])
  list(name = name, data = name_of(d), method = method, test = test,
       mods = if (is.null(mods)) NULL else mods, terms = I(colnames(X)),
       sigma2 = vec(root$sigma2), sigma2_free = vec(free_b$sigma2),
       sigma2_rel_diff_free = vec(abs(root$sigma2 - free_b$sigma2) /
                                  pmax(root$sigma2, 1e-300)),
       score_at_root = vec(root$score), fixed_at_zero = vec(!is.na(fixed)),
       logLik = num(logLik(at)), logLik_free = num(logLik(free_b)),
       coef = coef_numbers(at), QE = num(at$QE), QEp = num(at$QEp), QEdf = at$k - at$p,
       k = at$k, p = at$p, n_clusters = length(unique(d$cluster)),
       sigma2_ci = list(between = ci[[1]], within = ci[[2]]),
       lrt = vec(lrt), lrt_pval = vec(pchisq(lrt, 1, lower.tail = FALSE)),
       anova_LRT = num(av$LRT), anova_pval = num(av$pval),
       I2 = i2_faq(d$vi, X, root$sigma2),
       robust = robust_numbers(at, d$cluster))
}

# ---------------------------------------------------------------- datasets
kon <- dat.konstantopoulos2011
ass <- dat.assink2016
set.seed(7)
cl_b <- rep(1:8, each = 3)
vi_b <- runif(24, 0.02, 0.1)
yi_b <- rnorm(8, 0, 0.4)[cl_b] + rnorm(24, 0, sqrt(vi_b)) * 0.3
datasets <- list(
  konstantopoulos2011 = data.frame(yi = kon$yi, vi = kon$vi, cluster = kon$district,
                                   year = kon$year),
  assink2016 = data.frame(yi = ass$yi, vi = ass$vi, cluster = ass$study, year = ass$year,
                          deltype = ass$deltype),
  boundary_within = data.frame(yi = yi_b, vi = vi_b, cluster = cl_b,
                               x = rep(c(0, 1), 12))
)
name_of <- function(d) names(datasets)[sapply(datasets, function(e) identical(e, d))][1]
sources <- list(
  konstantopoulos2011 = "metadat::dat.konstantopoulos2011 (yi, vi, cluster = district, year)",
  assink2016 = "metadat::dat.assink2016 (yi, vi, cluster = study, year, deltype)",
  boundary_within = paste("set.seed(7); cl = rep(1:8, each = 3); vi = runif(24, .02, .1);",
                          "yi = rnorm(8, 0, .4)[cl] + rnorm(24, 0, sqrt(vi)) * .3;",
                          "x = rep(c(0, 1), 12) (within-cluster variance at 0)")
)

specs <- list()
for (m in c("REML", "ML")) for (tt in c("z", "t")) {
  specs[[length(specs) + 1]] <- list("konstantopoulos2011", m, tt, NULL)
  specs[[length(specs) + 1]] <- list("konstantopoulos2011", m, tt, "year")
  specs[[length(specs) + 1]] <- list("assink2016", m, tt, NULL)
  specs[[length(specs) + 1]] <- list("assink2016", m, tt, "deltype")
}
specs[[length(specs) + 1]] <- list("boundary_within", "REML", "z", NULL)
specs[[length(specs) + 1]] <- list("boundary_within", "ML", "t", "x")

cases <- lapply(specs, function(s) {
  nm <- paste(s[[1]], s[[2]], s[[3]], if (is.null(s[[4]])) "int" else s[[4]], sep = "_")
  message("  ", nm)
  mv_case(nm, datasets[[s[[1]]]], s[[2]], s[[3]], s[[4]])
})

# two-level rma fits with robust(): pool (intercept only) and meta-regression
uni_cases <- list()
for (dn in c("konstantopoulos2011", "assink2016")) for (m in c("REML", "DL", "FE")) {
  d <- datasets[[dn]]
  for (mods in list(NULL, "year")) {
    f <- if (is.null(mods)) rma(yi, vi, data = d, method = m, control = CTRL) else
      rma(yi, vi, mods = ~ year, data = d, method = m, control = CTRL)
    cr1 <- robust(f, cluster = cluster, adjust = TRUE)
    cr2 <- robust(f, cluster = cluster, clubSandwich = TRUE)
    uni_cases[[length(uni_cases) + 1]] <- list(
      name = paste(dn, m, if (is.null(mods)) "int" else mods, sep = "_"), data = dn,
      method = m, mods = if (is.null(mods)) NULL else mods, tau2 = num(f$tau2),
      coef = coef_numbers(f),
      robust = list(CR1 = c(coef_numbers(cr1), list(df = vec(cr1$dfs))),
                    CR2 = c(coef_numbers(cr2), list(df = vec(cr2$dfs)))))
  }
}

enc <- lapply(datasets, function(d) lapply(d, function(x) if (is.numeric(x)) vec(x) else I(as.character(x))))
out <- list(
  generated_by = "tests/reference/R/multilevel.R",
  versions = list(R = R.version.string, metafor = as.character(packageVersion("metafor")),
                  clubSandwich = as.character(packageVersion("clubSandwich"))),
  sources = sources, datasets = enc, cases = cases, uni_cases = uni_cases
)
write_fixture(out, "multilevel", pretty = FALSE)

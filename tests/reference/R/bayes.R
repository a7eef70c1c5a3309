# Reference fixtures for the exact Bayesian normal-normal random-effects model (iometa/bayes.py,
# iometa.pool_bayes). Writes tests/reference/bayes.json.
#
#   Rscript tests/reference/make_reference.R bayes
#
# Sourced by make_reference.R with REF_DIR set, after helpers.R (num, vec, write_fixture).
# bayesmeta is not available (not in Debian, CRAN unreachable), so the posterior is computed here
# by direct numerical integration, independently of the Python code:
#   y_i | theta_i ~ N(theta_i, v_i), theta_i | mu, tau ~ N(mu, tau^2),
#   tau ~ half-normal(scale) | half-Cauchy(scale) | uniform(0, scale),
#   mu flat (density 1) or N(m0, s0^2).
# p(y | tau) with mu integrated out is closed form (w_i = 1 / (v_i + tau^2),
# W = sum(w) [+ 1/s0^2], mhat = (sum(w y) [+ m0/s0^2]) / W, R = sum(w (y - mhat)^2)
# [+ (m0 - mhat)^2 / s0^2]):
#   flat:   (2 pi)^(-(k-1)/2) prod(w)^(1/2) W^(-1/2) exp(-R/2)
#   normal: (2 pi)^(-k/2) prod(w)^(1/2) s0^(-1) W^(-1/2) exp(-R/2).
# mu | tau, y ~ N(mhat, 1/W); theta_new | tau, y ~ N(mhat, 1/W + tau^2);
# theta_i | tau, y ~ N((1 - B_i) y_i + B_i mhat, v_i (1 - B_i) + B_i^2 / W), B_i = v_i/(v_i+tau^2).
# Every posterior quantity is a 1-d integral over tau: integrate(rel.tol = 1e-12) over pieces
# split at multiples of the scale of the problem; quantiles by uniroot (tol 1e-14 x scale) on the
# mixture CDF; shortest intervals by uniroot on a of f(q(a + level)) - f(q(a)) (equal density at
# both ends), cross-checked with optimize() on the interval length. One case is cross-checked
# against a brute-force grid (trapezoid rule on 4e5 points).
# Moments that do not exist (half-Cauchy prior: p(tau | y) ~ tau^-(k+1) with flat mu,
# tau^-(k+2) with a normal mu prior) are written as "Inf".
suppressPackageStartupMessages(library(metadat))

RTOL <- 1e-12

make_model <- function(y, v, tau_prior, tau_scale, mu_prior) {
  k <- length(y)
  lprior <- switch(tau_prior,
    "half-normal" = function(t) log(2) + dnorm(t, 0, tau_scale, log = TRUE),
    "half-cauchy" = function(t) log(2) + dcauchy(t, 0, tau_scale, log = TRUE),
    "uniform" = function(t) ifelse(t <= tau_scale, -log(tau_scale), -Inf))
  cond <- function(t) {  # conditional moments at each t (vectors; one row per t)
    w <- 1 / outer(t^2, v, "+")
    if (is.null(mu_prior)) {
      W <- rowSums(w); m <- drop(w %*% y) / W
      R <- rowSums(w * (matrix(y, length(t), k, byrow = TRUE) - m)^2)
      ll <- -(k - 1) / 2 * log(2 * pi) + 0.5 * rowSums(log(w)) - 0.5 * log(W) - R / 2
    } else {
      m0 <- mu_prior[1]; s0 <- mu_prior[2]
      W <- rowSums(w) + 1 / s0^2; m <- (drop(w %*% y) + m0 / s0^2) / W
      R <- rowSums(w * (matrix(y, length(t), k, byrow = TRUE) - m)^2) + (m0 - m)^2 / s0^2
      ll <- -k / 2 * log(2 * pi) + 0.5 * rowSums(log(w)) - log(s0) - 0.5 * log(W) - R / 2
    }
    cbind(ll = ll, m = m, V = 1 / W)
  }
  upper <- if (tau_prior == "uniform") tau_scale else Inf
  sc <- max(tau_scale, sqrt(max(v)), if (k > 1) sd(y) else 0)
  brk <- sort(unique(c(0, sc * c(0.02, 0.1, 0.3, 1, 3, 10, 30, 100), upper)))
  brk <- brk[brk <= upper]
  grid <- seq(0, min(upper, 20 * sc), length.out = 2001)
  lmax <- max(lprior(grid) + cond(grid)[, "ll"])
  fu <- function(t) exp(lprior(t) + cond(t)[, "ll"] - lmax)  # unnormalised posterior
  integ <- function(f, lo = 0, hi = upper) {
    b <- c(lo, brk[brk > lo & brk < hi], hi)
    s <- 0
    for (j in seq_len(length(b) - 1)) {
      s <- s + integrate(f, b[j], b[j + 1], rel.tol = RTOL, abs.tol = 0,
                         subdivisions = 5000L, stop.on.error = TRUE)$value
    }
    s
  }
  Zn <- integ(fu)
  post <- function(t) fu(t) / Zn
  # tail exponent of p(tau | y) (half-Cauchy only; the other priors have light tails)
  a <- if (tau_prior == "half-cauchy") (if (is.null(mu_prior)) k + 1 else k + 2) else Inf
  list(y = y, v = v, k = k, cond = cond, post = post, integ = integ, lprior = lprior,
       logZ = log(Zn) + lmax, upper = upper, sc = sc, a = a, mu_prior = mu_prior)
}

# the mixture for "mu", "theta_new" or study i: mean and sd at each tau
mix_ms <- function(M, what) {
  function(t) {
    cc <- M$cond(t)
    if (what == "mu") return(cbind(cc[, "m"], sqrt(cc[, "V"])))
    if (what == "theta_new") return(cbind(cc[, "m"], sqrt(cc[, "V"] + t^2)))
    i <- as.integer(what)
    B <- M$v[i] / (M$v[i] + t^2)
    cbind((1 - B) * M$y[i] + B * cc[, "m"], sqrt(M$v[i] * (1 - B) + B^2 * cc[, "V"]))
  }
}

cdf <- function(M, what, x) {
  if (what == "tau") return(if (x <= 0) 0 else M$integ(M$post, 0, min(x, M$upper)))
  ms <- mix_ms(M, what)
  M$integ(function(t) { s <- ms(t); M$post(t) * pnorm(x, s[, 1], s[, 2]) })
}
dens <- function(M, what, x) {
  if (what == "tau") return(if (x < 0 || x > M$upper) 0 else M$post(x))
  ms <- mix_ms(M, what)
  M$integ(function(t) { s <- ms(t); M$post(t) * dnorm(x, s[, 1], s[, 2]) })
}
quant <- function(M, what, p) {
  tol <- 1e-14 * M$sc
  if (what == "tau") {
    hi <- if (is.finite(M$upper)) M$upper else M$sc
    while (!is.finite(M$upper) && cdf(M, what, hi) < p) hi <- hi * 4
    return(uniroot(function(x) cdf(M, what, x) - p, c(0, hi), tol = tol)$root)
  }
  c0 <- M$integ(function(t) M$post(t) * mix_ms(M, what)(t)[, 1])
  w <- 3 * M$sc + 3 * sqrt(max(M$v))
  lo <- c0 - w; hi <- c0 + w
  while (cdf(M, what, lo) > p) lo <- c0 - 2 * (c0 - lo)  # geometric: heavy tails
  while (cdf(M, what, hi) < p) hi <- c0 + 2 * (hi - c0)
  uniroot(function(x) cdf(M, what, x) - p, c(lo, hi), tol = tol)$root
}
shortest <- function(M, what, level) {
  g <- function(a) dens(M, what, quant(M, what, a + level)) - dens(M, what, quant(M, what, a))
  amax <- 1 - level
  # a = 0 when the density at the upper limit of [q(0), q(level)] is already below that at q(0)
  eps <- 1e-6 * amax
  g0 <- if (what == "tau") dens(M, what, quant(M, what, level)) - dens(M, what, 0) else g(eps)
  if (g0 <= 0) a <- 0 else a <- uniroot(g, c(eps, amax - eps), tol = 1e-13)$root
  lims <- c(if (a == 0 && what == "tau") 0 else quant(M, what, a), quant(M, what, a + level))
  len <- function(a) quant(M, what, a + level) - quant(M, what, a)
  opt <- optimize(len, c(if (what == "tau") 0 else eps, amax - eps), tol = 1e-10)
  list(a = a, ci = lims, optimize_a = opt$minimum, optimize_length = opt$objective)
}
moments <- function(M, what) {
  if (what == "tau") {
    m1 <- if (M$a > 2) M$integ(function(t) t * M$post(t)) else Inf
    m2 <- if (M$a > 3) M$integ(function(t) t^2 * M$post(t)) else Inf
  } else {
    ms <- mix_ms(M, what)
    m1 <- M$integ(function(t) M$post(t) * ms(t)[, 1])
    var_inf <- M$a <= 3 && (what == "theta_new" || (what == "mu" && is.null(M$mu_prior)))
    m2 <- if (var_inf) Inf else M$integ(function(t) { s <- ms(t); M$post(t) * (s[, 1]^2 + s[, 2]^2) })
  }
  c(mean = m1, sd = if (is.finite(m1) && is.finite(m2)) sqrt(max(m2 - m1^2, 0)) else Inf)
}
row_for <- function(M, what, level) {
  mo <- moments(M, what)
  a2 <- (1 - level) / 2
  list(median = quant(M, what, 0.5), mean = num(mo[["mean"]]), sd = num(mo[["sd"]]),
       ci_low = quant(M, what, a2), ci_high = quant(M, what, 1 - a2))
}

fit_case <- function(cs) {
  M <- make_model(cs$yi, cs$vi, cs$tau_prior, cs$tau_scale, cs$mu_prior)
  level <- cs$level
  summ <- lapply(c(tau = "tau", mu = "mu", theta_new = "theta_new"), row_for, M = M, level = level)
  short <- lapply(c(tau = "tau", mu = "mu", theta_new = "theta_new"), shortest, M = M, level = level)
  shr <- lapply(seq_len(M$k), function(i) row_for(M, as.character(i), level))
  shrink <- list(mean = vec(sapply(shr, `[[`, "mean")), sd = vec(sapply(shr, `[[`, "sd")),
                 median = vec(sapply(shr, `[[`, "median")),
                 ci_low = vec(sapply(shr, `[[`, "ci_low")), ci_high = vec(sapply(shr, `[[`, "ci_high")))
  q <- summ$tau
  xs_tau <- M$sc * c(0, 0.1, 0.5, 1, 2)
  if (is.finite(M$upper)) xs_tau <- pmin(xs_tau, M$upper * 0.999)
  c0 <- summ$mu$median
  xs_mu <- c0 + M$sc * c(-1, -0.3, 0, 0.4, 1.2)
  ll0 <- M$cond(0)[, "ll"]
  out <- list(
    name = cs$name, source = cs$source, yi = vec(cs$yi), vi = vec(cs$vi),
    tau_prior = cs$tau_prior, tau_scale = cs$tau_scale,
    mu_prior = if (is.null(cs$mu_prior)) NULL else vec(cs$mu_prior), level = level,
    summary = summ,
    shortest = lapply(short, function(s) list(ci_low = s$ci[1], ci_high = s$ci[2], a = s$a,
                                              optimize_a = s$optimize_a)),
    shrinkage = shrink,
    log_marginal = M$logZ, bf01 = exp(ll0 - M$logZ),
    density = list(tau_x = vec(xs_tau), tau = vec(sapply(xs_tau, function(x) dens(M, "tau", x))),
                   mu_x = vec(xs_mu), mu = vec(sapply(xs_mu, function(x) dens(M, "mu", x))),
                   theta_new = vec(sapply(xs_mu, function(x) dens(M, "theta_new", x)))),
    cdf_tau = vec(sapply(xs_tau, function(x) cdf(M, "tau", x)))
  )
  if (!is.null(cs$backtransform)) {  # inverse logit of mu: quantiles map, the mean by 2-d integral
    ms <- mix_ms(M, "mu")
    inner <- function(t, p) sapply(seq_along(t), function(j) {
      s <- ms(t[j])
      integrate(function(u) plogis(u)^p * dnorm(u, s[1], s[2]), -Inf, Inf, rel.tol = RTOL)$value
    })
    e1 <- M$integ(function(t) M$post(t) * inner(t, 1))
    e2 <- M$integ(function(t) M$post(t) * inner(t, 2))
    out$mu_ilogit <- list(median = plogis(summ$mu$median), mean = e1, sd = sqrt(e2 - e1^2),
                          ci_low = plogis(summ$mu$ci_low), ci_high = plogis(summ$mu$ci_high))
  }
  out
}

# brute-force cross-check of the integrate() machinery on one case: trapezoid rule on a fine grid
grid_check <- function(cs) {
  M <- make_model(cs$yi, cs$vi, cs$tau_prior, cs$tau_scale, cs$mu_prior)
  t <- seq(0, 60 * M$sc, length.out = 400001)
  cc <- M$cond(t)
  f <- exp(M$lprior(t) + cc[, "ll"] - M$logZ)
  h <- t[2] - t[1]
  trap <- function(g) h * (sum(g) - (g[1] + g[length(g)]) / 2)
  mass <- trap(f)
  e_tau <- trap(t * f)
  e_mu <- trap(cc[, "m"] * f)
  sd_mu <- sqrt(trap((cc[, "m"]^2 + cc[, "V"]) * f) - e_mu^2)
  med <- quant(M, "mu", 0.5)
  cdf_med <- trap(pnorm(med, cc[, "m"], sqrt(cc[, "V"])) * f)
  ref <- list(mass = 1, e_tau = M$integ(function(x) x * M$post(x)),
              e_mu = moments(M, "mu")[["mean"]], sd_mu = moments(M, "mu")[["sd"]], cdf_med = 0.5)
  grid <- list(mass = mass, e_tau = e_tau, e_mu = e_mu, sd_mu = sd_mu, cdf_med = cdf_med)
  rel <- mapply(function(a, b) abs(a - b) / abs(b), grid, ref)
  if (any(rel > 1e-7)) stop("grid cross-check failed: ", paste(names(rel), signif(rel, 3)))
  list(case = cs$name, grid = grid, integrate = ref, max_rel_diff = max(rel))
}

bcg <- escalc("RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)
BCG_SRC <- "metadat::dat.bcg, escalc('RR') (log risk ratios)"
prop <- escalc("PLO", xi = c(5, 18, 9), ni = c(30, 45, 25))
case <- function(name, yi, vi, tau_prior, tau_scale, mu_prior = NULL, source = "inline",
                 level = 0.95, ...) {
  list(name = name, yi = as.numeric(yi), vi = as.numeric(vi), tau_prior = tau_prior,
       tau_scale = tau_scale, mu_prior = mu_prior, source = source, level = level, ...)
}
CASES <- list(
  case("bcg_hn_flat", bcg$yi, bcg$vi, "half-normal", 0.5, source = BCG_SRC),
  case("bcg_hc_flat", bcg$yi, bcg$vi, "half-cauchy", 0.5, source = BCG_SRC),
  case("bcg_unif_normal", bcg$yi, bcg$vi, "uniform", 2, c(0, 2), source = BCG_SRC),
  case("bcg_hn_normal", bcg$yi, bcg$vi, "half-normal", 0.5, c(-0.5, 1), source = BCG_SRC,
       level = 0.9),
  case("bcg_hc_normal", bcg$yi, bcg$vi, "half-cauchy", 1, c(0, 10), source = BCG_SRC),
  case("k2_hn_flat", c(-0.9, -0.1), c(0.12, 0.05), "half-normal", 0.5),
  case("k2_hc_flat", c(-0.9, -0.1), c(0.12, 0.05), "half-cauchy", 0.5),
  case("k2_unif_flat", c(-0.9, -0.1), c(0.12, 0.05), "uniform", 1.5),
  case("k2_identical", c(0.3, 0.3), c(0.04, 0.09), "half-normal", 0.5),
  case("k3_prop_logit", prop$yi, prop$vi, "half-normal", 1,
       source = "escalc('PLO', xi = c(5, 18, 9), ni = c(30, 45, 25))", backtransform = "ilogit"),
  case("k3_prop_hc_normal", prop$yi, prop$vi, "half-cauchy", 0.5, c(-1, 1.5),
       source = "escalc('PLO', xi = c(5, 18, 9), ni = c(30, 45, 25))"),
  case("k1_flat", 0.4, 0.1, "half-normal", 0.5),
  case("k1_normal", 0.4, 0.1, "half-cauchy", 0.5, c(0, 1))
)

out <- list(
  note = paste("direct numerical integration (integrate, rel.tol = 1e-12; uniroot), R",
               R.version.string, "; metafor", as.character(packageVersion("metafor")),
               "(escalc only)"),
  grid_check = grid_check(CASES[[1]]),
  cases = lapply(CASES, function(cs) { message("  ", cs$name); fit_case(cs) })
)
message("wrote ", write_fixture(out, "bayes", pretty = TRUE))

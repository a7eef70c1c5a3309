"""Binomial-normal GLMM for single proportions, as ``metafor::rma.glmm(measure="PLO")``.

Model (Hamza, van Houwelingen & Stijnen 2008, J Clin Epidemiol 61:41; Stijnen, Hamza &
Özdemir 2010, Stat Med 29:3046, eq. 2): x_i | u_i ~ Binomial(n_i, expit(beta + theta u_i)),
u_i ~ N(0, 1), tau = theta >= 0, fitted by ML as metafor does through lme4
``glmer(cbind(x, n - x) ~ 1 + (1 | study), binomial, nAGQ = 7)`` (Bates, Mächler, Bolker &
Walker 2015, J Stat Softw 67(1); conventions of lme4 1.1-31 and metafor 3.8-1):

* **Objective**: lme4's deviance in (theta, beta), with the spherical random effect u::

      D = sum_i [ d_i(u^_i) + log(1 + theta^2 W_i)
                  - 2 log sum_k w_k exp(z_k^2 / 2 - (d_i(u^_i + s_i z_k) - d_i(u^_i)) / 2) ]

  d_i(u) = u^2 + dev_i(beta + theta u) (dev_i: binomial deviance residual), u^_i its minimiser
  (penalised IRLS = Newton), W_i = n_i mu_i (1 - mu_i) at u^_i, s_i = (1 + theta^2 W_i)^-1/2,
  (z_k, w_k) the Gauss-Hermite rule for N(0, 1): adaptive Gauss-Hermite quadrature centred at
  the mode and scaled by the conditional curvature (Liu & Pierce 1994, Biometrika 81:624;
  Pinheiro & Bates 1995, J Comput Graph Stat 4:12). ``nagq = 1`` is the Laplace approximation,
  for which lme4 adds -2 l_sat (binomial AIC instead of deviance residuals; a constant).
* **Estimates**: the exact minimiser of D over theta >= 0 (L-BFGS-B, then Newton on
  Richardson-extrapolated finite differences). D is even in theta, so theta = 0 is always
  stationary; it is the estimate when D does not decrease from it ("boundary: tau = 0"; lme4:
  "boundary (singular) fit"), with beta^ = logit(sum x / sum n), the fixed-effect glm.
* **Covariance**: lme4's ``vcov(use.hessian = TRUE)`` = 2 H^-1, H the Hessian of D in
  (theta, beta); if H is singular or the beta element is not positive, lme4's fallback
  (RX'RX)^-1 = 1 / sum W_i / (1 + theta^2 W_i). At theta^ = 0 H is diagonal, so se(beta) is
  the glm one, 1 / sqrt(sum n_i p (1 - p)). lme4 differentiates (step 1e-4) its own deviance,
  which restarts PIRLS from the nAGQ = 0 stage's linear predictor and stops after ~2 steps: an
  error quadratic in the distance from that stage's estimate, which biases lme4's Hessian by
  ~1e-3 (Laplace) or ~1e-6 (7 points) relative. The Hessian here is that of the exact D.
* **metafor's extras**: QE.Wld, the Wald test of the k - 1 study contrasts in the saturated
  glm = sum w_i (eta_i - mean_w eta)^2 with R's final IRLS logits and last working weights
  (0/n and n/n studies drift to |eta| ~ 20, weight ~0); QE.LRT = 2 (l_sat - l_FE); df = k - 1.
  I^2 and H^2 use the Higgins-Thompson typical variance of the ``escalc(PLO)`` variances (1/2
  added to both cells of 0/n and n/n studies). metafor's ``logLik`` = l_sat - deviance / 2
  where lme4's ``deviance()`` of a GLMM is the sum of squared deviance residuals at the modes:
  a conditional log-likelihood (the marginal one is ``marginal_loglik``; lme4's own ``logLik``
  is -D / 2, ``objective``).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from numpy.polynomial.hermite import hermgauss
from scipy import optimize, special, stats

from .._warnings import ConvergenceWarning

__all__ = ["GLMMFit", "GLMMInference", "fit_glmm_logit", "glmm_deviance", "glmm_inference"]

_BOUNDARY_THETA = 1e-4  # below this a bounded solution is checked against theta = 0
_FD_STEP = 1e-3
NOT_IDENTIFIABLE = "tau not identifiable: every study has n = 1; boundary fit tau = 0"


@dataclass(frozen=True)
class GLMMFit:
    """Result of :func:`fit_glmm_logit` (logit scale; names follow metafor's ``rma.glmm``)."""

    coef: float  # beta^, the pooled logit
    se: float  # sqrt(vcov[1, 1]), lme4's Hessian-based standard error
    tau2: float
    tau: float
    loglik: float  # metafor's logLik: l_sat - deviance / 2 (conditional, at the modes)
    deviance: float  # lme4 deviance(): sum of squared deviance residuals at the modes
    converged: bool
    message: str
    n_iter: int
    q_wald: float
    q_wald_pval: float
    q_lrt: float
    q_lrt_pval: float
    q_df: int
    i2: float  # percent
    h2: float
    nagq: int
    vcov: np.ndarray  # 2x2 in (tau, beta); 2 H^-1 (NaN tau row/column if lme4's fallback)
    k: int = 0
    objective: float = float("nan")  # lme4's criterion D at the optimum (its logLik = -D/2)
    marginal_loglik: float = float("nan")  # l_sat - D / 2 (AGQ / Laplace marginal)
    vt: float = float("nan")  # typical within-study variance used for I^2 and H^2


@dataclass(frozen=True)
class GLMMInference:
    """Tests and intervals of ``rma.glmm`` / ``predict.rma`` (logit and proportion scale)."""

    zval: float
    pval: float
    ci_lb: float
    ci_ub: float
    pi_lb: float
    pi_ub: float
    crit: float
    df: int | None
    prop: float
    prop_ci_lb: float
    prop_ci_ub: float
    prop_pi_lb: float
    prop_pi_ub: float


class _Data(NamedTuple):
    x: np.ndarray
    n: np.ndarray
    sat: np.ndarray  # x log(x/n) + (n-x) log((n-x)/n), per study
    z: np.ndarray  # Gauss-Hermite nodes for N(0, 1)
    logw: np.ndarray  # log(weight) + z^2 / 2
    nagq: int


def _as_data(events, n, nagq: int) -> _Data:
    x = np.asarray(events, dtype=float).ravel()
    m = np.asarray(n, dtype=float).ravel()
    if x.shape != m.shape or x.size == 0:
        raise ValueError("events and n must be non-empty and of equal length")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(m))):
        raise ValueError("events and n must be finite (drop missing studies first)")
    if np.any(m <= 0) or np.any(x < 0) or np.any(x > m):
        raise ValueError("need n > 0 and 0 <= events <= n")
    if np.any(x != np.round(x)) or np.any(m != np.round(m)):
        raise ValueError("events and n must be whole numbers")
    if int(nagq) != nagq or not 1 <= nagq <= 25:
        raise ValueError("nagq must be an integer in 1..25 (lme4's range)")
    t, w = hermgauss(int(nagq))
    z = np.sqrt(2.0) * t
    sat = special.xlogy(x, x / m) + special.xlogy(m - x, (m - x) / m)
    return _Data(x, m, sat, z, np.log(w / np.sqrt(np.pi)) + z * z / 2, int(nagq))


def _binom_dev(eta, x, n, sat):
    """Binomial deviance residual 2 [l_sat - l(expit(eta))], stable for large |eta|."""
    return 2.0 * (sat + x * np.logaddexp(0.0, -eta) + (n - x) * np.logaddexp(0.0, eta))


def _modes(theta, beta, d: _Data):
    """Conditional modes u^_i of u^2 + dev_i(beta + theta u) by safeguarded Newton (PIRLS),
    started from one scoring step at the empirical logits; one extra step after |step| < 1e-9
    (quadratic convergence) leaves only rounding error."""
    p = (d.x + 0.5) / (d.n + 1.0)
    w0 = d.n * p * (1.0 - p)
    u = theta * w0 * (special.logit(p) - beta) / (1.0 + theta * theta * w0)
    crit, last = u * u + _binom_dev(beta + theta * u, d.x, d.n, d.sat), False
    for _ in range(100):
        mu = special.expit(beta + theta * u)
        step = (u - theta * (d.x - d.n * mu)) / (1.0 + theta * theta * d.n * mu * (1.0 - mu))
        for _half in range(60):  # the criterion is convex in u: halve until it does not rise
            new = u - step
            c_new = new * new + _binom_dev(beta + theta * new, d.x, d.n, d.sat)
            # (small steps are left alone: rounding in dev_i grows with n_i)
            bad = (c_new > crit + 1e-12 * (1.0 + crit)) & (np.abs(step) > 1e-6 * (1.0 + np.abs(u)))
            if not bad.any():
                break
            step = np.where(bad, step / 2.0, step)
        u, crit = new, c_new
        if last:
            break
        last = bool(np.all(np.abs(step) <= 1e-9 * (1.0 + np.abs(u))))
    mu = special.expit(beta + theta * u)
    return u, d.n * mu * (1.0 - mu)


def _criterion(par, d: _Data):
    """Per-study pieces at (theta, beta): u^, the mode criterion d_i(u^) and D_i."""
    theta, beta = float(par[0]), float(par[1])
    u, w = _modes(theta, beta, d)
    dev0 = _binom_dev(beta + theta * u, d.x, d.n, d.sat)
    c0 = u * u + dev0
    l2 = 1.0 + theta * theta * w
    dev_i = c0 + np.log(l2)
    if d.nagq > 1:
        uk = u[:, None] + d.z[None, :] / np.sqrt(l2)[:, None]
        ck = uk * uk + _binom_dev(beta + theta * uk, d.x[:, None], d.n[:, None], d.sat[:, None])
        dev_i = dev_i - 2.0 * special.logsumexp(d.logw[None, :] - 0.5 * (ck - c0[:, None]), axis=1)
    return u, w, dev0, dev_i


def _objective(par, d: _Data) -> float:
    """D(theta, beta) relative to the saturated model (lme4's AGQ deviance)."""
    return float(np.sum(_criterion(par, d)[3]))


def _fd_derivs(f, p, h):
    """Gradient and Hessian by central differences, Richardson-extrapolated (error O(h^4))."""

    def central(step):
        f0, m = f(p), len(p)
        g, hess = np.zeros(m), np.zeros((m, m))
        e = [np.eye(m)[j] * step[j] for j in range(m)]
        for i in range(m):
            fp, fm = f(p + e[i]), f(p - e[i])
            g[i] = (fp - fm) / (2 * step[i])
            hess[i, i] = (fp - 2 * f0 + fm) / step[i] ** 2
            for j in range(i):
                q = f(p + e[i] + e[j]) - f(p + e[i] - e[j]) - f(p - e[i] + e[j]) + f(p - e[i] - e[j])
                hess[i, j] = hess[j, i] = q / (4 * step[i] * step[j])
        return g, hess

    g1, h1 = central(2 * h)
    g2, h2 = central(h)
    return (4 * g2 - g1) / 3, (4 * h2 - h1) / 3


def _start(d: _Data):
    """Start (pooled logit, DerSimonian-Laird tau of the escalc logits) and a step for the
    finite differences, shrunk when the standard error of beta is small (large n)."""
    xa, na = _escalc_cells(d.x, d.n)
    y, w = np.log(xa / (na - xa)), 1.0 / (1.0 / xa + 1.0 / (na - xa))
    q = np.sum(w * (y - np.sum(w * y) / np.sum(w)) ** 2)
    tau2 = max(0.0, (q - (len(y) - 1)) / (np.sum(w) - np.sum(w * w) / np.sum(w)))
    se_beta = 1.0 / np.sqrt(np.sum(w / (1.0 + tau2 * w)))
    start = np.array([max(np.sqrt(tau2), 0.2), special.logit(np.sum(xa) / np.sum(na))])
    return start, np.full(2, _FD_STEP * min(1.0, 10.0 * se_beta))


def _newton_polish(f, p, h, max_iter=50):
    """Damped Newton on finite-difference derivatives; returns (p, H, iterations, ok)."""
    fp = f(p)
    for it in range(1, max_iter + 1):
        g, hess = _fd_derivs(f, p, h)
        if not np.all(np.isfinite(hess)) or np.any(np.linalg.eigvalsh(hess) <= 0):
            return p, hess, it, False
        step = -np.linalg.solve(hess, g)
        done = -g @ step < 1e-10 * (1.0 + abs(fp))  # Newton decrement: one last step
        for _ in range(40):
            if f(p + step) <= fp + 1e-13 * (1.0 + abs(fp)):
                break
            step = step / 2.0
        p = p + step
        p[0] = abs(p[0])  # D is even in theta
        fp = f(p)
        if done:
            return p, _fd_derivs(f, p, h)[1], it, True
    return p, _fd_derivs(f, p, h)[1], max_iter, False


def _optimise(d, objective=None, start=None, beta_fe=None):
    """Minimise D over theta >= 0; returns (par, Hessian, n_iter, converged, message).

    ``objective`` (D as a function of (theta, beta)), ``start`` ((start, finite-difference
    step)) and ``beta_fe`` (the estimate at theta = 0) default to the binomial model's; the
    Poisson model (:mod:`iometa.glmm_poisson`) passes its own."""
    f = objective or (lambda p: _objective(p, d))
    start, h = _start(d) if start is None else start
    res = optimize.minimize(f, start, jac=lambda p: _fd_derivs(f, p, h)[0],
                            method="L-BFGS-B", bounds=[(0.0, None), (None, None)],
                            options={"ftol": 1e-12, "gtol": 1e-8, "maxiter": 500})
    p, n_iter, ok, hess = np.asarray(res.x, dtype=float), int(res.nit), False, None
    if p[0] >= _BOUNDARY_THETA:
        p, hess, it, ok = _newton_polish(f, p, h)
        n_iter += it
    if p[0] < _BOUNDARY_THETA or not ok:  # theta = 0 is stationary (D is even): a minimum?
        b0 = np.array([0.0, special.logit(np.sum(d.x) / np.sum(d.n)) if beta_fe is None
                       else beta_fe])
        f0 = f(b0)
        near = p[0] < _BOUNDARY_THETA or f0 <= f(p) + 1e-10 * (1.0 + abs(f0))
        if near and f(b0 + [h[0], 0.0]) >= f0:
            return b0, _fd_derivs(f, b0, h)[1], n_iter, True, "boundary: tau = 0"
        if p[0] < _BOUNDARY_THETA:  # a saddle (D falls away from theta = 0): restart inside
            p, hess, it, ok = _restart_inside(f, np.array([max(start[0], 0.1), p[1]]), h)
            n_iter += it
    msg = "converged" if ok else "no convergence: Newton polish stopped (Hessian not p.d.?)"
    return p, hess, n_iter, ok, msg


def _bernoulli(d: _Data):
    """Every study has n = 1: the likelihood depends on (beta, tau) only through
    pi = E[expit(beta + tau u)] (each study is one Bernoulli trial), so every tau, with the beta
    giving pi = sum x / k, is a maximum (the quadrature only adds rounding-level slopes). The
    fit is the boundary one, tau = 0, beta = logit(sum x / k) (lme4 stops near it with
    'Hessian is numerically singular')."""
    f = lambda p: _objective(p, d)  # noqa: E731
    b0 = np.array([0.0, special.logit(np.sum(d.x) / np.sum(d.n))])
    h = _start(d)[1]
    return b0, _fd_derivs(f, b0, h)[1], 0, True, NOT_IDENTIFIABLE


def _restart_inside(f, p0, h):
    """Minimise D again with theta kept off the boundary (theta >= 10 x the boundary limit),
    then polish: used when the first run stopped at theta = 0 although D decreases from there
    (theta = 0 is a saddle or maximum of the even function D, where the projected gradient
    vanishes). Newton alone from a small theta fails where D is concave in theta."""
    res = optimize.minimize(f, p0, jac=lambda p: _fd_derivs(f, p, h)[0], method="L-BFGS-B",
                            bounds=[(10 * _BOUNDARY_THETA, None), (None, None)],
                            options={"ftol": 1e-12, "gtol": 1e-8, "maxiter": 500})
    p, hess, it, ok = _newton_polish(f, np.asarray(res.x, dtype=float), h)
    return p, hess, it + int(res.nit), ok


def _vcov(hess, theta, w):
    """lme4 ``vcov``: 2 H^-1, else the conditional (RX'RX)^-1 at fixed theta."""
    try:
        v = 2.0 * np.linalg.inv(hess)
        v = (v + v.T) / 2.0
    except np.linalg.LinAlgError:
        v = np.full((2, 2), np.nan)
    if not np.isfinite(v).all() or v[1, 1] <= 0:
        v = np.full((2, 2), np.nan)
        v[1, 1] = 1.0 / np.sum(w / (1.0 + theta * theta * w))
    return v


def _escalc_cells(x, n):
    """metafor escalc(PLO) cells: add 1/2 to events and non-events of 0/n and n/n studies."""
    add = np.where((x == 0) | (x == n), 0.5, 0.0)
    return x + add, n + 2 * add


def _saturated_glm(x, n):
    """R ``glm.fit`` IRLS for the saturated binomial model (one logit per study).

    The design spans R^k, so each IRLS step sets eta to the working response, study by study;
    R's stopping rule |dev - dev_old| / (|dev| + 0.1) < 1e-8 (maxit 25) and logit clamping at
    |eta| > 30 are kept. Returns the final logits and the working weights of the last
    iteration (those of R's ``vcov``); 0/n and n/n studies drift to |eta| ~ 20 with weight ~0.
    """
    y, eps, sat = x / n, np.finfo(float).eps, special.xlogy(x, x / n) + special.xlogy(n - x, 1 - x / n)
    mu = (x + 0.5) / (n + 1.0)
    eta = special.logit(mu)
    dev_old = np.sum(_binom_dev(eta, x, n, sat))
    for _ in range(25):
        mu_eta = np.where(np.abs(eta) > 30, eps, mu * (1.0 - mu))
        w = n * mu_eta**2 / (mu * (1.0 - mu))
        eta = eta + (y - mu) / mu_eta
        mu = np.where(eta < -30, eps / (1 + eps), np.where(eta > 30, 1 / (1 + eps), special.expit(eta)))
        dev = np.sum(_binom_dev(special.logit(mu), x, n, sat))
        if abs(dev - dev_old) / (abs(dev) + 0.1) < 1e-8:
            break
        dev_old = dev
    return eta, w


def _heterogeneity(d: _Data):
    """QE.Wld, QE.LRT (saturated vs fixed-effect binomial glm) and the saturated log-lik."""
    x, n = d.x, d.n
    ll_sat = float(np.sum(stats.binom.logpmf(x, n, x / n)))
    ll_fe = float(np.sum(stats.binom.logpmf(x, n, np.sum(x) / np.sum(n))))
    eta, w = _saturated_glm(x, n)
    # Wald test of the k - 1 study contrasts: with Var(eta) = diag(1/w) it is Cochran's Q
    q_wald = float(np.sum(w * (eta - np.sum(w * eta) / np.sum(w)) ** 2))
    return max(q_wald, 0.0), max(2.0 * (ll_sat - ll_fe), 0.0), ll_sat


def _typical_variance(x, n):
    """Higgins-Thompson typical variance (k - 1) / tr(P) of the escalc(PLO) variances."""
    xa, na = _escalc_cells(x, n)
    w = 1.0 / (1.0 / xa + 1.0 / (na - xa))
    return (len(x) - 1) / (np.sum(w) - np.sum(w * w) / np.sum(w))


def glmm_deviance(events, n, theta, beta, *, nagq: int = 7) -> float:
    """lme4's ``glmer(..., devFunOnly = TRUE)`` deviance at ``c(theta, beta)``.

    For ``nagq > 1`` the AGQ deviance relative to the saturated model; for ``nagq = 1`` lme4's
    Laplace criterion, which uses -2 log-likelihood (with binomial coefficients) instead.
    """
    d = _as_data(events, n, nagq)
    val = _objective(np.array([theta, beta], dtype=float), d)
    if nagq == 1:
        val -= 2.0 * float(np.sum(stats.binom.logpmf(d.x, d.n, d.x / d.n)))
    return val


def fit_glmm_logit(events, n, *, nagq: int = 7) -> GLMMFit:
    """Binomial-normal random-effects model for proportions (``rma.glmm(measure="PLO")``).

    ``events`` and ``n`` are per-study counts (0/n and n/n studies need no continuity
    correction); ``nagq`` is the number of adaptive Gauss-Hermite points (7 as in metafor,
    1 = Laplace). Raises ``ValueError`` for k < 2 (lme4, and so metafor, refuse a single
    grouping level) and when every study has 0 or every study has n events (no finite MLE).
    Warns :class:`~iometa._warnings.ConvergenceWarning` if the optimisation did not converge.
    """
    d = _as_data(events, n, nagq)
    k = d.x.size
    if k < 2:
        raise ValueError("the GLMM needs k >= 2 studies (metafor: 'Number of parameters to be "
                         "estimated is larger than the number of observations.')")
    if np.sum(d.x) == 0 or np.sum(d.x) == np.sum(d.n):
        raise ValueError("every study has 0 events (or every study has all n events): the GLMM's "
                         "maximum-likelihood estimate does not exist (metafor: 'Cannot fit ML "
                         "model'); pool with measure='PLO' and a continuity correction "
                         "(method='REML'), or report the total events/N with its exact CI")
    par, hess, n_iter, ok, msg = _optimise(d) if np.any(d.n > 1) else _bernoulli(d)
    u, w, dev0, dev_i = _criterion(par, d)
    if not ok:
        warnings.warn(f"GLMM (nagq={nagq}) did not converge: {msg}", ConvergenceWarning,
                      stacklevel=2)
    vcov = _vcov(hess, par[0], w)
    q_wald, q_lrt, ll_sat = _heterogeneity(d)
    tau2, vt = float(par[0] ** 2), _typical_variance(d.x, d.n)
    return GLMMFit(
        coef=float(par[1]), se=float(np.sqrt(vcov[1, 1])), tau2=tau2, tau=float(par[0]),
        loglik=ll_sat - float(np.sum(dev0)) / 2, deviance=float(np.sum(dev0)),
        converged=bool(ok), message=msg, n_iter=int(n_iter),
        q_wald=q_wald, q_wald_pval=float(stats.chi2.sf(q_wald, k - 1)),
        q_lrt=q_lrt, q_lrt_pval=float(stats.chi2.sf(q_lrt, k - 1)), q_df=k - 1,
        i2=float(100.0 * tau2 / (vt + tau2)), h2=float(tau2 / vt + 1.0), nagq=d.nagq, vcov=vcov, k=k,
        objective=float(np.sum(dev_i)) - (2 * ll_sat if nagq == 1 else 0.0),
        marginal_loglik=ll_sat - float(np.sum(dev_i)) / 2, vt=float(vt),
    )


def glmm_inference(fit: GLMMFit, *, level: float = 0.95, test: str = "z") -> GLMMInference:
    """z/t test, CI (beta +- crit se) and ``predict()`` PI (beta +- crit sqrt(se^2 + tau^2)).

    ``test="t"`` uses a t distribution with k - 1 df for the p-value, the CI and the PI, as
    ``rma.glmm(test="t")`` and ``predict.rma`` do. The ``prop*`` fields are the
    ``transf = transf.ilogit`` versions.
    """
    if test not in ("z", "t"):
        raise ValueError("test must be 'z' or 't'")
    zval = fit.coef / fit.se
    a = 1.0 - level
    if test == "t":
        df = fit.k - 1
        pval, crit = 2 * stats.t.sf(abs(zval), df), stats.t.ppf(1 - a / 2, df)
    else:
        df, pval, crit = None, 2 * stats.norm.sf(abs(zval)), stats.norm.ppf(1 - a / 2)
    half_ci, half_pi = crit * fit.se, crit * np.sqrt(fit.se**2 + fit.tau2)
    lims = [fit.coef - half_ci, fit.coef + half_ci, fit.coef - half_pi, fit.coef + half_pi]
    props = [float(special.expit(v)) for v in [fit.coef, *lims]]
    return GLMMInference(float(zval), float(pval), *map(float, lims), float(crit), df,  # type: ignore[call-arg, arg-type]
                         *props)

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
* **Estimates**: the exact minimiser of D over theta >= 0, by damped Newton on the analytic
  gradient of D (the modes' derivatives by the implicit-function theorem, see
  :func:`_criterion`) with a Hessian from differences of that gradient (forward far from the
  optimum, central near it; eigenvalues of an indefinite Hessian replaced by their absolute
  values). No general-purpose optimiser and no BLAS call in the evaluation of D: a fit takes
  about 20 evaluations of D and its gradient. D is even in theta, so theta = 0 is always
  stationary; it is the estimate when D does not decrease from it ("boundary: tau = 0"; lme4:
  "boundary (singular) fit"), with beta^ = the fixed-effect glm (logit(sum x / sum n)).
* **Moderators** (``X``, metafor's ``rma.glmm(mods=)``): the linear predictor is x_i' beta
  + theta u_i; the moderators are centred and scaled for the optimiser (metafor's ``scaleX``)
  and beta and its covariance transformed back. QE.Wld becomes the weighted residual sum of
  squares of the saturated logits on X (the Wald test of the study coefficients beyond X),
  QE.LRT compares the saturated with the fixed-effect glm on X (k - p df) and the typical
  variance is (k - p) / tr(P) with P the projection of the escalc weights given X.
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

import functools
import warnings
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from numpy.polynomial.hermite import hermgauss
from scipy import optimize, special

from .._warnings import ConvergenceWarning

__all__ = ["GLMMFit", "GLMMInference", "GLMMRegFit", "fit_glmm_logit", "glmm_deviance",
           "glmm_inference"]

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
    """One GLMM problem: counts, design, family and quadrature rule (binomial or Poisson)."""

    x: np.ndarray
    n: np.ndarray  # binomial trials (Poisson: person-time, only for reporting)
    sat: np.ndarray  # binomial: x log(x/n) + (n-x) log((n-x)/n), per study (Poisson: zeros)
    z: np.ndarray  # Gauss-Hermite nodes for N(0, 1)
    logw: np.ndarray  # log(weight) + z^2 / 2
    nagq: int
    X: np.ndarray | None = None  # k x p model matrix (None: the intercept only)
    off: np.ndarray | None = None  # offset of the linear predictor (Poisson: log t)
    poisson: bool = False


def _as_data(events, n, nagq: int, X=None) -> _Data:
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
    z, logw = _rule(nagq)
    sat = special.xlogy(x, x / m) + special.xlogy(m - x, (m - x) / m)
    return _Data(x, m, sat, z, logw, int(nagq), _design(X, x.size))


def _rule(nagq):
    """Gauss-Hermite nodes for N(0, 1) and log(weight) + z^2 / 2 (lme4's nAGQ range 1..25)."""
    if int(nagq) != nagq or not 1 <= nagq <= 25:
        raise ValueError("nagq must be an integer in 1..25 (lme4's range)")
    z, logw = _rule_cached(int(nagq))
    return z.copy(), logw.copy()


@functools.lru_cache(maxsize=32)
def _rule_cached(nagq: int):
    t, w = hermgauss(nagq)
    z = np.sqrt(2.0) * t
    return z, np.log(w / np.sqrt(np.pi)) + z * z / 2


def binom_logpmf(x, n, p):
    """log P(X = x), X ~ Binomial(n, p) (scipy.stats' formula, without its machinery)."""
    comb = special.gammaln(n + 1) - special.gammaln(x + 1) - special.gammaln(n - x + 1)
    return comb + special.xlogy(x, p) + special.xlog1py(n - x, -p)


def chi2_sf(q, df):
    """Upper tail of the chi-square distribution (scipy.stats.chi2.sf = special.chdtrc)."""
    return float(special.chdtrc(df, q))


def _design(X, k):
    """The model matrix as a float (k, p) array; None for the intercept-only model."""
    if X is None:
        return None
    A = np.asarray(X, dtype=float)
    A = A.reshape(k, -1) if A.ndim < 2 else A
    if A.shape[0] != k or not np.isfinite(A).all():
        raise ValueError(f"the model matrix must be finite with one row per study ({k})")
    if A.shape[1] == 1 and np.all(A == 1.0):
        return None
    return A


def _scaled(d: _Data):
    """The problem with centred and scaled moderators (as metafor's ``scaleX``, so that the
    optimiser sees a well-conditioned Hessian) and the matrix A with beta = A beta_scaled."""
    if d.X is None:
        return d, None
    X = d.X
    p = X.shape[1]
    ones = [j for j in range(p) if np.all(X[:, j] == 1.0)]
    ic = ones[0] if ones else None
    A = np.eye(p)
    Xs = X.copy()
    for j in range(p):
        if j == ic:
            continue
        col = X[:, j]
        if ic is not None:
            m, sd = float(col.mean()), float(col.std())
        else:
            m, sd = 0.0, float(np.sqrt(np.mean(col * col)))
        if not sd > 0:
            continue
        Xs[:, j] = (col - m) / sd
        A[j, j] = 1.0 / sd
        if ic is not None:
            A[ic, j] = -m / sd
    return d._replace(X=Xs), A


def _unscale(par, vcov, A):
    """(theta, beta) and their covariance back from the scaled moderators: beta = A beta_s."""
    if A is None:
        return par, vcov
    B = np.eye(par.size)
    B[1:, 1:] = A
    return B @ par, B @ vcov @ B.T


def _lin(beta, d: _Data):
    """Fixed part of the linear predictor, X beta (+ offset), without BLAS (small p)."""
    lin = np.full(d.x.size, beta[0]) if d.X is None else (d.X * beta).sum(axis=1)
    return lin if d.off is None else lin + d.off


def _xt(v, d: _Data):
    """X' v for a per-study vector v (the gradient's beta part), without BLAS."""
    return np.array([v.sum()]) if d.X is None else (d.X * v[:, None]).sum(axis=0)


def _binom_dev(eta, x, n, sat):
    """Binomial deviance residual 2 [l_sat - l(expit(eta))], stable for large |eta|."""
    return 2.0 * (sat + x * np.logaddexp(0.0, -eta) + (n - x) * np.logaddexp(0.0, eta))


def _pois_dev(eta, x):
    """Poisson deviance residual 2 [x log(x / mu) - (x - mu)] with mu = exp(eta), written as
    2 x (expm1(s) - s), s = eta - log x, so that large counts lose no digits (x = 0: 2 mu)."""
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        s = eta - np.log(x)
        return np.where(x > 0, 2.0 * x * (np.expm1(s) - s), 2.0 * np.exp(eta))


def _dev(eta, d: _Data, cols=False):
    """Deviance residual of each study at the linear predictor(s) eta (k, or k x nodes)."""
    x = d.x[:, None] if cols else d.x
    if d.poisson:
        return _pois_dev(eta, x)
    return _binom_dev(eta, x, d.n[:, None] if cols else d.n, d.sat[:, None] if cols else d.sat)


def _moments(eta, d: _Data, cols=False):
    """Conditional mean E(x | eta), its derivative W = Var(x | eta) and dW / deta."""
    if d.poisson:
        with np.errstate(over="ignore"):
            m = np.exp(eta)
        return m, m, m
    n = d.n[:, None] if cols else d.n
    p = special.expit(eta)
    w = n * p * (1.0 - p)
    return n * p, w, w * (1.0 - 2.0 * p)


def _mode_start(theta, lin, d: _Data):
    """One scoring step at the empirical linear predictors (1/2 added to the cells)."""
    if d.poisson:
        w0 = d.x + 0.5
        emp = np.log(w0)  # the offset log t is part of lin
    else:
        p = (d.x + 0.5) / (d.n + 1.0)
        w0 = d.n * p * (1.0 - p)
        emp = special.logit(p)
    return theta * w0 * (emp - lin) / (1.0 + theta * theta * w0)


def _modes(theta, lin, d: _Data, u0=None):
    """Conditional modes u^_i of u^2 + dev_i(lin_i + theta u) by safeguarded Newton (PIRLS),
    started from one scoring step at the empirical linear predictors (or from the modes ``u0``
    of a nearby point); one extra step after |step| < 1e-9 (quadratic convergence) leaves only
    rounding error."""
    u = _mode_start(theta, lin, d) if u0 is None else u0
    crit, last = u * u + _dev(lin + theta * u, d), False
    for _ in range(100):
        mean, w, _dw = _moments(lin + theta * u, d)
        step = (u - theta * (d.x - mean)) / (1.0 + theta * theta * w)
        for _half in range(60):  # the criterion is convex in u: halve until it does not rise
            new = u - step
            c_new = new * new + _dev(lin + theta * new, d)
            # (small steps are left alone: rounding in dev_i grows with n_i)
            bad = ~(c_new <= crit + 1e-12 * (1.0 + crit)) & \
                (np.abs(step) > 1e-6 * (1.0 + np.abs(u)))
            if not bad.any():
                break
            step = np.where(bad, step / 2.0, step)
        u, crit = new, c_new
        if last:
            break
        last = bool(np.all(np.abs(step) <= 1e-9 * (1.0 + np.abs(u))))
    return u


class _Pieces(NamedTuple):
    u: np.ndarray  # conditional modes
    w: np.ndarray  # W_i at the modes
    dev0: np.ndarray  # deviance residuals at the modes
    dev_i: np.ndarray  # lme4's D_i
    grad: np.ndarray | None  # dD / d(theta, beta)


def _criterion(par, d: _Data, grad=False, u0=None) -> _Pieces:
    """Per-study pieces at par = (theta, beta): u^, W, dev_i(u^), D_i and, if asked, the
    analytic gradient of D = sum D_i.

    With a_k = u^ + s z_k, s = (1 + theta^2 W)^-1/2 and the normalised quadrature weights
    pi_k ~ w_k exp(-c(a_k) / 2), D_i = log(1 + theta^2 W) - 2 log sum_k w_k exp(-c(a_k) / 2)
    + const, so dD_i = dl2 / l2 + sum_k pi_k [c_u(a_k) (du^ + ds z_k) + c_par(a_k)], with the
    derivatives of the mode by the implicit-function theorem (c_u(u^) = 0):
    du^/dtheta = (r - theta W u^) / l2, du^/dbeta = -theta W x_i / l2, r = x - E(x | eta^).
    """
    theta, beta = float(par[0]), np.asarray(par[1:], dtype=float)
    lin = _lin(beta, d)
    u = _modes(theta, lin, d, u0)
    eta = lin + theta * u
    mean, w, dw = _moments(eta, d)
    dev0 = _dev(eta, d)
    c0 = u * u + dev0
    l2 = 1.0 + theta * theta * w
    dev_i = c0 + np.log(l2)
    if d.nagq > 1:
        s = 1.0 / np.sqrt(l2)
        a = u[:, None] + s[:, None] * d.z[None, :]
        eta_a = lin[:, None] + theta * a
        ck = a * a + _dev(eta_a, d, cols=True)
        t = d.logw[None, :] - 0.5 * (ck - c0[:, None])
        top = t.max(axis=1)
        e = np.exp(t - top[:, None])
        tot = e.sum(axis=1)
        dev_i = dev_i - 2.0 * (top + np.log(tot))
    if not grad:
        return _Pieces(u, w, dev0, dev_i, None)
    r = d.x - mean
    u_th = (r - theta * w * u) / l2
    l2_th = 2.0 * theta * w + theta * theta * dw * (u + theta * u_th)
    l2_b = theta * theta * dw / l2  # dl2 / dbeta = l2_b x_i
    if d.nagq > 1:
        pi = e / tot[:, None]
        r_a = d.x[:, None] - _moments(eta_a, d, cols=True)[0]
        cu = 2.0 * a - 2.0 * theta * r_a
        z = d.z[None, :]
        g_th = l2_th / l2 + np.sum(pi * (cu * (u_th[:, None] - 0.5 * s[:, None] * l2_th[:, None]
                                                / l2[:, None] * z) - 2.0 * a * r_a), axis=1)
        g_b = l2_b / l2 + np.sum(pi * (cu * (-theta * w / l2)[:, None]
                                       - cu * (0.5 * s * l2_b / l2)[:, None] * z
                                       - 2.0 * r_a), axis=1)
    else:  # Laplace: one node at the mode, where c_u = 0
        g_th = l2_th / l2 - 2.0 * u * r
        g_b = l2_b / l2 - 2.0 * r
    return _Pieces(u, w, dev0, dev_i, np.concatenate([[g_th.sum()], _xt(g_b, d)]))


def _objective(par, d: _Data) -> float:
    """D(theta, beta) relative to the saturated model (lme4's AGQ deviance)."""
    return float(np.sum(_criterion(par, d).dev_i))


class _Problem:
    """D as a callable (value) with its analytic gradient and a Hessian by finite differences
    of that gradient. The conditional modes of the last evaluation start the next one (the
    optimiser moves in small steps, so PIRLS needs one or two Newton steps)."""

    def __init__(self, d: _Data):
        self.d, self.calls, self._u = d, 0, None

    def _eval(self, p, grad):
        self.calls += 1
        pc = _criterion(p, self.d, grad=grad, u0=self._u)
        if np.all(np.isfinite(pc.u)):
            self._u = pc.u
        return pc

    def __call__(self, p) -> float:
        return float(np.sum(self._eval(p, False).dev_i))

    def value_grad(self, p):
        pc = self._eval(p, True)
        return float(np.sum(pc.dev_i)), pc.grad

    def grad(self, p):
        return self.value_grad(p)[1]

    def hess(self, p, h, g0=None):
        """Central differences of the gradient; forward ones (cheaper, O(h) error: enough for
        Newton steps) when the gradient at p, ``g0``, is given."""
        m = len(p)
        cols = []
        for j in range(m):
            e = np.zeros(m)
            e[j] = h[j]
            if g0 is None:
                cols.append((self.grad(p + e) - self.grad(p - e)) / (2.0 * h[j]))
            else:
                cols.append((self.grad(p + e) - g0) / h[j])
        hm = np.array(cols)
        return (hm + hm.T) / 2.0

    def hess_final(self, p, h):
        """The Hessian for the covariance: central differences of the analytic gradient with
        steps h / 10 (truncation error ~1e-10 relative; the gradient is exact to rounding)."""
        return self.hess(p, h / 10.0)


def _fd_derivs(f, p, h):
    """Gradient and Hessian by central differences, Richardson-extrapolated (error O(h^4));
    for a :class:`_Problem` the gradient is analytic and the Hessian differentiates it."""
    if isinstance(f, _Problem):
        return f.grad(p), f.hess_final(p, h)

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


def _wls(y, v, X):
    """Weighted least squares of y on X (weights 1/v): coefficients, their standard errors and
    the DerSimonian-Laird residual tau^2 (start values)."""
    w = 1.0 / v
    A = np.ones((y.size, 1)) if X is None else X
    xtwx = A.T @ (A * w[:, None])
    inv = np.linalg.inv(xtwx)
    b = inv @ (A.T @ (w * y))
    res = y - A @ b
    q = float(np.sum(w * res * res))
    tr_p = float(np.sum(w) - np.trace(inv @ (A.T @ (A * (w * w)[:, None]))))
    k, p = A.shape
    tau2 = max(0.0, (q - (k - p)) / tr_p) if tr_p > 0 else 0.0
    inv_re = np.linalg.inv(A.T @ (A / (v + tau2)[:, None]))
    return b, np.sqrt(np.diag(inv_re)), tau2


def _start(d: _Data):
    """Start (pooled logit / log rate or fixed-effect coefficients, DerSimonian-Laird tau of
    the escalc(PLO / IRLN) values) and a step for the finite differences, shrunk when the
    standard errors of beta are small (large n)."""
    if d.poisson:
        xa = np.where(d.x == 0, 0.5, d.x)
        y, v = np.log(xa) - d.off, 1.0 / xa
        pooled = np.log(np.sum(d.x) / np.sum(d.n))
    else:
        xa, na = _escalc_cells(d.x, d.n)
        y, v = np.log(xa / (na - xa)), 1.0 / xa + 1.0 / (na - xa)
        pooled = special.logit(np.sum(xa) / np.sum(na))
    b, se, tau2 = _wls(y, v, d.X)
    if d.X is None:
        b = np.array([pooled])
    start = np.concatenate([[max(np.sqrt(tau2), 0.2)], b])
    step = _FD_STEP * np.minimum(1.0, 10.0 * se)
    return start, np.concatenate([[step.min()], step])


def _newton_polish(f, p, h, max_iter=100):
    """Damped Newton on the analytic gradient of D with a finite-difference Hessian (of that
    gradient); where the Hessian is not positive definite its eigenvalues are replaced by their
    absolute values (a descent direction away from saddles). D is even in theta, so |theta| is
    kept. Returns (p, H, iterations, ok); H is the accurate Hessian at p (:meth:`hess_final`)."""
    p = np.array(p, dtype=float)
    fp, g = f.value_grad(p)
    near = False  # close to the optimum: central differences, so the last steps are exact
    for it in range(1, max_iter + 1):
        hess = f.hess_final(p, h) if near else f.hess(p, h, g0=g)
        if not (np.all(np.isfinite(hess)) and np.all(np.isfinite(g))):
            return p, hess, it, False
        lam, vec = np.linalg.eigh(hess)
        pd = bool(np.all(lam > 0))
        floor = 1e-8 * max(1.0, float(np.max(np.abs(lam))))
        step = -vec @ ((vec.T @ g) / np.maximum(np.abs(lam), floor))
        dec = float(-g @ step)
        done = pd and near and dec < 1e-10 * (1.0 + abs(fp))  # Newton decrement: a last step
        near = pd and dec < 1e-5 * (1.0 + abs(fp))
        q, fq, gq = p, fp, g
        for _ in range(40):
            trial = p + step
            trial[0] = abs(trial[0])  # D is even in theta
            ft, gt = f.value_grad(trial)
            if ft <= fp + 1e-13 * (1.0 + abs(fp)):
                q, fq, gq = trial, ft, gt
                break
            step = step / 2.0
        moved = q is not p
        p, fp, g = q, fq, gq
        if done or not moved:
            hess = f.hess_final(p, h)
            ok = bool(np.all(np.isfinite(hess)) and np.all(np.linalg.eigvalsh(hess) > 0))
            # a stalled line search is convergence only when the Newton decrement is tiny
            ok = ok and (done or float(g @ np.linalg.solve(hess, g)) < 1e-8 * (1.0 + abs(fp)))
            return p, hess, it, ok
    return p, f.hess_final(p, h), max_iter, False


def _optimise(d, objective=None, start=None, beta_fe=None):
    """Minimise D over theta >= 0; returns (par, Hessian, n_iter, converged, message).

    ``start`` ((start, finite-difference step)) and ``beta_fe`` (the estimate at theta = 0,
    a vector) default to the binomial model's; the Poisson model (:mod:`iometa.glmm_poisson`)
    passes its own. ``objective`` is kept for callers that minimise another function of
    (theta, beta) by finite differences only."""
    f = _Problem(d) if objective is None else objective
    start, h = _start(d) if start is None else start
    p, hess, n_iter, ok = _newton_polish(f, np.asarray(start, dtype=float), h)
    if p[0] < _BOUNDARY_THETA or not ok:  # theta = 0 is stationary (D is even): a minimum?
        if beta_fe is None:
            beta_fe = _glm_fe(d)
        b0 = np.concatenate([[0.0], np.atleast_1d(beta_fe)])
        f0 = f(b0)
        near = p[0] < _BOUNDARY_THETA or f0 <= f(p) + 1e-10 * (1.0 + abs(f0))
        e0 = np.zeros(b0.size)
        e0[0] = h[0]
        if near and f(b0 + e0) >= f0:
            return b0, _fd_derivs(f, b0, h)[1], n_iter, True, "boundary: tau = 0"
        if p[0] < _BOUNDARY_THETA:  # a saddle (D falls away from theta = 0): restart inside
            p0 = p.copy()
            p0[0] = max(start[0], 0.1)
            p, hess, it, ok = _restart_inside(f, p0, h)
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
    b0 = np.concatenate([[0.0], _glm_fe(d)])
    h = _start(d)[1]
    return b0, _fd_derivs(f, b0, h)[1], 0, True, NOT_IDENTIFIABLE


def _restart_inside(f, p0, h):
    """Minimise D again with theta kept off the boundary (theta >= 10 x the boundary limit),
    then polish: used when the first run stopped at theta = 0 although D decreases from there
    (theta = 0 is a saddle or maximum of the even function D, where the gradient in theta
    vanishes, so Newton cannot leave it)."""
    jac = f.grad if isinstance(f, _Problem) else (lambda p: _fd_derivs(f, p, h)[0])
    bounds = [(10 * _BOUNDARY_THETA, None)] + [(None, None)] * (len(p0) - 1)
    res = optimize.minimize(f, p0, jac=jac, method="L-BFGS-B", bounds=bounds,
                            options={"ftol": 1e-12, "gtol": 1e-8, "maxiter": 500})
    p, hess, it, ok = _newton_polish(f, np.asarray(res.x, dtype=float), h)
    return p, hess, it + int(res.nit), ok


def _vcov(hess, theta, w, X=None):
    """lme4 ``vcov``: 2 H^-1, else the conditional (RX'RX)^-1 at fixed theta (beta block)."""
    m = hess.shape[0]
    try:
        v = 2.0 * np.linalg.inv(hess)
        v = (v + v.T) / 2.0
    except np.linalg.LinAlgError:
        v = np.full((m, m), np.nan)
    vb = v[1:, 1:]
    if not np.isfinite(v).all() or np.any(np.diag(vb) <= 0) or \
            np.any(np.linalg.eigvalsh(vb) <= 0):
        v = np.full((m, m), np.nan)
        ww = w / (1.0 + theta * theta * w)
        A = np.ones((w.size, 1)) if X is None else X
        v[1:, 1:] = np.linalg.inv(A.T @ (A * ww[:, None]))
    return v


def _glm_fe(d: _Data):
    """The fixed-effect glm (theta = 0): closed form for the intercept-only model, else Newton
    (IRLS) to convergence from the weighted least-squares start."""
    if d.X is None:
        if d.poisson:
            return np.array([np.log(np.sum(d.x) / np.sum(d.n))])  # n: person-time
        return np.array([special.logit(np.sum(d.x) / np.sum(d.n))])
    b = _start(d)[0][1:]
    for _ in range(100):
        mean, w, _dw = _moments(_lin(b, d), d)
        step = np.linalg.solve(d.X.T @ (d.X * w[:, None]), d.X.T @ (d.x - mean))
        b = b + step
        if np.all(np.abs(step) <= 1e-13 * (1.0 + np.abs(b))):
            break
    return b


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


def _wald_residual(eta, w, X):
    """Wald test of the study coefficients beyond X in the saturated glm: with Var(eta) =
    diag(1/w) it is the weighted residual sum of squares of eta on X (Cochran's Q for X = 1)."""
    if X is None:
        return float(np.sum(w * (eta - np.sum(w * eta) / np.sum(w)) ** 2))
    b = np.linalg.lstsq(X * np.sqrt(w)[:, None], np.sqrt(w) * eta, rcond=None)[0]
    return float(np.sum(w * (eta - X @ b) ** 2))


def _heterogeneity(d: _Data, beta_fe=None):
    """QE.Wld, QE.LRT (saturated vs fixed-effect binomial glm) and the saturated log-lik."""
    x, n = d.x, d.n
    ll_sat = float(np.sum(binom_logpmf(x, n, x / n)))
    p_fe = (np.sum(x) / np.sum(n) if d.X is None
            else special.expit(_lin(_glm_fe(d) if beta_fe is None else beta_fe, d)))
    ll_fe = float(np.sum(binom_logpmf(x, n, p_fe)))
    eta, w = _saturated_glm(x, n)
    q_wald = _wald_residual(eta, w, d.X)
    return max(q_wald, 0.0), max(2.0 * (ll_sat - ll_fe), 0.0), ll_sat


def _typical_variance_w(w, X=None):
    """Higgins-Thompson typical variance (k - p) / tr(P) of within-study weights w."""
    if X is None:
        return (len(w) - 1) / (np.sum(w) - np.sum(w * w) / np.sum(w))
    inv = np.linalg.inv(X.T @ (X * w[:, None]))
    tr_p = np.sum(w) - np.trace(inv @ (X.T @ (X * (w * w)[:, None])))
    return (len(w) - X.shape[1]) / tr_p


def _typical_variance(x, n, X=None):
    """Higgins-Thompson typical variance (k - p) / tr(P) of the escalc(PLO) variances."""
    xa, na = _escalc_cells(x, n)
    return _typical_variance_w(1.0 / (1.0 / xa + 1.0 / (na - xa)), X)


@dataclass(frozen=True)
class GLMMRegFit:
    """A GLMM with moderators (``rma.glmm(mods = ...)``): model-scale coefficients ``beta``
    (one per column of X), ``se``, ``vb`` (their covariance, lme4's 2 H^-1 block), ``vcov``
    ((p + 1) x (p + 1) in (tau, beta)), the residual ``tau2``, QE (Wald and likelihood-ratio,
    k - p df), I^2 / H^2 with the typical variance of the escalc variances given X, and the
    log-likelihoods as :class:`GLMMFit`."""

    beta: np.ndarray
    se: np.ndarray
    vb: np.ndarray
    vcov: np.ndarray
    tau2: float
    tau: float
    loglik: float
    deviance: float
    converged: bool
    message: str
    n_iter: int
    q_wald: float
    q_wald_pval: float
    q_lrt: float
    q_lrt_pval: float
    q_df: int
    i2: float
    h2: float
    vt: float
    nagq: int
    k: int
    p: int
    objective: float
    marginal_loglik: float
    family: str = "binomial"


def _qp(q, df):
    return chi2_sf(q, df) if df > 0 else 1.0


def _assemble(d: _Data, par, hess, n_iter, ok, msg, hetero, vt, objective_shift=0.0, A=None):
    """GLMMRegFit from the optimum: covariance, heterogeneity tests, I^2 and log-likelihoods.
    ``d`` and ``par`` may be in scaled moderators (``A``: see :func:`_scaled`)."""
    pc = _criterion(par, d)
    par, vcov = _unscale(par, _vcov(hess, par[0], pc.w, d.X), A)
    q_wald, q_lrt, ll_sat = hetero
    k, p = d.x.size, par.size - 1
    tau2 = float(par[0] ** 2)
    vb = vcov[1:, 1:]
    return GLMMRegFit(
        beta=np.array(par[1:], dtype=float), se=np.sqrt(np.diag(vb)), vb=vb, vcov=vcov,
        tau2=tau2, tau=float(par[0]), loglik=ll_sat - float(np.sum(pc.dev0)) / 2,
        deviance=float(np.sum(pc.dev0)), converged=bool(ok), message=msg, n_iter=int(n_iter),
        q_wald=q_wald, q_wald_pval=_qp(q_wald, k - p), q_lrt=q_lrt,
        q_lrt_pval=_qp(q_lrt, k - p), q_df=k - p, i2=float(100.0 * tau2 / (vt + tau2)),
        h2=float(tau2 / vt + 1.0), vt=float(vt), nagq=d.nagq, k=k, p=p,
        objective=float(np.sum(pc.dev_i)) - objective_shift,
        marginal_loglik=ll_sat - float(np.sum(pc.dev_i)) / 2,
        family="poisson" if d.poisson else "binomial")


def _scalar_fit(r: GLMMRegFit) -> GLMMFit:
    """The intercept-only :class:`GLMMFit` view of a :class:`GLMMRegFit`."""
    return GLMMFit(
        coef=float(r.beta[0]), se=float(r.se[0]), tau2=r.tau2, tau=r.tau, loglik=r.loglik,
        deviance=r.deviance, converged=r.converged, message=r.message, n_iter=r.n_iter,
        q_wald=r.q_wald, q_wald_pval=r.q_wald_pval, q_lrt=r.q_lrt, q_lrt_pval=r.q_lrt_pval,
        q_df=r.q_df, i2=r.i2, h2=r.h2, nagq=r.nagq, vcov=r.vcov, k=r.k, objective=r.objective,
        marginal_loglik=r.marginal_loglik, vt=r.vt)


def _check_estimable(d: _Data, k):
    if k < 2:
        raise ValueError("the GLMM needs k >= 2 studies (metafor: 'Number of parameters to be "
                         "estimated is larger than the number of observations.')")
    p = 1 if d.X is None else d.X.shape[1]
    if k < p + 1:
        raise ValueError(f"{k} studies are too few for {p} coefficients plus tau^2 (metafor: "
                         "'Number of parameters to be estimated is larger than the number of "
                         "observations.')")
    if d.X is not None and np.linalg.matrix_rank(d.X) < p:
        raise ValueError("the moderators are collinear (model matrix not of full rank): drop "
                         "a moderator or merge categories")


def glmm_deviance(events, n, theta, beta, *, nagq: int = 7) -> float:
    """lme4's ``glmer(..., devFunOnly = TRUE)`` deviance at ``c(theta, beta)``.

    For ``nagq > 1`` the AGQ deviance relative to the saturated model; for ``nagq = 1`` lme4's
    Laplace criterion, which uses -2 log-likelihood (with binomial coefficients) instead.
    """
    d = _as_data(events, n, nagq)
    val = _objective(np.array([theta, beta], dtype=float), d)
    if nagq == 1:
        val -= 2.0 * float(np.sum(binom_logpmf(d.x, d.n, d.x / d.n)))
    return val


def fit_glmm_logit(events, n, *, nagq: int = 7, X=None):
    """Binomial-normal random-effects model for proportions (``rma.glmm(measure="PLO")``).

    ``events`` and ``n`` are per-study counts (0/n and n/n studies need no continuity
    correction); ``nagq`` is the number of adaptive Gauss-Hermite points (7 as in metafor,
    1 = Laplace). ``X`` (k x p model matrix, e.g. ``[1, ablat]``) fits the meta-regression
    ``rma.glmm(measure="PLO", mods=)`` and returns a :class:`GLMMRegFit`; without it (or with a
    column of ones) the intercept-only :class:`GLMMFit`. Raises ``ValueError`` for k < 2 (lme4,
    and so metafor, refuse a single grouping level), too few studies for the coefficients and
    when every study has 0 or every study has n events (no finite MLE). Warns
    :class:`~iometa._warnings.ConvergenceWarning` if the optimisation did not converge.

    Reference: Stijnen, Hamza & Özdemir 2010 (Stat Med 29:3046); lme4 (Bates et al. 2015).

    Example
    -------
    >>> from iometa.core.glmm import fit_glmm_logit
    >>> fit = fit_glmm_logit([4, 6, 3, 62, 33], [123, 306, 231, 13598, 5069])
    >>> round(fit.coef, 3), fit.converged
    (-4.624, True)
    """
    d = _as_data(events, n, nagq, X)
    k = d.x.size
    _check_estimable(d, k)
    d, A = _scaled(d)
    if np.sum(d.x) == 0 or np.sum(d.x) == np.sum(d.n):
        raise ValueError("every study has 0 events (or every study has all n events): the GLMM's "
                         "maximum-likelihood estimate does not exist (metafor: 'Cannot fit ML "
                         "model'); pool with measure='PLO' and a continuity correction "
                         "(method='REML'), or report the total events/N with its exact CI")
    if np.any(d.n > 1):
        beta_fe = _glm_fe(d)
        par, hess, n_iter, ok, msg = _optimise(d, beta_fe=beta_fe)
    else:
        beta_fe = None
        par, hess, n_iter, ok, msg = _bernoulli(d)
    if not ok:
        warnings.warn(f"GLMM (nagq={nagq}) did not converge: {msg}", ConvergenceWarning,
                      stacklevel=2)
    hetero = _heterogeneity(d, beta_fe)
    shift = 2 * hetero[2] if nagq == 1 else 0.0
    reg = _assemble(d, par, hess, n_iter, ok, msg, hetero, _typical_variance(d.x, d.n, d.X),
                    objective_shift=shift, A=A)
    return reg if d.X is not None else _scalar_fit(reg)


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
        pval, crit = 2 * special.stdtr(df, -abs(zval)), special.stdtrit(df, 1 - a / 2)
    else:
        df, pval, crit = None, 2 * special.ndtr(-abs(zval)), special.ndtri(1 - a / 2)
    half_ci, half_pi = crit * fit.se, crit * np.sqrt(fit.se**2 + fit.tau2)
    lims = [fit.coef - half_ci, fit.coef + half_ci, fit.coef - half_pi, fit.coef + half_pi]
    props = [float(special.expit(v)) for v in [fit.coef, *lims]]
    return GLMMInference(float(zval), float(pval), *map(float, lims), float(crit), df,  # type: ignore[call-arg, arg-type]
                         *props)

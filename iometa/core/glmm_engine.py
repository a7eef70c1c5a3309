"""Evaluation of the GLMM deviance for :mod:`iometa.core.glmm` (binomial and Poisson models,
with or without moderators): the problem data, lme4's adaptive Gauss-Hermite deviance D, its
analytic gradient, the Hessian by differences of that gradient, start values and the
fixed-effect glm. The model, the formulas and the references are in :mod:`iometa.core.glmm`.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import numpy as np
from numpy.polynomial.hermite import hermgauss
from scipy import special

_FD_STEP = 1e-3


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


class SeparationError(ValueError):
    """The moderators separate studies with 0 (or all n) events from the others: the fixed
    effects have no finite maximum-likelihood estimate. ``rows``: 0-based indices of the
    studies whose fitted proportion (rate) tends to 0 or 1 (0)."""

    def __init__(self, message, rows):
        super().__init__(message)
        self.rows = tuple(int(r) for r in rows)


def _centred_lin(b, d: _Data):
    """The fitted logits (binomial) or log rates relative to the pooled log rate (Poisson)."""
    if not d.poisson:
        return _lin(b, d)
    return _lin(b, d) - d.off - np.log(np.sum(d.x) / np.sum(d.n))


def _glm_fe(d: _Data):
    """The fixed-effect glm (theta = 0): closed form for the intercept-only model, else Newton
    (IRLS) to convergence from the weighted least-squares start. Raises
    :class:`SeparationError` when the estimate is not finite (Newton diverges)."""
    if d.X is None:
        if d.poisson:
            return np.array([np.log(np.sum(d.x) / np.sum(d.n))])  # n: person-time
        return np.array([special.logit(np.sum(d.x) / np.sum(d.n))])
    b = _start(d)[0][1:]
    for _ in range(100):
        mean, w, _dw = _moments(_lin(b, d), d)
        try:
            step = np.linalg.solve(d.X.T @ (d.X * w[:, None]), d.X.T @ (d.x - mean))
        except np.linalg.LinAlgError:
            break
        b = b + step
        if not np.all(np.isfinite(b)):
            break
        if np.all(np.abs(step) <= 1e-13 * (1.0 + np.abs(b))):
            if np.max(np.abs(_centred_lin(b, d))) < 30.0:  # (>= 30: drifting to infinity)
                return b
            break
    lin = _centred_lin(b, d)
    rows = np.flatnonzero(~np.isfinite(lin) | (np.abs(lin) >= 25.0))
    raise SeparationError(
        "no finite maximum-likelihood estimate: the moderators separate the studies with 0 "
        f"{'events' if d.poisson else 'events (or all n events)'} from the others, so their "
        "fitted " + ("rates tend to 0" if d.poisson else "proportions tend to 0 or 1")
        + " (metafor returns arbitrary estimates with huge standard errors here); merge the "
        "categories, drop the moderator, or meta-regress the continuity-corrected values "
        "with an inverse-variance method (method='REML')", rows)


def _escalc_cells(x, n):
    """metafor escalc(PLO) cells: add 1/2 to events and non-events of 0/n and n/n studies."""
    add = np.where((x == 0) | (x == n), 0.5, 0.0)
    return x + add, n + 2 * add

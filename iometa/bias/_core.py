"""Numerical core of the small-study-effect tests (private).

* :func:`metareg_fit` — the mixed-effects meta-regression yᵢ = β₀ + β₁xᵢ + uᵢ + εᵢ with one
  moderator, exactly as metafor's ``rma.uni(yi, vi, mods = x, method =, test =)``: every τ²
  estimator with moderators (p = 2): FE, DL, HE, HS, SJ, ML, REML (Fisher scoring from the
  truncated HE estimate, with metafor's ``ll0check``), EB and PM (the root of the generalised
  residual Q, RSS(τ²) = k − p; EB's Fisher-scoring fixed point is the same root), a fixed τ²,
  z or Knapp–Hartung inference (s²w = RSS/(k − p), not truncated; t with k − p df).
* :func:`wls_lm_fit` — R's ``lm(y ~ x, weights = w)``: weighted least squares with the residual
  variance estimated, t tests with k − 2 df.
* :func:`kendall_test` — R's ``cor.test(x, y, method = "kendall", exact = TRUE)``: τ-b; the
  exact permutation p-value when neither variable has ties, else the normal approximation with
  the tie-corrected variance of S (no continuity correction).

All linear algebra is on the k × 2 design with 2 × 2 inverses (traces by their closed forms,
no k × k matrices).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

_THRESHOLD = 1e-13
_MAXITER = 10000
_EPS = np.finfo(float).eps


class RegFit(NamedTuple):
    coef: np.ndarray  # (intercept, slope)
    se: np.ndarray
    stat: np.ndarray
    pval: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    df: float | None
    tau2: float


def _inv_gram(X, w):
    """(X'WX)⁻¹ (2 × 2)."""
    return np.linalg.inv(X.T @ (w[:, None] * X))


def _rss(X, y, w):
    """Weighted residuals and RSS = Y'PY of the WLS fit with weights ``w``."""
    Ainv = _inv_gram(X, w)
    beta = Ainv @ (X.T @ (w * y))
    r = y - X @ beta
    return r, float((w * r * r).sum()), Ainv


def _trace_p(X, w, Ainv):
    """tr(P) and tr(PP) for P = W − WX(X'WX)⁻¹X'W."""
    B = X.T @ ((w**2)[:, None] * X)
    C = X.T @ ((w**3)[:, None] * X)
    AB = Ainv @ B
    tr_p = w.sum() - np.trace(AB)
    tr_pp = (w**2).sum() - 2 * np.trace(Ainv @ C) + np.trace(AB @ AB)
    return tr_p, tr_pp


def _tau2_he(X, y, v):
    k, p = X.shape
    r, rss, Ainv = _rss(X, y, np.ones(k))
    h = np.einsum("ij,jk,ik->i", X, Ainv, X)
    return (rss - float((v * (1 - h)).sum())) / (k - p)


def _tau2_closed(X, y, v, method):
    k, p = X.shape
    w = 1 / v
    if method == "HE":
        return _tau2_he(X, y, v)
    _, rss, Ainv = _rss(X, y, w)
    if method == "HS":
        return (rss - k) / w.sum()
    if method == "DL":
        return (rss - (k - p)) / _trace_p(X, w, Ainv)[0]
    t0 = float(np.mean((y - y.mean()) ** 2))  # SJ: var(y)(k - 1)/k
    return t0 * _rss(X, y, 1 / (v + t0))[1] / (k - p)


def _tau2_pm(X, y, v):
    from scipy.optimize import brentq

    k, p = X.shape

    def f(t):
        return _rss(X, y, 1 / (v + t))[1] - (k - p)

    if f(0.0) <= 0:
        return 0.0
    hi = max(1.0, 10 * float(np.var(y)))
    while f(hi) > 0:
        hi *= 4
    return brentq(f, 0.0, hi, xtol=1e-300, rtol=4 * _EPS, maxiter=10000)


def _loglik(X, y, v, tau2, reml):
    k, p = X.shape
    w = 1 / (v + tau2)
    _, rss, Ainv = _rss(X, y, w)
    ll = -0.5 * np.log(v + tau2).sum() - 0.5 * rss
    if reml:
        return ll - 0.5 * (k - p) * np.log(2 * np.pi) + 0.5 * np.linalg.slogdet(Ainv)[1]
    return ll - 0.5 * k * np.log(2 * np.pi)


def _tau2_fisher(X, y, v, reml):
    tau2 = max(0.0, _tau2_he(X, y, v))
    for _ in range(_MAXITER):
        w = 1 / (v + tau2)
        r, _, Ainv = _rss(X, y, w)
        ypy = float(((w * r) ** 2).sum())
        if reml:
            tr_p, tr_pp = _trace_p(X, w, Ainv)
            adj = (ypy - tr_p) / tr_pp
        else:
            adj = (ypy - w.sum()) / (w**2).sum()
        adj = adj if np.isfinite(adj) else 0.0
        while tau2 + adj < 0:
            adj /= 2
        new = tau2 + adj
        done = abs(new - tau2) < _THRESHOLD * max(1.0, new)
        tau2 = new
        if done:
            break
    if _loglik(X, y, v, 0.0, reml) >= _loglik(X, y, v, tau2, reml):  # metafor's ll0check
        return 0.0
    return tau2


def estimate_tau2(X, y, v, method) -> float:
    """τ² of the meta-regression of ``y`` on the design ``X`` (metafor ``rma.uni`` formulas)."""
    if method == "FE":
        return 0.0
    if method in ("ML", "REML"):
        t = _tau2_fisher(X, y, v, method == "REML")
    elif method in ("PM", "EB"):
        t = _tau2_pm(X, y, v)
    elif method in ("DL", "HE", "HS", "SJ"):
        t = _tau2_closed(X, y, v, method)
    else:
        raise ValueError(f"unknown method {method!r}")
    return max(0.0, float(t))


def metareg_fit(y, v, x, *, method="REML", test="z", level=0.95, tau2=None) -> RegFit:
    """Mixed-effects meta-regression of ``y`` on one moderator ``x`` (metafor ``rma.uni``)."""
    from scipy import stats

    y, v, x = (np.asarray(a, dtype=float) for a in (y, v, x))
    X = np.column_stack([np.ones_like(x), x])
    k, p = X.shape
    t2 = estimate_tau2(X, y, v, method) if tau2 is None else float(tau2)
    w = 1 / (v + t2)
    r, rss, Ainv = _rss(X, y, w)
    coef = Ainv @ (X.T @ (w * y))
    vb = Ainv
    knha = test == "knha"
    if knha:
        vb = vb * (0.0 if rss <= _EPS else rss / (k - p))
    se = np.sqrt(np.diag(vb))
    stat = coef / se
    df = float(k - p) if knha else None
    if knha:
        pval = 2 * stats.t.sf(np.abs(stat), df)
        crit = stats.t.ppf(1 - (1 - level) / 2, df)
    else:
        pval = 2 * stats.norm.sf(np.abs(stat))
        crit = stats.norm.ppf(1 - (1 - level) / 2)
    return RegFit(coef, se, stat, pval, coef - crit * se, coef + crit * se, df, t2)


def wls_lm_fit(y, x, w, *, level=0.95) -> RegFit:
    """R's ``lm(y ~ x, weights = w)``: coefficients with t tests (k − 2 df) and t CIs."""
    from scipy import stats

    y, x, w = (np.asarray(a, dtype=float) for a in (y, x, w))
    X = np.column_stack([np.ones_like(x), x])
    k, p = X.shape
    r, rss, Ainv = _rss(X, y, w)
    coef = Ainv @ (X.T @ (w * y))
    df = float(k - p)
    se = np.sqrt(np.diag(Ainv) * rss / df)
    stat = coef / se
    pval = 2 * stats.t.sf(np.abs(stat), df)
    crit = stats.t.ppf(1 - (1 - level) / 2, df)
    return RegFit(coef, se, stat, pval, coef - crit * se, coef + crit * se, df, np.nan)


# ---------------------------------------------------------------- Kendall's tau
def _kendall_cdf(q, n):
    """P(C ≤ q) for C the number of concordant pairs of n untied pairs (Mahonian numbers;
    R's ``ckendall``/``pkendall``)."""
    N = n * (n - 1) // 2
    if q < 0:
        return 0.0
    if q >= N:
        return 1.0
    dist = np.ones(1)
    for i in range(2, n + 1):  # multiply by (1 + x + … + x^(i-1)) / i
        cs = np.concatenate([[0.0], np.cumsum(dist), np.full(i - 1, dist.sum())])
        size = dist.size + i - 1
        j = np.arange(size)
        dist = (cs[j + 1] - cs[np.maximum(j + 1 - i, 0)]) / i
    return float(min(1.0, dist[: q + 1].sum()))


def _tie_sizes(a):
    _, counts = np.unique(a, return_counts=True)
    return counts[counts > 1].astype(float)


class KendallTest(NamedTuple):
    tau: float
    pval: float
    exact: bool
    ties: bool
    statistic: float  # T (concordant pairs) when exact, else z


def kendall_test(x, y) -> KendallTest:
    """Two-sided Kendall rank correlation test as R's ``cor.test(method="kendall",
    exact=TRUE)``."""
    from scipy import stats

    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    n = x.size
    iu = np.triu_indices(n, 1)
    sx = np.sign(x[:, None] - x[None, :])[iu]
    sy = np.sign(y[:, None] - y[None, :])[iu]
    s = float((sx * sy).sum())
    with np.errstate(invalid="ignore", divide="ignore"):
        tau = s / np.sqrt(float((sx != 0).sum()) * float((sy != 0).sum()))
    tx, ty = _tie_sizes(x), _tie_sizes(y)
    ties = bool(tx.size or ty.size)
    if not np.isfinite(tau):
        return KendallTest(np.nan, np.nan, False, ties, np.nan)
    if not ties:
        N = n * (n - 1) / 2
        q = int(np.round((tau + 1) * N / 2))
        p = 1 - _kendall_cdf(q - 1, n) if q > N / 2 else _kendall_cdf(q, n)
        return KendallTest(float(tau), min(2 * p, 1.0), True, False, float(q))
    v0 = n * (n - 1) * (2 * n + 5)
    vt = (tx * (tx - 1) * (2 * tx + 5)).sum()
    vu = (ty * (ty - 1) * (2 * ty + 5)).sum()
    v1 = (tx * (tx - 1)).sum() * (ty * (ty - 1)).sum()
    v2 = (tx * (tx - 1) * (tx - 2)).sum() * (ty * (ty - 1) * (ty - 2)).sum()
    var_s = (v0 - vt - vu) / 18 + v1 / (2 * n * (n - 1)) + v2 / (9 * n * (n - 1) * (n - 2))
    z = s / np.sqrt(var_s)
    return KendallTest(float(tau), float(2 * stats.norm.sf(abs(z))), False, True, float(z))

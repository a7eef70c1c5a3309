"""The batched numeric core of meta-regression (metafor ``rma.uni`` with ``mods``).

:func:`fit_regression_arrays` fits ``B`` mixed-effects meta-regressions at once from ``y`` and
``v`` of shape (B, k) and design matrices ``X`` of shape (B, k, p) (or one shared (k, p)
matrix). Every product is a weighted cross-product X'WX (W is diagonal), so memory is
O(B·k·p + B·p²) and no k × k matrix is ever formed; the permutation test fits its thousand
permuted models as one batch.

Formulas (metafor 3.8-1 ``rma.uni``; P = W − WX(X'WX)⁻¹X'W, so Py = W(y − Xβ̂))
--------------------------------------------------------------------------------
As metafor, the τ² estimators and Q_E use the *centred* outcomes y − ȳ (identical results
whenever the intercept lies in the column space of X, i.e. in every model with an intercept or
a full factor). With wᵢ = 1/vᵢ and r the weighted residuals:

* DL: (Σwr² − (k − p)) / tr P with tr P = Σw − tr((X'WX)⁻¹X'W²X);
* HE: (Σr²_OLS − tr(PV)) / (k − p), P the unweighted residual projector,
  tr(PV) = Σv − tr((X'X)⁻¹X'VX);
* HS: (Σwr² − k)/Σw;  SJ: τ₀²·Σw₀r²/(k − p) with τ₀² = Σ(y − ȳ)²/k and w₀ = 1/(v + τ₀²);
* ML / REML: Fisher scoring from max(0, HE): ML step (y'PPy − Σw)/Σw²; REML step
  (y'PPy − tr P)/tr(PP), tr(PP) = Σw² − 2tr(AX'W³X) + tr((AX'W²X)²), A = (X'WX)⁻¹; steps
  halved while they would make τ² negative; once the steps are small, Newton steps on the same
  score (derivative tr(PP) − 2y'PPPy) finish the job to machine precision (Fisher scoring alone
  converges linearly, sometimes in thousands of steps); τ² = 0 when the (restricted)
  log-likelihood at 0 is at least as high (metafor's ``ll0check``);
* PM and EB: the root of the generalised Q_E(τ²) = k − p (EB's Fisher-scoring fixed point is
  the same root), 0 when Q_E(0) < k − p.

All estimates are truncated at 0. Then β̂ = AX'Wy with wᵢ = 1/(vᵢ + τ̂²), Var(β̂) = A; under
``test="knha"`` (Knapp & Hartung 2003) Var(β̂) = s²A with s² = Σw(y − Xβ̂)²/(k − p), t tests
with k − p df (when every residual is 0, s² = 0: standard errors 0 and Q_M NaN, metafor's
NA). Q_M = β̂ⱼ'Var(β̂ⱼ)⁻¹β̂ⱼ over the tested coefficients (all but the intercept), χ²(m);
under knha F = Q_M/m with F(m, k − p). Q_E = Σ(1/v)(y_c − Xβ̂_FE)² with k − p df. I² and H² use
the typical variance ṽ = (k − p)/tr P (at τ² = 0): I² = 100τ²/(ṽ + τ²), H² = τ²/ṽ + 1; for the
common-effect model I² = max(0, 100(Q_E − (k − p))/Q_E), H² = Q_E/(k − p).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import _scalar_dist, _solve
from ._solve import chi2_median, iterate_fixed_point
from .estimators import REGISTRY, check_method


@dataclass(frozen=True)
class RegFit:
    """Arrays for B meta-regressions (p coefficients each)."""

    beta: np.ndarray  # (B, p)
    vcov: np.ndarray  # (B, p, p)
    se: np.ndarray
    stat: np.ndarray
    pval: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    ddf: np.ndarray  # (B,) t df (nan under z)
    tau2: np.ndarray  # (B,)
    qm: np.ndarray
    qm_df: int
    qm_pval: np.ndarray
    qe: np.ndarray
    qe_df: int
    qe_pval: np.ndarray
    i2: np.ndarray
    h2: np.ndarray
    converged: np.ndarray
    n_iter: np.ndarray


def _outer(X):
    """xᵢxᵢ' of every row, flattened to (B, k, p·p), so that X'WX is one batched matmul (the
    rows do not change while τ² is iterated: :func:`_fisher` computes this once)."""
    B, k, p = X.shape
    return (X[..., :, None] * X[..., None, :]).reshape(B, k, p * p)


def _xtwx(X, w, XX=None):
    """X'WX of every fit: (B, p, p)."""
    if XX is None:
        return np.matmul(np.swapaxes(X * w[..., None], 1, 2), X)
    B, k, p = X.shape
    return np.matmul(w[:, None, :], XX).reshape(B, p, p)


def _xtu(X, u):
    """X'u of every fit: (B, p)."""
    return np.matmul(u[:, None, :], X)[:, 0, :]


def _mv(A, x):
    """A x of every fit (A: (B, m, n), x: (B, n))."""
    return np.matmul(A, x[:, :, None])[:, :, 0]


def _wls(y, X, w, XX=None):
    """Weighted least squares: (A = (X'WX)⁻¹, β̂, residuals)."""
    A = np.linalg.inv(_xtwx(X, w, XX))
    beta = _mv(A, _xtu(X, w * y))
    r = y - _mv(X, beta)
    return A, beta, r


def _tr(A, M):
    return (A * np.swapaxes(M, -1, -2)).sum(axis=(-2, -1))


def _trace_p(X, w):
    """tr P = Σwᵢ(1 − hᵢ), hᵢ the leverages of W^½X from its thin QR. The textbook
    Σw − tr((X'WX)⁻¹X'W²X) cancels catastrophically when one weight dominates (vᵢ = 1e-10:
    tr P off by 5 %, and with it DL's τ², I² and H²)."""
    q = np.linalg.qr(np.sqrt(w)[..., None] * X)[0]
    return (w * (1.0 - (q * q).sum(-1))).sum(-1)


def _rss(yc, X, w):
    _, _, r = _wls(yc, X, w)
    return (w * r * r).sum(-1)


def _tau2_closed(method, yc, v, X, k, p, weights=None):
    if method == "FE":
        return np.zeros(yc.shape[0])
    if method == "GENQ":
        if weights is None:
            raise ValueError("method='GENQ' needs weights=")
        a = np.broadcast_to(np.asarray(weights, dtype=float), v.shape)
        A, _, r = _wls(yc, X, a)
        h = np.einsum("bki,bij,bkj->bk", X, A, X)  # x_i'(X'AX)^-1 x_i
        trp = (a - a * a * h).sum(-1)
        trpv = ((a - a * a * h) * v).sum(-1)
        return ((a * r * r).sum(-1) - trpv) / trp
    if method in ("DL", "HS", "HSk"):
        w = 1.0 / v
        rss = _rss(yc, X, w)
        if method == "HS":
            return (rss - k) / w.sum(-1)
        if method == "HSk":
            return (k / (k - p) * rss - k) / w.sum(-1)
        return (rss - (k - p)) / _trace_p(X, w)
    if method == "SJ":
        t0 = (yc * yc).sum(-1) / k
        return t0 * _rss(yc, X, 1.0 / (v + t0[:, None])) / (k - p)
    # HE (also the start of ML/REML)
    one = np.ones_like(v)
    A0, _, r = _wls(yc, X, one)
    tr_pv = v.sum(-1) - _tr(A0, _xtwx(X, v))
    return ((r * r).sum(-1) - tr_pv) / (k - p)


def _loglik(yc, v, X, tau2, reml):
    w = 1.0 / (v + tau2[:, None])
    rss = _rss(yc, X, w)
    ll = -0.5 * np.log(v + tau2[:, None]).sum(-1) - 0.5 * rss
    if reml:
        ll = ll - 0.5 * np.linalg.slogdet(_xtwx(X, w))[1]
    return ll


def _score_steps(yc, v, X, tau2, kind, XX=None):
    """Fisher-scoring step and Newton step of the (restricted) likelihood score at ``tau2``.

    Score f = y'PPy − tr P (REML) or y'PPy − Σw (ML); f' = tr(PP) − 2y'PPPy (REML) or
    Σw² − 2y'PPPy (ML); the Fisher step is f / E[−f'] (metafor's), the Newton step f / (−f').
    """
    if XX is None:
        XX = _outer(X)
    w = 1.0 / (v + tau2[:, None])
    A, _, r = _wls(yc, X, w, XX)
    w2 = w * w
    u = w * r  # P y
    ypy = (u * u).sum(-1)
    xu = _xtu(X, w * u)
    yppp = (w * u * u).sum(-1) - (xu * _mv(A, xu)).sum(-1)
    if kind == "ML":
        f, info = ypy - w.sum(-1), w2.sum(-1)
    else:
        am2 = np.matmul(A, _xtwx(X, w2, XX))
        f = ypy - (w.sum(-1) - np.trace(am2, axis1=1, axis2=2))
        info = w2.sum(-1) - 2 * _tr(A, _xtwx(X, w2 * w, XX)) + _tr(am2, am2)
    with np.errstate(divide="ignore", invalid="ignore"):
        return f / info, f / (2 * yppp - info)


def _fisher(yc, v, X, k, p, kind):
    """ML/REML from max(0, HE): Fisher scoring as metafor, switching to Newton steps on the
    same score once the steps are small (same root, quadratic instead of linear convergence)."""
    tau2 = np.maximum(_tau2_closed("HE", yc, v, X, k, p), 0.0)
    XX = _outer(X)
    B = tau2.size
    active = np.ones(B, bool)
    conv = np.zeros(B, bool)
    it = np.zeros(B, int)
    prev = np.full(B, np.inf)
    for _ in range(_solve.MAXITER):
        if not active.any():
            break
        i = np.flatnonzero(active)
        sub = slice(None) if i.size == B else i  # all active: no copies
        fisher, newton = _score_steps(yc[sub], v[sub], X[sub], tau2[i], kind, XX[sub])
        close = np.isfinite(newton) & (np.abs(fisher) < 1e-3 * np.maximum(1.0, tau2[i])) & \
            (np.sign(newton) == np.sign(fisher))
        adj = np.where(close, newton, fisher)
        adj = np.where(np.isfinite(adj), adj, 0.0)
        new = tau2[i] + adj
        while (neg := new < 0).any():  # halve the step while it would make τ² negative
            adj = np.where(neg, adj / 2.0, adj)
            new = tau2[i] + adj
        change = np.abs(new - tau2[i])
        scale = np.maximum(1.0, new)
        # converged: below the threshold, or at the rounding-noise floor of the score (the
        # steps stop shrinking while already below 1e-9)
        done = (change < _solve.THRESHOLD * scale) | ((change >= prev[i]) & (change < 1e-9 * scale))
        prev[i] = change
        tau2[i] = new
        it[i] += 1
        conv[i[done]] = True
        active[i[done]] = False
    reml = kind == "REML"
    zero = np.zeros(B)
    at0 = _loglik(yc, v, X, zero, reml) >= _loglik(yc, v, X, tau2, reml)
    return np.where(at0 | (tau2 < 1e-15), 0.0, tau2), conv, it


def _q_root(yc, v, X, target):
    """τ² with Q_E(τ²) = target (PM/EB), by safeguarded Newton steps inside a bracket."""
    B = yc.shape[0]
    tau2 = np.zeros(B)
    conv = np.ones(B, bool)
    it = np.zeros(B, int)
    q0 = _rss(yc, X, 1.0 / v)
    i = np.flatnonzero(q0 > target)
    if i.size == 0:
        return tau2, conv, it
    yc, v, X = yc[i], v[i], X[i]
    lo = np.zeros(i.size)
    hi = np.maximum(1.0, 10.0 * (yc * yc).mean(-1))
    for _ in range(200):
        up = _rss(yc, X, 1.0 / (v + hi[:, None])) > target
        if not up.any():
            break
        hi = np.where(up, hi * 4.0, hi)
    t = 0.5 * (lo + hi)
    done = np.zeros(i.size, bool)
    for _ in range(_solve.MAXITER):
        w = 1.0 / (v + t[:, None])
        _, _, r = _wls(yc, X, w)
        f = (w * r * r).sum(-1) - target
        lo = np.where(f > 0, t, lo)
        hi = np.where(f < 0, t, hi)
        with np.errstate(divide="ignore", invalid="ignore"):
            new = t + f / (w * w * r * r).sum(-1)
        bad = ~np.isfinite(new) | (new <= lo) | (new >= hi)
        new = np.where(bad, 0.5 * (lo + hi), new)
        step = np.abs(new - t)
        t = np.where(done, t, new)
        it[i[~done]] += 1
        done |= (step < _solve.THRESHOLD * np.maximum(1.0, t)) | (f == 0) | (hi - lo < 1e-15 * hi)
        if done.all():
            break
    tau2[i] = t
    conv[i] = done
    return tau2, conv, it


def _iterated(method, yc, v, X, k, p):
    """DLIT / SJIT: metafor's fixed-point iterations (DL from τ² = 0, each iterate truncated
    at 0; SJ from τ₀² = Σ(y − ȳ)²/k), with the one stopping rule."""
    if method == "DLIT":
        def step(t):
            w = 1.0 / (v + t[:, None])
            return np.maximum(0.0, (_rss(yc, X, w) - (k - p)) / _trace_p(X, w))
        t0 = np.zeros(yc.shape[0])
    else:
        def step(t):
            return t * _rss(yc, X, 1.0 / (v + t[:, None])) / (k - p)
        t0 = (yc * yc).sum(-1) / k
    with np.errstate(divide="ignore", invalid="ignore"):
        t, conv, it = iterate_fixed_point(step, t0, np.ones(yc.shape[0], bool))
    return np.maximum(t, 0.0), conv, it


def estimate_tau2_mods(y, v, X, method="REML", weights=None):
    """Residual τ² of ``B`` meta-regressions: arrays (tau2, converged, n_iter) of shape (B,).

    Example
    -------
    >>> import numpy as np
    >>> X = np.column_stack([np.ones(5), [1.0, 2, 3, 4, 5]])
    >>> t2, _, _ = estimate_tau2_mods([[0.1, 0.5, 0.2, 0.9, 1.1]], [[0.02] * 5], X, "DL")
    >>> round(float(t2[0]), 4)
    0.0387
    """
    check_method(method)
    y, v, X = _as_batch(y, v, X)
    k, p = X.shape[1], X.shape[2]
    yc = y - y.mean(-1, keepdims=True)
    B = y.shape[0]
    kind = REGISTRY[method].kind
    if kind == "likelihood":
        return _fisher(yc, v, X, k, p, method)
    if kind == "q_root":
        return _q_root(yc, v, X, float(chi2_median(k - p)) if method == "PMM" else float(k - p))
    if kind == "iterated":
        return _iterated(method, yc, v, X, k, p)
    t2 = np.maximum(_tau2_closed(method, yc, v, X, k, p, weights), 0.0)
    return t2, np.ones(B, bool), np.zeros(B, int)


def _as_batch(y, v, X):
    y = np.atleast_2d(np.asarray(y, dtype=float))
    v = np.atleast_2d(np.asarray(v, dtype=float))
    y, v = np.broadcast_arrays(y, v)
    X = np.asarray(X, dtype=float)
    if X.ndim == 2:
        X = np.broadcast_to(X, (y.shape[0], *X.shape))
    return y, v, X


def _heterogeneity(yc, v, X, tau2, k, p, fe):
    w = 1.0 / v
    _, _, r = _wls(yc, X, w)
    qe = np.maximum(0.0, (w * r * r).sum(-1)) if k > p else np.zeros(yc.shape[0])
    if k <= p:
        return qe, np.zeros_like(qe), np.ones_like(qe)
    with np.errstate(divide="ignore", invalid="ignore"):
        if fe:
            i2 = np.where(qe > 0, np.maximum(0.0, 100 * (qe - (k - p)) / qe), 0.0)
            return qe, i2, qe / (k - p)
        vt = (k - p) / _trace_p(X, w)
        return qe, 100 * tau2 / (vt + tau2), tau2 / vt + 1


def _chi2_upper(x, df):
    """P(χ²(df) ≥ x) per fit: for one fit in closed form where exact (no scipy import),
    else scipy.special's chdtrc as scipy.stats computes it."""
    if x.size == 1:
        p = _scalar_dist.chi2_sf(float(df), float(x[0]))
        if p is not None:
            return np.array([p])
    from . import tails

    return tails.chi2_sf(x, df)


def fit_regression_arrays(y, v, X, *, method="REML", test="z", level=0.95, tau2=None,
                          btt=None) -> RegFit:
    """Fit B meta-regressions (see the module docstring); ``btt`` are the columns Q_M tests.

    ``tau2`` fixes the residual τ² (scalar or per fit) instead of estimating it.

    Example
    -------
    >>> import numpy as np
    >>> X = np.column_stack([np.ones(5), [1.0, 2, 3, 4, 5]])
    >>> fit = fit_regression_arrays([0.1, 0.5, 0.2, 0.9, 1.1], [0.02] * 5, X, method="FE")
    >>> fit.beta.round(3)
    array([[-0.16,  0.24]])
    """
    from . import tails  # scipy.stats' values without importing scipy.stats

    if test not in ("z", "knha"):
        raise ValueError(f"unknown test {test!r}: expected 'z' or 'knha'")
    y, v, X = _as_batch(y, v, X)
    B, k, p = X.shape
    btt = list(range(1, p) if p > 1 else [0]) if btt is None else list(btt)
    if tau2 is None:
        t2, conv, nit = estimate_tau2_mods(y, v, X, method)
    else:
        t2 = np.broadcast_to(np.asarray(tau2, float), (B,)).copy()
        conv, nit = np.ones(B, bool), np.zeros(B, int)
    w = 1.0 / (v + t2[:, None])
    A, beta, r = _wls(y, X, w)
    knha = test == "knha"
    if knha:
        rss = (w * r * r).sum(-1)
        with np.errstate(divide="ignore", invalid="ignore"):  # k = p (FE): no df, rss 0
            s2w = np.where(rss <= np.finfo(float).eps, 0.0, rss / (k - p))
        A = A * s2w[:, None, None]
    se = np.sqrt(np.diagonal(A, axis1=1, axis2=2))
    with np.errstate(divide="ignore", invalid="ignore"):
        stat = beta / se
    a = 1 - level
    ddf = np.full(B, float(k - p) if knha else np.nan)
    if knha:
        crit = tails.t_ppf(1 - a / 2, k - p)
        pval = 2 * tails.t_sf(np.abs(stat), k - p)
    elif B == 1:  # one regression (a subgroup test): math, no scipy import
        from .fitting import quantile

        crit = float(quantile("z", 1 - a / 2))
        pval = np.array([[2.0 * _scalar_dist.ndtr(-abs(float(z))) for z in stat[0]]])
    else:
        crit = tails.norm_ppf(1 - a / 2)
        pval = 2 * tails.norm_sf(np.abs(stat))
    sub = A[:, btt][:, :, btt]
    bb = beta[:, btt]
    ok = s2w > 0 if knha else np.ones(B, bool)  # knha with zero residuals: Var = 0, QM NA
    qm = np.full(B, np.nan)
    if ok.any():
        with np.errstate(invalid="ignore"):
            qm[ok] = np.einsum("bi,bi->b", bb[ok],
                               np.linalg.solve(sub[ok], bb[ok][..., None])[..., 0])
    m = len(btt)
    if knha:
        qm = qm / m
        qm_pval = tails.f_sf(qm, m, k - p)
    else:
        qm_pval = _chi2_upper(qm, m)
    yc = y - y.mean(-1, keepdims=True)
    qe, i2, h2 = _heterogeneity(yc, v, X, t2, k, p, method == "FE" and tau2 is None)
    qe_pval = _chi2_upper(qe, k - p) if k > p else np.ones(B)
    return RegFit(beta, A, se, stat, pval, beta - crit * se, beta + crit * se, ddf, t2, qm, m,
                  qm_pval, qe, k - p, qe_pval, i2, h2, conv, nit)

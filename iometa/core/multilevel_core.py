"""Numeric core of the three-level model (metafor ``rma.mv(yi, vi, random = ~ 1 | cluster/obs)``).

Model: y = Xβ + u_c + e_ci + ε_ci with u ~ N(0, σ₁²) (between clusters), e ~ N(0, σ₂²) (within
clusters), ε ~ N(0, v_ci) (sampling error). The marginal covariance is block diagonal, one block
per cluster: V_c = D_c + σ₁² 11ᵀ with D_c = diag(v_ci + σ₂²). Every quantity is computed from
the blocks with the Sherman–Morrison formula, so the cost is O(k p²) and no k × k matrix is
formed: with d = 1/(v + σ₂²), s_c = Σ_i d_ci and δ_c = 1 + σ₁² s_c,

* V_c⁻¹ z = d∘z − (σ₁²/δ_c) d (dᵀz);  log|V_c| = Σ log(v + σ₂²) + log δ_c;
* V_c⁻¹ 1 = d/δ_c, so 1ᵀV_c⁻¹1 = s_c/δ_c.

Log-likelihoods (as metafor's ``logLik``): ML −½[k log 2π + log|V| + rᵀV⁻¹r]; REML
−½[(k − p) log 2π − log|XᵀX| + log|V| + log|XᵀV⁻¹X| + rᵀV⁻¹r], r = y − Xβ̂ (GLS).
With P = V⁻¹ − V⁻¹X(XᵀV⁻¹X)⁻¹XᵀV⁻¹, V₁ = ∂V/∂σ₁² (the cluster blocks of ones) and V₂ = I, the
score is −½[tr(Q V_a) − yᵀPV_aPy] with Q = P (REML) or V⁻¹ (ML), and the observed Hessian
½tr(QV_aQV_b) − yᵀPV_aPV_bPy. The estimates solve the score equations exactly (Newton steps
on the observed Hessian, Fisher scoring where it is not negative definite, step halving and
the box σ² ≥ 0 with the Karush–Kuhn–Tucker conditions at a component that is 0).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

_LOG2PI = math.log(2 * math.pi)


@dataclass(frozen=True)
class Blocks:
    """Rows sorted by cluster: ``y``, ``v``, ``X`` (sorted), ``starts`` of the clusters,
    ``size`` of each cluster, ``order`` (sorted position -> input row)."""

    y: np.ndarray
    v: np.ndarray
    X: np.ndarray
    starts: np.ndarray
    size: np.ndarray
    order: np.ndarray

    @property
    def k(self) -> int:
        return self.y.size

    @property
    def p(self) -> int:
        return self.X.shape[1]


def make_blocks(y, v, X, codes) -> Blocks:
    """Sort rows by their integer cluster ``codes`` (stable) and record the cluster blocks."""
    order = np.argsort(codes, kind="stable")
    c = codes[order]
    starts = np.flatnonzero(np.r_[True, c[1:] != c[:-1]])
    size = np.diff(np.r_[starts, c.size])
    return Blocks(y[order], v[order], X[order], starts, size, order)


def csum(b: Blocks, z):
    """Cluster sums of the rows of ``z`` (k,) or (k, m)."""
    return np.add.reduceat(z, b.starts, axis=0)


def expand(b: Blocks, a):
    """Cluster values ``a`` repeated over the rows of each cluster."""
    return np.repeat(a, b.size, axis=0)


@dataclass
class State:
    """The model at (σ₁², σ₂²): weights, GLS fit and the pieces of the score."""

    s1: float
    s2: float
    d: np.ndarray
    s: np.ndarray
    den: np.ndarray
    cr: np.ndarray  # σ₁²/δ_c per row
    Xt: np.ndarray  # V⁻¹X
    A: np.ndarray  # (XᵀV⁻¹X)⁻¹
    beta: np.ndarray
    u: np.ndarray  # V⁻¹(y − Xβ̂) = Py
    rss: float
    logdet: float
    logdet_xvx: float


def vinv(b: Blocks, st: State, z):
    """V⁻¹z for z of shape (k,) or (k, m)."""
    dz = st.d * z if z.ndim == 1 else st.d[:, None] * z
    corr = expand(b, csum(b, dz))
    return dz - (st.cr * st.d * corr.T).T if z.ndim > 1 else dz - st.cr * st.d * corr


def state(b: Blocks, s1: float, s2: float) -> State:
    """Weights and the GLS fit of the model with variance components (s1, s2)."""
    d = 1.0 / (b.v + s2)
    s = csum(b, d)
    den = 1.0 + s1 * s
    cr = expand(b, s1 / den)
    st = State(s1, s2, d, s, den, cr, None, None, None, None, 0.0, 0.0, 0.0)  # type: ignore[arg-type]
    st.Xt = vinv(b, st, b.X)
    xvx = b.X.T @ st.Xt
    st.A = np.linalg.inv(xvx)
    st.beta = st.A @ (st.Xt.T @ b.y)
    r = b.y - b.X @ st.beta
    st.u = vinv(b, st, r)
    st.rss = float(r @ st.u)
    st.logdet = float(np.log(b.v + s2).sum() + np.log(den).sum())
    st.logdet_xvx = float(np.linalg.slogdet(xvx)[1])
    return st


def loglik(b: Blocks, st: State, reml: bool) -> float:
    """metafor's (restricted) log-likelihood, constants included (REML: ½ log|XᵀX|)."""
    if reml:
        ldxx = float(np.linalg.slogdet(b.X.T @ b.X)[1])
        return -0.5 * ((b.k - b.p) * _LOG2PI - ldxx + st.logdet + st.logdet_xvx + st.rss)
    return -0.5 * (b.k * _LOG2PI + st.logdet + st.rss)


def derivatives(b: Blocks, st: State, reml: bool):
    """Score (2,), observed Hessian (2, 2) and expected information (2, 2) in (σ₁², σ₂²)."""
    d, g1 = st.d, st.d / expand(b, st.den)  # g1 = V⁻¹1 blockwise
    sum_u = csum(b, st.u)
    uvu = np.array([float(sum_u @ sum_u), float(st.u @ st.u)])
    # traces with V⁻¹ (ML)
    c_cl = st.s1 / st.den
    d2 = csum(b, d * d)
    t0 = np.empty((2, 2))
    t0[0, 0] = float(((st.s / st.den) ** 2).sum())
    t0[0, 1] = t0[1, 0] = float((d2 / st.den**2).sum())
    t0[1, 1] = float(d2.sum() - 2 * (c_cl * csum(b, d**3)).sum() + (c_cl**2 * d2**2).sum())
    tr_v = np.array([float((st.s / st.den).sum()), float(d.sum() - (c_cl * d2).sum())])
    # products with X (REML corrections) and the y-part of the Hessian
    S = csum(b, st.Xt)  # cluster sums of V⁻¹X
    G = [S.T @ S, st.Xt.T @ st.Xt]
    z = [expand(b, sum_u), st.u]  # V_a P y
    vz = [g1 * sum_u.repeat(b.size), vinv(b, st, st.u)]
    xz = [st.Xt.T @ z[0], st.Xt.T @ z[1]]
    hy = np.empty((2, 2))
    for i in range(2):
        for j in range(2):
            hy[i, j] = float(z[i] @ vz[j]) - float(xz[i] @ st.A @ xz[j])
    if reml:
        gs = expand(b, S)  # V₁V⁻¹X
        vg = [g1[:, None] * gs, vinv(b, st, st.Xt)]  # V⁻¹V_aV⁻¹X
        vx = [gs, st.Xt]
        AG = [st.A @ G[0], st.A @ G[1]]
        t = np.empty((2, 2))
        for i in range(2):
            for j in range(2):
                kij = vx[i].T @ vg[j]
                t[i, j] = t0[i, j] - 2 * float(np.trace(st.A @ kij)) + float(np.sum(AG[i] * AG[j].T))
        tr_q = tr_v - np.array([float(np.trace(AG[0])), float(np.trace(AG[1]))])
    else:
        t, tr_q = t0, tr_v
    score = -0.5 * (tr_q - uvu)
    hess = 0.5 * t - hy
    return score, hess, 0.5 * t


@dataclass(frozen=True)
class Fit:
    """The (restricted) maximum-likelihood fit: components, GLS fit, log-likelihood, score."""

    sigma2: tuple[float, float]
    beta: np.ndarray
    vcov: np.ndarray
    loglik: float
    score: np.ndarray
    converged: bool
    n_iter: int
    state: State


def fit(b: Blocks, *, reml: bool, start=(0.1, 0.1), fixed=(None, None), maxiter=200,
        tol=1e-12) -> Fit:
    """Maximise the (restricted) log-likelihood over σ₁², σ₂² ≥ 0 (``fixed`` components are
    held at their value). Converged when every free component has a zero score (or is 0 with a
    negative score) to ``tol`` relative to the information, and the last step is < ``tol``."""
    theta = np.array([f if f is not None else max(s0, 0.0) for s0, f in zip(start, fixed)], float)
    free0 = np.array([f is None for f in fixed])
    st = state(b, *theta)
    ll = loglik(b, st, reml)
    converged = False
    it = 0
    for it in range(1, maxiter + 1):
        g, h, info = derivatives(b, st, reml)
        free = free0 & ((theta > 0) | (g > 0))
        if not free.any():
            converged = True
            break
        idx = np.flatnonzero(free)
        hf, gf, inf = -h[np.ix_(idx, idx)], g[idx], info[np.ix_(idx, idx)]
        newton = bool(np.all(np.linalg.eigvalsh(hf) > 0))
        step_f = np.linalg.solve(hf if newton else inf, gf)
        small = np.abs(gf) * np.sqrt(np.diag(np.linalg.inv(inf))) < tol
        if newton and (np.all(np.abs(step_f) <= tol * 1e-3 * (1 + theta[idx])) or small.all()):
            converged = True
            break
        step = np.zeros(2)
        step[idx] = step_f
        lam = 1.0
        while True:
            cand = np.maximum(theta + lam * step, 0.0)
            st_c = state(b, *cand)
            ll_c = loglik(b, st_c, reml)
            if ll_c >= ll - 1e-14 * (1 + abs(ll)):
                break
            lam /= 2
            if lam < 1e-12:  # no ascent left: at the optimum up to rounding
                converged = bool((np.abs(gf) * np.sqrt(np.diag(np.linalg.inv(inf))) < 1e-7).all())
                return _result(b, st, reml, theta, ll, converged, it)
        theta, st, ll = cand, st_c, ll_c
    return _result(b, st, reml, theta, ll, converged, it)


def _result(b, st, reml, theta, ll, converged, it) -> Fit:
    g = derivatives(b, st, reml)[0]
    return Fit((float(theta[0]), float(theta[1])), st.beta, st.A, ll, g, converged, it, st)

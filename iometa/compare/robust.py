"""Cluster-robust inference for fitted models: :func:`robust` (metafor ``robust()``).

The working model (its weights W = V⁻¹ and coefficients β̂) is the fitted one; only the
variance of β̂ is replaced by a sandwich over clusters. With M = (XᵀWX)⁻¹ and the residuals
e = y − Xβ̂:

* ``"CR1"`` (metafor ``robust(x, cluster, adjust = TRUE)``): V_R = n/(n − p) · M
  [Σ_c X_cᵀ(We)_c (We)_cᵀX_c] M, with n clusters, p coefficients, t tests and CIs with n − p
  df, and the omnibus test of the moderators F = Q_M/m with (m, n − p) df;
* ``"CR2"`` (metafor ``robust(x, cluster, clubSandwich = TRUE)``, i.e. clubSandwich
  ``vcovCR(type = "CR2")`` with ``coef_test(test = "Satterthwaite")``; Bell & McCaffrey 2002,
  Pustejovsky & Tipton 2018): V_R = M [Σ_c X_cᵀW_cA_c e_c e_cᵀA_cᵀW_cX_c] M with the
  bias-reduction matrices A_c = R_cᵀ (R_c(Θ_c − X_cMX_cᵀ)R_cᵀ)^(−½) R_c, Θ_c = V_c the
  model's marginal covariance of cluster c (R_cᵀR_c = Θ_c, Cholesky; the power by eigen
  decomposition, eigenvalues ≤ 1e-12 set to 0 as clubSandwich), and per coefficient i the
  Satterthwaite df (tr P_i)²/‖P_i‖²_F with P_i = diag_c(‖g_ci‖²) − h_iᵀh_i, g_ci the i-th row
  of M X_cᵀW_cA_cR_cᵀ and h_i the matrix with columns (M X_cᵀW_cA_cX_c L)_i, LLᵀ = M.

Every product is per cluster (at most n_c × n_c), never k × k.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..core.models import column
from ..core.multilevel_result import MultilevelResult
from ..core.results import MetaResult
from .metareg import MetaRegression

__all__ = ["RobustResult", "robust"]


@dataclass(frozen=True, eq=False)
class RobustResult:
    """Cluster-robust tests of a fitted model's coefficients.

    ``coef``, ``se``, ``stat`` (t), ``pval``, ``coef_ci_low``, ``coef_ci_high``, ``df``
    (floats for an intercept-only model, else arrays named by ``terms``; CR1: one df,
    n_clusters − p; CR2: Satterthwaite df per coefficient), ``vcov``, ``n_clusters``,
    ``small_sample``; with moderators the omnibus test of every coefficient but the
    intercept: ``qm`` (F), ``qm_df`` (numerator, denominator df), ``qm_pval`` — under CR1 the
    sandwich Wald F on (m, n − p) df (``robust(adjust = TRUE)``), under CR2 clubSandwich's
    HTZ test (Hotelling's T² approximation, ``robust(clubSandwich = TRUE)``); None for an
    intercept-only model (use ``stat``, ``pval``).

    Example
    -------
    >>> from iometa.core.models import pool
    >>> from iometa.compare.robust import robust
    >>> res = pool([0.1, 0.3, 0.5, 0.2, 0.8, 0.9], [0.02] * 6, method="DL")
    >>> rob = robust(res, [1, 1, 2, 2, 3, 3])
    >>> rob.n_clusters, rob.df
    (3, 2.0)
    """

    small_sample: str
    level: float
    n_clusters: int
    terms: tuple[str, ...]
    coef: Any
    se: Any
    stat: Any
    pval: Any
    coef_ci_low: Any
    coef_ci_high: Any
    df: Any
    vcov: np.ndarray
    qm: float | None = None
    qm_df: tuple[int, float] | None = None
    qm_pval: float | None = None
    model: Any = field(default=None, repr=False)

    def __repr__(self) -> str:
        from ..core.format import one_line

        tags = (self.small_sample, f"clusters={self.n_clusters}")
        if np.ndim(self.coef) == 0:
            return one_line("RobustResult", tags, self.coef, (self.coef_ci_low,
                                                              self.coef_ci_high))
        return one_line("RobustResult", tags, extra=f"{len(self.terms)} coefficients")

    def to_frame(self) -> pd.DataFrame:
        """The coefficient table: term, estimate, se, stat, df, pval, ci_low, ci_high."""
        a = np.atleast_1d
        return pd.DataFrame({"term": list(self.terms), "estimate": a(self.coef),
                             "se": a(self.se), "stat": a(self.stat),
                             "df": np.broadcast_to(a(self.df), a(self.coef).shape),
                             "pval": a(self.pval), "ci_low": a(self.coef_ci_low),
                             "ci_high": a(self.coef_ci_high)})


@dataclass(frozen=True)
class _Working:
    """The working model: y, X, β̂, v, σ² (between model clusters, within) and the model
    clusters (integer codes), all in row order."""

    y: np.ndarray
    X: np.ndarray
    beta: np.ndarray
    v: np.ndarray
    s1: float
    s2: float
    mcl: np.ndarray
    terms: tuple[str, ...]
    level: float
    data: pd.DataFrame | None


def _working(result) -> _Working:
    if isinstance(result, MultilevelResult):
        mcl = pd.factorize(pd.Series(result.cluster, dtype=object))[0]
        return _Working(result.yi, result.X, np.asarray(result.beta, float), result.vi,
                        result.sigma2[0], result.sigma2[1], mcl, result.terms, result.level,
                        result.data)
    if isinstance(result, MetaRegression):
        if result.method == "GLMM":
            raise ValueError("robust() needs an inverse-variance model; this meta-regression "
                             "was fitted with method 'GLMM'")
        k = result.k
        return _Working(result.yi, result.X, np.asarray(result.beta, float), result.vi, 0.0,
                        result.tau2, np.arange(k), result.terms, result.level, result.data)
    if isinstance(result, MetaResult):
        if result.method == "GLMM" or result.kind in ("median",):
            raise ValueError(f"robust() needs an inverse-variance model; this result was "
                             f"fitted with method {result.method!r} (kind {result.kind!r})")
        y, v = result.yi, result.vi
        return _Working(y, np.ones((y.size, 1)), np.array([result.coef]), v, 0.0,
                        result.tau2, np.arange(y.size), ("intrcpt",), result.level,
                        result.data)
    raise ValueError(f"robust() takes a result of pool, meta_regression or pool_multilevel, "
                     f"got {type(result).__name__}")


def _marginal(w: _Working, idx):
    """The model's marginal covariance of the rows ``idx`` (dense, small)."""
    same = w.mcl[idx][:, None] == w.mcl[idx][None, :]
    return np.diag(w.v[idx] + w.s2) + w.s1 * same


def _vinv_x(w: _Working):
    """V⁻¹X blockwise over the model clusters (Sherman–Morrison)."""
    d = 1 / (w.v + w.s2)
    ncl = int(w.mcl.max()) + 1
    s = np.bincount(w.mcl, weights=d, minlength=ncl)
    c = (w.s1 / (1 + w.s1 * s))[w.mcl]
    dx = d[:, None] * w.X
    sums = np.zeros((ncl, w.X.shape[1]))
    np.add.at(sums, w.mcl, dx)
    return dx - (c * d)[:, None] * sums[w.mcl]


def robust(result, cluster, *, small_sample="CR1") -> RobustResult:
    """Cluster-robust (sandwich) standard errors, tests and CIs of a fitted model.

    ``result``: a :func:`iometa.pool` / :func:`iometa.pool_proportions` result (not GLMM), a
    :func:`iometa.meta_regression` result or a :func:`iometa.pool_multilevel` result.
    ``cluster``: the cluster of every row (array, or a column name of the result's ``data``).
    ``small_sample="CR1"``: metafor ``robust(x, cluster, adjust = TRUE)`` (sandwich ×
    n/(n − p), t with n − p df); ``"CR2"``: metafor ``robust(x, cluster, clubSandwich =
    TRUE)`` (bias-reduced linearisation, Satterthwaite df; the model's random effects must be
    nested in the clusters, as clubSandwich requires). The model's own variance (e.g. the
    Knapp–Hartung factor of a ``test="knha"`` fit) is not used: the working weights are.
    At least 2 clusters are needed, and more clusters than coefficients for CR1.

    References: Hedges, Tipton & Johnson 2010 (Res Synth Methods 1:39); Tipton 2015 (Psychol
    Methods 20:375); Pustejovsky & Tipton 2018 (J Bus Econ Stat 36:672); Bell & McCaffrey 2002
    (Surv Methodol 28:169). R: ``metafor::robust``, ``clubSandwich::coef_test``.

    Example
    -------
    >>> from iometa.core.models import pool
    >>> res = pool([0.1, 0.3, 0.5, 0.2, 0.8, 0.9], [0.02] * 6, method="REML")
    >>> rob = robust(res, ["a", "a", "b", "b", "c", "c"], small_sample="CR2")
    >>> rob.n_clusters
    3
    """
    if small_sample not in ("CR1", "CR2"):
        raise ValueError(f"unknown small_sample {small_sample!r}: expected 'CR1' or 'CR2'")
    w = _working(result)
    k, p = w.X.shape
    cl = column(cluster, w.data, "cluster")
    if cl is None or len(cl) != k:
        raise ValueError(f"cluster must give the cluster of each of the {k} rows of the model "
                         f"(got {0 if cl is None else len(cl)} values)")
    miss = pd.isna(pd.Series(cl, dtype=object)).to_numpy()
    if miss.any():
        raise ValueError(f"row {int(np.argmax(miss)) + 1} has no cluster (missing value)")
    codes = pd.factorize(pd.Series(cl, dtype=object))[0]
    n = int(codes.max()) + 1
    if n < 2:
        raise ValueError("cluster-robust inference needs at least 2 clusters; all rows are in "
                         "one cluster")
    if small_sample == "CR1" and n <= p:
        raise ValueError(f"the number of clusters ({n}) must be larger than the number of "
                         f"coefficients ({p}) for CR1 (t with n - p df)")
    e = w.y - w.X @ w.beta
    htz = None
    if small_sample == "CR1":
        vb, df = _cr1(w, codes, n, e), float(n - p)
        dfs = np.full(p, df)
    else:
        _check_nested(w.mcl, codes)
        vb, dfs, gh = _cr2(w, codes, n, e)
        df = dfs
        if p > 1:
            htz = _htz(w.beta, vb, gh, np.arange(1, p))
    return _assemble(result, w, vb, dfs, df, n, small_sample, htz)


def _cr1(w, codes, n, e):
    wx = _vinv_x(w)
    M = np.linalg.inv(w.X.T @ wx)
    comp = np.zeros((n, w.X.shape[1]))
    np.add.at(comp, codes, wx * e[:, None])
    return n / (n - w.X.shape[1]) * (M @ (comp.T @ comp) @ M)


def _check_nested(mcl, codes):
    pairs = pd.DataFrame({"m": mcl, "c": codes}).drop_duplicates()
    bad = pairs["m"].duplicated()
    if bad.any():
        raise ValueError("CR2 needs the model's clusters nested in the robust clusters "
                         "(clubSandwich: 'Random effects are not nested within clustering "
                         "variable'); a model cluster spans several robust clusters")


def _mpow(g):
    val, vec = np.linalg.eigh(g)
    vp = np.where(val > 1e-12, np.abs(val) ** -0.5, 0.0)
    return (vec * vp) @ vec.T


def _cr2(w, codes, n, e):
    p = w.X.shape[1]
    wx = _vinv_x(w)
    M = np.linalg.inv(w.X.T @ wx)
    LM = np.linalg.cholesky(M)
    order = np.argsort(codes, kind="stable")
    bounds = np.r_[0, np.cumsum(np.bincount(codes, minlength=n))]
    meat = np.zeros((p, p))
    gsq = np.zeros((n, p))
    H = np.zeros((n, p, p))
    gg = np.zeros((n, p, p))  # G_j G_jᵀ (the diagonal terms of clubSandwich's P array)
    for j in range(n):
        idx = order[bounds[j]:bounds[j + 1]]
        theta = _marginal(w, idx)
        Rc = np.linalg.cholesky(theta).T  # upper: RᵀR = Θ
        Xc = w.X[idx]
        G = Rc @ (theta - Xc @ M @ Xc.T) @ Rc.T
        A = Rc.T @ _mpow(G) @ Rc
        E = wx[idx].T @ A  # XᵀW_cA_c (W_c = Θ_c⁻¹ by nesting)
        u = E @ e[idx]
        meat += np.outer(u, u)
        ME = M @ E
        G = ME @ Rc.T
        gg[j] = G @ G.T
        gsq[j] = np.diag(gg[j])
        H[j] = ME @ Xc @ LM
    vb = M @ meat @ M
    dfs = np.empty(p)
    for i in range(p):
        h = H[:, i, :]  # (n, p): row j = H_j[i, :]
        hsq = (h**2).sum(axis=1)
        tr = float((gsq[:, i] - hsq).sum())
        hh = h.T @ h
        fro = float((hh**2).sum() - 2 * (gsq[:, i] * hsq).sum() + (gsq[:, i] ** 2).sum())
        dfs[i] = tr**2 / fro
    return vb, dfs, (gg, H)


def _htz(beta, vb, gh, rows):
    """clubSandwich's HTZ Wald test of ``beta[rows] = 0`` (Tipton & Pustejovsky 2015, J Educ
    Behav Stat 40:604): Q = b'V⁻¹b, ν = q(q + 1) / Σ_st Var-terms of the CR2 estimator
    (Satterthwaite-type moment matching of a Wishart), F = (ν − q + 1)/ν · Q/q on
    (q, ν − q + 1) df. Returns (F, (q, df2), p). metafor: ``robust(x, cluster,
    clubSandwich = TRUE)$QM`` (its ``wald_test = "HTZ"`` default)."""
    from scipy.special import fdtrc

    gg, H = gh
    q = len(rows)
    Hc = H[:, rows, :]  # (J, q, p): the constrained H_j
    # P[s, t] (J x J): −H_s H_tᵀ over clusters, plus G_j[s]·G_j[t] on the diagonal
    P = -np.einsum("asu,btu->stab", Hc, Hc)
    idx = np.arange(Hc.shape[0])
    P[:, :, idx, idx] += np.moveaxis(gg[:, rows][:, :, rows], 0, -1)
    omega = np.trace(P, axis1=2, axis2=3)
    val, vec = np.linalg.eigh(omega)
    on = (vec * val**-0.5) @ vec.T
    B = np.einsum("si,ijab,jt->stab", on, P, on)
    var = (np.einsum("stab,tsab->st", B, B) +
           np.einsum("ssab,ttab->st", B, B))
    nu = q * (q + 1) / float(var.sum())
    b = beta[rows]
    Q = float(b @ np.linalg.solve(vb[np.ix_(rows, rows)], b))
    df2 = nu - q + 1
    F = max(0.0, max((nu - q + 1) / nu, 0.0) * Q / q)
    pv = float(fdtrc(q, df2, F)) if df2 > 0 else float("nan")
    return F, (q, max(0.0, df2)), pv


def _assemble(result, w, vb, dfs, df, n, small_sample, htz=None):
    from scipy.special import fdtrc, stdtr, stdtrit

    p = w.X.shape[1]
    se = np.sqrt(np.diag(vb))
    if not np.all(se > 0):
        i = int(np.argmax(~(se > 0)))
        raise ValueError(f"the cluster-robust variance of {w.terms[i]!r} is 0 (every residual "
                         "is 0 within the clusters): no robust test is defined")
    stat = w.beta / se
    pval = 2 * stdtr(dfs, -np.abs(stat))
    crit = stdtrit(dfs, 1 - (1 - w.level) / 2)
    qm = qm_df = qm_p = None
    if small_sample == "CR1" and p > 1:
        bt = w.beta[1:]
        qm = float(bt @ np.linalg.solve(vb[1:, 1:], bt)) / (p - 1)
        qm_df = (p - 1, float(n - p))
        qm_p = float(fdtrc(p - 1, n - p, qm))
    elif htz is not None:
        qm, qm_df, qm_p = htz
    one = (lambda a: float(np.asarray(a).ravel()[0])) if p == 1 else (lambda a: np.asarray(a))
    return RobustResult(
        small_sample=small_sample, level=w.level, n_clusters=n, terms=w.terms,
        coef=one(w.beta), se=one(se), stat=one(stat), pval=one(pval),
        coef_ci_low=one(w.beta - crit * se), coef_ci_high=one(w.beta + crit * se),
        df=float(df) if np.isscalar(df) else one(df), vcov=vb, qm=qm, qm_df=qm_df,
        qm_pval=qm_p, model=result)

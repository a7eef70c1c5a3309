"""Numerical core of the small-study-effect tests (private).

* :func:`metareg_fit` — the mixed-effects meta-regression yᵢ = β₀ + β₁xᵢ + uᵢ + εᵢ with one
  moderator, exactly as metafor's ``rma.uni(yi, vi, mods = x, method =, test =)``, fitted by
  the core's regression kernel (:mod:`iometa.core.regression`: the one home of the τ²
  methods with moderators).
* :func:`wls_lm_fit` — R's ``lm(y ~ x, weights = w)``: weighted least squares with the residual
  variance estimated, t tests with k − 2 df.
* :func:`kendall_test` — R's ``cor.test(x, y, method = "kendall", exact = TRUE)``: τ-b; the
  exact permutation p-value when neither variable has ties, else the normal approximation with
  the tie-corrected variance of S (no continuity correction).

All linear algebra is on the k × 2 design with 2 × 2 inverses (no k × k matrices).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..core.regression import fit_regression_arrays


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


def metareg_fit(y, v, x, *, method="REML", test="z", level=0.95, tau2=None) -> RegFit:
    """Mixed-effects meta-regression of ``y`` on one moderator ``x`` (metafor ``rma.uni``).

    Fitted by the core's design-matrix kernel (:func:`iometa.core.regression.
    fit_regression_arrays`), so the τ² methods, their stopping rule and the Knapp–Hartung
    scaling are the ones of :func:`iometa.meta_regression`.
    """
    y, v, x = (np.asarray(a, dtype=float) for a in (y, v, x))
    X = np.column_stack([np.ones_like(x), x])
    fit = fit_regression_arrays(y, v, X, method=method, test=test, level=level, tau2=tau2)
    df = float(fit.ddf[0]) if test == "knha" else None
    return RegFit(fit.beta[0], fit.se[0], fit.stat[0], fit.pval[0], fit.ci_low[0],
                  fit.ci_high[0], df, float(fit.tau2[0]))


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

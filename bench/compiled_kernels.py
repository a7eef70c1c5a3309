"""numba kernels of iometa's intercept-only REML fit, for bench/compiled_probe.py only.

Not part of the package and not a dependency: this module imports numba at the top and is
imported by the probe only once numba is known to be importable. Each function follows, per
analysis, the numbers of :func:`iometa.core.fitting.fit_arrays` with ``method="REML"``:

* the effects are shifted by the first study's (``fitting._centred``), the coefficient
  shifted back;
* start at max(0, Hedges) (``estimators._likelihood``);
* the score, Fisher and observed information of ``estimators._score`` (with the
  cancellation-free tr(PP) of ``estimators._tr_pp`` where the plain formula cancels);
* ``_solve.bracketed_step``: metafor's Fisher scoring with its step halving
  (``halve_until_nonnegative``) until the root is bracketed or the Fisher step is below
  ``NEWTON_NEAR`` of τ², then Newton steps, bisection where they leave the bracket;
* stop at |Δτ²| < ``THRESHOLD``·max(1, τ²), at most ``MAXITER`` iterations;
* metafor's ll0check (τ² = 0 where the restricted likelihood there is at least as high);
* the summary of ``fitting._summary`` (z or Knapp-Hartung with a given t quantile;
  ``pi_method="metafor"``): coef, se, stat, the z p-value (erfc; the t p-value is left to
  the caller), CI, PI, Q, I², H², s², weights in percent.

Sums run in study order (strict IEEE arithmetic, no fastmath), so the numbers do not depend
on the machine's vector width; over a batch's study axis that is numpy's order too, for one
long analysis numpy sums pairwise or with BLAS (the probe measures the differences).
``error_model="numpy"``: a division by zero gives inf/nan as in numpy (numba's default would
raise, and its check per division keeps loops from vectorising).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from iometa.core._solve import MAXITER, NEWTON_NEAR, THRESHOLD

#: columns of the summary array (one row per analysis)
FIELDS = ("coef", "se", "stat", "pval", "ci_low", "ci_high", "pi_low", "pi_high", "tau2", "q",
          "i2", "h2", "s2")
_NF = len(FIELDS)
_SQRT2 = math.sqrt(2.0)
_LOG2PI = math.log(2.0 * math.pi)


@njit(cache=True, error_model="numpy")
def _halve_until_nonnegative(t, step):
    new = t + step
    if not new < 0.0:
        return new
    j = math.floor(math.log2(-step / t)) - 1.0 if t > 0.0 else -1.0
    if not math.isfinite(j):
        j = 0.0
    s = math.ldexp(step, -int(min(max(j, 0.0), 2100.0)))
    new = t + s
    for _ in range(2200):
        if not (new < 0.0 and t > 0.0):
            break
        s = s / 2.0
        new = t + s
    if t <= 0.0 or new < 0.0 or new != new:
        return 0.0
    return new


@njit(cache=True, error_model="numpy")
def _bracketed_step(t, u, d_newton, d_fisher, lo, hi):
    if u > 0.0 and t > lo:
        lo = t
    if u < 0.0 and t < hi:
        hi = t
    closed = lo >= 0.0 and hi < math.inf
    fisher = u / d_fisher
    newton = d_newton > 0.0 and (closed or abs(fisher) <= NEWTON_NEAR * t)
    new = _halve_until_nonnegative(t, u / d_newton if newton else fisher)
    bad = new <= lo or new >= hi or d_newton <= 0.0 or new != new
    if closed and bad:
        new = 0.5 * ((lo if lo > 0.0 else 0.0) + hi)
    if new != new:
        new = t
    return new, lo, hi


@njit(cache=True, error_model="numpy")
def _tr_pp_stable(w, sw):
    """Σᵢ wᵢ²((Σ_{j≠i} wⱼ)² + Σ_{j≠i} wⱼ²)/(Σw)², the sums over j ≠ i from both ends."""
    k = w.size
    after1 = np.zeros(k)
    after2 = np.zeros(k)
    for i in range(k - 2, -1, -1):
        after1[i] = after1[i + 1] + w[i + 1]
        after2[i] = after2[i + 1] + w[i + 1] * w[i + 1]
    b1 = 0.0
    b2 = 0.0
    acc = 0.0
    for i in range(k):
        o1 = b1 + after1[i]
        o2 = b2 + after2[i]
        acc += w[i] * w[i] * (o1 * o1 + o2)
        b1 += w[i]
        b2 += w[i] * w[i]
    return acc / (sw * sw)


@njit(cache=True, error_model="numpy")
def _score(y, v, t, w):
    """(u, observed, Fisher) of the restricted likelihood at τ² = t (all × 2)."""
    k = y.size
    for i in range(k):  # no reduction: vectorised
        w[i] = 1.0 / (v[i] + t)
    sw = 0.0
    swy = 0.0
    for i in range(k):
        sw += w[i]
        swy += w[i] * y[i]
    mu = swy / sw
    ypy = 0.0
    s2 = 0.0
    s3 = 0.0
    sa = 0.0
    sawr = 0.0
    for i in range(k):
        wi = w[i]
        wr = wi * (y[i] - mu)
        ypy += wr * wr
        w2 = wi * wi
        s2 += w2
        s3 += w2 * wi
        a = wi * wr
        sa += a
        sawr += a * wr
    yp3y = sawr - sa * sa / sw
    u = ypy - (sw - s2 / sw)
    fisher = s2 - 2.0 * s3 / sw + (s2 / sw) ** 2
    if fisher <= 1e-6 * s2:
        fisher = _tr_pp_stable(w, sw)
    return u, 2.0 * yp3y - fisher, fisher


@njit(cache=True, error_model="numpy")
def _sweep(y, v, t, w):
    """w = 1/(v + t) into ``w``; returns (Σw, μ̂, Q(t)). Its first loops are _score's, written
    out in both: as one shared njit helper the W2 kernel measured ~15 % slower (13.5-14.2 ms
    against 11-12.7 ms, alternating runs)."""
    k = y.size
    for i in range(k):
        w[i] = 1.0 / (v[i] + t)
    sw = 0.0
    swy = 0.0
    for i in range(k):
        sw += w[i]
        swy += w[i] * y[i]
    mu = swy / sw
    q = 0.0
    for i in range(k):
        r = y[i] - mu
        q += w[i] * r * r
    return sw, mu, q


@njit(cache=True, error_model="numpy")
def _sum_log(v, t):
    """Σ log(vᵢ + t) in study order (as numpy's reduction over the study axis of a batch)."""
    acc = 0.0
    for i in range(v.size):
        acc += math.log(v[i] + t)
    return acc


@njit(cache=True, error_model="numpy")
def _reml_tau2(y, v, w):
    """REML τ² of one analysis (``y`` shifted): (τ², converged, iterations)."""
    k = y.size
    if k < 2:
        return 0.0, True, 0
    ybar = 0.0
    vbar = 0.0
    for i in range(k):
        ybar += y[i]
        vbar += v[i]
    ybar /= k
    rss = 0.0
    for i in range(k):
        rss += (y[i] - ybar) ** 2
    t = rss / (k - 1) - vbar / k
    t = t if t > 0.0 else 0.0
    lo = -math.inf
    hi = math.inf
    conv = False
    it = MAXITER
    for n in range(1, MAXITER + 1):
        u, d_newton, d_fisher = _score(y, v, t, w)
        new, lo, hi = _bracketed_step(t, u, d_newton, d_fisher, lo, hi)
        if abs(new - t) < THRESHOLD * (new if new > 1.0 else 1.0):
            t = new
            conv = True
            it = n
            break
        t = new
    return t, conv, it


@njit(cache=True, error_model="numpy")
def _fit_row(y, v, crit, knha, yc, w, out, weights):
    """Fit one analysis into ``out`` (the FIELDS) and ``weights``; returns (converged, iters).
    ``crit`` is the z or t(k − 1) quantile; under ``knha`` the p-value is left NaN."""
    k = y.size
    c = y[0]
    for i in range(k):
        yc[i] = y[i] - c
    sw0, _, q0 = _sweep(yc, v, 0.0, w)
    s20 = 0.0
    for i in range(k):
        s20 += w[i] * w[i]
    t, conv, it = _reml_tau2(yc, v, w)
    sw, mu, qt = _sweep(yc, v, t, w)  # the summary's sweep, also ll0check's
    if k > 1:  # ll0check
        ll0 = -0.5 * (_sum_log(v, 0.0) + q0) - 0.5 * math.log(sw0) - 0.5 * (k - 1) * _LOG2PI
        llt = -0.5 * (_sum_log(v, t) + qt) - 0.5 * math.log(sw) - 0.5 * (k - 1) * _LOG2PI
        if ll0 >= llt or t < 1e-15:  # the constant kept: ties round as in iometa
            t = 0.0
    if not t > 0.0:
        t = 0.0
        sw, mu, qt = _sweep(yc, v, 0.0, w)
    se = 1.0 / math.sqrt(sw)
    if knha:
        se = se * math.sqrt(qt / (k - 1.0))
    coef = mu + c
    stat = coef / se
    out[0] = coef
    out[1] = se
    out[2] = stat
    out[3] = math.nan if knha else math.erfc(abs(stat) / _SQRT2)
    out[4] = coef - crit * se
    out[5] = coef + crit * se
    sp = math.sqrt(se * se + t)
    out[6] = coef - crit * sp
    out[7] = coef + crit * sp
    out[8] = t
    out[9] = q0
    s2 = (k - 1) * sw0 / (sw0 * sw0 - s20)
    out[10] = 100.0 * t / (t + s2) if t > 0.0 else 0.0
    out[11] = (t + s2) / s2 if t > 0.0 else 1.0
    out[12] = s2
    scale = 100.0 / sw
    for i in range(k):
        weights[i] = w[i] * scale
    return conv, it


@njit(cache=True, error_model="numpy")
def _fit_rows(Y, V, crit, knha, out, conv, iters, W, start, stop):
    k = Y.shape[1]
    yc = np.empty(k)
    w = np.empty(k)
    for b in range(start, stop):
        cv, it = _fit_row(Y[b], V[b], crit, knha, yc, w, out[b], W[b])
        conv[b] = cv
        iters[b] = it


@njit(cache=True, error_model="numpy")
def fit_batch(Y, V, crit, knha):
    """REML fits of the rows of C-ordered (B, k) arrays, serially: (summary (B, 13),
    converged, iterations, weights (B, k))."""
    B, k = Y.shape
    out = np.empty((B, _NF))
    conv = np.empty(B, dtype=np.bool_)
    iters = np.empty(B, dtype=np.int64)
    W = np.empty((B, k))
    _fit_rows(Y, V, crit, knha, out, conv, iters, W, 0, B)
    return out, conv, iters, W


@njit(cache=True, parallel=True, error_model="numpy")
def fit_batch_parallel(Y, V, crit, knha, chunks):
    """:func:`fit_batch` with the rows split into ``chunks`` blocks run by numba's threads."""
    B, k = Y.shape
    out = np.empty((B, _NF))
    conv = np.empty(B, dtype=np.bool_)
    iters = np.empty(B, dtype=np.int64)
    W = np.empty((B, k))
    for c in prange(chunks):
        _fit_rows(Y, V, crit, knha, out, conv, iters, W, c * B // chunks, (c + 1) * B // chunks)
    return out, conv, iters, W


@njit(cache=True, error_model="numpy")
def fit_single(y, v, crit, knha):
    """One analysis of 1-d arrays: (summary (13,), converged, iterations, weights (k,))."""
    k = y.size
    out = np.empty(_NF)
    W = np.empty(k)
    cv, it = _fit_row(y, v, crit, knha, np.empty(k), np.empty(k), out, W)
    return out, cv, it, W


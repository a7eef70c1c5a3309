"""Between-study variance (tau²) estimators, written once and vectorised over a batch axis.

Every function takes ``y`` and ``v`` of shape ``(B, k)`` (B meta-analyses of up to k studies)
and a boolean ``mask`` of the same shape marking the studies that exist (analyses may have
different k: pad with anything and set ``mask`` to False). A single meta-analysis is a batch of
one. Each estimator returns a :class:`Tau2Fit` of arrays of shape ``(B,)``.

The iterative estimators are solved to machine precision rather than to metafor's default
stopping rule (|Δτ²| < 1e-5), as roots of their estimating equations:

* REML and ML maximise the (restricted) likelihood. The iterations start from the truncated
  Hedges estimate and follow metafor's Fisher scoring (steps halved while they would make
  τ² negative) until the root of the score is bracketed or the Fisher step falls below 1% of
  τ²; from there Newton steps (bisection where a step leaves the bracket or the likelihood is
  not concave) finish quadratically; metafor's ``ll0check`` follows. So the result is the
  maximum metafor's Fisher scoring converges to (also where the likelihood has a second one at
  τ² = 0), reached in fewer iterations; where Fisher scoring oscillates (metafor stops with
  "Fisher scoring algorithm did not converge"; its remedy is ``control = list(stepadj =
  0.5)``) it is the maximum the adjusted iterations reach.
* PM and EB: the root of the generalised Q-statistic equation Q(τ²) = k − 1 (EB's
  Fisher-scoring fixed point is the same root in the intercept-only model, Viechtbauer et al.
  2015), by the same safeguarded Newton iterations inside a bracket.

Internally the study axis is the last one and batches are stored column-major (see
:func:`prepare`), so every sum over studies is a fast strided reduction; a batch of one is
iterated on 1-d arrays and scalars (the same functions, see :mod:`iometa.core.fitting`).

References
----------
DerSimonian R, Laird N (1986). Controlled Clin Trials 7:177-188 (DL).
Hedges LV, Olkin I (1985). Statistical Methods for Meta-Analysis (HE).
Hunter JE, Schmidt FL (2004). Methods of Meta-Analysis (HS).
Sidik K, Jonkman JN (2005). J Biopharm Stat 15:823-838 (SJ).
Paule RC, Mandel J (1982). J Res Natl Bur Stand 87:377-385 (PM).
Morris CN (1983). JASA 78:47-55 (EB).
Viechtbauer W (2005). J Educ Behav Stat 30:261-293 (ML, REML).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._solve import (
    SCRATCH_MIN,
    chi2_median,
    col,
    dot,
    iterate_fixed_point,
    msum,
    ndim,
    others,
    scratch,
    solve_root,
    where,
    work_arrays,
)
from .methods import METHODS, REGISTRY


@dataclass(frozen=True)
class Tau2Fit:
    """tau² per analysis with convergence information (arrays of shape (B,))."""

    tau2: np.ndarray
    converged: np.ndarray
    n_iter: np.ndarray


def prepare(y, v, mask=None):
    """Return float arrays ``(y, v, mask, k)`` of shape (B, k) with padding neutralised.

    Padding gets y = 0 and v = 1 (weight 0 once masked). Batches of more than one analysis come
    back column-major (Fortran order): the sums over the short study axis then run over
    contiguous memory, several times faster than row-wise sums of a C-ordered array.
    """
    y = np.asarray(y, dtype=float)
    v = np.asarray(v, dtype=float)
    if y.ndim != 2:
        y = np.atleast_2d(y)
    if v.ndim != 2:
        v = np.atleast_2d(v)
    shape = np.broadcast_shapes(y.shape, v.shape)
    order = "F" if shape[0] > 1 and shape[1] > 1 else "C"
    if mask is None:
        m = np.ones(shape, dtype=bool, order=order)
        y = np.asarray(np.broadcast_to(y, shape), order=order)
        v = np.asarray(np.broadcast_to(v, shape), order=order)
        return y, v, m, np.full(shape[0], shape[1], dtype=np.intp)
    m = np.asarray(np.broadcast_to(np.asarray(mask, dtype=bool), shape), order=order)
    yo = np.zeros(shape, order=order)
    vo = np.ones(shape, order=order)
    np.copyto(yo, y, where=m)
    np.copyto(vo, v, where=m)
    return yo, vo, m, m.sum(axis=-1)


def as_weights_mask(m):
    """The mask as the numerator of the weights: None if no study is padding, else 0/1 floats."""
    if m is None or m.dtype == np.float64:
        return m
    return None if m.all() else m.astype(float, order="K")


def sweep(y, v, m, tau2, work=None, residuals=True):
    """One pass over the data at τ² = ``tau2``: ``(w, Σw, μ̂, r, w·r)``.

    wᵢ = mᵢ/(vᵢ + τ²), μ̂ = Σwᵢyᵢ/Σwᵢ, rᵢ = yᵢ − μ̂. ``m`` is None (no padding) or the 0/1 float
    mask (padding may hold any finite y and v > 0: its weight is exactly 0); ``work`` the
    arrays (w, r, wr) to write, shaped like ``y``: by default the thread's :func:`scratch`
    arrays, so the returned arrays are overwritten by the next sweep (callers that keep them
    pass their own); ``residuals=False`` skips r and w·r (returned as None).
    """
    if work is None:
        work = scratch(y) if residuals else (scratch(y, 1)[0], None, None)
    w, r, wr = work
    if type(tau2) is float and tau2 == 0.0:  # the inverse-variance weights: v + 0 is v
        np.divide(1.0 if m is None else m, v, out=w)
    else:
        np.add(v, col(tau2), out=w)
        np.divide(1.0 if m is None else m, w, out=w)
    sw = np.add.reduce(w, axis=-1)
    mu = dot(w, y) / sw
    if not residuals:
        return w, sw, mu, None, None
    np.subtract(y, col(mu), out=r)
    np.multiply(w, r, out=wr)
    return w, sw, mu, r, wr


def fixed_moments(y, v, m):
    """Inverse-variance quantities at τ² = 0: ``(Σw, Σw², μ̂, Q)`` with wᵢ = 1/vᵢ."""
    w, sw, mu, r, wr = sweep(y, v, m, 0.0)
    return sw, dot(w, w), mu, dot(wr, r)


def weighted(y, v, m, tau2):
    """Weights, weighted mean and generalised Q at ``tau2`` (shape (B,)): ``(w, Σw, μ̂, r, Q)``."""
    w, sw, mu, r, wr = sweep(y, v, as_weights_mask(m), np.asarray(tau2, dtype=float),
                             work_arrays(np.asarray(y, dtype=float)))
    return w, sw, mu, r, dot(wr, r)


def _done(tau2, conv=None, it=None):
    shape = np.shape(tau2)
    if not shape:  # a batch of one, as scalars
        return Tau2Fit(tau2 if tau2 > 0 else 0.0, True if conv is None else conv,
                       0 if it is None else it)
    conv = np.ones(shape, dtype=bool) if conv is None else conv
    it = np.zeros(shape, dtype=int) if it is None else it
    return Tau2Fit(np.maximum(tau2, 0.0), conv, it)


def _he_raw(y, v, m, k):
    ybar = msum(m, y) / k
    d = y - col(ybar) if y.size < SCRATCH_MIN else np.subtract(y, col(ybar),
                                                               out=scratch(y, 1)[0])
    rss = dot(d if m is None else d * m, d)
    return rss / (k - 1) - msum(m, v) / k


def _fe(y, v, m, k, z0=None):
    return _done(np.zeros(np.shape(k)))


def _dl(y, v, m, k, z0=None):
    sw, s2, _, q = fixed_moments(y, v, m) if z0 is None else z0
    return _done(where(k > 1, (q - (k - 1)) / _trace_p0(v, m, k, sw, s2), 0.0))


def _trace_p0(v, m, k, sw, s2):
    """tr P at τ² = 0, Σw − Σw²/Σw (wᵢ = 1/vᵢ). Where one weight dominates that difference
    cancels (variances 1e18 apart: DL's τ² would be 0/0); it is then recomputed, for those
    analyses only, as the sum of positive terms Σᵢ wᵢ Σ_{j≠i} wⱼ / Σw (k = 1 needs nothing:
    its τ² is 0)."""
    trp = sw - s2 / sw
    bad = (trp <= 1e-6 * sw) & (k > 1)
    if not (bad.any() if ndim(bad) else bad):
        return trp
    if not ndim(bad):
        w = (1.0 if m is None else m) / v
        return dot(w, others(w)) / sw
    i = np.flatnonzero(bad)
    w = (1.0 if m is None else m[i]) / v[i]
    out = np.array(trp, dtype=float)
    out[i] = dot(w, others(w)) / sw[i]
    return out


def _he(y, v, m, k, z0=None):
    return _done(where(k > 1, _he_raw(y, v, m, k), 0.0))


def _hs(y, v, m, k, z0=None):
    sw, _, _, q = fixed_moments(y, v, m) if z0 is None else z0
    return _done(where(k > 1, (q - k) / sw, 0.0))


def _sj(y, v, m, k, z0=None):
    ybar = msum(m, y) / k
    d = y - col(ybar)
    t0 = dot(d if m is None else d * m, d) / k
    _, _, _, r, wr = sweep(y, v, m, t0)
    t = t0 * dot(wr, r) / (k - 1)
    return _done(where(k > 1, t, 0.0))


def _score(y, v, m, t, kind, work):
    """Score, Fisher and observed information (all × 2) of the (restricted) log-likelihood.

    With P the projection of the intercept model: Y'PPY − tr(P) (REML) or Σw (ML) is twice the
    score, tr(PP) (REML) or Σw² (ML) twice the Fisher information, 2·Y'PPPY − tr(PP) (or Σw²)
    twice the observed information (Viechtbauer 2005; metafor's Fisher scoring uses the first).
    """
    w, sw, _, tmp, wr = sweep(y, v, m, t, work)
    ypy = dot(wr, wr)  # Y'PPY
    s2 = dot(w, w)
    if w.ndim == 2:  # three-operand sums: the same products summed in the same order as
        # multiplying first (each is a sum over the strided study axis), without the pass
        # that writes the product
        yp3y = _dot3(w, wr, wr) - _dot2(w, wr) ** 2 / sw  # Y'PPPY
        s3 = _dot3(w, w, w) if kind != "ML" else None
    else:
        np.multiply(w, wr, out=tmp)  # w²r
        yp3y = dot(tmp, wr) - np.add.reduce(tmp, axis=-1) ** 2 / sw
        s3 = dot(np.multiply(w, w, out=tmp), w) if kind != "ML" else None
    if kind == "ML":
        u, fisher = ypy - sw, s2
    else:
        u = ypy - (sw - s2 / sw)
        fisher = _tr_pp(w, sw, s2, s3)
    return u, fisher, 2.0 * yp3y - fisher


def _dot2(a, b):
    return np.einsum("ij,ij->i", a, b)


def _dot3(a, b, c):
    return np.einsum("ij,ij,ij->i", a, b, c)


def _tr_pp(w, sw, s2, s3):
    """tr(PP) = Σw² − 2Σw³/Σw + (Σw²/Σw)². Where that cancels (one weight dominating, e.g. a
    study with a near-zero variance at τ² ≈ 0) it is recomputed as the sum of positive terms
    Σᵢ wᵢ²((Σ_{j≠i} wⱼ)² + Σ_{j≠i} wⱼ²)/(Σw)², the sums over j ≠ i accumulated from both ends."""
    trpp = s2 - 2.0 * s3 / sw + (s2 / sw) ** 2
    bad = trpp <= 1e-6 * s2
    if not (bad.any() if ndim(bad) else bad):
        return trpp
    w2 = w * w
    stable = dot(w2, others(w) ** 2 + others(w2)) / sw**2
    return where(bad, stable, trpp)


def _loglik(k, sw, q, logdet, kind):
    """Log-likelihood (ML) or restricted log-likelihood (REML) of the random-effects model
    from Σwᵢ, the generalised Q and Σlog(vᵢ + τ²)."""
    ll = -0.5 * (logdet + q)
    if kind == "REML":
        return ll - 0.5 * np.log(sw) - 0.5 * (k - 1) * np.log(2 * np.pi)
    return ll - 0.5 * k * np.log(2 * np.pi)


def _loglik_at(y, v, m, k, tau2, kind):
    _, sw, _, r, wr = sweep(y, v, m, tau2)
    return _loglik(k, sw, dot(wr, r), _logdet(y, v, m, tau2), kind)


def _logdet(y, v, m, tau2=None):
    """Σ log(vᵢ + τ²) over the studies present (τ² None: Σ log vᵢ), in the fourth scratch
    array (the sweep's three stay intact)."""
    if y.size < SCRATCH_MIN:
        return msum(m, np.log(v if tau2 is None else v + col(tau2)))
    a = scratch(y, 4)[3]
    if tau2 is None:
        np.log(v, out=a)
    else:
        np.add(v, col(tau2), out=a)
        np.log(a, out=a)
    return msum(m, a)


def _likelihood(y, v, m, k, kind, z0=None):
    """ML/REML from max(0, HE) (metafor's start), then metafor's ll0check."""
    active = k > 1
    t0 = _he_raw(y, v, m, k)
    t0 = where(active & (t0 > 0), t0, 0.0)

    def slope(y, v, m, t, work):
        u, fisher, observed = _score(y, v, m, t, kind, work)
        return u, observed, fisher

    tau2, conv, it = solve_root(slope, y, v, m, t0, -np.inf, np.inf, active)
    sw0, _, _, q0 = fixed_moments(y, v, m) if z0 is None else z0
    ll0 = _loglik(k, sw0, q0, _logdet(y, v, m), kind)
    at0 = active & (ll0 >= _loglik_at(y, v, m, k, tau2, kind))
    return _done(where(at0 | (tau2 < 1e-15), 0.0, tau2), conv, it)


def _ml(y, v, m, k, z0=None):
    return _likelihood(y, v, m, k, "ML", z0)


def _reml(y, v, m, k, z0=None):
    return _likelihood(y, v, m, k, "REML", z0)


def _upper_bracket(y, v, m, k, target, active):
    """A τ² with Q(τ²) ≤ target: 10·var(y) (at least 1), multiplied by 4 until it is."""
    ybar = msum(m, y) / k
    d = y - col(ybar)
    hi = np.maximum(1.0, 10.0 * dot(d if m is None else d * m, d) / k)
    hi = np.where(np.isfinite(hi), hi, 1.0)
    for _ in range(200):
        _, _, _, r, wr = sweep(y, v, m, hi)
        up = active & (dot(wr, r) > target)
        if not up.any():
            break
        hi = np.where(up, hi * 4.0, hi)
    return hi


def root_q(y, v, m, k, target, z0=None):
    """τ² solving Q(τ²) = ``target`` (internal form of :func:`q_root`: ``m`` as weights mask)."""
    z0 = fixed_moments(y, v, m) if z0 is None else z0
    target = np.broadcast_to(np.asarray(target, dtype=float), np.shape(k))
    active = (k > 1) & (z0[3] > target)
    zero = np.zeros(np.shape(k))
    if not np.any(active):
        return _done(zero, np.ones(np.shape(k), bool), np.zeros(np.shape(k), int))
    hi = _upper_bracket(y, v, m, k, target, active)
    start = np.where(active, np.clip(_dl(y, v, m, k, z0).tau2, 0.0, hi), 0.0)

    def slope(y, v, m, t, work, target=target):
        _, _, _, r, wr = sweep(y, v, m, t, work)
        dq = dot(wr, wr)  # −dQ/dτ²
        return dot(wr, r) - target, dq, dq

    tau2, conv, it = solve_root(slope, y, v, m, start, zero, hi, active, extra=(target,))
    return _done(tau2, conv, it)


def q_root(y, v, m, target):
    """τ² solving the generalised Q equation Q(τ²) = ``target`` per analysis.

    Q(τ²) = Σ wᵢ(yᵢ − μ̂(τ²))² with wᵢ = 1/(vᵢ + τ²) is decreasing in τ², so the root is unique;
    analyses with Q(0) ≤ target (or k < 2) get 0. Safeguarded Newton steps inside a bracket,
    to machine precision. Used by Paule–Mandel/EB and by the Q-profile confidence interval.
    """
    with np.errstate(invalid="ignore", divide="ignore"):
        return root_q(y, v, as_weights_mask(m), m.sum(axis=-1), target)


def _pm(y, v, m, k, z0=None):
    return root_q(y, v, m, k, k - 1.0, z0)


def _pmm(y, v, m, k, z0=None):
    return root_q(y, v, m, k, chi2_median(np.where(k > 1, k - 1, 1)), z0)


def _hsk(y, v, m, k, z0=None):
    sw, _, _, q = fixed_moments(y, v, m) if z0 is None else z0
    return _done(where(k > 1, (k / (k - 1.0) * q - k) / sw, 0.0))


def _dlit(y, v, m, k, z0=None):
    active = k > 1

    def step(t):
        w, sw, _, r, wr = sweep(y, v, m, t)
        return np.maximum(0.0, (dot(wr, r) - (k - 1)) / (sw - dot(w, w) / sw))

    return _iterated(step, np.zeros(np.shape(k)), active)


def _sjit(y, v, m, k, z0=None):
    active = k > 1
    ybar = msum(m, y) / k
    d = y - col(ybar)
    t0 = dot(d if m is None else d * m, d) / k

    def step(t):
        _, _, _, r, wr = sweep(y, v, m, t)
        return t * dot(wr, r) / (k - 1)

    return _iterated(step, np.where(active, t0, 0.0), active)


def tau2_genq(y, v, a):
    """Generalised Q-statistic estimator with weights ``a`` (metafor's ``method="GENQ"``,
    intercept only): (Σaᵢ(yᵢ − μ̂_a)² − tr(PV))/tr P with tr P = Σa − Σa²/Σa and
    tr(PV) = Σaᵢvᵢ − Σaᵢ²vᵢ/Σa, truncated at 0 (0 for k = 1).

    Example
    -------
    >>> import numpy as np
    >>> t = tau2_genq(np.array([0.1, 0.5, 0.9]), np.array([0.04, 0.05, 0.06]), np.ones(3))
    >>> round(float(t), 4)
    0.11
    """
    y, v, a = (np.asarray(x, dtype=float) for x in (y, v, a))
    if y.size < 2:
        return 0.0
    sa = a.sum()
    mu = (a @ y) / sa
    rss = a @ (y - mu) ** 2
    trp = sa - (a @ a) / sa
    trpv = a @ v - (a * a) @ v / sa
    return float(max(0.0, (rss - trpv) / trp))


def _genq(y, v, m, k, z0=None):
    raise ValueError("method='GENQ' needs the weights of its generalised Q statistic: "
                     "iometa.pool(yi, vi, method='GENQ', weights=...)")


def _iterated(step, t0, active):
    with np.errstate(invalid="ignore", divide="ignore"):
        t, conv, it = iterate_fixed_point(step, t0, active)
    if t.ndim == 0:
        return Tau2Fit(max(float(t), 0.0), bool(conv), int(it))
    return Tau2Fit(np.maximum(t, 0.0), conv, it)


#: internal estimators: (y, v, weights mask or None, k, fixed moments or None) -> Tau2Fit
TAU2 = {"FE": _fe, "DL": _dl, "HE": _he, "HS": _hs, "SJ": _sj, "ML": _ml, "REML": _reml,
        "EB": _pm, "PM": _pm, "HSk": _hsk, "PMM": _pmm, "DLIT": _dlit, "SJIT": _sjit,
        "GENQ": _genq}


def _public(name, doc):
    def fn(y, v, m):
        with np.errstate(invalid="ignore", divide="ignore"):
            return TAU2[name](y, v, as_weights_mask(m), m.sum(axis=-1))

    fn.__name__ = fn.__qualname__ = f"tau2_{name.lower()}"
    fn.__doc__ = doc
    return fn


tau2_fe = _public("FE", "Common-effect model: τ² = 0.")
tau2_dl = _public("DL", "DerSimonian–Laird: (Q − (k − 1)) / (Σw − Σw²/Σw), truncated at 0.")
tau2_he = _public("HE", "Hedges (variance component): Σ(y − ȳ)²/(k − 1) − Σv/k, truncated at 0.")
tau2_hs = _public("HS", "Hunter–Schmidt: (Q − k)/Σw, truncated at 0 (metafor's ``\"HS\"``).")
tau2_sj = _public("SJ", "Sidik–Jonkman: τ₀² · Q(τ₀²)/(k − 1) with τ₀² = Σ(y − ȳ)²/k.")
tau2_ml = _public("ML", "Maximum likelihood (safeguarded Newton/Fisher scoring).")
tau2_reml = _public("REML", "Restricted maximum likelihood (safeguarded Newton/Fisher scoring).")
tau2_pm = _public("PM", "Paule–Mandel: the root of Q(τ²) = k − 1 (0 when Q(0) ≤ k − 1).")
tau2_hsk = _public("HSk", "Hunter-Schmidt with the k/(k - 1) correction: (k/(k - 1)·Q - k)/Σw.")
tau2_pmm = _public("PMM", "Median-unbiased Paule-Mandel: the root of Q(τ²) = median of "
                   "χ²(k - 1).")
tau2_dlit = _public("DLIT", "Iterated DerSimonian-Laird (metafor's fixed-point iteration).")
tau2_sjit = _public("SJIT", "Iterated Sidik-Jonkman (metafor's fixed-point iteration).")
tau2_eb = _public("EB", "Empirical Bayes (Morris): the Paule–Mandel root in the intercept-only "
                  "model.")

ESTIMATORS = {
    "FE": tau2_fe,
    "DL": tau2_dl,
    "HE": tau2_he,
    "HS": tau2_hs,
    "SJ": tau2_sj,
    "ML": tau2_ml,
    "REML": tau2_reml,
    "EB": tau2_eb,
    "PM": tau2_pm,
    "HSk": tau2_hsk,
    "PMM": tau2_pmm,
    "DLIT": tau2_dlit,
    "SJIT": tau2_sjit,
}


def check_method(method):
    """ValueError unless ``method`` is a code of :data:`REGISTRY`."""
    if method not in REGISTRY:
        raise ValueError(f"unknown method {method!r}: expected one of {', '.join(METHODS)}")


def estimate_tau2(y, v, mask=None, method="REML") -> Tau2Fit:
    """Estimate τ² for a batch of meta-analyses with the named method.

    Example
    -------
    >>> import numpy as np
    >>> fit = estimate_tau2(np.array([[0.1, 0.5, 0.9]]), np.array([[0.04, 0.05, 0.06]]),
    ...                     method="DL")
    >>> fit.tau2.round(4)
    array([0.1107])
    """
    check_method(method)
    y, v, m, k = prepare(y, v, mask)
    with np.errstate(invalid="ignore", divide="ignore"):
        return TAU2[method](y, v, as_weights_mask(m), k)

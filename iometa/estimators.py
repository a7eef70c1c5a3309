"""Between-study variance (tau²) estimators, written once and vectorised over a batch axis.

Every function takes ``y`` and ``v`` of shape ``(B, k)`` (B meta-analyses of up to k studies)
and a boolean ``mask`` of the same shape marking the studies that exist (analyses may have
different k: pad with anything and set ``mask`` to False). A single meta-analysis is a batch of
one. Each estimator returns a :class:`Tau2Fit` of arrays of shape ``(B,)``.

The iterative estimators are solved to machine precision rather than to metafor's default
stopping rule (|Δτ²| < 1e-5): REML and ML by Fisher scoring started from the (truncated)
Hedges estimate, exactly as ``metafor::rma.uni`` iterates, but with a threshold of 1e-13; PM and
EB as the root of the generalised Q-statistic equation Q(τ²) = k − 1 (EB's Fisher-scoring fixed
point is the same root in the intercept-only model, Viechtbauer et al. 2015), by safeguarded
Newton iterations inside a bracket.

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

METHODS = ("FE", "DL", "HE", "HS", "SJ", "ML", "REML", "EB", "PM")

_THRESHOLD = 1e-13
_MAXITER = 10000


@dataclass(frozen=True)
class Tau2Fit:
    """tau² per analysis with convergence information (arrays of shape (B,))."""

    tau2: np.ndarray
    converged: np.ndarray
    n_iter: np.ndarray


def prepare(y, v, mask=None):
    """Return float arrays ``(y, v, mask, k)`` of shape (B, k) with padding neutralised."""
    y = np.atleast_2d(np.asarray(y, dtype=float))
    v = np.atleast_2d(np.asarray(v, dtype=float))
    m = np.ones(y.shape, dtype=bool) if mask is None else np.atleast_2d(np.asarray(mask, bool))
    y = np.where(m, y, 0.0)
    v = np.where(m, v, 1.0)
    k = m.sum(axis=-1)
    return y, v, m, k


def weighted(y, v, m, tau2):
    """Weights, weighted mean and generalised Q at ``tau2`` (shape (B,))."""
    w = m / (v + tau2[:, None])
    sw = w.sum(axis=-1)
    mu = (w * y).sum(axis=-1) / sw
    r = y - mu[:, None]
    q = (w * r * r).sum(axis=-1)
    return w, sw, mu, r, q


def _done(tau2, conv=None, it=None):
    n = tau2.shape[0]
    conv = np.ones(n, bool) if conv is None else conv
    it = np.zeros(n, int) if it is None else it
    return Tau2Fit(np.maximum(tau2, 0.0), conv, it)


def tau2_fe(y, v, m):
    """Common-effect model: τ² = 0."""
    return _done(np.zeros(y.shape[0]))


def tau2_dl(y, v, m):
    """DerSimonian–Laird: (Q − (k − 1)) / (Σw − Σw²/Σw), truncated at 0."""
    k = m.sum(axis=-1)
    w, sw, _, _, q = weighted(y, v, m, np.zeros(y.shape[0]))
    trp = sw - (w * w).sum(axis=-1) / sw
    with np.errstate(invalid="ignore", divide="ignore"):
        t = (q - (k - 1)) / trp
    return _done(np.where(k > 1, t, 0.0))


def tau2_he(y, v, m):
    """Hedges (variance component): Σ(y − ȳ)²/(k − 1) − Σv/k, truncated at 0."""
    k = m.sum(axis=-1)
    ybar = (y * m).sum(axis=-1) / k
    rss = (m * (y - ybar[:, None]) ** 2).sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        t = rss / (k - 1) - (v * m).sum(axis=-1) / k
    return _done(np.where(k > 1, t, 0.0))


def tau2_hs(y, v, m):
    """Hunter–Schmidt: (Q − k)/Σw, truncated at 0 (metafor's ``"HS"``)."""
    k = m.sum(axis=-1)
    _, sw, _, _, q = weighted(y, v, m, np.zeros(y.shape[0]))
    return _done(np.where(k > 1, (q - k) / sw, 0.0))


def tau2_sj(y, v, m):
    """Sidik–Jonkman: τ₀² · Q(τ₀²)/(k − 1) with τ₀² = Σ(y − ȳ)²/k."""
    k = m.sum(axis=-1)
    ybar = (y * m).sum(axis=-1) / k
    t0 = (m * (y - ybar[:, None]) ** 2).sum(axis=-1) / k
    _, _, _, _, q = weighted(y, v, m, t0)
    with np.errstate(invalid="ignore", divide="ignore"):
        t = t0 * q / (k - 1)
    return _done(np.where(k > 1, t, 0.0))


def _fisher_step(y, v, m, tau2, kind):
    w, sw, _, r, _ = weighted(y, v, m, tau2)
    w2 = w * w
    s2 = w2.sum(axis=-1)
    ypy = (w2 * r * r).sum(axis=-1)  # Y'PPY
    if kind == "ML":
        return (ypy - sw) / s2
    s3 = (w2 * w).sum(axis=-1)
    trp = sw - s2 / sw
    trpp = s2 - 2.0 * s3 / sw + (s2 / sw) ** 2
    return (ypy - trp) / trpp


def _loglik(y, v, m, tau2, kind):
    """Log-likelihood (ML) or restricted log-likelihood (REML) of the random-effects model."""
    k = m.sum(axis=-1)
    w, sw, _, _, q = weighted(y, v, m, tau2)
    ll = -0.5 * (np.log(np.where(m, v + tau2[:, None], 1.0)).sum(axis=-1) + q)
    if kind == "REML":
        ll = ll - 0.5 * np.log(sw) - 0.5 * (k - 1) * np.log(2 * np.pi)
    else:
        ll = ll - 0.5 * k * np.log(2 * np.pi)
    return ll


def _tau2_fisher(y, v, m, kind):
    """ML/REML by Fisher scoring from max(0, HE), step halving to keep τ² ≥ 0 (as metafor)."""
    k = m.sum(axis=-1)
    tau2 = tau2_he(y, v, m).tau2.copy()
    active = k > 1
    conv = ~active
    it = np.zeros(y.shape[0], int)
    for _ in range(_MAXITER):
        if not active.any():
            break
        idx = np.flatnonzero(active)
        adj = _fisher_step(y[idx], v[idx], m[idx], tau2[idx], kind)
        adj = np.where(np.isfinite(adj), adj, 0.0)
        new = tau2[idx] + adj
        while (neg := new < 0).any():  # halve the step while it would make τ² negative
            adj = np.where(neg, adj / 2.0, adj)
            new = tau2[idx] + adj
        change = np.abs(new - tau2[idx])
        tau2[idx] = new
        it[idx] += 1
        fin = change < _THRESHOLD * np.maximum(1.0, new)
        conv[idx[fin]] = True
        active[idx[fin]] = False
    # metafor's ll0check: keep τ² = 0 when the likelihood there is at least as high
    z = np.zeros_like(tau2)
    at0 = (k > 1) & (_loglik(y, v, m, z, kind) >= _loglik(y, v, m, tau2, kind))
    tau2 = np.where(at0 | (tau2 < 1e-15), 0.0, tau2)
    return _done(tau2, conv, it)


def tau2_ml(y, v, m):
    """Maximum likelihood (Fisher scoring)."""
    return _tau2_fisher(y, v, m, "ML")


def tau2_reml(y, v, m):
    """Restricted maximum likelihood (Fisher scoring)."""
    return _tau2_fisher(y, v, m, "REML")


def _upper_bracket(y, v, m, target, idx):
    hi = np.maximum(1.0, 10.0 * np.var(np.where(m[idx], y[idx], np.nan), axis=-1))
    hi = np.where(np.isfinite(hi), hi, 1.0)
    for _ in range(200):
        q = weighted(y[idx], v[idx], m[idx], hi)[4]
        up = q > target[idx]
        if not up.any():
            break
        hi = np.where(up, hi * 4.0, hi)
    return hi


def q_root(y, v, m, target):
    """τ² solving the generalised Q equation Q(τ²) = ``target`` per analysis.

    Q(τ²) = Σ wᵢ(yᵢ − μ̂(τ²))² with wᵢ = 1/(vᵢ + τ²) is decreasing in τ², so the root is unique;
    analyses with Q(0) ≤ target (or k < 2) get 0. Safeguarded Newton steps inside a bracket,
    to machine precision. Used by Paule–Mandel/EB and by the Q-profile confidence interval.
    """
    k = m.sum(axis=-1)
    n = y.shape[0]
    target = np.broadcast_to(np.asarray(target, dtype=float), (n,))
    tau2 = np.zeros(n)
    q0 = weighted(y, v, m, tau2)[4]
    active = (k > 1) & (q0 > target)
    conv = np.ones(n, bool)
    it = np.zeros(n, int)
    if not active.any():
        return _done(tau2, conv, it)
    idx = np.flatnonzero(active)
    lo = np.zeros(idx.size)
    hi = _upper_bracket(y, v, m, target, idx)
    t = np.clip(np.maximum(tau2_dl(y[idx], v[idx], m[idx]).tau2, 0.0), lo, hi)
    done = np.zeros(idx.size, bool)
    for _ in range(_MAXITER):
        w, _, _, r, q = weighted(y[idx], v[idx], m[idx], t)
        f = q - target[idx]
        lo = np.where(f > 0, t, lo)
        hi = np.where(f < 0, t, hi)
        dq = -(w * w * r * r).sum(axis=-1)
        with np.errstate(divide="ignore", invalid="ignore"):
            new = t - f / dq
        bad = ~np.isfinite(new) | (new <= lo) | (new >= hi)
        new = np.where(bad, 0.5 * (lo + hi), new)
        step = np.abs(new - t)
        t = np.where(done, t, new)
        it[idx[~done]] += 1
        done |= (step < _THRESHOLD * np.maximum(1.0, t)) | (f == 0) | (hi - lo < 1e-15 * hi)
        if done.all():
            break
    tau2[idx] = t
    conv[idx] = done
    return _done(tau2, conv, it)


def tau2_pm(y, v, m):
    """Paule–Mandel: the root of Q(τ²) = k − 1 (0 when Q(0) ≤ k − 1)."""
    return q_root(y, v, m, (m.sum(axis=-1) - 1).astype(float))


def tau2_eb(y, v, m):
    """Empirical Bayes (Morris): the same root as Paule–Mandel in the intercept-only model."""
    return tau2_pm(y, v, m)


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
}


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
    try:
        fn = ESTIMATORS[method]
    except KeyError:
        raise ValueError(
            f"unknown method {method!r}: expected one of {', '.join(METHODS)}"
        ) from None
    y, v, m, _ = prepare(y, v, mask)
    return fn(y, v, m)

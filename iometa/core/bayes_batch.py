"""Batched exact Bayesian random effects: :func:`fit_bayes_arrays` for many analyses at once.

The model and formulas are those of :mod:`iometa.core.bayes_quad` (:func:`iometa.pool_bayes`); here
each analysis gets a fixed composite Gauss–Legendre rule instead of an adaptive one, so that
10⁴ analyses are computed with array operations: ``N_PANELS`` geometric panels (ratio chosen
per analysis) from a quarter of the smallest within-study SD (or of the prior scale) to 50 ×
the problem's scale, plus one panel for the tail to ∞ (not for the uniform prior), each with
``NODES`` nodes. Quantiles are found by Newton steps on the mixture CDFs (μ, θ_new) and on
the panel-wise integrated (Legendre interpolant of the) posterior of τ. Accuracy against
:func:`iometa.pool_bayes` is ~3e-8 relative on ordinary data (tested to 1e-6); use
:func:`iometa.pool_bayes` when 1e-10 matters.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .bayes_quad import LOG2PI, PRIORS, _gl, _special, log_prior

__all__ = ["BayesBatch", "fit_bayes_arrays"]

N_PANELS = 10
NODES = 12
CHUNK = 2000


@dataclass(frozen=True)
class BayesBatch:
    """Arrays of shape (B,): posterior medians, means, SDs and central intervals of μ, τ and
    θ_new, the log marginal likelihood and the Bayes factor of τ = 0 (``bf01``). ``mu_sd`` is
    inf where it does not exist (half-Cauchy prior, flat μ prior, k <= 2)."""

    k: np.ndarray
    mu_median: np.ndarray
    mu_mean: np.ndarray
    mu_sd: np.ndarray
    mu_ci_low: np.ndarray
    mu_ci_high: np.ndarray
    tau_median: np.ndarray
    tau_ci_low: np.ndarray
    tau_ci_high: np.ndarray
    pi_low: np.ndarray
    pi_high: np.ndarray
    log_marginal: np.ndarray
    bf01: np.ndarray

    def __repr__(self) -> str:
        from .format import one_line

        return one_line("BayesBatch", (f"analyses={np.size(self.k)}",))


def _conditional(y, v, m, tau, mu_prior):
    """log p(y | τ), μ̂ and 1/W for (B, k) data and (B, ...) τ.

    The effects are centred per analysis first (r = Σw(y − μ̂)² is shift-invariant), so the
    residual sum Σwy² − (Σwy)²/Σw is computed from small numbers; padded studies (m = 0) get
    weight 0 and contribute nothing."""
    shape = tau.shape
    B = shape[0]
    kk = m.sum(-1)
    centre = np.where(m, y, 0.0).sum(-1) / np.maximum(kk, 1)
    yc = np.where(m, y - centre[:, None], 0.0)
    vv = np.where(m, v, 1.0)
    t2 = tau.reshape(B, -1, 1) ** 2
    den = vv[:, None, :] + t2
    inv = 1.0 / den
    mf = m.astype(float)[:, :, None]
    sw = (inv @ mf)[..., 0]
    swy = (inv @ yc[:, :, None])[..., 0]  # yc = 0 on padded studies
    swy2 = (inv @ (yc * yc)[:, :, None])[..., 0]
    const = -0.5 * (kk - 1)[:, None] * LOG2PI
    if mu_prior is not None:
        m0, s0 = mu_prior
        mc = (m0 - centre)[:, None]
        sw, swy, swy2 = sw + 1 / s0**2, swy + mc / s0**2, swy2 + mc * mc / s0**2
        const = const - 0.5 * LOG2PI - math.log(s0)
    mh = swy / sw
    r = np.maximum(swy2 - swy * mh, 0.0)
    logdet = (np.log(den) @ mf)[..., 0]
    ll = const - 0.5 * logdet - 0.5 * np.log(sw) - 0.5 * r
    return ll.reshape(shape), (mh + centre[:, None]).reshape(shape), (1 / sw).reshape(shape)


def _map(t, T):
    """τ(t) and dτ/dt: identity on [0, T], T/(T + 1 − t) beyond."""
    tail = T / np.maximum(T + 1.0 - t, 1e-300)
    inner = t <= T
    return np.where(inner, t, tail), np.where(inner, 1.0, tail**2 / T)


def _chunk(y, v, m, tau_prior, tau_scale, mu_prior, level):
    B = y.shape[0]
    sd_min = np.sqrt(np.where(m > 0, v, np.inf).min(-1))
    ymax, ymin = np.where(m > 0, y, -np.inf).max(-1), np.where(m > 0, y, np.inf).min(-1)
    scale = np.maximum.reduce([np.full(B, tau_scale), np.sqrt(np.where(m > 0, v, 0).max(-1)),
                               ymax - ymin])
    uniform = tau_prior == "uniform"
    top = np.full(B, tau_scale) if uniform else 50.0 * scale
    lo = 0.25 * np.minimum(sd_min, tau_scale)
    n_geo = N_PANELS - 1
    ratio = (top / lo) ** (1.0 / (n_geo - 1))
    edges = np.concatenate((np.zeros((B, 1)), lo[:, None] * ratio[:, None] ** np.arange(n_geo)),
                           axis=1)
    edges[:, -1] = top
    if not uniform:
        edges = np.concatenate((edges, (top + 1.0)[:, None]), axis=1)
    a, b = edges[:, :-1], edges[:, 1:]
    x, wg = _gl(NODES)
    half = (b - a) / 2
    t = ((a + b) / 2)[..., None] + half[..., None] * x
    T = top[:, None, None]
    tau, jac = _map(t, T)
    wt = half[..., None] * wg * jac
    ll, mh, V = _conditional(y, v, m, tau, mu_prior)
    lp = ll + log_prior(tau, tau_prior, tau_scale)
    shift = lp.max(axis=(1, 2), keepdims=True)
    wf = wt * np.exp(lp - shift)
    panel = wf.sum(-1)
    mass = panel.sum(-1)
    c = (wf / mass[:, None, None]).reshape(B, -1)
    tau_f, mh_f, V_f = tau.reshape(B, -1), mh.reshape(B, -1), V.reshape(B, -1)
    log_marginal = np.log(mass) + shift[:, 0, 0]
    ll0 = _conditional(y, v, m, np.zeros((B, 1)), mu_prior)[0][:, 0]
    alpha = (1 - level) / 2
    probs = np.array([0.5, alpha, 1 - alpha])
    mu_mean = (c * mh_f).sum(-1)
    mu_sd = np.sqrt((c * ((mh_f - mu_mean[:, None]) ** 2 + V_f)).sum(-1))
    if tau_prior == "half-cauchy" and mu_prior is None:  # p(τ | y) ~ τ^-(k+1): no SD for k <= 2
        mu_sd = np.where(m.sum(-1) <= 2, np.inf, mu_sd)
    # nodes negligible in every analysis of the chunk (weight < 1e-20) are left out of the
    # quantile search: their contribution to any CDF is < 1e-18
    keep = (c > 1e-20).any(axis=0)
    c, mh_f, V_f, tau_f = c[:, keep], mh_f[:, keep], V_f[:, keep], tau_f[:, keep]
    qmu = _mixture_quantiles(c, mh_f, np.sqrt(V_f), probs)
    qnew = _mixture_quantiles(c, mh_f, np.sqrt(V_f + tau_f**2), probs[1:])
    qtau = _tau_quantiles(wf, a, b, top, mass, probs)
    return dict(k=m.sum(-1).astype(int), mu_median=qmu[:, 0], mu_mean=mu_mean, mu_sd=mu_sd,
                mu_ci_low=qmu[:, 1], mu_ci_high=qmu[:, 2], tau_median=qtau[:, 0],
                tau_ci_low=qtau[:, 1], tau_ci_high=qtau[:, 2], pi_low=qnew[:, 0],
                pi_high=qnew[:, 1], log_marginal=log_marginal,
                bf01=np.exp(ll0 - log_marginal))


def _mixture_quantiles(c, m, s, probs):
    """(B, P) quantiles of the B mixtures Σⱼ cⱼ N(mⱼ, sⱼ²) (safeguarded Halley steps, each on
    the analyses not yet converged only; bisection inside the bracket when a step leaves it)."""
    sp = _special()
    B, P = m.shape[0], probs.size
    centre = (c * m).sum(-1)
    step = np.exp((c * np.log(s)).sum(-1))[:, None] * np.ones(P)
    x = (centre[:, None] + sp.ndtri(probs) * step).ravel()
    step = step.ravel()
    row = np.repeat(np.arange(B), P)
    pr = np.tile(probs, B)
    inv = c / (math.sqrt(2 * math.pi) * s)
    lo, hi = np.full_like(x, -np.inf), np.full_like(x, np.inf)
    act = np.arange(x.size)
    for _ in range(100):
        r = row[act]
        z = (x[act, None] - m[r]) / s[r]
        f = np.einsum("ij,ij->i", sp.ndtr(z), c[r]) - pr[act]
        dens = np.exp(-0.5 * z * z) * inv[r]
        d = dens.sum(-1)
        d2 = -np.einsum("ij,ij->i", dens, z / s[r])
        xa, la, ha, st = x[act], lo[act], hi[act], step[act]
        la, ha = np.where(f < 0, xa, la), np.where(f >= 0, xa, ha)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            new = xa - 2 * f * d / (2 * d * d - f * d2)  # Halley: cubic convergence
        both = np.isfinite(la) & np.isfinite(ha)
        ok = np.isfinite(new) & (new > la) & (new < ha)
        fallback = np.where(both, (la + ha) / 2, np.where(f < 0, xa + st, xa - st))
        step[act] = np.where(ok | both, st, 2 * st)
        new = np.where(ok, new, fallback)
        done = (np.abs(f) < 1e-15) | (np.abs(new - xa) <= 1e-14 * np.maximum(np.abs(xa), st))
        x[act] = np.where(done, xa, new)
        lo[act], hi[act] = la, ha
        act = act[~done]
        if act.size == 0:
            break
    return x.reshape(B, P)


def _tau_quantiles(wf, a, b, top, mass, probs):
    """(B, P) quantiles of τ: the panel from the cumulative masses, then Newton steps on the
    exactly integrated Legendre interpolant of the panel's NODES posterior values (t-space)."""
    leg = np.polynomial.legendre
    B = wf.shape[0]
    x, wg = _gl(NODES)
    half = (b - a) / 2
    vals = wf / (half[..., None] * wg)  # p(τ(t)) dτ/dt at the nodes (unnormalised)
    n = np.arange(NODES)
    proj = (leg.legvander(x, NODES - 1) * wg[:, None]) * ((2 * n + 1) / 2)  # (nodes, degree)
    coef = vals @ proj  # (B, panels, degree)
    anti = leg.legint(coef, lbnd=-1, axis=-1)  # (B, panels, degree + 1)
    cum = np.concatenate((np.zeros((B, 1)), np.cumsum(wf.sum(-1), -1)), axis=1)
    target = probs * mass[:, None]
    i = np.clip((cum[:, None, :] <= target[..., None]).sum(-1) - 1, 0, a.shape[1] - 1)
    ci = np.take_along_axis(coef, i[..., None], 1)
    ai_ = np.take_along_axis(anti, i[..., None], 1)
    hi_ = np.take_along_axis(half, i, 1)
    base = np.take_along_axis(cum, i, 1)
    u = np.zeros_like(target)
    lo, hi = np.full_like(u, -1.0), np.ones_like(u)
    for _ in range(100):
        vd = leg.legvander(u, NODES)
        f = base + hi_ * (vd * ai_).sum(-1) - target
        d = hi_ * (vd[..., :NODES] * ci).sum(-1)
        lo, hi = np.where(f < 0, u, lo), np.where(f >= 0, u, hi)
        with np.errstate(divide="ignore", invalid="ignore"):
            new = u - f / d
        ok = np.isfinite(new) & (new > lo) & (new < hi)
        new = np.where(ok, new, (lo + hi) / 2)
        done = (np.abs(f) <= 1e-16 * mass[:, None]) | (np.abs(new - u) < 1e-15)
        u = np.where(done, u, new)
        if done.all():
            break
    t = np.take_along_axis(a, i, 1) + (u + 1) * hi_
    return _map(t, top[:, None])[0]


def fit_bayes_arrays(y, v, mask=None, *, tau_prior="half-normal", tau_scale=0.5,
                     mu_prior=None, level=0.95) -> BayesBatch:
    """The Bayesian normal–normal random-effects model of :func:`iometa.pool_bayes` for ``B``
    meta-analyses given as (B, k) arrays (``mask`` False marks padding).

    References: Röver 2020 (J Stat Softw 93(6)); R: ``bayesmeta::bayesmeta`` per analysis.

    Example
    -------
    >>> fit = fit_bayes_arrays([[0.1, 0.5, 0.9], [0.2, 0.4, 0.0]],
    ...                        [[0.04, 0.05, 0.06], [0.1, 0.1, 1.0]],
    ...                        mask=[[True, True, True], [True, True, False]])
    >>> fit.k.tolist(), bool(fit.mu_ci_low[0] < fit.mu_median[0] < fit.mu_ci_high[0])
    ([3, 2], True)
    """
    y, v = np.atleast_2d(np.asarray(y, dtype=float)), np.atleast_2d(np.asarray(v, dtype=float))
    if y.shape != v.shape:
        raise ValueError(f"y and v differ in shape ({y.shape} vs {v.shape})")
    m = np.ones(y.shape, bool) if mask is None else np.asarray(mask, dtype=bool)
    if m.shape != y.shape:
        raise ValueError(f"mask has shape {m.shape}, expected {y.shape}")
    if tau_prior not in PRIORS:
        raise ValueError(f"unknown tau_prior {tau_prior!r}: expected one of {', '.join(PRIORS)}")
    if not 0 < tau_scale < math.inf:
        raise ValueError(f"tau_scale must be a finite number > 0, got {tau_scale!r}")
    if not 0 < level < 1:
        raise ValueError(f"level must be between 0 and 1 (e.g. 0.95), got {level!r}")
    bad = m & ~(np.isfinite(y) & np.isfinite(v) & (v > 0))
    if bad.any():
        r, j = map(int, np.argwhere(bad)[0])
        raise ValueError(f"analysis {r}, study {j}: yi = {y[r, j]!r}, vi = {v[r, j]!r}; every "
                         "included study needs a finite effect and a variance > 0")
    if (m.sum(-1) == 0).any():
        raise ValueError(f"analysis {int(np.argmax(m.sum(-1) == 0))} has no studies (k = 0)")
    if mu_prior is not None:
        mu_prior = tuple(float(x) for x in mu_prior)
    y, v = np.where(m, y, 0.0), np.where(m, v, 1.0)
    mf = m.astype(float)
    parts = [_chunk(y[s:s + CHUNK], v[s:s + CHUNK], mf[s:s + CHUNK], tau_prior,
                    float(tau_scale), mu_prior, level) for s in range(0, y.shape[0], CHUNK)]
    return BayesBatch(**{key: np.concatenate([p[key] for p in parts]) for key in parts[0]})

"""Numerical core of the exact Bayesian normal–normal random-effects model (:mod:`iometa.core.bayes`).

Model: yᵢ | θᵢ ~ N(θᵢ, vᵢ), θᵢ | μ, τ ~ N(μ, τ²), a proper prior p(τ) and μ flat (density 1)
or N(m₀, s₀²). With wᵢ = 1/(vᵢ + τ²), W = Σwᵢ [+ 1/s₀²], μ̂ = (Σwᵢyᵢ [+ m₀/s₀²])/W and
R = Σwᵢ(yᵢ − μ̂)² [+ (m₀ − μ̂)²/s₀²], the likelihood with μ integrated out is

* flat μ:   p(y | τ) = (2π)^(−(k−1)/2) (Πwᵢ)^½ W^(−½) exp(−R/2),
* normal μ: p(y | τ) = (2π)^(−k/2) (Πwᵢ)^½ s₀⁻¹ W^(−½) exp(−R/2),

and μ | τ, y ~ N(μ̂, 1/W), θ_new | τ, y ~ N(μ̂, 1/W + τ²),
θᵢ | τ, y ~ N((1 − Bᵢ)yᵢ + Bᵢμ̂, vᵢ(1 − Bᵢ) + Bᵢ²/W) with Bᵢ = vᵢ/(vᵢ + τ²) (Röver 2020, J Stat
Softw 93(6), section 2). Every posterior quantity is a one-dimensional integral over τ.

Quadrature (:class:`Rule`): τ is mapped to t ∈ [0, T + 1] (τ = t on [0, T], τ = T/(T + 1 − t)
beyond: the tail to ∞ in one panel whose integrand is smooth for the power-law tails of the
half-Cauchy prior). The panels start geometric (ratio 2) from a fraction of the smallest
within-study SD up to T, and are bisected until, for every integrand controlled, the 16- and
8-point Gauss–Legendre values of each panel agree to ``RTOL`` of the integral (so the 16-point
value is far more accurate). Integrals, mixture CDFs and densities are then weighted sums over
the nodes; quantiles are found by safeguarded Newton steps on the CDF and the panels are
refined again (and the quantiles recomputed) until the CDF integrands at the quantiles pass
the same check.
"""

from __future__ import annotations

import functools
import math

import numpy as np

RTOL = 1e-12
NHI, NLO = 16, 8
LOG2PI = math.log(2 * math.pi)
PRIORS = ("half-normal", "half-cauchy", "uniform")


@functools.cache
def _gl(n):
    return np.polynomial.legendre.leggauss(n)


@functools.cache
def _special():
    from scipy import special

    return special


def log_prior(tau, name, scale):
    """log p(τ) of the half-normal (sd ``scale``), half-Cauchy (``scale``) or uniform(0, scale)."""
    tau = np.asarray(tau, dtype=float)
    if name == "half-normal":
        return math.log(2 / scale) - 0.5 * LOG2PI - 0.5 * (tau / scale) ** 2
    if name == "half-cauchy":
        return math.log(2 / (math.pi * scale)) - np.log1p((tau / scale) ** 2)
    return np.where(tau <= scale, -math.log(scale), -np.inf)


class Model:
    """The data and priors; :meth:`conditional` gives log p(y | τ), μ̂(τ) and 1/W(τ)."""

    def __init__(self, y, v, tau_prior, tau_scale, mu_prior):
        self.y, self.v = np.asarray(y, dtype=float), np.asarray(v, dtype=float)
        self.k = self.y.size
        self.tau_prior, self.tau_scale, self.mu_prior = tau_prior, float(tau_scale), mu_prior
        self.upper = self.tau_scale if tau_prior == "uniform" else math.inf
        # tail exponent of p(τ | y) (∝ τ^-a); the half-normal and uniform priors have light tails
        self.tail = (self.k + (1 if mu_prior is None else 2)) if tau_prior == "half-cauchy" \
            else math.inf
        spread = float(np.ptp(self.y)) if self.k > 1 else 0.0
        self.scale = max(self.tau_scale, math.sqrt(float(self.v.max())), spread)

    def conditional(self, tau):
        """(log p(y | τ), μ̂(τ), 1/W(τ)) at the τ values ``tau`` (any shape)."""
        t2 = np.asarray(tau, dtype=float)[..., None] ** 2
        w = 1.0 / (self.v + t2)
        sw, swy = w.sum(-1), w @ self.y
        const = -0.5 * (self.k - 1) * LOG2PI
        if self.mu_prior is not None:
            m0, s0 = self.mu_prior
            sw, swy = sw + 1 / s0**2, swy + m0 / s0**2
            const -= 0.5 * LOG2PI + math.log(s0)
        m = swy / sw
        r = (w * (self.y - m[..., None]) ** 2).sum(-1)
        if self.mu_prior is not None:
            r = r + (m0 - m) ** 2 / s0**2
        ll = const + 0.5 * np.log(w).sum(-1) - 0.5 * np.log(sw) - 0.5 * r
        return ll, m, 1.0 / sw

    def log_post(self, tau):
        """log p(τ) + log p(y | τ) (unnormalised log posterior of τ)."""
        return log_prior(tau, self.tau_prior, self.tau_scale) + self.conditional(tau)[0]


class Rule:
    """Composite Gauss–Legendre rule on the posterior of τ (see the module docstring)."""

    def __init__(self, model: Model):
        self.model = model
        sd_min = math.sqrt(float(model.v.min()))
        lo = 0.25 * min(sd_min, model.tau_scale)
        top = model.upper if math.isfinite(model.upper) else 50.0 * model.scale
        self.T = top
        n = max(1, math.ceil(math.log2(top / lo)))
        edges = np.concatenate(([0.0], top * 2.0 ** -np.arange(n, -1, -1)))
        if not math.isfinite(model.upper):
            edges = np.append(edges, top + 1.0)
        self.a, self.b = edges[:-1], edges[1:]
        self.shift = None
        self._evaluate()

    # ------------------------------------------------------------- nodes and weights
    def tau_of(self, t):
        t = np.asarray(t, dtype=float)
        T = self.T
        with np.errstate(divide="ignore"):
            tail = T / np.maximum(T + 1.0 - t, 1e-300)
        return np.where(t <= T, t, tail), np.where(t <= T, 1.0, tail**2 / T)

    def t_of(self, tau):
        tau = np.asarray(tau, dtype=float)
        T = self.T
        with np.errstate(divide="ignore"):
            return np.where(tau <= T, tau, T + 1.0 - T / tau)

    def _nodes(self, a, b, n):
        x, w = _gl(n)
        half = (b - a)[:, None] / 2
        t = (a + b)[:, None] / 2 + half * x
        tau, jac = self.tau_of(t)
        return tau, half * w * jac

    def log_f(self, tau):
        return self.model.log_post(tau)

    def _evaluate(self):
        th, wh = self._nodes(self.a, self.b, NHI)
        tl, wl = self._nodes(self.a, self.b, NLO)
        tau = np.concatenate((th, tl), axis=1)
        ll, m, V = self.model.conditional(tau)
        ll = ll + log_prior(tau, self.model.tau_prior, self.model.tau_scale)
        if self.shift is None:
            self.shift = float(np.max(ll))
        f = np.exp(ll - self.shift)
        self.tau_h, self.tau_l = th, tl
        self.cond_h, self.cond_l = (m[:, :NHI], V[:, :NHI]), (m[:, NHI:], V[:, NHI:])
        self.w_h, self.w_l = wh * f[:, :NHI], wl * f[:, NHI:]
        self._poly = None

    def refine(self, integrands, max_iter=60, rtol=RTOL):
        """Bisect the panels until the 16- and 8-point values of ``integrands(tau)`` (an array
        (n, *tau.shape) of factors multiplying p(τ | y); called as ``integrands(tau, m, V)``
        with μ̂ and 1/W at the nodes) agree to ``rtol`` of each integral."""
        for _ in range(max_iter):
            gh = integrands(self.tau_h, *self.cond_h)
            gl = integrands(self.tau_l, *self.cond_l)
            ih, il = (gh * self.w_h).sum(-1), (gl * self.w_l).sum(-1)
            scale = np.abs(gh * self.w_h).sum(axis=(-1, -2))
            scale = np.where(scale > 0, scale, 1.0)
            err = (np.abs(ih - il) / scale[:, None]).max(axis=0)
            bad = err > rtol / 4
            if not bad.any():
                return
            mid = (self.a[bad] + self.b[bad]) / 2
            self.a = np.sort(np.concatenate((self.a, mid)))
            self.b = np.sort(np.concatenate((self.b, mid)))
            self._evaluate()

    @property
    def mass(self):
        return float(self.w_h.sum())

    def flat(self):
        """Nodes τⱼ, normalised posterior weights cⱼ (Σcⱼ = 1), μ̂ⱼ and 1/Wⱼ of the rule."""
        w = self.w_h.ravel()
        return self.tau_h.ravel(), w / w.sum(), self.cond_h[0].ravel(), self.cond_h[1].ravel()

    # ------------------------------------------------------------- CDF of τ
    def _legendre(self):
        """Per panel, the Legendre coefficients (in the panel's u ∈ [−1, 1]) of the degree-15
        interpolant of p(τ(t)) dτ/dt at the 16 nodes, and of its antiderivative from u = −1."""
        if self._poly is None:
            x, w = _gl(NHI)
            n = np.arange(NHI)
            basis = np.polynomial.legendre.legvander(x, NHI - 1)  # (nodes, degree)
            proj = (basis * w[:, None]).T * ((2 * n + 1) / 2)[:, None]  # (degree, nodes)
            half = (self.b - self.a) / 2
            vals = self.w_h / (half[:, None] * w)  # f(τ) dτ/dt at the nodes, unnormalised
            coef = vals @ proj.T  # (panels, degree)
            anti = np.polynomial.legendre.legint(coef.T, lbnd=-1)  # (degree + 1, panels)
            cum = np.concatenate(([0.0], np.cumsum(self.w_h.sum(-1))))
            self._poly = (coef.T, anti, half, cum)
        return self._poly

    def _panel_cdf(self, i, u):
        """Unnormalised mass below u (in panel i) and the density there, in t-space."""
        coef, anti, half, cum = self._legendre()
        leg = np.polynomial.legendre.legval
        return (cum[i] + half[i] * leg(u, anti[:, i], tensor=False),
                leg(u, coef[:, i], tensor=False))

    def tau_cdf(self, x):
        """P(τ ≤ x | y) for an array ``x`` (the panels' interpolants integrated exactly)."""
        x = np.asarray(x, dtype=float)
        t = np.clip(self.t_of(np.maximum(x, 0.0)), 0.0, self.b[-1]).ravel()
        i = np.clip(np.searchsorted(self.b, t, side="left"), 0, self.a.size - 1)
        u = np.clip((2 * t - self.a[i] - self.b[i]) / (self.b[i] - self.a[i]), -1.0, 1.0)
        mass = self._panel_cdf(i, u)[0]
        return np.clip(mass / self._legendre()[3][-1], 0.0, 1.0).reshape(x.shape)

    def tau_pdf(self, x):
        x = np.asarray(x, dtype=float)
        inside = (x >= 0) & (x <= self.model.upper)
        xs = np.where(inside, x, 0.0)
        return np.where(inside, np.exp(self.log_f(xs) - self.shift) / self.mass, 0.0)

    def tau_quantile(self, p):
        """Quantiles of p(τ | y): the panel holding each is found from the cumulative panel
        masses, then safeguarded Newton steps on the panel's integrated interpolant."""
        p = np.atleast_1d(np.asarray(p, dtype=float))
        cum = self._legendre()[3]
        target = p * cum[-1]
        i = np.clip(np.searchsorted(cum, target, side="right") - 1, 0, self.a.size - 1)
        lo, hi = np.full_like(p, -1.0), np.ones_like(p)
        u = np.zeros_like(p)
        for _ in range(100):
            mass, dens = self._panel_cdf(i, u)
            f = mass - target
            lo, hi = np.where(f < 0, u, lo), np.where(f >= 0, u, hi)
            with np.errstate(divide="ignore", invalid="ignore"):
                new = u - f / (self._legendre()[2][i] * dens)
            ok = np.isfinite(new) & (new > lo) & (new < hi)
            new = np.where(ok, new, (lo + hi) / 2)
            done = (np.abs(f) <= 1e-16 * cum[-1]) | (hi - lo <= 1e-15) | (np.abs(new - u) < 1e-16)
            u = np.where(done, u, new)
            if done.all():
                break
        t = (self.a[i] + self.b[i]) / 2 + (self.b[i] - self.a[i]) / 2 * u
        return self.tau_of(t)[0]


def prune(c, *arrays, floor=1e-30):
    """Drop the nodes whose posterior weight is below ``floor`` x the largest (their total
    contribution to any CDF or density is below ~1e-27)."""
    keep = c > floor * c.max()
    if keep.all():
        return (c, *arrays)
    return (c[keep], *(a[..., keep] for a in arrays))


def mixture_cdf(c, m, s, x):
    """Σⱼ cⱼ Φ((x − mⱼ)/sⱼ) for rows of (m, s) (shape (R, N)) and x of shape (R, P)."""
    z = (x[..., None] - m[:, None, :]) / s[:, None, :]
    return (_special().ndtr(z) * c).sum(-1)


def mixture_pdf(c, m, s, x):
    z = (x[..., None] - m[:, None, :]) / s[:, None, :]
    return (np.exp(-0.5 * z * z) / (math.sqrt(2 * math.pi) * s[:, None, :]) * c).sum(-1)


def _cdf_pdf(c, m, s, x):
    z = (x[..., None] - m[:, None, :]) / s[:, None, :]
    cdf = (_special().ndtr(z) * c).sum(-1)
    pdf = (np.exp(-0.5 * z * z) * (c / (math.sqrt(2 * math.pi) * s))[:, None, :]).sum(-1)
    return cdf, pdf


def mixture_quantile(c, m, s, p, x0=None):
    """Quantiles (R, P) of the normal mixtures Σⱼ cⱼ N(mⱼ, sⱼ²) (rows of m, s) at probabilities
    ``p`` (P,): Newton steps from ``x0`` or the normal approximation, kept inside a bracket that is
    widened by doubling steps until it holds the root."""
    p = np.broadcast_to(np.asarray(p, dtype=float), (m.shape[0], np.size(p)))
    centre = (c * m).sum(-1)
    step = np.exp((c * np.log(s)).sum(-1))[:, None] + np.zeros_like(p)
    x = centre[:, None] + _special().ndtri(p) * step if x0 is None else np.array(x0, float)
    lo, hi = np.full_like(p, -np.inf), np.full_like(p, np.inf)
    tol = 1e-15 * np.maximum(np.abs(x), step)
    for _ in range(300):
        cdf, pdf = _cdf_pdf(c, m, s, x)
        f = cdf - p
        lo, hi = np.where(f < 0, x, lo), np.where(f >= 0, x, hi)
        with np.errstate(divide="ignore", invalid="ignore"):
            new = x - f / pdf
        ok = np.isfinite(new) & (new > lo) & (new < hi)
        both = np.isfinite(lo) & np.isfinite(hi)
        # outside the bracket: bisect a finite bracket, else step outwards (doubling)
        fallback = np.where(both, (lo + hi) / 2, np.where(f < 0, x + step, x - step))
        step = np.where(ok | both, step, 2 * step)
        new = np.where(ok, new, fallback)
        done = (np.abs(f) < 4e-16) | (both & (hi - lo <= tol)) | (np.abs(new - x) <= tol / 10)
        x = np.where(done, x, new)
        if done.all():
            break
    return x

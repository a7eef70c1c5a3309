"""Normal and χ² distribution functions of one number, from Python's ``math`` module.

A single analysis needs a handful of scalar p-values and quantiles: the z p-value and critical
value, the χ² p-value of Q and the χ² quantiles of the Q-profile interval. Importing
``scipy.special`` for them costs more than the whole fit in a fresh interpreter (its import
pulls in scipy's array-API layer), so the scalar path of :mod:`iometa.core.fitting` uses these
functions and the batched path keeps scipy.special's ufuncs. Each function returns ``None``
outside the range where it is exact to a few units in the last place (huge degrees of
freedom, underflowing terms); the caller then uses scipy.special. tests/test_scalar_dist.py
compares them with scipy.special (ndtr, ndtri, chdtrc, gammaincinv) to 1e-13.

Formulas (Abramowitz & Stegun 1964): Φ(x) = erfc(−x/√2)/2 (7.1.2, 26.2.29); for an integer
number of degrees of freedom ν and y = x/2, the χ² upper tail is the finite sum
Q(ν/2, y) = e^(−y) Σ_{j<ν/2} y^j/j! for even ν and erfc(√y) + e^(−y) Σ_{j=1}^{(ν−1)/2}
y^(j−1/2)/Γ(j+1/2) for odd ν (26.4.4, 26.4.5); the lower tail P(a, y) for y < a + 1 from its
series y^a e^(−y) Σ_n y^n/Γ(a+n+1) (6.5.29). Quantiles by safeguarded Newton iteration on these.
"""

from __future__ import annotations

import math

#: largest ν (and y = x/2) for the finite sums: the sums have ν/2 terms, e^(−y) must not underflow
MAX_DF = 100
MAX_Y = 700.0
_SQRT2 = math.sqrt(2.0)
_SQRT2PI = math.sqrt(2.0 * math.pi)
_SQRTPI = math.sqrt(math.pi)


def ndtr(x: float) -> float:
    """Standard normal CDF Φ(x)."""
    return 0.5 * math.erfc(-x / _SQRT2)


def ndtri(p: float) -> float | None:
    """Standard normal quantile Φ⁻¹(p) for 0 < p < 1 (None otherwise)."""
    if not 0.0 < p < 1.0:
        return None
    if 0.25 <= p <= 0.75:  # the centre: Φ(x) − ½ = erf(x/√2)/2 against p − ½ (exact here)
        c = p - 0.5
        x = c * _SQRT2PI

        def f(x):
            return 0.5 * math.erf(x / _SQRT2) - c
    elif p > 0.5:  # the upper tail by symmetry, from 1 − p (as cephes' ndtri)
        q = ndtri(1.0 - p)
        return None if q is None else -q
    else:  # start: Abramowitz & Stegun 26.2.23 (|error| < 4.5e-4)
        t = math.sqrt(-2.0 * math.log(p))
        x = -(t - (2.515517 + t * (0.802853 + t * 0.010328))
              / (1.0 + t * (1.432788 + t * (0.189269 + t * 0.001308))))

        def f(x):
            return ndtr(x) - p
    for _ in range(60):  # Halley steps on f
        phi = math.exp(-0.5 * x * x) / _SQRT2PI
        if phi == 0.0:
            return None
        u = f(x) / phi
        dx = u / (1.0 + 0.5 * x * u)
        x -= dx
        if abs(dx) <= 1e-16 * abs(x):
            return x
    return x


def _integer_df(df: float) -> int | None:
    if df != df or df < 1 or df > MAX_DF or df != math.floor(df):
        return None
    return int(df)


def chi2_sf(df: float, x: float) -> float | None:
    """Upper tail Q of χ²(df) at x (scipy.special.chdtrc) for integer 1 ≤ df ≤ MAX_DF."""
    nu = _integer_df(df)
    if nu is None or not x == x or x > 2 * MAX_Y:
        return None
    if x <= 0.0:
        return 1.0
    y = 0.5 * x
    e = math.exp(-y)
    if nu % 2 == 0:
        term = total = e
        for j in range(1, nu // 2):
            term *= y / j
            total += term
        return total
    total = math.erfc(math.sqrt(y))
    term = e * math.sqrt(y) / (0.5 * _SQRTPI)  # e^(−y) y^(1/2) / Γ(3/2)
    for j in range(1, (nu - 1) // 2 + 1):
        total += term
        term *= y / (j + 0.5)
    return total


def _log_tail(a: float, y: float, upper: bool) -> float:
    """log P(a, y) (lower) or log Q(a, y) (upper) for 2a an integer ≤ MAX_DF, 0 < y ≤ MAX_Y:
    the series of P where y < a + 1 (positive terms), the finite sum of Q elsewhere."""
    if y < a + 1.0:
        term = 1.0
        total, n = 1.0, 0
        while term > 1e-17 * total:
            n += 1
            term *= y / (a + n)
            total += term
        log_p = a * math.log(y) - y - math.lgamma(a + 1.0) + math.log(total)
        return math.log(-math.expm1(log_p)) if upper else log_p
    q = chi2_sf(2.0 * a, 2.0 * y)
    if q is None or q <= 0.0:
        raise ArithmeticError("upper tail underflows")
    return math.log(q) if upper else math.log1p(-q)


def chi2_ppf(p: float, df: float) -> float | None:
    """Quantile of χ²(df) (scipy.stats.chi2.ppf, 2·gammaincinv(df/2, p)) for integer
    1 ≤ df ≤ MAX_DF and 0 < p < 1; None where it cannot be exact."""
    nu = _integer_df(df)
    if nu is None or not 0.0 < p < 1.0:
        return None
    a = 0.5 * nu
    z = ndtri(p)
    if z is None:
        return None
    upper = p > 0.5  # solve Q(a, y) = 1 − p there, P(a, y) = p below
    target = math.log1p(-p) if upper else math.log(p)
    # start: Wilson–Hilferty; Newton on u = log y for log P (or log Q) − target, which is
    # close to linear in u; bisection (in u) when a step leaves the bracket
    h = 2.0 / (9.0 * nu)
    y = max(0.5 * nu * (1.0 - h + z * math.sqrt(h)) ** 3, 1e-300)
    u, lo, hi = math.log(y), -math.inf, math.log(MAX_Y)
    try:
        for _ in range(200):
            y = math.exp(u)
            lt = _log_tail(a, y, upper)
            g = lt - target if not upper else target - lt  # increasing in u
            if g < 0:
                lo = u
            else:
                hi = u
            # d log P / du = y f(y) / P, f the gamma(a) density; d log Q / du = −y f(y) / Q
            log_yf = a * math.log(y) - y - math.lgamma(a)
            slope = math.exp(log_yf - lt)
            new = u - g / slope if slope > 0 else math.nan
            if not lo < new < hi:
                new = 0.5 * (lo + hi) if lo > -math.inf else u - 1.0
            if abs(new - u) <= 1e-16 * max(1.0, abs(u)) * 4 or hi - lo <= 4e-16:
                return 2.0 * math.exp(new)
            u = new
    except (ArithmeticError, ValueError):
        return None
    return None

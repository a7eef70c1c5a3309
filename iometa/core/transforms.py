"""Back-transformations from the model scale to the reporting scale.

Each function maps model-scale values (estimate, CI or PI limits) to the scale a clinician
reads. They follow metafor's ``transf.*`` functions: ``ilogit`` (``transf.ilogit``),
``iarcsin`` (``transf.iarcsin``: sin²(x), 0 below 0 and 1 above π/2), ``ipft`` and ``ipft_hm``
(``transf.ipft``/``transf.ipft.hm``: Miller's inversion of the Freeman–Tukey double arcsine
with a given n or the harmonic mean of the sample sizes), ``exp`` and ``identity``. PR and PLN
back-transforms are not clamped to [0, 1].

References
----------
Freeman MF, Tukey JW (1950). Ann Math Stat 21:607-611.
Miller JJ (1978). The inverse of the Freeman-Tukey double arcsine transformation.
American Statistician 32:138.
"""

from __future__ import annotations

import numpy as np


def identity(x, **_):
    """Identity (PR, generic effects)."""
    return np.asarray(x, dtype=float)


def exp(x, **_):
    """Exponential (PLN; log-scale medians and ratios)."""
    return np.exp(np.asarray(x, dtype=float))


def ilogit(x, **_):
    """Inverse logit 1/(1 + exp(−x)) (PLO, GLMM)."""
    x = np.asarray(x, dtype=float)
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def iarcsin(x, **_):
    """Inverse arcsine square-root: sin(x)², 0 for x < 0 and 1 for x > π/2 (PAS)."""
    x = np.asarray(x, dtype=float)
    z = np.sin(x) ** 2
    return np.where(x < 0, 0.0, np.where(x > np.pi / 2, 1.0, z))


def pft(p, n):
    """Freeman–Tukey double arcsine of a proportion ``p`` with sample size ``n``."""
    x = np.asarray(p, dtype=float) * n
    return 0.5 * (np.arcsin(np.sqrt(x / (n + 1.0))) + np.arcsin(np.sqrt((x + 1.0) / (n + 1.0))))


def ipft(x, n, **_):
    """Miller's (1978) inverse of the Freeman–Tukey double arcsine for sample size ``n``."""
    x = np.asarray(x, dtype=float)
    n = np.asarray(n, dtype=float)
    s = np.sin(2.0 * x)
    with np.errstate(invalid="ignore", divide="ignore"):
        z = 0.5 * (1.0 - np.sign(np.cos(2.0 * x)) * np.sqrt(1.0 - (s + (s - 1.0 / s) / n) ** 2))
    z = np.where(x > pft(1.0, n), 1.0, z)
    z = np.where(x < pft(0.0, n), 0.0, z)
    return z


def harmonic_mean(n) -> float:
    """Harmonic mean of sample sizes: 1/mean(1/n)."""
    n = np.asarray(n, dtype=float)
    return float(1.0 / np.mean(1.0 / n))


def ipft_hm(x, n, **_):
    """Inverse Freeman–Tukey with the harmonic mean of the sample sizes ``n`` (metafor's
    ``transf.ipft.hm``)."""
    return ipft(x, harmonic_mean(n))


def iirft(x, ti):
    """Inverse of the Freeman–Tukey rate transformation at person-time ``ti`` (metafor's
    ``transf.iirft``): (1/t − 8x² + 16 t x⁴)/(16 x² t), 0 below the transform of a zero
    rate and where the result is below machine epsilon."""
    x = np.asarray(x, dtype=float)
    ti = np.asarray(ti, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (1.0 / ti - 8.0 * x**2 + 16.0 * ti * x**4) / (16.0 * x**2 * ti)
    z = np.where(x < 0.5 * np.sqrt(1.0 / ti), 0.0, z)
    return np.where(z <= np.finfo(float).eps, 0.0, z)


def isquare(x, **_):
    """Inverse of the square-root transformation (metafor's IRS): x², 0 for negative x."""
    x = np.asarray(x, dtype=float)
    return np.where(x < 0, 0.0, x**2)


def iirft_hm(x, n, **_):
    """Inverse Freeman–Tukey rate transformation at the harmonic mean of the person-times
    ``n`` (metafor's ``transf.iirft`` with ``ti`` = that harmonic mean)."""
    return iirft(x, harmonic_mean(n))

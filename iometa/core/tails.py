"""Upper tails and quantiles of the normal, t, χ² and F distributions, as ``scipy.stats``
computes them, without importing ``scipy.stats``.

``scipy.stats`` takes ~0.4 s to import (its distributions, scipy.optimize, scipy.integrate and
scipy.linalg); a subgroup test or a meta-regression only needs four ufuncs of
``scipy.special``. Each function here calls the ufunc scipy.stats' distribution calls
(``norm.sf`` = ``ndtr(−x)``, ``norm.ppf`` = ``ndtri``, ``t.sf`` = ``stdtr(df, −x)``,
``t.ppf`` = ``stdtrit``, ``chi2.sf`` = ``chdtrc``, ``f.sf`` = ``fdtrc``) and applies the same
argument handling as ``rv_continuous.sf``/``ppf``: invalid parameters (df ≤ 0) and NaN give
NaN, x at or below the support's lower end gives 1, x = +∞ gives 0, q = 0 and 1 give the ends
of the support. The values are the same bits as scipy.stats' (tests/test_scalar_dist.py).
"""

from __future__ import annotations

import numpy as np


def _special():
    from scipy import special

    return special


def _prepare(x, params):
    """``x`` and the parameters as broadcast float arrays, and where the parameters are valid
    (every one > 0; NaN is invalid), as scipy.stats' argument check."""
    x = np.asarray(x, dtype=float)
    params = [np.asarray(p, dtype=float) for p in params]
    x, *params = np.broadcast_arrays(x, *params)
    valid = np.ones(x.shape, dtype=bool)
    for p in params:
        valid &= p > 0
    return x, params, valid


def _sf(fn, x, lower, *params):
    x, params, valid = _prepare(x, params)
    out = np.zeros(x.shape)
    out[~valid | np.isnan(x)] = np.nan
    out[valid & (x <= lower)] = 1.0
    inside = valid & (x > lower) & (x < np.inf)
    if inside.any():
        out[inside] = fn(x[inside], *(p[inside] for p in params))
    return out[()]


def norm_sf(x):
    """``scipy.stats.norm.sf(x)``."""
    return _sf(lambda z: _special().ndtr(-z), x, -np.inf)


def t_sf(x, df):
    """``scipy.stats.t.sf(x, df)``."""
    return _sf(lambda z, d: _special().stdtr(d, -z), x, -np.inf, df)


def chi2_sf(x, df):
    """``scipy.stats.chi2.sf(x, df)``."""
    return _sf(lambda z, d: _special().chdtrc(d, z), x, 0.0, df)


def f_sf(x, dfn, dfd):
    """``scipy.stats.f.sf(x, dfn, dfd)``."""
    return _sf(lambda z, d1, d2: _special().fdtrc(d1, d2, z), x, 0.0, dfn, dfd)


def _ppf(fn, q, lower, *params):
    q, params, valid = _prepare(q, params)
    out = np.full(q.shape, np.nan)
    out[valid & (q == 0)] = lower
    out[valid & (q == 1)] = np.inf
    inside = valid & (q > 0) & (q < 1)
    if inside.any():
        out[inside] = fn(q[inside], *(p[inside] for p in params))
    return out[()]


def norm_ppf(q):
    """``scipy.stats.norm.ppf(q)``."""
    return _ppf(lambda p: _special().ndtri(p), q, -np.inf)


def t_ppf(q, df):
    """``scipy.stats.t.ppf(q, df)``."""
    return _ppf(lambda p, d: _special().stdtrit(d, p), q, -np.inf, df)

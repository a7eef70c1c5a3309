"""GOSH (graphical display of study heterogeneity): the model fitted to subsets of the studies.

As metafor's ``gosh()``: all 2ᵏ − 1 non-empty subsets while there are at most ``subsets``
(default 10⁶) of them, i.e. k ≤ 19 by default; otherwise ``subsets`` random subsets, whose
sizes are drawn from Binomial(k, ½) restricted to 1…k (metafor: ``sample(1:k, prob =
dbinom(1:k, k, 0.5))``) and whose members are then drawn uniformly. The fits go through the
batched core in chunks of :data:`CHUNK` subsets.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ._subset_fits import fit_subsets, is_glmm, refit_subsets, require_k2

#: subsets per batched call (bounds memory: a few (CHUNK, k) float arrays)
CHUNK = 20_000
MAX_SUBSETS = 10**6


def _all_subsets(k):
    """Every non-empty subset, ordered by size, within a size in R's ``expand.grid`` order."""
    codes = np.arange(1, 2**k, dtype=np.int64)
    incl = ((codes[:, None] >> np.arange(k)) & 1).astype(bool)
    order = np.argsort(incl.sum(axis=1), kind="stable")
    return incl[order]


def _random_subsets(k, n, seed):
    """``n`` random subsets: sizes from dbinom(1:k, k, 1/2), members uniform without
    replacement; ordered by size (stable), as metafor orders its result."""
    from scipy import stats

    rng = np.random.default_rng(seed)
    sizes = np.arange(1, k + 1)
    prob = stats.binom.pmf(sizes, k, 0.5)
    m = rng.choice(sizes, size=n, p=prob / prob.sum())
    incl = np.empty((n, k), dtype=bool)
    for start in range(0, n, CHUNK):
        stop = min(n, start + CHUNK)
        ranks = rng.random((stop - start, k)).argsort(axis=1).argsort(axis=1)
        incl[start:stop] = ranks < m[start:stop, None]
    return incl[np.argsort(m, kind="stable")]


def _fit_chunks(result, incl, method):
    parts = []
    for start in range(0, incl.shape[0], CHUNK):
        fit = fit_subsets(result, incl[start:start + CHUNK], method=method, test="z")
        q, k = fit.q, fit.k
        i2, h2 = fit.i2, fit.h2
        if method == "DL":  # metafor's closed form: Q-based I², H² (H² < 1 possible)
            with np.errstate(invalid="ignore", divide="ignore"):
                i2 = np.where(k > 1, np.maximum(0.0, 100 * (q - (k - 1)) / q), 0.0)
                h2 = np.where(k > 1, q / (k - 1), 1.0)
        parts.append(pd.DataFrame({"k": k.astype(int), "coef": fit.coef, "tau2": fit.tau2,
                                   "i2": i2, "h2": h2, "q": q}))
    return pd.concat(parts, ignore_index=True)


def gosh(result, *, subsets=None, seed=None, method=None) -> pd.DataFrame:
    """Fit the model to all (or many random) subsets of the studies: GOSH plot data.

    One row per subset: ``k`` (its size), ``coef`` (model scale), ``estimate`` (reporting
    scale, ``result.backtransform``), ``tau2``, ``i2``, ``h2``, ``q``, and ``subset``, the
    membership as a bit mask (bit j set ⇔ study j, in study order, is in the subset; present
    when k ≤ 62). ``df.attrs["incl"]`` holds the (rows × k) boolean membership matrix and
    ``df.attrs["labels"]`` the study labels; ``df.attrs["exact"]`` says whether all subsets
    were fitted. Exhaustive while 2ᵏ − 1 ≤ ``subsets`` (default 10⁶), else ``subsets`` random
    subsets drawn with ``seed`` (numpy's generator: reproducible in iometa, not R's stream).
    ``method`` overrides the τ² estimator (e.g. ``"DL"``, much faster for large k). Rows are
    sorted by subset size; for the exhaustive case within a size in metafor's order.
    I² and H² follow metafor: for DL and FE from Q (I² = max(0, (Q − df)/Q), H² = Q/df), for
    the other estimators from τ̂²; a one-study subset has Q = 0, I² = 0, H² = 1.
    metafor: ``gosh(res, subsets = )``.

    Reference: Olkin I, Dahabreh IJ, Trikalinos TA (2012). GOSH - a graphical display of study
    heterogeneity. Res Synth Methods 3:214-223.

    Example
    -------
    >>> import iometa
    >>> res = iometa.pool([0.1, 0.5, 0.9, 0.3], [0.04, 0.05, 0.06, 0.03], method="DL")
    >>> g = iometa.gosh(res)
    >>> len(g), int(g["k"].max())
    (15, 4)
    """
    require_k2(result, "gosh()")
    k = result.k
    method = method or result.method
    limit = MAX_SUBSETS if subsets is None else int(round(subsets))
    if limit < 2:
        raise ValueError("subsets must be >= 2")
    exact = k < 63 and 2**k - 1 <= limit
    incl = _all_subsets(k) if exact else _random_subsets(k, limit, seed)
    if is_glmm(result) != (method == "GLMM"):
        raise ValueError("gosh(method=) cannot switch between the GLMM and the inverse-variance "
                         "models; refit the result with pool_proportions(method=...) instead")
    if method == "GLMM":  # no batched core: one refit per subset (slow)
        df = refit_subsets(result, [np.flatnonzero(r) for r in incl])
        df = df[["k", "coef", "tau2", "i2", "h2", "q"]]
    else:
        df = _fit_chunks(result, incl, method)
    df.insert(2, "estimate", result.backtransform(df["coef"].to_numpy(float)))
    if k <= 62:
        df["subset"] = (incl.astype(np.int64) << np.arange(k, dtype=np.int64)).sum(axis=1)
    df.attrs.update(incl=incl, labels=result.labels, exact=exact, method=method,
                    n_possible=2**k - 1)
    return df

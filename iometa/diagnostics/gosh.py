"""GOSH (graphical display of study heterogeneity): the model fitted to subsets of the studies.

As metafor's ``gosh()``: all 2ᵏ − 1 non-empty subsets while there are at most ``subsets``
(default 10⁶) of them, i.e. k ≤ 19 by default; otherwise ``subsets`` random subsets, whose
sizes are drawn from Binomial(k, ½) restricted to 1…k (metafor: ``sample(1:k, prob =
dbinom(1:k, k, 0.5))``) and whose members are then drawn uniformly.

The exhaustive subsets are built from their numbers (bit j ⇔ study j): sorted by size in 1-d,
then unpacked to the membership matrix, stored study by study (a (k, rows) array seen
transposed); the numbers are the ``subset`` column. The fits go through the batched core, or
for DerSimonian–Laird through a shortcut of matrix products (:class:`_DLShortcut`), in equal
chunks of at most :data:`CHUNK_CELLS` rows × k: a few float arrays of that size that stay in
the CPU cache (measured: one 65,535-row batch of k = 16 is about twice as slow as chunks of
8,192 rows) and bound memory for any number of subsets (10⁶ random subsets of k = 40: ~160 MB
above the data). Their columns go into preallocated arrays and the table is built once.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..core.progress import bar_for
from ..core.subsets import fit_masks, is_glmm, refit_subsets, require_k2, tau2_fixed

#: cells (rows × k) per batched call: 2¹⁷ (1 MB per float array) for the closed-form estimators,
#: 2¹⁸ for the iterative ones (more rows per iteration's Python overhead); measured best on
#: k = 16…100 (10–30 % faster than half or twice as many)
CHUNK_CELLS = {"closed": 1 << 17, "iterative": 1 << 18}
ITERATIVE = ("ML", "REML", "EB", "PM")
#: rows per draw when sampling random subsets (fixes the random stream: do not change)
RNG_CHUNK = 20_000
MAX_SUBSETS = 10**6
COLUMNS = ("k", "coef", "tau2", "i2", "h2", "q")


def _all_subsets(k):
    """Every non-empty subset, ordered by size, within a size in R's ``expand.grid`` order
    (increasing subset number). Returns ``(incl, codes)``: the (2ᵏ − 1, k) membership matrix
    and the subset numbers (bit j set ⇔ study j is in the subset)."""
    codes = np.arange(1, 2**k, dtype="<u8")
    sizes = np.bitwise_count(codes) if hasattr(np, "bitwise_count") else _popcount(codes)
    codes = codes[np.argsort(sizes.astype(np.int8), kind="stable")]
    return _unpack(codes, k), codes.astype(np.int64)


def _popcount(codes):  # numpy < 2.0 has no bitwise_count
    return np.unpackbits(codes.view(np.uint8)).reshape(codes.size, -1).sum(axis=1)


def _unpack(codes, k):
    """(n, k) membership matrix of little-endian uint64 subset numbers, as the transpose of a
    C-contiguous (k, n) array: a study's column is contiguous, as the DerSimonian–Laird
    shortcut reads it. Each study's row is one shift of the byte that holds its bit (only the
    bytes that hold the k bits are read); masked to 0/1 at the end."""
    nbytes = -(-k // 8)
    by = np.ascontiguousarray(codes.view(np.uint8).reshape(-1, 8)[:, :nbytes].T)
    bits = np.empty((k, codes.size), dtype=np.uint8)
    for j in range(k):
        np.right_shift(by[j >> 3], j & 7, out=bits[j])
    np.bitwise_and(bits, 1, out=bits)
    return bits.view(bool).T


def _codes(incl):
    """Subset numbers of a (n, k ≤ 62) membership matrix (bit j ⇔ study j)."""
    packed = np.packbits(incl, axis=1, bitorder="little")
    full = np.zeros((incl.shape[0], 8), dtype=np.uint8)
    full[:, :packed.shape[1]] = packed
    return full.view("<u8").ravel().astype(np.int64)


def _random_subsets(k, n, seed):
    """``n`` random subsets: sizes from dbinom(1:k, k, 1/2), members uniform without
    replacement; ordered by size (stable), as metafor orders its result."""
    from scipy import stats

    rng = np.random.default_rng(seed)
    sizes = np.arange(1, k + 1)
    prob = stats.binom.pmf(sizes, k, 0.5)
    m = rng.choice(sizes, size=n, p=prob / prob.sum())
    incl = np.empty((n, k), dtype=bool)
    for start in range(0, n, RNG_CHUNK):
        stop = min(n, start + RNG_CHUNK)
        ranks = rng.random((stop - start, k)).argsort(axis=1).argsort(axis=1)
        incl[start:stop] = ranks < m[start:stop, None]
    return incl[np.argsort(m, kind="stable")]


def _chunk_rows(result, method, k):
    closed = method not in ITERATIVE or tau2_fixed(result) is not None
    return max(2, CHUNK_CELLS["closed" if closed else "iterative"] // k)


class _DLShortcut:
    """DerSimonian–Laird fits of chunks of subsets of the studies ``yi``, ``vi``.

    The fixed-effect moments of every subset (Σw, Σw², Σwy, Σwy²; wᵢ = 1/vᵢ) are one matrix
    product of the membership matrix; Q = Σwy² − (Σwy)²/Σw on effects shifted by the first
    study's (identical effects give Q = 0 exactly, as in the core), or from the residuals
    where that difference cancels; tr P with the core's guard against cancellation; the
    random-effects mean needs one pass over the subsets for their weights, whose sums are
    again one matrix product. I² and H² are metafor's Q-based ones; a one-study subset has
    τ² = 0, Q = 0, I² = 0, H² = 1.

    The membership is read as (k, rows): a study's row is contiguous, so the elementwise
    steps run along rows of a chunk's length. The per-study vectors and the two (k, rows)
    float buffers (membership, random-effects weights) are made once and reused by every
    chunk of at most ``rows`` subsets."""

    def __init__(self, yi, vi, rows):
        self.c = float(yi[0])
        y = yi - self.c
        w = 1.0 / vi
        self.vi = vi
        self.vcol = vi[:, None]
        self.y, self.w = y, w
        self.fe = np.stack([w, w * w, w * y, w * y * y, np.ones_like(w)])
        self.re = np.stack([np.ones_like(y), y])
        self._m = np.empty((vi.size, rows))
        self._ws = np.empty((vi.size, rows))
        self._mom = np.empty((5, rows))
        self._sums = np.empty((2, rows))
        self._v = np.broadcast_to(vi, (rows, vi.size))  # as the core's guard reads it

    def columns(self, incl, out) -> None:
        """The GOSH columns of the subsets ``incl`` (n ≤ rows, k) into ``out`` (name → array
        of n)."""
        from ..core.estimators import _trace_p0

        n = incl.shape[0]
        m, ws = self._m[:, :n], self._ws[:, :n]
        np.copyto(m, incl.T)
        mom = np.matmul(self.fe, m, out=self._mom[:, :n])
        sw, s2, swy, swy2, kf = mom
        k, q, tau2 = out["k"], out["q"], out["tau2"]
        np.copyto(k, kf, casting="unsafe")  # sums of ones: exact
        one = k == 1
        df = kf - 1.0
        with np.errstate(invalid="ignore", divide="ignore"):
            np.multiply(swy, swy, out=q)
            np.divide(q, sw, out=q)
            np.subtract(swy2, q, out=q)
            np.maximum(0.0, q, out=q)
            # where that difference cancels (Q a tiny part of Σwy², e.g. variances 1e18
            # apart), Q again from the residuals, for those subsets only
            bad = np.flatnonzero(q <= 1e-7 * swy2)
            if bad.size:
                r = self.y - (swy[bad] / sw[bad])[:, None]
                q[bad] = np.einsum("ij,ij->i", incl[bad] * self.w, r * r)
            q[one] = 0.0
            trp = _trace_p0(self._v[:n], m.T, k, sw, s2)
            excess = q - df
            np.divide(excess, trp, out=tau2)
            np.maximum(0.0, tau2, out=tau2)
            tau2[one] = 0.0
            np.add(tau2, self.vcol, out=ws)  # random-effects weights (fixed-effect: τ² = 0)
            np.divide(m, ws, out=ws)
            swr, swry = np.matmul(self.re, ws, out=self._sums[:, :n])
            coef = out["coef"]
            np.divide(swry, swr, out=coef)
            coef += self.c
            i2 = out["i2"]
            np.multiply(excess, 100, out=i2)
            np.divide(i2, q, out=i2)
            np.maximum(0.0, i2, out=i2)
            i2[one] = 0.0
            h2 = out["h2"]
            np.divide(q, df, out=h2)
            h2[one] = 1.0


def _dl_columns(yi, vi, incl) -> dict:
    """The GOSH columns of DerSimonian–Laird fits of the subsets ``incl`` (n, k), in one
    chunk (:class:`_DLShortcut`)."""
    n = incl.shape[0]
    out = {name: np.empty(n, dtype=np.int64 if name == "k" else float) for name in COLUMNS}
    _DLShortcut(yi, vi, n).columns(incl, out)
    return out


def _fit_all(result, incl, method, bar) -> dict:
    """The GOSH columns of every subset, fitted chunk by chunk into preallocated arrays."""
    n = incl.shape[0]
    cols = {name: np.empty(n, dtype=np.int64 if name == "k" else float) for name in COLUMNS}
    n_chunks = -(-n // _chunk_rows(result, method, incl.shape[1]))
    bounds = np.arange(n_chunks + 1) * n // n_chunks  # equal chunks: none of a single row
    yi, vi, tau2 = result.yi, result.vi, tau2_fixed(result)
    dl = _DLShortcut(yi, vi, int(np.diff(bounds).max())) if method == "DL" and tau2 is None \
        else None
    for start, stop in zip(bounds[:-1].tolist(), bounds[1:].tolist()):
        if dl is not None:
            dl.columns(incl[start:stop], {name: x[start:stop] for name, x in cols.items()})
            bar.update(advance=stop - start)
            continue
        fit = fit_masks(yi, vi, np.ascontiguousarray(incl[start:stop]), method=method, test="z",
                        level=result.level, tau2=tau2)
        q, k = fit.q, fit.k
        i2, h2 = fit.i2, fit.h2
        if method == "DL":  # metafor's closed form: Q-based I², H² (H² < 1 possible)
            with np.errstate(invalid="ignore", divide="ignore"):
                i2 = np.where(k > 1, np.maximum(0.0, 100 * (q - (k - 1)) / q), 0.0)
                h2 = np.where(k > 1, q / (k - 1), 1.0)
        for name, x in zip(COLUMNS, (k, fit.coef, fit.tau2, i2, h2, q)):
            cols[name][start:stop] = x
        bar.update(advance=stop - start)
    return cols


def gosh(result, *, subsets=None, seed=None, method=None, progress=True) -> pd.DataFrame:
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
    ``progress``: a one-line bar on stderr (subsets fitted, elapsed time) once the run has
    lasted half a second, only when stderr is a terminal; False for none.
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
    if exact:
        incl, codes = _all_subsets(k)
    else:
        incl = _random_subsets(k, limit, seed)
        codes = _codes(incl) if k <= 62 else None  # packbits reads rows: before the layout
        incl = np.ascontiguousarray(incl.T).T  # study by study, as the exhaustive matrix
    refitted = ("GLMM", "MH", "Peto")  # no batched core: one refit per subset (slow)
    if is_glmm(result) != (method in refitted) or (method in refitted and
                                                   method != result.method):
        raise ValueError(f"gosh(method={method!r}) cannot switch a {result.method} result to "
                         "another model family (GLMM, Mantel-Haenszel, Peto, inverse "
                         "variance); refit the result with that method instead")
    with bar_for(progress, "gosh", incl.shape[0]) as bar:
        bar.update(text="subsets")
        if method in refitted:  # as metafor's gosh.rma.glmm / gosh.rma.mh / gosh.rma.peto
            df = refit_subsets(result, [np.flatnonzero(r) for r in incl], bar)
            cols = {name: df[name].to_numpy() for name in COLUMNS}
        else:
            cols = _fit_all(result, incl, method, bar)
    cols = {"k": cols["k"], "coef": cols["coef"], "estimate": result.backtransform(cols["coef"]),
            **{name: cols[name] for name in COLUMNS[2:]}}
    if k <= 62:
        cols["subset"] = codes
    df = pd.DataFrame(cols, copy=False)
    df.attrs.update(incl=incl, labels=result.labels, exact=exact, method=method,
                    n_possible=2**k - 1)
    return df

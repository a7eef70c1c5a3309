"""Numeric kernels of the estimators: sums over the study axis and the safeguarded root finder.

Arrays are ``(B, k)`` batches (column-major, see :func:`iometa.core.estimators.prepare`) or, for a
batch of one, 1-d arrays of length k with scalar τ²: every helper here accepts both, so the
single fit and the batched fit run the same code.
"""

from __future__ import annotations

import math
import threading

import numpy as np

#: convergence: |Δτ²| < THRESHOLD · max(1, τ²)
THRESHOLD = 1e-13
MAXITER = 10000
#: compact the working set once fewer than half of its analyses are still iterating
_COMPACT_MIN = 64
#: Fisher steps become Newton steps once below this fraction of τ² (see bracketed_step)
NEWTON_NEAR = 0.01
#: longest vectors summed with BLAS (longer ones would start OpenBLAS threads, slow when busy)
_BLAS_MAX = 8192
#: length of the in-order blocks of :func:`_long_dot`
_BLOCK = 128


def col(t):
    """A per-analysis value as a column against (B, k) arrays (a scalar stays a scalar)."""
    return t[:, None] if ndim(t) else t


def dot(a, b):
    """Σ aᵢbᵢ over the study (last) axis."""
    if a.ndim == 2:
        return np.einsum("ij,ij->i", a, b)
    if a.size <= _BLAS_MAX:
        return np.vdot(a, b)
    return _long_dot(a, b)


def _long_dot(a, b):
    """Σ aᵢbᵢ of long 1-d arrays: in-order sums of blocks of :data:`_BLOCK` products (einsum,
    no temporary of the arrays' length), the block sums added pairwise — the error of numpy's
    pairwise ``add.reduce(a * b)`` (whose in-order base blocks have that length too), at less
    than half its time (no product array to write and read back)."""
    n = a.size
    m = n - n % _BLOCK
    blocks = np.einsum("ij,ij->i", a[:m].reshape(-1, _BLOCK), b[:m].reshape(-1, _BLOCK))
    return np.add.reduce(blocks) + np.einsum("i,i->", a[m:], b[m:])


def msum(m, a):
    """Σ aᵢ over the studies present (``m`` None: all of them; else the 0/1 weights mask)."""
    return np.add.reduce(a, axis=-1) if m is None else dot(m, a)


def ndim(x):
    """Number of dimensions (0 for Python and numpy scalars), without numpy's dispatch."""
    return getattr(x, "ndim", 0)


def work_arrays(y):
    """Three scratch arrays shaped like ``y``, column-major for batches."""
    if y.ndim == 1:
        n = y.shape[0]
        return np.empty(n), np.empty(n), np.empty(n)
    return (np.empty(y.shape, order="F"), np.empty(y.shape, order="F"),
            np.empty(y.shape, order="F"))


#: scratch buffers of more elements than this are not kept between fits (4 × 16 MB at most)
SCRATCH_KEEP = 1 << 21
#: smaller scratch arrays are allocated afresh: below glibc's default mmap threshold (128 KiB)
#: malloc serves them from its free lists without page faults
SCRATCH_MIN = 1 << 14
_SCRATCH = threading.local()


def scratch(y, n=3):
    """``n`` (≤ 4) scratch arrays shaped like ``y`` (column-major for batches), contents
    undefined, valid until the next call in the same thread.

    The arrays are views of per-thread buffers kept between fits (up to :data:`SCRATCH_KEEP`
    elements each): a fresh array of a batch's size is fresh memory from the operating system
    on every fit (glibc returns freed memory above its trim threshold), so each of its pages
    would cost a page fault when first written — about 1.2 µs per 4 KiB here, a tenth of a
    10⁴ × 20 fit. Only callers whose scratch arrays do not outlive the call and do not span
    another caller's use take them (see :func:`sweep`'s callers).
    """
    size = y.size
    if size < SCRATCH_MIN:  # from malloc's free lists: cheaper than the views
        shape, order = y.shape, "F" if y.ndim == 2 else "C"
        if n == 3:
            return (np.empty(shape, order=order), np.empty(shape, order=order),
                    np.empty(shape, order=order))
        if n == 1:
            return (np.empty(shape, order=order),)
        return tuple(np.empty(shape, order=order) for _ in range(n))
    bufs = getattr(_SCRATCH, "bufs", None)
    if bufs is None or bufs[0].size < size:
        if size > SCRATCH_KEEP:
            order = "F" if y.ndim == 2 else "C"
            return tuple(np.empty(y.shape, order=order) for _ in range(n))
        bufs = _SCRATCH.bufs = [np.empty(size) for _ in range(4)]
    if y.ndim == 1:
        return tuple(b[:size] for b in bufs[:n])
    rows, cols = y.shape
    return tuple(b[:size].reshape(cols, rows).T for b in bufs[:n])


def others(a):
    """Σ_{j≠i} aⱼ for every i (a ≥ 0), without subtracting aᵢ from the total."""
    before = np.zeros_like(a)
    after = np.zeros_like(a)
    np.cumsum(a[..., :-1], axis=-1, out=before[..., 1:])
    np.cumsum(a[..., :0:-1], axis=-1, out=after[..., -2::-1])
    return before + after


def where(cond, a, b):
    """``np.where`` that stays a plain scalar when ``cond`` is one (a batch of one)."""
    if ndim(cond):
        return np.where(cond, a, b)
    return a if cond else b


def halve_until_nonnegative(t, step):
    """t + step, the step halved while it would make τ² negative (metafor's rule; from τ² = 0
    a negative step ends at 0)."""
    new = t + step
    neg = new < 0
    if not ndim(neg):
        return _halve_one(float(t), float(step)) if neg else new
    if not neg.any():
        return new
    i = np.flatnonzero(neg)  # the halving works on those analyses only
    new[i] = _halve_rows(np.broadcast_to(t, new.shape)[i], np.broadcast_to(step, new.shape)[i])
    return new


def _halve_rows(t, step):
    """:func:`halve_until_nonnegative` of rows whose full step is negative (t + step < 0)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        j = np.floor(np.log2(np.where(t > 0, -step / t, 1.0))) - 1
    j = np.where(np.isfinite(j), j, 0.0)
    s = np.ldexp(step, -np.minimum(np.maximum(j, 0), 2100).astype(int))  # the first j that fails
    new = t + s
    for _ in range(2200):  # bounded: 2200 halvings take any finite double below τ²
        bad = (new < 0) & (t > 0)
        if not np.any(bad):
            break
        s = np.where(bad, s / 2, s)
        new = np.where(bad, t + s, new)
    # a step of -inf (or one that never fits) ends at 0, as a negative step from τ² = 0 does
    return np.where((t <= 0) | (new < 0) | (new != new), 0.0, new)


def bracketed_step(t, u, d_newton, d_fisher, lo, hi):
    """One safeguarded step towards the root of ``u``, a function of τ² ≥ 0 with u > 0 left of
    the root (a score, or Q − target).

    ``d_fisher`` > 0 is Fisher's information (metafor's step u/d_fisher), ``d_newton`` the
    slope −u′ (Newton's step where > 0). ``lo``/``hi`` are the largest point known to have
    u > 0 and the smallest known to have u < 0 (−inf/inf while unknown), updated with t.
    Until the root is bracketed the iterations follow metafor's Fisher scoring (steps halved
    while they would make τ² negative), switching to Newton only once the Fisher step is below
    1% of τ² — so the path stays in the basin of the maximum metafor finds, also when the
    likelihood has another one at τ² = 0. Once bracketed: Newton steps, replaced by bisection
    when they leave the bracket or where −u′ ≤ 0, so the bracket shrinks at every step (no
    cycle, no crawl). Returns ``(new t, lo, hi)``.
    """
    lo = where(u > 0, where(t > lo, t, lo), lo)
    hi = where(u < 0, where(t < hi, t, hi), hi)
    closed = (lo >= 0) & (hi < np.inf)
    fisher = u / d_fisher
    newton = (d_newton > 0) & (closed | (abs(fisher) <= NEWTON_NEAR * t))
    new = halve_until_nonnegative(t, where(newton, u / d_newton, fisher))
    bad = (new <= lo) | (new >= hi) | (d_newton <= 0) | (new != new)
    new = where(closed & bad, 0.5 * (where(lo > 0, lo, 0.0) + hi), new)
    return where(new != new, t, new), lo, hi


def solve_root(slope, y, v, m, t0, lo, hi, active, extra=()):
    """Root of ``u(τ²)`` per active analysis: returns ``(τ², converged, iterations)``.

    ``slope(y, v, m, t, work, *extra)`` returns ``(u, d_newton, d_fisher)`` (see
    :func:`bracketed_step`); the
    iteration stops when |Δτ²| < 1e-13·max(1, τ²). A batch keeps iterating all rows of its
    working set (finished rows frozen) and compacts the set when half of it has finished, so
    no row is copied each iteration. 1-d data (a batch of one) iterate on scalars. Callers
    set ``np.errstate`` (padding and k < 2 rows divide by zero harmlessly).
    """
    if y.ndim == 1:
        return _solve_one(slope, y, v, m, t0, lo, hi, bool(active), extra)
    return _solve_batch(slope, y, v, m, t0, lo, hi, active, extra)


def _solve_one(slope, y, v, m, t, lo, hi, active, extra):
    """One analysis: the array passes in numpy, the step logic on Python floats
    (:func:`_step_one`, the same arithmetic as :func:`bracketed_step`)."""
    if not active:
        return t, True, 0
    work = scratch(y)
    t, lo, hi = float(t), float(lo), float(hi)
    for it in range(1, MAXITER + 1):
        u, d_newton, d_fisher = slope(y, v, m, t, work, *extra)
        new, lo, hi = _step_one(t, float(u), float(d_newton), float(d_fisher), lo, hi)
        if abs(new - t) < THRESHOLD * (new if new > 1.0 else 1.0):
            return np.float64(new), True, it
        t = new
    return np.float64(t), False, MAXITER


def _div(a, b):
    """a / b with IEEE results where b is ±0 (as numpy: ±inf, or nan for 0/0 and nan/0)."""
    if b != 0.0 or b != b:
        return a / b
    if a != a or a == 0.0:
        return math.nan
    return math.copysign(math.inf, a) * math.copysign(1.0, b)


def _halve_one(t, step):
    """:func:`halve_until_nonnegative` for Python floats."""
    new = t + step
    if not new < 0:
        return new
    j = 0
    if t > 0:
        x = -step / t
        if x < math.inf:  # finite (x > 1 here): skip the halvings that certainly fail
            j = min(max(math.floor(math.log2(x)) - 1, 0), 2100)
    s = math.ldexp(step, -j)
    new = t + s
    for _ in range(2200):
        if not (new < 0 and t > 0) or s == -math.inf:
            break
        s = s / 2
        new = t + s
    return 0.0 if (t <= 0 or new < 0 or new != new) else new


def _step_one(t, u, d_newton, d_fisher, lo, hi):
    """:func:`bracketed_step` for one analysis on Python floats (no numpy scalar dispatch)."""
    if u > 0 and t > lo:
        lo = t
    if u < 0 and t < hi:
        hi = t
    closed = lo >= 0 and hi < math.inf
    fisher = _div(u, d_fisher)
    newton = d_newton > 0 and (closed or abs(fisher) <= NEWTON_NEAR * t)
    new = _halve_one(t, _div(u, d_newton) if newton else fisher)
    bad = new <= lo or new >= hi or d_newton <= 0 or new != new
    if closed and bad:
        new = 0.5 * ((lo if lo > 0 else 0.0) + hi)
    return (t if new != new else new), lo, hi


def _rows(a, sel):
    """Rows ``sel`` of a column-major (B, k) array, column-major again (None stays None)."""
    return None if a is None else np.ascontiguousarray(a.T[:, sel]).T


def _solve_batch(slope, y, v, m, t0, lo, hi, active, extra):
    n_all = y.shape[0]
    t = np.array(t0, dtype=float)
    lo = np.array(np.broadcast_to(lo, (n_all,)), dtype=float)
    hi = np.array(np.broadcast_to(hi, (n_all,)), dtype=float)
    conv = ~np.asarray(active, dtype=bool)
    it = np.zeros(n_all, dtype=int)
    sel = np.flatnonzero(active)
    if sel.size == 0:
        return t, conv, it
    full = sel.size == n_all
    ys, vs, ms = (y, v, m) if full else (_rows(y, sel), _rows(v, sel), _rows(m, sel))
    ts, los, his = t[sel], lo[sel], hi[sel]
    ex = tuple(np.broadcast_to(e, (n_all,))[sel] for e in extra)
    its, done = np.zeros(sel.size, dtype=int), np.zeros(sel.size, dtype=bool)
    work = scratch(ys)
    for _ in range(MAXITER):
        u, d_newton, d_fisher = slope(ys, vs, ms, ts, work, *ex)
        new, los, his = bracketed_step(ts, u, d_newton, d_fisher, los, his)
        fin = np.abs(new - ts) < THRESHOLD * np.maximum(1.0, new)
        ts = np.where(done, ts, new)
        its += ~done
        done |= fin
        left = sel.size - np.count_nonzero(done)
        if left == 0:
            break
        if 2 * left < sel.size and sel.size >= _COMPACT_MIN:
            t[sel[done]], conv[sel[done]], it[sel[done]] = ts[done], True, its[done]
            keep = ~done
            sel = sel[keep]
            ys, vs, ms = _rows(ys, keep), _rows(vs, keep), _rows(ms, keep)
            ts, los, his, its = ts[keep], los[keep], his[keep], its[keep]
            ex = tuple(e[keep] for e in ex)
            done = np.zeros(sel.size, dtype=bool)
            work = scratch(ys)
    t[sel], conv[sel], it[sel] = ts, done, its
    return t, conv, it


def chi2_median(df):
    """Median of χ²(df): 2·P⁻¹(df/2, 1/2)."""
    from scipy.special import gammaincinv

    return 2.0 * gammaincinv(np.asarray(df, dtype=float) / 2.0, 0.5)


def iterate_fixed_point(step, t0, active):
    """metafor's fixed-point iteration τ² ← step(τ²) from ``t0`` until |Δτ²| < THRESHOLD ·
    max(1, τ²) (at most MAXITER steps); returns ``(τ², converged, iterations)`` as arrays of
    the shape of ``t0`` (rows not ``active`` stay at t0, converged)."""
    t = np.array(t0, dtype=float)
    act = np.array(np.broadcast_to(active, t.shape), dtype=bool)
    conv = ~act
    it = np.zeros(t.shape, dtype=int)
    for _ in range(MAXITER):
        if conv.all():
            break
        new = np.asarray(step(t[()] if t.ndim == 0 else t), dtype=float)
        done = np.abs(new - t) < THRESHOLD * np.maximum(1.0, new)
        todo = ~conv
        it = np.where(todo, it + 1, it)
        t = np.where(todo, new, t)
        conv = conv | (todo & done)
    return t, conv, it

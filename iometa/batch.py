"""Many meta-analyses in one call: :func:`pool_many` (a long table in, one row per analysis out).

The analyses are fitted by the batched core (:func:`iometa.core.fitting.fit_arrays`), the same code
as :func:`iometa.pool` (a single fit is a batch of one), in chunks of analyses of similar size
so that memory stays bounded (10⁶ analyses of 20 studies run within 2 GB) and padding is small.
A ``dask.dataframe.DataFrame`` is pooled lazily, partition by partition, after a shuffle on the
analysis key (:func:`_pool_many_dask`); dask is imported only when such a frame is passed.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any, overload

import numpy as np
import pandas as pd

from .core.estimators import METHODS
from .core.fitting import TESTS, fit_arrays, tau2_ci_qprofile
from .core.models import check_pi_options
from .core.progress import ProgressBar, bar_for

if TYPE_CHECKING:
    import dask.dataframe as dd

#: padded cells (analyses × largest k) per chunk: bounds the working memory of one chunk
CHUNK_CELLS = 1 << 20

#: result columns (model scale; for generic effects the reporting scale is the model scale)
COLUMNS = ("k", "estimate", "se", "stat", "pval", "df", "ci_low", "ci_high", "pi_low",
           "pi_high", "tau2", "i2", "h2", "q", "q_df", "q_pval", "converged", "n_iter")
CI_COLUMNS = ("tau2_ci_low", "tau2_ci_high", "i2_ci_low", "i2_ci_high", "h2_ci_low",
              "h2_ci_high")


@overload
def pool_many(data: pd.DataFrame, *, by: Any, yi: str = ..., vi: str = ..., method: str = ...,
              test: str = ..., level: float = ..., heterogeneity_ci: bool = ...,
              pi_method: str = ..., adhoc: bool = ..., tau_prior: str = ...,
              tau_scale: float = ..., mu_prior: Any = ...,
              progress: bool | ProgressBar = ...) -> pd.DataFrame: ...


@overload
def pool_many(data: dd.DataFrame, *, by: Any, yi: str = ..., vi: str = ..., method: str = ...,
              test: str = ..., level: float = ..., heterogeneity_ci: bool = ...,
              pi_method: str = ..., adhoc: bool = ..., tau_prior: str = ...,
              tau_scale: float = ..., mu_prior: Any = ...,
              progress: bool | ProgressBar = ...) -> dd.DataFrame: ...


def pool_many(data, *, by, yi="yi", vi="vi", method="REML", test="z", level=0.95,
              heterogeneity_ci=False, pi_method="metafor", adhoc=False,
              tau_prior="half-normal", tau_scale=0.5, mu_prior=None, progress=True):
    """Pool every analysis of a long table at once: one row per analysis.

    ``data`` has one row per study; the column(s) ``by`` identify the analysis (e.g. outcome ×
    subgroup, or a simulation replicate); ``yi``/``vi`` name the effect sizes and sampling
    variances. Each analysis is fitted exactly as :func:`iometa.pool` fits it (same estimators
    ``method`` — FE, DL, HE, HS, SJ, ML, REML, EB, PM —, z or Knapp–Hartung ``test``,
    prediction interval, heterogeneity), vectorised over the analyses, which may have different
    numbers of studies. Returns a tidy DataFrame sorted by ``by`` with the ``by`` columns and
    ``k``, ``estimate``, ``se``, ``stat``, ``pval``, ``df`` (t df under Knapp–Hartung, else
    nan), ``ci_low``, ``ci_high``, ``pi_low``, ``pi_high``, ``tau2``, ``i2`` (percent),
    ``h2``, ``q``, ``q_df``, ``q_pval``, ``converged``, ``n_iter`` and ``note`` (empty, or
    what was done: k = 1 analyses get τ² = 0 and the z test, as ``pool`` does). With
    ``heterogeneity_ci=True`` also the Q-profile CIs ``tau2_ci_low`` … ``h2_ci_high`` (two more
    root findings per analysis; limited like ``pool`` and metafor's ``confint``).
    ``pi_method`` and ``adhoc`` as in :func:`iometa.pool` (a PI with t(k − 2) df is NaN for
    k < 3 and the note says so). ``progress``: a one-line bar on stderr (analyses fitted,
    elapsed time) once the run has lasted half a second, only when stderr is a terminal;
    False for none (a dask frame is lazy: dask's own diagnostics show its progress).

    ``data`` may also be a ``dask.dataframe.DataFrame`` (``pip install "iometa[dask]"``), e.g.
    from ``dask.dataframe.read_parquet``, larger than memory and on a distributed cluster. The
    result is then a lazy dask DataFrame with the same columns and dtypes; nothing is computed
    until you call ``.compute()`` (or write it, e.g. ``.to_parquet``). The rows of an analysis may
    lie in several partitions: they are first shuffled on ``by`` so that each analysis lands in
    one partition, in its original row order, and each partition is then pooled as above. Row
    order: sorted by ``by`` within each output partition, not across partitions, and the index
    restarts at 0 in each partition; ``out.compute().sort_values(by, ignore_index=True)`` equals
    the pandas result of ``data.compute()`` (to 1e-12; the same arithmetic). The same checks
    apply: unknown columns or options raise at once, bad values (a missing ``by`` value, a
    non-finite ``yi``/``vi``, ``vi <= 0``) raise the pandas error, naming the row's index label,
    when computed (with several bad rows, the one reported may differ from pandas). An empty
    dask frame (which cannot be seen without computing) gives an empty result instead of an
    error. If ``by`` names the dask frame's index (one column) and its divisions are known,
    e.g. ``dd.read_parquet(path, index="analysis", calculate_divisions=True)`` on files
    written in order of the analysis id, no analysis can span partitions and the shuffle is
    skipped; the rows then come back sorted by ``by`` across partitions too (and the row an
    error names is its position within its partition).

    ``method="bayes"``: the exact Bayesian random-effects model of :func:`iometa.pool_bayes`
    (priors ``tau_prior``, ``tau_scale``, ``mu_prior`` as there) for every analysis, batched
    (:func:`iometa.core.bayes_batch.fit_bayes_arrays`: a fixed composite quadrature, within
    1e-6 of ``pool_bayes``); columns ``k``, ``mu_median``, ``mu_mean``, ``mu_sd``,
    ``mu_ci_low``, ``mu_ci_high`` (central posterior intervals at ``level``), ``tau_median``,
    ``tau_ci_low``, ``tau_ci_high``, ``pi_low``, ``pi_high`` (θ_new), ``log_marginal``,
    ``bf01`` (Bayes factor of τ = 0) and ``note``; ``test``, ``heterogeneity_ci``,
    ``pi_method`` and ``adhoc`` do not apply (pandas frames only).

    metafor has no batched equivalent (``rma()`` per analysis, e.g. in ``by()``); PyMARE's
    estimators take (k, B) arrays. References: DerSimonian & Laird 1986; Viechtbauer 2005
    (J Educ Behav Stat 30:261); Hartung & Knapp 2001 (Stat Med 20:3875); Higgins & Thompson
    2002 (Stat Med 21:1539); Viechtbauer 2007 (Stat Med 26:37, Q-profile).

    Example
    -------
    >>> import pandas as pd, iometa
    >>> df = pd.DataFrame({"outcome": ["OS"] * 3 + ["PFS"] * 2,
    ...                    "yi": [0.1, 0.5, 0.9, 0.2, 0.4], "vi": [0.04, 0.05, 0.06, 0.03, 0.02]})
    >>> out = iometa.pool_many(df, by="outcome", method="DL")
    >>> out[["outcome", "k"]].values.tolist()
    [['OS', 3], ['PFS', 2]]
    >>> round(float(out["tau2"].iloc[0]), 4)
    0.1107
    """
    if method == "bayes":
        return _pool_many_bayes(data, by, yi, vi, level, tau_prior, tau_scale, mu_prior,
                                (test, heterogeneity_ci, pi_method, adhoc), progress)
    if _is_dask_frame(data):
        return _pool_many_dask(data, by=by, yi=yi, vi=vi, method=method, test=test, level=level,
                               heterogeneity_ci=heterogeneity_ci, pi_method=pi_method,
                               adhoc=adhoc)
    cols = _check_args(data, by, yi, vi, method, test, level)
    check_pi_options(test, pi_method, adhoc)
    names = COLUMNS + ((*CI_COLUMNS, "_capped") if heterogeneity_ci else ())

    def fit(Y, V, M, k):
        return _fit_chunk(Y, V, M, k, method, test, level, heterogeneity_ci, pi_method, adhoc)

    return _pooled_frame(data, cols, yi, vi, names, fit, progress, "analyses",
                         lambda out: _notes(out, method, test, pi_method))


def _pooled_frame(data, cols, yi, vi, names, fit, progress, text, notes):
    """The analyses of ``data`` (grouped by ``cols``) fitted in chunks of similar k by
    ``fit(Y, V, M, k) -> {name: array}``: one row per analysis with the ``by`` values, the
    columns ``names`` (but ``_capped``, which only feeds the notes) and ``note``, the array
    ``notes(columns)`` returns. The table is built once (not column by column)."""
    y = _numeric(data, yi, "yi")
    v = _numeric(data, vi, "vi")
    order, counts = _groups(data, cols)
    n_groups = counts.size
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    first = starts if order is None else order[starts]
    keys = {c: data[c].take(first).reset_index(drop=True) for c in cols}
    _check_values(y, v, data, cols)
    out: dict[str, np.ndarray] = {}
    with bar_for(progress, "pool_many", n_groups) as bar:
        for ids in _chunks(counts):
            Y, V, M = _padded(y, v, order, starts, counts, ids)
            res = fit(Y, V, M, counts[ids])
            whole = ids.size == n_groups  # one chunk of all analyses, in order (ids sorted)
            for name in names:
                values = np.asarray(res[name])
                if whole and values.shape == (n_groups,) and values.flags.writeable:
                    out[name] = values
                    continue
                if name not in out:
                    out[name] = np.empty(n_groups, dtype=values.dtype)
                out[name][ids] = values
            bar.update(advance=len(ids), text=text)
    columns = dict(keys)
    columns.update((name, out[name]) for name in names if name != "_capped")
    columns["note"] = pd.array(notes(out), dtype="str")
    return pd.DataFrame(columns, copy=False)


#: result columns of method="bayes" (posterior summaries, as iometa.core.bayes_batch.BayesBatch)
BAYES_COLUMNS = ("k", "mu_median", "mu_mean", "mu_sd", "mu_ci_low", "mu_ci_high", "tau_median",
                 "tau_ci_low", "tau_ci_high", "pi_low", "pi_high", "log_marginal", "bf01")


def _pool_many_bayes(data, by, yi, vi, level, tau_prior, tau_scale, mu_prior, others,
                     progress=True):
    """pool_many(method="bayes"): the analyses in chunks of similar k through the batched
    exact Bayesian model."""
    from .core.bayes_batch import fit_bayes_arrays

    if _is_dask_frame(data):
        raise ValueError("pool_many(method='bayes') takes a pandas DataFrame; for a dask frame "
                         "use data.map_partitions after a shuffle on `by`, or compute it first")
    test, heterogeneity_ci, pi_method, adhoc = others
    if test != "z" or heterogeneity_ci or pi_method != "metafor" or adhoc:
        raise ValueError("test, heterogeneity_ci, pi_method and adhoc do not apply to "
                         "method='bayes' (posterior intervals); leave them at their defaults")
    cols = _check_args(data, by, yi, vi, "REML", "z", level)

    def fit(Y, V, M, k):
        res = fit_bayes_arrays(np.ascontiguousarray(Y), np.ascontiguousarray(V),
                               None if M is None else np.ascontiguousarray(M),
                               tau_prior=tau_prior, tau_scale=tau_scale, mu_prior=mu_prior,
                               level=level)
        return {name: getattr(res, name) for name in BAYES_COLUMNS}

    return _pooled_frame(data, cols, yi, vi, BAYES_COLUMNS, fit, progress,
                         "analyses (bayes)", _bayes_notes)


def _bayes_notes(out):
    note = np.where(out["k"] == 1, "one study: the posterior of tau is driven by its prior", "")
    note = np.where(np.isinf(out["mu_sd"]),
                    np.where(note == "", "", note + "; ") + "the posterior SD of mu does not "
                    "exist (reported as inf)", note)
    return note.astype(object)


def _check_args(data, by, yi, vi, method, test, level, lazy=False):
    if not lazy and not isinstance(data, pd.DataFrame):
        raise TypeError(f"data must be a pandas or dask DataFrame (one row per study), got "
                        f"{type(data).__name__}")
    cols = [by] if isinstance(by, str) else list(by)
    if not cols:
        raise ValueError("by must name at least one column identifying the analysis")
    missing = [c for c in [*cols, yi, vi] if c not in data.columns]
    if missing:
        raise ValueError(f"no such column(s) in data: {', '.join(map(repr, missing))} "
                         f"(columns: {', '.join(map(str, data.columns))})")
    clash = [c for c in cols if c in COLUMNS + CI_COLUMNS + ("note",)]
    if clash:
        raise ValueError(f"by column(s) {clash} clash with result columns; rename them")
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}: expected one of {', '.join(METHODS)}")
    if test not in TESTS:
        raise ValueError(f"unknown test {test!r}: expected 'z' or 'knha'")
    if not 0 < level < 1:
        raise ValueError(f"level must be between 0 and 1 (e.g. 0.95), got {level!r}")
    if lazy:  # the values are checked partition by partition, when computed
        return cols
    if len(data) == 0:
        raise ValueError("data has no rows: no studies to pool")
    na = _missing(data, cols)
    if na.any():
        row = _plain(data.index[int(np.argmax(na))])
        raise ValueError(f"row {row!r} has a missing value in the analysis column(s) {cols}: "
                         "every study must belong to an analysis")
    return cols


def _missing(data, cols):
    """Per row: whether any ``by`` column is missing (numpy columns checked without pandas'
    frame-wide isna)."""
    na = np.zeros(len(data), dtype=bool)
    for c in cols:
        a = data[c]
        if isinstance(a.dtype, np.dtype) and a.dtype.kind in "iub":
            continue  # numpy integers and booleans cannot be missing
        if isinstance(a.dtype, np.dtype) and a.dtype.kind == "f":
            na |= np.isnan(a.to_numpy())
        else:
            na |= a.isna().to_numpy()
    return na


def _is_dask_frame(data):
    """Whether ``data`` is a dask DataFrame, without importing dask (a user holding one has
    imported it)."""
    dd = sys.modules.get("dask.dataframe")
    return dd is not None and isinstance(data, dd.DataFrame)


#: helper column carrying each row's original position through the shuffle
_ROW = "__iometa_row__"


def _pool_many_dask(data, *, by, yi, vi, method, test, level, heterogeneity_ci, pi_method,
                    adhoc):
    """:func:`pool_many` of a dask DataFrame: a lazy dask DataFrame (see ``pool_many``).

    Each row is tagged with (partition number, position) packed in one int64, the frame is
    shuffled on ``by`` (every analysis then lies in one partition) and each partition is
    restored to the original row order and pooled by the pandas code, so an analysis is fitted
    from the same numbers in the same order as by the pandas path. When ``by`` is the frame's
    index with known divisions, an analysis cannot span partitions: no shuffle."""
    cols = [by] if isinstance(by, str) else list(by)
    indexed = len(cols) == 1 and data.index.name == cols[0] and cols[0] not in data.columns
    frame = data.reset_index() if indexed else data  # lazy: the index as a column
    cols = _check_args(frame._meta, cols, yi, vi, method, test, level, lazy=True)
    check_pi_options(test, pi_method, adhoc)
    if _ROW in frame.columns:
        raise ValueError(f"column {_ROW!r} is reserved by pool_many; rename it")
    options = dict(by=cols, yi=yi, vi=vi, method=method, test=test, level=level,
                   heterogeneity_ci=heterogeneity_ci, pi_method=pi_method, adhoc=adhoc)
    meta = _dask_meta(frame._meta, cols, options)
    if indexed and data.known_divisions:  # sorted index: equal values share a partition
        part = data[[yi, vi]]
        return part.map_partitions(_pool_indexed_partition, options, meta, meta=meta,
                                   enforce_metadata=False, align_dataframes=False)
    frame = frame[[*cols, yi, vi]]
    tagged = frame.map_partitions(_tag_rows, meta=frame._meta.assign(**{_ROW: np.int64(0)}))
    shuffled = tagged.shuffle(on=cols)
    return shuffled.map_partitions(_pool_partition, options, meta, meta=meta,
                                   enforce_metadata=False, align_dataframes=False)


def _pool_indexed_partition(part, options, meta):
    if len(part) == 0:
        return meta.copy()
    return pool_many(part.reset_index(), **options)


def _tag_rows(part, partition_info=None):
    number = 0 if partition_info is None else int(partition_info["number"])
    if len(part) >= 1 << 40:
        raise ValueError("a dask partition of pool_many has more than 2^40 rows")
    return part.assign(**{_ROW: (np.int64(number) << 40) + np.arange(len(part), dtype=np.int64)})


def _pool_partition(part, options, meta):
    if len(part) == 0:
        return meta.copy()
    order = np.argsort(part[_ROW].to_numpy(), kind="stable")
    return pool_many(part.iloc[order].drop(columns=_ROW), **options)


def _dask_meta(empty, cols, options):
    """Empty result frame with the dtypes of the pandas result: the result columns from a tiny
    pooled example, the ``by`` columns from ``data``'s own (empty) columns."""
    example = pd.DataFrame({**{c: [0, 0, 1] for c in cols}, options["yi"]: [0.1, 0.3, 0.2],
                            options["vi"]: [0.01, 0.02, 0.03]})
    out = pool_many(example, **options).iloc[:0].reset_index(drop=True)
    for c in cols:
        out[c] = empty[c].iloc[:0].reset_index(drop=True)
    return out


def _numeric(data, name, what):
    try:
        return data[name].to_numpy(dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"{what}={name!r}: the column must be numeric") from None


def _groups(data, cols):
    """``(order, counts)``: the row order that makes the analyses contiguous (None: they are
    already, in sorted order) and the number of rows of each analysis, in the sorted order of
    the ``by`` values. A sorted numeric key (simulation replicates) needs neither hashing nor
    codes: its analyses start where the value changes."""
    if len(cols) == 1:
        a = data[cols[0]].to_numpy()
        if a.dtype.kind in "iufb" and a.size and bool(np.all(a[1:] >= a[:-1])):
            change = np.empty(a.size, dtype=bool)
            change[0] = True
            np.not_equal(a[1:], a[:-1], out=change[1:])
            starts = np.flatnonzero(change)
            return None, np.diff(starts, append=a.size)
    codes, n_groups = _group_codes(data, cols)
    order = None if _nondecreasing(codes) else np.argsort(codes, kind="stable")
    return order, np.bincount(codes, minlength=n_groups)


def _group_codes(data, cols):
    """Analysis index of every row (0 … G − 1 in the sorted order of the ``by`` values)."""
    if len(cols) == 1:
        s = data[cols[0]]
        if s.is_monotonic_increasing:  # already sorted (e.g. simulation replicates): no hashing
            a = s.to_numpy()
            change = np.empty(a.size, dtype=bool)
            change[0] = True
            np.not_equal(a[1:], a[:-1], out=change[1:])
            codes = np.cumsum(change) - 1
            return codes, int(codes[-1]) + 1
        codes, uniques = pd.factorize(s, sort=True)
        return codes, len(uniques)
    codes = data.groupby(cols, sort=True, observed=True).ngroup().to_numpy()
    return codes, int(codes.max()) + 1


def _nondecreasing(a):
    return bool(np.all(a[1:] >= a[:-1]))


def _check_values(y, v, data, cols):
    """Clear errors naming the analysis and the row for unusable effect sizes or variances."""
    ok = np.isfinite(y) & np.isfinite(v) & (v > 0)
    if ok.all():
        return
    i = int(np.argmin(ok))
    where = ", ".join(f"{c}={_plain(data[c].iloc[i])!r}" for c in cols)
    row = _plain(data.index[i])
    if not np.isfinite(y[i]) or not np.isfinite(v[i]):
        name, val = ("yi", float(y[i])) if not np.isfinite(y[i]) else ("vi", float(v[i]))
        raise ValueError(f"analysis ({where}), row {row!r}: {name} is {val!r}; every study "
                         "needs a finite effect size and sampling variance")
    raise ValueError(f"analysis ({where}), row {row!r}: sampling variance {v[i]:g}; variances "
                     "must be > 0 (a zero variance would get infinite weight)")


def _plain(value):
    """A numpy scalar as the Python value (``17``, not ``np.int64(17)``) for messages."""
    return value.item() if isinstance(value, np.generic) else value


def _chunks(counts):
    """Groups of analysis ids of similar k, each with at most CHUNK_CELLS padded cells
    (k = 1 analyses on their own: they are fitted with τ² = 0 and the z test)."""
    by_k = np.argsort(counts, kind="stable")
    ks = counts[by_k]
    i, n = 0, by_k.size
    while i < n:
        end_k1 = i + int(np.searchsorted(ks[i:], 1, side="right")) if ks[i] == 1 else n
        # largest j with (j - i) * ks[j - 1] <= CHUNK_CELLS (non-decreasing in j)
        end = min(end_k1, i + CHUNK_CELLS // int(ks[i]) + 1)  # no chunk can be longer
        cells = np.arange(1, end - i + 1) * ks[i:end]
        j = i + max(1, int(np.searchsorted(cells, CHUNK_CELLS, side="right")))
        yield np.sort(by_k[i:j])
        i = j


def _padded(y, v, order, starts, counts, ids):
    """Column-major (n, kmax) arrays of the analyses ``ids`` (padding y = 0, v = 1) and the
    mask (None when every analysis has kmax studies)."""
    c = counts[ids]
    kmax = int(c.max())
    n = ids.size
    if c.min() == kmax and order is None and np.all(np.diff(ids) == 1):
        lo = int(starts[ids[0]])  # contiguous block of equal-size analyses: a reshape
        Y = y[lo:lo + n * kmax].reshape(n, kmax)
        V = v[lo:lo + n * kmax].reshape(n, kmax)
        return np.asfortranarray(Y), np.asfortranarray(V), None
    row = np.repeat(np.arange(n), c)
    pos = np.arange(row.size) - np.repeat(np.cumsum(c) - c, c)
    src = np.repeat(starts[ids], c) + pos
    if order is not None:
        src = order[src]
    Y = np.zeros((n, kmax), order="F")
    V = np.ones((n, kmax), order="F")
    M = np.zeros((n, kmax), dtype=bool, order="F")
    Y[row, pos], V[row, pos], M[row, pos] = y[src], v[src], True
    return Y, V, (None if c.min() == kmax else M)


def _fit_chunk(Y, V, M, k, method, test, level, heterogeneity_ci, pi_method="metafor",
               adhoc=False):
    one = k[0] == 1  # chunks are either all k = 1 or all k >= 2
    fit = fit_arrays(Y, V, M, method=method, test="z" if one else test, level=level,
                     tau2=0.0 if one else None, pi_method=pi_method, adhoc=adhoc and not one)
    res = {"k": fit.k, "estimate": fit.coef, "se": fit.se, "stat": fit.stat,
           "pval": fit.pval, "df": fit.df, "ci_low": fit.ci_low, "ci_high": fit.ci_high,
           "pi_low": fit.pi_low, "pi_high": fit.pi_high, "tau2": fit.tau2,
           "i2": fit.i2 if not one else np.zeros(k.size),
           "h2": fit.h2 if not one else np.ones(k.size), "q": fit.q, "q_df": fit.q_df,
           "q_pval": fit.q_pval, "converged": fit.converged, "n_iter": fit.n_iter}
    if heterogeneity_ci:
        res.update(_heterogeneity_cis(Y, V, M, fit, level, method == "FE" or one))
    return res


def _heterogeneity_cis(Y, V, M, fit, level, none):
    """Q-profile CIs of τ², I², H², with the upper limit capped at max(100, 10·τ̂²) like
    :func:`iometa.pool` (and metafor's ``confint``)."""
    n = fit.k.size
    if none:
        return {**{name: np.full(n, np.nan) for name in CI_COLUMNS},
                "_capped": np.zeros(n, dtype=bool)}
    lo, hi = tau2_ci_qprofile(Y, V, M, level=level)
    cap = np.maximum(100.0, 10.0 * fit.tau2)
    capped = hi > cap
    lo, hi = np.where(capped, np.minimum(lo, cap), lo), np.where(capped, cap, hi)
    s2 = fit.s2
    out = {"tau2_ci_low": lo, "tau2_ci_high": hi}
    for side, t in (("low", lo), ("high", hi)):
        fin = np.isfinite(t)
        out[f"i2_ci_{side}"] = np.where(fin, 100 * t / (t + s2), np.nan)
        out[f"h2_ci_{side}"] = np.where(fin, (t + s2) / s2, np.nan)
    out["_capped"] = capped
    return out


#: what a zero Knapp-Hartung SE means (identical effects); metafor reports the same numbers
KNHA_ZERO_SE_NOTE = ("identical effects: the Knapp-Hartung SE is 0 (zero-width CI, infinite "
                     "t), as in metafor; use test='z'")


def _notes(out, method, test, pi_method="metafor"):
    """Per-analysis notes (what pool() would say in its warnings), "" when nothing to say
    (``out``: the result columns as arrays)."""
    k = out["k"]
    notes = np.full(k.size, "", dtype=object)

    def add(mask, text):
        notes[mask] = np.where(notes[mask] == "", text, notes[mask] + "; " + text)

    add(k == 1, "one study: tau^2 = 0 (not estimable)" +
        ("; z test instead of Knapp-Hartung" if test == "knha" else ""))
    if method == "FE" and test == "knha":
        add(k > 1, "Knapp-Hartung with a common-effect model: SE scaled by sqrt(Q/(k - 1))")
    add(~out["converged"], f"{method} did not converge: last value reported")
    if pi_method in ("hts", "hk-pr") and method != "FE":
        add(k < 3, f"pi_method={pi_method!r} needs k >= 3 (t with k - 2 df): PI not defined")
    if test == "knha":
        add((k > 1) & (out["se"] == 0), KNHA_ZERO_SE_NOTE)
    if "_capped" in out:
        add(out["_capped"].astype(bool),
            "upper Q-profile limit of tau^2 beyond max(100, 10 tau^2): reported as that limit")
    return notes

"""Three-level meta-analysis: several rows per cluster (e.g. per study) with
:func:`pool_multilevel`, metafor's ``rma.mv(yi, vi, random = ~ 1 | cluster/obs)``.

The numeric core (block-diagonal likelihood, exact score equations) is
:mod:`iometa.core.multilevel_core`; the result type is :class:`iometa.core.multilevel_result.
MultilevelResult`. The model matrix is orthonormalised (X = QR) before the variance components
are estimated: the (restricted) likelihood depends on X only through its column space, and an
unscaled moderator such as a publication year would otherwise cost ~6 digits in the score.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd

from .._warnings import ConvergenceWarning, DataWarning, SmallSampleWarning
from .design import build_design
from .models import column, study_labels
from .multilevel_core import fit as _fit
from .multilevel_core import make_blocks
from .multilevel_result import MultilevelResult

__all__ = ["pool_multilevel"]

_METHODS = ("REML", "ML")
_TESTS = ("z", "t")


def _cluster_codes(cluster, data, k, labels):
    cl = column(cluster, data, "cluster")
    if cl is None:
        raise ValueError("cluster= is required: the cluster (e.g. study) of every row")
    cl = np.asarray(cl, dtype=object)
    if cl.size != k:
        raise ValueError(f"cluster has {cl.size} entries for {k} rows")
    miss = pd.isna(pd.Series(cl)).to_numpy()
    if miss.any():
        i = int(np.argmax(miss))
        raise ValueError(f"row {labels[i]!r} has no cluster (missing value): every row needs "
                         "the cluster it belongs to")
    codes, uniques = pd.factorize(pd.Series(cl), sort=False)
    return codes.astype(np.int64), cl


def _check_rows(y, v, X, labels):
    for name, arr in (("yi", y), ("vi", v)):
        bad = ~np.isfinite(arr)
        if bad.any():
            i = int(np.argmax(bad))
            raise ValueError(f"{name} of row {labels[i]!r} is {arr[i]!r}: every row needs a "
                             "finite effect size and sampling variance")
    if (v <= 0).any():
        i = int(np.argmax(v <= 0))
        raise ValueError(f"row {labels[i]!r} has sampling variance {v[i]:g}: expected > 0")
    bad = ~np.isfinite(X).all(axis=1)
    if bad.any():
        raise ValueError(f"row {labels[int(np.argmax(bad))]!r} has an infinite moderator value")


def _crit(level, df):
    from scipy.special import ndtri, stdtrit

    a = 1 - level
    return float(ndtri(1 - a / 2)) if df is None else float(stdtrit(df, 1 - a / 2))


def _pvals(stat, df):
    from scipy.special import ndtr, stdtr

    if df is None:
        return 2 * ndtr(-np.abs(stat))
    return 2 * stdtr(df, -np.abs(stat))


def _i2(v, X, sigma2):
    """Multilevel I² (Cheung 2014; metafor FAQ): 100 σ²/(Σσ² + ṽ), ṽ = (k − p)/tr P,
    P = W − WX(XᵀWX)⁻¹XᵀW with W = diag(1/v)."""
    w = 1 / v
    xw = X * w[:, None]
    trp = w.sum() - np.trace(np.linalg.solve(X.T @ xw, xw.T @ xw))
    vt = (X.shape[0] - X.shape[1]) / trp
    tot = sum(sigma2)
    return 100 * tot / (tot + vt), tuple(100 * s / (tot + vt) for s in sigma2)


def _reduction(codes, n_clusters, size_max):
    """(fixed components, note) when the three-level model reduces to two levels."""
    if n_clusters == 1:
        return (0.0, None), ("only one cluster: the between-cluster variance is not "
                             "identifiable (it is absorbed by the intercept), so the model "
                             "reduces to the two-level model; sigma2 between is set to 0 and "
                             "its interval, the LRT and the between-cluster I^2 are not "
                             "defined (nan)")
    if size_max == 1:
        return (None, 0.0), ("every cluster has one row: the within- and between-cluster "
                             "variances cannot be told apart, so the model reduces to the "
                             "two-level model rma(yi, vi) with tau^2 = sigma2 between; sigma2 "
                             "within is set to 0 and its interval and the LRT are not defined "
                             "(nan)")
    return (None, None), None


def pool_multilevel(yi, vi=None, *, cluster, method="REML", test="z", level=0.95, data=None,
                    labels=None, mods=None) -> MultilevelResult:
    """Three-level random-effects model for several effect sizes per cluster.

    Fits y = Xβ + u_cluster + e_row + ε (sampling error with variance ``vi``), the model of
    metafor's ``rma.mv(yi, vi, mods, random = ~ 1 | cluster/obs, method, test)``, by REML
    (default) or ML, solving the score equations exactly (metafor's optimiser stops ~1e-6
    away). ``yi``, ``vi``, ``cluster`` and ``labels`` are arrays or column names of
    ``data``, or pass a pooled inverse-variance result as ``yi`` (e.g. of
    :func:`iometa.pool_proportions` on rows of :func:`iometa.outcomes.outcome_rows`): its
    rows' yi/vi, labels and ``data`` (so ``cluster="study_id"``) and its measure, whose
    back-transformation gives ``estimate``, ``ci_low``, ``ci_high`` on the reporting scale;
    ``mods`` are moderators as in :func:`iometa.meta_regression` (array, DataFrame,
    column names or a formula string; the intercept is added). ``test="t"`` uses t with
    k − p df (metafor's ``test="t"``, no Knapp–Hartung scaling). Rows with a missing moderator
    are dropped (with a warning). With one cluster, or when every cluster has one row, the
    model reduces to two levels: a warning says so and the unidentifiable component is 0.

    References: Konstantopoulos 2011 (Res Synth Methods 2:61); Cheung 2014 (Psychol Methods
    19:211, multilevel I²); Van den Noortgate et al. 2013 (Behav Res Methods 45:576);
    Assink & Wibbelink 2016 (Quant Methods Psychol 12:154); Viechtbauer 2010 (J Stat Softw
    36(3)). R: ``metafor::rma.mv``, ``confint.rma.mv``, ``anova.rma``.

    Example
    -------
    >>> from iometa.core.multilevel import pool_multilevel
    >>> res = pool_multilevel([0.1, 0.3, 0.5, 0.2, 0.8, 0.9, 0.4],
    ...                              [0.02, 0.03, 0.02, 0.04, 0.02, 0.03, 0.05],
    ...                              cluster=["a", "a", "b", "b", "c", "c", "c"])
    >>> res.k, res.n_clusters, res.p
    (7, 3, 1)
    """
    if method not in _METHODS:
        raise ValueError(f"unknown method {method!r}: expected 'REML' or 'ML'")
    if test not in _TESTS:
        raise ValueError(f"unknown test {test!r}: expected 'z' or 't'")
    if not 0 < level < 1:
        raise ValueError(f"level must lie in (0, 1), got {level!r}")
    measure = "GEN"
    if hasattr(yi, "yi") and hasattr(yi, "measure"):  # a pooled result: its rows and scale
        res = yi
        if res.method == "GLMM" or vi is not None:
            raise ValueError("pool_multilevel(result, cluster=...) takes an inverse-variance "
                             "result (not a GLMM) and no separate vi")
        measure = res.measure
        data = res.data if data is None else data
        labels = list(res.labels) if labels is None else labels
        yi, vi = np.asarray(res.yi, float), np.asarray(res.vi, float)
    if vi is None:
        raise ValueError("vi is required (or pass a pooled result as the first argument)")
    y = np.asarray(column(yi, data, "yi"), dtype=float)
    v = np.asarray(column(vi, data, "vi"), dtype=float)
    if y.shape != v.shape:
        raise ValueError(f"yi and vi differ in length ({y.size} vs {v.size})")
    if y.size == 0:
        raise ValueError("no rows to pool (k = 0)")
    labs = study_labels(labels, data, y.size)
    codes, cl = _cluster_codes(cluster, data, y.size, labs)
    design = build_design(mods, data, y.size, intercept=True)
    notes: list[str] = []
    if not design.keep.all():
        dropped = [labs[i] for i in np.flatnonzero(~design.keep)]
        notes.append(f"{len(dropped)} row(s) without a value for the moderator(s) left out: "
                     f"{', '.join(dropped)}")
        warnings.warn(notes[-1], DataWarning, stacklevel=2)
    keep = design.keep
    y, v, X, cl = y[keep], v[keep], design.X[keep], cl[keep]
    labs = [lab for lab, kk in zip(labs, keep) if kk]
    codes = pd.factorize(codes[keep])[0].astype(np.int64)
    _check_rows(y, v, X, labs)
    k, p = X.shape
    if np.linalg.matrix_rank(X) < p:
        raise ValueError("the moderators are collinear (model matrix not of full rank): drop "
                         "a moderator or merge categories")
    if k <= p + 1:
        raise ValueError(f"{k} rows are too few for {p} coefficient(s) and the variance "
                         "components (expected at least p + 2 rows)")
    Q, R = np.linalg.qr(X)
    b = make_blocks(y, v, Q, codes)
    n_cl = int(b.starts.size)
    fixed, note = _reduction(codes, n_cl, int(b.size.max()))
    if note:
        notes.append(note)
        warnings.warn(note, SmallSampleWarning, stacklevel=2)
    start = _start(y, v, X, fixed)
    f = _fit(b, reml=method == "REML", start=start, fixed=fixed)
    if not f.converged:
        notes.append(f"the {method} estimates did not converge after {f.n_iter} iterations; the "
                     f"last values ({f.sigma2[0]:.6g}, {f.sigma2[1]:.6g}) are reported")
        warnings.warn(notes[-1], ConvergenceWarning, stacklevel=2)
    Rinv = np.linalg.inv(R)
    beta = Rinv @ f.beta
    vcov = Rinv @ f.vcov @ Rinv.T
    se = np.sqrt(np.diag(vcov))
    df = float(k - p) if test == "t" else None
    stat = beta / se
    crit = _crit(level, df)
    qe, qe_p = _q_fe(y, v, X)
    qm, qm_df, qm_p = _qm(beta, vcov, p, df)
    i2, i2_lv = _i2(v, X, f.sigma2)
    if fixed[0] is not None:
        i2_lv = (math.nan, i2_lv[1])
    one = (lambda a: float(a[0])) if p == 1 else (lambda a: a)
    return MultilevelResult(
        method=method, test=test, level=level, k=k, n_clusters=n_cl, p=p, terms=design.terms,
        coef=one(beta), se=one(se), stat=one(stat), pval=one(_pvals(stat, df)),
        coef_ci_low=one(beta - crit * se), coef_ci_high=one(beta + crit * se), vcov=vcov,
        df=df, sigma2=f.sigma2, q=qe, q_df=k - p, q_pval=qe_p, qm=qm, qm_df=qm_df,
        qm_pval=qm_p, i2=float(i2), i2_levels=i2_lv, loglik=f.loglik, converged=f.converged,
        n_iter=f.n_iter, yi=y, vi=v, X=X, cluster=cl, labels=tuple(labs), beta=beta,
        reduced=note, warnings=tuple(notes), measure=measure,
        data=None if data is None else data.reset_index(drop=True)[keep].reset_index(drop=True),
        _blocks=b, _fixed=fixed)


def _start(y, v, X, fixed):
    """Starting values: half each of the DerSimonian–Laird τ² of all rows (at least a small
    fraction of the spread of y), components held fixed at their value."""
    w = 1 / v
    xw = X * w[:, None]
    beta = np.linalg.solve(X.T @ xw, xw.T @ y)
    qe = float((w * (y - X @ beta) ** 2).sum())
    trp = w.sum() - np.trace(np.linalg.solve(X.T @ xw, xw.T @ xw))
    t2 = max((qe - (y.size - X.shape[1])) / trp, 0.01 * float(np.var(y)) + 1e-4 * float(v.mean()))
    return tuple(t2 / 2 if fx is None else fx for fx in fixed)


def _q_fe(y, v, X):
    from scipy.special import chdtrc

    w = 1 / v
    xw = X * w[:, None]
    beta = np.linalg.solve(X.T @ xw, xw.T @ y)
    q = float((w * (y - X @ beta) ** 2).sum())
    return q, float(chdtrc(y.size - X.shape[1], q))


def _qm(beta, vcov, p, df):
    """Omnibus test of the moderators (all coefficients but the intercept)."""
    if p == 1:
        return None, None, None
    from scipy.special import chdtrc, fdtrc

    bt = beta[1:]
    qm = float(bt @ np.linalg.solve(vcov[1:, 1:], bt))
    m = p - 1
    if df is None:
        return qm, m, float(chdtrc(m, qm))
    return qm / m, m, float(fdtrc(m, df, qm / m))



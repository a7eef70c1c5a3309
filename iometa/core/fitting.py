"""The batched numeric core: common- and random-effects fits of many meta-analyses at once.

:func:`fit_arrays` takes ``(B, k)`` arrays and returns a :class:`BatchFit` of ``(B,)`` arrays.
The single-analysis API (:func:`iometa.pool`, :func:`iometa.pool_proportions`), the batched
:func:`iometa.pool_many` and the diagnostics (leave-one-out, GOSH, cumulative) all call it: every
formula exists once.

Formulas (metafor ``rma.uni``/``predict.rma``/``confint.rma.uni`` conventions)
-------------------------------------------------------------------------
* weights wᵢ = 1/(vᵢ + τ²); μ̂ = Σwᵢyᵢ/Σwᵢ; SE = 1/√Σwᵢ.
* ``test="z"``: z = μ̂/SE, normal CI. ``test="knha"`` (Hartung & Knapp 2001; Sidik & Jonkman
  2002): SE × √(Σwᵢ(yᵢ − μ̂)²/(k − 1)), not truncated at 1, t with k − 1 df (for the
  common-effect model this is SE × √(Q/(k − 1)), as metafor does with a warning).
* ``test="knha", adhoc=True``: the Knapp–Hartung 2003 ad hoc correction, s² floored at 1
  (metafor's ``test="adhoc"``, meta's ``adhoc.hakn.ci="se"``).
* prediction interval μ̂ ± crit·√(SE² + τ²), by ``pi_method``: ``"metafor"`` (``predict.rma``:
  crit from z, or t(k − 1) with the Knapp–Hartung SE under knha), ``"hts"`` (t(k − 2) and the
  usual SE 1/√Σwᵢ whatever the test; Higgins, Thompson & Spiegelhalter 2009), ``"v"`` (t(k − 1)
  and the usual SE; Veroniki et al. 2019, meta's ``"V"``), ``"hk-pr"`` (the Knapp–Hartung SE —
  floored under ``adhoc`` — with t(k − 2); Partlett & Riley 2017). t with k − 2 df needs
  k ≥ 3: below, the PI is NaN (the pool functions warn). The common-effect model has no PI and
  reports its CI there, as metafor.
* Q = Σ(1/vᵢ)(yᵢ − μ̂_FE)², df = k − 1. Common effect: I² = max(0, (Q − df)/Q), H² = Q/df.
  Random effects: s² = (k − 1)Σwᵢ/((Σwᵢ)² − Σwᵢ²) with wᵢ = 1/vᵢ; I² = τ²/(τ² + s²),
  H² = (τ² + s²)/s² (Higgins & Thompson 2002).
* Q-profile CI of τ² (Viechtbauer 2007): the τ² at which the generalised Q equals the
  χ²(k − 1) quantiles 1 − α/2 and α/2; limits below 0 are 0. I² and H² CIs follow from it.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from . import _scalar_dist
from ._lazy import Deferred, LazyField
from ._solve import col, dot, ndim, scratch, where
from .estimators import TAU2, as_weights_mask, check_method, fixed_moments, prepare, root_q, sweep

TESTS = ("z", "knha")
PI_METHODS = ("metafor", "hts", "v", "hk-pr")


@dataclass(frozen=True)
class BatchFit:
    """Arrays of shape (B,) for B meta-analyses (``q_pval`` may be given as a Deferred)."""

    k: np.ndarray
    coef: np.ndarray
    se: np.ndarray
    stat: np.ndarray
    pval: np.ndarray
    df: np.ndarray  # t degrees of freedom (nan under test="z")
    ci_low: np.ndarray
    ci_high: np.ndarray
    pi_low: np.ndarray
    pi_high: np.ndarray
    tau2: np.ndarray
    q: np.ndarray
    q_df: np.ndarray
    q_pval: np.ndarray = LazyField()  # computed on first access (χ² tail: the costly part)
    i2: np.ndarray
    h2: np.ndarray
    s2: np.ndarray  # typical within-study variance
    converged: np.ndarray
    n_iter: np.ndarray
    weights: np.ndarray  # (B, k) model weights in percent (0 for padding)


@functools.cache
def _special():
    """scipy.special (imported on first use: ``import iometa`` stays light)."""
    from scipy import special

    return special


@functools.lru_cache(maxsize=512)
def _scalar_quantile(dist, p, df):
    # z and χ² (integer df) from math (_scalar_dist: no scipy import for one analysis)
    q = _scalar_dist.ndtri(p) if dist == "z" else (
        _scalar_dist.chi2_ppf(p, df) if dist == "chi2" else None)
    if q is None:
        sc = _special()
        q = {"z": lambda: sc.ndtri(p), "t": lambda: sc.stdtrit(df, p),
             "chi2": lambda: 2 * sc.gammaincinv(df / 2, p)}[dist]()
    return float(q)


def _z_pval(stat):
    """Two-sided normal p-value 2·Φ(−|stat|): math for a scalar, scipy.special for arrays."""
    if ndim(stat) == 0:
        return np.float64(2.0 * _scalar_dist.ndtr(-abs(float(stat))))
    return 2 * _special().ndtr(-np.abs(stat))


def quantile(dist, p, df=None):
    """Quantile of the standard normal (``"z"``), t or χ² distribution with ``df`` degrees of
    freedom (scipy.stats' ``ppf``: ndtri, stdtrit, 2·gammaincinv(df/2, p)); scalars cached."""
    if ndim(df) or ndim(p):
        sc = _special()
        if dist == "t":
            return sc.stdtrit(df, p)
        return 2 * sc.gammaincinv(df / 2, p)
    return _scalar_quantile(dist, float(p), None if df is None else float(df))


def _t_df(df):
    return where(df > 0, df, np.nan)


def typical_variance(v, m):
    """Higgins–Thompson typical within-study variance s² per analysis."""
    w = m / np.asarray(v, dtype=float)
    sw = w.sum(axis=-1)
    k = m.sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (k - 1) * sw / (sw**2 - (w * w).sum(axis=-1))


def fit_arrays(y, v, mask=None, *, method="REML", test="z", level=0.95, tau2=None,
               pi_method="metafor", adhoc=False) -> BatchFit:
    """Fit ``B`` meta-analyses given as ``(B, k)`` arrays (see the module docstring).

    ``tau2`` fixes τ² (scalar or per analysis) instead of estimating it. A batch of one
    analysis without padding is computed on 1-d arrays and scalars by the same code (fast).

    Example
    -------
    >>> fit = fit_arrays([[0.1, 0.5, 0.9]], [[0.04, 0.05, 0.06]], method="DL")
    >>> fit.coef.round(4), fit.tau2.round(4)
    (array([0.4834]), array([0.1107]))
    """
    _check_options(method, test, level, tau2, pi_method)
    opts = (pi_method, bool(adhoc))
    shared = _shared_rows(y, v, mask)
    y, v, m, k = prepare(y, v, mask) if shared is None else shared
    B = y.shape[0]
    fixed = None if tau2 is None else np.broadcast_to(np.asarray(tau2, dtype=float), (B,))
    if B == 1 and (mask is None or m.all()):
        out = _fit(y[0], v[0], None, y.shape[1], method, test, level,
                   None if fixed is None else fixed[0], *opts)
        out = {name: np.array((x,)) for name, x in out.items()}
        out["weights"] = out["weights"].reshape(1, -1)
        return BatchFit(**out)
    return BatchFit(**_fit(y, v, m if shared else as_weights_mask(m), k, method, test, level,
                           None if fixed is None else fixed.copy(), *opts))


def _shared_rows(y, v, mask):
    """Subsets of one set of studies (leave-one-out, GOSH, cumulative): ``y`` and ``v`` are
    one row broadcast to (B, k) (stride 0) with a mask. Then nothing needs copying or
    neutralising (the row is finite, v > 0: masked studies get weight exactly 0); returns
    ``(y, v, 0/1 float mask, k)``, or None for any other input (then :func:`prepare`)."""
    if mask is None or not (isinstance(y, np.ndarray) and isinstance(v, np.ndarray)):
        return None
    if y.ndim != 2 or y.shape != v.shape or y.shape[0] < 2 or y.strides[0] or v.strides[0]:
        return None
    if y.dtype != np.float64 or v.dtype != np.float64:
        return None
    if not (np.isfinite(y[0]).all() and np.isfinite(v[0]).all() and (v[0] > 0).all()):
        return None
    m = np.asarray(mask, dtype=bool)
    if m.shape != y.shape:
        return None
    return y, v, m.astype(float, order="F"), m.sum(axis=-1)


def fit_one(y, v, *, method="REML", test="z", level=0.95, tau2=None, pi_method="metafor",
            adhoc=False) -> dict:
    """One meta-analysis of 1-d float arrays ``y``, ``v`` (no padding): the fields of
    :class:`BatchFit` as scalars (``weights`` of shape (k,)) — :func:`fit_arrays`'s batch of
    one without the arrays around it (used by :func:`iometa.core.models.fit_result`).

    Example
    -------
    >>> import numpy as np
    >>> f = fit_one(np.array([0.1, 0.5, 0.9]), np.array([0.04, 0.05, 0.06]), method="DL")
    >>> round(float(f["coef"]), 4), round(float(f["tau2"]), 4)
    (0.4834, 0.1107)
    """
    _check_options(method, test, level, tau2, pi_method)
    return _fit(y, v, None, y.size, method, test, level, None if tau2 is None else float(tau2),
                pi_method, bool(adhoc))


def _check_options(method, test, level, tau2, pi_method="metafor"):
    if test not in TESTS:
        raise ValueError(f"unknown test {test!r}: expected 'z' or 'knha'")
    if pi_method not in PI_METHODS:
        raise ValueError(f"unknown pi_method {pi_method!r}: expected one of "
                         f"{', '.join(PI_METHODS)}")
    if not 0 < level < 1:
        raise ValueError(f"level must be between 0 and 1 (e.g. 0.95), got {level!r}")
    if tau2 is None:
        check_method(method)
    elif not np.all(np.isfinite(tau2)) or np.any(np.asarray(tau2) < 0):
        raise ValueError(f"a fixed tau2 must be a finite number >= 0, got {tau2!r}")


def _centred(y):
    """``y`` minus one of its own values per analysis (the first study), and that value.

    Every τ² estimator and Q is invariant to a shift of the effects; on the shifted effects
    identical effects are exactly 0, so their residuals, Q and τ² are exactly 0 (a weighted
    mean of identical large numbers can be one unit in the last place off, which would leave
    residuals of that size). The pooled coefficient is shifted back.
    """
    if y.ndim == 1:
        c = float(y[0])
        return (y - c if c != 0.0 else y), c
    if y.strides[0] == 0:  # one row broadcast to a batch of subsets: shift the row only
        c = float(y[0, 0])
        return np.broadcast_to(y[0] - c, y.shape), c
    c = np.ascontiguousarray(y[:, 0])
    return y - c[:, None], c


def _fit(y, v, m, k, method, test, level, tau2, pi_method="metafor", adhoc=False):
    """The fit on prepared arrays: (B, k) batches, or 1-d arrays and scalars for one analysis."""
    y, c = _centred(y)
    with np.errstate(invalid="ignore", divide="ignore"):
        z0 = fixed_moments(y, v, m)
        if tau2 is None:
            tf = TAU2[method](y, v, m, k, z0)
            t2, conv, nit = tf.tau2, tf.converged, tf.n_iter
        else:
            shape = np.shape(k)
            t2, conv, nit = tau2, np.ones(shape, bool) if shape else True, np.zeros(shape, int)
        return _summary(y, v, m, k, t2, z0, method == "FE" and tau2 is None, test, level,
                        conv, nit, pi_method, adhoc, c)


def _summary(y, v, m, k, t2, z0, fe, test, level, conv, nit, pi_method="metafor", adhoc=False,
             c=0.0):
    """Everything that follows from τ²: inference, prediction interval, heterogeneity
    (``y`` shifted by ``c``: the coefficient is shifted back)."""
    kh = test == "knha" or pi_method == "hk-pr"
    w = np.empty(y.shape, order="F" if y.ndim == 2 else "C")  # the weights are returned
    w, sw, mu, r, wr = sweep(y, v, m, t2, (w, *scratch(y, 2)) if kh else (w, None, None),
                             residuals=kh)
    mu = mu + c
    sw0, s20, _, q = z0
    p = 1 - (1 - level) / 2
    se = se_usual = 1.0 / np.sqrt(sw)
    if kh:
        s2kh = dot(wr, r) / (k - 1.0)
        se_kh = se * np.sqrt(np.maximum(s2kh, 1.0) if adhoc else s2kh)
    if test == "knha":
        df = k - 1.0
        se = se_kh
        crit = quantile("t", p, _t_df(df))
        stat = mu / se
        pval = 2 * _special().stdtr(_t_df(df), -np.abs(stat))
    else:
        df = np.full(np.shape(k), np.nan) if ndim(k) else np.nan
        crit = quantile("z", p)
        stat = mu / se
        pval = _z_pval(stat)
    sp = se if fe else np.sqrt(se**2 + t2)
    ci_low, ci_high = mu - crit * se, mu + crit * se
    if pi_method != "metafor" and not fe:
        se_pi = se_kh if pi_method == "hk-pr" else se_usual
        pdf = k - (1.0 if pi_method == "v" else 2.0)
        crit = quantile("t", p, _t_df(pdf))
        sp = np.sqrt(se_pi**2 + t2)
    q_df = k - 1
    s2 = q_df * sw0 / (sw0**2 - s20)
    if fe:
        i2 = where(q > 0, 100 * np.maximum(0.0, (q - q_df) / q), 0.0)
        h2 = where(q_df > 0, q / q_df, np.nan)
    else:
        i2 = where(t2 > 0, 100 * t2 / (t2 + s2), 0.0)
        h2 = where(t2 > 0, (t2 + s2) / s2, 1.0)
    q_pval = Deferred(lambda: _q_pval(q, q_df)) if ndim(k) else _q_pval(q, q_df)
    w *= 100 / col(sw)  # weights in percent, in place (w is not a scratch array)
    return dict(k=k, coef=mu, se=se, stat=stat, pval=pval, df=df, ci_low=ci_low,
                ci_high=ci_high, pi_low=mu - crit * sp, pi_high=mu + crit * sp, tau2=t2,
                q=q, q_df=q_df, q_pval=q_pval, i2=i2, h2=h2, s2=s2, converged=conv,
                n_iter=nit, weights=w)


def _q_pval(q, q_df):
    if ndim(q) == 0 and ndim(q_df) == 0:  # one analysis: math where exact (no scipy import)
        if not q_df > 0:
            return 1.0
        pv = _scalar_dist.chi2_sf(float(q_df), float(q))
        if pv is not None:
            return np.float64(pv)
    with np.errstate(invalid="ignore"):
        return where(q_df > 0, _special().chdtrc(where(q_df > 1, q_df, 1), q), 1.0)


def chi2_quantile(p, df):
    """χ² quantile (scipy.stats.chi2.ppf): 2·P⁻¹(df/2, p), P the regularised gamma function."""
    return quantile("chi2", p, df)


def tau2_ci_qprofile(y, v, mask=None, *, level=0.95):
    """Q-profile confidence interval of τ² (Viechtbauer 2007), metafor ``confint`` (type "QP").

    Returns ``(low, high)`` arrays of shape (B,). The lower limit is 0 when Q(0) is below the
    upper χ² quantile; both are 0 when Q(0) is below the lower quantile.

    Example
    -------
    >>> lo, hi = tau2_ci_qprofile([[0.1, 0.5, 0.9, 0.2]], [[0.04, 0.05, 0.06, 0.03]])
    >>> float(lo[0]) >= 0 and float(hi[0]) > float(lo[0])
    True
    """
    y, v, m, k = prepare(y, v, mask)
    if y.shape[0] == 1 and (mask is None or m.all()):
        low, high = _qprofile(y[0], v[0], None, y.shape[1], level)
        return np.reshape(low, (1,)), np.reshape(high, (1,))
    return _qprofile(y, v, as_weights_mask(m), k, level)


def _qprofile(y, v, m, k, level):
    a = 1.0 - level
    df = where(k > 1, k - 1, 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        z0 = fixed_moments(y, v, m)
        low = root_q(y, v, m, k, chi2_quantile(1 - a / 2, df), z0).tau2
        high = root_q(y, v, m, k, chi2_quantile(a / 2, df), z0).tau2
    few = k < 2
    return where(few, np.nan, low), where(few, np.nan, high)


def reweighted(f, yi, vi, a, *, test, level, pi_method="metafor", adhoc=False, fe=False):
    """Inference of one fit ``f`` (the fields of :func:`fit_one`) redone with user weights
    ``a`` (``rma(weights=)``; all ones for ``weighted=False``): μ̂ = Σaᵢyᵢ/Σaᵢ,
    Var = Σaᵢ²(vᵢ + τ̂²)/(Σaᵢ)²; under Knapp–Hartung times s² = Σwᵢ(yᵢ − μ̂_IV)²/(k − 1) of the
    inverse-variance fit (floored at 1 under ``adhoc``), as metafor. τ², Q, I², H² are those of
    ``f`` (the weights enter only the estimate and its SE). Returns a copy of ``f``.

    Example
    -------
    >>> import numpy as np
    >>> y, v = np.array([0.1, 0.5, 0.9]), np.array([0.04, 0.05, 0.06])
    >>> g = reweighted(fit_one(y, v, method="DL"), y, v, np.ones(3), test="z", level=0.95)
    >>> round(float(g["coef"]), 4)
    0.5
    """
    sc = _special()
    k, t2 = yi.size, float(f["tau2"])
    sa = float(a.sum())
    mu = float(a @ yi) / sa
    se = se_usual = float(np.sqrt((a * a) @ (vi + t2))) / sa
    p = 1 - (1 - level) / 2
    g = dict(f)
    if test == "knha" or pi_method == "hk-pr":
        w = 1.0 / (vi + t2)
        r = yi - float(w @ yi) / float(w.sum())
        s2 = float(w @ (r * r)) / (k - 1)
        se_kh = se * np.sqrt(max(s2, 1.0) if adhoc else s2)
    if test == "knha":
        se = se_kh
        crit = quantile("t", p, _t_df(k - 1.0))
        stat = mu / se
        pval = 2 * sc.stdtr(_t_df(k - 1.0), -abs(stat))
    else:
        crit = quantile("z", p)
        stat = mu / se
        pval = 2 * sc.ndtr(-abs(stat))
    g.update(coef=mu, se=se, stat=stat, pval=pval, ci_low=mu - crit * se,
             ci_high=mu + crit * se, weights=100 * a / sa)
    sp = se if fe else np.sqrt(se**2 + t2)
    if pi_method != "metafor" and not fe:
        crit = quantile("t", p, _t_df(k - (1.0 if pi_method == "v" else 2.0)))
        sp = np.sqrt((se_kh if pi_method == "hk-pr" else se_usual) ** 2 + t2)
    g.update(pi_low=mu - crit * sp, pi_high=mu + crit * sp)
    return g

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
* prediction interval μ̂ ± crit·√(SE² + τ²) (crit from z or t(k − 1)); the common-effect model
  has none and reports its CI there, as metafor.
* Q = Σ(1/vᵢ)(yᵢ − μ̂_FE)², df = k − 1. Common effect: I² = max(0, (Q − df)/Q), H² = Q/df.
  Random effects: s² = (k − 1)Σwᵢ/((Σwᵢ)² − Σwᵢ²) with wᵢ = 1/vᵢ; I² = τ²/(τ² + s²),
  H² = (τ² + s²)/s² (Higgins & Thompson 2002).
* Q-profile CI of τ² (Viechtbauer 2007): the τ² at which the generalised Q equals the
  χ²(k − 1) quantiles 1 − α/2 and α/2; limits below 0 are 0. I² and H² CIs follow from it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .estimators import estimate_tau2, prepare, q_root, weighted

TESTS = ("z", "knha")


@dataclass(frozen=True)
class BatchFit:
    """Arrays of shape (B,) for B meta-analyses."""

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
    q_pval: np.ndarray
    i2: np.ndarray
    h2: np.ndarray
    s2: np.ndarray  # typical within-study variance
    converged: np.ndarray
    n_iter: np.ndarray
    weights: np.ndarray  # (B, k) model weights in percent (0 for padding)


def _crit(level, df):
    from scipy import stats

    a = 1.0 - level
    z = stats.norm.ppf(1 - a / 2)
    with np.errstate(invalid="ignore"):
        t = stats.t.ppf(1 - a / 2, np.where(df > 0, df, np.nan))
    return z, t


def _pvalues(stat, df, knha):
    from scipy import stats

    with np.errstate(invalid="ignore"):
        pt = 2 * stats.t.sf(np.abs(stat), np.where(df > 0, df, np.nan))
    pz = 2 * stats.norm.sf(np.abs(stat))
    return np.where(knha, pt, pz)


def typical_variance(v, m):
    """Higgins–Thompson typical within-study variance s² per analysis."""
    w = m / v
    sw = w.sum(axis=-1)
    k = m.sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (k - 1) * sw / (sw**2 - (w * w).sum(axis=-1))


def fit_arrays(y, v, mask=None, *, method="REML", test="z", level=0.95, tau2=None) -> BatchFit:
    """Fit ``B`` meta-analyses given as ``(B, k)`` arrays (see the module docstring).

    ``tau2`` fixes τ² (scalar or per analysis) instead of estimating it.

    Example
    -------
    >>> fit = fit_arrays([[0.1, 0.5, 0.9]], [[0.04, 0.05, 0.06]], method="DL")
    >>> fit.coef.round(4), fit.tau2.round(4)
    (array([0.4834]), array([0.1107]))
    """
    if test not in TESTS:
        raise ValueError(f"unknown test {test!r}: expected 'z' or 'knha'")
    if not 0 < level < 1:
        raise ValueError(f"level must be between 0 and 1 (e.g. 0.95), got {level!r}")
    y, v, m, k = prepare(y, v, mask)
    B = y.shape[0]
    if tau2 is None:
        tf = estimate_tau2(y, v, m, method=method)
        t2, conv, nit = tf.tau2, tf.converged, tf.n_iter
    else:
        t2 = np.broadcast_to(np.asarray(tau2, dtype=float), (B,)).copy()
        conv, nit = np.ones(B, bool), np.zeros(B, int)
    fe = method == "FE" and tau2 is None
    w, sw, mu, r, qgen = weighted(y, v, m, t2)
    se = 1.0 / np.sqrt(sw)
    q = weighted(y, v, m, np.zeros(B))[4]
    q_df = k - 1
    knha = test == "knha"
    df = np.where(knha, k - 1.0, np.nan)
    if knha:
        with np.errstate(invalid="ignore", divide="ignore"):
            se = se * np.sqrt(qgen / (k - 1))
    z, t = _crit(level, df)
    crit = t if knha else np.full(B, z)
    with np.errstate(invalid="ignore", divide="ignore"):
        stat = mu / se
    pval = _pvalues(stat, df, knha)
    ci_low, ci_high = mu - crit * se, mu + crit * se
    if fe:
        pi_low, pi_high = ci_low, ci_high
    else:
        sp = np.sqrt(se**2 + t2)
        pi_low, pi_high = mu - crit * sp, mu + crit * sp
    q_pval = _chi2_sf(q, q_df)
    s2 = typical_variance(v, m)
    with np.errstate(invalid="ignore", divide="ignore"):
        if fe:
            i2 = np.where(q > 0, 100 * np.maximum(0.0, (q - q_df) / q), 0.0)
            h2 = np.where(q_df > 0, q / q_df, np.nan)
        else:
            i2 = np.where(t2 > 0, 100 * t2 / (t2 + s2), 0.0)
            h2 = np.where(t2 > 0, (t2 + s2) / s2, 1.0)
    weights = 100 * w / sw[:, None]
    return BatchFit(k, mu, se, stat, pval, df, ci_low, ci_high, pi_low, pi_high, t2, q, q_df,
                    q_pval, i2, h2, s2, conv, nit, weights)


def _chi2_sf(q, df):
    from scipy import stats

    with np.errstate(invalid="ignore"):
        return np.where(df > 0, stats.chi2.sf(q, np.maximum(df, 1)), 1.0)


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
    from scipy import stats

    y, v, m, k = prepare(y, v, mask)
    a = 1.0 - level
    df = np.maximum(k - 1, 1)
    crit_hi = stats.chi2.ppf(1 - a / 2, df)
    crit_lo = stats.chi2.ppf(a / 2, df)
    low = q_root(y, v, m, crit_hi).tau2
    high = q_root(y, v, m, crit_lo).tau2
    few = k < 2
    return np.where(few, np.nan, low), np.where(few, np.nan, high)

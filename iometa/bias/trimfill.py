"""Duval and Tweedie's trim-and-fill method, as metafor's ``trimfill.rma.uni`` (3.8-1).

Algorithm (metafor's conventions):

1. ``side`` (where studies are missing): from the slope of ``rma(yi ~ sqrt(vi))`` with the
   model's τ² estimator — "right" when the slope is negative, else "left". The right side is
   handled by flipping the signs of yᵢ.
2. Studies are sorted by yᵢ (stable). Starting from k₀ = 0, the k − k₀ smallest studies are
   pooled (same method, z test), the centred values yᵢ − μ̂ ranked by absolute value (ties by
   order) and k₀ re-estimated: L0 = (4Sᵣ − k(k + 1))/(2k − 1) with Sᵣ the sum of the positive
   signed ranks, R0 = k − (largest rank of a negative value) − 1, or Q0; k₀ = max(0,
   round(k₀)) with R's rounding (half to even); until k₀ no longer changes.
3. If k₀ > 0, the k₀ most extreme studies are mirrored about the last trimmed estimate and the
   model refitted to the k + k₀ studies with the same τ² estimator and metafor's defaults:
   **z test and 95% level** (trimfill passes neither). If k₀ = 0 the input result is returned.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..core.fitting import fit_arrays
from ..core.format import fmt
from ..core.measures import MEASURES
from ..core.models import fit_result
from ..core.results import MetaResult
from ..core.spec import ModelSpec, register_fitter
from ..core.subsets import require_variances
from ._core import metareg_fit

ESTIMATORS = ("L0", "R0", "Q0")
MAXITER = 100


@dataclass(frozen=True)
class TrimFillResult:
    """Trim-and-fill: ``k0`` filled studies on ``side``; ``coef``, ``se`` (model scale),
    ``estimate``, ``ci_low``, ``ci_high``, ``pi_low``, ``pi_high`` (reporting scale) of the
    adjusted model ``result``; ``filled`` (the imputed studies); ``original`` (the input)."""

    k0: int
    side: str
    estimator: str
    se_k0: float
    p_k0: float  # R0 only: P(k0 >= observed) under no asymmetry; nan for L0/Q0
    coef: float
    se: float
    estimate: float
    ci_low: float
    ci_high: float
    pi_low: float
    pi_high: float
    filled: pd.DataFrame
    result: MetaResult  # the adjusted MetaResult
    original: MetaResult

    def summary(self, digits: int = 4, pscale: float = 1) -> str:
        """Text: k0 and the adjusted estimate beside the unadjusted one (reporting scale;
        ``pscale`` as :meth:`iometa.MetaResult.summary`, e.g. 100 for percent).

        Example
        -------
        >>> import iometa
        >>> res = iometa.pool_proportions([5, 9, 12, 20, 30], [40, 45, 50, 60, 70])
        >>> "estimate" in iometa.trim_and_fill(res).summary(pscale=100)
        True
        """
        from ..core.format import check_pscale

        ps = check_pscale(self.original, pscale)
        r = self.result
        lvl = int(round(100 * r.level))
        return "\n".join([
            f"Trim-and-fill ({self.estimator}): estimated number of missing studies on the "
            f"{self.side} side: {self.k0} (SE = {fmt(self.se_k0, digits)})",
            f"Adjusted model (k = {r.k}, {r.method}): estimate "
            f"{fmt(ps * self.estimate, digits)} ({lvl}% CI {fmt(ps * self.ci_low, digits)} to "
            f"{fmt(ps * self.ci_high, digits)}); unadjusted "
            f"{fmt(ps * self.original.estimate, digits)}"])

    def __str__(self) -> str:
        return self.summary()

    def __repr__(self) -> str:
        from ..core.format import one_line

        return one_line("TrimFillResult", (self.estimator, f"k0={self.k0}", f"side={self.side}"),
                        self.estimate, (self.ci_low, self.ci_high))


def _pooled(y, v, method):
    return float(fit_arrays(y[None], v[None], method=method).coef[0])


def _k0_step(yc, estimator):
    """One update of k₀ (unrounded) and its SE from the centred values ``yc``."""
    k = yc.size
    ranks = np.empty(k)
    ranks[np.argsort(np.abs(yc), kind="stable")] = np.arange(1, k + 1)
    signed = np.sign(yc) * ranks
    if estimator == "R0":
        neg = -signed[signed < 0]
        if neg.size == 0:
            raise ValueError("the R0 estimator is undefined: no study lies below the trimmed "
                             "estimate")
        k0 = (k - neg.max()) - 1
        return k0, np.sqrt(2 * max(0.0, k0) + 2)
    sr = signed[signed > 0].sum()
    with np.errstate(invalid="ignore"):
        k0 = ((4 * sr - k * (k + 1)) / (2 * k - 1) if estimator == "L0"
              else k - 0.5 - np.sqrt(2 * k**2 - 4 * sr + 0.25))
    var_sr = (k * (k + 1) * (2 * k + 1) + 10 * k0**3 + 27 * k0**2 + 17 * k0
              - 18 * k * k0**2 - 18 * k * k0 + 6 * k**2 * k0) / 24
    with np.errstate(invalid="ignore"):
        if estimator == "L0":
            se = 4 * np.sqrt(var_sr) / (2 * k - 1)
        else:
            se = 2 * np.sqrt(var_sr) / np.sqrt((k - 0.5) ** 2 - k0 * (2 * k - k0 - 1))
    return k0, se


def _estimate_k0(y, v, method, estimator):
    """Iterate trimming until k₀ is stable; returns k₀, its SE and the last trimmed estimate."""
    k = y.size
    k0, previous, se, beta = 0, -1, np.nan, np.nan
    for _ in range(MAXITER):
        if k0 == previous:
            return k0, se, beta
        if k0 >= k:
            raise ValueError("trim and fill would trim every study; no adjusted estimate")
        previous = k0
        beta = _pooled(y[: k - k0], v[: k - k0], method)
        raw, se = _k0_step(y - beta, estimator)
        if np.isnan(raw):  # metafor stops here too ("missing value where TRUE/FALSE needed")
            raise ValueError(f"the {estimator} estimator of the number of missing studies is "
                             "undefined for these data (negative square root); use 'L0' or "
                             "'R0'")
        k0 = max(0, int(np.round(raw)))  # numpy, like R, rounds half to even
        se = float(se) if np.isnan(se) else max(0.0, float(se))
    raise ValueError(f"the trim-and-fill algorithm did not converge in {MAXITER} iterations")


def _side(result):
    fit = metareg_fit(result.yi, result.vi, np.sqrt(result.vi), method=result.method)
    return "right" if fit.coef[1] < 0 else "left"


def adjusted_model(yi, vi, filled, n=None, *, labels, data=None, measure="GEN", method="REML",
                   test="z", level=0.95):
    """The trim-and-fill adjusted model of the k + k₀ studies (observed and ``filled``):
    inverse-variance pooling of ``yi``/``vi``, reported on ``measure``'s scale (the registry's
    back-transformation; Freeman–Tukey with the observed studies' ``n``). Registered for
    :func:`iometa.refit`, so the adjusted result refits on subsets like any other."""
    filled = np.asarray(filled, bool)
    cols = {"filled": filled}
    nn = None
    if n is not None:
        cols["n"] = nn = np.asarray(n, float)
    row = MEASURES.get(measure, MEASURES["GEN"])
    n_obs = None if nn is None else nn[~filled]

    def bt(x):
        return row.backtransform(np.asarray(x, float), n=n_obs)

    spec = ModelSpec("trim_and_fill_model", measure, method, test, level)
    inputs = {"yi": np.asarray(yi, float), "vi": np.asarray(vi, float), "filled": filled,
              "n": nn}
    kind = {"proportion": "proportion", "median": "median", "survival_rate": "survival_rate"}
    return fit_result(yi, vi, labels=labels, study_columns=cols, data=data, measure=measure,
                      method=method, test=test, level=level, kind=kind.get(row.family, "generic"),
                      scale=row.axis if row.axis != "months" else "months",
                      backtransform=None if row.family == "generic" else bt, spec=spec,
                      inputs=inputs)


register_fitter("trim_and_fill_model", adjusted_model, ("measure", "method", "test", "level"))


def _filled_frame(result, y, v, labels, n):
    from scipy.special import ndtri

    z, se = float(ndtri(0.975)), np.sqrt(v)
    df = pd.DataFrame({"label": labels, "yi": y, "vi": v,
                       "estimate": result.backtransform(y),
                       "ci_low": result.backtransform(y - z * se),
                       "ci_high": result.backtransform(y + z * se)})
    if n is not None:
        df["n"] = n
    return df


def trim_and_fill(result, estimator="L0", side=None) -> TrimFillResult:
    """Duval and Tweedie's trim-and-fill adjustment for funnel-plot asymmetry.

    Estimates the number ``k0`` of studies missing on ``side`` (``"left"``/``"right"``; None:
    from the sign of the slope of the meta-regression of yᵢ on √vᵢ, negative → right) with
    the ``"L0"`` (default), ``"R0"`` or ``"Q0"`` estimator, imputes their mirror images and
    refits. Returns a :class:`TrimFillResult`: ``k0``, ``side``, ``se_k0``, ``coef`` and ``se``
    (model scale), ``estimate``, ``ci_low``, ``ci_high`` (reporting scale, through the input's
    back-transformation) of the adjusted model, ``filled`` (DataFrame: label "Filled i", yi,
    vi, the reporting-scale estimate and 95% CI, and n when known) and ``result`` (the
    adjusted :class:`~iometa.MetaResult`, whose ``studies`` has a ``filled`` column). As
    metafor, the adjusted model uses the input's τ² estimator with the z test and a 95% level
    whatever the input's test and level; with k0 = 0 ``result`` is the input itself. The
    adjusted estimate is a sensitivity analysis, not a corrected truth. Not available for GLMM
    results. metafor: ``trimfill(res, estimator =, side =)``.

    References: Duval S, Tweedie R (2000). Trim and fill: a simple funnel-plot-based method of
    testing and adjusting for publication bias in meta-analysis. Biometrics 56:455-463.
    Duval S, Tweedie R (2000). A nonparametric "trim and fill" method of accounting for
    publication bias in meta-analysis. JASA 95:89-98.

    Example
    -------
    >>> import iometa
    >>> yi = [0.10, 0.15, 0.32, 0.45, 0.52, 0.61, 0.70, 0.85, 0.05, 0.30]
    >>> vi = [0.010, 0.012, 0.030, 0.050, 0.060, 0.080, 0.090, 0.120, 0.008, 0.020]
    >>> tf = iometa.trim_and_fill(iometa.pool(yi, vi, method="FE"))
    >>> tf.k0, tf.side, round(tf.estimate, 4)
    (5, 'left', 0.1389)
    """
    if estimator not in ESTIMATORS:
        raise ValueError(f"unknown estimator {estimator!r}: expected 'L0', 'R0' or 'Q0'")
    if side not in (None, "left", "right"):
        raise ValueError(f"side must be 'left', 'right' or None, got {side!r}")
    if result.method in ("GLMM", "MH", "Peto"):
        raise ValueError(f"trim and fill needs an inverse-variance model (metafor's trimfill "
                         f"takes rma.uni only, not a {result.method} fit): refit with an "
                         f"inverse-variance method, e.g. result.refit(method='FE') or 'REML'")
    require_variances(result, "trim and fill")
    if result.k < 3:
        raise ValueError(f"trim and fill needs at least 3 studies (k = {result.k})")
    side = side or _side(result)
    sign = -1.0 if side == "right" else 1.0
    order = np.argsort(sign * result.yi, kind="stable")
    y, v = sign * result.yi[order], result.vi[order]
    k0, se_k0, beta = _estimate_k0(y, v, result.method, estimator)
    p_k0 = 0.5 ** (k0 + 1) if estimator == "R0" else np.nan
    n_all = result.studies["n"].to_numpy(float) if "n" in result.studies else None
    if k0 == 0:
        empty = _filled_frame(result, np.empty(0), np.empty(0), [], None if n_all is None
                              else np.empty(0))
        return _finish(result, k0, side, estimator, se_k0, p_k0, empty, result)
    tail = order[result.k - k0:]
    yf = sign * (2 * beta - y[result.k - k0:])
    vf = result.vi[tail]
    labels = [f"Filled {i + 1}" for i in range(k0)]
    nf = None if n_all is None else n_all[tail]
    filled_flags = np.r_[np.zeros(result.k, bool), np.ones(k0, bool)]
    adjusted = adjusted_model(np.r_[result.yi, yf], np.r_[result.vi, vf], filled_flags,
                              None if n_all is None else np.r_[n_all, nf],
                              labels=result.labels + labels, measure=result.measure,
                              method=result.method, test="z", level=0.95)
    filled = _filled_frame(result, yf, vf, labels, nf)
    return _finish(result, k0, side, estimator, se_k0, p_k0, filled, adjusted)


def _finish(original, k0, side, estimator, se_k0, p_k0, filled, adjusted):
    return TrimFillResult(
        k0=int(k0), side=side, estimator=estimator, se_k0=float(se_k0), p_k0=float(p_k0),
        coef=adjusted.coef, se=adjusted.se, estimate=adjusted.estimate, ci_low=adjusted.ci_low,
        ci_high=adjusted.ci_high, pi_low=adjusted.pi_low, pi_high=adjusted.pi_high,
        filled=filled, result=adjusted, original=original)

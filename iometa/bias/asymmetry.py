"""Small-study effects (funnel-plot asymmetry): Egger's, Begg's and Peters' tests, trim-and-fill.

All take a pooled result (:func:`iometa.pool`, :func:`iometa.pool_proportions`, …) and follow
metafor 3.8-1: :func:`egger_test` is ``regtest(res)``, :func:`peters_test` is
``regtest(res, model = "lm", predictor = "ninv")``, :func:`begg_test` is ``ranktest(res)`` and
:func:`trim_and_fill` (in :mod:`iometa.bias.trimfill`) is ``trimfill(res)``.

These tests have little power with fewer than 10 studies (Sterne et al. 2011, BMJ 343:d4002);
a warning says so.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from .._warnings import SmallSampleWarning
from ..core.format import fmt, fmt_p
from ..core.subsets import require_variances, tau2_fixed
from ._core import kendall_test, metareg_fit, wls_lm_fit
from .trimfill import TrimFillResult, trim_and_fill

__all__ = ["egger_test", "begg_test", "peters_test", "trim_and_fill", "RegressionTestResult",
           "RankTestResult", "TrimFillResult"]

MIN_K_POWER = 10


def _p(p, digits):
    txt = fmt_p(p, digits)
    return f"p {txt[0]} {txt[1:]}" if txt.startswith("<") else f"p = {txt}"


@dataclass(frozen=True)
class RegressionTestResult:
    """A regression test for funnel-plot asymmetry (metafor's ``regtest`` object).

    ``stat`` is the z (or t, with ``df``) statistic of the slope, ``pval`` its two-sided
    p-value; ``limit_estimate`` is the intercept (the effect as the predictor → 0, i.e. of an
    infinitely large study) with its CI, on the model scale.
    """

    name: str
    model: str  # "rma" (mixed-effects meta-regression) or "lm" (weighted least squares)
    predictor: str  # "sei" (standard error) or "ninv" (1/n)
    method: str
    stat: float
    pval: float
    df: float | None
    slope: float
    slope_se: float
    limit_estimate: float
    limit_ci_low: float
    limit_ci_high: float
    tau2: float
    k: int
    level: float
    warnings: tuple[str, ...] = ()

    def to_frame(self) -> pd.DataFrame:
        """One tidy row."""
        row = asdict(self)
        row["warnings"] = "; ".join(self.warnings)
        return pd.DataFrame([row])

    def summary(self, digits: int = 4) -> str:
        stat = "t" if self.df is not None else "z"
        dfs = f", df = {fmt(self.df, 0)}" if self.df is not None else ""
        pred = {"sei": "standard error", "ninv": "inverse of the sample size"}[self.predictor]
        model = {"lm": "weighted regression with multiplicative dispersion",
                 "rma": "mixed-effects meta-regression model"}[self.model]
        if self.model == "rma" and self.method == "FE":
            model = "fixed-effects meta-regression model"
        lvl = int(round(100 * self.level))
        lines = [f"{self.name} for funnel plot asymmetry (k = {self.k})",
                 f"Model: {model}; predictor: {pred}",
                 f"Test: {stat} = {fmt(self.stat, digits)}{dfs}, {_p(self.pval, digits)}",
                 f"Limit estimate (as {self.predictor} -> 0): b = "
                 f"{fmt(self.limit_estimate, digits)} ({lvl}% CI {fmt(self.limit_ci_low, digits)}"
                 f" to {fmt(self.limit_ci_high, digits)})"]
        return "\n".join(lines + [f"Note: {w}" for w in self.warnings])

    __str__ = summary

    def __repr__(self) -> str:
        from ..core.format import fmt_p, one_line

        stat = "t" if self.df is not None else "z"
        return one_line("RegressionTestResult", (self.name, f"k={self.k}"),
                        extra=f"{stat}={self.stat:.3g}, p={fmt_p(self.pval)}")


@dataclass(frozen=True)
class RankTestResult:
    """Begg's rank correlation test (metafor's ``ranktest`` object): ``stat`` is Kendall's τ
    (also ``tau``), ``pval`` exact (``exact=True``) or from the normal approximation."""

    stat: float
    pval: float
    exact: bool
    ties: bool
    k: int
    warnings: tuple[str, ...] = ()
    df = None

    @property
    def tau(self) -> float:
        return self.stat

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame([{"stat": self.stat, "pval": self.pval, "exact": self.exact,
                              "ties": self.ties, "k": self.k,
                              "warnings": "; ".join(self.warnings)}])

    def summary(self, digits: int = 4) -> str:
        how = "exact" if self.exact else "normal approximation (ties present)"
        lines = [f"Rank correlation test for funnel plot asymmetry (k = {self.k})",
                 f"Kendall's tau = {fmt(self.stat, digits)}, {_p(self.pval, digits)} "
                 f"({how})"]
        return "\n".join(lines + [f"Note: {w}" for w in self.warnings])

    __str__ = summary

    def __repr__(self) -> str:
        from ..core.format import fmt_p, one_line

        return one_line("RankTestResult", (f"k={self.k}",),
                        extra=f"tau={self.stat:.3g}, p={fmt_p(self.pval)}")


def _checked(result, what, min_k=3):
    require_variances(result, what)
    if result.k < min_k:
        raise ValueError(f"{what} needs at least {min_k} studies (this result has k = "
                         f"{result.k})")
    msgs = []
    if result.k < MIN_K_POWER:
        msgs.append(f"only {result.k} studies: tests for small-study effects have little power "
                    f"below {MIN_K_POWER} studies, so a non-significant result does not show "
                    "that there is no bias (Sterne et al. 2011)")
        warnings.warn(msgs[-1], SmallSampleWarning, stacklevel=3)
    return tuple(msgs)


def _regression_result(name, model, predictor, method, fit, k, level, msgs):
    return RegressionTestResult(
        name=name, model=model, predictor=predictor, method=method, stat=float(fit.stat[1]),
        pval=float(fit.pval[1]), df=fit.df, slope=float(fit.coef[1]), slope_se=float(fit.se[1]),
        limit_estimate=float(fit.coef[0]), limit_ci_low=float(fit.ci_low[0]),
        limit_ci_high=float(fit.ci_high[0]), tau2=float(fit.tau2), k=k, level=level,
        warnings=msgs)


#: regtest's predictors whose limit estimate is the intercept (the predictor → 0)
EGGER_PREDICTORS = {"sei": "SE", "vi": "variance", "ninv": "1/n", "sqrtninv": "1/sqrt(n)"}


def egger_test(result, predictor="sei", ni=None) -> RegressionTestResult:
    """Egger's regression test: the mixed-effects meta-regression yᵢ = β₀ + β₁·SEᵢ.

    ``predictor`` as metafor's ``regtest``: ``"sei"`` (default), ``"vi"``, ``"ninv"`` (1/nᵢ)
    or ``"sqrtninv"`` (1/√nᵢ, the sample-size based variant); the sample sizes come from
    ``ni`` or ``result.studies["n"]``. metafor: ``regtest(res, predictor="sqrtninv", ni=)``.

    Fitted with the result's τ² estimator, test (z, or t with k − 2 df under Knapp–Hartung),
    level and fixed τ² (if any); ``stat`` is the z or t of the slope β₁, ``limit_estimate`` the
    intercept β₀ (the "limit estimate" as SE → 0) with its CI. A common-effect result gives the
    weighted regression with unit dispersion (Egger's original test uses the
    multiplicative-dispersion variant: ``test="knha"`` with ``method="FE"``). Not available for
    GLMM results (as metafor). metafor: ``regtest(res)``.

    References: Egger M, Davey Smith G, Schneider M, Minder C (1997). Bias in meta-analysis
    detected by a simple, graphical test. BMJ 315:629-634. Sterne JAC, Egger M (2005).
    Regression methods to detect publication and other bias in meta-analysis. In: Rothstein,
    Sutton, Borenstein (eds), Publication Bias in Meta-Analysis. Wiley.

    Example
    -------
    >>> import iometa
    >>> yi = [0.10, 0.15, 0.32, 0.45, 0.52, 0.61, 0.70, 0.85, 0.05, 0.30]
    >>> vi = [0.010, 0.012, 0.030, 0.050, 0.060, 0.080, 0.090, 0.120, 0.008, 0.020]
    >>> eg = iometa.egger_test(iometa.pool(yi, vi, method="REML"))
    >>> round(eg.stat, 4), eg.pval < 0.001
    (3.9945, True)
    """
    if result.method == "GLMM":
        raise ValueError("Egger's test needs an inverse-variance model (metafor's regtest does "
                         "not take rma.glmm): refit with measure='PLO' and e.g. method='REML'")
    if predictor not in EGGER_PREDICTORS:
        raise ValueError(f"unknown predictor {predictor!r}: expected one of "
                         f"{', '.join(EGGER_PREDICTORS)}")
    msgs = _checked(result, "Egger's test")
    yi, vi, method, tau2 = result.yi, result.vi, result.method, tau2_fixed(result)
    keep = slice(None)
    if method in ("MH", "Peto"):  # as metafor's regtest on rma.mh/rma.peto: a common-effect
        keep = np.isfinite(yi) & np.isfinite(vi)  # fit of the studies with a defined effect
        yi, vi, method, tau2 = yi[keep], vi[keep], "FE", None
    if predictor in ("sei", "vi"):
        x = np.sqrt(vi) if predictor == "sei" else vi
    else:
        n = _sample_sizes(result, ni, f"Egger's test with predictor={predictor!r}")[keep]
        x = 1 / n if predictor == "ninv" else 1 / np.sqrt(n)
    fit = metareg_fit(yi, vi, x, method=method, test=result.test, level=result.level,
                      tau2=tau2)
    return _regression_result("Egger's regression test", "rma", predictor, method, fit,
                              int(yi.size), result.level, msgs)


def _sample_sizes(result, n, what):
    """The studies' sample sizes: ``n`` or ``result.studies["n"]``, checked."""
    if n is None:
        if "n" not in result.studies:
            raise ValueError(f"{what} needs the sample size of each study: this result has "
                             "none (pass the sample sizes)")
        n = result.studies["n"].to_numpy(dtype=float)
    n = np.asarray(n, dtype=float).ravel()
    if n.size != result.k or not np.all(np.isfinite(n)) or (n <= 0).any():
        raise ValueError(f"n must hold {result.k} positive sample sizes")
    return n


def peters_test(result, n=None) -> RegressionTestResult:
    """Peters' test: weighted least squares of yᵢ on 1/nᵢ with weights 1/vᵢ, t test (k − 2 df).

    Suited to proportions and odds ratios, where the SE of yᵢ depends on yᵢ itself (which
    makes Egger's test over-reject). ``n`` (total sample size per study) comes from
    ``result.studies["n"]`` (results of :func:`iometa.pool_proportions`) or the ``n`` argument.
    ``limit_estimate`` is the intercept (the effect as 1/n → 0) with its t CI at the result's
    level. Uses only yᵢ, vᵢ and nᵢ, so it also runs on GLMM results (with the studies'
    logits). metafor: ``regtest(res, model = "lm", predictor = "ninv")``.

    Reference: Peters JL, Sutton AJ, Jones DR, Abrams KR, Rushton L (2006). Comparison of two
    methods to detect publication bias in meta-analysis. JAMA 295:676-680.

    Example
    -------
    >>> import iometa
    >>> res = iometa.pool_proportions([3, 7, 12, 5, 9, 4, 15, 6, 20, 8],
    ...                               [40, 40, 60, 40, 60, 25, 60, 25, 90, 30])
    >>> pt = iometa.peters_test(res)
    >>> pt.df
    8.0
    """
    n = _sample_sizes(result, n, "Peters' test")
    msgs = _checked(result, "Peters' test")
    fit = wls_lm_fit(result.yi, 1 / n, 1 / result.vi, level=result.level)
    return _regression_result("Peters' regression test", "lm", "ninv", "WLS", fit, result.k,
                              result.level, msgs)


def begg_test(result) -> RankTestResult:
    """Begg and Mazumdar's rank correlation test.

    Kendall's τ between the standardised deviates (yᵢ − μ̂_FE)/√(vᵢ − 1/Σ(1/vⱼ)) (μ̂_FE: the
    common-effect estimate) and the variances vᵢ; ``stat`` is τ (τ-b). The p-value is exact
    (Kendall's permutation distribution, for any k) when neither variable has ties, otherwise
    from the normal approximation with the tie-corrected variance (R's ``cor.test(method =
    "kendall", exact = TRUE)``). metafor: ``ranktest(res)``.

    Reference: Begg CB, Mazumdar M (1994). Operating characteristics of a rank correlation test
    for publication bias. Biometrics 50:1088-1101.

    Example
    -------
    >>> import iometa
    >>> yi = [0.10, 0.15, 0.32, 0.45, 0.52, 0.61, 0.70, 0.85, 0.05, 0.30]
    >>> vi = [0.010, 0.012, 0.030, 0.050, 0.060, 0.080, 0.090, 0.120, 0.008, 0.020]
    >>> bg = iometa.begg_test(iometa.pool(yi, vi))
    >>> round(bg.stat, 4), bg.exact
    (0.9556, True)
    """
    msgs = _checked(result, "Begg's test")
    yi, vi = result.yi, result.vi
    w = 1 / vi
    theta = (w * yi).sum() / w.sum()
    ystar = (yi - theta) / np.sqrt(vi - 1 / w.sum())
    kt = kendall_test(ystar, vi)
    return RankTestResult(stat=kt.tau, pval=kt.pval, exact=kt.exact, ties=kt.ties,
                          k=result.k, warnings=msgs)

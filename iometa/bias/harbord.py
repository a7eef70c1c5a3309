"""Harbord's modified regression test for small-study effects in meta-analyses of odds ratios.

Egger's test over-rejects for odds ratios because the log OR and its SE are correlated.
Harbord, Egger & Sterne (2006) regress the efficient score instead: Z/√V on √V, with
Z = a − (a + c)n₁/N (observed minus expected events in group 1) and
V = n₁n₂(a + c)(b + d)/(N²(N − 1)) (its hypergeometric variance), both from the raw 2×2
table; the intercept measures asymmetry and is tested with t on k − 2 df. This is the
weighted regression of Z/V on 1/√V that R's ``meta::metabias(x, method.bias = "Harbord")``
runs (its slope, "bias", is the intercept here).
"""

from __future__ import annotations

import warnings

import numpy as np

from .._warnings import SmallSampleWarning
from ._core import wls_lm_fit
from .asymmetry import MIN_K_POWER, RegressionTestResult

__all__ = ["harbord_test"]

_COUNTS = ("events_1", "total_1", "events_2", "total_2")


def harbord_test(result) -> RegressionTestResult:
    """Harbord's test for funnel-plot asymmetry of odds ratios (score-based regression).

    ``result`` is a pooled odds-ratio result of :func:`iometa.pool_two_groups` (any method:
    the test uses only the 2×2 tables in ``result.studies``). Tables with V = 0 (double-zero
    tables, or events in every patient) are left out, as meta does (they have no effect).
    ``stat`` is the t statistic (k − 2 df) of the intercept of Z/√V on √V, ``slope`` that
    intercept ("bias" in meta), ``limit_estimate`` the log odds ratio of the fitted line
    (the slope on √V) with its t CI at the result's level. Needs k ≥ 3; with fewer than 10
    studies a :class:`~iometa.SmallSampleWarning` says the test has little power (meta's
    ``k.min = 10`` refuses the test below 10 studies).

    R equivalent: ``meta::metabias(metabin(...), method.bias = "Harbord", k.min = 3)``;
    written out: ``lm(I(Z/sqrt(V)) ~ sqrt(V))``, test of the intercept.

    References: Harbord RM, Egger M, Sterne JAC (2006). A modified test for small-study effects
    in meta-analyses of controlled trials with binary endpoints. Stat Med 25:3443-3457.
    Sterne JAC et al. (2011). BMJ 343:d4002 (k ≥ 10).

    Example
    -------
    >>> import warnings
    >>> from iometa.bias.harbord import harbord_test
    >>> from iometa.core.two_group_pool import pool_two_groups
    >>> res = pool_two_groups([2, 4, 6, 7, 7, 11], [39, 44, 107, 103, 110, 154],
    ...                              [1, 4, 4, 5, 3, 4], [43, 44, 110, 100, 106, 146])
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")
    ...     hb = harbord_test(res)
    >>> hb.df, round(hb.stat, 4)
    (4.0, -0.4086)
    """
    studies = getattr(result, "studies", None)
    if studies is None or not all(c in studies for c in _COUNTS):
        raise ValueError("Harbord's test needs the 2x2 tables: pass a result of "
                         "iometa.pool_two_groups (its studies have events_1, total_1, "
                         "events_2, total_2)")
    if result.measure != "OR":
        raise ValueError(f"Harbord's test is for odds ratios (this result has measure "
                         f"{result.measure!r}); use peters_test or egger_test")
    a, n1, c, n2 = (studies[col].to_numpy(dtype=float) for col in _COUNTS)
    nn = n1 + n2
    score = a - (a + c) * n1 / nn
    with np.errstate(divide="ignore", invalid="ignore"):
        var = np.where(nn > 1, n1 * n2 * (a + c) * (nn - a - c) / (nn**2 * (nn - 1)), 0.0)
    used = var > 0
    k = int(used.sum())
    if k < 3:
        raise ValueError(f"Harbord's test needs at least 3 studies with events and non-events "
                         f"(this result has {k})")
    msgs = []
    if k < result.k:
        left = ", ".join(str(x) for x in studies["label"][~used])
        msgs.append(f"{result.k - k} {'study' if result.k - k == 1 else 'studies'} without "
                    f"an effect (score variance 0: {left}) left out, as meta does")
    if k < MIN_K_POWER:
        msgs.append(f"only {k} studies: tests for small-study effects have little power below "
                    f"{MIN_K_POWER} studies (Sterne et al. 2011; meta's metabias refuses below "
                    "k.min = 10)")
        warnings.warn(msgs[-1], SmallSampleWarning, stacklevel=2)
    z, v = score[used], var[used]
    fit = wls_lm_fit(z / np.sqrt(v), np.sqrt(v), np.ones(k), level=result.level)
    return RegressionTestResult(
        name="Harbord's score-based regression test", model="lm", predictor="sei",
        method="OLS", stat=float(fit.stat[0]), pval=float(fit.pval[0]), df=fit.df,
        slope=float(fit.coef[0]), slope_se=float(fit.se[0]), limit_estimate=float(fit.coef[1]),
        limit_ci_low=float(fit.ci_low[1]), limit_ci_high=float(fit.ci_high[1]), tau2=np.nan,
        k=k, level=result.level, warnings=tuple(msgs))

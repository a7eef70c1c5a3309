"""Effect sizes from what papers report: an estimate with its CI, or with its p-value.

:func:`effects_from_reported` extends :func:`iometa.effects_from_ci` with a p-value input and
a measure label (``measure="HR"`` for hazard ratios), row by row: the CI where one is given,
else the p-value. Pool the result with :func:`iometa.pool_effects` so that the result and the
plots carry the measure.

References
----------
Parmar MKB, Torri V, Stewart L (1998). Extracting summary statistics to perform meta-analyses
of the published literature for survival endpoints. Stat Med 17:2815-2834.
Altman DG, Bland JM (2011). How to obtain the confidence interval from a P value. BMJ 343:d2090.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import ndtri

from .models import column

__all__ = ["effects_from_reported", "LOG_MEASURES"]

#: measures given as ratios and analysed on the log scale
LOG_MEASURES = ("HR", "OR", "RR", "IRR", "ROM")


def _values(x, data, name, k=None):
    arr = column(x, data, name)
    if arr is None:
        return None if k is None else np.full(k, np.nan)
    try:
        return np.asarray(pd.to_numeric(pd.Series(arr), errors="raise"), dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be numbers (got {x!r})") from None


def effects_from_reported(estimate, ci_low=None, ci_high=None, *, pval=None, measure="HR",
                          level=0.95, log=None, data=None, labels=None) -> pd.DataFrame:
    """Effect sizes and sampling variances from reported estimates with a CI or a p-value.

    For each study the SE comes from the CI when both limits are given, SE = (U − L)/(2z)
    with z the ``level`` normal quantile, and otherwise from the two-sided p-value of the
    Wald test, SE = ``|yᵢ| / z₁₋ₚ/₂`` (Altman & Bland 2011). Ratio measures (``"HR"``, ``"OR"``,
    ``"RR"``, ``"IRR"``, ``"ROM"``; or ``log=True``) are taken to the log scale first, so
    ``yi`` is ln(estimate). Missing limits or p-values are None/nan; a study needs one or the
    other. Inputs are arrays or column names of ``data``.

    Returns a DataFrame with ``label``, ``estimate``, ``ci_low``, ``ci_high``, ``pval``, ``yi``,
    ``vi``, ``se`` and ``source`` (``"ci"`` or ``"pval"``); ``attrs["measure"]`` is the measure.
    Errors name the study: a CI that does not contain the estimate, non-positive ratios, a
    p-value outside (0, 1), or an estimate at the null with p < 1 (no SE can be derived).

    R equivalent: ``escalc(measure = "GEN", yi = log(hr), sei = (log(ub) - log(lb)) /
    (2 * qnorm(0.975)))``; from p: ``sei = abs(log(hr)) / qnorm(1 - p/2)``.

    References: Parmar, Torri & Stewart 1998 (Stat Med 17:2815); Altman & Bland 2011 (BMJ
    343:d2090).

    Example
    -------
    >>> from iometa.core.reported_effects import effects_from_reported
    >>> es = effects_from_reported([0.72, 0.85], [0.58, None], [0.89, None],
    ...                                   pval=[None, 0.04], measure="HR")
    >>> es["source"].tolist(), es["se"].round(4).tolist()
    (['ci', 'pval'], [0.1092, 0.0791])
    """
    if not isinstance(measure, str) or not measure:
        raise ValueError("measure must name the effect measure, e.g. 'HR'")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1) (got {level!r})")
    est = _values(estimate, data, "estimate")
    if est is None or est.size == 0:
        raise ValueError("no estimates given")
    k = est.size
    lo, hi, p = (_values(x, data, n, k) for x, n in ((ci_low, "ci_low"), (ci_high, "ci_high"),
                                                     (pval, "pval")))
    for name, arr in (("ci_low", lo), ("ci_high", hi), ("pval", p)):
        if arr.size != k:
            raise ValueError(f"{name} has {arr.size} entries for {k} estimates")
    lab = column(labels, data, "labels")
    labs = [f"Study {i + 1}" for i in range(k)] if lab is None else [str(x) for x in lab]
    if len(labs) != k:
        raise ValueError(f"labels has {len(labs)} entries for {k} estimates")
    use_log = measure.upper() in LOG_MEASURES if log is None else bool(log)
    z = float(ndtri(1 - (1 - level) / 2))
    yi, se, src = np.empty(k), np.empty(k), []
    for i in range(k):
        who = f"study {labs[i]!r} (row {i + 1})"
        e, lw, u, pv = est[i], lo[i], hi[i], p[i]
        if not np.isfinite(e):
            raise ValueError(f"{who}: the estimate is missing")
        has_ci = np.isfinite(lw) and np.isfinite(u)
        if np.isfinite(lw) != np.isfinite(u):
            raise ValueError(f"{who}: give both CI limits or neither (ci_low = {lw:g}, "
                             f"ci_high = {u:g})")
        if not has_ci and not np.isfinite(pv):
            raise ValueError(f"{who}: needs a CI (ci_low, ci_high) or a p-value")
        if use_log and (e <= 0 or (has_ci and lw <= 0)):
            raise ValueError(f"{who}: {measure} values must be positive (estimate {e:g}"
                             + (f", CI {lw:g} to {u:g})" if has_ci else ")"))
        y = np.log(e) if use_log else e
        if has_ci:
            if not lw <= e <= u:
                raise ValueError(f"{who}: the CI [{lw:g}, {u:g}] does not contain the estimate "
                                 f"{e:g}")
            ll, uu = (np.log(lw), np.log(u)) if use_log else (lw, u)
            s, how = (uu - ll) / (2 * z), "ci"
        else:
            if not 0 < pv < 1:
                raise ValueError(f"{who}: the p-value must be in (0, 1) to give an SE (got "
                                 f"{pv:g})")
            if y == 0:
                raise ValueError(f"{who}: the estimate is at the null ({e:g}) with p = {pv:g}; "
                                 "no SE can be derived from the p-value (give the CI)")
            s, how = abs(y) / float(ndtri(1 - pv / 2)), "pval"
        if not s > 0:
            raise ValueError(f"{who}: the CI has zero width, so the SE is 0")
        yi[i], se[i] = y, s
        src.append(how)
    out = pd.DataFrame({"label": labs, "estimate": est, "ci_low": lo, "ci_high": hi,
                        "pval": p, "yi": yi, "vi": se**2, "se": se, "source": src})
    out.attrs.update(measure=measure, log=use_log, level=level)
    return out

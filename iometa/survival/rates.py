"""Pooling survival rates at fixed times (landmark survival): :func:`pool_survival_rates`.

A survival rate S(t) ("1-year OS 88.6 %, n = 35") is pooled like a proportion with the
study's n as the sample size, on the complementary log-log scale (default) or the logit scale:

=============  =======================  ==================================
scale          yi                       vi (delta method, binomial)
=============  =======================  ==================================
``cloglog``    ln(−ln S)                (1 − S)/(n·S·(ln S)²)
``logit``      ln(S/(1 − S))            1/(n·S·(1 − S))
=============  =======================  ==================================

ln(−ln S) is the scale on which a proportional-hazards effect is additive (ln(−ln S(t)) =
ln H(t), the log cumulative hazard); it decreases as S increases, so the pooled limits on the
model scale swap when back-transformed (S = exp(−exp(y))); the result reports them in order.

The module also holds the input helpers shared with :mod:`iometa.survival.medians`.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import replace

import numpy as np
import pandas as pd

from .._warnings import DataWarning
from ..core.models import _subset_data, _zcrit, column, fit_result, study_labels
from ..core.results import MetaResult
from ..core.spec import ModelSpec, register_fitter
from ..core.transforms import ilogit

SCALES = ("cloglog", "logit")
CORRECTION = 0.5
_NOT_REACHED = {"not reached", "not yet reached", "inf", "+inf", "infinity"}
_MISSING = {"", "na", "nan", "nr", "n.r.", "not reported"}  # "NR": not reported (study table)


# ------------------------------------------------- input helpers (shared with survival_medians)
def as_float(x, name, labels) -> np.ndarray:
    """``x`` as floats: None/NA/""/"NR" (not reported, as in the study table) -> nan,
    "not reached"/"inf" -> inf; anything else not a number -> ValueError naming the study."""
    vals = list(x.tolist() if isinstance(x, np.ndarray) else x)
    out = np.empty(len(vals))
    for i, v in enumerate(vals):
        if isinstance(v, str):
            s = v.strip().lower()
            if s in _NOT_REACHED:
                out[i] = math.inf
                continue
            if s in _MISSING:
                out[i] = math.nan
                continue
        elif v is None or v is pd.NA or (not isinstance(v, str) and pd.isna(v)):
            out[i] = math.nan
            continue
        try:
            out[i] = float(v)
        except (TypeError, ValueError):
            raise ValueError(f"study {labels[i]!r}: {name} = {v!r} is not a number") from None
    return out


def vector(x, data, name, k, labels, default=math.nan) -> np.ndarray:
    """An optional per-study numeric input (array, scalar or column of ``data``) of length k."""
    if x is None:
        return np.full(k, default, dtype=float)
    if np.ndim(x) == 0 and not isinstance(x, str):
        return np.full(k, as_float([x], name, labels)[0])
    arr = column(x, data, name)
    if len(arr) != k:
        raise ValueError(f"{name} has {len(arr)} entries for {k} studies")
    return as_float(arr, name, labels)


def excluded_frame(rows) -> pd.DataFrame:
    """The studies left out of a pool, one row each, with the reason."""
    cols = ["label", "reason"]
    return pd.DataFrame(rows) if rows else pd.DataFrame(columns=cols)


def warn_excluded(excl: pd.DataFrame, what: str) -> str | None:
    """Warn (DataWarning) about excluded studies; return the message (or None)."""
    if excl.empty:
        return None
    parts = [f"{lab} ({why})" for lab, why in zip(excl["label"], excl["reason"])]
    msg = (f"{len(excl)} stud{'y' if len(excl) == 1 else 'ies'} left out of the pooled {what}: "
           + "; ".join(parts) + " (listed in result.extra['excluded'])")
    warnings.warn(msg, DataWarning, stacklevel=3)
    return msg




def check_ci_level(lab, cl):
    """ValueError unless the level of study ``lab``'s reported CI is strictly between 0 and 1."""
    if not 0 < cl < 1:
        raise ValueError(f"study {lab!r}: the level of its reported CI is {cl:g}; give it as a "
                         "proportion strictly between 0 and 1 (e.g. 0.95)")


def transform(s, scale):
    """Survival rate -> model scale (``cloglog``: ln(−ln S); ``logit``: ln(S/(1 − S)))."""
    s = np.asarray(s, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log(-np.log(s)) if scale == "cloglog" else np.log(s / (1 - s))


def inverse(y, scale):
    """Model scale -> survival rate (``cloglog``: exp(−exp(y)); ``logit``: inverse logit)."""
    y = np.asarray(y, dtype=float)
    with np.errstate(over="ignore"):  # exp(y) = inf for huge y: S = 0, as it should be
        return np.exp(-np.exp(y)) if scale == "cloglog" else ilogit(y)


def binomial_variance(s, n, scale):
    """Delta-method variance of the transformed rate for a binomial S with sample size n."""
    s = np.asarray(s, dtype=float)
    if scale == "cloglog":
        return (1 - s) / (n * s * np.log(s) ** 2)
    return 1 / (n * s * (1 - s))


def _check_rate(lab, s, n, lo, hi):
    if not 0 <= s <= 1:
        hint = " (give proportions, e.g. 0.886, not percent)" if 1 < s <= 100 else ""
        raise ValueError(f"study {lab!r}: survival rate {s:g} is outside 0-1{hint}")
    if not np.isnan(n) and not 0 < n < math.inf:
        raise ValueError(f"study {lab!r}: n must be > 0 and finite, got {n:g}")
    if np.isfinite(lo) and np.isfinite(hi) and not 0 <= lo <= s <= hi <= 1:
        raise ValueError(f"study {lab!r}: the CI [{lo:g}, {hi:g}] does not contain the rate "
                         f"{s:g} within 0-1")


def ci_usable(s, lo, hi) -> bool:
    """True when a study's reported CI can give its variance (both limits strictly inside 0-1,
    S too, and a positive width)."""
    return bool(np.isfinite(lo) and np.isfinite(hi) and 0 < lo < hi < 1 and 0 < s < 1)


def _one_rate(lab, s, n, lo, hi, cl, scale, z):
    """(yi, vi, corrected, variance source, display CI) of one study."""
    _check_rate(lab, s, n, lo, hi)
    has_ci = np.isfinite(lo) and np.isfinite(hi)
    if ci_usable(s, lo, hi):
        check_ci_level(lab, cl)
        g = transform([lo, s, hi], scale)
        se = abs(g[2] - g[0]) / (2 * _zcrit(cl))
        return g[1], se**2, False, f"reported {100 * cl:g}% CI (Wald on the {scale} scale)", (
            lo, hi)
    if np.isnan(n):
        raise ValueError(f"study {lab!r}: n is missing and needed for the binomial variance of "
                         "its survival rate (or give its CI)")
    source = "binomial, n" + ("; the reported CI reaches 0 or 1 and cannot be transformed"
                              if has_ci else "")
    corrected = s in (0.0, 1.0)
    if corrected:
        s_c, n_c = (s * n + CORRECTION) / (n + 2 * CORRECTION), n + 2 * CORRECTION
        source += f"; {CORRECTION:g} added to survivors and deaths (S = {s:g})"
    else:
        s_c, n_c = s, n
    y = float(transform(s_c, scale))
    with np.errstate(over="ignore", divide="ignore"):
        v = float(binomial_variance(s_c, n_c, scale))
    if not 0 < v < math.inf:
        raise ValueError(f"study {lab!r}: survival rate {s:g} with n = {n:g} is too close to 0 "
                         "or 1 for a binomial variance (give 0 or 1 if that is what was "
                         "observed, or the study's CI)")
    ci = tuple(sorted(inverse([y - z * math.sqrt(v), y + z * math.sqrt(v)], scale)))
    return y, v, corrected, source, ((lo, hi) if has_ci else ci)


def rate_effects(s, n, lo, hi, cl, labels, scale, level):
    """Per-study yi, vi, corrected flag, variance source and display CI (dict of arrays)."""
    z = _zcrit(level)
    rows = [_one_rate(lab, s[i], n[i], lo[i], hi[i], cl[i], scale, z)
            for i, lab in enumerate(labels)]
    yi, vi, corr, src, ci = zip(*rows) if rows else ((),) * 5
    return {"yi": np.asarray(yi, float), "vi": np.asarray(vi, float),
            "corrected": np.asarray(corr, bool), "variance_source": np.asarray(src, object),
            "ci_low": np.asarray([c[0] for c in ci], float),
            "ci_high": np.asarray([c[1] for c in ci], float)}


def _inputs(rate, n, time, ci_low, ci_high, ci_level, labels, data):
    raw = column(rate, data, "rate")
    if raw is None or len(raw) == 0:
        raise ValueError("no survival rates given (k = 0)")
    k = len(raw)
    labs = study_labels(labels, data, k)
    a = {"s": as_float(raw, "rate", labs), "n": vector(n, data, "n", k, labs),
         "lo": vector(ci_low, data, "ci_low", k, labs),
         "hi": vector(ci_high, data, "ci_high", k, labs),
         "cl": vector(ci_level, data, "ci_level", k, labs, default=0.95),
         "t": vector(time, data, "time", k, labs)}
    if time is not None and np.isnan(a["t"]).any():
        i = int(np.argmax(np.isnan(a["t"])))
        raise ValueError(f"study {labs[i]!r}: no time point given for its survival rate")
    return a, labs


def pool_survival_rates(rate, n, *, time=None, scale="cloglog", method="REML", labels=None,
                        data=None, ci_low=None, ci_high=None, test="z", level=0.95,
                        ci_level=0.95, pi_method="metafor", adhoc=False
                        ) -> MetaResult | dict[float, MetaResult]:
    """Pool survival rates S(t) at a fixed time as proportions with n as the sample size.

    ``scale="cloglog"`` (default; yi = ln(−ln S), vi = (1 − S)/(n·S·(ln S)²)) or ``"logit"``
    (yi = logit S, vi = 1/(n·S·(1 − S))); then the engine's model (``method``, ``test``,
    ``level``, ``pi_method``, ``adhoc`` as :func:`iometa.pool`). Rates are proportions (0–1); ``rate``, ``n``, ``time``,
    ``ci_low``, ``ci_high``, ``labels`` are arrays or column names of ``data``. A CI reported by
    the study overrides the binomial variance: SE = ``|g(U) − g(L)|/(2z)`` on the model scale g (z
    from ``ci_level``). S = 0 or 1 is undefined on both scales: 0.5 is added to the implied
    survivors S·n and deaths (1 − S)·n (n becomes n + 1; metafor's ``escalc`` convention), and
    the study is flagged (``studies.corrected``). Missing rates are left out with a warning
    (``result.extra["excluded"]``).

    Censoring is ignored. A Kaplan–Meier S(t) is not survivors/n: patients censored before t
    (lost, or enrolled too recently) carry no information about t, so the binomial variance
    with the enrolled n understates the true (Greenwood) variance — study CIs are too narrow and
    studies with heavy early censoring get too much weight (and heterogeneity is overstated).
    The pooled point estimate is a weighted average of the studies' own KM estimates, so it is
    not biased by this, but its CI is too narrow. Give the study's CI when it reports one, or
    an effective sample size (e.g. patients at risk at t) as n.

    With one time point (or ``time=None``) the result is a :class:`~iometa.MetaResult` in
    proportions (``measure`` ``"SRCLL"`` or ``"SRLO"``, ``kind`` ``"survival_rate"``,
    ``extra["time"]``); with several distinct values of ``time`` each time point is pooled
    separately and a dict {time: MetaResult} (ascending time) is returned (see
    :func:`iometa.survival_table` for a tidy table by time and group).

    Bad input raises ValueError naming the study: a rate outside 0–1 (e.g. percent), a CI not
    containing the rate, n ≤ 0, or a missing n where the variance needs it.

    References: Collett D (2015) Modelling Survival Data in Medical Research, 3rd ed. (log-log
    transformation of S(t)); Combescure C, Foucher Y, Jackson D (2014) Stat Med 33:2521
    (meta-analysis of survival at fixed times). metafor: no ``escalc`` measure; by hand,
    ``rma(yi = log(-log(S)), vi = (1 - S)/(n*S*log(S)^2))``.

    Example
    -------
    >>> import iometa
    >>> res = iometa.pool_survival_rates([0.886, 0.91, 0.706], [35, 60, 17], time=12)
    >>> 0.7 < res.estimate < 0.95 and res.ci_low < res.estimate < res.ci_high
    True
    """
    if scale not in SCALES:
        raise ValueError(f"unknown scale {scale!r}: expected 'cloglog' or 'logit'")
    a, labs = _inputs(rate, n, time, ci_low, ci_high, ci_level, labels, data)
    opts = dict(scale=scale, method=method, test=test, level=level, pi_method=pi_method,
                adhoc=adhoc)
    times = np.unique(a["t"][~np.isnan(a["t"])])
    if times.size > 1:
        out = {}
        for t in times:
            idx = np.flatnonzero(a["t"] == t)
            out[float(t)] = pool_survival_rates(
                a["s"][idx], a["n"][idx], time=np.full(idx.size, t), ci_low=a["lo"][idx],
                ci_high=a["hi"][idx], ci_level=a["cl"][idx], labels=[labs[i] for i in idx],
                data=_subset_data(data, idx), **opts)
        return out  # type: ignore[return-value]  # one time point per recursive call
    keep = np.flatnonzero(~np.isnan(a["s"]))
    excl = excluded_frame([{"label": labs[i], "reason": "no survival rate given"}
                           for i in np.flatnonzero(np.isnan(a["s"]))])
    if keep.size == 0:
        raise ValueError("no study has a survival rate to pool")
    a = {key: v[keep] for key, v in a.items()}
    labs = [labs[i] for i in keep]
    w = warn_excluded(excl, "survival rate")
    return _fit(a, labs, _subset_data(data, keep), opts, excl, [w] if w else [])


def _spec(a, opts):
    """The frozen spec and per-study inputs of a pooled-survival-rate result."""
    spec = ModelSpec("pool_survival_rates", "SRCLL" if opts["scale"] == "cloglog" else "SRLO",
                     opts["method"], opts["test"], opts["level"], scale=opts["scale"],
                     pi_method=opts["pi_method"], adhoc=opts["adhoc"])
    inputs = {"rate": a["s"], "n": a["n"], "time": None if np.isnan(a["t"]).all() else a["t"],
              "ci_low": a["lo"], "ci_high": a["hi"], "ci_level": a["cl"]}
    return spec, inputs


def _fit(a, labs, data, opts, excl, notes) -> MetaResult:
    scale, level = opts["scale"], opts["level"]
    eff = rate_effects(a["s"], a["n"], a["lo"], a["hi"], a["cl"], labs, scale, level)
    if eff["corrected"].any():
        who = ", ".join(np.asarray(labs, dtype=object)[eff["corrected"]])
        notes.append(f"survival rate of 0 or 1 in {who}: {CORRECTION:g} added to the implied "
                     f"survivors and deaths (n + 1) because the {scale} scale is undefined "
                     "there")
    cols = {"rate": a["s"], "estimate": a["s"], "ci_low": eff["ci_low"],
            "ci_high": eff["ci_high"], "n": a["n"], "time": a["t"],
            "corrected": eff["corrected"], "variance_source": eff["variance_source"]}
    t0 = a["t"][0] if not np.isnan(a["t"]).all() else None
    spec, inputs = _spec(a, opts)
    res = fit_result(eff["yi"], eff["vi"], method=opts["method"], test=opts["test"],
                     pi_method=opts["pi_method"], adhoc=opts["adhoc"],
                     level=level, labels=labs, measure="SRCLL" if scale == "cloglog" else "SRLO",
                     kind="survival_rate", scale="proportion",
                     backtransform=lambda y: inverse(y, scale), study_columns=cols, data=data,
                     spec=spec, inputs=inputs, notes=notes,
                     extra={"excluded": excl, "time": t0, "scale": scale,
                            "corrected": eff["corrected"],
                            "decreasing_backtransform": scale == "cloglog"})
    if scale == "cloglog":  # S = exp(-exp(y)) decreases in y: put the limits in order
        res = replace(res, ci_low=res.ci_high, ci_high=res.ci_low, pi_low=res.pi_high,
                      pi_high=res.pi_low)
    return res


register_fitter("pool_survival_rates", pool_survival_rates,
                ("scale", "method", "test", "level", "pi_method", "adhoc"))

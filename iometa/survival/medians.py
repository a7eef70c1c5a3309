"""Pooling median survival times: :func:`pool_medians`.

Three routes, chosen per call (``route=``) from what each study reports:

* **inverse variance** (``"iv"``): every study has a sampling variance, from its CI (Wald) or
  from its number of deaths (exponential approximation), and enters the engine's common- or
  random-effects model on the log scale (default) or in months;
* **median of medians** (``"mm"``) and **weighted median of medians** (``"wm"``, weights n):
  bare medians, pooled by the order-statistic method of McGrath et al. (2019).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd

from .._warnings import DataWarning, SmallSampleWarning
from ..core.estimators import METHODS
from ..core.fitting import TESTS
from ..core.models import _subset_data, _zcrit, column, fit_result, study_labels
from ..core.results import MetaResult
from ..core.spec import ModelSpec, register_fitter
from ..core.transforms import exp, identity
from .rates import as_float, check_ci_level, excluded_frame, vector, warn_excluded

ROUTES = ("auto", "iv", "mm", "wm")
SCALES = ("log", "identity")
STUDY_ROUTES = ("ci", "ci_one_sided", "deaths", "bare")


# ---------------------------------------------------------------------------- quantiles
def quantile_type7(x, probs) -> np.ndarray:
    """R's default ``quantile(x, probs)`` (type 7), transcribed operation by operation.

    Order statistic at index h = 1 + (k − 1)p, linearly interpolated between x₍⌊h⌋₎ and
    x₍⌈h⌉₎ (Hyndman & Fan 1996, type 7).

    Example
    -------
    >>> quantile_type7([10, 20, 30, 40], [0.5, 0.25]).tolist()
    [25.0, 17.5]
    """
    xs = np.sort(np.asarray(x, dtype=float))
    p = np.atleast_1d(np.asarray(probs, dtype=float))
    index = 1 + max(xs.size - 1, 0) * p
    lo = np.floor(index).astype(int)
    hi = np.ceil(index).astype(int)
    qs = xs[lo - 1]
    upper = xs[hi - 1]
    interp = (index > lo) & (upper != qs)
    h = index - lo
    return np.where(interp, (1 - h) * qs + h * upper, qs)


def weighted_quantile(x, w, probs) -> np.ndarray:
    """Weighted quantile of Hmisc's ``wtd.quantile(x, weights = w, probs)`` (type "quantile",
    ``normwt = FALSE``), the one R metamedian's ``pool.med`` uses for the weighted median.

    With W = Σw and C the cumulative weights of the sorted distinct values (ties pooled), the
    order h = 1 + (W − 1)p is split into ⌊h⌋ (at least 1) and ⌊h⌋ + 1 (at most W); Q(v) is the
    smallest x whose cumulative weight reaches v (the largest x beyond C's range), and the
    quantile is (1 − f)·Q(⌊h⌋) + f·Q(⌊h⌋ + 1) with f = h mod 1. With unit weights this is R's
    type 7. Weights are used as given (not normalised): they act as frequencies.

    Example
    -------
    >>> weighted_quantile([10, 20, 30], [1, 2, 1], [0.5]).tolist()
    [20.0]
    """
    x = np.asarray(x, dtype=float)
    w = np.asarray(w, dtype=float)
    keep = ~(np.isnan(w) | (w == 0))
    vals, inv = np.unique(x[keep], return_inverse=True)
    wts = np.bincount(inv.ravel(), weights=w[keep])
    total = wts.sum()
    cum = np.cumsum(wts)
    p = np.atleast_1d(np.asarray(probs, dtype=float))
    order = 1 + (total - 1) * p
    low = np.maximum(np.floor(order), 1)
    high = np.minimum(low + 1, total)
    frac = order % 1

    def q(v):
        return vals[np.minimum(np.searchsorted(cum, v, side="left"), vals.size - 1)]

    return (1 - frac) * q(low) + frac * q(high)


def median_of_medians(medians, weights=None, level=0.95):
    """(Weighted) median of medians with its confidence interval; returns (estimate, low, high).

    McGrath S, Zhao X, Qin ZZ, Steele R, Benedetti A (2019). One-sample aggregate data
    meta-analysis of medians. Stat Med 38:969-984. The CI inverts the sign test with the normal
    approximation to the binomial: the quantiles at 0.5 ∓ p with p = min(0.5, z/(2√k)),
    z = Φ⁻¹((1 + level)/2), k studies — R's type-7 ``quantile`` for MM and Hmisc's
    ``wtd.quantile`` with the sample sizes as weights for WM, exactly as R metamedian's
    ``pool.med(yi, wi, norm.approx = TRUE, coverage.prob = level)``. With k ≤ 3 at 95 %,
    p = 0.5 and the CI is the range of the medians.

    Example
    -------
    >>> [round(v, 4) for v in median_of_medians([10, 20, 30, 40])]
    [25.0, 10.3003, 39.6997]
    """
    m = np.asarray(medians, dtype=float)
    prob = min(0.5, _zcrit(level) / (2 * math.sqrt(m.size)))
    probs = [0.5 - prob, 0.5, 0.5 + prob]
    q = quantile_type7(m, probs) if weights is None else weighted_quantile(m, weights, probs)
    return float(q[1]), float(q[0]), float(q[2])


# ---------------------------------------------------------------------------- per study
def _check_study(lab, m, lo, hi, n, d, scale):
    """Raise ValueError for impossible inputs of study ``lab``."""
    if m <= 0:
        raise ValueError(f"study {lab!r}: the median must be > 0 months, got {m:g}")
    if np.isinf(lo):
        raise ValueError(f"study {lab!r}: the lower CI limit is {lo:g}; only the upper limit "
                         "can be 'not reached'")
    if np.isfinite(lo) and lo > m or np.isfinite(hi) and hi < m:
        raise ValueError(f"study {lab!r}: the CI [{lo:g}, {hi:g}] does not contain the median "
                         f"{m:g}")
    if np.isfinite(lo) and (lo <= 0 if scale == "log" else lo < 0):
        raise ValueError(f"study {lab!r}: CI lower limit {lo:g} must be > 0 on the log scale "
                         "(use scale='identity' to pool in months)" if scale == "log" else
                         f"study {lab!r}: CI lower limit {lo:g} is negative")
    if np.isfinite(lo) and np.isfinite(hi) and lo == hi:
        raise ValueError(f"study {lab!r}: the CI [{lo:g}, {hi:g}] has zero width")
    if np.isfinite(lo) and not np.isfinite(hi) and lo == m:
        raise ValueError(f"study {lab!r}: upper limit not reached and lower limit = median "
                         f"({m:g}): no standard error can be derived")
    if np.isnan(lo) and np.isfinite(hi) and hi == m:
        raise ValueError(f"study {lab!r}: lower limit missing and upper limit = median ({m:g})")
    if not np.isnan(n) and not n > 0:
        raise ValueError(f"study {lab!r}: n must be > 0, got {n:g}")
    if np.isinf(n) or np.isinf(d):
        what = "n" if np.isinf(n) else "deaths"
        raise ValueError(f"study {lab!r}: {what} must be a finite number, got "
                         f"{n if what == 'n' else d:g}")
    if not np.isnan(d) and not d > 0:
        raise ValueError(f"study {lab!r}: deaths must be > 0 to give a variance, got {d:g}")
    if not np.isnan(d) and not np.isnan(n) and d > n:
        raise ValueError(f"study {lab!r}: {d:g} deaths exceed n = {n:g}")


def _study_variance(m, lo, hi, d, z, scale, lvl):
    """(route, yi, vi, reason) of one study (vi nan for a bare median)."""
    g = np.log if scale == "log" else float
    sc = "log" if scale == "log" else "months"
    yi = float(g(m))
    if np.isfinite(lo) and np.isfinite(hi):
        se = (g(hi) - g(lo)) / (2 * z)
        why = f"{lvl}% CI {lo:g} to {hi:g}: Wald SE from the CI width on the {sc} scale"
        return "ci", yi, se * se, why
    if np.isfinite(lo):
        se = (yi - g(lo)) / z
        why = (f"upper {lvl}% CI limit not reached: one-sided SE from the lower limit {lo:g} "
               f"on the {sc} scale")
        return "ci_one_sided", yi, se * se, why
    if np.isnan(lo) and np.isfinite(hi):
        se = (g(hi) - yi) / z
        why = (f"only the upper {lvl}% CI limit ({hi:g}) given: one-sided SE from it on the "
               f"{sc} scale")
        return "ci_one_sided", yi, se * se, why
    if np.isfinite(d):
        vi = 1 / d if scale == "log" else float(m) * float(m) / d
        why = (f"no CI; {d:g} deaths: var(ln median) = 1/d (exponential approximation)"
               + ("" if scale == "log" else ", var(median) = median^2/d in months"))
        return "deaths", yi, vi, why
    return "bare", yi, math.nan, "no CI and no number of deaths: only the median is known"


def _screen(m, labels):
    """Indices kept and the excluded rows (median missing or not reached)."""
    keep, rows = [], []
    for i, lab in enumerate(labels):
        if np.isnan(m[i]):
            rows.append({"label": lab, "median": m[i], "reason": "no median given"})
        elif np.isinf(m[i]) and m[i] > 0:
            rows.append({"label": lab, "median": m[i],
                         "reason": "median not reached: no finite estimate to pool"})
        else:
            keep.append(i)
    return np.asarray(keep, dtype=int), rows


def _resolve_route(route, routes, n, labels):
    has_var = routes != "bare"
    if route == "auto":
        if has_var.all():
            return "iv", None
        chosen = "wm" if not np.isnan(n).any() else "mm"
        name = "weighted median of medians" if chosen == "wm" else "median of medians"
        msg = (f"{int((~has_var).sum())} of {routes.size} studies report a bare median (no CI, "
               f"no deaths), so all {routes.size} were pooled by the {name} (McGrath et al. "
               "2019); route='iv' pools only the studies with a variance")
        return chosen, msg
    if route == "wm" and np.isnan(n).any():
        i = int(np.argmax(np.isnan(n)))
        raise ValueError(f"study {labels[i]!r}: route='wm' weights by n, but n is missing")
    return route, None


def _display_ci(route, m, lo, hi, vi, z, scale):
    """A study's CI in months for tables and forest plots: the reported one (upper = inf when
    not reached), the Wald CI implied by 1/d for the deaths route, nan for a bare median."""
    if route == "ci":
        return lo, hi
    if route == "ci_one_sided":
        return (lo, math.inf) if np.isfinite(lo) else (math.nan, hi)
    if route == "deaths":
        y, se = (math.log(m), math.sqrt(vi)) if scale == "log" else (m, math.sqrt(vi))
        bt = math.exp if scale == "log" else float
        return bt(y - z * se), bt(y + z * se)
    return math.nan, math.nan


def _studies(m, lo, hi, nn, dd, cl, labs, scale, level):
    """Validate every study and derive its route, yi, vi, reason and display CI."""
    z = _zcrit(level)
    out = {k: [] for k in ("route", "yi", "vi", "reason", "ci_low", "ci_high")}
    for i, lab in enumerate(labs):
        _check_study(lab, m[i], lo[i], hi[i], nn[i], dd[i], scale)
        if np.isfinite(lo[i]) or np.isfinite(hi[i]):
            check_ci_level(lab, cl[i])
        lvl = f"{100 * cl[i]:g}"
        r, y, v, why = _study_variance(m[i], lo[i], hi[i], dd[i], _zcrit(cl[i]), scale, lvl)
        a, b = _display_ci(r, m[i], lo[i], hi[i], v, z, scale)
        for key, val in zip(out, (r, y, v, why, a, b)):
            out[key].append(val)
    return {k: np.asarray(v, dtype=object if k in ("route", "reason") else float)
            for k, v in out.items()}


def pool_medians(median, *, ci_low=None, ci_high=None, n=None, deaths=None, method="REML",
                 scale="log", route="auto", labels=None, data=None, test="z", level=0.95,
                 ci_level=0.95) -> MetaResult:
    """Pool median survival times (months) reported with a CI, a number of deaths, or bare.

    Per study (column ``route`` of ``result.studies``, with the reason in ``reason``):

    * ``"ci"``: SE = (g(U) − g(L))/(2z), g = ln (``scale="log"``, default) or identity
      (``scale="identity"``, months), z = Φ⁻¹((1 + ci_level)/2);
    * ``"ci_one_sided"``: upper limit not reached (``inf`` / "not reached", or missing — nan,
      "NR" — while the lower limit is present): SE = (g(M) − g(L))/z (or (g(U) − g(M))/z when
      only U is given);
    * ``"deaths"``: no CI but d deaths: var(ln M) = 1/d (exponential approximation; in months
      var(M) = M²/d by the delta method). A CI, when given, takes precedence over d;
    * ``"bare"``: the median alone.

    ``route="auto"``: the inverse-variance model (``method``, ``test`` as :func:`iometa.pool`)
    when every study has a variance; otherwise all studies are pooled by the weighted median of
    medians (WM, weights n) when every n is known, else by the median of medians (MM) — bare
    and inverse-variance studies cannot enter one model. ``route="iv"`` pools the studies with
    a variance and leaves out (with a warning) the bare ones; ``"mm"``/``"wm"`` force MM/WM
    (see :func:`median_of_medians`; they work on the medians in months whatever ``scale``).
    Medians missing or not reached are left out with a warning; every left-out study is in
    ``result.extra["excluded"]`` (label, reason). The pooled median, CI and PI are in months
    (exp of the log-scale results). The log scale makes ratios of medians the natural contrast;
    the identity scale is metamedian's ``metamedian_survival(estimand = "median_g1")``; the two
    give different numbers (the CI most), and ``result.measure`` says which: ``"MEDLN"`` (log)
    or ``"MED"`` (months).

    MM/WM results: ``method`` is ``"MM"``/``"WM"``, ``test`` ``"sign"``; ``estimate``,
    ``ci_low``, ``ci_high``, ``coef`` (the estimate on the model scale) and its CI are set;
    ``se``, ``stat``, ``pval``, the prediction interval, ``tau2``, ``i2``, ``h2``, ``q``,
    ``q_pval`` and their CIs are nan (no within-study variances), ``studies.vi`` is nan and
    ``studies.weight`` the MM/WM weight (equal, or n/Σn, in percent).

    Bad input raises ValueError naming the study: a CI not containing the median, a median
    ≤ 0, a lower limit ≤ 0 on the log scale, deaths > n, route="wm" with a missing n.

    References: McGrath S et al. (2019) Stat Med 38:969-984 (MM, WM); McGrath S et al. (2025)
    arXiv (Wald SE of median survival; R metamedian ``metamedian_survival``); Michiels S et
    al. (2005) Stat Med 24:3455 (medians and exponential survival). metafor equivalent of the
    IV route: ``rma(yi = log(m), sei = (log(U) - log(L))/(2*qnorm(.975)))``.

    Example
    -------
    >>> import iometa
    >>> res = iometa.pool_medians([10.6, 13.3, 8.1], ci_low=[7.3, 9.9, 6.0],
    ...                           ci_high=[14.4, 17.0, float("inf")])
    >>> res.studies["route"].tolist(), 8 < res.estimate < 14
    (['ci', 'ci', 'ci_one_sided'], True)
    """
    if scale not in SCALES:
        raise ValueError(f"unknown scale {scale!r}: expected 'log' or 'identity'")
    if route not in ROUTES:
        raise ValueError(f"unknown route {route!r}: expected one of {', '.join(ROUTES)}")
    if method not in METHODS or test not in TESTS or not 0 < level < 1:
        raise ValueError(f"method={method!r}, test={test!r}, level={level!r}: expected one of "
                         f"{', '.join(METHODS)}; 'z' or 'knha'; a level between 0 and 1")
    raw = column(median, data, "median")
    if raw is None or len(raw) == 0:
        raise ValueError("no medians given (k = 0)")
    k = len(raw)
    labs = study_labels(labels, data, k)
    m = as_float(raw, "median", labs)
    arrs = [vector(a, data, nm, k, labs) for a, nm in
            ((ci_low, "ci_low"), (ci_high, "ci_high"), (n, "n"), (deaths, "deaths"))]
    arrs.append(vector(ci_level, data, "ci_level", k, labs, default=0.95))
    keep, rows = _screen(m, labs)
    if keep.size == 0:
        raise ValueError("no study has a finite median to pool: " +
                         "; ".join(f"{r['label']} ({r['reason']})" for r in rows))
    lo, hi, nn, dd, cl = (a[keep] for a in arrs)
    labs_k = [labs[i] for i in keep]
    st = _studies(m[keep], lo, hi, nn, dd, cl, labs_k, scale, level)
    chosen, msg = _resolve_route(route, st["route"], nn, labs_k)
    use = np.ones(keep.size, bool)
    if chosen == "iv":
        use = st["route"] != "bare"
        rows += [{"label": labs_k[i], "median": m[keep][i], "reason": "bare median (no CI, no "
                  "deaths): no variance for the inverse-variance model"} for i in np.flatnonzero(~use)]
        if not use.any():
            raise ValueError("route='iv': no study has a CI or a number of deaths; use "
                             "route='mm' or 'wm' for bare medians")
    sub = keep[use]
    args = dict(m=m[sub], lo=arrs[0][sub], hi=arrs[1][sub], nn=arrs[2][sub], dd=arrs[3][sub],
                cl=arrs[4][sub], labs=[labs[i] for i in sub], data=_subset_data(data, sub))
    st = {key: v[use] for key, v in st.items()}
    notes = [x for x in (msg,) if x]
    if msg:
        warnings.warn(msg, DataWarning, stacklevel=2)
    excl = excluded_frame(rows)
    w = warn_excluded(excl, "median")
    notes += [w] if w else []
    opts = dict(method=method, scale=scale, route=chosen, test=test, level=level)
    return _build(args, st, opts, notes, {"excluded": excl, "route": chosen, "scale": scale})


def _spec(a, opts):
    """The frozen spec and per-study inputs of a pooled-medians result (read by refit)."""
    spec = ModelSpec("pool_medians", "MEDLN" if opts["scale"] == "log" else "MED",
                     opts["method"], opts["test"], opts["level"], route=opts["route"],
                     scale=opts["scale"])
    inputs = {"median": a["m"], "ci_low": a["lo"], "ci_high": a["hi"], "n": a["nn"],
              "deaths": a["dd"], "ci_level": a["cl"]}
    return spec, inputs


def _build(a, st, opts, notes, extra):
    scale, chosen, level = opts["scale"], opts["route"], opts["level"]
    cols = {"median": a["m"], "estimate": a["m"], "ci_low": st["ci_low"],
            "ci_high": st["ci_high"], "n": a["nn"], "deaths": a["dd"], "route": st["route"],
            "reason": st["reason"], "se": np.sqrt(st["vi"])}
    bt = exp if scale == "log" else identity
    spec, inputs = _spec(a, opts)
    if chosen == "iv":
        return fit_result(st["yi"], st["vi"], method=opts["method"], test=opts["test"],
                          level=level, labels=a["labs"],
                          measure="MEDLN" if scale == "log" else "MED", kind="median",
                          scale="months", backtransform=bt, study_columns=cols, data=a["data"],
                          spec=spec, inputs=inputs, notes=notes, extra=extra)
    weight_by = a["nn"] if chosen == "wm" else None
    using = "by the median" if chosen == "mm" else "by the median, weighted by n"
    cols["reason"] = np.array([r if r.startswith("no CI and no") else
                               f"{r}; not used: enters {using} only" for r in st["reason"]],
                              dtype=object)
    return _mm_result(a, st["yi"], cols, weight_by, opts, notes, extra, bt)


def _mm_result(a, yi, cols, weight_by, opts, notes, extra, bt):
    spec, inputs = _spec(a, opts)
    k, level, chosen = len(a["m"]), opts["level"], opts["route"]
    est, lo, hi = median_of_medians(a["m"], weight_by, level)
    prob = min(0.5, _zcrit(level) / (2 * math.sqrt(k)))
    g = np.log if opts["scale"] == "log" else float
    w = np.full(k, 100.0 / k) if weight_by is None else 100 * weight_by / weight_by.sum()
    studies = pd.DataFrame({"label": a["labs"], "yi": yi, "vi": np.full(k, np.nan), "weight": w})
    for name, values in cols.items():
        studies[name] = values
    name = "weighted median of medians" if chosen == "wm" else "median of medians"
    notes = list(notes) + [
        f"{name} (McGrath et al. 2019): no within-study variances enter, so the SE, z, p, "
        "prediction interval, tau^2, I^2, H^2 and Q are not defined (reported as NaN); the CI "
        "inverts the sign test"]
    if prob >= 0.5:
        notes.append(f"with k = {k} studies the {100 * level:g}% CI of the {name} is the range "
                     "of the study medians (its coverage is not guaranteed)")
    if k == 1:
        msg = f"only one study ({a['labs'][0]}): the pooled median is that study's median"
        warnings.warn(msg, SmallSampleWarning, stacklevel=4)
        notes.append(msg)
    nan, nan2 = math.nan, (math.nan, math.nan)
    return MetaResult(
        measure="MEDLN" if opts["scale"] == "log" else "MED", method=chosen.upper(),
        test="sign", level=level, kind="median", scale="months", estimate=est, ci_low=lo,
        ci_high=hi, pi_low=nan, pi_high=nan, coef=float(g(est)), se=nan, stat=nan, pval=nan,
        coef_ci_low=float(g(lo)), coef_ci_high=float(g(hi)), coef_pi_low=nan,
        coef_pi_high=nan, df=None, k=k, tau2=nan, tau2_ci=nan2, i2=nan, i2_ci=nan2, h2=nan,
        h2_ci=nan2, q=nan, q_df=k - 1, q_pval=nan, studies=studies, warnings=tuple(notes),
        data=a["data"], extra={**extra, "ci_probs": (0.5 - prob, 0.5 + prob)},
        _backtransform=bt, spec=spec, inputs=inputs)


register_fitter("pool_medians", pool_medians, ("method", "scale", "route", "test", "level"))

"""Comparative (two-group) effect sizes: OR, RR, RD from 2×2 tables; MD, SMD, ROM from means.

Group 1 against group 2 (treatment against control), with the definitions, continuity
corrections and variance types of metafor's ``escalc`` (``ai``/``n1i`` against ``ci``/``n2i``;
``m1i``, ``sd1i``, ``n1i`` against ``m2i``, ``sd2i``, ``n2i``). Effects from a reported
estimate with its CI or p-value (hazard ratios and other ratios) are in
:mod:`iometa.core.reported_effects`.

References
----------
Viechtbauer W (2010). Conducting meta-analyses in R with the metafor package. J Stat Softw 36(3).
Hedges LV (1981). Distribution theory for Glass's estimator of effect size and related
estimators. J Educ Stat 6:107-128.
Hedges LV, Gurevitch J, Curtis PS (1999). The meta-analysis of response ratios in experimental
ecology. Ecology 80:1150-1156.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import gammaln

from .._warnings import DataWarning
from .effects import CORRECTION_MODES
from .measures import MEASURES
from .models import column

__all__ = ["two_group_effects", "BINARY_MEASURES", "CONTINUOUS_MEASURES"]

BINARY_MEASURES = tuple(c for c, m in MEASURES.items() if m.family == "binary" and c != "PETO")
CONTINUOUS_MEASURES = tuple(c for c, m in MEASURES.items() if m.family == "continuous")
_VTYPES = {"OR": ("LS",), "RR": ("LS",), "RD": ("LS", "UB", "AV"), "MD": ("LS", "UB"),
           "SMD": ("LS", "LS2", "UB", "AV"), "ROM": ("LS",)}
_BIN_ARGS = ("events_1", "total_1", "events_2", "total_2")
_CONT_ARGS = ("mean_1", "sd_1", "n_1", "mean_2", "sd_2", "n_2")


def _who(labels, i):
    return f"study {labels[i]!r} (row {i + 1})"


def _labels(labels, data, k):
    lab = column(labels, data, "labels")
    if lab is None:
        return [f"Study {i + 1}" for i in range(k)]
    if len(lab) != k:
        raise ValueError(f"labels has {len(lab)} entries for {k} studies")
    return [str(x) for x in lab]


def _arrays(names, values, data):
    """The inputs as float arrays of one length (strings are columns of ``data``)."""
    out = {}
    for name, x in zip(names, values):
        arr = column(x, data, name)
        try:
            out[name] = np.asarray(pd.to_numeric(pd.Series(arr), errors="raise"),
                                   dtype=float).ravel()
        except (TypeError, ValueError):
            i = next(i for i, v in enumerate(arr)
                     if pd.isna(pd.to_numeric(pd.Series([v]), errors="coerce")[0])
                     and not pd.isna(v))
            bad = arr[i].item() if hasattr(arr[i], "item") else arr[i]
            raise ValueError(f"row {i + 1}: {name} must be a number (got {bad!r})") from None
    sizes = {n: a.size for n, a in out.items()}
    if len(set(sizes.values())) != 1:
        raise ValueError("the inputs differ in length: "
                         + ", ".join(f"{n} has {s}" for n, s in sizes.items()))
    if not next(iter(sizes.values())):
        raise ValueError("no studies (the inputs are empty)")
    return out


def _check_arms(arr, labels, arm_names):
    """A study with one arm complete and the other missing: name it and the missing arm."""
    for g, names in enumerate(arm_names, start=1):
        other = arm_names[2 - g]
        miss = np.any([~np.isfinite(arr[n]) for n in names], axis=0)
        has_other = np.all([np.isfinite(arr[n]) for n in other], axis=0)
        bad = miss & has_other
        if bad.any():
            i = int(np.argmax(bad))
            raise ValueError(f"{_who(labels, i)}: group {g} is missing ({', '.join(names)} = "
                             f"{', '.join(f'{arr[n][i]:g}' for n in names)}); a comparison "
                             "needs both arms")
    for n, a in arr.items():
        if not np.isfinite(a).all():
            i = int(np.argmax(~np.isfinite(a)))
            raise ValueError(f"{_who(labels, i)}: {n} is {a[i]!r}; every study needs finite "
                             "values in both arms")


def _check_time(time_1, time_2, data, labels, k):
    if time_1 is None and time_2 is None:
        return
    if time_1 is None or time_2 is None:
        raise ValueError("give both time_1 and time_2 (the time point of each arm) or neither")
    t1, t2 = column(time_1, data, "time_1"), column(time_2, data, "time_2")
    if len(t1) != k or len(t2) != k:
        raise ValueError(f"time_1 and time_2 need {k} entries (got {len(t1)} and {len(t2)})")
    for i, (a, b) in enumerate(zip(t1, t2)):
        if pd.isna(a) or pd.isna(b) or a != b:
            raise ValueError(f"{_who(labels, i)}: the arms are reported at different time "
                             f"points (time_1 = {a!r}, time_2 = {b!r}); compare both arms at "
                             "the same time point")


def _check_counts(arr, labels):
    a, n1, c, n2 = (arr[n] for n in _BIN_ARGS)
    _check_arms(arr, labels, (("events_1", "total_1"), ("events_2", "total_2")))
    for name, x in arr.items():
        bad = x != np.round(x)
        if bad.any():
            i = int(np.argmax(bad))
            raise ValueError(f"{_who(labels, i)}: {name} must be a whole number (got {x[i]:g})")
    for ev, tot in (("events_1", "total_1"), ("events_2", "total_2")):
        e, t = arr[ev], arr[tot]
        for bad, what in ((e < 0, f"{ev} must be >= 0"), (t <= 0, f"{tot} must be > 0"),
                          (e > t, f"{ev} exceeds {tot}")):
            if bad.any():
                i = int(np.argmax(bad))
                raise ValueError(f"{_who(labels, i)}: {what} ({ev} = {e[i]:g}, {tot} = "
                                 f"{t[i]:g})")
    return a, n1 - a, c, n2 - c


def _corrections(a, b, c, d, add, to):
    """Which tables get ``add`` in every cell (escalc's ``to``)."""
    zero = (a == 0) | (b == 0) | (c == 0) | (d == 0)
    if to == "all":
        corr = np.ones(a.shape, bool)
    elif to == "if0all":
        corr = np.full(a.shape, bool(zero.any()))
    elif to == "only0":
        corr = zero
    else:
        corr = np.zeros(a.shape, bool)
    return corr & (add != 0)


def binary_effects(a, b, c, d, measure, *, add=0.5, to="only0", drop00=False, vtype="LS"):
    """escalc's OR/RR/RD (and Peto's log OR, ``measure="PETO"``) of 2×2 tables: ``(yi, vi,
    corrected, double_zero)``; double-zero tables are nan when ``drop00``. No input checks (used
    by :func:`two_group_effects` and the Mantel–Haenszel/Peto code after theirs). R:
    ``escalc(measure, ai, bi, ci, di, add=, to=, drop00=, vtype=)``.

    Example
    -------
    >>> import numpy as np
    >>> yi, vi, corr, dz = binary_effects(np.array([0., 4]), np.array([10., 6]),
    ...                                   np.array([0., 2]), np.array([12., 8]), "OR")
    >>> corr.tolist(), dz.tolist(), round(float(yi[1]), 4)
    ([True, False], [True, False], 0.9808)
    """
    dz = ((a == 0) & (c == 0)) | ((b == 0) & (d == 0))
    drop = dz & drop00
    corr = _corrections(a, b, c, d, add, to) & ~drop
    a, b, c, d = (np.where(corr, x + add, x).astype(float) for x in (a, b, c, d))
    n1, n2 = a + b, c + d
    p1, p2 = a / n1, c / n2
    with np.errstate(divide="ignore", invalid="ignore"):
        if measure == "OR":
            yi, vi = np.log(a * d / (b * c)), 1 / a + 1 / b + 1 / c + 1 / d
        elif measure == "RR":
            yi, vi = np.log(p1 / p2), 1 / a - 1 / n1 + 1 / c - 1 / n2
        elif measure == "RD":
            yi = p1 - p2
            if vtype == "UB":
                vi = p1 * (1 - p1) / (n1 - 1) + p2 * (1 - p2) / (n2 - 1)
            elif vtype == "AV":
                keep = ~drop
                q1 = (p1 * n1)[keep].sum() / n1[keep].sum()
                q2 = (p2 * n2)[keep].sum() / n2[keep].sum()
                vi = q1 * (1 - q1) / n1 + q2 * (1 - q2) / n2
            else:
                vi = p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2
        else:  # PETO
            nn = n1 + n2
            xt, yt = a + c, b + d
            v = xt * yt * (n1 / nn) * (n2 / nn) / (nn - 1)
            yi, vi = (a - xt * n1 / nn) / v, 1 / v
    yi, vi = np.where(drop, np.nan, yi), np.where(drop, np.nan, vi)
    return yi, vi, corr, dz


def _binary(arr, measure, add, to, drop00, vtype, labels):
    a, b, c, d = _check_counts(arr, labels)
    if add is None:
        add = 0.5
    add = float(add)
    if not np.isfinite(add) or add < 0:
        raise ValueError(f"add must be a number >= 0 (got {add!r})")
    to = "only0" if to is None else to
    if to not in CORRECTION_MODES:
        raise ValueError(f"unknown to={to!r}: expected one of {', '.join(CORRECTION_MODES)}")
    yi, vi, corr, dz = binary_effects(a, b, c, d, measure, add=add, to=to, drop00=drop00,
                                      vtype=vtype)
    bad = ~(np.isfinite(yi) & np.isfinite(vi)) & ~(dz & drop00)
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(f"{_who(labels, i)}: the {measure} is not defined for the table "
                         f"{a[i]:g}/{a[i] + b[i]:g} vs {c[i]:g}/{c[i] + d[i]:g} without a "
                         f"continuity correction (add={add:g}, to={to!r}); use to='only0'")
    cols = {"yi": yi, "vi": vi, "corrected": corr, "double_zero": dz}
    meta = {"measure": measure, "add": add, "to": to, "drop00": bool(drop00), "vtype": vtype}
    if dz.any():
        who = ", ".join(labels[i] for i in np.flatnonzero(dz))
        if drop00:
            msg = (f"double-zero stud{'y' if dz.sum() == 1 else 'ies'} ({who}): no {measure} "
                   "(drop00=True; yi and vi are nan and the study cannot be pooled)")
        else:
            msg = (f"double-zero stud{'y' if dz.sum() == 1 else 'ies'} ({who}) kept with {add:g} "
                   f"added to every cell, as escalc's default drop00=FALSE")
        warnings.warn(msg, DataWarning, stacklevel=3)
        meta["note"] = msg
    return cols, meta


def _hedges_c(m):
    """Exact small-sample correction c(m) = Γ(m/2) / (√(m/2) Γ((m − 1)/2))."""
    return np.exp(gammaln(m / 2) - 0.5 * np.log(m / 2) - gammaln((m - 1) / 2))


def _continuous(arr, measure, vtype, labels):
    _check_arms(arr, labels, (("mean_1", "sd_1", "n_1"), ("mean_2", "sd_2", "n_2")))
    m1, s1, n1, m2, s2, n2 = (arr[n] for n in _CONT_ARGS)
    for name in ("sd_1", "sd_2"):
        if (arr[name] < 0).any():
            i = int(np.argmax(arr[name] < 0))
            raise ValueError(f"{_who(labels, i)}: {name} = {arr[name][i]:g} is negative; a "
                             "standard deviation must be >= 0")
    nmin = 2 if measure == "SMD" else 1
    for name in ("n_1", "n_2"):
        x = arr[name]
        bad = (x < nmin) | (x != np.round(x))
        if bad.any():
            i = int(np.argmax(bad))
            raise ValueError(f"{_who(labels, i)}: {name} = {x[i]:g}; {measure} needs whole "
                             f"group sizes >= {nmin}")
    if measure == "ROM":
        for name, x in (("mean_1", m1), ("mean_2", m2)):
            if (x <= 0).any():
                i = int(np.argmax(x <= 0))
                raise ValueError(f"{_who(labels, i)}: {name} = {x[i]:g}; the ratio of means "
                                 "needs positive means in both groups")
    nn = n1 + n2
    if measure == "MD":
        yi, vi = m1 - m2, s1**2 / n1 + s2**2 / n2
    elif measure == "ROM":
        yi, vi = np.log(m1 / m2), s1**2 / (n1 * m1**2) + s2**2 / (n2 * m2**2)
    else:
        mdf = nn - 2
        sp = np.sqrt(((n1 - 1) * s1**2 + (n2 - 1) * s2**2) / mdf)
        if (sp == 0).any():
            i = int(np.argmax(sp == 0))
            raise ValueError(f"{_who(labels, i)}: both standard deviations are 0, so the "
                             "standardised mean difference is not defined")
        di = (m1 - m2) / sp
        cm = _hedges_c(mdf)
        yi = cm * di
        base = 1 / n1 + 1 / n2
        if vtype == "LS":
            vi = base + yi**2 / (2 * nn)
        elif vtype == "LS2":
            vi = cm**2 * (base + di**2 / (2 * nn))
        elif vtype == "UB":
            vi = base + (1 - (mdf - 2) / (mdf * cm**2)) * yi**2
        else:
            vi = base + ((yi * nn).sum() / nn.sum()) ** 2 / (2 * nn)
    return {"yi": yi, "vi": vi}, {"measure": measure, "vtype": vtype}


def two_group_effects(events_1=None, total_1=None, events_2=None, total_2=None, *, measure,
                      mean_1=None, sd_1=None, n_1=None, mean_2=None, sd_2=None, n_2=None,
                      add=None, to=None, drop00=False, vtype="LS", data=None, labels=None,
                      time_1=None, time_2=None) -> pd.DataFrame:
    """Effect sizes of group 1 against group 2, with their sampling variances.

    From event counts (``events_1``/``total_1`` against ``events_2``/``total_2``):

    * ``"OR"``: log odds ratio ln(ad/bc), vᵢ = 1/a + 1/b + 1/c + 1/d;
    * ``"RR"``: log risk ratio ln((a/n₁)/(c/n₂)), vᵢ = 1/a − 1/n₁ + 1/c − 1/n₂;
    * ``"RD"``: risk difference p₁ − p₂, vᵢ = p₁(1 − p₁)/n₁ + p₂(1 − p₂)/n₂ (``vtype="LS"``;
      ``"UB"`` divides by n − 1, ``"AV"`` uses the n-weighted mean risks).

    Continuity correction as escalc: ``add=1/2`` (``add=None``) is added to every cell of the
    tables with a zero cell (``to="only0"``; or ``"all"``, ``"if0all"``, ``"none"``) and both
    yᵢ and vᵢ use the corrected counts. Double-zero tables (no events, or only events, in both
    groups) are kept with the correction (escalc's default ``drop00=False``; a
    :class:`~iometa.DataWarning` says so); ``drop00=True`` gives them nan.

    From means (``mean_1``, ``sd_1``, ``n_1`` against ``mean_2``, ``sd_2``, ``n_2``):

    * ``"MD"``: m₁ − m₂, vᵢ = sd₁²/n₁ + sd₂²/n₂;
    * ``"SMD"``: Hedges' g = c(m)·(m₁ − m₂)/s_p with the exact correction
      c(m) = Γ(m/2)/(√(m/2)·Γ((m − 1)/2)), m = n₁ + n₂ − 2, and ``vtype`` ``"LS"``
      (1/n₁ + 1/n₂ + g²/(2N)), ``"LS2"`` (c(m)²(1/n₁ + 1/n₂ + d²/(2N))), ``"UB"`` (unbiased)
      or ``"AV"`` (the N-weighted mean g in place of g);
    * ``"ROM"``: log ratio of means ln(m₁/m₂), vᵢ = sd₁²/(n₁m₁²) + sd₂²/(n₂m₂²).

    Inputs are array-likes or column names of ``data``; ``labels`` name the studies in error
    messages. ``time_1``/``time_2`` (optional) are the time points of the two arms, which must
    agree. Bad input (events > total, a missing arm, unequal time points, a negative SD, n < 2
    for the SMD, …) raises ValueError naming the study and row.

    Returns a DataFrame: the inputs (``data`` with the new columns appended, when given) and
    ``yi``, ``vi`` (plus ``corrected`` and ``double_zero`` for counts); ``attrs`` holds the
    measure and the correction used.

    R equivalent: ``metafor::escalc(measure, ai=, n1i=, ci=, n2i=, add=, to=, drop00=)`` and
    ``escalc(measure, m1i=, sd1i=, n1i=, m2i=, sd2i=, n2i=, vtype=)``.

    References: Viechtbauer 2010 (J Stat Softw 36(3)); Hedges 1981 (J Educ Stat 6:107);
    Hedges, Gurevitch & Curtis 1999 (Ecology 80:1150).

    Example
    -------
    >>> from iometa.core.two_group import two_group_effects
    >>> es = two_group_effects([4, 6], [123, 306], [11, 29], [139, 303], measure="RR")
    >>> es["yi"].round(4).tolist()
    [-0.8893, -1.5854]
    >>> g = two_group_effects(mean_1=[55], sd_1=[47], n_1=[155], mean_2=[75],
    ...                       sd_2=[64], n_2=[156], measure="SMD")
    >>> round(float(g["yi"][0]), 4)
    -0.3552
    """
    given_bin = [n for n, v in zip(_BIN_ARGS, (events_1, total_1, events_2, total_2))
                 if v is not None]
    given_cont = [n for n, v in zip(_CONT_ARGS, (mean_1, sd_1, n_1, mean_2, sd_2, n_2))
                  if v is not None]
    names: tuple[str, ...]
    values: tuple[Any, ...]
    if measure in BINARY_MEASURES:
        names, values = _BIN_ARGS, (events_1, total_1, events_2, total_2)
        wrong, missing = given_cont, [n for n in _BIN_ARGS if n not in given_bin]
    elif measure in CONTINUOUS_MEASURES:
        names, values = _CONT_ARGS, (mean_1, sd_1, n_1, mean_2, sd_2, n_2)
        wrong, missing = given_bin, [n for n in _CONT_ARGS if n not in given_cont]
    else:
        raise ValueError(f"unknown measure {measure!r}: expected one of "
                         f"{', '.join(BINARY_MEASURES + CONTINUOUS_MEASURES)}")
    if wrong:
        raise ValueError(f"measure {measure!r} does not take {', '.join(wrong)}")
    if missing:
        raise ValueError(f"measure {measure!r} needs {', '.join(missing)}")
    if vtype not in _VTYPES[measure]:
        raise ValueError(f"vtype={vtype!r} is not available for {measure}: expected one of "
                         f"{', '.join(_VTYPES[measure])}")
    if measure in CONTINUOUS_MEASURES and (add is not None or to is not None or drop00):
        raise ValueError(f"add, to and drop00 apply to event counts, not to {measure}")
    if data is not None and not isinstance(data, pd.DataFrame):
        raise ValueError("data must be a pandas DataFrame")
    arr = _arrays(names, values, data)
    k = next(iter(arr.values())).size
    labs = _labels(labels, data, k)
    _check_time(time_1, time_2, data, labs, k)
    if measure in BINARY_MEASURES:
        cols, meta = _binary(arr, measure, add, to, bool(drop00), vtype, labs)
    else:
        cols, meta = _continuous(arr, measure, vtype, labs)
    if data is not None:
        out = data.reset_index(drop=True).copy()
        for name, v in zip(names, values):
            if not isinstance(v, str):
                out[name] = arr[name]
    else:
        out = pd.DataFrame({"label": labs} if labels is not None else {})
        for name in names:
            out[name] = arr[name]
    for name, v in cols.items():
        out[name] = v
    out.attrs.update(meta)
    return out

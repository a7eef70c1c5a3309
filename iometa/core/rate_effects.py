"""Incidence-rate effect sizes (events per person-time): :func:`rate_effects`, and the
back-transformation and per-study columns shared by the inverse-variance and GLMM fits of
:func:`iometa.pool_rates`. Measures IR, IRLN, IRS, IRFT as metafor's ``escalc(xi=, ti=)``."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .effects import CORRECTION_MODES
from .measures import MEASURES
from .models import column, study_labels

__all__ = ["RATE_MEASURES", "rate_backtransform", "rate_effects", "rate_study_columns"]

RATE_MEASURES = tuple(c for c, m in MEASURES.items() if m.family == "rate")


def _check_inputs(x, t, labels):
    """ValueError naming the first study whose events or person-time cannot give a rate."""
    if x.shape != t.shape:
        raise ValueError(f"events and person_time differ in length ({x.size} vs {t.size})")
    if x.size == 0:
        raise ValueError("no studies (k = 0)")
    for i in range(x.size):
        xi, ti = x[i], t[i]
        problem = (
            f"events = {xi!r} is missing or not finite" if not np.isfinite(xi)
            else f"events = {xi:g} is negative; expected a count >= 0" if xi < 0
            else f"person_time = {ti!r} is missing" if np.isnan(ti)
            else f"person_time = {ti:g} is infinite; expected a finite exposure time > 0"
            if np.isinf(ti)
            else f"person_time = {ti:g}: a rate needs person-time > 0 (metafor: 'person-times "
                 "are <= 0'); drop the study or check its exposure" if ti <= 0 else None)
        if problem:
            raise ValueError(f"study {_lab(labels, i)!r}: {problem}")


def _lab(labels, i):
    return f"Study {i + 1}" if labels is None else labels[i]


def _as_float(v, data, name):
    arr = column(v, data, name)
    try:
        return np.asarray(arr, dtype=float).ravel()
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be numbers (got {arr!r:.60})") from None


def _correction(measure, add, to):
    add = (0.5 if measure in ("IR", "IRLN") else 0.0) if add is None else add
    to = "only0" if to is None else to
    if to not in CORRECTION_MODES:
        raise ValueError(f"unknown to={to!r}: expected one of {', '.join(CORRECTION_MODES)}")
    if not (isinstance(add, (int, float, np.number)) and not isinstance(add, bool)
            and np.isfinite(add) and add >= 0):
        raise ValueError(f"add must be a finite number >= 0, got {add!r}")
    return float(add), to


def _effects(x, t, measure, add, to, labels):
    """yi, vi and the corrected-study mask (arrays checked by :func:`_check_inputs`)."""
    if measure not in RATE_MEASURES:
        raise ValueError(f"unknown measure {measure!r}: expected one of {', '.join(RATE_MEASURES)}")
    add, to = _correction(measure, add, to)
    zero = x == 0
    mask = {"all": np.ones(x.size, bool), "only0": zero,
            "if0all": np.full(x.size, bool(zero.any())), "none": np.zeros(x.size, bool)}[to]
    mask = mask & (add > 0)
    xc = x + np.where(mask, add, 0.0)
    rate = xc / t
    if measure == "IR":
        yi, vi = rate, rate / t
    elif measure == "IRLN":
        if (xc == 0).any():
            i = int(np.argmax(xc == 0))
            raise ValueError(f"study {_lab(labels, i)!r} has 0 events: its log rate is -inf "
                             "without a continuity correction (here add=0 or to='none'); use "
                             "the default add=0.5, to='only0', measure='IRS'/'IRFT' or "
                             "method='GLMM'")
        yi, vi = np.log(rate), 1.0 / xc
    elif measure == "IRS":
        yi, vi = np.sqrt(rate), 1.0 / (4.0 * t)
    else:
        yi, vi = 0.5 * (np.sqrt(rate) + np.sqrt(rate + 1.0 / t)), 1.0 / (4.0 * t)
    return yi, vi, mask, add, to


def rate_effects(events, person_time, *, measure="IRLN", add=None, to=None, data=None,
                 labels=None) -> pd.DataFrame:
    """Effect sizes ``yi`` and sampling variances ``vi`` of incidence rates (events per
    person-time), as metafor's ``escalc(measure, xi=events, ti=person_time)``.

    Parameters
    ----------
    events, person_time : array-like or column names of ``data``
        Event counts (>= 0) and exposure times (> 0, finite), one per study.
    measure : {"IRLN", "IR", "IRS", "IRFT"}
        Log rate (default), raw rate, square-root rate, Freeman–Tukey rate (see
        :mod:`iometa.rates` for the formulas).
    add, to
        Continuity correction: ``add`` is added to the counts of the studies selected by
        ``to`` (``"only0"``, ``"all"``, ``"if0all"``, ``"none"``). Defaults: 1/2 to zero counts
        for IR and IRLN, none for IRS and IRFT (metafor's defaults).
    data : DataFrame, optional
    labels : array-like or column name, optional
        Study labels used in error messages (and returned as ``label``).

    Returns
    -------
    DataFrame with ``label`` (if labels were given), ``events``, ``person_time``, ``yi``, ``vi``
    and ``corrected`` (a correction was added); ``attrs`` holds measure, add and to.

    Raises ``ValueError`` naming the study for missing or negative counts, person-time that is
    missing, infinite or <= 0, and IRLN with a zero count left uncorrected.

    References: Viechtbauer 2010 (J Stat Softw 36(3)); Freeman & Tukey 1950. R equivalent:
    ``metafor::escalc(measure="IRLN", xi=events, ti=person_time)``.

    Example
    -------
    >>> from iometa.core.rate_effects import rate_effects
    >>> es = rate_effects([9, 0, 3], [413.0, 263.0, 487.0])
    >>> es["vi"].round(4).tolist(), es["corrected"].tolist()
    ([0.1111, 2.0, 0.3333], [False, True, False])
    """
    x = _as_float(events, data, "events")
    t = _as_float(person_time, data, "person_time")
    labs = None if labels is None else study_labels(labels, data, x.size)
    _check_inputs(x, t, labs)
    yi, vi, mask, add, to = _effects(x, t, measure, add, to, labs)
    out = pd.DataFrame({"events": x, "person_time": t, "yi": yi, "vi": vi, "corrected": mask})
    if labs is not None:
        out.insert(0, "label", labs)
    out.attrs.update(measure=measure, add=add, to=to)
    return out


def rate_backtransform(measure, person_time=None, per=1.0):
    """The map from the model scale of ``measure`` to events per ``per`` units of person-time
    (IRFT needs the person-times: the harmonic mean is used)."""
    if measure in RATE_MEASURES:
        row = MEASURES[measure]
        return lambda v: per * row.backtransform(np.asarray(v, dtype=float), n=person_time)
    raise ValueError(f"unknown measure {measure!r}: expected one of {', '.join(RATE_MEASURES)}")


def rate_study_columns(x, t, level, per):
    """Per-study display columns: events, person-time, the rate x/t × per and its exact
    (Garwood) Poisson CI × per."""
    from scipy import special

    a = 1.0 - level
    lo = np.where(x > 0, special.gammaincinv(np.maximum(x, 1e-300), a / 2), 0.0) / t
    hi = special.gammaincinv(x + 1.0, 1 - a / 2) / t
    return {"events": x, "person_time": t, "estimate": per * x / t, "ci_low": per * lo,
            "ci_high": per * hi}



"""Incidence rates per person-time: :func:`rate_effects` (metafor ``escalc`` IR, IRLN, IRS,
IRFT) and :func:`pool_rates` (``rma`` with every τ² estimator, or the Poisson-normal GLMM of
``rma.glmm(measure="IRLN")``).

============  =====================================  ==========  =============================
measure       yi                                     vi          back-transformation
============  =====================================  ==========  =============================
``"IR"``      x/t                                    x/t²        identity
``"IRLN"``    ln(x/t)                                1/x         exp
``"IRS"``     √(x/t)                                 1/(4t)      square (0 below 0)
``"IRFT"``    ½[√(x/t) + √((x + 1)/t)]               1/(4t)      inverse Freeman–Tukey at the
                                                                 harmonic mean of t
============  =====================================  ==========  =============================

Continuity correction (metafor's conventions): ``add`` is added to the event count of the
studies chosen by ``to`` (``"only0"``: those with 0 events; ``"all"``; ``"if0all"``: all if any
has 0 events; ``"none"``) before yi and vi are computed. The default is ``add=0.5``,
``to="only0"`` for IR and IRLN and no correction (``add=0``) for IRS and IRFT, which are finite
at x = 0. Back-transformed rates are multiplied by ``per`` (e.g. ``per=100``: events per 100
person-years when the person-time is in years).

References: Viechtbauer 2010 (J Stat Softw 36(3)); Freeman & Tukey 1950 (Ann Math Stat
21:607); Stijnen, Hamza & Özdemir 2010 (Stat Med 29:3046); Garwood 1936 (Biometrika 28:437,
exact Poisson intervals of the study rates).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from ._warnings import DataWarning
from .effects import CORRECTION_MODES
from .models import _subset_data, column, fit_result, study_labels
from .transforms import harmonic_mean

__all__ = ["RATE_MEASURES", "iirft", "pool_rates", "rate_backtransform", "rate_effects"]

RATE_MEASURES = ("IR", "IRLN", "IRS", "IRFT")


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
    >>> from iometa.rates import rate_effects
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


def iirft(x, ti):
    """Inverse of the Freeman–Tukey rate transformation at person-time ``ti`` (metafor's
    ``transf.iirft``): (1/t − 8x² + 16 t x⁴)/(16 x² t), 0 below the transform of a zero
    rate and where the result is below machine epsilon."""
    x = np.asarray(x, dtype=float)
    ti = np.asarray(ti, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (1.0 / ti - 8.0 * x**2 + 16.0 * ti * x**4) / (16.0 * x**2 * ti)
    z = np.where(x < 0.5 * np.sqrt(1.0 / ti), 0.0, z)
    return np.where(z <= np.finfo(float).eps, 0.0, z)


def rate_backtransform(measure, person_time=None, per=1.0):
    """The map from the model scale of ``measure`` to events per ``per`` units of person-time
    (IRFT needs the person-times: the harmonic mean is used)."""
    if measure == "IR":
        return lambda v: per * np.asarray(v, dtype=float)
    if measure == "IRLN":
        return lambda v: per * np.exp(np.asarray(v, dtype=float))
    if measure == "IRS":
        return lambda v: per * np.where(np.asarray(v, float) < 0, 0.0, np.asarray(v, float) ** 2)
    if measure == "IRFT":
        hm = harmonic_mean(person_time)
        return lambda v: per * iirft(v, hm)
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


def _check_per(per, unit):
    if not (isinstance(per, (int, float, np.number)) and not isinstance(per, bool)
            and np.isfinite(per) and per > 0):
        raise ValueError(f"per must be a finite number > 0 (e.g. 100 for per 100 "
                         f"person-years), got {per!r}")
    if not isinstance(unit, str):
        raise ValueError(f"unit must be a string such as 'person-years', got {unit!r}")
    return float(per), ("rate" if per == 1 and unit == "person-time"
                        else f"events per {float(per):g} {unit}")


def pool_rates(events, person_time, *, measure="IRLN", method="REML", test="z", level=0.95,
               data=None, labels=None, per=1.0, unit="person-time", add=None, to=None,
               nagq=7):
    """Pool incidence rates (events per person-time) on the ``measure`` scale.

    Parameters
    ----------
    events, person_time : array-like or column names of ``data``
        Event counts and exposure times per study.
    measure : {"IRLN", "IR", "IRS", "IRFT"}
        Scale of the model (see :func:`rate_effects`).
    method : str
        ``"FE"``, a τ² estimator of :func:`iometa.pool` (``"DL"``, ``"HE"``, ``"HS"``, ``"SJ"``,
        ``"ML"``, ``"REML"``, ``"EB"``, ``"PM"``), or ``"GLMM"``: the Poisson-normal model
        fitted by maximum likelihood with ``nagq``-point adaptive Gauss–Hermite quadrature
        (metafor ``rma.glmm(measure="IRLN")``; needs ``measure="IRLN"``, whole-number counts,
        k >= 2 and at least one event).
    test : {"z", "knha"}
        z or Knapp–Hartung inference; with the GLMM ``"knha"`` is metafor's ``test="t"``
        (t with k − 1 df, no adjustment of the SE).
    level : float
        Confidence level.
    data, labels
        DataFrame holding the columns; study labels.
    per : float
        Scale of the reported rates: ``estimate`` = back-transformed pooled rate × ``per``
        (``per=1``: events per unit of person-time, so ``estimate = exp(coef)`` for IRLN).
    unit : str
        Name of the person-time unit, for the reporting-scale label (e.g. "person-years").
    add, to
        Continuity correction for the inverse-variance models (see :func:`rate_effects`).
    nagq : int
        Quadrature points of the GLMM.

    Returns
    -------
    MetaResult with ``kind="rate"``; ``studies`` has events, person_time, the study rates ×
    ``per`` and their exact Poisson CIs. IRS is back-transformed by squaring and IRFT by
    metafor's ``transf.iirft`` at the harmonic mean of the person-times.

    References: Viechtbauer 2010 (J Stat Softw 36(3)); Stijnen, Hamza & Özdemir 2010 (Stat Med
    29:3046). R equivalents: ``rma(yi, vi, method=, test=)`` on ``escalc(measure, xi=, ti=)``;
    ``rma.glmm(measure="IRLN", xi=, ti=, nAGQ=7)``.

    Example
    -------
    >>> from iometa.rates import pool_rates
    >>> res = pool_rates([19, 19, 13, 9, 23, 50], [398, 245, 435, 241, 483, 405],
    ...                  per=100, unit="patient-years")
    >>> round(res.estimate, 2), res.scale
    (5.58, 'events per 100 patient-years')
    """
    x = _as_float(events, data, "events")
    t = _as_float(person_time, data, "person_time")
    labs = study_labels(labels, data, x.size)
    per, scale = _check_per(per, unit)
    _check_inputs(x, t, labs)
    opts = dict(measure=measure, method=method, test=test, level=level, per=per, unit=unit,
                add=add, to=to, nagq=nagq)

    def refit(index=None, **changes):
        idx = slice(None) if index is None else index
        return pool_rates(x[idx], t[idx], labels=list(np.asarray(labs, dtype=object)[idx]),
                          data=_subset_data(data, index), **{**opts, **changes})

    if method == "GLMM":
        from .rates_glmm import glmm_rate_result

        return glmm_rate_result(x, t, labels=labs, data=data, refit=refit, scale=scale, **opts)
    notes = []
    if not (x > 0).any():
        notes.append(f"every study has 0 events: the {measure} estimate rests on "
                     + ("the continuity correction" if measure in ("IR", "IRLN") or add
                        else "the transformation") + "; report the total events over the total "
                     "person-time with its exact Poisson CI instead")
        warnings.warn(notes[-1], DataWarning, stacklevel=2)
    yi, vi, mask, add_used, to_used = _effects(x, t, measure, add, to, labs)
    if (vi == 0).any():
        i = int(np.argmax(vi == 0))
        raise ValueError(f"study {labs[i]!r} has 0 events and no continuity correction: its "
                         f"{measure} sampling variance is 0 (infinite weight); use add > 0 "
                         "(the default 0.5 with to='only0'), measure='IRS'/'IRFT' or "
                         "method='GLMM'")
    if mask.any() and (x > 0).any():
        notes.append(f"continuity correction of {add_used:g} added to the events of "
                     f"{int(mask.sum())} stud{'y' if mask.sum() == 1 else 'ies'} "
                     f"({', '.join(np.asarray(labs)[mask])}; to={to_used!r})")
    bt = rate_backtransform(measure, t, per)
    return fit_result(yi, vi, method=method, test=test, level=level, labels=labs,
                      measure=measure, kind="rate", scale=scale, backtransform=bt,
                      study_columns=rate_study_columns(x, t, level, per), data=data,
                      refit=refit, notes=notes,
                      extra={"corrected": mask, "add": add_used, "to": to_used, "per": per,
                             "unit": unit, "events_total": float(x.sum()),
                             "person_time_total": float(t.sum()),
                             "harmonic_t": harmonic_mean(t) if measure == "IRFT" else None})

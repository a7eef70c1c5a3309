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

from .._warnings import DataWarning
from .models import fit_result, no_glmm_pi_options, study_labels
from .results import MetaResult
from .spec import ModelSpec, register_fitter
from .transforms import harmonic_mean, iirft

__all__ = ["RATE_MEASURES", "iirft", "pool_rates", "rate_backtransform", "rate_effects"]

from .rate_effects import (  # noqa: E402  (re-exported: the rates face)
    RATE_MEASURES,
    _as_float,
    _check_inputs,
    _effects,
    rate_backtransform,
    rate_effects,
    rate_study_columns,
)


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
               nagq=7, pi_method="metafor", adhoc=False) -> MetaResult:
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
    pi_method, adhoc
        Prediction interval and Knapp–Hartung ad hoc correction, as in :func:`iometa.pool`
        (inverse-variance models only).

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
    >>> from iometa.core.rates import pool_rates
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

    spec = ModelSpec("pool_rates", **opts, pi_method=pi_method, adhoc=adhoc)
    inputs = {"events": x, "person_time": t}
    if method == "GLMM":
        no_glmm_pi_options(pi_method, adhoc)
        from .rates_glmm import glmm_rate_result

        return glmm_rate_result(x, t, labels=labs, data=data, spec=spec, inputs=inputs,
                                scale=scale, **opts)
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
                      spec=spec, inputs=inputs, notes=notes, pi_method=pi_method, adhoc=adhoc,
                      extra={"corrected": mask, "add": add_used, "to": to_used, "per": per,
                             "unit": unit, "events_total": float(x.sum()),
                             "person_time_total": float(t.sum()),
                             "harmonic_t": harmonic_mean(t) if measure == "IRFT" else None})


register_fitter("pool_rates", pool_rates,
                ("measure", "method", "test", "level", "per", "unit", "add", "to", "nagq",
                 "pi_method", "adhoc"))

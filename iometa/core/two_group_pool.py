"""Pooling of comparative studies: :func:`pool_two_groups` (2×2 tables) and :func:`pool_effects`
(effects with a measure label, e.g. log hazard ratios from :func:`iometa.effects_from_reported`).

Both return a :class:`~iometa.results.MetaResult` whose ``estimate``, ``ci_low``, ``ci_high``
(and prediction interval, and the per-study estimates) are on the ratio scale for ratio
measures (``scale="ratio"``) and on the model scale otherwise; ``coef`` and its CI stay on the
model (log) scale.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd

from .._warnings import DataWarning
from ._lazy import Deferred
from .estimators import METHODS
from .mantel_haenszel import mantel_haenszel, peto
from .measures import MEASURES
from .models import _zcrit, column, fit_result, study_labels
from .results import MetaResult
from .spec import ModelSpec, register_fitter
from .two_group import BINARY_MEASURES, _arrays, _check_counts, binary_effects

__all__ = ["pool_two_groups", "pool_effects", "RATIO_MEASURES"]

#: measures pooled on the log scale and reported as ratios
RATIO_MEASURES = tuple(c for c, m in MEASURES.items() if m.axis == "ratio")
POOL_METHODS = (*METHODS, "MH", "Peto")


def _exp(x):
    return np.exp(np.asarray(x, dtype=float))


def _plural(n, one="study", many="studies"):
    return one if n == 1 else many


def _count_columns(a, b, c, d):
    return {"events_1": a.astype(int), "total_1": (a + b).astype(int), "events_2": c.astype(int),
            "total_2": (c + d).astype(int), "n": (a + b + c + d).astype(int)}


def pool_two_groups(events_1, total_1, events_2, total_2, *, measure="OR", method="REML",
                    test="z", level=0.95, data=None, labels=None, tau2=None) -> MetaResult:
    """Pool comparative studies given as events/total in two groups (group 1 vs group 2).

    ``measure`` is ``"OR"``, ``"RR"`` or ``"RD"``. ``method`` is one of :func:`iometa.pool`'s
    (``"FE"``, ``"DL"``, ``"HE"``, ``"HS"``, ``"SJ"``, ``"ML"``, ``"REML"``, ``"EB"``,
    ``"PM"``: inverse variance on :func:`iometa.two_group_effects` with escalc's defaults,
    ½ added to every cell of tables with a zero cell and double-zero tables kept), or
    ``"MH"`` (Mantel–Haenszel, OR/RR/RD) or ``"Peto"`` (Peto's one-step OR); ``test`` ``"z"`` or
    ``"knha"`` (inverse variance only). For MH and Peto τ² = 0, the estimate and SE use the
    uncorrected tables, and Q and I² use the ½-corrected per-study effects of the tables with a
    defined effect (double-zero tables are left out of Q and I²; MH still counts them, which
    changes only the RD estimate). For the MH OR, ``result.extra`` holds the
    Cochran–Mantel–Haenszel test with continuity correction (``cmh_stat``, ``cmh_pval``),
    Cochran's test (``cochran_*``) and the Breslow–Day test of homogeneity with Tarone's
    correction (``breslow_day_*``, ``tarone_stat``, ``tarone_pval``, ``tarone_df``); every
    MH/Peto result has ``k_yi`` (studies in Q) and ``double_zero`` (their labels).

    ``estimate``, ``ci_low``, ``ci_high`` are odds or risk ratios for OR/RR/Peto and risk
    differences for RD. ``result.studies`` carries the counts (``events_1``, ``total_1``,
    ``events_2``, ``total_2``, ``n``) besides yi, vi and the weights (percent; MH weights for
    MH, score variances for Peto). Inputs are arrays or column names of ``data``.

    R equivalent: ``rma(escalc(measure, ai=, n1i=, ci=, n2i=), method=, test=)``,
    ``rma.mh(ai=, n1i=, ci=, n2i=, measure=)``, ``rma.peto(ai=, n1i=, ci=, n2i=)``.

    References: Mantel & Haenszel 1959 (J Natl Cancer Inst 22:719); Robins, Breslow &
    Greenland 1986 (Biometrics 42:311); Greenland & Robins 1985 (Biometrics 41:55); Yusuf et
    al. 1985 (Prog Cardiovasc Dis 27:335); Tarone 1985 (Biometrika 72:91).

    Example
    -------
    >>> from iometa.core.two_group_pool import pool_two_groups
    >>> res = pool_two_groups([2, 4, 6, 7, 7, 11], [39, 44, 107, 103, 110, 154],
    ...                              [1, 4, 4, 5, 3, 4], [43, 44, 110, 100, 106, 146],
    ...                              measure="OR", method="MH")
    >>> round(res.estimate, 4), round(res.extra["cmh_pval"], 4)
    (1.7893, 0.0504)
    """
    if measure not in BINARY_MEASURES:
        raise ValueError(f"unknown measure {measure!r}: expected one of "
                         f"{', '.join(BINARY_MEASURES)} (means: two_group_effects + pool_effects)")
    if method not in POOL_METHODS:
        raise ValueError(f"unknown method {method!r}: expected one of {', '.join(POOL_METHODS)}")
    if method == "Peto" and measure != "OR":
        raise ValueError(f"method='Peto' pools odds ratios only (got measure={measure!r})")
    if data is not None and not isinstance(data, pd.DataFrame):
        raise ValueError("data must be a pandas DataFrame")
    names = ("events_1", "total_1", "events_2", "total_2")
    arr = _arrays(names, (events_1, total_1, events_2, total_2), data)
    k = arr["events_1"].size
    labs = study_labels(labels, data, k)
    a, b, c, d = _check_counts(arr, labs)
    opts = dict(measure=measure, method=method, test=test, level=level, tau2=tau2)
    refit = (ModelSpec(fitter="pool_two_groups", **opts), {n: arr[n] for n in names})

    ratio = measure in RATIO_MEASURES
    bt = _exp if ratio else None
    scale = "ratio" if ratio else "model"
    if method in ("MH", "Peto"):
        return _mh_result(a, b, c, d, opts, labs, data, refit, bt, scale)
    yi, vi, corr, dz = binary_effects(a, b, c, d, measure, add=0.5, to="only0")
    notes = []
    if corr.any():
        who = ", ".join(np.asarray(labs)[corr])
        notes.append(f"1/2 added to every cell of {int(corr.sum())} "
                     f"{_plural(int(corr.sum()))} with a zero cell ({who}; escalc's add=1/2, "
                     "to='only0')")
    if dz.any():
        who = ", ".join(np.asarray(labs)[dz])
        notes.append(f"double-zero {_plural(int(dz.sum()))} ({who}) kept in the "
                     "inverse-variance model with 1/2 in every cell (escalc's drop00=FALSE); "
                     "method='MH' or 'Peto' leave them out of Q and I^2")
        warnings.warn(notes[-1], DataWarning, stacklevel=2)
    cols = {**_count_columns(a, b, c, d), "corrected": corr, "double_zero": dz}
    return fit_result(yi, vi, method=method, test=test, level=level, tau2=tau2, labels=labs,
                      measure=measure, kind="comparative", scale=scale, backtransform=bt,
                      study_columns=cols, data=data, spec=refit[0], inputs=refit[1],
                      notes=notes,
                      extra={"add": 0.5, "to": "only0", "drop00": False,
                             "double_zero": [labs[i] for i in np.flatnonzero(dz)]})


def _mh_result(a, b, c, d, opts, labs, data, refit, bt, scale) -> MetaResult:
    measure, method, test, level = opts["measure"], opts["method"], opts["test"], opts["level"]
    if test != "z":
        raise ValueError(f"method={method!r} has only the z test (as metafor's rma.mh and "
                         f"rma.peto); test={test!r} needs an inverse-variance method")
    if opts["tau2"] is not None:
        raise ValueError(f"method={method!r} is a common-effect method (tau^2 = 0): tau2= "
                         "cannot be set")
    fit = mantel_haenszel(a, b, c, d, measure=measure, level=level) if method == "MH" \
        else peto(a, b, c, d, level=level)
    btf = bt if bt is not None else (lambda x: np.asarray(x, dtype=float))
    est, lo, hi = (float(x) for x in btf(np.array([fit["coef"], fit["ci_low"],
                                                   fit["ci_high"]])))
    dz = ~fit["defined"]
    msgs = []
    if dz.any():
        who = ", ".join(np.asarray(labs)[dz])
        one = int(dz.sum()) == 1
        change = (f"{'it counts' if one else 'they count'} in the risk-difference estimate "
                  f"through {'its' if one else 'their'} weight n1*n2/N"
                  if measure == "RD" and method == "MH" else
                  f"{'it adds' if one else 'they add'} nothing to the estimate")
        msgs.append(f"double-zero {_plural(int(dz.sum()))} ({who}) left out of Q and I^2 (Q df "
                    f"= {fit['k_yi']} - 1), as metafor's rma.{method.lower()}; {change}")
        warnings.warn(msgs[-1], DataWarning, stacklevel=3)
    extra = {k: fit[k] for k in fit if k.startswith(("cmh", "cochran", "breslow", "tarone"))
             or k in ("k_pos", "k_yi")}
    if "cmh_stat" in extra:
        extra["cmh_correct"] = True
        if extra["tarone_pval"] is None:
            msgs.append(f"Breslow-Day/Tarone tests need 2 or more informative tables (have "
                        f"{extra['k_pos']}): their p-values are None")
    if method == "Peto":
        extra["observed_minus_expected"] = fit["observed_minus_expected"]
        extra["score_variance"] = fit["score_variance"]
    extra.update(double_zero=[labs[i] for i in np.flatnonzero(dz)], tau2_fixed=None,
                 add=0.5, to="only0", drop00=True)
    z = _zcrit(level)
    yi, vi, weights = fit["yi"], fit["vi"], fit["weights"]
    cols = _count_columns(a, b, c, d)

    def studies():
        df = pd.DataFrame({"label": labs, "yi": yi, "vi": vi, "weight": weights, **cols,
                           "in_heterogeneity": fit["defined"]})
        se = np.sqrt(vi)
        df["estimate"], df["ci_low"], df["ci_high"] = btf(yi), btf(yi - z * se), btf(yi + z * se)
        return df

    nan2 = (math.nan, math.nan)
    return MetaResult(
        measure=measure, method=method, test="z", level=level, kind="comparative", scale=scale,
        estimate=est, ci_low=lo, ci_high=hi, pi_low=lo, pi_high=hi, coef=fit["coef"],
        se=fit["se"], stat=fit["stat"], pval=fit["pval"], coef_ci_low=fit["ci_low"],
        coef_ci_high=fit["ci_high"], coef_pi_low=fit["ci_low"], coef_pi_high=fit["ci_high"],
        df=None, k=fit["k"], tau2=0.0, tau2_ci=nan2, i2=fit["i2"], i2_ci=nan2, h2=fit["h2"],
        h2_ci=nan2, q=fit["q"], q_df=int(fit["q_df"]), q_pval=fit["q_pval"],
        studies=Deferred(studies), converged=True, n_iter=0, warnings=tuple(msgs), data=data,
        extra=extra, _backtransform=bt, spec=refit[0], inputs=refit[1])


def pool_effects(yi, vi, *, measure, method="REML", test="z", level=0.95, data=None,
                 labels=None, tau2=None) -> MetaResult:
    """Pool effect sizes of a named comparative ``measure`` (``"HR"``, ``"OR"``, ``"SMD"``, …).

    The same model as :func:`iometa.pool` (every τ² method, z or Knapp–Hartung), with the
    result labelled by ``measure``: for ratio measures (``"OR"``, ``"RR"``, ``"HR"``,
    ``"IRR"``, ``"ROM"``) ``yi`` are log ratios and ``estimate``, the CI, the PI and the
    study estimates are reported as ratios (exp); other measures (``"MD"``, ``"SMD"``,
    ``"RD"``, …) are reported on their own scale. ``yi``, ``vi`` and ``labels`` are arrays or
    column names of ``data`` (e.g. the frame of :func:`iometa.two_group_effects` or
    :func:`iometa.effects_from_reported`).

    R equivalent: ``predict(rma(yi, vi, method=, test=), transf = exp)`` for ratios.

    References: DerSimonian & Laird 1986 (Control Clin Trials 7:177); Viechtbauer 2005
    (J Educ Behav Stat 30:261); Parmar, Torri & Stewart 1998 (Stat Med 17:2815, log HRs).

    Example
    -------
    >>> from iometa.core.two_group_pool import pool_effects
    >>> res = pool_effects([-0.22, -0.11, -0.36], [0.010, 0.020, 0.015], measure="HR",
    ...                           method="FE")
    >>> round(res.estimate, 4)
    0.7884
    """
    if not isinstance(measure, str) or not measure:
        raise ValueError("measure must name the effect measure, e.g. 'HR', 'OR' or 'SMD'")
    y = np.asarray(column(yi, data, "yi"), dtype=float)
    v = np.asarray(column(vi, data, "vi"), dtype=float)
    labs = None if labels is None else study_labels(labels, data, y.size)
    opts = dict(measure=measure, method=method, test=test, level=level, tau2=tau2)
    spec = ModelSpec(fitter="pool_effects", **opts)

    ratio = measure.upper() in RATIO_MEASURES
    return fit_result(y, v, method=method, test=test, level=level, tau2=tau2, labels=labs,
                      measure=measure, kind="comparative", scale="ratio" if ratio else "model",
                      backtransform=_exp if ratio else None, data=data, spec=spec,
                      inputs={"yi": y, "vi": v})


_OPTIONS = ("measure", "method", "test", "level", "tau2")
register_fitter("pool_two_groups", pool_two_groups, _OPTIONS)
register_fitter("pool_effects", pool_effects, _OPTIONS)

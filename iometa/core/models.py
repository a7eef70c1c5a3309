"""Pooling: :func:`pool` (generic effects) and :func:`pool_proportions` (single proportions).

Both return a :class:`~iometa.core.results.MetaResult`. The numbers come from the batched core
(:func:`iometa.core.fitting.fit_arrays`, a batch of one); this module adds input checking, edge
cases, back-transformation and the per-study table.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from .._typing import Data, Labels, Values
from .._warnings import ConvergenceWarning, IometaWarning, SmallSampleWarning, TransformWarning
from ._solve import dot
from .effects import proportion_effects, study_columns_proportions
from .estimators import METHODS, REGISTRY, sweep, tau2_genq
from .fitting import PI_METHODS, chi2_quantile, fit_one, reweighted, tau2_ci_qprofile
from .glmm_result import glmm_result
from .measures import MEASURES, PROPORTION_MEASURES
from .results import Deferred, MetaResult
from .spec import ModelSpec, register_fitter
from .transforms import harmonic_mean

#: FT with sample sizes more unequal than this ratio gets a warning (Schwarzer et al. 2019)
FT_N_RATIO = 5.0


def column(x, data, name):
    """``x`` as a 1-d array; a string is a column of ``data``."""
    if isinstance(x, str):
        if data is None:
            raise ValueError(f"{name}={x!r} is a column name but no data= DataFrame was given")
        if x not in data.columns:
            raise ValueError(f"{name}={x!r}: no such column in data (columns: "
                             f"{', '.join(map(str, data.columns))})")
        return data[x].to_numpy()
    if x is None:
        return None
    return np.asarray(x).ravel()


def study_labels(labels, data, k):
    lab = column(labels, data, "labels")
    if lab is None:
        return [f"Study {i + 1}" for i in range(k)]
    if len(lab) != k:
        raise ValueError(f"labels has {len(lab)} entries for {k} studies")
    return [str(x) for x in lab]


def _label(labels, i):
    """Label of study ``i`` (labels None: the default "Study i+1")."""
    return f"Study {i + 1}" if labels is None else labels[i]


def _check_effects(yi, vi, labels):
    yi = np.asarray(yi, dtype=float).ravel()
    vi = np.asarray(vi, dtype=float).ravel()
    if yi.shape != vi.shape:
        raise ValueError(f"yi and vi differ in length ({yi.size} vs {vi.size})")
    if yi.size == 0:
        raise ValueError("no studies to pool (k = 0)")
    if np.isfinite(np.add.reduce(yi) + np.add.reduce(vi)) and np.minimum.reduce(vi) > 0:
        return yi, vi  # all finite (else the sum would not be) and all variances positive
    for name, arr in (("yi", yi), ("vi", vi)):
        bad = ~np.isfinite(arr)
        if bad.any():
            i = int(np.argmax(bad))
            raise ValueError(f"{name} of study {_label(labels, i)!r} is {arr[i]!r}: every study "
                             "needs a finite effect size and sampling variance")
    if (vi <= 0).any():
        i = int(np.argmax(vi <= 0))
        raise ValueError(f"study {_label(labels, i)!r} has sampling variance {vi[i]:g}; variances "
                         "must be > 0 (a zero variance would get infinite weight)")
    return yi, vi


#: magnitudes beyond which squares and inverse squares overflow double precision
_TINY, _HUGE = 1e-150, 1e150


def _check_range(yi, vi, labels):
    """Refuse values whose squares or inverse squares overflow: a clear error, never NaN."""
    if np.minimum.reduce(vi) >= _TINY and np.maximum.reduce(np.abs(yi)) <= _HUGE \
            and np.maximum.reduce(vi) <= _HUGE:
        return
    for name, bad in (("sampling variance", (vi < _TINY) | (vi > _HUGE)),
                      ("effect size", np.abs(yi) > _HUGE)):
        if bad.any():
            i = int(np.argmax(bad))
            val = vi[i] if name == "sampling variance" else yi[i]
            raise ValueError(f"study {_label(labels, i)!r} has {name} {val:g}, beyond what double "
                             f"precision can square or invert ({_TINY:g} to {_HUGE:g}): rescale "
                             "the effect sizes (e.g. change their unit)")


def _variance_ratio_warning(vi, msgs):
    """metafor's warning when the sampling variances span seven orders of magnitude or more."""
    ratio = float(np.maximum.reduce(vi) / np.minimum.reduce(vi))
    if ratio >= 1e7:
        _warn(msgs, f"ratio of largest to smallest sampling variance is extremely large "
              f"({ratio:.3g}); the results may not be numerically stable (metafor warns too)",
              stacklevel=5)


def _warn(msgs: list[str], msg: str, cls=IometaWarning, stacklevel=4):
    warnings.warn(msg, cls, stacklevel=stacklevel)
    msgs.append(msg)


def _interval_stats(tau2_ci, s2):
    lo, hi = tau2_ci
    i2 = tuple(100 * t / (t + s2) if np.isfinite(t) else np.nan for t in (lo, hi))
    h2 = tuple((t + s2) / s2 if np.isfinite(t) else np.nan for t in (lo, hi))
    return i2, h2


def fit_result(yi, vi, *, method="REML", test="z", level=0.95, tau2=None, labels=None,
               measure="GEN", kind="generic", scale="model",
               backtransform: Callable | None = None, study_columns=None, data=None,
               spec: ModelSpec | None = None, inputs=None, notes=(), extra=None,
               pi_method="metafor", adhoc=False, weights=None) -> MetaResult:
    """Fit a meta-analysis of ``yi``/``vi`` and build the result (used by every pool function).

    The per-study table and the Q-profile intervals of τ², I² and H² are computed on first
    access (:class:`~iometa.core.results.Deferred`), except where the τ² interval hits metafor's
    search limit: then it is computed now, so that its warning is raised with the fit.
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}: expected one of {', '.join(METHODS)}")
    check_pi_options(test, pi_method, adhoc)
    k = int(np.asarray(yi).size)
    a = _user_weights(weights, k)
    labels = None if labels is None else list(labels)  # None: "Study 1", … built when needed
    yi, vi = _check_effects(yi, vi, labels)
    _check_range(yi, vi, labels)
    yi, vi = yi.copy(), vi.copy()  # the deferred fields read them later
    msgs: list[str] = []
    if k > 1:
        _variance_ratio_warning(vi, msgs)
    if k == 1:
        _warn(msgs, f"only one study ({_label(labels, 0)}): the pooled estimate is that study's own "
              "estimate; heterogeneity cannot be estimated (tau^2 set to 0)", SmallSampleWarning)
        if test == "knha":
            _warn(msgs, "Knapp-Hartung needs k >= 2 (t with k - 1 = 0 df); used test='z' "
                  "instead", SmallSampleWarning)
            test, adhoc = "z", False
    if pi_method in ("hts", "hk-pr") and k < 3 and not (method == "FE" and tau2 is None):
        _warn(msgs, f"pi_method={pi_method!r} uses t with k - 2 df, which needs k >= 3 "
              f"studies (k = {k}): the prediction interval is not defined (NaN)",
              SmallSampleWarning)
    if method == "FE" and test == "knha" and k > 1:
        _warn(msgs, "Knapp-Hartung adjustment with a common-effect model: the SE is scaled by "
              "sqrt(Q/(k - 1)), as metafor does; this is rarely meaningful")
    fixed = 0.0 if k == 1 else tau2
    if method == "GENQ":
        if a is None:
            raise ValueError("method='GENQ' needs weights= (the weights of its generalised Q "
                             "statistic, also used for the estimate, as metafor)")
        if tau2 is None:
            fixed = tau2_genq(yi, vi, a)
    f = fit_one(yi, vi, method=method, test=test, level=level, tau2=fixed, pi_method=pi_method,
                adhoc=adhoc)
    if a is not None:
        f = reweighted(f, yi, vi, a, test=test, level=level, pi_method=pi_method, adhoc=adhoc,
                       fe=method == "FE" and tau2 is None)
    weights = f.pop("weights")
    f = {name: float(x) for name, x in f.items()}
    if not f["converged"] and REGISTRY[method].kind == "iterated":
        raise ValueError(f"the {method} estimator of tau^2 did not converge after "
                         f"{int(f['n_iter'])} iterations (its fixed-point iteration cycles; "
                         "metafor stops with an error too): use method='DL', 'PM' or 'REML'")
    if not f["converged"]:
        _warn(msgs, f"the {method} estimator of tau^2 did not converge after {int(f['n_iter'])} "
              f"iterations; the last value ({f['tau2']:.6g}) is reported. Try method='PM' "
              "or 'DL'", ConvergenceWarning)
    if test == "knha" and k > 1 and f["se"] == 0:
        _warn(msgs, "all studies have identical effects, so the Knapp-Hartung standard error is "
              "0: the CI has zero width and the t statistic is "
              + ("NaN (0/0: the effects are all 0), and so is its p-value" if f["coef"] == 0
                 else "infinite") + " (metafor reports the same); use test='z' for a "
              "meaningful interval")
    s2 = f["s2"] if k > 1 else float(vi[0])
    extra = dict(extra or {})
    if spec is None:  # arrays fitted directly: refit() re-pools them with pool()
        spec = ModelSpec("pool", measure, method, test, level, tau2=tau2, pi_method=pi_method,
                         adhoc=adhoc)
        inputs = {"yi": yi, "vi": vi}
    if (method == "FE" and tau2 is None) or k < 2 or tau2 is not None:
        tau2_ci = i2_ci = h2_ci = (np.nan, np.nan)
    else:
        tau2_ci, i2_ci, h2_ci = _heterogeneity_cis(yi, vi, level, f["tau2"], s2, extra, msgs)
    bt = backtransform if backtransform is not None else (lambda x: np.asarray(x, float))
    names = ("coef", "ci_low", "ci_high", "pi_low", "pi_high")
    rep = dict(zip(names, (float(x) for x in bt(np.array([f[a] for a in names])))))
    studies = Deferred(lambda: _studies_frame(labels, yi, vi, weights, study_columns,
                                              bt, level))
    return MetaResult(
        measure=measure, method=method, test=test, level=level, kind=kind, scale=scale,
        estimate=rep["coef"], ci_low=rep["ci_low"], ci_high=rep["ci_high"],
        pi_low=rep["pi_low"], pi_high=rep["pi_high"],
        coef=f["coef"], se=f["se"], stat=f["stat"], pval=f["pval"],
        coef_ci_low=f["ci_low"], coef_ci_high=f["ci_high"], coef_pi_low=f["pi_low"],
        coef_pi_high=f["pi_high"], df=f["df"] if test == "knha" else None,
        k=k, tau2=f["tau2"], tau2_ci=tau2_ci, i2=f["i2"] if k > 1 else 0.0, i2_ci=i2_ci,
        h2=f["h2"] if k > 1 else 1.0, h2_ci=h2_ci, q=f["q"], q_df=int(f["q_df"]),
        q_pval=f["q_pval"], studies=studies, converged=bool(f["converged"]),
        n_iter=int(f["n_iter"]), warnings=tuple(msgs) + tuple(notes), data=data, extra=extra,
        _backtransform=backtransform, spec=spec, inputs=inputs, pi_method=pi_method,
        adhoc=bool(adhoc),
    )


def _user_weights(weights, k):
    """``weights`` as k finite non-negative floats with a positive sum (None stays None)."""
    if weights is None:
        return None
    a = np.asarray(weights, dtype=float).ravel()
    if a.size == 1:
        a = np.full(k, float(a[0]))
    if a.size != k or not np.isfinite(a).all() or (a < 0).any() or a.sum() <= 0:
        raise ValueError(f"weights must be {k} finite non-negative numbers with a positive sum "
                         "(one per study)")
    return a


def check_pi_options(test, pi_method, adhoc):
    """ValueError for an unknown ``pi_method`` or ``adhoc`` without Knapp–Hartung."""
    if pi_method not in PI_METHODS:
        raise ValueError(f"unknown pi_method {pi_method!r}: expected one of "
                         f"{', '.join(PI_METHODS)}")
    if adhoc and test != "knha":
        raise ValueError("adhoc=True is the Knapp-Hartung ad hoc correction: it needs "
                         "test='knha'")


def _studies_frame(labels, yi, vi, weights, study_columns, bt, level):
    """The per-study table of a result (label, yi, vi, weight %, estimate and CI)."""
    labels = study_labels(None, None, yi.size) if labels is None else labels
    studies = pd.DataFrame({"label": labels, "yi": yi, "vi": vi, "weight": weights})
    if study_columns is not None:
        for name, values in study_columns.items():
            studies[name] = values
    if "estimate" not in studies:
        z = _zcrit(level)
        se = np.sqrt(vi)
        studies["estimate"] = bt(yi)
        studies["ci_low"] = bt(yi - z * se)
        studies["ci_high"] = bt(yi + z * se)
    return studies


def _heterogeneity_cis(yi, vi, level, tau2, s2, extra, msgs):
    """Q-profile CIs of τ², I², H²: deferred, unless metafor's search limit may be reached."""
    if _ci_may_hit_cap(yi, vi, level, tau2):
        tau2_ci, msg = _tau2_ci(yi, vi, level, tau2, extra)
        if msg:
            _warn(msgs, msg, stacklevel=5)
        return (tau2_ci, *_interval_stats(tau2_ci, s2))
    memo = []

    def cis():
        if not memo:
            tau2_ci = _tau2_ci(yi, vi, level, tau2, {})[0]
            memo.append((tau2_ci, *_interval_stats(tau2_ci, s2)))
        return memo[0]

    return tuple(Deferred(lambda i=i: cis()[i]) for i in range(3))


def _ci_may_hit_cap(yi, vi, level, tau2):
    """Whether the upper Q-profile limit may exceed max(100, 10·τ̂²): Q(cap) > χ²_{α/2}(k − 1)
    (Q decreases in τ²; the cap is lowered by 1e-9 relative so borderline cases count)."""
    cap = max(100.0, 10.0 * tau2) * (1 - 1e-9)
    _, _, _, r, wr = sweep(yi, vi, None, cap)
    return float(dot(wr, r)) > float(chi2_quantile((1 - level) / 2, yi.size - 1))


def _tau2_ci(yi, vi, level, tau2, extra):
    """Q-profile CI of τ², limited like metafor's ``confint`` to max(100, 10·τ̂²)."""
    lo, hi = tau2_ci_qprofile(yi[None], vi[None], level=level)
    lo, hi = float(lo[0]), float(hi[0])
    cap = max(100.0, 10.0 * tau2)
    if hi <= cap:
        return (lo, hi), None
    extra["tau2_ci_uncapped"] = (lo, hi)
    msg = (f"the upper Q-profile limit of tau^2 ({hi:.6g}) lies beyond the search limit "
           f"max(100, 10 * tau^2) = {cap:.6g}; reported as {cap:.6g} like metafor's confint "
           "(uncapped limits in result.extra['tau2_ci_uncapped'])")
    return (min(lo, cap), cap), msg


def _zcrit(level):
    """The two-sided normal critical value at ``level`` (the cached quantile the pooled CIs
    use, so the study CIs need no scipy import)."""
    from .fitting import quantile

    return float(quantile("z", 1 - (1 - level) / 2))


def _subset_data(data, index):
    return None if data is None or index is None else data.iloc[index].reset_index(drop=True)


def pool(yi: Values, vi: Values, *, method: str = "REML", test: str = "z", level: float = 0.95,
         labels: Labels = None, data: Data = None, tau2: float | None = None,
         pi_method: str = "metafor", adhoc: bool = False, weights: Values | None = None,
         weighted: bool = True) -> MetaResult:
    """Pool generic effect sizes ``yi`` with sampling variances ``vi``.

    Common-effect (``method="FE"``) or random-effects model with the τ² estimators ``"DL"``,
    ``"HE"``, ``"HS"``, ``"SJ"``, ``"ML"``, ``"REML"``, ``"EB"``, ``"PM"`` (or a fixed ``tau2``),
    z or Knapp–Hartung (``test="knha"``) inference, prediction interval and heterogeneity
    (Q, I², H², Q-profile CIs) — metafor's ``rma(yi, vi, method=, test=)``. ``yi``, ``vi`` and
    ``labels`` are array-likes or column names of ``data``. The reporting scale is the model
    scale. ``pi_method``: the prediction interval, ``"metafor"`` (``predict.rma``), ``"hts"``
    (t(k − 2), usual SE), ``"v"`` (t(k − 1), usual SE) or ``"hk-pr"`` (Knapp–Hartung SE,
    t(k − 2)); ``adhoc=True`` with ``test="knha"``: s² floored at 1 (metafor's
    ``test="adhoc"``). See :mod:`iometa.core.fitting`. ``weights`` (array or column): user
    weights for the estimate and its SE, τ² and heterogeneity unchanged (``rma(weights=)``);
    ``weighted=False``: the unweighted mean (``rma(weighted=FALSE)``); see
    :func:`iometa.core.fitting.reweighted`.

    References: DerSimonian & Laird 1986; Viechtbauer 2005 (J Educ Behav Stat 30:261);
    Hartung & Knapp 2001 (Stat Med 20:3875); Higgins & Thompson 2002 (Stat Med 21:1539);
    Viechtbauer 2007 (Stat Med 26:37, Q-profile); Knapp & Hartung 2003 (Stat Med 22:2693,
    ad hoc); Higgins, Thompson & Spiegelhalter 2009 (JRSS A 172:137); Partlett & Riley 2017
    (Stat Med 36:301); Veroniki et al. 2019 (Res Synth Methods 10:23).

    Example
    -------
    >>> import iometa
    >>> res = iometa.pool([-0.89, -1.59, -1.35, -1.44, -0.22], [0.33, 0.19, 0.42, 0.02, 0.05])
    >>> round(res.estimate, 3), res.k
    (-1.06, 5)
    """
    y = np.asarray(column(yi, data, "yi"), dtype=float)
    v = np.asarray(column(vi, data, "vi"), dtype=float)
    labs = None if labels is None else study_labels(labels, data, y.size)
    spec = ModelSpec("pool", "GEN", method, test, level, tau2=tau2, pi_method=pi_method,
                     adhoc=adhoc, weighted=weighted)
    inputs = {"yi": y, "vi": v}
    a = None
    if weights is not None:
        if not weighted:
            raise ValueError("weights= and weighted=False exclude each other")
        a = np.asarray(column(weights, data, "weights"), dtype=float)
        inputs["weights"] = a
    elif not weighted:
        a = np.ones(y.size)
    notes = () if a is None else (
        "estimate and SE with user weights (rma(weights=)); tau^2 and heterogeneity as usual"
        if weighted else "unweighted estimate (rma(weighted=FALSE)); tau^2 and heterogeneity "
        "as usual",)
    return fit_result(y, v, labels=labs, data=data, spec=spec, inputs=inputs,
                      method=method, test=test, level=level, tau2=tau2, pi_method=pi_method,
                      adhoc=adhoc, weights=a, notes=notes)


def _proportion_warnings(measure, n, res_vals):
    msgs = []
    if MEASURES[measure].uses_n and n.size > 1 and n.max() / n.min() > FT_N_RATIO:
        msgs.append(
            f"Freeman-Tukey back-transformation with sample sizes from {int(n.min())} to "
            f"{int(n.max())} can mislead (Schwarzer et al. 2019, Res Synth Methods 10:476); "
            "consider measure='PLO' or method='GLMM'")
    if not MEASURES[measure].bounded:
        out = [name for name, x in res_vals.items() if np.isfinite(x) and not 0 <= x <= 1]
        if out:
            msgs.append(
                f"{', '.join(out)} outside [0, 1] on the proportion scale: the {measure} "
                "back-transformation is not bounded (reported as computed, as metafor does); "
                "consider measure='PLO' or method='GLMM'")
    return msgs


def pool_proportions(events: Values, n: Values, *, measure: str = "PLO", method: str = "REML",
                     test: str = "z", level: float = 0.95, labels: Labels = None,
                     data: Data = None, add: float | None = None, to: str = "only0",
                     nagq: int = 7, tau2: float | None = None,
                     study_ci: str = "clopper-pearson", pi_method: str = "metafor",
                     adhoc: bool = False) -> MetaResult:
    """Pool single proportions (events out of n) on the ``measure`` scale.

    ``measure`` is ``"PR"`` (raw), ``"PLN"`` (log), ``"PLO"`` (logit), ``"PAS"`` (arcsine) or
    ``"PFT"`` (Freeman–Tukey double arcsine), as metafor's ``escalc``; ``method`` one of
    ``pool``'s, or ``"GLMM"`` for the binomial-normal random-intercept logistic model fitted by
    maximum likelihood with ``nagq``-point adaptive Gauss–Hermite quadrature (metafor
    ``rma.glmm(measure="PLO")``, lme4 ``nAGQ = 7``). The pooled estimate, CI and PI are
    back-transformed to proportions (inverse logit; sin²; Miller's inverse Freeman–Tukey with
    the harmonic mean of n; exp; identity). Study CIs for display are Clopper–Pearson (or
    ``study_ci="wilson"``). ``pi_method`` and ``adhoc`` as in :func:`pool` (not with GLMM).

    References: Viechtbauer 2010 (J Stat Softw 36(3)); Stijnen, Hamza & Özdemir 2010 (Stat Med
    29:3046); Miller 1978 (Am Stat 32:138); Schwarzer et al. 2019 (Res Synth Methods 10:476).

    Example
    -------
    >>> import iometa
    >>> res = iometa.pool_proportions([13, 4, 9, 0], [51, 30, 40, 12], measure="PLO")
    >>> 0 < res.estimate < 1
    True
    """
    x = np.asarray(column(events, data, "events"), dtype=float)
    nn = np.asarray(column(n, data, "n"), dtype=float)
    labs = study_labels(labels, data, x.size)
    opts: dict[str, Any] = dict(measure=measure, method=method, test=test, level=level, add=add,
                                to=to, nagq=nagq, tau2=tau2, study_ci=study_ci)
    spec = ModelSpec("pool_proportions", **opts, pi_method=pi_method, adhoc=adhoc)
    inputs = {"events": x, "n": nn}
    if method == "GLMM":
        no_glmm_pi_options(pi_method, adhoc)
        return glmm_result(x, nn, labels=labs, data=data, spec=spec, inputs=inputs, **opts)
    if measure not in PROPORTION_MEASURES:
        raise ValueError(f"unknown measure {measure!r}: expected PR, PLN, PLO, PAS or PFT")
    eff = proportion_effects(x, nn, measure=measure, add=add, to=to, labels=labs)
    inv = MEASURES[measure].backtransform
    nn_orig = nn.copy()

    def bt(v):
        return inv(v, n=nn_orig)

    cols = study_columns_proportions(x, nn, level, study_ci)
    notes = []
    if eff.corrected.any():
        notes.append(f"continuity correction of {eff.add:g} added to events and non-events of "
                     f"{int(eff.corrected.sum())} stud{'y' if eff.corrected.sum() == 1 else 'ies'}"
                     f" ({', '.join(np.asarray(labs)[eff.corrected])}; to={eff.to!r})")
    res = fit_result(eff.yi, eff.vi, method=method, test=test, level=level, tau2=tau2,
                     labels=labs, measure=measure, kind="proportion", scale="proportion",
                     backtransform=bt, study_columns=cols, data=data, spec=spec, inputs=inputs,
                     notes=notes, pi_method=pi_method, adhoc=adhoc,
                     extra={"corrected": eff.corrected, "add": eff.add, "to": eff.to,
                            "harmonic_n": harmonic_mean(nn) if MEASURES[measure].uses_n
                            else None})
    msgs = _proportion_warnings(measure, nn, {"estimate": res.estimate, "CI": res.ci_low,
                                              "CI upper": res.ci_high, "PI": res.pi_low,
                                              "PI upper": res.pi_high})
    for m in msgs:
        warnings.warn(m, TransformWarning, stacklevel=2)
    return res.with_warnings(*msgs) if msgs else res


def no_glmm_pi_options(pi_method, adhoc):
    """The GLMM has metafor's own inference: refuse the prediction-interval options."""
    if pi_method != "metafor" or adhoc:
        raise ValueError("pi_method and adhoc apply to the inverse-variance models, not to "
                         "method='GLMM' (whose PI is metafor's rma.glmm one)")


register_fitter("pool", pool,
                ("method", "test", "level", "tau2", "pi_method", "adhoc", "weighted"))
register_fitter("pool_proportions", pool_proportions,
                ("measure", "method", "test", "level", "add", "to", "nagq", "tau2", "study_ci",
                 "pi_method", "adhoc"))

"""Wrap the Poisson-normal GLMM fit (:mod:`iometa.glmm_poisson`) into a :class:`MetaResult`:
the ``method="GLMM"`` branch of :func:`iometa.pool_rates`."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from .._warnings import ConvergenceWarning, SmallSampleWarning
from .rate_effects import _effects, rate_backtransform, rate_study_columns
from .results import MetaResult


def glmm_rate_result(x, t, *, labels, data, spec, inputs, scale, notes=(), measure="IRLN",
                     method="GLMM", test="z", level=0.95, per=1.0, unit="person-time",
                     add=None, to=None, nagq=7):
    """Poisson-normal GLMM result as metafor's ``rma.glmm(measure="IRLN")``.

    Inference: z = β̂/SE with lme4's Hessian-based SE; ``test="knha"`` is metafor's
    ``test="t"`` (t with k − 1 df, unadjusted SE). Heterogeneity: ``q`` is the Wald-type test
    (``QE.Wld``; the likelihood-ratio test ``QE.LRT`` is in ``extra``), I² and H² as rma.glmm;
    no Q-profile interval of τ² exists here (nan). Study weights in ``studies`` are the
    inverse-variance weights 1/(vᵢ + τ̂²) of the escalc(IRLN) log rates, for display only.
    """

    from .glmm import glmm_inference
    from .glmm_poisson import ALL_ZERO, fit_glmm_rate

    if measure != "IRLN":
        raise ValueError(f"method='GLMM' models the log rate (Poisson-normal model): use "
                         f"measure='IRLN', not {measure!r}")
    if test not in ("z", "knha"):
        raise ValueError(f"unknown test {test!r}: expected 'z' or 'knha'")
    if not 0 < level < 1:
        raise ValueError(f"level must be between 0 and 1 (e.g. 0.95), got {level!r}")
    for i, xi in enumerate(x):
        if xi != round(xi):
            raise ValueError(f"study {labels[i]!r}: events = {xi:g} is not a whole number; the "
                             "Poisson GLMM needs counts (use an inverse-variance method)")
    k = x.size
    if k < 2:
        raise ValueError("method='GLMM' needs at least 2 studies; with one study report its own "
                         "rate and exact Poisson CI (or use method='FE')")
    if not (x > 0).any():
        raise ValueError(f"method='GLMM': {ALL_ZERO}. Report the total events over the total "
                         "person-time with its exact Poisson CI, or pool with measure='IRLN' "
                         "and the continuity correction (method='REML')")
    with warnings.catch_warnings():  # re-issued below with the result's wording
        warnings.simplefilter("ignore", ConvergenceWarning)
        fit = fit_glmm_rate(x, t, nagq=nagq)
    msgs = list(notes)
    if not fit.converged:
        msgs.append(f"the GLMM did not converge ({fit.message}); estimates may be unreliable")
        warnings.warn(msgs[-1], ConvergenceWarning, stacklevel=3)
    if k < 5:
        msgs.append(f"GLMM with only {k} studies: tau^2 is poorly estimated")
        warnings.warn(msgs[-1], SmallSampleWarning, stacklevel=3)
    use_t = test == "knha"  # metafor's rma.glmm(test="t"): t with k - 1 df, SE unadjusted
    df = k - 1.0 if use_t else None
    inf = glmm_inference(fit, level=level, test="t" if use_t else "z")
    stat, pval = inf.zval, inf.pval
    lo, hi, plo, phi = inf.ci_lb, inf.ci_ub, inf.pi_lb, inf.pi_ub
    yi, vi, *_ = _effects(x, t, "IRLN", None, None, labels)
    w = 1 / (vi + fit.tau2)
    studies = pd.DataFrame({"label": labels, "yi": yi, "vi": vi, "weight": 100 * w / w.sum()})
    for name, col in rate_study_columns(x, t, level, per).items():
        studies[name] = col
    bt = rate_backtransform("IRLN", t, per)
    rep = bt(np.array([fit.coef, lo, hi, plo, phi]))
    return MetaResult(
        measure="IRLN", method="GLMM", test=test, level=level, kind="rate", scale=scale,
        estimate=float(rep[0]), ci_low=float(rep[1]), ci_high=float(rep[2]),
        pi_low=float(rep[3]), pi_high=float(rep[4]), coef=float(fit.coef), se=float(fit.se),
        stat=float(stat), pval=float(pval), coef_ci_low=float(lo), coef_ci_high=float(hi),
        coef_pi_low=float(plo), coef_pi_high=float(phi), df=df, k=k, tau2=float(fit.tau2),
        tau2_ci=(np.nan, np.nan), i2=float(fit.i2), i2_ci=(np.nan, np.nan), h2=float(fit.h2),
        h2_ci=(np.nan, np.nan), q=float(fit.q_wald), q_df=int(fit.q_df),
        q_pval=float(fit.q_wald_pval), studies=studies, converged=bool(fit.converged),
        n_iter=int(fit.n_iter), warnings=tuple(msgs), data=data,
        extra={"family": "poisson", "q_lrt": fit.q_lrt, "q_lrt_pval": fit.q_lrt_pval,
               "nagq": fit.nagq, "loglik": fit.loglik, "deviance": fit.deviance,
               "boundary": fit.tau2 == 0.0, "message": fit.message, "per": per, "unit": unit,
               "events_total": float(x.sum()), "person_time_total": float(t.sum())},
        _backtransform=bt, spec=spec, inputs=inputs,
    )

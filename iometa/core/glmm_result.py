"""Wrap the binomial-normal GLMM fit (:mod:`iometa.core.glmm`) into a :class:`MetaResult`."""

from __future__ import annotations

import warnings
from contextlib import contextmanager
from contextvars import ContextVar

import numpy as np
import pandas as pd

from .._warnings import ConvergenceWarning, SmallSampleWarning
from .effects import proportion_effects, study_columns_proportions
from .results import MetaResult
from .transforms import ilogit

#: the GLMM fits of one :func:`shared_glmm_fits` block, by counts and quadrature points
_SHARED: ContextVar[dict | None] = ContextVar("iometa_shared_glmm_fits", default=None)


@contextmanager
def shared_glmm_fits():
    """Within the block, :func:`glmm_result` fits the GLMM once per set of counts (and
    ``nagq``): the z and t (``test="knha"``) results of the same counts differ only in their
    inference (:func:`~iometa.core.glmm.glmm_inference`), not in the fit. The fits are
    forgotten when the block ends (nothing outlives it)."""
    token = _SHARED.set({})
    try:
        yield
    finally:
        _SHARED.reset(token)


def _fit(x, n, nagq):
    """:func:`~iometa.core.glmm.fit_glmm_logit` of ``x``/``n``, shared within a
    :func:`shared_glmm_fits` block (a fit that raises is not kept: it raises again)."""
    from .glmm import fit_glmm_logit

    memo = _SHARED.get()
    if memo is None:
        return fit_glmm_logit(x, n, nagq=nagq)
    key = (x.tobytes(), n.tobytes(), int(nagq))
    if key not in memo:
        memo[key] = fit_glmm_logit(x, n, nagq=nagq)
    return memo[key]


def glmm_result(x, n, *, labels, data, spec, inputs, measure="PLO", method="GLMM", test="z",
                level=0.95, add=None, to="only0", nagq=7, tau2=None, study_ci="clopper-pearson"):
    """GLMM (``method="GLMM"``) branch of :func:`iometa.pool_proportions`.

    Inference as metafor's ``rma.glmm``: z = β̂/SE with the SE lme4 reports (joint Hessian in
    (τ, β)); ``test="knha"`` becomes metafor's ``test="t"`` (t with k − 1 df, unadjusted SE:
    there is no Knapp–Hartung adjustment for the GLMM). Heterogeneity: Q is the Wald-type test
    (``QE.Wld``; the likelihood-ratio test is in ``extra``), I² and H² as rma.glmm computes them;
    no Q-profile CI exists for τ² here (nan). Study weights in ``studies`` are the inverse-
    variance weights 1/(vᵢ + τ̂²) on the logit scale, for display only (the GLMM has no weights).
    """

    from .glmm import NOT_IDENTIFIABLE, glmm_inference

    if measure not in ("PLO", "GLMM"):
        raise ValueError("method='GLMM' models the logit of the proportion: use measure='PLO'")
    if tau2 is not None:
        raise ValueError("a fixed tau2 is not available with method='GLMM'")
    if not 0 < level < 1:  # as every other method (fitting._check_options)
        raise ValueError(f"level must be between 0 and 1 (e.g. 0.95), got {level!r}")
    _check_counts(x, n, labels)
    k = x.size
    if k < 2:
        raise ValueError("method='GLMM' needs at least 2 studies; with one study report its own "
                         "proportion and exact CI (or use measure='PLO', method='FE')")
    with warnings.catch_warnings():  # re-issued below with the result's wording
        warnings.simplefilter("ignore", ConvergenceWarning)
        fit = _fit(x, n, nagq)
    msgs = []
    if not fit.converged:
        msgs.append(f"the GLMM did not converge ({fit.message}); estimates may be unreliable")
        warnings.warn(msgs[-1], ConvergenceWarning, stacklevel=3)
    if fit.message == NOT_IDENTIFIABLE:
        msgs.append("every study has n = 1 (one patient each): the between-study variance "
                    "cannot be told apart from the binomial variation, so tau^2 is set to 0 "
                    "(the common-effect logistic model)")
        warnings.warn(msgs[-1], SmallSampleWarning, stacklevel=3)
    if k < 5:
        msgs.append(f"GLMM with only {k} studies: tau^2 is poorly estimated")
        warnings.warn(msgs[-1], SmallSampleWarning, stacklevel=3)
    use_t = test == "knha"  # metafor's rma.glmm(test="t"): t with k - 1 df, SE unadjusted
    df = k - 1.0 if use_t else None
    inf = glmm_inference(fit, level=level, test="t" if use_t else "z")
    stat, pval = inf.zval, inf.pval
    lo, hi, plo, phi = inf.ci_lb, inf.ci_ub, inf.pi_lb, inf.pi_ub
    eff = proportion_effects(x, n, measure="PLO", add=add, to=to)
    w = 1 / (eff.vi + fit.tau2)
    studies = pd.DataFrame({"label": labels, "yi": eff.yi, "vi": eff.vi,
                            "weight": 100 * w / w.sum()})
    for name, col in study_columns_proportions(x, n, level, study_ci).items():
        studies[name] = col
    rep = ilogit(np.array([fit.coef, lo, hi, plo, phi]))
    return MetaResult(
        measure="PLO", method="GLMM", test=test, level=level, kind="proportion",
        scale="proportion", estimate=float(rep[0]), ci_low=float(rep[1]), ci_high=float(rep[2]),
        pi_low=float(rep[3]), pi_high=float(rep[4]), coef=float(fit.coef), se=float(fit.se),
        stat=float(stat), pval=float(pval), coef_ci_low=float(lo), coef_ci_high=float(hi),
        coef_pi_low=float(plo), coef_pi_high=float(phi), df=df, k=k, tau2=float(fit.tau2),
        tau2_ci=(np.nan, np.nan), i2=float(fit.i2), i2_ci=(np.nan, np.nan), h2=float(fit.h2),
        h2_ci=(np.nan, np.nan), q=float(fit.q_wald), q_df=int(fit.q_df),
        q_pval=float(fit.q_wald_pval), studies=studies, converged=bool(fit.converged),
        n_iter=int(fit.n_iter), warnings=tuple(msgs), data=data,
        extra={"q_lrt": fit.q_lrt, "q_lrt_pval": fit.q_lrt_pval, "nagq": fit.nagq,
               "loglik": fit.loglik, "deviance": fit.deviance},
        _backtransform=ilogit, spec=spec, inputs=inputs,
    )


def _check_counts(x, n, labels):
    """ValueError naming the first study whose events/n cannot enter a binomial model."""
    if x.shape != n.shape:
        raise ValueError(f"events and n differ in length ({x.size} vs {n.size})")
    for i, lab in enumerate(labels):
        xi, ni = x[i], n[i]
        problem = (
            "events or n is missing or not finite" if not (np.isfinite(xi) and np.isfinite(ni))
            else f"n = {ni:g} must be a whole number > 0" if not (ni > 0 and ni == round(ni))
            else f"events = {xi:g} must be a whole number >= 0" if not (xi >= 0 and xi == round(xi))
            else f"events ({xi:g}) exceed n ({ni:g})" if xi > ni else None)
        if problem:
            raise ValueError(f"study {lab!r}: {problem}")

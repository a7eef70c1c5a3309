"""GLMM meta-regression: the ``method="GLMM"`` branch of :func:`iometa.meta_regression`.

metafor's ``rma.glmm(measure="PLO", xi, ni, mods = ~ ...)`` (binomial-normal model for
proportions: ``glmer(cbind(xi, ni - xi) ~ 0 + X + (1 | study), binomial, nAGQ = 7)``) and
``rma.glmm(measure="IRLN", xi, ti, mods = ~ ...)`` (Poisson-normal model for incidence rates,
offset log tᵢ), fitted by maximum likelihood (Stijnen, Hamza & Özdemir 2010, Stat Med 29:3046;
the numerical method is in :mod:`iometa.core.glmm`). Inference as ``rma.glmm``: z tests, or
under ``test="knha"`` metafor's ``test="t"`` (t with k − p df, the SE unadjusted); the omnibus
test of the moderators Q_M is the Wald test with lme4's covariance (under ``"knha"`` F = Q_M/m
with (m, k − p) df); residual heterogeneity by the Wald-type test QE.Wld and the
likelihood-ratio test QE.LRT of the saturated against the fixed-effect glm (k − p df); I² and H²
with the typical variance (k − p)/tr(P) of the escalc variances given the moderators. No R² (as
``rma.glmm``). This module computes the fields; :mod:`.metareg` builds the result.
"""

from __future__ import annotations

import numpy as np
from scipy import special

from ..core.glmm import GLMMRegFit, fit_glmm_logit
from ..core.glmm_poisson import fit_glmm_rate


def glmm_counts(res):
    """(events, n or person-time, family) of a GLMM :class:`~iometa.MetaResult`."""
    inputs = res.inputs or {}
    if res.kind == "rate" or "person_time" in inputs:
        return (np.asarray(inputs["events"], float), np.asarray(inputs["person_time"], float),
                "poisson")
    if "events" not in inputs or "n" not in inputs:
        raise ValueError("this GLMM result does not keep its counts (events, n): refit it with "
                         "iometa.pool_proportions(..., method='GLMM')")
    return np.asarray(inputs["events"], float), np.asarray(inputs["n"], float), "binomial"


def fit_glmm_regression(x, n, X, *, family: str, nagq: int) -> GLMMRegFit:
    """The GLMM with model matrix X (binomial: n trials; Poisson: n person-time)."""
    fit = fit_glmm_rate if family == "poisson" else fit_glmm_logit
    out = fit(x, n, nagq=nagq, X=X)
    # an intercept-only X gives the pooled model's GLMMFit: the same numbers, as a table
    return out if isinstance(out, GLMMRegFit) else _as_reg(out)


def _as_reg(fit) -> GLMMRegFit:
    """An intercept-only :class:`~iometa.core.glmm.GLMMFit` as a one-coefficient GLMMRegFit."""
    vb = fit.vcov[1:, 1:]
    return GLMMRegFit(
        beta=np.array([fit.coef]), se=np.array([fit.se]), vb=vb, vcov=fit.vcov, tau2=fit.tau2,
        tau=fit.tau, loglik=fit.loglik, deviance=fit.deviance, converged=fit.converged,
        message=fit.message, n_iter=fit.n_iter, q_wald=fit.q_wald, q_wald_pval=fit.q_wald_pval,
        q_lrt=fit.q_lrt, q_lrt_pval=fit.q_lrt_pval, q_df=fit.q_df, i2=fit.i2, h2=fit.h2,
        vt=fit.vt, nagq=fit.nagq, k=fit.k, p=1, objective=fit.objective,
        marginal_loglik=fit.marginal_loglik)


def glmm_regression_fields(fit: GLMMRegFit, *, test: str, level: float, btt) -> dict:
    """Coefficient tests, CIs and the omnibus test Q_M of a GLMM regression (rma.glmm)."""
    k, p = fit.k, fit.p
    beta, se = fit.beta, fit.se
    stat = beta / se
    a = 1.0 - level
    use_t = test == "knha"
    ddf = k - p
    if use_t:
        pval = 2 * special.stdtr(ddf, -np.abs(stat)) if ddf > 0 else np.full(p, np.nan)
        crit = float(special.stdtrit(ddf, 1 - a / 2)) if ddf > 0 else np.nan
    else:
        pval, crit = 2 * special.ndtr(-np.abs(stat)), float(special.ndtri(1 - a / 2))
    idx = list(btt)
    m = len(idx)
    vbb = fit.vb[np.ix_(idx, idx)]
    try:
        qm = float(beta[idx] @ np.linalg.solve(vbb, beta[idx])) if m else np.nan
    except np.linalg.LinAlgError:
        qm = np.nan
    if use_t:
        qm = qm / m if m else np.nan
        qm_pval = float(special.fdtrc(m, ddf, qm)) if (m and ddf > 0) else np.nan
    else:
        qm_pval = float(special.chdtrc(m, qm)) if m else np.nan
    return {
        "beta": beta, "se": se, "stat": stat, "pval": np.asarray(pval, float),
        "ci_low": beta - crit * se, "ci_high": beta + crit * se, "vcov": fit.vb,
        "ddf": float(ddf) if use_t else None, "qm": qm, "qm_df": m,
        "qm_df2": ddf if use_t else None, "qm_pval": qm_pval, "qe": fit.q_wald,
        "qe_df": fit.q_df, "qe_pval": fit.q_wald_pval, "tau2": fit.tau2, "tau2_re": None,
        "r2": None, "i2": fit.i2, "h2": fit.h2, "converged": fit.converged,
        "n_iter": fit.n_iter,
    }


def glmm_extra(fit: GLMMRegFit) -> dict:
    """metafor's other rma.glmm numbers, kept in ``MetaRegression.extra``."""
    return {"family": fit.family, "nagq": fit.nagq, "q_lrt": fit.q_lrt,
            "q_lrt_pval": fit.q_lrt_pval, "loglik": fit.loglik, "deviance": fit.deviance,
            "marginal_loglik": fit.marginal_loglik, "vt": fit.vt, "tau": fit.tau,
            "vcov_tau_beta": fit.vcov, "message": fit.message,
            "aic": -2.0 * fit.loglik + 2.0 * (fit.p + 1)}

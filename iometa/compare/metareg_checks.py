"""Checks and pieces of :func:`iometa.meta_regression`: input checks, the warnings of a fit,
the pseudo-R², and user weights (``rma(yi, vi, mods, weights=)``)."""

from __future__ import annotations

import warnings
from dataclasses import replace

import numpy as np

from .._warnings import ConvergenceWarning, IometaWarning
from ..core.estimators import REGISTRY, estimate_tau2
from ..core.regression import RegFit


def _check(y, v, X, method, tau2, labels):
    k, p = X.shape
    bad = ~np.isfinite(y) | ~np.isfinite(v) | (v <= 0)
    if bad.any():
        raise ValueError(f"study {labels[int(np.argmax(bad))]!r} has a missing/non-finite effect "
                         "or a non-positive sampling variance")
    bad = ~np.isfinite(X).all(axis=1)
    if bad.any():
        raise ValueError(f"study {labels[int(np.argmax(bad))]!r} has an infinite moderator value")
    if tau2 is not None and not (np.isfinite(tau2) and tau2 >= 0):
        raise ValueError(f"a fixed tau2 must be a finite number >= 0, got {tau2!r}")
    need = p if (method == "FE" or tau2 is not None) else p + 1
    if k < need:
        raise ValueError(f"{k} studies are too few for {p} coefficients"
                         + ("" if need == p else " plus tau^2") + " (metafor: 'Number of "
                         "parameters to be estimated is larger than the number of observations')")
    if np.linalg.eigvalsh(X.T @ X).min() <= 1e-7:
        raise ValueError("the moderators are collinear (model matrix not of full rank): drop "
                         "a moderator or merge categories")


def _fit_warnings(fit: RegFit, method, test) -> list[str]:
    """Warn (and return the messages) about a residual tau^2 that did not converge and about a
    Knapp-Hartung fit whose residuals are all 0 (standard errors 0, F-test undefined)."""
    msgs = []
    if not bool(fit.converged[0]) and REGISTRY[method].kind == "iterated":
        raise ValueError(f"the {method} estimator of the residual tau^2 did not converge after "
                         f"{int(fit.n_iter[0])} iterations (its fixed-point iteration cycles; "
                         "metafor stops with an error too): use method='DL', 'PM' or 'REML'")
    if not bool(fit.converged[0]):
        msgs.append(f"the {method} estimate of the residual tau^2 did not converge after "
                    f"{int(fit.n_iter[0])} iterations; the last value ({float(fit.tau2[0]):.6g}) "
                    "is reported. Try method='DL' (closed form)")
        warnings.warn(msgs[-1], ConvergenceWarning, stacklevel=3)
    if test == "knha" and not np.isfinite(fit.qm[0]) and not np.any(fit.se[0] > 0):
        msgs.append("the moderators reproduce every effect exactly (residual sum of squares 0): "
                    "under Knapp-Hartung the standard errors are 0 and the test of the "
                    "moderators is not defined (QM = NaN), as in metafor; use test='z'")
        warnings.warn(msgs[-1], IometaWarning, stacklevel=3)
    return msgs


def _r2(fit: RegFit, y, v, method, intercept, p, k):
    """Pseudo-R² (percent) and the intercept-only τ², as metafor (r2def = "1")."""
    if not intercept or p < 2:
        return None, None
    if method == "FE":
        if np.var(y) == 0 or k == p:  # metafor: R^2 NaN for a saturated model (no df left)
            return (0.0 if k > p else None), None
        w = 1 / v
        q0 = float((w * (y - (w * y).sum() / w.sum()) ** 2).sum())
        if np.ptp(y) == 0 or not q0 > 1e-10 * k:  # identical up to rounding: nothing to explain
            return 0.0, None
        adj = 1 - (float(fit.qe[0]) / (k - p)) / (q0 / (k - 1))
        return max(0.0, 100 * adj), None
    t2re = float(estimate_tau2(y[None], v[None], method=method).tau2[0])
    if t2re == 0:
        return 0.0, t2re
    return max(0.0, 100 * (t2re - float(fit.tau2[0])) / t2re), t2re


def reweight(fit: RegFit, y, v, X, a, *, test: str, level: float, btt) -> RegFit:
    """The coefficients of a one-analysis fit redone with user weights ``a``, as metafor's
    ``rma(weights=)``: β = (XᵀAX)⁻¹XᵀAy, Var(β) = (XᵀAX)⁻¹XᵀA M A X(XᵀAX)⁻¹ with
    M = diag(vᵢ + τ̂²), under Knapp–Hartung times s² = RSS/(k − p) of the inverse-variance fit;
    τ², Q_E, I² and H² stay those of the inverse-variance fit. Tests and CIs: z, or t (and F
    for Q_M) with k − p df.

    Example
    -------
    >>> import numpy as np
    >>> from iometa.core.regression import fit_regression_arrays
    >>> y, v = np.array([0.1, 0.5, 0.2, 0.9]), np.full(4, 0.02)
    >>> X = np.column_stack([np.ones(4), [1.0, 2, 3, 4]])
    >>> f = fit_regression_arrays(y, v, X, method="FE", test="z", level=0.95, btt=(1,))
    >>> g = reweight(f, y, v, X, np.ones(4), test="z", level=0.95, btt=(1,))
    >>> bool(np.allclose(g.beta, f.beta))  # equal weights under FE: the same coefficients
    True
    """
    from scipy.special import chdtrc, fdtrc, ndtr, ndtri, stdtr, stdtrit

    k, p = X.shape
    t2 = float(fit.tau2[0])
    M = v + t2
    xa = X.T * a
    inv = np.linalg.inv(xa @ X)
    beta = inv @ (xa @ y)
    vb = inv @ ((xa * (a * M)) @ X) @ inv
    if test == "knha":
        w = 1.0 / M
        b_iv = np.asarray(fit.beta[0])
        rss = float(w @ (y - X @ b_iv) ** 2)
        vb = vb * (0.0 if rss <= np.finfo(float).eps else rss / (k - p))
    se = np.sqrt(np.diag(vb))
    with np.errstate(divide="ignore", invalid="ignore"):
        stat = beta / se
    q = 1 - (1 - level) / 2
    bt = list(btt)
    qm = float(beta[bt] @ np.linalg.solve(vb[np.ix_(bt, bt)], beta[bt])) if bt else np.nan
    if test == "knha":
        crit = stdtrit(k - p, q)
        pval = 2 * stdtr(k - p, -np.abs(stat))
        qm = qm / len(bt) if bt else qm
        qm_p = fdtrc(len(bt), k - p, qm) if bt else np.nan
    else:
        crit = ndtri(q)
        pval = 2 * ndtr(-np.abs(stat))
        qm_p = chdtrc(len(bt), qm) if bt else np.nan
    return replace(fit, beta=beta[None], vcov=vb[None], se=se[None], stat=stat[None],
                   pval=pval[None], ci_low=(beta - crit * se)[None],
                   ci_high=(beta + crit * se)[None], qm=np.array([qm]),
                   qm_pval=np.array([qm_p]))

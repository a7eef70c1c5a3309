"""Poisson-normal GLMM for incidence rates, as ``metafor::rma.glmm(measure="IRLN")``.

Model (Stijnen, Hamza & Özdemir 2010, Stat Med 29:3046, section 2.3): x_i | u_i ~ Poisson(t_i
exp(beta + theta u_i)), u_i ~ N(0, 1), tau = theta >= 0, fitted by maximum likelihood as metafor
does through lme4 ``glmer(xi ~ 1 + (1 | study), offset = log(ti), family = poisson, nAGQ = 7)``
(conventions of lme4 1.1-31 and metafor 3.8-1). The machinery is that of the binomial model
(:mod:`iometa.glmm`; its docstring explains the objective, the optimiser and the covariance):

* **Objective**: lme4's adaptive Gauss-Hermite deviance in (theta, beta), with the Poisson
  deviance residual dev_i(eta) = 2 [x_i log(x_i / mu_i) - (x_i - mu_i)], mu_i = t_i exp(eta),
  and the conditional curvature W_i = mu_i at the mode u^_i.
* **Estimates**: its exact minimiser over theta >= 0; at the boundary theta = 0 the estimate is
  the fixed-effect Poisson glm, beta^ = log(sum x / sum t), se = 1 / sqrt(sum x).
* **metafor's extras**: QE.Wld from the saturated Poisson glm as R's ``glm.fit`` leaves it
  (IRLS from mu = x + 0.1, stopping rule |dev - dev_old| / (|dev| + 0.1) < 1e-8, at most 25
  steps: a study with 0 events drifts to eta ~ -20 with weight ~0) = sum w_i (lambda_i -
  mean_w lambda)^2 with lambda_i the fitted log rates; QE.LRT = 2 (l_sat - l_FE); I^2 and H^2
  with the Higgins-Thompson typical variance of the ``escalc(IRLN)`` variances 1/x_i (1/2 added
  to zero counts); ``logLik`` = l_sat - (sum of deviance residuals at the modes) / 2.
"""

from __future__ import annotations

import warnings
from typing import NamedTuple

import numpy as np
from numpy.polynomial.hermite import hermgauss
from scipy import special, stats

from .._warnings import ConvergenceWarning
from .glmm import GLMMFit, _fd_derivs, _optimise, _vcov

__all__ = ["fit_glmm_rate", "glmm_rate_deviance"]

_FD_STEP = 1e-3
ALL_ZERO = ("every study has 0 events: the Poisson GLMM's maximum-likelihood estimate does not "
            "exist (the log rate tends to -infinity; metafor: 'Cannot fit ML model')")


class _PData(NamedTuple):
    x: np.ndarray
    t: np.ndarray
    off: np.ndarray  # log(t)
    z: np.ndarray  # Gauss-Hermite nodes for N(0, 1)
    logw: np.ndarray  # log(weight) + z^2 / 2
    nagq: int


def _as_data(events, time, nagq: int) -> _PData:
    x = np.asarray(events, dtype=float).ravel()
    t = np.asarray(time, dtype=float).ravel()
    if x.shape != t.shape or x.size == 0:
        raise ValueError("events and person_time must be non-empty and of equal length")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(t))):
        raise ValueError("events and person_time must be finite")
    if np.any(t <= 0) or np.any(x < 0) or np.any(x != np.round(x)):
        raise ValueError("need person_time > 0 and whole-number events >= 0")
    if int(nagq) != nagq or not 1 <= nagq <= 25:
        raise ValueError("nagq must be an integer in 1..25 (lme4's range)")
    nodes, w = hermgauss(int(nagq))
    z = np.sqrt(2.0) * nodes
    return _PData(x, t, np.log(t), z, np.log(w / np.sqrt(np.pi)) + z * z / 2, int(nagq))


def _pois_dev(eta, x):
    """Poisson deviance residual 2 [x log(x / mu) - (x - mu)] with mu = exp(eta), written as
    2 x (expm1(s) - s), s = eta - log x, so that large counts lose no digits (x = 0: 2 mu)."""
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        s = eta - np.log(x)
        return np.where(x > 0, 2.0 * x * (np.expm1(s) - s), 2.0 * np.exp(eta))


def _modes(theta, beta, d: _PData):
    """Conditional modes u^_i of u^2 + dev_i(beta + log t_i + theta u) by safeguarded Newton,
    started from one scoring step at the empirical log rates (1/2 added to zero counts)."""
    w0 = d.x + 0.5
    u = theta * w0 * (np.log(w0 / d.t) - beta) / (1.0 + theta * theta * w0)
    eta0 = beta + d.off
    crit, last = u * u + _pois_dev(eta0 + theta * u, d.x), False
    for _ in range(100):
        mu = np.exp(eta0 + theta * u)
        step = (u - theta * (d.x - mu)) / (1.0 + theta * theta * mu)
        for _half in range(60):  # the criterion is convex in u: halve until it does not rise
            new = u - step
            c_new = new * new + _pois_dev(eta0 + theta * new, d.x)
            bad = ~(c_new <= crit + 1e-12 * (1.0 + crit)) & \
                (np.abs(step) > 1e-6 * (1.0 + np.abs(u)))
            if not bad.any():
                break
            step = np.where(bad, step / 2.0, step)
        u, crit = new, c_new
        if last:
            break
        last = bool(np.all(np.abs(step) <= 1e-9 * (1.0 + np.abs(u))))
    return u, np.exp(eta0 + theta * u)


def _criterion(par, d: _PData):
    """Per-study pieces at (theta, beta): u^, W = mu at u^, dev_i(u^) and lme4's D_i."""
    theta, beta = float(par[0]), float(par[1])
    u, w = _modes(theta, beta, d)
    eta0 = beta + d.off
    dev0 = _pois_dev(eta0 + theta * u, d.x)
    c0 = u * u + dev0
    l2 = 1.0 + theta * theta * w
    dev_i = c0 + np.log(l2)
    if d.nagq > 1:
        uk = u[:, None] + d.z[None, :] / np.sqrt(l2)[:, None]
        ck = uk * uk + _pois_dev(eta0[:, None] + theta * uk, d.x[:, None])
        dev_i = dev_i - 2.0 * special.logsumexp(d.logw[None, :] - 0.5 * (ck - c0[:, None]),
                                                axis=1)
    return u, w, dev0, dev_i


def _objective(par, d: _PData) -> float:
    return float(np.sum(_criterion(par, d)[3]))


def _start(d: _PData):
    """Start (pooled log rate, DerSimonian-Laird tau of the escalc(IRLN) log rates) and the
    finite-difference step, shrunk when the standard error of beta is small."""
    xa = np.where(d.x == 0, 0.5, d.x)
    y, w = np.log(xa / d.t), xa
    q = np.sum(w * (y - np.sum(w * y) / np.sum(w)) ** 2)
    tau2 = max(0.0, (q - (len(y) - 1)) / (np.sum(w) - np.sum(w * w) / np.sum(w)))
    se_beta = 1.0 / np.sqrt(np.sum(w / (1.0 + tau2 * w)))
    start = np.array([max(np.sqrt(tau2), 0.2), np.log(np.sum(d.x) / np.sum(d.t))])
    return start, np.full(2, _FD_STEP * min(1.0, 10.0 * se_beta))


def _saturated_glm(x, t):
    """R ``glm.fit`` IRLS for the saturated Poisson model (one log rate per study).

    The design spans R^k, so each step sets eta to the working response study by study:
    eta <- eta + (x - mu) / mu from eta = log(x + 0.1) (the offset cancels); mu = max(exp(eta),
    eps) as R's poisson()$linkinv. Returns the fitted log rates eta - log t, the working weights
    of the last iteration (those of R's ``vcov``) and the fitted means."""
    eps = np.finfo(float).eps

    def dev(mu):
        return float(np.sum(2.0 * (special.xlogy(x, x / mu) - (x - mu))))

    eta = np.log(x + 0.1)
    mu = np.exp(eta)
    dev_old = dev(mu)
    for _ in range(25):
        mu_eta = np.maximum(np.exp(eta), eps)
        w = mu_eta**2 / mu
        eta = eta + (x - mu) / mu_eta
        mu = np.maximum(np.exp(eta), eps)
        d_new = dev(mu)
        if abs(d_new - dev_old) / (abs(d_new) + 0.1) < 1e-8:
            break
        dev_old = d_new
    return eta - np.log(t), w, mu


def _heterogeneity(x, t):
    """QE.Wld, QE.LRT (saturated vs fixed-effect Poisson glm) and the saturated log-lik."""
    lam, w, mu = _saturated_glm(x, t)
    ll_sat = float(np.sum(stats.poisson.logpmf(x, mu)))
    ll_fe = float(np.sum(stats.poisson.logpmf(x, t * np.sum(x) / np.sum(t))))
    q_wald = float(np.sum(w * (lam - np.sum(w * lam) / np.sum(w)) ** 2))
    return max(q_wald, 0.0), max(2.0 * (ll_sat - ll_fe), 0.0), ll_sat


def _typical_variance(x):
    """Higgins-Thompson typical variance of the escalc(IRLN) variances 1/x (x = 0: 1/0.5)."""
    w = np.where(x == 0, 0.5, x)
    return (len(x) - 1) / (np.sum(w) - np.sum(w * w) / np.sum(w))


def glmm_rate_deviance(events, person_time, theta, beta, *, nagq: int = 7) -> float:
    """lme4's ``glmer(xi ~ 1 + (1 | study), offset = log(ti), poisson, devFunOnly = TRUE)``
    deviance at ``c(theta, beta)`` (for ``nagq > 1``: relative to the saturated model).

    Example
    -------
    >>> from iometa.core.glmm_poisson import glmm_rate_deviance
    >>> round(glmm_rate_deviance([9, 8, 3, 6], [413, 263, 487, 237], 0.0, -3.8), 4)
    8.8292
    """
    d = _as_data(events, person_time, nagq)
    return _objective(np.array([theta, beta], dtype=float), d)


def fit_glmm_rate(events, person_time, *, nagq: int = 7) -> GLMMFit:
    """Poisson-normal random-effects model for incidence rates (``rma.glmm(measure="IRLN")``).

    ``events`` are whole-number counts (zero counts need no correction) and ``person_time``
    positive exposure times; ``nagq`` is the number of adaptive Gauss-Hermite points (7 as in
    metafor). Returns the binomial model's :class:`~iometa.glmm.GLMMFit` (``coef`` is the pooled
    log rate). Raises ``ValueError`` for k < 2 and when every study has 0 events (no finite
    MLE); warns :class:`~iometa._warnings.ConvergenceWarning` if the optimisation did not
    converge.

    Reference: Stijnen, Hamza & Özdemir 2010 (Stat Med 29:3046). R: ``metafor::rma.glmm(measure=
    "IRLN", xi=, ti=, nAGQ=7)``.

    Example
    -------
    >>> from iometa.core.glmm_poisson import fit_glmm_rate
    >>> fit = fit_glmm_rate([19, 19, 13, 9, 23, 50], [398, 245, 435, 241, 483, 405])
    >>> round(fit.coef, 3), round(fit.tau2, 3)
    (-2.906, 0.194)
    """
    d = _as_data(events, person_time, nagq)
    k = d.x.size
    if k < 2:
        raise ValueError("the GLMM needs k >= 2 studies (metafor: 'Number of parameters to be "
                         "estimated is larger than the number of observations.')")
    if np.sum(d.x) == 0:
        raise ValueError(ALL_ZERO)
    beta_fe = float(np.log(np.sum(d.x) / np.sum(d.t)))
    par, hess, n_iter, ok, msg = _optimise(d, objective=lambda p: _objective(p, d),
                                           start=_start(d), beta_fe=beta_fe)
    if hess is None:
        hess = _fd_derivs(lambda p: _objective(p, d), par, _start(d)[1])[1]
    u, w, dev0, dev_i = _criterion(par, d)
    if not ok:
        warnings.warn(f"GLMM (nagq={nagq}) did not converge: {msg}", ConvergenceWarning,
                      stacklevel=2)
    vcov = _vcov(hess, par[0], w)
    q_wald, q_lrt, ll_sat = _heterogeneity(d.x, d.t)
    tau2, vt = float(par[0] ** 2), _typical_variance(d.x)
    return GLMMFit(
        coef=float(par[1]), se=float(np.sqrt(vcov[1, 1])), tau2=tau2, tau=float(par[0]),
        loglik=ll_sat - float(np.sum(dev0)) / 2, deviance=float(np.sum(dev0)),
        converged=bool(ok), message=msg, n_iter=int(n_iter),
        q_wald=q_wald, q_wald_pval=float(stats.chi2.sf(q_wald, k - 1)),
        q_lrt=q_lrt, q_lrt_pval=float(stats.chi2.sf(q_lrt, k - 1)), q_df=k - 1,
        i2=float(100.0 * tau2 / (vt + tau2)), h2=float(tau2 / vt + 1.0), nagq=d.nagq,
        vcov=vcov, k=k, objective=float(np.sum(dev_i)),
        marginal_loglik=ll_sat - float(np.sum(dev_i)) / 2, vt=float(vt),
    )

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

import numpy as np
from scipy import special

from .._warnings import ConvergenceWarning
from .glmm import _optimise
from .glmm_engine import _criterion, _Data, _design, _glm_fe, _lin, _rule, _scaled, _start
from .glmm_parts import (
    _assemble,
    _check_estimable,
    _scalar_fit,
    _typical_variance_w,
    _wald_residual,
)

__all__ = ["fit_glmm_rate", "glmm_rate_deviance"]

ALL_ZERO = ("every study has 0 events: the Poisson GLMM's maximum-likelihood estimate does not "
            "exist (the log rate tends to -infinity; metafor: 'Cannot fit ML model')")


def _as_data(events, time, nagq: int, X=None) -> _Data:
    x = np.asarray(events, dtype=float).ravel()
    t = np.asarray(time, dtype=float).ravel()
    if x.shape != t.shape or x.size == 0:
        raise ValueError("events and person_time must be non-empty and of equal length")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(t))):
        raise ValueError("events and person_time must be finite")
    if np.any(t <= 0) or np.any(x < 0) or np.any(x != np.round(x)):
        raise ValueError("need person_time > 0 and whole-number events >= 0")
    z, logw = _rule(nagq)
    return _Data(x, t, np.zeros_like(x), z, logw, int(nagq), _design(X, x.size), np.log(t),
                 poisson=True)


def _objective(par, d: _Data) -> float:
    return float(np.sum(_criterion(par, d).dev_i))


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


def _pois_logpmf(x, mu):
    """log P(X = x), X ~ Poisson(mu) (scipy.stats' formula, without its machinery)."""
    return special.xlogy(x, mu) - mu - special.gammaln(x + 1)


def _heterogeneity(d: _Data, beta_fe):
    """QE.Wld, QE.LRT (saturated vs fixed-effect Poisson glm) and the saturated log-lik."""
    lam, w, mu = _saturated_glm(d.x, d.n)
    ll_sat = float(np.sum(_pois_logpmf(d.x, mu)))
    mu_fe = d.n * np.sum(d.x) / np.sum(d.n) if d.X is None else np.exp(_lin(beta_fe, d))
    ll_fe = float(np.sum(_pois_logpmf(d.x, mu_fe)))
    q_wald = _wald_residual(lam, w, d.X)
    return max(q_wald, 0.0), max(2.0 * (ll_sat - ll_fe), 0.0), ll_sat


def _typical_variance(x, X=None):
    """Higgins-Thompson typical variance of the escalc(IRLN) variances 1/x (x = 0: 1/0.5)."""
    return _typical_variance_w(np.where(x == 0, 0.5, x), X)


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


def fit_glmm_rate(events, person_time, *, nagq: int = 7, X=None):
    """Poisson-normal random-effects model for incidence rates (``rma.glmm(measure="IRLN")``).

    ``events`` are whole-number counts (zero counts need no correction) and ``person_time``
    positive exposure times; ``nagq`` is the number of adaptive Gauss-Hermite points (7 as in
    metafor). Returns the binomial model's :class:`~iometa.glmm.GLMMFit` (``coef`` is the pooled
    log rate); with a k x p model matrix ``X`` the meta-regression ``rma.glmm(measure="IRLN",
    mods=)`` as a :class:`~iometa.core.glmm.GLMMRegFit`. Raises ``ValueError`` for k < 2 and when every study has 0 events (no finite
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
    d = _as_data(events, person_time, nagq, X)
    k = d.x.size
    _check_estimable(d, k)
    d, A = _scaled(d)
    if np.sum(d.x) == 0:
        raise ValueError(ALL_ZERO)
    beta_fe = _glm_fe(d)
    par, hess, n_iter, ok, msg = _optimise(d, start=_start(d), beta_fe=beta_fe)
    if not ok:
        warnings.warn(f"GLMM (nagq={nagq}) did not converge: {msg}", ConvergenceWarning,
                      stacklevel=2)
    reg = _assemble(d, par, hess, n_iter, ok, msg, _heterogeneity(d, beta_fe),
                    _typical_variance(d.x, d.X), A=A)
    return reg if d.X is not None else _scalar_fit(reg)

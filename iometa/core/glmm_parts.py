"""Result types and the parts of a GLMM fit that do not need the optimiser, for
:mod:`iometa.core.glmm`: lme4's covariance, metafor's heterogeneity tests (R's saturated glm
emulated), the typical within-study variance and the assembly of the fit (formulas in
:mod:`iometa.core.glmm`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special

from .glmm_engine import (
    _binom_dev,
    _criterion,
    _Data,
    _escalc_cells,
    _glm_fe,
    _lin,
    _unscale,
    binom_logpmf,
    chi2_sf,
)


@dataclass(frozen=True)
class GLMMFit:
    """Result of :func:`fit_glmm_logit` (logit scale; names follow metafor's ``rma.glmm``)."""

    coef: float  # beta^, the pooled logit
    se: float  # sqrt(vcov[1, 1]), lme4's Hessian-based standard error
    tau2: float
    tau: float
    loglik: float  # metafor's logLik: l_sat - deviance / 2 (conditional, at the modes)
    deviance: float  # lme4 deviance(): sum of squared deviance residuals at the modes
    converged: bool
    message: str
    n_iter: int
    q_wald: float
    q_wald_pval: float
    q_lrt: float
    q_lrt_pval: float
    q_df: int
    i2: float  # percent
    h2: float
    nagq: int
    vcov: np.ndarray  # 2x2 in (tau, beta); 2 H^-1 (NaN tau row/column if lme4's fallback)
    k: int = 0
    objective: float = float("nan")  # lme4's criterion D at the optimum (its logLik = -D/2)
    marginal_loglik: float = float("nan")  # l_sat - D / 2 (AGQ / Laplace marginal)
    vt: float = float("nan")  # typical within-study variance used for I^2 and H^2


@dataclass(frozen=True)
class GLMMInference:
    """Tests and intervals of ``rma.glmm`` / ``predict.rma`` (logit and proportion scale)."""

    zval: float
    pval: float
    ci_lb: float
    ci_ub: float
    pi_lb: float
    pi_ub: float
    crit: float
    df: int | None
    prop: float
    prop_ci_lb: float
    prop_ci_ub: float
    prop_pi_lb: float
    prop_pi_ub: float


def _vcov(hess, theta, w, X=None):
    """lme4 ``vcov``: 2 H^-1, else the conditional (RX'RX)^-1 at fixed theta (beta block)."""
    m = hess.shape[0]
    try:
        v = 2.0 * np.linalg.inv(hess)
        v = (v + v.T) / 2.0
    except np.linalg.LinAlgError:
        v = np.full((m, m), np.nan)
    vb = v[1:, 1:]
    if not np.isfinite(v).all() or np.any(np.diag(vb) <= 0) or \
            np.any(np.linalg.eigvalsh(vb) <= 0):
        v = np.full((m, m), np.nan)
        ww = w / (1.0 + theta * theta * w)
        A = np.ones((w.size, 1)) if X is None else X
        v[1:, 1:] = np.linalg.inv(A.T @ (A * ww[:, None]))
    return v


def _saturated_glm(x, n):
    """R ``glm.fit`` IRLS for the saturated binomial model (one logit per study).

    The design spans R^k, so each IRLS step sets eta to the working response, study by study;
    R's stopping rule |dev - dev_old| / (|dev| + 0.1) < 1e-8 (maxit 25) and logit clamping at
    |eta| > 30 are kept. Returns the final logits and the working weights of the last
    iteration (those of R's ``vcov``); 0/n and n/n studies drift to |eta| ~ 20 with weight ~0.
    """
    y, eps, sat = x / n, np.finfo(float).eps, special.xlogy(x, x / n) + special.xlogy(n - x, 1 - x / n)
    mu = (x + 0.5) / (n + 1.0)
    eta = special.logit(mu)
    dev_old = np.sum(_binom_dev(eta, x, n, sat))
    for _ in range(25):
        mu_eta = np.where(np.abs(eta) > 30, eps, mu * (1.0 - mu))
        w = n * mu_eta**2 / (mu * (1.0 - mu))
        eta = eta + (y - mu) / mu_eta
        mu = np.where(eta < -30, eps / (1 + eps), np.where(eta > 30, 1 / (1 + eps), special.expit(eta)))
        dev = np.sum(_binom_dev(special.logit(mu), x, n, sat))
        if abs(dev - dev_old) / (abs(dev) + 0.1) < 1e-8:
            break
        dev_old = dev
    return eta, w


def _wald_residual(eta, w, X):
    """Wald test of the study coefficients beyond X in the saturated glm: with Var(eta) =
    diag(1/w) it is the weighted residual sum of squares of eta on X (Cochran's Q for X = 1)."""
    if X is None:
        return float(np.sum(w * (eta - np.sum(w * eta) / np.sum(w)) ** 2))
    b = np.linalg.lstsq(X * np.sqrt(w)[:, None], np.sqrt(w) * eta, rcond=None)[0]
    return float(np.sum(w * (eta - X @ b) ** 2))


def _heterogeneity(d: _Data, beta_fe=None):
    """QE.Wld, QE.LRT (saturated vs fixed-effect binomial glm) and the saturated log-lik."""
    x, n = d.x, d.n
    ll_sat = float(np.sum(binom_logpmf(x, n, x / n)))
    p_fe = (np.sum(x) / np.sum(n) if d.X is None
            else special.expit(_lin(_glm_fe(d) if beta_fe is None else beta_fe, d)))
    ll_fe = float(np.sum(binom_logpmf(x, n, p_fe)))
    eta, w = _saturated_glm(x, n)
    q_wald = _wald_residual(eta, w, d.X)
    return max(q_wald, 0.0), max(2.0 * (ll_sat - ll_fe), 0.0), ll_sat


def _typical_variance_w(w, X=None):
    """Higgins-Thompson typical variance (k - p) / tr(P) of within-study weights w."""
    if X is None:
        return (len(w) - 1) / (np.sum(w) - np.sum(w * w) / np.sum(w))
    inv = np.linalg.inv(X.T @ (X * w[:, None]))
    tr_p = np.sum(w) - np.trace(inv @ (X.T @ (X * (w * w)[:, None])))
    return (len(w) - X.shape[1]) / tr_p


def _typical_variance(x, n, X=None):
    """Higgins-Thompson typical variance (k - p) / tr(P) of the escalc(PLO) variances."""
    xa, na = _escalc_cells(x, n)
    return _typical_variance_w(1.0 / (1.0 / xa + 1.0 / (na - xa)), X)


@dataclass(frozen=True)
class GLMMRegFit:
    """A GLMM with moderators (``rma.glmm(mods = ...)``): model-scale coefficients ``beta``
    (one per column of X), ``se``, ``vb`` (their covariance, lme4's 2 H^-1 block), ``vcov``
    ((p + 1) x (p + 1) in (tau, beta)), the residual ``tau2``, QE (Wald and likelihood-ratio,
    k - p df), I^2 / H^2 with the typical variance of the escalc variances given X, and the
    log-likelihoods as :class:`GLMMFit`."""

    beta: np.ndarray
    se: np.ndarray
    vb: np.ndarray
    vcov: np.ndarray
    tau2: float
    tau: float
    loglik: float
    deviance: float
    converged: bool
    message: str
    n_iter: int
    q_wald: float
    q_wald_pval: float
    q_lrt: float
    q_lrt_pval: float
    q_df: int
    i2: float
    h2: float
    vt: float
    nagq: int
    k: int
    p: int
    objective: float
    marginal_loglik: float
    family: str = "binomial"


def _qp(q, df):
    return chi2_sf(q, df) if df > 0 else 1.0


def _assemble(d: _Data, par, hess, n_iter, ok, msg, hetero, vt, objective_shift=0.0, A=None):
    """GLMMRegFit from the optimum: covariance, heterogeneity tests, I^2 and log-likelihoods.
    ``d`` and ``par`` may be in scaled moderators (``A``: see :func:`_scaled`)."""
    pc = _criterion(par, d)
    par, vcov = _unscale(par, _vcov(hess, par[0], pc.w, d.X), A)
    q_wald, q_lrt, ll_sat = hetero
    k, p = d.x.size, par.size - 1
    tau2 = float(par[0] ** 2)
    vb = vcov[1:, 1:]
    return GLMMRegFit(
        beta=np.array(par[1:], dtype=float), se=np.sqrt(np.diag(vb)), vb=vb, vcov=vcov,
        tau2=tau2, tau=float(par[0]), loglik=ll_sat - float(np.sum(pc.dev0)) / 2,
        deviance=float(np.sum(pc.dev0)), converged=bool(ok), message=msg, n_iter=int(n_iter),
        q_wald=q_wald, q_wald_pval=_qp(q_wald, k - p), q_lrt=q_lrt,
        q_lrt_pval=_qp(q_lrt, k - p), q_df=k - p, i2=float(100.0 * tau2 / (vt + tau2)),
        h2=float(tau2 / vt + 1.0), vt=float(vt), nagq=d.nagq, k=k, p=p,
        objective=float(np.sum(pc.dev_i)) - objective_shift,
        marginal_loglik=ll_sat - float(np.sum(pc.dev_i)) / 2,
        family="poisson" if d.poisson else "binomial")


def _scalar_fit(r: GLMMRegFit) -> GLMMFit:
    """The intercept-only :class:`GLMMFit` view of a :class:`GLMMRegFit`."""
    return GLMMFit(
        coef=float(r.beta[0]), se=float(r.se[0]), tau2=r.tau2, tau=r.tau, loglik=r.loglik,
        deviance=r.deviance, converged=r.converged, message=r.message, n_iter=r.n_iter,
        q_wald=r.q_wald, q_wald_pval=r.q_wald_pval, q_lrt=r.q_lrt, q_lrt_pval=r.q_lrt_pval,
        q_df=r.q_df, i2=r.i2, h2=r.h2, nagq=r.nagq, vcov=r.vcov, k=r.k, objective=r.objective,
        marginal_loglik=r.marginal_loglik, vt=r.vt)


def _check_estimable(d: _Data, k):
    if k < 2:
        raise ValueError("the GLMM needs k >= 2 studies (metafor: 'Number of parameters to be "
                         "estimated is larger than the number of observations.')")
    p = 1 if d.X is None else d.X.shape[1]
    if k < p + 1:
        raise ValueError(f"{k} studies are too few for {p} coefficients plus tau^2 (metafor: "
                         "'Number of parameters to be estimated is larger than the number of "
                         "observations.')")
    if d.X is not None and np.linalg.matrix_rank(d.X) < p:
        raise ValueError("the moderators are collinear (model matrix not of full rank): drop "
                         "a moderator or merge categories")

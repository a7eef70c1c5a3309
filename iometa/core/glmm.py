"""Binomial-normal GLMM for single proportions, as ``metafor::rma.glmm(measure="PLO")``.

Model (Hamza, van Houwelingen & Stijnen 2008, J Clin Epidemiol 61:41; Stijnen, Hamza &
Özdemir 2010, Stat Med 29:3046, eq. 2): x_i | u_i ~ Binomial(n_i, expit(beta + theta u_i)),
u_i ~ N(0, 1), tau = theta >= 0, fitted by ML as metafor does through lme4
``glmer(cbind(x, n - x) ~ 1 + (1 | study), binomial, nAGQ = 7)`` (Bates, Mächler, Bolker &
Walker 2015, J Stat Softw 67(1); conventions of lme4 1.1-31 and metafor 3.8-1):

* **Objective**: lme4's deviance in (theta, beta), with the spherical random effect u::

      D = sum_i [ d_i(u^_i) + log(1 + theta^2 W_i)
                  - 2 log sum_k w_k exp(z_k^2 / 2 - (d_i(u^_i + s_i z_k) - d_i(u^_i)) / 2) ]

  d_i(u) = u^2 + dev_i(beta + theta u) (dev_i: binomial deviance residual), u^_i its minimiser
  (penalised IRLS = Newton), W_i = n_i mu_i (1 - mu_i) at u^_i, s_i = (1 + theta^2 W_i)^-1/2,
  (z_k, w_k) the Gauss-Hermite rule for N(0, 1): adaptive Gauss-Hermite quadrature centred at
  the mode and scaled by the conditional curvature (Liu & Pierce 1994, Biometrika 81:624;
  Pinheiro & Bates 1995, J Comput Graph Stat 4:12). ``nagq = 1`` is the Laplace approximation,
  for which lme4 adds -2 l_sat (binomial AIC instead of deviance residuals; a constant).
* **Estimates**: the exact minimiser of D over theta >= 0, by damped Newton on the analytic
  gradient of D (the modes' derivatives by the implicit-function theorem, see
  :func:`_criterion`) with a Hessian from differences of that gradient (forward far from the
  optimum, central near it; eigenvalues of an indefinite Hessian replaced by their absolute
  values). No general-purpose optimiser and no BLAS call in the evaluation of D: a fit takes
  about 20 evaluations of D and its gradient. D is even in theta, so theta = 0 is always
  stationary; it is the estimate when D does not decrease from it ("boundary: tau = 0"; lme4:
  "boundary (singular) fit"), with beta^ = the fixed-effect glm (logit(sum x / sum n)).
* **Moderators** (``X``, metafor's ``rma.glmm(mods=)``): the linear predictor is x_i' beta
  + theta u_i; the moderators are centred and scaled for the optimiser (metafor's ``scaleX``)
  and beta and its covariance transformed back. QE.Wld becomes the weighted residual sum of
  squares of the saturated logits on X (the Wald test of the study coefficients beyond X),
  QE.LRT compares the saturated with the fixed-effect glm on X (k - p df) and the typical
  variance is (k - p) / tr(P) with P the projection of the escalc weights given X.
* **Covariance**: lme4's ``vcov(use.hessian = TRUE)`` = 2 H^-1, H the Hessian of D in
  (theta, beta); if H is singular or the beta element is not positive, lme4's fallback
  (RX'RX)^-1 = 1 / sum W_i / (1 + theta^2 W_i). At theta^ = 0 H is diagonal, so se(beta) is
  the glm one, 1 / sqrt(sum n_i p (1 - p)). lme4 differentiates (step 1e-4) its own deviance,
  which restarts PIRLS from the nAGQ = 0 stage's linear predictor and stops after ~2 steps: an
  error quadratic in the distance from that stage's estimate, which biases lme4's Hessian by
  ~1e-3 (Laplace) or ~1e-6 (7 points) relative. The Hessian here is that of the exact D.
* **metafor's extras**: QE.Wld, the Wald test of the k - 1 study contrasts in the saturated
  glm = sum w_i (eta_i - mean_w eta)^2 with R's final IRLS logits and last working weights
  (0/n and n/n studies drift to |eta| ~ 20, weight ~0); QE.LRT = 2 (l_sat - l_FE); df = k - 1.
  I^2 and H^2 use the Higgins-Thompson typical variance of the ``escalc(PLO)`` variances (1/2
  added to both cells of 0/n and n/n studies). metafor's ``logLik`` = l_sat - deviance / 2
  where lme4's ``deviance()`` of a GLMM is the sum of squared deviance residuals at the modes:
  a conditional log-likelihood (the marginal one is ``marginal_loglik``; lme4's own ``logLik``
  is -D / 2, ``objective``).
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy import optimize, special

from .._warnings import ConvergenceWarning
from .glmm_engine import (  # noqa: F401  (some only for callers of glmm.<name>)
    _as_data,
    _Data,
    _fd_derivs,
    _glm_fe,
    _objective,
    _Problem,
    _scaled,
    _start,
    binom_logpmf,
)
from .glmm_parts import (  # noqa: F401
    GLMMFit,
    GLMMInference,
    GLMMRegFit,
    _assemble,
    _check_estimable,
    _heterogeneity,
    _scalar_fit,
    _typical_variance,
    _vcov,
)

__all__ = ["GLMMFit", "GLMMInference", "GLMMRegFit", "fit_glmm_logit", "glmm_deviance",
           "glmm_inference"]

_BOUNDARY_THETA = 1e-4  # below this a bounded solution is checked against theta = 0
NOT_IDENTIFIABLE = "tau not identifiable: every study has n = 1; boundary fit tau = 0"


def _newton_polish(f, p, h, max_iter=100):
    """Damped Newton on the analytic gradient of D with a finite-difference Hessian (of that
    gradient); where the Hessian is not positive definite its eigenvalues are replaced by their
    absolute values (a descent direction away from saddles). D is even in theta, so |theta| is
    kept. Returns (p, H, iterations, ok); H is the accurate Hessian at p (:meth:`hess_final`)."""
    p = np.array(p, dtype=float)
    fp, g = f.value_grad(p)
    near = False  # close to the optimum: an accurate Hessian, so the last steps are exact
    exact = None  # that Hessian, computed once near the optimum and kept for the last steps
    for it in range(1, max_iter + 1):
        if near:
            exact = f.hess_final(p, h) if exact is None else exact
            hess = exact
        else:
            hess = f.hess(p, h, g0=g)
        if not (np.all(np.isfinite(hess)) and np.all(np.isfinite(g))):
            return p, hess, it, False
        lam, vec = np.linalg.eigh(hess)
        pd = bool(np.all(lam > 0))
        floor = 1e-8 * max(1.0, float(np.max(np.abs(lam))))
        step = -vec @ ((vec.T @ g) / np.maximum(np.abs(lam), floor))
        dec = float(-g @ step)
        done = pd and near and dec < 1e-10 * (1.0 + abs(fp))  # Newton decrement: a last step
        near = pd and dec < 1e-5 * (1.0 + abs(fp))
        if not near:
            exact = None
        q, fq, gq = p, fp, g
        for _ in range(40):
            trial = p + step
            trial[0] = abs(trial[0])  # D is even in theta
            ft, gt = f.value_grad(trial)
            if ft <= fp + 1e-13 * (1.0 + abs(fp)):
                q, fq, gq = trial, ft, gt
                break
            step = step / 2.0
        moved = q is not p
        p, fp, g = q, fq, gq
        if done or not moved:
            hess = f.hess_final(p, h)
            ok = bool(np.all(np.isfinite(hess)) and np.all(np.linalg.eigvalsh(hess) > 0))
            # a stalled line search is convergence only when the Newton decrement is tiny
            ok = ok and (done or float(g @ np.linalg.solve(hess, g)) < 1e-8 * (1.0 + abs(fp)))
            return p, hess, it, ok
    return p, f.hess_final(p, h), max_iter, False


def _optimise(d, objective=None, start=None, beta_fe=None):
    """Minimise D over theta >= 0; returns (par, Hessian, n_iter, converged, message).

    ``start`` ((start, finite-difference step)) and ``beta_fe`` (the estimate at theta = 0,
    a vector) default to the binomial model's; the Poisson model (:mod:`iometa.glmm_poisson`)
    passes its own. ``objective`` is kept for callers that minimise another function of
    (theta, beta) by finite differences only."""
    f = _Problem(d) if objective is None else objective
    start, h = _start(d) if start is None else start
    p, hess, n_iter, ok = _newton_polish(f, np.asarray(start, dtype=float), h)
    if p[0] < _BOUNDARY_THETA or not ok:  # theta = 0 is stationary (D is even): a minimum?
        if beta_fe is None:
            beta_fe = _glm_fe(d)
        b0 = np.concatenate([[0.0], np.atleast_1d(beta_fe)])
        f0 = f(b0)
        near = p[0] < _BOUNDARY_THETA or f0 <= f(p) + 1e-10 * (1.0 + abs(f0))
        e0 = np.zeros(b0.size)
        e0[0] = h[0]
        if near and f(b0 + e0) >= f0:
            return b0, _fd_derivs(f, b0, h)[1], n_iter, True, "boundary: tau = 0"
        if p[0] < _BOUNDARY_THETA:  # a saddle (D falls away from theta = 0): restart inside
            p0 = p.copy()
            p0[0] = max(start[0], 0.1)
            p, hess, it, ok = _restart_inside(f, p0, h)
            n_iter += it
    msg = "converged" if ok else "no convergence: Newton polish stopped (Hessian not p.d.?)"
    return p, hess, n_iter, ok, msg


def _bernoulli(d: _Data):
    """Every study has n = 1: the likelihood depends on (beta, tau) only through
    pi = E[expit(beta + tau u)] (each study is one Bernoulli trial), so every tau, with the beta
    giving pi = sum x / k, is a maximum (the quadrature only adds rounding-level slopes). The
    fit is the boundary one, tau = 0, beta = logit(sum x / k) (lme4 stops near it with
    'Hessian is numerically singular')."""
    f = lambda p: _objective(p, d)  # noqa: E731
    b0 = np.concatenate([[0.0], _glm_fe(d)])
    h = _start(d)[1]
    return b0, _fd_derivs(f, b0, h)[1], 0, True, NOT_IDENTIFIABLE


def _restart_inside(f, p0, h):
    """Minimise D again with theta kept off the boundary (theta >= 10 x the boundary limit),
    then polish: used when the first run stopped at theta = 0 although D decreases from there
    (theta = 0 is a saddle or maximum of the even function D, where the gradient in theta
    vanishes, so Newton cannot leave it)."""
    jac = f.grad if isinstance(f, _Problem) else (lambda p: _fd_derivs(f, p, h)[0])
    bounds = [(10 * _BOUNDARY_THETA, None)] + [(None, None)] * (len(p0) - 1)
    res = optimize.minimize(f, p0, jac=jac, method="L-BFGS-B", bounds=bounds,
                            options={"ftol": 1e-12, "gtol": 1e-8, "maxiter": 500})
    p, hess, it, ok = _newton_polish(f, np.asarray(res.x, dtype=float), h)
    return p, hess, it + int(res.nit), ok


def glmm_deviance(events, n, theta, beta, *, nagq: int = 7) -> float:
    """lme4's ``glmer(..., devFunOnly = TRUE)`` deviance at ``c(theta, beta)``.

    For ``nagq > 1`` the AGQ deviance relative to the saturated model; for ``nagq = 1`` lme4's
    Laplace criterion, which uses -2 log-likelihood (with binomial coefficients) instead.
    """
    d = _as_data(events, n, nagq)
    val = _objective(np.array([theta, beta], dtype=float), d)
    if nagq == 1:
        val -= 2.0 * float(np.sum(binom_logpmf(d.x, d.n, d.x / d.n)))
    return val


def fit_glmm_logit(events, n, *, nagq: int = 7, X=None):
    """Binomial-normal random-effects model for proportions (``rma.glmm(measure="PLO")``).

    ``events`` and ``n`` are per-study counts (0/n and n/n studies need no continuity
    correction); ``nagq`` is the number of adaptive Gauss-Hermite points (7 as in metafor,
    1 = Laplace). ``X`` (k x p model matrix, e.g. ``[1, ablat]``) fits the meta-regression
    ``rma.glmm(measure="PLO", mods=)`` and returns a :class:`GLMMRegFit`; without it (or with a
    column of ones) the intercept-only :class:`GLMMFit`. Raises ``ValueError`` for k < 2 (lme4,
    and so metafor, refuse a single grouping level), too few studies for the coefficients and
    when every study has 0 or every study has n events (no finite MLE). Warns
    :class:`~iometa._warnings.ConvergenceWarning` if the optimisation did not converge.

    Reference: Stijnen, Hamza & Özdemir 2010 (Stat Med 29:3046); lme4 (Bates et al. 2015).

    Example
    -------
    >>> from iometa.core.glmm import fit_glmm_logit
    >>> fit = fit_glmm_logit([4, 6, 3, 62, 33], [123, 306, 231, 13598, 5069])
    >>> round(fit.coef, 3), fit.converged
    (-4.624, True)
    """
    d = _as_data(events, n, nagq, X)
    k = d.x.size
    _check_estimable(d, k)
    d, A = _scaled(d)
    if np.sum(d.x) == 0 or np.sum(d.x) == np.sum(d.n):
        raise ValueError("every study has 0 events (or every study has all n events): the GLMM's "
                         "maximum-likelihood estimate does not exist (metafor: 'Cannot fit ML "
                         "model'); pool with measure='PLO' and a continuity correction "
                         "(method='REML'), or report the total events/N with its exact CI")
    if np.any(d.n > 1):
        beta_fe = _glm_fe(d)
        par, hess, n_iter, ok, msg = _optimise(d, beta_fe=beta_fe)
    else:
        beta_fe = None
        par, hess, n_iter, ok, msg = _bernoulli(d)
    if not ok:
        warnings.warn(f"GLMM (nagq={nagq}) did not converge: {msg}", ConvergenceWarning,
                      stacklevel=2)
    hetero = _heterogeneity(d, beta_fe)
    shift = 2 * hetero[2] if nagq == 1 else 0.0
    reg = _assemble(d, par, hess, n_iter, ok, msg, hetero, _typical_variance(d.x, d.n, d.X),
                    objective_shift=shift, A=A)
    return reg if d.X is not None else _scalar_fit(reg)


def glmm_inference(fit: GLMMFit, *, level: float = 0.95, test: str = "z") -> GLMMInference:
    """z/t test, CI (beta +- crit se) and ``predict()`` PI (beta +- crit sqrt(se^2 + tau^2)).

    ``test="t"`` uses a t distribution with k - 1 df for the p-value, the CI and the PI, as
    ``rma.glmm(test="t")`` and ``predict.rma`` do. The ``prop*`` fields are the
    ``transf = transf.ilogit`` versions.
    """
    if test not in ("z", "t"):
        raise ValueError("test must be 'z' or 't'")
    zval = fit.coef / fit.se
    a = 1.0 - level
    if test == "t":
        df = fit.k - 1
        pval, crit = 2 * special.stdtr(df, -abs(zval)), special.stdtrit(df, 1 - a / 2)
    else:
        df, pval, crit = None, 2 * special.ndtr(-abs(zval)), special.ndtri(1 - a / 2)
    half_ci, half_pi = crit * fit.se, crit * np.sqrt(fit.se**2 + fit.tau2)
    lims = [fit.coef - half_ci, fit.coef + half_ci, fit.coef - half_pi, fit.coef + half_pi]
    props = [float(special.expit(v)) for v in [fit.coef, *lims]]
    return GLMMInference(float(zval), float(pval), *map(float, lims), float(crit), df,  # type: ignore[call-arg, arg-type]
                         *props)

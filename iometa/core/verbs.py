"""metafor's verbs on a fitted model, written once for intercept-only and meta-regression fits.

Both :class:`~iometa.core.results.MetaResult` (X = a column of ones) and
``iometa.compare.MetaRegression`` call these functions with the study data ``yi``, ``vi``, the
model matrix ``X``, the fitted τ² and the fitted coefficients with their covariance ``vb``
(Knapp–Hartung scaled under ``test="knha"``, as metafor's ``vb``). k ≤ a few hundred, so the
k × k projection P is formed densely.

Formulas (metafor 3.8-1 ``rma.uni``, ``confint.rma.uni``, ``blup.rma.uni``, ``ranef.rma.uni``)
---------------------------------------------------------------------------------------
* P(τ²) = W − WX(X'WX)⁻¹X'W with W = diag(1/(vᵢ + τ²)); P_u the unweighted residual
  projector I − X(X'X)⁻¹X'; V = diag(v).
* se(τ̂²): DL 1/tr P₀·√(2(k − p) + 4τ̂² tr P₀ + 2τ̂⁴ tr P₀²) (P₀ = P(0)); HS the same with
  1/Σwᵢ (wᵢ = 1/vᵢ) in front; HE 1/(k − p)·√(2 tr(P_uV)² + 4τ̂² tr P_uV + 2τ̂⁴(k − p)); SJ
  τ₀²/(k − p)·√(2 tr(PV)² + 4τ̂² tr(PVP) + 2τ̂⁴ tr P²) with P = P(τ₀²); ML √(2/Σwᵢ²);
  REML √(2/tr P²); EB, PM, PMM and SJIT √(2k²/(k − p))/Σwᵢ, the last ones at τ̂²; HSk
  k/(k − p) times HS's; DLIT DL's with P = P(τ̂²); GENQ 1/tr P·√(2 tr(PV)² + 4τ̂² tr(PVP)
  + 2τ̂⁴ tr P²) with P built from the user weights. None for the
  common-effect model and for a fixed τ² (metafor prints none).
* confint, type "QP" (Viechtbauer 2007): the τ² where Q_E(τ²) equals the χ²(k − p) quantiles;
  type "PL": where −2(ℓ(τ²) − ℓ(τ̂²)) = χ²₁(level), ℓ the REML log-likelihood for REML and the
  ML one for every other method (metafor's ``logLik``). Both search [0, max(100, 10τ̂²)] and
  report a limit outside it as the search bound. I² = 100τ²/(ṽ + τ²), H² = τ²/ṽ + 1 with the
  typical variance ṽ = (k − p)/tr P₀.
* blup: λᵢ = τ̂²/(τ̂² + vᵢ); predᵢ = λᵢyᵢ + (1 − λᵢ)xᵢ'β̂, var = λᵢvᵢ + (1 − λᵢ)²xᵢ'V_βxᵢ;
  ranef: predᵢ = λᵢ(yᵢ − xᵢ'β̂), var = λᵢvᵢ + λᵢ²xᵢ'V_βxᵢ (0 for the common-effect model);
  intervals pred ± crit·se with crit from t(k − p) under Knapp–Hartung, else z.

metafor equivalents: ``res$se.tau2``, ``confint(res, type=)``, ``blup(res)``, ``ranef(res)``.
References: Viechtbauer 2007 (Stat Med 26:37); Raudenbush & Bryk 1985 (J Educ Stat 10:75,
empirical Bayes estimates).

Example
-------
>>> import numpy as np
>>> y, v = np.array([0.1, 0.5, 0.9, 0.2]), np.array([0.04, 0.05, 0.06, 0.03])
>>> lo, hi, _ = tau2_ci(y, v, np.ones((4, 1)), 0.0573, "REML", 0.95, "QP")
>>> lo, round(hi, 4)
(0.0, 1.7452)
"""

from __future__ import annotations

import numpy as np
import pandas as pd

CI_TYPES = ("QP", "PL")


def _proj(X, w):
    """P = W − WX(X'WX)⁻¹X'W for weights ``w``."""
    WX = X * w[:, None]
    return np.diag(w) - WX @ np.linalg.solve(X.T @ WX, WX.T)


def typical_variance(vi, X):
    """ṽ = (k − p)/tr P(0), the typical within-study variance of I² and H².

    Example
    -------
    >>> import numpy as np
    >>> round(float(typical_variance(np.array([0.04, 0.04, 0.04]), np.ones((3, 1)))), 4)
    0.04
    """
    k, p = X.shape
    return (k - p) / np.trace(_proj(X, 1.0 / vi))


def se_tau2(yi, vi, X, tau2, method, weights=None):
    """metafor's ``se.tau2`` for the τ² ``method`` (None for "FE").

    Example
    -------
    >>> import numpy as np
    >>> y, v = np.array([0.1, 0.5, 0.9, 0.2]), np.array([0.04, 0.05, 0.06, 0.03])
    >>> round(se_tau2(y, v, np.ones((4, 1)), 0.0737, "ML"), 4)
    0.0828
    """
    k, p = X.shape
    t = max(float(tau2), 0.0)
    if method == "FE":
        return None
    if method in ("DL", "HS", "HSk", "DLIT"):
        P = _proj(X, 1.0 / (vi + t) if method == "DLIT" else 1.0 / vi)
        tr = np.trace(P)
        root = np.sqrt(2 * (k - p) + 4 * t * tr + 2 * t**2 * np.sum(P * P))
        if method in ("DL", "DLIT"):
            return float(root / tr)
        return float(root / np.sum(1.0 / vi) * (k / (k - p) if method == "HSk" else 1.0))
    if method == "GENQ":
        P = _proj(X, np.asarray(weights, dtype=float))
        PV = P * vi[None, :]
        return float(np.sqrt(2 * np.sum(PV * PV.T) + 4 * t * np.sum(PV * P)
                             + 2 * t**2 * np.sum(P * P)) / np.trace(P))
    if method == "HE":
        Pu = np.eye(k) - X @ np.linalg.solve(X.T @ X, X.T)
        PV = Pu * vi[None, :]
        return float(np.sqrt(2 * np.sum(PV * PV.T) + 4 * t * np.trace(PV)
                             + 2 * t**2 * (k - p)) / (k - p))
    if method == "SJ":
        yc = yi - yi.mean()
        t0 = float(yc @ yc) / k
        P = _proj(X, 1.0 / (vi + t0))
        PV = P * vi[None, :]
        return float(t0 / (k - p) * np.sqrt(2 * np.sum(PV * PV.T) + 4 * t * np.sum(PV * P)
                                            + 2 * t**2 * np.sum(P * P)))
    w = 1.0 / (vi + t)
    if method == "ML":
        return float(np.sqrt(2.0 / np.sum(w * w)))
    if method == "REML":
        P = _proj(X, w)
        return float(np.sqrt(2.0 / np.sum(P * P)))
    if method in ("EB", "PM", "PMM", "SJIT"):
        return float(np.sqrt(2.0 * k**2 / (k - p)) / np.sum(w))
    raise ValueError(f"no standard error of tau^2 for method {method!r}")


def q_e(yi, vi, X, tau2):
    """The generalised residual heterogeneity statistic Q_E(τ²) = y'P(τ²)y."""
    return float(yi @ _proj(X, 1.0 / (vi + tau2)) @ yi)


def loglik(yi, vi, X, tau2, reml):
    """(Restricted) log-likelihood of the mixed-effects model at ``tau2`` (metafor's)."""
    k, p = X.shape
    w = 1.0 / (vi + tau2)
    xtwx = X.T @ (X * w[:, None])
    beta = np.linalg.solve(xtwx, X.T @ (w * yi))
    r = yi - X @ beta
    ll = -0.5 * np.sum(np.log(vi + tau2)) - 0.5 * float(w @ (r * r))
    if reml:
        return ll - 0.5 * (k - p) * np.log(2 * np.pi) - 0.5 * np.linalg.slogdet(xtwx)[1]
    return ll - 0.5 * k * np.log(2 * np.pi)


def _root(f, lo, hi):
    from scipy.optimize import brentq

    return float(brentq(f, lo, hi, xtol=1e-15, rtol=4 * np.finfo(float).eps, maxiter=1000))


def tau2_ci(yi, vi, X, tau2, method, level, type="QP"):
    """Confidence interval ``(low, high, notes)`` of the (residual) τ², metafor's ``confint``
    of ``type`` "QP" (Q-profile) or "PL" (profile likelihood); see the module docstring."""
    from scipy.special import chdtri

    k, p = X.shape
    a = 1.0 - level
    tmax = max(100.0, 10.0 * tau2)
    notes = []
    if type == "QP":
        cu, cl = chdtri(k - p, a / 2), chdtri(k - p, 1 - a / 2)

        def f(t, c):
            return q_e(yi, vi, X, t) - c
        if f(0.0, cl) < 0:
            return 0.0, 0.0, ["Q_E(0) is below the lower chi-square quantile: CI is {0}"]
        hi = tmax if f(tmax, cl) > 0 else _root(lambda t: f(t, cl), 0.0, tmax)
        lo = 0.0 if f(0.0, cu) < 0 else (tmax if f(tmax, cu) > 0 else
                                         _root(lambda t: f(t, cu), 0.0, tmax))
    elif type == "PL":
        reml = method == "REML"
        obj = chdtri(1, a)
        ll_hat = loglik(yi, vi, X, tau2, reml)

        def g(t):
            return -2.0 * (loglik(yi, vi, X, t, reml) - ll_hat) - obj
        lo = 0.0 if g(0.0) < 0 else _root(g, 0.0, tau2)
        hi = tmax if g(tmax) < 0 else _root(g, tau2, tmax)
    else:
        raise ValueError(f"unknown type {type!r}: expected 'QP' or 'PL'")
    if hi >= tmax:
        notes.append(f"the upper limit lies at or beyond the search bound max(100, 10 tau^2) "
                     f"= {tmax:.6g} and is reported as that bound, as metafor does")
    return lo, hi, notes


def confint_frame(yi, vi, X, tau2, i2, h2, method, level, type, *, fixed_tau2=False):
    """The DataFrame of :meth:`MetaResult.confint`: index tau2, tau, i2, h2; columns estimate,
    ci_low, ci_high (I² in percent)."""
    k, p = X.shape
    if type not in CI_TYPES:
        raise ValueError(f"unknown type {type!r}: expected 'QP' or 'PL'")
    if method == "FE":
        raise ValueError("the common-effect model has no random-effects component: no CI for "
                         "tau^2 (metafor's confint refuses too)")
    if fixed_tau2:
        raise ValueError("tau^2 was fixed, not estimated: it has no confidence interval")
    if k - p < 1:
        raise ValueError(f"k = {k} studies with {p} coefficient(s): tau^2 cannot be estimated, "
                         "so it has no confidence interval")
    lo, hi, notes = tau2_ci(yi, vi, X, tau2, method, level, type)
    vt = typical_variance(vi, X)
    frame = pd.DataFrame({"estimate": [tau2, np.sqrt(tau2), i2, h2],
                          "ci_low": [lo, np.sqrt(lo), 100 * lo / (vt + lo), lo / vt + 1],
                          "ci_high": [hi, np.sqrt(hi), 100 * hi / (vt + hi), hi / vt + 1]},
                         index=["tau2", "tau", "i2", "h2"])
    frame.attrs["type"], frame.attrs["notes"] = type, notes
    return frame


def _crit(level, df):
    from scipy.special import ndtri, stdtrit

    p = 1 - (1 - level) / 2
    return float(ndtri(p)) if df is None else float(stdtrit(df, p))


def shrunken(yi, vi, X, beta, vb, tau2, level, df, *, random_part=False, fe=False,
             transf=None, labels=None):
    """metafor's ``blup`` (``random_part=False``) or ``ranef`` (True) as a DataFrame with
    columns pred, se, pi_low, pi_high (one row per study; ``transf`` maps pred and the limits
    and drops se, as metafor)."""
    lam = tau2 / (tau2 + vi)
    fit = X @ beta
    xvx = np.einsum("ij,jk,ik->i", X, vb, X)
    if random_part:
        pred = np.zeros_like(yi) if fe else lam * (yi - fit)
        var = np.zeros_like(yi) if fe else lam * vi + lam**2 * xvx
    else:
        pred = lam * yi + (1 - lam) * fit
        var = lam * vi + (1 - lam) ** 2 * xvx
    se = np.sqrt(var)
    crit = _crit(level, df)
    out = {"pred": pred, "se": se, "pi_low": pred - crit * se, "pi_high": pred + crit * se}
    if transf is not None:
        out = {"pred": transf(pred), "pi_low": transf(out["pi_low"]),
               "pi_high": transf(out["pi_high"])}
        lo, hi = np.minimum(out["pi_low"], out["pi_high"]), np.maximum(out["pi_low"],
                                                                       out["pi_high"])
        out["pi_low"], out["pi_high"] = lo, hi
    return pd.DataFrame(out, index=None if labels is None else list(labels))

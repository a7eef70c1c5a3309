"""iometa.core.glmm against metafor::rma.glmm(measure="PLO") (fixtures in tests/reference/glmm.json).

The fixtures are written by ``tests/reference/R/glmm.R`` (``Rscript
tests/reference/make_reference.R glmm``): per case and per nAGQ (7, metafor's default, and 1,
the Laplace approximation) one ``rma.glmm`` fit with tight lme4 controls (Nelder-Mead
tolerances 1e-15, ``tolPwrss = 1e-12``), its ``predict()``, the same fit with ``test = "t"``,
lme4's deviance function at a few (theta, beta) points and the linear predictor ``lp0`` lme4's
deviance function restarts its penalised IRLS (PIRLS) from.

Why the tolerances differ between nAGQ = 7 and 1 (documented, tested below): iometa minimises
the exact deviance and differentiates it accurately. lme4 restarts PIRLS from ``lp0`` at every
evaluation and stops when the penalised deviance changes by < tolPwrss (relative); near the
optimum that is after two iterations, and the log-determinant (Laplace) or the quadrature scale
(AGQ) is taken at the weights of the first iterate, whose error is quadratic in the distance
from the point where ``lp0`` is the mode. lme4's deviance is therefore the exact one plus a
smooth quadratic term; it shifts the optimum slightly and biases lme4's finite-difference
Hessian (``deriv12``, step 1e-4) by ~1e-3 relative for the Laplace approximation. With 7
quadrature points the approximation barely depends on the scale, so the effect is ~1e-6.
``_lme4_deviance`` below emulates lme4's PIRLS from ``lp0``: it reproduces lme4's deviance
function to ~1e-15 and lme4's Hessian-based standard errors to < 1e-6, which shows that the
remaining differences are lme4's numerical error, not a different likelihood.

Worst relative differences seen (metafor 3.8-1, lme4 1.1-31):

* nAGQ = 7: b 5e-7, tau2 9e-7, se 4e-6, CI / PI limits 9e-6 (all from the case with 0/n and
  n/n studies, tau^2 ~ 10; in the other cases b, se and tau2 agree to <= 2e-7);
* nAGQ = 1: b 1e-5, tau2 6e-6, se 2.6e-4, CI / PI limits 3.4e-4 (k = 2);
* the (tau, beta) covariance (2 H^-1, relative to sqrt(V_ii V_jj)): 2e-5 (nAGQ = 7),
  1.2e-3 (nAGQ = 1: var(tau) of dat.debruin2009);
* QE.Wld, QE.LRT, their p-values, vt: 1e-13 (exact emulation of R's saturated glm);
* lme4's deviance function: 2.5e-9 (nAGQ = 7) and 3.1e-8 (nAGQ = 1, lme4's PIRLS error).

p-values are compared with a tolerance scaled by 1 + z^2 (d log p / dz ~ -z; 1 + Q for the
chi-square tests), ``transf.ilogit`` limits on the logit scale.
k = 1: metafor (lme4) stops with an error; iometa raises ``ValueError``.
"""

from __future__ import annotations

import functools
import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from numpy.polynomial.hermite import hermgauss
from scipy import special, stats

from iometa._warnings import ConvergenceWarning
from iometa.core import glmm
from iometa.core.glmm import fit_glmm_logit, glmm_deviance, glmm_inference

REF_PATH = Path(__file__).parent / "reference" / "glmm.json"
FIXTURE: dict[str, Any] = json.loads(REF_PATH.read_text()) if REF_PATH.exists() else {"cases": []}
CASES = {c["name"]: c for c in FIXTURE["cases"]}
FIT_IDS = [
    (name, nagq)
    for name, c in CASES.items()
    for nagq in (7, 1)
    if "error" not in c["fits"][f"nagq{nagq}"]
]
DEV_IDS = [(name, i) for name, c in CASES.items() for i in range(len(c.get("devfun", [])))]
TOL_PWRSS = 1e-12  # the fixtures' glmerControl(tolPwrss)

# relative tolerances: estimates (b, tau2, I2, H2, logLik, dev), se-based quantities and the
# (tau, beta) covariance matrix (relative to sqrt(V_ii V_jj))
TOL = {7: {"est": 5e-6, "se": 2e-5, "vcov": 5e-5}, 1: {"est": 5e-5, "se": 5e-4, "vcov": 3e-3}}
EXACT = 1e-10


def _close(actual, expected, rtol, atol=1e-12):
    assert expected is not None
    assert np.isfinite(actual)
    assert abs(actual - expected) <= rtol * abs(expected) + atol, (actual, expected)


@functools.cache
def _fit(name: str, nagq: int):
    c = CASES[name]
    return fit_glmm_logit(c["xi"], c["ni"], nagq=nagq)


def _ref(name: str, nagq: int) -> dict[str, Any]:
    return CASES[name]["fits"][f"nagq{nagq}"]


# ----------------------------------------------------------------------------- lme4 emulation
def _lme4_deviance(theta, beta, x, n, lp0, nagq, tol=TOL_PWRSS):
    """lme4's deviance function (glmerAGQ / glmerLaplace), emulated with its PIRLS from lp0."""
    x, n = np.asarray(x, float), np.asarray(n, float)
    y, eta = x / n, np.asarray(lp0, float)
    mu, old = special.expit(eta), np.finfo(float).max

    def devres(m):
        return 2 * n * (special.xlogy(y, y / m) + special.xlogy(1 - y, (1 - y) / (1 - m)))

    for _ in range(30):
        w = n * mu * (1 - mu)  # weights of the current iterate -> L
        u = theta * w * ((eta - beta) + (y - mu) / (mu * (1 - mu))) / (1 + theta**2 * w)
        eta = beta + theta * u
        mu = special.expit(eta)
        pdev = devres(mu).sum() + u @ u
        if abs(old - pdev) < tol * pdev:  # lme4: |(old - pdev) / pdev| < tolPwrss
            break
        old = pdev
    l2 = 1 + theta**2 * w
    if nagq == 1:
        return np.log(l2).sum() + u @ u - 2 * stats.binom.logpmf(x, n, mu).sum()
    t, wk = hermgauss(nagq)
    z = np.sqrt(2) * t
    uk = u[:, None] + z / np.sqrt(l2)[:, None]
    mk = special.expit(beta + theta * uk)
    yk = y[:, None]
    ck = uk**2 + 2 * n[:, None] * (special.xlogy(yk, yk / mk) + special.xlogy(1 - yk, (1 - yk) / (1 - mk)))
    c0 = u * u + devres(mu)
    lw = np.log(wk / np.sqrt(np.pi)) + z * z / 2
    return np.sum(c0 + np.log(l2) - 2 * special.logsumexp(lw - 0.5 * (ck - c0[:, None]), axis=1))


def _deriv12_hessian(f, p, delta=1e-4):
    """lme4's deriv12 Hessian (central differences, step 1e-4)."""
    m, f0 = len(p), f(p)
    e = np.eye(m) * delta
    hess = np.zeros((m, m))
    for j in range(m):
        hess[j, j] = (f(p + e[j]) - 2 * f0 + f(p - e[j])) / delta**2
        for i in range(j):
            q = f(p + e[i] + e[j]) - f(p + e[i] - e[j]) - f(p - e[i] + e[j]) + f(p - e[i] - e[j])
            hess[i, j] = hess[j, i] = q / (4 * delta**2)
    return hess


# ----------------------------------------------------------------------------- deviance
@pytest.mark.parametrize(("name", "i"), DEV_IDS)
@pytest.mark.parametrize("nagq", [7, 1])
def test_deviance_matches_lme4_devfun(name, i, nagq):
    c = CASES[name]
    pt = c["devfun"][i]
    ref = pt[f"nagq{nagq}_tight"]
    if ref is None:
        pytest.skip("lme4's PIRLS failed at this point with tolPwrss = 1e-12")
    mine = glmm_deviance(c["xi"], c["ni"], pt["theta"], pt["beta"], nagq=nagq)
    _close(mine, ref, 1e-8 if nagq > 1 else 1e-7)


@pytest.mark.parametrize(("name", "i"), DEV_IDS)
@pytest.mark.parametrize("nagq", [7, 1])
@pytest.mark.parametrize("tol_key", ["tight", "default"])
def test_lme4_pirls_emulation_reproduces_devfun(name, i, nagq, tol_key):
    c = CASES[name]
    pt = c["devfun"][i]
    ref = pt[f"nagq{nagq}_{tol_key}"]
    if ref is None:
        pytest.skip("lme4's PIRLS failed at this point")
    tol, lp0 = (TOL_PWRSS, "lme4_lp0") if tol_key == "tight" else (1e-7, "lme4_lp0_default")
    emu = _lme4_deviance(pt["theta"], pt["beta"], c["xi"], c["ni"], c[lp0], nagq, tol)
    _close(emu, ref, 1e-12)


@pytest.mark.parametrize(("name", "nagq"), FIT_IDS)
def test_lme4_hessian_is_deriv12_of_its_pirls_deviance(name, nagq):
    """lme4's se = deriv12 Hessian of its own (PIRLS-from-lp0) deviance at its optimum."""
    c, ref = CASES[name], _ref(name, nagq)
    p = np.array([ref["lme4"]["theta"], ref["b"]])
    hess = _deriv12_hessian(
        lambda q: _lme4_deviance(q[0], q[1], c["xi"], c["ni"], c["lme4_lp0"], nagq), p
    )
    np.testing.assert_allclose(hess, np.array(ref["lme4"]["hessian"]), rtol=1e-5, atol=1e-5)
    _close(np.sqrt(2 * np.linalg.inv(hess)[1, 1]), ref["se"], 2e-6)


def test_deviance_without_continuity_correction():
    x, n = np.array([20, 45, 0, 30, 12]), np.array([20, 48, 12, 35, 15])
    beta = 1.3
    p = special.expit(beta)
    dev = 2 * np.sum(stats.binom.logpmf(x, n, x / n) - stats.binom.logpmf(x, n, p))
    _close(glmm_deviance(x, n, 0.0, beta), dev, 1e-12)  # theta = 0: the binomial deviance
    _close(glmm_deviance(x, n, 0.0, beta, nagq=1), -2 * stats.binom.logpmf(x, n, p).sum(), 1e-12)


def test_deviance_is_even_in_theta():
    x, n = CASES["pritz1997"]["xi"], CASES["pritz1997"]["ni"]
    _close(glmm_deviance(x, n, -0.7, 1.2), glmm_deviance(x, n, 0.7, 1.2), 1e-13)


# ----------------------------------------------------------------------------- fits
@pytest.mark.parametrize(("name", "nagq"), FIT_IDS)
def test_fit_matches_rma_glmm(name, nagq):
    fit, ref, tol = _fit(name, nagq), _ref(name, nagq), TOL[nagq]
    assert fit.converged, fit.message
    assert fit.nagq == nagq and fit.k == len(CASES[name]["xi"])
    _close(fit.coef, ref["b"], tol["est"])
    _close(fit.tau2, ref["tau2"], tol["est"], atol=1e-12)
    _close(fit.tau, ref["lme4"]["theta"], tol["est"], atol=1e-12)
    _close(fit.se, ref["se"], tol["se"])
    _close(fit.i2, ref["I2"], tol["est"], atol=1e-10)
    _close(fit.h2, ref["H2"], tol["est"])
    _close(fit.loglik, ref["logLik"], tol["est"])
    _close(fit.deviance, ref["dev"], tol["est"])
    _close(fit.objective, -2 * ref["lme4"]["logLik"], tol["est"])
    vcov_r = 2 * np.linalg.inv(np.array(ref["lme4"]["hessian"]))
    scale = np.sqrt(np.outer(np.diag(vcov_r), np.diag(vcov_r)))
    assert np.all(np.abs(fit.vcov - vcov_r) <= tol["vcov"] * scale), (fit.vcov, vcov_r)


@pytest.mark.parametrize(("name", "nagq"), FIT_IDS)
def test_heterogeneity_tests_match(name, nagq):
    fit, ref = _fit(name, nagq), _ref(name, nagq)
    assert fit.q_df == ref["QE_df"]
    _close(fit.q_wald, ref["QE_Wld"], EXACT)
    _close(fit.q_wald_pval, ref["QEp_Wld"], EXACT * (1 + fit.q_wald))
    _close(fit.q_lrt, ref["QE_LRT"], EXACT)
    _close(fit.q_lrt_pval, ref["QEp_LRT"], EXACT * (1 + fit.q_lrt), atol=1e-300)
    _close(fit.vt, ref["vt"], EXACT)


def _check_inference(inf, ref, tol):
    _close(inf.zval, ref["zval"], tol)
    _close(inf.pval, ref["pval"], tol * (1 + inf.zval**2), atol=1e-300)
    for key in ("ci_lb", "ci_ub"):
        _close(getattr(inf, key), ref[key], tol)
    pred, pred_i = ref["predict"], ref["predict_ilogit"]
    for key in ("ci_lb", "ci_ub", "pi_lb", "pi_ub"):
        _close(getattr(inf, key), pred[key], tol)
        # transf.ilogit: compare on the logit scale (the tails amplify relative errors)
        _close(special.logit(getattr(inf, "prop_" + key)), special.logit(pred_i[key]), tol)
    _close(inf.prop, pred_i["pred"], tol)


@pytest.mark.parametrize(("name", "nagq"), FIT_IDS)
def test_inference_z_matches(name, nagq):
    inf = glmm_inference(_fit(name, nagq))
    assert inf.df is None
    _check_inference(inf, _ref(name, nagq), TOL[nagq]["se"])


@pytest.mark.parametrize(("name", "nagq"), FIT_IDS)
def test_inference_t_matches(name, nagq):
    ref = _ref(name, nagq)["test_t"]
    inf = glmm_inference(_fit(name, nagq), test="t")
    assert inf.df == ref["ddf"] == len(CASES[name]["xi"]) - 1
    _check_inference(inf, ref, TOL[nagq]["se"])


def test_inference_level():
    fit = _fit("pritz1997", 7)
    inf = glmm_inference(fit, level=0.9)
    _close(inf.ci_ub - fit.coef, stats.norm.ppf(0.95) * fit.se, 1e-12)
    with pytest.raises(ValueError):
        glmm_inference(fit, test="knha")


def test_laplace_differs_from_agq():
    for name in ("pritz1997", "zeros_and_full"):
        f7, f1 = _fit(name, 7), _fit(name, 1)
        r7, r1 = _ref(name, 7), _ref(name, 1)
        assert abs(f7.coef - f1.coef) > 1e-3 and abs(f7.tau2 - f1.tau2) > 1e-2
        _close(f7.coef - f1.coef, r7["b"] - r1["b"], 5e-3)  # the difference itself matches R
        _close(f7.tau2 - f1.tau2, r7["tau2"] - r1["tau2"], 5e-3)


def test_laplace_marginal_loglik_is_lme4_loglik():
    for name, nagq in FIT_IDS:
        if nagq == 1:
            _close(_fit(name, 1).marginal_loglik, _ref(name, 1)["lme4"]["logLik"], 1e-7)


# ----------------------------------------------------------------------------- edge cases
def test_zero_and_full_studies_fit_without_correction():
    fit = _fit("zeros_and_full", 7)
    assert fit.converged and np.isfinite(fit.se) and fit.tau2 > 1
    # the 0/12 and 20/20 studies carry information: dropping them changes the estimate
    c = CASES["zeros_and_full"]
    inner = [i for i, (x, n) in enumerate(zip(c["xi"], c["ni"])) if 0 < x < n]
    other = fit_glmm_logit(np.take(c["xi"], inner), np.take(c["ni"], inner))
    assert abs(other.coef - fit.coef) > 0.1


def test_boundary_fit():
    fit, ref = _fit("homogeneous", 7), _ref("homogeneous", 7)
    assert fit.tau2 == 0.0 == ref["tau2"] and fit.i2 == 0.0 and fit.h2 == 1.0
    assert fit.converged and "boundary" in fit.message
    c = CASES["homogeneous"]
    x, n = np.asarray(c["xi"], float), np.asarray(c["ni"], float)
    p = x.sum() / n.sum()
    _close(fit.coef, special.logit(p), 1e-14)  # the fixed-effect glm
    _close(fit.se, 1 / np.sqrt(np.sum(n * p * (1 - p))), 1e-7)
    assert abs(fit.vcov[0, 1]) < 1e-8  # D is even in theta: no (theta, beta) covariance


def test_bernoulli_data_boundary():
    # n_i = 1: tau is not identified (only E expit(beta + tau u) is); like lme4 (tau^2 ~ 3e-7,
    # b = 0.405465120 with tight controls) the boundary solution is returned
    fit = fit_glmm_logit([0, 1, 1, 0, 1], [1, 1, 1, 1, 1])
    assert fit.converged and fit.tau2 == 0.0
    _close(fit.coef, special.logit(0.6), 1e-14)


def test_vcov_falls_back_like_lme4():
    w, theta = np.array([2.0, 3.0, 4.0]), 0.5
    v = glmm._vcov(np.zeros((2, 2)), theta, w)  # singular Hessian
    assert np.isnan(v[0, 0]) and np.isnan(v[0, 1])
    _close(v[1, 1], 1 / np.sum(w / (1 + theta**2 * w)), 1e-14)
    v = glmm._vcov(np.array([[1.0, 2.0], [2.0, 1.0]]), theta, w)  # beta element negative
    assert np.isnan(v[0, 0]) and v[1, 1] > 0


def test_k1_raises_like_metafor():
    assert "error" in CASES["k1"]["fits"]["nagq7"]
    with pytest.raises(ValueError, match="k >= 2"):
        fit_glmm_logit(CASES["k1"]["xi"], CASES["k1"]["ni"])


@pytest.mark.parametrize(
    ("events", "n", "kwargs"),
    [
        ([1, 2], [5], {}),
        ([6, 2], [5, 5], {}),
        ([-1, 2], [5, 5], {}),
        ([1.5, 2], [5, 5], {}),
        ([1, 2], [0, 5], {}),
        ([1, np.nan], [5, 5], {}),
        ([1, 2], [5, 5], {"nagq": 0}),
        ([0, 0], [5, 5], {}),
        ([5, 5], [5, 5], {}),
    ],
)
def test_invalid_input_raises(events, n, kwargs):
    with pytest.raises(ValueError):
        fit_glmm_logit(events, n, **kwargs)


def test_non_convergence_is_flagged(monkeypatch):
    def fail(f, p, h, max_iter=50):
        return p, np.eye(2), max_iter, False

    monkeypatch.setattr(glmm, "_newton_polish", fail)
    c = CASES["pritz1997"]
    with pytest.warns(ConvergenceWarning):
        fit = fit_glmm_logit(c["xi"], c["ni"])
    assert not fit.converged and "no convergence" in fit.message


def test_converged_fit_does_not_warn():
    c = CASES["k3"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fit = fit_glmm_logit(c["xi"], c["ni"])
    assert fit.converged and fit.n_iter > 0

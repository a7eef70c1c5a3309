"""Numerical edge cases of every pooling function (issue 16): a number, a warning or an error.

Each situation of ``docs/edge_cases.md`` (k = 1, k = 2, identical effects, tiny and huge
variances, all events 0 or n, n = 1, extreme tau^2, non-convergence, NaN/inf, negative n,
events > n, mismatched lengths) has a defined outcome, tested here:

* a number: compared with metafor / lme4 (``tests/reference/edge_cases.json``, written by
  ``tests/reference/R/edge_cases.R``) at |a - b| <= 1e-6 |b| + 1e-10 (GLMM: lme4's own
  numerical error, see ``tests/test_glmm.py``), or with a hand-worked value;
* a warning (an :class:`iometa.IometaWarning` subclass) and a stated fallback;
* a ``ValueError`` naming the study.

Never a silent NaN or inf: :func:`assert_finite` walks every numeric field of a result and
fails on a non-finite value unless the field is documented as not available for that model
(:func:`documented_na`, the same list as the docs). Tests of bugs in modules owned by others
are ``xfail(strict=True)`` with the reason.
"""

from __future__ import annotations

import dataclasses
import json
import math
import warnings
from fractions import Fraction
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _fixture import decode as num
from scipy import special

import iometa
from iometa import ConvergenceWarning, IometaWarning, SmallSampleWarning

REF = json.loads((Path(__file__).parent / "reference" / "edge_cases.json").read_text())
RTOL, ATOL = 1e-6, 1e-10
METHODS = ["FE", "DL", "HE", "HS", "SJ", "ML", "REML", "EB", "PM"]
# lme4's numerical error (Hessian by finite differences, PIRLS restarts): tests/test_glmm.py
GLMM_TOL = {7: {"est": 5e-6, "se": 2e-5}, 1: {"est": 5e-5, "se": 5e-4}}

# ---------------------------------------------------------------- the non-finite walker
SCALARS = ("estimate", "ci_low", "ci_high", "pi_low", "pi_high", "coef", "se", "stat", "pval",
           "coef_ci_low", "coef_ci_high", "coef_pi_low", "coef_pi_high", "tau2", "i2", "h2",
           "q", "q_pval")
INTERVALS = ("tau2_ci", "i2_ci", "h2_ci")
NO_VARIANCE = ("se", "stat", "pval", "pi_low", "pi_high", "coef_pi_low", "coef_pi_high",
               "tau2", "i2", "h2", "q", "q_pval")


def documented_na(res, *, fixed_tau2=False) -> set[str]:
    """Fields documented as NaN for this model (docs/edge_cases.md, "Not available")."""
    if res.method in ("MM", "WM"):  # median of medians: no within-study variances
        return {*NO_VARIANCE, *INTERVALS, "studies.vi", "studies.se"}
    if res.method in ("FE", "GLMM") or res.k == 1 or fixed_tau2:
        return set(INTERVALS)  # no Q-profile interval exists
    return set()


def assert_finite(res, *, fixed_tau2=False):
    """Every numeric field finite, except the documented ones, which must be NaN."""
    na = documented_na(res, fixed_tau2=fixed_tau2)
    bad = [f"{n}={getattr(res, n)!r}" for n in SCALARS
           if n not in na and not math.isfinite(getattr(res, n))]
    bad += [f"{n}={getattr(res, n)!r}" for n in INTERVALS
            if n not in na and not np.isfinite(getattr(res, n)).all()]
    bad += [f"{n} should be NaN: {getattr(res, n)!r}" for n in (*SCALARS, *INTERVALS)
            if n in na and not np.isnan(getattr(res, n)).all()]
    if res.df is not None and not math.isfinite(res.df):
        bad.append(f"df={res.df!r}")
    for col in ("yi", "vi", "weight", "estimate", "se"):
        if col in res.studies and f"studies.{col}" not in na:
            vals = res.studies[col].to_numpy(dtype=float)
            if not np.isfinite(vals).all():
                bad.append(f"studies.{col}={vals.tolist()}")
    assert not bad, "non-finite values in a result: " + "; ".join(bad)


def assert_finite_or_zero_knha_se(res, **kw):
    """As :func:`assert_finite`; identical effects under Knapp-Hartung give SE 0 (metafor too):
    then z = ±inf (nan for a zero estimate), p = 0, and a CI of zero width — documented; the
    missing warning is ``test_knha_zero_se_warns`` (xfail)."""
    if res.test == "knha" and res.se == 0:
        assert res.ci_low == res.estimate == res.ci_high and (np.isinf(res.stat) or res.coef == 0)
        res = dataclasses.replace(res, stat=0.0, pval=1.0)  # the documented exception
    assert_finite(res, **kw)


def quiet(fn, *args, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", IometaWarning)
        return fn(*args, **kw)


def arr(x):
    return np.atleast_1d(num(x))


def close(actual, expected, rtol=RTOL, atol=ATOL):
    a, b = np.atleast_1d(np.asarray(actual, float)), np.atleast_1d(np.asarray(expected, float))
    with np.errstate(invalid="ignore"):
        ok = (np.isnan(a) & np.isnan(b)) | (a == b) | (np.abs(a - b) <= rtol * np.abs(b) + atol)
    assert ok.all(), (a.tolist(), b.tolist())


MODEL = ("coef", "se", "stat", "pval", "coef_ci_low", "coef_ci_high", "tau2", "i2", "h2", "q",
         "q_pval")


def check_rma(res, c, *, reporting=False, sort=False):
    """A MetaResult against one recorded rma() fit (model scale, PI, weights, Q-profile CI)."""
    for name in MODEL:
        close(getattr(res, name), num(c[name]))
    if c["method"] != "FE":  # metafor's predict() has no PI for the FE model
        close([res.coef_pi_low, res.coef_pi_high], [num(c["coef_pi_low"]), num(c["coef_pi_high"])])
    close(res.studies["weight"], arr(c["weights"]))
    if "tau2_ci" in c:
        close(res.tau2_ci, arr(c["tau2_ci"]))
        close(res.i2_ci, arr(c["i2_ci"]))
    if reporting:
        ci = [num(c["ci_low"]), num(c["ci_high"])]
        close(res.estimate, num(c["estimate"]))
        close([res.ci_low, res.ci_high], sorted(ci) if sort else ci)
        if c["method"] != "FE":
            pi = [num(c["pi_low"]), num(c["pi_high"])]
            close([res.pi_low, res.pi_high], sorted(pi) if sort else pi)


def _ids(cases):
    return [c["id"] for c in cases]


# ---------------------------------------------------------------- pool (generic) vs metafor
@pytest.mark.parametrize("c", REF["generic"], ids=_ids(REF["generic"]))
def test_pool_edge_cases_match_metafor(c):
    fixed = c.get("tau2_fixed")
    kw = {"tau2": fixed} if fixed is not None else {"method": c["method"]}
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        res = iometa.pool(arr(c["yi"]), arr(c["vi"]), test=c["test"], **kw)
    check_rma(res, c)
    assert_finite_or_zero_knha_se(res, fixed_tau2=fixed is not None)
    r_warned = " ".join(c["warnings"])
    if 'test="z" since k=1' in r_warned:  # metafor switches to z for k = 1; so does iometa
        assert res.test == "z" and any(issubclass(w.category, SmallSampleWarning) for w in rec)
    if "Knapp & Hartung method is not meant" in r_warned:
        assert any(issubclass(w.category, IometaWarning) and "Knapp-Hartung" in str(w.message)
                   for w in rec)


def test_metafor_fisher_scoring_failure_is_solved():
    """metafor's default Fisher scoring stops ('did not converge'); its remedy stepadj = 0.5
    reaches the REML maximum, and iometa's safeguarded Newton gets there without help."""
    c = next(c for c in REF["generic"] if c["id"] == "fisher_scoring_fails-REML-z")
    assert "did not converge" in c["default_control_error"] and c["stepadj"] == 0.5
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        res = iometa.pool(arr(c["yi"]), arr(c["vi"]))
    assert res.converged and res.n_iter < 100
    close(res.tau2, num(c["tau2"]))


def test_extreme_tau2_interval_capped_like_metafor_with_a_warning():
    c = next(c for c in REF["generic"] if c["id"] == "tau2_extreme-REML-z")
    with pytest.warns(IometaWarning, match="search limit"):
        res = iometa.pool(arr(c["yi"]), arr(c["vi"]))
    assert res.tau2 > 1e5
    close(res.tau2_ci, arr(c["tau2_ci"]))
    lo, hi = res.extra["tau2_ci_uncapped"]
    assert hi > res.tau2_ci[1] and lo == res.tau2_ci[0]


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("test", ["z", "knha"])
def test_k1_is_the_study_itself_with_a_warning(method, test):
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        res = iometa.pool([0.3], [0.1], method=method, test=test, labels=["Solo 2020"])
    said = [str(w.message) for w in rec if issubclass(w.category, SmallSampleWarning)]
    assert any("only one study (Solo 2020)" in m for m in said)
    assert (test == "knha") == any("Knapp-Hartung needs k >= 2" in m for m in said)
    assert (res.coef, res.tau2, res.q, res.i2, res.h2, res.test) == (0.3, 0.0, 0.0, 0.0, 1.0, "z")
    close(res.se, math.sqrt(0.1))
    assert_finite(res)


# ---------------------------------------------------------------- proportions vs metafor
@pytest.mark.parametrize("c", REF["proportion"], ids=_ids(REF["proportion"]))
def test_pool_proportions_edge_cases_match_metafor(c):
    res = quiet(iometa.pool_proportions, arr(c["xi"]), arr(c["ni"]), measure=c["measure"],
                method=c["method"], test=c["test"])
    close(res.yi, arr(c["yi"]))
    close(res.vi, arr(c["vi"]))
    check_rma(res, c, reporting=True)
    assert_finite_or_zero_knha_se(res)


@pytest.mark.parametrize("measure", ["PLO", "PAS", "PFT"])
@pytest.mark.parametrize("events", [[0, 0, 0], [10, 20, 30]], ids=["all0", "alln"])
def test_all_zero_or_all_n_stays_in_unit_interval(measure, events):
    res = quiet(iometa.pool_proportions, events, [10, 20, 30], measure=measure, method="DL")
    vals = [res.estimate, res.ci_low, res.ci_high, res.pi_low, res.pi_high]
    assert all(0 <= x <= 1 for x in vals), vals
    if measure == "PLO":  # continuity correction, said in the result
        assert res.extra["corrected"].all() and any("continuity" in w for w in res.warnings)


@pytest.mark.parametrize("measure", ["PR", "PLN"])
def test_unbounded_backtransform_outside_unit_interval_warns(measure):
    with pytest.warns(iometa.TransformWarning, match="outside"):
        iometa.pool_proportions([10, 20, 30], [10, 20, 30], measure=measure, method="FE")


# ---------------------------------------------------------------- GLMM vs lme4
GLMM_FIT = [c for c in REF["glmm"] if "error" not in c and c["data"] != "n_one"]


# tau ~ 4 with the Laplace approximation: lme4's finite-difference Hessian (PIRLS restarted from
# its nAGQ = 0 stage) is off by 0.4 % in se; iometa's se is the curvature of lme4's deviance
# function (test_glmm_se_is_the_curvature_of_the_deviance)
GLMM_SE_TOL = {"very_heterogeneous-1": 5e-3}


@pytest.mark.parametrize("c", GLMM_FIT, ids=_ids(GLMM_FIT))
def test_glmm_edge_cases_match_lme4(c):
    tol = dict(GLMM_TOL[c["nagq"]])
    tol["se"] = GLMM_SE_TOL.get(c["id"], tol["se"])
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        warnings.simplefilter("ignore", SmallSampleWarning)
        res = iometa.pool_proportions(arr(c["xi"]), arr(c["ni"]), method="GLMM",
                                      nagq=c["nagq"])
    # b is ~0 by symmetry in very_heterogeneous (R: 1e-7, its convergence residue)
    close(res.coef, num(c["coef"]), tol["est"], 1e-6)
    close(res.tau2, num(c["tau2"]), tol["est"], 1e-10)
    close(res.se, num(c["se"]), tol["se"])
    close([res.q, res.extra["q_lrt"]], [num(c["q"]), num(c["q_lrt"])], 1e-9, 1e-9)
    close([res.i2, res.h2], [num(c["i2"]), num(c["h2"])], tol["est"], 1e-8)
    logit = special.logit([res.ci_low, res.ci_high, res.pi_low, res.pi_high])
    ref = special.logit([num(c[k]) for k in ("ci_low", "ci_high", "pi_low", "pi_high")])
    close(logit, ref, tol["se"], 1e-6)
    assert res.converged
    assert_finite(res)


@pytest.mark.parametrize("c", GLMM_FIT, ids=_ids(GLMM_FIT))
def test_glmm_se_is_the_curvature_of_the_deviance(c):
    """se = sqrt(2 (H^-1)_bb), H the Hessian of lme4's deviance function (glmm_deviance, which
    reproduces lme4's devfun in tests/test_glmm.py), by central differences at two steps."""
    from iometa.core.glmm import glmm_deviance

    res = quiet(iometa.pool_proportions, arr(c["xi"]), arr(c["ni"]), method="GLMM",
                nagq=c["nagq"])
    if res.tau2 == 0:
        pytest.skip("boundary fit: se is the glm one (tested against lme4 above)")
    p = np.array([math.sqrt(res.tau2), res.coef])

    def hessian(h):
        f = lambda a, b: glmm_deviance(c["xi"], c["ni"], p[0] + a, p[1] + b,  # noqa: E731
                                       nagq=c["nagq"])
        hbb = (f(0, h) - 2 * f(0, 0) + f(0, -h)) / h**2
        htt = (f(h, 0) - 2 * f(0, 0) + f(-h, 0)) / h**2
        htb = (f(h, h) - f(h, -h) - f(-h, h) + f(-h, -h)) / (4 * h * h)
        return np.array([[htt, htb], [htb, hbb]])

    for h in (1e-3, 3e-4):
        se = math.sqrt(2 * np.linalg.inv(hessian(h))[1, 1])
        assert abs(se - res.se) <= 1e-4 * res.se, (h, se, res.se)


def test_glmm_laplace_k2_saddle_start_reaches_the_maximum():
    """Regression: the Laplace fit of (3/10, 8/12) stopped at theta = 0 (a saddle of the even
    deviance), restarted at theta = 0.1 and reported tau^2 = 0.01 with a ConvergenceWarning."""
    c = next(c for c in REF["glmm"] if c["id"] == "k2-1")
    res = quiet(iometa.pool_proportions, [3, 8], [10, 12], method="GLMM", nagq=1)
    assert res.converged
    close(res.tau2, num(c["tau2"]), 5e-5)


@pytest.mark.parametrize("nagq", [7, 1])
def test_glmm_n_equal_one_studies_give_tau2_zero(nagq):
    """Every n = 1: tau is not identifiable (the likelihood depends on beta and tau only through
    E[expit(beta + tau u)]); lme4 ends near tau^2 = 0 ('Hessian is numerically singular').
    iometa: the boundary fit, tau^2 = 0 and the glm's logit(2/4) = 0, se = 1, with a warning."""
    c = next(c for c in REF["glmm"] if c["id"] == f"n_one-{nagq}")
    assert "singular" in " ".join(c["warnings"]) and num(c["tau2"]) < 1e-6
    with pytest.warns(SmallSampleWarning, match="n = 1"):
        res = iometa.pool_proportions([0, 1, 1, 0], [1, 1, 1, 1], method="GLMM", nagq=nagq)
    assert res.tau2 == 0 and abs(res.coef - num(c["coef"])) < 1e-6
    close(res.se, 1.0, 1e-8)
    assert_finite(res)


@pytest.mark.parametrize("nagq", [7, 1])
@pytest.mark.parametrize("data", ["all_zero", "all_n"])
def test_glmm_without_mle_is_a_clear_error_as_in_r(data, nagq):
    c = next(c for c in REF["glmm"] if c["id"] == f"{data}-{nagq}")
    assert "Cannot fit ML model" in c["error"]
    with pytest.raises(ValueError, match="does not exist.*measure='PLO'"):
        iometa.pool_proportions(arr(c["xi"]), arr(c["ni"]), method="GLMM", nagq=nagq)


@pytest.mark.parametrize("nagq", [7, 1])
def test_glmm_identical_proportions_is_the_boundary_fit(nagq):
    """lme4 fails ('Cannot fit ML model'); the maximum is at tau = 0: the binomial glm,
    logit(18/60) with se 1/sqrt(60 p (1 - p)) (rma.glmm's behaviour at the boundary)."""
    assert "error" in next(c for c in REF["glmm"] if c["id"] == f"identical-{nagq}")
    res = quiet(iometa.pool_proportions, [3, 6, 9], [10, 20, 30], method="GLMM", nagq=nagq)
    p = 18 / 60
    close([res.coef, res.se, res.tau2], [special.logit(p), 1 / math.sqrt(60 * p * (1 - p)), 0])
    assert_finite(res)


def test_glmm_k1_is_an_error_with_the_alternative():
    with pytest.raises(ValueError, match="at least 2 studies.*method='FE'"):
        iometa.pool_proportions([3], [10], method="GLMM")


# ---------------------------------------------------------------- meta-regression vs metafor
def exact_wls(y, v, x, tau2=0.0):
    """Weighted regression of y on (1, x), w = 1/(v + tau^2), in exact rational arithmetic:
    beta, se (from (X'WX)^-1), Q = sum w r^2, sum w and tr P (P = W - WX(X'WX)^-1 X'W)."""
    y, v, x = ([Fraction(a) for a in np.asarray(t, float)] for t in (y, v, x))
    w = [1 / (vi + Fraction(tau2)) for vi in v]
    s = {key: sum(wi**a * xi**b for wi, xi in zip(w, x)) for key, a, b in
         (("w", 1, 0), ("wx", 1, 1), ("wxx", 1, 2), ("ww", 2, 0), ("wwx", 2, 1), ("wwxx", 2, 2))}
    det = s["w"] * s["wxx"] - s["wx"] ** 2
    swy = sum(wi * yi for wi, yi in zip(w, y))
    b1 = (s["w"] * sum(wi * xi * yi for wi, xi, yi in zip(w, x, y)) - s["wx"] * swy) / det
    b0 = (swy - b1 * s["wx"]) / s["w"]
    q = sum(wi * (yi - b0 - b1 * xi) ** 2 for wi, xi, yi in zip(w, x, y))
    tr = (s["wxx"] * s["ww"] - 2 * s["wx"] * s["wwx"] + s["w"] * s["wwxx"]) / det
    return {"beta": np.array([float(b0), float(b1)]), "q": float(q), "sw": float(s["w"]),
            "se": np.sqrt([float(s["wxx"] / det), float(s["w"] / det)]),
            "tr_p": float(s["w"] - tr)}


def _exact_reference(reg, c):
    """metafor loses digits with one variance 1e-10 (it warns 'Ratio of largest to smallest
    sampling variance extremely large'): Q_E 7.69 instead of 8.8333..., and with it I^2, H^2
    and the DL/HS tau^2 (which use Q_E) with their beta and se. Exact values instead; the
    other tau^2 estimators agree with metafor and are compared with it."""
    y, v, x, k = arr(c["yi"]), arr(c["vi"]), arr(c["x"]), len(c["yi"])
    fe, df = exact_wls(y, v, x), k - 2
    ref = {"qe": fe["q"]}
    if c["method"] == "FE":
        return {**ref, "i2": max(0.0, 100 * (fe["q"] - df) / fe["q"]), "h2": fe["q"] / df}
    vt, tau2 = df / fe["tr_p"], reg.tau2
    if c["method"] in ("DL", "HS"):
        tau2 = max(0.0, (fe["q"] - df) / fe["tr_p"] if c["method"] == "DL" else
                   (fe["q"] - k) / fe["sw"])
        at = exact_wls(y, v, x, tau2)
        scale = math.sqrt(at["q"] / df) if c["test"] == "knha" else 1.0
        se = at["se"] * scale
        r2 = max(0.0, 100 * (reg.tau2_re - tau2) / reg.tau2_re)  # intercept-only: as metafor
        ref.update(tau2=tau2, beta=at["beta"], se=se, qm=(at["beta"][1] / se[1]) ** 2, r2=r2)
    return {**ref, "i2": 100 * tau2 / (vt + tau2), "h2": tau2 / vt + 1}


@pytest.mark.parametrize("c", REF["metareg"], ids=_ids(REF["metareg"]))
def test_meta_regression_edge_cases_match_metafor(c):
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        reg = iometa.meta_regression(arr(c["yi"]), arr(c["vi"]), arr(c["x"]),
                                     method=c["method"], test=c["test"])
    ref = {name: num(c[name]) for name in ("beta", "se", "qe", "tau2", "i2", "h2", "qm", "r2")}
    if c["data"] == "tiny_variance":
        ref.update(_exact_reference(reg, c))
    # ML at the boundary: metafor's Fisher scoring stops at tau^2 ~ 4e-10 instead of 0
    # (propagated to I^2 and H^2 as in tests/test_reference_engine.py)
    atol = {"tau2": 1e-9, "i2": 1e-6, "h2": 1e-8}
    for name, value in ref.items():  # metafor's NA / NaN (QM, R^2) is NaN / None here
        got = getattr(reg, name)
        close(np.nan if got is None else got, value, atol=atol.get(name, ATOL))
    if np.isnan(num(c["qm"])):
        assert any("reproduce every effect exactly" in str(w.message) for w in rec)


def test_meta_regression_non_convergence_warns(monkeypatch):
    monkeypatch.setattr("iometa.core._solve.MAXITER", 1)
    for method in ("REML", "ML", "PM"):
        with pytest.warns(ConvergenceWarning, match=f"{method} estimate.*did not converge"):
            reg = iometa.meta_regression([0.1, 0.9, 0.2, 1.9, 1.1, 3.0],
                                         [0.02, 0.1, 0.05, 0.3, 0.02, 0.2],
                                         [1.0, 2, 3, 4, 5, 6], method=method)
        assert not reg.converged and reg.tau2 > 0 and np.isfinite(reg.beta).all()
        assert any("did not converge" in w for w in reg.warnings)


@pytest.mark.parametrize("kw, match", [
    ({"yi": [0.1, 0.5, 0.2], "vi": [0.02, 0.03], "mods": [1.0, 2, 3]}, "differ in length"),
    ({"mods": [1.0, math.inf, 3, 4, 5]}, "'S2'.*infinite moderator"),
    ({"vi": [0.02, -1, 0.02, 0.02, 0.02]}, "'S2'.*non-positive sampling variance"),
    ({"yi": [0.1, math.nan, 0.2, 0.9, 1.1]}, "'S2'.*non-finite effect"),
    ({"tau2": -1.0}, "fixed tau2"), ({"tau2": math.nan}, "fixed tau2"),
    ({"yi": [0.1, 0.5], "vi": [0.02, 0.02], "mods": [1.0, 2]}, "too few"),
])
def test_meta_regression_bad_input_is_a_clear_error(kw, match):
    args = {"yi": [0.1, 0.5, 0.2, 0.9, 1.1], "vi": [0.02] * 5, "mods": [1.0, 2, 3, 4, 5],
            "labels": ["S1", "S2", "S3", "S4", "S5"][:len(kw.get("yi", range(5)))], **kw}
    with pytest.raises(ValueError, match=match):
        iometa.meta_regression(args.pop("yi"), args.pop("vi"), args.pop("mods"), **args)


# ---------------------------------------------------------------- survival vs metafor (by hand)
@pytest.mark.parametrize("c", REF["survival_rates"], ids=_ids(REF["survival_rates"]))
def test_survival_rate_edge_cases_match_metafor(c):
    res = quiet(iometa.pool_survival_rates, arr(c["s"]), arr(c["n"]), scale=c["scale"],
                method=c["method"], test=c["test"])
    close(res.yi, arr(c["yi"]))
    check_rma(res, c, reporting=True, sort=True)
    # identical rates: the effects are now exactly identical after centring, so under
    # Knapp-Hartung the SE is exactly 0 and z = ±inf, p = 0, as metafor reports
    assert_finite_or_zero_knha_se(res)
    assert 0 <= res.pi_low <= res.ci_low <= res.estimate <= res.ci_high <= res.pi_high <= 1
    if c["data"] in ("all_one", "all_zero", "n_one"):
        assert res.studies["corrected"].all() and any("0.5 added" in w for w in res.warnings)


@pytest.mark.parametrize("c", REF["medians"], ids=_ids(REF["medians"]))
def test_median_edge_cases_match_metafor(c):
    res = quiet(iometa.pool_medians, arr(c["median"]), ci_low=arr(c["study_ci_low"]),
                ci_high=arr(c["study_ci_high"]), scale=c["scale"], method=c["method"],
                test=c["test"], route="iv")
    check_rma(res, c, reporting=True)
    assert_finite_or_zero_knha_se(res)


# ---------------------------------------------------------------- non-convergence (engine)
HETERO = ([-0.89, -1.59, -1.35, -1.44, -0.22, -0.79, 0.19], [0.33, 0.19, 0.42, 0.02, 0.05,
                                                               0.01, 0.06])


@pytest.mark.parametrize("method", ["ML", "REML", "EB", "PM"])
def test_iteration_cap_gives_convergence_warning_and_last_value(monkeypatch, method):
    """The iterative estimators stop at iometa.core._solve.MAXITER (10000; never reached by the
    bracketed Newton in practice): forced to 1, the fit warns and reports the last value."""
    monkeypatch.setattr("iometa.core._solve.MAXITER", 1)
    with pytest.warns(ConvergenceWarning, match=f"{method} estimator.*did not converge"):
        res = iometa.pool(*HETERO, method=method)
    assert not res.converged and res.n_iter == 1 and res.tau2 >= 0
    assert any("did not converge" in w for w in res.warnings)
    assert_finite(res)


@pytest.mark.parametrize("fn, args", [
    (iometa.pool_proportions, ([13, 4, 9, 30, 1], [51, 30, 40, 35, 60])),
    (iometa.pool_survival_rates, ([0.9, 0.6, 0.75, 0.3], [40, 50, 60, 30])),
    (lambda m, **kw: iometa.pool_medians(m, ci_low=[5, 10, 20], ci_high=[8, 16, 40], **kw),
     ([6.0, 13.0, 30.0],)),
], ids=["proportions", "survival_rates", "medians"])
def test_iteration_cap_in_every_inverse_variance_pool(monkeypatch, fn, args):
    monkeypatch.setattr("iometa.core._solve.MAXITER", 1)
    with pytest.warns(ConvergenceWarning):
        res = fn(*args, method="REML")
    assert not res.converged
    assert_finite(res)


def test_glmm_non_convergence_warns_once_and_reports(monkeypatch):
    from iometa.core import glmm

    monkeypatch.setattr(glmm, "_newton_polish", lambda f, p, h, max_iter=50: (
        p, glmm._fd_derivs(f, p, h)[1], 0, False))
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        res = iometa.pool_proportions([1, 99, 2, 98, 50], [100] * 5, method="GLMM")
    conv = [w for w in rec if issubclass(w.category, ConvergenceWarning)]
    assert len(conv) == 1 and "did not converge" in str(conv[0].message)
    assert not res.converged
    assert_finite(res)


# ---------------------------------------------------------------- bad input: clear errors
LABELS = ["Alpha 2019", "Beta 2020", "Gamma 2021"]
NAN, INF = math.nan, math.inf
BAD_INPUT = [
    ("pool NaN yi", iometa.pool, ([0.1, NAN, 0.3], [0.1] * 3), "'Beta 2020'.*finite"),
    ("pool inf vi", iometa.pool, ([0.1, 0.2, 0.3], [0.1, INF, 0.1]), "'Beta 2020'.*finite"),
    ("pool negative vi", iometa.pool, ([0.1, 0.2, 0.3], [0.1, -1, 0.1]), "'Beta 2020'.*> 0"),
    ("pool zero vi", iometa.pool, ([0.1, 0.2, 0.3], [0.1, 0, 0.1]), "'Beta 2020'.*infinite wei"),
    ("pool lengths", iometa.pool, ([0.1, 0.2, 0.3], [0.1, 0.1]), "differ in length"),
    ("GLMM NaN events", iometa.pool_proportions, ([1, NAN, 3], [10] * 3), "'Beta 2020'.*finite"),
    ("GLMM negative n", iometa.pool_proportions, ([1, 2, 3], [10, -10, 10]), "'Beta 2020'.*> 0"),
    ("GLMM events > n", iometa.pool_proportions, ([1, 12, 3], [10] * 3), "'Beta 2020'.*exceed"),
    ("GLMM lengths", iometa.pool_proportions, ([1, 2, 3], [10, 10]), "differ in length"),
    ("rates NaN n", iometa.pool_survival_rates, ([0.8, 0.6, 0.7], [40, NAN, 60]),
     "'Beta 2020'.*n is missing"),
    ("rates inf n", iometa.pool_survival_rates, ([0.8, 0.6, 0.7], [40, INF, 60]),
     "'Beta 2020'.*n must be > 0 and finite"),
    ("rates negative n", iometa.pool_survival_rates, ([0.8, 0.6, 0.7], [40, -5, 60]),
     "'Beta 2020'.*n must be > 0"),
    ("rates percent", iometa.pool_survival_rates, ([0.8, 60, 0.7], [40, 50, 60]),
     "'Beta 2020'.*not percent"),
    ("rates inf", iometa.pool_survival_rates, ([0.8, INF, 0.7], [40, 50, 60]),
     "'Beta 2020'.*outside 0-1"),
    ("rates 5e-324", iometa.pool_survival_rates, ([0.8, 5e-324, 0.7], [40, 50, 60]),
     "'Beta 2020'.*too close to 0 or 1"),
    ("rates lengths", iometa.pool_survival_rates, ([0.8, 0.6, 0.7], [40, 50]), "2 entries"),
    ("medians negative n", iometa.pool_medians, ([12.0, 20, 15],), "'Beta 2020'.*n must be > 0",
     {"n": [10, -5, 10]}),
    ("medians -inf", iometa.pool_medians, ([12.0, -INF, 15],), "'Beta 2020'.*> 0 months"),
    ("medians deaths > n", iometa.pool_medians, ([12.0, 20, 15],), "'Beta 2020'.*exceed",
     {"deaths": [5, 60, 5], "n": [10, 50, 10]}),
    ("medians inf lower", iometa.pool_medians, ([12.0, 20, 15],), "'Beta 2020'.*lower CI",
     {"ci_low": [9, INF, 10], "ci_high": [15, 25, 20]}),
    ("medians lengths", iometa.pool_medians, ([12.0, 20, 15],), "2 entries for 3",
     {"ci_low": [9, 10], "ci_high": [15, 25, 20]}),
]


@pytest.mark.parametrize("case", BAD_INPUT, ids=[c[0] for c in BAD_INPUT])
def test_bad_input_is_a_value_error_naming_the_study(case):
    _, fn, args, match, *kw = case
    extra = {"method": "GLMM"} if case[0].startswith("GLMM") else {}
    with pytest.raises(ValueError, match=match):
        fn(*args, labels=LABELS, **extra, **(kw[0] if kw else {}))


@pytest.mark.parametrize("args, match", [
    (([1, NAN, 3], [10] * 3), "study 2 is missing"), (([1, 2, 3], [10, -10, 10]), "study 2"),
    (([1, 12, 3], [10] * 3), "study 2 \\(12 > 10\\)"), (([1, 2.5, 3], [10] * 3), "study 2"),
])
def test_proportion_errors_name_the_study_position(args, match):
    with pytest.raises(ValueError, match=match):
        iometa.pool_proportions(*args, labels=LABELS)


def test_proportion_errors_name_the_study_label():
    with pytest.raises(ValueError, match="Beta 2020"):
        iometa.pool_proportions([1, 12, 3], [10] * 3, labels=LABELS)


@pytest.mark.parametrize("ci_level", [1.0, NAN, 0.0])
@pytest.mark.parametrize("which", ["rates", "medians"])
def test_ci_level_outside_unit_interval_is_named(which, ci_level):
    levels = [0.95, ci_level, 0.95]
    with pytest.raises(ValueError, match="'Beta 2020'.*level of its reported CI"):
        if which == "rates":
            iometa.pool_survival_rates([0.8, 0.6, 0.7], [40, 50, 60], ci_low=[0.7, 0.5, 0.6],
                                       ci_high=[0.9, 0.7, 0.8], ci_level=levels, labels=LABELS)
        else:
            iometa.pool_medians([12.0, 20, 15], ci_low=[9, 15, 10], ci_high=[15, 25, 20],
                                ci_level=levels, labels=LABELS)


# ---------------------------------------------------------------- engine bugs (models.py)
KNHA_IDENTICAL = ([0.3, 0.3, 0.3, 0.3], [0.1, 0.05, 0.2, 0.1])


@pytest.mark.parametrize("method", ["FE", "DL", "REML"])
def test_knha_zero_se_warns(method):
    with pytest.warns(IometaWarning, match="(?i)identical|standard error"):
        iometa.pool(*KNHA_IDENTICAL, method=method, test="knha")


@pytest.mark.parametrize("tau2", [-1.0, NAN, INF])
def test_bad_fixed_tau2_is_a_value_error(tau2):
    with pytest.raises(ValueError, match="tau2"):
        iometa.pool([0.1, 0.2, 0.3], [0.1, 0.1, 0.1], tau2=tau2)


@pytest.mark.parametrize("data", ["tiny_variance_one", "huge_variance_one"])
def test_extreme_variance_ratio_warns_like_metafor(data):
    c = next(c for c in REF["generic"] if c["id"] == f"{data}-REML-z")
    assert any("Ratio of largest to smallest" in w for w in c["warnings"])
    with pytest.warns(IometaWarning, match="(?i)variance"):
        iometa.pool(arr(c["yi"]), arr(c["vi"]))


@pytest.mark.parametrize("y, v", [([0.1, 0.2, 0.3], [5e-324, 0.1, 0.1]),
                                  ([0.1, 0.2, 0.3], [1e-160] * 3),
                                  ([1e200, -1e200, 0.0], [1.0] * 3)],
                         ids=["subnormal", "1e-160", "y1e200"])
def test_overflowing_input_is_an_error_not_nan(y, v):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            res = iometa.pool(y, v, method="REML")
        except ValueError:
            return
    assert_finite(res)


# ---------------------------------------------------------------- survival situations
def test_survival_rate_k1_is_the_study_with_a_warning():
    with pytest.warns(SmallSampleWarning, match="only one study"):
        res = iometa.pool_survival_rates([0.8], [40], method="REML")
    close(res.estimate, 0.8, 1e-12)
    assert_finite(res)


@pytest.mark.parametrize("scale", ["cloglog", "logit"])
def test_survival_rate_next_to_one_gets_no_weight(scale):
    """S = 1 - 1e-12 is not corrected (only S = 0 or 1 are): its binomial variance is huge,
    so it gets ~0 weight and a display CI of [0, 1] — finite, and no numpy overflow warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        # the variance ratio is ~1e11: metafor's (and iometa's) stability warning is expected
        warnings.filterwarnings("ignore", message="ratio of largest", category=IometaWarning)
        res = iometa.pool_survival_rates([1 - 1e-12, 0.6, 0.7], [40, 50, 60], scale=scale,
                                         method="FE")
    assert res.studies["weight"].iloc[0] < 1e-6
    assert (res.studies["ci_low"].iloc[0], res.studies["ci_high"].iloc[0]) == (0.0, 1.0)
    assert_finite(res)


def test_survival_rates_missing_rate_excluded_all_missing_error():
    with pytest.warns(iometa.DataWarning, match="Beta 2020"):
        res = iometa.pool_survival_rates([0.8, NAN, 0.7], [40, 50, 60], labels=LABELS)
    assert res.k == 2 and list(res.extra["excluded"]["label"]) == ["Beta 2020"]
    with pytest.raises(ValueError, match="no study has a survival rate"):
        iometa.pool_survival_rates([NAN, NAN], [40, 50])


@pytest.mark.parametrize("route", ["iv", "mm", "wm"])
def test_median_k1_is_the_study_with_a_warning(route):
    with pytest.warns(SmallSampleWarning, match="only one study"):
        res = iometa.pool_medians([12.0], ci_low=[9.0], ci_high=[15.0], n=[40], route=route)
    close(res.estimate, 12.0, 1e-12)
    assert_finite(res)


@pytest.mark.parametrize("route", ["mm", "wm"])
@pytest.mark.parametrize("medians", [[12.0, 20.0], [12.0, 12.0, 12.0]], ids=["k2", "identical"])
def test_median_of_medians_small_k_ci_is_the_range(route, medians):
    """k <= 3 at 95 %: the sign-test CI is the range of the medians (McGrath et al. 2019), with
    a note that its coverage is not guaranteed; identical medians: estimate = CI = the median."""
    res = iometa.pool_medians(medians, n=[40] * len(medians), route=route)
    assert (res.ci_low, res.ci_high) == (min(medians), max(medians))
    assert min(medians) <= res.estimate <= max(medians)
    assert any("range of the study medians" in w for w in res.warnings)
    assert_finite(res)


def test_medians_not_reached_or_missing_everywhere_is_an_error():
    with pytest.raises(ValueError, match="no study has a finite median.*not reached"):
        iometa.pool_medians([INF, NAN], ci_low=[9, 15], ci_high=[INF, 25])


def test_bare_medians_auto_route_warns_and_documents_the_nans():
    with pytest.warns(iometa.DataWarning, match="median of medians"):
        res = iometa.pool_medians([12.0, 20.0, 15.0], n=[40, 50, 30])
    assert res.method == "WM" and documented_na(res) >= {"se", "tau2", "q"}
    assert any("not defined (reported as NaN)" in w for w in res.warnings)
    assert_finite(res)


# ---------------------------------------------------------------- subgroups
Y6, V6 = [0.1, 0.5, 0.2, 0.9, 1.1, 0.3], [0.02, 0.03, 0.02, 0.05, 0.04, 0.02]


@pytest.mark.parametrize("method", ["FE", "DL", "REML"])
def test_subgroups_single_group_has_no_test_and_says_so(method):
    res = iometa.pool(Y6, V6, method=method)
    with pytest.warns(SmallSampleWarning, match="no test for subgroup differences"):
        sub = iometa.subgroups(res, ["a"] * 6)
    assert np.isnan(sub.q_between) and "fewer than two groups" in sub.test_separate.note
    assert_finite(sub.groups["a"])


@pytest.mark.parametrize("method", ["FE", "DL", "REML"])
def test_subgroups_all_singletons(method):
    """Every group one study: the separate-tau^2 test is Cochran's Q of the studies; the
    common-tau^2 model is saturated (FE: same Q; RE: too few studies, NaN with the reason)."""
    res = iometa.pool(Y6, V6, method=method)
    with pytest.warns(SmallSampleWarning, match="single study"):
        sub = iometa.subgroups(res, list("abcdef"))
    close(sub.test_separate.q, quiet(iometa.pool, Y6, V6, method="FE").q, 1e-12)
    if method == "FE":
        close(sub.test_common.q, sub.test_separate.q, 1e-9)
    else:
        assert np.isnan(sub.test_common.q) and "too few" in sub.test_common.note
    for g in sub.groups.values():
        assert_finite(g)


@pytest.mark.parametrize("method", ["FE", "DL", "REML"])
def test_subgroups_knha_identical_within_groups_warns_with_the_reason(method):
    res = quiet(iometa.pool, [0.3, 0.3, 0.3, 0.8, 0.8, 0.8], V6, method=method, test="knha")
    with pytest.warns(IometaWarning, match="no test for subgroup differences"):
        sub = iometa.subgroups(res, ["a"] * 3 + ["b"] * 3)
    assert np.isnan(sub.q_between) and "identical" in sub.test_separate.note
    assert np.isnan(sub.test_common.q) and "exactly" in sub.test_common.note


def test_subgroups_glmm_group_without_mle_names_the_group():
    res = quiet(iometa.pool_proportions, [0, 0, 0, 9, 2, 7], [10, 12, 20, 30, 15, 25],
                method="GLMM")
    with pytest.raises(ValueError, match="subgroup 'a'.*does not exist"):
        iometa.subgroups(res, ["a"] * 3 + ["b"] * 3)


def test_subgroups_bad_by_is_a_clear_error():
    res = iometa.pool(Y6, V6)
    with pytest.raises(ValueError, match="no group for 1 study: Study 2"):
        iometa.subgroups(res, ["a", None, "a", "b", "b", "b"])
    with pytest.raises(ValueError, match="2 entries for the 6 studies"):
        iometa.subgroups(res, ["a", "b"])


# ---------------------------------------------------------------- pool_many
def _long_table():
    rows = [(c["data"], y, v) for c in REF["generic"] if c["id"].endswith("-REML-z")
            for y, v in zip(arr(c["yi"]), arr(c["vi"]))]
    return pd.DataFrame(rows, columns=["analysis", "yi", "vi"])


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("test", ["z", "knha"])
def test_pool_many_edge_cases_equal_pool(method, test):
    """Every generic edge data set as one analysis of a long table: the same numbers as
    pool() (which matches metafor above), k = 1 and iteration notes included."""
    table = _long_table()
    out = quiet(iometa.pool_many, table, by="analysis", method=method, test=test)
    for _, row in out.iterrows():
        sub = table[table["analysis"] == row["analysis"]]
        res = quiet(iometa.pool, sub["yi"].to_numpy(), sub["vi"].to_numpy(), method=method,
                    test=test)
        for name in ("estimate", "se", "ci_low", "ci_high", "pi_low", "pi_high", "tau2", "i2",
                     "q"):
            close(row[name], getattr(res, name), 1e-9, 1e-12)
        assert (row["k"] == 1) == ("one study" in row["note"])


def test_pool_many_knha_zero_se_has_a_note():
    table = pd.DataFrame({"a": ["x"] * 4, "yi": KNHA_IDENTICAL[0], "vi": KNHA_IDENTICAL[1]})
    out = iometa.pool_many(table, by="a", test="knha")
    assert out["note"].iloc[0] != ""


def test_pool_many_bad_value_names_analysis_and_row():
    table = _long_table()
    table.loc[3, "vi"] = 0.0
    with pytest.raises(ValueError, match="analysis \\(analysis='.*'\\), row 3"):
        iometa.pool_many(table, by="analysis")


def test_fe_meta_regression_identical_effects_r2_zero():
    """Found by hypothesis: 12 identical effects, FE, a group moderator — Q of the
    intercept-only model is 0 (up to rounding), so the pseudo-R² is 0, not a ZeroDivisionError."""
    y = [0.1 + 0.2] * 12  # 0.30000000000000004: identical, with rounding in the mean
    v = [0.01, 0.02, 0.03] * 4
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reg = iometa.meta_regression(y, v, pd.DataFrame({"g": ["a", "b"] * 6}), method="FE")
    assert reg.r2 == 0.0


# ---------------------------------------------------------------- issue 21: the engine's numbers
def test_identical_huge_effects_give_zero_q_and_tau2():
    """Q = 0 and τ² = 0 exactly (metafor 3.8-1 gives 0 and 0); the residuals are centred."""
    for method in ("DL", "HE", "REML", "PM", "SJ"):
        res = quiet(iometa.pool, [6.7e16] * 20, [1e-6] * 20, method=method)
        assert res.q == 0.0 and res.tau2 == 0.0 and res.coef == 6.7e16, method


def test_step_of_minus_inf_ends_at_zero_and_nothing_hangs():
    from iometa.core._solve import halve_until_nonnegative

    assert halve_until_nonnegative(1.0, -math.inf) == 0.0
    assert halve_until_nonnegative(np.array([1.0, 2.0]), np.array([-np.inf, -1.0])).tolist() \
        == [0.0, 1.0]
    res = quiet(iometa.pool, [6.7e16] * 40, [1e-12] * 40, method="HE")  # used to hang
    assert res.tau2 == 0.0
    lo, hi = quiet(iometa.pool, [6.7e16] * 20, [1e-6] * 20, method="DL").tau2_ci
    assert lo == 0.0 or math.isfinite(lo)


def test_dl_without_cancellation_when_variances_differ_by_1e18():
    """k = 2: τ²_DL = ((y₁ − y₂)² − v₁ − v₂)/2 exactly (metafor's own DL is unstable here)."""
    y1, y2, v1, v2 = math.log(30.938485063), math.log(12), 2.6e-19, 0.4736
    res = quiet(iometa.pool, [y1, y2], [v1, v2], method="DL")
    tau2 = ((y1 - y2) ** 2 - v1 - v2) / 2
    assert res.tau2 == pytest.approx(tau2, rel=1e-12)
    assert res.tau2 == pytest.approx(0.211694, abs=5e-7)
    assert res.coef == pytest.approx(3.208482, abs=5e-7)
    assert res.se == pytest.approx(0.402160, abs=5e-7)

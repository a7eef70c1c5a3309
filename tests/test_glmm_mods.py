"""GLMM meta-regression (``meta_regression`` of a GLMM result) against metafor::rma.glmm(mods=).

Fixtures: tests/reference/glmm_mods.json, written by tests/reference/R/glmm_mods.R
(``Rscript tests/reference/make_reference.R glmm_mods``): rma.glmm(measure = "PLO" | "IRLN",
mods = ~ ..., nAGQ = 7 | 1, test = "z" | "t") with tight lme4 controls, on metadat data
(dat.bcg vaccinated arms with latitude, year or allocation; dat.hart1999 control arms with the
prevention type, as proportions and as rates; dat.nielweise2008 with year) and one made-up
homogeneous case (a boundary fit, tau = 0).

Tolerances (relative), with the reason for each that is looser than 1e-6:

* coefficients, tau^2, QE.Wld, QE.LRT, vt, I^2, H^2, logLik: 1e-6 (worst seen: b 4.5e-7 and
  tau^2 2.9e-7 in dat.bcg, where lme4's PIRLS only reaches tolPwrss = 1e-11; the heterogeneity
  tests and vt agree to 2e-11 and are compared at 1e-9). With the Laplace approximation (nAGQ = 1) 1e-5: lme4 takes
  the log-determinant at the weights of the first PIRLS iterate from its nAGQ = 0 start, which
  shifts its optimum (tau^2 by 1.4e-6 with the 0/n and n/n studies; the mechanism is shown by
  the emulation of lme4's deviance in tests/test_glmm.py);
* standard errors and what is built on them (z, p, CI, Q_M, predict se/CI/PI): lme4's vcov is
  2 H^-1 with H its finite-difference Hessian (deriv12, step 1e-4) of a deviance whose PIRLS
  stops at tolPwrss, which is ~1e-3 off in dat.bcg (n_i up to 88,000): there the se differ by
  up to 5.4e-4 at nAGQ = 7 (2.6e-6 with the Laplace approximation), elsewhere by < 5e-6. The
  dat.bcg cases at nAGQ = 7 are compared at 2e-3, the others at 2e-5.
  ``test_hessian_is_that_of_the_deviance`` shows that iometa's Hessian is the exact one (it
  agrees with a Richardson-extrapolated finite-difference Hessian of the deviance to 1e-6), so
  the difference is lme4's numerical error.

p-values are compared on a scale that allows for their steepness (tolerance x (1 + z^2)).
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import special

import iometa
from iometa._warnings import ConvergenceWarning, DataWarning, SmallSampleWarning
from iometa.core import glmm
from iometa.core.design import build_design

REF = json.loads((Path(__file__).parent / "reference" / "glmm_mods.json").read_text())
CASES = {c["name"]: c for c in REF["cases"]}
IDS = [(name, nagq, test) for name in CASES for nagq in (7, 1) for test in ("z", "t")]
EST = 1e-6
EXACT = 1e-9


def _se_tol(name, nagq):
    return 2e-3 if name.startswith("bcg") and nagq == 7 else 2e-5


def _arr(v):
    return np.array([np.nan if a is None else a for a in np.atleast_1d(v)], dtype=float)


def _close(got, want, rtol, what, scale=0.0):
    """|got - want| <= rtol (|want| + scale): ``scale`` (a few standard errors) for interval
    limits, whose error is that of crit x se however close to 0 the limit is."""
    got, want = np.atleast_1d(np.asarray(got, float)), _arr(want)
    assert got.shape == want.shape, what
    ok = np.abs(got - want) <= rtol * (np.abs(want) + scale) + 1e-12
    assert ok.all(), (what, got, want)


def _frame(c):
    d = pd.DataFrame(c["data"])
    return d


def _mods(c):
    return c["mods"].lstrip("~").strip()


def _pooled(c, nagq=7, test="z"):
    d = _frame(c)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if c["measure"] == "PLO":
            return iometa.pool_proportions("xi", "ni", data=d, method="GLMM", nagq=nagq,
                                           test=test)
        return iometa.pool_rates("xi", "ti", data=d, method="GLMM", measure="IRLN",
                                 nagq=nagq, test=test)


def _reg(name, nagq, test):
    c = CASES[name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return iometa.meta_regression(_pooled(c, nagq, "knha" if test == "t" else "z"), _mods(c))


@pytest.mark.parametrize(("name", "nagq", "test"), IDS)
def test_matches_rma_glmm_with_mods(name, nagq, test):
    ref = CASES[name]["fits"][f"nagq{nagq}_{test}"]
    assert "error" not in ref
    reg = _reg(name, nagq, test)
    se_tol = _se_tol(name, nagq)
    est = EST if nagq == 7 else 10 * EST
    assert reg.method == "GLMM" and reg.k == len(CASES[name]["data"]["xi"])
    assert len(reg.terms) == len(ref["terms"])
    _close(reg.beta, ref["b"], est, "b")
    _close(reg.tau2, ref["tau2"], est, "tau2")
    for key, attr in (("I2", "i2"), ("H2", "h2")):
        _close(getattr(reg, attr), ref[key], est, key)
    # the heterogeneity tests and vt do not involve lme4: R's glm emulated to rounding
    for key, val in (("QE_Wld", reg.qe), ("QEp_Wld", reg.qe_pval), ("vt", reg.extra["vt"]),
                     ("QE_LRT", reg.extra["q_lrt"]), ("QEp_LRT", reg.extra["q_lrt_pval"])):
        _close(val, ref[key], EXACT, key)
    assert reg.qe_df == ref["QE_df"]
    if ref["logLik"] is not None:  # (NaN in lme4 at some boundary fits: sqrt of -0 deviance)
        _close(reg.extra["loglik"], ref["logLik"], est, "logLik")
    _close(reg.se, ref["se"], se_tol, "se")
    _close(reg.vcov, np.array(ref["vb"], float), 2 * se_tol, "vb")
    _close(reg.stat, ref["zval"], se_tol, "zval")
    se = _arr(ref["se"])
    _close(reg.ci_low, ref["ci_lb"], se_tol, "ci_lb", scale=3 * se)
    _close(reg.ci_high, ref["ci_ub"], se_tol, "ci_ub", scale=3 * se)
    z2 = 1 + np.asarray(ref["zval"], float) ** 2
    assert np.all(np.abs(reg.pval - _arr(ref["pval"])) <= 2 * se_tol * z2 * _arr(ref["pval"]))
    _close(reg.qm, ref["QM"], 2 * se_tol, "QM")
    assert reg.qm_df == int(_arr(ref["QMdf"])[0])
    assert abs(reg.qm_pval - ref["QMp"]) <= 2 * se_tol * (1 + ref["QM"]) * ref["QMp"] + 1e-300
    if test == "t":
        assert reg.ddf == ref["ddf"] and reg.qm_df2 == int(_arr(ref["QMdf"])[1])
    else:
        assert reg.ddf is None and reg.qm_df2 is None


@pytest.mark.parametrize(("name", "nagq", "test"), IDS)
def test_predict_at_newmods(name, nagq, test):
    c = CASES[name]
    ref = c["fits"][f"nagq{nagq}_{test}"]
    reg = _reg(name, nagq, test)
    tol = _se_tol(name, nagq)
    est = EST if nagq == 7 else 10 * EST
    new = np.array(c["newmods"], float)
    pred = reg.predict(new)
    sp = 3 * np.sqrt(_arr(ref["predict"]["se"]) ** 2 + reg.tau2)
    _close(pred["pred"].to_numpy(), ref["predict"]["pred"], est, "pred", scale=sp)
    for col, key in (("se", "se"), ("ci_low", "ci_lb"), ("ci_high", "ci_ub"),
                     ("pi_low", "pi_lb"), ("pi_high", "pi_ub")):
        _close(pred[col].to_numpy(), ref["predict"][key], tol, col, scale=sp)
    back = reg.predict(new, transf=special.expit if c["measure"] == "PLO" else np.exp)
    # back-transformed limits: the same errors on the model scale
    inv = special.logit if c["measure"] == "PLO" else np.log
    for col, key in (("pred", "pred"), ("ci_low", "ci_lb"), ("pi_high", "pi_ub")):
        _close(inv(back[col].to_numpy()), inv(_arr(ref["predict_transf"][key])),
               est if col == "pred" else tol, f"transf {col}", scale=sp)


def test_hessian_is_that_of_the_deviance():
    """The covariance comes from differences of the analytic gradient; it equals the Hessian
    of the deviance itself (Richardson-extrapolated differences of D) at the optimum."""
    c = CASES["bcg_alloc"]
    d = _frame(c)
    X = build_design(_mods(c), d, len(d)).X
    fit = glmm.fit_glmm_logit(d["xi"], d["ni"], X=X)
    data = glmm._as_data(d["xi"], d["ni"], 7, X)
    par = np.concatenate([[fit.tau], fit.beta])
    h = glmm._fd_derivs(lambda p: glmm._objective(p, data), par, np.full(par.size, 1e-3))[1]
    se = np.sqrt(np.diag(2 * np.linalg.inv(h)))[1:]
    np.testing.assert_allclose(fit.se, se, rtol=1e-6)
    g = glmm._Problem(data).grad(par)
    assert np.max(np.abs(g)) < 1e-7  # the optimum: the analytic gradient vanishes


def test_analytic_gradient_matches_differences():
    c = CASES["rates_niel_year"]
    d = _frame(c)
    X = build_design(_mods(c), d, len(d)).X
    from iometa.core.glmm_poisson import _as_data
    data, _ = glmm._scaled(_as_data(d["xi"], d["ti"], 7, X))
    for par in ([0.5, -6.0, 0.3], [1.2, -5.5, -0.4], [0.05, -6.2, 0.1]):
        p = np.array(par)
        num = glmm._fd_derivs(lambda q: glmm._objective(q, data), p, np.full(3, 1e-4))[0]
        np.testing.assert_allclose(glmm._Problem(data).grad(p), num, rtol=1e-6, atol=1e-7)


def test_intercept_only_regression_is_the_pooled_glmm():
    c = CASES["bcg_ablat"]
    res = _pooled(c)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reg = iometa.meta_regression(res, np.ones(res.k), intercept=False)
    assert reg.method == "GLMM" and reg.p == 1
    np.testing.assert_allclose([reg.beta[0], reg.se[0], reg.tau2, reg.qe],
                               [res.coef, res.se, res.tau2, res.q], rtol=1e-10)


def test_newmods_as_a_frame_use_the_fitted_coding():
    c = CASES["bcg_alloc"]
    d = _frame(c)
    res = _pooled(c)
    reg = iometa.meta_regression(res, "alloc")
    assert reg.terms == ("intrcpt", "allocrandom", "allocsystematic")
    by_rows = reg.predict(np.array(c["newmods"], float))
    by_frame = reg.predict(pd.DataFrame({"alloc": ["alternate", "random", "systematic"]}))
    np.testing.assert_allclose(by_frame.to_numpy(), by_rows.to_numpy(), rtol=1e-14)
    assert set(d["alloc"]) == {"alternate", "random", "systematic"}


def test_summary_prints_both_heterogeneity_tests():
    reg = _reg("bcg_ablat", 7, "z")
    text = reg.summary()
    assert "GLMM" in text and "Wld(df = 11)" in text and "LRT(df = 11)" in text
    assert "R^2" not in text and reg.r2 is None
    assert "QM(df = 1)" in text
    assert "F(df1 = 1, df2 = 11)" in _reg("bcg_ablat", 7, "t").summary()
    assert "GLMM" in repr(reg) and "<div>" in reg._repr_html_()


def test_verbs_that_rma_glmm_lacks_refuse():
    reg = _reg("bcg_ablat", 7, "z")
    assert reg.se_tau2 is None
    for verb in (reg.confint, reg.blup, reg.ranef):
        with pytest.raises(ValueError, match="not available for the GLMM"):
            verb()
    with pytest.raises(ValueError, match="GLMM"):
        iometa.permutation_test(reg)
    with pytest.raises(ValueError, match="GLMM"):
        iometa.robust(reg, cluster=np.arange(reg.k))


def test_glmm_method_needs_a_glmm_result():
    with pytest.raises(ValueError, match="GLMM result"):
        iometa.meta_regression([0.1, 0.2, 0.4], [0.1, 0.1, 0.1], [1.0, 2.0, 3.0],
                               method="GLMM")
    res = iometa.pool_proportions([4, 6, 3, 8], [40, 50, 30, 45])
    with pytest.raises(ValueError, match="GLMM result"):
        iometa.meta_regression(res, [1.0, 2.0, 3.0, 4.0], method="GLMM")
    with pytest.raises(ValueError, match="fixed tau2"):
        iometa.meta_regression(_pooled(CASES["bcg_ablat"]), "ablat", tau2=0.1)


def test_too_few_studies_and_collinear_moderators():
    res = _pooled(CASES["homogeneous_x"])
    with pytest.raises(ValueError, match="too few"):
        iometa.meta_regression(res, pd.DataFrame({"a": np.arange(8.0), "b": np.arange(8.0) ** 2,
                                                  "c": np.arange(8.0) ** 3,
                                                  "d": np.arange(8.0) ** 0.5,
                                                  "e": np.sin(np.arange(8.0)),
                                                  "f": np.cos(np.arange(8.0)),
                                                  "g": np.arange(8.0) ** 1.5}))
    with pytest.raises(ValueError, match="collinear"):
        iometa.meta_regression(res, pd.DataFrame({"a": np.arange(8.0), "b": 2 * np.arange(8.0)}))


def test_missing_moderator_drops_the_study_with_a_warning():
    c = CASES["bcg_ablat"]
    d = _frame(c)
    d.loc[3, "ablat"] = np.nan
    res = _pooled({**c, "data": d.to_dict(orient="list")})
    with pytest.warns(DataWarning, match="left out"):
        reg = iometa.meta_regression(res, "ablat")
    assert reg.k == 12 and len(reg.yi) == 12
    keep = np.arange(13) != 3
    X = np.column_stack([np.ones(12), d["ablat"].to_numpy()[keep]])
    fit = glmm.fit_glmm_logit(d["xi"].to_numpy()[keep], d["ni"].to_numpy()[keep], X=X)
    np.testing.assert_allclose(reg.beta, fit.beta, rtol=1e-12)


def test_non_convergence_warns_and_is_reported(monkeypatch):
    monkeypatch.setattr(glmm, "_newton_polish", lambda f, p, h, max_iter=100: (
        p, glmm._fd_derivs(f, p, h)[1], 0, False))
    res = _pooled(CASES["bcg_ablat"])
    with pytest.warns(ConvergenceWarning, match="did not converge"):
        reg = iometa.meta_regression(res, "ablat")
    assert not reg.converged and any("did not converge" in w for w in reg.warnings)


def test_separation_is_refused_with_the_studies_named():
    """A moderator level whose studies all have 0 events: no finite MLE (metafor prints
    -38.8 +- 587 for this case: arbitrary numbers); iometa says why and names the studies."""
    d = pd.DataFrame({"xi": [0, 0, 0, 5, 6, 7], "ni": [20] * 6, "g": list("aaabbb"),
                      "label": list("ABCDEF")})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = iometa.pool_proportions("xi", "ni", data=d, method="GLMM", labels="label")
    with pytest.raises(ValueError, match=r"separate.*'A', 'B', 'C'"):
        iometa.meta_regression(res, "g")
    r = pd.DataFrame({"xi": [0, 0, 0, 5, 6, 7], "ti": [50.0] * 6, "g": list("aaabbb")})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = iometa.pool_rates("xi", "ti", data=r, method="GLMM", measure="IRLN")
    with pytest.raises(ValueError, match="rates tend to 0"):
        iometa.meta_regression(res, "g")


def test_one_patient_per_study_is_the_fixed_effect_logistic_regression():
    d = pd.DataFrame({"xi": [0, 1, 0, 1, 1, 0, 1], "ni": [1] * 7,
                      "x": [1.0, 2, 3, 4, 5, 6, 7]})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = iometa.pool_proportions("xi", "ni", data=d, method="GLMM")
    with pytest.warns(SmallSampleWarning, match="n = 1"):
        reg = iometa.meta_regression(res, "x")
    assert reg.tau2 == 0.0 and reg.converged
    # the logistic-regression score equations hold at the estimate
    X = np.column_stack([np.ones(7), d["x"]])
    p = special.expit(X @ reg.beta)
    np.testing.assert_allclose(X.T @ (d["xi"] - p), 0.0, atol=1e-10)


def test_bubble_plot_draws_the_glmm_regression():
    import matplotlib

    matplotlib.use("Agg")
    reg = _reg("bcg_ablat", 7, "z")
    fig = iometa.bubble_plot(reg)
    assert isinstance(fig, matplotlib.figure.Figure)
    line = fig.axes[0].lines[0]  # the fitted line is the GLMM's X beta
    x, y = line.get_data()
    np.testing.assert_allclose(y, reg.beta[0] + reg.beta[1] * np.asarray(x), rtol=1e-10)
    matplotlib.pyplot.close(fig)

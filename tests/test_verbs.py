"""metafor's verbs on results and meta-regressions against metafor 3.8-1.

Fixture: tests/reference/verbs.json, written by tests/reference/R/verbs.R
(``Rscript tests/reference/make_reference.R verbs``): for three data sets, every τ² method and
both tests, intercept-only and with one moderator: ``predict``, ``se.tau2``, ``blup``,
``ranef``, ``confint(type = "QP")`` and ``confint(type = "PL")``. Compared at
``|a - b| <= 1e-6 |b| + 1e-10`` (b = R).
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
from _fixture import decode

import iometa

FIX = json.loads((Path(__file__).parent / "reference" / "verbs.json").read_text())
RTOL, ATOL = 1e-6, 1e-10
CASES = sorted(FIX["fits"])


def close(a, b, what):
    a = np.atleast_1d(np.asarray(a, dtype=float))
    b = np.atleast_1d(decode(b))
    assert a.shape == b.shape, what
    ok = (np.isnan(a) & np.isnan(b)) | (np.abs(a - b) <= RTOL * np.abs(b) + ATOL)
    assert ok.all(), f"{what}: iometa {a} vs metafor {b}"


def fit(case):
    dn, method, test, *reg = case.split("/")
    d = FIX["datasets"][dn]
    y, v = decode(d["yi"]), decode(d["vi"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if reg:
            return iometa.meta_regression(y, v, decode(d["ablat"]), method=method, test=test)
        return iometa.pool(y, v, method=method, test=test)


@pytest.mark.parametrize("case", CASES)
def test_verbs_match_metafor(case):
    ref = FIX["fits"][case]
    res = fit(case)
    close(res.tau2, ref["tau2"], f"{case} tau2")
    se_t2 = res.se_tau2
    close(np.nan if se_t2 is None else se_t2, ref["se_tau2"], f"{case} se_tau2")
    for verb in ("blup", "ranef"):
        frame = getattr(res, verb)()
        for col, rcol in (("pred", "pred"), ("se", "se"), ("pi_low", "pi_lb"),
                          ("pi_high", "pi_ub")):
            close(frame[col], ref[verb][rcol], f"{case} {verb} {col}")
    if "/reg" not in case:
        pr = res.predict()
        for col, rcol in (("pred", "pred"), ("se", "se"), ("ci_low", "ci_lb"),
                          ("ci_high", "ci_ub")):
            close(pr[col], ref["pred"][rcol], f"{case} predict {col}")
        if case.split("/")[1] != "FE":  # metafor: no PI for FE (iometa reports the CI)
            close(pr[["pi_low", "pi_high"]].to_numpy()[0],
                  [ref["pred"]["pi_lb"], ref["pred"]["pi_ub"]], f"{case} predict PI")
    for typ in ("QP", "PL"):
        key = f"confint_{typ}"
        if key not in ref:
            with pytest.raises(ValueError, match="random-effects component"):
                res.confint(type=typ)
            continue
        ci = res.confint(type=typ)
        assert list(ci.index) == ["tau2", "tau", "i2", "h2"]
        close(ci["estimate"], ref[key]["estimate"], f"{case} {typ} estimate")
        close(ci["ci_low"], ref[key]["ci_lb"], f"{case} {typ} low")
        close(ci["ci_high"], ref[key]["ci_ub"], f"{case} {typ} high")


def test_predict_transf_gives_the_reporting_scale_without_se():
    res = iometa.pool_proportions([13, 4, 9, 7], [51, 30, 40, 35], measure="PLO")
    pr = res.predict(transf=True)
    assert "se" not in pr.columns
    assert pr["pred"].iloc[0] == pytest.approx(res.estimate, rel=1e-12)
    assert pr["pi_high"].iloc[0] == pytest.approx(res.pi_high, rel=1e-12)
    b = res.blup(transf=True)
    assert ((b["pred"] > 0) & (b["pred"] < 1)).all() and list(b.index) == res.labels


def test_verbs_refuse_what_metafor_refuses():
    fe = iometa.pool([0.1, 0.5, 0.9], [0.04, 0.05, 0.06], method="FE")
    assert fe.se_tau2 is None
    assert (fe.ranef()["pred"] == 0).all()
    with pytest.raises(ValueError, match="random-effects component"):
        fe.confint()
    fixed = iometa.pool([0.1, 0.5, 0.9], [0.04, 0.05, 0.06], tau2=0.1)
    assert fixed.se_tau2 is None
    with pytest.raises(ValueError, match="fixed"):
        fixed.confint()
    with pytest.raises(ValueError, match="unknown type"):
        iometa.pool([0.1, 0.5, 0.9], [0.04, 0.05, 0.06]).confint(type="Wald")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        one = iometa.pool([0.1], [0.04])
    assert one.se_tau2 is None
    with pytest.raises(ValueError, match="k = 1"):
        one.confint()


PI_CASES = sorted(FIX["pi"])


@pytest.mark.parametrize("case", PI_CASES)
def test_prediction_interval_methods_and_adhoc(case):
    ref = FIX["pi"][case]
    dn, method = case.split("/")
    d = FIX["datasets"][dn]
    y, v = decode(d["yi"]), decode(d["vi"])

    def pi(**kw):
        r = iometa.pool(y, v, method=method, **kw)
        return [r.pi_low, r.pi_high]

    close(pi(), ref["metafor_z"], f"{case} metafor z")
    close(pi(test="knha"), ref["metafor_knha"], f"{case} metafor knha")
    for pim, key in (("hts", "hts"), ("v", "v"), ("hk-pr", "hk_pr")):
        for test in ("z", "knha"):
            close(pi(pi_method=pim, test=test), ref[key], f"{case} {pim} {test}")
    ah = iometa.pool(y, v, method=method, test="knha", adhoc=True)
    close(ah.se, ref["se_adhoc"], f"{case} adhoc se")
    close([ah.stat, ah.pval, ah.coef_ci_low, ah.coef_ci_high, ah.pi_low, ah.pi_high],
          [ref["adhoc"][a] for a in ("zval", "pval", "ci_lb", "ci_ub", "pi_lb", "pi_ub")],
          f"{case} adhoc")
    assert "ad hoc correction" in ah.summary()


def test_pi_method_on_every_pool_function_and_refit():
    kw = dict(pi_method="hts", test="knha", adhoc=True)
    res = [iometa.pool_proportions([13, 4, 9, 7], [51, 30, 40, 35], **kw),
           iometa.pool_survival_rates([0.8, 0.7, 0.75, 0.6], [40, 50, 60, 30], **kw),
           iometa.pool_medians([20.0, 24, 18, 30], ci_low=[15.0, 19, 12, 22],
                               ci_high=[26.0, 30, 25, 40], **kw),
           iometa.pool_rates([5, 8, 12, 3], [100.0, 150, 210, 90], **kw)]
    for r in res:
        assert r.pi_method == "hts" and r.adhoc and r.spec.pi_method == "hts"
        assert "HTS" in r.summary()
        again = r.refit(pi_method="v")
        assert again.pi_method == "v" and again.adhoc
        base = r.refit(pi_method="metafor", adhoc=False)
        assert base.pi_method == "metafor" and not base.adhoc
        assert base.coef == pytest.approx(r.coef, rel=1e-12)


def test_pi_options_errors_and_small_k():
    with pytest.raises(ValueError, match="unknown pi_method"):
        iometa.pool([0.1, 0.5, 0.9], [0.04, 0.05, 0.06], pi_method="HTS")
    with pytest.raises(ValueError, match="needs test='knha'"):
        iometa.pool([0.1, 0.5, 0.9], [0.04, 0.05, 0.06], adhoc=True)
    with pytest.raises(ValueError, match="GLMM"):
        iometa.pool_proportions([3, 4, 9], [30, 30, 40], method="GLMM", pi_method="v")
    with pytest.warns(iometa.SmallSampleWarning, match="k >= 3"):
        two = iometa.pool([0.1, 0.5], [0.04, 0.05], pi_method="hts")
    assert np.isnan(two.pi_low) and any("k >= 3" in w for w in two.warnings)


def test_summary_with_common_and_random_effects_together():
    y = [0.1, 0.5, 0.9, 0.3]
    v = [0.04, 0.05, 0.06, 0.02]
    res = iometa.pool(y, v, method="DL", test="knha", adhoc=True)
    fe = iometa.pool(y, v, method="FE")
    text = res.summary(common=True)
    lines = {line.split("  ")[0]: line for line in text.splitlines()}
    assert f"{fe.estimate:.4f}" in lines["Common effect model"]
    assert "z = " in lines["Common effect model"] and "t = " in lines["Random effects model"]
    assert f"{res.pi_low:.4f}" in lines["Prediction interval"]
    assert res.summary() in text
    with pytest.raises(ValueError, match="random-effects"):
        fe.summary(common=True)
    prop = iometa.pool_proportions([13, 4, 9, 7], [51, 30, 40, 35])
    assert "Common effect model" in prop.summary(common=True)


def test_regression_predict_transf_and_html_names_the_pi():
    reg = iometa.meta_regression([0.1, 0.5, 0.2, 0.9, 1.1], [0.02] * 5, [1.0, 2, 3, 4, 5])
    raw = reg.predict([[6.0]])
    tr = reg.predict([[6.0]], transf=np.exp)
    assert "se" not in tr.columns
    assert tr["pi_high"].iloc[0] == pytest.approx(np.exp(raw["pi_high"].iloc[0]), rel=1e-12)
    res = iometa.pool([0.1, 0.5, 0.9], [0.04, 0.05, 0.06], pi_method="v")
    assert "Veroniki" in res._repr_html_() and "Veroniki" in res.summary()


def test_pool_many_takes_pi_method_and_adhoc():
    import pandas as pd

    d = FIX["datasets"]["bcg"]
    y, v = decode(d["yi"]), decode(d["vi"])
    df = pd.DataFrame({"g": ["a"] * 13 + ["b"] * 2, "yi": np.r_[y, y[:2]], "vi": np.r_[v, v[:2]]})
    out = iometa.pool_many(df, by="g", method="REML", test="knha", adhoc=True, pi_method="hts")
    one = iometa.pool(y, v, method="REML", test="knha", adhoc=True, pi_method="hts")
    assert out["pi_low"].iloc[0] == pytest.approx(one.pi_low, rel=1e-9)
    assert out["se"].iloc[0] == pytest.approx(one.se, rel=1e-9)
    assert np.isnan(out["pi_low"].iloc[1]) and "k >= 3" in out["note"].iloc[1]
    with pytest.raises(ValueError, match="needs test='knha'"):
        iometa.pool_many(df, by="g", adhoc=True)

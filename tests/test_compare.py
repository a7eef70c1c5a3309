"""Subgroups, contrasts, meta-regression and permutation tests against metafor.

Fixtures: tests/reference/compare.json, written by tests/reference/R/compare.R (run
``Rscript tests/reference/make_reference.R compare``); every number is compared with
``|a - b| <= 1e-6 |b| + 1e-10`` (b = R). The fixture stores the data it used, so the tests
run on exactly the same numbers (including the rows taken from data/studies.csv).

Documented expectations:

* metafor's ``predict()`` has no prediction interval for FE models (null in the fixture);
  iometa reports the CI there (the PI formula with tau^2 = 0).
* R^2 is null for models without intercept; iometa gives None.
* Random permutation tests are compared distributionally (R's random stream is not
  reproduced); exact ones must give the same p-values.
"""

from __future__ import annotations

import dataclasses
import json
import tracemalloc
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import iometa
from iometa._warnings import DataWarning, IometaWarning, SmallSampleWarning
from iometa.compare.contrasts import holm
from iometa.core.design import build_design, design_rows, parse_formula

FIX = json.loads((Path(__file__).parent / "reference" / "compare.json").read_text())
RTOL, ATOL = 1e-6, 1e-10


def num(x):
    if isinstance(x, np.ndarray):
        return x.astype(float)
    if x is None:
        return np.nan
    if isinstance(x, list):
        return np.array([num(a) for a in x], dtype=float)
    if isinstance(x, str):
        return float(x.replace("Inf", "inf"))
    return float(x)


def check(actual, expected, what=""):
    a = np.atleast_1d(np.asarray(actual, dtype=float))
    b = np.atleast_1d(num(expected))
    assert a.shape == b.shape, f"{what}: shape {a.shape} vs {b.shape}"
    both_nan = np.isnan(a) & np.isnan(b)
    ok = both_nan | (np.abs(a - b) <= RTOL * np.abs(b) + ATOL)
    assert ok.all(), f"{what}: iometa {a} vs metafor {b}"


def frame(name):
    d = FIX[name] if name in ("bcg", "debruin") else FIX["data"][name]
    return pd.DataFrame({k: v for k, v in d.items() if k != "source"})


BCG, DEB = frame("bcg"), frame("debruin")


def case_id(c):
    return "-".join(str(c.get(k)) for k in ("name", "measure", "method", "test") if k in c)


# ------------------------------------------------------------------ meta-regression vs metafor
def fit_reg(c):
    mods = c["mods"] if isinstance(c["mods"], str) else None
    if c["dataset"] == "bcg":
        return iometa.meta_regression("yi", "vi", mods, data=BCG, method=c["method"],
                                      test=c["test"])
    res = iometa.pool_proportions("events", "n", data=DEB, measure="PLO", method=c["method"],
                                  test=c["test"])
    return iometa.meta_regression(res, mods)


@pytest.mark.parametrize("c", FIX["metareg"], ids=case_id)
def test_meta_regression_matches_metafor(c):
    assert "error" not in c, c.get("error")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", IometaWarning)
        reg = fit_reg(c)
    r = c["result"]
    terms = [r["terms"]] if isinstance(r["terms"], str) else r["terms"]
    assert list(reg.terms) == terms
    for key, val in [("beta", reg.beta), ("se", reg.se), ("stat", reg.stat),
                     ("pval", reg.pval), ("ci_lb", reg.ci_low), ("ci_ub", reg.ci_high),
                     ("vb", reg.vcov.T.ravel()), ("QM", reg.qm), ("QMp", reg.qm_pval),
                     ("QE", reg.qe), ("QEp", reg.qe_pval), ("tau2", reg.tau2), ("I2", reg.i2),
                     ("H2", reg.h2)]:
        check(val, r[key], key)
    check(np.nan if reg.r2 is None else reg.r2, r["R2"], "R2")
    qmdf = num(r["QMdf"])
    assert reg.qm_df == qmdf[0]
    assert (reg.qm_df2 is None) == np.isnan(qmdf[1]) and reg.qm_df2 in (None, qmdf[1])
    assert reg.k == r["k"] and reg.p == r["p"] and reg.qe_df == r["k"] - r["p"]
    if "predict" in c:
        pr = reg.predict(np.array([num(row) for row in c["newmods"]]))
        for key, col in [("pred", "pred"), ("se", "se"), ("ci_lb", "ci_low"),
                         ("ci_ub", "ci_high"), ("pi_lb", "pi_low"), ("pi_ub", "pi_high")]:
            exp = num(c["predict"][key])
            if np.isnan(exp).all() and key.startswith("pi"):  # FE: metafor has no PI
                exp = num(c["predict"]["ci" + key[2:]])
            check(pr[col], exp, f"predict {key}")


def test_intercept_only_regression_equals_pool():
    for method in ("DL", "REML", "PM", "SJ", "HS", "ML", "EB", "HE"):
        res = iometa.pool(BCG["yi"], BCG["vi"], method=method, test="knha")
        reg = iometa.meta_regression(res)
        assert reg.terms == ("intrcpt",) and reg.r2 is None
        check(reg.beta[0], res.coef, "coef")
        check(reg.se[0], res.se, "se")
        check(reg.tau2, res.tau2, "tau2")
        check(reg.qe, res.q, "Q")


def test_meta_regression_from_result_inherits_model_and_data():
    res = iometa.pool_proportions("events", "n", data=DEB, measure="PLO", method="DL",
                                  test="knha")
    reg = iometa.meta_regression(res, "scq")
    assert (reg.method, reg.test) == ("DL", "knha")
    yi, vi = res.yi, res.vi
    direct = iometa.meta_regression(yi, vi, DEB["scq"].to_numpy(), method="DL", test="knha")
    np.testing.assert_allclose(reg.beta, direct.beta, rtol=1e-12)
    assert reg.terms == ("intrcpt", "scq") and direct.terms == ("intrcpt", "mods")


def test_meta_regression_accepts_equivalent_moderator_forms():
    a = iometa.meta_regression("yi", "vi", "ablat + alloc", data=BCG)
    b = iometa.meta_regression("yi", "vi", ["ablat", "alloc"], data=BCG)
    c = iometa.meta_regression(BCG["yi"], BCG["vi"], BCG[["ablat", "alloc"]])
    for other in (b, c):
        assert other.terms == a.terms
        np.testing.assert_allclose(other.beta, a.beta, rtol=1e-12)
    f = iometa.meta_regression("yi", "vi", "factor(year)", data=BCG.iloc[:8])
    assert f.terms[1:3] == ("year1949", "year1953") and f.p == 7  # 7 distinct years


def test_missing_moderators_are_dropped_with_a_warning():
    d = BCG.copy()
    d.loc[[2, 5], "ablat"] = np.nan
    with pytest.warns(DataWarning, match="2 studies"):
        reg = iometa.meta_regression("yi", "vi", "ablat", data=d, labels="label")
    ref = iometa.meta_regression("yi", "vi", "ablat", data=d.drop(index=[2, 5]))
    assert reg.k == 11 and "Rosenthal" in reg.warnings[0]
    np.testing.assert_allclose(reg.beta, ref.beta, rtol=1e-12)


def test_meta_regression_input_errors():
    with pytest.raises(ValueError, match="too few"):
        iometa.meta_regression(BCG["yi"][:3], BCG["vi"][:3], BCG[["ablat", "year"]][:3])
    with pytest.raises(ValueError, match="collinear"):
        iometa.meta_regression(BCG["yi"], BCG["vi"], np.column_stack([BCG["ablat"]] * 2))
    with pytest.raises(ValueError, match="not a column"):
        iometa.meta_regression("yi", "vi", "latitude", data=BCG)
    with pytest.raises(ValueError, match="interactions"):
        iometa.meta_regression("yi", "vi", "ablat * year", data=BCG)
    with pytest.raises(ValueError, match="unknown method"):
        iometa.meta_regression("yi", "vi", "ablat", data=BCG, method="XX")


def test_design_coding_follows_r_factor_rules():
    assert parse_formula("~ a + factor(b) - 1") == (["a", "factor(b)"], False)
    d = pd.DataFrame({"m": pd.Categorical(["TACE", "RFA", "TACE"], categories=["TACE", "RFA"]),
                      "s": ["x", "y", "x"]})
    des = build_design("m + s", d)
    assert des.terms == ("intrcpt", "mRFA", "sy")  # categorical order kept; text sorted
    full = build_design("m - 1", d)
    assert full.terms == ("mTACE", "mRFA")
    assert design_rows(des, {"m": ["RFA"], "s": ["x"]}).tolist() == [[1.0, 1.0, 0.0]]
    with pytest.raises(ValueError, match="not in the fitted data"):
        design_rows(des, {"m": ["MWA"], "s": ["x"]})


def test_regression_scales_linearly_without_k_by_k_matrices():
    rng = np.random.default_rng(7)
    k = 20000
    x = rng.normal(size=(k, 2))
    v = rng.uniform(0.01, 0.2, k)
    y = 0.3 + x @ [0.2, -0.1] + rng.normal(0, np.sqrt(v + 0.05))
    tracemalloc.start()
    reg = iometa.meta_regression(y, v, x, method="REML")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 50e6  # a k x k float matrix alone would take 3.2 GB
    np.testing.assert_allclose(reg.beta, [0.3, 0.2, -0.1], atol=0.02)
    assert abs(reg.tau2 - 0.05) < 0.01


# ------------------------------------------------------------------ permutation tests
@pytest.mark.parametrize("c", [c for c in FIX["permutest"] if c["kind"] == "exact"],
                         ids=lambda c: c["name"])
def test_exact_permutation_test_matches_metafor(c):
    mods = c["mods"] if isinstance(c["mods"], str) else None
    reg = iometa.meta_regression("yi", "vi", mods, data=BCG.iloc[:c["rows"]],
                                 method=c["method"], test=c["test"])
    perm = iometa.permutation_test(reg)  # exact="auto": few enough permutations
    assert perm.exact and perm.n_perm == perm.n_distinct == c["exact_iter"]
    check(perm.pval, c["pval"], "pval")
    check(perm.qm_pval, c["QMp"], "QMp")


def test_random_permutation_test_agrees_with_metafor_distributionally():
    c = next(c for c in FIX["permutest"] if c["kind"] == "random")
    reg = iometa.meta_regression("yi", "vi", c["mods"], data=BCG, method=c["method"])
    perm = iometa.permutation_test(reg, n_perm=4000, seed=11)
    assert not perm.exact and perm.n_perm == 4000
    for ours, theirs in zip([*perm.pval, perm.qm_pval], [*num(c["pval"]), num(c["QMp"])]):
        pbar = (ours + theirs) / 2
        sd = np.sqrt(pbar * (1 - pbar) * (1 / 4000 + 1 / c["iter"]))
        assert abs(ours - theirs) <= 4 * sd + 1e-3, (ours, theirs)


def test_permutation_test_is_reproducible_and_respects_exact():
    reg = iometa.meta_regression("yi", "vi", "ablat", data=BCG, method="DL")
    a = iometa.permutation_test(reg, n_perm=300, seed=5)
    b = iometa.permutation_test(reg, n_perm=300, seed=5)
    c = iometa.permutation_test(reg, n_perm=300, seed=6)
    np.testing.assert_array_equal(a.qm_perm, b.qm_perm)
    assert not np.array_equal(a.qm_perm, c.qm_perm)
    assert a.qm_perm[0] == pytest.approx(reg.qm)  # the observed arrangement is included
    small = iometa.meta_regression("yi", "vi", "ablat", data=BCG.iloc[:6])
    assert iometa.permutation_test(small, n_perm=400).exact  # 6!/2! = 360 <= 400
    assert not iometa.permutation_test(small, n_perm=200, seed=1).exact  # 360 > 200
    assert not iometa.permutation_test(small, n_perm=400, exact=False, seed=1).exact
    assert iometa.permutation_test(small, n_perm=10, exact=True).n_perm == 360
    with pytest.raises(TypeError):
        iometa.permutation_test(iometa.pool(BCG["yi"], BCG["vi"]))
    assert "permutation" in a.summary() and list(a.to_frame()["term"]) == list(reg.terms)


# ------------------------------------------------------------------ subgroups vs metafor
def pooled(c):
    d = frame(c["dataset"])
    if c["measure"] == "GEN":
        return iometa.pool("yi", "vi", data=d, method=c["method"], test=c["test"])
    return iometa.pool_proportions("events", "n", data=d, measure=c["measure"],
                                   method=c["method"], test=c["test"])


@pytest.mark.parametrize("c", FIX["subgroups"], ids=case_id)
def test_subgroups_match_metafor(c):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", IometaWarning)
        res = pooled(c)
        sep = iometa.subgroups(res, c["by"], tau2="separate")
        com = iometa.subgroups(res, c["by"], tau2="common")
    assert list(sep.groups) == c["levels"]
    for g, rg in zip(c["groups"], sep.groups.values()):
        assert rg.k == g["k"]
        for key, val in [("b", rg.coef), ("se", rg.se), ("ci_lb", rg.coef_ci_low),
                         ("ci_ub", rg.coef_ci_high), ("pi_lb", rg.coef_pi_low),
                         ("pi_ub", rg.coef_pi_high), ("tau2", rg.tau2), ("I2", rg.i2),
                         ("QE", rg.q), ("estimate", rg.estimate)]:
            check(val, g[key], f"group {key}")
    s = c["separate"]
    check([sep.q_between, sep.q_between_pval], [s["Q"], s["pval"]], "separate Q")
    assert sep.q_between_df == s["df"] == com.test_separate.df
    m = c["common"]
    check([com.q_between, com.q_between_pval, com.common_fit.tau2],
          [m["QM"], m["QMp"], m["tau2"]], "common QM")
    qmdf = num(m["QMdf"])
    assert com.q_between_df == qmdf[0] and (com.test_common.df2 or np.nan) == pytest.approx(
        qmdf[1], nan_ok=True)
    est = com.common_estimates
    for key, col in [("pred", "coef"), ("se", "se"), ("ci_lb", "coef_ci_low"),
                     ("ci_ub", "coef_ci_high")]:
        check(est[col], m["predict"][key], f"common {key}")
    for mode, sub in (("separate", sep), ("common", com)):
        tab = sub.contrasts()
        assert (tab["tau2"] == mode).all()
        for row, ref in zip(tab.itertuples(), c[f"contrasts_{mode}"]):
            assert (row.group_a, row.group_b) == (ref["group_a"], ref["group_b"])
            check([row.difference, row.se, row.stat, row.pval, row.ci_low, row.ci_high,
                   row.pval_holm], [ref[k] for k in ("diff", "se", "stat", "pval", "ci_lb",
                                                     "ci_ub", "p_holm")], f"{mode} contrast")
            if mode == "separate" and c["measure"] != "GEN":
                check([row.contrast_estimate, row.contrast_se, row.contrast_ci_low,
                       row.contrast_ci_high], [ref[k] for k in ("bt", "bt_se", "bt_ci_lb",
                                                                "bt_ci_ub")], "bt contrast")


def test_glmm_subgroups_separate_test_matches_metafor():
    c = FIX["glmm_subgroups"][0]
    res = iometa.pool_proportions("events", "n", data=DEB, method="GLMM")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", IometaWarning)
        sub = iometa.subgroups(res, c["by"])
    for g, rg in zip(c["groups"], sub.groups.values()):
        check([rg.coef, rg.se, rg.tau2], [g["b"], g["se"], g["tau2"]], "GLMM group")
    check([sub.q_between, sub.q_between_pval], [c["separate"]["Q"], c["separate"]["pval"]], "Q")
    assert any("GLMM" in n for n in sub.notes)  # the common-tau^2 approximation is disclosed


# ------------------------------------------------------------------ subgroup API behaviour
ABL = frame("ablation_inline")


def test_singleton_groups_are_reported_and_explained():
    res = iometa.pool_proportions("events", "n", data=ABL, labels="label")
    with pytest.warns(SmallSampleWarning, match="single study"):
        sub = iometa.subgroups(res, "modality")
    assert sub.singletons == ("cryoablation",)
    cryo = sub.groups["cryoablation"]
    assert cryo.k == 1 and cryo.coef == pytest.approx(res.yi[-1])
    assert set(sub.test_separate.groups) == set(sub.groups)  # it enters, with tau^2 = 0
    assert any("separate-tau^2 test with tau^2 = 0" in n for n in sub.notes)
    glmm = iometa.pool_proportions("events", "n", data=ABL, method="GLMM")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", IometaWarning)
        gsub = iometa.subgroups(glmm, "modality")
    assert gsub.groups["cryoablation"].method == "FE" and np.isfinite(gsub.q_between)


def test_subgroup_table_summary_and_html():
    res = iometa.pool_proportions("events", "n", data=ABL, labels="label")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", IometaWarning)
        sub = iometa.subgroups(res, ABL["modality"].to_numpy(), tau2="common")
    tab = sub.to_frame()
    assert list(tab["group"]) == ["RFA", "MWA", "cryoablation", "Overall"]
    assert tab["n_total"].tolist() == [126, 158, 20, 304]
    assert {"estimate", "ci_low", "ci_high", "pi_low", "pi_high", "tau2", "i2", "q",
            "q_pval"} <= set(tab.columns)
    text = sub.summary()
    assert "separate tau^2" in text and "common tau^2" in text and "cryoablation" in text
    assert "<table" in sub._repr_html_()
    assert sub.q_between == sub.test_common.q != sub.test_separate.q
    with pytest.raises(dataclasses.FrozenInstanceError):
        sub.tau2 = "separate"


@pytest.mark.filterwarnings("ignore::iometa.IometaWarning")
def test_group_order_and_input_checks():
    res = iometa.pool(BCG["yi"], BCG["vi"], data=BCG)
    cat = pd.Categorical(BCG["alloc"], categories=["systematic", "random", "alternate"])
    assert list(iometa.subgroups(res, cat).groups) == ["systematic", "random", "alternate"]
    assert list(iometa.subgroups(res, "alloc").groups) == ["random", "alternate", "systematic"]
    with pytest.raises(ValueError, match="no such column"):
        iometa.subgroups(res, "modality")
    with pytest.raises(ValueError, match="entries"):
        iometa.subgroups(res, ["a", "b"])
    with pytest.raises(ValueError, match="no group"):
        iometa.subgroups(res, [None] + ["a"] * 12)
    with pytest.raises(ValueError, match="tau2"):
        iometa.subgroups(res, "alloc", tau2="pooled")
    no_data = iometa.pool(BCG["yi"], BCG["vi"])
    with pytest.raises(ValueError, match="not fitted from a DataFrame"):
        iometa.subgroups(no_data, "alloc")


def test_common_contrast_of_proportions_uses_the_covariance():
    res = iometa.pool_proportions("events", "n", data=ABL, method="DL")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", IometaWarning)
        sub = iometa.subgroups(res, "modality", tau2="common")
    tab = sub.contrasts()
    est = sub.common_estimates
    reg = sub.common_fit
    L = np.array([[1.0, 0, 0], [1, 1, 0], [1, 0, 1]])
    for row in tab.itertuples():
        a, b = list(sub.groups).index(row.group_a), list(sub.groups).index(row.group_b)
        assert row.contrast_estimate == pytest.approx(est["estimate"][a] - est["estimate"][b])
        p = 1 / (1 + np.exp(-(L @ reg.beta)))
        grad = p[a] * (1 - p[a]) * L[a] - p[b] * (1 - p[b]) * L[b]
        assert row.contrast_se == pytest.approx(np.sqrt(grad @ reg.vcov @ grad), rel=1e-7)


def test_medians_contrast_is_a_ratio_and_mm_groups_have_no_test():
    med = pd.DataFrame({"m": [10.6, 13.3, 8.1, 20.0, 24.5], "lo": [7.3, 9.9, 6.0, 15.0, 18.0],
                        "hi": [14.4, 17.0, 11.0, 27.0, 33.0],
                        "mod": ["TACE", "TACE", "TACE", "TARE", "TARE"]})
    res = iometa.pool_medians("m", ci_low="lo", ci_high="hi", data=med)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", IometaWarning)
        sub = iometa.subgroups(res, "mod")
    row = sub.contrasts().iloc[0]
    assert row.contrast == "ratio of medians"
    assert row.contrast_estimate == pytest.approx(np.exp(row.difference))
    assert row.contrast_estimate == pytest.approx(sub.groups["TACE"].estimate /
                                                  sub.groups["TARE"].estimate)
    bare = iometa.pool_medians([10.6, 13.3, 8.1, 20.0], route="mm")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", IometaWarning)
        msub = iometa.subgroups(bare, ["a", "a", "b", "b"])
    assert np.isnan(msub.q_between) and "no standard error" in msub.test_separate.note
    assert np.isnan(msub.test_common.q)


def test_survival_rates_contrast_is_a_difference():
    res = iometa.pool_survival_rates([0.62, 0.55, 0.70, 0.41, 0.48], [80, 64, 51, 90, 77])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", IometaWarning)
        sub = iometa.subgroups(res, ["RFA", "RFA", "RFA", "TACE", "TACE"])
    row = sub.contrasts().iloc[0]
    assert row.contrast == "difference of survival rates"
    assert row.contrast_estimate == pytest.approx(sub.groups["RFA"].estimate -
                                                  sub.groups["TACE"].estimate)
    assert 0 < row.contrast_se < 0.2


def test_holm_matches_r():
    # R: p.adjust(c(0.01, 0.04, 0.03, 0.005, NA), "holm")
    np.testing.assert_allclose(holm([0.01, 0.04, 0.03, 0.005, np.nan]),
                               [0.03, 0.06, 0.06, 0.02, np.nan], rtol=1e-12)


def test_every_study_table_outcome_runs_by_modality():
    from iometa.data.vocabulary import OUTCOMES
    from iometa.outcomes import outcome_rows

    studies = iometa.load_studies()
    ran = 0
    for outcome, kind in OUTCOMES.items():
        if kind != "proportion" or (studies["outcome"].astype(str) == outcome).sum() < 2:
            continue
        rows = outcome_rows(studies, outcome).rows
        if len(rows) < 2:
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", IometaWarning)
            res = iometa.pool_proportions(rows["events_used"].to_numpy(float),
                                          rows["total_used"].to_numpy(float), data=rows)
            for mode in ("separate", "common"):
                sub = iometa.subgroups(res, "modality", tau2=mode)
                assert sum(g.k for g in sub.groups.values()) == res.k
                try:
                    sub.contrasts() if len(sub.groups) > 1 else None
                except ValueError as e:  # as metafor: k too small for the groups plus tau^2
                    assert mode == "common" and "too few" in str(e), e
                assert sub.to_frame()["group"].iloc[-1] == "Overall"
        ran += 1
    assert ran >= 1

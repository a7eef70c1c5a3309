"""Survival pooling: medians (iometa.pool_medians), survival rates (iometa.pool_survival_rates),
the survival table and the exponential consistency check.

R fixtures: tests/reference/survival.json, written by tests/reference/R/survival.R (metafor
``rma`` for the inverse-variance routes and the rate pooling; the body of metamedian's
``pool.med`` — stats::quantile type 7 and Hmisc::wtd.quantile — for the median of medians).
Numbers are compared with ``|a - b| <= 1e-6 * |b| + 1e-10`` (``b`` = R). Formula tests below
work small examples by hand from the definitions.
"""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _fixture import decode as num

import iometa
from iometa._warnings import DataWarning, IometaWarning, SmallSampleWarning
from iometa.survival import check_exponential_consistency, exponential_rate
from iometa.survival.medians import median_of_medians, quantile_type7, weighted_quantile

REF = Path(__file__).parent / "reference" / "survival.json"
FIX = json.loads(REF.read_text())
RTOL, ATOL = 1e-6, 1e-10
Z = 1.959963984540054


def check(name, actual, expected, atol=ATOL):
    a = np.atleast_1d(np.asarray(actual, dtype=float))
    b = np.atleast_1d(num(expected) if not isinstance(expected, np.ndarray) else expected)
    assert a.shape == b.shape, f"{name}: shape {a.shape} vs R {b.shape}"
    for x, y in zip(a, b):
        if math.isnan(y):
            assert math.isnan(x), f"{name}: python {x!r}, R NA"
        else:
            assert abs(x - y) <= RTOL * abs(y) + atol, f"{name}: python {x!r}, R {y!r}"


def quiet(fn, *args, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", IometaWarning)
        return fn(*args, **kw)


# τ² at the boundary: metafor's Fisher scoring stops at ~1e-13 instead of 0 (a convergence
# residue); I² and H² inherit it scaled by 100/s² and 1/s², so their absolute floor is larger.
TAU_ATOL, I2_ATOL = 1e-9, 1e-6


def compare_fit(res, case):
    for attr in ("coef", "se", "pval", "coef_ci_low", "coef_ci_high", "estimate", "ci_low",
                 "ci_high", "q", "q_pval"):
        check(attr, getattr(res, attr), case[attr])
    check("stat", res.stat, case["stat"])
    check("tau2", res.tau2, case["tau2"], TAU_ATOL)
    check("i2", res.i2, case["i2"], I2_ATOL)
    check("h2", res.h2, case["h2"], I2_ATOL)
    check("weights", res.studies["weight"], case["weights"])
    if case["method"] == "FE":  # metafor gives no PI for FE; iometa reports the CI there
        check("pi", [res.pi_low, res.pi_high], [case["ci_low"], case["ci_high"]])
    else:
        for attr in ("coef_pi_low", "coef_pi_high", "pi_low", "pi_high"):
            check(attr, getattr(res, attr), case[attr])
        check("tau2_ci", res.tau2_ci, case["tau2_ci"], TAU_ATOL)


# ---------------------------------------------------------------------------- R: medians
@pytest.mark.parametrize("case", FIX["median_cases"], ids=lambda c: c["id"])
def test_median_inverse_variance_matches_metafor(case):
    res = quiet(iometa.pool_medians, num(case["median"]), ci_low=num(case["study_ci_low"]),
                ci_high=num(case["study_ci_high"]), deaths=num(case["deaths"]),
                scale=case["scale"], method=case["method"], test=case["test"],
                level=case["level"], labels=case["labels"])
    assert res.extra["route"] == "iv" and res.kind == "median" and res.scale == "months"
    assert res.measure == ("MEDLN" if case["scale"] == "log" else "MED")
    check("yi", res.yi, case["yi"])
    check("vi", res.vi, case["vi"])
    compare_fit(res, case)


@pytest.mark.parametrize("case", FIX["mm_cases"], ids=lambda c: c["id"])
def test_median_of_medians_matches_pool_med(case):
    m = num(case["median"])
    w = None if case["route"] == "mm" else num(case["n"])
    est, lo, hi = median_of_medians(m, w, case["level"])
    check("MM/WM", [est, lo, hi], [case["estimate"], case["ci_low"], case["ci_high"]])
    res = quiet(iometa.pool_medians, m, n=w, route=case["route"], level=case["level"])
    check("pooled", [res.estimate, res.ci_low, res.ci_high], [est, lo, hi])
    assert res.method == case["route"].upper()


# ---------------------------------------------------------------------------- R: rates
@pytest.mark.parametrize("case", FIX["rate_cases"], ids=lambda c: c["id"])
def test_survival_rates_match_metafor(case):
    res = quiet(iometa.pool_survival_rates, num(case["rate"]), num(case["n"]),
                ci_low=num(case["study_ci_low"]), ci_high=num(case["study_ci_high"]),
                scale=case["scale"], method=case["method"], test=case["test"],
                labels=case["labels"])
    check("yi", res.yi, case["yi"])
    check("vi", res.vi, case["vi"])
    assert res.studies["corrected"].tolist() == case["corrected"]
    compare_fit(res, case)
    assert res.ci_low <= res.estimate <= res.ci_high


# ---------------------------------------------------------------------------- R: study table
@pytest.mark.parametrize("case", FIX["table_cases"], ids=lambda c: c["id"])
def test_study_table_fixture_rows_match_r(case):
    """The rows R selected from data/studies.csv (recorded in the fixture) pool as in R."""
    if case["outcome"] == "median_os":
        n = num(case["n"])
        res = quiet(iometa.pool_medians, num(case["median"]), n=n, labels=case["labels"])
        assert res.extra["route"] == case["route"]
        check("median", [res.estimate, res.ci_low, res.ci_high],
              [case["estimate"], case["ci_low"], case["ci_high"]])
    else:
        res = quiet(iometa.pool_survival_rates, num(case["rate"]), num(case["n"]),
                    time=case["time"], labels=case["labels"])
        check("yi", res.yi, case["yi"])
        check("rate", [res.estimate, res.ci_low, res.ci_high],
              [case["estimate"], case["ci_low"], case["ci_high"]])


# ---------------------------------------------------------------------------- hand-worked
def test_quantile_type7_by_hand():
    # k = 4: index 1 + 3p; p = 0.25 -> 1.75 -> 10 + 0.75 * 10
    assert quantile_type7([40, 10, 30, 20], [0, 0.25, 0.5, 1]).tolist() == [10, 17.5, 25, 40]


def test_median_of_medians_ci_by_hand():
    # k = 4 at 95%: p = z/(2*2) = 0.4899910; lower quantile at 0.0100090: index 1.030027
    # -> 10 + 0.030027 * 10; upper at 0.9899910: index 3.969973 -> 30 + 0.969973 * 10
    p = Z / 4
    est, lo, hi = median_of_medians([10, 20, 30, 40])
    assert est == 25
    assert lo == pytest.approx(10 + 3 * (0.5 - p) * 10, rel=1e-12)
    assert hi == pytest.approx(30 + (3 * (0.5 + p) - 2) * 10, rel=1e-12)
    # k = 3: p = z/(2*sqrt(3)) > 0.5 -> capped at 0.5: the CI is the range
    assert median_of_medians([7, 1, 3]) == (3.0, 1.0, 7.0)


def test_weighted_quantile_by_hand():
    # x = 5, 10, 20, 40 with weights 2, 1, 1, 2: W = 6, cumulative 2, 3, 4, 6.
    # median: order 1 + 5 * 0.5 = 3.5 -> (Q(3) + Q(4))/2 = (10 + 20)/2
    assert weighted_quantile([5, 10, 20, 40], [2, 1, 1, 2], [0.5]).tolist() == [15.0]
    # two equal weights of 1.5: order 2 -> smallest x with cumulative weight >= 2 is 20
    assert weighted_quantile([10, 20], [1.5, 1.5], [0.5]).tolist() == [20.0]
    # ties pool their weights: (10, 10, 20) with (1, 1, 1) = (10, 20) with (2, 1)
    assert (weighted_quantile([10, 10, 20], [1, 1, 1], [0.3, 0.5, 0.9]).tolist()
            == weighted_quantile([10, 20], [2, 1], [0.3, 0.5, 0.9]).tolist())


def test_weighted_quantile_unit_weights_is_type7():
    rng = np.random.default_rng(13)
    for k in range(1, 12):
        x = rng.gamma(2.0, 10.0, k)
        p = rng.uniform(size=5)
        np.testing.assert_allclose(weighted_quantile(x, np.ones(k), p), quantile_type7(x, p),
                                   rtol=1e-12)
        np.testing.assert_allclose(quantile_type7(x, p), np.quantile(x, p), rtol=1e-12)


def test_wald_standard_errors_by_hand():
    res = quiet(iometa.pool_medians, [10.6, 8.1, 11.0], ci_low=[7.3, 6.0, np.nan],
                ci_high=[14.4, math.inf, np.nan], deaths=[None, None, 40])
    se = [(math.log(14.4) - math.log(7.3)) / (2 * Z), (math.log(8.1) - math.log(6.0)) / Z,
          1 / math.sqrt(40)]
    np.testing.assert_allclose(res.vi, np.square(se), rtol=1e-12)
    assert res.studies["route"].tolist() == ["ci", "ci_one_sided", "deaths"]
    assert res.studies["ci_high"].tolist()[1] == math.inf  # not reached, shown as such
    ident = quiet(iometa.pool_medians, [10.6, 8.1, 11.0], ci_low=[7.3, 6.0, np.nan],
                  ci_high=[14.4, math.inf, np.nan], deaths=[None, None, 40], scale="identity")
    np.testing.assert_allclose(ident.vi, [(14.4 - 7.3) ** 2 / (4 * Z * Z),
                                          (8.1 - 6.0) ** 2 / Z**2, 11.0**2 / 40], rtol=1e-12)
    assert ident.ci_low != pytest.approx(res.ci_low, rel=1e-3)  # the scales differ


def test_upper_limit_not_reached_spellings_agree():
    base = dict(ci_low=[22.1, 41.3], method="DL")
    a = quiet(iometa.pool_medians, [29.9, 58.6], ci_high=[38.5, math.inf], **base)
    b = quiet(iometa.pool_medians, [29.9, 58.6], ci_high=[38.5, np.nan], **base)
    c = quiet(iometa.pool_medians, [29.9, 58.6], ci_high=[38.5, "NR"], **base)
    assert a.estimate == b.estimate == c.estimate
    assert (a.studies["route"] == "ci_one_sided").sum() == 1


def test_ci_level_of_the_study_sets_z():
    a = iometa.pool_medians([12.0], ci_low=[9.0], ci_high=[16.0], ci_level=0.90)
    z90 = 1.6448536269514722
    assert a.vi[0] == pytest.approx(((math.log(16) - math.log(9)) / (2 * z90)) ** 2)


# ---------------------------------------------------------------------------- routes
def test_auto_route_uses_wm_when_all_n_known_and_mm_otherwise():
    m, lo, hi = [29.9, 58.6, 41.8, 11.0], [20, 40, np.nan, 8], [35, 70, np.nan, 14]
    with pytest.warns(DataWarning, match="bare median"):
        wm = iometa.pool_medians(m, ci_low=lo, ci_high=hi, n=[52, 43, 60, 208])
    assert wm.method == "WM" and wm.extra["route"] == "wm"
    assert wm.studies["route"].tolist() == ["ci", "ci", "bare", "ci"]
    assert "not used" in wm.studies["reason"][0] and "only the median" in wm.studies["reason"][2]
    np.testing.assert_allclose(wm.studies["weight"], 100 * np.array([52, 43, 60, 208]) / 363)
    with pytest.warns(DataWarning):
        mm = iometa.pool_medians(m, ci_low=lo, ci_high=hi, n=[52, None, 60, 208])
    assert mm.method == "MM" and mm.estimate == pytest.approx(np.median(m))
    for field in ("se", "pval", "pi_low", "pi_high", "tau2", "i2", "h2", "q", "q_pval"):
        assert math.isnan(getattr(mm, field)), field
    assert any("not defined" in w for w in mm.warnings)
    assert mm.coef == pytest.approx(math.log(mm.estimate))
    assert mm.summary() and len(mm.to_frame()) == 1


def test_iv_route_lists_the_studies_it_leaves_out():
    with pytest.warns(DataWarning, match="Vogl"):
        res = iometa.pool_medians([29.9, 58.6, 41.8], ci_low=[20, 40, None],
                                  ci_high=[35, 70, None], route="iv",
                                  labels=["Meloni", "Jakobs", "Vogl"])
    assert res.k == 2 and res.labels == ["Meloni", "Jakobs"]
    ex = res.extra["excluded"]
    assert ex["label"].tolist() == ["Vogl"] and "bare median" in ex["reason"][0]
    assert any("Vogl" in w for w in res.warnings)


def test_medians_not_reached_or_missing_are_left_out_with_a_warning():
    with pytest.warns(DataWarning, match="not reached"):
        res = iometa.pool_medians([29.9, math.inf, None, 33.0], ci_low=[22, 41, None, 25],
                                  ci_high=[38, math.inf, None, 40], labels=list("ABCD"))
    assert res.labels == ["A", "D"]
    assert res.extra["excluded"]["label"].tolist() == ["B", "C"]


def test_unknown_options_are_refused_for_every_route():
    for kw in (dict(method="XX"), dict(test="t"), dict(level=95), dict(route="both"),
               dict(scale="ln")):
        with pytest.raises(ValueError):
            iometa.pool_medians([11, 17], route=kw.pop("route", "mm"), **kw)
    with pytest.raises(ValueError, match="scale"):
        iometa.pool_survival_rates([0.9], [30], scale="log")


def test_route_wm_needs_every_n_and_iv_needs_a_variance():
    with pytest.raises(ValueError, match="'Lin'.*n is missing"):
        iometa.pool_medians([11, 17], n=[60, None], route="wm", labels=["Vogl", "Lin"])
    with pytest.raises(ValueError, match="route='iv'"):
        iometa.pool_medians([11, 17], route="iv")


def test_one_study():
    with pytest.warns(SmallSampleWarning):
        mm = iometa.pool_medians([17.0], route="mm")
    assert (mm.estimate, mm.ci_low, mm.ci_high) == (17.0, 17.0, 17.0)
    with pytest.warns(SmallSampleWarning):
        iv = iometa.pool_medians([17.0], ci_low=[12.0], ci_high=[24.0])
    assert iv.estimate == pytest.approx(17.0)
    assert (iv.ci_low, iv.ci_high) == pytest.approx((17 / math.sqrt(2), 17 * math.sqrt(2)))


# ---------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("kw, match", [
    (dict(median=[10.6, 8.0], ci_low=[7.3, 8.5], ci_high=[14.4, 12]), "'B'.*does not contain"),
    (dict(median=[10.6, 8.0], ci_low=[7.3, 5.0], ci_high=[14.4, 7.9]), "'B'.*does not contain"),
    (dict(median=[10.6, 0.0]), "'B'.*> 0"),
    (dict(median=[10.6, -3.0]), "'B'.*> 0"),
    (dict(median=[10.6, 8.0], ci_low=[7.3, 0.0], ci_high=[14.4, 12]), "'B'.*log scale"),
    (dict(median=[10.6, 8.0], deaths=[None, 50], n=[40, 30]), "'B'.*exceed"),
    (dict(median=[10.6, 8.0], ci_low=[7.3, 8.0], ci_high=[14.4, math.inf]), "'B'.*not reached"),
])
def test_bad_median_input_names_the_study(kw, match):
    median = kw.pop("median")
    with pytest.raises(ValueError, match=match):
        iometa.pool_medians(median, labels=["A", "B"], **kw)


@pytest.mark.parametrize("kw, match", [
    (dict(rate=[0.9, 1.2], n=[30, 40]), "'B'.*outside 0-1"),
    (dict(rate=[0.9, 88.6], n=[30, 40]), "'B'.*not percent"),
    (dict(rate=[0.9, -0.1], n=[30, 40]), "'B'.*outside 0-1"),
    (dict(rate=[0.9, 0.8], n=[30, None]), "'B'.*n is missing"),
    (dict(rate=[0.9, 0.8], n=[30, 0]), "'B'.*n must be > 0"),
    (dict(rate=[0.9, 0.8], n=[30, 40], ci_low=[None, 0.85], ci_high=[None, 0.95]),
     "'B'.*does not contain"),
])
def test_bad_rate_input_names_the_study(kw, match):
    rate, n = kw.pop("rate"), kw.pop("n")
    with pytest.raises(ValueError, match=match):
        iometa.pool_survival_rates(rate, n, labels=["A", "B"], **kw)


# ---------------------------------------------------------------------------- rates
@pytest.mark.parametrize("s", [0.0, 1.0])
def test_rate_of_zero_or_one_is_corrected_and_flagged(s):
    res = quiet(iometa.pool_survival_rates, [s, 0.5], [12, 40], labels=["X", "Y"])
    sc = (s * 12 + 0.5) / 13
    assert res.yi[0] == pytest.approx(math.log(-math.log(sc)), rel=1e-12)
    assert res.vi[0] == pytest.approx((1 - sc) / (13 * sc * math.log(sc) ** 2), rel=1e-12)
    assert res.studies["corrected"].tolist() == [True, False]
    assert res.studies["rate"][0] == s
    assert any("0.5 added" in w and "X" in w for w in res.warnings)
    lg = quiet(iometa.pool_survival_rates, [s, 0.5], [12, 40], scale="logit")
    assert lg.yi[0] == pytest.approx(math.log(sc / (1 - sc)))
    assert lg.vi[0] == pytest.approx(1 / (12.5 - s * 12) + 1 / (0.5 + s * 12))


def test_reported_ci_overrides_the_binomial_variance():
    res = iometa.pool_survival_rates([0.91, 0.8], [60, 40], ci_low=[0.8, None],
                                     ci_high=[0.96, None], method="FE")
    se = (math.log(-math.log(0.8)) - math.log(-math.log(0.96))) / (2 * Z)
    assert res.vi[0] == pytest.approx(se**2, rel=1e-12)
    assert res.vi[1] == pytest.approx(0.2 / (40 * 0.8 * math.log(0.8) ** 2), rel=1e-12)
    assert res.studies["variance_source"][0].startswith("reported")


def test_cloglog_limits_are_in_order_and_backtransform_is_consistent():
    res = iometa.pool_survival_rates([0.886, 0.91, 0.706], [35, 60, 17])
    assert res.ci_low < res.estimate < res.ci_high and res.pi_low < res.pi_high
    assert res.backtransform(res.coef) == pytest.approx(res.estimate)
    assert res.backtransform(res.coef_ci_high) == pytest.approx(res.ci_low)
    assert res.extra["decreasing_backtransform"]


def test_several_time_points_pool_separately():
    rates, n = [0.886, 0.91, 0.706, 0.593, 0.84], [35, 60, 17, 35, 60]
    out = quiet(iometa.pool_survival_rates, rates, n, time=[12, 12, 12, 24, 24],
                labels=list("abcde"))
    assert list(out) == [12.0, 24.0]
    one = quiet(iometa.pool_survival_rates, rates[3:], n[3:], time=24, labels=list("de"))
    assert out[24.0].estimate == one.estimate and out[24.0].labels == ["d", "e"]
    assert out[12.0].extra["time"] == 12.0


def test_refit_keeps_route_and_scale():
    m, lo, hi = [29.9, 58.6, 41.8, 11.0], [20, 40, np.nan, 8], [35, 70, np.nan, 14]
    mm = quiet(iometa.pool_medians, m, ci_low=lo, ci_high=hi, scale="identity")
    sub = mm.refit([0, 1])  # both have CIs, but the route stays the median of medians
    assert sub.method == "MM" and sub.k == 2 and sub.estimate == pytest.approx(44.25)
    iv = quiet(iometa.pool_medians, m, ci_low=lo, ci_high=hi, route="iv")
    again = iv.refit([0, 2], method="DL")
    direct = quiet(iometa.pool_medians, [29.9, 11.0], ci_low=[20, 8], ci_high=[35, 14],
                   method="DL")
    assert again.estimate == pytest.approx(direct.estimate, rel=1e-12)
    rates = quiet(iometa.pool_survival_rates, [0.886, 0.91, 0.706], [35, 60, 17], scale="logit")
    assert rates.refit([True, False, True]).measure == "SRLO"


def test_columns_of_data_and_aligned_data():
    df = pd.DataFrame({"study": ["A", "B", "C"], "m": [10.6, math.inf, 12.3],
                       "lo": [7.3, 9.0, 9.0], "hi": [14.4, math.inf, 16.1], "arm": [1, 2, 3]})
    with pytest.warns(DataWarning):
        res = iometa.pool_medians("m", ci_low="lo", ci_high="hi", labels="study", data=df)
    assert res.labels == ["A", "C"] and res.data["arm"].tolist() == [1, 3]


# ---------------------------------------------------------------------------- table, exponential
def _table_df():
    return pd.DataFrame({
        "study_id": ["A", "B", "C", "A", "B", "A", "B", "D", "A", "B", "D"],
        "modality": ["RFA", "RFA", "MWA", "RFA", "RFA", "RFA", "RFA", "MWA",
                     "RFA", "RFA", "MWA"],
        "outcome": ["os_rate"] * 8 + ["median_os"] * 3,
        "timepoint_months": [12, 12, 12, 24, 24, 36, 36, 12, None, None, None],
        "value": [0.9, 0.85, 0.95, 0.7, 0.66, 0.5, 0.52, 0.97, 40.0, 36.0, 14.0],
        "n_patients": [50, 40, 30, 50, 40, 50, 40, 200, 50, 40, 200]})


def test_survival_table_rows_equal_single_pools():
    df = _table_df()
    tab = quiet(iometa.survival_table, df)
    assert list(tab.columns[:11]) == ["time", "group", "k", "N", "estimate", "ci_low",
                                      "ci_high", "pi_low", "pi_high", "tau2", "i2"]
    for _, row in tab.iterrows():
        sel = df[(df.outcome == "os_rate") & (df.modality == row["group"])
                 & (df.timepoint_months == row["time"])]
        res = quiet(iometa.pool_survival_rates, sel["value"], sel["n_patients"])
        assert row["k"] == res.k and row["N"] == sel["n_patients"].sum()
        got = row[["estimate", "ci_low", "ci_high", "pi_low", "pi_high", "tau2", "i2"]]
        want = [res.estimate, res.ci_low, res.ci_high, res.pi_low, res.pi_high, res.tau2, res.i2]
        np.testing.assert_allclose(got.to_numpy(float), want, rtol=1e-9, atol=1e-12)
        meds = df[(df.outcome == "median_os") & (df.modality == row["group"])]
        pm = quiet(iometa.pool_medians, meds["value"], n=meds["n_patients"])
        assert row["median"] == pytest.approx(pm.estimate)
        assert row["exp_rate"] == pytest.approx(2 ** (-row["time"] / pm.estimate))


def test_exponential_disagreement_is_flagged():
    tab = quiet(iometa.survival_table, _table_df())
    mwa = tab[tab.group == "MWA"].iloc[0]
    # MWA: median 14 months -> exponential S(12) = 2^(-12/14) = 0.552, far below the pooled
    # 12-month rate of about 0.96 -> the intervals cannot overlap
    assert mwa["exp_rate"] == pytest.approx(2 ** (-12 / 14))
    assert bool(mwa["exp_disagree"]) is True
    rfa12 = tab[(tab.group == "RFA") & (tab.time == 12)].iloc[0]
    assert rfa12["exp_rate_low"] <= rfa12["ci_high"] and bool(rfa12["exp_disagree"]) is False


def test_survival_table_leaves_out_rows_without_n_with_a_warning():
    df = _table_df()
    df.loc[0, "n_patients"] = None
    with pytest.warns(DataWarning, match="n missing"):
        tab = iometa.survival_table(df)
    assert tab.attrs["excluded"]["label"].tolist() == ["A"]
    assert tab[(tab.group == "RFA") & (tab.time == 12)]["k"].item() == 1


def test_exponential_check_with_not_reached_limits():
    df = pd.DataFrame({"study_id": ["A", "A", "B", "B", "C", "C"], "modality": ["MWA"] * 6,
                       "outcome": ["os_rate", "median_os"] * 3,
                       "timepoint_months": [12, None, 12, None, 12, None],
                       "value": [0.9, 36.5, 0.97, math.inf, 0.5, math.inf],
                       "ci_low": [None, 30.1, None, 40.0, None, None],
                       "ci_high": [None, math.inf, None, None, None, None],
                       "n_patients": [55, 55, 80, 80, 40, 40]})
    chk = check_exponential_consistency(df).set_index("study_id")
    # A: upper limit not reached -> implied [2^(-12/30.1), 1]
    assert chk.loc["A", "exp_rate_low"] == pytest.approx(2 ** (-12 / 30.1))
    assert chk.loc["A", "exp_rate_high"] == 1.0 and not chk.loc["A", "disagree"]
    # B: median not reached, lower limit 40 -> S(12) >= 2^(-12/40) = 0.81; no point estimate
    assert math.isnan(chk.loc["B", "exp_rate"]) and chk.loc["B", "exp_rate_high"] == 1.0
    assert chk.loc["B", "exp_rate_low"] == pytest.approx(2 ** (-12 / 40))
    # C: median not reached without a CI: nothing to check
    assert pd.isna(chk.loc["C", "disagree"])


def test_survival_table_without_any_n_reports_nan_total():
    df = pd.DataFrame({"modality": ["RFA"], "outcome": ["os_rate"], "timepoint_months": [12],
                       "value": [0.93], "ci_low": [0.85], "ci_high": [0.97]})
    tab = quiet(iometa.survival_table, df)
    assert tab["k"].tolist() == [1] and math.isnan(tab["N"][0])
    assert tab["estimate"][0] == pytest.approx(0.93) and pd.isna(tab["exp_disagree"][0])


def test_study_level_exponential_check():
    chk = check_exponential_consistency(_table_df())
    row = chk[(chk.study_id == "D")].iloc[0]
    assert row["exp_rate"] == pytest.approx(2 ** (-12 / 14)) and bool(row["disagree"])
    a12 = chk[(chk.study_id == "A") & (chk.time == 12)].iloc[0]
    assert a12["exp_rate"] == pytest.approx(2 ** (-12 / 40))
    assert bool(a12["disagree"]) is (not a12["rate_ci_low"] <= a12["exp_rate"]
                                     <= a12["rate_ci_high"])
    assert float(exponential_rate(24, math.inf)) == 1.0


# ---------------------------------------------------------------------------- the study table
def _study_table():
    from iometa import data as iodata

    path = iodata.default_data_path()
    if not Path(path).exists():
        pytest.skip("data/studies.csv not present")
    try:
        return iometa.load_studies()
    except iodata.StudyTableError:
        # the table is being extracted and may not validate yet; its rows are still usable
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
        for c in ("value", "ci_low", "ci_high", "n_patients", "timepoint_months"):
            s = df[c].str.strip().str.lower().replace({"nr": "inf", "not reached": "inf"})
            df[c] = pd.to_numeric(s, errors="coerce")
        return df


def _rows(df, outcome, modalities):
    sel = (df["outcome"].astype(str) == outcome) & (df["site"].astype(str) == "liver")
    sel &= df["modality"].astype(str).isin(modalities)
    return df[sel.to_numpy()]


@pytest.mark.parametrize("modalities", [("RFA", "MWA"), ("TACE", "DEB-TACE", "TARE")])
def test_study_table_median_os_in_one_call(modalities):
    rows = _rows(_study_table(), "median_os", modalities)
    if rows.empty:
        pytest.skip(f"no liver {modalities} median OS rows in the table yet")
    vals = rows["value"].to_numpy(float)
    res = quiet(iometa.pool_medians, "value", ci_low="ci_low", ci_high="ci_high",
                n="n_patients", labels="study_id", data=rows)
    fin = np.isfinite(vals)
    assert res.k + len(res.extra["excluded"]) == len(rows) and res.k == fin.sum()
    assert set(res.studies["route"]) <= {"ci", "ci_one_sided", "deaths", "bare"}
    assert res.studies["reason"].map(len).gt(0).all() and res.scale == "months"
    if res.extra["route"] == "mm":  # R's type 7 quantile = numpy's default "linear"
        p = min(0.5, Z / (2 * math.sqrt(res.k)))
        want = np.quantile(vals[fin], [0.5, 0.5 - p, 0.5 + p])
        np.testing.assert_allclose([res.estimate, res.ci_low, res.ci_high], want, rtol=1e-12)
    assert res.ci_low <= res.estimate <= res.ci_high


def test_study_table_os_rates_liver_ablation():
    rows = _rows(_study_table(), "os_rate", ("RFA", "MWA"))
    rows = rows[rows["value"].notna().to_numpy() & rows["n_patients"].notna().to_numpy()]
    if rows.empty:
        pytest.skip("no liver RFA/MWA OS-rate rows with n in the table yet")
    out = quiet(iometa.pool_survival_rates, "value", "n_patients", time="timepoint_months",
                labels="study_id", data=rows)
    out = out if isinstance(out, dict) else {out.extra["time"]: out}
    for t, res in out.items():
        sel = rows[rows["timepoint_months"].to_numpy(float) == t]
        s, n = sel["value"].to_numpy(float), sel["n_patients"].to_numpy(float)
        np.testing.assert_allclose(res.yi, np.log(-np.log(s)), rtol=1e-12)
        np.testing.assert_allclose(res.vi, (1 - s) / (n * s * np.log(s) ** 2), rtol=1e-12)
        if res.k == 1:
            se = math.sqrt(res.vi[0])
            want = np.exp(-np.exp(res.yi[0] + np.array([0, Z * se, -Z * se])))
            np.testing.assert_allclose([res.estimate, res.ci_low, res.ci_high], want, rtol=1e-9)

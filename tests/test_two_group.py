"""Two-group effect sizes (OR, RR, RD, MD, SMD, ROM) and their inverse-variance pooling.

Fixtures: ``tests/reference/two_group.json``, written by ``tests/reference/R/two_group.R``
(``Rscript tests/reference/make_reference.R two_group``; Debian's metafor, version in
``meta``; rma with threshold = tol = 1e-12). Numbers are compared with
``|a - b| <= 1e-6 |b| + 1e-10`` (τ² with an absolute floor of 1e-9: the ML/REML/EB Fisher
scoring stops just above the boundary 0).
"""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _fixture import decode as _num

from iometa._warnings import DataWarning, IometaWarning
from iometa.core.effects import effects_from_ci
from iometa.core.reported_effects import effects_from_reported
from iometa.core.two_group import two_group_effects
from iometa.core.two_group_pool import pool_effects, pool_two_groups

REF = json.loads((Path(__file__).parent / "reference" / "two_group.json").read_text())
DATA = REF["datasets"]
RTOL, ATOL = 1e-6, 1e-10
CONT = ("mean_1", "sd_1", "n_1", "mean_2", "sd_2", "n_2")
BIN = ("events_1", "total_1", "events_2", "total_2")


def close(a, b, name, atol=ATOL):
    a = np.atleast_1d(np.asarray(np.nan if a is None else a, dtype=float))
    b = np.atleast_1d(_num(b))
    assert a.shape == b.shape, (name, a, b)
    for x, y in zip(a, b):
        if math.isnan(y):
            assert math.isnan(x), f"{name}: python={x!r} R=NA"
        else:
            assert abs(x - y) <= RTOL * abs(y) + atol, f"{name}: python={x!r} R={y!r}"


def effects(dname, measure, **kw):
    d = DATA[dname]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        if d["kind"] == "binary":
            return two_group_effects(*(d[n] for n in BIN), measure=measure, **kw)
        return two_group_effects(**{n: d[n] for n in CONT}, measure=measure, **kw)


def _eid(e):
    return f"{e['dataset']}-{e['measure']}-{e['to']}-{e['add']}-{e['vtype']}-d{e['drop00']}"


@pytest.mark.parametrize("case", REF["effects"], ids=_eid)
def test_effects_match_escalc(case):
    kw = {"vtype": case["vtype"]}
    if DATA[case["dataset"]]["kind"] == "binary":
        kw.update(add=case["add"], to=case["to"], drop00=case["drop00"])
    es = effects(case["dataset"], case["measure"], **kw)
    close(es["yi"], case["yi"], "yi")
    close(es["vi"], case["vi"], "vi")
    assert es.attrs["measure"] == case["measure"]


def _pid(c):
    return f"{c['dataset']}-{c['measure']}-{c['vtype']}-{c['method']}-{c['test']}-L{c['level']}"


def fit_case(case):
    d = DATA[case["dataset"]]
    opts = dict(method=case["method"], test=case["test"], level=case["level"] / 100)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", IometaWarning)
        if d["kind"] == "binary":
            return pool_two_groups(*(d[n] for n in BIN), measure=case["measure"], **opts)
        es = effects(case["dataset"], case["measure"], vtype=case["vtype"])
        return pool_effects("yi", "vi", data=es, measure=case["measure"], **opts)


@pytest.mark.parametrize("case", REF["pools"], ids=_pid)
def test_inverse_variance_pooling_matches_rma(case):
    assert case["error"] is None
    res, ref = fit_case(case), case["fit"]
    for a in ("coef", "se", "stat", "pval", "coef_ci_low", "coef_ci_high", "q", "q_pval",
              "estimate", "ci_low", "ci_high"):
        close(getattr(res, a), ref[a], a)
    for a, ci in (("pi_low", "ci_low"), ("pi_high", "ci_high")):  # FE: predict gives no PI
        close(getattr(res, a), ref[ci] if ref[a] is None else ref[a], a)
    for a in ("i2", "h2"):
        close(getattr(res, a), ref[a], a, atol=1e-7)
    close(res.tau2, ref["tau2"], "tau2", atol=1e-9)
    assert res.k == ref["k"]
    if case["test"] == "knha":
        close(res.df, ref["df"], "df")
    else:
        assert res.df is None


def test_ratio_measures_are_reported_as_ratios():
    d = DATA["bcg"]
    for measure, ratio in (("OR", True), ("RR", True), ("RD", False)):
        res = pool_two_groups(*(d[n] for n in BIN), measure=measure, method="DL")
        f = np.exp if ratio else (lambda x: x)
        assert res.scale == ("ratio" if ratio else "model")
        assert res.estimate == pytest.approx(f(res.coef), rel=1e-12)
        assert res.ci_high == pytest.approx(f(res.coef_ci_high), rel=1e-12)
        st = res.studies
        assert np.allclose(st["estimate"], f(st["yi"]), rtol=1e-12)
        assert (st["n"] == st["total_1"] + st["total_2"]).all()


def test_double_zero_study_is_kept_with_correction_and_said():
    d = DATA["zeros_inline"]
    with pytest.warns(DataWarning, match="double-zero study \\(Z-4\\) kept"):
        res = pool_two_groups(*(d[n] for n in BIN), measure="OR", method="REML",
                              labels=d["labels"])
    assert res.k == 7
    assert any("double-zero" in w for w in res.warnings)
    assert res.extra["double_zero"] == ["Z-4"]
    with pytest.warns(DataWarning, match="kept with 0.5 added"):
        es = two_group_effects(*(d[n] for n in BIN), measure="RR", labels=[f"Z-{i}" for i in
                                                                            range(1, 8)])
    assert es["double_zero"].tolist() == [False, False, False, True, False, False, False]
    assert np.isfinite(es["yi"]).all()


def test_data_columns_and_appended_output():
    d = DATA["hine"]
    df = pd.DataFrame({"trial": d["labels"], "a": d["events_1"], "n1": d["total_1"],
                       "c": d["events_2"], "n2": d["total_2"], "year": range(6)})
    es = two_group_effects("a", "n1", "c", "n2", measure="OR", data=df)
    assert list(es.columns[:6]) == list(df.columns)
    ref = two_group_effects(d["events_1"], d["total_1"], d["events_2"], d["total_2"],
                            measure="OR")
    assert np.array_equal(es["yi"], ref["yi"])
    res = pool_two_groups("a", "n1", "c", "n2", data=df, labels="trial", method="MH")
    assert res.labels == d["labels"]
    assert res.refit(method="FE").data is df and len(res.refit([1, 2]).data) == 2


# ---------------------------------------------------------------- bad input
def _bin(**over):
    kw = dict(events_1=[3, 5, 2], total_1=[20, 25, 30], events_2=[4, 6, 1],
              total_2=[21, 22, 28])
    kw.update(over)
    return kw


@pytest.mark.parametrize("over, match", [
    (dict(events_1=[3, 26, 2]), "study 'B' \\(row 2\\): events_1 exceeds total_1"),
    (dict(events_2=[4, 6, np.nan], total_2=[21, 22, np.nan]), "'C' \\(row 3\\): group 2 is "
     "missing"),
    (dict(events_1=[3, -1, 2]), "'B' \\(row 2\\): events_1 must be >= 0"),
    (dict(total_2=[21, 0, 28], events_2=[4, 0, 1]), "'B' \\(row 2\\): total_2 must be > 0"),
    (dict(events_1=[3, 5.5, 2]), "'B' \\(row 2\\): events_1 must be a whole number"),
    (dict(events_1=[3, 5]), "differ in length"),
    (dict(events_2=["4", "six", "1"]), "row 2: events_2 must be a number \\(got 'six'\\)"),
])
def test_bad_counts_name_the_row(over, match):
    with pytest.raises(ValueError, match=match):
        two_group_effects(**_bin(**over), measure="OR", labels=["A", "B", "C"])
    with pytest.raises(ValueError, match=match):
        pool_two_groups(*_bin(**over).values(), labels=["A", "B", "C"], method="MH")


def test_unequal_time_points_name_the_row():
    with pytest.raises(ValueError, match="'C' \\(row 3\\): the arms are reported at different"):
        two_group_effects(**_bin(), measure="RR", labels=["A", "B", "C"],
                          time_1=[12, 12, 24], time_2=[12, 12, 12])
    es = two_group_effects(**_bin(), measure="RR", time_1=[12, 6, 24], time_2=[12, 6, 24])
    assert len(es) == 3


def test_zero_cell_without_correction_is_an_error():
    with pytest.raises(ValueError, match="row 2.*OR is not defined.*to='none'"):
        two_group_effects(**_bin(events_1=[3, 0, 2]), measure="OR", to="none")
    es = two_group_effects(**_bin(events_1=[3, 0, 2]), measure="RD", to="none")
    assert es["yi"][1] == pytest.approx(0 - 6 / 22)


def _cont(**over):
    kw = dict(mean_1=[10.0, 12.0, 9.0], sd_1=[2.0, 3.0, 2.5], n_1=[10, 12, 8],
              mean_2=[9.0, 11.0, 9.5], sd_2=[2.2, 2.8, 2.0], n_2=[11, 10, 9])
    kw.update(over)
    return kw


@pytest.mark.parametrize("measure, over, match", [
    ("SMD", dict(sd_2=[2.2, -2.8, 2.0]), "'B' \\(row 2\\): sd_2 = -2.8 is negative"),
    ("MD", dict(sd_1=[2.0, 3.0, -1.0]), "'C' \\(row 3\\): sd_1 = -1 is negative"),
    ("SMD", dict(n_1=[10, 1, 8]), "'B' \\(row 2\\): n_1 = 1; SMD needs whole group sizes >= 2"),
    ("MD", dict(n_2=[11, 0, 9]), "'B' \\(row 2\\): n_2 = 0"),
    ("ROM", dict(mean_2=[9.0, 0.0, 9.5]), "'B' \\(row 2\\): mean_2 = 0; the ratio of means"),
    ("SMD", dict(mean_2=[9.0, np.nan, 9.5], sd_2=[2.2, np.nan, 2.0], n_2=[11, np.nan, 9]),
     "'B' \\(row 2\\): group 2 is missing"),
    ("SMD", dict(sd_1=[2.0, 0.0, 2.5], sd_2=[2.2, 0.0, 2.0]), "'B' \\(row 2\\): both standard"),
])
def test_bad_means_name_the_row(measure, over, match):
    with pytest.raises(ValueError, match=match):
        two_group_effects(**_cont(**over), measure=measure, labels=["A", "B", "C"])


@pytest.mark.parametrize("kw, match", [
    (dict(measure="OR", mean_1=[1.0]), "needs events_1|does not take"),
    (dict(measure="SMD", events_1=[1]), "does not take events_1"),
    (dict(measure="XYZ"), "unknown measure"),
    (dict(measure="OR", vtype="UB"), "vtype='UB' is not available for OR"),
    (dict(measure="OR", to="sometimes"), "unknown to="),
])
def test_inconsistent_arguments(kw, match):
    base = {} if "events_1" in kw or "mean_1" in kw else _bin()
    with pytest.raises(ValueError, match=match):
        two_group_effects(**{**base, **kw})


def test_smd_exact_correction_matches_gamma_formula_for_small_n():
    # independent of escalc: c(m) from scipy's gamma at m = 2 (n1 = n2 = 2)
    from scipy.special import gamma

    es = two_group_effects(mean_1=[3.0], sd_1=[1.0], n_1=[2], mean_2=[1.0], sd_2=[1.0], n_2=[2],
                           measure="SMD")
    c2 = gamma(1.0) / (math.sqrt(1.0) * gamma(0.5))
    assert es["yi"][0] == pytest.approx(2.0 * c2, rel=1e-12)


# ---------------------------------------------------------------- reported effects (HR)
def test_reported_ci_route_equals_effects_from_ci():
    est, lo, hi = [0.72, 1.10, 0.95], [0.58, 0.80, 0.70], [0.89, 1.51, 1.29]
    es = effects_from_reported(est, lo, hi, measure="HR", level=0.9)
    yi, vi = effects_from_ci(est, lo, hi, level=0.9, log=True)
    assert np.allclose(es["yi"], yi, rtol=1e-14) and np.allclose(es["vi"], vi, rtol=1e-14)
    assert (es["source"] == "ci").all() and es.attrs["measure"] == "HR"


def test_reported_pvalue_route_recovers_the_p_value():
    from scipy.stats import norm

    es = effects_from_reported([0.72, 1.30, 4.0], pval=[0.003, 0.21, 0.0471], measure="HR")
    p_back = 2 * norm.sf(np.abs(es["yi"]) / es["se"])
    assert np.allclose(p_back, [0.003, 0.21, 0.0471], rtol=1e-12)
    md = effects_from_reported([-2.5], pval=[0.01], measure="MD")
    assert md["yi"][0] == -2.5 and not md.attrs["log"]


@pytest.mark.parametrize("kw, match", [
    (dict(estimate=[0.7, 0.8], ci_low=[0.5, None], ci_high=[0.9, None]), "row 2\\): needs a CI"),
    (dict(estimate=[0.7], pval=[1.0]), "p-value must be in \\(0, 1\\)"),
    (dict(estimate=[1.0], pval=[0.2]), "at the null"),
    (dict(estimate=[0.7], ci_low=[0.75], ci_high=[0.9]), "does not contain"),
    (dict(estimate=[-0.7], pval=[0.2]), "must be positive"),
    (dict(estimate=[0.7], ci_low=[0.5], ci_high=[None]), "both CI limits"),
])
def test_reported_bad_input(kw, match):
    with pytest.raises(ValueError, match=match):
        effects_from_reported(**kw, measure="HR")


def test_pool_effects_labels_hazard_ratios():
    es = effects_from_reported([0.72, 0.85, 0.64, 0.90], [0.58, None, 0.45, 0.71],
                               [0.89, None, 0.91, 1.14], pval=[None, 0.04, None, None])
    res = pool_effects("yi", "vi", data=es, labels="label", measure="HR", method="DL")
    direct = pool_effects(es["yi"], es["vi"], measure="HR", method="DL")
    assert res.measure == "HR" and res.scale == "ratio"
    assert res.estimate == pytest.approx(math.exp(direct.coef), rel=1e-12)
    assert res.refit([0, 1, 2]).k == 3

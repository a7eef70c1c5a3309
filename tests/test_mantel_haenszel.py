"""Mantel–Haenszel and Peto pooling (``pool_two_groups(method="MH"/"Peto")``) and Harbord's test.

Fixtures: ``tests/reference/two_group.json`` (``tests/reference/R/two_group.R``): metafor's
``rma.mh`` (OR, RR, RD) and ``rma.peto`` with their defaults (add = 1/2, to = "only0",
drop00 = TRUE for the per-study effects behind Q; correct = TRUE for the CMH test) on metadat
datasets with and without zero cells and double-zero tables, ``leave1out`` of those fits, and
Harbord's test written out in R as the formula of Harbord et al. (2006) (R's ``meta`` is not
installed; the R script checks the formula against the weighted regression meta runs).
Numbers are compared with ``|a - b| <= 1e-6 |b| + 1e-10``.
"""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import numpy as np
import pytest
from _fixture import decode as _num

import iometa
from iometa._warnings import DataWarning, IometaWarning, SmallSampleWarning
from iometa.bias.harbord import harbord_test
from iometa.core.two_group_pool import pool_two_groups

REF = json.loads((Path(__file__).parent / "reference" / "two_group.json").read_text())
DATA = REF["datasets"]
BIN = ("events_1", "total_1", "events_2", "total_2")
RTOL, ATOL = 1e-6, 1e-10


def close(a, b, name, atol=ATOL):
    a = np.atleast_1d(np.asarray(np.nan if a is None else a, dtype=float))
    b = np.atleast_1d(_num(b))
    assert a.shape == b.shape, (name, a, b)
    for x, y in zip(a, b):
        if math.isnan(y):
            assert math.isnan(x), f"{name}: python={x!r} R=NA"
        else:
            assert abs(x - y) <= RTOL * abs(y) + atol, f"{name}: python={x!r} R={y!r}"


def fit(dname, **kw):
    d = DATA[dname]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", IometaWarning)
        return pool_two_groups(*(d[n] for n in BIN), labels=d["labels"], **kw)


def _id(c):
    return f"{c['dataset']}-{c['measure']}-{c['method']}-L{c['level']}"


@pytest.mark.parametrize("case", REF["mh"], ids=_id)
def test_mh_and_peto_match_metafor(case):
    assert case["error"] is None
    res = fit(case["dataset"], measure=case["measure"], method=case["method"],
              level=case["level"] / 100)
    ref = case["fit"]
    for a in ("coef", "se", "stat", "pval", "coef_ci_low", "coef_ci_high", "estimate",
              "ci_low", "ci_high", "q", "q_pval", "i2", "h2"):
        close(getattr(res, a), ref[a], a)
    assert res.tau2 == 0.0 and ref["tau2"] == 0
    assert res.k == ref["k"] and res.extra["k_yi"] == ref["k_yi"]
    assert res.q_df == ref["k_yi"] - 1
    st = res.studies
    inq = st["in_heterogeneity"].to_numpy()
    close(st["yi"][inq], ref["yi"], "yi")  # metafor's x$yi: the studies with a defined effect
    close(st["vi"][inq], ref["vi"], "vi")
    assert np.isnan(st["yi"][~inq]).all()
    assert list(st.loc[~inq, "label"]) == res.extra["double_zero"]
    if case["measure"] == "OR" and case["method"] == "MH":
        for a in ("cmh_stat", "cmh_pval", "cochran_stat", "cochran_pval", "breslow_day_stat",
                  "breslow_day_pval", "tarone_stat", "tarone_pval"):
            close(res.extra[a], ref[a], a)
        assert res.extra["k_pos"] == ref["k_pos"] and res.extra["cmh_correct"] is True


def test_double_zero_tables_change_only_the_rd_estimate():
    d = DATA["zeros_inline"]
    keep = [i for i in range(7) if i != 3]  # Z-4 is the double-zero table
    for measure, same in (("OR", True), ("RR", True), ("RD", False)):
        full = fit("zeros_inline", measure=measure, method="MH")
        sub = pool_two_groups(*(np.asarray(d[n])[keep] for n in BIN), measure=measure,
                              method="MH")
        assert (full.coef == pytest.approx(sub.coef, rel=1e-13)) is same
        assert full.q == pytest.approx(sub.q, rel=1e-12) if same else full.q_df == sub.q_df
        assert full.k == 7 and sub.k == 6 and full.q_df == sub.q_df == 5


def test_double_zero_note_and_warning():
    d = DATA["yusuf"]
    with pytest.warns(DataWarning, match="left out of Q and I\\^2 \\(Q df = 18 - 1\\)"):
        res = pool_two_groups(*(d[n] for n in BIN), method="Peto", labels=d["labels"])
    assert len(res.extra["double_zero"]) == 3
    assert any("rma.peto" in w for w in res.warnings)


@pytest.mark.parametrize("case", REF["leave_one_out"],
                         ids=lambda c: f"{c['dataset']}-{c['measure']}-{c['method']}")
def test_leave_one_out_matches_leave1out(case):
    res = fit(case["dataset"], measure=case["measure"], method=case["method"])
    loo = iometa.leave_one_out(res)
    close(loo["coef"], case["estimate"], "estimate")
    close(loo["se"], case["se"], "se")
    close(loo["pval"], case["pval"], "pval")
    close(loo["q"], case["q"], "Q")
    close(loo["i2"], case["i2"], "I2", atol=1e-7)


def test_refit_keeps_the_method_and_subsets():
    res = fit("bcg", measure="RR", method="MH")
    sub = res.refit([0, 2, 4, 6])
    d = DATA["bcg"]
    direct = pool_two_groups(*(np.asarray(d[n])[[0, 2, 4, 6]] for n in BIN), measure="RR",
                             method="MH")
    assert sub.method == "MH" and sub.coef == pytest.approx(direct.coef, rel=1e-14)
    assert sub.labels == [d["labels"][i] for i in (0, 2, 4, 6)]
    fe = res.refit(method="FE")
    assert fe.method == "FE" and fe.coef != pytest.approx(res.coef, rel=1e-6)


def test_subgroups_take_mh_results():
    res = fit("bcg", measure="OR", method="MH")
    sg = iometa.subgroups(res, ["a" if i < 6 else "b" for i in range(13)])
    first = res.refit(list(range(6)))
    assert sg.groups["a"].coef == pytest.approx(first.coef, rel=1e-14)


@pytest.mark.parametrize("kw, match", [
    (dict(measure="RR", method="Peto"), "Peto' pools odds ratios only"),
    (dict(method="MH", test="knha"), "only the z test"),
    (dict(method="MH", tau2=0.1), "tau2= cannot be set"),
    (dict(method="XX"), "unknown method"),
    (dict(measure="SMD"), "unknown measure"),
])
def test_bad_options(kw, match):
    with pytest.raises(ValueError, match=match):
        fit("hine", **kw)


def test_not_estimable_is_an_error_not_nan():
    with pytest.raises(ValueError, match="risk ratio is not estimable: no events in group 1"):
        pool_two_groups([0, 0], [10, 12], [2, 3], [10, 12], measure="RR", method="MH")
    with pytest.raises(ValueError, match="odds ratio is not estimable"):
        pool_two_groups([0, 0], [10, 12], [2, 3], [10, 12], measure="OR", method="MH")
    with pytest.raises(ValueError, match="Peto's method cannot be used"):
        pool_two_groups([0, 0], [10, 12], [0, 0], [10, 12], method="Peto")


def test_single_informative_table_has_no_tarone_p():
    with pytest.warns(DataWarning, match="Study 2.*it adds nothing to the estimate"):
        res = pool_two_groups([3, 0], [20, 15], [5, 0], [21, 14], method="MH")
    assert res.extra["tarone_pval"] is None and res.extra["k_pos"] == 1
    assert res.q == 0 and res.q_df == 0 and res.i2 == 0 and res.h2 == 1
    assert any("Tarone" in w for w in res.warnings)


# ---------------------------------------------------------------- Harbord
@pytest.mark.parametrize("dname", list(REF["harbord"]))
def test_harbord_matches_formula(dname):
    ref = REF["harbord"][dname]
    for method in ("REML", "MH", "Peto"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SmallSampleWarning)
            hb = harbord_test(fit(dname, measure="OR", method=method))
        assert hb.k == ref["k"]
        close(hb.slope, ref["bias"], "bias")
        close(hb.slope_se, ref["bias_se"], "bias_se")
        close(hb.stat, ref["stat"], "stat")
        close(hb.pval, ref["pval"], "pval")
        close(hb.df, ref["df"], "df")
        close(hb.limit_estimate, ref["slope"], "limit estimate")


def test_harbord_warns_below_ten_studies_and_refuses_other_input():
    with pytest.warns(SmallSampleWarning, match="only 6 studies"):
        hb = harbord_test(fit("hine", measure="OR"))
    assert hb.df == 4
    with warnings.catch_warnings():
        warnings.simplefilter("error", SmallSampleWarning)
        harbord_test(fit("bcg", measure="OR"))  # k = 13: no warning
    with pytest.raises(ValueError, match="for odds ratios"):
        harbord_test(fit("bcg", measure="RR"))
    with pytest.raises(ValueError, match="needs the 2x2 tables"):
        harbord_test(iometa.pool([0.1, 0.2, 0.3], [0.01, 0.02, 0.03]))


@pytest.mark.parametrize("measure, method", [("OR", "MH"), ("RR", "MH"), ("RD", "MH"),
                                             ("OR", "Peto"), ("OR", "REML")])
def test_swapping_the_groups_negates_the_effect(measure, method):
    d = DATA["collins"]
    res = fit("collins", measure=measure, method=method)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", IometaWarning)
        swapped = pool_two_groups(d["events_2"], d["total_2"], d["events_1"], d["total_1"],
                                  measure=measure, method=method)
    assert swapped.coef == pytest.approx(-res.coef, rel=1e-10)
    assert swapped.se == pytest.approx(res.se, rel=1e-10)
    assert swapped.q == pytest.approx(res.q, rel=1e-10, abs=1e-12)


def test_one_table_gives_its_own_odds_ratio():
    a, b, c, d = 7.0, 96.0, 5.0, 95.0
    res = pool_two_groups([a], [a + b], [c], [c + d], method="MH")
    assert res.estimate == pytest.approx(a * d / (b * c), rel=1e-13)
    assert res.k == 1 and res.q == 0 and res.q_df == 0
    assert res.extra["cmh_stat"] >= 0 and res.extra["tarone_pval"] is None

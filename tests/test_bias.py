"""Egger's, Begg's and Peters' tests and trim-and-fill against metafor.

Fixtures: ``tests/reference/bias.json``, written by ``tests/reference/R/bias.R``
(``Rscript tests/reference/make_reference.R bias``; metafor 3.8-1, tight controls, passed to
trimfill's internal fits through ``...``). Numbers are compared with
``|a - b| <= 1e-6 |b| + 1e-10``; τ² of the meta-regressions gets an absolute floor of 1e-9
(metafor's Fisher scoring stops at ~1e-13 instead of the boundary 0).
"""

from __future__ import annotations

import itertools
import json
import math
import warnings
from pathlib import Path

import numpy as np
import pytest
from _fixture import decode as _num

import iometa
from iometa.bias import _core as _bias_core

REF = json.loads((Path(__file__).parent / "reference" / "bias.json").read_text())
DATA = REF["datasets"]
CASES = {c["id"]: c for c in REF["cases"]}
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


def build(case):
    d = DATA[case["dataset"]]
    k = len(d["labels"])
    labels = [str(i + 1) for i in range(k)]
    level = case["level"] / 100
    tau2 = case["tau2_fixed"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if d["kind"] == "generic":
            return iometa.pool(d["yi"], d["vi"], method=case["method"], test=case["test"],
                               level=level, tau2=tau2, labels=labels)
        return iometa.pool_proportions(d["events"], d["n"], measure=case["measure"],
                                       method=case["method"], test=case["test"], level=level,
                                       labels=labels)


def quiet(fn, *args, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", iometa.SmallSampleWarning)
        return fn(*args, **kw)


@pytest.mark.parametrize("cid", list(CASES))
def test_egger_matches_regtest(cid):
    case = CASES[cid]
    eg, ref = quiet(iometa.egger_test, build(case)), case["egger"]
    for a in ("stat", "pval", "df", "limit_estimate", "limit_ci_low", "limit_ci_high", "slope"):
        close(getattr(eg, a), ref[a], a)
    close(eg.tau2, ref["tau2"], "tau2", atol=1e-9)


@pytest.mark.parametrize("cid", list(CASES))
def test_peters_matches_regtest_lm_ninv(cid):
    case = CASES[cid]
    res = build(case)
    n = DATA[case["dataset"]]["n"]
    pt = quiet(iometa.peters_test, res, n=None if "n" in res.studies else n)
    ref = case["peters"]
    for a in ("stat", "pval", "df", "limit_estimate", "limit_ci_low", "limit_ci_high", "slope"):
        close(getattr(pt, a), ref[a], a)


@pytest.mark.parametrize("cid", list(CASES))
def test_begg_matches_ranktest(cid):
    case = CASES[cid]
    bg = quiet(iometa.begg_test, build(case))
    close(bg.stat, case["begg"]["stat"], "tau")
    close(bg.pval, case["begg"]["pval"], "pval")
    assert bg.ties == case["begg"]["ties"] and bg.exact == (not case["begg"]["ties"])


@pytest.mark.parametrize("i", range(len(REF["ranktest_raw"])))
def test_begg_exact_and_tied_p_values(i):
    rc = REF["ranktest_raw"][i]
    bg = quiet(iometa.begg_test, iometa.pool(rc["yi"], rc["vi"]))
    close(bg.stat, rc["tau"], "tau")
    close(bg.pval, rc["pval"], "pval")
    assert bg.ties == rc["ties"]


TF_IDS = [(cid, j) for cid, c in CASES.items() for j in range(len(c.get("trimfill", [])))]


@pytest.mark.parametrize("cid, j", TF_IDS)
def test_trim_and_fill_matches_trimfill(cid, j):
    case = CASES[cid]
    ref = case["trimfill"][j]
    res = build(case)
    if "error" in ref:  # metafor stops (Q0 undefined for these data): iometa raises
        with pytest.raises(ValueError, match="undefined"):
            iometa.trim_and_fill(res, estimator=ref["estimator"], side=ref["side_arg"])
        return
    tf = iometa.trim_and_fill(res, estimator=ref["estimator"], side=ref["side_arg"])
    assert (tf.k0, tf.side) == (ref["k0"], ref["side"])
    close(tf.se_k0, ref["se_k0"], "se_k0")
    close(tf.p_k0, ref["p_k0"], "p_k0")
    for a in ("coef", "se", "estimate", "ci_low", "ci_high"):
        close(getattr(tf, a), ref[a], a)
    close(tf.result.coef_ci_low, ref["coef_ci_low"], "coef_ci_low")
    close(tf.result.coef_ci_high, ref["coef_ci_high"], "coef_ci_high")
    close(tf.result.tau2, ref["tau2"], "tau2", atol=1e-9)
    assert tf.result.k == ref["k"] and tf.result.test == ref["test"]
    assert tf.filled["label"].tolist() == ref["filled_labels"]
    close(tf.filled["yi"], ref["filled_yi"], "filled yi")
    close(tf.filled["vi"], ref["filled_vi"], "filled vi")
    if ref["filled_n"]:
        close(tf.filled["n"], ref["filled_n"], "filled n")
    if tf.k0 == 0:
        assert tf.result is res
    else:
        assert tf.result.studies["filled"].sum() == tf.k0 and tf.result.level == 0.95


# ---------------------------------------------------------------- behaviour beyond the fixtures
def _asym(method="REML", **kw):
    d = DATA["asym_inline"]
    return iometa.pool(d["yi"], d["vi"], method=method, **kw)


def test_kendall_exact_distribution_against_enumeration():
    n = 6
    counts = np.zeros(n * (n - 1) // 2 + 1)
    for perm in itertools.permutations(range(n)):
        c = sum(perm[i] < perm[j] for i in range(n) for j in range(i + 1, n))
        counts[c] += 1
    cdf = np.cumsum(counts) / counts.sum()
    for q in range(-1, counts.size + 1):
        expected = 0.0 if q < 0 else cdf[min(q, counts.size - 1)]
        assert _bias_core._kendall_cdf(q, n) == pytest.approx(expected, abs=1e-15)


def test_kendall_with_ties_matches_scipy_asymptotic():
    from scipy import stats

    x = np.array([1.0, 2, 2, 3, 4, 5, 5, 5, 6, 7])
    y = np.array([2.0, 1, 3, 3, 5, 4, 6, 8, 7, 7])
    kt = _bias_core.kendall_test(x, y)
    ref = stats.kendalltau(x, y, method="asymptotic")
    assert kt.ties and not kt.exact
    assert kt.tau == pytest.approx(ref.statistic, rel=1e-12)
    assert kt.pval == pytest.approx(ref.pvalue, rel=1e-10)


def test_egger_follows_the_model_and_refuses_glmm():
    z = quiet(iometa.egger_test, _asym("DL"))
    t = quiet(iometa.egger_test, _asym("DL", test="knha"))
    assert z.df is None and t.df == 8.0 and z.slope == pytest.approx(t.slope)
    assert "z = " in z.summary() and "t = " in t.summary() and "df = 8" in t.summary()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        g = iometa.pool_proportions([3, 7, 12, 5, 9, 4], [40, 40, 60, 40, 60, 25],
                                    method="GLMM")
    for fn in (iometa.egger_test, iometa.trim_and_fill):
        with pytest.raises(ValueError, match="inverse-variance"):
            fn(g)
    pt = quiet(iometa.peters_test, g)  # uses only yi, vi and n: defined for a GLMM result
    assert pt.df == 4.0


def test_small_k_warns_and_k_below_3_is_refused():
    with pytest.warns(iometa.SmallSampleWarning, match="little power"):
        eg = iometa.egger_test(iometa.pool([0.1, 0.4, 0.3, 0.8], [0.01, 0.05, 0.03, 0.1]))
    assert eg.warnings and "little power" in eg.summary()
    res2 = iometa.pool([0.1, 0.4], [0.01, 0.05])
    for fn in (iometa.egger_test, iometa.begg_test, iometa.peters_test,
               iometa.trim_and_fill):
        with pytest.raises(ValueError, match="at least 3 studies"):
            fn(res2) if fn is not iometa.peters_test else fn(res2, n=[10, 20])


def test_peters_needs_n():
    with pytest.raises(ValueError, match="sample size"):
        quiet(iometa.peters_test, _asym())
    with pytest.raises(ValueError, match="10 positive sample sizes"):
        quiet(iometa.peters_test, _asym(), n=[10] * 9)


def test_trim_and_fill_options_and_adjusted_result():
    res = _asym("REML", test="knha", level=0.9)
    with pytest.raises(ValueError, match="estimator"):
        iometa.trim_and_fill(res, estimator="L1")
    with pytest.raises(ValueError, match="side"):
        iometa.trim_and_fill(res, side="up")
    tf = iometa.trim_and_fill(res, estimator="R0")
    assert tf.k0 > 0 and tf.p_k0 == 0.5 ** (tf.k0 + 1)
    assert tf.result.test == "z" and tf.result.level == 0.95  # metafor's trimfill defaults
    assert tf.estimate < res.estimate  # the filled studies lie on the left
    sub = tf.result.refit(np.arange(res.k))  # the observed studies only, same options
    assert sub.coef == pytest.approx(res.refit(test="z", level=0.95).coef)
    assert "missing studies on the left side" in tf.summary()
    with pytest.raises(ValueError, match="Q0 estimator .* is undefined"):
        iometa.trim_and_fill(res, estimator="Q0")  # metafor stops too (see the fixtures)


def test_trim_and_fill_back_transforms_proportions():
    d = DATA["pritz1997"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = iometa.pool_proportions(d["events"], d["n"], measure="PLO", method="DL")
    tf = iometa.trim_and_fill(res)
    assert tf.k0 == 6 and tf.side == "left"
    assert tf.estimate == pytest.approx(float(res.backtransform(tf.coef)))
    assert np.allclose(tf.filled["estimate"], 1 / (1 + np.exp(-tf.filled["yi"])))
    assert set(tf.filled.columns) >= {"label", "yi", "vi", "estimate", "n"}

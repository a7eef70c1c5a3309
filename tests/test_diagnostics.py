"""Leave-one-out, influence, cumulative, Baujat, GOSH and method sensitivity against metafor.

Fixtures: ``tests/reference/diagnostics.json``, written by ``tests/reference/R/diagnostics.R``
(``Rscript tests/reference/make_reference.R diagnostics``; metafor 3.8-1, tight controls).
Numbers are compared with ``|a - b| <= 1e-6 |b| + 1e-10``. Exceptions, each for a stated
reason: τ² and the quantities it drives at the boundary (metafor's Fisher scoring stops at
τ² ~ 1e-13 instead of 0, so τ², I², H² get an absolute floor of 1e-9 (I² in percent: 1e-7));
GLMM rows of the method-sensitivity table (lme4's optimiser; see tests/test_glmm.py) at 2e-5.
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

import iometa
from iometa.core import subsets as _subset_fits

REF = json.loads((Path(__file__).parent / "reference" / "diagnostics.json").read_text())
DATA = REF["datasets"]
CASES = {c["id"]: c for c in REF["cases"]}
RTOL, ATOL = 1e-6, 1e-10
BOUNDARY_ATOL = {"tau2": 1e-9, "tau2_del": 1e-9, "i2": 1e-7, "h2": 1e-9}


def assert_close(actual, expected, name, rtol=RTOL, atol=ATOL):
    a = np.atleast_1d(np.asarray(actual, dtype=float))
    b = np.atleast_1d(_num(expected))
    assert a.shape == b.shape, f"{name}: shape {a.shape} vs R {b.shape}"
    bad = []
    for i, (x, y) in enumerate(zip(a, b)):
        if math.isnan(y):
            ok = math.isnan(x)
        else:
            ok = abs(x - y) <= rtol * abs(y) + atol
        if not ok:
            bad.append(f"{name}[{i}]: python={x!r} R={y!r}")
    assert not bad, "\n".join(bad)


def build(dname, measure, method, test, tau2=None, subset=None):
    d = DATA[dname]
    k = len(d["labels"])
    idx = np.arange(k) if subset is None else np.asarray(subset)
    labels = [str(i + 1) for i in range(idx.size)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if d["kind"] == "generic":
            return iometa.pool(np.asarray(d["yi"])[idx], np.asarray(d["vi"])[idx],
                               method=method, test=test, tau2=tau2, labels=labels)
        return iometa.pool_proportions(np.asarray(d["events"])[idx], np.asarray(d["n"])[idx],
                                       measure=measure, method=method, test=test,
                                       labels=labels)


def case_result(case):
    tau2 = case["tau2_fixed"]
    return build(case["dataset"], case["measure"], case["method"], case["test"], tau2)


def _check_table(df, ref, columns, fe):
    for col in columns:
        if col not in ref:
            continue
        expected = ref[col]
        actual = df[col].to_numpy(float)
        if fe and col in ("coef_pi_low", "coef_pi_high", "pi_low", "pi_high"):
            # metafor has no PI for the common-effect model; iometa reports the CI there
            ci = df[col.replace("pi", "ci")].to_numpy(float)
            assert np.allclose(actual, ci, equal_nan=True), col
            continue
        assert_close(actual, expected, col, atol=BOUNDARY_ATOL.get(col, ATOL))


L1O_COLS = ["coef", "se", "stat", "pval", "coef_ci_low", "coef_ci_high", "coef_pi_low",
            "coef_pi_high", "estimate", "ci_low", "ci_high", "pi_low", "pi_high", "q",
            "q_pval", "tau2", "i2", "h2"]
INF_COLS = ["rstudent", "dffits", "cooks_d", "cov_r", "tau2_del", "qe_del", "hat", "weight",
            "dfbetas"]


@pytest.mark.parametrize("cid", list(CASES))
def test_leave_one_out_matches_metafor(cid):
    case = CASES[cid]
    df = iometa.leave_one_out(case_result(case))
    assert len(df) == case["k"]
    assert df["label"].tolist() == [str(i + 1) for i in range(case["k"])]
    _check_table(df, case["leave1out"], L1O_COLS, case["method"] == "FE")


@pytest.mark.parametrize("cid", list(CASES))
def test_influence_matches_metafor(cid):
    case = CASES[cid]
    df = iometa.influence(case_result(case))
    _check_table(df, case["influence"], INF_COLS, False)
    assert df["influential"].tolist() == case["influence"]["influential"]


@pytest.mark.parametrize("cid", list(CASES))
def test_baujat_matches_metafor(cid):
    case = CASES[cid]
    df = iometa.baujat(case_result(case))
    assert_close(df["x"], case["baujat"]["x"], "x")
    assert_close(df["y"], case["baujat"]["y"], "y")


@pytest.mark.parametrize("cid", list(CASES))
def test_cumulative_matches_metafor(cid):
    case = CASES[cid]
    res = case_result(case)
    fe = case["method"] == "FE"
    df = iometa.cumulative(res)
    assert df["label"].tolist() == case["cumul"]["labels"]
    _check_table(df, case["cumul"], L1O_COLS, fe)
    ordered = case.get("cumul_ordered")
    if ordered is None:
        return
    keys = DATA[case["dataset"]]["year" if ordered["order_by"] == "year" else "n"]
    df = iometa.cumulative(res, order=keys)
    assert df["label"].tolist() == ordered["labels"]
    _check_table(df, ordered, L1O_COLS, fe)


@pytest.mark.parametrize("g", REF["gosh"], ids=[g["id"] for g in REF["gosh"]])
def test_gosh_all_subsets_match_metafor(g):
    res = build(g["dataset"], g["measure"], g["method"], "z", subset=np.arange(8))
    df = iometa.gosh(res)
    assert len(df) == 255 and df.attrs["exact"]
    incl = np.array([[c == "1" for c in s] for s in g["incl"]])
    np.testing.assert_array_equal(df.attrs["incl"], incl)
    codes = (incl.astype(np.int64) << np.arange(8)).sum(axis=1)
    np.testing.assert_array_equal(df["subset"].to_numpy(), codes)
    assert df["k"].tolist() == [int(x) for x in g["k"]]
    for col in ("coef", "q", "i2", "h2", "tau2"):
        assert_close(df[col], g[col], col, atol=BOUNDARY_ATOL.get(col, ATOL))
    assert_close(df["estimate"], res.backtransform(_num(g["coef"])), "estimate")


@pytest.mark.parametrize("s", REF["sensitivity"], ids=[s["dataset"] for s in REF["sensitivity"]])
def test_method_sensitivity_matches_metafor(s):
    d = DATA[s["dataset"]]
    tab = iometa.method_sensitivity(d["events"], d["n"])
    assert len(tab) == 20 and len(s["rows"]) == 20
    for ref in s["rows"]:
        row = tab[(tab.measure == ref["measure"]) & (tab.method == ref["method"])
                  & (tab.test == ref["test"])]
        assert len(row) == 1
        row = row.iloc[0]
        glmm = ref["method"] == "GLMM"
        rtol = 2e-5 if glmm else RTOL
        for col in ("coef", "estimate", "ci_low", "ci_high", "pi_low", "pi_high", "tau2", "i2"):
            assert_close(row[col], ref[col], f"{ref['measure']}/{ref['method']}/{col}",
                         rtol=rtol, atol=BOUNDARY_ATOL.get(col, ATOL))
        assert row["k"] == ref["k"]


# ---------------------------------------------------------------- behaviour beyond the fixtures
def _counting_fit_arrays(monkeypatch):
    calls = []
    real = _subset_fits.fit_arrays

    def wrapper(y, v, mask=None, **kw):
        calls.append(np.asarray(mask).shape)
        return real(y, v, mask, **kw)

    monkeypatch.setattr(_subset_fits, "fit_arrays", wrapper)
    return calls


def test_leave_one_out_and_cumulative_use_one_batched_call(monkeypatch):
    res = build("bcg", "GEN", "REML", "knha")
    calls = _counting_fit_arrays(monkeypatch)
    iometa.leave_one_out(res)
    iometa.cumulative(res)
    iometa.influence(res)
    assert calls == [(13, 13)] * 3


def test_leave_one_out_equals_refits():
    res = build("pritz1997", "PFT", "PM", "knha")
    df = iometa.leave_one_out(res)
    for i in (0, 7, 13):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            r = res.refit(np.delete(np.arange(res.k), i))
        assert df.loc[i, "coef"] == pytest.approx(r.coef, rel=1e-10)
        assert df.loc[i, "tau2"] == pytest.approx(r.tau2, rel=1e-8, abs=1e-12)
        # reporting scale uses the FULL data's back-transformation (metafor leave1out(transf=))
        assert df.loc[i, "estimate"] == pytest.approx(float(res.backtransform(r.coef)))


def _glmm_result():
    d = DATA["debruin2009"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return iometa.pool_proportions(d["events"][:6], d["n"][:6], method="GLMM")


def test_glmm_falls_back_to_refits():
    res = _glmm_result()
    df = iometa.leave_one_out(res)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = res.refit([0, 1, 2, 4, 5])
    assert df.loc[3, "coef"] == pytest.approx(r.coef, rel=1e-12)
    assert df.loc[3, "estimate"] == pytest.approx(r.estimate, rel=1e-12)
    cum = iometa.cumulative(res)
    assert math.isnan(cum.loc[0, "coef"])  # a one-study GLMM cannot be fitted: NA as metafor
    assert cum.loc[5, "coef"] == pytest.approx(res.coef, rel=1e-10)
    for fn in (iometa.influence, iometa.baujat):
        with pytest.raises(ValueError, match="inverse-variance"):
            fn(res)


def test_cumulative_order_options():
    yi, vi = [0.1, 0.5, 0.9, 0.3, 0.2], [0.04, 0.05, 0.06, 0.03, 0.02]
    data = pd.DataFrame({"yi": yi, "vi": vi, "year": [2005, 2001, 2005, np.nan, 2001]})
    res = iometa.pool("yi", "vi", data=data, method="DL")
    df = iometa.cumulative(res, order="year")
    assert df["label"].tolist() == ["Study 2", "Study 5", "Study 1", "Study 3", "Study 4"]
    assert df["k"].tolist() == [1, 2, 3, 4, 5]
    down = iometa.cumulative(res, order="year", decreasing=True)
    assert down["label"].tolist() == ["Study 1", "Study 3", "Study 2", "Study 5", "Study 4"]
    assert df.iloc[-1]["coef"] == pytest.approx(res.coef)
    with pytest.raises(ValueError, match="not a column"):
        iometa.cumulative(res, order="size")
    with pytest.raises(ValueError, match="4 values for 5 studies"):
        iometa.cumulative(res, order=[1, 2, 3, 4])


def test_k1_is_refused():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = iometa.pool([0.2], [0.04])
    for fn in (iometa.leave_one_out, iometa.influence, iometa.baujat, iometa.gosh):
        with pytest.raises(ValueError, match="at least 2 studies"):
            fn(res)


def test_gosh_random_subsets_are_reproducible_and_correct():
    d = DATA["bcg"]
    res = iometa.pool(d["yi"], d["vi"], method="REML")  # k = 13: 8191 subsets
    g1 = iometa.gosh(res, subsets=3000, seed=1)
    g2 = iometa.gosh(res, subsets=3000, seed=1)
    g3 = iometa.gosh(res, subsets=3000, seed=2)
    assert not g1.attrs["exact"] and len(g1) == 3000
    pd.testing.assert_frame_equal(g1, g2)
    assert not g1["subset"].equals(g3["subset"])
    assert (np.diff(g1["k"]) >= 0).all() and g1["k"].min() >= 1
    # sizes ~ Binomial(13, 1/2): mean 6.5, sd 1.8 -> the mean of 3000 is within 0.2
    assert abs(g1["k"].mean() - 6.5) < 0.2
    incl = g1.attrs["incl"]
    assert (incl.sum(axis=1) == g1["k"]).all()
    for row in (0, 1500, 2999):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # row 0 is a one-study subset
            r = res.refit(np.flatnonzero(incl[row]))
        assert g1.loc[row, "coef"] == pytest.approx(r.coef, rel=1e-9)
        assert g1.loc[row, "tau2"] == pytest.approx(r.tau2, rel=1e-7, abs=1e-12)
        assert g1.loc[row, "q"] == pytest.approx(r.q, rel=1e-10)
    with pytest.raises(ValueError, match=">= 2"):
        iometa.gosh(res, subsets=1)


def test_gosh_method_override_and_exhaustive_threshold():
    d = DATA["bcg"]
    res = iometa.pool(d["yi"][:6], d["vi"][:6], method="REML")
    g = iometa.gosh(res, method="DL")
    assert g.attrs["exact"] and len(g) == 63 and g.attrs["method"] == "DL"
    full = g[g["k"] == 6].iloc[0]
    assert full["tau2"] == pytest.approx(res.refit(method="DL").tau2)
    assert not iometa.gosh(res, subsets=62).attrs["exact"]


def test_method_sensitivity_from_result_and_warnings():
    d = DATA["pritz1997"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = iometa.pool_proportions(d["events"], d["n"], measure="PFT", level=0.9)
    tab = iometa.method_sensitivity(res)
    assert len(tab) == 20 and (tab["k"] == 14).all()
    ref = iometa.pool_proportions(d["events"], d["n"], measure="PAS", method="PM", level=0.9)
    row = tab[(tab.measure == "PAS") & (tab.method == "PM") & (tab.test == "z")].iloc[0]
    assert row["ci_low"] == pytest.approx(ref.ci_low)  # level taken from the result
    pft = tab[tab.measure == "PFT"]["warnings"]
    assert pft.str.contains("Freeman-Tukey back-transformation").all()
    plo_iv = tab[(tab.measure == "PLO") & (tab.method != "GLMM")]["warnings"]
    assert plo_iv.str.contains("continuity correction").all()
    assert not tab[tab.measure == "PAS"]["warnings"].str.contains("continuity").any()
    small = iometa.method_sensitivity([3, 5, 4], [20, 25, 30], measures=("PLO",),
                                      methods=("REML",))
    assert small["warnings"].str.contains("only 3 studies").all()


def test_method_sensitivity_reports_a_failed_glmm(monkeypatch):
    import iometa.core.models as models

    def broken(*a, **k):
        raise ImportError("iometa.core.glmm is not available")

    monkeypatch.setattr(models, "glmm_result", broken)
    tab = iometa.method_sensitivity([13, 4, 9, 7, 11], [51, 30, 40, 35, 44])
    glmm = tab[tab.method == "GLMM"]
    assert len(glmm) == 2 and glmm["estimate"].isna().all()
    assert glmm["warnings"].str.contains("could not be fitted: iometa.core.glmm is not").all()
    assert tab[tab.method != "GLMM"]["estimate"].notna().all()


def _study_table():
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return iometa.load_studies(strict=False)
    except Exception:  # noqa: BLE001 - the table is being extracted concurrently
        path = iometa.default_data_path()
        return pd.read_csv(path) if Path(path).exists() else None


def test_everything_runs_on_the_study_table():
    st = _study_table()
    if st is None:
        pytest.skip("no study table")
    counts = st[st["events"].notna() & st["total"].notna()]
    ran = 0
    for outcome, rows in counts.groupby("outcome"):
        rows = rows.reset_index(drop=True)
        if len(rows) < 2:
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = iometa.pool_proportions("events", "total", data=rows, labels="study_id")
            assert len(iometa.leave_one_out(res)) == res.k
            assert iometa.influence(res)["influential"].dtype == bool
            cum = iometa.cumulative(res, order="year")
            assert cum["k"].tolist() == list(range(1, res.k + 1))
            assert len(iometa.baujat(res)) == res.k
            assert len(iometa.gosh(res)) == 2**res.k - 1
            assert len(iometa.method_sensitivity(res)) == 20
            if res.k >= 3:
                for fn in (iometa.egger_test, iometa.begg_test, iometa.peters_test):
                    assert 0 <= fn(res).pval <= 1, (outcome, fn)
                assert iometa.trim_and_fill(res).k0 >= 0
        ran += 1
    assert ran >= 1 or counts.groupby("outcome").size().max() < 2


@pytest.mark.parametrize("case", ["random", "identical", "variances_1e18_apart", "offset"])
def test_gosh_dl_shortcut_equals_the_batched_core(case):
    """gosh's DerSimonian-Laird shortcut (moments by matrix products, issue 27) gives the
    core's numbers on every subset, also where the core guards against cancellation."""
    import importlib

    from iometa.core.subsets import fit_masks

    g = importlib.import_module("iometa.diagnostics.gosh")
    rng = np.random.default_rng(27)
    y, v = rng.normal(0.3, 0.4, 12), rng.uniform(0.01, 0.2, 12)
    if case == "identical":
        y[:] = 6.7e16
        v[:] = 1e-6
    elif case == "variances_1e18_apart":
        v[[0, 5]] = 2.6e-19
    elif case == "offset":
        y += 1e4
    incl, _ = g._all_subsets(12)
    got = g._dl_columns(y, v, incl)
    ref = fit_masks(y, v, incl, method="DL", test="z", level=0.95)
    assert (got["k"] == ref.k).all()
    for col in ("coef", "tau2", "q"):
        np.testing.assert_allclose(got[col], getattr(ref, col), rtol=1e-9, atol=1e-9, err_msg=col)
    df_q, q = ref.k - 1, ref.q  # metafor's gosh for DL: Q-based I² and H²
    with np.errstate(invalid="ignore", divide="ignore"):
        i2 = np.where(df_q > 0, np.maximum(0.0, 100 * (q - df_q) / q), 0.0)
        h2 = np.where(df_q > 0, q / df_q, 1.0)
    np.testing.assert_allclose(got["i2"], i2, rtol=1e-9, atol=1e-7)
    np.testing.assert_allclose(got["h2"], h2, rtol=1e-9, atol=1e-9)
    if case == "identical":
        assert (got["q"] == 0).all() and (got["tau2"] == 0).all()
    res = iometa.pool(y, v, method="DL")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        df = iometa.gosh(res)
    np.testing.assert_allclose(df["tau2"], got["tau2"], rtol=0, atol=0)

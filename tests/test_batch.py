"""The batched engine: pool_many equals pool() analysis by analysis; the batch-of-one path,
the lazy result fields and the REML/ML solver where metafor's Fisher scoring oscillates.

Tolerance: |batched − single| <= 1e-10·|single| + 1e-10 (both are solved to |Δτ²| < 1e-13;
the absolute floor covers τ² ~ 1e-15 residues at the boundary, where one path reports 0).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import iometa
from iometa import batch
from iometa.core.fitting import fit_arrays, tau2_ci_qprofile
from iometa.core.results import Deferred

METHODS = ["FE", "DL", "HE", "HS", "SJ", "ML", "REML", "EB", "PM"]
TOL = 1e-10
FIELDS = [("estimate", "coef"), ("se", "se"), ("stat", "stat"), ("pval", "pval"),
          ("ci_low", "coef_ci_low"), ("ci_high", "coef_ci_high"), ("pi_low", "coef_pi_low"),
          ("pi_high", "coef_pi_high"), ("tau2", "tau2"), ("i2", "i2"), ("h2", "h2"),
          ("q", "q"), ("q_df", "q_df"), ("q_pval", "q_pval")]


def close(a, b):
    a, b = float(a), float(b)
    if math.isnan(b):
        return math.isnan(a)
    return abs(a - b) <= TOL * abs(b) + TOL


def single(y, v, **opts):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return iometa.pool(y, v, **opts)


def mismatches(row, res, cis=False):
    bad = [f"{a}: batch {row[a]!r} single {getattr(res, b)!r}" for a, b in FIELDS
           if not close(row[a], getattr(res, b))]
    df = np.nan if res.df is None else res.df
    if not close(row["df"], df):
        bad.append(f"df: batch {row['df']!r} single {df!r}")
    if row["k"] != res.k or bool(row["converged"]) != res.converged:
        bad.append(f"k/converged: batch {row['k']}/{row['converged']} single {res.k}/"
                   f"{res.converged}")
    if cis:
        for name in ("tau2_ci", "i2_ci", "h2_ci"):
            for side, x in zip(("low", "high"), getattr(res, name)):
                if not close(row[f"{name}_{side}"], x):
                    bad.append(f"{name}_{side}: batch {row[f'{name}_{side}']!r} single {x!r}")
    return bad


def random_table(rng, n_analyses, kmax, shuffle=True):
    rows = []
    for a in range(n_analyses):
        k = int(rng.integers(1, kmax + 1))
        v = rng.uniform(0.005, 0.5, k) * 10 ** rng.uniform(-1, 1)
        tau2 = rng.choice([0.0, 0.02, 0.3])
        y = rng.normal(rng.normal(0, 1), np.sqrt(v + tau2))
        rows += [(f"a{a:03d}", a % 3, yi, vi) for yi, vi in zip(y, v)]
    df = pd.DataFrame(rows, columns=["analysis", "arm", "yi", "vi"])
    return df.sample(frac=1, random_state=1) if shuffle else df


def check_against_single(df, by, cis=False, **opts):
    out = iometa.pool_many(df, by=by, heterogeneity_ci=cis, **opts)
    keys = [by] if isinstance(by, str) else by
    assert len(out) == df.groupby(keys).ngroups
    problems = []
    for _, row in out.iterrows():
        sel = np.logical_and.reduce([df[c].to_numpy() == row[c] for c in keys])
        res = single(df.loc[sel, "yi"].to_numpy(), df.loc[sel, "vi"].to_numpy(), **opts)
        problems += [f"{tuple(row[c] for c in keys)} {p}" for p in mismatches(row, res, cis)]
    assert not problems, "\n".join(problems[:20])
    return out


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("test", ["z", "knha"])
def test_pool_many_equals_pool(method, test):
    df = random_table(np.random.default_rng(2 * METHODS.index(method) + (test == "knha")), 25, 15)
    check_against_single(df, "analysis", method=method, test=test, cis=True)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 8), kmax=st.integers(1, 12),
       method=st.sampled_from(METHODS), test=st.sampled_from(["z", "knha"]),
       level=st.sampled_from([0.9, 0.95, 0.99]))
def test_pool_many_equals_pool_property(seed, n, kmax, method, test, level):
    df = random_table(np.random.default_rng(seed), n, kmax)
    check_against_single(df, "analysis", method=method, test=test, level=level)


def test_several_by_columns_and_chunks(monkeypatch):
    monkeypatch.setattr(batch, "CHUNK_CELLS", 40)  # force many small chunks
    df = random_table(np.random.default_rng(3), 30, 9)
    out = check_against_single(df, ["arm", "analysis"], method="REML", test="knha")
    assert list(out.columns[:2]) == ["arm", "analysis"]
    assert out[["arm", "analysis"]].equals(
        out[["arm", "analysis"]].sort_values(["arm", "analysis"]).reset_index(drop=True))


def test_sorted_equal_k_fast_path_matches_general_path():
    rng = np.random.default_rng(5)
    v = rng.uniform(0.01, 0.2, (50, 8))
    y = rng.normal(0.2, np.sqrt(v + 0.05))
    df = pd.DataFrame({"sim": np.repeat(np.arange(50), 8), "yi": y.ravel(), "vi": v.ravel()})
    a = iometa.pool_many(df, by="sim")
    b = iometa.pool_many(df.iloc[::-1], by="sim")  # unsorted: general path
    pd.testing.assert_frame_equal(a, b, rtol=1e-12, atol=1e-14)
    fit = fit_arrays(y, v)
    np.testing.assert_allclose(a["tau2"], fit.tau2, rtol=0, atol=0)


@pytest.mark.parametrize("key", [
    np.repeat([3, 7, 8, 20], [2, 3, 1, 4]),                      # sorted ints
    np.array([-1.5, -0.0, 0.0, 0.0, 2.5, 2.5, 2.5, 9.0]),       # -0.0 and 0.0: one analysis
    np.array([False, False, True, True, True]),                 # bools
    np.array([4.0, 4.0, 1.0, 2.0, 2.0]),                        # floats, not sorted
    np.array([2, 2, 1, 1, 3]),                                  # unsorted
    np.array(["a", "a", "b", "c", "c"], dtype=object),          # strings
])
def test_groups_sorted_numeric_path_matches_codes(key):
    data = pd.DataFrame({"g": key})
    order, counts = batch._groups(data, ["g"])
    codes, n = batch._group_codes(data, ["g"])
    want_order = None if batch._nondecreasing(codes) else np.argsort(codes, kind="stable")
    np.testing.assert_array_equal(counts, np.bincount(codes, minlength=n))
    if want_order is None:
        assert order is None
    else:
        np.testing.assert_array_equal(order, want_order)


def test_k1_gets_tau2_zero_and_a_note():
    df = pd.DataFrame({"g": ["a", "b", "b"], "yi": [0.3, 0.1, 0.5], "vi": [0.04, 0.02, 0.03]})
    out = iometa.pool_many(df, by="g", test="knha").set_index("g")
    assert out.loc["a", "tau2"] == 0.0 and out.loc["a", "k"] == 1
    assert "one study" in out.loc["a", "note"] and "z test" in out.loc["a", "note"]
    assert math.isnan(out.loc["a", "df"]) and out.loc["b", "df"] == 1.0
    assert out.loc["a", "ci_low"] == pytest.approx(0.3 - 1.959963984540054 * 0.2)
    assert out.loc["b", "note"] == ""


def test_fe_knha_note():
    df = random_table(np.random.default_rng(2), 3, 6, shuffle=False)
    out = iometa.pool_many(df, by="analysis", method="FE", test="knha")
    assert all("common-effect" in n for n, k in zip(out["note"], out["k"]) if k > 1)


@pytest.mark.parametrize("col, value, match", [
    ("vi", 0.0, r"analysis \(g='b'\), row 3: sampling variance 0"),
    ("vi", -1.0, r"analysis \(g='b'\), row 3: sampling variance -1"),
    ("yi", np.nan, r"analysis \(g='b'\), row 3: yi is nan"),
    ("vi", np.inf, r"analysis \(g='b'\), row 3: vi is inf"),
])
def test_bad_values_name_the_analysis(col, value, match):
    df = pd.DataFrame({"g": ["a", "a", "b", "b"], "yi": [0.1, 0.2, 0.3, 0.4],
                       "vi": [0.01, 0.02, 0.03, 0.04]})
    df.loc[3, col] = value
    with pytest.raises(ValueError, match=match):
        iometa.pool_many(df, by="g")


@pytest.mark.parametrize("keys", [
    pd.Series([1.0, 2.0, np.nan, 2.0]),                          # numpy float
    pd.Series([1, 2, None, 2], dtype="Int64"),                   # nullable integer
    pd.Series(["a", "b", None, "b"], dtype="str"),               # string
    pd.Series(["a", "b", "b", "b"], dtype="category").where([True, True, False, True]),
])
def test_missing_analysis_key_names_the_row(keys):
    df = pd.DataFrame({"g": keys.array, "h": [1, 1, 1, 1], "yi": [0.1, 0.2, 0.3, 0.4],
                       "vi": [0.01, 0.02, 0.03, 0.04]}, index=[10, 11, 12, 13])
    for by in ("g", ["h", "g"]):
        with pytest.raises(ValueError, match="row 12 has a missing value in the analysis"):
            iometa.pool_many(df, by=by)
    assert not batch._missing(df, ["h"]).any()


def test_note_column_is_a_string_column():
    df = pd.DataFrame({"g": [1, 1, 2], "yi": [0.1, 0.2, 0.3], "vi": [0.01, 0.02, 0.03]})
    out = iometa.pool_many(df, by="g")
    assert out["note"].dtype == pd.Series(["x"]).dtype
    assert out["note"].tolist() == ["", "one study: tau^2 = 0 (not estimable)"]


def test_argument_errors():
    df = pd.DataFrame({"g": ["a", None], "yi": [0.1, 0.2], "vi": [0.01, 0.02]})
    with pytest.raises(ValueError, match="missing value in the analysis"):
        iometa.pool_many(df, by="g")
    with pytest.raises(ValueError, match="no such column"):
        iometa.pool_many(df, by="nope")
    with pytest.raises(ValueError, match="unknown method"):
        iometa.pool_many(df.fillna("b"), by="g", method="XX")
    with pytest.raises(ValueError, match="unknown test"):
        iometa.pool_many(df.fillna("b"), by="g", test="t")
    with pytest.raises(ValueError, match="clash"):
        iometa.pool_many(df.rename(columns={"g": "k"}).fillna("b"), by="k")
    with pytest.raises(TypeError, match="DataFrame"):
        iometa.pool_many({"g": [1]}, by="g")


def test_batch_of_one_equals_batch_rows():
    """The scalar path (B = 1) and the batched path give the same numbers."""
    rng = np.random.default_rng(11)
    v = rng.uniform(0.01, 0.3, (40, 12))
    y = rng.normal(0.1, np.sqrt(v + 0.1))
    for method in METHODS:
        for test in ("z", "knha"):
            batch_fit = fit_arrays(y, v, method=method, test=test)
            for i in (0, 17, 39):
                one = fit_arrays(y[i:i + 1], v[i:i + 1], method=method, test=test)
                for name in ("coef", "se", "pval", "ci_low", "pi_high", "tau2", "i2", "q_pval"):
                    a, b = getattr(batch_fit, name)[i], getattr(one, name)[0]
                    assert close(a, b), (method, test, i, name, a, b)
    lo, hi = tau2_ci_qprofile(y, v)
    lo1, hi1 = tau2_ci_qprofile(y[:1], v[:1])
    assert close(lo[0], lo1[0]) and close(hi[0], hi1[0])


def test_reml_where_fisher_scoring_oscillates():
    """metafor's plain Fisher scoring cycles on these data for REML ("Fisher scoring algorithm
    did not converge", also with maxiter = 10000); rma(..., control = list(threshold = 1e-12,
    maxiter = 10000, stepadj = 0.5)) gives 0.00482665061922847 (REML) and
    0.0027112306340546 (ML; plain Fisher scoring converges there: 0.00271123063365134)."""
    y = [0.2272, 0.1865, 0.2135, 0.2622, 0.4131, 0.4083, 0.0876, 0.3732, -0.2483, 0.5028,
         -0.1855, 0.1133, -0.0032, 0.0243, -0.2808, -0.3294, 0.2123, 0.4112, 0.0772, 0.656]
    v = [0.0498, 0.109, 0.0759, 0.1511, 0.0767, 0.0215, 0.0698, 0.1645, 0.1411, 0.1939,
         0.1884, 0.0971, 0.1994, 0.0109, 0.19, 0.1993, 0.0892, 0.1899, 0.1741, 0.1458]
    y, v = np.array(y), np.array(v)
    for method, r_value, score in (("REML", 0.00482665061922847, _reml_score),
                                   ("ML", 0.0027112306340546, _ml_score)):
        res = single(y, v, method=method)
        assert res.converged
        assert abs(res.tau2 - r_value) <= 1e-6 * r_value
        assert abs(score(y, v, res.tau2)) < 1e-9


def test_reml_keeps_metafors_maximum_when_tau2_0_is_also_a_local_maximum():
    """Bimodal restricted likelihood: a local maximum at τ² = 0 (score < 0 there) and the
    global one inside. metafor's Fisher scoring from the Hedges start reaches the inside one:
    rma(..., control = list(threshold = 1e-12, tol = 1e-12, maxiter = 10000)) gives
    0.0231455668081831 (logLik -10.33831 vs -10.37588 at τ² = 0). A Newton step from the
    start would jump past it to 0; the solver must not."""
    y = [-0.22748, 0.58663, -0.67374, 0.22752, 0.25174, 0.39141, 0.11212, 0.05075, -0.08391,
         -0.04609, 0.32375, 0.33827, 0.02065, -0.34215, 0.40334, 0.85887, 1.43955, 0.87666,
         -0.14066, 0.27301]
    v = [0.16428, 0.03365, 0.15403, 0.03978, 0.01118, 0.12778, 0.04659, 0.07621, 0.09173,
         0.1406, 0.01971, 0.01375, 0.19284, 0.14438, 0.12328, 0.10165, 0.13472, 0.15368,
         0.10783, 0.06034]
    y, v = np.array(y), np.array(v)
    assert _reml_score(y, v, 0.0) < 0  # τ² = 0 is a local maximum too
    res = single(y, v, method="REML")
    assert abs(res.tau2 - 0.0231455668081831) <= 1e-6 * 0.0231455668081831
    batch_fit = fit_arrays(np.tile(y, (70, 1)), np.tile(v, (70, 1)))  # the batched path
    assert np.allclose(batch_fit.tau2, res.tau2, rtol=1e-10, atol=0)


def _reml_score(y, v, t):
    w = 1 / (v + t)
    mu = (w * y).sum() / w.sum()
    return (w**2 * (y - mu) ** 2).sum() - (w.sum() - (w**2).sum() / w.sum())


def _ml_score(y, v, t):
    w = 1 / (v + t)
    mu = (w * y).sum() / w.sum()
    return (w**2 * (y - mu) ** 2).sum() - w.sum()


def test_lazy_fields_are_computed_on_access_and_equal_eager():
    y, v = [0.1, 0.5, 0.9, 0.2], [0.04, 0.05, 0.06, 0.03]
    res = iometa.pool(y, v)
    assert isinstance(res.__dict__["tau2_ci"], Deferred)
    assert isinstance(res.__dict__["studies"], Deferred)
    copy = res.with_warnings("extra note")
    assert isinstance(copy.__dict__["studies"], Deferred) and copy.warnings[-1] == "extra note"
    lo, hi = tau2_ci_qprofile([y], [v])
    assert res.tau2_ci == (float(lo[0]), float(hi[0]))
    assert not isinstance(res.__dict__["tau2_ci"], Deferred)
    s2 = float(fit_arrays([y], [v]).s2[0])
    assert res.i2_ci == pytest.approx(tuple(100 * t / (t + s2) for t in res.tau2_ci), abs=0)
    assert list(res.studies.columns[:4]) == ["label", "yi", "vi", "weight"]
    assert copy.tau2_ci == res.tau2_ci
    assert "tau2=" in repr(iometa.pool(y, v)) and isinstance(res.tau2_ci, tuple)


def test_result_inputs_are_copied():
    y, v = np.array([0.1, 0.5, 0.9]), np.array([0.04, 0.05, 0.06])
    res = iometa.pool(y, v)
    y[0] = 99.0
    assert res.studies["yi"].iloc[0] == 0.1 and res.tau2_ci[1] < 10


def test_capped_interval_still_warns_at_fit_time():
    with pytest.warns(iometa.IometaWarning, match="search limit"):
        res = iometa.pool([-50, 0, 50, 100], [0.01, 0.01, 0.01, 0.01], method="PM")
    assert "tau2_ci_uncapped" in res.extra
    assert res.tau2_ci[1] == pytest.approx(max(100.0, 10 * res.tau2))

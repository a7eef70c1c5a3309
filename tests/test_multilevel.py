"""iometa.pool_multilevel against metafor::rma.mv(yi, vi, random = ~ 1 | cluster/obs).

Fixtures: tests/reference/multilevel.json, written by tests/reference/R/multilevel.R
(``Rscript tests/reference/make_reference.R multilevel``; metafor 3.8-1). metafor's optimiser
stops ~1e-6 (relative) from the REML/ML optimum, so the script solves the score equations in R
with dense matrices (independently of iometa), refits rma.mv with sigma2 fixed at that root and
takes every number from metafor at that point (the header of the R script says how). The
fixture records metafor's own free estimates as well: they differ from the root by up to
~1e-6 relative, and their log-likelihood is never higher than the root's.
"""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from iometa._warnings import IometaWarning, SmallSampleWarning
from iometa.core.multilevel import pool_multilevel
from iometa.core.multilevel_core import derivatives, fit, loglik, make_blocks, state
from tests._fixture import decode

FIX = json.loads((Path(__file__).parent / "reference" / "multilevel.json").read_text())
CASES = {c["name"]: c for c in FIX["cases"]}
RTOL = 1e-6


def frame(name) -> pd.DataFrame:
    d = FIX["datasets"][name]
    return pd.DataFrame({k: (decode(v) if k not in ("deltype",) else list(v))
                         for k, v in d.items()})


def close(a, b, rtol=RTOL, atol=1e-12):
    a, b = np.atleast_1d(np.asarray(a, float)), np.atleast_1d(decode(b))
    np.testing.assert_allclose(a, b, rtol=rtol, atol=atol)


def fitted(case):
    d = frame(case["data"])
    return pool_multilevel("yi", "vi", cluster="cluster", method=case["method"],
                           test=case["test"], mods=case.get("mods"), data=d)


@pytest.fixture(scope="module")
def fits():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", IometaWarning)
        return {name: fitted(c) for name, c in CASES.items()}


@pytest.mark.parametrize("name", list(CASES))
def test_variance_components_and_loglik(fits, name):
    case, res = CASES[name], fits[name]
    close(res.sigma2, case["sigma2"], atol=1e-14)
    fixed0 = np.asarray(case["fixed_at_zero"], bool)
    assert all(res.sigma2[i] == 0.0 for i in np.flatnonzero(fixed0))
    assert res.loglik == pytest.approx(case["logLik"], rel=1e-10, abs=1e-10)
    # the root is at least as good as metafor's own optimum (which is ~1e-6 away)
    assert decode(case["logLik_free"]) <= decode(case["logLik"]) + 1e-10
    close(res.sigma2, case["sigma2_free"], rtol=1e-4, atol=1e-7)
    assert res.converged and res.k == case["k"] and res.p == case["p"]
    assert res.n_clusters == case["n_clusters"]


@pytest.mark.parametrize("name", list(CASES))
def test_coefficients(fits, name):
    case, res = CASES[name], fits[name]
    c = case["coef"]
    # the R script builds X with model.matrix: "(Intercept)" is metafor's "intrcpt"
    assert list(res.terms) == [t.replace("(Intercept)", "intrcpt") for t in case["terms"]]
    for ours, ref in ((res.coef, "b"), (res.se, "se"), (res.stat, "stat"),
                      (res.coef_ci_low, "ci_lb"), (res.coef_ci_high, "ci_ub")):
        close(ours, c[ref])
    close(res.vcov.ravel(order="F"), c["vb"], atol=1e-15)
    stat = np.atleast_1d(decode(c["stat"]))
    close(res.pval, c["pval"], rtol=RTOL * (1 + stat**2).max(), atol=1e-300)
    if case["test"] == "t":
        assert res.df == case["k"] - case["p"]
        assert res.df == pytest.approx(decode(c["ddf"]))
    else:
        assert res.df is None


@pytest.mark.parametrize("name", list(CASES))
def test_heterogeneity_and_moderator_tests(fits, name):
    case, res = CASES[name], fits[name]
    assert res.q == pytest.approx(decode(case["QE"]), rel=1e-10)
    assert res.q_pval == pytest.approx(decode(case["QEp"]), rel=1e-8, abs=1e-300)
    assert res.q_df == case["QEdf"]
    if case["p"] > 1:
        assert res.qm == pytest.approx(decode(case["coef"]["QM"]), rel=RTOL)
        assert res.qm_pval == pytest.approx(decode(case["coef"]["QMp"]),
                                            rel=RTOL * (1 + res.qm), abs=1e-300)
        assert res.qm_df == decode(case["coef"]["QMdf"])[0]
    else:
        assert res.qm is None
    assert res.i2 == pytest.approx(decode(case["I2"]["total"]), rel=RTOL)
    close(res.i2_levels, case["I2"]["levels"], atol=1e-12)
    assert res.i2 == pytest.approx(sum(res.i2_levels), rel=1e-12)


@pytest.mark.parametrize("name", list(CASES))
def test_profile_ci(fits, name):
    case, res = CASES[name], fits[name]
    for comp, key in enumerate(("between", "within")):
        est, lo, hi = decode(case["sigma2_ci"][key])
        assert res.sigma2_ci[comp][0] == pytest.approx(lo, rel=RTOL, abs=1e-10)
        assert res.sigma2_ci[comp][1] == pytest.approx(hi, rel=RTOL, abs=1e-10)
        assert res.sigma2_ci[comp][0] <= res.sigma2[comp] <= res.sigma2_ci[comp][1]
    assert not any(res.sigma2_ci_capped)


@pytest.mark.parametrize("name", list(CASES))
def test_lrt_against_two_level(fits, name):
    case, res = CASES[name], fits[name]
    lrt, pv = decode(case["lrt"]), decode(case["lrt_pval"])
    assert res.lrt == pytest.approx(lrt[0], rel=RTOL, abs=1e-9)
    assert res.lrt_pval == pytest.approx(pv[0], rel=RTOL * (1 + lrt[0]), abs=1e-12)
    assert res.lrt_within == pytest.approx(lrt[1], rel=RTOL, abs=1e-9)
    assert res.lrt_within_pval == pytest.approx(pv[1], rel=RTOL * (1 + lrt[1]), abs=1e-12)
    # metafor's anova() on its free fits: the same statistic up to metafor's optimiser
    assert res.lrt == pytest.approx(decode(case["anova_LRT"]), rel=1e-5, abs=1e-7)


def test_boundary_component_is_zero_with_profile_ci(fits):
    res = fits["boundary_within_REML_z_int"]
    case = CASES["boundary_within_REML_z_int"]
    assert res.sigma2[1] == 0.0 and case["fixed_at_zero"][1]
    assert decode(case["score_at_root"])[1] < 0  # KKT: the likelihood falls into sigma2 > 0
    lo, hi = res.sigma2_ci[1]
    assert lo == 0.0 and 0 < hi < math.inf and math.isfinite(res.i2_levels[1])
    assert res.i2_levels[1] == 0.0 and res.lrt_within == pytest.approx(0.0, abs=1e-9)


def test_score_is_zero_at_the_estimate(fits):
    for name, res in fits.items():
        reml = res.method == "REML"
        Q = np.linalg.qr(res.X)[0]
        b = make_blocks(res.yi, res.vi, Q, pd.factorize(pd.Series(res.cluster))[0])
        g = derivatives(b, state(b, *res.sigma2), reml)[0]
        for comp in (0, 1):
            if res.sigma2[comp] > 0:
                assert abs(g[comp]) < 1e-8, name
            else:
                assert g[comp] <= 1e-10, name


def _dense_loglik(y, v, X, cl, s1, s2, reml):
    V = np.diag(v + s2) + s1 * (cl[:, None] == cl[None, :])
    Vi = np.linalg.inv(V)
    A = np.linalg.inv(X.T @ Vi @ X)
    r = y - X @ (A @ X.T @ Vi @ y)
    k, p = X.shape
    ll = np.linalg.slogdet(V)[1] + r @ Vi @ r
    if reml:
        return -0.5 * ((k - p) * np.log(2 * np.pi) - np.linalg.slogdet(X.T @ X)[1] + ll
                       + np.linalg.slogdet(X.T @ Vi @ X)[1])
    return -0.5 * (k * np.log(2 * np.pi) + ll)


@pytest.mark.parametrize("reml", [True, False])
def test_block_likelihood_equals_dense(reml):
    rng = np.random.default_rng(5)
    cl = rng.integers(0, 9, 40)
    v = rng.uniform(0.01, 0.2, 40)
    X = np.column_stack([np.ones(40), rng.normal(size=40)])
    y = rng.normal(size=40)
    b = make_blocks(y, v, X, cl)
    for s1, s2 in ((0.0, 0.0), (0.3, 0.05), (0.02, 1.5)):
        ours = loglik(b, state(b, s1, s2), reml)
        assert ours == pytest.approx(_dense_loglik(y, v, X, cl, s1, s2, reml), rel=1e-12)
    # and the score is the gradient of that likelihood
    st = state(b, 0.3, 0.05)
    g = derivatives(b, st, reml)[0]
    h = 1e-6
    for comp in (0, 1):
        up, dn = [0.3, 0.05], [0.3, 0.05]
        up[comp] += h
        dn[comp] -= h
        num = (_dense_loglik(y, v, X, cl, *up, reml) - _dense_loglik(y, v, X, cl, *dn, reml))
        assert g[comp] == pytest.approx(num / (2 * h), rel=1e-6)


def test_one_cluster_reduces_to_two_levels():
    y, v = [0.1, 0.4, 0.2, 0.9, 0.5], [0.02, 0.03, 0.02, 0.05, 0.04]
    with pytest.warns(SmallSampleWarning, match="only one cluster"):
        res = pool_multilevel(y, v, cluster=["s"] * 5)
    assert res.sigma2[0] == 0.0 and res.reduced and "two-level" in res.reduced
    two = fit(make_blocks(np.array(y), np.array(v), np.ones((5, 1)), np.arange(5)),
              reml=True, fixed=(None, 0.0))
    assert res.sigma2[1] == pytest.approx(two.sigma2[0], rel=1e-10)
    assert math.isnan(res.lrt) and all(math.isnan(x) for x in res.sigma2_ci[0])
    assert math.isfinite(res.sigma2_ci[1][1]) and math.isfinite(res.coef)


def test_clusters_of_size_one_reduce_to_two_levels():
    y, v = [0.1, 0.4, 0.2, 0.9, 0.5], [0.02, 0.03, 0.02, 0.05, 0.04]
    with pytest.warns(SmallSampleWarning, match="every cluster has one row"):
        res = pool_multilevel(y, v, cluster=[1, 2, 3, 4, 5], method="ML")
    assert res.sigma2[1] == 0.0 and res.sigma2[0] > 0 and "two-level" in res.reduced
    assert math.isnan(res.lrt) and all(math.isnan(x) for x in res.sigma2_ci[1])
    lo, hi = res.sigma2_ci[0]
    assert 0 <= lo < res.sigma2[0] < hi


@pytest.mark.parametrize("bad, msg", [
    (dict(yi=[0.1, np.nan, 0.3, 0.2]), "yi of row 'Study 2'"),
    (dict(vi=[0.1, 0.1, -0.1, 0.1]), "row 'Study 3' has sampling variance"),
    (dict(cluster=[1, None, 2, 2]), "row 'Study 2' has no cluster"),
    (dict(method="DL"), "expected 'REML' or 'ML'"),
    (dict(test="knha"), "expected 'z' or 't'"),
    (dict(cluster=[1, 1, 2]), "cluster has 3 entries for 4 rows"),
])
def test_bad_input(bad, msg):
    args = dict(yi=[0.1, 0.2, 0.3, 0.2], vi=[0.1] * 4, cluster=[1, 1, 2, 2])
    args.update(bad)
    yi, vi = args.pop("yi"), args.pop("vi")
    with pytest.raises(ValueError, match=msg):
        pool_multilevel(yi, vi, **args)


def test_too_few_rows_and_collinear_moderators():
    with pytest.raises(ValueError, match="too few"):
        pool_multilevel([0.1, 0.2], [0.1, 0.1], cluster=[1, 2])
    with pytest.raises(ValueError, match="collinear"):
        pool_multilevel([0.1, 0.2, 0.3, 0.5], [0.1] * 4, cluster=[1, 1, 2, 2],
                        mods=np.column_stack([[1, 2, 3, 4], [2, 4, 6, 8]]))


def test_arrays_and_columns_agree_and_row_order_is_irrelevant():
    d = frame("konstantopoulos2011")
    a = pool_multilevel("yi", "vi", cluster="cluster", data=d, mods="year")
    perm = np.random.default_rng(1).permutation(len(d))
    dp = d.iloc[perm]
    b = pool_multilevel(dp["yi"].to_numpy(), dp["vi"].to_numpy(),
                        cluster=dp["cluster"].to_numpy(), mods=dp[["year"]])
    np.testing.assert_allclose(a.coef, b.coef, rtol=1e-10)
    np.testing.assert_allclose(a.sigma2, b.sigma2, rtol=1e-9)


def test_docstring_examples():
    import doctest
    import importlib

    from iometa.core import multilevel, multilevel_result

    robust = importlib.import_module("iometa.compare.robust")  # the module, not the function

    for mod in (multilevel, multilevel_result, robust):
        out = doctest.testmod(mod)
        assert out.attempted > 0 and out.failed == 0, mod.__name__


@pytest.mark.parametrize("seed", range(25))
def test_optimum_on_random_data(seed):
    # KKT at the reported optimum, and no point of a grid around it is better
    rng = np.random.default_rng(100 + seed)
    n_cl = int(rng.integers(3, 12))
    cl = np.repeat(np.arange(n_cl), rng.integers(1, 5, n_cl))
    cl = cl if np.bincount(cl).max() > 1 else np.r_[cl, 0]
    k = cl.size
    v = rng.uniform(0.005, 0.3, k)
    s1, s2 = rng.choice([0.0, 0.02, 0.3]), rng.choice([0.0, 0.01, 0.2])
    y = rng.normal(0, np.sqrt(s1), n_cl)[cl] + rng.normal(0, np.sqrt(s2 + v))
    method = "REML" if seed % 2 else "ML"
    if k < 4:
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", IometaWarning)
        res = pool_multilevel(y, v, cluster=cl, method=method)
    assert res.converged
    b = make_blocks(y, v, np.ones((k, 1)), pd.factorize(pd.Series(cl))[0])
    g = derivatives(b, state(b, *res.sigma2), method == "REML")[0]
    for comp in (0, 1):
        if res._fixed[comp] is None:
            assert (abs(g[comp]) < 1e-7) if res.sigma2[comp] > 0 else (g[comp] <= 1e-9)
    best = res.loglik
    for d1 in (-1e-3, 0, 1e-3):
        for d2 in (-1e-3, 0, 1e-3):
            t = (max(res.sigma2[0] + d1, 0), max(res.sigma2[1] + d2, 0))
            if res._fixed[0] is not None or res._fixed[1] is not None:
                continue
            assert loglik(b, state(b, *t), method == "REML") <= best + 1e-12
    lo, hi = res.sigma2_ci[1] if res._fixed[1] is None else res.sigma2_ci[0]
    assert 0 <= lo <= hi and math.isfinite(hi)

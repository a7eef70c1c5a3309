"""iometa.robust against metafor::robust() (CR1: adjust = TRUE; CR2: clubSandwich = TRUE).

Fixtures: tests/reference/multilevel.json (tests/reference/R/multilevel.R): robust() on the
rma.mv fits at the exact REML/ML optimum (cluster = the model's cluster) and on two-level
rma() fits (REML, DL, FE; intercept only and with a moderator), clustered by study/district.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from iometa._warnings import IometaWarning
from iometa.compare.metareg import meta_regression
from iometa.compare.robust import robust
from iometa.core.models import pool
from iometa.core.multilevel import pool_multilevel
from tests._fixture import decode

FIX = json.loads((Path(__file__).parent / "reference" / "multilevel.json").read_text())
MV = {c["name"]: c for c in FIX["cases"]}
UNI = {c["name"]: c for c in FIX["uni_cases"]}
RTOL = 1e-6


def frame(name) -> pd.DataFrame:
    d = FIX["datasets"][name]
    return pd.DataFrame({k: (decode(v) if k != "deltype" else list(v)) for k, v in d.items()})


def compare(rob, ref, p):
    for ours, key in ((rob.coef, "b"), (rob.se, "se"), (rob.stat, "stat"),
                      (rob.coef_ci_low, "ci_lb"), (rob.coef_ci_high, "ci_ub"),
                      (rob.df, "df")):
        np.testing.assert_allclose(np.atleast_1d(ours), np.atleast_1d(decode(ref[key])),
                                   rtol=RTOL, atol=1e-13, err_msg=key)
    stat = np.atleast_1d(decode(ref["stat"]))
    np.testing.assert_allclose(np.atleast_1d(rob.pval), np.atleast_1d(decode(ref["pval"])),
                               rtol=RTOL * (1 + stat**2).max(), atol=1e-300)
    np.testing.assert_allclose(rob.vcov.ravel(order="F"), decode(ref["vb"]), rtol=RTOL,
                               atol=1e-15)
    assert np.ndim(rob.coef) == (0 if p == 1 else 1)


@pytest.mark.parametrize("ss", ["CR1", "CR2"])
@pytest.mark.parametrize("name", list(MV))
def test_robust_on_multilevel(name, ss):
    case = MV[name]
    d = frame(case["data"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", IometaWarning)
        res = pool_multilevel("yi", "vi", cluster="cluster", method=case["method"],
                              test=case["test"], mods=case.get("mods"), data=d)
    rob = robust(res, "cluster", small_sample=ss)
    compare(rob, case["robust"][ss], case["p"])
    assert rob.n_clusters == case["n_clusters"]
    if ss == "CR1":
        assert rob.df == case["n_clusters"] - case["p"]
        if case["p"] > 1:
            assert rob.qm == pytest.approx(decode(case["robust"]["CR1"]["QM"]), rel=RTOL)
            assert rob.qm_pval == pytest.approx(decode(case["robust"]["CR1"]["QMp"]),
                                                rel=RTOL * (1 + rob.qm))
    if case["p"] > 1:  # CR1: sandwich Wald F; CR2: clubSandwich's HTZ test (metafor's QM)
        _check_qm(rob, case["robust"][ss])
    else:
        assert rob.qm is None and rob.qm_df is None and rob.qm_pval is None


def _check_qm(rob, ref):
    assert rob.qm == pytest.approx(decode(ref["QM"]), rel=RTOL)
    assert rob.qm_df[0] == decode(ref["QMdf"])[0]
    assert rob.qm_df[1] == pytest.approx(decode(ref["QMdf"])[1], rel=RTOL)
    assert rob.qm_pval == pytest.approx(decode(ref["QMp"]), rel=RTOL * (1 + rob.qm))


@pytest.mark.parametrize("ss", ["CR1", "CR2"])
@pytest.mark.parametrize("name", list(UNI))
def test_robust_on_two_level(name, ss):
    case = UNI[name]
    d = frame(case["data"])
    if case.get("mods") is None:
        res = pool(d["yi"].to_numpy(), d["vi"].to_numpy(), method=case["method"])
    else:
        res = meta_regression(d["yi"].to_numpy(), d["vi"].to_numpy(), d["year"].to_numpy(),
                              method=case["method"])
    assert res.tau2 == pytest.approx(decode(case["tau2"]), rel=1e-8, abs=1e-14)
    rob = robust(res, d["cluster"].to_numpy(), small_sample=ss)
    compare(rob, case["robust"][ss], 1 if case.get("mods") is None else 2)
    if case.get("mods") is not None:
        _check_qm(rob, case["robust"][ss])


def test_cr1_is_cr0_scaled_and_ignores_row_order():
    d = frame("assink2016")
    res = pool(d["yi"].to_numpy(), d["vi"].to_numpy())
    rob = robust(res, d["cluster"].to_numpy())
    perm = np.random.default_rng(3).permutation(len(d))
    res_p = pool(d["yi"].to_numpy()[perm], d["vi"].to_numpy()[perm])
    rob_p = robust(res_p, d["cluster"].to_numpy()[perm])
    assert rob.se == pytest.approx(rob_p.se, rel=1e-12)
    # one row per cluster: CR1 is the HC1-type sandwich with n/(n-1)
    k = len(d)
    single = robust(res, np.arange(k))
    w = 1 / (res.vi + res.tau2)
    e = res.yi - res.coef
    hc0 = (w**2 * e**2).sum() / w.sum() ** 2
    assert single.se**2 == pytest.approx(hc0 * k / (k - 1), rel=1e-12)


def test_fewer_than_two_clusters():
    res = pool([0.1, 0.3, 0.5, 0.2], [0.02] * 4)
    for ss in ("CR1", "CR2"):
        with pytest.raises(ValueError, match="at least 2 clusters"):
            robust(res, ["a"] * 4, small_sample=ss)


def test_cr1_needs_more_clusters_than_coefficients():
    reg = meta_regression([0.1, 0.3, 0.5, 0.2, 0.9, 0.4], [0.02] * 6, [1.0, 2, 3, 4, 5, 6],
                          method="DL")
    with pytest.raises(ValueError, match=r"number of clusters \(2\) must be larger"):
        robust(reg, [1, 1, 1, 2, 2, 2])


def test_cr2_needs_nested_clusters():
    res = pool_multilevel([0.1, 0.3, 0.5, 0.2, 0.8, 0.9], [0.02] * 6, cluster=[1, 1, 2, 2, 3, 3])
    with pytest.raises(ValueError, match="nested"):
        robust(res, [1, 2, 1, 2, 1, 2], small_sample="CR2")
    robust(res, [1, 2, 1, 2, 1, 2])  # CR1 has no such requirement (metafor neither)


@pytest.mark.parametrize("bad, msg", [
    (dict(cluster=[1, 2, None, 2]), "row 3 has no cluster"),
    (dict(cluster=[1, 2, 2]), "each of the 4 rows"),
    (dict(small_sample="CR3"), "expected 'CR1' or 'CR2'"),
    (dict(cluster="study"), "no data= DataFrame"),
])
def test_bad_input(bad, msg):
    res = pool([0.1, 0.3, 0.5, 0.2], [0.02] * 4)
    args = dict(cluster=[1, 1, 2, 2])
    args.update(bad)
    cl = args.pop("cluster")
    with pytest.raises(ValueError, match=msg):
        robust(res, cl, **args)


def test_glmm_results_are_refused():
    import iometa

    res = iometa.pool_proportions([3, 5, 2, 8], [20, 25, 30, 40], method="GLMM")
    with pytest.raises(ValueError, match="inverse-variance model"):
        robust(res, [1, 1, 2, 2])


def test_knha_fit_uses_the_working_weights_only():
    # metafor 3.8-1 builds its bread from x$vb, which for a test="knha" fit carries the
    # Knapp-Hartung factor s^2 (so its robust SE is s^2 times the one of the z fit: 0.07456
    # vs 0.07640 for dat.konstantopoulos2011); iometa uses the working weights, as for z
    d = frame("konstantopoulos2011")
    y, v, cl = d["yi"].to_numpy(), d["vi"].to_numpy(), d["cluster"].to_numpy()
    rz = robust(pool(y, v), cl)
    rk = robust(pool(y, v, test="knha"), cl)
    assert rk.se == pytest.approx(rz.se, rel=1e-12)
    assert rz.se == pytest.approx(0.07639674, rel=1e-6)

"""User weights (``pool(weights=)``) and unweighted estimation (``pool(weighted=False)``)
against metafor 3.8-1's ``rma(weights=)`` / ``rma(weighted=FALSE)``.

Fixture: tests/reference/weights.json, written by tests/reference/R/weights.R
(``Rscript tests/reference/make_reference.R weights``); compared at
``|a - b| <= 1e-6 |b| + 1e-10`` (b = R). metafor's ``test="adhoc"`` is iometa's
``test="knha", adhoc=True``.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
from _fixture import decode

import iometa

FIX = json.loads((Path(__file__).parent / "reference" / "weights.json").read_text())
RTOL, ATOL = 1e-6, 1e-10


def close(a, b, what):
    a = np.atleast_1d(np.asarray(a, dtype=float))
    b = np.atleast_1d(decode(b))
    assert a.shape == b.shape, what
    ok = (np.isnan(a) & np.isnan(b)) | (np.abs(a - b) <= RTOL * np.abs(b) + ATOL)
    assert ok.all(), f"{what}: iometa {a} vs metafor {b}"


@pytest.mark.parametrize("case", sorted(FIX["fits"]))
def test_weights_match_rma(case):
    dn, method, test, kind = case.split("/")
    d = FIX["datasets"][dn]
    y, v, w = decode(d["yi"]), decode(d["vi"]), decode(d["w"])
    kw = dict(method=method, test="knha" if test == "adhoc" else test, adhoc=test == "adhoc")
    kw.update(weights=w) if kind == "weights" else kw.update(weighted=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = iometa.pool(y, v, **kw)
    ref = FIX["fits"][case]
    close([res.coef, res.se, res.stat, res.pval, res.coef_ci_low, res.coef_ci_high, res.tau2,
           res.q, res.i2], [ref[a] for a in ("beta", "se", "zval", "pval", "ci_lb", "ci_ub",
                                            "tau2", "QE", "I2")], case)
    if method != "FE":
        close([res.pi_low, res.pi_high], [ref["pi_lb"], ref["pi_ub"]], f"{case} PI")
    close(res.studies["weight"], ref["weights"], f"{case} weights")
    again = res.refit(list(range(res.k)))
    assert again.coef == pytest.approx(res.coef, rel=1e-12)


def test_weights_errors_and_verbs():
    y, v = [0.1, 0.5, 0.9], [0.04, 0.05, 0.06]
    with pytest.raises(ValueError, match="weights must be 3"):
        iometa.pool(y, v, weights=[1, 2])
    with pytest.raises(ValueError, match="exclude each other"):
        iometa.pool(y, v, weights=[1, 2, 3], weighted=False)
    res = iometa.pool(y, v, weights=[1, 2, 3])
    with pytest.raises(ValueError, match="user weights"):
        res.blup()
    assert "user weights" in res.summary()
    sub = res.refit([0, 1])
    assert sub.coef == pytest.approx((0.1 + 2 * 0.5) / 3, rel=1e-12)


@pytest.mark.parametrize("case", sorted(FIX.get("genq", {})))
def test_genq_matches_rma(case):
    from iometa.core.regression import estimate_tau2_mods

    dn, wt, test = case.split("/")
    d = FIX["datasets"][dn]
    y, v, w = decode(d["yi"]), decode(d["vi"]), decode(d["w"])
    ref = FIX["genq"][case]
    a = w if wt == "w" else 1 / v
    if test == "reg":
        X = np.column_stack([np.ones(y.size), np.arange(1.0, y.size + 1)])
        close(estimate_tau2_mods(y, v, X, "GENQ", weights=a)[0], ref["tau2"], case)
        return
    res = iometa.pool(y, v, method="GENQ", weights=a, test=test)
    close([res.tau2, res.se_tau2, res.coef, res.se, res.coef_ci_low, res.coef_ci_high, res.i2],
          [ref[x] for x in ("tau2", "se_tau2", "beta", "se", "ci_lb", "ci_ub", "I2")], case)
    ci = res.confint(type="QP")
    close([ci.loc["tau2", "ci_low"], ci.loc["tau2", "ci_high"]], ref["tau2_ci"], f"{case} CI")


def test_genq_needs_weights():
    with pytest.raises(ValueError, match="GENQ' needs weights"):
        iometa.pool([0.1, 0.5, 0.9], [0.04, 0.05, 0.06], method="GENQ")

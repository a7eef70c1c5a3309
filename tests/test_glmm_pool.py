"""pool_proportions(method="GLMM") against metafor::rma.glmm (fixtures from tests/reference/glmm.json)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

import iometa

CASES = json.loads((Path(__file__).parent / "reference" / "glmm.json").read_text())["cases"]
RTOL = 1e-4  # the GLMM tolerance; nagq=7 agrees to ~1e-5 (see tests/test_glmm.py)


def _close(a, b, rtol=RTOL):
    return abs(a - b) <= rtol * abs(b) + 1e-8


def _fit(case, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return iometa.pool_proportions(case["xi"], case["ni"], method="GLMM", **kw)


@pytest.mark.parametrize("case", [c for c in CASES if "nagq7" in c["fits"]
                                  and "b" in c["fits"]["nagq7"]], ids=lambda c: c["name"])
def test_glmm_result_matches_rma_glmm(case):
    ref = case["fits"]["nagq7"]
    res = _fit(case)
    assert res.method == "GLMM" and res.measure == "PLO"
    checks = {
        "coef": (res.coef, ref["b"]), "se": (res.se, ref["se"]), "stat": (res.stat, ref["zval"]),
        "tau2": (res.tau2, ref["tau2"]), "q": (res.q, ref["QE_Wld"]),
        "q_pval": (res.q_pval, ref["QEp_Wld"]), "i2": (res.i2, ref["I2"]),
        "h2": (res.h2, ref["H2"]),
        "coef_ci_low": (res.coef_ci_low, ref["predict"]["ci_lb"]),
        "coef_pi_high": (res.coef_pi_high, ref["predict"]["pi_ub"]),
        "estimate": (res.estimate, ref["predict_ilogit"]["pred"]),
        "ci_low": (res.ci_low, ref["predict_ilogit"]["ci_lb"]),
        "ci_high": (res.ci_high, ref["predict_ilogit"]["ci_ub"]),
        "pi_low": (res.pi_low, ref["predict_ilogit"]["pi_lb"]),
        "pi_high": (res.pi_high, ref["predict_ilogit"]["pi_ub"]),
    }
    bad = {k: v for k, v in checks.items() if not _close(*v)}
    assert not bad, bad
    assert res.extra["q_lrt"] == pytest.approx(ref["QE_LRT"], rel=RTOL)


@pytest.mark.parametrize("case", [c for c in CASES if "test_t" in c["fits"].get("nagq7", {})],
                         ids=lambda c: c["name"])
def test_glmm_knha_is_metafor_test_t(case):
    ref = case["fits"]["nagq7"]["test_t"]
    res = _fit(case, test="knha")
    assert res.df == ref["ddf"]
    assert _close(res.pval, ref["pval"]) and _close(res.coef_ci_high, ref["ci_ub"])


def test_glmm_refit_and_subgroup_ready():
    case = CASES[0]
    res = _fit(case)
    sub = res.refit([0, 1, 2, 3, 4])
    assert sub.method == "GLMM" and sub.k == 5
    assert np.isfinite(sub.estimate)


def test_glmm_needs_two_studies():
    with pytest.raises(ValueError, match="at least 2 studies"):
        iometa.pool_proportions([3], [10], method="GLMM")


def test_shared_glmm_fits_fit_each_set_of_counts_once(monkeypatch):
    """Within shared_glmm_fits (method_sensitivity uses it) the z and t results of the same
    counts come from one fit, and give what two separate fits give; nothing is kept after."""
    from iometa.core import glmm, glmm_result
    from iometa.diagnostics.sensitivity import method_sensitivity

    x, n = [13, 4, 9, 7, 11, 3], [51, 30, 40, 35, 44, 20]
    alone = [iometa.pool_proportions(x, n, method="GLMM", test=t) for t in ("z", "knha")]
    calls = []
    real = glmm.fit_glmm_logit
    monkeypatch.setattr(glmm, "fit_glmm_logit", lambda *a, **k: calls.append(1) or real(*a, **k))
    with glmm_result.shared_glmm_fits():
        shared = [iometa.pool_proportions(x, n, method="GLMM", test=t) for t in ("z", "knha")]
        iometa.pool_proportions([1, 2], [10, 10], method="GLMM")  # other counts: own fit
    assert len(calls) == 2
    for a, b in zip(alone, shared):
        assert (a.estimate, a.ci_low, a.pi_high, a.pval, a.tau2, a.warnings) == \
            (b.estimate, b.ci_low, b.pi_high, b.pval, b.tau2, b.warnings)
    assert glmm_result._SHARED.get() is None
    calls.clear()
    tab = method_sensitivity(x, n, measures=("GLMM",))
    assert len(calls) == 1 and tab["test"].tolist() == ["z", "knha"]
    assert tab["estimate"].tolist() == [alone[0].estimate, alone[1].estimate]

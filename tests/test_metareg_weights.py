"""meta_regression(weights=) = metafor rma(yi, vi, mods, weights = w) (issue 24): user weights
for the coefficients and their variance; τ², Q_E from the inverse-variance fit; z or
Knapp–Hartung. Fixture: tests/reference/metareg_weights.json (R/metareg_weights.R), dat.bcg
log risk ratios weighted by the total sample size, REML/DL/FE × z/knha × 1 or 2 moderators."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import iometa
from iometa._warnings import IometaWarning

REF = json.loads((Path(__file__).parent / "reference" / "metareg_weights.json").read_text())
D = pd.DataFrame({k: np.asarray(v, dtype=float) for k, v in REF["data"].items()})
RTOL = 1e-6


@pytest.mark.parametrize("case", REF["cases"],
                         ids=lambda c: f"{c['method']}-{c['test']}-{c['mods']}")
def test_weighted_meta_regression_equals_metafor(case):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", IometaWarning)
        reg = iometa.meta_regression("yi", "vi", case["mods"], data=D, method=case["method"],
                                     test=case["test"], weights="w")
    for ours, key in ((reg.beta, "b"), (reg.se, "se"), (reg.stat, "stat"),
                      (reg.ci_low, "ci_lb"), (reg.ci_high, "ci_ub")):
        np.testing.assert_allclose(ours, case[key], rtol=RTOL, err_msg=key)
    np.testing.assert_allclose(reg.pval, case["pval"], rtol=RTOL, atol=1e-300)
    np.testing.assert_allclose(reg.vcov.ravel(order="F"), case["vb"], rtol=RTOL)
    assert reg.tau2 == pytest.approx(case["tau2"], rel=RTOL, abs=1e-12)
    assert reg.qe == pytest.approx(case["QE"], rel=RTOL)
    assert reg.qm == pytest.approx(case["QM"], rel=RTOL)
    assert reg.qm_pval == pytest.approx(case["QMp"], rel=RTOL, abs=1e-300)
    new = [[30.0]] if case["mods"] == "ablat" else [[30.0, 1970.0]]
    assert reg.predict(new)["pred"].iloc[0] == pytest.approx(case["pred"][0], rel=RTOL)
    assert any("user weights" in n for n in reg.warnings)


def test_equal_weights_under_fe_give_the_unweighted_fit():
    a = iometa.meta_regression("yi", "vi", "ablat", data=D, method="FE")
    b = iometa.meta_regression("yi", "vi", "ablat", data=D, method="FE",
                               weights=1 / D["vi"].to_numpy())
    np.testing.assert_allclose(a.beta, b.beta, rtol=1e-12)
    np.testing.assert_allclose(a.se, b.se, rtol=1e-10)


def test_bad_weights_are_refused():
    with pytest.raises(ValueError, match="weights must be 13 finite non-negative"):
        iometa.meta_regression("yi", "vi", "ablat", data=D, weights=-D["w"].to_numpy())
    with pytest.raises(ValueError, match="weights must be 13"):
        iometa.meta_regression("yi", "vi", "ablat", data=D, weights=[1.0, 2.0])

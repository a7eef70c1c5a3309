"""gosh() on Mantel-Haenszel and Peto results = metafor's gosh.rma.mh / gosh.rma.peto (the
model refitted on every subset), and the errors of the diagnostics that metafor defines only for
inverse-variance models. Fixture: tests/reference/gosh_mh.json (tests/reference/R/gosh_mh.R)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import iometa

REF = json.loads((Path(__file__).parent / "reference" / "gosh_mh.json").read_text())
D = REF["data"]
CASES = {"MH_OR": dict(measure="OR", method="MH"), "MH_RR": dict(measure="RR", method="MH"),
         "Peto": dict(measure="OR", method="Peto")}


def _fit(name):
    return iometa.pool_two_groups(D["ai"], D["n1"], D["ci"], D["n2"], **CASES[name])


@pytest.mark.parametrize("name", list(CASES))
def test_gosh_of_mh_and_peto_equals_metafor(name):
    ref = REF["cases"][name]
    g = iometa.gosh(_fit(name)).sort_values("subset", ignore_index=True)
    assert g["subset"].tolist() == [int(x) for x in ref["subset"]]
    assert g["k"].tolist() == [int(x) for x in ref["k"]]
    np.testing.assert_allclose(g["coef"], ref["estimate"], rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(g["q"], ref["QE"], rtol=1e-6, atol=1e-10)
    np.testing.assert_allclose(g["i2"], ref["I2"], rtol=1e-6, atol=1e-8)
    assert (g["tau2"] == 0).all()


def test_gosh_refuses_to_switch_model_family():
    with pytest.raises(ValueError, match="cannot switch a MH result"):
        iometa.gosh(_fit("MH_OR"), method="REML")


def test_influence_on_mh_names_the_alternatives():
    with pytest.raises(ValueError, match=r"rma.mh/rma.peto\); for a MH result use "
                                         r"leave_one_out"):
        iometa.influence(_fit("MH_OR"))


def test_mh_summary_has_no_tau2_estimator_lines_but_the_cmh_test():
    res = _fit("MH_OR")
    text = res.summary()
    assert "tau^2 estimator" not in text and "(estimated amount of total" not in text
    assert f"CMH = {res.extra['cmh_stat']:.4f}" in text
    assert "Tarone's Test for Heterogeneity" in text
    assert "PI" not in text.split("reporting scale")[1].split("\n")[0]

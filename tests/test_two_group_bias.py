"""Small-study tests on comparative results (fixtures: tests/reference/R/two_group_bias.R).

metafor: ``regtest(rma.mh(ai, bi, ci, di, measure=))`` and ``regtest(rma.peto(...))``: Egger's
test as a common-effect meta-regression of the studies with a defined effect.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

import iometa
from tests._fixture import decode

REF = json.loads((Path(__file__).parent / "reference" / "two_group_bias.json").read_text())
D = {k: decode(v) for k, v in REF["data"].items()}


@pytest.mark.parametrize("case", REF["cases"], ids=lambda c: f"{c['method']}-{c['measure']}")
def test_egger_on_mh_and_peto_matches_regtest(case):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = iometa.pool_two_groups(D["ai"], D["n1"], D["ci"], D["n2"],
                                     measure=case["measure"], method=case["method"])
        eg = iometa.egger_test(res)
    assert eg.method == "FE"
    assert eg.stat == pytest.approx(decode(case["zval"]), rel=1e-6)
    assert eg.pval == pytest.approx(decode(case["pval"]), rel=1e-6)
    assert eg.limit_estimate == pytest.approx(decode(case["est"]), rel=1e-6)


def test_trim_and_fill_refuses_mh_with_the_way_out():
    res = iometa.pool_two_groups(D["ai"], D["n1"], D["ci"], D["n2"], measure="OR", method="MH")
    with pytest.raises(ValueError, match="rma.uni only"):
        iometa.trim_and_fill(res)
    assert iometa.trim_and_fill(res.refit(method="FE")).k0 >= 0
    assert np.isfinite(res.refit(method="FE").estimate)

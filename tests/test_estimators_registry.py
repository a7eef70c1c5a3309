"""One home for the τ² methods: the registry, and the two kernels that read it.

The intercept-only batch kernel (:mod:`iometa.core.estimators`, used by ``pool`` and
``pool_many``) and the design-matrix kernel (:mod:`iometa.core.regression`, used by
meta-regression, Egger/Peters and trim-and-fill) must give the same fit when X is a column of
ones, for every method of the registry.
"""

from __future__ import annotations

import numpy as np
import pytest

from iometa.core import estimators
from iometa.core.estimators import METHODS, REGISTRY
from iometa.core.fitting import fit_one
from iometa.core.regression import estimate_tau2_mods, fit_regression_arrays
from iometa.core.results import _METHOD_NAMES

DATASETS = {
    # heterogeneous (τ² > 0 for every estimator)
    "bcg": ([-0.889, -1.585, -1.348, -1.442, -0.218, -0.786, -1.621, 0.012, -0.469, -1.371,
             -0.339, 0.446, -0.017],
            [0.326, 0.195, 0.415, 0.020, 0.051, 0.007, 0.223, 0.004, 0.056, 0.073, 0.012,
             0.533, 0.071]),
    # homogeneous: the likelihood estimators sit at the boundary τ² = 0
    "homogeneous": ([0.10, 0.12, 0.09, 0.11, 0.105], [0.04, 0.05, 0.06, 0.05, 0.045]),
    # k = 3 with unequal variances
    "small": ([0.1, 0.5, 0.9], [0.04, 0.05, 0.06]),
}


def test_registry_is_the_only_list_of_methods():
    assert METHODS == tuple(REGISTRY) == ("FE", "DL", "HE", "HS", "SJ", "ML", "REML", "EB", "PM",
                                          "HSk", "PMM", "DLIT", "SJIT", "GENQ")
    assert set(estimators.TAU2) == set(REGISTRY)
    assert {m.kind for m in REGISTRY.values()} == {"fixed", "moment", "likelihood", "q_root",
                                                      "iterated"}
    for code, m in REGISTRY.items():
        assert _METHOD_NAMES[code] == m.name


@pytest.mark.parametrize("name", sorted(DATASETS))
@pytest.mark.parametrize("method", [m for m in METHODS if m != "GENQ"])
@pytest.mark.parametrize("test", ["z", "knha"])
def test_regression_with_intercept_only_equals_intercept_kernel(name, method, test):
    y, v = (np.asarray(a, float) for a in DATASETS[name])
    one = fit_one(y, v, method=method, test=test)
    reg = fit_regression_arrays(y, v, np.ones((y.size, 1)), method=method, test=test)
    assert float(reg.tau2[0]) == pytest.approx(one["tau2"], rel=1e-9, abs=1e-13)
    assert float(reg.beta[0, 0]) == pytest.approx(one["coef"], rel=1e-9, abs=1e-13)
    assert float(reg.se[0, 0]) == pytest.approx(one["se"], rel=1e-9)
    assert float(reg.ci_low[0, 0]) == pytest.approx(one["ci_low"], rel=1e-9, abs=1e-13)
    assert float(reg.qe[0]) == pytest.approx(one["q"], rel=1e-9, abs=1e-13)
    t2, conv, _ = estimate_tau2_mods(y, v, np.ones((y.size, 1)), method)
    assert bool(conv[0]) == bool(one["converged"])  # DLIT may cycle: in both kernels
    assert float(t2[0]) == pytest.approx(one["tau2"], rel=1e-9, abs=1e-13)


def test_unknown_method_is_refused_by_both_kernels():
    y, v = DATASETS["small"]
    with pytest.raises(ValueError, match="unknown method 'XX'"):
        estimate_tau2_mods(y, v, np.ones((3, 1)), "XX")
    with pytest.raises(ValueError, match="unknown method 'XX'"):
        estimators.estimate_tau2(np.array([y]), np.array([v]), method="XX")


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_genq_with_weights_is_the_same_in_both_kernels(name):
    y, v = (np.asarray(a, float) for a in DATASETS[name])
    a = np.linspace(1.0, 2.0, y.size)
    t2, conv, _ = estimate_tau2_mods(y, v, np.ones((y.size, 1)), "GENQ", weights=a)
    assert conv.all()
    assert float(t2[0]) == pytest.approx(estimators.tau2_genq(y, v, a), rel=1e-9, abs=1e-13)
    # with inverse-variance weights GENQ is DerSimonian-Laird
    dl = fit_one(y, v, method="DL")["tau2"]
    assert estimators.tau2_genq(y, v, 1 / v) == pytest.approx(dl, rel=1e-9, abs=1e-13)
    with pytest.raises(ValueError, match="needs the weights"):
        fit_one(y, v, method="GENQ")

"""Property-based tests of the pooling engine (hypothesis)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import iometa

METHODS = ["FE", "DL", "HE", "HS", "SJ", "ML", "REML", "EB", "PM"]
SETTINGS = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])

effects = st.integers(min_value=2, max_value=12).flatmap(
    lambda k: st.tuples(
        st.lists(st.floats(-5, 5, allow_nan=False), min_size=k, max_size=k),
        st.lists(st.floats(1e-3, 2.0, allow_nan=False), min_size=k, max_size=k),
    )
)
counts = st.integers(min_value=2, max_value=10).flatmap(
    lambda k: st.lists(
        st.integers(1, 300).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))),
        min_size=k, max_size=k,
    )
)


def _pool(y, v, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return iometa.pool(np.asarray(y), np.asarray(v), **kw)


def _close(a, b, rel=1e-7, abs_=1e-9):
    return abs(a - b) <= rel * max(abs(a), abs(b)) + abs_


@SETTINGS
@given(effects, st.sampled_from(METHODS), st.randoms(use_true_random=False))
def test_permutation_invariance(data, method, rnd):
    y, v = data
    perm = list(range(len(y)))
    rnd.shuffle(perm)
    a = _pool(y, v, method=method)
    b = _pool(np.asarray(y)[perm], np.asarray(v)[perm], method=method)
    assert _close(a.coef, b.coef) and _close(a.tau2, b.tau2) and _close(a.q, b.q)


@SETTINGS
@given(effects, st.sampled_from(METHODS), st.floats(-10, 10))
def test_shift_moves_estimate_not_tau2(data, method, shift):
    y, v = data
    a = _pool(y, v, method=method)
    b = _pool(np.asarray(y) + shift, v, method=method)
    assert _close(b.coef, a.coef + shift, abs_=1e-7)
    assert _close(a.tau2, b.tau2, rel=1e-6, abs_=1e-9)


@SETTINGS
@given(effects, st.sampled_from(METHODS), st.floats(0.1, 10))
def test_scaling(data, method, c):
    y, v = data
    a = _pool(y, v, method=method)
    b = _pool(np.asarray(y) * c, np.asarray(v) * c * c, method=method)
    assert _close(b.coef, a.coef * c, rel=1e-6, abs_=1e-8)
    assert _close(b.tau2, a.tau2 * c * c, rel=1e-6, abs_=1e-8)
    assert _close(b.i2, a.i2, rel=1e-6, abs_=1e-6)


@SETTINGS
@given(effects, st.sampled_from(METHODS), st.sampled_from(["z", "knha"]))
def test_bounds_and_interval_nesting(data, method, test):
    y, v = data
    r = _pool(y, v, method=method, test=test)
    assert r.tau2 >= 0
    assert 0 <= r.i2 <= 100
    assert r.ci_low <= r.estimate <= r.ci_high
    assert r.pi_low <= r.ci_low + 1e-12 and r.pi_high >= r.ci_high - 1e-12
    if method != "FE":
        lo, hi = r.tau2_ci
        assert 0 <= lo <= hi


@SETTINGS
@given(effects)
def test_common_effect_between_extremes(data):
    y, v = data
    r = _pool(y, v, method="FE")
    assert min(y) - 1e-9 <= r.estimate <= max(y) + 1e-9


@SETTINGS
@given(counts, st.sampled_from(["PLO", "PAS", "PFT"]), st.sampled_from(["DL", "REML", "PM"]))
def test_bounded_backtransforms_stay_in_unit_interval(data, measure, method):
    x, n = zip(*data)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = iometa.pool_proportions(list(x), list(n), measure=measure, method=method)
    for name in ("estimate", "ci_low", "ci_high", "pi_low", "pi_high"):
        val = getattr(r, name)
        assert 0.0 <= val <= 1.0, (name, val)


@SETTINGS
@given(counts, st.sampled_from(["PR", "PLN"]))
def test_unbounded_backtransforms_warn_when_outside(data, measure):
    x, n = zip(*data)
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        r = iometa.pool_proportions(list(x), list(n), measure=measure, method="DL")
    vals = [r.estimate, r.ci_low, r.ci_high, r.pi_low, r.pi_high]
    outside = any(not 0 <= val <= 1 for val in vals)
    warned = any(issubclass(w.category, iometa.TransformWarning) and "outside" in str(w.message)
                 for w in rec)
    assert outside == warned


@pytest.mark.parametrize("method", METHODS)
def test_batch_of_one_equals_single_fit(method):
    from iometa.core.fitting import fit_arrays

    rng = np.random.default_rng(7)
    y, v = rng.normal(size=(5, 8)), rng.uniform(0.01, 0.3, size=(5, 8))
    mask = np.ones_like(y, bool)
    mask[2, 5:] = False
    fit = fit_arrays(y, v, mask, method=method)
    for b in range(5):
        r = _pool(y[b][mask[b]], v[b][mask[b]], method=method)
        assert fit.coef[b] == pytest.approx(r.coef, rel=1e-10, abs=1e-12)
        assert fit.tau2[b] == pytest.approx(r.tau2, rel=1e-10, abs=1e-12)

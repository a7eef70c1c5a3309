"""Property-based tests (hypothesis) of the pooling functions beyond the engine (issue 16).

tests/test_properties.py covers :func:`iometa.pool` and the inverse-variance
:func:`iometa.pool_proportions`; here: :func:`iometa.pool_medians` (scaling and permutation on
every route), :func:`iometa.pool_survival_rates` (permutation, bounds, the common-effect
estimate between the study rates), :func:`iometa.subgroups` (groups are separate pools; study
order does not matter) and the binomial-normal GLMM (permutation, bounds).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import iometa
from iometa import IometaWarning

SETTINGS = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])
SLOW = settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FIELDS = ("estimate", "ci_low", "ci_high", "pi_low", "pi_high")


def quiet(fn, *args, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", IometaWarning)
        return fn(*args, **kw)


def close(a, b, rel=1e-7, abs_=1e-10):
    if isinstance(a, float) and math.isnan(a):
        return isinstance(b, float) and math.isnan(b)
    return abs(a - b) <= rel * max(abs(a), abs(b)) + abs_


def permuted(rnd, k):
    perm = list(range(k))
    rnd.shuffle(perm)
    return np.array(perm)


# ---------------------------------------------------------------- medians
medians = st.integers(min_value=2, max_value=8).flatmap(lambda k: st.tuples(
    st.lists(st.floats(1.0, 100.0), min_size=k, max_size=k),
    st.lists(st.floats(0.05, 1.5), min_size=k, max_size=k),  # log(M / L)
    st.lists(st.floats(0.05, 1.5), min_size=k, max_size=k),  # log(U / M)
    st.lists(st.integers(5, 500), min_size=k, max_size=k),
))
ROUTES = st.sampled_from(["iv", "mm", "wm"])


def _pool_medians(m, a, b, n, c=1.0, **kw):
    m = np.asarray(m)
    kw.setdefault("labels", [f"S{i}" for i in range(m.size)])
    return quiet(iometa.pool_medians, c * m, ci_low=c * m * np.exp(-np.asarray(a)),
                 ci_high=c * m * np.exp(b), n=n, **kw)


@SETTINGS
@given(medians, st.floats(0.1, 10.0), ROUTES, st.sampled_from(["FE", "DL", "REML", "PM"]),
       st.sampled_from(["log", "identity"]))
def test_medians_scale_with_the_time_unit(data, c, route, method, scale):
    """Medians and CIs in other units (weeks instead of months): the pooled median, CI and PI
    are multiplied by c; on the log scale tau^2 is unchanged (identity: multiplied by c^2)."""
    a = _pool_medians(*data, route=route, method=method, scale=scale)
    b = _pool_medians(*data, c=c, route=route, method=method, scale=scale)
    for name in FIELDS:
        assert close(getattr(b, name), c * getattr(a, name), 1e-6), name
    if route == "iv":
        factor = 1.0 if scale == "log" else c * c
        assert close(b.tau2, factor * a.tau2, 1e-6, 1e-9)
        assert close(b.i2, a.i2, 1e-6, 1e-6)


@SETTINGS
@given(medians, ROUTES, st.sampled_from(["DL", "REML"]), st.randoms(use_true_random=False))
def test_medians_permutation_invariance(data, route, method, rnd):
    m, lo, hi, n = (np.asarray(x) for x in data)
    p = permuted(rnd, m.size)
    a = _pool_medians(m, lo, hi, n, route=route, method=method)
    b = _pool_medians(m[p], lo[p], hi[p], n[p], route=route, method=method,
                      labels=[f"S{i}" for i in p])
    for name in (*FIELDS, "tau2", "q"):
        assert close(getattr(a, name), getattr(b, name), 1e-7, 1e-12), name
    assert list(b.studies["label"]) == [a.studies["label"].iloc[i] for i in p]
    assert np.allclose(b.studies["weight"], a.studies["weight"].to_numpy()[p], 1e-9, 1e-12)


# ---------------------------------------------------------------- survival rates
# reported rates: 0, 1 or 0.01 % to 99.99 % (a rate of 1e-300 with n = 40 is no binomial
# count: ValueError, tests/test_edge_cases.py)
RATE = st.one_of(st.just(0.0), st.just(1.0), st.floats(1e-4, 1 - 1e-4))
rates = st.integers(min_value=2, max_value=10).flatmap(lambda k: st.tuples(
    st.lists(RATE, min_size=k, max_size=k),
    st.lists(st.integers(1, 400), min_size=k, max_size=k),
))
SCALES = st.sampled_from(["cloglog", "logit"])


@SETTINGS
@given(rates, SCALES, st.sampled_from(["FE", "DL", "REML", "PM"]),
       st.sampled_from(["z", "knha"]), st.randoms(use_true_random=False))
def test_survival_rates_permutation_and_bounds(data, scale, method, test, rnd):
    s, n = (np.asarray(x, float) for x in data)
    p = permuted(rnd, s.size)
    a = quiet(iometa.pool_survival_rates, s, n, scale=scale, method=method, test=test)
    b = quiet(iometa.pool_survival_rates, s[p], n[p], scale=scale, method=method, test=test)
    for name in (*FIELDS, "tau2"):
        assert close(getattr(a, name), getattr(b, name), 1e-7, 1e-12), name
    vals = [getattr(a, name) for name in FIELDS]
    assert all(0.0 <= x <= 1.0 for x in vals), vals
    assert a.pi_low <= a.ci_low <= a.estimate <= a.ci_high <= a.pi_high


@SETTINGS
@given(rates, SCALES)
def test_survival_rates_common_effect_between_the_study_rates(data, scale):
    """The common-effect estimate is a weighted mean on a monotone scale: between the smallest
    and largest study rate (after the 0.5 correction of rates of exactly 0 or 1)."""
    s, n = (np.asarray(x, float) for x in data)
    res = quiet(iometa.pool_survival_rates, s, n, scale=scale, method="FE")
    corr = (s == 0) | (s == 1)
    used = np.where(corr, (s * n + 0.5) / (n + 1), s)
    assert used.min() - 1e-9 <= res.estimate <= used.max() + 1e-9


# ---------------------------------------------------------------- subgroups
grouped = st.integers(min_value=4, max_value=12).flatmap(lambda k: st.tuples(
    st.lists(st.floats(-3, 3), min_size=k, max_size=k),
    st.lists(st.floats(1e-2, 1.0), min_size=k, max_size=k),
    st.lists(st.sampled_from(["RFA", "MWA", "TACE"]), min_size=k, max_size=k),
))
RE = st.sampled_from(["FE", "DL", "REML", "PM"])


@SETTINGS
@given(grouped, RE, st.sampled_from(["z", "knha"]))
def test_subgroups_are_separate_pools(data, method, test):
    y, v, g = (np.asarray(x) for x in data)
    sub = quiet(iometa.subgroups, quiet(iometa.pool, y, v, method=method, test=test), list(g))
    assert list(sub.groups) == list(pd.unique(g))
    for name, res in sub.groups.items():
        alone = quiet(iometa.pool, y[g == name], v[g == name], method=method, test=test)
        for field in ("coef", "se", "tau2", "q", "ci_low", "ci_high"):
            assert close(getattr(res, field), getattr(alone, field), 1e-10, 1e-12), field


@SETTINGS
@given(grouped, RE, st.randoms(use_true_random=False))
def test_subgroup_differences_do_not_depend_on_study_order(data, method, rnd):
    y, v, g = (np.asarray(x) for x in data)
    assume(len(set(g)) >= 2)
    p = permuted(rnd, y.size)
    a = quiet(iometa.subgroups, quiet(iometa.pool, y, v, method=method), list(g))
    b = quiet(iometa.subgroups, quiet(iometa.pool, y[p], v[p], method=method), list(g[p]))
    for kind in ("test_separate", "test_common"):
        qa, qb = getattr(a, kind).q, getattr(b, kind).q
        assert close(qa, qb, 1e-7, 1e-10), (kind, qa, qb)


# ---------------------------------------------------------------- GLMM
counts = st.integers(min_value=2, max_value=7).flatmap(lambda k: st.lists(
    st.integers(1, 200).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))),
    min_size=k, max_size=k))


@SLOW
@given(counts, st.sampled_from([7, 1]), st.randoms(use_true_random=False))
def test_glmm_permutation_invariance_and_bounds(data, nagq, rnd):
    x, n = (np.array(t, float) for t in zip(*data))
    assume(0 < x.sum() < n.sum())  # otherwise no MLE: a ValueError (tests/test_edge_cases.py)
    p = permuted(rnd, x.size)
    a = quiet(iometa.pool_proportions, x, n, method="GLMM", nagq=nagq)
    b = quiet(iometa.pool_proportions, x[p], n[p], method="GLMM", nagq=nagq)
    # the optimiser sums the studies in another order: agreement to its tolerance
    assert close(a.coef, b.coef, 1e-5, 1e-6) and close(a.tau2, b.tau2, 1e-4, 1e-7)
    assert close(a.se, b.se, 1e-4, 1e-7)
    vals = [getattr(a, name) for name in FIELDS]
    assert all(0.0 <= val <= 1.0 for val in vals), vals
    assert a.pi_low <= a.ci_low <= a.estimate <= a.ci_high <= a.pi_high

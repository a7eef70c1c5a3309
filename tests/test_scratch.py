"""The per-thread scratch arrays of the estimators (iometa.core._solve.scratch).

They are reused between fits to spare the page faults of fresh memory. These tests check the
three ways that could go wrong: a different number (the results must be bit for bit those of
fresh arrays), a result that is a view of a scratch array (overwritten by the next fit), and
threads sharing one set of arrays.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest

import iometa
from iometa.core import _solve
from iometa.core.fitting import fit_arrays, tau2_ci_qprofile

METHODS = ["REML", "ML", "PM", "EB", "DL", "HE", "HS", "SJ", "PMM", "HSk", "DLIT", "SJIT"]


def _batch(seed, shape=(300, 12), mask=False):
    rng = np.random.default_rng(seed)
    v = rng.uniform(0.005, 0.3, shape)
    y = rng.normal(0.2, np.sqrt(v + rng.uniform(0, 0.2, (shape[0], 1))))
    m = rng.random(shape) > 0.2 if mask else None
    return y, v, m


def _fields(fit):
    return {name: np.array(getattr(fit, name), dtype=float) for name in
            ("coef", "se", "tau2", "q", "i2", "h2", "ci_low", "pi_high", "n_iter", "weights")}


@pytest.fixture(autouse=True)
def views_at_every_size(monkeypatch):
    """The test batches are small: take the kept buffers' views at every size (by default
    arrays under SCRATCH_MIN elements are allocated afresh)."""
    monkeypatch.setattr(_solve, "SCRATCH_MIN", 0)


def _all_fits(y, v, m):
    out = {}
    for method in METHODS:
        for test in ("z", "knha"):
            out[method, test] = _fields(fit_arrays(y, v, m, method=method, test=test))
    out["single"] = _fields(fit_arrays(y[:1], v[:1], method="REML", test="knha"))
    out["qp"] = np.array(tau2_ci_qprofile(y, v, m))
    return out


@pytest.mark.parametrize("mask", [False, True])
def test_kept_buffers_give_the_numbers_of_fresh_arrays(mask, monkeypatch):
    y, v, m = _batch(1, mask=mask)
    kept = _all_fits(y, v, m)
    monkeypatch.setattr(_solve, "_SCRATCH", threading.local())
    monkeypatch.setattr(_solve, "SCRATCH_KEEP", 0)
    fresh = _all_fits(y, v, m)
    assert kept.keys() == fresh.keys()
    for key in kept:
        if isinstance(kept[key], dict):
            for name in kept[key]:
                np.testing.assert_array_equal(kept[key][name], fresh[key][name], err_msg=str(key))
        else:
            np.testing.assert_array_equal(kept[key], fresh[key])


def test_long_single_analysis_matches_fresh_arrays(monkeypatch):
    rng = np.random.default_rng(5)
    v = rng.uniform(0.01, 0.2, 20_000)
    y = rng.normal(0.3, np.sqrt(v + 0.05))
    kept = iometa.pool(y, v, method="REML", test="knha")
    monkeypatch.setattr(_solve, "_SCRATCH", threading.local())
    monkeypatch.setattr(_solve, "SCRATCH_KEEP", 0)
    fresh = iometa.pool(y, v, method="REML", test="knha")
    for name in ("coef", "se", "tau2", "q", "i2", "tau2_ci"):
        assert getattr(kept, name) == getattr(fresh, name), name


def test_results_are_not_views_of_the_buffers():
    y, v, m = _batch(2, mask=True)
    first = fit_arrays(y, v, m, method="REML", test="knha")
    before = _fields(first)
    for method in ("REML", "PM", "DLIT"):  # every sweep overwrites the buffers
        fit_arrays(*_batch(3, mask=True), method=method)
    after = _fields(first)
    for name in before:
        np.testing.assert_array_equal(before[name], after[name], err_msg=name)
    bufs = _solve._SCRATCH.bufs
    for name in ("coef", "tau2", "weights", "q", "se"):
        assert not any(np.shares_memory(getattr(first, name), b) for b in bufs), name


def test_deferred_fields_of_a_result_survive_later_fits():
    y, v, _ = _batch(4, shape=(1, 15))
    res = iometa.pool(y[0], v[0], method="REML")  # its tau² CI is computed on first access
    y2, v2, _ = _batch(5, shape=(1, 15))
    assert iometa.pool(y2[0], v2[0], method="PM").tau2_ci[1] > 0
    fit_arrays(*_batch(6), method="REML")
    lo, hi = tau2_ci_qprofile(y, v)
    assert res.tau2_ci == (float(lo[0]), float(hi[0]))


def test_threads_do_not_share_buffers():
    batches = [_batch(10 + i) for i in range(4)]
    serial = [_fields(fit_arrays(y, v, method="REML")) for y, v, _ in batches]
    got: dict[int, list] = {}
    start = threading.Barrier(len(batches))

    def work(i):
        y, v, _ = batches[i]
        start.wait()
        got[i] = [_fields(fit_arrays(y, v, method="REML")) for _ in range(15)]

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(batches))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i, runs in got.items():
        for fields in runs:
            for name in fields:
                np.testing.assert_array_equal(fields[name], serial[i][name])


def test_large_arrays_are_not_kept(monkeypatch):
    monkeypatch.setattr(_solve, "_SCRATCH", threading.local())
    monkeypatch.setattr(_solve, "SCRATCH_KEEP", 1000)
    fit_arrays(*_batch(7, shape=(200, 10)), method="REML")  # 2,000 elements: allocated
    # (the solver's working set shrinks as analyses converge: a small one may be kept)
    assert all(b.size <= 1000 for b in getattr(_solve._SCRATCH, "bufs", None) or [])
    monkeypatch.setattr(_solve, "_SCRATCH", threading.local())
    fit_arrays(*_batch(7, shape=(50, 10)), method="REML")  # 500: kept, and reused as views
    bufs = _solve._SCRATCH.bufs
    assert len(bufs) == 4 and all(b.size == 500 for b in bufs)
    views = _solve.scratch(np.empty((20, 10), order="F"), 3)
    assert all(a.flags.f_contiguous and a.shape == (20, 10) for a in views)
    assert all(np.shares_memory(a, b) for a, b in zip(views, bufs))

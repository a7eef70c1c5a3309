"""The scalar normal/χ² functions of one analysis (iometa.core._scalar_dist) equal scipy.special,
and the first pooled result in a fresh interpreter imports neither scipy.stats nor (on the
default z path) scipy.special (issue 27: first pooled result ≤ import numpy, pandas + 0.1 s).

Tolerance: 1e-13 relative (ndtr and the odd-df χ² tail below 1e-20: 1e-12, where cephes' erfc and the
C library's differ by ~1e-13).
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from scipy import special as sc

import iometa
from iometa.core import _scalar_dist as d


def rel(a, b):
    return abs(a - b) / abs(b) if b else abs(a)


def test_ndtr():
    rng = np.random.default_rng(1)
    for x in np.concatenate([np.linspace(-37, 8, 901), rng.normal(0, 3, 500)]):
        ref = float(sc.ndtr(x))
        assert rel(d.ndtr(float(x)), ref) <= (1e-12 if ref < 1e-20 else 1e-13), x


def test_ndtri():
    rng = np.random.default_rng(2)
    ps = np.concatenate([10 ** -np.linspace(1, 300, 300), rng.uniform(0, 1, 500),
                         1 - 10 ** -np.linspace(1, 15, 50), [0.975, 0.995, 0.95, 0.9]])
    for p in ps:
        assert rel(d.ndtri(float(p)), float(sc.ndtri(p))) <= 1e-13, p
    assert d.ndtri(0.5) == 0.0
    assert d.ndtri(0.0) is None and d.ndtri(1.0) is None and d.ndtri(float("nan")) is None


def test_chi2_sf():
    rng = np.random.default_rng(3)
    for df in [*range(1, 60), 77, 99, 100]:
        for x in [*rng.uniform(0, 3 * df + 30, 15), df, 1e-3, 1399.0]:
            ref = float(sc.chdtrc(df, x))
            tol = 1e-12 if ref < 1e-20 else 1e-13  # odd df: erfc's far tail, as in ndtr
            assert rel(d.chi2_sf(float(df), float(x)), ref) <= tol, (df, x)
    assert d.chi2_sf(3.0, 0.0) == 1.0
    # outside the exact range: None (the caller uses scipy.special)
    assert d.chi2_sf(101.0, 10.0) is None and d.chi2_sf(2.5, 1.0) is None
    assert d.chi2_sf(0.0, 1.0) is None and d.chi2_sf(3.0, 1500.0) is None
    assert d.chi2_sf(3.0, float("nan")) is None


def test_chi2_ppf():
    rng = np.random.default_rng(4)
    ps = [0.025, 0.975, 0.005, 0.995, 0.05, 0.95, 0.5, 1e-6, 1 - 1e-6, 1e-12,
          *rng.uniform(0, 1, 3)]
    for df in [*range(1, 40), 64, 99, 100]:
        for p in ps:
            assert rel(d.chi2_ppf(p, float(df)), 2 * float(sc.gammaincinv(df / 2, p))) <= 1e-13
    assert d.chi2_ppf(0.5, 1.5) is None and d.chi2_ppf(0.5, 101.0) is None
    assert d.chi2_ppf(0.0, 3.0) is None and d.chi2_ppf(1.0, 3.0) is None


@pytest.mark.parametrize("opts", [dict(), dict(method="DL"), dict(method="FE", level=0.9),
                                  dict(method="PM", test="knha")])
def test_scalar_and_batched_paths_agree(opts):
    """pool() (scalar path: math) against pool_many (arrays: scipy.special), every field."""
    import pandas as pd

    rng = np.random.default_rng(5)
    y, v = rng.normal(0.3, 0.3, 12), rng.uniform(0.01, 0.1, 12)
    res = iometa.pool(y, v, **opts)
    row = iometa.pool_many(pd.DataFrame({"g": 0, "yi": y, "vi": v}), by="g", **opts).iloc[0]
    for ours, theirs in [("pval", "pval"), ("q_pval", "q_pval"), ("ci_low", "ci_low"),
                         ("ci_high", "ci_high"), ("tau2", "tau2")]:
        a, b = float(getattr(res, ours)), float(row[theirs])
        assert abs(a - b) <= 1e-12 * abs(b) + 1e-15, (ours, a, b)


def test_first_pooled_result_imports_no_scipy_stats():
    code = ("import sys, iometa\n"
            "res = iometa.pool([0.1, 0.2, 0.3], [0.01, 0.02, 0.03])\n"
            "res.estimate, res.pval, res.q_pval, res.tau2_ci, str(res)\n"
            "assert 'scipy.stats' not in sys.modules, 'scipy.stats imported'\n"
            "assert 'scipy.special' not in sys.modules, 'scipy.special imported (z path)'\n"
            "res = iometa.pool([0.1, 0.2, 0.3], [0.01, 0.02, 0.03], method='DL', test='knha')\n"
            "res.pval, str(res)\n"
            "assert 'scipy.stats' not in sys.modules, 'scipy.stats imported (knha)'\n")
    subprocess.run([sys.executable, "-c", code], check=True)


# iometa.core.tails: scipy.stats' sf/ppf from scipy.special, the same bits and edge cases
_X = np.array([-np.inf, -3, -0.5, 0, 1e-300, 0.3, 1.96, 5, 40, 1e10, np.inf, np.nan])
_DF = [0, -1, 0.5, 1, 2, 3.5, 10, 1e6, np.inf, np.nan]
_Q = np.array([0, 1e-300, 0.025, 0.5, 0.975, 1, 1.5, -0.1, np.nan])


def _same(a, b):
    a, b = np.asarray(a), np.asarray(b)
    return a.shape == b.shape and np.array_equal(a, b, equal_nan=True)


@pytest.mark.parametrize("df", _DF)
def test_tails_equal_scipy_stats_bit_for_bit(df):
    from scipy import stats

    from iometa.core import tails

    with np.errstate(all="ignore"):
        assert _same(tails.t_sf(_X, df), stats.t.sf(_X, df))
        assert _same(tails.chi2_sf(_X, df), stats.chi2.sf(_X, df))
        assert _same(tails.t_ppf(_Q, df), stats.t.ppf(_Q, df))
        for df2 in _DF:
            assert _same(tails.f_sf(_X, df, df2), stats.f.sf(_X, df, df2)), df2
        for x in _X:  # scalars stay numpy scalars, as scipy.stats returns them
            a, b = tails.chi2_sf(x, df), stats.chi2.sf(x, df)
            assert type(a) is type(b) and _same(a, b)
        assert _same(tails.norm_sf(_X), stats.norm.sf(_X))
        assert _same(tails.norm_ppf(_Q), stats.norm.ppf(_Q))
        x = np.abs(np.random.default_rng(1).normal(size=(4, 5))) * 3  # broadcasting
        assert _same(tails.t_sf(x, np.arange(1, 6)), stats.t.sf(x, np.arange(1, 6)))


def test_subgroups_and_meta_regression_import_no_scipy_stats():
    code = ("import sys, iometa\n"
            "import pandas as pd\n"
            "d = pd.DataFrame({'yi': [0.1, 0.3, 0.2, 0.5, 0.4, 0.6], 'vi': [0.02] * 6,\n"
            "                  'g': list('aabbcc'), 'x': [1, 2, 3, 4, 5, 6]})\n"
            "res = iometa.pool('yi', 'vi', data=d)\n"
            "str(iometa.subgroups(res, by='g'))\n"
            "str(iometa.meta_regression(res, 'x'))\n"
            "str(iometa.meta_regression(res, 'x', test='knha'))\n"
            "assert 'scipy.stats' not in sys.modules, 'scipy.stats imported'\n")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_first_subgrouped_forest_imports_no_scipy():
    """A subgroup analysis and its forest plot (z test) need no scipy at all: study CIs,
    the between-group χ² test and the common-τ² test's regression take their quantiles and
    tails from math (issue 27: the first forest in a fresh interpreter)."""
    code = ("import sys, matplotlib\n"
            "matplotlib.use('Agg')\n"
            "import iometa\n"
            "res = iometa.pool([0.1, 0.3, 0.2, 0.5, 0.4, 0.6], [0.02] * 6)\n"
            "sub = iometa.subgroups(res, by=list('aabbcc'))\n"
            "iometa.forest_plot(sub)\n"
            "str(sub)\n"
            "bad = sorted(m for m in sys.modules if m.split('.')[0] == 'scipy')\n"
            "assert not bad, bad[:5]\n")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_one_regression_z_path_equals_scipy():
    """The math path of one regression (B = 1, z test) against scipy.stats' values."""
    from scipy import stats

    from iometa.core.regression import fit_regression_arrays

    X = np.column_stack([np.ones(6), [0, 0, 1, 1, 2, 2]])
    fit = fit_regression_arrays([0.1, 0.3, 0.2, 0.5, 0.4, 0.9], [0.02] * 6, X, level=0.9)
    np.testing.assert_allclose(fit.pval, 2 * stats.norm.sf(np.abs(fit.stat)), rtol=1e-13)
    z = stats.norm.ppf(0.95)
    np.testing.assert_allclose(fit.ci_low, fit.beta - z * fit.se, rtol=1e-14)
    np.testing.assert_allclose(fit.qm_pval, stats.chi2.sf(fit.qm, 1), rtol=1e-13)
    np.testing.assert_allclose(fit.qe_pval, stats.chi2.sf(fit.qe, 4), rtol=1e-13)

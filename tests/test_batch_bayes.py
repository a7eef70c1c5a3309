"""pool_many(method="bayes"): every analysis of a long table through the batched exact
Bayesian model, equal to iometa.pool_bayes analysis by analysis (issue 24)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import iometa
from iometa._warnings import IometaWarning


@pytest.fixture(scope="module")
def table():
    rng = np.random.default_rng(7)
    k = rng.integers(1, 7, 40)
    df = pd.DataFrame({"sim": np.repeat(np.arange(40), k)})
    df["yi"] = rng.normal(0.2, 0.4, len(df))
    df["vi"] = rng.uniform(0.01, 0.3, len(df))
    return df.sample(frac=1, random_state=3).reset_index(drop=True)  # rows out of order


@pytest.mark.parametrize("kw", [{}, {"tau_prior": "half-cauchy", "tau_scale": 0.3},
                                {"tau_prior": "uniform", "tau_scale": 2.0,
                                 "mu_prior": (0.0, 1.0)}])
def test_each_analysis_equals_pool_bayes(table, kw):
    out = iometa.pool_many(table, by="sim", method="bayes", level=0.9, **kw)
    assert out["sim"].tolist() == sorted(table["sim"].unique())
    for s in (0, 7, 19, 33):
        g = table[table["sim"] == s]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", IometaWarning)
            ref = iometa.pool_bayes(g["yi"].to_numpy(), g["vi"].to_numpy(), level=0.9, **kw)
        ps = ref.posterior_summary()
        row = out[out["sim"] == s].iloc[0]
        assert row["k"] == len(g)
        for col, (var, stat) in {"mu_median": ("mu", "median"), "mu_ci_low": ("mu", "ci_low"),
                                 "mu_ci_high": ("mu", "ci_high"), "tau_median": ("tau", "median"),
                                 "tau_ci_high": ("tau", "ci_high"),
                                 "pi_low": ("theta_new", "ci_low")}.items():
            assert row[col] == pytest.approx(ps.loc[var, stat], rel=1e-6, abs=1e-9), col


def test_notes_and_refused_options(table):
    out = iometa.pool_many(table, by="sim", method="bayes")
    one = out["k"] == 1
    assert one.any() and out.loc[one, "note"].str.contains("prior").all()
    assert (out.loc[~one, "note"] == "").all()
    with pytest.raises(ValueError, match="do not apply to method='bayes'"):
        iometa.pool_many(table, by="sim", method="bayes", test="knha")
    with pytest.raises(ValueError, match="unknown tau_prior|tau_prior"):
        iometa.pool_many(table, by="sim", method="bayes", tau_prior="normal")

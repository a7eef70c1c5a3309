"""Engine behaviour beyond the metafor fixtures: edge cases, API, result object."""

from __future__ import annotations

import dataclasses
import math
import warnings

import numpy as np
import pandas as pd
import pytest

import iometa
from iometa.core.effects import proportion_effects

METHODS = ["FE", "DL", "HE", "HS", "SJ", "ML", "REML", "EB", "PM"]


def test_k1_returns_study_estimate_with_warning():
    with pytest.warns(iometa.SmallSampleWarning, match="only one study"):
        res = iometa.pool([0.3], [0.04], method="REML")
    assert res.k == 1 and res.tau2 == 0.0 and res.q == 0.0 and res.i2 == 0.0
    assert res.coef == pytest.approx(0.3)
    assert res.ci_low == pytest.approx(0.3 - 1.959963984540054 * 0.2)
    assert math.isnan(res.tau2_ci[0]) and math.isnan(res.i2_ci[1])


def test_k1_knha_falls_back_to_z():
    with pytest.warns(iometa.SmallSampleWarning) as rec:
        res = iometa.pool([0.3], [0.04], test="knha")
    assert res.test == "z" and res.df is None
    assert any("Knapp-Hartung needs k >= 2" in str(w.message) for w in rec)


@pytest.mark.parametrize("method", METHODS)
def test_identical_effects_have_no_heterogeneity(method):
    res = iometa.pool([0.5] * 4, [0.01, 0.02, 0.03, 0.04], method=method)
    assert res.tau2 == 0.0
    assert res.q == pytest.approx(0.0, abs=1e-20)
    assert res.i2 == 0.0
    assert res.coef == pytest.approx(0.5)
    assert res.converged


@pytest.mark.parametrize("bad, match", [
    (([0.1, 0.2], [0.01, 0.0]), "variance 0"),
    (([0.1, np.nan], [0.01, 0.02]), "finite"),
    (([0.1, 0.2], [0.01, -1.0]), "variance"),
    (([], []), "k = 0"),
    (([0.1, 0.2], [0.01]), "differ in length"),
])
def test_bad_effects_raise_clear_errors(bad, match):
    with pytest.raises(ValueError, match=match):
        iometa.pool(*bad)


def test_unknown_method_and_test():
    with pytest.raises(ValueError, match="unknown method 'XYZ'"):
        iometa.pool([0.1, 0.2], [0.01, 0.02], method="XYZ")
    with pytest.raises(ValueError, match="unknown test"):
        iometa.pool([0.1, 0.2], [0.01, 0.02], test="t")


def test_huge_variances_and_tiny_variance_are_finite():
    res = iometa.pool([0.1, 0.5, 0.9], [1e8, 1e-8, 1e8], method="REML")
    assert res.coef == pytest.approx(0.5, abs=1e-6)
    for name in ("coef", "se", "tau2", "i2", "q", "ci_low", "ci_high", "pi_low", "pi_high"):
        assert np.isfinite(getattr(res, name)), name


def test_extreme_heterogeneity_is_finite():
    res = iometa.pool([-50, 0, 50, 100], [0.01, 0.01, 0.01, 0.01], method="PM")
    assert res.tau2 > 1000 and np.isfinite(res.tau2_ci[1]) and res.i2 > 99.9


def test_all_events_zero_plo_uses_continuity_correction():
    res = iometa.pool_proportions([0, 0, 0], [10, 20, 30], measure="PLO")
    assert res.extra["corrected"].all()
    assert "continuity correction of 0.5" in " ".join(res.warnings)
    assert 0 < res.estimate < 0.05
    assert np.isfinite(res.ci_low) and np.isfinite(res.ci_high)


def test_all_events_equal_n_pas_pft_without_correction():
    for measure in ("PAS", "PFT"):
        res = iometa.pool_proportions([10, 20, 30], [10, 20, 30], measure=measure)
        assert not res.extra["corrected"].any()
        assert res.estimate == pytest.approx(1.0) and res.ci_high == pytest.approx(1.0)


def test_pr_zero_variance_without_correction_is_an_error():
    with pytest.raises(ValueError, match="variance 0"):
        iometa.pool_proportions([0, 3], [10, 20], measure="PR", add=0)


def test_n_equal_one():
    res = iometa.pool_proportions([1, 0, 1], [1, 1, 1], measure="PLO", method="DL")
    assert 0 < res.estimate < 1 and np.isfinite(res.se)


@pytest.mark.parametrize("events, n, match", [
    ([5, 12], [10, 11], "events exceed n"),
    ([-1, 2], [10, 11], "events must be >= 0"),
    ([1, 2], [0, 11], "n must be > 0"),
    ([1.5, 2], [10, 11], "whole numbers"),
])
def test_bad_counts(events, n, match):
    with pytest.raises(ValueError, match=match):
        iometa.pool_proportions(events, n)


def test_pr_ci_outside_unit_interval_warns():
    with pytest.warns(iometa.TransformWarning, match="outside \\[0, 1\\]"):
        res = iometa.pool_proportions([1, 0, 2, 9], [10, 12, 9, 10], measure="PR", method="DL")
    assert res.pi_low < 0 or res.ci_low < 0 or res.pi_high > 1


def test_freeman_tukey_unequal_n_warns():
    with pytest.warns(iometa.TransformWarning, match="Freeman-Tukey"):
        iometa.pool_proportions([3, 80, 5], [9, 326, 20], measure="PFT")


def test_correction_modes_match_escalc_rules():
    x, n = [0, 5, 10], [10, 10, 10]
    assert proportion_effects(x, n, measure="PLO").corrected.tolist() == [True, False, True]
    assert proportion_effects(x, n, measure="PLO", to="all").corrected.all()
    assert proportion_effects(x, n, measure="PLO", to="if0all").corrected.all()
    assert not proportion_effects([1, 5], [10, 10], measure="PLO", to="if0all").corrected.any()
    assert not proportion_effects(x, n, measure="PAS").corrected.any()
    assert proportion_effects(x, n, measure="PAS", add=0.5).corrected.tolist() == [True, False,
                                                                                   True]
    eff = proportion_effects([0], [10], measure="PLO")
    assert eff.yi[0] == pytest.approx(math.log(0.5 / 10.5))
    assert eff.vi[0] == pytest.approx(1 / 0.5 + 1 / 10.5)


def test_data_and_column_names():
    df = pd.DataFrame({"x": [13, 4, 9], "n": [51, 30, 40], "who": ["a", "b", "c"]})
    res = iometa.pool_proportions("x", "n", data=df, labels="who")
    assert res.labels == ["a", "b", "c"]
    assert res.data is df
    with pytest.raises(ValueError, match="no such column"):
        iometa.pool_proportions("events", "n", data=df)
    with pytest.raises(ValueError, match="no data= DataFrame"):
        iometa.pool_proportions("x", "n")


def test_result_outputs():
    res = iometa.pool_proportions([13, 4, 9, 0], [51, 30, 40, 12], labels=list("abcd"))
    text = res.summary()
    assert "restricted maximum likelihood" in text and "Q(df = 3)" in text
    frame = res.to_frame()
    assert frame.shape[0] == 1 and frame.loc[0, "k"] == 4 and frame.loc[0, "n_total"] == 133
    html = res._repr_html_()
    assert "<table>" in html and "Studies" in html
    assert set(["label", "yi", "vi", "weight", "events", "n", "estimate", "ci_low",
                "ci_high"]) <= set(res.studies.columns)
    assert res.studies["weight"].sum() == pytest.approx(100.0)
    assert res.studies.loc[0, "ci_low"] == pytest.approx(0.1432626, abs=1e-6)  # Clopper-Pearson
    assert repr(res).startswith("<MetaResult PLO REML k=4: ")
    with pytest.raises(dataclasses.FrozenInstanceError):
        res.k = 3  # frozen


def test_refit_subset_and_options():
    res = iometa.pool_proportions([13, 4, 9, 0], [51, 30, 40, 12], labels=list("abcd"))
    sub = res.refit([0, 2], method="DL")
    direct = iometa.pool_proportions([13, 9], [51, 40], labels=["a", "c"], method="DL")
    assert sub.labels == ["a", "c"] and sub.method == "DL"
    assert sub.coef == pytest.approx(direct.coef, rel=1e-12)
    mask = res.refit(np.array([True, False, True, False]), method="DL")
    assert mask.coef == pytest.approx(direct.coef, rel=1e-12)


def test_no_silent_nan_in_common_results():
    rng = np.random.default_rng(1)
    for method in METHODS:
        for test in ("z", "knha"):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                res = iometa.pool(rng.normal(size=6), rng.uniform(0.01, 0.2, 6), method=method,
                                  test=test)
            for name in ("estimate", "ci_low", "ci_high", "pi_low", "pi_high", "coef", "se",
                         "stat", "pval", "tau2", "i2", "h2", "q", "q_pval"):
                assert np.isfinite(getattr(res, name)), (method, test, name)

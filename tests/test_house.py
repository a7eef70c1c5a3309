"""The house rules that a static look at the package can check (the import contracts
themselves run in CI as ``lint-imports``; see pyproject.toml)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

import iometa
from iometa.core.measures import MEASURES, backtransform, measure, scale_name
from iometa.core.spec import ModelSpec, refit

PKG = Path(iometa.__file__).parent
PACKAGES = ("core", "data", "compare", "diagnostics", "bias", "survival", "plots", "report")
BELOW_REPORT = ("core", "data", "compare", "diagnostics", "bias", "survival", "plots")


def _modules():
    return sorted(PKG.rglob("*.py"))


def test_at_most_eight_modules_at_the_top_and_every_package_has_a_face():
    top = sorted(p.name for p in PKG.glob("*.py"))
    assert len(top) <= 8, top
    for pkg in PACKAGES:
        assert (PKG / pkg / "__init__.py").is_file(), pkg


def test_no_module_over_500_lines():
    long = {str(p.relative_to(PKG)): n for p in _modules()
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > 500}
    assert not long, long


@pytest.mark.parametrize("pkg", BELOW_REPORT)
def test_nothing_below_the_report_reaches_back_into_the_face(pkg):
    code = re.compile(r"^\s*(import iometa\s*$|from iometa import|from \.\.\. import|"
                      r"from \.\. import)|getattr\(iometa", re.M)
    hits = [str(p.relative_to(PKG)) for p in (PKG / pkg).rglob("*.py")
            if code.search(_without_docstring_examples(p.read_text(encoding="utf-8")))]
    assert not hits, hits


def _without_docstring_examples(text):
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith(
        (">>>", "...")))


def test_measure_codes_of_proportions_are_spelled_only_in_the_registry_and_effects():
    codes = re.compile(r"[\"'](PFT|PAS|PLN)[\"']")
    allowed = {"core/measures.py", "core/effects.py", "diagnostics/sensitivity.py"}
    hits = []
    for p in _modules():
        rel = str(p.relative_to(PKG))
        text = _without_docstring_examples(p.read_text(encoding="utf-8"))
        text = re.sub(r'"""[\s\S]*?"""', "", text)  # docstrings may name measures
        if rel not in allowed and codes.search(text):
            hits.append(rel)
    assert not hits, hits


def test_measure_registry_rows():
    assert [c for c, m in MEASURES.items() if m.family == "proportion"] == \
        ["PR", "PLN", "PLO", "PAS", "PFT"]
    assert measure("PLO").default_add == 0.5 and measure("PFT").default_add == 0.0
    assert scale_name("PFT") == "Freeman–Tukey" and scale_name("PFT", ascii=True) == \
        "Freeman-Tukey"
    assert scale_name("XYZ") == "XYZ"
    assert backtransform("PLO", [0.0, np.log(3)]).tolist() == pytest.approx([0.5, 0.75])
    assert backtransform("SRCLL", [0.0])[0] == pytest.approx(np.exp(-1))
    assert MEASURES["SRCLL"].decreasing and not MEASURES["SRLO"].decreasing
    with pytest.raises(ValueError, match="unknown measure 'XYZ'"):
        measure("XYZ")


def test_every_result_carries_its_spec_and_refits_from_it():
    res = iometa.pool_proportions([13, 4, 9, 7, 2], [51, 30, 40, 35, 20], measure="PAS",
                                  method="PM", test="knha", level=0.9)
    assert res.spec == ModelSpec("pool_proportions", "PAS", "PM", "knha", 0.9, add=None,
                                 to="only0", nagq=7, study_ci="clopper-pearson")
    sub = refit(res, [0, 2, 4])
    direct = iometa.pool_proportions([13, 9, 2], [51, 40, 20], measure="PAS", method="PM",
                                     test="knha", level=0.9)
    assert (sub.coef, sub.se, sub.tau2) == (direct.coef, direct.se, direct.tau2)
    assert sub.labels == [res.labels[i] for i in (0, 2, 4)]
    mask = np.array([True, False, True, False, True])
    assert refit(res, mask).coef == sub.coef
    assert res.refit(method="DL").spec.method == "DL"
    with pytest.raises(TypeError, match="no option"):
        refit(res, bogus=1)


@pytest.mark.parametrize("make", [
    lambda: iometa.pool([0.1, 0.5, 0.9, 0.3], [0.04, 0.05, 0.06, 0.05], tau2=0.02),
    lambda: iometa.pool_proportions([13, 4, 9, 7], [51, 30, 40, 35], method="GLMM"),
    lambda: iometa.pool_medians([29.9, 24.0, 31.5, 18.0], ci_low=[20, 15, 25, 12],
                                ci_high=[40, 35, 42, 30], method="DL"),
    lambda: iometa.pool_survival_rates([0.886, 0.91, 0.706, 0.8], [35, 60, 17, 40], time=12),
])
def test_leave_one_out_reads_the_spec(make):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = make()
        loo = iometa.leave_one_out(res)
        one = refit(res, [1, 2, 3])
    assert loo["k"].tolist() == [res.k - 1] * res.k
    assert loo["coef"].iloc[0] == pytest.approx(one.coef, rel=1e-10)
    assert one.spec == res.spec


def test_trim_and_fill_adjusted_model_refits():
    res = iometa.pool([0.1, 0.5, 0.9, 0.3, 0.7, 1.2], [0.04, 0.05, 0.06, 0.05, 0.09, 0.2])
    tf = iometa.trim_and_fill(res)
    assert tf.k0 > 0 and tf.result.spec.fitter == "trim_and_fill_model"
    fe = tf.result.refit(method="FE")
    w = 1 / tf.result.vi
    assert fe.coef == pytest.approx(float((w * tf.result.yi).sum() / w.sum()), rel=1e-12)


def test_a_result_without_spec_cannot_be_refitted():
    import dataclasses

    res = iometa.pool([0.1, 0.5, 0.9], [0.04, 0.05, 0.06])
    bare = dataclasses.replace(res, spec=None)
    with pytest.raises(TypeError, match="cannot be refitted"):
        refit(bare)

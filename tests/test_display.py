"""Display of results: one-line reprs, counts as integers, percentages, ``pscale``."""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import pkgutil
import re
import warnings

import numpy as np
import pytest

import iometa

YI = [0.1, 0.5, 0.9, 0.3, 0.7, 0.2, 0.6, 0.4]
VI = [0.04, 0.05, 0.06, 0.05, 0.09, 0.03, 0.07, 0.04]
EVENTS = [45, 38, 50, 27, 60, 33]
N = [50, 45, 52, 31, 70, 36]


def _prop():
    return iometa.pool_proportions(EVENTS, N, labels=list("abcdef"))


def _sub():
    return iometa.subgroups(_prop(), ["RFA", "RFA", "MWA", "RFA", "MWA", "cryoablation"])


def _reg():
    return iometa.meta_regression(iometa.pool(YI, VI), np.arange(8.0))


#: one factory per result type; the test below fails if a result type has none
FACTORIES = {
    "MetaResult": _prop,
    "SubgroupResult": _sub,
    "BetweenGroupTest": lambda: _sub().test_separate,
    "MetaRegression": _reg,
    "PermutationResult": lambda: iometa.permutation_test(_reg(), n_perm=50, seed=1),
    "RobustResult": lambda: iometa.robust(iometa.pool(YI, VI), [1, 1, 2, 2, 3, 3, 4, 4]),
    "BayesResult": lambda: iometa.pool_bayes(YI[:4], VI[:4]),
    "BayesBatch": lambda: iometa.fit_bayes_arrays(np.array([YI]), np.array([VI])),
    "MultilevelResult": lambda: iometa.pool_multilevel(YI, VI, cluster=[1, 1, 2, 2, 3, 3, 4, 4]),
    "TrimFillResult": lambda: iometa.trim_and_fill(iometa.pool(YI, VI)),
    "RegressionTestResult": lambda: iometa.egger_test(iometa.pool(YI, VI)),
    "RankTestResult": lambda: iometa.begg_test(iometa.pool(YI, VI)),
    "HenmiCopasResult": lambda: iometa.henmi_copas(iometa.pool(YI, VI)),
    "ProportionEffects": lambda: iometa.proportion_effects(EVENTS, N),
}

_ANALYSIS = ("iometa.core", "iometa.compare", "iometa.bias", "iometa.diagnostics",
             "iometa.survival", "iometa.batch")


def _result_types() -> set[str]:
    """Every result type, found without a list: dataclasses of the analysis packages that are
    named ...Result, or have a summary/to_frame, or are returned by a public function."""
    found = set()
    for info in pkgutil.walk_packages(iometa.__path__, "iometa."):
        if not info.name.startswith(_ANALYSIS):
            continue
        module = importlib.import_module(info.name)
        for name, obj in vars(module).items():
            if (inspect.isclass(obj) and obj.__module__ == module.__name__
                    and not name.startswith("_") and dataclasses.is_dataclass(obj)
                    and (name.endswith("Result") or hasattr(obj, "summary")
                         or hasattr(obj, "to_frame"))):
                found.add(name)
    for name in iometa.__all__:
        obj = getattr(iometa, name)
        if inspect.isfunction(obj) and obj.__module__.startswith(_ANALYSIS):
            ret = inspect.signature(obj).return_annotation
            if isinstance(ret, str) and re.fullmatch(r"[A-Z]\w*", ret) and ret not in (
                    "Figure", "Axes"):
                found.add(ret)
    found |= {type(getattr(_sub(), a)).__name__ for a in ("test_separate",)}
    return found


def test_every_result_type_has_a_one_line_repr():
    types = _result_types()
    assert {"MetaResult", "SubgroupResult", "MultilevelResult", "TrimFillResult",
            "BayesResult", "MetaRegression"} <= types
    missing = types - set(FACTORIES)
    assert not missing, f"result types without a repr check: {sorted(missing)}"
    for name in sorted(types):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            obj = FACTORIES[name]()
        assert type(obj).__name__ == name
        text = repr(obj)
        assert "\n" not in text, (name, text)
        assert not re.search(r"0x[0-9a-fA-F]{4,}", text), (name, text)
        assert text.startswith(f"<{name} ") and text.endswith(">"), text
        assert len(text) < 140, (name, text)


def test_meta_result_repr_reads_like_the_example():
    res = iometa.pool_proportions([13, 4, 9, 20, 5], [51, 30, 40, 60, 33])
    m = re.fullmatch(r"<MetaResult PLO REML k=5: (\S+) \[(\S+), (\S+)\]; tau2=\S+, "
                     r"I2=\d+\.\d%>", repr(res))
    assert m, repr(res)
    assert [float(x) for x in m.groups()] == pytest.approx(
        [res.estimate, res.ci_low, res.ci_high], rel=5e-3)


def test_subgroup_html_prints_counts_as_integers_and_i2_in_percent():
    sub = _sub()
    html = sub._repr_html_()
    n_total = int(sub.to_frame()["n_total"].iloc[0])
    assert f"<td>{n_total}</td>" in html and f"{n_total}.0000" not in html
    i2 = sub.groups["MWA"].i2
    assert i2 > 10
    assert f"<td>{i2:.1f}%</td>" in html and f"{i2:.4f}" not in html
    assert "<td>3</td>" in html and "<td>3.0000</td>" not in html  # k of RFA
    text = sub.summary()
    assert f"{i2:.1f}%" in text


def test_meta_result_html_and_summary_i2_one_decimal():
    res = _prop()
    assert f"{res.i2:.1f}% " in res.summary() and f"{res.i2:.2f}%" not in res.summary()
    html = res._repr_html_()
    assert f"<td>{res.k}</td>" in html and f"{res.i2:.1f}%" in html
    # the studies table: events and n as integers, weights in percent
    assert "<td>45</td>" in html and "<td>45.0000</td>" not in html
    assert f"<td>{res.studies['weight'].iloc[0]:.1f}%</td>" in html


def test_pscale_percent_in_summary_html_and_subgroups():
    res = _prop()
    text = res.summary(pscale=100)
    assert f"reporting scale (percent): {100 * res.estimate:.4f}" in text
    assert f"{res.coef:.4f}" in text  # model scale unchanged
    assert res.summary() == res.summary(pscale=1)
    assert f"{res.estimate:.4f}" in res.summary()
    html = res._repr_html_(pscale=100)
    assert f"{100 * res.estimate:.2f} [{100 * res.ci_low:.2f}, {100 * res.ci_high:.2f}]" in html
    assert "(percent)" in html
    assert f"{res.estimate:.4f} [" in res._repr_html_()
    both = res.summary(common=True, pscale=100)
    assert f"{100 * res.pi_low:.4f}; {100 * res.pi_high:.4f}" in both
    sub = _sub()
    est = sub.groups["MWA"].estimate
    assert f"{100 * est:.4f}" in sub.summary(pscale=100)
    assert f"<td>{100 * est:.2f}</td>" in sub._repr_html_(pscale=100)
    assert f"<td>{est:.4f}</td>" in sub._repr_html_()


def test_pscale_refused_for_effects_that_are_not_proportions():
    res = iometa.pool(YI, VI)
    with pytest.raises(ValueError, match="proportions and survival rates only"):
        res.summary(pscale=100)
    with pytest.raises(ValueError, match="positive number"):
        _prop().summary(pscale=0)
    assert "0.4" in res.summary(pscale=1)


def test_pscale_in_trim_and_fill_and_bayes_summaries():
    res = iometa.pool_proportions([5, 9, 12, 20, 30], [40, 45, 50, 60, 70])
    tf = iometa.trim_and_fill(res)
    text = tf.summary(pscale=100)
    assert f"estimate {100 * tf.estimate:.4f} (95% CI {100 * tf.ci_low:.4f}" in text
    assert f"unadjusted {100 * res.estimate:.4f}" in text
    assert f"estimate {tf.estimate:.4f}" in str(tf)
    bayes = iometa.pool_bayes(res)
    assert f"on the percent scale: estimate {100 * bayes.estimate:.4f}" in \
        bayes.summary(pscale=100)
    with pytest.raises(ValueError, match="proportions and survival rates only"):
        iometa.trim_and_fill(iometa.pool(YI, VI)).summary(pscale=100)

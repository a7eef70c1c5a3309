"""methods_text() / results_text(): every number in the text is a result attribute, formatted
(parsed back here), every τ² method is named with its reference, the MH/Peto/GLMM/Knapp–Hartung
wording, and nothing undefined ("nan", "None", "NA") reaches the text."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest

import iometa
from iometa._version import __version__
from iometa.core.bayes import pool_bayes
from iometa.core.format import fmt
from iometa.core.methods import REGISTRY
from iometa.core.multilevel import pool_multilevel
from iometa.core.two_group_pool import pool_two_groups

YI = [0.12, 0.55, 0.31, 0.92, 0.47, 0.20, 0.66]
VI = [0.04, 0.05, 0.03, 0.06, 0.02, 0.05, 0.04]
EVENTS, N = [13, 4, 9, 0, 20, 7], [51, 30, 40, 12, 61, 25]
TWO = ([2, 4, 6, 7, 0, 11], [39, 44, 107, 103, 40, 154], [1, 4, 4, 5, 0, 4],
       [43, 44, 110, 100, 41, 146])

NUMBER = re.compile(r"(?<![\w(])-?\d+(?:\.\d+)?")
UNITS = r"(?: months| per [\w -]+?)?"
UNDEFINED = re.compile(r"\bnan\b|\bNaN\b|\bNone\b|\bNA\b|\binf\b", re.I)


def quiet(fn, *a, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*a, **kw)


def numbers(text: str) -> list[str]:
    """The numbers written in ``text`` (not those inside names such as 'I²', 'τ²' or a year
    inside a reference: references are stripped first)."""
    text = re.sub(r"\([^()]*\d{4}[^()]*\)", "", text)  # (Author 2005)
    text = text.replace("I²", "I").replace("τ²", "t").replace("σ²", "s").replace("χ²", "c")
    return NUMBER.findall(text)


def p_str(p):
    return "0.001" if p < 0.001 else f"{p:.3f}"


def allowed(res, pscale=1, d=None):
    """Every number results_text may write for ``res``: its attributes, formatted."""
    from iometa.core.reporter import default_digits, n_patients

    d = default_digits(res, pscale) if d is None else d
    out = {str(res.k), f"{round(100 * res.level):g}"}
    for x in (res.estimate, res.ci_low, res.ci_high, res.pi_low, res.pi_high):
        out.add(fmt(x * pscale, d))
    out |= {fmt(res.stat, 2), p_str(res.pval), fmt(res.tau2, 4), fmt(res.i2, 1),
            fmt(res.q, 2), str(res.q_df), p_str(res.q_pval)}
    out |= {fmt(x, 4) for x in res.tau2_ci} | {fmt(x, 1) for x in res.i2_ci}
    if res.df is not None:
        out.add(fmt(res.df, 0))
    n = n_patients(res)
    if n is not None:
        out.add(str(n))
    return out


def results():
    """A spread of MetaResults: every model family the reporter words."""
    out = {
        "DL": quiet(iometa.pool, YI, VI, method="DL"),
        "REML-knha": quiet(iometa.pool, YI, VI, test="knha"),
        "FE": quiet(iometa.pool, YI, VI, method="FE"),
        "k1": quiet(iometa.pool, [0.3], [0.04]),
        "hts-k2": quiet(iometa.pool, [0.3, 0.5], [0.04, 0.05], pi_method="hts"),
        "PLO": quiet(iometa.pool_proportions, EVENTS, N),
        "PFT": quiet(iometa.pool_proportions, EVENTS, N, measure="PFT", method="DL"),
        "GLMM": quiet(iometa.pool_proportions, EVENTS, N, method="GLMM"),
        "MH": quiet(pool_two_groups, *TWO, measure="OR", method="MH"),
        "Peto": quiet(pool_two_groups, *TWO, measure="OR", method="Peto"),
        "RR": quiet(pool_two_groups, *TWO, measure="RR"),
        "medians": quiet(iometa.pool_medians, [10.0, 14.0, 12.5, 20.0], n=[40, 55, 30, 80]),
        "rates": quiet(iometa.pool_rates, [4, 9, 2, 12], [100.0, 150.0, 80.0, 210.0]),
        "fixed-tau2": quiet(iometa.pool, YI, VI, tau2=0.05),
        "weights": quiet(iometa.pool, YI, VI, weights=[1, 2, 3, 1, 2, 3, 1]),
        "unweighted": quiet(iometa.pool, YI, VI, weighted=False),
        "poisson": quiet(iometa.pool_rates, [4, 9, 2, 12], [100.0, 150.0, 80.0, 210.0],
                         method="GLMM"),
        "survival": quiet(iometa.pool_survival_rates, [0.8, 0.7, 0.75], [40, 50, 60]),
        "knha-identical": quiet(iometa.pool, [0.3, 0.3, 0.3], [0.04, 0.05, 0.06], test="knha"),
        "median-1": quiet(iometa.pool_medians, [10.0], n=[40]),
        "median-ci": quiet(iometa.pool_medians, [10.0, 14.0, 12.0], ci_low=[8.0, 11, 9],
                           ci_high=[13.0, 18, 15]),
    }
    return out


RESULTS = results()


@pytest.mark.parametrize("name", list(RESULTS))
def test_every_number_is_an_attribute(name):
    res = RESULTS[name]
    for pscale in (1, 100) if res.kind == "proportion" else (1,):
        text = res.results_text(pscale=pscale)
        ok = allowed(res, pscale)
        for num in numbers(text):
            assert num.lstrip("-") in {a.lstrip("-") for a in ok}, (num, text)


@pytest.mark.parametrize("name", list(RESULTS))
def test_main_numbers_parse_back(name):
    res = RESULTS[name]
    from iometa.core.reporter import default_digits

    d = default_digits(res)
    text = res.results_text()
    m = re.search(r" was (-?\d+(?:\.\d+)?)" + UNITS + r" \(95% CI (-?\d+(?:\.\d+)?) to (-?\d+(?:\.\d+)?)", text)
    if np.isfinite(res.ci_low) and res.ci_low != res.ci_high:
        assert m, text
        got = [float(g) for g in m.groups()]
        for g, want in zip(got, (res.estimate, res.ci_low, res.ci_high)):
            assert g == pytest.approx(want, abs=0.51 * 10 ** -d)
    if res.k > 1 and np.isfinite(res.q):
        q = re.search(r"Q\((\d+)\) = (\d+(?:\.\d+)?), p [=<] (\d+(?:\.\d+)?)", text)
        assert q, text
        assert int(q.group(1)) == res.q_df
        assert float(q.group(2)) == pytest.approx(res.q, abs=0.0051)
        i2 = re.search(r"I² = (\d+(?:\.\d+)?)%", text)
        assert float(i2.group(1)) == pytest.approx(res.i2, abs=0.051)
        if res.method in REGISTRY and res.method != "FE" or res.method == "GLMM":
            t2 = re.search(r"τ² = (\d+(?:\.\d+)?)", text)
            assert float(t2.group(1)) == pytest.approx(res.tau2, abs=0.00051)
            if np.isfinite(res.pi_low):
                pi = re.search(r"prediction interval was (-?\d+(?:\.\d+)?)" + UNITS + r" to "
                               r"(-?\d+(?:\.\d+)?)", text)
                assert pi, text
                assert float(pi.group(1)) == pytest.approx(res.pi_low, abs=0.51 * 10 ** -d)
                assert float(pi.group(2)) == pytest.approx(res.pi_high, abs=0.51 * 10 ** -d)
        else:
            assert "τ²" not in text and "prediction interval" not in text
    n = re.search(r"with (\d+) patients", text)
    if "n" in res.studies and res.studies["n"].notna().any():
        assert int(n.group(1)) == int(res.studies["n"].sum())
    else:
        assert n is None


def test_pscale_percent():
    res = RESULTS["PLO"]
    text = res.results_text(pscale=100)
    m = re.search(r"was (\d+(?:\.\d+)?)% \(95% CI (\d+(?:\.\d+)?)% to (\d+(?:\.\d+)?)%", text)
    assert float(m.group(1)) == pytest.approx(100 * res.estimate, abs=0.051)
    assert float(m.group(3)) == pytest.approx(100 * res.ci_high, abs=0.051)


@pytest.mark.parametrize("name", list(RESULTS))
def test_no_undefined_words(name):
    res = RESULTS[name]
    for text in (res.methods_text(), res.results_text()):
        assert not UNDEFINED.search(text), text
        assert "\n" not in text  # one paragraph


def test_fixed_tau2_weights_and_zero_width_ci_in_words():
    assert "τ² fixed at 0.0500" in RESULTS["fixed-tau2"].methods_text()
    assert "Q-profile" not in RESULTS["fixed-tau2"].methods_text()
    assert "user-supplied weights" in RESULTS["weights"].methods_text()
    assert "unweighted mean" in RESULTS["unweighted"].methods_text()
    assert "weights" not in RESULTS["DL"].methods_text()
    assert "Poisson-normal" in RESULTS["poisson"].methods_text()
    assert "95% CI of zero width; " not in RESULTS["knha-identical"].results_text()
    assert "95% CI of zero width" in RESULTS["knha-identical"].results_text()
    assert "cloglog-transformed survival rates" in RESULTS["survival"].methods_text()


def test_k1_and_undefined_pi_are_said_in_words():
    assert "heterogeneity cannot be estimated" in RESULTS["k1"].results_text()
    text = RESULTS["hts-k2"].results_text()
    assert np.isnan(RESULTS["hts-k2"].pi_low) and "prediction interval" not in text
    assert "prediction interval" not in RESULTS["hts-k2"].methods_text()


@pytest.mark.parametrize("method", list(REGISTRY))
def test_every_tau2_method_named_with_reference(method):
    kw = {"weights": [1, 2, 1, 3, 1, 2, 2]} if method == "GENQ" else {}
    res = quiet(iometa.pool, YI, VI, method=method, **kw)
    text = res.methods_text()
    entry = REGISTRY[method]
    assert entry.name.removeprefix("random-effects, ") in text
    assert entry.reference in text
    assert f"iometa {__version__}" in text


def test_model_wording():
    mh, peto, glmm = RESULTS["MH"].methods_text(), RESULTS["Peto"].methods_text(), \
        RESULTS["GLMM"].methods_text()
    assert "Mantel–Haenszel" in mh and "Mantel & Haenszel 1959" in mh
    assert "Robins, Breslow & Greenland 1986" in mh and "log odds ratios" in mh
    assert "Peto's one-step odds ratio" in peto and "Yusuf et al. 1985" in peto
    assert "binomial-normal generalised linear mixed model" in glmm
    assert "7-point adaptive Gauss–Hermite" in glmm and "Wald-type Q-test" in glmm
    kh = RESULTS["REML-knha"].methods_text()
    assert "Knapp–Hartung adjustment" in kh and "Hartung & Knapp 2001" in kh
    assert "Knapp–Hartung" not in RESULTS["DL"].methods_text()
    assert "Wald-type z" in RESULTS["DL"].methods_text()
    assert "t(6) = " in RESULTS["REML-knha"].results_text()
    adhoc = quiet(iometa.pool, YI, VI, test="knha", adhoc=True).methods_text()
    assert "ad hoc correction" in adhoc and "Knapp & Hartung 2003" in adhoc
    glmm_t = quiet(iometa.pool_proportions, EVENTS, N, method="GLMM", test="knha")
    assert "no Knapp–Hartung" in glmm_t.methods_text()


def test_transformations_and_corrections():
    plo = RESULTS["PLO"].methods_text()
    assert "logit-transformed proportions, back-transformed with the inverse logit" in plo
    assert "continuity correction of 0.5" in plo and "1 study" in plo
    assert "Miller's inverse" in RESULTS["PFT"].methods_text()
    rr = RESULTS["RR"].methods_text()
    assert "log risk ratios, exponentiated" in rr and "every cell of 1 study" in rr
    assert "left out" in RESULTS["MH"].methods_text()  # the double-zero table
    assert "continuity" not in RESULTS["DL"].methods_text()
    assert "prediction interval" in RESULTS["DL"].methods_text()
    assert "prediction interval" not in RESULTS["FE"].methods_text()
    assert "Hedges & Olkin 1985" in RESULTS["FE"].methods_text()
    assert "median-of-medians" in RESULTS["medians"].methods_text() or \
        "medians" in RESULTS["medians"].methods_text()


def test_subgroups():
    res = quiet(iometa.pool_proportions, [45, 38, 50, 27, 60, 33], [50, 45, 52, 31, 70, 36])
    for tau2 in ("separate", "common"):
        sub = quiet(iometa.subgroups, res, ["RFA", "RFA", "MWA", "RFA", "MWA", "MWA"],
                    tau2=tau2)
        text = sub.results_text(pscale=100)
        assert not UNDEFINED.search(text) and not UNDEFINED.search(sub.methods_text())
        t = sub.test_chosen
        m = re.search(rf"test for subgroup differences \({tau2} τ²\) gave Q\((\d+)\) = "
                      r"(\d+(?:\.\d+)?), p = (\d+(?:\.\d+)?)", text)
        assert m, text
        assert int(m.group(1)) == t.df
        assert m.group(2) == fmt(t.q, 2) and m.group(3) == f"{t.pval:.3f}"
        for g, r in sub.groups.items():
            gm = re.search(rf"{g} \((\d+) studies, (\d+) patients\): (\d+(?:\.\d+)?)% \(95% CI "
                           r"(\d+(?:\.\d+)?)% to (\d+(?:\.\d+)?)%\), I² = (\d+(?:\.\d+)?)%", text)
            assert gm, text
            assert int(gm.group(1)) == r.k and int(gm.group(2)) == int(r.studies["n"].sum())
            assert gm.group(3) == fmt(100 * r.estimate, 1)
            assert gm.group(5) == fmt(100 * r.ci_high, 1) and gm.group(6) == fmt(r.i2, 1)
        assert sub.methods_text().startswith(res.methods_text().split(" The analysis")[0])
        assert sub.methods_text().count("iometa ") == 1


def test_subgroup_without_test_says_so():
    res = quiet(iometa.pool, [0.1, 0.4, 0.2], [0.04, 0.05, 0.03])
    sub = quiet(iometa.subgroups, res, ["a", "a", "a"])
    text = sub.results_text()
    assert "No test for subgroup differences" in text and not UNDEFINED.search(text)


def test_regression_multilevel_bayes():
    reg = quiet(iometa.meta_regression, [0.1, 0.5, 0.2, 0.9, 1.1, 0.3], [0.02] * 6,
                [1.0, 2, 3, 4, 5, 6], method="REML", test="knha")
    text = reg.results_text()
    assert f"F({reg.qm_df}, {reg.qm_df2}) = {fmt(reg.qm, 2)}" in text
    assert f"mods {fmt(reg.beta[1], 2)} (95% CI {fmt(reg.ci_low[1], 2)} to " \
           f"{fmt(reg.ci_high[1], 2)}; t(4) = {fmt(reg.stat[1], 2)}" in text
    assert f"τ² = {fmt(reg.tau2, 4)}" in text and f"QE({reg.qe_df}) = {fmt(reg.qe, 2)}" in text
    assert "k − p degrees of freedom" in reg.methods_text()
    ml = quiet(pool_multilevel, [0.1, 0.3, 0.5, 0.2, 0.8, 0.9], [0.01] * 6,
               cluster=[1, 1, 2, 2, 3, 3])
    text = ml.results_text()
    assert f"The pooled effect was {fmt(ml.coef, 2)} (95% CI {fmt(ml.coef_ci_low, 2)}" in text
    assert f"σ² between clusters = {fmt(ml.sigma2[0], 4)}" in text
    assert f"Q({ml.q_df}) = {fmt(ml.q, 2)}" in text and "three-level" in ml.methods_text()
    b = quiet(pool_bayes, [0.1, 0.5, 0.9], [0.04, 0.05, 0.06])
    text = b.results_text()
    assert f"{fmt(b.estimate, 2)} (95% credible interval {fmt(b.ci_low, 2)} to " \
           f"{fmt(b.ci_high, 2)})" in text
    assert f"τ was {fmt(b.tau, 4)}" in text and "half-normal(scale 0.5)" in b.methods_text()
    for t in (reg.methods_text(), ml.methods_text(), b.methods_text(), b.results_text(),
              ml.results_text(), reg.results_text()):
        assert not UNDEFINED.search(t), t

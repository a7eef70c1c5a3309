"""The journal presets of the forest plot: layout="RevMan5" and layout="JAMA".

The texts drawn are read back from the figure's artists and compared with the result's own
numbers (estimates, weights, Q, I², τ², the z test, the subgroup test).
"""

from __future__ import annotations

import warnings

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

import iometa  # noqa: E402
from iometa.plots.forest_layouts import fmt_pvalue, symmetric_axis  # noqa: E402

# BCG trials (metadat dat.bcg, first five): tpos/tneg and cpos/cneg as events/total
BCG = pd.DataFrame({
    "label": ["Aronson 1948", "Ferguson & Simes 1949", "Rosenthal 1960", "Hart 1977",
              "Frimodt-Moller 1973"],
    "e1": [4, 6, 3, 62, 33], "n1": [123, 306, 231, 13598, 5069],
    "e2": [11, 29, 11, 248, 47], "n2": [139, 303, 220, 12867, 5808],
    "era": ["early", "early", "late", "late", "late"],
})


def _pool(**kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return iometa.pool_two_groups("e1", "n1", "e2", "n2", data=BCG, labels="label", **kw)


def _texts(fig) -> list[str]:
    out = [t.get_text() for ax in fig.axes for t in ax.texts]
    out += [t.get_text() for ax in fig.axes for t in ax.get_xticklabels()]
    return [s.replace("\u2007", "") for s in out]


def _ratio(x) -> str:
    return f"{x:.2f}"


def test_revman5_columns_are_the_results_numbers():
    res = _pool(measure="RR", method="MH")
    fig = iometa.forest_plot(res, layout="RevMan5", favours=("MWA", "RFA"))
    texts = _texts(fig)
    assert "Risk Ratio\nM-H, Fixed, 95% CI" in texts
    assert texts.count("Risk Ratio\nM-H, Fixed, 95% CI") == 2  # column and graph headers
    assert {"Study or Subgroup", "MWA\nEvents", "RFA\nEvents", "\nTotal", "\nWeight"} <= set(
        texts)
    st = res.studies
    for r in st.itertuples():
        want = f"{_ratio(r.estimate)} [{_ratio(r.ci_low)}, {_ratio(r.ci_high)}]"
        assert want in texts, want
        assert f"{r.weight:.1f}%" in texts
        assert str(r.events_1) in texts and str(r.total_2) in texts
    pooled = f"{_ratio(res.estimate)} [{_ratio(res.ci_low)}, {_ratio(res.ci_high)}]"
    assert pooled in texts and "Total (95% CI)" in texts and "100.0%" in texts
    assert str(int(st["total_1"].sum())) in texts and str(int(st["events_2"].sum())) in texts
    assert "Total events" in texts
    het = next(t for t in texts if t.startswith("Heterogeneity:"))
    assert het == (f"Heterogeneity: Chi² = {res.q:.2f}, df = {res.q_df} "
                   f"({fmt_pvalue(res.q_pval, 'RevMan5')}); I² = {res.i2:.0f}%")
    assert "Tau²" not in het  # a common-effect model
    assert f"Test for overall effect: Z = {abs(res.stat):.2f} (P < 0.00001)" in texts
    assert {"Favours MWA", "Favours RFA"} <= set(texts)
    gax = fig.axes[0]
    assert gax.get_xscale() == "log"
    lo, hi = gax.get_xlim()
    assert lo * hi == pytest.approx(1.0)  # symmetric about the line of no effect
    vertical = {round(float(seg[0][0]), 12) for c in gax.collections
                if hasattr(c, "get_segments") for seg in c.get_segments()
                if len(seg) == 2 and seg[0][0] == seg[1][0]}
    assert 1.0 in vertical
    assert fig.get_figwidth() == pytest.approx(180 / 25.4, rel=0.02)
    plt.close(fig)


def test_revman5_random_effects_header_and_tau2():
    res = _pool(measure="OR", method="DL")
    texts = _texts(iometa.forest_plot(res, layout="revman5"))
    assert "Odds Ratio\nIV, Random, 95% CI" in texts
    het = next(t for t in texts if t.startswith("Heterogeneity:"))
    assert het.startswith(f"Heterogeneity: Tau² = {res.tau2:.2f}; Chi² = {res.q:.2f}")
    assert {"Favours Experimental", "Favours Control"} <= set(texts)
    assert f"Test for overall effect: Z = {abs(res.stat):.2f} " \
           f"({fmt_pvalue(res.pval, 'RevMan5')})" in texts
    plt.close("all")


def test_peto_header():
    res = _pool(measure="OR", method="Peto")
    assert "Odds Ratio\nPeto, Fixed, 95% CI" in _texts(iometa.forest_plot(res, layout="RevMan5"))
    plt.close("all")


def test_revman5_subgroups_subtotals_and_test_for_subgroup_differences():
    sub = iometa.subgroups(_pool(measure="OR", method="DL"), "era")
    texts = _texts(iometa.forest_plot(sub, layout="RevMan5", favours=("BCG", "control")))
    assert {"1.1.1 early", "1.1.2 late", "Subtotal (95% CI)", "Total (95% CI)"} <= set(texts)
    assert texts.count("Subtotal (95% CI)") == 2
    for g in sub.groups.values():
        sub_line = f"{_ratio(g.estimate)} [{_ratio(g.ci_low)}, {_ratio(g.ci_high)}]"
        assert sub_line in texts
        assert f"Test for overall effect: Z = {abs(g.stat):.2f} " \
               f"({fmt_pvalue(g.pval, 'RevMan5')})" in texts
    ov = sub.overall
    ow = ov.studies.set_index("label")["weight"]
    early = ow.loc[["Aronson 1948", "Ferguson & Simes 1949"]].sum()
    assert f"{early:.1f}%" in texts  # subtotal weights of the overall model
    assert (f"Test for subgroup differences: Chi² = {sub.q_between:.2f}, "
            f"df = {int(sub.q_between_df)} ({fmt_pvalue(sub.q_between_pval, 'RevMan5')})"
            in texts)
    plt.close("all")


def test_jama_layout():
    res = _pool(measure="OR", method="REML")
    fig = iometa.forest_plot(res, layout="JAMA", favours=("TARE", "TACE"))
    texts = _texts(fig)
    assert not any("Weight" in t for t in texts)
    assert "Odds ratio\n(95% CI)" in texts and "Source" in texts
    assert "TARE\nevents/total" in texts
    for r in res.studies.itertuples():
        assert f"{_ratio(r.estimate)} ({_ratio(r.ci_low)}-{_ratio(r.ci_high)})" in texts
        assert f"{r.events_1}/{r.total_1}" in texts
    het = next(t for t in texts if t.startswith("Heterogeneity:"))
    assert f"χ²₄ = {res.q:.2f}" in het and "P < .001" in het
    assert {"Favors TARE", "Favors TACE"} <= set(texts)
    assert fig.get_figwidth() == pytest.approx(180 / 25.4, rel=0.02)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no LayoutWarning: the count columns give way
        narrow = iometa.forest_plot(res, layout="JAMA", width="single")
    assert narrow.get_figwidth() == pytest.approx(90 / 25.4, rel=0.02)
    assert "TARE\nevents/total" not in _texts(narrow)
    plt.close("all")


def test_continuous_columns_from_the_data():
    eff = iometa.two_group_effects(mean_1=[10.0, 12.5, 9.0], sd_1=[3.0, 4.0, 3.5],
                                   n_1=[20, 30, 25], mean_2=[12.0, 13.0, 11.0],
                                   sd_2=[3.0, 4.5, 4.0], n_2=[21, 29, 25], measure="MD")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = iometa.pool_effects("yi", "vi", measure="MD", data=eff, method="FE")
    texts = _texts(iometa.forest_plot(res, layout="RevMan5", favours=("A", "B")))
    assert {"A\nMean", "\nSD", "Mean Difference\nIV, Fixed, 95% CI"} <= set(texts)
    assert {"12.50", "4.50", "75"} <= set(texts)  # a mean, an SD, the total of group 1
    est = f"{res.estimate:.2f}".replace("-", "−")
    assert any(t.startswith(est + " [") for t in texts)
    plt.close("all")


def test_comparison_rows_name_the_arms():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        studies = iometa.load_studies()
        sel = iometa.comparison_rows(studies, "local_progression", "MWA", "RFA")
        res = iometa.pool_two_groups("events_1", "total_1", "events_2", "total_2",
                                     data=sel.rows, labels="label", measure="RR", method="FE")
    texts = _texts(iometa.forest_plot(res, layout="RevMan5"))
    assert {"Favours MWA", "Favours RFA", "MWA\nEvents", "Vogl 2022",
            "Heterogeneity: Not applicable"} <= set(texts)
    # favours= are the labels left and right of the line; the arm headers stay the data's
    fig = iometa.forest_plot(res, layout="RevMan5", favours=("RFA", "Favours MWA"))
    heads = [t for t in fig.axes[0].texts if t.get_text() in ("MWA\nEvents", "RFA\nEvents")]
    assert [t.get_text() for t in sorted(heads, key=lambda t: t.get_position()[0])] == [
        "MWA\nEvents", "RFA\nEvents"]
    left, right = sorted((t for t in fig.axes[0].texts
                          if t.get_text() in ("Favours RFA", "Favours MWA")),
                         key=lambda t: t.get_position()[0])
    assert (left.get_text(), right.get_text()) == ("Favours RFA", "Favours MWA")
    plt.close("all")


def test_ax_in_figure_out_and_default_unchanged():
    res = _pool(measure="RR", method="MH")
    fig, ax = plt.subplots(figsize=(7.1, 4))
    assert iometa.forest_plot(res, layout="RevMan5", ax=ax) is fig
    default = _texts(iometa.forest_plot(res))
    assert "Study or Subgroup" not in default and "Total events" not in default
    with pytest.raises(ValueError, match="layout='RevMan'"):
        iometa.forest_plot(res, layout="RevMan")
    with pytest.raises(ValueError, match="two labels"):
        iometa.forest_plot(res, layout="JAMA", favours=("A",))
    plt.close("all")


def test_symmetric_axis_and_p_values():
    assert symmetric_axis([0.3, 1.0], [0.1, 0.9], "log", 1.0)[0] == (0.1, 10.0)
    assert symmetric_axis([0.3], [0.001], "log", 1.0)[0] == (0.01, 100.0)  # arrows beyond
    lim, ticks = symmetric_axis([-1.7, 0.0], [-3.9, 1.0], "linear", 0.0)
    assert lim == (-5.0, 5.0) and ticks[2] == 0.0
    assert [fmt_pvalue(p, "RevMan5") for p in (0.5, 0.004, 0.00012, 1e-7)] == [
        "P = 0.50", "P = 0.004", "P = 0.00012", "P < 0.00001"]
    assert [fmt_pvalue(p, "JAMA") for p in (0.5, 0.004, 0.0002)] == [
        "P = .50", "P = .004", "P < .001"]
    assert np.isfinite(symmetric_axis([], [], "log", 1.0)[0]).all()


def test_knapp_hartung_and_non_comparative_results():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        kh = iometa.pool_two_groups(BCG.e1, BCG.n1, BCG.e2, BCG.n2, method="REML", test="knha")
        prop = iometa.pool_proportions([13, 4, 9], [51, 30, 40], labels=["A", "B", "C"])
    texts = _texts(iometa.forest_plot(kh, layout="RevMan5"))
    assert f"Test for overall effect: t = {abs(kh.stat):.2f}, df = {kh.df:.0f} " \
           f"({fmt_pvalue(kh.pval, 'RevMan5')})" in texts
    jama = _texts(iometa.forest_plot(kh, layout="JAMA"))
    assert any(t.startswith(f"Test for overall effect: t₄ = {abs(kh.stat):.2f}") for t in jama)
    texts = _texts(iometa.forest_plot(prop, layout="RevMan5"))
    assert "Proportion (%)\nIV, Random, 95% CI" in texts
    st = prop.studies
    assert f"{100 * st['estimate'].iloc[0]:.2f} [{100 * st['ci_low'].iloc[0]:.2f}, " \
           f"{100 * st['ci_high'].iloc[0]:.2f}]" in texts
    plt.close("all")

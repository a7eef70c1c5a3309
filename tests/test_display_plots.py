"""Figure labels and display options (issue 25, item 7): each test reads the drawn artists
(texts, tick labels, offsets), not pixels."""

from __future__ import annotations

import warnings

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.collections import PathCollection  # noqa: E402
from matplotlib.text import Text  # noqa: E402

import iometa  # noqa: E402
from iometa._warnings import IometaWarning  # noqa: E402

LABELS = ["Nieuwenhuizen 2007", "newbury2022ref22", "Solbiati 2001", "van Tilborg 2011",
          "Livraghi 2003", "Shibata 2002"]


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", IometaWarning)
        yield
    plt.close("all")


def texts(fig) -> list[str]:
    return [t.get_text() for t in fig.findobj(Text) if t.get_visible() and t.get_text()]


def props():
    df = pd.DataFrame({"e": [0, 5, 9, 12, 3, 7], "n": [20, 30, 40, 50, 25, 33],
                       "study": LABELS,
                       "mod": ["cryoablation", "RFA", "RFA", "MWA", "cryoablation", "MWA"]})
    return iometa.pool_proportions("e", "n", data=df, labels="study")


def odds_ratios(k=8, seed=1):
    r = np.random.default_rng(seed)
    n1, n2 = r.integers(40, 200, k), r.integers(40, 200, k)
    return iometa.pool_two_groups(r.binomial(n1, 0.3), n1, r.binomial(n2, 0.4), n2,
                                  measure="OR")


# ------------------------------------------------------------------ pscale in the forest
def test_forest_pscale_proportions_and_per_1000():
    res = props()
    default = iometa.forest_plot(res)
    assert "Proportion (%)" in texts(default)
    assert texts(iometa.forest_plot(res, pscale=100)) == texts(default)
    one = iometa.forest_plot(res, pscale=1)
    t1 = texts(one)
    assert "Proportion" in t1 and any(t.startswith("Proportion\n[95% CI]") for t in t1)
    assert any(t.startswith(f"{res.estimate:.3f} [") for t in t1)
    ticks = [float(t.get_text()) for t in one.axes[0].get_xticklabels()]
    assert max(ticks) <= 1.0 and min(ticks) >= 0
    per = texts(iometa.forest_plot(res, pscale=1000))
    assert "Proportion (per 1000)" in per
    assert any(t.startswith(f"{1000 * res.estimate:.0f} [") for t in per)


def test_forest_pscale_refused_for_ratios():
    with pytest.raises(ValueError, match="proportions and survival rates only"):
        iometa.forest_plot(odds_ratios(), pscale=100)


# ------------------------------------------------------------------ sort inside subgroups
def _study_order(fig, names):
    order = [t.get_text().replace("\n", " ") for t in fig.findobj(Text)
             if t.get_text().replace("\n", " ") in names]
    ys = {t.get_text().replace("\n", " "): t.get_position()[1] for t in fig.findobj(Text)
          if t.get_text().replace("\n", " ") in names}
    return sorted(order, key=lambda s: ys[s])  # y grows downwards (row units)


@pytest.mark.parametrize("sort", ["estimate", "weight", "label"])
def test_forest_sort_within_subgroups(sort):
    res = props()
    sub = iometa.subgroups(res, "mod")
    fig = iometa.forest_plot(sub, sort=sort, width="double")
    shown = _study_order(fig, set(LABELS))
    headers = _study_order(fig, {"Cryoablation", "RFA", "MWA"})
    assert headers == ["Cryoablation", "RFA", "MWA"]  # groups keep their order
    ys = {t.get_text(): t.get_position()[1] for t in fig.findobj(Text)}
    for name, g in sub.groups.items():
        st = g.studies
        key = {"estimate": st["estimate"], "weight": -st["weight"], "label": st["label"]}[sort]
        expect = list(st["label"].iloc[np.argsort(key.to_numpy(), kind="stable")])
        got = [s for s in shown if s in set(st["label"])]
        assert got == expect, (name, got, expect)
        header_y = ys[name[:1].upper() + name[1:]]
        assert all(ys[s] > header_y for s in got)  # below their own header


# ------------------------------------------------------------------ labels
def test_leave_one_out_header_and_ticks_name_the_measure():
    res = odds_ratios()
    loo = iometa.leave_one_out(res)
    for fig in (iometa.leave_one_out_plot(loo, res), iometa.leave_one_out_plot(loo),
                iometa.leave_one_out_plot(loo, transf="exp"),
                iometa.leave_one_out_plot(loo, res, transf="exp", width="single")):
        t = texts(fig)
        assert "Odds ratio\n[95% CI]" in t and "Odds ratio" in t
        assert not any(s.startswith("Ratio") for s in t)
        ticks = [float(x.get_text()) for x in fig.axes[0].get_xticklabels()]
        assert len(ticks) >= 3, ticks
        lo, hi = fig.axes[0].get_xlim()
        assert lo <= loo["estimate"].min() and hi >= loo["estimate"].max()


def test_narrow_log_axis_has_more_than_two_ticks():
    from iometa.plots.axis import limits

    for lo, hi in ((0.7, 0.95), (0.8, 0.9), (1.1, 1.3)):
        _, ticks = limits([lo, hi], [], "log", width_in=1.3, fontsize=6.5)
        assert len(ticks) >= 3 and ticks[0] <= lo and ticks[-1] >= hi, (lo, hi, ticks)


def test_funnel_and_bubble_axes_use_the_measure_label():
    res = odds_ratios()
    for fig in (iometa.funnel_plot(res), iometa.funnel_plot(res, transf="exp")):
        assert fig.axes[0].get_xlabel() == "Odds ratio (log scale)"
    reg = iometa.meta_regression(res, np.arange(8.0))
    assert iometa.bubble_plot(reg, result=res).axes[0].get_ylabel() == "Odds ratio (log scale)"
    assert iometa.bubble_plot(reg, result=res, transf="exp").axes[0].get_ylabel() == \
        "Odds ratio (log scale)"


@pytest.mark.parametrize("width", ["single", 60, "double"])
def test_study_names_are_never_broken_inside_a_word(width):
    res = props()
    fig = iometa.forest_plot(iometa.subgroups(res, "mod"), width=width)
    words = {w for lab in LABELS for w in lab.split()}
    shown = [t for t in texts(fig) if any(lab.split()[0][:5] in t for lab in LABELS)]
    assert len(shown) == len(LABELS)
    for t in shown:
        for piece in t.split():
            if piece.endswith("…"):  # ellipsized: a beginning of a word, never a hyphen
                assert any(w.startswith(piece[:-1]) for w in words), (t, piece)
            else:
                assert piece in words, (t, piece)  # a whole word: not cut, no hyphen added


def test_group_headers_are_capitalised_for_display():
    sub = iometa.subgroups(props(), "mod")
    t = texts(iometa.forest_plot(sub))
    assert "Cryoablation" in t and "cryoablation" not in t and "RFA" in t
    assert list(sub.groups) == ["cryoablation", "RFA", "MWA"]  # the data keep their codes


def test_gosh_highlight_legend_names_the_study():
    res = props()
    g = iometa.gosh(res)
    fig = iometa.gosh_plot(g, res, highlight="Solbiati 2001")
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert legend == ["without Solbiati 2001", "with Solbiati 2001"]


def test_zero_event_square_is_not_clipped_at_the_axis():
    res = props()
    fig = iometa.forest_plot(res)
    ax = fig.axes[0]
    squares = [c for c in ax.collections if isinstance(c, PathCollection)
               and c.get_offsets().shape[0] == res.k]
    assert len(squares) == 1
    sq = squares[0]
    x = np.asarray(sq.get_offsets())[:, 0]
    assert ax.get_xlim()[0] == pytest.approx(x.min())  # the 0 % study sits on the axis limit
    assert not sq.get_clip_on()


# ------------------------------------------------------------------ inline figures in Jupyter
def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def _saved_png(fig, **kw) -> bytes:
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", **kw)
    return buf.getvalue()


def test_figures_show_at_twice_the_resolution_in_jupyter_and_save_unchanged(monkeypatch):
    pylabtools = pytest.importorskip("IPython.core.pylabtools")
    from iometa.plots import display

    res = props()
    monkeypatch.setattr(display, "in_notebook", lambda: False)  # whatever this process imported
    plain = iometa.forest_plot(res, width="single")
    assert isinstance(plain, display.IometaFigure)
    monkeypatch.setattr(display, "in_notebook", lambda: True)
    figs = [iometa.forest_plot(res, width="single"), iometa.funnel_plot(res),
            iometa.survival_plot(pd.DataFrame({
                "time": [12, 24], "group": ["RFA", "RFA"], "estimate": [0.9, 0.8],
                "ci_low": [0.8, 0.7], "ci_high": [0.95, 0.9], "k": [3, 2]})),
            iometa.bayes_posterior_plot(iometa.pool_bayes([0.1, 0.5, 0.3], [0.04, 0.05, 0.06]))]
    for fig in figs:
        assert fig.dpi == display.DISPLAY_DPI == 200
    inline = figs[0]
    # what IPython's inline display draws: the figure at its dpi (png) or twice (retina)
    w, h = _png_size(pylabtools.print_figure(inline, "png", bbox_inches=None))
    assert (w, h) == tuple(int(x) for x in inline.get_size_inches() * 200)
    assert w >= 700  # a 90-mm figure: readable, not 354 px
    w2, _ = _png_size(pylabtools.print_figure(inline, "retina", bbox_inches=None))
    assert abs(w2 - 2 * w) <= 1  # int(inches × dpi) rounding
    # files are unchanged: savefig without dpi uses the creation dpi, explicit dpi wins
    assert _png_size(_saved_png(inline)) == _png_size(_saved_png(plain))
    assert _png_size(_saved_png(plain))[0] == int(plain.get_size_inches()[0] * plain.dpi)
    assert _png_size(_saved_png(inline, dpi=50))[0] == int(inline.get_size_inches()[0] * 50)
    assert repr(inline) == repr(plain) == (
        f"<Figure size {plain.get_size_inches()[0] * plain.dpi:g}x"
        f"{plain.get_size_inches()[1] * plain.dpi:g} with 1 Axes>")


def test_figures_outside_jupyter_keep_matplotlibs_dpi(monkeypatch):
    import matplotlib as mpl

    from iometa.plots import display

    monkeypatch.setattr(display, "in_notebook", lambda: False)
    fig = iometa.forest_plot(props(), width="single")
    assert fig.dpi == mpl.rcParams["figure.dpi"] and fig.file_dpi == fig.dpi


def test_importing_ipykernel_is_not_being_in_a_kernel():
    """A script (or this test run) that merely imports ipykernel is not a Jupyter kernel:
    its figures keep matplotlib's dpi (the full test run imports ipykernel for the notebooks)."""
    pytest.importorskip("ipykernel")
    import ipykernel  # noqa: F401

    from iometa.plots import display

    assert not display.in_notebook()

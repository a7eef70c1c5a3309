"""Text extents and layouts kept per report run (iometa.plots.textcache): the PNG and SVG
files are those matplotlib writes, the cache is dropped when the run ends, and texts that need
a fallback font (a missing-glyph warning) are never kept."""

from __future__ import annotations

import io
import warnings

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.backends.backend_agg import FigureCanvasAgg, RendererAgg  # noqa: E402
from matplotlib.backends.backend_svg import FigureCanvasSVG  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.font_manager import FontProperties  # noqa: E402
from matplotlib.textpath import TextToPath  # noqa: E402

import iometa  # noqa: E402
from iometa.plots import glyphs, textcache  # noqa: E402

pytestmark = pytest.mark.skipif(not glyphs.supported(),
                                reason="save_figure uses matplotlib's canvases on this version")

TEXTS = ["Study", "Events", "Proportion [95% CI]", "0.25", "Smith 2019 (left lobe)",
         "τ² = 0.012; I² = 34%", "Total (95% CI)", "12/34", "", " a  b "]


def _figure():
    fig = Figure(figsize=(4, 3))
    ax = fig.add_subplot()
    for i, s in enumerate(TEXTS * 2):  # every text twice: the second from the cache
        ax.text(0.02, i / 20, s, fontsize=6 + i % 4, weight="bold" if i % 3 else "normal",
                rotation=30 if i == 7 else 0)
    ax.set_title("Weights $\\tau^2$")  # mathtext: matplotlib's own path
    ax.set_xticks([0, 0.5, 1])
    return fig


def _svg(fig, canvas_class):
    canvas = fig.canvas
    canvas_class(fig)
    try:
        buf = io.StringIO()
        with matplotlib.rc_context({"svg.hashsalt": "t", "svg.fonttype": "path"}):
            fig.savefig(buf, format="svg", metadata={"Date": None})
        return buf.getvalue()
    finally:
        fig.set_canvas(canvas)


def _png(fig, canvas_class, dpi=200):
    canvas = canvas_class(fig)
    fig.set_dpi(dpi)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba()).copy()


def test_extents_equal_matplotlibs():
    cache: dict = {}
    ours, theirs = textcache.CachedTextToPath(cache), TextToPath()
    agg, mine = RendererAgg(200, 200, 300.0), glyphs.GlyphCacheRenderer(200, 200, 300.0)
    for s in TEXTS * 2:
        for size, weight in ((7.0, "normal"), (8.5, "bold")):
            prop = FontProperties(family="DejaVu Sans", size=size, weight=weight)
            assert ours.get_text_width_height_descent(s, prop, False) == \
                theirs.get_text_width_height_descent(s, prop, False)
            assert mine.get_text_width_height_descent(s, prop, False) == \
                agg.get_text_width_height_descent(s, prop, False)
    assert any(k[0] == "svg-extent" for k in cache)
    assert any(k[0] == "agg-extent" for k in mine._layouts)


@pytest.mark.parametrize("shared", [False, True])
def test_svg_and_png_equal_matplotlibs(shared):
    fig = _figure()
    _png(fig, FigureCanvasAgg)  # any layout settles on the first draw
    svg, png = _svg(fig, FigureCanvasSVG), _png(fig, FigureCanvasAgg)
    if shared:
        with textcache.shared_layouts() as cache:
            first = _svg(fig, textcache.SvgCanvas), _png(fig, glyphs.GlyphCacheCanvas)
            assert cache  # filled by the first draws, read by the second ones
            again = _svg(fig, textcache.SvgCanvas), _png(fig, glyphs.GlyphCacheCanvas)
        results = [first, again]
    else:
        results = [(_svg(fig, textcache.SvgCanvas), _png(fig, glyphs.GlyphCacheCanvas))]
    for s, p in results:
        assert s == svg
        assert np.array_equal(p, png)


def test_forest_plot_files_equal_inside_and_outside_a_run(tmp_path):
    res = iometa.pool_proportions([13, 4, 9, 20], [51, 30, 40, 61],
                                  labels=["Ann 2001", "Bo 2003", "Cy 2010", "Di 2019"])
    fig = iometa.forest_plot(res)
    alone = iometa.save_figure(fig, tmp_path / "alone", formats=("png", "svg"), dpi=200)
    with textcache.shared_layouts():
        other = iometa.forest_plot(iometa.pool_proportions([3, 8, 5], [20, 31, 25]))
        iometa.save_figure(other, tmp_path / "other", formats=("png", "svg"), dpi=200)
        shared = iometa.save_figure(fig, tmp_path / "shared", formats=("png", "svg"), dpi=200)
    for a, b in zip(alone, shared, strict=True):
        assert a.read_bytes() == b.read_bytes()


def test_the_cache_ends_with_the_run(tmp_path):
    own: dict = {}
    assert textcache.layouts(own) is own
    with textcache.shared_layouts() as first:
        assert textcache.layouts(own) is first
        with textcache.shared_layouts() as inner:
            assert inner is not first and inner == {}
        assert textcache.layouts(own) is first
    assert textcache.layouts(own) is own
    from iometa.data.load import default_data_path
    from iometa.report.content import build_artefacts

    seen = []
    orig = textcache.layouts

    def spy(d):
        out = orig(d)
        seen.append(out)
        return out

    textcache.layouts = spy
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            studies = iometa.load_studies()
            build_artefacts(studies.iloc[:40], tmp_path / "r", data_path=default_data_path())
    finally:
        textcache.layouts = orig
    assert seen and all(s is seen[0] for s in seen)  # one dictionary for the whole run
    assert seen[0]  # it was used
    assert textcache.layouts(own) is own  # and is gone afterwards


def test_text_needing_a_fallback_font_is_not_kept_and_warns_every_time():
    cache: dict = {}
    t2p = textcache.CachedTextToPath(cache)
    prop = FontProperties(family="DejaVu Sans", size=8)
    font = t2p._get_font(prop)
    assert textcache.covered(cache, font, "Smith 2019 τ²")
    assert not textcache.covered(cache, font, "\u4e00")
    for _ in range(2):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            t2p.get_text_width_height_descent("x\u4e00", prop, False)
        assert any("missing from font" in str(w.message) for w in caught)
    assert not any(k[0] == "svg-extent" and k[2] == "x\u4e00" for k in cache)


def _plain(layout):
    return tuple(tuple(x.bounds) if hasattr(x, "bounds") else x for x in layout)


@pytest.mark.parametrize("dpi", [72.0, 200.0, 300.0])
def test_line_heights_equal_matplotlibs(dpi):
    """Text._get_layout with the renderers' font height metrics = without them (matplotlib
    reads the font's tables itself)."""
    fig = Figure(figsize=(3, 2), dpi=dpi)
    texts = [fig.text(0.1, 0.1, s, fontsize=size, weight=weight, style=style)
             for s in ("Study", "two\nlines", "Proportion [95% CI]\n(events)")
             for size in (6.0, 8.5)
             for weight, style in (("normal", "normal"), ("bold", "italic"))]
    agg = RendererAgg(600, 400, dpi)
    mine = glyphs.GlyphCacheRenderer(600, 400, dpi)
    mine._figure = fig
    cache: dict = {}
    for t in texts:
        assert _plain(t._get_layout(mine)) == _plain(t._get_layout(agg))
        font = textcache.font_of({}, t.get_fontproperties())
        assert textcache.font_height_metrics(cache, font, t.get_fontsize(), dpi) == \
            mine._get_font_height_metrics(t.get_fontproperties())
    assert any(k[0] == "height" for k in mine._layouts)

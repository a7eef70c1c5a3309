"""The glyph-bitmap cache of save_figure's PNG canvas (iometa.plots.glyphs) draws exactly the
pixels matplotlib's Agg canvas draws: glyph by glyph, and on whole figures (hinted and
unhinted text, rotated, mathtext, non-antialiased, text off the canvas's edges)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.font_manager import FontProperties, findfont, get_font  # noqa: E402
from matplotlib.ft2font import LoadFlags, RenderMode  # noqa: E402

import iometa  # noqa: E402
from iometa.plots import glyphs  # noqa: E402

pytestmark = pytest.mark.skipif(not glyphs.supported(),
                                reason="save_figure uses matplotlib's canvas on this version")


def _pixels(fig, canvas_class, dpi, rc):
    with matplotlib.rc_context(rc):
        canvas = canvas_class(fig)
        fig.set_dpi(dpi)
        canvas.draw()
        return np.asarray(canvas.buffer_rgba()).copy()


def _same(fig, dpi, rc=None):
    rc = rc or {}
    _pixels(fig, FigureCanvasAgg, dpi, rc)  # a constrained layout settles on the first draw
    theirs = _pixels(fig, FigureCanvasAgg, dpi, rc)
    glyphs._GLYPHS.clear()
    cold = _pixels(fig, glyphs.GlyphCacheCanvas, dpi, rc)
    warm = _pixels(fig, glyphs.GlyphCacheCanvas, dpi, rc)  # every glyph from the cache
    return np.array_equal(theirs, cold) and np.array_equal(theirs, warm)


def test_bitmap_moves_by_whole_pixels_with_the_origin():
    """The fact the cache rests on: FreeType's bitmap at origin (x, y) in 1/64 px is its
    bitmap at (x mod 64, y mod 64) moved by whole pixels."""
    rng = np.random.default_rng(5)
    for weight, style in (("normal", "normal"), ("bold", "italic")):
        font = get_font(findfont(FontProperties(family="DejaVu Sans", weight=weight,
                                                style=style)))
        for ch in "0123456789.,–()[]ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz%τ²":
            gi = font.get_char_index(ord(ch))
            for _ in range(3):
                size, dpi = rng.choice([6.0, 7.5, 8.0, 11.0]), rng.choice([100.0, 300.0, 600.0])
                angle = rng.choice([0.0, 90.0, 33.0])
                c, s = np.cos(np.radians(angle)), np.sin(np.radians(angle))
                m = (0x10000 * np.array([[c, -s], [s, c]])).round().astype(int)
                ox, oy = (int(v) for v in rng.integers(-5000, 200_000, 2))
                out = []
                for delta in ([ox, oy], [ox & 63, oy & 63]):
                    font.set_size(size, dpi)
                    font._set_transform(m, delta)
                    for flags in (LoadFlags.NO_HINTING, LoadFlags.FORCE_AUTOHINT):
                        b = font._render_glyph(gi, flags, RenderMode.NORMAL)
                        out.append((b.buffer.copy(), b.left, b.top))
                for (b1, l1, t1), (b2, l2, t2) in zip(out[:2], out[2:], strict=True):
                    assert np.array_equal(b1, b2), (ch, size, dpi, angle, ox, oy)
                    assert (l1, t1) == (l2 + (ox >> 6), t2 + (oy >> 6))


def _subgroup_forest():
    rng = np.random.default_rng(3)
    k = 14
    df = pd.DataFrame({"study": [f"Author {i} et al. 20{i:02d}" for i in range(k)],
                       "yi": rng.normal(0.2, 0.4, k), "vi": rng.uniform(0.01, 0.2, k),
                       "g": np.repeat(["Ablation", "TACE"], [8, 6])})
    res = iometa.pool("yi", "vi", data=df, labels="study")
    return iometa.forest_plot(iometa.subgroups(res, by="g"))


@pytest.mark.parametrize("dpi", [72, 150, 300])
def test_forest_pixels_equal_matplotlib(dpi):
    fig = _subgroup_forest()
    hinting = "no_hinting" if dpi >= iometa.plots.export.UNHINTED_DPI else "default"
    assert _same(fig, dpi, {"text.hinting": hinting})


def test_funnel_and_survival_pixels_equal_matplotlib():
    res = iometa.pool([0.1, 0.3, -0.2, 0.5, 0.25, 0.05], [0.04, 0.02, 0.05, 0.08, 0.03, 0.01])
    assert _same(iometa.funnel_plot(res, contours=True), 300, {"text.hinting": "no_hinting"})
    surv = iometa.survival_plot(pd.DataFrame({
        "time": [12, 24, 36, 12, 24], "group": ["RFA"] * 3 + ["MWA"] * 2,
        "estimate": [0.9, 0.75, 0.6, 0.85, 0.7], "ci_low": [0.8, 0.6, 0.45, 0.7, 0.5],
        "ci_high": [0.95, 0.85, 0.72, 0.93, 0.84], "k": [4, 3, 2, 3, 2]}))
    assert _same(surv, 200)


def test_rotated_mathtext_aliased_and_clipped_text_equal_matplotlib():
    fig = Figure(figsize=(3, 2))
    ax = fig.add_subplot()
    ax.set_ylabel("rotated label (90°)")
    ax.set_title(r"mathtext $\tau^2 = \sum_i w_i (y_i - \hat\mu)^2$")
    ax.text(0.1, 0.5, "oblique 33°", rotation=33)
    ax.text(0.2, 0.2, "not antialiased", antialiased=False)
    ax.text(-0.3, 0.9, "runs off the left edge", transform=ax.transAxes)
    ax.text(0.7, 1.15, "and the top edge", transform=ax.transAxes, fontsize=30)
    fig.text(0.5, 0.02, "bold italic 7.3 pt", weight="bold", style="italic", fontsize=7.3)
    for rc in ({}, {"text.hinting": "no_hinting"}):
        assert _same(fig, 217, rc)


def test_cache_is_bounded(monkeypatch):
    monkeypatch.setattr(glyphs, "MAX_GLYPHS", 10)
    glyphs._GLYPHS.clear()
    fig = _subgroup_forest()
    assert _same(fig, 300, {"text.hinting": "no_hinting"})
    assert 0 < len(glyphs._GLYPHS) <= 10


def test_cache_keys_tell_apart_what_changes_the_bitmap():
    """One cache across figures that put the same glyphs at the same places, antialiased or
    not, hinted or not, at two sizes and two resolutions, upright or rotated."""
    def fig_with(**kw):
        fig = Figure(figsize=(2, 1))
        fig.text(0.1, 0.4, "Study 12 (3.45)", **kw)
        return fig

    glyphs._GLYPHS.clear()
    cases = [({}, 300, {}), ({"antialiased": False}, 300, {}), ({}, 300, {"text.hinting": "no_hinting"}),
             ({"fontsize": 11}, 300, {}), ({}, 600, {}), ({"rotation": 90}, 300, {}),
             ({"weight": "bold"}, 300, {})]
    for kw, dpi, rc in cases * 2:
        theirs = _pixels(fig_with(**kw), FigureCanvasAgg, dpi, rc)
        ours = _pixels(fig_with(**kw), glyphs.GlyphCacheCanvas, dpi, rc)
        assert np.array_equal(theirs, ours), (kw, dpi, rc)


def test_same_glyph_same_phase_different_matrix():
    """Glyphs at one origin drawn upright, rotated, slanted and extended (as dvi text is):
    each its own bitmap, as matplotlib's renderer draws it."""
    from matplotlib.backends.backend_agg import RendererAgg

    font = get_font(findfont(FontProperties(family="DejaVu Sans")))
    gi = font.get_char_index(ord("R"))
    glyphs._GLYPHS.clear()
    for angle, slant, extend in [(0, 0, 1), (90, 0, 1), (33, 0, 1), (0, 0.3, 1), (0, 0, 1.4)]:
        out = []
        for cls in (RendererAgg, glyphs.GlyphCacheRenderer):
            r = cls(120, 120, 300)
            gc = r.new_gc()
            r._draw_text_glyphs_and_boxes(gc, 60.3, 60.7, angle,
                                          [(font, 9.0, gi, slant, extend, 0.0, 0.0)], [])
            out.append(np.asarray(r.buffer_rgba()).copy())
        assert out[0].any() and np.array_equal(*out), (angle, slant, extend)

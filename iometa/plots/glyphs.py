"""Agg canvas of :func:`iometa.save_figure`'s PNG files: text drawn from a cache of glyph bitmaps.

matplotlib 3.11's Agg renderer draws text one glyph at a time: for each glyph it sets the
font's size and a transform whose translation is the glyph's origin in 1/64 pixel, has
FreeType load and rasterise the glyph, and composites the bitmap. FreeType's rasteriser works
in whole 1/64-pixel coordinates, so moving the outline by whole pixels moves its bitmap by
the same whole pixels and changes no coverage value: the bitmap depends on the glyph (font
file and face, size, dpi, hinting flags, antialiasing, rotation/slant matrix) and only on the
origin's position *within* its pixel, one of 64 × 64 phases. A forest plot repeats the same
digits and letters at few phases (its columns share their x, its rows a spacing): of the 1,159
glyphs of benchmark W6's figure 473 are distinct, and a second forest plot of the same width
and font size finds 80 % of its 1,100 glyphs drawn (figures of other sizes, few).

:class:`GlyphCacheCanvas` draws exactly what :class:`~matplotlib.backends.backend_agg.
FigureCanvasAgg` draws (``tests/test_glyphs.py`` compares the pixels of figures drawn both
ways), keeping at most :data:`MAX_GLYPHS` bitmaps for the process (~0.4 kB each for 8-pt
text at 300 dpi: ~10 MB when full);
it also looks each text's font file up once per font description and draw, not once per
text. It is used only where its output is compared with matplotlib's: when the installed
matplotlib draws text through ``RendererAgg._draw_text_glyphs_and_boxes`` as 3.11 does
(:func:`supported`); otherwise :func:`iometa.save_figure` draws with matplotlib's own canvas.
"""

from __future__ import annotations

import math

import numpy as np
from matplotlib.backends import backend_agg

from . import textcache

try:
    from matplotlib.ft2font import RenderMode
except ImportError:  # matplotlib < 3.10: never used (supported() is False)
    RenderMode = None  # type: ignore[assignment,misc]

#: bitmaps kept for the process (emptied when full: the output never depends on it)
MAX_GLYPHS = 20_000
_GLYPHS: dict[tuple, tuple[np.ndarray, int, int]] = {}


def supported() -> bool:
    """Whether matplotlib's Agg renderer has the glyph loop this module replaces (3.11's)."""
    import matplotlib

    major, minor = (int(x) for x in matplotlib.__version__.split(".")[:2])
    return (major, minor) == (3, 11) and RenderMode is not None and hasattr(
        backend_agg.RendererAgg, "_draw_text_glyphs_and_boxes")


def _matrix(cos, sin, slant, extend):
    """FreeType's 16.16 transform of a glyph, computed as matplotlib 3.11 computes it."""
    m = (0x10000 * np.array([[cos, -sin], [sin, cos]]) @ [[extend, extend * slant], [0, 1]]
         ).round().astype(int)
    return m, tuple(m.ravel().tolist())


class GlyphCacheRenderer(backend_agg.RendererAgg):
    """:class:`~matplotlib.backends.backend_agg.RendererAgg` whose text glyphs come from the
    process's cache of bitmaps (module docstring)."""

    def __init__(self, width, height, dpi):
        super().__init__(width, height, dpi)
        self._font_files: dict = {}
        self._layouts = textcache.layouts({})  # the run's, or this renderer's own
        self._figure = None  # set by GlyphCacheCanvas: the figure being drawn

    def _get_font_height_metrics(self, prop):
        # read by Text._get_layout, which otherwise looks the font and its tables up per text
        if self._figure is None:
            return None, None, None  # Text._get_layout computes them itself
        return textcache.font_height_metrics(
            self._layouts, textcache.font_of(self._font_files, prop), prop.get_size_in_points(),
            self._figure.dpi)

    def get_text_width_height_descent(self, s, prop, ismath):
        # matplotlib's, with the extents kept (iometa.plots.textcache)
        if ismath:
            return super().get_text_width_height_descent(s, prop, ismath)
        font = self._prepare_font(prop)
        flags = backend_agg.get_hinting_flag()
        key = ("agg-extent", font, prop.get_size_in_points(), self.dpi, flags, s)
        hit = self._layouts.get(key)
        if hit is None:
            font.set_text(s, 0.0, flags=flags)
            w, h = font.get_width_height()
            hit = (w / 64.0, h / 64.0, font.get_descent() / 64.0)
            if textcache.covered(self._layouts, font, s):
                self._layouts[key] = hit
        return hit

    def draw_text(self, gc, x, y, s, prop, angle, ismath=False, mtext=None):
        # matplotlib's, with the glyph layout kept (iometa.plots.textcache)
        if ismath:
            return super().draw_text(gc, x, y, s, prop, angle, ismath, mtext)
        font = self._prepare_font(prop)
        flags = backend_agg.get_hinting_flag()
        features = mtext.get_fontfeatures() if mtext is not None else None
        language = mtext.get_language() if mtext is not None else None
        size = prop.get_size_in_points()
        key = ("agg-glyphs", font, size, self.dpi, flags, s, features, language)
        items = self._layouts.get(key)
        if items is None:
            items = tuple((item.ft_object, item.glyph_index, item.x, item.y) for item in
                          font._layout(s, flags=flags, features=features, language=language))
            if textcache.covered(self._layouts, font, s):
                self._layouts[key] = items
        self._draw_text_glyphs_and_boxes(
            gc, x, y, angle, ((f, size, g, 0, 1, dx, dy) for f, g, dx, dy in items), [])

    def _prepare_font(self, font_prop):
        # matplotlib's _prepare_font, with the font file looked up once per font description
        # (rcParams cannot change within one draw)
        font = textcache.font_of(self._font_files, font_prop)
        font.clear()
        font.set_size(font_prop.get_size_in_points(), self.dpi)
        return font

    def _draw_text_glyphs_and_boxes(self, gc, x, y, angle, glyphs, boxes):
        if boxes:  # mathtext rules and TeX boxes: matplotlib's own loop
            return super()._draw_text_glyphs_and_boxes(gc, x, y, angle, glyphs, boxes)
        cos = math.cos(math.radians(angle))
        sin = math.sin(math.radians(angle))
        flags = backend_agg.get_hinting_flag()
        antialiased = bool(gc.get_antialiased())
        height = self.height
        matrices: dict = {}
        draw = self._renderer.draw_text_image
        for font, size, glyph_index, slant, extend, dx, dy in glyphs:  # dy is upwards
            m = matrices.get((slant, extend))
            if m is None:
                m = matrices[slant, extend] = _matrix(cos, sin, slant, extend)
            # the origin in 1/64 pixel, FreeType's y upwards (as matplotlib rounds it)
            ox = round(0x40 * (x + dx * cos - dy * sin))
            oy = round(0x40 * (height - y + dx * sin + dy * cos))
            key = (font.fname, font.face_index, size, self.dpi, glyph_index, flags,
                   antialiased, m[1], ox & 63, oy & 63)
            hit = _GLYPHS.get(key)
            if hit is None:
                font.set_size(size, self.dpi)
                font._set_transform(m[0], [ox & 63, oy & 63])  # the phase, whole pixels later
                bitmap = font._render_glyph(
                    glyph_index, flags, RenderMode.NORMAL if antialiased else RenderMode.MONO)
                buffer = bitmap.buffer
                if not antialiased:
                    buffer *= 0xff
                if len(_GLYPHS) >= MAX_GLYPHS:
                    _GLYPHS.clear()
                hit = _GLYPHS[key] = (buffer, bitmap.left, bitmap.top)
            buffer, left, top = hit
            # draw_text_image's y is downwards & the bitmap's bottom side
            draw(buffer, left + (ox >> 6), int(height) - (top + (oy >> 6)) + buffer.shape[0],
                 0, gc)


class GlyphCacheCanvas(backend_agg.FigureCanvasAgg):
    """:class:`~matplotlib.backends.backend_agg.FigureCanvasAgg` drawing with
    :class:`GlyphCacheRenderer`."""

    def get_renderer(self):
        w, h = self.get_width_height(physical=True)
        key = w, h, self.figure.dpi
        if self._lastKey != key:
            self.renderer = GlyphCacheRenderer(w, h, self.figure.dpi)
            self._lastKey = key
        self.renderer._figure = self.figure  # its dpi is Text._get_layout's
        return self.renderer


__all__ = ["MAX_GLYPHS", "GlyphCacheCanvas", "GlyphCacheRenderer", "supported"]

"""Text measured and laid out once per string: the extents and glyph positions of a text in
:func:`iometa.save_figure`'s PNG and SVG files, reused by every later draw of the same text.

matplotlib lays out each text twice per file, both times through FreeType and libraqm (~0.2 ms
each): once to measure it (``get_text_width_height_descent``: ``set_text``) and once to draw
it (``_layout``), and again for every figure. Both results depend only on the font object (its
files, kerning and fallbacks), its size and resolution, the hinting flags and the string (and,
for the drawing, the text's font features and language); a forest plot repeats its headers,
tick labels and study labels, and the figures of one report repeat each other's (of the
~1,600 texts a report draws per format, ~560 are distinct).

:class:`~iometa.plots.glyphs.GlyphCacheRenderer` (PNG) and :class:`SvgCanvas` (SVG) keep these
results in :func:`layouts`: one renderer's own dictionary, or, inside :func:`shared_layouts`
(one report run, :func:`iometa.report.content.build_artefacts`), a dictionary shared by every
figure of the run and dropped at its end (nothing outlives the run). A text whose characters
are not all in its font's character map (a fallback font or a "missing glyph" warning) is
never stored, so its warning comes with every draw, as without the cache.
``tests/test_textcache.py`` compares the files drawn with and without it.
"""

from __future__ import annotations

import codecs
import os
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from matplotlib import ft2font
from matplotlib.backends.backend_mixed import MixedModeRenderer
from matplotlib.backends.backend_svg import FigureCanvasSVG, RendererSVG
from matplotlib.cbook import file_requires_unicode, open_file_cm
from matplotlib.font_manager import fontManager, get_font
from matplotlib.textpath import TextToPath

_NO_HINTING = (ft2font.LoadFlags.NO_HINTING if hasattr(ft2font, "LoadFlags")
               else ft2font.LOAD_NO_HINTING)  # type: ignore[attr-defined]
#: the layouts shared by the figures of the current report run (None outside one)
_SHARED: ContextVar[dict | None] = ContextVar("iometa_text_layouts", default=None)


@contextmanager
def shared_layouts() -> Iterator[dict]:
    """Within the block, every figure saved shares one dictionary of text layouts (a new
    one, dropped when the block ends)."""
    cache: dict = {}
    token = _SHARED.set(cache)
    try:
        yield cache
    finally:
        _SHARED.reset(token)


def _forget_in_child() -> None:
    """In a forked child: the run's layouts hold the parent's font objects, whose file
    offsets the two processes share (reading glyphs in both would garble them); the child
    starts its own."""
    shared = _SHARED.get()
    if shared is not None:
        shared.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_in_child)


def layouts(own: dict) -> dict:
    """The run's shared dictionary inside :func:`shared_layouts`, else ``own``."""
    shared = _SHARED.get()
    return own if shared is None else shared


def covered(cache: dict, font, s: str) -> bool:
    """Every character of ``s`` is in ``font``'s own character map (no fallback font, no
    missing-glyph warning), so the layout of ``s`` may be stored."""
    key = ("charmap", font)
    codes = cache.get(key)
    if codes is None:
        codes = cache[key] = frozenset(font.get_charmap())
    return all(ord(ch) in codes for ch in s)


#: the font tables matplotlib's Text._get_layout reads a text's line height from, in order
_HEIGHT_TABLES = (("OS/2", "sTypoLineGap", "sTypoAscender", "sTypoDescender"),
                  ("hhea", "lineGap", "ascent", "descent"))


def font_height_metrics(cache: dict, font, fontsize: float, dpi: float):
    """``(min_ascent, min_descent, line_gap)`` of ``font`` at ``fontsize`` points and ``dpi``,
    as matplotlib 3.11's ``Text._get_layout`` computes them from the font's tables (the same
    operations, so the same floats), kept in ``cache``; ``(None, None, None)`` when the font
    has neither table (``_get_layout`` then measures "lp" itself)."""
    key = ("height", font, fontsize, dpi)
    hit = cache.get(key)
    if hit is None:
        hit = (None, None, None)
        for name, gap, ascent, descent in _HEIGHT_TABLES:
            table = font.get_sfnt_table(name)
            if table is None:
                continue
            units_per_em = font.get_sfnt_table("head")["unitsPerEm"]
            scale = 1 / units_per_em * fontsize * dpi / 72
            hit = (table[ascent] * scale, -table[descent] * scale, table[gap] * scale)
            break
        cache[key] = hit
    return hit


class _SvgRenderer(RendererSVG):
    """matplotlib's SVG renderer giving ``Text._get_layout`` the line heights of
    :func:`font_height_metrics` (figure at 72 dpi while an SVG is drawn)."""

    def __init__(self, *args, figure, cache, **kwargs):
        super().__init__(*args, **kwargs)
        self._text2path = CachedTextToPath(cache)
        self._iometa_figure = figure
        self._iometa_files: dict = {}

    def _get_font_height_metrics(self, prop):
        return font_height_metrics(self._text2path._cache, font_of(self._iometa_files, prop),
                                   prop.get_size_in_points(), self._iometa_figure.dpi)


def font_of(files: dict, prop):
    """``get_font(fontManager._find_fonts_by_props(prop))``, the files looked up once per font
    description in ``files`` (one draw: rcParams cannot change within it)."""
    key = tuple(vars(prop).items())
    found = files.get(key)
    if found is None:
        found = files[key] = fontManager._find_fonts_by_props(prop)
    return get_font(found)


class CachedTextToPath(TextToPath):
    """matplotlib's :class:`~matplotlib.textpath.TextToPath` (the SVG renderer's text engine,
    at a fixed size and resolution) with its extents and glyph layouts kept in ``cache``."""

    def __init__(self, cache: dict):
        super().__init__()
        self._cache = cache

    def get_text_width_height_descent(self, s, prop, ismath):
        if ismath:
            return super().get_text_width_height_descent(s, prop, ismath)
        scale = prop.get_size_in_points() / self.FONT_SCALE
        font = self._get_font(prop)
        key = ("svg-extent", font, s)
        hit = self._cache.get(key)
        if hit is None:
            font.set_text(s, 0.0, flags=_NO_HINTING)
            w, h = font.get_width_height()
            hit = (w / 64.0, h / 64.0, font.get_descent() / 64.0)
            if covered(self._cache, font, s):
                self._cache[key] = hit
        w, h, d = hit
        return w * scale, h * scale, d * scale

    def get_glyphs_with_font(self, font, s, glyph_map=None, return_new_glyphs_only=False, *,
                             features=None, language=None):
        key = ("svg-glyphs", font, s, features, language)
        items = self._cache.get(key)
        if items is None:
            glyphs, paths, _ = super().get_glyphs_with_font(font, s, features=features,
                                                            language=language)
            items = tuple((r, x, y, paths[r]) for r, x, y, _ in glyphs)
            if covered(self._cache, font, s):
                self._cache[key] = items
        if glyph_map is None:
            glyph_map = {}
        new = {} if return_new_glyphs_only else glyph_map
        for r, _, _, path in items:
            if r not in glyph_map:
                new[r] = path
        return [(r, x, y, 1.0) for r, x, y, _ in items], new, []


class SvgCanvas(FigureCanvasSVG):
    """:class:`~matplotlib.backends.backend_svg.FigureCanvasSVG` whose renderer measures and
    lays out text with :class:`CachedTextToPath` (same file, module docstring)."""

    def print_svg(self, filename, *, bbox_inches_restore=None, metadata=None, **_other):
        # matplotlib 3.11's print_svg, with the renderer's text engine replaced; ``_other``:
        # what print_figure passes to other formats (dpi, facecolor, …), which it drops for
        # matplotlib's own print_svg
        with open_file_cm(filename, "w", encoding="utf-8") as fh:
            if not file_requires_unicode(fh):
                fh = codecs.getwriter("utf-8")(fh)
            dpi = self.figure.dpi
            self.figure.dpi = 72
            width, height = self.figure.get_size_inches()
            svg = _SvgRenderer(width * 72, height * 72, fh, image_dpi=dpi, metadata=metadata,
                               figure=self.figure, cache=layouts({}))
            renderer = MixedModeRenderer(self.figure, width, height, dpi, svg,
                                         bbox_inches_restore=bbox_inches_restore)
            self.figure.draw(renderer)
            renderer.finalize()


__all__ = ["CachedTextToPath", "SvgCanvas", "covered", "font_height_metrics", "font_of",
           "layouts", "shared_layouts"]

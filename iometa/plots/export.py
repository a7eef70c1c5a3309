"""Export of figures: :func:`save_figure` (PNG at 300 dpi, SVG and PDF, reproducible).

PNG files are encoded here from the pixels matplotlib's Agg renderer draws (the same pixels its
own PNG writer would store), unfiltered (PNG filter type 0 on every row), then zlib at level
:data:`PNG_COMPRESS_LEVEL`; an opaque figure (every alpha 255, checked on the pixels) is
stored as 8-bit RGB, otherwise as RGBA. Pillow, which matplotlib uses, tries several filters
per row, which costs more than drawing half the figure. On figures (white paper, text,
lines) unfiltered rows compress smaller than "Up"-filtered ones (deflate finds each row's
runs and the row above within its window), and RGB drops a quarter of the bytes to deflate
(deflated in bands on two threads, :mod:`iometa.plots.deflate`):
a 300-dpi double-column forest plot (2125 × 2057 pixels) encodes in ~0.035 s and 361 kB,
against ~0.045 s and 452 kB for Up-filtered RGBA; decoded, the pixels and the PNG metadata
(dpi, "Software") are identical to matplotlib's file. Format: W3C (2003) Portable Network
Graphics (PNG) Specification, 2nd ed. (ISO/IEC 15948).

Raster text at :data:`UNHINTED_DPI` and above is drawn without font hinting
(``text.hinting = "no_hinting"``). Hinting snaps glyph outlines to the pixel grid, which
matters at screen resolutions; at 150-600 dpi it changes no stroke visibly, but running the
font's TrueType hinting program for every glyph is a third of the time Agg takes to draw a
forest plot (matplotlib 3.11 loads each glyph three times per text). Unhinted glyphs also have
the advances the layout measured (:mod:`iometa.plots.layout` measures unhinted widths) and
those of the SVG and PDF files (outlines, never hinted).
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path
from typing import Any

from .deflate import deflate_rows

_FORMATS = ("png", "svg", "pdf", "eps", "tif", "tiff", "jpg")
#: zlib level of PNG files (0-9): 3 is as fast as 1 on figures and a little smaller
PNG_COMPRESS_LEVEL = 3
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: raster files at this resolution and above are drawn with unhinted text (module docstring)
UNHINTED_DPI = 150


def save_figure(fig, path_stem, formats=("png", "svg", "pdf"), dpi=300, *,
                editable_text=False, transparent=False) -> list[Path]:
    """Write ``fig`` as ``<path_stem>.<fmt>`` for each format and return the paths.

    Raster formats are written at ``dpi`` (300 by default, the usual journal minimum for line
    art with text use 600). SVG and PDF output is deterministic — no creation date, a fixed
    hash salt for element ids — so that re-running a report gives byte-identical files that
    diff cleanly. Text is converted to paths in SVG (identical rendering everywhere) unless
    ``editable_text=True`` (text stays text: editable in Illustrator/Inkscape, rendered with
    the viewer's fonts). PDF embeds TrueType fonts (Type 42), as journals ask. The figure keeps
    its exact size (no "tight" cropping: the layout already fits the journal width). PNG files
    are lossless, with the pixels matplotlib draws (RGB when the figure is opaque, RGBA when
    it has transparent pixels), encoded faster than matplotlib does;
    at ``dpi`` >= 150 raster text is drawn unhinted (see the module docstring).

    Equivalent of R's ``ggsave``/``pdf()`` + ``svg()`` for meta's ``forest`` output.

    Example
    -------
    >>> import tempfile, pathlib, iometa
    >>> res = iometa.pool_proportions([13, 4, 9], [51, 30, 40])
    >>> fig = iometa.forest_plot(res)
    >>> with tempfile.TemporaryDirectory() as d:
    ...     paths = iometa.save_figure(fig, pathlib.Path(d) / "forest", formats=("svg",))
    ...     paths[0].suffix
    '.svg'
    """
    import matplotlib

    stem = Path(path_stem)
    if stem.suffix.lower().lstrip(".") in _FORMATS:
        stem = stem.with_suffix("")
    if isinstance(formats, str):
        formats = (formats,)
    bad = [f for f in formats if f.lower() not in _FORMATS]
    if bad:
        raise ValueError(f"unknown format(s) {bad}: expected some of {', '.join(_FORMATS)}")
    stem.parent.mkdir(parents=True, exist_ok=True)
    out = []
    rc: dict[str, Any] = {"svg.hashsalt": "iometa", "svg.fonttype": "none" if editable_text else "path",
          "pdf.fonttype": 42, "ps.fonttype": 42}
    if dpi >= UNHINTED_DPI:
        rc["text.hinting"] = "no_hinting"
    with matplotlib.rc_context(rc):  # type: ignore[arg-type]
        for fmt in formats:
            fmt = fmt.lower()
            path = stem.with_name(f"{stem.name}.{fmt}")
            if fmt == "png":
                _save_png(fig, path, dpi, transparent)
            elif fmt == "svg":
                _save_svg(fig, path, dpi, transparent)
            else:
                fig.savefig(path, format=fmt, dpi=dpi, metadata=_metadata(fmt),
                            transparent=transparent)
            out.append(path)
    return out


def _metadata(fmt):
    if fmt == "svg":
        return {"Date": None}
    if fmt == "pdf":
        return {"CreationDate": None, "ModDate": None}
    if fmt == "eps":
        return {"CreationDate": None}
    return None


def _save_png(fig, path, dpi, transparent):
    """Draw ``fig`` with Agg (``savefig(format="rgba")``: the same dpi, face colour,
    transparency and ``savefig.bbox`` cropping as a PNG savefig) and write the pixels with
    :func:`_png_bytes`, straight from the renderer's buffer (:class:`_PixelSink`: no copy of
    the raw pixels), whatever its size (matplotlib sizes the canvas itself: int(inches × dpi),
    rounded up within 1e-8 pixel, so a height a float tick below 6.875 in is 1375 pixels at
    200 dpi, not 1374, as the report's median survival figure is). Only if the
    buffer does not come as one ``(height, width, 4)`` array does matplotlib write the PNG
    itself (Pillow, zlib level :data:`PNG_COMPRESS_LEVEL`)."""
    from . import glyphs

    sink = _PixelSink(dpi)
    canvas = fig.canvas
    if glyphs.supported():
        glyphs.GlyphCacheCanvas(fig)  # becomes fig.canvas for this draw
    try:
        fig.savefig(sink, format="rgba", dpi=dpi, transparent=transparent)
    finally:
        fig.set_canvas(canvas)
    if sink.png is None:
        fig.savefig(path, format="png", dpi=dpi, transparent=transparent,
                    pil_kwargs={"compress_level": PNG_COMPRESS_LEVEL})
        return
    Path(path).write_bytes(sink.png)


def _save_svg(fig, path, dpi, transparent):
    """``savefig(format="svg")``, drawn by :class:`~iometa.plots.textcache.SvgCanvas` (text
    extents and glyph layouts reused, the same file) where :func:`iometa.plots.glyphs.supported`
    says the installed matplotlib is the one it copies."""
    from . import glyphs

    canvas = fig.canvas
    if glyphs.supported():
        from .textcache import SvgCanvas

        SvgCanvas(fig)  # becomes fig.canvas for this draw
    try:
        fig.savefig(path, format="svg", dpi=dpi, metadata=_metadata("svg"),
                    transparent=transparent)
    finally:
        fig.set_canvas(canvas)


class _PixelSink:
    """File-like target of ``savefig(format="rgba")``: matplotlib writes the renderer's
    buffer (a ``(height, width, 4)`` memoryview) in one ``write`` call, which is encoded to
    PNG bytes while the buffer is alive (``png`` is None after any other write)."""

    def __init__(self, dpi):
        self.dpi = dpi
        self.png = None
        self._writes = 0

    def write(self, data):
        import numpy as np

        view = memoryview(data)
        self._writes += 1
        if self._writes == 1 and view.ndim == 3 and view.shape[2] == 4 and view.format == "B":
            self.png = _png_bytes(np.asarray(view), self.dpi)
        else:
            self.png = None
        return view.nbytes

    def seek(self, offset, whence=0):  # matplotlib takes objects with ``seek`` as files
        raise OSError("a pixel sink cannot seek")


def _png_bytes(rgba, dpi, level=PNG_COMPRESS_LEVEL) -> bytes:
    """A PNG file (8 bits per channel, not interlaced) of the ``(height, width, 4)`` uint8 array:
    colour type 2 (RGB) if every alpha is 255, else 6 (RGBA).

    Rows are stored unfiltered (filter type 0); ``dpi`` is stored in a pHYs chunk and
    matplotlib's "Software" text as matplotlib writes it; deterministic for a given zlib.

    Example
    -------
    >>> import io, numpy as np
    >>> from PIL import Image
    >>> rgba = np.random.default_rng(1).integers(0, 256, (5, 7, 4), dtype=np.uint8)
    >>> im = Image.open(io.BytesIO(_png_bytes(rgba, 300)))
    >>> bool((np.asarray(im) == rgba).all()), im.mode, round(im.info["dpi"][0])
    (True, 'RGBA', 300)
    >>> rgba[..., 3] = 255
    >>> im = Image.open(io.BytesIO(_png_bytes(rgba, 300)))
    >>> bool((np.asarray(im.convert("RGBA")) == rgba).all()), im.mode
    (True, 'RGB')
    """
    import matplotlib

    h, w, _ = rgba.shape
    data = deflate_rows(rgba, 3, level)  # None once a pixel is not opaque
    opaque = data is not None
    if data is None:
        data = deflate_rows(rgba, 4, level)
    ppm = int(dpi / 0.0254 + 0.5)  # pixels per metre, rounded as Pillow does
    software = f"Matplotlib version{matplotlib.__version__}, https://matplotlib.org/"
    colour_type = 2 if opaque else 6
    parts = [_PNG_SIGNATURE, _chunk(b"IHDR", struct.pack(">2I5B", w, h, 8, colour_type, 0, 0, 0)),
             _chunk(b"pHYs", struct.pack(">2IB", ppm, ppm, 1)),
             _chunk(b"tEXt", b"Software\0" + software.encode("latin-1"))]
    parts += [_chunk(b"IDAT", data[i:i + (1 << 30)]) for i in range(0, len(data), 1 << 30)]
    return b"".join([*parts, _chunk(b"IEND", b"")])


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

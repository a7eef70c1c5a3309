"""Export of figures: :func:`save_figure` (PNG at 300 dpi, SVG and PDF, reproducible)."""

from __future__ import annotations

from pathlib import Path

_FORMATS = ("png", "svg", "pdf", "eps", "tif", "tiff", "jpg")


def save_figure(fig, path_stem, formats=("png", "svg", "pdf"), dpi=300, *,
                editable_text=False, transparent=False) -> list[Path]:
    """Write ``fig`` as ``<path_stem>.<fmt>`` for each format and return the paths.

    Raster formats are written at ``dpi`` (300 by default, the usual journal minimum for line
    art with text use 600). SVG and PDF output is deterministic — no creation date, a fixed
    hash salt for element ids — so that re-running a report gives byte-identical files that
    diff cleanly. Text is converted to paths in SVG (identical rendering everywhere) unless
    ``editable_text=True`` (text stays text: editable in Illustrator/Inkscape, rendered with
    the viewer's fonts). PDF embeds TrueType fonts (Type 42), as journals ask. The figure keeps
    its exact size (no "tight" cropping: the layout already fits the journal width).

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
    rc = {"svg.hashsalt": "iometa", "svg.fonttype": "none" if editable_text else "path",
          "pdf.fonttype": 42, "ps.fonttype": 42}
    with matplotlib.rc_context(rc):
        for fmt in formats:
            fmt = fmt.lower()
            path = stem.with_name(f"{stem.name}.{fmt}")
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

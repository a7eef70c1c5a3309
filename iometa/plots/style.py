"""Journal presets: figure widths, font sizes, line widths and the rc parameters of every plot.

Widths follow the common journal column sizes (Lancet, JAMA, Radiology, CVIR, JVIR):
single column ≈ 90 mm, one-and-a-half ≈ 140 mm, double column ≈ 180 mm. Fonts stay at or
above 6 pt at final size (most author guidelines ask for 6–8 pt in figures).

Example
-------
>>> from iometa.plots.style import figure_width, preset
>>> round(figure_width("single"), 3), preset("single").fontsize
(3.543, 7.0)
"""

from __future__ import annotations

from dataclasses import dataclass

from .._warnings import IometaWarning

MM_PER_INCH = 25.4
#: journal column widths in millimetres
WIDTHS_MM = {"single": 90.0, "onehalf": 140.0, "double": 180.0}
#: smallest font size a plot may shrink to (points)
MIN_FONTSIZE = 6.0
#: colours: grayscale for print, one accent for pooled summaries
INK = "#000000"
STUDY = "#4d4d4d"
SUMMARY = "#1f1f1f"
COMMON = "#8c8c8c"
ACCENT = "#1f5fa8"
GRID = "#bfbfbf"
#: qualitative palette for groups (Okabe & Ito 2008, colour-blind safe)
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000",
           "#F0E442")


class LayoutWarning(IometaWarning):
    """A figure could not be laid out as asked (e.g. too many columns for the width)."""


@dataclass(frozen=True)
class Preset:
    """Sizes of one journal preset (width in inches, font size in points)."""

    width: float
    fontsize: float
    linewidth: float = 0.6


def figure_width(width) -> float:
    """Figure width in inches from a preset name (``"single"``, ``"onehalf"``, ``"double"``)
    or a number of millimetres."""
    if isinstance(width, str):
        if width not in WIDTHS_MM:
            raise ValueError(f"unknown width {width!r}: expected one of {', '.join(WIDTHS_MM)} "
                             "or a number of millimetres")
        return WIDTHS_MM[width] / MM_PER_INCH
    w = float(width)
    if not 30 <= w <= 500:
        raise ValueError(f"width={w:g} mm is not a plausible figure width (30 to 500 mm)")
    return w / MM_PER_INCH


def preset(width="double", fontsize=None) -> Preset:
    """The :class:`Preset` for ``width``: 7 pt text in single-column figures, 8 pt otherwise."""
    w = figure_width(width)
    if fontsize is None:
        fontsize = 7.0 if w < 4.5 else 8.0
    if fontsize < MIN_FONTSIZE:
        raise ValueError(f"fontsize={fontsize:g} pt is below the legible minimum "
                         f"({MIN_FONTSIZE:g} pt at final size)")
    return Preset(width=w, fontsize=float(fontsize))


def rc(fontsize: float = 8.0) -> dict:
    """rc parameters of every iometa figure (use with ``matplotlib.rc_context``).

    DejaVu Sans (shipped with matplotlib, so layouts are identical on every machine), thin
    lines, outward ticks, and the settings that make SVG and PDF output reproducible.
    """
    return {
        "font.family": "DejaVu Sans",
        "font.size": fontsize,
        "axes.titlesize": fontsize,
        "axes.labelsize": fontsize,
        "xtick.labelsize": fontsize,
        "ytick.labelsize": fontsize,
        "legend.fontsize": fontsize,
        "axes.linewidth": 0.6,
        "lines.linewidth": 0.8,
        "xtick.major.width": 0.6,
        "ytick.major.width": 0.6,
        "xtick.major.size": 3.0,
        "ytick.major.size": 3.0,
        "xtick.major.pad": 2.0,
        "ytick.major.pad": 2.0,
        "xtick.direction": "out",
        "ytick.direction": "out",
        "axes.spines.top": False,
        "axes.spines.right": False,
        "mathtext.default": "regular",
        "svg.hashsalt": "iometa",
        "svg.fonttype": "path",
        "pdf.fonttype": 42,
        "ps.fonttype": 42,
        "path.simplify": False,
        "axes.unicode_minus": True,
        "figure.dpi": 100,
        "savefig.dpi": 300,
    }

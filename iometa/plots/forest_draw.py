"""Drawing of forest-type plots (forest, leave-one-out, cumulative) from a solved layout.

The figure is built in inches: a header block with the column titles, the body (one line unit
per row), the axis block (ticks, axis label, "favours" labels) and a footnote. The graphical
column is one Axes whose y data unit is one table row, so every text shares the rows' geometry
through a transform blended from the figure's inch scale (x) and the Axes' data scale (y).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import style
from .axis import limits, tick_label
from .layout import LINE, LINESPACING, Layout, row_centres, solve, text_width, wrap

PAD = 0.3  # body margin above the first row, in line units
PAD_BOTTOM = 0.5  # body margin below the last row (diamonds stay clear of the axis)


@dataclass
class Options:
    """Drawing options shared by forest-type plots (see :func:`iometa.forest_plot`)."""

    width: object = "double"
    fontsize: float | None = None
    xlim: tuple | None = None
    ticks: tuple | None = None
    refline: float | None = None
    pooled_line: bool = True
    xlabel: str | None = None
    favours: tuple | None = None
    footnote: str | None = None
    square_scale: float = 0.8
    #: header over the graphical column (the journal layouts: "Risk Ratio\nM-H, Fixed, 95% CI")
    plot_header: str | None = None


def _vertical(lay: Layout, rows, opts: Options, footer: list[str], u: float):
    """Heights in inches: top, header, body, axis block, footer, bottom."""
    fs = lay.fontsize
    _, units = row_centres(rows)
    axis = (5.0 + 1.3 * fs + 0.45 * fs + 1.3 * fs) / 72
    if opts.favours:
        axis += 1.3 * fs / 72
    foot = (len(footer) * LINESPACING * fs + (0.5 * fs if footer else 0)) / 72
    return dict(top=0.35 * fs / 72, head=(lay.header_lines * LINESPACING * fs + 0.3 * fs) / 72,
                body=(units + PAD + PAD_BOTTOM) * u, axis=axis, foot=foot,
                bottom=0.35 * fs / 72, units=units)


def render(rows, variants, fallbacks, scale, opts: Options, *, ax=None, core=(), spread=()):
    """Lay out ``rows`` with the column ``variants`` (then ``fallbacks``) and draw them;
    returns the Figure."""
    import matplotlib.pyplot as plt

    pre = style.preset(opts.width if ax is None and opts.width != "auto" else "double",
                       opts.fontsize)
    if ax is not None:
        fig = ax.figure
        bb = ax.get_position()
        fw, fh = fig.get_size_inches()
        canvas = (bb.x0 * fw, bb.y0 * fh, bb.width * fw, bb.height * fh)
        width = canvas[2]
    else:
        width = pre.width if opts.width != "auto" else None
    fs = pre.fontsize
    while True:
        lay = solve(variants[0], rows, width=width, fontsize=fs,
                    plot_min=max(0.85, 0.2 * (width or 7.0)),
                    plot_comfort=0.3 * (width or 7.0), variants=variants,
                    fallbacks=fallbacks)
        footer = _footer_lines(opts.footnote, lay)
        u = LINE * lay.fontsize / 72
        v = _vertical(lay, lay.rows, opts, footer, u)
        height = sum(v[k] for k in ("top", "head", "body", "axis", "foot", "bottom"))
        if ax is None or height <= canvas[3] or lay.fontsize <= style.MIN_FONTSIZE:
            break
        fixed = height - v["body"]
        u_fit = (canvas[3] - fixed) / (v["units"] + PAD + PAD_BOTTOM)
        if u_fit >= 1.1 * lay.fontsize / 72:
            u = u_fit
            v = _vertical(lay, lay.rows, opts, footer, u)
            break
        fs = lay.fontsize - 0.5
    with plt.rc_context(style.rc(lay.fontsize)):
        if ax is None:
            from .figures import make_figure

            fig = make_figure(figsize=(lay.width, height))
            canvas = (0.0, 0.0, lay.width, height)
        else:
            ax.set_axis_off()
        gax = _graph_axes(fig, ax, canvas, lay, v)
        lim, ticks = limits(core, spread, scale.kind, width_in=lay.plot[1] - lay.plot[0],
                            fontsize=lay.fontsize, xlim=opts.xlim, ticks=opts.ticks,
                            lower=scale.lower)
        _setup_axis(gax, scale, lim, ticks, v["units"], lay.fontsize)
        _draw_marks(gax, lay.rows, lim, u, opts)
        _draw_text(fig, gax, canvas, lay, v, u, footer, opts, scale)
    return fig


def _footer_lines(note, lay):
    if not note:
        return []
    out = []
    for para in str(note).split("\n"):
        out += wrap(para, lay.width - 0.7 * lay.fontsize / 72, _foot_fs(lay), seps=(" ",))
    return out


def _foot_fs(lay):
    return max(style.MIN_FONTSIZE, lay.fontsize - 1.0)


def _graph_axes(fig, ax, canvas, lay, v):
    x0, y0, _, _ = canvas
    left = x0 + lay.plot[0]
    bottom = y0 + v["bottom"] + v["foot"] + v["axis"]
    w, h = lay.plot[1] - lay.plot[0], v["body"]
    fw, fh = fig.get_size_inches()
    if ax is None:
        return fig.add_axes((left / fw, bottom / fh, w / fw, h / fh))
    cx, cy, cw, ch = canvas
    return ax.inset_axes(((left - cx) / cw, (bottom - cy) / ch, w / cw, h / ch))


def _setup_axis(gax, scale, lim, ticks, units, fs):
    from matplotlib.ticker import NullFormatter, NullLocator

    from .figures import tick_style

    tick_style(gax, fs, axis="x")
    gax.spines["bottom"].set_linewidth(0.6)
    if scale.kind == "log":
        gax.set_xscale("log")
    gax.set_xlim(*lim)
    gax.set_ylim(units + PAD_BOTTOM, -PAD)
    gax.set_xticks(ticks)
    gax.set_xticklabels([tick_label(t, scale.kind) for t in ticks])
    gax.xaxis.set_minor_locator(NullLocator())
    gax.xaxis.set_minor_formatter(NullFormatter())
    gax.yaxis.set_visible(False)
    for side in ("left", "right", "top"):
        gax.spines[side].set_visible(False)
    gax.patch.set_visible(False)


def _draw_marks(gax, rows, lim, u, opts):
    """Squares (area ∝ weight), points, CI lines with arrows, diamonds, prediction bars."""
    from .marks import draw_marks

    ys, units = row_centres(rows)
    draw_marks(gax, rows, ys, lim, u * 72, opts.square_scale)
    summaries = [(y, r) for y, r in zip(ys, rows, strict=True) if r.kind == "summary"]
    if opts.refline is not None and lim[0] < opts.refline < lim[1]:
        for a, b in _free(rows, ys, units + PAD_BOTTOM):
            gax.vlines(opts.refline, a, b, color=style.INK, lw=0.6, zorder=1)
    if opts.pooled_line and summaries:
        y, r = summaries[-1]
        est = r.mark["est"]
        if np.isfinite(est) and lim[0] < est < lim[1]:
            for a, b in _free(rows, ys, y):
                gax.vlines(est, a, b, color=style.GRID, lw=0.6, ls=(0, (3, 2)), zorder=0.5)


def _free(rows, ys, end):
    """Vertical stretches from the top of the body to ``end`` that avoid text rows (whose
    text may cross the graphical column)."""
    out, start = [], -PAD
    for y, r in zip(ys, rows, strict=True):
        if y >= end:
            break
        if r.kind == "text":
            if y - r.height / 2 > start:
                out.append((start, y - r.height / 2))
            start = y + r.height / 2
    if end > start:
        out.append((start, end))
    return out


def _draw_text(fig, gax, canvas, lay, v, u, footer, opts, scale):
    from matplotlib.transforms import blended_transform_factory

    fs = lay.fontsize
    tr = blended_transform_factory(fig.dpi_scale_trans, gax.transData)
    x0 = canvas[0]
    ys, units = row_centres(lay.rows)

    def put(x, y, s, ha="left", va="center", **kw):
        gax.text(x0 + x, y, s, transform=tr, ha=ha, va=va, fontsize=kw.pop("fontsize", fs),
                 clip_on=False, **kw)

    for c in lay.columns:  # column headers
        lo, hi = lay.extents[c.key]
        x = {"left": lo, "right": hi, "center": (lo + hi) / 2}[c.align]
        put(x, -PAD - 0.15, c.header, ha=c.align, va="bottom", weight="bold",
            multialignment=c.align)
    if opts.plot_header:
        put((lay.plot[0] + lay.plot[1]) / 2, -PAD - 0.15, opts.plot_header, ha="center",
            va="bottom", weight="bold", multialignment="center")
    for y, r in zip(ys, lay.rows, strict=True):
        kw = dict(weight="bold" if r.bold else "normal", style="italic" if r.italic else "normal")
        if r.span:
            put(lay.extents["label"][0], y, r.span, **kw)
        for c in lay.columns:
            s = r.cells.get(c.key)
            if s:
                lo, hi = lay.extents[c.key]
                x = {"left": lo, "right": hi, "center": (lo + hi) / 2}[c.align]
                put(x, y, s, ha=c.align, multialignment=c.align, **kw)
    below = units + PAD_BOTTOM + (5.0 + 1.3 * fs + 0.45 * fs) / 72 / u
    mid = (lay.plot[0] + lay.plot[1]) / 2
    put(mid, below, opts.xlabel or scale.xlabel, ha="center", va="top")
    if opts.favours:
        _favours(put, gax, lay, below + 1.3 * fs / 72 / u, opts, fs)
    yf = units + PAD_BOTTOM + (v["axis"] + 0.5 * fs / 72) / u
    for i, line in enumerate(footer):
        put(lay.extents["label"][0], yf + i * LINESPACING * _foot_fs(lay) / 72 / u, line,
            va="top", fontsize=_foot_fs(lay), color="#333333")


def _favours(put, gax, lay, y, opts, fs):
    """"Favours A" left and "Favours B" right of the reference line, under the axis label."""
    left, right = opts.favours
    lim = gax.get_xlim()
    ref = opts.refline if opts.refline is not None else (
        1.0 if gax.get_xscale() == "log" else 0.0)
    frac = (np.log(ref / lim[0]) / np.log(lim[1] / lim[0]) if gax.get_xscale() == "log"
            else (ref - lim[0]) / (lim[1] - lim[0]))
    frac = float(np.clip(frac, 0.0, 1.0))
    xr = lay.plot[0] + frac * (lay.plot[1] - lay.plot[0])
    gap = 0.5 * fs / 72
    from .layout import truncate

    put(xr - gap, y, truncate(str(left), xr - gap - 0.05, fs), ha="right", va="top")
    put(xr + gap, y, truncate(str(right), lay.width - xr - gap - 0.05, fs), ha="left",
        va="top")


__all__ = ["Options", "render", "text_width"]

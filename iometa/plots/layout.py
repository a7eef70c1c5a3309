"""Table layout shared by the forest-type plots: measured column widths, wrapping, truncation.

A forest plot is a table whose rows are studies and summaries, with a graphical column between
the text columns on the left and on the right. :func:`solve` decides the font size, the column
positions, the width of the graphical column and how long labels are wrapped or truncated, from
text extents measured with matplotlib's Agg renderer (the same font engine that draws them), so
that nothing overlaps at any number of rows and any journal width.

Horizontal positions are inches from the left edge of the drawing area; vertical positions are
"line units" (one line = ``LINE`` × font size) counted down from the top of the body.
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache

from .style import MIN_FONTSIZE, LayoutWarning

LINE = 1.5  # height of one table row, in multiples of the font size
LINESPACING = 1.2  # matplotlib's default spacing of lines within one text
ELLIPSIS = "…"
GAP = 0.9  # space between columns, in multiples of the font size


#: rendered widths vary by up to ±5 % with the output resolution when the font is hinted
#: (matplotlib's default): layouts reserve this margin so no dpi makes texts collide
HINT_MARGIN = 1.06


@lru_cache(maxsize=8)
def _font(weight: str, style: str):
    from matplotlib.font_manager import FontProperties, findfont, get_font

    return get_font(findfont(FontProperties(family="DejaVu Sans", weight=weight, style=style)))  # type: ignore[arg-type]


if hasattr(os, "register_at_fork"):
    # a font object reads its file through a descriptor whose offset a forked process shares
    # with its parent: a child opens its own (as matplotlib does for its get_font cache)
    os.register_at_fork(after_in_child=_font.cache_clear)


def _no_hinting_flag():
    from matplotlib import ft2font

    flags = getattr(ft2font, "LoadFlags", None)
    return flags.NO_HINTING if flags is not None else ft2font.LOAD_NO_HINTING


@lru_cache(maxsize=20000)
def _line_width(s: str, size: float, weight: str, style: str) -> float:
    """Unhinted advance width of one line in inches (the same at every resolution)."""
    if not s:
        return 0.0
    font = _font(weight, style)
    font.set_size(size, 72.0 * 4)
    font.set_text(s, 0.0, flags=_no_hinting_flag())
    w, _ = font.get_width_height()  # 1/64 pixel units
    return w / 64.0 / 288.0 * HINT_MARGIN


def text_width(s: str, size: float, weight: str = "normal", style: str = "normal") -> float:
    """Width in inches of ``s`` (the widest line if it has several) at ``size`` points."""
    return max((_line_width(line, size, weight, style) for line in str(s).split("\n")),
               default=0.0)


def truncate(s: str, width: float, size: float, weight: str = "normal") -> str:
    """``s`` shortened with an ellipsis to fit ``width`` inches (unchanged if it fits)."""
    if text_width(s, size, weight) <= width:
        return s
    lo, hi = 0, len(s)
    while lo < hi:  # longest prefix that fits with the ellipsis
        mid = (lo + hi + 1) // 2
        if text_width(s[:mid].rstrip() + ELLIPSIS, size, weight) <= width:
            lo = mid
        else:
            hi = mid - 1
    return s[:lo].rstrip() + ELLIPSIS


def _split(s: str, seps: tuple[str, ...]) -> list[str]:
    """Split after each separator, keeping it with the preceding token."""
    tokens, cur = [], ""
    for ch in s:
        cur += ch
        if any(cur.endswith(sep) for sep in seps):
            tokens.append(cur)
            cur = ""
    return tokens + [cur] if cur else tokens


def wrap(s: str, width: float, size: float, max_lines: int | None = None,
         weight: str = "normal", seps: tuple[str, ...] = (" ",),
         keep_tail: bool = False) -> list[str]:
    """Greedy wrap of ``s`` to ``width`` inches, breaking after the first of ``seps`` (e.g.
    ", ") and after the others only inside a piece wider than the line. Words are never
    broken: a word wider than the line ends in an ellipsis. Beyond ``max_lines`` the text
    ends in an ellipsis; ``keep_tail`` keeps a final year ("Author Year", "Author (2019a)")
    after it."""
    tokens = []
    for tok in _split(s, seps[:1]):
        if len(seps) > 1 and text_width(tok.rstrip(), size, weight) > width:
            tokens += _split(tok, seps[1:])
        else:
            tokens.append(tok)
    lines: list[str] = []
    line = ""
    for tok in tokens:
        if line and text_width((line + tok).rstrip(), size, weight) > width:
            lines.append(line.rstrip())
            line = tok.lstrip()
        else:
            line += tok
    if line.strip():
        lines.append(line.rstrip())
    if max_lines is not None and len(lines) > max_lines:
        rest = " ".join(lines[max_lines - 1:]).replace("- ", "-")
        tail = s.split()[-1] if keep_tail and len(s.split()) > 1 else ""
        if re.fullmatch(r"\(?\d{4}[a-z]?\)?", tail) and \
                text_width(" " + tail, size, weight) < 0.5 * width:
            room = width - text_width(" " + tail, size, weight)
            last = truncate(rest[: len(rest) - len(tail)].rstrip() + ELLIPSIS, room, size,
                            weight).rstrip() + " " + tail
        else:
            last = rest
        lines = lines[: max_lines - 1] + [last]  # too wide: ends in "…"
    return [truncate(x, width, size, weight) for x in lines] or [""]


@dataclass
class Column:
    """One text column: ``key`` into :attr:`Row.cells`, header (may hold a line break),
    alignment, side of the graphical column, and whether long text may wrap (labels)."""

    key: str
    header: str
    align: str = "right"
    side: str = "left"
    wrap: bool = False


@dataclass
class Row:
    """One table row.

    ``kind``: "study", "summary", "pi", "header" (group name), "text" (heterogeneity and
    test lines) or "spacer". ``span`` is text spanning the left block (headers, text rows).
    ``mark`` describes the graphic: dict(shape="square"|"point"|"diamond"|"bar", est, lo, hi,
    size, color, fill).
    """

    kind: str
    cells: dict = field(default_factory=dict)
    span: str | None = None
    bold: bool = False
    italic: bool = False
    height: float = 1.0
    mark: dict | None = None
    values: tuple | None = None  # (estimate, low, high) on the display scale, for the text


@dataclass
class Layout:
    """Result of :func:`solve`: font size, column extents (inches), graphical column, rows."""

    fontsize: float
    columns: list[Column]
    extents: dict  # key -> (left, right)
    plot: tuple[float, float]
    span_width: float
    width: float
    header_lines: int
    rows: list[Row]


def _weight(row: Row) -> str:
    return "bold" if row.bold else "normal"


def _col_width(col: Column, rows: list[Row], fs: float) -> float:
    w = text_width(col.header, fs, "bold")
    for r in rows:
        if col.key in r.cells:
            w = max(w, text_width(r.cells[col.key], fs, _weight(r)))
    return w


COMFORT_EM = {"label": 22.0}  # wrapping columns narrower than this wrap before the plot shrinks
COMFORT_EM_OTHER = 14.0


def _share(keys, widths, room):
    """Split ``room`` among ``keys`` in proportion to their widths."""
    total = sum(widths[k] for k in keys)
    return {k: room * widths[k] / total for k in keys}


def _try(columns, rows, fs, width, plot_min, plot_pref, label_min_em, plot_comfort=None):
    """Column widths and plot width at font size ``fs``, or None if they do not fit.

    In order: natural widths with a plot of at least ``plot_comfort``; wrapping columns
    (labels, extra text columns) narrowed to fill that room, but not below a comfortable
    width (22 em for labels, 14 em for others); the plot narrowed down to ``plot_min`` so
    that the wrapping columns keep that comfortable width; finally the wrapping columns
    narrowed (labels wrap to two lines, then end in an ellipsis) down to ``label_min_em``
    (4 em for others; summary labels keep their two-line width)."""
    gap, pad, em = GAP * fs / 72, 0.35 * fs / 72, fs / 72
    widths = {c.key: _col_width(c, rows, fs) for c in columns}
    wrap_cols = [c.key for c in columns if c.wrap and widths[c.key] > 0]
    fixed = sum(w for k, w in widths.items() if k not in wrap_cols)
    text = fixed + gap * (len(columns) + 1) + 2 * pad
    comf = {k: min(widths[k], COMFORT_EM.get(k, COMFORT_EM_OTHER) * em) for k in wrap_cols}
    if width is None:  # natural width: wrapping columns at their comfortable width
        widths.update(comf)
        return widths, plot_pref, text + sum(comf.values()) + plot_pref
    comfort_plot = max(plot_min, plot_comfort or plot_min)
    natural = sum(widths[k] for k in wrap_cols)
    if natural <= width - text - comfort_plot:
        return widths, width - text - natural, width
    room = width - text - comfort_plot
    if sum(comf.values()) <= room:
        over = [k for k in wrap_cols if widths[k] > comf[k]]
        extra = _share(over, {k: widths[k] - comf[k] for k in over},
                       room - sum(comf.values()))
        widths.update({k: comf[k] + extra.get(k, 0.0) for k in wrap_cols})
        return widths, comfort_plot, width
    if sum(comf.values()) <= width - text - plot_min:
        widths.update(comf)
        return widths, width - text - sum(comf.values()), width
    room = width - text - plot_min
    floors = {k: min(widths[k], (label_min_em if k == "label" else min(4.0, label_min_em)) * em)
              for k in wrap_cols}
    if "label" in floors:
        floors["label"] = max(floors["label"], _longest_word(["label"], rows, fs))
    if room < sum(floors.values()):
        return None
    words = {k: max(f, min(widths[k], _widest_word(k, rows, fs, 12.0 * em)))
             for k, f in floors.items()}
    if room >= sum(words.values()):  # room for whole words: none is cut by an ellipsis
        floors = words
    widths.update(_water_fill(floors, comf, room))
    return widths, plot_min, width


def _water_fill(floors, caps, room):
    """Widths between ``floors`` and ``caps`` summing to ``room``: the widest columns give
    way first (every column is cut to one common level c, none below its floor)."""
    lo, hi = 0.0, max(caps.values())
    for _ in range(60):
        c = (lo + hi) / 2
        if sum(max(floors[k], min(caps[k], c)) for k in caps) > room:
            hi = c
        else:
            lo = c
    return {k: max(floors[k], min(caps[k], lo)) for k in caps}


def _two_lines(s: str, fs: float, weight: str) -> float:
    """Smallest width in which ``s`` fits on at most two lines (breaking at a space)."""
    words = s.split()
    if len(words) < 2:
        return text_width(s, fs, weight)
    return min(max(text_width(" ".join(words[:i]), fs, weight),
                   text_width(" ".join(words[i:]), fs, weight)) for i in range(1, len(words)))


def _widest_word(key, rows, fs, cap) -> float:
    """Width of the widest single word of column ``key`` that is not wider than ``cap``."""
    w = 0.0
    for r in rows:
        for word in str(r.cells.get(key) or "").split():
            ww = text_width(word, fs, _weight(r))
            if ww <= cap:
                w = max(w, ww)
    return w


def _longest_word(keys, rows, fs) -> float:
    """Width the summary labels need on two lines (they may wrap but are never truncated)."""
    w = 0.0
    for r in rows:
        if r.kind == "study":
            continue
        for k in keys:
            if r.cells.get(k):
                w = max(w, _two_lines(str(r.cells[k]), fs, _weight(r)))
    return w


def solve(columns: list[Column], rows: list[Row], *, width: float | None, fontsize: float,
          plot_min: float, plot_pref: float = 2.4, plot_max_frac: float = 0.5,
          plot_comfort: float | None = None,
          variants: list[list[Column]] | None = None,
          fallbacks: Sequence[list[Column]] = (), label_min_em: float = 7.0,
          min_fontsize: float = MIN_FONTSIZE) -> Layout:
    """Fit ``columns`` and ``rows`` into ``width`` inches (None: natural width).

    Tries, in order: the given font size with each column variant (e.g. events and total
    merged into one column), wrapping long labels to two lines; then font sizes 0.5 pt smaller
    down to ``min_fontsize``; then the same with the ``fallbacks`` variants (e.g. without the
    weight column). The graphical column gets at least ``plot_min`` inches and at most
    ``plot_max_frac`` of the width (spare room widens the gaps between columns); it shrinks
    from ``plot_comfort`` towards ``plot_min`` before text columns are narrowed below a
    comfortable width.
    """
    for group in ([*(variants or [columns])], list(fallbacks)):
        fs = fontsize
        while group:
            for cols in group:
                got = _try(cols, rows, fs, width, plot_min, plot_pref, label_min_em,
                           plot_comfort)
                if got is not None:
                    return _finish(cols, rows, fs, *got, plot_max_frac)  # type: ignore[call-arg]
            if fs - 0.5 < min_fontsize - 1e-9:
                break
            fs -= 0.5
    cols = ([*(variants or [columns])] + list(fallbacks))[-1]
    warnings.warn(f"the figure is too narrow for its {len(cols)} text columns at "
                  f"{min_fontsize:g} pt: labels are truncated hard and the plot is narrow; use "
                  "width='double' or fewer columns", LayoutWarning, stacklevel=3)
    got = _try(cols, rows, fs, width, plot_min * 0.4, plot_pref, 3.0)
    if got is None:
        raise ValueError("too many text columns for the figure width; use width='double' or "
                         "drop columns")
    return _finish(cols, rows, fs, *got, plot_max_frac)  # type: ignore[call-arg]


def _finish(cols, rows, fs, widths, plot_w, total, plot_max_frac):
    gap, pad = GAP * fs / 72, 0.35 * fs / 72
    spare = max(0.0, plot_w - plot_max_frac * total)
    left = [c for c in cols if c.side == "left"]
    right = [c for c in cols if c.side == "right"]
    ngaps = len(cols) + 1
    extra = min(spare / ngaps, 2.5 * gap) if spare > 0 else 0.0
    plot_w -= extra * ngaps
    g = gap + extra
    ext, x = {}, pad
    for c in left:
        ext[c.key] = (x, x + widths[c.key])
        x += widths[c.key] + g
    plot = (x, x + plot_w)
    x = plot[1] + g
    for c in right:
        ext[c.key] = (x, x + widths[c.key])
        x += widths[c.key] + g
    span_w = plot[0] - g - pad
    new_rows = _fit_rows(cols, rows, fs, ext, span_w, total - 2 * pad)
    nh = max((c.header.count("\n") + 1 for c in cols), default=1)
    return Layout(fs, cols, ext, plot, span_w, total, nh, new_rows)


def _fit_rows(cols, rows, fs, ext, span_w, full_w) -> list[Row]:
    """Wrap/truncate long cells and spanning texts; a wrapped text row becomes several rows.

    Group headers span the left block; text rows (heterogeneity, tests) span the full width
    (the graphical column draws nothing on their rows)."""
    out = []
    for r in rows:
        cells = dict(r.cells)
        height = r.height
        for c in cols:
            s = cells.get(c.key)
            if s is None:
                continue
            w = ext[c.key][1] - ext[c.key][0]
            if c.wrap:
                lines = wrap(s, w, fs, max_lines=2, weight=_weight(r), seps=(" ", "-"),
                             keep_tail=c.key == "label")
                cells[c.key] = "\n".join(lines)
                height = max(height, 1.0 + (len(lines) - 1) * LINESPACING / LINE + 0.1 *
                             (len(lines) - 1))
            else:
                cells[c.key] = truncate(s, w + 1e-9, fs, _weight(r))
        if r.kind == "text" and r.span:
            for line in wrap(r.span, full_w, fs, seps=(", ", " ")):
                out.append(replace(r, span=line, cells={}))
            continue
        span = truncate(r.span, span_w, fs, _weight(r)) if r.span else r.span
        out.append(replace(r, cells=cells, span=span, height=height))
    return out


def row_centres(rows: list[Row]) -> tuple[list[float], float]:
    """Centre of each row in line units from the top of the body, and the body height."""
    y, out = 0.0, []
    for r in rows:
        out.append(y + r.height / 2)
        y += r.height
    return out, y

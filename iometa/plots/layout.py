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

import warnings
from dataclasses import dataclass, field, replace
from functools import lru_cache

from .style import MIN_FONTSIZE, LayoutWarning

LINE = 1.5  # height of one table row, in multiples of the font size
LINESPACING = 1.2  # matplotlib's default spacing of lines within one text
ELLIPSIS = "…"
GAP = 0.9  # space between columns, in multiples of the font size


@lru_cache(maxsize=1)
def _renderer():
    from matplotlib.backends.backend_agg import RendererAgg

    return RendererAgg(8, 8, 288)


@lru_cache(maxsize=20000)
def _line_width(s: str, size: float, weight: str, style: str) -> float:
    from matplotlib.font_manager import FontProperties

    if not s:
        return 0.0
    prop = FontProperties(family="DejaVu Sans", size=size, weight=weight, style=style)
    w, _, _ = _renderer().get_text_width_height_descent(s, prop, ismath=False)
    return w / 288.0  # inches


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
         weight: str = "normal", seps: tuple[str, ...] = (" ",)) -> list[str]:
    """Greedy wrap of ``s`` to ``width`` inches, breaking after the first of ``seps`` (e.g.
    ", ") and after spaces only inside a piece that is wider than the line; a word longer than
    the width, or text beyond ``max_lines``, is truncated with an ellipsis."""
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
        lines = lines[: max_lines - 1] + [" ".join(lines[max_lines - 1:])]  # too wide: "…"
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


def _try(columns, rows, fs, width, plot_min, plot_pref, label_min_em):
    gap, pad = GAP * fs / 72, 0.35 * fs / 72
    widths = {c.key: _col_width(c, rows, fs) for c in columns}
    wrap_cols = [c.key for c in columns if c.wrap]
    fixed = sum(w for k, w in widths.items() if k not in wrap_cols)
    text = fixed + gap * (len(columns) + 1) + 2 * pad
    if width is None:
        return widths, plot_pref, text + plot_pref
    room = width - text - plot_min
    natural = sum(widths[k] for k in wrap_cols)
    if natural <= room:
        return widths, width - text - natural, width
    floor = max(label_min_em * fs / 72, _longest_word(wrap_cols, rows, fs)) * len(wrap_cols)
    if room < floor:
        return None
    for k in wrap_cols:  # share the room among wrapping columns
        widths[k] = room / len(wrap_cols)
    return widths, plot_min, width


def _two_lines(s: str, fs: float, weight: str) -> float:
    """Smallest width in which ``s`` fits on at most two lines (breaking at a space)."""
    words = s.split()
    if len(words) < 2:
        return text_width(s, fs, weight)
    return min(max(text_width(" ".join(words[:i]), fs, weight),
                   text_width(" ".join(words[i:]), fs, weight)) for i in range(1, len(words)))


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
          variants: list[list[Column]] | None = None,
          fallbacks: list[list[Column]] = (), label_min_em: float = 7.0,
          min_fontsize: float = MIN_FONTSIZE) -> Layout:
    """Fit ``columns`` and ``rows`` into ``width`` inches (None: natural width).

    Tries, in order: the given font size with each column variant (e.g. events and total
    merged into one column), wrapping long labels to two lines; then font sizes 0.5 pt smaller
    down to ``min_fontsize``; then the same with the ``fallbacks`` variants (e.g. without the
    weight column). The graphical column gets at least ``plot_min`` inches and at most
    ``plot_max_frac`` of the width (spare room widens the gaps between columns).
    """
    for group in ([*(variants or [columns])], list(fallbacks)):
        fs = fontsize
        while group:
            for cols in group:
                got = _try(cols, rows, fs, width, plot_min, plot_pref, label_min_em)
                if got is not None:
                    return _finish(cols, rows, fs, *got, plot_max_frac)
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
    return _finish(cols, rows, fs, *got, plot_max_frac)


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
                lines = wrap(s, w, fs, max_lines=2, weight=_weight(r), seps=(" ", "-"))
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

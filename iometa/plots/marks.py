"""Graphical marks of forest-type plots: squares, points, CI lines, arrows, diamonds, bars.

All marks of one kind are drawn as one collection (fast for 100 studies). Intervals that leave
the axis are cut at the limit and end in an arrowhead; estimates outside the axis are not drawn
(their row's text still gives the numbers).
"""

from __future__ import annotations

import numpy as np

from . import style

MIN_SIDE = 1.6  # points: the smallest square drawn (area ∝ weight above this size)


def _inside(x, lim):
    return np.isfinite(x) and lim[0] <= x <= lim[1]


def _clip(lo, hi, lim):
    """The visible part of [lo, hi] and whether each end is cut."""
    a, b = max(lo, lim[0]), min(hi, lim[1])
    return a, b, lo < lim[0], hi > lim[1]


def draw_marks(gax, rows, ys, lim, unit_pt, square_scale=0.8):
    """Draw the mark of every row at its centre ``ys``; ``unit_pt`` is one row in points."""
    from matplotlib.collections import LineCollection, PolyCollection

    segs, arrows_l, arrows_r = [], [], []
    sq_x, sq_y, sq_w, sq_c, pt_x, pt_y = [], [], [], [], [], []
    polys, pcols, pedges, bars, pis = [], [], [], [], []
    for y, r in zip(ys, rows, strict=True):
        m = r.mark
        if not m:
            continue
        shape = m["shape"]
        lo, hi = m.get("lo", np.nan), m.get("hi", np.nan)
        if shape in ("square", "point") and np.isfinite(lo) and np.isfinite(hi):
            a, b, cl, cr = _clip(lo, hi, lim)
            if a < b:
                segs.append([(a, y), (b, y)])
            if cl and hi > lim[0]:
                arrows_l.append(y)
            if cr and lo < lim[1]:
                arrows_r.append(y)
        if shape == "square" and _inside(m["est"], lim):
            sq_x.append(m["est"])
            sq_y.append(y)
            sq_w.append(m.get("size", 1.0))
            sq_c.append(m.get("color", style.STUDY))
        elif shape == "point" and _inside(m["est"], lim):
            pt_x.append(m["est"])
            pt_y.append(y)
        elif shape == "diamond" and np.isfinite(m["est"]):
            polys.append(_diamond(m["est"], lo, hi, y, 0.34))
            pcols.append(m.get("fill", style.SUMMARY))
            pedges.append(m.get("color", style.SUMMARY))
            if "pi" in m:
                pis.append((m["pi"], y))
        elif shape == "bar" and np.isfinite(lo) and np.isfinite(hi):
            bars.append(_bar(lo, hi, y, 0.09, lim))
    lw = 0.75
    gax.add_collection(LineCollection(segs, colors=style.INK, linewidths=lw, zorder=2))
    for pi, y in pis:
        a, b, _, _ = _clip(*pi, lim)
        gax.plot([a, b], [y, y], color=style.ACCENT, lw=1.0, ls=(0, (3, 1.5)), zorder=1.5)
    _arrows(gax, arrows_l, arrows_r, lim, unit_pt)
    _squares(gax, sq_x, sq_y, sq_w, sq_c, unit_pt * square_scale)
    if pt_x:
        gax.scatter(pt_x, pt_y, s=(0.32 * unit_pt) ** 2, marker="o", color=style.STUDY,
                    linewidths=0, zorder=3)
    if polys:
        gax.add_collection(PolyCollection(polys, facecolors=pcols, edgecolors=pedges,
                                          linewidths=0.6, zorder=4, closed=True))
    if bars:
        gax.add_collection(PolyCollection(bars, facecolors=style.ACCENT,
                                          edgecolors=style.ACCENT, linewidths=0.4, zorder=4))


def _squares(gax, x, y, w, c, max_side):
    if not x:
        return
    w = np.asarray(w, float)
    w = np.where(np.isfinite(w) & (w > 0), w, 0.0)
    wmax = w.max() if w.max() > 0 else 1.0
    side = np.maximum(max_side * np.sqrt(w / wmax), MIN_SIDE)
    # not clipped: a square at the axis limit (0 events on a 0 % axis) is drawn whole
    gax.scatter(x, y, s=side ** 2, marker="s", c=c, linewidths=0, zorder=3, clip_on=False)


def _arrows(gax, left, right, lim, unit_pt):
    ms = max(2.5, 0.32 * unit_pt)
    if left:
        gax.plot([lim[0]] * len(left), left, ls="none", marker="<", ms=ms, mew=0,
                 color=style.INK, clip_on=False, zorder=3)
    if right:
        gax.plot([lim[1]] * len(right), right, ls="none", marker=">", ms=ms, mew=0,
                 color=style.INK, clip_on=False, zorder=3)


def _diamond(est, lo, hi, y, half):
    lo = est if not np.isfinite(lo) else lo
    hi = est if not np.isfinite(hi) else hi
    return [(lo, y), (est, y - half), (hi, y), (est, y + half)]


def _bar(lo, hi, y, half, lim):
    a, b, _, _ = _clip(lo, hi, lim)
    return [(a, y - half), (b, y - half), (b, y + half), (a, y + half)]

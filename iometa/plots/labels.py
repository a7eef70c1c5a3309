"""Point labels that never overlap: greedy placement around each point (scatter-type plots).

Each label tries eight positions around its point (right, left, above, below, then the
diagonals); a position is taken if the label box stays inside the Axes and touches neither a
placed label nor any data point. Labels are placed in priority order (e.g. the most extreme
points first); those that find no free position are left out and counted.
"""

from __future__ import annotations

import numpy as np

from .layout import text_width

_OFFSETS = ((1, 0, "left", "center"), (-1, 0, "right", "center"), (0, 1, "center", "bottom"),
            (0, -1, "center", "top"), (1, 1, "left", "bottom"), (-1, 1, "right", "bottom"),
            (1, -1, "left", "top"), (-1, -1, "right", "top"))


def _box(px, py, dx, dy, ha, va, w, h):
    x0 = {"left": px + dx, "right": px + dx - w, "center": px + dx - w / 2}[ha]
    y0 = {"bottom": py + dy, "top": py + dy - h, "center": py + dy - h / 2}[va]
    return np.array([x0, y0, x0 + w, y0 + h])


def _hits(box, boxes):
    if len(boxes) == 0:
        return False
    b = np.asarray(boxes)
    return bool(np.any((b[:, 0] < box[2]) & (b[:, 2] > box[0]) & (b[:, 1] < box[3]) &
                       (b[:, 3] > box[1])))


def place_labels(ax, x, y, labels, *, fontsize, priority=None, marker_pt=4.0, gap_pt=2.5,
                 max_labels=None, color="#333333") -> int:
    """Annotate points (x, y) of ``ax`` with ``labels`` without overlaps; returns the number
    of labels left out. Call after the Axes' position and limits are final."""
    fig = ax.figure
    dpi = fig.dpi
    pts = ax.transData.transform(np.column_stack([x, y]))
    axb = ax.get_window_extent()
    r = marker_pt / 2 * dpi / 72 + 1
    obstacles = np.column_stack([pts[:, 0] - r, pts[:, 1] - r, pts[:, 0] + r, pts[:, 1] + r])
    order = np.argsort(-np.asarray(priority, float)) if priority is not None else range(len(x))
    placed: list[tuple[float, float, float, float]] = []
    skipped, shown = 0, 0
    off = (marker_pt / 2 + gap_pt) * dpi / 72
    for i in order:
        px, py = pts[i]
        if not (np.isfinite(px) and np.isfinite(py)) or not labels[i]:
            continue
        if max_labels is not None and shown >= max_labels:
            skipped += 1
            continue
        w = text_width(str(labels[i]), fontsize) * dpi + 2
        h = fontsize * 1.2 / 72 * dpi + 2
        for sx, sy, ha, va in _OFFSETS:
            box = _box(px, py, sx * off, sy * off, ha, va, w, h)
            inside = (box[0] >= axb.x0 and box[2] <= axb.x1 and box[1] >= axb.y0 and
                      box[3] <= axb.y1)
            own = np.delete(obstacles, i, axis=0)
            if inside and not _hits(box, placed) and not _hits(box, own):
                placed.append(box)
                ax.annotate(str(labels[i]), (x[i], y[i]), xytext=(sx * off * 72 / dpi,
                                                                   sy * off * 72 / dpi),
                            textcoords="offset points", ha=ha, va=va, fontsize=fontsize,
                            color=color, annotation_clip=False,
                            bbox=dict(boxstyle="square,pad=0.05", fc="white", ec="none",
                                      alpha=0.75)).set_in_layout(False)
                shown += 1
                break
        else:
            skipped += 1
    return skipped

"""The effect axis of forest-type plots: reporting scale, limits and ticks that never collide.

Proportions are shown in percent, medians in months, ratios (``transf="exp"``) on a log axis.
Limits cover every pooled estimate and interval and the study intervals unless a study interval
is far wider than the rest (then it is clipped and drawn with an arrow); ticks are "nice"
numbers whose labels are measured so that they never touch at the final width.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np

from ..core.measures import MEASURES
from .layout import text_width
from .text import fmt_num

#: ratio measures -> axis label, from the measure registry
RATIO_MEASURES = {c: m.label for c, m in MEASURES.items() if m.axis == "ratio"}


@dataclass(frozen=True)
class EffectScale:
    """How reporting-scale values are displayed: ``f`` maps them to axis units."""

    kind: str  # "percent", "linear" or "log"
    f: Callable
    digits: int
    xlabel: str
    header: str  # header of the estimate [CI] column
    lower: float | None = None  # natural lower bound of the axis (0 % or 0 months)

    def __call__(self, x):
        with np.errstate(all="ignore"):
            return self.f(np.asarray(x, dtype=float))


def _per(name, pscale, lvl, digits):
    """A proportion-like scale multiplied by ``pscale`` (1: proportions, 1000: per 1000)."""
    ps = float(pscale)
    text = name if ps == 1 else f"{name} (per {ps:g})"
    head = name if ps == 1 else f"{name}, per {ps:g}"
    d = max(0, 3 - max(0, round(float(np.log10(ps)))))
    return EffectScale("linear", lambda x: ps * np.asarray(x, dtype=float), d if digits is None
                       else int(digits), text, f"{head}\n[{lvl}]", 0.0)


def effect_scale(res, transf=None, digits=None, xlabel=None, header=None,
                 pscale=None) -> EffectScale:
    """The display scale of a result (``res.scale``/``res.measure``), or of ``transf``
    (``"exp"``, ``"percent"``, ``None`` or a callable applied to reporting-scale values).
    ``pscale`` multiplies proportions and survival rates (None or 100: percent; 1:
    proportions; 1000: per 1000)."""
    lvl = f"{round(100 * getattr(res, 'level', 0.95)):g}% CI"
    scale = getattr(res, "scale", "model")
    measure = getattr(res, "measure", "GEN")
    kind = getattr(res, "kind", None)
    if pscale is not None:
        from ..core.format import check_pscale

        if kind not in ("proportion", "survival_rate") and scale != "proportion":
            raise ValueError(f"pscale={pscale!r} applies to proportions and survival rates "
                             f"only; this result is on the {scale!r} scale")
        ps = check_pscale(SimpleNamespace(kind="proportion"), pscale)  # a positive number
        if ps != 100 and transf is None:
            name = "Survival" if kind == "survival_rate" else "Proportion"
            s = _per(name, ps, lvl, digits)
            return EffectScale(s.kind, s.f, s.digits, s.xlabel if xlabel is None else xlabel,
                               s.header if header is None else header, s.lower)
    if transf is None and scale == "model" and measure in RATIO_MEASURES:
        transf = "exp"
    if transf == "exp" and scale == "ratio":
        transf = None  # the reporting scale is already the ratio: exponentiate only once
    if transf is None and kind == "survival_rate":
        s = EffectScale("percent", lambda x: 100.0 * x, 1, "Survival (%)",
                        f"Survival, %\n[{lvl}]", 0.0)
    elif transf == "percent" or (transf is None and scale == "proportion"):
        s = EffectScale("percent", lambda x: 100.0 * x, 1, "Proportion (%)",
                        f"Proportion, %\n[{lvl}]", 0.0)
    elif transf is None and kind == "rate":  # events per `per` units of person-time
        name = str(scale)[:1].upper() + str(scale)[1:]
        s = EffectScale("linear", lambda x: x, 2, name, f"Rate\n[{lvl}]", 0.0)
    elif transf is None and scale == "months":
        s = EffectScale("linear", lambda x: x, 1, "Median (months)",
                        f"Median, months\n[{lvl}]", 0.0)
    elif transf is None and scale == "ratio":  # reporting scale already ratios: log axis
        name = RATIO_MEASURES.get(measure, "Ratio") if xlabel is None or \
            measure in RATIO_MEASURES else str(xlabel)
        s = EffectScale("log", lambda x: np.asarray(x, dtype=float), 2, name,
                        f"{name}\n[{lvl}]")
    elif transf == "exp":
        name = RATIO_MEASURES.get(measure, "Ratio") if xlabel is None or \
            measure in RATIO_MEASURES else str(xlabel)  # header named as the axis
        s = EffectScale("log", np.exp, 2, name, f"{name}\n[{lvl}]")
    elif transf is None:
        s = EffectScale("linear", lambda x: x, 2, "Estimate", f"Estimate\n[{lvl}]")
    elif callable(transf):
        s = EffectScale("linear", transf, 2, "Estimate", f"Estimate\n[{lvl}]")
    else:
        raise ValueError(f"unknown transf {transf!r}: expected None, 'exp', 'percent' or a "
                         "function")
    return EffectScale(s.kind, s.f, s.digits if digits is None else int(digits),
                       s.xlabel if xlabel is None else xlabel,
                       s.header if header is None else header, s.lower)


def _steps(lo, hi):
    """Nice tick steps (1, 2, 5 × 10ⁿ; also 2.5 × 10ⁿ for n ≥ 1, e.g. 25) from fine to coarse
    for the range [lo, hi]."""
    span = max(hi - lo, 1e-12 * max(1.0, abs(hi)))
    e = int(np.floor(np.log10(span))) - 2
    out = []
    while len(out) < 40:
        for m in (1.0, 2.0, 2.5, 5.0) if e >= 1 else (1.0, 2.0, 5.0):
            out.append(m * 10.0 ** e)
        e += 1
    return out


def _covering(lo, hi, step, bounds):
    a = np.floor(lo / step + 1e-9) * step
    b = np.ceil(hi / step - 1e-9) * step
    t = np.arange(round((b - a) / step) + 1) * step + a
    if bounds is not None:
        t = t[(t >= bounds[0] - 1e-9) & (t <= bounds[1] + 1e-9)]
    return t


def _nice_linear(lo, hi, nbins, bounds):
    """Ticks covering [lo, hi] with the finest nice step giving at most ``nbins`` + 1."""
    for step in _steps(lo, hi):
        t = _covering(lo, hi, step, bounds)
        if t.size <= nbins + 1:
            return t
    return _covering(lo, hi, _steps(lo, hi)[-1], bounds)


def _linear_ticks(lo, hi, bounds, width_in, fontsize):
    """The finest nice ticks (at most 7) whose labels do not touch; coarser steps widen the
    range to the covering ticks; two ticks if nothing else fits."""
    t = None
    for step in _steps(lo, hi):
        t = _covering(lo, hi, step, bounds)
        if t.size <= 7 and _fits(t, "linear", width_in, fontsize):
            return t
        if t.size <= 2:
            return t
    return t


_LOG_SERIES = ((1, 1.5, 2, 3, 5, 7), (1, 2, 5), (1, 3), (1,))


def _nice_log(lo, hi, level):
    mant = _LOG_SERIES[min(level, len(_LOG_SERIES) - 1)]
    e0, e1 = int(np.floor(np.log10(lo))) - 1, int(np.ceil(np.log10(hi))) + 1
    step = 1 if level < len(_LOG_SERIES) else level - len(_LOG_SERIES) + 2
    c = np.array(sorted(m * 10.0 ** e for e in range(e0, e1 + 1, step) for m in mant))
    below, above = c[c <= lo * (1 + 1e-9)], c[c >= hi * (1 - 1e-9)]
    a = below[-1] if below.size else c[0]
    b = above[0] if above.size else c[-1]
    return c[(c >= a) & (c <= b)]


def _narrow_log_ticks(lo, hi, width_in, fontsize):
    """Ticks for a log axis spanning less than one step of the finest series (e.g. odds
    ratios 0.7-0.95, where that series has only 0.7 and 1): evenly spaced nice values (0.7,
    0.8, 0.9, 1), the finest step with 3 to 7 ticks whose labels fit; None if none does."""
    for step in _steps(lo, hi):
        t = np.round(_covering(lo, hi, step, None), 12)  # 0.7, not 0.7000000000000001
        t = t[t > 0]
        if t.size > 7:
            continue
        if t.size < 3:
            return None
        if _fits(t, "log", width_in, fontsize):
            return t
    return None


def _log_ticks(lo, hi, width_in, fontsize):
    """Log-axis ticks: the finest series whose labels fit, preferring a tight range (the
    covering ticks of a coarse series are dropped for the finer series' ends); a range too
    narrow for four ticks of the finest series gets evenly spaced ones."""
    fine = _nice_log(lo, hi, 0)
    if fine.size < 4:
        narrow = _narrow_log_ticks(lo, hi, width_in, fontsize)
        if narrow is not None:
            return narrow
    for level in range(0, 9):
        t = _nice_log(lo, hi, level)
        if _fits(t, "log", width_in, fontsize):
            return t
        if level == 0:
            ends = t[[0, -1]]
    fine_ends = _nice_log(lo, hi, 0)[[0, -1]]
    t = np.unique(np.concatenate([ends, fine_ends]))
    return t if _fits(t, "log", width_in, fontsize) else t[[0, -1]]


def tick_label(x, kind) -> str:
    """Tick label text: integers without decimals, otherwise the fewest decimals needed."""
    for d in range(0, 5):
        if abs(round(x, d) - x) < 1e-9 * max(1.0, abs(x)):
            return fmt_num(x, d)
    return fmt_num(x, 4 if kind == "log" else 2)


def _fits(ticks, kind, width_in, fontsize):
    if ticks.size < 2:
        return False
    pos = np.log10(ticks) if kind == "log" else ticks
    span = pos[-1] - pos[0]
    if span <= 0:
        return False
    x = (pos - pos[0]) / span * width_in
    w = np.array([text_width(tick_label(t, kind), fontsize) for t in ticks])
    room = np.diff(x) - (w[:-1] + w[1:]) / 2
    return bool(room.min() >= 0.6 * fontsize / 72)


def limits(core, spread, kind, *, width_in, fontsize, xlim=None, ticks=None, lower=None):
    """Axis limits and ticks (axis units) from ``core`` values (estimates, pooled intervals,
    reference line) and ``spread`` values (study CI limits, shown unless far out)."""
    core = np.asarray([c for c in core if np.isfinite(c) and (kind != "log" or c > 0)], float)
    spread = np.asarray([c for c in spread if np.isfinite(c) and (kind != "log" or c > 0)],
                        float)
    if ticks is not None:
        t = np.sort(np.asarray(ticks, float))
        lim = tuple(xlim) if xlim is not None else (t[0], t[-1])
        return lim, t
    g = np.log10 if kind == "log" else (lambda v: v)
    ginv = (lambda v: 10.0 ** v) if kind == "log" else (lambda v: v)
    if xlim is not None:
        lo, hi = g(np.asarray(xlim, float))
    else:
        lo, hi = _data_range(g(core), g(spread), kind, lower)
    if kind == "log":
        t = _log_ticks(ginv(lo), ginv(hi), width_in, fontsize)
    else:
        bounds = (0.0, 100.0) if kind == "percent" else None
        t = _linear_ticks(lo, hi, bounds, width_in, fontsize)
    if xlim is not None:
        return (float(ginv(lo)), float(ginv(hi))), t[(t >= ginv(lo) - 1e-12) &
                                                    (t <= ginv(hi) + 1e-12)]
    return (float(min(t[0], ginv(lo))), float(max(t[-1], ginv(hi)))), t


def _data_range(core, spread, kind, lower=None):
    allv = np.concatenate([core, spread])
    if allv.size == 0:
        return (0.0, 100.0) if kind == "percent" else (-1.0, 1.0)
    base = core if core.size else allv
    lo, hi = float(base.min()), float(base.max())
    span = hi - lo if hi > lo else max(abs(hi) * 0.2, 1.0 if kind != "log" else 0.3)
    if spread.size:  # study CIs: shown unless far beyond the core range
        lo = max(min(lo, float(spread.min())), lo - 1.2 * span)
        hi = min(max(hi, float(spread.max())), hi + 1.2 * span)
    if hi - lo < 1e-12:
        lo, hi = lo - span / 2, hi + span / 2
    if lower is not None:
        lo = max(lo, lower)
        if lo - lower < 0.35 * (hi - lo):
            lo = lower  # start at 0 % or 0 months when the data come close to it
    if kind == "percent":
        hi = min(hi, 100.0)
        if hi - lo > 60 or hi - lo <= 0:
            lo, hi = 0.0, 100.0
    return lo, hi


def inverse(f, lim, n=4001):
    """Numerical inverse of a monotone ``f`` on the model-scale interval ``lim``."""
    grid = np.linspace(lim[0], lim[1], n)
    with np.errstate(all="ignore"):
        vals = np.asarray(f(grid), float)
    ok = np.isfinite(vals)
    grid, vals = grid[ok], vals[ok]
    if vals.size < 2:
        return lambda v: np.full(np.shape(v), np.nan)
    if vals[-1] < vals[0]:
        grid, vals = grid[::-1], vals[::-1]
    vals = np.maximum.accumulate(vals)

    def inv(v):
        v = np.asarray(v, float)
        return np.where((v >= vals[0]) & (v <= vals[-1]), np.interp(v, vals, grid), np.nan)

    return inv


def mapped_ticks(lim, f, kind, *, width_in, fontsize, vertical=False):
    """Ticks for an axis drawn on the model scale (``lim``) but labelled on the display scale
    (``f``: model → display, e.g. percent of the inverse logit): nice display values placed at
    their model-scale positions, thinned until the labels do not touch (``vertical``: a y
    axis, where label heights count instead of widths)."""
    inv = inverse(f, lim)
    with np.errstate(all="ignore"):
        d0, d1 = sorted(np.asarray(f(np.asarray(lim, float)), float))
    if not (np.isfinite(d0) and np.isfinite(d1)) or d1 <= d0:
        return np.array([]), []
    if kind == "percent":
        return _greedy_percent(inv, d0, d1, lim, width_in, fontsize, vertical)
    for nbins in (10, 8, 6, 5, 4, 3, 2, 1):
        if kind == "log":
            vals = _nice_log(max(d0, 1e-300), d1, min(max(0, 10 - nbins), 7))
        else:
            vals = _nice_linear(d0, d1, nbins, None)
        vals = vals[(vals >= d0) & (vals <= d1)]
        pos = inv(vals)
        keep = np.isfinite(pos)
        vals, pos = vals[keep], pos[keep]
        labels = [tick_label(v, kind) for v in vals]
        if vals.size >= 2 and _spaced(pos, labels, lim, width_in, fontsize, vertical):
            return pos, labels
    return pos, labels


def _spaced(pos, labels, lim, width_in, fontsize, vertical=False):
    x = (np.asarray(pos) - lim[0]) / (lim[1] - lim[0]) * width_in
    w = np.array([1.4 * fontsize / 72 if vertical else text_width(s, fontsize)
                  for s in labels])
    order = np.argsort(x)
    x, w = x[order], w[order]
    if x.size < 2:
        return True
    return bool((np.diff(x) - (w[:-1] + w[1:]) / 2).min() >= 0.6 * fontsize / 72)


# percent ticks by priority: round values first, then the tails of logit-type scales
_PERCENT = (50, 10, 90, 1, 99, 20, 80, 30, 70, 40, 60, 5, 95, 2, 98, 0.1, 99.9, 25, 75, 0.5,
            99.5, 15, 85, 35, 45, 55, 65, 0, 100)


def _greedy_percent(inv, d0, d1, lim, width_in, fontsize, vertical=False):
    """Percent ticks on a transformed axis: candidates in priority order, each kept if its
    label does not come within 0.6 em of a kept one."""
    pos, labs = [], []
    for v in _PERCENT:
        if not d0 <= v <= d1:
            continue
        p = float(inv(np.array([v]))[0])
        if not np.isfinite(p):
            continue
        lab = tick_label(v, "linear")
        if _spaced(np.array(pos + [p]), labs + [lab], lim, width_in, fontsize, vertical):
            pos.append(p)
            labs.append(lab)
    order = np.argsort(pos)
    return np.asarray(pos)[order], [labs[i] for i in order]

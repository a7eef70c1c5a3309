"""Funnel plot: :func:`funnel_plot` (contour-enhanced, pseudo-confidence limits, trim-and-fill)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..core.measures import MEASURES
from . import style
from .axis import mapped_ticks
from .figures import finish_axes, fix_layout, new_figure, rc
from .labels import place_labels

if TYPE_CHECKING:
    from matplotlib.figure import Figure


_SHADES = ("#f2f2f2", "#d9d9d9", "#bdbdbd")  # 90–95 %, 95–99 %, > 99 % (darker = smaller p)


def funnel_plot(result, *, ax=None, width="single", fontsize=None, yaxis="se", contours=None,
                levels=(0.90, 0.95, 0.99), refline=None, pseudo_ci=True, trimfill=None,
                labels=False, xlabel=None, legend=True, transf=None) -> Figure:
    """Funnel plot of a :class:`~iometa.MetaResult`: study effects against their precision.

    x: the model-scale effect (e.g. logit proportion), labelled on the reporting scale
    (percent for proportions, ratios for log ratios). y (inverted, precise studies on top):
    the standard error (``yaxis="se"``) or 1/√n (``yaxis="inv_sqrt_n"``, for proportions,
    which does not depend on the observed proportion). With ``yaxis="se"``:

    * contour-enhanced regions (``contours=True``, default for comparative effects on the
      model scale): shades where a study would be significant at p < 0.10, 0.05, 0.01
      (``levels``) against ``refline`` (default 0, the null), after Peters et al. 2008;
    * pseudo-confidence limits (``pseudo_ci``): dashed lines estimate ± z·SE around the
      pooled estimate (Sterne & Egger 2001).

    Trim-and-fill: ``trimfill`` is the object returned by :func:`iometa.trim_and_fill`
    (``filled`` DataFrame with yi, vi; ``result`` with the adjusted estimate): compute it
    first, ``funnel_plot(res, trimfill=iometa.trim_and_fill(res))``; filled studies are open
    circles, the adjusted estimate a dashed line.
    ``labels=True`` writes study labels where they fit without overlap. ``transf="exp"``
    labels a log-ratio axis with ratios (automatic for RR/OR/HR results).

    References: Light & Pillemer 1984; Sterne & Egger 2001 (J Clin Epidemiol 54:1046); Peters
    et al. 2008 (J Clin Epidemiol 61:991); Duval & Tweedie 2000 (Biometrics 56:455).
    metafor: ``funnel(res, level = c(90, 95, 99), shade = ..., refline = 0)``; meta:
    ``funnel(m, contour.levels = ...)``.

    Example
    -------
    >>> import iometa
    >>> res = iometa.pool_proportions([13, 4, 9, 20, 7], [51, 30, 40, 60, 45])
    >>> fig = iometa.funnel_plot(res)
    >>> bool(fig.axes[0].yaxis_inverted())
    True
    """
    if yaxis not in ("se", "inv_sqrt_n"):
        raise ValueError(f"yaxis={yaxis!r}: expected 'se' or 'inv_sqrt_n'")
    if yaxis == "inv_sqrt_n" and "n" not in result.studies:
        raise ValueError("yaxis='inv_sqrt_n' needs study sample sizes (a proportion result)")
    tf = _trimfill(result, trimfill)
    if contours is None:
        contours = result.scale == "model" and yaxis == "se"
    fs = style.preset(width, fontsize).fontsize
    with rc(fs):
        fig, ax, fs = new_figure(ax, width, fs, 0.85)
        finish_axes(ax, fs)
        yi, ymax = _draw(ax, result, tf, yaxis, contours, levels, refline, pseudo_ci)
        ax.set_ylabel("Standard error" if yaxis == "se" else "1/√n")
        _xaxis(ax, result, xlabel, fs, transf)
        ax.set_ylim(ymax, 0)
        if legend:
            _legend(fig, ax, contours, levels, pseudo_ci, tf, yaxis)
        if labels:
            fix_layout(fig)
            y = _ycoord(result.studies, yaxis)
            place_labels(ax, yi, y, result.labels, fontsize=max(style.MIN_FONTSIZE, fs - 1),
                         priority=np.abs(yi - result.coef) / np.maximum(y, 1e-12))
    return fig


def _trimfill(result, trimfill):
    if trimfill is True:
        raise TypeError("pass the computed fit: funnel_plot(res, trimfill=iometa.trim_and_fill("
                        "res)); plots draw computed results, they do not compute them")
    if trimfill is not None and trimfill is not False and not hasattr(trimfill, "filled"):
        raise TypeError(f"trimfill must be the result of iometa.trim_and_fill(res), got "
                        f"{type(trimfill).__name__}")
    return trimfill or None


def _ycoord(st, yaxis):
    if yaxis == "se":
        return np.sqrt(st["vi"].to_numpy(float))
    return 1.0 / np.sqrt(st["n"].to_numpy(float))


def _draw(ax, res, tf, yaxis, contours, levels, refline, pseudo_ci):
    from scipy.stats import norm

    yi, y = res.yi, _ycoord(res.studies, yaxis)
    fy = fv = np.array([])
    if tf is not None:
        fy = tf.filled["yi"].to_numpy(float)
        fv = tf.filled["vi"].to_numpy(float)
    ally = np.concatenate([y, np.sqrt(fv)]) if yaxis == "se" else y
    ymax = float(np.nanmax(ally)) * 1.08 if ally.size else 1.0
    ygrid = np.array([0.0, ymax])
    ref = (0.0 if refline is None else float(refline)) if contours else None
    if contours and yaxis == "se":
        span = max(np.nanmax(np.abs(yi - ref)), norm.ppf(1 - (1 - max(levels)) / 2) * ymax)
        _contours(ax, ref, levels, ymax, span * 20)
    if pseudo_ci and yaxis == "se":
        z = norm.ppf(1 - (1 - res.level) / 2)
        ax.plot(res.coef - z * ygrid, ygrid, color=style.INK, lw=0.6, ls=(0, (4, 2)), zorder=2)
        ax.plot(res.coef + z * ygrid, ygrid, color=style.INK, lw=0.6, ls=(0, (4, 2)), zorder=2)
    ax.axvline(res.coef, color=style.INK, lw=0.8, zorder=2)
    if tf is not None:
        ax.axvline(tf.result.coef, color=style.ACCENT, lw=0.8, ls=(0, (3, 1.5)), zorder=2)
        fyy = (np.sqrt(fv) if yaxis == "se" else 1.0 / np.sqrt(tf.filled["n"].to_numpy(float))
               if "n" in tf.filled else np.full(fy.size, np.nan))
        ax.scatter(fy, fyy, s=16, facecolors="white", edgecolors=style.INK, linewidths=0.7,
                   zorder=3)
    ax.scatter(yi, y, s=16, color=style.INK, linewidths=0, zorder=4)
    xs = np.concatenate([yi, fy])
    lo, hi = np.nanmin(xs), np.nanmax(xs)
    if pseudo_ci and yaxis == "se":
        z = norm.ppf(1 - (1 - res.level) / 2)
        lo, hi = min(lo, res.coef - z * ymax), max(hi, res.coef + z * ymax)
    pad = 0.05 * (hi - lo if hi > lo else 1.0)
    ax.set_xlim(lo - pad, hi + pad)
    return yi, ymax


def _contours(ax, ref, levels, ymax, span):
    """Shade the regions where a study's p-value against ``ref`` falls between the levels."""
    from scipy.stats import norm

    zs = sorted(norm.ppf(1 - (1 - lv) / 2) for lv in levels)
    y = np.array([0.0, ymax])
    for i, z in enumerate(zs):
        shade = _SHADES[min(i, len(_SHADES) - 1)]
        for sign in (-1, 1):
            inner = ref + sign * z * y
            outer = (ref + sign * zs[i + 1] * y if i + 1 < len(zs)
                     else np.full(2, ref + sign * span))
            ax.fill_betweenx(y, inner, outer, color=shade, lw=0, zorder=0)


def _xaxis(ax, res, xlabel, fs, transf):
    from .axis import RATIO_MEASURES

    lim = ax.get_xlim()
    mapped = None
    ratio = f"{RATIO_MEASURES.get(res.measure, 'Ratio')} (log scale)"
    if transf is not None and transf != "exp":
        raise ValueError(f"transf={transf!r}: expected None or 'exp'")
    if transf == "exp" or res.scale == "ratio":  # log ratios on the axis, labelled as ratios
        mapped = (np.exp, "log", ratio)
    elif res.scale == "proportion":
        mapped = (lambda v: 100 * res.backtransform(v), "percent",
                  f"Proportion (%), {_scale_name(res.measure)} scale")
    elif res.scale == "model" and res.measure in RATIO_MEASURES:
        mapped = (np.exp, "log", ratio)
    elif res.scale != "model":
        mapped = (res.backtransform, "linear", f"Estimate ({res.scale}), model scale")
    if mapped is not None:
        pos, labs = mapped_ticks(lim, mapped[0], mapped[1], width_in=_ax_width(ax),
                                 fontsize=fs)
        ax.set_xticks(pos, labs)
    ax.set_xlim(lim)
    ax.set_xlabel(xlabel or (mapped[2] if mapped else "Effect size"))


def _scale_name(measure):
    row = MEASURES.get(measure)
    return row.scale_name if row is not None and row.family == "proportion" else "model"


def _ax_width(ax):
    return ax.get_position().width * ax.figure.get_figwidth() * 0.9


def _legend(fig, ax, contours, levels, pseudo_ci, tf, yaxis):
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    h = []
    if contours and yaxis == "se":
        lv = sorted(levels)
        ps = [1 - v for v in lv]
        txt = [f"{ps[1]:g} < p ≤ {ps[0]:g}", f"{ps[2]:g} < p ≤ {ps[1]:g}", f"p ≤ {ps[2]:g}"]
        h += [Patch(color=_SHADES[i], label=t) for i, t in enumerate(txt[:len(lv)])]
    h.append(Line2D([], [], color=style.INK, lw=0.8, label="Pooled estimate"))
    if pseudo_ci and yaxis == "se":
        h.append(Line2D([], [], color=style.INK, lw=0.6, ls=(0, (4, 2)), label="95% pseudo-CI"))
    if tf is not None:
        h.append(Line2D([], [], ls="none", marker="o", mfc="white", mec=style.INK, ms=4,
                        label=f"Filled studies (k = {len(tf.filled)})"))
        h.append(Line2D([], [], color=style.ACCENT, lw=0.8, ls=(0, (3, 1.5)),
                        label="Adjusted estimate"))
    fig.legend(handles=h, loc="outside lower center", ncols=2, frameon=False,
               handlelength=1.8, columnspacing=1.2)

"""Bubble plot of a meta-regression: :func:`bubble_plot`."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..core.measures import MEASURES
from . import style
from .axis import RATIO_MEASURES, mapped_ticks
from .figures import finish_axes, fix_layout, new_figure, rc
from .labels import place_labels

if TYPE_CHECKING:
    from matplotlib.figure import Figure


MAX_BUBBLE = 13.0  # points: diameter of the bubble of the largest weight


def _term(reg, moderator):
    terms = list(reg.terms)
    if moderator is None:
        cand = [i for i, t in enumerate(terms) if not (reg.intercept and i == 0)]
        if not cand:
            raise ValueError("the meta-regression has no moderator to plot")
        return cand[0]
    if moderator not in terms:
        raise ValueError(f"moderator={moderator!r} is not a term of the model "
                         f"({', '.join(terms)})")
    return terms.index(moderator)


def bubble_plot(reg, moderator=None, *, result=None, ax=None, width="single", fontsize=None,
                ci=True, pi=False, labels=False, xlabel=None, ylabel=None, transf=None) -> Figure:
    """Bubble plot: study effects against one moderator, bubble area ∝ the study's weight in
    the meta-regression (1/(vᵢ + τ²)), with the fitted line and its confidence band.

    ``reg``: a :class:`iometa.compare.MetaRegression` (attributes read: ``yi``, ``vi``, ``X``,
    ``terms``, ``intercept``, ``tau2``, ``labels``; the line and band come from its
    ``predict``, other moderators held at their mean). ``moderator``: the term on the x-axis
    (default: the first one). ``result``: the MetaResult of the same studies, to label the
    y-axis on the reporting scale (percent for proportions). ``pi=True`` adds the prediction
    band; ``labels=True`` labels studies where they fit; ``transf="exp"`` labels a log-ratio
    y-axis with ratios.

    Reference: Thompson & Higgins 2002 (Stat Med 21:1559). metafor: ``regplot(res)``; meta:
    ``bubble(metareg(m))``.

    Example
    -------
    >>> import iometa
    >>> reg = iometa.meta_regression([0.1, 0.5, 0.2, 0.9, 1.1], [0.02] * 5, [1.0, 2, 3, 4, 5])
    >>> fig = iometa.bubble_plot(reg, xlabel="Lesion size (cm)")
    >>> fig.axes[0].get_xlabel()
    'Lesion size (cm)'
    """
    j = _term(reg, moderator)
    X = np.asarray(reg.X, float)
    x, y = X[:, j], np.asarray(reg.yi, float)
    w = 1.0 / (np.asarray(reg.vi, float) + float(reg.tau2))
    grid = np.linspace(np.nanmin(x), np.nanmax(x), 120)
    rows = np.tile(X.mean(axis=0), (grid.size, 1))
    rows[:, j] = grid
    pred = reg.predict(rows)
    fs = style.preset(width, fontsize).fontsize
    with rc(fs):
        fig, ax, fs = new_figure(ax, width, fs, 0.8)
        finish_axes(ax, fs, grid=True)
        if pi:
            ax.fill_between(grid, pred["pi_low"], pred["pi_high"], color=style.ACCENT,
                            alpha=0.08, lw=0, label="Prediction band")
        if ci:
            ax.fill_between(grid, pred["ci_low"], pred["ci_high"], color=style.ACCENT,
                            alpha=0.18, lw=0, label=f"{round(100 * reg.level):g}% CI")
        ax.plot(grid, pred["pred"], color=style.ACCENT, lw=1.0, label="Fitted line")
        size = MAX_BUBBLE * np.sqrt(w / np.nanmax(w))
        ax.scatter(x, y, s=np.maximum(size, 2.0) ** 2, facecolors="#bdbdbd",
                   edgecolors=style.INK, linewidths=0.5, alpha=0.85, zorder=3)
        _limits(ax, x, y, pred)
        ax.set_xlabel(xlabel or str(reg.terms[j]))
        _yaxis(ax, result, ylabel, fs, transf)
        ax.legend(loc="best", frameon=False, handlelength=1.5)
        if labels:
            fix_layout(fig)
            place_labels(ax, x, y, list(reg.labels), fontsize=max(style.MIN_FONTSIZE, fs - 1),
                         marker_pt=MAX_BUBBLE, priority=w)
    return fig


def _limits(ax, x, y, pred):
    lo = min(np.nanmin(y), float(pred["ci_low"].min()))
    hi = max(np.nanmax(y), float(pred["ci_high"].max()))
    span = hi - lo if hi > lo else 1.0
    ax.set_ylim(lo - 0.08 * span, hi + 0.08 * span)
    xs = x[np.isfinite(x)]
    xspan = xs.max() - xs.min() if xs.max() > xs.min() else 1.0
    ax.set_xlim(xs.min() - 0.06 * xspan, xs.max() + 0.06 * xspan)


def _yaxis(ax, result, ylabel, fs, transf=None):
    measure = getattr(result, "measure", None)
    if transf is None and result is not None and (
            getattr(result, "scale", None) == "ratio" or
            (getattr(result, "scale", None) == "model" and measure in RATIO_MEASURES)):
        transf = "exp"  # log ratios: labelled with ratios, as the forest and funnel plots
    if transf == "exp":
        lim = ax.get_ylim()
        height = ax.get_position().height * ax.figure.get_figheight() * 0.9
        pos, labs = mapped_ticks(lim, np.exp, "log", width_in=height, fontsize=fs,
                                 vertical=True)
        ax.set_yticks(pos, labs)
        ax.set_ylim(lim)
        ax.set_ylabel(ylabel or f"{RATIO_MEASURES.get(measure, 'Ratio')} (log scale)")
    elif result is not None and getattr(result, "scale", None) == "proportion":
        lim = ax.get_ylim()
        height = ax.get_position().height * ax.figure.get_figheight() * 0.9
        pos, labs = mapped_ticks(lim, lambda v: 100 * result.backtransform(v), "percent",
                                 width_in=height, fontsize=fs, vertical=True)
        ax.set_yticks(pos, labs)
        ax.set_ylim(lim)
        row = MEASURES.get(result.measure)
        scale = (f", {row.scale_name} scale" if row is not None and row.family == "proportion"
                 and row.code != "PR" else "")
        ax.set_ylabel(ylabel or f"Proportion (%){scale}")
    else:
        ax.set_ylabel(ylabel or "Effect size (model scale)")

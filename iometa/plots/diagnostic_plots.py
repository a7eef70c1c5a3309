"""Diagnostic scatter plots: :func:`baujat_plot`, :func:`gosh_plot`, :func:`bubble_plot`."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from . import style
from .figures import finish_axes, fix_layout, new_figure, rc
from .labels import place_labels

if TYPE_CHECKING:
    from matplotlib.figure import Figure


HEXBIN_ABOVE = 5000  # GOSH: more subsets than this are drawn as hexagonal bins


def _frame(data, fn_name, needed):
    """The diagnostics table computed by ``iometa.<fn_name>`` (plots never compute it)."""
    result = None
    if hasattr(data, "studies") and hasattr(data, "refit"):
        raise TypeError(f"pass the table of iometa.{fn_name}(res), not the fitted result: "
                        f"plots draw computed diagnostics, they do not compute them")
    if not isinstance(data, pd.DataFrame):
        raise TypeError(f"expected the DataFrame of iometa.{fn_name}(res)")
    missing = [c for c in needed if c not in data]
    if missing:
        raise ValueError(f"the table lacks column(s) {missing} (expected iometa.{fn_name}())")
    return data, result


def baujat_plot(data, *, ax=None, width="single", fontsize=None, labels=True, max_labels=None) -> Figure:
    """Baujat plot: each study's contribution to the heterogeneity statistic Q (x) against
    its influence on the pooled estimate (y); studies in the upper right drive both.

    ``data``: the DataFrame of :func:`iometa.baujat` (columns read: label, x, y);
    plots never compute it. Labels are placed where they fit without overlap, most extreme studies first
    (``max_labels`` limits them).

    Reference: Baujat et al. 2002 (Stat Med 21:2641). metafor: ``baujat(res)``; meta:
    ``baujat(m)``.

    Example
    -------
    >>> import pandas as pd, iometa
    >>> df = pd.DataFrame({"label": ["A", "B", "C"], "x": [0.2, 3.1, 0.7],
    ...                    "y": [0.1, 1.4, 0.3]})
    >>> fig = iometa.baujat_plot(df)
    >>> fig.axes[0].get_xlabel()[:12]
    'Contribution'
    """
    df, _ = _frame(data, "baujat", ("label", "x", "y"))
    x, y = df["x"].to_numpy(float), df["y"].to_numpy(float)
    fs = style.preset(width, fontsize).fontsize
    with rc(fs):
        fig, ax, fs = new_figure(ax, width, fs, 0.8)
        finish_axes(ax, fs, grid=True)
        ax.scatter(x, y, s=14, color=style.INK, linewidths=0, zorder=3)
        _pad_limits(ax, x, y)
        ax.set_xlabel("Contribution to overall heterogeneity (Q)")
        ax.set_ylabel("Influence on pooled estimate")
        if labels:
            fix_layout(fig)
            pri = x / max(np.nanmax(x), 1e-300) + y / max(np.nanmax(y), 1e-300)
            place_labels(ax, x, y, df["label"].astype(str).tolist(),
                         fontsize=max(style.MIN_FONTSIZE, fs - 1), priority=pri,
                         max_labels=max_labels)
    return fig


def _pad_limits(ax, x, y, frac=0.06):
    for setter, v in ((ax.set_xlim, x), (ax.set_ylim, y)):
        v = v[np.isfinite(v)]
        lo, hi = (float(v.min()), float(v.max())) if v.size else (0.0, 1.0)
        span = hi - lo if hi > lo else max(abs(hi), 1.0)
        setter(min(0.0, lo - frac * span), hi + frac * span)


def _display(result, values):
    """GOSH estimates on the display scale: percent for proportions."""
    if result is not None and getattr(result, "scale", None) == "proportion":
        return 100 * values, "Pooled proportion (%)"
    if result is not None and getattr(result, "scale", None) == "months":
        return values, "Pooled median (months)"
    return values, "Pooled estimate"


def gosh_plot(data, result=None, *, ax=None, width="single", fontsize=None, highlight=None,
              hexbin=None, xlabel=None) -> Figure:
    """GOSH plot: pooled estimate (x) against I² (y) over subsets of the studies, with
    marginal histograms. Clusters reveal studies that drive heterogeneity.

    ``data``: the DataFrame of :func:`iometa.gosh` (columns read: estimate, i2; ``attrs``
    "incl" and "labels" for ``highlight``) computed first; a MetaResult is refused.
    ``result`` sets the scale (percent for proportions). ``highlight="Smith 2019"`` colours
    the subsets that contain that study. More than 5000 subsets are drawn as hexagonal bins
    (``hexbin=True/False`` forces the choice); marginal histograms need a new figure
    (``ax=None``).

    Reference: Olkin, Dahabreh & Trikalinos 2012 (Res Synth Methods 3:214). metafor:
    ``plot(gosh(res))``; dmetar: ``gosh.diagnostics``.

    Example
    -------
    >>> import pandas as pd, iometa
    >>> g = pd.DataFrame({"estimate": [0.2, 0.3, 0.25, 0.4], "i2": [10.0, 50, 30, 80]})
    >>> fig = iometa.gosh_plot(g)
    >>> len(fig.axes)
    3
    """
    df, res = _frame(data, "gosh", ("estimate", "i2"))
    result = result if result is not None else res
    x, default = _display(result, df["estimate"].to_numpy(float))
    y = df["i2"].to_numpy(float)
    mask = _highlight_mask(df, highlight)
    use_hex = len(df) > HEXBIN_ABOVE if hexbin is None else bool(hexbin)
    fs = style.preset(width, fontsize).fontsize
    with rc(fs):
        fig, main, fs = new_figure(ax, width, fs, 0.9)
        margins = ax is None
        if margins:
            fig.delaxes(main)
            gs = fig.add_gridspec(2, 2, width_ratios=(4, 1), height_ratios=(1, 4))
            main = fig.add_subplot(gs[1, 0])
            top = fig.add_subplot(gs[0, 0], sharex=main)
            right = fig.add_subplot(gs[1, 1], sharey=main)
        finish_axes(main, fs)
        _gosh_points(main, x, y, mask, use_hex, _legend_name(main, highlight, fs))
        main.set_xlabel(xlabel or default)
        main.set_ylabel("I² (%)")
        if margins:
            _marginals(top, right, x, y, mask, fs)
        if mask is not None:
            main.legend(loc="upper left", frameon=False, handletextpad=0.3, borderaxespad=0.2)
    return fig


def _highlight_mask(df, highlight):
    if highlight is None:
        return None
    labels, incl = df.attrs.get("labels"), df.attrs.get("incl")
    if labels is None or incl is None:
        raise ValueError("highlight= needs the membership matrix of iometa.gosh() "
                         "(df.attrs['incl'] and df.attrs['labels'])")
    if highlight not in labels:
        raise ValueError(f"highlight={highlight!r} is not a study label")
    return np.asarray(incl)[:, list(labels).index(highlight)].astype(bool)


def _legend_name(ax, name, fs):
    """The highlighted study's label, ended by an ellipsis if "without <name>" would be wider
    than about 3/4 of the Axes."""
    if name is None:
        return None
    from .layout import text_width, truncate

    room = 0.75 * ax.get_position().width * ax.figure.get_figwidth()
    return truncate(str(name), room - text_width("without ", fs), fs)


def _gosh_points(ax, x, y, mask, use_hex, name=None):
    n = x.size
    if use_hex and mask is None:
        hb = ax.hexbin(x, y, gridsize=45, bins="log", cmap="Greys", mincnt=1, linewidths=0.1)
        hb.set_rasterized(True)
        return
    alpha = float(np.clip(30 / np.sqrt(max(n, 1)), 0.05, 0.8))
    size = 8 if n < 500 else 3
    groups = [(np.ones(n, bool), style.STUDY, None)] if mask is None else [
        (~mask, "#9e9e9e", f"without {name}"), (mask, style.PALETTE[1], f"with {name}")]
    for m, color, label in groups:
        ax.scatter(x[m], y[m], s=size, color=color, alpha=alpha, linewidths=0,
                   rasterized=n > 2000, label=label)


def _marginals(top, right, x, y, mask, fs):
    bins = 40
    sets = [(np.ones(x.size, bool), style.STUDY)] if mask is None else [
        (~mask, "#9e9e9e"), (mask, style.PALETTE[1])]
    for m, color in sets:
        top.hist(x[m], bins=bins, color=color, alpha=0.7, linewidth=0)
        right.hist(y[m], bins=bins, color=color, alpha=0.7, linewidth=0,
                   orientation="horizontal")
    for a in (top, right):
        finish_axes(a, fs)
        a.tick_params(labelbottom=a is right, labelleft=a is top)
    top.spines["bottom"].set_visible(True)
    top.tick_params(labelbottom=False)
    right.tick_params(labelleft=False)
    top.set_ylabel("Count")
    right.set_xlabel("Count")
    top.yaxis.set_major_locator(_few())
    right.xaxis.set_major_locator(_few())


def _few():
    from matplotlib.ticker import MaxNLocator

    return MaxNLocator(nbins=2, integer=True)

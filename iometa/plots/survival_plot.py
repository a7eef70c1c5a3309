"""Pooled survival over time, one line per group: :func:`survival_plot`."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from . import style
from .figures import finish_axes, make_figure, rc, tick_style

if TYPE_CHECKING:
    from matplotlib.figure import Figure


_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
_NEEDED = ("time", "group", "estimate", "ci_low", "ci_high")


def _month_ticks(tmax):
    for step in (1, 2, 3, 6, 12, 24, 36, 60, 120):
        if tmax / step <= 7:
            return step
    return 240


def survival_plot(table, *, ax=None, width="single", fontsize=None, ci="bars",
                  show_k=True, xlabel="Months", ylabel=None, ylim=(0, 100), legend=True) -> Figure:
    """Pooled survival S(t) with confidence intervals at each reported time point, one line
    (colour and marker) per group, e.g. per modality.

    ``table``: a tidy DataFrame, e.g. :func:`iometa.survival.survival_table` (columns read:
    time in months, group, estimate, ci_low, ci_high as proportions; k, the number of studies
    per point, if present). ``ci="bars"`` draws error bars (dodged so groups do not hide each
    other), ``"band"`` shaded bands, ``None`` nothing. ``show_k`` adds a table of the number
    of studies under the plot (like a number-at-risk table; needs ``ax=None``). Points are
    joined by straight lines for readability: the pooled values are separate meta-analyses
    at each time point, not a survival curve fitted to individual patients.

    Reference: Combescure et al. 2014 (Stat Med 33:2521). R: no single equivalent (one
    ``metaprop``/``rma`` per time point, plotted with ggplot2).

    Example
    -------
    >>> import pandas as pd, iometa
    >>> tab = pd.DataFrame({"time": [12, 24, 12, 24], "group": ["RFA", "RFA", "MWA", "MWA"],
    ...                     "estimate": [0.9, 0.7, 0.85, 0.6], "ci_low": [0.8, 0.6, 0.7, 0.45],
    ...                     "ci_high": [0.95, 0.8, 0.93, 0.73], "k": [3, 2, 2, 2]})
    >>> fig = iometa.survival_plot(tab)
    >>> fig.axes[0].get_ylabel()
    'Pooled survival (%)'
    """
    df = _check(table)
    groups = list(dict.fromkeys(df["group"].astype(str)))
    fs = style.preset(width, fontsize).fontsize
    with_k = show_k and "k" in df and ax is None
    with rc(fs):
        fig, main, ktab = _figure(ax, width, fs, len(groups) if with_k else 0)
        finish_axes(main, fs, grid=True)
        tmax = float(df["time"].max())
        dodge = 0.012 * tmax
        for i, g in enumerate(groups):
            d = df[df["group"].astype(str) == g].sort_values("time")
            _group(main, d, i, g, ci, dodge * (i - (len(groups) - 1) / 2))
        step = _month_ticks(tmax)
        main.set_xticks(np.arange(0, tmax + step, step))
        main.set_xlim(0, tmax + step * 0.35)
        main.set_ylim(*ylim)
        main.set_ylabel(ylabel or "Pooled survival (%)")
        main.set_xlabel(xlabel)
        if with_k:
            _k_table(ktab, df, groups, max(style.MIN_FONTSIZE, fs - 0.5))
        if legend and len(groups) > 1:
            fig.legend(*main.get_legend_handles_labels(), loc="outside upper center",
                       ncols=min(len(groups), 4), frameon=False, handlelength=2.0,
                       columnspacing=1.0)
    return fig


def _check(table):
    if not isinstance(table, pd.DataFrame):
        raise TypeError("survival_plot expects a tidy DataFrame (e.g. iometa.survival_table)")
    missing = [c for c in _NEEDED if c not in table]
    if missing:
        raise ValueError(f"the table lacks column(s) {missing}; expected {list(_NEEDED)}")
    df = table.dropna(subset=["time", "estimate"]).copy()
    if df.empty:
        raise ValueError("no survival estimates to plot (no rows with time and estimate)")
    return df


def _figure(ax, width, fs, n_k):
    if ax is not None:
        return ax.figure, ax, None
    pre = style.preset(width, fs)
    h = pre.width * 0.72 + (n_k * 1.5 * fs / 72 + 3 * fs / 72 if n_k else 0)
    fig = make_figure(figsize=(pre.width, h), layout="constrained")
    fig.get_layout_engine().set(w_pad=3 / 72, h_pad=3 / 72, hspace=0.02)
    if not n_k:
        return fig, fig.add_subplot(), None
    gs = fig.add_gridspec(2, 1, height_ratios=(pre.width * 0.72, n_k * 1.5 * fs / 72 + fs / 72))
    main = fig.add_subplot(gs[0])
    return fig, main, fig.add_subplot(gs[1], sharex=main)


def _group(ax, d, i, name, ci, shift):
    color = style.PALETTE[i % len(style.PALETTE)]
    t = d["time"].to_numpy(float) + shift
    est = 100 * d["estimate"].to_numpy(float)
    lo, hi = 100 * d["ci_low"].to_numpy(float), 100 * d["ci_high"].to_numpy(float)
    ax.plot(t, est, color=color, lw=1.0, marker=_MARKERS[i % len(_MARKERS)], ms=4,
            label=name, zorder=3)
    ok = np.isfinite(lo) & np.isfinite(hi)
    if ci == "bars" and ok.any():
        ax.errorbar(t[ok], est[ok], yerr=[est[ok] - lo[ok], hi[ok] - est[ok]], fmt="none",
                    ecolor=color, elinewidth=0.8, capsize=2, capthick=0.8, zorder=2)
    elif ci == "band" and ok.sum() > 1:
        ax.fill_between(t[ok], lo[ok], hi[ok], color=color, alpha=0.15, lw=0, zorder=1)
    elif ci not in ("bars", "band", None):
        raise ValueError(f"ci={ci!r}: expected 'bars', 'band' or None")


def _k_table(ax, df, groups, fs):
    """Number of studies per group and time point, under the plot."""
    for i, g in enumerate(groups):
        d = df[df["group"].astype(str) == g]
        for t, k in zip(d["time"].to_numpy(float), d["k"].to_numpy(), strict=True):
            ax.text(t, i, f"{int(k)}", ha="center", va="center", fontsize=fs,
                    color=style.PALETTE[i % len(style.PALETTE)])
    ax.set_ylim(len(groups) - 0.5, -0.5)
    ax.set_yticks(range(len(groups)), groups)
    tick_style(ax, fs, axis="y")
    ax.tick_params(axis="y", length=0)
    for i, lab in enumerate(ax.get_yticklabels()):
        lab.set_color(style.PALETTE[i % len(style.PALETTE)])
    for side in ("top", "right", "left", "bottom"):
        ax.spines[side].set_visible(False)
    ax.tick_params(axis="x", bottom=False, labelbottom=False)
    ax.set_title("Number of studies", fontsize=fs, loc="left", pad=2)

"""Plots of a Bayesian random-effects fit (:func:`iometa.pool_bayes`):
:func:`bayes_forest_plot` (observed and shrunken study estimates) and
:func:`bayes_posterior_plot` (posterior densities of τ and μ). They read the result only."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from . import style
from .figures import finish_axes, new_figure, rc

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def _check(res):
    if not hasattr(res, "shrinkage") or not hasattr(res, "posterior_summary"):
        raise TypeError(f"expected the result of iometa.pool_bayes(), got {type(res).__name__}")


def bayes_forest_plot(res, *, ax=None, width="single", fontsize=None, backtransform=True) -> Figure:
    """Forest plot of a Bayesian fit: each study's observed estimate with its CI (open
    square, grey) beside its shrunken estimate, the posterior mean and credible interval of
    its true effect θᵢ (filled, accent), then μ (diamond) and θ_new (the prediction, bar).

    ``backtransform=True`` draws on the result's reporting scale (e.g. proportions).
    Reference: Röver 2020 (J Stat Softw 93(6)); bayesmeta: ``forestplot(bm)``.

    Example
    -------
    >>> from iometa.plots.bayes_plots import bayes_forest_plot
    >>> from iometa.core.bayes import pool_bayes
    >>> res = pool_bayes([0.1, 0.5, 0.9], [0.04, 0.05, 0.06])
    >>> fig = bayes_forest_plot(res)
    >>> round(fig.get_figwidth() * 25.4)
    90
    """
    _check(res)
    bt = bool(backtransform)
    obs = res.observed(backtransform=bt)
    shr = res.shrinkage(backtransform=bt)
    summ = res.posterior_summary(backtransform=bt)
    k = len(obs)
    fs = style.preset(width, fontsize).fontsize
    with rc(fs):
        fig, ax, fs = new_figure(ax, width, fs, 0.25 + 0.09 * (k + 3))
        finish_axes(ax, fs)
        ys = np.arange(k)[::-1] + 3.0
        d = 0.18
        ax.hlines(ys + d, obs["ci_low"], obs["ci_high"], color=style.COMMON, lw=0.8)
        ax.plot(obs["yi"], ys + d, "s", mfc="white", mec=style.COMMON, ms=3.5,
                label="observed")
        ax.hlines(ys - d, shr["ci_low"], shr["ci_high"], color=style.ACCENT, lw=0.8)
        ax.plot(shr["mean"], ys - d, "o", color=style.ACCENT, ms=3.5, label="shrunken")
        mu = summ.loc["mu"]
        ax.fill([mu["ci_low"], mu["median"], mu["ci_high"], mu["median"]],
                [1.5, 1.5 + 0.3, 1.5, 1.5 - 0.3], color=style.SUMMARY, lw=0)
        new = summ.loc["theta_new"]
        ax.hlines(0.6, new["ci_low"], new["ci_high"], color=style.SUMMARY, lw=1.6)
        ax.set_yticks([*ys, 1.5, 0.6], [*obs.index.astype(str), "μ", "θ new"], fontsize=fs)
        ax.tick_params(axis="y", length=0)
        ax.spines["left"].set_visible(False)
        ax.axvline(float(mu["median"]), color=style.GRID, lw=0.5, ls=":", zorder=0)
        ax.set_ylim(0, k + 3.6)
        scale = res.scale if bt and res.scale != "model" else f"effect ({res.measure})"
        ax.set_xlabel(f"{scale}; {100 * res.level:g}% intervals")
        ax.legend(loc="upper right", frameon=False, fontsize=max(style.MIN_FONTSIZE, fs - 1),
                  handlelength=1.0, borderaxespad=0.1)
    return fig


def bayes_posterior_plot(res, *, ax=None, width="double", fontsize=None, prior=True) -> Figure:
    """Posterior densities of τ (left, with its prior dashed when ``prior``) and of μ and θ_new
    (right), from the result's own density evaluations (model scale). ``ax``: None or two
    Axes.

    Reference: Röver 2020 (J Stat Softw 93(6)); bayesmeta: ``plot(bm, which = 3:4)``.

    Example
    -------
    >>> from iometa.plots.bayes_plots import bayes_posterior_plot
    >>> from iometa.core.bayes import pool_bayes
    >>> res = pool_bayes([0.1, 0.5, 0.9], [0.04, 0.05, 0.06])
    >>> fig = bayes_posterior_plot(res)
    >>> len(fig.axes), round(fig.get_figwidth() * 25.4)
    (2, 180)
    """
    import matplotlib.pyplot as plt

    from .display import IometaFigure

    _check(res)
    pre = style.preset(width, fontsize)
    fs = pre.fontsize
    with rc(fs):
        if ax is None:
            fig, axes = plt.subplots(1, 2, figsize=(pre.width, pre.width * 0.38),
                                     layout="constrained", FigureClass=IometaFigure)
        else:
            axes = list(ax)
            if len(axes) != 2:
                raise ValueError("ax must be None or two Axes (tau, mu)")
            fig = axes[0].figure
        g_tau = res.grid("tau")
        axes[0].plot(g_tau["x"], g_tau["density"], color=style.ACCENT, label="posterior")
        if prior:
            axes[0].plot(g_tau["x"], res.prior_density(g_tau["x"].to_numpy()),
                         color=style.COMMON, ls="--", label="prior")
        axes[0].set_xlabel("τ (between-study SD)")
        for name, colour, ls in (("mu", style.ACCENT, "-"), ("theta_new", style.COMMON, "--")):
            g = res.grid(name)
            axes[1].plot(g["x"], g["density"], color=colour, ls=ls,
                         label="μ" if name == "mu" else "θ new")
        axes[1].set_xlabel(f"effect ({res.measure}, model scale)")
        for a in axes:
            finish_axes(a, fs)
            a.set_ylim(bottom=0)
            a.set_ylabel("density")
            a.legend(frameon=False, fontsize=max(style.MIN_FONTSIZE, fs - 1))
    return fig

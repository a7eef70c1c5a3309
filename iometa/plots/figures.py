"""Figure and Axes creation for the scatter-type plots (funnel, Baujat, GOSH, bubble,
survival): journal width, constrained layout (nothing is cut off), fixed fonts."""

from __future__ import annotations

from . import style


def make_figure(**kwargs):
    """``plt.figure(**kwargs)`` with the :class:`~iometa.plots.display.IometaFigure` class
    (shown at 2x resolution in Jupyter, saved as before)."""
    import matplotlib.pyplot as plt

    from .display import IometaFigure

    return plt.figure(FigureClass=IometaFigure, **kwargs)


def new_figure(ax, width, fontsize, aspect):
    """``(fig, ax, fontsize)``: the given Axes, or a new figure of the preset width and
    ``width × aspect`` height with constrained layout."""
    pre = style.preset(width, fontsize)
    if ax is not None:
        return ax.figure, ax, pre.fontsize
    fig = make_figure(figsize=(pre.width, pre.width * aspect), layout="constrained")
    fig.get_layout_engine().set(w_pad=3 / 72, h_pad=3 / 72, wspace=0.02, hspace=0.02)
    return fig, fig.add_subplot(), pre.fontsize


def finish_axes(ax, fontsize, grid=False):
    """Tick fonts fixed on the Axes itself (so later draws do not depend on global rcParams),
    thin outward ticks, no top/right spines."""
    tick_style(ax, fontsize)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    for side in ("left", "bottom"):
        ax.spines[side].set_linewidth(0.6)
    if grid:
        ax.grid(True, color="#e6e6e6", lw=0.5, zorder=0)
        ax.set_axisbelow(True)


def tick_style(ax, fontsize, **kw):
    """Tick size and font set on the Axes (matplotlib >= 3.8 also pins the font family)."""
    ax.tick_params(labelsize=fontsize, length=3, width=0.6, pad=2, **kw)
    try:
        ax.tick_params(labelfontfamily="DejaVu Sans", **kw)
    except (TypeError, ValueError):  # matplotlib < 3.8: the rc context sets the family
        pass


def fix_layout(fig):
    """Run the layout once and freeze it (so labels placed afterwards keep their position)."""
    fig.draw_without_rendering()
    engine = fig.get_layout_engine()
    if engine is not None:
        fig.set_layout_engine("none")
    return fig


def rc(fontsize):
    """rc context of the scatter-type plots."""
    import matplotlib.pyplot as plt

    return plt.rc_context(style.rc(fontsize))

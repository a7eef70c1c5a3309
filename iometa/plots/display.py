"""How iometa's figures show in Jupyter: :class:`IometaFigure`, a matplotlib Figure drawn
at :data:`DISPLAY_DPI` inline and saved exactly as before.

IPython renders a figure at its ``dpi`` (``png``) or twice that (``retina``), so a 90-mm
figure at matplotlib's 100 dpi shows 354 px wide, too small to read. Inside a Jupyter kernel
iometa's figures get ``dpi = DISPLAY_DPI``; ``savefig`` without ``dpi`` still writes at the
dpi the figure was created with, and :func:`iometa.save_figure` passes its own.
"""

from __future__ import annotations

import sys

import matplotlib
from matplotlib.figure import Figure

#: resolution of iometa's figures shown inline in Jupyter: twice matplotlib's 100 dpi, so a
#: 90-mm figure is ~710 px wide (readable) and sharp on retina screens
DISPLAY_DPI = 200


def in_notebook() -> bool:
    """True inside a Jupyter kernel (the running IPython shell is the kernel's, not merely
    ``ipykernel`` imported) or with an inline matplotlib backend."""
    if "inline" in matplotlib.get_backend().lower():
        return True
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"


class IometaFigure(Figure):
    """The Figure of every iometa plot (see the module docstring). ``file_dpi``: the dpi
    that ``savefig`` uses when none is given (``rcParams["figure.dpi"]`` at creation)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.file_dpi = float(self.dpi)
        if in_notebook():
            self.set_dpi(DISPLAY_DPI)

    def __repr__(self) -> str:
        # matplotlib's repr, with the size in pixels of the saved file (not of the display)
        w, h = self.get_size_inches() * self.file_dpi
        return f"<Figure size {w:g}x{h:g} with {len(self.axes)} Axes>"

    def savefig(self, fname, *args, **kwargs):
        if kwargs.get("dpi") in (None, "figure") and \
                matplotlib.rcParams["savefig.dpi"] == "figure":
            kwargs["dpi"] = self.file_dpi  # files do not depend on the display resolution
        return super().savefig(fname, *args, **kwargs)


__all__ = ["DISPLAY_DPI", "IometaFigure", "in_notebook"]

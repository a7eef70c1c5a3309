"""Publication-quality figures: forest, funnel and diagnostic plots (matplotlib).

matplotlib is imported only by this package, never by the statistical core. Plots read
results (:class:`~iometa.MetaResult`, subgroup results, diagnostics tables); they compute no
statistics.
"""

from __future__ import annotations

from .forest import forest_plot

__all__ = ["forest_plot"]

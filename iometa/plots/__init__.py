"""Publication-quality figures: forest, funnel and diagnostic plots (matplotlib).

matplotlib is imported only by this package, never by the statistical core. Plots read
results (:class:`~iometa.MetaResult`, subgroup results, diagnostics tables); they compute no
statistics.

* :func:`forest_plot` — forest plot of a pooled or subgroup analysis;
* :func:`funnel_plot` — contour-enhanced funnel plot with trim-and-fill;
* :func:`leave_one_out_plot`, :func:`cumulative_plot` — sensitivity forest plots;
* :func:`baujat_plot`, :func:`gosh_plot` — heterogeneity diagnostics;
* :func:`bubble_plot` — meta-regression;
* :func:`survival_plot` — pooled survival over time per modality;
* :func:`save_figure` — PNG/SVG/PDF export, reproducible byte for byte.
"""

from __future__ import annotations

from .bayes_plots import bayes_forest_plot, bayes_posterior_plot
from .bubble import bubble_plot
from .diagnostic_plots import baujat_plot, gosh_plot
from .export import save_figure
from .forest import forest_plot
from .funnel import funnel_plot
from .influence_plots import cumulative_plot, leave_one_out_plot
from .survival_plot import survival_plot

__all__ = ["bayes_forest_plot", "bayes_posterior_plot", "baujat_plot", "bubble_plot", "cumulative_plot", "forest_plot", "funnel_plot",
           "gosh_plot", "leave_one_out_plot", "save_figure", "survival_plot"]

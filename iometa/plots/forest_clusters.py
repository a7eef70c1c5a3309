"""Forest plot of a three-level model (:func:`iometa.pool_multilevel`): the rows drawn in
their clusters (a header per cluster, its rows indented under it), the pooled diamond, the
prediction interval of a new row and a footnote saying that the model accounts for the
clustering. Drawn by the same machinery as :func:`iometa.forest_plot`, which calls
:func:`cluster_forest` for a :class:`~iometa.core.multilevel_result.MultilevelResult`."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
from matplotlib.figure import Figure

from . import style
from .axis import effect_scale
from .forest_draw import Options, render
from .forest_rows import build_columns, format_estci, row_extent
from .layout import Row
from .text import fmt_num

__all__ = ["cluster_forest", "row_weights"]

#: indentation of a cluster's rows under its header
INDENT = "   "


def row_weights(res) -> np.ndarray:
    """Weights (%) of the rows: the diagonal of the inverse marginal covariance V⁻¹ over its
    sum, metafor's ``weights.rma.mv`` (``type = "diagonal"``). V is block-diagonal over the
    clusters, Vc = diag(vᵢ + σ²_within) + σ²_between·J, inverted by Sherman–Morrison.

    Example
    -------
    >>> from iometa.core.multilevel import pool_multilevel
    >>> res = pool_multilevel([0.1, 0.3, 0.5, 0.2], [0.02] * 4, cluster=[1, 1, 2, 2])
    >>> round(float(row_weights(res).sum()), 6)
    100.0
    """
    s1, s2 = float(res.sigma2[0]), float(res.sigma2[1])
    d = 1.0 / (np.asarray(res.vi, float) + s2)
    codes = np.unique(np.asarray(res.cluster, dtype=str), return_inverse=True)[1]
    sd = np.bincount(codes, weights=d)[codes]
    diag = d - s1 * d * d / (1.0 + s1 * sd)
    return 100.0 * diag / diag.sum()


def _p(p: float) -> str:
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def cluster_forest(res, *, ax=None, width="double", fontsize=None, transf=None, digits=None,
                   xlim=None, ticks=None, refline=None, xlabel=None, label_header="Study",
                   estimate_header=None, footnote=True, pi="row", cluster_label=None) -> Figure:
    """Forest plot of a three-level model: a header per cluster with its rows indented, the
    pooled estimate (diamond), the prediction interval for a new row (``pi="row"`` or None)
    and the heterogeneity line (σ² between and within clusters, multilevel I², Q). Model
    scale unless ``transf`` (e.g. ``"exp"`` for log ratios). ``cluster_label`` is a function
    of the cluster value giving its header (default: the value itself).

    Example
    -------
    >>> import iometa
    >>> res = iometa.pool_multilevel([0.1, 0.3, 0.5, 0.2, 0.8], [0.02] * 5,
    ...                              cluster=["A", "A", "B", "B", "C"],
    ...                              labels=["A1", "A2", "B1", "B2", "C1"])
    >>> fig = iometa.forest_plot(res)
    >>> texts = [t.get_text() for t in fig.axes[0].texts]
    >>> "A" in texts and "   A1" in texts
    True
    """
    if res.p != 1:
        raise ValueError("forest_plot draws a three-level model without moderators (its "
                         f"intercept); this one has {res.p} coefficients")
    shape = SimpleNamespace(scale="model", measure="GEN", kind=None, level=res.level)
    scale = effect_scale(shape, transf, digits, xlabel, estimate_header)
    y = np.asarray(res.yi, float)
    se = np.sqrt(np.asarray(res.vi, float))
    from ..core.fitting import quantile

    z = quantile("z", 1 - (1 - res.level) / 2)
    est, lo, hi = scale(y), scale(y - z * se), scale(y + z * se)
    w = row_weights(res)
    clusters = [str(c) for c in res.cluster]
    name = cluster_label or (lambda c: c)
    rows: list[Row] = []
    for c in dict.fromkeys(clusters):
        rows.append(Row("header", span=str(name(c)), bold=True))
        for i in (j for j, cc in enumerate(clusters) if cc == c):
            rows.append(Row("study", {"label": INDENT + str(res.labels[i]),
                                      "weight": fmt_num(w[i], 1, "–")},
                            mark=dict(shape="square", est=est[i], lo=lo[i], hi=hi[i],
                                      size=w[i], color=style.STUDY),
                            values=(est[i], lo[i], hi[i])))
    rows.append(Row("spacer", height=0.4))
    m, mlo, mhi = scale([float(res.coef), float(res.coef_ci_low), float(res.coef_ci_high)])
    rows.append(Row("summary", {"label": "Three-level model", "weight": "100.0"}, bold=True,
                    mark=dict(shape="diamond", est=m, lo=mlo, hi=mhi, color=style.SUMMARY,
                              fill=style.SUMMARY), values=(m, mlo, mhi)))
    if pi == "row" and res.k >= 3:
        sp = np.sqrt(float(res.se) ** 2 + res.sigma2[0] + res.sigma2[1])
        plo, phi = scale([float(res.coef) - z * sp, float(res.coef) + z * sp])
        rows.append(Row("pi", {"label": "Prediction interval"},
                        mark=dict(shape="bar", lo=plo, hi=phi, color=style.ACCENT),
                        values=(None, plo, phi)))
    s1, s2 = res.sigma2
    rows.append(Row("text", span=(f"Heterogeneity: σ² between clusters = {s1:.3g}, within "
                                  f"= {s2:.3g}; I² = {res.i2:.0f}%; Q = {res.q:.2f}, "
                                  f"df = {res.q_df}, " + _p(res.q_pval))))
    format_estci(rows, scale.digits)
    variants = build_columns(None, {}, True, scale.header, label_header)
    core, spread = row_extent(rows)
    note = None
    if footnote is True:
        note = (f"Three-level random-effects model ({res.method}): rows nested in "
                f"{res.n_clusters} clusters (a header per cluster, its rows indented); the "
                "model accounts for the correlation of rows of one cluster. Row CIs: Wald "
                "(normal) from each row's sampling variance; weights: diagonal of the inverse "
                "marginal covariance.")
    elif isinstance(footnote, str):
        note = footnote
    if refline is not None:
        core.append(float(refline))
    opts = Options(width=width, fontsize=fontsize, xlim=xlim, ticks=ticks, refline=refline,
                   xlabel=xlabel, footnote=note)
    return render(rows, *variants, scale, opts, ax=ax, core=core, spread=spread)  # type: ignore[misc]

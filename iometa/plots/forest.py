"""Forest plot of a pooled or subgroup meta-analysis: :func:`forest_plot`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..core.measures import MEASURES
from .axis import effect_scale
from .forest_draw import Options, render
from .forest_rows import (
    build_columns,
    counts_kind,
    extra_columns,
    format_estci,
    is_subgroup,
    row_extent,
    sort_rows,
    study_rows,
    subgroup_rows,
    summary_rows,
)
from .text import model_label

if TYPE_CHECKING:
    from matplotlib.figure import Figure


_SORTS = (None, "estimate", "weight", "label")


def forest_plot(result, *, ax=None, width="double", fontsize=None, columns=None,
                common=False, pi="row", heterogeneity=True, overall=True, weights="auto",
                sort=None, transf=None, digits=None, xlim=None, ticks=None, refline=None,
                pooled_line=True, xlabel=None, favours=None, label_header="Study",
                estimate_header=None, footnote=True, layout=None, pscale=None) -> Figure:
    """Publication-ready forest plot of a :class:`~iometa.MetaResult` or a subgroup result
    (or of a three-level model of :func:`iometa.pool_multilevel`: rows drawn in their
    clusters, :mod:`iometa.plots.forest_clusters`).

    Columns: study label, optional extra columns of the study table (``columns=["design"]``,
    or ``{"design": "Design"}``; read from ``result.data``), events and total (proportions) or
    n (medians), the graphical column (squares with area ∝ weight and the study CIs — exact
    Clopper–Pearson for proportions — with arrows where the axis cuts them), the estimate
    [CI] and the weight (%; ``weights="auto"`` drops this column only when a narrow figure
    cannot hold it at 6 pt, ``True`` keeps it, ``False`` omits it). Summary rows: the random-effects diamond (``common=True`` adds the
    common-effect diamond from ``result.refit(method="FE")``), the prediction interval
    (``pi="row"`` as a bar in its own row, ``"line"`` as a dashed line through the diamond,
    ``None`` to omit; shown for k ≥ 3) and the heterogeneity line. A subgroup result
    (attributes ``groups``, ``overall``, ``q_between``, ``q_between_df``, ``q_between_pval``,
    e.g. :func:`iometa.subgroups`) gets a header, subtotal diamond and heterogeneity line per
    group, the overall diamond and the test for subgroup differences; study weights are those
    of the overall model when study labels identify the studies, else within-group weights.

    Axis: percent for proportions, months for medians, log scale for ratios (``transf="exp"``,
    automatic for RR/OR/HR results; results on the ratio scale, e.g. of
    :func:`iometa.pool_two_groups`, also get the line of no effect at 1). ``xlim``, ``ticks`` and ``refline`` are given on the
    displayed scale (percent, months, ratio). Layout is automatic: the height grows with the
    rows, column widths follow the measured text, long labels wrap to two lines then end in an
    ellipsis, and the font shrinks (not below 6 pt) only if the columns do not fit ``width``
    (``"single"`` ≈ 90 mm, ``"onehalf"``, ``"double"`` ≈ 180 mm, a number of mm, or
    ``"auto"``). With ``ax=`` the plot fills that Axes' area and its figure is returned.

    ``sort="estimate"``, ``"weight"`` (largest first) or ``"label"`` orders the study rows; in
    a subgroup plot the studies are sorted within each group and the groups keep their order.
    ``pscale`` sets the display scale of proportions and survival rates: ``None`` (default)
    or 100 for percent, 1 for proportions, 1000 for events per 1000 (meta's ``pscale``);
    other results refuse it.

    ``layout="RevMan5"`` or ``"JAMA"`` draws the journal presets of R meta's ``settings.meta``
    (:mod:`iometa.plots.forest_layouts`), for comparative results (:func:`iometa.pool_two_groups`,
    :func:`iometa.pool_effects`) and their subgroups: RevMan5 has Events and Total per arm
    (Mean, SD, Total for continuous data from ``result.data``), Weight, the effect [CI] under
    a header naming measure, method and model ("Risk Ratio / M-H, Fixed, 95% CI"), "Total
    (95% CI)" and "Total events" rows, the heterogeneity (Tau², Chi², df, P, I²) and overall
    effect (Z, P) lines, subtotals and the test for subgroup differences; JAMA has events/total
    per arm, the effect (CI), no weight column and P values without the leading zero.
    ``favours=("MWA", "RFA")`` labels the sides of the line of no effect ("Favours MWA" left,
    "Favours RFA" right: reverse them for an outcome where more events are better); the arm
    column headers are the arms of :func:`iometa.comparison_rows` (``arm_1``, ``arm_2`` in
    ``result.data``), else the names in ``favours``, else "Experimental" and "Control". Of the other options these
    layouts use ``ax``, ``width``, ``fontsize``, ``sort``, ``digits``, ``xlim``, ``ticks``,
    ``refline``, ``xlabel``, ``label_header``, ``estimate_header``,
    ``heterogeneity``, ``overall``, ``transf`` and a string ``footnote``.

    ``footnote=True`` writes the model (e.g. "Random-effects model, REML estimate of τ²; logit
    transformation; Clopper–Pearson CIs for individual studies"); a string replaces it.

    Same display as R meta's ``forest.meta`` and metafor's ``forest.rma`` (Lewis & Clarke 2001,
    BMJ 322:1479; prediction interval: Riley, Higgins & Deeks 2011, BMJ 342:d549).

    Example
    -------
    >>> import iometa
    >>> res = iometa.pool_proportions([13, 4, 9], [51, 30, 40], labels=["A", "B", "C"])
    >>> fig = iometa.forest_plot(res, width="single")
    >>> bool(fig.get_figwidth() > 3.5)
    True
    >>> mh = iometa.pool_two_groups([4, 6, 3], [123, 306, 231], [11, 29, 11], [139, 303, 220],
    ...                             measure="RR", method="MH")
    >>> fig = iometa.forest_plot(mh, layout="RevMan5", favours=("BCG", "control"))
    >>> any(t.get_text().endswith("M-H, Fixed, 95% CI") for t in fig.axes[0].texts)
    True
    """
    if sort not in _SORTS:
        raise ValueError(f"sort={sort!r}: expected one of {_SORTS}")
    if hasattr(result, "sigma2") and hasattr(result, "n_clusters"):  # a three-level model
        from .forest_clusters import cluster_forest

        return cluster_forest(result, ax=ax, width=width, fontsize=fontsize, transf=transf,
                              digits=digits, xlim=xlim, ticks=ticks, refline=refline,
                              xlabel=xlabel, label_header=label_header,
                              estimate_header=estimate_header, footnote=footnote,
                              pi=pi if pi == "row" else None)
    if layout is not None:
        from .forest_layouts import layout_forest

        return layout_forest(
            result, layout, ax=ax, width=width, fontsize=fontsize, favours=favours, sort=sort,
            digits=digits, xlim=xlim, ticks=ticks, refline=refline, xlabel=xlabel, label_header=label_header, estimate_header=estimate_header,
            heterogeneity=heterogeneity, overall=overall, transf=transf,
            footnote=footnote if isinstance(footnote, str) else None)
    sub = is_subgroup(result)
    first = next(iter(result.groups.values())) if sub else result
    if first is None:
        raise ValueError("the subgroup result has no groups to plot")
    scale = effect_scale(first, transf, digits, xlabel, estimate_header, pscale)
    extras = extra_columns(columns)
    _check_extras(result, extras, sub)
    if sub:
        rows = subgroup_rows(result, scale, extras, common=common, pi=pi, het=heterogeneity,
                             overall=overall, sort=sort)
    else:
        rows = _rows(result, scale, extras, common, pi, heterogeneity, sort)
    format_estci(rows, scale.digits)
    variants = build_columns(counts_kind(first), extras, weights, scale.header, label_header)
    core, spread = row_extent(rows)
    if refline is None and getattr(first, "scale", None) == "ratio":
        refline = 1.0  # comparative ratios: the line of no effect
    if refline is not None:
        core.append(float(refline))
    note = _footnote(first, common) if footnote is True else (footnote or None)
    opts = Options(width=width, fontsize=fontsize, xlim=xlim, ticks=ticks, refline=refline,
                   pooled_line=pooled_line, xlabel=xlabel, favours=favours, footnote=note)
    return render(rows, *variants, scale, opts, ax=ax, core=core, spread=spread)  # type: ignore[misc]


def _rows(res, scale, extras, common, pi, het, sort):
    rows = sort_rows(study_rows(res, scale, extras), sort)
    from .layout import Row

    rows.append(Row("spacer", height=0.4))
    rows += summary_rows(res, scale, model_label(res), common=_fe(res) if common else None,
                         pi=pi, het="full" if het else None)
    return rows


def _fe(res):
    return None if _is_common(res) else res.refit(method="FE")


def _check_extras(result, extras, sub):
    if not extras:
        return
    results = list(result.groups.values()) if sub else [result]
    for r in results:
        data = getattr(r, "data", None)
        missing = [k for k in extras if (data is None or k not in data) and k not in r.studies]
        if missing:
            raise ValueError(f"columns={missing}: not found in result.data (pass data= to the "
                             "pool function) or in result.studies")


def _footnote(res, common):
    method = res.method
    if method in ("MM", "WM"):
        name = "Median of medians" if method == "MM" else "Weighted median of medians"
        return (f"{name} (McGrath et al. 2019); CI by inverting the sign test; study CIs as "
                "reported (NR: not reported).")
    if method == "FE":
        parts = ["Common-effect (inverse-variance) model"]
    elif method in ("MH", "Peto"):
        parts = ["Common-effect model, " + ("Mantel–Haenszel method" if method == "MH" else
                                            "Peto's one-step method")]
    elif method == "GLMM":
        parts = ["Random-effects binomial-normal model (GLMM, maximum likelihood)"]
    else:
        parts = [f"Random-effects model, {method} estimate of τ²"
                 + (", Hartung–Knapp adjustment" if res.test == "knha" else "")]
        if common:
            parts[0] += " (grey diamond: common-effect model)"
    row = MEASURES.get(res.measure)
    if res.kind == "survival_rate":
        parts.append(row.transformation if row is not None and row.family == "survival_rate"
                     else "model transformation of the survival rates")
    if res.kind == "proportion" and row is not None and row.family == "proportion":
        parts.append(row.transformation)
        parts.append("Clopper–Pearson CIs for individual studies")
    parts.append("squares proportional to study weights")
    return "; ".join(parts) + "."


def _is_common(res):
    return getattr(res, "common_effect", res.method == "FE")

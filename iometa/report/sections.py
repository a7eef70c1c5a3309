"""Report sections on pooled medians (the modality comparisons) and on proportions.

Every section pools the rows chosen by :mod:`iometa.report.build.select` with the public pool
functions, splits them by modality with :func:`iometa.subgroups` when there are two groups or
more, and records its figure (a forest plot), its tables, its method, its caveats and the
warnings the data raised.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from ..data.outcomes import outcome_rows
from . import caveats as cav
from .model import (
    Context,
    Section,
    Table,
    add_notes,
    collect,
    modality_order,
    pretty_outcome,
)
from .select import one_row_per_population, survival_without_time
from .sensitivity import sensitivity_tables
from .tables import (
    between_test,
    pooled_display,
    pooled_frame,
    pooled_row,
    sources_display,
    sources_frame,
)


@dataclass(frozen=True)
class Comparison:
    """A comparison of median OS between modalities (optionally restricted by other columns)."""

    slug: str
    title: str
    modalities: tuple[str, ...]
    filters: tuple[tuple[str, str], ...] = ()


COMPARISONS = (
    Comparison("median_os_ablation_liver",
               "Median overall survival: liver ablation (RFA vs MWA vs cryoablation)",
               ("RFA", "MWA", "cryoablation"), (("site", "liver"),)),
    Comparison("median_os_transarterial",
               "Median overall survival: transarterial therapies "
               "(TACE vs DEB-TACE vs TARE vs TARE+ICI)",
               ("TACE", "DEB-TACE", "TARE", "TARE+ICI")),
)
#: survival-rate outcomes get their own sections (report_survival); the rest are proportions
SURVIVAL_RATE_OUTCOMES = ("os_rate", "pfs_rate")


def record_excluded(ctx: Context, excluded: pd.DataFrame | list) -> None:
    """Record rows left out by outcome_rows (a frame) or by the selection rule (pairs)."""
    pairs = (zip(excluded["line"], excluded["reason"]) if isinstance(excluded, pd.DataFrame)
             else excluded)
    for line, reason in pairs:
        ctx.ledger.exclude(line, reason)


def _pool_medians(rows):
    from ..survival.table import pool_medians

    return pool_medians("value", ci_low="ci_low", ci_high="ci_high", n="n_used", labels="label",
                        data=rows)


def _split(res, rows, order):
    """Subgroup analysis by ``group`` when two groups or more are present, else None."""
    from ..compare import subgroups

    present = [g for g in order if (rows["group"] == g).any()]
    if len(present) < 2:
        return None
    return subgroups(res, by=pd.Categorical(rows["group"].astype(str), categories=present))


def _group_fits(res, sub, rows, order) -> dict:
    if sub is not None:
        return dict(sub.groups)
    present = [g for g in order if (rows["group"] == g).any()]
    return {present[0]: res} if present else {}


def pooled_tables(res, sub, rows, order, n_col, kind):
    """Numeric and display pooled-results tables (one row per group, k = 0 groups included,
    and the overall row with the test for subgroup differences when there are ≥ 2 groups)."""
    fits = _group_fits(res, sub, rows, order)
    out = [pooled_row(g, fits.get(g), rows.loc[rows["group"] == g, n_col]) for g in order]
    if sub is not None:
        out.append(between_test(pooled_row("All groups", res, rows[n_col]), sub))
    df = pooled_frame(out)
    return df, pooled_display(df, kind)


def _forest(obj, kind_mm: bool):
    def draw():
        import iometa

        if kind_mm:
            return iometa.forest_plot(obj, heterogeneity=False, pi=None,
                                      footnote=cav.MM_FOOTNOTE)
        return iometa.forest_plot(obj)
    return draw


def median_comparison(ctx: Context, comp: Comparison) -> Section | None:
    """Median OS by modality for one comparison; None when no row is usable."""
    filters = dict(comp.filters)
    sel = outcome_rows(ctx.studies, "median_os", modality=list(comp.modalities), **filters)
    record_excluded(ctx, sel.excluded)
    rows, left = one_row_per_population(sel.rows, "median_os")
    record_excluded(ctx, left)
    if rows.empty:
        return None
    rows["group"] = rows["modality"].astype(str)
    notes: list[str] = []
    with collect(notes, ctx.internal):
        res = _pool_medians(rows)
        sub = _split(res, rows, comp.modalities)
    add_notes(notes, res.warnings)
    add_notes(notes, sub.notes if sub is not None else ())
    ctx.ledger.use(rows["line"], comp.slug)
    table, display = pooled_tables(res, sub, rows, comp.modalities, "n_used", "median")
    src = sources_frame(rows.assign(route=res.studies["route"].to_numpy()), "group",
                        ["value", "ci_low", "ci_high", "n_used", "route"], comp.modalities)
    scope = ", ".join(f"{k} = {v}" for k, v in comp.filters)
    return Section(
        slug=comp.slug, title=comp.title, kind="median",
        summary=cav.median_summary(table, scope),
        method=cav.median_method(res),
        tables=[Table(f"tables/{comp.slug}", "Pooled median OS by modality (months)",
                      table, display)],
        sources=src, figure=_forest(sub if sub is not None else res, res.method in ("MM", "WM")),
        caveats=(cav.common_caveats(table, rows, sub, het=res.method not in ("MM", "WM"))
                 + cav.median_caveats(res)),
        notes=notes)


def median_sections(ctx: Context) -> list[Section]:
    """The median-OS comparisons (:data:`COMPARISONS`) that have usable rows.

    Example
    -------
    >>> import iometa
    >>> from iometa.report.model import Context
    >>> [s.slug for s in median_sections(Context.of(iometa.load_studies()))]
    ['median_os_ablation_liver', 'median_os_transarterial']
    """
    lines = ctx.outcome_lines("median_os")
    return [s for s in (ctx.attempt(c.title, lines, median_comparison, ctx, c)
                        for c in COMPARISONS) if s is not None]


def proportion_sections(ctx: Context) -> list[Section]:
    """One section per proportion outcome (and time point) with usable rows, by modality.

    Example
    -------
    >>> import iometa
    >>> from iometa.report.model import Context
    >>> secs = proportion_sections(Context.of(iometa.load_studies()))
    >>> [s.title for s in secs if s.slug.startswith("partial")]
    ['Partial response by modality']
    """
    from ..data.lexicon import vocabulary_of

    OUTCOMES = vocabulary_of(ctx.studies).outcomes  # the table's own vocabulary

    present = sorted({str(o) for o in ctx.studies["outcome"]})
    sections = []
    for outcome in present:
        if OUTCOMES.get(outcome) != "proportion" or outcome in SURVIVAL_RATE_OUTCOMES:
            continue
        sel = outcome_rows(ctx.studies, outcome)
        record_excluded(ctx, survival_without_time(sel.excluded, ctx.studies))
        rows, left = one_row_per_population(sel.rows, outcome)
        record_excluded(ctx, left)
        times = sorted({None if pd.isna(t) else float(t) for t in rows["timepoint_months"]},
                       key=lambda t: -1.0 if t is None else t)
        for t in times:
            same = (rows["timepoint_months"].isna() if t is None
                    else rows["timepoint_months"] == t)
            sub = rows[same.to_numpy()].reset_index(drop=True)
            for unit, part in _by_unit(sub):
                sections.append(ctx.attempt(_slug_title(outcome, t, len(times) > 1, unit)[1],
                                            part["line"], _proportion_section, ctx, outcome,
                                            part, t, len(times) > 1, unit))
    return [s for s in sections if s is not None]


def _by_unit(rows):
    """Per-patient and per-lesion rows are never pooled together: when both occur, one part
    per unit of analysis (rows of another or unknown unit form a third part)."""
    units = rows["unit_of_analysis"].astype(str)
    if not {"patients", "lesions"} <= set(units):
        return [(None, rows)]
    key = units.where(units.isin(["patients", "lesions"]), "other")
    return [(u, rows[(key == u).to_numpy()].reset_index(drop=True))
            for u in ("patients", "lesions", "other") if (key == u).any()]


_UNIT_LABEL = {"patients": "per patient", "lesions": "per lesion",
               "other": "other or unstated unit"}


def _slug_title(outcome, t, several, unit=None):
    title = pretty_outcome(outcome)
    slug = f"{outcome}_by_modality"
    if t is not None:
        title += f" at {t:g} month{'' if t == 1 else 's'}"
        if several:
            slug = f"{outcome}_{t:g}m_by_modality"
    if unit is not None:
        slug += f"_{unit}"
        title += f" ({_UNIT_LABEL[unit]})"
    return slug, title + " by modality"


def _proportion_section(ctx, outcome, rows, t, several, unit=None) -> Section:
    from ..core.models import pool_proportions

    slug, title = _slug_title(outcome, t, several, unit)
    rows["group"] = rows["modality"].astype(str)
    order = modality_order(rows["group"])
    notes: list[str] = []
    with collect(notes, ctx.internal):
        res = pool_proportions("events_used", "total_used", labels="label", data=rows,
                               measure="PLO", method="REML")
        sub = _split(res, rows, order)
        fits = _group_fits(res, sub, rows, order)
        extra = sensitivity_tables(slug, fits)
    add_notes(notes, res.warnings)
    add_notes(notes, sub.notes if sub is not None else ())
    ctx.ledger.use(rows["line"], slug)
    table, display = pooled_tables(res, sub, rows, order, "total_used", "proportion")
    src = sources_frame(rows, "group", ["events_used", "total_used", "count_source", "value"],
                        order)
    return Section(
        slug=slug, title=title, kind="proportion",
        summary=cav.proportion_summary(table, outcome),
        method=cav.PROPORTION_SHORT,
        tables=[Table(f"tables/{slug}", f"Pooled {pretty_outcome(outcome).lower()} by "
                      "modality", table, display)] + extra,
        sources=src, figure=_forest(sub if sub is not None else res, False),
        caveats=cav.common_caveats(table, rows, sub) + cav.proportion_caveats(rows),
        notes=notes)


__all__ = ["COMPARISONS", "Comparison", "median_comparison", "median_sections",
           "proportion_sections",
           "pooled_tables", "record_excluded", "sources_display"]

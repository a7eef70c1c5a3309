"""Report sections on pooled medians and on proportions.

Every section pools the rows chosen by :mod:`iometa.report.select` with the public pool
functions (the model of the report configuration, :mod:`iometa.report.config`), splits them
by the configured grouping column (modality by default) with :func:`iometa.subgroups` when
there are two groups or more, and records its figure (a forest plot), its tables, its
method, its caveats and the warnings the data raised.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..data.outcomes import outcome_rows
from . import caveats as cav
from .model import (
    Context,
    Section,
    Table,
    add_notes,
    collect,
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
    text,
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


def _pool_medians(rows, opts=None):
    from ..survival.table import pool_medians

    model = {} if opts is None else {"method": opts.method, "test": opts.test,
                                     "level": opts.level}
    return pool_medians("value", ci_low="ci_low", ci_high="ci_high", n="n_used", labels="label",
                        data=rows, **model)


def group_rows(ctx: Context, rows: pd.DataFrame) -> pd.DataFrame:
    """``rows`` with a column ``group`` (the configured grouping column as text); rows whose
    group cell is empty cannot be grouped: they are recorded as left out and dropped."""
    col = ctx.config.group_by
    if rows.empty:
        return rows.assign(group=pd.Series(dtype=str))
    empty = np.array([text(x) == "" for x in rows[col]], dtype=bool)
    for line in rows.loc[empty, "line"]:
        ctx.ledger.exclude(line, f"no {ctx.config.group_label} (column '{col}' is empty): "
                                 "the report groups the rows by it")
    rows = rows[~empty].reset_index(drop=True)
    return rows.assign(group=[text(x) for x in rows[col]])


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


def pooled_tables(res, sub, rows, order, n_col, kind, level=0.95):
    """Numeric and display pooled-results tables (one row per group, k = 0 groups included,
    and the overall row with the test for subgroup differences when there are ≥ 2 groups)."""
    fits = _group_fits(res, sub, rows, order)
    out = [pooled_row(g, fits.get(g), rows.loc[rows["group"] == g, n_col]) for g in order]
    if sub is not None:
        out.append(between_test(pooled_row("All groups", res, rows[n_col]), sub))
    df = pooled_frame(out)
    return df, pooled_display(df, kind, level)


def _forest(obj, kind_mm: bool, rows=None):
    """Draw the forest plot; with one group (no subgroup split) its header names the group."""
    groups = sorted({str(g) for g in rows["group"]}) if rows is not None else []
    header = f"{groups[0]} studies" if len(groups) == 1 else "Study"

    def draw():
        import iometa

        if kind_mm:
            return iometa.forest_plot(obj, heterogeneity=False, pi=None,
                                      footnote=cav.MM_FOOTNOTE, label_header=header)
        return iometa.forest_plot(obj, label_header=header)
    return draw


def median_comparison(ctx: Context, comp: Comparison, outcome: str = "median_os"
                      ) -> Section | None:
    """Median survival by group for one comparison; None when no row is usable.

    The built-in comparisons (:data:`COMPARISONS`) pool median OS of named modalities; a
    comparison without modalities (:func:`generic_comparison`) pools every usable row of
    ``outcome`` by the configured grouping column."""
    filters = dict(comp.filters)
    if comp.modalities:
        filters["modality"] = list(comp.modalities)
    sel = outcome_rows(ctx.studies, outcome, **filters)
    record_excluded(ctx, sel.excluded)
    rows, left = one_row_per_population(sel.rows, outcome)
    record_excluded(ctx, left)
    rows = group_rows(ctx, rows)
    if rows.empty:
        return None
    order = list(comp.modalities) if comp.modalities else ctx.group_order(rows["group"])
    opts = ctx.config.options(outcome)
    what = pretty_outcome(outcome)
    what = what[0].lower() + what[1:]
    notes: list[str] = []
    with collect(notes, ctx.internal):
        res = _pool_medians(rows, opts)
        sub = _split(res, rows, order)
    add_notes(notes, res.warnings)
    add_notes(notes, sub.notes if sub is not None else ())
    ctx.ledger.use(rows["line"], comp.slug)
    table, display = pooled_tables(res, sub, rows, order, "n_used", "median", opts.level)
    src = sources_frame(rows.assign(route=res.studies["route"].to_numpy()), "group",
                        ["value", "ci_low", "ci_high", "n_used", "route"], order)
    scope = ", ".join(f"{k} = {v}" for k, v in comp.filters)
    return Section(
        slug=comp.slug, title=comp.title, kind="median",
        summary=cav.median_summary(table, scope, cav.median_words(outcome)),
        method=cav.median_method(res),
        tables=[Table(f"tables/{comp.slug}", f"Pooled {what} by {ctx.config.group_label} "
                      "(months)", table, display)],
        sources=src, figure=_forest(sub if sub is not None else res, res.method in ("MM", "WM"),
                                    rows),
        caveats=(cav.common_caveats(table, rows, sub, het=res.method not in ("MM", "WM"),
                                    group=ctx.config.group_label)
                 + cav.median_caveats(res)),
        notes=notes)


def builtin_comparisons(ctx: Context) -> bool:
    """True when median OS is pooled in the built-in modality comparisons
    (:data:`COMPARISONS`): the report without a configuration, or one that keeps the
    default grouping and outcomes. Otherwise every median outcome the configuration reports
    gets one section by its grouping column (:func:`generic_comparison`)."""
    return ctx.config.group_by == "modality" and ctx.config.outcomes is None


def median_outcomes(ctx: Context) -> list[str]:
    """Duration outcomes of the table pooled as medians (``median_*``) that the report
    covers: median OS in the built-in comparisons, or every one the configuration lists."""
    from ..data.lexicon import vocabulary_of

    kinds = vocabulary_of(ctx.studies).outcomes
    present = sorted({str(o) for o in ctx.studies["outcome"]})
    if builtin_comparisons(ctx):
        return ["median_os"] if "median_os" in present else []
    return [o for o in present if kinds.get(o) == "duration" and o.startswith("median_")
            and ctx.config.wants(o)]


def generic_comparison(ctx: Context, outcome: str) -> Comparison:
    """One section pooling every usable row of the median outcome ``outcome`` by group."""
    label = ctx.config.group_label
    return Comparison(f"{outcome}_by_{ctx.config.group_by}",
                      f"{pretty_outcome(outcome)} by {label}", ())


def median_sections(ctx: Context) -> list[Section]:
    """The median-survival sections that have usable rows: the built-in median-OS
    comparisons (:data:`COMPARISONS`) by default, one section per median outcome by the
    configured grouping otherwise (:func:`builtin_comparisons`).

    Example
    -------
    >>> import iometa
    >>> from iometa.report.model import Context
    >>> [s.slug for s in median_sections(Context.of(iometa.load_studies()))]
    ['median_os_ablation_liver', 'median_os_transarterial']
    """
    out = []
    for outcome in median_outcomes(ctx):
        lines = ctx.outcome_lines(outcome)
        comps = (COMPARISONS if builtin_comparisons(ctx)
                 else (generic_comparison(ctx, outcome),))
        out += [ctx.attempt(c.title, lines, median_comparison, ctx, c, outcome) for c in comps]
    return [s for s in out if s is not None]


def proportion_sections(ctx: Context) -> Iterator[Section]:
    """One section per proportion outcome (and time point) with usable rows, by modality,
    each yielded as soon as it is built (the report draws its figure meanwhile).

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
    for outcome in present:
        if OUTCOMES.get(outcome) != "proportion" or outcome in SURVIVAL_RATE_OUTCOMES:
            continue
        if not ctx.config.wants(outcome):
            continue
        sel = ctx.outcome_rows(outcome)  # split by time point below
        record_excluded(ctx, survival_without_time(sel.excluded, ctx.studies))
        rows, left = one_row_per_population(sel.rows, outcome)
        record_excluded(ctx, left)
        rows = _at_configured_time(ctx, outcome, rows)
        times = sorted({None if pd.isna(t) else float(t) for t in rows["timepoint_months"]},
                       key=lambda t: -1.0 if t is None else t)
        for t in times:
            same = (rows["timepoint_months"].isna() if t is None
                    else rows["timepoint_months"] == t)
            sub = rows[same.to_numpy()].reset_index(drop=True)
            for unit, part in _by_unit(sub):
                sec = ctx.attempt(_slug_title(ctx, outcome, t, len(times) > 1, unit)[1],
                                  part["line"], _proportion_section, ctx, outcome, part, t,
                                  len(times) > 1, unit)
                if sec is not None:
                    yield sec


def _at_configured_time(ctx: Context, outcome: str, rows: pd.DataFrame) -> pd.DataFrame:
    """The rows at the configuration's ``timepoint`` of ``outcome`` (all rows without one);
    the others are recorded as left out."""
    t = ctx.config.options(outcome).timepoint
    if t is None or rows.empty:
        return rows
    keep = (rows["timepoint_months"] == t).fillna(False).to_numpy(dtype=bool)
    for line in rows.loc[~keep, "line"]:
        ctx.ledger.exclude(line, f"not at {t:g} months, the time point the report "
                                 f"configuration sets for {outcome}")
    return rows[keep].reset_index(drop=True)


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


def _slug_title(ctx, outcome, t, several, unit=None):
    by = ctx.config.group_by
    title = pretty_outcome(outcome)
    slug = f"{outcome}_by_{by}"
    if t is not None:
        title += f" at {t:g} month{'' if t == 1 else 's'}"
        if several:
            slug = f"{outcome}_{t:g}m_by_{by}"
    if unit is not None:
        slug += f"_{unit}"
        title += f" ({_UNIT_LABEL[unit]})"
    return slug, title + f" by {ctx.config.group_label}"


def _proportion_section(ctx, outcome, rows, t, several, unit=None) -> Section:
    from ..core.models import pool_proportions

    slug, title = _slug_title(ctx, outcome, t, several, unit)
    rows = group_rows(ctx, rows)
    if rows.empty:
        return None
    order = ctx.group_order(rows["group"])
    opts = ctx.config.options(outcome)
    notes: list[str] = []
    with collect(notes, ctx.internal):
        res = pool_proportions("events_used", "total_used", labels="label", data=rows,
                               measure=opts.measure, method=opts.method, test=opts.test,
                               level=opts.level)
        sub = _split(res, rows, order)
        fits = _group_fits(res, sub, rows, order)
        extra = sensitivity_tables(slug, fits, opts.level)
    add_notes(notes, res.warnings)
    add_notes(notes, sub.notes if sub is not None else ())
    ctx.ledger.use(rows["line"], slug)
    table, display = pooled_tables(res, sub, rows, order, "total_used", "proportion",
                                   opts.level)
    src = sources_frame(rows, "group", ["events_used", "total_used", "count_source", "value"],
                        order)
    return Section(
        slug=slug, title=title, kind="proportion",
        summary=cav.proportion_summary(table, outcome),
        in_words=(sub if sub is not None else res).results_text(pscale=100).replace(
            " by group ", f" by {ctx.config.group_label} ", 1),
        method=cav.proportion_short(opts),
        tables=[Table(f"tables/{slug}", f"Pooled {pretty_outcome(outcome).lower()} by "
                      f"{ctx.config.group_label}", table, display)] + extra,
        sources=src, figure=_forest(sub if sub is not None else res, False, rows),
        caveats=(cav.common_caveats(table, rows, sub, group=ctx.config.group_label)
                 + cav.proportion_caveats(rows)),
        notes=notes)


__all__ = ["COMPARISONS", "Comparison", "builtin_comparisons", "generic_comparison",
           "group_rows", "median_comparison", "median_outcomes", "median_sections",
           "proportion_sections",
           "pooled_tables", "record_excluded", "sources_display"]

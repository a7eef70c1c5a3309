"""Report sections on incidence rates (outcomes of kind ``rate``: events per person-time).

Each rate outcome of the study table gets one section per unit of analysis (per-patient and
per-lesion rows are never pooled together): the rows :func:`iometa.outcomes.outcome_rows`
returns (events and person-time; person-time in years when the rows use different units),
one row per population, pooled by the configured grouping column with
:func:`iometa.pool_rates` on the log scale (``IRLN``, or the rate measure the configuration
sets for the outcome) and reported per 100 units of person-time.
"""

from __future__ import annotations

import pandas as pd

from . import caveats as cav
from .config import RATE_MEASURES
from .model import Context, Section, Table, add_notes, collect, pretty_outcome
from .sections import (
    _by_unit,
    _forest,
    _group_fits,
    _slug_title,
    _split,
    group_rows,
    pooled_tables,
    record_excluded,
)
from .select import one_row_per_population
from .sensitivity import sensitivity_tables
from .tables import sources_frame

#: the report gives rates per this many units of person-time
PER = 100
#: the report's measure for rates unless the configuration sets one for the outcome
DEFAULT_RATE_MEASURE = "IRLN"


def person_time_name(unit: str, unit_of_analysis=None) -> str:
    """"person-years", "lesion-months", …: the name of ``unit`` of person-time.

    Example
    -------
    >>> person_time_name("years", "patients"), person_time_name("months", "lesions")
    ('person-years', 'lesion-months')
    """
    who = "lesion" if unit_of_analysis == "lesions" else "person"
    return f"{who}-{unit}"


def rate_outcomes(ctx: Context) -> list[str]:
    """The outcomes of kind ``rate`` in the table that the report covers."""
    from ..data.lexicon import vocabulary_of

    kinds = vocabulary_of(ctx.studies).outcomes
    present = sorted({str(o) for o in ctx.studies["outcome"]})
    return [o for o in present if kinds.get(o) == "rate" and ctx.config.wants(o)]


def rate_sections(ctx: Context) -> list[Section]:
    """One section per rate outcome (and unit of analysis) with usable rows, by group.

    Example
    -------
    >>> import iometa
    >>> from iometa.report.model import Context
    >>> rate_sections(Context.of(iometa.load_studies()))  # the seed table has no rate outcome
    []
    """
    sections = []
    for outcome in rate_outcomes(ctx):
        sel = ctx.outcome_rows(outcome)
        record_excluded(ctx, sel.excluded)
        rows, left = one_row_per_population(sel.rows, outcome)
        record_excluded(ctx, left)
        for unit, part in _by_unit(rows):
            title = _slug_title(ctx, outcome, None, False, unit)[1]
            sections.append(ctx.attempt(title, part["line"], _rate_section, ctx, outcome,
                                        part, unit))
    return [s for s in sections if s is not None]


def _rate_section(ctx: Context, outcome: str, rows: pd.DataFrame, unit=None) -> Section | None:
    from ..core.rates import pool_rates

    slug, title = _slug_title(ctx, outcome, None, False, unit)
    rows = group_rows(ctx, rows)
    if rows.empty:
        return None
    order = ctx.group_order(rows["group"])
    opts = ctx.config.options(outcome)
    measure = opts.measure if opts.measure in RATE_MEASURES else DEFAULT_RATE_MEASURE
    units = sorted({str(u) for u in rows["unit_of_analysis"].dropna()})
    name = person_time_name(str(rows["person_time_unit_used"].iloc[0]),
                            units[0] if len(units) == 1 else None)
    notes: list[str] = []
    with collect(notes, ctx.internal):
        res = pool_rates("events_used", "person_time_used", data=rows, labels="label",
                         measure=measure, method=opts.method, test=opts.test, level=opts.level,
                         per=PER, unit=name)
        sub = _split(res, rows, order)
        extra = sensitivity_tables(slug, _group_fits(res, sub, rows, order), opts.level,
                                   kind="rate")
    add_notes(notes, res.warnings)
    add_notes(notes, sub.notes if sub is not None else ())
    ctx.ledger.use(rows["line"], slug)
    table, display = pooled_tables(res, sub, rows, order, "n_used", "rate", opts.level)
    src = sources_frame(rows, "group", ["events_used", "person_time_used",
                                        "person_time_unit_used", "person_time",
                                        "person_time_unit", "n_used"], order)
    what = f"{pretty_outcome(outcome).lower()} (events per {PER} {name})"
    return Section(
        slug=slug, title=title, kind="rate",
        summary=rate_summary(table, outcome, name),
        in_words=(sub if sub is not None else res).results_text().replace(
            " by group ", f" by {ctx.config.group_label} ", 1),
        method=rate_short(measure, opts, name),
        tables=[Table(f"tables/{slug}", f"Pooled {what} by {ctx.config.group_label}", table,
                      display)] + extra,
        sources=src, figure=_forest(sub if sub is not None else res, False, rows),
        caveats=(cav.common_caveats(table, rows, sub, group=ctx.config.group_label)
                 + rate_caveats(rows, measure)),
        notes=notes)


def rate_summary(table: pd.DataFrame, outcome: str, name: str) -> str:
    """"Pooled rate (local progression incidence, per 100 person-years): RFA 10.0 [...]; …"."""
    groups = table[table["group"] != "All groups"]
    return (f"Pooled rate ({outcome.replace('_', ' ')}, events per {PER} {name}): "
            + "; ".join(cav._group_sentences(groups, "rate", "")) + "."
            + cav._test_sentence(table))


def rate_short(measure: str, opts, name: str) -> str:
    """The one-line method of a rate section.

    Example
    -------
    >>> from iometa.report.config import OutcomeOptions
    >>> rate_short("IRLN", OutcomeOptions(), "person-years")
    'Log-rate random-effects model, REML τ², rates per 100 person-years (see [Methods](#methods)).'
    """
    from ..core.measures import scale_name

    name_ = scale_name(measure)  # the registry's name of the scale ("log", "square root")
    scale = f"{name_[0].upper()}{name_[1:]}-rate"
    kind = cav._model_kind(opts).lower()
    tau = "τ² = 0" if kind == "common-effect" else f"{opts.method} τ²"
    test = ", Knapp–Hartung test" if opts.test == "knha" else ""
    level = "" if opts.level == 0.95 else f", {100 * opts.level:g}% intervals"
    return (f"{scale} {kind} model, {tau}{test}{level}, rates per {PER} {name} "
            "(see [Methods](#methods)).")


#: the Methods paragraph on rates (when the table has a rate outcome)
RATE_METHOD = (
    "Incidence rates (events per person-time: outcomes of kind `rate`) are pooled from each "
    "row's count of events and its person-time (`events`, `person_time`; rows of one outcome "
    "given in different units of time are converted to years) with a random-effects model on "
    "the log rate (measure IRLN, ½ added to the events of a study with none; metafor "
    "`rma(measure = \"IRLN\", xi, ti)`; `iometa.pool_rates`), or the rate measure the report "
    "configuration sets for the outcome, with the τ² method and test of the proportions; "
    f"rates are shown per {PER} units of person-time, study CIs are exact Poisson intervals. "
    "Per-patient and per-lesion rows are pooled apart. Groups with k ≥ 3 get a leave-one-out "
    "table and groups of 2 to 9 studies the exact Bayesian random-effects model on the log "
    "rate (`iometa.pool_bayes`, half-normal(0.5) prior on τ), as the proportions do.")


def rate_caveats(rows: pd.DataFrame, measure: str) -> list[str]:
    """Caveats of a rate section: converted person-time, zero-event studies."""
    out = []
    converted = rows["person_time_unit"].astype(str) != rows["person_time_unit_used"].astype(str)
    if converted.any():
        out.append(f"Person-time converted to {rows['person_time_unit_used'].iloc[0]} for "
                   f"{', '.join(rows.loc[converted.to_numpy(), 'label'])} (the rows give "
                   "different units).")
    zero = rows.loc[(rows["events_used"] == 0).to_numpy(), "label"].tolist()
    if zero and measure in ("IR", "IRLN"):
        out.append(f"No events in {', '.join(zero)}: ½ was added to their events on the "
                   "log scale.")
    out.append("Rates assume a constant hazard over follow-up; series with different lengths "
               "of follow-up are pooled as if it were.")
    return out


__all__ = ["RATE_MEASURES", "RATE_METHOD", "person_time_name", "rate_outcomes",
           "rate_sections", "rate_short", "rate_summary"]

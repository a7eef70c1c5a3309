"""What the report contains: the sections run on the study table and the files they produce.

Order: the median sections (the two built-in median-OS comparisons by default; one per median
outcome of a report configuration), the survival-rate sections, one section per proportion
outcome with usable rows, then the rows not pooled and the study-table overview. Each section
is written as soon as it is built. Every row of
the study table ends up either used by a section or listed, with its reason, in
``tables/excluded_rows``.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from . import provenance as report_provenance
from . import rates as report_rates
from . import sections as report_sections
from . import survival as report_survival
from .figure_jobs import FigureJobs
from .model import Context, Section, plural, pretty_outcome
from .output import Progress, write_table
from .tables import (
    NA,
    SOURCE_CELLS,
    cells,
    plain_columns,
    records,
    row_source,
    text,
)

EXCLUDED_COLUMNS = ["line", "study_id", "label", "source", "ref_no", "pmid", "doi", "url",
                    "outcome", "modality", "site", "subgroup", "timepoint_months", "value",
                    "value_type", "reason"]


def section_builders():
    """The section builders in report order (looked up at call time, so tests can replace
    one): each takes the :class:`Context` and returns a list of sections."""
    return [report_sections.median_sections, report_survival.survival_sections,
            report_sections.proportion_sections, report_rates.rate_sections,
            report_provenance.provenance_sections]


def _outside_reasons(ctx: Context) -> None:
    """Reasons for rows no builder looked at (outcomes or scopes the report does not pool)."""
    from ..data.lexicon import vocabulary_of

    OUTCOMES = vocabulary_of(ctx.studies).outcomes  # the table's own vocabulary
    cfg = ctx.config

    comps = "; ".join(f"{c.title.split(': ', 1)[1]}" for c in report_sections.COMPARISONS)
    for outcome in sorted({str(o) for o in ctx.studies["outcome"]}):
        if not cfg.wants(outcome):
            for line in ctx.outcome_lines(outcome):
                ctx.ledger.exclude(line, f"outcome '{outcome}' is not among the outcomes of the "
                                         f"report configuration ({cfg.where})")
            continue
        sel = ctx.outcome_rows(outcome)
        report_sections.record_excluded(ctx, sel.excluded)
        kind = OUTCOMES.get(outcome)
        for line, modality, site in cells(sel.rows, "line", "modality", "site"):
            if outcome == "median_os" and report_sections.builtin_comparisons(ctx):
                why = (f"median OS of {modality} ({text(site, 'no site')}): outside the "
                       f"report's built-in comparisons ({comps}); list median_os under "
                       "`outcomes` in a report configuration (`--config`) to pool every "
                       "median OS by group")
            elif kind == "duration" and outcome.startswith("mean_"):
                why = ("mean survival time without a standard deviation: no pooling method, "
                       "and not comparable with medians")
            elif (kind == "duration" and outcome.startswith("median_")
                  and report_sections.builtin_comparisons(ctx)):
                why = (f"duration outcome '{outcome}': by default the report pools median OS "
                       "only, in its built-in comparisons; list the outcome under `outcomes` "
                       "in a report configuration (`--config`) to pool it by group")
            else:
                medians = ("median OS" if report_sections.builtin_comparisons(ctx)
                           else "medians")
                why = (f"{kind} outcome '{outcome}': the report pools {medians}, survival rates, "
                       "proportions and rates per person-time only")
            ctx.ledger.exclude(line, why)


def excluded_table(ctx: Context) -> pd.DataFrame:
    """Every row of the study table not used by any section, with its reason (line order)."""
    from ..data.outcomes import LABEL_COLUMNS, study_label

    unused = ctx.ledger.unused()
    rows = ctx.studies[ctx.studies["line"].isin(list(unused))].copy()
    rows["label"] = [study_label(r) for r in records(rows, LABEL_COLUMNS)]
    rows["reason"] = [unused[int(x)] for x in rows["line"]]
    cols = [c for c in EXCLUDED_COLUMNS if c in rows.columns]
    return plain_columns(rows[cols].sort_values("line").reset_index(drop=True))


def excluded_display(ex: pd.DataFrame) -> pd.DataFrame:
    """Markdown version of the excluded-rows table."""
    def num(x):
        return "–" if pd.isna(x) else f"{float(x):g}"

    return pd.DataFrame({
        "Line": ex["line"].astype(str), "Study": ex["label"],
        "Source": [row_source(r) for r in records(ex, SOURCE_CELLS)],
        "Outcome": [text(x, NA) for x in ex["outcome"]],
        "Modality": [text(x, NA) for x in ex["modality"]],
        "Site": [text(x, NA) for x in ex["site"]],
        "Months": [num(t) for t in ex["timepoint_months"]],
        "Value": [num(v) for v in ex["value"]],
        "Value type": [text(x, NA) for x in ex["value_type"]],
        "Reason": ex["reason"]})


def overview_table(ctx: Context) -> pd.DataFrame:
    """Rows and studies per outcome × group (the configured grouping column, modality by
    default), with the rows used by at least one section."""
    from ..data.lexicon import vocabulary_of

    OUTCOMES = vocabulary_of(ctx.studies).outcomes  # the table's own vocabulary
    by = ctx.config.group_by

    df = ctx.studies.assign(outcome=ctx.studies["outcome"].astype(str),
                            **{by: [text(x, NA) for x in ctx.studies[by]]})
    df["used"] = [int(int(x) in ctx.ledger.used) for x in df["line"]]
    tab = (df.groupby(["outcome", by], sort=True)
           .agg(rows=("study_id", "size"), studies=("study_id", "nunique"),
                rows_pooled=("used", "sum"))
           .reset_index())
    tab.insert(1, "kind", [OUTCOMES.get(o, "") for o in tab["outcome"]])
    tab["rows_not_pooled"] = tab["rows"] - tab["rows_pooled"]
    return tab


def _write_section(section: Section, outdir: Path, ctx: Context, progress: Progress,
                   figures: FigureJobs) -> None:
    progress.stage(section.title)
    if section.figure is not None:
        figures.submit(section)  # drawn now, or by a child process meanwhile
    for t in section.tables:
        paths = write_table(t.data, outdir / t.stem, display=t.display)
        progress("table", t.stem, paths, plural(len(t.data), "row"))
    if section.sources is not None:
        stem = f"tables/{section.slug}_sources"
        paths = write_table(section.sources, outdir / stem,
                            display=section.sources_shown())
        progress("table", stem, paths, plural(len(section.sources), "row") + " used")


def build_artefacts(studies: pd.DataFrame, outdir: Path, *, data_path, progress=None,
                    config=None, jobs: int | None = None):
    """Run the report's analyses on ``studies`` and write every file into ``outdir``.

    ``config``: a :class:`~iometa.report.config.ReportConfig` (default: the report without a
    configuration). ``jobs``: processes drawing the figures (default: the cores available;
    1 draws them in turn; :mod:`iometa.report.figure_jobs`). Returns the
    :class:`~iometa.report.model.Context` (its ``internal`` list holds warnings the data did
    not cause; it should be empty).
    """
    from ..data.memo import run_memo
    from ..plots.textcache import shared_layouts

    # the figures of this run share their text layouts, its selections the table's study
    # sizes; both are dropped when the run ends
    with shared_layouts(), run_memo():
        progress = progress or Progress(False)
        ctx = Context.of(studies, config)
        with FigureJobs(outdir, ctx, progress, jobs) as figures:
            return _build_artefacts(studies, outdir, data_path, progress, ctx, figures)


def _build_artefacts(studies, outdir, data_path, progress, ctx, figures):
    from .readme import readme_text

    sections: list[Section] = []
    builders = section_builders()
    for i, builder in enumerate(builders):
        seen = len(ctx.failures)
        name = getattr(builder, "__name__", "sections").removesuffix("_sections")
        progress.stage(f"analysing: {name}", i + 1, len(builders) + 2)
        for s in builder(ctx):
            _write_section(s, outdir, ctx, progress, figures)
            sections.append(s)
        for name, why in ctx.failures[seen:]:
            progress.note(f"not run: {name} — {why}")
    progress.stage("rows not pooled, overview, tables.docx, README, index.html",
                   len(builders) + 1)
    _outside_reasons(ctx)
    excluded = excluded_table(ctx)
    shown = excluded_display(excluded)  # one display for its table, README, HTML and Word
    paths = write_table(excluded, outdir / "tables" / "excluded_rows", display=shown)
    progress("table", "tables/excluded_rows", paths, plural(len(excluded), "row") + " not pooled")
    overview = overview_table(ctx)
    paths = write_table(overview, outdir / "tables" / "study_table_overview")
    progress("table", "tables/study_table_overview", paths, plural(len(overview), "row"))
    from .html import write_html  # the same content as one self-contained page, and Word
    from .word import write_docx

    # the Word tables need no figure: written while the last figures are drawn
    doc = write_docx(outdir, studies, data_path, sections, shown, overview)
    progress("table", "tables.docx", [doc], "every table")
    figures.finish()  # every figure drawn and recorded in its section: the texts name them
    readme = outdir / "README.md"
    readme.write_text(readme_text(studies, data_path, sections, shown,
                                  overview, ctx.failures, ctx.config),
                      encoding="utf-8", newline="\n")
    progress("text", "README.md", [readme], f"{len(sections)} sections")
    page = write_html(outdir, studies, data_path, sections, shown, overview,
                      ctx.failures, ctx.config)
    progress("text", "index.html", [page], f"{len(sections)} sections")
    progress.stage("done", len(builders) + 2)
    return ctx


__all__ = ["build_artefacts", "section_builders", "excluded_table", "overview_table",
           "pretty_outcome"]

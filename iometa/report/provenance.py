"""The report section "Review vs primary source": every disagreement, and which figures were used.

The table ``review_vs_primary.csv`` beside the study table lists every number that a review
row and the cited study's own publication both give (issue 26, item 3). This section lists
every row of it whose ``flag`` is not ``agree`` and, for each study with both review and primary
rows, which ones the analyses used: primary where both exist (the rule of
:func:`iometa.data.sources.superseded_review_rows`, applied by ``outcome_rows``), or review
only when the report was built with ``--source review``.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..data.sources import source_kind
from .model import Section, Table

COMPARISON_FILE = "review_vs_primary.csv"
DISAGREEMENT_COLUMNS = ["study_id", "outcome", "timepoint_months", "flag", "review_value",
                        "review_events", "review_total", "primary_value", "primary_events",
                        "primary_total", "pmid", "doi", "pmcid", "note"]


def comparison_table(studies: pd.DataFrame) -> pd.DataFrame | None:
    """``review_vs_primary.csv`` beside the study table (None when there is none)."""
    path = studies.attrs.get("path")
    if not path:
        return None
    f = Path(path).parent / COMPARISON_FILE
    if not f.is_file():
        return None
    return pd.read_csv(f, dtype=str, keep_default_na=False)


def figures_used(studies: pd.DataFrame) -> pd.DataFrame:
    """Per study and outcome given by both a review and a primary row: the rows used."""
    kind = source_kind(studies)
    df = pd.DataFrame({"study_id": studies["study_id"].astype(str),
                       "outcome": studies["outcome"].astype(str), "kind": kind.to_numpy()})
    both = df.groupby(["study_id", "outcome"])["kind"].nunique()
    both = both[both > 1].reset_index()[["study_id", "outcome"]]
    both["figures_used"] = "primary (review rows listed as not pooled)"
    return both.sort_values(["study_id", "outcome"]).reset_index(drop=True)


def provenance_sections(ctx) -> list[Section]:
    """The section, or none when the table has no comparison file."""
    comp = comparison_table(ctx.studies)
    if comp is None:
        return []
    dis = comp[comp["flag"] != "agree"].reindex(columns=DISAGREEMENT_COLUMNS).fillna("")
    with_primary = set(ctx.studies.loc[(source_kind(ctx.studies) == "primary").to_numpy(),
                                       "study_id"].astype(str))
    dis["primary_rows_in_table"] = ["yes" if s in with_primary else "no"
                                    for s in dis["study_id"]]
    n_primary = int((source_kind(ctx.studies) == "primary").sum())
    if n_primary:
        used = figures_used(ctx.studies)
        rule = (f"Default: primary figures where both exist. For {len(used)} study × outcome "
                "pairs the table has review and primary rows; the analyses pooled the primary "
                "rows and list the review rows as not pooled (never both: that would count the "
                "same patients twice). `iometa report --source review` reproduces the "
                "review-only analysis.")
    else:
        used = pd.DataFrame(columns=["study_id", "outcome", "figures_used"])
        rule = ("This report was built from the review rows only (`--source review`): no "
                "primary row was pooled.")
    summary = (f"{len(comp)} numbers are given by both a review and the primary source; "
               f"{len(dis)} disagree ({', '.join(f'{k} {v}' for k, v in sorted(dis['flag'].value_counts().items()))}). "
               + rule)
    tables = [Table("tables/review_vs_primary", "Every disagreement between a review and the "
                    "primary source", dis.reset_index(drop=True), dis.reset_index(drop=True)),
              Table("tables/figures_used", "Review or primary figures, per study and outcome",
                    used, used)]
    return [Section(slug="review_vs_primary", title="Review vs primary source", kind="overview",
                    summary=summary, method="Flags: denominator (a different denominator), "
                    "value (a different number or definition), wrong_citation (the review's "
                    "figure is not in the cited paper), agree.", tables=tables)]

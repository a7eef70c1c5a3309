"""Primary-source rows (issue 26): schema, identifiers, the 12-word quote rule, coverage,
the review-vs-primary table, and no analysis that pools review and primary rows of one study.
"""

from __future__ import annotations

import csv
import re
import warnings
from pathlib import Path

import pandas as pd
import pytest

from iometa.data import DataWarning, StudyTableError, load_studies, validate_studies
from iometa.data.outcomes import outcome_rows
from iometa.data.schema import COLUMNS
from iometa.data.sources import (
    MAX_PRIMARY_QUOTE_WORDS,
    SUPERSEDED,
    only_source,
    pmcid,
    superseded_review_rows,
)

REPO = Path(__file__).resolve().parents[1]
CSV_PATH = REPO / "data" / "studies.csv"
COMPARISON = REPO / "data" / "review_vs_primary.csv"
NEW_COLUMNS = ("source_kind", "pmid", "doi", "url", "locator", "comparison_id")
#: disagreements whose primary rows stay in the worksheet data/primary/primary_rows.csv: the
#: stored pages show neither a pmid nor a doi for these publications (data/README.md, coverage)
WITHOUT_IDENTIFIER = {"livraghi2001", "gordon2014"}


@pytest.fixture(scope="module")
def rows():
    with CSV_PATH.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def primary(rows):
    return [r for r in rows if r["source_kind"] == "primary"]


@pytest.fixture(scope="module")
def studies():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        return load_studies()


def test_schema_has_the_provenance_columns_in_order(rows):
    at = COLUMNS.index(NEW_COLUMNS[0])
    assert COLUMNS[at:at + len(NEW_COLUMNS)] == NEW_COLUMNS
    assert COLUMNS[-2:] == ("person_time", "person_time_unit")  # the rate columns (issue 23)
    assert COLUMNS[COLUMNS.index("subgroup") + 1] == "arm"  # the arm column sits by subgroup
    assert list(rows[0]) == list(COLUMNS)
    assert {r["source_kind"] for r in rows} == {"review", "primary"}


def test_primary_rows_name_their_source(primary):
    assert len(primary) >= 100
    for r in primary:
        assert r["source"] == "primary" and r["ref_no"] == "", r["study_id"]
        assert r["pmid"] or r["doi"] or pmcid(r["url"]), r["study_id"]
        assert r["pmid"] == "" or re.fullmatch(r"[0-9]{1,9}", r["pmid"]), r["pmid"]
        assert r["doi"] == "" or re.fullmatch(r"10\.[0-9]{4,9}/\S+", r["doi"]), r["doi"]
        assert re.fullmatch(r"https?://\S+", r["url"]), r["url"]
        assert r["locator"].strip(), r["study_id"]


def test_one_identifier_per_primary_study(primary):
    ids: dict[str, set] = {}
    for r in primary:
        ids.setdefault(r["study_id"], set()).add((r["pmid"], r["doi"], pmcid(r["url"])))
    assert all(len(v) == 1 for v in ids.values()), ids


def test_primary_quotes_are_empty_or_at_most_12_words(primary):
    assert MAX_PRIMARY_QUOTE_WORDS == 12
    for r in primary:
        assert len(r["quote"].split()) <= 12, (r["study_id"], r["quote"])


def test_at_least_15_distinct_primary_studies(primary):
    assert len({r["study_id"] for r in primary}) >= 15


def test_head_to_head_arms(primary):
    by: dict[str, set] = {}
    for r in primary:
        if r["comparison_id"]:
            assert r["arm"] and r["subgroup"].startswith(f"arm: {r['arm']}"), r
            by.setdefault(r["comparison_id"], set()).add(r["arm"])
    assert by and all(len(arms) == 2 for arms in by.values()), by


# ------------------------------------------------------------------------- the loader's rules
def _row(**kw):
    base = {"study_id": "kim2021", "modality": "RFA", "outcome": "local_progression",
            "events": "2", "total": "20", "source_kind": "primary", "pmid": "12345678",
            "locator": "abstract, results"}
    base.update(kw)
    return pd.DataFrame([base])


def _problems(df) -> str:
    with pytest.raises(StudyTableError) as exc:
        validate_studies(df)
    return str(exc.value)


def test_a_good_primary_row_loads_and_empty_source_kind_is_review():
    df = validate_studies(_row(quote=" ".join(["word"] * 12)))
    assert df["source_kind"].tolist() == ["primary"]
    df = validate_studies(_row(source_kind="", pmid="", locator=""))
    assert df["source_kind"].tolist() == ["review"]


@pytest.mark.parametrize("url", ["https://pmc.ncbi.nlm.nih.gov/articles/PMC4067493",
                                 "https://www.ncbi.nlm.nih.gov/pmc/articles/PMC7774662/"])
def test_a_pubmed_central_address_identifies_a_primary_row(url):
    df = validate_studies(_row(pmid="", url=url))
    assert pmcid(df["url"].iloc[0]) == url.rstrip("/").rsplit("/", 1)[1]


@pytest.mark.parametrize("cells, column", [
    ({"pmid": "PMID:123"}, "pmid"), ({"pmid": "", "doi": "doi:10.1/x"}, "doi"),
    ({"doi": "11.1000/x"}, "doi"), ({"url": "www.example.org"}, "url"),
    ({"source_kind": "registry"}, "source_kind"), ({"pmid": ""}, "pmid"),
    ({"locator": ""}, "locator"), ({"quote": " ".join(["word"] * 13)}, "quote"),
    ({"pmid": "", "url": "https://pmc.ncbi.nlm.nih.gov/articles/4067493"}, "pmid"),
    ({"pmid": "", "url": "https://example.org/articles/PMC4067493"}, "pmid"),
])
def test_bad_provenance_is_rejected(cells, column):
    assert f"column '{column}'" in _problems(_row(**cells))


def test_project_table_needs_no_quote_on_primary_rows_but_on_review_rows(studies):
    review = studies[studies["source_kind"] == "review"]
    assert review["quote"].notna().all()
    assert set(studies["source"]) >= {"filippiadis2022", "newbury2022", "primary"}


# ------------------------------------------------------------ primary where both exist (item 3)
def test_no_analysis_pools_review_and_primary_rows_of_one_study(studies):
    for outcome in sorted({str(o) for o in studies["outcome"]}):
        for filters in ({}, {"site": "liver"}, *({"modality": m} for m in ("RFA", "MWA"))):
            try:
                sel = outcome_rows(studies, outcome, **filters)
            except ValueError:
                continue
            kinds = sel.rows.groupby("study_id", observed=True)["source_kind"].nunique()
            assert (kinds <= 1).all(), (outcome, filters, kinds[kinds > 1])


def test_superseded_review_rows_are_listed_with_the_reason(studies):
    # complete ablation now has rows with and without a time point: ask for those without
    sel = outcome_rows(studies, "complete_ablation", timepoint=None)
    gone = sel.excluded[sel.excluded["reason"] == SUPERSEDED]
    assert "bai2019" in set(gone["study_id"])
    assert "bai2019" in set(sel.rows["study_id"])
    assert set(sel.rows.loc[sel.rows["study_id"] == "bai2019", "source_kind"]) == {"primary"}
    # a wrong citation (review: MWA, paper: RFA) is superseded under any modality filter
    mwa = outcome_rows(studies, "mortality", modality="MWA")
    assert "lawes2007" not in set(mwa.rows["study_id"])


def test_review_only_analysis_uses_every_review_row(studies):
    review = only_source(studies, "review")
    assert (review["source_kind"] == "review").all() and len(review) == 96
    assert len(superseded_review_rows(review)) == 0
    sel = outcome_rows(review, "complete_ablation")
    assert SUPERSEDED not in set(sel.excluded["reason"])
    # a source_kind filter is the caller's choice: the rule then does not apply
    sel = outcome_rows(studies, "mortality", source_kind="review")
    assert "lawes2007" in set(sel.rows["study_id"])
    assert SUPERSEDED not in set(sel.excluded["reason"])


def test_cli_source_flag_reaches_build_report(monkeypatch, tmp_path):
    from iometa import cli
    from iometa.report import build

    seen = {}

    def fake(studies, outdir, **kw):
        seen["kinds"] = set(studies["source_kind"])
        (outdir / "README.md").write_text("x", encoding="utf-8")

    monkeypatch.setattr(build, "build_artefacts", fake)
    assert cli.main(["report", "--source", "review", "--quiet", "--out",
                     str(tmp_path / "r")]) == 0
    assert seen["kinds"] == {"review"}
    assert cli.main(["report", "--quiet", "--out", str(tmp_path / "s")]) == 0
    assert seen["kinds"] == {"review", "primary"}


# ---------------------------------------------------------------- data/review_vs_primary.csv
def test_review_vs_primary_table(studies):
    with COMPARISON.open(encoding="utf-8", newline="") as fh:
        comp = list(csv.DictReader(fh))
    ids = set(studies["study_id"].astype(str))
    flags = {"agree", "denominator", "value", "wrong_citation", "time_origin"}
    assert len(comp) == 21
    for r in comp:
        assert r["study_id"] in ids, r["study_id"]
        assert r["flag"] in flags, r["flag"]
        assert r["outcome"] in set(studies["outcome"].astype(str)), r["outcome"]
        flagged = r["flag"] != "agree"
        if flagged and r["study_id"] not in WITHOUT_IDENTIFIER:
            assert r["pmid"] or r["doi"] or r["pmcid"], r
        assert r["pmid"] == "" or r["pmid"].isdigit()
        assert r["pmcid"] == "" or re.fullmatch(r"PMC[0-9]+", r["pmcid"])
    held = {r["study_id"] for r in comp
            if r["flag"] != "agree" and not (r["pmid"] or r["doi"] or r["pmcid"])}
    assert held == WITHOUT_IDENTIFIER


def test_report_section_lists_every_disagreement(studies):
    from iometa.report.model import Context
    from iometa.report.provenance import provenance_sections

    [section] = provenance_sections(Context.of(studies))
    dis = section.tables[0].data
    assert len(dis) == 9 and (dis["flag"] != "agree").all()
    assert "primary figures where both exist" in section.summary
    [review_only] = provenance_sections(Context.of(only_source(studies, "review")))
    assert "review rows only" in review_only.summary

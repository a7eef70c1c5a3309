"""Checks of the hand-extracted study table ``data/studies.csv``.

The table is read directly with :mod:`csv` (not through :func:`iometa.load_studies`; only the
list of column names comes from the schema, :data:`iometa.data.schema.COLUMNS`), so these
tests check the data itself: quotes against the source reviews, structure, units, conversions
and a handful of values against the text. See ``data/README.md`` for the rules being tested.
"""

from __future__ import annotations

import csv
import math
import re
from pathlib import Path

import pytest

from iometa.data import vocabulary as voc
from iometa.data.schema import COLUMNS

REPO = Path(__file__).resolve().parents[1]
CSV_PATH = REPO / "data" / "studies.csv"
SEEDS = Path(__file__).resolve().parents[2] / "shared" / "seeds"
SOURCE_FILES = {
    "filippiadis2022": "002_a30510250b3ce168.txt",
    "newbury2022": "003_80441ca56826b427.txt",
}
DURATION_UNIT = {"duration": "months", "proportion": "proportion", "score": "points"}


def _collapse(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def _num(s: str) -> float | None:
    return None if s == "" else float(s)


@pytest.fixture(scope="module")
def all_rows() -> list[dict[str, str]]:
    with CSV_PATH.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def rows(all_rows) -> list[dict[str, str]]:
    """The rows extracted from the two reviews (primary rows: tests/test_primary_rows.py)."""
    return [r for r in all_rows if r["source_kind"] == "review"]


@pytest.fixture(scope="module")
def header() -> list[str]:
    with CSV_PATH.open(encoding="utf-8", newline="") as fh:
        return next(csv.reader(fh))


def _one(rows, study_id, outcome, subgroup="", timepoint=""):
    hits = [
        r
        for r in rows
        if r["study_id"] == study_id
        and r["outcome"] == outcome
        and r["subgroup"] == subgroup
        and r["timepoint_months"] == timepoint
    ]
    assert len(hits) == 1, (study_id, outcome, subgroup, timepoint, len(hits))
    return hits[0]


# ------------------------------------------------------------------------------ file format
def test_file_is_utf8_without_bom_and_header_in_order(header):
    raw = CSV_PATH.read_bytes()
    assert not raw.startswith(b"\xef\xbb\xbf")
    raw.decode("utf-8")
    assert header == list(COLUMNS)


def test_every_row_has_every_column(all_rows):
    assert len(all_rows) > 50
    for r in all_rows:
        assert None not in r, r  # no surplus fields
        assert all(r[c] is not None for c in COLUMNS), r


def test_rows_are_sorted(rows):
    def key(r):
        tp = _num(r["timepoint_months"])
        return (
            r["source"],
            int(r["ref_no"]),
            r["study_id"],
            r["outcome"],
            r["subgroup"],
            -math.inf if tp is None else tp,
        )

    assert [key(r) for r in rows] == sorted(key(r) for r in rows)


# ------------------------------------------------------------------------------ quotes
@pytest.mark.parametrize("source", sorted(SOURCE_FILES))
def test_every_quote_occurs_in_its_review(rows, source):
    path = SEEDS / SOURCE_FILES[source]
    if not path.exists():
        pytest.skip(f"source review not available: {path}")
    text = _collapse(path.read_text(encoding="utf-8"))
    missing = [
        (r["study_id"], r["outcome"], r["quote"])
        for r in rows
        if r["source"] == source and _collapse(r["quote"]) not in text
    ]
    assert not missing, missing


def test_every_row_has_a_quote(rows):
    assert all(len(r["quote"].strip()) >= 10 for r in rows)


def test_no_trial_registry_rows(rows):
    # the NCT table of ongoing trials is not an outcome
    assert not any("NCT0" in r["quote"] for r in rows)


# ------------------------------------------------------------------------------ structure
def test_keys_are_unique(rows):
    keys = [(r["study_id"], r["outcome"], r["subgroup"], r["timepoint_months"]) for r in rows]
    dupes = {k for k in keys if keys.count(k) > 1}
    assert not dupes


def test_study_ids_are_lowercase_ascii_letters_and_digits(rows):
    for r in rows:
        assert re.fullmatch(r"[a-z]+[a-z0-9]*", r["study_id"]), r["study_id"]


def test_study_level_columns_are_constant_within_a_study(rows):
    cols = ["author", "author_in_text", "year", "source", "ref_no", "modality", "site", "design"]
    seen: dict[str, tuple] = {}
    for r in rows:
        vals = tuple(r[c] for c in cols)
        assert seen.setdefault(r["study_id"], vals) == vals, r["study_id"]


def test_author_in_text_differs_from_author(rows):
    for r in rows:
        if r["author_in_text"]:
            surname = re.sub(r"\s+[A-Z]+$", "", r["author"])  # drop the initials
            assert r["author_in_text"].lower() != surname.lower(), r["study_id"]


def test_categorical_columns_use_the_vocabularies(rows):
    for r in rows:
        assert r["source"] in voc.SOURCES
        assert r["modality"] in voc.MODALITIES, r["modality"]
        assert r["site"] in voc.SITES, r["site"]
        assert r["primary"] in voc.PRIMARIES, r["primary"]
        assert r["design"] in voc.DESIGNS, r["design"]
        assert r["unit_of_analysis"] in voc.UNITS_OF_ANALYSIS, r["unit_of_analysis"]
        assert r["outcome"] in voc.OUTCOMES, r["outcome"]
        assert r["unit"] in voc.UNITS, r["unit"]
        assert r["unit_reported"] in voc.UNITS_REPORTED, r["unit_reported"]
        assert r["derived"] in ("true", "false")


def test_integer_columns(rows):
    for r in rows:
        assert re.fullmatch(r"\d+", r["ref_no"])
        for c in ("year", "n_patients", "n_lesions", "events", "total"):
            assert r[c] == "" or re.fullmatch(r"\d+", r[c]), (r["study_id"], c, r[c])
        if r["year"]:
            assert 1980 <= int(r["year"]) <= 2022


def test_numeric_columns_parse(rows):
    for r in rows:
        for c in (
            "timepoint_months",
            "value",
            "ci_low",
            "ci_high",
            "value_reported",
            "lesion_size_cm",
        ):
            if r[c]:
                float(r[c])  # raises on text; 'inf' is allowed for an open upper limit


def test_unit_matches_outcome_kind(rows):
    for r in rows:
        kind = voc.OUTCOMES[r["outcome"]]
        assert r["unit"] == DURATION_UNIT[kind], (r["study_id"], r["outcome"], r["unit"])


def test_proportions_are_between_zero_and_one(rows):
    for r in rows:
        if r["unit"] == "proportion":
            for c in ("value", "ci_low", "ci_high"):
                v = _num(r[c])
                assert v is None or 0.0 <= v <= 1.0, (r["study_id"], c, v)


def test_durations_are_positive_months(rows):
    for r in rows:
        if voc.OUTCOMES[r["outcome"]] == "duration":
            assert r["unit"] == "months"
            v = _num(r["value"])
            assert v is None or v > 0


def test_events_do_not_exceed_total(rows):
    for r in rows:
        if r["events"] and r["total"]:
            assert 0 <= int(r["events"]) <= int(r["total"]), r["study_id"]


def test_value_matches_events_over_total(rows):
    for r in rows:
        if r["events"] and r["total"] and r["value"]:
            assert abs(float(r["value"]) - int(r["events"]) / int(r["total"])) <= 0.005, (
                r["study_id"],
                r["outcome"],
            )


def test_ci_brackets_value(rows):
    for r in rows:
        lo, hi, v = _num(r["ci_low"]), _num(r["ci_high"]), _num(r["value"])
        if lo is not None and hi is not None:
            assert lo <= hi
            if v is not None:
                assert lo <= v <= hi


def test_percent_rows_are_value_over_100_unless_recomputed(rows):
    for r in rows:
        if r["unit_reported"] == "percent" and r["value"] and r["value_reported"]:
            printed = float(r["value_reported"]) / 100
            if r["derived"] == "false":
                assert abs(float(r["value"]) - printed) < 1e-9, r["study_id"]
            else:  # recomputed from counts: may differ from the printed rounding
                assert abs(float(r["value"]) - printed) <= 0.01, r["study_id"]


def test_weeks_rows_are_converted_with_the_day_based_factor(rows):
    weeks = [r for r in rows if r["unit_reported"] == "weeks"]
    assert weeks, "the table should contain the Fendler 35-week median"
    for r in weeks:
        expected = round(float(r["value_reported"]) * 7 / 30.4375, 4)
        assert float(r["value"]) == pytest.approx(expected, abs=5e-5)
        assert r["unit"] == "months"
        assert r["derived"] == "true"
    assert voc.WEEKS_TO_MONTHS == pytest.approx(7 / 30.4375)


def test_days_and_years_rows_are_converted(rows):
    for r in rows:
        if r["unit_reported"] == "days":
            assert float(r["value"]) == pytest.approx(
                round(float(r["value_reported"]) / 30.4375, 4), abs=5e-5
            )
        if r["unit_reported"] == "years":
            assert float(r["value"]) == pytest.approx(float(r["value_reported"]) * 12)


def test_every_row_has_a_result(rows):
    # the loader needs `value`, or `events` and `total`, on every row
    for r in rows:
        assert r["value"] or (r["events"] and r["total"]), (r["study_id"], r["outcome"])


def test_ranges_are_stored_as_pairs_of_ends(rows):
    ends: dict[tuple, dict[str, float]] = {}
    for r in rows:
        if r["subgroup"].startswith("range: "):
            k = (r["study_id"], r["outcome"], r["timepoint_months"])
            ends.setdefault(k, {})[r["subgroup"]] = float(r["value"])
            assert "range" in r["notes"].lower()
    assert ends, "the Wang 2017 ranges should be in the table"
    for k, pair in ends.items():
        assert set(pair) == {"range: lowest", "range: highest"}, k
        assert pair["range: lowest"] <= pair["range: highest"], k


def test_bounds_are_labelled(rows):
    for r in rows:
        if "bound: upper" in r["subgroup"]:
            assert "upper bound" in r["notes"]


def test_count_only_rows_are_flagged_when_a_value_is_computed(rows):
    for r in rows:
        if r["unit_reported"] == "count" and r["value"] and r["total"]:
            expected = int(r["events"]) / int(r["total"])
            if abs(float(r["value"]) - expected) < 1e-4 and r["events"] != "0":
                assert r["derived"] == "true", r["study_id"]


def test_wang_2017_ranges(rows):
    got = {
        (r["outcome"], r["subgroup"]): float(r["value"])
        for r in rows
        if r["study_id"] == "wang2017"
    }
    assert got[("median_os", "range: lowest")] == 7.3
    assert got[("median_os", "range: highest")] == 47.0
    assert got[("median_dfs", "range: highest")] == 17.0
    assert got[("objective_response", "range: lowest")] == 0.07
    assert got[("severe_adverse_event", "range: highest")] == 0.174


def test_vas_rows(rows):
    base = _one(rows, "trumm2008", "vas_pain_score", subgroup="baseline")
    post = _one(rows, "trumm2008", "vas_pain_score", timepoint="9.2")
    assert (float(base["value"]), float(post["value"])) == (6.4, 3.4)
    assert base["unit"] == post["unit"] == "points"


def test_systematic_reviews_and_registries_are_marked(rows):
    by_id = {r["study_id"]: r for r in rows}
    assert by_id["wang2017"]["design"] == "systematic_review"
    assert by_id["helmlinger2021"]["design"] == "registry"
    assert by_id["newbury2022ref34"]["design"] == "meta_analysis"
    assert by_id["newbury2022ref35"]["design"] == "meta_analysis"


# ------------------------------------------------------------------------------ spot checks
def test_meloni_2009(rows):
    os_ = _one(rows, "meloni2009", "median_os")
    assert (os_["modality"], os_["site"], os_["primary"]) == ("RFA", "liver", "breast")
    assert os_["n_patients"] == "52" and os_["ref_no"] == "7"
    assert float(os_["value"]) == 29.9 and os_["unit"] == "months"
    assert float(_one(rows, "meloni2009", "os_rate", timepoint="60")["value"]) == 0.27
    lp = _one(rows, "meloni2009", "local_progression")
    assert (lp["events"], lp["total"], lp["derived"]) == ("13", "51", "false")


def test_author_reference_mismatches_are_recorded(rows):
    pairs = {r["study_id"]: (r["author"], r["author_in_text"], r["ref_no"]) for r in rows}
    assert pairs["livraghi2001"] == ("Livraghi T", "Gingeri", "13")
    assert pairs["lawes2007"] == ("Lawes D", "Iannitti", "14")
    assert pairs["zhang2014"] == ("Zhang W", "Zang", "15")
    assert pairs["geraets2020"] == ("Geraets SEW", "Robial", "38")


def test_fendler_weeks_converted(rows):
    r = _one(rows, "fendler2016", "median_os")
    assert (r["value_reported"], r["unit_reported"]) == ("35", "weeks")
    assert float(r["value"]) == pytest.approx(8.0493, abs=1e-4)


def test_rates_that_are_really_medians(rows):
    assert float(_one(rows, "wang2015", "median_os")["value"]) == 33
    assert float(_one(rows, "gordon2014", "median_os")["value"]) == 6.6
    w = {
        r["timepoint_months"]: float(r["value"])
        for r in rows
        if r["study_id"] == "wang2015" and r["outcome"] == "os_rate"
    }
    assert w == {"12": 0.886, "24": 0.593, "36": 0.428}


def test_registry_median_with_ci(rows):
    r = _one(rows, "helmlinger2021", "median_os", subgroup="primary: breast")
    assert (float(r["value"]), float(r["ci_low"]), float(r["ci_high"])) == (10.6, 7.3, 14.4)
    assert r["n_patients"] == "47"


def test_vogl_2010_protocol_arms(rows):
    med = {
        r["subgroup"]: float(r["value"])
        for r in rows
        if r["study_id"] == "vogl2010" and r["outcome"] == "median_os"
    }
    assert med == {
        "arm: mitomycin-C": 13.3,
        "arm: gemcitabine": 11.0,
        "arm: mitomycin-C+gemcitabine": 24.8,
    }
    resp = [
        int(_one(rows, "vogl2010", o)["events"])
        for o in ("partial_response", "stable_disease", "progressive_disease")
    ]
    assert sum(resp) == 208


def test_bone_cementoplasty_per_lesion(rows):
    r = _one(rows, "cazzato2014", "pain_relief", timepoint="1")
    assert (r["events"], r["total"], r["unit_of_analysis"]) == ("59", "66", "lesions")


def test_prostate_focal_laser_biopsy(rows):
    r = _one(rows, "feller2020", "biopsy_negative", timepoint="6")
    assert (r["events"], r["total"], r["value_reported"]) == ("71", "122", "59")
    assert r["modality"] == "laser" and r["site"] == "prostate"


def test_tare_ici_toxicity(rows):
    r = _one(
        rows, "newbury2022ref21", "severe_adverse_event", subgroup="toxicity: delayed hepatobiliary"
    )
    assert (r["events"], r["total"], float(r["value"])) == ("2", "26", 0.077)
    assert r["modality"] == "TARE+ICI"


def test_value_type_marks_range_ends_and_bounds(rows):
    from iometa.data.vocabulary import VALUE_TYPES

    for r in rows:
        assert r["value_type"] in VALUE_TYPES, r
        sub = r["subgroup"]
        expected = ("range_low" if "range: lowest" in sub else "range_high"
                    if "range: highest" in sub else "upper_bound" if "bound: upper" in sub
                    else "estimate")
        assert r["value_type"] == expected, (r["study_id"], sub, r["value_type"])

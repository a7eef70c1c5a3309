"""Tests of the validating loader iometa.data, driven by the corpus in tests/data/."""

from __future__ import annotations

import doctest
import importlib.util
import math
import pickle
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import iometa
import iometa.data as data
from iometa._warnings import DataWarning
from iometa.data import (
    COLUMNS,
    Problem,
    StudyTableError,
    default_data_path,
    load_studies,
    outcome_kind,
    read_study_table,
    select,
    validate_studies,
    vocabulary,
)

HERE = Path(__file__).resolve().parent
BAD = HERE / "data" / "bad"
GOOD = HERE / "data" / "good"
REPO = HERE.parent


def problems_of(path: Path, **kwargs) -> list[Problem]:
    with pytest.raises(StudyTableError) as info:
        load_studies(path, **kwargs)
    err = info.value
    assert err.problems, "a StudyTableError must list at least one problem"
    return err.problems


def load_quietly(path: Path, **kwargs) -> pd.DataFrame:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a good file must not warn unless the test says so
        return load_studies(path, **kwargs)


# --------------------------------------------------------------------------------------------
# the corpus
# --------------------------------------------------------------------------------------------


def test_corpus_matches_its_generator():
    """The committed files are exactly what tests/data/make_corpus.py writes."""
    spec = importlib.util.spec_from_file_location("make_corpus", HERE / "data" / "make_corpus.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    for folder, files in ((BAD, mod.BAD), (GOOD, mod.GOOD)):
        on_disk = {p.name for p in folder.iterdir()}
        assert on_disk == set(files), f"{folder}: regenerate with make_corpus.py"
        for name, content in files.items():
            assert (folder / name).read_bytes() == content, name


# (line, column, words every one of which must appear in the message) for each bad file
BAD_CASES: dict[str, list[tuple[int | None, str | None, tuple[str, ...]]]] = {
    "empty_file.csv": [(None, None, ("empty",))],
    "header_only.csv": [(None, None, ("header", "no data rows"))],
    "missing_required_columns.csv": [
        (None, "modality", ("required column", "missing")),
        (None, "outcome", ("required column", "missing")),
    ],
    "missing_result_columns.csv": [(None, "value", ("'value' column", "'events' and 'total'"))],
    "missing_required_values.csv": [
        (2, "study_id", ("empty", "required")),
        (3, "outcome", ("empty", "required")),
        (4, "value", ("no result", "events", "total")),
    ],
    "wrong_types.csv": [
        (2, "events", ("expected a whole number",)),
        (3, "value", ("expected a number", "put the unit in `unit`")),
        (4, "value", ("expected a proportion 0–1", "write 0.85, not 85%")),
    ],
    "events_exceed_total.csv": [(3, "events", ("events must not exceed total (51)",))],
    "negative_n.csv": [
        (2, "n_patients", ("must not be negative",)),
        (2, "events", ("must not be negative",)),
    ],
    "zero_n.csv": [
        (2, "n_patients", ("must be greater than 0",)),
        (2, "total", ("must be greater than 0",)),
    ],
    "proportion_above_one.csv": [
        (2, "value", ("between 0 and 1",)),
        (3, "value", ("between 0 and 1",)),
    ],
    "percentage_written_as_85.csv": [
        (2, "value", ("looks like a percentage", "write 0.85 instead of 85")),
        (2, "ci_low", ("looks like a percentage", "write 0.8 instead of 80")),
        (2, "ci_high", ("looks like a percentage", "write 0.9 instead of 90")),
    ],
    "ci_not_containing_estimate.csv": [
        (2, "value", ("confidence interval", "0.6–0.8", "must contain the estimate")),
        (3, "ci_low", ("ci_low must not exceed ci_high (0.7)",)),
        (4, "value", ("confidence interval", "12.5–24")),
    ],
    "unknown_modality.csv": [(2, "modality", ("unknown modality", "did you mean 'RFA'?"))],
    "unknown_outcome.csv": [
        (2, "outcome", ("unknown outcome", "did you mean 'local_progression'?"))
    ],
    "duplicate_key_rows.csv": [(5, None, ("line 5 duplicates line 2", "smith2019", "os_rate"))],
    "fully_duplicated_row.csv": [(4, None, ("line 4 duplicates line 2 exactly",))],
    "missing_timepoint_os_rate.csv": [(2, "timepoint_months", ("os_rate", "time point", "months"))],
    "unit_inconsistent_with_outcome.csv": [
        (2, "unit", ("'proportion' does not fit outcome 'median_os'", "use 'months'")),
        (3, "unit", ("'months' does not fit outcome 'local_control'", "use 'proportion'")),
    ],
    "value_events_mismatch.csv": [
        (2, "value", ("value 0.3 does not match", "events/total = 13/51 = 0.255"))
    ],
    "ragged_row_unquoted_comma.csv": [(2, None, ("15 cells", "14 columns", "double quotes"))],
    "unclosed_quote.csv": [(2, None, ("double quote", "never closed"))],
    "binary_garbage.csv": [(None, None, ("not look like a text CSV file",))],
    "excel_workbook_saved_as_csv.csv": [(None, None, ("Excel workbook", "CSV UTF-8"))],
    "multiple_problems.csv": [
        (2, "modality", ("did you mean 'RFA'?",)),
        (2, "events", ("must not exceed total (51)",)),
        (3, "year", ("expected a 4-digit year",)),
        (3, "value", ("looks like a percentage",)),
        (4, "site", ("did you mean 'liver'?",)),
        (4, "timepoint_months", ("os_rate",)),
        (4, "unit", ("use 'proportion'",)),
        (5, "study_id", ("empty",)),
    ],
}


def test_every_bad_file_has_a_case():
    assert {p.name for p in BAD.iterdir()} == set(BAD_CASES)


@pytest.mark.parametrize("name", sorted(BAD_CASES))
def test_bad_file_reports_exact_problems(name):
    path = BAD / name
    found = problems_of(path)
    expected = BAD_CASES[name]
    assert [(p.line, p.column) for p in found] == [(ln, col) for ln, col, _ in expected], "\n".join(
        map(str, found)
    )
    for problem, (_, _, words) in zip(found, expected):
        for word in words:
            assert word in problem.message, f"{word!r} not in {problem.message!r}"
        assert problem.file == str(path)


def test_all_problems_of_a_file_are_listed_at_once():
    with pytest.raises(StudyTableError) as info:
        load_studies(BAD / "multiple_problems.csv")
    text = str(info.value)
    lines = text.splitlines()
    assert lines[0] == f"{BAD / 'multiple_problems.csv'}: 8 problems found"
    assert len(lines) == 9
    # sorted by line, then by column in schema order
    keys = [(p.line, COLUMNS.index(p.column)) for p in info.value.problems]
    assert keys == sorted(keys)
    assert lines[1] == (
        "multiple_problems.csv, line 2, column 'modality': 'RFAA' — unknown modality; "
        "did you mean 'RFA'?"
    )
    assert "Traceback" not in text


def test_problem_str_reads_like_a_sentence():
    p = Problem("studies.csv", 14, "events", "52", "events must not exceed total (51)")
    assert (
        str(p) == "studies.csv, line 14, column 'events': '52' — events must not exceed total (51)"
    )
    assert str(Problem(None, None, None, None, "no data")) == "no data"
    assert str(Problem("a/b/t.csv", 3, None, None, "x")) == "t.csv, line 3: x"
    long = Problem("t.csv", 2, "quote", "x" * 200, "m")
    assert len(str(long)) < 120
    with pytest.raises(AttributeError):
        p.line = 3  # frozen


def test_study_table_error_is_a_value_error_and_picklable():
    err = StudyTableError(
        [Problem("t.csv", 3, "value", "2", "b"), Problem("t.csv", 2, None, None, "a")], "t.csv"
    )
    assert isinstance(err, ValueError)
    assert err.path == "t.csv"
    assert [p.line for p in err.problems] == [2, 3]
    assert str(err).splitlines()[0] == "t.csv: 2 problems found"
    again = pickle.loads(pickle.dumps(err))
    assert str(again) == str(err) and again.problems == err.problems
    one = StudyTableError([Problem(None, None, None, None, "x")])
    assert str(one).splitlines()[0] == "study table: 1 problem found"


def test_missing_file_directory_and_unreadable(tmp_path):
    missing = tmp_path / "nope.csv"
    with pytest.raises(StudyTableError) as info:
        load_studies(missing)
    assert "file not found" in str(info.value)
    assert not isinstance(info.value, FileNotFoundError)
    with pytest.raises(StudyTableError) as info:
        load_studies(tmp_path)
    assert "folder" in str(info.value)
    blank = tmp_path / "blank.csv"
    blank.write_bytes(b" \r\n\r\n\xc2\xa0\n")
    with pytest.raises(StudyTableError, match="empty"):
        load_studies(blank)


def test_header_only_with_blank_rows_is_still_header_only(tmp_path):
    f = tmp_path / "t.csv"
    f.write_bytes(b"study_id,modality,outcome,value\r\n,,,\r\n\r\n")
    with pytest.raises(StudyTableError, match="no data rows"):
        load_studies(f)


def test_header_problems(tmp_path):
    f = tmp_path / "t.csv"
    f.write_text("study_id,modality,outcome,value,,value,line\nA,RFA,median_os,3,x,4,1\n")
    problems = problems_of(f)
    messages = " | ".join(p.message for p in problems)
    assert "column F has values but no name" not in messages  # F is 'value' (named)
    assert "column E has values but no name" in messages
    assert "appears twice" in messages
    assert "'line' is reserved" in messages
    assert all(p.line == 1 for p in problems)


def test_case_insensitive_duplicate_columns(tmp_path):
    f = tmp_path / "t.csv"
    f.write_text("study_id,modality,Modality,outcome,value\nA,RFA,MWA,median_os,3\n")
    problems = problems_of(f)
    assert [p.column for p in problems] == ["modality"]
    assert "appears twice" in problems[0].message


def test_missing_column_typo_is_pointed_out(tmp_path):
    f = tmp_path / "t.csv"
    f.write_text("study_id,modalty,outcome,value\nA,RFA,median_os,3\n")
    (p,) = problems_of(f)
    assert p.column == "modality" and "'modalty'" in p.message


def test_unknown_column_close_to_a_schema_name_warns(tmp_path):
    f = tmp_path / "t.csv"
    f.write_text("study_id,modality,outcome,value,n_patient\nA,RFA,median_os,3,40\n")
    with pytest.warns(DataWarning, match="did you mean 'n_patients'"):
        df = load_studies(f)
    assert df.loc[0, "n_patient"] == "40"
    assert df["n_patients"].isna().all()


# --------------------------------------------------------------------------------------------
# good files
# --------------------------------------------------------------------------------------------

GOOD_WITH_WARNINGS = {"cp1252_encoded.csv", "mixed_units_of_analysis.csv"}


@pytest.mark.parametrize("name", sorted(p.name for p in GOOD.iterdir()))
def test_good_files_load_with_schema_dtypes(name):
    if name in GOOD_WITH_WARNINGS:
        with pytest.warns(DataWarning):
            df = load_studies(GOOD / name)
    else:
        df = load_quietly(GOOD / name)
    assert list(df.columns[: len(COLUMNS)]) == list(COLUMNS)
    assert df.columns[-1] == "line"
    assert_schema_dtypes(df)
    assert len(df) > 0
    assert df.index.equals(pd.RangeIndex(len(df)))
    assert df["line"].is_monotonic_increasing
    # validating the typed frame again changes nothing
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        pd.testing.assert_frame_equal(validate_studies(df), df)


def assert_schema_dtypes(df: pd.DataFrame) -> None:
    vocab = {
        "modality": vocabulary.MODALITIES,
        "site": vocabulary.SITES,
        "primary": vocabulary.PRIMARIES,
        "design": vocabulary.DESIGNS,
        "unit_of_analysis": vocabulary.UNITS_OF_ANALYSIS,
        "outcome": tuple(vocabulary.OUTCOMES),
        "unit": vocabulary.UNITS,
        "unit_reported": vocabulary.UNITS_REPORTED,
        "value_type": vocabulary.VALUE_TYPES,
        "source_kind": vocabulary.SOURCE_KINDS,
        "person_time_unit": vocabulary.PERSON_TIME_UNITS,
    }
    ints = ("year", "ref_no", "n_patients", "n_lesions", "events", "total", "line")
    floats = ("timepoint_months", "value", "ci_low", "ci_high", "lesion_size_cm", "person_time")
    for col, allowed in vocab.items():
        assert isinstance(df[col].dtype, pd.CategoricalDtype), col
        assert list(df[col].cat.categories) == list(allowed), col
        assert not df[col].cat.ordered
    for col in ints:
        assert df[col].dtype == "Int64", col
    for col in floats:
        assert df[col].dtype == np.float64, col
    assert df["derived"].dtype == "boolean"
    # every other column (study_id, author, source, subgroup, quote, notes, ...) is text
    typed = {*vocab, *ints, *floats, "derived"}
    for col in [c for c in COLUMNS if c not in typed]:
        assert isinstance(df[col].dtype, pd.StringDtype), col
    assert not df["subgroup"].isna().any()


def test_utf8_with_bom():
    df = load_quietly(GOOD / "utf8_bom.csv")
    assert df["study_id"].tolist() == ["smith2019", "lee2020"]  # no BOM glued to the first name
    assert df["events"].tolist() == [4, 6] and df["total"].tolist() == [40, 52]
    assert df["line"].tolist() == [2, 3]


def test_semicolon_file_with_decimal_commas():
    raw = read_study_table(GOOD / "semicolon_decimal_comma.csv")
    assert raw.attrs["delimiter"] == ";" and raw.attrs["decimal"] == ","
    df = load_quietly(GOOD / "semicolon_decimal_comma.csv")
    assert df["value"].tolist() == [12.5, 0.95, 0.9]
    assert df["ci_low"].tolist()[:2] == [10.1, 0.9]
    assert df["lesion_size_cm"].tolist()[:2] == [2.8, 3.0]
    assert df["author"].tolist() == ["Müller", "Lee", "Kim, J"]


def test_decimal_comma_in_a_comma_separated_file_is_an_error(tmp_path):
    f = tmp_path / "t.csv"
    f.write_text('study_id,modality,outcome,value\nA,RFA,median_os,"12,5"\n')
    (p,) = problems_of(f)
    assert (p.line, p.column, p.value) == (2, "value", "12,5")
    assert "write 12.5" in p.message


def test_windows_line_endings():
    assert b"\r\n" in (GOOD / "windows_line_endings.csv").read_bytes()
    df = load_quietly(GOOD / "windows_line_endings.csv")
    assert df["notes"].tolist() == ["first", "second"]  # no stray '\r'
    assert df["line"].tolist() == [2, 3]


def test_trailing_and_non_breaking_spaces():
    df = load_quietly(GOOD / "trailing_and_nbsp_spaces.csv")
    assert df["study_id"].tolist() == ["smith2019", "lee2020"]
    assert df["modality"].tolist() == ["RFA", "MWA"]
    assert df["outcome"].tolist() == ["local_control", "median_os"]
    assert df["value"].tolist() == [0.85, 12.0]
    assert df["ci_low"].tolist() == [0.8, 10.0]
    assert df["ci_high"].tolist() == [0.9, 14.0]
    assert df["author"].tolist() == ["Smith", "Lee"]


def test_missing_value_spellings_and_not_reached():
    df = load_quietly(GOOD / "missing_value_spellings.csv")
    assert df["year"].isna().tolist() == [True, True, True, False]
    assert df["site"].isna().tolist() == [True, True, True, False]
    assert df["n_patients"].isna().tolist() == [True, True, True, False]
    assert df["notes"].isna().all()
    assert df["timepoint_months"].isna().tolist() == [True, True, True, False]
    # median not reached -> inf; 'NR' alone -> missing
    assert math.isinf(df.loc[0, "value"]) and math.isinf(df.loc[2, "value"])
    assert df.loc[1, "value"] == 24.5
    assert df["ci_high"].iloc[:3].map(math.isinf).all()
    assert df.loc[3, "ci_low"] != df.loc[3, "ci_low"]  # NaN
    assert df.loc[3, "value"] == 0.9 and df.loc[3, "n_patients"] == 40


def test_not_reached_is_not_a_proportion(tmp_path):
    f = tmp_path / "t.csv"
    f.write_text(
        "study_id,modality,outcome,value,ci_low,ci_high\n"
        "A,RFA,local_control,not reached,,\n"
        "B,RFA,local_control,0.9,0.8,not reached\n"
        "C,RFA,median_os,20,not reached,\n"
    )
    found = [(p.line, p.column) for p in problems_of(f)]
    assert found == [(2, "value"), (3, "ci_high"), (4, "ci_low")]


def test_unicode_author_kept_intact():
    df = load_quietly(GOOD / "unicode_author.csv")
    assert df["author"].tolist() == ["Kümler", "Ødegård"]
    assert df.loc[1, "author_in_text"] == "Ødegård and Šimić"
    assert df.loc[0, "notes"] == "Ærø – São Paulo ≤5 cm"


def test_cp1252_file_loads_with_a_data_warning():
    raw_bytes = (GOOD / "cp1252_encoded.csv").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw_bytes.decode("utf-8")
    with pytest.warns(DataWarning, match="not UTF-8.*cp1252"):
        df = load_studies(GOOD / "cp1252_encoded.csv")
    assert df.loc[0, "author"] == "Kümler"
    assert df.loc[0, "notes"] == "size 3–5 cm"


def test_utf16_unicode_text_from_excel():
    df = load_quietly(GOOD / "utf16_excel_unicode_text.csv")
    assert df.loc[0, "author"] == "Kümler" and df.loc[0, "value"] == 0.9


def test_tab_separated_and_excel_sep_line():
    df = load_quietly(GOOD / "tab_separated.csv")
    assert df.loc[0, "author"] == "Smith, J"
    df = load_quietly(GOOD / "excel_sep_line.csv")
    assert df.loc[0, "value"] == 12.5
    assert df.loc[0, "line"] == 3  # 'sep=;' is line 1, the header line 2


def test_multiline_quote_keeps_line_numbers():
    df = load_quietly(GOOD / "multiline_quote.csv")
    assert df["line"].tolist() == [2, 4]
    assert df.loc[0, "quote"] == "first line of the quote\nsecond line of the quote"


def test_blank_lines_and_empty_spreadsheet_rows_are_not_data():
    df = load_quietly(GOOD / "blank_lines_and_empty_rows.csv")
    assert df["study_id"].tolist() == ["smith2019", "lee2020"]
    assert df["line"].tolist() == [2, 5]


def test_case_and_whitespace_in_vocabulary_are_normalised():
    df = load_quietly(GOOD / "case_insensitive_vocabulary.csv")
    assert df["modality"].tolist() == ["RFA", "MWA"]
    assert df["site"].tolist() == ["liver", "lung"]
    assert df["outcome"].tolist() == ["local_control", "median_os"]
    assert df["unit"].tolist() == ["proportion", "months"]


def test_extra_unknown_columns_are_kept():
    df = load_quietly(GOOD / "extra_unknown_columns.csv")
    assert list(df.columns[len(COLUMNS) :]) == ["reviewer", "my flag", "line"]
    assert df["reviewer"].tolist() == ["AB", "CD"]
    assert df["my flag"].tolist() == ["1", ""]


def test_mixed_units_of_analysis_warns_naming_outcome_and_modality():
    with pytest.warns(DataWarning) as record:
        df = load_studies(GOOD / "mixed_units_of_analysis.csv")
    assert len(df) == 4
    (w,) = [str(r.message) for r in record]
    assert "'local_progression'" in w and "'RFA'" in w and "'MWA'" not in w
    assert "lines 2, 5" in w and "line 3" in w


def test_total_above_n_patients_warns(tmp_path):
    f = tmp_path / "t.csv"
    f.write_text(
        "study_id,modality,outcome,unit_of_analysis,n_patients,events,total\n"
        "A,RFA,local_progression,patients,40,5,60\n"
    )
    with pytest.warns(DataWarning, match=r"line 2 \(total 60 > n_patients 40\)"):
        load_studies(f)


def test_full_schema_values():
    df = load_quietly(GOOD / "full_schema.csv")
    assert df["derived"].tolist() == [False, True, False]
    assert df["subgroup"].tolist() == ["<3 cm", "", ""]
    assert df["unit_reported"].tolist() == ["percent", "weeks", "percent"]
    assert df["ref_no"].tolist() == [12, 12, 3]
    assert df["n_lesions"].tolist()[0] == 52 and pd.isna(df["n_lesions"].iloc[2])
    assert df["quote"].iloc[1] == "median OS 148 weeks (95% CI 122–NR)"
    assert math.isnan(df["ci_high"].iloc[1])  # 'NR' = not reported, not 'not reached'


# --------------------------------------------------------------------------------------------
# validate_studies on frames, strict mode, vocabulary
# --------------------------------------------------------------------------------------------


def test_validate_frame_line_numbers_from_index():
    raw = pd.DataFrame(
        {
            "study_id": ["A", "B", "C"],
            "modality": ["RFA", "MWA", "RFA"],
            "outcome": ["local_control"] * 3,
            "value": [0.5, 1.5, 0.7],  # numbers, not strings
        }
    )
    with pytest.raises(StudyTableError) as info:
        validate_studies(raw)
    (p,) = info.value.problems
    assert (p.file, p.line, p.column, p.value) == (None, 3, "value", "1.5")
    assert str(info.value).startswith("study table: 1 problem found\nline 3, column 'value'")


def test_validate_accepts_typed_columns_and_odd_names():
    raw = pd.DataFrame(
        {
            " Study_ID ": ["A"],
            "MODALITY": pd.Categorical(["RFA"]),
            "outcome": ["os_rate"],
            "timepoint_months": [12],
            "events": pd.array([9], dtype="Int64"),
            "total": [10.0],
            "value": [0.9],
            "derived": [True],
        }
    )
    df = validate_studies(raw)
    assert df.loc[0, "study_id"] == "A" and df.loc[0, "modality"] == "RFA"
    assert df.loc[0, "total"] == 10 and bool(df.loc[0, "derived"]) is True


def test_validate_rejects_non_frames():
    with pytest.raises(TypeError):
        validate_studies([{"study_id": "A"}])


def test_strict_requires_provenance(tmp_path):
    f = tmp_path / "t.csv"
    f.write_text("study_id,modality,outcome,value\nkim2021,RFA,median_os,3\n")
    assert len(load_studies(f)) == 1  # a user table: provenance optional
    found = problems_of(f, strict=True)
    assert [p.column for p in found] == list(data.PROVENANCE_COLUMNS)
    assert all("provenance" in p.message for p in found)


def test_strict_requires_quote_and_known_source():
    df = load_quietly(GOOD / "full_schema.csv", strict=True)
    raw = read_study_table(GOOD / "full_schema.csv")
    raw.loc[0, "quote"] = "  "
    raw.loc[1, "source"] = "filipiadis2022"
    raw.loc[2, "source"] = "NR"
    with pytest.raises(StudyTableError) as info:
        validate_studies(raw, strict=True)
    found = [(p.line, p.column) for p in info.value.problems]
    assert found == [(2, "quote"), (3, "source"), (4, "source")]
    assert "did you mean 'filippiadis2022'" in info.value.problems[1].message
    validate_studies(raw.assign(quote="q", source="anything"), strict=False)
    assert df["source"].tolist() == ["filippiadis2022", "filippiadis2022", "newbury2022"]


def test_vocabulary_is_read_at_call_time(monkeypatch):
    monkeypatch.setattr(vocabulary, "MODALITIES", (*vocabulary.MODALITIES, "histotripsy"))
    raw = pd.DataFrame(
        {
            "study_id": ["A"],
            "modality": ["Histotripsy"],
            "outcome": ["local_control"],
            "value": ["0.9"],
        }
    )
    df = validate_studies(raw)
    assert df.loc[0, "modality"] == "histotripsy"
    assert df["modality"].cat.categories[-1] == "histotripsy"


@pytest.mark.parametrize(
    "cell, words",
    [
        ("twelve", ("expected a number",)),
        ("12 months", ("put the unit in `unit`",)),
        ("0.8 (0.7-0.9)", ("ci_low", "ci_high")),
        ("0.7-0.9", ("not a range",)),
        ("<0.05", ("without '<'",)),
        ("13/51", ("events", "total")),
    ],
)
def test_number_messages(cell, words):
    raw = pd.DataFrame(
        {"study_id": ["A"], "modality": ["RFA"], "outcome": ["local_control"], "value": [cell]}
    )
    with pytest.raises(StudyTableError) as info:
        validate_studies(raw)
    (p,) = info.value.problems
    assert p.column == "value" and p.value == cell
    for w in words:
        assert w in p.message


def test_count_and_year_checks():
    raw = pd.DataFrame(
        {
            "study_id": ["A", "B", "C", "D"],
            "modality": ["RFA"] * 4,
            "outcome": ["local_control"] * 4,
            "events": ["4.5", "1e30", "4", "40%"],
            "total": ["10", "10", "10", "10"],
            "year": ["2019", "19", "2019.0", "2019"],
            "derived": ["yes", "maybe", "0", "TRUE"],
        }
    )
    with pytest.raises(StudyTableError) as info:
        validate_studies(raw)
    found = {(p.line, p.column): p.message for p in info.value.problems}
    assert set(found) == {(2, "events"), (3, "events"), (3, "year"), (3, "derived"), (5, "events")}
    assert "whole number" in found[(2, "events")]
    assert "too large" in found[(3, "events")]
    assert "4-digit year" in found[(3, "year")]
    assert "true or false" in found[(3, "derived")]
    assert "not a percentage" in found[(5, "events")]


def test_duration_checks():
    raw = pd.DataFrame(
        {
            "study_id": ["A", "B", "C"],
            "modality": ["RFA"] * 3,
            "outcome": ["median_os", "median_os", "median_pfs"],
            "value": ["0", "", "-3"],
            "events": ["", "3", ""],
            "total": ["", "10", ""],
            "timepoint_months": ["", "-1", ""],
        }
    )
    with pytest.raises(StudyTableError) as info:
        validate_studies(raw)
    found = [(p.line, p.column) for p in info.value.problems]
    assert found == [(2, "value"), (3, "timepoint_months"), (3, "value"), (4, "value")]
    assert "greater than 0" in info.value.problems[0].message
    assert "duration" in info.value.problems[2].message


def test_consistency_tolerance():
    raw = pd.DataFrame(
        {
            "study_id": ["A", "B"],
            "modality": ["RFA"] * 2,
            "outcome": ["local_progression"] * 2,
            "events": ["13", "13"],
            "total": ["52", "52"],
            "value": ["0.245", "0.255"],  # 13/52 = 0.25: both within 0.005
        }
    )
    assert validate_studies(raw)["value"].tolist() == [0.245, 0.255]
    with pytest.raises(StudyTableError, match="difference 0.0060, more than 0.005"):
        validate_studies(raw.assign(value=["0.25", "0.256"]))


def test_subgroups_and_timepoints_make_keys_distinct():
    raw = pd.DataFrame(
        {
            "study_id": ["A"] * 4,
            "modality": ["RFA"] * 4,
            "outcome": ["os_rate"] * 4,
            "subgroup": ["", "<3 cm", "", "NA"],
            "timepoint_months": ["12", "12", "24", "36"],
            "value": ["0.9", "0.95", "0.8", "0.7"],
        }
    )
    df = validate_studies(raw)
    assert df["subgroup"].tolist() == ["", "<3 cm", "", ""]


def test_outcome_kind():
    assert outcome_kind("median_os") == "duration"
    assert outcome_kind(" OS_rate ") == "proportion"
    assert iometa.outcome_kind is outcome_kind if hasattr(iometa, "outcome_kind") else True
    with pytest.raises(ValueError, match="did you mean 'median_os'"):
        outcome_kind("median_oss")


def test_select():
    df = load_quietly(GOOD / "full_schema.csv")
    rows = select(df, "local_progression", modality="rfa")
    assert rows["line"].tolist() == [2]
    assert select(df, "os_rate", timepoint_months=24)["study_id"].tolist() == ["lee2020"]
    assert select(df, "os_rate", timepoint_months=12).empty
    assert len(select(df, "median_os", site=["liver", "lung"])) == 1
    assert len(select(df, "local_progression", notes=None)) == 1
    with pytest.raises(ValueError, match="did you mean 'RFA'"):
        select(df, "local_progression", modality="RFAA")
    with pytest.raises(ValueError, match="unknown column"):
        select(df, "local_progression", modalty="RFA")
    with pytest.raises(ValueError, match="unknown outcome"):
        select(df, "survival")


# --------------------------------------------------------------------------------------------
# API, default table, docs
# --------------------------------------------------------------------------------------------


def test_public_api_names():
    for name in (
        "load_studies",
        "validate_studies",
        "read_study_table",
        "default_data_path",
        "StudyTableError",
        "Problem",
    ):
        assert getattr(iometa, name) is getattr(data, name)


def test_default_data_path():
    path = default_data_path()
    assert isinstance(path, Path) and path.name == "studies.csv"
    checkout = REPO / "data" / "studies.csv"
    if checkout.exists():
        assert path == checkout.resolve()
    else:
        assert path.parent.name == "_data" and path.parent.parent.name == "iometa"


def test_default_path_is_strict(monkeypatch, tmp_path):
    f = tmp_path / "studies.csv"
    f.write_text("study_id,modality,outcome,value\nA,RFA,median_os,3\n")
    monkeypatch.setattr("iometa.data.load.default_data_path", lambda: f)
    for args in ((), (f,), (str(f),)):
        with pytest.raises(StudyTableError, match="provenance"):
            load_studies(*args)
    assert len(load_studies(f, strict=False)) == 1


@pytest.mark.skipif(
    not (REPO / "data" / "studies.csv").exists(), reason="data/studies.csv not there yet"
)
def test_project_table_loads_and_validates():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        df = load_studies()
    assert len(df) > 0
    assert_schema_dtypes(df)
    review = (df["source_kind"] == "review").to_numpy()
    assert df["quote"][review].notna().all() and df["source"].notna().all()
    assert set(df["source"]) <= set(vocabulary.SOURCES)


def test_docstring_examples_run():
    result = doctest.testmod(data, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and result.attempted > 10


def test_import_is_light():
    code = (
        "import sys, iometa.data\n"
        "heavy = [m for m in ('scipy', 'matplotlib', 'statsmodels') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_new_outcome_kinds_from_the_vocabulary(monkeypatch):
    outcomes = {**vocabulary.OUTCOMES, "pain_score_test": "score"}
    monkeypatch.setattr(vocabulary, "OUTCOMES", outcomes)
    raw = pd.DataFrame(
        {
            "study_id": ["A", "B"],
            "modality": ["RFA", "RFA"],
            "outcome": ["pain_score_test", "pain_score_test"],
            "value": ["6.5", "not reached"],
            "unit": ["points", "months"],
        }
    )
    with pytest.raises(StudyTableError) as info:
        validate_studies(raw)
    found = [(p.line, p.column) for p in info.value.problems]
    assert found == [(3, "value"), (3, "unit")]
    assert "(a score)" in info.value.problems[0].message
    assert "use 'points'" in info.value.problems[1].message
    df = validate_studies(raw.iloc[:1])
    assert df.loc[0, "value"] == 6.5 and "pain_score_test" in df["outcome"].cat.categories


def test_read_study_table_returns_raw_strings():
    raw = read_study_table(GOOD / "trailing_and_nbsp_spaces.csv")
    assert list(raw.columns) == [
        "study_id",
        "modality",
        "outcome",
        "value",
        "ci_low",
        "ci_high",
        "author",
        "line",
    ]
    assert raw.loc[0, "modality"] == "RFA\u00a0"  # cells untouched; header names trimmed
    assert raw["line"].tolist() == [2, 3] and raw["line"].dtype == "Int64"
    assert raw.attrs["delimiter"] == "," and raw.attrs["encoding"] == "utf-8"

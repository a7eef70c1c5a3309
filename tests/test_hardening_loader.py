"""Issue 21, "Tables that load wrongly or get a misleading message": each case names the line
(and column) and says what was expected."""

from __future__ import annotations

import warnings

import pandas as pd
import pytest

from iometa import DataWarning, StudyTableError, load_studies, validate_studies

HEAD = "study_id,modality,outcome,value,notes\n"


def _write(tmp_path, data: bytes | str, name="t.csv"):
    p = tmp_path / name
    if isinstance(data, str):
        data = data.encode("utf-8")
    p.write_bytes(data)
    return p


def _problems(path):
    with pytest.raises(StudyTableError) as err:
        load_studies(path)
    return err.value.problems


def test_unquoted_decimal_comma_shifts_cells_is_an_error_naming_the_line(tmp_path):
    p = _write(
        tmp_path, HEAD + "lee2020,MWA,local_control,0.9,\nsmith2019,RFA,local_control,0,85,\n"
    )
    (prob,) = _problems(p)
    assert prob.line == 3
    assert "0,85" in prob.message and "write 0.85" in prob.message


def test_row_longer_than_the_others_with_empty_extra_cell_is_an_error(tmp_path):
    p = _write(tmp_path, HEAD + "a,RFA,local_control,0.5,x\nb,RFA,local_control,0.5,y,\n")
    (prob,) = _problems(p)
    assert prob.line == 3 and "6 cells but the header has 5" in prob.message


def test_trailing_empty_cells_on_every_row_still_load(tmp_path):
    p = _write(tmp_path, HEAD + "a,RFA,local_control,0.5,x,,\nb,RFA,local_control,0.6,y,,\n")
    assert len(load_studies(p)) == 2


def test_mixed_encodings_name_the_line_that_is_not_utf8(tmp_path):
    data = (HEAD + "k\u00fcmler2019,RFA,local_control,0.5,K\u00fcmler\n").encode("utf-8")
    data += "m2020,RFA,local_control,0.6,M\u00fcller\n".encode("cp1252")
    (prob,) = _problems(_write(tmp_path, data))
    assert prob.line == 3 and "not UTF-8, but line 2 is" in prob.message


def test_whole_cp1252_file_still_loads_with_the_line_named(tmp_path):
    data = (HEAD + "m2020,RFA,local_control,0.6,M\u00fcller\n").encode("cp1252")
    with pytest.warns(DataWarning, match="not UTF-8 \\(from line 2\\)"):
        df = load_studies(_write(tmp_path, data))
    assert df["notes"][0] == "M\u00fcller"


def test_stray_nul_byte_names_its_line(tmp_path):
    data = (HEAD + "a,RFA,local_control,0.5,x\nb,RFA,local_control,0.6,y\x00\n").encode()
    (prob,) = _problems(_write(tmp_path, data))
    assert prob.line == 3 and "NUL byte" in prob.message


@pytest.mark.parametrize(
    "pre", ["# Exported from REDCap on 2024-01-02\n", "Study table, version 3\n\n"]
)
def test_preamble_line_above_the_header_is_named_as_such(tmp_path, pre):
    p = _write(tmp_path, pre + HEAD + "a,RFA,local_control,0.5,x\nb,RFA,local_control,0.6,y\n")
    (prob,) = _problems(p)
    assert prob.line == 1 and "preamble" in prob.message


def test_events_above_n_patients_with_total_empty_is_an_error():
    df = pd.DataFrame(
        {
            "study_id": ["a"],
            "modality": ["RFA"],
            "outcome": ["local_control"],
            "events": [12],
            "total": [None],
            "n_patients": [10],
        }
    )
    with pytest.raises(StudyTableError) as err:
        validate_studies(df)
    msgs = {(p.column, p.message.split(" (")[0]) for p in err.value.problems}
    assert ("events", "events must not exceed n_patients") in msgs


@pytest.mark.parametrize(
    "cells, column, words",
    [
        ({"outcome": "median_os", "value": "1e308"}, "value", "more than 100 years"),
        (
            {"outcome": "os_rate", "value": "0.5", "timepoint_months": "44927"},
            "timepoint_months",
            "Excel date serial",
        ),
        (
            {
                "outcome": "median_os",
                "value": "40",
                "value_reported": "40",
                "unit_reported": "weeks",
            },
            "value",
            "unit_reported is weeks",
        ),
    ],
)
def test_absurd_months_get_a_warning_naming_line_and_column(cells, column, words):
    df = pd.DataFrame([{"study_id": "a", "modality": "RFA", **cells}])
    with pytest.warns(DataWarning, match=f"line 2, column '{column}'.*{words}"):
        validate_studies(df)


def test_two_megabyte_notes_cell_is_read(tmp_path):
    notes = "x" * 2_000_000
    p = _write(tmp_path, HEAD + f'a,RFA,local_control,0.5,"{notes}"\n')
    assert len(load_studies(p)["notes"][0]) == 2_000_000


@pytest.mark.parametrize("cell", ["NR", "n/a", "\u2014"])
def test_not_reported_spellings_are_named_not_reported(cell):
    df = pd.DataFrame(
        {"study_id": ["a"], "modality": ["RFA"], "outcome": ["median_os"], "value": [cell]}
    )
    with pytest.raises(StudyTableError) as err:
        validate_studies(df)
    (p,) = err.value.problems
    assert p.value == cell and p.message.startswith("not reported")
    assert "empty" not in p.message.split(":")[0]


def test_date_in_a_number_column_is_named_a_date():
    df = pd.DataFrame(
        {"study_id": ["a"], "modality": ["RFA"], "outcome": ["median_os"], "value": ["2019-03-12"]}
    )
    with pytest.raises(StudyTableError) as err:
        validate_studies(df)
    assert "this is a date" in err.value.problems[0].message
    assert "range" not in err.value.problems[0].message


@pytest.mark.parametrize(
    "data, what",
    [
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n", "a PDF document"),
        (b"<!DOCTYPE html>\n<html><body>studies</body></html>\n", "an HTML page"),
        (b"  <html>\n<head></head>\n", "an HTML page"),
    ],
)
def test_pdf_or_html_renamed_csv_says_what_it_is(tmp_path, data, what):
    (prob,) = _problems(_write(tmp_path, data))
    assert f"this is {what}" in prob.message


def test_many_errors_show_fifty_per_kind_and_a_count():
    n = 100_000
    df = pd.DataFrame(
        {
            "study_id": [f"s{i}" for i in range(n)],
            "modality": ["XXX"] * n,
            "outcome": ["median_os"] * n,
            "value": [5.0] * n,
        }
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(StudyTableError) as err:
            validate_studies(df)
    assert len(err.value.problems) == n
    text = str(err.value).splitlines()
    assert len(text) == 1 + 50 + 1
    assert text[-1].startswith(f"... and {n - 50} more problems like line 2")


def test_numbers_that_only_fit_when_shifted_are_an_error(tmp_path):
    # no trailing comma: value 0 and notes "85" fit the header, but are 0,85 split
    p = _write(
        tmp_path, HEAD + "lee2020,MWA,local_control,0.9,ok\nsmith2019,RFA,local_control,0,85\n"
    )
    (prob,) = _problems(p)
    assert prob.line == 3 and "write 0.85 in 'value'" in prob.message

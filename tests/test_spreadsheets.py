"""Spreadsheets read directly (issue 20 item 2): .xlsx and .ods give the CSV's frame."""

from __future__ import annotations

import pandas as pd
import pytest

from iometa.cli import main
from iometa.data import StudyTableError, load_studies, read_study_table

openpyxl = pytest.importorskip("openpyxl")
pytest.importorskip("odf")

HEADER = ["study_id", "author", "year", "modality", "outcome", "subgroup", "timepoint_months",
          "events", "total", "value", "ci_low", "ci_high", "derived", "value_reported", "notes"]
ROWS = [
    ["smith2019", "Smith J", 2019, "RFA", "local_progression", None, 12, 4, 40, 0.1, None, None,
     False, "10", "per patient"],
    ["lee2020", "Lee K", 2020, "MWA", "local_progression", None, 12, 6, 52, 0.1154, None, None,
     True, "11.54", None],
    ["kim2021", "Kim H", 2021, "TACE", "median_os", "arm: A", None, None, None, 22.5, 18.25,
     "not reached", None, "22.5", "two\nlines"],
]


def _csv_text() -> str:
    def cell(x):
        if x is None:
            return ""
        if isinstance(x, bool):
            return "true" if x else "false"
        s = str(x)
        return f'"{s}"' if ("\n" in s or "," in s) else s
    return "\n".join(",".join(cell(x) for x in r) for r in [HEADER, *ROWS]) + "\n"


def _xlsx(path, rows=ROWS, title="Studies", extra_sheet=True):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = title
    ws.append(HEADER)
    for r in rows:
        ws.append(r)
    if extra_sheet:
        other = wb.create_sheet("Notes")
        other.append(["not", "a", "table"])
    wb.save(path)
    return path


def test_xlsx_and_ods_give_the_csv_frame(tmp_path):
    csv = tmp_path / "t.csv"
    csv.write_text(_csv_text())
    ref = load_studies(csv)
    xl = load_studies(_xlsx(tmp_path / "t.xlsx"))
    pd.testing.assert_frame_equal(ref, xl)
    assert xl.attrs["sheet"] == "Studies"
    ods = tmp_path / "t.ods"
    pd.DataFrame(ROWS, columns=HEADER).to_excel(ods, engine="odf", index=False,
                                                sheet_name="Studies")
    pd.testing.assert_frame_equal(ref, load_studies(ods))
    assert ref["line"].tolist() == [2, 3, 4]
    assert ref.loc[2, "ci_high"] == float("inf") and ref.loc[1, "value_reported"] == "11.54"


def test_xlsx_error_names_sheet_row_and_column(tmp_path):
    rows = [list(r) for r in ROWS]
    rows[1][9] = "85%"  # spreadsheet row 3, column value
    f = _xlsx(tmp_path / "bad.xlsx", rows, title="Review A")
    with pytest.raises(StudyTableError) as info:
        load_studies(f)
    (p,) = info.value.problems
    assert (p.sheet, p.line, p.column) == ("Review A", 3, "value")
    assert "bad.xlsx, sheet 'Review A', row 3, column 'value': '85%'" in str(info.value)


def test_sheet_is_chosen_by_name_and_a_wrong_name_lists_sheets(tmp_path):
    wb = openpyxl.Workbook()
    wb.active.title = "Cover"
    wb.active.append(["this workbook holds the review"])
    ws = wb.create_sheet("Data")
    ws.append(["study_id", "modality", "outcome", "value"])
    ws.append(["kim2021", "RFA", "median_os", 12])
    f = tmp_path / "w.xlsx"
    wb.save(f)
    assert load_studies(f, sheet="Data")["value"].tolist() == [12.0]
    with pytest.raises(StudyTableError, match="no sheet 'Dta'; did you mean 'Data'"):
        load_studies(f, sheet="Dta")
    with pytest.raises(StudyTableError, match="sheet 'Cover'.*no data rows"):
        read_study_table(f)  # the first sheet by default


def test_blank_rows_keep_spreadsheet_numbering_and_unnamed_column_is_named(tmp_path):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["study_id", "modality", "outcome", "value"])
    ws.append([])
    ws.append(["kim2021", "RFA", "median_os", 12])
    ws.append(["lee2022", "RFAA", "median_os", 9])
    f = tmp_path / "gap.xlsx"
    wb.save(f)
    with pytest.raises(StudyTableError) as info:
        load_studies(f)
    (p,) = info.value.problems
    assert (p.line, p.column) == (4, "modality") and "did you mean 'RFA'" in p.message
    ws["F3"] = "stray"
    wb.save(f)
    with pytest.raises(StudyTableError, match="row 1: column F has values but no name"):
        read_study_table(f)


def test_uncomputed_formula_is_named_not_read_as_empty(tmp_path):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["study_id", "modality", "outcome", "events", "total"])
    ws.append(["kim2021", "RFA", "local_progression", "=2+2", 40])
    f = tmp_path / "f.xlsx"
    wb.save(f)  # openpyxl stores no computed value
    with pytest.raises(StudyTableError, match="cell D2 holds a formula whose value was never"):
        read_study_table(f)


def test_cli_sheet_option(tmp_path, capsys):
    f = _xlsx(tmp_path / "t.xlsx")
    assert main(["validate", str(f), "--sheet", "Studies"]) == 0
    assert "(sheet 'Studies'): OK — 3 rows" in capsys.readouterr().out
    assert main(["validate", str(f), "--sheet", "Nope"]) == 2
    assert "no sheet 'Nope'" in capsys.readouterr().err


def test_sheet_for_a_csv_is_refused(tmp_path):
    f = tmp_path / "t.csv"
    f.write_text(_csv_text())
    with pytest.raises(StudyTableError, match="CSV file, which has no sheets"):
        load_studies(f, sheet="Studies")

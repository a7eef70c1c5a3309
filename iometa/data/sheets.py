"""Reading a study table from a spreadsheet: ``.xlsx`` (openpyxl) and ``.ods`` (odfpy).

Part of the study-table loader; :func:`iometa.data.read_study_table` calls :func:`read_sheet`
for these suffixes. CSV stays the reference format: every cell is turned into the text a CSV
export would hold (``0.85``, ``12``, ``true``), so a table gives the same validated frame from
either. Rows are numbered as the spreadsheet numbers them (header = row 1, the first data row
= row 2) and every problem names the sheet and the row. The readers are an optional extra:
``pip install iometa[spreadsheets]``.
"""

from __future__ import annotations

import dataclasses
import datetime
import difflib
import os
from pathlib import Path
from typing import Any

import pandas as pd

from .cells import _clean
from .errors import Problem, StudyTableError, _file_error, _line_problem
from .header import _excel_column, _header_columns

#: suffix -> reader name
SPREADSHEET_SUFFIXES = {".xlsx": "xlsx", ".xlsm": "xlsx", ".ods": "ods"}


def _text(value: Any) -> str:
    """A spreadsheet cell as the text a CSV export would hold."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat()
    return str(value)


def _missing_reader(path: Any, package: str) -> StudyTableError:
    return _file_error(
        path,
        f"reading this spreadsheet needs the package '{package}': "
        "pip install 'iometa[spreadsheets]' (or save the sheet as 'CSV UTF-8')",
    )


def _pick(names: list[str], sheet: str | None, path: Any) -> str:
    if sheet is None:
        return names[0]
    if not isinstance(sheet, str):
        raise TypeError(f"sheet must be a sheet name (text), not {type(sheet).__name__}")
    if sheet in names:
        return sheet
    same = [n for n in names if n.casefold() == sheet.strip().casefold()]
    if same:
        return same[0]
    close = difflib.get_close_matches(sheet, names, n=1, cutoff=0.6)
    hint = f"did you mean '{close[0]}'? " if close else ""
    raise _file_error(path, f"the workbook has no sheet '{sheet}'; {hint}sheets: "
                            + ", ".join(repr(n) for n in names))


def _xlsx(path: Any, sheet: str | None) -> tuple[str, list[list[Any]], list[Problem]]:
    try:
        import openpyxl
    except ImportError:
        raise _missing_reader(path, "openpyxl") from None
    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=False)
    except Exception as exc:  # zip, XML or format errors: the file is not a usable workbook
        raise _file_error(path, f"cannot read this file as an .xlsx workbook ({exc})") from None
    name = _pick(book.sheetnames, sheet, path)
    rows, formulas = [], []
    for r, row in enumerate(book[name].iter_rows(), start=1):
        values = []
        for c, cell in enumerate(row):
            if getattr(cell, "data_type", None) == "f":
                formulas.append((r, c))
            values.append(cell.value)
        rows.append(values)
    book.close()
    problems: list[Problem] = []
    if formulas:  # the value of a formula is the one the spreadsheet program last computed
        cached = openpyxl.load_workbook(path, read_only=True, data_only=True)
        computed = [list(cell.value for cell in row) for row in cached[name].iter_rows()]
        cached.close()
        for r, c in formulas:
            value = computed[r - 1][c] if c < len(computed[r - 1]) else None
            rows[r - 1][c] = value
            if value is None:
                problems.append(Problem(str(path), r, None, None,
                                        f"cell {_excel_column(c)}{r} holds a formula whose value was "
                                        "never computed: open and save the file in a "
                                        "spreadsheet program, or paste the values", name))
    return name, rows, problems


def _ods(path: Any, sheet: str | None) -> tuple[str, list[list[Any]], list[Problem]]:
    try:
        from odf import opendocument, table, teletype
    except ImportError:
        raise _missing_reader(path, "odfpy") from None
    try:
        doc = opendocument.load(str(path))
    except Exception as exc:
        raise _file_error(path, f"cannot read this file as an .ods spreadsheet ({exc})") from None
    sheets = doc.spreadsheet.getElementsByType(table.Table)
    if not sheets:
        raise _file_error(path, "the spreadsheet has no sheet")
    names = [str(s.getAttribute("name")) for s in sheets]
    name = _pick(names, sheet, path)
    node = sheets[names.index(name)]
    rows: list[list[Any]] = []
    for tr in node.getElementsByType(table.TableRow):
        cells: list[Any] = []
        for tc in tr.childNodes:
            if tc.qname[1] not in ("table-cell", "covered-table-cell"):
                continue
            repeat = int(tc.getAttribute("numbercolumnsrepeated") or 1)
            cells.extend([_ods_value(tc, teletype)] * min(repeat, 16384))
        while cells and cells[-1] in (None, ""):
            cells.pop()
        repeat = int(tr.getAttribute("numberrowsrepeated") or 1)
        if not cells:  # blank rows (LibreOffice repeats the last one a million times)
            rows.extend([[]] * min(repeat, 1_048_576 - len(rows)))
        else:
            rows.extend([list(cells) for _ in range(repeat)])
    while rows and not rows[-1]:
        rows.pop()
    return name, rows, []


def _ods_value(tc, teletype) -> Any:
    """The value of an ODS cell: office:value for numbers, the text for everything else."""
    kind = tc.getAttribute("valuetype")
    if kind in ("float", "percentage", "currency"):
        return tc.getAttribute("value")  # the number as stored, e.g. "0.85"
    if kind == "boolean":
        return tc.getAttribute("booleanvalue")
    if kind == "date":
        return tc.getAttribute("datevalue")
    paragraphs = [teletype.extractText(p) for p in tc.childNodes if p.qname[1] == "p"]
    return "\n".join(paragraphs)


def read_sheet(path: Any, sheet: str | None = None) -> tuple[str, list[tuple[int, list[str]]],
                                                             list[Problem]]:
    """(sheet name, [(row number, cells as text)], problems) of a workbook's sheet.

    Blank rows are kept out; rows are numbered as in the spreadsheet (row 1 = first row).

    Example
    -------
    >>> import tempfile, pathlib, openpyxl
    >>> wb = openpyxl.Workbook(); ws = wb.active; ws.title = "Studies"
    >>> ws.append(["study_id", "value"]); ws.append([]); ws.append(["kim2021", 0.85])
    >>> f = pathlib.Path(tempfile.mkdtemp()) / "t.xlsx"; wb.save(f)
    >>> read_sheet(f)
    ('Studies', [(1, ['study_id', 'value']), (3, ['kim2021', '0.85'])], [])
    """
    kind = SPREADSHEET_SUFFIXES[Path(path).suffix.lower()]
    name, rows, problems = (_xlsx if kind == "xlsx" else _ods)(path, sheet)
    records = []
    for r, values in enumerate(rows, start=1):
        cells = [_text(v) for v in values]
        if any(c.strip() for c in cells):
            records.append((r, cells))
    return name, records, problems


def _is_spreadsheet(path: str | os.PathLike) -> bool:
    try:
        return Path(path).suffix.lower() in SPREADSHEET_SUFFIXES
    except TypeError:
        return False


def _read_spreadsheet(path: str | os.PathLike, sheet: str | None) -> pd.DataFrame:
    """A sheet as a frame of raw strings, with the same header checks as a CSV file."""
    name, records, problems = read_sheet(path, sheet)
    where = f"sheet '{name}'"
    if not records:
        raise StudyTableError(problems or [_line_problem(
            path, None, f"{where} is empty: expected a header row (study_id, modality, "
            "outcome, ...) and one row per result", sheet=name)], path=path)
    header_line, header = records[0]
    width = max(len(rec) for _, rec in records)
    names = [_clean(h) for h in header] + [""] * (width - len(header))
    rows = [(ln, rec + [""] * (width - len(rec))) for ln, rec in records[1:]]
    found: list[Problem] = []
    keep = _header_columns(names, rows, header_line, path, found)
    problems += [dataclasses.replace(p, sheet=name) for p in found]
    if not rows and not problems:
        raise _file_error(path, f"{where} has a header row but no data rows: add one row per "
                                "result below it")
    if problems:
        raise StudyTableError(problems, path=path)
    frame = pd.DataFrame(
        {names[j]: pd.array([rec[j] for _, rec in rows], dtype=pd.StringDtype()) for j in keep}
    )
    frame["line"] = pd.array([ln for ln, _ in rows], dtype="Int64")
    frame.attrs.update(path=str(path), sheet=name, delimiter=None, decimal=".",
                       encoding=None)
    return frame

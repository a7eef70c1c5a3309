"""Reading a study-table CSV file into a frame of raw strings.

Part of the study-table loader; :func:`read_study_table` and :func:`default_data_path` are
public through :mod:`iometa.data` (and :mod:`iometa`). Decoding (UTF-8, UTF-16, cp1252 /
Latin-1 fallback), delimiter sniffing and CSV parsing live here; the meaning of the cells is
checked later by :func:`iometa.data.validate_studies`.
"""

from __future__ import annotations

import csv
import io
import os
import warnings
from collections import Counter
from pathlib import Path
from typing import Any

import pandas as pd

from .._warnings import DataWarning
from .cells import _clean
from .errors import (
    Problem,
    StudyTableError,
    _file_error,
    _line_problem,
    _outside_loader,
)
from .fastread import read_csv_fast
from .header import _header_columns
from .sheets import _is_spreadsheet, _read_spreadsheet
from .sniff import (
    _decode_legacy,
    _find_delimiter,
    _is_binary,
    _mixed_encodings,
    _nul_lines,
    _other_format,
    _shifted_number,
    _split_number,
)

_EOF_MARK = "\ue000iometa-end-of-file\ue000"
#: longest cell read (the csv module's default, 131072 characters, is too short for notes)
_FIELD_LIMIT = 2**31 - 1
_SAVE_AS_CSV = "in Excel use File > Save As > 'CSV UTF-8 (comma delimited)'"

#: a row of the file: (line on which it starts, its cells)
_Record = tuple[int, list[str]]


def default_data_path() -> Path:
    """Path of the project's study table.

    ``<repo>/data/studies.csv`` when running from a source checkout, otherwise the copy
    shipped inside the package (``iometa/_data/studies.csv``).

    Example
    -------
    >>> default_data_path().name
    'studies.csv'
    """
    checkout = Path(__file__).resolve().parents[2] / "data" / "studies.csv"
    if checkout.exists():
        return checkout
    from importlib import resources

    return Path(str(resources.files("iometa") / "_data" / "studies.csv"))


# --------------------------------------------------------------------------------------------
# bytes -> text
# --------------------------------------------------------------------------------------------


def _decode(data: bytes, path: Any) -> tuple[str, str]:
    """Bytes -> (text, encoding name); warns when the file is not UTF-8."""
    if data.startswith(b"PK\x03\x04"):  # (keep in step with _plain_head)
        raise _file_error(
            path,
            "this is an Excel workbook (.xlsx) or another zip file, not a CSV file: "
            "give it its own suffix (.xlsx or .ods), which iometa reads directly, or "
            + _SAVE_AS_CSV,
        )
    if data.startswith(b"\xd0\xcf\x11\xe0"):
        raise _file_error(
            path, "this is an old Excel workbook (.xls), not a CSV file: " + _SAVE_AS_CSV
        )
    _other_format(data, path)
    binary = _file_error(
        path,
        "this does not look like a text CSV file (it contains binary data): "
        "save the table as 'CSV UTF-8' from the spreadsheet",
    )
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):  # Excel's "Unicode text" (UTF-16)
        try:
            text, encoding = data.decode("utf-16"), "utf-16"
        except UnicodeDecodeError:
            raise binary from None
    else:
        if b"\x00" in data:
            _nul_lines(data, path)  # a few stray NULs: name their lines
            raise binary
        try:
            text, encoding = data.decode("utf-8-sig"), "utf-8"
        except UnicodeDecodeError:
            first_bad = _mixed_encodings(data, path)  # raises when some lines are UTF-8
            text, encoding = _decode_legacy(data)
            label = "Windows-1252 (cp1252)" if encoding == "cp1252" else "Latin-1"
            warnings.warn(
                f"{path}: the file is not UTF-8 (from line {first_bad}); it was read as "
                f"{label}. Check accented "
                "characters (e.g. author names such as 'Kümler') and save the file as "
                "'CSV UTF-8' to silence this warning.",
                DataWarning,
                stacklevel=_outside_loader(),
            )
    text = text.lstrip("\ufeff")
    if "\x00" in text or _is_binary(text):
        raise binary
    return text, encoding


# --------------------------------------------------------------------------------------------
# text -> records
# --------------------------------------------------------------------------------------------


def _csv_records(text: str, delimiter: str, skip_lines: int, path: Any) -> list[_Record]:
    """Every record of the CSV text, with the end-of-file marker as the last one."""
    body = io.StringIO(text + "\n" + _EOF_MARK, newline="")
    for _ in range(skip_lines):
        body.readline()
    reader = csv.reader(body, delimiter=delimiter, quotechar='"', skipinitialspace=True)
    records: list[_Record] = []
    prev = 0
    limit = csv.field_size_limit(_FIELD_LIMIT)  # a long notes cell (MBs) is still a cell
    try:
        for rec in reader:
            start = skip_lines + prev + 1
            prev = reader.line_num
            records.append((start, rec))
    except csv.Error as exc:
        line = skip_lines + prev + 1
        message = f"cannot read this line as CSV ({exc}); check for a missing closing double quote"
        raise StudyTableError([_line_problem(path, line, message)], path=path) from None
    finally:
        csv.field_size_limit(limit)
    return records


def _close_records(
    records: list[_Record], delimiter: str, path: Any, problems: list[Problem]
) -> int | None:
    """Remove the end-of-file marker; return the line of a quote never closed (or None).

    The marker must come back as its own record; otherwise a quote was never closed and the
    rest of the file was read into the last record, which is kept without the marker.
    """
    last_start, last = records.pop()
    if delimiter.join(last) == _EOF_MARK:  # also when a "sep=" line names a letter of it
        return None
    problems.append(
        _line_problem(
            path,
            last_start,
            'a double quote (") opened on this line is never closed, so the rest of the '
            "file was read as one cell: close the quote or remove it",
        )
    )
    records.append((last_start, [c.replace("\n" + _EOF_MARK, "") for c in last]))
    return last_start


# --------------------------------------------------------------------------------------------
# records -> header and rows
# --------------------------------------------------------------------------------------------


def _fit_rows(
    rows: list[_Record], names: list[str], delimiter: str, path: Any, problems: list[Problem]
) -> list[_Record]:
    """Rows cut or padded to the header's width; extra cells holding data are a problem."""
    width = len(names)
    fixed: list[_Record] = []
    sep = {"\t": "tab", ",": "comma", ";": "semicolon"}.get(delimiter, repr(delimiter))
    usual = Counter(len(rec) for _, rec in rows).most_common(1)[0][0] if rows else width
    for ln, rec in rows:
        if len(rec) > width:
            # extra cells with data, or more cells than the other rows (a cell split by an
            # unquoted comma shifts every later cell, even when the extra one is empty)
            if any(_clean(c) for c in rec[width:]) or len(rec) > max(usual, width):
                split = _split_number(rec, delimiter, names)
                problems.append(
                    _line_problem(
                        path,
                        ln,
                        f"this row has {len(rec)} cells but the header has {width} columns: "
                        + (split or f"a text containing a {sep} must be put in double quotes"),
                    )
                )
            rec = rec[:width]
        elif (shifted := _shifted_number(rec, delimiter, names)) is not None:
            problems.append(_line_problem(path, ln, shifted))
        if len(rec) < width:
            rec = rec + [""] * (width - len(rec))
        fixed.append((ln, rec))
    return fixed


def _swallowed_rows(
    rows: list[_Record],
    names: list[str],
    keep: list[int],
    delimiter: str,
    unclosed: int | None,
    path: Any,
    problems: list[Problem],
) -> None:
    """A quoted cell that swallowed whole rows (a quote closed much later) hides data rows."""
    threshold = max(2, (len(names) - 1) // 2)
    for ln, rec in rows:
        if ln == unclosed:
            continue
        for j in keep:
            cell = rec[j]
            if "\n" in cell or "\r" in cell:
                inner = cell.replace("\r\n", "\n").replace("\r", "\n").split("\n")[1:]
                if any(part.count(delimiter) >= threshold for part in inner):
                    problems.append(
                        _line_problem(
                            path,
                            ln,
                            "this cell spans several lines that look like whole rows: a "
                            "double quote is probably not closed where it should be",
                            column=names[j],
                        )
                    )
                    break


# --------------------------------------------------------------------------------------------
# the public reader
# --------------------------------------------------------------------------------------------


def read_study_table(path: str | os.PathLike, *, sheet: str | None = None) -> pd.DataFrame:
    """Parse a study-table CSV (or spreadsheet) into a frame of raw strings.

    A file ending in ``.xlsx``/``.xlsm`` (openpyxl) or ``.ods`` (odfpy) is read as a
    spreadsheet: the sheet ``sheet`` (default: the first one), every cell as the text a CSV
    export would hold, ``line`` = the spreadsheet row (header = row 1), ``attrs['sheet']``
    its name, and every problem named by sheet and row.

    Handles UTF-8 with or without BOM (falls back to cp1252 / Latin-1 with a
    :class:`~iometa._warnings.DataWarning`), Windows and old-Mac line endings, and comma-,
    semicolon- or tab-separated files (the delimiter is sniffed from the header line; an
    Excel ``sep=;`` first line is honoured). Header names are trimmed; cells are returned
    exactly as written. Entirely empty lines (also ``,,,,`` lines a spreadsheet leaves
    behind) carry no data and are skipped. A ``line`` column (Int64) gives the line on which
    each row starts (header = line 1).

    ``frame.attrs`` records ``path``, ``delimiter``, ``decimal`` (``','`` for a
    semicolon-separated file, whose numbers may use decimal commas) and ``encoding``.

    Raises
    ------
    StudyTableError
        The file is missing, unreadable, binary, empty, has only a header, or rows that do
        not fit the header (every such problem is listed).

    Example
    -------
    >>> import tempfile, pathlib
    >>> tmp = pathlib.Path(tempfile.mkdtemp()) / "t.csv"
    >>> _ = tmp.write_text("study_id;modality;outcome;value\\nA;RFA;median_os;12,5\\n")
    >>> raw = read_study_table(tmp)
    >>> raw.loc[0, "value"], raw.attrs["decimal"]
    ('12,5', ',')
    """
    if _is_spreadsheet(path):
        _read_bytes(path)  # the same messages for a missing file or a folder
        return _read_spreadsheet(path, sheet)
    if sheet is not None:
        raise _file_error(path, f"sheet={sheet!r} was given but this is a CSV file, which "
                                "has no sheets (sheets are read from .xlsx and .ods files)")
    fast = read_csv_fast(path)
    if fast is not None:
        return fast
    text, encoding = _decode(_read_bytes(path), path)
    if not _clean(text.replace("\r", " ").replace("\n", " ")):
        raise _file_error(
            path,
            "the file is empty: expected a header line (study_id, modality, outcome, ...) "
            "followed by one line per result",
        )
    delimiter, skip_lines = _find_delimiter(text, path)
    records = _csv_records(text, delimiter, skip_lines, path)
    problems: list[Problem] = []
    unclosed = _close_records(records, delimiter, path, problems)
    records = [(ln, rec) for ln, rec in records if any(_clean(c) for c in rec)]
    if not records:
        raise (
            StudyTableError(problems, path=path)
            if problems
            else _file_error(path, "the file is empty")
        )
    header_line, header = records[0]
    names = [_clean(h) for h in header]
    rows = _fit_rows(records[1:], names, delimiter, path, problems)
    keep = _header_columns(names, rows, header_line, path, problems)
    _swallowed_rows(rows, names, keep, delimiter, unclosed, path, problems)
    if not rows and not problems:
        raise _file_error(
            path,
            "the file has a header line but no data rows: add one line per result below it",
        )
    if problems:
        raise StudyTableError(problems, path=path)
    frame = pd.DataFrame(
        {names[j]: pd.array([rec[j] for _, rec in rows], dtype=pd.StringDtype()) for j in keep}
    )
    frame["line"] = pd.array([ln for ln, _ in rows], dtype="Int64")
    frame.attrs.update(
        path=str(path),
        delimiter=delimiter,
        decimal="," if delimiter == ";" else ".",
        encoding=encoding,
    )
    return frame


def _read_bytes(path: str | os.PathLike) -> bytes:
    """The file's bytes, or a StudyTableError saying why they cannot be read."""
    try:
        p = Path(path)
    except TypeError:
        raise TypeError(f"path must be a file path, not {type(path).__name__}") from None
    if not p.exists():
        raise _file_error(path, f"file not found: {p.resolve()} — check the file name and folder")
    if p.is_dir():
        raise _file_error(path, "this is a folder, not a CSV file")
    try:
        return p.read_bytes()
    except OSError as exc:
        raise _file_error(path, f"the file cannot be read ({exc.strerror or exc})") from None


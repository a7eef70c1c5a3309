"""The study table: read, validate and type the CSV of extracted study results.

Clinicians build the study table in a spreadsheet; this module turns that CSV into a typed
:class:`pandas.DataFrame` or explains, line by line, what has to be fixed. Every problem in a
file is collected and reported at once (never only the first), and no row is ever dropped
silently: the loader returns every data row of the file or raises :class:`StudyTableError`.

Public names
------------
:func:`load_studies`
    Read and validate a CSV file (the project table by default).
:func:`read_study_table`
    Parse a CSV file into a frame of raw strings (encoding, delimiter and shape checks only).
:func:`validate_studies`
    Check a frame (raw strings or already typed) and return the typed frame.
:func:`default_data_path`
    Where the project table lives.
:func:`outcome_kind`
    ``'proportion'`` or ``'duration'`` for an outcome code.
:func:`select`
    The rows of one outcome, optionally filtered by modality, site, timepoint, ...
:class:`StudyTableError`, :class:`Problem`
    The error raised for an invalid table, and one entry of its list of problems.

The allowed values of the categorical columns come from :mod:`iometa.vocabulary` and are
read at call time, so entries added there are accepted without touching this module.

Example
-------
>>> import pandas as pd
>>> raw = pd.DataFrame({
...     "study_id": ["smith2019", "lee2020"],
...     "modality": ["rfa ", "MWA"],
...     "outcome": ["local_progression", "local_progression"],
...     "events": ["4", "6"],
...     "total": ["40", "52"],
... })
>>> df = validate_studies(raw)
>>> df["modality"].tolist()
['RFA', 'MWA']
>>> df["line"].tolist()
[2, 3]
"""

from __future__ import annotations

import csv
import datetime
import difflib
import io
import math
import os
import re
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from iometa import vocabulary as _voc
from iometa._warnings import DataWarning

__all__ = [
    "COLUMNS",
    "REQUIRED_COLUMNS",
    "PROVENANCE_COLUMNS",
    "MISSING_SPELLINGS",
    "Problem",
    "StudyTableError",
    "default_data_path",
    "read_study_table",
    "validate_studies",
    "load_studies",
    "outcome_kind",
    "select",
]

# --------------------------------------------------------------------------------------------
# schema
# --------------------------------------------------------------------------------------------

#: Columns of the project table, in order.
COLUMNS: tuple[str, ...] = (
    "study_id",
    "author",
    "author_in_text",
    "year",
    "source",
    "ref_no",
    "modality",
    "site",
    "primary",
    "design",
    "n_patients",
    "n_lesions",
    "unit_of_analysis",
    "outcome",
    "subgroup",
    "timepoint_months",
    "events",
    "total",
    "value",
    "value_type",
    "ci_low",
    "ci_high",
    "unit",
    "derived",
    "value_reported",
    "unit_reported",
    "lesion_size_cm",
    "quote",
    "notes",
)

#: Columns every table must have (plus ``value``, or ``events`` and ``total``).
REQUIRED_COLUMNS: tuple[str, ...] = ("study_id", "modality", "outcome")

#: Columns the project table (``strict=True``) must also have: where each number came from.
PROVENANCE_COLUMNS: tuple[str, ...] = (
    "author",
    "year",
    "source",
    "design",
    "unit_of_analysis",
    "unit",
    "quote",
)

_TEXT = frozenset(
    {
        "study_id",
        "author",
        "author_in_text",
        "source",
        "subgroup",
        "value_reported",
        "quote",
        "notes",
    }
)
#: categorical column -> name of its vocabulary in :mod:`iometa.vocabulary`
_CATEGORICAL: dict[str, str] = {
    "modality": "MODALITIES",
    "site": "SITES",
    "primary": "PRIMARIES",
    "design": "DESIGNS",
    "unit_of_analysis": "UNITS_OF_ANALYSIS",
    "outcome": "OUTCOMES",
    "unit": "UNITS",
    "unit_reported": "UNITS_REPORTED",
    "value_type": "VALUE_TYPES",
}
_INT = ("year", "ref_no", "n_patients", "n_lesions", "events", "total")
_FLOAT = ("timepoint_months", "value", "ci_low", "ci_high", "lesion_size_cm")
_BOOL = ("derived",)
_COLUMN_ORDER = {c: i for i, c in enumerate(COLUMNS)}

#: Cell spellings read as "missing" (case-insensitive, after trimming).
MISSING_SPELLINGS: frozenset[str] = frozenset(
    {"", "na", "n/a", "nr", "not reported", "-", "\u2014", "\u2013", ".", "none", "nan"}
)
_TRUE = frozenset({"true", "yes", "y", "t", "1", "1.0"})
_FALSE = frozenset({"false", "no", "n", "f", "0", "0.0"})

#: unit that ``value`` must have for each outcome kind
_UNIT_OF_KIND = {"proportion": "proportion", "duration": "months", "score": "points"}
#: |value - events/total| allowed (values are usually rounded to 2 decimals in papers)
_CONSISTENCY_TOL = 0.005 + 1e-9
_MAX_INT = 2**53


# --------------------------------------------------------------------------------------------
# problems and the error
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """One problem found in a study table.

    Attributes
    ----------
    file : str or None
        The file the table was read from (None for a frame built in memory).
    line : int or None
        The CSV line number (header = line 1; equals the spreadsheet row number), or None for
        a problem with the whole file or a whole column.
    column : str or None
        The column concerned, if any.
    value : str or None
        The offending cell as written (trimmed), if any.
    message : str
        What is wrong and what was expected.

    Example
    -------
    >>> print(Problem("studies.csv", 14, "events", "52", "events must not exceed total (51)"))
    studies.csv, line 14, column 'events': '52' — events must not exceed total (51)
    """

    file: str | None
    line: int | None
    column: str | None
    value: str | None
    message: str

    def __str__(self) -> str:
        where = []
        if self.file:
            where.append(Path(self.file).name or str(self.file))
        if self.line is not None:
            where.append(f"line {self.line}")
        if self.column is not None:
            where.append(f"column '{self.column}'")
        if self.value is not None:
            shown = self.value if len(self.value) <= 80 else self.value[:77] + "..."
            body = f"{shown!r} — {self.message}"
        else:
            body = self.message
        return f"{', '.join(where)}: {body}" if where else body


def _problem_sort_key(p: Problem) -> tuple:
    line = -1 if p.line is None else p.line
    if p.column is None:
        col: tuple = (-1, "")
    else:
        col = (_COLUMN_ORDER.get(p.column, len(COLUMNS)), p.column)
    return (line, col, p.message)


class StudyTableError(ValueError):
    """A study table that cannot be used, with every problem found.

    ``str(error)`` is a report a clinician can act on: a header line
    (``"studies.csv: 3 problems found"``) and one line per problem, sorted by line and column.

    Attributes
    ----------
    problems : list of Problem
        Every problem, sorted by line then column.
    path : str, os.PathLike or None
        The file concerned (None for a frame validated in memory).
    """

    def __init__(self, problems: Iterable[Problem], path: str | os.PathLike | None = None):
        self.problems: list[Problem] = sorted(problems, key=_problem_sort_key)
        self.path = path
        super().__init__(self._render())

    def _render(self) -> str:
        n = len(self.problems)
        name = str(self.path) if self.path is not None else "study table"
        head = f"{name}: {n} problem{'' if n == 1 else 's'} found"
        return "\n".join([head, *(str(p) for p in self.problems)])

    def __str__(self) -> str:
        return self._render()

    def __reduce__(self):  # keep the error picklable (e.g. across multiprocessing)
        return (type(self), (self.problems, self.path))


def _file_error(path: Any, message: str) -> StudyTableError:
    return StudyTableError([Problem(str(path), None, None, None, message)], path=path)


# --------------------------------------------------------------------------------------------
# small helpers
# --------------------------------------------------------------------------------------------

_INVISIBLE = "\u200b\ufeff\u2060"


def _clean(s: str) -> str:
    """Trim whitespace (incl. non-breaking and zero-width spaces) from both ends."""
    s = s.strip()
    while s and (s[0] in _INVISIBLE or s[-1] in _INVISIBLE):
        s = s.strip(_INVISIBLE).strip()
    return s


def _is_na(x: Any) -> bool:
    if x is None or x is pd.NA or x is pd.NaT:
        return True
    if isinstance(x, (float, np.floating)):
        return bool(np.isnan(x))
    return False


def _fmt(x: float | int | None) -> str:
    """A number as a clinician would write it (12, 0.85, 0.255)."""
    if x is None:
        return "…"
    if isinstance(x, (int, np.integer)):
        return str(int(x))
    if math.isinf(x):
        return "not reached" if x > 0 else "-inf"
    if float(x).is_integer() and abs(x) < 1e15:
        return str(int(x))
    return f"{x:.6g}"


def _display(cell: Any) -> str | None:
    """The cell as shown in a problem message."""
    if _is_na(cell):
        return None
    if isinstance(cell, str):
        return _clean(cell)
    if isinstance(cell, (bool, np.bool_)):
        return str(bool(cell)).lower()
    if isinstance(cell, (int, float, np.integer, np.floating)):
        return _fmt(cell)
    return str(cell)


def _vocabulary(column: str) -> tuple[str, ...]:
    """Allowed values of a categorical column, read from iometa.vocabulary at call time."""
    vocab = getattr(_voc, _CATEGORICAL[column])
    return tuple(dict.fromkeys(vocab))  # keys of OUTCOMES; de-duplicated, order kept


def _match(value: str, vocab: Sequence[str]) -> str | None:
    """Canonical spelling of value in vocab: exact, then case-insensitive; None if absent."""
    if value in vocab:
        return value
    key = value.casefold()
    for v in vocab:
        if v.casefold() == key:
            return v
    return None


def _suggest(value: str, vocab: Sequence[str]) -> str | None:
    folded = {v.casefold(): v for v in vocab}
    close = difflib.get_close_matches(value.casefold(), list(folded), n=1, cutoff=0.6)
    return folded[close[0]] if close else None


def _unknown_message(what: str, value: str, vocab: Sequence[str]) -> str:
    guess = _suggest(value, vocab)
    if guess is not None:
        return f"unknown {what}; did you mean '{guess}'?"
    return f"unknown {what}; allowed: {', '.join(vocab)}"


def _lines_text(lines: Sequence[int]) -> str:
    """[3] -> 'line 3'; [2, 5] -> 'lines 2, 5'."""
    return ("line " if len(lines) == 1 else "lines ") + ", ".join(str(n) for n in lines)


def _excel_column(i: int) -> str:
    """0 -> 'A', 25 -> 'Z', 26 -> 'AA' (the spreadsheet's column letter)."""
    name = ""
    i += 1
    while i:
        i, r = divmod(i - 1, 26)
        name = chr(65 + r) + name
    return name


# --------------------------------------------------------------------------------------------
# cell parsers
# --------------------------------------------------------------------------------------------

_MISSING, _NUMBER, _NOT_REACHED, _BAD = range(4)

_NUM = r"[+-]?(?:\d+(?:[.,]\d*)?|[.,]\d+)"
_NUMBER_RE = re.compile(r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$")
_COMMA_DECIMAL_RE = re.compile(r"^[+-]?\d*,\d+$")
_NOT_REACHED_RE = re.compile(
    r"^(?:nr\s*\(\s*)?not\s+(?:yet\s+)?reached\s*\)?$|^\+?inf(?:inity)?$", re.IGNORECASE
)
_PERCENT_RE = re.compile(rf"^({_NUM})\s*%$")
_FRACTION_RE = re.compile(r"^\d+\s*/\s*\d+$")
_CI_RE = re.compile(rf"^{_NUM}\s*%?\s*[\(\[]")
_RANGE_RE = re.compile(rf"^{_NUM}\s*(?:[-\u2013\u2014]|to)\s*[+-]?[\d.,]")
_COMPARATOR_RE = re.compile(r"^(?:[<>\u2264\u2265~\u2248]|approx)", re.IGNORECASE)
_WITH_UNIT_RE = re.compile(rf"^{_NUM}\s*[^\W\d_]")


def _parse_float(cell: Any, decimal_comma: bool) -> tuple[int, float | None, str | None]:
    """Return (status, number, detail); detail names the kind of bad input."""
    if _is_na(cell):
        return _MISSING, None, None
    if isinstance(cell, (bool, np.bool_)):
        return _BAD, None, "text"
    if isinstance(cell, (int, float, np.integer, np.floating)):
        x = float(cell)
        if math.isnan(x):
            return _MISSING, None, None
        if x == math.inf:
            return _NOT_REACHED, x, None
        if math.isinf(x):
            return _BAD, None, "text"
        return _NUMBER, x, None
    s = _clean(str(cell))
    if s.casefold() in MISSING_SPELLINGS:
        return _MISSING, None, None
    if _NOT_REACHED_RE.match(s):
        return _NOT_REACHED, math.inf, None
    t = s.replace("\u2212", "-")  # the typographic minus sign of papers
    if decimal_comma and _COMMA_DECIMAL_RE.match(t):
        t = t.replace(",", ".")
    if _NUMBER_RE.match(t):
        x = float(t)
        if not math.isfinite(x):
            return _BAD, None, "text"
        return _NUMBER, x, None
    m = _PERCENT_RE.match(t)
    if m:
        num = m.group(1).replace(",", ".")
        try:
            return _BAD, float(num), "percent"
        except ValueError:  # pragma: no cover - the regex admits only numbers
            return _BAD, None, "text"
    for detail, rx in (
        ("fraction", _FRACTION_RE),
        ("ci", _CI_RE),
        ("range", _RANGE_RE),
        ("comparator", _COMPARATOR_RE),
        ("comma", _COMMA_DECIMAL_RE),
        ("unit", _WITH_UNIT_RE),
    ):
        if rx.match(t):
            return _BAD, None, detail
    return _BAD, None, "text"


def _number_message(
    column: str, detail: str, number: float | None, shown: str, kind: str | None
) -> str:
    """What to write instead of a cell that is not a number."""
    count = column in _INT
    estimate = column in ("value", "ci_low", "ci_high")
    if detail == "percent":
        if estimate and kind in ("proportion", None):
            return f"expected a proportion 0–1: write {_fmt(number / 100)}, not {shown}"
        if estimate and kind == "duration":
            return "expected a number of months, not a percentage"
        if count:
            return "expected a whole number (a count), not a percentage"
        return "expected a number, not a percentage"
    if detail == "fraction":
        if column in ("events", "total"):
            return (
                "expected a whole number; write the numerator in `events` "
                "and the denominator in `total`"
            )
        if column == "value":
            return (
                "expected a number; write the counts in `events` and `total`, "
                "or the proportion in `value`"
            )
        return "expected a number, not a fraction"
    if detail == "ci":
        return "expected a single number; put the confidence interval in `ci_low` and `ci_high`"
    if detail == "range":
        return "expected a single number, not a range"
    if detail == "comparator":
        return "expected a number without '<', '>' or '~' (write the qualifier in `notes`)"
    if detail == "comma":
        return f"expected a number with a decimal point: write {shown.replace(',', '.')}"
    if detail == "unit":
        if estimate:
            return "expected a number; put the unit in `unit`"
        if column == "timepoint_months":
            return (
                "expected a number of months, without the unit (convert weeks or years to months)"
            )
        if column == "lesion_size_cm":
            return "expected a number of centimetres, without the unit"
        if count:
            return "expected a whole number, without a unit"
        return "expected a number, without a unit"
    if detail == "not_reached":
        return (
            "expected a number ('not reached' is allowed only in `ci_high`, "
            "or in `value` of a duration outcome)"
        )
    if detail == "whole":
        return "expected a whole number"
    if detail == "large":
        return "number too large"
    if column == "year":
        return "expected a 4-digit year"
    return "expected a whole number" if count else "expected a number"


def _parse_bool(cell: Any) -> tuple[int, bool | None]:
    if _is_na(cell):
        return _MISSING, None
    if isinstance(cell, (bool, np.bool_)):
        return _NUMBER, bool(cell)
    if isinstance(cell, (int, float, np.integer, np.floating)):
        if cell in (0, 1):
            return _NUMBER, bool(cell)
        return _BAD, None
    s = _clean(str(cell)).casefold()
    if s in _TRUE:
        return _NUMBER, True
    if s in _FALSE:
        return _NUMBER, False
    if s in MISSING_SPELLINGS:
        return _MISSING, None
    return _BAD, None


def _parse_text(cell: Any) -> str | None:
    if _is_na(cell):
        return None
    s = _display(cell) or ""
    return None if s.casefold() in MISSING_SPELLINGS else s


# --------------------------------------------------------------------------------------------
# reading
# --------------------------------------------------------------------------------------------

_EOF_MARK = "\ue000iometa-end-of-file\ue000"


def default_data_path() -> Path:
    """Path of the project's study table.

    ``<repo>/data/studies.csv`` when running from a source checkout, otherwise the copy
    shipped inside the package (``iometa/_data/studies.csv``).

    Example
    -------
    >>> default_data_path().name
    'studies.csv'
    """
    checkout = Path(__file__).resolve().parents[1] / "data" / "studies.csv"
    if checkout.exists():
        return checkout
    from importlib import resources

    return Path(str(resources.files("iometa") / "_data" / "studies.csv"))


def _decode(data: bytes, path: Any) -> tuple[str, str]:
    """Bytes -> (text, encoding name); warns when the file is not UTF-8."""
    if data.startswith(b"PK\x03\x04"):
        raise _file_error(
            path,
            "this is an Excel workbook (.xlsx) or another zip file, not a CSV file: "
            "in Excel use File > Save As > 'CSV UTF-8 (comma delimited)'",
        )
    if data.startswith(b"\xd0\xcf\x11\xe0"):
        raise _file_error(
            path,
            "this is an old Excel workbook (.xls), not a CSV file: "
            "in Excel use File > Save As > 'CSV UTF-8 (comma delimited)'",
        )
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
            raise binary
        try:
            text, encoding = data.decode("utf-8-sig"), "utf-8"
        except UnicodeDecodeError:
            body = data[3:] if data.startswith(b"\xef\xbb\xbf") else data
            try:
                text, encoding = body.decode("cp1252"), "cp1252"
            except UnicodeDecodeError:
                text, encoding = body.decode("latin-1"), "latin-1"
            label = "Windows-1252 (cp1252)" if encoding == "cp1252" else "Latin-1"
            warnings.warn(
                f"{path}: the file is not UTF-8; it was read as {label}. Check accented "
                "characters (e.g. author names such as 'Kümler') and save the file as "
                "'CSV UTF-8' to silence this warning.",
                DataWarning,
                stacklevel=3,
            )
    text = text.lstrip("\ufeff")
    if "\x00" in text:
        raise binary
    controls = sum(1 for ch in text if (ord(ch) < 32 and ch not in "\t\n\r") or ch == "\x7f")
    if controls > 3 and controls > 0.03 * len(text):  # a few stray ones are tolerated
        raise binary
    return text, encoding


def _sniff_delimiter(line: str) -> str:
    """The delimiter of a header line: the most frequent of ',', ';', tab outside quotes."""
    counts = {",": 0, ";": 0, "\t": 0}
    quoted = False
    for ch in line:
        if ch == '"':
            quoted = not quoted
        elif not quoted and ch in counts:
            counts[ch] += 1
    best = max(counts.values())
    if best == 0:
        return ","
    return next(d for d in (",", ";", "\t") if counts[d] == best)


def read_study_table(path: str | os.PathLike) -> pd.DataFrame:
    """Parse a study-table CSV into a frame of raw strings.

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
    try:
        p = Path(path)
    except TypeError:
        raise TypeError(f"path must be a file path, not {type(path).__name__}") from None
    if not p.exists():
        raise _file_error(path, f"file not found: {p.resolve()} — check the file name and folder")
    if p.is_dir():
        raise _file_error(path, "this is a folder, not a CSV file")
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise _file_error(path, f"the file cannot be read ({exc.strerror or exc})") from None
    text, encoding = _decode(data, path)
    if not _clean(text.replace("\r", " ").replace("\n", " ")):
        raise _file_error(
            path,
            "the file is empty: expected a header line (study_id, modality, outcome, ...) "
            "followed by one line per result",
        )

    # the delimiter: an Excel "sep=;" line, or sniffed from the first non-blank line
    physical = io.StringIO(text, newline="").readlines()
    first = next(i for i, ln in enumerate(physical) if _clean(ln))
    skip_lines = first
    m = re.match(r"^\s*sep=(.)\s*$", physical[first], re.IGNORECASE)
    if m:
        delimiter = m.group(1)
        skip_lines = first + 1
    else:
        delimiter = _sniff_delimiter(physical[first])

    body = io.StringIO(text + "\n" + _EOF_MARK, newline="")
    for _ in range(skip_lines):
        body.readline()
    reader = csv.reader(body, delimiter=delimiter, quotechar='"', skipinitialspace=True)
    records: list[tuple[int, list[str]]] = []
    problems: list[Problem] = []
    prev = 0
    try:
        for rec in reader:
            start = skip_lines + prev + 1
            prev = reader.line_num
            records.append((start, rec))
    except csv.Error as exc:
        line = skip_lines + prev + 1
        raise StudyTableError(
            [
                Problem(
                    str(path),
                    line,
                    None,
                    None,
                    f"cannot read this line as CSV ({exc}); check for a missing closing "
                    "double quote",
                )
            ],
            path=path,
        ) from None

    # the end-of-file marker must come back as its own record; otherwise a quote never closed
    last_start, last = records.pop()
    unclosed = None
    if last != [_EOF_MARK]:
        unclosed = last_start
        problems.append(
            Problem(
                str(path),
                last_start,
                None,
                None,
                'a double quote (") opened on this line is never closed, so the rest of the '
                "file was read as one cell: close the quote or remove it",
            )
        )
        records.append((last_start, [c.replace("\n" + _EOF_MARK, "") for c in last]))

    def blank(rec: list[str]) -> bool:
        return all(not _clean(c) for c in rec)

    records = [(ln, rec) for ln, rec in records if not blank(rec)]
    if not records:
        raise (
            StudyTableError(problems, path=path)
            if problems
            else _file_error(path, "the file is empty")
        )
    header_line, header = records[0]
    rows = records[1:]
    names = [_clean(h) for h in header]
    width = len(names)

    # data rows must fit the header; trailing empty cells beyond it are harmless
    fixed: list[tuple[int, list[str]]] = []
    for ln, rec in rows:
        if len(rec) > width:
            extra = rec[width:]
            if any(_clean(c) for c in extra):
                sep = {"\t": "tab", ",": "comma", ";": "semicolon"}.get(delimiter, repr(delimiter))
                problems.append(
                    Problem(
                        str(path),
                        ln,
                        None,
                        None,
                        f"this row has {len(rec)} cells but the header has {width} columns: "
                        f"a text containing a {sep} must be put in double quotes",
                    )
                )
            rec = rec[:width]
        elif len(rec) < width:
            rec = rec + [""] * (width - len(rec))
        fixed.append((ln, rec))

    # header names: no blanks with data under them, no duplicates, 'line' is reserved
    keep: list[int] = []
    seen: dict[str, int] = {}
    for j, name in enumerate(names):
        if not name:
            if any(_clean(rec[j]) for _, rec in fixed):
                problems.append(
                    Problem(
                        str(path),
                        header_line,
                        None,
                        None,
                        f"column {_excel_column(j)} has values but no name in the header line",
                    )
                )
            continue
        if name.casefold() == "line":
            problems.append(
                Problem(
                    str(path),
                    header_line,
                    name,
                    None,
                    "the column name 'line' is reserved for line numbers: rename this column",
                )
            )
            continue
        if name in seen:
            problems.append(
                Problem(
                    str(path),
                    header_line,
                    name,
                    None,
                    f"column name appears twice (columns {_excel_column(seen[name])} "
                    f"and {_excel_column(j)})",
                )
            )
            continue
        seen[name] = j
        keep.append(j)

    # a quoted cell that swallowed whole rows (a quote closed much later) hides data rows
    threshold = max(2, (width - 1) // 2)
    for ln, rec in fixed:
        if ln == unclosed:
            continue
        for j in keep:
            cell = rec[j]
            if "\n" in cell or "\r" in cell:
                inner = cell.replace("\r\n", "\n").replace("\r", "\n").split("\n")[1:]
                if any(part.count(delimiter) >= threshold for part in inner):
                    problems.append(
                        Problem(
                            str(path),
                            ln,
                            names[j],
                            None,
                            "this cell spans several lines that look like whole rows: a "
                            "double quote is probably not closed where it should be",
                        )
                    )
                    break

    if not fixed and not problems:
        raise _file_error(
            path,
            "the file has a header line but no data rows: add one line per result below it",
        )
    if problems:
        raise StudyTableError(problems, path=path)

    frame = pd.DataFrame(
        {names[j]: pd.array([rec[j] for _, rec in fixed], dtype=pd.StringDtype()) for j in keep}
    )
    frame["line"] = pd.array([ln for ln, _ in fixed], dtype="Int64")
    frame.attrs.update(
        path=str(path),
        delimiter=delimiter,
        decimal="," if delimiter == ";" else ".",
        encoding=encoding,
    )
    return frame


# --------------------------------------------------------------------------------------------
# validation
# --------------------------------------------------------------------------------------------


class _Validator:
    """Collects every problem of one table; builds the typed frame if there are none."""

    def __init__(self, df: pd.DataFrame, file: str | None, strict: bool, decimal_comma: bool):
        self.df = df
        self.file = file
        self.strict = strict
        self.decimal_comma = decimal_comma
        self.n = len(df)
        self.problems: list[Problem] = []
        self.warnings: list[str] = []
        self.cells: dict[str, list[Any]] = {}  # schema column -> raw cells
        self.present: set[str] = set()
        self.extras: dict[str, pd.Series] = {}
        self.values: dict[str, list[Any]] = {}  # schema column -> parsed values (None = missing)
        self.bad: dict[str, set[int]] = {c: set() for c in COLUMNS}
        self.vocab = {c: _vocabulary(c) for c in _CATEGORICAL}

    # -- bookkeeping ---------------------------------------------------------------------
    def add(self, i: int | None, column: str | None, value: str | None, message: str) -> None:
        line = None if i is None else self.lines[i]
        self.problems.append(Problem(self.file, line, column, value, message))

    def shown(self, col: str, i: int) -> str | None:
        return _display(self.cells[col][i])

    # -- columns -------------------------------------------------------------------------
    def columns(self) -> None:
        folded = {c.casefold(): c for c in COLUMNS}
        line_col: pd.Series | None = None
        taken: dict[str, Any] = {}
        for pos, name in enumerate(self.df.columns):
            raw_name = str(name)
            clean = _clean(raw_name)
            canon = folded.get(clean.casefold())
            series = self.df.iloc[:, pos]
            key = canon if canon is not None else clean
            if clean.casefold() == "line":
                line_col = series
                continue
            if key in taken:
                self.problems.append(
                    Problem(
                        self.file,
                        None,
                        key,
                        None,
                        f"column '{key}' appears twice (as {taken[key]!r} and {raw_name!r})",
                    )
                )
                continue
            taken[key] = raw_name
            if canon is not None:
                self.present.add(canon)
                self.cells[canon] = series.tolist()
            else:
                self.extras[clean] = series.reset_index(drop=True)
        self.lines = self._line_numbers(line_col)
        for col in COLUMNS:
            if col not in self.cells:
                self.cells[col] = [None] * self.n

        missing_by_col = {}
        for col in REQUIRED_COLUMNS + (PROVENANCE_COLUMNS if self.strict else ()):
            if col not in self.present:
                missing_by_col[col] = "required" if col in REQUIRED_COLUMNS else "provenance"
        for col, why in missing_by_col.items():
            msg = f"required column '{col}' is missing"
            if why == "provenance":
                msg = (
                    f"column '{col}' is required in the project table (provenance of every number)"
                )
            typo = difflib.get_close_matches(col, list(self.extras), n=1, cutoff=0.75)
            if typo:
                msg += f" (the file has a column '{typo[0]}': a misspelling?)"
            self.add(None, col, None, msg)
        if "value" not in self.present and not {"events", "total"} <= self.present:
            absent = [c for c in ("events", "total") if c not in self.present]
            self.add(
                None,
                "value",
                None,
                "the table needs a 'value' column, or 'events' and 'total' columns "
                f"(missing: 'value', {', '.join(repr(c) for c in absent)})",
            )
        for name in self.extras:
            typo = difflib.get_close_matches(
                name.casefold(), [c for c in COLUMNS if c not in self.present], n=1, cutoff=0.8
            )
            if typo:
                self.warnings.append(
                    f"unknown column '{name}' kept as it is; did you mean '{typo[0]}'? "
                    f"(column '{typo[0]}' is empty)"
                )

    def _line_numbers(self, line_col: pd.Series | None) -> list[int]:
        if line_col is not None:
            try:
                nums = pd.to_numeric(line_col, errors="raise").astype("Float64")
                if (
                    not nums.isna().any()
                    and (nums % 1 == 0).all()
                    and (nums.abs() < _MAX_INT).all()
                ):
                    return [int(x) for x in nums]
            except (ValueError, TypeError):
                pass
        idx = self.df.index
        if pd.api.types.is_integer_dtype(idx.dtype) and idx.is_unique:
            return [int(i) + 2 for i in idx]
        return list(range(2, self.n + 2))

    # -- cells ---------------------------------------------------------------------------
    def parse_cells(self) -> None:
        for col in COLUMNS:
            if col in _TEXT:
                self.values[col] = [_parse_text(c) for c in self.cells[col]]
            elif col in _CATEGORICAL:
                self._categorical(col)
        self.kinds = [
            None if code is None else _voc.OUTCOMES.get(code) for code in self.values["outcome"]
        ]
        for col in _INT:
            self._integer(col)
        for col in _FLOAT:
            self._float(col)
        vals = []
        for i, cell in enumerate(self.cells["derived"]):
            status, b = _parse_bool(cell)
            if status == _BAD:
                self.bad["derived"].add(i)
                self.add(i, "derived", _display(cell), "expected true or false (yes/no, 1/0)")
            vals.append(b)
        self.values["derived"] = vals

    def _categorical(self, col: str) -> None:
        vocab = self.vocab[col]
        what = "outcome code" if col == "outcome" else col.replace("_", " ")
        out: list[str | None] = []
        for i, cell in enumerate(self.cells[col]):
            text = _parse_text(cell)
            if text is None:
                out.append(None)
                continue
            canon = _match(text, vocab)
            if canon is None:
                self.bad[col].add(i)
                self.add(i, col, text, _unknown_message(what, text, vocab))
            out.append(canon)
        self.values[col] = out

    def _integer(self, col: str) -> None:
        out: list[int | None] = []
        for i, cell in enumerate(self.cells[col]):
            status, x, detail = _parse_float(cell, self.decimal_comma)
            if status == _NOT_REACHED:
                status, detail = _BAD, "not_reached"
            elif status == _NUMBER and not float(x).is_integer():
                status, detail = _BAD, "whole"
            elif status == _NUMBER and abs(x) >= _MAX_INT:
                status, detail = _BAD, "large"
            if status == _BAD:
                self.bad[col].add(i)
                shown = _display(cell) or ""
                self.add(i, col, shown, _number_message(col, detail, x, shown, None))
                out.append(None)
            else:
                out.append(None if x is None else int(x))
        self.values[col] = out

    def _float(self, col: str) -> None:
        out: list[float | None] = []
        for i, cell in enumerate(self.cells[col]):
            status, x, detail = _parse_float(cell, self.decimal_comma)
            kind = self.kinds[i]
            if status == _NOT_REACHED:
                allowed = col == "ci_high" or (col == "value" and kind in ("duration", None))
                if not allowed:
                    if col == "value":
                        status, detail = _BAD, None
                        self.bad[col].add(i)
                        self.add(
                            i,
                            col,
                            _display(cell),
                            f"'not reached' applies only to a duration outcome (e.g. median_os), "
                            f"not to '{self.values['outcome'][i]}' (a {kind})",
                        )
                        out.append(None)
                        continue
                    status, detail = _BAD, "not_reached"
            if status == _BAD:
                self.bad[col].add(i)
                shown = _display(cell) or ""
                self.add(i, col, shown, _number_message(col, detail, x, shown, kind))
                out.append(None)
            else:
                out.append(x)
        self.values[col] = out

    # -- rows ----------------------------------------------------------------------------
    def rows(self) -> None:
        V = self.values
        this_year = datetime.date.today().year
        for i in range(self.n):
            kind = self.kinds[i]
            outcome = V["outcome"][i]

            for col in REQUIRED_COLUMNS:
                if col in self.present and V[col][i] is None and i not in self.bad[col]:
                    self.add(i, col, None, f"empty: {col} is required in every row")

            # a result: value, or events and total
            val, ev, tot = V["value"][i], V["events"][i], V["total"][i]
            has_val = val is not None or i in self.bad["value"]
            has_ev = ev is not None or i in self.bad["events"]
            has_tot = tot is not None or i in self.bad["total"]
            if not has_val:
                if kind == "duration":
                    self.add(
                        i,
                        "value",
                        None,
                        f"empty: outcome '{outcome}' is a duration and needs its value in months",
                    )
                elif not has_ev and not has_tot:
                    if "value" in self.present or {"events", "total"} <= self.present:
                        self.add(
                            i, "value", None, "no result: give `value`, or `events` and `total`"
                        )
                elif not has_tot:
                    self.add(
                        i, "total", None, "empty: `events` needs a `total` when `value` is empty"
                    )
                elif not has_ev:
                    self.add(
                        i, "events", None, "empty: `total` needs `events` when `value` is empty"
                    )

            # counts
            for col in ("n_patients", "total"):
                x = V[col][i]
                if x is not None and x < 0:
                    self.add(i, col, self.shown(col, i), f"{col} must not be negative")
                    self.bad[col].add(i)
                elif x == 0:
                    self.add(i, col, self.shown(col, i), f"{col} must be greater than 0")
                    self.bad[col].add(i)
            for col in ("events", "n_lesions"):
                x = V[col][i]
                if x is not None and x < 0:
                    self.add(i, col, self.shown(col, i), f"{col} must not be negative")
                    self.bad[col].add(i)
            x = V["ref_no"][i]
            if x is not None and x <= 0:
                self.add(
                    i, "ref_no", self.shown("ref_no", i), "ref_no must be a positive whole number"
                )
            x = V["year"][i]
            if x is not None and not 1900 <= x <= this_year + 1:
                self.add(i, "year", self.shown("year", i), "expected a 4-digit year of publication")
            ok_ev = ev is not None and i not in self.bad["events"]
            ok_tot = tot is not None and i not in self.bad["total"]
            if ok_ev and ok_tot and ev > tot:
                self.add(
                    i, "events", self.shown("events", i), f"events must not exceed total ({tot})"
                )
                self.bad["events"].add(i)
                ok_ev = False

            # the estimate and its interval
            est = {c: V[c][i] for c in ("value", "ci_low", "ci_high")}
            if kind == "proportion":
                for col, x in est.items():
                    if x is None:
                        continue
                    msg = None
                    if math.isinf(x):
                        msg = f"'not reached' is not a proportion: {col} must be between 0 and 1"
                    elif x < 0 or x > 100:
                        msg = f"a proportion must be between 0 and 1 (outcome '{outcome}')"
                    elif x > 1:
                        msg = f"looks like a percentage: write {_fmt(x / 100)} instead of {_fmt(x)}"
                    if msg:
                        self.add(i, col, self.shown(col, i), msg)
                        self.bad[col].add(i)
                        est[col] = None
                if est["value"] is not None and ok_ev and ok_tot:
                    p = ev / tot
                    if abs(est["value"] - p) > _CONSISTENCY_TOL:
                        self.add(
                            i,
                            "value",
                            self.shown("value", i),
                            f"value {_fmt(est['value'])} does not match events/total = "
                            f"{ev}/{tot} = {p:.3f} (difference {abs(est['value'] - p):.4f}, "
                            "more than 0.005): correct value, events or total",
                        )
            elif kind == "duration":
                if est["value"] is not None and est["value"] <= 0:
                    self.add(
                        i,
                        "value",
                        self.shown("value", i),
                        "a duration must be greater than 0 (months)",
                    )
                    est["value"] = None
                for col in ("ci_low", "ci_high"):
                    if est[col] is not None and est[col] < 0:
                        self.add(
                            i, col, self.shown(col, i), f"{col} of a duration must not be negative"
                        )
                        est[col] = None
            lo, v, hi = est["ci_low"], est["value"], est["ci_high"]
            if lo is not None and hi is not None and lo > hi:
                self.add(
                    i,
                    "ci_low",
                    self.shown("ci_low", i),
                    f"ci_low must not exceed ci_high ({_fmt(hi)})",
                )
            elif v is not None and (
                (lo is not None and v < lo - 1e-9) or (hi is not None and v > hi + 1e-9)
            ):
                self.add(
                    i,
                    "value",
                    self.shown("value", i),
                    f"estimate lies outside its confidence interval {_fmt(lo)}–{_fmt(hi)} "
                    "(ci_low–ci_high): the interval must contain the estimate",
                )

            # timepoint, unit, size
            t = V["timepoint_months"][i]
            if t is not None and t <= 0:
                self.add(
                    i,
                    "timepoint_months",
                    self.shown("timepoint_months", i),
                    "timepoint_months must be greater than 0",
                )
            if (
                outcome is not None
                and outcome.endswith("_rate")
                and t is None
                and i not in self.bad["timepoint_months"]
            ):
                self.add(
                    i,
                    "timepoint_months",
                    None,
                    f"empty: outcome '{outcome}' needs the time point in months "
                    "(e.g. 12 for a 1-year rate)",
                )
            unit = V["unit"][i]
            expected = _UNIT_OF_KIND.get(kind or "")
            if unit is not None and expected is not None and unit != expected:
                msg = f"unit '{unit}' does not fit outcome '{outcome}' (a {kind}): use '{expected}'"
                if kind == "duration":
                    msg += (
                        " (convert weeks, days or years to months; keep the original in "
                        "`value_reported` and `unit_reported`)"
                    )
                self.add(i, "unit", self.shown("unit", i), msg)
            x = V["lesion_size_cm"][i]
            if x is not None and x <= 0:
                self.add(
                    i,
                    "lesion_size_cm",
                    self.shown("lesion_size_cm", i),
                    "lesion_size_cm must be greater than 0",
                )

            # provenance of the project table
            if self.strict:
                if "quote" in self.present and V["quote"][i] is None:
                    self.add(
                        i,
                        "quote",
                        None,
                        "empty: the project table needs the sentence of the source that "
                        "gives this number (provenance)",
                    )
                if "source" in self.present:
                    src = V["source"][i]
                    if src is None:
                        self.add(
                            i,
                            "source",
                            None,
                            "empty: the project table needs the source of every row",
                        )
                    else:
                        sources = tuple(_voc.SOURCES)
                        canon = _match(src, sources)
                        if canon is None:
                            self.add(i, "source", src, _unknown_message("source", src, sources))
                        else:
                            V["source"][i] = canon

    def duplicates(self) -> None:
        V = self.values
        first_full: dict[tuple, int] = {}
        first_key: dict[tuple, int] = {}
        for i in range(self.n):
            full = tuple(
                ("?", _display(self.cells[c][i])) if i in self.bad[c] else V[c][i] for c in COLUMNS
            ) + tuple(_display(s.iloc[i]) for s in self.extras.values())
            if full in first_full:
                j = first_full[full]
                self.add(
                    i,
                    None,
                    None,
                    f"line {self.lines[i]} duplicates line {self.lines[j]} exactly "
                    "(every cell is the same): delete one of them",
                )
                continue
            first_full[full] = i
            sid, out = V["study_id"][i], V["outcome"][i]
            if sid is None or out is None or i in self.bad["timepoint_months"]:
                continue
            key = (sid, out, V["subgroup"][i] or "", V["timepoint_months"][i])
            if key in first_key:
                j = first_key[key]
                tp = "none" if key[3] is None else _fmt(key[3])
                self.add(
                    i,
                    None,
                    None,
                    f"line {self.lines[i]} duplicates line {self.lines[j]}: same study_id "
                    f"'{sid}', outcome '{out}', subgroup '{key[2]}' and timepoint_months {tp}; "
                    "give each row its own subgroup or timepoint, or delete one",
                )
            else:
                first_key[key] = i

    # -- result --------------------------------------------------------------------------
    def frame(self) -> pd.DataFrame:
        V = self.values
        data: dict[str, Any] = {}
        for col in COLUMNS:
            vals = V[col]
            if col in _TEXT:
                if col == "subgroup":
                    vals = ["" if v is None else v for v in vals]
                data[col] = pd.array(vals, dtype=pd.StringDtype())
            elif col in _CATEGORICAL:
                data[col] = pd.Categorical(vals, categories=list(self.vocab[col]))
            elif col in _INT:
                data[col] = pd.array(vals, dtype="Int64")
            elif col in _FLOAT:
                data[col] = np.array([np.nan if v is None else v for v in vals], dtype="float64")
            else:
                data[col] = pd.array(vals, dtype="boolean")
        out = pd.DataFrame(data)
        for name, series in self.extras.items():
            out[name] = series.array
        out["line"] = pd.array(self.lines, dtype="Int64")
        if self.file is not None:
            out.attrs["path"] = self.file
        return out

    def final_warnings(self) -> None:
        V = self.values
        groups: dict[tuple[str, str], dict[str, list[int]]] = {}
        big: list[str] = []
        for i in range(self.n):
            u, out, mod = V["unit_of_analysis"][i], V["outcome"][i], V["modality"][i]
            if u in ("patients", "lesions") and out is not None and mod is not None:
                groups.setdefault((out, mod), {}).setdefault(u, []).append(self.lines[i])
            tot = V["total"][i]
            for unit, col in (("patients", "n_patients"), ("lesions", "n_lesions")):
                n = V[col][i]
                if u == unit and tot is not None and n is not None and tot > n:
                    big.append(f"line {self.lines[i]} (total {tot} > {col} {n})")
        for (out, mod), by in groups.items():
            if len(by) == 2:
                les = _lines_text(by["lesions"])
                pat = _lines_text(by["patients"])
                self.warnings.append(
                    f"outcome '{out}', modality '{mod}': per-lesion rows ({les}) and "
                    f"per-patient rows ({pat}) are mixed; do not pool them together "
                    "(select one unit_of_analysis)"
                )
        if big:
            self.warnings.append(
                "total exceeds the number of patients or lesions on per-patient/per-lesion "
                f"rows: {'; '.join(big)}"
            )
        where = f"{self.file}: " if self.file else ""
        for msg in self.warnings:
            warnings.warn(where + msg, DataWarning, stacklevel=4)

    def run(self) -> pd.DataFrame:
        self.columns()
        if self.n == 0:
            self.add(None, None, None, "the table has no data rows")
        self.parse_cells()
        self.rows()
        self.duplicates()
        if self.problems:
            raise StudyTableError(self.problems, path=self.file)
        out = self.frame()
        self.final_warnings()
        return out


def validate_studies(
    df: pd.DataFrame, *, path: str | os.PathLike | None = None, strict: bool = False
) -> pd.DataFrame:
    """Check a study table and return it typed, or raise listing every problem.

    Parameters
    ----------
    df : pandas.DataFrame
        Raw strings (as from :func:`read_study_table`) or an already typed frame (validating
        the output of :func:`load_studies` again returns an equal frame). Column names are
        matched after trimming, case-insensitively. Line numbers in messages come from a
        ``line`` column if present, else ``index + 2`` (header = line 1).
    path : str or path-like, optional
        File name used in messages (default: ``df.attrs['path']`` if set).
    strict : bool
        Also apply the provenance rules of the project table: the columns
        :data:`PROVENANCE_COLUMNS` must exist, every row needs a ``quote`` and a ``source``,
        and ``source`` must be one of :data:`iometa.vocabulary.SOURCES`.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`COLUMNS` in order (absent optional columns added as all-missing), then
        any extra columns of the input unchanged, then ``line`` (Int64). Categorical columns
        have the full vocabulary as categories; counts and ``year`` are Int64; ``value``,
        ``ci_low``, ``ci_high``, ``timepoint_months``, ``lesion_size_cm`` float64 (``inf`` =
        median / upper limit "not reached"); ``derived`` boolean; text columns ``string``
        (``subgroup`` ``""`` when empty = whole population). Rows keep their order.

    Raises
    ------
    StudyTableError
        With every problem found (see :class:`Problem`).

    Example
    -------
    >>> import pandas as pd
    >>> raw = pd.DataFrame({"study_id": ["A"], "modality": ["RFAA"],
    ...                     "outcome": ["local_progression"], "value": ["85%"]})
    >>> try:
    ...     validate_studies(raw, path="mine.csv")
    ... except StudyTableError as exc:
    ...     print(exc)
    mine.csv: 2 problems found
    mine.csv, line 2, column 'modality': 'RFAA' — unknown modality; did you mean 'RFA'?
    mine.csv, line 2, column 'value': '85%' — expected a proportion 0–1: write 0.85, not 85%
    """
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"validate_studies expects a pandas DataFrame, not {type(df).__name__}")
    file = str(path) if path is not None else df.attrs.get("path")
    decimal_comma = df.attrs.get("decimal") == ","
    return _Validator(df, file=file, strict=bool(strict), decimal_comma=decimal_comma).run()


def _is_default_table(path: str | os.PathLike) -> bool:
    try:
        return Path(path).resolve() == default_data_path().resolve()
    except (OSError, RuntimeError, TypeError, ValueError):
        return False


def load_studies(
    path: str | os.PathLike | None = None, *, strict: bool | None = None
) -> pd.DataFrame:
    """Read and validate a study table.

    Parameters
    ----------
    path : str or path-like, optional
        The CSV file. Default: the project table (:func:`default_data_path`).
    strict : bool, optional
        Apply the provenance rules (see :func:`validate_studies`). Default: True for the
        project table (also when its path is given explicitly, as ``iometa validate`` does),
        False for any other file.

    Returns
    -------
    pandas.DataFrame
        The typed table (see :func:`validate_studies`).

    Raises
    ------
    StudyTableError
        The file cannot be read or the table has problems; ``str(error)`` lists them all.

    Example
    -------
    >>> import tempfile, pathlib
    >>> tmp = pathlib.Path(tempfile.mkdtemp()) / "mine.csv"
    >>> _ = tmp.write_text(
    ...     "study_id,modality,outcome,timepoint_months,value,ci_high\\n"
    ...     "kim2021,MWA,median_os,,not reached,NR\\n"
    ...     "kim2021,MWA,os_rate,12,0.91,\\n"
    ... )
    >>> df = load_studies(tmp)
    >>> df["value"].tolist(), df["timepoint_months"].tolist()
    ([inf, 0.91], [nan, 12.0])
    """
    default = path is None
    if default:
        path = default_data_path()
    if strict is None:
        strict = default or _is_default_table(path)
    raw = read_study_table(path)
    return validate_studies(raw, path=path, strict=strict)


# --------------------------------------------------------------------------------------------
# helpers for analyses
# --------------------------------------------------------------------------------------------


def _canonical(column: str, value: Any) -> Any:
    """A filter value in its canonical spelling; ValueError for an unknown category."""
    if column not in _CATEGORICAL or not isinstance(value, str):
        return value
    vocab = _vocabulary(column)
    canon = _match(_clean(value), vocab)
    if canon is None:
        what = "outcome code" if column == "outcome" else column.replace("_", " ")
        raise ValueError(f"{value!r}: {_unknown_message(what, value, vocab)}")
    return canon


def outcome_kind(code: str) -> str:
    """The kind of an outcome: ``'proportion'`` (stored 0–1) or ``'duration'`` (months).

    Example
    -------
    >>> outcome_kind("median_os"), outcome_kind("Local_Progression")
    ('duration', 'proportion')
    """
    return _voc.OUTCOMES[_canonical("outcome", code)]


def select(df: pd.DataFrame, outcome: str, **filters: Any) -> pd.DataFrame:
    """The rows of one outcome, optionally filtered on other columns.

    Each keyword names a column; its value is one value, a list/tuple/set of values (any of
    them), or None (rows where the column is empty). Categorical values are matched like the
    loader does ('rfa' = 'RFA'); an unknown value or column raises ValueError rather than
    silently selecting nothing. Nothing else is dropped: rows are returned whatever their
    other cells hold, with their original index and ``line``.

    Example
    -------
    >>> import pandas as pd
    >>> df = validate_studies(pd.DataFrame({
    ...     "study_id": ["A", "B", "C"], "modality": ["RFA", "MWA", "RFA"],
    ...     "outcome": ["os_rate", "os_rate", "median_os"],
    ...     "timepoint_months": ["12", "12", ""], "value": ["0.9", "0.8", "30"]}))
    >>> select(df, "os_rate", modality="rfa", timepoint_months=12)["study_id"].tolist()
    ['A']
    """
    if "outcome" not in df.columns:
        raise ValueError("the table has no 'outcome' column")
    code = _canonical("outcome", outcome)
    mask = (df["outcome"] == code).to_numpy(dtype=bool, na_value=False)
    for column, wanted in filters.items():
        if column not in df.columns:
            guess = difflib.get_close_matches(column, [str(c) for c in df.columns], n=1)
            hint = f"; did you mean '{guess[0]}'?" if guess else ""
            raise ValueError(f"unknown column {column!r}{hint}")
        s = df[column]
        if wanted is None:
            m = s.isna().to_numpy(dtype=bool)
        elif isinstance(wanted, (list, tuple, set, frozenset)):
            m = s.isin([_canonical(column, w) for w in wanted]).to_numpy(dtype=bool, na_value=False)
        else:
            m = (s == _canonical(column, wanted)).to_numpy(dtype=bool, na_value=False)
        mask = mask & m
    return df.loc[mask].copy()

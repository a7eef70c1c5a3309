"""What a file is before it is read as CSV: another format renamed .csv, NUL bytes, lines in
two encodings, preamble lines above the header.

Part of the study-table loader (:func:`iometa.data.read_study_table`). Each function names
the line concerned (physical lines, header = line 1 when nothing precedes it) so that the
user can open the file at the right place.
"""

from __future__ import annotations

import io
import re
from typing import Any

from .cells import _clean
from .errors import Problem, StudyTableError, _file_error, _line_problem
from .schema import _FLOAT, _TEXT

_SAVE_AS = "save the table as 'CSV UTF-8' from the spreadsheet and read that file"
#: (pattern at the start of the file, what the file is)
_OTHER_FORMATS = (
    (re.compile(rb"^%PDF-"), "a PDF document"),
    (
        re.compile(rb"^\s*(?:<!doctype\s+html|<html|<head|<body)", re.IGNORECASE),
        "an HTML page (a web page saved or downloaded with a .csv name)",
    ),
    (re.compile(rb"^\s*<\?xml"), "an XML file (e.g. an Excel 2003 XML spreadsheet)"),
    (re.compile(rb"^\{\\rtf"), "a rich-text (RTF) document"),
)
#: a multi-byte UTF-8 sequence (a line that has one was written as UTF-8)
_UTF8_MULTIBYTE = re.compile(rb"[\xc2-\xf4][\x80-\xbf]+")
_WHOLE_RE = re.compile(r"^[+-]?\d+$")
_DIGITS_RE = re.compile(r"^\d+$")


def _other_format(data: bytes, path: Any) -> None:
    """Raise when the bytes are a PDF, HTML, XML or RTF document renamed .csv."""
    head = data[:1024].lstrip(b"\xef\xbb\xbf")
    for pattern, what in _OTHER_FORMATS:
        if pattern.match(head):
            raise _file_error(path, f"this is {what}, not a CSV file: {_SAVE_AS}")


def _nul_lines(data: bytes, path: Any) -> None:
    """A few stray NUL bytes in a text file: name their lines (many NULs: binary, elsewhere)."""
    count = data.count(b"\x00")
    if count == 0 or count > max(3, len(data) // 100):
        return
    try:
        rest = data.replace(b"\x00", b"").decode("utf-8")
    except UnicodeDecodeError:
        return  # not text around the NULs either
    controls = sum(1 for ch in rest if ord(ch) < 32 and ch not in "\t\n\r")
    if controls > 3:
        return
    problems = [
        _line_problem(
            path,
            n,
            "this line contains a NUL byte (character 0), which a text file never holds: "
            "delete it (re-type the line, or open the file in a text editor)",
        )
        for n, line in enumerate(data.split(b"\n"), start=1)
        if b"\x00" in line
    ]
    raise StudyTableError(problems, path=path)


def _mixed_encodings(data: bytes, path: Any) -> int | None:
    """The first line that is not UTF-8 (None if all are); raise if other lines are UTF-8.

    A file whose lines are partly UTF-8 (``Kümler`` as two bytes) and partly cp1252 (one byte)
    cannot be decoded one way without turning the other lines into mojibake (``KÃ¼mler``).
    """
    utf8_line = None
    bad: list[int] = []
    for n, line in enumerate(data.split(b"\n"), start=1):
        try:
            line.decode("utf-8")
        except UnicodeDecodeError:
            bad.append(n)
            continue
        if utf8_line is None and _UTF8_MULTIBYTE.search(line):
            utf8_line = n
    if not bad:
        return None
    if utf8_line is not None:
        problems: list[Problem] = [
            _line_problem(
                path,
                n,
                f"this line is not UTF-8, but line {utf8_line} is: the file mixes two "
                "encodings (e.g. rows pasted from another file), so accented letters of one "
                "of them would be misread; retype the accented letters of this line or "
                f"{_SAVE_AS}",
            )
            for n in bad
        ]
        raise StudyTableError(problems, path=path)
    return bad[0]


def _count_outside_quotes(line: str, delimiter: str) -> int:
    quoted = False
    count = 0
    for ch in line:
        if ch == '"':
            quoted = not quoted
        elif not quoted and ch == delimiter:
            count += 1
    return count


def _preamble_lines(physical: list[str], first: int) -> int:
    """How many lines from ``first`` on are a preamble (a title or export note such as
    ``# Exported from REDCap``) above the real header: lines with far fewer cells than the
    line below them, which has at least three (a header has study_id, modality, outcome)."""
    counts = [
        max(_count_outside_quotes(ln, d) for d in (",", ";", "\t"))
        for ln in physical[first : first + 20]
    ]
    for j in range(1, len(counts)):
        header = counts[j]
        if header >= 2 and all(c * 2 < header for c in counts[:j]):
            nxt = counts[j + 1 : j + 4]
            if not nxt or all(c >= header // 2 for c in nxt):
                return j
            return 0
        if counts[j] * 2 >= max(counts[: j + 1]) and counts[j] >= 2:
            return 0
    return 0


def _preamble_error(physical: list[str], first: int, n: int, path: Any) -> StudyTableError:
    header_line = first + n + 1
    problems = [
        _line_problem(
            path,
            first + j + 1,
            f"this line above the header (line {header_line}) is a preamble (a title or an "
            "export note), not part of the table: delete it so that the header line "
            "(study_id, modality, outcome, ...) is the first line",
        )
        for j in range(n)
        if physical[first + j].strip()
    ]
    return StudyTableError(problems, path=path)


def _split_number(rec: list[str], delimiter: str, names: list[str]) -> str | None:
    """'12,5' written unquoted in a comma-separated file is read as cells '12' and '5':
    the hint when joining two such cells makes the row fit, the number under a column of
    decimal numbers (value, ci_low, ...)."""
    if delimiter != "," or len(rec) != len(names) + 1:
        return None
    for k, (a, b) in enumerate(zip(rec, rec[1:])):
        a, b = _clean(a), _clean(b)
        if _WHOLE_RE.match(a) and _DIGITS_RE.match(b) and names[k].casefold() in _FLOAT:
            return (
                f"the cells '{a}' and '{b}' look like one number {a},{b} with a decimal comma, "
                f"which splits it and shifts every later cell: write {a}.{b} in "
                f"'{names[k]}'"
            )
    return None


def _shifted_number(rec: list[str], delimiter: str, names: list[str]) -> str | None:
    """A row that fits only shifted: a whole number under a decimal column (value, ci_low,
    ...) followed by bare digits under a text column (notes, quote, ...), as '0,85' split."""
    if delimiter != ",":
        return None
    for k in range(min(len(rec), len(names)) - 1):
        a, b = _clean(rec[k]), _clean(rec[k + 1])
        here, there = names[k].casefold(), names[k + 1].casefold()
        if here in _FLOAT and there in _TEXT and _WHOLE_RE.match(a) and _DIGITS_RE.match(b):
            return (
                f"'{a}' in '{names[k]}' and '{b}' in '{names[k + 1]}' look like one number "
                f"{a},{b} split by an unquoted decimal comma: write {a}.{b} in '{names[k]}'"
            )
    return None


def _decode_legacy(data: bytes) -> tuple[str, str]:
    """A file that is not UTF-8: cp1252 if it decodes, else Latin-1 (which always does)."""
    body = data[3:] if data.startswith(b"\xef\xbb\xbf") else data
    try:
        return body.decode("cp1252"), "cp1252"
    except UnicodeDecodeError:
        return body.decode("latin-1"), "latin-1"


def _is_binary(text: str) -> bool:
    """More than a few control characters (a few stray ones are tolerated)."""
    controls = sum(1 for ch in text if (ord(ch) < 32 and ch not in "\t\n\r") or ch == "\x7f")
    return controls > 3 and controls > 0.03 * len(text)


def _plain_head(head: bytes) -> bool:
    """False when the first bytes are a workbook or another format that :func:`_decode`
    names (the fast reader leaves such files to it)."""
    if head.startswith((b"PK\x03\x04", b"\xd0\xcf\x11\xe0")):
        return False
    try:
        _other_format(head, "")
    except StudyTableError:
        return False
    return True


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


def _find_delimiter(text: str, path: Any) -> tuple[str, int]:
    """(delimiter, number of lines before the header): an Excel "sep=;" line is honoured,
    otherwise the delimiter is sniffed from the first non-blank line."""
    physical = io.StringIO(text, newline="").readlines()
    first = next(i for i, ln in enumerate(physical) if _clean(ln))
    m = re.match(r"^\s*sep=(.)\s*$", physical[first], re.IGNORECASE)
    if m:
        return m.group(1), first + 1
    n = _preamble_lines(physical, first)
    if n:
        raise _preamble_error(physical, first, n, path)
    return _sniff_delimiter(physical[first]), first

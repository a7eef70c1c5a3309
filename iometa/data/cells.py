"""Single cells of the study table: trimming, showing, and parsing numbers, booleans, text.

Part of the study-table loader (:mod:`iometa.data`). A parser returns a status
(:data:`_MISSING`, :data:`_NUMBER`, :data:`_NOT_REACHED` or :data:`_BAD`) rather than raising,
so that the validator can collect every problem of a table; :func:`_number_message` says
what to write instead of a cell that is not a number.
"""

from __future__ import annotations

import datetime
import math
import re
from typing import Any

import numpy as np
import pandas as pd

from .schema import _FALSE, _INT, _TRUE, MISSING_SPELLINGS

_INVISIBLE = "\u200b\ufeff\u2060"


def _clean(s: str) -> str:
    """Trim whitespace (incl. non-breaking and zero-width spaces) from both ends."""
    s = s.strip()
    while s and (s[0] in _INVISIBLE or s[-1] in _INVISIBLE):
        s = s.strip(_INVISIBLE).strip()
    return s


#: cells holding a date or a duration object (a spreadsheet's or pandas' own types)
_TIME_TYPES = (datetime.date, datetime.time, datetime.timedelta, np.datetime64, np.timedelta64)


def _is_na(x: Any) -> bool:
    if x is None or x is pd.NA or x is pd.NaT:
        return True
    if isinstance(x, (np.datetime64, np.timedelta64)):
        return bool(np.isnat(x))
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
    if isinstance(cell, _TIME_TYPES):  # before numbers: np.timedelta64 is an np.integer
        return str(cell)
    if isinstance(cell, (int, float, np.integer, np.floating)):
        return _fmt(cell)
    return str(cell)


# --------------------------------------------------------------------------------------------
# numbers
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
_THOUSANDS_RE = re.compile(r"^[+-]?\d{1,3},\d{3}$")
_DATE_RE = re.compile(
    r"^(?:\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4})"
    r"(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?$"
)
#: the kinds of text that is almost a number, tried in this order
_NEAR_NUMBERS = (
    ("date", _DATE_RE),
    ("fraction", _FRACTION_RE),
    ("ci", _CI_RE),
    ("range", _RANGE_RE),
    ("comparator", _COMPARATOR_RE),
    ("comma", _COMMA_DECIMAL_RE),
    ("unit", _WITH_UNIT_RE),
)


def _parse_float(cell: Any, decimal_comma: bool) -> tuple[int, float | None, str | None]:
    """Return (status, number, detail); detail names the kind of bad input."""
    if _is_na(cell):
        return _MISSING, None, None
    if isinstance(cell, (bool, np.bool_)):
        return _BAD, None, "text"
    if isinstance(cell, _TIME_TYPES):  # before numbers: np.timedelta64 is an np.integer
        is_duration = isinstance(cell, (datetime.timedelta, np.timedelta64))
        return _BAD, None, "duration" if is_duration else "date"
    if isinstance(cell, (int, float, np.integer, np.floating)):
        return _parse_number(float(cell))
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
        return _BAD, float(m.group(1).replace(",", ".")), "percent"
    for detail, rx in _NEAR_NUMBERS:
        if rx.match(t):
            return _BAD, None, detail
    return _BAD, None, "text"


def _parse_number(x: float) -> tuple[int, float | None, str | None]:
    """(status, number, detail) of a cell that already holds a number."""
    if math.isnan(x):
        return _MISSING, None, None
    if x == math.inf:
        return _NOT_REACHED, x, None
    if math.isinf(x):
        return _BAD, None, "text"
    return _NUMBER, x, None


def _number_message(
    column: str, detail: str, number: float | None, shown: str, kind: str | None
) -> str:
    """What to write instead of a cell that is not a number."""
    count = column in _INT
    estimate = column in ("value", "ci_low", "ci_high")
    if detail == "percent":
        return _percent_message(count, estimate, number, shown, kind)
    if detail == "fraction":
        return _fraction_message(column)
    if detail == "unit":
        return _unit_message(column, count, estimate)
    if detail == "comma" and count:
        return _count_comma_message(shown)
    if detail == "comma":
        return f"expected a number with a decimal point: write {shown.replace(',', '.')}"
    if detail in _FIXED_MESSAGES:
        return _FIXED_MESSAGES[detail]
    if column == "year":
        return "expected a 4-digit year"
    return "expected a whole number" if count else "expected a number"


_FIXED_MESSAGES = {
    "date": (
        "this is a date, not a number: the spreadsheet may have turned the cell into a date "
        "(format the column as Number, or as Text before typing) and write the number"
    ),
    "duration": (
        "this is a duration, not a number (a time difference): write the number "
        "(e.g. months as a plain number)"
    ),
    "ci": "expected a single number; put the confidence interval in `ci_low` and `ci_high`",
    "range": "expected a single number, not a range",
    "comparator": "expected a number without '<', '>' or '~' (write the qualifier in `notes`)",
    "not_reached": (
        "expected a number ('not reached' is allowed only in `ci_high`, "
        "or in `value` of a duration outcome)"
    ),
    "whole": "expected a whole number",
    "large": "number too large",
}


def _percent_message(
    count: bool, estimate: bool, number: float | None, shown: str, kind: str | None
) -> str:
    if estimate and kind in ("proportion", None):
        return f"expected a proportion 0–1: write {_fmt(number / 100)}, not {shown}"
    if estimate and kind == "duration":
        return "expected a number of months, not a percentage"
    if count:
        return "expected a whole number (a count), not a percentage"
    return "expected a number, not a percentage"


def _fraction_message(column: str) -> str:
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


def _count_comma_message(shown: str) -> str:
    """A count written with a comma: a thousands separator ('1,234') or a decimal comma."""
    if _THOUSANDS_RE.match(shown):
        return (
            f"expected a whole number without a thousands separator: write {shown.replace(',', '')}"
        )
    return "expected a whole number"


def _unit_message(column: str, count: bool, estimate: bool) -> str:
    if estimate:
        return "expected a number; put the unit in `unit`"
    if column == "timepoint_months":
        return "expected a number of months, without the unit (convert weeks or years to months)"
    if column == "lesion_size_cm":
        return "expected a number of centimetres, without the unit"
    if column == "person_time":
        return "expected a number, without the unit; put the unit in `person_time_unit`"
    if count:
        return "expected a whole number, without a unit"
    return "expected a number, without a unit"


# --------------------------------------------------------------------------------------------
# booleans and text
# --------------------------------------------------------------------------------------------


def _parse_bool(cell: Any) -> tuple[int, bool | None]:
    if _is_na(cell):
        return _MISSING, None
    if isinstance(cell, (bool, np.bool_)):
        return _NUMBER, bool(cell)
    if isinstance(cell, _TIME_TYPES):
        return _BAD, None
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

"""The table under validation: its columns matched to the schema and its cells parsed.

Part of the study-table loader (:func:`iometa.data.validate_studies`). :class:`_Table` holds
what the checks share (the raw cells, the parsed values, the problems found so far);
:func:`_match_columns` finds the schema's columns in the frame and :func:`_parse_columns`
turns every cell into a typed value, recording a problem for each one that cannot be read.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from . import fastpath
from .aliases import column_hint
from .cells import (
    _BAD,
    _MISSING,
    _NOT_REACHED,
    _NUMBER,
    _clean,
    _display,
    _number_message,
    _parse_bool,
    _parse_float,
    _parse_text,
)
from .coded import Coded, value_ids
from .errors import Problem
from .lexicon import Vocabulary
from .schema import (
    _CATEGORICAL,
    _FLOAT,
    _INT,
    _MAX_INT,
    _TEXT,
    COLUMNS,
    DEFAULT_SOURCE_KIND,
    PROVENANCE_COLUMNS,
    REQUIRED_COLUMNS,
    _match,
    _unknown_message,
    _what,
)


class _Table:
    """One table being validated: raw cells, parsed values, and every problem found."""

    def __init__(
        self,
        df: pd.DataFrame,
        file: str | None,
        strict: bool,
        decimal_comma: bool,
        vocabulary: Vocabulary,
        sheet: str | None = None,
    ):
        self.df = df
        self.sheet = sheet
        #: how a row is named in messages: a CSV line, or a spreadsheet row
        self.row_word = "line" if sheet is None else "row"
        self.vocabulary = vocabulary
        self.file = file
        self.strict = strict
        self.decimal_comma = decimal_comma
        self.n = len(df)
        self.problems: list[Problem] = []
        self.warnings: list[str] = []
        self.cells: dict[str, list[Any]] = {}  # schema column -> raw cells
        self.present: set[str] = set()
        self.extras: dict[str, pd.Series] = {}
        #: schema column -> parsed values (None = missing): a list, or (fast path) Coded
        self.values: dict[str, Any] = {}
        self.bad: dict[str, set[int]] = {c: set() for c in COLUMNS}
        self.vocab = {c: vocabulary.allowed(c) for c in _CATEGORICAL}
        self.lines: list[int] = []
        self.kinds: Any = []  # outcome kind of each row (a list, or Coded)
        #: fast path: column -> (code of each row's cell, the distinct cells)
        self.codes: dict[str, tuple[np.ndarray, list[Any]]] = {}

    def add(self, i: int | None, column: str | None, value: str | None, message: str) -> None:
        """Record a problem of row i (None: of the whole table or a whole column)."""
        line = None if i is None else self.lines[i]
        self.problems.append(Problem(self.file, line, column, value, message, self.sheet))

    def shown(self, col: str, i: int) -> str | None:
        """The cell of row i in column col, as shown in a message."""
        return _display(self.cells[col][i])

    def reject(self, i: int, col: str, message: str) -> None:
        """Record a problem with the cell of row i in col, and mark that cell as bad."""
        self.add(i, col, self.shown(col, i), message)
        self.bad[col].add(i)


# --------------------------------------------------------------------------------------------
# columns
# --------------------------------------------------------------------------------------------


def _match_columns(t: _Table) -> None:
    """Find the schema's columns (names trimmed, any case), the extra columns, line numbers."""
    folded = {c.casefold(): c for c in COLUMNS}
    line_col: pd.Series | None = None
    taken: dict[str, Any] = {}
    for pos, name in enumerate(t.df.columns):
        raw_name = str(name)
        clean = _clean(raw_name)
        canon = folded.get(clean.casefold())
        series = t.df.iloc[:, pos]
        key = canon if canon is not None else clean
        if clean.casefold() == "line":
            line_col = series
            continue
        if key in taken:
            message = f"column '{key}' appears twice (as {taken[key]!r} and {raw_name!r})"
            t.problems.append(Problem(t.file, None, key, None, message, t.sheet))
            continue
        taken[key] = raw_name
        if canon is not None:
            t.present.add(canon)
            t.cells[canon] = _cells(series)
        else:
            t.extras[clean] = series.reset_index(drop=True)
    t.lines = _line_numbers(t.df, line_col)
    for col in COLUMNS:
        if col not in t.cells:
            t.cells[col] = [None] * t.n
    _check_columns(t)
    _unknown_column_warnings(t)


def _cells(series: pd.Series) -> Any:
    """The raw cells of a column: a list, or (fast path) the Arrow string array itself."""
    if fastpath.ENABLED and isinstance(series.array, pd.arrays.ArrowStringArray):
        return series.array
    return series.tolist()


def _line_numbers(df: pd.DataFrame, line_col: pd.Series | None) -> list[int]:
    """The `line` column if it holds whole numbers, else index + 2 (header = line 1)."""
    if line_col is not None:
        try:
            nums = pd.to_numeric(line_col, errors="raise").astype("Float64")
            if not nums.isna().any() and (nums % 1 == 0).all() and (nums.abs() < _MAX_INT).all():
                return nums.to_numpy(dtype="int64").tolist()
        except (ValueError, TypeError):
            pass
    idx = df.index
    if pd.api.types.is_integer_dtype(idx.dtype) and idx.is_unique:
        return [int(i) + 2 for i in idx]
    return list(range(2, len(df) + 2))


def _check_columns(t: _Table) -> None:
    """The required (and, strict, provenance) columns, and a column holding the result."""
    needed = REQUIRED_COLUMNS + (PROVENANCE_COLUMNS if t.strict else ())
    for col in dict.fromkeys(needed):
        if col in t.present:
            continue
        msg = f"required column '{col}' is missing"
        if col not in REQUIRED_COLUMNS:
            msg = f"column '{col}' is required in the project table (provenance of every number)"
        labels = [name for name in t.extras if col in column_hint(name, COLUMNS)]
        if labels:
            msg += f" (the file has a column '{labels[0]}': rename it '{col}')"
        t.add(None, col, None, msg)
    if "value" not in t.present and not {"events", "total"} <= t.present:
        absent = [c for c in ("events", "total") if c not in t.present]
        t.add(
            None,
            "value",
            None,
            "the table needs a 'value' column, or 'events' and 'total' columns "
            f"(missing: 'value', {', '.join(repr(c) for c in absent)})",
        )


def _unknown_column_warnings(t: _Table) -> None:
    """An extra column whose label probably means a schema column: say which to rename it.

    Labels are compared ignoring case, spaces and punctuation (``Study ID`` = ``study_id``),
    common labels are mapped (``N`` -> ``total`` or ``n_patients``), then close spellings.
    A required column that is missing is an error that already names the label to rename.
    """
    needed = set(REQUIRED_COLUMNS) | (set(PROVENANCE_COLUMNS) if t.strict else set())
    for name in t.extras:
        hint = [c for c in column_hint(name, COLUMNS) if c not in t.present]
        if not hint or (set(hint) & needed):
            continue
        names = "' or '".join(hint)
        t.warnings.append(
            f"unknown column '{name}' kept as it is (not read as data); did you mean "
            f"'{names}'? Rename the column to use it (column '{hint[0]}' is empty)"
        )


# --------------------------------------------------------------------------------------------
# cells
# --------------------------------------------------------------------------------------------


def _parse_columns(t: _Table) -> None:
    """Parse every cell into t.values; a cell that cannot be read is a problem and bad."""
    for col in COLUMNS:
        if col not in _TEXT and col not in _CATEGORICAL:
            continue
        if _fast(t, col):
            _parse_fast(t, col)
        elif col in _TEXT:
            t.values[col] = [_parse_text(c) for c in t.cells[col]]
        elif col in _CATEGORICAL:
            t.values[col] = _categorical(t, col)
    # an empty source_kind is a review row (the default of the data dictionary)
    bad_kind = t.bad["source_kind"]
    kinds = t.values["source_kind"]
    if isinstance(kinds, Coded):  # once per code (a bad cell is bad in every row)
        bad_codes = set(kinds.codes[sorted(bad_kind)].tolist())
        t.values["source_kind"] = Coded(kinds.codes, [
            DEFAULT_SOURCE_KIND if v is None and k not in bad_codes else v
            for k, v in enumerate(kinds.uniques)])
    else:
        t.values["source_kind"] = [DEFAULT_SOURCE_KIND if v is None and i not in bad_kind
                                   else v for i, v in enumerate(kinds)]
    outcome = t.values["outcome"]
    if isinstance(outcome, Coded):
        t.kinds = Coded(outcome.codes, [t.vocabulary.kind(v) for v in outcome.uniques])
    else:
        kind_of = {code: t.vocabulary.kind(code) for code in set(outcome)}
        t.kinds = [kind_of[code] for code in outcome]
    for col in _INT:
        if _fast(t, col):
            _parse_fast(t, col)
        else:
            t.values[col] = [_integer(t, col, i, c) for i, c in enumerate(t.cells[col])]
    for col in _FLOAT:
        if _fast(t, col):
            _parse_fast(t, col)
        else:
            t.values[col] = [_float(t, col, i, c) for i, c in enumerate(t.cells[col])]
    t.values["derived"] = _parse_fast(t, "derived") if _fast(t, "derived") else _derived(t)


# --------------------------------------------------------------------------------------------
# the fast path: each distinct cell of an Arrow string column is parsed once
# --------------------------------------------------------------------------------------------


def _fast(t: _Table, col: str) -> bool:
    return fastpath.ENABLED and isinstance(t.cells[col], pd.arrays.ArrowStringArray)


def _factorize(t: _Table, col: str) -> tuple[np.ndarray, list[Any]]:
    """(code of each row, distinct cells); a missing cell has the last code, whose cell is
    ``pd.NA``, so that ``uniques[code]`` is every row's cell."""
    if col not in t.codes:
        codes, uniques = pd.factorize(t.cells[col], use_na_sentinel=True)
        codes = np.asarray(codes, dtype=_code_type(len(uniques)))  # 1-4 bytes a row
        codes[codes < 0] = len(uniques)
        t.codes[col] = (codes, list(uniques) + [pd.NA])
    return t.codes[col]


def _code_type(n: int) -> type:
    """The narrowest signed integer type holding the codes 0..n (n: that of a missing cell)."""
    for kind in (np.int8, np.int16, np.int32):
        if n <= np.iinfo(kind).max:
            return kind
    return np.int64


def _parse_fast(t: _Table, col: str) -> Any:
    """t.values[col] (and the problems of its cells) from the distinct cells."""
    codes, uniques = _factorize(t, col)
    values: list[Any] = []
    messages: list[str | None] = []
    rowwise = np.zeros(len(uniques), dtype=bool)  # decided row by row (depends on the row)
    for cell in uniques:
        msg = None
        if col in _TEXT:
            v: Any = _parse_text(cell)
        elif col in _CATEGORICAL:
            text = _parse_text(cell)
            v = None if text is None else _match(text, t.vocab[col])
            if text is not None and v is None:
                msg = _unknown_message(_what(col), text, t.vocab[col], col)
        elif col in _INT:
            v, detail, x = _integer_value(cell, t.decimal_comma)
            if detail is not None:
                msg = _number_message(col, detail, x, _display(cell) or "", None)
        elif col in _FLOAT:
            status, v, _ = _parse_float(cell, t.decimal_comma)
            if status not in (_NUMBER, _MISSING):
                rowwise[len(values)] = True
        else:  # derived
            status, v = _parse_bool(cell)
            if status == _BAD:
                msg = _DERIVED_MESSAGE
        values.append(v)
        messages.append(msg)
    column = t.values[col] = Coded(codes, values)
    flagged = np.array([m is not None for m in messages], dtype=bool)
    bad = np.flatnonzero(flagged[codes])
    for group in _groups(codes[bad], bad):
        k = int(codes[group[0]])
        _reject_rows(t, group, col, _display(uniques[k]), messages[k])  # type: ignore[arg-type]
    rows = np.flatnonzero(rowwise[codes])
    if rows.size:  # 'not reached' and numbers that cannot be read: rules of the row
        outcome = value_ids(t.values["outcome"])[rows]  # the rules depend on the outcome
        key = codes[rows].astype(np.int64) * (int(outcome.max()) + 1) + outcome
        for group in _groups(key, rows):
            i = int(group[0])
            k = int(codes[i])
            v, msg = _float_value(t, col, i, uniques[k])
            if v is not values[k] and not (type(v) is type(values[k]) and v == values[k]):
                column.assign(group, v)  # rows whose value is not their cell's
            if msg is not None:
                _reject_rows(t, group, col, _display(uniques[k]), msg)
    return column


def _groups(key: np.ndarray, rows: np.ndarray) -> list[np.ndarray]:
    """The rows (in order) of each distinct key (key[j]: that of rows[j])."""
    if rows.size == 0:
        return []
    order = np.argsort(key, kind="stable")
    return np.split(rows[order], np.flatnonzero(np.diff(key[order])) + 1)


def _reject_rows(t: _Table, rows: np.ndarray, col: str, shown: str | None,
                 message: str) -> None:
    """Record the same problem for the cell of each of these rows, and mark them bad."""
    file, sheet, lines, listed = t.file, t.sheet, t.lines, rows.tolist()
    t.problems.extend([Problem(file, lines[i], col, shown, message, sheet) for i in listed])
    t.bad[col].update(listed)


def _categorical(t: _Table, col: str) -> list[str | None]:
    vocab = t.vocab[col]
    out: list[str | None] = []
    for i, cell in enumerate(t.cells[col]):
        text = _parse_text(cell)
        if text is None:
            out.append(None)
            continue
        canon = _match(text, vocab)
        if canon is None:
            t.reject(i, col, _unknown_message(_what(col), text, vocab, col))
        out.append(canon)
    return out


def _integer(t: _Table, col: str, i: int, cell: Any) -> int | None:
    """The whole number in a cell of a count (or year) column."""
    value, detail, x = _integer_value(cell, t.decimal_comma)
    if detail is not None:
        _reject_number(t, col, i, detail, x, None)
    return value


def _integer_value(cell: Any, decimal_comma: bool) -> tuple[int | None, str | None, Any]:
    """(whole number or None, what is wrong or None, the number read) of a count cell."""
    status, x, detail = _parse_float(cell, decimal_comma)
    if status == _NOT_REACHED:
        status, detail = _BAD, "not_reached"
    elif status == _NUMBER and not float(x).is_integer():
        status, detail = _BAD, "whole"
    elif status == _NUMBER and abs(x) >= _MAX_INT:
        status, detail = _BAD, "large"
    if status == _BAD:
        return None, detail, x
    return (None if x is None else int(x)), None, x


def _float(t: _Table, col: str, i: int, cell: Any) -> float | None:
    """The number in a cell of a measurement column (inf: 'not reached', where allowed)."""
    value, message = _float_value(t, col, i, cell)
    if message is not None:
        t.reject(i, col, message)
    return value


def _float_value(t: _Table, col: str, i: int, cell: Any) -> tuple[float | None, str | None]:
    """(number or None, the problem or None) of a cell of a measurement column in row i
    (the rules depend on the row's outcome only)."""
    status, x, detail = _parse_float(cell, t.decimal_comma)
    kind = t.kinds[i]
    if status == _NOT_REACHED and col == "value" and kind not in ("duration", None):
        return None, (
            f"'not reached' applies only to a duration outcome (e.g. median_os), "
            f"not to '{t.values['outcome'][i]}' (a {kind})"
        )
    if status == _NOT_REACHED and col not in ("value", "ci_high"):
        status, detail = _BAD, "not_reached"
    if status == _BAD:
        shown = _display(cell) or ""
        return None, _number_message(col, detail, x, shown, kind)  # type: ignore[arg-type]
    return x, None


def _reject_number(
    t: _Table, col: str, i: int, detail: str | None, x: float | None, kind: str | None
) -> None:
    """Record a cell that is not a usable number, saying what to write instead."""
    shown = t.shown(col, i) or ""
    t.reject(i, col, _number_message(col, detail, x, shown, kind))


_DERIVED_MESSAGE = "expected true or false (yes/no, 1/0)"


def _derived(t: _Table) -> list[bool | None]:
    out: list[bool | None] = []
    for i, cell in enumerate(t.cells["derived"]):
        status, b = _parse_bool(cell)
        if status == _BAD:
            t.reject(i, "derived", _DERIVED_MESSAGE)
        out.append(b)
    return out

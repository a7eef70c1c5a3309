"""The typed frame of a valid study table, and the warnings it still deserves.

Part of the study-table loader (:func:`iometa.data.validate_studies`): once a
:class:`~iometa.data.columns._Table` has no problem left, :func:`_typed_frame` builds the
frame the analyses use and :func:`_warn` raises the :class:`~iometa._warnings.DataWarning`
of things that are allowed but should be looked at (mixed units of analysis, a total larger
than the number of patients, a misspelt extra column).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from .._warnings import DataWarning
from . import fastpath
from .coded import Coded, floats, mapped, nones, value_ids
from .columns import _Table
from .errors import _outside_loader
from .schema import _CATEGORICAL, _FLOAT, _INT, _TEXT, COLUMNS


def _typed_frame(t: _Table) -> pd.DataFrame:
    """Columns in schema order with their dtypes, then the extra columns, then ``line``."""
    data: dict[str, Any] = {}
    for col in COLUMNS:
        vals = t.values[col]
        if fastpath.ENABLED and col in t.codes and (col in _TEXT or col in _CATEGORICAL):
            data[col] = _typed_from_codes(t, col)
        elif col in _TEXT:
            if col == "subgroup":
                vals = ["" if v is None else v for v in vals]
            data[col] = pd.array(vals, dtype=pd.StringDtype())
        elif col in _CATEGORICAL:
            data[col] = pd.Categorical(vals, categories=list(t.vocab[col]))
        elif isinstance(vals, Coded) and col not in _TEXT and col not in _CATEGORICAL:
            data[col] = _typed_coded(vals, col)
        elif col in _INT:
            data[col] = pd.array(vals, dtype="Int64")
        elif col in _FLOAT:
            data[col] = np.array(vals, dtype="float64")  # None -> NaN
        else:
            data[col] = pd.array(vals, dtype="boolean")
    out = pd.DataFrame(data)
    for name, series in t.extras.items():
        out[name] = series.array
    out["line"] = pd.array(t.lines, dtype="Int64")
    if t.file is not None:
        out.attrs["path"] = t.file
    if t.sheet is not None:
        out.attrs["sheet"] = t.sheet
    out.attrs["vocabulary"] = t.vocabulary
    return out


def _typed_coded(vals: Coded, col: str) -> Any:
    """A count, measurement or boolean column from the values of its codes."""
    if col in _FLOAT:
        return floats(vals)
    missing = vals.per_code(lambda v: v is None, bool)[vals.codes]
    if col in _INT:
        per = vals.per_code(lambda v: 0 if v is None else v, np.int64)
        return pd.arrays.IntegerArray(per[vals.codes], missing)
    per = vals.per_code(lambda v: False if v is None else v, bool)
    return pd.arrays.BooleanArray(per[vals.codes], missing)


def _typed_from_codes(t: _Table, col: str) -> Any:
    """A text or categorical column built from its distinct cells: each row's value is that
    of the first row with the same cell (the parsed values are a function of the cell)."""
    import pyarrow as pa

    codes, uniques = t.codes[col]
    pos = np.where(codes < 0, len(uniques) - 1, codes)
    present, first = np.unique(pos, return_index=True)
    values = [t.values[col][i] for i in first.tolist()]
    if col in _CATEGORICAL:
        categories = list(t.vocab[col])
        index = {c: k for k, c in enumerate(categories)}
        per = np.full(len(uniques), -1, dtype=np.int64)
        per[present] = [index.get(v, -1) if v is not None else -1 for v in values]
        return pd.Categorical.from_codes(per[pos], categories=categories)
    if col == "subgroup":
        values = ["" if v is None else v for v in values]
    raw = t.cells[col]
    if all(v is None or v == uniques[k] for k, v in zip(present.tolist(), values)):
        # every value is its cell or missing: the cells' buffers with a validity bitmap
        valid = np.zeros(len(uniques), dtype=bool)
        valid[present] = [v is not None for v in values]
        shared = _masked(raw._pa_array, valid[pos])
        if shared is not None:
            return pd.array(pd.arrays.ArrowStringArray(shared), dtype=pd.StringDtype())
    slot = np.zeros(len(uniques), dtype=np.int64)
    slot[present] = np.arange(len(present))
    distinct = pa.array(values, type=pa.large_string())
    return pd.array(pd.arrays.ArrowStringArray(distinct.take(pa.array(slot[pos]))),
                    dtype=pd.StringDtype())


def _masked(chunked: Any, valid: np.ndarray) -> Any:
    """The large_string chunked array with the rows not valid set missing, sharing its
    offsets and data (None if its layout is not the plain one)."""
    import pyarrow as pa

    if chunked.type != pa.large_string():
        return None
    chunks = []
    start = 0
    for ch in chunked.chunks:
        n = len(ch)
        bufs = ch.buffers()
        if len(bufs) != 3:
            return None
        bits = np.concatenate([np.zeros(ch.offset, dtype=bool), valid[start:start + n]])
        bitmap = pa.py_buffer(np.packbits(bits, bitorder="little").tobytes())
        nulls = n - int(np.count_nonzero(valid[start:start + n]))
        chunks.append(pa.Array.from_buffers(pa.large_string(), n, [bitmap, bufs[1], bufs[2]],
                                            null_count=nulls, offset=ch.offset))
        start += n
    return pa.chunked_array(chunks, type=pa.large_string())


#: line numbers listed in one warning; the rest are counted (a 10⁶-row table would otherwise
#: print megabytes of line numbers)
MAX_LINES_LISTED = 20


def _lines_text(lines: Sequence[int]) -> str:
    """[3] -> 'line 3'; [2, 5] -> 'lines 2, 5'; more than MAX_LINES_LISTED: the first ones and
    'and N more'.

    >>> _lines_text([3]), _lines_text(list(range(2, 30))).endswith("20, 21 and 8 more")
    ('line 3', True)
    """
    shown = ", ".join(str(n) for n in lines[:MAX_LINES_LISTED])
    more = len(lines) - MAX_LINES_LISTED
    return ("line " if len(lines) == 1 else "lines ") + shown + (
        f" and {more:,} more" if more > 0 else "")


def _unit_warnings(t: _Table) -> list[str]:
    """Per-lesion and per-patient rows of one outcome and modality; totals above n."""
    V = t.values
    groups: dict[tuple[str, str], dict[str, Sequence[int]]] = {}
    big: list[str] = []
    if fastpath.ENABLED:
        groups = _unit_groups(t)
    else:
        for line, u, out, mod in zip(t.lines, V["unit_of_analysis"], V["outcome"],
                                     V["modality"]):
            if u in ("patients", "lesions") and out is not None and mod is not None:
                groups.setdefault((out, mod), {}).setdefault(u, []).append(line)
    for i in _maybe(t, _total_above_n):
        u = V["unit_of_analysis"][i]
        tot = V["total"][i]
        for unit, col in (("patients", "n_patients"), ("lesions", "n_lesions")):
            n = V[col][i]
            if u == unit and tot is not None and n is not None and tot > n:
                big.append(f"line {t.lines[i]} (total {tot} > {col} {n})")
    found = []
    for (out, mod), by in groups.items():
        if len(by) == 2:
            found.append(
                f"outcome '{out}', modality '{mod}': per-lesion rows "
                f"({_lines_text(by['lesions'])}) and per-patient rows "
                f"({_lines_text(by['patients'])}) are mixed; do not pool them together "
                "(select one unit_of_analysis)"
            )
    if big:
        found.append(
            "total exceeds the number of patients or lesions on per-patient/per-lesion "
            f"rows: {'; '.join(big)}"
        )
    return found


def _unit_groups(t: _Table) -> dict[tuple[str, str], dict[str, Sequence[int]]]:
    """The lines of the per-patient and per-lesion rows of each outcome and modality (in the
    order of their first row), as the loop of :func:`_unit_warnings` collects them."""
    V = t.values
    units = ("patients", "lesions")
    unit = mapped(V["unit_of_analysis"], lambda u: units.index(u) if u in units else -1,
                  np.int8)
    rows = np.flatnonzero((unit >= 0) & ~nones(V["outcome"]) & ~nones(V["modality"]))
    groups: dict[tuple[str, str], dict[str, Sequence[int]]] = {}
    if rows.size == 0:
        return groups
    out, mod = value_ids(V["outcome"])[rows], value_ids(V["modality"])[rows]
    group, _ = pd.factorize(out * (int(mod.max()) + 1) + mod)  # in order of first row
    order = np.argsort(group, kind="stable")
    bounds = np.flatnonzero(np.diff(group[order])) + 1
    lines = np.asarray(t.lines, dtype=np.int64)
    for members in np.split(rows[order], bounds):
        first = int(members[0])
        by = groups.setdefault((V["outcome"][first], V["modality"][first]), {})
        for k, name in enumerate(units):
            picked = members[unit[members] == k]
            if picked.size:
                by[name] = lines[picked]
    return groups


#: a duration or time point beyond this many months (100 years) is absurd
_MAX_MONTHS = 1200
#: Excel's date serials of 1955-2119 (44927 = 2023-01-01), a date formatted as a number
_EXCEL_SERIALS = (20000, 80000)
#: months per unit of `unit_reported`
_MONTHS_PER = {"weeks": 12 / 52.1775, "days": 12 / 365.25, "years": 12.0}


def _absurd_warnings(t: _Table) -> list[str]:
    """Months that are absurd: > 100 years, an Excel date serial, or weeks/days/years copied
    into a months column unconverted (value equal to value_reported, unit_reported not months)."""
    V = t.values
    found = []
    for i in _maybe(t, _absurd_rows):
        months = ["timepoint_months"] + (
            ["value", "ci_low", "ci_high"] if t.kinds[i] == "duration" else []
        )
        for col in months:
            x = V[col][i]
            if x is None or x == float("inf"):
                continue
            where = f"line {t.lines[i]}, column '{col}': {t.shown(col, i)}"
            if _EXCEL_SERIALS[0] <= x <= _EXCEL_SERIALS[1] and float(x).is_integer():
                found.append(
                    f"{where} looks like an Excel date serial (a date shown as a "
                    "number), not a number of months: check the cell"
                )
            elif x > _MAX_MONTHS:
                found.append(f"{where} months is more than 100 years: check the number")
        found += _unconverted(t, i)
    return found


def _maybe(t: _Table, rows: Callable[[_Table], np.ndarray]) -> Iterable[int]:
    """Every row, or (fast path) the rows that rows(t) says may deserve the warning."""
    if not fastpath.ENABLED:
        return range(t.n)
    return np.flatnonzero(rows(t)).tolist()


def _num(t: _Table, col: str) -> np.ndarray:
    return floats(t.values[col])


def _total_above_n(t: _Table) -> np.ndarray:
    tot = _num(t, "total")
    with np.errstate(invalid="ignore"):
        return (tot > _num(t, "n_patients")) | (tot > _num(t, "n_lesions"))


def _absurd_rows(t: _Table) -> np.ndarray:
    """Rows with a number of months out of range, or a duration reported in other units."""
    duration = mapped(t.kinds, lambda k: k == "duration")
    out = np.zeros(t.n, dtype=bool)
    with np.errstate(invalid="ignore"):
        for col in ("timepoint_months", "value", "ci_low", "ci_high"):
            x = _num(t, col)
            hit = np.isfinite(x) & ((x > _MAX_MONTHS) | (x >= _EXCEL_SERIALS[0]))
            out |= hit if col == "timepoint_months" else hit & duration
    other = mapped(t.values["unit_reported"], lambda u: u in _MONTHS_PER)
    return out | (duration & other)


def _unconverted(t: _Table, i: int) -> list[str]:
    """value equal to value_reported although unit_reported is not months."""
    V = t.values
    unit, rep, x = V["unit_reported"][i], V["value_reported"][i], V["value"][i]
    if t.kinds[i] != "duration" or unit not in _MONTHS_PER or rep is None or x is None:
        return []
    try:
        reported = float(rep.replace(",", "."))
    except ValueError:
        return []
    if reported != x:
        return []
    return [
        f"line {t.lines[i]}, column 'value': {t.shown('value', i)} equals value_reported "
        f"although unit_reported is {unit}: value must be in months (write "
        f"{x * _MONTHS_PER[unit]:.3g})"
    ]


def _warn(t: _Table) -> None:
    """Issue every warning of a valid table, attributed to the code that called the loader."""
    where = f"{t.file}: " if t.file else ""
    for msg in t.warnings + _unit_warnings(t) + _absurd_warnings(t):
        warnings.warn(where + msg, DataWarning, stacklevel=_outside_loader())

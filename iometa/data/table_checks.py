"""Table-level rules of the study table: the ``study_id`` rule and duplicate rows (part of
the loader, :func:`iometa.data.validate_studies`; the row rules are in :mod:`.checks`)."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from . import fastpath
from .cells import _display, _fmt
from .coded import Coded, distinct, mapped, nones, value_ids
from .columns import _Table
from .schema import (
    COLUMNS,
)


#: the data dictionary's rule for study_id (data/README.md, column 1)
def _none(t: _Table, col: str) -> np.ndarray:
    """Which rows have no value in ``col``."""
    return nones(t.values[col])


STUDY_ID_RULE = re.compile(r"^[a-z][a-z0-9]*$")
_STUDY_ID_HELP = (
    "expected the first author's surname and the year, lower case ASCII letters and digits "
    "only, e.g. 'meloni2009' (the study_id rule of data/README.md)"
)


def _check_study_ids(t: _Table) -> None:
    """The study_id rule (an error in the project table, a warning elsewhere), and ids that
    differ only in case (always an error: the same study written two ways?)."""
    first: dict[str, tuple[str, int]] = {}
    off_rule: list[str] = []
    off: set[str] = set()
    ids: Any = enumerate(t.values["study_id"])
    if fastpath.ENABLED:  # the rule once per distinct id; rows only for ids that need them
        values = t.values["study_id"]
        ids_seen = [s for s in distinct(values) if s is not None]
        off = {s for s in ids_seen if not STUDY_ID_RULE.match(s)}
        folded: dict[str, set[str]] = {}
        for s in ids_seen:
            folded.setdefault(s.casefold(), set()).add(s)
        clash = {s for group in folded.values() if len(group) > 1 for s in group}
        off_rule = [s for s in ids_seen if s in off] if not t.strict else []
        rows = off | clash if t.strict else clash
        ids = ((i, values[i]) for i in np.flatnonzero(mapped(values, rows.__contains__)).tolist())
        if not t.strict:
            off = set()
    for i, sid in ids:
        if sid is None:
            continue
        if (sid in off) if fastpath.ENABLED else not STUDY_ID_RULE.match(sid):
            if t.strict:
                t.add(i, "study_id", sid, _STUDY_ID_HELP)
            elif sid not in off_rule:
                off_rule.append(sid)
        key = sid.casefold()
        if key not in first:
            first[key] = (sid, i)
        elif first[key][0] != sid:
            other, j = first[key]
            t.add(i, "study_id", sid,
                  f"differs from '{other}' ({t.row_word} {t.lines[j]}) only in case: if it is "
                  "the same study write it the same way, otherwise give it another id")
    if off_rule:
        shown = ", ".join(repr(s) for s in off_rule[:5])
        more = f" and {len(off_rule) - 5} more" if len(off_rule) > 5 else ""
        verb = "does" if len(off_rule) == 1 else "do"
        t.warnings.append(
            f"study_id {shown}{more} {verb} not follow the data dictionary's rule: "
            f"{_STUDY_ID_HELP}")


def _check_duplicates(t: _Table) -> None:
    """Rows repeated exactly, or with the same study, outcome, subgroup and time point."""
    if fastpath.ENABLED:
        _duplicates_fast(t)
        return
    V = t.values
    first_full: dict[tuple, int] = {}
    first_key: dict[tuple, int] = {}
    for i in range(t.n):
        full = tuple(
            ("?", _display(t.cells[c][i])) if i in t.bad[c] else V[c][i] for c in COLUMNS
        ) + tuple(_display(s.iloc[i]) for s in t.extras.values())
        if full in first_full:
            _same_row(t, i, first_full[full])
            continue
        first_full[full] = i
        sid, out = V["study_id"][i], V["outcome"][i]
        if sid is None or out is None or i in t.bad["timepoint_months"]:
            continue
        # a review row and a primary row of one study may give the same number: both kept
        key = (sid, out, V["subgroup"][i] or "", V["arm"][i] or "", V["timepoint_months"][i],
               V["source_kind"][i])
        if key not in first_key:
            first_key[key] = i
            continue
        _same_key(t, i, first_key[key], key)


def _same_key(t: _Table, i: int, j: int, key: tuple) -> None:
    """Row i repeats the study, outcome, subgroup, arm, time point and source of row j."""
    w = t.row_word
    tp = "none" if key[4] is None else _fmt(key[4])
    t.add(
        i,
        None,
        None,
        f"{w} {t.lines[i]} duplicates {w} {t.lines[j]}: same study_id "
        f"'{key[0]}', outcome '{key[1]}', subgroup '{key[2]}', arm '{key[3]}', timepoint_months "
        f"{tp} and source_kind '{key[5]}'; give each row its own subgroup, arm or timepoint, "
        "or delete one",
    )


def _same_row(t: _Table, i: int, j: int) -> None:
    w = t.row_word
    t.add(
        i,
        None,
        None,
        f"{w} {t.lines[i]} duplicates {w} {t.lines[j]} exactly "
        "(every cell is the same): delete one of them",
    )


def _ids(t: _Table, col: str | None, bad_marked: bool, extra: pd.Series | None = None
         ) -> np.ndarray:
    """An integer per row, equal where the rows' values are equal (as the tuples of
    :func:`_check_duplicates` compare them); a bad cell (bad_marked) by the cell as shown."""
    table: dict[Any, int] = {}
    if extra is not None and not isinstance(extra.array, pd.arrays.ArrowStringArray):
        return np.fromiter((table.setdefault(_display(v), len(table)) for v in extra),
                           dtype=np.int64, count=t.n)
    if extra is not None:
        codes, uniques = pd.factorize(extra.array, use_na_sentinel=True)
        shown = [_display(u) for u in list(uniques) + [pd.NA]]
        per = np.array([table.setdefault(v, len(table)) for v in shown], dtype=np.int64)
        return per[np.asarray(codes, dtype=np.intp)]
    assert col is not None
    values = t.values[col]
    out = value_ids(values) if not isinstance(values, Coded) else np.array(
        [table.setdefault(v, len(table)) for v in values.uniques], dtype=np.int64)[values.codes]
    bad = t.bad[col] if bad_marked else set()
    if bad and col in t.codes:  # once per distinct cell
        rows = np.fromiter(bad, dtype=np.intp, count=len(bad))
        codes, cells = t.codes[col][0][rows], t.codes[col][1]
        used = np.unique(codes)
        per = np.zeros(len(cells), dtype=np.int64)
        per[used] = [table.setdefault(("?", _display(cells[k])), len(table))
                     for k in used.tolist()]
        out[rows] = per[codes]
    else:
        for i in bad:
            out[i] = table.setdefault(("?", _display(t.cells[col][i])), len(table))
    return out


def _combine(parts: Iterable[np.ndarray], n: int) -> np.ndarray:
    """One integer per row, equal where every part is equal (parts of non-negative ids)."""
    key = np.zeros(n, dtype=np.int64)
    bound = 1  # every key is below it
    for part in parts:
        m = int(part.max(initial=0)) + 1
        if bound * m >= 2**62:  # renumber the keys before they could overflow
            key = pd.factorize(key)[0].astype(np.int64)
            bound = int(key.max(initial=0)) + 1
        key = key * m + part
        bound *= m
    return key


def _first_of_group(key: np.ndarray) -> np.ndarray:
    """For each row, the first row with the same key."""
    codes, uniques = pd.factorize(key)
    first = np.empty(len(uniques), dtype=np.int64)
    first[codes[::-1]] = np.arange(len(key) - 1, -1, -1)
    return first[codes]


def _duplicates_fast(t: _Table) -> None:
    """:func:`_check_duplicates` on whole columns: the same problems."""
    n = t.n
    if n == 0:
        return
    parts = (_ids(t, c, True) for c in COLUMNS)
    extras = (_ids(t, None, False, s) for s in t.extras.values())
    first = _first_of_group(_combine(itertools.chain(parts, extras), n))
    rows = np.arange(n)
    repeated = first != rows
    for i in np.flatnonzero(repeated).tolist():
        _same_row(t, i, int(first[i]))
    V = t.values
    eligible = ~repeated & ~_none(t, "study_id") & ~_none(t, "outcome")
    if t.bad["timepoint_months"]:
        eligible[list(t.bad["timepoint_months"])] = False
    cols = ("study_id", "outcome", "subgroup", "arm", "timepoint_months", "source_kind")
    idx = np.flatnonzero(eligible)
    if idx.size == 0:
        return
    key = _combine((_ids(t, c, False)[idx] for c in cols), idx.size)
    first_key = _first_of_group(key)
    for pos in np.flatnonzero(first_key != np.arange(idx.size)).tolist():
        i, j = int(idx[pos]), int(idx[first_key[pos]])
        _same_key(t, i, j, (V["study_id"][i], V["outcome"][i], V["subgroup"][i] or "",
                            V["arm"][i] or "", V["timepoint_months"][i], V["source_kind"][i]))

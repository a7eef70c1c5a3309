"""A column of parsed values held once per distinct cell (dictionary-encoded).

Part of the study-table loader (:mod:`iometa.data`). On the fast path a column's cells are
factorised (:func:`iometa.data.columns._factorize`) and each distinct cell is parsed once;
:class:`Coded` keeps that: an int32 code per row and the parsed value of each code. It reads
like the list of every row's value (``col[i]``, ``for v in col``, ``len(col)``), at 4 bytes a
row instead of a list's 8-byte pointer, and the column-wise checks work on the codes
(:func:`floats`, :func:`nones`, :func:`mapped`: a value's rule is computed once per code).
The functions here take a plain list too (the general path), giving the same arrays.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

#: rows turned into Python values at a time when a column is iterated
_CHUNK = 1 << 16


class Coded:
    """The parsed values of a column: ``uniques[codes[i]]`` is the value of row i (codes of
    the narrowest integer type that holds them).

    Writing a row's value (``col[i] = v``, :meth:`assign`) gives the row a code of its own
    (the codes are copied first: they may be shared with another column or the table).

    >>> col = Coded(np.array([0, 1, 0, 2], dtype=np.int32), ["a", "b", None])
    >>> list(col), col[1], len(col)
    (['a', 'b', 'a', None], 'b', 4)
    >>> col[0] = "c"
    >>> list(col), nones(col).tolist()
    (['c', 'b', 'a', None], [False, False, False, True])
    >>> full = Coded(np.zeros(2, dtype=np.int8), list(range(127)) + [None])  # codes 0..127
    >>> full[1] = "new"
    >>> full.codes.dtype.name, full[1], full[0]
    ('int64', 'new', 0)
    """

    __slots__ = ("codes", "uniques", "_own")

    def __init__(self, codes: np.ndarray, uniques: Sequence[Any]):
        self.codes = codes
        self.uniques = list(uniques)
        self._own = False

    def __len__(self) -> int:
        return len(self.codes)

    def __getitem__(self, i: int) -> Any:
        return self.uniques[self.codes[i]]

    def __iter__(self) -> Iterator[Any]:
        get = self.uniques.__getitem__
        for start in range(0, len(self.codes), _CHUNK):
            yield from map(get, self.codes[start:start + _CHUNK].tolist())

    def __setitem__(self, i: int, value: Any) -> None:
        old = self[i]
        if old is value or (type(old) is type(value) and old == value):
            return
        self.assign(np.array([i]), value)

    def assign(self, rows: np.ndarray, value: Any) -> None:
        """Give every row of ``rows`` the value ``value``."""
        self.uniques.append(value)
        code = len(self.uniques) - 1
        if code > np.iinfo(self.codes.dtype).max:
            self.codes = self.codes.astype(np.int64)
            self._own = True
        if not self._own:
            self.codes = self.codes.copy()
            self._own = True
        self.codes[rows] = code

    def per_code(self, rule: Callable[[Any], Any], dtype: Any) -> np.ndarray:
        """rule(value) of every code, as an array."""
        return np.array([rule(v) for v in self.uniques], dtype=dtype)

    def first_rows(self) -> tuple[np.ndarray, np.ndarray]:
        """(the codes used, the first row of each), in code order."""
        return np.unique(self.codes, return_index=True)


def floats(values: Any) -> np.ndarray:
    """The values of a numeric column as float64 (NaN where missing)."""
    if isinstance(values, Coded):
        per = np.array([np.nan if v is None else v for v in values.uniques], dtype=float)
        return per[values.codes]
    return np.array(values, dtype=float)


def nones(values: Any) -> np.ndarray:
    """Which rows have no value (None)."""
    if isinstance(values, Coded):
        return values.per_code(lambda v: v is None, bool)[values.codes]
    return np.fromiter((v is None for v in values), dtype=bool, count=len(values))


def mapped(values: Any, rule: Callable[[Any], Any], dtype: Any = bool) -> np.ndarray:
    """rule(value) of every row, computed once per distinct value (or code)."""
    if isinstance(values, Coded):
        return values.per_code(rule, dtype)[values.codes]
    memo = {v: rule(v) for v in dict.fromkeys(values)}
    if dtype is object:
        out = np.empty(len(values), dtype=object)
        out[:] = [memo[v] for v in values]
        return out
    return np.fromiter(map(memo.__getitem__, values), dtype=dtype, count=len(values))


def value_ids(values: Any, rule: Callable[[Any], Any] | None = None) -> np.ndarray:
    """An integer per row, equal where the rows' values (or rule(value)) are equal (``==``,
    as in a dict)."""
    table: dict[Any, int] = {}
    if isinstance(values, Coded):
        per = [v if rule is None else rule(v) for v in values.uniques]
        ids = np.array([table.setdefault(v, len(table)) for v in per], dtype=np.int64)
        return ids[values.codes]
    if rule is not None:
        memo = {v: rule(v) for v in dict.fromkeys(values)}
        values = [memo[v] for v in values]
    return np.fromiter((table.setdefault(v, len(table)) for v in values), dtype=np.int64,
                       count=len(values))


def distinct(values: Any) -> list[Any]:
    """The distinct values in the order of their first row."""
    if isinstance(values, Coded):
        used, first = values.first_rows()
        return list(dict.fromkeys(values.uniques[k] for k in used[np.argsort(first)].tolist()))
    return list(dict.fromkeys(values))

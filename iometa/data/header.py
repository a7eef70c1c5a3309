"""The header of a study table: the columns to keep (shared by the CSV and spreadsheet readers)."""

from __future__ import annotations

from typing import Any

from .cells import _clean
from .errors import Problem, _line_problem

#: a row of the file: (line on which it starts, its cells)
_Record = tuple[int, list[str]]


def _excel_column(i: int) -> str:
    """0 -> 'A', 25 -> 'Z', 26 -> 'AA' (the spreadsheet's column letter)."""
    name = ""
    i += 1
    while i:
        i, r = divmod(i - 1, 26)
        name = chr(65 + r) + name
    return name


def _header_columns(
    names: list[str], rows: list[_Record], header_line: int, path: Any, problems: list[Problem]
) -> list[int]:
    """Positions of the columns to keep: no blank names over data, no duplicates, and the
    name 'line' is reserved."""
    keep: list[int] = []
    seen: dict[str, int] = {}
    for j, name in enumerate(names):
        message = None
        if not name:
            if any(_clean(rec[j]) for _, rec in rows):
                message = f"column {_excel_column(j)} has values but no name in the header"
        elif name.casefold() == "line":
            message = "the column name 'line' is reserved for line numbers: rename this column"
        elif name in seen:
            message = (
                f"column name appears twice (columns {_excel_column(seen[name])} "
                f"and {_excel_column(j)})"
            )
        else:
            seen[name] = j
            keep.append(j)
        if message is not None:
            problems.append(_line_problem(path, header_line, message, column=name or None))
    return keep

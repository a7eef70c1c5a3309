"""The problems of a study table, the error that lists them, and where its warnings point.

Part of the study-table loader; :class:`Problem` and :class:`StudyTableError` are public
through :mod:`iometa.data` (and :mod:`iometa`).
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .schema import _COLUMN_ORDER, COLUMNS


@dataclass(frozen=True, slots=True)  # slots: a table may have millions of problems
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
    sheet : str or None
        The sheet of a spreadsheet (.xlsx, .ods); ``line`` is then the spreadsheet row
        (header = row 1) and the problem is shown as "sheet 'S', row N".

    Example
    -------
    >>> print(Problem("studies.csv", 14, "events", "52", "events must not exceed total (51)"))
    studies.csv, line 14, column 'events': '52' — events must not exceed total (51)
    >>> print(Problem("studies.xlsx", 3, "value", "85%", "expected a proportion 0–1",
    ...               sheet="Studies"))
    studies.xlsx, sheet 'Studies', row 3, column 'value': '85%' — expected a proportion 0–1
    """

    file: str | None
    line: int | None
    column: str | None
    value: str | None
    message: str
    sheet: str | None = None

    def __str__(self) -> str:
        where = []
        if self.file:
            where.append(Path(self.file).name or str(self.file))
        if self.sheet is not None:
            where.append(f"sheet '{self.sheet}'")
        if self.line is not None:
            where.append(f"{'line' if self.sheet is None else 'row'} {self.line}")
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


#: problems of one kind (same column, same message up to its numbers) printed in full
_SHOWN_PER_KIND = 50
_NUMBERS = re.compile(r"\d+(?:\.\d+)?")


def _kind(p: Problem, _cache: dict[str, str] = {}) -> tuple[str | None, str]:  # noqa: B006
    """(column, message with its numbers as '#'): rows with the same mistake."""
    general = _cache.get(p.message)
    if general is None:
        general = _NUMBERS.sub("#", p.message)
        if len(_cache) < 100_000:  # messages repeat across the rows of a large table
            _cache[p.message] = general
    return p.column, general


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

    Example
    -------
    >>> err = StudyTableError([Problem("t.csv", 3, "total", "0", "total must be greater than 0")],
    ...                       path="t.csv")
    >>> print(err)
    t.csv: 1 problem found
    t.csv, line 3, column 'total': '0' — total must be greater than 0
    """

    def __init__(self, problems: Iterable[Problem], path: str | os.PathLike | None = None):
        self.problems: list[Problem] = sorted(problems, key=_problem_sort_key)
        self.path = path
        self._text = self._render()
        super().__init__(self._text)

    def _render(self) -> str:
        """The head line, then the first 50 problems of each kind and how many more."""
        n = len(self.problems)
        name = str(self.path) if self.path is not None else "study table"
        head = f"{name}: {n} problem{'' if n == 1 else 's'} found"
        shown: dict[tuple, int] = {}
        first: dict[tuple, Problem] = {}
        lines = [head]
        for p in self.problems:
            kind = _kind(p)
            shown[kind] = shown.get(kind, 0) + 1
            first.setdefault(kind, p)
            if shown[kind] <= _SHOWN_PER_KIND:
                lines.append(str(p))
        for kind, count in shown.items():
            if count > _SHOWN_PER_KIND:
                p = first[kind]
                where = f"column '{p.column}': " if p.column is not None else ""
                lines.append(
                    f"... and {count - _SHOWN_PER_KIND} more problems like line {p.line} "
                    f"({where}{p.message}); the error's `problems` lists them all"
                )
        return "\n".join(lines)

    def __str__(self) -> str:
        return self._text

    def __reduce__(self):  # keep the error picklable (e.g. across multiprocessing)
        return (type(self), (self.problems, self.path))


def _line_problem(
    path: Any, line: int | None, message: str, column: str | None = None,
    sheet: str | None = None,
) -> Problem:
    """A problem of a file's line (or of the whole file, line None) with no cell value."""
    return Problem(str(path), line, column, None, message, sheet)


def _file_error(path: Any, message: str) -> StudyTableError:
    return StudyTableError([_line_problem(path, None, message)], path=path)


def _outside_loader() -> int:
    """The ``stacklevel`` for :func:`warnings.warn` that points at the code calling the loader.

    Call it from the function that warns: it counts that function's frame and every frame of
    the loader's modules (the package ``iometa.data``) above it, so a warning raised
    by :func:`iometa.data.load_studies` names the user's line rather than the loader's.
    """
    level = 1
    frame = sys._getframe(1)  # the function that warns
    while frame.f_back is not None:
        name = frame.f_globals.get("__name__", "")
        if name != "iometa.data" and not name.startswith("iometa.data."):
            break
        frame = frame.f_back
        level += 1
    return level

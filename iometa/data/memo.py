"""Results computed once per report run for the same study table.

A report asks the same question of its study table many times (each outcome's selection needs
every study's size, :func:`iometa.data.populations.distinct_populations`). Inside
:func:`run_memo` (opened by :func:`iometa.report.content.build_artefacts` for one run) such
results are kept for the table object they were computed from and dropped when the block
ends; outside it, and for any other table, they are computed on each call. The report never
changes its table during a run; code that changes a table in place inside a run must not rely
on this memo (the entry is keyed by the object, not by its contents).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

_RUN: ContextVar[dict | None] = ContextVar("iometa_run_memo", default=None)


@contextmanager
def run_memo() -> Iterator[dict]:
    """Within the block, :func:`memoised` keeps its results (a new memo, dropped at the end)."""
    token = _RUN.set({})
    try:
        yield _RUN.get()
    finally:
        _RUN.reset(token)


def memoised(kind: str, table: Any, compute: Callable[[], Any]) -> Any:
    """``compute()``, once per ``kind`` and ``table`` object inside :func:`run_memo` (the
    caller must not change the result), on every call outside it."""
    memo = _RUN.get()
    if memo is None:
        return compute()
    key = (kind, id(table))
    hit = memo.get(key)
    if hit is not None and hit[0] is table:  # the object itself (an id can be reused)
        return hit[1]
    value = compute()
    memo[key] = (table, value)
    return value


__all__ = ["memoised", "run_memo"]

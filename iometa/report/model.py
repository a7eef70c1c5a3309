"""The pieces a report section is made of, and the capture of warnings into its notes."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field

import pandas as pd

from .._warnings import IometaWarning
from ..data.vocabulary import MODALITIES
from .config import ReportConfig
from .select import Ledger


@dataclass
class Table:
    """A table of a section: ``stem`` (path without suffix, relative to the report), the
    numeric frame (CSV) and its display version (Markdown)."""

    stem: str
    caption: str
    data: pd.DataFrame
    display: pd.DataFrame


@dataclass
class Section:
    """One outcome × comparison: figure, tables, method, caveats, notes and sources."""

    slug: str
    title: str
    kind: str  # "proportion", "median", "survival_rate" or "overview"
    summary: str
    method: str
    tables: list[Table]
    sources: pd.DataFrame | None = None
    figure: Callable[[], object] | None = None
    caveats: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    figure_files: list[str] = field(default_factory=list)
    figure_missing: str | None = None
    in_words: str = ""  # the pooled results in one paragraph (results_text), "" if none
    #: (sources, kind, its display, its lines) of the last sources_shown / source_lines call
    _shown: tuple | None = field(default=None, init=False, repr=False, compare=False)

    def _sources_views(self) -> tuple:
        from .tables import source_list, sources_display

        if self._shown is None or self._shown[0] is not self.sources or \
                self._shown[1] != self.kind:
            self._shown = (self.sources, self.kind, sources_display(self.sources, self.kind),
                           source_list(self.sources))
        return self._shown

    def sources_shown(self) -> pd.DataFrame:
        """``sources_display(sources, kind)``: computed once for the Markdown table, the
        HTML page and the Word document (do not change it)."""
        return self._sources_views()[2]

    def source_lines(self) -> list[str]:
        """``source_list(sources)``: computed once for the README and the HTML page."""
        return self._sources_views()[3]


@dataclass
class Context:
    """What the section builders share: the study table, the ledger of rows, and the warnings
    that the data did not cause (kept out of the report; a test requires there are none)."""

    studies: pd.DataFrame
    ledger: Ledger
    internal: list[str] = field(default_factory=list)
    failures: list[tuple[str, str]] = field(default_factory=list)
    config: ReportConfig = field(default_factory=ReportConfig)
    #: outcome -> its OutcomeRows at every time point (see :meth:`outcome_rows`)
    _rows: dict = field(default_factory=dict, repr=False)

    @classmethod
    def of(cls, studies: pd.DataFrame, config: ReportConfig | None = None) -> Context:
        """A context for ``studies`` with a fresh ledger (no line used or left out yet) and
        the report configuration ``config`` (default: the report without one)."""
        return cls(studies=studies, ledger=Ledger(studies), config=config or ReportConfig())

    def group_order(self, values) -> list[str]:
        """The groups of the configured grouping column in report order: modalities in
        vocabulary order, any other column alphabetically."""
        if self.config.group_by == "modality":
            return modality_order(values)
        return sorted({str(v) for v in values})

    def outcome_lines(self, outcome: str) -> list[int]:
        """Line numbers (in the study table's file) of the rows of ``outcome``."""
        return [int(x) for x in self.studies.loc[self.studies["outcome"].astype(str) == outcome,
                                                 "line"]]

    def outcome_rows(self, outcome: str):
        """``outcome_rows(studies, outcome, timepoint="all")``, computed once per outcome:
        the sections and the rows-not-pooled pass (``content._outside_reasons``) ask for the
        same outcomes (~15 ms each). The frames are copies: callers may change them."""
        from dataclasses import replace

        from ..data.outcomes import outcome_rows

        if outcome not in self._rows:
            self._rows[outcome] = outcome_rows(self.studies, outcome, timepoint="all")
        sel = self._rows[outcome]
        return replace(sel, rows=sel.rows.copy(), excluded=sel.excluded.copy())

    def attempt(self, name: str, lines, fn, *args):
        """``fn(*args)``, or None when the analysis refuses the data (ValueError): the
        failure is recorded for the README and the rows ``lines`` get it as their reason."""
        try:
            return fn(*args)
        except ValueError as exc:
            self.failures.append((name, str(exc)))
            for line in lines:
                self.ledger.exclude(line, f"its analysis ({name}) could not be run: {exc}")
            return None


@contextmanager
def collect(notes: list[str], internal: list[str]):
    """Capture warnings: iometa's data warnings (k = 1, bare medians, …) go to ``notes`` (once
    each, in order); anything else (layout, numpy, matplotlib) to ``internal``."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    sort_warnings([warning_record(w) for w in caught], notes, internal)


def warning_record(w: warnings.WarningMessage) -> tuple[bool, str, str]:
    """``(from the data?, category name, message)`` of a caught warning: plain values, which a
    figure drawn in another process sends back (:mod:`iometa.report.figure_jobs`)."""
    data = issubclass(w.category, IometaWarning) and w.category.__name__ != "LayoutWarning"
    return data, w.category.__name__, str(w.message)


def sort_warnings(records, notes: list[str], internal: list[str]) -> None:
    """What :func:`collect` does with the warnings it caught, given as
    :func:`warning_record` tuples: data warnings to ``notes`` (once each), the rest to
    ``internal``."""
    for data, category, msg in records:
        if data:
            if msg not in notes:
                notes.append(msg)
        else:
            internal.append(f"{category}: {msg}")


def add_notes(notes: list[str], msgs) -> None:
    """Append ``msgs`` not yet in ``notes``."""
    for m in msgs:
        if m and m not in notes:
            notes.append(m)


def modality_order(values) -> list[str]:
    """Modalities in vocabulary order (unknown codes last, alphabetically).

    Example
    -------
    >>> modality_order(["TARE", "RFA", "zzz", "TACE"])
    ['RFA', 'TACE', 'TARE', 'zzz']
    """
    vals = sorted({str(v) for v in values})
    known = [m for m in MODALITIES if m in vals]
    return known + [v for v in vals if v not in known]


def pretty_outcome(code: str) -> str:
    """Readable outcome name.

    Example
    -------
    >>> pretty_outcome("median_os"), pretty_outcome("partial_response")
    ('Median OS', 'Partial response')
    """
    words = code.split("_")
    words = [w.upper() if w in ("os", "pfs", "dfs", "rfs", "efs", "ttp", "ici") else w
             for w in words]
    text = " ".join(words)
    return text[0].upper() + text[1:]


def plural(n: int, word: str, many: str | None = None) -> str:
    return f"{n} {word if n == 1 else (many or word + 's')}"

"""The schema of the study table: its columns, their types and their allowed values.

Part of the study-table loader; the public interface is :mod:`iometa.data`, which re-exports
:data:`COLUMNS`, :data:`REQUIRED_COLUMNS`, :data:`PROVENANCE_COLUMNS` and
:data:`MISSING_SPELLINGS`. The allowed values of the categorical columns are those of the
:class:`~iometa.data.lexicon.Vocabulary` passed to the loader (the built-in codes of
:mod:`iometa.data.vocabulary` plus those a review declares in ``iometa.toml``).
"""

from __future__ import annotations

from collections.abc import Sequence

from . import vocabulary as _voc
from .aliases import suggest

#: Columns of the project table, in order.
COLUMNS: tuple[str, ...] = (
    "study_id",
    "author",
    "author_in_text",
    "year",
    "source",
    "ref_no",
    "modality",
    "site",
    "primary",
    "design",
    "n_patients",
    "n_lesions",
    "unit_of_analysis",
    "outcome",
    "subgroup",
    "arm",
    "timepoint_months",
    "events",
    "total",
    "value",
    "value_type",
    "ci_low",
    "ci_high",
    "unit",
    "derived",
    "value_reported",
    "unit_reported",
    "lesion_size_cm",
    "quote",
    "notes",
    # provenance of primary-source rows (issue 26); optional, empty on review rows
    "source_kind",
    "pmid",
    "doi",
    "url",
    "locator",
    "comparison_id",
    # events per person-time (issue 23); optional
    "person_time",
    "person_time_unit",
)

#: Where a row's number was read: ``review`` (a review's text, the default when
#: ``source_kind`` is empty) or ``primary`` (the cited study's own publication).
DEFAULT_SOURCE_KIND = "review"

#: Columns every table must have (plus ``value``, or ``events`` and ``total``).
REQUIRED_COLUMNS: tuple[str, ...] = ("study_id", "modality", "outcome")

#: Columns the project table (``strict=True``) must also have: where each number came from.
PROVENANCE_COLUMNS: tuple[str, ...] = (
    "author",
    "year",
    "source",
    "design",
    "unit_of_analysis",
    "unit",
    "quote",
)

_TEXT = frozenset(
    {
        "study_id",
        "author",
        "author_in_text",
        "source",
        "subgroup",
        "arm",
        "value_reported",
        "quote",
        "notes",
        "pmid",
        "doi",
        "url",
        "locator",
        "comparison_id",
    }
)
#: categorical column -> name of its vocabulary in :mod:`iometa.data.vocabulary`
_CATEGORICAL: dict[str, str] = {
    "modality": "MODALITIES",
    "site": "SITES",
    "primary": "PRIMARIES",
    "design": "DESIGNS",
    "unit_of_analysis": "UNITS_OF_ANALYSIS",
    "outcome": "OUTCOMES",
    "unit": "UNITS",
    "unit_reported": "UNITS_REPORTED",
    "value_type": "VALUE_TYPES",
    "source_kind": "SOURCE_KINDS",
    "person_time_unit": "PERSON_TIME_UNITS",
}
#: columns whose codes a review's vocabulary file may add (see :mod:`iometa.data.lexicon`)
_DECLARABLE = frozenset({"modality", "site", "primary", "source", "outcome"})
_INT = ("year", "ref_no", "n_patients", "n_lesions", "events", "total")
_FLOAT = ("timepoint_months", "value", "ci_low", "ci_high", "lesion_size_cm", "person_time")
_BOOL = ("derived",)
_COLUMN_ORDER = {c: i for i, c in enumerate(COLUMNS)}

#: Cell spellings read as "missing" (case-insensitive, after trimming).
MISSING_SPELLINGS: frozenset[str] = frozenset(
    {"", "na", "n/a", "nr", "not reported", "-", "\u2014", "\u2013", ".", "none", "nan"}
)
_TRUE = frozenset({"true", "yes", "y", "t", "1", "1.0"})
_FALSE = frozenset({"false", "no", "n", "f", "0", "0.0"})

#: unit that ``value`` must have for each outcome kind
_UNIT_OF_KIND = _voc.OUTCOME_KINDS
#: |value - events/total| allowed (values are usually rounded to 2 decimals in papers)
_CONSISTENCY_TOL = 0.005 + 1e-9
_MAX_INT = 2**53


def _what(column: str) -> str:
    """How a categorical column's values are named in messages ('outcome code', 'modality')."""
    return "outcome code" if column == "outcome" else column.replace("_", " ")


def _match(value: str, vocab: Sequence[str]) -> str | None:
    """Canonical spelling of value in vocab: exact, then case-insensitive; None if absent."""
    if value in vocab:
        return value
    key = value.casefold()
    for v in vocab:
        if v.casefold() == key:
            return v
    return None


def _suggest(value: str, vocab: Sequence[str], column: str | None = None) -> str | None:
    """What an unknown code probably means, as shown after 'did you mean' (or None)."""
    hits = suggest(column, value, vocab)
    if not hits:
        return None
    return "' or '".join(hits)


def _unknown_message(
    what: str, value: str, vocab: Sequence[str], column: str | None = None
) -> str:
    """Why a code is refused and what to write: a suggestion, or the allowed codes."""
    guess = _suggest(value, vocab, column)
    if guess is not None:
        return f"unknown {what}; did you mean '{guess}'?"
    msg = f"unknown {what}; allowed: {', '.join(vocab)}"
    if column in _DECLARABLE:
        msg += (f" (a new {what} can be declared in a vocabulary file, iometa.toml beside the "
                "table: see data/README.md)")
    return msg

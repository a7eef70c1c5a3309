"""The study table: read, validate and type the CSV of extracted study results.

Clinicians build the study table in a spreadsheet; this module turns that CSV into a typed
:class:`pandas.DataFrame` or explains, line by line, what has to be fixed. Every problem in a
file is collected and reported at once (never only the first), and no row is ever dropped
silently: the loader returns every data row of the file or raises :class:`StudyTableError`.

Public names
------------
:func:`load_studies`
    Read and validate a CSV file (the project table by default).
:func:`read_study_table`
    Parse a CSV file into a frame of raw strings (encoding, delimiter and shape checks only).
:func:`validate_studies`
    Check a frame (raw strings or already typed) and return the typed frame.
:func:`default_data_path`
    Where the project table lives.
:func:`outcome_kind`
    ``'proportion'`` or ``'duration'`` for an outcome code.
:func:`select`
    The rows of one outcome, optionally filtered by modality, site, timepoint, ...
:func:`outcome_rows`
    The poolable rows of one outcome, with every excluded row and why.
:func:`comparison_rows`
    The head-to-head rows of one outcome paired per comparison (treatment vs control), with
    every excluded arm row and why.
:class:`Vocabulary`, :func:`read_vocabulary`, :func:`vocabulary_of`
    The codes in force: the built-in ones plus a review's own (``iometa.toml``).
:class:`StudyTableError`, :class:`Problem`
    The error raised for an invalid table, and one entry of its list of problems.

The allowed values of the categorical columns are the built-in codes of
:mod:`iometa.data.vocabulary` plus those a review declares in its vocabulary file
(``iometa.toml`` beside the table, or ``vocabulary=``): an explicit :class:`Vocabulary` passed
through validation, never module state. Spreadsheets (``.xlsx``, ``.ods``) are read by
:mod:`.sheets`; :mod:`.aliases` maps full names and abbreviations to codes for suggestions.

This package is the study table and knows no statistics; its parts are modules named for
what they hold: :mod:`.schema` (columns, types, vocabulary lookup), :mod:`.errors`
(:class:`Problem`, :class:`StudyTableError`), :mod:`.read` (decoding and CSV parsing),
:mod:`.cells` (parsing one cell), :mod:`.columns` (matching and parsing the columns of a
frame), :mod:`.checks` (the row rules and duplicates), :mod:`.typed` (the typed frame and its
warnings), :mod:`.query` (:func:`outcome_kind`, :func:`select`), :mod:`.load`
(:func:`load_studies`, :func:`validate_studies`), :mod:`.vocabulary` (the built-in codes) and
:mod:`.outcomes` (:func:`outcome_rows`: the poolable rows of one outcome), :mod:`.comparisons`
(the rules of a head-to-head comparison and :func:`comparison_rows`), with
:mod:`.populations` (which rows of one study describe different patients: no patient counted
twice).

Example
-------
>>> import pandas as pd
>>> raw = pd.DataFrame({
...     "study_id": ["smith2019", "lee2020"],
...     "modality": ["rfa ", "MWA"],
...     "outcome": ["local_progression", "local_progression"],
...     "events": ["4", "6"],
...     "total": ["40", "52"],
... })
>>> df = validate_studies(raw)
>>> df["modality"].tolist()
['RFA', 'MWA']
>>> df["line"].tolist()
[2, 3]
"""

from __future__ import annotations

from .._warnings import DataWarning as DataWarning  # the loader's warning, as before
from .comparisons import ComparisonRows, comparison_rows
from .errors import Problem, StudyTableError
from .lexicon import Vocabulary, VocabularyError, read_vocabulary, vocabulary_of
from .load import load_studies, validate_studies
from .outcomes import OutcomeRows, outcome_rows
from .query import outcome_kind, select
from .read import default_data_path, read_study_table
from .schema import COLUMNS, MISSING_SPELLINGS, PROVENANCE_COLUMNS, REQUIRED_COLUMNS

__all__ = [
    "COLUMNS",
    "REQUIRED_COLUMNS",
    "PROVENANCE_COLUMNS",
    "MISSING_SPELLINGS",
    "DataWarning",
    "OutcomeRows",
    "ComparisonRows",
    "comparison_rows",
    "Problem",
    "StudyTableError",
    "default_data_path",
    "read_study_table",
    "validate_studies",
    "load_studies",
    "outcome_kind",
    "outcome_rows",
    "select",
    "Vocabulary",
    "VocabularyError",
    "read_vocabulary",
    "vocabulary_of",
]

# the examples of the names defined in the parts are run with this module's (doctest.testmod)
__test__ = {
    "Problem": Problem,
    "StudyTableError": StudyTableError,
    "default_data_path": default_data_path,
    "read_study_table": read_study_table,
    "validate_studies": validate_studies,
    "load_studies": load_studies,
    "outcome_kind": outcome_kind,
    "select": select,
    "Vocabulary": Vocabulary,
    "read_vocabulary": read_vocabulary,
}

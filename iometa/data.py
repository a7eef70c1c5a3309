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
:class:`StudyTableError`, :class:`Problem`
    The error raised for an invalid table, and one entry of its list of problems.

The allowed values of the categorical columns come from :mod:`iometa.vocabulary` and are
read at call time, so entries added there are accepted without touching this module.

This module is the public face of the loader; the parts live in modules named for what they
hold: :mod:`iometa.table_schema` (columns, types, vocabulary lookup),
:mod:`iometa.table_errors` (:class:`Problem`, :class:`StudyTableError`),
:mod:`iometa.table_read` (decoding and CSV parsing), :mod:`iometa.table_cells` (parsing one
cell), :mod:`iometa.table_columns` (matching and parsing the columns of a frame),
:mod:`iometa.table_checks` (the row rules and duplicates), :mod:`iometa.table_typed` (the
typed frame and its warnings) and :mod:`iometa.table_query` (:func:`outcome_kind`,
:func:`select`).

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

import os
from pathlib import Path

import pandas as pd

from iometa._warnings import DataWarning as DataWarning  # the loader's warning, as before
from iometa.table_checks import _check_duplicates, _check_rows
from iometa.table_columns import _match_columns, _parse_columns, _Table
from iometa.table_errors import Problem, StudyTableError
from iometa.table_query import outcome_kind, select
from iometa.table_read import default_data_path, read_study_table
from iometa.table_schema import COLUMNS, MISSING_SPELLINGS, PROVENANCE_COLUMNS, REQUIRED_COLUMNS
from iometa.table_typed import _typed_frame, _warn

__all__ = [
    "COLUMNS",
    "REQUIRED_COLUMNS",
    "PROVENANCE_COLUMNS",
    "MISSING_SPELLINGS",
    "Problem",
    "StudyTableError",
    "default_data_path",
    "read_study_table",
    "validate_studies",
    "load_studies",
    "outcome_kind",
    "select",
]

# the examples of the names defined in the parts are run with this module's (doctest.testmod)
__test__ = {
    "Problem": Problem,
    "StudyTableError": StudyTableError,
    "default_data_path": default_data_path,
    "read_study_table": read_study_table,
    "outcome_kind": outcome_kind,
    "select": select,
}


def validate_studies(
    df: pd.DataFrame, *, path: str | os.PathLike | None = None, strict: bool = False
) -> pd.DataFrame:
    """Check a study table and return it typed, or raise listing every problem.

    Parameters
    ----------
    df : pandas.DataFrame
        Raw strings (as from :func:`read_study_table`) or an already typed frame (validating
        the output of :func:`load_studies` again returns an equal frame). Column names are
        matched after trimming, case-insensitively. Line numbers in messages come from a
        ``line`` column if present, else ``index + 2`` (header = line 1).
    path : str or path-like, optional
        File name used in messages (default: ``df.attrs['path']`` if set).
    strict : bool
        Also apply the provenance rules of the project table: the columns
        :data:`PROVENANCE_COLUMNS` must exist, every row needs a ``quote`` and a ``source``,
        and ``source`` must be one of :data:`iometa.vocabulary.SOURCES`.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`COLUMNS` in order (absent optional columns added as all-missing), then
        any extra columns of the input unchanged, then ``line`` (Int64). Categorical columns
        have the full vocabulary as categories; counts and ``year`` are Int64; ``value``,
        ``ci_low``, ``ci_high``, ``timepoint_months``, ``lesion_size_cm`` float64 (``inf`` =
        median / upper limit "not reached"); ``derived`` boolean; text columns ``string``
        (``subgroup`` ``""`` when empty = whole population). Rows keep their order.

    Raises
    ------
    StudyTableError
        With every problem found (see :class:`Problem`).

    Example
    -------
    >>> import pandas as pd
    >>> raw = pd.DataFrame({"study_id": ["A"], "modality": ["RFAA"],
    ...                     "outcome": ["local_progression"], "value": ["85%"]})
    >>> try:
    ...     validate_studies(raw, path="mine.csv")
    ... except StudyTableError as exc:
    ...     print(exc)
    mine.csv: 2 problems found
    mine.csv, line 2, column 'modality': 'RFAA' — unknown modality; did you mean 'RFA'?
    mine.csv, line 2, column 'value': '85%' — expected a proportion 0–1: write 0.85, not 85%
    """
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"validate_studies expects a pandas DataFrame, not {type(df).__name__}")
    file = str(path) if path is not None else df.attrs.get("path")
    t = _Table(df, file=file, strict=bool(strict), decimal_comma=df.attrs.get("decimal") == ",")
    _match_columns(t)
    if t.n == 0:
        t.add(None, None, None, "the table has no data rows")
    _parse_columns(t)
    _check_rows(t)
    _check_duplicates(t)
    if t.problems:
        raise StudyTableError(t.problems, path=t.file)
    out = _typed_frame(t)
    _warn(t)
    return out


def _is_default_table(path: str | os.PathLike) -> bool:
    try:
        return Path(path).resolve() == default_data_path().resolve()
    except (OSError, RuntimeError, TypeError, ValueError):
        return False


def load_studies(
    path: str | os.PathLike | None = None, *, strict: bool | None = None
) -> pd.DataFrame:
    """Read and validate a study table.

    Parameters
    ----------
    path : str or path-like, optional
        The CSV file. Default: the project table (:func:`default_data_path`).
    strict : bool, optional
        Apply the provenance rules (see :func:`validate_studies`). Default: True for the
        project table (also when its path is given explicitly, as ``iometa validate`` does),
        False for any other file.

    Returns
    -------
    pandas.DataFrame
        The typed table (see :func:`validate_studies`).

    Raises
    ------
    StudyTableError
        The file cannot be read or the table has problems; ``str(error)`` lists them all.

    Example
    -------
    >>> import tempfile, pathlib
    >>> tmp = pathlib.Path(tempfile.mkdtemp()) / "mine.csv"
    >>> _ = tmp.write_text(
    ...     "study_id,modality,outcome,timepoint_months,value,ci_high\\n"
    ...     "kim2021,MWA,median_os,,not reached,NR\\n"
    ...     "kim2021,MWA,os_rate,12,0.91,\\n"
    ... )
    >>> df = load_studies(tmp)
    >>> df["value"].tolist(), df["timepoint_months"].tolist()
    ([inf, 0.91], [nan, 12.0])
    """
    default = path is None
    if default:
        path = default_data_path()
    if strict is None:
        strict = default or _is_default_table(path)
    raw = read_study_table(path)
    return validate_studies(raw, path=path, strict=strict)

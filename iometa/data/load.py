"""Load and validate a study table: :func:`load_studies`, :func:`validate_studies`."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from .._warnings import DataWarning as DataWarning  # the loader's warning, as before
from .checks import _check_rows
from .columns import _match_columns, _parse_columns, _Table
from .comparison_checks import _check_comparisons
from .errors import StudyTableError
from .lexicon import Vocabulary, resolve_vocabulary
from .read import default_data_path, read_study_table
from .table_checks import _check_duplicates
from .typed import _typed_frame, _warn

__all__ = ["load_studies", "validate_studies"]


def validate_studies(
    df: pd.DataFrame,
    *,
    path: str | os.PathLike | None = None,
    strict: bool = False,
    vocabulary: Vocabulary | Mapping | str | os.PathLike | None = None,
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
        and ``source`` must be one of the vocabulary's sources.
    vocabulary : Vocabulary, mapping, or path to a TOML file, optional
        Codes the table adds to the built-in vocabulary (see :mod:`iometa.data.lexicon`):
        a :class:`~iometa.data.lexicon.Vocabulary`, a dict of the TOML file's shape, or the
        file's path. Default: the vocabulary a validated frame carries
        (``df.attrs['vocabulary']``), else the built-in one (this function reads no file;
        :func:`load_studies` looks for ``iometa.toml`` beside the table). When the
        vocabulary declares ``sources``, ``source`` is checked in every table.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`COLUMNS` in order (absent optional columns added as all-missing), then
        any extra columns of the input unchanged, then ``line`` (Int64). Categorical columns
        have the full vocabulary as categories; counts and ``year`` are Int64; ``value``,
        ``ci_low``, ``ci_high``, ``timepoint_months``, ``lesion_size_cm`` float64 (``inf`` =
        median / upper limit "not reached"); ``derived`` boolean; text columns ``string``
        (``subgroup`` ``""`` when empty = whole population). Rows keep their order.
        ``attrs['vocabulary']`` holds the vocabulary used (read by :func:`outcome_rows`,
        :func:`select` and :func:`outcome_kind`).

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
    >>> raw = raw.assign(modality="histotripsy", value="0.85")
    >>> validate_studies(raw, vocabulary={"modalities": ["histotripsy"]})["modality"].tolist()
    ['histotripsy']
    """
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"validate_studies expects a pandas DataFrame, not {type(df).__name__}")
    file = str(path) if path is not None else df.attrs.get("path")
    carried = df.attrs.get("vocabulary")  # a frame validated before keeps its vocabulary
    voc = carried if vocabulary is None and isinstance(carried, Vocabulary) else (
        resolve_vocabulary(vocabulary))
    t = _Table(
        df,
        file=file,
        strict=bool(strict),
        decimal_comma=df.attrs.get("decimal") == ",",
        vocabulary=voc,
        sheet=df.attrs.get("sheet"),
    )
    _match_columns(t)
    if t.n == 0:
        t.add(None, None, None, "the table has no data rows")
    _parse_columns(t)
    _check_rows(t)
    _check_comparisons(t)
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
    path: str | os.PathLike | None = None,
    *,
    strict: bool | None = None,
    vocabulary: Vocabulary | Mapping | str | os.PathLike | None = None,
    sheet: str | None = None,
) -> pd.DataFrame:
    """Read and validate a study table.

    Parameters
    ----------
    path : str or path-like, optional
        The CSV file, or a spreadsheet (``.xlsx``, ``.ods``; see :func:`read_study_table`).
        Default: the project table (:func:`default_data_path`).
    strict : bool, optional
        Apply the provenance rules (see :func:`validate_studies`). Default: True for the
        project table (also when its path is given explicitly, as ``iometa validate`` does),
        False for any other file.
    vocabulary : Vocabulary, mapping, or path to a TOML file, optional
        The codes the review adds (see :func:`validate_studies`). Default: the file
        ``iometa.toml`` in the table's folder if there is one, else the built-in vocabulary.
    sheet : str, optional
        The sheet of a spreadsheet to read (default: the first one).

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
    voc = resolve_vocabulary(vocabulary, table=path)
    raw = read_study_table(path, sheet=sheet)
    return validate_studies(raw, path=path, strict=strict, vocabulary=voc)

"""Questions asked of a loaded study table: the kind of an outcome, the rows of one outcome.

Part of the study-table loader; :func:`outcome_kind` and :func:`select` are public through
:mod:`iometa.data`. Values are matched like the loader matches them ('rfa' = 'RFA').
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from .aliases import column_hint
from .cells import _clean
from .lexicon import Vocabulary, resolve_vocabulary, vocabulary_of
from .schema import _CATEGORICAL, _match, _unknown_message, _what


def _codes(column: str, vocabulary: Vocabulary, df: pd.DataFrame | None) -> tuple[str, ...]:
    """The codes of a column: the vocabulary's, plus the categories the frame carries."""
    codes = vocabulary.allowed(column)
    if df is not None and column in df.columns and isinstance(df[column].dtype,
                                                               pd.CategoricalDtype):
        codes = tuple(dict.fromkeys([*codes, *map(str, df[column].cat.categories)]))
    return codes


def _canonical(
    column: str, value: Any, vocabulary: Vocabulary | None = None, df: pd.DataFrame | None = None
) -> Any:
    """A filter value in its canonical spelling; ValueError for an unknown category."""
    if column not in _CATEGORICAL or not isinstance(value, str):
        return value
    vocab = _codes(column, vocabulary or Vocabulary.builtin(), df)
    canon = _match(_clean(value), vocab)
    if canon is None:
        raise ValueError(f"{value!r}: {_unknown_message(_what(column), value, vocab, column)}")
    return canon


def outcome_kind(code: str, vocabulary: Any = None) -> str:
    """The kind of an outcome: ``'proportion'`` (stored 0–1), ``'duration'`` (months) or
    ``'score'``; ``vocabulary`` (a Vocabulary, a mapping or a TOML path) adds a review's codes.

    Example
    -------
    >>> outcome_kind("median_os"), outcome_kind("Local_Progression")
    ('duration', 'proportion')
    >>> outcome_kind("median_rfs", {"outcomes": {"median_rfs": "duration"}})
    'duration'
    """
    voc = resolve_vocabulary(vocabulary)
    return voc.outcomes[_canonical("outcome", code, voc)]


def select(df: pd.DataFrame, outcome: str, **filters: Any) -> pd.DataFrame:
    """The rows of one outcome, optionally filtered on other columns.

    Each keyword names a column; its value is one value, a list/tuple/set of values (any of
    them), or None (rows where the column is empty; for ``subgroup``, whose empty cells are
    ``""``, the rows of the whole population). Categorical values are matched like the
    loader does ('rfa' = 'RFA'); an unknown value or column raises ValueError rather than
    silently selecting nothing. Nothing else is dropped: rows are returned whatever their
    other cells hold, with their original index and ``line``.

    Example
    -------
    >>> import pandas as pd
    >>> from iometa.data import validate_studies
    >>> df = validate_studies(pd.DataFrame({
    ...     "study_id": ["A", "B", "C"], "modality": ["RFA", "MWA", "RFA"],
    ...     "outcome": ["os_rate", "os_rate", "median_os"],
    ...     "timepoint_months": ["12", "12", ""], "value": ["0.9", "0.8", "30"]}))
    >>> select(df, "os_rate", modality="rfa", timepoint_months=12)["study_id"].tolist()
    ['A']
    >>> select(df, "os_rate", subgroup=None)["study_id"].tolist()
    ['A', 'B']
    """
    if "outcome" not in df.columns:
        raise ValueError("the table has no 'outcome' column")
    voc = vocabulary_of(df)
    code = _canonical("outcome", outcome, voc, df)
    mask = (df["outcome"] == code).to_numpy(dtype=bool, na_value=False)
    for column, wanted in filters.items():
        mask = mask & _filter_mask(df, column, wanted, voc)
    return df.loc[mask].copy()


def unknown_keyword(name: str, columns, extra=()) -> str:
    """'unknown column ...; did you mean ...?' for a filter keyword that names no column."""
    guess = column_hint(name, [str(c) for c in [*columns, *extra]])
    hint = f"; did you mean '{guess[0]}'?" if guess else ""
    return f"unknown column {name!r} (no such column in the table){hint}"


def _filter_mask(df: pd.DataFrame, column: str, wanted: Any, voc: Vocabulary | None = None):
    """Boolean array: the rows whose `column` holds `wanted` (see :func:`select`)."""
    if column not in df.columns:
        raise ValueError(unknown_keyword(column, df.columns))
    s = df[column]
    if wanted is None:  # empty: missing, or the '' of a text column (subgroup)
        empty = s.isna()
        if s.dtype == object or isinstance(s.dtype, pd.StringDtype):
            empty = empty | (s == "")
        return empty.to_numpy(dtype=bool, na_value=True)
    if isinstance(wanted, (list, tuple, set, frozenset)):
        wanted = [_canonical(column, w, voc, df) for w in wanted]
        return s.isin(wanted).to_numpy(dtype=bool, na_value=False)
    return (s == _canonical(column, wanted, voc, df)).to_numpy(dtype=bool, na_value=False)

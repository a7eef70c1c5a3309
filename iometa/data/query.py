"""Questions asked of a loaded study table: the kind of an outcome, the rows of one outcome.

Part of the study-table loader; :func:`outcome_kind` and :func:`select` are public through
:mod:`iometa.data`. Values are matched like the loader matches them ('rfa' = 'RFA').
"""

from __future__ import annotations

import difflib
from typing import Any

import pandas as pd

from . import vocabulary as _voc
from .cells import _clean
from .schema import _CATEGORICAL, _match, _unknown_message, _vocabulary, _what


def _canonical(column: str, value: Any) -> Any:
    """A filter value in its canonical spelling; ValueError for an unknown category."""
    if column not in _CATEGORICAL or not isinstance(value, str):
        return value
    vocab = _vocabulary(column)
    canon = _match(_clean(value), vocab)
    if canon is None:
        raise ValueError(f"{value!r}: {_unknown_message(_what(column), value, vocab)}")
    return canon


def outcome_kind(code: str) -> str:
    """The kind of an outcome: ``'proportion'`` (stored 0–1) or ``'duration'`` (months).

    Example
    -------
    >>> outcome_kind("median_os"), outcome_kind("Local_Progression")
    ('duration', 'proportion')
    """
    return _voc.OUTCOMES[_canonical("outcome", code)]


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
    code = _canonical("outcome", outcome)
    mask = (df["outcome"] == code).to_numpy(dtype=bool, na_value=False)
    for column, wanted in filters.items():
        mask = mask & _filter_mask(df, column, wanted)
    return df.loc[mask].copy()


def _filter_mask(df: pd.DataFrame, column: str, wanted: Any):
    """Boolean array: the rows whose `column` holds `wanted` (see :func:`select`)."""
    if column not in df.columns:
        guess = difflib.get_close_matches(column, [str(c) for c in df.columns], n=1)
        hint = f"; did you mean '{guess[0]}'?" if guess else ""
        raise ValueError(f"unknown column {column!r}{hint}")
    s = df[column]
    if wanted is None:  # empty: missing, or the '' of a text column (subgroup)
        empty = s.isna()
        if s.dtype == object or isinstance(s.dtype, pd.StringDtype):
            empty = empty | (s == "")
        return empty.to_numpy(dtype=bool, na_value=True)
    if isinstance(wanted, (list, tuple, set, frozenset)):
        return s.isin([_canonical(column, w) for w in wanted]).to_numpy(dtype=bool, na_value=False)
    return (s == _canonical(column, wanted)).to_numpy(dtype=bool, na_value=False)

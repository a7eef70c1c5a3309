"""A warning names at most MAX_LINES_LISTED table lines and counts the rest (a large table
must not print megabytes of line numbers), on the fast and the row-by-row loader paths."""

from __future__ import annotations

import warnings

import pandas as pd
import pytest

from iometa._warnings import DataWarning
from iometa.data import fastpath, validate_studies
from iometa.data.typed import MAX_LINES_LISTED


def _table(n_lesion_rows: int) -> pd.DataFrame:
    rows = [{"study_id": f"s{i}", "modality": "RFA", "outcome": "local_progression",
             "unit_of_analysis": "lesions", "events": "2", "total": "20"}
            for i in range(n_lesion_rows)]
    rows.append({"study_id": "p1", "modality": "RFA", "outcome": "local_progression",
                 "unit_of_analysis": "patients", "events": "1", "total": "10"})
    return pd.DataFrame(rows)


@pytest.mark.parametrize("fast", [True, False])
def test_mixed_units_warning_lists_the_first_lines_and_counts_the_rest(monkeypatch, fast):
    monkeypatch.setattr(fastpath, "ENABLED", fast)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always", DataWarning)
        validate_studies(_table(MAX_LINES_LISTED + 10))
    [msg] = [str(w.message) for w in seen if "are mixed" in str(w.message)]
    listed = msg.split("per-lesion rows (")[1].split(")")[0]
    assert listed.endswith(" and 10 more")
    assert listed.count(",") == MAX_LINES_LISTED - 1
    assert "(line 32)" in msg  # the one per-patient row, line = row + 2 (header is line 1)


def test_short_lists_are_unchanged():
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always", DataWarning)
        validate_studies(_table(3))
    [msg] = [str(w.message) for w in seen if "are mixed" in str(w.message)]
    assert "per-lesion rows (lines 2, 3, 4) and per-patient rows (line 5)" in msg

"""Selecting the rows of one outcome for pooling: nothing excluded without a reason."""

from __future__ import annotations

import pandas as pd
import pytest

import iometa
from iometa.outcomes import outcome_rows, study_label


def _table(rows):
    base = {"study_id": "s", "author": "Meloni MF", "year": 2009, "modality": "RFA",
            "outcome": "complete_ablation", "subgroup": "", "events": None, "total": None,
            "value": None, "n_patients": None, "n_lesions": None, "unit_of_analysis": "patients",
            "value_reported": None, "unit_reported": "percent", "line": 2}
    return pd.DataFrame([{**base, **r} for r in rows])


def test_reported_reconstructed_and_excluded_rows():
    df = _table([
        {"study_id": "a", "events": 13, "total": 51, "value": 13 / 51, "line": 2},
        {"study_id": "b", "value": 0.75, "n_patients": 20, "value_reported": "75", "line": 3},
        {"study_id": "c", "value": 0.75, "n_patients": 34, "value_reported": "75", "line": 4},
        {"study_id": "d", "value": 0.5, "line": 5},
        {"study_id": "e", "value": 0.81, "n_patients": 69, "subgroup": "lesion <3 cm",
         "line": 6},
        {"study_id": "f", "value": 0.9, "n_lesions": 10, "unit_of_analysis": "lesions",
         "value_reported": "90", "line": 7},
        {"study_id": "g", "value": 0.1, "n_patients": 10, "value_type": "upper_bound",
         "line": 8},
    ])
    sel = outcome_rows(df, "complete_ablation")
    assert sel.rows["study_id"].tolist() == ["a", "b", "f"]
    assert sel.rows["count_source"].tolist() == ["reported", "reconstructed", "reconstructed"]
    assert sel.rows["events_used"].tolist() == [13, 15, 9]
    assert sel.rows["total_used"].tolist() == [51, 20, 10]
    reasons = dict(zip(sel.excluded["study_id"], sel.excluded["reason"]))
    assert set(reasons) == {"c", "d", "e", "g"}
    assert "not a whole number of 34" in reasons["c"]
    assert "without a stated denominator" in reasons["d"]
    assert "subgroup size not reported" in reasons["e"]
    assert "not an estimate" in reasons["g"]
    assert len(sel.rows) + len(sel.excluded) == len(df)
    assert "line 4" in sel.summary()


def test_no_reconstruction_when_disabled():
    df = _table([{"study_id": "b", "value": 0.75, "n_patients": 20, "value_reported": "75"}])
    sel = outcome_rows(df, "complete_ablation", reconstruct=False)
    assert sel.rows.empty and sel.excluded["reason"].tolist() == ["no events/total"]


def test_survival_rates_are_not_turned_into_counts():
    df = _table([{"outcome": "os_rate", "value": 0.706, "n_patients": 17}])
    sel = outcome_rows(df, "os_rate")
    assert sel.rows.empty and "pool_survival_rates" in sel.excluded.loc[0, "reason"]


def test_duration_rows_and_filters():
    df = _table([
        {"study_id": "a", "outcome": "median_os", "value": 29.9, "modality": "RFA"},
        {"study_id": "b", "outcome": "median_os", "value": 41.8, "modality": "MWA"},
        {"study_id": "c", "outcome": "median_os", "value": float("inf"), "modality": "MWA"},
    ])
    assert outcome_rows(df, "median_os", modality="RFA").rows["study_id"].tolist() == ["a"]
    sel = outcome_rows(df, "median_os", modality=["RFA", "MWA"])
    assert sel.rows["study_id"].tolist() == ["a", "b"]
    assert "not reached" in sel.excluded.loc[0, "reason"]


def test_labels_and_unknown_outcome():
    assert study_label({"author": "Meloni MF", "year": 2009, "subgroup": ""}) == "Meloni 2009"
    assert study_label({"author": None, "study_id": "x1", "subgroup": "arm: A"}) == "x1 (arm: A)"
    with pytest.raises(ValueError, match="unknown outcome"):
        outcome_rows(_table([{}]), "nonsense")


def test_project_table_rows_all_accounted_for():
    studies = iometa.load_studies()
    for outcome in studies["outcome"].astype(str).unique():
        sel = outcome_rows(studies, outcome)
        n = (studies["outcome"].astype(str) == outcome).sum()
        assert len(sel.rows) + len(sel.excluded) == n, outcome
    ranges = outcome_rows(studies, "median_os").excluded
    assert set(ranges.loc[ranges["study_id"] == "wang2017", "reason"].str[:5]) == {"range"}


def test_loader_types_value_type():
    from iometa.data.vocabulary import VALUE_TYPES

    studies = iometa.load_studies()
    assert list(studies["value_type"].cat.categories) == list(VALUE_TYPES)


def test_row_checks_read_only_the_cells_outcome_rows_hands_them():
    """outcome_rows gives its row checks records of ROW_COLUMNS only, and they read cells with
    ``row.get``: a cell read in iometa/data/outcomes.py but missing from ROW_COLUMNS would
    silently be None. Every literal key the module reads from a row must be listed."""
    import re
    from pathlib import Path

    from iometa.data import outcomes

    source = Path(outcomes.__file__).read_text(encoding="utf-8")
    read = set(re.findall(r"\brow(?:\.get\(|\[)[\"'](\w+)[\"']", source))
    assert {"author", "events", "person_time", "value_reported"} <= read  # the scan works
    assert read <= set(outcomes.ROW_COLUMNS), sorted(read - set(outcomes.ROW_COLUMNS))

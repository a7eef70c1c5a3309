"""Issue 21, "Numbers": fuzzed inputs that escaped as exceptions, NaN or untrue warnings."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import iometa
from iometa.survival import pool_medians


def test_pool_medians_near_1e300_identity_scale_is_a_value_error_not_overflow():
    # se**2 of a CI width near 1e300 raised OverflowError (Python's float power)
    for kw in (
        dict(ci_low=[0.5e300, 1e300, 2e300], ci_high=[1.5e300, 3e300, 4e300]),
        dict(ci_low=[0.5e300, 1e300, 2e300]),
        dict(deaths=[3, 4, 5], route="iv"),
    ):
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)
            with pytest.raises(ValueError, match="Study 1"):
                pool_medians([1e300, 2e300, 3e300], scale="identity", **kw)


@pytest.mark.parametrize("route", ["wm", "auto", "mm"])
def test_pool_medians_infinite_n_is_an_error_not_a_silent_nan(route):
    with pytest.raises(ValueError, match=r"study 'Study 1': n must be a finite number"):
        pool_medians([10, 20, 30], n=[np.inf, 20, 30], route=route)


def test_pool_medians_infinite_deaths_is_an_error():
    with pytest.raises(ValueError, match=r"deaths must be a finite number"):
        pool_medians([10, 20, 30], deaths=[np.inf, 5, 6], route="iv")


@pytest.mark.parametrize("level", [95, 0, 1, -0.5])
def test_glmm_level_checked_like_every_method(level):
    args = ([3, 5, 7, 2, 9], [20, 25, 30, 15, 40])
    with pytest.raises(ValueError) as other:
        iometa.pool_proportions(*args, method="REML", level=level)
    with pytest.raises(ValueError) as glmm:
        iometa.pool_proportions(*args, method="GLMM", level=level)
    assert str(glmm.value) == str(other.value)
    assert "level must be between 0 and 1 (e.g. 0.95)" in str(glmm.value)


def test_knapp_hartung_all_zero_effects_warning_is_true():
    with pytest.warns(iometa.IometaWarning, match="Knapp-Hartung") as rec:
        res = iometa.pool([0.0, 0.0, 0.0], [0.1, 0.2, 0.3], test="knha")
    assert np.isnan(res.stat)
    text = " ".join(str(w.message) for w in rec)
    assert "NaN" in text and "infinite" not in text
    with pytest.warns(iometa.IometaWarning, match="Knapp-Hartung") as rec:
        res = iometa.pool([1.0, 1.0, 1.0], [0.1, 0.2, 0.3], test="knha")
    assert np.isinf(res.stat)
    assert "infinite" in " ".join(str(w.message) for w in rec)


@pytest.mark.parametrize(
    "cell, word",
    [
        (np.timedelta64(5, "D"), "duration"),
        (pd.Timedelta(days=3), "duration"),
        (np.datetime64("2019-03-12"), "date"),
        (pd.Timestamp("2019-03-12"), "date"),
    ],
)
@pytest.mark.parametrize("column", ["value", "n_patients", "derived", "modality", "study_id"])
def test_time_cells_in_validate_studies_are_problems_not_type_errors(cell, word, column):
    df = pd.DataFrame(
        {
            "study_id": ["a", "b"],
            "modality": ["RFA", "RFA"],
            "outcome": ["median_os"] * 2,
            "value": [4.0, 3.0],
        }
    )
    df[column] = pd.array([cell, df[column][1] if column in df else 3.0], dtype=object)
    if column == "study_id":  # text: kept as written
        iometa.validate_studies(df)
        return
    with pytest.raises(iometa.StudyTableError) as err:
        iometa.validate_studies(df)
    p = err.value.problems[0]
    assert (p.line, p.column) == (2, column)
    if column in ("value", "n_patients"):
        assert f"this is a {word}, not a number" in p.message


def test_nat_timedelta_cell_is_missing():
    df = pd.DataFrame(
        {
            "study_id": ["a"],
            "modality": ["RFA"],
            "outcome": ["median_os"],
            "value": [4.0],
            "n_patients": pd.array([np.timedelta64("NaT")], dtype=object),
        }
    )
    assert pd.isna(iometa.validate_studies(df)["n_patients"][0])

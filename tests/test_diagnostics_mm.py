"""Diagnostics and bias tests refuse median-of-medians results with a clear message."""

from __future__ import annotations

import warnings

import pytest

import iometa

FUNCS = ["leave_one_out", "influence", "cumulative", "baujat", "gosh", "egger_test",
         "begg_test", "peters_test", "trim_and_fill"]


@pytest.mark.parametrize("name", FUNCS)
@pytest.mark.parametrize("route", ["mm", "wm"])
def test_median_of_medians_is_refused(name, route):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = iometa.pool_medians([41.8, 30.0, 20.0, 25.0, 12.0], n=[40, 50, 60, 70, 80],
                                  route=route)
    with pytest.raises(ValueError, match="needs within-study variances"):
        getattr(iometa, name)(res)

"""``iometa.outcomes``: the path users write today for :func:`outcome_rows` (and
:func:`comparison_rows`).

The code lives in :mod:`iometa.data.outcomes`; this module keeps ``from iometa.outcomes import
outcome_rows`` working.

Example
-------
>>> from iometa.outcomes import outcome_rows
>>> outcome_rows.__module__
'iometa.data.outcomes'
"""

from .data.comparisons import ComparisonRows, comparison_rows
from .data.outcomes import NOT_ESTIMATES, OutcomeRows, outcome_rows, study_label, value_type

__all__ = ["NOT_ESTIMATES", "ComparisonRows", "OutcomeRows", "comparison_rows", "outcome_rows",
           "study_label", "value_type"]

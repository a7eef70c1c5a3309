"""Small-study effects: Egger's, Peters' and Begg's tests and trim-and-fill (metafor's
``regtest``, ``ranktest``, ``trimfill``). Each takes a fitted result.

Example
-------
>>> import iometa
>>> res = iometa.pool([0.1, 0.5, 0.9, 0.3, 0.7], [0.04, 0.05, 0.06, 0.05, 0.09], method="DL")
>>> iometa.bias.egger_test(res).k
5
"""

from __future__ import annotations

from .asymmetry import (
    RankTestResult,
    RegressionTestResult,
    begg_test,
    egger_test,
    peters_test,
)
from .harbord import harbord_test
from .trimfill import TrimFillResult, trim_and_fill

__all__ = ["RankTestResult", "RegressionTestResult", "TrimFillResult", "begg_test", "egger_test",
           "harbord_test", "peters_test", "trim_and_fill"]

"""Diagnostics of a fitted model: leave-one-out, cumulative, influence, Baujat, GOSH and the
method-sensitivity table. Every function takes a :class:`~iometa.core.results.MetaResult` and
refits through the core (metafor's ``leave1out``, ``cumul``, ``influence``, ``baujat``, ``gosh``).

Example
-------
>>> import iometa
>>> res = iometa.pool([0.1, 0.5, 0.9, 0.3], [0.04, 0.05, 0.06, 0.05], method="DL")
>>> iometa.diagnostics.leave_one_out(res)["k"].tolist()
[3, 3, 3, 3]
"""

from __future__ import annotations

from .gosh import gosh
from .influence import baujat, influence
from .loo import cumulative, leave_one_out
from .sensitivity import method_sensitivity

__all__ = ["baujat", "cumulative", "gosh", "influence", "leave_one_out", "method_sensitivity"]

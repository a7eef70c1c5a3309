"""Decoding of the R reference fixtures ``tests/reference/<topic>.json``.

The fixtures are written by ``tests/reference/make_reference.R``; their encoding is that of
``num``/``vec`` in ``tests/reference/helpers.R``: R NA is ``null``, the IEEE specials are the
strings ``"NaN"``, ``"Inf"`` and ``"-Inf"``, vectors are lists.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

_SPECIALS = {"NaN": math.nan, "Inf": math.inf, "-Inf": -math.inf}


def decode(value: Any) -> Any:
    """One fixture value as floats: null -> nan, "NaN"/"Inf"/"-Inf" -> the IEEE specials, a list
    -> a float array (an array already decoded is returned as floats)."""
    if isinstance(value, np.ndarray):
        return value.astype(float)
    if isinstance(value, list):
        return np.array([decode(v) for v in value], dtype=float)
    if value is None:
        return math.nan
    if isinstance(value, str):
        return _SPECIALS[value]
    return float(value)

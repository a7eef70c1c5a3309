"""Type aliases of the public signatures (for type checkers and the API reference).

Inputs of the pool functions are array-likes (lists, NumPy arrays, pandas Series) or, with
``data=``, the name of a column of that DataFrame.
"""

from __future__ import annotations

from typing import TypeAlias

import pandas as pd
from numpy.typing import ArrayLike

#: numbers per study, or a column name of ``data``
Values: TypeAlias = "ArrayLike | str"
#: study labels, or a column name of ``data``; None numbers the studies
Labels: TypeAlias = "ArrayLike | str | None"
#: the study table the column names refer to
Data: TypeAlias = "pd.DataFrame | None"

__all__ = ["Data", "Labels", "Values"]

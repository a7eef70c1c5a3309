"""The typed frame of a valid study table, and the warnings it still deserves.

Part of the study-table loader (:func:`iometa.data.validate_studies`): once a
:class:`~iometa.data.columns._Table` has no problem left, :func:`_typed_frame` builds the
frame the analyses use and :func:`_warn` raises the :class:`~iometa._warnings.DataWarning`
of things that are allowed but should be looked at (mixed units of analysis, a total larger
than the number of patients, a misspelt extra column).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from .._warnings import DataWarning
from .columns import _Table
from .errors import _outside_loader
from .schema import _CATEGORICAL, _FLOAT, _INT, _TEXT, COLUMNS


def _typed_frame(t: _Table) -> pd.DataFrame:
    """Columns in schema order with their dtypes, then the extra columns, then ``line``."""
    data: dict[str, Any] = {}
    for col in COLUMNS:
        vals = t.values[col]
        if col in _TEXT:
            if col == "subgroup":
                vals = ["" if v is None else v for v in vals]
            data[col] = pd.array(vals, dtype=pd.StringDtype())
        elif col in _CATEGORICAL:
            data[col] = pd.Categorical(vals, categories=list(t.vocab[col]))
        elif col in _INT:
            data[col] = pd.array(vals, dtype="Int64")
        elif col in _FLOAT:
            data[col] = np.array([np.nan if v is None else v for v in vals], dtype="float64")
        else:
            data[col] = pd.array(vals, dtype="boolean")
    out = pd.DataFrame(data)
    for name, series in t.extras.items():
        out[name] = series.array
    out["line"] = pd.array(t.lines, dtype="Int64")
    if t.file is not None:
        out.attrs["path"] = t.file
    if t.sheet is not None:
        out.attrs["sheet"] = t.sheet
    out.attrs["vocabulary"] = t.vocabulary
    return out


def _lines_text(lines: Sequence[int]) -> str:
    """[3] -> 'line 3'; [2, 5] -> 'lines 2, 5'."""
    return ("line " if len(lines) == 1 else "lines ") + ", ".join(str(n) for n in lines)


def _unit_warnings(t: _Table) -> list[str]:
    """Per-lesion and per-patient rows of one outcome and modality; totals above n."""
    V = t.values
    groups: dict[tuple[str, str], dict[str, list[int]]] = {}
    big: list[str] = []
    for i in range(t.n):
        u, out, mod = V["unit_of_analysis"][i], V["outcome"][i], V["modality"][i]
        if u in ("patients", "lesions") and out is not None and mod is not None:
            groups.setdefault((out, mod), {}).setdefault(u, []).append(t.lines[i])
        tot = V["total"][i]
        for unit, col in (("patients", "n_patients"), ("lesions", "n_lesions")):
            n = V[col][i]
            if u == unit and tot is not None and n is not None and tot > n:
                big.append(f"line {t.lines[i]} (total {tot} > {col} {n})")
    found = []
    for (out, mod), by in groups.items():
        if len(by) == 2:
            found.append(
                f"outcome '{out}', modality '{mod}': per-lesion rows "
                f"({_lines_text(by['lesions'])}) and per-patient rows "
                f"({_lines_text(by['patients'])}) are mixed; do not pool them together "
                "(select one unit_of_analysis)"
            )
    if big:
        found.append(
            "total exceeds the number of patients or lesions on per-patient/per-lesion "
            f"rows: {'; '.join(big)}"
        )
    return found


def _warn(t: _Table) -> None:
    """Issue every warning of a valid table, attributed to the code that called the loader."""
    where = f"{t.file}: " if t.file else ""
    for msg in t.warnings + _unit_warnings(t):
        warnings.warn(where + msg, DataWarning, stacklevel=_outside_loader())

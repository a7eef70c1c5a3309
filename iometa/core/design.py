"""Design matrices for meta-regression: moderators -> the model matrix X (as R's ``model.matrix``).

Moderators come as a formula-like string (``"modality + lesion_size_cm"``, ``"~ factor(year)"``,
``"ablat - 1"``), a list of column names of ``data``, a DataFrame, a Series or an array.
Numeric columns enter as they are; text, boolean and categorical columns (and terms written
``factor(x)``) are coded with treatment (dummy) contrasts with the first level as the reference,
as R's ``factor``: levels sorted (a pandas ``Categorical`` keeps its category order), one 0/1
column per other level, named ``<column><level>`` (R's naming, e.g. ``allocrandom``). The
intercept column is called ``intrcpt`` (metafor's name). Interactions are not supported: build
the product column yourself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

_FACTOR = re.compile(r"^factor\((.+)\)$")


@dataclass(frozen=True)
class Design:
    """The model matrix and its provenance.

    ``X`` (k × p, float), ``terms`` (column names), ``intercept`` (bool), ``keep`` (boolean mask
    of the input rows used: rows with a missing moderator are dropped), ``factors``
    (moderator name -> its levels, reference first) for the categorical moderators and
    ``columns`` (the moderator names in model order).
    """

    X: np.ndarray
    terms: tuple[str, ...]
    intercept: bool
    keep: np.ndarray
    factors: dict[str, tuple]
    columns: tuple[str, ...] = ()


def parse_formula(formula: str) -> tuple[list[str], bool]:
    """Split ``"a + factor(b) - 1"`` into terms and the intercept flag.

    Example
    -------
    >>> parse_formula("~ ablat + factor(alloc) - 1")
    (['ablat', 'factor(alloc)'], False)
    """
    text = formula.strip()
    if text.startswith("~"):
        text = text[1:]
    if any(op in text for op in ("*", ":", "^", "|")):
        raise ValueError(f"mods={formula!r}: interactions and other formula operators are not "
                         "supported; add the product column to data and name it instead")
    tokens = re.split(r"\s*([+-])\s*", text.strip())
    if tokens and tokens[0] == "":
        tokens = tokens[1:]
    else:
        tokens = ["+", *tokens]
    intercept = True
    terms = []
    for sign, term in zip(tokens[::2], tokens[1::2]):
        term = term.strip()
        if not term:
            raise ValueError(f"mods={formula!r}: empty term")
        if term in ("0", "1"):
            intercept = intercept and not (term == "0" or sign == "-")
        elif sign == "-":
            raise ValueError(f"mods={formula!r}: only '- 1' (drop the intercept) may be "
                             "subtracted")
        else:
            terms.append(term)
    return terms, intercept


def _levels(values: pd.Series) -> tuple:
    if isinstance(values.dtype, pd.CategoricalDtype):
        present = set(values.dropna())
        return tuple(c for c in values.cat.categories if c in present)
    return tuple(sorted(values.dropna().unique(), key=lambda x: (str(type(x)), x)))


def _is_categorical(values: pd.Series) -> bool:
    return not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values) or \
        isinstance(values.dtype, pd.CategoricalDtype)


def _moderator_frame(mods, data, k) -> tuple[pd.DataFrame, set[str], bool]:
    """Moderators as a DataFrame, the names forced to factors, and the intercept flag."""
    intercept = True
    forced: set[str] = set()
    if mods is None:
        return pd.DataFrame(index=range(k)), forced, intercept
    if isinstance(mods, str):
        names, intercept = parse_formula(mods)
        mods = names
    if isinstance(mods, (list, tuple)) and all(isinstance(m, str) for m in mods):
        if data is None:
            raise ValueError("moderators given by name need data= (the DataFrame holding them)")
        cols = {}
        for name in mods:
            inner = _FACTOR.match(name)
            col = inner.group(1).strip() if inner else name
            if col not in data.columns:
                raise ValueError(f"moderator {col!r} is not a column of data (columns: "
                                 f"{', '.join(map(str, data.columns))})")
            if inner:
                forced.add(col)
            cols[col] = data[col].reset_index(drop=True)
        return pd.DataFrame(cols), forced, intercept
    if isinstance(mods, pd.Series):
        return mods.reset_index(drop=True).to_frame(mods.name or "mods"), forced, intercept
    if isinstance(mods, pd.DataFrame):
        return mods.reset_index(drop=True), forced, intercept
    arr = np.asarray(mods)
    if arr.ndim == 1:
        return pd.DataFrame({"mods": arr}), forced, intercept
    if arr.ndim == 2:
        return pd.DataFrame(arr, columns=[f"X{j + 1}" for j in range(arr.shape[1])]), forced, \
            intercept
    raise ValueError(f"mods must be 1- or 2-dimensional, got shape {arr.shape}")


def build_design(mods, data=None, k=None, *, intercept=True) -> Design:
    """Model matrix of the moderators ``mods`` for ``k`` studies (see the module docstring).

    Rows with a missing moderator value are marked ``False`` in ``Design.keep``.

    Example
    -------
    >>> import pandas as pd
    >>> d = pd.DataFrame({"size": [2.0, 3.5, 1.5], "modality": ["RFA", "MWA", "RFA"]})
    >>> des = build_design("size + modality", d)
    >>> des.terms
    ('intrcpt', 'size', 'modalityRFA')
    """
    if k is None:
        k = len(data) if data is not None else len(np.asarray(mods))
    frame, forced, formula_int = _moderator_frame(mods, data, k)
    intercept = bool(intercept and formula_int)
    if len(frame) != k:
        raise ValueError(f"the moderators have {len(frame)} rows for {k} studies")
    keep = ~frame.isna().any(axis=1).to_numpy() if frame.shape[1] else np.ones(k, bool)
    columns: list[np.ndarray] = []
    terms: list[str] = []
    factors: dict[str, tuple] = {}
    if intercept:
        columns.append(np.ones(k))
        terms.append("intrcpt")
    for name in frame.columns:
        values = frame[name]
        if name in forced or _is_categorical(values):
            levels = _levels(values[keep])
            use = levels[1:] if intercept or factors else levels  # R: first factor coded full
            factors[str(name)] = levels
            for lev in use:
                columns.append((values == lev).to_numpy(dtype=float))
                terms.append(f"{name}{lev}")
        else:
            columns.append(values.to_numpy(dtype=float))
            terms.append(str(name))
    X = np.column_stack(columns) if columns else np.empty((k, 0))
    return Design(X=X, terms=tuple(terms), intercept=intercept, keep=keep, factors=factors,
                  columns=tuple(str(c) for c in frame.columns))


def design_rows(design: Design, newdata) -> np.ndarray:
    """Rows of the model matrix for new moderator values (a DataFrame or a dict of columns),
    coded with the levels of ``design`` (so predictions use the fitted model's coding).

    Example
    -------
    >>> import pandas as pd
    >>> d = pd.DataFrame({"size": [2.0, 3.5, 1.5], "modality": ["RFA", "MWA", "RFA"]})
    >>> des = build_design("size + modality", d)
    >>> design_rows(des, {"size": [3.0], "modality": ["RFA"]}).tolist()
    [[1.0, 3.0, 1.0]]
    """
    frame = pd.DataFrame(newdata).reset_index(drop=True)
    missing = [c for c in design.columns if c not in frame.columns]
    if missing:
        raise ValueError(f"newmods lacks the moderator(s) {', '.join(missing)}")
    n = len(frame)
    cols: list[np.ndarray] = [np.ones(n)] if design.intercept else []
    first = True
    for name in design.columns:
        values = frame[name]
        if name in design.factors:
            levels = design.factors[name]
            unknown = set(values.dropna()) - set(levels)
            if unknown:
                raise ValueError(f"{name}: level(s) {sorted(map(str, unknown))} were not in the "
                                 f"fitted data (levels: {', '.join(map(str, levels))})")
            use = levels if (first and not design.intercept) else levels[1:]
            first = False
            cols += [(values == lev).to_numpy(dtype=float) for lev in use]
        else:
            cols.append(values.to_numpy(dtype=float))
    return np.column_stack(cols) if cols else np.empty((n, 0))

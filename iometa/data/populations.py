"""No patient counted twice: which rows of one study and time point describe different patients.

Part of :func:`iometa.outcomes.outcome_rows` (and of the report's selection). The rows of one
outcome are grouped by study and time point; within a group every row enters a pooled analysis
only if it describes patients no other kept row describes. The rule, in order:

1. **The whole study population wins.** A row without ``subgroup`` and without ``arm`` is used;
   every other row of the study at that time point (arms, strata, types) describes some of the
   same patients and is excluded with the line of the row used.
2. **Arms are different patients.** Rows with distinct non-empty ``arm`` values are disjoint
   groups, and their ``n_patients``/``total`` is the arm's size (empty when the source does not
   give it). Tables without the column may write ``arm: X`` in ``subgroup`` (read as arm X, size
   unknown); ``primary: X`` subgroups are disjoint cohorts too (size unknown). Within one arm the
   same rule applies again (the arm's own row, else the origin rule below).
3. **Same patients from two time origins** (``origin: X``): the row measured from the
   procedure (the first part of ``modality``: ``TARE`` for ``TARE+ICI``) is used; when none is,
   none of them is (the table cannot tell which is comparable).
4. **Types and strata are not pooled**: ``toxicity: …``/``type: …`` rows overlap in the same
   patients; strata (``lesion <3 cm``, ``baseline``) are not the study's overall result.
5. **Counts must fit.** When the kept rows of a group add up to more patients than the study has
   (``n_patients`` of its rows without an arm), they overlap or their sizes are wrong: none is
   used.

Rows whose population size is unknown get ``n_used`` = NaN, so they are never n-weighted.
"""

from __future__ import annotations

import math

import pandas as pd

from .memo import memoised

#: subgroup prefixes of disjoint groups of patients (each may enter as its own cohort)
COHORT_PREFIXES = ("arm:", "primary:")
ORIGIN_PREFIX = "origin:"
TYPE_PREFIXES = ("toxicity:", "type:")


def _text(rows: pd.DataFrame, col: str) -> pd.Series:
    if col not in rows:
        return pd.Series("", index=rows.index, dtype="string")
    return rows[col].astype("string").fillna("").str.strip()


def population_key(sub: str, arm: str) -> tuple[str, bool]:
    """(the group of patients a row describes, whether its n is that group's size).

    ``""`` is the whole study; an arm is ``"arm: X"``; a ``primary: X`` subgroup is itself.

    >>> population_key("", "gemcitabine"), population_key("arm: gemcitabine", "")
    (('arm: gemcitabine', True), ('arm: gemcitabine', False))
    >>> population_key("toxicity: early", ""), population_key("primary: breast", "")
    (('', False), ('primary: breast', False))
    """
    if arm:
        return f"arm: {arm}", True
    if sub.startswith(COHORT_PREFIXES):
        return sub, False
    return "", False


def own_subgroup(sub: str, arm: str) -> str:
    """The subgroup within the row's population: "" for the population's own row."""
    if arm and sub.casefold() == f"arm: {arm}".casefold():
        return ""
    if not arm and sub.startswith(COHORT_PREFIXES):
        return ""
    return sub


def _stratum_reason(sub: str, outcome: str) -> str:
    if sub.casefold() == "baseline":
        return ("the pre-procedure baseline measurement of the study's patients, not an outcome "
                "of the procedure")
    if sub.startswith(TYPE_PREFIXES):
        return (f"one type of {outcome.replace('_', ' ')} ({sub}), not the study's overall rate: "
                "the types overlap in the same patients, so they cannot enter as separate studies")
    return (f"a stratum of the study population ({sub}), not the whole population; strata are "
            "not pooled with whole-population series")


def _origin_rows(rows, idx, own):
    """Rows measuring the same patients from different origins: keep the procedure's."""
    def origin(i):
        return own[i][len(ORIGIN_PREFIX):].strip()

    chosen = [i for i in idx if origin(i) == str(rows.at[i, "modality"]).split("+")[0]]
    if len(chosen) == 1:
        line = int(rows.at[chosen[0], "line"])
        return chosen, [(i, f"same patients as line {line}, measured from another time origin "
                            f"({own[i]}); the row measured from the procedure is used")
                        for i in idx if i != chosen[0]]
    return [], [(i, f"same patients measured from several time origins ({own[i]}); none of "
                    "them is the procedure, so none is comparable with the other series")
                for i in idx]


def _one_population(rows, idx, own, outcome):
    """(kept, excluded) of the rows describing one group of patients (at most one kept)."""
    whole = [i for i in idx if own[i] == ""]
    if whole:
        line = int(rows.at[whole[0], "line"])
        return whole[:1], [(i, f"same patients as line {line}, which is used instead of this "
                               f"row ({own[i] or rows.at[i, 'subgroup']})")
                           for i in idx if i != whole[0]]
    origins = [i for i in idx if own[i].startswith(ORIGIN_PREFIX)]
    kept, excluded = _origin_rows(rows, origins, own) if origins else ([], [])
    excluded += [(i, _stratum_reason(own[i], outcome)) for i in idx if i not in origins]
    return kept, excluded


def _size(rows, i, sized) -> float:
    """The number of patients a kept row stands for (NaN when unknown)."""
    unit = rows.at[i, "unit_of_analysis"] if "unit_of_analysis" in rows else None
    per_patient = unit is None or pd.isna(unit) or str(unit) == "patients"
    for col in ("total_used", "total") if per_patient else ():
        if col in rows and pd.notna(rows.at[i, col]):
            return float(rows.at[i, col])
    if sized and pd.notna(rows.at[i, "n_patients"]):
        return float(rows.at[i, "n_patients"])
    return math.nan


def _group(rows, idx, own, keys, outcome, study_n):
    """(kept, excluded) of one study at one time point."""
    pops: dict[str, list] = {}
    for i in idx:
        pops.setdefault(keys[i][0], []).append(i)
    if "" in pops:
        kept, excluded = _one_population(rows, pops[""], own, outcome)
        others = [i for k, v in pops.items() if k for i in v]
        if kept:
            line = int(rows.at[kept[0], "line"])
            return kept, excluded + [(i, f"same patients as line {line} (the study's whole "
                                         f"population), which is used instead of the group "
                                         f"'{keys[i][0]}'") for i in others]
    else:
        kept, excluded = [], []
    for k, v in pops.items():
        if k:
            kk, ee = _one_population(rows, v, own, outcome)
            kept += kk
            excluded += ee
    sizes = [_size(rows, i, keys[i][1]) for i in kept]
    known = [s for s in sizes if not math.isnan(s)]
    if len(kept) > 1 and study_n is not None and sum(known) > study_n:
        return [], excluded + [(i, f"the groups of this study add up to {sum(known):g} patients, "
                                   f"more than its {study_n:g}: they overlap or their sizes are "
                                   "wrong, so none is used") for i in kept]
    return kept, excluded


def _study_sizes(studies: pd.DataFrame | None, rows: pd.DataFrame) -> dict[str, float]:
    """Each study's number of patients: the largest n_patients of its rows without an arm
    (of the whole table ``studies``: once per table in a report run, :mod:`iometa.data.memo`)."""
    if studies is None:
        return _sizes_of(rows)
    return memoised("study_sizes", studies, lambda: _sizes_of(studies))


def _sizes_of(src: pd.DataFrame) -> dict[str, float]:
    if "n_patients" not in src:
        return {}
    arm, sub = _text(src, "arm"), _text(src, "subgroup")
    whole = (arm == "") & ~sub.str.startswith(COHORT_PREFIXES)
    n = pd.to_numeric(src["n_patients"], errors="coerce").where(whole.to_numpy())
    out = n.groupby(src["study_id"].astype(str).to_numpy()).max()
    return {k: float(v) for k, v in out.items() if pd.notna(v)}


def distinct_populations(rows: pd.DataFrame, outcome: str, studies: pd.DataFrame | None = None):
    """Apply the rule of this module to the usable rows of ``outcome``.

    Returns (kept row labels in ``rows`` order, [(row label, reason) for the others], n_used):
    ``n_used`` maps each kept row label to the patients it stands for — ``n_patients`` of a
    whole-study row or of a row with a declared ``arm``, NaN otherwise. ``studies`` (the whole
    table) gives each study's size for rule 5 (default: ``rows``).

    Example
    -------
    >>> import pandas as pd
    >>> rows = pd.DataFrame({"study_id": ["a", "a", "b", "b"], "line": [2, 3, 4, 5],
    ...     "subgroup": ["origin: ICI start", "origin: TARE", "", ""],
    ...     "arm": ["", "", "X", "Y"], "modality": ["TARE+ICI"] * 2 + ["TACE"] * 2,
    ...     "timepoint_months": [None] * 4, "n_patients": [26, 26, 30, None]})
    >>> kept, left, n = distinct_populations(rows, "median_os")
    >>> kept, [i for i, _ in left], [n[i] for i in kept]
    ([1, 2, 3], [0], [26.0, 30.0, nan])
    """
    if rows.empty:
        return [], [], {}
    sub, arm = _text(rows, "subgroup"), _text(rows, "arm")
    keys = {i: population_key(sub[i], arm[i]) for i in rows.index}
    own = {i: own_subgroup(sub[i], arm[i]) for i in rows.index}
    times = rows["timepoint_months"] if "timepoint_months" in rows else pd.Series(
        math.nan, index=rows.index)
    group_of = {i: (str(rows.at[i, "study_id"]), -1.0 if pd.isna(times[i]) else float(times[i]))
                for i in rows.index}
    sizes = _study_sizes(studies, rows)
    kept, excluded = [], []
    for g in dict.fromkeys(group_of.values()):
        idx = [i for i in rows.index if group_of[i] == g]
        k, e = _group(rows, idx, own, keys, outcome, sizes.get(g[0]))
        kept += k
        excluded += e
    order = {i: n for n, i in enumerate(rows.index)}
    kept.sort(key=order.get)
    excluded.sort(key=lambda e: order[e[0]])
    n_used = {}
    for i in kept:
        n = rows.at[i, "n_patients"] if "n_patients" in rows else math.nan
        whole = keys[i][0] == "" or keys[i][1]
        n_used[i] = float(n) if whole and pd.notna(n) else math.nan
    return kept, excluded, n_used

"""Which rows of the study table enter an analysis of the report — and why the others don't.

Two things decide it:

* :func:`iometa.outcomes.outcome_rows` (ends of printed ranges and bounds are never pooled;
  proportions need events and a total);
* :func:`one_row_per_population`, the report's rule that a group of patients enters an analysis
  once. A study's whole-population row is used when it has one; otherwise disjoint cohorts
  (treatment arms ``arm: …``, a primary-tumour subgroup ``primary: …``) enter each as its own
  cohort; of rows measuring the same patients from different time origins (``origin: …``) the
  one measured from the procedure is used; types of an outcome (``toxicity: …``, ``type: …``)
  and strata (``lesion <3 cm``, ``margin >10 mm``) are not pooled — they overlap in the same
  patients or are not the study's overall result.

:class:`Ledger` records, for every line of the study table, the analyses that used it or the
first reason it was left out, so that the report can list every row that was not pooled.
"""

from __future__ import annotations

import math

import pandas as pd

#: subgroup prefixes of disjoint groups of patients (each may enter as its own cohort)
COHORT_PREFIXES = ("arm:", "primary:")
ORIGIN_PREFIX = "origin:"
_TYPE_PREFIXES = ("toxicity:", "type:")


class Ledger:
    """Where every line of the study table went: used by analyses, or left out with a reason.

    Example
    -------
    >>> import pandas as pd
    >>> led = Ledger(pd.DataFrame({"line": [2, 3]}))
    >>> led.use([2], "median_os"); led.exclude(3, "no value")
    >>> led.unused()
    {3: 'no value'}
    """

    def __init__(self, studies: pd.DataFrame):
        self.lines = [int(x) for x in studies["line"]]
        self.used: dict[int, list[str]] = {}
        self.reasons: dict[int, str] = {}

    def use(self, lines, slug: str) -> None:
        """Mark ``lines`` as used by the analysis ``slug``."""
        for line in lines:
            slugs = self.used.setdefault(int(line), [])
            if slug not in slugs:
                slugs.append(slug)

    def exclude(self, line, reason: str) -> None:
        """Record why ``line`` was left out (the first reason recorded is kept)."""
        self.reasons.setdefault(int(line), reason)

    def unused(self, fallback: str = "not part of any analysis of the report") -> dict[int, str]:
        """Every line not used by any analysis, with its reason (line order)."""
        return {ln: self.reasons.get(ln, fallback) for ln in self.lines if ln not in self.used}


def _subgroup(rows: pd.DataFrame) -> pd.Series:
    return rows["subgroup"].astype("string").fillna("").str.strip()


def _time_key(t) -> float:
    return -1.0 if t is None or pd.isna(t) else float(t)


def _stratum_reason(sub: str, outcome: str) -> str:
    if sub.startswith(_TYPE_PREFIXES):
        return (f"one type of {outcome.replace('_', ' ')} ({sub}), not the study's overall rate: "
                "the types overlap in the same patients, so they cannot enter as separate studies")
    return (f"a stratum of the study population ({sub}), not the whole population; strata are "
            "not pooled with whole-population series")


def _origin_rows(rows: pd.DataFrame, idx: list, sub: pd.Series):
    """Rows measuring the same patients from different origins: keep the procedure's."""
    def origin(i):
        return sub[i][len(ORIGIN_PREFIX):].strip()

    procedure = {i: str(rows.at[i, "modality"]).split("+")[0] for i in idx}
    chosen = [i for i in idx if origin(i) == procedure[i]]
    if len(chosen) == 1:
        line = int(rows.at[chosen[0], "line"])
        return chosen, [(i, f"same patients as line {line}, measured from another time origin "
                            f"({sub[i]}); the row measured from the procedure is used")
                        for i in idx if i != chosen[0]]
    return [], [(i, f"same patients measured from several time origins ({sub[i]}); none of "
                    "them is the procedure, so none is comparable with the other series")
                for i in idx]


def _study_rows(rows, idx, sub, outcome):
    """(kept, excluded) row indices of one study at one time point."""
    whole = [i for i in idx if sub[i] == ""]
    if whole:
        line = int(rows.at[whole[0], "line"])
        return whole, [(i, f"the study's whole-population row (line {line}) is used instead of "
                           f"its subgroup '{sub[i]}'") for i in idx if i not in whole]
    kept, excluded = [], []
    origins = [i for i in idx if sub[i].startswith(ORIGIN_PREFIX)]
    if origins:
        k, e = _origin_rows(rows, origins, sub)
        kept += k
        excluded += e
    for i in idx:
        if i in origins:
            continue
        if sub[i].startswith(COHORT_PREFIXES):
            kept.append(i)
        else:
            excluded.append((i, _stratum_reason(sub[i], outcome)))
    return kept, excluded


def one_row_per_population(rows: pd.DataFrame, outcome: str):
    """Apply the report's one-row-per-group-of-patients rule to the usable rows of ``outcome``.

    Returns the kept rows (study-table order) with a column ``n_used`` — the study's
    ``n_patients`` for whole-population rows, missing for subgroup rows (the table's n is often
    the whole study's) — and a list of (line, reason) for the rows left out.

    Example
    -------
    >>> import pandas as pd
    >>> rows = pd.DataFrame({"study_id": ["a", "a", "b"], "line": [2, 3, 4],
    ...     "subgroup": ["", "toxicity: early", "arm: X"], "modality": ["TARE"] * 3,
    ...     "timepoint_months": [None] * 3, "n_patients": [20, 20, 40]})
    >>> kept, left = one_row_per_population(rows, "adverse_event")
    >>> kept["line"].tolist(), [ln for ln, _ in left]
    ([2, 4], [3])
    """
    if rows.empty:
        return rows.assign(n_used=pd.Series(dtype=float)), []
    rows = rows.reset_index(drop=True)
    sub = _subgroup(rows)
    keys = [(str(s), _time_key(t)) for s, t in zip(rows["study_id"], rows["timepoint_months"])]
    kept, excluded = [], []
    for key in dict.fromkeys(keys):
        idx = [i for i, k in enumerate(keys) if k == key]
        k, e = _study_rows(rows, idx, sub, outcome)
        kept += k
        excluded += e
    out = rows.loc[sorted(kept)].copy()
    n = pd.to_numeric(out["n_patients"], errors="coerce").astype(float)
    out["n_used"] = n.where(_subgroup(out) == "", math.nan)
    left = [(int(rows.at[i, "line"]), why) for i, why in sorted(excluded)]
    return out.reset_index(drop=True), left


def survival_without_time(excluded: pd.DataFrame, studies: pd.DataFrame) -> pd.DataFrame:
    """Reword outcome_rows' "pool with pool_survival_rates" for survival proportions that have
    no time point (e.g. "metastasis-free survival 99%"): they cannot be pooled as S(t)."""
    if excluded.empty:
        return excluded
    times = studies.set_index("line")["timepoint_months"]
    out = excluded.copy()
    no_time = [str(r).startswith("survival rate") and pd.isna(times.get(ln))
               for ln, r in zip(out["line"], out["reason"])]
    out.loc[no_time, "reason"] = ("survival proportion without a time point: it cannot be "
                                  "pooled as a survival rate S(t) at a fixed time")
    return out

"""Which rows of the study table enter an analysis of the report — and why the others don't.

Two things decide it:

* :func:`iometa.outcomes.outcome_rows` (ends of printed ranges and bounds are never pooled;
  proportions need events and a total);
* :func:`one_row_per_population`, the rule that a group of patients enters an analysis once
  (:mod:`iometa.data.populations`, applied by ``outcome_rows`` itself). A study's
  whole-population row is used when it has one; otherwise disjoint groups (``arm`` values,
  ``arm: …`` and ``primary: …`` subgroups) enter each as its own cohort; of rows measuring the
  same patients from different time origins (``origin: …``) the one measured from the
  procedure is used; types of an outcome (``toxicity: …``, ``type: …``) and strata
  (``lesion <3 cm``, ``margin >10 mm``) are not pooled — they overlap in the same patients or
  are not the study's overall result.

:class:`Ledger` records, for every line of the study table, the analyses that used it or the
first reason it was left out, so that the report can list every row that was not pooled.
"""

from __future__ import annotations

import pandas as pd

from ..data.populations import distinct_populations


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


def one_row_per_population(rows: pd.DataFrame, outcome: str, studies: pd.DataFrame | None = None):
    """Apply the report's one-row-per-group-of-patients rule to the usable rows of ``outcome``.

    The rule is :func:`iometa.data.populations.distinct_populations`, the one
    :func:`~iometa.outcomes.outcome_rows` applies (so rows from ``outcome_rows`` pass
    unchanged); the report also applies it to the survival rates that ``outcome_rows`` leaves
    to :func:`iometa.pool_survival_rates`. Returns the kept rows (study-table order) with a
    column ``n_used`` — ``n_patients`` of whole-population rows and of rows with a declared
    ``arm``, missing otherwise (the size of a subgroup is unknown) — and a list of (line,
    reason) for the rows left out. ``studies`` (the whole table) gives each study's size.

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
    kept, excluded, n_used = distinct_populations(rows, outcome, studies)
    out = rows.loc[kept].copy()
    out["n_used"] = pd.array([n_used[i] for i in kept], dtype="float64")
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

"""From the study table to the rows of one outcome that can be pooled — and the ones that can't.

Reviews rarely print counts: "complete ablation in 75% of 34 patients". :func:`outcome_rows`
returns the rows of one outcome ready for the pool functions, with the count each row
contributes and where it came from, plus a table of every row it could not use and why. Nothing
is dropped without a reason.

Count sources (column ``count_source``):

``reported``
    events and total as printed (or derived exactly by the extractors: ``derived`` is true).
``reconstructed``
    events = round(value × n) from a printed percentage and the study's n of the matching unit
    (``n_patients`` for per-patient rates, ``n_lesions`` for per-lesion rates). Used only for
    whole-population rows (a subgroup's size is rarely printed) and only when ``reconstruct``
    is true. The rounding can move a proportion by at most 0.5/n; survival rates (Kaplan–Meier
    estimates under censoring) are never turned into counts here — pool them with
    :func:`iometa.pool_survival_rates`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .lexicon import resolve_vocabulary, vocabulary_of
from .populations import distinct_populations, own_subgroup
from .query import _canonical, _filter_mask, unknown_keyword
from .sources import SUPERSEDED, superseded_review_rows

#: value_type codes that are not point estimates (ends of a printed range, bounds)
NOT_ESTIMATES = ("range_low", "range_high", "upper_bound", "lower_bound")
_SURVIVAL_RATES = ("os_rate", "pfs_rate", "metastasis_free_survival", "cancer_specific_survival")


@dataclass(frozen=True)
class OutcomeRows:
    """Rows of one outcome usable for pooling (``rows``) and those that are not (``excluded``);
    ``note`` says why nothing matched when the filters selected no row."""

    outcome: str
    rows: pd.DataFrame
    excluded: pd.DataFrame
    note: str = ""
    #: time points (months; None = no time point) of the usable rows before ``timepoint=``
    timepoints: tuple = ()

    def summary(self) -> str:
        lines = [f"{self.outcome}: {len(self.rows)} rows usable, {len(self.excluded)} excluded"]
        if self.note:
            lines.append(f"  ({self.note})")
        for r in self.excluded.itertuples(index=False):
            lines.append(f"  - line {r.line}: {r.label}: {r.reason}")
        return "\n".join(lines)


#: the cells :func:`study_label` reads
LABEL_COLUMNS = ("author", "year", "study_id", "subgroup")
#: the cells the row checks of :func:`outcome_rows` read (labels, counts, rates, values)
ROW_COLUMNS = LABEL_COLUMNS + ("events", "total", "value", "outcome", "arm", "unit_of_analysis",
                               "n_lesions", "n_patients", "value_reported", "unit_reported",
                               "person_time", "person_time_unit")


def study_label(row) -> str:
    """Display label "Author Year" (first word of ``author``), falling back to ``study_id``."""
    author = row.get("author")
    year = row.get("year")
    if isinstance(author, str) and author.strip():
        name = author.split()[0].rstrip(",")
        label = f"{name} {int(year)}" if pd.notna(year) else name
    else:
        label = str(row.get("study_id"))
    sub = row.get("subgroup")
    if isinstance(sub, str) and sub.strip():
        label += f" ({sub})"
    return label


def value_type(studies: pd.DataFrame) -> pd.Series:
    """The ``value_type`` column, or "estimate" for tables without it."""
    if "value_type" in studies:
        return studies["value_type"].astype("string").fillna("estimate")
    return pd.Series("estimate", index=studies.index, dtype="string")


def _denominator(row):
    unit = str(row.get("unit_of_analysis"))
    if unit == "lesions":
        return row.get("n_lesions")
    if unit in ("patients",):
        return row.get("n_patients")
    return None


def _row_counts(row, reconstruct: bool):
    """(events, total, source, reason-if-excluded) for one proportion row."""
    ev, tot = row.get("events"), row.get("total")
    if pd.notna(ev) and pd.notna(tot):
        return int(ev), int(tot), "reported", None
    if pd.isna(row.get("value")):
        return None, None, None, "no value"
    if str(row.get("outcome")) in _SURVIVAL_RATES:
        return None, None, None, "survival rate: pool with pool_survival_rates"
    if not reconstruct:
        return None, None, None, "no events/total"
    sub, arm = (str(x).strip() if isinstance(x, str) else "" for x in (row.get("subgroup"),
                                                                        row.get("arm")))
    if own_subgroup(sub, arm) or (sub and not arm):
        return None, None, None, "subgroup size not reported (percentage without denominator)"
    n = tot if pd.notna(tot) else _denominator(row)
    if n is None or pd.isna(n):
        return None, None, None, "percentage without a stated denominator"
    n = int(n)
    value = float(row["value"])
    ev = int(np.floor(value * n + 0.5))
    if abs(ev / n - value) > _print_tolerance(row) + 1e-12:
        return None, None, None, (f"{value:.1%} is not a whole number of {n} "
                                  f"{row.get('unit_of_analysis')}: the denominator may differ")
    return ev, n, "reconstructed", None


def _rate_missing(row) -> str | None:
    """Why a row of a rate outcome cannot be pooled (None when it can)."""
    ev, pt, unit = row.get("events"), row.get("person_time"), row.get("person_time_unit")
    if pd.isna(ev) or pd.isna(pt):
        missing = " and ".join(c for c, x in (("events", ev), ("person_time", pt)) if pd.isna(x))
        return (f"no {missing}: a rate is pooled from the count of events and the person-time "
                "(pool_rates), not from its value alone")
    if pd.isna(unit):
        return "person_time without person_time_unit"
    return None


def _rate_columns(rows: pd.DataFrame, kept: list) -> None:
    """``events_used``, ``person_time_used`` and ``person_time_unit_used`` of the rows of a rate
    outcome: person-time in the rows' unit when they share one, else converted to years."""
    from .vocabulary import YEARS_PER_UNIT

    units = {k[2] for k in kept}
    common = units.pop() if len(units) == 1 else "years"
    rows["events_used"] = pd.array([k[0] for k in kept], dtype="Int64")
    rows["person_time_used"] = np.array(
        [k[1] if k[2] == common else k[1] * YEARS_PER_UNIT[k[2]] for k in kept], dtype=float)
    rows["person_time_unit_used"] = common


def _print_tolerance(row) -> float:
    """Half a unit of the last printed digit of a percentage (0.005 for "75%")."""
    printed = str(row.get("value_reported") or "")
    decimals = len(printed.split(".")[1]) if "." in printed else 0
    scale = 100.0 if str(row.get("unit_reported")) == "percent" else 1.0
    return 0.5 * 10.0 ** (-decimals) / scale


def _why_nothing(studies: pd.DataFrame, code: str, filters: dict[str, Any], voc) -> str:
    """Why no row of ``code`` passed the filters: which filter emptied the selection."""
    df = studies[(studies["outcome"] == code).to_numpy(dtype=bool, na_value=False)]
    if df.empty:
        present = sorted({str(o) for o in studies["outcome"].dropna()})
        return (f"the table has no row of outcome '{code}' (outcomes in the table: "
                f"{', '.join(present)})")
    for col, want in filters.items():
        mask = _filter_mask(df, col, want, voc)
        if not mask.any():
            have = sorted({str(v) for v in df[col].dropna()})
            shown = _canonical(col, want, voc, studies) if isinstance(want, str) else want
            return (f"no row of outcome '{code}' has {col} = {shown!r} (values of {col} in its "
                    f"rows: {', '.join(have) or 'none'})")
        df = df[mask]
    return ""


class _Ask:
    def __repr__(self):
        return "<not given>"


#: default of ``timepoint=``: one time point is used as is, several are refused (see note)
NOT_GIVEN = _Ask()


def _months(t) -> str:
    return "no time point" if t is None else f"{t:g} months"


def _times(rows: pd.DataFrame) -> tuple:
    if "timepoint_months" not in rows:
        return (None,) if len(rows) else ()
    vals = {None if pd.isna(t) else float(t) for t in rows["timepoint_months"]}
    return tuple(sorted(vals, key=lambda t: -1.0 if t is None else t))


def outcome_rows(studies: pd.DataFrame, outcome: str, *, reconstruct: bool = True,
                 vocabulary: Any = None, timepoint: Any = NOT_GIVEN, **filters) -> OutcomeRows:
    """Rows of ``outcome`` ready for pooling, with every excluded row and its reason.

    Proportion outcomes get ``events_used``/``total_used``/``count_source``; rate outcomes
    (events per person-time) get ``events_used``/``person_time_used``/
    ``person_time_unit_used`` (person-time in the rows' common unit; rows in different units
    are converted to years), for :func:`iometa.pool_rates`; duration outcomes (medians) keep
    value/ci_low/ci_high and n. Rows that are ends of a range or bounds
    (``value_type``) are never pooled, nor are the review rows of a study that has primary
    rows of this outcome (primary where both exist, :mod:`iometa.data.sources`; not applied
    when ``source_kind`` is one of the filters). ``filters`` select on other columns
    (``modality="RFA"``, ``site="liver"``; a list means "any of"; None means empty), matched
    like the loader matches codes (``modality="rfa"`` = ``"RFA"``). An unknown outcome, code
    or column raises ValueError with a did-you-mean; filters that match nothing give empty
    rows and a ``note`` saying which filter emptied the selection. The outcome codes and kinds
    are those of the vocabulary the table was validated with (``studies.attrs['vocabulary']``)
    unless ``vocabulary`` is given.

    No patient is counted twice: of the rows of one study at one time point only those that
    describe different patients are kept (the whole-population row, else distinct ``arm``
    values, else the row measured from the procedure; see :mod:`iometa.data.populations`),
    the others are excluded with the row used. ``n_used`` is the number of patients a kept
    row stands for (NaN when the arm's or subgroup's size is unknown: never n-weight those).

    Rows at different time points are never returned together unless asked: ``timepoint=12``
    (or ``None`` for rows without a time point) selects one; ``timepoint="all"`` returns every
    time point (to pool them separately, e.g. :func:`iometa.pool_survival_rates` with
    ``time=``). Without ``timepoint=`` and with usable rows at several time points, no row is
    usable: each is excluded with the reason, and ``note`` and ``timepoints`` say which time
    points exist.

    Example
    -------
    >>> import iometa
    >>> from iometa.outcomes import outcome_rows
    >>> sel = outcome_rows(iometa.load_studies(), "complete_ablation")
    >>> len(sel.rows), sel.timepoints  # rows at two time points: none pooled until one is chosen
    (0, (None, 6.0))
    >>> sel = outcome_rows(iometa.load_studies(), "complete_ablation", timepoint=None)
    >>> len(sel.rows) > 0, sel.note
    (True, '')
    >>> outcome_rows(iometa.load_studies(), "complete_ablation", modality="tace").note
    "no row of outcome 'complete_ablation' has modality = 'TACE' (values of modality in its rows: MWA, RFA)"
    """
    voc = resolve_vocabulary(vocabulary) if vocabulary is not None else vocabulary_of(studies)
    OUTCOMES = voc.outcomes
    outcome = _canonical("outcome", outcome, voc, studies)
    for col in filters:
        if col not in studies.columns:
            raise ValueError(unknown_keyword(col, studies.columns,
                                             ("reconstruct", "vocabulary", "timepoint")))
    if isinstance(timepoint, str) and timepoint != "all":
        raise ValueError(f"timepoint={timepoint!r}: give a number of months, None (rows without "
                         "a time point) or 'all'")
    if timepoint is not NOT_GIVEN and timepoint != "all":
        if "timepoint_months" in filters:
            raise ValueError("give timepoint= or timepoint_months=, not both")
        filters = {**filters, "timepoint_months": timepoint}
    mask = (studies["outcome"] == outcome).to_numpy(dtype=bool, na_value=False)
    # primary where both exist (issue 26): decided on all rows of the outcome, before the
    # filters, unless the caller chose the source_kind itself
    superseded = set() if "source_kind" in filters else set(
        superseded_review_rows(studies[mask]))
    for col, want in filters.items():
        mask = mask & _filter_mask(studies, col, want, voc)
    df = studies[mask].copy()
    # once, and only the cells the labels and the row checks read (every other column
    # converted per cell would cost more than the checks)
    records = df[[c for c in ROW_COLUMNS if c in df.columns]].to_dict("records")
    df["label"] = [study_label(r) for r in records]
    keep, excluded = {}, []
    for i, row, vt in zip(df.index, records, value_type(df).tolist()):
        if i in superseded:
            excluded.append((i, SUPERSEDED))
            continue
        if vt in NOT_ESTIMATES:
            excluded.append((i, f"{vt.replace('_', ' ')} of a printed range, not an "
                                "estimate"))
            continue
        if OUTCOMES[outcome] == "rate":
            why = _rate_missing(row)
            if why:
                excluded.append((i, why))
            else:
                keep[i] = (int(row["events"]), float(row["person_time"]),
                           str(row["person_time_unit"]))
            continue
        if OUTCOMES[outcome] != "proportion":
            if pd.isna(row.get("value")) or not np.isfinite(row.get("value")):
                excluded.append((i, "no finite value (e.g. median not reached)"))
            else:
                keep[i] = (None, None, None)
            continue
        ev, tot, src, why = _row_counts(row, reconstruct)
        if why:
            excluded.append((i, why))
        else:
            keep[i] = (ev, tot, src)
    rows = df.loc[list(keep)].copy()
    if OUTCOMES[outcome] == "proportion":
        rows["events_used"] = pd.array([k[0] for k in keep.values()], dtype="Int64")
        rows["total_used"] = pd.array([k[1] for k in keep.values()], dtype="Int64")
        rows["count_source"] = [k[2] for k in keep.values()]
    if OUTCOMES[outcome] == "rate":
        _rate_columns(rows, list(keep.values()))
    kept, left, n_used = distinct_populations(rows, outcome, studies)
    excluded += left
    rows = rows.loc[kept]
    rows["n_used"] = pd.array([n_used[i] for i in kept], dtype="float64")
    times = _times(rows)
    note = ""
    if len(times) > 1:
        have = ", ".join(_months(t) for t in times)
        if timepoint is NOT_GIVEN:
            excluded += [(i, f"at {_months(None if pd.isna(t) else float(t))}: the usable rows "
                             f"of '{outcome}' are at several time points ({have}), which are "
                             "not pooled together; choose one with timepoint=")
                         for i, t in zip(rows.index, rows["timepoint_months"])]
            rows = rows.iloc[0:0]
            note = (f"usable rows at several time points ({have}): pass timepoint= (a number "
                    "of months, None, or 'all' to pool them separately yourself)")
        else:
            note = f"rows at several time points ({have}): pool each time point separately"
    order = {i: n for n, i in enumerate(df.index)}
    excluded.sort(key=lambda e: order[e[0]])
    cols = ["line", "study_id", "label", "modality", "subgroup", "arm", "timepoint_months",
            "value"]
    ex = df.loc[[e[0] for e in excluded], [c for c in cols if c in df]].copy()
    ex.insert(0, "outcome", outcome)
    ex["reason"] = [e[1] for e in excluded]
    if df.empty:
        note = _why_nothing(studies, outcome, filters, voc)
    return OutcomeRows(outcome, rows.reset_index(drop=True), ex.reset_index(drop=True), note,
                       times)

"""Head-to-head studies in the study table: the rules of a comparison, and its paired rows.

A comparison (a randomised trial or a comparative cohort of two or more treatments) is stored
as **arm rows**: one row per arm × outcome × time point, each with the arm in ``arm`` (its
modality code, e.g. ``MWA``) and the same ``comparison_id`` on every arm (e.g.
``vogl2022_mwa_vs_rfa``); ``n_patients``/``total`` of such a row is the arm's size. The loader
checks (:func:`iometa.data.comparison_checks._check_comparisons`, part of
:func:`iometa.data.validate_studies`):

* every row of a comparison has a non-empty ``arm`` and the same ``study_id``;
* a comparison has at least two distinct arms;
* an outcome (and stratum) given for one arm is given for every arm of the comparison, at the
  same time points, with the same ``unit_of_analysis`` and ``unit``;
* events ≤ total in every arm (the row rule of :mod:`.checks`).

:func:`comparison_rows` turns the arm rows of one outcome into the paired wide table (one row
per comparison: ``events_1``/``total_1`` of the treatment, ``events_2``/``total_2`` of the
control) that :func:`iometa.pool_two_groups` reads, with every row it could not use and why.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .comparison_checks import stratum
from .lexicon import resolve_vocabulary, vocabulary_of
from .outcomes import NOT_ESTIMATES, NOT_GIVEN, _months, _row_counts, study_label, value_type
from .query import _canonical, _filter_mask, unknown_keyword
from .schema import _suggest
from .sources import SUPERSEDED, superseded_review_rows

__all__ = ["ComparisonRows", "comparison_rows"]

# --------------------------------------------------------------------------------------------
# the paired wide table
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ComparisonRows:
    """Paired rows of one outcome (``rows``: one per comparison and time point, treatment =
    group 1, control = group 2), the arm rows not used with the reason (``excluded``), and a
    ``note`` when nothing could be paired or several time points (or units) exist."""

    outcome: str
    treatment: str
    control: str
    rows: pd.DataFrame
    excluded: pd.DataFrame
    note: str = ""
    #: time points (months; None = no time point) of the pairs before ``timepoint=``
    timepoints: tuple = ()

    def summary(self) -> str:
        lines = [f"{self.outcome}, {self.treatment} vs {self.control}: {len(self.rows)} "
                 f"comparisons usable, {len(self.excluded)} arm rows excluded"]
        if self.note:
            lines.append(f"  ({self.note})")
        for r in self.excluded.itertuples(index=False):
            lines.append(f"  - line {r.line}: {r.label}: {r.reason}")
        return "\n".join(lines)


def _text(df: pd.DataFrame, col: str) -> pd.Series:
    if col not in df:
        return pd.Series("", index=df.index, dtype="string")
    return df[col].astype("string").fillna("").str.strip()


def _arm_name(name: str, role: str, arms: list[str], voc, studies) -> str:
    """The arm code ``name`` stands for: an arm of the table (any case), else a modality code
    (canonical spelling); ValueError with a did-you-mean otherwise."""
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"{role}={name!r}: give the arm's code, e.g. 'MWA'")
    for a in arms:
        if a.casefold() == name.strip().casefold():
            return a
    try:
        return str(_canonical("modality", name, voc, studies))
    except ValueError:
        pool = list(dict.fromkeys([*arms, *voc.allowed("modality")]))
        guess = _suggest(name.strip(), pool, "modality")
        hint = (f"; did you mean '{guess}'?" if guess
                else f" (arms in the table: {', '.join(arms) or 'none'})")
        raise ValueError(f"{role}={name!r}: no arm or modality of that name{hint}") from None


def comparison_rows(studies: pd.DataFrame, outcome: str, treatment: str = "MWA",
                    control: str = "RFA", *, timepoint: Any = NOT_GIVEN, unit: Any = None,
                    reconstruct: bool = True, vocabulary: Any = None,
                    **filters) -> ComparisonRows:
    """Head-to-head rows of ``outcome``: ``treatment`` vs ``control`` per comparison, paired.

    Reads the arm rows of the study table (rows with a ``comparison_id``; see data/README.md,
    "How to store a comparison") and returns one row per comparison, stratum-free, and time
    point with the treatment arm as group 1 and the control arm as group 2: ``study_id``,
    ``comparison_id``, ``label`` ("Author Year"), ``outcome``, ``timepoint_months``,
    ``unit_of_analysis``, ``arm_1``/``arm_2``, ``events_1``, ``total_1``, ``events_2``,
    ``total_2``, ``count_source_1``/``_2`` (``reported`` or ``reconstructed`` from a printed
    percentage and the arm's size, as :func:`~iometa.outcomes.outcome_rows` does when
    ``reconstruct`` is true), ``source_kind`` and ``line_1``/``line_2`` (the table lines). It
    feeds :func:`iometa.pool_two_groups` directly::

        pool_two_groups("events_1", "total_1", "events_2", "total_2", data=sel.rows,
                        labels="label")

    For a score outcome (e.g. ``vas_pain_score``: ``value`` is the arm's mean) the per-arm
    columns are ``mean_k``, ``sd_k`` (from an ``sd`` column the table adds) and ``n_k``
    (``total``, else ``n_patients``), ready for ``two_group_effects(mean_1="mean_1", ...,
    measure="MD", data=sel.rows)`` and :func:`iometa.pool_effects`; medians (duration
    outcomes) are never paired (no SD).

    ``treatment`` and ``control`` name arms (case-insensitive; a modality code such as
    ``"mwa"`` is accepted even if no arm has it; anything else raises ValueError with a
    did-you-mean). ``excluded`` lists every arm row of the outcome that is not used, with the
    reason: an arm that is neither treatment nor control, a comparison without the other arm
    (at that time point), no counts (a Kaplan–Meier rate, a percentage without the arm's
    size), a stratum (``arm: RFA; lesion >3 cm``), a range end or bound, a review row of a study
    whose primary publication is in the table, a pair at another time point or unit than the
    one chosen. Single-arm rows (no ``comparison_id``) are never used here.

    ``timepoint`` follows :func:`~iometa.outcomes.outcome_rows`: one time point is used as is;
    with pairs at several time points and no ``timepoint=``, none is used, each is excluded
    and ``note`` names the time points; ``timepoint=12`` (or ``None``: pairs without a time
    point) selects one; ``"all"`` returns all. ``unit`` selects the unit of analysis
    (``"patients"``, ``"lesions"``); without it, pairs in several units are not returned
    together (none is used and ``note`` says so). ``filters`` select on other columns
    (``site="liver"``), matched like the loader's codes.

    Example
    -------
    >>> import iometa
    >>> sel = iometa.comparison_rows(iometa.load_studies(), "local_progression", "MWA", "RFA")
    >>> sel.rows[["label", "events_1", "total_1", "events_2", "total_2"]].values.tolist()
    [['Vogl 2022', 0, 26, 2, 24]]
    >>> res = iometa.pool_two_groups("events_1", "total_1", "events_2", "total_2",
    ...                              data=sel.rows, labels="label", measure="RD", method="MH")
    >>> round(res.estimate, 4) == round(0 / 26 - 2 / 24, 4)
    True
    """
    voc = resolve_vocabulary(vocabulary) if vocabulary is not None else vocabulary_of(studies)
    outcome = _canonical("outcome", outcome, voc, studies)
    for col in filters:
        if col not in studies.columns:
            raise ValueError(unknown_keyword(col, studies.columns, (
                "timepoint", "unit", "reconstruct", "vocabulary")))
    if isinstance(timepoint, str) and timepoint != "all":
        raise ValueError(f"timepoint={timepoint!r}: give a number of months, None (rows without "
                         "a time point) or 'all'")
    if unit is not None:
        unit = _canonical("unit_of_analysis", unit, voc, studies)
    arms_all = sorted({a for a in _text(studies, "arm") if a}, key=str.casefold)
    treatment = _arm_name(treatment, "treatment", arms_all, voc, studies)
    control = _arm_name(control, "control", arms_all, voc, studies)
    if treatment.casefold() == control.casefold():
        raise ValueError(f"treatment and control are the same arm ('{treatment}')")
    mask = (studies["outcome"] == outcome).to_numpy(dtype=bool, na_value=False)
    cid = _text(studies, "comparison_id")
    mask = mask & (cid != "").to_numpy(dtype=bool)
    superseded = set() if "source_kind" in filters else set(
        superseded_review_rows(studies[mask]))
    for col, want in filters.items():
        mask = mask & _filter_mask(studies, col, want, voc)
    df = studies[mask].copy()
    df["label"] = [study_label({**r, "subgroup": ""}) for r in df.to_dict("records")]
    excluded: list[tuple[Any, str]] = []
    usable: dict[Any, tuple] = {}
    vt = value_type(df)
    arm = _text(df, "arm")
    sub = _text(df, "subgroup")
    roles = {treatment.casefold(): 1, control.casefold(): 2}
    for i, row in zip(df.index, df.to_dict("records")):
        a = arm.loc[i]
        if i in superseded:
            excluded.append((i, SUPERSEDED))
        elif not a:
            excluded.append((i, "arm missing: a row of a comparison needs its arm"))
        elif a.casefold() not in roles:
            excluded.append((i, f"arm '{a}' is neither the treatment ('{treatment}') nor the "
                                f"control ('{control}')"))
        elif stratum(sub.loc[i], a):
            excluded.append((i, f"a stratum of the arm ({stratum(sub.loc[i], a)}), not the "
                                "whole arm"))
        elif vt.loc[i] in NOT_ESTIMATES:
            excluded.append((i, f"{vt.loc[i].replace('_', ' ')} of a printed range, not an "
                                "estimate"))
        elif voc.outcomes[outcome] == "score":
            got = _mean_sd_n(row)
            if isinstance(got, str):
                excluded.append((i, got))
            else:
                usable[i] = (roles[a.casefold()], got)
        elif voc.outcomes[outcome] != "proportion":
            excluded.append((i, f"outcome '{outcome}' is a {voc.outcomes[outcome]} (a median "
                                "per arm): two-group pooling needs events/total, or a mean, SD "
                                "and n per arm; pool reported hazard ratios with pool_effects"))
        else:
            ev, tot, src, why = _row_counts({**row, "subgroup": ""}, reconstruct)
            if why:
                if why.startswith("survival rate"):
                    why = ("survival rate (Kaplan–Meier) of one arm: no counts for a 2×2 "
                           "table; pool hazard ratios with pool_effects")
                excluded.append((i, why))
            else:
                usable[i] = (roles[a.casefold()],
                             {"events": ev, "total": tot, "count_source": src})
    pairs, left = _pair(df, usable, treatment, control, _arms_of(df, arm))
    excluded += left
    pairs, note, times, left = _one_unit_and_time(pairs, df, outcome, timepoint, unit)
    excluded += left
    order = {i: n for n, i in enumerate(df.index)}
    excluded.sort(key=lambda e: order[e[0]])
    cols = ["line", "study_id", "label", "comparison_id", "modality", "arm", "subgroup",
            "timepoint_months", "events", "total", "value"]
    ex = df.loc[[e[0] for e in excluded], [c for c in cols if c in df]].copy()
    ex.insert(0, "outcome", outcome)
    ex["reason"] = [e[1] for e in excluded]
    wide = _wide(pairs, df, outcome, voc.outcomes[outcome] == "score")
    if not note and wide.empty:
        note = _why_none(studies, outcome, df, treatment, control, excluded)
    return ComparisonRows(outcome, treatment, control, wide, ex.reset_index(drop=True), note,
                          times)


def _arms_of(df, arm) -> dict[str, dict[str, str]]:
    """comparison_id -> {folded arm: arm} of its rows of this outcome."""
    out: dict[str, dict[str, str]] = {}
    for i in df.index:
        if arm.loc[i]:
            out.setdefault(str(df.at[i, "comparison_id"]).strip(), {})[
                arm.loc[i].casefold()] = arm.loc[i]
    return out


def _pair(df, usable, treatment, control, arms_of):
    """Pairs (treatment row, control row) per comparison and time point; rows left alone
    are excluded with the reason."""
    groups: dict[tuple, dict[int, list]] = {}
    for i, (role, *_rest) in usable.items():
        tp = df.at[i, "timepoint_months"] if "timepoint_months" in df else np.nan
        key = (str(df.at[i, "comparison_id"]).strip(), None if pd.isna(tp) else float(tp))
        groups.setdefault(key, {1: [], 2: []})[role].append(i)
    pairs, left = [], []
    for (cid, tp), g in groups.items():
        if g[1] and g[2]:
            if len(g[1]) > 1 or len(g[2]) > 1:
                for i in g[1] + g[2]:
                    left.append((i, f"comparison '{cid}' has several rows of this arm at "
                                    f"{_months(tp)}: cannot tell which to pair"))
                continue
            i, j = g[1][0], g[2][0]
            pairs.append((cid, tp, i, j, usable[i], usable[j]))
            continue
        other = control if g[1] else treatment
        have = arms_of.get(cid, {})
        if other.casefold() not in have:
            why = (f"comparison '{cid}' has no '{other}' arm for this outcome (its arms: "
                   f"{', '.join(sorted(have.values(), key=str.casefold))})")
        else:
            why = f"comparison '{cid}' has no usable '{other}' arm at {_months(tp)} to pair with"
        left += [(i, why) for i in g[1] + g[2]]
    return pairs, left


def _unit_of(df, i) -> str:
    u = df.at[i, "unit_of_analysis"] if "unit_of_analysis" in df else None
    return "unknown" if u is None or pd.isna(u) else str(u)


def _one_unit_and_time(pairs, df, outcome, timepoint, unit):
    """Keep the pairs of one unit of analysis and one time point (the outcome_rows rule):
    (pairs, note, time points before ``timepoint=``, excluded rows)."""
    left: list[tuple[Any, str]] = []
    notes = []
    if unit is not None:
        keep = []
        for p in pairs:
            u = _unit_of(df, p[2])
            if u == unit:
                keep.append(p)
            else:
                left += [(i, f"counted in {u}, not {unit} (unit=)") for i in p[2:4]]
        pairs = keep
    units = sorted({_unit_of(df, p[2]) for p in pairs})
    if len(units) > 1:
        for p in pairs:
            left += [(i, f"counted in {_unit_of(df, p[2])}: the pairs of '{outcome}' are in "
                         f"several units of analysis ({', '.join(units)}), which are not "
                         "pooled together; choose one with unit=") for i in p[2:4]]
        notes.append(f"pairs in several units of analysis ({', '.join(units)}): pass unit=")
        pairs = []
    times = tuple(sorted({p[1] for p in pairs}, key=lambda t: -1.0 if t is None else t))
    if timepoint is not NOT_GIVEN and timepoint != "all":
        want = None if timepoint is None else float(timepoint)
        keep = []
        for p in pairs:
            if p[1] == want:
                keep.append(p)
            else:
                left += [(i, f"at {_months(p[1])}, not the time point chosen "
                             f"({_months(want)})") for i in p[2:4]]
        pairs = keep
    elif len(times) > 1:
        have = ", ".join(_months(t) for t in times)
        if timepoint is NOT_GIVEN:
            for p in pairs:
                left += [(i, f"at {_months(p[1])}: the pairs of '{outcome}' are at several "
                             f"time points ({have}), which are not pooled together; choose "
                             "one with timepoint=") for i in p[2:4]]
            pairs = []
            notes.append(f"pairs at several time points ({have}): pass timepoint= (a number "
                         "of months, None, or 'all' to pool them separately yourself)")
        else:
            notes.append(f"pairs at several time points ({have}): pool each time point "
                         "separately")
    return pairs, "; ".join(notes), times, left


def _mean_sd_n(row) -> dict | str:
    """Mean (``value``), SD (the table's own ``sd`` column) and n (``total``, else
    ``n_patients``) of a score row, or why they are not all there."""
    mean, sd = row.get("value"), row.get("sd")
    n = row.get("total")
    if n is None or pd.isna(n):
        n = row.get("n_patients")
    missing = [name for name, x in (("mean (value)", mean), ("SD (column sd)", sd),
                                    ("n (total or n_patients)", n))
               if x is None or pd.isna(x)]
    if missing:
        return f"no {', '.join(missing)}: a mean difference needs the mean, SD and n of each arm"
    return {"mean": float(mean), "sd": float(sd), "n": int(n)}


def _wide(pairs, df, outcome, continuous=False) -> pd.DataFrame:
    """The paired table: events/total per arm, or mean/SD/n per arm for a score outcome."""
    per_arm = ("mean", "sd", "n") if continuous else ("events", "total", "count_source")
    cols = ["study_id", "comparison_id", "label", "outcome", "timepoint_months",
            "unit_of_analysis", "arm_1", "arm_2",
            *(f"{c}_{k}" for k in (1, 2) for c in per_arm if c != "count_source"),
            *(["count_source_1", "count_source_2"] if not continuous else []),
            "source_kind", "line_1", "line_2"]
    recs = []
    for cid, tp, i, j, (_, v1), (_, v2) in pairs:
        rec = {
            "study_id": str(df.at[i, "study_id"]), "comparison_id": cid,
            "label": df.at[i, "label"], "outcome": outcome,
            "timepoint_months": np.nan if tp is None else tp,
            "unit_of_analysis": _unit_of(df, i),
            "arm_1": str(df.at[i, "arm"]), "arm_2": str(df.at[j, "arm"]),
            "source_kind": str(df.at[i, "source_kind"]) if "source_kind" in df else "review",
            "line_1": df.at[i, "line"] if "line" in df else i,
            "line_2": df.at[j, "line"] if "line" in df else j,
        }
        for k, v in ((1, v1), (2, v2)):
            rec.update({f"{c}_{k}": v[c] for c in per_arm})
        recs.append(rec)
    out = pd.DataFrame(recs, columns=cols)
    counts = ("n_1", "n_2") if continuous else ("events_1", "total_1", "events_2", "total_2")
    for c in (*counts, "line_1", "line_2"):
        out[c] = pd.array(out[c].tolist(), dtype="Int64")
    for c in ("mean_1", "sd_1", "mean_2", "sd_2") if continuous else ():
        out[c] = out[c].astype(float)
    out["timepoint_months"] = out["timepoint_months"].astype(float)
    return out


def _why_none(studies, outcome, df, treatment, control, excluded) -> str:
    if df.empty:
        has = (studies["outcome"] == outcome).to_numpy(dtype=bool, na_value=False)
        if not has.any():
            return f"the table has no row of outcome '{outcome}'"
        return (f"no row of outcome '{outcome}' belongs to a comparison (comparison_id empty "
                "everywhere): single-arm series are compared indirectly with subgroups")
    if excluded:
        return (f"no comparison of '{treatment}' vs '{control}' could be paired for "
                f"'{outcome}' (see excluded)")
    return ""

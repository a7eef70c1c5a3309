"""The loader's rules for head-to-head studies (arm rows linked by ``comparison_id``; see
:mod:`iometa.data.comparisons` for the storage and the paired rows)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from . import fastpath
from .cells import _fmt
from .coded import nones, value_ids
from .columns import _Table

__all__ = ["ARM_PREFIX", "stratum"]

ARM_PREFIX = "arm:"


def stratum(subgroup: Any, arm: Any) -> str:
    """The part of ``subgroup`` that is not the arm's own label: "" for the arm's whole row.

    >>> stratum("arm: RFA; lesion >3 cm", "RFA"), stratum("arm: MWA", "MWA"), stratum("", "MWA")
    ('lesion >3 cm', '', '')
    """
    if not isinstance(subgroup, str):
        return ""
    parts = [p.strip() for p in subgroup.split(";")]
    return "; ".join(p for p in parts if p and not p.casefold().startswith(ARM_PREFIX))


# --------------------------------------------------------------------------------------------
# validation (part of the loader)
# --------------------------------------------------------------------------------------------


def _check_comparisons(t: _Table) -> None:
    """The rules of a comparison (module docstring), for every ``comparison_id`` of the table."""
    V = t.values
    if "comparison_id" not in t.present:
        return
    w = t.row_word
    groups: dict[str, list[int]] = {}
    rows: Any = enumerate(V["comparison_id"])
    if fastpath.ENABLED:  # only the comparisons that may break a rule
        rows = ((i, V["comparison_id"][i]) for i in np.flatnonzero(_to_check(t)).tolist())
    for i, cid in rows:
        if cid is not None:
            groups.setdefault(cid, []).append(i)
    for cid, idx in groups.items():
        first = idx[0]
        arms: dict[str, str] = {}
        for i in idx:
            sid = V["study_id"][i]
            if sid is not None and V["study_id"][first] is not None and (
                    sid != V["study_id"][first]):
                t.add(i, "study_id", sid,
                      f"comparison '{cid}' belongs to study '{V['study_id'][first]}' ({w} "
                      f"{t.lines[first]}): every arm of a comparison is a row of one study "
                      "(give this study's arms their own comparison_id)")
            arm = V["arm"][i]
            if arm is None:
                t.add(i, "arm", None,
                      f"empty: a row of comparison '{cid}' needs its arm (the arm's modality "
                      "code, e.g. 'MWA'); a row that is not an arm has no comparison_id")
            else:
                arms.setdefault(arm.casefold(), arm)
        if len(arms) == 1:
            only = next(iter(arms.values()))
            for i in idx:
                if V["arm"][i] is not None:
                    t.add(i, "comparison_id", cid,
                          f"comparison '{cid}' has one arm only ('{only}'): give the rows of "
                          "the other arm the same comparison_id, or leave comparison_id empty "
                          "on a single-arm row")
        if len(arms) >= 2:
            _check_pairs(t, cid, [i for i in idx if V["arm"][i] is not None], arms)


def _to_check(t: _Table) -> np.ndarray:
    """The rows of the comparisons on which some rule of :func:`_check_comparisons` may
    record a problem (a superset): every other comparison has one study, two or more arms,
    every arm in each outcome and stratum at every time point of it, and one unit of
    analysis and one unit (where given) at each time point."""
    V = t.values
    rows = np.flatnonzero(~nones(V["comparison_id"]))
    if rows.size == 0:
        return np.zeros(t.n, dtype=bool)
    group = value_ids(V["comparison_id"])[rows]
    group = pd.factorize(group)[0]
    size = int(group.max()) + 1
    arm = value_ids(V["arm"], lambda a: None if a is None else a.casefold())[rows]
    strat = value_ids(V["subgroup"], lambda s: stratum(s, None).casefold())[rows]
    out, tp = value_ids(V["outcome"])[rows], value_ids(V["timepoint_months"])[rows]
    suspect = np.zeros(size, dtype=bool)
    for col in ("arm", "outcome"):
        suspect[group[nones(V[col])[rows]]] = True
    if t.bad["timepoint_months"]:
        bad = np.zeros(t.n, dtype=bool)
        bad[list(t.bad["timepoint_months"])] = True
        suspect[group[bad[rows]]] = True
    sid = ~nones(V["study_id"])[rows]
    suspect |= _count_per(group[sid], value_ids(V["study_id"])[rows][sid], size) > 1
    arms = _count_per(group, arm, size)
    suspect |= arms < 2
    key = _dense(group, out, strat)  # one outcome and stratum of a comparison
    of_key = np.zeros(int(key.max()) + 1, dtype=np.int64)
    of_key[key] = group
    n = of_key.size
    arms_k, times_k = _count_per(key, arm, n), _count_per(key, tp, n)
    wrong = (arms_k != arms[of_key]) | (_count_per(key, _dense(arm, tp), n) != arms_k * times_k)
    at = _dense(key, tp)  # one time point of it
    of_at = np.zeros(int(at.max()) + 1, dtype=np.int64)
    of_at[at] = group
    for col in ("unit_of_analysis", "unit"):
        given = ~nones(V[col])[rows]
        units = _count_per(at[given], value_ids(V[col])[rows][given], of_at.size)
        suspect[of_at[units > 1]] = True
    suspect[of_key[wrong]] = True
    need = np.zeros(t.n, dtype=bool)
    need[rows[suspect[group]]] = True
    return need


def _dense(*parts: np.ndarray) -> np.ndarray:
    """Dense ids (0, 1, ...) of the combinations of the parts (non-negative ids)."""
    key = np.zeros(len(parts[0]), dtype=np.int64)
    for part in parts:
        key = pd.factorize(key * (int(part.max(initial=0)) + 1) + part)[0].astype(np.int64)
    return key


def _count_per(group: np.ndarray, value: np.ndarray, size: int) -> np.ndarray:
    """The number of distinct values in each group (group ids below size)."""
    if group.size == 0:
        return np.zeros(size, dtype=np.int64)
    m = int(value.max()) + 1
    return np.bincount(np.unique(group * m + value) // m, minlength=size)


def _check_pairs(t: _Table, cid: str, idx: list[int], arms: dict[str, str]) -> None:
    """Every arm gives each outcome (and stratum) at the same time points and units."""
    V = t.values
    w = t.row_word
    by_outcome: dict[tuple, dict[str, list[int]]] = {}
    for i in idx:
        out = V["outcome"][i]
        if out is None:
            continue
        key = (out, stratum(V["subgroup"][i], V["arm"][i]).casefold())
        by_outcome.setdefault(key, {}).setdefault(V["arm"][i].casefold(), []).append(i)
    for (out, strat), per_arm in by_outcome.items():
        what = f"outcome '{out}'" + (f" ({strat})" if strat else "")
        missing = [arms[a] for a in arms if a not in per_arm]
        if missing:
            for rows in per_arm.values():
                for i in rows:
                    t.add(i, "arm", V["arm"][i],
                          f"comparison '{cid}' gives {what} for arm '{V['arm'][i]}' but not "
                          f"for arm {', '.join(repr(m) for m in missing)}: add the other arm's "
                          "row (with its comparison_id), or leave comparison_id empty here")
            continue
        times = {a: {V["timepoint_months"][i] for i in rows} for a, rows in per_arm.items()}
        for a, rows in per_arm.items():
            others = [b for b in per_arm if b != a]
            for i in rows:
                tp = V["timepoint_months"][i]
                if i in t.bad["timepoint_months"]:
                    continue
                lacking = [arms[b] for b in others if tp not in times[b]]
                if lacking:
                    have = ", ".join(_tp(x) for x in sorted(times[_fold(lacking[0])],
                                                            key=_tp_key))
                    t.add(i, "timepoint_months", t.shown("timepoint_months", i),
                          f"comparison '{cid}': {what} of arm '{V['arm'][i]}' is at "
                          f"{_tp(tp)} but arm '{lacking[0]}' has it at {have}: both arms "
                          "of a compared pair need the same time point")
                    continue
                _check_same(t, cid, what, i, [j for b in others for j in per_arm[b]
                                              if V["timepoint_months"][j] == tp], w)


def _fold(s: str) -> str:
    return s.casefold()


def _tp(x) -> str:
    return "no time point" if x is None else f"{_fmt(x)} months"


def _tp_key(x) -> float:
    return -1.0 if x is None else float(x)


def _check_same(t: _Table, cid: str, what: str, i: int, partners: list[int], w: str) -> None:
    """The row's unit of analysis and unit equal those of the other arms' rows it is paired
    with (reported on the later row of each pair)."""
    V = t.values
    for j in partners:
        if j > i:
            continue
        for col in ("unit_of_analysis", "unit"):
            a, b = V[col][i], V[col][j]
            if a is not None and b is not None and a != b:
                t.add(i, col, t.shown(col, i),
                      f"comparison '{cid}': {what} is counted in '{a}' in arm "
                      f"'{V['arm'][i]}' but in '{b}' in arm '{V['arm'][j]}' ({w} {t.lines[j]}): "
                      "the arms of a compared pair must use the same "
                      f"{col.replace('_', ' ')}")

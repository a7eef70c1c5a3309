"""The rules every row of the study table must follow, and duplicate rows.

Part of the study-table loader (:func:`iometa.data.validate_studies`). Each check reads the
parsed values of a :class:`~iometa.data.columns._Table` and records every problem it finds
(a rule broken by a cell that could not be read is not reported again). A cell found wrong
here is marked bad when later checks (events/total consistency, duplicate rows) must not
use its value.
"""

from __future__ import annotations

import datetime
import math
import re

from .cells import _display, _fmt
from .columns import _Table
from .schema import (
    _CONSISTENCY_TOL,
    _UNIT_OF_KIND,
    COLUMNS,
    REQUIRED_COLUMNS,
    _match,
    _unknown_message,
)
from .sources import _check_provenance_ids

_ESTIMATES = ("value", "ci_low", "ci_high")


def _check_rows(t: _Table) -> None:
    """Apply every row rule to every row."""
    this_year = datetime.date.today().year
    for i in range(t.n):
        _check_required(t, i)
        _check_result(t, i)
        counts = _check_counts(t, i)
        _check_reference(t, i, this_year)
        est = {c: t.values[c][i] for c in _ESTIMATES}
        if t.kinds[i] == "proportion":
            _check_proportion(t, i, est, counts)
        elif t.kinds[i] == "duration":
            _check_duration(t, i, est)
        _check_interval(t, i, est)
        _check_timepoint(t, i)
        _check_unit(t, i)
        _check_positive(t, i, "lesion_size_cm")
        _check_provenance_ids(t, i)
        if t.strict:
            _check_provenance(t, i)
        if t.strict or t.vocabulary.added.get("source"):
            _check_source(t, i)
    _check_study_ids(t)


def _check_required(t: _Table, i: int) -> None:
    for col in REQUIRED_COLUMNS:
        if col in t.present and t.values[col][i] is None and i not in t.bad[col]:
            shown, what = _empty(t, i, col)
            t.add(i, col, shown, f"{what}: {col} is required in every row{_not_reported(shown)}")


def _check_result(t: _Table, i: int) -> None:
    """A result: value, or events and total."""
    V = t.values
    has = {c: V[c][i] is not None or i in t.bad[c] for c in ("value", "events", "total")}
    if has["value"]:
        return
    if t.kinds[i] == "duration":
        shown, what = _empty(t, i, "value")
        t.add(
            i,
            "value",
            shown,
            f"{what}: outcome '{V['outcome'][i]}' is a duration and needs its value in months"
            + _not_reported(shown),
        )
    elif not has["events"] and not has["total"]:
        if "value" in t.present or {"events", "total"} <= t.present:
            shown, what = _empty(t, i, "value")
            lead = "no result" if shown is None else "no result (not reported)"
            t.add(i, "value", shown, f"{lead}: give `value`, or `events` and `total`")
    elif not has["total"]:
        shown, what = _empty(t, i, "total")
        t.add(
            i,
            "total",
            shown,
            f"{what}: `events` needs a `total` when `value` is empty" + _not_reported(shown),
        )
    elif not has["events"]:
        shown, what = _empty(t, i, "events")
        t.add(
            i,
            "events",
            shown,
            f"{what}: `total` needs `events` when `value` is empty" + _not_reported(shown),
        )


def _check_counts(t: _Table, i: int) -> tuple[int, int] | None:
    """Counts must not be negative (sample sizes not 0), events must not exceed total.

    Returns (events, total) when both are given and valid, else None.
    """
    V = t.values
    for col in ("n_patients", "total"):
        x = V[col][i]
        if x is not None and x < 0:
            t.reject(i, col, f"{col} must not be negative")
        elif x == 0:
            t.reject(i, col, f"{col} must be greater than 0")
    for col in ("events", "n_lesions"):
        x = V[col][i]
        if x is not None and x < 0:
            t.reject(i, col, f"{col} must not be negative")
    ev, tot = V["events"][i], V["total"][i]
    if ev is not None and i not in t.bad["events"] and tot is None and i not in t.bad["total"]:
        _check_events_without_total(t, i, ev)
    if ev is None or i in t.bad["events"] or tot is None or i in t.bad["total"]:
        return None
    if ev > tot:
        t.reject(i, "events", f"events must not exceed total ({tot})")
        return None
    return ev, tot


def _check_events_without_total(t: _Table, i: int, ev: int) -> None:
    """With `total` empty, events are counted out of n_patients (n_lesions per lesion)."""
    col = "n_lesions" if t.values["unit_of_analysis"][i] == "lesions" else "n_patients"
    n = t.values[col][i]
    if n is not None and i not in t.bad[col] and n > 0 and ev > n:
        t.reject(
            i,
            "events",
            f"events must not exceed {col} ({n}) when `total` is empty: correct events, or "
            "give the number of patients (or lesions) they are counted out of in `total`",
        )


def _empty(t: _Table, i: int, col: str) -> tuple[str | None, str]:
    """(cell shown, 'empty') for a blank cell; 'NR', 'n/a', '—' are named not reported."""
    shown = t.shown(col, i)
    return (None, "empty") if not shown else (shown, "not reported (read as missing)")


def _not_reported(shown: str | None) -> str:
    """What to do about a required number the source does not report."""
    if shown is None:
        return ""
    return "; find the number in the source, or delete the row if the source does not report it"


def _check_reference(t: _Table, i: int, this_year: int) -> None:
    """ref_no is positive; year is a plausible year of publication."""
    x = t.values["ref_no"][i]
    if x is not None and x <= 0:
        t.add(i, "ref_no", t.shown("ref_no", i), "ref_no must be a positive whole number")
    x = t.values["year"][i]
    if x is not None and not 1900 <= x <= this_year + 1:
        t.add(i, "year", t.shown("year", i), "expected a 4-digit year of publication")


def _check_proportion(
    t: _Table, i: int, est: dict[str, float | None], counts: tuple[int, int] | None
) -> None:
    """Estimates of a proportion lie in 0–1 and agree with events/total.

    A wrong estimate is marked bad and removed from est (so the interval is not checked).
    """
    outcome = t.values["outcome"][i]
    for col, x in est.items():
        if x is None:
            continue
        msg = None
        if math.isinf(x):
            msg = f"'not reached' is not a proportion: {col} must be between 0 and 1"
        elif x < 0 or x > 100:
            msg = f"a proportion must be between 0 and 1 (outcome '{outcome}')"
        elif x > 1:
            msg = f"looks like a percentage: write {_fmt(x / 100)} instead of {_fmt(x)}"
        if msg:
            t.reject(i, col, msg)
            est[col] = None
    value = est["value"]
    if value is None or counts is None:
        return
    ev, tot = counts
    p = ev / tot
    if abs(value - p) > _CONSISTENCY_TOL:
        t.add(
            i,
            "value",
            t.shown("value", i),
            f"value {_fmt(value)} does not match events/total = "
            f"{ev}/{tot} = {p:.3f} (difference {abs(value - p):.4f}, "
            "more than 0.005): correct value, events or total",
        )


def _check_duration(t: _Table, i: int, est: dict[str, float | None]) -> None:
    """A duration is positive and its interval not negative (wrong ones removed from est)."""
    if est["value"] is not None and est["value"] <= 0:
        t.add(i, "value", t.shown("value", i), "a duration must be greater than 0 (months)")
        est["value"] = None
    for col in ("ci_low", "ci_high"):
        if est[col] is not None and est[col] < 0:
            t.add(i, col, t.shown(col, i), f"{col} of a duration must not be negative")
            est[col] = None


def _check_interval(t: _Table, i: int, est: dict[str, float | None]) -> None:
    """ci_low <= ci_high, and the interval contains the estimate."""
    lo, v, hi = est["ci_low"], est["value"], est["ci_high"]
    if lo is not None and hi is not None and lo > hi:
        t.add(i, "ci_low", t.shown("ci_low", i), f"ci_low must not exceed ci_high ({_fmt(hi)})")
    elif v is not None and (
        (lo is not None and v < lo - 1e-9) or (hi is not None and v > hi + 1e-9)
    ):
        t.add(
            i,
            "value",
            t.shown("value", i),
            f"estimate lies outside its confidence interval {_fmt(lo)}–{_fmt(hi)} "
            "(ci_low–ci_high): the interval must contain the estimate",
        )


def _check_positive(t: _Table, i: int, col: str) -> None:
    x = t.values[col][i]
    if x is not None and x <= 0:
        t.add(i, col, t.shown(col, i), f"{col} must be greater than 0")


def _check_timepoint(t: _Table, i: int) -> None:
    """timepoint_months is positive, and given for every rate (os_rate, ...)."""
    _check_positive(t, i, "timepoint_months")
    outcome = t.values["outcome"][i]
    if (
        outcome is not None
        and outcome.endswith("_rate")
        and t.values["timepoint_months"][i] is None
        and i not in t.bad["timepoint_months"]
    ):
        shown, what = _empty(t, i, "timepoint_months")
        t.add(
            i,
            "timepoint_months",
            shown,
            f"{what}: outcome '{outcome}' needs the time point in months "
            "(e.g. 12 for a 1-year rate)" + _not_reported(shown),
        )


def _check_unit(t: _Table, i: int) -> None:
    """The unit of value fits the kind of outcome (proportion, months, points)."""
    unit, kind = t.values["unit"][i], t.kinds[i]
    expected = _UNIT_OF_KIND.get(kind or "")
    if unit is None or expected is None or unit == expected:
        return
    outcome = t.values["outcome"][i]
    msg = f"unit '{unit}' does not fit outcome '{outcome}' (a {kind}): use '{expected}'"
    if kind == "duration":
        msg += (
            " (convert weeks, days or years to months; keep the original in "
            "`value_reported` and `unit_reported`)"
        )
    t.add(i, "unit", t.shown("unit", i), msg)


def _check_provenance(t: _Table, i: int) -> None:
    """The project table: every review row has a quote (a primary row has its identifier and
    locator instead: :mod:`.sources`)."""
    V = t.values
    if "quote" in t.present and V["quote"][i] is None and V["source_kind"][i] != "primary":
        t.add(
            i,
            "quote",
            None,
            "empty: the project table needs the sentence of the source that "
            "gives this number (provenance)",
        )


def _check_source(t: _Table, i: int) -> None:
    """A known source (canonicalised): always in the project table, and in any table whose
    vocabulary declares sources."""
    if "source" not in t.present:
        return
    src = t.values["source"][i]
    if src is None:
        if t.strict:
            t.add(i, "source", None, "empty: the project table needs the source of every row")
        return
    sources = t.vocabulary.allowed("source")
    canon = _match(src, sources)
    if canon is None:
        t.add(i, "source", src, _unknown_message("source", src, sources, "source"))
    else:
        t.values["source"][i] = canon


#: the data dictionary's rule for study_id (data/README.md, column 1)
STUDY_ID_RULE = re.compile(r"^[a-z][a-z0-9]*$")
_STUDY_ID_HELP = (
    "expected the first author's surname and the year, lower case ASCII letters and digits "
    "only, e.g. 'meloni2009' (the study_id rule of data/README.md)"
)


def _check_study_ids(t: _Table) -> None:
    """The study_id rule (an error in the project table, a warning elsewhere), and ids that
    differ only in case (always an error: the same study written two ways?)."""
    first: dict[str, tuple[str, int]] = {}
    off_rule: list[str] = []
    for i, sid in enumerate(t.values["study_id"]):
        if sid is None:
            continue
        if not STUDY_ID_RULE.match(sid):
            if t.strict:
                t.add(i, "study_id", sid, _STUDY_ID_HELP)
            elif sid not in off_rule:
                off_rule.append(sid)
        key = sid.casefold()
        if key not in first:
            first[key] = (sid, i)
        elif first[key][0] != sid:
            other, j = first[key]
            t.add(i, "study_id", sid,
                  f"differs from '{other}' ({t.row_word} {t.lines[j]}) only in case: if it is "
                  "the same study write it the same way, otherwise give it another id")
    if off_rule:
        shown = ", ".join(repr(s) for s in off_rule[:5])
        more = f" and {len(off_rule) - 5} more" if len(off_rule) > 5 else ""
        verb = "does" if len(off_rule) == 1 else "do"
        t.warnings.append(
            f"study_id {shown}{more} {verb} not follow the data dictionary's rule: "
            f"{_STUDY_ID_HELP}")


def _check_duplicates(t: _Table) -> None:
    """Rows repeated exactly, or with the same study, outcome, subgroup and time point."""
    V = t.values
    w = t.row_word
    first_full: dict[tuple, int] = {}
    first_key: dict[tuple, int] = {}
    for i in range(t.n):
        full = tuple(
            ("?", _display(t.cells[c][i])) if i in t.bad[c] else V[c][i] for c in COLUMNS
        ) + tuple(_display(s.iloc[i]) for s in t.extras.values())
        if full in first_full:
            t.add(
                i,
                None,
                None,
                f"{w} {t.lines[i]} duplicates {w} {t.lines[first_full[full]]} exactly "
                "(every cell is the same): delete one of them",
            )
            continue
        first_full[full] = i
        sid, out = V["study_id"][i], V["outcome"][i]
        if sid is None or out is None or i in t.bad["timepoint_months"]:
            continue
        # a review row and a primary row of one study may give the same number: both kept
        key = (sid, out, V["subgroup"][i] or "", V["timepoint_months"][i], V["source_kind"][i])
        if key not in first_key:
            first_key[key] = i
            continue
        tp = "none" if key[3] is None else _fmt(key[3])
        t.add(
            i,
            None,
            None,
            f"{w} {t.lines[i]} duplicates {w} {t.lines[first_key[key]]}: same study_id "
            f"'{sid}', outcome '{out}', subgroup '{key[2]}', timepoint_months {tp} and "
            f"source_kind '{key[4]}'; "
            "give each row its own subgroup or timepoint, or delete one",
        )

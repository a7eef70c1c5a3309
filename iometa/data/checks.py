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
from collections.abc import Callable
from typing import Any

import numpy as np

from . import fastpath
from .cells import _fmt
from .coded import floats, mapped
from .columns import _Table
from .schema import (
    _CONSISTENCY_TOL,
    _UNIT_OF_KIND,
    REQUIRED_COLUMNS,
    _match,
    _unknown_message,
)
from .sources import DOI_RULE, MAX_PRIMARY_QUOTE_WORDS, PMID_RULE, URL_RULE, _check_provenance_ids
from .table_checks import _check_study_ids, _none

_ESTIMATES = ("value", "ci_low", "ci_high")
#: relative difference allowed between a rate's value and events / person_time (the rounding
#: of a value printed to 2 significant digits)
_RATE_TOL = 0.05 + 1e-9


def _check_rows(t: _Table) -> None:
    """Apply every row rule to every row (fast path: to the rows that may break one)."""
    this_year = datetime.date.today().year
    rows = np.flatnonzero(_rows_to_check(t, this_year)).tolist() if fastpath.ENABLED else (
        range(t.n))
    for i in rows:
        _check_required(t, i)
        _check_result(t, i)
        counts = _check_counts(t, i)
        _check_reference(t, i, this_year)
        est = {c: t.values[c][i] for c in _ESTIMATES}
        if t.kinds[i] == "proportion":
            _check_proportion(t, i, est, counts)
        elif t.kinds[i] == "duration":
            _check_duration(t, i, est)
        elif t.kinds[i] == "rate":
            _check_rate(t, i, est)
        _check_interval(t, i, est)
        _check_person_time(t, i)
        _check_timepoint(t, i)
        _check_unit(t, i)
        _check_positive(t, i, "lesion_size_cm")
        _check_provenance_ids(t, i)
        if t.strict:
            _check_provenance(t, i)
        if t.strict or t.vocabulary.added.get("source"):
            _check_source(t, i)
    _check_study_ids(t)


# --------------------------------------------------------------------------------------------
# the fast path: which rows may break a rule (a superset; the rules run on those rows only)
# --------------------------------------------------------------------------------------------


def _num(t: _Table, col: str) -> np.ndarray:
    """The parsed values of a numeric column as float64 (NaN where missing)."""
    return floats(t.values[col])


def _bad(t: _Table, col: str) -> np.ndarray:
    out = np.zeros(t.n, dtype=bool)
    if t.bad[col]:
        out[list(t.bad[col])] = True
    return out


def _by_value(t: _Table, col: str, rule: Callable[[Any], bool]) -> np.ndarray:
    """rule(value) of every row, computed once per distinct value."""
    return mapped(t.values[col], lambda v: bool(rule(v)))


def _rows_to_check(t: _Table, this_year: int) -> np.ndarray:
    """Rows on which some row rule may record a problem or change a value (every other row
    passes every rule of :func:`_check_rows` unchanged)."""
    V = t.values
    proportion = mapped(t.kinds, lambda k: k == "proportion")
    duration = mapped(t.kinds, lambda k: k == "duration")
    rate_kind = mapped(t.kinds, lambda k: k == "rate")
    x = {c: _num(t, c) for c in ("n_patients", "n_lesions", "events", "total", "ref_no", "year",
                                 "value", "ci_low", "ci_high", "timepoint_months",
                                 "lesion_size_cm", "person_time")}
    null = {c: np.isnan(a) for c, a in x.items()}
    bad = {c: _bad(t, c) for c in ("value", "events", "total", "timepoint_months",
                                   "person_time")}
    with np.errstate(invalid="ignore", divide="ignore"):
        need = np.zeros(t.n, dtype=bool)
        for col in REQUIRED_COLUMNS:
            if col in t.present:
                need |= _none(t, col) & ~_bad(t, col)
        has = {c: ~null[c] | bad[c] for c in ("value", "events", "total")}
        need |= ~has["value"] & (duration | ~has["events"] | ~has["total"])
        need |= (x["n_patients"] <= 0) | (x["total"] <= 0) | (x["events"] < 0)
        need |= x["n_lesions"] < 0
        need |= ~null["events"] & null["total"]
        need |= x["events"] > x["total"]
        need |= (x["ref_no"] <= 0) | (x["year"] < 1900) | (x["year"] > this_year + 1)
        est = [x[c] for c in _ESTIMATES]
        for e in est:
            need |= proportion & (np.isinf(e) | (e < 0) | (e > 1))
        p = x["events"] / x["total"]
        need |= proportion & (np.abs(x["value"] - p) > _CONSISTENCY_TOL - 1e-9)
        need |= proportion & ~null["value"] & ~null["events"] & ~null["total"] & ~np.isfinite(p)
        need |= duration & ((x["value"] <= 0) | (x["ci_low"] < 0) | (x["ci_high"] < 0))
        lo, v, hi = est[1], est[0], est[2]
        need |= (lo > hi) | (v < lo - 1e-9) | (v > hi + 1e-9)
        need |= (x["timepoint_months"] <= 0) | (x["lesion_size_cm"] <= 0)
        # events per person-time: the result, its unit, the rate and its consistency
        pt = x["person_time"]
        need |= (pt <= 0) | np.isinf(pt) | (~null["person_time"] & _none(t, "person_time_unit"))
        need |= rate_kind & ~has["value"] & (~has["events"] | (null["person_time"]
                                                                & ~bad["person_time"]))
        for e in est:
            need |= rate_kind & (np.isinf(e) | (e < 0))
        r = x["events"] / pt
        need |= rate_kind & ~(np.abs(x["value"] - r) <= _RATE_TOL * r) & ~null["value"] & (
            ~null["events"] & ~null["person_time"])
    rate = _by_value(t, "outcome", lambda o: o is not None and o.endswith("_rate"))
    need |= rate & ~rate_kind & null["timepoint_months"] & ~bad["timepoint_months"]
    for unit in {u for u in _UNIT_OF_KIND.values() if u is not None}:  # unit vs kind
        need |= mapped(t.kinds, lambda k, u=unit: _UNIT_OF_KIND.get(k or "") == u) & mapped(
            V["unit"], lambda v, u=unit: v is not None and v != u)
    for col, rule in (("pmid", PMID_RULE), ("doi", DOI_RULE), ("url", URL_RULE)):
        need |= _by_value(t, col, lambda s, r=rule: s is not None and not r.match(s))
    primary = _by_value(t, "source_kind", lambda k: k == "primary")
    if primary.any():
        long_quote = _by_value(t, "quote", lambda q: q is not None and len(
            q.split()) > MAX_PRIMARY_QUOTE_WORDS)
        need |= primary & ((_none(t, "pmid") & _none(t, "doi")) | _none(t, "locator") | long_quote)
    if t.strict and "quote" in t.present:
        need |= _none(t, "quote") & ~primary
    if (t.strict or t.vocabulary.added.get("source")) and "source" in t.present:
        sources = t.vocabulary.allowed("source")
        need |= _by_value(t, "source", lambda s: (t.strict if s is None else
                                                  _match(s, sources) != s))
    return need


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
    elif t.kinds[i] == "rate":
        has_pt = V["person_time"][i] is not None or i in t.bad["person_time"]
        if has["events"] and has_pt:
            return
        col = "events" if not has["events"] else "person_time"
        shown, what = _empty(t, i, col)
        t.add(i, col, shown,
              f"{what}: outcome '{V['outcome'][i]}' is a rate (events per person-time) and "
              "needs `events` and `person_time` (with `person_time_unit`), or `value` in "
              "events per one person_time_unit" + _not_reported(shown))
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
    if (ev is not None and i not in t.bad["events"] and tot is None and i not in t.bad["total"]
            and t.kinds[i] != "rate"):  # a rate's events may exceed its patients
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


def _check_rate(t: _Table, i: int, est: dict[str, float | None]) -> None:
    """Events per person-time: estimates finite and >= 0; value agrees with events /
    person_time (to the rounding of 2 significant digits). Wrong ones removed from est."""
    for col in _ESTIMATES:
        x = est[col]
        if x is not None and (math.isinf(x) or x < 0):
            t.add(i, col, t.shown(col, i), f"{col} of a rate (events per person-time) must be a "
                                           "finite number >= 0")
            est[col] = None
    V = t.values
    ev, pt, value = V["events"][i], V["person_time"][i], est["value"]
    if (value is None or ev is None or pt is None or i in t.bad["events"]
            or i in t.bad["person_time"] or not 0 < pt < math.inf):
        return
    r = ev / pt
    if abs(value - r) <= _RATE_TOL * r:
        return
    unit = V["person_time_unit"][i]
    per = f"per {unit.rstrip('s')}" if unit else "per person_time_unit"
    t.add(i, "value", t.shown("value", i),
          f"value {_fmt(value)} does not match events/person_time = {ev}/{_fmt(pt)} = "
          f"{r:.4g} {per} (more than the rounding of 2 significant digits): "
          "value is events per one person_time_unit (divide a rate per 100 person-years by "
          "100), or correct events or person_time")


def _check_person_time(t: _Table, i: int) -> None:
    """person_time is a finite number > 0 and has its unit."""
    pt = t.values["person_time"][i]
    if pt is None or i in t.bad["person_time"]:
        return
    if not 0 < pt < math.inf:
        t.reject(i, "person_time", "person_time must be a finite number greater than 0 (the "
                                   "follow-up time of all patients, or lesions, summed)")
    elif t.values["person_time_unit"][i] is None and i not in t.bad["person_time_unit"]:
        shown, what = _empty(t, i, "person_time_unit")
        t.add(i, "person_time_unit", shown,
              f"{what}: person_time needs its unit (years, months, weeks or days; with "
              "unit_of_analysis = patients, years are person-years)")


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
        and t.kinds[i] != "rate"  # events per person-time has no time point
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





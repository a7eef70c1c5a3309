"""Survival outcomes: median survival, survival rates at fixed times, and their consistency.

* :func:`pool_medians` (:mod:`iometa.survival.medians`): median OS/PFS in months, from CIs
  (Wald), numbers of deaths (exponential approximation) or bare medians (median of medians).
* :func:`pool_survival_rates` (:mod:`iometa.survival.rates`): S(t) at fixed times on the
  cloglog or logit scale.
* :func:`survival_table`: every time point × group of a study table at once, with a check
  against the pooled medians under an exponential model; :func:`check_exponential_consistency`
  does the same check study by study.

Exponential model: with a constant hazard λ the median is M = ln 2/λ, so S(t) = 2^(−t/M).
A pool (or study) *disagrees* with it when the interval of S(t) implied by the median's CI,
[2^(−t/L), 2^(−t/U)] (a single point when the median has no CI), does not overlap the CI of the
survival rate. Disagreement means the hazard is not constant over [0, t] (e.g. a cured
fraction or early post-procedural deaths), or that the medians and rates come from different
studies or populations — or an extraction error worth checking.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd

from .._warnings import DataWarning
from ..core.fitting import fit_arrays
from ..core.models import column
from .medians import as_float, pool_medians
from .rates import SCALES, _one_rate, ci_usable, inverse, pool_survival_rates

__all__ = ["pool_medians", "pool_survival_rates", "survival_table",
           "check_exponential_consistency", "exponential_rate"]

_MISSING = "(missing)"


def exponential_rate(t, median):
    """S(t) = 2^(−t/M) implied by a median M under a constant hazard (inf median -> 1).

    Example
    -------
    >>> float(exponential_rate(12, 12)), float(exponential_rate(24, 12))
    (0.5, 0.25)
    """
    with np.errstate(divide="ignore"):
        return np.power(2.0, -np.asarray(t, dtype=float) / np.asarray(median, dtype=float))


def _disagree(lo_exp, hi_exp, lo, hi):
    if not all(np.isfinite([lo_exp, hi_exp, lo, hi])):
        return pd.NA
    return bool(hi_exp < lo or lo_exp > hi)


def _by_columns(by):
    return [] if by is None else [by] if isinstance(by, str) else list(by)


def _groups(df, by):
    """One group label per row: the ``by`` column(s) joined with " / " ("all" without by)."""
    cols = _by_columns(by)
    if not cols:
        return pd.Series("all", index=df.index, dtype=object)
    parts = [df[c].astype(object).where(df[c].notna(), _MISSING).astype(str) for c in cols]
    out = parts[0]
    for part in parts[1:]:
        out = out + " / " + part
    return out


def _rows(data, outcome, code):
    if code is None or outcome is None or outcome not in data.columns:
        return data
    return data[(data[outcome].astype(object) == code).to_numpy()]


def _rate_inputs(rates, value, n, time, ci_low, ci_high, labels, scale, level):
    """Per-row effects of the rate rows; rows without a rate, time or needed n are excluded."""
    labs = ([str(x) for x in column(labels, rates, "labels")] if labels in rates.columns
            else [f"row {i}" for i in rates.index])
    get = {nm: (as_float(column(c, rates, nm), nm, labs) if c in rates.columns
                else np.full(len(rates), np.nan))
           for nm, c in (("s", value), ("n", n), ("t", time), ("lo", ci_low), ("hi", ci_high))}
    out, excluded = [], []
    for i, lab in enumerate(labs):
        s, nn, t, lo, hi = (get[k][i] for k in ("s", "n", "t", "lo", "hi"))
        why = ("no survival rate" if np.isnan(s) else "no time point" if np.isnan(t) else
               "n missing and no usable CI" if np.isnan(nn) and not ci_usable(s, lo, hi) else None)
        if why:
            excluded.append({"label": lab, "time": t, "reason": why})
            continue
        y, v, *_ = _one_rate(lab, s, nn, lo, hi, 0.95, scale, 1.0)
        out.append((i, t, y, v, nn))
    return labs, out, excluded


def _batch(cells, method, test, level):
    """Fit every (time, group) cell at once with :func:`fit_arrays` (k = 1 cells: τ² = 0, z)."""
    fits = {}
    for single in (False, True):
        keys = [key for key, rows in cells.items() if (len(rows) == 1) == single]
        if not keys:
            continue
        kmax = max(len(cells[key]) for key in keys)
        y, v = np.zeros((len(keys), kmax)), np.ones((len(keys), kmax))
        mask = np.zeros((len(keys), kmax), bool)
        for b, key in enumerate(keys):
            rows = cells[key]
            y[b, :len(rows)] = [r[2] for r in rows]
            v[b, :len(rows)] = [r[3] for r in rows]
            mask[b, :len(rows)] = True
        fit = fit_arrays(y, v, mask, method=method, test="z" if single else test, level=level,
                         tau2=0.0 if single else None)
        for b, key in enumerate(keys):
            fits[key] = {a: float(getattr(fit, a)[b]) for a in
                         ("coef", "ci_low", "ci_high", "pi_low", "pi_high", "tau2", "i2")}
    return fits


def _median_pool(medians, group, by, value, labels, ci_low, ci_high, n, opts):
    rows = medians[(_groups(medians, by) == group).to_numpy()]
    vals = as_float(column(value, rows, "value"), "value", [str(i) for i in rows.index])
    if not np.isfinite(vals).any():
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pool_medians(value, ci_low=ci_low if ci_low in rows else None,
                            ci_high=ci_high if ci_high in rows else None,
                            n=n if n in rows else None,
                            labels=labels if labels in rows else None, data=rows, **opts)


def survival_table(data, *, by="modality", time="timepoint_months", value="value",
                   n="n_patients", outcome="outcome", rate_outcome="os_rate",
                   median_outcome="median_os", labels="study_id", ci_low="ci_low",
                   ci_high="ci_high", scale="cloglog", method="REML", test="z", level=0.95,
                   median_scale="log", median_route="auto") -> pd.DataFrame:
    """Pool survival rates at every time point × group of a study table, one tidy row each.

    The rows of ``data`` whose ``outcome`` is ``rate_outcome`` are pooled per (time, group) —
    group = the ``by`` column, or several columns (a list, labels joined by " / "), or "all"
    for ``by=None`` — as :func:`pool_survival_rates` does (same scale, method, test and level; every cell
    is fitted in one batch). Rows without a rate or time point, or with neither n nor a usable
    CI, are left out with a :class:`~iometa.DataWarning` and listed in
    ``table.attrs["excluded"]``. The rows whose outcome is ``median_outcome`` are pooled per
    group with :func:`pool_medians` (``median_scale``, ``median_route``) and each cell is
    checked against the exponential model S(t) = 2^(−t/M) (see :mod:`iometa.survival`):
    ``exp_rate`` from the pooled median, ``exp_rate_low``/``exp_rate_high`` from its CI, and
    ``exp_disagree`` True when that interval and the pooled rate's CI do not overlap (NA when the
    group has no pooled median). Censoring is ignored as in :func:`pool_survival_rates`.

    Columns: time, group, k, N (sum of the known n; nan when no n is known), estimate, ci_low, ci_high, pi_low,
    pi_high, tau2, i2, median, median_ci_low, median_ci_high, median_k, median_route, exp_rate,
    exp_rate_low, exp_rate_high, exp_disagree.

    Reference: Combescure C et al. (2014) Stat Med 33:2521 (survival at fixed times); metafor
    has no single equivalent (one ``rma`` per cell).

    Example
    -------
    >>> import pandas as pd, iometa
    >>> df = pd.DataFrame({"study_id": ["A", "B", "A", "B", "A", "B"],
    ...     "modality": ["RFA"] * 6, "outcome": ["os_rate"] * 4 + ["median_os"] * 2,
    ...     "timepoint_months": [12, 12, 24, 24, None, None],
    ...     "value": [0.9, 0.85, 0.7, 0.66, 40.0, 36.0], "n_patients": [50, 40, 50, 40, 50, 40]})
    >>> tab = iometa.survival_table(df)
    >>> tab[["time", "group", "k"]].values.tolist()
    [[12.0, 'RFA', 2], [24.0, 'RFA', 2]]
    """
    if scale not in SCALES:
        raise ValueError(f"unknown scale {scale!r}: expected 'cloglog' or 'logit'")
    for c in _by_columns(by):
        if c not in data.columns:
            raise ValueError(f"by={c!r}: no such column in data")
    rates = _rows(data, outcome, rate_outcome)
    labs, effects, excluded = _rate_inputs(rates, value, n, time, ci_low, ci_high, labels,
                                           scale, level)
    groups = _groups(rates, by).to_numpy()
    cells: dict = {}
    for row in effects:
        cells.setdefault((row[1], groups[row[0]]), []).append(row)
    fits = _batch(cells, method, test, level)
    medians = _rows(data, outcome, median_outcome) if median_outcome else data.iloc[:0]
    mopts = dict(method=method, test=test, level=level, scale=median_scale, route=median_route)
    pooled = {g: _median_pool(medians, g, by, value, labels, ci_low, ci_high, n, mopts)
              for g in sorted({key[1] for key in cells})}
    out = [_table_row(key, cells[key], fits[key], pooled[key[1]], scale)
           for key in sorted(cells, key=lambda kk: (kk[1], kk[0]))]
    table = pd.DataFrame(out, columns=_COLUMNS)
    table["exp_disagree"] = table["exp_disagree"].astype("boolean")
    table.attrs["excluded"] = pd.DataFrame(excluded, columns=["label", "time", "reason"])
    if excluded:
        warnings.warn(f"{len(excluded)} survival-rate rows left out of the table: " + "; ".join(
            f"{e['label']} ({e['reason']})" for e in excluded), DataWarning, stacklevel=2)
    return table.sort_values(["time", "group"], kind="stable").reset_index(drop=True)


_COLUMNS = ["time", "group", "k", "N", "estimate", "ci_low", "ci_high", "pi_low", "pi_high",
            "tau2", "i2", "median", "median_ci_low", "median_ci_high", "median_k",
            "median_route", "exp_rate", "exp_rate_low", "exp_rate_high", "exp_disagree"]


def _table_row(key, rows, fit, med, scale):
    t, group = key
    ci = sorted(inverse([fit["ci_low"], fit["ci_high"]], scale))
    pi = sorted(inverse([fit["pi_low"], fit["pi_high"]], scale))
    ns = np.array([r[4] for r in rows])
    total = float(np.nansum(ns)) if np.isfinite(ns).any() else math.nan
    row = [t, group, len(rows), total, float(inverse(fit["coef"], scale)),
           ci[0], ci[1], pi[0], pi[1], fit["tau2"], fit["i2"]]
    if med is None:
        return row + [math.nan] * 3 + [0, None] + [math.nan] * 3 + [pd.NA]
    e = float(exponential_rate(t, med.estimate))
    e_lo, e_hi = (float(x) for x in exponential_rate(t, [med.ci_low, med.ci_high]))
    return row + [med.estimate, med.ci_low, med.ci_high, med.k, med.extra["route"], e, e_lo,
                  e_hi, _disagree(e_lo, e_hi, ci[0], ci[1])]


def check_exponential_consistency(data, *, by="modality", time="timepoint_months",
                                  value="value", n="n_patients", outcome="outcome",
                                  rate_outcome="os_rate", median_outcome="median_os",
                                  labels="study_id", ci_low="ci_low", ci_high="ci_high",
                                  keys=("subgroup",), scale="cloglog",
                                  level=0.95) -> pd.DataFrame:
    """Study by study: does each reported S(t) agree with the study's own median under an
    exponential model, S(t) = 2^(−t/M)?

    Rates and medians are matched on ``labels``, ``by`` and the ``keys`` columns present in
    ``data`` (e.g. an arm in ``subgroup``). The rate's CI is the reported one or the binomial
    Wald CI on ``scale`` (as :func:`pool_survival_rates` shows it); the implied interval is
    [2^(−t/L), 2^(−t/U)] from the median's CI (upper end 1 when U is not reached), or the point
    2^(−t/M) when it has none; a median not reached gives [2^(−t/L), 1] (nothing without L).
    ``disagree`` is True when the two do not overlap (NA when a limit is missing, e.g. a rate
    without n or CI).

    Reference: the exponential approximation to survival curves (e.g. Collett 2015, Modelling
    Survival Data in Medical Research, ch. 5).

    Example
    -------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"study_id": ["A", "A"], "modality": ["RFA", "RFA"],
    ...     "outcome": ["os_rate", "median_os"], "timepoint_months": [12, None],
    ...     "value": [0.95, 12.0], "n_patients": [60, 60]})
    >>> check_exponential_consistency(df)[["exp_rate", "disagree"]].values.tolist()
    [[0.5, True]]
    """
    match = [c for c in (labels, *_by_columns(by), *keys) if c is not None and c in data.columns]
    if not match:
        raise ValueError("no columns to match rates with medians (give labels=)")
    rates = _rows(data, outcome, rate_outcome).copy()
    meds = _rows(data, outcome, median_outcome)
    meds = meds.copy()
    for frame in (rates, meds):
        for c in match:
            frame[c] = frame[c].astype(object).where(frame[c].notna(), _MISSING).astype(str)
    cols = [c for c in (value, ci_low, ci_high) if c in meds.columns]
    both = rates.merge(meds[match + cols], on=match, suffixes=("", "_median"))
    return pd.DataFrame([_study_check(r, match, value, n, time, ci_low, ci_high, scale, level)
                         for _, r in both.iterrows()])


def _study_check(r, match, value, n, time, ci_low, ci_high, scale, level):
    def num(col):
        return float(as_float([r[col]], col, ["?"])[0]) if col in r.index else math.nan

    s, nn, t = num(value), num(n), num(time)
    m, mlo, mhi = num(f"{value}_median"), num(f"{ci_low}_median"), num(f"{ci_high}_median")
    lo = hi = math.nan
    if np.isfinite(s) and (not np.isnan(nn) or ci_usable(s, num(ci_low), num(ci_high))):
        z = _zlevel(level)
        *_, (lo, hi) = _one_rate(str(r[match[0]]), s, nn, num(ci_low), num(ci_high), 0.95,
                                 scale, z)
    e, e_lo, e_hi = _implied(t, m, mlo, mhi)
    out = {c: r[c] for c in match}
    out.update(time=t, rate=s, rate_ci_low=lo, rate_ci_high=hi, median=m, exp_rate=e,
               exp_rate_low=e_lo, exp_rate_high=e_hi, disagree=_disagree(e_lo, e_hi, lo, hi))
    return out


def _implied(t, m, lo, hi):
    """S(t) implied by a median and its CI: (point, low, high). An upper limit not reached
    (inf, or missing while the lower limit is given) gives 1; a median not reached gives no
    point and the interval [2^(−t/L), 1] (nan without L); no CI gives the point only."""
    if not np.isfinite(m):
        return math.nan, float(exponential_rate(t, lo)) if np.isfinite(lo) else math.nan, 1.0
    e = float(exponential_rate(t, m))
    e_lo = float(exponential_rate(t, lo)) if np.isfinite(lo) else e
    e_hi = 1.0 if (np.isinf(hi) or np.isnan(hi) and np.isfinite(lo)) else (
        float(exponential_rate(t, hi)) if np.isfinite(hi) else e)
    return e, e_lo, e_hi


def _zlevel(level):
    from ..core.models import _zcrit

    return _zcrit(level)

"""Tidy tables of the report: pooled results per group, and the rows each analysis used.

Each table comes twice: a numeric frame (written as CSV, 6 significant digits) and a display frame
(written as Markdown: percentages, months, "estimate [CI]" in one cell).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..core.measures import scale_name

POOLED_COLUMNS = ["group", "k", "N", "k_with_n", "estimate", "ci_low", "ci_high", "pi_low",
                  "pi_high", "i2", "tau2", "q_between", "df_between", "p_between", "model"]
SOURCE_COLUMNS = ["group", "label", "study_id", "source", "ref_no", "pmid", "doi", "url", "line",
                  "modality", "site", "primary", "design", "subgroup", "timepoint_months"]
NA = "–"
#: the cells :func:`row_source` reads, and those of :func:`_person_time_cell`
SOURCE_CELLS = ("source", "ref_no", "pmid", "doi", "url")
PERSON_TIME = ("person_time_used", "person_time_unit_used", "person_time", "person_time_unit",
               "events_used")


def text(x, empty: str = "") -> str:
    """A cell of the study table as text: ``empty`` for a missing cell (never "None", "nan"
    or "<NA>").

    Example
    -------
    >>> text("liver"), text(None), text(float("nan"), "–")
    ('liver', '', '–')
    """
    if x is None or x is pd.NA or (not isinstance(x, str) and pd.isna(x)):
        return empty
    s = str(x).strip()
    return s if s else empty


def source_text(source, ref_no=None, pmid=None, doi=None, url=None) -> str:
    """Where a row's number comes from, as the table gives it: the ``source`` code with the
    reference number in it ("filippiadis2022 ref. 7"), then the publication's identifier
    (PMID, else DOI, else URL) when the table gives one; missing parts are left out.

    Example
    -------
    >>> source_text("filippiadis2022", 7), source_text("primary", None, pmid="30200791")
    ('filippiadis2022 ref. 7', 'primary, PMID 30200791')
    >>> source_text("ortiz_review2025", float("nan")), source_text(None, None)
    ('ortiz_review2025', '')
    """
    head = text(source)
    if finite(ref_no):
        head = f"{head} ref. {fmt_count(ref_no)}".strip()
    ident = (f"PMID {text(pmid)}" if text(pmid) else f"doi:{text(doi)}" if text(doi)
             else text(url))
    return ", ".join(x for x in (head, ident) if x)


def row_source(r) -> str:
    """:func:`source_text` of a row (a mapping with any of source, ref_no, pmid, doi, url)."""
    return source_text(r.get("source"), r.get("ref_no"), r.get("pmid"), r.get("doi"),
                       r.get("url"))


def plain_columns(df: pd.DataFrame) -> pd.DataFrame:
    """Categorical columns as text with missing cells kept missing (not "nan")."""
    for c in [c for c, dtype in df.dtypes.items() if isinstance(dtype, pd.CategoricalDtype)]:
        df[c] = df[c].astype(object).where(df[c].notna(), None)
    return df


def cells(df: pd.DataFrame, *cols: str):
    """The cells of the columns ``cols``, row by row, as ``df.itertuples()`` gives them,
    without iterating the other columns (pandas converts each extension-dtype column it
    iterates: the cost of a row loop is its number of columns)."""
    return zip(*(df[c] for c in cols))


def table_cells(df: pd.DataFrame):
    """Every row of ``df`` as a tuple of its cells, as ``df.itertuples(index=False)`` gives
    them (without building a named-tuple class per call)."""
    return zip(*(df.iloc[:, j] for j in range(df.shape[1])))


def records(df: pd.DataFrame, cols) -> list[dict]:
    """``df.to_dict("records")`` restricted to the columns of ``cols`` that ``df`` has (the
    same values; a missing column is a missing key, as ``.get`` reads it)."""
    return df[[c for c in cols if c in df.columns]].to_dict("records")


def finite(x) -> bool:
    """True for a finite number (not None, NA, nan or inf)."""
    try:
        return x is not None and not pd.isna(x) and math.isfinite(float(x))
    except (TypeError, ValueError):
        return False


def fmt_value(x, kind: str) -> str:
    """A proportion as percent with one decimal, months with one decimal, else 3 digits.

    Example
    -------
    >>> fmt_value(0.2549, "proportion"), fmt_value(29.94, "median"), fmt_value(None, "median")
    ('25.5%', '29.9', '–')
    """
    if not finite(x):
        return NA
    if kind == "proportion":
        return f"{100 * float(x):.1f}%"
    if kind == "median":
        return f"{float(x):.1f}"
    return f"{float(x):.3g}"


def fmt_interval(lo, hi, kind: str) -> str:
    if not (finite(lo) and finite(hi)):
        return NA
    return f"{fmt_value(lo, kind)} to {fmt_value(hi, kind)}"


def fmt_estci(est, lo, hi, kind: str) -> str:
    """"estimate [low to high]"; the estimate alone when the interval is missing or a point.

    Example
    -------
    >>> fmt_estci(0.25, 0.14, 0.39, "proportion"), fmt_estci(41.8, 41.8, 41.8, "median")
    ('25.0% [14.0% to 39.0%]', '41.8')
    """
    if not finite(est):
        return NA
    if finite(lo) and finite(hi) and float(lo) == float(hi) == float(est):
        return fmt_value(est, kind)  # a point, not an interval (one study, no CI)
    ci = fmt_interval(lo, hi, kind)
    return fmt_value(est, kind) + ("" if ci == NA else f" [{ci}]")


def fmt_p(p) -> str:
    if not finite(p):
        return NA
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def fmt_count(x) -> str:
    return str(int(x)) if finite(x) else NA


def model_name(res) -> str:
    """Plain-language model of a result: "logit, REML", "median of medians", …"""
    if res is None:
        return ""
    if res.method in ("MM", "WM"):
        return "median of medians" if res.method == "MM" else "weighted median of medians"
    scale = scale_name(res.measure, ascii=True)
    if getattr(res, "kind", None) == "rate":
        scale += " rate"
    return f"{scale}, {res.method}" + (", Knapp-Hartung" if res.test == "knha" else "")


def pooled_row(group: str, res, n: pd.Series) -> dict:
    """One row of a pooled-results table. Heterogeneity statistics are left empty where they
    do not exist (k = 1; medians pooled without variances) and the prediction interval for
    k < 3 (Riley et al. 2011: it needs at least three studies to mean anything)."""
    n = pd.to_numeric(n, errors="coerce").astype(float)
    row = dict.fromkeys(POOLED_COLUMNS, math.nan)
    row.update(group=group, k=0 if res is None else int(res.k), model=model_name(res),
               k_with_n=int(np.isfinite(n).sum()),
               N=float(n.sum()) if np.isfinite(n).any() else math.nan)
    if res is None:
        return row
    row.update(estimate=res.estimate, ci_low=res.ci_low, ci_high=res.ci_high)
    if res.method in ("MM", "WM") and res.k == 1:  # the "CI" of one bare median is the point
        row.update(ci_low=math.nan, ci_high=math.nan)
    if res.k >= 3:
        row.update(pi_low=res.pi_low, pi_high=res.pi_high)
    if res.k >= 2:
        row.update(i2=res.i2, tau2=res.tau2)
    return row


def between_test(row: dict, sub) -> dict:
    """Add the test for subgroup differences (separate τ² per group) to the overall row."""
    test = sub.test_separate
    if finite(test.q):
        row.update(q_between=test.q, df_between=test.df, p_between=test.pval)
    return row


def pooled_frame(rows: list[dict]) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=POOLED_COLUMNS)
    for c in ("k", "k_with_n"):
        df[c] = df[c].astype(int)
    df["df_between"] = df["df_between"].astype("Int64")
    return df


def pct(level: float) -> str:
    """A confidence level as a percentage ("95%")."""
    return f"{100 * float(level):g}%"


def pooled_display(df: pd.DataFrame, kind: str, level: float = 0.95) -> pd.DataFrame:
    """The Markdown version of a pooled-results table (intervals at ``level``)."""
    def n_cell(n, k_with_n, k):
        if not finite(n):
            return NA
        return fmt_count(n) + ("" if k_with_n == k else f" ({k_with_n} of {k})")

    out = pd.DataFrame({
        "Group": df["group"], "k": df["k"].astype(str),
        "N": [n_cell(*r) for r in cells(df, "N", "k_with_n", "k")],
        f"Estimate [{pct(level)} CI]": [fmt_estci(*r, kind)
                                        for r in cells(df, "estimate", "ci_low", "ci_high")],
        f"{pct(level)} PI": [fmt_interval(*r, kind) for r in cells(df, "pi_low", "pi_high")],
        "I²": [f"{x:.0f}%" if finite(x) else NA for x in df["i2"]],
        "τ²": [f"{x:.3g}" if finite(x) else NA for x in df["tau2"]],
        "p (subgroup differences)": [fmt_p(p) for p in df["p_between"]],
        "Model": df["model"],
    })
    return out


def sources_frame(rows: pd.DataFrame, group_col: str, extra: list[str],
                  order: list[str] | None = None) -> pd.DataFrame:
    """The rows an analysis used: label, review, reference number, study-table line, …
    (grouped in ``order``, study-table order within a group)."""
    df = rows.copy()
    df["group"] = df[group_col].astype(str)
    if order is not None:
        rank = {g: i for i, g in enumerate(order)}
        df = df.assign(_rank=[rank.get(g, len(rank)) for g in df["group"]])
        df = df.sort_values("_rank", kind="stable").drop(columns="_rank")
    cols = [c for c in SOURCE_COLUMNS + extra if c in df.columns]
    return plain_columns(df[cols].copy()).reset_index(drop=True)


def sources_display(src: pd.DataFrame, kind: str) -> pd.DataFrame:
    """Markdown version of a sources table."""
    out = pd.DataFrame({
        "Group": src["group"], "Study": src["label"],
        "Source": [row_source(r) for r in records(src, SOURCE_CELLS)],
        "Line": [fmt_count(x) for x in src["line"]],
        "Site": [text(x, NA) for x in src["site"]],
        "Primary": [text(x, NA) for x in src["primary"]],
        "Design": [text(x, NA) for x in src["design"]],
    })
    if "person_time_used" in src:
        out["Events / person-time"] = [_person_time_cell(r) for r in records(src, PERSON_TIME)]
        out["Rate per 100"] = [fmt_value(100 * float(e) / float(t), "rate") for e, t in
                               zip(src["events_used"], src["person_time_used"])]
    elif "events_used" in src:
        out["Events/total"] = [f"{fmt_count(e)}/{fmt_count(t)}"
                               for e, t in zip(src["events_used"], src["total_used"])]
        out["Counts"] = [text(x, NA) for x in src["count_source"]]
    if "value" in src:
        none = pd.Series([None] * len(src), index=src.index)
        lo, hi = src.get("ci_low", none), src.get("ci_high", none)
        outcome = src.get("outcome", none)
        out["Value [95% CI]"] = [_value_cell(v, a, b, kind, o)
                                 for v, a, b, o in zip(src["value"], lo, hi, outcome)]
    if "n_used" in src:
        out["n used"] = [fmt_count(x) for x in src["n_used"]]
    if "timepoint_months" in src and src["timepoint_months"].notna().any():
        out.insert(2, "Months", [fmt_count(t) for t in src["timepoint_months"]])
    if "outcome" in src:
        out.insert(2, "Outcome", [text(x, NA) for x in src["outcome"]])
    return out


def _person_time_cell(r) -> str:
    """"12 / 98.5 years"; a converted person-time as given, then as pooled."""
    used = f"{float(r['person_time_used']):.4g} {r['person_time_unit_used']}"
    given, unit = r.get("person_time"), r.get("person_time_unit")
    if finite(given) and text(unit) and text(unit) != str(r["person_time_unit_used"]):
        used = f"{float(given):.4g} {unit} ({used})"
    return f"{fmt_count(r['events_used'])} / {used}"


def _value_cell(v, lo, hi, kind, outcome) -> str:
    if kind == "survival_rate":
        kind = "median" if str(outcome).startswith("median") else "proportion"
    return fmt_estci(v, lo, hi, kind)


def source_list(src: pd.DataFrame) -> list[str]:
    """One line per used row: "Meloni 2009 — filippiadis2022 ref. 7, line 2" (with the outcome
    and time point when the analysis uses several; the source as the table gives it, a
    missing part left out)."""
    out = []
    for r in records(src, ("outcome", "timepoint_months", "label", "line") + SOURCE_CELLS):
        what = [text(r["outcome"])] if "outcome" in r else []
        t = r.get("timepoint_months")
        what += [f"{t:g} months"] if finite(t) else []
        detail = f" ({', '.join(w for w in what if w)})" if any(what) else ""
        where = ", ".join(x for x in (row_source(r), f"line {fmt_count(r['line'])}") if x)
        out.append(f"{r['label']}{detail} — {where}")
    return out

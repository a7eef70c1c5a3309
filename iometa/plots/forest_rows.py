"""Rows and columns of a forest plot, read from a MetaResult or a subgroup result.

Nothing is computed here: every number comes from the result objects (studies table, pooled
estimate and intervals, heterogeneity statistics, subgroup test). Values are converted to the
display scale (percent, months, ratio) by the :class:`~iometa.plots.axis.EffectScale`.
"""

from __future__ import annotations

import math

import numpy as np

from . import style
from .layout import Column, Row
from .text import MISSING, est_ci_strings, fmt_num, heterogeneity_text, subgroup_test_text


def is_subgroup(obj) -> bool:
    """Duck-typing test for a subgroup result (``groups``, ``overall``, ``q_between``...)."""
    return all(hasattr(obj, a) for a in ("groups", "overall", "q_between", "q_between_df",
                                         "q_between_pval"))


def pretty_header(name: str) -> str:
    """"lesion_size_cm" -> "Lesion size (cm)"; "design" -> "Design"."""
    units = {"cm": "cm", "mm": "mm", "months": "months", "pct": "%", "years": "years"}
    parts = str(name).split("_")
    unit = units.get(parts[-1]) if len(parts) > 1 else None
    words = " ".join(parts[:-1] if unit else parts)
    words = words[:1].upper() + words[1:]
    return f"{words} ({unit})" if unit else words


def _cell(v) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    if isinstance(v, (float, np.floating)):
        return fmt_num(v, 0) if float(v).is_integer() else f"{float(v):.3g}".replace("-", "−")
    return str(v).replace("_", " ")


def _count(v) -> str:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return MISSING
    return MISSING if not math.isfinite(f) else f"{int(round(f))}"


def extra_columns(columns) -> dict:
    """``columns`` (list of names, or dict name -> header) as an ordered dict."""
    if columns is None:
        return {}
    if isinstance(columns, dict):
        return {str(k): str(v) for k, v in columns.items()}
    if isinstance(columns, str):
        columns = [columns]
    return {str(c): pretty_header(c) for c in columns}


def counts_kind(res) -> str | None:
    """"events" (events and total), "n" (sample size) or None: the count columns shown."""
    st = res.studies
    if "events" in st and "n" in st:
        return "events"
    return "n" if "n" in st else None


def build_columns(kind, extras: dict, weights, est_header: str, label: str):
    """Column variants in order of preference, and fallbacks for narrow figures.

    Variants: all columns; events and total merged into "events/total". Fallbacks (only if
    ``weights="auto"``): the same without the weight column (the squares still show weights).
    """
    left = [Column("label", label, "left", "left", wrap=True)]
    left += [Column(f"x:{k}", h, "left", "left", wrap=True) for k, h in extras.items()]
    est = [Column("estci", est_header, "right", "right")]
    wcol = [Column("weight", "Weight\n(%)", "right", "right")] if weights else []
    if kind == "events":
        counts = [[Column("events", "Events", "right"), Column("total", "Total", "right")],
                  [Column("evtot", "Events/\ntotal", "right")]]
    elif kind == "n":
        counts = [[Column("n", "n", "right")]]
    else:
        counts = [[]]
    variants = [left + c + est + wcol for c in counts]
    fallbacks = [left + c + est for c in counts] if weights == "auto" else []
    return variants, fallbacks


def study_rows(res, scale, extras: dict, weights=None, color=style.STUDY) -> list[Row]:
    """One row per study: label, extra columns, counts, weight, square and CI."""
    st = res.studies
    est, lo, hi = (scale(st[c].to_numpy(float)) for c in ("estimate", "ci_low", "ci_high"))
    w = st["weight"].to_numpy(float) if weights is None else np.asarray(weights, float)
    data = getattr(res, "data", None)
    rows = []
    for i in range(len(st)):
        cells = {"label": str(st["label"].iloc[i]), "weight": fmt_num(w[i], 1, "–")}
        for key in extras:
            val = data[key].iloc[i] if data is not None and key in data else (
                st[key].iloc[i] if key in st else None)
            cells[f"x:{key}"] = _cell(val)
        if "events" in st:
            cells["events"] = _count(st["events"].iloc[i])
        if "n" in st:
            cells["total"] = cells["n"] = _count(st["n"].iloc[i])
            cells["evtot"] = f"{cells.get('events', MISSING)}/{cells['n']}"
        rows.append(Row("study", cells, mark=dict(shape="square", est=est[i], lo=lo[i],
                                                  hi=hi[i], size=w[i], color=color),
                        values=(est[i], lo[i], hi[i])))
    return rows


def summary_rows(res, scale, label, *, common=None, pi="row", weight=100.0,
                 het="full", het_prefix="Heterogeneity: ") -> list[Row]:
    """Diamond row(s) (common effect first if given), prediction interval and heterogeneity."""
    rows = []
    cells = _summary_counts(res)
    for r, lab, color, fill in ((common, None, style.COMMON, style.COMMON),
                                (res, label, style.SUMMARY, style.SUMMARY)):
        if r is None:
            continue
        lab = lab or label.replace("Random-effects", "Common-effect").replace(
            "random effects", "common effect").replace("Random effects", "Common effect")
        est, lo, hi = scale([r.estimate, r.ci_low, r.ci_high])
        if r.method in ("MM", "WM") and r.k == 1:  # the "range" of one bare median: no CI
            lo = hi = np.nan
        rows.append(Row("summary", {"label": lab, "weight": fmt_num(weight, 1, ""), **cells},
                        bold=True, mark=dict(shape="diamond", est=est, lo=lo, hi=hi,
                                             color=color, fill=fill),
                        values=(est, lo, hi)))
    plo, phi = scale([res.pi_low, res.pi_high])
    if pi and not getattr(res, "common_effect", getattr(res, "common_effect", res.method == "FE")) and res.k >= 3 and np.isfinite([plo, phi]).all():
        if pi == "line":
            rows[-1].mark.update(pi=(plo, phi))  # type: ignore[union-attr]
        else:
            rows.append(Row("pi", {"label": "Prediction interval"}, italic=False,
                            mark=dict(shape="bar", lo=plo, hi=phi, color=style.ACCENT),
                            values=(None, plo, phi)))
    if het:
        rows.append(Row("text", span=heterogeneity_text(res, het, het_prefix)))
    return rows


def _total(values) -> str:
    """Sum of counts: "NR" if none is known, "≥ sum" if some are missing."""
    v = np.asarray(values, float)
    known = np.isfinite(v)
    if not known.any():
        return MISSING
    total = _count(v[known].sum())
    return total if known.all() else f"≥{total}"


def _summary_counts(res) -> dict:
    st = res.studies
    out = {}
    if "events" in st:
        out["events"] = _total(st["events"].to_numpy(float))
    if "n" in st:
        out["total"] = out["n"] = _total(st["n"].to_numpy(float))
        out["evtot"] = f"{out.get('events', MISSING)}/{out['n']}"
    return out


def format_estci(rows: list[Row], digits: int) -> None:
    """Fill the ``estci`` cell of every row with decimal-aligned "est [lo, hi]" text."""
    idx = [i for i, r in enumerate(rows) if r.values is not None]
    texts = est_ci_strings([rows[i].values for i in idx], digits)
    for i, t in zip(idx, texts, strict=True):
        rows[i].cells["estci"] = t


def _keys(res) -> list[tuple]:
    st = res.studies
    return list(zip(st["label"].astype(str), (f"{v:.10g}" for v in st["yi"].to_numpy(float)),
                    (f"{v:.10g}" for v in st["vi"].to_numpy(float)), strict=True))


def overall_weights(sub) -> dict | None:
    """Study weights (%) of the overall model keyed by (label, yi, vi), if these identify the
    studies of the groups one to one (else None: within-group weights are shown)."""
    ov = sub.overall
    if ov is None:
        return None
    keys = _keys(ov)
    group_keys = [k for g in sub.groups.values() for k in _keys(g)]
    if len(set(keys)) != len(keys) or sorted(keys) != sorted(group_keys):
        return None
    return dict(zip(keys, ov.studies["weight"].to_numpy(float), strict=True))


def sort_rows(rows: list[Row], sort) -> list[Row]:
    """Study rows ordered by ``sort``: "estimate" (ascending; rows without one last),
    "weight" (largest first), "label", or None (study order). The sort is stable."""
    if not sort:
        return rows

    def estimate(r):
        v = r.values[0]
        return (0, v) if v is not None and np.isfinite(v) else (1, 0.0)

    key = {"estimate": estimate, "weight": lambda r: -np.nan_to_num(r.mark["size"]),
           "label": lambda r: r.cells["label"]}[sort]
    return sorted(rows, key=key)


def group_name(name) -> str:
    """A group's display name: the first letter capitalised ("cryoablation" ->
    "Cryoablation"), the rest as given (codes such as "RFA", "cTACE" keep their case)."""
    s = str(name).replace("_", " ")
    return s[:1].upper() + s[1:]


def subgroup_rows(sub, scale, extras, *, common, pi, het, overall=True,
                  sort=None) -> list[Row]:
    """Header, studies (ordered by ``sort`` within the group), subtotal and heterogeneity
    per group; overall; subgroup test."""
    ow = overall_weights(sub)
    rows: list[Row] = []
    for name, g in sub.groups.items():
        w = None if ow is None else [ow[k] for k in _keys(g)]
        gw = 100.0 if w is None else float(np.sum(w))
        rows.append(Row("header", span=group_name(name), bold=True))
        rows += sort_rows(study_rows(g, scale, extras, weights=w), sort)
        rows += summary_rows(g, scale, "Subtotal" if not common else "Random effects",
                             common=_common(g) if common else None, pi=pi if pi == "line"
                             else None, weight=gw, het="short" if het else None)
        rows.append(Row("spacer", height=0.5))
    if overall and sub.overall is not None:
        ov = sub.overall
        label = "Overall" if not common else (
            "Overall, random effects" if not getattr(ov, "common_effect", ov.method == "FE") else "Overall, common effect")
        rows += summary_rows(ov, scale, label,
                             common=_common(ov) if common else None, pi=pi,
                             weight=100.0 if ow is not None else math.nan,
                             het="full" if het else None)
    rows.append(Row("text", span=subgroup_test_text(sub)))
    return rows


def _common(res):
    """The common-effect fit of the same studies (``res.refit(method="FE")``)."""
    if getattr(res, "common_effect", res.method == "FE"):
        return None
    return res.refit(method="FE")


def row_extent(rows):
    """The values the axis must show (estimates, summary limits, prediction intervals) and
    the study CIs it may cut (arrows): ``(core, spread)``."""
    core, spread = [], []
    for r in rows:
        m = r.mark or {}
        if r.kind == "study":
            core.append(m.get("est", np.nan))
            spread += [m.get("lo", np.nan), m.get("hi", np.nan)]
        elif m:
            core += [m.get("est", np.nan), m.get("lo", np.nan), m.get("hi", np.nan)]
            core += list(m.get("pi", ()))
    return core, spread

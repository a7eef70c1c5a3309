"""Journal presets of the forest plot: ``layout="RevMan5"`` and ``layout="JAMA"``.

The same engine as the default forest (:mod:`.layout` solves the columns, :mod:`.forest_draw`
draws them); only the rows, columns and wording differ, after R meta's
``settings.meta("RevMan5")`` and ``settings.meta("JAMA")``:

``RevMan5``
    Cochrane's Review Manager 5: per arm Events and Total (Mean, SD and Total for continuous
    data), Weight (%), the effect with its CI in square brackets under a header naming the
    measure, the method (M-H, IV, Peto) and the model (Fixed, Random); "Total (95% CI)" and
    "Total events" rows; "Heterogeneity: Tau²; Chi², df (P); I²" and "Test for overall
    effect: Z (P)" lines; subgroup subtotals and "Test for subgroup differences".
``JAMA``
    JAMA's figure style: per arm events/total, the effect with its CI in parentheses, no
    weight column (the squares still show the weights), P values without the leading zero,
    "Favors" labels.

Nothing is computed here: every number comes from the result (studies table, pooled estimate,
Q, I², τ², the test of the overall effect, the subgroup test); counts are summed for the
total rows, as RevMan prints them.
"""

from __future__ import annotations

import math

import numpy as np

from . import style
from .axis import effect_scale
from .forest_draw import Options, render
from .forest_rows import _keys, is_subgroup, overall_weights, row_extent
from .layout import Column, Row
from .text import MINUS, fmt_num, pad_left

LAYOUTS = ("RevMan5", "JAMA")

#: measure code -> name in the header (RevMan's capitalisation; JAMA's is sentence case)
_NAMES = {"OR": "Odds Ratio", "PETO": "Odds Ratio", "RR": "Risk Ratio",
          "RD": "Risk Difference", "MD": "Mean Difference", "SMD": "Std. Mean Difference",
          "ROM": "Ratio of Means", "HR": "Hazard Ratio", "IRR": "Rate Ratio"}
_CONTINUOUS = ("mean", "sd", "n")


def check_layout(layout) -> str:
    """The canonical name of ``layout`` (case-insensitive); ValueError otherwise."""
    for name in LAYOUTS:
        if isinstance(layout, str) and layout.casefold() == name.casefold():
            return name
    raise ValueError(f"layout={layout!r}: expected None (the default forest), "
                     f"{' or '.join(repr(n) for n in LAYOUTS)}")


def method_header(res, layout: str, fallback: str | None = None) -> str:
    """"Risk Ratio\\nM-H, Fixed, 95% CI" (RevMan5) or "Risk ratio (95% CI)" (JAMA);
    ``fallback`` names a measure RevMan has no name for (e.g. "Proportion (%)")."""
    name = _NAMES.get(str(res.measure).upper(), fallback or str(res.measure))
    lvl = f"{round(100 * res.level):g}% CI"
    if layout == "JAMA":
        return f"{name[:1]}{name[1:].lower()}\n({lvl})"
    method = {"MH": "M-H", "Peto": "Peto"}.get(res.method, "IV")
    model = "Fixed" if getattr(res, "common_effect", res.method == "FE") else "Random"
    return f"{name}\n{method}, {model}, {lvl}"


# --------------------------------------------------------------------------------------------
# text of the statistics lines
# --------------------------------------------------------------------------------------------


def fmt_pvalue(p, layout: str) -> str:
    """"P = 0.03", "P < 0.00001" (RevMan5); "P = .03", "P < .001" (JAMA)."""
    if p is None or not math.isfinite(float(p)):
        return "P = NR"
    p = float(p)
    if layout == "JAMA":
        if p < 0.001:
            return "P < .001"
        if p > 0.99:
            return "P > .99"
        s = f"{p:.3f}" if p < 0.01 else f"{p:.2f}"
        return f"P = {s[1:]}"
    if p < 0.00001:
        return "P < 0.00001"
    if p < 0.001:
        return f"P = {p:.5f}".rstrip("0")
    return f"P = {p:.3f}" if p < 0.01 else f"P = {p:.2f}"


def _stat(x, digits=2) -> str:
    return fmt_num(x, digits)


def _tau2(x) -> str:
    x = float(x)
    return "0.00" if x == 0 else (fmt_num(x, 2) if x >= 0.005 else f"{x:.2g}".replace("-", MINUS))


def heterogeneity_line(res, layout: str) -> str:
    """RevMan5: "Heterogeneity: Tau² = 0.45; Chi² = 10.50, df = 4 (P = 0.03); I² = 62%"."""
    if res.k < 2 or not np.isfinite(res.q):
        return "Heterogeneity: Not applicable"
    common = getattr(res, "common_effect", res.method == "FE")
    i2 = f"I² = {fmt_num(res.i2, 0)}%"
    if layout == "JAMA":
        parts = [] if common else [f"τ² = {_tau2(res.tau2)}"]
        parts.append(f"χ²{_sub(res.q_df)} = {_stat(res.q)} ({fmt_pvalue(res.q_pval, layout)})")
        return "Heterogeneity: " + "; ".join(parts) + f"; {i2}"
    parts = [] if common else [f"Tau² = {_tau2(res.tau2)}"]
    parts.append(f"Chi² = {_stat(res.q)}, df = {res.q_df} ({fmt_pvalue(res.q_pval, layout)})")
    return "Heterogeneity: " + "; ".join(parts) + f"; {i2}"


def _sub(n) -> str:
    return str(int(n)).translate(str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉"))


def overall_line(res, layout: str) -> str:
    """"Test for overall effect: Z = 3.12 (P = 0.002)" (t and its df under Knapp–Hartung)."""
    stat = _stat(abs(float(res.stat)))
    if res.test == "z":
        body = f"{'z' if layout == 'JAMA' else 'Z'} = {stat}"
    elif layout == "JAMA":
        body = f"t{_sub(res.df)} = {stat}"
    else:
        body = f"t = {stat}, df = {fmt_num(res.df, 0)}"
    return f"Test for overall effect: {body} ({fmt_pvalue(res.pval, layout)})"


def subgroup_line(sub, layout: str) -> str:
    """"Test for subgroup differences: Chi² = 0.32, df = 1 (P = 0.57)"."""
    q = float(sub.q_between)
    if not math.isfinite(q):
        return "Test for subgroup differences: Not applicable"
    p = fmt_pvalue(sub.q_between_pval, layout)
    if layout == "JAMA":
        return f"Test for subgroup differences: χ²{_sub(sub.q_between_df)} = {_stat(q)} ({p})"
    return f"Test for subgroup differences: Chi² = {_stat(q)}, df = {int(sub.q_between_df)} ({p})"


def estci_strings(triples, digits: int, layout: str) -> list[str]:
    """"0.19 [0.01, 3.67]" (RevMan5) or "0.19 (0.01-3.67)" (JAMA; "to" for negative limits),
    padded with figure spaces so the numbers align when right-aligned."""
    ests = pad_left([fmt_num(t[0], digits) for t in triples])
    los = pad_left([fmt_num(t[1], digits) for t in triples])
    his = pad_left([fmt_num(t[2], digits) for t in triples])
    if layout == "JAMA":
        neg = any(np.isfinite(t[1]) and t[1] < 0 or np.isfinite(t[2]) and t[2] < 0
                  for t in triples)
        sep = " to " if neg else "-"
        return [f"{e} ({lo}{sep}{hi})" for e, lo, hi in zip(ests, los, his, strict=True)]
    return [f"{e} [{lo}, {hi}]" for e, lo, hi in zip(ests, los, his, strict=True)]


# --------------------------------------------------------------------------------------------
# rows and columns
# --------------------------------------------------------------------------------------------


def _arm_data(res):
    """"events" (events_1/total_1... in res.studies), "continuous" (mean_k, sd_k, n_k in
    res.data, one row per study) or None."""
    st = res.studies
    if all(f"{c}_{k}" in st for c in ("events", "total") for k in (1, 2)):
        return "events"
    data = getattr(res, "data", None)
    if data is not None and len(data) == len(st) and all(
            f"{c}_{k}" in data for c in _CONTINUOUS for k in (1, 2)):
        return "continuous"
    return None


def _int(v) -> str:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return "NR"
    return "NR" if not math.isfinite(f) else f"{int(round(f))}"


def _arm_cells(res, i, kind, digits) -> dict:
    if kind == "events":
        st = res.studies
        out = {}
        for k in (1, 2):
            e, n = _int(st[f"events_{k}"].iloc[i]), _int(st[f"total_{k}"].iloc[i])
            out.update({f"events_{k}": e, f"total_{k}": n, f"evtot_{k}": f"{e}/{n}"})
        return out
    if kind == "continuous":
        d = res.data
        out = {}
        for k in (1, 2):
            out[f"mean_{k}"] = fmt_num(d[f"mean_{k}"].iloc[i], digits)
            out[f"sd_{k}"] = fmt_num(d[f"sd_{k}"].iloc[i], digits)
            out[f"total_{k}"] = _int(d[f"n_{k}"].iloc[i])
        return out
    return {}


def _sum(values) -> str:
    v = np.asarray(values, float)
    if not np.isfinite(v).any():
        return "NR"
    s = _int(v[np.isfinite(v)].sum())
    return s if np.isfinite(v).all() else f"≥{s}"


def _totals(res, kind) -> tuple[dict, dict]:
    """Cells of the "Total (95% CI)" row (arm sizes) and of the "Total events" row."""
    if kind == "events":
        st = res.studies
        n = {f"total_{k}": _sum(st[f"total_{k}"].to_numpy(float)) for k in (1, 2)}
        e = {f"events_{k}": _sum(st[f"events_{k}"].to_numpy(float)) for k in (1, 2)}
        n.update({f"evtot_{k}": f"{e[f'events_{k}']}/{n[f'total_{k}']}" for k in (1, 2)})
        return n, e
    if kind == "continuous":
        return {f"total_{k}": _sum(res.data[f"n_{k}"].to_numpy(float)) for k in (1, 2)}, {}
    return {}, {}


def _pct(w) -> str:
    return fmt_num(w, 1, "") + "%" if np.isfinite(w) else ""


def _study_rows(res, scale, kind, weights, digits, sort, layout):
    st = res.studies
    est, lo, hi = (scale(st[c].to_numpy(float)) for c in ("estimate", "ci_low", "ci_high"))
    w = st["weight"].to_numpy(float) if weights is None else np.asarray(weights, float)
    rows = []
    for i in range(len(st)):
        cells = {"label": str(st["label"].iloc[i]), "weight": _pct(w[i]),
                 **_arm_cells(res, i, kind, digits)}
        rows.append(Row("study", cells, mark=dict(shape="square", est=est[i], lo=lo[i],
                                                  hi=hi[i], size=w[i], color=style.STUDY),
                        values=(est[i], lo[i], hi[i])))
    if sort:
        key = {"estimate": lambda r: r.values[0], "weight": lambda r: -r.mark["size"],
               "label": lambda r: r.cells["label"]}[sort]
        rows = sorted(rows, key=key)
    return rows


def _summary(res, scale, kind, label, weight, layout, het=True, test=True):
    est, lo, hi = scale([res.estimate, res.ci_low, res.ci_high])
    n, e = _totals(res, kind)
    rows = [Row("summary", {"label": label, "weight": _pct(weight), **n}, bold=True,
                mark=dict(shape="diamond", est=est, lo=lo, hi=hi, color=style.SUMMARY,
                          fill=style.SUMMARY), values=(est, lo, hi))]
    if e and layout == "RevMan5":
        rows.append(Row("summary", {"label": "Total events", **e}))
    if het:
        rows.append(Row("text", span=heterogeneity_line(res, layout)))
    if test:
        rows.append(Row("text", span=overall_line(res, layout)))
    return rows


def _columns(kind, arms, layout, label_header, est_header):
    a1, a2 = arms
    left = [Column("label", label_header, "left", "left", wrap=True)]
    est = [Column("estci", est_header, "right", "left")]
    if layout == "JAMA":
        counts = [Column(f"evtot_{k}", f"{a}\nevents/total", "right") for k, a in
                  ((1, a1), (2, a2))] if kind == "events" else (
            [Column(f"total_{k}", f"{a}\nNo.", "right") for k, a in ((1, a1), (2, a2))]
            if kind == "continuous" else [])
        return [left + counts + est], ([left + est] if counts else [])
    weight = [Column("weight", "\nWeight", "right", "left")]
    if kind == "events":
        full = [Column("events_1", f"{a1}\nEvents", "right"), Column("total_1", "\nTotal"),
                Column("events_2", f"{a2}\nEvents", "right"), Column("total_2", "\nTotal")]
        merged = [Column("evtot_1", f"{a1}\nEvents/Total"),
                  Column("evtot_2", f"{a2}\nEvents/Total")]
        variants = [left + full + weight + est, left + merged + weight + est]
    elif kind == "continuous":
        full = [Column(f"{c}_{k}", (f"{a}\n" if c == "mean" else "\n") + h, "right")
                for k, a in ((1, a1), (2, a2))
                for c, h in (("mean", "Mean"), ("sd", "SD"), ("total", "Total"))]
        variants = [left + full + weight + est]
    else:
        variants = [left + weight + est]
    # a narrow figure: the per-arm columns give way first (the squares still show weights)
    return variants, ([left + weight + est] if kind else [])


def _data_arms(res):
    """(arm_1, arm_2) of the rows of :func:`iometa.comparison_rows` in ``res.data``, if one
    pair of arms is compared throughout."""
    data = getattr(res, "data", None)
    if data is None or not {"arm_1", "arm_2"} <= set(data.columns):
        return None
    a1, a2 = data["arm_1"].dropna().unique(), data["arm_2"].dropna().unique()
    return (str(a1[0]), str(a2[0])) if len(a1) == 1 and len(a2) == 1 else None


def _favour_labels(res, favours, layout):
    """(arm names for the column headers, "Favours ..." labels left and right of the line).

    The arms are those of ``res.data`` (group 1, group 2), else the names in ``favours``,
    else "Experimental" and "Control"; the labels are ``favours`` (left, right: give them in
    the other order for an outcome where more events are better), else the arms."""
    word = "Favors" if layout == "JAMA" else "Favours"
    if favours is not None and (isinstance(favours, str) or len(favours) != 2):
        raise ValueError("favours= takes two labels (left and right of the line of no "
                         "effect), e.g. ('MWA', 'RFA')")
    names = tuple(str(f) for f in favours) if favours is not None else None

    def bare(n):
        return n.split(" ", 1)[1] if n.casefold().startswith(("favours ", "favors ")) else n

    arms = _data_arms(res) or (tuple(bare(n) for n in names) if names else None) or (
        "Experimental", "Control")
    shown = names or arms
    labels = tuple(n if bare(n) != n else f"{word} {n}" for n in shown)
    return arms, labels


#: half-widths of the symmetric log axis (ratio ref × f^±1) and their ticks (as multiples)
_LOG_AXES = ((2.0, (0.5, 0.7, 1.0, 1.5, 2.0)), (5.0, (0.2, 0.5, 1.0, 2.0, 5.0)),
             (10.0, (0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)),
             (100.0, (0.01, 0.1, 1.0, 10.0, 100.0)),
             (1000.0, (0.01, 0.1, 1.0, 10.0, 100.0)))


def symmetric_axis(core, spread, kind, ref):
    """Axis limits and ticks symmetric about the line of no effect, as RevMan draws them (so
    the two "Favours" labels get the same room): on the log scale ref/f to ref·f with f = 2,
    5, 10, 100 or 1000, wide enough for the estimates and pooled intervals (study intervals up
    to 100-fold; wider ones end in arrows); on a linear scale ±(1, 2 or 5 × 10^k)."""
    core = np.asarray([c for c in core if np.isfinite(c)], float)
    spread = np.asarray([c for c in spread if np.isfinite(c)], float)
    if kind == "log":
        core, spread = core[core > 0], spread[spread > 0]
        need = max(np.abs(np.log10(core / ref)).max(initial=0.0),
                   min(np.abs(np.log10(spread / ref)).max(initial=0.0), 2.0))
        f, t = next(((f, t) for f, t in _LOG_AXES if math.log10(f) >= need - 1e-9),
                    _LOG_AXES[-1])
        return (ref / f, ref * f), tuple(ref * x for x in t)
    need = max(np.abs(core - ref).max(initial=0.0), np.abs(spread - ref).max(initial=0.0))
    if need <= 0:
        need = 1.0
    mag = 10.0 ** math.floor(math.log10(need))
    b = next(m * mag for m in (1.0, 2.0, 5.0, 10.0) if m * mag >= need - 1e-12)
    return (ref - b, ref + b), (ref - b, ref - b / 2, ref, ref + b / 2, ref + b)


def layout_forest(result, layout, *, ax=None, width="double", fontsize=None, favours=None,
                  sort=None, digits=None, xlim=None, ticks=None, refline=None,
                  pooled_line=False, xlabel=None, label_header="Study",
                  estimate_header=None, heterogeneity=True, overall=True, footnote=None,
                  transf=None):
    """The forest of ``result`` in a journal ``layout`` (see :func:`iometa.forest_plot`)."""
    layout = check_layout(layout)
    sub = is_subgroup(result)
    first = next(iter(result.groups.values())) if sub else result
    if first is None:
        raise ValueError("the subgroup result has no groups to plot")
    name = _NAMES.get(str(first.measure).upper())
    scale = effect_scale(first, transf, digits if digits is not None else 2,
                         xlabel if xlabel is not None or name is None else
                         name[:1] + name[1:].lower())
    kind = _arm_data(first)
    arms, fav = _favour_labels(first, favours, layout)
    header = estimate_header or method_header(first, layout, scale.xlabel)
    if label_header == "Study":
        label_header = "Study or Subgroup" if layout == "RevMan5" else "Source"
    rows: list[Row] = []
    total = "Total" if layout == "RevMan5" else "Overall"
    lvl = f"({round(100 * first.level):g}% CI)"
    if sub:
        ow = overall_weights(result)
        for n, (name, g) in enumerate(result.groups.items(), start=1):
            w = None if ow is None else [ow[k] for k in _keys(g)]
            gw = 100.0 if w is None else float(np.sum(w))
            title = f"1.1.{n} {name}" if layout == "RevMan5" else str(name)
            rows.append(Row("header", span=title, bold=True))
            rows += _study_rows(g, scale, kind, w, scale.digits, sort, layout)
            rows += _summary(g, scale, kind, f"Subtotal {lvl}", gw, layout,
                             het=heterogeneity, test=True)
            rows.append(Row("spacer", height=0.5))
        if overall and result.overall is not None:
            rows += _summary(result.overall, scale, kind, f"{total} {lvl}",
                             100.0 if ow is not None else math.nan, layout, het=heterogeneity)
        rows.append(Row("text", span=subgroup_line(result, layout)))
    else:
        rows = _study_rows(result, scale, kind, None, scale.digits, sort, layout)
        rows.append(Row("spacer", height=0.4))
        rows += _summary(result, scale, kind, f"{total} {lvl}", 100.0, layout,
                         het=heterogeneity, test=overall)
    idx = [i for i, r in enumerate(rows) if r.values is not None]
    for i, s in zip(idx, estci_strings([rows[i].values for i in idx], scale.digits, layout),
                    strict=True):
        rows[i].cells["estci"] = s
    variants, fallbacks = _columns(kind, arms, layout, label_header, header)
    ref = refline
    if ref is None:
        ref = 1.0 if scale.kind == "log" else 0.0
    core, spread = row_extent(rows)
    core = [ref, *core]
    if xlim is None and ticks is None:
        xlim, ticks = symmetric_axis(core, spread, scale.kind, ref)
    if fontsize is None and ax is None and layout == "RevMan5":
        fontsize = 7.0  # RevMan's many columns: 7 pt keeps the labels on one line
    opts = Options(width=width, fontsize=fontsize, xlim=xlim, ticks=ticks, refline=ref,
                   pooled_line=pooled_line, xlabel=xlabel, favours=fav,
                   footnote=footnote or None, plot_header=header)
    return render(rows, variants, fallbacks, scale, opts, ax=ax, core=core, spread=spread)


__all__ = ["LAYOUTS", "check_layout", "layout_forest", "method_header"]

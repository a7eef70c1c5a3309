"""Number and statistics text for figures (journal style; no statistics are computed here).

Numbers use the Unicode minus and are padded with figure spaces (U+2007, as wide as a digit)
so that right-aligned columns line up on the decimal point in DejaVu Sans.

Example
-------
>>> from iometa.plots.text import fmt_p, fmt_sig
>>> fmt_p(0.0312), fmt_p(0.00002), fmt_sig(0.2134)
('p = 0.03', 'p < 0.001', '0.21')
"""

from __future__ import annotations

import math

FIGURE_SPACE = "\u2007"
MINUS = "\u2212"
MISSING = "NR"  # "not reported": a study without a confidence interval


def _finite(x) -> bool:
    try:
        return x is not None and math.isfinite(float(x))
    except (TypeError, ValueError):
        return False


def fmt_num(x, digits: int = 2, missing: str = MISSING) -> str:
    """``x`` with ``digits`` decimals and a Unicode minus; ``missing`` for nan/None."""
    if not _finite(x):
        if x is not None and isinstance(x, float) and math.isinf(x):
            return "∞" if x > 0 else f"{MINUS}∞"
        return missing
    s = f"{float(x):.{digits}f}"
    if s.lstrip("-").strip("0.") == "":
        s = s.lstrip("-")  # no "−0.0"
    return s.replace("-", MINUS)


def fmt_sig(x, sig: int = 2) -> str:
    """``x`` to ``sig`` significant digits without exponent (0.21, 0.0034, 12, 1500)."""
    if not _finite(x):
        return MISSING
    x = float(x)
    if x == 0:
        return "0"
    if 0 < abs(x) < 1e-4:
        return "<0.0001" if x > 0 else f">{MINUS}0.0001"
    mag = math.floor(math.log10(abs(x)))
    digits = max(0, sig - 1 - mag)
    return fmt_num(round(x, digits), digits)


def fmt_p(p, prefix: str = "p ") -> str:
    """A p-value in journal style: 2 decimals, 3 below 0.01, "< 0.001", "> 0.99"."""
    if not _finite(p):
        return f"{prefix}= {MISSING}"
    p = float(p)
    if p < 0.001:
        return f"{prefix}< 0.001"
    if p > 0.99:
        return f"{prefix}> 0.99"
    return f"{prefix}= {p:.3f}" if p < 0.01 else f"{prefix}= {p:.2f}"


def pad_left(strings: list[str]) -> list[str]:
    """Left-pad with figure spaces to a common length (decimal alignment when right-aligned)."""
    width = max((len(s) for s in strings), default=0)
    return [FIGURE_SPACE * (width - len(s)) + s for s in strings]


def est_ci_strings(triples, digits: int = 1) -> list[str]:
    """``"est [lo, hi]"`` for each (est, lo, hi); est None gives the CI alone (prediction
    intervals); padded so that the estimates, lower and upper limits align when right-aligned.
    A missing CI is written "[NR]", padded on the right so the estimate stays aligned.
    """
    ests = pad_left([fmt_num(t[0], digits) for t in triples if t[0] is not None])
    los = pad_left([fmt_num(t[1], digits) for t in triples])
    his = pad_left([fmt_num(t[2], digits) for t in triples])
    out, j = [], 0
    for i, t in enumerate(triples):
        width = len(los[i]) + len(his[i]) + 4
        ci = (f"[{los[i]}, {his[i]}]" if _finite(t[1]) or _finite(t[2])
              else f"[{MISSING}]".ljust(width, FIGURE_SPACE))
        if t[0] is None:
            out.append(ci)
        else:
            out.append(f"{ests[j]} {ci}")
            j += 1
    return out


def heterogeneity_text(res, detail: str = "full", prefix: str = "Heterogeneity: ") -> str:
    """The heterogeneity line of a forest plot.

    ``detail="full"``: "Heterogeneity: I² = 62% [95% CI 12–85%], τ² = 0.21, Q = 10.50, df = 4,
    p = 0.03"; ``"short"``: "I² = 62%, τ² = 0.21, p = 0.03". τ² is on the model scale (e.g.
    logit for proportions), as in metafor and meta.
    """
    if res.k < 2:
        return f"{prefix}not applicable (one study)"
    if not _finite(res.q):
        return f"{prefix}not estimable (no within-study variances)"
    lvl = f"{round(100 * res.level):g}%"
    i2 = f"I² = {fmt_num(res.i2, 0)}%"
    lo, hi = res.i2_ci
    if detail == "full" and _finite(lo) and _finite(hi):
        i2 += f" [{lvl} CI {fmt_num(lo, 0)}–{fmt_num(hi, 0)}%]"
    parts = [i2]
    if not getattr(res, "common_effect", getattr(res, "common_effect", res.method == "FE")):
        parts.append(f"τ² = {fmt_sig(res.tau2)}")
    if detail == "full":
        parts += [f"Q = {fmt_num(res.q, 2 if res.q < 100 else 1)}", f"df = {res.q_df}"]
    parts.append(fmt_p(res.q_pval))
    return prefix + ", ".join(parts)


def subgroup_test_text(sub) -> str:
    """"Test for subgroup differences: Q = 4.52, df = 2, p = 0.10"."""
    q = float(sub.q_between)
    if not _finite(q):
        chosen = getattr(sub, "test_chosen", None)
        why = getattr(chosen, "note", "") or "no within-study variances"
        if len(why) > 60:  # keep the figure's line short; the full note is on the result
            why = why.split(" (")[0]
        return f"Test for subgroup differences: not available ({why})"
    return (f"Test for subgroup differences: Q = {fmt_num(q, 2 if q < 100 else 1)}, "
            f"df = {int(sub.q_between_df)}, {fmt_p(sub.q_between_pval)}")


def model_label(res, common: bool = False) -> str:
    """Row label of a pooled estimate: "Random-effects model" or "Common-effect model"."""
    return "Common-effect model" if common or getattr(res, "common_effect", res.method == "FE") else "Random-effects model"

"""Sensitivity tables of the proportion sections: the same data under other analysis choices
(:func:`iometa.method_sensitivity`) for groups with k ≥ 2, and leave-one-out
(:func:`iometa.leave_one_out`) for groups with k ≥ 3."""

from __future__ import annotations

import math

import pandas as pd

from ..core.measures import scale_name
from .model import Table
from .tables import NA, finite, fmt_estci, fmt_interval, pct


def _method_table(fits: dict, level: float = 0.95) -> pd.DataFrame | None:
    from ..diagnostics.loo import method_sensitivity

    frames = []
    for g, res in fits.items():
        if res is None or res.k < 2:
            continue
        tab = method_sensitivity(res, level=level)
        tab.insert(0, "group", g)
        if res.k < 3:
            tab[["pi_low", "pi_high"]] = math.nan
        frames.append(tab)
    return pd.concat(frames, ignore_index=True) if frames else None


def _method_display(tab: pd.DataFrame, level: float = 0.95) -> pd.DataFrame:
    def scale(r):
        return "logit (binomial GLMM)" if r.method == "GLMM" else scale_name(r.measure,
                                                                             ascii=True)

    return pd.DataFrame({
        "Group": tab["group"], "Scale": [scale(r) for r in tab.itertuples()],
        "τ² estimator": ["ML (GLMM)" if m == "GLMM" else m for m in tab["method"]],
        "Test": ["Knapp-Hartung" if t == "knha" else "z" for t in tab["test"]],
        "k": tab["k"].astype(str),
        f"Estimate [{pct(level)} CI]": [fmt_estci(r.estimate, r.ci_low, r.ci_high, "proportion")
                                        for r in tab.itertuples()],
        f"{pct(level)} PI": [fmt_interval(r.pi_low, r.pi_high, "proportion")
                             for r in tab.itertuples()],
        "I²": [f"{x:.0f}%" if finite(x) else NA for x in tab["i2"]],
    })


def _loo_table(fits: dict) -> pd.DataFrame | None:
    from ..diagnostics.loo import leave_one_out

    frames = []
    for g, res in fits.items():
        if res is None or res.k < 3:
            continue
        tab = leave_one_out(res)[["label", "k", "estimate", "ci_low", "ci_high", "tau2", "i2"]]
        tab = tab.rename(columns={"label": "omitted"})
        tab.insert(0, "group", g)
        frames.append(tab)
    return pd.concat(frames, ignore_index=True) if frames else None


def _loo_display(tab: pd.DataFrame, level: float = 0.95) -> pd.DataFrame:
    return pd.DataFrame({
        "Group": tab["group"], "Study omitted": tab["omitted"], "k": tab["k"].astype(str),
        f"Estimate [{pct(level)} CI]": [fmt_estci(r.estimate, r.ci_low, r.ci_high, "proportion")
                                        for r in tab.itertuples()],
        "I²": [f"{x:.0f}%" if finite(x) else NA for x in tab["i2"]],
    })


def sensitivity_tables(slug: str, fits: dict, level: float = 0.95) -> list[Table]:
    """Method-sensitivity and leave-one-out tables of the groups of one proportion section
    (intervals at ``level``; leave-one-out refits the section's own model)."""
    out = []
    tab = _method_table(fits, level)
    if tab is not None:
        out.append(Table(f"tables/{slug}_method_sensitivity",
                         "Method sensitivity (groups with k ≥ 2; per-model warnings in the CSV)",
                         tab, _method_display(tab, level)))
    loo = _loo_table(fits)
    if loo is not None:
        out.append(Table(f"tables/{slug}_leave_one_out", "Leave-one-out (groups with k ≥ 3)",
                         loo, _loo_display(loo, level)))
    return out

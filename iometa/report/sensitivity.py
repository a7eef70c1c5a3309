"""Sensitivity tables of the proportion sections: the same data under other analysis choices
(:func:`iometa.method_sensitivity`) for groups with k ≥ 2, leave-one-out
(:func:`iometa.leave_one_out`) for groups with k ≥ 3, and the three-level model
(:func:`iometa.pool_multilevel`, rows clustered in studies) for groups in which a study
contributes several rows (disjoint cohorts: arms, subgroups)."""

from __future__ import annotations

import math

import pandas as pd

from ..core.measures import scale_name
from .model import Table
from .tables import NA, cells, finite, fmt_estci, fmt_interval, pct


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
    def scale(method, measure):
        return "logit (binomial GLMM)" if method == "GLMM" else scale_name(measure,
                                                                           ascii=True)

    return pd.DataFrame({
        "Group": tab["group"], "Scale": [scale(*r) for r in cells(tab, "method", "measure")],
        "τ² estimator": ["ML (GLMM)" if m == "GLMM" else m for m in tab["method"]],
        "Test": ["Knapp-Hartung" if t == "knha" else "z" for t in tab["test"]],
        "k": tab["k"].astype(str),
        f"Estimate [{pct(level)} CI]": [fmt_estci(*r, "proportion")
                                        for r in cells(tab, "estimate", "ci_low", "ci_high")],
        f"{pct(level)} PI": [fmt_interval(*r, "proportion")
                             for r in cells(tab, "pi_low", "pi_high")],
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


def _loo_display(tab: pd.DataFrame, level: float = 0.95, kind: str = "proportion"
                 ) -> pd.DataFrame:
    return pd.DataFrame({
        "Group": tab["group"], "Study omitted": tab["omitted"], "k": tab["k"].astype(str),
        f"Estimate [{pct(level)} CI]": [fmt_estci(*r, kind)
                                        for r in cells(tab, "estimate", "ci_low", "ci_high")],
        "I²": [f"{x:.0f}%" if finite(x) else NA for x in tab["i2"]],
    })


def _multilevel_table(fits: dict, level: float = 0.95) -> pd.DataFrame | None:
    """Per group whose rows repeat a study (k ≥ 3, ≥ 2 studies): the section's model beside
    the three-level model (REML; rows within studies), both back-transformed. The rows are
    disjoint cohorts (``outcome_rows`` never returns overlapping ones), so only their
    clustering in studies is modelled."""
    from ..core.measures import measure
    from ..core.multilevel import pool_multilevel

    out = []
    for g, res in fits.items():
        data = getattr(res, "data", None)
        if (res is None or res.k < 3 or data is None or "study_id" not in data
                or res.method == "GLMM" or measure(res.measure).uses_n):  # FT: each n
            continue
        cl = data["study_id"].astype(str).to_numpy()
        if len(cl) != res.k or len(set(cl)) == len(cl) or len(set(cl)) < 2:
            continue
        ml = pool_multilevel(res, cluster=cl, method="REML", level=level)
        out.append({"group": g, "k": res.k, "studies": ml.n_clusters,
                    "repeated": ", ".join(sorted({c for c in cl if list(cl).count(c) > 1})),
                    "estimate": res.estimate, "ci_low": res.ci_low, "ci_high": res.ci_high,
                    "estimate_3l": ml.estimate, "ci_low_3l": ml.ci_low,
                    "ci_high_3l": ml.ci_high,
                    "sigma2_between": float(ml.sigma2[0]), "sigma2_within": float(ml.sigma2[1]),
                    "lrt_pval": float(ml.lrt_pval)})
    return pd.DataFrame(out) if out else None


def _multilevel_display(tab: pd.DataFrame, level: float = 0.95) -> pd.DataFrame:
    ci = f"[{pct(level)} CI]"
    return pd.DataFrame({
        "Group": tab["group"], "k (rows)": tab["k"].astype(str),
        "Studies": tab["studies"].astype(str), "Studies with several rows": tab["repeated"],
        f"One row = one study {ci}": [fmt_estci(*r, "proportion") for r in
                                      cells(tab, "estimate", "ci_low", "ci_high")],
        f"Three-level {ci}": [fmt_estci(*r, "proportion") for r in
                              cells(tab, "estimate_3l", "ci_low_3l", "ci_high_3l")],
        "σ² between studies": [f"{x:.3g}" for x in tab["sigma2_between"]],
        "σ² within studies": [f"{x:.3g}" for x in tab["sigma2_within"]],
        "LRT p (σ² between = 0)": [f"{x:.3f}" if finite(x) else NA for x in tab["lrt_pval"]],
    })


#: groups of at most this many studies get the Bayesian small-k analysis
BAYES_MAX_K = 9


def _bayes_table(fits: dict, level: float = 0.95) -> pd.DataFrame | None:
    """Per group with 2 ≤ k ≤ BAYES_MAX_K: the exact Bayesian random-effects model
    (:func:`iometa.pool_bayes`, half-normal(0.5) prior on τ, flat prior on μ) beside the
    section's frequentist model, both on the reporting scale."""
    from ..core.bayes import pool_bayes

    out = []
    for g, res in fits.items():
        if res is None or not 2 <= res.k <= BAYES_MAX_K or res.method == "GLMM":
            continue
        b = pool_bayes(res, level=level)
        out.append({"group": g, "k": res.k, "estimate": res.estimate, "ci_low": res.ci_low,
                    "ci_high": res.ci_high, "tau2": res.tau2, "bayes_median": b.estimate,
                    "bayes_ci_low": b.ci_low, "bayes_ci_high": b.ci_high,
                    "bayes_pi_low": b.pi_low, "bayes_pi_high": b.pi_high,
                    "tau_median": b.tau, "bf01": b.bf01})
    return pd.DataFrame(out) if out else None


def _bayes_display(tab: pd.DataFrame, level: float = 0.95, kind: str = "proportion"
                   ) -> pd.DataFrame:
    return pd.DataFrame({
        "Group": tab["group"], "k": tab["k"].astype(str),
        f"Frequentist [{pct(level)} CI]": [fmt_estci(*r, kind) for r in
                                           cells(tab, "estimate", "ci_low", "ci_high")],
        f"Bayesian median [{pct(level)} CrI]": [
            fmt_estci(*r, kind)
            for r in cells(tab, "bayes_median", "bayes_ci_low", "bayes_ci_high")],
        f"Bayesian {pct(level)} PI": [fmt_interval(*r, kind) for r in
                                      cells(tab, "bayes_pi_low", "bayes_pi_high")],
        "τ (posterior median)": [f"{x:.3g}" for x in tab["tau_median"]],
        "BF₀₁ (τ = 0)": [f"{x:.2f}" if finite(x) else NA for x in tab["bf01"]],
    })


def sensitivity_tables(slug: str, fits: dict, level: float = 0.95,
                       kind: str = "proportion") -> list[Table]:
    """Method-sensitivity and leave-one-out tables of the groups of one proportion section
    (intervals at ``level``; leave-one-out refits the section's own model). ``kind="rate"``
    (a rate section: values per 100 units of person-time) gives the leave-one-out and
    Bayesian small-k tables only: the method-sensitivity grid and the three-level model are
    built for proportions."""
    out = []
    prop = kind == "proportion"
    tab = _method_table(fits, level) if prop else None
    if tab is not None:
        out.append(Table(f"tables/{slug}_method_sensitivity",
                         "Method sensitivity (groups with k ≥ 2; per-model warnings in the CSV)",
                         tab, _method_display(tab, level)))
    loo = _loo_table(fits)
    if loo is not None:
        out.append(Table(f"tables/{slug}_leave_one_out", "Leave-one-out (groups with k ≥ 3)",
                         loo, _loo_display(loo, level, kind)))
    bayes = _bayes_table(fits, level)
    if bayes is not None:
        out.append(Table(f"tables/{slug}_bayes",
                         f"Bayesian small-k analysis (groups with 2 ≤ k ≤ {BAYES_MAX_K}; "
                         "half-normal(0.5) prior on τ, flat prior on the mean)",
                         bayes, _bayes_display(bayes, level, kind)))
    ml = _multilevel_table(fits, level) if prop else None
    if ml is not None:
        out.append(Table(f"tables/{slug}_three_level",
                         "Three-level sensitivity analysis (rows clustered in studies; groups "
                         "in which a study contributes several disjoint rows)",
                         ml, _multilevel_display(ml, level)))
    return out

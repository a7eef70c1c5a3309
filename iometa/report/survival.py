"""Report sections on survival rates at fixed time points, by modality and site
(:func:`iometa.survival.survival_table` and :func:`iometa.survival_plot`)."""

from __future__ import annotations

import math

import pandas as pd

from ..data.outcomes import outcome_rows, study_label
from .model import Context, Section, Table, collect, modality_order
from .sections import record_excluded
from .select import one_row_per_population
from .tables import NA, finite, fmt_count, fmt_estci, fmt_interval, fmt_p, sources_frame

PAIRS = (("os_rate", "median_os", "Overall survival"),
         ("pfs_rate", "median_pfs", "Progression-free survival"))

METHOD = (
    "Survival S(t) pooled at each reported time point × group (modality / site) on the "
    "complementary log-log scale ln(−ln S), with the binomial variance (1 − S)/(n·S·(ln S)²) "
    "from the enrolled n (or the study's CI when printed), REML random effects "
    "(`iometa.survival_table`; Combescure, Foucher & Jackson 2014, Stat Med 33:2521). Each "
    "group's pooled median (`iometa.pool_medians`, route auto) gives the survival an "
    "exponential model implies, S(t) = 2^(−t/M); \"Agrees\" says whether that interval "
    "overlaps the CI of the pooled rate (a \"no\" means the hazard is not constant, or the "
    "medians and rates come from different patients). The test for subgroup differences "
    "compares the modalities at the same site and time point (Q test, separate τ² per group); "
    "groups at different sites are not tested against each other.")
SHORT = ("Complementary log-log random-effects model (REML) per time point × modality / site; "
         "exponential consistency check against the pooled median (see [Methods](#methods)).")


def _rows_with_labels(studies: pd.DataFrame, lines) -> pd.DataFrame:
    rows = studies[studies["line"].isin(list(lines))].copy()
    rows["label"] = [study_label(r) for r in rows.to_dict("records")]
    return rows.reset_index(drop=True)


def _rate_rows(ctx: Context, outcome: str) -> pd.DataFrame:
    sel = outcome_rows(ctx.studies, outcome, timepoint="all")  # pooled per time point
    surv = sel.excluded["reason"].astype(str).str.startswith("survival rate")
    record_excluded(ctx, sel.excluded[~surv])
    rows, left = one_row_per_population(_rows_with_labels(ctx.studies,
                                                          sel.excluded.loc[surv, "line"]),
                                        outcome, ctx.studies)
    record_excluded(ctx, left)
    return rows


def _groups(rows: pd.DataFrame) -> pd.Series:
    return rows["modality"].astype(str) + " / " + rows["site"].astype(str)


def _group_order(groups) -> list[str]:
    by_mod: dict[str, list[str]] = {}
    for g in sorted(set(groups)):
        by_mod.setdefault(g.split(" / ")[0], []).append(g)
    return [g for m in modality_order(by_mod) for g in by_mod[m]]


def _between(rates: pd.DataFrame, t: float, site: str, order: list[str]):
    """Test for differences between the modalities at one site and time point (or None)."""
    from ..compare import subgroups
    from ..survival.table import pool_survival_rates

    d = rates[(rates["timepoint_months"] == t) & (rates["site"].astype(str) == site)]
    d = d.reset_index(drop=True)
    present = [g for g in order if (d["group"] == g).any()]
    if len(present) < 2:
        return None
    res = pool_survival_rates("value", "n_used", time="timepoint_months", labels="label",
                              ci_low="ci_low", ci_high="ci_high", data=d)
    return subgroups(res, by=pd.Categorical(d["group"], categories=present)).test_separate


def _table(rates, medians, order):
    from ..survival.table import survival_table

    data = pd.concat([rates, medians], ignore_index=True)
    data["group"] = pd.Categorical(data["group"], categories=order)
    tab = survival_table(data, by="group", n="n_used", labels="label")
    excluded = tab.attrs["excluded"]
    tab["group"] = pd.Categorical(tab["group"].astype(str), categories=order)
    tab = tab.sort_values(["group", "time"], kind="stable").reset_index(drop=True)
    tab.loc[tab["k"] < 2, ["tau2", "i2"]] = math.nan
    tab.loc[tab["k"] < 3, ["pi_low", "pi_high"]] = math.nan
    tab[["q_between", "df_between", "p_between"]] = math.nan
    kept = rates[~rates.set_index(["label", "timepoint_months"]).index.isin(
        list(zip(excluded["label"], excluded["time"])))]
    site = tab["group"].astype(str).str.split(" / ").str[1]
    for t, st in sorted(set(zip(tab["time"], site))):
        test = _between(kept, t, st, order)
        if test is not None:
            cells = (tab["time"] == t) & (site == st)
            tab.loc[cells, ["q_between", "df_between", "p_between"]] = (test.q, test.df,
                                                                         test.pval)
    tab["group"] = tab["group"].astype(str)
    return tab, excluded, kept


def _display(tab: pd.DataFrame) -> pd.DataFrame:
    def med(r):
        if not finite(r.median):
            return NA
        route = {"mm": ", median of medians", "wm": ", weighted median"}.get(r.median_route, "")
        route = route if r.median_k > 1 else ""
        return f"{fmt_estci(r.median, r.median_ci_low, r.median_ci_high, 'median')} (k = " \
               f"{r.median_k}{route})"

    agree = {True: "no", False: "yes"}
    return pd.DataFrame({
        "Months": [fmt_count(t) for t in tab["time"]], "Group": tab["group"],
        "k": tab["k"].astype(str), "N": [fmt_count(n) for n in tab["N"]],
        "S(t) [95% CI]": [fmt_estci(r.estimate, r.ci_low, r.ci_high, "proportion")
                          for r in tab.itertuples()],
        "95% PI": [fmt_interval(r.pi_low, r.pi_high, "proportion") for r in tab.itertuples()],
        "I²": [f"{x:.0f}%" if finite(x) else NA for x in tab["i2"]],
        "Median (months) [95% CI]": [med(r) for r in tab.itertuples()],
        "S(t) implied by the median": [fmt_estci(r.exp_rate, r.exp_rate_low, r.exp_rate_high,
                                                 "proportion") for r in tab.itertuples()],
        "Agrees": ["–" if pd.isna(x) else agree[bool(x)] for x in tab["exp_disagree"]],
        "p (subgroup differences)": [fmt_p(p) for p in tab["p_between"]],
    })


def _caveats(tab: pd.DataFrame, rates: pd.DataFrame) -> list[str]:
    out = ["Kaplan–Meier rates are pooled as binomial proportions of the enrolled n: censoring "
           "is ignored, so the CIs are too narrow where follow-up is short.",
           "The pooled rates at each time point are separate meta-analyses; the lines in the "
           "figure join them for readability and are not survival curves.",
           "Indirect comparison: the groups are single-arm series of different populations; "
           "no study compares them head to head."]
    ones = sorted({g for g, k in zip(tab["group"], tab["k"]) if k == 1})
    if ones:
        out.append(f"One study per time point (k = 1) in {', '.join(ones)}: the \"pooled\" "
                   "rate is that study's own rate.")
    sites = sorted({str(s) for s in rates["site"]})
    if len(sites) > 1:
        out.append(f"The series treat different sites ({', '.join(sites)}), whose prognoses "
                   "differ: the groups are modality / site.")
    return out


def survival_section(ctx: Context, rate: str, median: str, what: str) -> Section | None:
    """S(t) by time point × modality / site for one rate outcome; None without usable rows."""
    rates = _rate_rows(ctx, rate)
    if rates.empty:
        return None
    medians, _ = one_row_per_population(outcome_rows(ctx.studies, median, timepoint="all").rows,
                                        median, ctx.studies)
    order = _group_order(list(_groups(rates)) + list(_groups(medians)))
    rates["group"], medians["group"] = _groups(rates), _groups(medians)
    slug = f"{rate}_by_modality_site"
    notes: list[str] = []
    with collect(notes, ctx.internal):
        tab, excluded, kept = _table(rates, medians, order)
    lines = dict(zip(zip(rates["label"], rates["timepoint_months"]), rates["line"]))
    for r in excluded.itertuples():
        ctx.ledger.exclude(lines[(r.label, r.time)],
                           f"survival rate left out of the survival table: {r.reason}")
    if tab.empty:
        return None
    pooled_meds = medians[medians["group"].isin(set(tab.loc[tab["median_k"] > 0, "group"]))]
    ctx.ledger.use(list(kept["line"]) + list(pooled_meds["line"]), slug)
    used = pd.concat([kept, pooled_meds], ignore_index=True)
    src = sources_frame(used, "group", ["outcome", "value", "ci_low", "ci_high", "n_used"],
                        order)
    return Section(
        slug=slug, title=f"{what} rates by time point, modality and site",
        kind="survival_rate",
        summary=f"{what} S(t) pooled in {len(tab)} time point × group cells from "
                f"{len(kept)} rates; " + "; ".join(
                    f"{g} at {t:g} months: {fmt_estci(e, lo, hi, 'proportion')} (k = {k})"
                    for g, t, e, lo, hi, k in zip(tab["group"], tab["time"], tab["estimate"],
                                                  tab["ci_low"], tab["ci_high"], tab["k"]))
                + ".",
        method=SHORT,
        tables=[Table(f"tables/{slug}", f"Pooled {what.lower()} rates", tab, _display(tab))],
        sources=src, figure=_plot(tab), caveats=_caveats(tab, kept), notes=notes)


def _plot(tab):
    def draw():
        import iometa

        return iometa.survival_plot(tab, width="double")
    return draw


def survival_sections(ctx: Context) -> list[Section]:
    """The survival-rate sections (OS, PFS) that have usable rows.

    Example
    -------
    >>> import iometa
    >>> from iometa.report.model import Context
    >>> [s.slug for s in survival_sections(Context.of(iometa.load_studies()))]
    ['os_rate_by_modality_site']
    """
    out = []
    for rate, median, what in PAIRS:
        sec = ctx.attempt(f"{what} rates", ctx.outcome_lines(rate), survival_section, ctx, rate,
                          median, what)
        if sec is not None:
            out.append(sec)
    return out

"""Report sections on survival rates at fixed time points, by modality and site
(:func:`iometa.survival.survival_table` and :func:`iometa.survival_plot`)."""

from __future__ import annotations

import math

import pandas as pd

from ..data.outcomes import LABEL_COLUMNS, study_label
from .caveats import head_to_head, plural_of
from .model import Context, Section, Table, collect
from .sections import group_rows, record_excluded
from .select import one_row_per_population
from .tables import (
    NA,
    cells,
    finite,
    fmt_count,
    fmt_estci,
    fmt_interval,
    fmt_p,
    pct,
    records,
    sources_frame,
)

PAIRS = (("os_rate", "median_os", "Overall survival"),
         ("pfs_rate", "median_pfs", "Progression-free survival"))

def method_text(cfg=None) -> str:
    """The Methods paragraph on survival rates (configured τ² method, test and grouping)."""
    from .config import ReportConfig

    cfg = cfg or ReportConfig()
    opts = cfg.options("os_rate")
    group = _group_words(cfg)
    model = ("common-effect model (τ² = 0)" if opts.method == "FE"
             else f"{opts.method} random effects")
    model += ", Knapp–Hartung test" if opts.test == "knha" else ""
    many = plural_of(cfg.group_label)
    return (
        f"Survival S(t) pooled at each reported time point × group ({group}) on the "
        "complementary log-log scale ln(−ln S), with the binomial variance (1 − S)/(n·S·(ln S)²) "
        f"from the enrolled n (or the study's CI when printed), {model} "
        "(`iometa.survival_table`; Combescure, Foucher & Jackson 2014, Stat Med 33:2521). Each "
        "group's pooled median (`iometa.pool_medians`, route auto) gives the survival an "
        "exponential model implies, S(t) = 2^(−t/M); \"Agrees\" says whether that interval "
        "overlaps the CI of the pooled rate (a \"no\" means the hazard is not constant, or the "
        "medians and rates come from different patients). The test for subgroup differences "
        f"compares the {many} at the same site and time point (Q test, separate τ² per group); "
        "groups at different sites are not tested against each other.")


def short_text(cfg=None) -> str:
    """The one-line method of a survival-rate section."""
    from .config import ReportConfig

    cfg = cfg or ReportConfig()
    opts = cfg.options("os_rate")
    model = ("common-effect model" if opts.method == "FE"
             else f"random-effects model ({opts.method}")
    model += ", Knapp–Hartung test" if opts.test == "knha" else ""
    model += "" if opts.method == "FE" else ")"
    return (f"Complementary log-log {model} per time point × {_group_words(cfg)}; "
            "exponential consistency check against the pooled median (see [Methods](#methods)).")


def _group_words(cfg) -> str:
    return "site" if cfg.group_by == "site" else f"{cfg.group_label} / site"


METHOD = method_text()
SHORT = short_text()


def _rows_with_labels(studies: pd.DataFrame, lines) -> pd.DataFrame:
    rows = studies[studies["line"].isin(list(lines))].copy()
    rows["label"] = [study_label(r) for r in records(rows, LABEL_COLUMNS)]
    return rows.reset_index(drop=True)


def _rate_rows(ctx: Context, outcome: str) -> pd.DataFrame:
    sel = ctx.outcome_rows(outcome)  # pooled per time point
    surv = sel.excluded["reason"].astype(str).str.startswith("survival rate")
    record_excluded(ctx, sel.excluded[~surv])
    rows, left = one_row_per_population(_rows_with_labels(ctx.studies,
                                                          sel.excluded.loc[surv, "line"]),
                                        outcome, ctx.studies)
    record_excluded(ctx, left)
    return rows


def _groups(ctx: Context, rows: pd.DataFrame) -> pd.DataFrame:
    """``rows`` with ``group`` = "<group> / <site>" (just the site when grouping by site);
    rows without a group or a site are left out."""
    rows = group_rows(ctx, rows)
    if ctx.config.group_by == "site" or rows.empty:
        return rows
    no_site = rows["site"].isna().to_numpy()
    for line in rows.loc[no_site, "line"]:
        ctx.ledger.exclude(line, "no site: survival rates are pooled per group and site")
    rows = rows[~no_site].reset_index(drop=True)
    return rows.assign(group=rows["group"] + " / " + rows["site"].astype(str))


def _group_order(ctx: Context, groups) -> list[str]:
    by_first: dict[str, list[str]] = {}
    for g in sorted(set(groups)):
        by_first.setdefault(g.split(" / ")[0], []).append(g)
    return [g for m in ctx.group_order(by_first) for g in by_first[m]]


def _between(rates: pd.DataFrame, t: float, site: str, order: list[str], opts):
    """Test for differences between the modalities at one site and time point (or None)."""
    from ..compare import subgroups
    from ..survival.table import pool_survival_rates

    d = rates[(rates["timepoint_months"] == t) & (rates["site"].astype(str) == site)]
    d = d.reset_index(drop=True)
    present = [g for g in order if (d["group"] == g).any()]
    if len(present) < 2:
        return None
    res = pool_survival_rates("value", "n_used", time="timepoint_months", labels="label",
                              ci_low="ci_low", ci_high="ci_high", data=d, method=opts.method,
                              test=opts.test, level=opts.level)
    return subgroups(res, by=pd.Categorical(d["group"], categories=present)).test_separate


def _table(rates, medians, order, opts):
    from ..survival.table import survival_table

    data = pd.concat([rates, medians], ignore_index=True)
    data["group"] = pd.Categorical(data["group"], categories=order)
    tab = survival_table(data, by="group", n="n_used", labels="label", method=opts.method,
                         test=opts.test, level=opts.level)
    excluded = tab.attrs["excluded"]
    tab["group"] = pd.Categorical(tab["group"].astype(str), categories=order)
    tab = tab.sort_values(["group", "time"], kind="stable").reset_index(drop=True)
    tab.loc[tab["k"] < 2, ["tau2", "i2"]] = math.nan
    tab.loc[tab["k"] < 3, ["pi_low", "pi_high"]] = math.nan
    tab[["q_between", "df_between", "p_between"]] = math.nan
    kept = rates[~rates.set_index(["label", "timepoint_months"]).index.isin(
        list(zip(excluded["label"], excluded["time"])))]
    site = tab["group"].astype(str).str.split(" / ").str[-1]
    for t, st in sorted(set(zip(tab["time"], site))):
        test = _between(kept, t, st, order, opts)
        if test is not None:
            cells = (tab["time"] == t) & (site == st)
            tab.loc[cells, ["q_between", "df_between", "p_between"]] = (test.q, test.df,
                                                                         test.pval)
    tab["group"] = tab["group"].astype(str)
    return tab, excluded, kept


def _display(tab: pd.DataFrame, level: float = 0.95) -> pd.DataFrame:
    def med(median, lo, hi, k, route):
        if not finite(median):
            return NA
        route = {"mm": ", median of medians", "wm": ", weighted median"}.get(route, "")
        route = route if k > 1 else ""
        return f"{fmt_estci(median, lo, hi, 'median')} (k = {k}{route})"

    agree = {True: "no", False: "yes"}
    return pd.DataFrame({
        "Months": [fmt_count(t) for t in tab["time"]], "Group": tab["group"],
        "k": tab["k"].astype(str), "N": [fmt_count(n) for n in tab["N"]],
        f"S(t) [{pct(level)} CI]": [fmt_estci(*r, "proportion")
                                    for r in cells(tab, "estimate", "ci_low", "ci_high")],
        f"{pct(level)} PI": [fmt_interval(*r, "proportion")
                             for r in cells(tab, "pi_low", "pi_high")],
        "I²": [f"{x:.0f}%" if finite(x) else NA for x in tab["i2"]],
        f"Median (months) [{pct(level)} CI]": [
            med(*r) for r in cells(tab, "median", "median_ci_low", "median_ci_high", "median_k",
                                   "median_route")],
        "S(t) implied by the median": [
            fmt_estci(*r, "proportion")
            for r in cells(tab, "exp_rate", "exp_rate_low", "exp_rate_high")],
        "Agrees": ["–" if pd.isna(x) else agree[bool(x)] for x in tab["exp_disagree"]],
        "p (subgroup differences)": [fmt_p(p) for p in tab["p_between"]],
    })


def _caveats(tab: pd.DataFrame, rates: pd.DataFrame, cfg) -> list[str]:
    h2h = head_to_head(rates)
    indirect = ("Indirect comparison: the groups are single-arm series of different "
                "populations; no study compares them head to head." if not h2h else
                f"Mostly indirect comparison: {', '.join(h2h)} compare"
                f"{'s' if len(h2h) == 1 else ''} groups head to head (column "
                "`comparison_id`), but here each arm is pooled in its own group, not as a "
                "within-study contrast; the other groups are series of different populations.")
    out = ["Kaplan–Meier rates are pooled as binomial proportions of the enrolled n: censoring "
           "is ignored, so the CIs are too narrow where follow-up is short.",
           "The pooled rates at each time point are separate meta-analyses; the lines in the "
           "figure join them for readability and are not survival curves.",
           indirect]
    ones = sorted({g for g, k in zip(tab["group"], tab["k"]) if k == 1})
    if ones:
        out.append(f"One study per time point (k = 1) in {', '.join(ones)}: the \"pooled\" "
                   "rate is that study's own rate.")
    sites = sorted({str(s) for s in rates["site"]})
    if len(sites) > 1:
        out.append(f"The series treat different sites ({', '.join(sites)}), whose prognoses "
                   f"differ: the groups are {_group_words(cfg)}.")
    return out


def survival_section(ctx: Context, rate: str, median: str, what: str) -> Section | None:
    """S(t) by time point × modality / site for one rate outcome; None without usable rows."""
    rates = _groups(ctx, _rate_rows(ctx, rate))
    if rates.empty:
        return None
    medians, _ = one_row_per_population(ctx.outcome_rows(median).rows,
                                        median, ctx.studies)
    # a scratch ledger: the medians' own sections (or the outside reasons) account for them
    medians = _groups(Context.of(ctx.studies, ctx.config), medians)
    order = _group_order(ctx, list(rates["group"]) + list(medians["group"]))
    by = ctx.config.group_by
    slug = f"{rate}_by_modality_site" if by == "modality" else (
        f"{rate}_by_site" if by == "site" else f"{rate}_by_{by}_site")
    opts = ctx.config.options(rate)
    notes: list[str] = []
    with collect(notes, ctx.internal):
        tab, excluded, kept = _table(rates, medians, order, opts)
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
        slug=slug, title=f"{what} rates by time point, " + (
            "and site" if by == "site" else f"{ctx.config.group_label} and site"),
        kind="survival_rate",
        summary=f"{what} S(t) pooled in {len(tab)} time point × group cells from "
                f"{len(kept)} rates; " + "; ".join(
                    f"{g} at {t:g} months: {fmt_estci(e, lo, hi, 'proportion')} (k = {k})"
                    for g, t, e, lo, hi, k in zip(tab["group"], tab["time"], tab["estimate"],
                                                  tab["ci_low"], tab["ci_high"], tab["k"]))
                + ".",
        method=short_text(ctx.config),
        tables=[Table(f"tables/{slug}", f"Pooled {what.lower()} rates", tab,
                      _display(tab, opts.level))],
        sources=src, figure=_plot(tab), caveats=_caveats(tab, kept, ctx.config), notes=notes)


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
        if not ctx.config.wants(rate):
            continue
        sec = ctx.attempt(f"{what} rates", ctx.outcome_lines(rate), survival_section, ctx, rate,
                          median, what)
        if sec is not None:
            out.append(sec)
    return out

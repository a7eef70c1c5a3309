"""Plain-language text of the report sections: summaries (numbers printed from the tables,
never typed), methods with their references, and caveats computed from the rows used."""

from __future__ import annotations

import pandas as pd

from .config import OutcomeOptions, ReportConfig
from .tables import cells, fmt_estci, fmt_p, pct, text

MM_FOOTNOTE = ("Median of medians (McGrath et al. 2019): each study weighs the same; CIs of the "
               "pooled medians invert the sign test; no heterogeneity statistics exist without "
               "within-study variances. NR = not reported.")

SELECTION_METHOD = (
    "Only point estimates are pooled: ends of printed ranges and upper bounds never are "
    "(`iometa.outcomes.outcome_rows`), and proportions need events and a total (printed, or "
    "reconstructed exactly from a percentage and the study's n). A group of patients enters "
    "an analysis once: a study's whole-population row is used when it has one; otherwise "
    "disjoint cohorts (treatment arms, a primary-tumour subgroup) enter each as its own "
    "cohort; of rows measuring the same patients from different time origins, the one "
    "measured from the procedure is used; types of an outcome (e.g. one kind of toxicity) and "
    "strata (lesion size, ablation margin) are not pooled, because they overlap in the same "
    "patients or are not the study's overall result. The n of an arm is used only when the "
    "table gives the arm's own size (column `arm`), the n of any other subgroup row never "
    "(the table's n is often the whole study's); groups of one study whose sizes add up to "
    "more than its patients are not used (`iometa.data.populations`). Proportions at "
    "different time points are separate analyses.")

def plural_of(word: str) -> str:
    """English plural of a group name ("modality" -> "modalities", "site" -> "sites").

    Example
    -------
    >>> plural_of("modality"), plural_of("primary tumour"), plural_of("centre")
    ('modalities', 'primary tumours', 'centres')
    """
    if word.endswith("y") and word[-2:-1] not in tuple("aeiou"):
        return word[:-1] + "ies"
    if word.endswith(("s", "x", "ch", "sh")):
        return word + "es"
    return word + "s"


def _method_words(opts) -> str:
    """"the REML estimate of τ²", "a common-effect model (τ² = 0)", …"""
    from ..core.methods import REGISTRY

    m = REGISTRY[opts.method]
    if m.kind == "fixed":
        return "τ² = 0 (common-effect model)"
    if opts.method == "REML":
        return "the REML estimate of τ²"
    return f"the {opts.method} estimate of τ² ({m.name.split(', ', 1)[-1]}; {m.reference})"


def _test_words(opts) -> str:
    if opts.test == "knha":
        return ("; tests and CIs use the Knapp–Hartung t distribution (Knapp & Hartung 2003, "
                "Stat Med 22:2693)")
    return ""


def _model_kind(opts) -> str:
    from ..core.methods import REGISTRY

    return ("Common-effect" if REGISTRY[opts.method].kind == "fixed" else "Random-effects")


def _scale_words(measure: str) -> str:
    from ..core.measures import scale_name

    name = scale_name(measure)
    return "untransformed (raw proportions)" if measure == "PR" else f"{name} scale"


def proportion_method(cfg=None) -> str:
    """The Methods paragraph on proportions: the configured measure, τ² method and test (with
    the per-outcome overrides of the configuration)."""
    cfg = cfg or ReportConfig()
    opts = cfg.options("")
    scale = _scale_words(opts.measure)
    on = "on the raw proportions" if opts.measure == "PR" else f"on the {scale}"
    rma = f'measure = "{opts.measure}", method = "{opts.method}"'
    rma += ', test = "knha"' if opts.test == "knha" else ""
    back = "" if opts.measure == "PR" else ", back-transformed to proportions"
    group = cfg.group_label
    return (
        f"{_model_kind(opts)} model {on} (measure {opts.measure}) with "
        f"{_method_words(opts)}{_test_words(opts)}{back} (metafor `rma({rma})`; "
        "Viechtbauer 2010, J Stat Softw 36(3)). Study CIs in the figures are exact "
        f"(Clopper–Pearson). Groups are {plural_of(group)}"
        + ("" if cfg.group_by in ("modality", "site", "primary")
           else f" (column `{cfg.group_by}`)") +
        "; the test for subgroup differences is the Q test "
        "with a separate τ² per group (meta's default; Borenstein et al. 2009, Introduction to "
        "Meta-Analysis, ch. 19). Groups with k ≥ 2 get a method-sensitivity table (logit, "
        "arcsine, Freeman–Tukey and the binomial GLMM; DL, REML and PM τ²; z and Knapp–Hartung "
        "tests; `iometa.method_sensitivity`) and groups with k ≥ 3 a leave-one-out table "
        "(`iometa.leave_one_out`). Where a study contributes several rows to a group (disjoint "
        "cohorts such as its arms; overlapping rows never enter), a three-level model with rows "
        "nested in studies (REML; metafor `rma.mv(yi, vi, random = ~ 1 | study/row)`; "
        "Konstantopoulos 2011, Res Synth Methods 2:61; `iometa.pool_multilevel`) is shown "
        "beside the one-row-one-study analysis as a sensitivity analysis. Groups of 2 to 9 "
        "studies also get the exact Bayesian random-effects model (`iometa.pool_bayes`: "
        "half-normal prior with scale 0.5 on τ, flat prior on the mean, posterior by "
        "numerical integration; Friede et al. 2017, Res Synth Methods 8:79; bayesmeta), "
        "whose credible interval accounts for the uncertainty in τ that few studies leave.")


def override_text(cfg) -> str:
    """The per-outcome settings of the report configuration in one sentence ("" if none)."""
    return _override_words(cfg)


def _override_words(cfg) -> str:
    parts = []
    for outcome, opts in sorted(cfg.overrides.items()):
        if not opts:
            continue
        bits = []
        if "measure" in opts:
            bits.append(f"measure {opts['measure']} (proportions)")
        if "method" in opts:
            bits.append(f"{opts['method']} τ²")
        if "test" in opts:
            bits.append("Knapp–Hartung test" if opts["test"] == "knha" else "z test")
        if "level" in opts:
            bits.append(f"{100 * opts['level']:g}% intervals")
        if "timepoint" in opts:
            bits.append(f"only the rows at {opts['timepoint']:g} months")
        parts.append(f"`{outcome}`: {', '.join(bits)}")
    if not parts:
        return ""
    return "Per outcome, the report configuration sets: " + "; ".join(parts) + "."


def proportion_short(opts) -> str:
    """The one-line method of a proportion section ("Logit random-effects model, REML τ²").

    Example
    -------
    >>> from iometa.report.config import OutcomeOptions
    >>> proportion_short(OutcomeOptions())
    'Logit random-effects model, REML τ² (see [Methods](#methods)).'
    """
    from ..core.measures import scale_name

    scale = "Untransformed" if opts.measure == "PR" else scale_name(opts.measure)
    scale = scale[0].upper() + scale[1:]
    kind = _model_kind(opts).lower()
    tau = "τ² = 0" if kind == "common-effect" else f"{opts.method} τ²"
    test = ", Knapp–Hartung test" if opts.test == "knha" else ""
    level = "" if opts.level == 0.95 else f", {100 * opts.level:g}% intervals"
    return f"{scale} {kind} model, {tau}{test}{level} (see [Methods](#methods))."


PROPORTION_METHOD = proportion_method()
PROPORTION_SHORT = proportion_short(OutcomeOptions())


def median_method_text(cfg=None) -> str:
    """The Methods paragraph on median survival (configured τ² method, test and grouping)."""
    cfg = cfg or ReportConfig()
    opts = cfg.options("")
    model = f"{_model_kind(opts).lower()} model on log medians ({opts.method}"
    model += ", Knapp–Hartung test)" if opts.test == "knha" else ")"
    return (
        "`iometa.pool_medians(route=\"auto\")`. When every study gives a CI (or a number of "
        f"deaths), a {model} with variances from the CIs. When "
        "at least one median is bare (no CI, no number of deaths) it has no variance, so no "
        "inverse-variance model can use it: every study is then pooled by the median of medians "
        "(each study weighs the same), or by the weighted median of medians (weights = number of "
        f"patients) when every n is known; their {pct(opts.level)} CIs invert the sign test "
        "(McGrath et al. "
        "2019, Stat Med 38:969-984). The median of medians has no heterogeneity statistics (I², "
        "τ², prediction interval) and no test for subgroup differences. Groups: "
        f"`iometa.subgroups(result, by={cfg.group_by})`.")


MEDIAN_METHOD = median_method_text()

_MEDIAN_ROUTES = {
    "MM": "median of medians",
    "WM": "weighted median of medians (weights = n)",
}


def median_method(res) -> str:
    """The route used to pool one comparison's medians, in one sentence."""
    st = res.studies
    bare = int((st["route"].astype(str) == "bare").sum()) if "route" in st else 0
    if res.method in _MEDIAN_ROUTES:
        return (f"Pooled by the {_MEDIAN_ROUTES[res.method]}: {bare} of {res.k} medians are "
                "bare (no CI, no number of deaths), so no inverse-variance model is possible "
                "(see [Methods](#methods)).")
    kind = "Common-effect" if res.method == "FE" else "Random-effects"
    tau = "" if res.method == "FE" else f", {res.method} τ²"
    test = ", Knapp–Hartung test" if res.test == "knha" else ""
    return (f"{kind} model on log medians{tau}{test}, variances from the reported CIs "
            "(see [Methods](#methods)).")


def _group_sentences(table: pd.DataFrame, kind: str, unit: str) -> list[str]:
    out = []
    for group, k, est, lo, hi in cells(table, "group", "k", "estimate", "ci_low", "ci_high"):
        if k == 0:
            out.append(f"{group}: no usable study")
        else:
            out.append(f"{group}: {fmt_estci(est, lo, hi, kind)}{unit} (k = {k})")
    return out


def _test_sentence(table: pd.DataFrame) -> str:
    last = table.iloc[-1]
    if last["group"] != "All groups":
        return ""
    if pd.isna(last["p_between"]):
        return " No test for subgroup differences is available (see the method)."
    return (f" Test for subgroup differences: Q = {last['q_between']:.2f}, "
            f"df = {int(last['df_between'])}, p = {fmt_p(last['p_between'])}.")


def median_words(outcome: str) -> str:
    """The median outcome in words ("median overall survival", "median RFS").

    Example
    -------
    >>> median_words("median_os"), median_words("median_rfs")
    ('median overall survival', 'median RFS')
    """
    from .model import pretty_outcome

    spelled = {"median_os": "median overall survival",
               "median_pfs": "median progression-free survival",
               "median_dfs": "median disease-free survival"}
    text = spelled.get(outcome) or pretty_outcome(outcome)
    return text[0].lower() + text[1:]


def median_summary(table: pd.DataFrame, scope: str,
                   words: str = "median overall survival") -> str:
    groups = table[table["group"] != "All groups"]
    where = f" ({scope})" if scope else ""
    return ("Pooled " + words + where + ": "
            + "; ".join(_group_sentences(groups, "median", " months")) + "."
            + _test_sentence(table))


def proportion_summary(table: pd.DataFrame, outcome: str) -> str:
    groups = table[table["group"] != "All groups"]
    return (f"Pooled proportion ({outcome.replace('_', ' ')}): "
            + "; ".join(_group_sentences(groups, "proportion", "")) + "."
            + _test_sentence(table))


def _study_name(label: str, subgroup) -> str:
    sub = "" if pd.isna(subgroup) else str(subgroup).strip()
    return label[: -len(f" ({sub})")] if sub and label.endswith(f" ({sub})") else label


def _row_caveats(rows: pd.DataFrame) -> list[str]:
    out = []
    names = [_study_name(lab, sub) for lab, sub in zip(rows["label"], rows["subgroup"])]
    counts = pd.Series(names).value_counts(sort=False)
    for name, n in counts.items():
        if n > 1:
            subs = [str(s) for s, nm in zip(rows["subgroup"], names) if nm == name]
            out.append(f"{name} contributes {n} rows ({'; '.join(subs)}) as separate cohorts "
                       "of one study: they are not independent studies.")
    for sub, nm in zip(rows["subgroup"], names):
        if not pd.isna(sub) and str(sub).strip() and counts[nm] == 1:
            out.append(f"{nm} enters with a subgroup only ({sub}).")
    for col, what in (("primary", "primary tumours"), ("site", "sites")):
        for g, vals in rows.groupby("group", sort=True)[col]:
            kinds = sorted({text(v) for v in vals} - {""})
            if len(kinds) > 1:
                out.append(f"{g} mixes {what}: {', '.join(kinds)}.")
    return out


def head_to_head(rows: pd.DataFrame) -> list[str]:
    """Studies whose rows in ``rows`` compare groups within the study: a non-empty
    ``comparison_id`` with rows in at least two groups (column ``group``), sorted."""
    if "comparison_id" not in rows or "group" not in rows:
        return []
    cid = rows["comparison_id"]
    d = pd.DataFrame({"cid": cid.astype("string").to_numpy(),
                      "group": rows["group"].astype(str).to_numpy(),
                      "study": rows["study_id"].astype(str).to_numpy()})
    d = d[d["cid"].notna() & (d["cid"].str.strip() != "")]
    n = d.groupby("cid")["group"].nunique()
    both = set(n[n > 1].index)
    return sorted(set(d.loc[d["cid"].isin(both), "study"]))


def indirect_caveat(rows: pd.DataFrame, group: str = "modality") -> str:
    """The caveat on comparing groups, from the rows: which studies (if any) compare the
    groups head to head, and that their arms are pooled as separate groups."""
    many = plural_of(group)
    h2h = head_to_head(rows)
    if not h2h:
        return (f"Indirect comparison: each {group}'s estimate comes from different "
                "single-arm series (different populations, selection and eras); no study "
                f"compares the {many} head to head, so differences between groups are "
                "not treatment effects.")
    names = ", ".join(h2h)
    return (f"Mostly indirect comparison: {names} compare{'s' if len(h2h) == 1 else ''} "
            f"{many} head to head (column `comparison_id`), but here each arm is pooled in its "
            "own group, not as a within-study contrast; the other estimates come from "
            "different series (different populations, selection and eras), so differences "
            "between groups are not treatment effects.")


def common_caveats(table: pd.DataFrame, rows: pd.DataFrame, sub, het: bool = True,
                   group: str = "modality") -> list[str]:
    """Caveats every section needs, computed from its table and rows (``het``: the model has
    heterogeneity statistics; ``group``: what the groups are, in words)."""
    out = []
    groups = table[table["group"] != "All groups"]
    if sub is not None:
        out.append(indirect_caveat(rows, group))
    empty = groups.loc[groups["k"] == 0, "group"].tolist()
    if empty:
        out.append(f"No usable row for {', '.join(empty)}.")
    ones = groups.loc[groups["k"] == 1, "group"].tolist()
    if ones:
        out.append(f"One study only (k = 1) for {', '.join(ones)}: the \"pooled\" value is that "
                   "study's own result, and no heterogeneity can be estimated.")
    twos = groups.loc[groups["k"] == 2, "group"].tolist()
    if twos and het:
        out.append(f"k = 2 for {', '.join(twos)}: τ² and I² are very imprecise and no "
                   "prediction interval is given.")
    return out + _row_caveats(rows)


def median_caveats(res) -> list[str]:
    out = []
    if res.method in ("MM", "WM"):
        out.append("Medians pooled by the median of medians have no heterogeneity statistics "
                   "(I², τ², prediction interval) and no test for subgroup differences: these "
                   "need within-study variances, which bare medians lack. With few studies the "
                   "95% CI is close to the range of the study medians.")
    out.append("Medians come from series with different follow-up and censoring; a median "
               "reported by a short series may be unstable.")
    return out


def proportion_caveats(rows: pd.DataFrame) -> list[str]:
    out = []
    rec = rows.loc[rows["count_source"] == "reconstructed", "label"].tolist()
    if rec:
        out.append(f"Counts reconstructed from a printed percentage and the study's n for "
                   f"{', '.join(rec)} (exact to ±0.5/n).")
    units = sorted({text(u, "unstated") for u in rows["unit_of_analysis"]})
    if len(units) > 1:
        out.append(f"The proportions count different units ({', '.join(units)}).")
    return out

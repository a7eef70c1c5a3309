"""Cells of ``02_transarterial_tace_tare.ipynb``: cTACE, DEB-TACE and TARE for liver
metastases (and TARE combined with immune checkpoint inhibitors)."""

from cells_common import LIMITS, SETUP, SETUP_INTRO

CELLS = [
    ("markdown", """
     # Transarterial therapies: cTACE, DEB-TACE and TARE

     Transarterial chemoembolisation (conventional TACE, **cTACE**, coded `TACE` in the study
     table for every series not described as drug-eluting-bead TACE; and **DEB-TACE**) and
     transarterial
     radioembolisation with yttrium-90 (**TARE**) are used for liver-dominant metastatic breast
     cancer, usually after several lines of systemic therapy. This notebook pools what the
     study table holds on **median overall survival** (mixing medians reported with and without
     a confidence interval, and showing how each study entered), **tumour response** and
     **toxicity**, compares **TACE with TARE** as far as the data allow, and ends with the
     small literature on **TARE combined with immune checkpoint inhibitors (TARE + ICI)**,
     which comes from other primaries (hepatocellular carcinoma, uveal melanoma).
     """),
    LIMITS,
    ("markdown", """
     For transarterial therapies the between-study differences are larger still than for
     ablation: TARE series typically treat more heavily pre-treated patients with a larger
     hepatic tumour burden, as salvage, whereas TACE series vary in drug, embolic agent and
     schedule. Survival is measured from the first procedure, whose timing in the course of
     the disease differs between series.
     """),
    SETUP_INTRO,
    SETUP,
    ("markdown", """
     ## 1. What the study table holds

     Liver rows treated with a transarterial modality, counted as studies per outcome and
     modality, and the list of studies with their primary tumour and design:
     """),
    ("code", """
     TRANSARTERIAL = ["TACE", "DEB-TACE", "TARE", "TAE", "HAI", "TARE+ICI", "TACE+ICI"]
     ta = studies[(studies["site"] == "liver") & studies["modality"].isin(TRANSARTERIAL)]
     display(ta.pivot_table(index="outcome", columns="modality", values="study_id",
                            aggfunc="nunique", fill_value=0, observed=True))
     ta_studies = ta.drop_duplicates("study_id")[
         ["study_id", "author", "year", "source", "modality", "primary", "design"]]
     # the study's patients: n_patients of its rows that are not an arm (an arm's own size
     # is often not printed)
     n_study = ta[ta["arm"].isna()].groupby("study_id")["n_patients"].max()
     ta_studies.assign(n_patients=ta_studies["study_id"].map(n_study).astype("Int64"))
     """),
    ("markdown", """
     ## 2. Median overall survival in breast-cancer liver metastases

     The rows with a breast primary. A median reported with its 95% CI has a standard error
     (from the CI width on the log scale); a bare median does not. `pool_medians(route="auto")`
     uses the inverse-variance model only when every study has a standard error; as soon as
     one median is bare, all studies are pooled by the median of the medians (MM; the
     n-weighted version WM when every n is known), and a median with a CI then enters by its
     value only. The table of studies says which **route** each study took and why.

     The chemotherapy arms of one trial (Vogl 2010) are separate rows with an `arm`: different
     patients, but their sizes are not printed, so their `n_patients` is empty.
     `outcome_rows` gives every row it keeps `n_used`, the patients the row stands for (empty
     for an arm of unknown size), and we pool with `n="n_used"`: the trial is never counted
     three times in totals and weights.
     """),
    ("code", """
     BREAST_TA = ["TACE", "DEB-TACE", "TARE"]
     mos = outcome_rows(studies, "median_os", site="liver", primary="breast",
                        modality=BREAST_TA)
     mos_rows = mos.rows
     arm = mos_rows["arm"].notna()
     show_selection(mos, ["label", "modality", "design", "arm", "n_used", "value", "ci_low",
                          "ci_high"])
     display(Markdown(f"Arms of unknown size (n_used empty): {int(arm.sum())} row(s): "
                      + ", ".join(mos_rows.loc[arm, "label"]) + "."))
     """),
    ("code", """
     mos_res = iometa.pool_medians("value", ci_low="ci_low", ci_high="ci_high", n="n_used",
                                   labels="label", data=mos_rows)
     display(mos_res.studies[["label", "median", "ci_low", "ci_high", "n", "route", "reason"]])
     display(Markdown(f"All transarterial series with a breast primary: "
                      f"{estimate_text(mos_res)}."))
     """),
    ("markdown", """
     For contrast, `route="iv"` keeps only the medians that have a standard error and leaves
     the bare ones out (listed in `result.extra["excluded"]`). It shows how little of this
     evidence an inverse-variance analysis could use:
     """),
    ("code", """
     mos_iv = iometa.pool_medians("value", ci_low="ci_low", ci_high="ci_high",
                                  n="n_used", labels="label", data=mos_rows, route="iv")
     display(Markdown(f"Inverse-variance route: {estimate_text(mos_iv)}; "
                      f"{len(mos_iv.extra['excluded'])} bare median(s) left out."))
     """),
    ("markdown", """
     ### TACE vs DEB-TACE vs TARE

     Subgroups by modality, with a diamond per modality. The forest plot's heterogeneity lines
     and prediction interval are switched off because a median of medians has none; the
     footnote says how the medians were pooled.
     """),
    ("code", """
     mos_sub = iometa.subgroups(mos_res, by="modality")
     fig = iometa.forest_plot(
         mos_sub, heterogeneity=False, pi=None,
         footnote=f"Pooled by the {mos_res.method_name}; a median with a 95% CI enters by its "
                  "value only. Bare medians carry no standard error, so no heterogeneity "
                  "statistics or prediction intervals exist.")
     print("Test for subgroup differences (separate τ²):", mos_sub.test_separate.describe(3))
     print("Test for subgroup differences (common τ²):  ", mos_sub.test_common.describe(3))
     mos_sub.contrasts()[["group_a", "group_b", "contrast", "contrast_estimate",
                          "contrast_ci_low", "contrast_ci_high", "pval"]]
     """),
    ("code", """
     groups = "; ".join(f"{name} {months(g.estimate)} (k = {g.k}; range of study medians "
                        f"{months(g.studies['median'].min())} to "
                        f"{months(g.studies['median'].max())})"
                        for name, g in mos_sub.groups.items())
     per_study = mos_rows.groupby(mos_rows["modality"].astype(str))["study_id"].nunique()
     arms = ", ".join(f"{m}: {mos_sub.groups[m].k} medians from {n} stud{'y' if n == 1 else 'ies'}"
                      for m, n in per_study.items() if mos_sub.groups[m].k > n)
     display(Markdown(
         f"Median OS by modality: {groups}. The ratio of the pooled medians is printed above "
         "without a CI or p-value: with bare medians no test for subgroup differences exists. "
         + (f"Arms of one trial enter as separate medians ({arms}), so k overstates the "
            "number of independent studies. " if arms else "")
         + "Any ordering of the modalities here reflects which patients each series treated "
         "as much as the treatment itself."))
     """),
    ("markdown", """
     Rows of the same outcome that were **not** pooled (ranges across studies from a
     systematic review are not estimates), and the mean OS of the same trial arms (a
     different quantity, never pooled with medians):
     """),
    ("code", """
     mean_os = ta[ta["outcome"] == "mean_os"]
     display(mos.excluded[["label", "modality", "value", "reason"]])
     mean_os[["study_id", "modality", "subgroup", "value", "unit"]]
     """),
    ("markdown", """
     ## 3. Tumour response

     Response categories (complete and partial response, stable and progressive disease,
     by RECIST-type criteria) are proportions of the treated patients. The cTACE studies
     print counts for partial response, stable disease and progressive disease. Before
     pooling we check what the counts imply: if the three categories add up to all treated
     patients, no complete response occurred, and the objective response rate
     (CR + PR) equals the partial-response rate.
     """),
    ("code", """
     CATEGORIES = ["partial_response", "stable_disease", "progressive_disease"]
     counts = ta[ta["outcome"].isin(CATEGORIES) & ta["events"].notna()]
     check = counts.pivot_table(index="study_id", columns="outcome", values="events",
                                aggfunc="sum", observed=True)
     check["sum"] = check[CATEGORIES].sum(axis=1)
     check["total"] = counts.groupby("study_id")["total"].first()
     check["implied CR"] = check["total"] - check["sum"]
     check
     """),
    ("code", """
     response = {}
     for outcome in CATEGORIES:
         sel = outcome_rows(studies, outcome, site="liver", modality=BREAST_TA)
         response[outcome] = iometa.pool_proportions("events_used", "total_used",
                                                     labels="label", data=sel.rows)
     pd.DataFrame({"outcome": list(response), "k": [r.k for r in response.values()],
                   "pooled": [estimate_text(r) for r in response.values()],
                   "I²": [f"{r.i2:.0f}%" for r in response.values()]})
     """),
    ("code", """
     pr = response["partial_response"]
     no_cr = bool((check["implied CR"] == 0).all())
     display(Markdown(
         (f"The categories add up to all treated patients in every counted study, so the "
          f"objective response rate of cTACE equals its partial-response rate: "
          f"{estimate_text(pr)}." if no_cr else
          "The categories do not add up to the treated patients in every study, so the "
          "objective response rate cannot be read off the partial-response rate.")))
     fig = iometa.forest_plot(pr, columns={"design": "Design"})
     """),
    ("markdown", """
     With so few studies, how much do the analysis choices matter? The method-sensitivity table
     pools the partial-response counts under every scale × τ² estimator × test. Look at the
     `knha` rows: the Hartung–Knapp adjustment uses a t distribution with k − 1 degrees of
     freedom, which for k = 2 is so wide that the confidence interval covers much of the
     possible range. That width, not the narrow z interval, is the honest statement of what so
     few studies can tell.
     """),
    ("code", """
     ms = iometa.method_sensitivity(pr)
     display(ms[["measure", "method", "test", "k"]].assign(
         estimate=ms["estimate"].map(pct),
         ci=[f"{pct(lo)} to {pct(hi)}" for lo, hi in zip(ms["ci_low"], ms["ci_high"])],
         tau2=ms["tau2"].round(4)))
     print("Cautions attached to these fits:")
     for w in ms["warnings"].unique():
         print(" -", w)
     """),
    ("markdown", """
     Influence and small-study checks on the same studies. With k = 2, deleting one study
     leaves one, so the influence table can only say which study holds most of the weight
     (metafor's "influential" flag means no more than that then); the small-study tests need
     at least three studies, and iometa says so.
     """),
    ("code", """
     run_checks(pr)
     """),
    ("markdown", """
     The other response rows — DEB-TACE and TARE objective responses printed as percentages
     without denominators, a range across studies from a systematic review, and one TARE
     "complete response" whose extraction note questions what it measured:
     """),
    ("code", """
     other_response = ta[ta["outcome"].isin(["objective_response", "complete_response"])
                         & ta["primary"].eq("breast")]
     with pd.option_context("display.max_colwidth", None):
         display(other_response[["study_id", "modality", "outcome", "subgroup", "events",
                                 "total", "value", "value_type", "notes"]])
     tare_orr = other_response[(other_response["modality"] == "TARE")
                               & other_response["events"].isna()]
     display(Markdown(
         f"cTACE objective response (pooled, k = {pr.k}): {pct(pr.estimate)}. DEB-TACE and "
         "TARE objective responses as printed, without denominators: "
         + "; ".join(f"{r.study_id} ({r.modality}) {pct(r.value)}"
                     for r in other_response[other_response["outcome"] == "objective_response"]
                     .query("value_type == 'estimate'").itertuples())
         + f". No TACE-vs-TARE comparison of response is possible: {len(tare_orr)} TARE "
         "response row(s) without counts, and response criteria and timing differ between "
         "series."))
     """),
    ("markdown", """
     ## 4. Toxicity

     Toxicity rows are listed, not pooled: each series defines and grades toxicity
     differently (grade ≥ 3 adverse events, "clinical" toxicities, hepatobiliary toxicity,
     treatment-related deaths), and rows of one study (early and delayed toxicity in the
     same patients) are not independent studies. Where counts exist, each row gets its exact
     (Clopper–Pearson) 95% CI, computed with `iometa.ci_clopper_pearson`.
     """),
    ("code", """
     TOXICITY = ["severe_adverse_event", "adverse_event", "treatment_related_death",
                 "complication", "major_complication", "minor_complication"]
     tox = ta[ta["outcome"].isin(TOXICITY)].copy()
     has = tox["events"].notna() & tox["total"].notna()
     lo, hi = iometa.ci_clopper_pearson(tox.loc[has, "events"].astype(int),
                                        tox.loc[has, "total"].astype(int))
     tox["exact 95% CI"] = "no count"
     tox.loc[has, "exact 95% CI"] = [f"{pct(a)} to {pct(b)}" for a, b in zip(lo, hi)]
     tox["reported"] = [pct(v) + ("" if t == "estimate" else f" ({t.replace('_', ' ')})")
                        for v, t in zip(tox["value"], tox["value_type"])]
     tox[["study_id", "modality", "primary", "outcome", "subgroup", "events", "total",
          "reported", "exact 95% CI"]]
     """),
    ("markdown", """
     ## 5. TARE combined with immune checkpoint inhibitors

     The interventional-oncology update (`newbury2022`) reports early series of TARE followed by (or combined with) immune
     checkpoint inhibitors, in hepatocellular carcinoma and uveal melanoma, and, as the
     review's own comparators, TARE-alone series in the same diseases. They are shown side by
     side **by primary tumour**; none is pooled with another:

     * a cohort reporting medians from different time origins (from TARE, and from the start
       of immunotherapy) gives several views of the same patients, not several studies:
       `outcome_rows` keeps the one measured from the procedure (TARE) and lists the other
       with the reason;
     * a TARE + ICI series and a separate TARE-alone series differ in patients, era and
       selection, so the difference between them is not the effect of adding the ICI.
     """),
    ("code", """
     ici = outcome_rows(studies, "median_os", site="liver", modality=["TARE+ICI", "TARE"],
                        source="newbury2022")
     display(ici.excluded[["label", "subgroup", "value", "reason"]])
     ici.rows.sort_values(["primary", "modality"])[
         ["label", "modality", "primary", "subgroup", "design", "n_used", "value"]]
     """),
    ("code", """
     lines = []
     for primary, rows in ici.rows.groupby(ici.rows["primary"].astype(str)):
         parts = [f"{r.modality} {months(r.value)} ({r.label})" for r in rows.itertuples()]
         lines.append(f"- {primary}: " + "; ".join(parts))
     display(Markdown("Median OS by primary tumour, as reported:\\n\\n" + "\\n".join(lines)))
     """),
    ("markdown", """
     ## 6. Summary
     """),
    ("code", """
     tare = mos_sub.groups.get("TARE")
     tace = mos_sub.groups.get("TACE")
     lines = [
         f"- Median OS, breast-cancer liver metastases, all transarterial series: "
         f"{estimate_text(mos_res)}.",
         "- By modality: " + "; ".join(f"{n} {estimate_text(g)}"
                                       for n, g in mos_sub.groups.items()) + ".",
         f"- Test for subgroup differences: {mos_sub.test_separate.describe(3)}.",
         f"- Objective response, cTACE: {estimate_text(pr)}; no counted response rows for "
         "DEB-TACE or TARE.",
         f"- Toxicity: {int(has.sum())} row(s) with counts, listed with exact CIs; not pooled "
         "(different definitions).",
     ]
     if tare is not None and tace is not None:
         lines.append(
             f"- TACE vs TARE: pooled medians {months(tace.estimate)} vs "
             f"{months(tare.estimate)}, from {per_study['TACE']} cTACE stud"
             f"{'y' if per_study['TACE'] == 1 else 'ies'} ({tace.k} medians) and "
             f"{per_study['TARE']} TARE series in different patients; not a comparison of the "
             "treatments.")
     display(Markdown("\\n".join(lines)))
     """),
]

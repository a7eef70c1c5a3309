"""Cells of ``03_bone_lung_other_sites.ipynb``: lung and adrenal ablation, bone ablation and
consolidation, breast-primary ablation and prostate focal laser ablation."""

from cells_common import LIMITS, SETUP, SETUP_INTRO

CELLS = [
    ("markdown", """
     # Beyond the liver: lung, adrenal, bone, breast and prostate

     Interventional oncology outside the liver in the study table: **ablation of lung and
     adrenal metastases**, **ablation and consolidation of bone and spinal metastases** (local
     control, pain relief, survival), and the smaller literatures the reviews also cover —
     **ablation of the breast primary** (and of benign fibroadenomas) and **focal laser
     ablation of prostate cancer**. Each section shows what was reported, what could be
     pooled, and why the rest could not.
     """),
    LIMITS,
    SETUP_INTRO,
    SETUP,
    ("markdown", """
     ## 1. Which sites the table covers

     Rows and studies per treated site (every site of the vocabulary is listed, so a site with
     no data shows a zero rather than disappearing). The liver is covered in notebooks 01
     and 02.
     """),
    ("code", """
     sites = pd.DataFrame({"rows": studies["site"].value_counts(),
                           "studies": studies.groupby("site", observed=False)["study_id"]
                           .nunique()}).drop(index="liver")
     sites.sort_values("rows", ascending=False)
     """),
    ("markdown", """
     ## 2. Lung and adrenal ablation

     The lung rows: ablation of lung metastases, with a median overall survival and survival
     rates at yearly landmarks. `survival_table` pools each time point (with a single study it
     reports that study with its CI, on the complementary log-log scale) and checks the rates against the median under a constant hazard,
     S(t) = 2^(−t / median).
     """),
    ("code", """
     lung = studies[studies["site"] == "lung"]
     display(lung[["study_id", "modality", "primary", "n_patients", "outcome",
                   "timepoint_months", "value", "notes"]])
     lung_surv = iometa.survival_table(lung, by="modality")
     display(lung_surv[["time", "group", "k", "N", "estimate", "ci_low", "ci_high", "median",
                        "exp_rate", "exp_disagree"]])
     fig = iometa.survival_plot(lung_surv)
     """),
    ("code", """
     lines = [f"- {r.time / 12:g}-year OS after lung RFA: {pct(r.estimate)} (95% CI "
              f"{pct(r.ci_low)} to {pct(r.ci_high)}; k = {r.k}, N = {r.N:.0f}); constant-hazard "
              f"value from the median of {months(r.median)}: {pct(r.exp_rate)}"
              for r in lung_surv.itertuples()]
     adrenal = studies[studies["site"] == "adrenal"]
     lines.append(f"- Adrenal ablation: {len(adrenal)} row(s) in the study table.")
     display(Markdown("\\n".join(lines)))
     """),
    ("markdown", """
     Where k = 1 there is nothing to pool across studies: the CIs above are then that study's
     own, built from its n when the review prints no CI (censoring is ignored, so they are
     somewhat too narrow). Where the constant-hazard values and the reported rates
     differ, the survival curve is not exponential — typically because early deaths are rare
     after selection for ablation.

     Adrenal metastases appear in the reviews only as background epidemiology (see the
     *Excluded numbers* table of `data/README.md`), so the study table has no adrenal
     ablation outcome to analyse.
     """),
    ("markdown", """
     ## 3. Bone and spine: ablation and consolidation

     Bone metastases are treated for pain, for local control and to prevent fractures:
     thermal ablation (RFA, cryoablation), cement consolidation (vertebroplasty,
     cementoplasty), both combined, and transarterial embolisation (TAE). The rows:
     """),
    ("code", """
     bone = studies[studies["site"].isin(["bone", "spine"])]
     bone[["study_id", "modality", "site", "primary", "design", "outcome", "subgroup",
           "timepoint_months", "events", "total", "value", "value_type", "unit"]]
     """),
    ("markdown", """
     ### Local control

     Local control at fixed times is, like survival, usually a Kaplan–Meier estimate. A rate
     without its number of patients or lesions has no variance and cannot be pooled;
     `outcome_rows` gives the reason for every row it leaves out, and the second table shows
     all local-control rates as reported, by time point (months):
     """),
    ("code", """
     lc = outcome_rows(studies, "local_control", site=["bone", "spine"])
     show_selection(lc, ["label", "modality", "timepoint_months", "events_used", "total_used"])
     lc_all = bone[bone["outcome"] == "local_control"]
     lc_all.pivot_table(index=["study_id", "modality"], columns="timepoint_months",
                        values="value", observed=True).map(pct)
     """),
    ("markdown", """
     ### Pain relief and function

     Pain relief is the main goal of bone consolidation and ablation. Rows with counts are
     pooled (check the unit: a proportion of treated lesions is not a proportion of patients);
     percentages without a denominator are listed. A mean pain score (visual analogue scale,
     0–10) before and after treatment, printed without a standard deviation, gives a change
     that cannot be given a CI or pooled.
     """),
    ("code", """
     pain = outcome_rows(studies, "pain_relief", site=["bone", "spine"])
     show_selection(pain, ["label", "modality", "unit_of_analysis", "timepoint_months",
                           "events_used", "total_used"])
     pain_res = iometa.pool_proportions("events_used", "total_used", labels="label",
                                        data=pain.rows)
     function = outcome_rows(studies, "functional_improvement", site=["bone", "spine"])
     function_res = iometa.pool_proportions("events_used", "total_used", labels="label",
                                            data=function.rows)
     fig = iometa.forest_plot(pain_res, columns={"modality": "Modality",
                                                 "unit_of_analysis": "Unit"})
     """),
    ("code", """
     vas = bone[bone["outcome"] == "vas_pain_score"]
     before = vas.loc[vas["subgroup"] == "baseline", "value"]
     after = vas.loc[vas["timepoint_months"].notna(), ["value", "timepoint_months"]]
     lines = [f"- Pain relief: {estimate_text(pain_res)}; not pooled (no denominator): "
              + "; ".join(f"{r.label} ({r.modality}) {pct(r.value)}"
                          for r in pain.excluded.itertuples()),
              f"- Improved limb function: {estimate_text(function_res)}"]
     for b, a in zip(before, after.itertuples()):
         lines.append(f"- Mean VAS pain score (vertebroplasty): {b:g} before, {a.value:g} at "
                      f"{a.timepoint_months:g} months (a fall of {b - a.value:g} points; no SD, "
                      "so no CI)")
     display(Markdown("\\n".join(lines)))
     """),
    ("markdown", """
     ### Survival after bone ablation

     Without n (or a CI) a survival rate has no variance, and `survival_table` leaves it out
     with the reason — it does not guess an n:
     """),
    ("code", """
     bone_surv = iometa.survival_table(bone, by="modality")
     display(bone_surv.attrs["excluded"])
     display(Markdown(f"Pooled bone survival cells: {len(bone_surv)}. As reported: "
                      + "; ".join(f"{r.study_id} {r.outcome.replace('_', ' ')}"
                                  + (f" at {r.timepoint_months:g} months"
                                     if pd.notna(r.timepoint_months) else "")
                                  + f": {pct(r.value) if r.unit == 'proportion' else months(r.value)}"
                                  for r in bone[bone["outcome"].isin(["os_rate", "median_os"])]
                                  .itertuples())))
     """),
    ("markdown", """
     ### Complications of cement consolidation

     Complication rows for bone and spine procedures (ends of a range across studies, such as
     a range quoted from a practice guideline, are not estimates):
     """),
    ("code", """
     comp = outcome_rows(studies, "complication", site=["bone", "spine"])
     show_selection(comp, ["label", "modality", "events_used", "total_used"])
     """),
    ("markdown", """
     ## 4. Ablation of the breast primary (and of fibroadenomas)

     Percutaneous ablation of small breast cancers is reported (in `newbury2022`) mainly
     through meta-analyses of RFA in small invasive ductal carcinomas. Meta-analyses of
     largely the same primary studies must not be pooled with each other (their patients
     overlap). The other rows are early series: cryoablation with immunotherapy before
     mastectomy, MWA, RFA, and cryoablation of benign fibroadenomas.
     """),
    ("code", """
     breast = studies[studies["site"] == "breast"]
     breast[["study_id", "modality", "primary", "design", "outcome", "subgroup",
             "timepoint_months", "events", "total", "value", "value_type", "lesion_size_cm"]]
     """),
    ("code", """
     ca_breast = outcome_rows(studies, "complete_ablation", site="breast")
     show_selection(ca_breast, ["label", "modality", "design", "events_used", "total_used"])
     ma = breast[breast["design"] == "meta_analysis"]
     display(Markdown(
         "As reported by the meta-analyses (RFA, tumours below "
         f"{ma['lesion_size_cm'].max():g} cm): "
         + "; ".join(f"{r.study_id} {r.outcome.replace('_', ' ')} {pct(r.value)}"
                     for r in ma.itertuples()) + "."))
     """),
    ("markdown", """
     ## 5. Focal laser ablation of prostate cancer

     Treatment-site biopsy results after focal laser ablation and its minor complications.
     Each proportion with counts gets its exact (Clopper–Pearson) 95% CI; nothing is pooled
     across outcomes, and the biopsy categories are checked against their common
     denominator.
     """),
    ("code", """
     prostate = studies[studies["site"] == "prostate"].copy()
     has = prostate["events"].notna() & prostate["total"].notna()
     lo, hi = iometa.ci_clopper_pearson(prostate.loc[has, "events"].astype(int),
                                        prostate.loc[has, "total"].astype(int))
     prostate["exact 95% CI"] = "no count"
     prostate.loc[has, "exact 95% CI"] = [f"{pct(a)} to {pct(b)}" for a, b in zip(lo, hi)]
     prostate["reported"] = prostate["value"].map(pct)
     prostate[["study_id", "design", "n_patients", "outcome", "subgroup", "timepoint_months",
               "events", "total", "reported", "exact 95% CI"]]
     """),
    ("code", """
     biopsy = prostate[prostate["outcome"].astype(str).str.startswith("biopsy")]
     total = biopsy["total"].iloc[0]
     display(Markdown(
         f"The biopsy categories add up to {int(biopsy['events'].sum())} men, against the "
         f"printed denominator of {int(total)}; the table keeps the printed denominator "
         "(see the row notes and `data/README.md`), so the proportions are slightly lower "
         "than the percentages the review printed. Metastasis-free and cancer-specific "
         "survival are printed without a time point: "
         + "; ".join(f"{r.outcome.replace('_', ' ')} {pct(r.value)}"
                     for r in prostate[prostate["events"].isna()].itertuples()) + "."))
     """),
    ("markdown", """
     ## 6. Other rows

     Rows at a mixed or unspecified site (oligometastatic disease treated in several organs):
     """),
    ("code", """
     studies[studies["site"] == "mixed"][["study_id", "modality", "primary", "design",
                                          "outcome", "value", "unit", "notes"]]
     """),
    ("markdown", """
     ## 7. Summary
     """),
    ("code", """
     outside = studies[studies["site"] != "liver"]
     pooled = {"pain relief (bone)": pain_res, "improved limb function (bone)": function_res}
     k_max = max([r.k for r in pooled.values()] + lung_surv["k"].tolist())
     lines = [f"- {len(outside)} rows from {outside['study_id'].nunique()} studies outside the "
              "liver; the largest number of studies behind any estimate in this notebook is "
              f"{k_max}."]
     lines += [f"- {name}: {estimate_text(r)}" for name, r in pooled.items()]
     lines += [f"- Lung RFA, {r.time / 12:g}-year OS: {pct(r.estimate)} (k = {r.k})"
               for r in lung_surv.itertuples()]
     lines.append(f"- Bone local control: {len(lc.rows)} poolable row(s) of "
                  f"{len(lc.rows) + len(lc.excluded)}; bone survival: {len(bone_surv)} "
                  "poolable cell(s).")
     lines.append(f"- Adrenal: {len(adrenal)} row(s). Breast-primary complete ablation: "
                  f"{len(ca_breast.rows)} poolable row(s) ({ma['study_id'].nunique()} "
                  "meta-analyses, which overlap).")
     lines.append("- None of these estimates compares treatments: "
                  + ("each rests on one series, " if k_max == 1 else "")
                  + "and the series differ in patients, intent (pain, local control, cure) and "
                  "follow-up.")
     display(Markdown("\\n".join(lines)))
     """),
]

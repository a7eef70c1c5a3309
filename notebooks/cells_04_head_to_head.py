"""Cells of ``04_head_to_head.ipynb``: comparative (two-arm) studies, pooled directly (MWA vs
RFA from the study table; TARE vs TACE from a fictional example table), next to the indirect
comparison of single-arm series."""

from cells_common import SETUP, SETUP_INTRO

SETUP_04 = SETUP  # iometa.set_display prints cautions without folders or code paths

CELLS = [
    ("markdown", """
     # Head-to-head comparisons: MWA vs RFA, TARE vs TACE

     The other notebooks compare modalities **indirectly**: each modality's single-arm series
     are pooled on their own and the pooled figures are set side by side. This notebook pools
     **comparative studies directly**: trials and cohorts that treated both arms, each study
     contributing its own within-study contrast (an odds ratio, a risk ratio or a risk
     difference), as RevMan, R's `meta::metabin` and `metafor::rma.mh` do.

     1. How a comparison is stored in the study table (arm rows linked by `comparison_id`).
     2. **MWA vs RFA** from the real comparative rows of the study table
        (`iometa.comparison_rows` → `iometa.pool_two_groups`, Mantel–Haenszel and inverse
        variance, RevMan-style forest plot), next to the indirect comparison of the same
        modalities' single-arm rows.
     3. **TARE vs TACE** from a **fictional** example table (the study table has no
        head-to-head TARE-vs-TACE rows), directly and indirectly, and why the two can differ.
     """),
    ("markdown", """
     > **Read this before the numbers.** A head-to-head study compares its two arms within
     > the same centres, period and (in a trial) randomised patients, so its contrast is not
     > confounded by case mix the way a comparison of single-arm series is. It is still one
     > study: the study table holds only a few comparative studies, and with such
     > small numbers of studies (k) a pooled contrast is little more than those studies' own, the
     > heterogeneity between them cannot be estimated, and zero-event arms make some methods
     > inestimable (iometa says which and why). Non-randomised comparative cohorts can still be
     > confounded by indication. The TARE-vs-TACE part uses invented numbers to show the
     > mechanics only.
     """),
    SETUP_INTRO,
    SETUP_04,
    ("code", """
     def ratio_text(res):
         \"\"\"A pooled contrast with its confidence interval, in words.\"\"\"
         digits = 3 if res.measure == "RD" else 2
         lvl = round(100 * res.level)
         return (f"{res.measure} {res.estimate:.{digits}f} ({lvl}% CI {res.ci_low:.{digits}f} "
                 f"to {res.ci_high:.{digits}f}; k = {res.k}; {res.method_name})")


     def try_pool(label, **kw):
         \"\"\"Pool the paired rows with pool_two_groups; print the result or iometa's reason.\"\"\"
         try:
             res = iometa.pool_two_groups("events_1", "total_1", "events_2", "total_2",
                                          labels="label", **kw)
         except ValueError as err:
             print(f"{label}: not estimable. iometa: {err}")
             return None
         print(f"{label}: {ratio_text(res)}")
         return res
     """),
    ("markdown", """
     ## 1. How a comparison is stored

     A comparative study is stored as **arm rows**: one row per arm (and outcome and time
     point), with the arm's modality in `arm`, the arm's own size in `n_patients`/`total`, and
     the same `comparison_id` on every arm (see `data/README.md`, *How to store a comparison*).
     The loader checks that the rows of a comparison belong to one study, that it has at least
     two arms, that every outcome is given for each arm at the same time point and unit of
     analysis, and that events do not exceed the total in any arm. The study table's
     comparative rows:
     """),
    ("code", """
     arms = studies[studies["comparison_id"].notna()]
     arms[["line", "study_id", "comparison_id", "arm", "outcome", "timepoint_months", "events",
           "total", "value", "n_patients"]]
     """),
    ("markdown", """
     ## 2. MWA vs RFA

     ### Direct: local tumour progression

     `comparison_rows` pairs the MWA arm (group 1) with the RFA arm (group 2) of every
     comparison of the outcome and lists every arm row it cannot use with the reason (here the
     rows of the cryoablation-vs-RFA trial, and its stratum by lesion size). Local progression
     is reported per patient by one comparison and per nodule by another: units are never
     mixed, so `unit=` chooses (per patient here; per nodule below). The paired table goes
     straight into `pool_two_groups`.
     """),
    ("code", """
     ltp = iometa.comparison_rows(studies, "local_progression", treatment="MWA", control="RFA",
                                  unit="patients")
     display(Markdown(f"**{ltp.outcome}**, {ltp.treatment} vs {ltp.control}: "
                      f"{len(ltp.rows)} comparison(s) paired, {len(ltp.excluded)} arm row(s) "
                      "not used." + (f" ({ltp.note})" if ltp.note else "")))
     display(ltp.rows[["label", "comparison_id", "timepoint_months", "unit_of_analysis",
                       "events_1", "total_1", "events_2", "total_2", "line_1", "line_2"]])
     ltp.excluded[["line", "label", "arm", "timepoint_months", "reason"]]
     """),
    ("markdown", """
     Mantel–Haenszel (the RevMan default for dichotomous data) and inverse variance. With no
     event in the MWA arm the Mantel–Haenszel odds and risk ratios of a single study are not
     estimable (no table contributes to the numerator); the risk difference is. The inverse
     variance and Peto methods use the table with ½ added to every cell (escalc's `to="only0"`).
     """),
    ("code", """
     data = ltp.rows
     mh_rd = try_pool("Mantel–Haenszel risk difference", data=data, measure="RD", method="MH")
     mh_or = try_pool("Mantel–Haenszel odds ratio", data=data, measure="OR", method="MH")
     peto = try_pool("Peto odds ratio", data=data, measure="OR", method="Peto")
     iv_rr = try_pool("Inverse-variance risk ratio", data=data, measure="RR", method="FE")
     """),
    ("markdown", """
     The RevMan-style forest plot (`layout="RevMan5"`): events and totals per arm, weight, the
     risk ratio with its CI under a header naming the method and model, the heterogeneity and
     overall-effect lines; the arm names come from the paired rows. Local progression is a
     harm, so a ratio below one favours MWA.
     """),
    ("code", """
     fig = iometa.forest_plot(iv_rr, layout="RevMan5")
     """),
    ("markdown", """
     ### Direct: per nodule, complete ablation and local progression

     The per-nodule comparison pairs its arms the same way. Complete ablation is a benefit
     (a risk ratio above one favours MWA), local progression a harm. Each analysis rests on a
     single comparative study, so its pooled ratio is that study's own.
     """),
    ("code", """
     for outcome in ("complete_ablation", "local_progression"):
         sel = iometa.comparison_rows(studies, outcome, "MWA", "RFA", unit="lesions")
         display(sel.rows[["label", "unit_of_analysis", "events_1", "total_1", "events_2",
                           "total_2"]])
         res = try_pool(f"{outcome}: Mantel–Haenszel risk ratio", data=sel.rows, measure="RR",
                        method="MH")
     fig = iometa.forest_plot(res, layout="RevMan5")
     """),
    ("markdown", """
     ### Direct: major complications, a double-zero study

     Neither arm had a major complication. The Mantel–Haenszel and Peto methods have nothing to
     estimate; the inverse-variance methods keep the study with ½ added to every cell (as
     metafor does), which gives a very wide interval centred near no effect.
     """),
    ("code", """
     comp = iometa.comparison_rows(studies, "major_complication", "MWA", "RFA")
     display(comp.rows[["label", "events_1", "total_1", "events_2", "total_2"]])
     _ = try_pool("Mantel–Haenszel odds ratio", data=comp.rows, measure="OR", method="MH")
     _ = try_pool("Peto odds ratio", data=comp.rows, measure="OR", method="Peto")
     iv_comp = try_pool("Inverse-variance odds ratio", data=comp.rows, measure="OR",
                        method="FE")
     """),
    ("markdown", """
     ### Indirect: the single-arm rows of the same modalities

     The indirect route pools every MWA row and every RFA row of local progression at the same
     time point (one year, per patient) as separate single-arm series and compares the pooled
     proportions with a test for subgroup differences. It uses the arms of both trials, including
     the RFA arm of the cryoablation trial, whose patients were never compared with MWA.
     """),
    ("code", """
     single = outcome_rows(studies, "local_progression", modality=["MWA", "RFA"],
                           unit_of_analysis="patients", timepoint=12)
     display(single.rows[["label", "modality", "events_used", "total_used", "count_source"]])
     single_res = iometa.pool_proportions("events_used", "total_used", data=single.rows,
                                          labels="label")
     single_sub = iometa.subgroups(single_res, by="modality")
     for name, g in single_sub.groups.items():
         print(f"{name}: {estimate_text(g)}")
     print("Test for subgroup differences:", single_sub.test_separate.describe(3))
     """),
    ("markdown", """
     ## 3. TARE vs TACE (fictional example)

     > **FICTIONAL DATA.** The study table has no head-to-head TARE-vs-TACE rows (the comparative
     > study the reviews cite could not be found in the stored corpus; see `data/README.md`).
     > The table [`example_head_to_head.csv`](example_head_to_head.csv) next to this notebook is
     > **invented**: its studies (`Example-P` … `Example-X`) do not exist and its numbers are
     > not evidence about either treatment. It holds five comparative studies stored as arm
     > rows and four single-arm series, to show the mechanics of a direct and an indirect
     > comparison of objective response.
     """),
    ("code", """
     example = iometa.load_studies("example_head_to_head.csv")
     example[["study_id", "author", "year", "modality", "design", "arm", "comparison_id",
              "events", "total"]]
     """),
    ("markdown", """
     ### Direct

     Objective response is a benefit, so an odds ratio above one favours TARE: the
     `favours=` labels are given in that order (left, right), while the columns keep the arms
     of the paired rows (TARE as group 1).
     """),
    ("code", """
     h2h = iometa.comparison_rows(example, "objective_response", treatment="TARE",
                                  control="TACE")
     display(h2h.rows[["label", "events_1", "total_1", "events_2", "total_2"]])
     direct_mh = try_pool("Mantel–Haenszel odds ratio", data=h2h.rows, measure="OR",
                          method="MH")
     direct_re = try_pool("Random-effects (REML) odds ratio", data=h2h.rows, measure="OR",
                          method="REML")
     fig = iometa.forest_plot(direct_mh, layout="RevMan5", favours=("TACE", "TARE"))
     """),
    ("markdown", """
     The same result in the JAMA layout (`layout="JAMA"`: estimate with its CI in parentheses,
     no weight column, P values without the leading zero):
     """),
    ("code", """
     fig = iometa.forest_plot(direct_re, layout="JAMA", favours=("TACE", "TARE"))
     """),
    ("markdown", """
     ### Indirect: the same table as single-arm series

     `outcome_rows` reads every arm and every single-arm series as its own cohort (the arms of
     one study are different patients), so each modality is pooled from its comparative arms
     *and* its single-arm series, and the modalities are compared by subgroups.
     """),
    ("code", """
     series = outcome_rows(example, "objective_response")
     series_res = iometa.pool_proportions("events_used", "total_used", data=series.rows,
                                          labels="label")
     series_sub = iometa.subgroups(series_res, by="modality")
     fig = iometa.forest_plot(series_sub)
     for name, g in series_sub.groups.items():
         print(f"{name}: {estimate_text(g)}")
     print("Test for subgroup differences:", series_sub.test_separate.describe(3))
     """),
    ("code", """
     tare, tace = series_sub.groups["TARE"], series_sub.groups["TACE"]
     display(Markdown(
         f"Directly, within the {direct_mh.k} comparative studies, TARE vs TACE gives "
         f"{ratio_text(direct_mh)}. Indirectly, the pooled response is {pct(tare.estimate)} "
         f"with TARE (k = {tare.k}) and {pct(tace.estimate)} with TACE (k = {tace.k}): a "
         f"difference of {100 * (tare.estimate - tace.estimate):.1f} percentage points "
         f"(test for subgroup differences: {series_sub.test_separate.describe(3)})."))
     """),
    ("markdown", """
     ### Why direct and indirect comparisons can differ

     A direct comparison contrasts the two arms *within* each study, so everything the arms
     share (centre, era, selection criteria, response assessment and, in a randomised trial,
     the patients' prognosis) cancels out; an indirect comparison contrasts pooled single-arm
     figures from *different* studies, so any difference in case mix between the studies of
     one modality and those of the other is read as a treatment effect. In this fictional
     table the single-arm TARE series treated selected patients with limited tumour burden and
     the single-arm TACE series treated salvage patients after several lines of
     chemotherapy: the indirect comparison therefore shows a large, "significant" advantage
     of TARE, while the comparative studies, whose arms were treated alike, show a much
     smaller one whose interval includes no effect. Prefer the direct estimate when
     head-to-head studies exist, and read an indirect difference as a between-study
     association.
     """),
]

"""Cells of ``01_ablation_rfa_mwa_cryo.ipynb``: thermal ablation of breast-cancer liver
metastases (RFA, MWA, cryoablation)."""

from cells_common import LIMITS, SETUP, SETUP_INTRO

CELLS = [
    ("markdown", """
     # Thermal ablation of breast-cancer liver metastases: RFA, MWA and cryoablation

     Which ablation modality controls breast-cancer liver metastases best, and how long do
     patients live afterwards? This notebook pools what the study table holds on
     radiofrequency ablation (RFA), microwave ablation (MWA) and cryoablation of liver
     metastases: **complete ablation**, **local tumour progression**, **median overall
     survival** and **1-, 3- and 5-year overall survival**, by modality, with forest plots,
     the test for subgroup differences, a method-sensitivity table, influence and small-study
     checks where the number of studies allows them, and the effect of **lesion size**.

     Each step shows which rows could be pooled and which could not, and why. The short
     answer, printed by the code below, is that the table holds very few countable results
     per modality, so most comparisons cannot be made; the notebook shows exactly where the
     evidence stops.
     """),
    LIMITS,
    SETUP_INTRO,
    SETUP,
    ("markdown", """
     ## 1. What the study table holds on liver ablation

     We keep the rows with `site == "liver"` and an ablation modality. The table below counts
     the **studies** per outcome and modality (a study can contribute several rows, e.g. two
     lesion-size subgroups), and the next one lists the studies with their primary tumour and
     design. Not every row is from a breast-cancer-only population: the `primary` column says
     so, and the `notes` column records doubts raised during extraction (for example where the
     review's text and the cited reference disagree on the modality).
     """),
    ("code", """
     ABLATION = ["RFA", "MWA", "cryoablation"]
     liver = studies[(studies["site"] == "liver") & studies["modality"].isin(ABLATION)]
     inventory = liver.pivot_table(index="outcome", columns="modality", values="study_id",
                                   aggfunc="nunique", fill_value=0, observed=True)
     display(inventory)
     liver_studies = liver.drop_duplicates("study_id")[
         ["study_id", "author", "year", "modality", "primary", "design", "n_patients"]]
     display(liver_studies)
     not_breast = liver_studies[liver_studies["primary"] != "breast"]
     display(Markdown(
         f"{len(liver_studies)} studies, {len(liver)} rows. Not restricted to breast cancer: "
         + (", ".join(f"{r.study_id} (primary: {r.primary}, design: {r.design})"
                      for r in not_breast.itertuples()) or "none") + "."))
     """),
    ("markdown", """
     Modality attribution is itself uncertain for some rows. The extraction notes of the MWA
     rows are shown here because they change how far an "MWA" subgroup can be trusted:
     """),
    ("code", """
     liver.loc[liver["modality"] == "MWA", ["study_id", "outcome", "notes"]]
     """),
    ("markdown", """
     ## 2. Complete ablation

     Complete ablation is a proportion: patients (or lesions) ablated completely out of those
     treated. Pooling a proportion needs its numerator and denominator, or a percentage with a
     stated denominator from which the count follows exactly. `outcome_rows` decides this row
     by row and gives the reason whenever it cannot.
     """),
    ("code", """
     ca = outcome_rows(studies, "complete_ablation", site="liver", modality=ABLATION)
     show_selection(ca, ["label", "modality", "events_used", "total_used", "count_source"])
     """),
    ("markdown", """
     With no usable row, there is nothing to pool, and iometa says so rather than returning a
     number:
     """),
    ("code", """
     try:
         iometa.pool_proportions(ca.rows["events_used"], ca.rows["total_used"])
     except ValueError as err:
         print(f"iometa: {err}")
     display(Markdown("As printed by the review (no count, so no confidence interval): "
                      + "; ".join(f"{r.label}: {pct(r.value)}" for r in ca.excluded.itertuples())
                      + "."))
     """),
    ("markdown", """
     ## 3. Lesion size (< 3 cm vs ≥ 3 cm)

     Lesion size is the best-established predictor of complete ablation. The rows of the liver
     ablation table that carry a size (`lesion_size_cm`: a mean or median size, or the
     threshold that defines a subgroup):
     """),
    ("code", """
     sized = liver[liver["lesion_size_cm"].notna()]
     display(sized[["study_id", "modality", "outcome", "subgroup", "value", "lesion_size_cm",
                    "unit_of_analysis", "notes"]])
     by_size = sized[sized["outcome"] == "complete_ablation"]
     countable = ca.rows["lesion_size_cm"].notna().sum()
     display(Markdown(
         "Complete ablation by lesion size, as printed: "
         + "; ".join(f"{r.study_id} {r.subgroup}: {pct(r.value)}" for r in by_size.itertuples())
         + f". Rows with both counts and a lesion size (what a meta-regression on size needs): "
         f"{countable}."))
     """),
    ("markdown", """
     A within-study contrast by size (same centre, operators and device) is more trustworthy
     than any comparison across studies; smaller lesions are expected to be ablated
     completely more often. But where the subgroup denominators are not printed, neither a
     confidence interval nor a test can be computed; and a meta-regression of complete
     ablation on lesion size (`iometa.meta_regression(result, "lesion_size_cm")`) needs
     several studies reporting both counts and size — their number is printed above.
     """),
    ("markdown", """
     ## 4. Local tumour progression

     Local tumour progression (LTP) is the proportion of patients (or lesions) whose ablated
     tumour grows again at the ablation site.
     """),
    ("code", """
     # rows without a time point (crude proportions); 12/24/36-month rates are not mixed in
     ltp = outcome_rows(studies, "local_progression", site="liver", modality=ABLATION,
                        timepoint=None)
     show_selection(ltp, ["label", "modality", "unit_of_analysis", "events_used", "total_used",
                          "count_source"])
     """),
    ("markdown", """
     Rows that count lesions and rows that count patients are different denominators and are
     never pooled together: we pool the per-patient rows (the per-lesion rows appear in the
     table above). We pool what can be pooled with the default model: logit-transformed proportions,
     random effects with the REML estimate of τ² (metafor
     `rma(measure = "PLO", method = "REML")`). Then `subgroups` refits the model within each
     modality and computes the test for subgroup differences; the forest plot draws a diamond
     per modality.
     """),
    ("code", """
     # one unit of analysis at a time: per-patient rows here (per-lesion rows are listed above)
     ltp_rows = ltp.rows[ltp.rows["unit_of_analysis"] == "patients"]
     ltp_res = iometa.pool_proportions("events_used", "total_used", labels="label",
                                       data=ltp_rows, measure="PLO", method="REML")
     ltp_sub = iometa.subgroups(ltp_res, by="modality")
     display(Markdown(f"Pooled local tumour progression: {estimate_text(ltp_res)}."))
     print("Test for subgroup differences (separate τ²):", ltp_sub.test_separate.describe(3))
     print("Test for subgroup differences (common τ²):  ", ltp_sub.test_common.describe(3))
     fig = iometa.forest_plot(ltp_sub, columns={"unit_of_analysis": "Unit"})
     """),
    ("code", """
     in_groups = ", ".join(f"{name} (k = {g.k})" for name, g in ltp_sub.groups.items())
     missing = [m for m in ABLATION if m not in ltp_sub.groups]
     display(Markdown(
         f"Modalities with a poolable LTP result: {in_groups}. Without one: "
         f"{', '.join(missing) or 'none'} (their only counted rows are per lesion: "
         + "; ".join(f"{r.label} {r.events_used:.0f}/{r.total_used:.0f} lesions"
                     for r in ltp.rows[ltp.rows["unit_of_analysis"] == "lesions"].itertuples())
         + f"). {len(ltp.excluded)} further rows could not be pooled; each is listed above "
         "with its reason (no stated denominator, another time point, or a review figure "
         "superseded by the primary publication)."))
     """),
    ("markdown", """
     ### Per lesion vs per patient

     A study can count local progression per patient (at least one treated tumour grew back)
     or per lesion (each ablated tumour counted). The two answer different questions, and
     lesions of one patient are not independent (same biology, same operator, same follow-up),
     so a per-lesion proportion is typically lower than the per-patient one and its CI is too
     narrow when the lesions are treated as independent. iometa never pools the two together
     (the loader warns when both occur); below, each unit is pooled on its own, modality by
     modality (a study reporting both units would show the gap within the same patients).
     """),
    ("code", """
     by_unit = []
     for unit in ("patients", "lesions"):
         rows_u = ltp.rows[ltp.rows["unit_of_analysis"] == unit]
         for mod, g in rows_u.groupby("modality", sort=False):
             res_u = iometa.pool_proportions("events_used", "total_used", labels="label",
                                             data=g, measure="PLO", method="REML")
             by_unit.append({"unit": unit, "modality": mod, "k": res_u.k,
                             "estimate": pct(res_u.estimate),
                             "95% CI": f"{pct(res_u.ci_low)} to {pct(res_u.ci_high)}"})
     display(pd.DataFrame(by_unit))
     both = ltp.rows.groupby("study_id")["unit_of_analysis"].nunique()
     if not (both > 1).any():
         print("No study of these rows reports both units.")
     for sid in both[both > 1].index:
         r = ltp.rows[ltp.rows["study_id"] == sid]
         print(f"{r['label'].iloc[0]}: " + "; ".join(
             f"{x.events_used:.0f}/{x.total_used:.0f} {x.unit_of_analysis}"
             for x in r.itertuples()))
     """),
    ("markdown", """
     ### Bayesian small-k analysis

     With two or three studies per modality, τ² is barely estimable and a frequentist CI that
     plugs in τ̂² understates the uncertainty. The exact Bayesian random-effects model
     (`iometa.pool_bayes` with its default priors: half-normal on τ, on the logit scale, and a
     flat prior on the mean; Friede et al. 2017) integrates over τ instead; its credible
     interval is the honest width for so few studies.
     """),
    ("code", """
     rows_b = []
     for name, g in ltp_sub.groups.items():
         if g.k < 2:
             continue
         b = iometa.pool_bayes(g)
         rows_b.append({"modality": name, "k": g.k,
                        "frequentist": f"{pct(g.estimate)} ({pct(g.ci_low)} to {pct(g.ci_high)})",
                        "Bayesian": f"{pct(b.estimate)} ({pct(b.ci_low)} to {pct(b.ci_high)})",
                        "tau (median)": round(b.tau, 2)})
     pd.DataFrame(rows_b)
     """),
    ("markdown", """
     ### Method sensitivity

     Pooled proportions depend on analysis choices: the scale (logit, arcsine, Freeman–Tukey
     double arcsine, or the binomial-normal GLMM), the τ² estimator (DerSimonian–Laird, REML,
     Paule–Mandel) and the test (normal z, or Hartung–Knapp). `method_sensitivity` runs every
     combination side by side. A robust finding barely moves; a fragile one does. With a single
     study the τ² estimators cannot differ (there is no between-study variance to estimate),
     only the scale on which the study's own CI is built changes, and the GLMM cannot be fitted
     at all — the table shows this rather than hiding it.
     """),
    ("code", """
     ms = iometa.method_sensitivity(ltp_res)
     display(ms[["measure", "method", "test", "k"]].assign(
         estimate=ms["estimate"].map(pct),
         ci=[f"{pct(lo)} to {pct(hi)}" for lo, hi in zip(ms["ci_low"], ms["ci_high"])]))
     print("Cautions attached to these fits:")
     for w in ms["warnings"].unique():
         print(" -", w)
     """),
    ("markdown", """
     ### Influence and small-study checks

     Leave-one-out and influence diagnostics ask whether one study drives the result; they need
     at least two studies. Tests for small-study effects (funnel-plot asymmetry: Egger, Begg,
     Peters, trim-and-fill) need at least three studies to be computed at all, and have so
     little power below about ten studies that a non-significant result means nothing
     (Sterne et al. 2011, BMJ). iometa refuses the first case and warns in the second. Each
     check below is attempted, and iometa's answer is printed.
     """),
    ("code", """
     run_checks(ltp_res)
     """),
    ("markdown", """
     ## 5. Median overall survival

     Median overall survival (OS) from the start of ablation, in months. Reviews usually print
     the median alone ("a bare median"), without its confidence interval or the number of
     deaths. A bare median has no standard error, so it cannot enter an inverse-variance
     model. `pool_medians(route="auto")` then pools all the medians by the **median of the
     medians** (MM), or by the **n-weighted median of the medians** (WM) when every study's n
     is known (McGrath et al. 2019, Stat Med). Its CI is a distribution-free interval for the
     median of the study medians (for very few studies, simply their range); no τ², I² or
     prediction interval exists. The `route` column of `result.studies` says how each study
     entered.
     """),
    ("code", """
     mos = outcome_rows(studies, "median_os", site="liver", modality=ABLATION)
     show_selection(mos, ["label", "modality", "primary", "design", "n_used", "value",
                          "ci_low", "ci_high"])
     """),
    ("markdown", """
     First the population the question is about, **breast-cancer primaries only**:
     """),
    ("code", """
     breast_mos = mos.rows[mos.rows["primary"] == "breast"].reset_index(drop=True)
     mos_breast = iometa.pool_medians("value", ci_low="ci_low", ci_high="ci_high",
                                      n="n_used", labels="label", data=breast_mos)
     display(mos_breast.studies[["label", "median", "n", "route", "reason", "weight"]])
     top = mos_breast.studies.loc[mos_breast.studies["weight"].idxmax()]
     note = (f" With so few studies the weighted median is simply the median of the study that "
             f"holds more than half of the patients ({top['label']}), and the CI spans the "
             f"study medians." if mos_breast.method == "WM" and top["weight"] > 50 else "")
     display(Markdown(f"Breast-only median OS after liver ablation: {estimate_text(mos_breast)}."
                      " Modalities represented: "
                      + ", ".join(sorted(breast_mos["modality"].astype(str).unique())) + "."
                      + note))
     """),
    ("markdown", """
     Then **all liver-ablation medians by modality**, including the rows from mixed-primary
     populations, with a subgroup diamond per modality. When any study lacks n, every study is
     pooled by the plain (unweighted) median of medians. The forest plot's footnote says so; the heterogeneity lines and the
     prediction interval are switched off because they do not exist for this method.
     """),
    ("code", """
     mos_all = iometa.pool_medians("value", ci_low="ci_low", ci_high="ci_high", n="n_used",
                                   labels="label", data=mos.rows)
     mos_sub = iometa.subgroups(mos_all, by="modality")
     fig = iometa.forest_plot(
         mos_sub, columns={"primary": "Primary"}, heterogeneity=False, pi=None,
         footnote=f"Pooled by the {mos_all.method_name}: bare medians carry no standard error, "
                  "so no heterogeneity statistics or prediction intervals exist.")
     print("Test for subgroup differences (separate τ²):", mos_sub.test_separate.describe(3))
     print("Test for subgroup differences (common τ²):  ", mos_sub.test_common.describe(3))
     contrasts = mos_sub.contrasts()
     display(contrasts[["group_a", "group_b", "contrast", "contrast_estimate",
                        "contrast_ci_low", "contrast_ci_high", "pval"]])
     """),
    ("code", """
     groups = "; ".join(f"{name}: {months(g.estimate)} (k = {g.k})"
                        for name, g in mos_sub.groups.items())
     display(Markdown(
         f"Median OS by modality (median of medians): {groups}. iometa reports the ratio of the "
         "pooled medians between modalities but no confidence interval or p-value for it, and "
         "no test for subgroup differences: a median of medians has no standard error. These "
         "numbers describe the studies; they do not compare the modalities."))
     """),
    ("markdown", """
     ## 6. 1-, 3- and 5-year overall survival

     Survival rates at fixed times are Kaplan–Meier estimates, not simple proportions: they are
     never turned into counts. `survival_table` pools them per time point and modality on the
     complementary log-log scale with n as the sample size (Combescure et al. 2014, Stat Med);
     a rate without n or CI has no variance and is left out with the reason. The table also
     pools the median OS of each modality and checks the two against each other under a
     constant hazard, S(t) = 2^(−t / median) (`exp_rate`; `exp_disagree` flags a conflict).
     """),
    ("code", """
     surv = iometa.survival_table(liver, by="modality")
     display(surv[["time", "group", "k", "N", "estimate", "ci_low", "ci_high", "median",
                   "median_k", "median_route", "exp_rate", "exp_disagree"]])
     display(surv.attrs["excluded"])
     fig = iometa.survival_plot(surv)
     """),
    ("code", """
     coverage = (surv.pivot_table(index="time", columns="group", values="k", aggfunc="sum")
                 .reindex(index=[12.0, 36.0, 60.0], columns=ABLATION).fillna(0).astype(int))
     coverage.index = [f"{int(t // 12)}-year" for t in coverage.index]
     display(Markdown("Number of studies pooled per landmark and modality:"))
     display(coverage)
     lines = [f"- {r.group}, {r.time / 12:g}-year OS: {pct(r.estimate)} (95% CI {pct(r.ci_low)} "
              f"to {pct(r.ci_high)}; k = {r.k}, N = {r.N:.0f})" for r in surv.itertuples()]
     lines += [f"- {r.group}, {r.time / 12:g}-year: S(t) implied by the pooled median under a "
               f"constant hazard {pct(r.exp_rate)}" for r in surv.itertuples()
               if pd.notna(r.exp_rate)]
     display(Markdown("\\n".join(lines)))
     """),
    ("markdown", """
     Other survival-type rows in the liver-ablation table are printed here for completeness;
     they are different quantities (time to local progression; crude mortality at one
     follow-up time; new intrahepatic metastases) and are not pooled with the above.
     """),
    ("code", """
     other = liver[liver["outcome"].isin(["time_to_local_progression", "mortality",
                                          "alive_with_disease", "no_evidence_of_disease",
                                          "recurrence"])]
     other[["study_id", "modality", "outcome", "timepoint_months", "events", "total", "value",
            "unit"]]
     """),
    ("markdown", """
     ## 7. Summary

     The table below is assembled from the results above: for each outcome and modality, how
     many rows the study table holds, how many could be pooled, and the pooled estimate.
     """),
    ("code", """
     def group_text(sub, modality):
         g = sub.groups.get(modality)
         return "—" if g is None else estimate_text(g)


     summary = []
     for label, sel, sub in [("complete ablation", ca, None), ("local tumour progression", ltp,
                             ltp_sub), ("median OS (all primaries)", mos, mos_sub)]:
         for m in ABLATION:
             summary.append({"outcome": label, "modality": m,
                             "rows": int((sel.rows["modality"] == m).sum()
                                         + (sel.excluded["modality"] == m).sum()),
                             "pooled rows": int((sel.rows["modality"] == m).sum()),
                             "estimate": "—" if sub is None else group_text(sub, m)})
     rates = liver[liver["outcome"] == "os_rate"]
     for (t, m), rows in rates.groupby(["timepoint_months", rates["modality"].astype(str)]):
         cell = surv[(surv["time"] == t) & (surv["group"] == m)]
         r = next(cell.itertuples(), None)
         summary.append({"outcome": f"{t / 12:g}-year OS", "modality": m, "rows": len(rows),
                         "pooled rows": 0 if r is None else r.k,
                         "estimate": "—" if r is None else
                         f"{pct(r.estimate)} (95% CI {pct(r.ci_low)} to {pct(r.ci_high)}; "
                         f"k = {r.k})"})
     pd.DataFrame(summary)
     """),
    ("code", """
     tests = {"local tumour progression": ltp_sub, "median OS": mos_sub}
     lines = [f"- {name}: test for subgroup differences {sub.test_separate.describe(3)}"
              for name, sub in tests.items()]
     k_max = max(g.k for sub in tests.values() for g in sub.groups.values())
     testable = [name for name, sub in tests.items() if pd.notna(sub.q_between)]
     lines.append(f"- The largest number of studies behind any pooled modality estimate is "
                  f"{k_max}.")
     lines.append(
         "- No test for differences between modalities could be computed for any outcome, so "
         "the modality rows describe single series; they do not compare RFA, MWA and "
         "cryoablation." if not testable else
         f"- A test for subgroup differences could be computed for {', '.join(testable)}; it "
         "compares different studies, not treatments.")
     lines.append(f"- Lesion size: {countable} row(s) with both counts and a size; "
                  + ("only a within-study contrast without denominators is reported."
                     if countable == 0 else "see the meta-regression above."))
     lines.append("- Reading the primary studies (for counts, CIs and deaths) is the way "
                  "forward: each count added to `data/studies.csv` flows into this notebook "
                  "unchanged.")
     display(Markdown("**What the table can and cannot say.**\\n\\n" + "\\n".join(lines)))
     """),
]

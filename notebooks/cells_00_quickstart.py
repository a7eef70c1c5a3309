"""Cells of ``00_quickstart.ipynb``: pooling your own CSV in five cells."""

CELLS = [
    ("markdown", """
     # Quick start: pool your own studies in five cells

     This notebook pools a small study table of the kind you would build in a spreadsheet: one
     row per study (and per outcome, subgroup and time point), saved as CSV. The file used here,
     [`example_user_table.csv`](example_user_table.csv), sits next to this notebook.

     > **The numbers in `example_user_table.csv` are fictional.** They exist only to show the
     > mechanics (loading, selecting, pooling, plotting). They are not evidence about any
     > treatment. Replace the rows with your own studies.

     The columns follow the project's data dictionary ([`data/README.md`](../data/README.md)):
     `study_id`, `modality`, `outcome` and a result (`events` with `total`, or `value`) are
     required; `author`, `year`, `site`, `primary`, `design`, `n_patients`,
     `unit_of_analysis`, `subgroup`, `timepoint_months`, `ci_low`, `ci_high` and `notes` are
     optional but make the analysis more useful. Proportions are stored between 0 and 1,
     durations in months.
     """),
    ("markdown", """
     ## 1. Load and validate

     `iometa.load_studies(path)` reads the CSV and checks every cell against the vocabulary
     (modalities, outcomes, units, ranges such as events ≤ total). If anything is wrong it stops
     with a `StudyTableError` that lists **every** problem with its line and column, so you can
     fix the spreadsheet in one pass. On success it returns a typed table.
     """),
    ("code", """
     %matplotlib inline
     import iometa
     from iometa.outcomes import outcome_rows

     studies = iometa.load_studies("example_user_table.csv")
     studies[["line", "study_id", "modality", "outcome", "events", "total", "value"]]
     """),
    ("markdown", """
     ## 2. Select one outcome

     `outcome_rows` returns the rows of one outcome that can be pooled (`.rows`, with the counts
     each row contributes in `events_used`/`total_used` and where they came from in
     `count_source`) and every row it cannot use, with the reason (`.excluded`). Nothing is
     dropped silently: here one study printed a percentage without its denominator, so it
     cannot enter a pooled analysis of counts.
     """),
    ("code", """
     sel = outcome_rows(studies, "local_progression", site="liver")
     print(sel.summary())
     sel.rows[["label", "modality", "events_used", "total_used", "count_source"]]
     """),
    ("markdown", """
     ## 3. Pool, overall and by modality

     `pool_proportions` pools the proportions on the logit scale with a random-effects model
     (REML estimate of the between-study variance τ²), as metafor's
     `rma(measure = "PLO", method = "REML")`. `subgroups` refits the model within each modality
     and tests whether the modality subgroups differ (Q test for subgroup differences).
     """),
    ("code", """
     res = iometa.pool_proportions("events_used", "total_used", labels="label", data=sel.rows,
                                   measure="PLO", method="REML")
     by_modality = iometa.subgroups(res, by="modality")
     print(by_modality.summary(digits=3))
     """),
    ("markdown", """
     ## 4. Forest plot

     Squares are the studies (area proportional to weight, exact Clopper–Pearson 95% CIs),
     diamonds the pooled estimates per modality and overall; the bottom lines give the
     heterogeneity and the test for subgroup differences. To save it for a manuscript:
     `iometa.save_figure(fig, "forest_local_progression", formats=("png", "svg", "pdf"))`.
     """),
    ("code", """
     fig = iometa.forest_plot(by_modality)
     """),
    ("markdown", """
     ## 5. Summary in words

     `methods_text()` and `results_text()` write the methods and the results as paragraphs
     (like metafor's `reporter()`), from the fitted results, so they always match the numbers
     above; `pscale=100` gives percentages. With your own data, remember that modality
     subgroups usually come from different single-arm studies: a difference between them is a
     between-study association (different patients, centres and eras), not a randomised
     comparison.
     """),
    ("code", """
     print(by_modality.methods_text(), end="\\n\\n")
     print(by_modality.results_text(pscale=100), end="\\n\\n")
     print(f"Rows not pooled: {len(sel.excluded)} "
           f"({'; '.join(sel.excluded['label'] + ': ' + sel.excluded['reason'])})")
     """),
]

"""Cells shared by the analysis notebooks 01-03: the setup cell and the note on the limits of
cross-study comparisons."""

SETUP_INTRO = ("markdown", """
    ## Setup

    The first cell loads iometa and the project's study table (`data/studies.csv`, validated
    on loading) and defines a few helpers: `pct` and `months` format numbers,
    `estimate_text` writes a pooled estimate with its confidence interval in words,
    `show_selection` shows the rows of an outcome that can be pooled next to those that cannot,
    with iometa's reason, and `run_checks` attempts the influence and small-study checks
    (leave-one-out, influence, Egger, Begg, Peters, trim-and-fill, funnel plot) and prints
    iometa's answer for each. `iometa.set_display(warnings="sentences")` makes iometa print its
    cautions (small k, bare medians, missing denominators) as plain one-line sentences,
    `warning: ...`, naming the table line where there is one; a result displayed on its own
    shows its cautions in its own box.
    """)

SETUP = ("code", """
    %matplotlib inline
    import matplotlib.pyplot as plt
    import pandas as pd
    from IPython.display import Markdown, display

    import iometa
    from iometa.outcomes import outcome_rows

    # reproducible display: fixed figure size and resolution, compact tables
    plt.rcParams.update({"figure.dpi": 100, "figure.figsize": (7.0, 4.0)})
    pd.set_option("display.precision", 3)
    pd.set_option("display.max_colwidth", 100)
    pd.set_option("display.max_columns", 30)
    pd.set_option("display.width", 200)


    iometa.set_display(warnings="sentences")  # cautions as one-line sentences, no paths


    def pct(p, digits=1):
        \"\"\"A proportion as a percentage: 0.2549 -> '25.5%'.\"\"\"
        return "n/a" if pd.isna(p) else f"{100 * p:.{digits}f}%"


    def months(m):
        return "n/a" if pd.isna(m) else f"{m:.1f} months"


    def estimate_text(res):
        \"\"\"A pooled estimate with its confidence interval, in words.\"\"\"
        fmt = months if res.scale == "months" else pct
        if pd.isna(res.ci_low) or res.ci_low == res.ci_high:  # e.g. one bare median
            ci = "no CI"
        else:
            ci = f"{round(100 * res.level)}% CI {fmt(res.ci_low)} to {fmt(res.ci_high)}"
        return f"{fmt(res.estimate)} ({ci}; k = {res.k}; {res.method_name})"


    def show_selection(sel, columns):
        \"\"\"The rows of one outcome that can be pooled, and those that cannot with the reason.\"\"\"
        display(Markdown(f"**{sel.outcome}**: {len(sel.rows)} row(s) can be pooled, "
                         f"{len(sel.excluded)} cannot."))
        if len(sel.rows):
            display(sel.rows[columns])
        if len(sel.excluded):
            display(sel.excluded[["line", "label", "modality", "value", "reason"]])


    CHECKS = {"leave-one-out": iometa.leave_one_out, "influence": iometa.influence,
              "Egger's test": iometa.egger_test, "Begg's test": iometa.begg_test,
              "Peters' test": iometa.peters_test, "trim-and-fill": iometa.trim_and_fill}
    SHOWN = ["label", "omitted study", "k", "estimate", "ci_low", "ci_high", "tau2", "i2", "rstudent",
             "cooks_d", "hat", "weight", "influential"]


    def run_checks(res):
        \"\"\"Attempt the influence and small-study checks on a pooled result; print iometa's
        answer for each (a table, a test, or the reason it cannot be run).\"\"\"
        for name, check in CHECKS.items():
            try:
                out = check(res)
            except ValueError as err:
                print(f"{name}: not run. iometa: {err}")
                continue
            print(f"{name}:")
            if name == "leave-one-out":  # each row is the fit WITHOUT the labelled study
                out = out.rename(columns={"label": "omitted study"})
            if isinstance(out, pd.DataFrame):
                display(out[[c for c in SHOWN if c in out]])
            else:
                print(out)
        if res.k >= 10:
            iometa.funnel_plot(res, trimfill=iometa.trim_and_fill(res))
        else:
            print(f"Funnel plot not drawn: k = {res.k}; below about ten studies its shape "
                  "cannot be told apart from chance.")


    studies = iometa.load_studies()
    display(Markdown(f"Study table: {len(studies)} rows, {studies['study_id'].nunique()} "
                     f"studies, {studies['outcome'].nunique()} outcome codes."))
    """)

LIMITS = ("markdown", """
    > **Read this before the numbers.** Every study in this notebook is a single-arm series
    > (or a review quoting one). Comparing modalities therefore means comparing *different
    > studies*: different patients (tumour burden, number and size of lesions, extrahepatic
    > disease, prior lines of systemic therapy, receptor status), different centres, eras,
    > devices and follow-up, and no head-to-head trial. A difference between modality
    > subgroups is a between-study association, not a treatment effect, and with the very
    > small numbers of studies (k) here even that association is barely estimable: with k = 1
    > a "pooled" estimate is just that one study's estimate. The study table holds what
    > narrative reviews printed, which is often a percentage without its denominator; such
    > rows are shown, never pooled, and never given invented counts.
    """)

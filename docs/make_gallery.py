"""Build the plot gallery: ``python docs/make_gallery.py`` writes docs/gallery/<name>.png/.svg.

Figures on the project's study table (``iometa.load_studies()``): median overall survival by
modality (forest), pooled OS rates over time by modality and site (survival plot). The study table has no
complete-ablation denominators yet, so the proportion figures (RFA vs MWA vs cryoablation
complete ablation) use illustrative simulated counts, said so in each figure's footnote, with
fictional study labels.
The diagnostics use a published data set with enough studies: Hackshaw et al. 1998 (BMJ
315:980; 37 studies of lung cancer and environmental tobacco smoke, odds ratios), exported
from R's metadat (``dat.hackshaw1998``) to docs/gallery/data/hackshaw1998.csv.

Every figure comes out of one call with default layout options; SVG output is deterministic.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

import iometa  # noqa: E402
from iometa.outcomes import outcome_rows  # noqa: E402
from iometa.survival import survival_table  # noqa: E402

OUT = Path(__file__).parent / "gallery"
ILLUSTRATIVE = "Illustrative simulated counts (not study data). "


def save(fig, name):
    iometa.save_figure(fig, OUT / name, formats=("png", "svg"), dpi=200)
    plt.close(fig)
    print(f"  {name}")


def illustrative_ablation(seed=2024):
    """Complete-ablation counts for RFA, MWA and cryoablation (simulated, fixed seed).

    The study labels are fictional ("Example A 2011"): simulated counts never carry the name
    of a real author."""
    r = np.random.default_rng(seed)
    rows = []
    letters = iter("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
    for modality, k, p, a in (("RFA", 7, 0.90, 30), ("MWA", 6, 0.94, 40),
                              ("Cryoablation", 4, 0.86, 20)):
        for _ in range(k):
            n = int(r.integers(18, 220))
            rows.append(dict(study=f"Example {next(letters)} {int(r.integers(2001, 2024))}",
                             modality=modality, n=n,
                             events=int(r.binomial(n, r.beta(p * a, (1 - p) * a))),
                             design=str(r.choice(["retrospective", "prospective", "RCT"],
                                                 p=[0.6, 0.3, 0.1]))))
    return pd.DataFrame(rows)


def study_table_figures(studies):
    # outcome_rows keeps one row per group of patients (Vogl 2010's three arms, of unknown
    # size, are not n-weighted: n_used is empty for them)
    rows = outcome_rows(studies, "median_os").rows.reset_index(drop=True)
    med = iometa.pool_medians("value", ci_low="ci_low", ci_high="ci_high", n="n_used",
                              data=rows, labels="label")
    sub = iometa.subgroups(med, "modality")
    save(iometa.forest_plot(sub, columns=["site"]), "forest_median_os_by_modality")
    save(iometa.forest_plot(sub, width="single"), "forest_median_os_by_modality_single")
    # survival rates by modality and site, as the report: a lung series and a liver series
    # of one modality are different groups
    rates = studies[studies["outcome"] == "os_rate"].assign(n_used=lambda d: d["n_patients"])
    if rates.duplicated(["study_id", "timepoint_months"]).any():
        raise SystemExit("two OS rates of one study at one time point: select them first")
    data = pd.concat([rates, rows], ignore_index=True)
    data["label"] = [iometa.outcomes.study_label(r) for r in data.to_dict("records")]
    tab = survival_table(data, by=["modality", "site"], n="n_used", labels="label")
    save(iometa.survival_plot(tab), "survival_os_by_modality_site")


def proportion_figures():
    data = illustrative_ablation()
    res = iometa.pool_proportions("events", "n", data=data, labels="study")
    sub = iometa.subgroups(res, "modality")
    note = ILLUSTRATIVE + "Random-effects model (REML τ²) within each modality; logit " \
        "transformation; Clopper–Pearson CIs for individual studies; squares proportional " \
        "to study weights."
    save(iometa.forest_plot(sub, columns=["design"], footnote=note),
         "forest_complete_ablation_by_modality")
    save(iometa.forest_plot(sub, width="single", footnote=note),
         "forest_complete_ablation_by_modality_single")
    rfa = iometa.pool_proportions("events", "n", data=data[data.modality == "RFA"]
                                  .reset_index(drop=True), labels="study")
    save(iometa.forest_plot(rfa, common=True, width="single", footnote=ILLUSTRATIVE),
         "forest_complete_ablation_rfa_common_and_random")
    save(iometa.funnel_plot(res, yaxis="inv_sqrt_n"), "funnel_complete_ablation_inv_sqrt_n")


def hackshaw_figures():
    d = pd.read_csv(OUT / "data" / "hackshaw1998.csv")
    d["label"] = d["author"] + " " + d["year"].astype(str)
    res = iometa.pool("yi", "vi", data=d, labels="label", method="REML")
    fav = ("Lower risk if exposed", "Higher risk if exposed")
    save(iometa.forest_plot(res, transf="exp", columns=["country", "design"], refline=1,
                            favours=fav, xlabel="Odds ratio (log scale)",
                            estimate_header="Odds ratio\n[95% CI]", sort="estimate",
                            footnote="Hackshaw et al. 1998, BMJ 315:980 (metadat "
                                     "dat.hackshaw1998). Random-effects model, REML "
                                     "estimate of τ²."),
         "forest_hackshaw_odds_ratios")
    tf = iometa.trim_and_fill(res)
    save(iometa.funnel_plot(res, trimfill=tf, transf="exp", contours=True),
         "funnel_hackshaw_contours_trimfill")
    save(iometa.leave_one_out_plot(iometa.leave_one_out(res), res, transf="exp", refline=1,
                                   xlabel="Odds ratio (log scale)"), "leave_one_out_hackshaw")
    save(iometa.cumulative_plot(iometa.cumulative(res, order="year"), res, transf="exp",
                                refline=1, xlabel="Odds ratio (log scale)"),
         "cumulative_hackshaw_by_year")
    save(iometa.baujat_plot(iometa.baujat(res)), "baujat_hackshaw")
    g = iometa.gosh(res, subsets=20000, seed=1, method="DL")
    save(iometa.gosh_plot(g, xlabel="Pooled log odds ratio"), "gosh_hackshaw")
    save(iometa.gosh_plot(g, highlight="Fontham 1994", hexbin=False,
                          xlabel="Pooled log odds ratio"), "gosh_hackshaw_highlight")
    reg = iometa.meta_regression(res, "year")
    save(iometa.bubble_plot(reg, transf="exp", xlabel="Publication year", labels=True),
         "bubble_hackshaw_year")


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    warnings.simplefilter("ignore", iometa.IometaWarning)
    print("study table:")
    study_table_figures(iometa.load_studies())
    print("illustrative proportions:")
    proportion_figures()
    print("Hackshaw 1998:")
    hackshaw_figures()
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The report's sensitivity analyses for few or clustered studies (issues 23 item 4, 26 item
5): a group in which a study contributes several disjoint rows (its arms) gets the three-level
model beside the one-row-one-study analysis, the numbers those of iometa.pool_multilevel on
the same rows (the CSVs hold 6 significant digits; groups without repeated studies get no such
table); groups of 2-9 studies get the Bayesian small-k analysis (iometa.pool_bayes)."""

from __future__ import annotations

import warnings

import pandas as pd
import pytest

import iometa
from iometa._warnings import IometaWarning
from iometa.core.measures import backtransform
from iometa.report.build import build_report

HEADER = ("study_id,author,year,source,modality,site,primary,design,n_patients,"
          "unit_of_analysis,outcome,subgroup,arm,events,total,value,unit")
ROWS = [  # trial t1 has two MWA arms (different patients); RFA has one row per study
    "t1,Alpha A,2020,own,MWA,liver,HCC,RCT,40,patients,local_progression,,low power,4,40,,",
    "t1,Alpha A,2020,own,MWA,liver,HCC,RCT,38,patients,local_progression,,high power,9,38,,",
    "s2,Beta B,2019,own,MWA,liver,HCC,retrospective,55,patients,local_progression,,,6,55,,",
    "s3,Gamma C,2018,own,MWA,liver,HCC,retrospective,61,patients,local_progression,,,15,61,,",
    "s4,Delta D,2021,own,RFA,liver,HCC,retrospective,47,patients,local_progression,,,8,47,,",
    "s5,Eps E,2017,own,RFA,liver,HCC,retrospective,52,patients,local_progression,,,12,52,,",
    "s6,Zeta F,2016,own,RFA,liver,HCC,retrospective,33,patients,local_progression,,,5,33,,",
]


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    base = tmp_path_factory.mktemp("threelevel")
    (base / "iometa.toml").write_text('sources = ["own"]\n', encoding="utf-8")
    table = base / "review.csv"
    table.write_text("\n".join([HEADER, *ROWS]) + "\n", encoding="utf-8")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", IometaWarning)
        out = build_report(data=table, out=base / "out", verbose=False)
        studies = iometa.load_studies(table)
    return out, studies


def test_three_level_table_for_the_group_with_a_repeated_study(report):
    out, studies = report
    [csv] = list((out / "tables").glob("*_three_level.csv"))
    tab = pd.read_csv(csv)
    assert tab["group"].tolist() == ["MWA"]  # RFA has one row per study
    row = tab.iloc[0]
    assert (row["k"], row["studies"], row["repeated"]) == (4, 3, "t1")
    mwa = studies[studies["modality"] == "MWA"]
    eff = iometa.proportion_effects(mwa["events"], mwa["total"], measure="PLO")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", IometaWarning)
        ml = iometa.pool_multilevel(eff.yi, eff.vi,
                                    cluster=mwa["study_id"].astype(str).to_numpy())
    for col, x in (("estimate_3l", ml.coef), ("ci_low_3l", ml.coef_ci_low),
                   ("ci_high_3l", ml.coef_ci_high)):
        assert row[col] == pytest.approx(float(backtransform("PLO", [x])[0]), rel=1e-5)
    assert row["sigma2_between"] == pytest.approx(ml.sigma2[0], rel=1e-5, abs=1e-6)
    assert row["sigma2_within"] == pytest.approx(ml.sigma2[1], rel=1e-5, abs=1e-6)
    two = iometa.pool_proportions(mwa["events"], mwa["total"], measure="PLO")
    assert row["estimate"] == pytest.approx(two.estimate, rel=1e-5)


def test_the_readme_shows_it_and_the_methods_name_it(report):
    out, _ = report
    text = (out / "README.md").read_text(encoding="utf-8")
    assert "Three-level sensitivity analysis" in text
    assert "three-level model with rows nested in studies" in text


def test_sections_carry_their_results_in_words(report):
    """Each proportion section quotes results_text (issue 25 item 6) in README.md and
    index.html, with the numbers of the same fit."""
    out, studies = report
    rows = studies.assign(group=studies["modality"])
    res = iometa.pool_proportions(rows["events"], rows["total"], data=rows,
                                  labels=rows["study_id"])
    words = iometa.subgroups(res, by="modality").results_text(pscale=100)
    readme = (out / "README.md").read_text(encoding="utf-8")
    assert "**In words.** The pooled proportion by modality was" in readme
    assert words.split(". ")[0] in readme.replace("\\", "")
    page = (out / "index.html").read_text(encoding="utf-8")
    assert "<strong>In words.</strong> The pooled proportion by modality was" in page


def test_small_groups_get_the_bayesian_analysis(report):
    """Groups of 2-9 studies: pool_bayes (half-normal(0.5) on τ) beside the frequentist fit
    (issue 26 item 5), the numbers those of pool_bayes on the group's own fit."""
    out, studies = report
    [csv] = list((out / "tables").glob("*_bayes.csv"))
    tab = pd.read_csv(csv).set_index("group")
    assert sorted(tab.index) == ["MWA", "RFA"]
    rfa = studies[studies["modality"] == "RFA"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", IometaWarning)
        b = iometa.pool_bayes(iometa.pool_proportions(rfa["events"], rfa["total"]))
    row = tab.loc["RFA"]
    assert row["k"] == 3
    for col, x in (("bayes_median", b.estimate), ("bayes_ci_low", b.ci_low),
                   ("bayes_ci_high", b.ci_high), ("tau_median", b.tau), ("bf01", b.bf01)):
        assert row[col] == pytest.approx(x, rel=1e-5), col
    readme = (out / "README.md").read_text(encoding="utf-8")
    assert "Bayesian small-k analysis" in readme and "half-normal prior" in readme

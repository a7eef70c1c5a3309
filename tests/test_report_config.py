"""The user's report (issue 20 item 4): a review that is not the seeds' reports about its own
table (no seed narrative, no placeholder text, sources as the table gives them), and a report
configuration (``--config report.toml``) chooses outcomes, grouping, measure, method, test and
level, checked strictly and described truthfully in the Methods."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pandas as pd
import pytest

import iometa
from iometa.cli import main
from iometa.report import ReportConfig, ReportConfigError, build_report, read_report_config

# A fictional review (invented studies, numbers and identifiers): its own modalities, outcomes
# and sources, a user grouping column (energy), one missing reference number, one missing
# group cell and primary tumour, PMIDs and DOIs on some rows only.
VOCAB = """\
modalities = ["histotripsy", "PEI"]
sources = ["ortiz_review2025", "own_search"]
[outcomes]
technical_efficacy = "proportion"
median_rfs = "duration"
"""

TABLE = """\
study_id,author,year,modality,site,primary,outcome,events,total,value,ci_low,ci_high,n_patients,source,ref_no,pmid,doi,energy
ortiz2021,Ortiz A,2021,histotripsy,liver,HCC,technical_efficacy,18,20,,,,20,ortiz_review2025,3,,,mechanical
lee2022,Lee B,2022,histotripsy,liver,HCC,technical_efficacy,22,30,,,,30,ortiz_review2025,,,,mechanical
park2023,Park C,2023,PEI,liver,HCC,technical_efficacy,40,50,,,,50,own_search,,31234567,,chemical
kim2019,Kim D,2019,PEI,liver,HCC,technical_efficacy,33,45,,,,45,own_search,,,10.1000/xyz.1,chemical
wu2020,Wu E,2020,RFA,liver,HCC,technical_efficacy,44,48,,,,48,ortiz_review2025,7,,,thermal
ng2021,Ng F,2021,MWA,liver,HCC,technical_efficacy,40,55,,,,55,ortiz_review2025,8,,,thermal
zhao2020,Zhao G,2020,PEI,liver,,technical_efficacy,10,12,,,,12,own_search,9,,,
ortiz2021,Ortiz A,2021,histotripsy,liver,HCC,median_rfs,,,14.5,11,19,20,ortiz_review2025,3,,,mechanical
lee2022,Lee B,2022,histotripsy,liver,HCC,median_rfs,,,9.2,7,12,30,ortiz_review2025,,,,mechanical
wu2020,Wu E,2020,RFA,liver,HCC,median_rfs,,,20.1,16,25,48,ortiz_review2025,7,,,thermal
ng2021,Ng F,2021,MWA,liver,HCC,median_rfs,,,26.0,18,31,55,ortiz_review2025,8,,,thermal
"""

CONFIG = """\
title = "Histotripsy vs thermal ablation: pooled outcomes"
outcomes = ["technical_efficacy", "median_rfs"]
group_by = "energy"
method = "PM"
test = "knha"
level = 0.9

[outcome.median_rfs]
method = "DL"
"""

PLACEHOLDERS = re.compile(r"\bNone\b|<NA>|&lt;NA>|\bnan\b|\bNaT\b")
SEED_WORDS = ("two narrative reviews", "data/README.md", "filippiadis", "newbury",
              "single-arm series quoted")


@pytest.fixture(scope="module")
def review(tmp_path_factory):
    base = tmp_path_factory.mktemp("user_review")
    (base / "iometa.toml").write_text(VOCAB, encoding="utf-8")
    (base / "review.csv").write_text(TABLE, encoding="utf-8")
    (base / "report.toml").write_text(CONFIG, encoding="utf-8")
    return base


@pytest.fixture(scope="module")
def reports(review):
    plain = build_report(data=review / "review.csv", out=review / "plain", verbose=False)
    configured = build_report(data=review / "review.csv", out=review / "configured",
                              verbose=False, config=review / "report.toml")
    return {"plain": plain, "configured": configured}


def _texts(out: Path) -> dict[str, str]:
    return {p.relative_to(out).as_posix(): p.read_text(encoding="utf-8")
            for p in sorted(out.rglob("*")) if p.suffix in (".md", ".csv")}


def _rows(review, outcome):
    studies = iometa.load_studies(review / "review.csv")
    rows = studies[(studies["outcome"] == outcome) & (studies["energy"].fillna("") != "")]
    return rows.reset_index(drop=True)


# ----------------------------------------------------------------------------- the user's text
@pytest.mark.parametrize("which", ["plain", "configured"])
def test_no_placeholder_text_anywhere(reports, which):
    texts = _texts(reports[which])
    assert "README.md" in texts and len(texts) > 5
    for name, text in texts.items():
        hits = PLACEHOLDERS.findall(text)
        assert hits == [], f"{name}: placeholder text {hits}"
        assert " ref. –" not in text and "ref. ," not in text, name
    for name in texts:
        if name.endswith(".csv"):
            df = pd.read_csv(reports[which] / name, dtype=str, keep_default_na=False)
            bad = df.isin(["None", "nan", "NaN", "<NA>"]).to_numpy().any()
            assert not bad, f"{name}: a placeholder cell"


@pytest.mark.parametrize("which", ["plain", "configured"])
def test_no_seed_wording_in_a_user_report(reports, which):
    readme = (reports[which] / "README.md").read_text(encoding="utf-8")
    for words in SEED_WORDS:
        assert words not in readme
    # the introduction describes this table: its sources, counted from the data
    assert "2 sources (column `source`): ortiz_review2025 (8 rows), own_search (3 rows)" in readme
    assert "No row comes from a study comparing" in readme


def test_sources_are_listed_as_the_table_gives_them(reports):
    readme = (reports["plain"] / "README.md").read_text(encoding="utf-8")
    assert "- Ortiz 2021 — ortiz_review2025 ref. 3, line 2" in readme
    assert "- Lee 2022 — ortiz_review2025, line 3" in readme  # no reference number: nothing
    assert "- Park 2023 — own_search, PMID 31234567, line 4" in readme
    assert "- Kim 2019 — own_search, doi:10.1000/xyz.1, line 5" in readme
    src = pd.read_csv(reports["plain"] / "tables" / "technical_efficacy_by_modality_sources.csv",
                      dtype=str, keep_default_na=False).set_index("study_id")
    assert src.loc["park2023", "pmid"] == "31234567" and src.loc["park2023", "source"] == "own_search"
    assert src.loc["kim2019", "doi"] == "10.1000/xyz.1" and src.loc["lee2022", "ref_no"] == ""
    md = (reports["plain"] / "tables" / "technical_efficacy_by_modality_sources.md").read_text(
        encoding="utf-8")
    assert "| Source |" in md and "| own_search, PMID 31234567 |" in md


# ----------------------------------------------------------------------------- the configuration
def test_config_sets_title_outcomes_and_describes_the_model(reports):
    readme = (reports["configured"] / "README.md").read_text(encoding="utf-8")
    assert readme.splitlines()[2] == "# Histotripsy vs thermal ablation: pooled outcomes"
    assert 'rma(measure = "PLO", method = "PM", test = "knha")' in readme
    assert "Knapp–Hartung" in readme and "90% confidence interval" in readme
    assert "`median_rfs`: DL τ²" in readme  # the per-outcome override is stated
    assert "their 90% CIs invert the sign test" in readme
    assert "`iometa.subgroups(result, by=energy)`" in readme
    assert "Report configuration `report.toml`" in readme
    plain = (reports["plain"] / "README.md").read_text(encoding="utf-8")
    assert 'rma(measure = "PLO", method = "REML")' in plain and 'test = "knha"' not in plain
    tables = {p.name for p in (reports["configured"] / "tables").glob("*.csv")}
    assert "technical_efficacy_by_energy.csv" in tables and "median_rfs_by_energy.csv" in tables
    assert not any("by_modality" in t for t in tables)


def test_group_by_a_user_column_with_the_configured_method_test_and_level(review, reports):
    tab = pd.read_csv(reports["configured"] / "tables" / "technical_efficacy_by_energy.csv")
    tab = tab.set_index("group")
    rows = _rows(review, "technical_efficacy")
    res = iometa.pool_proportions(rows["events"].to_numpy(float), rows["total"].to_numpy(float),
                                  measure="PLO", method="PM", test="knha", level=0.9)
    sub = iometa.subgroups(res, rows["energy"].astype(str).tolist())
    assert set(tab.index) == {"chemical", "mechanical", "thermal", "All groups"}
    for g in ("chemical", "mechanical", "thermal"):
        for col in ("estimate", "ci_low", "ci_high"):
            assert math.isclose(tab.loc[g, col], getattr(sub.groups[g], col), rel_tol=1e-5)
        assert tab.loc[g, "k"] == sub.groups[g].k
    for col in ("estimate", "ci_low", "ci_high", "tau2"):
        assert math.isclose(tab.loc["All groups", col], getattr(res, col), rel_tol=1e-5)
    assert math.isclose(tab.loc["All groups", "p_between"], sub.test_separate.pval, rel_tol=1e-5)
    md = (reports["configured"] / "tables" / "technical_efficacy_by_energy.md").read_text(
        encoding="utf-8")
    assert "Estimate [90% CI]" in md and "logit, PM, Knapp-Hartung" in md
    # the row without an energy cannot be grouped: listed with its reason, never dropped silently
    ex = pd.read_csv(reports["configured"] / "tables" / "excluded_rows.csv")
    assert ex.loc[ex["study_id"] == "zhao2020", "reason"].str.contains("column 'energy' is "
                                                                       "empty").all()


def test_method_and_test_change_the_numbers(review, reports):
    plain = pd.read_csv(reports["plain"] / "tables" / "technical_efficacy_by_modality.csv")
    conf = pd.read_csv(reports["configured"] / "tables" / "technical_efficacy_by_energy.csv")
    p, c = plain.set_index("group").loc["All groups"], conf.set_index("group").loc["All groups"]
    assert not math.isclose(p["ci_low"], c["ci_low"], rel_tol=1e-3)
    studies = iometa.load_studies(review / "review.csv")
    rows = studies[studies["outcome"] == "technical_efficacy"].reset_index(drop=True)
    res = iometa.pool_proportions(rows["events"].to_numpy(float), rows["total"].to_numpy(float))
    assert math.isclose(p["ci_low"], res.ci_low, rel_tol=1e-5)  # the default: REML, z, 95%


def test_per_outcome_override_pools_medians_with_its_method(review, reports):
    tab = pd.read_csv(reports["configured"] / "tables" / "median_rfs_by_energy.csv")
    tab = tab.set_index("group")
    rows = _rows(review, "median_rfs")
    res = iometa.pool_medians(rows["value"].to_numpy(float),
                              ci_low=rows["ci_low"].to_numpy(float),
                              ci_high=rows["ci_high"].to_numpy(float),
                              n=rows["n_patients"].to_numpy(float), method="DL", test="knha",
                              level=0.9)
    sub = iometa.subgroups(res, rows["energy"].astype(str).tolist())
    for g in ("mechanical", "thermal"):
        for col in ("estimate", "ci_low", "ci_high"):
            assert math.isclose(tab.loc[g, col], getattr(sub.groups[g], col), rel_tol=1e-5)
    assert tab.loc["mechanical", "model"] == "log median, DL, Knapp-Hartung"
    assert math.isclose(tab.loc["All groups", "p_between"], sub.test_separate.pval, rel_tol=1e-5)


def test_outcomes_not_configured_are_listed_with_the_reason(review, tmp_path):
    cfg = tmp_path / "only.toml"
    cfg.write_text('outcomes = ["median_rfs"]\n', encoding="utf-8")
    out = build_report(data=review / "review.csv", out=tmp_path / "out", verbose=False,
                       config=cfg)
    ex = pd.read_csv(out / "tables" / "excluded_rows.csv")
    te = ex[ex["outcome"] == "technical_efficacy"]
    assert len(te) == 7 and te["reason"].str.contains("not among the outcomes of the report "
                                                      "configuration").all()
    assert {p.name for p in (out / "figures").glob("*.png")} == {"median_rfs_by_modality.png"}


def test_explicit_defaults_reproduce_the_report_without_a_config(review, reports, tmp_path):
    cfg = tmp_path / "defaults.toml"
    cfg.write_text('group_by = "modality"\nmeasure = "PLO"\nmethod = "REML"\ntest = "z"\n'
                   "level = 0.95\n", encoding="utf-8")
    assert read_report_config(cfg).is_default
    out = build_report(data=review / "review.csv", out=tmp_path / "out", verbose=False,
                       config=cfg)
    assert _texts(out) == _texts(reports["plain"])


def test_timepoint_override_keeps_one_time_point(tmp_path):
    lines = TABLE.strip().splitlines()
    header = lines[0] + ",timepoint_months"
    body = [ln + (",12" if i % 2 else ",6") for i, ln in enumerate(lines[1:8])]
    (tmp_path / "iometa.toml").write_text(VOCAB, encoding="utf-8")
    (tmp_path / "t.csv").write_text("\n".join([header, *body]) + "\n", encoding="utf-8")
    (tmp_path / "c.toml").write_text("[outcome.technical_efficacy]\ntimepoint = 12\n",
                                     encoding="utf-8")
    out = build_report(data=tmp_path / "t.csv", out=tmp_path / "out", verbose=False,
                       config=tmp_path / "c.toml")
    tab = pd.read_csv(out / "tables" / "technical_efficacy_by_modality.csv")
    assert tab.set_index("group").loc["All groups", "k"] == 3  # lee, kim, ng: 12 months
    ex = pd.read_csv(out / "tables" / "excluded_rows.csv")
    assert ex["reason"].str.contains("not at 12 months").sum() == 4


# ----------------------------------------------------------------------------- strict checking
@pytest.mark.parametrize("text, key, words", [
    ('methd = "PM"\n', "methd", "did you mean 'method'"),
    ('method = "REMLL"\n', "method", "did you mean 'REML'"),
    ('method = "GENQ"\n', "method", "needs user weights"),
    ('measure = "PLOT"\n', "measure", "did you mean 'PLO'"),
    ('test = "wald"\n', "test", "unknown test 'wald'"),
    ('level = "high"\n', "level", "must be a number"),
    ("level = 95\n", "level", "between 0 and 1"),
    ('outcomes = "technical_efficacy"\n', "outcomes", "must be a list"),
    ("title = 3\n", "title", "non-empty string"),
    ('[outcome.technical_efficacy]\nmethd = "DL"\n', "outcome.technical_efficacy.methd",
     "did you mean 'method'"),
    ('[outcome.technical_efficacy]\nmethod = 3\n', "outcome.technical_efficacy.method",
     "must be a string"),
])
def test_bad_config_names_file_and_key(tmp_path, text, key, words):
    f = tmp_path / "report.toml"
    f.write_text(text, encoding="utf-8")
    with pytest.raises(ReportConfigError) as info:
        read_report_config(f)
    msg = str(info.value)
    assert str(f) in msg and f"key '{key}'" in msg and words in msg


@pytest.mark.parametrize("text, key, words", [
    ('outcomes = ["tecnical_efficacy"]\n', "outcomes", "did you mean 'technical_efficacy'"),
    ('group_by = "enrgy"\n', "group_by", "did you mean 'energy'"),
    ('group_by = "value"\n', "group_by", "cannot group"),
    ('[outcome.median_rfs]\nmeasure = "PFT"\n', "outcome.median_rfs.measure",
     "applies to proportion outcomes only"),
    ('[outcome.local_progresion]\nmethod = "PM"\n', "outcome.local_progresion",
     "not in the study table"),
])
def test_config_checked_against_the_table_before_anything_is_written(review, tmp_path, capsys,
                                                                     text, key, words):
    f = tmp_path / "report.toml"
    f.write_text(text, encoding="utf-8")
    out = tmp_path / "out"
    code = main(["report", "--data", str(review / "review.csv"), "--out", str(out),
                 "--config", str(f), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert str(f) in err and f"key '{key}'" in err and words in err
    assert not out.exists()


def test_malformed_or_missing_config_is_a_clear_error(tmp_path):
    f = tmp_path / "report.toml"
    f.write_text('method = "PM\n', encoding="utf-8")
    with pytest.raises(ReportConfigError, match=r"(?s)report\.toml.*not a valid TOML file \(line 1\)"):
        read_report_config(f)
    with pytest.raises(ReportConfigError, match="not found"):
        read_report_config(tmp_path / "absent.toml")


def test_config_from_a_mapping_and_spellings():
    cfg = ReportConfig.from_mapping({"method": "pm", "test": "t", "measure": "pft"})
    assert (cfg.method, cfg.test, cfg.measure) == ("PM", "knha", "PFT")
    assert not cfg.is_default and ReportConfig.from_mapping({}).is_default
    with pytest.raises(TypeError):
        build_report(config=3)  # neither a path, a mapping nor a ReportConfig


def test_report_help_documents_config(capsys):
    with pytest.raises(SystemExit):
        main(["report", "--help"])
    out = capsys.readouterr().out
    assert "--config REPORT.toml" in out and "group_by" in out and "knha" in out


def test_cli_report_with_vocabulary_and_config(review, tmp_path, capsys):
    out = tmp_path / "cli"
    assert main(["report", "--data", str(review / "review.csv"), "--vocabulary",
                 str(review / "iometa.toml"), "--config", str(review / "report.toml"),
                 "--out", str(out), "--quiet"]) == 0
    assert "report:" in capsys.readouterr().out
    assert (out / "figures" / "technical_efficacy_by_energy.svg").is_file()
    assert _texts(out)["README.md"].splitlines()[2].startswith("# Histotripsy vs thermal")

"""Head-to-head comparisons in the study table: the loader's rules and the paired rows."""

from __future__ import annotations

import math
import warnings

import pandas as pd
import pytest

import iometa
from iometa.data import StudyTableError, validate_studies
from iometa.outcomes import comparison_rows as comparison_rows_path


def _arm(**kw):
    base = {"study_id": "trial2020", "author": "Doe J", "year": "2020", "modality": "MWA",
            "arm": "MWA", "subgroup": "arm: MWA", "outcome": "local_progression",
            "unit_of_analysis": "patients", "comparison_id": "trial2020_mwa_vs_rfa",
            "timepoint_months": "12", "events": "3", "total": "30", "n_patients": "30"}
    return {**base, **{k: str(v) for k, v in kw.items()}}


def _rfa(**kw):
    return _arm(**{"modality": "RFA", "arm": "RFA", "subgroup": "arm: RFA", **kw})


def _problems(rows, path="h2h.csv"):
    with pytest.raises(StudyTableError) as exc:
        validate_studies(pd.DataFrame(rows), path=path)
    return exc.value.problems, str(exc.value)


# --- the real table --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def studies():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return iometa.load_studies()


def test_vogl2022_local_progression_is_paired_from_its_arm_rows(studies):
    sel = iometa.comparison_rows(studies, "local_progression", treatment="MWA", control="RFA",
                                 unit="patients")
    assert sel is not None and comparison_rows_path is iometa.comparison_rows
    assert sel.rows["comparison_id"].tolist() == ["vogl2022_mwa_vs_rfa"]
    row = sel.rows.iloc[0]
    arms = studies[studies["comparison_id"] == "vogl2022_mwa_vs_rfa"]
    arms = arms[arms["outcome"] == "local_progression"].set_index("arm")
    assert (row.events_1, row.total_1) == (arms.at["MWA", "events"], arms.at["MWA", "total"])
    assert (row.events_2, row.total_2) == (arms.at["RFA", "events"], arms.at["RFA", "total"])
    assert (row.line_1, row.line_2) == (arms.at["MWA", "line"], arms.at["RFA", "line"])
    assert row.timepoint_months == 12 and row.label == "Vogl 2022"
    assert (row.arm_1, row.arm_2) == ("MWA", "RFA")
    # the cryoablation-vs-RFA trial's rows are listed, each with its reason
    ex = sel.excluded
    assert set(ex["study_id"]) == {"wangc2015", "zhangl2013", "abdelaziz2014", "santambrogio2016",
                                   "pmid16126363"}
    assert ex.loc[ex["study_id"] == "zhangl2013", "reason"].str.contains("lesions").all()
    # head-to-head rows whose percentages have no stated denominator are never paired
    for sid in ("abdelaziz2014", "santambrogio2016"):
        assert ex.loc[ex["study_id"] == sid, "reason"].str.contains(
            "without a stated denominator").all()
    ex = ex[ex["study_id"] == "wangc2015"]
    assert ex["reason"].str.contains("neither the treatment").sum() == 4
    assert ex["reason"].str.contains("no 'MWA' arm").sum() == 3
    assert ex["reason"].str.contains("stratum").sum() == 1


def test_units_are_never_paired_together(studies):
    """Local progression is compared per patient (Vogl 2022) and per nodule (Zhang 2013):
    without unit= nothing is paired and the note says why; each unit pairs its own study."""
    sel = iometa.comparison_rows(studies, "local_progression", "MWA", "RFA")
    assert sel.rows.empty and "unit" in sel.note
    les = iometa.comparison_rows(studies, "local_progression", "MWA", "RFA", unit="lesions")
    assert les.rows["comparison_id"].tolist() == ["zhangl2013_mwa_vs_rfa"]
    r = les.rows.iloc[0]
    assert (r.events_1, r.total_1, r.events_2, r.total_2) == (11, 105, 11, 93)


def test_paired_rows_feed_pool_two_groups(studies):
    sel = iometa.comparison_rows(studies, "local_progression", "mwa", "rfa", unit="patients")
    res = iometa.pool_two_groups("events_1", "total_1", "events_2", "total_2", data=sel.rows,
                                 labels="label", measure="OR", method="FE")
    r = sel.rows.iloc[0]
    a, b = r.events_1 + 0.5, r.total_1 - r.events_1 + 0.5  # one zero cell: 1/2 added
    c, d = r.events_2 + 0.5, r.total_2 - r.events_2 + 0.5
    assert res.estimate == pytest.approx(a * d / (b * c), rel=1e-12)
    assert res.studies["label"].tolist() == ["Vogl 2022"]
    assert res.studies["events_1"].tolist() == [r.events_1]


def test_several_time_points_are_not_paired_together(studies):
    sel = iometa.comparison_rows(studies, "local_progression", "cryoablation", "RFA")
    assert sel.rows.empty and sel.timepoints == (12.0, 24.0, 36.0)
    assert "12 months, 24 months, 36 months" in sel.note
    picked = iometa.comparison_rows(studies, "local_progression", "cryoablation", "RFA",
                                    timepoint=24)
    r = picked.rows.iloc[0]
    assert r.comparison_id == "wangc2015_cryo_vs_rfa" and r.timepoint_months == 24
    assert (r.count_source_1, r.count_source_2) == ("reconstructed", "reconstructed")
    src = studies.set_index("line")
    for k in ("1", "2"):
        line = r[f"line_{k}"]
        n = src.at[line, "n_patients"]
        assert r[f"total_{k}"] == n
        assert r[f"events_{k}"] == math.floor(src.at[line, "value"] * n + 0.5)
    assert picked.excluded["reason"].str.contains("not the time point chosen").sum() == 4


def test_survival_rates_are_excluded_with_the_reason(studies):
    sel = iometa.comparison_rows(studies, "os_rate", "MWA", "RFA")
    assert sel.rows.empty and "could be paired" in sel.note
    # every MWA or RFA arm row of a survival rate is listed as a Kaplan–Meier rate
    km_arms = ((studies["outcome"] == "os_rate") & studies["arm"].isin(["MWA", "RFA"])).sum()
    assert km_arms >= 5
    assert sel.excluded["reason"].str.contains("Kaplan–Meier").sum() == km_arms
    assert "line" in sel.summary()


def test_transarterial_and_ablation_head_to_heads_pair_their_printed_counts(studies):
    """The TACE/TARE and MWA/RFA arm rows added from primary abstracts pair with their
    printed (or exactly derived) counts, treatment arm first."""
    sel = iometa.comparison_rows(studies, "major_complication", "TARE", "TACE")
    assert sel.rows["comparison_id"].tolist() == ["hong2009_tace_vs_tare"]
    r = sel.rows.iloc[0]
    assert (r.events_1, r.total_1, r.events_2, r.total_2) == (0, 19, 1, 37)
    assert r.unit_of_analysis == "procedures"
    dead = iometa.comparison_rows(studies, "mortality", "TARE", "DEB-TACE", unit="patients")
    assert dead.rows["comparison_id"].tolist() == ["pitton2015_tare_vs_debtace"]
    r = dead.rows.iloc[0]
    assert (r.events_1, r.total_1, r.events_2, r.total_2) == (7, 12, 7, 12)
    ca = iometa.comparison_rows(studies, "complete_ablation", "MWA", "RFA", unit="lesions")
    got = {row.study_id: (row.events_1, row.total_1, row.events_2, row.total_2)
           for row in ca.rows.itertuples()}
    assert got["pmc5803367"] == (58, 60, 79, 85)
    assert got["zhangl2013"] == (91, 105, 78, 93)


def test_the_project_table_follows_the_comparison_rules(studies):
    ids = studies["comparison_id"].dropna().unique()
    assert len(ids) >= 2
    for cid in ids:
        rows = studies[studies["comparison_id"] == cid]
        assert rows["study_id"].nunique() == 1 and rows["arm"].notna().all()
        assert rows["arm"].nunique() >= 2


# --- the loader's rules ----------------------------------------------------------------------


def test_valid_comparison_loads():
    df = validate_studies(pd.DataFrame([_arm(), _rfa(events=6)]))
    assert df["comparison_id"].tolist() == ["trial2020_mwa_vs_rfa"] * 2


def test_every_comparison_rule_names_file_line_and_column():
    rows = [
        _arm(), _rfa(),                                                  # lines 2-3 fine
        _arm(study_id="other2021"),                                      # 4: another study
        _arm(arm="", subgroup="", outcome="complete_ablation",
             timepoint_months=""),                                       # 5: arm empty
        _arm(comparison_id="solo", arm="MWA"),                           # 6: one arm only
        _arm(outcome="major_complication", timepoint_months=""),         # 7: no RFA row
        _arm(outcome="recurrence", timepoint_months="12"),               # 8: MWA at 12,
        _rfa(outcome="recurrence", timepoint_months="24"),               # 9: RFA at 24
        _arm(outcome="technical_success", timepoint_months=""),          # 10: per patient,
        _rfa(outcome="technical_success", timepoint_months="",
             unit_of_analysis="lesions"),                                # 11: per lesion
        _rfa(outcome="complete_ablation", timepoint_months="", events="31"),  # 12: > total
    ]
    problems, text = _problems(rows)
    where = {(p.line, p.column) for p in problems}
    assert all(p.file == "h2h.csv" for p in problems)
    assert (4, "study_id") in where
    assert (5, "arm") in where
    assert (6, "comparison_id") in where
    assert (7, "arm") in where
    assert (8, "timepoint_months") in where and (9, "timepoint_months") in where
    assert (11, "unit_of_analysis") in where
    assert (12, "events") in where
    assert "h2h.csv, line 4, column 'study_id'" in text
    assert "belongs to study 'trial2020'" in text
    assert "has one arm only ('MWA')" in text
    assert "but not for arm 'RFA'" in text
    assert "is at 12 months but arm 'RFA' has it at 24 months" in text
    assert "'lesions' in arm 'RFA' but in 'patients' in arm 'MWA' (line 10)" in text
    assert "events must not exceed total (30)" in text
    assert not {2, 3} & {p.line for p in problems}


def test_strata_are_checked_per_arm():
    rows = [_arm(), _rfa(), _arm(subgroup="arm: MWA; lesion >3 cm", timepoint_months="")]
    problems, text = _problems(rows)
    assert [(p.line, p.column) for p in problems] == [(4, "arm")]
    assert "outcome 'local_progression' (lesion >3 cm)" in text


# --- comparison_rows on a synthetic table ----------------------------------------------------


def _typed(rows):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return validate_studies(pd.DataFrame(rows))


def test_every_exclusion_reason():
    rows = [
        _arm(), _rfa(events=6),                                              # 2-3: pair
        _arm(study_id="b2021", comparison_id="b", events="", total="",
             value="0.5", n_patients=""),                                    # 4: no counts
        _rfa(study_id="b2021", comparison_id="b"),                           # 5
        _arm(study_id="c2021", comparison_id="c", value_type="upper_bound",
             events="", total="", value="0.1"),                              # 6: bound
        _rfa(study_id="c2021", comparison_id="c"),                           # 7
        _arm(study_id="d2021", comparison_id="d", modality="cryoablation",
             arm="cryoablation", subgroup="arm: cryoablation"),              # 8: other arm
        _rfa(study_id="d2021", comparison_id="d"),                           # 9
        _arm(study_id="e2021", comparison_id="e", subgroup="arm: MWA; lesion >3 cm"),  # 10
        _rfa(study_id="e2021", comparison_id="e", subgroup="arm: RFA; lesion >3 cm"),  # 11
        _arm(study_id="single2019", comparison_id="", arm="", subgroup=""),  # 12: single arm
    ]
    sel = iometa.comparison_rows(_typed(rows), "local_progression")
    assert sel.rows[["study_id", "events_1", "total_1", "events_2", "total_2"]].values.tolist() \
        == [["trial2020", 3, 30, 6, 30]]
    reasons = dict(zip(sel.excluded["line"], sel.excluded["reason"]))
    assert set(reasons) == {4, 5, 6, 7, 8, 9, 10, 11}
    assert "without a stated denominator" in reasons[4]
    assert "no usable 'MWA' arm at 12 months" in reasons[5]
    assert "not an estimate" in reasons[6]
    assert "neither the treatment" in reasons[8]
    assert "no 'MWA' arm for this outcome (its arms: cryoablation, RFA)" in reasons[9]
    assert "stratum of the arm (lesion >3 cm)" in reasons[10]


def test_arm_missing_on_an_unvalidated_frame():
    df = pd.DataFrame([_arm(arm=""), _rfa()]).assign(events=[3, 6], total=[30, 30],
                                                     timepoint_months=[12.0, 12.0])
    sel = iometa.comparison_rows(df, "local_progression")
    assert sel.rows.empty
    assert sel.excluded["reason"].tolist()[0].startswith("arm missing")


def test_units_are_not_mixed_unless_chosen():
    rows = [_arm(), _rfa(),
            _arm(study_id="les2021", comparison_id="les", unit_of_analysis="lesions"),
            _rfa(study_id="les2021", comparison_id="les", unit_of_analysis="lesions")]
    df = _typed(rows)
    sel = iometa.comparison_rows(df, "local_progression")
    assert sel.rows.empty and "several units of analysis (lesions, patients)" in sel.note
    per_patient = iometa.comparison_rows(df, "local_progression", unit="patients")
    assert per_patient.rows["study_id"].tolist() == ["trial2020"]
    assert per_patient.excluded["reason"].str.contains("not patients").sum() == 2


def test_names_are_matched_with_did_you_mean():
    df = _typed([_arm(), _rfa()])
    assert iometa.comparison_rows(df, "Local_Progression", "mwa", "Rfa").rows.shape[0] == 1
    with pytest.raises(ValueError, match="did you mean 'MWA'"):
        iometa.comparison_rows(df, "local_progression", "MWAA", "RFA")
    with pytest.raises(ValueError, match="same arm"):
        iometa.comparison_rows(df, "local_progression", "RFA", "rfa")
    with pytest.raises(ValueError, match="unknown column 'sitee'"):
        iometa.comparison_rows(df, "local_progression", sitee="liver")
    with pytest.raises(ValueError, match="timepoint="):
        iometa.comparison_rows(df, "local_progression", timepoint="12 months")
    # a modality without an arm in the table: nothing paired, and the note says why
    sel = iometa.comparison_rows(df, "local_progression", "TACE", "TARE")
    assert sel.rows.empty and sel.note


def test_treatment_is_group_1_whichever_order_the_rows_come_in():
    df = _typed([_rfa(events=6), _arm(events=2)])
    sel = iometa.comparison_rows(df, "local_progression", treatment="RFA", control="MWA")
    assert sel.rows[["arm_1", "events_1", "arm_2", "events_2"]].values.tolist() == [
        ["RFA", 6, "MWA", 2]]


def test_score_outcomes_pair_mean_sd_and_n():
    score = dict(outcome="vas_pain_score", unit="points", events="", total="",
                 timepoint_months="1")
    rows = [_arm(value="2.5", sd="1.5", n_patients="30", **score),
            _rfa(value="3.5", sd="2.0", n_patients="28", **score),
            _arm(study_id="b2021", comparison_id="b", value="3.0", n_patients="20", **score),
            _rfa(study_id="b2021", comparison_id="b", value="3.1", sd="1.0",
                 n_patients="22", **score)]
    sel = iometa.comparison_rows(_typed(rows), "vas_pain_score")
    assert sel.rows[["mean_1", "sd_1", "n_1", "mean_2", "sd_2", "n_2"]].values.tolist() == [
        [2.5, 1.5, 30, 3.5, 2.0, 28]]
    assert "events_1" not in sel.rows
    reasons = dict(zip(sel.excluded["line"], sel.excluded["reason"]))
    assert "no SD (column sd)" in reasons[4] and "no usable 'MWA' arm" in reasons[5]
    eff = iometa.two_group_effects(mean_1="mean_1", sd_1="sd_1", n_1="n_1", mean_2="mean_2",
                                   sd_2="sd_2", n_2="n_2", measure="MD", data=sel.rows)
    assert eff["yi"].tolist() == [pytest.approx(2.5 - 3.5)]
    assert eff["vi"].tolist() == [pytest.approx(1.5 ** 2 / 30 + 2.0 ** 2 / 28)]


def test_duration_outcomes_are_excluded():
    rows = [_arm(outcome="median_os", events="", total="", value="20", unit="months",
                 timepoint_months=""),
            _rfa(outcome="median_os", events="", total="", value="18", unit="months",
                 timepoint_months="")]
    sel = iometa.comparison_rows(_typed(rows), "median_os")
    assert sel.rows.empty
    assert sel.excluded["reason"].str.contains("is a duration (a median per arm)", regex=False).all()

"""Help at the door (issue 20 item 5; the column-hint cases of issue 21)."""

from __future__ import annotations

import warnings

import pandas as pd
import pytest

from iometa._warnings import DataWarning
from iometa.data import StudyTableError, load_studies, validate_studies
from iometa.data.aliases import column_hint, suggest
from iometa.data.outcomes import outcome_rows
from iometa.data.vocabulary import MODALITIES, OUTCOMES, PRIMARIES, SITES


def _problems(raw, **kw):
    with pytest.raises(StudyTableError) as info:
        validate_studies(pd.DataFrame(raw), **kw)
    return info.value.problems


# ------------------------------------------------------------------ column hints


def test_study_id_label_gets_a_rename_hint_and_outcome_label_is_matched(tmp_path):
    f = tmp_path / "t.csv"
    f.write_text("Study ID,Modality,Outcome,value\nkim2021,RFA,median_os,12\n")
    with pytest.raises(StudyTableError) as info:
        load_studies(f)
    (p,) = info.value.problems  # 'Outcome' and 'Modality' are matched ignoring case
    assert p.column == "study_id"
    assert "the file has a column 'Study ID': rename it 'study_id'" in p.message


@pytest.mark.parametrize(
    "label, hint",
    [
        ("N", "'total' or 'n_patients'"),
        ("n", "'total' or 'n_patients'"),
        ("Time point (months)", "'timepoint_months'"),
        ("CI Upper", "'ci_high'"),
        ("Number of patients", "'n_patients'"),
        ("  sub group ", "'subgroup'"),
    ],
)
def test_unknown_columns_get_a_mapping_hint(label, hint):
    raw = pd.DataFrame({"study_id": ["kim2021"], "modality": ["RFA"],
                        "outcome": ["median_os"], "value": ["12"], label: ["40"]})
    with pytest.warns(DataWarning) as rec:
        df = validate_studies(raw)
    msgs = [str(w.message) for w in rec]
    assert any(f"unknown column '{label.strip()}'" in m and f"did you mean {hint}" in m
               for m in msgs), msgs
    assert label.strip() in df.columns  # kept, never dropped


def test_column_hint_examples():
    cols = ("study_id", "total", "n_patients", "outcome", "value")
    assert column_hint("STUDY_ID ", cols) == ["study_id"]
    assert column_hint("study-id", cols) == ["study_id"]
    assert column_hint("Endpoint", cols) == ["outcome"]
    assert column_hint("colour", cols) == []


# ------------------------------------------------------------------ suggestions


@pytest.mark.parametrize(
    "column, written, code",
    [
        ("modality", "MWA ablation", "MWA"),
        ("modality", "microwave ablation", "MWA"),
        ("modality", "Microwave", "MWA"),
        ("modality", "radiofrequency ablation", "RFA"),
        ("modality", "chemoembolization", "TACE"),
        ("modality", "transarterial chemoembolisation", "TACE"),
        ("modality", "DEB TACE", "DEB-TACE"),
        ("modality", "SIRT", "TARE"),
        ("modality", "Y-90", "TARE"),
        ("modality", "Y90", "TARE"),
        ("modality", "radioembolization", "TARE"),
        ("modality", "irreversible electroporation", "IRE"),
        ("modality", "bland embolization", "TAE"),
        ("modality", "cryotherapy", "cryoablation"),
        ("primary", "CRC", "colorectal"),
        ("primary", "colorectal cancer", "colorectal"),
        ("primary", "hepatocellular carcinoma", "HCC"),
        ("primary", "hepatocellular", "HCC"),
        ("primary", "NSCLC", "lung"),
        ("primary", "RCC", "kidney"),
        ("site", "hepatic", "liver"),
        ("site", "soft tissue", "soft_tissue"),
        ("site", "vertebral", "spine"),
        ("outcome", "LTP", "local_progression"),
        ("outcome", "ORR", "objective_response"),
        ("outcome", "major complications", "major_complication"),
        ("outcome", "technical success", "technical_success"),
    ],
)
def test_names_and_abbreviations_suggest_their_code(column, written, code):
    vocab = {"modality": MODALITIES, "primary": PRIMARIES, "site": SITES,
             "outcome": tuple(OUTCOMES)}[column]
    if written.casefold() == code.casefold():
        pytest.skip("the code itself")
    assert suggest(column, written, vocab)[0] == code


def test_suggestions_do_not_mislead_in_the_loader():
    found = _problems({"study_id": ["kim2021", "lee2022"], "modality": ["microwave ablation",
                                                                       "RFA"],
                       "primary": ["HCC", "CRC"], "outcome": ["median_os", "median_os"],
                       "value": ["12", "14"]})
    msgs = {(p.line, p.column): p.message for p in found}
    assert msgs[(2, "modality")] == "unknown modality; did you mean 'MWA'?"
    assert msgs[(3, "primary")] == "unknown primary; did you mean 'colorectal'?"
    assert "cryoablation" not in msgs[(2, "modality")] and "HCC" not in msgs[(3, "primary")]


def test_ambiguous_abbreviation_names_both_codes_and_unknown_code_says_how_to_add():
    found = _problems({"study_id": ["kim2021"], "modality": ["histotripsy"],
                       "outcome": ["OS"], "value": ["12"]})
    msgs = {p.column: p.message for p in found}
    assert msgs["outcome"] == "unknown outcome code; did you mean 'median_os' or 'os_rate'?"
    assert msgs["modality"].startswith("unknown modality; allowed: RFA, MWA")
    assert "iometa.toml" in msgs["modality"]


def test_short_codes_need_a_close_spelling():
    assert suggest("modality", "RFAA", MODALITIES) == ["RFA"]
    assert suggest("primary", "HHC", PRIMARIES) == []  # 3 letters, one changed: no guess
    assert suggest("modality", "PEI", MODALITIES) == []


# ------------------------------------------------------------------ study ids


def test_study_id_rule_is_an_error_in_the_project_table():
    raw = {"study_id": ["Smith 2019", "lee2022"], "modality": ["RFA", "RFA"],
           "outcome": ["median_os", "median_os"], "value": ["12", "14"],
           "author": ["Smith J", "Lee K"], "year": ["2019", "2022"],
           "source": ["newbury2022", "newbury2022"], "design": ["unknown", "unknown"],
           "unit_of_analysis": ["patients", "patients"], "unit": ["months", "months"],
           "quote": ["q", "q"]}
    (p,) = _problems(raw, strict=True)
    assert (p.line, p.column, p.value) == (2, "study_id", "Smith 2019")
    assert "lower case ASCII letters and digits only, e.g. 'meloni2009'" in p.message


def test_study_id_rule_is_a_warning_in_a_user_table():
    raw = pd.DataFrame({"study_id": ["Smith 2019"], "modality": ["RFA"],
                        "outcome": ["median_os"], "value": ["12"]})
    with pytest.warns(DataWarning, match="study_id 'Smith 2019' does not follow"):
        validate_studies(raw)


def test_ids_differing_only_in_case_are_flagged():
    (p,) = _problems({"study_id": ["smith2019", "Smith2019"], "modality": ["RFA", "MWA"],
                      "outcome": ["median_os", "median_os"], "value": ["12", "14"]})
    assert (p.line, p.column, p.value) == (3, "study_id", "Smith2019")
    assert "differs from 'smith2019' (line 2) only in case" in p.message


def test_the_project_table_follows_the_rule():
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataWarning)
        # the table mixes per-patient and per-lesion rows of one outcome (warned, pooled apart)
        warnings.filterwarnings("ignore", message=".*are mixed; do not pool them together",
                                category=DataWarning)
        df = load_studies()
    assert df["study_id"].str.fullmatch(r"[a-z][a-z0-9]*").all()


# ------------------------------------------------------------------ outcome_rows filters


@pytest.fixture(scope="module")
def studies():
    return load_studies()


def test_filters_match_codes_ignoring_case(studies):
    upper = outcome_rows(studies, "local_progression", modality="RFA", timepoint=None)
    lower = outcome_rows(studies, "Local_Progression", modality="Rfa", timepoint=None)
    assert len(upper.rows) > 0
    pd.testing.assert_frame_equal(upper.rows, lower.rows)
    assert set(lower.rows["modality"].astype(str)) == {"RFA"}


def test_a_numeric_filter_matches(studies):
    sel = outcome_rows(studies, "os_rate", timepoint_months=12)
    assert len(sel.rows) + len(sel.excluded) > 0
    assert (sel.rows["timepoint_months"] == 12).all()


def test_nothing_matched_says_why(studies):
    sel = outcome_rows(studies, "median_os", modality="kyphoplasty")
    assert sel.rows.empty and sel.excluded.empty
    assert sel.note.startswith("no row of outcome 'median_os' has modality = 'kyphoplasty'")
    assert "values of modality in its rows:" in sel.note
    assert sel.note in sel.summary()


def test_misspelt_keyword_and_outcome_get_did_you_mean(studies):
    with pytest.raises(ValueError, match="unknown column 'modalty'.*did you mean 'modality'"):
        outcome_rows(studies, "median_os", modalty="RFA")
    with pytest.raises(ValueError, match="did you mean 'reconstruct'"):
        outcome_rows(studies, "median_os", reconstuct=False)
    with pytest.raises(ValueError, match="did you mean 'local_progression'"):
        outcome_rows(studies, "local_progresion")
    with pytest.raises(ValueError, match="unknown modality; did you mean 'TARE'"):
        outcome_rows(studies, "median_os", modality="SIRT")

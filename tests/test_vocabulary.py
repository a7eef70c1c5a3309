"""User vocabularies (issue 20 item 1): iometa.toml beside the table, --vocabulary, dicts."""

from __future__ import annotations

import pandas as pd
import pytest

from iometa.cli import main
from iometa.data import (
    StudyTableError,
    Vocabulary,
    VocabularyError,
    load_studies,
    outcome_kind,
    read_vocabulary,
    select,
    validate_studies,
    vocabulary_of,
)
from iometa.data.outcomes import outcome_rows

VOCAB = """\
modalities = ["histotripsy", "PEI", "SBRT"]
sites = ["pancreas"]
primaries = ["pancreatic"]
sources = ["ortiz_review2025"]
[outcomes]
technical_efficacy = "proportion"   # kinds: proportion, duration, score
median_rfs = "duration"
[modality_family]
histotripsy = "ablation"
SBRT = "radiotherapy"
"""

TABLE = """\
study_id,modality,site,primary,outcome,events,total,value,source
ortiz2021,histotripsy,liver,HCC,technical_efficacy,18,20,,ortiz_review2025
lee2022,Histotripsy,liver,HCC,technical_efficacy,27,30,,ortiz_review2025
park2023,PEI,liver,HCC,technical_efficacy,40,50,,ortiz_review2025
chen2020,SBRT,pancreas,pancreatic,technical_efficacy,30,40,,ortiz_review2025
ortiz2021,histotripsy,liver,HCC,median_rfs,,,14.5,ortiz_review2025
lee2022,histotripsy,liver,HCC,median_rfs,,,11.2,ortiz_review2025
"""


@pytest.fixture
def review(tmp_path):
    (tmp_path / "iometa.toml").write_text(VOCAB)
    f = tmp_path / "review.csv"
    f.write_text(TABLE)
    return f


def test_vocabulary_beside_the_table_is_found_and_kept_in_the_frame(review):
    df = load_studies(review)
    assert df["modality"].tolist()[:4] == ["histotripsy", "histotripsy", "PEI", "SBRT"]
    assert list(df["modality"].cat.categories[-3:]) == ["histotripsy", "PEI", "SBRT"]
    voc = vocabulary_of(df)
    assert voc.file == str(review.parent / "iometa.toml")
    assert voc.kind("median_rfs") == "duration" and voc.family("SBRT") == "radiotherapy"
    assert voc.family("RFA") == "ablation"


def test_validating_a_validated_frame_again_keeps_its_vocabulary(review):
    df = load_studies(review)
    again = validate_studies(df)
    pd.testing.assert_frame_equal(df, again)
    assert vocabulary_of(again) == vocabulary_of(df)
    with pytest.raises(StudyTableError):
        validate_studies(df, vocabulary=Vocabulary.builtin())


def test_custom_outcomes_pool_through_outcome_rows_and_select(review):
    df = load_studies(review)
    sel = outcome_rows(df, "technical_efficacy", modality="HISTOTRIPSY")
    assert sel.rows["events_used"].tolist() == [18, 27]
    assert sel.rows["total_used"].tolist() == [20, 30]
    med = outcome_rows(df, "median_rfs")
    assert med.rows["value"].tolist() == [14.5, 11.2]
    assert select(df, "median_rfs", modality="histotripsy")["study_id"].tolist() == [
        "ortiz2021", "lee2022"]
    import iometa

    res = iometa.pool_proportions(sel.rows["events_used"], sel.rows["total_used"],
                                  measure="PR", method="FE")
    # common-effect pooled proportion of 18/20 and 27/30 (both 0.9) is 0.9
    assert res.estimate == pytest.approx(0.9, abs=1e-9)


def test_no_global_state_leaks_between_calls(review, tmp_path):
    load_studies(review)  # with the review's vocabulary
    other = tmp_path / "other"
    other.mkdir()
    plain = other / "plain.csv"
    plain.write_text(TABLE)
    with pytest.raises(StudyTableError) as info:
        load_studies(plain)  # no iometa.toml here: the built-in vocabulary only
    bad = {(p.line, p.column, p.value) for p in info.value.problems}
    assert (2, "modality", "histotripsy") in bad
    assert (2, "outcome", "technical_efficacy") in bad
    assert (5, "site", "pancreas") in bad
    assert Vocabulary.builtin().kind("median_rfs") is None
    with pytest.raises(ValueError, match="unknown outcome"):
        outcome_kind("median_rfs")


def test_explicit_vocabulary_path_and_dict(tmp_path):
    f = tmp_path / "t.csv"
    f.write_text("study_id,modality,outcome,value\nkim2021,PEI,median_rfs,12\n")
    v = tmp_path / "mine.toml"
    v.write_text(VOCAB)
    assert load_studies(f, vocabulary=v)["modality"].tolist() == ["PEI"]
    raw = pd.DataFrame({"study_id": ["kim2021"], "modality": ["pei"],
                        "outcome": ["median_rfs"], "value": ["12"]})
    df = validate_studies(raw, vocabulary={"modalities": ["PEI"],
                                           "outcomes": {"median_rfs": "duration"}})
    assert df.loc[0, "modality"] == "PEI" and df.loc[0, "value"] == 12.0
    assert outcome_kind("median_rfs", vocabulary=v) == "duration"
    with pytest.raises(StudyTableError):
        validate_studies(raw)  # built-in only


@pytest.mark.parametrize(
    "text, key, words",
    [
        ('modalities = ["rfa"]\n', "modalities", "already a built-in modality ('RFA')"),
        ('sites = ["Liver"]\n', "sites", "already a built-in site ('liver')"),
        ('[outcomes]\nmedian_os = "duration"\n', "outcomes.median_os",
         "already a built-in outcome ('median_os', a duration)"),
        ('[outcomes]\nlocal_thing = "rate_per_year"\n', "outcomes.local_thing",
         "unknown outcome kind; kinds: proportion, duration, score"),
        ('modality = ["PEI"]\n', "modality", "did you mean 'modalities'?"),
        ('modalities = "PEI"\n', "modalities", "expected a list of codes"),
        ('modalities = ["soft tissue"]\n', "modalities", "no spaces"),
        ('modalities = ["PEI", "pei"]\n', "modalities", "listed twice"),
        ('[modality_family]\nhistotripsy = "ablation"\n', "modality_family.histotripsy",
         "not a modality"),
        ('[modality_family]\nRFA = "radiotherapy"\n', "modality_family.RFA",
         "built-in modality of family 'ablation'"),
    ],
)
def test_bad_vocabulary_names_file_and_key(tmp_path, text, key, words):
    v = tmp_path / "iometa.toml"
    v.write_text(text)
    with pytest.raises(VocabularyError) as info:
        read_vocabulary(v)
    msg = str(info.value)
    assert str(v) in msg and f"key '{key}'" in msg and words in msg


def test_malformed_toml_names_the_line(tmp_path):
    v = tmp_path / "iometa.toml"
    v.write_text('modalities = ["PEI"]\nsites = [pancreas]\n')
    with pytest.raises(VocabularyError) as info:
        read_vocabulary(v)
    (p,) = info.value.problems
    assert p.file == str(v) and p.line == 2 and "not a valid TOML file" in p.message


def test_family_values_are_free_and_new_family_allowed():
    v = Vocabulary.from_mapping({"modalities": ["SBRT"],
                                 "modality_family": {"sbrt": "radiotherapy"}})
    assert v.family("SBRT") == "radiotherapy"


def test_declared_sources_are_checked_in_a_user_table(tmp_path):
    (tmp_path / "iometa.toml").write_text('sources = ["ortiz_review2025"]\n')
    f = tmp_path / "t.csv"
    f.write_text("study_id,modality,outcome,value,source\n"
                 "kim2021,RFA,median_os,12,Ortiz_Review2025\n"
                 "lee2022,RFA,median_os,14,ortiz_reveiw2025\n")
    with pytest.raises(StudyTableError) as info:
        load_studies(f)
    (p,) = info.value.problems
    assert (p.line, p.column) == (3, "source")
    assert "did you mean 'ortiz_review2025'" in p.message


def test_cli_validate_prints_the_vocabulary(review, tmp_path, capsys):
    assert main(["validate", str(review)]) == 0
    out = capsys.readouterr().out
    assert f"using the vocabulary {review.parent / 'iometa.toml'}: adds 3 modalities" in out
    assert "6 rows, 4 studies, 2 outcomes" in out
    alone = tmp_path / "alone"
    alone.mkdir()
    (alone / "r.csv").write_text(TABLE)
    assert main(["validate", str(alone / "r.csv")]) == 2
    assert "using the built-in vocabulary" in capsys.readouterr().out
    assert main(["validate", str(alone / "r.csv"), "--vocabulary",
                 str(review.parent / "iometa.toml")]) == 0
    bad = tmp_path / "bad.toml"
    bad.write_text('modalities = ["TACE"]\n')
    assert main(["validate", str(review), "--vocabulary", str(bad)]) == 2
    err = capsys.readouterr().err
    assert str(bad) in err and "key 'modalities'" in err


def test_report_end_to_end_with_the_review_vocabulary_and_an_xlsx(review, tmp_path, capsys):
    openpyxl = pytest.importorskip("openpyxl")
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Review"
    lines = [line.split(",") for line in TABLE.strip().splitlines()]
    for r in lines:
        ws.append([int(c) if c.isdigit() else (float(c) if c.replace(".", "", 1).isdigit()
                                               else c or None) for c in r])
    xlsx = tmp_path / "review.xlsx"
    wb.save(xlsx)
    pd.testing.assert_frame_equal(load_studies(review), load_studies(xlsx))
    out = tmp_path / "report"
    assert main(["report", "--data", str(xlsx), "--vocabulary",
                 str(review.parent / "iometa.toml"), "--out", str(out), "--quiet"]) == 0
    assert (out / "figures" / "technical_efficacy_by_modality.png").is_file()
    pooled = pd.read_csv(out / "tables" / "technical_efficacy_by_modality.csv").set_index("group")
    # histotripsy: 18/20 and 27/30, both 0.9, so the pooled proportion is 0.9 whatever tau²
    assert pooled.loc["histotripsy", "k"] == 2 and pooled.loc["histotripsy", "N"] == 50
    assert pooled.loc["histotripsy", "estimate"] == pytest.approx(0.9, abs=1e-6)
    assert pooled.loc["PEI", "estimate"] == pytest.approx(0.8, abs=1e-6)
    overview = pd.read_csv(out / "tables" / "study_table_overview.csv")
    kinds = dict(zip(overview["outcome"], overview["kind"]))
    assert kinds == {"median_rfs": "duration", "technical_efficacy": "proportion"}

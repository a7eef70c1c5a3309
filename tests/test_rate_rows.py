"""Rates per person-time in the study table (issue 23): the ``person_time`` and
``person_time_unit`` columns, outcomes of kind ``rate``, their loader rules (on both loader
paths), ``outcome_rows`` feeding ``pool_rates``, and the report's rate sections.

Pooled numbers are checked against metafor 3.8.1 through tests/reference/rates.json
(tests/reference/R/rates.R: ``rma(measure = "IRLN", xi, ti, method = "REML")`` and
``predict(res, transf = exp)``), here reached from a study table whose person-time is
partly written in months.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _fixture import decode

import iometa
from iometa._warnings import IometaWarning
from iometa.data import fastpath
from iometa.data.errors import StudyTableError
from iometa.outcomes import outcome_rows
from iometa.report import build_report

FIX = json.loads((Path(__file__).parent / "reference" / "rates.json").read_text())
CASES = {c["name"]: c for c in FIX["cases"]}
HEADER = ("study_id,author,year,modality,outcome,events,total,person_time,person_time_unit,"
          "value,unit,unit_of_analysis,n_patients\n")
OUT = "local_progression_incidence"


@pytest.fixture(params=[True, False], ids=["fast", "general"])
def loader_path(request, monkeypatch):
    monkeypatch.setattr(fastpath, "ENABLED", request.param)
    return request.param


def _write(tmp_path, body: str, name="rates.csv") -> Path:
    p = tmp_path / name
    p.write_text(HEADER + body, encoding="utf-8")
    return p


def _problems(path) -> list[str]:
    with pytest.raises(StudyTableError) as e:
        iometa.load_studies(path)
    return [str(p) for p in e.value.problems]


def _fixture_table(tmp_path, name="ltp_zeros_inline", months=(1, 4), modality="RFA") -> Path:
    """The fixture's counts as a study table; rows in ``months`` give person-time in months."""
    c = CASES[name]
    lines = []
    for j, (x, t) in enumerate(zip(c["xi"], c["ti"])):
        pt, unit = (t * 12, "months") if j in months else (t, "years")
        lines.append(f"s{j}x2020,Author{j},2020,{modality},{OUT},{x},,{pt!r},{unit},,"
                     "per_person_time,patients,50\n")
    return _write(tmp_path, "".join(lines))


# ------------------------------------------------------------------------- the loader rules
def test_a_valid_rate_table_loads_with_typed_columns(tmp_path, loader_path):
    p = _write(tmp_path, f"a2019,Alpha,2019,RFA,{OUT},12,,98.5,years,0.12,per_person_time,"
                         "patients,10\n")
    df = iometa.load_studies(p)
    assert df["person_time"].dtype == "float64" and df.at[0, "person_time"] == 98.5
    assert str(df.at[0, "person_time_unit"]) == "years"
    # 12 events among 10 patients is a rate (several events per patient), not an error


@pytest.mark.parametrize("row, line_col, words", [
    (f"a,A,2019,RFA,{OUT},12,,,,,,patients,40", "column 'person_time'",
     "is a rate (events per person-time) and needs `events` and `person_time`"),
    (f"a,A,2019,RFA,{OUT},,,98,years,,,patients,40", "column 'events'",
     "needs `events` and `person_time`"),
    (f"a,A,2019,RFA,{OUT},NR,,98,years,,,patients,40", "column 'events'",
     "not reported (read as missing)"),
    (f"a,A,2019,RFA,{OUT},3,,0,years,,,patients,40", "column 'person_time'",
     "person_time must be a finite number greater than 0"),
    (f"a,A,2019,RFA,{OUT},3,,-4,years,,,patients,40", "column 'person_time'",
     "person_time must be a finite number greater than 0"),
    (f"a,A,2019,RFA,{OUT},3,,inf,years,,,patients,40", "column 'person_time'",
     "'inf' — expected a number"),
    (f"a,A,2019,RFA,{OUT},3,,60,,,,patients,40", "column 'person_time_unit'",
     "empty: person_time needs its unit (years, months, weeks or days"),
    (f"a,A,2019,RFA,{OUT},3,,60,decades,,,patients,40", "column 'person_time_unit'",
     "unknown person time unit"),
    (f"a,A,2019,RFA,{OUT},3,,60,years,0.5,per_person_time,patients,40", "column 'value'",
     "value 0.5 does not match events/person_time = 3/60 = 0.05 per year"),
    (f"a,A,2019,RFA,{OUT},3,,60,years,5,per_person_time,patients,40", "column 'value'",
     "divide a rate per 100 person-years by 100"),
    (f"a,A,2019,RFA,{OUT},3,,60,years,-0.05,per_person_time,patients,40", "column 'value'",
     "value of a rate (events per person-time) must be a finite number >= 0"),
    (f"a,A,2019,RFA,{OUT},3,,60,years,0.05,proportion,patients,40", "column 'unit'",
     "does not fit outcome 'local_progression_incidence' (a rate): use 'per_person_time'"),
    (f"a,A,2019,RFA,{OUT},3,,60 years,,,,patients,40", "column 'person_time'",
     "put the unit in `person_time_unit`"),
])
def test_bad_rate_rows_name_line_column_and_what_to_do(tmp_path, loader_path, row, line_col,
                                                      words):
    probs = _problems(_write(tmp_path, row + "\n"))
    hit = [p for p in probs if "line 2" in p and line_col in p and words in p]
    assert len(hit) == 1, probs


def test_rate_value_within_two_significant_digits_is_accepted(tmp_path, loader_path):
    # 7 / 57.3 = 0.12216...: 0.12 (2 significant digits) is accepted, 0.13 is not
    ok = _write(tmp_path, f"a,A,2019,RFA,{OUT},7,,57.3,years,0.12,per_person_time,patients,9\n")
    assert iometa.load_studies(ok).at[0, "value"] == 0.12
    bad = _write(tmp_path, f"a,A,2019,RFA,{OUT},7,,57.3,years,0.13,per_person_time,patients,9\n",
                 "bad.csv")
    assert any("does not match events/person_time" in p for p in _problems(bad))


def test_a_rate_outcome_needs_no_time_point_even_when_named_rate(tmp_path, loader_path):
    (tmp_path / "iometa.toml").write_text('[outcomes]\nltp_rate = "rate"\n', encoding="utf-8")
    p = _write(tmp_path, "a,A,2019,RFA,ltp_rate,3,,60,years,,,patients,40\n"
                         "b,B,2019,RFA,os_rate,,,,,0.8,proportion,patients,40\n")
    probs = _problems(p)
    assert len(probs) == 1 and "line 3" in probs[0] and "os_rate" in probs[0]  # only os_rate


def test_person_time_on_a_proportion_row_is_checked_too(tmp_path, loader_path):
    p = _write(tmp_path, "a,A,2019,RFA,local_progression,3,40,-1,years,,,patients,40\n")
    assert any("person_time must be a finite number greater than 0" in x for x in _problems(p))


# ---------------------------------------------------------------------- outcome_rows
def test_outcome_rows_converts_mixed_units_to_years_and_lists_rows_without_counts(tmp_path):
    p = _write(tmp_path, f"a,Alpha,2019,RFA,{OUT},12,,98.5,years,,,patients,40\n"
                         f"b,Beta,2020,RFA,{OUT},7,,410,months,,,patients,35\n"
                         f"c,Gamma,2021,RFA,{OUT},3,,730.5,days,,,patients,35\n"
                         f"d,Delta,2022,RFA,{OUT},,,,,0.1,per_person_time,patients,22\n")
    sel = outcome_rows(iometa.load_studies(p), OUT)
    assert sel.rows["events_used"].tolist() == [12, 7, 3]
    np.testing.assert_allclose(sel.rows["person_time_used"], [98.5, 410 / 12, 2.0], rtol=1e-15)
    assert set(sel.rows["person_time_unit_used"]) == {"years"}
    assert sel.excluded["line"].tolist() == [5]
    assert "no events and person_time" in sel.excluded.at[0, "reason"]


def test_outcome_rows_keeps_a_common_unit(tmp_path):
    p = _write(tmp_path, f"a,Alpha,2019,RFA,{OUT},12,,98.5,months,,,patients,40\n"
                         f"b,Beta,2020,RFA,{OUT},7,,410,months,,,patients,35\n")
    sel = outcome_rows(iometa.load_studies(p), OUT)
    assert sel.rows["person_time_used"].tolist() == [98.5, 410.0]
    assert set(sel.rows["person_time_unit_used"]) == {"months"}


@pytest.mark.parametrize("name", ["ltp_zeros_inline", "hart1999_control"])
def test_pool_rates_from_the_study_table_matches_metafor(tmp_path, name):
    """rma(measure = "IRLN", xi, ti, method = "REML") with tight controls, the person-time of
    rows 2 and 5 written in months in the table (converted back to years by outcome_rows)."""
    sel = outcome_rows(iometa.load_studies(_fixture_table(tmp_path, name)), OUT)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", IometaWarning)
        res = iometa.pool_rates("events_used", "person_time_used", data=sel.rows,
                                labels="label", method="REML")
    ref = next(f for f in CASES[name]["measures"]["IRLN"]["fits"]
               if f["method"] == "REML" and f["test"] == "z")
    for got, key in ((res.coef, "b"), (res.se, "se"), (res.tau2, "tau2"), (res.q, "QE")):
        assert got == pytest.approx(decode(ref[key]), rel=1e-6, abs=1e-10), key
    back = ref["predict_rate"]
    assert res.estimate == pytest.approx(decode(back["pred"]), rel=1e-6)
    assert res.ci_low == pytest.approx(decode(back["ci_lb"]), rel=1e-6)
    assert res.ci_high == pytest.approx(decode(back["ci_ub"]), rel=1e-6)


# ---------------------------------------------------------------------------- the report
def test_the_report_pools_a_rate_outcome_per_100_person_years(tmp_path):
    data = _fixture_table(tmp_path, "ltp_zeros_inline")
    out = tmp_path / "rep"
    build_report(data=data, out=out, verbose=False)
    slug = f"{OUT}_by_modality"
    tab = pd.read_csv(out / "tables" / f"{slug}.csv")
    ref = next(f for f in CASES["ltp_zeros_inline"]["measures"]["IRLN"]["fits"]
               if f["method"] == "REML" and f["test"] == "z")["predict_rate"]
    row = tab.iloc[0]
    assert row["group"] == "RFA" and row["k"] == 7
    assert row["estimate"] == pytest.approx(100 * decode(ref["pred"]), rel=1e-5)  # CSV 6 s.d.
    assert row["ci_low"] == pytest.approx(100 * decode(ref["ci_lb"]), rel=1e-5)
    assert row["ci_high"] == pytest.approx(100 * decode(ref["ci_ub"]), rel=1e-5)
    readme = (out / "README.md").read_text(encoding="utf-8")
    assert "events per 100 person-years" in readme
    assert "**Rates per person-time.**" in readme  # its Methods paragraph
    assert "Person-time converted to years" in readme  # rows 2 and 5 were in months
    assert (out / "figures" / f"{slug}.png").exists()
    src = (out / "tables" / f"{slug}_sources.md").read_text(encoding="utf-8")
    assert "Events / person-time" in src and "0 / 960 months (80 years)" in src


def test_the_report_keeps_per_lesion_rates_apart(tmp_path):
    rows = [f"p{j},P{j},2020,RFA,{OUT},{3 + j},,{50 + j},years,,,patients,30\n"
            for j in range(3)]
    rows += [f"l{j},L{j},2021,RFA,{OUT},{5 + j},,{80 + j},years,,,lesions,30\n"
             for j in range(3)]
    out = tmp_path / "rep"
    build_report(data=_write(tmp_path, "".join(rows)), out=out, verbose=False)
    names = sorted(p.name for p in (out / "tables").glob(f"{OUT}*_sources.csv"))
    assert names == [f"{OUT}_by_modality_lesions_sources.csv",
                     f"{OUT}_by_modality_patients_sources.csv"]
    assert "events per 100 lesion-years" in (out / "README.md").read_text(encoding="utf-8")


def test_report_config_rate_measure_per_outcome(tmp_path):
    data = _fixture_table(tmp_path, "hart1999_control", months=())
    cfg = tmp_path / "report.toml"
    cfg.write_text(f'[outcome.{OUT}]\nmeasure = "IRFT"\nmethod = "DL"\n', encoding="utf-8")
    out = tmp_path / "rep"
    build_report(data=data, out=out, verbose=False, config=cfg)
    tab = pd.read_csv(out / "tables" / f"{OUT}_by_modality.csv")
    ref = next(f for f in CASES["hart1999_control"]["measures"]["IRFT"]["fits"]
               if f["method"] == "DL" and f["test"] == "z")["predict_rate"]
    assert tab.at[0, "estimate"] == pytest.approx(100 * decode(ref["pred"]), rel=1e-5)
    assert tab.at[0, "model"] == "Freeman-Tukey rate, DL"


def test_report_config_refuses_a_rate_measure_for_a_proportion(tmp_path):
    from iometa.report.config import ReportConfigError, read_report_config

    p = _write(tmp_path, f"a,A,2019,RFA,{OUT},3,,60,years,,,patients,40\n"
                         "b,B,2019,RFA,local_progression,3,40,,,,,patients,40\n")
    studies = iometa.load_studies(p)
    cfg = tmp_path / "report.toml"
    cfg.write_text('[outcome.local_progression]\nmeasure = "IRLN"\n'
                   f'[outcome.{OUT}]\nmeasure = "PLO"\n', encoding="utf-8")
    with pytest.raises(ReportConfigError) as e:
        read_report_config(cfg).check(studies)
    msg = str(e.value)
    assert "outcome.local_progression.measure': IRLN is a rate measure" in msg
    assert f"outcome.{OUT}.measure': '{OUT}' is a rate" in msg
    cfg.write_text('measure = "IRLN"\n', encoding="utf-8")  # top level: proportions only
    with pytest.raises(ReportConfigError, match="unknown measure 'IRLN'"):
        read_report_config(cfg)


def test_rate_sections_have_leave_one_out_and_bayesian_tables(tmp_path):
    """Leave-one-out and Bayesian small-k tables of a rate section are the section's own
    model refitted (per 100 person-years), not proportions."""
    from iometa.core.bayes import pool_bayes

    data = _fixture_table(tmp_path, "hart1999_control", months=())
    out = tmp_path / "rep"
    build_report(data=data, out=out, verbose=False)
    stem = out / "tables" / f"{OUT}_by_modality"
    loo = pd.read_csv(f"{stem}_leave_one_out.csv")
    bayes = pd.read_csv(f"{stem}_bayes.csv")
    c = CASES["hart1999_control"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", IometaWarning)
        res = iometa.pool_rates(c["xi"], c["ti"], per=100, unit="person-years")
        drop0 = iometa.pool_rates(c["xi"][1:], c["ti"][1:], per=100, unit="person-years")
    assert len(loo) == 6 and loo.at[0, "k"] == 5
    assert loo.at[0, "estimate"] == pytest.approx(drop0.estimate, rel=1e-5)
    b = pool_bayes(res)
    assert bayes.at[0, "bayes_median"] == pytest.approx(b.estimate, rel=1e-5)
    assert 1 < bayes.at[0, "bayes_median"] < 100  # per 100 person-years, not a proportion
    md = open(f"{stem}_bayes.md", encoding="utf-8").read()
    assert "%" not in md.split("\n")[2]  # rates are not shown as percentages
    assert not (out / "tables" / f"{OUT}_by_modality_method_sensitivity.csv").exists()

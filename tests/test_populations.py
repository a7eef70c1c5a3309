"""No patient counted twice, no time points mixed (issue 20, item 3).

`outcome_rows` keeps, of the rows of one study and time point, only rows describing different
patients (whole study, else distinct arms, else the row measured from the procedure) and lists
the others with the reason; rows at different time points are never returned together unless
`timepoint=` asks. The last tests walk every outcome of the seed table (and the report's
selection) and check both properties.
"""

from __future__ import annotations

import math
import warnings

import pandas as pd
import pytest

import iometa
from iometa.data import StudyTableError, validate_studies
from iometa.data.populations import population_key
from iometa.outcomes import outcome_rows


def _table(rows):
    base = {"study_id": "s2020", "modality": "TACE", "outcome": "median_os", "subgroup": "",
            "arm": "", "timepoint_months": "", "events": "", "total": "", "value": "",
            "n_patients": "", "unit_of_analysis": "patients"}
    raw = pd.DataFrame([{**base, **{k: ("" if v is None else str(v)) for k, v in r.items()}}
                        for r in rows])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return validate_studies(raw)


def _reasons(sel):
    return dict(zip(sel.excluded["line"], sel.excluded["reason"]))


# ------------------------------------------------------------------------------ arms
def test_arms_of_known_size_pool_as_different_patients_and_are_n_weighted():
    df = _table([
        {"study_id": "trial2010", "arm": "X", "value": 10, "n_patients": 30},
        {"study_id": "trial2010", "arm": "Y", "value": 20, "n_patients": 40},
        {"study_id": "other2012", "value": 14, "n_patients": 50},
    ])
    sel = outcome_rows(df, "median_os")
    assert sel.rows["line"].tolist() == [2, 3, 4] and sel.excluded.empty
    assert sel.rows["n_used"].tolist() == [30.0, 40.0, 50.0]
    res = iometa.pool_medians("value", n="n_used", data=sel.rows, labels="label")
    assert res.method == "WM"  # every n known: weighted median of medians, weights n
    assert res.studies["weight"].round(6).tolist() == pytest.approx(
        [100 * 30 / 120, 100 * 40 / 120, 100 * 50 / 120])


def test_arms_of_unknown_size_are_never_n_weighted():
    df = _table([
        {"study_id": "trial2010", "arm": "X", "value": 10},
        {"study_id": "trial2010", "arm": "Y", "value": 20},
        {"study_id": "trial2010", "outcome": "partial_response", "events": 5, "total": 208,
         "value": 5 / 208, "n_patients": 208},
        {"study_id": "other2012", "value": 14, "n_patients": 50},
    ])
    sel = outcome_rows(df, "median_os")
    assert sel.rows["line"].tolist() == [2, 3, 5]
    assert sel.rows["n_used"].isna().tolist() == [True, True, False]
    res = iometa.pool_medians("value", n="n_used", data=sel.rows, labels="label")
    assert res.method == "MM"  # an unknown n: equal weights, never the trial's 208 per arm


def test_arm_counts_pool_as_separate_studies():
    df = _table([
        {"study_id": "trial2010", "outcome": "local_progression", "arm": "RFA", "events": 6,
         "total": 30, "value": 0.2, "n_patients": 30},
        {"study_id": "trial2010", "outcome": "local_progression", "arm": "MWA", "events": 4,
         "total": 40, "value": 0.1, "n_patients": 40},
    ])
    sel = outcome_rows(df, "local_progression")
    assert sel.rows["total_used"].tolist() == [30, 40]
    assert sel.rows["events_used"].tolist() == [6, 4]


def test_arms_adding_up_to_more_than_the_study_are_all_excluded():
    df = _table([
        {"study_id": "trial2010", "outcome": "partial_response", "events": 27, "total": 208,
         "value": 27 / 208, "n_patients": 208},
        {"study_id": "trial2010", "outcome": "stable_disease", "arm": "A", "events": 100,
         "total": 208, "value": 100 / 208, "n_patients": 208},
        {"study_id": "trial2010", "outcome": "stable_disease", "arm": "B", "events": 90,
         "total": 208, "value": 90 / 208, "n_patients": 208},
    ])
    sel = outcome_rows(df, "stable_disease")
    assert sel.rows.empty
    why = _reasons(sel)
    assert set(why) == {3, 4}
    assert "add up to 416 patients, more than its 208" in why[3]


def test_arm_totals_of_lesions_are_not_compared_with_patients():
    df = _table([
        {"study_id": "trial2010", "outcome": "partial_response", "events": 5, "total": 40,
         "value": 5 / 40, "n_patients": 40},
        *({"study_id": "trial2010", "outcome": "stable_disease", "arm": a,
           "unit_of_analysis": "lesions", "events": e, "total": t, "value": e / t}
          for a, e, t in (("A", 30, 60), ("B", 20, 50))),
    ])
    assert outcome_rows(df, "stable_disease").rows["total_used"].tolist() == [60, 50]


def test_whole_study_row_is_used_instead_of_its_arms():
    df = _table([
        {"study_id": "trial2010", "value": 15, "n_patients": 100},
        {"study_id": "trial2010", "arm": "X", "value": 10, "n_patients": 50},
        {"study_id": "trial2010", "arm": "Y", "value": 20, "n_patients": 50},
    ])
    sel = outcome_rows(df, "median_os")
    assert sel.rows["line"].tolist() == [2]
    assert all("same patients as line 2" in r for r in _reasons(sel).values())
    assert sorted(_reasons(sel)) == [3, 4]


def test_legacy_arm_subgroup_is_an_arm_of_unknown_size():
    assert population_key("arm: X", "") == ("arm: X", False)
    df = _table([
        {"study_id": "trial2010", "subgroup": "arm: X", "value": 10, "n_patients": 208},
        {"study_id": "trial2010", "subgroup": "arm: Y", "value": 20, "n_patients": 208},
    ])
    sel = outcome_rows(df, "median_os")
    assert len(sel.rows) == 2 and sel.rows["n_used"].isna().all()


# ------------------------------------------------------------------------------ same patients
def test_same_patients_from_two_origins_keep_the_procedure():
    df = _table([
        {"study_id": "ref2021", "modality": "TARE+ICI", "subgroup": "origin: ICI start",
         "value": 17.2, "n_patients": 26},
        {"study_id": "ref2021", "modality": "TARE+ICI", "subgroup": "origin: TARE",
         "value": 16.5, "n_patients": 26},
        {"study_id": "ref2022", "modality": "TARE+ICI", "subgroup": "origin: diagnosis",
         "value": 30, "n_patients": 20},
        {"study_id": "ref2022", "modality": "TARE+ICI", "subgroup": "origin: ICI start",
         "value": 20, "n_patients": 20},
    ])
    sel = outcome_rows(df, "median_os")
    assert sel.rows["line"].tolist() == [3]
    assert sel.rows["n_used"].tolist() == [26.0]  # the whole study, measured from TARE
    why = _reasons(sel)
    assert "same patients as line 3" in why[2]
    assert "none of them is the procedure" in why[4] and "none of them" in why[5]


def test_types_of_an_outcome_are_not_pooled_as_separate_studies():
    df = _table([
        {"study_id": "ph2019", "outcome": "complication", "subgroup": f"type: {t}",
         "events": 1, "total": 9, "value": 1 / 9, "n_patients": 9} for t in ("a", "b")
    ])
    sel = outcome_rows(df, "complication")
    assert sel.rows.empty
    assert all("types overlap in the same patients" in r for r in _reasons(sel).values())


def test_arm_is_part_of_the_key():
    rows = [{"study_id": "trial2010", "arm": a, "value": v} for a, v in (("X", 1), ("Y", 2))]
    assert len(_table(rows)) == 2
    with pytest.raises(StudyTableError, match="arm 'X'"):
        _table([{"study_id": "trial2010", "arm": "X", "value": v} for v in (1, 2)])


# ------------------------------------------------------------------------------ time points
def _timed():
    return _table([
        {"study_id": "a2015", "outcome": "local_control", "timepoint_months": 12,
         "events": 8, "total": 10, "value": 0.8},
        {"study_id": "a2015", "outcome": "local_control", "timepoint_months": 24,
         "events": 6, "total": 10, "value": 0.6},
        {"study_id": "b2016", "outcome": "local_control", "timepoint_months": 12,
         "events": 15, "total": 20, "value": 0.75},
        {"study_id": "c2017", "outcome": "local_control", "events": 9, "total": 12,
         "value": 0.75},
    ])


def test_several_time_points_are_not_returned_together_by_default():
    sel = outcome_rows(_timed(), "local_control")
    assert sel.rows.empty
    assert sel.timepoints == (None, 12.0, 24.0)
    assert "no time point, 12 months, 24 months" in sel.note and "timepoint=" in sel.note
    why = _reasons(sel)
    assert sorted(why) == [2, 3, 4, 5]
    assert why[3].startswith("at 24 months: the usable rows of 'local_control' are at several")


def test_timepoint_selects_one():
    df = _timed()
    sel = outcome_rows(df, "local_control", timepoint=12)
    assert sel.rows["line"].tolist() == [2, 4] and sel.note == "" and sel.excluded.empty
    assert outcome_rows(df, "local_control", timepoint=None).rows["line"].tolist() == [5]
    res = iometa.pool_proportions("events_used", "total_used", data=sel.rows, labels="label")
    assert res.k == 2
    every = outcome_rows(df, "local_control", timepoint="all")
    assert every.rows["line"].tolist() == [2, 3, 4, 5] and "separately" in every.note
    assert "timepoint_months = 6" in outcome_rows(df, "local_control", timepoint=6).note


def test_timepoint_arguments_are_checked():
    df = _timed()
    with pytest.raises(ValueError, match="'all'"):
        outcome_rows(df, "local_control", timepoint="12 months")
    with pytest.raises(ValueError, match="not both"):
        outcome_rows(df, "local_control", timepoint=12, timepoint_months=12)


def test_one_time_point_is_returned_as_is():
    sel = outcome_rows(_timed(), "local_control", study_id="b2016")
    assert sel.rows["line"].tolist() == [4] and sel.timepoints == (12.0,) and sel.note == ""


# ------------------------------------------------------------------------------ the seed table
def _study_sizes(studies):
    whole = studies["arm"].isna() & ~studies["subgroup"].fillna("").str.startswith(
        ("arm:", "primary:"))
    return studies[whole].groupby("study_id")["n_patients"].max().dropna().to_dict()


def _text(col):
    return col.astype("string").fillna("").str.strip().tolist()


def _check_no_overlap(rows, sizes, where):
    """Rows of one study and time point are distinct arms/cohorts whose sizes fit the study."""
    for (sid, _t), g in rows.groupby(["study_id", rows["timepoint_months"].fillna(-1)]):
        if len(g) == 1:
            continue
        keys = [population_key(s, a) for s, a in zip(_text(g["subgroup"]), _text(g["arm"]))]
        pops = [k for k, _ in keys]
        assert "" not in pops and len(set(pops)) == len(pops), (where, sid, pops)
        n = [t for t in (g["total_used"] if "total_used" in g else g["n_used"]) if pd.notna(t)]
        assert sid not in sizes or sum(n) <= sizes[sid], (where, sid, n)
    for s, a, n, line in zip(_text(rows["subgroup"]), _text(rows["arm"]), rows["n_used"],
                             rows["line"]):
        key, sized = population_key(s, a)
        if key and not sized:
            assert math.isnan(n), (where, line)  # size unknown: never n-weighted


@pytest.fixture(scope="module")
def seed():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return iometa.load_studies()


def test_every_outcome_of_the_seed_table(seed):
    sizes = _study_sizes(seed)
    for outcome in sorted({str(o) for o in seed["outcome"]}):
        lines = set(seed.loc[seed["outcome"] == outcome, "line"])
        for tp in ("default", "all", *sorted({t for t in seed.loc[
                seed["outcome"] == outcome, "timepoint_months"].dropna()}), None):
            kw = {} if tp == "default" else {"timepoint": tp}
            sel = outcome_rows(seed, outcome, **kw)
            got = list(sel.rows["line"]) + list(sel.excluded["line"])
            if tp in ("default", "all"):  # nothing dropped, nothing listed twice
                assert sorted(got) == sorted(lines), (outcome, tp)
            assert len(got) == len(set(got))
            _check_no_overlap(sel.rows, sizes, (outcome, tp))
            if tp != "all":
                assert sel.rows["timepoint_months"].nunique(dropna=False) <= 1, (outcome, tp)


def test_seed_regressions(seed):
    med = outcome_rows(seed, "median_os")
    vogl = med.rows[med.rows["study_id"] == "vogl2010"]
    assert sorted(vogl["arm"]) == ["gemcitabine", "mitomycin-C", "mitomycin-C+gemcitabine"]
    assert vogl["n_used"].isna().all()  # not 3 x 208 = 624
    ref21 = med.rows[med.rows["study_id"] == "newbury2022ref21"]
    assert ref21["subgroup"].tolist() == ["origin: TARE"]
    assert "another time origin" in _reasons(med)[73]
    tace = med.rows[med.rows["modality"] == "TACE"]
    unknown = tace["n_patients"].isna()
    assert unknown.any() and tace.loc[unknown, "n_used"].isna().all()  # no size: not n-weighted
    # the head-to-head arms (hong2009, she2014, bommineni) stand for their own arm sizes
    sized = tace[~unknown]
    assert (sized["arm"] == "TACE").all() and (sized["n_used"] == sized["n_patients"]).all()
    sev = outcome_rows(seed, "severe_adverse_event")
    assert not (sev.rows["study_id"] == "newbury2022ref21").any()


def test_the_report_selection_counts_no_patient_twice(seed):
    from iometa.report.content import section_builders
    from iometa.report.model import Context

    ctx = Context.of(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sections = [s for b in section_builders() for s in b(ctx)]
    assert sections
    by_slug: dict[str, list[int]] = {}
    for line, slugs in ctx.ledger.used.items():
        for slug in slugs:
            by_slug.setdefault(slug, []).append(line)
    sizes = _study_sizes(seed)
    for slug, lines in by_slug.items():
        rows = seed[seed["line"].isin(lines)]
        for outcome, g in rows.groupby(rows["outcome"].astype(str)):
            used = outcome_rows(seed, outcome, timepoint="all").rows
            used = used[used["line"].isin(g["line"])]
            if outcome not in ("os_rate", "pfs_rate"):  # survival rates: from the report rule
                assert len(used) == len(g), (slug, outcome)
            g = g.assign(n_used=math.nan)
            _check_no_overlap(g, sizes, slug)
        if not slug.endswith("_by_modality_site"):  # survival tables: one cell per time point
            assert rows["timepoint_months"].nunique(dropna=False) == 1, slug


def test_a_one_group_by_modality_figure_names_its_group(seed):
    """Issue 20 item 6: a *_by_modality forest with one modality says which one it is."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from iometa.report.model import Context
    from iometa.report.sections import proportion_sections

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        secs = {s.slug: s for s in proportion_sections(Context.of(seed))}
        fig = secs["partial_response_by_modality"].figure()
    texts = [t.get_text() for ax in fig.axes for t in ax.texts] + [
        t.get_text() for t in fig.texts]
    plt.close(fig)
    assert "TACE studies" in texts

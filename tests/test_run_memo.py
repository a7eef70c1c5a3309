"""The per-run memo of the study table (iometa.data.memo): the same selections as without it,
one computation per table object in a run, nothing kept after the run."""

from __future__ import annotations

import warnings

import pytest

import iometa
from iometa.data import memo, populations
from iometa.data.load import default_data_path
from iometa.data.outcomes import outcome_rows


@pytest.fixture(scope="module")
def studies():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return iometa.load_studies()


def _selections(studies):
    out = {}
    for o in sorted({str(x) for x in studies["outcome"]}):
        sel = outcome_rows(studies, o, timepoint="all")
        out[o] = (sel.rows, sel.excluded, sel.note)
    return out


def test_selections_are_those_without_the_memo(studies):
    plain = _selections(studies)
    with memo.run_memo() as kept:
        memoised = _selections(studies)
        assert any(k[0] == "study_sizes" for k in kept)
    assert plain.keys() == memoised.keys()
    for o, (rows, ex, note) in plain.items():
        r2, e2, n2 = memoised[o]
        assert rows.equals(r2) and ex.equals(e2) and note == n2, o


def test_study_sizes_once_per_table_object(studies, monkeypatch):
    calls = []
    real = populations._sizes_of
    monkeypatch.setattr(populations, "_sizes_of", lambda src: calls.append(src) or real(src))
    other = studies.copy()
    other.loc[other.index[0], "n_patients"] = 10_000  # another table, another answer
    with memo.run_memo():
        a = populations._study_sizes(studies, studies.iloc[:3])
        assert populations._study_sizes(studies, studies.iloc[:5]) is a
        b = populations._study_sizes(other, other.iloc[:3])
    assert len(calls) == 2 and a != b
    assert b == real(other) and a == real(studies)
    populations._study_sizes(studies, studies.iloc[:3])  # outside a run: computed each time
    populations._study_sizes(studies, studies.iloc[:3])
    assert len(calls) == 4


def test_the_memo_ends_with_the_run(studies, tmp_path, monkeypatch):
    assert memo._RUN.get() is None
    with memo.run_memo() as outer:
        with memo.run_memo() as inner:
            assert inner is not outer and inner == {}
        assert memo._RUN.get() is outer
    assert memo._RUN.get() is None
    from iometa.report.content import build_artefacts

    runs = []
    real = memo.memoised
    monkeypatch.setattr(populations, "memoised",
                        lambda kind, t, f: runs.append(memo._RUN.get()) or real(kind, t, f))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        build_artefacts(studies.iloc[:60], tmp_path / "r", data_path=default_data_path())
    assert runs and all(r is runs[0] and r is not None for r in runs)  # one memo per run
    assert memo._RUN.get() is None  # gone afterwards

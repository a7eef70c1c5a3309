"""The loader's fast paths (iometa.data.fastpath) give what the general code gives.

Every file or frame here is read or validated twice, with the fast reader and the
column-wise parsing and checks, and with the general cell-by-cell code only; the frames,
the problems (file, line, column, value, message, in order) and the warnings must be equal.
"""

from __future__ import annotations

import random
import warnings

import pandas as pd
import pytest

from iometa.data import fastpath, load_studies, read_study_table, validate_studies
from iometa.data.errors import StudyTableError


def _outcome(fn, *args, **kwargs):
    """(frame or None, problems or None, error text, warnings) of one call."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            out = fn(*args, **kwargs)
            problems, text = None, None
        except StudyTableError as exc:
            out, problems, text = None, list(exc.problems), str(exc)
    return out, problems, text, [(w.category, str(w.message)) for w in caught]


def _both(monkeypatch, fn, *args, **kwargs):
    fast = _outcome(fn, *args, **kwargs)
    with monkeypatch.context() as m:
        m.setattr(fastpath, "ENABLED", False)
        slow = _outcome(fn, *args, **kwargs)
    assert fast[1] == slow[1]
    assert fast[2] == slow[2]
    assert fast[3] == slow[3]
    if slow[0] is None:
        assert fast[0] is None
    else:
        pd.testing.assert_frame_equal(fast[0], slow[0])
        assert {k: v for k, v in fast[0].attrs.items() if k != "vocabulary"} == {
            k: v for k, v in slow[0].attrs.items() if k != "vocabulary"}
    return fast


_HEADER = ["study_id", "modality", "outcome", "timepoint_months", "events", "total",
           "value", "ci_low", "ci_high", "unit", "n_patients", "unit_of_analysis",
           "lesion_size_cm", "quote", "notes", "source_kind", "pmid", "derived", "year"]
_CELLS = {
    "study_id": ["kim2021", "lee2020", "Kim2021", "x", "", "NR", " kim2021", "a b", "kim2021x"],
    "modality": ["RFA", "MWA", "rfa", "RFAA", "", "cryo", "Cryoablation"],
    "outcome": ["local_progression", "median_os", "os_rate", "complete_ablation", "",
                "bogus", "pain_score"],
    "timepoint_months": ["", "12", "0", "-3", "44927", "2000", "12,5", "NR", "abc", "inf"],
    "events": ["", "3", "30", "-1", "2.5", "1,234", "3/10", "not reached", "1e20"],
    "total": ["", "10", "0", "25", "10%", "x"],
    "value": ["", "0.3", "0.85", "85%", "1.5", "150", "not reached", "12", "-1", "0,5",
              "2019-03-12", "1-2", "<5", "5 months", "0.30", "nan"],
    "ci_low": ["", "0.1", "0.9", "-2", "x"],
    "ci_high": ["", "0.5", "NR", "not reached", "0.2", "20"],
    "unit": ["", "proportion", "months", "points", "percent", "weird"],
    "n_patients": ["", "20", "5", "0", "-2", "x"],
    "unit_of_analysis": ["", "patients", "lesions", "unknown", "bad"],
    "lesion_size_cm": ["", "2.5", "0", "big"],
    "quote": ["", "a quote", '" spaced, quoted"', '"quoted, with comma"', '"with ""inner"" quotes"',
              " ".join(["word"] * 15), "\u00e9l\u00e8ve"],
    "notes": ["", "note", "12", '"a, b"', "\u00a0", "\u200b", "—"],
    "source_kind": ["", "review", "primary", "Primary", "other"],
    "pmid": ["", "123", "12a"],
    "derived": ["", "true", "no", "maybe", "1"],
    "year": ["", "2019", "1800", "20x"],
}


def _plain(cell: str) -> bool:
    return not cell.startswith(" ") and ("," not in cell or cell.startswith('"'))


def _table(rng: random.Random, n: int, *, wild: bool) -> str:
    cols = list(_HEADER)
    if wild and rng.random() < 0.3:
        rng.shuffle(cols)
    lines = [",".join(cols)]
    for _ in range(n):
        if wild and rng.random() < 0.05:
            lines.append(rng.choice(["", ",,,", " ", "\u00a0,", '"', "a,b", "x" * 3]))
            continue
        row = [rng.choice([v for v in _CELLS[c] if wild or _plain(v)])
               if rng.random() < (0.6 if wild else 0.15)
               else _CELLS[c][min(1, len(_CELLS[c]) - 1)] for c in cols]
        lines.append(",".join(row))
    return "\n".join(lines) + ("\n" if rng.random() < 0.8 else "")


@pytest.mark.parametrize("seed", range(40))
def test_random_tables_fast_equals_general(tmp_path, monkeypatch, seed):
    rng = random.Random(seed)
    text = _table(rng, rng.randint(1, 60), wild=seed % 2 == 0)
    path = tmp_path / "t.csv"
    path.write_text(text, encoding="utf-8")
    _both(monkeypatch, read_study_table, path)
    _both(monkeypatch, load_studies, path)
    _both(monkeypatch, load_studies, path, strict=True)
    if seed % 2:  # plain files: the fast reader itself is tested
        from iometa.data.fastread import read_csv_fast

        assert read_csv_fast(path) is not None


@pytest.mark.parametrize("text", [
    "study_id,modality,outcome,value\nkim2021,RFA,median_os,12\n",
    "study_id,modality,outcome,value\r\nkim2021,RFA,median_os,12\r\n",
    "\ufeffstudy_id,modality,outcome,value\nkim2021,RFA,median_os,12\n",
    "sep=;\nstudy_id;modality;outcome;value\nkim2021;RFA;median_os;12,5\n",
    "\n\nstudy_id,modality,outcome,value\n\nkim2021,RFA,median_os,12\n,,,\n",
    "study_id,modality,outcome,value\nkim2021,RFA,median_os,\"12\"\n",
    'study_id,modality,outcome,value,notes\nkim2021,RFA,median_os,12,"a\nb"\n',
    'study_id,modality,outcome,value,notes\nkim2021,RFA,median_os,12,"open\n',
    'study_id,modality,outcome,value,notes\nkim2021,RFA,median_os,12, "x, y"\n',
    'study_id,modality,outcome,value,notes\nkim2021,RFA,median_os,12,ab"c\n',
    'study_id,modality,outcome,value,notes\nkim2021,RFA,median_os,12,"ab"c\n',
    "study_id,modality,outcome,value\nkim2021,RFA,median_os,12,5\n",
    "study_id,modality,outcome,value\nkim2021,RFA,median_os\n",
    "study_id,modality,outcome,value\rkim2021,RFA,median_os,12\r",
    "study_id,modality,outcome,value,line\nkim2021,RFA,median_os,12,3\n",
    "study_id,modality,,value\nkim2021,RFA,x,12\n",
    "study_id,modality,outcome,value\n\u00a0,\u200b,,\nkim2021,RFA,median_os,12\n",
    "# Exported\nstudy_id,modality,outcome,value\nkim2021,RFA,median_os,12\n",
    "study_id\tmodality\toutcome\tvalue\nkim2021\tRFA\tmedian_os\t12\n",
    "study_id,modality,outcome,value\nkim2021,RFA,median_os,12\x01\n",
    "study_id,modality,outcome,value\n",
    "study_id,modality,outcome,value,notes\nkim2021,RFA,median_os,0,85\n",
    "study_id,modality,outcome,value,notes\nkim2021,RFA,median_os,0, 85\n",
])
def test_awkward_files_fast_equals_general(tmp_path, monkeypatch, text):
    path = tmp_path / "t.csv"
    path.write_bytes(text.encode("utf-8"))
    _both(monkeypatch, read_study_table, path)
    _both(monkeypatch, load_studies, path)


def test_fast_reader_is_used_on_a_plain_file(tmp_path):
    from iometa.data.fastread import read_csv_fast

    path = tmp_path / "t.csv"
    path.write_text('study_id,modality,outcome,value,notes\nkim2021,RFA,median_os,12,"a, ""b"""\n')
    raw = read_csv_fast(path)
    assert raw is not None and raw["notes"].tolist() == ['a, "b"']
    assert raw["line"].tolist() == [2]
    path.write_text('study_id,modality,outcome,value,notes\nkim2021,RFA,median_os,12,"a\nb"\n')
    assert read_csv_fast(path) is None  # a quoted line break: the general reader


def test_frames_fast_equals_general(monkeypatch):
    raw = pd.DataFrame({"study_id": ["a1", "a1", "B2", "b2"], "modality": ["RFA"] * 4,
                        "outcome": ["os_rate", "os_rate", "median_os", "median_os"],
                        "timepoint_months": [12.0, 12.0, None, None],
                        "value": ["0.5", "0.5", "not reached", "-1"]})
    _both(monkeypatch, validate_studies, raw)
    _both(monkeypatch, validate_studies, raw.astype("string"), path="m.csv")


_ARM_CELLS = {
    "comparison_id": ["", "c1", "c2", "c3", "c1"],
    "study_id": ["kim2021", "kim2021", "kim2021", "lee2020", ""],
    "arm": ["MWA", "RFA", "mwa", "RFA", ""],
    "modality": ["MWA", "RFA"],
    "outcome": ["complete_ablation", "local_progression", "median_os", ""],
    "subgroup": ["", "arm: MWA", "arm: RFA; lesion >3 cm", "lesion >3 cm", "Lesion >3 cm"],
    "timepoint_months": ["", "12", "24", "x"],
    "unit_of_analysis": ["", "patients", "lesions"],
    "unit": ["", "proportion", "months"],
    "events": ["", "3"],
    "total": ["", "10"],
    "value": ["0.3", "", "12"],
}


@pytest.mark.parametrize("seed", range(40))
def test_random_comparisons_fast_equals_general(tmp_path, monkeypatch, seed):
    """Arm rows of head-to-head comparisons: the column-wise choice of the comparisons to
    check finds every problem the row-by-row rules find."""
    rng = random.Random(1000 + seed)
    cols = list(_ARM_CELLS)
    base = [rng.choice(_ARM_CELLS[c][1:3]) for c in cols]  # a mostly regular comparison
    lines = [",".join(cols)]
    for _ in range(rng.randint(2, 40)):
        row = [rng.choice(_ARM_CELLS[c]) if rng.random() < 0.25 else base[j]
               for j, c in enumerate(cols)]
        if rng.random() < 0.5:  # the other arm of the row before
            row[cols.index("arm")] = rng.choice(["MWA", "RFA"])
        lines.append(",".join(row))
    path = tmp_path / "t.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    _both(monkeypatch, load_studies, path)

"""Property tests: whatever the file holds, load_studies returns a frame or raises
StudyTableError — never another exception — and a returned frame holds every data row."""

from __future__ import annotations

import csv
import io
import math
import tempfile
import warnings
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from iometa.data import (
    COLUMNS,
    MISSING_SPELLINGS,
    StudyTableError,
    load_studies,
    validate_studies,
    vocabulary,
)

SETTINGS = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

VOCAB = {
    "modality": vocabulary.MODALITIES,
    "site": vocabulary.SITES,
    "primary": vocabulary.PRIMARIES,
    "design": vocabulary.DESIGNS,
    "unit_of_analysis": vocabulary.UNITS_OF_ANALYSIS,
    "outcome": tuple(vocabulary.OUTCOMES),
    "unit": vocabulary.UNITS,
    "unit_reported": vocabulary.UNITS_REPORTED,
    "source": vocabulary.SOURCES,
}

SPECIAL = [
    "not reached",
    "NR (not reached)",
    "Inf",
    "-inf",
    "85%",
    "12 months",
    "twelve",
    "1e999",
    "12,5",
    "0.8 (0.7-0.9)",
    "13/51",
    "<0.05",
    "\u00a012\u00a0",
    "\u221212",
    '"',
    "sep=;",
    "line",
    "true",
    "no",
    "9" * 40,
]


def variants(word: str) -> st.SearchStrategy[str]:
    return st.sampled_from([word, word.upper(), word.lower(), f" {word} ", word + "x", word[:-1]])


def cell(column: str | None = None) -> st.SearchStrategy[str]:
    options = [
        st.sampled_from(sorted(MISSING_SPELLINGS)),
        st.sampled_from(SPECIAL),
        st.integers(-5, 10**6).map(str),
        st.floats(allow_nan=True, allow_infinity=True).map(repr),
        st.floats(0, 1).map(lambda x: f"{x:.3f}"),
        st.text(max_size=12),
    ]
    if column in VOCAB:
        options.append(st.sampled_from(VOCAB[column]).flatmap(variants))
    return st.one_of(options)


names = st.one_of(
    st.sampled_from(COLUMNS),
    st.sampled_from(COLUMNS).map(str.upper),
    st.from_regex(r"[a-z][a-z_ ]{0,10}", fullmatch=True),
)


@st.composite
def random_tables(draw) -> tuple[list[str], list[list[str]]]:
    header = draw(st.lists(names, min_size=1, max_size=10))
    n = draw(st.integers(0, 6))
    rows = [[draw(cell(name.strip().lower())) for name in header] for _ in range(n)]
    return header, rows


def valid_cell(column: str) -> st.SearchStrategy[str]:
    if column == "unit":
        return st.just("")
    if column in VOCAB:
        return st.sampled_from(VOCAB[column])
    if column in ("year",):
        return st.integers(1990, 2024).map(str)
    if column in ("ref_no", "n_patients", "n_lesions", "total"):
        return st.integers(1, 500).map(str)
    if column == "events":
        return st.just("0")
    if column in ("timepoint_months", "lesion_size_cm"):
        return st.floats(0.5, 60).map(lambda x: f"{x:.1f}")
    if column in ("ci_low", "ci_high"):
        return st.just("")
    if column == "derived":
        return st.sampled_from(["true", "false", "yes", "no", "1", "0"])
    return st.text(max_size=20)


@st.composite
def plausible_tables(draw) -> tuple[list[str], list[list[str]]]:
    """Tables with the required columns filled, so that many of them load."""
    optional = draw(
        st.lists(
            st.sampled_from(
                [c for c in COLUMNS if c not in ("study_id", "modality", "outcome", "value")]
            ),
            unique=True,
            max_size=6,
        )
    )
    header = ["study_id", "modality", "outcome", "value", *optional]
    n = draw(st.integers(1, 8))
    rows = []
    for i in range(n):
        row = [
            f"S{i}",
            draw(st.sampled_from(vocabulary.MODALITIES)),
            draw(st.sampled_from(["local_control", "median_os", "complication"])),
            draw(
                cell("value")
                if draw(st.integers(0, 9)) == 0
                else st.floats(0.01, 1).map(lambda x: f"{x:.2f}")
            ),
        ]
        for col in optional:
            junk = draw(st.integers(0, 9)) == 0
            row.append(draw(cell(col) if junk else st.one_of(st.just(""), valid_cell(col))))
        rows.append(row)
    return header, rows


def csv_bytes(header, rows, delimiter: str, encoding: str, eol: str) -> bytes:
    buf = io.StringIO()
    csv.writer(buf, delimiter=delimiter, lineterminator=eol).writerows([header, *rows])
    return buf.getvalue().encode(encoding, errors="replace")


def load_or_error(path: Path) -> pd.DataFrame | None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return load_studies(path)
        except StudyTableError as exc:
            text = str(exc)  # must render
            assert text.splitlines()[0].endswith("found")
            assert exc.problems and all(p.message for p in exc.problems)
            return None


def load_bytes(content: bytes) -> pd.DataFrame | None:
    """``content`` written to a temporary file and loaded (None on StudyTableError)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "t.csv"
        path.write_bytes(content)
        return load_or_error(path)


fmt = st.tuples(
    st.sampled_from([",", ";", "\t"]),
    st.sampled_from(["utf-8", "utf-8-sig", "cp1252"]),
    st.sampled_from(["\n", "\r\n"]),
)


def load_and_check(table, form) -> pd.DataFrame | None:
    """The table written as a CSV file in ``form`` and loaded: the frame, checked for what holds
    for every table that loads, or None when it raised StudyTableError."""
    header, rows = table
    df = load_bytes(csv_bytes(header, rows, *form))
    if df is None:
        return None
    assert isinstance(df, pd.DataFrame)
    assert list(df.columns[: len(COLUMNS)]) == list(COLUMNS)
    assert df["line"].is_monotonic_increasing
    # nothing dropped: a row is skipped only if all its cells are blank; loaded rows have an id
    assert len(df) <= len(rows)
    assert df["study_id"].notna().all()
    assert df["line"].min() >= 2
    return df


@SETTINGS
@given(table=random_tables(), form=fmt)
def test_random_tables_load_or_raise_study_table_error(table, form):
    load_and_check(table, form)


@SETTINGS
@given(table=plausible_tables(), form=fmt)
def test_plausible_tables_keep_every_row(table, form):
    df = load_and_check(table, form)
    if df is not None:
        rows = table[1]
        assert df["study_id"].tolist() == [r[0] for r in rows]  # every row, in file order
        assert df["line"].tolist() == list(range(2, len(rows) + 2)) or any(
            "\n" in c or "\r" in c for r in rows for c in r
        )
        kinds = df["outcome"].astype(str).map(vocabulary.OUTCOMES)
        values = df["value"]
        assert values[kinds == "proportion"].dropna().between(0, 1).all()
        assert (values[kinds == "duration"].dropna() > 0).all()
        assert not any(math.isnan(v) for v in values[kinds == "duration"])
        # validating the typed frame again is stable
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pd.testing.assert_frame_equal(validate_studies(df), df)


@SETTINGS
@given(
    prefix=st.sampled_from(
        [b"", b"study_id,modality,outcome,value\n", b"\xef\xbb\xbf", b"\xff\xfe"]
    ),
    blob=st.binary(max_size=2000),
)
def test_random_bytes_load_or_raise_study_table_error(prefix, blob):
    load_bytes(prefix + blob)


objects = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**20), 10**20),
    st.floats(allow_nan=True, allow_infinity=True),
    cell(),
)


@SETTINGS
@given(
    columns=st.lists(names, min_size=1, max_size=8, unique=True),
    n=st.integers(0, 5),
    data=st.data(),
)
def test_validate_random_frames(columns, n, data):
    frame = pd.DataFrame({c: data.draw(st.lists(objects, min_size=n, max_size=n)) for c in columns})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            out = validate_studies(frame)
        except StudyTableError as exc:
            assert str(exc)
        else:
            assert len(out) == n


@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
def test_quoted_delimiters_and_newlines_round_trip(tmp_path, delimiter):
    rows = [
        ["S1", "RFA", "local_control", "0.9", 'he said "yes", then; left\nnext line'],
        ["S2", "MWA", "median_os", "12", "plain"],
    ]
    header = ["study_id", "modality", "outcome", "value", "quote"]
    path = tmp_path / "t.csv"
    path.write_bytes(csv_bytes(header, rows, delimiter, "utf-8", "\r\n"))
    df = load_studies(path)
    assert df["quote"].tolist() == ['he said "yes", then; left\nnext line', "plain"]
    assert df["line"].tolist() == [2, 4]

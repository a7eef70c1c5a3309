"""Warnings as sentences (issue 25 item 4): the CLI prints each warning as one line naming the
table line, with no code file, source line, category repr or absolute path; ``--quiet`` prints
none; ``iometa.set_display`` does the same in a session (Jupyter)."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

import iometa
from iometa._warnings import (
    DataWarning,
    SmallSampleWarning,
    sentence_warnings,
    set_display,
    warning_sentence,
)

REPO = Path(__file__).resolve().parents[1]
TABLE = ("study_id,modality,outcome,value,n_patients\n"
         "a2015,RFA,median_os,1e308,40\n"
         "b2016,RFA,median_os,20,50\n")
EXPECTED = ("warning: t.csv, line 2, column 'value': 1e308 months is more than 100 years: "
            "check the number")


def _run(args, cwd):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env["PYTHONIOENCODING"] = "utf-8"
    env.pop("PYTHONWARNINGS", None)
    return subprocess.run([sys.executable, "-m", "iometa", *args], capture_output=True,
                          text=True, encoding="utf-8", env=env, cwd=cwd, timeout=300)


@pytest.fixture
def table(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text(TABLE, encoding="utf-8")
    return path


@pytest.mark.parametrize("absolute", [False, True])
def test_validate_prints_one_line_per_warning(table, absolute):
    proc = _run(["validate", str(table) if absolute else table.name], cwd=table.parent)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.splitlines() == [EXPECTED]
    for raw in ("cli.py", "DataWarning", "load_studies(", str(table.parent)):
        assert raw not in proc.stderr


def test_report_prints_the_sentence_and_quiet_prints_nothing(table):
    loud = _run(["report", "--data", table.name, "--out", "out"], cwd=table.parent)
    assert loud.returncode == 0, loud.stderr
    assert loud.stderr.splitlines() == [EXPECTED]
    quiet = _run(["report", "--data", table.name, "--out", "out2", "--quiet"],
                 cwd=table.parent)
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stderr == ""
    assert "warning" not in quiet.stdout


def test_sentence_joins_lines_and_drops_known_directories():
    cwd = Path.cwd()
    msg = f"{cwd / 'sub' / 'x.xlsx'}: lines 3, 4: events\n   exceed n; see {cwd / 'notes.txt'}"
    assert warning_sentence(msg) == "x.xlsx, lines 3, 4: events exceed n; see notes.txt"
    assert warning_sentence(f"{cwd / 'a.csv'}: outcome 'os' is mixed") == \
        "a.csv: outcome 'os' is mixed"
    project = REPO / "data" / "studies.csv"
    assert str(REPO) not in warning_sentence(f"see {project} for the codes")
    assert warning_sentence("no path here") == "no path here"


def test_sentence_warnings_context_restores_python_display():
    before = warnings.showwarning
    out = io.StringIO()
    with sentence_warnings(stream=out):
        warnings.warn("two\nlines", SmallSampleWarning, stacklevel=1)
        warnings.warn("numpy said so", RuntimeWarning, stacklevel=1)
    assert out.getvalue().splitlines() == ["warning: two lines",
                                           "RuntimeWarning: numpy said so"]
    assert warnings.showwarning is before
    with sentence_warnings(quiet=True, stream=out):
        warnings.warn("hidden", DataWarning, stacklevel=1)
    assert "hidden" not in out.getvalue()


def test_set_display_sentences_off_python():
    before = warnings.showwarning
    out = io.StringIO()
    try:
        assert set_display(warnings="sentences", stream=out) == "python"
        with pytest.warns(SmallSampleWarning):  # still raised: filters and pytest see it
            iometa.pool([0.3], [0.04])
        iometa.pool([0.3], [0.04])
        iometa.pool([0.3], [0.04])  # shown each time, one line each
        lines = out.getvalue().splitlines()
        assert len(lines) == 2 and all(x.startswith("warning: only one study") for x in lines)
        assert set_display(warnings="off") == "sentences"
        iometa.pool([0.3], [0.04])
        assert len(out.getvalue().splitlines()) == 2
        assert warnings.showwarning is before
    finally:
        set_display(warnings="python")
    assert warnings.showwarning is before
    with pytest.raises(ValueError, match="sentences, python, off"):
        set_display(warnings="loud")


# ------------------------------------------------------------------------ results' own display
def _raised_and_result(fn):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = fn()
    return [str(w.message) for w in caught if issubclass(w.category, iometa.IometaWarning)], res


CASES = {
    "k1-knha": lambda: iometa.pool([0.3], [0.04], test="knha"),
    "variance-ratio": lambda: iometa.pool([0.3, 0.2], [1e-8, 0.5]),
    "tau2-ci-cap": lambda: iometa.pool([0.1, 5, -4], [0.01, 0.01, 0.01]),
    "freeman-tukey": lambda: iometa.pool_proportions([1, 50, 3], [10, 200, 12], measure="PFT"),
    "raw-outside": lambda: iometa.pool_proportions([0, 1, 0], [10, 20, 12], measure="PR"),
    "glmm-small-k": lambda: iometa.pool_proportions([1, 5, 3], [10, 20, 12], method="GLMM"),
    "double-zero": lambda: iometa.pool_two_groups([0, 2, 3], [10, 20, 30], [0, 1, 4],
                                                  [10, 20, 30]),
    "double-zero-mh": lambda: iometa.pool_two_groups([0, 2, 3], [10, 20, 30], [0, 1, 4],
                                                     [10, 20, 30], method="MH"),
    "subgroups": lambda: iometa.subgroups(iometa.pool([0.1, 0.5, 0.3, 0.8, 0.6], [0.04] * 5),
                                          ["a", "a", "b", "b", "c"]),
    "regression": lambda: iometa.meta_regression([0.1, 0.5, 0.3, 0.8, 0.2], [0.04] * 5,
                                                 [1.0, 2, float("nan"), 4, 5]),
    "multilevel": lambda: iometa.pool_multilevel([0.1, 0.3, 0.5], [0.01] * 3,
                                                 cluster=[1, 1, 1]),
}


@pytest.mark.parametrize("name", list(CASES))
def test_results_record_the_warnings_raised_while_they_were_computed(name):
    raised, res = _raised_and_result(CASES[name])
    assert raised, "the case should raise a warning"
    for msg in raised:
        assert any(msg in w or w in msg for w in res.warnings), (msg, res.warnings)


@pytest.mark.parametrize("name", ["k1-knha", "double-zero-mh", "subgroups", "regression"])
def test_html_shows_the_warnings_in_a_cautions_box(name):
    _, res = _raised_and_result(CASES[name])
    page = res._repr_html_()
    assert page.count("class='iometa-cautions'") == 1 and "<b>Cautions</b>" in page
    box = page.split("class='iometa-cautions'", 1)[1]
    assert box.count("<li>") == len(dict.fromkeys(res.warnings))


def test_cautions_are_escaped_and_absent_without_warnings():
    _, res = _raised_and_result(lambda: iometa.pool([0.3], [0.04],
                                                    labels=["<script>alert(1)</script>"]))
    page = res._repr_html_()
    box = page.split("iometa-cautions", 1)[1].split("</div>", 1)[0]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in box and "<script>" not in box
    clean = iometa.pool([0.1, 0.5, 0.3], [0.04, 0.05, 0.03])
    assert clean.warnings == () and "Cautions" not in clean._repr_html_()


def test_multilevel_and_bayes_html_carry_their_cautions():
    _, ml = _raised_and_result(CASES["multilevel"])
    page = ml._repr_html_()
    assert "iometa-cautions" in page and ml.reduced and "note: " not in page
    _, b = _raised_and_result(lambda: iometa.pool_bayes([0.1], [0.04]))
    assert ("iometa-cautions" in b._repr_html_()) == bool(b.notes)
    assert "<pre>" in b._repr_html_()

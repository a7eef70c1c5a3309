"""Progress on a terminal (issue 25, item 8): a one-line bar on stderr when it is a TTY,
nothing under --quiet or when stderr is not a terminal. A StringIO that says it is a TTY
stands in for the terminal."""

from __future__ import annotations

import io
import sys

import numpy as np
import pandas as pd
import pytest
from test_report import write_synthetic

import iometa
from iometa.cli import main
from iometa.core.progress import BAR, ProgressBar, bar_for
from iometa.report.output import Progress


class FakeTTY(io.StringIO):
    def isatty(self):
        return True


class Clock:
    def __init__(self):
        self.t = 100.0

    def __call__(self):
        return self.t


def screen(raw: str) -> str:
    """What a terminal shows at the end: the text after the last carriage return."""
    return raw.split("\r")[-1]


def test_bar_draws_in_place_on_a_terminal():
    tty, clock = FakeTTY(), Clock()
    bar = ProgressBar("fitting", total=4, stream=tty, delay=0, clock=clock)
    bar.update(advance=1, text="analyses")
    first = tty.getvalue()
    assert first.startswith("\r") and "\n" not in first
    assert screen(first) == f"fitting  [{'#' * (BAR // 4)}{'.' * (BAR - BAR // 4)}] 1/4  0.0 s" \
                            "  analyses"
    clock.t += 0.01
    bar.update(advance=1)  # within 0.1 s of the last drawing: not redrawn
    assert tty.getvalue() == first
    clock.t += 1.5
    bar.update(advance=1)
    assert "3/4  1.5 s" in screen(tty.getvalue())
    bar.update(advance=1)  # the last step is always drawn
    assert "] 4/4" in screen(tty.getvalue()) and "#" * BAR in tty.getvalue()
    bar.close()
    assert screen(tty.getvalue()).strip() == "" and "\n" not in tty.getvalue()
    bar.update(advance=1)
    assert screen(tty.getvalue()).strip() == ""  # closed: nothing more


def test_bar_is_silent_when_not_a_terminal_or_disabled():
    plain = io.StringIO()
    bar = ProgressBar("x", total=2, stream=plain, delay=0)
    bar.update(advance=2, text="t")
    bar.close()
    assert plain.getvalue() == "" and bar.done == 2
    tty = FakeTTY()
    quiet = ProgressBar("x", total=2, stream=tty, delay=0, enabled=False)
    quiet.update(advance=1)
    quiet.redraw()
    assert tty.getvalue() == ""


def test_bar_waits_for_its_delay():
    tty, clock = FakeTTY(), Clock()
    bar = ProgressBar("gosh", total=10, stream=tty, delay=0.5, clock=clock)
    bar.update(advance=3)
    assert tty.getvalue() == ""  # a quick call never shows a bar
    clock.t += 0.6
    bar.update(advance=1)
    assert "4/10  0.6 s" in screen(tty.getvalue())


def test_bar_for_checks_its_argument():
    with pytest.raises(TypeError, match="True, False or a ProgressBar"):
        bar_for("yes", "x")
    assert not bar_for(False, "x").active


def _fake_bar(label="x"):
    tty = FakeTTY()
    return tty, ProgressBar(label, stream=tty, delay=0)


def test_pool_many_advances_over_every_analysis():
    r = np.random.default_rng(3)
    n = 400
    df = pd.DataFrame({"g": np.repeat(np.arange(n), 3), "yi": r.normal(size=3 * n),
                       "vi": r.uniform(0.01, 0.1, 3 * n)})
    tty, bar = _fake_bar()
    out = iometa.pool_many(df, by="g", method="DL", progress=bar)
    assert len(out) == n and bar.done == n and bar.total == n
    raw = tty.getvalue()
    assert "pool_many  [" in raw and f"] {n}/{n}" in raw and "analyses" in raw
    assert screen(raw).strip() == ""  # erased at the end
    quiet = iometa.pool_many(df, by="g", method="DL", progress=False)
    pd.testing.assert_frame_equal(out, quiet)


def test_gosh_and_permutation_test_advance():
    res = iometa.pool([0.1, 0.5, 0.9, 0.3, 0.7, 0.2, 0.4],
                      [0.04, 0.05, 0.06, 0.05, 0.09, 0.03, 0.05])
    tty, bar = _fake_bar()
    g = iometa.gosh(res, progress=bar)
    assert bar.done == len(g) == 127 and "gosh  [" in tty.getvalue()
    assert "] 127/127" in tty.getvalue() and "subsets" in tty.getvalue()
    reg = iometa.meta_regression(res, np.arange(7.0))
    tty, bar = _fake_bar()
    perm = iometa.permutation_test(reg, n_perm=200, seed=1, progress=bar)
    assert bar.done == perm.n_perm and "permutation_test  [" in tty.getvalue()


def test_library_calls_print_nothing_when_stderr_is_not_a_terminal(capsys):
    res = iometa.pool([0.1, 0.5, 0.9, 0.3], [0.04, 0.05, 0.06, 0.05])
    iometa.gosh(res)
    assert capsys.readouterr().err == ""


def test_report_progress_keeps_stdout_lines_and_redraws_the_bar(capsys, tmp_path):
    tty = FakeTTY()
    progress = Progress(True, ProgressBar("iometa report", stream=tty, delay=0))
    progress.stage("analysing: medians", 1, 6)
    assert "1/6" in screen(tty.getvalue()) and "analysing: medians" in tty.getvalue()
    (tmp_path / "a.png").write_text("x")
    progress("figure", "figures/a", [tmp_path / "a.png"])
    assert capsys.readouterr().out == "  figure figures/a (.png)\n"
    assert "analysing: medians" in screen(tty.getvalue())  # drawn again after the line
    assert progress.summary(tmp_path).startswith("report: 1 artefacts")
    assert screen(tty.getvalue()).strip() == ""


def test_cli_report_shows_the_bar_from_the_start_on_a_terminal(tmp_path, monkeypatch, capsys):
    data = write_synthetic(tmp_path / "in" / "studies.csv")
    tty = FakeTTY()
    monkeypatch.setattr(sys, "stderr", tty)
    assert main(["report", "--data", str(data), "--out", str(tmp_path / "out")]) == 0
    raw = tty.getvalue()
    first = raw.split("\r")[1]
    assert first.startswith("iometa report  0.0 s  starting")  # before the imports
    assert "reading the study table" in raw and "analysing: proportion" in raw
    assert "\n" not in raw and screen(raw).strip() == ""  # one line, erased at the end
    out = capsys.readouterr().out
    assert out.strip().splitlines()[-1].startswith("report: ")
    quiet = FakeTTY()
    monkeypatch.setattr(sys, "stderr", quiet)
    assert main(["report", "--data", str(data), "--out", str(tmp_path / "out"), "--quiet"]) == 0
    assert quiet.getvalue() == ""


def test_pool_many_bayes_advances_too():
    df = pd.DataFrame({"g": np.repeat(np.arange(30), 3), "yi": np.tile([0.1, 0.4, 0.2], 30),
                       "vi": np.full(90, 0.05)})
    tty, bar = _fake_bar()
    out = iometa.pool_many(df, by="g", method="bayes", progress=bar)
    assert len(out) == 30 and bar.done == 30 and "analyses (bayes)" in tty.getvalue()

"""The report's figures drawn by forked children (iometa.report.figure_jobs): the files, notes,
internal warnings and progress lines are those of drawing every figure in turn, a child that
dies is made good by the parent, an interrupted run leaves no child behind, and a forked child
never reads the parent's font files through the parent's descriptors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path

import matplotlib.pyplot as plt
import pytest
from test_report import REPO, tree, write_synthetic

from iometa._warnings import IometaWarning
from iometa.cli import main
from iometa.plots.style import LayoutWarning
from iometa.report import figure_jobs
from iometa.report.build import build_report
from iometa.report.figure_jobs import FigureJobs, can_fork
from iometa.report.model import Context, Section
from iometa.report.output import Progress

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="forked jobs need POSIX fork")


class _Ctx:
    """The part of a report Context that FigureJobs uses."""

    def __init__(self):
        self.internal: list[str] = []


class _Progress(Progress):
    def __init__(self):
        super().__init__(False)
        self.lines: list[tuple] = []

    def __call__(self, kind, name, paths=(), detail=""):
        super().__call__(kind, name, paths, detail)
        self.lines.append((kind, name, tuple(Path(p).name for p in paths), detail))


def _figure(i: int, *, data_warning=False, other_warning=False, fail=False, child_exit=None,
            sleep=0.0, parent=None):
    def draw():
        if child_exit is not None and os.getpid() != parent:
            os._exit(child_exit)  # the child dies; the parent draws it normally
        if sleep and os.getpid() != parent:
            time.sleep(sleep)
        if data_warning:
            warnings.warn(f"data note {i}", IometaWarning, stacklevel=1)
        if other_warning:
            warnings.warn(f"layout {i}", LayoutWarning, stacklevel=1)
        if fail:
            raise RuntimeError(f"broken plot {i}")
        fig, ax = plt.subplots(figsize=(2, 1.5))
        ax.plot([0, 1], [0, i])
        ax.set_title(f"Figure {i}")
        return fig
    return draw


def _sections(n: int = 6, special=None) -> list[Section]:
    special = special or {}
    out = []
    for i in range(n):
        kw = special.get(i, {})
        s = Section(slug=f"s{i}", title=f"S{i}", kind="proportion", summary="", method="",
                    tables=[], figure=_figure(i, **kw))
        s.notes.append(f"analysis note {i}")
        out.append(s)
    return out


def _run(tmp: Path, jobs: int, sections: list[Section], ctx=None, between=None):
    (tmp / "figures").mkdir(parents=True, exist_ok=True)
    ctx = ctx or _Ctx()
    progress = _Progress()
    with FigureJobs(tmp, ctx, progress, jobs=jobs) as fj:
        for k, s in enumerate(sections):
            ctx.internal.append(f"analysis {k}")  # what the analyses add between figures
            fj.submit(s)
            if between:
                between()
        fj.finish()
    return fj, ctx, progress


def _outcome(sections, ctx, progress, root):
    return ([(s.figure_files, s.figure_missing, s.notes) for s in sections], ctx.internal,
            progress.lines, tree(root))


SPECIAL = {1: {"data_warning": True, "other_warning": True}, 3: {"fail": True},
           4: {"data_warning": True}}


def test_forked_equals_in_turn_files_notes_internal_and_progress(tmp_path):
    assert can_fork()
    serial = _sections(6, SPECIAL)
    forked = _sections(6, SPECIAL)
    fj1, ctx1, p1 = _run(tmp_path / "a", 1, serial)
    fj2, ctx2, p2 = _run(tmp_path / "b", 2, forked, between=lambda: time.sleep(0.02))
    assert not fj1.forked and fj2.forked
    assert _outcome(serial, ctx1, p1, tmp_path / "a") == _outcome(forked, ctx2, p2,
                                                                  tmp_path / "b")
    # and what that is: the figure's warnings after the analysis's, in its place
    assert forked[1].notes == ["analysis note 1", "data note 1"]
    assert forked[3].figure_missing == "the plotting function failed (RuntimeError: broken plot 3)"
    assert forked[3].figure_files == []
    assert ctx2.internal[:4] == ["analysis 0", "analysis 1", "LayoutWarning: layout 1",
                                 "analysis 2"]
    assert "figure figures/s3: the plotting function failed (RuntimeError: broken plot 3)" \
        in ctx2.internal
    assert [line[0] for line in p2.lines] == ["figure", "figure", "figure", "missing",
                                             "figure", "figure"]
    assert forked[0].figure_files == ["figures/s0.png", "figures/s0.svg"]


def test_a_child_that_dies_is_drawn_again_by_the_parent(tmp_path, monkeypatch):
    parent = os.getpid()
    secs = _sections(4, {2: {"child_exit": 3, "parent": parent}})
    here = []
    draw_here = FigureJobs._draw_here

    def record(self, batch):
        here.extend(batch)
        return draw_here(self, batch)
    monkeypatch.setattr(FigureJobs, "_draw_here", record)
    _, ctx, progress = _run(tmp_path, 2, secs, between=lambda: time.sleep(0.3))
    assert 2 in here and 0 not in here  # s0 by its child, s2 again by the parent
    assert all(s.figure_files == [f"figures/{s.slug}.png", f"figures/{s.slug}.svg"]
               for s in secs)
    assert (tmp_path / "figures" / "s2.png").stat().st_size > 0
    assert [line[1] for line in progress.lines] == [f"figures/s{i}" for i in range(4)]


def test_leaving_without_finish_kills_and_reaps_the_children(tmp_path):
    (tmp_path / "figures").mkdir()
    secs = _sections(2, {0: {"sleep": 60, "parent": os.getpid()}})
    t0 = time.perf_counter()
    with pytest.raises(KeyboardInterrupt):
        with FigureJobs(tmp_path, _Ctx(), _Progress(), jobs=2) as fj:
            fj.submit(secs[0])
            pids = list(fj._children)
            assert len(pids) == 1
            raise KeyboardInterrupt
    assert time.perf_counter() - t0 < 20
    assert fj._children == {}
    with pytest.raises(ChildProcessError):  # reaped: no zombie left
        os.waitpid(pids[0], os.WNOHANG)


def test_one_job_or_another_thread_draws_in_turn(tmp_path):
    stop = threading.Event()
    t = threading.Thread(target=stop.wait)
    t.start()
    try:
        assert not can_fork()
        fj, _, _ = _run(tmp_path, 2, _sections(2))
        assert not fj.forked
    finally:
        stop.set()
        t.join()
    fj, _, _ = _run(tmp_path / "one", 1, _sections(2))
    assert not fj.forked


def test_jobs_must_be_a_whole_number_of_one_or_more(tmp_path, capsys):
    with pytest.raises(ValueError, match="jobs must be"):
        FigureJobs(tmp_path, _Ctx(), _Progress(), jobs=0)
    with pytest.raises(ValueError, match="jobs must be a whole number"):
        build_report(out=tmp_path / "r", verbose=False, jobs=0)
    assert not (tmp_path / "r").exists()
    with pytest.raises(SystemExit) as exc:
        main(["report", "--out", str(tmp_path / "r"), "--jobs", "none"])
    assert exc.value.code == 2
    assert "expected a whole number of processes >= 1, got 'none'" in capsys.readouterr().err


def test_a_forked_child_opens_its_own_fonts():
    """Font objects read their files through a descriptor whose offset a child would share
    with its parent: the child must not use the parent's (garbled glyphs otherwise)."""
    from iometa.plots import layout, textcache

    layout.text_width("warm the font cache", 8)
    assert layout._font.cache_info().currsize > 0
    with textcache.shared_layouts() as cache:
        cache["x"] = object()
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child
            try:
                os.close(r)
                state = {"fonts": layout._font.cache_info().currsize,
                         "layouts": len(textcache.layouts({}))}
                os.write(w, json.dumps(state).encode())
            finally:
                os._exit(0)
        os.close(w)
        with os.fdopen(r, "rb") as f:
            state = json.loads(f.read())
        os.waitpid(pid, 0)
        assert state == {"fonts": 0, "layouts": 0}
        assert "x" in cache and layout._font.cache_info().currsize > 0  # the parent's kept


def test_report_in_turn_and_forked_are_byte_identical(tmp_path):
    data = write_synthetic(tmp_path / "in" / "studies.csv")
    build_report(data=data, out=tmp_path / "one", verbose=False, jobs=1)
    build_report(data=data, out=tmp_path / "two", verbose=False, jobs=2)
    a, b = tree(tmp_path / "one"), tree(tmp_path / "two")
    assert a == b
    assert sum(k.startswith("figures/") for k in a) >= 8


def test_proportion_sections_are_yielded_one_by_one():
    import iometa
    from iometa.report.sections import proportion_sections

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gen = proportion_sections(Context.of(iometa.load_studies()))
        first = next(gen)
    assert isinstance(first, Section) and first.figure is not None


def test_python_m_exits_130_after_a_handled_interrupt_inside_exec(tmp_path):
    """CPython's `python -m` kills itself with SIGINT at exit when a KeyboardInterrupt once
    escaped an exec of source (a dataclass created by a module imported mid-run), even if it
    was caught: the CLI clears that state when it handles the interrupt."""
    (tmp_path / "runner.py").write_text(
        "import sys\n"
        "import iometa.report.build as b\n"
        "def build(**kw):\n"
        "    exec('raise KeyboardInterrupt')\n"
        "b.build_report = build\n"
        "from iometa.cli import main\n"
        "sys.exit(main(['report', '--quiet']))\n", encoding="utf-8")
    proc = subprocess.run([sys.executable, "-m", "runner"], cwd=tmp_path, capture_output=True,
                          text=True, env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=120)
    assert proc.returncode == 130, proc.stderr
    assert proc.stderr.strip().splitlines() == [
        "iometa report: interrupted; the previous report (if any) is unchanged"]


def test_default_jobs_is_the_cores_available():
    n = figure_jobs.default_jobs()
    assert n >= 1
    if hasattr(os, "sched_getaffinity"):
        assert n == len(os.sched_getaffinity(0))


def test_a_killed_report_takes_its_children_with_it(tmp_path):
    """SIGKILL of the report's process: its children die too and write nothing more (an
    orphan would re-create the build directory the next run removes as debris)."""
    script = tmp_path / "victim.py"
    script.write_text(
        "import os, signal, sys, time\n"
        "from pathlib import Path\n"
        "import matplotlib\n"
        "matplotlib.use('Agg')\n"
        "import matplotlib.pyplot as plt\n"
        "from iometa.report.figure_jobs import FigureJobs\n"
        "from iometa.report.model import Section\n"
        "from iometa.report.output import Progress\n"
        "out = Path(sys.argv[1]); (out / 'figures').mkdir(parents=True)\n"
        "parent = os.getpid()\n"
        "def slow():\n"
        "    time.sleep(3)\n"
        "    fig, ax = plt.subplots(); return fig\n"
        "class Ctx: internal = []\n"
        "fj = FigureJobs(out, Ctx(), Progress(False), jobs=2)\n"
        "fj.submit(Section('late', 'Late', 'proportion', '', '', [], figure=slow))\n"
        "print(list(fj._children)[0], flush=True)\n"
        "os.kill(parent, signal.SIGKILL)\n", encoding="utf-8")
    out = tmp_path / "build"
    proc = subprocess.run([sys.executable, str(script), str(out)], capture_output=True,
                          text=True, env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=120)
    assert proc.returncode == -9, proc.stderr
    child = int(proc.stdout.split()[0])
    deadline = time.time() + 10
    while time.time() < deadline:
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    else:  # pragma: no cover - the failure being tested
        os.kill(child, 9)
        raise AssertionError("the child outlived its parent")
    time.sleep(3.5)  # past the moment the orphan would have saved its figure
    assert list((out / "figures").iterdir()) == []

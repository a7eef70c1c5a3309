"""Issue 21, "The report" and "Injected text": killed runs, the recoverable swap, the lock,
Ctrl-C, the manifest, a symlinked --out, and study-table text made inert in Markdown/CSV."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from test_report import MARKER, leftovers, write_synthetic

from iometa.report.output import csv_text, markdown_table, md_text, write_table
from iometa.report.swap import MANIFEST, keep_user_files, recover, write_manifest

REPO = Path(__file__).resolve().parents[1]


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def _report(out: Path, text: str = "new") -> Path:
    (out / "tables").mkdir(parents=True)
    (out / "README.md").write_text(f"{MARKER}\n{text}\n", encoding="utf-8")
    (out / "tables" / "a.csv").write_text("x\n1\n", encoding="utf-8")
    return out


# ------------------------------------------------------------------ recovery of a killed swap
def test_killed_after_first_rename_is_rolled_back(tmp_path):
    out = tmp_path / "out"
    _report(tmp_path / f".out.old-{_dead_pid()}", "previous")
    recover(out)
    assert (out / "README.md").read_text(encoding="utf-8").endswith("previous\n")
    assert leftovers(tmp_path) == []


def test_killed_between_the_renames_is_finished(tmp_path):
    out, pid = tmp_path / "out", _dead_pid()
    _report(tmp_path / f".out.old-{pid}", "previous")
    new = _report(tmp_path / f".iometa-report-{pid}-out-abc123", "new")
    write_manifest(new)
    recover(out)
    assert (out / "README.md").read_text(encoding="utf-8").endswith("new\n")
    assert leftovers(tmp_path) == []


def test_stale_debris_of_dead_processes_is_removed_live_kept(tmp_path):
    out = _report(tmp_path / "out", "current")
    dead = _dead_pid()
    for name in (f".iometa-report-{dead}-out-x1", ".iometa-report-k2j3h4", f".out.old-{dead}"):
        _report(tmp_path / name)
    live = tmp_path / f".iometa-report-{os.getppid()}-out-x2"
    live.mkdir()
    other = tmp_path / f".iometa-report-{dead}-another-x3"  # debris of another --out
    other.mkdir()
    recover(out)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["out", live.name, other.name]
    )
    assert (out / "README.md").read_text(encoding="utf-8").endswith("current\n")


# ------------------------------------------------------------------ manifest
def test_manifest_keeps_the_users_own_files(tmp_path):
    old = _report(tmp_path / "old")
    write_manifest(old)
    (old / "my_notes.txt").write_text("mine", encoding="utf-8")
    (old / "tables" / "my_table.xlsx").write_bytes(b"PK")
    (old / "empty_dir").mkdir()
    new = _report(tmp_path / "new")
    assert keep_user_files(old, new) == []
    assert (new / "my_notes.txt").read_text(encoding="utf-8") == "mine"
    assert (new / "tables" / "my_table.xlsx").read_bytes() == b"PK"
    assert (new / "empty_dir").is_dir()
    assert (new / "tables" / "a.csv").read_text(encoding="utf-8") == "x\n1\n"


def test_report_without_manifest_keeps_files_outside_the_report_layout(tmp_path):
    old = _report(tmp_path / "old")  # written by an iometa without manifests
    (old / "analysis.R").write_text("x <- 1", encoding="utf-8")
    new = _report(tmp_path / "new")
    keep_user_files(old, new)
    assert (new / "analysis.R").exists()


# ------------------------------------------------------------------ injected text
@pytest.mark.parametrize(
    "text, bad",
    [
        ("<script>alert(1)</script>", "<script"),
        ("<img src=x onerror=alert(1)>", "<img"),
        ("[click](javascript:alert(1))", "](javascript"),
        ("![x](https://evil.example/t.png)", "](https"),
        ("a | b", " | b"),
        ("&lt;script&gt;", "&lt;script"),
    ],
)
def test_markdown_cells_are_inert(text, bad):
    md = markdown_table(pd.DataFrame({"label": [text]}))
    body = md.splitlines()[2]
    assert bad not in body


def test_plain_text_and_numbers_are_written_unchanged():
    for s in ("Bai 2019 (lesion >=3 cm)", "44.2 [29.9 to 58.6]", "R&D", "local_control"):
        assert md_text(s) == s


@pytest.mark.parametrize("cell", ["=HYPERLINK(\"http://x\")", "+cmd", "-2+3", "@SUM(A1)",
                                  "\tx"])
def test_csv_formula_cells_are_neutralised(tmp_path, cell):
    write_table(pd.DataFrame({"label": [cell], "v": [-0.5]}), tmp_path / "t")
    back = pd.read_csv(tmp_path / "t.csv", keep_default_na=False)
    assert back["label"][0].startswith("'") and back["label"][0][1:].strip() == cell.strip()
    assert back["v"][0] == -0.5


def test_csv_carriage_return_cell_is_neutralised():
    assert csv_text("\rx") == "'\rx"


@pytest.mark.parametrize("cell", ["-0.5", "+3", "1e-3", "smith2019", "", "–"])
def test_csv_numbers_and_text_unchanged(cell):
    assert csv_text(cell) == cell


# ------------------------------------------------------------------ whole runs (subprocess)
def _env():
    return {**os.environ, "PYTHONPATH": str(REPO), "MPLBACKEND": "Agg"}


def _start(data: Path, out: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "iometa", "report", "--data", str(data), "--out", str(out)],
        env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def _wait_for_build(parent: Path, proc: subprocess.Popen, timeout=120) -> None:
    end = time.time() + timeout
    while time.time() < end:
        if list(parent.glob(".iometa-report-*/figures/*")):
            return
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    raise AssertionError("the report never started writing")


@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_interrupt_leaves_no_debris_and_one_line(tmp_path, sig, code):
    data = write_synthetic(tmp_path / "in" / "studies.csv")
    out = tmp_path / "out"
    proc = _start(data, out)
    _wait_for_build(tmp_path, proc)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == code
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert "interrupted" in err
    assert leftovers(tmp_path) == [] and not out.exists()


def test_sigkill_debris_is_cleaned_and_user_files_and_symlink_kept(tmp_path):
    data = write_synthetic(tmp_path / "in" / "studies.csv")
    real = tmp_path / "real"
    proc = _start(data, real)
    assert proc.wait(timeout=300) == 0
    (real / "mine.txt").write_text("keep me", encoding="utf-8")
    link = tmp_path / "link"
    link.symlink_to(real, target_is_directory=True)
    proc = _start(data, link)
    _wait_for_build(tmp_path, proc)
    proc.kill()
    proc.wait()
    assert leftovers(tmp_path), "SIGKILL leaves the build directory behind"
    proc = _start(data, link)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    assert leftovers(tmp_path) == []
    assert link.is_symlink() and link.resolve() == real.resolve()
    assert (real / "mine.txt").read_text(encoding="utf-8") == "keep me"
    assert (real / MANIFEST).is_file() and "mine.txt" not in (real / MANIFEST).read_text()


def test_concurrent_runs_into_one_directory_both_succeed(tmp_path):
    data = write_synthetic(tmp_path / "in" / "studies.csv")
    out = tmp_path / "out"
    procs = [_start(data, out) for _ in range(2)]
    results = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], results
    assert all("Traceback" not in err for _, err in results)
    assert leftovers(tmp_path) == []
    assert (out / "README.md").read_text(encoding="utf-8").startswith(MARKER)

"""`iometa report` on the command line: exit status, messages, progress and --quiet."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from test_report import MARKER, digest, leftovers, write_synthetic

from iometa.cli import main

HERE = Path(__file__).resolve().parent
REPO = HERE.parent


def test_report_progress_one_line_per_artefact(tmp_path, capsys):
    data = write_synthetic(tmp_path / "in" / "studies.csv")
    assert main(["report", "--data", str(data), "--out", str(tmp_path / "out")]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    lines = out.strip().splitlines()
    summary = lines[-1]
    assert summary.startswith("report: ") and summary.endswith(" s")
    n_artefacts = int(summary.split()[1])
    assert len(lines) == n_artefacts + 1
    assert any(ln.split()[0] == "figure" and "figures/complete_ablation_by_modality" in ln
               for ln in lines)
    n_files = sum(1 for p in (tmp_path / "out").rglob("*") if p.is_file()
                  and p.name != ".iometa-manifest")  # the manifest is not an artefact
    assert f"({n_files} files)" in summary


def test_report_quiet_prints_only_the_summary(tmp_path, capsys):
    data = write_synthetic(tmp_path / "in" / "studies.csv")
    out_dir = tmp_path / "out"
    assert main(["report", "--data", str(data), "--out", str(out_dir), "--quiet"]) == 0
    out, err = capsys.readouterr()
    assert err == "" and len(out.strip().splitlines()) == 1 and out.startswith("report: ")
    assert (out_dir / "README.md").read_text(encoding="utf-8").startswith(MARKER)


def test_report_replaces_its_own_previous_report(tmp_path, capsys):
    data = write_synthetic(tmp_path / "in" / "studies.csv")
    out_dir = tmp_path / "out"
    assert main(["report", "--data", str(data), "--out", str(out_dir), "--quiet"]) == 0
    first = digest(out_dir)
    # a file an earlier report wrote (in its manifest) but this one does not: removed
    (out_dir / "tables" / "stale.csv").write_text("x\n", encoding="utf-8")
    manifest = out_dir / ".iometa-manifest"
    manifest.write_text(manifest.read_text(encoding="utf-8") + "tables/stale.csv\n",
                        encoding="utf-8")
    # a file the user put there (not in the manifest): kept (issue 21)
    (out_dir / "tables" / "mine.csv").write_text("y\n", encoding="utf-8")
    assert main(["report", "--data", str(data), "--out", str(out_dir), "--quiet"]) == 0
    after = digest(out_dir)
    after.pop("tables/mine.csv")
    assert (out_dir / "tables" / "mine.csv").read_text(encoding="utf-8") == "y\n"
    assert after == first  # stale file gone, same bytes
    assert leftovers(tmp_path) == []


def test_report_bad_inputs_exit_2_without_traceback(tmp_path, capsys):
    missing = tmp_path / "missing.csv"
    assert main(["report", "--data", str(missing), "--out", str(tmp_path / "o1")]) == 2
    err = capsys.readouterr().err
    assert "file not found" in err and "report not written" in err
    assert not (tmp_path / "o1").exists()

    data = write_synthetic(tmp_path / "in" / "studies.csv")
    afile = tmp_path / "a_file.txt"
    afile.write_text("keep", encoding="utf-8")
    assert main(["report", "--data", str(data), "--out", str(afile)]) == 2
    err = capsys.readouterr().err
    assert "it is a file" in err and "Traceback" not in err
    assert afile.read_text(encoding="utf-8") == "keep"

    assert main(["report", "--data", str(data), "--out", str(data.parent)]) == 2
    assert "would delete the study table" in capsys.readouterr().err
    assert data.exists()


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env["PYTHONIOENCODING"] = "utf-8"
    env.pop("MPLBACKEND", None)
    return env


def _run(*args):
    return subprocess.run([sys.executable, "-m", "iometa", "report", *args],
                          capture_output=True, text=True, encoding="utf-8", env=_env(),
                          timeout=300)


def test_console_report_runs_clean(tmp_path):
    data = write_synthetic(tmp_path / "in" / "studies.csv")
    proc = _run("--data", str(data), "--out", str(tmp_path / "out"))
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""  # no warning the user did not cause
    assert proc.stdout.strip().splitlines()[-1].startswith("report: ")


def test_console_report_bad_table(tmp_path):
    proc = _run("--data", str(HERE / "data" / "bad" / "multiple_problems.csv"),
                "--out", str(tmp_path / "out"))
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and "problems found" in proc.stderr
    assert proc.stdout == "" and not (tmp_path / "out").exists()

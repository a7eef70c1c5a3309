"""`iometa validate FILE`: exit status 2 and a readable list of problems, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from iometa.cli import main

HERE = Path(__file__).resolve().parent
BAD = HERE / "data" / "bad"
GOOD = HERE / "data" / "good"
REPO = HERE.parent


@pytest.mark.parametrize("path", sorted(BAD.iterdir()), ids=lambda p: p.name)
def test_bad_file_exits_2_with_problems_on_stderr(path, capsys):
    assert main(["validate", str(path)]) == 2
    out, err = capsys.readouterr()
    assert out == "using the built-in vocabulary\n"  # which codes were allowed (issue 20)
    assert "Traceback" not in err
    first = err.splitlines()[0]
    assert first.startswith(f"{path}: ") and "problem" in first
    n = int(first.rsplit(": ", 1)[1].split()[0])
    assert len(err.strip().splitlines()) == 1 + n


@pytest.mark.filterwarnings("ignore::iometa._warnings.DataWarning")
@pytest.mark.parametrize("path", sorted(GOOD.iterdir()), ids=lambda p: p.name)
def test_good_file_exits_0(path, capsys):
    assert main(["validate", str(path)]) == 0
    out, err = capsys.readouterr()
    assert "OK" in out and "rows" in out
    assert "Traceback" not in err


def test_missing_file_and_directory_exit_2(tmp_path, capsys):
    assert main(["validate", str(tmp_path / "missing.csv")]) == 2
    assert main(["validate", str(tmp_path)]) == 2
    _, err = capsys.readouterr()
    assert "file not found" in err and "folder" in err and "Traceback" not in err


def test_problem_lines_are_actionable(capsys):
    main(["validate", str(BAD / "events_exceed_total.csv")])
    _, err = capsys.readouterr()
    assert err.splitlines()[1] == (
        "events_exceed_total.csv, line 3, column 'events': '52' — events must not exceed total (51)"
    )


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env["PYTHONIOENCODING"] = "utf-8"
    return env


def _validate_in_subprocess(path: Path) -> subprocess.CompletedProcess:
    """``python -m iometa validate path`` in a fresh interpreter."""
    return subprocess.run(
        [sys.executable, "-m", "iometa", "validate", str(path)],
        capture_output=True,
        text=True,
        encoding="utf-8",
        env=_env(),
        timeout=120,
    )


def test_console_module_exit_status_without_traceback():
    proc = _validate_in_subprocess(BAD / "multiple_problems.csv")
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "8 problems found" in proc.stderr
    assert "did you mean 'RFA'?" in proc.stderr


def test_console_module_good_file():
    proc = _validate_in_subprocess(GOOD / "full_schema.csv")
    assert proc.returncode == 0, proc.stderr
    assert "OK — 3 rows, 2 studies" in proc.stdout


@pytest.mark.skipif(
    not (REPO / "data" / "studies.csv").exists(), reason="data/studies.csv not there yet"
)
def test_validate_project_table(capsys):
    code = main(["validate"])
    out, err = capsys.readouterr()
    assert code == 0, err

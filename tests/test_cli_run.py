"""The ``iometa`` program (``iometa.cli.run``, also ``python -m iometa``): the status of
``main``, output flushed before the process ends without the interpreter's teardown, a usage
error or ``--version`` as argparse gives them, a reader that goes away ends it quietly."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "PYTHONPATH": str(REPO), "MPLBACKEND": "Agg"}


def _run(*args, **kw):
    return subprocess.run([sys.executable, "-m", "iometa", *args], capture_output=True,
                          text=True, env=ENV, cwd=REPO, timeout=300, **kw)


def test_output_is_flushed_and_status_kept():
    proc = _run("validate")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "using the built-in vocabulary"
    assert lines[-1].endswith("outcomes") and ": OK — " in lines[-1]


def test_invalid_table_status_2(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("study_id,outcome\nx,\n", encoding="utf-8")
    proc = _run("validate", str(bad))
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and proc.stderr.strip()


@pytest.mark.parametrize("args, code, where, text", [
    (("--version",), 0, "stdout", "iometa "),
    (("report", "--jobs", "0"), 2, "stderr", "expected a whole number of processes >= 1"),
    (("nonsense",), 2, "stderr", "invalid choice"),
])
def test_argparse_exits(args, code, where, text):
    proc = _run(*args)
    assert proc.returncode == code
    assert text in getattr(proc, where)


def test_reader_going_away_ends_quietly():
    """`iometa validate | head -1`: no BrokenPipeError traceback."""
    proc = subprocess.Popen([sys.executable, "-m", "iometa", "validate"], env=ENV, cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.readline()
    proc.stdout.close()  # the reader is gone before the last lines
    err = proc.stderr.read().decode()
    proc.wait(timeout=300)
    assert "Traceback" not in err and "BrokenPipeError" not in err
    assert proc.returncode in (0, 1)


def test_run_returns_nothing_to_a_caller_it_ends_the_process():
    code = ("from iometa.cli import run\n"
            "run(['--version'])\n"
            "print('never printed')\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=ENV, timeout=120)
    assert proc.returncode == 0 and "never printed" not in proc.stdout
    assert proc.stdout.startswith("iometa ")

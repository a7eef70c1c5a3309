"""The README's Python examples run, and its Quick start has exactly two command lines."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import pytest

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


def test_quick_start_first_block_has_two_commands():
    section = README.split("## Quick start", 1)[1]
    block = re.search(r"```[a-z]*\n(.*?)```", section, re.S).group(1)
    lines = [ln for ln in block.splitlines() if ln.strip()]
    assert lines == [
        'python -m pip install -e . && iometa report',
        'python -m pip install -e ".[test]" && python -m pytest',
    ]


@pytest.mark.parametrize("i", range(len(re.findall(r"```python\n", README))))
def test_python_examples_run(i, tmp_path, monkeypatch):
    import matplotlib

    matplotlib.use("Agg")
    monkeypatch.chdir(tmp_path)
    blocks = re.findall(r"```python\n(.*?)```", README, re.S)
    code = "\n".join(blocks[: i + 1])  # later examples build on earlier ones
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        exec(compile(code, f"README example {i + 1}", "exec"), {})


def test_first_example_pools_at_least_three_studies(tmp_path, monkeypatch):
    """Issue 20 item 6: the tutorial pools something (a fictional table, labelled as such)."""
    import matplotlib

    matplotlib.use("Agg")
    monkeypatch.chdir(tmp_path)
    section = README.split("## Pooling in a few lines", 1)[1]
    assert "fictional" in section.split("```python", 1)[0].lower()
    first = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    ns: dict = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        exec(compile(first, "README example 1", "exec"), ns)
    assert ns["res"].k >= 3 and ns["res"].k == 6
    assert ns["sel"].excluded.empty


def test_quickstart_notebook_first_example_pools_at_least_three_studies():
    """The quick start's first pooling call, on its fictional table, pools several series."""
    import iometa
    from iometa.outcomes import outcome_rows

    root = Path(__file__).resolve().parents[1] / "notebooks"
    cells = (root / "cells_00_quickstart.py").read_text(encoding="utf-8")
    assert 'outcome_rows(studies, "local_progression", site="liver")' in cells
    assert "fictional" in cells.lower()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sel = outcome_rows(iometa.load_studies(root / "example_user_table.csv"),
                           "local_progression", site="liver")
        res = iometa.pool_proportions("events_used", "total_used", data=sel.rows,
                                      labels="label")
    assert res.k == 8 and sorted(set(sel.rows["modality"])) == ["MWA", "RFA"]

"""The analysis notebooks (issue 8): they run top to bottom, and what is committed is current.

* every notebook in ``notebooks/`` executes without a cell error (nbclient, kernel python3,
  a temporary copy of the directory as working directory, 120 s per cell);
* the committed cells are exactly what ``notebooks/build_notebooks.py`` generates, so the
  notebooks cannot drift from their reviewable sources;
* the committed text outputs (printed text, tables as text, generated Markdown) equal those of
  a fresh run, so the notebooks on GitHub never show stale numbers; no cell writes to stderr;
* the prose follows the notebooks' rules: static Markdown carries no hand-typed data numbers
  (decimals, percentages), and each analysis notebook states the limits of cross-study
  comparisons of single-arm series.

Rebuild after a change: ``python notebooks/build_notebooks.py``.
"""

from __future__ import annotations

import importlib.util
import re
import shutil
import time
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

ROOT = Path(__file__).resolve().parent.parent
NB_DIR = ROOT / "notebooks"
REBUILD = "rebuild with: python notebooks/build_notebooks.py"


def _builder():
    spec = importlib.util.spec_from_file_location("build_notebooks",
                                                  NB_DIR / "build_notebooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


builder = _builder()
NAMES = list(builder.NOTEBOOKS)
ANALYSES = [n for n in NAMES if not n.startswith("00_")]


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    """Every committed notebook executed once in a temporary copy of ``notebooks/``:
    {name: (notebook, seconds)}."""
    work = tmp_path_factory.mktemp("nb") / "notebooks"
    shutil.copytree(NB_DIR, work, ignore=shutil.ignore_patterns("*.pyc", "__pycache__"))
    out = {}
    for name in NAMES:
        nb = nbformat.read(work / name, as_version=4)
        start = time.perf_counter()
        builder.execute(nb, work)
        out[name] = (nb, time.perf_counter() - start)
    return out


def _text_outputs(nb) -> list[tuple[int, str, str]]:
    """(cell index, kind, text) of every text output: streams, text/plain, text/markdown."""
    rows = []
    for i, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []):
            if out.output_type == "stream":
                rows.append((i, out.name, out.text))
            elif out.output_type in ("display_data", "execute_result"):
                for mime in ("text/markdown", "text/plain"):
                    if mime in out.data:
                        rows.append((i, mime, out.data[mime]))
            elif out.output_type == "error":
                rows.append((i, "error", f"{out.ename}: {out.evalue}"))
    return rows


def test_every_notebook_is_listed():
    on_disk = sorted(p.name for p in NB_DIR.glob("*.ipynb"))
    assert on_disk == sorted(NAMES), "notebooks/ and build_notebooks.NOTEBOOKS disagree"


@pytest.mark.parametrize("name", NAMES)
def test_committed_cells_match_generator(name):
    committed = nbformat.read(NB_DIR / name, as_version=4)
    generated = builder.build(name)
    have = [(c.cell_type, c.source) for c in committed.cells]
    want = [(c.cell_type, c.source) for c in generated.cells]
    assert have == want, f"{name}: cells differ from {builder.NOTEBOOKS[name]}.py; {REBUILD}"


@pytest.mark.parametrize("name", NAMES)
def test_notebook_runs_without_errors(executed, name):
    nb, _ = executed[name]
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(c.execution_count for c in code), "not every code cell was executed"
    errors = [o for c in code for o in c.outputs if o.output_type == "error"]
    assert not errors
    stderr = [(i, o.text) for i, c in enumerate(nb.cells) for o in c.get("outputs", [])
              if o.output_type == "stream" and o.name == "stderr"]
    assert not stderr, f"{name}: output on stderr (warnings should be printed plainly): {stderr}"


@pytest.mark.parametrize("name", NAMES)
def test_committed_outputs_are_current(executed, name):
    committed = nbformat.read(NB_DIR / name, as_version=4)
    fresh, _ = executed[name]
    have, want = _text_outputs(committed), _text_outputs(fresh)
    for a, b in zip(have, want):
        assert a == b, (f"{name}: committed output of cell {a[0]} differs from a fresh run "
                        f"({a[1]}):\n--- committed\n{a[2][:800]}\n--- fresh\n{b[2][:800]}\n"
                        f"{REBUILD}")
    assert len(have) == len(want), f"{name}: number of outputs changed; {REBUILD}"


@pytest.mark.parametrize("name", NAMES)
def test_outputs_hold_no_machine_paths(name):
    """Committed outputs must not depend on where the checkout lives (CI runs a clone in
    another directory): no absolute path of this checkout or of a temporary directory."""
    committed = nbformat.read(NB_DIR / name, as_version=4)
    for i, _kind, text in _text_outputs(committed):
        for marker in (str(ROOT), "/tmp/", "site-packages"):
            assert marker not in text, f"{name}: cell {i} prints a machine path ({marker})"


@pytest.mark.parametrize("name", NAMES)
def test_figures_are_committed(name):
    committed = nbformat.read(NB_DIR / name, as_version=4)
    images = [o for c in committed.cells for o in c.get("outputs", [])
              if "image/png" in o.get("data", {})]
    assert images, f"{name}: no figure in the committed outputs; {REBUILD}"


def test_execution_time_is_reasonable(executed):
    total = sum(seconds for _, seconds in executed.values())
    assert total < 120, f"the notebooks took {total:.0f} s to run"


# hand-typed data numbers: decimals (29.9) and percentages (25%, 25 %), but not the level of
# an interval ("95% CI", "95% confidence interval", "95% prediction interval")
_NUMBER = re.compile(r"(?<![\w.])\d+\.\d+|\d+\s?%(?!\s*(?:CI|confidence|prediction))")


@pytest.mark.parametrize("name", NAMES)
def test_static_prose_has_no_hand_typed_numbers(name):
    found = [(i, m.group()) for i, (kind, src) in enumerate(builder.cell_sources(name))
             if kind == "markdown" for m in _NUMBER.finditer(src)]
    assert not found, f"{name}: numbers typed into Markdown (print them from code): {found}"


@pytest.mark.parametrize("name", ANALYSES)
def test_analysis_notebooks_state_the_limits(name):
    prose = "\n".join(src for kind, src in builder.cell_sources(name) if kind == "markdown")
    for phrase in ("single-arm", "head-to-head", "small numbers of studies"):
        assert phrase in prose, f"{name}: the limits note lacks {phrase!r}"


def test_static_prose_check_catches_numbers():
    assert _NUMBER.findall("median 29.9 months, 25% and 7 %") == ["29.9", "25%", "7 %"]
    assert not _NUMBER.findall("1-, 3- and 5-year OS; k = 1; I²; Stat Med 38:969; 95% CI; "
                               "95% prediction interval")

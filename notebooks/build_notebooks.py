"""Build the analysis notebooks from their cell sources, execute them and write them with outputs.

The notebooks are written as code — one module per notebook (``cells_*.py`` next to this file,
each a list ``CELLS`` of ``("markdown" | "code", source)``; the setup cell shared by the
analysis notebooks is in ``cells_common.py``) — so that a change to a notebook is
a reviewable diff. This script assembles them with nbformat, executes them top to bottom with
nbclient (cwd = this directory, so relative paths such as ``example_user_table.csv`` work)
and writes them *with* their outputs: clinicians read them on GitHub.

Outputs are kept reproducible: cell ids are fixed, no timing metadata is recorded, stream
outputs are coalesced, the kernel's version information is not stored, and the notebooks print
iometa's warnings as plain sentences on stdout (no file paths, no memory addresses).

Usage::

    python notebooks/build_notebooks.py            # build and execute all the notebooks
    python notebooks/build_notebooks.py --no-execute
    python notebooks/build_notebooks.py --check    # exit 1 if a committed notebook's cells
                                                   # differ from what this script generates
    python notebooks/build_notebooks.py 01_ablation_rfa_mwa_cryo.ipynb   # just one

``tests/test_notebooks.py`` runs every notebook and checks that the committed cells and text
outputs equal what this script produces.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import os
import sys
import textwrap
import time
from pathlib import Path

import nbformat

HERE = Path(__file__).resolve().parent

#: notebook file -> module (in this directory) holding its cells
NOTEBOOKS = {
    "00_quickstart.ipynb": "cells_00_quickstart",
    "01_ablation_rfa_mwa_cryo.ipynb": "cells_01_ablation",
    "02_transarterial_tace_tare.ipynb": "cells_02_transarterial",
    "03_bone_lung_other_sites.ipynb": "cells_03_other_sites",
    "04_head_to_head.ipynb": "cells_04_head_to_head",
}

#: kernel metadata stored in every notebook (no version numbers: they would churn)
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
LANGUAGE_INFO = {"codemirror_mode": {"name": "ipython", "version": 3},
                 "file_extension": ".py", "mimetype": "text/x-python", "name": "python",
                 "nbconvert_exporter": "python", "pygments_lexer": "ipython3"}

CELL_TIMEOUT = 120  # seconds per cell


def cell_sources(name: str) -> list[tuple[str, str]]:
    """The ``(kind, source)`` cells of notebook ``name``, dedented and stripped."""
    path = HERE / f"{NOTEBOOKS[name]}.py"
    spec = importlib.util.spec_from_file_location(NOTEBOOKS[name], path)
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(HERE))  # the cell modules share cells_common.py
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(HERE))
    cells = []
    for kind, source in module.CELLS:
        if kind not in ("markdown", "code"):
            raise ValueError(f"{path.name}: unknown cell kind {kind!r}")
        cells.append((kind, textwrap.dedent(source).strip("\n")))
    return cells


def build(name: str) -> nbformat.NotebookNode:
    """The notebook ``name`` without outputs, with fixed cell ids."""
    nb = nbformat.v4.new_notebook()
    nb.metadata = {"kernelspec": dict(KERNELSPEC), "language_info": dict(LANGUAGE_INFO)}
    stem = name.split("_")[0]
    for i, (kind, source) in enumerate(cell_sources(name)):
        make = nbformat.v4.new_markdown_cell if kind == "markdown" else nbformat.v4.new_code_cell
        nb.cells.append(make(source, id=f"nb{stem}-{i:03d}"))
    nbformat.validate(nb)
    return nb


@contextlib.contextmanager
def _kernel_environment():
    """The kernel is this interpreter (``python`` first on PATH) with the inline backend."""
    saved = {k: os.environ.get(k) for k in ("PATH", "MPLBACKEND")}
    os.environ["PATH"] = str(Path(sys.executable).parent) + os.pathsep + (saved["PATH"] or "")
    os.environ["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def execute(nb: nbformat.NotebookNode, cwd: str | os.PathLike,
            timeout: int = CELL_TIMEOUT) -> nbformat.NotebookNode:
    """Execute ``nb`` in place (kernel python3, working directory ``cwd``); raises nbclient's
    CellExecutionError on the first failing cell. Returns the normalised notebook."""
    from nbclient import NotebookClient

    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", record_timing=False,
                            resources={"metadata": {"path": str(cwd)}})
    with _kernel_environment():
        client.execute()
    return normalise(nb)


def normalise(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Drop what changes between runs or machines: timing metadata, kernel versions; merge
    consecutive stream outputs of the same name."""
    nb.metadata["language_info"] = dict(LANGUAGE_INFO)
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
        if cell.cell_type != "code":
            continue
        merged = []
        for out in cell.outputs:
            if (out.output_type == "stream" and merged and merged[-1].output_type == "stream"
                    and merged[-1].name == out.name):
                merged[-1].text += out.text
            else:
                merged.append(out)
        cell.outputs = merged
    return nb


def write(nb: nbformat.NotebookNode, path: Path) -> None:
    """Write ``nb`` to ``path`` (nbformat's sorted, indented JSON, newline at the end)."""
    text = nbformat.writes(nb)
    path.write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")


def check(names) -> list[str]:
    """Names of the committed notebooks whose cells differ from the generated ones."""
    stale = []
    for name in names:
        path = HERE / name
        if not path.exists():
            stale.append(name)
            continue
        committed = nbformat.read(path, as_version=4)
        want = [(c.cell_type, c.source) for c in build(name).cells]
        have = [(c.cell_type, c.source) for c in committed.cells]
        if want != have:
            stale.append(name)
    return stale


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help="notebooks to build (default: all)")
    parser.add_argument("--no-execute", action="store_true", help="write cells only")
    parser.add_argument("--check", action="store_true",
                        help="only check that the committed cells are up to date")
    args = parser.parse_args(argv)
    names = args.names or list(NOTEBOOKS)
    unknown = [n for n in names if n not in NOTEBOOKS]
    if unknown:
        parser.error(f"unknown notebook(s) {unknown}; expected some of {list(NOTEBOOKS)}")
    if args.check:
        stale = check(names)
        for name in stale:
            print(f"{name}: cells differ from {NOTEBOOKS[name]}.py - run "
                  "python notebooks/build_notebooks.py")
        return 1 if stale else 0
    for name in names:
        start = time.perf_counter()
        nb = build(name)
        if not args.no_execute:
            execute(nb, HERE)
        write(nb, HERE / name)
        print(f"{name}: {len(nb.cells)} cells, {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

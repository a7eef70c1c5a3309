"""``iometa report``: regenerate ``reports/`` from the study table.

The report is written to a temporary directory next to the destination and moved into place
at the end, so an interrupted run leaves the previous report intact. Nothing is ever written
under ``data/``. A bad study table stops the run before anything is written.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

import pandas as pd


def default_report_dir() -> Path:
    """``reports/`` of the checkout (or of the current directory for an installed package)."""
    repo = Path(__file__).resolve().parents[1]
    if (repo / "pyproject.toml").exists() and (repo / "data").is_dir():
        return repo / "reports"
    return Path.cwd() / "reports"


def _fmt(x, digits=3) -> str:
    if x is None or pd.isna(x):
        return "NA"
    return f"{float(x):.{digits}f}"


def markdown_table(df: pd.DataFrame, digits: int = 3) -> str:
    """A deterministic GitHub-flavoured Markdown table."""
    cols = [str(c) for c in df.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for row in df.itertuples(index=False):
        cells = [_fmt(v, digits) if isinstance(v, float) else ("NA" if pd.isna(v) else str(v))
                 for v in row]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_table(df: pd.DataFrame, stem: Path, digits: int = 6) -> list[Path]:
    """Write ``df`` as CSV (fixed float format, LF line endings) and Markdown."""
    stem.parent.mkdir(parents=True, exist_ok=True)
    csv = stem.with_suffix(".csv")
    df.to_csv(csv, index=False, float_format=f"%.{digits}g", lineterminator="\n")
    md = stem.with_suffix(".md")
    md.write_text(markdown_table(df), encoding="utf-8")
    return [csv, md]


def _resolve_paths(data, out):
    from .data import default_data_path

    path = Path(data) if data is not None else default_data_path()
    out = Path(out) if out is not None else default_report_dir()
    target = out.resolve()
    data_dir = path.resolve().parent
    repo_data = Path(__file__).resolve().parents[1] / "data"
    if target == data_dir or target in data_dir.parents or target == repo_data \
            or repo_data in target.parents:
        raise ValueError(f"refusing to write the report to {out}: replacing that directory would "
                         f"touch the study data in {data_dir}; choose another --out")
    return path, out


def build_report(data=None, out=None, *, verbose=True) -> Path:
    """Regenerate the report from the study table ``data`` into ``out``.

    Example
    -------
    >>> from iometa.report import build_report
    >>> build_report(out="/tmp/iometa-report", verbose=False)  # doctest: +SKIP
    """
    from .data import load_studies
    from .report_content import build_artefacts

    t0 = time.perf_counter()
    path, out = _resolve_paths(data, out)
    studies = load_studies(None if data is None else path)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".iometa-report-", dir=out.parent))
    try:
        artefacts = build_artefacts(studies, tmp, data_path=path, verbose=verbose)
        _replace_dir(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if verbose:
        dt = time.perf_counter() - t0
        print(f"report: {len(artefacts)} files written to {out} in {dt:.1f} s")
    return out


def _replace_dir(tmp: Path, out: Path) -> None:
    """Move ``tmp`` to ``out``, replacing the old report only once the new one is complete."""
    old = None
    if out.exists():
        old = out.with_name(f".{out.name}.old-{os.getpid()}")
        os.replace(out, old)
    os.replace(tmp, out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)

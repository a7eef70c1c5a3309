"""``iometa report``: regenerate ``reports/`` from the study table.

Safety: the study table is loaded and validated before anything is written (a bad table stops
the run with the validator's message); the report is built in a temporary directory next to
the destination and moved into place only when complete, so an interrupted run leaves the
previous report intact and no temporary directory behind; nothing is ever written under the
project's ``data/``, the directory holding ``--data`` is never replaced, and an existing
directory is replaced only if it is a report written by iometa. The output depends on the study table and the code only: no
dates, machine names, absolute paths or dict/set ordering, so two runs give identical files.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from ..data.load import default_data_path, load_studies
from .content import build_artefacts
from .output import MARKER, Progress


class ReportPathError(ValueError):
    """The output directory cannot be used (it would touch the data or a foreign directory)."""


def default_report_dir() -> Path:
    """``reports/`` of the checkout (or of the current directory for an installed package)."""
    repo = Path(__file__).resolve().parents[2]
    if (repo / "pyproject.toml").exists() and (repo / "data").is_dir():
        return repo / "reports"
    return Path.cwd() / "reports"


def _inside(a: Path, b: Path) -> bool:
    """``a`` is ``b`` or below it."""
    return a == b or b in a.parents


def _check_out(out: Path, data_path: Path) -> None:
    target = out.resolve()
    repo_data = Path(__file__).resolve().parents[2] / "data"
    data_dir = data_path.resolve().parent
    if _inside(target, repo_data) or _inside(repo_data, target):
        raise ReportPathError(
            f"refusing to write the report to {out}: it would write under (or replace) the "
            f"study data directory {repo_data}; choose another --out")
    if _inside(data_dir, target):
        raise ReportPathError(
            f"refusing to write the report to {out}: replacing that directory would delete "
            f"the study table {data_path}; choose another --out")
    if target.exists() and not target.is_dir():
        raise ReportPathError(f"refusing to write the report to {out}: it is a file")
    if target.is_dir() and any(target.iterdir()):
        readme = target / "README.md"
        first = readme.read_text(encoding="utf-8").split("\n", 1)[0] if readme.is_file() else ""
        if first.strip() != MARKER:
            raise ReportPathError(
                f"refusing to replace {out}: it is not empty and is not a report written by "
                "iometa (its README.md does not start with iometa's marker); choose an empty "
                "or new directory")


def _resolve_paths(data, out):
    path = Path(data) if data is not None else default_data_path()
    out = Path(out) if out is not None else default_report_dir()
    _check_out(out, path)
    return path, out


def build_report(data=None, out=None, *, verbose=True, vocabulary=None, sheet=None) -> Path:
    """Regenerate the report from the study table ``data`` into ``out``; return ``out``.

    Raises :class:`~iometa.StudyTableError` (bad table; nothing written) or
    :class:`ReportPathError` (unusable output directory). The final summary line is printed
    even when ``verbose`` is False. ``vocabulary`` and ``sheet`` are passed to
    :func:`~iometa.load_studies` (default: ``iometa.toml`` beside the table; the first sheet).

    Example
    -------
    >>> from iometa.report import build_report
    >>> build_report(out="/tmp/iometa-report", verbose=False)  # doctest: +SKIP
    report: ... files written to /tmp/iometa-report in ... s
    """
    progress = Progress(verbose)
    path, out = _resolve_paths(data, out)
    studies = load_studies(path, vocabulary=vocabulary, sheet=sheet)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".iometa-report-", dir=out.parent))
    try:
        build_artefacts(studies, tmp, data_path=path, progress=progress)
        _replace_dir(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(progress.summary(out), flush=True)
    return out


def _replace_dir(tmp: Path, out: Path) -> None:
    """Move ``tmp`` to ``out``, replacing the old report only once the new one is complete."""
    old = None
    if out.exists():
        old = out.with_name(f".{out.name}.old-{os.getpid()}")
        os.replace(out, old)
    try:
        os.replace(tmp, out)
    except BaseException:
        if old is not None:
            os.replace(old, out)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)

"""``iometa report``: regenerate ``reports/`` from the study table.

Safety: the study table is loaded and validated before anything is written (a bad table stops
the run with the validator's message); the report is built in a temporary directory next to
the destination and moved into place only when complete, so an interrupted run leaves the
previous report intact and no temporary directory behind (a run killed outright is repaired
by the next one, see :mod:`iometa.report.swap`; concurrent runs wait for each other); only
the files the report wrote (its manifest) are replaced, and ``--out`` as a symlink stays one; nothing is ever written under the
project's ``data/``, the directory holding ``--data`` is never replaced, and an existing
directory is replaced only if it is a report written by iometa. The output depends on the study table and the code only: no
dates, machine names, absolute paths or dict/set ordering, so two runs give identical files.
"""

from __future__ import annotations

import gc
import shutil
import warnings
from contextlib import contextmanager
from pathlib import Path

from .._warnings import DataWarning
from ..data.load import default_data_path, load_studies
from ..data.sources import only_source
from .config import resolve_config
from .content import build_artefacts
from .output import MARKER, Progress
from .swap import (
    keep_user_files,
    recover,
    report_lock,
    signals_interrupt,
    swap,
    temp_dir,
    write_manifest,
)

#: the loader's warning that the report handles itself (one analysis per unit of analysis)
MIXED_UNITS = r"(?s).*per-lesion rows .* and per-patient rows .* are mixed"


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


def build_report(data=None, out=None, *, verbose=True, vocabulary=None, sheet=None,
                 source=None, config=None, bar=None, jobs=None) -> Path:
    """Regenerate the report from the study table ``data`` into ``out``; return ``out``.

    Raises :class:`~iometa.StudyTableError` (bad table; nothing written) or
    :class:`ReportPathError` (unusable output directory). The final summary line is printed
    even when ``verbose`` is False. ``vocabulary`` and ``sheet`` are passed to
    :func:`~iometa.load_studies` (default: ``iometa.toml`` beside the table; the first sheet).
    ``source`` = ``"review"`` (or ``"primary"``) keeps only the rows of that ``source_kind``;
    the default pools primary figures where a study has both (``outcome_rows``).
    Progress: one line per file on stdout and a status bar on stderr when it is a terminal
    (none when ``verbose`` is False); ``bar``, a :class:`iometa.core.progress.ProgressBar`
    already on screen, is continued (the CLI shows it before the imports).
    ``config``: a report configuration — a TOML file (``report.toml``), a mapping of its
    shape or a :class:`~iometa.report.config.ReportConfig` — choosing the outcomes, the
    grouping column, the measure, the τ² method, the test and the level (default: the report
    without one); a bad one raises :class:`~iometa.report.config.ReportConfigError` naming the
    file and key, before anything is written.
    ``jobs``: processes drawing the figures while the analyses go on (default: the cores
    this process may use; ``1`` draws each in turn; :mod:`iometa.report.figure_jobs`); the
    files written are the same whatever it is.

    Example
    -------
    >>> from iometa.report import build_report
    >>> build_report(out="/tmp/iometa-report", verbose=False)  # doctest: +SKIP
    report: ... files written to /tmp/iometa-report in ... s
    """
    if jobs is not None and (isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1):
        raise ValueError(f"jobs must be a whole number >= 1 (or None: the cores available), "
                         f"got {jobs!r}")
    progress = Progress(verbose, bar)
    try:
        with collector_tuned():
            return _build(progress, data, out, vocabulary, sheet, source, config, jobs)
    finally:
        progress.close()  # no status line left behind, whatever happened


#: allocations between collections of the youngest generation during a report (Python: 700)
GC_YOUNG_THRESHOLD = 5000


@contextmanager
def collector_tuned():
    """Python's cyclic garbage collector tuned for one report run, restored afterwards.

    The objects alive when the run starts (numpy, pandas and matplotlib, imported first for
    that reason, and the caller's own) are moved out of the collector's scans (``gc.freeze``;
    not when the caller has frozen objects itself), and the youngest generation is collected
    every :data:`GC_YOUNG_THRESHOLD` allocations: otherwise each full collection rescans the
    ~10⁶ objects of those libraries (~80 ms each, ~0.5 s of garbage collection per report;
    ~0.3 s with the tuning, peak memory unchanged). Collected objects are the same."""
    import matplotlib.pyplot  # noqa: F401 - the report draws figures: frozen with the rest

    old = gc.get_threshold()
    froze = gc.get_freeze_count() == 0
    if froze:
        gc.freeze()
    gc.set_threshold(max(old[0], GC_YOUNG_THRESHOLD), *old[1:])
    try:
        yield
    finally:
        gc.set_threshold(*old)
        if froze:
            gc.unfreeze()


def _build(progress, data, out, vocabulary, sheet, source, config, jobs) -> Path:
    cfg = resolve_config(config)
    path, out = _resolve_paths(data, out)
    progress.stage("reading the study table", 0)
    with warnings.catch_warnings():
        # the report pools per-patient and per-lesion rows separately (sections._by_unit)
        warnings.filterwarnings("ignore", message=MIXED_UNITS, category=DataWarning)
        studies = only_source(load_studies(path, vocabulary=vocabulary, sheet=sheet), source)
    cfg.check(studies)
    real = out.resolve() if out.is_symlink() else out  # --out a symlink: stays one
    real.parent.mkdir(parents=True, exist_ok=True)
    with signals_interrupt(), report_lock(real.parent):
        recover(real)  # a run killed earlier: finish or roll back its swap, remove debris
        _check_out(out, path)
        tmp = temp_dir(real)
        try:
            build_artefacts(studies, tmp, data_path=path, progress=progress, config=cfg,
                            jobs=jobs)
            write_manifest(tmp)
            clashes = keep_user_files(real, tmp)
            if clashes:
                raise ReportPathError(
                    f"refusing to replace {out}: the new report writes "
                    f"{', '.join(clashes[:5])}, which the old report did not write (a file "
                    "of yours?); move it away and rerun")
            swap(tmp, real)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    print(progress.summary(out), flush=True)
    return out

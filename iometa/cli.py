"""Command line: ``iometa report``, ``iometa validate [FILE]``, ``iometa --version``.

Exit status: 0 on success, 2 when the study table is invalid or a file cannot be read
(the problems are printed, never a traceback), 1 on an unexpected internal error, 130
(Ctrl-C) or 143 (SIGTERM) when ``iometa report`` is interrupted (one line, no traceback).
Warnings are printed on stderr as one line each, ``warning: studies.csv, line 12: …`` (no code
file, source line or absolute path); ``iometa report --quiet`` prints none.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ._version import __version__
from ._warnings import sentence_warnings


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="iometa",
        description="Meta-analysis of interventional-oncology outcomes from a study table.",
    )
    p.add_argument("--version", action="version", version=f"iometa {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    r = sub.add_parser("report", help="regenerate reports/ (figures and tables) from the study table")
    r.add_argument("--data", type=Path, default=None, help="study table CSV (default: data/studies.csv)")
    r.add_argument("--out", type=Path, default=None, help="output directory (default: reports/)")
    r.add_argument("--quiet", action="store_true", help="print only the final summary")
    r.add_argument("--source", choices=("review", "primary"), default=None,
                   help="pool only the rows of this source_kind (default: primary figures "
                        "where a study has both; 'review' reproduces the review-only analysis)")
    r.add_argument("--config", type=Path, default=None, metavar="REPORT.toml",
                   help="report configuration (TOML): title, outcomes, group_by (modality, "
                        "site, primary or any column), measure (PLO, PR, PAS, PFT, PLN), "
                        "method (a tau^2 estimator: REML, DL, PM, ...), test (z or knha), "
                        "level, and [outcome.NAME] overrides; default: every outcome by "
                        "modality, logit, REML, z, 95%% (see README.md, 'Report configuration')")
    r.add_argument("--jobs", type=_jobs, default=None, metavar="N",
                   help="processes drawing the figures while the analyses run (default: the "
                        "cores available; 1 draws them in turn); the files are the same")
    _table_options(r)

    v = sub.add_parser("validate", help="check a study table and list every problem")
    v.add_argument("file", nargs="?", type=Path, default=None,
                   help="CSV, .xlsx or .ods file (default: data/studies.csv)")
    _table_options(v)
    return p


def _jobs(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of processes >= 1, "
                                         f"got {text!r}")
    return n


def _table_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--vocabulary", type=Path, default=None, metavar="VOCAB.toml",
                   help="the review's own codes (default: iometa.toml beside the table, if any)")
    p.add_argument("--sheet", default=None, metavar="NAME",
                   help="the sheet of an .xlsx/.ods table (default: the first sheet)")


def _cmd_validate(args: argparse.Namespace) -> int:
    from .data.lexicon import resolve_vocabulary
    from .data.load import StudyTableError, default_data_path, load_studies

    path = args.file if args.file is not None else default_data_path()
    try:
        vocabulary = resolve_vocabulary(args.vocabulary, table=path)
        print(f"using the {vocabulary.describe()}")
        df = load_studies(path, vocabulary=vocabulary, sheet=args.sheet)
    except StudyTableError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    n_studies = df["study_id"].nunique()
    where = f"{path}" + (f" (sheet '{df.attrs['sheet']}')" if "sheet" in df.attrs else "")
    print(f"{where}: OK — {len(df)} rows, {n_studies} studies, {df['outcome'].nunique()} outcomes")
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    import os

    os.environ.setdefault("MPLBACKEND", "Agg")  # files only: never open a window
    from .core.progress import ProgressBar

    # on a terminal, a status line from the first moment (the imports below take seconds)
    bar = ProgressBar("iometa report", enabled=not args.quiet, delay=0)
    bar.update(text="starting (loading iometa)")
    try:
        from .data.load import StudyTableError
        from .report.build import ReportPathError, build_report
        from .report.config import ReportConfigError
    except BaseException:
        bar.close()
        raise

    try:
        build_report(data=args.data, out=args.out, verbose=not args.quiet,
                     vocabulary=args.vocabulary, sheet=args.sheet, source=args.source,
                     config=args.config, bar=bar, jobs=args.jobs)
    except ReportConfigError as exc:
        print(str(exc), file=sys.stderr)
        print("report not written: fix the report configuration first", file=sys.stderr)
        return 2
    except StudyTableError as exc:
        print(str(exc), file=sys.stderr)
        print("report not written: fix the study table first", file=sys.stderr)
        return 2
    except ReportPathError as exc:
        print(f"iometa report: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM (report.swap.Interrupted)
        signum = getattr(exc, "signum", 2)
        _interrupt_handled()
        print("iometa report: interrupted; the previous report (if any) is unchanged",
              file=sys.stderr)
        return 128 + signum
    return 0


def _interrupt_handled() -> None:
    """Make CPython forget a Ctrl-C that this command has handled.

    CPython remembers a KeyboardInterrupt that escaped the run of any source string (the
    ``exec`` with which a dataclass or named tuple creates its methods, in a module imported
    during the run) even when the program caught it afterwards, and ``python -m`` then ends
    by killing itself with SIGINT (exit status -2, not the 130 returned). The next run of a
    source string resets that flag (``run_eval_code_obj`` in CPython's pythonrun.c)."""
    exec("None")  # noqa: S102 - a constant string: resets the flag, runs nothing


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        with sentence_warnings(quiet=getattr(args, "quiet", False)):  # one line each
            if args.command == "validate":
                return _cmd_validate(args)
            if args.command == "report":
                return _cmd_report(args)
    except (FileNotFoundError, PermissionError, IsADirectoryError) as exc:
        print(f"iometa: {exc}", file=sys.stderr)
        return 2
    parser.error(f"unknown command {args.command!r}")
    return 2


def run(argv: list[str] | None = None) -> None:
    """The ``iometa`` program: :func:`main`, then the process ends at once with its status.

    The output is flushed first; what is skipped is the interpreter's teardown, which frees
    the ~10⁶ objects of numpy, pandas, scipy and matplotlib one by one (~0.25 s after a report,
    longer after validating a large table) and runs no handler of iometa's. Tests and scripts
    call :func:`main`, which returns the status instead."""
    import os

    try:
        code = main(argv)
    except BrokenPipeError:  # the reader went away (iometa validate | head): end quietly
        sys.stdout = sys.stderr = open(os.devnull, "w")  # noqa: SIM115 - flushed below
        code = 1
    except SystemExit as exc:  # argparse: --help, --version, a usage error
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        if exc.code is not None and not isinstance(exc.code, int):
            print(exc.code, file=sys.stderr)  # as Python does with sys.exit("message")
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe (iometa ... | head): nothing to add
            pass
    os._exit(code)


if __name__ == "__main__":  # pragma: no cover
    run()

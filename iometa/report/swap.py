"""Putting a finished report in place: a lock, a recoverable swap, a manifest.

Part of :func:`iometa.report.build_report`. The report is built in ``.iometa-report-<pid>-…``
beside the destination ``D``; the swap renames ``D`` to ``.D.old-<pid>`` and the new report
to ``D``. A run killed at any point (even SIGKILL) leaves at most those two names behind, and
the next run, holding the lock, repairs it before building: a complete new report whose
process is dead is moved into place (the swap is finished), otherwise ``.D.old-<pid>`` is moved
back (the swap is rolled back); then the debris of dead processes is removed.

The manifest ``.iometa-manifest`` lists every file the report wrote: when an old report is
replaced, the files it did not write (the user's own) are copied into the new one, so only
what the report wrote is replaced.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
from collections.abc import Iterator
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no flock, runs are not serialised
    fcntl = None  # type: ignore[assignment]

MANIFEST = ".iometa-manifest"
TMP_PREFIX = ".iometa-report-"
_TMP_RE = re.compile(r"^\.iometa-report-(\d+)-(.*)-[^-]+$")
#: files of a report written before manifests existed (README.md with the marker)
_LEGACY = re.compile(r"^(README\.md|(figures|tables)/[^/]+\.(svg|png|pdf|csv|md))$")


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextlib.contextmanager
def report_lock(parent: Path) -> Iterator[None]:
    """Serialise the reports written into one directory (an exclusive lock on ``parent``)."""
    if fcntl is None:
        yield
        return
    fd = os.open(parent, os.O_RDONLY)
    try:
        with contextlib.suppress(OSError):  # a file system without locks: run unserialised
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def temp_dir(out: Path) -> Path:
    """A new build directory beside ``out``, named with this process id and ``out``'s name."""
    import tempfile

    return Path(tempfile.mkdtemp(prefix=f"{TMP_PREFIX}{os.getpid()}-{out.name}-",
                                 dir=out.parent))


def _complete(tmp: Path) -> bool:
    return (tmp / MANIFEST).is_file()


def recover(out: Path) -> None:
    """Finish or roll back a swap interrupted by a dead process, then remove its debris.

    Call it holding :func:`report_lock`; debris of live processes is left alone.
    """
    parent = out.parent
    olds, tmps = [], []
    for p in parent.iterdir():
        m = re.match(rf"^\.{re.escape(out.name)}\.old-(\d+)$", p.name)
        if m and not _alive(int(m.group(1))):
            olds.append(p)
            continue
        m = _TMP_RE.match(p.name)
        if m and m.group(2) == out.name and not _alive(int(m.group(1))):
            tmps.append(p)
        elif p.name.startswith(TMP_PREFIX) and not m and p.is_dir():
            tmps.append(p)  # an older iometa's build directory (no process id): never complete
    if not out.exists() and not out.is_symlink():
        done = [t for t in tmps if _complete(t)]
        if done and olds:  # killed between the two renames: finish the swap
            os.replace(done[0], out)
            tmps.remove(done[0])
        elif olds:  # killed after the first rename only: roll back
            os.replace(olds[0], out)
            olds.remove(olds[0])
    for p in olds + tmps:
        shutil.rmtree(p, ignore_errors=True)


def _report_files(root: Path) -> set[str]:
    """The files an existing report wrote: its manifest, else the legacy layout."""
    manifest = root / MANIFEST
    if manifest.is_file():
        return set(manifest.read_text(encoding="utf-8").splitlines()) | {MANIFEST}
    return {p.relative_to(root).as_posix() for p in root.rglob("*")
            if p.is_file() and _LEGACY.match(p.relative_to(root).as_posix())}


def write_manifest(tmp: Path) -> None:
    """List every file of the finished build (written last: it marks the build complete)."""
    files = sorted(p.relative_to(tmp).as_posix() for p in tmp.rglob("*") if p.is_file())
    (tmp / MANIFEST).write_text("".join(f"{f}\n" for f in files), encoding="utf-8",
                                newline="\n")


def keep_user_files(old: Path, tmp: Path) -> list[str]:
    """Copy into ``tmp`` the files (and folders) of report ``old`` it did not write itself.

    Returns the files that the new report also writes (which would be lost): the caller
    refuses to replace the old report then.
    """
    if not old.is_dir():
        return []
    ours = _report_files(old)
    clashes = []
    for p in sorted(old.rglob("*")):
        rel = p.relative_to(old).as_posix()
        if rel in ours:
            continue
        dest = tmp / rel
        if p.is_dir() and not p.is_symlink():
            dest.mkdir(parents=True, exist_ok=True)
        elif dest.exists():
            clashes.append(rel)
        else:
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(p, dest, follow_symlinks=False)
    return clashes


def interrupt_signals() -> set[int]:
    """The signals that interrupt a report run (those of this platform among SIGINT, SIGTERM
    and SIGHUP): held off where a run must not stop halfway (:func:`swap`, forking a figure
    worker in :mod:`iometa.report.figure_jobs`)."""
    return {getattr(signal, n) for n in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, n)}


def swap(tmp: Path, out: Path) -> None:
    """Move ``tmp`` to ``out`` (signals held off between the two renames)."""
    mask = getattr(signal, "pthread_sigmask", None)
    block = interrupt_signals()
    previous = mask(signal.SIG_BLOCK, block) if mask else None
    old = None
    try:
        if out.exists():
            old = out.with_name(f".{out.name}.old-{os.getpid()}")
            os.replace(out, old)
        try:
            os.replace(tmp, out)
        except OSError:
            if old is not None:
                os.replace(old, out)
            raise
    finally:
        if mask:
            mask(signal.SIG_SETMASK, previous)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


class Interrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM during a report: the build stops, cleans up, the CLI exits 128 + n."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


@contextlib.contextmanager
def signals_interrupt() -> Iterator[None]:
    """SIGTERM (and SIGHUP) raise :class:`Interrupted` like Ctrl-C, so that cleanup runs."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise Interrupted(signum)

    names = ("SIGTERM", "SIGHUP")
    saved = {s: signal.signal(s, handler) for n in names if (s := getattr(signal, n, None))}
    try:
        yield
    finally:
        for s, h in saved.items():
            signal.signal(s, h)

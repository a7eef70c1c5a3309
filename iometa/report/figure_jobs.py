"""The report's figures drawn in forked worker processes while the analyses go on.

Drawing and saving a section's figure (PNG and SVG) takes about as long as all the analyses of
the report together; the two are independent, so on a machine with more than one core the
figures are drawn by child processes forked from the report's own process (POSIX ``fork``: the
child gets the section, its fitted results and the drawing closure as they are, nothing is
pickled) while the parent goes on with the next sections. A child draws a batch of figures
into the report's build directory and sends back, as JSON on a pipe, what the parent needs for
the README, the HTML page and the Word document: the files written, or why the figure is
missing, and the warnings raised while drawing.

:class:`FigureJobs` keeps the output exactly that of drawing every figure in turn in one
process (``jobs=1``): the same files byte for byte (drawing does not depend on the process),
the same notes in each section, the same internal warnings in the same places of
``ctx.internal``, the same progress lines in the same order (printed when the figures are
collected, before the README). A batch whose child fails (crash, signal) is drawn again in the
parent. An interrupted run (Ctrl-C, SIGTERM, an exception) kills and reaps its children before
the build directory is removed.

Forked jobs are used only where they are safe: POSIX ``fork``, the main thread, and no other
Python thread alive (a Jupyter kernel runs threads: it draws in turn). The number of jobs is the
number of cores this process may run on (``jobs=None``); ``jobs=1`` draws in turn.
"""

from __future__ import annotations

import gc
import json
import os
import signal
import sys
import threading
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from .model import Context, Section, sort_warnings, warning_record
from .output import Progress
from .swap import interrupt_signals

#: figure DPI of the report's PNGs
DPI = 200
#: the fewest figures worth a new child once all are submitted (the parent draws fewer itself)
MIN_BATCH = 2
#: figures a worker draws between two garbage collections (it runs without the collector)
GC_EVERY = 32


def default_jobs() -> int:
    """The cores this process may run on (``os.sched_getaffinity`` where there is one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not on Linux
        return max(1, os.cpu_count() or 1)


def can_fork() -> bool:
    """Forking is safe here: POSIX, called from the main thread, no other Python thread."""
    return (hasattr(os, "fork") and threading.current_thread() is threading.main_thread()
            and threading.active_count() == 1)


@dataclass
class Drawn:
    """What drawing one section's figure produced: the files (relative to the report), or
    why there is no figure, and the warnings caught (:func:`~.model.warning_record`)."""

    files: list[str] = field(default_factory=list)
    missing: str | None = None
    caught: list[tuple[bool, str, str]] = field(default_factory=list)

    def to_json(self) -> list:
        return [self.files, self.missing, [list(c) for c in self.caught]]

    @classmethod
    def from_json(cls, v) -> Drawn:
        files, missing, caught = v
        return cls([str(f) for f in files], missing,
                   [(bool(d), str(c), str(m)) for d, c, m in caught])


def draw(section: Section, outdir: Path) -> Drawn:
    """Draw and save ``section``'s figure as ``figures/<slug>.png`` and ``.svg`` under
    ``outdir``; a plotting failure is returned as the reason the figure is missing."""
    import matplotlib.pyplot as plt

    import iometa

    stem = f"figures/{section.slug}"
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            fig = section.figure()  # type: ignore[misc]
            paths = iometa.save_figure(fig, outdir / stem, formats=("png", "svg"), dpi=DPI)
            plt.close(fig)
    except Exception as exc:  # noqa: BLE001 - a broken plot must not lose the tables
        return Drawn(missing=f"the plotting function failed ({type(exc).__name__}: {exc})")
    return Drawn(files=[p.relative_to(outdir).as_posix() for p in paths],
                 caught=[warning_record(w) for w in caught])


def _die_with_parent(parent: int) -> None:
    """In a child: be killed when the report's process dies (SIGKILL, a crash), so that no
    orphan goes on writing into a build directory that the next run removes (Linux:
    ``prctl(PR_SET_PDEATHSIG)``; elsewhere the child checks its parent between figures).
    ``parent``: the pid of the process that forked."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG = 1
        except (OSError, AttributeError):  # no prctl: the checks between figures remain
            pass
    if os.getppid() != parent:  # the parent died before prctl took effect
        raise SystemExit(1)


@dataclass
class _Job:
    section: Section
    mark: int  # len(ctx.internal) when submitted: where its internal warnings go
    drawn: Drawn | None = None


@dataclass
class _Child:
    batch: list[int]
    fd: int
    data: bytearray = field(default_factory=bytearray)


class FigureJobs:
    """Draws the figures of one report run (a context manager around the run's sections).

    ``submit(section)`` for each section with a figure, in report order; ``finish()`` once
    all are submitted, before anything reads ``figure_files`` or ``figure_missing``. Leaving
    the block without ``finish()`` (an error, an interrupt) kills the children.

    Example
    -------
    >>> from pathlib import Path
    >>> import tempfile
    >>> import iometa
    >>> from iometa.report.model import Context
    >>> from iometa.report.output import Progress
    >>> from iometa.report.survival import survival_sections
    >>> ctx = Context.of(iometa.load_studies())
    >>> [sec] = survival_sections(ctx)
    >>> out = Path(tempfile.mkdtemp())
    >>> with FigureJobs(out, ctx, Progress(False), jobs=2) as jobs:
    ...     jobs.submit(sec)
    ...     jobs.finish()
    >>> sec.figure_files
    ['figures/os_rate_by_modality_site.png', 'figures/os_rate_by_modality_site.svg']
    """

    def __init__(self, outdir: Path, ctx: Context, progress: Progress,
                 jobs: int | None = None):
        self.outdir, self.ctx, self.progress = Path(outdir), ctx, progress
        self.jobs = default_jobs() if jobs is None else int(jobs)
        if self.jobs < 1:
            raise ValueError(f"jobs must be 1 or more, got {jobs}")
        self.forked = self.jobs > 1 and can_fork()
        self._jobs: list[_Job] = []
        self._pending: list[int] = []
        self._children: dict[int, _Child] = {}
        self._failed: list[int] = []
        self._applied = 0  # jobs recorded in their sections so far

    def __enter__(self) -> FigureJobs:
        return self

    def __exit__(self, *exc) -> None:
        self.kill()

    # -------------------------------------------------------------- submitting, collecting
    def submit(self, section: Section) -> None:
        """Draw ``section``'s figure (now with one job, else in a child, soon)."""
        self._jobs.append(_Job(section, len(self.ctx.internal)))
        self._pending.append(len(self._jobs) - 1)
        if not self.forked:
            self._draw_here(self._pending)
            self._pending = []
            self._apply(len(self._jobs) - 1, len(self._jobs))
            return
        self._reap(block=False)
        if len(self._children) < self.jobs - 1:  # the parent analyses on one core
            self._launch(self._pending)
            self._pending = []

    def finish(self) -> None:
        """Draw what is left (the parent draws from the back while the children take the
        front), wait for the children and record every figure in its section, in submission
        order."""
        if self.forked:
            rest, self._pending = self._pending, []
            while rest:
                self._reap(block=False)
                slots = self.jobs - 1 - len(self._children)
                size = len(rest) // (max(slots, 0) + 1)
                # a free child takes the front, if it is worth a fork (~50 ms: cold caches)
                while slots > 0 and size >= MIN_BATCH and len(rest) > size:
                    self._launch(rest[:size])
                    rest, slots = rest[size:], slots - 1
                self._draw_here([rest.pop()])
            self._reap(block=True)
            if self._failed:  # a child that died: its figures are drawn here
                self._draw_here(sorted(self._failed))
                self._failed = []
        self._apply(self._applied, len(self._jobs))

    def kill(self) -> None:
        """Stop and reap every child (an interrupted run: before its files are removed)."""
        for pid, child in list(self._children.items()):
            try:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            except (ProcessLookupError, ChildProcessError):  # reaped by someone else
                pass
            os.close(child.fd)
            del self._children[pid]

    def _apply(self, start: int, stop: int) -> None:
        jobs = self._jobs[start:stop]
        internal = self.ctx.internal
        for job in reversed(jobs):  # later marks first: earlier ones stay valid
            assert job.drawn is not None
            msgs: list[str] = []
            if job.drawn.missing is not None:
                msgs.append(f"figure figures/{job.section.slug}: {job.drawn.missing}")
            else:
                sort_warnings([c for c in job.drawn.caught if not c[0]], [], msgs)
            internal[job.mark:job.mark] = msgs
        for job in jobs:
            assert job.drawn is not None
            s, d = job.section, job.drawn
            stem = f"figures/{s.slug}"
            if d.missing is not None:
                s.figure_missing = d.missing
                self.progress("missing", stem, detail=d.missing)
                continue
            sort_warnings([c for c in d.caught if c[0]], s.notes, [])
            s.figure_files = list(d.files)
            self.progress("figure", stem, [self.outdir / f for f in d.files])
        self._applied = stop

    def _draw_here(self, batch) -> None:
        for i in batch:
            self._jobs[i].drawn = draw(self._jobs[i].section, self.outdir)

    # ------------------------------------------------------------------- child processes
    def _launch(self, batch: list[int]) -> None:
        if not batch:
            return
        r, w = os.pipe()
        parent = os.getpid()
        held = interrupt_signals()
        # no interrupt between the fork and the child's registration (it would be left running)
        previous = signal.pthread_sigmask(signal.SIG_BLOCK, held)
        pid = -1
        try:
            with warnings.catch_warnings():
                # Python >= 3.12 warns on fork with threads; can_fork checked for Python ones,
                # and OpenBLAS makes its own threads fork-safe (pthread_atfork)
                warnings.simplefilter("ignore", DeprecationWarning)
                try:
                    pid = os.fork()
                except OSError:  # no process to be had (limits, memory): drawn here
                    pid = -1
            if pid > 0:
                os.close(w)
                os.set_blocking(r, False)
                self._children[pid] = _Child(list(batch), r)
        finally:
            if pid != 0:
                signal.pthread_sigmask(signal.SIG_SETMASK, previous)
        if pid < 0:
            os.close(r)
            os.close(w)
            self._failed += batch
            return
        if pid == 0:  # the child: draw, answer, exit; never return into the parent's code
            code = 1
            try:
                os.close(r)
                for s in held:  # an interrupt ends the child at once, silently
                    signal.signal(s, signal.SIG_DFL)
                signal.pthread_sigmask(signal.SIG_SETMASK, previous)
                # the collector took ~4 % of the drawing time (scanning what the parent made
                # since it froze): a child collects once per GC_EVERY figures instead (~1.3 MB
                # of cyclic garbage per figure meanwhile)
                gc.disable()
                _die_with_parent(parent)
                drawn = []
                for n, i in enumerate(batch, 1):
                    if os.getppid() != parent:  # the report was killed: write nothing more
                        raise SystemExit(1)
                    if n % GC_EVERY == 0:
                        gc.collect()
                    drawn.append(draw(self._jobs[i].section, self.outdir).to_json())
                payload = json.dumps(drawn).encode("utf-8")
                view = memoryview(payload)
                while view:
                    view = view[os.write(w, view):]
                code = 0
            except BaseException:  # noqa: BLE001 - the parent draws the batch again
                code = 1
            finally:
                os._exit(code)

    def _reap(self, block: bool) -> None:
        for pid, child in list(self._children.items()):
            if block:
                os.set_blocking(child.fd, True)
            eof = self._drain(child)
            if not eof and not block:
                continue
            try:
                _, status = os.waitpid(pid, 0)
            except ChildProcessError:  # reaped elsewhere (a SIGCHLD handler): status unknown
                status = -1
            os.close(child.fd)
            del self._children[pid]
            drawn = None
            if status >= 0 and os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0:
                try:
                    drawn = [Drawn.from_json(v) for v in json.loads(bytes(child.data))]
                except (ValueError, TypeError):
                    drawn = None
            if drawn is None or len(drawn) != len(child.batch):
                self._failed += child.batch
                continue
            for i, d in zip(child.batch, drawn):
                self._jobs[i].drawn = d

    @staticmethod
    def _drain(child: _Child) -> bool:
        """Read what the child has sent; True at end of file (the child has exited)."""
        while True:
            try:
                chunk = os.read(child.fd, 1 << 16)
            except BlockingIOError:
                return False
            if not chunk:
                return True
            child.data += chunk


__all__ = ["DPI", "Drawn", "FigureJobs", "can_fork", "default_jobs", "draw"]

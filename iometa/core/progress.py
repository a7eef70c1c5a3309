"""A one-line progress bar for terminals: :class:`ProgressBar` (standard library only).

The bar is redrawn in place with a carriage return on ``stderr``, and only when that stream is
a terminal: piped or redirected output, CI logs and Jupyter (whose streams are not TTYs) get
nothing. Long library calls (:func:`iometa.pool_many`, :func:`iometa.gosh`,
:func:`iometa.permutation_test`) show it once they have run for ``delay`` seconds, so quick
calls never flicker; ``iometa report`` shows it from the start.
"""

from __future__ import annotations

import math
import shutil
import sys
import time
from collections.abc import Callable
from typing import IO

#: bar width in characters
BAR = 24
#: shortest interval between two redraws, in seconds
INTERVAL = 0.1


def is_terminal(stream) -> bool:
    """True if ``stream`` has an ``isatty()`` that says it is a terminal."""
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):  # closed or not a file
        return False


class ProgressBar:
    """``label [#########...............] 12/40  3.2 s  text`` on one terminal line.

    ``total``: the number of steps (None: no bar, only the count and the time). ``stream``:
    where to draw (default ``sys.stderr``, looked up when the bar is made). ``enabled``: False
    draws nothing (``--quiet``); the bar is also silent when ``stream`` is not a terminal.
    ``delay``: seconds before the first drawing (0: at once). ``clock``: for tests.

    Example
    -------
    >>> import io
    >>> bar = ProgressBar("fitting", total=3, stream=io.StringIO())  # not a terminal
    >>> bar.update(advance=1, text="first")
    >>> bar.active, bar.done
    (False, 1)
    """

    def __init__(self, label: str, total: int | None = None, *, stream: IO[str] | None = None,
                 enabled: bool = True, delay: float = 0.5,
                 clock: Callable[[], float] = time.monotonic):
        self.label = label
        self.total = total
        self.stream = sys.stderr if stream is None else stream
        self.active = bool(enabled) and is_terminal(self.stream)
        self.delay = float(delay)
        self.clock = clock
        self.t0 = clock()
        self.done = 0
        self.text = ""
        self._drawn = 0  # length of the line on screen (0: nothing shown)
        self._last = -math.inf

    def update(self, done: int | None = None, *, advance: int = 0, text: str | None = None,
               total: int | None = None, force: bool = False) -> None:
        """Set the step count (``done``) or add ``advance`` to it, the text after the bar and
        the ``total``; redraw unless the last drawing is less than 0.1 s old (``force``
        redraws now, once ``delay`` has passed)."""
        if done is not None:
            self.done = int(done)
        self.done += int(advance)
        if text is not None:
            self.text = str(text)
        if total is not None:
            self.total = int(total)
        if not self.active:
            return
        now = self.clock()
        if now - self.t0 < self.delay:
            return
        if force or not self._drawn or now - self._last >= INTERVAL or (
                self.total is not None and self.done >= self.total):
            self._draw(now)

    def line(self, now: float | None = None) -> str:
        """The text of the line as it would be drawn now (no carriage return)."""
        elapsed = (self.clock() if now is None else now) - self.t0
        parts = [self.label]
        if self.total:
            frac = min(1.0, max(0.0, self.done / self.total))
            fill = int(round(frac * BAR))
            parts.append(f"[{'#' * fill}{'.' * (BAR - fill)}] {self.done}/{self.total}")
        elif self.done:
            parts.append(f"{self.done}")
        parts.append(f"{elapsed:.1f} s")
        if self.text:
            parts.append(self.text)
        return "  ".join(parts)

    def _columns(self) -> int:
        return max(20, shutil.get_terminal_size((80, 24)).columns - 1)

    def _draw(self, now: float) -> None:
        text = self.line(now)[: self._columns()]
        pad = max(0, self._drawn - len(text))
        self.stream.write("\r" + text + " " * pad)
        self.stream.flush()
        self._drawn = len(text)
        self._last = now

    def clear(self) -> None:
        """Erase the line (the state is kept: the next :meth:`update` draws it again)."""
        if self._drawn:
            self.stream.write("\r" + " " * self._drawn + "\r")
            self.stream.flush()
            self._drawn = 0

    def redraw(self) -> None:
        """Draw the line again after :meth:`clear` (e.g. after a line printed on stdout)."""
        if self.active and self.clock() - self.t0 >= self.delay:
            self._draw(self.clock())

    def close(self) -> None:
        """Erase the line and stop drawing."""
        self.clear()
        self.active = False

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def bar_for(progress, label: str, total: int | None = None) -> ProgressBar:
    """The bar of a library call's ``progress=`` argument: True (a bar on a terminal stderr
    after 0.5 s), False (none) or a :class:`ProgressBar` to draw on (its label and total
    are replaced)."""
    if isinstance(progress, ProgressBar):
        progress.label = label
        progress.update(total=total)
        return progress
    if not isinstance(progress, bool):
        raise TypeError(f"progress must be True, False or a ProgressBar, got {progress!r}")
    return ProgressBar(label, total, enabled=progress)

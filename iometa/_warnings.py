"""Warning classes (every warning iometa raises is an :class:`IometaWarning`) and their display
as one-line sentences (:func:`warning_sentence`, :func:`sentence_warnings`, :func:`set_display`)."""

from __future__ import annotations

import contextlib
import os
import re
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path, PurePath
from typing import Any, TextIO


class IometaWarning(UserWarning):
    """Base class of every warning raised by iometa."""


class ConvergenceWarning(IometaWarning):
    """An iterative estimator did not converge; the result says what was done instead."""


class SmallSampleWarning(IometaWarning):
    """Too few studies for the requested quantity (e.g. k = 1: no heterogeneity)."""


class TransformWarning(IometaWarning):
    """A back-transformation or continuity correction that can mislead."""


class DataWarning(IometaWarning):
    """Something in the input data that was accepted but deserves attention."""


class MomentWarning(IometaWarning):
    """A posterior moment does not exist (it is reported as inf)."""


# ------------------------------------------------------------------------ warnings as sentences
#: a message that starts with the table it is about: "path/studies.csv: line 12, ..."
_TABLE = re.compile(r"^(?P<path>[^:\n]+\.(?:csv|tsv|txt|xlsx|xls|ods|toml)): (?P<rest>.*)$", re.S)
_LINE = re.compile(r"^(?:line|lines) \d+")

#: the project's checkout (or the site-packages folder of an installed iometa)
_ROOT = Path(__file__).resolve().parents[1]


def warning_sentence(message: Warning | str) -> str:
    """A warning's message as one line, without absolute paths.

    The table a message starts with is named by its file name, joined to the table line it
    names as the CLI's own problem lines are (``studies.csv, line 12: …``); any other path under
    the working directory or the iometa checkout is written relative to it; line breaks become
    spaces.

    Example
    -------
    >>> warning_sentence("/home/me/review/studies.csv: line 12, column 'n': n is 0")
    "studies.csv, line 12, column 'n': n is 0"
    """
    text = " ".join(str(message).split())
    m = _TABLE.match(text)
    if m:
        rest = m["rest"]
        text = PurePath(m["path"]).name + (", " if _LINE.match(rest) else ": ") + rest
    for base in sorted({str(Path.cwd()), str(_ROOT)}, key=len, reverse=True):
        text = text.replace(base + os.sep, "")
    return text


def _word(category: type[Warning]) -> str:
    """"warning" for iometa's own warnings (they are cautions about the analysis), else the
    Python category's name, e.g. "RuntimeWarning"."""
    return "warning" if issubclass(category, IometaWarning) else category.__name__


def _stream(stream: TextIO | None) -> TextIO:
    if stream is not None:
        return stream
    out = sys.stdout  # in Jupyter, plain output under the cell rather than a pink stderr block
    return out if type(out).__module__.startswith("ipykernel") else sys.stderr


def _sentence_printer(stream: TextIO | None):
    def show(message, category, filename, lineno, file=None, line=None):
        try:
            print(f"{_word(category)}: {warning_sentence(message)}", file=_stream(stream))
        except (OSError, ValueError):  # a closed stream: a warning must never raise
            pass

    show.iometa_sentences = True  # type: ignore[attr-defined]
    return show


@contextlib.contextmanager
def sentence_warnings(quiet: bool = False, stream: TextIO | None = None) -> Iterator[None]:
    """Within the block, each warning is printed as one sentence (``warning: …``, see
    :func:`warning_sentence`) on ``stream`` (default stderr), or not at all when ``quiet``;
    the warning filters and printer are restored afterwards (the CLI runs in this).

    Example
    -------
    >>> import io, warnings
    >>> out = io.StringIO()
    >>> with sentence_warnings(stream=out):
    ...     warnings.warn("k = 1: tau^2 set to 0", SmallSampleWarning)
    >>> out.getvalue()
    'warning: k = 1: tau^2 set to 0\\n'
    """
    with warnings.catch_warnings():
        if quiet:
            warnings.simplefilter("ignore")
        else:
            warnings.showwarning = _sentence_printer(stream)
        yield


_DISPLAY: dict[str, Any] = {"mode": "python", "saved": None}
WARNING_DISPLAYS = ("sentences", "python", "off")


def set_display(warnings: str = "sentences", stream: TextIO | None = None) -> str:
    """How iometa's warnings are shown in this session; returns the previous setting.

    ``warnings="sentences"``: every warning is printed as one line, ``warning: …``, naming the
    table line where the message has one, with no code file, source line or absolute path
    (:func:`warning_sentence`), on ``stream`` (default: stdout inside Jupyter, where it appears
    as plain text under the cell, else stderr), and every iometa warning is shown each time it
    is raised. ``"python"``: Python's own display again. ``"off"``: iometa's warnings are not
    shown (results still carry them in ``res.warnings``, and their HTML display shows them).
    Whatever the setting, the warnings are raised as usual, so ``warnings.catch_warnings`` and
    ``pytest.warns`` see them.

    Example
    -------
    >>> import io, iometa
    >>> out = io.StringIO()
    >>> previous = iometa.set_display(warnings="sentences", stream=out)
    >>> res = iometa.pool([0.3], [0.04])
    >>> out.getvalue().splitlines()[0][:40]
    'warning: only one study (Study 1): the p'
    >>> iometa.set_display(warnings=previous)
    'sentences'
    """
    import warnings as _w

    if warnings not in WARNING_DISPLAYS:
        raise ValueError(f"warnings must be one of {', '.join(WARNING_DISPLAYS)}, got "
                         f"{warnings!r}")
    previous = str(_DISPLAY["mode"])
    if getattr(_w.showwarning, "iometa_sentences", False) and _DISPLAY["saved"] is not None:
        _w.showwarning = _DISPLAY["saved"]  # type: ignore[assignment]
    if warnings == "sentences":
        _DISPLAY["saved"] = _w.showwarning
        _w.showwarning = _sentence_printer(stream)
        _w.filterwarnings("always", category=IometaWarning)
    elif warnings == "off":
        _w.filterwarnings("ignore", category=IometaWarning)
    else:
        _w.filterwarnings("default", category=IometaWarning)
    _DISPLAY["mode"] = warnings
    return previous

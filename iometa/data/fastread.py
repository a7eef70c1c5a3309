"""A fast reader for the plain CSV files that make up nearly every large study table.

Part of the study-table loader (:func:`iometa.data.read_study_table`). The general reader
decodes the whole file to text and splits it with the :mod:`csv` module into Python lists,
which for a million rows costs a minute and several gigabytes. This reader parses the bytes
with pyarrow's CSV parser into Arrow string columns (about the file's size in memory), but
only for files on which that parser and the general reader are known to agree cell for cell
and line for line; for any other file it returns None and the general reader runs, so every
message about an awkward file is unchanged. The file is accepted when:

* it is UTF-8 (with or without a BOM) and holds no control characters other than tab,
  line feed and carriage return, a carriage return only as part of a CRLF line ending, and
  does not start like another format (PDF, HTML, a workbook ...);
* its first line is the header (or an Excel ``sep=`` line followed by the header), with
  names that are not blank, not repeated and not ``line``;
* every line holds as many cells as the header and no record spans two lines (a quoted
  line break, or a quote never closed), so that row k is line k;
* no cell starts with a space (the general reader skips spaces after a delimiter before a
  quoted cell, which pyarrow does not).

Blank rows are dropped exactly as the general reader drops them.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from . import fastpath
from .cells import _clean
from .errors import StudyTableError

#: bytes of the file read at a time while scanning it
_CHUNK = 1 << 24
#: control characters that send a file to the general reader (which names or tolerates them)
_CONTROL = bytes(range(0, 9)) + b"\x0b\x0c" + bytes(range(14, 32)) + b"\x7f"
#: every byte to 1, the control characters to 0 (bytes.translate is fast)
_MARK_CONTROL = bytes(0 if b in _CONTROL else 1 for b in range(256))
_HEAD_LINES = 64
#: a character that certainly survives trimming: printable ASCII, not a space
_VISIBLE = re.compile(r"[!-~]")


def _scan(path: Path) -> tuple[bytes, int] | None:
    """(the first bytes, number of physical lines), or None when the file needs the general
    reader (control characters, a lone carriage return, another format)."""
    from .sniff import _plain_head

    head = b""
    lines = 0
    last = b""
    with open(path, "rb") as fh:
        while True:
            chunk = fh.read(_CHUNK)
            if not chunk:
                break
            if not head:
                head = chunk[:1 << 16]
                if not _plain_head(head):
                    return None
            octets = np.frombuffer(chunk, dtype=np.uint8)
            nl = int(np.count_nonzero(octets == 10))
            if b"\x7f" not in chunk and nl == int(np.count_nonzero(octets < 32)):
                # no byte below 32 but line feeds (the common case, in one pass): only a CR
                # ending the previous chunk must be matched by a line feed here
                if last == b"\r" and chunk[:1] != b"\n":
                    return None
            else:
                if b"\x00" in chunk.translate(_MARK_CONTROL):
                    return None
                cr = chunk.count(b"\r")
                if cr or last == b"\r":
                    crlf = chunk.count(b"\r\n") + (
                        1 if last == b"\r" and chunk[:1] == b"\n" else 0)
                    # a CR ending the previous chunk was counted there and is matched here
                    if cr - (1 if chunk[-1:] == b"\r" else 0) + (
                            1 if last == b"\r" else 0) != crlf:
                        return None
            lines += nl
            last = chunk[-1:]
    if last == b"\r":
        return None
    if last and last != b"\n":
        lines += 1
    return head, lines


def read_csv_fast(path: str | os.PathLike) -> pd.DataFrame | None:
    """The raw frame of :func:`~iometa.data.read_study_table`, or None (general reader)."""
    if not fastpath.ENABLED:
        return None
    try:
        return _read(Path(path), path)
    except (StudyTableError, OSError, ValueError, UnicodeDecodeError, ImportError):
        return None


def _read(p: Path, path: Any) -> pd.DataFrame | None:
    if not p.is_file() or p.stat().st_size == 0:
        return None
    scanned = _scan(p)
    if scanned is None:
        return None
    head, n_lines = scanned
    if head.startswith(b"\xff\xfe") or head.startswith(b"\xfe\xff"):
        return None
    from .sniff import _find_delimiter

    first_lines = head.split(b"\n")[:_HEAD_LINES]
    if len(first_lines) < _HEAD_LINES and n_lines > len(first_lines):
        return None  # very long first lines: let the general reader look at them
    text = b"\n".join(first_lines).decode("utf-8-sig")
    if not _clean(text.replace("\r", " ").replace("\n", " ")):
        return None
    delimiter, skip = _find_delimiter(text, path)
    physical = text.split("\n")
    if skip >= len(physical) or not _clean(physical[skip]) or delimiter in "\r\n\"":
        return None  # blank lines above the header
    import pyarrow as pa
    import pyarrow.csv as pacsv

    read_opts = pacsv.ReadOptions(skip_rows=skip, autogenerate_column_names=True,
                                  block_size=1 << 22)
    parse_opts = pacsv.ParseOptions(delimiter=delimiter, quote_char='"', double_quote=True,
                                    escape_char=False, newlines_in_values=True,
                                    ignore_empty_lines=False)
    with open(p, "rb") as fh:
        # the number of columns is the header's: every cell is read as a string
        reader_probe = pacsv.open_csv(
            fh, read_options=pacsv.ReadOptions(skip_rows=skip, autogenerate_column_names=True,
                                               block_size=1 << 16),
            parse_options=parse_opts)
        width = len(reader_probe.schema.names)
    types = {f"f{j}": pa.large_string() for j in range(width)}  # pandas stores large_string
    convert_opts = pacsv.ConvertOptions(column_types=types, null_values=[],
                                        strings_can_be_null=False,
                                        quoted_strings_can_be_null=False)
    try:  # block by block: the parsed text of a block is freed once converted
        table = pacsv.open_csv(p, read_options=read_opts, parse_options=parse_opts,
                               convert_options=convert_opts,
                               memory_pool=_pool()).read_all()
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None  # rows of another width, text that is not UTF-8, ...
    pool = _pool()
    if pool is not None:
        pool.release_unused()  # the parser's block buffers
    if table.num_rows != n_lines - skip:
        return None  # a record spans lines (a quoted line break or an unclosed quote)
    return _frame(table, skip, delimiter, path)


def _pool() -> Any:
    """jemalloc where pyarrow has it: it returns the parser's block buffers to the system
    (peak memory ~0.9 GB instead of ~1.2 GB for a 500 MB file with mimalloc)."""
    import pyarrow as pa

    try:
        return pa.jemalloc_memory_pool()
    except (NotImplementedError, AttributeError):
        return None


def _frame(table: Any, skip: int, delimiter: str, path: Any) -> pd.DataFrame | None:
    import pyarrow as pa
    import pyarrow.compute as pc

    cols = [table.column(j) for j in range(table.num_columns)]
    n = table.num_rows
    # a cell starting with a space: the general reader skips spaces after a delimiter (and
    # then reads a quoted cell); such rows are read again with the csv module
    spaced = {}
    for j, c in enumerate(cols):
        rows = np.flatnonzero(pc.starts_with(c, " ").to_numpy(zero_copy_only=False))
        if rows.size:
            spaced[j] = rows
    if spaced:
        cols = _reread_rows(cols, spaced, skip, delimiter, path)
        if cols is None:
            return None
    # a quote never closed swallows the file's last line ending into the last row
    if any(("\n" in (v := c[n - 1].as_py())) or "\r" in v for c in cols):
        return None
    header = [c[0].as_py() for c in cols]
    names = [_clean(h) for h in header]
    if not any(names):
        return None
    seen: set[str] = set()
    for name in names:
        if not name or name.casefold() == "line" or name in seen:
            return None
        seen.add(name)
    # blank rows: all cells empty are dropped; a row whose only content is spaces of other
    # kinds (or other invisible characters) is decided by the general reader's rule
    filled = np.zeros(n, dtype=bool)
    for c in cols:
        filled |= pc.greater(pc.binary_length(c), 0).to_numpy(zero_copy_only=False)
    unsure = filled.copy()
    for c in cols:
        if np.count_nonzero(unsure) <= 1000:
            break
        unsure &= ~pc.match_substring_regex(c, "[!-~]").to_numpy(zero_copy_only=False)
    for i in np.flatnonzero(unsure).tolist():  # rare: decide by the general reader's rule
        if not any(_clean(c[i].as_py()) for c in cols):
            filled[i] = False
    if not filled[0]:
        return None
    if _shifted(cols, names, filled, delimiter):
        return None
    keep = np.flatnonzero(filled[1:]) + 1
    if keep.size == 0:
        return None  # a header and no data: the general reader says so
    take = None if keep.size == n - 1 and n > 1 else pa.array(keep)
    data: dict[str, Any] = {}
    for name, c in zip(names, cols):
        body = c.slice(1) if take is None else c.take(take)
        data[name] = pd.arrays.ArrowStringArray(body) if _plain(body) else pd.array(
            body.to_pylist(), dtype=pd.StringDtype())
    frame = pd.DataFrame(data, copy=False)
    for name in names:
        if frame[name].dtype != pd.StringDtype():
            frame[name] = frame[name].astype(pd.StringDtype())
    frame["line"] = pd.array(keep + skip + 1, dtype="Int64")
    frame.attrs.update(path=str(path), delimiter=delimiter,
                       decimal="," if delimiter == ";" else ".", encoding="utf-8")
    return frame


def _shifted(cols: list, names: list[str], filled: np.ndarray, delimiter: str) -> bool:
    """Whether a row fits only shifted (a decimal comma split a number: the general reader
    names it); the exact rule is applied to the rows that might."""
    import pyarrow.compute as pc

    from .schema import _FLOAT, _TEXT
    from .sniff import _shifted_number

    if delimiter != ",":
        return False
    maybe = np.zeros(len(filled), dtype=bool)
    for k in range(len(names) - 1):
        if names[k].casefold() in _FLOAT and names[k + 1].casefold() in _TEXT:
            pair = np.ones(len(filled), dtype=bool)
            for c in (cols[k], cols[k + 1]):
                has = pc.greater(pc.binary_length(c), 0)
                letters = pc.match_substring_regex(c, "[A-Za-z]")
                pair &= pc.and_(has, pc.invert(letters)).to_numpy(zero_copy_only=False)
            maybe |= pair
    maybe[0] = False
    maybe &= filled
    return any(
        _shifted_number([c[int(i)].as_py() for c in cols], delimiter, names) is not None
        for i in np.flatnonzero(maybe)
    )


def _reread_rows(cols: list, spaced: dict[int, np.ndarray], skip: int, delimiter: str,
                 path: Any) -> list | None:
    """Replace the cells starting with a space (``spaced``: column -> its rows; row k =
    physical line skip + k) by the csv module's reading of their lines; None if a line does
    not give as many cells.

    Only those cells can differ: the csv module (skipinitialspace) reads as quoted every
    cell pyarrow reads as quoted and also a cell of spaces and a quote, so when it finds as
    many cells in the line, the cells are split at the same delimiters and differ only
    where that cell starts with spaces.
    """
    import csv

    import pyarrow as pa
    import pyarrow.compute as pc

    rows = np.unique(np.concatenate(list(spaced.values())))
    found: dict[int, list[str]] = {}
    for n, raw in _lines(path, (rows + skip).tolist()):
        line = raw.decode("utf-8-sig" if n == 0 else "utf-8")
        rec = next(csv.reader([line], delimiter=delimiter, quotechar='"',
                              skipinitialspace=True), [])
        if len(rec) != len(cols):
            return None
        found[n - skip] = rec
    if len(found) != len(rows):
        return None
    out = list(cols)
    for j, col_rows in spaced.items():
        order = col_rows.tolist()
        cells = [found[k][j] for k in order]
        if _values_at(cols[j], order) == cells:
            continue  # the same cells (e.g. a quoted cell starting with a space)
        mask = np.zeros(len(cols[j]), dtype=bool)
        mask[order] = True
        out[j] = pc.replace_with_mask(cols[j], pa.array(mask),
                                      pa.array(cells, type=cols[j].type))
    return out


def _lines(path: Any, wanted: list[int]) -> Any:
    """(n, bytes of physical line n with its line feed) for the line numbers wanted
    (0-based)."""
    left = set(wanted)
    if not left:
        return
    with open(path, "rb") as fh:
        for n, raw in enumerate(fh):
            if n in left:
                yield n, raw
                left.discard(n)
                if not left:
                    return


def _values_at(chunked: Any, rows: list[int]) -> list[Any]:
    """chunked[rows] as Python values, chunk by chunk (a take on the chunked array as a whole
    may first join its chunks: a copy of the column)."""
    import pyarrow as pa

    out: list[Any] = []
    starts = np.cumsum([0] + [len(ch) for ch in chunked.chunks])
    rows_arr = np.asarray(rows, dtype=np.int64)
    which = np.searchsorted(starts, rows_arr, side="right") - 1
    for k in np.unique(which).tolist():
        local = rows_arr[which == k] - starts[k]
        out.extend(chunked.chunks[k].take(pa.array(local)).to_pylist())
    return out


def _plain(chunked: Any) -> bool:
    import pyarrow as pa

    return bool(chunked.type == pa.string() or chunked.type == pa.large_string())

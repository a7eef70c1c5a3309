"""The zlib stream of a PNG image's rows, deflated in bands on two threads.

A 300-dpi journal figure is 13-17 MB of raw rows, and deflating them is the largest single cost
of writing its PNG (~26 ms here, at any zlib level from 1 to 3: the cost is reading the
bytes). zlib releases the GIL while it compresses, and so does numpy while it copies, so the
rows are cut into bands of :data:`BAND_ROWS` rows, each deflated on its own (raw deflate ending
in a full flush, so the next band starts on a byte boundary with an empty dictionary: the
bands concatenate into one valid deflate stream, as pigz builds its streams), up to
:data:`THREADS` at a time. The bands are fixed by the image's height alone, never by the
machine or the threads' timing, so the bytes are the same on every machine for a given zlib.
The stream is wrapped in the zlib header and the Adler-32 of all the rows, combined from the
bands' own checksums (RFC 1950).
"""

from __future__ import annotations

import threading
import zlib

import numpy as np

#: rows per independently deflated band (a band restarts the dictionary: ~0.3 KB more per band)
BAND_ROWS = 512
#: rows copied into the filter-prefixed buffer and deflated per call inside a band
BLOCK_ROWS = 32
#: bands deflated at the same time (threads started per image, none left running)
THREADS = 2
_ADLER_MOD = 65521


def deflate_rows(rgba, channels, level):
    """The zlib stream of the ``(height, width, 4)`` uint8 image's unfiltered rows (a zero
    filter byte before each) with ``channels`` = 3 (RGB: None as soon as an alpha is below
    255) or 4 (RGBA).

    Example
    -------
    >>> import numpy as np, zlib
    >>> rgba = np.random.default_rng(2).integers(0, 256, (1200, 9, 4), dtype=np.uint8)
    >>> rows = np.concatenate([np.zeros((1200, 1), np.uint8), rgba.reshape(1200, -1)], axis=1)
    >>> zlib.decompress(deflate_rows(rgba, 4, 3)) == rows.tobytes()
    True
    >>> deflate_rows(rgba, 3, 3) is None  # not every pixel is opaque
    True
    """
    h = rgba.shape[0]
    bands = [(i, min(i + BAND_ROWS, h)) for i in range(0, h, BAND_ROWS)] or [(0, 0)]
    out: list = [None] * len(bands)
    errors: list[BaseException] = []
    failed = threading.Event()

    def work(first):
        for b in range(first, len(bands), THREADS):
            if failed.is_set():
                return
            try:
                res = _band(rgba, *bands[b], channels, level, last=b == len(bands) - 1)
            except BaseException as exc:  # noqa: BLE001 - raised again by the caller's thread
                errors.append(exc)
                failed.set()
                return
            if res is None:  # a pixel that is not opaque: the caller stores RGBA instead
                failed.set()
                return
            out[b] = res

    threads = [threading.Thread(target=work, args=(t,), daemon=True)
               for t in range(1, min(THREADS, len(bands)))]
    for t in threads:
        t.start()
    try:
        work(0)
    finally:
        for t in threads:
            t.join()
    if errors:
        raise errors[0]
    if any(res is None for res in out):  # only RGB: an RGBA band always gives its data
        return None
    adler = 1
    for (lo, hi), (_, checksum) in zip(bands, out, strict=True):
        adler = _adler_combine(adler, checksum, (hi - lo) * (1 + channels * rgba.shape[1]))
    flevel = 0 if level < 2 else 1 if level < 6 else 2 if level == 6 else 3
    header = bytes((0x78, (flevel << 6) + 31 - ((0x78 << 8) + (flevel << 6)) % 31))
    return b"".join([header, *(data for data, _ in out), adler.to_bytes(4, "big")])


def _band(rgba, lo, hi, channels, level, last):
    """``(raw deflate data, Adler-32)`` of rows ``lo``–``hi``, or None (RGB and a pixel that is
    not opaque)."""
    w = rgba.shape[1]
    block = np.empty((BLOCK_ROWS, 1 + channels * w), dtype=np.uint8)
    block[:, 0] = 0  # filter type 0 (none) on every row
    pixels = block[:, 1:].reshape(BLOCK_ROWS, w, channels)
    deflate = zlib.compressobj(level, zlib.DEFLATED, -15)
    parts, adler = [], 1
    for i in range(lo, hi, BLOCK_ROWS):
        n = min(BLOCK_ROWS, hi - i)
        rows = rgba[i:i + n]
        if channels == 3 and w and int(rows[..., 3].min()) != 255:
            return None
        for c in range(channels):  # one strided copy per channel: 4x faster than [..., :3]
            pixels[:n, :, c] = rows[..., c]
        parts.append(deflate.compress(block[:n]))  # type: ignore[arg-type]
        adler = zlib.adler32(block[:n], adler)  # type: ignore[arg-type]
    parts.append(deflate.flush(zlib.Z_FINISH if last else zlib.Z_FULL_FLUSH))
    return b"".join(parts), adler


def _adler_combine(a1, a2, len2):
    """Adler-32 of the concatenation of two byte strings from theirs and the second's length."""
    s1a, s2a = a1 & 0xFFFF, a1 >> 16
    s1b, s2b = a2 & 0xFFFF, a2 >> 16
    s1 = (s1a + s1b - 1) % _ADLER_MOD
    s2 = (s2a + s2b + len2 * (s1a - 1)) % _ADLER_MOD  # Python ints: no overflow
    # (s2b already counts the 1 each byte of the second string adds: len2 · (s1a − 1) more)
    return (s2 << 16) | s1

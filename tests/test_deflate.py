"""PNG rows deflated in bands on threads (iometa.plots.deflate): a valid zlib stream of exactly
the rows, the same bytes whatever the number of threads, and RGBA where a pixel is not opaque."""

from __future__ import annotations

import io
import zlib

import numpy as np
import pytest
from PIL import Image

from iometa.plots import deflate
from iometa.plots.export import _png_bytes

B = deflate.BAND_ROWS


def _image(h, w, seed=0, opaque=True):
    rng = np.random.default_rng(seed)
    rgba = np.full((h, w, 4), 255, dtype=np.uint8)
    rgba[..., :3] = rng.integers(0, 256, (h, w, 3)) // 64 * 64  # compressible, not trivial
    if not opaque:
        rgba[h - 1, w - 1, 3] = 17  # the last pixel of the last band
    return rgba


def _rows(rgba, channels):
    h = rgba.shape[0]
    filt = np.zeros((h, 1), dtype=np.uint8)
    pixels = rgba[..., :channels].reshape(h, rgba.shape[1] * channels)
    return np.concatenate([filt, pixels], axis=1).tobytes()


@pytest.mark.parametrize("h", [0, 1, 31, B - 1, B, B + 1, 3 * B + 7])
@pytest.mark.parametrize("channels", [3, 4])
def test_stream_is_the_rows(h, channels):
    rgba = _image(h, 13, seed=h)
    data = deflate.deflate_rows(rgba, channels, 3)
    assert zlib.decompress(data) == _rows(rgba, channels)
    d = zlib.decompressobj()
    assert d.decompress(data) == _rows(rgba, channels) and d.eof and not d.unused_data


def test_same_bytes_for_any_number_of_threads(monkeypatch):
    rgba = _image(4 * B + 100, 40, seed=3)
    streams = set()
    for threads in (1, 2, 3, 8):
        monkeypatch.setattr(deflate, "THREADS", threads)
        streams.add(deflate.deflate_rows(rgba, 3, 3))
    assert len(streams) == 1


@pytest.mark.parametrize("level", [0, 1, 3, 6, 9])
def test_header_is_a_valid_zlib_header_at_every_level(level):
    data = deflate.deflate_rows(_image(B + 3, 5), 3, level)
    assert data[0] == 0x78 and (data[0] * 256 + data[1]) % 31 == 0
    assert zlib.decompress(data) == _rows(_image(B + 3, 5), 3)


def test_a_pixel_that_is_not_opaque_anywhere_gives_rgba():
    rgba = _image(3 * B + 5, 9, opaque=False)
    assert deflate.deflate_rows(rgba, 3, 3) is None
    im = Image.open(io.BytesIO(_png_bytes(rgba, 300)))
    assert im.mode == "RGBA" and (np.asarray(im) == rgba).all()


def test_png_of_several_bands_decodes_to_the_pixels():
    rgba = _image(2 * B + 50, 31, seed=9)
    im = Image.open(io.BytesIO(_png_bytes(rgba, 300)))
    assert im.mode == "RGB" and (np.asarray(im) == rgba[..., :3]).all()


def test_adler_combine():
    rng = np.random.default_rng(4)
    for n in (0, 1, 5, 5552, 70_000):
        x = rng.integers(0, 256, n, dtype=np.uint8).tobytes()
        for cut in {0, n // 3, n}:
            assert deflate._adler_combine(zlib.adler32(x[:cut]), zlib.adler32(x[cut:]),
                                          n - cut) == zlib.adler32(x)


def test_error_in_a_band_is_raised(monkeypatch):
    def boom(*args, **kwargs):
        raise MemoryError("no memory for the band")

    monkeypatch.setattr(deflate, "_band", boom)
    with pytest.raises(MemoryError, match="no memory"):
        deflate.deflate_rows(_image(3 * B, 4), 3, 3)

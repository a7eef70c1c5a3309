"""save_figure writes its own PNG encoding: its pixels must equal matplotlib's own PNG (drawn
with unhinted text at 150 dpi and above, as save_figure draws it there). An opaque figure is
stored as RGB, one with transparent pixels as RGBA; both decode to matplotlib's RGBA pixels."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib import image as mimage  # noqa: E402
from PIL import Image  # noqa: E402

import iometa  # noqa: E402
from iometa.plots.export import UNHINTED_DPI  # noqa: E402


@pytest.mark.parametrize("dpi", [72, 150, 300])
def test_png_pixels_equal_matplotlib(tmp_path, dpi):
    res = iometa.pool_proportions([13, 4, 9, 0, 7], [51, 30, 40, 12, 25],
                                  labels=["A 2001", "B 2002", "C 2003", "D 2004", "E 2005"])
    fig = iometa.forest_plot(res, width="single")
    ours = iometa.save_figure(fig, tmp_path / "ours", formats=("png",), dpi=dpi)
    ours = ours[0] if isinstance(ours, (list, tuple)) else tmp_path / "ours.png"
    hinting = "no_hinting" if dpi >= UNHINTED_DPI else matplotlib.rcParams["text.hinting"]
    with matplotlib.rc_context({"text.hinting": hinting}):
        fig.savefig(tmp_path / "theirs.png", dpi=dpi)
    with Image.open(ours) as im:
        assert im.mode == "RGB"  # opaque: no alpha channel stored
        assert im.info["dpi"] == pytest.approx((dpi, dpi), abs=0.02)  # whole px per metre
        a = np.asarray(im.convert("RGBA"))
    with Image.open(tmp_path / "theirs.png") as im:
        b = np.asarray(im.convert("RGBA"))
    assert a.shape == b.shape
    assert np.array_equal(a, b)


def test_transparent_png_keeps_alpha(tmp_path):
    res = iometa.pool_proportions([13, 4, 9], [51, 30, 40], labels=["A 2001", "B 2002", "C 2003"])
    fig = iometa.forest_plot(res, width="single")
    ours = iometa.save_figure(fig, tmp_path / "ours", formats=("png",), dpi=300,
                              transparent=True)[0]
    with matplotlib.rc_context({"text.hinting": "no_hinting"}):
        fig.savefig(tmp_path / "theirs.png", dpi=300, transparent=True)
    with Image.open(ours) as im:
        assert im.mode == "RGBA"
        a = np.asarray(im)
    with Image.open(tmp_path / "theirs.png") as im:
        b = np.asarray(im.convert("RGBA"))
    assert (a[..., 3] < 255).any()
    assert np.array_equal(a, b)


def test_text_is_hinted_below_150_dpi_only(tmp_path):
    res = iometa.pool_proportions([13, 4, 9], [51, 30, 40], labels=["A 2001", "B 2002", "C 2003"])
    fig = iometa.forest_plot(res, width="single")
    for dpi in (100, 300):
        ours = iometa.save_figure(fig, tmp_path / f"ours{dpi}", formats=("png",), dpi=dpi)[0]
        fig.savefig(tmp_path / f"hinted{dpi}.png", dpi=dpi)
        a = mimage.imread(str(ours))[..., :3]  # ours is RGB (opaque), matplotlib's RGBA
        b = mimage.imread(str(tmp_path / f"hinted{dpi}.png"))[..., :3]
        assert np.array_equal(a, b) == (dpi < UNHINTED_DPI), dpi


@pytest.mark.parametrize("shape", [(70, 9), (64, 5), (1, 1), (33, 300)])
def test_png_bytes_rgb_unless_a_pixel_is_transparent(shape):
    import io

    from iometa.plots.export import _png_bytes

    h, w = shape
    rgba = np.random.default_rng(h * w).integers(0, 256, (h, w, 4), dtype=np.uint8)
    rgba[..., 3] = 255
    for last in (255, 254):  # the last pixel (last block of rows) opaque, then not
        rgba[-1, -1, 3] = last
        with Image.open(io.BytesIO(_png_bytes(rgba, 300))) as im:
            assert im.mode == ("RGB" if last == 255 else "RGBA")
            assert im.size == (w, h)
            assert np.array_equal(np.asarray(im.convert("RGBA")), rgba)


def test_canvas_size_rounded_by_matplotlib_and_tight_bbox(tmp_path):
    """A height a float tick below 6.875 in (as a layout's sum gives): int(h * 200) is 1374,
    matplotlib's canvas 1375 pixels (it rounds within 1e-8 px); and a canvas cropped by
    savefig.bbox = "tight". Both encoded by save_figure (RGB), with matplotlib's pixels."""
    from matplotlib.figure import Figure

    h = float(np.nextafter(6.875, 0))
    assert int(h * 200) == 1374
    fig = Figure(figsize=(7.0866, h))
    ax = fig.add_subplot()
    ax.plot([0, 1], [1, 0])
    ax.set_title("rounded canvas")
    for rc in ({}, {"savefig.bbox": "tight"}):
        with matplotlib.rc_context(rc):
            ours = iometa.save_figure(fig, tmp_path / "ours", formats=("png",), dpi=200)[0]
            with matplotlib.rc_context({"text.hinting": "no_hinting"}):
                fig.savefig(tmp_path / "theirs.png", dpi=200)
        with Image.open(ours) as im:
            assert im.mode == "RGB", rc
            a = np.asarray(im.convert("RGBA"))
        with Image.open(tmp_path / "theirs.png") as im:
            b = np.asarray(im.convert("RGBA"))
        assert a.shape == b.shape and np.array_equal(a, b), rc
        if not rc:
            assert a.shape[0] == 1375

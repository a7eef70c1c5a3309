"""save_figure writes its own PNG encoding: its pixels must equal matplotlib's own PNG (drawn
with unhinted text at 150 dpi and above, as save_figure draws it there)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib import image as mimage  # noqa: E402

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
    a = mimage.imread(str(ours))
    b = mimage.imread(str(tmp_path / "theirs.png"))
    assert a.shape == b.shape
    assert np.array_equal(a, b)


def test_text_is_hinted_below_150_dpi_only(tmp_path):
    res = iometa.pool_proportions([13, 4, 9], [51, 30, 40], labels=["A 2001", "B 2002", "C 2003"])
    fig = iometa.forest_plot(res, width="single")
    for dpi in (100, 300):
        ours = iometa.save_figure(fig, tmp_path / f"ours{dpi}", formats=("png",), dpi=dpi)[0]
        fig.savefig(tmp_path / f"hinted{dpi}.png", dpi=dpi)
        a = mimage.imread(str(ours))
        b = mimage.imread(str(tmp_path / f"hinted{dpi}.png"))
        assert np.array_equal(a, b) == (dpi < UNHINTED_DPI), dpi

"""Plots (issue 7): every plot type at 1, 2, 5, 20 and 100 studies, with and without subgroups.

Each figure is drawn with the Agg renderer and checked: no two texts overlap (window extents,
touching within 0.5 px allowed), nothing lies outside the figure, every font is >= 6 pt. Then
content checks (the numbers drawn are the result's numbers), determinism of SVG/PDF output,
``ax=`` handling, speed, and image regression against tests/baseline/ (regenerate with
``IOMETA_REGEN_BASELINES=1 python -m pytest tests/test_plots.py -k baseline``).
"""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from pathlib import Path
from types import SimpleNamespace

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.text import Text  # noqa: E402

import iometa  # noqa: E402
from iometa._warnings import IometaWarning  # noqa: E402

HERE = Path(__file__).parent
BASELINE = HERE / "baseline"
SIZES = (1, 2, 5, 20, 100)
NAMES = ("Livraghi", "Solbiati", "Shibata", "Lencioni", "Yu", "van Tilborg",
         "Nieuwenhuizen-Smith and the Amsterdam Colorectal Liver Metastases Registry Group")


@pytest.fixture(autouse=True)
def _close_figures():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", IometaWarning)
        yield
    plt.close("all")


def proportions(k, seed=0, p=(4, 3)):
    r = np.random.default_rng(seed)
    n = r.integers(8, 260, k)
    x = r.binomial(n, r.beta(*p, k))
    labels = [f"{r.choice(NAMES)} {y}" for y in r.integers(1995, 2024, k)]
    data = pd.DataFrame({"events": x, "n": n, "study": labels,
                         "design": r.choice(["RCT", "prospective", "retrospective"], k),
                         "group": r.choice(["RFA", "MWA", "Cryoablation"], k)})
    return iometa.pool_proportions("events", "n", data=data, labels="study")


def subgroup_result(k, seed=0):
    """The real subgroup analysis when every group has a study, else a duck-typed stand-in."""
    res = proportions(k, seed)
    groups = res.data["group"].to_numpy()
    if len(set(groups)) > 1:
        return iometa.subgroups(res, "group")
    return SimpleNamespace(groups={str(groups[0]): res}, overall=res, q_between=0.0,
                           q_between_df=0, q_between_pval=float("nan"))


# ---------------------------------------------------------------- layout checks
def _tick_labels(ax):
    out = []
    for axis in (ax.xaxis, ax.yaxis):
        lo, hi = sorted(axis.get_view_interval())
        span = hi - lo
        for tick in axis.get_major_ticks():
            if lo - 1e-9 * span <= tick.get_loc() <= hi + 1e-9 * span:
                out += [t for t in (tick.label1, tick.label2) if t.get_visible()]
    return out


def drawn_texts(fig):
    """Every visible, non-empty text the renderer draws (tick labels only inside the view)."""
    all_ticks = {id(t) for ax in fig.axes for axis in (ax.xaxis, ax.yaxis)
                 for tick in axis.get_major_ticks() + axis.get_minor_ticks()
                 for t in (tick.label1, tick.label2)}
    texts = [t for t in fig.findobj(Text) if id(t) not in all_ticks]
    for ax in fig.axes:
        if ax.get_visible() and ax.axison:
            texts += _tick_labels(ax)
    return [t for t in texts if t.get_visible() and t.get_text().strip()
            and t.get_alpha() != 0]


def assert_clean(fig, min_pt=6.0):
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    texts = drawn_texts(fig)
    assert texts, "no text drawn"
    boxes = np.array([t.get_window_extent(renderer).extents for t in texts])
    fb = fig.bbox
    tol = 0.5
    out = ((boxes[:, 0] < fb.x0 - tol) | (boxes[:, 1] < fb.y0 - tol) |
           (boxes[:, 2] > fb.x1 + tol) | (boxes[:, 3] > fb.y1 + tol))
    assert not out.any(), f"text cut off: {[texts[i].get_text() for i in np.flatnonzero(out)]}"
    ox = np.minimum(boxes[:, None, 2], boxes[None, :, 2]) - np.maximum(boxes[:, None, 0],
                                                                       boxes[None, :, 0])
    oy = np.minimum(boxes[:, None, 3], boxes[None, :, 3]) - np.maximum(boxes[:, None, 1],
                                                                       boxes[None, :, 1])
    hit = np.triu((ox > tol) & (oy > tol), 1)
    pairs = [(texts[i].get_text(), texts[j].get_text()) for i, j in zip(*np.nonzero(hit))]
    assert not pairs, f"overlapping texts: {pairs[:5]}"
    tight = fig.get_tightbbox(renderer)  # inches
    w, h = fig.get_size_inches()
    assert tight.x0 >= -0.01 and tight.y0 >= -0.01 and tight.x1 <= w + 0.01 and \
        tight.y1 <= h + 0.01, f"artists outside the figure: {tight} vs {w} x {h}"
    small = [t.get_text() for t in texts if t.get_fontsize() < min_pt - 1e-9]
    assert not small, f"fonts below {min_pt} pt: {small[:5]}"
    return texts


# ---------------------------------------------------------------- every plot type, every size
@pytest.mark.parametrize("k", SIZES)
@pytest.mark.parametrize("width", ["single", "double"])
def test_forest_layout(k, width):
    fig = iometa.forest_plot(proportions(k, k), width=width, columns=["design"])
    assert isinstance(fig, matplotlib.figure.Figure)
    assert fig.get_figwidth() == pytest.approx({"single": 90, "double": 180}[width] / 25.4)
    assert_clean(fig)


@pytest.mark.parametrize("k", SIZES)
@pytest.mark.parametrize("width", ["single", "double"])
def test_forest_subgroups_layout(k, width):
    fig = iometa.forest_plot(subgroup_result(k, k + 1), width=width, common=k == 5)
    texts = [t.get_text() for t in assert_clean(fig)]
    assert any(t.startswith("Test for subgroup differences") for t in texts)


@pytest.mark.parametrize("k", SIZES)
def test_funnel_layout(k):
    res = proportions(k, k)
    assert_clean(iometa.funnel_plot(res, labels=k <= 20))
    generic = iometa.pool(res.yi, res.vi, labels=res.labels)
    assert_clean(iometa.funnel_plot(generic, yaxis="se", width="double"))
    assert_clean(iometa.funnel_plot(res, yaxis="inv_sqrt_n"))


@pytest.mark.parametrize("k", [2, 5, 20, 100])
def test_influence_plots_layout(k):
    res = proportions(k, k)
    assert_clean(iometa.leave_one_out_plot(iometa.leave_one_out(res), res))
    assert_clean(iometa.cumulative_plot(iometa.cumulative(res), res, width="single"))
    assert_clean(iometa.baujat_plot(iometa.baujat(res)))


@pytest.mark.parametrize("k", [2, 5, 20, 100])
def test_gosh_and_bubble_layout(k):
    res = proportions(k, k)
    g = iometa.gosh(res, subsets=3000, seed=1, method="DL")
    assert_clean(iometa.gosh_plot(g, res, highlight=res.labels[0] if k <= 20 else None))
    if k >= 4:
        size = np.random.default_rng(k).uniform(1, 5, k)
        reg = iometa.meta_regression(res, size)
        assert_clean(iometa.bubble_plot(reg, result=res, labels=k <= 20, pi=True))


def test_one_study_diagnostics_from_tables():
    """k = 1: the diagnostics refuse (nothing to leave out), the plots still take tables."""
    res = proportions(1, 3)
    with pytest.raises(ValueError):
        iometa.leave_one_out(res)
    assert_clean(iometa.baujat_plot(pd.DataFrame({"label": ["A"], "x": [0.0], "y": [0.0]})))
    one = pd.DataFrame({"label": res.labels, "k": [1], "estimate": [res.estimate],
                        "ci_low": [res.ci_low], "ci_high": [res.ci_high]})
    assert_clean(iometa.cumulative_plot(one, res))


@pytest.mark.parametrize("groups", [1, 2, 5])
def test_survival_plot_layout(groups):
    r = np.random.default_rng(groups)
    rows = []
    for g in range(groups):
        s = 1.0
        for t in (6, 12, 24, 36, 60)[: 2 + g % 4]:
            s *= r.uniform(0.7, 0.95)
            rows.append(dict(time=t, group=f"Modality {g + 1}", estimate=s, ci_low=s * 0.85,
                             ci_high=min(1.0, s * 1.1), k=int(r.integers(1, 9))))
    tab = pd.DataFrame(rows)
    assert_clean(iometa.survival_plot(tab))
    assert_clean(iometa.survival_plot(tab, ci="band", show_k=False, width="double"))


# ---------------------------------------------------------------- content
def test_forest_numbers_are_the_results():
    res = proportions(5, 11)
    fig = iometa.forest_plot(res, columns=["design"])
    texts = {t.get_text() for t in drawn_texts(fig)}
    st = res.studies
    for i in range(res.k):
        assert f"{st['weight'].iloc[i]:.1f}" in texts
        assert str(int(st["events"].iloc[i])) in texts and str(int(st["n"].iloc[i])) in texts
        assert res.data["design"].iloc[i] in texts
    est = [t for t in texts if t.startswith(f"{100 * res.estimate:.1f} [")]
    assert est and f"{100 * res.ci_low:.1f}".lstrip() in est[0]
    het = [t for t in texts if "I² =" in t]
    assert het and f"I² = {res.i2:.0f}%" in " ".join(het)
    assert any("τ² = " in t for t in texts) and any(f"df = {res.q_df}" in t for t in texts)


def test_squares_area_proportional_to_weight_and_diamond_at_ci():
    res = proportions(6, 4)
    fig = iometa.forest_plot(res, pi=None)
    gax = fig.axes[-1]
    squares = [c for c in gax.collections if hasattr(c, "get_sizes") and
               c.get_sizes().size == res.k]
    assert squares, "one square per study expected"
    area = squares[0].get_sizes()
    w = res.studies["weight"].to_numpy()
    big = np.sqrt(area) > 1.7  # above the minimum drawn size
    np.testing.assert_allclose(area[big] / area[big].max(), w[big] / w[big].max(), rtol=1e-9)
    from matplotlib.collections import PolyCollection

    diamonds = [c for c in gax.collections if isinstance(c, PolyCollection)]
    verts = diamonds[0].get_paths()[0].vertices
    assert verts[:, 0].min() == pytest.approx(100 * res.ci_low)
    assert verts[:, 0].max() == pytest.approx(100 * res.ci_high)


def test_axis_scales_and_clipping_arrows():
    res = proportions(8, 2)
    gax = iometa.forest_plot(res).axes[-1]
    assert 0 <= gax.get_xlim()[0] and gax.get_xlim()[1] <= 100
    lines = [ln for ln in gax.get_lines() if ln.get_marker() in (">", "<")]
    assert not lines
    fig = iometa.forest_plot(res, xlim=(45, 55))
    assert [ln for ln in fig.axes[-1].get_lines() if ln.get_marker() in (">", "<")]
    ratio = iometa.pool(np.log([0.5, 0.8, 1.3, 0.9]), [0.1, 0.05, 0.2, 0.08])
    fig = iometa.forest_plot(ratio, transf="exp", refline=1, favours=("Favours RFA",
                                                                      "Favours MWA"))
    assert fig.axes[-1].get_xscale() == "log"
    assert_clean(fig)


def test_height_grows_and_long_labels_wrap_or_truncate():
    h = [iometa.forest_plot(proportions(k, 1)).get_figheight() for k in (5, 20, 100)]
    assert h[0] < h[1] < h[2]
    res = proportions(20, 5)
    texts = [t.get_text() for t in assert_clean(iometa.forest_plot(res, width="single"))]
    assert any("…" in t or "\n" in t for t in texts)


def test_natural_width():
    fig = iometa.forest_plot(proportions(8, 3), width="auto")
    assert 4 < fig.get_figwidth() < 9
    assert_clean(fig)


def test_ax_is_honoured():
    res = proportions(5, 2)
    fig, axes = plt.subplots(1, 2, figsize=(12, 5))
    out = iometa.forest_plot(res, ax=axes[0])
    assert out is fig and not axes[0].axison and axes[0].child_axes
    assert iometa.funnel_plot(res, ax=axes[1]) is fig and axes[1].collections
    assert_clean(fig)


def test_common_effect_diamond_is_the_fe_refit():
    res = proportions(6, 8)
    fe = res.refit(method="FE")
    texts = [t.get_text() for t in drawn_texts(iometa.forest_plot(res, common=True))]
    assert any(t.startswith(f"{100 * fe.estimate:.1f} [") for t in texts)
    assert "Common-effect model" in texts and "Random-effects model" in texts


def test_funnel_trimfill_markers_and_contours():
    r = np.random.default_rng(3)
    v = r.uniform(0.01, 0.2, 15)
    y = 0.4 + r.normal(0, np.sqrt(v)) + 2 * np.sqrt(v)  # small-study effect
    res = iometa.pool(y, v)
    tf = iometa.trim_and_fill(res)
    fig = iometa.funnel_plot(res, trimfill=tf)
    ax = fig.axes[0]
    open_pts = [c for c in ax.collections if c.get_offsets().shape[0] == tf.k0 and
                np.allclose(c.get_facecolor()[:, :3], 1.0)]
    assert tf.k0 > 0 and open_pts
    assert len([c for c in ax.collections if type(c).__name__ == "FillBetweenPolyCollection"
                or "PolyCollection" in type(c).__name__]) >= 6  # 3 contour bands x 2 sides
    assert ax.yaxis_inverted()
    assert_clean(fig)


# ---------------------------------------------------------------- export, determinism, speed
def test_save_figure_is_deterministic(tmp_path):
    res = proportions(6, 9)
    sub = subgroup_result(12, 3)
    for i, obj in enumerate((res, sub)):
        paths = []
        for rep in range(2):
            fig = iometa.forest_plot(obj)
            paths.append(iometa.save_figure(fig, tmp_path / f"f{i}_{rep}",
                                            formats=("svg", "pdf", "png")))
        for a, b in zip(*paths):
            assert a.read_bytes() == b.read_bytes(), f"{a.suffix} output differs between runs"
    svg = paths[0][0].read_text()
    assert "<dc:date>" not in svg and "CreationDate" not in paths[0][1].read_bytes().decode(
        "latin-1")


def test_no_show_and_core_without_matplotlib():
    src = Path(iometa.__file__).parent / "plots"
    for f in src.glob("*.py"):
        assert "plt.show" not in f.read_text() and ".show(" not in f.read_text(), f.name
    code = ("import sys, iometa; iometa.pool_proportions([3, 4, 5], [10, 12, 14]); "
            "iometa.leave_one_out(iometa.pool([0.1, 0.2, 0.4], [0.1, 0.1, 0.1])); "
            "assert 'matplotlib' not in sys.modules, 'core imported matplotlib'")
    subprocess.run([sys.executable, "-c", code], check=True)


# ---------------------------------------------------------------- image regression
def _baseline_figures():
    res = proportions(7, 21)
    return {
        "forest_basic": lambda: iometa.forest_plot(res, columns=["design"]),
        "forest_subgroups_single": lambda: iometa.forest_plot(subgroup_result(12, 5),
                                                              width="single"),
        "funnel_contours": lambda: iometa.funnel_plot(iometa.pool(res.yi - res.coef, res.vi),
                                                      contours=True),
        "survival": lambda: iometa.survival_plot(pd.DataFrame({
            "time": [12, 24, 36, 12, 24], "group": ["RFA"] * 3 + ["MWA"] * 2,
            "estimate": [0.9, 0.75, 0.6, 0.85, 0.7], "ci_low": [0.8, 0.6, 0.45, 0.7, 0.5],
            "ci_high": [0.95, 0.85, 0.72, 0.93, 0.84], "k": [4, 3, 2, 3, 2]})),
    }


@pytest.mark.parametrize("name", list(_baseline_figures()))
def test_image_baseline(name, tmp_path):
    from matplotlib.testing.compare import compare_images

    fig = _baseline_figures()[name]()
    expected = BASELINE / f"{name}.png"
    if os.environ.get("IOMETA_REGEN_BASELINES"):
        BASELINE.mkdir(exist_ok=True)
        fig.savefig(expected, dpi=100)
        pytest.skip(f"baseline {expected.name} regenerated")
    actual = tmp_path / f"{name}.png"
    fig.savefig(actual, dpi=100)
    assert expected.exists(), f"missing baseline {expected}; regenerate (see module docstring)"
    err = compare_images(str(expected), str(actual), tol=3)
    assert err is None, err

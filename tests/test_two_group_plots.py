"""Forest plots of comparative results: log ratio axis, line of no effect, model wording."""

from __future__ import annotations

import warnings

import matplotlib

matplotlib.use("Agg")

import iometa  # noqa: E402
from iometa.plots.axis import effect_scale  # noqa: E402

A = ([4, 6, 3, 62, 33], [123, 306, 231, 13598, 5069], [11, 29, 11, 248, 47],
     [139, 303, 220, 12867, 5808])


def _texts(fig):
    return [t.get_text() for ax in fig.axes for t in ax.texts] + \
        [ax.get_xlabel() for ax in fig.axes] + [t.get_text() for t in fig.texts]


def test_ratio_results_get_a_log_axis_named_for_the_measure():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = iometa.pool_two_groups(*A, measure="RR")
    s = effect_scale(res)
    assert s.kind == "log" and s.xlabel == "Risk ratio"
    assert float(s.f(0.5)) == 0.5  # reporting values are already ratios
    fig = iometa.forest_plot(res)
    assert [ax.get_xscale() for ax in fig.axes] == ["log"]
    vertical_x = {round(float(seg[0][0]), 12) for c in fig.axes[0].collections
                  if hasattr(c, "get_segments") for seg in c.get_segments()
                  if len(seg) == 2 and seg[0][0] == seg[1][0]}
    assert 1.0 in vertical_x, "the line of no effect at 1 is drawn"


def test_mantel_haenszel_is_labelled_a_common_effect_model_without_prediction_interval():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = iometa.pool_two_groups(*A, measure="RR", method="MH")
    assert res.common_effect
    texts = " ".join(_texts(iometa.forest_plot(res)))
    assert "Common-effect model" in texts and "Mantel–Haenszel" in texts
    assert "Random-effects" not in texts and "Prediction interval" not in texts

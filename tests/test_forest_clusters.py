"""Forest plot of a three-level model (issue 23 item 4): clusters drawn with a header and their
rows indented, weights = metafor weights.rma.mv (fixture tests/reference/multilevel_weights.json
from R/multilevel_weights.R), the pooled diamond at the model's estimate, and the footnote that
the model accounts for the clustering."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

import iometa
from iometa._warnings import IometaWarning
from iometa.plots.forest_clusters import INDENT, row_weights

REF = json.loads((Path(__file__).parent / "reference" / "multilevel_weights.json").read_text())


@pytest.fixture(scope="module")
def fit():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", IometaWarning)
        return iometa.pool_multilevel(REF["yi"], REF["vi"],
                                      cluster=[str(int(c)) for c in REF["cluster"]],
                                      labels=[f"School {i + 1}" for i in range(20)])


def test_row_weights_equal_metafor(fit):
    np.testing.assert_allclose(fit.sigma2, REF["sigma2"], rtol=1e-9)
    np.testing.assert_allclose(row_weights(fit), REF["weights"], rtol=1e-6)
    assert fit.coef == pytest.approx(REF["b"], rel=1e-6)


def test_clusters_are_headers_with_their_rows_indented(fit):
    fig = iometa.forest_plot(fit)
    texts = [t.get_text() for t in fig.axes[0].texts]
    clusters = list(dict.fromkeys(str(int(c)) for c in REF["cluster"]))
    for c in clusters:
        assert c in texts
    pos = {t: i for i, t in enumerate(texts)}
    assert pos[clusters[0]] < pos[INDENT + "School 1"] < pos[clusters[1]]
    assert "Three-level model" in texts
    est = f"{fit.coef:.2f}".replace("-", "−")
    assert any(t.replace("\u2007", "").startswith(est) for t in texts)  # figure spaces align
    weights = [t for t in texts if t in {f"{w:.1f}" for w in REF["weights"]}]
    assert len(weights) >= 10
    foot = " ".join(texts)
    assert "model accounts for the correlation of rows of one cluster" in foot
    assert "p < 0.001" in foot  # Q = 130 on 19 df


def test_moderators_are_refused():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", IometaWarning)
        res = iometa.pool_multilevel(REF["yi"], REF["vi"], cluster=REF["cluster"],
                                     mods=np.arange(20.0))
    with pytest.raises(ValueError, match="without moderators"):
        iometa.forest_plot(res)


def test_pool_multilevel_from_proportion_rows_of_the_study_table():
    """pool_multilevel(result, cluster="study_id") on outcome_rows: the rows' yi/vi, the
    table's study_id as cluster and the measure's back-transformation (issue 23 item 2)."""
    from iometa.core.measures import backtransform
    from iometa.outcomes import outcome_rows

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", IometaWarning)
        studies = iometa.load_studies()
        sel = outcome_rows(studies, "complete_ablation", unit_of_analysis="lesions",
                           timepoint=None)
        res = iometa.pool_proportions("events_used", "total_used", data=sel.rows,
                                      labels="label")
        ml = iometa.pool_multilevel(res, cluster="study_id")
        direct = iometa.pool_multilevel(res.yi, res.vi, cluster=sel.rows["study_id"].to_numpy())
    assert ml.k == res.k and ml.n_clusters == sel.rows["study_id"].nunique() < res.k
    assert ml.coef == pytest.approx(direct.coef, rel=1e-12)
    assert ml.measure == "PLO"
    assert ml.estimate == pytest.approx(float(backtransform("PLO", [ml.coef])[0]), rel=1e-12)
    assert ml.ci_low < ml.estimate < ml.ci_high
    assert direct.measure == "GEN" and direct.estimate == pytest.approx(direct.coef)
    with pytest.raises(ValueError, match="no separate vi"):
        iometa.pool_multilevel(res, res.vi, cluster="study_id")

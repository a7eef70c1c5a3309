"""iometa.pool_bayes against an independent R reference (tests/reference/bayes.json).

bayesmeta is not available, so ``tests/reference/R/bayes.R`` computes the posterior by direct
numerical integration (``integrate(rel.tol = 1e-12)``, ``uniroot`` for quantiles and the
equal-density condition of the shortest intervals, cross-checked against ``optimize`` and, for
one case, against a brute-force trapezoid grid). Cases: dat.bcg log risk ratios with each τ
prior and flat or normal μ priors, k = 2 (incl. half-Cauchy with a flat μ prior: infinite SDs;
identical effects), k = 3 logit proportions (with the inverse-logit reporting scale), k = 1.
Tolerance: 1e-6 relative for medians, means, SDs, densities and Bayes factors; 1e-5 for the
interval limits (tail quantiles).
"""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _fixture import decode
from scipy import integrate, stats

import iometa
from iometa._warnings import IometaWarning, SmallSampleWarning
from iometa.core.bayes import MomentWarning, pool_bayes

REF_PATH = Path(__file__).parent / "reference" / "bayes.json"
FIXTURE = json.loads(REF_PATH.read_text())
CASES = {c["name"]: c for c in FIXTURE["cases"]}
COLS = ["median", "mean", "sd", "ci_low", "ci_high"]
RTOL, RTOL_TAIL = 1e-6, 1e-5


def close(actual, expected, rtol, atol=1e-12):
    """Relative comparison that also accepts equal infinities (moments that do not exist)."""
    actual, expected = np.atleast_1d(np.asarray(actual, float)), np.atleast_1d(decode(expected))
    assert actual.shape == expected.shape
    inf = np.isinf(expected)
    assert np.array_equal(np.isinf(actual), inf), (actual, expected)
    assert np.all(actual[inf] == expected[inf])
    np.testing.assert_allclose(actual[~inf], expected[~inf], rtol=rtol, atol=atol)


def fit(case, **kw):
    mu = case.get("mu_prior")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", IometaWarning)
        return pool_bayes(decode(case["yi"]), decode(case["vi"]), tau_prior=case["tau_prior"],
                          tau_scale=case["tau_scale"], level=case["level"],
                          mu_prior=None if mu is None else tuple(decode(mu)), **kw)


@pytest.fixture(scope="module", params=sorted(CASES))
def case_fit(request):
    case = CASES[request.param]
    return case, fit(case)


def test_grid_cross_check_of_the_reference():
    g = FIXTURE["grid_check"]
    assert g["max_rel_diff"] < 1e-7
    res = fit(CASES[g["case"]])
    close(res.posterior_summary().at["tau", "mean"], g["grid"]["e_tau"], 1e-6)


def test_posterior_summary_matches_r(case_fit):
    case, res = case_fit
    tab = res.posterior_summary()
    assert list(tab.index) == ["tau", "mu", "theta_new"] and list(tab.columns) == COLS
    for row in tab.index:
        ref = case["summary"][row]
        for col in COLS:
            tol = RTOL_TAIL if col.startswith("ci") else RTOL
            # the lower limit of tau can be ~0.02: also an absolute 1e-8
            close(tab.at[row, col], ref[col], tol, atol=1e-8 if row == "tau" else 1e-12)


def test_shrinkage_matches_r(case_fit):
    case, res = case_fit
    shr = res.shrinkage()
    assert list(shr.columns) == ["mean", "sd", "ci_low", "ci_high"] and len(shr) == res.k
    for col in ("mean", "sd"):
        close(shr[col].to_numpy(), case["shrinkage"][col], RTOL)
    for col in ("ci_low", "ci_high"):
        close(shr[col].to_numpy(), case["shrinkage"][col], RTOL_TAIL)


def test_marginal_likelihood_and_bayes_factor_match_r(case_fit):
    case, res = case_fit
    close(res.log_marginal, case["log_marginal"], 1e-9, atol=1e-9)
    close(res.bf01, case["bf01"], RTOL)
    assert res.bf10 == pytest.approx(1 / res.bf01)


def test_densities_and_cdf_match_r(case_fit):
    case, res = case_fit
    d = case["density"]
    close(res.density("tau", decode(d["tau_x"])), d["tau"], RTOL, atol=1e-10)
    close(res.density("mu", decode(d["mu_x"])), d["mu"], RTOL, atol=1e-10)
    close(res.density("theta_new", decode(d["mu_x"])), d["theta_new"], RTOL, atol=1e-10)
    close(res.cdf("tau", decode(d["tau_x"])), case["cdf_tau"], RTOL, atol=1e-10)


@pytest.mark.parametrize("name", sorted(CASES))
def test_shortest_intervals_match_r(name):
    case = CASES[name]
    res = fit(case, interval="shortest")
    tab = res.posterior_summary()
    for row in ("tau", "mu", "theta_new"):
        ref = case["shortest"][row]
        close([tab.at[row, "ci_low"], tab.at[row, "ci_high"]], [ref["ci_low"], ref["ci_high"]],
              RTOL_TAIL, atol=1e-8)
        # shortest: no longer than the central interval
        central = fit(case).posterior_summary().loc[row]
        width = tab.at[row, "ci_high"] - tab.at[row, "ci_low"]
        assert width <= central["ci_high"] - central["ci_low"] + 1e-12
    # and the same content as the central one
    assert res.cdf("mu", tab.at["mu", "ci_high"]) - res.cdf("mu", tab.at["mu", "ci_low"]) \
        == pytest.approx(case["level"], abs=1e-10)


def test_from_proportion_result_reports_the_proportion_scale():
    case = CASES["k3_prop_logit"]
    pooled = iometa.pool_proportions([5, 18, 9], [30, 45, 25], measure="PLO")
    np.testing.assert_allclose(pooled.yi, decode(case["yi"]), rtol=1e-12)
    res = pool_bayes(pooled, tau_scale=case["tau_scale"])
    assert res.measure == "PLO" and res.scale == "proportion" and res.k == 3
    ref = case["mu_ilogit"]
    tab = res.posterior_summary(backtransform=True)
    for col in COLS:
        close(tab.at["mu", col], ref[col], RTOL_TAIL if col.startswith("ci") else RTOL)
    close(res.estimate, ref["median"], RTOL)
    close([res.ci_low, res.ci_high], [ref["ci_low"], ref["ci_high"]], RTOL_TAIL)
    assert 0 < res.pi_low < res.estimate < res.pi_high < 1
    assert res.labels == tuple(pooled.labels)
    # the tau row is not transformed; model-scale summary untouched
    assert tab.at["tau", "median"] == res.posterior_summary().at["tau", "median"]


def test_k1_flat_mu_prior_posterior_of_tau_is_its_prior():
    with pytest.warns(SmallSampleWarning, match="posterior is its prior"):
        res = pool_bayes([0.4], [0.1], tau_prior="half-normal", tau_scale=0.5)
    hn = stats.halfnorm(scale=0.5)
    row = res.posterior_summary().loc["tau"]
    np.testing.assert_allclose([row["median"], row["mean"], row["sd"], row["ci_low"],
                                row["ci_high"]],
                               [hn.median(), hn.mean(), hn.std(), *hn.ppf([0.025, 0.975])],
                               rtol=1e-9)
    assert res.bf01 == pytest.approx(1.0, rel=1e-10)  # the data cannot tell tau = 0 apart
    assert any("posterior is its prior" in n for n in res.notes)
    assert "posterior is its prior" in res.summary()


def test_k2_half_cauchy_flat_reports_infinite_sd_with_a_warning():
    with pytest.warns(MomentWarning, match="does not exist"):
        res = pool_bayes([-0.9, -0.1], [0.12, 0.05], tau_prior="half-cauchy")
    tab = res.posterior_summary()
    assert np.isinf(tab.loc[["tau", "mu", "theta_new"], "sd"]).all()
    assert np.isfinite(tab.drop(columns="sd").to_numpy()).all()
    assert np.isfinite(res.shrinkage().to_numpy()).all()  # the study effects' moments exist
    assert issubclass(MomentWarning, IometaWarning)


def test_k1_half_cauchy_flat_mean_of_tau_is_infinite():
    with pytest.warns(IometaWarning):
        res = pool_bayes([0.4], [0.1], tau_prior="half-cauchy", tau_scale=0.5)
    row = res.posterior_summary().loc["tau"]
    assert row["mean"] == math.inf and row["sd"] == math.inf
    assert row["median"] == pytest.approx(0.5, rel=1e-9)  # half-Cauchy median = scale


def test_identical_effects_have_no_nan_and_mu_at_the_common_value():
    res = pool_bayes([0.3, 0.3, 0.3], [0.04, 0.09, 0.02])
    tab = res.posterior_summary()
    assert np.isfinite(tab.to_numpy()).all()
    assert tab.at["mu", "median"] == pytest.approx(0.3, abs=1e-12)
    assert tab.at["mu", "mean"] == pytest.approx(0.3, abs=1e-12)
    assert res.bf01 > 1  # identical effects favour tau = 0


@pytest.mark.parametrize("c", [1e-6, 1e-3, 1e3, 1e6])
def test_rescaling_the_effects_rescales_the_posterior(c):
    y, v = np.array([-0.89, -1.59, -1.35, -1.44, -0.22]), np.array([0.33, 0.19, 0.42, 0.02, 0.05])
    base = pool_bayes(y, v).posterior_summary()
    res = pool_bayes(c * y, c * c * v, tau_scale=0.5 * c, mu_prior=None)
    np.testing.assert_allclose(res.posterior_summary().to_numpy() / c, base.to_numpy(),
                               rtol=1e-9)
    assert res.bf01 == pytest.approx(pool_bayes(y, v).bf01, rel=1e-9)


def test_huge_variance_ratio_and_tiny_variances_stay_finite():
    res = pool_bayes([0.1, 0.5, -0.2, 0.3], [1e-10, 1e3, 0.04, 1e-6])
    assert np.isfinite(res.posterior_summary().to_numpy()).all()
    assert np.isfinite(res.shrinkage().to_numpy()).all()
    # the study with variance 1e-10 is barely shrunk
    assert res.shrinkage()["mean"].iloc[0] == pytest.approx(0.1, abs=1e-4)


def test_tiny_uniform_prior_gives_the_common_effect_posterior():
    y, v = np.array([0.1, 0.5, 0.9]), np.array([0.04, 0.05, 0.06])
    res = pool_bayes(y, v, tau_prior="uniform", tau_scale=1e-9)
    w = 1 / v
    mu, se = (w @ y) / w.sum(), 1 / math.sqrt(w.sum())
    row = res.posterior_summary().loc["mu"]
    np.testing.assert_allclose([row["median"], row["mean"], row["sd"]], [mu, mu, se], rtol=1e-9)
    assert row["ci_high"] == pytest.approx(mu + stats.norm.ppf(0.975) * se, rel=1e-9)


def test_normal_mu_prior_with_tau_fixed_near_zero_is_the_conjugate_update():
    y, v = np.array([0.1, 0.5, 0.9]), np.array([0.04, 0.05, 0.06])
    res = pool_bayes(y, v, tau_prior="uniform", tau_scale=1e-9, mu_prior=(1.0, 0.2))
    prec = (1 / v).sum() + 1 / 0.04
    mean = ((y / v).sum() + 1.0 / 0.04) / prec
    row = res.posterior_summary().loc["mu"]
    np.testing.assert_allclose([row["mean"], row["sd"]], [mean, prec**-0.5], rtol=1e-9)


def test_density_integrates_to_one_and_cdf_inverts_quantile():
    res = pool_bayes([-0.89, -1.59, -1.35, -1.44, -0.22], [0.33, 0.19, 0.42, 0.02, 0.05],
                     tau_prior="half-cauchy", tau_scale=0.3, mu_prior=(0, 2))
    for which in ("tau", "mu", "theta_new"):
        lo = 0.0 if which == "tau" else -np.inf
        mass = integrate.quad(lambda x, w=which: float(res.density(w, x)), lo, np.inf,
                              epsabs=1e-11, epsrel=1e-10, limit=500)[0]
        assert mass == pytest.approx(1.0, abs=1e-8)
        p = np.array([0.01, 0.3, 0.5, 0.9])
        np.testing.assert_allclose(res.cdf(which, res.quantile(which, p)), p, atol=1e-12)
    g = res.grid("mu", n=51)
    assert list(g.columns) == ["x", "density"] and len(g) == 51 and (g["density"] > 0).all()


def test_data_frame_columns_and_labels():
    df = pd.DataFrame({"y": [0.1, 0.5, 0.9], "v": [0.04, 0.05, 0.06], "who": ["A", "B", "C"]})
    res = pool_bayes("y", "v", data=df, labels="who")
    assert list(res.shrinkage().index) == ["A", "B", "C"]
    ref = pool_bayes([0.1, 0.5, 0.9], [0.04, 0.05, 0.06])
    pd.testing.assert_frame_equal(res.posterior_summary(), ref.posterior_summary())
    row = res.to_frame()
    assert row.loc[0, "k"] == 3 and row.loc[0, "method"] == "bayes"
    assert row.loc[0, "estimate"] == res.estimate
    assert res.summary_frame().equals(row)
    assert "half-normal(scale 0.5)" in res.summary() and "<BayesResult GEN half-normal k=3: " in repr(res)


@pytest.mark.parametrize("kwargs, match", [
    (dict(yi=[0.1, np.nan], vi=[0.1, 0.1]), "'Study 2'"),
    (dict(yi=[0.1, 0.2], vi=[0.1, 0.0]), "'Study 2'.*sampling variance"),
    (dict(yi=[0.1, 0.2], vi=[0.1, -1.0], labels=["A", "B"]), "'B'"),
    (dict(yi=[0.1, 0.2], vi=[0.1]), "differ in length"),
    (dict(yi=[], vi=[]), "k = 0"),
    (dict(yi=[0.1], vi=[0.1], tau_prior="gamma"), "tau_prior"),
    (dict(yi=[0.1], vi=[0.1], tau_scale=0), "tau_scale"),
    (dict(yi=[0.1], vi=[0.1], mu_prior=(0, -1)), "mu_prior"),
    (dict(yi=[0.1], vi=[0.1], mu_prior=3), "mu_prior"),
    (dict(yi=[0.1], vi=[0.1], level=95), "level"),
    (dict(yi=[0.1], vi=[0.1], interval="hpd"), "interval"),
    (dict(yi=[0.1, 0.2], vi=[0.1, 1e-200]), "'Study 2'"),
])
def test_bad_input_raises_value_error(kwargs, match):
    yi, vi = kwargs.pop("yi"), kwargs.pop("vi")
    with pytest.raises(ValueError, match=match):
        pool_bayes(yi, vi, **kwargs)


def test_bad_result_and_quantity_raise():
    with pytest.raises(ValueError, match="vi"):
        pool_bayes([0.1, 0.2])
    res = pool_bayes([0.1, 0.2], [0.1, 0.1])
    with pytest.raises(ValueError, match="quantity"):
        res.density("sigma", 0.1)
    with pytest.raises(ValueError, match="between 0 and 1"):
        res.quantile("mu", [1.0])


def test_plots_read_the_result(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    from iometa.plots.bayes_plots import bayes_forest_plot, bayes_posterior_plot

    res = pool_bayes(iometa.pool_proportions([5, 18, 9], [30, 45, 25]), tau_scale=1)
    fig = bayes_forest_plot(res)
    assert round(fig.get_figwidth() * 25.4) == 90
    ax = fig.axes[0]
    shr = res.shrinkage(backtransform=True)
    pts = [ln for ln in ax.get_lines() if ln.get_label() == "shrunken"][0]
    np.testing.assert_allclose(pts.get_xdata(), shr["mean"].to_numpy())
    fig2 = bayes_posterior_plot(res)
    assert len(fig2.axes) == 2 and round(fig2.get_figwidth() * 25.4) == 180
    x, d = fig2.axes[0].get_lines()[0].get_data()
    np.testing.assert_allclose(d, res.density("tau", x))
    with pytest.raises(TypeError):
        bayes_forest_plot(object())


@pytest.mark.parametrize("tau_prior, mu_prior", [("half-normal", None), ("half-cauchy", None),
                                                 ("uniform", (0.0, 1.0))])
def test_batched_fit_matches_pool_bayes(tau_prior, mu_prior):
    from iometa.core.bayes_batch import fit_bayes_arrays

    rng = np.random.default_rng(24)
    B, k = 40, 7
    kk = rng.integers(1, k + 1, B)
    mask = np.arange(k)[None, :] < kk[:, None]
    v = rng.uniform(0.005, 0.6, (B, k))
    y = rng.normal(0, 0.4, (B, k)) + rng.normal(0, 0.5, (B, 1))
    scale = 2.0 if tau_prior == "uniform" else 0.5
    fit = fit_bayes_arrays(y, v, mask, tau_prior=tau_prior, tau_scale=scale, mu_prior=mu_prior)
    assert fit.k.tolist() == kk.tolist()
    for i in range(B):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", IometaWarning)
            res = pool_bayes(y[i, mask[i]], v[i, mask[i]], tau_prior=tau_prior, tau_scale=scale,
                             mu_prior=mu_prior)
        s = res.posterior_summary()
        got = [fit.mu_median[i], fit.mu_mean[i], fit.mu_ci_low[i], fit.mu_ci_high[i],
               fit.tau_median[i], fit.tau_ci_high[i], fit.pi_low[i], fit.pi_high[i],
               fit.bf01[i], fit.log_marginal[i]]
        want = [s.at["mu", "median"], s.at["mu", "mean"], s.at["mu", "ci_low"],
                s.at["mu", "ci_high"], s.at["tau", "median"], s.at["tau", "ci_high"],
                s.at["theta_new", "ci_low"], s.at["theta_new", "ci_high"], res.bf01,
                res.log_marginal]
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-9)
        if np.isfinite(s.at["mu", "sd"]):
            assert fit.mu_sd[i] == pytest.approx(s.at["mu", "sd"], rel=1e-6)
        else:
            assert fit.mu_sd[i] == math.inf


def test_batched_fit_rejects_bad_input():
    from iometa.core.bayes_batch import fit_bayes_arrays

    with pytest.raises(ValueError, match="analysis 1, study 0"):
        fit_bayes_arrays([[0.1, 0.2], [np.nan, 0.3]], [[0.1, 0.1], [0.1, 0.1]])
    with pytest.raises(ValueError, match="k = 0"):
        fit_bayes_arrays([[0.1, 0.2]], [[0.1, 0.1]], mask=[[False, False]])


@pytest.mark.parametrize("kw", [dict(method="GLMM"), dict(measure="PFT"), dict(measure="PAS")])
def test_every_proportion_result_type_is_accepted(kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", IometaWarning)
        pooled = iometa.pool_proportions([5, 18, 9, 0], [30, 45, 25, 12], **kw)
        res = pool_bayes(pooled)
        plain = pool_bayes(pooled.yi, pooled.vi)
    pd.testing.assert_frame_equal(res.posterior_summary(), plain.posterior_summary())
    assert res.scale == "proportion" and 0 <= res.ci_low < res.estimate < res.ci_high <= 1
    assert res.estimate == pytest.approx(float(pooled.backtransform(plain.coef)), rel=1e-12)

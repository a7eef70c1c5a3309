"""Case-deletion influence diagnostics (metafor ``influence.rma.uni``) and Baujat coordinates.

Both refit the model without each study in one batched call (same method, test, level and
fixed τ² as the model; τ² is re-estimated in every deletion fit) and compare with the full fit.

Definitions (metafor 3.8-1, intercept-only model, p = 1; subscript (−i): fit without study i;
s²w: the Knapp–Hartung factor Σwⱼ(yⱼ − μ̂)²/(k − p) of a fit, 1 under the z test; Var(μ̂)
includes it):

* hat hᵢ = wᵢ/Σw and weight = 100·hᵢ, with wᵢ = 1/(vᵢ + τ̂²) of the full model;
* rstudent = (yᵢ − μ̂₍₋ᵢ₎)/√(vᵢ s²w₍₋ᵢ₎ + Var(μ̂₍₋ᵢ₎) + τ̂²₍₋ᵢ₎ s²w₍₋ᵢ₎);
* DFFITS = (μ̂ − μ̂₍₋ᵢ₎)/√(s²w₍₋ᵢ₎ hᵢ (τ̂²₍₋ᵢ₎ + vᵢ));
* DFBETAS = (μ̂ − μ̂₍₋ᵢ₎)/√(s²w₍₋ᵢ₎ / Σⱼ 1/(vⱼ + τ̂²₍₋ᵢ₎)), the sum over all k studies;
* Cook's distance = (μ̂ − μ̂₍₋ᵢ₎)²/Var(μ̂); covariance ratio = Var(μ̂₍₋ᵢ₎)/Var(μ̂);
* influential: ``|DFFITS|`` > 3√(p/(k − p)), or P(χ²ₚ ≤ Cook) > 0.5, or hᵢ > 3p/k, or any
  ``|DFBETAS|`` > 1.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..core.subsets import fit_subsets, is_glmm, require_k2

_EPS = np.finfo(float).eps


def _deletion_fits(result, what):
    if result.method in ("MH", "Peto"):
        raise ValueError(f"{what} is defined for inverse-variance models (metafor's "
                         "influence() takes rma.uni objects only, not rma.mh/rma.peto); for a "
                         f"{result.method} result use leave_one_out(result), or refit the same "
                         "tables with an inverse-variance method (method='FE' or 'REML')")
    if is_glmm(result):
        raise ValueError(f"{what} is defined for inverse-variance models (metafor rma.uni); "
                         "for a GLMM result use the same data with measure='PLO' and an "
                         "inverse-variance method (e.g. method='REML')")
    require_k2(result, what)
    k = result.k
    fit = fit_subsets(result, ~np.eye(k, dtype=bool))
    tau2_full = 0.0 if result.method == "FE" else float(result.tau2)
    return fit, tau2_full


def influence(result) -> pd.DataFrame:
    """Influence diagnostics of every study, as metafor's ``influence()`` (one row per study).

    Columns: ``label``, ``rstudent`` (externally standardised residual), ``dffits``,
    ``cooks_d``, ``cov_r``, ``tau2_del`` and ``qe_del`` (τ² and Q without the study), ``hat``,
    ``weight`` (percent), ``dfbetas`` and ``influential`` (bool, metafor's rule: ``|DFFITS|`` >
    3√(p/(k − p)), or the χ²(p) probability of Cook's distance > 0.5, or hat > 3p/k, or any
    ``|DFBETAS|`` > 1; p = 1). Definitions in the module docstring. metafor:
    ``influence(res)$inf`` with ``$dfbs`` and ``$is.infl``.

    Reference: Viechtbauer W, Cheung MW-L (2010). Outlier and influence diagnostics for
    meta-analysis. Res Synth Methods 1:112-125.

    Example
    -------
    >>> import iometa
    >>> res = iometa.pool([0.1, 0.5, 0.9, 0.3, 2.0], [0.04, 0.05, 0.06, 0.03, 0.05])
    >>> inf = iometa.influence(res)
    >>> inf.loc[inf["influential"], "label"].tolist()
    ['Study 5']
    """
    from scipy import stats

    fit, tau2 = _deletion_fits(result, "influence()")
    y, v, k = result.yi, result.vi, result.k
    w = 1.0 / (v + tau2)
    hat = w / w.sum()
    hat = np.where(hat > 1 - 10 * _EPS, 1.0, hat)
    vb_full = result.se**2
    t2d = fit.tau2
    vb_del = fit.se**2
    sw_del = (~np.eye(k, dtype=bool) / (v[None, :] + t2d[:, None])).sum(axis=1)
    s2w_del = vb_del * sw_del  # the deletion fit's Knapp-Hartung factor (1 under z)
    dfb = result.coef - fit.coef
    resid = y - fit.coef
    resid = np.where(np.abs(resid) < 100 * _EPS, 0.0, resid)
    vb_all = 1.0 / (1.0 / (v[None, :] + t2d[:, None])).sum(axis=1)
    out = pd.DataFrame({
        "label": result.labels,
        "rstudent": resid / np.sqrt(v * s2w_del + vb_del + t2d * s2w_del),
        "dffits": dfb / np.sqrt(s2w_del * hat * (t2d + v)),
        "cooks_d": dfb**2 / vb_full,
        "cov_r": vb_del / vb_full,
        "tau2_del": t2d,
        "qe_del": fit.q,
        "hat": hat,
        "weight": 100 * w / w.sum(),
        "dfbetas": dfb / np.sqrt(s2w_del * vb_all),
    })
    p = 1
    with np.errstate(invalid="ignore", divide="ignore"):
        flag = ((np.abs(out["dffits"]) > 3 * np.sqrt(p / (k - p)))
                | (stats.chi2.cdf(out["cooks_d"], p) > 0.5)
                | (out["hat"] > 3 * p / k)
                | (np.abs(out["dfbetas"]) > 1))
    out["influential"] = flag.fillna(False).astype(bool)
    return out


def baujat(result) -> pd.DataFrame:
    """Baujat plot coordinates: each study's contribution to Q and its influence on the result.

    ``x`` = (yᵢ − μ̂)²/(vᵢ + τ̂²), the squared Pearson residual with the fitted model's τ²
    (for the common-effect model: the study's contribution to Q); ``y`` = (μ̂₍₋ᵢ₎ − μ̂)² /
    Var(μ̂₍₋ᵢ₎), the standardised squared change of the pooled estimate when the study is left
    out (τ² re-estimated without it, as metafor does; Var includes the Knapp–Hartung factor
    under ``test="knha"``). Columns ``label``, ``x``, ``y``. metafor: ``baujat(res)`` (its
    invisible return value).

    Reference: Baujat B, Mahé C, Pignon J-P, Hill C (2002). A graphical method for exploring
    heterogeneity in meta-analyses: application to a meta-analysis of 65 trials. Stat Med
    21:2641-2652.

    Example
    -------
    >>> import iometa
    >>> res = iometa.pool([0.1, 0.5, 0.9, 0.3], [0.04, 0.05, 0.06, 0.03], method="FE")
    >>> b = iometa.baujat(res)
    >>> round(float(b["x"].sum()), 6) == round(res.q, 6)
    True
    """
    fit, tau2 = _deletion_fits(result, "baujat()")
    x = (result.yi - result.coef) ** 2 / (tau2 + result.vi)
    y = (fit.coef - result.coef) ** 2 / fit.se**2
    return pd.DataFrame({"label": result.labels, "x": x, "y": y})

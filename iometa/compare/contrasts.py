"""Pairwise contrasts between subgroups: :func:`contrasts` (and the common-τ² group estimates).

Model scale, for every pair (a, b) with a before b in group order:

* ``tau2="separate"`` (groups fitted on their own, hence independent): d = b_a − b_b,
  SE = √(se_a² + se_b²), Wald z test and normal CI (the same normal approximation as meta's
  test for subgroup differences; under Knapp–Hartung se_g is the group's KH-adjusted SE);
* ``tau2="common"`` (the mixed-effects model on the group factor): d = (L_a − L_b)β̂ with L_g
  the model-matrix row of group g, SE = √((L_a − L_b)V(L_a − L_b)'), z or — under
  Knapp–Hartung — t(k − G), as metafor's ``anova(res, X = ...)``.

p-values are Holm-adjusted over all pairs (Holm 1979, Scand J Stat 6:65; R ``p.adjust``).

Back-transformed contrast, where meaningful:

* proportions and survival rates: the **difference of proportions** p_a − p_b (each group's
  estimate on the proportion scale) with a delta-method SE √(g'(b_a)²se_a² + g'(b_b)²se_b² −
  2g'(b_a)g'(b_b)cov_ab) (cov_ab = 0 for separate fits), g the back-transformation (derivative
  by central differences), and a Wald CI with the same critical value as the model-scale CI;
* log-scale medians (``measure="MEDLN"``) and any other exp back-transformation: the **ratio**
  exp(d) with CI exp(d ± crit·SE) (ratio of medians);
* otherwise (generic effects, medians in months): none — the model-scale difference is the
  contrast.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..core.results import MetaResult


def holm(pvals) -> np.ndarray:
    """Holm step-down adjusted p-values (R ``p.adjust(p, "holm")``; NaN stays NaN).

    Example
    -------
    >>> holm([0.01, 0.04, 0.03]).round(2).tolist()
    [0.03, 0.06, 0.06]
    """
    p = np.asarray(pvals, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = np.flatnonzero(np.isfinite(p))
    m = ok.size
    if m:
        order = ok[np.argsort(p[ok], kind="stable")]
        adj = np.maximum.accumulate((m - np.arange(m)) * p[order])
        out[order] = np.minimum(adj, 1.0)
    return out


def _kind(res: MetaResult) -> str | None:
    if res.kind in ("proportion", "survival_rate"):
        return "difference of proportions" if res.kind == "proportion" else \
            "difference of survival rates"
    x = np.array([-0.7, 0.2, 1.3])
    if res._backtransform is not None and np.allclose(res.backtransform(x), np.exp(x),
                                                      rtol=1e-12, atol=0):
        return "ratio of medians" if res.kind == "median" else "ratio"
    return None


def _deriv(res: MetaResult, theta: float) -> float:
    h = 1e-5 * max(1.0, abs(theta))
    up, down = res.backtransform(np.array([theta + h, theta - h]))
    return float((up - down) / (2 * h))


def _crit(level, df):
    from ..core import tails  # scipy.stats' values without importing scipy.stats

    a = 1 - level
    return float(tails.norm_ppf(1 - a / 2) if df is None else tails.t_ppf(1 - a / 2, df))


def _pval(stat, df):
    from ..core import tails

    return float(2 * (tails.norm_sf(abs(stat)) if df is None else tails.t_sf(abs(stat), df)))


def _level_rows(sub) -> np.ndarray:
    G = len(sub.groups)
    return np.column_stack([np.ones(G), np.eye(G)[:, 1:]])


def common_predictions(sub) -> pd.DataFrame:
    """Per-group estimates of the common-τ² model (see ``SubgroupResult.common_estimates``)."""
    names = list(sub.groups)
    if sub.common_fit is None:
        return pd.DataFrame({"group": names, "k": [r.k for r in sub.groups.values()]})
    pr = sub.common_fit.predict(_level_rows(sub))
    out = pd.DataFrame({"group": names, "k": [r.k for r in sub.groups.values()],
                        "coef": pr["pred"], "se": pr["se"], "coef_ci_low": pr["ci_low"],
                        "coef_ci_high": pr["ci_high"], "coef_pi_low": pr["pi_low"],
                        "coef_pi_high": pr["pi_high"]})
    for col, src in (("estimate", "pred"), ("ci_low", "ci_low"), ("ci_high", "ci_high"),
                     ("pi_low", "pi_low"), ("pi_high", "pi_high")):
        out[col] = sub.overall.backtransform(pr[src].to_numpy())
    return out


def _pairs(sub, mode):
    """Model-scale estimates, covariance, back-transform owners and t df for the mode."""
    names = list(sub.groups)
    if mode == "separate":
        est = np.array([r.coef for r in sub.groups.values()])
        cov = np.diag([r.se**2 for r in sub.groups.values()])
        return names, est, cov, list(sub.groups.values()), None
    reg = sub.common_fit
    if reg is None:
        raise ValueError("the common-tau^2 model could not be fitted: "
                         f"{sub.test_common.note or 'see the notes'}")
    L = _level_rows(sub)
    return names, L @ reg.beta, L @ reg.vcov @ L.T, [sub.overall] * len(names), reg.ddf


def contrasts(sub, *, tau2: str | None = None) -> pd.DataFrame:
    """Pairwise contrasts between the groups of a :class:`~iometa.SubgroupResult`.

    One row per pair (group_a, group_b) in group order: ``difference`` (a − b on the model
    scale), ``se``, ``stat`` (z, or t under Knapp–Hartung in the common-τ² model), ``pval``,
    ``ci_low``, ``ci_high``, ``pval_holm`` (Holm-adjusted over all pairs), and the
    back-transformed contrast where meaningful — ``contrast`` (its name, e.g. "difference of
    proportions", "ratio of medians"), ``contrast_estimate``, ``contrast_se`` (delta method;
    differences only), ``contrast_ci_low``, ``contrast_ci_high``. ``tau2`` ("separate" or
    "common"; default: the subgroup result's mode) chooses the model (see the module docstring
    for the formulas). metafor: ``anova(rma(yi, vi, mods = ~ factor(g)), X = ...)``.

    Example
    -------
    >>> import iometa
    >>> res = iometa.pool_proportions([45, 38, 50, 27, 60, 33], [50, 45, 52, 31, 70, 36])
    >>> sub = iometa.subgroups(res, ["RFA", "RFA", "MWA", "RFA", "MWA", "MWA"])
    >>> tab = iometa.contrasts(sub)
    >>> tab[["group_a", "group_b", "contrast"]].values.tolist()
    [['RFA', 'MWA', 'difference of proportions']]
    """
    mode = sub.tau2 if tau2 is None else tau2
    if mode not in ("separate", "common"):
        raise ValueError(f"tau2 must be 'separate' or 'common', got {tau2!r}")
    names, est, cov, owners, df = _pairs(sub, mode)
    crit = _crit(sub.overall.level, df)
    kind = _kind(sub.overall)
    rows = []
    for a in range(len(names) - 1):
        for b in range(a + 1, len(names)):
            d = est[a] - est[b]
            se = float(np.sqrt(cov[a, a] + cov[b, b] - 2 * cov[a, b]))
            row = {"group_a": names[a], "group_b": names[b], "difference": d, "se": se,
                   "stat": d / se, "pval": _pval(d / se, df), "ci_low": d - crit * se,
                   "ci_high": d + crit * se, "contrast": kind}
            row.update(_backtransformed(kind, owners, est, cov, a, b, d, se, crit))
            rows.append(row)
    out = pd.DataFrame(rows, columns=["group_a", "group_b", "difference", "se", "stat", "pval",
                                      "ci_low", "ci_high", "contrast", "contrast_estimate",
                                      "contrast_se", "contrast_ci_low", "contrast_ci_high"])
    out.insert(8, "pval_holm", holm(out["pval"].to_numpy(float)))
    out["tau2"] = mode
    return out


def _backtransformed(kind, owners, est, cov, a, b, d, se, crit) -> dict:
    nan = float("nan")
    if kind is None:
        return {"contrast_estimate": nan, "contrast_se": nan, "contrast_ci_low": nan,
                "contrast_ci_high": nan}
    if kind.startswith("ratio"):
        return {"contrast_estimate": float(np.exp(d)), "contrast_se": nan,
                "contrast_ci_low": float(np.exp(d - crit * se)),
                "contrast_ci_high": float(np.exp(d + crit * se))}
    pa = float(owners[a].backtransform(np.array([est[a]]))[0])
    pb = float(owners[b].backtransform(np.array([est[b]]))[0])
    ga, gb = _deriv(owners[a], est[a]), _deriv(owners[b], est[b])
    var = ga * ga * cov[a, a] + gb * gb * cov[b, b] - 2 * ga * gb * cov[a, b]
    s = float(np.sqrt(max(var, 0.0)))
    diff = pa - pb
    return {"contrast_estimate": diff, "contrast_se": s, "contrast_ci_low": diff - crit * s,
            "contrast_ci_high": diff + crit * s}

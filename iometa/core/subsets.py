"""Refit a pooled result on many subsets of its studies at once (shared by the diagnostics).

:func:`fit_subsets` sends a ``(B, k)`` inclusion mask through the batched core
(:func:`iometa.core.fitting.fit_arrays`) in one call with the model's method, test, level and (if
it was fixed) τ², then applies metafor's conventions for one-study subsets (a one-study fit
uses the z test; τ² = 0, Q = 0, I² = 0, H² = 1). :func:`refit_subsets` is the fallback for
models the batched core does not cover (the binomial-normal GLMM): one ``result.refit`` per
subset, a failed fit giving a row of ``nan`` (as metafor's ``try()`` gives ``NA``).
"""

from __future__ import annotations

import warnings
from dataclasses import replace

import numpy as np
import pandas as pd

from ._lazy import Deferred
from .fitting import BatchFit, _special, fit_arrays
from .progress import ProgressBar

#: the statistics every subset table carries, on the model scale
MODEL_COLUMNS = ("coef", "se", "stat", "pval", "df", "coef_ci_low", "coef_ci_high",
                 "coef_pi_low", "coef_pi_high", "tau2", "i2", "h2", "q", "q_pval")


def is_glmm(result) -> bool:  # also MH/Peto: no batched core, refitted one subset at a time
    return result.method in ("GLMM", "MH", "Peto")


def require_variances(result, what: str) -> None:
    """Refuse results pooled without within-study variances (median of medians)."""
    if result.method in ("MM", "WM"):
        raise ValueError(
            f"{what} needs within-study variances, but this result pools bare medians by the "
            f"{'weighted ' if result.method == 'WM' else ''}median of medians, which has none "
            "(no weights, SE or heterogeneity). Pool medians that have CIs or death counts with "
            "pool_medians(..., route='iv') to use it")


def require_k2(result, what: str) -> None:
    require_variances(result, what)
    if result.k < 2:
        raise ValueError(f"{what} needs at least 2 studies (this result has k = {result.k})")


def tau2_fixed(result) -> float | None:
    """The τ² the model was fitted with, if it was fixed by the user (``tau2=``), else None:
    read from the result's spec."""
    spec = getattr(result, "spec", None)
    if spec is None:
        raise TypeError("the result has no model spec (it was not built by a pool function)")
    return None if spec.tau2 is None else float(spec.tau2)


def fit_subsets(result, mask, *, method=None, test=None) -> BatchFit:
    """Fit the result's model on every row of the boolean ``mask`` (B, k) in one batched call
    (with the result's prediction-interval method and ad hoc correction; a model with user
    weights, ``weighted=False`` or GENQ is refused: the batched core has no weights)."""
    spec = result.spec
    if spec is not None and (not spec.weighted or "weights" in (result.inputs or {})):
        raise ValueError("subset diagnostics (leave-one-out, influence, GOSH, cumulative) of a "
                         "model with user weights or weighted=False are not implemented; "
                         "refit the subsets with result.refit(index)")
    return fit_masks(result.yi, result.vi, mask, method=method or result.method,
                     test=result.test if test is None else test, level=result.level,
                     tau2=tau2_fixed(result),
                     pi_method="metafor" if spec is None else spec.pi_method,
                     adhoc=False if spec is None else spec.adhoc)


def fit_masks(yi, vi, mask, *, method, test, level, tau2=None, pi_method="metafor",
              adhoc=False) -> BatchFit:
    """:func:`fit_subsets` on the studies' ``yi``, ``vi`` (1-d), read once by callers that fit
    many chunks of subsets; ``tau2`` fixes τ² (:func:`tau2_fixed`)."""
    mask = np.asarray(mask, dtype=bool)
    y = np.broadcast_to(yi, mask.shape)
    v = np.broadcast_to(vi, mask.shape)
    fit = fit_arrays(y, v, mask, method=method, test=test, level=level, tau2=tau2,
                     pi_method=pi_method, adhoc=adhoc and test == "knha")
    return _one_study_rows(fit, vi, mask, level)


def _one_study_rows(fit: BatchFit, vi, mask, level) -> BatchFit:
    """metafor's k = 1 fits: z test (no t with 0 df), H² = 1 also for the common-effect model.

    Only the one-study rows are recomputed (the others are copied), and the Q p-value stays
    deferred (computed on first access, as in the fit)."""
    idx = np.flatnonzero(fit.k == 1)
    if not idx.size:
        return fit
    sc = _special()
    z = sc.ndtri(1 - (1 - level) / 2)
    coef, t2 = fit.coef[idx], fit.tau2[idx]
    se = np.sqrt(np.where(mask[idx], vi, 0.0).sum(axis=-1) + t2)
    stat = coef / se
    sp = np.sqrt(se**2 + t2)
    new = {"se": se, "stat": stat, "pval": 2 * sc.ndtr(-np.abs(stat)), "df": np.nan,
           "ci_low": coef - z * se, "ci_high": coef + z * se, "pi_low": coef - z * sp,
           "pi_high": coef + z * sp, "i2": 0.0, "h2": 1.0, "q": 0.0}
    changes = {name: _put(getattr(fit, name), idx, x) for name, x in new.items()}
    q_pval = fit.__dict__["q_pval"]  # keep a Deferred deferred (LazyField)
    if type(q_pval) is Deferred:
        fn = q_pval.fn
        changes["q_pval"] = Deferred(lambda: _put(fn(), idx, 1.0))
    else:
        changes["q_pval"] = _put(q_pval, idx, 1.0)
    return replace(fit, **changes)


def _put(a, idx, x):
    """A float copy of ``a`` with ``a[idx] = x``."""
    out = np.array(a, dtype=float)
    out[idx] = x
    return out


def batch_frame(result, fit: BatchFit) -> pd.DataFrame:
    """Tidy table of a batch of fits: model-scale columns plus the reporting scale."""
    cols = {"k": fit.k.astype(int), "coef": fit.coef, "se": fit.se, "stat": fit.stat,
            "pval": fit.pval, "df": fit.df, "coef_ci_low": fit.ci_low,
            "coef_ci_high": fit.ci_high, "coef_pi_low": fit.pi_low,
            "coef_pi_high": fit.pi_high, "tau2": fit.tau2, "i2": fit.i2, "h2": fit.h2,
            "q": fit.q, "q_pval": fit.q_pval}
    return add_reporting_scale(result, pd.DataFrame(cols))


def add_reporting_scale(result, df: pd.DataFrame) -> pd.DataFrame:
    """estimate, ci_low, ci_high, pi_low, pi_high through ``result.backtransform`` (sorted
    pairwise like metafor's ``.psort``, in case a transformation is decreasing)."""
    bt = result.backtransform
    df["estimate"] = bt(df["coef"].to_numpy(float))
    for a, b in (("ci", "coef_ci"), ("pi", "coef_pi")):
        lo = bt(df[f"{b}_low"].to_numpy(float))
        hi = bt(df[f"{b}_high"].to_numpy(float))
        df[f"{a}_low"], df[f"{a}_high"] = np.fmin(lo, hi), np.fmax(lo, hi)
    return df


def refit_subsets(result, subsets, bar: ProgressBar | None = None) -> pd.DataFrame:
    """One ``result.refit(index)`` per subset (GLMM fallback); failures give rows of nan.
    ``bar``: a :class:`iometa.core.progress.ProgressBar` advanced once per subset."""
    rows: list[dict[str, float]] = []
    for idx in subsets:
        if bar is not None:
            bar.update(advance=1)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                r = result.refit(np.asarray(idx, dtype=int))
        except (ValueError, ArithmeticError, np.linalg.LinAlgError):
            rows.append({"k": len(idx)})
            continue
        rows.append({"k": r.k, "coef": r.coef, "se": r.se, "stat": r.stat, "pval": r.pval,
                     "df": np.nan if r.df is None else r.df, "coef_ci_low": r.coef_ci_low,
                     "coef_ci_high": r.coef_ci_high, "coef_pi_low": r.coef_pi_low,
                     "coef_pi_high": r.coef_pi_high, "tau2": r.tau2, "i2": r.i2, "h2": r.h2,
                     "q": r.q, "q_pval": r.q_pval})
    df = pd.DataFrame(rows, columns=["k", *MODEL_COLUMNS]).astype(float)
    df["k"] = df["k"].astype(int)
    return add_reporting_scale(result, df)

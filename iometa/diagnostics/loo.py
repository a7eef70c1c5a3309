"""Sensitivity and influence diagnostics of a pooled result.

* :func:`leave_one_out` — the model refitted without each study in turn (metafor ``leave1out``);
* :func:`cumulative` — cumulative meta-analysis in a chosen order (metafor ``cumul``);
* :func:`influence` — externally standardised residuals, DFFITS, Cook's distance, covariance
  ratio, leave-one-out τ² and Q, hat values, weights, DFBETAS and metafor's "influential" flag
  (metafor ``influence.rma.uni``), in :mod:`iometa.diagnostics.influence`;
* :func:`baujat` — Baujat et al. (2002) coordinates (metafor ``baujat``), in
  :mod:`iometa.diagnostics.influence`;
* :func:`gosh` — the GOSH plot data over (all or random) subsets (metafor ``gosh``), in
  :mod:`iometa.diagnostics.gosh`;
* :func:`method_sensitivity` — one proportion outcome pooled under every common
  measure × τ² estimator × test, side by side, in :mod:`iometa.diagnostics.sensitivity`.

Leave-one-out, cumulative and GOSH fit all their sub-analyses in one batched call of
:func:`iometa.core.fitting.fit_arrays`; for GLMM results (no inverse-variance core) each subset is
refitted with ``result.refit``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..core.subsets import (
    batch_frame,
    fit_subsets,
    is_glmm,
    refit_subsets,
    require_k2,
    require_variances,
)
from .gosh import gosh
from .influence import baujat, influence
from .sensitivity import method_sensitivity

__all__ = ["leave_one_out", "influence", "cumulative", "baujat", "gosh", "method_sensitivity"]

_ORDER = ["label", "k", "coef", "se", "stat", "pval", "df", "estimate", "ci_low", "ci_high",
          "pi_low", "pi_high", "coef_ci_low", "coef_ci_high", "coef_pi_low", "coef_pi_high",
          "tau2", "i2", "h2", "q", "q_pval"]


def leave_one_out(result) -> pd.DataFrame:
    """Refit the model without each study in turn (one row per omitted study, study order).

    Each row is the model fitted to the other k − 1 studies with the same method, test, level
    (and fixed τ², if any): ``label`` (the omitted study), ``k``, model-scale ``coef``, ``se``,
    ``stat`` (z or t), ``pval``, ``df``, ``coef_ci_*``/``coef_pi_*``; reporting-scale
    ``estimate``, ``ci_low``, ``ci_high``, ``pi_low``, ``pi_high`` (through
    ``result.backtransform``, i.e. with the full data's transformation arguments, as metafor's
    ``leave1out(transf=)``); heterogeneity ``tau2``, ``i2``, ``h2``, ``q``, ``q_pval``. The
    prediction interval of a common-effect model equals its CI. ``df.attrs`` holds the
    result's ``measure``, ``scale``, ``kind`` and ``level`` (for the plots). metafor:
    ``leave1out(res)``.

    Reference: Viechtbauer W, Cheung MW-L (2010). Outlier and influence diagnostics for
    meta-analysis. Res Synth Methods 1:112-125.

    Example
    -------
    >>> import iometa
    >>> res = iometa.pool([0.1, 0.5, 0.9, 0.3], [0.04, 0.05, 0.06, 0.03], method="DL")
    >>> loo = iometa.leave_one_out(res)
    >>> loo["coef"].round(4).tolist()
    [0.5342, 0.4096, 0.2872, 0.4834]
    """
    require_k2(result, "leave-one-out")
    k = result.k
    keep = ~np.eye(k, dtype=bool)
    if is_glmm(result):
        df = refit_subsets(result, [np.flatnonzero(row) for row in keep])
    else:
        df = batch_frame(result, fit_subsets(result, keep))
    df.insert(0, "label", result.labels)
    return _described(df[_ORDER], result)


def _described(df, result):
    """``df`` with ``attrs`` naming the result's measure, reporting scale, kind and level, so
    that a plot of the table alone shows the right scale and axis label."""
    df.attrs.update(measure=result.measure, scale=result.scale, kind=result.kind,
                    level=result.level)
    return df


def _order_keys(result, order):
    if order is None:
        return np.arange(result.k)
    if isinstance(order, str):
        if result.data is None or order not in result.data.columns:
            cols = [] if result.data is None else list(map(str, result.data.columns))
            raise ValueError(f"order={order!r} is not a column of the data the result was "
                             f"fitted from (columns: {', '.join(cols) or 'no data= given'})")
        keys = result.data[order].to_numpy()
    else:
        keys = np.asarray(order).ravel()
    if keys.size != result.k:
        raise ValueError(f"order has {keys.size} values for {result.k} studies")
    return keys


def _stable_order(keys, decreasing):
    """R's ``order(keys, decreasing=)``: stable, missing values last."""
    keys = pd.Series(keys)
    return keys.sort_values(ascending=not decreasing, kind="stable",
                            na_position="last").index.to_numpy()


def cumulative(result, order=None, *, decreasing=False) -> pd.DataFrame:
    """Cumulative meta-analysis: the model refitted on the first 1, 2, …, k studies.

    ``order`` sorts the studies first: a column name of the DataFrame the result was fitted
    from (``data=``), an array of sort keys aligned with the studies, or None (study order).
    Ties keep study order; missing keys go last (R's ``order``). Row i is the fit to the first
    i studies in that order, labelled by the study added; columns as :func:`leave_one_out`
    plus ``order_key``. A one-study step uses the z test and has τ² = 0, as in metafor. metafor:
    ``cumul(res, order = ...)``.

    Reference: Lau J, Antman EM, Jimenez-Silva J, et al. (1992). Cumulative meta-analysis of
    therapeutic trials for myocardial infarction. N Engl J Med 327:248-254.

    Example
    -------
    >>> import iometa
    >>> res = iometa.pool([0.1, 0.5, 0.9], [0.04, 0.05, 0.06], method="DL")
    >>> iometa.cumulative(res, order=[2003, 2001, 2002])["label"].tolist()
    ['Study 2', 'Study 3', 'Study 1']
    """
    require_variances(result, "cumulative meta-analysis")
    keys = _order_keys(result, order)
    perm = _stable_order(keys, decreasing)
    k = result.k
    steps = np.tril(np.ones((k, k), dtype=bool))  # row i: the first i + 1 studies in order
    if is_glmm(result):
        df = refit_subsets(result, [perm[: i + 1] for i in range(k)])
    else:
        mask = np.zeros((k, k), dtype=bool)
        mask[:, perm] = steps
        df = batch_frame(result, fit_subsets(result, mask))
    df.insert(0, "label", np.asarray(result.labels, dtype=object)[perm])
    out = df[_ORDER]
    out.insert(1, "order_key", keys[perm])
    return _described(out, result)

"""Method sensitivity: one proportion outcome pooled under every common analysis choice.

Two packages (or two papers) "disagree" on a pooled proportion mostly because they made
different choices: the scale (logit, arcsine, Freeman–Tukey, or the binomial GLMM), the τ²
estimator and the test. :func:`method_sensitivity` shows them side by side.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from .._warnings import IometaWarning

COLUMNS = ["measure", "method", "test", "k", "estimate", "ci_low", "ci_high", "pi_low",
           "pi_high", "coef", "tau2", "i2", "warnings"]


def _counts(events, n, data, labels, level):
    from ..core.models import column, study_labels

    if hasattr(events, "studies") and hasattr(events, "refit"):  # a MetaResult
        res = events
        if not {"events", "n"} <= set(res.studies.columns):
            raise ValueError("method_sensitivity needs event counts: pass events and n, or a "
                             "result of iometa.pool_proportions")
        return (res.studies["events"].to_numpy(float), res.studies["n"].to_numpy(float),
                res.labels, res.level if level is None else level)
    if n is None:
        raise ValueError("give n (the sample sizes) together with events")
    x = np.asarray(column(events, data, "events"), dtype=float)
    nn = np.asarray(column(n, data, "n"), dtype=float)
    return x, nn, study_labels(labels, data, x.size), 0.95 if level is None else level


def _fit_row(x, n, labels, level, measure, method, test, add, to):
    from ..core.models import pool_proportions

    row = {"measure": "PLO" if measure == "GLMM" else measure, "method": method, "test": test,
           "k": int(x.size)}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            res = pool_proportions(x, n, measure=row["measure"], method=method, test=test,
                                   level=level, labels=labels, add=add, to=to)
        except Exception as exc:  # noqa: BLE001 - one failed choice must not sink the table
            row["warnings"] = [f"could not be fitted: {exc}"]
            return row
    msgs = list(res.warnings) + [str(w.message) for w in caught
                                 if issubclass(w.category, IometaWarning)]
    row.update(estimate=res.estimate, ci_low=res.ci_low, ci_high=res.ci_high,
               pi_low=res.pi_low, pi_high=res.pi_high, coef=res.coef, tau2=res.tau2,
               i2=res.i2, warnings=msgs)
    return row


def method_sensitivity(events, n=None, *, data=None, labels=None, level=None,
                       measures=("PLO", "GLMM", "PAS", "PFT"), methods=("DL", "REML", "PM"),
                       tests=("z", "knha"), add=None, to="only0") -> pd.DataFrame:
    """Pool one proportion outcome under every measure × τ² estimator × test, side by side.

    ``events``/``n`` are counts (array-likes or column names of ``data``), or ``events`` is a
    result of :func:`iometa.pool_proportions` (its counts, labels and level are used). Rows:
    logit (``"PLO"``), arcsine (``"PAS"``) and Freeman–Tukey (``"PFT"``) inverse-variance
    models × ``methods`` × ``tests``, and the binomial-normal GLMM (measure ``"PLO"``, method
    ``"GLMM"``) once per test (it has no τ² estimator choice; ``"knha"`` is a t test with
    k − 1 df there, as metafor's ``rma.glmm(test="t")``). Columns: ``measure``, ``method``,
    ``test``, ``k``, ``estimate``, ``ci_low``, ``ci_high``, ``pi_low``, ``pi_high`` (proportion
    scale), ``coef`` (model scale), ``tau2`` (on each model's own scale: not comparable across
    measures), ``i2`` and ``warnings`` (plain-language messages: Freeman–Tukey with unequal
    sample sizes, fewer than 5 studies, continuity corrections, a fit that failed). Warnings
    are collected in the table, not raised. metafor: ``rma(measure=, method=, test=)`` and
    ``rma.glmm(measure="PLO")`` with ``predict(transf=)``; no single-call equivalent.

    References: Schwarzer G, Chemaitelly H, Abu-Raddad LJ, Rücker G (2019). Seriously
    misleading results using inverse of Freeman-Tukey double arcsine transformation in
    meta-analysis of single proportions. Res Synth Methods 10:476-483. Stijnen T, Hamza TH,
    Özdemir P (2010). Random effects meta-analysis of event outcome in the framework of the
    generalized linear mixed model. Stat Med 29:3046-3067.

    Example
    -------
    >>> import iometa
    >>> tab = iometa.method_sensitivity([13, 4, 9, 7, 11], [51, 30, 40, 35, 44],
    ...                                 measures=("PLO", "PAS"), methods=("DL",))
    >>> tab[["measure", "method", "test"]].values.tolist()
    [['PLO', 'DL', 'z'], ['PLO', 'DL', 'knha'], ['PAS', 'DL', 'z'], ['PAS', 'DL', 'knha']]
    """
    from ..core.glmm_result import shared_glmm_fits

    x, nn, labs, level = _counts(events, n, data, labels, level)
    rows = []
    with shared_glmm_fits():  # the GLMM rows of the two tests share one fit
        for measure in measures:
            for method in ("GLMM",) if measure == "GLMM" else methods:
                for test in tests:
                    rows.append(_fit_row(x, nn, labs, level, measure, method, test, add, to))
    small = (f"only {x.size} stud{'y' if x.size == 1 else 'ies'}: tau^2, the confidence and the prediction intervals are "
             "imprecise, and the analysis choices matter more" if x.size < 5 else None)
    for row in rows:
        msgs = row["warnings"] + ([small] if small else [])
        row["warnings"] = "; ".join(dict.fromkeys(m for m in msgs if m))
    return pd.DataFrame(rows).reindex(columns=COLUMNS)

"""Methods and results in words for the three-level and the Bayesian model (the paragraphs of
``MultilevelResult`` and ``BayesResult``); the shared wording helpers are in
:mod:`iometa.core.reporter`."""

from __future__ import annotations

import numpy as np

from .methods import REGISTRY
from .reporter import (
    _TEST_Z,
    _finite,
    _lvl,
    _plural,
    _scaled,
    default_digits,
    interval,
    measure_words,
    noun,
    number,
    p_text,
    software_words,
)

__all__ = ["bayes_methods_text", "bayes_results_text", "multilevel_methods_text",
           "multilevel_results_text"]


def _ml_estimator(method: str) -> str:
    entry = REGISTRY.get(method)
    name = entry.name.removeprefix("random-effects, ") if entry else method
    ref = f"; {entry.reference}" if entry else ""
    return f"the {name} estimator ({method}{ref})"


def multilevel_methods_text(res) -> str:
    """The methods of a three-level model (:class:`~iometa.core.multilevel_result.MultilevelResult`)
    in one paragraph.

    Example
    -------
    >>> from iometa.core.multilevel import pool_multilevel
    >>> res = pool_multilevel([0.1, 0.3, 0.5, 0.2, 0.8, 0.9], [0.01] * 6,
    ...                       cluster=[1, 1, 2, 2, 3, 3])
    >>> "three-level" in multilevel_methods_text(res)
    True
    """
    mods = "" if res.p == 1 else (f" with {_plural(res.p - 1, 'moderator term', 'moderator terms')}"
                                  f" ({', '.join(res.terms[1:])})")
    parts = [
        f"A three-level random-effects model{mods} (estimates nested in clusters; "
        "Konstantopoulos 2011) was fitted to the effect sizes as given; the between-cluster "
        "and within-cluster variance components (σ²) were estimated with "
        f"{_ml_estimator(res.method)}, with profile-likelihood confidence intervals.",
        ("Tests and confidence intervals used the t distribution with k − p degrees of "
         "freedom." if res.test in ("t", "knha") else
         f"Tests and confidence intervals were {_TEST_Z}."),
        "Heterogeneity was assessed with the Q-test of the common-effect model and the "
        "multilevel I² statistics (Cheung 2014); each variance component was tested with a "
        "likelihood-ratio test.",
    ]
    if res.reduced:
        parts.append(f"The model reduced to two levels: {res.reduced}.")
    parts.append(software_words())
    return " ".join(parts)


def multilevel_results_text(res, digits: int = 2) -> str:
    """The numbers of a three-level model in one paragraph (see :func:`results_text`).

    Example
    -------
    >>> from iometa.core.multilevel import pool_multilevel
    >>> res = pool_multilevel([0.1, 0.3, 0.5, 0.2, 0.8, 0.9], [0.01] * 6,
    ...                       cluster=[1, 1, 2, 2, 3, 3])
    >>> multilevel_results_text(res).split(". ")[0]
    'The analysis included 6 estimates in 3 clusters'
    """
    lvl = _lvl(res.level)
    parts = [f"The analysis included {_plural(res.k, 'estimate', 'estimates')} in "
             f"{_plural(res.n_clusters, 'cluster', 'clusters')}."]
    coef = np.atleast_1d(res.coef)
    lo, hi = np.atleast_1d(res.coef_ci_low), np.atleast_1d(res.coef_ci_high)
    stat, pval = np.atleast_1d(res.stat), np.atleast_1d(res.pval)
    name = "t" if res.df is not None else "z"
    dfs = f"({number(res.df, 0)})" if res.df is not None else ""
    bits = []
    for i, term in enumerate(res.terms):
        ci = interval(lo[i], hi[i], 1, digits)
        inner = [f"{lvl} CI {ci}"] if ci else []
        if _finite(stat[i], pval[i]):
            inner.append(f"{name}{dfs} = {number(stat[i], 2)}, {p_text(pval[i])}")
        bits.append(f"{term} {number(coef[i], digits)}" + (f" ({'; '.join(inner)})"
                                                              if inner else ""))
    if res.p == 1:
        parts.append(f"The pooled effect was {bits[0].removeprefix(res.terms[0] + ' ')}.")
    else:
        parts.append("Coefficients (model scale): " + "; ".join(bits) + ".")
    sig = []
    for j, label in enumerate(("between clusters", "within clusters")):
        if not _finite(res.sigma2[j]):
            continue
        ci = interval(res.sigma2_ci[j][0], res.sigma2_ci[j][1], 1, 4)
        sig.append(f"σ² {label} = {number(res.sigma2[j], 4)}"
                   + (f" ({lvl} CI {ci})" if ci else ""))
    if sig:
        parts.append("Variance components: " + "; ".join(sig) + ".")
    het = []
    if _finite(res.i2):
        lv = [f"{label} {number(x, 1)}%" for label, x in
              zip(("between", "within"), res.i2_levels) if _finite(x)]
        het.append(f"I² = {number(res.i2, 1)}%" + (f" ({', '.join(lv)})" if lv else ""))
    if _finite(res.q):
        het.append(f"Q({res.q_df}) = {number(res.q, 2)}"
                   + (f", {p_text(res.q_pval)}" if _finite(res.q_pval) else ""))
    if het:
        parts.append("Heterogeneity: " + "; ".join(het) + ".")
    if res.qm is not None and _finite(res.qm):
        parts.append(f"Test of the moderators: QM({res.qm_df}) = {number(res.qm, 2)}, "
                     f"{p_text(res.qm_pval)}.")
    if res.reduced is None and _finite(res.lrt, res.lrt_pval):
        parts.append(f"Likelihood-ratio test of the between-cluster component: "
                     f"χ²(1) = {number(res.lrt, 2)}, {p_text(res.lrt_pval)}.")
    if not res.converged:
        parts.append("The estimator did not converge; the estimates may be unreliable.")
    return " ".join(parts)


# ------------------------------------------------------------------------ Bayesian
def bayes_methods_text(res) -> str:
    """The methods of a Bayesian random-effects model (:class:`~iometa.core.bayes_result.BayesResult`).

    Example
    -------
    >>> from iometa.core.bayes import pool_bayes
    >>> "half-normal" in bayes_methods_text(pool_bayes([0.1, 0.5, 0.9], [0.04, 0.05, 0.06]))
    True
    """
    tp, mp = res._prior_text()
    what = measure_words(res.measure)
    return " ".join([
        f"A Bayesian normal–normal random-effects model was fitted to {what}, with a {tp} "
        f"prior for the between-study standard deviation τ and a {mp} prior for the mean "
        "effect μ; the posterior was computed by numerical integration, as bayesmeta's "
        "direct algorithm (Röver & Friede 2017; Röver 2020).",
        f"Estimates are posterior medians with {res.interval} {_lvl(res.level)} credible "
        "intervals, a prediction interval for the effect in a new study comes from the "
        "posterior predictive distribution, and the Bayes factor compares τ = 0 with the "
        "prior on τ.",
        software_words()])


def bayes_results_text(res, pscale: float = 1, digits: int | None = None) -> str:
    """The numbers of a Bayesian random-effects model in one paragraph.

    Example
    -------
    >>> from iometa.core.bayes import pool_bayes
    >>> bayes_results_text(pool_bayes([0.1, 0.5, 0.9], [0.04, 0.05, 0.06])).split(". ")[0]
    'The analysis included 3 studies'
    """
    d = default_digits(res, pscale) if digits is None else digits
    lvl = _lvl(res.level)
    ci = interval(res.ci_low, res.ci_high, pscale, d)
    parts = [f"The analysis included {_plural(res.k, 'study', 'studies')}.",
             f"The posterior median of the {noun(res)} was {_scaled(res.estimate, pscale, d)}"
             + (f" ({lvl} credible interval {ci})" if ci else "") + "."]
    pi = interval(res.pi_low, res.pi_high, pscale, d)
    if pi:
        parts.append(f"The {lvl} prediction interval was {pi}.")
    tau_ci = interval(res._summary.at["tau", "ci_low"], res._summary.at["tau", "ci_high"], 1, 4)
    if _finite(res.tau):
        parts.append(f"The posterior median of τ was {number(res.tau, 4)}"
                     + (f" ({lvl} credible interval {tau_ci})" if tau_ci else "") + ".")
    if _finite(res.bf01) and res.bf01 > 0:
        parts.append(f"The Bayes factor of τ = 0 against the prior on τ was "
                     f"{res.bf01:.3g}.")
    return " ".join(parts)

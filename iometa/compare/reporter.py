"""Methods and results in words for subgroup analyses and meta-regressions (the comparative
side of :mod:`iometa.core.reporter`): one paragraph each, numbers read from the result.

Example
-------
>>> import iometa
>>> res = iometa.pool_proportions([45, 38, 50, 27, 60, 33], [50, 45, 52, 31, 70, 36])
>>> sub = iometa.subgroups(res, ["RFA", "RFA", "MWA", "RFA", "MWA", "MWA"])
>>> "test for subgroup differences" in subgroup_results_text(sub)
True
"""

from __future__ import annotations

import numpy as np

from ..core.reporter import (
    _TEST_Z,
    _finite,
    _lvl,
    _plural,
    _sentence,
    default_digits,
    estimate_words,
    interval,
    methods_text,
    n_patients,
    noun,
    number,
    p_text,
    software_words,
    unit_noun,
)
from ..core.reporter_models import _ml_estimator

__all__ = ["regression_methods_text", "regression_results_text", "subgroup_methods_text",
           "subgroup_results_text"]


def _between(test) -> str:
    """``Q(2) = 1.23, p = 0.54`` or ``F(1, 8) = …``; "" when the test is not available."""
    if not _finite(test.q):
        return ""
    dfs = f"{test.df}, {test.df2}" if test.df2 is not None else f"{test.df}"
    stat = f"{test.statistic}({dfs}) = {number(test.q, 2)}"
    return stat + (f", {p_text(test.pval)}" if _finite(test.pval) else "")


_TEST_NAMES = {
    "separate": "the between-group Q-test with a separate τ² in each subgroup (Borenstein "
                "et al. 2009)",
    "common": "the omnibus test of a mixed-effects meta-regression on the subgroup factor, "
              "with one τ² common to all subgroups",
}


def subgroup_methods_text(sub) -> str:
    """The methods of a :class:`~iometa.SubgroupResult` in one paragraph: the overall model
    (:func:`iometa.core.reporter.methods_text`), then how the subgroups were fitted and tested.

    Example
    -------
    >>> import iometa
    >>> res = iometa.pool([0.1, 0.5, 0.3, 0.8, 0.6, 0.9], [0.04] * 6, method="DL")
    >>> sub = iometa.subgroups(res, ["a", "a", "a", "b", "b", "b"], tau2="common")
    >>> "one τ² common to all subgroups" in subgroup_methods_text(sub)
    True
    """
    base = methods_text(sub.overall)
    base = base.removesuffix(" " + software_words())
    groups = (f"Subgroups defined by {sub.by_name} were each fitted with the same model, and "
              f"differences between subgroups were tested with {_TEST_NAMES[sub.tau2]}.")
    return " ".join([base, groups, software_words()])


def _group_words(name, res, pscale, digits) -> str:
    n = n_patients(res)
    who = _plural(res.k, "study", "studies") + (f", {n} {unit_noun(res, n)}"
                                                  if n is not None else "")
    text = f"{name} ({who}): {estimate_words(res, pscale, digits)}"
    if res.k > 1 and _finite(res.i2):
        text += f", I² = {number(res.i2, 1)}%"
    return text


def subgroup_results_text(sub, pscale: float = 1, digits: int | None = None) -> str:
    """The numbers of a :class:`~iometa.SubgroupResult` in one paragraph: the pooled estimate
    with its CI of every subgroup (k, patients, I²), the overall estimate, and the test for
    subgroup differences (``sub.tau2``'s; the other test is named too when it is available).

    Example
    -------
    >>> import iometa
    >>> res = iometa.pool([0.1, 0.5, 0.3, 0.8, 0.6, 0.9], [0.04] * 6, method="DL")
    >>> sub = iometa.subgroups(res, ["a", "a", "a", "b", "b", "b"])
    >>> subgroup_results_text(sub).split(": ")[0]
    'The pooled effect by group was a (3 studies)'
    """
    d = default_digits(sub.overall, pscale) if digits is None else digits
    parts = [f"The pooled {noun(sub.overall)} by {sub.by_name} was "
             + "; ".join(_group_words(g, r, pscale, d) for g, r in sub.groups.items()) + "."]
    parts.append(f"Overall ({_plural(sub.overall.k, 'study', 'studies')}) it was "
                 f"{estimate_words(sub.overall, pscale, d)}.")
    chosen = _between(sub.test_chosen)
    label = "separate" if sub.tau2 == "separate" else "common"
    if chosen:
        parts.append(f"The test for subgroup differences ({label} τ²) gave {chosen}.")
    else:
        parts.append(f"No test for subgroup differences ({label} τ²) was possible"
                     + (f": {sub.test_chosen.note}" if sub.test_chosen.note else "") + ".")
    other = sub.test_common if sub.tau2 == "separate" else sub.test_separate
    other_s = _between(other)
    if other_s:
        parts.append(f"With a {'common' if label == 'separate' else 'separate'} τ² it gave "
                     f"{other_s}.")
    return " ".join(parts)


# ------------------------------------------------------------------------ meta-regression
def regression_methods_text(reg) -> str:
    """The methods of a :class:`~iometa.compare.metareg.MetaRegression` in one paragraph.

    Example
    -------
    >>> import iometa
    >>> reg = iometa.meta_regression([0.1, 0.5, 0.2, 0.9, 1.1], [0.02] * 5,
    ...                              [1.0, 2, 3, 4, 5], method="DL")
    >>> "DerSimonian & Laird 1986" in regression_methods_text(reg)
    True
    """
    mods = ", ".join(reg.terms[i] for i in reg.btt) or "none"
    if reg.method == "FE" and reg.tau2_fixed is None:
        model = f"A common-effect (inverse-variance) meta-regression on {mods} was fitted."
    elif reg.tau2_fixed is not None:
        model = (f"A mixed-effects meta-regression on {mods} with the residual τ² fixed at "
                 f"{number(reg.tau2_fixed, 4)} was fitted.")
    else:
        model = (f"A mixed-effects meta-regression on {mods} was fitted; the residual "
                 f"between-study variance τ² was estimated with {_ml_estimator(reg.method)}.")
    test = ("Tests and confidence intervals used the Knapp–Hartung adjustment (t "
            "distribution with k − p degrees of freedom; Hartung & Knapp 2001), and the "
            "moderators were tested jointly with an F-test." if reg.test == "knha" else
            f"Tests and confidence intervals were {_TEST_Z}, and the moderators were tested "
            "jointly with a χ² omnibus test (QM).")
    r2 = (" The proportion of heterogeneity accounted for (pseudo-R²) compares τ² with the "
          "intercept-only model (Raudenbush 2009)." if reg.r2 is not None else "")
    return " ".join([model, test, "Residual heterogeneity was tested with the QE test." + r2,
                     software_words()])


def regression_results_text(reg, digits: int = 2) -> str:
    """The numbers of a meta-regression in one paragraph: each coefficient with its CI and
    test, the test of the moderators, residual τ², I², QE and R².

    Example
    -------
    >>> import iometa
    >>> reg = iometa.meta_regression([0.1, 0.5, 0.2, 0.9, 1.1], [0.02] * 5,
    ...                              [1.0, 2, 3, 4, 5], method="DL")
    >>> regression_results_text(reg).split(". ")[0]
    'The analysis included 5 studies'
    """
    lvl = _lvl(reg.level)
    name = "t" if reg.test == "knha" else "z"
    dfs = f"({number(reg.ddf, 0)})" if reg.ddf is not None else ""
    bits = []
    for i, term in enumerate(reg.terms):
        ci = interval(reg.ci_low[i], reg.ci_high[i], 1, digits)
        inner = [f"{lvl} CI {ci}"] if ci else []
        if _finite(reg.stat[i], reg.pval[i]):
            inner.append(f"{name}{dfs} = {number(reg.stat[i], 2)}, {p_text(reg.pval[i])}")
        bits.append(f"{term} {number(reg.beta[i], digits)}"
                    + (f" ({'; '.join(inner)})" if inner else ""))
    parts = [f"The analysis included {_plural(reg.k, 'study', 'studies')}.",
             "Coefficients (model scale): " + "; ".join(bits) + "."]
    if _finite(reg.qm):
        dfm = f"{reg.qm_df}, {reg.qm_df2}" if reg.qm_df2 is not None else f"{reg.qm_df}"
        stat = "F" if reg.qm_df2 is not None else "QM"
        parts.append(f"Test of the moderators: {stat}({dfm}) = {number(reg.qm, 2)}"
                     + (f", {p_text(reg.qm_pval)}" if _finite(reg.qm_pval) else "") + ".")
    het = []
    if reg.method != "FE" and _finite(reg.tau2):
        het.append(f"τ² = {number(reg.tau2, 4)}")
    if _finite(reg.i2):
        het.append(f"I² = {number(reg.i2, 1)}%")
    if _finite(reg.qe):
        het.append(f"QE({reg.qe_df}) = {number(reg.qe, 2)}"
                   + (f", {p_text(reg.qe_pval)}" if _finite(reg.qe_pval) else ""))
    if het:
        parts.append("Residual heterogeneity: " + "; ".join(het) + ".")
    if reg.r2 is not None and np.isfinite(reg.r2):
        parts.append(f"The moderators accounted for {number(reg.r2, 1)}% of the "
                     "heterogeneity (pseudo-R²).")
    if not reg.converged:
        parts.append("The estimator did not converge; the estimates may be unreliable.")
    return _sentence(" ".join(parts))

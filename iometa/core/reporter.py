"""Methods and results in words, like metafor's ``reporter()``: one paragraph each.

:func:`methods_text` says what was fitted (measure and its transformation, model, τ² estimator
with its reference, test, interval methods, continuity corrections, software);
:func:`results_text` gives the numbers of a fitted result (k, patients, the pooled estimate
with its CI, the prediction interval, τ², I² and the Q-test). Every number is an attribute of
the result, formatted here and never recomputed; what a result does not define (NaN) is left
out or said in words. The result types expose these as ``res.methods_text()`` and
``res.results_text()``; subgroup results are worded in :mod:`iometa.compare.reporter`.

Example
-------
>>> import iometa
>>> res = iometa.pool([0.1, 0.5, 0.9], [0.04, 0.05, 0.06], method="DL")
>>> "DerSimonian & Laird 1986" in methods_text(res)
True
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from .._version import __version__
from .format import fmt, fmt_p
from .measures import MEASURES
from .methods import REGISTRY

__all__ = ["methods_text", "number", "p_text", "results_text"]

#: what the pooled quantity is called in the results, by measure family / measure
_NOUN = {"proportion": "proportion", "median": "median", "survival_rate": "survival rate",
         "rate": "incidence rate", "GEN": "effect", "RD": "risk difference",
         "MD": "mean difference", "SMD": "standardised mean difference"}

#: the prediction intervals other than metafor's, in words
_PI_WORDS = {
    "hts": "from the t distribution with k − 2 degrees of freedom and the usual standard "
           "error (Higgins, Thompson & Spiegelhalter 2009)",
    "v": "from the t distribution with k − 1 degrees of freedom and the usual standard error "
         "(Veroniki et al. 2019)",
    "hk-pr": "from the t distribution with k − 2 degrees of freedom and the Knapp–Hartung "
             "standard error (Partlett & Riley 2017)",
}

_TEST_KH = ("the Knapp–Hartung adjustment (t distribution with k − 1 degrees of freedom; "
            "Hartung & Knapp 2001)")
_TEST_Z = "Wald-type z tests and intervals (normal distribution)"


def number(x: float, digits: int) -> str:
    """``x`` with ``digits`` decimals (:func:`iometa.core.format.fmt`)."""
    return fmt(x, digits)


def p_text(p: float, digits: int = 3) -> str:
    """A p-value in words: ``p = 0.043`` or ``p < 0.001`` (:func:`~iometa.core.format.fmt_p`).

    Example
    -------
    >>> p_text(0.04321), p_text(1e-6)
    ('p = 0.043', 'p < 0.001')
    """
    s = fmt_p(p, digits)
    return f"p < 0{s[1:]}" if s.startswith("<") else f"p = {s}"


def _finite(*xs) -> bool:
    return all(x is not None and math.isfinite(float(x)) for x in xs)


def _lvl(level: float) -> str:
    return f"{round(100 * level):g}%"


def _plural(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def _sentence(s: str) -> str:
    return s[:1].upper() + s[1:]


# ------------------------------------------------------------------------ methods
def measure_words(measure: str, kind: str = "") -> str:
    """The effect measure in a phrase, with its transformation and back-transformation.

    Example
    -------
    >>> measure_words("PLO")
    'the logit-transformed proportions, back-transformed with the inverse logit'
    """
    m = MEASURES.get(measure)
    if m is None:
        return f"the effect sizes (measure {measure})"
    back = m.back_words
    back_s = f", back-transformed with {back}" if back else ""
    if m.family == "proportion":
        body = ("the untransformed (raw) proportions" if measure == "PR"
                else f"the {m.scale_name}-transformed proportions")
        if m.uses_n:  # the Freeman–Tukey double arcsine
            body = "the Freeman–Tukey double-arcsine-transformed proportions"
        return body + back_s
    if m.family == "rate":
        body = ("the untransformed incidence rates" if measure == "IR"
                else f"the {m.scale_name}-transformed incidence rates")
        return body + back_s
    if m.family == "median":
        return ("the medians (months)" if measure == "MED"
                else "the log-transformed medians" + back_s)
    if m.family == "survival_rate":
        return f"the {m.scale_name}-transformed survival rates" + back_s
    if measure == "GEN":
        return "the effect sizes as given (generic inverse-variance data)"
    if back == "exponentiation":
        return f"the {m.scale_name}s, exponentiated for reporting"
    return f"the {m.scale_name}s"


def _model_words(res) -> str:
    method = res.method
    fixed = getattr(res, "_tau2_fixed", False)
    if method == "MH":
        refs = {"OR": "Mantel & Haenszel 1959; variance by Robins, Breslow & Greenland 1986",
                "RR": "Mantel & Haenszel 1959; Greenland & Robins 1985",
                "RD": "Mantel & Haenszel 1959; Greenland & Robins 1985"}[res.measure]
        return ("a common-effect Mantel–Haenszel model was fitted to the 2 × 2 tables "
                f"({refs}), pooling {measure_words(res.measure)} from the uncorrected tables")
    if method == "Peto":
        return ("a common-effect model with Peto's one-step odds ratio was fitted to the "
                "2 × 2 tables (Yusuf et al. 1985), from the uncorrected tables")
    if method == "GLMM":
        if res.extra.get("family") == "poisson":
            return ("a Poisson-normal generalised linear mixed model (random-intercept Poisson "
                    "regression on the log incidence rates) was fitted by maximum likelihood "
                    "(Stijnen, Hamza & Özdemir 2010), back-transformed with exponentiation")
        nagq = res.extra.get("nagq")
        quad = (f" with {nagq}-point adaptive Gauss–Hermite quadrature" if nagq
                else "")
        return ("a binomial-normal generalised linear mixed model (random-intercept logistic "
                f"regression on the logit proportions) was fitted by maximum likelihood{quad} "
                "(Stijnen, Hamza & Özdemir 2010), back-transformed with the inverse logit")
    if method in ("MM", "WM"):
        how = "median" if method == "MM" else "sample-size-weighted median"
        return (f"the study medians were pooled by their {how} (the median-of-medians method "
                "of McGrath et al. 2019)")
    what = measure_words(res.measure, getattr(res, "kind", ""))
    if method == "FE" and not fixed:
        entry = REGISTRY["FE"]
        return f"a {entry.name} model ({entry.reference}) was fitted to {what}"
    if fixed:
        return (f"a random-effects (inverse-variance) model with τ² fixed at "
                f"{number(res.spec.tau2, 4)} was fitted to {what}")
    entry = REGISTRY[method]
    name = entry.name.removeprefix("random-effects, ")
    return (f"a random-effects (inverse-variance) model was fitted to {what}; the "
            f"between-study variance τ² was estimated with the {name} estimator "
            f"({method}; {entry.reference})")


def _test_words(res) -> str:
    if res.method in ("MM", "WM"):
        return ("The confidence interval of the pooled median is the distribution-free "
                "interval of McGrath et al. 2019; no test statistic is computed.")
    if res.method == "GLMM":
        return ("Tests and confidence intervals used the t distribution with k − 1 degrees "
                "of freedom (unadjusted standard error; the GLMM has no Knapp–Hartung "
                "adjustment)." if res.test == "knha"
                else f"Tests and confidence intervals were {_TEST_Z}.")
    if res.test == "knha":
        adhoc = (" with the ad hoc correction flooring its scale factor at 1 (Knapp & "
                 "Hartung 2003)" if getattr(res, "adhoc", False) else "")
        return f"Tests and confidence intervals used {_TEST_KH}{adhoc}."
    return f"Tests and confidence intervals were {_TEST_Z}."


def _pi_words(res) -> str:
    if res.method in ("FE", "MH", "Peto", "MM", "WM") and not getattr(res, "_tau2_fixed",
                                                                       False):
        return ""
    if not _finite(res.pi_low, res.pi_high) or res.k < 2:
        return ""
    if res.method == "GLMM":
        return ("A prediction interval for the effect in a new study was formed as metafor's "
                "rma.glmm does (Riley, Higgins & Deeks 2011).")
    pim = getattr(res, "pi_method", "metafor")
    if pim == "metafor":
        how = ("from the t distribution with k − 1 degrees of freedom and the Knapp–Hartung "
               "standard error" if res.test == "knha" else "from the normal distribution")
        how += " as metafor's predict.rma does (Riley, Higgins & Deeks 2011)"
    else:
        how = _PI_WORDS[pim]
    return f"A prediction interval for the effect in a new study was computed {how}."


def _heterogeneity_words(res) -> str:
    if res.method in ("MM", "WM") or res.k < 2:
        return ""
    q = ("a Wald-type Q-test" if res.method == "GLMM" else "Cochran's Q-test")
    ci = (" with Q-profile confidence intervals for τ² and I² (Viechtbauer 2007)"
          if _finite(*res.tau2_ci) else "")
    return (f"Heterogeneity was assessed with {q} and the I² statistic (Higgins & Thompson "
            f"2002){ci}.")


def _correction_words(res) -> str:
    extra = res.extra
    if res.method in ("MH", "Peto"):
        return ("For Q and I², 1/2 was added to every cell of the tables with a zero cell; "
                "tables with no events in either group were left out of them.") \
            if _any_zero_cells(res) else ""
    corrected = extra.get("corrected")
    if corrected is None and getattr(res, "kind", "") == "comparative":
        studies = res.studies
        corrected = studies["corrected"].to_numpy() if "corrected" in studies else None
    if corrected is None:
        return ""
    n = int(np.asarray(corrected, dtype=bool).sum())
    if n == 0:
        return ""
    add = extra.get("add", 0.5)
    cells = ("every cell of" if getattr(res, "kind", "") == "comparative"
             else "the events and non-events of")
    return (f"A continuity correction of {add:g} was added to {cells} "
            f"{_plural(n, 'study', 'studies')} with a zero count.")


def _any_zero_cells(res) -> bool:
    studies = res.studies
    cols = ("events_1", "total_1", "events_2", "total_2")
    if not all(c in studies for c in cols):
        return False
    a, n1, c, n2 = (studies[c].to_numpy(dtype=float) for c in cols)
    return bool(((a == 0) | (a == n1) | (c == 0) | (c == n2)).any())


def _weights_words(res) -> str:
    spec, inputs = res.spec, res.inputs
    if spec is None or res.method not in REGISTRY:
        return ""
    if not getattr(spec, "weighted", True):
        return ("The pooled estimate is the unweighted mean of the effects (τ² and the "
                "heterogeneity statistics as usual).")
    if inputs is not None and "weights" in inputs and res.method != "GENQ":
        return ("The pooled estimate and its standard error used user-supplied weights (τ² "
                "and the heterogeneity statistics as usual).")
    return ""


def software_words() -> str:
    """The closing sentence naming the software and its version."""
    return f"The analysis was carried out with iometa {__version__} (Python)."


def methods_text(res) -> str:
    """One paragraph describing how a :class:`~iometa.MetaResult` was fitted.

    It names the measure with its transformation and back-transformation, the model (common
    or random effects, Mantel–Haenszel, Peto, GLMM, median of medians), the τ² estimator with
    the reference of :data:`iometa.core.methods.REGISTRY`, the test (z or Knapp–Hartung t), the
    interval methods, the prediction interval when one is computed, continuity corrections when
    applied, and the software version (metafor's ``reporter()``, in one paragraph).

    Example
    -------
    >>> import iometa
    >>> res = iometa.pool([0.1, 0.5, 0.9], [0.04, 0.05, 0.06], method="PM", test="knha")
    >>> text = methods_text(res)
    >>> "Paule & Mandel 1982" in text, "Knapp–Hartung" in text
    (True, True)
    """
    parts = [_sentence(_model_words(res)) + ".", _weights_words(res), _test_words(res),
             _pi_words(res), _heterogeneity_words(res), _correction_words(res),
             software_words()]
    return " ".join(p for p in parts if p)


# ------------------------------------------------------------------------ results
def default_digits(res, pscale: float = 1) -> int:
    """Decimals for a result's reporting scale: 1 for percentages and months, 3 for
    proportions and rates on their own scale, else 2."""
    if pscale != 1:
        return 1
    family = MEASURES[res.measure].family if res.measure in MEASURES else ""
    if family == "median":
        return 1
    return 3 if family in ("proportion", "survival_rate", "rate") else 2


def noun(res) -> str:
    """What the pooled quantity is called ("proportion", "odds ratio", "effect", …)."""
    m = MEASURES.get(res.measure)
    if m is None:
        return "effect"
    if res.measure in _NOUN:
        return _NOUN[res.measure]
    if m.family in _NOUN:
        return _NOUN[m.family]
    return m.label[:1].lower() + m.label[1:] if m.label else "effect"


def unit_noun(res, n: int) -> str:
    """What the studies' n counts: the table's ``unit_of_analysis`` when every row shares one
    (lesions, sessions, ...), else patients."""
    data = getattr(res, "data", None)
    noun = "patients"
    if isinstance(data, pd.DataFrame) and "unit_of_analysis" in data:
        units = {str(u) for u in data["unit_of_analysis"].dropna()}
        if len(units) == 1 and units <= {"lesions", "sessions", "procedures", "patients"}:
            noun = units.pop()
    return noun[:-1] if n == 1 else noun


def n_patients(res) -> int | None:
    """The total number of patients (or lesions, see :func:`unit_noun`) of a result's
    studies, when its table has them."""
    studies = res.studies
    if "n" not in studies:
        return None
    n = studies["n"].to_numpy(dtype=float)
    if not np.isfinite(n).any():
        return None
    return int(np.nansum(n))


def _scaled(x, pscale, digits):
    return number(x * pscale, digits) + ("%" if pscale == 100 else "")


def interval(lo, hi, pscale: float, digits: int) -> str:
    """``lo to hi`` on the reporting scale times ``pscale`` ("" when undefined)."""
    if not _finite(lo, hi):
        return ""
    return f"{_scaled(lo, pscale, digits)} to {_scaled(hi, pscale, digits)}"


def _units(res) -> str:
    if getattr(res, "kind", "") == "rate":
        per, unit = res.extra.get("per", 1.0), res.extra.get("unit", "person-time")
        return f" per {unit}" if per == 1 else f" per {per:g} {unit}"
    return " months" if getattr(res, "scale", "") == "months" else ""


def estimate_words(res, pscale: float = 1, digits: int | None = None, test: str = "") -> str:
    """The pooled estimate with its CI, e.g. ``0.255 (95% CI 0.201 to 0.318)``; ``test`` is
    added inside the parentheses.

    Example
    -------
    >>> import iometa
    >>> estimate_words(iometa.pool([0.1, 0.5, 0.9], [0.04, 0.05, 0.06], method="DL"))
    '0.48 (95% CI 0.03 to 0.94)'
    """
    d = default_digits(res, pscale) if digits is None else digits
    units = _units(res)
    ci = interval(res.ci_low, res.ci_high, pscale, d)
    if ci and res.ci_low == res.ci_high:
        ci = ""
    inner = (f"{_lvl(res.level)} CI {ci}{units}" if ci else
             f"{_lvl(res.level)} CI of zero width" if _finite(res.ci_low)
             and res.ci_low == res.ci_high and res.k > 1 else "no confidence interval")
    return _scaled(res.estimate, pscale, d) + units + f" ({inner}{'; ' + test if test else ''})"


def heterogeneity_words(res, digits: int = 4) -> str:
    """τ² (with its CI), I² (with its CI) and the Q-test, in one sentence ("" for k = 1)."""
    if res.k < 2 or not _finite(res.q):
        return ""
    bits = []
    if res.method not in ("FE", "MH", "Peto") and _finite(res.tau2):
        ci = interval(res.tau2_ci[0], res.tau2_ci[1], 1, digits)
        bits.append(f"τ² = {number(res.tau2, digits)}"
                    + (f" ({_lvl(res.level)} CI {ci})" if ci else ""))
    if _finite(res.i2):
        ci = interval(res.i2_ci[0], res.i2_ci[1], 1, 1)
        bits.append(f"I² = {number(res.i2, 1)}%"
                    + (f" ({_lvl(res.level)} CI {ci.replace(' to ', '% to ')}%)" if ci
                       else ""))
    q = f"Q({res.q_df}) = {number(res.q, 2)}"
    if _finite(res.q_pval):
        q += f", {p_text(res.q_pval)}"
    bits.append(q)
    return "Heterogeneity: " + "; ".join(bits) + "."


def results_text(res, pscale: float = 1, digits: int | None = None) -> str:
    """One paragraph with the numbers of a :class:`~iometa.MetaResult`.

    k and the number of patients (when the studies have ``n``), the pooled estimate with its
    CI on the reporting scale (``pscale=100``: in percent), the prediction interval (random
    effects), the test of the pooled effect (comparative and generic effects), τ², I² with
    their CIs and the Q-test. ``digits``: decimals of the reporting scale (default: 3 for
    proportions and rates, 1 for percentages, else 2); τ² has 4, I² 1 and Q 2. Numbers are the
    result's attributes, formatted; undefined ones are left out.

    Example
    -------
    >>> import iometa
    >>> res = iometa.pool_proportions([13, 4, 9, 1], [51, 30, 40, 12], method="DL")
    >>> results_text(res, pscale=100).split(". ")[0]
    'The analysis included 4 studies with 133 patients'
    """
    d = default_digits(res, pscale) if digits is None else digits
    n = n_patients(res)
    studies = _plural(res.k, "study", "studies")
    who = f"The analysis included {studies}" + (
        f" with {n} {unit_noun(res, n)}" if n is not None else "") + "."
    test = ""
    family = MEASURES[res.measure].family if res.measure in MEASURES else ""
    if family in ("generic", "binary", "continuous", "reported") and _finite(res.stat, res.pval):
        stat = "t" if res.test == "knha" else "z"
        dfs = f"({number(res.df, 0)})" if stat == "t" and res.df is not None else ""
        test = f"{stat}{dfs} = {number(res.stat, 2)}, {p_text(res.pval)}"
    what = f"The pooled {noun(res)}" if res.k > 1 else f"The {noun(res)} of the single study"
    parts = [who, f"{what} was {estimate_words(res, pscale, d, test)}."]
    pi = interval(res.pi_low, res.pi_high, pscale, d)
    if pi and (res.method == "GLMM" or (res.method in REGISTRY and res.method != "FE")) \
            and res.k > 1:
        parts.append(f"The {_lvl(res.level)} prediction interval was {pi}{_units(res)}.")
    if res.k == 1:
        parts.append("With one study, heterogeneity cannot be estimated.")
    else:
        parts.append(heterogeneity_words(res))
    if not res.converged:
        parts.append("The estimator did not converge; the estimates may be unreliable.")
    return " ".join(p for p in parts if p)


# ------------------------------------------------------------------------ multilevel

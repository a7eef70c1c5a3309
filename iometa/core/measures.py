"""The one registry of effect measures: code -> family, scale names, back-transformation.

Effects, models, plots and the report read measure facts only from here, so a new measure
family is one row (and its effect-size function). Names follow metafor's ``escalc`` codes;
iometa's own codes are ``GEN`` (generic effects, :func:`iometa.pool`), ``MED``/``MEDLN``
(medians on the month or log scale) and ``SRCLL``/``SRLO`` (survival rates on the
complementary log-log or logit scale).

Example
-------
>>> MEASURES["PFT"].scale_name, MEASURES["PFT"].default_add
('Freeman–Tukey', 0.0)
>>> float(backtransform("PLO", [0.0])[0])
0.5
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from .transforms import exp, iarcsin, identity, iirft_hm, ilogit, ipft_hm, isquare

__all__ = ["MEASURES", "Measure", "backtransform", "measure", "scale_name"]


def _icloglog_survival(x, **_):
    """Survival rate from the complementary log-log scale: S = exp(−exp(y))."""
    x = np.asarray(x, dtype=float)
    with np.errstate(over="ignore"):  # exp(y) = inf for huge y: S = 0, as it should be
        return np.exp(-np.exp(x))


@dataclass(frozen=True)
class Measure:
    """One effect measure.

    ``family``: what the effects are ("proportion", "generic", "median", "survival_rate");
    ``scale_name``: the model scale in a phrase ("logit", "Freeman–Tukey", …);
    ``transformation``: the forest-plot footnote phrase; ``axis``: the reporting scale of plots
    ("proportion", "months", "model"); ``backtransform``: model -> reporting scale (takes the
    studies' ``n`` where it needs them: Freeman–Tukey, ``uses_n``); ``default_add``: escalc's
    default continuity correction for zero cells (None: the measure takes none);
    ``decreasing``: the back-transformation reverses the order (interval ends swap);
    ``bounded``: False where back-transformed values can leave [0, 1] (raw and log
    proportions).
    """

    code: str
    family: str
    scale_name: str
    transformation: str
    axis: str
    backtransform: Callable[..., np.ndarray]
    default_add: float | None = None
    decreasing: bool = False
    uses_n: bool = False  # the back-transformation needs the studies' sample sizes
    bounded: bool = True  # the back-transformed values stay inside the reporting range
    label: str = ""  # axis label of the reporting scale ("Odds ratio"), where it has one
    back_words: str = ""  # the back-transformation in words ("the inverse logit"), if any


#: how each measure's model-scale values return to the reporting scale, in words (methods
#: text; absent: they need none)
_BACK_WORDS = {
    "PLN": "exponentiation", "PLO": "the inverse logit", "PAS": "the inverse arcsine (sin²)",
    "PFT": "Miller's inverse with the harmonic mean of the sample sizes",
    "MEDLN": "exponentiation", "SRCLL": "S = exp(−exp(y))", "SRLO": "the inverse logit",
    "OR": "exponentiation", "RR": "exponentiation", "PETO": "exponentiation",
    "ROM": "exponentiation", "HR": "exponentiation", "IRR": "exponentiation",
    "IRLN": "exponentiation", "IRS": "squaring",
    "IRFT": "the inverse Freeman–Tukey transformation with the harmonic mean of the "
            "person-times",
}

MEASURES: dict[str, Measure] = {m.code: m for m in (
    Measure("PR", "proportion", "linear", "untransformed proportions", "proportion", identity,
            0.5, bounded=False),
    Measure("PLN", "proportion", "log", "log transformation", "proportion", exp, 0.5,
            bounded=False),
    Measure("PLO", "proportion", "logit", "logit transformation", "proportion", ilogit, 0.5),
    Measure("PAS", "proportion", "arcsine", "arcsine transformation", "proportion", iarcsin,
            0.0),
    Measure("PFT", "proportion", "Freeman–Tukey", "Freeman–Tukey double arcsine transformation",
            "proportion", ipft_hm, 0.0, uses_n=True),
    Measure("GEN", "generic", "model", "", "model", identity),
    Measure("MED", "median", "median", "medians in months", "months", identity),
    Measure("MEDLN", "median", "log median", "log transformation of the medians", "months", exp),
    Measure("SRCLL", "survival_rate", "cloglog",
            "complementary log-log transformation of the survival rates", "proportion",
            _icloglog_survival, decreasing=True),
    Measure("SRLO", "survival_rate", "logit", "logit transformation of the survival rates",
            "proportion", ilogit),
    Measure("OR", "binary", "log odds ratio", "odds ratios", "ratio", exp, 0.5,
            label="Odds ratio"),
    Measure("RR", "binary", "log risk ratio", "risk ratios", "ratio", exp, 0.5,
            label="Risk ratio"),
    Measure("RD", "binary", "risk difference", "risk differences", "model", identity, 0.5,
            bounded=False),
    Measure("PETO", "binary", "log odds ratio (Peto)", "Peto odds ratios", "ratio", exp,
            label="Odds ratio"),
    Measure("MD", "continuous", "mean difference", "mean differences", "model", identity,
            bounded=False),
    Measure("SMD", "continuous", "standardised mean difference (Hedges' g)",
            "standardised mean differences", "model", identity, bounded=False),
    Measure("ROM", "continuous", "log ratio of means", "ratios of means", "ratio", exp,
            label="Ratio of means"),
    Measure("HR", "reported", "log hazard ratio", "hazard ratios", "ratio", exp,
            label="Hazard ratio"),
    Measure("IRR", "reported", "log incidence rate ratio", "incidence rate ratios", "ratio",
            exp, label="Incidence rate ratio"),
    Measure("IR", "rate", "linear", "untransformed incidence rates", "rate", identity, 0.5,
            bounded=False),
    Measure("IRLN", "rate", "log", "log transformation of the incidence rates", "rate", exp,
            0.5),
    Measure("IRS", "rate", "square root", "square-root transformation of the incidence rates",
            "rate", isquare, 0.0),
    Measure("IRFT", "rate", "Freeman–Tukey", "Freeman–Tukey transformation of the incidence "
            "rates", "rate", iirft_hm, 0.0, uses_n=True),
)}
MEASURES = {c: replace(x, back_words=_BACK_WORDS.get(c, "")) for c, x in MEASURES.items()}

#: the single-proportion measures, in escalc's order
PROPORTION_MEASURES = tuple(c for c, m in MEASURES.items() if m.family == "proportion")


def measure(code: str) -> Measure:
    """The registry row of ``code`` (ValueError naming the known codes otherwise)."""
    try:
        return MEASURES[code]
    except KeyError:
        raise ValueError(f"unknown measure {code!r}: expected one of "
                         f"{', '.join(MEASURES)}") from None


def scale_name(code: str, ascii: bool = False) -> str:
    """The model scale of ``code`` in a word ("logit", "Freeman–Tukey", …); the code itself
    for measures outside the registry. ``ascii=True`` spells dashes as hyphens (tables)."""
    name = MEASURES[code].scale_name if code in MEASURES else code
    return name.replace("–", "-") if ascii else name


def backtransform(code: str, x, n=None) -> np.ndarray:
    """``x`` (model scale) on the reporting scale of measure ``code``; ``n``: the studies'
    sample sizes, used by the Freeman–Tukey inverse (harmonic mean, metafor's
    ``transf.ipft.hm``)."""
    return MEASURES[code].backtransform(np.asarray(x, dtype=float), n=n)

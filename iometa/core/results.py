"""The result object of every pooled model: :class:`MetaResult`.

One immutable type for proportions, generic effects, medians and survival rates, so that
forest plots, subgroups, leave-one-out and bias tests take any result unchanged.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from . import verbs
from ._lazy import Deferred, LazyField
from .estimators import REGISTRY
from .spec import ModelSpec, refit

__all__ = ["Deferred", "MetaResult"]

#: the methods that fit a common-effect model (τ² = 0 by definition)
COMMON_EFFECT_METHODS = ("FE", "MH", "Peto")

#: plain-language model names: the τ² methods from the one registry, plus the other models
_METHOD_NAMES = {
    **{code: m.name for code, m in REGISTRY.items()},
    "GLMM": "random-effects, binomial-normal GLMM (maximum likelihood)",
    "MH": "common-effect, Mantel-Haenszel",
    "Peto": "common-effect, Peto (one-step odds ratio)",
    "MM": "median of medians (McGrath et al. 2019)",
    "WM": "n-weighted median of medians (McGrath et al. 2019)",
}


@dataclass(frozen=True, eq=False)
class MetaResult:
    """A fitted meta-analysis (metafor's ``rma`` object, made immutable).

    Reporting scale (proportions for :func:`iometa.pool_proportions`, months for medians, the
    model scale for :func:`iometa.pool`): ``estimate``, ``ci_low``, ``ci_high``, ``pi_low``,
    ``pi_high``. Model scale: ``coef``, ``se``, ``stat``, ``pval``, ``coef_ci_low``,
    ``coef_ci_high``, ``coef_pi_low``, ``coef_pi_high``, ``df`` (t df under Knapp–Hartung, else
    None). Heterogeneity: ``k``, ``tau2``, ``tau2_ci``, ``i2`` (percent), ``i2_ci``, ``h2``,
    ``h2_ci``, ``q``, ``q_df``, ``q_pval``. Per study: ``studies`` (DataFrame with label, yi,
    vi, weight in percent, study estimate and CI on the reporting scale).
    ``studies`` and the three heterogeneity intervals may be passed as :class:`Deferred`: they
    are then computed on first access (the pool functions do this; the values are the same).

    For the common-effect model τ² = 0 by definition and ``tau2_ci``/``i2_ci``/``h2_ci`` are
    (nan, nan): no interval exists (metafor's ``confint`` refuses too); the prediction interval
    equals the CI. For k = 1 the heterogeneity statistics are not estimable: τ² = 0, Q = 0,
    I² = 0, H² = 1, the CIs are (nan, nan), and a warning says so.

    Example
    -------
    >>> import iometa
    >>> res = iometa.pool([0.1, 0.5, 0.9], [0.04, 0.05, 0.06], method="DL")
    >>> round(res.coef, 4), round(res.tau2, 4)
    (0.4834, 0.1107)
    """

    # what was fitted
    measure: str
    method: str
    test: str
    level: float
    kind: str  # "generic", "proportion", "median", "survival_rate"
    scale: str  # reporting scale label, e.g. "proportion", "months", "model"
    # reporting scale
    estimate: float
    ci_low: float
    ci_high: float
    pi_low: float
    pi_high: float
    # model scale
    coef: float
    se: float
    stat: float
    pval: float
    coef_ci_low: float
    coef_ci_high: float
    coef_pi_low: float
    coef_pi_high: float
    df: float | None
    # heterogeneity
    k: int
    tau2: float
    tau2_ci: tuple[float, float] = LazyField()
    i2: float
    i2_ci: tuple[float, float] = LazyField()
    h2: float
    h2_ci: tuple[float, float] = LazyField()
    q: float
    q_df: int
    q_pval: float
    # per study and provenance
    studies: pd.DataFrame = LazyField()
    converged: bool = True
    n_iter: int = 0
    warnings: tuple[str, ...] = ()
    data: pd.DataFrame | None = field(default=None, repr=False)
    extra: dict[str, Any] = field(default_factory=dict, repr=False)
    _backtransform: Callable[[np.ndarray], np.ndarray] | None = field(default=None, repr=False)
    # what was fitted (frozen spec) and the per-study arrays it was fitted to: refit() reads them
    spec: ModelSpec | None = field(default=None, repr=False)
    inputs: Mapping[str, Any] | None = field(default=None, repr=False)
    # how the prediction interval was formed and whether Knapp-Hartung was ad hoc corrected
    pi_method: str = "metafor"
    adhoc: bool = False

    # ------------------------------------------------------------------ derived
    @property
    def common_effect(self) -> bool:
        """True for common-effect models (inverse-variance FE, Mantel–Haenszel, Peto)."""
        return self.method in COMMON_EFFECT_METHODS

    @property
    def tau(self) -> float:
        """τ, the between-study standard deviation (model scale)."""
        return math.sqrt(self.tau2)

    @property
    def labels(self) -> list[str]:
        """Study labels in study order."""
        return [str(x) for x in self.studies["label"]]

    @property
    def yi(self) -> np.ndarray:
        return self.studies["yi"].to_numpy(dtype=float)

    @property
    def vi(self) -> np.ndarray:
        return self.studies["vi"].to_numpy(dtype=float)

    @property
    def method_name(self) -> str:
        """Plain-language description of the model."""
        if self.method == "GLMM" and self.extra.get("family") == "poisson":
            return "random-effects, Poisson-normal GLMM (maximum likelihood)"
        return _METHOD_NAMES.get(self.method, self.method)

    def backtransform(self, x):
        """Map model-scale values to the reporting scale (identity for generic effects)."""
        x = np.asarray(x, dtype=float)
        return x if self._backtransform is None else self._backtransform(x)

    def refit(self, index=None, **changes) -> MetaResult:
        """Fit the same model again, on the studies ``index`` (positions, or a boolean mask)
        and/or with changed options (``method=``, ``test=``, ``level=``, …): the method form of
        :func:`iometa.refit`, reading only ``spec`` and ``inputs``.

        Example
        -------
        >>> import iometa
        >>> res = iometa.pool([0.1, 0.5, 0.9], [0.04, 0.05, 0.06])
        >>> res.refit([0, 1], method="DL").k
        2
        """
        return refit(self, index, **changes)

    # ------------------------------------------------------------------ metafor's verbs
    def _verb_inputs(self, verb):
        if self.method not in REGISTRY:
            raise TypeError(f"{verb}() needs a model fitted with a tau^2 method "
                            f"({', '.join(REGISTRY)}); this one is {self.method!r}")
        return self.yi, self.vi, np.ones((self.k, 1))

    @property
    def _tau2_fixed(self) -> bool:
        return self.spec is not None and self.spec.tau2 is not None

    @property
    def se_tau2(self) -> float | None:
        """Standard error of τ̂² as metafor's ``res$se.tau2`` (None for the common-effect
        model, a fixed τ² and k = 1, where metafor reports none); formulas in
        :mod:`iometa.core.verbs`.

        Example
        -------
        >>> import iometa
        >>> res = iometa.pool([0.1, 0.5, 0.9, 0.2], [0.04, 0.05, 0.06, 0.03], method="ML")
        >>> round(res.se_tau2, 4)
        0.0587
        """
        y, v, X = self._verb_inputs("se_tau2")
        if self._tau2_fixed or self.k < 2:
            return None
        return verbs.se_tau2(y, v, X, self.tau2, self.method,
                             None if self.inputs is None else self.inputs.get("weights"))

    def predict(self, transf=None) -> pd.DataFrame:
        """metafor's ``predict(res)``: one row with pred, se, ci_low, ci_high, pi_low, pi_high
        on the model scale; ``transf=True`` (the result's back-transformation) or a function
        gives the reporting scale (then without se, as metafor).

        Example
        -------
        >>> import iometa
        >>> res = iometa.pool([0.1, 0.5, 0.9], [0.04, 0.05, 0.06], method="DL")
        >>> res.predict()[["pred", "pi_low"]].round(4).values.tolist()
        [[0.4834, -0.3105]]
        """
        row = {"pred": self.coef, "se": self.se, "ci_low": self.coef_ci_low,
               "ci_high": self.coef_ci_high, "pi_low": self.coef_pi_low,
               "pi_high": self.coef_pi_high}
        fn = self._transf(transf)
        if fn is not None:
            row = {a: float(fn(np.array([x]))[0]) for a, x in row.items() if a != "se"}
        return pd.DataFrame([row])

    def _transf(self, transf):
        if transf is None or transf is False:
            return None
        return self.backtransform if transf is True else transf

    def confint(self, type: str = "QP", level: float | None = None) -> pd.DataFrame:
        """metafor's ``confint(res, type=)``: index tau2, tau, i2 (percent), h2; columns
        estimate, ci_low, ci_high. ``type="QP"`` (Q-profile, metafor's default for every
        method) or ``"PL"`` (profile likelihood: the REML likelihood for REML, the ML one
        otherwise, as metafor's ``logLik``). Limits beyond max(100, 10τ̂²) are reported as that
        bound (``frame.attrs["notes"]`` says so), as metafor.

        Reference: Viechtbauer 2007 (Stat Med 26:37). metafor: ``confint(res, type="PL")``.

        Example
        -------
        >>> import iometa
        >>> res = iometa.pool([0.1, 0.5, 0.9, 0.2], [0.04, 0.05, 0.06, 0.03])
        >>> list(res.confint(type="PL").index)
        ['tau2', 'tau', 'i2', 'h2']
        """
        y, v, X = self._verb_inputs("confint")
        if self.k < 2:
            raise ValueError("k = 1: tau^2 cannot be estimated, so it has no confidence "
                             "interval (metafor stops too)")
        if type == "PL" and self._user_weighted:
            raise ValueError("type='PL' is not implemented for a model with user weights or "
                             "weighted=False; use type='QP'")
        return verbs.confint_frame(y, v, X, self.tau2, self.i2, self.h2, self.method,
                                   self.level if level is None else level, type,
                                   fixed_tau2=self._tau2_fixed)

    def blup(self, transf=None) -> pd.DataFrame:
        """metafor's ``blup(res)``: per study (study order, indexed by label) the best linear
        unbiased prediction of its true effect, pred, se, pi_low, pi_high (t(k − 1) under
        Knapp–Hartung, else z); ``transf`` as in :meth:`predict`.

        Example
        -------
        >>> import iometa
        >>> res = iometa.pool([0.1, 0.5, 0.9], [0.04, 0.05, 0.06], method="DL")
        >>> res.blup()["pred"].round(3).tolist()
        [0.202, 0.495, 0.754]
        """
        return self._shrunken("blup", False, transf)

    def ranef(self, transf=None) -> pd.DataFrame:
        """metafor's ``ranef(res)``: per study the predicted random effect uᵢ (its deviation
        from the pooled effect), pred, se, pi_low, pi_high; 0 for the common-effect model.

        Example
        -------
        >>> import iometa
        >>> res = iometa.pool([0.1, 0.5, 0.9], [0.04, 0.05, 0.06], method="DL")
        >>> res.ranef()["pred"].round(3).tolist()
        [-0.282, 0.011, 0.27]
        """
        return self._shrunken("ranef", True, transf)

    @property
    def _user_weighted(self) -> bool:
        return self.spec is not None and (not self.spec.weighted or (
            self.inputs is not None and "weights" in self.inputs))

    def _shrunken(self, verb, random_part, transf):
        y, v, X = self._verb_inputs(verb)
        if self._user_weighted:
            raise ValueError(f"{verb}() is not available for a model with user weights or "
                             "weighted=False (metafor refuses too)")
        return verbs.shrunken(y, v, X, np.array([self.coef]), np.array([[self.se**2]]),
                              self.tau2, self.level, self.df, random_part=random_part,
                              fe=self.method == "FE" and not self._tau2_fixed,
                              transf=self._transf(transf), labels=self.labels)

    def with_warnings(self, *msgs: str) -> MetaResult:
        """A copy with ``msgs`` appended to ``warnings`` (deferred fields stay deferred)."""
        new = copy.copy(self)
        object.__setattr__(new, "warnings", self.warnings + tuple(msgs))
        return new

    # ------------------------------------------------------------------ output
    def to_frame(self) -> pd.DataFrame:
        """One tidy row: the fitted model's numbers."""
        row = {
            "measure": self.measure, "method": self.method, "test": self.test,
            "k": self.k, "estimate": self.estimate, "ci_low": self.ci_low,
            "ci_high": self.ci_high, "pi_low": self.pi_low, "pi_high": self.pi_high,
            "coef": self.coef, "se": self.se, "stat": self.stat, "pval": self.pval,
            "tau2": self.tau2, "tau2_ci_low": self.tau2_ci[0], "tau2_ci_high": self.tau2_ci[1],
            "i2": self.i2, "i2_ci_low": self.i2_ci[0], "i2_ci_high": self.i2_ci[1],
            "h2": self.h2, "q": self.q, "q_df": self.q_df, "q_pval": self.q_pval,
            "converged": self.converged,
        }
        if "n" in self.studies:
            row["n_total"] = int(np.nansum(self.studies["n"].to_numpy(dtype=float)))
        return pd.DataFrame([row])

    summary_frame = to_frame

    def summary(self, digits: int = 4, common: bool = False, pscale: float = 1) -> str:
        """A readable text block like metafor's ``print.rma``. ``common=True`` adds the
        common-effect (inverse-variance) and the random-effects estimates side by side with
        the prediction interval, as meta's ``print.meta`` does (the common-effect model is this
        result refitted with ``method="FE"`` and the z test). ``pscale`` multiplies the
        reporting-scale estimate and intervals of proportions and survival rates (100: percent,
        as meta's ``pscale``); the model-scale numbers are unchanged.

        Example
        -------
        >>> import iometa
        >>> res = iometa.pool([0.1, 0.5, 0.9, 0.3], [0.04, 0.05, 0.06, 0.02], method="DL")
        >>> "Common effect model" in res.summary(common=True)
        True
        >>> prop = iometa.pool_proportions([13, 4, 9], [51, 30, 40])
        >>> "reporting scale (percent)" in prop.summary(pscale=100)
        True
        """
        from .format import both_models, check_pscale, result_summary

        check_pscale(self, pscale)
        text = result_summary(self, digits, pscale)
        if not common:
            return text
        if self.method not in REGISTRY or self.method == "FE":
            raise ValueError("common=True needs a random-effects result fitted with a tau^2 "
                             f"method (this one is {self.method!r})")
        import warnings as _w

        with _w.catch_warnings():
            _w.simplefilter("ignore")
            changes: dict[str, Any] = {"method": "FE", "test": "z"}  # meta: z for the common
            if self.spec is not None and "adhoc" in self.spec.options():  # effect
                changes["adhoc"] = False
            fe = self.refit(**changes)
        return both_models(self, fe, digits, pscale) + "\n\n" + text

    def methods_text(self) -> str:
        """The methods in one paragraph (metafor's ``reporter()``): measure, model, τ²
        estimator with its reference, test, interval methods, corrections and software; see
        :func:`iometa.core.reporter.methods_text`.

        Example
        -------
        >>> import iometa
        >>> res = iometa.pool([0.1, 0.5, 0.9], [0.04, 0.05, 0.06], method="REML")
        >>> "restricted maximum likelihood estimator" in res.methods_text()
        True
        """
        from .reporter import methods_text

        return methods_text(self)

    def results_text(self, pscale: float = 1, digits: int | None = None) -> str:
        """The results in one paragraph: k, patients, the pooled estimate with its CI
        (``pscale=100``: percent), the prediction interval, τ², I² and the Q-test; see
        :func:`iometa.core.reporter.results_text`.

        Example
        -------
        >>> import iometa
        >>> res = iometa.pool([0.1, 0.5, 0.9], [0.04, 0.05, 0.06], method="DL")
        >>> res.results_text().split(". ")[1]
        'The pooled effect was 0.48 (95% CI 0.03 to 0.94; z = 2.09, p = 0.036)'
        """
        from .reporter import results_text

        return results_text(self, pscale=pscale, digits=digits)

    def __str__(self) -> str:
        return self.summary()

    def __repr__(self) -> str:
        from .format import fmt_pct, one_line

        het = "" if self.common_effect or self.k < 2 else \
            f"tau2={self.tau2:.3g}, I2={fmt_pct(self.i2)}"
        return one_line("MetaResult", (self.measure, self.method, f"k={self.k}"),
                        self.estimate, (self.ci_low, self.ci_high), het)

    def _repr_html_(self, pscale: float = 1) -> str:
        """The Jupyter display: model, estimate [CI] and PI (``pscale`` as in
        :meth:`summary`), heterogeneity and the studies."""
        from .format import result_html

        return result_html(self, pscale)

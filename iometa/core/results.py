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

    def summary(self, digits: int = 4) -> str:
        """A readable text block like metafor's ``print.rma``."""
        from .format import result_summary

        return result_summary(self, digits)

    def __str__(self) -> str:
        return self.summary()

    def __repr__(self) -> str:
        return (f"MetaResult(k={self.k}, method={self.method!r}, measure={self.measure!r}, "
                f"estimate={self.estimate:.4g} [{self.ci_low:.4g}, {self.ci_high:.4g}], "
                f"tau2={self.tau2:.4g}, i2={self.i2:.1f}%)")

    def _repr_html_(self) -> str:
        from .format import result_html

        return result_html(self)

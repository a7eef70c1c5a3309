"""The result of :func:`iometa.pool_multilevel`: :class:`MultilevelResult`.

Profile-likelihood intervals of the variance components and the likelihood-ratio tests against
the two-level models are computed on first access (they need further fits); the numbers are
those of metafor's ``confint(rma.mv)`` and ``anova(full, reduced)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from .multilevel_core import Blocks, fit

__all__ = ["MultilevelResult", "profile_ci"]


@dataclass(frozen=True, eq=False)
class MultilevelResult:
    """A fitted three-level model (metafor ``rma.mv(yi, vi, random = ~ 1 | cluster/obs)``).

    Coefficients (model scale; floats for the intercept-only model, else arrays named by
    ``terms``): ``coef``, ``se``, ``stat`` (z or t), ``pval``, ``coef_ci_low``,
    ``coef_ci_high``; ``vcov`` (p × p); ``df`` (k − p under ``test="t"``, else None).
    Variance components: ``sigma2`` = (between clusters, within clusters); ``sigma2_ci`` their
    profile-likelihood intervals (metafor ``confint``; an upper limit at metafor's search limit
    is flagged in ``sigma2_ci_capped``). Heterogeneity: ``q``, ``q_df``, ``q_pval`` (the
    fixed-effect Q_E test); ``i2`` (total multilevel I², percent, Cheung 2014) and
    ``i2_levels`` (between, within). Moderators: ``qm``, ``qm_df``, ``qm_pval`` (χ², or F with
    (m, k − p) df under t; None without moderators). Fit: ``loglik`` (metafor's ``logLik``),
    ``lrt``/``lrt_pval`` (against the two-level model without the between-cluster component,
    i.e. rows independent: ``rma(yi, vi)``), ``lrt_within``/``lrt_within_pval`` (against the
    model without the within-cluster component). ``reduced`` names why the model reduced to
    two levels (one cluster, or every cluster of size one), else None.

    Example
    -------
    >>> from iometa.core.multilevel import pool_multilevel
    >>> res = pool_multilevel([0.1, 0.3, 0.5, 0.2, 0.8, 0.9], [0.01] * 6,
    ...                              cluster=[1, 1, 2, 2, 3, 3])
    >>> res.n_clusters, len(res.sigma2)
    (3, 2)
    """

    method: str
    test: str
    level: float
    k: int
    n_clusters: int
    p: int
    terms: tuple[str, ...]
    coef: Any
    se: Any
    stat: Any
    pval: Any
    coef_ci_low: Any
    coef_ci_high: Any
    vcov: np.ndarray
    df: float | None
    sigma2: tuple[float, float]
    q: float
    q_df: int
    q_pval: float
    qm: float | None
    qm_df: int | None
    qm_pval: float | None
    i2: float
    i2_levels: tuple[float, float]
    loglik: float
    converged: bool
    n_iter: int
    yi: np.ndarray = field(repr=False)
    vi: np.ndarray = field(repr=False)
    X: np.ndarray = field(repr=False)
    cluster: np.ndarray = field(repr=False)
    labels: tuple[str, ...] = field(repr=False)
    beta: np.ndarray = field(repr=False)
    reduced: str | None = None
    warnings: tuple[str, ...] = ()
    data: pd.DataFrame | None = field(default=None, repr=False)
    measure: str = "GEN"  # of the pooled result it was built from (GEN: yi/vi given)
    _blocks: Blocks | None = field(default=None, repr=False)
    _fixed: tuple = field(default=(None, None), repr=False)

    @property
    def reml(self) -> bool:
        return self.method == "REML"

    def _back(self, x) -> float:
        from .measures import backtransform

        if self.p != 1:
            return math.nan
        return float(backtransform(self.measure, [float(x)])[0])

    @property
    def estimate(self) -> float:
        """The pooled intercept on the reporting scale of ``measure`` (e.g. a proportion for
        PLO; the model scale for GEN; NaN with moderators)."""
        return self._back(self.coef)

    @property
    def ci_low(self) -> float:
        """Lower CI limit of :attr:`estimate` on the reporting scale."""
        return self._back(self.coef_ci_low)

    @property
    def ci_high(self) -> float:
        """Upper CI limit of :attr:`estimate` on the reporting scale."""
        return self._back(self.coef_ci_high)

    @cached_property
    def _profile(self):
        out, capped = [], []
        for comp in (0, 1):
            if self._fixed[comp] is not None:
                out.append((math.nan, math.nan))
                capped.append(False)
                continue
            ci, cap = profile_ci(self._blocks, self.reml, self.sigma2, self.loglik, comp,
                                 self.level, self._fixed)
            out.append(ci)
            capped.append(cap)
        return tuple(out), tuple(capped)

    @property
    def sigma2_ci(self) -> tuple[tuple[float, float], tuple[float, float]]:
        """Profile-likelihood CIs ((low, high) between, (low, high) within); (nan, nan) for a
        component the model cannot estimate (see ``reduced`` and ``warnings``)."""
        return self._profile[0]

    @property
    def sigma2_ci_capped(self) -> tuple[bool, bool]:
        """Whether an upper limit is metafor's search limit (the true limit lies beyond)."""
        return self._profile[1]

    def _lrt(self, comp):
        if self.reduced is not None:
            return math.nan, math.nan
        fixed = [None, None]
        fixed[comp] = 0.0
        start = list(self.sigma2)
        start[comp] = 0.0
        red = fit(self._blocks, reml=self.reml, start=tuple(start), fixed=tuple(fixed))
        stat = max(0.0, 2 * (self.loglik - red.loglik))
        from scipy.special import chdtrc

        return stat, float(chdtrc(1, stat))

    @cached_property
    def _lrts(self):
        return self._lrt(0), self._lrt(1)

    @property
    def lrt(self) -> float:
        """LRT statistic against the two-level model with σ²_between = 0 (χ², 1 df)."""
        return self._lrts[0][0]

    @property
    def lrt_pval(self) -> float:
        return self._lrts[0][1]

    @property
    def lrt_within(self) -> float:
        """LRT statistic against the model with σ²_within = 0 (χ², 1 df)."""
        return self._lrts[1][0]

    @property
    def lrt_within_pval(self) -> float:
        return self._lrts[1][1]

    def to_frame(self) -> pd.DataFrame:
        """The coefficient table: term, estimate, se, stat, pval, ci_low, ci_high."""
        return pd.DataFrame({"term": list(self.terms), "estimate": np.atleast_1d(self.coef),
                             "se": np.atleast_1d(self.se), "stat": np.atleast_1d(self.stat),
                             "pval": np.atleast_1d(self.pval),
                             "ci_low": np.atleast_1d(self.coef_ci_low),
                             "ci_high": np.atleast_1d(self.coef_ci_high)})

    def summary(self, digits: int = 4) -> str:
        """A short text block like metafor's ``print.rma.mv``."""
        from .format import display_frame, fmt_pct

        f = f"{{:.{digits}f}}"
        lines = [f"Multilevel model (k = {self.k}; {self.n_clusters} clusters; method: "
                 f"{self.method})", f"logLik = {f.format(self.loglik)}",
                 f"sigma^2 (between clusters) = {f.format(self.sigma2[0])}",
                 f"sigma^2 (within clusters)  = {f.format(self.sigma2[1])}",
                 f"Q({self.q_df}) = {f.format(self.q)}, p = {self.q_pval:.4g}",
                 f"I^2 = {fmt_pct(self.i2)} (between {fmt_pct(self.i2_levels[0])}, within "
                 f"{fmt_pct(self.i2_levels[1])})",
                 display_frame(self.to_frame(), digits, scaled=()).to_string(index=False)]
        if self.reduced:
            lines.append(f"note: {self.reduced}")
        return "\n".join(lines)

    def methods_text(self) -> str:
        """The methods in one paragraph; see
        :func:`iometa.core.reporter_models.multilevel_methods_text`.

        Example
        -------
        >>> from iometa.core.multilevel import pool_multilevel
        >>> res = pool_multilevel([0.1, 0.3, 0.5, 0.2, 0.8, 0.9], [0.01] * 6,
        ...                       cluster=[1, 1, 2, 2, 3, 3])
        >>> "three-level" in res.methods_text()
        True
        """
        from .reporter_models import multilevel_methods_text

        return multilevel_methods_text(self)

    def results_text(self, digits: int = 2) -> str:
        """The results in one paragraph (coefficients, σ² components, I², Q, LRT); see
        :func:`iometa.core.reporter_models.multilevel_results_text`.

        Example
        -------
        >>> from iometa.core.multilevel import pool_multilevel
        >>> res = pool_multilevel([0.1, 0.3, 0.5, 0.2, 0.8, 0.9], [0.01] * 6,
        ...                       cluster=[1, 1, 2, 2, 3, 3])
        >>> "3 clusters" in res.results_text()
        True
        """
        from .reporter_models import multilevel_results_text

        return multilevel_results_text(self, digits=digits)

    def __str__(self) -> str:
        return self.summary()

    def __repr__(self) -> str:
        from .format import one_line

        tags = (self.method, f"k={self.k}", f"clusters={self.n_clusters}")
        if np.ndim(self.coef) == 0:
            return one_line("MultilevelResult", tags, self.coef,
                            (self.coef_ci_low, self.coef_ci_high))
        return one_line("MultilevelResult", tags, extra=f"{self.p} coefficients")

    def _repr_html_(self) -> str:
        from .format import text_html

        return text_html(self.summary(), self.warnings + ((self.reduced,) if self.reduced else ()))


def profile_ci(b: Blocks, reml: bool, sigma2, ll_max, comp, level, fixed=(None, None)):
    """Profile-likelihood CI of component ``comp`` (0 between, 1 within), as metafor's
    ``confint.rma.mv``: the set where 2(ℓ̂ − ℓ_profile) ≤ χ²₁(level), searched in
    [0, vc.max] with vc.max = 10 (estimate ≤ √ε) or max(10, 100·estimate); a limit beyond
    vc.max is reported as vc.max (flag True). Returns ((low, high), capped)."""
    from scipy.optimize import brentq
    from scipy.special import chdtri

    crit = float(chdtri(1, 1 - level))
    est = float(sigma2[comp])
    other = 1 - comp
    warm = [float(sigma2[other])]

    def f(s):
        fx = list(fixed)
        fx[comp] = s
        start = [0.0, 0.0]
        start[comp] = s
        start[other] = warm[0] if fixed[other] is None else fixed[other]
        r = fit(b, reml=reml, start=tuple(start), fixed=tuple(fx))
        warm[0] = r.sigma2[other] if r.sigma2[other] > 0 else warm[0]
        return 2 * (ll_max - r.loglik) - crit

    vc_max = 10.0 if est <= np.sqrt(np.finfo(float).eps) else max(10.0, 100 * est)
    lo = 0.0
    if est > 0 and f(0.0) > 0:
        lo = brentq(f, 0.0, est, xtol=1e-14, rtol=1e-13, maxiter=500)
    warm[0] = float(sigma2[other])
    if f(vc_max) < 0:
        return (lo, vc_max), True
    hi = brentq(f, est, vc_max, xtol=1e-14, rtol=1e-13, maxiter=500)
    return (float(lo), float(hi)), False

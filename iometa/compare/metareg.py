"""Meta-regression: :func:`meta_regression` and its result :class:`MetaRegression`.

Mixed-effects (or common-effect) meta-regression as metafor's ``rma(yi, vi, mods = ...)``; the
numbers come from the batched core :mod:`iometa.core.regression`, the model matrix from
:mod:`iometa.core.design`. The permutation test is :func:`iometa.permutation_test`.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .._warnings import ConvergenceWarning, DataWarning, IometaWarning, SmallSampleWarning
from ..core import verbs
from ..core.design import Design, build_design, design_rows
from ..core.estimators import METHODS
from ..core.models import column, study_labels
from ..core.regression import fit_regression_arrays
from ..core.results import MetaResult
from .metareg_checks import _check, _fit_warnings, _r2, reweight


@dataclass(frozen=True, eq=False)
class MetaRegression:
    """A fitted meta-regression (metafor's ``rma.uni`` object with moderators, immutable).

    Coefficients (model scale, one per column of the model matrix ``X``, named in ``terms``):
    ``beta``, ``se``, ``stat`` (z, or t under Knapp–Hartung), ``pval``, ``ci_low``, ``ci_high``,
    ``vcov``; as a table in ``coefficients`` / :meth:`to_frame`. Omnibus test of the moderators
    (all coefficients but the intercept, ``btt``): ``qm`` (χ² statistic; under ``test="knha"``
    the F statistic Q_M/m, as metafor), ``qm_df`` (m), ``qm_df2`` (k − p under knha, else
    None), ``qm_pval``. Residual heterogeneity: ``qe``, ``qe_df`` (k − p), ``qe_pval``, ``tau2``
    (residual τ²), ``i2``, ``h2`` (residual, percent / ratio), ``r2`` (pseudo-R², percent: the
    proportional reduction of τ² relative to the intercept-only model ``tau2_re``, truncated at
    0; for the common-effect model metafor's adjusted weighted R²; None without intercept or
    moderators). ``ddf`` is k − p under knha, else None.

    Example
    -------
    >>> import iometa
    >>> reg = iometa.meta_regression([0.1, 0.5, 0.2, 0.9, 1.1], [0.02] * 5,
    ...                              [1.0, 2, 3, 4, 5], method="DL")
    >>> reg.terms, round(reg.tau2, 4)
    (('intrcpt', 'mods'), 0.0387)
    """

    method: str
    test: str
    level: float
    k: int
    p: int
    terms: tuple[str, ...]
    intercept: bool
    btt: tuple[int, ...]
    beta: np.ndarray
    se: np.ndarray
    stat: np.ndarray
    pval: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    vcov: np.ndarray
    ddf: float | None
    qm: float
    qm_df: int
    qm_df2: int | None
    qm_pval: float
    qe: float
    qe_df: int
    qe_pval: float
    tau2: float
    tau2_re: float | None
    r2: float | None
    i2: float
    h2: float
    converged: bool
    n_iter: int
    yi: np.ndarray = field(repr=False)
    vi: np.ndarray = field(repr=False)
    X: np.ndarray = field(repr=False)
    labels: tuple[str, ...] = field(repr=False)
    design: Design | None = field(default=None, repr=False)
    data: pd.DataFrame | None = field(default=None, repr=False)
    tau2_fixed: float | None = None
    warnings: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def stat_name(self) -> str:
        """``"tval"`` under Knapp–Hartung, else ``"zval"`` (metafor's names)."""
        return "tval" if self.test == "knha" else "zval"

    @property
    def coefficients(self) -> pd.DataFrame:
        """Coefficient table: term, estimate, se, stat, pval, ci_low, ci_high."""
        return pd.DataFrame({"term": list(self.terms), "estimate": self.beta, "se": self.se,
                             "stat": self.stat, "pval": self.pval, "ci_low": self.ci_low,
                             "ci_high": self.ci_high})

    def to_frame(self) -> pd.DataFrame:
        """The coefficient table (tidy, one row per term)."""
        return self.coefficients

    def predict(self, newmods=None, transf=None) -> pd.DataFrame:
        """Predicted effects (model scale) with CI and PI, as metafor's ``predict.rma``.

        ``newmods``: None (fitted values of the studies), a DataFrame/dict of moderator values
        (coded with the fitted levels), or an array of model-matrix rows without the intercept
        column (metafor's ``newmods``). PI = pred ± crit·√(se² + τ²), crit from z or t(k − p).
        ``transf``: a function applied to pred and the limits (then no se column, as metafor).

        Example
        -------
        >>> import iometa
        >>> reg = iometa.meta_regression([0.1, 0.5, 0.2, 0.9, 1.1], [0.02] * 5,
        ...                              [1.0, 2, 3, 4, 5], method="FE")
        >>> round(float(reg.predict([[6.0]])["pred"].iloc[0]), 2)
        1.28
        """
        Xn = self._new_rows(newmods)
        pred = Xn @ self.beta
        se = np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", Xn, self.vcov, Xn), 0.0))
        crit = _crit(self.level, self.ddf)
        sp = np.sqrt(se**2 + self.tau2)
        out = {"pred": pred, "se": se, "ci_low": pred - crit * se, "ci_high": pred + crit * se,
               "pi_low": pred - crit * sp, "pi_high": pred + crit * sp}
        if transf is not None:
            out = {name: np.asarray(transf(x), dtype=float) for name, x in out.items()
                   if name != "se"}
        return pd.DataFrame(out)

    @property
    def se_tau2(self) -> float | None:
        """Standard error of the residual τ̂² as metafor's ``res$se.tau2`` (None for the
        common-effect model and a fixed τ²); formulas in :mod:`iometa.core.verbs`.

        Example
        -------
        >>> import iometa
        >>> reg = iometa.meta_regression([0.1, 0.5, 0.2, 0.9, 1.1], [0.02] * 5,
        ...                              [1.0, 2, 3, 4, 5], method="REML")
        >>> reg.se_tau2 > 0
        True
        """
        if self.tau2_fixed is not None or self.method == "GLMM":
            return None  # (rma.glmm reports no se of tau^2)
        return verbs.se_tau2(self.yi, self.vi, self.X, self.tau2, self.method)

    def confint(self, type: str = "QP", level: float | None = None) -> pd.DataFrame:
        """CI of the residual τ² (and τ, I², H²), metafor's ``confint(reg, type=)``: ``"QP"``
        (Q-profile of Q_E with k − p df) or ``"PL"`` (profile likelihood); same frame as
        :meth:`iometa.MetaResult.confint`.

        Example
        -------
        >>> import iometa
        >>> reg = iometa.meta_regression([0.1, 0.5, 0.2, 0.9, 1.1, 0.3], [0.02] * 6,
        ...                              [1.0, 2, 3, 4, 5, 6], method="REML")
        >>> list(reg.confint().columns)
        ['estimate', 'ci_low', 'ci_high']
        """
        self._not_glmm("confint")
        return verbs.confint_frame(self.yi, self.vi, self.X, self.tau2, self.i2, self.h2,
                                   self.method, self.level if level is None else level, type,
                                   fixed_tau2=self.tau2_fixed is not None)

    def blup(self, transf=None) -> pd.DataFrame:
        """metafor's ``blup(reg)``: per study λᵢyᵢ + (1 − λᵢ)xᵢ'β̂ with se and prediction
        limits (t(k − p) under Knapp–Hartung); ``transf`` a function of the model scale.

        Example
        -------
        >>> import iometa
        >>> reg = iometa.meta_regression([0.1, 0.5, 0.2, 0.9, 1.1], [0.02] * 5,
        ...                              [1.0, 2, 3, 4, 5], method="DL")
        >>> list(reg.blup().columns)
        ['pred', 'se', 'pi_low', 'pi_high']
        """
        return self._shrunken(False, transf)

    def ranef(self, transf=None) -> pd.DataFrame:
        """metafor's ``ranef(reg)``: the predicted residual random effects λᵢ(yᵢ − xᵢ'β̂).

        Example
        -------
        >>> import iometa
        >>> reg = iometa.meta_regression([0.1, 0.5, 0.2, 0.9, 1.1], [0.02] * 5,
        ...                              [1.0, 2, 3, 4, 5], method="DL")
        >>> len(reg.ranef())
        5
        """
        return self._shrunken(True, transf)

    def _not_glmm(self, verb):
        if self.method == "GLMM":
            raise ValueError(f"{verb}() is not available for the GLMM meta-regression (metafor "
                             f"has no {verb}() for rma.glmm either): its tau^2 and random "
                             "effects are not those of the normal-normal model")

    def _shrunken(self, random_part, transf):
        self._not_glmm("ranef" if random_part else "blup")
        return verbs.shrunken(self.yi, self.vi, self.X, self.beta, self.vcov, self.tau2,
                              self.level, self.ddf, random_part=random_part,
                              fe=self.method == "FE" and self.tau2_fixed is None,
                              transf=transf, labels=self.labels)

    def _new_rows(self, newmods):
        if newmods is None:
            return self.X
        if isinstance(newmods, (pd.DataFrame, dict)):
            if self.design is None:
                raise ValueError("moderator values need the fitted design; pass model rows")
            return design_rows(self.design, newmods)
        Xn = np.atleast_2d(np.asarray(newmods, dtype=float))
        if self.intercept and Xn.shape[1] == self.p - 1:
            Xn = np.column_stack([np.ones(len(Xn)), Xn])
        if Xn.shape[1] != self.p:
            raise ValueError(f"newmods has {Xn.shape[1]} columns; the model has {self.p} "
                             f"coefficients ({', '.join(self.terms)})")
        return Xn

    def summary(self, digits: int = 4) -> str:
        """A readable text block like metafor's ``print.rma.uni``."""
        from .format import regression_summary

        return regression_summary(self, digits)

    def methods_text(self) -> str:
        """The methods in one paragraph; see
        :func:`iometa.compare.reporter.regression_methods_text`.

        Example
        -------
        >>> import iometa
        >>> reg = iometa.meta_regression([0.1, 0.5, 0.2, 0.9, 1.1], [0.02] * 5,
        ...                              [1.0, 2, 3, 4, 5], method="DL")
        >>> "meta-regression on mods" in reg.methods_text()
        True
        """
        from .reporter import regression_methods_text

        return regression_methods_text(self)

    def results_text(self, digits: int = 2) -> str:
        """The results in one paragraph (coefficients with CIs, moderator test, residual
        heterogeneity, R²); see :func:`iometa.compare.reporter.regression_results_text`.

        Example
        -------
        >>> import iometa
        >>> reg = iometa.meta_regression([0.1, 0.5, 0.2, 0.9, 1.1], [0.02] * 5,
        ...                              [1.0, 2, 3, 4, 5], method="DL")
        >>> "Test of the moderators" in reg.results_text()
        True
        """
        from .reporter import regression_results_text

        return regression_results_text(self, digits=digits)

    def __str__(self) -> str:
        return self.summary()

    def __repr__(self) -> str:
        from ..core.format import fmt_p, one_line

        qm = "F" if self.qm_df2 is not None else "QM"
        return one_line("MetaRegression", (self.method, f"k={self.k}", f"p={self.p}"),
                        extra=f"{qm}={self.qm:.3g}, p={fmt_p(self.qm_pval)}, "
                              f"tau2={self.tau2:.3g}")

    def _repr_html_(self) -> str:
        from .format import regression_html

        return regression_html(self)


def _crit(level, ddf):
    from scipy.special import ndtri, stdtrit  # = norm.ppf, t.ppf without scipy.stats

    return ndtri(1 - (1 - level) / 2) if ddf is None else stdtrit(ddf, 1 - (1 - level) / 2)


def _inputs(yi, vi, mods, data, method, test, level, labels):
    """Resolve a MetaResult or arrays/column names into (y, v, mods, data, options, labels)."""
    notes = []
    if isinstance(yi, MetaResult):
        res = yi
        if mods is None and vi is not None:
            mods, vi = vi, None
        data = res.data if data is None else data
        method = method or res.method
        test = test or res.test
        level = level or res.level
        if method == "GLMM" and res.method != "GLMM":
            raise ValueError("method='GLMM' needs a GLMM result: iometa.meta_regression("
                             "iometa.pool_proportions(events, n, method='GLMM'), mods)")
        return res.yi, res.vi, mods, data, (method, test, level), res.labels, notes
    if method == "GLMM":
        raise ValueError("method='GLMM' models the counts, not yi/vi: pass the GLMM result, "
                         "iometa.meta_regression(iometa.pool_proportions(events, n, "
                         "method='GLMM'), mods) (or pool_rates(..., method='GLMM'))")
    y = np.asarray(column(yi, data, "yi"), dtype=float)
    v = np.asarray(column(vi, data, "vi"), dtype=float)
    opts = (method or "REML", test or "z", level or 0.95)
    return y, v, mods, data, opts, study_labels(labels, data, y.size), notes


def _glmm_regression(res, y, v, mods, data, test, level, labs, notes, intercept):
    """The GLMM meta-regression of a GLMM result (fields from :mod:`.metareg_glmm`)."""
    from ..core.glmm_engine import SeparationError
    from .metareg_glmm import (
        fit_glmm_regression,
        glmm_counts,
        glmm_extra,
        glmm_regression_fields,
    )

    if test not in ("z", "knha"):
        raise ValueError(f"unknown test {test!r}: expected 'z' or 'knha' (metafor's test='t')")
    x, n, family = glmm_counts(res)
    design = build_design(mods, data, y.size, intercept=intercept)
    if not design.keep.all():
        dropped = [labs[i] for i in np.flatnonzero(~design.keep)]
        notes.append(f"{len(dropped)} stud{'y' if len(dropped) == 1 else 'ies'} without a value "
                     f"for the moderator(s) left out of the meta-regression: {', '.join(dropped)}")
        warnings.warn(notes[-1], DataWarning, stacklevel=3)
    keep = design.keep
    X = design.X[keep]
    labs = [lab for lab, kk in zip(labs, keep) if kk]
    bad = ~np.isfinite(X).all(axis=1)
    if bad.any():
        raise ValueError(f"study {labs[int(np.argmax(bad))]!r} has an infinite moderator value")
    k, p = X.shape
    btt = tuple(range(1, p)) if (design.intercept and p > 1) else tuple(range(p))
    nagq = int((res.extra or {}).get("nagq", 7))
    with warnings.catch_warnings():  # re-issued below with the result's wording
        warnings.simplefilter("ignore", ConvergenceWarning)
        try:
            fit = fit_glmm_regression(x[keep], n[keep], X, family=family, nagq=nagq)
        except SeparationError as exc:
            who = ", ".join(repr(labs[i]) for i in exc.rows) or "some studies"
            raise ValueError(f"{exc} (studies {who})") from None
    if not fit.converged:
        notes.append(f"the GLMM did not converge ({fit.message}); estimates may be unreliable")
        warnings.warn(notes[-1], ConvergenceWarning, stacklevel=3)
    if fit.message.startswith("tau not identifiable"):
        notes.append("every study has n = 1 (one patient each): the residual between-study "
                     "variance cannot be told apart from the binomial variation, so tau^2 is "
                     "set to 0 (the fixed-effect logistic regression)")
        warnings.warn(notes[-1], SmallSampleWarning, stacklevel=3)
    sub = None if data is None else data.reset_index(drop=True)[keep].reset_index(drop=True)
    fields = glmm_regression_fields(fit, test=test, level=level, btt=btt)
    return MetaRegression(
        method="GLMM", test=test, level=level, k=k, p=p, terms=design.terms,
        intercept=design.intercept, btt=btt, **fields, yi=y[keep], vi=v[keep], X=X,
        labels=tuple(labs), design=design, data=sub, warnings=tuple(notes),
        extra=glmm_extra(fit))


def meta_regression(yi, vi=None, mods=None, *, method=None, test=None, level=None, data=None,
                    intercept=True, labels=None, tau2=None, weights=None) -> MetaRegression:
    """Meta-regression of effect sizes on moderators (metafor ``rma(yi, vi, mods = ~ ...)``).

    ``yi``/``vi``: arrays or column names of ``data``; or pass a pooled
    :class:`~iometa.MetaResult` as ``yi`` (its studies' yi/vi, its ``data``, and by default its
    method, test and level; ``meta_regression(res, "lesion_size_cm")`` works). ``mods``: a
    formula-like string (``"modality + lesion_size_cm"``, ``"factor(year)"``, ``"x - 1"``),
    column names, a DataFrame/Series or an array; text columns become treatment-coded factors
    with the first (sorted) level as reference (see :mod:`iometa.core.design`). Studies with
    a missing moderator are dropped (with a warning). ``method``: FE, DL, HE, HS, SJ, ML, REML
    (default), EB, PM; ``test``: ``"z"`` or ``"knha"`` (Knapp–Hartung: t tests with k − p df,
    F-test for Q_M); ``tau2`` fixes the residual τ². ``weights`` (array or column name): user
    weights for the coefficients and their variance, as ``rma(yi, vi, mods, weights=)``
    (τ², Q_E, I², R² those of the inverse-variance fit; :func:`.metareg_checks.reweight`).

    A GLMM result (``pool_proportions(..., method="GLMM")`` or ``pool_rates(...,
    method="GLMM")``) is meta-regressed with the GLMM itself, metafor's ``rma.glmm(measure=
    "PLO" | "IRLN", mods = ~ ...)``: maximum likelihood with the result's quadrature points
    (nAGQ), z tests (``test="knha"``: metafor's ``test="t"``, t with k − p df), Q_M as
    ``rma.glmm``, ``qe`` the Wald-type QE.Wld (the likelihood-ratio QE.LRT in ``extra``), no
    R²; see :mod:`iometa.compare.metareg_glmm`. ``predict`` works on it; ``confint``,
    ``blup``, ``ranef`` and ``se_tau2`` do not exist for ``rma.glmm`` and raise / give None.

    References: Berkey et al. 1995 (Stat Med 14:395); Thompson & Higgins 2002 (Stat Med
    21:1559); Knapp & Hartung 2003 (Stat Med 22:2693); Raudenbush 2009 (pseudo-R², in The
    Handbook of Research Synthesis); Viechtbauer 2010 (J Stat Softw 36(3)).

    Example
    -------
    >>> import iometa, pandas as pd
    >>> d = pd.DataFrame({"yi": [-0.9, -1.6, -1.4, -1.4, -0.2, -0.8],
    ...                   "vi": [0.33, 0.19, 0.42, 0.02, 0.05, 0.01],
    ...                   "ablat": [44, 55, 42, 52, 13, 44]})
    >>> reg = iometa.meta_regression("yi", "vi", "ablat", data=d, method="REML")
    >>> list(reg.coefficients["term"]), reg.qm_df
    (['intrcpt', 'ablat'], 1)
    """
    y, v, mods, data, (method, test, level), labs, notes = _inputs(
        yi, vi, mods, data, method, test, level, labels)
    if method == "GLMM":
        if tau2 is not None:
            raise ValueError("a fixed tau2 is not available with method='GLMM' (rma.glmm "
                             "estimates it); use method='ML' on the result's yi/vi instead")
        if weights is not None:
            raise ValueError("weights= is not available with method='GLMM' (rma.glmm has none)")
        return _glmm_regression(yi, y, v, mods, data, test, level, labs, notes, intercept)
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}: expected one of {', '.join(METHODS)}")
    if y.shape != v.shape:
        raise ValueError(f"yi and vi differ in length ({y.size} vs {v.size})")
    design = build_design(mods, data, y.size, intercept=intercept)
    if not design.keep.all():
        dropped = [labs[i] for i in np.flatnonzero(~design.keep)]
        notes.append(f"{len(dropped)} stud{'y' if len(dropped) == 1 else 'ies'} without a value "
                     f"for the moderator(s) left out of the meta-regression: {', '.join(dropped)}")
        warnings.warn(notes[-1], DataWarning, stacklevel=2)
    keep = design.keep
    y, v, X = y[keep], v[keep], design.X[keep]
    labs = [lab for lab, kk in zip(labs, keep) if kk]
    _check(y, v, X, method, tau2, labs)
    if method == "FE" and test == "knha":
        notes.append("Knapp-Hartung adjustment with a common-effect model (as metafor, which "
                     "warns that it is not meant for it)")
        warnings.warn(notes[-1], IometaWarning, stacklevel=2)
    k, p = X.shape
    btt = tuple(range(1, p)) if (design.intercept and p > 1) else tuple(range(p))
    fit = fit_regression_arrays(y, v, X, method=method, test=test, level=level, tau2=tau2,
                                btt=btt)
    notes += _fit_warnings(fit, method, test)
    if weights is not None:
        a = np.asarray(column(weights, data, "weights"), dtype=float).ravel()
        if a.size != keep.size or not (np.isfinite(a).all() and (a >= 0).all()):
            raise ValueError(f"weights must be {keep.size} finite non-negative numbers (one "
                             "per study)")
        fit = reweight(fit, y, v, X, a[keep], test=test, level=level, btt=btt)
        notes.append("coefficients and their SEs with user weights (rma(weights=)); tau^2 and "
                     "heterogeneity from the inverse-variance fit")
    r2, t2re = _r2(fit, y, v, method, design.intercept, p, k)
    sub = None if data is None else data.reset_index(drop=True)[keep].reset_index(drop=True)
    one = {a: getattr(fit, a)[0] for a in ("beta", "se", "stat", "pval", "ci_low", "ci_high",
                                           "vcov")}
    return MetaRegression(
        method=method, test=test, level=level, k=k, p=p, terms=design.terms,
        intercept=design.intercept, btt=btt, **one,
        ddf=float(k - p) if test == "knha" else None, qm=float(fit.qm[0]), qm_df=fit.qm_df,
        qm_df2=k - p if test == "knha" else None, qm_pval=float(fit.qm_pval[0]),
        qe=float(fit.qe[0]), qe_df=fit.qe_df, qe_pval=float(fit.qe_pval[0]),
        tau2=float(fit.tau2[0]), tau2_re=t2re, r2=r2, i2=float(fit.i2[0]), h2=float(fit.h2[0]),
        converged=bool(fit.converged[0]), n_iter=int(fit.n_iter[0]), yi=y, vi=v, X=X,
        labels=tuple(labs), design=design, data=sub, tau2_fixed=tau2, warnings=tuple(notes),
    )

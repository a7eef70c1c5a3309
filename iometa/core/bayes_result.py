"""The result of :func:`iometa.pool_bayes`: :class:`BayesResult`."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["BayesResult"]

_ROWS = ("tau", "mu", "theta_new")
_COLS = ["median", "mean", "sd", "ci_low", "ci_high"]


class _Summary:
    """``summ.at[row, col]`` over the posterior's summary rows, without a DataFrame."""

    def __init__(self, rows):
        self.at = {(r, c): float(rows[r][j]) for r in _ROWS for j, c in enumerate(_COLS)}
#: Gauss–Hermite nodes for moments on the reporting scale (within each τ node)
_N_HERMITE = 80


@dataclass(frozen=True, eq=False)
class BayesResult:
    """A fitted Bayesian normal–normal random-effects model (bayesmeta's ``bayesmeta`` object).

    Reporting scale (e.g. proportions when built from :func:`iometa.pool_proportions`):
    ``estimate`` (posterior median of μ), ``ci_low``/``ci_high`` (credible interval of μ),
    ``pi_low``/``pi_high`` (interval of θ_new, a new study's effect). Model scale: ``coef``
    (posterior median of μ), ``se`` (posterior SD of μ), ``tau`` (posterior median of τ).
    ``log_marginal`` is log p(y) (with a flat μ prior taken as density 1: only comparisons with
    the same flat prior are meaningful), ``bf01`` the Bayes factor of τ = 0 against the prior
    on τ (p(y | τ = 0) / p(y); ``bf10 = 1/bf01``).

    Example
    -------
    >>> from iometa.core.bayes import pool_bayes
    >>> res = pool_bayes([0.1, 0.5, 0.9], [0.04, 0.05, 0.06])
    >>> res.k, res.method
    (3, 'bayes')
    """

    measure: str
    kind: str
    scale: str
    level: float
    interval: str
    tau_prior: str
    tau_scale: float
    mu_prior: tuple[float, float] | None
    labels: tuple[str, ...]
    yi: np.ndarray
    vi: np.ndarray
    estimate: float
    ci_low: float
    ci_high: float
    pi_low: float
    pi_high: float
    coef: float
    se: float
    tau: float
    log_marginal: float
    bf01: float
    notes: tuple[str, ...] = ()
    data: pd.DataFrame | None = field(default=None, repr=False)
    _post: dict[str, Any] = field(default_factory=dict, repr=False)
    _backtransform: Callable[[np.ndarray], np.ndarray] | None = field(default=None, repr=False)

    method = "bayes"

    @classmethod
    def build(cls, post, *, labels, measure, kind, scale, backtransform, level, interval,
              tau_prior, tau_scale, mu_prior, data):
        summ = _Summary(post["summary"])
        bt = (lambda x: np.asarray(x, dtype=float)) if backtransform is None else backtransform

        def rep(x):
            return float(np.asarray(bt(np.array([x])), dtype=float)[0])

        model = post["model"]
        return cls(measure=measure, kind=kind, scale=scale, level=level, interval=interval,
                   tau_prior=tau_prior, tau_scale=tau_scale, mu_prior=mu_prior,
                   labels=tuple(labels), yi=model.y, vi=model.v,
                   estimate=rep(summ.at["mu", "median"]), ci_low=rep(summ.at["mu", "ci_low"]),
                   ci_high=rep(summ.at["mu", "ci_high"]),
                   pi_low=rep(summ.at["theta_new", "ci_low"]),
                   pi_high=rep(summ.at["theta_new", "ci_high"]),
                   coef=float(summ.at["mu", "median"]), se=float(summ.at["mu", "sd"]),
                   tau=float(summ.at["tau", "median"]), log_marginal=post["log_marginal"],
                   bf01=post["bf01"], notes=tuple(post["notes"]), data=data, _post=post,
                   _backtransform=backtransform)

    # the two tables are built when first asked for (pandas frames cost more than the fit)
    @cached_property
    def _summary(self) -> pd.DataFrame:
        return pd.DataFrame([self._post["summary"][r] for r in _ROWS], index=list(_ROWS),
                            columns=_COLS, dtype=float)

    @cached_property
    def _shrinkage(self) -> pd.DataFrame:
        shr = self._post["shrinkage"]
        return pd.DataFrame({c: shr[c] for c in ("mean", "sd", "ci_low", "ci_high")},
                            index=pd.Index(list(self.labels), name="label"))

    # ------------------------------------------------------------------ derived
    @property
    def k(self) -> int:
        return int(self.yi.size)

    @property
    def warnings(self) -> tuple[str, ...]:
        return self.notes

    @property
    def marginal_likelihood(self) -> float:
        """p(y) (exp of ``log_marginal``; may underflow to 0 for large k, use ``log_marginal``)."""
        return math.exp(self.log_marginal)

    @property
    def bf10(self) -> float:
        """Bayes factor of heterogeneity (the prior on τ) against τ = 0."""
        return 1.0 / self.bf01 if self.bf01 > 0 else math.inf

    def backtransform(self, x):
        """Model-scale values on the reporting scale (identity for generic effects)."""
        x = np.asarray(x, dtype=float)
        return x if self._backtransform is None else np.asarray(self._backtransform(x), float)

    # ------------------------------------------------------------------ posterior
    def _mixture(self, which):
        tau, c, means, sds = self._post["nodes"]
        rows = {"mu": 0, "theta_new": 1}
        r = rows[which] if which in rows else 2 + int(which)
        return c, means[r:r + 1], sds[r:r + 1]

    def _check_which(self, which):
        if which not in _ROWS:
            raise ValueError(f"unknown quantity {which!r}: expected 'tau', 'mu' or 'theta_new'")

    def density(self, which, x) -> np.ndarray:
        """Posterior density of ``"tau"``, ``"mu"`` or ``"theta_new"`` at ``x`` (model scale).

        Example
        -------
        >>> from iometa.core.bayes import pool_bayes
        >>> res = pool_bayes([0.1, 0.5, 0.9], [0.04, 0.05, 0.06])
        >>> bool(res.density("mu", [0.5])[0] > 0)
        True
        """
        from .bayes_quad import mixture_pdf

        self._check_which(which)
        x = np.asarray(x, dtype=float)
        if which == "tau":
            return self._post["rule"].tau_pdf(x)
        c, m, s = self._mixture(which)
        return mixture_pdf(c, m, s, x.reshape(1, -1))[0].reshape(x.shape)

    def cdf(self, which, x) -> np.ndarray:
        """Posterior CDF of ``"tau"``, ``"mu"`` or ``"theta_new"`` at ``x`` (model scale)."""
        from .bayes_quad import mixture_cdf

        self._check_which(which)
        x = np.asarray(x, dtype=float)
        if which == "tau":
            return self._post["rule"].tau_cdf(x)
        c, m, s = self._mixture(which)
        return mixture_cdf(c, m, s, x.reshape(1, -1))[0].reshape(x.shape)

    def quantile(self, which, p) -> np.ndarray:
        """Posterior quantiles of ``"tau"``, ``"mu"`` or ``"theta_new"`` (model scale)."""
        from .bayes_quad import mixture_quantile

        self._check_which(which)
        p = np.atleast_1d(np.asarray(p, dtype=float))
        if ((p <= 0) | (p >= 1)).any():
            raise ValueError(f"probabilities must be strictly between 0 and 1, got {p}")
        if which == "tau":
            return self._post["rule"].tau_quantile(p)
        c, m, s = self._mixture(which)
        return mixture_quantile(c, m, s, p)[0]

    def grid(self, which, n=401, mass=0.999) -> pd.DataFrame:
        """``x`` and ``density`` on ``n`` points spanning the central ``mass`` of the posterior
        (from 0 for τ): for plotting."""
        self._check_which(which)
        a = (1 - mass) / 2
        lo, hi = self.quantile(which, [a, 1 - a])
        if which == "tau":
            lo, hi = 0.0, float(self.quantile("tau", [mass])[0])
        x = np.linspace(lo, hi, int(n))
        return pd.DataFrame({"x": x, "density": self.density(which, x)})

    def posterior_summary(self, *, backtransform=False) -> pd.DataFrame:
        """Median, mean, SD and credible interval of τ, μ and θ_new (index ``tau``, ``mu``,
        ``theta_new``). ``backtransform=True``: μ and θ_new on the reporting scale (quantiles
        mapped; means and SDs of the transformed effect by Gauss–Hermite quadrature within each
        τ node)."""
        out = self._summary.copy()
        if backtransform and self._backtransform is not None:
            for r in ("mu", "theta_new"):
                self._transform_row(out, r, self._mixture(r))
        return out

    def observed(self, *, backtransform=False) -> pd.DataFrame:
        """The studies as observed: yi and its Wald interval yi ± z·√vi at ``level`` (index =
        labels), for display beside :meth:`shrinkage`."""
        from .bayes_quad import _special

        z = float(_special().ndtri(1 - (1 - self.level) / 2))
        h = z * np.sqrt(self.vi)
        out = pd.DataFrame({"yi": self.yi, "ci_low": self.yi - h, "ci_high": self.yi + h},
                           index=pd.Index(self.labels, name="label"))
        if backtransform and self._backtransform is not None:
            for col in out.columns:
                out[col] = self.backtransform(out[col].to_numpy())
        return out

    def prior_density(self, x) -> np.ndarray:
        """The prior density of τ at ``x``."""
        from .bayes_quad import log_prior

        x = np.asarray(x, dtype=float)
        ok = x >= 0
        return np.where(ok, np.exp(log_prior(np.where(ok, x, 0.0), self.tau_prior,
                                             self.tau_scale)), 0.0)

    def shrinkage(self, *, backtransform=False) -> pd.DataFrame:
        """Posterior mean, SD and credible interval of each study's true effect θᵢ (the
        shrunken estimates; rows in study order, index = labels)."""
        out = self._shrinkage.copy()
        if backtransform and self._backtransform is not None:
            for i, lab in enumerate(out.index):
                self._transform_row(out, lab, self._mixture(str(i)))
        return out

    def _transform_row(self, out, row, mix):
        c, m, s = mix
        x, w = np.polynomial.hermite.hermgauss(_N_HERMITE)
        u = m[0][:, None] + math.sqrt(2) * s[0][:, None] * x
        g = self.backtransform(u.ravel()).reshape(u.shape)
        e1 = float(c @ (g @ w)) / math.sqrt(math.pi)
        e2 = float(c @ ((g * g) @ w)) / math.sqrt(math.pi)
        for col in ("median", "ci_low", "ci_high"):
            if col in out.columns:
                out.at[row, col] = float(self.backtransform(np.array([out.at[row, col]]))[0])
        out.at[row, "mean"] = e1
        out.at[row, "sd"] = math.sqrt(max(e2 - e1 * e1, 0.0)) if math.isfinite(e2) else math.inf

    # ------------------------------------------------------------------ output
    def _prior_text(self):
        tp = {"half-normal": f"half-normal(scale {self.tau_scale:g})",
              "half-cauchy": f"half-Cauchy(scale {self.tau_scale:g})",
              "uniform": f"uniform(0, {self.tau_scale:g})"}[self.tau_prior]
        mp = "flat" if self.mu_prior is None else \
            f"normal(mean {self.mu_prior[0]:g}, sd {self.mu_prior[1]:g})"
        return tp, mp

    def to_frame(self) -> pd.DataFrame:
        """One tidy row: the fitted model's numbers."""
        tp, mp = self._prior_text()
        s = self._summary
        row = {"measure": self.measure, "method": self.method, "k": self.k,
               "tau_prior": tp, "mu_prior": mp, "interval": self.interval,
               "estimate": self.estimate, "ci_low": self.ci_low, "ci_high": self.ci_high,
               "pi_low": self.pi_low, "pi_high": self.pi_high, "coef": self.coef,
               "mu_mean": s.at["mu", "mean"], "mu_sd": s.at["mu", "sd"],
               "tau": self.tau, "tau_ci_low": s.at["tau", "ci_low"],
               "tau_ci_high": s.at["tau", "ci_high"], "log_marginal": self.log_marginal,
               "bf01": self.bf01}
        return pd.DataFrame([row])

    summary_frame = to_frame

    def summary(self, digits: int = 4, pscale: float = 1) -> str:
        """A readable text block (as bayesmeta's print method); ``pscale`` multiplies the
        reporting-scale estimate and intervals of proportions (100: percent).

        Example
        -------
        >>> import iometa
        >>> res = iometa.pool_bayes([0.1, 0.5, 0.3], [0.04, 0.05, 0.06])
        >>> "posterior summary" in res.summary()
        True
        """
        from .format import check_pscale, scale_label

        ps = check_pscale(self, pscale)
        tp, mp = self._prior_text()
        pct = f"{100 * self.level:g}%"
        lines = [f"Bayesian random-effects meta-analysis (k = {self.k}; measure {self.measure})",
                 f"priors: tau ~ {tp}; mu ~ {mp}",
                 f"posterior summary (model scale; {self.interval} {pct} intervals):",
                 self._summary.to_string(float_format=lambda x: f"{x:.{digits}f}")]
        if self._backtransform is not None:
            e, lo, hi, plo, phi = (ps * x for x in (self.estimate, self.ci_low, self.ci_high,
                                                    self.pi_low, self.pi_high))
            lines.append(f"on the {scale_label(self.scale, ps)} scale: estimate "
                         f"{e:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}], prediction "
                         f"[{plo:.{digits}f}, {phi:.{digits}f}]")
        lines.append(f"log marginal likelihood {self.log_marginal:.{digits}f}; Bayes factor "
                     f"tau = 0 vs prior: {self.bf01:.{digits}g}")
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)

    def methods_text(self) -> str:
        """The methods in one paragraph (priors, computation, intervals); see
        :func:`iometa.core.reporter_models.bayes_methods_text`.

        Example
        -------
        >>> from iometa.core.bayes import pool_bayes
        >>> res = pool_bayes([0.1, 0.5, 0.9], [0.04, 0.05, 0.06])
        >>> "Bayesian" in res.methods_text()
        True
        """
        from .reporter_models import bayes_methods_text

        return bayes_methods_text(self)

    def results_text(self, pscale: float = 1, digits: int | None = None) -> str:
        """The results in one paragraph (posterior median and credible interval, prediction
        interval, τ, Bayes factor); see :func:`iometa.core.reporter_models.bayes_results_text`.

        Example
        -------
        >>> from iometa.core.bayes import pool_bayes
        >>> res = pool_bayes([0.1, 0.5, 0.9], [0.04, 0.05, 0.06])
        >>> "credible interval" in res.results_text()
        True
        """
        from .reporter_models import bayes_results_text

        return bayes_results_text(self, pscale=pscale, digits=digits)

    def __str__(self) -> str:
        return self.summary()

    def _repr_html_(self) -> str:
        from .format import text_html

        return text_html(self.summary(), self.notes)

    def __repr__(self) -> str:
        from .format import one_line

        return one_line("BayesResult", (self.measure, self.tau_prior, f"k={self.k}"),
                        self.estimate, (self.ci_low, self.ci_high))

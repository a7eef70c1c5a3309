"""Exact Bayesian random-effects meta-analysis: :func:`pool_bayes`.

The normal–normal hierarchical model with a proper prior on τ and a flat or normal prior on
μ, computed without MCMC: the posterior of τ is a one-dimensional density (μ integrated out in
closed form) and μ, a new study's effect θ_new and every study's true effect θᵢ are normal
mixtures over τ (Röver 2020, J Stat Softw 93(6); the formulas are in
:mod:`iometa.core.bayes_quad`). Integrals use an adaptive composite Gauss–Legendre rule controlled
to ~1e-12 relative; quantiles are roots of the mixture CDFs.

Default prior: half-normal with scale 0.5 on τ, weakly informative for log odds ratios and
log risk ratios (Friede et al. 2017, Biom J 59:658, for two studies; Röver et al. 2021, Res
Synth Methods 12:448, "On weakly informative prior distributions for the heterogeneity
parameter"), with a flat prior on μ, as bayesmeta's ``bayesmeta(..., tau.prior =
function(t) dhalfnormal(t, scale = 0.5))``. For other effect scales choose ``tau_scale``
accordingly (e.g. a fraction of the unit-information SD).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd

from .._warnings import MomentWarning, SmallSampleWarning
from .bayes_quad import PRIORS, Model, Rule, _special, mixture_pdf, mixture_quantile, prune
from .bayes_result import BayesResult
from .models import column, study_labels

__all__ = ["pool_bayes", "posterior"]

_TINY, _HUGE = 1e-150, 1e150
INTERVALS = ("central", "shortest")
#: accuracy asked of the rule for the mixture CDFs at the quantiles (16- vs 8-point check)
QUANTILE_RTOL = 1e-11


def _label(labels, i):
    return f"Study {i + 1}" if labels is None else labels[i]


def _check_data(y, v, labels):
    if y.shape != v.shape:
        raise ValueError(f"yi and vi differ in length ({y.size} vs {v.size})")
    if y.size == 0:
        raise ValueError("no studies to pool (k = 0)")
    for name, arr, ok in (("yi", y, np.isfinite(y) & (np.abs(y) <= _HUGE)),
                          ("vi", v, np.isfinite(v) & (v >= _TINY) & (v <= _HUGE))):
        if not ok.all():
            i = int(np.argmax(~ok))
            raise ValueError(
                f"{name} of study {_label(labels, i)!r} is {arr[i]!r}: every study needs a finite "
                f"effect size (|yi| <= {_HUGE:g}) and a sampling variance between {_TINY:g} and "
                f"{_HUGE:g} (rescale the effects if needed)")


def _check_options(tau_prior, tau_scale, mu_prior, level, interval):
    if tau_prior not in PRIORS:
        raise ValueError(f"unknown tau_prior {tau_prior!r}: expected one of {', '.join(PRIORS)}")
    if not (isinstance(tau_scale, (int, float, np.number)) and _TINY <= tau_scale <= _HUGE):
        raise ValueError(f"tau_scale must be a finite number > 0, got {tau_scale!r}")
    if mu_prior is not None:
        try:
            m0, s0 = (float(x) for x in mu_prior)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"mu_prior must be None (flat) or (mean, sd), "
                             f"got {mu_prior!r}") from exc
        if not (math.isfinite(m0) and abs(m0) <= _HUGE and _TINY <= s0 <= _HUGE):
            raise ValueError(f"mu_prior (mean, sd) needs a finite mean and sd > 0, "
                             f"got {mu_prior!r}")
        mu_prior = (m0, s0)
    if not (isinstance(level, (int, float, np.number)) and 0 < level < 1):
        raise ValueError(f"level must be between 0 and 1 (e.g. 0.95), got {level!r}")
    if interval not in INTERVALS:
        raise ValueError(f"unknown interval {interval!r}: expected 'central' or 'shortest'")
    return mu_prior


def _conditional_rows(model, tau, m, V):
    """Means and SDs (rows mu, theta_new, theta_1..k) of the normals given τ (nodes ``tau``
    with μ̂ = ``m`` and 1/W = ``V`` there)."""
    B = model.v[:, None] / (model.v[:, None] + tau**2)
    mi = (1 - B) * model.y[:, None] + B * m
    si = np.sqrt(model.v[:, None] * (1 - B) + B**2 * V)
    means = np.vstack((m, m, mi))
    sds = np.vstack((np.sqrt(V), np.sqrt(V + tau**2), si))
    return means, sds


def _moment_integrands(model):
    tail = model.tail
    var_mu = model.mu_prior is not None or tail > 3

    def g(tau, m, V):
        rows = [np.ones_like(tau), m]
        if tail > 2:
            rows.append(tau)
        if tail > 3:
            rows += [tau**2, V + tau**2]
        if var_mu:
            rows.append(m * m + V)
        return np.stack(rows)

    return g


def _quantiles(rule, model, probs):
    """Quantiles of τ and of the mixtures; the panels are refined until the CDF integrands at
    the quantiles pass the rule's accuracy check. Returns them with the nodes (all, and pruned
    of negligible weights for the mixture computations)."""
    q = None
    for _ in range(4):
        tau, c, m, V = rule.flat()
        means, sds = _conditional_rows(model, tau, m, V)
        pc, ptau, pm, ps = prune(c, tau, means, sds)
        q = mixture_quantile(pc, pm, ps, probs, x0=q)
        n_panels = rule.a.size

        def g(t, m, V, q=q):
            mm, ss = _conditional_rows(model, t.ravel(), m.ravel(), V.ravel())
            z = (q[..., None] - mm[:, None, :]) / ss[:, None, :]
            return _special().ndtr(z).reshape(-1, *t.shape)

        rule.refine(g, rtol=QUANTILE_RTOL)
        if rule.a.size == n_panels:
            break
    return rule.tau_quantile(probs), q, (tau, c, means, sds), (ptau, pc, pm, ps)


def _shortest(qf, df, level, bounded):
    """Shortest interval of content ``level`` of a unimodal density: the a in [0, 1 − level]
    with equal density at q(a) and q(a + level) (qf: probabilities -> quantiles)."""
    from scipy.optimize import brentq

    amax = 1.0 - level

    def g(a):
        lo, hi = qf(np.array([a, a + level]))
        return float(df(hi) - df(lo))

    if bounded and float(df(qf(np.array([level]))[0]) - df(0.0)) <= 0:
        return 0.0, float(qf(np.array([level]))[0])
    eps = 1e-12
    a0, a1 = (0.0 if bounded else eps), amax - eps
    g0, g1 = g(a0), g(a1)
    if g0 <= 0:
        a = a0
    elif g1 >= 0:
        a = a1
    else:
        a = brentq(g, a0, a1, xtol=1e-15, rtol=1e-15)
    lo, hi = qf(np.array([a, a + level]))
    return (0.0 if bounded and a == 0 else float(lo)), float(hi)


def posterior(yi, vi, *, tau_prior="half-normal", tau_scale=0.5, mu_prior=None, level=0.95,
              interval="central"):
    """All posterior numbers of the model, on arrays (no labels, no reporting scale): a dict
    used by :func:`pool_bayes`. ``yi``, ``vi`` are checked float arrays.

    Example
    -------
    >>> import numpy as np
    >>> p = posterior(np.array([0.1, 0.5, 0.9]), np.array([0.04, 0.05, 0.06]))
    >>> sorted(p["summary"])
    ['mu', 'tau', 'theta_new']
    """
    model = Model(yi, vi, tau_prior, tau_scale, mu_prior)
    rule = Rule(model)
    rule.refine(_moment_integrands(model))
    a = (1 - level) / 2
    probs = np.array([0.5, a, 1 - a])
    qtau, qmix, (tau, c, means, sds), pruned = _quantiles(rule, model, probs)
    k, tail = model.k, model.tail
    notes = []
    mean_tau = float(c @ tau) if tail > 2 else math.inf
    sd_tau = math.sqrt(max(float(c @ tau**2) - mean_tau**2, 0.0)) if tail > 3 else math.inf
    mix_mean = means @ c
    mix_var = ((means - mix_mean[:, None]) ** 2 + sds**2) @ c
    if tail <= 3:
        mix_var[1] = math.inf
        if mu_prior is None:
            mix_var[0] = math.inf
    inf_moments = [n for n, x in (("mean of tau", mean_tau), ("sd of tau", sd_tau),
                                  ("sd of mu", mix_var[0]), ("sd of theta_new", mix_var[1]))
                   if not math.isfinite(x)]
    if inf_moments:
        notes.append(f"{', '.join(inf_moments)}: the posterior moment does not exist "
                     f"(with the half-Cauchy prior p(tau | y) decays like tau^-{tail}); "
                     "reported as inf")
    if k == 1 and mu_prior is None:
        notes.append("k = 1 with a flat prior on mu: the data say nothing about tau, its "
                     "posterior is its prior")
    lim = {"tau": (qtau[1], qtau[2]), "mu": (qmix[0, 1], qmix[0, 2]),
           "theta_new": (qmix[1, 1], qmix[1, 2])}
    shr_lim = np.column_stack((qmix[2:, 1], qmix[2:, 2]))
    if interval == "shortest":
        def mix_funcs(r):
            pc, m1, s1 = pruned[1], pruned[2][r:r + 1], pruned[3][r:r + 1]
            return (lambda p: mixture_quantile(pc, m1, s1, p)[0],
                    lambda x: mixture_pdf(pc, m1, s1, np.atleast_2d(x))[0, 0])

        lim["tau"] = _shortest(rule.tau_quantile, lambda x: rule.tau_pdf(x), level, True)
        for r, name in ((0, "mu"), (1, "theta_new")):
            lim[name] = _shortest(*mix_funcs(r), level, False)
        shr_lim = np.array([_shortest(*mix_funcs(r), level, False) for r in range(2, k + 2)])
    summary = {
        "tau": (qtau[0], mean_tau, sd_tau, *lim["tau"]),
        "mu": (qmix[0, 0], mix_mean[0], math.sqrt(mix_var[0]), *lim["mu"]),
        "theta_new": (qmix[1, 0], mix_mean[1], math.sqrt(mix_var[1]), *lim["theta_new"]),
    }
    ll0 = float(model.conditional(np.array(0.0))[0])
    log_marginal = math.log(rule.mass) + rule.shift
    return dict(
        model=model, rule=rule, nodes=pruned, summary=summary,
        shrinkage=dict(mean=mix_mean[2:], sd=np.sqrt(mix_var[2:]), median=qmix[2:, 0],
                       ci_low=shr_lim[:, 0], ci_high=shr_lim[:, 1]),
        log_marginal=log_marginal, bf01=math.exp(ll0 - log_marginal), notes=notes)


def _from_result(res):
    """(yi, vi, labels, measure, kind, scale, backtransform) of an iometa result."""
    studies = getattr(res, "studies", None)
    if not isinstance(studies, pd.DataFrame) or not {"yi", "vi"} <= set(studies.columns):
        raise ValueError("pool_bayes(result) needs an iometa result with per-study yi and vi "
                         f"(its .studies table); got {type(res).__name__}")
    labels = [str(x) for x in studies["label"]] if "label" in studies else None
    bt = getattr(res, "_backtransform", None)
    return (studies["yi"].to_numpy(dtype=float), studies["vi"].to_numpy(dtype=float), labels,
            getattr(res, "measure", "GEN"), getattr(res, "kind", "generic"),
            getattr(res, "scale", "model"), bt)


def pool_bayes(yi, vi=None, *, tau_prior="half-normal", tau_scale=0.5, mu_prior=None,
               level=0.95, interval="central", data=None, labels=None) -> BayesResult:
    """Exact Bayesian random-effects meta-analysis of effects ``yi`` with variances ``vi``.

    The normal–normal model with prior ``tau_prior`` on τ — ``"half-normal"`` (``tau_scale`` is
    its SD), ``"half-cauchy"`` (scale) or ``"uniform"`` on [0, ``tau_scale``] — and μ flat
    (``mu_prior=None``) or normal ``(mean, sd)``. The posterior is computed by adaptive
    quadrature over τ (no MCMC, no sampling error). ``yi`` may also be an iometa result
    (:func:`iometa.pool`, :func:`iometa.pool_proportions`, …): its studies' yi and vi, labels,
    measure and back-transformation are used, so the estimate, CI (credible interval of μ) and
    PI (of θ_new) are also reported on e.g. the proportion scale. Credible intervals are
    central (``interval="central"``) or the shortest ones (``"shortest"``, bayesmeta's
    default). Moments that do not exist are inf, with a :class:`MomentWarning`.

    References: Röver 2020 (J Stat Softw 93(6), bayesmeta); Friede, Röver, Wandel & Neuenschwander
    2017 (Biom J 59:658, few studies, half-normal priors); Higgins, Thompson & Spiegelhalter 2009
    (J R Stat Soc A 172:137). R: ``bayesmeta::bayesmeta(y, sigma = sqrt(v), tau.prior =
    function(t) dhalfnormal(t, scale = 0.5))``.

    Example
    -------
    >>> from iometa.core.bayes import pool_bayes
    >>> res = pool_bayes([-0.89, -1.59, -1.35, -1.44, -0.22],
    ...                         [0.33, 0.19, 0.42, 0.02, 0.05])
    >>> list(res.posterior_summary().index)
    ['tau', 'mu', 'theta_new']
    >>> res.ci_low < res.estimate < res.ci_high
    True
    """
    measure, kind, scale, bt = "GEN", "generic", "model", None
    if vi is None and hasattr(yi, "studies"):
        y, v, labs, measure, kind, scale, bt = _from_result(yi)
        if labels is not None:
            labs = study_labels(labels, data, y.size)
    else:
        if vi is None:
            raise ValueError("vi (sampling variances) is required unless yi is an iometa result")
        y = np.asarray(column(yi, data, "yi"), dtype=float).ravel()
        v = np.asarray(column(vi, data, "vi"), dtype=float).ravel()
        labs = None if labels is None else study_labels(labels, data, y.size)
    _check_data(y, v, labs)
    mu_prior = _check_options(tau_prior, tau_scale, mu_prior, level, interval)
    labs = labs if labs is not None else [f"Study {i + 1}" for i in range(y.size)]
    post = posterior(y, v, tau_prior=tau_prior, tau_scale=float(tau_scale), mu_prior=mu_prior,
                     level=level, interval=interval)
    for msg in post["notes"]:
        cls = SmallSampleWarning if msg.startswith("k = 1") else MomentWarning
        warnings.warn(msg, cls, stacklevel=2)
    return BayesResult.build(post, labels=tuple(labs), measure=measure, kind=kind, scale=scale,
                             backtransform=bt, level=level, interval=interval,
                             tau_prior=tau_prior, tau_scale=float(tau_scale), mu_prior=mu_prior,
                             data=data)

"""Effect sizes and study-level confidence intervals.

Single proportions from events/n (metafor ``escalc`` measures PR, PLN, PLO, PAS, PFT), with
metafor's continuity-correction conventions, and generic effects from an estimate with its
confidence interval. Study CIs for display: Clopper–Pearson (exact) and Wilson.

References
----------
Viechtbauer W (2010). Conducting meta-analyses in R with the metafor package. J Stat Softw 36(3).
Freeman MF, Tukey JW (1950). Ann Math Stat 21:607-611.
Clopper CJ, Pearson ES (1934). Biometrika 26:404-413.
Wilson EB (1927). JASA 22:209-212.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .measures import MEASURES, PROPORTION_MEASURES

CORRECTION_MODES = ("only0", "all", "if0all", "none")


@dataclass(frozen=True)
class ProportionEffects:
    """Effect sizes of single proportions: ``yi``, ``vi`` and which studies were corrected."""

    yi: np.ndarray
    vi: np.ndarray
    corrected: np.ndarray  # bool per study: a continuity correction was added
    add: float
    to: str
    measure: str

    def __repr__(self) -> str:
        from .format import one_line

        return one_line("ProportionEffects", (self.measure, f"k={np.size(self.yi)}"),
                        extra=f"{int(np.sum(self.corrected))} corrected")


def _as_counts(events, n, labels=None):
    """Validated float arrays of counts; errors name the study by position and label."""
    x = np.asarray(events, dtype=float).ravel()
    n = np.asarray(n, dtype=float).ravel()
    if x.shape != n.shape:
        raise ValueError(f"events and n differ in length ({x.size} vs {n.size})")

    def fail(i, msg):
        who = f" [{labels[i]}]" if labels is not None and i < len(labels) else ""
        raise ValueError(msg + who)

    bad = ~np.isfinite(x) | ~np.isfinite(n)
    if bad.any():
        i = int(np.argmax(bad))
        fail(i, f"events and n must be finite numbers; study {i + 1} is missing or not finite")
    for name, arr in (("events", x), ("n", n)):
        if (arr != np.round(arr)).any():
            i = int(np.argmax(arr != np.round(arr)))
            fail(i, f"{name} must be whole numbers; study {i + 1} has {arr[i]:g}")
    if (x < 0).any():
        i = int(np.argmax(x < 0))
        fail(i, f"events must be >= 0; study {i + 1} has {x[i]:g}")
    if (n <= 0).any():
        i = int(np.argmax(n <= 0))
        fail(i, f"n must be > 0; study {i + 1} has {n[i]:g}")
    if (x > n).any():
        i = int(np.argmax(x > n))
        fail(i, f"events exceed n in study {i + 1} ({x[i]:g} > {n[i]:g})")
    return x, n


def proportion_effects(events, n, *, measure="PLO", add=None, to="only0",
                       labels=None) -> ProportionEffects:
    """Effect sizes ``yi`` and sampling variances ``vi`` of single proportions.

    =========  ============================================  ===============
    measure    yi                                            vi
    =========  ============================================  ===============
    ``"PR"``   p = x/n                                       p(1 − p)/n
    ``"PLN"``  ln p                                          1/x − 1/n
    ``"PLO"``  ln(x/(n − x))                                 1/x + 1/(n − x)
    ``"PAS"``  arcsin √p                                     1/(4n)
    ``"PFT"``  ½[arcsin √(x/(n+1)) + arcsin √((x+1)/(n+1))]  1/(4n + 2)
    =========  ============================================  ===============

    Continuity correction as metafor's ``escalc``: with ``add=None`` PR, PLN and PLO add 0.5 to
    events and non-events of studies with 0 or n events (``to="only0"``; n becomes n + 1 and
    both yi and vi use the corrected counts) and PAS/PFT get none. An explicit ``add`` with
    ``to`` in ``"only0"``, ``"all"``, ``"if0all"``, ``"none"`` applies to every measure.

    Example
    -------
    >>> eff = proportion_effects([13, 0], [51, 20], measure="PLO")
    >>> eff.yi.round(4), eff.corrected
    (array([-1.0726, -3.7136]), array([False,  True]))
    """
    if measure not in PROPORTION_MEASURES:
        raise ValueError(f"unknown measure {measure!r}: expected one of "
                         f"{', '.join(PROPORTION_MEASURES)}")
    if to not in CORRECTION_MODES:
        raise ValueError(f"unknown to={to!r}: expected one of {', '.join(CORRECTION_MODES)}")
    x, n = _as_counts(events, n, labels)
    if add is None:
        add = MEASURES[measure].default_add
    add = float(add)
    m = n - x
    zero = (x == 0) | (m == 0)
    if to == "all":
        corr = np.ones(x.shape, bool)
    elif to == "if0all":
        corr = np.full(x.shape, bool(zero.any()))
    elif to == "only0":
        corr = zero.copy()
    else:
        corr = np.zeros(x.shape, bool)
    if add == 0:
        corr[:] = False
    x = np.where(corr, x + add, x)
    m = np.where(corr, m + add, m)
    n = x + m
    p = x / n
    with np.errstate(divide="ignore", invalid="ignore"):
        if measure == "PR":
            yi, vi = p, p * (1 - p) / n
        elif measure == "PLN":
            yi, vi = np.log(p), 1 / x - 1 / n
        elif measure == "PLO":
            yi, vi = np.log(x / m), 1 / x + 1 / m
        elif measure == "PAS":
            yi, vi = np.arcsin(np.sqrt(p)), 1 / (4 * n)
        else:
            yi = 0.5 * (np.arcsin(np.sqrt(x / (n + 1))) + np.arcsin(np.sqrt((x + 1) / (n + 1))))
            vi = 1 / (4 * n + 2)
    return ProportionEffects(np.asarray(yi, float), np.asarray(vi, float), corr, add, to, measure)


def _norm_ppf(q):
    from scipy.special import ndtri

    return float(ndtri(q))


def ci_clopper_pearson(events, n, level=0.95) -> tuple[np.ndarray, np.ndarray]:
    """Exact (Clopper–Pearson) confidence limits of proportions; returns ``(low, high)`` arrays.

    Example
    -------
    >>> lo, hi = ci_clopper_pearson([13], [51])
    >>> float(lo[0]).__round__(4), float(hi[0]).__round__(4)
    (0.1433, 0.3963)
    """
    from scipy.special import betaincinv

    x, n = _as_counts(events, n)
    a = (1 - level) / 2
    with np.errstate(invalid="ignore"):
        lo = np.where(x == 0, 0.0, betaincinv(x, n - x + 1, a))
        hi = np.where(x == n, 1.0, betaincinv(x + 1, n - x, 1 - a))
    return lo, hi


def ci_wilson(events, n, level=0.95) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score confidence limits of proportions (no continuity correction).

    Example
    -------
    >>> lo, hi = ci_wilson([13], [51])
    >>> float(lo[0]).__round__(4), float(hi[0]).__round__(4)
    (0.1555, 0.3887)
    """
    x, n = _as_counts(events, n)
    z = _norm_ppf(1 - (1 - level) / 2)
    p = x / n
    den = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / den
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return np.clip(centre - half, 0, 1), np.clip(centre + half, 0, 1)


def effects_from_ci(estimate, ci_low, ci_high, *, level=0.95, log=False) -> tuple[np.ndarray, np.ndarray]:
    """Effect sizes from estimates with confidence intervals (Wald): returns ``(yi, vi)``.

    SE = (U − L)/(2·z), computed on the log scale when ``log=True`` (ratios, medians), where
    ``yi`` is ln(estimate).

    Example
    -------
    >>> yi, vi = effects_from_ci([29.9], [20.1], [41.0], log=True)
    >>> round(float(vi[0]) ** 0.5, 4)
    0.1819
    """
    est = np.asarray(estimate, dtype=float).ravel()
    lo = np.asarray(ci_low, dtype=float).ravel()
    hi = np.asarray(ci_high, dtype=float).ravel()
    if not (est.shape == lo.shape == hi.shape):
        raise ValueError("estimate, ci_low and ci_high must have the same length")
    bad = ~((lo <= est) & (est <= hi))
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(f"study {i + 1}: the CI [{lo[i]:g}, {hi[i]:g}] does not contain the "
                         f"estimate {est[i]:g}")
    if log:
        if (lo <= 0).any():
            i = int(np.argmax(lo <= 0))
            raise ValueError(f"study {i + 1}: log-scale effects need positive CI limits")
        est, lo, hi = np.log(est), np.log(lo), np.log(hi)
    z = _norm_ppf(1 - (1 - level) / 2)
    se = (hi - lo) / (2 * z)
    return est, se**2


def study_columns_proportions(x, n, level, study_ci):
    """Per-study display columns for proportions: events, n, p and its exact or Wilson CI."""
    if study_ci in ("clopper-pearson", "cp", "exact"):
        lo, hi = ci_clopper_pearson(x, n, level)
    elif study_ci == "wilson":
        lo, hi = ci_wilson(x, n, level)
    else:
        raise ValueError(f"unknown study_ci {study_ci!r}: expected 'clopper-pearson' or 'wilson'")
    return {"events": x.astype(int), "n": n.astype(int), "estimate": x / n, "ci_low": lo,
            "ci_high": hi}

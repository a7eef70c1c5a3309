"""Mantel–Haenszel (OR, RR, RD) and Peto (OR) pooling of 2×2 tables (numerical core).

:func:`mantel_haenszel` and :func:`peto` return plain dicts of the model-scale numbers; the
:class:`~iometa.results.MetaResult` is built by :func:`iometa.pool_two_groups`
(:mod:`iometa.core.two_group_pool`). Conventions are those of metafor 3.8-1 ``rma.mh`` and
``rma.peto``:

* the pooled estimate and its SE use the tables as given (no continuity correction; a
  double-zero table adds nothing to the OR and RR estimates and changes the RD estimate only
  through its weight n₁n₂/N);
* Q, I² and H² use the per-study effects of ``escalc(add=1/2, to="only0", drop00=TRUE)``
  around the pooled estimate, so double-zero tables are left out and Q has (studies with a
  defined effect − 1) degrees of freedom; Peto's Q is Σ(O − E)²/V − (Σ(O − E))²/ΣV from the
  uncorrected tables;
* for the OR: Cochran–Mantel–Haenszel test with continuity correction (``correct=TRUE``),
  Cochran's test (N in place of N − 1), and the Breslow–Day test of homogeneity with Tarone's
  correction over the tables with a positive expected count and events and non-events.

References
----------
Mantel N, Haenszel W (1959). J Natl Cancer Inst 22:719-748.
Robins J, Breslow N, Greenland S (1986). Biometrics 42:311-323 (variance of the MH log OR).
Greenland S, Robins JM (1985). Biometrics 41:55-68 (variances of the MH log RR and RD).
Breslow NE, Day NE (1980). Statistical Methods in Cancer Research I. IARC.
Tarone RE (1985). Biometrika 72:91-95.
Yusuf S, Peto R, Lewis J, Collins R, Sleight P (1985). Prog Cardiovasc Dis 27:335-371.
"""

from __future__ import annotations

import numpy as np
from scipy.special import chdtrc, ndtr, ndtri

from .two_group import binary_effects

__all__ = ["mantel_haenszel", "peto"]


def _wald(beta, se, level):
    z = float(ndtri(1 - (1 - level) / 2))
    stat = beta / se
    return {"coef": beta, "se": se, "stat": stat, "pval": float(2 * ndtr(-abs(stat))),
            "ci_low": beta - z * se, "ci_high": beta + z * se}


def _heterogeneity(q, k_yi):
    """p-value, I² and H² of Q with k_yi − 1 df (k_yi ≤ 1: Q = 0, p = 1, I² = 0, H² = 1)."""
    if k_yi <= 1:
        return {"q": 0.0, "q_df": 0, "q_pval": 1.0, "i2": 0.0, "h2": 1.0}
    df = k_yi - 1
    i2 = max(0.0, 100 * (q - df) / q) if q > 0 else 0.0
    return {"q": q, "q_df": df, "q_pval": float(chdtrc(df, q)), "i2": i2, "h2": q / df}


def _study_effects(a, b, c, d, measure):
    yi, vi, _, dz = binary_effects(a, b, c, d, measure, add=0.5, to="only0", drop00=True)
    return yi, vi, ~dz


def _or_tests(a, b, c, d, psi, out):
    n1, n2, nn = a + b, c + d, a + b + c + d
    xt, yt = a + c, b + d
    dev = abs(float(np.sum(a - n1 / nn * xt))) - 0.5
    base = n1 / nn * (n2 / nn) * xt
    out["cochran_stat"] = dev**2 / float(np.sum(base * (yt / nn)))
    with np.errstate(divide="ignore", invalid="ignore"):
        cmh_var = np.where(nn > 1, base * (yt / (nn - 1)), 0.0)
    out["cmh_stat"] = dev**2 / float(np.sum(cmh_var))
    for name in ("cochran", "cmh"):
        out[f"{name}_pval"] = float(chdtrc(1, out[f"{name}_stat"]))
    if psi == 1:
        n11 = n1 / nn * xt
    else:  # expected a under the common OR psi (the root of the quadratic in [0, min(n1, xt)])
        aa = psi * (n1 + xt) + (n2 - xt)
        n11 = (aa - np.sqrt(aa**2 - 4 * n1 * xt * psi * (psi - 1))) / (2 * (psi - 1))
    pos = (n11 > 0) & (xt > 0) & (yt > 0)
    e11 = n11[pos]
    e12, e21 = n1[pos] - e11, xt[pos] - e11
    e22 = e11 - n1[pos] - xt[pos] + nn[pos]
    w = 1 / (1 / e11 + 1 / e12 + 1 / e21 + 1 / e22)
    bd = max(0.0, float(np.sum((a[pos] - e11) ** 2 / w)))
    ta = max(0.0, bd - float(np.sum(a[pos] - e11)) ** 2 / float(np.sum(w)))
    kp = int(pos.sum())
    out.update(breslow_day_stat=bd, tarone_stat=ta, tarone_df=kp - 1, k_pos=kp)
    ok = kp > 1
    out["breslow_day_pval"] = float(chdtrc(kp - 1, bd)) if ok else None
    out["tarone_pval"] = float(chdtrc(kp - 1, ta)) if ok else None


def mantel_haenszel(a, b, c, d, *, measure="OR", level=0.95) -> dict:
    """Mantel–Haenszel pooled log OR, log RR or RD of the 2×2 tables (a, b; c, d).

    Returns the model-scale estimate with its Robins–Breslow–Greenland (OR) or
    Greenland–Robins (RR, RD) SE, Wald z test and CI, the heterogeneity statistics (see the
    module docstring), the per-study MH weights and, for the OR, the CMH, Cochran,
    Breslow–Day and Tarone tests. metafor: ``rma.mh(ai, bi, ci, di, measure=)``.

    Example
    -------
    >>> import numpy as np
    >>> fit = mantel_haenszel(np.array([2., 4, 6]), np.array([37., 40, 101]),
    ...                       np.array([1., 4, 4]), np.array([42., 40, 106]))
    >>> round(float(np.exp(fit["coef"])), 4)
    1.3975
    """
    a, b, c, d = (np.asarray(x, dtype=float) for x in (a, b, c, d))
    n1, n2, nn = a + b, c + d, a + b + c + d
    out = {}
    if measure == "OR":
        p, q = (a + d) / nn, (b + c) / nn
        r, s = a * d / nn, b * c / nn
        rs, ss = float(r.sum()), float(s.sum())
        if rs == 0 or ss == 0:
            raise ValueError("the Mantel-Haenszel odds ratio is not estimable: "
                             + ("no table has a > 0 and d > 0 (sum of a*d/N = 0)" if rs == 0
                                else "no table has b > 0 and c > 0 (sum of b*c/N = 0)"))
        beta = float(np.log(rs / ss))
        var = 0.5 * (np.sum(p * r) / rs**2 + np.sum(p * s + q * r) / (rs * ss)
                     + np.sum(q * s) / ss**2)
        weights = s
    elif measure == "RR":
        r, s = a * n2 / nn, c * n1 / nn
        if a.sum() == 0 or c.sum() == 0:
            raise ValueError("the Mantel-Haenszel risk ratio is not estimable: no events in "
                             f"group {1 if a.sum() == 0 else 2} of any study")
        rs, ss = float(r.sum()), float(s.sum())
        beta = float(np.log(rs / ss))
        var = np.sum(n1 / nn * (n2 / nn) * (a + c) - a / nn * c) / (rs * ss)
        weights = s
    elif measure == "RD":
        w = n1 * n2 / nn
        sw = float(w.sum())
        beta = float(np.sum(a * n2 / nn - c * n1 / nn) / sw)
        var = (beta * np.sum(c * (n1 / nn) ** 2 - a * (n2 / nn) ** 2
                             + n1 / nn * (n2 / nn) * (n2 - n1) / 2)
               + np.sum(a * (n2 - c) / nn + c * (n1 - a) / nn) / 2) / sw**2
        weights = w
    else:
        raise ValueError(f"Mantel-Haenszel pooling takes measure OR, RR or RD (got {measure!r})")
    var = float(var)
    if not var > 0:
        raise ValueError(f"the Mantel-Haenszel {measure} has variance {var:g} (no events or "
                         "only events in every table?): it cannot be tested or given a CI")
    out.update(_wald(beta, var**0.5, level))
    yi, vi, defined = _study_effects(a, b, c, d, measure)
    q = max(0.0, float(np.sum((yi[defined] - beta) ** 2 / vi[defined])))
    out.update(_heterogeneity(q, int(defined.sum())))
    out.update(yi=yi, vi=vi, defined=defined, weights=100 * weights / weights.sum(),
               k=int(a.size), k_yi=int(defined.sum()))
    if measure == "OR":
        _or_tests(a, b, c, d, rs / ss, out)
    return out


def peto(a, b, c, d, *, level=0.95) -> dict:
    """Peto's one-step log odds ratio Σ(O − E)/ΣV of the 2×2 tables (a, b; c, d).

    O = a, E = (a + c)n₁/N and V = (a + c)(b + d)n₁n₂/(N²(N − 1)) from the uncorrected tables;
    SE = 1/√ΣV; Q = Σ(O − E)²/V − (Σ(O − E))²/ΣV over the tables with V > 0, with (studies
    with a defined effect − 1) df. metafor: ``rma.peto(ai, bi, ci, di)``.

    Example
    -------
    >>> import numpy as np
    >>> fit = peto(np.array([2., 4, 6]), np.array([37., 40, 101]),
    ...            np.array([1., 4, 4]), np.array([42., 40, 106]))
    >>> round(float(np.exp(fit["coef"])), 4)
    1.3921
    """
    a, b, c, d = (np.asarray(x, dtype=float) for x in (a, b, c, d))
    n1, n2, nn = a + b, c + d, a + b + c + d
    xt, yt = a + c, b + d
    e = xt * n1 / nn
    with np.errstate(divide="ignore", invalid="ignore"):
        v = np.where(nn > 1, xt * yt * (n1 / nn) * (n2 / nn) / (nn - 1), 0.0)
    sv = float(v.sum())
    if sv == 0:
        raise ValueError("Peto's method cannot be used: one of the two outcomes never occurs "
                         "in any table (every score variance is 0)")
    beta = float(np.sum(a - e)) / sv
    out = _wald(beta, (1 / sv) ** 0.5, level)
    pos = v > 0
    q = max(0.0, float(np.sum((a - e)[pos] ** 2 / v[pos])) - float(np.sum(a - e)) ** 2 / sv)
    yi, vi, defined = _study_effects(a, b, c, d, "PETO")
    het = _heterogeneity(q, int(defined.sum()))
    if int(pos.sum()) <= 1:
        het.update(q_pval=1.0, i2=0.0, h2=1.0)
    out.update(het)
    out.update(yi=yi, vi=vi, defined=defined, weights=100 * v / sv, k=int(a.size),
               k_yi=int(defined.sum()), observed_minus_expected=a - e, score_variance=v)
    return out

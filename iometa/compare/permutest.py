"""Permutation tests for meta-regressions: :func:`permutation_test` (metafor ``permutest``)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..core.progress import bar_for
from ..core.regression import fit_regression_arrays
from .metareg import MetaRegression

#: metafor's comparison tolerance (``comptol = .Machine$double.eps^0.5``)
COMPTOL = float(np.sqrt(np.finfo(float).eps))
#: largest number of permutations enumerated when exact=True is forced
MAX_EXACT = 5_000_000
_CHUNK_ELEMENTS = 2_000_000


@dataclass(frozen=True, eq=False)
class PermutationResult:
    """Permutation p-values of a meta-regression (metafor's ``permutest.rma.uni`` object).

    ``pval`` (one per coefficient, in ``terms`` order), ``qm_pval`` (omnibus test of the
    moderators), ``n_perm`` (permutations evaluated, the observed arrangement included),
    ``exact`` (all distinct permutations enumerated), ``n_distinct`` (how many distinct
    permutations exist), ``seed``, the permutation distributions ``stat_perm`` (n_perm × p),
    ``beta_perm`` and ``qm_perm``, and the original ``regression``.
    """

    pval: np.ndarray
    qm_pval: float
    n_perm: int
    exact: bool
    n_distinct: float
    seed: int | None
    terms: tuple[str, ...]
    regression: MetaRegression = field(repr=False)
    stat_perm: np.ndarray = field(repr=False)
    beta_perm: np.ndarray = field(repr=False)
    qm_perm: np.ndarray = field(repr=False)

    def to_frame(self) -> pd.DataFrame:
        """Coefficient table with the model-based and the permutation p-values."""
        reg = self.regression
        return pd.DataFrame({"term": list(self.terms), "estimate": reg.beta, "se": reg.se,
                             "stat": reg.stat, "pval_model": reg.pval, "pval": self.pval,
                             "ci_low": reg.ci_low, "ci_high": reg.ci_high})

    def summary(self, digits: int = 4) -> str:
        """Text like metafor's ``print.permutest.rma.uni``."""
        from ..core.format import fmt_p
        from .format import _table

        reg = self.regression
        kind = "exact" if self.exact else f"approximate ({self.n_perm} random permutations)"
        test = "F" if reg.qm_df2 is not None else "QM"
        return "\n".join([
            f"Permutation test of a meta-regression: {kind}; k = {reg.k}, method {reg.method}, "
            f"test {reg.test}", "",
            f"Test of moderators: {test} = {reg.qm:.{digits}f}, permutation p-val = "
            f"{fmt_p(self.qm_pval, digits)} (model-based {fmt_p(reg.qm_pval, digits)})", "",
            _table(self.to_frame(), digits)])

    def __str__(self) -> str:
        return self.summary()

    def __repr__(self) -> str:
        from ..core.format import fmt_p, one_line

        return one_line("PermutationResult", ("exact" if self.exact else "random",
                                              f"n_perm={self.n_perm}"),
                        extra=f"QM p={fmt_p(self.qm_pval)}")

    def _repr_html_(self) -> str:
        import html

        head = html.escape(self.summary().split("\n\n")[0:2][-1])
        from ..core.format import display_frame

        table = display_frame(self.to_frame(), 4, scaled=()).to_html(index=False)
        return f"<div><p>{head}</p>{table}</div>"


def _multiset_permutations(types: np.ndarray) -> np.ndarray:
    """All distinct orderings of the multiset ``types`` (ints 0..U-1) as an (N, k) array."""
    counts = tuple(int(c) for c in np.bincount(types))
    memo: dict[tuple[int, ...], np.ndarray] = {}

    def build(c: tuple[int, ...]) -> np.ndarray:
        if c in memo:
            return memo[c]
        if sum(c) == 0:
            return np.zeros((1, 0), dtype=np.int32)
        parts = []
        for t, ct in enumerate(c):
            if ct:
                sub = build(c[:t] + (ct - 1,) + c[t + 1:])
                parts.append(np.column_stack([np.full(len(sub), t, np.int32), sub]))
        memo[c] = out = np.vstack(parts)
        return out

    return build(counts)


def _row_types(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct rows of X (U × p) and each row's type id, as metafor groups identical rows."""
    uniq, types = np.unique(X, axis=0, return_inverse=True)
    return uniq, np.asarray(types).ravel()


def _n_distinct(reg: MetaRegression, types) -> int:
    if reg.p == 1 and reg.intercept:
        return 2**reg.k
    counts = np.bincount(types)
    return math.factorial(reg.k) // math.prod(math.factorial(int(c)) for c in counts)


def _fit_all(reg: MetaRegression, y, X, bar):
    """Fit the permuted data (B × k outcomes, B × k × p designs) in memory-bounded chunks."""
    B = y.shape[0]
    step = max(1, _CHUNK_ELEMENTS // max(1, reg.k * reg.p))
    stats, betas, qms = [], [], []
    for s in range(0, B, step):
        yy = y[s:s + step]
        XX = X[s:s + step] if X.ndim == 3 else X
        fit = fit_regression_arrays(yy, np.broadcast_to(reg.vi, yy.shape), XX,
                                    method=reg.method, test=reg.test, level=reg.level,
                                    tau2=reg.tau2_fixed, btt=reg.btt)
        stats.append(fit.stat)
        betas.append(fit.beta)
        qms.append(fit.qm)
        bar.update(advance=yy.shape[0])
    return np.vstack(stats), np.vstack(betas), np.concatenate(qms)


def _arrangements(reg: MetaRegression, exact: bool, n_perm: int, rng):
    """Permuted outcomes and designs: sign flips (intercept-only) or row permutations of X."""
    k = reg.k
    if reg.p == 1 and reg.intercept:
        if exact:
            signs = 1 - 2 * ((np.arange(2**k)[:, None] >> np.arange(k)) & 1)
        else:
            signs = rng.choice([-1.0, 1.0], size=(n_perm, k))
            signs[0] = 1.0
        return signs * reg.yi, reg.X
    uniq, types = _row_types(reg.X)
    if exact:
        perms = _multiset_permutations(np.sort(types))
        return np.broadcast_to(reg.yi, (len(perms), k)), uniq[perms]
    idx = rng.permuted(np.tile(np.arange(k), (n_perm, 1)), axis=1)
    idx[0] = np.arange(k)
    return np.broadcast_to(reg.yi, (n_perm, k)), reg.X[idx]


def permutation_test(reg: MetaRegression, *, n_perm: int = 1000, seed=None,
                     exact="auto", stat="test", progress=True) -> PermutationResult:
    """Permutation test of a meta-regression's coefficients and of Q_M (metafor ``permutest``).

    The rows of the model matrix are permuted against the outcomes and the model refitted
    (same method, test and fixed τ² if any); for an intercept-only model the signs of the
    outcomes are flipped instead. p-value of coefficient j: the share of permutations with
    ``|z_j (or t_j)| ≥ |observed| − 1.49e-8``; of Q_M: share with Q_M ≥ observed − 1.49e-8
    (metafor's tolerance). ``exact="auto"`` (metafor's default logic) enumerates every distinct
    permutation when there are at most ``n_perm`` of them (k!/∏nⱼ! for rows with nⱼ identical
    copies; 2ᵏ sign patterns), else draws ``n_perm`` − 1 random permutations plus the observed
    one; ``exact=True`` forces enumeration (up to 5 million), ``exact=False`` forces random
    draws. ``seed``: an int or a :class:`numpy.random.Generator` (results are reproducible with
    a seed; R's random stream is not reproduced, so compare random runs distributionally).
    ``stat="coef"`` compares the absolute coefficients ``abs(b_j)`` instead of ``abs(z_j)`` (metafor's
    ``permutest(control=list(stat="coef"))``); Q_M is tested as before. ``progress``: a
    one-line bar on stderr (permutations fitted, elapsed time) once the run has lasted half
    a second, only when stderr is a terminal; False for none.

    References: Higgins & Thompson 2004 (Stat Med 23:1663); Viechtbauer, López-López,
    Sánchez-Meca & Marín-Martínez 2015 (Psychol Methods 20:360).

    Example
    -------
    >>> import iometa
    >>> reg = iometa.meta_regression([-0.89, -1.59, -1.35, -1.44, -0.22, -0.79],
    ...                              [0.33, 0.19, 0.42, 0.02, 0.05, 0.01],
    ...                              [44, 55, 42, 52, 13, 44], method="DL")
    >>> perm = iometa.permutation_test(reg)
    >>> perm.exact, perm.n_perm
    (True, 360)
    """
    if not isinstance(reg, MetaRegression):
        raise TypeError("permutation_test needs the result of iometa.meta_regression")
    if reg.method == "GLMM":
        raise ValueError("permutation_test refits the inverse-variance model on yi/vi; it is "
                         "not available for the GLMM meta-regression (nor is permutest for "
                         "rma.glmm in metafor)")
    if exact not in ("auto", True, False):
        raise ValueError("exact must be 'auto', True or False")
    if stat not in ("test", "coef"):
        raise ValueError(f"unknown stat {stat!r}: expected 'test' or 'coef'")
    n_perm = int(round(n_perm))
    if n_perm < 2:
        raise ValueError("n_perm must be at least 2")
    types = None if (reg.p == 1 and reg.intercept) else _row_types(reg.X)[1]
    n_distinct = _n_distinct(reg, types)
    use_exact = exact is True or (exact == "auto" and n_distinct <= n_perm)
    if use_exact and n_distinct > MAX_EXACT:
        raise ValueError(f"an exact test needs {n_distinct} permutations (more than "
                         f"{MAX_EXACT}); use exact=False with n_perm random permutations")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    y, X = _arrangements(reg, use_exact, n_perm, rng)
    with bar_for(progress, "permutation_test", y.shape[0]) as bar:
        bar.update(text="permutations")
        stats, beta, qm = _fit_all(reg, y, X, bar)
    perm, obs = (stats, reg.stat) if stat == "test" else (beta, reg.beta)
    with np.errstate(invalid="ignore"):
        pval = np.nanmean(np.abs(perm) >= np.abs(obs) - COMPTOL, axis=0,
                          where=np.isfinite(perm))
        qm_pval = float(np.nanmean(qm[np.isfinite(qm)] >= reg.qm - COMPTOL))
    return PermutationResult(
        pval=np.minimum(pval, 1.0), qm_pval=min(qm_pval, 1.0), n_perm=len(qm),
        exact=use_exact, n_distinct=n_distinct, seed=seed if isinstance(seed, int) else None,
        terms=reg.terms, regression=reg, stat_perm=stats, beta_perm=beta, qm_perm=qm)

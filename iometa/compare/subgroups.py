"""Subgroup analysis: :func:`subgroups` and its result :class:`SubgroupResult`.

Every group is refitted with the pooled result's own model (``result.refit(index)``: same
measure, method, test, level and route), and two tests for subgroup differences are computed:

* **separate τ²** (meta's default ``Q.b.random``): Q = Σ w_g (b_g − b̄)² over the group
  estimates b_g with w_g = 1/se_g² and b̄ = Σw_g b_g/Σw_g, χ²(G − 1). se_g is the group's
  standard error as reported (under Knapp–Hartung the KH-adjusted one, as meta does);
* **common τ²** (mixed-effects model): Q_M of ``rma(yi, vi, mods = ~ factor(group))`` with the
  result's method and test (χ²(G − 1), or under Knapp–Hartung F(G − 1, k − G)), from
  :func:`iometa.meta_regression`.

Groups are ordered by first appearance in ``by`` (a pandas ``Categorical`` keeps its category
order); the first group is the reference level of the common-τ² model (Q_M does not depend on
it).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .._warnings import IometaWarning, SmallSampleWarning
from ..core.format import fmt, fmt_p
from ..core.results import MetaResult

TAU2_MODES = ("separate", "common")


@dataclass(frozen=True)
class BetweenGroupTest:
    """A test for subgroup differences: ``q`` (χ² statistic, or F under Knapp–Hartung in the
    common-τ² model), ``df`` (G − 1), ``df2`` (F denominator df k − G, else None), ``pval``,
    ``kind`` ("separate" or "common"), ``groups`` (the groups that entered) and ``note`` (why
    the test is missing or what it assumed)."""

    kind: str
    q: float
    df: int
    pval: float
    df2: int | None = None
    groups: tuple[str, ...] = ()
    note: str = ""

    @property
    def statistic(self) -> str:
        """``"F"`` for the Knapp–Hartung F-test, else ``"Q"``."""
        return "F" if self.df2 is not None else "Q"

    def __repr__(self) -> str:
        from ..core.format import one_line

        return one_line("BetweenGroupTest", (self.kind,), extra=self.describe(3))

    def describe(self, digits: int = 4) -> str:
        """One line such as ``Q(df = 2) = 1.23, p = 0.54``."""
        if not np.isfinite(self.q):
            return f"not available ({self.note})" if self.note else "not available"
        dfs = f"df1 = {self.df}, df2 = {self.df2}" if self.df2 is not None else f"df = {self.df}"
        return f"{self.statistic}({dfs}) = {fmt(self.q, digits)}, p = {fmt_p(self.pval, digits)}"


@dataclass(frozen=True, eq=False)
class SubgroupResult:
    """Pooled results per group, the overall result and the tests for subgroup differences.

    ``groups`` (group name -> :class:`~iometa.MetaResult`, each group fitted on its own),
    ``overall`` (the input result), ``tau2`` (which test is reported as ``q_between``:
    "separate" or "common"), ``q_between``, ``q_between_df``, ``q_between_pval`` (that test),
    ``test_separate`` and ``test_common`` (both :class:`BetweenGroupTest`), ``common_fit`` (the
    mixed-effects :class:`~iometa.compare.metareg.MetaRegression` on the group factor, or None),
    ``common_estimates`` (group estimates under a common τ²), ``singletons`` (groups with one
    study), ``assignment`` (each study's group, in study order), ``by_name``, ``notes``.

    Example
    -------
    >>> import iometa
    >>> res = iometa.pool_proportions([45, 38, 50, 27, 60, 33], [50, 45, 52, 31, 70, 36])
    >>> sub = iometa.subgroups(res, ["RFA", "RFA", "MWA", "RFA", "MWA", "MWA"])
    >>> list(sub.groups), sub.q_between_df
    (['RFA', 'MWA'], 1)
    """

    groups: dict[str, MetaResult]
    overall: MetaResult
    tau2: str
    test_separate: BetweenGroupTest
    test_common: BetweenGroupTest
    assignment: tuple[str, ...]
    by_name: str = "group"
    common_fit: object | None = field(default=None, repr=False)
    singletons: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def test_chosen(self) -> BetweenGroupTest:
        """The test selected by ``tau2``."""
        return self.test_common if self.tau2 == "common" else self.test_separate

    @property
    def warnings(self) -> tuple[str, ...]:
        """The cautions of the analysis: its ``notes`` and each group's warnings, named by the
        group (what :func:`subgroups` raised, and the groups' notes); one-study groups are
        summarised in the notes.

        Example
        -------
        >>> import iometa
        >>> res = iometa.pool([0.1, 0.5, 0.3, 0.8, 0.6], [0.04] * 5, method="DL")
        >>> sub = iometa.subgroups(res, ["a", "a", "b", "b", "c"])
        >>> any("single study" in w for w in sub.warnings)
        True
        """
        groups = tuple(f"subgroup {g!r}: {w}" for g, r in self.groups.items() if r.k > 1
                       for w in r.warnings)
        return tuple(dict.fromkeys(self.notes + groups))

    @property
    def q_between(self) -> float:
        return self.test_chosen.q

    @property
    def q_between_df(self) -> int:
        return self.test_chosen.df

    @property
    def q_between_pval(self) -> float:
        return self.test_chosen.pval

    @property
    def common_estimates(self) -> pd.DataFrame:
        """Group estimates from the common-τ² model (metafor ``predict`` per level): model
        scale (coef, se, coef_ci_*, coef_pi_*) and reporting scale (estimate, ci_*, pi_*; the
        overall result's back-transformation)."""
        from .contrasts import common_predictions

        return common_predictions(self)

    def to_frame(self) -> pd.DataFrame:
        """One row per group (its own fit) plus an "Overall" row: group, k, n_total,
        estimate, ci_low, ci_high, pi_low, pi_high (reporting scale), coef, se (model scale),
        tau2, i2, q, q_pval."""
        rows = [_row(name, res) for name, res in self.groups.items()]
        rows.append(_row("Overall", self.overall))
        return pd.DataFrame(rows)

    def contrasts(self, tau2: str | None = None) -> pd.DataFrame:
        """Pairwise contrasts between the groups; see :func:`iometa.compare.contrasts`."""
        from .contrasts import contrasts

        return contrasts(self, tau2=tau2)

    def summary(self, digits: int = 4, pscale: float = 1) -> str:
        """Text: the per-group table and both tests for subgroup differences (``pscale``: as
        :meth:`iometa.MetaResult.summary`, e.g. 100 for percent).

        Example
        -------
        >>> import iometa
        >>> res = iometa.pool_proportions([45, 38, 50, 27], [50, 45, 52, 31])
        >>> sub = iometa.subgroups(res, ["RFA", "RFA", "MWA", "MWA"])
        >>> "reporting scale: percent" in sub.summary(pscale=100)
        True
        """
        from .format import subgroup_summary

        return subgroup_summary(self, digits, pscale)

    def methods_text(self) -> str:
        """The methods in one paragraph: the overall model, then how the subgroups were
        fitted and tested; see :func:`iometa.compare.reporter.subgroup_methods_text`.

        Example
        -------
        >>> import iometa
        >>> res = iometa.pool([0.1, 0.5, 0.3, 0.8, 0.6, 0.9], [0.04] * 6, method="DL")
        >>> sub = iometa.subgroups(res, ["a", "a", "a", "b", "b", "b"])
        >>> "subgroups defined by group" in sub.methods_text().lower()
        True
        """
        from .reporter import subgroup_methods_text

        return subgroup_methods_text(self)

    def results_text(self, pscale: float = 1, digits: int | None = None) -> str:
        """The results in one paragraph: every subgroup's estimate with its CI, the overall
        one and the test for subgroup differences; see
        :func:`iometa.compare.reporter.subgroup_results_text`.

        Example
        -------
        >>> import iometa
        >>> res = iometa.pool([0.1, 0.5, 0.3, 0.8, 0.6, 0.9], [0.04] * 6, method="DL")
        >>> sub = iometa.subgroups(res, ["a", "a", "a", "b", "b", "b"])
        >>> "test for subgroup differences" in sub.results_text()
        True
        """
        from .reporter import subgroup_results_text

        return subgroup_results_text(self, pscale=pscale, digits=digits)

    def __str__(self) -> str:
        return self.summary()

    def __repr__(self) -> str:
        from ..core.format import one_line

        return one_line("SubgroupResult", (f"by={self.by_name}", f"groups={len(self.groups)}",
                                           f"k={self.overall.k}"),
                        extra=self.test_chosen.describe(3))

    def _repr_html_(self, pscale: float = 1) -> str:
        """The Jupyter display: the per-group table (counts as integers, I² in percent,
        estimates times ``pscale``) and both tests."""
        from .format import subgroup_html

        return subgroup_html(self, pscale)


def _row(name, res: MetaResult) -> dict:
    n_total = float(np.nansum(res.studies["n"].to_numpy(float))) if "n" in res.studies else np.nan
    return {"group": name, "k": res.k, "n_total": n_total, "estimate": res.estimate,
            "ci_low": res.ci_low, "ci_high": res.ci_high, "pi_low": res.pi_low,
            "pi_high": res.pi_high, "coef": res.coef, "se": res.se, "tau2": res.tau2,
            "i2": res.i2, "q": res.q, "q_pval": res.q_pval}


def _resolve_by(result: MetaResult, by) -> tuple[str, pd.Series]:
    if isinstance(by, str):
        if result.data is None:
            raise ValueError(f"by={by!r} is a column name, but this result was not fitted from "
                             "a DataFrame (data=None): pass an array aligned with the studies")
        if by not in result.data.columns:
            raise ValueError(f"by={by!r}: no such column in the result's data (columns: "
                             f"{', '.join(map(str, result.data.columns))})")
        return by, result.data[by].reset_index(drop=True)
    name = str(getattr(by, "name", None) or "group")
    values = by.reset_index(drop=True) if isinstance(by, pd.Series) else pd.Series(list(by)) \
        if not isinstance(by, pd.Categorical) else pd.Series(by)
    return name, values


def _group_order(values: pd.Series) -> list:
    if isinstance(values.dtype, pd.CategoricalDtype):
        present = set(values)
        return [c for c in values.cat.categories if c in present]
    return list(pd.unique(values))


def _fit_group(result: MetaResult, idx: np.ndarray, name: str, notes: list[str]) -> MetaResult:
    """Refit one group, re-issuing its warnings with the group's name."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if result.method == "GLMM" and idx.size == 1:
            res = result.refit(idx, method="FE")
            notes.append(f"group {name!r} has one study: the GLMM needs at least two, so it is "
                         "reported with its own logit proportion (inverse-variance, measure "
                         "PLO) and enters the tests with that estimate and standard error")
        else:
            try:
                res = result.refit(idx)
            except ValueError as exc:
                raise ValueError(f"subgroup {name!r}: {exc}") from exc
    for w in caught:
        if idx.size == 1 and issubclass(w.category, SmallSampleWarning):
            continue  # summarised once in the notes
        cat = w.category if issubclass(w.category, Warning) else IometaWarning
        warnings.warn(f"subgroup {name!r}: {w.message}", cat, stacklevel=4)
    return res


def _no_se_reason(res: MetaResult) -> str:
    if res.method in ("MM", "WM"):
        return "pooled by the median of medians, which has no standard error"
    if res.se == 0 and res.test == "knha":
        return ("its effects are identical, so the Knapp-Hartung standard error, scaled by "
                "their spread, is 0; use test='z'")
    return f"standard error {res.se!r}"


def _test_separate(groups: dict[str, MetaResult]) -> BetweenGroupTest:
    names = [g for g, r in groups.items() if np.isfinite(r.se) and r.se > 0]
    if len(names) < len(groups):
        why = "; ".join(f"group {g!r}: {_no_se_reason(r)}" for g, r in groups.items()
                        if g not in names)
        return BetweenGroupTest("separate", np.nan, len(groups) - 1, np.nan, note=(
            f"a group has no standard error ({why})"))
    if len(names) < 2:
        return BetweenGroupTest("separate", np.nan, 0, np.nan, groups=tuple(names),
                                note="fewer than two groups")
    b = np.array([groups[g].coef for g in names])
    w = 1 / np.array([groups[g].se for g in names]) ** 2
    q = float((w * (b - (w * b).sum() / w.sum()) ** 2).sum())
    df = len(names) - 1
    return BetweenGroupTest("separate", q, df, _chi2_sf(q, df), groups=tuple(names))


def _chi2_sf(q: float, df: int) -> float:
    """P(χ²(df) ≥ q): in closed form for integer df (no scipy import: a first subgrouped
    forest plot), else scipy.special's chdtrc as scipy.stats computes it."""
    from ..core._scalar_dist import chi2_sf

    p = chi2_sf(float(df), q)
    if p is not None:
        return float(p)
    from ..core.tails import chi2_sf as tail

    return float(tail(q, df))


def _test_common(result: MetaResult, values: pd.Series, order: list, notes: list[str]):
    from .metareg import meta_regression

    G = len(order)
    if G < 2:
        return BetweenGroupTest("common", np.nan, 0, np.nan, note="fewer than two groups"), None
    if not np.isfinite(result.vi).all():
        return BetweenGroupTest("common", np.nan, G - 1, np.nan, note=(
            "the studies have no sampling variances (e.g. pooled by the median of medians)")), None
    factor = pd.Categorical(values, categories=order)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            # (a GLMM result: the inverse-variance model on its logits, as documented above)
            reg = meta_regression(result, pd.Series(factor, name="group"),
                                  method="ML" if result.method == "GLMM" else None)
    except ValueError as exc:
        return BetweenGroupTest("common", np.nan, G - 1, np.nan, note=str(exc)), None
    if result.method == "GLMM":
        notes.append("common-tau^2 model: the GLMM result was meta-regressed with the "
                     "inverse-variance model on the logit proportions (method='ML'); "
                     "iometa.meta_regression(result, by) fits the GLMM itself (rma.glmm(mods=))")
    notes.extend(f"common-tau^2 model: {w.message}" for w in caught)
    notes.extend(f"common-tau^2 model: {n}" for n in reg.warnings if n not in
                 [str(w.message) for w in caught])
    note = "" if np.isfinite(reg.qm) else (reg.warnings[-1] if reg.warnings else "QM is NaN")
    test = BetweenGroupTest("common", reg.qm, reg.qm_df, reg.qm_pval, df2=reg.qm_df2,
                            groups=tuple(str(g) for g in order), note=note)
    return test, reg


def subgroups(result: MetaResult, by, *, tau2: str = "separate") -> SubgroupResult:
    """Subgroup analysis of a pooled result, with both tests for subgroup differences.

    ``result``: any :class:`~iometa.MetaResult` (:func:`iometa.pool`,
    :func:`iometa.pool_proportions` including the GLMM, :func:`iometa.pool_medians`,
    :func:`iometa.pool_survival_rates`). ``by``: the group of each study, aligned with
    ``result.studies`` (an array/list/Series/Categorical), or the name of a column of the
    DataFrame the result was fitted from (``result.data``). ``tau2``: which test is reported as
    ``q_between`` — ``"separate"`` (each group its own τ²; meta's default test) or
    ``"common"`` (one τ² for all groups: the mixed-effects meta-regression on the group factor,
    metafor ``rma(yi, vi, mods = ~ factor(group))``); both are always computed.

    Groups with one study are reported with that study's estimate (τ² = 0, no heterogeneity
    statistics); they enter the separate-τ² test with their own sampling variance (as meta)
    and the common-τ² test with their own coefficient (adding nothing to τ²). For GLMM results
    a one-study group is fitted with the inverse-variance logit model, and the common-τ² test
    uses the inverse-variance meta-regression on the logit proportions (ML); see ``notes``.

    References: Borenstein, Hedges, Higgins & Rothstein 2009 (Introduction to Meta-Analysis,
    ch. 19); Richardson, Garner & Donegan 2019 (Res Synth Methods 10:217); Viechtbauer 2010
    (J Stat Softw 36(3)); meta ``update(m, subgroup = )`` (Balduzzi, Rücker & Schwarzer 2019,
    Evid Based Ment Health 22:153).

    Example
    -------
    >>> import iometa
    >>> res = iometa.pool([-0.9, -1.6, -1.4, -1.4, -0.2, -0.8],
    ...                   [0.33, 0.19, 0.42, 0.02, 0.05, 0.01])
    >>> sub = iometa.subgroups(res, ["a", "a", "a", "b", "b", "b"], tau2="common")
    >>> sub.test_common.df, round(sub.q_between, 3) == round(sub.common_fit.qm, 3)
    (1, True)
    """
    if tau2 not in TAU2_MODES:
        raise ValueError(f"tau2 must be 'separate' or 'common', got {tau2!r}")
    if not isinstance(result, MetaResult):
        raise TypeError("subgroups needs a pooled result (a MetaResult from iometa.pool, "
                        "pool_proportions, pool_medians or pool_survival_rates)")
    by_name, values = _resolve_by(result, by)
    if len(values) != result.k:
        raise ValueError(f"by has {len(values)} entries for the {result.k} studies of the result")
    if values.isna().any():
        miss = [result.labels[i] for i in np.flatnonzero(values.isna().to_numpy())]
        raise ValueError(f"no group for {len(miss)} stud{'y' if len(miss) == 1 else 'ies'}: "
                         f"{', '.join(miss)}; give every study a group or drop it first")
    order = _group_order(values)
    notes: list[str] = []
    groups = {str(g): _fit_group(result, np.flatnonzero((values == g).to_numpy()), str(g), notes)
              for g in order}
    singles = tuple(g for g, r in groups.items() if r.k == 1)
    if singles:
        notes.append(
            f"{len(singles)} group(s) with a single study ({', '.join(singles)}): reported with "
            "that study's own estimate; no within-group heterogeneity test, tau^2, I^2 or "
            "prediction interval exists for them (and a z test replaces Knapp-Hartung). They "
            "enter the separate-tau^2 test with "
            "tau^2 = 0 (the study's own variance, as meta does) and the common-tau^2 test with "
            "their own coefficient (they add nothing to the estimate of tau^2)")
        warnings.warn(notes[-1], SmallSampleWarning, stacklevel=2)
    sep = _test_separate(groups)
    com, reg = _test_common(result, values, order, notes)
    chosen = com if tau2 == "common" else sep
    if not np.isfinite(chosen.q):
        notes.append(f"no test for subgroup differences ({tau2} tau^2): {chosen.note}")
        warnings.warn(notes[-1], SmallSampleWarning if len(order) < 2 else IometaWarning,
                      stacklevel=2)
    return SubgroupResult(groups=groups, overall=result, tau2=tau2, test_separate=sep,
                          test_common=com, assignment=tuple(str(x) for x in values),
                          by_name=by_name, common_fit=reg, singletons=singles,
                          notes=tuple(dict.fromkeys(notes)))

"""Comparisons between groups of studies (the comparison part of issue 14).

Public names (re-exported by :mod:`iometa`):

* :func:`subgroups` / :class:`SubgroupResult` / :class:`BetweenGroupTest` — subgroup analysis
  with the separate- and common-τ² tests for subgroup differences
  (:mod:`iometa.compare.subgroups`), and pairwise :func:`contrasts` with Holm-adjusted p-values
  and back-transformed contrasts (:mod:`iometa.compare.contrasts`);
* :func:`meta_regression` / :class:`MetaRegression` — meta-regression as metafor's
  ``rma(yi, vi, mods)`` (:mod:`iometa.compare.metareg`; batched numeric core
  :mod:`iometa.core.regression`; model matrices :mod:`iometa.core.design`);
* :func:`permutation_test` / :class:`PermutationResult` — metafor's ``permutest``
  (:mod:`iometa.compare.permutest`).
"""

from __future__ import annotations

from .contrasts import contrasts
from .metareg import MetaRegression, meta_regression
from .permutest import PermutationResult, permutation_test
from .robust import RobustResult, robust
from .subgroups import BetweenGroupTest, SubgroupResult, subgroups

__all__ = ["BetweenGroupTest", "MetaRegression", "PermutationResult", "RobustResult",
           "SubgroupResult", "robust",
           "contrasts", "meta_regression", "permutation_test", "subgroups"]

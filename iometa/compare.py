"""Comparisons between groups of studies (the comparison part of issue 14).

Public names (re-exported by :mod:`iometa`):

* :func:`subgroups` / :class:`SubgroupResult` / :class:`BetweenGroupTest` — subgroup analysis
  with the separate- and common-τ² tests for subgroup differences
  (:mod:`iometa.subgroup_analysis`), and pairwise :func:`contrasts` with Holm-adjusted p-values
  and back-transformed contrasts (:mod:`iometa.subgroup_contrasts`);
* :func:`meta_regression` / :class:`MetaRegression` — meta-regression as metafor's
  ``rma(yi, vi, mods)`` (:mod:`iometa.metareg`; batched numeric core
  :mod:`iometa.metareg_core`; model matrices :mod:`iometa.metareg_design`);
* :func:`permutation_test` / :class:`PermutationResult` — metafor's ``permutest``
  (:mod:`iometa.permutest`).
"""

from __future__ import annotations

from .metareg import MetaRegression, meta_regression
from .permutest import PermutationResult, permutation_test
from .subgroup_analysis import BetweenGroupTest, SubgroupResult, subgroups
from .subgroup_contrasts import contrasts

__all__ = ["BetweenGroupTest", "MetaRegression", "PermutationResult", "SubgroupResult",
           "contrasts", "meta_regression", "permutation_test", "subgroups"]

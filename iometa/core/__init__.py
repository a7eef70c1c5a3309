"""The statistical core: arrays in, results out (no I/O, no matplotlib).

Effect sizes (:mod:`.effects`), the one registry of τ² methods with its batched intercept
kernels (:mod:`.estimators`), the same methods with a design matrix (:mod:`.regression`), the
fitting engine (:mod:`.fitting`), the pooling functions (:mod:`.models`), the binomial-normal
GLMM (:mod:`.glmm`), the result type (:mod:`.results`) and refits on many subsets
(:mod:`.subsets`). Every other package of iometa builds on this one.

Example
-------
>>> from iometa.core import pool
>>> round(pool([0.1, 0.5, 0.9], [0.04, 0.05, 0.06], method="DL").tau2, 4)
0.1107
"""

from __future__ import annotations

from .effects import ci_clopper_pearson, ci_wilson, effects_from_ci, proportion_effects
from .estimators import METHODS, estimate_tau2
from .fitting import TESTS, BatchFit, fit_arrays, tau2_ci_qprofile
from .measures import MEASURES, Measure
from .models import pool, pool_proportions
from .rates import pool_rates, rate_effects
from .results import Deferred, MetaResult
from .spec import ModelSpec, refit, register_fitter

__all__ = ["MEASURES", "METHODS", "TESTS", "Measure", "ModelSpec", "refit", "register_fitter", "BatchFit", "Deferred", "MetaResult", "ci_clopper_pearson",
           "ci_wilson", "effects_from_ci", "estimate_tau2", "fit_arrays", "pool",
           "pool_proportions", "pool_rates", "proportion_effects", "rate_effects", "tau2_ci_qprofile"]

"""iometa: meta-analysis of interventional-oncology outcomes.

The public API is re-exported here and imported lazily, so ``import iometa`` stays light
(scipy, statsmodels and matplotlib load only when a function that needs them is used).

Example
-------
>>> import iometa
>>> res = iometa.pool_proportions([13, 4, 9], [51, 30, 40], measure="PLO", method="REML")
>>> round(res.estimate, 3)  # doctest: +SKIP
0.224
"""

from __future__ import annotations

import importlib
from typing import Any

from ._version import __version__ as __version__

# public name -> module that defines it
_LAZY: dict[str, str] = {
    # study table
    "load_studies": "iometa.data",
    "validate_studies": "iometa.data",
    "read_study_table": "iometa.data",
    "default_data_path": "iometa.data",
    "StudyTableError": "iometa.data",
    "Problem": "iometa.data",
    "outcome_rows": "iometa.data",
    "Vocabulary": "iometa.data",
    "read_vocabulary": "iometa.data",
    # effect sizes
    "proportion_effects": "iometa.core.effects",
    "effects_from_ci": "iometa.core.effects",
    "ci_clopper_pearson": "iometa.core.effects",
    "ci_wilson": "iometa.core.effects",
    # models and results
    "pool": "iometa.core.models",
    "pool_proportions": "iometa.core.models",
    "MetaResult": "iometa.core.results",
    "refit": "iometa.core.spec",
    "ModelSpec": "iometa.core.spec",
    "MEASURES": "iometa.core.measures",
    # comparative (two-group) studies
    "two_group_effects": "iometa.core.two_group",
    "pool_two_groups": "iometa.core.two_group_pool",
    "pool_effects": "iometa.core.two_group_pool",
    "effects_from_reported": "iometa.core.reported_effects",
    "harbord_test": "iometa.bias",
    # incidence rates per person-time
    "rate_effects": "iometa.core.rates",
    "pool_rates": "iometa.core.rates",
    # three-level models and cluster-robust inference
    "pool_multilevel": "iometa.core.multilevel",
    "MultilevelResult": "iometa.core.multilevel_result",
    "robust": "iometa.compare.robust",
    "RobustResult": "iometa.compare.robust",
    # exact Bayesian random effects (few studies)
    "pool_bayes": "iometa.core.bayes",
    "BayesResult": "iometa.core.bayes_result",
    "fit_bayes_arrays": "iometa.core.bayes_batch",
    # survival
    "pool_medians": "iometa.survival",
    "pool_survival_rates": "iometa.survival",
    "survival_table": "iometa.survival",
    # comparisons
    "subgroups": "iometa.compare",
    "SubgroupResult": "iometa.compare",
    "meta_regression": "iometa.compare",
    "permutation_test": "iometa.compare",
    "contrasts": "iometa.compare",
    # diagnostics
    "leave_one_out": "iometa.diagnostics",
    "influence": "iometa.diagnostics",
    "cumulative": "iometa.diagnostics",
    "baujat": "iometa.diagnostics",
    "gosh": "iometa.diagnostics",
    "method_sensitivity": "iometa.diagnostics",
    # small-study effects
    "egger_test": "iometa.bias",
    "begg_test": "iometa.bias",
    "peters_test": "iometa.bias",
    "trim_and_fill": "iometa.bias",
    "henmi_copas": "iometa.bias",
    "HenmiCopasResult": "iometa.bias",
    # batched engine
    "pool_many": "iometa.batch",
    # plots (matplotlib imported only here)
    "forest_plot": "iometa.plots",
    "funnel_plot": "iometa.plots",
    "baujat_plot": "iometa.plots",
    "gosh_plot": "iometa.plots",
    "bubble_plot": "iometa.plots",
    "leave_one_out_plot": "iometa.plots",
    "cumulative_plot": "iometa.plots",
    "survival_plot": "iometa.plots",
    "save_figure": "iometa.plots",
    "bayes_forest_plot": "iometa.plots",
    "bayes_posterior_plot": "iometa.plots",
    # warnings
    "IometaWarning": "iometa._warnings",
    "ConvergenceWarning": "iometa._warnings",
    "SmallSampleWarning": "iometa._warnings",
    "TransformWarning": "iometa._warnings",
    "DataWarning": "iometa._warnings",
    "MomentWarning": "iometa._warnings",
}

__all__ = sorted([*_LAZY, "__version__"])


# packages reachable as attributes (``iometa.compare.subgroups``) without an import statement
_SUBPACKAGES = ("core", "data", "compare", "diagnostics", "bias", "survival", "plots", "report",
                "batch", "outcomes")


def __getattr__(name: str) -> Any:
    if name in _SUBPACKAGES:
        return importlib.import_module(f"iometa.{name}")
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'iometa' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__

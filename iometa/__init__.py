"""iometa: meta-analysis of interventional-oncology outcomes.

The public API is re-exported here and imported lazily, so ``import iometa`` stays light
(scipy and matplotlib load only when a function that needs them is used).

Example
-------
>>> import iometa
>>> res = iometa.pool_proportions([13, 4, 9], [51, 30, 40], measure="PLO", method="REML")
>>> round(res.estimate, 3)  # doctest: +SKIP
0.224
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._version import __version__ as __version__

if TYPE_CHECKING:  # static view of the lazy names, for mypy and IDEs (tests/test_typing.py)
    from ._warnings import (
        ConvergenceWarning as ConvergenceWarning,
    )
    from ._warnings import (
        DataWarning as DataWarning,
    )
    from ._warnings import (
        IometaWarning as IometaWarning,
    )
    from ._warnings import (
        MomentWarning as MomentWarning,
    )
    from ._warnings import (
        SmallSampleWarning as SmallSampleWarning,
    )
    from ._warnings import (
        TransformWarning as TransformWarning,
    )
    from ._warnings import (
        set_display as set_display,
    )
    from .batch import pool_many as pool_many
    from .bias import (
        HenmiCopasResult as HenmiCopasResult,
    )
    from .bias import (
        begg_test as begg_test,
    )
    from .bias import (
        egger_test as egger_test,
    )
    from .bias import (
        harbord_test as harbord_test,
    )
    from .bias import (
        henmi_copas as henmi_copas,
    )
    from .bias import (
        peters_test as peters_test,
    )
    from .bias import (
        trim_and_fill as trim_and_fill,
    )
    from .compare import (
        SubgroupResult as SubgroupResult,
    )
    from .compare import (
        contrasts as contrasts,
    )
    from .compare import (
        meta_regression as meta_regression,
    )
    from .compare import (
        permutation_test as permutation_test,
    )
    from .compare import (
        subgroups as subgroups,
    )
    from .compare.robust import RobustResult as RobustResult
    from .compare.robust import robust as robust
    from .core.bayes import pool_bayes as pool_bayes
    from .core.bayes_batch import fit_bayes_arrays as fit_bayes_arrays
    from .core.bayes_result import BayesResult as BayesResult
    from .core.effects import (
        ci_clopper_pearson as ci_clopper_pearson,
    )
    from .core.effects import (
        ci_wilson as ci_wilson,
    )
    from .core.effects import (
        effects_from_ci as effects_from_ci,
    )
    from .core.effects import (
        proportion_effects as proportion_effects,
    )
    from .core.measures import MEASURES as MEASURES
    from .core.models import pool as pool
    from .core.models import pool_proportions as pool_proportions
    from .core.multilevel import pool_multilevel as pool_multilevel
    from .core.multilevel_result import MultilevelResult as MultilevelResult
    from .core.rates import pool_rates as pool_rates
    from .core.rates import rate_effects as rate_effects
    from .core.reported_effects import effects_from_reported as effects_from_reported
    from .core.results import MetaResult as MetaResult
    from .core.spec import ModelSpec as ModelSpec
    from .core.spec import refit as refit
    from .core.two_group import two_group_effects as two_group_effects
    from .core.two_group_pool import (
        pool_effects as pool_effects,
    )
    from .core.two_group_pool import (
        pool_two_groups as pool_two_groups,
    )
    from .data import (
        Problem as Problem,
    )
    from .data import (
        StudyTableError as StudyTableError,
    )
    from .data import (
        Vocabulary as Vocabulary,
    )
    from .data import (
        comparison_rows as comparison_rows,
    )
    from .data import (
        default_data_path as default_data_path,
    )
    from .data import (
        load_studies as load_studies,
    )
    from .data import (
        outcome_rows as outcome_rows,
    )
    from .data import (
        read_study_table as read_study_table,
    )
    from .data import (
        read_vocabulary as read_vocabulary,
    )
    from .data import (
        validate_studies as validate_studies,
    )
    from .diagnostics import (
        baujat as baujat,
    )
    from .diagnostics import (
        cumulative as cumulative,
    )
    from .diagnostics import (
        gosh as gosh,
    )
    from .diagnostics import (
        influence as influence,
    )
    from .diagnostics import (
        leave_one_out as leave_one_out,
    )
    from .diagnostics import (
        method_sensitivity as method_sensitivity,
    )
    from .plots import (
        baujat_plot as baujat_plot,
    )
    from .plots import (
        bayes_forest_plot as bayes_forest_plot,
    )
    from .plots import (
        bayes_posterior_plot as bayes_posterior_plot,
    )
    from .plots import (
        bubble_plot as bubble_plot,
    )
    from .plots import (
        cumulative_plot as cumulative_plot,
    )
    from .plots import (
        forest_plot as forest_plot,
    )
    from .plots import (
        funnel_plot as funnel_plot,
    )
    from .plots import (
        gosh_plot as gosh_plot,
    )
    from .plots import (
        leave_one_out_plot as leave_one_out_plot,
    )
    from .plots import (
        save_figure as save_figure,
    )
    from .plots import (
        survival_plot as survival_plot,
    )
    from .survival import (
        pool_medians as pool_medians,
    )
    from .survival import (
        pool_survival_rates as pool_survival_rates,
    )
    from .survival import (
        survival_table as survival_table,
    )

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
    "comparison_rows": "iometa.data",
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
    "set_display": "iometa._warnings",
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

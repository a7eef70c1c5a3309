"""Survival outcomes: pooled medians (McGrath et al. 2019 and inverse variance), landmark
survival rates and the survival table by group.

Example
-------
>>> import iometa
>>> res = iometa.survival.pool_medians([29.9, 24.0, 31.5], n=[52, 40, 61], method="FE")
>>> res.k
3
"""

from __future__ import annotations

from .medians import pool_medians
from .rates import pool_survival_rates
from .table import check_exponential_consistency, exponential_rate, survival_table

__all__ = ["check_exponential_consistency", "exponential_rate", "pool_medians",
           "pool_survival_rates", "survival_table"]

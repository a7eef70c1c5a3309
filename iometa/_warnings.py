"""Warning classes. Every warning iometa raises is an :class:`IometaWarning`."""

from __future__ import annotations


class IometaWarning(UserWarning):
    """Base class of every warning raised by iometa."""


class ConvergenceWarning(IometaWarning):
    """An iterative estimator did not converge; the result says what was done instead."""


class SmallSampleWarning(IometaWarning):
    """Too few studies for the requested quantity (e.g. k = 1: no heterogeneity)."""


class TransformWarning(IometaWarning):
    """A back-transformation or continuity correction that can mislead."""


class DataWarning(IometaWarning):
    """Something in the input data that was accepted but deserves attention."""


class MomentWarning(IometaWarning):
    """A posterior moment does not exist (it is reported as inf)."""

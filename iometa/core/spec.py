"""The model specification as data, and the one :func:`refit` that reads it.

Every pooled result carries a frozen :class:`ModelSpec` (what was fitted: the pool function,
measure, τ² method, test, level, continuity correction, quadrature points, study-CI method,
median route, transformation scale, a fixed τ²) and its per-study ``inputs`` (the arrays the
pool function was called with). :func:`refit` calls that pool function again on a subset of
the studies and/or with changed options: leave-one-out, subgroups, cumulative and sensitivity
analyses read the spec, never private keys, and a new model family needs only to register its
pool function (:func:`register_fitter`).

Example
-------
>>> import iometa
>>> res = iometa.pool_proportions([13, 4, 9, 7], [51, 30, 40, 35], measure="PLO")
>>> res.spec.measure, res.spec.method, res.spec.fitter
('PLO', 'REML', 'pool_proportions')
>>> refit(res, [0, 1, 2], method="DL").k
3
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

import numpy as np

__all__ = ["ModelSpec", "refit", "register_fitter"]


@dataclass(frozen=True)
class ModelSpec:
    """What was fitted, as plain data (immutable; ``spec.replace(method="DL")`` for a variant).

    ``fitter`` names the registered pool function (``"pool"``, ``"pool_proportions"``,
    ``"pool_medians"``, ``"pool_survival_rates"``, …). Fields a pool function does not take
    are None.
    """

    fitter: str
    measure: str
    method: str
    test: str
    level: float
    tau2: float | None = None  # a fixed τ² (None: estimated)
    add: float | None = None  # continuity correction (None: the measure's default)
    to: str | None = None
    nagq: int | None = None  # Gauss–Hermite points of a GLMM
    study_ci: str | None = None  # CI method of the per-study display intervals
    route: str | None = None  # how medians were pooled ("iv", "mm", "wm")
    scale: str | None = None  # transformation scale of medians/survival rates
    per: float | None = None  # rates: reported per this much person-time
    unit: str | None = None  # rates: name of the person-time unit
    pi_method: str = "metafor"  # prediction interval ("metafor", "hts", "v", "hk-pr")
    adhoc: bool = False  # Knapp-Hartung ad hoc correction (s^2 floored at 1)
    weighted: bool = True  # False: unweighted estimate (rma(weighted=FALSE)); weights= in inputs

    def replace(self, **changes: Any) -> ModelSpec:
        """A copy with ``changes`` applied (unknown names are a TypeError)."""
        return replace(self, **changes)

    def options(self) -> dict[str, Any]:
        """The keyword options of the pool function ``fitter`` (as it was called)."""
        accepted = _FITTERS[self.fitter].options
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name in accepted}


@dataclass(frozen=True)
class _Fitter:
    fn: Callable[..., Any]
    options: tuple[str, ...]


_FITTERS: dict[str, _Fitter] = {}
_SPEC_FIELDS = frozenset(f.name for f in fields(ModelSpec))


def register_fitter(name: str, fn: Callable[..., Any], options: tuple[str, ...]) -> None:
    """Make the pool function ``fn`` reachable by :func:`refit` as ``ModelSpec.fitter=name``.

    ``fn`` is called as ``fn(**inputs, labels=..., data=..., **options)``; ``options`` are the
    :class:`ModelSpec` fields it accepts as keywords.
    """
    unknown = set(options) - _SPEC_FIELDS
    if unknown:
        raise ValueError(f"{sorted(unknown)} are not ModelSpec fields")
    _FITTERS[name] = _Fitter(fn, tuple(options))


def _index(index, k: int) -> np.ndarray | None:
    if index is None:
        return None
    idx = np.asarray(index)
    if idx.dtype == bool:
        if idx.size != k:
            raise ValueError(f"a boolean index needs {k} values (one per study), got {idx.size}")
        idx = np.flatnonzero(idx)
    return idx.astype(int)


def _take(value, idx):
    if value is None or idx is None:
        return value
    return np.asarray(value)[idx]


def refit(result, index=None, **changes):
    """Fit ``result``'s model again on the studies ``index`` and/or with changed options.

    ``index``: positions (or a boolean mask) of the studies to keep, in study order; None keeps
    all. ``changes``: options of the pool function that made ``result`` (``method="DL"``,
    ``test="knha"``, ``level=0.9``, ``measure="PFT"`` …). The result's own spec and inputs are
    the only things read, so this is metafor's ``update(res, subset=)`` for every result type.

    Example
    -------
    >>> import iometa
    >>> res = iometa.pool([0.1, 0.5, 0.9, 0.3], [0.04, 0.05, 0.06, 0.05])
    >>> refit(res, index=[0, 1, 2], method="DL").tau2 == iometa.pool(
    ...     [0.1, 0.5, 0.9], [0.04, 0.05, 0.06], method="DL").tau2
    True
    """
    spec: ModelSpec | None = getattr(result, "spec", None)
    inputs: Mapping[str, Any] | None = getattr(result, "inputs", None)
    if spec is None or inputs is None or spec.fitter not in _FITTERS:
        raise TypeError("this result cannot be refitted (it was not built by a pool function)")
    fitter = _FITTERS[spec.fitter]
    unknown = set(changes) - set(fitter.options)
    if unknown:
        raise TypeError(f"{spec.fitter}() has no option(s) {sorted(unknown)}; it takes "
                        f"{', '.join(fitter.options)}")
    idx = _index(index, result.k)
    labels = list(np.asarray(result.labels, dtype=object)[idx]) if idx is not None \
        else result.labels
    data = result.data
    if data is not None and idx is not None:
        data = data.iloc[idx].reset_index(drop=True)
    args = {name: _take(value, idx) for name, value in inputs.items()}
    return fitter.fn(**args, labels=labels, data=data, **{**spec.options(), **changes})

"""The one registry of τ² methods: code -> plain-language name, kind and reference.

Read by both kernels (:mod:`iometa.core.estimators`, :mod:`iometa.core.regression`), by the
result summaries and by the report.

Example
-------
>>> REGISTRY["REML"].kind, METHODS[:3]
('likelihood', ('FE', 'DL', 'HE'))
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["METHODS", "REGISTRY", "Method"]


@dataclass(frozen=True)
class Method:
    """One entry of the registry of τ² methods (the single home of their names and kinds).

    ``kind`` says how the estimate is found, and both kernels (the intercept-only batch kernel
    here and the design-matrix kernel of :mod:`iometa.core.regression`) dispatch on it:
    ``"fixed"`` (τ² = 0), ``"moment"`` (closed form), ``"likelihood"`` (ML/REML: Fisher scoring
    then Newton on the score), ``"q_root"`` (root of the generalised Q statistic, target
    ``k − p`` or, for PMM, the χ²(k − p) median) and ``"iterated"`` (metafor's fixed-point
    iterations of DL and SJ, which may not converge: then the fit says so). Both
    stop by the one rule of :mod:`iometa.core._solve` (``THRESHOLD``, ``MAXITER``).
    """

    code: str
    name: str  # plain-language description used by summaries and reports
    kind: str
    reference: str


#: the τ² methods, in metafor's order: code -> :class:`Method`
REGISTRY: dict[str, Method] = {m.code: m for m in (
    Method("FE", "common-effect (inverse variance)", "fixed", "Hedges & Olkin 1985"),
    Method("DL", "random-effects, DerSimonian-Laird", "moment", "DerSimonian & Laird 1986"),
    Method("HE", "random-effects, Hedges", "moment", "Hedges & Olkin 1985"),
    Method("HS", "random-effects, Hunter-Schmidt", "moment", "Hunter & Schmidt 2004"),
    Method("SJ", "random-effects, Sidik-Jonkman", "moment", "Sidik & Jonkman 2005"),
    Method("ML", "random-effects, maximum likelihood", "likelihood", "Viechtbauer 2005"),
    Method("REML", "random-effects, restricted maximum likelihood", "likelihood",
           "Viechtbauer 2005"),
    Method("EB", "random-effects, empirical Bayes", "q_root", "Morris 1983"),
    Method("PM", "random-effects, Paule-Mandel", "q_root", "Paule & Mandel 1982"),
    Method("HSk", "random-effects, Hunter-Schmidt with small-sample correction", "moment",
           "Brannick et al. 2019"),
    Method("PMM", "random-effects, median-unbiased Paule-Mandel", "q_root",
           "Viechtbauer 2021"),
    Method("DLIT", "random-effects, iterated DerSimonian-Laird", "iterated",
           "DerSimonian & Kacker 2007"),
    Method("SJIT", "random-effects, iterated Sidik-Jonkman", "iterated",
           "Sidik & Jonkman 2007"),
    Method("GENQ", "random-effects, generalised Q-statistic with user weights", "moment",
           "DerSimonian & Kacker 2007"),
)}

METHODS = tuple(REGISTRY)

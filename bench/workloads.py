"""Benchmark inputs (fixed seeds) and the workloads as callables for iometa and PyMARE.

Every workload uses the same generated data for all three packages; :func:`make_inputs` also
writes them as CSV files for ``bench/metafor_bench.R``.
"""

from __future__ import annotations

import itertools
import time
from pathlib import Path

import numpy as np
import pandas as pd

W2_ANALYSES, W2_K = 10_000, 20
W3_K = 100_000
LOO_K, GOSH_K = 50, 16


def _studies(seed, shape, tau2=0.05):
    """Random-effects data: vᵢ ~ U(0.01, 0.2), yᵢ ~ N(0.3, vᵢ + τ²)."""
    rng = np.random.default_rng(seed)
    v = rng.uniform(0.01, 0.2, shape)
    return rng.normal(0.3, np.sqrt(v + tau2)), v


def make_inputs(directory: Path) -> dict:
    """Generate every workload's data and write the CSV files metafor reads."""
    y1, v1 = _studies(2024, 20)
    y2, v2 = _studies(2025, (W2_ANALYSES, W2_K))
    y3, v3 = _studies(2026, W3_K)
    yl, vl = _studies(2027, LOO_K)
    yg, vg = _studies(2028, GOSH_K)
    long2 = pd.DataFrame({"sim": np.repeat(np.arange(W2_ANALYSES), W2_K), "yi": y2.ravel(),
                          "vi": v2.ravel()})
    directory.mkdir(parents=True, exist_ok=True)
    for name, y, v in (("w1", y1, v1), ("w3", y3, v3), ("w4_loo", yl, vl),
                       ("w4_gosh", yg, vg)):
        pd.DataFrame({"yi": y, "vi": v}).to_csv(directory / f"{name}.csv", index=False,
                                                float_format="%.17g")
    long2.to_csv(directory / "w2.csv", index=False, float_format="%.17g")
    return {"w1": (y1, v1), "w2": (y2, v2), "w2_long": long2, "w3": (y3, v3),
            "loo": (yl, vl), "gosh": (yg, vg)}


def iometa_workloads(inp: dict, tmp: Path) -> dict:
    """name -> zero-argument callable running the workload through iometa's public API."""
    import warnings

    import iometa
    from iometa.core.fitting import fit_arrays

    warnings.simplefilter("ignore", iometa.IometaWarning)
    y1, v1 = inp["w1"]
    y2, v2 = inp["w2"]
    y3, v3 = inp["w3"]
    res_loo = iometa.pool(*inp["loo"], method="REML")
    res_gosh = iometa.pool(*inp["gosh"], method="DL")
    return {
        "W1": lambda: iometa.pool(y1, v1, method="REML", test="knha"),
        "W2": lambda: iometa.pool_many(inp["w2_long"], by="sim", method="REML"),
        "W2 (fit_arrays)": lambda: fit_arrays(y2, v2, method="REML"),
        "W3": lambda: iometa.pool(y3, v3, method="REML"),
        "W4 leave-one-out": lambda: iometa.leave_one_out(res_loo),
        "W4 GOSH": lambda: iometa.gosh(res_gosh),
        "W4 GOSH (fit_arrays)": lambda: _gosh_core(*inp["gosh"]),
        "W6 forest PNG": _forest_workload(tmp),
    }


def _gosh_core(y, v):
    """All 2^k − 1 subsets as one masked batch through the core (enumeration included)."""
    from iometa.core.fitting import fit_arrays

    k = y.size
    codes = np.arange(1, 2**k, dtype=np.uint32)
    incl = np.unpackbits(codes.view(np.uint8).reshape(-1, 4), axis=1,
                         bitorder="little")[:, :k].astype(bool)
    shape = incl.shape
    fit = fit_arrays(np.broadcast_to(y, shape), np.broadcast_to(v, shape), incl, method="DL")
    return fit.coef, fit.tau2, fit.q


def _forest_data() -> pd.DataFrame:
    """W6's studies: 20 (fixed seed) in 3 subgroups (also drawn by metafor, first_forest.py)."""
    y, v = _studies(2029, 20)
    return pd.DataFrame({"study": [f"Study {i + 1}" for i in range(20)], "yi": y, "vi": v,
                         "group": np.repeat(["Group A", "Group B", "Group C"], [7, 7, 6])})


def _forest_workload(tmp: Path):
    """One forest plot, 3 subgroups and 20 studies, written to PNG (300 dpi) with
    ``save_figure``, as ``iometa report`` and users write figures."""
    import iometa

    sub = iometa.subgroups(iometa.pool("yi", "vi", data=_forest_data(), labels="study"),
                           by="group")

    def run():
        import matplotlib.pyplot as plt

        fig = iometa.forest_plot(sub)
        iometa.save_figure(fig, tmp / "forest", formats=("png",), dpi=300)
        plt.close(fig)

    return run


def pymare_workloads(inp: dict) -> dict:
    """The same workloads with PyMARE 0.0.13's estimators on (k, B) arrays (its batched API)."""
    import warnings

    from pymare import meta_regression
    from pymare.estimators import DerSimonianLaird, VarianceBasedLikelihoodEstimator

    warnings.simplefilter("ignore")
    y1, v1 = inp["w1"]
    y2, v2 = inp["w2"]
    y3, v3 = inp["w3"]
    yl, vl = inp["loo"]
    yg, vg = inp["gosh"]
    Y2, V2 = np.ascontiguousarray(y2.T), np.ascontiguousarray(v2.T)

    def reml(y, v):
        return VarianceBasedLikelihoodEstimator(method="REML").fit(y, v, np.ones((len(y), 1)))

    def loo():
        idx = np.array([np.delete(np.arange(LOO_K), i) for i in range(LOO_K)]).T
        return reml(yl[idx], vl[idx])

    def gosh():  # batched by subset size; enumeration included (as in iometa.gosh)
        for s in range(1, GOSH_K + 1):
            idx = np.array(list(itertools.combinations(range(GOSH_K), s))).T
            DerSimonianLaird().fit(yg[idx], vg[idx], np.ones((s, 1)))

    return {
        "W1": lambda: meta_regression(y1, v1, method="REML").get_fe_stats(),
        "W2": lambda: reml(Y2, V2),
        "W3": lambda: reml(y3[:, None], v3[:, None]),
        "W4 leave-one-out": loo,
        "W4 GOSH": gosh,
    }


def time_call(fn, budget=0.4, max_blocks=15):
    """Median seconds per call: one warm-up, then blocks of calls (~20 ms each) for fast
    functions, at least 3 blocks and about ``budget`` seconds in all."""
    fn()
    t0 = time.perf_counter()
    fn()
    one = max(time.perf_counter() - t0, 1e-7)
    inner = max(1, int(0.02 / one))
    blocks = int(min(max_blocks, max(3, budget / (one * inner))))
    times = []
    for _ in range(blocks):
        t0 = time.perf_counter()
        for _ in range(inner):
            fn()
        times.append((time.perf_counter() - t0) / inner)
    return float(np.median(times))

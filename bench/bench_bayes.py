"""Timing of iometa.pool_bayes (issue 24 targets: k = 5 in <= 5 ms; 10^4 analyses batched in
<= 1 s).

    PYTHONPATH=. python bench/bench_bayes.py

Prints the best and median wall time of pool_bayes on a k = 5 analysis (default priors,
central intervals; also interval="shortest") and of iometa.bayes_batch.fit_bayes_arrays on
10^4 random analyses with k = 1..8 (padded), after one warm-up call (imports).
"""

from __future__ import annotations

import time
import warnings

import numpy as np

from iometa.core.bayes import pool_bayes
from iometa.core.bayes_batch import fit_bayes_arrays


def timeit(f, n):
    f()
    ts = []
    for _ in range(n):
        t = time.perf_counter()
        f()
        ts.append(time.perf_counter() - t)
    return min(ts), float(np.median(ts))


def main():
    warnings.simplefilter("ignore")
    y = np.array([-0.89, -1.59, -1.35, -1.44, -0.22])
    v = np.array([0.33, 0.19, 0.42, 0.02, 0.05])
    for label, kw in (("central", {}), ("shortest", {"interval": "shortest"})):
        best, med = timeit(lambda kw=kw: pool_bayes(y, v, **kw), 50)
        print(f"pool_bayes k=5 {label:8s}: best {1e3 * best:6.2f} ms, median {1e3 * med:6.2f} ms")
    rng = np.random.default_rng(1)
    B, k = 10_000, 8
    kk = rng.integers(1, k + 1, B)
    mask = np.arange(k)[None, :] < kk[:, None]
    vv = rng.uniform(0.01, 0.5, (B, k))
    yy = rng.normal(0, 0.3, (B, k)) + rng.normal(0, 0.3, (B, 1))
    best, med = timeit(lambda: fit_bayes_arrays(yy, vv, mask), 3)
    print(f"fit_bayes_arrays 10^4 x k<=8: best {best:6.2f} s, median {med:6.2f} s")
    import pandas as pd

    import iometa

    long = pd.DataFrame({"sim": np.repeat(np.arange(B), kk), "yi": yy[mask], "vi": vv[mask]})
    best, med = timeit(lambda: iometa.pool_many(long, by="sim", method="bayes"), 3)
    print(f"pool_many(method='bayes') 10^4 x k<=8: best {best:6.2f} s, median {med:6.2f} s")


if __name__ == "__main__":
    main()

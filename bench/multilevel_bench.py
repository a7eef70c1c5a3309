"""Timing of :func:`iometa.pool_multilevel` on 1,000 rows in 200 clusters (issue 23 target:
50 ms) and of :func:`iometa.robust` (CR1, CR2) on that fit. Timing only, not a test.

    PYTHONPATH=. python bench/multilevel_bench.py [--rounds 7]

Simulated three-level data (seed 23): 200 clusters of 5 rows, σ²_between = 0.05,
σ²_within = 0.02, sampling variances uniform on [0.01, 0.1], one continuous moderator in the
second run. Reports the median and best of ``rounds`` calls (after one warm-up call that also
loads scipy).
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from iometa.compare.robust import robust
from iometa.core.multilevel import pool_multilevel

TARGET_MS = 50.0


def simulate(n_clusters=200, size=5, seed=23):
    rng = np.random.default_rng(seed)
    cl = np.repeat(np.arange(n_clusters), size)
    k = cl.size
    vi = rng.uniform(0.01, 0.1, k)
    x = rng.normal(size=k)
    yi = (0.3 + 0.1 * x + rng.normal(0, np.sqrt(0.05), n_clusters)[cl]
          + rng.normal(0, np.sqrt(0.02), k) + rng.normal(0, np.sqrt(vi)))
    return yi, vi, cl, x


def timed(fn, rounds):
    fn()
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        times.append(1e3 * (time.perf_counter() - t0))
    return statistics.median(times), min(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=7)
    rounds = ap.parse_args().rounds
    yi, vi, cl, x = simulate()
    rows = []
    for method in ("REML", "ML"):
        for mods in (None, x):
            label = f"pool_multilevel {method}{'' if mods is None else ' + moderator'}"
            med, best = timed(lambda m=method, x_=mods: pool_multilevel(
                yi, vi, cluster=cl, method=m, mods=x_), rounds)
            rows.append((label, med, best, med <= TARGET_MS))
    fit = pool_multilevel(yi, vi, cluster=cl)
    for ss in ("CR1", "CR2"):
        med, best = timed(lambda s=ss: robust(fit, cl, small_sample=s), rounds)
        rows.append((f"robust {ss} on that fit", med, best, None))
    print(f"k = {yi.size} rows, {np.unique(cl).size} clusters; target {TARGET_MS:.0f} ms for "
          "pool_multilevel")
    for label, med, best, met in rows:
        flag = "" if met is None else ("  met" if met else "  NOT met")
        print(f"{label:40s} median {med:7.2f} ms  best {best:7.2f} ms{flag}")


if __name__ == "__main__":
    main()

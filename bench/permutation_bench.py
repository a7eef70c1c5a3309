"""Permutation test against PyMARE (issue 27: 1,000 permutations >= 2x PyMARE), paired
within rounds.

    PYTHONPATH=. python bench/permutation_bench.py [--rounds 3] [--results]

Workload (fixed seed): k = 20 studies, one continuous moderator x ~ N(0, 1), yi = 0.2 + 0.3 x
+ N(0, 0.1) + N(0, vi), vi uniform on 0.01..0.1; REML meta-regression with z tests and
1,000 random permutations of the moderator's rows (k! is far above 1,000, so neither side
enumerates). iometa: ``iometa.permutation_test(meta_regression(res, "x"), n_perm=1000,
exact=False, progress=False)`` (the fit outside the timed call); PyMARE 0.0.13:
``pymare.meta_regression(y, v, X, method="REML").permutation_test(1000)`` on the same fit.
Each side is timed in-process (``time_call``: warm-up, blocks of calls, median per call);
the ratio PyMARE / iometa is formed within the round. The two test the same statistics
(|z| of each coefficient; iometa also Q_M); p-values are random and compared
distributionally, not digit by digit.
With ``--results`` the section ``permutation`` of ``bench/RESULTS.md`` is replaced.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from workloads import time_call  # noqa: E402

import iometa  # noqa: E402

TARGET = 2.0


def make_input(k: int = 20) -> pd.DataFrame:
    rng = np.random.default_rng(2027)
    x = rng.standard_normal(k)
    vi = rng.uniform(0.01, 0.1, k)
    yi = 0.2 + 0.3 * x + 0.1 * rng.standard_normal(k) + np.sqrt(vi) * rng.standard_normal(k)
    return pd.DataFrame({"yi": yi, "vi": vi, "x": x})


def calls(d: pd.DataFrame):
    res = iometa.pool(d["yi"], d["vi"], method="REML", data=None)
    reg = iometa.meta_regression(res, d["x"].to_numpy())
    seeds = iter(range(10**9))

    def ours():
        return iometa.permutation_test(reg, n_perm=1000, exact=False, seed=next(seeds),
                                       progress=False)

    import pymare

    fit = pymare.meta_regression(y=d["yi"].to_numpy(), v=d["vi"].to_numpy(),
                                 X=d[["x"]].to_numpy(), X_names=["x"], method="REML")

    def theirs():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return fit.permutation_test(1000)

    return ours, theirs


def _fmt(s: float) -> str:
    return f"{s * 1e3:.1f} ms" if s < 1 else f"{s:.2f} s"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--results", action="store_true", help="update bench/RESULTS.md")
    args = ap.parse_args(argv)
    ours, theirs = calls(make_input())
    rows = []
    for r in range(args.rounds):
        load = os.getloadavg()[0]
        a = time_call(ours)
        b = time_call(theirs)
        rows.append((load, a, b, b / a))
        print(f"round {r + 1} (load {load:.2f}): iometa {_fmt(a)}, PyMARE {_fmt(b)}, "
              f"{b / a:.1f}x", flush=True)
    ratios = [x[3] for x in rows]
    met = all(x >= TARGET for x in ratios)
    print(f"ratio min/median/max {min(ratios):.1f} / {float(np.median(ratios)):.1f} / "
          f"{max(ratios):.1f}; target >= {TARGET:g}x in every round: {'yes' if met else 'no'}")
    if args.results:
        _write_results(rows, met)
    return 0


def _write_results(rows, met: bool) -> None:
    import pymare
    from dask_bench import write_section

    now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    med = [float(np.median([x[i] for x in rows])) for i in (1, 2, 3)]
    lines = [f"## Permutation test, 1,000 permutations, k = 20, one moderator ({now})", "",
             f"`python bench/permutation_bench.py --rounds {len(rows)} --results` "
             "(bench/permutation_bench.py: `iometa.permutation_test(meta_regression(...), "
             "n_perm=1000, exact=False)` vs PyMARE's `permutation_test(1000)` on a REML "
             "meta-regression; medians per call, ratio within the round).", "",
             "| round (load) | iometa | PyMARE | PyMARE ÷ iometa |", "|---|---|---|---|"]
    for i, (load, a, b, r) in enumerate(rows, 1):
        lines.append(f"| {i} ({load:.2f}) | {_fmt(a)} | {_fmt(b)} | {r:.1f}× |")
    lines += ["", f"Median: iometa {_fmt(med[0])}, PyMARE {_fmt(med[1])}, **{med[2]:.1f}×** "
              f"(target ≥ {TARGET:g}× in every round: **{'yes' if met else 'no'}**). "
              "Rounds with a load average above 1.5 on this 2-core machine count as loaded.",
              "", f"Versions: Python {platform.python_version()}, numpy {np.__version__}, "
              f"PyMARE {pymare.__version__}, iometa {iometa.__version__}."]
    write_section(HERE / "RESULTS.md", "permutation", lines)


if __name__ == "__main__":
    sys.exit(main())

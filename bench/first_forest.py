"""The first forest plot in a fresh process: iometa (``python -c``) against metafor (``Rscript``).

    python bench/first_forest.py [--rounds 5]

Both draw the W6 figure (``workloads._forest_data``: 20 studies in 3 subgroups, fixed seed)
to a 300-dpi PNG, starting from nothing: iometa pools, tests the subgroups and writes
``forest_plot(subgroups(...))`` with ``save_figure``; metafor reads the same CSV, fits
``rma()`` overall and per subgroup and draws ``forest()`` with the subgroup summaries
(``addpoly``) into ``png(res = 300)`` at the same size. The time is the wall time of the whole
process seen from outside (interpreter or R start-up, imports / ``library(metafor)``
included), in alternating order, min / median / max over the rounds. Issue 27: iometa's
median ≤ metafor's.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

PYTHON = """
import sys
import pandas as pd
import iometa
data = pd.read_csv(sys.argv[1])
sub = iometa.subgroups(iometa.pool("yi", "vi", data=data, labels="study"), by="group")
iometa.save_figure(iometa.forest_plot(sub), sys.argv[2], formats=("png",), dpi=300)
"""

R = r"""
args <- commandArgs(trailingOnly = TRUE)
suppressMessages(library(metafor))
dat <- read.csv(args[1])
res <- rma(yi, vi, data = dat, slab = study)
groups <- unique(dat$group)
k <- table(dat$group)[groups]
# rows: studies of each group from the top, a gap of 3 rows per subgroup header + summary
starts <- rev(cumsum(rev(k + 3))) - 1
rows <- unlist(lapply(seq_along(groups), function(i) starts[i] - seq_len(k[i]) + 1))
png(args[2], width = 180, height = 174, units = "mm", res = 300)
forest(res, rows = rows, ylim = c(-1, max(rows) + 4), header = TRUE)
for (i in seq_along(groups)) {
  fit <- rma(yi, vi, data = dat, subset = (group == groups[i]))
  addpoly(fit, row = starts[i] - k[i] - 0.5, mlab = paste("Subtotal", groups[i]))
  text(par("usr")[1], starts[i] + 1, groups[i], pos = 4, font = 2)
}
invisible(dev.off())
"""


def _time(cmd, env=None) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True, env=env, cwd=ROOT)
    return time.perf_counter() - t0


def main(argv=None) -> int:
    from workloads import _forest_data

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--results", action="store_true",
                    help="replace the section 'first-forest' of bench/RESULTS.md")
    args = ap.parse_args(argv)
    load0 = os.getloadavg()[0]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg"}
    with tempfile.TemporaryDirectory() as d:
        csv = Path(d) / "forest.csv"
        _forest_data().to_csv(csv, index=False, float_format="%.17g")
        rscript = Path(d) / "forest.R"
        rscript.write_text(R)
        py = [sys.executable, "-c", PYTHON, str(csv), str(Path(d) / "iometa.png")]
        r = ["Rscript", str(rscript), str(csv), str(Path(d) / "metafor.png")]
        times = {"iometa": [], "metafor": []}
        for i in range(args.rounds):
            order = (("iometa", py), ("metafor", r)) if i % 2 == 0 else (("metafor", r),
                                                                          ("iometa", py))
            for name, cmd in order:
                times[name].append(_time(cmd, env))
    for name, t in times.items():
        print(f"{name:8s} first forest PNG, fresh process: min {min(t):.2f} s, median "
              f"{np.median(t):.2f} s, max {max(t):.2f} s ({len(t)} rounds)")
    ok = np.median(times["iometa"]) <= np.median(times["metafor"])
    print(f"target (iometa median <= metafor median): {'yes' if ok else 'no'}; load average "
          f"{os.getloadavg()[0]:.2f}")
    if args.results:
        _write_results(times, ok, load0, os.getloadavg()[0])
    return 0


def _write_results(times, ok, load0, load1) -> None:
    import datetime as dt

    from dask_bench import write_section

    now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    n = len(times["iometa"])
    lines = [f"## First forest plot in a fresh process ({now})", "",
             f"`python bench/first_forest.py --rounds {n} --results` (bench/first_forest.py: "
             "the W6 figure, 20 studies in 3 subgroups, 300-dpi PNG, from a fresh `python -c` "
             "against `Rscript` with metafor, whole-process wall time, alternating order).", "",
             "| | min | median | max |", "|---|---|---|---|"]
    for name, t in times.items():
        lines.append(f"| {name} | {min(t):.2f} s | {np.median(t):.2f} s | {max(t):.2f} s |")
    lines += ["", f"Target (issue 27: iometa's median ≤ metafor's): **{'yes' if ok else 'no'}**. "
              f"Load average at start {load0:.2f}, at end {load1:.2f}."]
    write_section(HERE / "RESULTS.md", "first-forest", lines)


if __name__ == "__main__":
    raise SystemExit(main())

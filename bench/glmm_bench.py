"""GLMM timing against metafor (issue 27: GLMM PLO k = 20 and k = 200 >= 2.5x metafor, also
under load), paired within rounds.

    PYTHONPATH=. python bench/glmm_bench.py [--rounds 3]

Workloads (fixed seeds): binomial-normal GLMM for proportions (``measure="PLO"``, nAGQ = 7)
with k = 20 and k = 200 studies, n_i uniform on 20..199, true logits N(-1, 0.6^2); the same
with one moderator x ~ N(0, 1) shifting the logit by 0.4 x (``rma.glmm(mods = ~ x)``). iometa:
``iometa.pool_proportions(xi, ni, method="GLMM")`` and ``iometa.meta_regression(res, "x")`` of
that pooled result (the regression call alone; result objects included); metafor: ``rma.glmm`` with its default
controls (``bench/glmm_metafor.R``). Each round times iometa in-process (``time_call``: warm-up,
blocks of calls, median) before and after metafor's Rscript run (the mean of the two); the
ratio metafor / iometa is formed within the round, so a load change affects both sides alike.
The load average (1 min) at the start of each round is printed with it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from workloads import time_call  # noqa: E402

import iometa  # noqa: E402


def make_inputs(directory: Path) -> dict[str, pd.DataFrame]:
    out = {}
    for mods in (False, True):
        for k in (20, 200):
            rng = np.random.default_rng(27 + k + mods)
            n = rng.integers(20, 200, k)
            x = rng.standard_normal(k)
            logit = -1.0 + 0.6 * rng.standard_normal(k) + (0.4 * x if mods else 0.0)
            xi = rng.binomial(n, 1.0 / (1.0 + np.exp(-logit)))
            d = pd.DataFrame({"xi": xi, "ni": n, "x": x})
            name = f"plo{'_mods' if mods else ''}_k{k}"
            d.to_csv(directory / f"{name}.csv", index=False)
            out[name] = d
    return out


def iometa_calls(data: dict[str, pd.DataFrame]):
    def pooled(d):
        return lambda: iometa.pool_proportions(d["xi"].to_numpy(), d["ni"].to_numpy(),
                                               method="GLMM")

    def reg(d):
        pooled = iometa.pool_proportions("xi", "ni", data=d, method="GLMM")
        return lambda: iometa.meta_regression(pooled, "x")

    return {name: (reg(d) if "mods" in name else pooled(d)) for name, d in data.items()}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    with tempfile.TemporaryDirectory() as tmp:
        tmpdir = Path(tmp)
        data = make_inputs(tmpdir)
        calls = iometa_calls(data)
        rows = []
        for rnd in range(1, args.rounds + 1):
            load = os.getloadavg()[0]
            before = {name: time_call(fn, budget=0.25) for name, fn in calls.items()}
            r = {}
            if shutil.which("Rscript"):
                out = tmpdir / f"metafor_{rnd}.json"
                subprocess.run(["Rscript", str(HERE / "glmm_metafor.R"), str(tmpdir), str(out)],
                               check=True, capture_output=True, text=True)
                r = json.loads(out.read_text())
            # iometa is timed before and after metafor's run and the two are averaged, so that
            # a load change during the round affects both sides of the ratio alike
            after = {name: time_call(fn, budget=0.25) for name, fn in calls.items()}
            py = {name: (before[name] + after[name]) / 2 for name in calls}
            for name, t in py.items():
                rt = r.get(name)
                rows.append({"round": rnd, "load1": round(load, 2), "workload": name,
                             "iometa_ms": 1e3 * t,
                             "metafor_ms": None if rt is None else 1e3 * rt,
                             "ratio": None if rt is None else rt / t})
        frame = pd.DataFrame(rows)
        with pd.option_context("display.width", 120):
            print(frame.to_string(index=False, float_format=lambda v: f"{v:.2f}"))
            print()
            print(frame.groupby("workload")[["iometa_ms", "metafor_ms", "ratio"]]
                  .agg(["min", "median", "max"]).to_string(float_format=lambda v: f"{v:.2f}"))


if __name__ == "__main__":
    main()

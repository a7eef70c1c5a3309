"""iometa against metafor (Rscript) and PyMARE: same workloads, same inputs, paired ratios.

    python bench/run.py [--rounds 3] [--w2-metafor N] [--out bench/RESULTS.md]

Each round times every workload with iometa, PyMARE (if importable) and metafor (one
``Rscript bench/metafor_bench.R`` run, if Rscript is on the PATH); ratios are taken within a
round and the table reports the median over rounds. Also: W2 τ² against tightly converged
metafor, W3 memory, 10⁶ analyses through pool_many's chunked path, import times, W5 (``iometa
report``) and W6 (forest plot to PNG). See bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from report_md import W6_TARGET_S  # noqa: E402
from workloads import (  # noqa: E402
    iometa_workloads,
    make_inputs,
    pymare_workloads,
    time_call,
)

#: workload -> (description, target text, target check on the paired ratios and the iometa
#: time in seconds); the targets of issue 27 (the earlier ones, met since, in brackets)
TARGETS = {
    "W1": ("one REML + Knapp-Hartung fit, k = 20 (`pool`)", ">= 40x metafor (was >= 10x)",
           lambda r, t: r.get("metafor", 0) >= 40),
    "W2": ("10,000 analyses, k = 20, REML (`pool_many`)", "<= 12 ms and >= 7x PyMARE",
           lambda r, t: t <= 0.012 and r.get("PyMARE", 0) >= 7),
    "W2 (fit_arrays)": ("the same through `fit_arrays` (B, k) arrays", "<= 8 ms",
                        lambda r, t: t <= 0.008),
    "W3": ("one analysis, k = 100,000, REML (`pool`)", "<= 2 ms (fresh process)",
           lambda r, t: t <= 0.002),
    "W4 leave-one-out": ("leave-one-out, k = 50, REML", "faster than PyMARE",
                         lambda r, t: r.get("PyMARE", 0) > 1),
    "W4 GOSH": ("GOSH, k = 16 (65,535 subsets), DL", "<= 6 ms (was >= 2x PyMARE)",
                lambda r, t: t <= 0.006),
    "W4 GOSH (fit_arrays)": ("the same subsets as one masked batch through `fit_arrays`",
                             ">= 2x PyMARE", lambda r, t: r.get("PyMARE", 0) >= 2),
    "W6 forest PNG": ("forest plot, 3 subgroups, 20 studies, PNG 300 dpi (`save_figure`)",
                      f"< {W6_TARGET_S:g} s", None),
}


def run_metafor(inp_dir: Path, n_w2: int, mode: str = "time") -> dict | None:
    if shutil.which("Rscript") is None:
        return None
    out = inp_dir / f"metafor_{mode}.json"
    proc = subprocess.run(["Rscript", str(HERE / "metafor_bench.R"), str(inp_dir), str(out),
                           str(n_w2), mode], capture_output=True, text=True)
    if proc.returncode != 0:
        print("metafor run failed:", proc.stderr[-2000:], file=sys.stderr)
        return None
    return json.loads(out.read_text())


def one_round(io_w: dict, pm_w: dict | None, inp_dir: Path, n_w2: int) -> dict:
    """Seconds per call of every workload for each package in this round."""
    times = {"iometa": {}, "PyMARE": {}, "metafor": {}}
    for name, fn in io_w.items():
        times["iometa"][name] = time_call(fn)
    for name, fn in (pm_w or {}).items():
        times["PyMARE"][name] = time_call(fn, budget=1.0)
        if name in ("W2", "W4 GOSH"):
            times["PyMARE"][f"{name} (fit_arrays)"] = times["PyMARE"][name]
    mf = run_metafor(inp_dir, n_w2)
    if mf is not None:
        scale = 10_000 / mf["W2_n"]  # per 10,000 analyses when fewer were run
        times["metafor"] = {"W1": mf["W1"], "W2": mf["W2"] * scale,
                            "W2 (fit_arrays)": mf["W2"] * scale, "W4 leave-one-out":
                            mf["W4_loo"], "W4 GOSH": mf["W4_gosh"],
                            "W4 GOSH (fit_arrays)": mf["W4_gosh"]}
        times["metafor_info"] = mf
    return times


def paired_ratios(rounds: list[dict]) -> dict:
    """workload -> {peer: median over rounds of peer time / iometa time}."""
    out = {}
    for name in rounds[0]["iometa"]:
        out[name] = {}
        for peer in ("metafor", "PyMARE"):
            r = [rd[peer][name] / rd["iometa"][name] for rd in rounds if name in rd[peer]]
            if r:
                out[name][peer] = float(np.median(r))
    return out


def accuracy_w2(inp: dict, inp_dir: Path, n_w2: int) -> dict | None:
    """Max |τ²(iometa) − τ²(metafor, tight)| over the W2 analyses (pool_many and fit_arrays)."""
    import iometa

    ref = run_metafor(inp_dir, n_w2, "tight")
    if ref is None:
        return None
    sims = np.asarray(ref["sim"])
    t_ref = np.asarray(ref["tau2"], dtype=float)
    ours = iometa.pool_many(inp["w2_long"], by="sim").set_index("sim").loc[sims, "tau2"]
    diff = np.abs(ours.to_numpy() - t_ref)
    rel_ok = diff <= 1e-6 * np.abs(t_ref) + 1e-10
    pos = t_ref > 1e-8  # relative error where τ² is not at the boundary
    return {"n": int(sims.size), "max_abs": float(diff.max()),
            "max_rel": float(np.max(diff[pos] / t_ref[pos])) if pos.any() else 0.0,
            "all_within": bool(rel_ok.all()), "stepadj": int(np.sum(ref["stepadj"]))}


def python_snippet(code: str, timeout: float = 900) -> dict:
    """Run ``code`` in a fresh interpreter; it prints one JSON object."""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT)
    if proc.returncode != 0:
        return {"error": (proc.stderr.strip().splitlines() or ["?"])[-1]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


IMPORT_CODE = """
import json, time
t0 = time.perf_counter(); import numpy, pandas; t1 = time.perf_counter()
import iometa; t2 = time.perf_counter()
print(json.dumps({"numpy_pandas": t1 - t0, "iometa_extra": t2 - t1}))
"""
PYMARE_IMPORT_CODE = """
import json, time
t0 = time.perf_counter(); import pymare; print(json.dumps({"s": time.perf_counter() - t0}))
"""
PEAK_RSS = """
def peak_rss_mb():  # VmHWM: this process's peak resident set (ru_maxrss survives fork/exec)
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
"""
W3_MEMORY_CODE = PEAK_RSS + """
import json, tracemalloc, numpy as np, iometa
rng = np.random.default_rng(2026)
v = rng.uniform(0.01, 0.2, 100000); y = rng.normal(0.3, np.sqrt(v + 0.05))
iometa.pool(y[:3], v[:3])  # load the modules first
before = peak_rss_mb()
tracemalloc.start(); res = iometa.pool(y, v, method="REML"); tau2 = res.tau2
peak = tracemalloc.get_traced_memory()[1]; tracemalloc.stop()
print(json.dumps({"traced_peak_mb": peak / 2**20, "rss_before_mb": before,
                  "rss_peak_mb": peak_rss_mb()}))
"""
MILLION_CODE = PEAK_RSS + """
import json, time, numpy as np, pandas as pd, iometa
B, k = 1_000_000, 20
rng = np.random.default_rng(2030)
v = rng.uniform(0.01, 0.2, B * k); y = rng.normal(0.3, np.sqrt(v + 0.05))
df = pd.DataFrame({"sim": np.repeat(np.arange(B), k), "yi": y, "vi": v}); del y, v
data_mb = peak_rss_mb()
t0 = time.perf_counter(); out = iometa.pool_many(df, by="sim", method="REML")
t = time.perf_counter() - t0
print(json.dumps({"seconds": t, "rss_peak_mb": peak_rss_mb(), "rss_with_data_mb": data_mb,
                  "converged": bool(out["converged"].all()), "rows": len(out)}))
"""


def _report_once(tmp: Path, *extra: str) -> dict:
    out = tmp / "report"
    shutil.rmtree(out, ignore_errors=True)  # every run writes a new report, none replaces one
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "iometa", "report", "--out", str(out),
                           "--quiet", *extra], capture_output=True, text=True, cwd=ROOT,
                          timeout=600)
    t = time.perf_counter() - t0
    if proc.returncode != 0:
        return {"error": (proc.stderr.strip().splitlines() or ["?"])[-1][:200], "seconds": t}
    return {"seconds": t}


def report_time(tmp: Path, runs: int = 5) -> dict:
    """W5: ``iometa report`` in a fresh interpreter, ``runs`` times with the default jobs
    (the figures drawn by forked workers) alternating with ``--jobs 1`` (in turn); medians."""
    from iometa.report.figure_jobs import default_jobs

    default, serial = [], []
    for _ in range(runs):
        for extra, into in (((), default), (("--jobs", "1"), serial)):
            r = _report_once(tmp, *extra)
            if "error" in r:
                return r
            into.append(r["seconds"])
    return {"seconds": float(np.median(default)), "runs": default,
            "serial_seconds": float(np.median(serial)), "serial_runs": serial,
            "jobs": default_jobs()}


def r_library_time() -> float | None:
    if shutil.which("Rscript") is None:
        return None
    proc = subprocess.run(["Rscript", "-e", "cat(system.time(suppressMessages(library(metafor)))"
                           "[['elapsed']])"], capture_output=True, text=True)
    return float(proc.stdout.strip()) if proc.returncode == 0 else None


def median_of(code: str, key: str, n: int = 5) -> float | None:
    vals = [python_snippet(code).get(key) for _ in range(n)]
    vals = [x for x in vals if x is not None]
    return float(np.median(vals)) if vals else None


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--w2-metafor", type=int, default=10_000,
                    help="W2 analyses metafor fits per round (time scaled to 10,000)")
    ap.add_argument("--out", type=Path, default=HERE / "RESULTS.md")
    args = ap.parse_args(argv)
    from report_md import machine, versions, write_results

    load_start = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmpname:
        tmp = Path(tmpname)
        inp_dir = tmp / "inputs"
        inp = make_inputs(inp_dir)
        io_w = iometa_workloads(inp, tmp)
        try:
            pm_w = pymare_workloads(inp)
        except ImportError:
            pm_w = None
        rounds = []
        for r in range(args.rounds):
            print(f"round {r + 1}/{args.rounds} ...", flush=True)
            rounds.append(one_round(io_w, pm_w, inp_dir, args.w2_metafor))
        extras = {
            "accuracy": accuracy_w2(inp, inp_dir, args.w2_metafor),
            "w3_memory": python_snippet(W3_MEMORY_CODE),
            "million": python_snippet(MILLION_CODE),
            "report": report_time(tmp),
            "import_iometa_extra": median_of(IMPORT_CODE, "iometa_extra"),
            "import_numpy_pandas": median_of(IMPORT_CODE, "numpy_pandas"),
            "import_pymare": median_of(PYMARE_IMPORT_CODE, "s", 3) if pm_w else None,
            "library_metafor": r_library_time(),
            "load": (load_start, os.getloadavg()),
        }
    text = write_results(args.out, rounds, paired_ratios(rounds), extras, TARGETS,
                         machine(), versions(rounds))
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""What a compiled kernel would buy W1/W2/W3 (issue 27): numba, measured beside iometa's numpy path.

    python3 -m venv /work/venv-nb
    /work/venv-nb/bin/pip install numba numpy==2.4.6 scipy pandas
    PYTHONPATH=. /work/venv-nb/bin/python bench/compiled_probe.py [--rounds 7] [--results]
                                                                 [--wheels]

A measurement, not a dependency: numba lives in its own venv (the project's venv, CI and
pyproject.toml do not know it), and without numba this script prints a message and exits 0.
The kernels are in bench/compiled_kernels.py (iometa's intercept-only REML and summary,
per analysis; see its docstring). The probe

* checks the kernels against iometa on the benchmark data (``workloads.make_inputs``): every
  field of ``fit_arrays`` on W2 (10⁴ analyses × 20 studies), ``fit_one`` on W1 (k = 20,
  Knapp-Hartung) and W3 (k = 10⁵), the parallel kernel against the serial one, and a rerun
  against the first run (max |difference| reported; τ² must agree to 1e-10 relative);
* times, in the same process after the JIT warm-up, in ``--rounds`` rounds (each workload's
  calls interleaved in every round; ``workloads.time_call`` per round, min / median / max over
  the rounds): iometa's public call (``pool`` / ``pool_many``), its numpy core (``fit_one`` /
  ``fit_arrays``), the numba kernel alone, for W1 also the kernel behind a Python wrapper that
  returns what ``fit_one`` returns (the Python call overhead), for W2 serial and
  ``parallel=True`` on 2 threads;
* times in fresh processes: ``import numba``, the first call of each kernel with an empty
  cache (JIT compile) and with numba's on-disk cache filled (``cache=True``), and W3's first
  ``pool`` against the first kernel call;
* reports the installed size of numba + llvmlite and, with ``--wheels``, their wheel sizes
  (``pip download --no-deps`` into a temporary directory).

The public-API times "with the kernel" are estimates: the public call's time minus its core's
plus the kernel's (the rest of the call, checks and result building, unchanged).
With ``--results`` the section ``compiled-probe`` of bench/RESULTS.md is replaced (or added).
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import importlib.util
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

THREADS = 2
#: issue 27's targets (bench/run.py TARGETS) that a kernel could reach
TARGET_W1_METAFOR_X = 40
TARGET_W2_POOL_MANY_S = 0.012
TARGET_W2_FIT_ARRAYS_S = 0.008
TARGET_W3_S = 0.002


def _fmt(s) -> str:
    if s is None:
        return "–"
    if s >= 1:
        return f"{s:.2f} s"
    if s >= 1e-3:
        return f"{s * 1e3:.3g} ms"
    return f"{s * 1e6:.3g} µs"


def _stats(xs) -> dict:
    return {"min": float(min(xs)), "median": float(np.median(xs)), "max": float(max(xs))}


# --------------------------------------------------------------------------- the kernels' API


@functools.lru_cache(maxsize=64)
def _crit(knha: bool, p: float, df: int) -> float:
    from scipy import special

    return float(special.stdtrit(df, p) if knha else special.ndtri(p))


def fit_one_nb(y, v, *, test="z", level=0.95):
    """The numba kernel behind what :func:`iometa.core.fitting.fit_one` returns (REML)."""
    from compiled_kernels import FIELDS, fit_single
    from scipy import special

    from iometa.core import _scalar_dist

    y = np.asarray(y, dtype=float)
    v = np.asarray(v, dtype=float)
    k = y.size
    knha = test == "knha"
    out, conv, it, w = fit_single(y, v, _crit(knha, 1 - (1 - level) / 2, k - 1), knha)
    f = dict(zip(FIELDS, out.tolist()))
    if knha:
        f["pval"] = float(2 * special.stdtr(k - 1, -abs(f["stat"])))
    qp = _scalar_dist.chi2_sf(float(k - 1), f["q"]) if k > 1 else 1.0
    f.update(k=k, df=k - 1.0 if knha else np.nan, q_df=k - 1, converged=conv, n_iter=it,
             weights=w, q_pval=qp if qp is not None else float(special.chdtrc(k - 1, f["q"])))
    return f


def fit_arrays_nb(y, v, *, parallel=False):
    """(B, k) batch, z test, 95%: the fields of ``fit_arrays`` as a dict of arrays."""
    import compiled_kernels as ck

    crit = _crit(False, 0.975, 1)
    if parallel:
        out, conv, it, w = ck.fit_batch_parallel(y, v, crit, False, THREADS)
    else:
        out, conv, it, w = ck.fit_batch(y, v, crit, False)
    f = {name: out[:, j] for j, name in enumerate(ck.FIELDS)}
    f.update(converged=conv, n_iter=it, weights=w)
    return f


# --------------------------------------------------------------------------- agreement


def _max_diff(ours: dict, ref, names) -> dict:
    """Max |difference| and max relative difference (where the reference is not 0) per field."""
    out = {}
    for name in names:
        a = np.asarray(ours[name], dtype=float)
        b = np.asarray(ref[name] if isinstance(ref, dict) else getattr(ref, name), dtype=float)
        d = np.abs(a - b)
        nz = b != 0
        out[name] = (float(d.max()), float((d[nz] / np.abs(b[nz])).max()) if nz.any() else 0.0)
    return out


def agreement(inp: dict) -> dict:
    from compiled_kernels import FIELDS

    from iometa.core.fitting import fit_arrays, fit_one

    y1, v1 = inp["w1"]
    y2, v2 = inp["w2"]
    y3, v3 = inp["w3"]
    ref2 = fit_arrays(y2, v2, method="REML")
    nb2 = fit_arrays_nb(y2, v2)
    par2 = fit_arrays_nb(y2, v2, parallel=True)
    again = fit_arrays_nb(y2, v2)
    fields = (*FIELDS, "weights")
    res = {
        "W2": _max_diff(nb2, ref2, fields),
        "W2_iters_equal": bool((nb2["n_iter"] == ref2.n_iter).all()),
        "W2_converged": bool(nb2["converged"].all() and ref2.converged.all()),
        "W2_tau2_zero": [int((nb2["tau2"] == 0).sum()), int((ref2.tau2 == 0).sum())],
        "W2_tau2_identical": int((nb2["tau2"] == ref2.tau2).sum()),
        "W2_parallel_identical": all(np.array_equal(nb2[n], par2[n]) for n in nb2),
        "W2_rerun_identical": all(np.array_equal(nb2[n], again[n]) for n in nb2),
        "W2_mean_iters": float(nb2["n_iter"].mean()),
    }
    for name, (y, v, test) in {"W1": (y1, v1, "knha"), "W3": (y3, v3, "z")}.items():
        ref = fit_one(y, v, method="REML", test=test)
        ours = fit_one_nb(y, v, test=test)
        res[name] = _max_diff(ours, ref, (*FIELDS, "q_pval", "weights"))
        res[f"{name}_iters"] = [int(ours["n_iter"]), int(ref["n_iter"])]
    worst = max(res[w]["tau2"][1] for w in ("W1", "W2", "W3"))
    res["tau2_max_rel"] = worst
    res["tau2_within_1e-10"] = bool(worst <= 1e-10)
    return res


# --------------------------------------------------------------------------- timing


def calls(inp: dict) -> dict:
    """workload -> {variant: zero-argument callable}."""
    import compiled_kernels as ck

    import iometa
    from iometa.core.fitting import fit_arrays, fit_one

    warnings.simplefilter("ignore", iometa.IometaWarning)
    y1, v1 = inp["w1"]
    y2, v2 = inp["w2"]
    y3, v3 = inp["w3"]
    long2 = inp["w2_long"]
    ct, cz = _crit(True, 0.975, y1.size - 1), _crit(False, 0.975, 1)
    return {
        "W1": {"public": lambda: iometa.pool(y1, v1, method="REML", test="knha"),
               "core": lambda: fit_one(y1, v1, method="REML", test="knha"),
               "nb wrapped": lambda: fit_one_nb(y1, v1, test="knha"),
               "nb kernel": lambda: ck.fit_single(y1, v1, ct, True)},
        "W2": {"public": lambda: iometa.pool_many(long2, by="sim", method="REML"),
               "core": lambda: fit_arrays(y2, v2, method="REML"),
               "nb kernel": lambda: ck.fit_batch(y2, v2, cz, False),
               "nb parallel": lambda: ck.fit_batch_parallel(y2, v2, cz, False, THREADS)},
        "W3": {"public": lambda: iometa.pool(y3, v3, method="REML"),
               "core": lambda: fit_one(y3, v3, method="REML"),
               "nb kernel": lambda: ck.fit_single(y3, v3, cz, False)},
    }


def warm_up(cl: dict) -> dict:
    """First call of each numba variant in this process (JIT compile, or cache load) in s."""
    first = {}
    for name, variants in cl.items():
        for var, fn in variants.items():
            if var.startswith("nb"):
                t0 = time.perf_counter()
                fn()
                first[f"{name} {var}"] = time.perf_counter() - t0
    return first


def timed_rounds(cl: dict, rounds: int) -> dict:
    from workloads import time_call

    times = {w: {v: [] for v in vs} for w, vs in cl.items()}
    loads = []
    for r in range(rounds):
        loads.append(os.getloadavg()[0])
        for w, vs in cl.items():
            for v, fn in vs.items():
                times[w][v].append(time_call(fn, budget=0.25))
        print(f"round {r + 1}/{rounds} (load {loads[-1]:.2f}): " + "; ".join(
            f"{w} " + ", ".join(f"{v} {_fmt(times[w][v][-1])}" for v in vs)
            for w, vs in cl.items()), flush=True)
    return {"times": times, "loads": loads}


# --------------------------------------------------------------------------- fresh processes

CHILD = r"""
import json, os, sys, time
t0 = time.perf_counter()
import numba
t_numba = time.perf_counter() - t0
if sys.argv[1] == "import":
    print(json.dumps({"import_numba": t_numba})); raise SystemExit
sys.path.insert(0, sys.argv[2])
import numpy as np
from pathlib import Path
import workloads
inp = workloads.make_inputs(Path(sys.argv[3]))
y1, v1 = inp["w1"]; y2, v2 = inp["w2"]; y3, v3 = inp["w3"]
out = {"import_numba": t_numba}
t0 = time.perf_counter()
import compiled_kernels as ck
out["import_kernels"] = time.perf_counter() - t0
numba.set_num_threads(2)
for name, fn in (("W1", lambda: ck.fit_single(y1, v1, 2.09, True)),
                 ("W3", lambda: ck.fit_single(y3, v3, 1.96, False)),
                 ("W2 serial", lambda: ck.fit_batch(y2, v2, 1.96, False)),
                 ("W2 parallel", lambda: ck.fit_batch_parallel(y2, v2, 1.96, False, 2))):
    t0 = time.perf_counter(); fn(); first = time.perf_counter() - t0
    t0 = time.perf_counter(); fn(); out[name] = [first, time.perf_counter() - t0]
print(json.dumps(out))
"""
W3_FRESH = r"""
import json, sys, time
sys.path.insert(0, sys.argv[1])
import numpy as np
rng = np.random.default_rng(2026)
v = rng.uniform(0.01, 0.2, 100000); y = rng.normal(0.3, np.sqrt(v + 0.05))
t0 = time.perf_counter()
import iometa
t1 = time.perf_counter()
if sys.argv[2] == "numba":
    import compiled_kernels, compiled_probe
    t1b = time.perf_counter()
    fn = lambda: compiled_probe.fit_one_nb(y, v)
else:
    t1b = time.perf_counter()
    fn = lambda: iometa.pool(y, v, method="REML")
t2 = time.perf_counter(); r = fn(); t3 = time.perf_counter(); fn(); t4 = time.perf_counter()
print(json.dumps({"import_iometa": t1 - t0, "import_extra": t1b - t1, "first": t3 - t2,
                  "second": t4 - t3}))
"""


def _child(code: str, args: list, env: dict) -> dict:
    proc = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=600)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-2000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def fresh(cache_dir: Path, tmp: Path, n: int) -> dict:
    """Medians over ``n`` fresh processes: import numba; first calls with an empty cache and
    with ``cache_dir`` (filled by this process's warm-up); W3's first call, numpy vs numba."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(HERE)])}
    out = {"import_numba": [_child(CHILD, ["import"], env)["import_numba"] for _ in range(n)]}
    cold, cached = [], []
    for i in range(n):
        empty = tmp / f"empty-cache-{i}"
        cold.append(_child(CHILD, ["run", str(HERE), str(tmp / "in")],
                           {**env, "NUMBA_CACHE_DIR": str(empty)}))
        cached.append(_child(CHILD, ["run", str(HERE), str(tmp / "in")],
                             {**env, "NUMBA_CACHE_DIR": str(cache_dir)}))
    keys = ("W1", "W3", "W2 serial", "W2 parallel")
    for label, runs in (("cold", cold), ("cached", cached)):
        out[label] = {k: [float(np.median([r[k][0] for r in runs])),
                          float(np.median([r[k][1] for r in runs]))] for k in keys}
        out[label]["import_kernels"] = float(np.median([r["import_kernels"] for r in runs]))
    w3 = {"numpy": [], "numba": []}
    for _ in range(n):
        for side in w3:
            w3[side].append(_child(W3_FRESH, [str(HERE), side],
                                   {**env, "NUMBA_CACHE_DIR": str(cache_dir)}))
    out["w3_fresh"] = {side: {key: float(np.median([r[key] for r in runs]))
                              for key in runs[0]} for side, runs in w3.items()}
    out["import_numba"] = float(np.median(out["import_numba"]))
    return out


# --------------------------------------------------------------------------- install cost


def installed_size() -> dict:
    import importlib.metadata as md

    out = {}
    for dist in ("numba", "llvmlite"):
        d = md.distribution(dist)
        total = sum(p.locate().stat().st_size for p in (d.files or []) if p.locate().is_file())
        out[dist] = {"version": d.version, "installed_mb": total / 2**20,
                     "requires": [r for r in (d.requires or []) if "extra" not in r]}
    return out


def wheel_sizes(tmp: Path, sizes: dict) -> None:
    dest = tmp / "wheels"
    pins = [f"{d}=={sizes[d]['version']}" for d in ("numba", "llvmlite")]
    proc = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d",
                           str(dest), *pins], capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        print("pip download failed:", proc.stderr[-500:], file=sys.stderr)
        return
    for whl in dest.glob("*.whl"):
        name = whl.name.split("-")[0].lower()
        if name in sizes:
            sizes[name]["wheel"] = whl.name
            sizes[name]["wheel_mb"] = whl.stat().st_size / 2**20


# --------------------------------------------------------------------------- report


def summarise(rt: dict, metafor_w1_s: float | None) -> list[dict]:
    """One row per workload: medians, the estimate with the kernel, and the targets."""
    t = {w: {v: _stats(xs) for v, xs in vs.items()} for w, vs in rt["times"].items()}
    rows = []
    for w, vs in t.items():
        best = "nb wrapped" if "nb wrapped" in vs else "nb kernel"
        est = vs["public"]["median"] - vs["core"]["median"] + vs[best]["median"]
        row = {"workload": w, "cells": vs, "estimate": est}
        if w == "W2":
            est_par = vs["public"]["median"] - vs["core"]["median"] + vs["nb parallel"]["median"]
            row["estimate_parallel"] = est_par
        rows.append(row)
    w1, w2, w3 = rows
    mf = metafor_w1_s
    w1["target"] = f">= {TARGET_W1_METAFOR_X}x metafor" + (
        f" (metafor {_fmt(mf)} in RESULTS.md: <= {_fmt(mf / TARGET_W1_METAFOR_X)})" if mf else "")
    w1["met"] = None if not mf else w1["estimate"] <= mf / TARGET_W1_METAFOR_X
    w2["target"] = (f"pool_many <= {_fmt(TARGET_W2_POOL_MANY_S)}; fit_arrays <= "
                    f"{_fmt(TARGET_W2_FIT_ARRAYS_S)}")
    c = w2["cells"]
    w2["met"] = {"pool_many serial": w2["estimate"] <= TARGET_W2_POOL_MANY_S,
                 "pool_many parallel": w2["estimate_parallel"] <= TARGET_W2_POOL_MANY_S,
                 "fit_arrays serial": c["nb kernel"]["median"] <= TARGET_W2_FIT_ARRAYS_S,
                 "fit_arrays parallel": c["nb parallel"]["median"] <= TARGET_W2_FIT_ARRAYS_S}
    w3["target"] = f"<= {_fmt(TARGET_W3_S)}"
    w3["met"] = w3["estimate"] <= TARGET_W3_S
    return rows


def metafor_w1() -> float | None:
    """metafor's W1 time from the main table of bench/RESULTS.md (run.py's last run)."""
    try:
        for line in (HERE / "RESULTS.md").read_text().splitlines():
            if line.startswith("| W1 |"):
                cell = line.split("|")[4].strip()
                val, unit = cell.split()
                return float(val) * {"ms": 1e-3, "µs": 1e-6, "s": 1.0}[unit]
    except (OSError, ValueError, KeyError):
        return None
    return None


def _cell(s: dict) -> str:
    return f"{_fmt(s['median'])} ({_fmt(s['min'])}–{_fmt(s['max'])})"


def _yes(x) -> str:
    return "–" if x is None else ("yes" if x else "no")


def section(args, rows, acc, first, fr, sizes, loads, load_end) -> list[str]:
    import numba
    import pandas
    import scipy
    from report_md import machine

    now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    w1, w2, w3 = rows
    lines = [
        f"## Compiled kernel probe: numba for W1/W2/W3 ({now})", "",
        f"`PYTHONPATH=. /work/venv-nb/bin/python bench/compiled_probe.py --rounds {args.rounds}"
        f" --fresh {args.fresh}{' --wheels' if args.wheels else ''}"
        f"{' --results' if args.results else ''}` (bench/compiled_probe.py, kernels in "
        "bench/compiled_kernels.py; numba in a separate venv, not an iometa dependency). "
        "iometa's REML with its algorithm (Hedges start, Fisher scoring with step halving, "
        "safeguarded Newton, |Δτ²| < 1e-13·max(1, τ²), ll0check) and summary, one analysis per "
        "loop, sums in study order, strict IEEE (no fastmath). Times per call: median (min–max) "
        f"over {args.rounds} rounds in one process after the JIT warm-up, the variants "
        "interleaved in each round. \"With the kernel\" estimates the public call as its time "
        "minus its numpy core's plus the kernel's.", "",
        "| workload | public API (numpy) | numpy core | numba kernel | numba, other | public API "
        "with the kernel (est.) | target | met with the kernel |",
        "|---|---|---|---|---|---|---|---|"]
    c = w1["cells"]
    lines.append(f"| W1 `pool` REML + KH, k = 20 | {_cell(c['public'])} | `fit_one` "
                 f"{_cell(c['core'])} | {_cell(c['nb kernel'])} | behind a Python wrapper "
                 f"returning `fit_one`'s dict: {_cell(c['nb wrapped'])} | {_fmt(w1['estimate'])} "
                 f"| {w1['target']} | {_yes(w1['met'])} |")
    c = w2["cells"]
    m = w2["met"]
    lines.append(f"| W2 `pool_many` 10⁴ × 20, REML | {_cell(c['public'])} | `fit_arrays` "
                 f"{_cell(c['core'])} | serial {_cell(c['nb kernel'])} | parallel=True, "
                 f"{THREADS} threads: {_cell(c['nb parallel'])} | serial "
                 f"{_fmt(w2['estimate'])}, parallel {_fmt(w2['estimate_parallel'])} | "
                 f"{w2['target']} | pool_many: {_yes(m['pool_many serial'])} / "
                 f"{_yes(m['pool_many parallel'])}; fit_arrays: {_yes(m['fit_arrays serial'])} "
                 f"/ {_yes(m['fit_arrays parallel'])} (serial / parallel) |")
    c = w3["cells"]
    lines.append(f"| W3 `pool` REML, k = 10⁵ | {_cell(c['public'])} | `fit_one` "
                 f"{_cell(c['core'])} | {_cell(c['nb kernel'])} | – | {_fmt(w3['estimate'])} "
                 f"| {w3['target']} | {_yes(w3['met'])} |")
    d2 = acc["W2"]
    ci = max(d2["ci_low"][0], d2["ci_high"][0])
    lines += ["", "- **Agreement** (kernel − iometa, max |Δ| / max relative): W2 all 10⁴ "
              f"analyses τ² {d2['tau2'][0]:.2g} / {d2['tau2'][1]:.2g} "
              f"({acc['W2_tau2_identical']:,} of 10,000 bit-identical; τ² = 0 in "
              f"{acc['W2_tau2_zero'][0]} / {acc['W2_tau2_zero'][1]}), coef "
              f"{d2['coef'][0]:.2g}, se {d2['se'][0]:.2g}, CI {ci:.2g}, I² {d2['i2'][0]:.2g}, weights {d2['weights'][0]:.2g}, "
              f"p-value {d2['pval'][0]:.2g} (erfc in the kernel, scipy's ndtr in iometa); "
              f"iterations equal: {_yes(acc['W2_iters_equal'])} (mean "
              f"{acc['W2_mean_iters']:.2f}); W1 τ² {acc['W1']['tau2'][0]:.2g} / "
              f"{acc['W1']['tau2'][1]:.2g}, p-value {acc['W1']['pval'][0]:.2g}; W3 τ² "
              f"{acc['W3']['tau2'][0]:.2g} / {acc['W3']['tau2'][1]:.2g}, coef "
              f"{acc['W3']['coef'][0]:.2g} (iterations {acc['W3_iters'][0]} vs "
              f"{acc['W3_iters'][1]}; numpy sums k = 10⁵ pairwise/BLAS, the kernel in order). "
              f"τ² within 1e-10 relative everywhere: **{_yes(acc['tau2_within_1e-10'])}**. "
              "Parallel = serial bit for bit: "
              f"{_yes(acc['W2_parallel_identical'])}; a rerun bit for bit: "
              f"{_yes(acc['W2_rerun_identical'])}."]
    cold, cached = fr["cold"], fr["cached"]
    lines.append(
        "- **JIT** (first call in this process, empty cache: compile + run; kernels of one "
        "signature compile once): " + ", ".join(
            f"{k} {_fmt(v)}" for k, v in first.items()) + ". Fresh processes (median of "
        f"{args.fresh}): `import numba` {_fmt(fr['import_numba'])}; first call with an empty "
        "cache (compile) / with numba's disk cache: " + ", ".join(
            f"{k} {_fmt(cold[k][0])} / {_fmt(cached[k][0])}" for k in
            ("W1", "W3", "W2 serial", "W2 parallel")) + " (the kernels compile once per "
        "signature; parallel adds its own); second call: " + ", ".join(
            f"{k} {_fmt(cached[k][1])}" for k in ("W1", "W3", "W2 serial", "W2 parallel"))
        + ".")
    np_, nb_ = fr["w3_fresh"]["numpy"], fr["w3_fresh"]["numba"]
    lines.append(
        f"- **W3 in a fresh process** (data made first, then imports): numpy path `import "
        f"iometa` {_fmt(np_['import_iometa'])}, first `pool` {_fmt(np_['first'])}, second "
        f"{_fmt(np_['second'])}; numba path (cache filled) + `import numba` and the kernels "
        f"{_fmt(nb_['import_extra'])}, first call {_fmt(nb_['first'])}, second "
        f"{_fmt(nb_['second'])}.")
    inst = "; ".join(
        f"{d} {s['version']}: installed {s['installed_mb']:.1f} MiB"
        + (f", wheel {s['wheel_mb']:.1f} MiB (`{s['wheel']}`)" if "wheel_mb" in s else "")
        for d, s in sizes.items())
    lines.append(f"- **Install cost**: {inst}; numba requires "
                 f"{', '.join(sizes['numba']['requires'])}.")
    lines += ["", f"Machine: {machine()}. numba threading layer "
              f"{numba.threading_layer()}, {THREADS} threads. Load average per round "
              f"{', '.join(f'{x:.2f}' for x in loads)}, at end {load_end:.2f} (the machine is "
              f"shared). Versions: Python {platform.python_version()}, numpy {np.__version__}, "
              f"scipy {scipy.__version__}, pandas {pandas.__version__}, numba "
              f"{numba.__version__}, llvmlite {sizes['llvmlite']['version']}, iometa commit "
              f"{_commit()}."]
    return lines


def _commit() -> str:
    return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                          text=True, cwd=ROOT).stdout.strip() or "?"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--fresh", type=int, default=3, help="fresh processes per measurement")
    ap.add_argument("--wheels", action="store_true",
                    help="also pip download the numba and llvmlite wheels to weigh them")
    ap.add_argument("--results", action="store_true", help="update bench/RESULTS.md")
    args = ap.parse_args(argv)
    if importlib.util.find_spec("numba") is None:
        print("numba is not importable in this interpreter: nothing to measure (see the "
              "docstring for the separate venv it runs in).")
        return 0
    with tempfile.TemporaryDirectory() as tmpname:
        tmp = Path(tmpname)
        cache = tmp / "numba-cache"
        os.environ["NUMBA_CACHE_DIR"] = str(cache)  # before numba is imported
        import numba

        numba.set_num_threads(THREADS)
        from workloads import make_inputs

        inp = make_inputs(tmp / "in")
        cl = calls(inp)
        first = warm_up(cl)
        acc = agreement(inp)
        print(json.dumps({"first_calls": first, "tau2_max_rel": acc["tau2_max_rel"]}))
        rt = timed_rounds(cl, args.rounds)
        fr = fresh(cache, tmp, args.fresh)
        sizes = installed_size()
        if args.wheels:
            wheel_sizes(tmp, sizes)
        rows = summarise(rt, metafor_w1())
        lines = section(args, rows, acc, first, fr, sizes, rt["loads"], os.getloadavg()[0])
    print("\n".join(lines))
    if args.results:
        from dask_bench import write_section

        write_section(HERE / "RESULTS.md", "compiled-probe", lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())

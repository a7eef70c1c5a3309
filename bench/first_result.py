"""The first pooled result in a fresh interpreter against ``import numpy, pandas`` (issue 27).

    python bench/first_result.py [--rounds 15] [--results]

Each round starts two fresh interpreters, in alternating order: one runs ``import numpy,
pandas``, the other ``import iometa; iometa.pool([0.1, 0.2, 0.3], [0.01, 0.02, 0.03])`` and
reads the estimate and its p-value. Both report the time from just before their first import to
the end (``time.perf_counter`` inside the process: the interpreter's own start-up, the same
for both, is left out) and the whole process's wall time seen from outside. The pooled side
also reports whether ``scipy.stats`` was imported (it must not be) and which scipy
subpackages were. A third interpreter does both, numpy + pandas first and then the pooled
result, and reports the increment (no pairing across processes: less noisy on a loaded
machine). Target: the increment ≤ 0.1 s (median over rounds; min and max shown). With ``--results`` the numbers go to the
"first-result" section of bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

BASE = """
import time; t0 = time.perf_counter()
import numpy, pandas
import json; print(json.dumps({"inner": time.perf_counter() - t0}))
"""
POOLED = """
import time; t0 = time.perf_counter()
import iometa
res = iometa.pool([0.1, 0.2, 0.3], [0.01, 0.02, 0.03])
estimate, pval = res.estimate, res.pval
t1 = time.perf_counter()
import json, sys
print(json.dumps({"inner": t1 - t0, "estimate": estimate, "pval": pval,
                  "scipy_stats": "scipy.stats" in sys.modules,
                  "scipy": sorted({m.split(".")[1] for m in sys.modules
                                   if m.startswith("scipy.") and not m.split(".")[1].startswith("_")
                                   and m.count(".") == 1})}))
"""

# both in one fresh interpreter: numpy + pandas first, then the increment (less noisy when the
# machine is loaded: no pairing across processes)
BOTH = """
import time; t0 = time.perf_counter()
import numpy, pandas
t1 = time.perf_counter()
import iometa
res = iometa.pool([0.1, 0.2, 0.3], [0.01, 0.02, 0.03])
estimate, pval = res.estimate, res.pval
t2 = time.perf_counter()
import json; print(json.dumps({"base": t1 - t0, "extra": t2 - t1}))
"""


def fresh(code: str, root: Path = ROOT) -> dict:
    env = {**os.environ, "PYTHONPATH": str(root)}
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, cwd=root, check=True)
    wall = time.perf_counter() - t0
    return {**json.loads(proc.stdout.strip().splitlines()[-1]), "wall": wall}


def import_breakdown() -> list[tuple[str, float]]:
    """Cumulative import times (ms) of the biggest packages the pooled run adds (-X importtime)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    code = "import numpy, pandas\n" + POOLED
    proc = subprocess.run([sys.executable, "-X", "importtime", "-c", code],
                          capture_output=True, text=True, env=env, cwd=ROOT, check=True)
    out = []
    for line in proc.stderr.splitlines():
        parts = line.split("|")
        if len(parts) == 3 and parts[1].strip().isdigit():
            name = parts[2].rstrip()
            depth = len(name) - len(name.lstrip())
            if depth <= 1 and name.strip().startswith(("iometa", "scipy")):
                out.append((name.strip(), int(parts[1]) / 1000))
    return sorted(out, key=lambda x: -x[1])[:6]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--results", action="store_true")
    ap.add_argument("--against", type=Path, default=None,
                    help="another checkout (e.g. the main branch): its increment, alternating")
    args = ap.parse_args(argv)
    load0 = os.getloadavg()
    base, pooled = [], []
    for r in range(args.rounds):
        if r % 2:
            pooled.append(fresh(POOLED))
            base.append(fresh(BASE))
        else:
            base.append(fresh(BASE))
            pooled.append(fresh(POOLED))
    both, other = [], []
    for _ in range(args.rounds):
        both.append(fresh(BOTH))
        if args.against:
            other.append(fresh(BOTH, args.against.resolve()))
    load1 = os.getloadavg()
    extra = {key: np.array([p[key] - b[key] for b, p in zip(base, pooled)])
             for key in ("inner", "wall")}
    stats = {"load": [load0[0], load1[0]], "rounds": args.rounds,
             "scipy_stats": any(p["scipy_stats"] for p in pooled),
             "scipy": pooled[0]["scipy"], "estimate": pooled[0]["estimate"],
             "pval": pooled[0]["pval"], "breakdown": import_breakdown()}
    for key in ("inner", "wall"):
        b = np.array([x[key] for x in base])
        p = np.array([x[key] for x in pooled])
        stats[key] = {name: [float(np.min(a)), float(np.median(a)), float(np.max(a))]
                      for name, a in (("base", b), ("pooled", p), ("extra", extra[key]))}
    stats["both"] = {name: [float(f(np.array([x[name] for x in both])))
                            for f in (np.min, np.median, np.max)] for name in ("base", "extra")}
    if other:
        e = np.array([x["extra"] for x in other])
        stats["against"] = [str(args.against), float(e.min()), float(np.median(e)),
                            float(e.max())]
    quiet = min(both, key=lambda x: x["base"])
    stats["quietest"] = [quiet["base"], quiet["extra"]]
    stats["met"] = bool(stats["both"]["extra"][1] <= 0.1) and not stats["scipy_stats"]
    print(json.dumps(stats, indent=1))
    if args.results:
        sys.path.insert(0, str(HERE))
        from dask_bench import write_section

        write_section(HERE / "RESULTS.md", "first-result", report_lines(stats))
    return 0


def _ms(triple):
    return " / ".join(f"{1000 * x:.0f}" for x in triple)


def report_lines(s: dict) -> list[str]:
    import platform

    import pandas
    import scipy

    i, w, b = s["inner"], s["wall"], s["both"]
    return [
        f"## First pooled result in a fresh interpreter ({time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC)",
        "",
        f"`python bench/first_result.py --rounds {s['rounds']}"
        + (f" --against {s['against'][0]}" if "against" in s else "") + " --results` "
        "(bench/first_result.py): `import iometa; iometa.pool([0.1, 0.2, 0.3], [0.01, 0.02, "
        "0.03])` (estimate and p-value read) against `import numpy, pandas`, each in its own "
        "fresh interpreter, alternating; min / median / max over the rounds, in ms.", "",
        "| | numpy + pandas | first pooled result | difference (paired) | target |",
        "|---|---|---|---|---|",
        f"| one process: numpy + pandas, then iometa + pool | {_ms(b['base'])} | – | "
        f"{_ms(b['extra'])} (the increment) | ≤ 100 ms: **{'yes' if s['met'] else 'no'}** |",
        f"| two processes, inside (imports + fit) | {_ms(i['base'])} | {_ms(i['pooled'])} | "
        f"{_ms(i['extra'])} | |",
        f"| whole process, wall | {_ms(w['base'])} | {_ms(w['pooled'])} | {_ms(w['extra'])} | |",
        "",
        f"- The increment is {100 * b['extra'][1] / b['base'][1]:.0f} % of `import "
        "numpy, pandas` here (median); on a machine where `import numpy, pandas` takes "
        f"0.46 s (the quiet machine of the last full bench/run.py) that would be about "
        f"{460 * b['extra'][1] / b['base'][1]:.0f} ms (an estimate scaled by the load, not a "
        f"measurement). In the quietest round (numpy + pandas {1000 * s['quietest'][0]:.0f} ms) "
        f"the increment was {1000 * s['quietest'][1]:.0f} ms.",
        *([f"- The same increment with `{s['against'][0]}` (run alternately): "
           f"{_ms(s['against'][1:])} ms."] if "against" in s else []),
        f"- `scipy.stats` imported: **{'yes' if s['scipy_stats'] else 'no'}**; scipy "
        f"subpackages imported: {', '.join(s['scipy']) or 'none'}.",
        "- Largest imports it adds (cumulative, one `-X importtime` run): "
        + ", ".join(f"`{n}` {t:.0f} ms" for n, t in s["breakdown"]) + ".",
        f"- Load average at start {s['load'][0]:.2f}, at end {s['load'][1]:.2f} (shared "
        f"machine). Python {platform.python_version()}, numpy {np.__version__}, pandas "
        f"{pandas.__version__}, scipy {scipy.__version__}.", "",
    ]


if __name__ == "__main__":
    raise SystemExit(main())

"""Write bench/RESULTS.md: medians, paired ratios, targets, machine and versions."""

from __future__ import annotations

import datetime
import os
import platform
import re
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def fmt_time(s) -> str:
    if s is None or (isinstance(s, float) and np.isnan(s)):
        return "–"
    if isinstance(s, str):
        return s
    if s >= 1:
        return f"{s:.2f} s"
    if s >= 1e-3:
        return f"{s * 1e3:.3g} ms"
    return f"{s * 1e6:.3g} µs"


def machine() -> str:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        mem = Path("/proc/meminfo").read_text().splitlines()[0].split()[1]
        mem = f"{int(mem) / 2**20:.1f} GiB RAM"
    except OSError:
        mem = "? RAM"
    return f"{cpu}, {os.cpu_count()} cores, {mem}; {platform.platform()}"


def versions(rounds) -> str:
    import numpy
    import pandas
    import scipy

    parts = [f"Python {platform.python_version()}", f"numpy {numpy.__version__}",
             f"scipy {scipy.__version__}", f"pandas {pandas.__version__}"]
    try:
        import pymare

        parts.append(f"PyMARE {pymare.__version__}")
    except ImportError:
        parts.append("PyMARE not installed")
    info = next((r["metafor_info"] for r in rounds if "metafor_info" in r), None)
    if info:
        parts += [info["r_version"], f"metafor {info['metafor_version']}"]
    else:
        parts.append("metafor not run (no Rscript)")
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True, cwd=ROOT).stdout.strip()
    parts.append(f"iometa commit {commit or '?'}")
    return ", ".join(parts)


def _table(rounds, ratios, targets):
    lines = ["| workload | what | iometa | metafor | PyMARE | metafor ÷ iometa | "
             "PyMARE ÷ iometa | target | met |", "|---|---|---|---|---|---|---|---|---|"]
    for name, (what, target, check) in targets.items():
        med = {p: [rd[p][name] for rd in rounds if name in rd[p]]
               for p in ("iometa", "metafor", "PyMARE")}
        med = {p: float(np.median(v)) if v else None for p, v in med.items()}
        r = ratios.get(name, {})
        if name == "W3" and rounds and "metafor_info" in rounds[0]:
            med["metafor"] = f"fails: {rounds[0]['metafor_info']['W3'][:60]}"
        met = _met(name, check, rounds, med["iometa"], r)
        lines.append(
            f"| {name} | {what} | {fmt_time(med['iometa'])} | {fmt_time(med['metafor'])} | "
            f"{fmt_time(med['PyMARE'])} | {_ratio(r.get('metafor'))} | "
            f"{_ratio(r.get('PyMARE'))} | {target} | {met} |")
    return lines


#: issue 27's absolute targets: W5 (`iometa report` end to end) and W6 (forest PNG), seconds
W5_TARGET_S = 4.0
W6_TARGET_S = 0.15


def _met(name, check, rounds, med_iometa, ratios) -> str:
    """"yes"/"no" on the medians; "(in n of N rounds)" added when the rounds disagree."""
    if check is None:  # an absolute time target (W6: under W6_TARGET_S)
        ok = med_iometa is not None and med_iometa < W6_TARGET_S
        per = [rd["iometa"].get(name, np.inf) < W6_TARGET_S for rd in rounds]
    else:
        ok = check(ratios, med_iometa)
        per = [check({p: rd[p][name] / rd["iometa"][name] for p in ("metafor", "PyMARE")
                      if name in rd[p]}, rd["iometa"][name]) for rd in rounds]
    n = sum(per)
    text = "yes" if ok else "no"
    return text if n in (0, len(rounds)) else f"{text} (in {n} of {len(rounds)} rounds)"


def _ratio(x):
    return "–" if x is None else f"{x:,.1f}×"


def _extras(ex, rounds):
    out = []
    acc = ex.get("accuracy")
    if acc:
        out.append(f"- **W2 accuracy**: τ² of all {acc['n']:,} analyses vs metafor with "
                   f"`threshold = 1e-12, tol = 1e-12, maxiter = 10000` ({acc['stepadj']} needed "
                   f"`stepadj = 0.5`: plain Fisher scoring does not converge there): max "
                   f"|Δτ²| = {acc['max_abs']:.2e}, max relative {acc['max_rel']:.2e} (τ² > 1e-8); all within "
                   f"1e-6·|τ²| + 1e-10: **{'yes' if acc['all_within'] else 'no'}**.")
    info = next((r["metafor_info"] for r in rounds if "metafor_info" in r), None)
    if info:
        out.append(f"- metafor W2 loop (default controls): {info['W2_failures']} of "
                   f"{info['W2_n']:,} fits stopped with \"Fisher scoring algorithm did not "
                   "converge\" (caught with try(); time included).")
    mem = ex.get("w3_memory", {})
    if "traced_peak_mb" in mem:
        ok = mem["traced_peak_mb"] < 100 and mem["rss_peak_mb"] < 100 + mem["rss_before_mb"]
        out.append(f"- **W3 memory** (k = 100,000, `pool`): peak allocations during the fit "
                   f"{mem['traced_peak_mb']:.1f} MB (tracemalloc); process peak RSS "
                   f"{mem['rss_peak_mb']:.0f} MB, of which {mem['rss_before_mb']:.0f} MB before "
                   f"the fit (interpreter, numpy, pandas, scipy, the data). Fit under 100 MB: "
                   f"**{'yes' if ok else 'no'}**.")
    mil = ex.get("million", {})
    if "seconds" in mil:
        out.append(f"- **Chunked path**: `pool_many` on 10⁶ analyses × 20 studies (REML; a "
                   f"20-million-row DataFrame): {mil['seconds']:.1f} s, process peak RSS "
                   f"{mil['rss_peak_mb']:.0f} MB including the {mil['rss_with_data_mb']:.0f} MB "
                   f"held with the data (all converged: {mil['converged']}). Within 2 GB: "
                   f"**{'yes' if mil['rss_peak_mb'] < 2048 else 'no'}**.")
    elif mil:
        out.append(f"- Chunked path: failed ({mil.get('error')}).")
    rep = ex.get("report", {})
    if "error" in rep:
        status = f"failed after {rep['seconds']:.1f} s ({rep['error']})"
    elif "runs" in rep:
        def mmm(xs):
            return " / ".join(f"{x:.2f}" for x in (min(xs), float(np.median(xs)), max(xs)))
        status = (f"{rep['seconds']:.2f} s (median of {len(rep['runs'])} runs, min / median / "
                  f"max {mmm(rep['runs'])} s, {rep['jobs']} jobs: figures drawn by forked "
                  f"workers); with `--jobs 1` (figures in turn, alternating runs) "
                  f"{mmm(rep['serial_runs'])} s")
    else:
        status = f"{rep['seconds']:.1f} s"
    out.append(f"- **W5** `iometa report` end to end (fresh interpreter, default study table): "
               f"{status}. Target < {W5_TARGET_S:g} s (issue 27): "
               f"**{'yes' if 'error' not in rep and rep['seconds'] < W5_TARGET_S else 'no'}**.")
    imp, base = ex.get("import_iometa_extra"), ex.get("import_numpy_pandas")
    if imp is not None:
        out.append(f"- **import**: `import iometa` adds {imp * 1e3:.1f} ms to `import numpy, "
                   f"pandas` ({base:.2f} s) (target ≤ 0.1 s: "
                   f"**{'yes' if imp <= 0.1 else 'no'}**); `import pymare` "
                   f"{fmt_time(ex.get('import_pymare'))}; `library(metafor)` "
                   f"{fmt_time(ex.get('library_metafor'))}.")
    return out


def _per_round(rounds):
    names = list(rounds[0]["iometa"])
    lines = ["| workload | " + " | ".join(f"round {i + 1} (iometa / metafor / PyMARE)"
                                            for i in range(len(rounds))) + " |",
             "|---|" + "---|" * len(rounds)]
    for name in names:
        cells = [" / ".join(fmt_time(rd[p].get(name)) for p in ("iometa", "metafor", "PyMARE"))
                 for rd in rounds]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def write_results(path, rounds, ratios, extras, targets, machine_text, versions_text) -> str:
    load0, load1 = extras.get("load", ((0, 0, 0), (0, 0, 0)))
    text = "\n".join([
        "# Benchmark results", "",
        f"Run {datetime.datetime.now().isoformat(timespec='minutes')} with `python "
        f"bench/run.py` ({len(rounds)} rounds; see bench/README.md). Times are medians per call "
        "(per workload: all its analyses); ratios are peer time ÷ iometa time, paired within "
        "each round, median over rounds. \"met\" is judged on the medians; when the rounds "
        "disagree, it says in how many rounds the target was met.", "",
        *_table(rounds, ratios, targets), "",
        *_extras(extras, rounds), "",
        f"Machine: {machine_text}. Load average at start {load0[0]:.2f}, at end "
        f"{load1[0]:.2f} (the machine is shared: absolute times vary, the paired ratios "
        "less).", "",
        f"Versions: {versions_text}.", "",
        "## Per round", "", *_per_round(rounds), "",
    ])
    Path(path).write_text(text + _kept_sections(path))
    return text


def _kept_sections(path) -> str:
    """The ``<!-- section:NAME -->`` … ``<!-- /section:NAME -->`` blocks of the previous file
    (written by bench/dask_bench.py and bench/first_result.py), kept at the end."""
    old = Path(path).read_text() if Path(path).exists() else ""
    found = [m.group(0) for m in re.finditer(
        r"<!-- section:([^ ]+) -->.*?<!-- /section:\1 -->", old, re.S)]
    return "".join("\n" + b + "\n" for b in found)


if __name__ == "__main__":
    sys.exit("run bench/run.py")

"""``iometa validate`` on a 1,000,000-row study table: wall time and peak memory.

    python bench/validate_size.py [--rows 1000000] [--rounds 3] [--out bench/RESULTS.md]

Builds the table once from a fixed seed by repeating the rows of ``data/studies.csv`` with
unique study_ids and comparison_ids (``<id>x<copy>``: the arms of a comparison stay rows of
one study) and a few perturbations: some counts and years changed, quote and notes cells
with commas and doubled quotes, and a sprinkling of rows that deserve a warning (a study_id off the data dictionary's rule, a total above n_patients, an
Excel date serial as a time point). A second, pathological table has the same rows with
every row invalid (a percentage in ``value`` and an unknown modality).

Each round runs ``python -m iometa validate FILE`` in a fresh interpreter and records the
wall time and the child's peak RSS (``resource.getrusage(RUSAGE_CHILDREN).ru_maxrss``, one
child per measurement process so that the maximum is this run's). The section "Validate at
size" of ``--out`` is replaced (or appended). Targets (issue 21): ≤ 15 s and peak RSS ≤
max(1 GB, 3 × the file size), on the realistic table.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SEED = 20261203
SECTION = "## Validate at size"
MARK = "validate-size"


def make_table(path: Path, rows: int, *, invalid: bool = False, seed: int = SEED) -> int:
    """Write the generated table to ``path``; return its size in bytes."""
    rng = np.random.default_rng(seed)
    with open(ROOT / "data" / "studies.csv", newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        base = [r for r in reader if any(c.strip() for c in r)]
    col = {name: j for j, name in enumerate(header)}
    nb = len(base)
    copies = -(-rows // nb)
    # per-row random draws, made once (deterministic for a seed)
    u = rng.random((copies * nb, 4))
    with open(path, "w", newline="", encoding="utf-8") as out:
        w = csv.writer(out, lineterminator="\n")
        w.writerow(header)
        written = 0
        for c in range(copies):
            for b, src in enumerate(base):
                if written == rows:
                    break
                r = list(src)
                k = c * nb + b
                a, q, x, y = u[k]
                r[col["study_id"]] = f"{src[col['study_id']]}x{c}"
                if src[col["comparison_id"]]:  # a comparison belongs to one study (copy)
                    r[col["comparison_id"]] = f"{src[col['comparison_id']]}x{c}"
                if src[col["n_patients"]] and x < 0.3:  # a few more patients
                    r[col["n_patients"]] = str(int(src[col["n_patients"]]) + int(a * 20) + 1)
                if src[col["year"]] and x > 0.9:
                    r[col["year"]] = str(2000 + int(a * 25))
                if q < 0.05:  # commas and doubled quotes inside quoted cells
                    r[col["notes"]] = f'{src[col["notes"]]}, see "table {k % 7 + 1}", p. {k % 300}'
                if q > 0.98:
                    r[col["quote"]] = f'{src[col["quote"]]} ("copy {c}", row {b})'
                if src[col["comparison_id"]]:
                    y = 1.0  # an arm of a comparison: a warning's change would break the pair
                if y < 0.001:  # warnings: off the study_id rule
                    r[col["study_id"]] = f"Copy{c}-{b}"
                elif y < 0.002 and src[col["total"]] and src[col["n_patients"]]:
                    r[col["n_patients"]] = str(max(1, int(src[col["total"]]) - 1))
                    r[col["unit_of_analysis"]] = "patients"
                elif y < 0.003 and src[col["timepoint_months"]]:
                    r[col["timepoint_months"]] = "44927"
                if invalid:
                    r[col["modality"]] = "RFAA"
                    r[col["value"]] = f"{int(a * 90) + 5}%"
                w.writerow(r)
                written += 1
    return path.stat().st_size


_MEASURE = r"""
import resource, subprocess, sys, time, json
t0 = time.perf_counter()
r = subprocess.run([sys.executable, "-m", "iometa", "validate", sys.argv[1]],
                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
wall = time.perf_counter() - t0
u = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"wall": wall, "cpu": u.ru_utime + u.ru_stime, "rss_kb": u.ru_maxrss,
                  "rc": r.returncode, "stdout": r.stdout[-2000:], "stderr_head": r.stderr[:3000],
                  "stderr_lines": r.stderr.count("\n"), "stderr_bytes": len(r.stderr)}))
"""


def measure(path: Path) -> dict:
    """One ``iometa validate`` run in a fresh measuring process (so RUSAGE_CHILDREN is its)."""
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    out = subprocess.run([sys.executable, "-c", _MEASURE, str(path)], env=env, check=True,
                         stdout=subprocess.PIPE, text=True).stdout
    res = json.loads(out)
    res["load"] = os.getloadavg()[0]
    return res


def _git_commit() -> str:
    try:
        return subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                              stdout=subprocess.PIPE, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _stats(xs: list[float]) -> str:
    return f"{min(xs):.1f} / {statistics.median(xs):.1f} / {max(xs):.1f}"


def report(results: dict[str, list[dict]], sizes: dict[str, int], rows: int) -> str:
    import pandas
    import pyarrow

    mb = 1024 * 1024
    lines = [SECTION, "",
             f"Run {time.strftime('%Y-%m-%dT%H:%M', time.gmtime())} UTC with "
             f"`python bench/validate_size.py --rows {rows}` (seed {SEED}): "
             f"`python -m iometa validate FILE` in a fresh interpreter per round; wall time and "
             "the child's CPU time (user + system) and peak RSS (`getrusage(RUSAGE_CHILDREN)`). "
             "Rounds: min / median / max.", "",
             "| table | rows | file | wall s | CPU s | peak RSS MB | RSS limit MB | "
             "load (1 min) | exit | met (≤ 15 s wall, ≤ limit) |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for name, rs in results.items():
        size = sizes[name]
        limit = max(1024 * mb, 3 * size)
        walls = [r["wall"] for r in rs]
        cpus = [r["cpu"] for r in rs]
        rss = [r["rss_kb"] * 1024 / mb for r in rs]
        loads = [r["load"] for r in rs]
        met_t = statistics.median(walls) <= 15
        met_m = max(r["rss_kb"] * 1024 for r in rs) <= limit
        lines.append(
            f"| {name} | {rows:,} | {size / mb:,.0f} MB | {_stats(walls)} | {_stats(cpus)} | "
            f"{_stats(rss)} | {limit / mb:,.0f} | {_stats(loads)} | "
            f"{sorted({r['rc'] for r in rs})} | time {'yes' if met_t else 'no'}, "
            f"memory {'yes' if met_m else 'no'} |")
    lines.append("")
    for name, rs in results.items():
        r = rs[-1]
        out = (r["stdout"].strip().splitlines() or [""])[-1]
        err = r["stderr_head"].strip().splitlines()
        lines.append(f"- {name}: stdout ends `{out[:160]}`; stderr {r['stderr_lines']:,} lines "
                     f"({r['stderr_bytes'] / 1024:,.0f} KB), first: `{(err or [''])[0][:160]}`")
    lines += ["", f"Machine: {platform.processor() or platform.machine()}, "
              f"{os.cpu_count()} cores (shared with other work: the load average is the "
              "1-minute value when each round ended; CPU time is less affected by the load than "
              f"wall time); {platform.platform()}. Versions: Python {platform.python_version()}, "
              f"pandas {pandas.__version__}, pyarrow {pyarrow.__version__}, numpy "
              f"{np.__version__}, iometa commit {_git_commit()}.", ""]
    return "\n".join(lines)


def write_section(out: Path, text: str) -> None:
    """Replace the section in ``out`` (or append it), between the ``<!-- section:... -->``
    markers that bench/run.py (report_md.py) keeps when it rewrites the file."""
    old = out.read_text(encoding="utf-8") if out.exists() else "# Benchmark results\n"
    text = f"<!-- section:{MARK} -->\n{text.rstrip()}\n<!-- /section:{MARK} -->"
    pattern = re.compile(rf"<!-- section:{MARK} -->.*?<!-- /section:{MARK} -->", re.S)
    new = pattern.sub(lambda _m: text, old) if pattern.search(old) else (
        old.rstrip("\n") + "\n\n" + text + "\n")
    out.write_text(new, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--out", type=Path, default=HERE / "RESULTS.md")
    ap.add_argument("--dir", type=Path, default=None, help="where to write the tables")
    ap.add_argument("--no-invalid", action="store_true", help="skip the pathological table")
    args = ap.parse_args(argv)
    work = args.dir or Path(tempfile.mkdtemp(prefix="iometa-size-"))
    work.mkdir(parents=True, exist_ok=True)
    tables = {"realistic": work / "studies_1m.csv"}
    if not args.no_invalid:
        tables["every row invalid"] = work / "studies_1m_invalid.csv"
    sizes = {}
    for name, path in tables.items():
        if not path.exists():
            make_table(path, args.rows, invalid=name != "realistic")
        sizes[name] = path.stat().st_size
    results: dict[str, list[dict]] = {name: [] for name in tables}
    for k in range(args.rounds):
        for name, path in tables.items():
            r = measure(path)
            results[name].append(r)
            print(f"round {k + 1} {name}: wall {r['wall']:.1f} s, cpu {r['cpu']:.1f} s, "
                  f"peak RSS {r['rss_kb'] / 1024:.0f} MB, exit {r['rc']}, load {r['load']:.1f}",
                  flush=True)
    write_section(args.out, report(results, sizes, args.rows))
    print(f"wrote the section '{SECTION[3:]}' of {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

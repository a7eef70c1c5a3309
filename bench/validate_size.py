"""``iometa validate`` on a 1,000,000-row study table: wall time and peak memory.

    python bench/validate_size.py [--rows 1000000] [--rounds 3] [--out bench/RESULTS.md]

Builds the table once from a fixed seed by repeating the rows of ``data/studies.csv`` with
unique study_ids (``<id>x<copy>``) and a few perturbations: some counts and years changed,
quote and notes cells with commas and doubled quotes, and a sprinkling of rows that
deserve a warning (a study_id off the data dictionary's rule, a total above n_patients, an
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
import resource
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
                if src[col["n_patients"]] and x < 0.3:  # a few more patients
                    r[col["n_patients"]] = str(int(src[col["n_patients"]]) + int(a * 20) + 1)
                if src[col["year"]] and x > 0.9:
                    r[col["year"]] = str(2000 + int(a * 25))
                if q < 0.05:  # commas and doubled quotes inside quoted cells
                    r[col["notes"]] = f'{src[col["notes"]]}, see "table {k % 7 + 1}", p. {k % 300}'
                if q > 0.98:
                    r[col["quote"]] = f'{src[col["quote"]]} ("copy {c}", row {b})'
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

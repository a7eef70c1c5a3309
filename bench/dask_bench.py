"""pool_many out of core on dask: many analyses from Parquet files on a LocalCluster.

    python bench/dask_bench.py --analyses 100000          # the check run (2 million rows)
    python bench/dask_bench.py                            # the full run: 10^7 x 20 = 2e8 rows

Generates ``--analyses`` analyses of ``--k`` studies as Parquet files on disk (``--data``), one
file per ``--per-file`` analyses (ids in ranges), chunk by chunk so that the generator holds one
file's rows at a time; existing files of the same layout are reused. It then starts a
``dask.distributed.LocalCluster`` (``--workers`` processes, one thread each, ``--memory-limit``
each), runs ``iometa.pool_many(dd.read_parquet(data), by="analysis", method="REML")`` and
writes the result to Parquet (``--out``), so that nothing is collected in the client. The wall
time covers reading, the shuffle on the analysis id, the fits and the writing (the workers
have imported iometa and pyarrow before); a sampling
thread (every 0.2 s) sums the RSS of this process and all its child processes (scheduler
threads live in this process; nannies and workers are children) and reports the peak of the
sum (pages shared between processes are counted once per process, so this overstates). With
``--results`` the numbers go to the "dask" section of bench/RESULTS.md.

The same code runs on any dask cluster: replace the LocalCluster by
``Client("tcp://scheduler:8786")`` and point ``--data`` at storage the workers can read.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # this checkout's iometa


def generate(data: Path, analyses: int, k: int, per_file: int, seed: int = 2027) -> float:
    """Write the Parquet files (one per ``per_file`` analyses); returns the seconds taken."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    layout = {"analyses": analyses, "k": k, "per_file": per_file, "seed": seed}
    manifest = data / "layout.json"
    if manifest.exists() and json.loads(manifest.read_text()) == layout:
        return 0.0
    shutil.rmtree(data, ignore_errors=True)
    data.mkdir(parents=True)
    t0 = time.perf_counter()
    for i, lo in enumerate(range(0, analyses, per_file)):
        hi = min(lo + per_file, analyses)
        rng = np.random.default_rng([seed, i])
        n = (hi - lo) * k
        vi = rng.uniform(0.01, 0.2, n)
        tau2 = np.repeat(rng.uniform(0.0, 0.1, hi - lo), k)
        yi = 0.3 + rng.standard_normal(n) * np.sqrt(vi + tau2)
        table = pa.table({"analysis": np.repeat(np.arange(lo, hi, dtype=np.int64), k),
                          "yi": yi, "vi": vi})
        pq.write_table(table, data / f"part-{i:05d}.parquet")
        del vi, tau2, yi, table
    manifest.write_text(json.dumps(layout))
    return time.perf_counter() - t0


class PeakRSS:
    """Peak over time of the summed RSS of this process and its descendants (psutil)."""

    def __init__(self, interval: float = 0.2):
        import psutil

        self._me = psutil.Process()
        self.interval = interval
        self.peak = 0
        self.peak_processes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def sample(self) -> int:
        import psutil

        total, n = 0, 0
        for p in [self._me, *self._me.children(recursive=True)]:
            try:
                total += p.memory_info().rss
                n += 1
            except psutil.Error:
                pass
        if total > self.peak:
            self.peak, self.peak_processes = total, n
        return total

    def _run(self):
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.sample()


def run(data: Path, out: Path, workers: int, memory_limit: str, shuffle: str,
        indexed: bool, malloc_trim: bool) -> dict:
    import dask
    import dask.dataframe as dd
    from dask.distributed import Client, LocalCluster

    import iometa

    shutil.rmtree(out, ignore_errors=True)
    # dask starts workers with MALLOC_TRIM_THRESHOLD_=65536, which also switches off glibc's
    # dynamic mmap threshold: every large scratch array of a fit is then mmapped and page
    # faulted anew (pool_many about 2x slower in a worker); by default the bench drops it
    environ = dict(dask.config.get("distributed.nanny.pre-spawn-environ"))
    if not malloc_trim:
        environ.pop("MALLOC_TRIM_THRESHOLD_", None)
    with PeakRSS() as rss, dask.config.set({"distributed.nanny.pre-spawn-environ": environ}):
        baseline = rss.sample()
        with LocalCluster(n_workers=workers, threads_per_worker=1, memory_limit=memory_limit,
                          processes=True, dashboard_address=None) as cluster, \
                Client(cluster) as client:
            client.wait_for_workers(workers)
            # imports in the workers (pandas, pyarrow, iometa) before the clock starts
            client.run(lambda: __import__("iometa.batch") and __import__("pyarrow.parquet"))
            with dask.config.set({"dataframe.shuffle.method": shuffle}):
                t0 = time.perf_counter()
                ddf = (dd.read_parquet(str(data), index="analysis", calculate_divisions=True)
                       if indexed else dd.read_parquet(str(data)))
                res = iometa.pool_many(ddf, by="analysis", method="REML")
                res.to_parquet(str(out), write_index=False)
                seconds = time.perf_counter() - t0
            partitions = ddf.npartitions
            check = dd.read_parquet(str(out), columns=["analysis", "k", "converged"])
            summary = dask.compute(check["analysis"].count(), check["analysis"].nunique(),
                                   check["converged"].all(), check["k"].min(),
                                   check["k"].max())
    rows, unique, converged, kmin, kmax = (x.item() if hasattr(x, "item") else x
                                           for x in summary)
    return {"seconds": seconds, "peak_rss_mb": rss.peak / 2**20,
            "peak_processes": rss.peak_processes, "baseline_rss_mb": baseline / 2**20,
            "result_rows": int(rows), "unique_analyses": int(unique),
            "all_converged": bool(converged), "k_range": [int(kmin), int(kmax)],
            "partitions": int(partitions)}


def versions() -> str:
    import dask
    import distributed
    import pandas
    import pyarrow

    import iometa

    return (f"Python {platform.python_version()}, numpy {np.__version__}, pandas "
            f"{pandas.__version__}, dask {dask.__version__}, distributed "
            f"{distributed.__version__}, pyarrow {pyarrow.__version__}, iometa "
            f"{iometa.__version__}")


def write_section(results: Path, name: str, lines: list[str]) -> None:
    """Replace (or append) the marked section ``name`` of bench/RESULTS.md."""
    begin, end = f"<!-- section:{name} -->", f"<!-- /section:{name} -->"
    text = results.read_text() if results.exists() else "# Benchmark results\n"
    block = "\n".join([begin, *lines, end])
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        text = head + block + rest.split(end, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    results.write_text(text)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--analyses", type=int, default=10_000_000)
    ap.add_argument("--k", type=int, default=20)
    ap.add_argument("--per-file", type=int, default=25_000, help="analyses per Parquet file")
    ap.add_argument("--data", type=Path, default=None,
                    help="directory of the generated Parquet files (default: in the temp dir)")
    ap.add_argument("--out", type=Path, default=None, help="directory of the result Parquet")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--memory-limit", default="1GB", help="per worker (dask spills beyond)")
    ap.add_argument("--shuffle", default="p2p", choices=["p2p", "tasks", "disk"],
                    help="dask's shuffle method (p2p: out of core, through disk)")
    ap.add_argument("--malloc-trim", action="store_true",
                    help="keep dask's MALLOC_TRIM_THRESHOLD_=65536 for the workers")
    ap.add_argument("--indexed", action="store_true",
                    help="read with index='analysis' and known divisions: no shuffle needed")
    ap.add_argument("--results", action="store_true",
                    help="write the numbers to the dask section of bench/RESULTS.md")
    ap.add_argument("--keep", action="store_true", help="keep the generated data")
    args = ap.parse_args(argv)
    tmp = Path(os.environ.get("TMPDIR", tempfile.gettempdir()))
    data = args.data or tmp / f"iometa_dask_bench_{args.analyses}x{args.k}"
    out = args.out or tmp / f"iometa_dask_bench_{args.analyses}x{args.k}_result"
    need = args.analyses * args.k * 24 * 1.1 / 2**30  # three 8-byte columns, little compression
    free = shutil.disk_usage(data.parent if not data.exists() else data).free / 2**30
    print(f"data {data}: about {need:.1f} GiB needed (+ shuffle scratch), {free:.1f} GiB free",
          flush=True)
    if need * 2.5 > free:
        raise SystemExit("not enough disk for the data and the shuffle: lower --analyses")
    gen = generate(data, args.analyses, args.k, args.per_file)
    print(f"generated in {gen:.1f} s" if gen else "reusing the generated data", flush=True)
    load0 = os.getloadavg()
    res = run(data, out, args.workers, args.memory_limit, args.shuffle, args.indexed,
              args.malloc_trim)
    res.update(analyses=args.analyses, k=args.k, rows=args.analyses * args.k,
               generate_seconds=gen, workers=args.workers,
               shuffle="none (indexed)" if args.indexed else args.shuffle,
               malloc_trim=args.malloc_trim, memory_limit=args.memory_limit,
               load=[load0[0], os.getloadavg()[0]], versions=versions(),
               data_gib=sum(f.stat().st_size for f in data.glob("*.parquet")) / 2**30)
    print(json.dumps(res, indent=1))
    ok = (res["result_rows"] == res["unique_analyses"] == args.analyses
          and res["k_range"] == [args.k, args.k])
    if args.results:
        name = f"dask-{args.analyses}" + ("-indexed" if args.indexed else "")
        write_section(HERE / "RESULTS.md", name, report_lines(res, ok, args.indexed))
    if not args.keep:
        shutil.rmtree(data, ignore_errors=True)
    shutil.rmtree(out, ignore_errors=True)
    return 0 if ok else 1


def report_lines(res: dict, ok: bool, indexed: bool) -> list[str]:
    n, full = res["analyses"], 10_000_000
    rate = res["seconds"] / n
    lines = [
        f"## pool_many on dask{' (indexed, no shuffle)' if indexed else ''}: {n:,} analyses × "
        f"{res['k']} studies from Parquet "
        f"({time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC)", "",
        f"`python bench/dask_bench.py --analyses {n}{' --indexed' if indexed else ''}"
        f"{' --malloc-trim' if res['malloc_trim'] else ''} "
        "--results` (bench/dask_bench.py): "
        f"{res['rows']:,} rows in {res['partitions']} Parquet files ({res['data_gib']:.2f} GiB"
        + (f", generated in {res['generate_seconds']:.1f} s" if res["generate_seconds"] else "")
        + f"), `LocalCluster` with "
        f"{res['workers']} worker processes × 1 thread, memory limit {res['memory_limit']} "
        "each, " + ("read with `index=\"analysis\", calculate_divisions=True` (no shuffle)"
                    if indexed else f"{res['shuffle']} shuffle on `analysis`")
        + ", REML, result written to Parquet; workers "
        + ("with dask's `MALLOC_TRIM_THRESHOLD_=65536`" if res["malloc_trim"] else
           "without dask's `MALLOC_TRIM_THRESHOLD_=65536` (glibc's default: see the script)")
        + ".", "",
        "| analyses | rows | wall time | peak RSS, all processes | result rows | all converged |",
        "|---|---|---|---|---|---|",
        f"| {n:,} | {res['rows']:,} | {res['seconds']:.1f} s | {res['peak_rss_mb']:,.0f} MB "
        f"({res['peak_processes']} processes; {res['baseline_rss_mb']:.0f} MB before the "
        f"cluster) | {res['result_rows']:,} ({'ok' if ok else 'WRONG'}) | "
        f"{res['all_converged']} |", "",
    ]
    if n != full:
        lines += [
            f"**This is the check run at {n:,} analyses, not the 10⁷ target.** Extrapolated "
            f"linearly ({rate * 1e6:.0f} µs per analysis): about {rate * full / 60:.0f} min "
            f"for 10⁷ analyses ({full * res['k']:,} rows, about "
            f"{full * res['k'] * 24 / 2**30 * res['data_gib'] / (n * res['k'] * 24 / 2**30):.0f}"
            " GiB of Parquet) on the same cluster; the peak RSS should stay about the same, "
            "since the partitions keep their size and only their number grows (not "
            "measured). To run the full benchmark (on a quiet machine; it needs about 3× the "
            "data's size free on disk for the data and the shuffle):", "",
            "    python bench/dask_bench.py --analyses 10000000 --results"
            + (" --indexed" if indexed else ""), "",
        ]
    lines += [f"Load average at start {res['load'][0]:.2f}, at end {res['load'][1]:.2f} (the "
              f"machine is shared). Versions: {res['versions']}.", ""]
    return lines


if __name__ == "__main__":
    raise SystemExit(main())

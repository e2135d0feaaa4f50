#!/usr/bin/env python
"""metapool.dask on more study rows than a worker can hold, next to in-memory metapool.pool.

    python benchmarks/dask_bench.py                      # 10^8 rows: 10^7 analyses x 10
    python benchmarks/dask_bench.py --rows 1e7           # smaller
    python benchmarks/dask_bench.py --rows 1e6 --memory-limit 512MiB --methods DL

1. Writes ``--rows`` study rows as Parquet, chunk by chunk (never all in
   memory), into a temporary directory that is deleted at the end. Analyses
   of k = 10 studies follow the model of benchmarks/_simulate.py: yi ~ N(0.3 + u_j,
   v_i), u_j ~ N(0, 0.04), v_i ~ 0.05·χ²(8)/8. Every file holds
   ``--file-rows`` rows; with ``--straddle`` (default) the files are cut
   5 rows off the analysis boundaries, so one analysis straddles every pair
   of neighbouring files, and pool() takes its full path (local groups
   pooled in place, straddling ones merged); ``--no-straddle`` aligns the
   files with analyses, and pool() pools every partition in place.
2. For each of ``--methods`` (τ² estimators; ``fixed`` for the fixed-effect
   model, whose straddling analyses take the sums path rather than a
   shuffle), starts a fresh LocalCluster of 2 single-threaded worker processes with
   ``--memory-limit`` each, and times ``metapool.dask.pool(read_parquet(...))``
   written back to Parquet (the results of 10^7 analyses do not belong in the
   client either). The wall time includes pool()'s scan of the group column.
   Peak memory per worker is the worker process's peak resident set size
   (``ru_maxrss``); a restarted worker would show up as a changed process id.
3. Pools the largest leading subset that fits one process with the same
   memory limit (``--subset-rows``; by default from ~240 MiB for the process
   and ~128 bytes a row, measured: the columns, the engine's temporaries and
   its result) in a fresh process with ``metapool.pool``, and reports its
   throughput (pooling only, the faster of two runs, reading excluded) and
   the ratio of the two.
   The Dask results of those analyses are checked against it.

Prints a markdown table.
"""

from __future__ import annotations

import argparse
import itertools
import math
import multiprocessing
import os
import platform
import resource
import shutil
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from _simulate import random_effects, studies
from dask.utils import parse_bytes

SEED = 20261125
K = 10
# in-memory pool's peak resident set, measured here: ~230 MiB for the interpreter with
# numpy, scipy and pyarrow, then per row the three columns, the engine's temporaries
# and its result (REML's are the largest)
PROCESS_BYTES, BYTES_PER_ROW = 240 * 2**20, 128
CHECKED = ("estimate", "se", "ci_lower", "q", "tau2")


@dataclass
class Run:
    method: str
    seconds: float
    partitions: int
    peaks: list[int]  # bytes, per worker
    restarted: bool


@dataclass
class Baseline:
    rows: int
    read_seconds: float
    pool_seconds: dict[str, float]
    peak: int


def options(method: str) -> dict[str, Any]:
    return {"model": "fixed"} if method == "fixed" else {"tau2": method}


def write_parquet(path: Path, rows: int, file_rows: int, straddle: bool) -> int:
    """``rows`` study rows of k = 10 analyses in files of ``file_rows`` rows; returns files."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(SEED)
    analyses = rows // K
    u = random_effects(rng, analyses)  # 8 bytes an analysis: fine up to 10^9 rows
    inner = range(file_rows, rows, file_rows)
    if straddle:  # move every inner cut into the middle of an analysis
        inner = range(file_rows + K // 2, rows, file_rows)
    cuts = [0, *inner, rows]
    for i, (start, stop) in enumerate(itertools.pairwise(cuts)):
        group = np.arange(start, stop, dtype=np.int64) // K
        yi, vi = studies(rng, u, group)
        table = pa.table({"group": group, "yi": yi, "vi": vi})
        pq.write_table(table, path / f"part-{i:05d}.parquet", row_group_size=file_rows)
    return len(cuts) - 1


def worker_peaks(client: object) -> tuple[list[int], dict[str, int]]:
    def peak() -> tuple[int, int]:
        # ru_maxrss is in KiB on Linux: the process's peak resident set
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, os.getpid()

    found = client.run(peak)  # type: ignore[attr-defined]
    return [found[w][0] for w in sorted(found)], {w: found[w][1] for w in found}


def run_dask(data: Path, out: Path, method: str, memory_limit: str) -> Run:
    import dask.dataframe as dd
    from distributed import Client, LocalCluster

    import metapool.dask

    with (
        LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            memory_limit=memory_limit,
            dashboard_address=":0",
        ) as cluster,
        Client(cluster) as client,
    ):
        _, pids = worker_peaks(client)
        t0 = time.perf_counter()
        frame = dd.read_parquet(str(data))
        result = metapool.dask.pool(frame, groups="group", **options(method))
        result.to_parquet(str(out), write_index=True)
        seconds = time.perf_counter() - t0
        peaks, pids_after = worker_peaks(client)
        return Run(method, seconds, frame.npartitions, peaks, pids_after != pids)


def baseline(data: Path, rows: int, methods: list[str]) -> Baseline:
    """metapool.pool on the first ``rows`` rows, in a fresh process (its peak RSS is its own)."""
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=spawn) as one:
        return one.submit(_pool_in_memory, data, rows, methods).result()


def _pool_in_memory(data: Path, rows: int, methods: list[str]) -> Baseline:
    import pyarrow.parquet as pq

    import metapool

    # the files, in order, straight into the arrays: no second copy of the data
    g, y, v = np.empty(rows, dtype=np.int64), np.empty(rows), np.empty(rows)
    t0 = time.perf_counter()
    filled = 0
    for path in sorted(data.glob("*.parquet")):
        if filled == rows:
            break
        table = pq.read_table(path, columns=["group", "yi", "vi"])
        n = min(table.num_rows, rows - filled)
        for array, name in ((g, "group"), (y, "yi"), (v, "vi")):
            array[filled : filled + n] = table.column(name).to_numpy()[:n]
        filled += n
    del table
    read = time.perf_counter() - t0
    times: dict[str, float] = {}
    for method in methods:
        for _ in range(2):  # the faster of two: the first also faults the pages in
            res = None  # one result in memory at a time
            t0 = time.perf_counter()
            res = metapool.pool(y, v, g, **options(method))
            _ = res.p_q  # computed on first reading; pool() in Dask reports it
            times[method] = min(times.get(method, math.inf), time.perf_counter() - t0)
        np.save(data.parent / f"check-{method}.npy", np.stack([getattr(res, c) for c in CHECKED]))
        del res
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return Baseline(rows, read, times, peak)


def check(out: Path, scratch: Path, method: str, analyses: int) -> float:
    """Largest difference from metapool.pool in memory over its ``analyses``, relative to
    max(|value|, 1) (intervals may lie near 0)."""
    import pyarrow.dataset as ds

    got = ds.dataset(str(out)).to_table(
        columns=["group", *CHECKED], filter=ds.field("group") < analyses
    )
    order = np.argsort(got.column("group").to_numpy())
    want = np.load(scratch / f"check-{method}.npy")
    worst = 0.0
    for row, name in enumerate(CHECKED):
        a, b = got.column(name).to_numpy()[order], want[row]
        worst = max(worst, float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1.0))))
    return worst


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--rows", type=float, default=1e8, help="study rows (default 1e8)")
    ap.add_argument("--file-rows", type=float, default=2e6, help="rows per Parquet file")
    ap.add_argument("--memory-limit", default="1GiB", help="per worker (default 1GiB)")
    ap.add_argument("--methods", default="DL,REML", help="τ² estimators or fixed (DL,REML)")
    ap.add_argument("--subset-rows", type=float, help="rows pooled in memory (default: fits)")
    ap.add_argument("--straddle", action=argparse.BooleanOptionalAction, default=True)
    ap.add_argument("--tmp", default=None, help="directory for the temporary data")
    args = ap.parse_args(argv)

    rows = int(args.rows) // K * K
    file_rows = int(args.file_rows) // K * K
    methods = args.methods.split(",")
    limit = parse_bytes(args.memory_limit)
    fits = (limit - PROCESS_BYTES) // BYTES_PER_ROW
    subset = int(args.subset_rows or min(rows, fits)) // K * K
    scratch = Path(tempfile.mkdtemp(prefix="metapool-dask-bench-", dir=args.tmp))
    need = rows * 24 * 2  # Parquet of random floats barely compresses; results add ~half
    free = shutil.disk_usage(scratch).free
    if free < need:
        shutil.rmtree(scratch)
        print(f"needs ~{need / 2**30:.1f} GiB free in {scratch.parent}, has {free / 2**30:.1f}")
        return 1
    try:
        data = scratch / "studies"
        data.mkdir()
        t0 = time.perf_counter()
        files = write_parquet(data, rows, file_rows, args.straddle)
        written = time.perf_counter() - t0
        size = sum(f.stat().st_size for f in data.iterdir())
        base = baseline(data, subset, methods)
        runs, agreement = [], {}
        for method in methods:
            runs.append(run_dask(data, scratch / f"out-{method}", method, args.memory_limit))
            agreement[method] = check(scratch / f"out-{method}", scratch, method, subset // K)
            shutil.rmtree(scratch / f"out-{method}")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    mib = 2**20
    print(f"# metapool.dask benchmark, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}\n")
    print(f"- command: `python benchmarks/dask_bench.py {' '.join(argv or sys.argv[1:])}`")
    print(
        f"- machine: {platform.machine()}, {os.cpu_count()} CPUs, "
        f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )
    print(
        f"- data: {rows:,} rows ({rows // K:,} analyses x {K}), {files} Parquet files, "
        f"{size / mib:,.0f} MiB on disk ({rows * 24 / mib:,.0f} MiB as float64/int64 columns), "
        f"written in {written:.1f} s; analyses {'straddle' if args.straddle else 'align with'} "
        "file boundaries"
    )
    print(
        f"- cluster: LocalCluster, 2 worker processes x 1 thread, memory limit "
        f"{args.memory_limit} each; results written to Parquet"
    )
    print(
        f"- in memory: metapool.pool on the first {subset:,} rows in one process "
        f"(peak RSS {base.peak / mib:,.0f} MiB; reading them took {base.read_seconds:.1f} s, "
        "not counted); the Dask results of those analyses differ from it by at most the last "
        f"column ({', '.join(CHECKED)}; relative to max(|x|, 1))\n"
    )
    print(
        "| model | partitions | wall time | rows/s | peak RSS per worker | restarted | "
        "in memory rows/s | Dask / in memory | max diff from memory |"
    )
    print("|---|---:|---:|---:|---|---|---:|---:|---:|")
    for run in runs:
        rate = rows / run.seconds
        mem_rate = base.rows / base.pool_seconds[run.method]
        peaks = " / ".join(f"{p / mib:,.0f} MiB" for p in run.peaks)
        print(
            f"| {run.method} | {run.partitions} | {run.seconds:.1f} s | {rate:,.0f} | {peaks} | "
            f"{'yes' if run.restarted else 'no'} | {mem_rate:,.0f} | {rate / mem_rate:.2f}x | "
            f"{agreement[run.method]:.1e} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

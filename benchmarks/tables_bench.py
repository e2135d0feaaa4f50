#!/usr/bin/env python
"""pool_tables, workers= and GOSH, each against its peer in the same run.

    python benchmarks/tables_bench.py                  # everything (about 5 minutes on 2 cores)
    python benchmarks/tables_bench.py --quick          # smoke: 10^4-10^5 studies, no R
    python benchmarks/tables_bench.py --only tables,workers --repeat 7
    python benchmarks/tables_bench.py --only gosh      # needs Rscript with metafor for the peer

Workloads (``--only`` names):

- ``tables``: ``pool_tables`` (OR, Mantel-Haenszel, random effects: RevMan's DL
  with the MH-centred Q) on 10^6 analyses x 10 tables, against ``pool`` (DL) on
  the effect sizes of the same 10^7 studies, and, for context, against a Python
  loop of ``analyse`` on 10^3 of the analyses, extrapolated to 10^6.
- ``workers``: ``pool`` with ``workers=2`` against ``workers=1``: DL on 10^7
  studies (10^6 analyses x 10) and REML on 10^6 studies (10^5 x 10).
- ``blocks``: ``pool`` and ``pool_tables`` in cache-sized blocks of analyses
  (the default) against the same call on the whole batch in one piece.
- ``gosh``: ``res.gosh()`` of a 16-study analysis (65,535 subsets) with DL,
  REML and Mantel-Haenszel, against metafor's ``gosh()`` on the same data
  (timed inside R, once: it takes minutes). Both sides in CPU time.

Times are medians of ``--repeat`` samples of one call each, after one warm-up
call; the implementations of a workload take their samples in interleaved
rounds (A, B, A, B, ...), so that load from other processes on a shared
machine hits both alike and their ratio stays fair. Every pair is checked for
agreement (``workers`` bit for bit).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from _simulate import random_effects, studies  # noqa: E402

import metapool  # noqa: E402

SEED = 20261201


def timed(
    impls: dict[str, Callable[[], Any]], repeat: int, clock: Callable[[], float] = time.perf_counter
) -> dict[str, float]:
    """Median seconds per call of each implementation, sampled in interleaved rounds."""
    for f in impls.values():
        f()  # warm-up
    samples: dict[str, list[float]] = {name: [] for name in impls}
    for _ in range(repeat):
        for name, f in impls.items():
            start = clock()
            f()
            samples[name].append(clock() - start)
    return {name: statistics.median(s) for name, s in samples.items()}


def tables_data(m: int, k: int) -> tuple[np.ndarray, ...]:
    """m analyses of k two-arm trials: 50-200 per arm, control risk 0.2, OR about 1.3."""
    rng = np.random.default_rng(SEED)
    n = m * k
    n1 = rng.integers(50, 201, n)
    n2 = rng.integers(50, 201, n)
    e1 = rng.binomial(n1, 0.25)
    e2 = rng.binomial(n2, 0.2)
    return e1, n1, e2, n2, np.repeat(np.arange(m), k)


def bench_tables(quick: bool, repeat: int) -> list[str]:
    m, k = (10**4, 10) if quick else (10**6, 10)
    e1, n1, e2, n2, groups = tables_data(m, k)
    es = metapool.effect_sizes("OR", events_exp=e1, total_exp=n1, events_ctrl=e2, total_ctrl=n2)
    assert es.estimable.all()  # both sides pool the same number of studies
    yi, vi = es.yi, es.vi
    options = dict(measure="OR", method="MH", model="random")
    t = timed(
        {
            "pool_tables": lambda: metapool.pool_tables(e1, n1, e2, n2, groups=groups, **options),
            "pool": lambda: metapool.pool(yi, vi, groups=groups),
        },
        repeat,
    )
    # the loop of analyse: 10^3 analyses (records built beforehand), extrapolated
    loop_m = 100 if quick else 1000
    records = [
        [
            metapool.Dichotomous(f"s{i}", int(e1[i]), int(n1[i]), int(e2[i]), int(n2[i]))
            for i in range(j * k, (j + 1) * k)
        ]
        for j in range(loop_m)
    ]
    start = time.perf_counter()
    looped = [metapool.analyse(r, **options) for r in records]
    loop_s = (time.perf_counter() - start) * m / loop_m
    batch = metapool.pool_tables(e1, n1, e2, n2, groups=groups, **options)
    worst = max(
        abs(np.log(r.total.estimate) - batch.estimate[j]) / abs(batch.estimate[j])
        for j, r in enumerate(looped)
    )
    ratio = t["pool_tables"] / t["pool"]
    return [
        f"### pool_tables: {m:,} analyses x {k} tables (OR, MH, random), {m * k:,} studies",
        "",
        "| implementation | median | ratio to pool |",
        "|---|---:|---:|",
        f"| `pool_tables(..., method='MH', model='random')` | {t['pool_tables']:.3f} s | "
        f"{ratio:.2f} |",
        f"| `pool(yi, vi)` DL on the same studies' effect sizes | {t['pool']:.3f} s | 1 |",
        f"| loop of `analyse` ({loop_m:,} analyses timed, x{m // loop_m:,}) | {loop_s:.1f} s | "
        f"{loop_s / t['pool']:.0f} |",
        "",
        f"Goal pool_tables <= 2x pool: {'met' if ratio <= 2 else 'NOT met'} ({ratio:.2f}x). "
        f"pool_tables is {loop_s / t['pool_tables']:.0f}x faster than the loop. "
        f"Largest relative difference from the loop's estimates: {worst:.1e}.",
        "",
    ]


def pool_data(m: int, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """m analyses of k studies, of the model of benchmarks/_simulate.py."""
    rng = np.random.default_rng(SEED)
    groups = np.repeat(np.arange(m), k)
    y, v = studies(rng, random_effects(rng, m), groups)
    return y, v, groups


def bench_workers(quick: bool, repeat: int) -> list[str]:
    rows = [
        f"### workers=2 against workers=1 (os.cpu_count() = {os.cpu_count()})",
        "",
        "| workload | workers=1 | workers=2 | speed-up | identical |",
        "|---|---:|---:|---:|---|",
    ]
    cases = [("DL", 10**6, 10), ("REML", 10**5, 10)]
    if quick:
        cases = [("DL", 10**4, 10), ("REML", 10**3, 10)]
    for tau2, m, k in cases:
        y, v, g = pool_data(m, k)

        def run(workers: int, y: Any = y, v: Any = v, g: Any = g, tau2: str = tau2) -> Any:
            return metapool.pool(y, v, groups=g, tau2=tau2, workers=workers)

        t = timed({"1": lambda: run(1), "2": lambda: run(2)}, repeat)
        a = metapool.pool(y, v, groups=g, tau2=tau2)
        b = metapool.pool(y, v, groups=g, tau2=tau2, workers=2)
        same = all(
            np.array_equal(getattr(a, f), getattr(b, f), equal_nan=True)
            for f in ("estimate", "se", "tau2", "q", "i2", "converged")
        )
        rows.append(
            f"| {tau2}, {m * k:,} studies ({m:,} x {k}) | {t['1']:.3f} s | {t['2']:.3f} s | "
            f"{t['1'] / t['2']:.2f}x | {'yes' if same else 'NO'} |"
        )
    rows += ["", "Goal >= 1.7x on 2 cores.", ""]
    return rows


def bench_blocks(quick: bool, repeat: int) -> list[str]:
    """The same calls in one piece (BLOCK beyond the batch) and in cache-sized blocks."""
    from metapool.pooling import _workers

    m, k = (10**4, 10) if quick else (10**6, 10)
    y, v, g = pool_data(m, k)
    e1, n1, e2, n2, groups = tables_data(m, k)
    default = _workers.BLOCK

    def with_block(block: int, f: Callable[[], Any]) -> Callable[[], Any]:
        def run() -> Any:
            _workers.BLOCK = block
            try:
                return f()
            finally:
                _workers.BLOCK = default

        return run

    calls = {
        "pool DL": lambda: metapool.pool(y, v, groups=g),
        "pool_tables MH random": lambda: metapool.pool_tables(
            e1, n1, e2, n2, groups=groups, method="MH", model="random"
        ),
    }
    out = [
        f"### Blocks of {default:,} studies against one piece ({m * k:,} studies, workers=1)",
        "",
        "| call | one piece | blocks | speed-up |",
        "|---|---:|---:|---:|",
    ]
    for name, f in calls.items():
        t = timed({"one": with_block(2**62, f), "blocks": with_block(default, f)}, repeat)
        out.append(
            f"| {name} | {t['one']:.3f} s | {t['blocks']:.3f} s | {t['one'] / t['blocks']:.2f}x |"
        )
    out.append("")
    return out


R_GOSH = r"""
suppressPackageStartupMessages(library(metafor))
d <- read.csv(commandArgs(TRUE)[1])
es <- escalc("OR", ai = ai, n1i = n1i, ci = ci, n2i = n2i, data = d)
out <- list()
cpu <- function() { p <- proc.time(); p[["user.self"]] + p[["sys.self"]] }
time_of <- function(fit) {
  t <- cpu()
  g <- gosh(fit, progbar = FALSE)
  n <- nrow(g$res)
  list(seconds = cpu() - t, subsets = n, last = g$res$estimate[n])
}
out$DL <- time_of(rma(yi, vi, data = es, method = "DL"))
out$MH <- time_of(rma.mh(ai = ai, n1i = n1i, ci = ci, n2i = n2i, data = d, measure = "OR"))
out$REML <- time_of(rma(yi, vi, data = es, method = "REML"))
cat(jsonlite::toJSON(out, auto_unbox = TRUE, digits = NA))
"""


def bench_gosh(quick: bool, repeat: int) -> list[str]:
    k = 10 if quick else 16
    rng = np.random.default_rng(SEED)
    n1, n2 = rng.integers(40, 400, k), rng.integers(40, 400, k)
    risk = rng.uniform(0.1, 0.3, k)
    e1, e2 = rng.binomial(n1, risk * 1.3), rng.binomial(n2, risk)
    studies = [
        metapool.Dichotomous(f"s{i}", int(e1[i]), int(n1[i]), int(e2[i]), int(n2[i]))
        for i in range(k)
    ]
    fits = {
        "DL": metapool.analyse(studies, measure="OR", method="IV", model="random", tau2="DL"),
        "MH": metapool.analyse(studies, measure="OR", method="MH", model="fixed"),
        "REML": metapool.analyse(studies, measure="OR", method="IV", model="random", tau2="REML"),
    }
    t = timed({name: res.gosh for name, res in fits.items()}, repeat, clock=time.process_time)
    r_times: dict[str, Any] = {}
    if not quick and shutil.which("Rscript"):
        with tempfile.TemporaryDirectory() as tmp:
            csv = Path(tmp) / "gosh.csv"
            rows = "\n".join(f"{a},{b},{c},{d}" for a, b, c, d in zip(e1, n1, e2, n2, strict=True))
            csv.write_text("ai,n1i,ci,n2i\n" + rows + "\n")
            script = Path(tmp) / "gosh.R"
            script.write_text(R_GOSH)
            done = subprocess.run(
                ["Rscript", str(script), str(csv)], capture_output=True, text=True, check=True
            )
            r_times = json.loads(done.stdout)
    out = [
        f"### GOSH: k = {k} ({2**k - 1:,} subsets)",
        "",
        "CPU time (user + system) of one process, single-threaded on both sides: metafor's",
        "fits take minutes, so its wall time on a shared machine would mostly measure the load.",
        "",
        "| model | metapool `res.gosh()` | metafor `gosh()` | ratio |",
        "|---|---:|---:|---:|",
    ]
    for name, res in fits.items():
        r = r_times.get(name)
        if r is not None:
            g = res.gosh()
            assert r["subsets"] == len(g)
            assert abs(r["last"] - g.estimate[-1]) < 1e-6 * abs(g.estimate[-1])
        r_text = f"{r['seconds']:.1f} s" if r else "not run"
        ratio = f"{r['seconds'] / t[name]:.0f}x" if r else ""
        out.append(f"| {name} | {t[name]:.3f} s | {r_text} | {ratio} |")
    out.append("")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--repeat", type=int, default=None)
    parser.add_argument("--only", default="tables,workers,blocks,gosh")
    args = parser.parse_args()
    repeat = args.repeat or (3 if args.quick else 5)
    print(
        f"metapool {metapool.__version__}, numpy {np.__version__}, "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at start, "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}\n"
    )
    benches = {
        "tables": bench_tables,
        "workers": bench_workers,
        "blocks": bench_blocks,
        "gosh": bench_gosh,
    }
    for name in args.only.split(","):
        print("\n".join(benches[name](args.quick, repeat)), flush=True)
    print(f"load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()

#!/usr/bin/env python
"""metapool against its peers, in one run, on the same synthetic data.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/run.py            # full suite
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/run.py --quick    # smoke, < 20 s
    python benchmarks/run.py --only dl-1e6 --repeat 9
    python benchmarks/run.py --only reml --profile       # + cProfile of metapool's call

Times are medians of ``--repeat`` samples (timeit-style: one warm-up call
excluded, each sample auto-ranged to >= ``min_time`` by running the call
``number`` times, garbage collector off while timing). The implementations of
one workload take their samples in interleaved rounds, so that load from other
processes on a shared machine hits them alike and their ratios stay fair. Peak extra memory is
measured on one more, untimed call under ``tracemalloc`` (numpy reports its
buffers to it): the highest traced allocation during the call above what was
allocated before it, the returned result included. Every peer's answer is
compared with metapool's on the same data; a disagreement marks the row with
✗ and makes the script exit with status 1. See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

from _report import (  # noqa: E402
    cmd_output,
    header,
    table,
    targets,
)
from _timing import Config, Row  # noqa: E402
from _workloads import (  # noqa: E402
    CLOSED_FORM_TOL,
    dl_scale,
    latency,
    ragged,
    reml,
)

# ----------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--quick",
        action="store_true",
        help="CI-sized smoke run: 10^3 and 10^4 analyses, 3 repeats (a few seconds)",
    )
    ap.add_argument(
        "--repeat",
        type=int,
        default=None,
        help="timed samples per implementation (default 7, --quick 3)",
    )
    ap.add_argument(
        "--min-time",
        type=float,
        default=None,
        help="seconds each sample lasts at least (default 0.2, --quick 0.02)",
    )
    ap.add_argument(
        "--only",
        action="append",
        default=[],
        help="run only workloads whose name starts with NAME (repeatable or comma-separated); "
        "names: latency, dl-1e3, dl-1e5, dl-1e6, ragged-1e5, reml-1e5 "
        "(--quick: dl-1e3, dl-1e4, ragged-1e4, reml-1e4)",
    )
    ap.add_argument(
        "--profile", action="store_true", help="also cProfile metapool's call in each workload"
    )
    ap.add_argument(
        "--output",
        type=Path,
        default=HERE / "results" / "latest.md",
        help="markdown file to write (default benchmarks/results/latest.md)",
    )
    args = ap.parse_args(argv)
    cfg = Config(
        repeat=args.repeat or (3 if args.quick else 7),
        min_time=args.min_time if args.min_time is not None else (0.02 if args.quick else 0.2),
        quick=args.quick,
        profile=args.profile,
    )
    if args.quick:
        big, mid, reml_m = 10**4, None, 10**4
    else:
        big, mid, reml_m = 10**6, 10**5, 10**5

    def lab(m: int) -> str:
        return f"10^{round(math.log10(m))}"

    workloads: list[tuple[str, Callable[[], list[Row]]]] = [("latency", lambda: latency(cfg))]
    for m in [10**3, *([mid] if mid else []), big]:
        workloads.append((f"dl-1e{round(math.log10(m))}", lambda m=m: dl_scale(m, cfg, lab(m))))
    rag_m = 10**4 if args.quick else 10**5
    workloads.append(
        (f"ragged-1e{round(math.log10(rag_m))}", lambda: ragged(rag_m, cfg, lab(rag_m)))
    )
    workloads.append(
        (f"reml-1e{round(math.log10(reml_m))}", lambda: reml(reml_m, cfg, lab(reml_m)))
    )
    only = [o for arg in args.only for o in arg.split(",") if o]
    chosen = [(n, f) for n, f in workloads if not only or any(n.startswith(o) for o in only)]
    if not chosen:
        ap.error(f"--only {only} matches none of {[n for n, _ in workloads]}")

    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    started = cmd_output("date") or dt.datetime.now(dt.timezone.utc).isoformat()
    t0 = time.perf_counter()
    rows: list[Row] = []
    for name, fn in chosen:
        print(f"[{name}]", file=sys.stderr, flush=True)
        t_w = time.perf_counter()
        rows += fn()
        print(f"[{name}] {time.perf_counter() - t_w:.1f} s", file=sys.stderr, flush=True)
    elapsed = time.perf_counter() - t0

    report = (
        "\n\n".join(
            [
                header(cfg, argv, load, started),
                table(rows),
                "Ratio: implementation's median / metapool's median in the same workload "
                "(> 1: slower than metapool). Agreement: max relative difference "
                "|a - b| / max(|a|, |b|, 1e-12) over the fields and groups named, "
                f"tolerance {CLOSED_FORM_TOL:g} for closed forms.",
                "## Targets (issue 5)\n\n" + targets(rows, lab(big), lab(reml_m)),
                f"Suite ran in {elapsed:.1f} s.",
            ]
        )
        + "\n"
    )
    print(report)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(report, encoding="utf-8")
    print(f"(written to {args.output})", file=sys.stderr)
    failed = [r for r in rows if not r.ok]
    if failed:
        print(
            f"{len(failed)} disagreement(s): "
            + "; ".join(f"{r.workload} / {r.impl}" for r in failed),
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

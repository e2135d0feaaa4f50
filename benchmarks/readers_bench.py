#!/usr/bin/env python
"""The RevMan readers on large and hostile inputs, against the plain standard-library parse.

    python benchmarks/readers_bench.py                 # every workload
    python benchmarks/readers_bench.py --only attribute,review --repeat 3

Workloads (files are generated in a temporary folder, never kept):

- ``attribute``: one ``.rm5`` whose single study row carries an 8 MB and a 16 MB
  attribute. ``read_rm5`` against ``xml.etree.ElementTree.iterparse`` on the same
  file (16 kB reads: the parse is quadratic in the attribute's length).
- ``review``: a ~50 MB review (100 outcomes of 200 studies and ~44 MB of text),
  ``read_rm5`` against the bare ``iterparse`` loop over the same file (the floor
  any reader that walks every element pays), and the share of ``read_rm5``'s
  time spent building and validating study records (cProfile).
- ``bomb``: a data package whose member inflates to 10 GiB: the time and the peak
  traced memory until ``read_review`` refuses it.

Times are the median of ``--repeat`` runs; peers run interleaved with metapool so
that load from other processes on a shared machine hits both alike.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import statistics
import sys
import tempfile
import time
import tracemalloc
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))  # the synthetic-file helpers of the tests

from revman_files import data, large_review, outcome, review  # noqa: E402
from test_io_source import _bomb  # noqa: E402

from metapool import InputError  # noqa: E402
from metapool.io import read_review, read_rm5  # noqa: E402


def iterparse(path: Path) -> None:
    """The standard library's streaming parse, start and end events as read_rm5 takes them,
    elements cleared at their end."""
    for event, element in ET.iterparse(path, events=("start", "end")):
        if event == "end":
            element.clear()


def median_time(call: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def interleaved(calls: dict[str, Callable[[], object]], repeat: int) -> dict[str, float]:
    times: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(repeat):
        for name, call in calls.items():
            started = time.perf_counter()
            call()
            times[name].append(time.perf_counter() - started)
    return {name: statistics.median(t) for name, t in times.items()}


def attribute(folder: Path, repeat: int) -> None:
    print("## one long attribute\n")
    print("| attribute | read_rm5 | ElementTree.iterparse | ratio |")
    print("|---|---|---|---|")
    for megabytes in (8, 16):
        row = data(
            "DICH",
            "STD-A",
            EVENTS_1=1,
            TOTAL_1=10,
            EVENTS_2=2,
            TOTAL_2=10,
            NOTE="x" * (megabytes << 20),
        )
        path = folder / f"attribute{megabytes}.rm5"
        path.write_bytes(review(outcome("DICH", 1, "D", [row], EFFECT_MEASURE="OR")).encode())
        t = interleaved(
            {"ours": lambda p=path: read_rm5(p), "peer": lambda p=path: iterparse(p)}, repeat
        )
        print(
            f"| {megabytes} MB | {t['ours']:.3f} s | {t['peer']:.3f} s | "
            f"{t['peer'] / t['ours']:.1f}x faster |"
        )
    print()


def large(folder: Path, repeat: int) -> None:
    path = folder / "large.rm5"
    path.write_bytes(large_review(100, 600_000).encode("latin-1"))
    size = path.stat().st_size / 1e6
    t = interleaved({"ours": lambda: read_rm5(path), "peer": lambda: iterparse(path)}, repeat)
    profile = cProfile.Profile()
    profile.runcall(read_rm5, path)
    stats = pstats.Stats(profile)
    total = sum(v[3] for k, v in stats.stats.items() if k[2] == "read_rm5")  # type: ignore[attr-defined]
    records = sum(
        v[3]
        for k, v in stats.stats.items()  # type: ignore[attr-defined]
        if k[2] == "finish" and k[0].endswith("_draft.py")
    )
    print("## a large review\n")
    print(f"{size:.1f} MB, 100 outcomes of 200 studies, text between them\n")
    print(f"- read_rm5: {t['ours']:.2f} s (median of {repeat})")
    print(f"- ElementTree.iterparse alone: {t['peer']:.2f} s")
    print(f"- outcomes built and validated: {records / total:.0%} of read_rm5 (cProfile)\n")


def bomb(folder: Path, repeat: int) -> None:
    path = _bomb(folder / "bomb.zip", 10 << 30)

    def refuse() -> None:
        try:
            read_review(path)
        except InputError:
            return
        raise AssertionError("the zip bomb was read")

    elapsed = median_time(refuse, repeat)
    tracemalloc.start()
    refuse()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    print("## a zip bomb\n")
    print(
        f"{path.stat().st_size / 1e6:.1f} MB zip, one member of 10 GiB: refused in "
        f"{elapsed:.3f} s, peak traced memory {peak / 1e6:.0f} MB\n"
    )


WORKLOADS = {"attribute": attribute, "review": large, "bomb": bomb}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(WORKLOADS), help="comma-separated workloads")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        for name in args.only.split(","):
            WORKLOADS[name](Path(folder), args.repeat)


if __name__ == "__main__":
    main()

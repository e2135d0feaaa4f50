"""Timing for benchmarks/run.py: interleaved medians, autorange, tracemalloc peaks, cProfile."""

from __future__ import annotations

import cProfile
import gc
import pstats
import statistics
import sys
import time
import tracemalloc
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent


@dataclass
class Impl:
    name: str
    fn: Callable[[], Any] | None  # None: the peer cannot do this workload
    to_dict: Callable[[Any], dict[str, Any]] = lambda out: out
    check: Callable[[dict[str, Any], dict[str, Any]], tuple[str, bool]] | None = None
    subject: bool = False  # the metapool call the ratios are relative to
    key: str = ""  # short name for the targets section
    note: str = ""  # shown instead of a time when fn is None


@dataclass
class Row:
    workload: str
    impl: str
    key: str
    median: float | None
    spread: tuple[float, float] | None
    number: int
    peak: int | None
    agreement: str
    ok: bool
    ratio: float | None = None
    input_bytes: int | None = None


@dataclass
class Config:
    repeat: int
    min_time: float
    quick: bool
    profile: bool


def _calibrate(fn: Callable[[], Any], min_time: float) -> tuple[Any, int]:
    """Warm-up call (its result is the one checked) and timeit-style autorange of ``number``."""
    t0 = time.perf_counter()
    out = fn()
    first = time.perf_counter() - t0
    number = 1
    if first < min_time:  # timeit.autorange: 1, 2, 5, 10, 20, ...
        for number in (n * 10**e for e in range(9) for n in (1, 2, 5)):
            t0 = time.perf_counter()
            for _ in range(number):
                fn()
            if time.perf_counter() - t0 >= min_time:
                break
    return out, number


def _sample(fn: Callable[[], Any], number: int) -> float:
    """Seconds per call over ``number`` calls, garbage collector off (as timeit)."""
    gc_was = gc.isenabled()
    gc.disable()
    try:
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        return (time.perf_counter() - t0) / number
    finally:
        if gc_was:
            gc.enable()


def _peak_memory(fn: Callable[[], Any]) -> int:
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        out = fn()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    del out
    return peak - before


def run_workload(name: str, impls: list[Impl], cfg: Config, input_bytes: int | None) -> list[Row]:
    """Time every implementation of one workload, interleaved.

    Warm-up and autorange per implementation, then ``repeat`` rounds in which
    every implementation takes one sample in turn, so that a change in the
    machine's load hits all of them alike and the ratios stay fair; then one
    untimed call each under tracemalloc.
    """
    state: dict[int, dict[str, Any]] = {}
    gc.collect()  # once: with scipy/pandas/statsmodels loaded a collection takes ~0.1 s
    for i, impl in enumerate(impls):
        if impl.fn is None:
            continue
        print(f"  {name}: {impl.name} ...", file=sys.stderr, flush=True)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                out, number = _calibrate(impl.fn, cfg.min_time)
            state[i] = {"out": out, "number": number, "samples": []}
        except Exception as exc:  # a broken peer is a row, not a crash
            state[i] = {"error": f"✗ failed: {type(exc).__name__}: {exc}"}
    live = [i for i in state if "error" not in state[i]]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(cfg.repeat):
            for i in live:
                fn = impls[i].fn
                assert fn is not None
                state[i]["samples"].append(_sample(fn, state[i]["number"]))
        for i in live:
            fn = impls[i].fn
            assert fn is not None
            state[i]["peak"] = _peak_memory(fn)

    rows: list[Row] = []
    subject: dict[str, Any] | None = None
    subject_time: float | None = None
    for i, impl in enumerate(impls):
        if impl.fn is None:
            rows.append(Row(name, impl.name, impl.key, None, None, 0, None, impl.note, True))
            continue
        st = state[i]
        if "error" in st:
            rows.append(Row(name, impl.name, impl.key, None, None, 0, None, st["error"], False))
            continue
        med = statistics.median(st["samples"])
        result = impl.to_dict(st.pop("out"))
        if impl.subject:
            subject, subject_time = result, med
            if cfg.profile:
                _profile(name, impl, st["number"])
        if impl.check is not None and subject is None:
            text, ok = "not compared: metapool's own call failed", True
        elif impl.check is not None:
            text, ok = impl.check(result, subject)
        else:
            text, ok = ("(reference for this workload)" if impl.subject else "—"), True
        rows.append(
            Row(
                name,
                impl.name,
                impl.key,
                med,
                (min(st["samples"]), max(st["samples"])),
                st["number"],
                st["peak"],
                text,
                ok,
                input_bytes=input_bytes,
            )
        )
    for row in rows:
        if row.median is not None and subject_time:
            row.ratio = row.median / subject_time
    return rows


def _profile(name: str, impl: Impl, number: int) -> None:
    assert impl.fn is not None
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(max(number, 3)):
        impl.fn()
    prof.disable()
    st = pstats.Stats(prof)
    total = sum(v[2] for v in st.stats.values())  # type: ignore[attr-defined]
    items = sorted(st.stats.items(), key=lambda kv: -kv[1][2])  # type: ignore[attr-defined]

    def where(file: str, line: int, func: str) -> str:
        short = file.replace(str(REPO) + "/", "") if file.startswith(str(REPO)) else Path(file).name
        return f"{short}:{line}({func})" if line else func

    runs = max(number, 3)
    print(
        f"\n### cProfile: {name} / {impl.name} ({runs} calls, {total:.3f} s profiled; "
        "cProfile inflates Python-call-heavy code)\n"
    )
    print("Own time (tottime), top 15:\n")
    print("| function | ncalls | tottime s | % of total |")
    print("|---|---:|---:|---:|")
    for (file, line, func), (_cc, nc, tt, _ct, _callers) in items[:15]:
        print(f"| {where(file, line, func)} | {nc} | {tt:.4f} | {100 * tt / total:.1f} |")
    print("\nmetapool functions by cumulative time (callees included), top 15:\n")
    print("| function | ncalls | cumtime s | % of total |")
    print("|---|---:|---:|---:|")
    ours = [
        kv
        for kv in st.stats.items()  # type: ignore[attr-defined]
        if kv[0][0].startswith(str(REPO / "metapool"))
    ]
    for (file, line, func), (_cc, nc, _tt, ct, _callers) in sorted(ours, key=lambda kv: -kv[1][3])[
        :15
    ]:
        print(f"| {where(file, line, func)} | {nc} | {ct:.4f} | {100 * ct / total:.1f} |")
    print()

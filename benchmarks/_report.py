"""The markdown report of benchmarks/run.py: header, table and targets."""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path

import numpy as np
import peers
from _timing import Config, Row

import metapool

HERE = Path(__file__).resolve().parent
REPO = HERE.parent


def _fmt_time(t: float | None) -> str:
    if t is None:
        return "—"
    if t < 1e-3:
        return f"{t * 1e6:.1f} µs"
    if t < 1:
        return f"{t * 1e3:.1f} ms"
    return f"{t:.2f} s"


def _fmt_peak(row: Row) -> str:
    if row.peak is None:
        return "—"
    mib = row.peak / 2**20
    text = f"{mib:.2f}" if mib < 10 else f"{mib:.0f}"
    if row.input_bytes:
        text += f" ({row.peak / row.input_bytes:.1f}×)"
    return text


def table(rows: list[Row]) -> str:
    lines = [
        "| workload | implementation | median (min) | ratio to metapool "
        "| peak extra MiB (× input array) | agreement with metapool |",
        "|---|---|---:|---:|---:|---|",
    ]
    last = None
    for r in rows:
        wl = r.workload if r.workload != last else ""
        last = r.workload
        ratio = (
            "—"
            if r.ratio is None
            else (
                "1"
                if r.key.startswith(("pool_flat", "analyse", "pool_one"))
                and abs(r.ratio - 1) < 1e-12
                else f"{r.ratio:.2f}×"
            )
        )
        lines.append(
            f"| {wl} | {r.impl} | {_fmt_time(r.median)}"
            + (f" (min {_fmt_time(r.spread[0])})" if r.spread else "")
            + f" | {ratio} | {_fmt_peak(r)} "
            f"| {r.agreement} |"
        )
    return "\n".join(lines)


def _find(rows: list[Row], workload_prefix: str, key: str) -> Row | None:
    for r in rows:
        if r.workload.startswith(workload_prefix) and r.key.split(";")[0] == key:
            return r
    return None


def _ratio(a: Row, b: Row) -> tuple[float, float]:
    """a/b by medians and by minima (the minimum is less sensitive to load from other processes)."""
    assert a.median and b.median and a.spread and b.spread
    return a.median / b.median, a.spread[0] / b.spread[0]


def targets(rows: list[Row], big: str, reml_label: str) -> str:
    out = ["| target | measured (median; min in brackets) | met? (by medians) |", "|---|---|---|"]

    def add(target: str, measured: str, met: bool | None) -> None:
        out.append(
            f"| {target} | {measured} | {'n/a' if met is None else ('yes' if met else '**no**')} |"
        )

    def timed(r: Row | None) -> bool:
        return r is not None and r.median is not None

    for key, what in (("analyse_fixed", "MH OR fixed"), ("analyse_random", "MH OR random")):
        r = _find(rows, "latency: `analyse`", key)
        if r and r.median is not None and r.spread:
            add(
                f"one `analyse` of 10 studies ({what}) ≤ 100 µs median",
                f"{_fmt_time(r.median)} ({_fmt_time(r.spread[0])})",
                r.median <= 100e-6,
            )
    mp, sm = _find(rows, "latency: `pool`", "pool_one"), _find(rows, "latency: `pool`", "sm_one")
    if mp and sm and timed(mp) and timed(sm):
        r, rmin = _ratio(sm, mp)
        add(
            "`pool` on one group of 10 faster than statsmodels `combine_effects`",
            f"{_fmt_time(mp.median)} vs {_fmt_time(sm.median)}: statsmodels/metapool = "
            f"{r:.2f}× ({rmin:.2f}×)"
            + ("; within ±5%: a tie, not a clear win" if abs(r - 1) < 0.05 else ""),
            r > 1,
        )
    wl = f"DL, {big} analyses"
    rf = _find(rows, wl, "ref")
    for key, layout in (("pool_flat", "flat, sorted int groups"), ("pool_2d", "2-D input")):
        mp = _find(rows, wl, key)
        if mp and rf and timed(mp) and timed(rf):
            r, rmin = _ratio(mp, rf)
            add(
                f"DL on {big} × 10 ({layout}): metapool within 1.5× of the numpy reference",
                f"metapool/reference = {r:.2f}× ({rmin:.2f}×)",
                r <= 1.5,
            )
    for r in rows:
        if r.key.split(";")[0] in ("pool_flat", "pool_2d") and r.peak is not None and r.input_bytes:
            add(
                "peak extra memory of `pool` ≤ 10 input-sized float64 arrays "
                f"({r.workload}, {r.impl.split(' (')[1].rstrip(')')})",
                f"{r.peak / r.input_bytes:.1f}×",
                r.peak <= 10 * r.input_bytes,
            )
    wl = f"REML, {reml_label} analyses"
    mp, py = _find(rows, wl, "pool_flat"), _find(rows, wl, "pymare")
    if mp and py and timed(mp) and timed(py):
        r, rmin = _ratio(py, mp)
        add(
            f"REML on {reml_label} × 10: metapool ≥ 2× faster than PyMARE",
            f"PyMARE/metapool = {r:.2f}× ({rmin:.2f}×)",
            r >= 2,
        )
    if mp and ";" in mp.key:
        fields = dict(kv.split("=") for kv in mp.key.split(";")[1:])
        conv, m = int(fields["converged"]), int(fields["m"])
        add(f"REML on {reml_label}: every group converges", f"{conv:,} of {m:,}", conv == m)
    if py and py.median is not None:
        add(
            f"REML on {reml_label}: no group below PyMARE's restricted likelihood",
            py.agreement.lstrip("✓✗ "),
            py.ok,
        )
    return "\n".join(out)


def cmd_output(*args: str) -> str:
    try:
        return subprocess.run(
            args, capture_output=True, text=True, check=False, timeout=10
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def header(cfg: Config, argv: list[str], load: str, started: str) -> str:
    import scipy

    cpu = next(
        (
            ln.split(":", 1)[1].strip()
            for ln in cmd_output("lscpu").splitlines()
            if ln.startswith("Model name")
        ),
        platform.processor(),
    )
    rev = cmd_output("git", "-C", str(REPO), "rev-parse", "--short", "HEAD")
    dirty = cmd_output("git", "-C", str(REPO), "status", "--porcelain", "--", "metapool")
    if dirty:
        import hashlib

        diff = cmd_output("git", "-C", str(REPO), "diff", "HEAD", "--", "metapool")
        digest = hashlib.sha1(diff.encode()).hexdigest()[:10]
        dirty = (
            f", uncommitted changes in metapool/ (diff sha1 {digest})"
            if diff
            else ", untracked files in metapool/"
        )
    try:
        from threadpoolctl import threadpool_info

        blas = (
            "; ".join(
                f"{i.get('internal_api')} {i.get('version')} kernel={i.get('architecture')} "
                f"threads={i.get('num_threads')}"
                for i in threadpool_info()
            )
            or "none loaded"
        )
    except ImportError:
        blas = "threadpoolctl not installed"
    env = {k: os.environ.get(k) for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
    env_text = ", ".join(f"{k}={v}" if v is not None else f"{k} unset" for k, v in env.items())
    lines = [
        f"# metapool benchmarks{' (--quick)' if cfg.quick else ''}",
        "",
        f"- date: {started} (start of the run)",
        f"- command: `python {' '.join(['benchmarks/run.py', *argv])}`",
        f"- machine: {platform.machine()}, {os.cpu_count()} logical CPUs "
        f"({cmd_output('nproc')} usable), {cpu}",
        f"- python {platform.python_version()}, numpy {np.__version__}, scipy {scipy.__version__}, "
        f"metapool {metapool.__version__} (git {rev}{dirty}), "
        f"statsmodels {peers.version('statsmodels') or 'not installed'}, "
        f"PyMARE {peers.version('PyMARE') or 'not installed'}",
        f"- BLAS (threadpoolctl): {blas}; {env_text}",
        f"- load average before the run: {load}",
        f"- timing: median of {cfg.repeat} samples, each ≥ {cfg.min_time:g} s (auto-ranged), "
        "taken in interleaved rounds across a workload's implementations, warm-up excluded, "
        "gc off; memory: tracemalloc peak during one more call, above the "
        "baseline before it (result included)",
    ]
    if os.getloadavg()[0] > 0.5 or float(load.split()[0]) > 0.5:
        lines.append(
            "- **note**: the machine was not idle (1-minute load average > 0.5): other processes "
            "share the cores, so absolute times are noisy; ratios within one workload are measured "
            "back to back and are more robust"
        )
    if any(v is not None for v in env.values()):
        lines.append(
            "- **warning**: OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE are set, which slows a current "
            "OpenBLAS; benchmark with "
            "`env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/run.py`"
        )
    return "\n".join(lines)

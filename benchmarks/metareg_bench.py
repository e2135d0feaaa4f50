"""Meta-regression benchmarks: metapool.metareg against PyMARE and metafor's permutest.

    python benchmarks/metareg_bench.py                  # all three workloads
    python benchmarks/metareg_bench.py --groups 20000   # a smaller REML batch
    python benchmarks/metareg_bench.py --only perm      # one workload: reml, ragged, perm

1. REML, 10^5 meta-regressions of k = 10 studies on two moderators, one shared
   design (PyMARE's ``VarianceBasedLikelihoodEstimator(method="REML")`` needs
   that): both in the same run, best of ``--repeat`` timings; every group's
   restricted log-likelihood at both τ² (and on a grid of 400 τ² values for the
   first 2,000 groups) shows which one found the global maximum.
2. A ragged batch (k 5..40, a design of its own per group): metapool in one
   call; PyMARE needs one call per group (one shared X per call), timed on 200
   groups and extrapolated.
3. A 1,000-permutation test of one meta-regression (dat.bcg-like, REML):
   metapool's batch against ``metafor::permutest`` run by ``Rscript`` (when
   installed) on the same data.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from typing import Any

import numpy as np

import metapool


def best_of(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    """Shortest wall time of ``repeat`` calls, and the last result."""
    best, out = np.inf, None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def reml_loglik(y: np.ndarray, v: np.ndarray, x: np.ndarray, tau2: np.ndarray) -> np.ndarray:
    """Restricted log-likelihood (up to a constant) per group: y, v (g, k); x (g, k, p)."""
    w = 1.0 / (v + tau2[:, None])
    xtwx = np.einsum("gki,gk,gkj->gij", x, w, x)
    beta = np.linalg.solve(xtwx, np.einsum("gki,gk,gk->gi", x, w, y)[..., None])[..., 0]
    r = y - np.einsum("gki,gi->gk", x, beta)
    logdet = np.linalg.slogdet(xtwx)[1]
    return -0.5 * (np.log(v + tau2[:, None]).sum(1) + logdet + (w * r * r).sum(1))


def bench_reml(groups: int, repeat: int) -> None:
    from pymare.estimators import VarianceBasedLikelihoodEstimator

    k, rng = 10, np.random.default_rng(2024)
    design = np.column_stack([np.ones(k), rng.normal(size=k), rng.uniform(0, 10, size=k)])
    v = rng.uniform(0.01, 0.3, size=(groups, k))
    y = design @ np.array([0.1, 0.3, -0.05]) + rng.normal(size=(groups, k)) * np.sqrt(
        v + rng.uniform(0, 0.2, size=(groups, 1))
    )
    labels = np.repeat(np.arange(groups), k)
    mods = {"x1": np.tile(design[:, 1], groups), "x2": np.tile(design[:, 2], groups)}

    def ours() -> Any:
        return metapool.metareg(y.ravel(), v.ravel(), mods, groups=labels, tau2="REML")

    def pymare() -> Any:
        est = VarianceBasedLikelihoodEstimator(method="REML", small_sample_correction="wald")
        return est.fit(y.T, v.T, design).params_

    t_ours, res = best_of(ours, repeat)
    t_pymare, par = best_of(pymare, repeat)
    tau2_p = np.asarray(par["tau2"]).reshape(-1)
    xg = np.broadcast_to(design, (groups, k, 3))
    ll_ours = reml_loglik(y, v, xg, res.tau2)
    ll_pymare = reml_loglik(y, v, xg, tau2_p)
    tol = 1e-9 * np.maximum(1.0, np.abs(ll_ours))
    worse = ll_ours < ll_pymare - tol
    better = ll_ours > ll_pymare + tol
    # a grid of τ² for a subset: no grid point beats the reported maximum
    sub = min(groups, 2000)
    grid = np.concatenate(([0.0], np.geomspace(1e-5, 10.0, 399)))
    ll_grid = np.stack(
        [reml_loglik(y[:sub], v[:sub], xg[:sub], np.full(sub, t)) for t in grid], axis=1
    )
    beaten = ll_grid.max(axis=1) > ll_ours[:sub] + 1e-9 * np.abs(ll_ours[:sub])
    coef_p = np.asarray(par["fe_params"]).T
    agree = np.abs(res.coef - coef_p)[~(worse | better)].max()
    print(f"## REML, {groups} meta-regressions, k = {k}, two moderators (shared design)")
    print(f"metapool.metareg: {t_ours:.3f} s; PyMARE: {t_pymare:.3f} s")
    print(f"speed-up: {t_pymare / t_ours:.2f}x (best of {repeat})")
    print(
        f"log-likelihood: metapool lower than PyMARE in {int(worse.sum())} groups, "
        f"higher in {int(better.sum())} (max gain {np.max(ll_ours - ll_pymare):.3g}); "
        f"grid beats metapool in {int(beaten.sum())} of {sub} groups; "
        f"converged {int(res.converged.sum())}/{groups}"
    )
    print(f"max |coef difference| where both reach the same maximum: {agree:.2e}")


def bench_ragged(groups: int, repeat: int) -> None:
    from pymare.estimators import VarianceBasedLikelihoodEstimator

    rng = np.random.default_rng(7)
    k = rng.integers(5, 41, size=groups)
    n = int(k.sum())
    labels = np.repeat(np.arange(groups), k)
    x1, x2 = rng.normal(size=n), rng.uniform(0, 10, size=n)
    v = rng.uniform(0.01, 0.3, size=n)
    y = 0.1 + 0.3 * x1 - 0.05 * x2 + rng.normal(size=n) * np.sqrt(v + 0.1)
    mods = {"x1": x1, "x2": x2}
    t_ours, res = best_of(lambda: metapool.metareg(y, v, mods, groups=labels, tau2="REML"), repeat)
    starts = np.concatenate(([0], np.cumsum(k)[:-1]))
    few = min(200, groups)

    def pymare_loop() -> None:
        for g in range(few):
            s = slice(starts[g], starts[g] + k[g])
            X = np.column_stack([np.ones(k[g]), x1[s], x2[s]])
            est = VarianceBasedLikelihoodEstimator(method="REML", small_sample_correction="wald")
            est.fit(y[s], v[s], X)

    t_loop, _ = best_of(pymare_loop, 1)
    t_pymare = t_loop / few * groups
    print(f"\n## ragged REML, {groups} meta-regressions, k 5..40 ({n} studies), own designs")
    print(
        f"metapool.metareg, one call: {t_ours:.3f} s ({n / t_ours / 1e6:.2f}M studies/s, "
        f"{int(res.estimable.sum())} estimable, {int(res.converged.sum())} converged)"
    )
    print(
        f"PyMARE, one call per group: {t_loop:.2f} s for {few} groups -> "
        f"{t_pymare:.1f} s for {groups} (extrapolated); ratio {t_pymare / t_ours:.0f}x"
    )


R_PERMUTEST = """
suppressPackageStartupMessages(library(metafor))
d <- jsonlite::fromJSON("{path}")
res <- rma(d$yi, d$vi, mods = cbind(d$x1, d$x2), method = "REML")
t0 <- proc.time()[["elapsed"]]
pt <- permutest(res, iter = {iter}, progbar = FALSE, seed = 1)
cat(jsonlite::toJSON(list(seconds = proc.time()[["elapsed"]] - t0, pval = pt$pval,
                          QMp = pt$QMp), digits = NA))
"""


def bench_permutations(iterations: int, repeat: int) -> None:
    rng = np.random.default_rng(13)
    k = 13
    x1, x2 = rng.uniform(10, 55, size=k), rng.integers(1948, 1981, size=k).astype(float)
    v = rng.uniform(0.005, 0.4, size=k)
    y = -0.02 * x1 + rng.normal(size=k) * np.sqrt(v + 0.05)
    mods = {"x1": x1, "x2": x2}
    t_ours, res = best_of(
        lambda: metapool.metareg(y, v, mods, tau2="REML", permutations=iterations, seed=1), repeat
    )
    assert res.permutation_p is not None
    print(f"\n## permutation test, k = {k}, two moderators, REML, {iterations} permutations")
    print(
        f"metapool.metareg(permutations={iterations}): {t_ours:.3f} s; "
        f"P = {np.round(res.permutation_p[0], 3).tolist()}, "
        f"omnibus {res.permutation_qm_p[0]:.3f}"  # type: ignore[index]
    )
    if shutil.which("Rscript") is None:
        print("metafor permutest: Rscript not found, not timed")
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = f"{tmp}/data.json"
        with open(path, "w", encoding="utf-8") as fh:
            json.dump(
                {"yi": y.tolist(), "vi": v.tolist(), "x1": x1.tolist(), "x2": x2.tolist()}, fh
            )
        script = R_PERMUTEST.replace("{path}", path).replace("{iter}", str(iterations))
        out = subprocess.run(
            ["Rscript", "-e", script], capture_output=True, text=True, check=True
        ).stdout
    r = json.loads(out)
    seconds = float(np.atleast_1d(r["seconds"])[0])
    print(
        f"metafor permutest(iter={iterations}): {seconds:.2f} s; P = "
        f"{np.round(r['pval'], 3).tolist()}, omnibus {float(np.atleast_1d(r['QMp'])[0]):.3f}"
    )
    print(f"speed-up: {seconds / t_ours:.0f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--groups", type=int, default=100_000)
    parser.add_argument("--ragged", type=int, default=100_000)
    parser.add_argument("--permutations", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--only", default="reml,ragged,perm")
    args = parser.parse_args()
    only = set(args.only.split(","))
    if "reml" in only:
        bench_reml(args.groups, args.repeat)
    if "ragged" in only:
        bench_ragged(args.ragged, args.repeat)
    if "perm" in only:
        bench_permutations(args.permutations, args.repeat)


if __name__ == "__main__":
    main()

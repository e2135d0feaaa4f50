"""Permutation tests (Higgins and Thompson 2004) as one batch of permuted meta-regressions."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy import special

from metapool._typing import FloatArray, IntArray
from metapool.errors import InputError
from metapool.pooling.segments import Segments
from metapool.regression._fit import _fit

#: largest number of distinct permutations an exact permutation test enumerates
EXACT_LIMIT = 1_000_000
#: metafor's permutest compares statistics with this absolute tolerance (sqrt(eps))
PERM_TOL = math.sqrt(np.finfo(float).eps)
#: studies per batch of permuted meta-regressions
PERM_BLOCK = 2_000_000


def _permutation_test(
    y: FloatArray,
    v: FloatArray,
    x: FloatArray,
    seg: Segments,
    fit: dict[str, Any],
    permutations: int | str,
    seed: int | np.random.Generator | None,
    *,
    random: bool,
    method: str,
    test: str,
    basis: FloatArray | None,
) -> dict[str, Any]:
    """P-values from refitting with the moderators' rows permuted within each group.

    As metafor's ``permutest``: a statistic counts when at least the observed
    one (|z| or |t| per coefficient, QM for the omnibus test) less sqrt(eps);
    random permutations include the observed order once.
    """
    exact_count = _distinct_permutations(x, seg)
    if permutations == "exact":
        exact = True
        if exact_count.max() > EXACT_LIMIT:
            raise InputError(
                f"permutations='exact' needs {int(exact_count.max())} permutations, more than "
                f"{EXACT_LIMIT}; ask for a number of random permutations instead"
            )
    elif isinstance(permutations, (int, np.integer)) and not isinstance(permutations, bool):
        if permutations < 2:
            raise InputError(f"permutations must be at least 2, got {permutations}")
        # as permutest: all distinct orders when they are no more than asked for
        exact = seg.n == 1 and bool(exact_count[0] <= permutations)
    else:
        raise InputError(f"permutations must be a number or 'exact', got {permutations!r}")
    if seg.n != 1 and exact:
        raise InputError("exact permutation tests are for one meta-regression at a time")
    if exact:
        all_rows = _exact_rows(x)
        n_perm = all_rows.shape[0]
    else:
        rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        n_perm = int(permutations)
    hits = np.zeros(fit["z"].shape)
    hits_qm = np.zeros(seg.n)
    valid = np.zeros(fit["z"].shape)
    valid_qm = np.zeros(seg.n)
    # blocks of permutations keep the batch to about PERM_BLOCK studies at a time
    block = max(1, PERM_BLOCK // max(y.size, 1))
    for first in range(0, n_perm, block):
        count = min(block, n_perm - first)
        if exact:
            rows = all_rows[first : first + count]
        else:
            # random keys sorted within each group give every group its own order
            keys = rng.random((count, y.size)) + seg.codes
            rows = np.argsort(keys, axis=1, kind="stable")
            if first == 0:  # the observed order counts as one permutation
                rows[0] = np.arange(y.size)
        # permutation r of group g is virtual group r·n + g: the studies repeat in blocks
        res = _fit(
            np.tile(y, count),
            np.tile(v, count),
            x[rows.reshape(-1)],
            Segments.of_sizes(np.tile(seg.counts, count)),
            random=random,
            method=method,
            test=test,
            level=0.95,
            basis=basis,
            r2=False,
        )
        z = res["z"].reshape(count, seg.n, -1)
        qm = res["qm"].reshape(count, seg.n)
        if first == 0 and not exact:  # the observed statistics as they were reported
            z[0], qm[0] = fit["z"], fit["qm"]
        with np.errstate(invalid="ignore"):
            hits += (np.abs(z) >= np.abs(fit["z"]) - PERM_TOL).sum(axis=0)
            hits_qm += (qm >= fit["qm"] - PERM_TOL).sum(axis=0)
        valid += (~np.isnan(z)).sum(axis=0)
        valid_qm += (~np.isnan(qm)).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = np.where(fit["estimable"][:, None], np.minimum(hits / valid, 1.0), np.nan)
        p_qm = np.where(fit["estimable"], hits_qm / valid_qm, np.nan)
    return {"permutation_p": p, "permutation_qm_p": p_qm, "permutations": n_perm, "exact": exact}


def _row_classes(x: FloatArray) -> IntArray:
    """Equal moderator rows share a class: permuting them changes nothing."""
    _, classes = np.unique(x, axis=0, return_inverse=True)
    return classes.reshape(-1)


def _distinct_permutations(x: FloatArray, seg: Segments) -> FloatArray:
    """Number of distinct orders of each group's moderator rows (a multinomial)."""
    classes = _row_classes(x)
    # counts of each (group, class) pair
    pair = seg.codes * (classes.max() + 1) + classes
    _, sizes = np.unique(pair, return_counts=True)
    owner = np.unique(pair) // (classes.max() + 1)
    log_count = special.gammaln(seg.counts + 1.0)
    np.subtract.at(log_count, owner, special.gammaln(sizes + 1.0))
    count: FloatArray = np.round(np.exp(log_count))
    return count


def _exact_rows(x: FloatArray) -> IntArray:
    """Every distinct permutation of the rows of one group's design, identity first."""
    classes = _row_classes(x)
    k = classes.size
    first_row = np.zeros(classes.max() + 1, dtype=np.intp)
    first_row[classes[::-1]] = np.arange(k)[::-1]  # a representative row per class
    # distinct arrangements of the class multiset, built position by position
    sequences = np.zeros((1, 0), dtype=np.intp)
    left = np.bincount(classes)[None, :]
    for _ in range(k):
        parts, rests = [], []
        for c in range(left.shape[1]):
            has = left[:, c] > 0
            if has.any():
                parts.append(np.column_stack([sequences[has], np.full(has.sum(), c)]))
                rest = left[has].copy()
                rest[:, c] -= 1
                rests.append(rest)
        sequences, left = np.vstack(parts), np.vstack(rests)
    rows = first_row[sequences]
    # the observed arrangement first (as the reference statistic), then the others
    observed = first_row[classes]
    is_observed = (rows == observed).all(axis=1)
    return np.vstack([observed[None, :], rows[~is_observed]]) if is_observed.any() else rows

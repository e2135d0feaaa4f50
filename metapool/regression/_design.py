"""Design matrices: moderators by name, dummy-coded factors, models without intercept."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from metapool._typing import FloatArray
from metapool.errors import InputError


def design_matrix(
    moderators: Any, n: int, *, intercept: bool = True
) -> tuple[tuple[str, ...], FloatArray]:
    """Moderator names and the (n, m) design without its intercept column.

    ``moderators`` maps names to per-study values, or is a data frame, an
    (n × m) array (names ``x1``..``xm``) or a 1-D array (``x1``). Numeric values are used as
    they are; strings (and booleans) are categorical: one 0/1 column per level
    but the first in sorted order (the reference), named ``"name=level"``.
    Without an intercept the first categorical moderator keeps every level
    (as R's model formulae ``~ factor - 1``).

    Examples
    --------
    >>> names, x = design_matrix({"dose": [1, 2, 4], "arm": ["b", "a", "b"]}, 3)
    >>> names
    ('dose', 'arm=b')
    >>> x.tolist()
    [[1.0, 1.0], [2.0, 0.0], [4.0, 1.0]]
    """
    if isinstance(moderators, Mapping):
        items = list(moderators.items())
    elif hasattr(moderators, "columns"):  # a data frame: its columns by name
        items = [(str(c), np.asarray(moderators[c])) for c in moderators.columns]
    else:
        arr = np.asarray(moderators)
        if arr.ndim == 1:
            arr = arr[:, None]
        if arr.ndim != 2:
            raise InputError(f"moderators must be a mapping or a 1-D/2-D array, got {arr.ndim}-D")
        items = [(f"x{j + 1}", arr[:, j]) for j in range(arr.shape[1])]
    if not items:
        raise InputError("moderators is empty: a meta-regression needs at least one")
    names: list[str] = []
    columns: list[FloatArray] = []
    for name, values in items:
        col = np.asarray(values)
        if col.ndim != 1 or col.size != n:
            raise InputError(
                f"moderator {name!r} has shape {col.shape}, expected {n} values (one per study)"
            )
        if col.dtype.kind in "iuf":
            num = col.astype(np.float64)
            bad = ~np.isfinite(num)
            if bad.any():
                i = int(np.flatnonzero(bad)[0])
                raise InputError(f"moderator {name!r}, study {i}: value {num[i]} is not finite")
            names.append(str(name))
            columns.append(num)
            continue
        if col.dtype.kind not in "USbO":
            raise InputError(f"moderator {name!r}: cannot use values of dtype {col.dtype}")
        missing = [i for i, v in enumerate(col.tolist()) if v is None or v != v]
        if missing:
            raise InputError(f"moderator {name!r}, study {missing[0]}: value is missing")
        try:
            levels, codes = np.unique(col, return_inverse=True)
        except TypeError as exc:
            raise InputError(f"moderator {name!r}: levels must be sortable ({exc})") from None
        first = 0 if not intercept and not any("=" in nm for nm in names) else 1
        for j in range(first, levels.size):
            names.append(f"{name}={levels[j]}")
            columns.append((codes.reshape(-1) == j).astype(np.float64))
    return tuple(names), np.column_stack(columns)


def _through_intercept(x: FloatArray) -> tuple[FloatArray, FloatArray]:
    """A model without intercept as one with: columns Z = [1, X without column j] and T.

    Where X c = 1 with c_j ≠ 0, X and Z span the same space, so the fit, τ²
    and every test are the same; the coefficients are β = Tγ of Z's γ.
    """
    c = np.linalg.lstsq(x, np.ones(x.shape[0]), rcond=None)[0]
    if np.abs(x @ c - 1).max() > 1e-9:
        raise InputError(
            "intercept=False needs moderators whose columns add up to a constant, such as "
            "every level of a factor; a regression through the origin is not supported"
        )
    j = int(np.argmax(np.abs(c)))
    rest = [i for i in range(x.shape[1]) if i != j]
    # X_j = (1 - Σ_{l≠j} c_l X_l)/c_j, so β_j = c_j γ₀ and β_l = γ_l + c_l γ₀
    basis = np.zeros((x.shape[1], x.shape[1]))
    basis[:, 0] = c
    basis[rest, np.arange(1, x.shape[1])] = 1.0
    return x[:, rest], basis

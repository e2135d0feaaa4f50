"""Shared test helpers: reference fixtures and tolerant comparison of numbers.

Tests import these with ``from _helpers import ...`` (``tests/`` is on the path, as pytest
puts it there); ``conftest.py`` holds only pytest configuration. ``revman_files.py`` builds
synthetic RevMan files and finds the real ones (the reader benchmarks use it too).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

REFERENCE = Path(__file__).parent / "reference"


def load_reference(name: str) -> dict[str, Any]:
    """A JSON fixture written by the R script beside it in ``tests/reference/``."""
    path = REFERENCE / name
    if not path.exists():  # pragma: no cover - fixtures are committed
        pytest.fail(f"missing reference fixture {path}; regenerate with the R script beside it")
    with path.open(encoding="utf-8") as fh:
        return json.load(fh)  # type: ignore[no-any-return]


def close(actual: float, expected: float | None, *, rtol: float, atol: float = 0.0) -> bool:
    """Equal within tolerance; None (R's NA) matches NaN."""
    if expected is None:
        return math.isnan(actual)
    if math.isinf(expected):
        return actual == expected
    return math.isclose(actual, expected, rel_tol=rtol, abs_tol=atol)


def assert_close(
    name: str, actual: float, expected: float | None, *, rtol: float, atol: float = 0.0
) -> None:
    assert close(actual, expected, rtol=rtol, atol=atol), f"{name}: {actual!r} != {expected!r}"


def close_to_revman(
    ours: float, revman: float, decimals: int | None, *, p_value: bool = False
) -> bool:
    """A value against one RevMan stored: 1e-8 relative (full doubles), half a unit in the
    last stored decimal (rounded files), 1e-6 absolute for P-values."""
    half = 0.0 if decimals is None else 0.5 * 10.0**-decimals
    if p_value:
        return abs(ours - revman) <= 1e-6 + half
    if decimals is None:
        return math.isclose(ours, revman, rel_tol=1e-8, abs_tol=1e-14)
    return abs(ours - revman) <= half + 1e-11 * abs(revman)


def drawing() -> Any:
    """matplotlib with the headless backend; the calling test is skipped without the plot extra."""
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    return matplotlib

"""Shared test helpers: reference fixtures and tolerant comparison of numbers and None/NaN."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

REFERENCE = Path(__file__).parent / "reference"


def load_reference(name: str) -> dict[str, Any]:
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


# CI explores the same examples on every run (a fresh machine has no example database);
# locally hypothesis keeps searching for new ones.
settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
settings.load_profile("ci" if os.environ.get("CI") else "default")

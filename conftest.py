"""pytest configuration for the whole suite (tests, doctests, docs): the optional extras.

Without an optional extra (matplotlib for plots, pandas for DataFrames, Dask), what needs it
is skipped, not failed, so ``pip install numpy scipy attrs pytest hypothesis`` runs the suite:

- test modules and tests call ``pytest.importorskip`` themselves;
- modules that import their extra on import are not collected for doctests without it
  (``metapool.dask``, ``docs/make_figures.py``);
- a doctest (of a docstring or a ``docs/*.md`` page) that stops on an ``ImportError`` caused
  by a missing extra is reported as skipped.

With every extra installed nothing here skips anything, and every ``ImportError`` fails.
"""

from __future__ import annotations

import doctest
import importlib.util
from collections.abc import Generator
from pathlib import Path

import pytest
from _pytest.doctest import DoctestItem

ROOT = Path(__file__).parent
EXTRAS = ("matplotlib", "pandas", "dask", "distributed")
MISSING = frozenset(name for name in EXTRAS if importlib.util.find_spec(name) is None)


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    if collection_path.parent == ROOT / "metapool" and collection_path.stem == "dask":
        return bool(MISSING & {"dask", "distributed", "pandas"}) or None
    if collection_path == ROOT / "docs" / "make_figures.py":
        return "matplotlib" in MISSING or None
    return None


def _missing_extra(exc: BaseException | None) -> str | None:
    """The missing extra behind ``exc`` (an ImportError, or one it was raised from)."""
    while exc is not None:
        if isinstance(exc, ImportError) and (exc.name or "").partition(".")[0] in MISSING:
            return exc.name
        exc = exc.__cause__ or exc.__context__
    return None


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    try:
        return (yield)
    except doctest.UnexpectedException as failure:
        name = _missing_extra(failure.exc_info[1]) if isinstance(item, DoctestItem) else None
        if name is None:
            raise
        pytest.skip(f"needs the optional {name}")

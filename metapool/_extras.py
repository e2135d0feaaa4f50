"""Optional dependencies, imported when first used.

A missing one raises :class:`ImportError` with the command that installs its
extra, so every feature that needs it fails with the same advice.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from types import ModuleType


@contextlib.contextmanager
def extra(name: str, needed_by: str) -> Iterator[None]:
    """Turn an ImportError inside the block into the advice to install ``metapool[name]``."""
    try:
        yield
    except ImportError as exc:
        raise ImportError(
            f"{needed_by}: pip install 'metapool[{name}]' "
            f"(in a clone of metapool: pip install '.[{name}]')"
        ) from exc


def pandas() -> ModuleType:
    """pandas, for the ``to_dataframe`` methods and the DataFrame readers."""
    with extra("pandas", "DataFrames need pandas"):
        import pandas
    return pandas

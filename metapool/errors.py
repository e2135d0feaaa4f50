"""The one exception type metapool raises for bad input."""

from __future__ import annotations

__all__ = ["InputError"]


class InputError(ValueError):
    """Invalid study data or analysis options.

    The message names the study (or row) and the field, or lists the allowed
    choices for an option. It subclasses :class:`ValueError`, so ``except
    ValueError`` also catches it.
    """

"""The exception metapool raises for bad input, and the warning it gives."""

from __future__ import annotations

__all__ = ["InputError", "MetapoolWarning"]


class InputError(ValueError):
    """Invalid study data or analysis options.

    The message names the study (or row) and the field, or lists the allowed
    choices for an option. It subclasses :class:`ValueError`, so ``except
    ValueError`` also catches it.
    """


class MetapoolWarning(UserWarning):
    """A result that is computed but deserves attention.

    For example an iterative τ² estimator that did not converge in some
    analyses, or a fallback rule that was applied. Filter it with
    ``warnings.simplefilter("ignore", metapool.MetapoolWarning)``.
    """

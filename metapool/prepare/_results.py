"""What the conversions return: values that unpack, and a note of how they were obtained."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, TypeAlias

import attrs
import numpy as np
import numpy.typing as npt

from metapool._typing import FloatArray

Floats: TypeAlias = "FloatArray | np.float64"
"""An array, or a numpy scalar when every argument was a scalar."""
Notes: TypeAlias = "str | npt.NDArray[np.str_]"


# --- provenance ------------------------------------------------------------------------------


@attrs.frozen(eq=False)
class _Note:
    """A note template and the per-element values filled into it (made on demand)."""

    template: str
    values: Mapping[str, Any] = attrs.field(factory=dict)

    def text(self, shape: tuple[int, ...]) -> Notes:
        """The note for a result of this shape: a string, or an array of strings."""
        values = {k: np.broadcast_to(v, shape) for k, v in self.values.items()}
        if not shape:
            return self.template.format(**{k: v[()] for k, v in values.items()})
        flat = {k: v.ravel() for k, v in values.items()}
        size = int(np.prod(shape))
        notes = [self.template.format(**{k: v[i] for k, v in flat.items()}) for i in range(size)]
        out: npt.NDArray[np.str_] = np.array(notes, dtype=str).reshape(shape)
        return out


_EXTRA = {"unpack": False}  # a field that is an attribute only


@attrs.frozen(eq=False)
class _Result:
    """Fields unpack in order (not those marked ``_EXTRA``, nor None ones).

    :meth:`describe` says how they were obtained.
    """

    _note: _Note = attrs.field(kw_only=True, repr=False, alias="note", metadata=_EXTRA)

    def __iter__(self) -> Iterator[Floats]:
        values = (getattr(self, f.name) for f in attrs.fields(type(self)) if not f.metadata)
        return (v for v in values if v is not None)

    def describe(self) -> Notes:
        """How the values were obtained: a string, or an array of them for array input.

        The text is what a review's footnote would say, e.g. ``"SD from 95% CI, t
        with 11 df"``.
        """
        return self._note.text(np.shape(next(iter(self))))


@attrs.frozen(eq=False)
class MeanSD(_Result):
    """A mean and an SD estimated from quantiles (:func:`mean_sd_from_quantiles`)."""

    mean: Floats
    sd: Floats


@attrs.frozen(eq=False)
class StandardDeviation(_Result):
    """An SD obtained from other statistics (``sd_from_*``, :func:`sd_change`)."""

    sd: Floats


@attrs.frozen(eq=False)
class Combined(_Result):
    """Several continuous arms as one (:func:`combine_continuous`)."""

    n: Floats
    mean: Floats
    sd: Floats


@attrs.frozen(eq=False)
class CombinedEvents(_Result):
    """Several dichotomous arms as one (:func:`combine_dichotomous`)."""

    events: Floats
    total: Floats


@attrs.frozen(eq=False)
class GenericEstimate(_Result):
    """An estimate and its SE on the analysis scale (:func:`generic_from_ci`)."""

    estimate: Floats
    se: Floats


@attrs.frozen(eq=False)
class Correlation(_Result):
    """A baseline-final correlation (:func:`correlation_from`)."""

    correlation: Floats


@attrs.frozen(eq=False)
class Effective(_Result):
    """A cluster trial's effective sample size (:func:`effective_sample_size`).

    Unpacks as ``n`` alone, or ``n, events`` when events were given (``events``
    is None otherwise). ``design_effect`` is 1 + (M − 1)·ICC.
    """

    n: Floats
    events: Floats | None
    design_effect: Floats = attrs.field(metadata=_EXTRA)


@attrs.frozen(eq=False)
class EffectiveEvents(_Result):
    """A cluster trial's effective number of events (:func:`effective_events`).

    Unpacks as ``events`` alone; ``design_effect`` is 1 + (M − 1)·ICC.
    """

    events: Floats
    design_effect: Floats = attrs.field(metadata=_EXTRA)

"""Array aliases shared by the numeric modules, and the option strings' Literal types.

The option strings are matched case-insensitively (and measures by RevMan's
names too, see :func:`metapool.vocabulary.resolve`); the aliases spell the
canonical ones, which is what a type checker offers and accepts.
"""

from __future__ import annotations

from typing import Literal, TypeAlias

import numpy as np
import numpy.typing as npt

FloatArray: TypeAlias = npt.NDArray[np.float64]
IntArray: TypeAlias = npt.NDArray[np.intp]
BoolArray: TypeAlias = npt.NDArray[np.bool_]

#: the analysis model
Model: TypeAlias = Literal["fixed", "random"]
#: τ² estimators (metafor's names)
Tau2Method: TypeAlias = Literal["DL", "REML", "ML", "PM", "EB", "HE", "SJ", "HS"]
#: Hartung-Knapp-Sidik-Jonkman: off, on, or with Knapp and Hartung's ad hoc rule
Hksj: TypeAlias = bool | Literal["adhoc"]
#: I² and H² from Q (RevMan 5.4) or from τ² (metafor, RevMan Web)
I2: TypeAlias = Literal["Q", "tau2"]
#: fixed-effect pooling methods
PoolMethod: TypeAlias = Literal["MH", "IV", "PETO"]
#: effect measures of 2x2 tables
TableMeasure: TypeAlias = Literal["OR", "RR", "RD", "PETO_OR"]
#: effect measures metapool computes (generic data take any label besides)
Measure: TypeAlias = Literal["OR", "RR", "RD", "PETO_OR", "MD", "SMD", "HR"]
#: which pooled rows a RevMan analysis shows
Totals: TypeAlias = Literal["all", "subtotals", "none"]
#: trim-and-fill's estimators of the number of missing studies, and the side they are on
TrimfillEstimator: TypeAlias = Literal["L0", "R0"]
Side: TypeAlias = Literal["left", "right"]
#: what random draws start from: a seed, a generator, or fresh entropy
Seed: TypeAlias = int | np.random.Generator | None

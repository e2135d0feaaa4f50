"""What every task of :mod:`metapool.dask` is shipped with: the column names, the
resolved options, and the conversion of a :class:`~metapool.PoolResult` to a frame."""

from __future__ import annotations

from typing import Any, TypeAlias

import attrs
import numpy as np
import pandas as pd

from metapool._typing import I2, BoolArray, FloatArray, Hksj, Tau2Method
from metapool.batch import pool as pool_in_memory
from metapool.effects import EffectSizes, NotEstimable
from metapool.pooling.engine import PoolResult

# Dask's collections are untyped, and pandas-stubs does not cover the Python
# version mypy checks for (3.10): frames are typed loosely, under these names.
DaskFrame: TypeAlias = Any
Frame: TypeAlias = Any

#: a partition's studies: yi, vi, group labels and (with ``estimable=``) which to pool
Studies: TypeAlias = tuple[FloatArray, FloatArray, Any, "BoolArray | None"]


@attrs.frozen
class Plan:
    """Column names and the group label dtype; shipped with every task."""

    yi: str
    vi: str
    groups: str
    estimable: str | None
    label_dtype: Any

    @property
    def columns(self) -> tuple[str, ...]:
        extra = () if self.estimable is None else (self.estimable,)
        return (self.groups, self.yi, self.vi, *extra)

    def empty(self) -> Studies:
        none = np.empty(0)
        keep = None if self.estimable is None else np.empty(0, dtype=bool)
        return none, none, np.asarray(pd.Series([], dtype=self.label_dtype)), keep

    def studies(self, part: Frame, rows: BoolArray | None = None) -> Studies:
        """``yi``, ``vi``, labels and the estimable flags of a partition's ``rows``."""
        if rows is not None and not rows.all():
            part = part[rows]
        y = part[self.yi].to_numpy(dtype=np.float64, na_value=np.nan)
        v = part[self.vi].to_numpy(dtype=np.float64, na_value=np.nan)
        keep = None if self.estimable is None else part[self.estimable].to_numpy(dtype=bool)
        return y, v, part[self.groups].to_numpy(), keep

    def index(self, labels: Any) -> Frame:
        return pd.Index(labels, dtype=self.label_dtype, name=self.groups)


@attrs.frozen
class Options:
    """The resolved analysis options."""

    random: bool
    tau2: Tau2Method
    ci_level: float
    hksj: Hksj
    prediction: bool
    tau2_ci: bool
    i2: I2

    @property
    def by_sums(self) -> bool:
        """Whether shared groups can be pooled from merged partial sums."""
        # the likelihood and Q-profile estimators need each group's rows at once
        return not self.tau2_ci and (not self.random or self.tau2 in ("DL", "HS", "HE", "SJ"))

    def pool(self, y: FloatArray, v: FloatArray, labels: Any, keep: BoolArray | None) -> PoolResult:
        """:func:`metapool.pool` on whole groups."""
        data: Any = y
        variances: FloatArray | None = v
        if keep is not None:  # metapool.pool leaves non-estimable EffectSizes out of k
            reason = np.where(keep, NotEstimable.ESTIMABLE, NotEstimable.MISSING)
            data, variances = EffectSizes("pool", y, v, reason.astype(np.int8)), None
        return pool_in_memory(
            data,
            variances,
            labels,
            model="random" if self.random else "fixed",
            tau2=self.tau2 if self.random else None,
            ci_level=self.ci_level,
            hksj=self.hksj,
            prediction=self.prediction,
            tau2_ci=self.tau2_ci,
            i2=self.i2,
        )


def result_frame(result: PoolResult, plan: Plan, options: Options) -> Frame:
    names = [f.name for f in attrs.fields(PoolResult) if f.name not in ("weights", "groups")]
    if "p_q" not in names:  # a lazily computed property of PoolResult
        names.insert(names.index("df") + 1, "p_q")
    data = {name: getattr(result, name) for name in names if getattr(result, name) is not None}
    return pd.DataFrame(data, index=plan.index(result.groups))

"""metapool: meta-analysis that reproduces RevMan 5.4, for one or a million analyses.

Pipeline: study records (:mod:`metapool.records`) -> effect sizes
(:mod:`metapool.effects`) -> pooling engine (:mod:`metapool.pooling`) ->
result records (:mod:`metapool.results`); files, plots and diagnostics at the edge.
"""

from __future__ import annotations

from metapool import examples, prepare
from metapool._version import __version__ as __version__
from metapool.analysis import REVMAN_WEB, analyse
from metapool.batch import PoolResult, pool, pool_tables
from metapool.effects import EffectSizes, effect_sizes
from metapool.errors import InputError, MetapoolWarning
from metapool.io import (
    from_dataframe,
    read_datapackage,
    read_review,
    read_revman_csv,
    read_rm5,
)
from metapool.io.risk_of_bias import RiskOfBias
from metapool.records import Continuous, Dichotomous, Generic, OMinusE
from metapool.regression import MetaRegression, metareg
from metapool.results import MetaAnalysis
from metapool.vocabulary import TAU2_METHODS

__all__ = [
    "REVMAN_WEB",
    "TAU2_METHODS",
    "Continuous",
    "Dichotomous",
    "EffectSizes",
    "Generic",
    "InputError",
    "MetaAnalysis",
    "MetaRegression",
    "MetapoolWarning",
    "OMinusE",
    "PoolResult",
    "RiskOfBias",
    "analyse",
    "effect_sizes",
    "examples",
    "from_dataframe",
    "metareg",
    "pool",
    "pool_tables",
    "prepare",
    "read_datapackage",
    "read_review",
    "read_revman_csv",
    "read_rm5",
]

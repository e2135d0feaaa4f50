"""Data preparation: RevMan's calculator and the Cochrane Handbook's conversions.

Trial reports rarely give exactly what a meta-analysis needs. These helpers turn
what was reported into what RevMan enters -- a mean and SD from a median and
quartiles, an SD from a CI or a P value, one arm from several dose arms, an
effective sample size for a cluster trial -- and every result says how it was
obtained (:meth:`describe`), so that the converted value can carry a footnote.

Every function broadcasts its arguments like numpy, checks them (an
:class:`~metapool.InputError` names the function, the argument and the
position), and returns a frozen record that also unpacks in the order of its
fields (``mean, sd = mean_sd_from_quantiles(...)``). Scalars in give numpy
scalars out.

References
----------
.. [1] Higgins JPT, Li T, Deeks JJ (editors). Chapter 6: Choosing effect measures
   and computing estimates of effect. In: Cochrane Handbook for Systematic Reviews
   of Interventions, version 6.4, 2023 (sections 6.3.1, 6.5.2.3, 6.5.2.8, Table 6.5.a).
.. [2] Higgins JPT, Eldridge S, Li T (editors). Chapter 23: Including variants on
   randomized trials. Ibid. (section 23.1.4).
.. [3] Wan X, Wang W, Liu J, Tong T. Estimating the sample mean and standard
   deviation from the sample size, median, range and/or interquartile range.
   BMC Med Res Methodol 2014;14:135.
.. [4] Luo D, Wan X, Liu J, Tong T. Optimally estimating the sample mean from the
   sample size, median, mid-range, and/or mid-quartile range. Stat Methods Med
   Res 2018;27:1785-805.
.. [5] Shi J, Luo D, Weng H, et al. Optimally estimating the sample standard
   deviation from the five-number summary. Res Synth Methods 2020;11:641-54.
"""

from __future__ import annotations

from metapool.prepare._conversions import (
    combine_continuous,
    combine_dichotomous,
    correlation_from,
    effective_events,
    effective_sample_size,
    generic_from_ci,
    sd_change,
    sd_from_ci,
    sd_from_difference,
    sd_from_se,
)
from metapool.prepare._quantiles import (
    mean_sd_from_quantiles,
)
from metapool.prepare._results import (
    Combined,
    CombinedEvents,
    Correlation,
    Effective,
    EffectiveEvents,
    GenericEstimate,
    MeanSD,
    StandardDeviation,
)

__all__ = [
    "Combined",
    "CombinedEvents",
    "Correlation",
    "Effective",
    "EffectiveEvents",
    "GenericEstimate",
    "MeanSD",
    "StandardDeviation",
    "combine_continuous",
    "combine_dichotomous",
    "correlation_from",
    "effective_events",
    "effective_sample_size",
    "generic_from_ci",
    "mean_sd_from_quantiles",
    "sd_change",
    "sd_from_ci",
    "sd_from_difference",
    "sd_from_se",
]

"""Mantel-Haenszel fixed-effect pooling of 2x2 tables, per group."""

from __future__ import annotations

import attrs
import numpy as np

from metapool._typing import FloatArray
from metapool.effects import Cells, corrected_cells
from metapool.pooling.segments import Segments

__all__ = ["FixedEffect", "mantel_haenszel"]


@attrs.frozen
class FixedEffect:
    """A fixed-effect estimate per group (analysis scale) and each study's weight."""

    estimate: FloatArray
    variance: FloatArray
    weights: FloatArray


def mantel_haenszel(measure: str, raw: Cells, seg: Segments) -> FixedEffect:
    """MH pooled log OR, log RR or RD with RevMan's variances, for every group at once.

    ``raw`` holds the estimable studies' cells; RevMan's zero-cell rule is
    applied to them; the RD estimate and the denominator of its variance use
    the raw counts.
    """
    cc = corrected_cells(raw)
    a, b, c, d = cc.a, cc.b, cc.c, cc.d
    n1, n2 = a + b, c + d
    n = n1 + n2
    with np.errstate(divide="ignore", invalid="ignore"):
        if measure == "OR":
            r, s = a * d / n, b * c / n
            p, q = (a + d) / n, (b + c) / n
            sr, ss = seg.sum(r), seg.sum(s)
            estimate = np.log(sr / ss)
            variance = 0.5 * (
                seg.sum(p * r) / sr**2 + seg.sum(p * s + q * r) / (sr * ss) + seg.sum(q * s) / ss**2
            )
            return FixedEffect(estimate, variance, s)
        if measure == "RR":
            r, s = a * n2 / n, c * n1 / n
            sr, ss = seg.sum(r), seg.sum(s)
            estimate = np.log(sr / ss)
            variance = seg.sum((n1 * n2 * (a + c) - a * c * n) / n**2) / (sr * ss)
            return FixedEffect(estimate, variance, s)
        # RD: the estimate from raw counts with raw weights n1 n2 / N; the
        # Greenland-Robins variance takes its numerator terms from the corrected
        # cells and its denominator from those same raw weights (RevMan's stored
        # CIs agree with this to ~1e-16). A group of one study keeps the study's
        # own SE, the corrected cells throughout.
        m1, m2 = raw.n1, raw.n2
        weights = m1 * m2 / (m1 + m2)
        total_weight = seg.sum(weights)
        estimate = seg.sum((raw.a * m2 - raw.c * m1) / (m1 + m2)) / total_weight
        denominator = np.where(seg.counts == 1, seg.sum(n1 * n2 / n), total_weight)
        variance = seg.sum((a * b * n2**3 + c * d * n1**3) / (n1 * n2 * n**2)) / denominator**2
        return FixedEffect(estimate, variance, weights)

"""Summary of findings: a pooled relative effect as absolute effects (GRADE).

For dichotomous outcomes the pooled effect is applied to an assumed control
risk (ACR), as GRADEpro's summary-of-findings tables do:

- risk ratio: risk with intervention = ACR × RR;
- odds ratio and Peto odds ratio: ACR·OR / (1 − ACR + ACR·OR);
- risk difference: ACR + RD;

each applied to the estimate and to both confidence limits. The absolute
difference is the intervention risk minus the control risk; its reciprocal is
the number needed to treat, written in Altman's notation (NNTB, NNTH, and
"NNTB 10 (NNTH 50 to ∞ to NNTB 5)" when the interval includes no effect).

A standardised mean difference has no control risk; it is re-expressed by the
Handbook's rule of thumb (0.2 small, 0.5 moderate, 0.8 large).

References
----------
Schünemann HJ, Vist GE, Higgins JPT, et al. Chapter 15: Interpreting results
and drawing conclusions. In: Higgins JPT, Thomas J, et al. (eds). Cochrane
Handbook for Systematic Reviews of Interventions, version 6.4, 2023
(sections 15.4.4 and 15.5.3.1).

Altman DG. Confidence intervals for the number needed to treat. BMJ
1998;317:1309-1312.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import attrs

from metapool._extras import pandas
from metapool.errors import InputError
from metapool.io.tables import Row, render
from metapool.vocabulary import DataType

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from metapool.results import MetaAnalysis

__all__ = [
    "AbsoluteEffect",
    "AbsoluteEffects",
    "SmdInterpretation",
    "absolute_effects",
    "intervention_risk",
    "nnt_text",
    "smd_magnitude",
]

_MEASURES = ("RR", "OR", "PETO_OR", "RD")
_NAMES = {"RR": "RR", "OR": "OR", "PETO_OR": "Peto OR", "RD": "RD"}


def intervention_risk(measure: str, effect: float, control_risk: float) -> float:
    """The risk with intervention implied by a relative effect and a control risk (0-1).

    A risk ratio times a control risk above 1 would exceed certainty, and a
    risk difference may leave [0, 1]; both are capped to [0, 1], as a risk
    cannot go further.

    Examples
    --------
    >>> intervention_risk("RR", 0.8, 0.2)
    0.16000000000000003
    >>> round(intervention_risk("OR", 0.5, 0.2), 6)   # 0.1 / (0.8 + 0.1)
    0.111111
    >>> intervention_risk("RD", -0.05, 0.2)
    0.15000000000000002
    """
    if measure == "RR":
        risk = control_risk * effect
    elif measure in ("OR", "PETO_OR"):
        odds = control_risk * effect
        risk = odds / (1.0 - control_risk + odds) if math.isfinite(effect) else 1.0
    elif measure == "RD":
        risk = control_risk + effect
    else:
        raise InputError(f"absolute risks need RR, OR, Peto OR or RD, not {measure!r}")
    return min(max(risk, 0.0), 1.0)


def _ceil(x: float) -> str:
    return "∞" if not math.isfinite(x) else f"{math.ceil(x - 1e-9):d}"


def nnt_text(benefit: float, lower: float, upper: float) -> str:
    """Altman's number needed to treat from an absolute benefit and its CI.

    ``benefit`` is the absolute risk reduction of a harmful outcome (control
    risk minus intervention risk; negative: harm). NNTs are rounded up to the
    next whole number (Handbook 15.4.4).

    Examples
    --------
    >>> nnt_text(0.1, 0.05, 0.2)
    'NNTB 10 (5 to 20)'
    >>> nnt_text(0.1, -0.02, 0.2)
    'NNTB 10 (NNTH 50 to ∞ to NNTB 5)'
    >>> nnt_text(-0.04, -0.1, -0.02)
    'NNTH 25 (10 to 50)'
    """
    if not all(math.isfinite(x) for x in (benefit, lower, upper)):
        return ""

    def one(b: float) -> str:
        if b == 0:
            return "∞"
        return f"{'NNTB' if b > 0 else 'NNTH'} {_ceil(1.0 / abs(b))}"

    point = one(benefit)
    if lower < 0 < upper:
        # the interval of the NNT runs through infinity: Altman writes both ends
        return f"{point} ({one(lower)} to ∞ to {one(upper)})"
    near, far = sorted((abs(lower), abs(upper)), reverse=True)
    return f"{point} ({_ceil(1.0 / near) if near else '∞'} to {_ceil(1.0 / far) if far else '∞'})"


def _per_1000(risk: float) -> int:
    """Whole number per 1,000, halves rounded away from zero as GRADEpro does."""
    x = risk * 1000.0
    return math.floor(abs(x) + 0.5 + 1e-9) * (1 if x >= 0 else -1)


def _difference(value: int, unit: str = "per 1,000") -> str:
    if value == 0:
        return "0 fewer" if unit == "" else f"0 fewer {unit}"
    word = "fewer" if value < 0 else "more"
    return f"{abs(value)} {word}" + (f" {unit}" if unit else "")


@attrs.frozen
class AbsoluteEffect:
    """One assumed control risk and what the pooled effect makes of it (risks 0-1).

    ``difference`` is intervention minus control risk; ``nnt`` Altman's text
    (events of the outcome taken as harmful unless the analysis was asked
    with ``desirable=True``).
    """

    label: str
    control_risk: float
    risk: float
    risk_lower: float
    risk_upper: float
    difference: float
    difference_lower: float
    difference_upper: float
    nnt: str

    @property
    def per_1000(self) -> tuple[int, int, int, int]:
        """Control risk, intervention risk and its CI, per 1,000 (whole numbers)."""
        return (
            _per_1000(self.control_risk),
            _per_1000(self.risk),
            _per_1000(self.risk_lower),
            _per_1000(self.risk_upper),
        )

    def cells(self) -> list[str]:
        control, risk, lower, upper = self.per_1000
        diff = [
            _per_1000(x) for x in (self.difference, self.difference_lower, self.difference_upper)
        ]
        return [
            self.label,
            f"{control} per 1,000",
            f"{risk} per 1,000 ({lower} to {upper})",
            f"{_difference(diff[0])} "
            f"(from {_difference(diff[1], '')} to {_difference(diff[2], '')})",
            self.nnt,
        ]


_HEADERS = (
    "Assumed risk",
    "Risk with control",
    "Risk with intervention (95% CI)",
    "Difference (95% CI)",
    "NNT",
)


@attrs.frozen
class AbsoluteEffects:
    """Summary-of-findings rows of a dichotomous result: one per assumed control risk.

    ``str()`` is the table; :meth:`to_table` gives it as CSV, Markdown or HTML,
    :meth:`to_dataframe` as a DataFrame.
    """

    measure: str
    estimate: float
    ci_lower: float
    ci_upper: float
    ci_level: float
    studies: int
    participants: float
    rows: tuple[AbsoluteEffect, ...]

    @property
    def relative(self) -> str:
        """The relative effect as a summary-of-findings table writes it.

        E.g. ``RR 0.91 (95% CI 0.87 to 0.96)``.
        """
        pct = f"{self.ci_level * 100:g}%"
        return (
            f"{_NAMES[self.measure]} {self.estimate:.2f} "
            f"({pct} CI {self.ci_lower:.2f} to {self.ci_upper:.2f})"
        )

    def _table(self) -> tuple[list[str], list[Row]]:
        pct = f"{self.ci_level * 100:g}% CI"
        headers = [h.replace("95% CI", pct) for h in _HEADERS]
        lines: list[Row] = [r.cells() for r in self.rows]
        lines.append(
            f"Relative effect: {self.relative}; {self.studies} studies, "
            f"{self.participants:.0f} participants"
        )
        return headers, lines

    def to_table(self, fmt: str = "text") -> str:
        """The rows as ``"text"``, ``"csv"``, ``"markdown"`` or ``"html"``."""
        return render(*self._table(), fmt)

    def __str__(self) -> str:
        return self.to_table()

    def _repr_html_(self) -> str:
        return self.to_table("html")

    def to_dataframe(self) -> pd.DataFrame:
        """One row per control risk: risks and differences (0-1) and the NNT text."""
        frame: pd.DataFrame = pandas().DataFrame([attrs.asdict(r) for r in self.rows])
        return frame


_THRESHOLDS = ((0.8, "large"), (0.5, "moderate"), (0.2, "small"))


def smd_magnitude(smd: float) -> str:
    """The Handbook's rule of thumb for an SMD's size (Handbook 15.5.3.1).

    Examples
    --------
    >>> [smd_magnitude(x) for x in (0.1, -0.3, 0.5, 1.2)]
    ['less than small', 'small', 'moderate', 'large']
    """
    size = abs(smd)
    return next((name for limit, name in _THRESHOLDS if size >= limit), "less than small")


@attrs.frozen
class SmdInterpretation:
    """A standardised mean difference re-expressed by the rule of thumb.

    ``magnitude`` is the size of the estimate, ``lower_magnitude`` and
    ``upper_magnitude`` those of the confidence limits.
    """

    estimate: float
    ci_lower: float
    ci_upper: float
    ci_level: float
    magnitude: str
    lower_magnitude: str
    upper_magnitude: str

    def __str__(self) -> str:
        pct = f"{self.ci_level * 100:g}%"
        return (
            f"SMD {self.estimate:.2f} ({pct} CI {self.ci_lower:.2f} to {self.ci_upper:.2f}): "
            f"a {self.magnitude} effect (CI from {self.lower_magnitude} to "
            f"{self.upper_magnitude}); rule of thumb: 0.2 small, 0.5 moderate, 0.8 large"
        )


def _control_risks(control_risk: Any) -> list[tuple[str, float]]:
    if isinstance(control_risk, Mapping):
        pairs = [(str(k), v) for k, v in control_risk.items()]
    elif isinstance(control_risk, Sequence) and not isinstance(control_risk, str):
        pairs = [("", v) for v in control_risk]
    else:
        pairs = [("", control_risk)]
    if not pairs:
        raise InputError("control_risk: give at least one assumed control risk")
    out = []
    for i, (label, value) in enumerate(pairs):
        where = f"control_risk {label!r}" if label else f"control_risk[{i}]"
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise InputError(f"{where} = {value!r} is not a number")
        if not 0.0 < value < 1.0:
            raise InputError(
                f"{where} = {value!r}: a risk between 0 and 1 (e.g. 0.1 for 100 per 1,000)"
            )
        out.append((label or f"{_per_1000(float(value))} per 1,000", float(value)))
    return out


def absolute_effects(
    res: MetaAnalysis, control_risk: Any = None, *, desirable: bool = False
) -> AbsoluteEffects | SmdInterpretation:
    """Absolute effects of a result (``MetaAnalysis.absolute_effects``).

    Parameters
    ----------
    res : MetaAnalysis
        A dichotomous result (RR, OR, Peto OR or RD), or a standardised mean
        difference.
    control_risk : float, sequence or mapping
        Assumed control risks between 0 and 1: one, several, or named ones
        (``{"low": 0.02, "moderate": 0.1}``). Not used for an SMD.
    desirable : bool
        The outcome's events are wanted (e.g. healing): more events is a
        benefit. By default events are harmful (e.g. deaths).

    Returns
    -------
    AbsoluteEffects or SmdInterpretation

    Raises
    ------
    InputError
        A control risk outside (0, 1), missing for dichotomous data, or a
        measure with no absolute re-expression (MD, generic data, O-E).

    Examples
    --------
    >>> import metapool
    >>> res = metapool.analyse(metapool.examples.aspirin(), measure="RR")
    >>> effects = res.absolute_effects({"low": 0.05, "high": 0.15})
    >>> effects.relative
    'RR 0.91 (95% CI 0.87 to 0.96)'
    >>> effects.rows[1].cells()  # doctest: +NORMALIZE_WHITESPACE
    ['high', '150 per 1,000', '137 per 1,000 (130 to 145)',
     '13 fewer per 1,000 (from 20 fewer to 5 fewer)', 'NNTB 78 (50 to 187)']
    >>> print(effects)  # doctest: +SKIP
    """
    settings = res.settings
    t = res.total
    if settings.measure == "SMD":
        return SmdInterpretation(
            t.estimate,
            t.ci_lower,
            t.ci_upper,
            settings.ci_level,
            smd_magnitude(t.estimate),
            smd_magnitude(t.ci_lower),
            smd_magnitude(t.ci_upper),
        )
    if settings.data_type is not DataType.DICHOTOMOUS or settings.measure not in _MEASURES:
        raise InputError(
            f"absolute effects need a dichotomous RR, OR, Peto OR or RD, or an SMD; "
            f"this result is {settings.measure} ({settings.data_type.value} data)"
        )
    if control_risk is None:
        raise InputError(
            "control_risk: give the assumed control risk(s), e.g. 0.1 or {'low': 0.02}"
        )
    if not t.estimable:
        raise InputError("absolute effects need an estimable total; the total is not estimable")
    sign = -1.0 if desirable else 1.0
    rows = []
    for label, acr in _control_risks(control_risk):
        risks = [
            intervention_risk(settings.measure, x, acr)
            for x in (t.estimate, t.ci_lower, t.ci_upper)
        ]
        diffs = [r - acr for r in risks]
        # benefit: fewer harmful events (or more desirable ones)
        benefit = [-sign * d for d in diffs]
        rows.append(
            AbsoluteEffect(
                label=label,
                control_risk=acr,
                risk=risks[0],
                risk_lower=risks[1],
                risk_upper=risks[2],
                difference=diffs[0],
                difference_lower=diffs[1],
                difference_upper=diffs[2],
                nnt=nnt_text(benefit[0], min(benefit[1:]), max(benefit[1:])),
            )
        )
    arms = res.arm_totals
    participants = math.nan if arms is None else arms.total_exp + arms.total_ctrl
    return AbsoluteEffects(
        settings.measure,
        t.estimate,
        t.ci_lower,
        t.ci_upper,
        settings.ci_level,
        res.k,
        participants,
        tuple(rows),
    )

"""A review's analyses as one self-contained HTML page.

Per comparison and outcome: RevMan's table, the forest plot (inline SVG), the
settings used and, where the file stores RevMan's results, how closely
metapool reproduced them; a contents list at the top and the risk-of-bias
figures at the end. The page loads nothing from the network (figures are
inline SVG) and its style sheet has a print layout
that starts every analysis on a new page.
"""

from __future__ import annotations

import html
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from metapool._html import Bias, Item, PageOptions, analysis_items, forest_figure, page, write
from metapool.errors import InputError
from metapool.io.compare import OutcomeCheck
from metapool.io.review import Outcome, Review

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure
    from typing_extensions import Unpack

    from metapool.io.risk_of_bias import RiskOfBias
    from metapool.results import MetaAnalysis

__all__ = ["ReportOptions", "html_report", "outcome_forest", "write_report"]


def _check(check: OutcomeCheck) -> str:
    if check.error is not None:
        return f'<p class="error">Not compared: {html.escape(check.error)}</p>'
    if not check.checked:
        return "<p>The file stores no RevMan results for this analysis.</p>"
    verdict = (
        '<span class="ok">agrees with RevMan</span>'
        if check.passed
        else f'<span class="differs">differs from RevMan in {len(check.failures)} values</span>'
    )
    return (
        f"<p>metapool {verdict}: {len(check.differences)} stored values compared.</p>"
        f'<div class="table-wrap">{check.to_table("html")}</div>'
    )


def _labels(outcome: Outcome | None) -> dict[str, Any]:
    """The forest plot's labels that a review's outcome carries."""
    if outcome is None:
        return {}
    return {
        "group_labels": outcome.group_labels,
        "left_label": outcome.graph_labels[0],
        "right_label": outcome.graph_labels[1],
    }


def outcome_forest(
    outcome: Outcome | None, res: MetaAnalysis, risk_of_bias: RiskOfBias | None = None
) -> Figure:
    """The forest plot of a review's outcome with the file's labels, and the
    risk-of-bias columns when the judgements cover its studies."""
    return forest_figure(res, _labels(outcome), risk_of_bias)


def _outcome_item(
    review: Review, outcome: Outcome, check: bool, overrides: Mapping[str, Any], prefix: str
) -> Item:
    names = {c.number: c.name for c in review.comparisons}
    heading = (
        f"Analysis {outcome.key}: Comparison {outcome.comparison} "
        f"{names.get(outcome.comparison, '')}, Outcome {outcome.number} {outcome.name}"
    )
    if prefix:
        heading = f"{review.title or review.source}, {heading}"
    anchor = f"{prefix}analysis-{outcome.comparison}-{outcome.number}"
    group = f"Comparison {outcome.comparison}: {names.get(outcome.comparison, '')}"
    if prefix:
        group = f"{review.title or review.source}, {group}"
    compared = review.compare(outcomes=[outcome]).outcomes[0] if check else None
    item = Item(
        anchor,
        heading,
        None,
        check=None if compared is None else _check(compared),
        labels=_labels(outcome),
        rob=review.risk_of_bias,
        group=group,
    )
    if outcome.error is None and not outcome.studies:
        return attrs.evolve(item, problem="No study data.")
    try:
        return attrs.evolve(item, result=outcome.analyse(**overrides))
    except InputError as exc:
        return attrs.evolve(item, problem=f"Not analysed: {exc}")


def _review_items(
    source: Review | Sequence[Review], check: bool, overrides: Mapping[str, Any]
) -> tuple[str, list[Item], list[Bias]]:
    single = isinstance(source, Review)
    reviews = [source] if isinstance(source, Review) else list(source)
    items, biases = [], []
    for i, review in enumerate(reviews, start=1):
        prefix = "" if single else f"r{i}-"
        items += [_outcome_item(review, o, check, overrides, prefix) for o in review.outcomes]
        if review.risk_of_bias is not None:
            name = "Risk of bias" if single else f"{review.title or review.source}: risk of bias"
            biases.append((f"risk-of-bias{'' if single else f'-{i}'}", name, review.risk_of_bias))
    title = reviews[0].title or reviews[0].source if single else f"{len(reviews)} reviews"
    return title, items, biases


class ReportOptions(PageOptions, total=False):
    """The keyword options of :func:`html_report` and :func:`write_report`."""

    check: bool
    overrides: Mapping[str, Any] | None


def html_report(
    source: Any,
    *,
    title: str | None = None,
    figures: bool = True,
    check: bool = True,
    risk_of_bias: RiskOfBias | None = None,
    control_risk: Any = None,
    overrides: Mapping[str, Any] | None = None,
) -> str:
    """The HTML text of a report (see :func:`write_report`).

    Examples
    --------
    >>> import metapool
    >>> res = metapool.analyse(metapool.examples.aspirin(), measure="OR", method="MH")
    >>> page = html_report({"Aspirin and death": res}, figures=False)
    >>> page.startswith("<!DOCTYPE html>"), "0.90 [0.84, 0.96]" in page
    (True, True)
    """
    if isinstance(source, Review) or (
        isinstance(source, Sequence) and source and all(isinstance(r, Review) for r in source)
    ):
        # RevMan's stored results belong to the file's settings: no check under others
        name, items, biases = _review_items(source, check and not overrides, overrides or {})
    else:
        name, items, biases = "metapool analyses", analysis_items(source), []
    return page(
        name,
        items,
        biases,
        source=getattr(source, "source", None),
        title=title,
        figures=figures,
        risk_of_bias=risk_of_bias,
        control_risk=control_risk,
    )


def write_report(
    source: Any, path: str | os.PathLike[str], **options: Unpack[ReportOptions]
) -> Path:
    """Write one self-contained HTML page with every analysis of ``source``.

    Parameters
    ----------
    source : Review, list of Review, MetaAnalysis, list or dict of MetaAnalysis
        Reviews read from files (every outcome, analysed with its own
        settings), or results of :func:`metapool.analyse` (a dict's keys are
        the headings).
    path : str or path-like
        The ``.html`` file to write.
    title : str, optional
        The page's title (default: the review's).
    figures : bool
        Draw the forest plots and risk-of-bias figures (needs matplotlib).
    check : bool
        For a review: compare with the results RevMan stored in the file.
    risk_of_bias : RiskOfBias, optional
        Judgements to show (default: the review's own).
    control_risk : float, sequence or mapping, optional
        Assumed control risks: each dichotomous analysis gets its
        summary-of-findings absolute effects (:func:`metapool.sof.absolute_effects`),
        each SMD its rule-of-thumb size.
    overrides : mapping, optional
        For reviews: :func:`metapool.analyse` options that replace the files'
        settings (e.g. :data:`metapool.REVMAN_WEB`); the comparison with
        RevMan's stored results is then left out.

    Returns
    -------
    pathlib.Path
        The file written.

    Examples
    --------
    >>> import metapool, tempfile
    >>> from pathlib import Path
    >>> res = metapool.analyse(metapool.examples.aspirin(), measure="OR", method="MH")
    >>> out = write_report([res], Path(tempfile.mkdtemp()) / "report.html", figures=False)
    >>> "Analysis 1" in out.read_text(encoding="utf-8")
    True
    """
    return write(html_report(source, **options), path)

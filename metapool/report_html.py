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
import io
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict

import attrs

from metapool.errors import InputError
from metapool.io.tables import render
from metapool.report import analysis_table
from metapool.vocabulary import Model

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure
    from typing_extensions import Unpack

    from metapool.io.compare import OutcomeCheck
    from metapool.io.review import Outcome, Review
    from metapool.io.risk_of_bias import RiskOfBias
    from metapool.results import MetaAnalysis
    from metapool.vocabulary import Settings

__all__ = ["ReportOptions", "html_report", "outcome_forest", "write_report"]

_CSS = """
body { font-family: Arial, "Liberation Sans", Helvetica, sans-serif; font-size: 14px;
       color: #000; margin: 2em auto; max-width: 1100px; padding: 0 1em; }
h1 { font-size: 1.6em; } h2 { font-size: 1.25em; margin-top: 2em; }
nav ol { line-height: 1.5; }
section.analysis { border-top: 1px solid #999; }
figure { margin: 1em 0; overflow: hidden; }
figure svg { display: block; max-width: 100%; height: auto; }
figure svg text { font-family: Arial, "Liberation Sans", Arimo, Helvetica, sans-serif !important; }
figcaption { font-size: 0.9em; color: #444; }
table.metapool { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
table.metapool th, table.metapool td { padding: 2px 8px; border-bottom: 1px solid #ddd;
       white-space: nowrap; }
table.metapool tr.line td { border-bottom: none; white-space: normal; }
dl.settings { display: grid; grid-template-columns: max-content auto; gap: 0 1em; }
dl.settings dt { font-weight: bold; } dl.settings dd { margin: 0; }
.ok { color: #006400; } .differs, .error { color: #b00000; }
.table-wrap { overflow-x: auto; }
@media print {
  body { max-width: none; margin: 0; font-size: 10pt; }
  nav { page-break-after: always; }
  section.analysis, section.risk-of-bias { page-break-before: always; }
  figure, table.metapool { page-break-inside: avoid; }
  .table-wrap { overflow: visible; }
  a { color: inherit; text-decoration: none; }
}
"""


@attrs.frozen
class _Item:
    """One analysis of the report."""

    anchor: str
    heading: str
    result: MetaAnalysis | None
    problem: str | None = None  # why there is no result
    check: OutcomeCheck | None = None
    outcome: Outcome | None = None  # a review's outcome: labels for the plot
    rob: RiskOfBias | None = None  # its review's judgements
    group: str | None = None  # the comparison it belongs to, for the contents


def _svg(fig: Figure, prefix: str) -> str:
    """A figure as inline SVG, its ids prefixed so that figures on one page do not clash.

    Text stays text (``svg.fonttype`` "none"): the page is a quarter of the size,
    it is written twice as fast, and its words can be searched and copied. The
    style sheet gives it Arial or a font with Arial's metrics, as the plots
    measured their columns with.
    """
    import matplotlib

    buffer = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "none"}):
        fig.savefig(buffer, format="svg")
    text = buffer.getvalue()
    text = text[text.index("<svg") :]
    text = re.sub(r'\bid="', f'id="{prefix}-', text)
    text = re.sub(r'(href="#|url\(#)', lambda m: f"{m.group(1)}{prefix}-", text)
    return text


def _settings(settings: Settings) -> str:
    random = settings.model is Model.RANDOM
    rows = [
        ("Data type", settings.data_type.value),
        ("Effect measure", settings.label),
        ("Method", settings.method.value),
        ("Model", settings.model.value),
    ]
    if random:
        rows += [
            ("τ² estimator", settings.tau2),
            ("Hartung-Knapp-Sidik-Jonkman", "yes" if settings.hksj else "no"),
            ("Prediction interval", "yes" if settings.prediction else "no"),
        ]
    rows += [
        ("I²", "from Q (Higgins-Thompson)" if settings.i2 == "Q" else "from τ²"),
        ("CI level (studies, totals)", f"{settings.study_ci_level:g}, {settings.ci_level:g}"),
    ]
    if settings.swap_events:
        rows.append(("Events", "events and non-events swapped"))
    body = "".join(f"<dt>{html.escape(k)}</dt><dd>{html.escape(v)}</dd>" for k, v in rows)
    return f'<dl class="settings">{body}</dl>'


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
    rows = [
        [
            row.scope,
            row.quantity,
            str(row.compared),
            f"{row.max_abs:.2e}",
            f"{row.max_rel:.2e}",
            row.worst or "",
            "ok" if row.ok else "DIFFERS",
        ]
        for row in check.largest()
    ]
    headers = ["Scope", "Quantity", "n", "max |diff|", "max rel", "worst", ""]
    return (
        f"<p>metapool {verdict}: {len(check.differences)} stored values compared.</p>"
        f'<div class="table-wrap">{render(headers, rows, "html")}</div>'
    )


def outcome_forest(
    outcome: Outcome | None, res: MetaAnalysis, risk_of_bias: RiskOfBias | None = None
) -> Figure:
    """The forest plot of a review's outcome with the file's labels, and the
    risk-of-bias columns when the judgements cover its studies."""
    from metapool.plots.forest import forest

    kwargs: dict[str, Any] = {}
    if outcome is not None:
        kwargs = {
            "group_labels": outcome.group_labels,
            "left_label": outcome.graph_labels[0],
            "right_label": outcome.graph_labels[1],
        }
    studies = {s.study for s in res.studies}
    if risk_of_bias is not None and studies & set(risk_of_bias.studies):
        kwargs["risk_of_bias"] = risk_of_bias  # RevMan 5.4's columns right of the graph
    return forest(res, **kwargs)


def _forest(item: _Item, index: int) -> str:
    assert item.result is not None
    fig = outcome_forest(item.outcome, item.result, item.rob)
    caption = f"Forest plot of {html.escape(item.heading)}"
    return (
        f'<figure class="forest">{_svg(fig, f"fig{index}")}<figcaption>{caption}</figcaption>'
        "</figure>"
    )


def _absolute(res: MetaAnalysis, control_risk: Any) -> str:
    """The summary-of-findings effects, where the measure has them."""
    from metapool.sof import AbsoluteEffects, absolute_effects

    try:
        effects = absolute_effects(res, control_risk)
    except InputError as exc:
        return f"<p>{html.escape(str(exc))}</p>"
    if isinstance(effects, AbsoluteEffects):
        return f'<div class="table-wrap">{effects.to_table("html")}</div>'
    return f"<p>{html.escape(str(effects))}</p>"


def _section(item: _Item, index: int, figures: bool, control_risk: Any) -> str:
    parts = [
        f'<section class="analysis" id="{item.anchor}">',
        f"<h2>{html.escape(item.heading)}</h2>",
    ]
    if item.result is None:
        parts.append(f'<p class="error">{html.escape(item.problem or "Not analysed.")}</p>')
    else:
        if figures:
            parts.append(_forest(item, index))
        table = render(*analysis_table(item.result), "html")
        parts += [
            f'<div class="table-wrap">{table}</div>',
            "<h3>Settings</h3>",
            _settings(item.result.settings),
        ]
        if control_risk is not None:
            parts += ["<h3>Absolute effects</h3>", _absolute(item.result, control_risk)]
    if item.check is not None:
        parts += ["<h3>Agreement with RevMan</h3>", _check(item.check)]
    parts.append("</section>")
    return "\n".join(parts)


def _risk_of_bias(rob: RiskOfBias, figures: bool, anchor: str, heading: str) -> str:
    parts = [f'<section class="risk-of-bias" id="{anchor}">', f"<h2>{html.escape(heading)}</h2>"]
    if figures:
        for name, fig in (
            ("Risk of bias graph", rob.graph()),
            ("Risk of bias summary", rob.summary()),
        ):
            prefix = f"rob{anchor.removeprefix('risk-of-bias')}-{name.split()[-1]}"
            parts.append(
                f'<figure class="risk-of-bias">{_svg(fig, prefix)}<figcaption>{name}'
                "</figcaption></figure>"
            )
    rows = [[j.study, j.domain, j.judgement, j.support] for j in rob.judgements]
    table = render(["Study", "Domain", "Judgement", "Support"], rows, "html")
    parts += [f'<div class="table-wrap">{table}</div>', "</section>"]
    return "\n".join(parts)


def _outcome_item(
    review: Review, outcome: Outcome, check: bool, overrides: Mapping[str, Any], prefix: str
) -> _Item:
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
    item = _Item(
        anchor,
        heading,
        None,
        check=compared,
        outcome=outcome,
        rob=review.risk_of_bias,
        group=group,
    )
    if outcome.error is None and not outcome.studies:
        return attrs.evolve(item, problem="No study data.")
    try:
        return attrs.evolve(item, result=outcome.analyse(**overrides))
    except InputError as exc:
        return attrs.evolve(item, problem=f"Not analysed: {exc}")


# (anchor, heading, judgements) of each risk-of-bias section
_Bias = tuple[str, str, "RiskOfBias"]


def _items(
    source: Any, check: bool, overrides: Mapping[str, Any]
) -> tuple[str, list[_Item], list[_Bias]]:
    from metapool.io.review import Review
    from metapool.results import MetaAnalysis

    if isinstance(source, Review):
        source = [source]
        single = True
    else:
        single = False
    if isinstance(source, Sequence) and source and all(isinstance(r, Review) for r in source):
        items, biases = [], []
        for i, review in enumerate(source, start=1):
            prefix = "" if single else f"r{i}-"
            items += [_outcome_item(review, o, check, overrides, prefix) for o in review.outcomes]
            if review.risk_of_bias is not None:
                name = (
                    "Risk of bias" if single else f"{review.title or review.source}: risk of bias"
                )
                biases.append(
                    (f"risk-of-bias{'' if single else f'-{i}'}", name, review.risk_of_bias)
                )
        title = source[0].title or source[0].source if single else f"{len(source)} reviews"
        return title, items, biases
    if isinstance(source, MetaAnalysis):
        source = [source]
    pairs: Iterable[tuple[Any, Any]]
    if isinstance(source, Mapping):
        pairs = source.items()
    elif isinstance(source, Sequence) and not isinstance(source, str):
        pairs = ((f"Analysis {i}", r) for i, r in enumerate(source, start=1))
    else:
        raise InputError(
            f"a report is made of a Review, a MetaAnalysis, or a list or dict of them, "
            f"not {type(source).__name__}"
        )
    items = []
    for i, (name, res) in enumerate(pairs, start=1):
        if not isinstance(res, MetaAnalysis):
            raise InputError(f"report item {name!r}: {type(res).__name__} is not a MetaAnalysis")
        items.append(_Item(f"analysis-{i}", str(name), res))
    return "metapool analyses", items, []


def _contents(items: list[_Item], biases: list[_Bias]) -> str:
    """The contents list: analyses under their comparisons, then risk of bias."""

    def link(anchor: str, text: str) -> str:
        return f'<a href="#{anchor}">{html.escape(text)}</a>'

    lines = ['<ol class="contents">']
    group: str | None = None
    for item in items:
        if item.group != group:
            if group is not None:
                lines.append("</ol></li>")
            if item.group is not None:
                lines.append(f"<li>{html.escape(item.group)}<ol>")
            group = item.group
        lines.append(f"<li>{link(item.anchor, item.heading)}</li>")
    if group is not None:
        lines.append("</ol></li>")
    lines += [f"<li>{link(anchor, text)}</li>" for anchor, text, _ in biases]
    lines.append("</ol>")
    return "\n".join(lines)


class ReportOptions(TypedDict, total=False):
    """The keyword options of :func:`html_report` and :func:`write_report`."""

    title: str | None
    figures: bool
    check: bool
    risk_of_bias: RiskOfBias | None
    control_risk: Any
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
    from metapool import __version__

    # RevMan's stored results belong to the file's settings: no check under others
    name, items, biases = _items(source, check and not overrides, overrides or {})
    if risk_of_bias is not None:
        biases = [("risk-of-bias", "Risk of bias", risk_of_bias)]
        items = [attrs.evolve(item, rob=risk_of_bias) for item in items]
    heading = html.escape(title or name)
    contents = _contents(items, biases)
    sections = [_section(item, i, figures, control_risk) for i, item in enumerate(items)]
    sections += [_risk_of_bias(rob, figures, anchor, text) for anchor, text, rob in biases]
    meta = f"Made by metapool {__version__}"
    if hasattr(source, "source") and source.source:
        meta += f" from {html.escape(os.path.basename(source.source))}"
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            f"<title>{heading}</title>",
            f"<style>{_CSS}</style>",
            "</head><body>",
            f"<h1>{heading}</h1>",
            f'<p class="meta">{meta}; {len(items)} analyses.</p>',
            "<nav><h2>Contents</h2>",
            contents,
            "</nav>",
            *sections,
            "</body></html>",
            "",
        ]
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
    text = html_report(source, **options)
    out = Path(path)
    try:
        out.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise InputError(
            f"{os.fspath(path)}: cannot write the report ({exc.strerror or exc})"
        ) from exc
    return out

"""The HTML page of a report: its style sheet, sections, figures and contents.

A page is made of analyses (RevMan's table, the forest plot as inline SVG,
the settings used, optionally the agreement with RevMan and the absolute
effects) and risk-of-bias sections, under a contents list. This module knows
results and judgements only, so a result writes its own page;
:mod:`metapool.report_html` makes the items of whole reviews.
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

from metapool._version import __version__
from metapool.errors import InputError
from metapool.io.tables import render
from metapool.report import analysis_table
from metapool.vocabulary import Model

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

    from metapool.io.risk_of_bias import RiskOfBias
    from metapool.results import MetaAnalysis
    from metapool.vocabulary import Settings

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
class Item:
    """One analysis of the page."""

    anchor: str
    heading: str
    result: MetaAnalysis | None
    problem: str | None = None  # why there is no result
    check: str | None = None  # the agreement with RevMan, as HTML
    labels: Mapping[str, Any] = attrs.field(factory=dict)  # the forest plot's labels
    rob: RiskOfBias | None = None  # its review's judgements
    group: str | None = None  # the comparison it belongs to, for the contents


# (anchor, heading, judgements) of each risk-of-bias section
Bias = tuple[str, str, "RiskOfBias"]


class PageOptions(TypedDict, total=False):
    """The keyword options of a page of analyses (``MetaAnalysis.report``)."""

    title: str | None
    figures: bool
    risk_of_bias: RiskOfBias | None
    control_risk: Any


def svg(fig: Figure, prefix: str) -> str:
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


def forest_figure(
    res: MetaAnalysis, labels: Mapping[str, Any], risk_of_bias: RiskOfBias | None = None
) -> Figure:
    """The forest plot with the given labels, and the risk-of-bias columns when
    the judgements cover its studies."""
    from metapool.plots.forest import forest

    kwargs = dict(labels)
    studies = {s.study for s in res.studies}
    if risk_of_bias is not None and studies & set(risk_of_bias.studies):
        kwargs["risk_of_bias"] = risk_of_bias  # RevMan 5.4's columns right of the graph
    return forest(res, **kwargs)


def _forest(item: Item, index: int) -> str:
    assert item.result is not None
    fig = forest_figure(item.result, item.labels, item.rob)
    caption = f"Forest plot of {html.escape(item.heading)}"
    return (
        f'<figure class="forest">{svg(fig, f"fig{index}")}<figcaption>{caption}</figcaption>'
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


def _section(item: Item, index: int, figures: bool, control_risk: Any) -> str:
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
        parts += ["<h3>Agreement with RevMan</h3>", item.check]
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
                f'<figure class="risk-of-bias">{svg(fig, prefix)}<figcaption>{name}'
                "</figcaption></figure>"
            )
    rows = [[j.study, j.domain, j.judgement, j.support] for j in rob.judgements]
    table = render(["Study", "Domain", "Judgement", "Support"], rows, "html")
    parts += [f'<div class="table-wrap">{table}</div>', "</section>"]
    return "\n".join(parts)


def _contents(items: list[Item], biases: list[Bias]) -> str:
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


def analysis_items(source: Any) -> list[Item]:
    """The items of a MetaAnalysis, or of a list or dict of them (keys: headings)."""
    from metapool.results import MetaAnalysis

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
        items.append(Item(f"analysis-{i}", str(name), res))
    return items


def page(
    name: str,
    items: list[Item],
    biases: list[Bias],
    *,
    source: str | None = None,
    title: str | None = None,
    figures: bool = True,
    risk_of_bias: RiskOfBias | None = None,
    control_risk: Any = None,
) -> str:
    """The page's HTML text: ``name`` heads it unless a ``title`` is given."""
    if risk_of_bias is not None:
        biases = [("risk-of-bias", "Risk of bias", risk_of_bias)]
        items = [attrs.evolve(item, rob=risk_of_bias) for item in items]
    heading = html.escape(title or name)
    sections = [_section(item, i, figures, control_risk) for i, item in enumerate(items)]
    sections += [_risk_of_bias(rob, figures, anchor, text) for anchor, text, rob in biases]
    meta = f"Made by metapool {__version__}"
    if source:
        meta += f" from {html.escape(os.path.basename(source))}"
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
            _contents(items, biases),
            "</nav>",
            *sections,
            "</body></html>",
            "",
        ]
    )


def write(text: str, path: str | os.PathLike[str]) -> Path:
    """Write a page to ``path``; a path that cannot be written is an :class:`InputError`."""
    out = Path(path)
    try:
        out.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise InputError(
            f"{os.fspath(path)}: cannot write the report ({exc.strerror or exc})"
        ) from exc
    return out

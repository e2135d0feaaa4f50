"""The HTML report: what the page holds, and how a real browser lays it out."""

# ruff: noqa: E402 (the imports after importorskip need the extra)
from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

matplotlib = pytest.importorskip("matplotlib")  # the plot extra

matplotlib.use("Agg")

from revman_files import data, outcome, review, subgroup, write
from test_risk_of_bias import _items

import metapool
from metapool import InputError
from metapool.report_html import html_report, write_report


def _review(tmp_path: Path) -> metapool.io.Review:
    """Three analyses: dichotomous with stored results, continuous in subgroups, and one
    that cannot be analysed; and two risk-of-bias domains."""
    dich = [
        data("DICH", "STD-A", EVENTS_1=12, TOTAL_1=100, EVENTS_2=20, TOTAL_2=100),
        data("DICH", "STD-B", EVENTS_1=30, TOTAL_1=150, EVENTS_2=41, TOTAL_2=160),
        data("DICH", "STD-C", EVENTS_1=5, TOTAL_1=60, EVENTS_2=9, TOTAL_2=58),
    ]
    cont = [
        subgroup(
            "CONT",
            1,
            "Adults",
            [
                data("CONT", "STD-A", MEAN_1=3.1, SD_1=1.2, TOTAL_1=40, MEAN_2=3.9, SD_2=1.3,
                     TOTAL_2=41),
                data("CONT", "STD-B", MEAN_1=2.8, SD_1=1.0, TOTAL_1=35, MEAN_2=3.2, SD_2=1.1,
                     TOTAL_2=30),
            ],
        ),
        subgroup(
            "CONT",
            2,
            "Children",
            [
                data("CONT", "STD-C", MEAN_1=4.0, SD_1=1.5, TOTAL_1=25, MEAN_2=4.4, SD_2=1.4,
                     TOTAL_2=26),
                data("CONT", "STD-D", MEAN_1=3.5, SD_1=1.1, TOTAL_1=22, MEAN_2=4.3, SD_2=1.2,
                     TOTAL_2=20),
            ],
        ),
    ]  # fmt: skip
    broken = [data("DICH", "STD-A", EVENTS_1=30, TOTAL_1=20, EVENTS_2=4, TOTAL_2=20)]
    text = review(
        outcome("DICH", 1, "Death", dich, EFFECT_MEASURE="RR", METHOD="MH"),
        outcome(
            "CONT", 2, "Pain", cont, EFFECT_MEASURE="MD", METHOD="IV", RANDOM="YES", SUBGROUPS="YES"
        ),
        outcome("DICH", 3, "Events above totals", broken, EFFECT_MEASURE="OR", METHOD="MH"),
    )
    text = text.replace("</STUDIES_AND_REFERENCES>", "</STUDIES_AND_REFERENCES>" + _items())
    return metapool.read_rm5(write(tmp_path, text))


def _sections(page: str) -> dict[str, str]:
    found = re.findall(r'<section class="analysis" id="([^"]+)">(.*?)</section>', page, re.S)
    return dict(found)


def test_report_holds_every_analysis(tmp_path: Path) -> None:
    rev = _review(tmp_path)
    path = rev.report(tmp_path / "report.html")
    page = path.read_text(encoding="utf-8")
    sections = _sections(page)
    assert list(sections) == ["analysis-1-1", "analysis-1-2", "analysis-1-3"]
    for key in ("analysis-1-1", "analysis-1-2"):
        body = sections[key]
        assert body.count("<svg") == 1 and '<table class="metapool">' in body
        assert "<h3>Settings</h3>" in body
    res = rev.outcome("1.1").analyse()
    t = res.total
    assert f"{t.estimate:.2f} [{t.ci_lower:.2f}, {t.ci_upper:.2f}]" in sections["analysis-1-1"]
    assert "Risk Ratio M-H, Fixed, 95% CI" in sections["analysis-1-1"]
    assert "<dd>DL</dd>" in sections["analysis-1-2"]  # random effects: the τ² estimator
    assert "Test for subgroup differences" in sections["analysis-1-2"]
    assert "Not analysed" in sections["analysis-1-3"] and "<svg" not in sections["analysis-1-3"]
    assert "The file stores no RevMan results" in sections["analysis-1-1"]
    # the contents list points at every section
    anchors = re.findall(r'<li><a href="#([^"]+)">', page)
    assert anchors == [*sections, "risk-of-bias"]
    assert page.count("<svg") == 4  # two forest plots, the risk-of-bias graph and summary
    # self-contained: nothing is fetched
    assert not re.search(r'(src|href)="(https?:)?//', page) and "<link" not in page
    assert "@media print" in page
    # each figure's SVG ids carry its own prefix, so that figures cannot clash
    ids = re.findall(r'\bid="([^"]+)"', page)
    prefixes = {i.split("-")[0] for i in ids if not i.startswith(("analysis-", "risk-of-bias"))}
    assert prefixes == {"fig0", "fig1", "rob"}


def test_report_of_stored_results_shows_the_agreement(tmp_path: Path) -> None:
    from revman_files import RM5, example

    page = html_report(metapool.read_rm5(example(RM5)), figures=False)
    first = _sections(page)["analysis-1-1"]
    assert "agrees with RevMan" in first and "45 stored values compared" in first


def test_report_of_results_from_python(tmp_path: Path) -> None:
    aspirin = metapool.analyse(metapool.examples.aspirin(), measure="OR", method="MH")
    pain = metapool.analyse(metapool.examples.stem_cell_oa_pain(), measure="SMD", model="random")
    page = html_report({"Aspirin: death": aspirin, "Stem cells: pain": pain})
    assert list(_sections(page)) == ["analysis-1", "analysis-2"]
    assert "<h2>Aspirin: death</h2>" in page and page.count("<svg") == 2
    assert "Agreement with RevMan" not in page
    effects = html_report([aspirin, pain], figures=False, control_risk={"moderate": 0.1})
    first, second = _sections(effects).values()
    assert "<h3>Absolute effects</h3>" in first and "100 per 1,000" in first
    assert "rule of thumb: 0.2 small" in second
    out = aspirin.report(tmp_path / "one.html", figures=False)
    assert "<h2>Analysis 1</h2>" in out.read_text(encoding="utf-8")
    with pytest.raises(InputError, match="report item 'x': int is not a MetaAnalysis"):
        html_report({"x": 1})
    with pytest.raises(InputError, match="not str"):
        html_report("review.rm5")
    with pytest.raises(InputError, match="cannot write the report"):
        write_report([aspirin], tmp_path / "missing" / "r.html", figures=False)


# -- in a real browser --------------------------------------------------------------------

_BROWSERS = ("chromium", "chromium-browser", "google-chrome", "chrome")
# measures the laid-out page; the browser prints the DOM with this element in it
_PROBE = """<script>
(function () {
  const figures = Array.from(document.querySelectorAll("figure svg")).map(function (e) {
    const r = e.getBoundingClientRect();
    return {width: r.width, height: r.height, left: r.left, right: r.right};
  });
  const out = document.createElement("pre");
  out.id = "probe";
  out.textContent = JSON.stringify({
    figures: figures, viewport: document.documentElement.clientWidth,
    scroll: document.documentElement.scrollWidth, text: document.body.innerText});
  document.body.appendChild(out);
})();
</script>"""


def _browser() -> str:
    for name in _BROWSERS:
        found = shutil.which(name)
        if found:
            return found
    pytest.skip("no Chromium to render the report in (install it, e.g. apt-get install chromium)")


def _render(browser: str, page: Path, profile: Path) -> dict[str, object]:
    probe = page.with_name("probe.html")
    probe.write_text(
        page.read_text(encoding="utf-8").replace("</body>", _PROBE + "</body>"), encoding="utf-8"
    )
    command = [
        browser, "--headless", "--no-sandbox", "--disable-gpu",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--no-first-run", f"--user-data-dir={profile}", "--window-size=1024,768",
        "--dump-dom", probe.as_uri(),
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=180, check=False)
    match = re.search(r'<pre id="probe">(.*?)</pre>', done.stdout, re.S)
    if match is None:  # pragma: no cover - shows what went wrong
        pytest.fail(f"the browser printed no measurements: {done.stderr[-2000:]}")
    result: dict[str, object] = json.loads(html.unescape(match.group(1)))
    return result


def test_report_in_headless_chromium(tmp_path: Path) -> None:
    browser = _browser()
    page = _review(tmp_path).report(tmp_path / "report.html")
    seen = _render(browser, page, tmp_path / "profile")
    figures = seen["figures"]
    assert isinstance(figures, list) and len(figures) == 4
    viewport = seen["viewport"]
    assert isinstance(viewport, (int, float))
    for figure in figures:
        assert figure["width"] > 50 and figure["height"] > 50
        assert figure["left"] >= 0 and figure["right"] <= viewport + 0.5  # nothing off-page
    assert seen["scroll"] == viewport  # no horizontal scrolling
    text = seen["text"]
    assert isinstance(text, str)
    for expected in (
        "Contents",
        "Analysis 1.1: Comparison 1 Treatment vs none, Outcome 1 Death",
        "Analysis 1.2: Comparison 1 Treatment vs none, Outcome 2 Pain",
        "Study or Subgroup",
        "Test for subgroup differences",
        "Risk of bias graph",
        "Risk of bias summary",
    ):
        assert expected in text

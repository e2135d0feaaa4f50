"""Plots: render headless and check what is drawn, not only that drawing works."""

# ruff: noqa: E402 (the imports after importorskip need the extra)
from __future__ import annotations

import itertools
import math
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")  # the plot extra

matplotlib.use("Agg")

import matplotlib.pyplot as plt
from matplotlib.figure import Figure
from matplotlib.patches import Polygon

import metapool
from metapool import Continuous, Dichotomous, Generic, InputError, OMinusE
from metapool._typing import FloatArray
from metapool.plots import baujat, forest, funnel, labbe
from metapool.plots._style import require_matplotlib
from metapool.plots.baujat import baujat_points
from metapool.report import effect_text, heterogeneity_line, overall_effect_line


@pytest.fixture(autouse=True)
def _close_figures() -> Iterator[None]:
    yield
    plt.close("all")


# -- analyses -----------------------------------------------------------------------------


def aspirin() -> metapool.MetaAnalysis:
    return metapool.analyse(metapool.examples.aspirin(), measure="OR", method="MH")


def stem_cells() -> metapool.MetaAnalysis:
    return metapool.analyse(metapool.examples.stem_cell_oa_pain(), measure="SMD", model="random")


def sixty(k: int = 60) -> metapool.MetaAnalysis:
    rng = np.random.default_rng(20250101)
    studies = []
    for i in range(k):
        n1, n2 = (int(n) for n in rng.integers(20, 400, 2))
        p = rng.uniform(0.05, 0.4)
        studies.append(
            Dichotomous(
                f"Trial {i + 1:02d}",
                int(rng.binomial(n1, 0.8 * p)),
                n1,
                int(rng.binomial(n2, p)),
                n2,
            )
        )
    return metapool.analyse(studies, measure="RR", **metapool.REVMAN_WEB)


def mean_difference() -> metapool.MetaAnalysis:
    studies = [
        Continuous("Davis", 5, 4.7, 13, 6.5, 3.8, 13),
        Continuous("Florell", 4.9, 1.71, 30, 6.1, 2.3, 50),
        Continuous("Gruen", 22.5, 3.44, 35, 24.9, 10.65, 35),
    ]
    return metapool.analyse(studies, measure="MD")


def generic() -> metapool.MetaAnalysis:
    studies = [
        Generic("Smith 2001", -0.3, 0.12),
        Generic("Jones 2005", -0.1, 0.2),
        Generic("Lee 2010", 0.05, 0.09),
        Generic("Tiny 2012", 0.9, 1.4),
    ]
    return metapool.analyse(studies, measure="HR", ratio=True, model="random", prediction=True)


def with_double_zero() -> metapool.MetaAnalysis:
    studies = [*metapool.examples.aspirin()[:3], Dichotomous("Zero 1999", 0, 30, 0, 31)]
    return metapool.analyse(studies, measure="RR")


def o_minus_e() -> metapool.MetaAnalysis:
    studies = [OMinusE("A", -3.2, 10.1), OMinusE("B", -1.0, 4.2), OMinusE("C", 0.8, 6.0)]
    return metapool.analyse(studies)


ALL = [aspirin, stem_cells, sixty, mean_difference, generic, with_double_zero, o_minus_e]


# -- reading a forest plot back -----------------------------------------------------------


def panel(fig: Figure) -> Any:
    (ax,) = [ax for ax in fig.axes if ax.get_gid() == "forest-panel"]
    return ax


def table(fig: Figure) -> Any:
    (ax,) = [ax for ax in fig.axes if ax.get_gid() == "forest-table"]
    return ax


def squares(fig: Figure) -> list[Any]:
    return [line for line in panel(fig).lines if line.get_gid() == "square"]


def diamonds(fig: Figure) -> list[Any]:
    return [p for p in panel(fig).patches if isinstance(p, Polygon) and p.get_gid() == "diamond"]


def texts(fig: Figure, gid: str | None = None) -> list[str]:
    found = table(fig).texts
    return [t.get_text() for t in found if gid is None or t.get_gid() == gid]


def xy(line: Any) -> tuple[FloatArray, FloatArray]:
    return np.asarray(line.get_xdata(), dtype=float), np.asarray(line.get_ydata(), dtype=float)


def scatter(ax: Any, gid: str) -> FloatArray:
    """The points of the scatter with this gid."""
    (found,) = [c for c in ax.collections if c.get_gid() == gid]
    return np.asarray(found.get_offsets(), dtype=float)


def areas(ax: Any, gid: str) -> FloatArray:
    """The marker areas of the scatter with this gid."""
    (found,) = [c for c in ax.collections if c.get_gid() == gid]
    return np.asarray(found.get_sizes(), dtype=float)


def estimable(res: metapool.MetaAnalysis) -> int:
    return sum(s.estimable for s in res.studies)


# -- forest plot --------------------------------------------------------------------------


@pytest.mark.parametrize("make", ALL, ids=lambda f: f.__name__)
def test_forest_draws_a_square_per_estimable_study_and_a_diamond_per_total(make: Any) -> None:
    res = make()
    fig = forest(res)
    assert isinstance(fig, Figure)
    assert len(squares(fig)) == estimable(res)
    assert len(diamonds(fig)) == 1 + sum(sub.estimable for sub in res.subgroups.values())
    assert len([line for line in panel(fig).lines if line.get_gid() == "ci"]) == estimable(res)


@pytest.mark.parametrize("make", ALL, ids=lambda f: f.__name__)
def test_forest_total_and_test_lines_are_the_report_texts(make: Any) -> None:
    res = make()
    fig = forest(res)
    t = res.total
    assert texts(fig, "total:effect") == [effect_text(t.estimate, t.ci_lower, t.ci_upper)]
    assert texts(fig, "total:label") == ["Total (95% CI)"]
    random = res.settings.model.value == "random"
    footers = texts(fig, "footer:label")
    assert heterogeneity_line(res.heterogeneity, random) in footers
    assert overall_effect_line(t, "t" if res.settings.hksj else "Z") in footers
    assert footers[-1].startswith("Test for subgroup differences: ")


@pytest.mark.parametrize("make", ALL, ids=lambda f: f.__name__)
def test_forest_axis_is_log_for_ratios_with_the_line_of_no_effect_centred(make: Any) -> None:
    res = make()
    ax = panel(forest(res))
    lo, hi = ax.get_xlim()
    null = [line for line in ax.lines if line.get_gid() == "no-effect"]
    assert len(null) == 1
    if res.settings.ratio:
        assert ax.get_xscale() == "log"
        assert xy(null[0])[0][0] == 1.0
        assert lo * hi == pytest.approx(1.0)
    else:
        assert ax.get_xscale() == "linear"
        assert xy(null[0])[0][0] == 0.0
        assert lo == pytest.approx(-hi)
    # every estimate is on the axis
    est = [s.estimate for s in res.studies if s.estimable] + [res.total.estimate]
    assert lo <= min(est) and max(est) <= hi


@pytest.mark.parametrize("make", ALL, ids=lambda f: f.__name__)
def test_forest_has_no_overlapping_text(make: Any) -> None:
    fig = forest(make())
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    boxes = [t.get_window_extent(renderer) for t in table(fig).texts if t.get_text()]
    boxes += [t.get_window_extent(renderer) for t in panel(fig).get_xticklabels() if t.get_text()]
    for a, b in itertools.combinations(boxes, 2):
        assert not a.overlaps(b), (a, b)
    frame = panel(fig).get_window_extent(renderer)
    assert not any(box.overlaps(frame) for box in boxes[: len(table(fig).texts)])
    assert all(box.x1 <= fig.bbox.x1 + 0.5 for box in boxes)


def test_forest_aspirin_columns() -> None:
    res = aspirin()
    fig = forest(res, group_labels=("Aspirin", "Control"))
    headers = texts(fig, "header")
    for word in ("Aspirin", "Control", "Study or Subgroup", "Events", "Total", "Weight"):
        assert word in headers
    # RevMan's effect header: the label in two lines, over the column and over the graph
    assert headers.count("Odds Ratio") == 2
    assert headers.count("M-H, Fixed, 95% CI") == 2
    # ... and the two lines, stacked, read as the analysis' label
    stacked: dict[float, list[tuple[float, str]]] = {}
    for t in table(fig).texts:
        if t.get_gid() == "header":
            x, y = t.get_position()
            stacked.setdefault(round(x, 6), []).append((y, t.get_text()))
    lines = [" ".join(text for _, text in sorted(col)) for col in stacked.values() if len(col) > 1]
    assert lines == [res.settings.label] * 2
    assert res.settings.label == "Odds Ratio M-H, Fixed, 95% CI"
    assert texts(fig, "study:label") == [s.study for s in res.studies]
    assert texts(fig, "study:weight") == [f"{s.weight:.1f}%" for s in res.studies]
    assert texts(fig, "total:data") == ["14186", "13817"]
    assert texts(fig, "events:data") == ["2128", "2286"]
    assert texts(fig, "left-label") == ["Favours experimental"]
    assert texts(fig, "right-label") == ["Favours control"]
    assert (
        texts(fig, "footer:label")[0] == "Heterogeneity: Chi² = 9.95, df = 6 (P = 0.13); I² = 40%"
    )


def test_forest_square_area_follows_weight() -> None:
    res = aspirin()
    sizes = np.array([line.get_markersize() for line in squares(forest(res))])
    weights = np.array([s.weight for s in res.studies])
    big = weights > 5  # the smallest squares have a minimum size
    ratio = sizes[big] ** 2 / weights[big]
    assert ratio == pytest.approx(np.full(big.sum(), ratio[0]))


def test_forest_subgroups() -> None:
    res = stem_cells()
    fig = forest(res)
    assert texts(fig, "heading:label") == list(res.subgroups)
    assert texts(fig, "subtotal:effect") == [
        effect_text(sub.total.estimate, sub.total.ci_lower, sub.total.ci_upper)
        for sub in res.subgroups.values()
    ]
    footers = texts(fig, "footer:label")
    for sub in res.subgroups.values():
        assert heterogeneity_line(sub.heterogeneity, True) in footers
        assert overall_effect_line(sub.total) in footers
    diff = res.subgroup_differences
    assert diff is not None
    assert footers[-1].startswith(f"Test for subgroup differences: Chi² = {diff.q:.2f}, df = 2")
    # the subgroup shares of the overall weight add up to 100 %
    shares = [float(w.rstrip("%")) for w in texts(fig, "subtotal:weight")]
    assert sum(shares) == pytest.approx(100.0, abs=0.15)
    assert panel(fig).get_xscale() == "linear"


def test_forest_continuous_and_generic_columns() -> None:
    md = texts(forest(mean_difference()), "header")
    assert [h for h in md if h in ("Mean", "SD", "Total")] == ["Mean", "SD", "Total"] * 2
    gen = texts(forest(generic()), "header")
    assert "log[Hazard Ratio]" in gen and "SE" in gen and "Weight" in gen
    oe = texts(forest(o_minus_e()), "header")
    assert "O-E" in oe and "Variance" in oe


def test_forest_not_estimable_study() -> None:
    res = with_double_zero()
    fig = forest(res)
    effects = texts(fig, "study:effect")
    assert effects[-1] == "Not estimable"
    assert len(texts(fig, "study:weight")) == 3  # no weight for the double-zero study
    assert len(squares(fig)) == 3


def test_forest_prediction_interval() -> None:
    res = generic()
    assert res.prediction is not None
    fig = forest(res)
    (line,) = [line for line in panel(fig).lines if line.get_gid() == "prediction"]
    assert xy(line)[0] == pytest.approx([res.prediction.lower, res.prediction.upper])
    assert texts(fig, "prediction:effect") == [
        f"[{res.prediction.lower:.2f}, {res.prediction.upper:.2f}]"
    ]
    assert len(diamonds(fig)) == 1


def test_forest_clipped_intervals_end_in_arrows() -> None:
    res = generic()  # "Tiny 2012" has HR 2.46 [0.16, 38.24]
    fig = forest(res, xlim=(0.5, 2))
    ax = panel(fig)
    assert ax.get_xlim() == pytest.approx((0.5, 2))
    arrows = [line for line in ax.lines if line.get_gid() == "arrow"]
    assert res.prediction is not None
    intervals = [(s.ci_lower, s.ci_upper) for s in res.studies]
    intervals.append((res.prediction.lower, res.prediction.upper))
    clipped = sum((lo < 0.5) + (hi > 2) for lo, hi in intervals)
    assert len(arrows) == clipped == 4


def test_forest_height_grows_with_rows() -> None:
    small, half, large = (forest(res) for res in (mean_difference(), sixty(30), sixty(60)))
    h_small, h_half, h_large = (fig.get_size_inches()[1] for fig in (small, half, large))
    assert h_small < 3.5 < 10 < h_large
    # every study row adds the same height
    assert (h_large - h_half) / 30 == pytest.approx(1.45 * 9 / 72)


def test_forest_options() -> None:
    res = aspirin()
    fig = forest(
        res,
        title="Aspirin after MI",
        left_label="Aspirin better",
        right_label="Placebo better",
        sort="effect",
        figsize=(10, 4),
    )
    assert tuple(fig.get_size_inches()) == pytest.approx((10, 4))
    assert texts(fig, "title") == ["Aspirin after MI"]
    assert texts(fig, "left-label") == ["Aspirin better"]
    order = sorted(res.studies, key=lambda s: s.estimate)
    assert texts(fig, "study:label") == [s.study for s in order]
    by_weight = texts(forest(res, sort="weight"), "study:label")
    assert by_weight[0] == "ISIS-2"
    with pytest.raises(InputError, match="unknown sort"):
        forest(res, sort="year")
    with pytest.raises(InputError, match="positive"):
        forest(res, xlim=(0, 10))


def test_forest_method_and_save(tmp_path: Path) -> None:
    fig = aspirin().forest()
    for ext in ("png", "svg", "pdf"):
        out = tmp_path / f"forest.{ext}"
        fig.savefig(out)
        assert out.stat().st_size > 1000
    with matplotlib.rc_context({"svg.fonttype": "none"}):  # keep the text as text
        fig.savefig(tmp_path / "text.svg")
    svg = (tmp_path / "text.svg").read_text()
    assert "ISIS-2" in svg and "0.90 [0.84, 0.96]" in svg and 'id="diamond' in svg


def test_missing_matplotlib_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(ImportError, match=r"pip install 'metapool\[plot\]'.*'\.\[plot\]'"):
        require_matplotlib()


# -- funnel plot --------------------------------------------------------------------------


def test_funnel_ratio() -> None:
    res = aspirin()
    fig = res.funnel()
    ax = fig.axes[0]
    points = scatter(ax, "studies")
    assert len(points) == 7
    assert ax.get_xscale() == "log"
    assert ax.yaxis_inverted() and ax.get_ylim()[1] == 0.0
    se = np.array([s.se for s in res.studies])
    assert points[:, 1] == pytest.approx(se)
    # the funnel is centred on the fixed-effect IV estimate
    iv = metapool.analyse(metapool.examples.aspirin(), measure="OR", method="IV")
    (centre,) = [line for line in ax.lines if line.get_gid() == "centre"]
    assert xy(centre)[0][0] == pytest.approx(iv.total.estimate)
    (edges,) = [line for line in ax.lines if line.get_gid() == "funnel"]
    x, y = xy(edges)
    x, bottom = np.log(x), y[0]
    assert (x[2] - x[1]) == pytest.approx(1.959964 * bottom, rel=1e-6)


def test_funnel_difference_skips_non_estimable_and_uses_given_axes() -> None:
    fig, ax = plt.subplots()
    assert funnel(mean_difference(), ax=ax) is fig
    assert ax.get_xscale() == "linear"
    assert ax.get_ylabel() == "SE(MD)"
    fig2 = funnel(with_double_zero())
    assert len(scatter(fig2.axes[0], "studies")) == 3


def test_funnel_trimfill_points_are_open_circles() -> None:
    res = aspirin()
    filled = res.trimfill()
    ax = funnel(res, trimfill=filled).axes[0]
    points = scatter(ax, "filled")
    assert len(points) == filled.k0 > 0
    assert points[:, 0] == pytest.approx(np.exp(filled.filled_yi))
    assert points[:, 1] == pytest.approx(np.sqrt(filled.filled_vi))
    (circles,) = [c for c in ax.collections if c.get_gid() == "filled"]
    assert np.asarray(circles.get_facecolor())[0] == pytest.approx([1.0, 1.0, 1.0, 1.0])
    # centred on the fixed-effect estimate of the observed and the filled studies
    yi = np.concatenate([np.log([s.estimate for s in res.studies]), filled.filled_yi])
    wi = 1 / np.concatenate([np.array([s.se for s in res.studies]) ** 2, filled.filled_vi])
    (centre,) = [line for line in ax.lines if line.get_gid() == "centre"]
    assert xy(centre)[0][0] == pytest.approx(np.exp((wi * yi).sum() / wi.sum()))


# -- Baujat and L'Abbé --------------------------------------------------------------------


def _by_hand(res: metapool.MetaAnalysis, **options: Any) -> tuple[list[float], list[float]]:
    """Baujat's x and y from k separate analyses (metafor's definition)."""
    studies = [s for s in res.studies if s.estimable]
    scale = math.log if res.settings.ratio else float
    theta = scale(res.total.estimate)
    tau2 = res.heterogeneity.tau2
    xs, ys = [], []
    for i, s in enumerate(studies):
        xs.append((scale(s.estimate) - theta) ** 2 / (s.se**2 + tau2))
        without = metapool.analyse([t.data for j, t in enumerate(studies) if j != i], **options)
        ys.append((scale(without.total.estimate) - theta) ** 2 / without.total.se**2)
    return xs, ys


@pytest.mark.parametrize(
    ("make", "options"),
    [
        (metapool.examples.aspirin, {"measure": "OR"}),
        (metapool.examples.aspirin, {"measure": "RR", "model": "random"}),
        (
            metapool.examples.stem_cell_oa_pain,
            {"measure": "SMD", "model": "random", "tau2": "REML"},
        ),
        (metapool.examples.stem_cell_oa_pain, {"measure": "MD", "hksj": True, "model": "random"}),
    ],
)
def test_baujat_coordinates_match_separate_analyses(make: Any, options: dict[str, Any]) -> None:
    records = [attrs.evolve(r, subgroup=None) for r in make()]
    res = metapool.analyse(records, **options)
    points = baujat_points(res)
    xs, ys = _by_hand(res, **options)
    assert points.heterogeneity == pytest.approx(xs, rel=1e-9)
    assert points.influence == pytest.approx(ys, rel=1e-9)
    fig = baujat(res)
    assert scatter(fig.axes[0], "studies") == pytest.approx(np.column_stack([xs, ys]))
    labels = [t for t in fig.axes[0].texts if t.get_gid() == "label"]
    assert sorted(t.get_text() for t in labels) == sorted(points.study)


def test_baujat_fixed_iv_x_adds_up_to_q_and_needs_two_studies() -> None:
    res = metapool.analyse(metapool.examples.aspirin(), measure="OR", method="IV")
    assert baujat_points(res).heterogeneity.sum() == pytest.approx(res.heterogeneity.q)
    assert baujat(res).axes[0].get_xlabel() == "Contribution to Overall Heterogeneity"
    one = metapool.analyse(metapool.examples.aspirin()[:1], measure="OR")
    with pytest.raises(InputError, match="at least 2"):
        baujat(one)


def test_labbe() -> None:
    res = with_double_zero()
    fig = labbe(res)
    ax = fig.axes[0]
    offsets = scatter(ax, "studies")
    assert len(offsets) == 3
    # a point per study at (control risk, experimental risk); the double-zero study has none
    shown = metapool.examples.aspirin()[:3]
    risks = [[s.events_ctrl / s.total_ctrl, s.events_exp / s.total_exp] for s in shown]
    assert offsets == pytest.approx(np.array(risks), rel=1e-12)
    assert risks[0] == [67 / 624, 49 / 615]
    sizes = areas(ax, "studies")
    assert sizes[2] > sizes[0]  # MRC-2 weighs most
    (curve,) = [line for line in ax.lines if line.get_gid() == "pooled"]
    x, y = xy(curve)
    assert y[1:] / x[1:] == pytest.approx(res.total.estimate)  # a risk ratio line
    assert [line.get_gid() for line in ax.lines].count("equality") == 1
    with pytest.raises(InputError, match="dichotomous"):
        labbe(mean_difference())


def test_labbe_odds_ratio_curve() -> None:
    res = aspirin()
    (curve,) = [line for line in labbe(res).axes[0].lines if line.get_gid() == "pooled"]
    pc, pe = (v[1:] for v in xy(curve))
    odds_ratio = pe / (1 - pe) / (pc / (1 - pc))
    assert odds_ratio == pytest.approx(res.total.estimate)

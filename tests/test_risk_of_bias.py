"""Risk of bias: judgements read from .rm5 files and data packages, built in Python, drawn."""

from __future__ import annotations

import gc
import zipfile
from pathlib import Path

import pytest
from _helpers import drawing
from revman_files import RM5, ZIP, data, element, example, named, outcome, review, write

import metapool
from metapool import InputError
from metapool.io.risk_of_bias import Judgement, RiskOfBias, read_risk_of_bias_csv
from metapool.plots.risk_of_bias import ROB_COLOURS


def _items() -> str:
    """Two domains as RevMan 5 writes them: a study-level one and a group-level one."""
    sequence = element(
        "QUALITY_ITEM",
        {"ID": "QIT-01", "LEVEL": "STUDY", "NO": 1},
        named("NAME", "Random sequence generation (selection bias)"),
        element(
            "QUALITY_ITEM_DATA",
            None,
            element(
                "QUALITY_ITEM_DATA_ENTRY",
                {"RESULT": "YES", "STUDY_ID": "STD-A"},
                "<DESCRIPTION><P>Computer <B>random</B> numbers.</P><P>Central.</P></DESCRIPTION>",
            ),
            element(
                "QUALITY_ITEM_DATA_ENTRY",
                {"RESULT": "NO", "STUDY_ID": "STD-B"},
                "<DESCRIPTION><P>Alternation</P></DESCRIPTION>",
            ),
            element(
                "QUALITY_ITEM_DATA_ENTRY",
                {"RESULT": "UNKNOWN", "STUDY_ID": "STD-C"},
                "<DESCRIPTION/>",
            ),
        ),
    )
    blinding = element(
        "QUALITY_ITEM",
        {"ID": "QIT-02", "LEVEL": "GROUP", "NO": 2},
        named("NAME", "Blinding of outcome assessment (detection bias)"),
        element(
            "QUALITY_ITEM_DATA",
            None,
            element("QUALITY_ITEM_DATA_ENTRY_GROUP", {"ID": "QIG-01"}, named("NAME", "Mortality")),
            element(
                "QUALITY_ITEM_DATA_ENTRY",
                {"RESULT": "YES", "STUDY_ID": "STD-A", "GROUP_ID": "QIG-01"},
                "<DESCRIPTION><P>Death is objective</P></DESCRIPTION>",
            ),
        ),
    )
    return (
        "<CHARACTERISTICS_OF_STUDIES><QUALITY_ITEMS>"
        + sequence
        + blinding
        + "</QUALITY_ITEMS></CHARACTERISTICS_OF_STUDIES>"
    )


def _rm5(tmp_path: Path, items: str) -> Path:
    rows = [
        data("DICH", i, EVENTS_1=2, TOTAL_1=20, EVENTS_2=4, TOTAL_2=20) for i in ("STD-A", "STD-B")
    ]
    text = review(outcome("DICH", 1, "Death", rows, EFFECT_MEASURE="RR", METHOD="MH"))
    return write(
        tmp_path, text.replace("</STUDIES_AND_REFERENCES>", "</STUDIES_AND_REFERENCES>" + items)
    )


def test_rm5_judgements_support_and_groups(tmp_path: Path) -> None:
    rob = metapool.read_rm5(_rm5(tmp_path, _items())).risk_of_bias
    assert rob is not None
    assert rob.judgements == (
        Judgement(
            "Alpha",
            "Random sequence generation (selection bias)",
            "low",
            "Computer random numbers.\nCentral.",
        ),
        Judgement("Beta", "Random sequence generation (selection bias)", "high", "Alternation"),
        Judgement("Gamma", "Random sequence generation (selection bias)", "unclear", ""),
        Judgement(
            "Alpha",
            "Blinding of outcome assessment (detection bias): Mortality",
            "low",
            "Death is objective",
        ),
    )
    assert rob.studies == ("Alpha", "Beta", "Gamma")
    share = rob.percentages()["Random sequence generation (selection bias)"]
    assert share == pytest.approx({"low": 100 / 3, "unclear": 100 / 3, "high": 100 / 3})
    # the analyses still load, with the studies named as in the judgements
    res = metapool.read_rm5(_rm5(tmp_path, _items())).outcome("1.1").analyse()
    assert [s.study for s in res.studies] == ["Alpha", "Beta"]


def test_rm5_bad_result_names_the_study(tmp_path: Path) -> None:
    items = _items().replace('RESULT="NO"', 'RESULT="MAYBE"')
    with pytest.raises(InputError, match=r"'STD-B'.*RESULT 'MAYBE' is not YES, NO"):
        metapool.read_rm5(_rm5(tmp_path, items))


def test_rm5_without_judgements(tmp_path: Path) -> None:
    assert metapool.read_rm5(_rm5(tmp_path, "")).risk_of_bias is None


def test_real_review_judgements_equal_its_file() -> None:
    rob = metapool.read_rm5(example(RM5)).risk_of_bias
    assert rob is not None
    # the file judges allocation concealment only, every study UNKNOWN
    assert rob.domains == ("Allocation concealment?",)
    assert len(rob.judgements) == 12 and {j.judgement for j in rob.judgements} == {"unclear"}
    assert rob.studies[:3] == ("AMIS", "CDP", "Davis") and "ISIS-2" in rob.studies
    # RevMan Web wrote "Not applicable" for every study: no judgement
    assert metapool.read_datapackage(example(ZIP)).risk_of_bias is None


def _package(tmp_path: Path, rob_csv: str) -> Path:
    source = example(ZIP)
    path = tmp_path / "package.zip"
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(path, "w") as new:
        for name in old.namelist():
            body = old.read(name)
            if name.endswith("-risk-of-bias.csv"):
                body = ("\ufeff" + rob_csv).encode("utf-8")
            new.writestr(name, body)
    return path


ROB_CSV = (
    "Study,Domain (judgement): Allocation concealment,Domain (support): Allocation concealment,"
    "Domain (judgement): Blinding,Domain (support): Blinding\r\n"
    "AMIS,Low risk,Sealed envelopes,High risk,Open label\r\n"
    "CDP,Unclear risk,,Not applicable,\r\n"
)


def test_data_package_judgements(tmp_path: Path) -> None:
    rob = metapool.read_datapackage(_package(tmp_path, ROB_CSV)).risk_of_bias
    assert rob is not None
    assert rob.judgements == (
        Judgement("AMIS", "Allocation concealment", "low", "Sealed envelopes"),
        Judgement("AMIS", "Blinding", "high", "Open label"),
        Judgement("CDP", "Allocation concealment", "unclear", ""),
    )
    bad = ROB_CSV.replace("High risk", "Probably fine")
    with pytest.raises(
        InputError, match="line 2: study 'AMIS', 'Blinding': judgement 'Probably fine'"
    ):
        metapool.read_datapackage(_package(tmp_path, bad))
    path = tmp_path / "risk-of-bias.csv"
    path.write_text(ROB_CSV, encoding="utf-8")
    assert read_risk_of_bias_csv(path) == rob


def test_records_from_python() -> None:
    rob = RiskOfBias.from_records(
        [
            {"study": "A", "domain": "D1", "judgement": "Low risk", "support": "ok"},
            ("B", "D1", "high"),
            Judgement("A", "D2", "unclear"),
        ]
    )
    assert rob.judgement("A", "D1") == "low" and rob.judgement("B", "D2") is None
    with pytest.raises(InputError, match="judgement 'good' is not one of"):
        RiskOfBias.from_records([("A", "D1", "good")])
    with pytest.raises(InputError, match="record 0: no judgement"):
        RiskOfBias.from_records([{"study": "A", "domain": "D1"}])
    with pytest.raises(InputError, match="judged twice"):
        RiskOfBias.from_records([("A", "D1", "low"), ("A", "D1", "high")])
    drawing()
    with pytest.raises(InputError, match="holds no judgement"):
        RiskOfBias(()).graph()
    pytest.importorskip("pandas")
    assert list(rob.to_dataframe()["judgement"]) == ["low", "high", "unclear"]


def _rob() -> RiskOfBias:
    return RiskOfBias.from_records(
        [
            ("Alpha 2001", "Random sequence generation (selection bias)", "low"),
            ("Beta 2002", "Random sequence generation (selection bias)", "low"),
            ("Gamma 2003", "Random sequence generation (selection bias)", "high"),
            ("Delta 2004", "Random sequence generation (selection bias)", "unclear"),
            ("Alpha 2001", "Blinding of participants and personnel (performance bias)", "high"),
            ("Beta 2002", "Blinding of participants and personnel (performance bias)", "unclear"),
        ]
    )


def test_graph_bars_are_the_percentages(tmp_path: Path) -> None:
    matplotlib = drawing()
    fig = _rob().graph()
    ax = fig.axes[0]
    bars = {(p.get_gid(), round(p.get_y() + p.get_height() / 2)): p for p in ax.patches}
    # domain 0: 2 of 4 low, 1 unclear, 1 high; domain 1: 1 unclear, 1 high
    assert bars[("low", 0)].get_width() == pytest.approx(50.0)
    assert bars[("unclear", 0)].get_x() == pytest.approx(50.0)
    assert bars[("high", 0)].get_x() == pytest.approx(75.0)
    assert bars[("unclear", 1)].get_width() == pytest.approx(50.0)
    assert ("low", 1) not in bars
    assert matplotlib.colors.to_hex(bars[("high", 0)].get_facecolor()) == ROB_COLOURS["high"]
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels[0] == "Random sequence generation (selection bias)"
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert legend == ["Low risk of bias", "Unclear risk of bias", "High risk of bias"]
    # every label fits in the figure
    fig.savefig(tmp_path / "graph.png", dpi=80)
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    for text in ax.get_yticklabels():
        assert text.get_window_extent(renderer).x0 >= 0


def test_summary_traffic_lights(tmp_path: Path) -> None:
    drawing()
    fig = _rob().summary()
    ax = fig.axes[0]
    lights = [t.get_text() for t in ax.texts if t.get_gid() == "judgement"]
    # rows by study, columns by domain; Gamma and Delta have no blinding judgement
    assert lights == ["+", "−", "+", "?", "−", "?"]
    domains = [t.get_text() for t in ax.texts if t.get_gid() == "domain"]
    assert domains == list(_rob().domains)
    circles = [p for p in ax.patches if p.get_gid() in ROB_COLOURS]
    assert [p.get_gid() for p in circles] == ["low", "high", "low", "unclear", "high", "unclear"]
    fig.savefig(tmp_path / "summary.png", dpi=80)
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    width, height = fig.bbox.width, fig.bbox.height
    for text in ax.texts:
        box = text.get_window_extent(renderer)
        assert box.x0 >= 0 and box.y0 >= 0 and box.x1 <= width + 1 and box.y1 <= height + 1


def test_figures_keep_no_pyplot_state() -> None:
    drawing()
    import matplotlib.pyplot as plt

    plt.close("all")
    for _ in range(5):
        _rob().graph()
        _rob().summary()
    gc.collect()
    assert plt.get_fignums() == []


def test_forest_plot_with_risk_of_bias_columns() -> None:
    drawing()
    res = metapool.analyse(metapool.examples.aspirin(), measure="OR", method="MH")
    domains = ["Random sequence generation (selection bias)", "Other bias"]
    rob = RiskOfBias.from_records(
        [
            ("MRC-1", domains[0], "low"),
            ("MRC-1", domains[1], "high"),
            ("CDP", domains[0], "unclear"),
        ]
    )
    plain = res.forest()
    fig = res.forest(risk_of_bias=rob)
    table = fig.axes[0]
    letters = [t.get_text() for t in table.texts if t.get_gid() == "bias-letter"]
    assert letters == ["A", "B"]
    symbols = [t.get_text() for t in table.texts if t.get_gid() == "bias-symbol"]
    assert symbols == ["+", "−", "?"]  # MRC-1: A, B; CDP: A; the others are not judged
    lights = [line.get_gid() for line in table.lines if str(line.get_gid()).startswith("bias-")]
    assert lights == ["bias-low", "bias-high", "bias-unclear"]
    legend = [t.get_text() for t in table.texts if t.get_gid() == "bias-legend"]
    assert legend == ["Risk of bias legend", f"(A) {domains[0]}", f"(B) {domains[1]}"]
    # the columns and the legend widen and lengthen the figure; nothing leaves it
    assert fig.get_figwidth() > plain.get_figwidth()
    assert fig.get_figheight() > plain.get_figheight()
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    for text in table.texts:
        box = text.get_window_extent(renderer)
        assert box.x0 >= 0 and box.x1 <= fig.bbox.width + 1 and box.y0 >= 0


def test_risk_of_bias_header_fits_over_one_column() -> None:
    drawing()
    res = metapool.analyse(metapool.examples.aspirin(), measure="OR", method="MH")
    fig = res.forest(risk_of_bias=RiskOfBias.from_records([("MRC-1", "Other bias", "low")]))
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    (header,) = [t for t in fig.axes[0].texts if t.get_text() == "Risk of Bias"]
    assert header.get_window_extent(renderer).x1 <= fig.bbox.width

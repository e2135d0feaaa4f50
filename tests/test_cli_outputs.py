"""The command line's outputs for reviewers: --report, --forest, other methods, several files."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from revman_files import CSV, RM5, example

import metapool
from metapool.cli import main


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"metapool {metapool.__version__}"


def test_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("matplotlib")
    out = tmp_path / "report.html"
    assert main([str(example(RM5)), "--report", str(out)]) == 0
    assert "Analysis 1.1:" in capsys.readouterr().out  # the tables are printed as well
    page = out.read_text(encoding="utf-8")
    assert page.count('<section class="analysis"') == 2 and page.count("<svg") == 4
    assert "agrees with RevMan" in page and "Risk of bias graph" in page
    # only the chosen outcomes
    assert main([str(example(RM5)), "--outcome", "1.2", "--report", str(out)]) == 0
    page = out.read_text(encoding="utf-8")
    assert page.count('<section class="analysis"') == 1 and "Analysis 1.2:" in page


def test_forest_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("matplotlib")
    folder = tmp_path / "plots"
    assert main([str(example(RM5)), "--forest", str(folder), "--format", "svg"]) == 0
    capsys.readouterr()
    assert sorted(p.name for p in folder.iterdir()) == ["analysis-1.1.svg", "analysis-1.2.svg"]
    svg = (folder / "analysis-1.1.svg").read_text(encoding="utf-8")
    assert "<svg" in svg and 'id="square' in svg
    assert main([str(example(CSV)), "--forest", str(folder), "--outcome", "1.1"]) == 0
    assert (folder / "analysis-1.1.png").read_bytes()[:4] == b"\x89PNG"


def test_other_methods(capsys: pytest.CaptureFixture[str]) -> None:
    path = str(example(RM5))
    assert main([path, "--outcome", "1.1", "--preset", "revman-web"]) == 0
    out = capsys.readouterr().out
    assert "Random, 95% CI" in out and "Prediction interval:" in out
    assert "Test for overall effect: t = " in out  # Hartung-Knapp-Sidik-Jonkman
    expected = metapool.read_rm5(path).outcome("1.1").analyse(**metapool.REVMAN_WEB)
    t = expected.total
    assert f"{t.estimate:.2f} [{t.ci_lower:.2f}, {t.ci_upper:.2f}]" in out
    assert main([path, "--outcome", "1.1", "--model", "random", "--tau2", "REML"]) == 0
    out = capsys.readouterr().out
    reml = metapool.read_rm5(path).outcome("1.1").analyse(model="random", tau2="REML")
    assert f"Tau² = {reml.heterogeneity.tau2:.2f}" in out and "M-H, Random" in out
    assert main([path, "--check", "--model", "random"]) == 2
    assert "--check compares the files' own settings" in capsys.readouterr().err
    assert main([path, "--tau2", "XX"]) == 2


def test_several_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    table = tmp_path / "all.csv"
    files = [str(example(RM5)), str(example(CSV))]
    assert main([*files, "--csv", str(table)]) == 0
    out = capsys.readouterr().out
    assert out.count("== ") == 2 and out.count("Analysis 1.1:") == 2
    with table.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert {r["file"] for r in rows} == set(files)
    assert next(iter(rows[0])) == "file"
    assert main([*files, "--check"]) == 0
    pytest.importorskip("matplotlib")  # the report draws the forest plots
    report = tmp_path / "both.html"
    assert main([*files, "--report", str(report)]) == 0
    page = report.read_text(encoding="utf-8")
    assert page.count('<section class="analysis"') == 4 and 'id="r2-analysis-1-2"' in page


def test_outputs_need_a_file(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--report", "x.html"]) == 2
    assert "need a FILE" in capsys.readouterr().err


def test_tidy_csv_of_ones_own(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("pandas")
    path = tmp_path / "trials.csv"
    path.write_text(
        "study,events_exp,total_exp,events_ctrl,total_ctrl,subgroup\n"
        "MRC-1,49,615,67,624,early\nCDP,44,758,64,771,early\nMRC-2,102,832,126,850,late\n",
        encoding="utf-8",
    )
    assert main([str(path), "--kind", "dichotomous", "--measure", "OR", "--method", "MH"]) == 0
    out = capsys.readouterr().out
    studies = [
        metapool.Dichotomous("MRC-1", 49, 615, 67, 624, subgroup="early"),
        metapool.Dichotomous("CDP", 44, 758, 64, 771, subgroup="early"),
        metapool.Dichotomous("MRC-2", 102, 832, 126, 850, subgroup="late"),
    ]
    expected = metapool.analyse(studies, measure="OR", method="MH")
    assert str(expected) in out
    assert main([str(path), "--kind", "dichotomous"]) == 2
    assert "needs --measure" in capsys.readouterr().err
    assert main([str(path), "--kind", "continuous", "--measure", "MD"]) == 2
    assert "no column 'mean_exp'" in capsys.readouterr().err
    pytest.importorskip("matplotlib")  # the report draws the forest plots
    report = tmp_path / "r.html"
    assert (
        main([str(path), "--kind", "dichotomous", "--measure", "RR", "--report", str(report)]) == 0
    )
    assert "Risk Ratio M-H, Fixed, 95% CI" in report.read_text(encoding="utf-8")

"""The command line: python -m metapool [FILE] [--check] [--outcome N.M] [--csv OUT]."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest
from revman_files import CSV, RM5, ZIP, data, example, large_review, outcome, review, write

from metapool.cli import main


def test_no_argument_prints_the_examples(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 0
    out = capsys.readouterr().out
    assert "Aspirin after myocardial infarction" in out
    assert "Odds Ratio M-H, Fixed, 95% CI" in out
    assert "Total (95% CI)" in out and "0.90 [0.84, 0.96]" in out
    assert "Std. Mean Difference IV, Random, 95% CI" in out
    assert "Test for subgroup differences" in out


def test_file_prints_every_outcome(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(example(CSV))]) == 0
    out = capsys.readouterr().out
    assert "Analysis 1.1: Comparison 1 Examples from Fleiss (1993), Outcome 1 Aspirin" in out
    assert "Analysis 1.2:" in out and "Mean Difference IV, Fixed, 95% CI" in out
    assert "-0.71 [-1.26, -0.16]" in out  # RevMan: -0.70938839 [-1.25848502, -0.16029176]


def test_outcome_selection(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(example(RM5)), "--outcome", "1.2"]) == 0
    out = capsys.readouterr().out
    assert "Analysis 1.1" not in out and "Std. Mean Difference IV, Fixed, 95% CI" in out
    assert (
        main(
            [
                str(example(RM5)),
                "--outcome",
                "Aspirin for Preventing Death after Myocardial Infarction",
            ]
        )
        == 0
    )
    assert "Analysis 1.2" not in capsys.readouterr().out


@pytest.mark.parametrize("name", [RM5, CSV, ZIP])
def test_check_passes_on_the_real_files(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(example(name)), "--check"]) == 0
    out = capsys.readouterr().out
    assert "all within tolerance" in out and "1.1 Aspirin" in out and ": OK;" in out


def test_check_fails_beyond_tolerance(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    stored = (
        Path(example(RM5))
        .read_bytes()
        .replace(b'EFFECT_SIZE="0.8968655609130709"', b'EFFECT_SIZE="0.8968656609130709"')
    )
    path = tmp_path / "tampered.rm5"
    path.write_bytes(stored)
    assert main([str(path), "--check"]) == 1
    out = capsys.readouterr().out
    assert "DIFFERENCES FOUND" in out and "FAIL" in out and "estimate" in out


def test_csv_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "results.csv"
    assert main([str(example(CSV)), "--csv", str(out)]) == 0
    capsys.readouterr()
    with out.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 7 + 1 + 5 + 1
    first, total = rows[0], rows[7]
    assert (first["comparison"], first["outcome"], first["row"], first["study"]) == (
        "1",
        "1",
        "study",
        "MRC-1",
    )
    assert first["events_exp"] == "49" and first["measure"] == "OR"
    assert total["row"] == "total" and abs(float(total["estimate"]) - 0.89686556) < 5e-9
    assert total["q"] and not first["q"]
    assert rows[-1]["mean_exp"] == "" and rows[-2]["mean_exp"] == "6.5"
    header = list(rows[0])
    assert header.index("mean_exp") < header.index("estimate")  # data before results
    assert main([str(example(CSV)), "--check", "--csv", str(out)]) == 0


def test_errors_exit_2_without_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([str(tmp_path / "missing.rm5")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("metapool: error:") and "missing.rm5" in err and "Traceback" not in err
    text = review(
        outcome(
            "DICH",
            1,
            "D",
            [data("DICH", "STD-A", EVENTS_1=1, TOTAL_1=10, EVENTS_2=2, TOTAL_2=10)],
            EFFECT_MEASURE="OR",
        )
    )
    truncated = write(tmp_path, text[:300])
    assert main([str(truncated)]) == 2
    assert "line" in capsys.readouterr().err
    assert main([str(example(RM5)), "--outcome", "7.7"]) == 2
    assert "no outcome '7.7'" in capsys.readouterr().err
    assert main(["--check"]) == 2
    assert "need a FILE" in capsys.readouterr().err
    assert main(["--no-such-option"]) == 2
    assert main([str(example(CSV)), "--csv", str(tmp_path / "no" / "dir.csv")]) == 2
    assert "cannot write" in capsys.readouterr().err


def test_broken_outcome_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = data("DICH", "STD-A", EVENTS_1=1, TOTAL_1=10, EVENTS_2=2, TOTAL_2=10)
    bad = data("DICH", "STD-B", EVENTS_1="x", TOTAL_1=10, EVENTS_2=2, TOTAL_2=10)
    path = write(
        tmp_path,
        review(
            outcome("DICH", 1, "Good", [good], EFFECT_MEASURE="OR"),
            outcome("DICH", 2, "Bad", [bad], EFFECT_MEASURE="OR"),
        ),
    )
    assert main([str(path)]) == 2  # 1 is for values beyond tolerance only
    captured = capsys.readouterr()
    assert "Analysis 1.1" in captured.out and "Not analysed" in captured.out
    assert "outcome 1.2 not analysed" in captured.err and "EVENTS_1 = 'x'" in captured.err
    assert len(captured.err.splitlines()) == 1
    assert main([str(path), "--check"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("metapool: error: outcome 1.2 not checked:")


def test_python_dash_m(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "metapool", str(example(RM5)), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "all within tolerance" in done.stdout


def test_review_without_analyses(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(write(tmp_path, review()))]) == 0
    assert "the review has no analyses" in capsys.readouterr().out
    assert main([str(write(tmp_path, review())), "--check"]) == 3
    assert "--check compared nothing" in capsys.readouterr().err


def test_check_that_compared_nothing_exits_3(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = [data("DICH", "STD-A", EVENTS_1=1, TOTAL_1=10, EVENTS_2=2, TOTAL_2=10)]
    path = write(tmp_path, review(outcome("DICH", 1, "D", rows, EFFECT_MEASURE="OR")))
    assert main([str(path), "--check"]) == 3  # no stored results (CALCULATED_DATA="NO")
    captured = capsys.readouterr()
    assert "0 of 1 outcomes compared" in captured.out
    assert captured.err == (
        "metapool: error: --check compared nothing: the file stores no RevMan results "
        "for these outcomes\n"
    )


@pytest.mark.parametrize(
    "content",
    [b"PK\x03\x04" + bytes(40), b"\xef\xbb\xbf<?xml version='1.0' encoding='klingon'?><a/>", b""],
)
def test_hostile_files_exit_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes
) -> None:
    path = tmp_path / "input"
    path.write_bytes(content)
    for argv in ([str(path)], [str(path), "--check"], ["/dev/zero"], [str(tmp_path)]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.startswith("metapool: error:") and err.count("\n") == 1, err


SCRIPT = "import sys; from metapool.cli import main; sys.exit(main(sys.argv[1:]))"


@pytest.mark.parametrize("command", [["-m", "metapool"], ["-c", SCRIPT]])
def test_output_into_a_closed_pipe(tmp_path: Path, command: list[str]) -> None:
    """``metapool FILE | head``, as ``python -m`` and as the console script runs it."""
    path = write(tmp_path, large_review(40, 0))
    with subprocess.Popen(
        [sys.executable, *command, str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    ) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        assert proc.stdout.readline().startswith(b"Analysis 1.1")
        proc.stdout.close()  # more than a pipe's buffer is still to come
        err = proc.stderr.read().decode()
        status = proc.wait()
    assert "Traceback" not in err and "BrokenPipeError" not in err and err == ""
    assert status in (0, 141)


def test_a_missing_extra_is_one_line_with_the_install_hint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from metapool import examples

    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if the plot extra were missing
    path = str(examples.path("aspirin.rm5"))
    assert main([path, "--forest", str(tmp_path / "plots")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "pip install 'metapool[plot]'" in err
    assert "bug" not in err

"""Command line: ``python -m metapool [FILE ...] [--check] [--outcome N.M] [--csv OUT]``.

Without FILE it analyses the bundled examples. With RevMan files (``.rm5``,
RevMan 5 CSV export or RevMan Web data package) it prints every outcome's
RevMan-style table, or with ``--check`` how closely metapool reproduces the
results RevMan stored. ``--report`` writes one HTML page of every analysis,
``--forest`` a forest plot per outcome; ``--model``, ``--tau2`` and
``--preset`` re-run the outcomes with other methods than the file's.

Exit codes: 0 success; 1 ``--check`` found values beyond tolerance; 2 the
file, an outcome of it, or the arguments are unusable (one line on stderr per
problem, never a traceback); 3 ``--check`` found nothing to compare.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import math
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

import attrs

from metapool import __version__, examples
from metapool._extras import pandas
from metapool.analysis import REVMAN_WEB, analyse
from metapool.errors import InputError
from metapool.io import Comparison, Outcome, Review, read_review, result_rows
from metapool.io.dataframe import RESULT_COLUMNS
from metapool.results import MetaAnalysis
from metapool.vocabulary import TAU2_METHODS, DataType

__all__ = ["main"]

_PRESETS = {"revman-web": REVMAN_WEB}
_ID_COLUMNS = (
    "file",
    "comparison",
    "outcome",
    "outcome_name",
    "data_type",
    "measure",
    "method",
    "model",
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="metapool",
        description=(
            "Re-run the analyses of a RevMan review (.rm5 file, RevMan 5 'Data and analyses' "
            "CSV export, or RevMan Web data package .zip). Without FILE: the bundled examples."
        ),
        epilog=(
            "exit status: 0 ok; 1 --check found differences beyond tolerance; 2 unusable "
            "file, outcome or arguments; 3 --check found no stored results to compare"
        ),
    )
    parser.add_argument("file", nargs="*", metavar="FILE", help="RevMan files to analyse")
    parser.add_argument(
        "--check",
        action="store_true",
        help="compare with the results stored in the file instead of printing tables",
    )
    parser.add_argument(
        "--outcome",
        action="append",
        metavar="N.M",
        help="only this outcome: comparison.outcome number, RevMan id or name (repeatable)",
    )
    parser.add_argument(
        "--csv", metavar="OUT", help="also write the results as a tidy CSV table to OUT"
    )
    parser.add_argument(
        "--rtol",
        type=float,
        default=1e-8,
        help="relative tolerance of --check for full-precision files (default 1e-8)",
    )
    parser.add_argument(
        "--report", metavar="OUT.html", help="also write every analysis to one HTML page"
    )
    parser.add_argument(
        "--forest", metavar="DIR", help="also draw a forest plot per outcome into DIR"
    )
    parser.add_argument(
        "--format",
        choices=("png", "svg", "pdf"),
        default="png",
        help="file format of --forest (default png)",
    )
    parser.add_argument(
        "--model", choices=("fixed", "random"), help="analyse every outcome with this model"
    )
    parser.add_argument("--tau2", choices=TAU2_METHODS, help="tau² estimator (random effects)")
    parser.add_argument(
        "--preset",
        choices=tuple(_PRESETS),
        help="re-run under other methods: revman-web is RevMan Web's random-effects methods",
    )
    parser.add_argument(
        "--kind",
        choices=tuple(t.value for t in DataType),
        help="read each FILE as a tidy CSV of your own: one row per study, columns named as "
        "the record fields (study, events_exp, total_exp, ...; subgroup optional)",
    )
    parser.add_argument("--measure", help="effect measure of a tidy CSV (e.g. OR, RR, MD, SMD)")
    parser.add_argument("--method", help="pooling method of a tidy CSV (MH, IV, PETO)")
    parser.add_argument("--version", action="version", version=f"metapool {__version__}")
    return parser


def _tidy(path: str, args: argparse.Namespace) -> Review:
    """A tidy CSV of study rows as a review of one outcome (read with pandas)."""
    from metapool.io import from_dataframe

    try:
        pd = pandas()
    except ImportError as exc:  # pragma: no cover - pandas is installed in the test environment
        raise InputError(f"a tidy CSV: {exc}") from None

    if not args.measure:
        raise InputError(f"{path}: a tidy CSV (--kind) needs --measure")
    try:
        frame = pd.read_csv(
            path, dtype={"study": str, "subgroup": str}, keep_default_na=False, na_values=[""]
        )
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: cannot read the CSV ({exc})") from exc
    subgroup = "subgroup" if "subgroup" in frame.columns else None
    try:
        studies = tuple(from_dataframe(frame, args.kind, subgroup=subgroup))
    except InputError as exc:
        raise InputError(f"{path}: {exc}") from exc
    settings = {"measure": args.measure, **({"method": args.method} if args.method else {})}
    settings["number"] = None  # a table of one's own has no RevMan numbers to head subgroups
    outcome = Outcome(
        1,
        1,
        Path(path).stem,
        DataType(args.kind),
        studies,
        settings,
        subgroups=subgroup is not None,
    )
    return Review(Path(path).stem, (), (Comparison(1, Path(path).name, (outcome,)),), path, "csv")


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The analyse options that replace the files' settings."""
    chosen: dict[str, Any] = dict(_PRESETS[args.preset]) if args.preset else {}
    if args.model:
        chosen["model"] = args.model
    if args.tau2:
        chosen["tau2"] = args.tau2
    return chosen


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status.

    Examples
    --------
    >>> from metapool import examples
    >>> path = str(examples.path("aspirin.rm5"))
    >>> main([path, "--check", "--outcome", "1.1"])  # doctest: +ELLIPSIS
    /...aspirin.rm5: 1 of 1 outcomes compared, all within tolerance
    1.1 All-cause death: OK; 45 values, ...
    0
    """
    try:
        return _run(argv)
    except BrokenPipeError:  # the reader (e.g. head) stopped early: not an error of ours
        _silence_stdout()
        return 141  # as a shell reports a command ended by SIGPIPE
    except KeyboardInterrupt:
        return 130
    except ImportError as exc:  # an optional extra is missing: its message says how to install it
        _error(str(exc))
        return 2
    except Exception as exc:  # a bug: still one line, not a traceback
        _error(f"unexpected {type(exc).__name__}: {exc} (a bug in metapool: please report it)")
        return 2


def _run(argv: Sequence[str] | None) -> int:
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a usage error argparse has reported
        return int(exc.code or 0)
    if not (math.isfinite(args.rtol) and args.rtol >= 0):
        parser.print_usage(sys.stderr)
        _error(f"--rtol must be a non-negative number, got {args.rtol}")
        return 2
    if not args.file:
        if args.check or args.outcome or args.csv or args.report or args.forest:
            parser.print_usage(sys.stderr)
            _error("--check, --outcome, --csv, --report and --forest need a FILE")
            return 2
        _examples(sys.stdout)
        return 0
    overrides = _overrides(args)
    if overrides and args.check:
        _error(
            "--check compares the files' own settings with RevMan's results; "
            "--model, --tau2 and --preset change them"
        )
        return 2
    status = 0
    done: list[tuple[Review, list[Outcome], dict[str, Any]]] = []
    for path in args.file:
        try:
            review = _tidy(path, args) if args.kind else read_review(path)
            outcomes = (
                [review.outcome(s) for s in args.outcome] if args.outcome else list(review.outcomes)
            )
        except InputError as exc:
            _error(str(exc))
            return 2
        if len(args.file) > 1:
            print(f"== {review.source}: {review.title}")
        if not outcomes:
            print(f"{review.source}: the review has no analyses")
            if args.check:
                _error(f"{review.source}: --check compared nothing: the review has no analyses")
                status = _worse(status, 3)
            continue
        # --check re-runs the outcomes itself; the tables and outputs need the results here
        wanted = args.csv or args.report or args.forest or not args.check
        results = {o.key: _analyse(o, overrides) for o in outcomes} if wanted else {}
        if args.check:
            status = _worse(status, _check(review, outcomes, args.rtol))
        else:
            status = _worse(status, _tables(review, outcomes, results))
        done.append((review, outcomes, results))
    try:
        if args.csv:
            _write_csv(args.csv, done, several=len(args.file) > 1)
        if args.forest:
            _write_forests(args.forest, args.format, done, several=len(args.file) > 1)
        if args.report:
            _write_report(args.report, done, overrides)
    except OSError as exc:
        _error(f"cannot write {exc.filename or args.csv}: {exc.strerror or exc}")
        return 2
    except InputError as exc:
        _error(str(exc))
        return 2
    sys.stdout.flush()  # a closed pipe shows here, inside the handler of main
    return status


#: exit statuses from the least to the most serious: a run reports its worst
_SEVERITY = (0, 3, 1, 2)


def _worse(a: int, b: int) -> int:
    return max(a, b, key=_SEVERITY.index)


def _error(message: str) -> None:
    """One line on stderr."""
    print(f"metapool: error: {' '.join(message.split())}", file=sys.stderr)


def _silence_stdout() -> None:
    """Send what is still buffered for a closed pipe to /dev/null (no error at exit)."""
    with contextlib.suppress(OSError, ValueError, AttributeError):  # not a real file
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def _check(review: Review, outcomes: list[Outcome], rtol: float) -> int:
    check = review.compare(rtol=rtol, outcomes=outcomes)
    print(check)
    if any(o.failures for o in check.outcomes):
        return 1
    broken = [o for o in check.outcomes if o.error is not None]
    for o in broken:
        _error(f"outcome {o.outcome.key} not checked: {o.error}")
    if broken:
        return 2
    if not any(o.checked for o in check.outcomes):
        _error("--check compared nothing: the file stores no RevMan results for these outcomes")
        return 3
    return 0


def _analyse(outcome: Outcome, overrides: dict[str, Any]) -> MetaAnalysis | str:
    """The outcome's result (not estimable without study data), or why it has none."""
    try:
        return outcome.analyse(**overrides)
    except InputError as exc:
        return str(exc)


def _examples(out: TextIO) -> None:
    print("Aspirin after myocardial infarction (Fleiss 1993): odds ratio, M-H, fixed", file=out)
    print(analyse(examples.aspirin(), measure="OR", method="MH"), file=out)
    print(file=out)
    print("Stem cells for knee osteoarthritis pain (invented data): SMD, random effects", file=out)
    print(analyse(examples.stem_cell_oa_pain(), measure="SMD", model="random"), file=out)


def _heading(review: Review, outcome: Outcome) -> str:
    names = {c.number: c.name for c in review.comparisons}
    comparison = names.get(outcome.comparison, "")
    return (
        f"Analysis {outcome.key}: Comparison {outcome.comparison} {comparison}, "
        f"Outcome {outcome.number} {outcome.name}"
    )


def _tables(review: Review, outcomes: list[Outcome], results: dict[str, Any]) -> int:
    status = 0
    for i, outcome in enumerate(outcomes):
        if i:
            print()
        print(_heading(review, outcome))
        res = results[outcome.key]
        if outcome.not_pooled is not None:  # nothing wrong: RevMan lists it unpooled too
            print(f"Not analysed: {outcome.not_pooled}.")
        elif isinstance(res, str):
            _error(f"outcome {outcome.key} not analysed: {res}")
            print("Not analysed (see the error message).")
            status = 2
        else:
            print(res)
    return status


def _cell(value: Any) -> Any:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return value


def _write_csv(
    path: str, done: list[tuple[Review, list[Outcome], dict[str, Any]]], several: bool
) -> None:
    rows: list[dict[str, Any]] = []
    for review, outcomes, results in done:
        for outcome in outcomes:
            res = results[outcome.key]
            if not isinstance(res, MetaAnalysis):
                continue
            ids = {
                "file": review.source if several else None,
                "comparison": outcome.comparison,
                "outcome": outcome.number,
                "outcome_name": outcome.name,
                "data_type": res.settings.data_type.value,
                "measure": res.settings.measure,
                "method": res.settings.method.value,
                "model": res.settings.model.value,
            }
            rows.extend({**ids, **row} for row in result_rows(res))
    seen = list(dict.fromkeys(key for row in rows for key in row))
    # every outcome's data fields before the result columns; a file column with several files
    first = _ID_COLUMNS if several else _ID_COLUMNS[1:]
    columns = [k for k in (*first, *seen) if k not in RESULT_COLUMNS and (several or k != "file")]
    columns = list(dict.fromkeys(columns)) + list(RESULT_COLUMNS)
    with open(path, "w", newline="", encoding="utf-8") as file:
        writer = csv.DictWriter(file, fieldnames=columns)
        writer.writeheader()
        writer.writerows({k: _cell(row.get(k)) for k in columns} for row in rows)


def _write_forests(
    folder: str,
    fmt: str,
    done: list[tuple[Review, list[Outcome], dict[str, Any]]],
    several: bool,
) -> None:
    """One forest plot per analysed outcome: ``DIR/analysis-1.2.png`` (with several
    files ``DIR/<file name>-analysis-1.2.png``)."""
    from metapool.report_html import outcome_forest

    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    for review, outcomes, results in done:
        stem = f"{Path(review.source).stem}-" if several else ""
        for outcome in outcomes:
            res = results[outcome.key]
            if isinstance(res, MetaAnalysis):
                fig = outcome_forest(outcome, res, review.risk_of_bias)
                fig.savefig(out / f"{stem}analysis-{outcome.key}.{fmt}", dpi=150)


def _write_report(
    path: str,
    done: list[tuple[Review, list[Outcome], dict[str, Any]]],
    overrides: dict[str, Any],
) -> None:
    from metapool.report_html import write_report

    reviews = [
        attrs.evolve(review, comparisons=_only(review, outcomes)) for review, outcomes, _ in done
    ]
    write_report(reviews[0] if len(reviews) == 1 else reviews, path, overrides=overrides)


def _only(review: Review, outcomes: list[Outcome]) -> tuple[Comparison, ...]:
    """The review's comparisons with the chosen outcomes only (``--outcome``)."""
    keys = {o.key for o in outcomes}
    kept = (
        attrs.evolve(c, outcomes=tuple(o for o in c.outcomes if o.key in keys))
        for c in review.comparisons
    )
    return tuple(c for c in kept if c.outcomes)

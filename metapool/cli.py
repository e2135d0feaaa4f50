"""Command line: ``python -m metapool [FILE] [--check] [--outcome N.M] [--csv OUT]``.

Without FILE it analyses the bundled examples. With a RevMan file (``.rm5``,
RevMan 5 CSV export or RevMan Web data package) it prints every outcome's
RevMan-style table, or with ``--check`` how closely metapool reproduces the
results RevMan stored.

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
from typing import Any, TextIO

from metapool import examples
from metapool.analysis import analyse
from metapool.errors import InputError
from metapool.io import Outcome, Review, read_review, result_rows
from metapool.io.dataframe import RESULT_COLUMNS
from metapool.results import MetaAnalysis

__all__ = ["main"]

_ID_COLUMNS = ("comparison", "outcome", "outcome_name", "data_type", "measure", "method", "model")


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
    parser.add_argument("file", nargs="?", metavar="FILE", help="RevMan file to analyse")
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
    return parser


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
    except Exception as exc:  # a bug: still one line, not a traceback
        _error(f"unexpected {type(exc).__name__}: {exc} (a bug in metapool: please report it)")
        return 2


def _run(argv: Sequence[str] | None) -> int:
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, or a usage error argparse has reported
        return int(exc.code or 0)
    if not (math.isfinite(args.rtol) and args.rtol >= 0):
        parser.print_usage(sys.stderr)
        _error(f"--rtol must be a non-negative number, got {args.rtol}")
        return 2
    if args.file is None:
        if args.check or args.outcome or args.csv:
            parser.print_usage(sys.stderr)
            _error("--check, --outcome and --csv need a FILE")
            return 2
        _examples(sys.stdout)
        return 0
    try:
        review = read_review(args.file)
        outcomes = (
            [review.outcome(s) for s in args.outcome] if args.outcome else list(review.outcomes)
        )
    except InputError as exc:
        _error(str(exc))
        return 2
    if not outcomes:
        print(f"{review.source}: the review has no analyses")
        if args.check:
            _error("--check compared nothing: the review has no analyses")
            return 3
        return 0
    # --check re-runs the outcomes itself; the tables and --csv need the results here
    results = {o.key: _analyse(o) for o in outcomes} if args.csv or not args.check else {}
    if args.check:
        status = _check(review, outcomes, args.rtol)
    else:
        status = _tables(review, outcomes, results)
    if args.csv:
        done = [(o, r) for o in outcomes if isinstance(r := results[o.key], MetaAnalysis)]
        try:
            _write_csv(args.csv, done)
        except OSError as exc:
            _error(f"cannot write {args.csv}: {exc.strerror or exc}")
            return 2
    sys.stdout.flush()  # a closed pipe shows here, inside the handler of main
    return status


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


def _analyse(outcome: Outcome) -> MetaAnalysis | str:
    """The outcome's result (not estimable without study data), or why it has none."""
    try:
        return outcome.analyse()
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
        if isinstance(res, str):
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


def _write_csv(path: str, results: list[tuple[Outcome, MetaAnalysis]]) -> None:
    rows: list[dict[str, Any]] = []
    for outcome, res in results:
        ids = {
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
    # every outcome's data fields before the result columns
    columns = [k for k in (*_ID_COLUMNS, *seen) if k not in RESULT_COLUMNS]
    columns = list(dict.fromkeys(columns)) + list(RESULT_COLUMNS)
    with open(path, "w", newline="", encoding="utf-8") as file:
        writer = csv.DictWriter(file, fieldnames=columns)
        writer.writeheader()
        writer.writerows({k: _cell(row.get(k)) for k in columns} for row in rows)

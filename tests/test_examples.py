"""The example review files that ship in metapool/data: reproducible, readable, checked."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from types import ModuleType

import pytest

import metapool
from metapool import InputError

ROOT = Path(__file__).resolve().parent.parent
NAMES = ["aspirin.csv", "aspirin.rm5", "aspirin.zip", "stem_cell.csv", "stem_cell.rm5",
         "stem_cell.zip"]  # fmt: skip


def generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_examples", ROOT / "docs/make_examples.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_shipped_files_are_what_the_generator_writes(tmp_path: Path) -> None:
    generator().main([str(tmp_path)])
    written = sorted(p.name for p in tmp_path.iterdir())
    assert written == NAMES == metapool.examples.files()
    for name in NAMES:
        shipped = metapool.examples.path(name).read_bytes()
        assert (tmp_path / name).read_bytes() == shipped, f"{name}: run docs/make_examples.py"


@pytest.mark.parametrize("name", NAMES)
def test_every_file_reads_and_passes_its_check(name: str) -> None:
    review = metapool.read_review(metapool.examples.path(name))
    aspirin = name.startswith("aspirin")
    want = metapool.examples.aspirin() if aspirin else metapool.examples.stem_cell_oa_pain()
    outcomes = list(review.outcomes)
    assert [o.key for o in outcomes] == (["1.1", "1.2"] if aspirin else ["1.1"])
    for outcome in outcomes:
        assert outcome.error is None and list(outcome.studies) == want
        assert outcome.revman is not None
    first = outcomes[0].settings
    if aspirin:
        assert (first["measure"], first["method"], first["model"]) == ("OR", "MH", "fixed")
        assert outcomes[1].settings["measure"] == "RR"
        assert outcomes[1].settings["model"] == "random"
    else:
        assert (first["measure"], first["model"]) == ("SMD", "random")
        assert list(outcomes[0].analyse().subgroups) == [
            "Bone marrow", "Umbilical cord", "Adipose tissue"
        ]  # fmt: skip
    check = review.compare()
    assert check.passed and sum(o.checked for o in check.outcomes) == len(outcomes)


def test_the_stored_results_are_rounded_as_revman_rounds_them() -> None:
    decimals = {
        name: next(iter(metapool.read_review(metapool.examples.path(name)).outcomes)).revman
        for name in ("aspirin.rm5", "aspirin.csv", "aspirin.zip")
    }
    assert {n: r.decimals for n, r in decimals.items() if r is not None} == {
        "aspirin.rm5": None, "aspirin.csv": 8, "aspirin.zip": 6
    }  # fmt: skip
    total = decimals["aspirin.csv"].total  # type: ignore[union-attr]
    assert total is not None and total.estimate == 0.89686556


def test_the_command_line_checks_an_example() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "metapool", str(metapool.examples.path("stem_cell.zip")), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert "1 of 1 outcomes compared, all within tolerance" in out.stdout


def test_an_unknown_name_lists_the_examples() -> None:
    with pytest.raises(InputError, match=r"no example file 'aspirin\.xml'; the examples are "):
        metapool.examples.path("aspirin.xml")
    with pytest.raises(InputError, match="no example file"):
        metapool.examples.path("../__init__.py")


def test_the_invented_example_names_no_real_trial() -> None:
    names = [s.study for s in metapool.examples.stem_cell_oa_pain()]
    assert names == [f"Trial {letter} {year}" for letter, year in zip(
        "ABCDEFGHIJ", (2015, 2018, 2016, 2016, 2019, 2021, 2019, 2019, 2019, 2021), strict=True
    )]  # fmt: skip
    assert "Invented data" in (metapool.examples.stem_cell_oa_pain.__doc__ or "")


def test_a_built_wheel_ships_the_examples(tmp_path: Path) -> None:
    pytest.importorskip("setuptools")
    source = tmp_path / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(ROOT / "metapool", source / "metapool",
                    ignore=shutil.ignore_patterns("__pycache__"))  # fmt: skip
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
         "--no-index", "-q", "-w", str(tmp_path / "dist"), str(source)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if built.returncode != 0:
        pytest.skip(f"cannot build a wheel here: {built.stderr.strip()[-300:]}")
    (wheel,) = (tmp_path / "dist").glob("metapool-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        shipped = sorted(n.removeprefix("metapool/data/") for n in archive.namelist()
                         if n.startswith("metapool/data/"))  # fmt: skip
    assert shipped == NAMES

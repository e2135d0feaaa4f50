"""Hostile inputs to every reader: unbounded files, broken and malicious zips.

Each must stop with an InputError naming the file (and the zip member), quickly
and in bounded memory, never with zlib.error, RuntimeError, NotImplementedError
or a hang.
"""

from __future__ import annotations

import os
import struct
import tracemalloc
import zipfile
import zlib
from pathlib import Path

import pytest

from metapool import InputError
from metapool.io import read_datapackage, read_review, read_revman_csv, read_rm5
from metapool.io._source import MAX_FILE, MAX_MEMBER

OVERALL = "CD0-analysis-data/CD0-overall-estimates-and-settings.csv"
READERS = [read_review, read_rm5, read_revman_csv, read_datapackage]


@pytest.mark.parametrize("reader", READERS)
def test_dev_zero_is_refused(reader: object) -> None:
    with pytest.raises(InputError, match="/dev/zero: cannot read it: not a regular file"):
        reader("/dev/zero")  # type: ignore[operator]


@pytest.mark.parametrize("reader", READERS)
def test_fifo_and_directory_are_refused(tmp_path: Path, reader: object) -> None:
    fifo = tmp_path / "review.rm5"
    os.mkfifo(fifo)  # opening it would wait for a writer forever
    with pytest.raises(InputError, match=r"review\.rm5: cannot read it: not a regular file"):
        reader(fifo)  # type: ignore[operator]
    with pytest.raises(InputError, match="cannot read it: a directory"):
        reader(tmp_path)  # type: ignore[operator]


def test_huge_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "huge.rm5"
    with path.open("wb") as file:  # sparse: no disk space used
        file.truncate(MAX_FILE + 1)
    with pytest.raises(InputError, match=rf"huge\.rm5: the file has {MAX_FILE + 1} bytes"):
        read_review(path)


def _zip(path: Path, members: dict[str, bytes], **kwargs: object) -> Path:
    with zipfile.ZipFile(path, "w", **kwargs) as zf:  # type: ignore[arg-type]
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def _patch_method(data: bytes, method: int) -> bytes:
    """Set the compression method of a one-member zip, in both of its headers."""
    out = bytearray(data)
    local, central = out.index(b"PK\x03\x04"), out.index(b"PK\x01\x02")
    out[local + 8 : local + 10] = struct.pack("<H", method)
    out[central + 10 : central + 12] = struct.pack("<H", method)
    return bytes(out)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("/etc/CD0-overall-estimates-and-settings.csv", "unsafe path"),
        ("CD0/../../CD0-overall-estimates-and-settings.csv", "unsafe path"),
        ("C:/CD0-overall-estimates-and-settings.csv", "unsafe path"),
    ],
)
def test_bad_member_names(tmp_path: Path, name: str, message: str) -> None:
    path = _zip(tmp_path / "p.zip", {name: b"Analysis group\n"})
    with pytest.raises(InputError, match=rf"p\.zip: the zip holds a file named .*{message}"):
        read_datapackage(path)


def test_encrypted_member(tmp_path: Path) -> None:
    path = _zip(tmp_path / "p.zip", {OVERALL: b"Analysis group\n"})
    data = bytearray(path.read_bytes())
    local, central = data.index(b"PK\x03\x04"), data.index(b"PK\x01\x02")
    data[local + 6] |= 0x1  # the flag zipfile raises RuntimeError for when it is opened
    data[central + 8] |= 0x1
    path.write_bytes(bytes(data))
    with pytest.raises(InputError, match=r"p\.zip: CD0-analysis-data/.* is encrypted"):
        read_datapackage(path)


def test_unsupported_compression(tmp_path: Path) -> None:
    path = _zip(tmp_path / "p.zip", {OVERALL: b"Analysis group\n"})
    path.write_bytes(_patch_method(path.read_bytes(), 99))  # AE-x, which zipfile lacks
    with pytest.raises(InputError, match="uses compression method 99, which metapool cannot"):
        read_datapackage(path)


def test_corrupt_deflate_stream(tmp_path: Path) -> None:
    text = b"Analysis group,Analysis number\n" + b"1,1\n" * 2000
    path = _zip(tmp_path / "p.zip", {OVERALL: text}, compression=zipfile.ZIP_DEFLATED)
    data = bytearray(path.read_bytes())
    start = data.index(b"PK\x03\x04") + 30 + len(OVERALL)
    data[start : start + 8] = b"\xff" * 8  # an invalid block type: zlib.error
    path.write_bytes(bytes(data))
    with pytest.raises(InputError, match=r"overall-estimates-and-settings\.csv: cannot read it"):
        read_datapackage(path)


def test_bad_crc(tmp_path: Path) -> None:
    path = _zip(tmp_path / "p.zip", {OVERALL: b"Analysis group,Analysis number\n1,1\n"})
    data = path.read_bytes().replace(b"1,1\n", b"1,2\n")  # stored: the CRC no longer fits
    path.write_bytes(data)
    with pytest.raises(InputError, match=r"cannot read it from the zip.*CRC"):
        read_datapackage(path)


def _bomb(path: Path, size: int) -> Path:
    """A zip of one deflated member of ``size`` zero bytes, built from a repeated
    compressed block (flushed, so blocks are independent): ~1 MB per GiB."""
    block = 1 << 20
    assert size % block == 0
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
    chunk = deflate.compress(bytes(block)) + deflate.flush(zlib.Z_FULL_FLUSH)
    stream = chunk * (size // block) + deflate.flush(zlib.Z_FINISH)
    name = OVERALL.encode()
    zip64 = struct.pack("<HHQ", 1, 8, size)  # the uncompressed size, beyond 32 bits
    local = struct.pack(
        "<IHHHHHIIIHH", 0x04034B50, 45, 0, 8, 0, 0x21, 0, len(stream), 0xFFFFFFFF, len(name), 12
    )
    central = struct.pack(
        "<IHHHHHHIIIHHHHHII",
        0x02014B50,
        45,
        45,
        0,
        8,
        0,
        0x21,
        0,
        len(stream),
        0xFFFFFFFF,
        len(name),
        12,
        0,
        0,
        0,
        0,
        0,
    )
    head = local + name + zip64 + stream
    directory = central + name + zip64
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 1, 1, len(directory), len(head), 0)
    path.write_bytes(head + directory + end)
    return path


def test_zip_bomb_stops_quickly_in_bounded_memory(tmp_path: Path) -> None:
    path = _bomb(tmp_path / "bomb.zip", 10 << 30)
    assert path.stat().st_size < 20 << 20
    assert zipfile.ZipFile(path).getinfo(OVERALL).file_size == 10 << 30
    tracemalloc.start()
    try:
        with pytest.raises(InputError, match=rf"bomb\.zip:{OVERALL}: inflates to 10737418240"):
            read_review(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # the file is read whole (~10 MB), never inflated (the time: benchmarks/readers_bench.py)
    assert peak < 100 << 20, peak


def test_member_just_over_the_cap(tmp_path: Path) -> None:
    path = _bomb(tmp_path / "bomb.zip", MAX_MEMBER + (1 << 20))
    with pytest.raises(InputError, match=f"inflates to {MAX_MEMBER + (1 << 20)} bytes"):
        read_datapackage(path)


def test_not_a_zip(tmp_path: Path) -> None:
    path = tmp_path / "p.zip"
    path.write_bytes(b"PK\x03\x04" + b"\x00" * 40)
    with pytest.raises(InputError, match=r"p\.zip: cannot read the zip"):
        read_review(path)


@pytest.mark.parametrize("reader", READERS)
@pytest.mark.parametrize("path", [None, 3, b"review.rm5"])
def test_path_that_is_not_a_path(reader: object, path: object) -> None:
    with pytest.raises(InputError, match=r"the file must be a path \(str or os\.PathLike\)"):
        reader(path)  # type: ignore[operator]

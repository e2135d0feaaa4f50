"""Reading input files safely: bounded sizes, regular files only, zips checked member by member.

Every failure is an :class:`~metapool.errors.InputError` naming the file (and the
zip member): a reader never hangs on a FIFO or ``/dev/zero``, never inflates a
zip bomb past :data:`MAX_MEMBER` bytes, and never lets ``zlib.error``,
``RuntimeError`` (encrypted members) or ``NotImplementedError`` (compression
methods Python lacks) reach the caller.
"""

from __future__ import annotations

import io
import lzma
import os
import re
import stat
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import BinaryIO

from metapool.errors import InputError

__all__ = ["MAX_FILE", "MAX_MEMBER", "Archive", "file_name", "open_file", "read_file"]

#: the largest input file read (the largest Cochrane reviews are ~100 MB)
MAX_FILE = 1 << 30
#: the largest zip member inflated into memory
MAX_MEMBER = 64 << 20
_METHODS = {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA}
# what a broken or hostile zip raises while it is opened or read
_ZIP_ERRORS = (
    zipfile.BadZipFile,
    zlib.error,
    lzma.LZMAError,
    EOFError,
    OSError,
    RuntimeError,
    NotImplementedError,
    ValueError,
)
_DRIVE = re.compile(r"^[A-Za-z]:")


def file_name(path: object) -> str:
    """A reader's ``path`` argument as a string (InputError for what is not a path)."""
    try:
        name = os.fspath(path)  # type: ignore[call-overload]
    except TypeError:
        name = None
    if not isinstance(name, str):
        raise InputError(f"the file must be a path (str or os.PathLike), got {path!r}")
    return name


def _size(source: str) -> int:
    """The size of a regular file; InputError for anything else or anything too large."""
    try:
        info = os.stat(source)
    except OSError as exc:
        raise InputError(f"{source}: cannot read the file ({exc.strerror or exc})") from exc
    if not stat.S_ISREG(info.st_mode):
        kind = "a directory" if stat.S_ISDIR(info.st_mode) else "not a regular file"
        raise InputError(f"{source}: cannot read it: {kind}")
    if info.st_size > MAX_FILE:
        raise InputError(
            f"{source}: the file has {info.st_size} bytes, more than the {MAX_FILE} metapool reads"
        )
    return info.st_size


@contextmanager
def open_file(source: str) -> Iterator[BinaryIO]:
    """A regular file of at most :data:`MAX_FILE` bytes, opened for reading."""
    _size(source)
    try:
        file = open(source, "rb")  # noqa: SIM115 (closed below)
    except OSError as exc:
        raise InputError(f"{source}: cannot read the file ({exc.strerror or exc})") from exc
    with file:
        yield file


def read_file(source: str) -> bytes:
    """The bytes of a regular file of at most :data:`MAX_FILE` bytes."""
    size = _size(source)
    with open_file(source) as file:
        try:
            data = file.read(size)
            grown = file.read(1)  # bounded even if the file grows while it is read
        except OSError as exc:
            raise InputError(f"{source}: cannot read the file ({exc.strerror or exc})") from exc
    if grown:
        raise InputError(f"{source}: the file changed while it was read")
    return data


class Archive:
    """A zip whose member names, compression and sizes were checked on opening.

    ``source`` names the zip in messages (``outer.zip:inner.zip`` for a nested one).
    """

    def __init__(self, source: str, data: bytes | None = None) -> None:
        self.source = source
        try:
            if data is None:
                data = read_file(source)
            self.zip = zipfile.ZipFile(io.BytesIO(data))
            infos = self.zip.infolist()
        except _ZIP_ERRORS as exc:
            raise InputError(f"{source}: cannot read the zip ({exc})") from exc
        for info in infos:
            self._check(info)
        self.names = [info.filename for info in infos if not info.is_dir()]

    def _check(self, info: zipfile.ZipInfo) -> None:
        name = info.filename
        parts = name.replace("\\", "/").split("/")
        if name.startswith(("/", "\\")) or _DRIVE.match(name) or ".." in parts:
            raise InputError(f"{self.source}: the zip holds a file named {name!r} (unsafe path)")
        if info.flag_bits & 0x1:
            raise InputError(f"{self.source}: {name} is encrypted")
        if info.compress_type not in _METHODS:
            raise InputError(
                f"{self.source}: {name} uses compression method {info.compress_type}, "
                "which metapool cannot read (stored, deflate, bzip2 and LZMA are)"
            )

    def read(self, name: str) -> bytes:
        """A member's bytes; InputError if it is damaged or inflates beyond :data:`MAX_MEMBER`."""
        where = f"{self.source}:{name}"
        info = self.zip.getinfo(name)
        if info.file_size > MAX_MEMBER:
            raise InputError(
                f"{where}: inflates to {info.file_size} bytes, more than the "
                f"{MAX_MEMBER} metapool reads from a zip"
            )
        try:
            # zipfile stops at the declared size and checks the CRC: the bound holds
            with self.zip.open(info) as member:
                data = member.read(MAX_MEMBER + 1)
        except _ZIP_ERRORS as exc:
            raise InputError(f"{where}: cannot read it from the zip ({exc})") from exc
        if len(data) > MAX_MEMBER:
            raise InputError(f"{where}: inflates to more than {MAX_MEMBER} bytes")
        return data

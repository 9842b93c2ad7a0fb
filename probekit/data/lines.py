"""Line-numbered, UTF-8-checked reading shared by every reader.

Files are read in binary and decoded line by line so that (1) a non-UTF-8 byte is reported with
its exact line number instead of a bare ``UnicodeDecodeError`` from deep inside ``io``, and
(2) nothing is ever loaded whole: readers stream multi-GB corpora.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

from probekit.errors import DataFormatError


def existing_file(path: str | Path, what: str = "file") -> Path:
    """``path`` as a :class:`Path`, or a :class:`DataFormatError` if it is not a readable file."""
    path = Path(path)
    if not path.exists():
        raise DataFormatError(f"{what} not found", path=path, fix="check the path")
    if not path.is_file():
        raise DataFormatError(f"{what} is not a regular file", path=path, fix="pass a file path")
    return path


def iter_lines(path: str | Path) -> Iterator[tuple[int, str]]:
    """Yield ``(line_number, line)`` with line endings stripped; line numbers are 1-based.

    A UTF-8 byte-order mark on the first line is dropped. Raises :class:`DataFormatError` on a
    line that is not valid UTF-8, naming the line and the offending byte.
    """
    path = existing_file(path)
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, 1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as err:
                raise DataFormatError(
                    f"byte 0x{raw[err.start]:02x} at column {err.start + 1} is not valid UTF-8",
                    path=path,
                    line=number,
                    expected="UTF-8 encoded text",
                    fix=f"re-encode the file, e.g. `iconv -f LATIN1 -t UTF-8 {path.name} > fixed`",
                ) from None
            if number == 1 and line.startswith("\ufeff"):
                line = line[1:]
            yield number, line.rstrip("\r\n")


def empty_file_error(path: str | Path, expected: str) -> DataFormatError:
    """The error every reader raises for a file with no records in it."""
    return DataFormatError(
        "file contains no records", path=path, expected=expected, fix="check the file is not empty or truncated"
    )

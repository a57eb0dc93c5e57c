"""Is a text file UTF-8? Name the encoding a file declares, or say it is not UTF-8.

Every text file the client reads (essays, labels) must be UTF-8. A file in another
encoding otherwise fails deep in the CSV parser with a message about column counts (UTF-16
puts a NUL after every ASCII character) or about invalid bytes, naming neither the file's
encoding nor the fix. A byte-order mark says the encoding outright; without one, a file
that is not UTF-8 is most often Windows-1252 from a spreadsheet.
"""

from __future__ import annotations

from pathlib import Path

from hemma_features.terminal import shown

_BOMS = (  # longest first: the UTF-32 LE mark starts with the UTF-16 LE one
    (b"\xff\xfe\x00\x00", "UTF-32", "UTF-32 (little-endian)"),
    (b"\x00\x00\xfe\xff", "UTF-32", "UTF-32 (big-endian)"),
    (b"\xff\xfe", "UTF-16", "UTF-16 (little-endian)"),
    (b"\xfe\xff", "UTF-16", "UTF-16 (big-endian)"),
)


def declared_encoding(path: Path) -> tuple[str, str] | None:
    """(iconv name, description) of the non-UTF-8 encoding ``path``'s byte-order mark
    declares; None without one (a UTF-8 mark is fine: the readers skip it)."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(4)
    except OSError:
        return None
    for mark, name, description in _BOMS:
        if head.startswith(mark):
            return name, description
    return None


def not_utf8(path: Path, what: str, *, where: str = "") -> str:
    """The message for a ``what`` file (``labels file``, ``input file``) that is not UTF-8:
    the encoding its byte-order mark declares, or the usual suspect, and the command that
    converts it.

    Args:
        path: The file.
        what: How the message names it.
        where: Where the bad bytes were found (``column 'name', row 3``), if known.
    """
    declared = declared_encoding(path)
    source, found = declared if declared else ("windows-1252", "")
    said = (
        f"is {found} by its byte-order mark, not UTF-8"
        if declared
        else "is not UTF-8 (no byte-order mark names its encoding; a spreadsheet often "
        "writes Windows-1252 or Latin-1)"
    )
    at = f" ({where})" if where else ""
    converted = f"{path.stem}.utf8{path.suffix}"
    return (
        f"{what} {shown(path)} {said}{at}: convert it to UTF-8, e.g. "
        f"iconv -f {source} -t utf-8 {shown(path.name)} > {shown(converted)}"
    )

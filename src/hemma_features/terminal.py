"""Data shown, never obeyed: text from essays, labels, caches or servers made safe to print.

An essay id, a label, a column name or a directory name is data, and data can hold what a
terminal acts on: ESC starts a control sequence (``\\x1b[2J`` clears the screen,
``\\x1b]0;...\\x07`` sets the window title), CR moves back over the line just printed,
C1 codes (``\\x9b``) act like ESC on some terminals, and bidi controls (U+202E and kin)
reorder what follows. Every message that shows such a value goes through ``shown`` (one
value) or ``printable`` (lines of a message), which write each of those characters as its
Python escape (``\\x1b``, ``\\r``, ``\\u202e``): visible, copyable, and never acted on.
"""

from __future__ import annotations

NEWLINE = "\n"


def _escape(char: str) -> str:
    return repr(char)[1:-1]  # \x1b, \r, \u202e: the form Python writes in a repr


def _safe(char: str) -> bool:
    # str.isprintable is False for every control (Cc), format (Cf: bidi controls,
    # zero-width characters), surrogate, private-use and unassigned character, and for
    # separators other than the space.
    return char == " " or char.isprintable()


def shown(value: object) -> str:
    """``value`` as one line of printable text: every control, format or separator
    character (newline included) written as its escape; printable text unchanged.

    Args:
        value: An id, a label, a column name, a path: anything a message names.
    """
    text = str(value)
    if all(_safe(char) for char in text):
        return text
    return "".join(char if _safe(char) else _escape(char) for char in text)


def printable(text: str) -> str:
    """Lines of a message with every character a terminal would act on escaped, the line
    breaks between them kept (``shown`` applied to each line)."""
    return NEWLINE.join(shown(line) for line in text.split(NEWLINE))


def printable_json(text: str) -> str:
    """JSON text with every character a terminal would act on written as a JSON escape
    (``\\u001b``, ``\\u202e``): the same JSON value, safe to print. Outside its strings
    JSON holds only spaces and line breaks, which stay."""
    return "".join(char if char == NEWLINE or _safe(char) else _json_escape(char) for char in text)


def _json_escape(char: str) -> str:
    code = ord(char)
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    code -= 0x10000  # beyond the BMP: a UTF-16 surrogate pair, as JSON writes it
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"

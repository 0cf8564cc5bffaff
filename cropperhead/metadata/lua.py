r"""A safe reader for the Lua table literals Lightroom stores.

Lightroom Classic keeps a photo's develop settings in
``Adobe_imageDevelopSettings.text`` as a Lua table constructor::

    s = { CropAngle = -3.01,
    CropBottom = 0.926892,
    Look = { Name = "Adobe Color", Parameters = { ToneCurvePV2012 = { 0, 0, 255, 255 } } },
    RedEyeInfo = {  },
    ToneCurve = { 0, 0, 255, 255 } }

:func:`loads` parses such text without running it (no ``eval``, no Lua runtime). It
accepts the *literal* part of Lua 5.4's syntax:

- numbers: decimal integers and floats (``3``, ``-3.01``, ``.5``, ``5.``, ``1e-3``),
  hexadecimal integers and floats (``0xff``, ``0x1.8p3``), each with any number of
  unary minus signs in front;
- strings in double or single quotes with Lua's escapes (``\n``, ``\t``, ``\\``,
  ``\"``, ``\ddd``, ``\xXX``, ``\u{XXX}``, ``\z``, a backslash before a newline),
  and long brackets ``[[...]]`` / ``[==[...]==]`` (no escapes; a first newline is
  dropped; any newline sequence reads as ``\n``);
- ``true``, ``false``, ``nil``;
- tables with keyed entries (``Name = v``, ``["key"] = v``, ``[3] = v``) and positional
  entries, separated by ``,`` or ``;``, with an optional trailing separator;
- comments ``-- to the end of the line`` and ``--[[ long ]]`` / ``--[==[ long ]==]``;
- at the top level, an optional ``name =`` or ``return`` before the value, and an
  optional ``;`` after it.

Expressions, variables, function calls and operators other than a leading minus are
refused with a :class:`LuaSyntaxError`.

Python values:

- a table whose entries are all positional (at least one) becomes a ``list``; a
  positional ``nil`` stays as ``None`` in that list;
- any other table becomes a ``dict``, ``{}`` included. Keys are ``str``, ``int`` or
  ``float`` (a float key with an integral value becomes an ``int``, as in Lua 5.4);
  positional entries of a mixed table are the integer keys ``1, 2, ...``. A keyed entry
  whose value is ``nil`` is absent, and a later entry for the same key replaces an
  earlier one, as in Lua. Boolean keys are refused (Python would merge ``true`` with
  ``1``);
- integers that fit in 64 bits are ``int`` (hexadecimal integers wrap around like
  Lua's); larger decimal integers become ``float``; ``1e999`` reads as infinity;
- strings are decoded as UTF-8; bytes that are not UTF-8 (from ``\ddd`` or ``\xXX``
  escapes) become U+FFFD.

Limits: hostile or broken text fails fast with :class:`LuaSyntaxError` (a
``ValueError``), never with ``RecursionError`` or a hang. The parser is iterative and
linear in the text; ``max_length`` caps the characters read, ``max_depth`` the nesting
of tables and ``max_items`` the number of values.

Nothing in the program writes these literals; the writer that builds test catalogs is
``tests/metadata/lua_dumps.py``.
"""

from __future__ import annotations

import math
import re
from typing import Any

__all__ = [
    "DEFAULT_MAX_DEPTH",
    "DEFAULT_MAX_ITEMS",
    "DEFAULT_MAX_LENGTH",
    "LuaSyntaxError",
    "loads",
]

#: Deepest table nesting accepted (Lightroom's masks nest about 6 deep).
DEFAULT_MAX_DEPTH = 64
#: Longest text accepted, in characters.
DEFAULT_MAX_LENGTH = 16 * 1024 * 1024
#: Most values (scalars and tables) accepted in one text.
DEFAULT_MAX_ITEMS = 1_000_000

_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1

_KEYWORDS = frozenset(
    "and break do else elseif end false for function goto if in local nil not or "
    "repeat return then true until while".split()
)

_SPACE = re.compile(r"[ \t\n\r\f\v]*")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_DECIMAL = re.compile(r"(?:[0-9]+(\.[0-9]*)?|(\.)[0-9]+)([eE][+-]?[0-9]+)?")
_HEX = re.compile(r"0[xX]([0-9A-Fa-f]*)(?:\.([0-9A-Fa-f]*))?(?:[pP]([+-]?[0-9]+))?")
_NUMBER_TAIL = re.compile(r"[A-Za-z0-9_.]")
_LONG_OPEN = re.compile(r"\[(=*)\[")
_NEWLINES = re.compile(r"\r\n|\n\r|\r|\n")
_PLAIN_RUN = {
    '"': re.compile(r'[^"\\\n\r]*'),
    "'": re.compile(r"[^'\\\n\r]*"),
}
_HEX2 = re.compile(r"[0-9A-Fa-f]{2}")
_DEC3 = re.compile(r"[0-9]{1,3}")
_UNICODE_ESC = re.compile(r"\{([0-9A-Fa-f]+)\}")
_SIMPLE_ESCAPES = {
    "a": b"\a",
    "b": b"\b",
    "f": b"\f",
    "n": b"\n",
    "r": b"\r",
    "t": b"\t",
    "v": b"\v",
    "\\": b"\\",
    '"': b'"',
    "'": b"'",
}

_DIGITS = frozenset("0123456789")
_POSITIONAL = object()


class LuaSyntaxError(ValueError):
    """Text that is not a Lua table literal this parser accepts, or that breaks a limit."""


class _Table:
    """Entries of one table constructor while it is being read."""

    __slots__ = ("array", "keyed", "pending")

    def __init__(self) -> None:
        self.keyed: dict[Any, Any] = {}
        self.array: list[Any] = []
        self.pending: Any = _POSITIONAL

    def add(self, value: Any) -> None:
        key, self.pending = self.pending, _POSITIONAL
        if key is _POSITIONAL:
            self.array.append(value)
        elif value is None:
            self.keyed.pop(key, None)
        else:
            self.keyed[key] = value

    def finish(self) -> list[Any] | dict[Any, Any]:
        if not self.keyed and self.array:
            return self.array
        table = self.keyed
        # Lua stores positional entries last, so they win over an explicit [i] key.
        for index, value in enumerate(self.array, start=1):
            if value is None:
                table.pop(index, None)
            else:
                table[index] = value
        return table


class _Parser:
    def __init__(self, text: str, max_depth: int, max_items: int) -> None:
        self.text = text
        self.pos = 0
        self.max_depth = max_depth
        self.max_items = max_items
        self.items = 0

    # -- errors -----------------------------------------------------------------------

    def error(self, message: str, pos: int | None = None) -> LuaSyntaxError:
        pos = self.pos if pos is None else pos
        line = self.text.count("\n", 0, pos) + 1
        column = pos - (self.text.rfind("\n", 0, pos) + 1) + 1
        near = self.text[pos : pos + 24]
        where = f"near {near!r}" if near else "at the end of the text"
        return LuaSyntaxError(f"Lua literal: {message} at line {line}, column {column}, {where}")

    # -- lexical helpers --------------------------------------------------------------

    def skip_space(self) -> None:
        text = self.text
        while True:
            self.pos = _SPACE.match(text, self.pos).end()
            if not text.startswith("--", self.pos):
                return
            start = self.pos
            self.pos += 2
            opener = _LONG_OPEN.match(text, self.pos)
            if opener:
                closer = "]" + opener.group(1) + "]"
                end = text.find(closer, opener.end())
                if end < 0:
                    raise self.error("unfinished long comment", start)
                self.pos = end + len(closer)
            else:
                end = text.find("\n", self.pos)
                self.pos = len(text) if end < 0 else end + 1

    def peek(self) -> str:
        return self.text[self.pos : self.pos + 1]

    def count_item(self) -> None:
        self.items += 1
        if self.items > self.max_items:
            raise self.error(f"more than {self.max_items} values")

    # -- top level --------------------------------------------------------------------

    def parse_document(self) -> Any:
        if self.text.startswith("\ufeff"):
            self.pos = 1
        self.skip_space()
        name = _NAME.match(self.text, self.pos)
        if name and name.group() == "return":
            self.pos = name.end()
        elif name and name.group() not in _KEYWORDS:
            after = name.end()
            self.pos = after
            self.skip_space()
            if self.peek() != "=" or self.text.startswith("==", self.pos):
                raise self.error(f"expected '=' after {name.group()!r}")
            self.pos += 1
        value = self.parse_value()
        self.skip_space()
        if self.peek() == ";":
            self.pos += 1
            self.skip_space()
        if self.pos != len(self.text):
            raise self.error("unexpected text after the value")
        return value

    # -- values -----------------------------------------------------------------------

    def parse_value(self) -> Any:
        """Read one value; tables are read with an explicit stack, not recursion."""
        stack: list[_Table] = []
        while True:
            # A value starts here.
            self.skip_space()
            if self.peek() == "{":
                if len(stack) >= self.max_depth:
                    raise self.error(f"tables nested deeper than {self.max_depth}")
                self.pos += 1
                stack.append(_Table())
                self.skip_space()
                if self.peek() != "}":
                    self.read_entry_start(stack[-1])
                    continue
                self.pos += 1
                value: Any = stack.pop().finish()
            else:
                value = self.read_scalar()
            self.count_item()
            # A value ended: file it and close every table that ends here.
            while stack:
                table = stack[-1]
                table.add(value)
                self.skip_space()
                ch = self.peek()
                if ch in (",", ";"):
                    self.pos += 1
                    self.skip_space()
                    if self.peek() != "}":
                        self.read_entry_start(table)
                        break
                    ch = "}"
                if ch != "}":
                    if not ch:
                        raise self.error("unfinished table (missing '}')")
                    raise self.error("expected ',' or '}' after a table entry")
                self.pos += 1
                value = stack.pop().finish()
                self.count_item()
            else:
                return value

    def read_entry_start(self, table: _Table) -> None:
        """Read ``[key] =`` or ``name =`` if present, and note the key on ``table``."""
        text = self.text
        if self.peek() == "[" and not _LONG_OPEN.match(text, self.pos):
            start = self.pos
            self.pos += 1
            self.skip_space()
            key = self.read_key()
            self.skip_space()
            if self.peek() != "]":
                raise self.error("expected ']' after a table key")
            self.pos += 1
            self.skip_space()
            if self.peek() != "=" or text.startswith("==", self.pos):
                raise self.error("expected '=' after a table key", start)
            self.pos += 1
            table.pending = key
            return
        name = _NAME.match(text, self.pos)
        if name is None:
            return
        word = name.group()
        if word in ("true", "false", "nil"):
            return
        if word in _KEYWORDS:
            raise self.error(f"unexpected keyword {word!r}")
        save = self.pos
        self.pos = name.end()
        self.skip_space()
        if self.peek() == "=" and not text.startswith("==", self.pos):
            self.pos += 1
            table.pending = word
            return
        self.pos = save  # a bare name as a value: read_scalar reports it

    def read_key(self) -> Any:
        start = self.pos
        if self.peek() == "{":
            raise self.error("tables as table keys are not supported")
        key = self.read_scalar()
        if key is None:
            raise self.error("nil is not a valid table key", start)
        if isinstance(key, bool):
            raise self.error("boolean table keys are not supported", start)
        if isinstance(key, float):
            if math.isnan(key):
                raise self.error("NaN is not a valid table key", start)
            if key.is_integer():
                key = int(key)
        return key

    def read_scalar(self) -> Any:
        text = self.text
        ch = self.peek()
        if ch in ('"', "'"):
            return self.read_short_string(ch)
        if ch == "[":
            opener = _LONG_OPEN.match(text, self.pos)
            if opener:
                return self.read_long_string(opener)
        if ch == "-":
            negative = False
            while self.peek() == "-":
                negative = not negative
                self.pos += 1
                self.skip_space()
            number = self.read_number()
            if not negative:
                return number
            if isinstance(number, int) and number == _INT64_MIN:
                return number  # Lua integers wrap: -math.mininteger == math.mininteger
            return -number
        if ch in _DIGITS or (ch == "." and text[self.pos + 1 : self.pos + 2] in _DIGITS):
            return self.read_number()
        name = _NAME.match(text, self.pos)
        if name:
            word = name.group()
            if word == "true":
                self.pos = name.end()
                return True
            if word == "false":
                self.pos = name.end()
                return False
            if word == "nil":
                self.pos = name.end()
                return None
            raise self.error(f"unexpected name {word!r} (only literal values are supported)")
        if not ch:
            raise self.error("expected a value")
        raise self.error(f"unexpected {ch!r} where a value was expected")

    def read_number(self) -> int | float:
        text, start = self.text, self.pos
        hex_match = _HEX.match(text, start)
        if hex_match:
            digits, fraction, exponent = hex_match.groups()
            if not digits and not fraction:
                raise self.error("malformed number", start)
            end = hex_match.end()
            value: int | float
            if fraction is None and exponent is None:
                value = int(digits, 16) & 0xFFFF_FFFF_FFFF_FFFF
                if value > _INT64_MAX:
                    value -= 2**64
            else:
                try:
                    value = float.fromhex(f"0x{digits or '0'}.{fraction or ''}p{exponent or '0'}")
                except OverflowError:
                    value = math.inf
        else:
            match = _DECIMAL.match(text, start)
            if match is None:
                raise self.error("expected a number", start)
            end = match.end()
            literal = match.group()
            is_float = any(group is not None for group in match.groups())
            digits = literal.lstrip("0") or "0"
            if not is_float and len(digits) <= 19 and int(digits) <= _INT64_MAX:
                value = int(digits)
            else:
                value = float(literal)
        if _NUMBER_TAIL.match(text, end):
            raise self.error("malformed number", start)
        self.pos = end
        return value

    def read_short_string(self, quote: str) -> str:
        text, start = self.text, self.pos
        self.pos += 1
        plain = _PLAIN_RUN[quote]
        run = plain.match(text, self.pos)
        if text.startswith(quote, run.end()):  # fast path: no escapes
            self.pos = run.end() + 1
            return run.group()
        parts: list[bytes] = []
        while True:
            run = plain.match(text, self.pos)
            parts.append(run.group().encode("utf-8", "surrogatepass"))
            self.pos = run.end()
            ch = self.peek()
            if ch == quote:
                self.pos += 1
                return b"".join(parts).decode("utf-8", "replace")
            if ch != "\\":
                raise self.error("unfinished string", start)
            parts.append(self.read_escape())

    def read_escape(self) -> bytes:
        text = self.text
        start = self.pos
        self.pos += 1
        ch = self.peek()
        if ch in _SIMPLE_ESCAPES:
            self.pos += 1
            return _SIMPLE_ESCAPES[ch]
        if ch in ("\n", "\r"):
            newline = _NEWLINES.match(text, self.pos)
            self.pos = newline.end()
            return b"\n"
        if ch == "z":
            self.pos = _SPACE.match(text, self.pos + 1).end()
            return b""
        if ch == "x":
            digits = _HEX2.match(text, self.pos + 1)
            if digits is None:
                raise self.error("hexadecimal digits expected after '\\x'", start)
            self.pos = digits.end()
            return bytes([int(digits.group(), 16)])
        if ch == "u":
            code = _UNICODE_ESC.match(text, self.pos + 1)
            if code is None:
                raise self.error("malformed '\\u{...}' escape", start)
            hex_digits = code.group(1).lstrip("0") or "0"
            if len(hex_digits) > 6 or int(hex_digits, 16) > 0x10FFFF:
                raise self.error("'\\u' escape beyond U+10FFFF", start)
            self.pos = code.end()
            return chr(int(hex_digits, 16)).encode("utf-8", "surrogatepass")
        digits = _DEC3.match(text, self.pos)
        if digits:
            value = int(digits.group())
            if value > 255:
                raise self.error("decimal escape too large", start)
            self.pos = digits.end()
            return bytes([value])
        if not ch:
            raise self.error("unfinished string", start)
        raise self.error(f"invalid escape sequence '\\{ch}'", start)

    def read_long_string(self, opener: re.Match[str]) -> str:
        text, start = self.text, self.pos
        closer = "]" + opener.group(1) + "]"
        end = text.find(closer, opener.end())
        if end < 0:
            raise self.error("unfinished long string", start)
        body = text[opener.end() : end]
        self.pos = end + len(closer)
        body = _NEWLINES.sub("\n", body)
        return body[1:] if body.startswith("\n") else body


def loads(
    text: str,
    *,
    max_depth: int = DEFAULT_MAX_DEPTH,
    max_length: int = DEFAULT_MAX_LENGTH,
    max_items: int = DEFAULT_MAX_ITEMS,
) -> Any:
    """Parse a Lua table literal such as Lightroom's ``s = { CropAngle = -3.01, ... }``.

    Args:
        text: the literal; an optional ``name =`` or ``return`` may come first.
        max_depth: most tables nested inside one another.
        max_length: most characters in ``text``.
        max_items: most values (scalars and tables, nested ones included).

    Returns:
        The value: ``dict``, ``list``, ``str``, ``int``, ``float``, ``bool`` or ``None``
        (see the module docstring for how tables map to Python).

    Raises:
        TypeError: ``text`` is not a ``str``.
        LuaSyntaxError: (a ``ValueError``) the text is not a literal this parser
            accepts, or it breaks one of the limits; the message gives the line and
            column.
    """
    if not isinstance(text, str):
        raise TypeError(f"Lua text must be a str, got {type(text).__name__}")
    for name, limit in (
        ("max_depth", max_depth),
        ("max_length", max_length),
        ("max_items", max_items),
    ):
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ValueError(f"{name} must be a positive integer, got {limit!r}")
    if len(text) > max_length:
        raise LuaSyntaxError(
            f"Lua literal: text of {len(text)} characters is longer than {max_length}"
        )
    return _Parser(text, max_depth, max_items).parse_document()

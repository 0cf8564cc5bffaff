"""A writer of Lua table literals in Lightroom's layout, for building test catalogs.

The program only ever reads these literals (:func:`cropperhead.metadata.lua.loads`);
tests write them to make catalogs whose develop settings look like Lightroom's
(``tests/metadata/lrcat_builder.py``) and to check that ``loads`` reads back what was
written.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from cropperhead.metadata.lua import _INT64_MAX, _INT64_MIN, _KEYWORDS, _NAME, DEFAULT_MAX_DEPTH

__all__ = ["dumps"]


def _dump_string(value: str) -> str:
    out = ['"']
    for ch in value:
        code = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\{code:03d}")
        elif 0xD800 <= code <= 0xDFFF:
            raise ValueError(f"cannot write a lone surrogate in a Lua string: {value!r}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _dump_scalar(value: Any) -> str:
    if value is None:
        return "nil"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        if not _INT64_MIN <= value <= _INT64_MAX:
            raise ValueError(f"integer {value!r} does not fit in Lua's 64 bits")
        if value == _INT64_MIN:
            # "-9223372036854775808" is minus a literal too big for an integer, so Lua
            # (and loads) read it as a float; the hex literal wraps to the integer.
            return "0x8000000000000000"
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"cannot write a non-finite number as a Lua literal: {value!r}")
        return repr(value)
    if isinstance(value, str):
        return _dump_string(value)
    raise TypeError(f"cannot write {type(value).__name__} as a Lua literal: {value!r}")


def _dump_key(key: Any) -> str:
    if isinstance(key, str):
        if _NAME.fullmatch(key) and key not in _KEYWORDS:
            return key
        return f"[{_dump_string(key)}]"
    if isinstance(key, bool) or not isinstance(key, (int, float)):
        raise TypeError(f"Lua table keys must be str, int or float, got {key!r}")
    if isinstance(key, float) and math.isnan(key):
        raise ValueError(f"NaN cannot be a Lua table key: {key!r}")
    return f"[{_dump_scalar(key)}]"


def dumps(value: Any, *, max_depth: int = DEFAULT_MAX_DEPTH) -> str:
    r"""Write a Python value as a Lua literal, laid out the way Lightroom writes one.

    Tables come out as ``{ key = value,\nkey = value }`` and ``{  }`` when empty, like
    ``Adobe_imageDevelopSettings.text``. Keys keep the mapping's order (Lightroom sorts
    them; sort yourself if you need that). ``loads(dumps(v))`` gives ``v`` back, except
    that an empty list comes back as ``{}`` and ``None`` values in a mapping are left out.

    Args:
        value: ``None``, ``bool``, ``int`` (64-bit), finite ``float``, ``str``, a
            mapping (keys ``str``, ``int`` or ``float``) or a sequence (not ``str``).
        max_depth: most tables nested inside one another.

    Returns:
        The Lua text, without a leading ``s =``.

    Raises:
        TypeError: a value or key of an unsupported type.
        ValueError: a non-finite float, an integer outside 64 bits, a lone surrogate
            in a string, or tables nested deeper than ``max_depth``.
    """

    def dump(item: Any, depth: int) -> str:
        is_mapping = isinstance(item, Mapping)
        is_sequence = isinstance(item, Sequence) and not isinstance(item, (str, bytes, bytearray))
        if not (is_mapping or is_sequence):
            return _dump_scalar(item)
        if depth >= max_depth:
            raise ValueError(f"tables nested deeper than {max_depth}")
        if is_mapping:
            entries = [
                f"{_dump_key(k)} = {dump(v, depth + 1)}" for k, v in item.items() if v is not None
            ]
        else:
            entries = [dump(v, depth + 1) for v in item]
        return "{ " + ",\n".join(entries) + " }" if entries else "{  }"

    return dump(value, 0)

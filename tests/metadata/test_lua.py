"""Tests of the safe Lua table-literal parser (cropperhead.metadata.lua)."""

from __future__ import annotations

import math
import re
import sqlite3
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cropperhead.metadata.lua import (
    DEFAULT_MAX_DEPTH,
    LuaSyntaxError,
    loads,
)
from tests.metadata.lua_dumps import dumps

# -- real text ------------------------------------------------------------------------


def _fixture_develop_texts(shared_fixtures, name: str) -> dict[int, str]:
    path = shared_fixtures / "lrcat" / name
    # immutable: the fixture must never gain -wal/-shm files, whatever its folder allows.
    conn = sqlite3.connect(f"{path.as_uri()}?mode=ro&immutable=1", uri=True)
    try:
        rows = conn.execute("SELECT image, text FROM Adobe_imageDevelopSettings").fetchall()
    finally:
        conn.close()
    return dict(rows)


def test_real_lightroom5_develop_text(shared_fixtures):
    texts = _fixture_develop_texts(shared_fixtures, "test_catalog_1.lrcat")
    assert sorted(texts) == [21, 40, 63, 78]
    settings_21 = loads(texts[21])
    assert settings_21["ProcessVersion"] == "6.7"
    assert settings_21["Version"] == "8.2"
    assert settings_21["AutoGrayscaleMix"] is True
    assert settings_21["ConvertToGrayscale"] is False
    assert settings_21["Temperature"] == 2900
    assert settings_21["UprightCenterNormX"] == 0.5
    assert settings_21["RedEyeInfo"] == {}
    assert settings_21["ToneCurve"] == [0, 0, 32, 22, 64, 56, 128, 128, 192, 196, 255, 255]
    assert settings_21["CameraProfileDigest"] == "AC58BA900C3A001F052B43DA5615508D"
    for text in texts.values():
        table = loads(text)
        assert not any(key.startswith("Crop") for key in table)  # README: uncropped


def test_real_lightroom_classic_develop_text(shared_fixtures):
    texts = _fixture_develop_texts(shared_fixtures, "LITA_Lightroom_Catalog.lrcat")
    table = loads(texts[422])
    assert table["ProcessVersion"] == "11.0"
    assert table["Version"] == "14.1"
    assert table["UprightTransformCount"] == 6
    assert table["ToneCurvePV2012Red"] == [0, 0, 255, 255]
    assert table["CameraProfile"] == "Embedded"


def test_known_answer_crop_text():
    text = (
        "s = { CropAngle = -3.01,\nCropBottom = 0.926892,\nCropConstrainToWarp = 0,\n"
        "CropLeft = 0.020308,\nCropRight = 0.979692,\nCropTop = 0.073108,\nHasCrop = true }"
    )
    assert loads(text) == {
        "CropAngle": -3.01,
        "CropBottom": 0.926892,
        "CropConstrainToWarp": 0,
        "CropLeft": 0.020308,
        "CropRight": 0.979692,
        "CropTop": 0.073108,
        "HasCrop": True,
    }


def test_nested_look_table():
    text = """s = { Look = { Amount = 1,
    Cluster = "",
    Group = { ["x-default"] = "Profiles" },
    Name = "Adobe Color",
    Parameters = { ConvertToGrayscale = false,
    LookTable = "E1095149FDB39D7A057BAB208837E2E1",
    ToneCurvePV2012 = { 0, 0, 22, 16, 40, 35, 255, 255 },
    Version = "14.1" },
    SupportsAmount = false,
    UUID = "B952C231111CD8E0ECCF14B86BAA7077" },
    Version = "14.1" }"""
    table = loads(text)
    look = table["Look"]
    assert look["Group"] == {"x-default": "Profiles"}
    assert look["Parameters"]["ToneCurvePV2012"] == [0, 0, 22, 16, 40, 35, 255, 255]
    assert look["Parameters"]["ConvertToGrayscale"] is False
    assert look["Cluster"] == ""
    assert table["Version"] == "14.1"


# -- scalars --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("3", 3),
        ("007", 7),
        ("-3.01", -3.01),
        (".5", 0.5),
        ("5.", 5.0),
        ("1e-3", 0.001),
        ("1E+2", 100.0),
        ("0xff", 255),
        ("0XA", 10),
        ("0x1p4", 16.0),
        ("0x.8", 0.5),
        ("0x1.8P1", 3.0),
        ("-0x10", -16),
        ("- - 2", 2),
        ("-\n-- a comment\n3", -3),
        ("9223372036854775807", 2**63 - 1),
        ("0xffffffffffffffff", -1),
        ("0x10000000000000001", 1),
        ("-0x8000000000000000", -(2**63)),
        ("1e999", math.inf),
        ("-1e999", -math.inf),
        ("true", True),
        ("false", False),
        ("nil", None),
    ],
)
def test_numbers_and_keywords(text, expected):
    value = loads(text)
    assert value == expected
    assert type(value) is type(expected)


def test_large_decimal_integer_becomes_float_like_lua():
    value = loads("9223372036854775808")
    assert isinstance(value, float)
    assert value == 2.0**63
    assert isinstance(loads("1" * 5000), float)  # no int-conversion limit error


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (r'"a\nb"', "a\nb"),
        (r"'it\'s'", "it's"),
        (r'"say \"hi\""', 'say "hi"'),
        (r'"\a\b\f\r\t\v"', "\a\b\f\r\t\v"),
        (r'"\65\066\0671"', "ABC1"),
        (r'"\x41\u{48}\u{20AC}\u{1F600}"', "AH\u20ac\U0001f600"),
        (r'"\xC3\xA9"', "é"),
        (r'"\xff"', "\ufffd"),
        ('"a\\z   \n\t  b"', "ab"),
        ('"line\\\nnext"', "line\nnext"),
        ('"line\\\r\nnext"', "line\nnext"),
        (r'"\\"', "\\"),
        ('"é ü 漢字"', "é ü 漢字"),
        ("''", ""),
        ("[[\nfirst newline dropped]]", "first newline dropped"),
        ("[[no \\n escapes]]", "no \\n escapes"),
        ("[==[ holds ]] and ]=] ]==]", " holds ]] and ]=] "),
        ("[[a\r\nb\rc\n\rd]]", "a\nb\nc\nd"),
        ("[=[]=]", ""),
    ],
)
def test_strings(text, expected):
    assert loads(text) == expected


# -- tables ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("{}", {}),
        ("{  }", {}),
        ("{1, 2, 3,}", [1, 2, 3]),
        ("{1; 2; 3;}", [1, 2, 3]),
        ("{1, 'two'; [[three]]}", [1, "two", "three"]),
        (
            '{a = 1, ["b c"] = 2, [3] = "x", [1.0] = "one", [-1] = true, [0.5] = 0}',
            {"a": 1, "b c": 2, 3: "x", 1: "one", -1: True, 0.5: 0},
        ),
        ('{"x", y = 2, "z"}', {1: "x", "y": 2, 2: "z"}),
        ("{1, nil, 3}", [1, None, 3]),
        ("{nil}", [None]),
        ("{a = nil}", {}),
        ("{a = 1, a = 2}", {"a": 2}),
        ("{a = 1, a = nil}", {}),
        ('{[1] = "k", "p"}', {1: "p"}),
        ('{[2] = "k", "p", nil}', {1: "p"}),
        ("{[ [[key]] ] = 1}", {"key": 1}),
        ("{['end'] = 1, [\"nil\"] = 2}", {"end": 1, "nil": 2}),
        ("{{}, {{}}, {1}}", [{}, [{}], [1]]),
        ("{ a = { b = { c = { 1 } } } }", {"a": {"b": {"c": [1]}}}),
        ("{true, false}", [True, False]),
        ("{_x1 = 1, X_ = 2}", {"_x1": 1, "X_": 2}),
    ],
)
def test_tables(text, expected):
    assert loads(text) == expected


def test_comments_everywhere():
    text = """-- head comment
    --[[ a long
    comment ]] s --[==[ between ]] ]==] = { --[[ inline ]] a = 1, -- tail
      b = --[=[ x ]=] 2 -- before the brace
    } -- trailing
    """
    assert loads(text) == {"a": 1, "b": 2}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("return {1}", [1]),
        ("{1}", [1]),
        ("s = {1};", [1]),
        ("x = 5", 5),
        ("\ufeffs = {}", {}),
        ("  s\n=\n{ a = 1 }  \n", {"a": 1}),
    ],
)
def test_top_level_forms(text, expected):
    assert loads(text) == expected


# -- errors ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   -- only a comment",
        "s =",
        "s = {",
        "s = { a = 1",
        "{1 2}",
        "{a = }",
        "{,}",
        "{a = 1,,}",
        "{1} 2",
        "{x}",
        "{a = b}",
        "{end = 1}",
        "{[nil] = 1}",
        "{[true] = 1}",
        "{[{}] = 1}",
        "{[0/0] = 1}",
        "{[1 = 2}",
        "{[1] 2}",
        "{a == 1}",
        "0/0",
        "1 + 2",
        "f()",
        "s == {}",
        "local s = {}",
        "- {}",
        "-'a'",
        "-",
        '"unterminated',
        '"new\nline"',
        "'mixed\"",
        "[[open",
        "[==[ open ]=]",
        "--[[ open comment",
        "{1} --[==[ open",
        r'"\q"',
        r'"\x4"',
        r'"\256"',
        r'"\u{110000}"',
        r'"\u{}"',
        r'"\u48"',
        '"trailing backslash\\',
        "3x",
        "0x",
        "0xg",
        "1e",
        "1e+",
        "1..2",
        "0x1g",
        "0x1.2.3",
        "{1}}",
        "}",
        "@",
    ],
)
def test_rejects_what_is_not_a_literal(text):
    with pytest.raises(LuaSyntaxError) as caught:
        loads(text)
    assert isinstance(caught.value, ValueError)
    message = str(caught.value)
    assert "\n" not in message
    assert re.search(r"line \d+, column \d+", message)


def test_error_message_points_at_the_problem():
    with pytest.raises(LuaSyntaxError, match=r"line 3, column 6, near '\?\\n}'"):
        loads("s = {\n a = 1,\n b = ?\n}")


def test_argument_checks():
    with pytest.raises(TypeError):
        loads(b"s = {}")  # type: ignore[arg-type]
    for bad in (0, -1, True, 1.5):
        with pytest.raises(ValueError, match="must be a positive integer"):
            loads("1", max_depth=bad)


# -- limits ---------------------------------------------------------------------------


def test_depth_limit_exact():
    depth = DEFAULT_MAX_DEPTH
    value = loads("{" * depth + "}" * depth)
    levels = 1
    while value != {}:
        (value,) = value
        levels += 1
    assert levels == depth
    with pytest.raises(LuaSyntaxError, match="nested deeper than 64"):
        loads("{" * (depth + 1) + "}" * (depth + 1))
    assert loads("{{{}}}", max_depth=3) == [[{}]]
    with pytest.raises(LuaSyntaxError, match="nested deeper than 2"):
        loads("{{{}}}", max_depth=2)


def test_length_and_item_limits():
    with pytest.raises(LuaSyntaxError, match="longer than 10"):
        loads("{1, 2, 3, 4, 5}", max_length=10)
    assert loads("{" + "1," * 49 + "}", max_items=50) == [1] * 49
    with pytest.raises(LuaSyntaxError, match="more than 50 values"):
        loads("{" + "1," * 50 + "}", max_items=50)
    with pytest.raises(LuaSyntaxError, match="more than 3 values"):
        loads("{{}, {}, {}}", max_items=3)


#: Hostile inputs as functions of their size n: each must fail in time linear in n.
_HOSTILE = {
    "open-braces": lambda n: "{" * (n * 10),
    "open-keyed-entries": lambda n: "{a=" * (n * 3),
    "open-key-brackets": lambda n: "{[" * (n * 3),
    "minus-signs": lambda n: "- " * (n * 3) + "{",
    "long-string-openers": lambda n: "[[" * (n * 3),
    "open-long-comment": lambda n: "--[[" + "x" * (n * 10),
    "open-escaped-string": lambda n: '"' + "\\65" * (n * 3),
    "many-items-then-name": lambda n: "{" + "1," * (n * 2) + "x}",
    "long-bracket-level": lambda n: "[" + "=" * (n * 10) + "[",
}


def _best_cpu_seconds(*calls, rounds: int) -> tuple[list[float], list]:
    """The best of ``rounds`` CPU times of each call, and what each call returned last.

    CPU time of this process (the reader is pure Python, one thread), so time spent
    waiting for a core on a busy machine does not count; interleaved, so that what
    still varies (caches, frequency) falls on every call, not on one.
    """
    best, last = [math.inf] * len(calls), [None] * len(calls)
    for _ in range(rounds):
        for i, call in enumerate(calls):
            start = time.process_time()
            last[i] = call()
            best[i] = min(best[i], time.process_time() - start)
    return best, last


def _fails(text: str):
    def call() -> None:
        with pytest.raises(LuaSyntaxError):
            loads(text)

    return call


@pytest.mark.parametrize("name", list(_HOSTILE))
def test_hostile_input_fails_in_linear_time(name):
    """Four times the input takes about four times as long (quadratic would be 16).

    A ratio in the same run, not a time limit: it holds on a loaded machine too.
    """
    build = _HOSTILE[name]
    (small, large), _ = _best_cpu_seconds(_fails(build(25_000)), _fails(build(100_000)), rounds=3)
    assert large < 10 * max(small, 1e-3), (small, large)


def test_large_valid_input_is_linear():
    def settings(n: int) -> str:
        return "s = {" + ",\n".join(f'K{i} = {{ {i}, {i}.5, "v{i}" }}' for i in range(n)) + "}"

    small_text, large_text = settings(5_000), settings(20_000)
    (small, large), (_, table) = _best_cpu_seconds(
        lambda: loads(small_text), lambda: loads(large_text), rounds=2
    )
    # Four times the entries, about four times the time (a ratio, not a time limit).
    assert large < 10 * max(small, 1e-3), (small, large)
    assert table["K19999"] == [19999, 19999.5, "v19999"]


# -- property test: random values, written in random Lua style, read back ---------------

_ALPHABET = st.characters(blacklist_categories=("Cs",))
_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_KEYWORDS = {
    "and", "break", "do", "else", "elseif", "end", "false", "for", "function", "goto", "if",
    "in", "local", "nil", "not", "or", "repeat", "return", "then", "true", "until", "while",
}  # fmt: skip

_scalars = (
    st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(_ALPHABET, max_size=12)
    | st.sampled_from(["CropLeft", "end", "nil", "_x", "a b", "]]", "]=]", "\n", "\r\n"])
)
_keys = (
    st.text(_ALPHABET, max_size=8)
    | st.text("abcxyzXYZ_0123", min_size=1, max_size=6)
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
)


def _tables(children):
    return st.lists(children | st.none(), max_size=5) | st.dictionaries(_keys, children, max_size=5)


_values = st.recursive(_scalars, _tables, max_leaves=25)

_SPACES = [
    "",
    " ",
    "\n",
    "\t ",
    " -- a comment\n",
    "--[[ long ]]",
    "--[==[ ]] ]=] ]==]\n",
    "\r\n",
]


class _Writer:
    """Writes a value as Lua with random but valid choices for every token."""

    def __init__(self, rng) -> None:
        self.rng = rng

    def pick(self, options):
        return self.rng.choice(options)

    def space(self) -> str:
        return self.pick(_SPACES)

    def after_minus(self) -> str:
        """Space after a minus sign: "-" followed by "--" would be a comment, in Lua too."""
        gap = self.space()
        return " " + gap if gap.startswith("-") else gap

    def number(self, value) -> str:
        if isinstance(value, int):
            if value == -(2**63):
                return "-0x8000000000000000"
            magnitude = abs(value)
            body = self.pick(
                [str(magnitude), f"0x{magnitude:x}", f"0X{magnitude:X}", f"00{magnitude}"]
            )
            text = "-" + self.after_minus() + body if value < 0 else body
            if self.pick([False, True]):
                text = "- - " + text  # a double negation changes nothing
            return text
        form = self.pick(["repr", "hex", "exp"])
        text = {"repr": repr(value), "hex": float.hex(value), "exp": f"{value:.17e}"}[form]
        if text.startswith("-"):
            text = "-" + self.after_minus() + text[1:]
        return text

    def string(self, value: str) -> str:
        form = self.pick(["double", "single", "long", "escaped"])
        if form == "long" and "\r" not in value:
            for level in range(4):
                closer = "]" + "=" * level + "]"
                if (value + closer).find(closer) == len(value):
                    lead = "\n" if value.startswith("\n") or self.pick([True, False]) else ""
                    return "[" + "=" * level + "[" + lead + value + closer
        quote = "'" if form == "single" else '"'
        out = [quote]
        for ch in value:
            style = self.pick(["raw", "dec", "hex", "u"]) if form == "escaped" else "raw"
            if style == "raw" and ch not in (quote, "\\", "\n", "\r"):
                out.append(ch)
            elif style == "dec" or (style == "raw" and ch in "\n\r"):
                out.extend(f"\\{b:03d}" for b in ch.encode("utf-8"))
            elif style == "hex":
                out.extend(f"\\x{b:02x}" for b in ch.encode("utf-8"))
            elif style == "u":
                out.append(f"\\u{{{ord(ch):X}}}")
            else:
                out.append("\\" + ch)
        out.append(quote)
        return "".join(out)

    def key(self, key) -> str:
        if isinstance(key, str):
            if _NAME_RE.fullmatch(key) and key not in _KEYWORDS and self.pick([True, False]):
                return key
            literal = self.string(key)
            # "[" right before a long bracket would open a long string, in Lua too.
            gap = self.space() or (" " if literal.startswith("[") else "")
            return "[" + gap + literal + self.space() + "]"
        if self.pick([True, False]) and abs(key) < 2**53:
            return f"[{float(key)!r}]"
        return "[" + self.number(key) + "]"

    def value(self, value) -> str:
        if value is None:
            return "nil"
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, (int, float)):
            return self.number(value)
        if isinstance(value, str):
            return self.string(value)
        if isinstance(value, dict):
            entries = [
                self.key(k) + self.space() + "=" + self.space() + self.value(v)
                for k, v in value.items()
            ]
        else:
            entries = [self.value(v) for v in value]
        parts = ["{", self.space()]
        for i, entry in enumerate(entries):
            parts += [entry, self.space()]
            if i < len(entries) - 1 or self.pick([True, False]):
                parts += [self.pick([",", ";"]), self.space()]
        parts.append("}")
        return "".join(parts)


def _expected(value):
    """What loads gives back: an empty list reads as {}."""
    if isinstance(value, list):
        return [_expected(v) for v in value] if value else {}
    if isinstance(value, dict):
        return {k: _expected(v) for k, v in value.items()}
    return value


def _same(a, b) -> bool:
    """Equal, with the same types (1 is not 1.0, True is not 1)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return a == b


@settings(max_examples=200, deadline=None)
@given(value=_values, rng=st.randoms(use_true_random=False))
def test_property_random_lua_style_round_trip(value, rng):
    writer = _Writer(rng)
    prefix = writer.pick(["", "s = ", "return ", "settings="])
    text = writer.space() + prefix + writer.value(value) + writer.space()
    assert _same(loads(text), _expected(value)), text


@settings(max_examples=100, deadline=None)
@given(value=_values)
def test_property_dumps_round_trip(value):
    assert _same(loads("s = " + dumps(value)), _expected(value))


def test_the_smallest_integer_round_trips_as_an_integer():
    # Found by the property test: "-9223372036854775808" is a float in Lua.
    assert loads("s = -9223372036854775808") == pytest.approx(-(2.0**63))
    assert isinstance(loads("s = -9223372036854775808"), float)
    assert _same(loads("s = " + dumps(-(2**63))), -(2**63))

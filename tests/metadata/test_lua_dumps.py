"""Tests of the test-catalog Lua writer (tests/metadata/lua_dumps.py)."""

from __future__ import annotations

import math
from typing import Any

import pytest

from cropperhead.metadata.lua import DEFAULT_MAX_DEPTH, loads
from tests.metadata.lua_dumps import dumps

# -- layout ---------------------------------------------------------------------------


def test_dumps_lightroom_layout():
    text = dumps({"A": 1, "B": [0, 255], "C": {}, "D": 'x"y\n', "E": None, "F": -0.5})
    assert text == '{ A = 1,\nB = { 0,\n255 },\nC = {  },\nD = "x\\"y\\n",\nF = -0.5 }'
    assert dumps({"end": True, "a b": False, 3: None, 4: nil_list()}) == (
        '{ ["end"] = true,\n["a b"] = false,\n[4] = { nil } }'
    )
    assert loads("s = " + dumps({"x": [1.0, 2, "\x00\x7f\r"]})) == {"x": [1.0, 2, "\x00\x7f\r"]}


def nil_list() -> list[None]:
    return [None]


@pytest.mark.parametrize(
    ("value", "error"),
    [
        (math.nan, ValueError),
        (math.inf, ValueError),
        (2**63, ValueError),
        (-(2**63) - 1, ValueError),
        (object(), TypeError),
        ({True: 1}, TypeError),
        ({(1, 2): 1}, TypeError),
        ({math.nan: 1}, ValueError),
        ("\ud800", ValueError),
        (b"bytes", TypeError),
    ],
)
def test_dumps_refuses(value, error):
    with pytest.raises(error):
        dumps(value)


def test_dumps_depth_limit():
    deep: Any = []
    for _ in range(DEFAULT_MAX_DEPTH + 1):
        deep = [deep]
    with pytest.raises(ValueError, match="nested deeper"):
        dumps(deep)
    very_deep: Any = []
    for _ in range(10_000):
        very_deep = [very_deep]
    with pytest.raises(ValueError, match="nested deeper"):
        dumps(very_deep)  # not RecursionError

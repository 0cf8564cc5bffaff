"""The Lightroom Classic plug-in (lightroom/CropperHead.lrplugin) under lua5.1 and a fake SDK.

What runs for real here: the plug-in's Lua (Lua 5.1, as in Lightroom), /bin/sh for the
macOS command line (through the fake LrTasks.execute), Hydra's override parser and
OmegaConf for the options the predictor gets, and CropperHead's geometry for the values
applied. What is faked: Lightroom's SDK modules (tests/lightroom/fake_sdk), the
predictor (fake_predict.py, which writes records the way predict does) and cmd.exe
(emulated below from its documented quoting rules).
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from cropperhead.geometry import Crop, crop_stored_to_display, display_size, largest_crop
from cropperhead.metadata.lrcat import LIGHTROOM_ORIENTATIONS
from cropperhead.predict.lightroom import lightroom_values
from cropperhead.scan.relocate import parse_path_map
from tests.lightroom.luarun import (
    FAKE_PREDICT,
    FAKE_SDK,
    LUA,
    LUAC,
    PLUGIN_DIR,
    needs_lua,
    predictor_command,
    run_chunk,
    run_scenario,
)

pytestmark = needs_lua

HISTORY = "CropperHead crop"
CROP_KEYS = ("CropLeft", "CropTop", "CropRight", "CropBottom", "CropAngle")


# --------------------------------------------------------------------------- helpers


def lua_string(text: str) -> str:
    """A Lua long-bracket literal holding text exactly (no escapes in it)."""
    level = 0
    while f"]{'=' * level}]" in text:
        level += 1
    eq = "=" * level
    return f"[{eq}[\n{text}]{eq}]"


def make_photo(folder: Path, name: str) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(b"not really a photo")
    return str(path)


def suggest(
    tmp: Path, photos: list[dict], plan: dict | None = None, prefs: dict | None = None, **scenario
) -> tuple[dict, dict]:
    """Run "Suggest crops" with the fake predictor; return (plug-in log, predictor log)."""
    plan_path = tmp / "plan.json"
    plan_path.write_text(json.dumps(plan or {}), encoding="utf-8")
    fake_log = tmp / "fake_log.json"
    settings = {"command": predictor_command(), "checkpoint": str(tmp / "model.ckpt")}
    settings.update(prefs or {})
    scenario.setdefault("selected", list(range(len(photos))))
    log = run_scenario(
        tmp,
        env={"CROPPERHEAD_FAKE_PLAN": str(plan_path), "CROPPERHEAD_FAKE_LOG": str(fake_log)},
        entry="MenuSuggestCrops.lua",
        photos=photos,
        prefs=settings,
        **scenario,
    )
    seen = json.loads(fake_log.read_text("utf-8")) if fake_log.exists() else {}
    return log, seen


def final_message(log: dict) -> str:
    assert log["messages"], "no dialog was shown"
    return log["messages"][-1]["message"]


def expected_values(crop: Crop, stored: tuple[int, int], code: str) -> dict:
    """What Lightroom should get: the project's geometry, from Lightroom's code alone."""
    exif = LIGHTROOM_ORIENTATIONS[code]
    width, height = display_size(*stored, exif)
    return lightroom_values(crop, width, height, exif)


# --------------------------------------------------------------------------- files


def plugin_lua_files() -> list[Path]:
    return sorted(PLUGIN_DIR.glob("*.lua")) + sorted(FAKE_SDK.glob("*.lua"))


@pytest.mark.parametrize("path", plugin_lua_files(), ids=lambda p: p.name)
def test_every_lua_file_parses_under_lua51(path):
    if LUAC:
        proc = subprocess.run([LUAC, "-p", str(path)], capture_output=True, text=True)
    else:
        code = f"assert(loadfile({json.dumps(str(path))}))"
        proc = subprocess.run([LUA, "-e", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_info_lua_declares_the_plugin(tmp_path):
    info = run_chunk(tmp_path, f"return dofile({json.dumps(str(PLUGIN_DIR / 'Info.lua'))})")
    assert info["LrToolkitIdentifier"] == "com.cropperhead.lightroom"
    assert info["LrPluginName"] == "CropperHead"
    assert info["LrSdkVersion"] >= 6
    assert set(info["VERSION"]) == {"major", "minor", "revision", "build"}
    files = [item["file"] for item in info["LrLibraryMenuItems"]] + [info["LrPluginInfoProvider"]]
    for name in files:
        assert (PLUGIN_DIR / name).is_file(), name
    titles = [item["title"] for item in info["LrLibraryMenuItems"]]
    assert titles[0] == "Suggest crops for the selected photos"
    assert titles[1].startswith("Apply suggestions from a file")


def test_plugin_info_provider_binds_the_preferences(tmp_path):
    result = run_chunk(
        tmp_path,
        """
        local provider = dofile(_PLUGIN.path .. "/PluginInfoProvider.lua")
        local f = (import "LrView").osFactory()
        local sections = provider.sectionsForTopOfDialog(f, {})
        local bound = {}
        local function walk(view)
            if type(view) ~= "table" then return end
            if view.args and type(view.args.value) == "table" and view.args.value.bind then
                bound[#bound + 1] = view.args.value.bind
            end
            for _, child in ipairs(view.args or view) do walk(child) end
        end
        walk(sections[1])
        local prefs = (import "LrPrefs").prefsForPlugin()
        return { title = sections[1].title, bound = bound, command = prefs.command,
                 bindTo = sections[1][1].args.bind_to_object == prefs }
        """,
    )
    assert result["title"] == "CropperHead"
    assert sorted(result["bound"]) == ["checkpoint", "command", "extraOptions", "replaceExisting"]
    assert result["command"] == "cropperhead predict"  # the default
    assert result["bindTo"] is True


# --------------------------------------------------------------------------- JSON


def real_records() -> list[dict]:
    from cropperhead.predict.predictor import Prediction
    from cropperhead.predict.records import prediction_record

    names = [
        "/photos/plain/IMG_0001.CR2",
        "/photos/space and 'quote' \"double\"/IMG 2.jpg",
        "/photos/ünïcödé/写真 😀.JPG",
        "C:\\Users\\Me\\Pictures\\2023\\IMG_3.NEF",
        "/photos/tab\there/new\nline.jpg",
        "/photos/bad-\udcff\udc80-utf8.jpg",  # a non-UTF-8 name, as os.fsdecode gives it
    ]
    records = []
    for i, name in enumerate(names):
        crop = Crop(
            0.05 * (i + 1),
            0.02,
            0.95,
            0.97 - 0.01 * i,
            [-3.01, 0.0, 12.5, -0.000001, 1e-5, 44.9][i],
        )
        pred = Prediction(
            i, Path(name), 4000 + i, 3000 - i, (i % 8) + 1, crop, confidence=0.5 + i / 10
        )
        record = prediction_record(pred, crop, aspect="3:2" if i == 1 else None)
        record["lightroom"] = lightroom_values(crop, 4000 + i, 3000 - i, (i % 8) + 1)
        records.append(record)
    records[2]["leave_uncropped"] = True
    records[3]["confidence"] = float("nan")  # json.dumps writes NaN
    return records


def test_json_decodes_real_predict_records(tmp_path):
    records = real_records()
    # Exactly how predict writes them (records.RecordWriter): ASCII JSON, backslashreplace.
    text = "".join(json.dumps(r) + "\n" for r in records)
    assert text.isascii()
    assert "\\udcff" in text
    assert "\\ud83d\\ude00" in text
    result = run_chunk(
        tmp_path,
        f"""
        local Predictions = require "Predictions"
        local Json = require "Json"
        local parsed = Predictions.parse({lua_string(text)})
        local nan = parsed.records[4].confidence
        parsed.records[4].confidence = nil
        return {{ encoded = Json.encode(parsed.records), errors = Json.array(parsed.errors),
                  nan = nan ~= nan, lines = parsed.records[6].line }}
        """,
    )
    assert result["errors"] == []
    assert result["nan"] is True
    assert result["lines"] == 6
    decoded = json.loads(
        result["encoded"].encode("utf-8", "surrogateescape").decode("utf-8", "surrogateescape")
    )
    for got, want in zip(decoded, records, strict=True):
        got.pop("line")
        want = dict(want)
        if want["confidence"] != want["confidence"]:
            want.pop("confidence")
        # Lua keeps the surrogateescape bytes as raw bytes, so they come back as \udcXX.
        assert got == want


def test_json_surrogate_escape_decodes_to_the_original_bytes(tmp_path):
    result = run_chunk(
        tmp_path,
        r"""
        local Json = require "Json"
        local function bytes(s)
            local t = {}
            for i = 1, #s do t[#t + 1] = s:byte(i) end
            return t
        end
        return {
            raw = bytes(Json.decode([["a\udcff\udc80b"]])),
            pair = bytes(Json.decode([["\ud83d\ude00"]])),
            bmp = bytes(Json.decode([["\u00e9\u4e2d"]])),
            lone_high = bytes(Json.decode([["\ud800x"]])),
            lone_low = bytes(Json.decode([["\udc41"]])),
            escapes = Json.decode([["\"\\\/\b\f\n\r\t"]]),
        }
        """,
    )
    assert bytes(result["raw"]) == b"a\xff\x80b"  # the name's own bytes (surrogateescape undone)
    assert bytes(result["pair"]) == "😀".encode()
    assert bytes(result["bmp"]) == "é中".encode()
    assert bytes(result["lone_high"]) == "\ud800".encode("utf-8", "surrogatepass") + b"x"
    assert bytes(result["lone_low"]) == "\udc41".encode("utf-8", "surrogatepass")
    assert result["escapes"] == '"\\/\b\f\n\r\t'


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"a": 1', "expected ',' or '}'"),
        ('{"a": 01}', "bad number"),
        ('{"a": 1.}', "bad number"),
        ('{"a": "x\\q"}', "bad escape"),
        ('{"a": "\\u12"}', "bad \\u escape"),
        ('"abc', "unterminated string"),
        ('"a\tb"', "control character"),
        ("[1, 2] 3", "unexpected text after the value"),
        ("{'a': 1}", "expected a key"),
        ("", "unexpected end"),
        ("@", "unexpected character"),
        ("[" * 500 + "]" * 500, "nested too deeply"),
    ],
)
def test_json_rejects_bad_text_with_a_position(tmp_path, text, message):
    result = run_chunk(
        tmp_path,
        f"""
        local v, err = (require "Json").decode({lua_string(text)})
        return {{ ok = v ~= nil, err = err or "" }}
        """,
    )
    assert result["ok"] is False
    assert message in result["err"]
    assert "at character" in result["err"]


def test_json_numbers_and_encode_round_trip(tmp_path):
    numbers = [0, -0.0, 1, -17, 3.25, 1e-05, -2.5e10, 1.7976931348623157e308, 0.1 + 0.2]
    value = {"numbers": numbers, "text": 'q"b\\s/n\nt\tc\x01é', "nested": {"empty": [], "t": True}}
    result = run_chunk(
        tmp_path,
        f"""
        local Json = require "Json"
        local v = assert(Json.decode({lua_string(json.dumps(value))}))
        return Json.encode(v)
        """,
    )
    assert json.loads(result) == value


# --------------------------------------------------------------------------- paths


MAP_CASES = [
    # (maps, record path, expected path here or None)
    (
        ["C:/Users/me/Pictures=/photos"],
        "C:\\Users\\me\\Pictures\\2023\\IMG_1.CR2",
        "/photos/2023/IMG_1.CR2",
    ),
    (["c:/users/ME/pictures=/photos"], "C:\\Users\\me\\Pictures\\a.jpg", "/photos/a.jpg"),
    (["C:/Users/me/Pictures/=/photos/"], "C:/Users/me/Pictures/x/a.jpg", "/photos/x/a.jpg"),
    (["D:/Photos=/mnt/p"], "D:/Photos2/a.jpg", None),  # whole folder names only
    (["D:/Photos=/mnt/p"], "D:/Photos", "/mnt/p"),
    (["/Volumes/Photos=/mnt/photos"], "/Volumes/photos/a.jpg", None),  # Unix: case matters
    (["/Volumes/Photos=/mnt/photos"], "/Volumes/Photos/a b/c.jpg", "/mnt/photos/a b/c.jpg"),
    (
        ["/Volumes/Photos=/mnt/photos", "/Volumes/Photos/2023=/fast/2023"],
        "/Volumes/Photos/2023/a.jpg",
        "/fast/2023/a.jpg",
    ),  # longest prefix wins, whatever the order
    (
        ["/Volumes/Photos/2023=/fast/2023", "/Volumes/Photos=/mnt/photos"],
        "/Volumes/Photos/2022/a.jpg",
        "/mnt/photos/2022/a.jpg",
    ),
    (["/=/root"], "/a/b.jpg", "/root/a/b.jpg"),
    (["E:\\Raw\\=/data/raw"], "e:/raw/x.dng", "/data/raw/x.dng"),
]


@pytest.mark.parametrize(("maps", "path", "expected"), MAP_CASES)
def test_path_maps_follow_relocate_py(tmp_path, maps, path, expected):
    joined = "\n".join(maps)
    result = run_chunk(
        tmp_path,
        f"""
        local Paths = require "Paths"
        local maps = assert(Paths.parseMaps({lua_string(joined)}, "/home/me"))
        return Paths.mapped({lua_string(path)}, maps) or false
        """,
    )
    # The same rule in Python (relocate.py), which is what the scan does.
    python_maps = [parse_path_map(m) for m in maps]
    from cropperhead.scan.relocate import _mapped

    python = _mapped(path, python_maps)
    assert (python is None) == (expected is None)
    if expected is None:
        assert result is False
    else:
        assert result is not False
        assert result.replace("\\", "/") == expected == python


def test_path_map_parsing_and_home(tmp_path):
    result = run_chunk(
        tmp_path,
        r"""
        local Paths = require "Paths"
        local maps = assert(Paths.parseMaps(" C:/a = ~/Pictures \r\n\n/x=/y=z\n", "/Users/me"))
        local bad1, err1 = Paths.parseMaps("no equals sign", "/h")
        local bad2, err2 = Paths.parseMaps("=/new", "/h")
        local winHome = assert(Paths.parseMaps("/old=~\\Pics", "C:\\Users\\me"))
        return { maps = maps, err1 = err1, err2 = err2, bad = bad1 == nil and bad2 == nil,
                 win = winHome[1].new }
        """,
    )
    assert result["maps"] == [
        {"old": "C:/a", "new": "/Users/me/Pictures"},
        {"old": "/x", "new": "/y=z"},
    ]
    assert result["bad"] is True
    assert "line 1" in result["err1"]
    assert "OLD=NEW" in result["err1"]
    assert "OLD=NEW" in result["err2"]
    assert result["win"] == "C:\\Users\\me\\Pics"


def test_same_path_rules(tmp_path):
    pairs = [
        ("C:\\Users\\Me\\a.jpg", "c:/users/me/A.JPG", True),  # Windows drive: any case
        ("\\\\NAS\\Photos\\a.jpg", "//nas/photos/a.jpg", True),  # UNC
        ("/Users/me/a.jpg", "/Users/me/A.jpg", False),  # macOS paths compared exactly
        ("/Users/me//x/a.jpg", "/Users/me/x/a.jpg", True),
        ("/Users/me/x/", "/Users/me/x", True),
        ("/a/b.jpg", "/a/b.JPG", False),
    ]
    code = (
        "local Paths = require 'Paths'\nreturn {"
        + ",".join(f"Paths.same({lua_string(a)}, {lua_string(b)})" for a, b, _ in pairs)
        + "}"
    )
    assert run_chunk(tmp_path, code) == [same for _, _, same in pairs]


def test_orientation_table_is_the_projects(tmp_path):
    table = run_chunk(tmp_path, "return (require 'Orientation').TO_EXIF")
    assert table == LIGHTROOM_ORIENTATIONS
    result = run_chunk(
        tmp_path / "b",
        "local O = require 'Orientation'\n"
        "return { O.toExif('bc'), O.toExif('XY') or false, O.current({orientation='DA'}),"
        " O.current({}) or false, O.current({orientation=5}) or false }",
    )
    assert result == [6, False, "DA", False, False]


# --------------------------------------------------------------------------- command line


WEIRD = "we ird $HOME `x` ${oc} 'q' & ; | * [a,b]=c \\ é"


def test_posix_command_line_survives_sh_and_hydra(tmp_path):
    spec = {
        "command": '"/opt/my env/bin/cropperhead" predict',
        "workDir": f"/tmp/{WEIRD}/work",
        "checkpoint": f"/models/{WEIRD}/last.ckpt",
        "inputList": f"/tmp/{WEIRD}/work/photos.json",
        "orientations": f"/tmp/{WEIRD}/work/orientations.json",
        "output": f"/tmp/{WEIRD}/work/predictions.jsonl",
        "stdout": "/tmp/o.txt",
        "stderr": "/tmp/e.txt",
        "extraOptions": "aspect=3:2 note='a b' +foo=1",
    }
    line = run_chunk(
        tmp_path,
        "local spec = (require 'Json').decode(" + lua_string(json.dumps(spec)) + ")\n"
        "return assert((require 'Shell').predictCommand(spec))",
    )
    words = shlex.split(line)
    assert words[:2] == ["cd", spec["workDir"]]
    assert words[2] == "&&"
    assert words[3:5] == ["/opt/my env/bin/cropperhead", "predict"]
    assert words[-2:] == [">/tmp/o.txt", "2>/tmp/e.txt"]
    overrides = words[5:-2]
    assert overrides[:3] == ["aspect=3:2", "note='a b'", "+foo=1"]  # extra options as typed
    assert overrides[-2:] == ["format=jsonl", "progress=false"]
    assert resolve_overrides(overrides[3:]) == {
        "ckpt_path": spec["checkpoint"],
        "input_list": spec["inputList"],
        "orientations": spec["orientations"],
        "output": spec["output"],
        "format": "jsonl",
        "progress": False,
    }


def resolve_overrides(words: list[str]) -> dict:
    """What predict would see: Hydra's override grammar, then OmegaConf's resolution."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from omegaconf import OmegaConf

    parsed = OverridesParser.create().parse_overrides(words)
    return OmegaConf.to_container(
        OmegaConf.create({o.key_or_group: o.value() for o in parsed}), resolve=True
    )


@pytest.mark.parametrize(
    "value",
    [
        "/plain/path.ckpt",
        "/a'b/c",
        "C:\\x\\'y",
        "C:\\dir\\",
        "C:\\dir\\\\",
        "/a${foo}b",
        "/a\\${foo}b",
        "/a\\\\${x}/${y}$",
        "a,b=[c]{d}(e):f",
        "  spaces  ",
        "ünï 写真",
    ],
)
def test_hydra_quoting_keeps_any_path(tmp_path, value):
    quoted = run_chunk(tmp_path, f"return (require 'Shell').hydraValue({lua_string(value)})")
    assert resolve_overrides([f"ckpt_path={quoted}"]) == {"ckpt_path": value}


def cmd_exe_c(line: str) -> tuple[list[list[str]], dict[str, str]]:
    """Emulate how cmd.exe /c runs our line: strip the outer quotes, split at && and
    the redirections (outside quotes), and parse each program's words the way the
    Microsoft C runtime (CommandLineToArgvW) does."""
    assert line.startswith('"'), "cmd /c strips the first and the last quote"
    assert line.endswith('"'), "cmd /c strips the first and the last quote"
    inner = line[1:-1]
    # cmd.exe's own pass: quotes toggle; & | < > are operators only outside them.
    commands, redirects, current, quoted, i = [], {}, "", False, 0
    while i < len(inner):
        c = inner[i]
        if c == '"':
            quoted = not quoted
        elif not quoted and inner.startswith("&&", i):
            commands.append(current)
            current, i = "", i + 2
            continue
        elif not quoted and c in "|<&^":
            raise AssertionError(f"unquoted {c!r} at {i}: {inner}")
        elif not quoted and c == ">":
            target = "2" if current.endswith(" 2") else "1"
            if target == "2":
                current = current[:-1]
            j = i + 1
            assert inner[j] == '"'
            k = inner.index('"', j + 1)
            redirects[target] = inner[j + 1 : k]
            i = k + 1
            continue
        current += c
        i += 1
    assert not quoted
    commands.append(current)
    return [crt_argv(c) for c in commands], redirects


def crt_argv(text: str) -> list[str]:
    """CommandLineToArgvW's rules (backslashes matter only before a quote)."""
    args, current, in_quotes, have, i = [], "", False, False, 0
    while i < len(text):
        c = text[i]
        if c == "\\":
            n = len(text[i:]) - len(text[i:].lstrip("\\"))
            if i + n < len(text) and text[i + n] == '"':
                current += "\\" * (n // 2)
                if n % 2:
                    current += '"'
                    i += n + 1
                else:
                    i += n
            else:
                current += "\\" * n
                i += n
            have = True
            continue
        if c == '"':
            in_quotes = not in_quotes
            have = True
        elif c in " \t" and not in_quotes:
            if have:
                args.append(current)
            current, have = "", False
        else:
            current += c
            have = True
        i += 1
    if have:
        args.append(current)
    return args


def test_windows_command_line_gets_the_extra_quotes(tmp_path):
    temp = "C:\\Users\\Jo Smith\\AppData\\Local\\Temp\\CropperHead-1-000001"
    spec = {
        "windows": True,
        "command": '"C:\\Program Files\\Python311\\python.exe" "D:\\cropper head\\predict.py"',
        "workDir": temp,
        "checkpoint": "D:\\models & more\\50% (best)\\last.ckpt",
        "inputList": temp + "\\photos.json",
        "orientations": temp + "\\orientations.json",
        "output": temp + "\\predictions.jsonl",
        "stdout": temp + "\\predict-stdout.txt",
        "stderr": temp + "\\predict-stderr.txt",
        "extraOptions": "aspect=original device=cpu",
    }
    line = run_chunk(
        tmp_path,
        "local spec = (require 'Json').decode(" + lua_string(json.dumps(spec)) + ")\n"
        "return assert((require 'Shell').predictCommand(spec))",
    )
    (cd, program), redirects = cmd_exe_c(line)
    assert cd == ["cd", "/d", temp]
    assert program[:2] == [
        "C:\\Program Files\\Python311\\python.exe",
        "D:\\cropper head\\predict.py",
    ]
    assert program[2:4] == ["aspect=original", "device=cpu"]
    assert resolve_overrides(program[4:]) == {
        "ckpt_path": spec["checkpoint"],
        "input_list": spec["inputList"],
        "orientations": spec["orientations"],
        "output": spec["output"],
        "format": "jsonl",
        "progress": False,
    }
    assert redirects == {"1": spec["stdout"], "2": spec["stderr"]}


def test_windows_quoting_doubles_backslashes_before_the_closing_quote(tmp_path):
    result = run_chunk(
        tmp_path,
        r"""
        local Shell = require "Shell"
        local bad, err = Shell.quoteWindows('say "hi"')
        return { Shell.quoteWindows("C:\\dir\\"), Shell.quoteWindows("a\\b"), bad or false, err }
        """,
    )
    assert crt_argv(result[0]) == ["C:\\dir\\"]
    assert crt_argv(result[1]) == ["a\\b"]
    assert result[2] is False
    assert '"' in result[3]


@pytest.mark.parametrize(
    ("status", "windows", "code"),
    [
        (0, False, 0),
        (512, False, 2),
        (2, False, 2),
        (127 * 256, False, 127),
        (9009, True, 9009),
        (2, True, 2),
    ],
)
def test_exit_status_is_read_both_ways(tmp_path, status, windows, code):
    assert (
        run_chunk(tmp_path, f"return (require 'Shell').exitCode({status}, {str(windows).lower()})")
        == code
    )


def test_extra_options_may_not_set_what_the_plugin_sets(tmp_path):
    result = run_chunk(
        tmp_path,
        """
        local Shell = require "Shell"
        local out = {}
        for _, text in ipairs({"output=/x.jsonl", "aspect=1:1 +input=a", "ckpt_path=b",
                               "format=csv",
                               "aspect='3:2", "aspect=original  device=cpu"}) do
            local words, err = Shell.extraOptions(text)
            out[#out + 1] = words and table.concat(words, "|") or ("ERR " .. err)
        end
        return out
        """,
    )
    assert result[0].startswith("ERR")
    assert "output=" in result[0]
    assert result[1].startswith("ERR")
    assert "input=" in result[1]
    assert result[2].startswith("ERR")
    assert result[3].startswith("ERR")
    assert result[4].startswith("ERR")
    assert "unbalanced" in result[4]
    assert result[5] == "aspect=original|device=cpu"


# --------------------------------------------------------------------------- suggest crops


ORIENTATION_CODES = list(LIGHTROOM_ORIENTATIONS)  # AB, BA, CD, DC, AD, BC, CB, DA


def test_suggest_applies_the_project_geometry_in_all_eight_orientations(tmp_path):
    folder = tmp_path / "Photos 2024"
    photos, plan = [], {"photos": {}}
    crops = {}
    for i, code in enumerate(ORIENTATION_CODES):
        name = f"IMG_{i}_{code}.CR2"
        path = make_photo(folder, name)
        # The file's own EXIF says 1; Lightroom shows it as `code` (turned in Lightroom).
        photos.append({"path": path, "develop": {"orientation": code, "Exposure2012": 0.35}})
        # A turned crop that fits the photo as Lightroom shows it (display frame).
        shown_w, shown_h = display_size(6000, 4000, LIGHTROOM_ORIENTATIONS[code])
        angle = [-3.01, 7.5, 0.0, -12.0, 2.0, -0.5, 30.0, 1.25][i]
        centre = (shown_w * (0.45 + 0.01 * i), shown_h * (0.55 - 0.01 * i))
        crop = largest_crop(shown_w, shown_h, [1.5, 0.8, 1.0, 1.25][i % 4], angle, centre)
        crops[name] = crop
        plan["photos"][name] = {"stored": [6000, 4000], "crop": crop.to_dict(), "orientation": 1}
    log, seen = suggest(tmp_path, photos, plan)

    # The predictor got the photos as a file and Lightroom's orientations as EXIF codes.
    assert seen["input_list"] == [p["path"] for p in photos]
    assert seen["orientations"] == {
        p["path"]: LIGHTROOM_ORIENTATIONS[p["develop"]["orientation"]] for p in photos
    }
    assert seen["options"]["format"] == "jsonl"
    assert seen["options"]["progress"] is False
    assert seen["options"]["ckpt_path"] == str(tmp_path / "model.ckpt")
    assert Path(seen["cwd"]).parent == tmp_path / "lrtemp"  # runs in the work folder

    # One write access, one history step per photo, exactly the crop keys.
    assert log["write_access"] == [{"name": "CropperHead: apply suggested crops", "timeout": 60}]
    assert len(log["applied"]) == 8
    for applied, photo in zip(log["applied"], photos, strict=True):
        name = Path(photo["path"]).name
        assert applied["history"] == HISTORY
        assert set(applied["settings"]) == {*CROP_KEYS, "HasCrop"}
        assert applied["settings"]["HasCrop"] is True
        want = expected_values(crops[name], (6000, 4000), photo["develop"]["orientation"])
        for key in CROP_KEYS:
            assert applied["settings"][key] == pytest.approx(want[key], abs=1e-9), (name, key)
        # And it is the same crop the photographer would see: back to the display frame.
        exif = LIGHTROOM_ORIENTATIONS[photo["develop"]["orientation"]]
        stored = Crop(*(applied["settings"][k] for k in CROP_KEYS))
        shown = crop_stored_to_display(stored, 6000, 4000, exif)
        assert shown.as_array() == pytest.approx(crops[name].as_array(), abs=1e-7)
    # Other settings are kept.
    for final in log["final_develop"]:
        assert final["Exposure2012"] == 0.35
    assert final_message(log).startswith("Applied 8 crops")
    assert log["messages"][-1]["style"] == "info"
    # The work folder is removed after a successful run.
    assert list((tmp_path / "lrtemp").iterdir()) == []


def test_suggest_without_lightroom_orientation_uses_the_file_own(tmp_path):
    path = make_photo(tmp_path / "p", "a.jpg")
    log, seen = suggest(
        tmp_path,
        [{"path": path, "develop": {}}],
        {"photos": {"a.jpg": {"orientation": 6, "stored": [4000, 3000]}}},
    )
    assert "orientations" not in seen["options"]  # nothing to tell the predictor
    assert len(log["applied"]) == 1


def test_suggest_skips_with_reasons(tmp_path):
    folder = tmp_path / "shoot"
    names = [
        "cropped.jpg",
        "angled.jpg",
        "hascrop_false.jpg",
        "leave.jpg",
        "unreadable.jpg",
        "missing.jpg",
        "clip.mov",
        "fine.jpg",
    ]
    paths = {n: make_photo(folder, n) for n in names}
    photos = [
        {
            "path": paths["cropped.jpg"],
            "develop": {"CropLeft": 0.1, "CropRight": 0.9, "orientation": "AB"},
        },
        {"path": paths["angled.jpg"], "develop": {"CropAngle": 2.0}},
        {"path": paths["hascrop_false.jpg"], "develop": {"HasCrop": False, "CropLeft": 0.2}},
        {"path": paths["leave.jpg"], "develop": {}},
        {"path": paths["unreadable.jpg"], "develop": {}},
        {"path": paths["missing.jpg"], "develop": {}, "exists": False},
        {"path": paths["clip.mov"], "develop": {}, "fileFormat": "VIDEO"},
        {
            "path": paths["fine.jpg"],
            "develop": {"CropLeft": 0, "CropTop": 0, "CropRight": 1, "CropBottom": 1},
        },
    ]
    plan = {"photos": {"leave.jpg": {"leave_uncropped": True}, "unreadable.jpg": {"omit": True}}}
    log, seen = suggest(tmp_path, photos, plan)
    # Photos that would be skipped anyway are not predicted.
    assert [Path(p).name for p in seen["input_list"]] == [
        "hascrop_false.jpg",
        "leave.jpg",
        "unreadable.jpg",
        "fine.jpg",
    ]
    assert sorted(Path(a["path"]).name for a in log["applied"]) == ["fine.jpg", "hascrop_false.jpg"]
    text = final_message(log)
    assert "Applied 2 crops" in text
    assert "Skipped 6 photos" in text
    assert 'already cropped (tick "Replace existing crops" to replace): 2' in text
    assert "left uncropped (the model thinks you would not crop them): 1" in text
    assert "not in the predictions: 1" in text
    assert "photo file missing on disk: 1" in text
    assert "video (not cropped): 1" in text
    assert (
        "unreadable.jpg: not in the predictions - the predictor could not read it "
        "(its summary: skipped 1 (unreadable 1))" in text
    )
    assert "cropped.jpg: already cropped" in text
    assert "angled.jpg: already cropped" in text


def test_suggest_replaces_existing_crops_when_asked(tmp_path):
    path = make_photo(tmp_path / "p", "a.jpg")
    photos = [{"path": path, "develop": {"CropLeft": 0.3, "CropAngle": 5, "Contrast2012": 12}}]
    log, _ = suggest(tmp_path, photos, prefs={"replaceExisting": True})
    assert len(log["applied"]) == 1
    assert log["final_develop"][0]["CropLeft"] == pytest.approx(0.1)
    assert log["final_develop"][0]["Contrast2012"] == 12


def test_suggest_virtual_copy_turned_differently_is_not_cropped_wrongly(tmp_path):
    path = make_photo(tmp_path / "p", "a.jpg")
    photos = [
        {"path": path, "develop": {"orientation": "AB"}},
        {"path": path, "develop": {"orientation": "BC"}, "copyName": "Copy 1"},
    ]
    log, seen = suggest(tmp_path, photos)
    assert seen["input_list"] == [path]  # one file, predicted once
    assert [a["index"] for a in log["applied"]] == [0]
    text = final_message(log)
    assert (
        "a.jpg (Copy 1): turned or flipped differently from the suggestion - "
        "suggested for orientation AB, shown as BC" in text
    )


def test_suggest_matches_records_whose_path_the_predictor_resolved(tmp_path):
    real = tmp_path / "real folder"
    make_photo(real, "IMG_7.jpg")
    link = tmp_path / "link"
    link.symlink_to(real)
    photos = [{"path": str(link / "IMG_7.jpg"), "develop": {}}]
    log, _ = suggest(tmp_path, photos)
    assert len(log["applied"]) == 1  # the record says real folder/IMG_7.jpg


def test_suggest_handles_odd_characters_in_every_path(tmp_path):
    odd = tmp_path / "it's a $HOME `x` ${y} & [b]=c é"
    script = odd / "bin dir" / "fake predict.py"
    script.parent.mkdir(parents=True)
    script.write_text(FAKE_PREDICT.read_text("utf-8"), encoding="utf-8")
    path = make_photo(odd / "photos; rm -rf ~", "IMG 'one' \"two\".jpg")
    log, seen = suggest(
        tmp_path,
        [{"path": path, "develop": {"orientation": "DA"}}],
        prefs={"command": predictor_command(script), "checkpoint": str(odd / "model's.ckpt")},
        temp=str(odd / "temp folder"),
    )
    assert seen["input_list"] == [path]
    assert seen["options"]["ckpt_path"] == str(odd / "model's.ckpt")
    assert seen["orientations"] == {path: 8}
    assert len(log["applied"]) == 1


def test_suggest_reports_a_missing_command(tmp_path):
    path = make_photo(tmp_path / "p", "a.jpg")
    log, seen = suggest(
        tmp_path,
        [{"path": path, "develop": {}}],
        prefs={"command": "/nonexistent/bin/cropperhead predict"},
    )
    assert seen == {}
    assert log["applied"] == []
    message = log["messages"][-1]
    assert message["style"] == "critical"
    assert message["message"].startswith("Could not start the predictor:")
    assert "/nonexistent/bin/cropperhead" in message["message"]  # sh's own line, captured
    assert "full path" in message["message"]


def test_suggest_shows_predict_one_line_error(tmp_path):
    path = make_photo(tmp_path / "p", "a.jpg")
    plan = {"exit": 2, "stderr": "some warning\nerror: no checkpoint at /x/last.ckpt\n"}
    log, _ = suggest(tmp_path, [{"path": path, "develop": {}}], plan)
    message = log["messages"][-1]["message"]
    assert message.startswith("The predictor stopped: error: no checkpoint at /x/last.ckpt")
    assert "predict-stderr.txt" in message
    assert log["applied"] == []
    assert log["write_access"] == []
    # The work folder stays, with the messages in it.
    (work,) = (tmp_path / "lrtemp").iterdir()
    assert "no checkpoint" in (work / "predict-stderr.txt").read_text()


def test_suggest_shows_the_end_of_a_crash(tmp_path):
    path = make_photo(tmp_path / "p", "a.jpg")
    trace = "Traceback (most recent call last):\n" + "".join(
        f'  File "x.py", line {i}\n' for i in range(9)
    )
    plan = {"exit": 1, "stderr": trace + "RuntimeError: CUDA out of memory\n"}
    log, _ = suggest(tmp_path, [{"path": path, "develop": {}}], plan)
    message = log["messages"][-1]["message"]
    assert message.startswith("The predictor failed (exit status 1):")
    assert "RuntimeError: CUDA out of memory" in message
    assert "Traceback" not in message  # only the last lines


def test_suggest_predictor_without_output(tmp_path):
    path = make_photo(tmp_path / "p", "a.jpg")
    log, _ = suggest(tmp_path, [{"path": path, "develop": {}}], {"no_output": True})
    assert "wrote no predictions" in log["messages"][-1]["message"]


def test_suggest_records_without_lightroom_values(tmp_path):
    path = make_photo(tmp_path / "p", "a.jpg")
    log, _ = suggest(tmp_path, [{"path": path, "develop": {}}], {"no_lightroom": True})
    assert log["applied"] == []
    assert "suggestion without Lightroom values: 1" in final_message(log)


@pytest.mark.parametrize(
    ("prefs", "expected"),
    [
        ({"checkpoint": ""}, "Set the predictor's command and checkpoint first"),
        ({"command": "  "}, "Set the predictor's command and checkpoint first"),
        ({"extraOptions": "output=/tmp/x.jsonl"}, "output= is set by the plug-in itself"),
        ({"command": '"/unbalanced/python'}, "unbalanced"),
    ],
)
def test_suggest_bad_settings(tmp_path, prefs, expected):
    path = make_photo(tmp_path / "p", "a.jpg")
    log, seen = suggest(tmp_path, [{"path": path, "develop": {}}], prefs=prefs)
    assert seen == {}
    assert log["executed"] == []
    assert expected in log["messages"][-1]["message"]
    assert log["messages"][-1]["style"] == "critical"
    assert list((tmp_path / "lrtemp").iterdir()) == []  # no work folder left behind


def test_suggest_with_nothing_selected(tmp_path):
    log = run_scenario(tmp_path, entry="MenuSuggestCrops.lua", photos=[], prefs={})
    assert log["messages"] == [
        {
            "title": "CropperHead: suggest crops",
            "message": "Select the photos to crop first.",
            "style": "info",
        }
    ]


def fake_run_records(paths: list[str], code: str = "AB") -> str:
    lines = []
    for p in paths:
        values = {
            "CropLeft": 0.1,
            "CropTop": 0.2,
            "CropRight": 0.8,
            "CropBottom": 0.9,
            "CropAngle": 1.5,
            "orientation": code,
        }
        lines.append(json.dumps({"source": p, "width": 10, "height": 10, "lightroom": values}))
    return "\n".join(lines) + "\n"


def test_suggest_on_windows_builds_the_cmd_line(tmp_path):
    paths = ["C:\\Photos\\a.jpg", "C:\\Photos\\b.jpg"]
    photos = [{"path": p, "develop": {}, "exists": True} for p in paths]
    log = run_scenario(
        tmp_path,
        platform="win",
        entry="MenuSuggestCrops.lua",
        photos=photos,
        selected=[0, 1],
        prefs={"command": "cropperhead predict", "checkpoint": "D:\\m\\last.ckpt"},
        execute={
            "mode": "fake",
            "status": 0,
            "predictions": fake_run_records(["c:/photos/A.JPG", paths[1]]),
            "stdout": "predicted 2 photos\n",
        },
    )
    (line,) = log["executed"]
    (cd, program), redirects = cmd_exe_c(line)
    assert cd[:2] == ["cd", "/d"]
    assert program[:2] == ["cropperhead", "predict"]
    assert resolve_overrides([program[2]]) == {"ckpt_path": "D:\\m\\last.ckpt"}
    assert redirects["2"].endswith("predict-stderr.txt")
    assert len(log["applied"]) == 2  # Windows paths matched whatever the case


def test_suggest_reads_a_raw_wait_status(tmp_path):
    # Lightroom on macOS may hand back system()'s status: exit 2 is 512.
    path = make_photo(tmp_path / "p", "a.jpg")
    log = run_scenario(
        tmp_path,
        entry="MenuSuggestCrops.lua",
        photos=[{"path": path, "develop": {}}],
        selected=[0],
        prefs={"command": "cropperhead predict", "checkpoint": "/m.ckpt"},
        execute={"mode": "fake", "status": 512, "stderr": "error: ckpt_path= is required\n"},
    )
    assert log["messages"][-1]["message"].startswith(
        "The predictor stopped: error: ckpt_path= is required"
    )


def test_suggest_cancel_and_failures(tmp_path):
    paths = [make_photo(tmp_path / "p", f"{n}.jpg") for n in "abcd"]
    photos = [{"path": p, "develop": {}} for p in paths]
    photos[1]["apply_error"] = "LrPhoto: the photo is locked"
    log = run_scenario(
        tmp_path,
        entry="MenuSuggestCrops.lua",
        photos=photos,
        selected=[0, 1, 2, 3],
        prefs={"command": "x", "checkpoint": "/m.ckpt"},
        execute={"mode": "fake", "status": 0, "predictions": fake_run_records(paths)},
        cancel_after=7,  # 4 checks while looking at the photos, then 3 while applying
    )
    assert [a["index"] for a in log["applied"]] == [0, 2]
    text = final_message(log)
    assert "failed: 1" in text
    assert "b.jpg: failed - LrPhoto: the photo is locked" in text
    assert "not done (cancelled): 1" in text
    assert "d.jpg: not done (cancelled)" in text


def test_suggest_catalog_write_access_refused(tmp_path):
    path = make_photo(tmp_path / "p", "a.jpg")
    log = run_scenario(
        tmp_path,
        entry="MenuSuggestCrops.lua",
        photos=[{"path": path, "develop": {}}],
        selected=[0],
        prefs={"command": "x", "checkpoint": "/m.ckpt"},
        execute={"mode": "fake", "status": 0, "predictions": fake_run_records([path])},
        write_access_error="blocked by another write access call",
    )
    assert log["applied"] == []
    assert "catalog not writable: blocked by another write access call" in final_message(log)


def test_apply_develop_settings_only_inside_write_access(tmp_path):
    # The fake refuses applyDevelopSettings outside withWriteAccessDo, as Lightroom does;
    # every successful test above therefore applied inside it. Check the fake itself.
    result = run_chunk(
        tmp_path,
        """
        local photo = (import "LrApplication").activeCatalog():getAllPhotos()[1]
        local ok, err = pcall(function() photo:applyDevelopSettings({CropLeft = 0.1}, "x") end)
        return { ok = ok, err = err }
        """,
        photos=[{"path": "/a.jpg", "develop": {}}],
    )
    assert result["ok"] is False
    assert "withWriteAccessDo" in result["err"]


# --------------------------------------------------------------------------- apply from a file


def write_predictions(tmp: Path, records: list[dict], name: str = "preds.jsonl") -> Path:
    path = tmp / name
    with open(path, "w", encoding="utf-8", errors="backslashreplace") as handle:
        for r in records:
            handle.write(json.dumps(r) + "\n")
    return path


def record_for(source: str, crop: Crop, stored=(6000, 4000), exif: int = 1, **extra) -> dict:
    width, height = display_size(*stored, exif)
    return {
        "source": source,
        "width": width,
        "height": height,
        "crop": crop.to_dict(),
        "lightroom": lightroom_values(crop, width, height, exif),
        "orientation": exif,
        **extra,
    }


def apply_from_file(
    tmp: Path,
    photos: list[dict],
    file: Path | None,
    path_maps: str = "",
    replace: bool = False,
    **scenario,
) -> dict:
    scenario.setdefault("selected", list(range(len(photos))))
    return run_scenario(
        tmp,
        entry="MenuApplyFromFile.lua",
        photos=photos,
        prefs={"pathMaps": "", "replaceExisting": False},
        open_panel=[[str(file)]] if file else [],
        modal=[{"result": "ok", "set": {"pathMaps": path_maps, "replaceExisting": replace}}],
        **scenario,
    )


def test_apply_from_file_with_path_maps_made_on_windows(tmp_path):
    crop = Crop(0.2, 0.1, 0.9, 0.8, -4.0)
    records = [
        record_for("C:\\Users\\Me\\Pictures\\2023\\IMG_1.CR2", crop, exif=6),
        record_for("C:\\Users\\Me\\Pictures\\2023\\fast\\IMG_2.CR2", crop, exif=1),
        record_for("D:\\Photos2\\IMG_3.CR2", crop),  # must not match D:/Photos
        record_for("/Volumes/Other/IMG_4.CR2", crop),
    ]
    preds = write_predictions(tmp_path, records)
    photos = [
        {"path": "/photos/2023/IMG_1.CR2", "develop": {"orientation": "BC"}},
        {"path": "/ssd/IMG_2.CR2", "develop": {"orientation": "AB"}},
        {"path": "/mnt/d/IMG_3.CR2", "develop": {}},
        {"path": "/Volumes/Other/IMG_4.CR2", "develop": {}},  # same path on both machines
    ]
    maps = "c:/users/me/pictures=/photos\nC:/Users/Me/Pictures/2023/fast=/ssd; D:/Photos=/mnt/d"
    log = apply_from_file(tmp_path, photos, preds, maps)
    applied = {a["path"]: a["settings"] for a in log["applied"]}
    assert sorted(applied) == [
        "/Volumes/Other/IMG_4.CR2",
        "/photos/2023/IMG_1.CR2",
        "/ssd/IMG_2.CR2",
    ]
    want = expected_values(crop, (6000, 4000), "BC")
    for key in CROP_KEYS:
        assert applied["/photos/2023/IMG_1.CR2"][key] == pytest.approx(want[key], abs=1e-9)
    assert all(a["history"] == HISTORY for a in log["applied"])
    text = final_message(log)
    assert "IMG_3.CR2: not in the predictions" in text
    assert "1 of the file's 4 suggestions matched no selected photo." in text
    assert log["prefs"]["pathMaps"] == maps  # remembered for next time
    assert log["open_panels"]
    assert log["modal_dialogs"]


def test_apply_from_file_skips_a_changed_orientation(tmp_path):
    crop = Crop(0.1, 0.1, 0.9, 0.9, 0)
    preds = write_predictions(
        tmp_path, [record_for("/p/a.jpg", crop, exif=6), record_for("/p/b.jpg", crop, exif=8)]
    )
    photos = [
        {"path": "/p/a.jpg", "develop": {"orientation": "AB"}},
        {"path": "/p/b.jpg", "develop": {"orientation": "DA"}},
    ]
    log = apply_from_file(tmp_path, photos, preds)
    assert [a["path"] for a in log["applied"]] == ["/p/b.jpg"]
    text = final_message(log)
    assert (
        "a.jpg: turned or flipped differently from the suggestion - "
        "suggested for orientation BC, shown as AB in Lightroom now" in text
    )


def test_apply_from_file_skips_and_replaces(tmp_path):
    crop = Crop(0.1, 0.1, 0.9, 0.9, 0)
    records = [record_for("/p/a.jpg", crop), record_for("/p/b.jpg", crop, leave_uncropped=True)]
    preds = write_predictions(tmp_path, records)
    photos = [
        {"path": "/p/a.jpg", "develop": {"CropTop": 0.3}},
        {"path": "/p/b.jpg", "develop": {}},
    ]
    log = apply_from_file(tmp_path / "keep", photos, preds)
    assert log["applied"] == []
    text = final_message(log)
    assert "already cropped" in text
    assert "left uncropped" in text
    log = apply_from_file(tmp_path / "replace", photos, preds, replace=True)
    assert [a["path"] for a in log["applied"]] == ["/p/a.jpg"]
    assert log["prefs"]["replaceExisting"] is True


def test_apply_from_file_whole_catalog_when_nothing_selected(tmp_path):
    crop = Crop(0.1, 0.1, 0.9, 0.9, 0)
    preds = write_predictions(tmp_path, [record_for("/p/a.jpg", crop)])
    photos = [{"path": "/p/a.jpg", "develop": {}}, {"path": "/p/other.jpg", "develop": {}}]
    log = apply_from_file(tmp_path / "yes", photos, preds, selected=[])
    assert [a["path"] for a in log["applied"]] == ["/p/a.jpg"]
    assert "No photos are selected" in log["confirms"][0]["message"]
    assert "other.jpg" not in final_message(log)  # photos without a suggestion are not listed
    log = apply_from_file(tmp_path / "no", photos, preds, selected=[], confirm=["cancel"])
    assert log["applied"] == []
    assert log["messages"] == []


def test_apply_from_file_partly_bad_lines(tmp_path):
    crop = Crop(0.1, 0.1, 0.9, 0.9, 0)
    preds = tmp_path / "p.jsonl"
    good = json.dumps(record_for("/p/a.jpg", crop))
    bad = dict(record_for("/p/b.jpg", crop))
    bad["lightroom"] = dict(bad["lightroom"], CropLeft=1.5)
    preds.write_text(
        f'{good}\n{{oops\n\n[1,2]\n{{"width": 3}}\n{json.dumps(bad)}\n', encoding="utf-8"
    )
    photos = [{"path": "/p/a.jpg", "develop": {}}, {"path": "/p/b.jpg", "develop": {}}]
    log = apply_from_file(tmp_path, photos, preds)
    assert [a["path"] for a in log["applied"]] == ["/p/a.jpg"]
    text = final_message(log)
    assert "Predictions line 2:" in text
    assert "Predictions line 4: not a JSON object" in text
    assert 'Predictions line 5: no "source" path' in text
    assert "b.jpg: suggestion that is not a valid crop - CropLeft is 1.5" in text


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "Cannot read the predictions file"),
        ("", "is empty"),
        ("this is not json\n", "is not a CropperHead predictions file (line 1:"),
        ("source,width,height,left\n/a.jpg,1,2,0.1\n", "is a CSV file"),
    ],
)
def test_apply_from_file_unreadable_predictions(tmp_path, content, expected):
    preds = tmp_path / "p.jsonl"
    if content is not None:
        preds.write_text(content, encoding="utf-8")
    log = apply_from_file(tmp_path, [{"path": "/p/a.jpg", "develop": {}}], preds)
    assert log["applied"] == []
    assert expected in log["messages"][-1]["message"]
    assert log["messages"][-1]["style"] == "critical"


def test_apply_from_file_bad_path_map_and_cancel(tmp_path):
    preds = write_predictions(tmp_path, [record_for("/p/a.jpg", Crop(0.1, 0.1, 0.9, 0.9))])
    log = apply_from_file(
        tmp_path / "bad", [{"path": "/p/a.jpg", "develop": {}}], preds, "C:/photos"
    )
    assert "expected OLD=NEW" in log["messages"][-1]["message"]
    assert log["applied"] == []
    log = apply_from_file(tmp_path / "cancel", [{"path": "/p/a.jpg", "develop": {}}], None)
    assert log["messages"] == []
    assert log["applied"] == []
    assert log["modal_dialogs"] == []


def test_apply_from_file_runs_no_command(tmp_path):
    preds = write_predictions(tmp_path, [record_for("/p/a.jpg", Crop(0.1, 0.1, 0.9, 0.9))])
    log = apply_from_file(tmp_path, [{"path": "/p/a.jpg", "develop": {}}], preds)
    assert log["executed"] == []
    assert len(log["applied"]) == 1


def test_fake_predictor_is_importable():
    # fake_predict.py is run through the shell; make sure it at least compiles here.
    proc = subprocess.run(
        [sys.executable, "-m", "py_compile", str(FAKE_PREDICT)], capture_output=True
    )
    assert proc.returncode == 0, proc.stderr
    assert os.access(sys.executable, os.X_OK)

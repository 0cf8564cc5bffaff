"""Run the Lightroom plug-in's Lua under lua5.1 against the fake SDK (tests/lightroom/fake_sdk)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
PLUGIN_DIR = REPO_ROOT / "lightroom" / "CropperHead.lrplugin"
FAKE_SDK = Path(__file__).resolve().parent / "fake_sdk"
HARNESS = FAKE_SDK / "harness.lua"
FAKE_PREDICT = Path(__file__).resolve().parent / "fake_predict.py"

LUA = shutil.which("lua5.1")
LUAC = shutil.which("luac5.1")

needs_lua = pytest.mark.skipif(
    LUA is None,
    reason="lua5.1 is not installed (apt-get install lua5.1): the plug-in's Lua is untested",
)


def run_scenario(tmp: Path, env: dict[str, str] | None = None, **scenario: Any) -> dict[str, Any]:
    """Run one scenario (see fake_sdk/harness.lua) and return the recorded calls."""
    tmp.mkdir(parents=True, exist_ok=True)
    scenario.setdefault("plugin_dir", str(PLUGIN_DIR))
    scenario.setdefault("platform", "mac")
    scenario.setdefault("temp", str(tmp / "lrtemp"))
    Path(scenario["temp"]).mkdir(parents=True, exist_ok=True)
    output = tmp / "log.json"
    scenario["output"] = str(output)
    path = tmp / "scenario.json"
    path.write_text(json.dumps(scenario), encoding="utf-8")
    full_env = {**os.environ, **(env or {})}
    proc = subprocess.run(
        [LUA, str(HARNESS), str(path)], capture_output=True, text=True, env=full_env, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    with open(output, encoding="utf-8", errors="surrogateescape") as handle:
        log = json.load(handle)
    assert "harness_error" not in log, log["harness_error"]
    assert not log["task_errors"], log["task_errors"]
    return log


def run_chunk(tmp: Path, code: str, **scenario: Any) -> Any:
    """Run Lua code with the plug-in's modules on package.path; return its return value."""
    tmp.mkdir(parents=True, exist_ok=True)
    chunk = tmp / "chunk.lua"
    chunk.write_text(code, encoding="utf-8")
    return run_scenario(tmp, chunk=str(chunk), **scenario)["result"]


def predictor_command(script: Path = FAKE_PREDICT) -> str:
    """The plug-in's "command" preference that runs the fake predictor (quoted as a user would)."""
    return f'"{sys.executable}" "{script}"'

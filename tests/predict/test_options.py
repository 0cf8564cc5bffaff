"""cropperhead.predict.options: the schema of conf/predict.yaml and the strict option checks."""

import shutil
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir, initialize_config_module
from hydra.errors import ConfigCompositionException
from omegaconf import OmegaConf

from cropperhead.predict.errors import PredictError
from cropperhead.predict.options import (
    PredictConfig,
    PredictOptions,
    parse_flag,
    parse_fraction,
    parse_tristate,
    parse_whole,
    register_predict_schema,
)

CONF = Path(__file__).resolve().parents[2] / "cropperhead" / "conf"
REQUIRED = ["ckpt_path=model.ckpt", "input=photos"]


def _compose(*overrides):
    register_predict_schema()
    with initialize_config_module(config_module="cropperhead.conf", version_base="1.3"):
        return compose("predict", overrides=[*REQUIRED, *overrides])


def test_option_parsers_are_strict():
    for value, expected in ((True, True), ("TRUE", True), (" yes", True), (1, True), ("0", False)):
        assert parse_flag(value, "x") is expected
    for bad in ("ture", "flase", "", 2, None):
        with pytest.raises(PredictError, match="x must be true or false"):
            parse_flag(bad, "x")
    assert parse_tristate(None, "c") is None
    assert parse_tristate("Auto", "c") is None
    assert parse_tristate("on", "c") is True
    assert parse_tristate(False, "c") is False
    with pytest.raises(PredictError, match="c must be auto, true or false, got 'maybe'"):
        parse_tristate("maybe", "c")
    assert parse_whole(None, "n") is None
    assert parse_whole(" 8 ", "n") == 8
    for bad in ("abc", 1.5, "2.0", True):
        with pytest.raises(PredictError, match="n must be a whole number"):
            parse_whole(bad, "n")
    assert parse_fraction("0.25", "t") == 0.25
    for bad in ("abc", 1.5, -0.1, True, "nan"):
        with pytest.raises(PredictError, match="t must be a number from 0 to 1"):
            parse_fraction(bad, "t")


def test_predict_yaml_is_composed_onto_the_schema():
    cfg = _compose()
    assert OmegaConf.get_type(cfg) is PredictConfig
    # conf/predict.yaml and the schema say the same defaults (output: the run folder there).
    composed = OmegaConf.to_container(cfg, resolve=False)
    for option in fields(PredictConfig):
        if option.name not in ("ckpt_path", "input", "output", "paths"):
            assert composed[option.name] == option.default, option.name
    assert composed["output"] == "${paths.output_dir}/predictions.${format}"


def test_a_misspelt_key_is_refused_and_a_wrong_value_waits_for_the_checks():
    with pytest.raises(ConfigCompositionException, match="wirte_xmp"):
        _compose("wirte_xmp=true")
    # Values are not converted by Hydra (it would print several lines, exit 1, and take
    # write_xmp=2 as true): the options refuse them, in one line.
    cfg = _compose("write_xmp=ture", "output=p.jsonl")
    with pytest.raises(PredictError, match="^write_xmp must be true or false, got 'ture'$"):
        PredictOptions.from_config(cfg)
    for override, message in [
        ("write_xmp=2", "write_xmp must be true or false, got 2"),
        ("batch_size=abc", "batch_size must be a whole number, got 'abc'"),
        ("num_workers=1.5", "num_workers must be a whole number, got 1.5"),
        ("decode_size=big", "decode_size must be a whole number, got 'big'"),
        ("decode_size=null", "decode_size must be a whole number, got None"),
        ("aspect=wide", "aspect must be auto, free, original or W:H"),
        ("confidence=maybe", "confidence must be auto, true or false, got 'maybe'"),
        ("format=xml", "format must be jsonl or csv, got 'xml'"),
        ("xmp_target=side", "xmp_target must be one of auto, stem, name, both, got 'side'"),
        ("crop_threshold=2", "crop_threshold must be a number from 0 to 1, got 2"),
    ]:
        with pytest.raises(PredictError, match=message.replace("(", r"\(")):
            PredictOptions.from_config(_compose(override, "output=p.jsonl"))


def test_keys_of_a_shared_local_config_are_still_allowed(tmp_path):
    """conf/local/default.yaml is train.py's too: its keys must not break predict."""
    conf = tmp_path / "conf"
    shutil.copytree(CONF, conf)
    (conf / "local" / "default.yaml").write_text(
        "# @package _global_\ndata:\n  num_workers: 12\n", encoding="utf-8"
    )
    register_predict_schema()
    with initialize_config_dir(config_dir=str(conf), version_base="1.3"):
        cfg = compose("predict", overrides=REQUIRED)
    assert cfg.data.num_workers == 12
    assert OmegaConf.get_type(cfg) is PredictConfig


def test_from_config_takes_the_defaults_of_the_options():
    options = PredictOptions.from_config({"ckpt_path": "m.ckpt", "input": "photos"})
    assert options == PredictOptions(Path("m.ckpt"), ["photos"], Path("predictions.jsonl"))
    given = {"ckpt_path": "~/m.ckpt", "input": ["a", "b"], "format": "CSV"}
    csv = PredictOptions.from_config(given)
    assert csv.ckpt_path == Path.home() / "m.ckpt"
    assert csv.inputs == ["a", "b"]
    assert csv.output == Path("predictions.csv")


def test_missing_and_unresolvable_values_are_one_line():
    with pytest.raises(PredictError, match="^ckpt_path= is required: a checkpoint from train.py"):
        PredictOptions.from_config(OmegaConf.create({"ckpt_path": "???", "input": "x"}))
    with pytest.raises(PredictError, match="^input= is required: a photo, a folder or a glob$"):
        PredictOptions.from_config(OmegaConf.create({"ckpt_path": "m", "input": "???"}))
    cfg = OmegaConf.create({"ckpt_path": "m", "input": "x", "output": "${nosuch}"})
    with pytest.raises(PredictError, match="^output: Interpolation key 'nosuch' not found$"):
        PredictOptions.from_config(cfg)


def test_options_given_as_values_are_checked_too():
    with pytest.raises(PredictError, match="write_xmp must be true or false"):
        PredictOptions(Path("m"), ["x"], Path("p.jsonl"), write_xmp="ture")
    with pytest.raises(PredictError, match="batch_size must be at least 1, got 0"):
        PredictOptions(Path("m"), ["x"], Path("p.jsonl"), batch_size=0)
    options = PredictOptions("m", ("x",), "p.jsonl", confidence="auto", report_path="")
    assert options.ckpt_path == Path("m")
    assert options.inputs == ["x"]
    assert options.confidence is None
    assert options.report_path is None


def test_the_schema_module_is_light():
    """cropperhead/commands.py imports it to register the schema: no torch, no numpy."""
    code = (
        "import sys; import cropperhead.predict.options as o; o.register_predict_schema(); "
        "print(sorted({'torch', 'numpy', 'pytorch_lightning'} & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"

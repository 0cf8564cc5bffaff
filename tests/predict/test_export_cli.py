"""cropperhead.predict.export_cli: ``cropperhead export``'s command line."""

import subprocess
import sys

import pytest

from cropperhead.cli import main
from cropperhead.predict import export_cli
from cropperhead.predict.export import DEFAULT_OPSET, FORMATS
from cropperhead.predict.loaders import load_crop_model

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning")


def test_cli_constants_match_the_exporter():
    assert export_cli.FORMATS == FORMATS
    assert export_cli.DEFAULT_OPSET == DEFAULT_OPSET


def test_cropperhead_export_command(tiny_ckpt, tmp_path, capsys):
    out = tmp_path / "cli.pt"
    assert main(["export", str(tiny_ckpt), "--format", "torchscript", "--out", str(out)]) == 0
    assert out.is_file()
    assert f"wrote {out}" in capsys.readouterr().out
    garbage = tmp_path / "garbage.ckpt"
    garbage.write_text("nope")
    assert main(["export", str(garbage), "--out", str(tmp_path / "g.onnx")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ")
    assert "not a checkpoint" in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "g.onnx").exists()


def test_export_replaces_only_its_own_files(tiny_ckpt, tmp_path, capsys):
    from tests.helpers import assert_untouched, plant_user_files

    planted = plant_user_files(tmp_path, ["model.pt", "notes.txt", "library/my_photo.jpg"])
    ckpt_bytes = tiny_ckpt.read_bytes()
    for out in (tmp_path / "model.pt", tiny_ckpt):
        code = main(["export", str(tiny_ckpt), "--format", "torchscript", "--out", str(out)])
        assert code == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1
        assert "not an exported model CropperHead wrote" in err[0] or "one of the inputs" in err[0]
    assert_untouched(planted)
    assert tiny_ckpt.read_bytes() == ckpt_bytes
    ours = tmp_path / "ours.pt"
    for _ in range(2):  # an earlier export of ours is replaced
        assert main(["export", str(tiny_ckpt), "--format", "torchscript", "--out", str(ours)]) == 0
    replace = ["--format", "torchscript", "--out", str(tmp_path / "model.pt"), "--overwrite"]
    assert main(["export", str(tiny_ckpt), *replace]) == 0
    assert load_crop_model(tmp_path / "model.pt").info.kind == "torchscript"
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_the_command_line_does_not_load_torch():
    """``cropperhead --help`` imports every subcommand's module: torch would slow it down."""
    code = "import sys, cropperhead.predict.export_cli; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"

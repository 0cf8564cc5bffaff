import subprocess
import sys

import pytest

from cropperhead import __version__
from cropperhead.cli import main


def test_help_runs_as_installed_console_script():
    out = subprocess.run(
        [sys.executable, "-m", "cropperhead.cli", "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "usage: cropperhead" in out.stdout


def test_no_command_prints_help(capsys):
    assert main([]) == 0
    assert "usage: cropperhead" in capsys.readouterr().out


def test_version(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert __version__ in capsys.readouterr().out

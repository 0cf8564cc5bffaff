"""cropperhead.errors: user errors in one line."""

import pytest

from cropperhead.errors import USAGE_STATUS, first_line, one_line, print_error


def test_one_line_collapses_every_line_and_decodes_bytes():
    assert one_line(OSError("broken\n  data\tstream")) == "broken data stream"
    assert one_line(b"LibRaw: \xffunsupported") == "LibRaw: \ufffdunsupported"
    assert one_line(ValueError()) == "ValueError"
    assert one_line(OSError("bad"), with_type=True) == "OSError: bad"


def test_first_line_keeps_what_failed_and_drops_the_detail():
    exc = KeyError("Key 'ckpt_pth' not in 'PredictConfig'\n    full_key: ckpt_pth\n")
    assert first_line(ValueError("  size mismatch for head.mlp\n\tcopying a param ...")) == (
        "size mismatch for head.mlp"
    )
    assert first_line(RuntimeError("\n\nfirst real line\nsecond")) == "first real line"
    assert "full_key" not in first_line(exc)
    assert first_line(RuntimeError()) == "RuntimeError"
    assert first_line("") == ""


def test_print_error_is_one_line_on_stderr(capsys):
    assert print_error(ValueError("no such\nfolder"), prog="cropperhead scan") == USAGE_STATUS
    err = capsys.readouterr().err
    assert err == "cropperhead scan: error: no such folder\n"


@pytest.mark.parametrize("value", [ValueError("a\nb"), "a\nb"])
def test_first_line_of_text_and_of_exceptions_agree(value):
    assert first_line(value) == "a"

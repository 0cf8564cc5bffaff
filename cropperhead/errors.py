"""User errors, told in one line.

A mistake of the user's (a path that does not exist, a typo in an option, a file that is
not a photo) is never a traceback: every entry point (``cropperhead ...``, ``train.py``,
``predict.py``) prints one ``error:`` line on stderr and exits with status 2. Program
errors keep their traceback.
"""

from __future__ import annotations

import sys
from typing import NoReturn

#: The exit status of a user error, as argparse uses it.
USAGE_STATUS = 2


def one_line(value: BaseException | str | bytes, *, with_type: bool = False) -> str:
    """Any message (an exception, text, a C library's bytes) as one line of text.

    Args:
        value: an exception (its message is used) or a message.
        with_type: prefix an exception's message with its class name
            (``OSError: broken data stream``), for reasons that name the failing library.

    Returns:
        The message with its whitespace (newlines included) collapsed to single spaces;
        an exception without a message gives its class name.
    """
    message: object = value
    if isinstance(value, BaseException):
        message = value.args[0] if len(value.args) == 1 else str(value)
    if isinstance(message, bytes):  # rawpy passes LibRaw's C strings through
        message = message.decode("utf-8", "replace")
    text = " ".join(str(message).split())
    if isinstance(value, BaseException):
        if not text:
            return type(value).__name__
        if with_type:
            return f"{type(value).__name__}: {text}"
    return text


def first_line(value: BaseException | str) -> str:
    """The first line of a message; an exception without a message gives its class name.

    For libraries whose first line says what failed and whose other lines are detail
    (OmegaConf's ``full_key:`` lines, PyTorch's lists of mismatched tensors).
    """
    message: object = value
    if isinstance(value, BaseException) and len(value.args) == 1:
        message = value.args[0]  # a KeyError's str() is the repr of its message
    text = str(message).strip()
    if not text:
        return type(value).__name__ if isinstance(value, BaseException) else ""
    return text.splitlines()[0].strip()


def print_error(message: BaseException | str, prog: str | None = None) -> int:
    """Print ``[PROG: ]error: MESSAGE`` on stderr in one line; returns :data:`USAGE_STATUS`.

    For ``main`` functions that return their exit status (``return print_error(exc)``).
    """
    prefix = f"{prog}: error: " if prog else "error: "
    print(prefix + one_line(message), file=sys.stderr)
    return USAGE_STATUS


def exit_with_error(
    message: BaseException | str, prog: str | None = None, status: int = USAGE_STATUS
) -> NoReturn:
    """Print the one-line error and exit with ``status`` (2: the user's mistake)."""
    print_error(message, prog)
    sys.exit(status)

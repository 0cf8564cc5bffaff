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


def _message(value: BaseException | str | bytes) -> str:
    """The text of a message, with a C library's bytes decoded.

    An exception's own message, not its ``str()``: a KeyError's is the repr of it.
    """
    message: object = value
    if isinstance(value, BaseException):
        message = value.args[0] if len(value.args) == 1 else str(value)
    if isinstance(message, bytes):  # rawpy passes LibRaw's C strings through
        message = message.decode("utf-8", "replace")
    return str(message)


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
    text = " ".join(_message(value).split())
    if isinstance(value, BaseException):
        if not text:
            return type(value).__name__
        if with_type:
            return f"{type(value).__name__}: {text}"
    return text


def first_line(value: BaseException | str | bytes) -> str:
    """The first line of a message; an exception without a message gives its class name.

    For libraries whose first line says what failed and whose other lines are detail
    (OmegaConf's ``full_key:`` lines, PyTorch's lists of mismatched tensors).
    """
    text = _message(value).strip()
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

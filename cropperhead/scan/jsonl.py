"""JSON lines files as the scan writes and reads them: one encoding, atomic replacement.

manifest.jsonl and skipped.jsonl (:mod:`cropperhead.scan.manifest`) and the scan's
state and journal (:mod:`cropperhead.scan.state`) are all JSON lines; they share the
encoding of odd file names and the rule that a file is only ever replaced whole, so
that a crash leaves the previous version intact.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, TextIO

from cropperhead import files

logger = logging.getLogger(__name__)

#: How JSON lines are encoded: a file name that is not UTF-8 reaches Python as a str
#: with lone surrogates (``"caf\udce9.jpg"``); inside a JSON string "backslashreplace"
#: writes those as the escape ``\udce9``, which ``json.loads`` reads back to the same
#: str. The files stay valid UTF-8 and every other character is written as it is.
JSON_ERRORS = "backslashreplace"


@contextlib.contextmanager
def atomic_text(path: Path) -> Iterator[TextIO]:
    """Replace ``path`` atomically with what is written to the yielded text file.

    :func:`cropperhead.files.atomic_open` with the JSON lines' encoding: a reader (or a
    crash) sees the old file or the new one, never a mix; on an exception ``path`` is
    left as it was.
    """
    with files.atomic_open(path, "w", encoding="utf-8", errors=JSON_ERRORS) as fh:
        yield fh


def json_line(record: dict[str, Any]) -> str:
    """One JSON line (non-ASCII kept as it is, NaN refused), newline included."""
    return json.dumps(record, ensure_ascii=False, allow_nan=False) + "\n"


def write_jsonl_atomic(path: Path, records: Iterable[dict[str, Any]]) -> int:
    """Replace ``path`` with one JSON object per line, atomically (:func:`atomic_text`).

    Args:
        path: the file to replace.
        records: the objects, one per line.

    Returns:
        The number of lines written.
    """
    count = 0
    with atomic_text(path) as fh:
        for record in records:
            fh.write(json_line(record))
            count += 1
    return count


def read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    """The JSON objects of a ``.jsonl`` file; lines that do not parse are skipped.

    A torn last line (a journal cut off by a crash) is expected and skipped quietly.
    """
    try:
        fh = path.open("r", encoding="utf-8")
    except FileNotFoundError:
        return
    with fh:
        for number, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                logger.debug("%s:%d: not JSON, ignored", path, number)
                continue
            if isinstance(record, dict):
                yield record

"""The incremental key of a photo: a hash of everything its label depends on.

A later scan compares a photo's key with the one its state entry was made under
(:mod:`cropperhead.scan.state`); while they match, the photo is not even read again.
So the key has to cover every input of the labelling rules, and nothing else (or an
unchanged photo would be decoded again for nothing).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from cropperhead.metadata.types import DevelopSettings
from cropperhead.scan.photo import ScanConfig, Sidecar

#: Bump when the labelling rules change, so that every photo is labelled again.
KEY_VERSION = 1


def photo_key(
    stat: os.stat_result,
    sidecars: Sequence[Sidecar],
    rows: Sequence[DevelopSettings],
    config: ScanConfig,
) -> str:
    """The incremental key of a photo: its label can only change when this does.

    It covers the photo's size and mtime_ns (embedded XMP lives in the file), the bytes
    of each sidecar, every catalog row's settings as read, and the scan settings that
    shape a sample (``--size``, ``--field``, ``--include-uncropped``).
    """
    payload = {
        "v": KEY_VERSION,
        "size": config.size,
        "fields": list(config.fields),
        "include_uncropped": config.include_uncropped,
        "photo": [stat.st_size, stat.st_mtime_ns],
        "sidecars": [
            [s.path.name, hashlib.sha256(s.packet).hexdigest() if s.packet is not None else s.error]
            for s in sidecars
        ],
        "catalog": [_row_for_key(row) for row in rows],
    }
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _row_for_key(row: DevelopSettings) -> dict[str, Any]:
    """A catalog row's settings for the key; where the photo was looked for is no label."""
    fields = asdict(row)
    fields.pop("catalog_relative_photo", None)
    return fields

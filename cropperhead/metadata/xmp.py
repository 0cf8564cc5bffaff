"""Camera Raw develop settings in XMP: the public names, from the modules that hold them.

The scan, write-back and the photo model import XMP handling from here; the work is
split by what it touches:

- :mod:`cropperhead.metadata.xmp_read`: parsing packets (a sidecar's bytes, the packet
  embedded in a photo) into properties and :class:`~cropperhead.metadata.types.DevelopSettings`,
  with the rules for ``has_settings``, ``has_crop`` and the crop values;
- :mod:`cropperhead.metadata.xmp_edit`: merging a crop (and the photo's tiff frame) into
  a packet's bytes, keeping every other byte (:mod:`cropperhead.metadata.xmp_layout` finds
  where the properties lie);
- :mod:`cropperhead.metadata.sidecar`: the sidecar files themselves: which ones a photo
  has, reading one, writing a crop into one atomically with backups.

The first two take and return values; only the last reads and writes files.
"""

from __future__ import annotations

from cropperhead.metadata.sidecar import (
    default_sidecar_path,
    read_capped,
    read_sidecar,
    sidecar_candidates,
    write_sidecar_crop,
)
from cropperhead.metadata.xmp_edit import format_xmp_number, merge_crop_into_xmp, tiff_conflicts
from cropperhead.metadata.xmp_read import (
    CRS_NS,
    MAX_PACKET_BYTES,
    NAMESPACES,
    RDF_NS,
    TIFF_NS,
    X_NS,
    XML_NS,
    XMP_NOTE_NS,
    check_field_names,
    extended_xmp_guid,
    parse_packet,
    read_xmp_packets,
    read_xmp_properties,
    read_xmp_settings,
)

__all__ = [
    "CRS_NS",
    "MAX_PACKET_BYTES",
    "NAMESPACES",
    "RDF_NS",
    "TIFF_NS",
    "XML_NS",
    "XMP_NOTE_NS",
    "X_NS",
    "check_field_names",
    "default_sidecar_path",
    "extended_xmp_guid",
    "format_xmp_number",
    "merge_crop_into_xmp",
    "parse_packet",
    "read_capped",
    "read_sidecar",
    "read_xmp_packets",
    "read_xmp_properties",
    "read_xmp_settings",
    "sidecar_candidates",
    "tiff_conflicts",
    "write_sidecar_crop",
]

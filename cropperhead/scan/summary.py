"""What a scan reports: the counts :func:`cropperhead.scan.scan_library` returns.

``cropperhead scan`` prints :meth:`ScanSummary.format` when it is done. It is a module of
its own so that the API's return type can be imported without the scan's machinery
(decoders, metadata readers).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class ScanSummary:
    """What a scan did, and what the data set holds afterwards.

    Counts of photos: ``new`` (not in the data set before), ``updated`` (labelled again
    because the photo, its metadata or the scan settings changed), ``unchanged``
    (reused without decoding), ``pruned`` (dropped by ``--prune``); ``resumed`` of
    the new and updated ones were finished by an interrupted scan and reused;
    ``decoded`` photos were decoded by this scan.
    """

    out: Path
    samples_by_origin: dict[str, int] = field(default_factory=dict)
    skipped_by_reason: dict[str, int] = field(default_factory=dict)
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    pruned: int = 0
    resumed: int = 0
    decoded: int = 0
    seconds: float = 0.0
    hints: list[str] = field(default_factory=list)

    @property
    def samples(self) -> int:
        """Lines in manifest.jsonl."""
        return sum(self.samples_by_origin.values())

    @property
    def skipped(self) -> int:
        """Lines in skipped.jsonl."""
        return sum(self.skipped_by_reason.values())

    def format(self) -> str:
        """The closing summary, a few human-readable lines."""

        def counts(d: dict[str, int]) -> str:
            return ", ".join(f"{k} {v}" for k, v in sorted(d.items())) or "none"

        rate = self.decoded / self.seconds if self.seconds > 0 else 0.0
        return "\n".join(
            [
                f"samples: {self.samples} ({counts(self.samples_by_origin)})",
                f"skipped: {self.skipped} ({counts(self.skipped_by_reason)})",
                f"photos: {self.new} new, {self.updated} updated, {self.unchanged} unchanged, "
                f"{self.pruned} pruned"
                + (f" ({self.resumed} resumed from an interrupted scan)" if self.resumed else ""),
                f"decoded {self.decoded} photos in {self.seconds:.1f} s ({rate:.1f} photos/s); "
                f"data set in {self.out}",
                *(f"hint: {hint}" for hint in self.hints),
            ]
        )

"""A stand-in for ``cropperhead predict`` that the plug-in's tests run through the shell.

It takes the same ``key=value`` options, parsed by Hydra's own override parser and
resolved by OmegaConf (so the plug-in's quoting is checked by the real grammar), reads
``input_list=`` and ``orientations=`` with cropperhead.predict.lightroom, and writes
records exactly as predict does (``prediction_record`` plus the ``lightroom`` key made
by ``lightroom_values``). What it does per photo comes from the JSON plan named by
``$CROPPERHEAD_FAKE_PLAN``; what it saw goes to ``$CROPPERHEAD_FAKE_LOG``.

Plan keys: ``exit`` and ``stderr`` (stop with that status and message), ``photos``
(file name -> ``{"stored": [W, H], "crop": {...}, "leave_uncropped": true, "omit": true,
"orientation": N}``; ``orientation`` is the file's own EXIF, used when the orientations
file has none), ``no_lightroom`` (leave the key out), ``no_output`` (write nothing).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from types import SimpleNamespace


def main(argv: list[str]) -> int:
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from omegaconf import OmegaConf

    plan = json.loads(Path(os.environ["CROPPERHEAD_FAKE_PLAN"]).read_text(encoding="utf-8"))
    words = [a for a in argv if a != "predict"]
    overrides = OverridesParser.create().parse_overrides(words)
    raw = {o.key_or_group: o.value() for o in overrides}
    options = OmegaConf.to_container(OmegaConf.create(raw), resolve=True)
    log = {"argv": argv, "cwd": os.getcwd(), "options": options}

    from cropperhead.geometry import Crop, display_size
    from cropperhead.predict.lightroom import lightroom_values, read_orientations, read_photo_list
    from cropperhead.predict.records import prediction_record

    photos = read_photo_list(options["input_list"])
    log["input_list"] = photos
    orientations = {}
    if options.get("orientations"):
        orientations = read_orientations(options["orientations"])
        log["orientations"] = json.loads(Path(options["orientations"]).read_text("utf-8"))
    Path(os.environ["CROPPERHEAD_FAKE_LOG"]).write_text(json.dumps(log), encoding="utf-8")

    if plan.get("exit"):
        sys.stderr.write(plan.get("stderr", ""))
        return int(plan["exit"])
    if plan.get("no_output"):
        print("predicted 0 photos")
        return 0
    skipped = 0
    lines = []
    for index, photo in enumerate(photos):
        source = Path(os.path.realpath(photo))
        spec = plan.get("photos", {}).get(source.name, {})
        if spec.get("omit"):
            skipped += 1
            continue
        exif = orientations.get(source, spec.get("orientation", 1))
        width, height = display_size(*spec.get("stored", [6000, 4000]), exif)
        crop = Crop.from_dict(
            spec.get("crop", {"left": 0.1, "top": 0.1, "right": 0.9, "bottom": 0.9})
        )
        # A stand-in for predictor.Prediction (importing that would load torch).
        pred = SimpleNamespace(
            index=index,
            source=source,
            width=width,
            height=height,
            orientation=exif,
            crop=crop,
            confidence=None,
            quality=None,
            p_crop=None,
        )
        record = prediction_record(pred, crop)
        assert record["lightroom"] == lightroom_values(crop, width, height, exif)
        if plan.get("no_lightroom"):  # a predictions file from an older CropperHead
            del record["lightroom"]
        if spec.get("leave_uncropped"):
            record["leave_uncropped"] = True
        lines.append(json.dumps(record) + "\n")
    with open(options["output"], "w", encoding="utf-8", errors="backslashreplace") as handle:
        handle.writelines(lines)
    print(f"predicted {len(lines)} photos in 0.1 s (10 photos/s) with fake on cpu")
    print(f"skipped {skipped}" + (f" (unreadable {skipped})" if skipped else ""))
    print(f"predictions: {options['output']}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

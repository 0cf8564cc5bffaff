"""``predict.py``'s options: the schema Hydra composes conf/predict.yaml onto, and the checks.

    python predict.py ckpt_path=CKPT input=PATH [output=PRED.jsonl] [format=jsonl|csv]
        [write_xmp=true] [xmp_target=auto|stem|name|both] [overwrite=false] [dry_run=false]
        [aspect=free|original|3:2|2:3|4:5|5:4|1:1|16:9|W:H] [device=auto] [batch_size=N]
        [num_workers=N] [confidence=auto|true|false] [mirror_average=true|false|auto]
        [report=false]

``input_list=FILE.json`` (a JSON array of photo paths) adds photos without a command
line (the Lightroom plug-in's way); ``orientations=FILE.json`` (``{"/abs/photo": 1..8}``)
predicts those photos under that EXIF orientation instead of their own (as Lightroom
shows a photo turned there). conf/predict.yaml documents every key.

Two steps turn the command line into a run's options:

1. :class:`PredictConfig`, stored in Hydra's ConfigStore as ``predict_schema`` (the first
   entry of conf/predict.yaml's defaults list) by :func:`register_predict_schema`, names
   every key and its default, so a misspelt key (``wirte_xmp=true``) is refused when
   Hydra composes. Its values are typed ``Any`` on purpose: OmegaConf's own conversion
   would reject a wrong value while Hydra composes, where Hydra prints a multi-line
   error with exit status 1, and it would take values predict refuses (to OmegaConf
   ``write_xmp=2`` or ``write_xmp=y`` is True).
2. :meth:`PredictOptions.from_config` reads the composed config, and
   :class:`PredictOptions` converts and checks each value as its field says (the
   ``parse`` of its metadata), strictly: a wrong value is a :class:`PredictError` with
   one line naming the option and the value, which ``predict.py`` prints as ``error:
   ...`` with exit status 2.

This module imports no more than the standard library, OmegaConf, Hydra and two small
CropperHead modules (those that know the values, :mod:`~cropperhead.predict.aspect` and
:mod:`~cropperhead.predict.sidecars`, and the reader of ``input_list=`` are imported
when options are read), so that ``cropperhead/commands.py`` can register the schema
when it is imported.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from omegaconf import MISSING, DictConfig, OmegaConf

import cropperhead.config  # noqa: F401  (registers the resolvers conf/ uses)
from cropperhead.errors import first_line
from cropperhead.predict.errors import PredictError

logger = logging.getLogger(__name__)

#: The name of :class:`PredictConfig` in Hydra's ConfigStore (conf/predict.yaml's defaults).
SCHEMA_NAME = "predict_schema"
#: What ``format=`` may be: the predictions file's formats.
RECORD_FORMATS = ("jsonl", "csv")
#: Below this probability that the photographer crops a photo, nothing is suggested.
DEFAULT_CROP_THRESHOLD = 0.5
#: The scan's default ``--size``: the long side training images are stored at, and so
#: the long side photos are decoded at before letterboxing.
DEFAULT_DECODE_SIZE = 512

_REQUIRED = {
    "ckpt_path": "a checkpoint from train.py or a model from `cropperhead export`",
    "input": "a photo, a folder or a glob",
}


@dataclass
class PredictConfig:
    """conf/predict.yaml's keys and their defaults (its comments document each).

    The defaults are conf/predict.yaml's, except ``output``: None here (the predictions
    file in the current folder), the run folder's there. Every option is ``Any``: the
    values are checked by :class:`PredictOptions`, not while Hydra composes (module
    docstring).
    """

    task_name: str = "predict"
    ckpt_path: Any = MISSING
    input: Any = MISSING
    input_list: Any = None
    orientations: Any = None
    format: Any = "jsonl"
    output: Any = None
    overwrite_output: Any = False
    aspect: Any = "auto"
    crop_threshold: Any = DEFAULT_CROP_THRESHOLD
    confidence: Any = "auto"
    mirror_average: Any = True
    write_xmp: Any = False
    xmp_target: Any = "auto"
    overwrite: Any = False
    dry_run: Any = False
    backup: Any = True
    device: Any = "auto"
    batch_size: Any = None
    num_workers: Any = None
    decode_size: Any = DEFAULT_DECODE_SIZE
    progress: Any = True
    report: Any = False
    report_path: Any = None
    manifest: Any = None
    #: The ``paths`` config group (conf/paths/default.yaml).
    paths: Any = None


def register_predict_schema() -> None:
    """Store :class:`PredictConfig` in Hydra's ConfigStore as :data:`SCHEMA_NAME`.

    Call it before Hydra composes conf/predict.yaml (``cropperhead/commands.py`` does when
    it is imported); calling it again replaces the entry with the same schema.

    The stored node is not in struct mode: configs merged after it may add keys of their
    own, as ``optional local: default`` (conf/local/default.yaml, shared with train.py)
    does. Hydra sets struct mode once it has composed, so an override of a key that is
    not in the schema is still refused.
    """
    from hydra.core.config_store import ConfigStore

    node = OmegaConf.structured(PredictConfig)
    OmegaConf.set_struct(node, False)
    ConfigStore.instance().store(name=SCHEMA_NAME, node=node)


# --------------------------------------------------------------------------- parsers

_TRUE = ("true", "1", "yes", "on")
_FALSE = ("false", "0", "no", "off")


def parse_flag(value: Any, name: str) -> bool:
    """A yes/no option, strictly: a typo (``write_xmp=ture``) is an error, never True.

    ``bool("flase")`` is True, which would write sidecars (or overwrite the
    photographer's crops) that nobody asked for.

    Raises:
        PredictError: naming the option and the value.
    """
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise PredictError(f"{name} must be true or false, got {value!r}")


def parse_tristate(value: Any, name: str) -> bool | None:
    """``auto``/None -> None, booleans (and true/false text) -> bool (``confidence=``).

    Raises:
        PredictError: naming the option and the value.
    """
    if value is None or str(value).strip().lower() == "auto":
        return None
    try:
        return parse_flag(value, name)
    except PredictError:
        raise PredictError(f"{name} must be auto, true or false, got {value!r}") from None


def parse_whole(value: Any, name: str) -> int | None:
    """A whole-number option (None stays None); anything else is a one-line error.

    Raises:
        PredictError: naming the option and the value.
    """
    if value is None:
        return None
    if isinstance(value, bool):
        raise PredictError(f"{name} must be a whole number, got {value!r}")
    try:
        number = int(str(value).strip())
    except ValueError:
        raise PredictError(f"{name} must be a whole number, got {value!r}") from None
    return number


def parse_count(value: Any, name: str) -> int:
    """A whole number that must be given (``decode_size=``).

    Raises:
        PredictError: naming the option and the value.
    """
    number = parse_whole(value, name)
    if number is None:
        raise PredictError(f"{name} must be a whole number, got {value!r}")
    return number


def parse_fraction(value: Any, name: str) -> float:
    """A number in [0, 1]; anything else is a one-line error.

    Raises:
        PredictError: naming the option and the value.
    """
    try:
        number = float(str(value).strip())
    except ValueError:
        number = math.nan
    if isinstance(value, bool) or not 0 <= number <= 1:
        raise PredictError(f"{name} must be a number from 0 to 1, got {value!r}")
    return number


def check_aspect(value: str) -> None:
    """Check an ``aspect=`` value: auto, free, original or ``W:H``.

    Raises:
        PredictError: the message of :func:`~cropperhead.predict.aspect.parse_aspect`,
            which quotes the value.
    """
    from cropperhead.predict.aspect import parse_aspect

    try:
        parse_aspect(value)
    except ValueError as exc:
        raise PredictError(str(exc)) from exc


def _path(value: Any, name: str) -> Path:
    return Path(str(value)).expanduser()


def _path_or_none(value: Any, name: str = "") -> Path | None:
    return None if value in (None, "") else Path(str(value)).expanduser()


def _text(value: Any, name: str) -> str:
    return str(value)


def _lower_text(value: Any, name: str) -> str:
    return str(value).lower()


def _texts(value: Any, name: str) -> list[str]:
    return [str(item) for item in value]


def _option(default: Any, parse: Callable[[Any, str], Any]) -> Any:
    """A field with a default and the function that reads its value."""
    return field(default=default, metadata={"parse": parse})


def _required(parse: Callable[[Any, str], Any]) -> Any:
    return field(metadata={"parse": parse})


# --------------------------------------------------------------------------- the options


@dataclass
class PredictOptions:
    """Everything ``predict.py`` takes, converted and checked (conf/predict.yaml documents each).

    Values may be given as their types or as the text of a command line: each field's
    ``parse`` converts it when the options are made (``write_xmp="ture"`` raises).

    Raises:
        PredictError: a value that is not what its option takes, naming both.
    """

    ckpt_path: Path = _required(_path)
    inputs: list[str] = _required(_texts)
    output: Path = _required(_path)
    format: str = _option("jsonl", _lower_text)
    aspect: str = _option("auto", _text)
    write_xmp: bool = _option(False, parse_flag)
    xmp_target: str = _option("auto", _text)
    overwrite: bool = _option(False, parse_flag)
    dry_run: bool = _option(False, parse_flag)
    backup: bool = _option(True, parse_flag)
    device: str = _option("auto", _text)
    batch_size: int | None = _option(None, parse_whole)
    num_workers: int | None = _option(None, parse_whole)
    decode_size: int = _option(DEFAULT_DECODE_SIZE, parse_count)
    confidence: bool | None = _option(None, parse_tristate)
    mirror_average: bool | None = _option(True, parse_tristate)
    progress: bool = _option(True, parse_flag)
    report: bool = _option(False, parse_flag)
    report_path: Path | None = _option(None, _path_or_none)
    manifest: Path | None = _option(None, _path_or_none)
    overwrite_output: bool = _option(False, parse_flag)
    orientations: Path | None = _option(None, _path_or_none)
    crop_threshold: float = _option(DEFAULT_CROP_THRESHOLD, parse_fraction)

    def __post_init__(self) -> None:
        for option in fields(self):
            parse = option.metadata["parse"]
            setattr(self, option.name, parse(getattr(self, option.name), option.name))
        self.check()

    def check(self) -> None:
        """Reject option values that are of the right type but not allowed, or do not fit.

        Raises:
            PredictError: naming the option and its value.
        """
        from cropperhead.predict.sidecars import XMP_TARGETS

        if self.format not in RECORD_FORMATS:
            raise PredictError(f"format must be jsonl or csv, got {self.format!r}")
        check_aspect(self.aspect)
        if self.xmp_target not in XMP_TARGETS:
            raise PredictError(
                f"xmp_target must be one of {', '.join(XMP_TARGETS)}, got {self.xmp_target!r}"
            )
        if self.batch_size is not None and self.batch_size < 1:
            raise PredictError(f"batch_size must be at least 1, got {self.batch_size}")
        if self.num_workers is not None and self.num_workers < 0:
            raise PredictError(f"num_workers must be 0 or more, got {self.num_workers}")
        if self.decode_size < 1:
            raise PredictError(f"decode_size must be positive, got {self.decode_size}")
        if self.report and self.format != "jsonl":
            raise PredictError("report=true reads the JSONL predictions: use format=jsonl")
        if self.dry_run and not self.write_xmp:
            logger.info("dry_run=true only matters with write_xmp=true")

    @classmethod
    def from_config(cls, cfg: DictConfig | dict[str, Any]) -> PredictOptions:
        """Build from the composed conf/predict.yaml (or a dict of some of its keys).

        Keys that are not given take :class:`PredictConfig`'s defaults.

        Raises:
            PredictError: a required value (``???``) is missing, an option does not
                resolve (e.g. a bad interpolation), or a value is wrong.
        """
        read = _Reader(cfg)
        inputs = _inputs(read)
        fmt = str(read("format")).lower()
        output = read("output")
        ckpt = read("ckpt_path")
        if ckpt in (None, ""):
            raise PredictError(f"ckpt_path= is required: {_REQUIRED['ckpt_path']}")
        given = {"ckpt_path", "inputs", "output"}
        return cls(
            ckpt_path=ckpt,
            inputs=inputs,
            output=output if output else f"predictions.{fmt}",
            **{f.name: read(f.name) for f in fields(cls) if f.name not in given},
        )


class _Reader:
    """Reads one key of a config: its value, or :class:`PredictConfig`'s default."""

    _DEFAULTS = {f.name: f.default for f in fields(PredictConfig)}

    def __init__(self, cfg: DictConfig | dict[str, Any]) -> None:
        self.cfg = cfg

    def __call__(self, key: str) -> Any:
        """The value of ``key``.

        Raises:
            PredictError: the value is missing (``???``) or does not resolve.
        """
        from omegaconf.errors import MissingMandatoryValue, OmegaConfBaseException

        default = self._DEFAULTS.get(key)
        try:
            return self.cfg.get(key, None if default is MISSING else default)
        except MissingMandatoryValue as exc:
            hint = _REQUIRED.get(key, "give a value")
            raise PredictError(f"{key}= is required: {hint}") from exc
        except OmegaConfBaseException as exc:
            raise PredictError(f"{key}: {first_line(exc)}") from exc

    def given(self, key: str) -> Any:
        """The value of ``key``, or None when it is missing (``???``) or unreadable."""
        try:
            return self(key)
        except PredictError:
            return None


def _inputs(read: _Reader) -> list[str]:
    """``input=`` (one path or a list) followed by the photos of ``input_list=``.

    Raises:
        PredictError: neither gives a photo, or the list cannot be read.
    """
    input_list = _path_or_none(read("input_list"))
    if input_list is not None:
        from cropperhead.predict.lightroom import read_photo_list

        try:
            listed = read_photo_list(input_list)
        except ValueError as exc:
            raise PredictError(str(exc)) from exc
        if not listed:
            raise PredictError(f"input_list {input_list}: the list holds no photos")
        raw_input = read.given("input")  # input=??? : the list alone
    else:
        listed, raw_input = [], read("input")
        if raw_input is None or (isinstance(raw_input, str) and not raw_input.strip()):
            raise PredictError(f"input= is required: {_REQUIRED['input']}")
    if raw_input is None:
        inputs = []
    elif isinstance(raw_input, (str, Path)):
        inputs = [raw_input]
    else:
        inputs = list(raw_input)
    return [str(i) for i in [*inputs, *listed]]


__all__ = [
    "DEFAULT_CROP_THRESHOLD",
    "DEFAULT_DECODE_SIZE",
    "RECORD_FORMATS",
    "SCHEMA_NAME",
    "PredictConfig",
    "PredictError",
    "PredictOptions",
    "check_aspect",
    "parse_flag",
    "parse_fraction",
    "parse_tristate",
    "parse_whole",
    "register_predict_schema",
]

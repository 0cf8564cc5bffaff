"""The crop model loaders: a Lightning checkpoint, or an exported ONNX / TorchScript file.

``load_crop_model(path, device)`` looks at the file's content, not only its name:

- a Lightning checkpoint (``.ckpt``) of :class:`~cropperhead.model.CropRegressor`: its
  hyperparameters rebuild the network and its image size
  (``CropRegressor.load_from_checkpoint``, no training config). It is read with
  ``weights_only=True``: a checkpoint holding arbitrary pickled objects is refused rather
  than executed.
- an ONNX file from ``cropperhead export --format onnx``: run with onnxruntime (CUDA
  when asked for and available, else the CPU).
- a TorchScript archive from ``cropperhead export --format torchscript``: run with
  ``torch.jit.load``.

Every loaded model is called the same way: ``model(images, aspect) -> [B, 5]`` with
``images`` ``[B, 3, S, S]`` float32 (ImageNet-normalised, letterboxed, on ``model.device``)
and ``aspect`` ``[B]`` display width / height; the result is display-frame crop records
on the CPU. :class:`ModelInfo` says what the model expects (image size, normalisation).

Every problem with the file (missing, not a model, another model, a version this code
cannot run) raises :class:`ModelLoadError` with a one-line message.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import logging
import warnings
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from cropperhead import __version__
from cropperhead.data.transforms import MEAN, STD
from cropperhead.errors import first_line, one_line
from cropperhead.predict.errors import ModelLoadError
from cropperhead.predict.network import inference_net

logger = logging.getLogger(__name__)

#: ``format`` value in an exported model's metadata.
EXPORT_FORMAT = "cropperhead-crop-model"
#: Version of the exported model's contract (inputs, outputs, metadata). Bump on change;
#: files with a newer version are refused as incompatible.
EXPORT_VERSION = 2
#: Metadata key (ONNX ``metadata_props`` key, TorchScript extra file name).
METADATA_KEY = "cropperhead.json"
#: Lightning major version whose checkpoints this code reads.
_LIGHTNING_MAJOR = 2


@dataclass(frozen=True)
class ModelInfo:
    """What a crop model expects and where it came from.

    Attributes:
        path: the file.
        kind: ``checkpoint``, ``onnx`` or ``torchscript``.
        image_size: side of the square letterboxed input, pixels.
        backbone: the backbone's name (``resnet18`` ...).
        mean: per-channel mean of the normalisation (fractions of 255).
        std: per-channel standard deviation of the normalisation.
        hparams: the model's hyperparameters (primitives).
        version: the CropperHead version that wrote an exported file ("" for checkpoints).
        aspect_classes: the aspect classes whose probabilities follow the crop in the
            model's output (:meth:`~cropperhead.predict.network.CropNet.forward`); empty
            for a model without them.
    """

    path: Path
    kind: str
    image_size: int
    backbone: str
    mean: tuple[float, float, float] = MEAN
    std: tuple[float, float, float] = STD
    hparams: dict[str, Any] = field(default_factory=dict)
    version: str = ""
    aspect_classes: tuple[str, ...] = ()

    @property
    def extras(self) -> int:
        """Columns after the crop: the class probabilities, p_crop and quality (or none)."""
        return len(self.aspect_classes) + 2 if self.aspect_classes else 0

    def describe(self) -> str:
        """One line: kind, backbone and input size."""
        return f"{self.kind} {self.path.name} ({self.backbone}, {self.image_size} px)"


def export_metadata(hparams: dict[str, Any]) -> dict[str, Any]:
    """The metadata stored with an exported model.

    Args:
        hparams: the CropRegressor's hyperparameters (primitives).

    Returns:
        A JSON-serialisable dict: format, versions, image size, backbone, normalisation,
        input/output description and the hyperparameters.
    """
    return {
        "format": EXPORT_FORMAT,
        "export_version": EXPORT_VERSION,
        "cropperhead_version": __version__,
        "image_size": int(hparams.get("image_size", 224)),
        "backbone": str(hparams.get("backbone", "resnet18")),
        "mean": list(MEAN),
        "std": list(STD),
        "inputs": {
            "images": "[B, 3, S, S] float32 RGB, letterboxed (aspect kept, centred, padded with "
            "the mean colour), normalised (x / 255 - mean) / std",
            "aspect": "[B] float32 display width / height of each photo",
        },
        "outputs": {
            "crops": "[B, 5 + E] left, top, right, bottom, angle_deg (display frame); then, "
            "when aspect_classes is not empty, the probability of each aspect class (in "
            "that order), the probability that the photographer would crop the photo at "
            "all, and a quality score in [0, 1] (E = len(aspect_classes) + 2)"
        },
        "aspect_classes": list(model_aspect_classes(hparams)),
        "hparams": _primitive(hparams),
    }


def model_aspect_classes(hparams: dict[str, Any]) -> tuple[str, ...]:
    """The aspect classes a CropRegressor with these hyperparameters outputs (or none)."""
    from cropperhead.geometry.aspect import ASPECT_CLASSES

    return ASPECT_CLASSES if hparams.get("head", "grid") == "centre" else ()


def _primitive(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _primitive(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_primitive(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def info_from_metadata(path: Path, kind: str, text: str | bytes | None) -> ModelInfo:
    """Check an exported model's metadata and turn it into :class:`ModelInfo`.

    Raises:
        ModelLoadError: no or unreadable metadata (not a CropperHead export), or a newer
            export version.
    """
    if not text:
        raise ModelLoadError(
            f"{path} is a {kind} model without CropperHead metadata: not made by "
            "`cropperhead export`"
        )
    try:
        meta = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ModelLoadError(f"{path}: unreadable CropperHead metadata ({exc})") from exc
    if not isinstance(meta, dict) or meta.get("format") != EXPORT_FORMAT:
        raise ModelLoadError(f"{path} is a {kind} model, but not a CropperHead crop model")
    version = meta.get("export_version")
    if not isinstance(version, int) or version > EXPORT_VERSION:
        raise ModelLoadError(
            f"{path} was exported by CropperHead {meta.get('cropperhead_version', '?')} "
            f"(export version {version!r}); this is CropperHead {__version__}, which reads "
            f"export version {EXPORT_VERSION}: upgrade CropperHead or export the model again"
        )
    try:
        return ModelInfo(
            path=path,
            kind=kind,
            image_size=int(meta["image_size"]),
            backbone=str(meta.get("backbone", "?")),
            mean=tuple(float(v) for v in meta.get("mean", MEAN)),
            std=tuple(float(v) for v in meta.get("std", STD)),
            hparams=dict(meta.get("hparams", {})),
            version=str(meta.get("cropperhead_version", "")),
            aspect_classes=tuple(str(c) for c in meta.get("aspect_classes", ())),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelLoadError(f"{path}: incomplete CropperHead metadata ({exc})") from exc


def resolve_device(device: str | None) -> str:
    """``auto`` -> ``cuda`` when a GPU is usable, else ``mps`` (Apple), else ``cpu``.

    Raises:
        ModelLoadError: an unknown device, or a GPU asked for and not available.
    """
    name = str(device or "auto").strip().lower()
    if name == "auto":
        if torch.cuda.is_available():
            return "cuda"
        mps = getattr(torch.backends, "mps", None)
        return "mps" if mps is not None and mps.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ModelLoadError(f"device={device} asked for, but no CUDA GPU is available")
    try:
        torch.device(name)
    except (RuntimeError, ValueError) as exc:
        raise ModelLoadError(
            f"device must be auto, cpu, cuda, cuda:N or mps, got {device!r}"
        ) from exc
    return name


class CropModel:
    """A loaded crop model: ``model(images, aspect) -> [B, 5 + E]`` on the CPU, as CropNet.

    Attributes:
        info: what the model expects.
        device: where inputs must live (``cpu``, ``cuda`` ...).
    """

    def __init__(self, info: ModelInfo, device: str) -> None:
        self.info = info
        self.device = device

    def __call__(self, images: Tensor, aspect: Tensor) -> Tensor:
        """Crops for a batch.

        Args:
            images: ``[B, 3, S, S]`` float32 normalised, letterboxed, on ``self.device``.
            aspect: ``[B]`` float32 display width / height.

        Returns:
            ``[B, 5 + E]`` float32: display-frame crops, then ``info.extras`` columns
            (:meth:`~cropperhead.predict.network.CropNet.forward`), CPU.
        """
        raise NotImplementedError

    @contextlib.contextmanager
    def limit_threads(self, threads: int | None) -> Iterator[None]:
        """Run the calls inside with at most ``threads`` CPU threads (None: as loaded).

        The predictor narrows the thread pool while its decoding workers hold the other
        cores. This default changes nothing; :class:`TorchCropModel` on the CPU narrows
        torch's intra-op pool. (onnxruntime fixes its pool when the session is made; its
        idle threads sleep rather than spin, see :func:`_load_onnx`.)
        """
        yield


class TorchCropModel(CropModel):
    """A torch module (checkpoint or TorchScript) in eval mode.

    Attributes:
        module: the network run (for a checkpoint: :func:`inference_net` of it).
        regressor: the CropRegressor of a checkpoint, else None.
    """

    def __init__(self, module: torch.nn.Module, info: ModelInfo, device: str) -> None:
        super().__init__(info, device)
        self.module = module.to(device).eval()
        self.regressor: nn.Module | None = None

    def __call__(self, images: Tensor, aspect: Tensor) -> Tensor:
        """See :meth:`CropModel.__call__`."""
        with torch.inference_mode():
            out = self.module(images.to(self.device), aspect.to(self.device))
        return out.float().cpu()

    @contextlib.contextmanager
    def limit_threads(self, threads: int | None) -> Iterator[None]:
        """See :meth:`CropModel.limit_threads`: ``torch.set_num_threads``, restored after.

        torch's OpenMP threads spin while they wait for work; next to busy decoding
        processes that spinning takes CPU time from them, so the forward pass costs more
        CPU time on more threads than on fewer (benchmarks/README.md).
        """
        before = torch.get_num_threads()
        if threads is None or self.device != "cpu" or threads >= before:
            yield
            return
        torch.set_num_threads(max(1, int(threads)))
        try:
            yield
        finally:
            torch.set_num_threads(before)


class OnnxCropModel(CropModel):
    """An ONNX model run by onnxruntime."""

    def __init__(self, session: Any, info: ModelInfo, device: str) -> None:
        super().__init__(info, "cpu")  # inputs go through numpy
        self.session = session
        self.providers = tuple(session.get_providers())
        self.requested_device = device

    def __call__(self, images: Tensor, aspect: Tensor) -> Tensor:
        """See :meth:`CropModel.__call__`."""
        feeds = {
            "images": np.ascontiguousarray(images.detach().cpu().numpy(), dtype=np.float32),
            "aspect": np.ascontiguousarray(aspect.detach().cpu().numpy(), dtype=np.float32),
        }
        (crops,) = self.session.run(["crops"], feeds)
        return torch.from_numpy(np.asarray(crops, dtype=np.float32))


def model_kind(path: Path) -> str:
    """``onnx``, ``torchscript`` or ``checkpoint``, from the file's name and content."""
    if path.suffix.lower() == ".onnx":
        return "onnx"
    if zipfile.is_zipfile(path):
        try:
            with zipfile.ZipFile(path) as archive:
                names = archive.namelist()
        except (zipfile.BadZipFile, OSError):
            return "checkpoint"
        # torch.jit.save archives carry compiled code; torch.save ones only data.pkl.
        if any(n.endswith("constants.pkl") or "/code/" in n for n in names):
            return "torchscript"
    return "checkpoint"


def load_crop_model(path: Path | str, device: str = "auto", kind: str | None = None) -> CropModel:
    """Load a checkpoint or an exported model for prediction.

    Args:
        path: a ``.ckpt`` from ``train.py``, or a ``.onnx`` / ``.pt`` from
            ``cropperhead export``.
        device: ``auto``, ``cpu``, ``cuda``, ``cuda:N`` or ``mps``.
        kind: ``checkpoint``, ``onnx`` or ``torchscript``; None: :func:`model_kind`.

    Returns:
        The model, in eval mode, on its device.

    Raises:
        ModelLoadError: the file is missing, is not a CropperHead model, or comes from an
            incompatible version (one-line message).
    """
    path = Path(path).expanduser()
    if not path.exists():
        raise ModelLoadError(f"no checkpoint at {path}")
    if not path.is_file():
        raise ModelLoadError(f"{path} is not a file (ckpt_path must name a checkpoint)")
    device = resolve_device(device)
    kind = kind or model_kind(path)
    if kind == "onnx":
        return _load_onnx(path, device)
    if kind == "torchscript":
        return _load_torchscript(path, device)
    return _load_checkpoint(path, device)


def _load_checkpoint(path: Path, device: str) -> CropModel:
    from cropperhead.model import CropRegressor
    from cropperhead.model.backbones import BACKBONES

    with open(path, "rb") as handle:
        head = handle.read(4)
    # torch.save writes a zip archive (or, before torch 1.6, a pickle: protocol 2+).
    if not (head.startswith(b"PK\x03\x04") or head[:1] == b"\x80"):
        raise ModelLoadError(f"{path} is not a checkpoint or an exported model")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - every failure means "cannot use this file"
        text = one_line(str(exc))
        if "Unsupported global" in text or "GLOBAL" in text:
            raise ModelLoadError(
                f"{path} holds pickled objects other than weights; refusing to load it "
                "(not a CropperHead checkpoint?)"
            ) from exc
        raise ModelLoadError(
            f"{path} is not a checkpoint or an exported model ({type(exc).__name__})"
        ) from exc
    if not isinstance(ckpt, dict) or not isinstance(ckpt.get("state_dict"), dict):
        raise ModelLoadError(f"{path} is not a Lightning checkpoint (no state_dict)")
    state = ckpt["state_dict"]
    hparams = ckpt.get("hyper_parameters")
    ours = any(k.startswith("backbone.resnet.") for k in state) and any(
        k.startswith("head.mlp.") for k in state
    )
    if not ours or not isinstance(hparams, dict):
        raise ModelLoadError(
            f"{path} is a Lightning checkpoint of another model, not of CropperHead's CropRegressor"
        )
    written_by = str(ckpt.get("pytorch-lightning_version", ""))
    major = written_by.split(".")[0]
    if major.isdigit() and int(major) != _LIGHTNING_MAJOR:
        raise ModelLoadError(
            f"{path} was written by Lightning {written_by}; this CropperHead reads Lightning "
            f"{_LIGHTNING_MAJOR}.x checkpoints"
        )
    accepted = set(inspect.signature(CropRegressor.__init__).parameters) - {"self"}
    unknown = sorted(set(hparams) - accepted)
    if unknown:
        raise ModelLoadError(
            f"{path} comes from an incompatible CropperHead version (unknown hyperparameters "
            f"{', '.join(unknown)}); this is CropperHead {__version__}"
        )
    if hparams.get("backbone", "resnet18") not in BACKBONES:
        raise ModelLoadError(
            f"{path} uses backbone {hparams.get('backbone')!r}, which this CropperHead "
            f"{__version__} does not know ({', '.join(BACKBONES)})"
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = CropRegressor.load_from_checkpoint(
                path, map_location="cpu", weights_only=True, pretrained=False, compile=False
            )
    except (RuntimeError, KeyError, TypeError, ValueError) as exc:
        first = first_line(exc)
        raise ModelLoadError(
            f"{path} comes from an incompatible CropperHead version: its weights do not fit "
            f"this version's model ({first[:200]})"
        ) from exc
    model.eval()
    info = ModelInfo(
        path=path,
        kind="checkpoint",
        image_size=int(model.hparams.image_size),
        backbone=str(model.hparams.backbone),
        hparams=dict(model.hparams),
        aspect_classes=model_aspect_classes(dict(model.hparams)),
    )
    net = inference_net(model, info.image_size, bool(model.hparams.get("channels_last", True)))
    loaded = TorchCropModel(net, info, device)
    loaded.regressor = model  # the Lightning module itself, for `cropperhead export`
    return loaded


def _load_torchscript(path: Path, device: str) -> CropModel:
    extra = {METADATA_KEY: ""}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # TorchScript's deprecation notice
            module = torch.jit.load(str(path), map_location="cpu", _extra_files=extra)
    except Exception as exc:  # noqa: BLE001
        raise ModelLoadError(
            f"{path} is not a readable TorchScript model ({type(exc).__name__})"
        ) from exc
    info = info_from_metadata(path, "torchscript", extra.get(METADATA_KEY))
    return TorchCropModel(module, info, device)


def _load_onnx(path: Path, device: str) -> CropModel:
    try:
        import onnxruntime as ort
    except ImportError as exc:
        raise ModelLoadError(
            'ONNX models need onnxruntime: pip install "cropperhead[export]"'
        ) from exc
    available = ort.get_available_providers()
    providers = ["CPUExecutionProvider"]
    if device.startswith("cuda") and "CUDAExecutionProvider" in available:
        providers.insert(0, "CUDAExecutionProvider")
    elif device.startswith("cuda"):
        logger.warning("onnxruntime has no CUDA provider here; running %s on the CPU", path.name)
    options = ort.SessionOptions()
    # Idle threads sleep instead of spinning: the decoding workers need those cores.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    try:
        session = ort.InferenceSession(str(path), options, providers=providers)
    except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own exception types
        text = one_line(str(exc))[:200]
        raise ModelLoadError(f"{path} is not a usable ONNX model ({text})") from exc
    meta = session.get_modelmeta().custom_metadata_map.get(METADATA_KEY)
    info = info_from_metadata(path, "onnx", meta)
    names = {i.name for i in session.get_inputs()}
    if names != {"images", "aspect"}:
        raise ModelLoadError(f"{path}: inputs {sorted(names)} are not images and aspect")
    return OnnxCropModel(session, info, device)

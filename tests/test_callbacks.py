import numpy as np
import torch

from cropperhead.callbacks import MIN_TILE_PX, render_validation_grid
from cropperhead.data.transforms import MEAN, STD
from cropperhead.viz import PRED_RGB, TARGET_RGB


def _examples(n: int, size: int) -> dict[str, torch.Tensor]:
    black = (torch.zeros(n, 3, size, size) - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(
        STD
    ).view(1, 3, 1, 1)
    return {
        "image": black,
        # A 3:2 photo letterboxed into the square: rows 1/6 .. 5/6 of the canvas.
        "content_box": torch.tensor([[0.0, size / 6, size, size * 2 / 3]] * n),
        "crop": torch.tensor([[0.1, 0.1, 0.6, 0.9, 0.0]] * n),
        "pred": torch.tensor([[0.3, 0.2, 0.9, 0.8, 0.0]] * n),
        "aspect": torch.full((n,), 1.5),
    }


def test_grid_draws_both_crops_where_the_labels_say_on_zoomed_tiles():
    picture = np.asarray(render_validation_grid(_examples(1, 64)))
    pad = 4
    zoom = -(-MIN_TILE_PX // 64)
    assert picture.shape[0] == 64 * zoom + 2 * pad

    def colour_at(x_frac: float, y_frac: float) -> np.ndarray:
        x = pad + round(x_frac * 64 * zoom)
        y = pad + round((64 / 6 + y_frac * 64 * 2 / 3) * zoom)
        return picture[y - 1 : y + 2, x - 1 : x + 2].reshape(-1, 3)

    # The bottom-right corners of both rectangles (the captions cover the top left).
    assert (colour_at(0.6, 0.9) == TARGET_RGB).all(axis=1).any()
    assert (colour_at(0.9, 0.8) == PRED_RGB).all(axis=1).any()
    # Inside both crops nothing is drawn: the photo is black there.
    assert (colour_at(0.45, 0.5) < 20).all()


def test_grid_is_square_ish_and_capped():
    picture = render_validation_grid(_examples(20, 224), max_images=9)
    assert picture.size == (3 * 224 + 4 * 4, 3 * 224 + 4 * 4)


def _epoch(callback, epoch, model, usual, sanity=False):
    from types import SimpleNamespace

    trainer = SimpleNamespace(
        sanity_checking=sanity,
        is_global_zero=True,
        current_epoch=epoch,
        callback_metrics={
            "val/iou": torch.tensor(model),
            "val/iou_usual_crop": torch.tensor(usual),
            "val/angle_mae": torch.tensor(0.7),
        },
    )
    callback.on_validation_epoch_end(trainer, None)


def test_usual_crop_check_warns_once_when_the_model_does_not_learn(caplog):
    from cropperhead.callbacks import UsualCropCheck

    check = UsualCropCheck(warn_after=3)
    with caplog.at_level("INFO", logger="cropperhead.callbacks"):
        _epoch(check, 0, 0.9, 0.5, sanity=True)  # the sanity check does not count
        for epoch in range(6):
            _epoch(check, epoch, 0.60, 0.63)
    warnings = [r for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1
    assert "after 3 epochs the model still does not beat your usual crop" in warnings[0].message
    assert "IoU 0.600 against 0.630" in warnings[0].message
    lines = [r.message for r in caplog.records if r.levelname == "INFO"]
    first = "epoch 1: val IoU 0.600, your usual crop 0.630 (-0.030), angle error 0.70 deg"
    assert lines[0] == first
    assert len(lines) == 6


def test_usual_crop_check_is_quiet_once_the_model_has_beaten_it(caplog):
    from cropperhead.callbacks import UsualCropCheck

    check = UsualCropCheck(warn_after=2)
    with caplog.at_level("INFO", logger="cropperhead.callbacks"):
        _epoch(check, 0, 0.70, 0.63)
        for epoch in range(1, 5):  # later epochs dip: it has learnt, no warning
            _epoch(check, epoch, 0.62, 0.63)
    assert not [r for r in caplog.records if r.levelname == "WARNING"]

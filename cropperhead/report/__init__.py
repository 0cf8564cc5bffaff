"""Looking at crops: scores against the photographer's, contact sheets, habit statistics.

``evaluate``: match predictions to manifest samples and score them (rotated IoU,
boundary displacement, angle error) next to the full-frame and "usual crop" baselines.
``html``: a self-contained HTML contact sheet of suggested crops (``write_report``).
``stats``: histograms and a text summary of a data set's crops.
``cli``: the ``cropperhead evaluate``, ``report`` and ``stats`` subcommands.
"""

from cropperhead.report.evaluate import (
    EvaluationError,
    EvaluationResult,
    Scores,
    evaluate,
    evaluate_split,
)
from cropperhead.report.html import write_report
from cropperhead.report.predictions import (
    Prediction,
    ReportError,
    load_samples,
    read_predictions,
)
from cropperhead.report.stats import CropStats, crop_stats, dataset_stats, plot_stats

__all__ = [
    "CropStats",
    "EvaluationError",
    "EvaluationResult",
    "Prediction",
    "ReportError",
    "Scores",
    "crop_stats",
    "dataset_stats",
    "evaluate",
    "evaluate_split",
    "load_samples",
    "plot_stats",
    "read_predictions",
    "write_report",
]

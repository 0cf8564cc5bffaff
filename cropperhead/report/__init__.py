"""Looking at crops: scores against the photographer's, contact sheets, habit statistics.

``predictions``: reading predictions files and manifests (``PredictionRecord``,
``Suggestion``). ``scores``: the per-sample scores (rotated IoU, boundary displacement,
angle error, aspect) and their summary. ``baselines``: the full-frame and "usual crop"
baselines. ``evaluate``: match predictions to manifest samples and score them next to
the baselines; ``evaluate_output`` prints the outcome as a table or JSON.
``html``: a self-contained HTML contact sheet of suggested crops (``write_report``).
``stats``: histograms and a text summary of a data set's crops. ``browser``: headless
Chromium for the report's browser test and the README screenshot.
``cli``: the ``cropperhead evaluate``, ``report`` and ``stats`` subcommands.
"""

from cropperhead.report.evaluate import (
    EvaluationError,
    EvaluationResult,
    evaluate,
    evaluate_split,
)
from cropperhead.report.html import write_report
from cropperhead.report.predictions import (
    PredictionRecord,
    ReportError,
    load_samples,
    read_predictions,
)
from cropperhead.report.scores import Scores
from cropperhead.report.stats import CropStats, crop_stats, dataset_stats, plot_stats

__all__ = [
    "CropStats",
    "EvaluationError",
    "EvaluationResult",
    "PredictionRecord",
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

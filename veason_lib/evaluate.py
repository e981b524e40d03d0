"""The evaluator: scores a tree of predicted PNGs against one benchmark split (rules: METRICS.md).

    python -m veason_lib.evaluate --benchmark revos --root data/ReVOS --split valid \\
        --pred outputs/run/predictions --out outputs/run/metrics.json

Every expression is scored over all frames of its video (J, F, and on ReVOS-layout benchmarks the
robustness R in both conventions), then aggregated with the benchmark's own rules. All numbers are
percentages.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from tqdm import tqdm

from veason_lib.data import Benchmark, DataError, Expression, Video, load_benchmark
from veason_lib.metrics import PUBLISHED_FP_WEIGHT, contour_accuracy, region_similarity, robustness

REVOS_RULES = ("revos", "synthetic")  # the synthetic benchmark is ReVOS-layout and scored like ReVOS
REVOS_CATEGORIES = {"referring": 0, "reasoning": 1}  # type_id 2 (no target) enters no reported number
METRIC_NAMES = ("J", "F", "JF", "R", "R_bin")
TABLE_HEADER = "R: published convention (false positives x255, as in the paper's tables); R_bin: binary masks"


@dataclass(frozen=True)
class ExpressionScore:
    """Means over the frames of one expression, as fractions; R is None where the benchmark has no
    foreground, and everything is 0 where the prediction is missing."""

    video: str
    exp_id: str
    key: str
    type_id: int | None
    missing: bool
    J: float
    F: float
    R: float | None
    R_bin: float | None


# Scoring ----------------------------------------------------------------------------------------------


def read_prediction(directory: Path, video: Video) -> np.ndarray | None:
    """The predicted masks of one expression, ``<directory>/<frame>.png`` -> (T, H, W) bool, binarised
    with ``!= 0``; None when the folder does not exist. A folder with a frame missing is an error."""
    if not directory.is_dir():
        return None
    masks = np.zeros((len(video.frame_names), video.height, video.width), dtype=bool)  # (T, H, W)
    for t, name in enumerate(video.frame_names):
        path = directory / f"{name}.png"
        image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)  # (H, W) uint8, as the standard scripts read it
        if image is None:
            raise DataError.at(
                path, "prediction", "missing or unreadable PNG (the expression's folder exists)"
            )
        if image.shape != (video.height, video.width):
            size = f"{image.shape[1]}x{image.shape[0]}"
            raise DataError.at(path, "size", f"{size} (WxH), the video is {video.width}x{video.height}")
        masks[t] = image != 0
    return masks


def score_expression(benchmark: Benchmark, expr: Expression, pred_root: Path) -> ExpressionScore:
    """J, F (and R, R_bin where the benchmark has a foreground) of one expression, over all its frames."""
    ids = {"video": expr.video, "exp_id": expr.exp_id, "key": expr.key, "type_id": expr.type_id}
    with_r = benchmark.name in REVOS_RULES  # R needs mask_dict_foreground.json: ReVOS layout only
    pred = read_prediction(benchmark.prediction_dir(pred_root, expr), benchmark.videos[expr.video])
    if pred is None:
        # METRICS.md: a missing prediction scores 0. The standard ReVOS script sets R to 0 as well (it
        # records [0, 0, 0, 0] for J, F, A, R), so R and R_bin are 0 too, not "no false positive" 1.
        zero_r = 0.0 if with_r else None
        return ExpressionScore(**ids, missing=True, J=0.0, F=0.0, R=zero_r, R_bin=zero_r)
    instances = benchmark.object_masks(expr)  # (K, T, H, W) bool
    gt = instances.any(axis=0)  # (T, H, W) the target: union of its objects
    j, f = _mean(region_similarity(pred, gt)), _mean(contour_accuracy(pred, gt))
    if not with_r:
        return ExpressionScore(**ids, missing=False, J=j, F=f, R=None, R_bin=None)
    foreground = benchmark.foreground(expr.video)  # (T, H, W) bool
    # published R: G is the uint8 *sum* of the instances, so overlaps wrap (METRICS.md)
    r = _mean(robustness(pred, instances.sum(axis=0, dtype=np.uint8), foreground, PUBLISHED_FP_WEIGHT))
    r_bin = _mean(robustness(pred, gt, foreground, fp_weight=1))
    return ExpressionScore(**ids, missing=False, J=j, F=f, R=r, R_bin=r_bin)


def _mean(per_frame: np.ndarray) -> float:
    return float(np.mean(per_frame))


# Running over a split -----------------------------------------------------------------------------------

_worker_job: tuple[Benchmark, Path] | None = None  # set once per worker process by the pool initializer


def _init_worker(benchmark: Benchmark, pred_root: Path) -> None:
    global _worker_job
    _worker_job = (benchmark, pred_root)
    cv2.setNumThreads(1)  # the pool already uses every core


def _score_in_worker(expr: Expression) -> ExpressionScore:
    assert _worker_job is not None, "the pool initializer sets the job"
    benchmark, pred_root = _worker_job
    return score_expression(benchmark, expr, pred_root)


def score_expressions(
    benchmark: Benchmark, pred_root: Path, expressions: Sequence[Expression], processes: int = 1
) -> list[ExpressionScore]:
    """Scores in the order of ``expressions``, with a progress bar; a process pool when processes > 1."""
    progress = {
        "total": len(expressions),
        "desc": f"scoring {benchmark.name} {benchmark.split}",
        "unit": "expr",
    }
    if processes <= 1:
        return [score_expression(benchmark, expr, pred_root) for expr in tqdm(expressions, **progress)]
    # spawn, not fork: a fork taken after torch or OpenCV started their thread pools can deadlock the child.
    # The benchmark reaches each worker once (initializer), not once per expression.
    context = multiprocessing.get_context("spawn")
    with context.Pool(processes, initializer=_init_worker, initargs=(benchmark, pred_root)) as pool:
        return list(tqdm(pool.imap(_score_in_worker, expressions), **progress))


def evaluate_predictions(
    benchmark: Benchmark,
    pred_root: str | Path,
    processes: int = 1,
    expressions: Sequence[Expression] | None = None,
) -> dict[str, Any]:
    """Score ``pred_root`` against ``benchmark`` (all its expressions unless ``expressions`` is given).

    ReVOS and synthetic: {"referring", "reasoning", "overall": {J, F, JF, R, R_bin}, "per_expression",
    "missing"}; MeViS: {"overall": {J, F, JF}, "per_expression", "missing"}; ReasonVOS: the same plus
    "skipped" (expressions without predictions, left out of the means). Percentages; a category without
    expressions has None values.
    """
    chosen = benchmark.expressions if expressions is None else list(expressions)
    scores = score_expressions(benchmark, Path(pred_root), chosen, processes)
    if benchmark.name in REVOS_RULES:
        return revos_metrics(scores)
    if benchmark.name == "mevis":
        return plain_metrics(scores, skip_missing=False)
    if benchmark.name == "reasonvos":
        return plain_metrics(scores, skip_missing=True)
    raise ValueError(f"no scoring rules for benchmark {benchmark.name!r}")


# Aggregation rules ----------------------------------------------------------------------------------------


def revos_metrics(scores: Sequence[ExpressionScore]) -> dict[str, Any]:
    """ReVOS rules: per-expression percentages rounded to 0.01 first, referring (type 0) and reasoning
    (type 1) averaged separately, overall = the mean of the two; type 2 enters no number."""
    rows = [_revos_row(score) for score in scores]
    metrics: dict[str, Any] = {
        name: _category_means([row for row in rows if row["type_id"] == type_id])
        for name, type_id in REVOS_CATEGORIES.items()
    }
    metrics["overall"] = {
        key: _mean_or_none([metrics[name][key] for name in REVOS_CATEGORIES]) for key in METRIC_NAMES
    }
    return {**metrics, "per_expression": rows, "missing": sum(score.missing for score in scores)}


def _revos_row(score: ExpressionScore) -> dict[str, Any]:
    # np.round on float64, as the standard script's round(100 * j, 2) on numpy scalars
    percent = {key: _round_percent(getattr(score, key)) for key in ("J", "F", "R", "R_bin")}
    percent["JF"] = float(np.round(100 * (np.float64(score.J) + score.F) / 2, 2))
    return {**_ids(score), **{key: percent[key] for key in METRIC_NAMES}}


def _round_percent(value: float | None) -> float | None:
    return None if value is None else float(np.round(100 * np.float64(value), 2))


def _category_means(rows: Sequence[dict[str, Any]]) -> dict[str, float | None]:
    means = {key: _mean_or_none([row[key] for row in rows]) for key in ("J", "F", "R", "R_bin")}
    means["JF"] = _jf(means["J"], means["F"])  # (J + F) / 2 of the means, as the standard script
    return {key: means[key] for key in METRIC_NAMES}


def plain_metrics(scores: Sequence[ExpressionScore], skip_missing: bool) -> dict[str, Any]:
    """MeViS (a missing prediction scores 0) and ReasonVOS (missing ones are skipped): plain means."""
    counted = [score for score in scores if not (skip_missing and score.missing)]
    j = _mean_or_none([100 * score.J for score in counted])
    f = _mean_or_none([100 * score.F for score in counted])
    rows = [{**_ids(s), "J": 100 * s.J, "F": 100 * s.F, "JF": 100 * (s.J + s.F) / 2} for s in scores]
    metrics: dict[str, Any] = {"overall": {"J": j, "F": f, "JF": _jf(j, f)}, "per_expression": rows}
    missing = sum(score.missing for score in scores)
    return {**metrics, "skipped": missing} if skip_missing else {**metrics, "missing": missing}


def _ids(score: ExpressionScore) -> dict[str, Any]:
    fields = asdict(score)
    return {key: fields[key] for key in ("video", "exp_id", "key", "type_id", "missing")}


def _mean_or_none(values: Sequence[float | None]) -> float | None:
    if not values or any(value is None for value in values):
        return None
    return float(np.mean(values))


def _jf(j: float | None, f: float | None) -> float | None:
    return None if j is None or f is None else (j + f) / 2


# Report -------------------------------------------------------------------------------------------------


def format_table(metrics: dict[str, Any], title: str) -> str:
    """A plain-text table of the aggregate rows (every row of ``metrics`` that holds J and F)."""
    rows = {name: values for name, values in metrics.items() if isinstance(values, dict) and "J" in values}
    columns = [key for key in METRIC_NAMES if any(values.get(key) is not None for values in rows.values())]
    lines = [title]
    if "R" in columns:
        lines.append(TABLE_HEADER)
    lines.append(f"{'':<10}" + "".join(f"{name:>8}" for name in columns))
    for name, values in rows.items():
        cells = "".join(f"{_cell(values.get(key)):>8}" for key in columns)
        lines.append(f"{name:<10}{cells}")
    counts = {key: metrics[key] for key in ("missing", "skipped") if key in metrics}
    lines.append(
        f"{len(metrics['per_expression'])} expressions; " + ", ".join(f"{k}: {v}" for k, v in counts.items())
    )
    return "\n".join(lines)


def _cell(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description="Score predicted PNG masks against a benchmark split.")
    parser.add_argument("--benchmark", required=True, choices=["revos", "mevis", "reasonvos", "synthetic"])
    parser.add_argument("--root", required=True, help="dataset root (the folder of the split for MeViS)")
    parser.add_argument("--split", default="valid", help="benchmark split")
    parser.add_argument("--pred", required=True, help="prediction tree: <pred>/<video>/<exp_id>/<frame>.png")
    parser.add_argument("--out", required=True, help="metrics JSON to write")
    parser.add_argument("--processes", type=int, default=os.cpu_count() or 1, help="worker processes")
    args = parser.parse_args(argv)
    benchmark = load_benchmark(args.benchmark, args.root, args.split)
    metrics = evaluate_predictions(benchmark, args.pred, processes=args.processes)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(metrics, indent=2) + "\n")
    print(format_table(metrics, f"{args.benchmark} {args.split}: {args.pred}"))
    return metrics


if __name__ == "__main__":
    main()

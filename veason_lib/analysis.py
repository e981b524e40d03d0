"""Ablation tables, failure categories and a browser over the predictions of an evaluated run.

Everything here reads what stage 4 left in ``outputs/<run>/04_eval/`` (see :mod:`veason_lib.inference`):
``metrics.json`` (per row of the table: the evaluator's aggregates and ``per_expression`` scores, in
percent), ``records.jsonl`` (one record per expression: the raw completion and how it was read) and
the PNG prediction trees. The names read from those files are all declared at the top of this module.

Failure categories, one per expression, tested in this order:

- ``no answer``: the completion gave no usable keyframe (a parse failure; empty masks);
- ``ok``: J&F at or above a threshold, whatever the route;
- ``keyframe without the target``: the GT target has no pixel at the answered keyframe;
- ``wrong object at the keyframe``: the best IoU of any predicted box with any GT box there is < 0.5;
- ``segmenter lost the object``: the boxes were right, yet the propagated masks score low.
"""

from __future__ import annotations

import html
import io
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from veason_lib.config import STAGE_DIRS, CommonConfig, resolve_path
from veason_lib.data import Benchmark, DataError, Expression, Video
from veason_lib.data.errors import read_json
from veason_lib.data.records import TYPE_NAMES, read_binary_png
from veason_lib.inference import MERGED_RECORDS, METRICS_FILE, MODEL_ROW, ROW_DIRS
from veason_lib.jsonl import read_jsonl
from veason_lib.rewards import box_iou_matrix
from veason_lib.samples import boxes_to_video, object_boxes

# Names in metrics.json (veason_lib.inference.summarize around veason_lib.evaluate.evaluate_predictions).
ROWS = "rows"
PER_EXPRESSION = "per_expression"
SCORE_KEY = "key"
TABLE_METRICS: dict[str, str] = {"J": "J", "F": "F", "J&F": "JF"}  # shown name -> evaluator's name
TABLE_SUBSETS = ("referring", "reasoning")  # the paper's Tables 4-6
# Names in records.jsonl (veason_lib.inference.expression_record): EvalRecord field -> record key.
RECORD_FIELDS: dict[str, str] = {
    "key": "key",
    "video": "video",
    "exp_id": "exp_id",
    "type_id": "type_id",
    "query": "query",
    "completion": "completion",
    "parse_failure": "parse_failure",
    "keyframe": "keyframe",
    "keyframe_index": "keyframe_index",
    "gt_keyframe": "gt_keyframe",
    "boxes": "boxes",
    "reasoning": "reasoning",
    "reason": "reason",
}

NO_ANSWER = "no answer"
OK = "ok"
KEYFRAME_WITHOUT_TARGET = "keyframe without the target"
WRONG_OBJECT = "wrong object at the keyframe"
SEGMENTER_LOST = "segmenter lost the object"
CATEGORIES = (NO_ANSWER, KEYFRAME_WITHOUT_TARGET, WRONG_OBJECT, SEGMENTER_LOST, OK)
OK_JF_THRESHOLD = 50.0  # percent
BOX_IOU_THRESHOLD = 0.5

GT_COLOUR = np.array([40, 200, 60], dtype=float)  # green
PRED_COLOUR = np.array([230, 40, 220], dtype=float)  # magenta: overlaps with GT turn grey-pink
MASK_ALPHA = 0.5
KEYFRAME_COLOUR = "orange"
TRACE_WIDTH = 70  # characters per line of the reasoning trace
TRACE_CHARS = 1400  # longer traces are cut in the strip (the browser shows the full completion)

# The paper's ablations (3B, ReVOS valid, percent): Tables 4, 5 and 6, columns as ablation_table's.
PAPER_TABLES: dict[int, dict[str, tuple[float, ...]]] = {
    4: {
        "w/o R_k": (58.8, 64.4, 61.6, 51.9, 57.9, 54.9),
        "w/o R_s": (58.1, 63.9, 61.0, 50.3, 57.5, 53.9),
        "w/o R_u": (59.6, 65.3, 62.4, 53.0, 59.3, 56.1),
        "Ours": (60.3, 65.6, 63.0, 53.6, 60.0, 56.8),
    },
    5: {
        "Qwen2.5-VL": (19.1, 22.8, 20.9, 17.3, 21.7, 19.5),
        "SFT": (36.4, 40.2, 38.3, 31.0, 35.3, 33.1),
        "CoT-SFT": (48.1, 54.1, 51.1, 37.9, 45.3, 41.6),
        "Pure GRPO": (57.0, 63.0, 60.0, 50.8, 57.6, 54.2),
        "SFT+GRPO": (58.9, 64.4, 61.6, 52.8, 59.2, 56.0),
        "CoT-SFT+GRPO": (60.3, 65.6, 63.0, 53.6, 60.0, 56.8),
    },
    6: {
        "Grounding-only": (55.8, 60.9, 58.3, 48.2, 54.4, 51.3),
        "SFT-keyframe": (49.7, 59.4, 54.6, 46.5, 55.6, 51.0),
        "Ours": (60.3, 65.6, 63.0, 53.6, 60.0, 56.8),
    },
}


# ----------------------------------------------------------------------------------------------------
# Reading an evaluated run
# ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EvalRecord:
    """What the analysis reads of one inference record."""

    key: str
    video: str
    exp_id: str
    type_id: int | None
    query: str
    completion: str
    parse_failure: bool
    keyframe: int | None  # the answered timestamp (seconds)
    keyframe_index: int | None  # its video frame index
    gt_keyframe: int | None  # timestamp of the sampled frame of largest GT area
    boxes: list[list[float]]  # canvas px, xyxy
    reasoning: str | None  # the <think> text
    reason: str | None  # the parser's first problem, None when the answer was clean

    @classmethod
    def from_dict(cls, record: dict[str, Any], source: str) -> EvalRecord:
        missing = [name for name in RECORD_FIELDS.values() if name not in record]
        if missing:
            raise DataError.at(source, missing[0], "missing from the inference record")
        return cls(**{attr: record[name] for attr, name in RECORD_FIELDS.items()})


def resolve_eval_dir(path: str | Path) -> Path:
    """The stage-4 folder of a run folder (``<run>/04_eval``), or ``path`` itself when it is one."""
    path = Path(path)
    if (path / METRICS_FILE).is_file() or (path / MERGED_RECORDS).is_file():
        return path
    return path / STAGE_DIRS["eval"]


def read_eval_metrics(path: str | Path) -> dict[str, Any]:
    """``metrics.json`` of an evaluated run (a run folder or its ``04_eval``)."""
    source = resolve_eval_dir(path) / METRICS_FILE
    metrics = read_json(source)
    if not isinstance(metrics, dict) or not isinstance(metrics.get(ROWS), dict):
        raise DataError.at(source, ROWS, "missing: expected {row name: evaluator metrics}")
    return metrics


def read_eval_records(path: str | Path) -> list[EvalRecord]:
    """The merged ``records.jsonl`` of an evaluated run, one :class:`EvalRecord` per expression."""
    source = resolve_eval_dir(path) / MERGED_RECORDS
    if not source.is_file():
        raise DataError.at(source, "(file)", "not found (run stage 4 to the end: it merges the shards)")
    return [EvalRecord.from_dict(r, f"{source}: line {i}") for i, r in enumerate(read_jsonl(source), 1)]


def row_metrics(metrics: dict[str, Any], row: str = MODEL_ROW, source: str = METRICS_FILE) -> dict[str, Any]:
    """The evaluator's output for one row (``model`` or an oracle row); a bare evaluator output as is."""
    if ROWS not in metrics:
        return metrics
    if row not in metrics[ROWS]:
        raise DataError.at(source, f"{ROWS}.{row}", f"missing; rows: {sorted(metrics[ROWS])}")
    return metrics[ROWS][row]


def expression_scores(
    metrics: dict[str, Any], row: str = MODEL_ROW, source: str = METRICS_FILE
) -> dict[str, dict[str, Any]]:
    """Per-expression J, F, JF (percent) of one row, by expression key."""
    scores = row_metrics(metrics, row, source)
    if PER_EXPRESSION not in scores:
        raise DataError.at(source, f"{ROWS}.{row}.{PER_EXPRESSION}", "missing")
    return {entry[SCORE_KEY]: entry for entry in scores[PER_EXPRESSION]}


def prediction_root(path: str | Path, row: str = MODEL_ROW) -> Path:
    """The PNG tree of one row of an evaluated run."""
    return resolve_eval_dir(path) / ROW_DIRS[row]


# ----------------------------------------------------------------------------------------------------
# Ablation tables (the paper's Tables 4-6)
# ----------------------------------------------------------------------------------------------------


def run_label(source: str | Path) -> str:
    """A run's name from its folder: ``outputs/<run>`` or ``outputs/<run>/04_eval``."""
    path = Path(source)
    return path.parent.name if path.name == STAGE_DIRS["eval"] else path.name


def table_row(metrics: dict[str, Any], row: str, subsets: Sequence[str], source: str) -> dict[tuple, Any]:
    """(subset, metric) -> value for one run; subsets the benchmark does not report are left out."""
    scores = row_metrics(metrics, row, source)
    return {
        (subset, shown): scores[subset].get(name)
        for subset in subsets
        if isinstance(scores.get(subset), dict)
        for shown, name in TABLE_METRICS.items()
    }


def ablation_table(
    runs: Mapping[str, str | Path | dict[str, Any]] | Sequence[str | Path],
    row: str = MODEL_ROW,
    subsets: Sequence[str] = TABLE_SUBSETS,
    decimals: int | None = 1,
) -> pd.DataFrame:
    """Rows = runs (in the given order), columns = subset x (J, F, J&F), as in the paper's Tables 4-6.

    ``runs`` maps a row label to a run folder, its ``04_eval`` folder or a loaded ``metrics.json``
    (or an evaluator output); a plain list of folders is labelled by run name. ``row`` picks the model
    row or an oracle row of each run.
    """
    if not isinstance(runs, Mapping):
        labels = [run_label(path) for path in runs]
        if len(set(labels)) < len(labels):
            raise ValueError(f"runs: run names {labels} repeat; pass a mapping of distinct row labels")
        runs = dict(zip(labels, runs, strict=True))
    table = {}
    for label, run in runs.items():
        if isinstance(run, dict):
            table[label] = table_row(run, row, subsets, f"{label}: metrics")
        else:
            source = str(resolve_eval_dir(run) / METRICS_FILE)
            table[label] = table_row(read_eval_metrics(run), row, subsets, source)
    columns = [(s, m) for s in subsets for m in TABLE_METRICS if any((s, m) in v for v in table.values())]
    frame = pd.DataFrame([[values.get(c) for c in columns] for values in table.values()], index=list(table))
    frame.columns = pd.MultiIndex.from_tuples(columns)
    frame = frame.astype(float)
    return frame if decimals is None else frame.round(decimals)


def paper_table(number: int) -> pd.DataFrame:
    """The paper's Table 4 (rewards), 5 (training strategy) or 6 (keyframe strategy), our layout."""
    if number not in PAPER_TABLES:
        raise ValueError(f"paper_table: expected one of {sorted(PAPER_TABLES)}, got {number}")
    columns = pd.MultiIndex.from_tuples([(s, m) for s in TABLE_SUBSETS for m in TABLE_METRICS])
    rows = PAPER_TABLES[number]
    return pd.DataFrame(list(rows.values()), index=list(rows), columns=columns)


# ----------------------------------------------------------------------------------------------------
# Failure categories
# ----------------------------------------------------------------------------------------------------


def keyframe_evidence(
    benchmark: Benchmark, expr: Expression, record: EvalRecord, frame_size: int
) -> tuple[float, float]:
    """(GT target area in px, best IoU of a predicted box with a GT box) at the answered keyframe."""
    objects = benchmark.object_masks(expr, [record.keyframe_index])[:, 0]  # (K, H, W)
    area = float(objects.any(axis=0).sum())  # no object (no-target expression): 0
    gt_boxes = object_boxes(objects, frame_size)  # canvas px, one per object present
    if not gt_boxes or not record.boxes:
        return area, 0.0
    ious = box_iou_matrix(np.asarray(record.boxes, dtype=float), np.asarray(gt_boxes, dtype=float))  # (N, M)
    return area, float(ious.max())


def failure_category(
    record: EvalRecord,
    jf: float,
    gt_area: float,
    best_iou: float,
    ok_threshold: float = OK_JF_THRESHOLD,
    iou_threshold: float = BOX_IOU_THRESHOLD,
) -> str:
    """The first category (module docstring order) that explains one expression's outcome."""
    if record.parse_failure or record.keyframe_index is None:
        return NO_ANSWER
    if jf >= ok_threshold:
        return OK
    if gt_area <= 0:
        return KEYFRAME_WITHOUT_TARGET
    if best_iou < iou_threshold:
        return WRONG_OBJECT
    return SEGMENTER_LOST


FAILURE_COLUMNS = [
    "key",
    "video",
    "exp_id",
    "subset",
    "query",
    "J",
    "F",
    "J&F",
    "keyframe",
    "gt_keyframe",
    "gt_area",
    "best_iou",
    "reason",
]


def categorize_failures(
    records: Sequence[EvalRecord],
    metrics: dict[str, Any],
    benchmark: Benchmark,
    frame_size: int,
    row: str = MODEL_ROW,
    ok_threshold: float = OK_JF_THRESHOLD,
    iou_threshold: float = BOX_IOU_THRESHOLD,
) -> pd.DataFrame:
    """One row per record: ids, subset, J, F, J&F (percent), keyframe evidence and the category.

    ``metrics`` is the run's ``metrics.json`` (or one evaluator output); ``frame_size`` is the canvas the
    boxes are expressed in (the evaluated config's ``frame_size``).
    """
    scores = expression_scores(metrics, row)
    expressions = {expr.key: expr for expr in benchmark.expressions}
    rows = []
    for record in records:
        if record.key not in expressions:
            raise DataError.at(MERGED_RECORDS, record.key, f"not an expression of {benchmark!r}")
        if record.key not in scores:
            raise DataError.at(METRICS_FILE, f"{ROWS}.{row}.{PER_EXPRESSION}", f"no score for {record.key!r}")
        rows.append(failure_row(record, scores[record.key], expressions[record.key], benchmark, frame_size))
    frame = pd.DataFrame(rows, columns=FAILURE_COLUMNS)
    frame = frame.astype({"keyframe": "Int64", "gt_keyframe": "Int64"})  # timestamps; missing stays <NA>
    frame["category"] = [
        failure_category(r, jf, area, iou, ok_threshold, iou_threshold)
        for r, jf, area, iou in zip(records, frame["J&F"], frame["gt_area"], frame["best_iou"], strict=True)
    ]
    return frame


def failure_row(
    record: EvalRecord, score: dict[str, Any], expr: Expression, benchmark: Benchmark, frame_size: int
) -> list[Any]:
    """The :data:`FAILURE_COLUMNS` of one expression (the category is added by the caller)."""
    answered = not record.parse_failure and record.keyframe_index is not None
    area, iou = keyframe_evidence(benchmark, expr, record, frame_size) if answered else (np.nan, np.nan)
    subset = TYPE_NAMES.get(record.type_id, "all")  # benchmarks without types: "all"
    scores = [score["J"], score["F"], score["JF"]]
    ids = [record.key, record.video, record.exp_id, subset, record.query]
    return [*ids, *scores, record.keyframe, record.gt_keyframe, area, iou, record.reason]


def category_counts(failures: pd.DataFrame, by: str | None = None) -> pd.DataFrame:
    """Expressions per category (every category listed, in a fixed order), with their share in percent;
    with ``by`` (e.g. ``"subset"``), a count table of categories x the values of that column."""
    if by is not None:
        table = pd.crosstab(failures["category"], failures[by])
        return table.reindex(list(CATEGORIES), fill_value=0)
    counts = failures["category"].value_counts().reindex(list(CATEGORIES), fill_value=0)
    share = 100.0 * counts / max(len(failures), 1)
    return pd.DataFrame({"count": counts, "share (%)": share.round(1)})


def worst_expressions(failures: pd.DataFrame, k: int) -> pd.DataFrame:
    """The ``k`` expressions of lowest J&F (ties by key, so the choice is reproducible)."""
    return failures.sort_values(["J&F", "key"], kind="stable").head(k)


# ----------------------------------------------------------------------------------------------------
# Failure strips and the prediction browser
# ----------------------------------------------------------------------------------------------------


def strip_frame_indices(num_frames: int, n_frames: int, keyframe_index: int | None) -> list[int]:
    """``n_frames`` frames evenly over the video, the keyframe replacing its nearest pick.

    >>> strip_frame_indices(10, 4, 4)
    [0, 4, 6, 9]
    """
    evenly = np.linspace(0, num_frames - 1, min(n_frames, num_frames)).round().astype(int)  # (n,)
    picks = sorted(set(evenly.tolist()))
    if keyframe_index is not None and keyframe_index not in picks:
        nearest = int(np.argmin([abs(p - keyframe_index) for p in picks]))
        picks[nearest] = keyframe_index
    return sorted(picks)


def overlay_masks(frame: np.ndarray, gt: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """GT then prediction blended onto an (H, W, 3) uint8 frame -> (H, W, 3) uint8."""
    image = frame.astype(float)  # (H, W, 3)
    for mask, colour in ((gt, GT_COLOUR), (pred, PRED_COLOUR)):
        image[mask] = (1 - MASK_ALPHA) * image[mask] + MASK_ALPHA * colour  # (N, 3)
    return image.round().astype(np.uint8)


def read_predicted_frames(directory: Path, video: Video, indices: Sequence[int]) -> np.ndarray | None:
    """The predicted masks at ``indices`` -> (n, H, W) bool; None when the expression has no folder."""
    if not directory.is_dir():
        return None
    paths = [directory / f"{video.frame_names[i]}.png" for i in indices]
    return np.stack([read_binary_png(path, video.height, video.width) for path in paths])  # (n, H, W)


def trace_text(record: EvalRecord, score: float | None = None, category: str | None = None) -> str:
    """The query, the answer as read, and the reasoning trace (the raw completion when unparsed), wrapped."""
    if record.parse_failure or record.keyframe is None:
        answer = f"no usable answer ({record.reason})"
    else:
        answer = f"keyframe {record.keyframe}s (GT {record.gt_keyframe}s), {len(record.boxes)} box(es)"
    outcome = " | ".join(p for p in (None if score is None else f"J&F {score:.1f}", category) if p)
    trace = record.reasoning if record.reasoning else f"[completion] {record.completion}"
    if len(trace) > TRACE_CHARS:
        trace = trace[:TRACE_CHARS] + " [...]"
    parts = [f"{record.key}: {record.query}", answer, outcome, "reasoning:", trace]
    return "\n".join(textwrap.fill(p, TRACE_WIDTH, replace_whitespace=False) for p in parts if p)


def draw_boxes(ax: Any, boxes: Sequence[Sequence[float]], frame_size: int, video: Video) -> None:
    """The answered canvas boxes, mapped to the video's pixels, as outlines."""
    for x1, y1, x2, y2 in boxes_to_video(boxes, frame_size, video.height, video.width):
        ax.add_patch(Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, edgecolor=PRED_COLOUR / 255, lw=1.5))


def failure_strip(
    benchmark: Benchmark,
    record: EvalRecord,
    pred_root: str | Path,
    n_frames: int = 6,
    frame_size: int | None = None,
    score: float | None = None,
    category: str | None = None,
) -> Figure:
    """Frames of one expression with GT (green) and predicted (magenta) masks, the answered keyframe
    framed in orange (with the answered boxes when ``frame_size`` is known), and the trace beside."""
    expr = next((e for e in benchmark.expressions if e.key == record.key), None)
    if expr is None:
        raise DataError.at(MERGED_RECORDS, record.key, f"not an expression of {benchmark!r}")
    video = benchmark.videos[expr.video]
    indices = strip_frame_indices(video.num_frames, n_frames, record.keyframe_index)
    frames = video.load_frames(indices)  # (n, H, W, 3)
    gt = benchmark.target_mask(expr, indices)  # (n, H, W)
    pred = read_predicted_frames(benchmark.prediction_dir(Path(pred_root), expr), video, indices)
    missing = pred is None
    pred = np.zeros_like(gt) if pred is None else pred  # (n, H, W)
    fig = Figure(figsize=(2.4 * len(indices) + 6.5, 3.2), layout="constrained")
    axes = fig.subplots(1, len(indices) + 1, width_ratios=[1] * len(indices) + [2.6])
    for ax, t, frame, g, p in zip(axes[:-1], indices, frames, gt, pred, strict=True):
        ax.imshow(overlay_masks(frame, g, p))
        ax.set(xticks=[], yticks=[])
        is_keyframe = t == record.keyframe_index
        ax.set_title(f"frame {t}" + (" (keyframe)" if is_keyframe else ""), fontsize=9)
        if is_keyframe:
            for spine in ax.spines.values():
                spine.set(edgecolor=KEYFRAME_COLOUR, linewidth=3)
            if frame_size is not None:
                draw_boxes(ax, record.boxes, frame_size, video)
    text = trace_text(record, score, category) + ("\n[no prediction PNGs]" if missing else "")
    axes[-1].axis("off")
    # parse_math=False: model text with '$' must not be read as mathtext (it could fail to render)
    axes[-1].text(0, 1, text, va="top", ha="left", fontsize=7.5, wrap=False, parse_math=False)
    fig.suptitle("green: GT   magenta: prediction   orange frame: answered keyframe", fontsize=9)
    return fig


def figure_png(fig: Figure) -> bytes:
    """A figure rendered to PNG bytes (Agg; no display needed)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90)
    return buffer.getvalue()


def browser_label(record: EvalRecord, failures: pd.DataFrame | None) -> str:
    if failures is None or record.key not in failures.index:
        return record.key
    row = failures.loc[record.key]
    return f"{record.key}  [{row['category']}]  J&F {row['J&F']:.1f}"


def prediction_browser(
    benchmark: Benchmark,
    records: Sequence[EvalRecord],
    pred_root: str | Path,
    failures: pd.DataFrame | None = None,
    n_frames: int = 6,
    frame_size: int | None = None,
) -> Any:
    """An ipywidgets box: a dropdown over every prediction, its strip, and the full raw completion.

    With ``failures`` (from :func:`categorize_failures`) the labels carry the category and J&F.
    """
    import ipywidgets as widgets

    if not records:
        raise ValueError("records: nothing to browse")
    by_key = None if failures is None else failures.set_index("key")
    options = [(browser_label(r, by_key), i) for i, r in enumerate(records)]
    chooser = widgets.Dropdown(options=options, value=0, description="prediction", layout={"width": "90%"})
    strip = widgets.Image(format="png")
    completion = widgets.HTML()

    def show(index: int) -> None:
        record = records[index]
        row = None if by_key is None or record.key not in by_key.index else by_key.loc[record.key]
        score, category = (None, None) if row is None else (float(row["J&F"]), str(row["category"]))
        fig = failure_strip(benchmark, record, pred_root, n_frames, frame_size, score, category)
        strip.value = figure_png(fig)
        completion.value = f"<pre style='white-space: pre-wrap'>{html.escape(record.completion)}</pre>"

    chooser.observe(lambda change: show(change["new"]), names="value")
    show(0)
    return widgets.VBox([chooser, strip, widgets.Label("raw completion:"), completion])


# ----------------------------------------------------------------------------------------------------
# Notebook 06: one evaluated run, loaded once
# ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EvalReport:
    """An evaluated run as the failure analysis reads it: its split, records, metrics and PNG tree."""

    benchmark: Benchmark
    records: list[EvalRecord]
    metrics: dict[str, Any]
    pred_root: Path
    frame_size: int

    def record(self, key: str) -> EvalRecord:
        return next(r for r in self.records if r.key == key)


def load_eval_report(cfg: CommonConfig, row: str = MODEL_ROW) -> EvalReport:
    """The run's stage-4 output with the split and canvas size it was evaluated on (its config.json)."""
    from veason_lib.data import load_benchmark

    eval_dir = cfg.stage_dir("eval")
    evaluated = read_json(eval_dir / "config.json")
    benchmark = load_benchmark(
        evaluated["benchmark"], resolve_path(evaluated["data_root"]), evaluated["split"]
    )
    return EvalReport(
        benchmark,
        read_eval_records(eval_dir),
        read_eval_metrics(eval_dir),
        prediction_root(eval_dir, row),
        int(evaluated["frame_size"]),
    )


def report_failures(report: EvalReport, ok_threshold: float = OK_JF_THRESHOLD) -> pd.DataFrame:
    """:func:`categorize_failures` over a loaded report."""
    return categorize_failures(
        report.records, report.metrics, report.benchmark, report.frame_size, ok_threshold=ok_threshold
    )


def report_strips(report: EvalReport, failures: pd.DataFrame, k: int, n_frames: int) -> list[Figure]:
    """Failure strips of the ``k`` worst expressions, with their J&F and category."""
    strips = []
    for _, row in worst_expressions(failures, k).iterrows():
        record = report.record(row["key"])
        strips.append(
            failure_strip(
                report.benchmark,
                record,
                report.pred_root,
                n_frames,
                report.frame_size,
                float(row["J&F"]),
                row["category"],
            )
        )
    return strips


def report_browser(report: EvalReport, failures: pd.DataFrame, n_frames: int) -> Any:
    """:func:`prediction_browser` over a loaded report."""
    return prediction_browser(
        report.benchmark, report.records, report.pred_root, failures, n_frames, report.frame_size
    )


def failure_metrics(failures: pd.DataFrame) -> dict[str, Any]:
    """Counts per category (what notebook 06 records in metrics.json)."""
    counts = category_counts(failures)["count"]
    return {"num_expressions": len(failures), "categories": {name: int(n) for name, n in counts.items()}}

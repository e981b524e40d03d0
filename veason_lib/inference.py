"""Stage 4: greedy answers over a benchmark split, segmentation of the full videos, oracle rows, metrics.

For every expression of the split (no-target ``type_id`` 2 included: they test hallucination) the model
sees the uniformly sampled frames (the training prompt), answers greedily, and its keyframe and boxes,
mapped back to the video's resolution, prompt the segmenter over the full video. The union over objects is
written as 0/255 PNGs in the benchmark's prediction layout, one record per expression as JSON Lines.
An answer without a usable keyframe gives empty masks and counts as a parse failure (METHOD.md section 8).

Oracle rows split the error between reasoning, grounding and the segmenter: the GT keyframe (the sampled
frame of largest GT area) with the predicted boxes, and the GT keyframe with the GT boxes.

Layout under ``out_dir``::

    predictions/<benchmark layout>/<frame>.png       the model row
    oracle_gt_keyframe/...                           GT keyframe + predicted boxes
    oracle_gt_boxes/...                              GT keyframe + GT boxes
    records/shard-<i>-of-<n>.jsonl                   one record per expression, appended as it finishes
    records.jsonl                                    all shards merged (one record per key)
    metrics.json                                     metrics per row, parse failures, keyframe hits

Shards hold whole videos (video position modulo ``num_shards``), so each video is encoded by the
segmenter once across all shards. A rerun skips expressions whose record and PNGs all exist.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pandas as pd
import torch
from PIL import Image
from tqdm.auto import tqdm

from veason_lib.answer import Answer, parse_answer
from veason_lib.config import EvalConfig
from veason_lib.data import Benchmark, Expression
from veason_lib.evaluate import evaluate_predictions
from veason_lib.jsonl import append_line, read_jsonl, write_jsonl
from veason_lib.models import load_model
from veason_lib.samples import Sample, boxes_to_video, build_sample
from veason_lib.segmentation import Segmenter

MODEL_ROW = "model"
ORACLE_KEYFRAME_ROW = "oracle: GT keyframe + predicted boxes"
ORACLE_BOXES_ROW = "oracle: GT keyframe + GT boxes"
ROW_DIRS: dict[str, str] = {
    MODEL_ROW: "predictions",
    ORACLE_KEYFRAME_ROW: "oracle_gt_keyframe",
    ORACLE_BOXES_ROW: "oracle_gt_boxes",
}
RECORDS_DIR = "records"
MERGED_RECORDS = "records.jsonl"
METRICS_FILE = "metrics.json"
TABLE_SUBSETS = ("referring", "reasoning", "overall")
TABLE_METRICS = {"J": "J", "F": "F", "JF": "J&F", "R": "R", "R_bin": "R_bin"}  # evaluator key: column
EVAL_MODELS = {"grpo": ("grpo", "final"), "sft": ("sft", "merged")}  # stage folder and its model folder


@dataclass
class SegmentationPrompt:
    """What the segmenter is asked for one row: a video frame index and canvas boxes (none: empty masks)."""

    keyframe_index: int | None
    boxes: list[list[float]]


@dataclass
class InferenceResults:
    """This shard's records, and the metrics once every selected expression of the split has a record."""

    records: list[dict[str, Any]]
    metrics: dict[str, Any] | None = None
    skipped: int = 0  # expressions found complete from an earlier run
    rows: list[str] = field(default_factory=list)


# ----------------------------------------------------------------------------------------------------
# Selection: which expressions this process answers
# ----------------------------------------------------------------------------------------------------


def selected_expressions(benchmark: Benchmark, max_expressions: int = -1) -> list[Expression]:
    """The split's expressions in file order, the first ``max_expressions`` of them when it is >= 0."""
    expressions = list(benchmark.expressions)
    return expressions if max_expressions < 0 else expressions[:max_expressions]


def select_shard(expressions: Sequence[Expression], num_shards: int, shard: int) -> list[Expression]:
    """The expressions of the videos whose position (order of first appearance) is ``shard`` mod n."""
    if num_shards < 1 or not 0 <= shard < num_shards:
        raise ValueError(f"shard: need 0 <= shard < num_shards, got shard={shard}, num_shards={num_shards}")
    position = {name: i for i, name in enumerate(group_by_video(expressions))}
    return [e for e in expressions if position[e.video] % num_shards == shard]


def group_by_video(expressions: Sequence[Expression]) -> dict[str, list[Expression]]:
    """Expressions by video, videos in order of first appearance (one segmenter state per video)."""
    groups: dict[str, list[Expression]] = {}
    for expr in expressions:
        groups.setdefault(expr.video, []).append(expr)
    return groups


def active_rows(oracle_rows: bool) -> list[str]:
    return list(ROW_DIRS) if oracle_rows else [MODEL_ROW]


def batched(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    if size < 1:
        raise ValueError(f"batch_size: must be >= 1, got {size}")
    for start in range(0, len(items), size):
        yield items[start : start + size]


# ----------------------------------------------------------------------------------------------------
# Generation
# ----------------------------------------------------------------------------------------------------


def generate_completions(
    model: Any,
    processor: Any,
    prompts: Sequence[tuple[list[dict], list[Image.Image]]],
    max_new_tokens: int,
) -> list[str]:
    """Greedy completions for a batch of (conversation, images) prompts, left-padded."""
    texts = [processor.apply_chat_template(m, tokenize=False, add_generation_prompt=True) for m, _ in prompts]
    inputs = processor(
        text=texts,
        images=[list(images) for _, images in prompts],
        padding=True,
        padding_side="left",  # decoder-only: every prompt must end where generation starts
        return_tensors="pt",
    ).to(model.device)
    with torch.inference_mode():
        output = model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False)  # (B, L + N)
    new_tokens = output[:, inputs["input_ids"].shape[1] :]  # (B, N)
    return processor.batch_decode(new_tokens, skip_special_tokens=True)


# ----------------------------------------------------------------------------------------------------
# One expression: answer -> segmentation prompts -> masks and record
# ----------------------------------------------------------------------------------------------------


def keyframe_position(answer: Answer, timestamps: Sequence[int]) -> int | None:
    """Position of the answered keyframe among the sampled frames (the parser only keeps shown ones)."""
    return None if answer.keyframe is None else list(timestamps).index(answer.keyframe)


def keyframe_index_of(answer: Answer, frame_indices: Sequence[int], timestamps: Sequence[int]) -> int | None:
    """The video frame index of the answered keyframe, None without one."""
    position = keyframe_position(answer, timestamps)
    return None if position is None else frame_indices[position]


def gt_keyframe_position(sample: Sample) -> int:
    """The sampled frame of largest GT area (the first one when the target is absent everywhere)."""
    return int(np.argmax(sample.areas))


def keyframe_hit(sample: Sample, position: int | None) -> float | None:
    """GT area at the predicted keyframe / max GT area over the sampled frames; None without a target."""
    best = max(sample.areas)
    if best <= 0:
        return None
    return 0.0 if position is None else float(sample.areas[position] / best)


def segmentation_prompts(
    sample: Sample, answer: Answer, rows: Sequence[str]
) -> dict[str, SegmentationPrompt]:
    """Per row, the keyframe (a video frame index) and the canvas boxes that prompt the segmenter."""
    keyframe = keyframe_index_of(answer, sample.frame_indices, sample.timestamps)
    gt_position = gt_keyframe_position(sample)
    predicted = [list(box) for box in answer.boxes]
    prompts = {
        MODEL_ROW: SegmentationPrompt(keyframe, predicted),
        ORACLE_KEYFRAME_ROW: SegmentationPrompt(sample.frame_indices[gt_position], predicted),
        ORACLE_BOXES_ROW: SegmentationPrompt(sample.frame_indices[gt_position], sample.gt_boxes[gt_position]),
    }
    return {row: prompts[row] for row in rows}


def segment_union(
    segmenter: Segmenter,
    state: object,
    prompt: SegmentationPrompt,
    frame_size: int,
    shape: tuple[int, int, int],
) -> np.ndarray:
    """The union over objects of the segmenter's masks over a full (T, H, W) video -> (T, H, W) bool."""
    if prompt.keyframe_index is None or not prompt.boxes:
        return np.zeros(shape, dtype=bool)  # (T, H, W): nothing to prompt with
    boxes = np.asarray(boxes_to_video(prompt.boxes, frame_size, shape[1], shape[2]))  # (K, 4) video px
    masks = segmenter.segment(state, prompt.keyframe_index, boxes)  # (K, T, H, W)
    if masks.shape[1:] != shape:
        raise ValueError(f"segmenter: returned masks {masks.shape} for a video of shape {shape}")
    return masks.any(axis=0)  # (T, H, W)


def expression_record(sample: Sample, completion: str, answer: Answer) -> dict[str, Any]:
    """The JSONL record of one expression: what the model said and how it was read."""
    position = keyframe_position(answer, sample.timestamps)
    gt_position = gt_keyframe_position(sample)
    return {
        "key": sample.key,
        "video": sample.video,
        "exp_id": sample.exp_id,
        "type_id": sample.type_id,
        "query": sample.query,
        "frame_indices": sample.frame_indices,
        "timestamps": sample.timestamps,
        "completion": completion,
        "keyframe": answer.keyframe,
        "keyframe_index": keyframe_index_of(answer, sample.frame_indices, sample.timestamps),
        "boxes": [list(box) for box in answer.boxes],
        "reasoning": answer.think,
        "reason": answer.reason,
        "parse_failure": answer.keyframe is None,
        "keyframe_hit": keyframe_hit(sample, position),
        "gt_keyframe": sample.timestamps[gt_position],
        "gt_boxes": sample.gt_boxes[gt_position],
    }


# ----------------------------------------------------------------------------------------------------
# Prediction trees
# ----------------------------------------------------------------------------------------------------


def row_dir(out_dir: Path, row: str) -> Path:
    return Path(out_dir) / ROW_DIRS[row]


def write_masks(directory: Path, frame_names: Sequence[str], masks: np.ndarray) -> None:
    """(T, H, W) bool masks as 0/255 uint8 PNGs ``<directory>/<frame>.png``."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, mask in zip(frame_names, masks, strict=True):
        path = directory / f"{name}.png"
        if not cv2.imwrite(str(path), mask.astype(np.uint8) * 255):  # (H, W) uint8
            raise OSError(f"{path}: could not write the mask PNG")


def has_masks(directory: Path, frame_names: Sequence[str]) -> bool:
    return all((directory / f"{name}.png").is_file() for name in frame_names)


def is_complete(benchmark: Benchmark, expr: Expression, out_dir: Path, rows: Sequence[str]) -> bool:
    """Whether every row's PNG tree holds all of the expression's frames."""
    frame_names = benchmark.videos[expr.video].frame_names
    return all(has_masks(benchmark.prediction_dir(row_dir(out_dir, r), expr), frame_names) for r in rows)


# ----------------------------------------------------------------------------------------------------
# Records: shards, merging, resume
# ----------------------------------------------------------------------------------------------------


def shard_path(out_dir: Path, shard: int, num_shards: int) -> Path:
    return Path(out_dir) / RECORDS_DIR / f"shard-{shard:03d}-of-{num_shards:03d}.jsonl"


def read_records(out_dir: Path) -> dict[str, dict[str, Any]]:
    """Every shard file's records by key; a key written twice (a redone expression) keeps its last record."""
    records: dict[str, dict[str, Any]] = {}
    for path in sorted((Path(out_dir) / RECORDS_DIR).glob("shard-*.jsonl")):
        for record in read_jsonl(path):
            records[record["key"]] = record
    return records


def merge_shards(out_dir: Path) -> list[dict[str, Any]]:
    """Merge the shard files into ``records.jsonl`` (one record per key, sorted by key) and return them."""
    records = [record for _, record in sorted(read_records(out_dir).items())]
    write_jsonl(Path(out_dir) / MERGED_RECORDS, records)
    return records


# ----------------------------------------------------------------------------------------------------
# The run
# ----------------------------------------------------------------------------------------------------


@dataclass
class InferenceJob:
    """Everything one shard's answers need: the config, the model, the split and the segmenter."""

    cfg: EvalConfig
    model: Any
    processor: Any
    benchmark: Benchmark
    segmenter: Segmenter
    out_dir: Path

    @property
    def rows(self) -> list[str]:
        return active_rows(self.cfg.oracle_rows)

    def pending(self, expressions: Sequence[Expression]) -> list[Expression]:
        """Expressions without a record or with a missing PNG (a rerun resumes from these)."""
        earlier = read_records(self.out_dir)
        return [
            e
            for e in expressions
            if not (e.key in earlier and is_complete(self.benchmark, e, self.out_dir, self.rows))
        ]

    def answer_video(self, expressions: Sequence[Expression]) -> Iterator[dict[str, Any]]:
        """One video's expressions, batch by batch, on one segmenter state; yields records."""
        video = self.benchmark.videos[expressions[0].video]
        state = self.segmenter.prepare(video.load_frames())  # (T, H, W, 3): once per video, every row
        for batch in batched(expressions, self.cfg.batch_size):
            yield from self.answer_batch(batch, state)

    def answer_batch(self, batch: Sequence[Expression], state: object) -> Iterator[dict[str, Any]]:
        """Generate for a batch of one video's expressions, then segment and write each; yields records."""
        cfg, benchmark = self.cfg, self.benchmark
        samples = [build_sample(benchmark, e, cfg.num_frames, cfg.frame_size, fps=cfg.fps) for e in batch]
        prompts = [(s.messages(cfg.keyframe_strategy), s.images) for s in samples]
        completions = generate_completions(self.model, self.processor, prompts, cfg.max_new_tokens)
        video = benchmark.videos[batch[0].video]
        shape = (video.num_frames, video.height, video.width)
        for expr, sample, completion in zip(batch, samples, completions, strict=True):
            answer = parse_answer(completion, sample.timestamps, canvas=cfg.frame_size)
            for row, prompt in segmentation_prompts(sample, answer, self.rows).items():
                masks = segment_union(self.segmenter, state, prompt, cfg.frame_size, shape)  # (T, H, W)
                pred_dir = benchmark.prediction_dir(row_dir(self.out_dir, row), expr)
                write_masks(pred_dir, video.frame_names, masks)
            yield expression_record(sample, completion, answer)


def run_inference(
    cfg: EvalConfig,
    model: Any,
    processor: Any,
    benchmark: Benchmark,
    segmenter: Segmenter,
    out_dir: Path,
    score_processes: int = 1,
) -> InferenceResults:
    """Answer, segment and record this shard's expressions; score the split once all shards are done.

    ``score_processes`` > 1 scores the PNG trees in a process pool (the evaluator's), for full splits.
    """
    job = InferenceJob(cfg, model, processor, benchmark, segmenter, Path(out_dir))
    split_expressions = selected_expressions(benchmark, cfg.max_expressions)
    expressions = select_shard(split_expressions, cfg.num_shards, cfg.shard)
    todo = job.pending(expressions)
    path = shard_path(job.out_dir, cfg.shard, cfg.num_shards)
    path.parent.mkdir(parents=True, exist_ok=True)
    read_jsonl(path, repair=True)  # a crash mid-line leaves a partial line: cut it before appending
    done = len(expressions) - len(todo)
    with (
        path.open("a", encoding="utf-8") as handle,
        tqdm(total=len(expressions), initial=done, desc="inference", unit="expr") as progress,
    ):
        for group in group_by_video(todo).values():
            for record in job.answer_video(group):
                append_line(handle, record)  # after the PNGs: a record marks a finished expression
                progress.update(1)
    merged = read_records(job.out_dir)
    results = InferenceResults([merged[e.key] for e in expressions], skipped=done, rows=job.rows)
    if all(e.key in merged for e in split_expressions):  # the last shard to finish scores the split
        merge_shards(job.out_dir)
        split_records = [merged[e.key] for e in split_expressions]
        results.metrics = summarize(benchmark, job.out_dir, split_records, job.rows, score_processes)
    return results


# ----------------------------------------------------------------------------------------------------
# Summary and the Table-1 layout
# ----------------------------------------------------------------------------------------------------


def answer_statistics(records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Parse failure rate over all expressions; mean keyframe hit over those with a sampled target."""
    hits = [r["keyframe_hit"] for r in records if r["keyframe_hit"] is not None]
    failures = sum(bool(r["parse_failure"]) for r in records)
    return {
        "num_expressions": len(records),
        "parse_failures": failures,
        "parse_failure_rate": failures / len(records) if records else None,
        "keyframe_hit_rate": float(np.mean(hits)) if hits else None,
    }


def summarize(
    benchmark: Benchmark,
    out_dir: Path,
    records: Sequence[dict[str, Any]],
    rows: Sequence[str],
    processes: int = 1,
) -> dict[str, Any]:
    """Score each row's PNG tree over the recorded expressions and write ``metrics.json``.

    Each row holds the evaluator's whole output (aggregates, ``per_expression``, ``missing``).
    """
    by_key = {e.key: e for e in benchmark.expressions}
    expressions = [by_key[r["key"]] for r in records]
    metrics = {
        "benchmark": benchmark.name,
        "split": benchmark.split,
        **answer_statistics(records),
        "prediction_dirs": {row: ROW_DIRS[row] for row in rows},
        "rows": {
            row: evaluate_predictions(benchmark, row_dir(out_dir, row), processes, expressions)
            for row in rows
        },
    }
    (Path(out_dir) / METRICS_FILE).write_text(json.dumps(metrics, indent=2) + "\n")  # rows keep their order
    return metrics


def results_table(metrics: dict[str, Any]) -> pd.DataFrame:
    """Rows = model and oracle rows; columns = (referring | reasoning | overall) x (J, F, J&F, R, R_bin).

    Subsets and metrics the benchmark does not report (MeViS and ReasonVOS have no types and no R) are
    left out. Values are percentages, as the evaluator reports them; R is the published convention
    (false positives counted x255), R_bin the binary one.
    """
    table: dict[str, dict[tuple[str, str], float | None]] = {}
    for row, scores in metrics["rows"].items():
        table[row] = {
            (subset, column): scores[subset][key]
            for subset in TABLE_SUBSETS
            if isinstance(scores.get(subset), dict)
            for key, column in TABLE_METRICS.items()
            if scores[subset].get(key) is not None
        }
    frame = pd.DataFrame.from_dict(table, orient="index")
    columns = [(s, m) for s in TABLE_SUBSETS for m in TABLE_METRICS.values() if (s, m) in frame.columns]
    frame = frame[columns]
    frame.columns = pd.MultiIndex.from_tuples(columns)
    return frame


# ----------------------------------------------------------------------------------------------------
# What notebook 04 evaluates
# ----------------------------------------------------------------------------------------------------


def eval_model_path(cfg: EvalConfig) -> str:
    """``grpo``/``sft``: that stage's model of this run; ``base``: the profile's model; else a path or hub id."""
    if cfg.eval_model == "base":
        return cfg.model
    if cfg.eval_model not in EVAL_MODELS:
        return cfg.eval_model
    stage, folder = EVAL_MODELS[cfg.eval_model]
    path = cfg.stage_dir(stage) / folder
    if not (path / "config.json").is_file():
        raise FileNotFoundError(
            f"{path}: eval_model {cfg.eval_model!r}: stage {stage!r} has not saved a model"
        )
    return str(path)


def load_eval_model(cfg: EvalConfig) -> tuple[Any, Any]:
    """The (model, processor) pair ``cfg.eval_model`` names, on ``cfg.device``, in inference mode."""
    model, processor = load_model(
        eval_model_path(cfg), cache_dir=cfg.model_cache_dir, device=cfg.device, seed=cfg.seed
    )
    return model.eval(), processor

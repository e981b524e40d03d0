"""The four verifiable rewards of GRPO (METHOD.md section 4, paper Eq. 3-8).

Pure scorers (``format_score``, ``temporal_localization``, ``spatial_alignment``, ``mask_consistency``)
hold the rules; the TRL reward functions apply them to a batch of completions with the dataset's columns
(repeated per generation by TRL). A malformed completion scores 0 by rule; broken inputs (a missing
column, lengths that disagree, a failing segmenter) raise, so a broken reward can never become a silent 0.
The canvas size of a row is the width of its frames (the ``images`` column).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from scipy.optimize import linear_sum_assignment

from veason_lib.answer import Answer, Box, parse_answer
from veason_lib.data.rle import decode_rle

REWARD_NAMES = ("format", "keyframe", "spatial", "consistency")

# ----------------------------------------------------------------------------------------------------
# Pure scorers
# ----------------------------------------------------------------------------------------------------


def format_score(text: Any, canvas: float) -> float:
    """R_f in [0, 2]: 1 for the tag structure, plus the fraction of valid boxes when the schema holds."""
    return answer_format_score(parse_answer(text, (), canvas))


def answer_format_score(answer: Answer) -> float:
    """R_f of a parsed answer (an empty box list adds nothing: there is no valid box to count)."""
    structure = 1.0 if answer.structure_ok else 0.0
    if not answer.schema_ok or answer.raw_boxes_count == 0:
        return structure
    return structure + len(answer.boxes) / answer.raw_boxes_count


def temporal_localization(keyframe: int | None, timestamps: Sequence[int], areas: Sequence[float]) -> float:
    """R_k in [0, 1]: GT area at the keyframe / largest GT area over the sampled frames (Eq. 3)."""
    if len(areas) != len(timestamps):
        raise ValueError(f"areas: {len(areas)} values for {len(timestamps)} timestamps")
    if keyframe is None or keyframe not in timestamps:
        return 0.0
    largest = max(areas)
    if largest <= 0:  # the target is absent from every sampled frame: no frame is a right answer
        return 0.0
    return float(areas[list(timestamps).index(keyframe)]) / float(largest)


def box_iou_matrix(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Continuous IoU of every pair: (N, 4), (M, 4) xyxy -> (N, M)."""
    lo = np.maximum(pred[:, None, :2], gt[None, :, :2])  # (N, M, 2)
    hi = np.minimum(pred[:, None, 2:], gt[None, :, 2:])  # (N, M, 2)
    inter = np.clip(hi - lo, 0, None).prod(axis=-1)  # (N, M)
    area_p = (pred[:, 2:] - pred[:, :2]).clip(0, None).prod(axis=-1)  # (N,)
    area_g = (gt[:, 2:] - gt[:, :2]).clip(0, None).prod(axis=-1)  # (M,)
    union = area_p[:, None] + area_g[None, :] - inter  # (N, M)
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)  # (N, M)


def spatial_alignment(
    pred_boxes: Sequence[Sequence[float]], gt_boxes: Sequence[Sequence[float]]
) -> tuple[float, list[Box]]:
    """R_s in [0, 1] (Eq. 4-5) and the Hungarian-matched predicted boxes (the prompts of R_u).

    >>> spatial_alignment([[0, 0, 10, 10]], [[0, 0, 10, 10], [20, 20, 30, 30]])
    (0.5, [(0.0, 0.0, 10.0, 10.0)])
    """
    if len(pred_boxes) == 0 and len(gt_boxes) == 0:
        return 1.0, []
    if len(pred_boxes) == 0 or len(gt_boxes) == 0:
        return 0.0, []
    pred = np.asarray(pred_boxes, dtype=np.float64).reshape(-1, 4)  # (N, 4)
    gt = np.asarray(gt_boxes, dtype=np.float64).reshape(-1, 4)  # (M, 4)
    iou = box_iou_matrix(pred, gt)  # (N, M)
    rows, cols = linear_sum_assignment(1.0 - iou)  # min(N, M) pairs
    score = float(iou[rows, cols].sum()) / max(len(pred), len(gt))
    matched = [tuple(float(v) for v in pred[i]) for i in sorted(rows)]
    return score, matched


def mask_consistency(pred_masks: np.ndarray, gt_masks: np.ndarray) -> float:
    """R_u in [0, 1] (Eq. 7): mean per-frame IoU of (T, H, W) masks; a frame empty in both scores 1."""
    pred = np.asarray(pred_masks, dtype=bool)  # (T, H, W)
    gt = np.asarray(gt_masks, dtype=bool)  # (T, H, W)
    if pred.shape != gt.shape or pred.ndim != 3 or pred.shape[0] == 0:
        raise ValueError(f"masks: predicted {pred.shape} and GT {gt.shape} must be one equal (T, H, W)")
    inter = (pred & gt).sum(axis=(1, 2))  # (T,)
    union = (pred | gt).sum(axis=(1, 2))  # (T,)
    per_frame = np.where(union > 0, inter / np.maximum(union, 1), 1.0)  # (T,)
    return float(per_frame.mean())


# ----------------------------------------------------------------------------------------------------
# TRL reward functions: (completions, **columns) -> list[float]
# ----------------------------------------------------------------------------------------------------


def completion_text(completion: Any) -> Any:
    """The text of a completion: a str, or the last message of a conversational completion."""
    if isinstance(completion, list) and completion and isinstance(completion[-1], dict):
        content = completion[-1].get("content")
        if isinstance(content, list):  # content blocks
            return "".join(b.get("text") or "" for b in content if isinstance(b, dict))
        return content
    return completion


def check_columns(completions: Sequence, **columns: Sequence) -> None:
    """Every column has one row per completion (TRL repeats dataset columns per generation)."""
    for name, values in columns.items():
        if values is None or len(values) != len(completions):
            got = "missing" if values is None else f"{len(values)} rows"
            raise ValueError(f"reward column {name!r}: {got} for {len(completions)} completions")


def canvas_of(frames: Sequence[Image.Image], row: int) -> int:
    """The canvas size of one row: its frames are square and all the same size."""
    sizes = {image.size for image in frames}
    if len(sizes) != 1 or next(iter(sizes))[0] != next(iter(sizes))[1]:
        raise ValueError(
            f"reward column 'images': row {row} has frame sizes {sorted(sizes)}, not one square size"
        )
    return next(iter(sizes))[0]


def parse_rows(completions: Sequence, timestamps: Sequence, images: Sequence) -> list[Answer]:
    check_columns(completions, timestamps=timestamps, images=images)
    return [
        parse_answer(completion_text(c), t, canvas_of(frames, i))
        for i, (c, t, frames) in enumerate(zip(completions, timestamps, images, strict=True))
    ]


def format_reward(completions: Sequence, *, images: Sequence, **_: Any) -> list[float]:
    """R_f per completion.

    >>> frames = [Image.new("RGB", (100, 100))]
    >>> good = '<think>...</think><answer>{"keyframe_timestamp": 0, "bbox_2d_list": [[1, 1, 9, 9]]}</answer>'
    >>> format_reward([good, "no tags"], images=[frames, frames])
    [2.0, 0.0]
    """
    check_columns(completions, images=images)
    return [
        format_score(completion_text(c), canvas_of(frames, i))
        for i, (c, frames) in enumerate(zip(completions, images, strict=True))
    ]


def keyframe_reward(
    completions: Sequence, *, timestamps: Sequence, areas: Sequence, images: Sequence, **_: Any
) -> list[float]:
    """R_k per completion.

    >>> frames = [Image.new("RGB", (100, 100))] * 2
    >>> answer = '<think>.</think><answer>{"keyframe_timestamp": 2, "bbox_2d_list": []}</answer>'
    >>> keyframe_reward([answer], timestamps=[[0, 2]], areas=[[40.0, 10.0]], images=[frames])
    [0.25]
    """
    answers = parse_rows(completions, timestamps, images)
    check_columns(completions, areas=areas)
    return [
        temporal_localization(a.keyframe, t, s) for a, t, s in zip(answers, timestamps, areas, strict=True)
    ]


def spatial_reward(
    completions: Sequence, *, timestamps: Sequence, gt_boxes: Sequence, images: Sequence, **_: Any
) -> list[float]:
    """R_s per completion, against the GT boxes of the predicted keyframe.

    >>> frames = [Image.new("RGB", (100, 100))] * 2
    >>> answer = '<think>.</think><answer>{"keyframe_timestamp": 2, "bbox_2d_list": [[0, 0, 10, 10]]}'
    >>> answer += '</answer>'
    >>> spatial_reward([answer], timestamps=[[0, 2]], gt_boxes=[[[], [[0, 0, 10, 20]]]], images=[frames])
    [0.5]
    """
    answers = parse_rows(completions, timestamps, images)
    check_columns(completions, gt_boxes=gt_boxes)
    return [
        spatial_alignment(a.boxes, keyframe_gt_boxes(a, t, boxes))[0] if a.keyframe is not None else 0.0
        for a, t, boxes in zip(answers, timestamps, gt_boxes, strict=True)
    ]


def keyframe_gt_boxes(answer: Answer, timestamps: Sequence[int], gt_boxes: Sequence) -> Sequence:
    """The GT boxes of the frame the answer chose (its keyframe must be a shown timestamp)."""
    if len(gt_boxes) != len(timestamps):
        raise ValueError(f"gt_boxes: {len(gt_boxes)} frames for {len(timestamps)} timestamps")
    return gt_boxes[list(timestamps).index(answer.keyframe)]


Prompt = tuple[int, list[Box]]  # (keyframe index in the sampled frames, matched boxes)


class ConsistencyReward:
    """R_u: matched boxes prompted at the keyframe into a frozen segmenter over the sampled frames.

    Per distinct ``key`` within a call the segmenter ``prepare``s the clip once and gets the prompts of
    all its completions in one ``segment_many`` call (when it has one, else one ``segment`` each), so a
    GRPO group shares one encoding of its frames and the segmenter may track its answers together.
    """

    __name__ = "consistency_reward"

    def __init__(self, segmenter, frame_size: int) -> None:
        self.segmenter = segmenter
        self.frame_size = int(frame_size)

    def __call__(
        self,
        completions: Sequence,
        images: Sequence,
        timestamps: Sequence,
        gt_boxes: Sequence,
        gt_masks_rle: Sequence,
        key: Sequence,
        **_: Any,
    ) -> list[float]:
        answers = parse_rows(completions, timestamps, images)
        check_columns(completions, gt_boxes=gt_boxes, gt_masks_rle=gt_masks_rle, key=key)
        for row, frames in enumerate(images):
            if canvas_of(frames, row) != self.frame_size:
                raise ValueError(f"reward column 'images': row {row} is not at frame_size {self.frame_size}")
        prompts = [
            segmenter_prompt(answer, timestamps[row], gt_boxes[row]) for row, answer in enumerate(answers)
        ]
        predicted = self.predicted_masks(prompts, key, images)
        rewards = []
        for row, pred in enumerate(predicted):
            if pred is None:
                rewards.append(0.0)  # no keyframe to prompt at: 0 by rule
                continue
            gt = self.gt_masks(gt_masks_rle[row], len(timestamps[row]), row)  # (T, S, S)
            rewards.append(mask_consistency(pred, gt))
        return rewards

    def gt_masks(self, rles: Sequence[dict], num_frames: int, row: int) -> np.ndarray:
        """The GT union masks of a row at the canvas: (T, S, S) bool."""
        if len(rles) != num_frames:
            raise ValueError(f"column 'gt_masks_rle': row {row}: {len(rles)} masks, {num_frames} frames")
        size = self.frame_size
        column = Path("reward column gt_masks_rle")  # decode_rle names a file in its errors
        masks = [decode_rle(rle, size, size, column, f"row {row}[{t}]") for t, rle in enumerate(rles)]
        return np.stack(masks)  # (T, S, S)

    def predicted_masks(
        self, prompts: list[Prompt | None], key: Sequence[str], images: Sequence
    ) -> list[np.ndarray | None]:
        """Per row the union over objects of the segmenter's masks (T, S, S); None without a keyframe.

        No matched box means empty masks everywhere, without asking the segmenter.
        """
        predicted: list[np.ndarray | None] = [None] * len(prompts)
        rows_by_key: dict[str, list[int]] = {}
        for row, prompt in enumerate(prompts):
            if prompt is None:
                continue
            shape = (len(images[row]), self.frame_size, self.frame_size)
            predicted[row] = np.zeros(shape, dtype=bool)  # (T, S, S)
            if prompt[1]:
                rows_by_key.setdefault(key[row], []).append(row)
        for rows in rows_by_key.values():
            masks = self.segment_clip(images[rows[0]], [prompts[row] for row in rows])
            for row, objects in zip(rows, masks, strict=True):
                if objects.shape != (len(prompts[row][1]), *predicted[row].shape):
                    raise ValueError(
                        f"segmenter: returned masks {objects.shape} for {len(prompts[row][1])} boxes, "
                        f"clip {predicted[row].shape}"
                    )
                predicted[row] = objects.any(axis=0)  # (T, S, S)
        return predicted

    def segment_clip(self, frames: Sequence[Image.Image], prompts: list[Prompt]) -> list[np.ndarray]:
        """One clip prepared once and segmented for every prompt: one (K, T, S, S) array per prompt."""
        clip = np.stack([np.asarray(image.convert("RGB")) for image in frames])  # (T, S, S, 3) uint8
        state = self.segmenter.prepare(clip)
        arrays = [(index, np.asarray(boxes, dtype=np.float32)) for index, boxes in prompts]  # (K, 4) each
        segment_many = getattr(self.segmenter, "segment_many", None)
        if segment_many is not None:
            return segment_many(state, arrays)
        return [self.segmenter.segment(state, index, boxes) for index, boxes in arrays]


def segmenter_prompt(answer: Answer, timestamps: Sequence[int], gt_boxes: Sequence) -> Prompt | None:
    """The keyframe index and the Hungarian-matched boxes of an answer; None without a keyframe."""
    if answer.keyframe is None:
        return None
    _, matched = spatial_alignment(answer.boxes, keyframe_gt_boxes(answer, timestamps, gt_boxes))
    return list(timestamps).index(answer.keyframe), matched


def reward_functions(
    weights: dict[str, float], segmenter, frame_size: int
) -> tuple[list[Callable[..., list[float]]], list[float]]:
    """The reward functions and weights of Eq. 8, dropping zero-weight rewards (the paper's ablations)."""
    unknown = sorted(set(weights) - set(REWARD_NAMES))
    missing = sorted(set(REWARD_NAMES) - set(weights))
    if unknown or missing:
        raise ValueError(
            f"reward_weights: unknown {unknown}, missing {missing}; expected {list(REWARD_NAMES)}"
        )
    if any(w < 0 for w in weights.values()) or not any(w > 0 for w in weights.values()):
        raise ValueError(f"reward_weights: {weights} must be >= 0 with at least one positive")
    if weights["consistency"] > 0 and segmenter is None:
        raise ValueError("reward_weights: consistency > 0 needs a segmenter")
    available = {
        "format": format_reward,
        "keyframe": keyframe_reward,
        "spatial": spatial_reward,
        "consistency": ConsistencyReward(segmenter, frame_size) if weights["consistency"] > 0 else None,
    }
    kept = [name for name in REWARD_NAMES if weights[name] > 0]
    return [available[name] for name in kept], [float(weights[name]) for name in kept]

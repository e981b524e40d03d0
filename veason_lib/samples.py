"""One prompt's worth of data: sampled frames at the canvas, and the GT the rewards score against.

Every spatial quantity of a :class:`Sample` lives on the canvas (``frame_size`` x ``frame_size``, the
frame the model sees; aspect ratio ignored), except ``areas``, which are in original video pixels (only
their ratios matter, METHOD.md Eq. 3). GT boxes are computed per target object (one box per object
present in a frame), never from the union of objects.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from veason_lib.data import Benchmark, DataError, Expression, Video, encode_rle, sample_frames, timestamp
from veason_lib.prompts import build_messages

KEYFRAME_STRATEGIES = ("predicted", "first_visible")


@dataclass
class Sample:
    """One prompt: everything SFT, GRPO and evaluation need."""

    video: str
    exp_id: str
    key: str
    query: str
    type_id: int | None
    frame_indices: list[int]
    timestamps: list[int]
    images: list[Image.Image]  # frame_size x frame_size RGB
    gt_boxes: list[list[list[float]]]  # per sampled frame: one canvas [x1, y1, x2, y2] per object present
    areas: list[float]  # GT union area per sampled frame (original pixels)
    gt_masks_rle: list[dict]  # GT union mask per sampled frame at the canvas, COCO RLE (counts as str)

    @property
    def frame_size(self) -> int:
        return self.images[0].width

    def messages(self, keyframe_strategy: str = "predicted") -> list[dict]:
        """The prompt conversation (image placeholders filled from ``images`` by TRL).

        ``keyframe_strategy``: ``predicted`` (the method: the model chooses the keyframe) or
        ``first_visible`` (the grounding-only ablation: the prompt gives the first sampled frame that
        shows the target, or lets the model choose when no sampled frame does).
        """
        if keyframe_strategy not in KEYFRAME_STRATEGIES:
            raise ValueError(f"keyframe_strategy: {keyframe_strategy!r} is not one of {KEYFRAME_STRATEGIES}")
        given = self.first_visible_timestamp if keyframe_strategy == "first_visible" else None
        return build_messages(self.query, self.timestamps, given)

    @property
    def first_visible_timestamp(self) -> int | None:
        """The timestamp of the first sampled frame in which the target is visible."""
        return next((int(t) for t, area in zip(self.timestamps, self.areas, strict=True) if area > 0), None)

    def to_row(self, keyframe_strategy: str = "predicted") -> dict:
        """Plain columns for a ``datasets.Dataset``: ``prompt`` (the conversation), ``images`` and the GT."""
        return {
            "prompt": self.messages(keyframe_strategy),
            "images": list(self.images),
            "video": self.video,
            "exp_id": self.exp_id,
            "key": self.key,
            "query": self.query,
            "type_id": self.type_id,
            "frame_indices": list(self.frame_indices),
            "timestamps": list(self.timestamps),
            "gt_boxes": [[list(box) for box in frame] for frame in self.gt_boxes],
            "areas": list(self.areas),
            "gt_masks_rle": [dict(rle) for rle in self.gt_masks_rle],
        }


def build_sample(
    benchmark: Benchmark,
    expr: Expression,
    num_frames: int,
    frame_size: int,
    fps: float = 1.0,
    strategy: str = "uniform",
    keyframe: int | None = None,
    indices: Sequence[int] | None = None,
) -> Sample:
    """Sample frames of ``expr``'s video (or take ``indices`` as given) and compute the canvas-space GT."""
    video = benchmark.videos.get(expr.video)
    if video is None:
        raise DataError.at(
            benchmark.root, f"expression {expr.key}: video", f"{expr.video!r} is not in the benchmark"
        )
    frame_indices, timestamps = choose_frames(video, num_frames, fps, strategy, keyframe, indices)
    frames = video.load_frames(frame_indices)  # (T, H, W, 3) uint8
    objects = benchmark.object_masks(expr, frame_indices)  # (K, T, H, W) bool
    check_object_masks(objects, frames.shape[:3], benchmark.root, f"expression {expr.key}: masks")
    union = objects.any(axis=0)  # (T, H, W)
    return Sample(
        video=expr.video,
        exp_id=expr.exp_id,
        key=expr.key,
        query=expr.text,
        type_id=expr.type_id,
        frame_indices=list(frame_indices),
        timestamps=list(timestamps),
        images=[to_canvas(frame, frame_size) for frame in frames],
        gt_boxes=[object_boxes(objects[:, t], frame_size) for t in range(union.shape[0])],
        areas=[float(area) for area in union.sum(axis=(1, 2))],  # (T,)
        gt_masks_rle=[encode_rle(resize_mask(mask, frame_size)) for mask in union],
    )


def choose_frames(
    video: Video,
    num_frames: int,
    fps: float,
    strategy: str,
    keyframe: int | None,
    indices: Sequence[int] | None,
) -> tuple[list[int], list[int]]:
    """Frame indices and timestamps: the sampler's, or the given ``indices`` (e.g. a stored record's)."""
    count = len(video.frame_names)
    if indices is None:
        return sample_frames(count, num_frames, fps=fps, strategy=strategy, keyframe=keyframe)
    indices = [int(i) for i in indices]
    if not indices or any(not 0 <= i < count for i in indices):
        raise ValueError(f"frame_indices: {indices} not within video {video.name!r} of {count} frames")
    timestamps = [timestamp(i, fps) for i in indices]
    if len(set(timestamps)) != len(timestamps):
        raise ValueError(f"frame_indices: {indices} give repeated timestamps {timestamps} at fps {fps}")
    return indices, timestamps


def check_object_masks(objects: np.ndarray, frames_shape: tuple[int, ...], file: Path, field: str) -> None:
    """Masks must be (K, T, H, W) bool over exactly the sampled frames."""
    if objects.ndim != 4 or tuple(objects.shape[1:]) != tuple(frames_shape) or objects.dtype != bool:
        expected = "(K, " + ", ".join(map(str, frames_shape)) + ") bool"
        raise DataError.at(file, field, f"expected {expected}, got {objects.shape} {objects.dtype}")


def to_canvas(frame: np.ndarray, frame_size: int) -> Image.Image:
    """A (H, W, 3) uint8 frame resized to the square canvas (bilinear, aspect ignored)."""
    return Image.fromarray(frame).convert("RGB").resize((frame_size, frame_size), Image.Resampling.BILINEAR)


def resize_mask(mask: np.ndarray, frame_size: int) -> np.ndarray:
    """A (H, W) bool mask resized to (frame_size, frame_size) by nearest neighbour."""
    resized = cv2.resize(mask.astype(np.uint8), (frame_size, frame_size), interpolation=cv2.INTER_NEAREST)
    return resized.astype(bool)  # (S, S)


def mask_box(mask: np.ndarray, frame_size: int) -> list[float]:
    """The canvas box of a non-empty (H, W) mask; x2, y2 are pixel edges (a 1-pixel mask has area > 0)."""
    height, width = mask.shape
    ys, xs = np.nonzero(mask)  # (N,), (N,)
    sx, sy = frame_size / width, frame_size / height
    x1, y1, x2, y2 = xs.min() * sx, ys.min() * sy, (xs.max() + 1) * sx, (ys.max() + 1) * sy
    return [float(x1), float(y1), float(x2), float(y2)]


def object_boxes(frame_objects: np.ndarray, frame_size: int) -> list[list[float]]:
    """One canvas box per object present in a frame: (K, H, W) bool -> up to K boxes."""
    return [mask_box(mask, frame_size) for mask in frame_objects if mask.any()]


def boxes_to_video(
    boxes: Sequence[Sequence[float]], frame_size: int, height: int, width: int
) -> list[list[float]]:
    """Canvas boxes back to video pixels: x * W / frame_size, y * H / frame_size (METHOD.md section 2)."""
    sx, sy = width / frame_size, height / frame_size
    return [[x1 * sx, y1 * sy, x2 * sx, y2 * sy] for x1, y1, x2, y2 in boxes]

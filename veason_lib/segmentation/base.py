"""The segmenter interface shared by every backend, and the input checks they all apply.

A segmenter turns the answer of the reasoning model (a keyframe and one box per target object) into
masks on every frame: it is prompted at the keyframe and propagates forward and backward from it.
``prepare`` does the expensive per-frame work once per clip; ``segment`` is then called once per box set
(one per GRPO completion, or once at inference).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class Segmenter(Protocol):
    def prepare(self, frames: np.ndarray) -> object:
        """Per-clip work done once: (T, H, W, 3) uint8 -> a state for :meth:`segment`."""
        ...

    def segment(self, state: object, keyframe: int, boxes: np.ndarray) -> np.ndarray:
        """Boxes (K, 4) xyxy in frame pixels at ``keyframe`` -> masks (K, T, H, W) bool."""
        ...


def check_frames(frames: np.ndarray) -> np.ndarray:
    """Validate a clip: (T, H, W, 3) uint8 with T >= 1, returned C-contiguous."""
    if not isinstance(frames, np.ndarray) or frames.ndim != 4 or frames.shape[-1] != 3:
        shape = getattr(frames, "shape", type(frames).__name__)
        raise ValueError(f"frames: expected a (T, H, W, 3) array, got {shape}")
    if frames.dtype != np.uint8:
        raise ValueError(f"frames: expected dtype uint8, got {frames.dtype}")
    if min(frames.shape[:3]) == 0:
        raise ValueError(f"frames: empty clip of shape {frames.shape}")
    return np.ascontiguousarray(frames)


def check_prompt(keyframe: int, boxes: np.ndarray, num_frames: int) -> np.ndarray:
    """Validate a keyframe index and a (K, 4) box array; returns the boxes as float32 (K, 4).

    Boxes come from parsed model output, so the parser has already rejected malformed text; what reaches
    a segmenter must be finite numbers, and a violation here is a bug upstream, hence an error.
    """
    if not 0 <= int(keyframe) < num_frames:
        raise ValueError(f"keyframe: index {keyframe} outside the clip of {num_frames} frames")
    boxes = np.asarray(boxes, dtype=np.float32)
    if boxes.size == 0:
        return np.zeros((0, 4), dtype=np.float32)  # (0, 4)
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise ValueError(f"boxes: expected a (K, 4) array of xyxy boxes, got shape {boxes.shape}")
    if not np.isfinite(boxes).all():
        raise ValueError(f"boxes: non-finite coordinates {boxes.tolist()}")
    return boxes  # (K, 4)


def no_masks(num_objects: int, num_frames: int, height: int, width: int) -> np.ndarray:
    """All-empty masks (K, T, H, W) bool, e.g. for K = 0 boxes."""
    return np.zeros((num_objects, num_frames, height, width), dtype=bool)

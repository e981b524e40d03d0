"""Which frames of a video the model sees, and the timestamps shown before them (METHOD.md section 2).

The timestamp of frame ``i`` is ``round(i / fps)``. Sampling works on *timestamp slots*, one frame per
distinct timestamp (the first frame with it, or the keyframe where it falls in that slot), so the shown
timestamps are always distinct; with ``fps <= 1`` every frame is its own slot and the slots are the frames.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np

Strategy = Literal["uniform", "keyframe_anchored"]
STRATEGIES: tuple[str, ...] = ("uniform", "keyframe_anchored")


def timestamp(frame_index: int, fps: float = 1.0) -> int:
    """Seconds shown before a frame: ``round(frame_index / fps)``, halves rounded up.

    Half-up rather than Python's half-to-even keeps the slots evenly wide when ``fps`` is 2, 4, ...
    """
    return math.floor(frame_index / fps + 0.5)


def sample_frames(
    num_video_frames: int,
    num_frames: int,
    fps: float = 1.0,
    strategy: Strategy = "uniform",
    keyframe: int | None = None,
) -> tuple[list[int], list[int]]:
    """Sorted frame indices and their distinct timestamps.

    ``uniform`` spreads ``num_frames`` over the video (``np.linspace`` rounded) and ignores ``keyframe``;
    ``keyframe_anchored`` takes a grid of step ``ceil(T / (n - 1))`` shifted to contain ``keyframe``.
    A video with fewer slots than ``num_frames`` gives all of them.

    >>> sample_frames(10, 4)
    ([0, 3, 6, 9], [0, 3, 6, 9])
    >>> sample_frames(10, 4, strategy="keyframe_anchored", keyframe=5)
    ([1, 3, 5, 9], [1, 3, 5, 9])
    """
    _check_arguments(num_video_frames, num_frames, fps, strategy, keyframe)
    slots = timestamp_slots(num_video_frames, fps, keyframe)
    if len(slots) <= num_frames:
        chosen = list(range(len(slots)))
    elif strategy == "uniform":
        chosen = uniform_grid(len(slots), num_frames)
    else:
        anchor = slots.index(keyframe)  # the keyframe represents its own slot
        chosen = anchored_grid(len(slots), num_frames, anchor)
    indices = [slots[s] for s in chosen]
    return indices, [timestamp(i, fps) for i in indices]


def timestamp_slots(num_video_frames: int, fps: float, keyframe: int | None = None) -> list[int]:
    """One frame per distinct timestamp, in time order: the keyframe in its slot, else the first frame."""
    slots: dict[int, int] = {}
    for i in range(num_video_frames):
        slots.setdefault(timestamp(i, fps), i)
    if keyframe is not None:
        slots[timestamp(keyframe, fps)] = keyframe
    return list(slots.values())


def uniform_grid(length: int, count: int) -> list[int]:
    """``count`` distinct positions spread evenly over ``range(length)``, ends included (count <= length)."""
    return [int(x) for x in np.round(np.linspace(0, length - 1, count))]  # spacing >= 1: distinct


def anchored_grid(length: int, count: int, anchor: int) -> list[int]:
    """A grid of step ``ceil(length / (count - 1))`` through ``anchor``, filled up to ``count`` positions.

    The reference code's grid never holds more than ``count - 1`` points inside the video; the rest are
    filled with the position farthest from those already chosen (ties: the earliest), which keeps the
    coverage even and the result deterministic.
    """
    if count == 1:
        return [anchor]
    step = math.ceil(length / (count - 1))
    chosen = list(range(anchor % step, length, step))
    while len(chosen) < count:
        chosen.append(_farthest_position(length, chosen))
    return sorted(chosen)


def _farthest_position(length: int, chosen: list[int]) -> int:
    positions = np.arange(length)  # (L,)
    distance = np.abs(positions[:, None] - np.asarray(chosen)[None, :]).min(axis=1)  # (L,)
    return int(np.argmax(distance))  # argmax takes the first of equal distances


def _check_arguments(
    num_video_frames: int, num_frames: int, fps: float, strategy: str, keyframe: int | None
) -> None:
    if num_video_frames < 1 or num_frames < 1:
        raise ValueError(
            f"sample_frames: need at least one frame (video {num_video_frames}, asked {num_frames})"
        )
    if not fps > 0:
        raise ValueError(f"sample_frames: fps must be positive, got {fps}")
    if strategy not in STRATEGIES:
        raise ValueError(f"sample_frames: strategy {strategy!r} is not one of {STRATEGIES}")
    if keyframe is not None and not 0 <= keyframe < num_video_frames:
        raise ValueError(f"sample_frames: keyframe {keyframe} outside a video of {num_video_frames} frames")
    if strategy == "keyframe_anchored" and keyframe is None:
        raise ValueError("sample_frames: keyframe_anchored sampling needs a keyframe")

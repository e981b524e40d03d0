"""Typed records of a benchmark split: videos, expressions, and the abstract :class:`Benchmark`.

Readers parse the expression files once; frames and masks are read only for the frame indices asked
for, so a split of thousands of videos costs little until it is used.
"""

from __future__ import annotations

import abc
import operator
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from veason_lib.data.errors import DataError

TYPE_NAMES: dict[int, str] = {0: "referring", 1: "reasoning", 2: "no_target"}


@dataclass(frozen=True)
class Video:
    """One video: its frame files (in time order) and the size every frame must have."""

    name: str
    frame_names: tuple[str, ...]
    height: int
    width: int
    frame_dir: Path

    @property
    def num_frames(self) -> int:
        return len(self.frame_names)

    def frame_path(self, i: int) -> Path:
        return self.frame_dir / f"{self.frame_names[i]}.jpg"

    def frame_indices(self, indices: Sequence[int] | None) -> list[int]:
        """``indices`` checked against the video (``None``: every frame)."""
        if indices is None:
            return list(range(self.num_frames))
        checked = [operator.index(i) for i in indices]
        bad = [i for i in checked if not 0 <= i < self.num_frames]
        if bad:
            raise IndexError(f"video {self.name}: frame indices {bad} outside 0..{self.num_frames - 1}")
        return checked

    def load_frames(self, indices: Sequence[int] | None = None) -> np.ndarray:
        """RGB frames at ``indices`` (all when ``None``) -> (T, H, W, 3) uint8."""
        indices = self.frame_indices(indices)
        frames = np.zeros((len(indices), self.height, self.width, 3), dtype=np.uint8)  # (T, H, W, 3)
        for t, i in enumerate(indices):
            frames[t] = read_rgb(self.frame_path(i), self.height, self.width)  # (H, W, 3)
        return frames


@dataclass(frozen=True)
class Expression:
    """One query about one video and the annotated objects it refers to."""

    video: str
    exp_id: str
    text: str
    obj_ids: tuple[str, ...]
    anno_ids: tuple[str, ...]
    type_id: int | None  # ReVOS: 0 referring, 1 reasoning, 2 no target; other benchmarks: None
    key: str  # unique within a benchmark split

    @property
    def num_objects(self) -> int:
        return len(self.anno_ids)

    @property
    def is_multi_object(self) -> bool:
        return self.num_objects > 1


class Benchmark(abc.ABC):
    """One split of one dataset: its videos, its expressions and access to their masks."""

    def __init__(
        self, name: str, root: Path, split: str, videos: dict[str, Video], expressions: list[Expression]
    ):
        self.name = name
        self.root = root
        self.split = split
        self.videos = videos
        self.expressions = expressions

    def __len__(self) -> int:
        return len(self.expressions)

    def __repr__(self) -> str:
        counts = f"{len(self.videos)} videos, {len(self)} expressions"
        return f"{type(self).__name__}({self.name!r}, split={self.split!r}, {counts})"

    @abc.abstractmethod
    def object_masks(self, expr: Expression, indices: Sequence[int] | None = None) -> np.ndarray:
        """One mask per target object -> (K, T, H, W) bool (K = 0 for a no-target expression)."""

    @abc.abstractmethod
    def prediction_dir(self, pred_root: Path, expr: Expression) -> Path:
        """The folder that holds the expression's predicted PNGs, in the benchmark's own layout."""

    def target_mask(self, expr: Expression, indices: Sequence[int] | None = None) -> np.ndarray:
        """Union of the target objects' masks -> (T, H, W) bool."""
        return self.object_masks(expr, indices).any(axis=0)  # (K, T, H, W) -> (T, H, W)

    def foreground(self, video: str, indices: Sequence[int] | None = None) -> np.ndarray | None:
        """Union of all annotated objects of a video -> (T, H, W) bool; None where the benchmark has none."""
        return None

    def video_of(self, expr: Expression) -> Video:
        return self.videos[expr.video]

    def summary(self) -> dict[str, int]:
        """Counts for a first look: videos, expressions, by type (where typed) and by object count."""
        counts = Counter(
            TYPE_NAMES.get(e.type_id, f"type_{e.type_id}") for e in self.expressions if e.type_id is not None
        )
        objects = Counter(_object_count_name(e.num_objects) for e in self.expressions)
        return {"videos": len(self.videos), "expressions": len(self), **counts, **objects}


def _object_count_name(num_objects: int) -> str:
    return "no_object" if num_objects == 0 else "single_object" if num_objects == 1 else "multi_object"


def unique_keys(expressions: list[Expression], file: Path) -> list[Expression]:
    """``expressions`` unchanged, after checking that no two share a key."""
    seen: set[str] = set()
    for expr in expressions:
        if expr.key in seen:
            raise DataError.at(file, f"expression {expr.key}", "appears twice")
        seen.add(expr.key)
    return expressions


def read_rgb(path: Path, height: int, width: int) -> np.ndarray:
    """One frame file -> (H, W, 3) uint8, checked against the declared size."""
    with _open_image(path, "frame") as image:
        _check_size(image, path, height, width)
        return np.asarray(image.convert("RGB"))  # (H, W, 3)


def read_binary_png(path: Path, height: int, width: int) -> np.ndarray:
    """A GT mask PNG (0/255, 0/1 or palette; any non-zero pixel is the target) -> (H, W) bool."""
    with _open_image(path, "annotation") as image:
        _check_size(image, path, height, width)
        # palette and grey images hold indices/levels; colour images are read without their alpha
        pixels = np.asarray(image if image.mode in ("P", "L", "1", "I", "I;16") else image.convert("RGB"))
    return pixels.reshape(height, width, -1).any(axis=2)  # (H, W, C) -> (H, W)


def probe_size(path: Path) -> tuple[int, int]:
    """(height, width) of an image, from its header only."""
    with _open_image(path, "frame", load=False) as image:
        return image.size[1], image.size[0]


def _check_size(image: Image.Image, path: Path, height: int, width: int) -> None:
    if image.size != (width, height):
        raise DataError.at(
            path, "size", f"{image.size[0]}x{image.size[1]} (WxH), the video is {width}x{height}"
        )


def _open_image(path: Path, what: str, load: bool = True) -> Image.Image:
    if not path.is_file():
        raise DataError.at(path, what, "file not found")
    try:
        image = Image.open(path)
        if load:
            image.load()
    except (UnidentifiedImageError, OSError, SyntaxError) as error:
        raise DataError.at(path, what, f"unreadable image ({error})") from error
    return image

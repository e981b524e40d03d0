"""ReVOS reader (also the built-in synthetic benchmark, which is written in this layout; DATA.md).

```
<root>/JPEGImages/<video>/<frame>.jpg
<root>/mask_dict.json                  {anno_id: [RLE or null per frame]}
<root>/mask_dict_foreground.json       {video: {"masks_rle": [RLE per frame]}}
<root>/meta_expressions_<split>_.json  {"videos": {video: {frames, height, width, expressions}}}
```
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from veason_lib.data.errors import DataError, read_json, require, require_id_list
from veason_lib.data.records import Benchmark, Expression, Video, probe_size, unique_keys
from veason_lib.data.rle import RleTable

TYPE_IDS: tuple[int, ...] = (0, 1, 2)


class RevosBenchmark(Benchmark):
    """A ReVOS-layout split; masks come from ``mask_dict.json``, decoded per requested frame."""

    has_type_id = True

    def __init__(self, root: str | Path, split: str, name: str = "revos") -> None:
        root = Path(root)
        meta_file = self.meta_file(root, split)
        videos_meta = require(read_json(meta_file), "videos", dict, meta_file, "(top level)")
        videos, expressions = {}, []
        for video_name, entry in videos_meta.items():
            videos[video_name] = parse_video(meta_file, video_name, entry, root / "JPEGImages" / video_name)
            expressions += self.parse_expressions(meta_file, video_name, entry)
        super().__init__(name, root, split, videos, unique_keys(expressions, meta_file))
        self.masks = RleTable(root / "mask_dict.json", "anno_id")
        self.foreground_masks = RleTable(root / "mask_dict_foreground.json", "video", entry_field="masks_rle")

    @staticmethod
    def meta_file(root: Path, split: str) -> Path:
        path = root / f"meta_expressions_{split}_.json"
        if not path.is_file():
            found = sorted(p.name for p in root.glob("meta_expressions*.json")) if root.is_dir() else []
            raise DataError.at(path, f"split {split!r}", f"no expression file for it (found: {found})")
        return path

    def parse_expressions(self, meta_file: Path, video: str, entry: dict[str, Any]) -> list[Expression]:
        where = f"videos.{video}.expressions"
        expressions = require(entry, "expressions", dict, meta_file, f"videos.{video}")
        return [
            self.parse_expression(meta_file, video, str(exp_id), exp, where)
            for exp_id, exp in expressions.items()
        ]

    def parse_expression(self, meta_file: Path, video: str, exp_id: str, exp: Any, where: str) -> Expression:
        where = f"{where}.{exp_id}"
        return Expression(
            video=video,
            exp_id=exp_id,
            text=require(exp, "exp", str, meta_file, where),
            obj_ids=require_id_list(exp, "obj_id", meta_file, where),
            anno_ids=require_id_list(exp, "anno_id", meta_file, where),
            type_id=parse_type_id(exp, meta_file, where) if self.has_type_id else None,
            key=f"{video}/{exp_id}",
        )

    def object_masks(self, expr: Expression, indices: Sequence[int] | None = None) -> np.ndarray:
        video = self.video_of(expr)
        indices = video.frame_indices(indices)
        shape = (len(indices), video.height, video.width)
        masks = np.zeros((expr.num_objects, *shape), dtype=bool)  # (K, T, H, W)
        for k, anno_id in enumerate(expr.anno_ids):
            masks[k] = self.masks.decode(anno_id, video, indices)  # (T, H, W)
        return masks

    def foreground(self, video: str, indices: Sequence[int] | None = None) -> np.ndarray | None:
        """Union of every annotated object of the video, from ``mask_dict_foreground.json``."""
        clip = self.videos[video]
        return self.foreground_masks.decode(video, clip, clip.frame_indices(indices))  # (T, H, W)

    def prediction_dir(self, pred_root: Path, expr: Expression) -> Path:
        return Path(pred_root) / expr.video / expr.exp_id


def parse_video(meta_file: Path, name: str, entry: Any, frame_dir: Path) -> Video:
    """A video entry of a ReVOS/MeViS expression file; height/width default to the first frame's size."""
    where = f"videos.{name}"
    frames = require(entry, "frames", list, meta_file, where)
    if not frames or not all(isinstance(f, str) for f in frames):
        raise DataError.at(meta_file, f"{where}.frames", "expected a non-empty list of frame names")
    if not frame_dir.is_dir():
        raise DataError.at(frame_dir, f"{where} (in {meta_file.name})", "frame folder not found")
    if "height" in entry or "width" in entry:
        height, width = (_positive_int(entry, k, meta_file, where) for k in ("height", "width"))
    else:
        height, width = probe_size(frame_dir / f"{frames[0]}.jpg")
    return Video(name=name, frame_names=tuple(frames), height=height, width=width, frame_dir=frame_dir)


def parse_type_id(exp: Any, meta_file: Path, where: str) -> int:
    type_id = require(exp, "type_id", int, meta_file, where)
    if type_id not in TYPE_IDS:
        raise DataError.at(meta_file, f"{where}.type_id", f"{type_id} is not one of {TYPE_IDS}")
    return type_id


def _positive_int(entry: Any, key: str, meta_file: Path, where: str) -> int:
    value = require(entry, key, int, meta_file, where)
    if value <= 0:
        raise DataError.at(meta_file, f"{where}.{key}", f"must be positive, got {value}")
    return value

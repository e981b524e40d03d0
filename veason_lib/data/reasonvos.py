"""ReasonVOS reader (DATA.md): per-object PNG masks and expressions listed per video.

```
<root>/JPEGImages/<video>/<frame>.jpg
<root>/Annotations/<source>_<video>_<obj_id>/<frame>.png   0/255, 0/1 or palette: non-zero = target
<root>/meta_expressions.json  {videos: {video: {source, frames, expressions: [{obj_id, exp_id, exp_text}]}}}
```
Two objects of one video can share an ``exp_id``, so an expression's key is ``video/obj_id/exp_id``.
Frames may be sparse (every fifth index); the listed frames are the video.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from veason_lib.data.errors import read_json, require, require_id
from veason_lib.data.records import Benchmark, Expression, read_binary_png, unique_keys
from veason_lib.data.revos import parse_video


class ReasonVosBenchmark(Benchmark):
    """ReasonVOS; each expression has one target object, its masks read from PNGs on demand."""

    def __init__(self, root: str | Path, split: str, name: str = "reasonvos") -> None:
        root = Path(root)
        meta_file = root / "meta_expressions.json"
        videos_meta = require(read_json(meta_file), "videos", dict, meta_file, "(top level)")
        videos, expressions, self.sources = {}, [], {}
        for video_name, entry in videos_meta.items():
            videos[video_name] = parse_video(meta_file, video_name, entry, root / "JPEGImages" / video_name)
            self.sources[video_name] = require(entry, "source", str, meta_file, f"videos.{video_name}")
            expressions += self.parse_expressions(meta_file, video_name, entry)
        super().__init__(name, root, split, videos, unique_keys(expressions, meta_file))

    def parse_expressions(self, meta_file: Path, video: str, entry: dict[str, Any]) -> list[Expression]:
        where = f"videos.{video}.expressions"
        listed = require(entry, "expressions", list, meta_file, f"videos.{video}")
        return [self.parse_expression(meta_file, video, exp, f"{where}[{i}]") for i, exp in enumerate(listed)]

    def parse_expression(self, meta_file: Path, video: str, exp: Any, where: str) -> Expression:
        obj_id = require_id(exp, "obj_id", meta_file, where)
        exp_id = require_id(exp, "exp_id", meta_file, where)
        return Expression(
            video=video,
            exp_id=exp_id,
            text=require(exp, "exp_text", str, meta_file, where),
            obj_ids=(obj_id,),
            anno_ids=(self.annotation_name(video, obj_id),),
            type_id=None,
            key=f"{video}/{obj_id}/{exp_id}",
        )

    def annotation_name(self, video: str, obj_id: str) -> str:
        """The object's folder under ``Annotations/`` (and under the prediction root)."""
        return f"{self.sources[video]}_{video}_{obj_id}"

    def object_masks(self, expr: Expression, indices: Sequence[int] | None = None) -> np.ndarray:
        video = self.video_of(expr)
        indices = video.frame_indices(indices)
        masks = np.zeros(
            (expr.num_objects, len(indices), video.height, video.width), dtype=bool
        )  # (K, T, H, W)
        for k, anno_dir in enumerate(expr.anno_ids):
            for t, i in enumerate(indices):
                png = self.root / "Annotations" / anno_dir / f"{video.frame_names[i]}.png"
                masks[k, t] = read_binary_png(png, video.height, video.width)  # (H, W)
        return masks

    def prediction_dir(self, pred_root: Path, expr: Expression) -> Path:
        return Path(pred_root) / expr.anno_ids[0] / expr.exp_id

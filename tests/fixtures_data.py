"""Writers of tiny ReVOS / MeViS / ReasonVOS datasets in their exact release layouts (DATA.md).

Each writer returns the :class:`TinyVideo` list it wrote, so a test can compare what a reader returns
with the ground truth. Sizes are tiny (a few frames of 24 x 32) so that a fixture costs milliseconds.
Every video has two objects: object 0 is visible in every frame; object 1 is absent from frame 0 (a
``null`` RLE) and, in frame 2, is stored as a list of two RLEs (it decodes to (H, W, 2) in pycocotools).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from veason_lib.data.rle import encode_rle

COLOURS = ((220, 40, 40), (40, 60, 220))  # object 0 red, object 1 blue


@dataclass
class TinyObject:
    obj_id: str
    anno_id: str
    masks: np.ndarray  # (T, H, W) bool


@dataclass
class TinyVideo:
    name: str
    frame_names: list[str]
    frames: np.ndarray  # (T, H, W, 3) uint8
    objects: list[TinyObject]

    @property
    def foreground(self) -> np.ndarray:
        return np.any([o.masks for o in self.objects], axis=0)  # (T, H, W)


def tiny_videos(
    num_videos: int = 2, num_frames: int = 6, height: int = 24, width: int = 32, frame_stride: int = 1
) -> list[TinyVideo]:
    """Deterministic videos of two boxes moving right; ``frame_stride`` 5 names frames as ReasonVOS does."""
    videos = []
    for v in range(num_videos):
        objects = [
            TinyObject(str(k), str(100 * (v + 1) + k), _box_track(num_frames, height, width, k, v))
            for k in (0, 1)
        ]
        frames = np.full((num_frames, height, width, 3), 128, dtype=np.uint8)  # (T, H, W, 3) grey background
        for k, obj in enumerate(objects):
            frames[obj.masks] = COLOURS[k]
        names = [f"{frame_stride * i:05d}" for i in range(num_frames)]
        videos.append(TinyVideo(f"video_{v}", names, frames, objects))
    return videos


def _box_track(num_frames: int, height: int, width: int, k: int, v: int) -> np.ndarray:
    masks = np.zeros((num_frames, height, width), dtype=bool)  # (T, H, W)
    for t in range(num_frames):
        if k == 1 and t == 0:
            continue  # object 1 enters in frame 1
        top, left = 2 + 10 * k + v, (2 + 3 * t) % (width - 8)
        masks[t, top : top + 6, left : left + 8] = True
    return masks


def write_frames(root: Path, videos: list[TinyVideo]) -> None:
    """``JPEGImages/<video>/<frame>.jpg`` at high quality, so decoded colours stay close."""
    for video in videos:
        folder = root / "JPEGImages" / video.name
        folder.mkdir(parents=True, exist_ok=True)
        for name, frame in zip(video.frame_names, video.frames, strict=True):
            Image.fromarray(frame).save(folder / f"{name}.jpg", quality=95, subsampling=0)


def frame_rles(obj: TinyObject) -> list[Any]:
    """Per-frame RLEs of one object: null where absent, a two-part list in frame 2."""
    rles: list[Any] = []
    for t, mask in enumerate(obj.masks):
        if not mask.any():
            rles.append(None)
        elif t == 2 and obj.obj_id == "1":
            left, right = mask.copy(), mask.copy()
            cut = np.flatnonzero(mask.any(axis=0))[3]  # split the box between two columns
            left[:, cut:], right[:, :cut] = False, False
            rles.append([encode_rle(left), encode_rle(right)])
        else:
            rles.append(encode_rle(mask))
    return rles


def revos_expressions(video: TinyVideo, with_type: bool = True) -> dict[str, dict[str, Any]]:
    """Three expressions: referring (object 0), reasoning (both objects), no target."""
    obj0, obj1 = video.objects
    expressions = {
        "0": {
            "exp": "the red box",
            "obj_id": [int(obj0.obj_id)],
            "anno_id": [int(obj0.anno_id)],
            "type_id": 0,
        },
        "1": {
            "exp": "the boxes that move right",
            "obj_id": [int(obj0.obj_id), int(obj1.obj_id)],
            "anno_id": [int(obj0.anno_id), int(obj1.anno_id)],
            "type_id": 1,
        },
        "2": {"exp": "the green circle", "obj_id": [], "anno_id": [], "type_id": 2},
    }
    if not with_type:
        for exp in expressions.values():
            del exp["type_id"]
    return expressions


def write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))


def write_revos(
    root: Path, videos: list[TinyVideo] | None = None, splits: tuple[str, ...] = ("train", "valid")
):
    """A ReVOS root: frames, ``mask_dict.json``, ``mask_dict_foreground.json``, one meta file per split."""
    videos = tiny_videos() if videos is None else videos
    write_frames(root, videos)
    write_json(root / "mask_dict.json", {o.anno_id: frame_rles(o) for v in videos for o in v.objects})
    foreground = {v.name: {"masks_rle": [encode_rle(m) for m in v.foreground]} for v in videos}
    write_json(root / "mask_dict_foreground.json", foreground)
    meta = {
        "videos": {
            v.name: {
                "vid_id": v.name,
                "frames": v.frame_names,
                "height": v.frames.shape[1],
                "width": v.frames.shape[2],
                "expressions": revos_expressions(v),
            }
            for v in videos
        }
    }
    for split in splits:
        write_json(root / f"meta_expressions_{split}_.json", meta)
    return videos


def write_mevis(
    root: Path, videos: list[TinyVideo] | None = None, with_masks: bool = True, string_ids: bool = False
) -> list[TinyVideo]:
    """A MeViS split folder: no height/width, no type_id, no foreground; ``valid`` has no mask_dict."""
    videos = tiny_videos() if videos is None else videos
    write_frames(root, videos)
    if with_masks:
        write_json(root / "mask_dict.json", {o.anno_id: frame_rles(o) for v in videos for o in v.objects})
    meta: dict[str, Any] = {"videos": {}}
    for v in videos:
        expressions = revos_expressions(v, with_type=False)
        if string_ids:
            for exp in expressions.values():
                exp["anno_id"] = [str(a) for a in exp["anno_id"]]
        meta["videos"][v.name] = {"vid_id": v.name, "frames": v.frame_names, "expressions": expressions}
    write_json(root / "meta_expressions.json", meta)
    return videos


def write_reasonvos(
    root: Path, videos: list[TinyVideo] | None = None, png_style: str = "255", source: str = "revos"
) -> list[TinyVideo]:
    """A ReasonVOS root with sparse frames; both objects of a video share ``exp_id`` 0.

    ``png_style``: ``255`` (L, 0/255), ``01`` (L, 0/1) or ``palette`` (P, index k + 1).
    """
    videos = tiny_videos(frame_stride=5) if videos is None else videos
    write_frames(root, videos)
    meta: dict[str, Any] = {"videos": {}}
    for v in videos:
        for k, obj in enumerate(v.objects):
            folder = root / "Annotations" / f"{source}_{v.name}_{obj.obj_id}"
            folder.mkdir(parents=True, exist_ok=True)
            for name, mask in zip(v.frame_names, obj.masks, strict=True):
                _annotation_png(mask, png_style, k).save(folder / f"{name}.png")
        expressions = [
            {"obj_id": int(o.obj_id), "exp_id": 0, "exp_text": f"box number {o.obj_id}", "is_sent": 1}
            for o in v.objects
        ]
        meta["videos"][v.name] = {"source": source, "frames": v.frame_names, "expressions": expressions}
    write_json(root / "meta_expressions.json", meta)
    return videos


def _annotation_png(mask: np.ndarray, png_style: str, k: int) -> Image.Image:
    if png_style == "255":
        return Image.fromarray(mask.astype(np.uint8) * 255, mode="L")  # (H, W)
    if png_style == "01":
        return Image.fromarray(mask.astype(np.uint8), mode="L")  # (H, W)
    if png_style == "palette":
        image = Image.fromarray(mask.astype(np.uint8) * (k + 1), mode="P")  # (H, W)
        image.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0] + [0] * (256 * 3 - 9))
        return image
    raise ValueError(f"unknown png_style {png_style!r}")

"""The benchmark files in the ReVOS layout, with scene_facts.json and the completion stamp."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from veason_lib.data.rle import encode_rle
from veason_lib.data.synthetic.expressions import _capital, _count_word, _listing, _names
from veason_lib.data.synthetic.scene import HEIGHT, WIDTH, Scene, Track, render_frames
from veason_lib.data.synthetic.video import SyntheticVideo, make_video

GENERATOR_VERSION = 1
STAMP = "synthetic_stamp.json"
JPEG_QUALITY = 95
TYPE_ID = {"appearance": 0, "position": 0, "largest": 0, "absent": 2}  # every other kind: 1 (reasoning)

# ----------------------------------------------------------------------------------------------------
# Scene facts (what the offline teacher reads)
# ----------------------------------------------------------------------------------------------------


def motion_phrase(track: Track, frames: int) -> str:
    """How an object moves, e.g. "enters from the left and moves from left to right"."""
    centres = track.spec.centres(frames)  # (T, 2)
    first, last = centres[track.seen[0]], centres[track.seen[-1]]  # (2,) each
    dx, dy = last - first
    if np.hypot(dx, dy) < 8:
        move = "stays almost still"
    elif abs(dy) < 0.4 * abs(dx):
        move = "moves from left to right" if dx > 0 else "moves from right to left"
    elif abs(dx) < 0.4 * abs(dy):
        move = "moves from top to bottom" if dy > 0 else "moves from bottom to top"
    else:
        move = f"moves diagonally towards the {'bottom' if dy > 0 else 'top'} {'right' if dx > 0 else 'left'}"
    parts = [f"enters from the {track.spec.side_in}"] if track.spec.side_in else []
    parts.append(move)
    if track.spec.side_out:
        parts.append(f"leaves through the {track.spec.side_out} edge")
    return _listing(parts)


def summary(scene: Scene) -> str:
    """One or two sentences about the whole video."""
    n = len(scene.tracks)
    first = (
        f"{_capital(_count_word(n))} shapes move over a {scene.background_kind} background: "
        f"{_names(scene, range(n))}."
    )
    events = [
        f"the {t.spec.description} enters from the {t.spec.side_in} at frame {t.seen[0]}"
        for t in scene.tracks
        if t.spec.side_in and t.seen[0] > 0
    ] + [
        f"the {t.spec.description} leaves through the {t.spec.side_out} after frame {t.seen[-1]}"
        for t in scene.tracks
        if t.spec.side_out and t.seen[-1] < scene.frames - 1
    ]
    if not events:
        return first + " Every shape stays in view for the whole video."
    return f"{first} {_capital(_listing(events))}."


def scene_facts(video: SyntheticVideo) -> dict[str, Any]:
    scene = video.scene
    objects = {
        str(i + 1): {
            "description": t.spec.description,
            "color": t.spec.color,
            "shape": t.spec.shape,
            "size": t.spec.size,
            "motion": motion_phrase(t, scene.frames),
            "first_frame": int(t.seen[0]),
            "last_frame": int(t.seen[-1]),
        }
        for i, t in enumerate(scene.tracks)
    }
    expressions = {
        str(k): {"kind": e.kind, "rationale": e.rationale} for k, e in enumerate(video.expressions)
    }
    return {"summary": summary(scene), "objects": objects, "expressions": expressions}


# ----------------------------------------------------------------------------------------------------
# Files in the ReVOS layout
# ----------------------------------------------------------------------------------------------------


def write_frames(root: Path, video: SyntheticVideo) -> list[str]:
    """JPEGImages/<video>/<frame>.jpg with zero-padded names that sort in time order."""
    folder = root / "JPEGImages" / video.name
    folder.mkdir(parents=True, exist_ok=True)
    names = [f"{i:05d}" for i in range(video.scene.frames)]
    for name, frame in zip(names, render_frames(video.scene), strict=True):  # frame: (H, W, 3) uint8
        Image.fromarray(frame).save(folder / f"{name}.jpg", quality=JPEG_QUALITY)
    return names


def object_rles(track: Track) -> list[dict[str, Any] | None]:
    """Visible mask per frame as COCO RLE, null where the object is hidden or out of frame."""
    return [encode_rle(mask) if mask.any() else None for mask in track.visible]  # mask: (H, W)


def meta_entry(
    video: SyntheticVideo, vid_id: int, frame_names: list[str], anno_ids: list[int]
) -> dict[str, Any]:
    """The video's record in meta_expressions_<split>_.json; obj_id is the 1-based draw-order index."""
    expressions = {
        str(k): {
            "exp": e.text,
            "obj_id": [i + 1 for i in e.targets],
            "anno_id": [anno_ids[i] for i in e.targets],
            "type_id": TYPE_ID.get(e.kind, 1),
        }
        for k, e in enumerate(video.expressions)
    }
    return {
        "vid_id": vid_id,
        "frames": frame_names,
        "height": HEIGHT,
        "width": WIDTH,
        "expressions": expressions,
    }


def _write_json(path: Path, data: Any, indent: int | None = None) -> None:
    separators = (",", ":") if indent is None else None
    path.write_text(json.dumps(data, sort_keys=True, indent=indent, separators=separators) + "\n")


def _settings(seed: int, videos: int) -> dict[str, int]:
    return {"generator": GENERATOR_VERSION, "seed": seed, "videos": videos, "height": HEIGHT, "width": WIDTH}


def generate(out_dir: str | Path, seed: int, videos: int) -> Path:
    """Write the benchmark under ``out_dir``: ``videos`` train videos, max(4, videos // 2) valid ones."""
    if videos < 1:
        raise ValueError(f"synthetic: videos must be at least 1, got {videos}")
    root = Path(out_dir)
    root.mkdir(parents=True, exist_ok=True)
    (root / STAMP).unlink(missing_ok=True)  # an interrupted run must not look complete
    if (root / "JPEGImages").exists():
        shutil.rmtree(root / "JPEGImages")  # frames of an earlier, larger benchmark would linger
    mask_dict: dict[str, list[Any]] = {}
    foreground: dict[str, dict[str, list[Any]]] = {}
    facts: dict[str, Any] = {}
    vid_id = 0
    for split_index, (split, count) in enumerate((("train", videos), ("valid", max(4, videos // 2)))):
        meta: dict[str, Any] = {}
        for index in range(count):
            video = make_video(seed, split_index, index, f"syn_{split}_{index:03d}")
            anno_ids = [len(mask_dict) + 1 + i for i in range(len(video.scene.tracks))]
            for anno_id, track in zip(anno_ids, video.scene.tracks, strict=True):
                mask_dict[str(anno_id)] = object_rles(track)
            union = np.any([t.visible for t in video.scene.tracks], axis=0)  # (T, H, W)
            foreground[video.name] = {"masks_rle": [encode_rle(mask) for mask in union]}
            facts[video.name] = scene_facts(video)
            meta[video.name] = meta_entry(video, vid_id, write_frames(root, video), anno_ids)
            vid_id += 1
        _write_json(root / f"meta_expressions_{split}_.json", {"videos": meta}, indent=1)
    _write_json(root / "mask_dict.json", mask_dict)
    _write_json(root / "mask_dict_foreground.json", foreground)
    _write_json(root / "scene_facts.json", facts, indent=1)
    _write_json(root / STAMP, _settings(seed, videos), indent=1)
    return root


def ensure(out_dir: str | Path, seed: int = 0, videos: int = 24) -> Path:
    """The benchmark root, generated unless a complete one with these settings is already there."""
    root = Path(out_dir)
    stamp = root / STAMP
    if stamp.is_file():
        try:
            if json.loads(stamp.read_text()) == _settings(seed, videos):
                return root
        except json.JSONDecodeError:
            pass  # a damaged stamp: the benchmark is regenerated below
    return generate(root, seed, videos)

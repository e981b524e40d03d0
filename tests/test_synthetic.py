"""The built-in synthetic benchmark: ReVOS layout, determinism, and expressions true of the masks.

The checks below re-derive each expression kind from the decoded ground-truth masks with their own
simple code (not the generator's finders), so a generator bug that emits a false expression fails here.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as mask_utils

from veason_lib.data import synthetic

# pycocotools' own decode trips a numpy-2 deprecation on every call; it is not ours to fix
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")

SEED, VIDEOS = 0, 24
SPLITS = ("train", "valid")
JSON_FILES = (
    "mask_dict.json",
    "mask_dict_foreground.json",
    "meta_expressions_train_.json",
    "meta_expressions_valid_.json",
    "scene_facts.json",
)


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return synthetic.generate(tmp_path_factory.mktemp("synthetic"), SEED, VIDEOS)


def read(root: Path, name: str) -> Any:
    return json.loads((root / name).read_text())


def expressions(root: Path, split: str) -> list[tuple[str, str, dict, dict]]:
    """(video, exp_id, meta expression, scene-facts expression) of one split."""
    meta, facts = read(root, f"meta_expressions_{split}_.json")["videos"], read(root, "scene_facts.json")
    return [
        (video, exp_id, expr, facts[video]["expressions"][exp_id])
        for video, entry in meta.items()
        for exp_id, expr in entry["expressions"].items()
    ]


def decode(rle: dict | None, height: int, width: int) -> np.ndarray:
    if rle is None:
        return np.zeros((height, width), dtype=bool)  # (H, W)
    assert rle["size"] == [height, width] and isinstance(rle["counts"], str)
    return mask_utils.decode({"size": rle["size"], "counts": rle["counts"].encode()}).astype(bool)  # (H, W)


@functools.cache
def scene_masks(video: str) -> tuple[np.ndarray, ...]:
    """Every object's visible masks (T, H, W) in obj_id order, rebuilt from the seeded generator."""
    _, split, index = video.split("_")
    made = synthetic.make_video(SEED, SPLITS.index(split), int(index), video)
    return tuple(track.visible for track in made.scene.tracks)


def first_last(masks: np.ndarray) -> tuple[int, int]:
    seen = np.flatnonzero(masks.any(axis=(1, 2)))  # (V,)
    return int(seen[0]), int(seen[-1])


def centroids(masks: np.ndarray) -> np.ndarray:
    """(T, 2) x, y of each frame's mask; NaN where empty."""
    out = np.full((len(masks), 2), np.nan)  # (T, 2)
    for t, m in enumerate(masks):
        ys, xs = np.nonzero(m)
        if xs.size:
            out[t] = xs.mean(), ys.mean()
    return out


def speed(masks: np.ndarray) -> float:
    steps = np.linalg.norm(np.diff(centroids(masks), axis=0), axis=1)  # (T-1,)
    return float(np.nanmean(steps))


def has_dip(masks: np.ndarray) -> bool:
    """Mostly hidden for >= 3 frames with clear views before and after (the occlusion check)."""
    area = masks.sum(axis=(1, 2)).astype(float)  # (T,)
    low = np.flatnonzero(area <= 0.4 * area.max())
    high = np.flatnonzero(area >= 0.85 * area.max())
    inner = [t for t in low if high.size and high[0] < t < high[-1]]
    return len(inner) >= 3


def check_kind(
    kind: str, text: str, targets: list[int], objects: tuple[np.ndarray, ...], facts: dict
) -> None:
    """Assert that ``text`` of ``kind`` holds for ``targets`` (0-based) among the video's objects."""
    others = [i for i in range(len(objects)) if i not in targets]
    last = len(objects[0]) - 1
    if kind == "fastest":
        (t,) = targets
        assert all(speed(objects[t]) >= 2 * speed(objects[o]) for o in others)
    elif kind == "appears_last":
        (t,) = targets
        assert all(first_last(objects[t])[0] > first_last(objects[o])[0] for o in others)
    elif kind == "appears_first":
        (t,) = targets
        assert all(first_last(objects[t])[0] < first_last(objects[o])[0] for o in others)
    elif kind in ("enters", "leaves"):
        frame = 0 if kind == "enters" else last
        assert others and all(not objects[t][frame].any() and objects[t].any() for t in targets)
        assert all(objects[o][frame].any() for o in others)
    elif kind == "occluded":
        assert [i for i in range(len(objects)) if has_dip(objects[i])] == targets
    elif kind == "largest":
        (t,) = targets
        peak = [m.sum(axis=(1, 2)).max() for m in objects]
        assert all(peak[t] >= 1.5 * peak[o] for o in others)
    elif kind == "position":
        check_position(text, targets, objects, facts)
    elif kind == "appearance":
        assert targets == matching_objects(text, facts)
    else:
        raise AssertionError(f"unexpected kind {kind}")


def check_position(text: str, targets: list[int], objects: tuple[np.ndarray, ...], facts: dict) -> None:
    (t,) = targets
    noun, side = text.split()[1], text.split()[-1]
    shapes = [facts["objects"][str(i + 1)]["shape"] for i in range(len(objects))]
    group = [i for i, s in enumerate(shapes) if noun in ("shape", s) and i != t]
    axis, sign = {"left": (0, 1), "right": (0, -1), "top": (1, 1), "bottom": (1, -1)}[side]
    for o in group:
        a, b = centroids(objects[t]), centroids(objects[o])  # (T, 2) each
        both = ~np.isnan(a[:, 0]) & ~np.isnan(b[:, 0])  # (T,)
        assert both.sum() >= 3
        assert np.all(sign * (b[both, axis] - a[both, axis]) > 0), (text, o)


def matching_objects(text: str, facts: dict) -> list[int]:
    """Objects (0-based) whose attributes include every attribute word of ``text``."""
    words = [w.rstrip("s") if w.endswith("s") and w[:-1] in synthetic.SHAPES else w for w in text.split()]
    vocabulary = {*synthetic.COLORS, *synthetic.SHAPES, *synthetic.RADIUS, "striped", "dotted"}
    wanted = [w for w in words if w in vocabulary]
    assert wanted, text
    return [
        int(obj) - 1
        for obj, o in sorted(facts["objects"].items(), key=lambda kv: int(kv[0]))
        if all(w in o["description"].split() for w in wanted)
    ]


# ----------------------------------------------------------------------------------------------------


def test_revos_layout(root: Path) -> None:
    for split in SPLITS:
        meta = read(root, f"meta_expressions_{split}_.json")["videos"]
        assert len(meta) == (VIDEOS if split == "train" else VIDEOS // 2)
        for video, entry in meta.items():
            assert {"vid_id", "frames", "height", "width", "expressions"} <= set(entry)
            assert entry["frames"] == sorted(entry["frames"]) and 20 <= len(entry["frames"]) <= 32
            files = sorted(p.stem for p in (root / "JPEGImages" / video).glob("*.jpg"))
            assert files == entry["frames"]
            with Image.open(root / "JPEGImages" / video / f"{files[-1]}.jpg") as image:
                assert image.size == (entry["width"], entry["height"]) == (160, 120)
            assert 3 <= len(entry["expressions"]) <= 5


def test_generation_is_deterministic(root: Path, tmp_path: Path) -> None:
    again = synthetic.generate(tmp_path / "again", SEED, VIDEOS)
    for name in JSON_FILES:
        assert (root / name).read_bytes() == (again / name).read_bytes(), name
    other = synthetic.generate(tmp_path / "other", SEED + 1, 2)
    assert (other / "scene_facts.json").read_bytes() != (root / "scene_facts.json").read_bytes()


def test_masks_are_rles_of_the_video_size_and_match_the_scene(root: Path) -> None:
    mask_dict, foreground = read(root, "mask_dict.json"), read(root, "mask_dict_foreground.json")
    meta = read(root, "meta_expressions_valid_.json")["videos"]
    for video, entry in meta.items():
        h, w, frames = entry["height"], entry["width"], len(entry["frames"])
        objects = scene_masks(video)
        union = np.stack([decode(r, h, w) for r in foreground[video]["masks_rle"]])  # (T, H, W)
        assert np.array_equal(union, np.any(objects, axis=0))
        for expr in entry["expressions"].values():
            for obj_id, anno_id in zip(expr["obj_id"], expr["anno_id"], strict=True):
                rles = mask_dict[str(anno_id)]
                assert len(rles) == frames
                decoded = np.stack([decode(r, h, w) for r in rles])  # (T, H, W)
                assert np.array_equal(decoded, objects[obj_id - 1])
                assert all((r is None) == (not m.any()) for r, m in zip(rles, decoded, strict=True))


def test_video_names_and_anno_ids_are_unique_across_splits(root: Path) -> None:
    owner: dict[str, str] = {}
    names = []
    for split in SPLITS:
        for video, _, expr, _ in expressions(root, split):
            names.append(video)
            for anno_id in expr["anno_id"]:
                assert owner.setdefault(str(anno_id), video) == video
    train = {v for v in names if v.startswith("syn_train")}
    assert len(set(names)) == len(train) + VIDEOS // 2


@pytest.mark.parametrize("split", SPLITS)
def test_every_kind_and_target_shape_is_present(root: Path, split: str) -> None:
    rows = expressions(root, split)
    assert {facts["kind"] for *_, facts in rows} == set(synthetic.KINDS)
    assert any(len(expr["anno_id"]) >= 2 for _, _, expr, _ in rows), "a multi-object target"
    absent = [expr for _, _, expr, facts in rows if facts["kind"] == "absent"]
    assert absent and all(e["type_id"] == 2 and e["obj_id"] == [] == e["anno_id"] for e in absent)
    expected = {"appearance": 0, "position": 0, "largest": 0, "absent": 2}
    assert all(expr["type_id"] == expected.get(facts["kind"], 1) for _, _, expr, facts in rows)


@pytest.mark.parametrize("split", SPLITS)
def test_expressions_are_true_of_the_masks(root: Path, split: str) -> None:
    facts = read(root, "scene_facts.json")
    for video, _, expr, fact in expressions(root, split):
        if fact["kind"] == "absent":
            colors = {o["color"] for o in facts[video]["objects"].values()}
            assert not colors & set(expr["exp"].split())
            continue
        targets = [obj_id - 1 for obj_id in expr["obj_id"]]
        check_kind(fact["kind"], expr["exp"], targets, scene_masks(video), facts[video])


def test_scene_facts_schema(root: Path) -> None:
    facts = read(root, "scene_facts.json")
    meta = {
        **read(root, "meta_expressions_train_.json")["videos"],
        **read(root, "meta_expressions_valid_.json")["videos"],
    }
    assert set(facts) == set(meta)
    for video, fact in facts.items():
        assert set(fact) == {"summary", "objects", "expressions"} and fact["summary"].endswith(".")
        assert set(fact["expressions"]) == set(meta[video]["expressions"])
        for obj in fact["objects"].values():
            keys = {"description", "color", "shape", "size", "motion", "first_frame", "last_frame"}
            assert set(obj) == keys and obj["color"] in obj["description"]
            assert 0 <= obj["first_frame"] <= obj["last_frame"] < len(meta[video]["frames"])
        for expr in fact["expressions"].values():
            assert (
                set(expr) == {"kind", "rationale"} and expr["kind"] in synthetic.KINDS and expr["rationale"]
            )


def test_scene_facts_frames_agree_with_the_masks(root: Path) -> None:
    facts = read(root, "scene_facts.json")
    for video in read(root, "meta_expressions_valid_.json")["videos"]:
        for i, masks in enumerate(scene_masks(video)):
            obj = facts[video]["objects"][str(i + 1)]
            assert first_last(masks) == (obj["first_frame"], obj["last_frame"])


def test_the_benchmark_reader_loads_it(root: Path) -> None:
    from veason_lib.data import load_benchmark

    bench = load_benchmark("synthetic", root, "valid")
    expr = next(e for e in bench.expressions if len(e.anno_ids) >= 2)
    target = bench.target_mask(expr)  # (T, H, W)
    assert target.any() and target.shape[1:] == (120, 160)


def test_ensure_reuses_and_regenerates(tmp_path: Path) -> None:
    out = tmp_path / "bench"
    synthetic.ensure(out, seed=3, videos=2)
    facts = (out / "scene_facts.json").stat().st_mtime_ns
    (out / "JPEGImages" / "stale_video").mkdir()
    assert synthetic.ensure(out, seed=3, videos=2) == out
    assert (out / "scene_facts.json").stat().st_mtime_ns == facts, "same settings: nothing rewritten"
    synthetic.ensure(out, seed=3, videos=6)
    assert len(read(out, "meta_expressions_train_.json")["videos"]) == 6
    assert not (out / "JPEGImages" / "stale_video").exists()


def test_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    synthetic.main(["--out", str(tmp_path / "cli"), "--seed", "5", "--videos", "1"])
    assert capsys.readouterr().out.strip() == str(tmp_path / "cli")
    assert len(read(tmp_path / "cli", "meta_expressions_valid_.json")["videos"]) == 4

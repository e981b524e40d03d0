"""Segmentation backends: the interface, SAM2 in memory (random tiny weights) and the classical tracker."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from veason_lib.data.rle import encode_rle
from veason_lib.segmentation import ClassicalSegmenter, Segmenter, build_segmenter
from veason_lib.segmentation.base import check_prompt
from veason_lib.segmentation.classical import mask_box

SAM2_SIZE = 128  # px: SAM2 input size in the tests (about 0.1 s per frame on a CPU core)


# Fixtures --------------------------------------------------------------------------------------------


def moving_square(num_frames: int = 6, height: int = 64, width: int = 80, step: int = 5, seed: int = 0):
    """A red 16 px square moving diagonally over a noisy background, and a static blue distractor.

    Returns frames (T, H, W, 3) uint8 and the square's GT masks (T, H, W) bool.
    """
    rng = np.random.default_rng(seed)
    background = rng.integers(70, 140, size=(height, width, 3), dtype=np.uint8)  # (H, W, 3)
    frames = np.repeat(background[None], num_frames, axis=0)  # (T, H, W, 3)
    frames[:, 40:52, 60:72] = (40, 80, 235)
    gt = np.zeros((num_frames, height, width), bool)  # (T, H, W)
    for t in range(num_frames):
        x, y = 4 + step * t, 4 + (step * t) // 2
        gt[t, y : y + 16, x : x + 16] = True
    frames[gt] = (220, 40, 40)
    return frames, gt


def iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.count_nonzero(a | b)
    return np.count_nonzero(a & b) / union if union else 1.0


@pytest.fixture(scope="module")
def sam2():
    """One tiny random-weight SAM2 for the module (building it takes about 2 s)."""
    torch = pytest.importorskip("torch")
    torch.set_num_threads(2)
    warnings.filterwarnings("ignore", message=".*cannot import name '_C' from 'sam2'.*")
    return build_segmenter("sam2", image_size=SAM2_SIZE, device="cpu")


@pytest.fixture(scope="module")
def jpeg_clip(tmp_path_factory) -> tuple[Path, np.ndarray]:
    """4 frames as the JPEG folder the stock SAM2 loader reads, and the same frames decoded in memory."""
    folder = tmp_path_factory.mktemp("jpegs")
    frames, _ = moving_square(num_frames=4, height=48, width=64, step=6)
    for t, frame in enumerate(frames):
        Image.fromarray(frame).save(folder / f"{t:05d}.jpg", quality=95)
    decoded = np.stack([np.asarray(Image.open(folder / f"{t:05d}.jpg").convert("RGB")) for t in range(4)])
    return folder, decoded  # (T, H, W, 3)


# Interface -------------------------------------------------------------------------------------------


def test_build_segmenter_kinds():
    assert isinstance(build_segmenter("classical"), ClassicalSegmenter)
    assert isinstance(build_segmenter("classical"), Segmenter)
    with pytest.raises(ValueError, match="unknown kind 'mask-rcnn'"):
        build_segmenter("mask-rcnn")


def test_check_prompt_rejects_bad_prompts():
    assert check_prompt(0, np.zeros((0, 4)), 3).shape == (0, 4)
    assert check_prompt(2, [[1, 2, 3, 4]], 3).dtype == np.float32
    with pytest.raises(ValueError, match="keyframe"):
        check_prompt(3, [[1, 2, 3, 4]], 3)
    with pytest.raises(ValueError, match="boxes: expected a \\(K, 4\\)"):
        check_prompt(0, [1, 2, 3, 4], 3)
    with pytest.raises(ValueError, match="non-finite"):
        check_prompt(0, [[1, 2, np.nan, 4]], 3)


@pytest.mark.parametrize("frames", [np.zeros((2, 8, 8), np.uint8), np.zeros((2, 8, 8, 3), np.float32)])
def test_prepare_rejects_bad_frames(frames):
    with pytest.raises(ValueError, match="frames"):
        ClassicalSegmenter().prepare(frames)


# Classical backend -----------------------------------------------------------------------------------


def test_classical_follows_moving_square_both_ways():
    frames, gt = moving_square()
    segmenter = ClassicalSegmenter()
    keyframe = 3
    masks = segmenter.segment(segmenter.prepare(frames), keyframe, np.array([mask_box(gt[keyframe])]))
    assert masks.shape == (1, *gt.shape) and masks.dtype == bool
    scores = [iou(masks[0, t], gt[t]) for t in range(len(gt))]
    assert min(scores) > 0.9, scores


def test_classical_stops_when_the_object_leaves():
    frames, gt = moving_square(num_frames=8, step=7)  # frame 7 is redrawn without the square: it left
    frames[7] = frames[0]
    frames[7][gt[0]] = frames[6][0, 0]  # a frame without the square: background colour where it was
    gt[7] = False
    segmenter = ClassicalSegmenter()
    masks = segmenter.segment(segmenter.prepare(frames), 2, np.array([mask_box(gt[2])]))  # (1, T, H, W)
    assert iou(masks[0, 6], gt[6]) > 0.8
    assert np.count_nonzero(masks[0, 7]) <= 8


def test_classical_empty_and_degenerate_prompts():
    frames, _ = moving_square(num_frames=3)
    segmenter = ClassicalSegmenter()
    state = segmenter.prepare(frames)
    assert segmenter.segment(state, 1, np.zeros((0, 4))).shape == (0, 3, 64, 80)
    boxes = np.array([[10, 10, 11, 11], [200, 200, 300, 300]])  # a dot, and a box outside the frame
    assert not segmenter.segment(state, 1, boxes).any()


def test_classical_reaches_bar_on_builtin_valid(tmp_path):
    """GT boxes at the GT keyframe (largest GT area) -> J&F >= 80 on the built-in valid split."""
    synthetic = pytest.importorskip("veason_lib.data.synthetic", reason="the built-in benchmark generator")
    metrics = pytest.importorskip("veason_lib.metrics", reason="veason_lib.metrics")
    from veason_lib.data import load_benchmark

    benchmark = load_benchmark(
        "synthetic", synthetic.ensure(tmp_path / "synthetic", seed=0, videos=8), "valid"
    )
    segmenter = ClassicalSegmenter()
    j, f = [], []
    for expr in [e for e in benchmark.expressions if e.type_id in (0, 1)]:
        objects = benchmark.object_masks(expr)  # (K, T, H, W)
        target = objects.any(axis=0)  # (T, H, W)
        keyframe = int(target.sum(axis=(1, 2)).argmax())
        boxes = np.array([mask_box(o[keyframe]) for o in objects if o[keyframe].any()])  # (K', 4)
        state = segmenter.prepare(benchmark.videos[expr.video].load_frames())
        pred = segmenter.segment(state, keyframe, boxes).any(axis=0)  # (T, H, W)
        j.append(metrics.region_similarity(pred, target).mean())
        f.append(metrics.contour_accuracy(pred, target).mean())
    assert len(j) >= 8
    assert 50 * (np.mean(j) + np.mean(f)) >= 80


# SAM2 backend ----------------------------------------------------------------------------------------


def stock_masks(predictor, folder: Path, keyframe: int, boxes: np.ndarray) -> np.ndarray:
    """The stock way: init_state from a JPEG folder, boxes at the keyframe, propagation both ways."""
    state = predictor.init_state(str(folder))
    for obj_id, box in enumerate(boxes):
        predictor.add_new_points_or_box(state, frame_idx=keyframe, obj_id=obj_id, box=box)
    masks = np.zeros((len(boxes), state["num_frames"], state["video_height"], state["video_width"]), bool)
    for reverse in (False, True):
        for t, _, logits in predictor.propagate_in_video(state, start_frame_idx=keyframe, reverse=reverse):
            masks[:, t] = (logits[:, 0] > 0.0).numpy()
    return masks


def test_sam2_in_memory_tracks_both_directions_like_the_stock_path(sam2, jpeg_clip):
    folder, frames = jpeg_clip
    boxes = np.array([[4, 4, 24, 24], [30, 20, 60, 44]], np.float32)
    state = sam2.prepare(frames)
    masks = sam2.segment(state, 2, boxes)
    assert masks.shape == (2, 4, 48, 64) and masks.dtype == bool
    assert masks[:, :2].any(axis=(2, 3)).all() and masks[:, 3].any(axis=(1, 2)).all()  # before and after
    stock_state = sam2.predictor.init_state(str(folder))
    assert set(stock_state) == set(state.inference_state) - {"veason_every_frame_encoded"}
    np.testing.assert_array_equal(masks, stock_masks(sam2.predictor, folder, 2, boxes))


def test_sam2_encodes_every_frame_once(sam2, jpeg_clip, monkeypatch):
    _, frames = jpeg_clip
    encoded = []
    forward_image = sam2.predictor.forward_image
    monkeypatch.setattr(
        sam2.predictor, "forward_image", lambda image: encoded.append(1) or forward_image(image)
    )
    state = sam2.prepare(frames)
    assert len(encoded) == 4
    first = sam2.segment(state, 0, np.array([[4, 4, 24, 24]]))
    sam2.segment(state, 3, np.array([[30, 20, 60, 44]]))
    again = sam2.segment(state, 0, np.array([[4, 4, 24, 24]]))
    assert len(encoded) == 4  # no segment call re-encoded a frame
    assert len(state.masks_by_object) == 2  # the repeated answer was served from the stored masks
    np.testing.assert_array_equal(first, again)
    again[:] = False
    assert sam2.segment(state, 0, np.array([[4, 4, 24, 24]])).any()  # callers cannot spoil stored masks


def test_sam2_segment_many_tracks_each_box_once_and_matches_one_by_one(sam2, jpeg_clip, monkeypatch):
    """A group: a repeated answer, a shared box, two keyframes -> 2 batched tracks of 3 new boxes."""
    _, frames = jpeg_clip
    a, b, c = [4, 4, 24, 24], [30, 20, 60, 44], [10, 30, 40, 47]
    prompts = [(1, np.array([a, b])), (1, np.array([a, b])), (1, np.array([a])), (3, np.array([a, c]))]
    alone = [sam2.segment(sam2.prepare(frames), k, boxes) for k, boxes in prompts]  # a fresh state each
    tracked = []
    track = sam2.track
    monkeypatch.setattr(
        sam2, "track", lambda st, k, boxes: tracked.append((k, len(boxes))) or track(st, k, boxes)
    )
    state = sam2.prepare(frames)
    together = sam2.segment_many(state, [*prompts, (2, np.zeros((0, 4)))])
    assert sorted(tracked) == [(1, 2), (3, 2)]  # each distinct (keyframe, box) once, one batch per keyframe
    assert together[-1].shape == (0, 4, 48, 64)
    for one, many in zip(alone, together, strict=False):
        np.testing.assert_array_equal(one, many)  # batched along the objects, the same masks


def test_sam2_splits_large_batches(sam2, jpeg_clip, monkeypatch):
    _, frames = jpeg_clip
    boxes = np.array([[4, 4, 24, 24], [30, 20, 60, 44]], np.float32)
    batched = sam2.segment(sam2.prepare(frames), 2, boxes)
    tracked = []
    track = sam2.track
    monkeypatch.setattr(sam2, "track", lambda st, k, b: tracked.append(len(b)) or track(st, k, b))
    monkeypatch.setattr(sam2, "max_objects_per_batch", 1)
    np.testing.assert_array_equal(sam2.segment(sam2.prepare(frames), 2, boxes), batched)
    assert tracked == [1, 1]


def test_sam2_rejects_empty_batches():
    pytest.importorskip("torch")
    with pytest.raises(ValueError, match="max_objects_per_batch"):
        build_segmenter("sam2", image_size=SAM2_SIZE, device="cpu", max_objects_per_batch=0)


def test_consistency_reward_groups_a_clip_into_one_segment_many_call():
    """The reward hands a segmenter with ``segment_many`` all prompts of a key at once."""
    rewards = pytest.importorskip("veason_lib.rewards")
    size = 32
    calls = []

    class GroupSegmenter:
        def prepare(self, frames: np.ndarray) -> int:
            return len(frames)

        def segment(self, state: int, keyframe: int, boxes: np.ndarray) -> np.ndarray:
            raise AssertionError("segment_many is used when present")

        def segment_many(self, state: int, prompts: list) -> list[np.ndarray]:
            calls.append([(k, b.tolist()) for k, b in prompts])
            return [np.ones((len(b), state, size, size), bool) for _, b in prompts]  # (K, T, S, S)

    frames = [Image.new("RGB", (size, size))] * 2
    answer = '<think>.</think><answer>{"keyframe_timestamp": 1, "bbox_2d_list": [[0, 0, 8, 8]]}</answer>'
    full = encode_rle(np.ones((size, size), bool))
    scores = rewards.ConsistencyReward(GroupSegmenter(), frame_size=size)(
        completions=[answer, answer, "no answer"],
        images=[frames] * 3,
        timestamps=[[0, 1]] * 3,
        gt_boxes=[[[[0, 0, 8, 8]], [[0, 0, 8, 8]]]] * 3,
        gt_masks_rle=[[full, full]] * 3,
        key=["a"] * 3,
    )
    assert scores == [1.0, 1.0, 0.0]
    assert calls == [[(1, [[0, 0, 8, 8]]), (1, [[0, 0, 8, 8]])]]


def test_sam2_zero_boxes_and_bad_options(sam2, jpeg_clip, tmp_path):
    _, frames = jpeg_clip
    assert sam2.segment(sam2.prepare(frames[:2]), 1, np.zeros((0, 4))).shape == (0, 2, 48, 64)
    with pytest.raises(ValueError, match="sam2_config"):
        build_segmenter("sam2", config="sam2.1_hiera_xl", image_size=SAM2_SIZE, device="cpu")
    with pytest.raises(FileNotFoundError, match="sam2_checkpoint"):
        build_segmenter("sam2", checkpoint=os.fspath(tmp_path / "missing.pt"), device="cpu")
    with pytest.raises(ValueError, match="not sam2_config"):  # caught before any download
        build_segmenter("sam2", checkpoint="facebook/sam2.1-hiera-large", device="cpu")

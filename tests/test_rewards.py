"""The four rewards: one table row per rule of METHOD.md section 4, the TRL wrappers, R_u's caching."""

import doctest
import itertools
import json

import numpy as np
import pytest
from PIL import Image

import veason_lib.rewards
from veason_lib.data import encode_rle
from veason_lib.prompts import format_completion
from veason_lib.rewards import (
    ConsistencyReward,
    box_iou_matrix,
    format_reward,
    format_score,
    keyframe_reward,
    mask_consistency,
    reward_functions,
    spatial_alignment,
    spatial_reward,
    temporal_localization,
)

S = 32  # canvas


def completion(keyframe, boxes, think: str = "reasoning") -> str:
    body = json.dumps({"keyframe_timestamp": keyframe, "bbox_2d_list": boxes})
    return f"<think>{think}</think><answer>{body}</answer>"


# ----------------------------------------------------------------------------------------------------
# R_f
# ----------------------------------------------------------------------------------------------------

FORMAT_CASES = {
    "all boxes valid": (completion(0, [[1, 1, 9, 9], [2, 2, 5, 5]]), 2.0),
    "half the boxes valid": (completion(0, [[1, 1, 9, 9], [9, 9, 1, 1]]), 1.5),
    "one of four valid": (completion(0, [[1, 1, 9, 9], [1, 1, 1, 9], "box", [1, 2, 3]]), 1.25),
    "empty box list": (completion(0, []), 1.0),
    "keyframe not shown still counts": (completion(77, [[1, 1, 9, 9]]), 2.0),
    "fractional keyframe: no fraction": (completion(1.5, [[1, 1, 9, 9]]), 1.0),
    "boxes not a list": (completion(0, {"a": 1}), 1.0),
    "answer not JSON": ("<think>a</think><answer>frame 0</answer>", 1.0),
    "schema without the structure": (
        '<answer>{"keyframe_timestamp": 0, "bbox_2d_list": [[1, 1, 9, 9]]}</answer>',
        1.0,
    ),
    "text after the answer": (completion(0, [[1, 1, 9, 9]]) + "!", 1.0),
    "no tags": ("the answer is frame 0", 0.0),
    "empty completion": ("", 0.0),
    "box beyond the canvas is clipped, still valid": (completion(0, [[1, 1, 900, 900]]), 2.0),
    "box fully outside the canvas": (completion(0, [[40, 40, 50, 50]]), 1.0),
}


@pytest.mark.parametrize("name", FORMAT_CASES)
def test_format_score(name: str) -> None:
    text, expected = FORMAT_CASES[name]
    assert format_score(text, S) == pytest.approx(expected)


# ----------------------------------------------------------------------------------------------------
# R_k
# ----------------------------------------------------------------------------------------------------

KEYFRAME_CASES = {
    "largest frame": (4, [0, 2, 4], [10.0, 20.0, 40.0], 1.0),
    "quarter of the largest": (0, [0, 2, 4], [10.0, 20.0, 40.0], 0.25),
    "target absent at the keyframe": (2, [0, 2, 4], [10.0, 0.0, 40.0], 0.0),
    "timestamp not shown": (3, [0, 2, 4], [10.0, 20.0, 40.0], 0.0),
    "no keyframe": (None, [0, 2, 4], [10.0, 20.0, 40.0], 0.0),
    "target absent from all frames": (2, [0, 2, 4], [0.0, 0.0, 0.0], 0.0),
}


@pytest.mark.parametrize("name", KEYFRAME_CASES)
def test_temporal_localization(name: str) -> None:
    keyframe, timestamps, areas, expected = KEYFRAME_CASES[name]
    assert temporal_localization(keyframe, timestamps, areas) == pytest.approx(expected)


def test_temporal_localization_checks_lengths() -> None:
    with pytest.raises(ValueError, match="areas"):
        temporal_localization(0, [0, 1], [1.0])


# ----------------------------------------------------------------------------------------------------
# R_s
# ----------------------------------------------------------------------------------------------------

A, B = [0, 0, 10, 10], [20, 20, 30, 30]
SPATIAL_CASES = {
    "both empty": ([], [], 1.0, []),
    "no prediction": ([], [A], 0.0, []),
    "no target at the keyframe": ([A], [], 0.0, []),
    "exact": ([A], [A], 1.0, [A]),
    "half overlap": ([[0, 0, 10, 5]], [A], 0.5, [[0, 0, 10, 5]]),
    "disjoint": ([B], [A], 0.0, [B]),
    "two objects, swapped order": ([B, A], [A, B], 1.0, [B, A]),
    "one of two objects found": ([A], [A, B], 0.5, [A]),
    "an extra prediction": ([A, B, [40, 40, 50, 50]], [A, B], 2 / 3, [A, B]),
}


@pytest.mark.parametrize("name", SPATIAL_CASES)
def test_spatial_alignment(name: str) -> None:
    pred, gt, expected, matched = SPATIAL_CASES[name]
    score, got = spatial_alignment(pred, gt)
    assert score == pytest.approx(expected)
    assert got == [tuple(map(float, box)) for box in matched]


def test_spatial_alignment_is_hungarian_not_greedy() -> None:
    # Greedy matching gives p0 its best GT (g0, IoU 0.6) and leaves p1 with g1 (IoU 0); the optimum
    # matches p0-g1 and p1-g0.
    gt = [[0, 0, 10, 10], [4, 0, 14, 10]]
    pred = [[1.5, 0, 11.5, 10], [0, 0, 10, 11]]
    iou = box_iou_matrix(np.asarray(pred, float), np.asarray(gt, float))  # (2, 2)
    best = max(
        sum(iou[i, j] for i, j in zip(range(2), perm, strict=True))
        for perm in itertools.permutations(range(2))
    )
    greedy = iou[0, iou[0].argmax()] + iou[1, 1 - iou[0].argmax()]
    score, _ = spatial_alignment(pred, gt)
    assert score == pytest.approx(best / 2) and score > greedy / 2 + 0.05


def test_box_iou_matrix() -> None:
    iou = box_iou_matrix(np.asarray([A, [5, 0, 15, 10]], float), np.asarray([A, [0, 0, 0, 0]], float))
    np.testing.assert_allclose(iou, [[1.0, 0.0], [50 / 150, 0.0]])


# ----------------------------------------------------------------------------------------------------
# R_u
# ----------------------------------------------------------------------------------------------------


def masks(*frames: list[tuple[slice, slice]]) -> np.ndarray:
    """(T, 8, 8) bool masks, each frame the union of the given (rows, cols) rectangles."""
    out = np.zeros((len(frames), 8, 8), dtype=bool)  # (T, 8, 8)
    for t, rects in enumerate(frames):
        for rows, cols in rects:
            out[t, rows, cols] = True
    return out


FULL, LEFT = [(slice(0, 8), slice(0, 8))], [(slice(0, 8), slice(0, 4))]
CONSISTENCY_CASES = {
    "both empty everywhere": (masks([], []), masks([], []), 1.0),
    "exact": (masks(FULL, LEFT), masks(FULL, LEFT), 1.0),
    "half of one frame": (masks(LEFT, []), masks(FULL, []), 0.75),
    "empty prediction, target in one frame": (masks([], []), masks(FULL, []), 0.5),
    "hallucinated mask on an empty frame": (masks(FULL, FULL), masks(FULL, []), 0.5),
}


@pytest.mark.parametrize("name", CONSISTENCY_CASES)
def test_mask_consistency(name: str) -> None:
    pred, gt, expected = CONSISTENCY_CASES[name]
    assert mask_consistency(pred, gt) == pytest.approx(expected)


def test_mask_consistency_checks_shapes() -> None:
    with pytest.raises(ValueError, match="masks"):
        mask_consistency(np.zeros((2, 8, 8), bool), np.zeros((3, 8, 8), bool))


# ----------------------------------------------------------------------------------------------------
# TRL reward functions
# ----------------------------------------------------------------------------------------------------

FRAMES = [Image.new("RGB", (S, S))] * 3
TIMESTAMPS = [0, 2, 4]


def test_completions_as_strings_or_conversations() -> None:
    text = completion(4, [[1, 1, 9, 9]])
    conversational = [[{"role": "assistant", "content": text}]]
    blocks = [[{"role": "assistant", "content": [{"type": "text", "text": text}]}]]
    for completions in ([text], conversational, blocks):
        assert format_reward(completions, images=[FRAMES]) == [2.0]
        assert keyframe_reward(
            completions, timestamps=[TIMESTAMPS], areas=[[1.0, 2.0, 4.0]], images=[FRAMES]
        ) == [1.0]


def test_spatial_reward_uses_the_keyframes_gt() -> None:
    gt_boxes = [[[0, 0, 10, 10]], [], [[20, 20, 30, 30]]]
    rows = {"timestamps": [TIMESTAMPS] * 4, "gt_boxes": [gt_boxes] * 4, "images": [FRAMES] * 4}
    completions = [
        completion(4, [[20, 20, 30, 30]]),
        completion(0, [[20, 20, 30, 30]]),
        completion(2, []),  # nothing at 2s and nothing predicted
        completion(3, [[20, 20, 30, 30]]),  # 3s was not shown
    ]
    assert spatial_reward(completions, **rows) == [1.0, 0.0, 1.0, 0.0]


def test_broken_columns_raise() -> None:
    with pytest.raises(ValueError, match="'areas'"):
        keyframe_reward(["x", "y"], timestamps=[TIMESTAMPS] * 2, areas=[[1.0, 1.0, 1.0]], images=[FRAMES] * 2)
    with pytest.raises(TypeError, match="gt_boxes"):
        spatial_reward(["x"], timestamps=[TIMESTAMPS], images=[FRAMES])
    with pytest.raises(ValueError, match="images"):
        format_reward(["x"], images=[[Image.new("RGB", (S, S + 1))]])
    with pytest.raises(ValueError, match="gt_boxes"):
        spatial_reward([completion(0, [])], timestamps=[TIMESTAMPS], gt_boxes=[[[]]], images=[FRAMES])


def test_trl_extra_keywords_are_accepted() -> None:
    extra = {
        "prompts": [[]],
        "completion_ids": [[1]],
        "trainer_state": None,
        "log_metric": print,
        "key": ["k"],
    }
    assert format_reward([completion(0, [])], images=[FRAMES], **extra) == [1.0]


def test_doctests() -> None:
    result = doctest.testmod(veason_lib.rewards)
    assert result.attempted >= 4 and result.failed == 0


# ----------------------------------------------------------------------------------------------------
# R_u through a fake segmenter
# ----------------------------------------------------------------------------------------------------


class BoxSegmenter:
    """Fills each box on every frame; counts ``prepare`` calls and records the prompts it got."""

    def __init__(self, fail: bool = False, shape_bug: bool = False) -> None:
        self.prepared, self.prompts, self.fail, self.shape_bug = 0, [], fail, shape_bug

    def prepare(self, frames: np.ndarray) -> np.ndarray:
        assert frames.dtype == np.uint8 and frames.ndim == 4 and frames.shape[1] == frames.shape[2]
        self.prepared += 1
        return frames

    def segment(self, state: np.ndarray, keyframe: int, boxes: np.ndarray) -> np.ndarray:
        if self.fail:
            raise RuntimeError("SAM2 exploded")
        self.prompts.append((keyframe, boxes.tolist()))
        num_frames, size = len(state), state.shape[1]
        out = np.zeros((len(boxes), num_frames + self.shape_bug, size, size), dtype=bool)  # (K, T, S, S)
        for k, (x1, y1, x2, y2) in enumerate(boxes.astype(int)):
            out[k, :, y1:y2, x1:x2] = True
        return out


def gt_rles(*rects: tuple[int, int, int, int] | None) -> list[dict]:
    """Per frame: a canvas box mask (x1, y1, x2, y2) or an empty one."""
    out = []
    for rect in rects:
        mask = np.zeros((S, S), dtype=bool)  # (S, S)
        if rect is not None:
            x1, y1, x2, y2 = rect
            mask[y1:y2, x1:x2] = True
        out.append(encode_rle(mask))
    return out


def consistency_rows(completions: list[str], keys: list[str]) -> dict:
    n = len(completions)
    gt_boxes = [[[0, 0, 8, 8]], [[0, 0, 8, 8]], []]
    return {
        "completions": completions,
        "images": [FRAMES] * n,
        "timestamps": [TIMESTAMPS] * n,
        "gt_boxes": [gt_boxes] * n,
        "gt_masks_rle": [gt_rles((0, 0, 8, 8), (0, 0, 8, 8), None)] * n,
        "key": keys,
    }


def test_consistency_reward_scores_matched_boxes_and_prepares_once_per_key() -> None:
    segmenter = BoxSegmenter()
    reward = ConsistencyReward(segmenter, frame_size=S)
    completions = [
        completion(2, [[0, 0, 8, 8], [20, 20, 30, 30]]),  # exact box + an unmatched extra box
        completion(2, [[0, 0, 8, 4]]),  # half of the box
        completion(4, [[0, 0, 8, 8]]),  # keyframe without target: no matched box, empty masks
        "garbage",  # no keyframe: 0 by rule
    ]
    rows = consistency_rows(completions * 2, ["a"] * 4 + ["b"] * 4)
    scores = reward(**rows)
    # The segmenter fills boxes on every frame; the GT is empty in the last frame (IoU 0 there).
    assert scores[:4] == pytest.approx([2 / 3, 1 / 3, 1 / 3, 0.0]) and scores[4:] == scores[:4]
    assert segmenter.prepared == 2  # one clip per key, not one per completion
    assert segmenter.prompts[0] == (1, [[0, 0, 8, 8]])  # keyframe index 1 (2s), the extra box dropped


def test_consistency_reward_is_a_named_trl_reward() -> None:
    # TRL names a reward getattr(func, "__name__", type(func).__name__) (trl.trainer.utils.get_callable_name)
    reward = ConsistencyReward(BoxSegmenter(), frame_size=S)
    assert getattr(reward, "__name__", None) == "consistency_reward"


def test_consistency_reward_failures_raise() -> None:
    rows = consistency_rows([completion(0, [[0, 0, 8, 8]])], ["a"])
    with pytest.raises(RuntimeError, match="SAM2 exploded"):
        ConsistencyReward(BoxSegmenter(fail=True), frame_size=S)(**rows)
    with pytest.raises(ValueError, match="segmenter"):
        ConsistencyReward(BoxSegmenter(shape_bug=True), frame_size=S)(**rows)
    with pytest.raises(ValueError, match="frame_size"):
        ConsistencyReward(BoxSegmenter(), frame_size=S * 2)(**rows)
    with pytest.raises(ValueError, match="'key'"):
        ConsistencyReward(BoxSegmenter(), frame_size=S)(**{**rows, "key": []})
    with pytest.raises(ValueError, match="gt_masks_rle"):
        ConsistencyReward(BoxSegmenter(), frame_size=S)(**{**rows, "gt_masks_rle": [gt_rles(None)]})


# ----------------------------------------------------------------------------------------------------
# Weights (Eq. 8) and the ablations
# ----------------------------------------------------------------------------------------------------


def test_reward_functions_drop_zero_weights() -> None:
    funcs, weights = reward_functions(
        {"format": 1, "keyframe": 0.5, "spatial": 0, "consistency": 2}, BoxSegmenter(), S
    )
    assert [f.__name__ for f in funcs] == ["format_reward", "keyframe_reward", "consistency_reward"]
    assert weights == [1.0, 0.5, 2.0]
    funcs, _ = reward_functions({"format": 1, "keyframe": 1, "spatial": 1, "consistency": 0}, None, S)
    assert len(funcs) == 3


@pytest.mark.parametrize(
    "weights, match",
    [
        ({"format": 1, "keyframe": 1, "spatial": 1}, "missing"),
        ({"format": 1, "keyframe": 1, "spatial": 1, "consistency": 1, "iou": 1}, "unknown"),
        ({"format": -1, "keyframe": 1, "spatial": 1, "consistency": 0}, ">= 0"),
        ({"format": 0, "keyframe": 0, "spatial": 0, "consistency": 0}, "positive"),
        ({"format": 1, "keyframe": 1, "spatial": 1, "consistency": 1}, "segmenter"),
    ],
)
def test_reward_functions_reject_bad_weights(weights: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        reward_functions(weights, None, S)


def test_gt_completion_earns_the_maximum() -> None:
    """A sample's own GT, written as an SFT target, scores the maximum on every reward."""
    from test_samples import FakeBenchmark, expression

    from veason_lib.samples import build_sample

    sample = build_sample(FakeBenchmark(), expression(), num_frames=4, frame_size=560)  # whole-pixel GT boxes
    k = int(np.argmax(sample.areas))
    row = sample.to_row()
    target = format_completion("the largest view", sample.timestamps[k], sample.gt_boxes[k])
    funcs, _ = reward_functions({n: 1.0 for n in veason_lib.rewards.REWARD_NAMES}, BoxSegmenter(), 560)
    scores = [f(completions=[target], **{c: [v] for c, v in row.items()})[0] for f in funcs]
    assert scores[:3] == [2.0, 1.0, 1.0]
    # The fake segmenter paints both boxes on every frame; object b is absent from the first two frames.
    area_a, area_b = 84 * 112, 140 * 140
    assert scores[3] == pytest.approx((2 * area_a / (area_a + area_b) + 2) / 4)

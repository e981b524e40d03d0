"""Samples: frames at the canvas, per-object GT boxes, union areas and canvas RLE masks."""

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from fixtures_data import write_revos
from PIL import Image

from veason_lib.data import DataError, Expression, decode_rle, load_benchmark
from veason_lib.samples import Sample, boxes_to_video, build_sample, mask_box, resize_mask

H, W, S = 20, 40, 16  # video height, width; canvas size


@dataclass
class FakeVideo:
    name: str
    frames: np.ndarray  # (T, H, W, 3) uint8

    @property
    def frame_names(self) -> tuple[str, ...]:
        return tuple(f"{i:05d}" for i in range(len(self.frames)))

    def load_frames(self, indices) -> np.ndarray:
        return self.frames[list(indices)]  # (T', H, W, 3)


class FakeBenchmark:
    """Ten frames; object a at rows 2-5, cols 4-9 always; object b at rows 10-14, cols 20-29 from frame 5."""

    root = Path("fake_root")

    def __init__(self) -> None:
        frames = np.random.default_rng(0).integers(0, 255, (10, H, W, 3), dtype=np.uint8)  # (T, H, W, 3)
        self.videos = {"v": FakeVideo("v", frames)}
        masks = np.zeros((2, 10, H, W), dtype=bool)  # (K, T, H, W)
        masks[0, :, 2:6, 4:10] = True
        masks[1, 5:, 10:15, 20:30] = True
        self.masks = {"both": masks, "none": masks[:0], "bad": masks[:, :, :5]}

    def object_masks(self, expr: Expression, indices) -> np.ndarray:
        return self.masks[expr.exp_id][:, list(indices)]  # (K, T', H, W)


def expression(exp_id: str = "both", video: str = "v") -> Expression:
    return Expression(video, exp_id, "the two boxes", ("a", "b"), ("1", "2"), 1, f"{video}/{exp_id}")


def test_build_sample_uniform() -> None:
    sample = build_sample(FakeBenchmark(), expression(), num_frames=4, frame_size=S)
    assert (sample.frame_indices, sample.timestamps) == ([0, 3, 6, 9], [0, 3, 6, 9])
    assert (sample.key, sample.query, sample.type_id) == ("v/both", "the two boxes", 1)
    assert [image.size for image in sample.images] == [(S, S)] * 4 and sample.images[0].mode == "RGB"
    sx, sy = S / W, S / H
    box_a = [4 * sx, 2 * sy, 10 * sx, 6 * sy]
    assert sample.gt_boxes[0] == [pytest.approx(box_a)]
    assert sample.gt_boxes[2] == [pytest.approx(box_a), pytest.approx([20 * sx, 10 * sy, 30 * sx, 15 * sy])]
    assert sample.areas == [24.0, 24.0, 74.0, 74.0]  # original pixels: 4 x 6 and 5 x 10


def test_canvas_masks_are_the_resized_union() -> None:
    bench = FakeBenchmark()
    sample = build_sample(bench, expression(), num_frames=4, frame_size=S)
    union = bench.masks["both"][:, [0, 3, 6, 9]].any(axis=0)  # (T, H, W)
    for rle, mask in zip(sample.gt_masks_rle, union, strict=True):
        assert isinstance(rle["counts"], str) and rle["size"] == [S, S]
        decoded = decode_rle(rle, S, S, Path("test"), "rle")  # (S, S)
        np.testing.assert_array_equal(decoded, resize_mask(mask, S))


def test_frames_are_resized_bilinear() -> None:
    bench = FakeBenchmark()
    sample = build_sample(bench, expression(), num_frames=2, frame_size=S)
    expected = Image.fromarray(bench.videos["v"].frames[0]).resize((S, S), Image.Resampling.BILINEAR)
    np.testing.assert_array_equal(np.asarray(sample.images[0]), np.asarray(expected))


def test_given_indices_and_fps() -> None:
    bench = FakeBenchmark()
    sample = build_sample(bench, expression(), num_frames=99, frame_size=S, indices=[1, 5])
    assert (sample.frame_indices, sample.timestamps) == ([1, 5], [1, 5])
    assert len(sample.gt_boxes[0]) == 1 and len(sample.gt_boxes[1]) == 2
    sample = build_sample(bench, expression(), num_frames=2, frame_size=S, fps=2.0, indices=[1, 5])
    assert sample.timestamps == [1, 3]  # round(i / fps), halves up
    with pytest.raises(ValueError, match="repeated timestamps"):
        build_sample(bench, expression(), num_frames=2, frame_size=S, fps=4.0, indices=[0, 1])
    with pytest.raises(ValueError, match="frame_indices"):
        build_sample(bench, expression(), num_frames=2, frame_size=S, indices=[3, 10])


def test_keyframe_anchored_sampling_contains_the_keyframe() -> None:
    sample = build_sample(
        FakeBenchmark(), expression(), num_frames=4, frame_size=S, strategy="keyframe_anchored", keyframe=5
    )
    assert 5 in sample.frame_indices and len(sample.frame_indices) == 4


def test_no_target_expression() -> None:
    sample = build_sample(FakeBenchmark(), expression("none"), num_frames=3, frame_size=S)
    assert sample.gt_boxes == [[], [], []] and sample.areas == [0.0, 0.0, 0.0]
    assert all(not decode_rle(rle, S, S, Path("test"), "rle").any() for rle in sample.gt_masks_rle)


def test_data_errors_name_the_field() -> None:
    with pytest.raises(DataError, match="fake_root.*missing/both.*video"):
        build_sample(FakeBenchmark(), expression(video="missing"), num_frames=2, frame_size=S)
    with pytest.raises(DataError, match="masks"):
        build_sample(FakeBenchmark(), expression("bad"), num_frames=2, frame_size=S)


def test_boxes_to_video_inverts_the_canvas_scaling() -> None:
    mask = np.zeros((H, W), dtype=bool)  # (H, W)
    mask[3:7, 11:25] = True
    assert boxes_to_video([mask_box(mask, S)], S, H, W) == [pytest.approx([11, 3, 25, 7])]
    assert boxes_to_video([], S, H, W) == []


def test_to_row_is_a_trl_dataset_row() -> None:
    import datasets
    from trl.data_utils import prepare_multimodal_messages

    sample = build_sample(FakeBenchmark(), expression(), num_frames=3, frame_size=S)
    row = sample.to_row()
    assert row["prompt"] == sample.messages() and row["images"] == sample.images
    dataset = datasets.Dataset.from_list(
        [row, build_sample(FakeBenchmark(), expression("none"), 3, S).to_row()]
    )
    back = dataset[0]
    assert back["gt_boxes"] == row["gt_boxes"] and back["timestamps"] == [0, 4, 9]
    assert back["gt_masks_rle"] == row["gt_masks_rle"] and back["images"][0].size == (S, S)
    filled = prepare_multimodal_messages(back["prompt"], images=back["images"])
    assert sum(item["type"] == "image" and "image" in item for item in filled[0]["content"]) == 3


def test_sample_is_the_documented_dataclass() -> None:
    fields = list(Sample.__dataclass_fields__)
    assert fields == [
        "video", "exp_id", "key", "query", "type_id", "frame_indices", "timestamps",
        "images", "gt_boxes", "areas", "gt_masks_rle",
    ]  # fmt: skip


def test_build_sample_on_the_revos_reader(tmp_path: Path) -> None:
    videos = write_revos(tmp_path)
    bench = load_benchmark("revos", tmp_path, "train")
    expr = next(e for e in bench.expressions if e.video == videos[0].name and len(e.anno_ids) == 2)
    sample = build_sample(bench, expr, num_frames=3, frame_size=28)
    objects = np.stack([o.masks for o in videos[0].objects])[:, sample.frame_indices]  # (2, T, H, W)
    assert [len(boxes) for boxes in sample.gt_boxes] == list(objects.any(axis=(2, 3)).sum(axis=0))
    assert sample.areas == [float(a) for a in objects.any(axis=0).sum(axis=(1, 2))]


def test_grounding_only_prompt_names_the_first_frame_showing_the_target() -> None:
    bench = FakeBenchmark()
    bench.masks["late"] = bench.masks["both"][1:]  # only object b: visible from frame 5
    sample = build_sample(bench, expression("late"), num_frames=4, frame_size=S)
    assert sample.first_visible_timestamp == 6  # sampled frames 0, 3, 6, 9
    given = sample.to_row("first_visible")["prompt"][0]["content"][-1]["text"]
    chosen = sample.to_row()["prompt"][0]["content"][-1]["text"]
    assert "The keyframe is <6s>" in given and "The keyframe is" not in chosen
    absent = build_sample(bench, expression("none"), num_frames=4, frame_size=S)
    assert absent.first_visible_timestamp is None
    assert absent.messages("first_visible") == absent.messages()  # nothing to give: the model chooses
    with pytest.raises(ValueError, match="keyframe_strategy"):
        sample.messages("last_visible")

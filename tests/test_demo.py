"""The segment-any-video demo on a tiny generated mp4 and a folder of frames, with a fake model."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image
from test_inference import FakeModel, FakeProcessor, FillSegmenter, answer_text

from veason_lib.demo import MASK_COLOUR, overlay_frames, read_video, segment_video

HEIGHT, WIDTH, FRAMES = 48, 64, 10


def moving_square(num_frames: int = FRAMES) -> np.ndarray:
    """A white square moving right on black -> (T, H, W, 3) uint8."""
    frames = np.zeros((num_frames, HEIGHT, WIDTH, 3), dtype=np.uint8)  # (T, H, W, 3)
    for t in range(num_frames):
        frames[t, 16:32, 4 + 4 * t : 20 + 4 * t] = 255
    return frames


def write_mp4(path: Path, frames: np.ndarray, fps: float = 5.0) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (WIDTH, HEIGHT))
    for frame in frames:
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()
    return path


def frame_count(path: Path) -> int:
    capture = cv2.VideoCapture(str(path))
    count = 0
    while capture.read()[0]:
        count += 1
    capture.release()
    return count


def test_segment_video_from_mp4_writes_an_overlay(tmp_path):
    source = write_mp4(tmp_path / "clip.mp4", moving_square())
    model = FakeModel(lambda prompt: answer_text(3, [[8.0, 16.0, 24.0, 32.0]]))
    segmenter = FillSegmenter()
    result = segment_video(
        source, "the white square", model, FakeProcessor(), segmenter,
        num_frames=4, frame_size=32, out_path=tmp_path / "out" / "overlay.mp4",
    )  # fmt: skip
    assert result.frame_indices == [0, 3, 6, 9] and result.keyframe_index == 3
    assert result.answer.keyframe == 3 and result.reasoning == "It is clearest at 3s."
    assert model.prompts[0].count("#") == 4 and "the white square" in model.prompts[0]
    keyframe, boxes = segmenter.calls[0]
    np.testing.assert_allclose(boxes, [[16, 24, 48, 48]])  # canvas 32 -> video 64 x 48
    assert keyframe == 3 and segmenter.prepared == 1
    assert result.masks.shape == (FRAMES, HEIGHT, WIDTH) and result.masks.dtype == bool
    assert result.masks[:, 24:48, 16:48].all() and result.masks.sum() == FRAMES * 24 * 32
    assert result.overlay_path == tmp_path / "out" / "overlay.mp4"
    assert frame_count(result.overlay_path) == FRAMES


def test_folder_of_frames_reads_in_name_order(tmp_path):
    frames = moving_square(4)
    for t, frame in enumerate(frames):
        Image.fromarray(frame).save(tmp_path / f"{10 + t:03d}.png")
    (tmp_path / "notes.txt").write_text("not a frame")
    loaded, _ = read_video(tmp_path)
    np.testing.assert_array_equal(loaded, frames)
    Image.new("RGB", (8, 8)).save(tmp_path / "999.png")
    with pytest.raises(ValueError, match="999.png"):
        read_video(tmp_path)


def test_unparsable_answer_gives_empty_masks_without_crashing(tmp_path):
    for t, frame in enumerate(moving_square(3)):
        Image.fromarray(frame).save(tmp_path / f"{t}.png")
    model = FakeModel(lambda prompt: "<think>no idea</think><answer>[1, 2]</answer>")
    segmenter = FillSegmenter()
    result = segment_video(tmp_path, "the square", model, FakeProcessor(), segmenter, frame_size=32)
    assert not result.masks.any() and result.masks.shape == (3, HEIGHT, WIDTH)
    assert result.answer.reason and result.keyframe_index is None and result.overlay_path is None
    assert segmenter.calls == []


def test_overlay_tints_the_mask_and_draws_the_keyframe_box():
    frames = np.zeros((2, HEIGHT, WIDTH, 3), dtype=np.uint8)  # (T, H, W, 3)
    masks = np.zeros((2, HEIGHT, WIDTH), dtype=bool)  # (T, H, W)
    masks[:, 10:20, 10:20] = True
    overlay = overlay_frames(frames, masks, keyframe=1, boxes=[[30.0, 30.0, 40.0, 40.0]])
    np.testing.assert_array_equal(overlay[0, 15, 15], np.round(0.5 * np.asarray(MASK_COLOUR)))
    assert not overlay[0, 2, 2].any() and not overlay[0, 30, 30].any()  # no box off the keyframe
    assert overlay[1, 30, 35].any() and not overlay[1, 35, 35].any()  # box edge, not its inside


def test_missing_source_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing.mp4"):
        read_video(tmp_path / "nothing.mp4")


def test_demo_defaults_to_the_splits_first_video_and_expression(tmp_path):
    from fixtures_data import write_revos

    from veason_lib.config import EvalConfig
    from veason_lib.data import load_benchmark
    from veason_lib.demo import demo_inputs

    write_revos(tmp_path)
    benchmark = load_benchmark("revos", tmp_path, "valid")
    first = benchmark.expressions[0]
    source, query = demo_inputs(EvalConfig(), benchmark)
    assert (source, query) == (benchmark.videos[first.video].frame_dir, first.text)
    source, query = demo_inputs(
        EvalConfig(demo_source=str(tmp_path / "clip.mp4"), demo_query="the dog"), benchmark
    )
    assert (source, query) == (tmp_path / "clip.mp4", "the dog")
